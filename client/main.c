/* kluis: the client command line (docs/CLI.md). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/blobcodec.h"
#include "kluis/catalog.h"
#include "kluis/delta.h"
#include "kluis/cliref.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/layout.h"
#include "kluis/transport.h"
#include "cli.h"

static int
on_opt(void *arg, const struct kl_ref_opt *o, const char *value, char *msg,
    size_t msg_len)
{
	return cli_opt_set(arg, o, value, CLI_SRC_CMDLINE, 0, msg, msg_len);
}

/* kluis version: what an operator or a bug report needs. */
static int
cmd_version(struct cli *c)
{
	int rc;

	if ((rc = cli_nargs(c, 0, 0)) != EXIT_OK)
		return rc;
	printf("kluis %s\nrepository format %d\n", KLUIS_VERSION,
	    KL_FORMAT_VERSION);
	printf("libsodium %s, zstd %s, libssh2 %s, SQLite %s, librsync %s\n",
	    sodium_version_string(), kl_blob_zstd_version(),
	    kl_transport_ssh_version(), kl_cat_sqlite_version(),
	    kl_delta_rsync_version());
	return EXIT_OK;
}

/* kluis help [COMMAND...] */
static int
cmd_help(struct cli *c)
{
	if (kl_ref_help_words(stdout, &cli_ref, c->args, c->nargs) == 0)
		return EXIT_OK;
	cli_err(c, "no command \"%s\" (see kluis --help)", c->args[0]);
	return EXIT_USAGE;
}

static int
run(struct cli *c)
{
	switch ((enum cli_cmd)c->cmd->id) {
	case C_INIT: return cmd_init(c);
	case C_KEY: return cmd_key(c);
	case C_BACKUP: return cmd_backup(c);
	case C_SNAPSHOTS: return cmd_snapshots(c);
	case C_LS: return cmd_ls(c);
	case C_RESTORE: return cmd_restore(c);
	case C_VERSIONS: return cmd_versions(c);
	case C_FIND: return cmd_find(c);
	case C_DIFF: return cmd_diff(c);
	case C_CATALOG: return cmd_catalog(c);
	case C_CAT: return cmd_cat(c);
	case C_STATS: return cmd_stats(c);
	case C_CHECK: return cmd_check(c);
	case C_QUARANTINE: return cmd_quarantine(c);
	case C_FORGET: return cmd_forget(c);
	case C_PRUNE: return cmd_prune(c);
	case C_REWRITE: return cmd_rewrite(c);
	case C_UNLOCK: return cmd_unlock(c);
	case C_DRILL: return cmd_drill(c);
	case C_REPORT: return cmd_report(c);
	case C_CONFIG: return cmd_config(c);
	case C_VERSION: return cmd_version(c);
	case C_HELP: return cmd_help(c);
	}
	abort();	/* a command in the table without a case */
}

/* Remote repositories (ssh://, pipe:) read these when they connect. */
static void
cli_transport_configure(const struct cli *c)
{
	struct kl_transport_opts t;

	t.known_hosts = c->ssh_known_hosts;
	t.ssh_key = c->ssh_key;
	t.server_command = c->server_command;
	t.ssh_command = c->ssh_command;
	kl_transport_configure(&t);
}

int
main(int argc, char **argv)
{
	struct kl_ref_parsed p;
	struct cli c;
	int rc, used;

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
	if (kl_ref_parse(&cli_ref, argc, argv, on_opt, &c, &p) != 0) {
		fprintf(stderr, "kluis: %s\n", p.msg);
		return EXIT_USAGE;
	}
	if (p.help) {
		kl_ref_help_parsed(stdout, &cli_ref, &p);
		return EXIT_OK;
	}
	/* "print the version and exit", whatever else was asked */
	if (c.version) {
		p.cmd = kl_ref_cmd_find(&cli_ref, (char *[]){ "version" }, 1,
		    &used);
		p.nargs = 0;
	}
	if (p.cmd == NULL) {
		if (p.unknown == NULL)
			kl_ref_usage(stderr, &cli_ref);
		else if (kl_ref_cmd_is_group(&cli_ref, p.unknown))
			/* a name from the table: nothing to escape */
			fprintf(stderr, "kluis: %s needs a sub-command (see "
			    "kluis help %s)\n", p.unknown, p.unknown);
		else
		{
			fputs("kluis: unknown command \"", stderr);
			cli_puts(stderr, p.unknown);
			fputs("\"; commands: ", stderr);
			kl_ref_cmd_list(stderr, &cli_ref);
			fputs(" (see kluis --help)\n", stderr);
		}
		return EXIT_USAGE;
	}
	c.cmd = p.cmd;
	c.args = p.args;
	c.nargs = p.nargs;
	/* help and version need no settings: a broken profile must not
	 * hide the help that explains it */
	if (c.cmd->id != C_HELP && c.cmd->id != C_VERSION &&
	    (rc = cli_settings_load(&c)) != EXIT_OK)
		return rc;
	cli_progress_signal();
	cli_transport_configure(&c);
	return run(&c);
}
