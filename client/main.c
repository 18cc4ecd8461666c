/* kluis: the client command line (docs/CLI.md). */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/transport.h"
#include "kluis/treewalk.h"
#include "cli.h"

enum {
	O_PASSWORD_FILE = 1000, O_KEY_FILE, O_JSON, O_CHUNK_AVG, O_KDF,
	O_NEWPASS, O_OUT, O_LABEL, O_BACKUP_ONLY, O_TAG, O_HOST, O_EXCLUDE,
	O_EXCLUDE_FILE, O_ONEFS, O_COMPRESSION, O_TARGET, O_INCLUDE,
	O_OVERWRITE, O_LONG, O_PATH, O_THREADS, O_SSH_KNOWN_HOSTS, O_SSH_KEY,
	O_SERVER_COMMAND, O_AT, O_READ_DATA, O_READ_DATA_SUBSET, O_SAMPLE,
	O_FORMAT, O_SINCE, O_METRICS_FILE, O_TREE_BUDGET,
	O_KEEP_LAST, O_KEEP_HOURLY, O_KEEP_DAILY, O_KEEP_WEEKLY,
	O_KEEP_MONTHLY, O_KEEP_YEARLY, O_KEEP_WITHIN, O_KEEP_TAG, O_GROUP_BY,
	O_DRY_RUN, O_BACKUP_MAX_AGE, O_VERIFY_MAX_AGE, O_DRILL_MAX_AGE,
	O_MAX_UNUSED, O_PRUNE, O_FORGET,
};

