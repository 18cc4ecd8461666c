/*
 * kluis's command-line reference: every option and command, once.  The
 * parser (main.c) accepts what this table names, `kluis help`, kluis(1),
 * kluis.conf(5) and the generated blocks of docs/CLI.md are printed from
 * it (kluis/cliref.h; docs/ARCHITECTURE.md "One reference").
 */
#include "kluis/cliref.h"
#include "cli.h"

#define G KL_REF_GLOBAL
#define R KL_REF_REPEAT
#define C KL_REF_CONF
#define S KL_REF_CONF_SECRET
#define B KL_REF_CONF_BACKUP

static const struct kl_ref_opt opts[] = {
	/* options of every command */
	{ OPT_REPO, "repository", "repo", 'r', "URL", G | C,
	    "The repository: a local directory, "
	    "ssh://[user@]host[:port]/absolute/path or pipe:PATH. "
	    "Default: KLUIS_REPOSITORY.", NULL },
	{ OPT_PROFILE, "profile", NULL, 'p', "NAME", G,
	    "Read settings from the profile NAME: ~/.config/kluis/NAME.conf, "
	    "else /etc/kluis/NAME.conf (kluis.conf(5)); NAME with a slash is "
	    "the file itself. Default: KLUIS_PROFILE.", NULL },
	{ OPT_PASSWORD_FILE, "password-file", NULL, 0, "FILE", G | C | S,
	    "Read the passphrase from FILE (its first line). Default: "
	    "KLUIS_PASSWORD_FILE.", NULL },
	{ OPT_PASSWORD_COMMAND, "password-command", NULL, 0, "CMD", G | C | S,
	    "Run CMD with /bin/sh and read the passphrase from its output, "
	    "when no password file is given. Default: "
	    "KLUIS_PASSWORD_COMMAND.", NULL },
	{ OPT_KEY_FILE, "key-file", NULL, 0, "FILE", G | C | S,
	    "Use the key file FILE instead of those in the repository's "
	    "keys/; with init, write the new key there. Default: "
	    "KLUIS_KEY_FILE.", NULL },
	{ OPT_SSH_KEY, "ssh-key", NULL, 0, "FILE", G | C | S,
	    "ssh:// only: log in with the private key FILE and no other "
	    "(no agent, no ~/.ssh/id_*).", NULL },
	{ OPT_SSH_KNOWN_HOSTS, "ssh-known-hosts", NULL, 0, "FILE", G | C,
	    "ssh:// only: check the server's host key against FILE instead "
	    "of ~/.ssh/known_hosts.", NULL },
	{ OPT_SSH_COMMAND, "ssh-command", NULL, 0, "CMD", G | C,
	    "ssh:// only: run the OpenSSH client CMD (e.g. ssh, or ssh -F "
	    "FILE) instead of the built-in SSH, so that ~/.ssh/config "
	    "aliases, ProxyJump, certificates, FIDO keys and ControlMaster "
	    "apply; the URL's user, host and port are handed to it as "
	    "written.", NULL },
	{ OPT_SERVER_COMMAND, "server-command", NULL, 0, "CMD", G | C,
	    "The server program: ssh:// runs 'CMD serve --repo PATH' on the "
	    "server (unless its key has a forced command), pipe: runs it "
	    "here. Default: KLUIS_SERVER_COMMAND, else kluis-server.",
	    NULL },
	{ OPT_TREE_BUDGET, "tree-budget", NULL, 0, "N|off", G,
	    "How much more than a snapshot declares its trees may hold "
	    "before a walk stops (default 4 times, plus 10,000 entries); "
	    "off: no limit, for snapshots you trust.", NULL },
	{ OPT_JSON, "json", NULL, 0, NULL, G,
	    "Machine-readable output on stdout.", NULL },
	{ OPT_QUIET, "quiet", NULL, 'q', NULL, G,
	    "Print less on stdout (no progress or summary); warnings and "
	    "errors still go to stderr.", NULL },
	{ OPT_VERBOSE, "verbose", NULL, 'v', NULL, G | R,
	    "Print more (backup and restore name what they do).", NULL },
	{ OPT_HELP, "help", NULL, 'h', NULL, G,
	    "Show the help of the command (or this overview) and exit.",
	    NULL },
	{ OPT_VERSION, "version", NULL, 0, NULL, G,
	    "Print kluis's version, the repository format version and the "
	    "versions of its libraries, and exit.", NULL },

	{ OPT_PROGRESS_INTERVAL, "progress-interval", NULL, 0, "DURATION",
	    G | C,
	    "backup, restore, check, prune: also print a progress line on "
	    "stderr this often (60s, 5min), for logs of runs without a "
	    "terminal; SIGUSR1 prints one at any time.", NULL },

	/* command options */
	{ OPT_CHUNK_AVG, "chunk-avg", NULL, 0, "SIZE", 0,
	    "Average chunk size, 8K to 8M (default 1M).", NULL },
	{ OPT_KDF, "kdf", NULL, 0, "interactive|moderate|sensitive", 0,
	    "Argon2id cost of the key file's passphrase: 64 MiB, 256 MiB "
	    "(default) or 1 GiB.", NULL },
	{ OPT_LABEL, "label", NULL, 0, "TEXT", 0,
	    "A label stored in the key file, in clear text (the server sees "
	    "it).", NULL },
	{ OPT_BACKUP_ONLY, "backup-only", NULL, 0, NULL, 0,
	    "The new key can back up but not read snapshots or data.",
	    NULL },
	{ OPT_NEW_PASSWORD_FILE, "new-password-file", NULL, 0, "FILE", 0,
	    "The new passphrase, from FILE (else asked twice on the "
	    "terminal).", NULL },
	{ OPT_OUT, "out", NULL, 0, "FILE", 0,
	    "Write to FILE (which for a key must not exist) instead of the "
	    "default place.", NULL },
	{ OPT_TAG, "tag", NULL, 0, "TAG", R | C | B,
	    "backup: tag the new snapshot; snapshots, forget: only "
	    "snapshots tagged TAG.", NULL },
	{ OPT_HOST, "host", NULL, 0, "NAME", R | C,
	    "backup: the host name recorded (default: this machine's); "
	    "other commands: that host's snapshots, and its newest for "
	    "'latest'.", NULL },
	{ OPT_PATH, "path", NULL, 0, "PATH", R | C | B,
	    "Only snapshots that hold PATH.",
	    "A path backup backs up when the command line names none." },
	{ OPT_EXCLUDE, "exclude", NULL, 0, "GLOB", R | C | B,
	    "Leave out entries matching GLOB (a pattern with a slash "
	    "matches the whole path, one without a name).", NULL },
	{ OPT_EXCLUDE_FILE, "exclude-file", NULL, 0, "FILE", R | C | B,
	    "Read exclude patterns from FILE, one per line, # comments.",
	    NULL },
	{ OPT_ONE_FILE_SYSTEM, "one-file-system", NULL, 0, NULL, C | B,
	    "Do not cross into other file systems below a PATH.", NULL },
	{ OPT_COMPRESSION, "compression", NULL, 0, "LEVEL|off", C | B,
	    "zstd level 1 to 19 (default 3), or off.", NULL },
	{ OPT_WITH_ATIME, "with-atime", NULL, 0, NULL, C | B,
	    "Also store access times (off by default: reading a file "
	    "changes its access time, so every run would store new trees "
	    "for every file read since).", NULL },
	{ OPT_DELTA_MIN_SIZE, "delta-min-size", NULL, 0, "SIZE|off", C | B,
	    "Files of at least SIZE (default 64M) may store a chunk changed "
	    "in place as a librsync delta against its previous version "
	    "(databases, VM images, mail stores); off stores whole chunks "
	    "only.", NULL },
	{ OPT_DELTA_MAX_DEPTH, "delta-max-depth", NULL, 0, "N", C | B,
	    "Store a chunk whole again after N versions in a row stored as "
	    "deltas (1..255, default " CLI_STR(CLI_DELTA_DEPTH_DEFAULT) ").",
	    NULL },
	{ OPT_THREADS, "threads", NULL, 0, "N", 0,
	    "Worker threads (default: the number of CPUs, at most 64).",
	    NULL },
	{ OPT_METRICS_FILE, "metrics-file", NULL, 0, "FILE", C,
	    "Write Prometheus textfile metrics of this run to FILE "
	    "(atomically, mode 0644), also when the run fails.", NULL },
	{ OPT_TARGET, "target", NULL, 0, "DIR", 0,
	    "Where to restore: created if missing; must be empty unless "
	    "--overwrite.", NULL },
	{ OPT_INCLUDE, "include", NULL, 0, "PATH", R,
	    "Restore only PATH and what is below it.", NULL },
	{ OPT_OVERWRITE, "overwrite", NULL, 0, NULL, 0,
	    "Restore into a target that is not empty, replacing what is in "
	    "the way.", NULL },
	{ OPT_AT, "at", NULL, 0, "\"YYYY-MM-DD[ HH:MM[:SS]]\"", 0,
	    "Restore the PATHs as they were at this local time, from the "
	    "newest snapshot at or before it.", NULL },
	{ OPT_LONG, "long", NULL, 0, NULL, 0,
	    "Show mode, owner, size and time.", NULL },
	{ OPT_READ_DATA, "read-data", NULL, 0, NULL, 0,
	    "Also read and verify every byte of every pack.", NULL },
	{ OPT_READ_DATA_SUBSET, "read-data-subset", NULL, 0, "N/M|P%", 0,
	    "Read part of the packs: part N of M, or the P percent verified "
	    "longest ago (a rotation that covers everything).", NULL },
	{ OPT_SAMPLE, "sample", NULL, 0, "N|P%", 0,
	    "How many files to restore and verify (default 1000).", NULL },
	{ OPT_FORMAT, "format", NULL, 0, "text|json|html", 0,
	    "The report's format (default text).", NULL },
	{ OPT_SINCE, "since", NULL, 0, "\"YYYY-MM-DD[ HH:MM[:SS]]\"", 0,
	    "Start of the report's period (default 30 days ago).", NULL },
	{ OPT_BACKUP_MAX_AGE, "backup-max-age", NULL, 0, "DURATION", 0,
	    "A host whose newest backup is older is overdue (default 48h).",
	    NULL },
	{ OPT_VERIFY_MAX_AGE, "verify-max-age", NULL, 0, "DURATION", 0,
	    "Verification older than this is overdue (default 31d).", NULL },
	{ OPT_DRILL_MAX_AGE, "drill-max-age", NULL, 0, "DURATION", 0,
	    "A drill older than this is overdue (default 35d).", NULL },
	{ OPT_KEEP_LAST, "keep-last", NULL, 0, "N", 0,
	    "Keep the N newest snapshots.", NULL },
	{ OPT_KEEP_HOURLY, "keep-hourly", NULL, 0, "N", 0,
	    "Keep the newest of each of the N newest hours.", NULL },
	{ OPT_KEEP_DAILY, "keep-daily", NULL, 0, "N", 0,
	    "Keep the newest of each of the N newest days.", NULL },
	{ OPT_KEEP_WEEKLY, "keep-weekly", NULL, 0, "N", 0,
	    "Keep the newest of each of the N newest ISO weeks.", NULL },
	{ OPT_KEEP_MONTHLY, "keep-monthly", NULL, 0, "N", 0,
	    "Keep the newest of each of the N newest months.", NULL },
	{ OPT_KEEP_YEARLY, "keep-yearly", NULL, 0, "N", 0,
	    "Keep the newest of each of the N newest years.", NULL },
	{ OPT_KEEP_WITHIN, "keep-within", NULL, 0, "DURATION", 0,
	    "Keep every snapshot within DURATION of the group's newest.",
	    NULL },
	{ OPT_KEEP_TAG, "keep-tag", NULL, 0, "TAG", R,
	    "Keep every snapshot tagged TAG.", NULL },
	{ OPT_GROUP_BY, "group-by", NULL, 0, "host,paths|host|paths|none", 0,
	    "How snapshots are grouped before the policy applies (default "
	    "host,paths).", NULL },
	{ OPT_DRY_RUN, "dry-run", NULL, 0, NULL, 0,
	    "Say what would be done; change nothing.", NULL },
	{ OPT_PRUNE, "prune", NULL, 0, NULL, 0,
	    "Prune right after forgetting.", NULL },
	{ OPT_MAX_UNUSED, "max-unused", NULL, 0, "PERCENT", 0,
	    "How much unused data a pack may hold before prune rewrites it "
	    "(default 5%).", NULL },
	{ OPT_FORGET, "forget", NULL, 0, NULL, 0,
	    "Forget the snapshots that were rewritten.", NULL },
};

