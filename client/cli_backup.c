/* kluis backup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kluis/backup.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "kluis/units.h"
#include "cli.h"

#define EXCLUDE_FILE_MAX ((size_t)1 << 20)

int
cli_exclude_file_load(struct cli *c, const char *path, struct buf **keep)
{
	struct buf *b = NULL;
	char *p, *line, *save = NULL;
	int rc;

	if ((rc = kl_file_read_all(path, EXCLUDE_FILE_MAX, &b)) != KL_OK ||
	    (rc = buf_put_u8(b, 0)) != KL_OK) {
		cli_err(c, "cannot read exclude file %s: %s", path,
		    kl_strerror(rc));
		buf_free(b);
		return EXIT_FATAL;
	}
	p = (char *)(uintptr_t)buf_data(b);
	for (line = strtok_r(p, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (c->excludes.n == CLI_LIST_MAX) {
			cli_err(c, "too many exclude patterns (max %d)",
			    CLI_LIST_MAX);
			buf_free(b);
			return EXIT_USAGE;
		}
		c->excludes.v[c->excludes.n++] = line;
	}
	*keep = b;	/* the patterns point into it */
	return EXIT_OK;
}

static void
backup_progress(void *arg, const struct kl_backup_progress *p)
{
	struct cli_progress_state s = { NULL, p->files, 0, "files",
	    p->bytes_read, 0, 0 };

	cli_progress_update(arg, &s);
}

/* PATH... on the command line, else the profile's path settings. */
static int
backup_paths(struct cli *c)
{
	if (c->nargs == 0 && c->paths.n > 0) {
		c->args = (char **)c->paths.v;
		c->nargs = (int)c->paths.n;
	}
	if (c->nargs > 0)
		return EXIT_OK;
	cli_err(c, "backup: no PATH given, and no path setting in a profile "
	    "(see kluis backup --help)");
	return EXIT_USAGE;
}

/* --delta-min-size SIZE|off and --delta-max-depth N. */
static int
delta_choose(const struct cli *c, struct kl_backup_opts *o)
{
	char *end;
	unsigned long v;

	o->delta_min_size = CLI_DELTA_MIN_SIZE_DEFAULT;
	o->delta_max_depth = CLI_DELTA_DEPTH_DEFAULT;
	if (c->delta_min_size != NULL &&
	    (strcmp(c->delta_min_size, "off") == 0 ||
	    strcmp(c->delta_min_size, "0") == 0))
		o->delta_min_size = 0;
	else if (c->delta_min_size != NULL &&
	    kl_size_parse(c->delta_min_size, &o->delta_min_size) != KL_OK) {
		cli_err(c, "--delta-min-size takes a size (64M, 1G) or off");
		return EXIT_USAGE;
	}
	if (c->delta_max_depth == NULL)
		return EXIT_OK;
	v = strtoul(c->delta_max_depth, &end, 10);
	if (*c->delta_max_depth < '0' || *c->delta_max_depth > '9' ||
	    *end != '\0' || v < 1 || v > KL_DELTA_GEN_MAX) {
		cli_err(c, "--delta-max-depth takes a number from 1 to %d",
		    KL_DELTA_GEN_MAX);
		return EXIT_USAGE;
	}
	o->delta_max_depth = (unsigned)v;
	return EXIT_OK;
}

static int
compression_choose(const struct cli *c, int *level)
{
	char *end;
	long v;

	*level = 3;
	if (c->compression == NULL)
		return EXIT_OK;
	if (strcmp(c->compression, "off") == 0) {
		*level = 0;
		return EXIT_OK;
	}
	v = strtol(c->compression, &end, 10);
	if (*end != '\0' || v < 1 || v > 19) {
		cli_err(c, "--compression takes a level 1..19 or off");
		return EXIT_USAGE;
	}
	*level = (int)v;
	return EXIT_OK;
}

static void
report_json(const struct kl_backup_stats *st, size_t damaged)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_id(&j, "snapshot_id", &st->snapshot);
	kl_json_u64(&j, "files_new", st->files_new);
	kl_json_u64(&j, "files_changed", st->files_changed);
	kl_json_u64(&j, "files_unmodified", st->files_unmodified);
	kl_json_u64(&j, "dirs", st->dirs);
	kl_json_u64(&j, "bytes_read", st->bytes_read);
	kl_json_u64(&j, "bytes_added", st->bytes_added);
	kl_json_u64(&j, "delta_chunks", st->delta_chunks);
	kl_json_u64(&j, "delta_bytes_added", st->delta_bytes);
	kl_json_real(&j, "duration_s", st->duration_s, 3);
	kl_json_u64(&j, "warnings", st->warnings);
	kl_json_u64(&j, "repository_damage", damaged);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