static const struct option longopts[] = {
	{ "repo", required_argument, NULL, 'r' },
	{ "password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ "key-file", required_argument, NULL, O_KEY_FILE },
	{ "json", no_argument, NULL, O_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "chunk-avg", required_argument, NULL, O_CHUNK_AVG },
	{ "kdf", required_argument, NULL, O_KDF },
	{ "new-password-file", required_argument, NULL, O_NEWPASS },
	{ "out", required_argument, NULL, O_OUT },
	{ "label", required_argument, NULL, O_LABEL },
	{ "backup-only", no_argument, NULL, O_BACKUP_ONLY },
	{ "tag", required_argument, NULL, O_TAG },
	{ "host", required_argument, NULL, O_HOST },
	{ "exclude", required_argument, NULL, O_EXCLUDE },
	{ "exclude-file", required_argument, NULL, O_EXCLUDE_FILE },
	{ "one-file-system", no_argument, NULL, O_ONEFS },
	{ "compression", required_argument, NULL, O_COMPRESSION },
	{ "target", required_argument, NULL, O_TARGET },
	{ "include", required_argument, NULL, O_INCLUDE },
	{ "overwrite", no_argument, NULL, O_OVERWRITE },
	{ "long", no_argument, NULL, O_LONG },
	{ "path", required_argument, NULL, O_PATH },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "ssh-known-hosts", required_argument, NULL, O_SSH_KNOWN_HOSTS },
	{ "ssh-key", required_argument, NULL, O_SSH_KEY },
	{ "server-command", required_argument, NULL, O_SERVER_COMMAND },
	{ "at", required_argument, NULL, O_AT },
	{ "read-data", no_argument, NULL, O_READ_DATA },
	{ "read-data-subset", required_argument, NULL, O_READ_DATA_SUBSET },
	{ "sample", required_argument, NULL, O_SAMPLE },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "since", required_argument, NULL, O_SINCE },
	{ "metrics-file", required_argument, NULL, O_METRICS_FILE },
	{ "tree-budget", required_argument, NULL, O_TREE_BUDGET },
	{ "keep-last", required_argument, NULL, O_KEEP_LAST },
	{ "keep-hourly", required_argument, NULL, O_KEEP_HOURLY },
	{ "keep-daily", required_argument, NULL, O_KEEP_DAILY },
	{ "keep-weekly", required_argument, NULL, O_KEEP_WEEKLY },
	{ "keep-monthly", required_argument, NULL, O_KEEP_MONTHLY },
	{ "keep-yearly", required_argument, NULL, O_KEEP_YEARLY },
	{ "keep-within", required_argument, NULL, O_KEEP_WITHIN },
	{ "keep-tag", required_argument, NULL, O_KEEP_TAG },
	{ "group-by", required_argument, NULL, O_GROUP_BY },
	{ "dry-run", no_argument, NULL, O_DRY_RUN },
	{ "backup-max-age", required_argument, NULL, O_BACKUP_MAX_AGE },
	{ "verify-max-age", required_argument, NULL, O_VERIFY_MAX_AGE },
	{ "drill-max-age", required_argument, NULL, O_DRILL_MAX_AGE },
	{ "max-unused", required_argument, NULL, O_MAX_UNUSED },
	{ "prune", no_argument, NULL, O_PRUNE },
	{ "forget", no_argument, NULL, O_FORGET },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
    "usage: kluis [-r REPO] [--password-file F] [--key-file F] [--json] "
    "[-q] [-v]\n"
    "             [--ssh-known-hosts F] [--ssh-key F] [--server-command CMD] "
    "\n             [--tree-budget N|off] COMMAND ...\n"
    "REPO is a local path, ssh://[user@]host[:port]/absolute/path or "
    "pipe:PATH\n"
    "commands:\n"
    "  init [--chunk-avg SIZE] [--kdf interactive|moderate|sensitive] "
    "[--label L]\n"
    "  key add [--backup-only] [--new-password-file F] [--out FILE] "
    "[--label L] [--kdf K]\n"
    "  key list\n"
    "  key passwd [--new-password-file F] [--kdf K]\n"
    "  key remove ID\n"
    "  backup PATH... [--tag T]... [--host NAME] [--exclude GLOB]...\n"
    "         [--exclude-file F]... [--one-file-system] "
    "[--compression N|off]\n"
    "         [--threads N]\n"
    "  snapshots [--host H] [--tag T] [--path P]\n"
    "  ls SNAPSHOT [PATH] [--long] [--host H]\n"
    "  restore SNAPSHOT [PATH]... --target DIR [--include PATH]... "
    "[--overwrite]\n"
    "          [--host H]\n"
    "  restore --at \"YYYY-MM-DD[ HH:MM[:SS]]\" [--host H] PATH... "
    "--target DIR\n"
    "  versions PATH [--host H]\n"
    "  find PATTERN [--host H]\n"
    "  diff SNAPSHOT1 SNAPSHOT2 [--host H]\n"
    "  catalog status|rebuild\n"
    "  quarantine FILE-ID...\n"
    "  forget [SNAPSHOT...] [--keep-last N] [--keep-hourly N] "
    "[--keep-daily N]\n"
    "         [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] "
    "[--keep-within D]\n"
    "         [--keep-tag T]... [--host H]... [--tag T]... "
    "[--group-by host,paths|host|paths|none]\n"
    "         [--dry-run] [--prune [--max-unused PERCENT]]\n"
    "  prune [--dry-run] [--max-unused PERCENT]\n"
    "  rewrite [SNAPSHOT...] --exclude GLOB... [--exclude-file F]... "
    "[--forget] [--dry-run]\n"
    "  unlock\n"
    "  check [--read-data | --read-data-subset N/M|P%] [--metrics-file F]\n"
    "  drill [SNAPSHOT|latest] [--host H] [--sample N|P%] [--target DIR] "
    "[--metrics-file F]\n"
    "  report [--format text|json|html] [--since DATE] [--out FILE]\n"
    "         [--backup-max-age D] [--verify-max-age D] "
    "[--drill-max-age D]\n"
    "  cat config|snapshot SNAPSHOT [--host H]|tree ID\n"
    "  stats\n"
    "SNAPSHOT is a full id, a unique prefix of >= 8 hex digits, or "
    "'latest': the newest\n"
    "snapshot of --host H, or of the only host whose snapshots hold the "
    "paths asked for.\n"
    "--tree-budget: how much more than a snapshot declares its trees may "
    "hold (default 4).\n"
    "environment: KLUIS_REPOSITORY, KLUIS_PASSWORD_FILE, "
    "KLUIS_PASSWORD_COMMAND, KLUIS_KEY_FILE, KLUIS_SERVER_COMMAND,\n"
    "             KLUIS_CACHE_DIR\n"
    "exit codes: 0 ok, 1 fatal, 2 usage, 3 some sources unreadable, "
    "10 no repository, 11 locked, 12 wrong passphrase or key lacks the "
    "right\n";

static int
list_add(struct strlist *l, const char *v)
{
	if (l->n == CLI_LIST_MAX)
		return -1;
	l->v[l->n++] = v;
	return 0;
}