#define OPTS(name, ...) static const int name[] = { __VA_ARGS__, 0 }
OPTS(o_init, OPT_CHUNK_AVG, OPT_KDF, OPT_LABEL);
OPTS(o_key_add, OPT_BACKUP_ONLY, OPT_NEW_PASSWORD_FILE, OPT_OUT, OPT_LABEL,
    OPT_KDF);
OPTS(o_key_passwd, OPT_NEW_PASSWORD_FILE, OPT_KDF);
OPTS(o_backup, OPT_TAG, OPT_HOST, OPT_EXCLUDE, OPT_EXCLUDE_FILE,
    OPT_ONE_FILE_SYSTEM, OPT_COMPRESSION, OPT_WITH_ATIME, OPT_DELTA_MIN_SIZE,
    OPT_DELTA_MAX_DEPTH, OPT_THREADS, OPT_METRICS_FILE);
OPTS(o_snapshots, OPT_HOST, OPT_TAG, OPT_PATH);
OPTS(o_host, OPT_HOST);
OPTS(o_ls, OPT_LONG, OPT_HOST);
OPTS(o_restore, OPT_TARGET, OPT_INCLUDE, OPT_OVERWRITE, OPT_AT, OPT_HOST);
OPTS(o_check, OPT_READ_DATA, OPT_READ_DATA_SUBSET, OPT_THREADS,
    OPT_METRICS_FILE);
