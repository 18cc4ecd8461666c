/*
 * kluis-server status (issue #15, docs/RUNBOOK.md §9.10): what a
 * monitoring system needs to know of every repository on this server,
 * without a key and without reading a data file.  It stats the
 * repository's files (receive times and sizes), reads the audit log
 * (chain, last purge, last verify), DIR/state/quota and the replication
 * state files, and reports as text, JSON or Prometheus textfile metrics.
 *
 * The point is the alert "web01 sent nothing last night" whatever went
 * wrong on web01, so the metrics file is written whatever this finds.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kluis/audit.h"
#include "kluis/backend.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/grow.h"
#include "kluis/json.h"
#include "kluis/store.h"
#include "kluis/text.h"
#include "kluis/units.h"

#include "repl_state.h"
#include "server_cmds.h"

#define STATUS_DAY_S		((int64_t)86400)
/* --overdue by default: a nightly backup and slack */
#define STATUS_OVERDUE_S	((int64_t)26 * 3600)
#define STATUS_PROBLEM_MAX	(KL_REPL_URL_MAX + KL_REPL_MSG_MAX + 128)
#define METRICS_MODE		0644u
#define NO_TIME			INT64_MAX	/* oldest: none yet */

/* One replication target, from DIR/replication/. */
struct target {
	struct kl_repl_state st;
	int parse_err;		/* the state file does not parse */
	/* the oldest receive time at or after synced_s, locks aside */
	int64_t oldest;
	int64_t lag_s;
	int failing;
};

enum audit_state { A_INTACT, A_BROKEN, A_MISSING, A_UNREADABLE };

struct repo {
	char *name;		/* the directory's name: the metrics label */
	char *path;
	int err;		/* the first error reading the repository */
	const char *err_what;	/* what was being read */
	uint64_t snapshots, size, recv_24h, trash_files, trash_bytes;
	int64_t last_snap_s;	/* 0: no snapshot */
	int64_t trash_late_s;	/* how long the oldest due entry waits */
	uint64_t quota;		/* 0: none recorded */
	int64_t quota_since_s;
	int64_t purge_s;	/* last purge record, 0: none */
	int64_t verify_s;	/* last verify record, 0: none */
	int verify_outcome;
	uint64_t verify_bytes;
	enum audit_state audit;
	int audit_err;
	struct kl_audit_report arep;
	struct target *t;
	size_t nt, tcap;
	int overdue;
};

struct status {
	int64_t now, overdue_s;
	struct repo *r;
	size_t n, cap;
};

/* What a listing of one file type feeds. */
struct walk {
	struct status *st;
	struct repo *r;
	enum kl_ftype t;
};

/* --- formatting --- */


/* "3d 4h", "5h 12min", "7min", "42s": what an operator reads at 3 a.m. */
static void
span(char out[32], int64_t s)
{
	if (s < 0)
		s = 0;
	if (s >= STATUS_DAY_S)
		snprintf(out, 32, "%" PRId64 "d %" PRId64 "h",
		    s / STATUS_DAY_S, s % STATUS_DAY_S / 3600);
	else if (s >= 3600)
		snprintf(out, 32, "%" PRId64 "h %" PRId64 "min", s / 3600,
		    s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, 32, "%" PRId64 "min", s / 60);
	else
		snprintf(out, 32, "%" PRId64 "s", s);
}

/* "10.0 GiB" */
static void
bytes_text(char out[32], uint64_t b)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB",
	    "PiB" };
	double v = (double)b;
	size_t i = 0;

	while (v >= 1024 && i < sizeof(u) / sizeof(u[0]) - 1) {
		v /= 1024;
		i++;
	}
	snprintf(out, 32, i == 0 ? "%.0f %s" : "%.1f %s", v, u[i]);
}

/* --- examining one repository --- */

static void
repo_fail(struct repo *r, const char *what, int err)
{
	if (r->err != KL_OK)
		return;
	r->err = err;
	r->err_what = what;
}