/* Sets one command option; returns -1 on a usage error. */
static int
set_cmd_opt(struct cli *c, int ch, const char *arg)
{
	switch (ch) {
	case O_CHUNK_AVG: c->chunk_avg = arg; c->seen |= CLI_O_CHUNK_AVG; break;
	case O_KDF: c->kdf = arg; c->seen |= CLI_O_KDF; break;
	case O_NEWPASS: c->new_password_file = arg; c->seen |= CLI_O_NEWPASS;
		break;
	case O_OUT: c->out = arg; c->seen |= CLI_O_OUT; break;
	case O_LABEL: c->label = arg; c->seen |= CLI_O_LABEL; break;
	case O_BACKUP_ONLY: c->backup_only = 1; c->seen |= CLI_O_BACKUP_ONLY;
		break;
	case O_TAG: c->seen |= CLI_O_TAG; return list_add(&c->tags, arg);
	case O_HOST: c->host = arg; c->seen |= CLI_O_HOST;
		return list_add(&c->hosts, arg);
	case O_KEEP_LAST: case O_KEEP_HOURLY: case O_KEEP_DAILY:
	case O_KEEP_WEEKLY: case O_KEEP_MONTHLY: case O_KEEP_YEARLY:
		c->keep[ch - O_KEEP_LAST] = arg; c->seen |= CLI_O_KEEP; break;
	case O_KEEP_WITHIN: c->keep_within = arg; c->seen |= CLI_O_KEEP;
		break;
	case O_KEEP_TAG: c->seen |= CLI_O_KEEP;
		return list_add(&c->keep_tags, arg);
	case O_GROUP_BY: c->group_by = arg; c->seen |= CLI_O_GROUP_BY; break;
	case O_DRY_RUN: c->dry_run = 1; c->seen |= CLI_O_DRY_RUN; break;
	case O_MAX_UNUSED: c->max_unused = arg; c->seen |= CLI_O_MAX_UNUSED;
		break;
	case O_PRUNE: c->prune = 1; c->seen |= CLI_O_PRUNE; break;
	case O_FORGET: c->forget = 1; c->seen |= CLI_O_FORGET; break;
	case O_BACKUP_MAX_AGE: case O_VERIFY_MAX_AGE: case O_DRILL_MAX_AGE:
		c->max_age[ch - O_BACKUP_MAX_AGE] = arg;
		c->seen |= CLI_O_MAX_AGE; break;
	case O_AT: c->at = arg; c->seen |= CLI_O_AT; break;
	case O_READ_DATA: c->read_data = 1; c->seen |= CLI_O_READ_DATA; break;
	case O_READ_DATA_SUBSET: c->read_data_subset = arg;
		c->seen |= CLI_O_READ_DATA_SUBSET; break;
	case O_SAMPLE: c->sample = arg; c->seen |= CLI_O_SAMPLE; break;
	case O_FORMAT: c->format = arg; c->seen |= CLI_O_FORMAT; break;
	case O_SINCE: c->since = arg; c->seen |= CLI_O_SINCE; break;
	case O_METRICS_FILE: c->metrics_file = arg;
		c->seen |= CLI_O_METRICS_FILE; break;
	case O_EXCLUDE: c->seen |= CLI_O_EXCLUDE;
		return list_add(&c->excludes, arg);
	case O_EXCLUDE_FILE: c->seen |= CLI_O_EXCLUDE_FILE;
		return list_add(&c->exclude_files, arg);
	case O_ONEFS: c->one_file_system = 1; c->seen |= CLI_O_ONEFS; break;
	case O_COMPRESSION: c->compression = arg; c->seen |= CLI_O_COMPRESSION;
		break;
	case O_TARGET: c->target = arg; c->seen |= CLI_O_TARGET; break;
	case O_INCLUDE: c->seen |= CLI_O_INCLUDE;
		return list_add(&c->includes, arg);
	case O_OVERWRITE: c->overwrite = 1; c->seen |= CLI_O_OVERWRITE; break;
	case O_LONG: c->long_list = 1; c->seen |= CLI_O_LONG; break;
	case O_PATH: c->seen |= CLI_O_PATH; return list_add(&c->paths, arg);
	case O_THREADS: c->threads = atoi(arg); c->seen |= CLI_O_THREADS;
		break;
	default: return -1;
	}
	return 0;
}

