/*
 * kluis-server's command-line reference: every option and command, once.
 * The parser (server_main.c) accepts what this table names; `kluis-server
 * help`, kluis-server(8) and docs/CLI.md's generated blocks are printed
 * from it (kluis/cliref.h; docs/ARCHITECTURE.md "One reference").
 */
#include "kluis/cliref.h"
#include "server_cmds.h"

#ifndef KLUIS_VERSION
#error "KLUIS_VERSION comes from CMakeLists.txt"
#endif

static const struct kl_ref_opt opts[] = {
	{ S_REPO, "repo", NULL, 0, "DIR", 0,
	    "The repository directory; serve serves it and no other.",
	    NULL },
	{ S_APPEND_ONLY, "append-only", NULL, 0, NULL, 0,
	    "Role append-only: create new files, read, list, and remove only "
	    "the lock files this connection created.", NULL },
	{ S_READ_ONLY, "read-only", NULL, 0, NULL, 0,
	    "Role read-only: read and list. Without a role option the role "
	    "is full: also remove files, and create a repository in an "
	    "empty DIR.", NULL },
	{ S_REPLICA, "replica", NULL, 0, NULL, 0,
	    "Role replica, for the receiving end of replicate: create the "
	    "repository in an empty DIR, add files of every kind (key files "
	    "too), read and list; remove nothing, take no lock.", NULL },
	{ S_TO, "to", NULL, 0, "URL", 0,
	    "Where the copy goes: ssh://[user@]host[:port]/path to the other "
	    "side's kluis-server (its key's forced command pins the path and "
	    "the replica role), or a local directory.", NULL },
	{ S_REPAIR, "repair", NULL, 0, NULL, 0,
	    "Also re-hash every file here that the other side holds, and "
	    "replace each damaged one by the other side's copy once that "
	    "copy's hash matches its name.", NULL },
	{ S_SSH_KEY, "ssh-key", NULL, 0, "FILE", 0,
	    "ssh:// only: log in with the private key FILE and no other.",
	    NULL },
	{ S_SSH_KNOWN_HOSTS, "ssh-known-hosts", NULL, 0, "FILE", 0,
	    "ssh:// only: check the other side's host key against FILE "
	    "instead of ~/.ssh/known_hosts.", NULL },
	{ S_SSH_COMMAND, "ssh-command", NULL, 0, "CMD", 0,
	    "ssh:// only: run the OpenSSH client CMD instead of the built-in "
	    "SSH (~/.ssh/config, ProxyJump and certificates apply).", NULL },
	{ S_SERVER_COMMAND, "server-command", NULL, 0, "CMD", 0,
	    "The program on the other side: ssh:// runs 'CMD serve --repo "
	    "PATH' there unless the key has a forced command. Default: "
	    "kluis-server.", NULL },
	{ S_ROOT, "root", NULL, 0, "DIR", 0,
	    "Every repository directly under DIR (each subdirectory holding "
	    "a config file).", NULL },
	{ S_OVERDUE, "overdue", NULL, 0, "DURATION", 0,
	    "A repository whose newest snapshot was received longer ago than "
	    "this is overdue (default 26h; 0: never).", NULL },
	{ S_METRICS_FILE, "metrics-file", NULL, 0, "FILE", 0,
	    "Also write Prometheus textfile metrics to FILE, atomically.",
	    NULL },
	{ S_CLIENT_NAME, "client-name", NULL, 0, "NAME", 0,
	    "Written into every audit record, e.g. the city server's name.",
	    NULL },
	{ S_DELETE_DELAY, "delete-delay", NULL, 0, "DURATION", 0,
	    "A removed file stays in DIR/trash/ this long before purge may "
	    "delete it (default 14d; 0: removed at once).", NULL },
	{ S_MIN_AGE, "min-age", NULL, 0, "DURATION", 0,
	    "A file received less than DURATION ago cannot be removed by "
	    "any role (default 0). Lock files are exempt.", NULL },
	{ S_QUOTA, "quota", NULL, 0, "SIZE", 0,
	    "The bytes DIR may hold, trash included; an upload that would "
	    "pass it is refused (default 0: no quota).", NULL },
	{ S_SINCE, "since", NULL, 0, "WHEN", 0,
	    "Only what was removed at or after WHEN: a duration back from "
	    "now (2d, 36h), @SECONDS, or a UTC date and time "
	    "(2026-12-07T02:00).", NULL },
	{ S_DRY_RUN, "dry-run", NULL, 0, NULL, 0,
	    "Say what would be done; change nothing.", NULL },
	{ S_JSON, "json", NULL, 0, NULL, 0,
	    "Machine-readable output on stdout.", NULL },
	{ S_HELP, "help", NULL, 'h', NULL, KL_REF_GLOBAL,
	    "Show the help of the command (or this overview) and exit.",
	    NULL },
	{ S_VERSION, "version", NULL, 0, NULL, KL_REF_GLOBAL,
	    "Print the version and exit.", NULL },
};

#define OPTS(name, ...) static const int name[] = { __VA_ARGS__, 0 }
OPTS(o_check, S_REPO, S_JSON);
OPTS(o_purge, S_REPO, S_DRY_RUN, S_JSON);
OPTS(o_undelete, S_REPO, S_SINCE, S_DRY_RUN, S_JSON);
OPTS(o_serve_all, S_REPO, S_APPEND_ONLY, S_READ_ONLY, S_REPLICA,
    S_CLIENT_NAME, S_DELETE_DELAY, S_MIN_AGE, S_QUOTA);
OPTS(o_replicate, S_REPO, S_TO, S_REPAIR, S_DRY_RUN, S_JSON, S_SSH_KEY,
    S_SSH_KNOWN_HOSTS, S_SSH_COMMAND, S_SERVER_COMMAND);