static int
on_target(void *arg, const struct kl_repl_state *st, int parse_err)
{
	struct repo *r = arg;
	struct target *t;
	int e;

	if ((e = KL_GROW(r->t, r->tcap, r->nt + 1)) != KL_OK)
		return e;
	t = &r->t[r->nt++];
	memset(t, 0, sizeof(*t));
	t->st = *st;
	t->parse_err = parse_err;
	t->oldest = NO_TIME;
	return KL_OK;
}

static int
on_file(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct walk *w = arg;
	struct repo *r = w->r;
	size_t i;

	(void)name;
	if (w->t == KL_FT_SNAPSHOT) {
		r->snapshots++;
		if (mtime_s > r->last_snap_s)
			r->last_snap_s = mtime_s;
	}
	if (mtime_s > w->st->now - STATUS_DAY_S)
		r->recv_24h += size;
	if (w->t == KL_FT_LOCK)	/* no history: never replicated */
		return KL_OK;
	for (i = 0; i < r->nt; i++)
		if (mtime_s >= r->t[i].st.synced_s && mtime_s < r->t[i].oldest)
			r->t[i].oldest = mtime_s;
	return KL_OK;
}

static int
on_trash(void *arg, const struct kl_trash_entry *e, int outcome)
{
	struct walk *w = arg;
	struct repo *r = w->r;

	(void)outcome;
	r->trash_files++;
	r->trash_bytes += e->size;
	if (e->purge_s <= w->st->now && w->st->now - e->purge_s >
	    r->trash_late_s)
		r->trash_late_s = w->st->now - e->purge_s;
	return KL_OK;
}

/* The audit log in order: the last purge that deleted a file and the
 * last verify record win (a purge record that failed deleted nothing). */
static int
on_record(void *arg, const struct kl_audit_entry *e)
{
	struct repo *r = arg;

	if (strcmp(e->op, "purge") == 0 && e->outcome == KL_OK) {
		r->purge_s = e->time_s;
	} else if (strcmp(e->op, "verify") == 0) {
		r->verify_s = e->time_s;
		r->verify_outcome = e->outcome;
		r->verify_bytes = e->size;
	}
	return KL_OK;
}

/* Every file's size and receive time: stat only, no data read. */
static void
repo_files(struct status *st, struct repo *r, struct kl_store *s)
{
	struct kl_backend be;
	struct walk w = { st, r, KL_FT_KEY };
	int t, e;

	kl_store_backend(s, &be);	/* takes s over */
	for (t = KL_FT_KEY; t <= KL_FT_LAST; t++) {
		w.t = (enum kl_ftype)t;
		if ((e = be.ops->list(be.ctx, w.t, on_file, &w)) != KL_OK) {
			repo_fail(r, kl_ftype_dir(t), e);
			break;
		}
	}
	be.ops->close(be.ctx);
}

static void
repo_audit(struct repo *r)
{
	int e = kl_audit_scan(r->path, on_record, r, &r->arep);

	r->audit_err = e;
	r->audit = e == KL_OK ? A_INTACT : e == KL_E_CORRUPT ? A_BROKEN :
	    e == KL_E_NOTFOUND ? A_MISSING : A_UNREADABLE;
}

/* Lag and health of each target once the files were seen. */
static void
repo_targets(const struct status *st, struct repo *r)
{
	struct target *t;
	size_t i;

	for (i = 0; i < r->nt; i++) {
		t = &r->t[i];
		t->lag_s = t->oldest == NO_TIME ? 0 : st->now - t->oldest;
		if (t->lag_s < 0)
			t->lag_s = 0;
		t->failing = t->parse_err || t->st.outcome != KL_OK ||
		    t->st.finished_s == 0 || (st->overdue_s > 0 &&
		    t->lag_s > st->overdue_s);
	}
}