OPTS(o_drill, OPT_HOST, OPT_SAMPLE, OPT_TARGET, OPT_METRICS_FILE);
OPTS(o_report, OPT_FORMAT, OPT_SINCE, OPT_OUT, OPT_BACKUP_MAX_AGE,
    OPT_VERIFY_MAX_AGE, OPT_DRILL_MAX_AGE);
OPTS(o_forget, OPT_KEEP_LAST, OPT_KEEP_HOURLY, OPT_KEEP_DAILY,
    OPT_KEEP_WEEKLY, OPT_KEEP_MONTHLY, OPT_KEEP_YEARLY, OPT_KEEP_WITHIN,
    OPT_KEEP_TAG, OPT_GROUP_BY, OPT_HOST, OPT_TAG, OPT_DRY_RUN, OPT_PRUNE,
    OPT_MAX_UNUSED);
OPTS(o_prune, OPT_DRY_RUN, OPT_MAX_UNUSED);
OPTS(o_rewrite, OPT_EXCLUDE, OPT_EXCLUDE_FILE, OPT_FORGET, OPT_DRY_RUN);
OPTS(o_config, OPT_TAG, OPT_HOST, OPT_PATH, OPT_EXCLUDE, OPT_EXCLUDE_FILE,
    OPT_ONE_FILE_SYSTEM, OPT_COMPRESSION, OPT_WITH_ATIME, OPT_DELTA_MIN_SIZE,
    OPT_DELTA_MAX_DEPTH, OPT_METRICS_FILE);

