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
	    "Role read-only: read and list. Without either option the role "
	    "is full: also remove files, and create a repository in an "
	    "empty DIR.", NULL },
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
OPTS(o_serve, S_REPO, S_APPEND_ONLY, S_READ_ONLY, S_CLIENT_NAME,
    S_DELETE_DELAY, S_MIN_AGE, S_QUOTA);
OPTS(o_check, S_REPO, S_JSON);
OPTS(o_purge, S_REPO, S_DRY_RUN, S_JSON);
OPTS(o_undelete, S_REPO, S_SINCE, S_DRY_RUN, S_JSON);

static const struct kl_ref_cmd cmds[] = {
	{ SC_SERVE, "serve", "--repo DIR",
	    "speak the kluis protocol on stdin and stdout for one repository",
	    "Normally the forced command of an SSH key in authorized_keys, "
	    "which pins the key to its repository and role. Every write, "
	    "refusal and session is appended to DIR/audit.log with the "
	    "server's receive time. Exit 0 after a clean session, 1 "
	    "otherwise.", o_serve,
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
	    "\tDIR/trash/\tRemoved files, until purge deletes them." },
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