static void
repo_examine(struct status *st, struct repo *r)
{
	struct walk w = { st, r, KL_FT_KEY };
	struct kl_store *s = NULL;
	int e;

	/* The trash is listed only in the full role; status writes nothing. */
	if ((e = kl_store_open(r->path, KL_ROLE_FULL, &s)) != KL_OK) {
		repo_fail(r, "config", e);
	} else {
		if ((e = kl_store_quota_recorded(s, &r->quota,
		    &r->quota_since_s)) != KL_OK && e != KL_E_NOTFOUND)
			repo_fail(r, KL_STORE_STATE_DIR "/quota", e);
		if ((e = kl_store_usage_count(s, &r->size)) != KL_OK)
			repo_fail(r, "the repository's files", e);
		if ((e = kl_store_trash_list(s, on_trash, &w)) != KL_OK)
			repo_fail(r, "trash", e);
		if ((e = kl_repl_state_each(r->path, on_target, r)) != KL_OK)
			repo_fail(r, KL_REPL_DIR, e);
		repo_files(st, r, s);
	}
	repo_audit(r);
	repo_targets(st, r);
	r->overdue = st->overdue_s > 0 && (r->last_snap_s == 0 ||
	    st->now - r->last_snap_s > st->overdue_s);
}

/* --- problems --- */

typedef void (*problem_cb)(void *arg, const char *text);

static void
audit_problem(const struct repo *r, char *p, size_t len)
{
	switch (r->audit) {
	case A_INTACT:
		p[0] = '\0';
		break;
	case A_BROKEN:
		snprintf(p, len, "audit log broken at line %" PRIu64 ": %s "
		    "(kluis-server audit verify)", r->arep.bad_line,
		    r->arep.what);
		break;
	case A_MISSING:
		snprintf(p, len, "no audit log (%s is missing: deleted, or "
		    "no client was ever served here)", KL_AUDIT_FILE);
		break;
	case A_UNREADABLE:
		snprintf(p, len, "audit log unreadable: %s",
		    kl_strerror(r->audit_err));
		break;
	}
}

static void
target_problem(const struct status *st, const struct target *t, char *p,
    size_t len)
{
	char a[32], b[32];

	span(a, t->lag_s);
	span(b, st->overdue_s);
	if (t->parse_err)
		snprintf(p, len, "replication state %s/%s cannot be read",
		    KL_REPL_DIR, t->st.url);
	else if (t->st.outcome != KL_OK)
		snprintf(p, len, "replication to %s failed: %s%s%s",
		    t->st.url, kl_strerror(t->st.outcome),
		    t->st.message[0] != '\0' ? ": " : "", t->st.message);
	else if (t->st.finished_s == 0)
		snprintf(p, len, "replication to %s never completed",
		    t->st.url);
	else
		snprintf(p, len, "replication to %s lags %s (limit %s)",
		    t->st.url, a, b);
}

/* Every problem of r, one phrase each; returns their number. */
static int
repo_problems(const struct status *st, const struct repo *r, problem_cb cb,
    void *arg)
{
	char p[STATUS_PROBLEM_MAX], a[32], b[32];
	size_t i;
	int n = 0;

	if (r->err != KL_OK) {
		snprintf(p, sizeof(p), "cannot read %s: %s", r->err_what,
		    kl_strerror(r->err));
		n++, cb(arg, p);
	}
	if (r->overdue) {
		span(a, st->now - r->last_snap_s);
		span(b, st->overdue_s);
		if (r->last_snap_s == 0)
			snprintf(p, sizeof(p), "overdue: no snapshot received");
		else
			snprintf(p, sizeof(p), "overdue: the last snapshot "
			    "arrived %s ago (limit %s)", a, b);
		n++, cb(arg, p);
	}
	if (r->audit != A_INTACT) {
		audit_problem(r, p, sizeof(p));
		n++, cb(arg, p);
	}
	if (r->verify_s != 0 && r->verify_outcome != KL_OK) {
		snprintf(p, sizeof(p), "the last verify failed (%s): run "
		    "kluis-server verify for the files, RUNBOOK 6.5",
		    kl_audit_outcome_name(r->verify_outcome));
		n++, cb(arg, p);
	}
	for (i = 0; i < r->nt; i++) {
		if (!r->t[i].failing)
			continue;
		target_problem(st, &r->t[i], p, sizeof(p));
		n++, cb(arg, p);
	}
	return n;
}