report(const struct cli *c, const struct kl_backup_stats *st,
    size_t damaged)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(&st->snapshot, hex);
	if (st->tmp_removed > 0 && !c->quiet)
		fprintf(stderr, "%s: removed %llu temporary file(s), %llu "
		    "bytes, that interrupted uploads had left in the "
		    "repository\n", c->prog,
		    (unsigned long long)st->tmp_removed,
		    (unsigned long long)st->tmp_removed_bytes);
	if (c->json) {
		report_json(st, damaged);
		return;
	}
	if (c->verbose) {
		char ph[KL_ID_HEX_LEN + 1] = "none";

		if (!kl_id_is_zero(&st->parent))
			kl_id_hex(&st->parent, ph);
		printf("packs adopted from an interrupted backup: %llu "
		    "(%llu bytes)\n", (unsigned long long)st->packs_adopted,
		    (unsigned long long)st->bytes_adopted);
		printf("parent snapshot: %s\nnew blobs: %llu; other entries: "
		    "%llu; bytes in snapshot: %llu\n", ph,
		    (unsigned long long)st->blobs_added,
		    (unsigned long long)st->others,
		    (unsigned long long)st->bytes_total);
		printf("chunks stored as deltas: %llu (%llu bytes)\n",
		    (unsigned long long)st->delta_chunks,
		    (unsigned long long)st->delta_bytes);
	}
	if (!c->quiet)
		printf("files: %llu new, %llu changed, %llu unmodified; "
		    "%llu dirs\nread %llu bytes, added %llu bytes to the "
		    "repository in %.1f s\n",
		    (unsigned long long)st->files_new,
		    (unsigned long long)st->files_changed,
		    (unsigned long long)st->files_unmodified,
		    (unsigned long long)st->dirs,
		    (unsigned long long)st->bytes_read,
		    (unsigned long long)st->bytes_added, st->duration_s);
	printf("%s\n", hex);
}

static int
failed(struct cli *c, int rc, const struct kl_error *err)
{
	/* the detail of a full disk, if the callee had more to say */
	const char *d = cli_said(err, rc) ? err->msg : "";

	if (rc == KL_E_NOSPACE) {
		cli_err(c, "the repository has no room left (its disk is full "
		    "or its quota reached)%s%s: no snapshot was written and the "
		    "repository is unchanged apart from unreferenced data; free "
		    "space and run the backup again", *d ? " - " : "", d);
		return cli_exit_code(rc, err, CLI_AT_REPO);
	}
	if (rc == KL_E_LOCKED)	/* the lock's owner says it all */
		return cli_fail(c, rc, err, NULL);
	return cli_fail(c, rc, err, "backup failed, no snapshot written");
}

/* The run's details for the catalog (restore-tools/report.c reads
 * them). */
static void
run_detail(struct cli_run *x, const struct kl_backup_stats *st,
    const char *err)
{
	cli_run_real(x, "duration_s", st->duration_s);
	cli_run_int(x, "files_new", (int64_t)st->files_new);
	cli_run_int(x, "files_changed", (int64_t)st->files_changed);
	cli_run_int(x, "bytes_read", (int64_t)st->bytes_read);
	if (err != NULL && *err)
		cli_run_text(x, "error", err);
}

/*
 * The run goes into the catalog's history (catalog.h "runs") and as a run
 * record into the repository (cli_run_commit), failed or not: reports
 * show failed runs next to successful ones.
 */