OPTS(o_status, S_ROOT, S_REPO, S_OVERDUE, S_METRICS_FILE, S_JSON);

static const struct kl_ref_cmd cmds[] = {
	{ SC_SERVE, "serve", "--repo DIR",
	    "speak the kluis protocol on stdin and stdout for one repository",
	    "Normally the forced command of an SSH key in authorized_keys, "
	    "which pins the key to its repository and role. Every write, "
	    "refusal and session is appended to DIR/audit.log with the "
	    "server's receive time. Exit 0 after a clean session, 1 "
	    "otherwise.", o_serve_all,
	    "command=\"kluis-server serve --repo /srv/kluis/web01 "
	    "--append-only --client-name web01\",restrict ssh-ed25519 AAAA..." },
	{ SC_VERIFY, "verify", "--repo DIR",
	    "re-hash every file of the repository against its name (no key)",
	    "Exit 0 clean, 1 findings or errors, 10 not a repository.",
	    o_check, "kluis-server verify --repo /srv/kluis/web01" },
	{ SC_AUDIT, "audit verify", "--repo DIR", "check the audit log's hash chain",
	    "Exit 0 intact, 1 broken or unreadable, 10 no audit log.",
	    o_check, "kluis-server audit verify --repo /srv/kluis/web01" },
	{ SC_PURGE, "purge", "--repo DIR",
	    "delete for good the trashed files whose delete delay has passed",
	    "Each deletion is recorded in DIR/audit.log. Exit 0 done, 1 a "
	    "file could not be deleted, 10 not a repository.", o_purge,
	    "kluis-server purge --repo /srv/kluis/web01" },
	{ SC_UNDELETE, "undelete", "--repo DIR", "bring trashed files back into place",
	    "Each file moved back is recorded in DIR/audit.log. Exit 0 done, "
	    "1 a file could not be moved back, 10 not a repository.",
	    o_undelete,
	    "kluis-server undelete --repo /srv/kluis/web01 --since 2d" },
	{ SC_REPLICATE, "replicate", "--repo DIR --to URL",
	    "copy every file the other side lacks, each verified by its hash "
	    "on both ends (no key)",
	    "Run from a timer on the primary's repository server. A file "
	    "whose bytes no longer match its name is not sent but reported "
	    "(see --repair). Deletions are not replicated: the other side "
	    "decides its own. Progress is kept in DIR/replication/, which "
	    "status reads. Exit 0 done, 1 a file damaged or not sent, 10 "
	    "not a repository.", o_replicate,
	    "kluis-server replicate --repo /srv/kluis/web01 --to "
	    "ssh://kluis@offsite.gent.example/srv/kluis-antwerpen/web01" },
	{ SC_STATUS, "status", "--root DIR | --repo DIR",
	    "report each repository's last receive, size, quota, purge, "
	    "verify, audit chain and replication lag (no key)",
	    "Exit 0 all well; 1 a repository is overdue, its audit log is "
	    "broken or missing, its last verify found damage, a replication "
	    "target is failing or lagging, or it cannot be read; 10 no "
	    "repository found.",
	    o_status, "kluis-server status --root /srv/kluis --metrics-file "
	    "/var/lib/prometheus/node-exporter/kluis-server.prom" },
	{ SC_VERSION, "version", "", "print the version", NULL, NULL, NULL },
	{ SC_HELP, "help", "[COMMAND]",
	    "show the help of a command, or this overview", NULL, NULL,
	    NULL },
};

static const struct kl_ref_sect sects[] = {
	{ "DURATIONS AND SIZES",
	    "DURATION is 0, or numbers with units from largest to smallest, "
	    "each at most once: y (365 days), m (30 days), w, d, h, min, s; "
	    "for example 14d, 36h, 1y6m. SIZE is bytes, or a number with K, "
	    "M, G or T (powers of 1024; also KiB to TiB)." },
	{ "EXIT STATUS",
	    "\t0\tSuccess.\n"
	    "\t1\tFindings, or an error.\n"
	    "\t2\tA usage error.\n"
	    "\t10\tThe directory is not a repository (or has no audit log)." },
	{ "FILES",
	    "\tDIR/audit.log\tThe hash-chained audit log of a repository.\n"
	    "\tDIR/trash/\tRemoved files, until purge deletes them.\n"
	    "\tDIR/replication/\tWhat replicate last did for each target.\n"
	    "\tDIR/state/quota\tThe quota serve last enforced, which status "
	    "reports (the last verify and purge are in DIR/audit.log)." },
	{ "SEE ALSO",
	    "kluis(1), sshd(8), authorized_keys in sshd(8). The protocol is "
	    "docs/PROTOCOL.md, server setup docs/RUNBOOK.md." },
};

const struct kl_ref server_ref = {
	.prog = "kluis-server",
	.section = 8,
	.version = KLUIS_VERSION,
	.what = "the append-only kluis repository server",
	.synopsis = "COMMAND --repo DIR [OPTIONS]",
	.text = "kluis-server keeps kluis repositories on a server that holds "
	    "no key: it cannot read what it stores. Clients reach it over "
	    "SSH, each key pinned to its repository and role by a forced "
	    "command; it refuses to overwrite any file, and with a delete "
	    "delay keeps what is removed in a trash until purge.",
	.opts = opts,
	.nopts = sizeof(opts) / sizeof(opts[0]),
	.cmds = cmds,
	.ncmds = sizeof(cmds) / sizeof(cmds[0]),
	.sects = sects,
	.nsects = sizeof(sects) / sizeof(sects[0]),
};