static void
problem_ignore(void *arg, const char *text)
{
	(void)arg;
	(void)text;
}

static int
repo_ok(const struct status *st, const struct repo *r)
{
	return repo_problems(st, r, problem_ignore, NULL) == 0;
}

/* --- text --- */

struct text_problems {
	int n;
};

static void
problem_print(void *arg, const char *text)
{
	struct text_problems *tp = arg;

	fputs(tp->n++ == 0 ? ": PROBLEM: " : "; ", stdout);
	print_name(stdout, text);
}

/* "2026-11-29T02:14:03Z, 5h 12min ago" */
static void
when_print(const struct status *st, const char *label, int64_t t)
{
	char u[KL_UTC_LEN], a[32];

	printf("  %-15s ", label);
	if (t == 0) {
		printf("never");
		return;
	}
	kl_time_utc(u, t);
	span(a, st->now - t);
	printf("%s, %s ago", u, a);
}

static void
target_print(const struct status *st, const struct target *t)
{
	char a[32];

	printf("  %-15s ", "replication");
	print_name(stdout, t->st.url);
	if (t->parse_err) {
		printf(": state file unreadable\n");
		return;
	}
	span(a, t->lag_s);
	printf(": lag %s\n", a);
	when_print(st, "  last run", t->st.finished_s);
	if (t->st.finished_s != 0)
		printf(": %s", kl_audit_outcome_name(t->st.outcome));
	putchar('\n');
}

static void
repo_print(const struct status *st, const struct repo *r)
{
	struct text_problems tp = { 0 };
	char a[32], b[32];
	size_t i;

	print_name(stdout, r->name);
	repo_problems(st, r, problem_print, &tp);
	printf("%s\n", tp.n == 0 ? ": ok" : "");
	when_print(st, "last snapshot", r->last_snap_s);
	printf(" (%" PRIu64 " snapshot%s)\n", r->snapshots,
	    r->snapshots == 1 ? "" : "s");
	bytes_text(a, r->size);
	bytes_text(b, r->recv_24h);
	printf("  %-15s %s, trash included; received in the last 24 h: %s\n",
	    "size", a, b);
	bytes_text(a, r->quota);
	if (r->quota == 0)
		printf("  %-15s none recorded\n", "quota");
	else
		printf("  %-15s %s, %.0f %% used\n", "quota", a,
		    100.0 * (double)r->size / (double)r->quota);
	bytes_text(a, r->trash_bytes);
	printf("  %-15s %" PRIu64 " files, %s", "trash", r->trash_files, a);
	span(b, r->trash_late_s);
	printf(r->trash_late_s > 0 ? "; due for purge for %s\n" : "\n", b);
	when_print(st, "last purge", r->purge_s);
	putchar('\n');
	when_print(st, "last verify", r->verify_s);
	bytes_text(a, r->verify_bytes);
	if (r->verify_s != 0)
		printf(": %s, %s checked", kl_audit_outcome_name(
		    r->verify_outcome), a);
	printf("\n  %-15s %s, %" PRIu64 " records\n", "audit log",
	    r->audit == A_INTACT ? "intact" : r->audit == A_BROKEN ? "BROKEN" :
	    r->audit == A_MISSING ? "MISSING" : "UNREADABLE", r->arep.records);
	for (i = 0; i < r->nt; i++)
		target_print(st, &r->t[i]);
}

