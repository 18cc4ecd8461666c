/*
 * Compliance reports: gathering the model from the catalog and the
 * verdict (docs/COMPLIANCE.md "Reports").  The writers are in
 * report_text.c, report_json.c and report_html.c.
 *
 * Run details are rows of the catalog (kl_run_value) that kluis itself
 * wrote, but the catalog is a file anyone with access to the cache can
 * edit: what a report takes from them is bounded, and every writer
 * escapes it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/report.h"
#include "report_internal.h"

#define REP_TEXT_MAX 4096	/* bytes of a run's error or subject kept */

const int rep_cover_days[REP_COVER_N] = { 7, 31, 90, 0 };

/* ---- formatting shared by the writers ---- */

void
rep_time_local(char *out, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == REP_TIME_NONE || localtime_r(&tt, &tm) == NULL) {
		snprintf(out, len, "-");
		return;
	}
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

void
rep_time_utc(char *out, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, len, "1970-01-01T00:00:00Z");
		return;
	}
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
rep_bytes(char *out, size_t len, uint64_t n)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB",
	    "PiB", "EiB" };
	double v = (double)n;
	size_t i = 0;

	if (n < 1024) {
		snprintf(out, len, "%llu B", (unsigned long long)n);
		return;
	}
	v /= 1024;
	while (v >= 1024 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v,
	    unit[i]);
}

void
rep_age(char *out, size_t len, int64_t s)
{
	const char *sign = s < 0 ? "-" : "";
	uint64_t a = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;

	if (a < 120)
		snprintf(out, len, "%s%llu s", sign, (unsigned long long)a);
	else if (a < 7200)
		snprintf(out, len, "%s%llu min", sign,
		    (unsigned long long)(a / 60));
	else if (a < 2 * 86400)
		snprintf(out, len, "%s%llu h %llu min", sign,
		    (unsigned long long)(a / 3600),
		    (unsigned long long)(a % 3600 / 60));
	else
		snprintf(out, len, "%s%llu d %llu h", sign,
		    (unsigned long long)(a / 86400),
		    (unsigned long long)(a % 86400 / 3600));
}

void
rep_span(char *out, size_t len, int64_t s)
{
	if (s >= 3 * 86400 && s % 86400 == 0)
		snprintf(out, len, "%lld days", (long long)(s / 86400));
	else if (s >= 3600 && s % 3600 == 0)
		snprintf(out, len, "%lld hours", (long long)(s / 3600));
	else
		rep_age(out, len, s);
}

void
rep_secs(char *out, size_t len, double s)
{
	if (s < 10)
		snprintf(out, len, "%.2f s", s < 0 ? 0.0 : s);
	else
		rep_age(out, len, (int64_t)(s + 0.5));
}

double
rep_pct(uint64_t a, uint64_t b)
{
	return b == 0 ? 0.0 : 100.0 * (double)a / (double)b;
}

const char *
rep_cover_label(size_t i)
{
	static const char *const l[REP_COVER_N] = { "last 7 days",
	    "last 31 days", "last 90 days", "ever" };

	return i < REP_COVER_N ? l[i] : "?";
}

const char *
kl_report_verdict_name(enum kl_report_verdict v)
{
	return v == KL_REPORT_OK ? "OK" : v == KL_REPORT_WARNING ?
	    "WARNING" : "FAILED";
}

enum kl_report_verdict
kl_report_verdict(const struct kl_report *rep)
{
	return rep->verdict;
}

/* ---- gathering ---- */

/* Room for element n of the array *p (a T **), at most max in all. */
static int
grow(void *p, size_t *cap, size_t n, size_t size, size_t max)
{
	return n >= max ? KL_E_LIMIT : kl_grow(p, cap, n + 1, size);
}

