/* The kluis command line: shared state and helpers (client/cli*.c). */
#ifndef KLUIS_CLI_H
#define KLUIS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kluis/catalog.h"
#include "kluis/hash.h"

struct buf;
struct kl_error;
struct kl_json;
struct kl_ref;
struct kl_ref_cmd;
struct kl_ref_opt;
struct kl_repo;

/* Exit codes (restic's conventions; docs/RUNBOOK.md "Exit codes"). */
#define EXIT_OK 0
#define EXIT_FATAL 1
#define EXIT_USAGE 2
#define EXIT_PARTIAL 3		/* backup written, some sources unreadable */
#define EXIT_NOREPO 10
#define EXIT_LOCKED 11
#define EXIT_KEY 12		/* wrong passphrase, or key lacks the right */

#define CLI_LIST_MAX 256

struct strlist {
	const char *v[CLI_LIST_MAX];
	size_t n;
};

/* A number macro as a string literal (defaults in help texts). */
#define CLI_STR_(x) #x
#define CLI_STR(x) CLI_STR_(x)

/* Defaults of --delta-min-size and --delta-max-depth (ARCHITECTURE.md
 * "Deltas" says why). */
#define CLI_DELTA_MIN_SIZE_DEFAULT ((uint64_t)64 << 20)
#define CLI_DELTA_DEPTH_DEFAULT 16

/* Option ids of the reference table (cli_ref.c), from 1. */
enum cli_opt {
	OPT_REPO = 1, OPT_PROFILE, OPT_PASSWORD_FILE, OPT_PASSWORD_COMMAND,
	OPT_KEY_FILE, OPT_SSH_KEY, OPT_SSH_KNOWN_HOSTS, OPT_SSH_COMMAND,
	OPT_SERVER_COMMAND, OPT_TREE_BUDGET, OPT_JSON, OPT_QUIET, OPT_VERBOSE,
	OPT_HELP, OPT_VERSION, OPT_PROGRESS_INTERVAL, OPT_CHUNK_AVG, OPT_KDF, OPT_LABEL,
	OPT_BACKUP_ONLY, OPT_NEW_PASSWORD_FILE, OPT_OUT, OPT_TAG, OPT_HOST,
	OPT_PATH, OPT_EXCLUDE, OPT_EXCLUDE_FILE, OPT_ONE_FILE_SYSTEM,
	OPT_COMPRESSION, OPT_WITH_ATIME, OPT_DELTA_MIN_SIZE, OPT_DELTA_MAX_DEPTH,
	OPT_THREADS, OPT_METRICS_FILE,
	OPT_TARGET, OPT_INCLUDE, OPT_OVERWRITE, OPT_AT, OPT_LONG,
	OPT_READ_DATA, OPT_READ_DATA_SUBSET, OPT_SAMPLE, OPT_FORMAT, OPT_SINCE,
	OPT_BACKUP_MAX_AGE, OPT_VERIFY_MAX_AGE, OPT_DRILL_MAX_AGE,
	OPT_KEEP_LAST, OPT_KEEP_HOURLY, OPT_KEEP_DAILY, OPT_KEEP_WEEKLY,
	OPT_KEEP_MONTHLY, OPT_KEEP_YEARLY, OPT_KEEP_WITHIN, OPT_KEEP_TAG,
	OPT_GROUP_BY, OPT_DRY_RUN, OPT_PRUNE, OPT_MAX_UNUSED, OPT_FORGET,
	OPT_END
};
/* Command ids (a command of two words, "key add", shares its first
 * word's id; the handler reads the second from args). */
enum cli_cmd {
	C_INIT = 1, C_KEY, C_BACKUP, C_SNAPSHOTS, C_LS, C_RESTORE, C_VERSIONS,
	C_FIND, C_DIFF, C_CATALOG, C_CAT, C_STATS, C_CHECK, C_QUARANTINE,
	C_FORGET, C_PRUNE, C_REWRITE, C_UNLOCK, C_DRILL, C_REPORT, C_CONFIG,
	C_VERSION, C_HELP,
};
/* kluis's reference (cli_ref.c) and that of its profiles. */
extern const struct kl_ref cli_ref, cli_conf_ref;

