/*
 * What the command files of kluis-server (server_main.c, server_trash.c)
 * share: private to the program.
 */
#ifndef KLUIS_SERVER_CMDS_H
#define KLUIS_SERVER_CMDS_H

#include <stdio.h>

/* Exit codes a scheduler can act on. */
#define EXIT_CLEAN	0
#define EXIT_FINDINGS	1	/* corruption, strays, or an error */
#define EXIT_USAGE	2
#define EXIT_NOREPO	10	/* the directory is not a repository */

extern const char *progname;

/* Option and command ids of the reference table (server_ref.c). */
enum server_opt {
	S_REPO = 1, S_APPEND_ONLY, S_READ_ONLY, S_CLIENT_NAME, S_DELETE_DELAY,
	S_MIN_AGE, S_QUOTA, S_SINCE, S_DRY_RUN, S_JSON, S_HELP, S_VERSION,
};
enum server_cmd {
	SC_SERVE = 1, SC_VERIFY, SC_AUDIT, SC_PURGE, SC_UNDELETE, SC_VERSION,
	SC_HELP,
};
struct kl_ref;
extern const struct kl_ref server_ref;

/* A command line, parsed (server_main.c). */
struct server_args {
	const char *cmd;		/* its name, for messages */
	const char *repo, *client_name, *delete_delay, *min_age, *quota;
	const char *since;
	int append_only, read_only, dry_run, json, version;
	char **args;			/* positional words */
	int nargs;
};
/* The repository every command needs: 0, or -1 after saying so. */
int server_repo_required(const struct server_args *a);

/* Stray names are arbitrary bytes: never hand them raw to a terminal. */
void print_name(FILE *f, const char *s);

/* kluis-server purge and undelete (server_trash.c). */
int cmd_purge(const struct server_args *a);
int cmd_undelete(const struct server_args *a);

#endif