static const struct kl_ref_cmd cmds[] = {
	{ C_INIT, "init", "", "create a repository and its first full key",
	    "The passphrase comes from --password-file, the password "
	    "command, or is asked twice on the terminal. A remote "
	    "repository is reached before the passphrase is asked.",
	    o_init, "kluis -r /srv/backup/repo init --label operators" },
	{ C_KEY, "key add", "", "add a key file (full or backup-only)",
	    "A backup-only key is what a city server holds: it can back up "
	    "and deduplicate, never read.", o_key_add,
	    "kluis key add --backup-only --label web01 --out web01.key" },
	{ C_KEY, "key list", "", "list the key files in keys/", NULL, NULL,
	    NULL },
	{ C_KEY, "key passwd", "", "change the passphrase of the key in use",
	    NULL, o_key_passwd, NULL },
	{ C_KEY, "key remove", "ID", "remove a key file from keys/", NULL,
	    NULL, NULL },
	{ C_BACKUP, "backup", "[PATH...]", "store a new snapshot of the PATHs",
	    "Without PATH, the profile's path settings. A PATH that is "
	    "missing is named and left out, and the others are backed up "
	    "(exit 3); if none exists, nothing is stored (exit 1).",
	    o_backup,
	    "kluis backup /etc /srv/data --tag nightly --exclude '*.tmp'\n"
	    "kluis -p web01 backup" },
	{ C_SNAPSHOTS, "snapshots", "", "list snapshots", NULL, o_snapshots,
	    "kluis snapshots --host web01" },
	{ C_LS, "ls", "SNAPSHOT [PATH]", "list a snapshot's files", NULL,
	    o_ls, "kluis ls latest /etc --long" },
	{ C_RESTORE, "restore", "SNAPSHOT [PATH]... | --at TIME PATH...",
	    "restore a snapshot, some of its paths, or paths as they were at "
	    "a time",
	    "SNAPSHOT is an id, a unique prefix of at least 8 hex digits, or "
	    "latest. Files that could not be restored whole are left as "
	    "NAME.kluis-incomplete and named.", o_restore,
	    "kluis restore latest --target /tmp/restore --include /etc/nginx\n"
	    "kluis restore --at \"2026-11-24 02:00\" /srv/data/permits "
	    "--target /tmp/permits" },
	{ C_VERSIONS, "versions", "PATH",
	    "every version of a file or directory across all snapshots",
	    NULL, o_host, "kluis versions /etc/nginx/nginx.conf" },
	{ C_FIND, "find", "PATTERN",
	    "paths matching a glob across all snapshots", NULL, o_host,
	    "kluis find '*.conf'" },
	{ C_DIFF, "diff", "SNAPSHOT1 SNAPSHOT2",
	    "paths added, removed and changed between two snapshots", NULL,
	    o_host, NULL },
	{ C_CATALOG, "catalog status", "",
	    "where this client's catalog is, and how big", NULL, NULL,
	    NULL },
	{ C_CATALOG, "catalog rebuild", "",
	    "rebuild the catalog from the repository", NULL, NULL, NULL },
	{ C_CAT, "cat", "config | snapshot SNAPSHOT | tree ID",
	    "print a repository object as JSON", NULL, o_host,
	    "kluis cat snapshot latest --host web01" },
	{ C_STATS, "stats", "", "repository sizes and counts", NULL, NULL,
	    NULL },
	{ C_CHECK, "check", "",
	    "verify the repository's structure and, with --read-data, its "
	    "data",
	    "Exit 1 with every finding named when something is wrong.",
	    o_check,
	    "kluis check --read-data-subset 5% --metrics-file "
	    "/var/lib/prometheus/node-exporter/kluis-check.prom" },
	{ C_QUARANTINE, "quarantine", "FILE-ID...",
	    "withdraw index files and packs that check named as bogus", NULL,
	    NULL, NULL },
	{ C_FORGET, "forget", "[SNAPSHOT...]",
	    "remove snapshots by id or by a retention policy",
	    "The policy counts by the server's receive times.", o_forget,
	    "kluis forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 "
	    "--prune" },
	{ C_PRUNE, "prune", "", "delete data no snapshot needs any more",
	    NULL, o_prune, NULL },
	{ C_REWRITE, "rewrite", "[SNAPSHOT...]",
	    "store copies of snapshots without the excluded paths", NULL,
	    o_rewrite,
	    "kluis rewrite --exclude /srv/data/leaked.csv --forget" },
	{ C_UNLOCK, "unlock", "", "remove stale locks", NULL, NULL, NULL },
	{ C_DRILL, "drill", "[SNAPSHOT]",
	    "restore a sample into a scratch directory, verify every byte, "
	    "measure the recovery time", NULL, o_drill,
	    "kluis drill latest --host web01 --sample 5%" },
	{ C_REPORT, "report", "",
	    "compliance report: backups per host, verification, drills, "
	    "verdict", NULL, o_report,
	    "kluis report --format html --out /srv/reports/kluis.html" },
	{ C_CONFIG, "config show", "",
	    "print the effective settings and where each came from",
	    "Reads the command line, the environment and the profile, and "
	    "opens nothing.", o_config, "kluis -p web01 config show" },
	{ C_VERSION, "version", "",
	    "print the versions of kluis, its format and its libraries", NULL,
	    NULL, NULL },
	{ C_HELP, "help", "[COMMAND]",
	    "show the help of a command, or this overview", NULL, NULL,
	    "kluis help restore" },
};