static int
host_get(struct kl_report *rep, const char *name, struct rep_host **out)
{
	struct rep_host *h;
	size_t i;
	int rc;

	*out = NULL;
	for (i = rep->nhosts; i > 0; i--)
		if (strcmp(rep->hosts[i - 1].name, name) == 0) {
			*out = &rep->hosts[i - 1];
			return KL_OK;
		}
	if ((rc = grow(&rep->hosts, &rep->hcap, rep->nhosts,
	    sizeof(*rep->hosts), KL_REPORT_HOSTS_MAX)) != KL_OK)
		return rc;
	h = &rep->hosts[rep->nhosts];
	memset(h, 0, sizeof(*h));
	if ((h->name = strdup(name)) == NULL)
		return KL_E_NOMEM;
	h->first = h->last = h->retired = REP_TIME_NONE;
	rep->nhosts++;
	*out = h;
	return KL_OK;
}

/*
 * Receive times are the server's unauthenticated claim, and the catalog
 * can be edited: clamped, no time can make an age or a duration overflow.
 */
static int64_t
time_clamp(int64_t t)
{
	return t < 0 ? 0 : t > KL_REPORT_TIME_MAX ? KL_REPORT_TIME_MAX : t;
}

static int
snap_cb(void *arg, const struct kl_cat_snap *s)
{
	struct kl_report *rep = arg;
	struct rep_host *h;
	struct rep_point *pt;
	int64_t t = time_clamp(kl_cat_snap_time(s));
	int rc;

	if (s->vanished) {
		rep->vanished++;
		return 0;
	}
	if (t > rep->o.now)
		return 0;
	if (rep->snapshots >= KL_REPORT_SNAPS_MAX)
		return KL_E_LIMIT;
	if ((rc = host_get(rep, s->host, &h)) != KL_OK)
		return rc;
	rep->snapshots++;
	h->snapshots++;
	if (h->first == REP_TIME_NONE || t < h->first)
		h->first = t;
	if (h->last == REP_TIME_NONE || t >= h->last) {
		h->last = t;
		h->last_id = s->id;
		h->last_bytes = s->bytes;
		h->last_files = s->files;
	}
	if (t < rep->o.since)
		return 0;
	if ((rc = grow(&h->pts, &h->cap, h->npts, sizeof(*h->pts),
	    KL_REPORT_SNAPS_MAX)) != KL_OK)
		return rc;
	pt = &h->pts[h->npts++];
	pt->t = t;
	pt->bytes = s->bytes;
	pt->files = s->files;
	pt->id = s->id;
	return 0;
}

static int
run_state(const struct kl_cat_run *r)
{
	if (r->exit_code == 0)
		return REP_RUN_OK;
	if (strcmp(r->kind, "backup") == 0 && r->exit_code == 3)
		return REP_RUN_PARTIAL;
	return REP_RUN_FAILED;
}

#define REP_NAME_MAX 128		/* bytes of a detail's key or field */

void
rep_values_free(struct kl_run_value *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free((char *)v[i].key);
		free((char *)v[i].field);
		free((char *)v[i].s);
	}
	free(v);
}

