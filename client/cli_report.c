/*
 * kluis report (docs/CLI.md "report", docs/COMPLIANCE.md "Reports"): the
 * catalog brought up to date, the report gathered from it
 * (restore-tools/report.c) and written to stdout or, atomically, to --out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/repo.h"
#include "kluis/report.h"
#include "kluis/units.h"
#include "cli.h"

static int
format_choose(const struct cli *c, enum kl_report_format *fmt)
{
	const char *f = c->format;

	if (f == NULL)
		f = c->json ? "json" : "text";
	if (strcmp(f, "text") == 0)
		*fmt = KL_REPORT_TEXT;
	else if (strcmp(f, "json") == 0)
		*fmt = KL_REPORT_JSON;
	else if (strcmp(f, "html") == 0)
		*fmt = KL_REPORT_HTML;
	else {
		cli_err(c, "--format takes text, json or html");
		return EXIT_USAGE;
	}
	if (c->json && *fmt != KL_REPORT_JSON) {
		cli_err(c, "--json and --format %s contradict each other", f);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/*
 * The times of the report: now is the wall clock unless KLUIS_REPORT_NOW
 * (UTC seconds; a testing and what-if knob, docs/COMPLIANCE.md) says
 * otherwise; the period starts at --since, else 30 days before now.
 */
/* --backup-max-age, --verify-max-age, --drill-max-age: the thresholds
 * (0: the defaults, KL_REPORT_*_MAX_AGE_S). */