/* Where a setting came from (kluis config show). */
enum cli_src {
	CLI_SRC_NONE,		/* not set: the default */
	CLI_SRC_CMDLINE,
	CLI_SRC_ENV,
	CLI_SRC_PROFILE,
};

struct cli {
	const char *prog;
	const struct kl_ref_cmd *cmd;	/* the command being run */
	const char *repo;
	const char *password_file, *password_command;
	const char *key_file;
	const char *ssh_known_hosts, *ssh_key, *ssh_command, *server_command;
	int json, quiet, verbose, version;
	double progress_interval;	/* --progress-interval (0: none) */
	const char *progress_interval_text;
	unsigned tree_budget;	/* --tree-budget (treewalk.h factor) */
	char host_buf[256];	/* this machine's host name (latest) */
	/* command options */
	const char *chunk_avg, *kdf, *new_password_file, *out, *label;
	const char *host, *target, *compression, *at;
	const char *read_data_subset, *sample, *format, *since, *metrics_file;
	int read_data;
	int backup_only, one_file_system, overwrite, long_list, threads;
	int with_atime;
	const char *delta_min_size, *delta_max_depth;
	struct strlist tags, excludes, exclude_files, includes, paths;
	struct strlist hosts;	/* every --host, in order (c->host: last) */
	/* forget: --keep-last ... --keep-yearly, --keep-within, --keep-tag */
	const char *keep[6], *keep_within, *group_by;
	struct strlist keep_tags;
	int dry_run;
	/* prune, forget --prune: --max-unused, --prune */
	const char *max_unused;
	int prune;
	int forget;		/* rewrite --forget */
	/* report: --backup-max-age, --verify-max-age, --drill-max-age */
	const char *max_age[3];
	/* positional arguments after the command word(s) */
	char **args;
	int nargs;
	/* where each option's value came from (enum cli_src), and for a
	 * profile its first line; the profile's name and file */
	unsigned char src[OPT_END];
	unsigned src_line[OPT_END];
	const char *profile, *profile_path;
	/* why cli_open failed, for the run's record (cli_runs.c) */
	char open_why[256];
};

/*
 * cli_config.c: settings from the command line, the environment and a
 * profile (kluis.conf(5); docs/CLI.md "Profiles").
 *
 * cli_opt_set sets option o from value (NULL for a flag on the command
 * line; "yes"/"no" for one from a profile) as coming from src (line: the
 * profile's line); 0, or -1 with why in msg.  A repeatable option adds a
 * value.
 */
int cli_opt_set(struct cli *c, const struct kl_ref_opt *o, const char *value,
    enum cli_src src, unsigned line, char *msg, size_t msg_len);
/*
 * After the command line: fills what it left unset from the environment,
 * then from the profile (-p, KLUIS_PROFILE), for c->cmd; prints what is
 * wrong and returns an exit code.
 */
int cli_settings_load(struct cli *c);
/* Where option id's value came from, for messages: "--password-command",
 * "KLUIS_PASSWORD_COMMAND", "password-command in FILE line N". */
const char *cli_origin(const struct cli *c, int id, char *buf, size_t len);
int cmd_config(struct cli *c);

/* Whether option id was given (command line, environment or profile). */
#define cli_given(c, id) ((c)->src[(id)] != CLI_SRC_NONE)

/*
 * Untrusted text on a human-readable output (docs/CLI.md "Names on the
 * terminal"): every string that comes from a repository, a catalog, a
 * server or a file system - host, user and group names, tags, paths, file
 * names, symlink targets, key labels, error messages - is written through
 * these, escaped with kl_text_esc, never with a bare %s.  JSON output has
 * its own escaping (kl_json_str, kluis/json.h).
 */
void cli_putn(FILE *f, const char *s, size_t len);
void cli_puts(FILE *f, const char *s);
/* cli_puts, then spaces up to width bytes of the escaped text. */
void cli_puts_pad(FILE *f, const char *s, size_t width);