int
rep_values_dup(const struct kl_run_value *v, size_t n,
    struct kl_run_value **out, size_t *nout)
{
	struct kl_run_value *c;
	size_t i;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return KL_OK;
	if ((c = calloc(n, sizeof(*c))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n; i++) {
		c[i] = v[i];
		c[i].field = NULL;
		c[i].s = NULL;
		if ((c[i].key = strndup(v[i].key, REP_NAME_MAX)) == NULL ||
		    (v[i].field != NULL && (c[i].field = strndup(v[i].field,
		    REP_NAME_MAX)) == NULL) ||
		    (v[i].s != NULL && (c[i].s = strndup(v[i].s,
		    REP_TEXT_MAX)) == NULL)) {
			rep_values_free(c, i + 1);
			return KL_E_NOMEM;
		}
	}
	*out = c;
	*nout = n;
	return KL_OK;
}

/* A text value of the run, copied (at most REP_TEXT_MAX bytes), or NULL. */
static char *
run_text(const struct kl_cat_run *r, const char *key)
{
	const struct kl_run_value *v = kl_run_value_get(r->v, r->nv, key);

	return v != NULL && v->type == KL_RUN_TEXT ? strndup(v->s,
	    REP_TEXT_MAX) : NULL;
}

/* A number of the run, or -1 if it has none, or one no run can have
 * (negative, not finite, 1e15 or more: an edited catalog). */
static double
run_num(const struct kl_cat_run *r, const char *key)
{
	const struct kl_run_value *v = kl_run_value_get(r->v, r->nv, key);

	if (v == NULL || (v->type != KL_RUN_INT && v->type != KL_RUN_REAL))
		return -1;
	if (v->type == KL_RUN_INT)
		return v->i < 0 || v->i >= (int64_t)1e15 ? -1 : (double)v->i;
	return isfinite(v->r) && v->r >= 0 && v->r < 1e15 ? v->r : -1;
}

/*
 * What the report takes from a run's details; without memory for a text
 * it is left out.  Every value goes to the JSON report (rep_values_dup).
 */
static int
run_detail(struct rep_run *x, const struct kl_cat_run *r)
{
	const struct kl_run_value *a;
	double v;

	x->error = run_text(r, "error");
	x->subject = run_text(r, strcmp(x->kind, "drill") == 0 ?
	    "snapshot_host" : "subset");
	x->rto_s = run_num(r, "rto_s");
	a = kl_run_value_get(r->v, r->nv, "all");
	x->rto_measured = a != NULL && a->type == KL_RUN_BOOL && a->i != 0;
	/* a check's errors also count a check that could not complete;
	 * its details tell findings apart */
	x->findings = x->errors;
	if ((v = run_num(r, "findings")) >= 0 && v < 1e18)
		x->findings = (uint64_t)v;
	return rep_values_dup(r->v, r->nv, &x->v, &x->nv);
}

/* The start and end of run r as the report takes them: clamped, and an
 * imported run's bounded by its receive time (its writer's clock is
 * bounded by the receiving host's), so that a fast clock cannot move a
 * run past the report's end and out of it. */
static void
run_times(const struct kl_cat_run *r, struct rep_run *x)
{
	x->start = time_clamp(r->start_s);
	x->end = time_clamp(r->end_s) < x->start ? x->start :
	    time_clamp(r->end_s);
	x->recv = REP_TIME_NONE;
	if (x->imported && r->recv_s != KL_CAT_TIME_NONE) {
		x->recv = time_clamp(r->recv_s);
		if (x->end > x->recv)
			x->end = x->recv;
		if (x->start > x->end)
			x->start = x->end;
	}
}

static int
run_cb(void *arg, const struct kl_cat_run *r)
{
	struct kl_report *rep = arg;
	struct rep_run *x, t;
	int rc;

	memset(&t, 0, sizeof(t));
	t.imported = r->origin == KL_CAT_RUN_IMPORTED;
	run_times(r, &t);
	if (t.start > rep->o.now || (t.recv != REP_TIME_NONE &&
	    t.recv > rep->o.now))
		return 0;
	if ((rc = grow(&rep->runs, &rep->rcap, rep->nruns,
	    sizeof(*rep->runs), KL_REPORT_RUNS_MAX)) != KL_OK)
		return rc;
	x = &rep->runs[rep->nruns];
	*x = t;
	x->kind = strdup(r->kind);
	x->host = strdup(r->host);
	rep->nruns++;
	if (x->kind == NULL || x->host == NULL)
		return KL_E_NOMEM;
	x->exit_code = r->exit_code;
	x->state = run_state(r);
	x->snapshot = r->snapshot;
	x->files = r->files;
	x->bytes = r->bytes;
	x->bytes_added = r->bytes_added;
	x->errors = r->errors;
	x->in_period = x->start >= rep->o.since;
	return run_detail(x, r);
}

/* a + b, at most UINT64_MAX: counts of records are anyone's claim */
static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int
runs_apply(struct kl_report *rep)
{
	struct rep_host *h;
	struct rep_run *x;
	size_t i;
	int rc;

	for (i = 0; i < rep->nruns; i++) {
		x = &rep->runs[i];
		/* the verdict on checks and drills goes by this machine's
		 * runs: an imported record (anyone's claim) could otherwise
		 * hide a failed check behind a later "ok" */
		if (strcmp(x->kind, "check") == 0 && !x->imported) {
			rep->last_check = x;
			rep->checks += x->in_period;
		} else if (strcmp(x->kind, "drill") == 0 && !x->imported) {
			rep->last_drill = x;
			rep->drills += x->in_period;
		}
		if (strcmp(x->kind, "backup") != 0 || !x->in_period)
			continue;
		if ((rc = host_get(rep, x->host, &h)) != KL_OK)
			return rc;
		h->runs++;
		h->local_runs += !x->imported;
		if (x->state != REP_RUN_FAILED)
			h->bytes_added = sat_add(h->bytes_added,
			    x->bytes_added);
		if (x->state == REP_RUN_OK)
			h->ok++;
		else if (x->state == REP_RUN_PARTIAL)
			h->partial++;
		else {
			h->failed++;
			h->last_failure = x;
		}
	}
	return KL_OK;
}

/* A host retired by forget: in the report, but no backup is due. */
static int
retired_cb(void *arg, const char *host, int64_t since_s)
{
	struct kl_report *rep = arg;
	struct rep_host *h;
	int rc;

	if ((rc = host_get(rep, host, &h)) != KL_OK)
		return rc;
	if (h->snapshots == 0)
		h->retired = time_clamp(since_s);
	return 0;
}

static int
pack_cb(void *arg, const struct kl_id *pack, int64_t checked, int ok)
{
	struct kl_report *rep = arg;
	size_t i;

	(void)pack;
	rep->packs++;
	if (checked != KL_CAT_TIME_NONE)
		checked = time_clamp(checked);
	if (checked == KL_CAT_TIME_NONE || checked > rep->o.now) {
		rep->never++;
		return 0;
	}
	rep->verified++;
	rep->bad += !ok;
	if (rep->oldest_verified == REP_TIME_NONE ||
	    checked < rep->oldest_verified)
		rep->oldest_verified = checked;
	if (rep->newest_verified == REP_TIME_NONE ||
	    checked > rep->newest_verified)
		rep->newest_verified = checked;
	for (i = 0; i < REP_COVER_N; i++)
		if (rep_cover_days[i] == 0 ||
		    checked >= rep->o.now - (int64_t)rep_cover_days[i] * 86400)
			rep->within[i]++;
	return 0;
}

static int
host_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rep_host *)a)->name,
	    ((const struct rep_host *)b)->name);
}

