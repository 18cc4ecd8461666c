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
	S_REPLICA, S_TO, S_REPAIR, S_SSH_KEY, S_SSH_KNOWN_HOSTS,
	S_SSH_COMMAND, S_SERVER_COMMAND, S_ROOT, S_OVERDUE, S_METRICS_FILE,
};
enum server_cmd {
	SC_SERVE = 1, SC_VERIFY, SC_AUDIT, SC_PURGE, SC_UNDELETE, SC_VERSION,
	SC_HELP, SC_REPLICATE, SC_STATUS,
};
struct kl_ref;
extern const struct kl_ref server_ref;

/* A command line, parsed (server_main.c). */
struct server_args {
	const char *cmd;		/* its name, for messages */
	const char *repo, *client_name, *delete_delay, *min_age, *quota;
	const char *since;
	const char *to, *ssh_key, *ssh_known_hosts, *ssh_command;
	const char *server_command;		/* replicate */
	const char *root, *overdue, *metrics_file;	/* status */
	int append_only, read_only, replica, repair, dry_run, json, version;
	char **args;			/* positional words */
	int nargs;
};
/* The repository every command needs: 0, or -1 after saying so. */
int server_repo_required(const struct server_args *a);

/* Opens repo for cmd in role (enum kl_store_role): EXIT_CLEAN, or
 * EXIT_NOREPO / EXIT_FINDINGS after saying why on stderr. */
struct kl_store;
int server_store_open(const char *cmd, const char *repo, int role,
    struct kl_store **out);

/* Who an audit record of a command run on the server comes from: the
 * role "server", this process, $USER; client (may be NULL) names what
 * it works for, such as a replication target. */
struct kl_audit_who;
void server_who_fill(struct kl_audit_who *w, const char *client);

/* Stray names are arbitrary bytes: never hand them raw to a terminal. */
void print_name(FILE *f, const char *s);

/* kluis-server purge and undelete (server_trash.c). */
int cmd_purge(const struct server_args *a);
int cmd_undelete(const struct server_args *a);
/* kluis-server replicate (server_replicate.c) and status
 * (server_status.c). */
int cmd_replicate(const struct server_args *a);
int cmd_status(const struct server_args *a);

#endif