/* --tree-budget N|off: N times a snapshot's declared totals. */
static int
tree_budget_parse(struct cli *c, const char *arg)
{
	char *end;
	unsigned long v;

	if (strcmp(arg, "off") == 0) {
		c->tree_budget = KL_WALK_UNLIMITED;
		return 0;
	}
	v = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || v < 1 ||
	    v > KL_WALK_FACTOR_MAX) {
		fprintf(stderr, "kluis: --tree-budget takes a factor from 1 "
		    "to %u, or off\n", KL_WALK_FACTOR_MAX);
		return -1;
	}
	c->tree_budget = (unsigned)v;
	return 0;
}

static int
parse(struct cli *c, int argc, char **argv)
{
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":r:qvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': c->repo = optarg; break;
		case O_PASSWORD_FILE: c->password_file = optarg; break;
		case O_KEY_FILE: c->key_file = optarg; break;
		case O_SSH_KNOWN_HOSTS: c->ssh_known_hosts = optarg; break;
		case O_SSH_KEY: c->ssh_key = optarg; break;
		case O_SERVER_COMMAND: c->server_command = optarg; break;
		case O_TREE_BUDGET:
			if (tree_budget_parse(c, optarg) != 0)
				return -1;
			break;
		case O_JSON: c->json = 1; break;
		case 'q': c->quiet = 1; break;
		case 'v': c->verbose++; break;
		case 'h': fputs(usage_text, stdout); exit(EXIT_OK);
		case ':':
			fprintf(stderr, "kluis: option %s needs a value\n",
			    argv[optind - 1]);
			return -1;
		case '?':
			fprintf(stderr, "kluis: unknown option %s\n",
			    argv[optind - 1]);
			return -1;
		default:
			if (set_cmd_opt(c, ch, optarg) != 0) {
				fprintf(stderr, "kluis: too many values for "
				    "%s\n", argv[optind - 1]);
				return -1;
			}
		}
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	return 0;
}

static const struct {
	const char *name;
	int (*run)(struct cli *);
} commands[] = {
	{ "init", cmd_init },
	{ "key", cmd_key },
	{ "backup", cmd_backup },
	{ "snapshots", cmd_snapshots },
	{ "ls", cmd_ls },
	{ "restore", cmd_restore },
	{ "cat", cmd_cat },
	{ "stats", cmd_stats },
	{ "versions", cmd_versions },
	{ "find", cmd_find },
	{ "diff", cmd_diff },
	{ "catalog", cmd_catalog },
	{ "quarantine", cmd_quarantine },
	{ "forget", cmd_forget },
	{ "prune", cmd_prune },
	{ "rewrite", cmd_rewrite },
	{ "unlock", cmd_unlock },
	{ "check", cmd_check },
	{ "drill", cmd_drill },
	{ "report", cmd_report },
};

/* An empty variable counts as unset. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static void
env_defaults(struct cli *c)
{
	c->repo = env("KLUIS_REPOSITORY");
	c->password_file = env("KLUIS_PASSWORD_FILE");
	c->key_file = env("KLUIS_KEY_FILE");
}

/* Remote repositories (ssh://, pipe:) read these when they connect. */
static void
cli_transport_configure(const struct cli *c)
{
	struct kl_transport_opts t;

	t.known_hosts = c->ssh_known_hosts;
	t.ssh_key = c->ssh_key;
	t.server_command = c->server_command;
	kl_transport_configure(&t);
}

int
main(int argc, char **argv)
{
	struct cli c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.prog = "kluis";
	/*
	 * Fixed, not glibc's dynamic, mmap threshold: chunk, blob and pack
	 * buffers (256 KiB .. 128 MiB) then go back to the system when freed
	 * instead of lingering in arena heaps - a backup's peak memory fell
	 * from ~210 to ~120 MB with this (docs/PERFORMANCE.md).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 4);
	if (kl_crypto_init() != KL_OK) {
		fprintf(stderr, "kluis: cannot initialise libsodium\n");
		return EXIT_FATAL;
	}
	env_defaults(&c);
	if (parse(&c, argc, argv) != 0)
		return EXIT_USAGE;
	cli_transport_configure(&c);
	if (c.nargs == 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(c.args[0], commands[i].name) == 0) {
			c.args++;
			c.nargs--;
			return commands[i].run(&c);
		}
	}
	fprintf(stderr, "kluis: unknown command \"%s\"; see kluis --help\n",
	    c.args[0]);
	return EXIT_USAGE;
}