static void
run_record(struct cli *c, struct kl_repo *r, const struct kl_backup_opts *o,
    const struct kl_backup_stats *st, int64_t start, int exit_code,
    const char *err)
{
	struct kl_cat_run run;
	struct cli_run x;
	char host[KL_NAME_MAX + 1];

	memset(&run, 0, sizeof(run));
	x.n = 0;
	snprintf(host, sizeof(host), "%s", o->host ? o->host : "");
	if (o->host == NULL && gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	run.kind = "backup";
	run.host = host;
	run.start_s = start;
	run.end_s = (int64_t)time(NULL);
	run.exit_code = exit_code;
	run.snapshot = st->snapshot;
	run.files = st->files_new + st->files_changed + st->files_unmodified;
	run.bytes = st->bytes_total;
	run.bytes_added = st->bytes_added;
	run.errors = st->warnings + (exit_code != EXIT_OK &&
	    exit_code != EXIT_PARTIAL);
	run_detail(&x, st, err);
	run.v = x.v;
	run.nv = x.n;
	cli_run_commit(c, r, &run);
}

/* --metrics-file (docs/COMPLIANCE.md "Metrics"); after run_record, so
 * that the history's last run is this one. */
static int
metrics(struct cli *c, struct kl_repo *r, const struct kl_backup_stats *st,
    int64_t start, int exit_code)
{
	/* a failed run's counts are of a snapshot that does not exist */
	int wrote = exit_code == EXIT_OK || exit_code == EXIT_PARTIAL;
	struct cli_metric m[] = {
		{ "duration_seconds", "Duration of the last backup run.",
		    st->duration_s > 0 ? st->duration_s :
		    (double)((int64_t)time(NULL) - start) },
		{ "bytes", "Bytes of the files in the snapshot written (0: "
		    "none was written).", wrote ? (double)st->bytes_total : 0 },
		{ "bytes_added", "Bytes the last backup added to the "
		    "repository.", (double)st->bytes_added },
		{ "files", "Files in the snapshot written (0: none was "
		    "written).", wrote ? (double)(st->files_new +
		    st->files_changed + st->files_unmodified) : 0 },
		{ "errors", "Source problems (unreadable files) of the last "
		    "backup.", (double)st->warnings },
		{ "exit_code", "Exit code of this backup run.",
		    (double)exit_code },
	};

	return cli_metrics_write(c, r, "backup", m, sizeof(m) / sizeof(m[0]),
	    exit_code);
}

int
cmd_backup(struct cli *c)
{
	struct kl_backup_opts o;
	struct kl_backup_stats st;
	struct cli_progress prog;
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct buf *keep[CLI_LIST_MAX];
	char why[512] = "";
	size_t i, nkeep = 0;
	int64_t start = (int64_t)time(NULL);
	int rc;

	kl_error_clear(&err);
	memset(&o, 0, sizeof(o));
	if ((rc = backup_paths(c)) != EXIT_OK ||
	    (rc = compression_choose(c, &o.compression)) != EXIT_OK ||
	    (rc = delta_choose(c, &o)) != EXIT_OK)
		goto out;
	for (i = 0; i < c->exclude_files.n && rc == EXIT_OK; i++)
		if ((rc = cli_exclude_file_load(c, c->exclude_files.v[i],
		    &keep[nkeep])) == EXIT_OK)
			nkeep++;
	if (rc != EXIT_OK || (rc = cli_open(c, &r)) != EXIT_OK)
		goto out;
	o.paths = (const char *const *)c->args;
	o.npaths = (size_t)c->nargs;
	o.tags = c->tags.v;
	o.ntags = c->tags.n;
	o.host = c->host;
	o.excludes = c->excludes.v;
	o.nexcludes = c->excludes.n;
	o.one_file_system = c->one_file_system;
	o.with_atime = c->with_atime;
	o.threads = c->threads;
	o.warn = cli_warn_path;
	o.warn_arg = c;
	cli_progress_begin(&prog, c, "backup");
	o.progress = backup_progress;
	o.progress_arg = &prog;
	rc = kl_backup_run(r, &o, &st, &err);
	cli_progress_end(&prog);
	if (rc != KL_OK)
		snprintf(why, sizeof(why), "%s", kl_error_msg(&err, rc));
	if ((rc == KL_E_NOTFOUND || rc == KL_E_LIMIT) && !cli_said(&err, rc)) {
		/* a backup path: the warning named it */
		cli_err(c, "nothing was backed up (see the path named above)");
		rc = cli_exit_code(rc, &err, CLI_AT_REPO);
	} else if (rc != KL_OK)
		rc = failed(c, rc, &err);
	else {
		report(c, &st, kl_repo_damage_count(r));
		rc = st.warnings > 0 ? EXIT_PARTIAL : EXIT_OK;
		if (rc == EXIT_PARTIAL)
			cli_warn(c, "%llu source problem%s (listed above); the "
			    "snapshot holds everything else",
			    (unsigned long long)st.warnings,
			    st.warnings == 1 ? "" : "s");
	}
	run_record(c, r, &o, &st, start, rc, why);
	if (c->metrics_file != NULL && metrics(c, r, &st, start, rc) !=
	    EXIT_OK && rc == EXIT_OK)
		rc = EXIT_FATAL;
out:
	if (r == NULL) {	/* it failed before the repository was open */
		cli_run_unreached(c, "backup", c->host, start, rc);
		cli_metrics_unreached(c, "backup", start, rc);
	}
	cli_close(c, r);
	for (i = 0; i < nkeep; i++)
		buf_free(keep[i]);
	return rc;
}