static void
text_report(const struct status *st)
{
	size_t i, bad = 0;

	for (i = 0; i < st->n; i++) {
		repo_print(st, &st->r[i]);
		bad += !repo_ok(st, &st->r[i]);
	}
	printf("%zu repositor%s: %zu ok, %zu with problems\n", st->n,
	    st->n == 1 ? "y" : "ies", st->n - bad, bad);
}

/* --- JSON --- */

static void
json_when(struct kl_json *j, const char *key, int64_t t)
{
	char k[64], u[KL_UTC_LEN];

	kl_time_utc(u, t);
	kl_json_text(j, key, t != 0 ? u : NULL);
	snprintf(k, sizeof(k), "%s_s", key);
	if (t != 0)
		kl_json_i64(j, k, t);
	else
		kl_json_null(j, k);
}

static void
problem_json(void *arg, const char *text)
{
	kl_json_text(arg, NULL, text);
}

static void
target_json(struct kl_json *j, const struct target *t)
{
	kl_json_obj(j, NULL);
	kl_json_text(j, "url", t->st.url);
	kl_json_bool(j, "ok", !t->failing);
	kl_json_bool(j, "state_readable", !t->parse_err);
	kl_json_i64(j, "lag_s", t->lag_s);
	json_when(j, "synced", t->st.synced_s);
	json_when(j, "last_started", t->st.started_s);
	json_when(j, "last_finished", t->st.finished_s);
	kl_json_text(j, "last_outcome", kl_audit_outcome_name(t->st.outcome));
	kl_json_text(j, "message", t->st.message);
	kl_json_u64(j, "files_sent", t->st.files_sent);
	kl_json_u64(j, "damaged", t->st.damaged);
	kl_json_obj_end(j);
}

static void
repo_json(struct kl_json *j, const struct status *st, const struct repo *r)
{
	static const char *const audit[] = { "intact", "broken", "missing",
	    "unreadable" };
	size_t i;

	kl_json_obj(j, NULL);
	kl_json_text(j, "name", r->name);
	kl_json_text(j, "path", r->path);
	kl_json_bool(j, "ok", repo_ok(st, r));
	kl_json_arr(j, "problems");
	repo_problems(st, r, problem_json, j);
	kl_json_arr_end(j);
	kl_json_bool(j, "readable", r->err == KL_OK);
	kl_json_bool(j, "overdue", r->overdue);
	json_when(j, "last_snapshot", r->last_snap_s);
	if (r->last_snap_s != 0)
		kl_json_i64(j, "last_snapshot_age_s", st->now - r->last_snap_s);
	else
		kl_json_null(j, "last_snapshot_age_s");
	kl_json_u64(j, "snapshots", r->snapshots);
	kl_json_u64(j, "size_bytes", r->size);
	kl_json_u64(j, "received_24h_bytes", r->recv_24h);
	kl_json_u64(j, "quota_bytes", r->quota);
	json_when(j, "quota_recorded", r->quota_since_s);
	kl_json_u64(j, "trash_files", r->trash_files);
	kl_json_u64(j, "trash_bytes", r->trash_bytes);
	kl_json_i64(j, "trash_purge_late_s", r->trash_late_s);
	json_when(j, "last_purge", r->purge_s);
	json_when(j, "last_verify", r->verify_s);
	kl_json_text(j, "last_verify_outcome", r->verify_s != 0 ?
	    kl_audit_outcome_name(r->verify_outcome) : NULL);
	kl_json_u64(j, "last_verify_bytes", r->verify_bytes);
	kl_json_text(j, "audit", audit[r->audit]);
	kl_json_u64(j, "audit_records", r->arep.records);
	kl_json_text(j, "audit_last_hash", r->arep.last_hash);
	kl_json_arr(j, "replication");
	for (i = 0; i < r->nt; i++)
		target_json(j, &r->t[i]);
	kl_json_arr_end(j);
	kl_json_obj_end(j);
}