static int
max_ages_choose(const struct cli *c, struct kl_report_opts *o)
{
	static const char *const names[3] = { "--backup-max-age",
	    "--verify-max-age", "--drill-max-age" };
	int64_t *slot[3];
	int i;

	slot[0] = &o->backup_max_age;
	slot[1] = &o->verify_max_age;
	slot[2] = &o->drill_max_age;
	for (i = 0; i < 3; i++) {
		if (c->max_age[i] == NULL)
			continue;
		if (kl_duration_parse(c->max_age[i], slot[i]) != KL_OK ||
		    *slot[i] == 0) {
			cli_err(c, "%s takes a duration such as 36h or 7d, not "
			    "'%s'", names[i], c->max_age[i]);
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

static int
times_choose(const struct cli *c, struct kl_report_opts *o)
{
	const char *env = getenv("KLUIS_REPORT_NOW");
	char *end;
	long long v;
	int rc;

	o->generated = o->now = (int64_t)time(NULL);
	if (env != NULL && *env != '\0') {
		errno = 0;
		v = strtoll(env, &end, 10);
		if (errno != 0 || *end != '\0' || v < 0 ||
		    v > KL_REPORT_TIME_MAX) {
			cli_err(c, "KLUIS_REPORT_NOW must be a time in seconds "
			    "since 1970 (UTC), not '%s'", env);
			return EXIT_USAGE;
		}
		o->now = (int64_t)v;
	}
	o->since = o->now - KL_REPORT_PERIOD_S;
	if (c->since != NULL && parse_local_time(c->since, &o->since) != 0) {
		cli_err(c, "bad --since '%s': use \"YYYY-MM-DD[ HH:MM[:SS]]\" "
		    "(local time)", c->since);
		return EXIT_USAGE;
	}
	if ((rc = max_ages_choose(c, o)) != EXIT_OK)
		return rc;
	if (o->since < 0)
		o->since = 0;		/* nothing happened before 1970 */
	if (o->since > o->now) {
		cli_err(c, "--since %s is after the time of the report",
		    c->since);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/*
 * The run history of every client (docs/FORMAT.md §17): this machine's
 * pending records go up first (so its runs and their records are one),
 * then the newest run records come in.  Neither stops the report: an
 * unreadable record is a finding, an unlistable runs/ (a listing error) a
 * warning in the report.
 */
static void
runs_update(struct cli *c, struct kl_repo *r, struct kl_report_opts *o)
{
	struct kl_repo_runs_stats st;
	struct kl_error err;
	int rc;

	cli_runs_sync(c, r);
	kl_error_clear(&err);
	rc = kl_repo_runs_import(r, KL_REPO_RUNS_READ_MAX, &st, &err);
	o->runs_listed = st.listed;
	o->runs_looked = st.looked;
	o->runs_bad = st.bad;
	snprintf(o->runs_bad_name, sizeof(o->runs_bad_name), "%s",
	    st.bad_name);
	if (rc != KL_OK) {
		o->runs_error = 1;
		cli_warn(c, "cannot read the repository's run records (%s): "
		    "the report shows this machine's runs only",
		    kl_error_msg(&err, rc));
	}
	/* each unreadable record is a notice of r (cli_close names them) */
}

/* Brings snapshots and the blob index (the packs whose verification the
 * report covers) up to date. */
static int
catalog_update(struct cli *c, struct kl_repo *r, struct kl_error *err)
{
	int rc;

	if (!kl_repo_is_full(r)) {
		kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "a report needs a full key: this backup-only key cannot "
		    "read the repository's snapshots");
		return cli_fail(c, KL_E_PERM, err, NULL);
	}
	if ((rc = cli_catalog_sync(c, r, 0)) != EXIT_OK)
		return rc;
	if ((rc = kl_repo_index_load(r, err)) != KL_OK)
		return cli_fail(c, rc, err, "cannot load the repository's "
		    "index");
	return EXIT_OK;
}

/* The report file is for others to read (auditors, a web server): 0644
 * whatever the umask, and never half-written. */
static int
output(struct cli *c, const char *data, size_t len)
{
	mode_t old;
	int rc;

	if (c->out == NULL) {
		if (fwrite(data, 1, len, stdout) != len ||
		    fflush(stdout) != 0) {
			cli_err(c, "cannot write the report: %s",
			    strerror(errno));
			return EXIT_FATAL;
		}
		return EXIT_OK;
	}
	old = umask(022);
	rc = kl_file_write_atomic_path(c->out, data, len, 0, 0644);
	umask(old);
	if (rc != KL_OK) {
		cli_err(c, "cannot write the report to %s: %s", c->out,
		    kl_strerror(rc));
		return EXIT_FATAL;
	}
	return EXIT_OK;
}

static int
report_make(struct cli *c, struct kl_repo *r, struct kl_report_opts *o,
    enum kl_report_format fmt)
{
	struct kl_report *rep = NULL;
	struct kl_error err;
	struct kl_cat *cat;
	char host[KL_NAME_MAX + 1];
	char *data = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	o->machine = host;
	o->repo_id = kl_repo_config(r)->repo_id;
	o->damaged = kl_repo_damage_count(r);
	if ((cat = kl_repo_catalog(r)) == NULL) {
		/* cli_open warned why the catalog did not open */
		cli_err(c, "no catalog: not even a temporary one opens");
		return EXIT_FATAL;
	}
	kl_error_clear(&err);
	if ((rc = kl_report_collect(cat, o, &rep, &err)) != KL_OK) {
		cli_err(c, "cannot gather the report from the catalog: %s",
		    rc == KL_E_IO || rc == KL_E_CORRUPT ?
		    kl_error_msg(&err, rc) : kl_strerror(rc));
		return EXIT_FATAL;
	}
	if ((f = open_memstream(&data, &len)) == NULL) {
		kl_report_free(rep);
		cli_err(c, "out of memory");
		return EXIT_FATAL;
	}
	rc = kl_report_write(rep, fmt, f);
	if (fclose(f) != 0 && rc == KL_OK)
		rc = KL_E_NOMEM;
	kl_report_free(rep);
	if (rc != KL_OK) {
		cli_err(c, "cannot write the report: %s", kl_strerror(rc));
		free(data);
		return EXIT_FATAL;
	}
	rc = output(c, data, len);
	free(data);
	return rc;
}

int
cmd_report(struct cli *c)
{
	struct kl_report_opts o;
	enum kl_report_format fmt;
	struct kl_repo *r = NULL;
	struct kl_error err;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)))
		return rc;
	memset(&o, 0, sizeof(o));
	if ((rc = format_choose(c, &fmt)) != EXIT_OK ||
	    (rc = times_choose(c, &o)) != EXIT_OK)
		return rc;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = catalog_update(c, r, &err)) == EXIT_OK) {
		runs_update(c, r, &o);
		rc = report_make(c, r, &o, fmt);
	}
	/* damaged files skipped are in the report (its verdict FAILED);
	 * cli_close names them on stderr too */
	if (cli_close(c, r) && rc == EXIT_OK)
		rc = EXIT_FATAL;
	return rc;
}