static int
point_cmp(const void *a, const void *b)
{
	const struct rep_point *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

/* ---- the verdict (docs/COMPLIANCE.md "Verdict") ---- */

static void
reason_add(struct kl_report *rep, enum kl_report_verdict level,
    const char *code, const char *host, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * A reason that cannot be stored (no memory) still raises the verdict:
 * the verdict must never be better than the facts.
 */
static void
reason_add(struct kl_report *rep, enum kl_report_verdict level,
    const char *code, const char *host, const char *fmt, ...)
{
	struct rep_reason *x;
	va_list ap;
	char *msg = NULL;
	int n;

	if (level > rep->verdict)
		rep->verdict = level;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(&rep->reasons, &rep->ncap, rep->nreasons,
	    sizeof(*rep->reasons), SIZE_MAX / sizeof(*rep->reasons)) !=
	    KL_OK) {
		if (n >= 0)
			free(msg);
		return;
	}
	x = &rep->reasons[rep->nreasons];
	memset(x, 0, sizeof(*x));
	x->level = level;
	snprintf(x->code, sizeof(x->code), "%s", code);
	x->msg = msg;
	if (host != NULL && (x->host = strdup(host)) == NULL) {
		free(msg);
		return;
	}
	rep->nreasons++;
}

static void
verdict_host(struct kl_report *rep, const struct rep_host *h)
{
	const struct rep_run *f = h->last_failure;
	char when[32], age[32], lim[32];

	if (h->retired != REP_TIME_NONE)
		;	/* retired: no backup is due */
	else if (h->snapshots == 0 && h->local_runs == 0)
		/* named only by run records, which any backup-only key
		 * writes: not a host of the repository until it has a
		 * snapshot or this machine ran for it */
		reason_add(rep, KL_REPORT_WARNING, "host_only_in_records",
		    h->name, "host %s is known only from run records and has "
		    "no backup in the repository (a host that never backed "
		    "up, one whose snapshots are damaged, or a record forged "
		    "with a backup-only key)", h->name);
	else if (h->snapshots == 0)
		reason_add(rep, KL_REPORT_FAILED, "no_backup", h->name,
		    "host %s has no successful backup in the repository",
		    h->name);
	else if (rep->o.now - h->last > rep->o.backup_max_age) {
		rep_time_local(when, sizeof(when), h->last);
		rep_age(age, sizeof(age), rep->o.now - h->last);
		rep_span(lim, sizeof(lim), rep->o.backup_max_age);
		reason_add(rep, KL_REPORT_FAILED, "backup_overdue", h->name,
		    "the last successful backup of host %s is %s old "
		    "(%s; limit %s)", h->name, age, when, lim);
	}
	if (f != NULL) {
		rep_time_local(when, sizeof(when), f->start);
		reason_add(rep, KL_REPORT_WARNING, "backup_runs_failed",
		    h->name, "%llu backup run%s of host %s failed in the "
		    "period (last at %s, exit code %d%s%s)",
		    (unsigned long long)h->failed, h->failed == 1 ? "" : "s",
		    h->name, when, f->exit_code, f->error ? ": " : "",
		    f->error ? f->error : "");
	}
	if (h->partial > 0)
		reason_add(rep, KL_REPORT_WARNING, "backup_runs_partial",
		    h->name, "%llu backup run%s of host %s could not read "
		    "some sources (exit code 3)",
		    (unsigned long long)h->partial, h->partial == 1 ? "" : "s",
		    h->name);
}

static void
verdict_check(struct kl_report *rep)
{
	const struct rep_run *c = rep->last_check;
	int64_t lim = rep->o.now - rep->o.verify_max_age;
	int days = (int)(rep->o.verify_max_age / 86400);
	char when[32];

	if (c != NULL) {
		rep_time_local(when, sizeof(when), c->start);
		if (c->findings > 0)
			reason_add(rep, KL_REPORT_FAILED, "check_findings",
			    NULL, "the last check (%s) found %llu problem%s",
			    when, (unsigned long long)c->findings,
			    c->findings == 1 ? "" : "s");
		else if (c->exit_code != 0)
			reason_add(rep, KL_REPORT_WARNING, "check_incomplete",
			    NULL, "the last check (%s) did not complete "
			    "(exit code %d)", when, c->exit_code);
	}
	if (rep->bad > 0)
		reason_add(rep, KL_REPORT_FAILED, "packs_failed_verification",
		    NULL, "%llu pack file%s failed %s last data verification",
		    (unsigned long long)rep->bad, rep->bad == 1 ? "" : "s",
		    rep->bad == 1 ? "its" : "their");
	if (rep->packs == 0)
		return;
	if (rep->verified == 0)
		reason_add(rep, KL_REPORT_WARNING, "verification_overdue",
		    NULL, "no data of the repository has been verified "
		    "(run kluis check --read-data)");
	else if (rep->newest_verified < lim)
		reason_add(rep, KL_REPORT_WARNING, "verification_overdue",
		    NULL, "no data verification in the last %d days", days);
	else if (rep->oldest_verified < lim)
		reason_add(rep, KL_REPORT_WARNING, "verification_overdue",
		    NULL, "%llu of %llu pack files were last verified more "
		    "than %d days ago",
		    (unsigned long long)(rep->verified - rep->within[1]),
		    (unsigned long long)rep->packs, days);
}

static void
verdict_drill(struct kl_report *rep)
{
	const struct rep_run *d = rep->last_drill;
	int days = (int)(rep->o.drill_max_age / 86400);
	char when[32];

	if (d == NULL) {
		reason_add(rep, KL_REPORT_WARNING, "drill_overdue", NULL,
		    "no restore drill has run from this machine");
		return;
	}
	rep_time_local(when, sizeof(when), d->start);
	if (d->exit_code != 0)
		reason_add(rep, KL_REPORT_FAILED, "drill_failed", NULL,
		    "the last restore drill (%s) failed (exit code %d)", when,
		    d->exit_code);
	if (d->start < rep->o.now - rep->o.drill_max_age)
		reason_add(rep, KL_REPORT_WARNING, "drill_overdue", NULL,
		    "no restore drill in the last %d days (last: %s)", days,
		    when);
}

/* Run records that could not be read (FORMAT.md §17): runs may be
 * missing from the history. */
static void
verdict_records(struct kl_report *rep)
{
	if (rep->o.runs_error)
		reason_add(rep, KL_REPORT_WARNING, "run_records_unavailable",
		    NULL, "the repository's run records could not be listed: "
		    "the history shows this machine's runs only");
	if (rep->o.runs_bad > 0)
		reason_add(rep, KL_REPORT_WARNING, "run_records_unreadable",
		    NULL, "%llu run record%s in the repository could not be "
		    "read, decrypted or decoded (damaged, or not written with "
		    "this repository's keys; the newest: %s): their runs are "
		    "missing from the history",
		    (unsigned long long)rep->o.runs_bad,
		    rep->o.runs_bad == 1 ? "" : "s",
		    rep->o.runs_bad_name[0] != '\0' ? rep->o.runs_bad_name :
		    "not named");
	if (rep->o.runs_listed > rep->o.runs_looked)
		reason_add(rep, KL_REPORT_WARNING, "run_records_unread", NULL,
		    "%llu of the repository's %llu run records are not read "
		    "yet (a report reads a bounded number of new ones, the "
		    "newest first; the next reports read the rest)",
		    (unsigned long long)(rep->o.runs_listed -
		    rep->o.runs_looked),
		    (unsigned long long)rep->o.runs_listed);
}

static void
verdict(struct kl_report *rep)
{
	size_t i;

	rep->verdict = KL_REPORT_OK;
	if (rep->o.damaged > 0)
		reason_add(rep, KL_REPORT_FAILED, "repository_damaged", NULL,
		    "%llu repository file%s could not be read while this "
		    "report was made (damaged or missing snapshot or index "
		    "files): run kluis check",
		    (unsigned long long)rep->o.damaged,
		    rep->o.damaged == 1 ? "" : "s");
	if (rep->nhosts == 0)
		reason_add(rep, KL_REPORT_WARNING, "no_snapshots", NULL,
		    "the repository holds no snapshot");
	for (i = 0; i < rep->nhosts; i++)
		verdict_host(rep, &rep->hosts[i]);
	verdict_check(rep);
	verdict_drill(rep);
	verdict_records(rep);
	if (rep->vanished > 0)
		reason_add(rep, KL_REPORT_WARNING, "snapshots_vanished", NULL,
		    "%llu snapshot%s known to this machine's catalog %s gone "
		    "from the repository (removed outside kluis, or the "
		    "server went back in time: run kluis check)",
		    (unsigned long long)rep->vanished,
		    rep->vanished == 1 ? "" : "s",
		    rep->vanished == 1 ? "is" : "are");
}

int
kl_report_collect(struct kl_cat *c, const struct kl_report_opts *o,
    struct kl_report **out, struct kl_error *err)
{
	struct kl_report *rep = NULL;
	size_t i;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (c == NULL || o == NULL || out == NULL || o->since < 0 ||
	    o->since > o->now || o->now > KL_REPORT_TIME_MAX ||
	    o->generated < 0 || o->generated > KL_REPORT_TIME_MAX)
		return KL_E_INVAL;
	if ((rep = calloc(1, sizeof(*rep))) == NULL)
		return KL_E_NOMEM;
	rep->o = *o;
	rep->o.machine = NULL;
	if (rep->o.backup_max_age <= 0)
		rep->o.backup_max_age = KL_REPORT_BACKUP_MAX_AGE_S;
	if (rep->o.verify_max_age <= 0)
		rep->o.verify_max_age = KL_REPORT_VERIFY_MAX_AGE_S;
	if (rep->o.drill_max_age <= 0)
		rep->o.drill_max_age = KL_REPORT_DRILL_MAX_AGE_S;
	rep->oldest_verified = rep->newest_verified = REP_TIME_NONE;
	if ((rep->machine = strdup(o->machine ? o->machine : "")) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	if ((rc = kl_cat_snap_foreach(c, NULL, 1, snap_cb, rep, err)) !=
	    KL_OK ||
	    (rc = kl_cat_run_foreach_recent(c, rep->o.since, run_cb, rep,
	    err)) != KL_OK || (rc = runs_apply(rep)) != KL_OK ||
	    (rc = kl_cat_retired_foreach(c, retired_cb, rep, err)) != KL_OK ||
	    (rc = kl_cat_pack_check_foreach(c, pack_cb, rep, err)) != KL_OK)
		goto out;
	/* qsort must not see the NULL of an empty array */
	if (rep->nhosts > 1)
		qsort(rep->hosts, rep->nhosts, sizeof(*rep->hosts), host_cmp);
	for (i = 0; i < rep->nhosts; i++)
		if (rep->hosts[i].npts > 1)
			qsort(rep->hosts[i].pts, rep->hosts[i].npts,
			    sizeof(*rep->hosts[i].pts), point_cmp);
	verdict(rep);
	*out = rep;
	rep = NULL;
out:
	kl_report_free(rep);
	return rc;
}

void
kl_report_free(struct kl_report *rep)
{
	size_t i;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->nhosts; i++) {
		free(rep->hosts[i].name);
		free(rep->hosts[i].pts);
	}
	for (i = 0; i < rep->nruns; i++) {
		free(rep->runs[i].kind);
		free(rep->runs[i].host);
		rep_values_free(rep->runs[i].v, rep->runs[i].nv);
		free(rep->runs[i].error);
		free(rep->runs[i].subject);
	}
	for (i = 0; i < rep->nreasons; i++) {
		free(rep->reasons[i].host);
		free(rep->reasons[i].msg);
	}
	free(rep->hosts);
	free(rep->runs);
	free(rep->reasons);
	free(rep->machine);
	free(rep);
}

int
kl_report_write(const struct kl_report *rep, enum kl_report_format fmt,
    FILE *f)
{
	int rc;

	if (rep == NULL || f == NULL)
		return KL_E_INVAL;
	switch (fmt) {
	case KL_REPORT_TEXT:
		rc = rep_write_text(rep, f);
		break;
	case KL_REPORT_JSON:
		rc = rep_write_json(rep, f);
		break;
	case KL_REPORT_HTML:
		rc = rep_write_html(rep, f);
		break;
	default:
		return KL_E_INVAL;
	}
	if (rc == KL_OK && (fflush(f) != 0 || ferror(f)))
		rc = KL_E_IO;
	return rc;
}