static void
json_report(const struct status *st, int ok)
{
	struct kl_json j;
	size_t i;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	json_when(&j, "time", st->now);
	kl_json_i64(&j, "overdue_s", st->overdue_s);
	kl_json_bool(&j, "ok", ok);
	kl_json_arr(&j, "repositories");
	for (i = 0; i < st->n; i++)
		repo_json(&j, st, &st->r[i]);
	kl_json_arr_end(&j);
	kl_json_obj_end(&j);
	putchar('\n');
}

/* --- Prometheus textfile --- */

/* A per-repository series: 1 and *v if r has a value for it. */
typedef int (*metric_get)(const struct status *, const struct repo *,
    int64_t *);

#define GETTER(fn, cond, expr) \
	static int \
	fn(const struct status *st, const struct repo *r, int64_t *v) \
	{ \
		(void)st; \
		*v = (int64_t)(expr); \
		return (cond); \
	}
GETTER(g_ok, 1, repo_ok(st, r))
GETTER(g_readable, 1, r->err == KL_OK)
GETTER(g_snap_ts, 1, r->last_snap_s)
GETTER(g_snap_age, r->last_snap_s != 0, st->now - r->last_snap_s)
GETTER(g_overdue, 1, r->overdue)
GETTER(g_snapshots, 1, r->snapshots)
GETTER(g_size, 1, r->size)
GETTER(g_recv, 1, r->recv_24h)
GETTER(g_quota, 1, r->quota)
GETTER(g_trash_files, 1, r->trash_files)
GETTER(g_trash_bytes, 1, r->trash_bytes)
GETTER(g_trash_late, 1, r->trash_late_s)
GETTER(g_purge_ts, r->purge_s != 0, r->purge_s)
GETTER(g_verify_ts, 1, r->verify_s)
GETTER(g_verify_ok, r->verify_s != 0, r->verify_outcome == KL_OK)
GETTER(g_audit_intact, 1, r->audit == A_INTACT)
GETTER(g_audit_records, 1, r->arep.records)
#undef GETTER

static const struct metric {
	const char *name, *help;
	metric_get get;
} metrics[] = {
	{ "ok", "1 if status found no problem with the repository", g_ok },
	{ "readable", "1 if every file of the repository could be examined",
	    g_readable },
	{ "last_snapshot_timestamp_seconds", "Receive time of the newest "
	    "snapshot file (0: none)", g_snap_ts },
	{ "last_snapshot_age_seconds", "Seconds since the newest snapshot "
	    "file was received", g_snap_age },
	{ "overdue", "1 if no snapshot arrived within --overdue", g_overdue },
	{ "snapshots", "Snapshot files", g_snapshots },
	{ "size_bytes", "Bytes the repository holds, trash included",
	    g_size },
	{ "received_24h_bytes", "Bytes of the files received in the last "
	    "24 hours", g_recv },
	{ "quota_bytes", "The quota serve enforces, as last recorded (0: "
	    "none)", g_quota },
	{ "trash_files", "Files in the trash", g_trash_files },
	{ "trash_bytes", "Bytes in the trash", g_trash_bytes },
	{ "trash_purge_late_seconds", "How long the oldest trash entry has "
	    "been due for purge (0: none due)", g_trash_late },
	{ "last_purge_timestamp_seconds", "Time of the last file purged "
	    "(audit log)", g_purge_ts },
	{ "last_verify_timestamp_seconds", "Time of the last kluis-server "
	    "verify (audit log; 0: never)", g_verify_ts },
	{ "verify_ok", "1 if the last verify found nothing wrong",
	    g_verify_ok },
	{ "audit_intact", "1 if the audit log's hash chain is intact",
	    g_audit_intact },
	{ "audit_records", "Intact records in the audit log",
	    g_audit_records },
};

static void
metric_head(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP kluis_server_%s %s\n# TYPE kluis_server_%s gauge\n",
	    name, help, name);
}