static const struct kl_ref_sect sects[] = {
	{ "ENVIRONMENT",
	    "\tKLUIS_REPOSITORY\tThe repository when --repository is not "
	    "given.\n"
	    "\tKLUIS_PROFILE\tThe profile when --profile is not given.\n"
	    "\tKLUIS_PASSWORD_FILE\tThe passphrase file when --password-file "
	    "is not given.\n"
	    "\tKLUIS_PASSWORD_COMMAND\tThe password command when "
	    "--password-command is not given.\n"
	    "\tKLUIS_KEY_FILE\tThe key file when --key-file is not given.\n"
	    "\tKLUIS_SERVER_COMMAND\tThe server program when "
	    "--server-command is not given.\n"
	    "\tKLUIS_CACHE_DIR\tWhere catalogs are kept (default "
	    "/var/cache/kluis for root, else ~/.cache/kluis).\n"
	    "An empty variable counts as unset. A setting on the command "
	    "line wins over the environment, which wins over the profile." },
	{ "FILES",
	    "\t/etc/kluis/NAME.conf, ~/.config/kluis/NAME.conf\tProfiles "
	    "(kluis.conf(5)).\n"
	    "\t/var/cache/kluis/ID/catalog.db\tThe catalog of repository ID "
	    "(a cache: rebuilt from the repository when lost)." },
	{ "EXIT STATUS",
	    "\t0\tSuccess.\n"
	    "\t1\tA fatal error; for backup: no snapshot written.\n"
	    "\t2\tA usage error.\n"
	    "\t3\tbackup: the snapshot was written, but some sources could "
	    "not be read (named on stderr).\n"
	    "\t10\tThe repository does not exist.\n"
	    "\t11\tThe repository is locked.\n"
	    "\t12\tWrong passphrase, or the key lacks the right." },
	{ "EXAMPLES",
	    "$ kluis -r /srv/backup/repo init\n"
	    "$ kluis -p web01 backup\n"
	    "$ kluis -p web01 snapshots\n"
	    "$ kluis -p web01 restore latest --target /tmp/restore "
	    "--include /etc/nginx" },
	{ "SEE ALSO",
	    "kluis.conf(5), kluis-server(8), ssh(1). The full reference is "
	    "docs/CLI.md, the operator's runbook docs/RUNBOOK.md." },
};