/* Prints "kluis: <message>" / "kluis: warning: ..." to stderr (always:
 * --quiet only silences progress and summaries).  The whole message is
 * escaped (cli_puts): its arguments may be names from a repository. */
void cli_err(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_warn(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A kl_warn_fn printing "warning: <path>: <what> (<error>)", escaped. */
void cli_warn_path(void *arg, const char *path, int err, const char *what);

/* Requires between min and max (-1: any number) positional arguments;
 * else prints the command's synopsis and returns EXIT_USAGE. */
int cli_nargs(const struct cli *c, int min, int max);

/*
 * Reads a passphrase: from file if given, else (current passphrases
 * only) KLUIS_PASSWORD_COMMAND, else a prompt on the terminal (twice for
 * a new one); never prompts without a terminal; new passphrases must not
 * be empty.  *out is sodium_malloc'd (free with cli_password_free).
 */
enum cli_pw {
	PW_CURRENT,	/* file, command, prompt */
	PW_NEW_REPO,	/* init: file, command, prompt twice; not empty */
	PW_NEW_KEY,	/* key add/passwd: file, prompt twice; not empty */
};
int cli_password(const struct cli *c, const char *file, enum cli_pw mode,
    const char *what, char **out, size_t *len);
void cli_password_free(char *p, size_t len);

/* Opens the repository (-r / KLUIS_REPOSITORY) with the passphrase;
 * prints the error and returns an exit code on failure. */
int cli_open(struct cli *c, struct kl_repo **r);
/* Reports the damaged files the repository skipped and its notes (what
 * it worked around), then closes it.  Returns 1 if damage was reported. */
int cli_close(const struct cli *c, struct kl_repo *r);

/*
 * cli_fail.c: the command line prints each failure once and maps it to
 * the exit code in one place (docs/ARCHITECTURE.md "Errors: one path"):
 * one table from a code, the kind of object the failure is about (struct
 * kl_error) and where the command was to the exit codes above.  A few
 * codes mean something else where they happen:
 */
enum cli_at {
	CLI_AT_REPO,	/* work on an open repository: most calls */
	CLI_AT_OPEN,	/* opening one (cli_open): a missing repository or
			 * config (or a store that found nothing and said no
			 * more) is EXIT_NOREPO; KL_E_INVAL is EXIT_FATAL */
	CLI_AT_INIT,	/* creating one (kluis init): every failure is
			 * EXIT_FATAL */
	CLI_AT_RESTORE,	/* kl_restore_run: KL_E_INVAL (the target is not a
			 * directory) is EXIT_FATAL */
	CLI_AT_DRILL,	/* kl_drill_run: KL_E_PERM is EXIT_KEY, every other
			 * failure EXIT_FATAL */
};
/* The exit code of a call that returned rc (KL_OK: EXIT_OK) with e (NULL:
 * no detail). */
int cli_exit_code(int rc, const struct kl_error *e, enum cli_at at);
/*
 * Whether e records the failure rc: a callee said what failed.  A failure
 * nobody recorded may have been told already on its way up (the warning
 * that named a path).
 */
int cli_said(const struct kl_error *e, int rc);
/* Whether e's sentence for rc begins with s (a transport's message names
 * the URL: the context must not say it again). */
int cli_msg_names(const struct kl_error *e, int rc, const char *s);
/*
 * Prints "kluis: [context: ]message" to stderr once - message is
 * kl_error_msg(e, rc), the context ctx_fmt (NULL: none), the whole line
 * escaped (cli_err) - and returns cli_exit_code(rc, e, CLI_AT_REPO), or
 * with cli_fail_at, that of at.
 */
int cli_fail(const struct cli *c, int rc, const struct kl_error *e,
    const char *ctx_fmt, ...) __attribute__((format(printf, 4, 5)));
int cli_fail_at(const struct cli *c, enum cli_at at, int rc,
    const struct kl_error *e, const char *ctx_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * cli_progress.c: the progress of a long command (docs/CLI.md "Progress"):
 * a live line on stderr when it is a terminal (not with -q or --json),
 * JSON status lines on stdout with --json (at most one a second, none in
 * the first second: the result stays the last line), and a line in the
 * log on SIGUSR1 or every --progress-interval seconds.  Updates must not
 * run concurrently (the libraries serialise their callbacks).
 */
struct cli_progress_state {
	const char *phase;	/* NULL: one phase */
	uint64_t n, n_total;	/* done and total (0: unknown) of unit */
	const char *unit;	/* "files", "packs", "blobs" */
	uint64_t bytes, bytes_total;	/* bytes done, total (0: unknown) */
	int final;		/* the last update of a phase: draw it */
};
struct cli_progress {
	const char *cmd, *phase;
	int tty, json, drawn;
	double interval, t0, phase_t0, last_draw, last_json, last_log;
};
/* Installs the SIGUSR1 handler (main, before any command runs: the
 * signal's default would kill the process). */
void cli_progress_signal(void);
void cli_progress_begin(struct cli_progress *g, const struct cli *c,
    const char *cmd);
void cli_progress_update(struct cli_progress *g,
    const struct cli_progress_state *s);
/* Ends the terminal line, if one is drawn. */
void cli_progress_end(struct cli_progress *g);

/* Output formats (JSON output is written with struct kl_json of
 * kluis/json.h). */
/* RFC 3339 UTC time with nanoseconds. */
void fmt_time_utc(char *out, size_t len, int64_t s, uint32_t ns);
/* Local time "YYYY-MM-DD HH:MM:SS". */
void fmt_time_local(char *out, size_t len, int64_t s);
/* A file mode as JSON output writes it: at least four octal digits. */
void fmt_mode(char out[12], uint32_t mode);
/* Parses "1048576", "512K", "1M", "8MiB"; 0 on success. */
int parse_size(const char *s, uint64_t *out);

/* Commands. */
int cmd_init(struct cli *c);
int cmd_key(struct cli *c);
int cmd_snapshots(struct cli *c);
int cmd_cat(struct cli *c);
int cmd_stats(struct cli *c);
int cmd_backup(struct cli *c);
int cmd_restore(struct cli *c);
int cmd_ls(struct cli *c);
int cmd_versions(struct cli *c);
int cmd_find(struct cli *c);
int cmd_diff(struct cli *c);
int cmd_catalog(struct cli *c);
int cmd_check(struct cli *c);		/* cli_check.c */
int cmd_drill(struct cli *c);		/* cli_drill.c */
int cmd_report(struct cli *c);		/* cli_report.c */
int cmd_quarantine(struct cli *c);	/* cli_quarantine.c */
int cmd_forget(struct cli *c);		/* cli_forget.c */
int cmd_prune(struct cli *c);		/* cli_prune.c */
int cmd_rewrite(struct cli *c);		/* cli_rewrite.c */
int cmd_unlock(struct cli *c);		/* cli_prune.c */
/* Adds the patterns of an exclude file to c->excludes: one per line, '#'
 * comments; *keep holds the text they point into (buf_free it after).
 * An exit code. */
int cli_exclude_file_load(struct cli *c, const char *path, struct buf **keep);
/*
 * Prunes r under the exclusive lock (none for --dry-run) and prints what
 * it did; with --json into j as the next value, or null if prune could
 * not run (j NULL: a document of its own on stdout, and a newline).
 * skip[0, nskip): snapshots taken as gone (a dry run of forget --prune).
 * An exit code.
 */
int cli_prune_run(struct cli *c, struct kl_repo *r, struct kl_json *j,
    const struct kl_id *skip, size_t nskip);
/* --max-unused as prune takes it: EXIT_OK or EXIT_USAGE (told). */
int cli_max_unused_check(const struct cli *c);

/*
 * cli_metrics.c: Prometheus textfile-collector metrics for --metrics-file
 * (docs/COMPLIANCE.md "Metrics").  job is "backup", "check" or "drill";
 * m[0..n) are this run's gauges, written as kluis_<job>_<name> with the
 * labels repository and host (--host, else the hostname), plus
 * kluis_<job>_last_success_timestamp_seconds, _last_run_timestamp_seconds
 * and _last_exit_code from the catalog's run history (for backups, of the
 * same host): call it after recording the run.  The file is replaced
 * atomically, mode 0644; nothing is written without c->metrics_file.
 * Names must match [a-zA-Z_][a-zA-Z0-9_]* (abort otherwise).  r NULL:
 * the run never opened its repository; the repository label and the last
 * success are carried over from the file's previous contents, and the
 * last run is this one, with exit_code.
 * Returns EXIT_OK, or prints the error and returns EXIT_FATAL.
 */
struct cli_metric {
	const char *name;	/* e.g. "duration_seconds" */
	const char *help;
	double value;
};
int cli_metrics_write(struct cli *c, struct kl_repo *r, const char *job,
    const struct cli_metric *m, size_t n, int exit_code);
/* The metrics of a run of job that failed with exit_code before its work
 * began - as a rule before its repository was open (cli_metrics_write
 * with r NULL): its duration since start and (backup, drill) its exit
 * code; a failure to write is told, not returned. */
void cli_metrics_unreached(struct cli *c, const char *job, int64_t start,
    int exit_code);

/*
 * A run's details for the catalog's history (catalog.h kl_run_value),
 * added in order; the strings are the caller's until kl_cat_run_add.
 * More than CLI_RUN_VALUES is a broken invariant (aborts).
 */
#define CLI_RUN_VALUES 96
struct cli_run {
	struct kl_run_value v[CLI_RUN_VALUES];
	size_t n;
};
void cli_run_int(struct cli_run *x, const char *key, int64_t v);
void cli_run_real(struct cli_run *x, const char *key, double v);
void cli_run_bool(struct cli_run *x, const char *key, int v);
/* A text; nothing for s NULL. */
void cli_run_text(struct cli_run *x, const char *key, const char *s);
/* A field of the item-th entry (from 1) of the list key. */
void cli_run_entry(struct cli_run *x, const char *key, uint32_t item,
    const char *field, const char *s);

/*
 * cli_restore.c: SNAPSHOT on the command line - an id, a unique prefix,
 * or "latest" (kl_repo_snapshot_pick: the newest snapshot of --host, or
 * of the only host whose snapshots hold paths[0, npaths)); *pick (may be
 * NULL) gets latest's pick.  Prints the error; returns an exit code.
 */
struct kl_snap_pick;
int cli_snapshot(struct cli *c, struct kl_repo *r, const char *spec,
    const char *const *paths, size_t npaths, struct kl_id *id,
    struct kl_snap_pick *pick);

/*
 * cli_runs.c: a run's record (docs/FORMAT.md §17, docs/CATALOG.md "Pending
 * runs").  cli_run_commit gives run a fresh run id, adds it to the
 * catalog's history and uploads its record (with the records still
 * pending) - a failure to upload is a warning, once, never an exit code.
 * cli_runs_sync does the second half alone: it imports the pending-runs
 * journal of this repository address into the history and uploads what
 * is pending (kluis report calls it).  cli_run_unreached records a run of
 * kind that failed before its repository was open in that journal, for
 * the next run that opens it; host NULL: this machine's name.
 */
void cli_run_commit(struct cli *c, struct kl_repo *r, struct kl_cat_run *run);
void cli_runs_sync(struct cli *c, struct kl_repo *r);
void cli_run_unreached(struct cli *c, const char *kind, const char *host,
    int64_t start, int exit_code);

/* cli_catalog.c: brings the catalog up to date (snapshots; with versions,
 * file versions too), printing errors; returns an exit code. */
int cli_catalog_sync(struct cli *c, struct kl_repo *r, int versions);
/* Parses "YYYY-MM-DD[ HH:MM[:SS]]" (also 'T' between) in the local time
 * zone into UTC seconds; a date alone is the last second of that day.
 * 0 on success. */
int parse_local_time(const char *s, int64_t *out);
/* Snapshot paths are absolute; "etc/x" means "/etc/x" (normalised). */
int snap_path(const char *in, char *out);

#endif