static void
metric_repos(FILE *f, const struct status *st, const struct metric *m)
{
	int64_t v;
	size_t i;
	int head = 0;

	for (i = 0; i < st->n; i++) {
		if (!m->get(st, &st->r[i], &v))
			continue;
		if (!head++)
			metric_head(f, m->name, m->help);
		fprintf(f, "kluis_server_%s{repo=", m->name);
		kl_prom_label(f, st->r[i].name);
		fprintf(f, "} %" PRId64 "\n", v);
	}
}

/* Per target: the lag (lag != 0) or whether it is healthy. */
static void
metric_targets(FILE *f, const struct status *st, const char *name,
    const char *help, int lag)
{
	const struct target *t;
	size_t i, k;
	int head = 0;

	for (i = 0; i < st->n; i++)
		for (k = 0; k < st->r[i].nt; k++) {
			t = &st->r[i].t[k];
			if (!head++)
				metric_head(f, name, help);
			fprintf(f, "kluis_server_%s{repo=", name);
			kl_prom_label(f, st->r[i].name);
			fputs(",target=", f);
			kl_prom_label(f, t->st.url);
			fprintf(f, "} %" PRId64 "\n", lag ? t->lag_s :
			    (int64_t)!t->failing);
		}
}

static int
metrics_write(const struct status *st, const char *path)
{
	char *text = NULL;
	size_t len = 0, i;
	FILE *f;
	int r;

	if ((f = open_memstream(&text, &len)) == NULL)
		return KL_E_NOMEM;
	metric_head(f, "status_timestamp_seconds", "When kluis-server status "
	    "last ran");
	fprintf(f, "kluis_server_status_timestamp_seconds %" PRId64 "\n",
	    st->now);
	metric_head(f, "repositories", "Repositories status found");
	fprintf(f, "kluis_server_repositories %zu\n", st->n);
	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
		metric_repos(f, st, &metrics[i]);
	metric_targets(f, st, "replication_lag_seconds", "Age of the oldest "
	    "file not known to be on the target (0: none)", 1);
	metric_targets(f, st, "replication_ok", "1 if the last replication "
	    "run succeeded and the lag is within --overdue", 0);
	if (fclose(f) != 0) {
		free(text);
		return KL_E_NOMEM;
	}
	r = kl_file_write_atomic_path(path, text, len, 0, METRICS_MODE);
	free(text);
	return r;
}

/* --- finding the repositories --- */

static int
repo_add(struct status *st, const char *path, const char *name)
{
	struct repo *r;
	int e;

	if ((e = KL_GROW(st->r, st->cap, st->n + 1)) != KL_OK)
		return e;
	r = &st->r[st->n];
	memset(r, 0, sizeof(*r));
	r->path = strdup(path);
	r->name = strdup(name);
	if (r->path == NULL || r->name == NULL) {
		free(r->path);
		free(r->name);
		return KL_E_NOMEM;
	}
	st->n++;
	return KL_OK;
}

/* 1 if dir holds a config file or cannot tell (unreadable: reported). */
static int
looks_like_repo(const char *dir)
{
	char cfg[PATH_MAX];
	struct stat sb;

	if ((size_t)snprintf(cfg, sizeof(cfg), "%s/config", dir) >=
	    sizeof(cfg))
		return 1;
	if (stat(cfg, &sb) == 0)
		return 1;
	return errno != ENOENT && errno != ENOTDIR;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of root's subdirectories, sorted. */
static int
root_list(const char *root, char ***out, size_t *n)
{
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;
	DIR *d;
	int e = KL_OK;

	*n = 0;
	if ((d = opendir(root)) == NULL)
		return kl_err_from_errno(errno);
	while (e == KL_OK && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((e = KL_GROW(v, cap, *n + 1)) == KL_OK &&
		    (v[*n] = strdup(de->d_name)) != NULL)
			(*n)++;
		else if (e == KL_OK)
			e = KL_E_NOMEM;
	}
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), name_cmp);
	*out = v;
	return e;
}