const struct kl_ref cli_ref = {
	.prog = "kluis",
	.section = 1,
	.version = KLUIS_VERSION,
	.what = "encrypted, deduplicating backups to an append-only server",
	.synopsis = "[-p PROFILE] [-r URL] [OPTIONS] COMMAND [ARGS]",
	.text = "kluis backs up files into a repository: it cuts them into "
	    "content-defined chunks, stores each chunk once, compresses it "
	    "with zstd and encrypts it on this machine, so the repository "
	    "(a local directory, or a kluis-server reached over SSH) never "
	    "sees file contents, names or keys.\n"
	    "Options may come before or after the command word. Settings "
	    "can come from a profile (-p NAME, kluis.conf(5)).",
	.opts = opts,
	.nopts = sizeof(opts) / sizeof(opts[0]),
	.cmds = cmds,
	.ncmds = sizeof(cmds) / sizeof(cmds[0]),
	.sects = sects,
	.nsects = sizeof(sects) / sizeof(sects[0]),
};

static const struct kl_ref_sect conf_sects[] = {
	{ "PRECEDENCE",
	    "A setting on the command line wins over the environment "
	    "(KLUIS_REPOSITORY and the others, kluis(1)), which wins over "
	    "the profile, which wins over the defaults. A repeatable "
	    "setting given on the command line replaces the profile's "
	    "values instead of adding to them. 'kluis config show' prints "
	    "each effective setting and where it came from." },
	{ "WHERE SETTINGS APPLY",
	    "Connection settings (repository, password-file, "
	    "password-command, key-file, ssh-key, ssh-known-hosts, "
	    "server-command) apply to every command. host applies to every "
	    "command that takes --host. metrics-file applies to backup, "
	    "check and drill. The keys marked 'used by backup only' do not "
	    "filter other commands: a tag in a profile tags new snapshots, "
	    "it does not hide others from snapshots or forget." },
	{ "PERMISSIONS",
	    "A profile must belong to the user running kluis or to root, "
	    "and no one else may write to it. A profile that names a "
	    "password file, a password command, a key file or an SSH key "
	    "must not be readable by others either (mode 0600 or 0640): "
	    "kluis refuses it, as ssh refuses a private key anyone can "
	    "read." },
	{ "FILES",
	    "\t~/.config/kluis/NAME.conf\tThe user's profiles "
	    "($XDG_CONFIG_HOME/kluis when set); looked up first.\n"
	    "\t/etc/kluis/NAME.conf\tThe system's profiles.\n"
	    "\t/usr/share/doc/kluis/examples/web01.conf\tAn example." },
	{ "EXAMPLE",
	    "$ # /etc/kluis/web01.conf, mode 0600\n"
	    "$ repository = ssh://kluis@backup.example.org/srv/kluis/web01\n"
	    "$ password-file = /etc/kluis/web01.pass\n"
	    "$ key-file = /etc/kluis/web01.key\n"
	    "$ ssh-key = /etc/kluis/id_ed25519\n"
	    "$ ssh-known-hosts = /etc/kluis/known_hosts\n"
	    "$ path = /etc\n"
	    "$ path = /srv/data\n"
	    "$ exclude = *.tmp\n"
	    "$ tag = nightly\n"
	    "$ metrics-file = /var/lib/prometheus/node-exporter/kluis.prom" },
	{ "SEE ALSO", "kluis(1), kluis-server(8)." },
};

const struct kl_ref cli_conf_ref = {
	.prog = "kluis.conf",
	.section = 5,
	.version = KLUIS_VERSION,
	.what = "kluis profiles",
	.synopsis = "",
	.text = "A profile holds the settings of one backup job so that "
	    "command lines need not repeat them: 'kluis -p web01 backup' "
	    "(or KLUIS_PROFILE=web01) reads /etc/kluis/web01.conf.\n"
	    "One setting per line: key = value. Blank lines and lines whose "
	    "first non-blank character is # are ignored; spaces around the "
	    "key and the value are removed, the value is taken as written "
	    "(no quotes, no variables). A repeatable key may appear more "
	    "than once; another key appearing twice, an unknown key or a "
	    "line without = is an error that names the file and line. Keys "
	    "are the long options of kluis(1); a yes/no key takes yes or "
	    "no.",
	.sects = conf_sects,
	.nsects = sizeof(conf_sects) / sizeof(conf_sects[0]),
};