static int
root_scan(struct status *st, const char *root)
{
	char path[PATH_MAX];
	struct stat sb;
	char **names = NULL;
	size_t n = 0, i;
	int e;

	e = root_list(root, &names, &n);
	for (i = 0; e == KL_OK && i < n; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", root,
		    names[i]) >= sizeof(path) || stat(path, &sb) != 0 ||
		    !S_ISDIR(sb.st_mode) || !looks_like_repo(path))
			continue;	/* not a repository: skipped */
		e = repo_add(st, path, names[i]);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return e;
}

/* --repo DIR: its last path component names it. */
static int
repo_one(struct status *st, const char *path)
{
	char name[PATH_MAX];
	size_t len;
	char *slash;

	snprintf(name, sizeof(name), "%s", path);
	while ((len = strlen(name)) > 1 && name[len - 1] == '/')
		name[len - 1] = '\0';
	slash = strrchr(name, '/');
	if (!looks_like_repo(path))
		return KL_OK;
	return repo_add(st, path, slash != NULL && slash[1] != '\0' ?
	    slash + 1 : name);
}

static void
status_clear(struct status *st)
{
	size_t i;

	for (i = 0; i < st->n; i++) {
		free(st->r[i].name);
		free(st->r[i].path);
		free(st->r[i].t);
	}
	free(st->r);
}

/* --- the command --- */

/* 0, or -1 after saying what is wrong. */
static int
status_args(const struct server_args *a, struct status *st)
{
	if ((a->root == NULL) == (a->repo == NULL)) {
		fprintf(stderr, "%s: status: give either --root DIR (every "
		    "repository under DIR) or --repo DIR (see %s status "
		    "--help)\n", progname, progname);
		return -1;
	}
	st->overdue_s = STATUS_OVERDUE_S;
	if (a->overdue != NULL && kl_duration_parse(a->overdue,
	    &st->overdue_s) != KL_OK) {
		fprintf(stderr, "%s: status: --overdue '", progname);
		print_name(stderr, a->overdue);
		fprintf(stderr, "' is not a duration (examples: 26h, 3d, 0)\n");
		return -1;
	}
	return 0;
}

static void
where_print(const struct server_args *a, const char *what)
{
	fprintf(stderr, "%s: status: ", progname);
	print_name(stderr, a->root != NULL ? a->root : a->repo);
	fprintf(stderr, ": %s\n", what);
}

int
cmd_status(const struct server_args *a)
{
	struct status st;
	size_t i;
	int e, ok = 1, rc;

	memset(&st, 0, sizeof(st));
	if (status_args(a, &st) != 0)
		return EXIT_USAGE;
	st.now = (int64_t)time(NULL);
	e = a->root != NULL ? root_scan(&st, a->root) : repo_one(&st, a->repo);
	if (e != KL_OK)
		where_print(a, kl_strerror(e));
	for (i = 0; i < st.n; i++) {
		repo_examine(&st, &st.r[i]);
		ok &= repo_ok(&st, &st.r[i]);
	}
	if (a->json)
		json_report(&st, ok && e == KL_OK);
	else if (st.n > 0)
		text_report(&st);
	if (st.n == 0 && e == KL_OK)
		where_print(a, a->root != NULL ? "no repository (no "
		    "subdirectory holds a config file)" : "not a repository "
		    "(no config file); check the --repo path");
	rc = st.n == 0 && (e == KL_OK || e == KL_E_NOTFOUND) ? EXIT_NOREPO :
	    ok && e == KL_OK ? EXIT_CLEAN : EXIT_FINDINGS;
	/* Whatever was found: the metrics are what raises the alarm. */
	if (a->metrics_file != NULL &&
	    (e = metrics_write(&st, a->metrics_file)) != KL_OK) {
		fprintf(stderr, "%s: status: cannot write the metrics file ",
		    progname);
		print_name(stderr, a->metrics_file);
		fprintf(stderr, ": %s\n", kl_strerror(e));
		rc = EXIT_FINDINGS;
	}
	status_clear(&st);
	return rc;
}
