/*
 * The report as JSON: schema KL_REPORT_SCHEMA, documented field by field
 * in docs/COMPLIANCE.md "JSON schema".  Fields are only ever added within
 * a schema version; a change of meaning bumps it.
 */
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/json.h"
#include "report_internal.h"

/* A time, or null for none. */
static void
j_time(struct kl_json *j, const char *key, int64_t t)
{
	char b[32];

	if (t == REP_TIME_NONE) {
		kl_json_null(j, key);
		return;
	}
	rep_time_utc(b, sizeof(b), t);
	kl_json_text(j, key, b);
}

/* An id, or null for the zero id (none). */
static void
j_id(struct kl_json *j, const char *key, const struct kl_id *id)
{
	if (kl_id_is_zero(id))
		kl_json_null(j, key);
	else
		kl_json_id(j, key, id);
}

static const char *
state_name(int s)
{
	return s == REP_RUN_OK ? "ok" : s == REP_RUN_PARTIAL ? "partial" :
	    "failed";
}

static void
j_run(struct kl_json *j, const char *key, const struct rep_run *x)
{
	if (x == NULL) {
		kl_json_null(j, key);
		return;
	}
	kl_json_obj(j, key);
	kl_json_text(j, "kind", x->kind);
	kl_json_text(j, "host", x->host);
	/* "local": this machine ran it; "repository": a run record */
	kl_json_text(j, "origin", x->imported ? "repository" : "local");
	if (x->recv == REP_TIME_NONE)
		kl_json_null(j, "received");
	else
		j_time(j, "received", x->recv);
	j_time(j, "start", x->start);
	j_time(j, "end", x->end);
	kl_json_i64(j, "duration_s", x->end - x->start);
	kl_json_i64(j, "exit_code", x->exit_code);
	kl_json_text(j, "status", state_name(x->state));
	j_id(j, "snapshot", &x->snapshot);
	kl_json_u64(j, "files", x->files);
	kl_json_u64(j, "bytes", x->bytes);
	kl_json_u64(j, "bytes_added", x->bytes_added);
	kl_json_u64(j, "errors", x->errors);
	kl_json_u64(j, "findings", x->findings);
	if (x->rto_s >= 0)
		kl_json_real(j, "rto_s", x->rto_s, 3);
	else
		kl_json_null(j, "rto_s");
	kl_json_text(j, "error", x->error);
	/* every detail the command recorded (catalog rows), or null */
	if (x->nv == 0)
		kl_json_null(j, "detail");
	else {
		kl_json_obj(j, "detail");
		kl_run_values_json(j, x->v, x->nv);
		kl_json_obj_end(j);
	}
	kl_json_obj_end(j);
}

/* The runs of kind in the period, as the array member key. */
static void
j_runs(struct kl_json *j, const char *key, const struct kl_report *rep,
    const char *kind)
{
	size_t i;

	kl_json_arr(j, key);
	for (i = 0; i < rep->nruns; i++)
		if (rep->runs[i].in_period &&
		    strcmp(rep->runs[i].kind, kind) == 0)
			j_run(j, NULL, &rep->runs[i]);
	kl_json_arr_end(j);
}

static void
j_host_runs(struct kl_json *j, const struct rep_host *h)
{
	kl_json_obj(j, "runs");
	kl_json_u64(j, "total", h->runs);
	kl_json_u64(j, "ok", h->ok);
	kl_json_u64(j, "partial", h->partial);
	kl_json_u64(j, "failed", h->failed);
	kl_json_u64(j, "bytes_added", h->bytes_added);
	kl_json_obj_end(j);
}

static void
j_host_history(struct kl_json *j, const struct rep_host *h)
{
	size_t i;

	kl_json_arr(j, "history");
	for (i = 0; i < h->npts; i++) {
		kl_json_obj(j, NULL);
		j_id(j, "snapshot", &h->pts[i].id);
		j_time(j, "time", h->pts[i].t);
		kl_json_u64(j, "bytes", h->pts[i].bytes);
		kl_json_u64(j, "files", h->pts[i].files);
		kl_json_obj_end(j);
	}
	kl_json_arr_end(j);
}

static void
j_host(struct kl_json *j, const struct kl_report *rep,
    const struct rep_host *h)
{
	kl_json_obj(j, NULL);
	kl_json_text(j, "host", h->name);
	kl_json_u64(j, "snapshots", h->snapshots);
	j_time(j, "first_backup", h->first);
	j_time(j, "last_backup", h->last);
	j_time(j, "retired", h->retired);
	if (h->last == REP_TIME_NONE)
		kl_json_null(j, "last_backup_age_s");
	else
		kl_json_i64(j, "last_backup_age_s", rep->o.now - h->last);
	j_id(j, "last_snapshot", &h->last_id);
	kl_json_u64(j, "last_snapshot_bytes", h->last_bytes);
	kl_json_u64(j, "last_snapshot_files", h->last_files);
	j_host_runs(j, h);
	j_run(j, "last_failure", h->last_failure);
	j_host_history(j, h);
	kl_json_obj_end(j);
}

static void
j_coverage(struct kl_json *j, const struct kl_report *rep)
{
	size_t i;

	kl_json_arr(j, "coverage");
	for (i = 0; i < REP_COVER_N; i++) {
		kl_json_obj(j, NULL);
		if (rep_cover_days[i] == 0)
			kl_json_null(j, "window_days");
		else
			kl_json_i64(j, "window_days", rep_cover_days[i]);
		kl_json_u64(j, "packs", rep->within[i]);
		kl_json_real(j, "fraction",
		    rep_pct(rep->within[i], rep->packs) / 100.0, 4);
		kl_json_obj_end(j);
	}
	kl_json_arr_end(j);
}

static void
j_verification(struct kl_json *j, const struct kl_report *rep)
{
	kl_json_obj(j, "verification");
	kl_json_u64(j, "packs", rep->packs);
	kl_json_u64(j, "verified", rep->verified);
	kl_json_u64(j, "never_verified", rep->never);
	kl_json_u64(j, "failed", rep->bad);
	j_time(j, "all_verified_since", rep->never == 0 && rep->verified > 0 ?
	    rep->oldest_verified : REP_TIME_NONE);
	j_time(j, "oldest_verification", rep->oldest_verified);
	j_time(j, "newest_verification", rep->newest_verified);
	j_coverage(j, rep);
	kl_json_obj_end(j);
}

static void
j_reasons(struct kl_json *j, const struct kl_report *rep)
{
	size_t i;

	kl_json_arr(j, "reasons");
	for (i = 0; i < rep->nreasons; i++) {
		kl_json_obj(j, NULL);
		kl_json_text(j, "level",
		    kl_report_verdict_name(rep->reasons[i].level));
		kl_json_text(j, "code", rep->reasons[i].code);
		kl_json_text(j, "host", rep->reasons[i].host);
		kl_json_text(j, "message", rep->reasons[i].msg);
		kl_json_obj_end(j);
	}
	kl_json_arr_end(j);
}

/* The members before the hosts. */
static void
j_head(struct kl_json *j, const struct kl_report *rep)
{
	kl_json_i64(j, "schema", KL_REPORT_SCHEMA);
	j_time(j, "generated", rep->o.generated);
	j_time(j, "as_of", rep->o.now);
	kl_json_obj(j, "period");
	j_time(j, "since", rep->o.since);
	j_time(j, "until", rep->o.now);
	kl_json_obj_end(j);
	kl_json_obj(j, "repository");
	kl_json_id(j, "id", &rep->o.repo_id);
	kl_json_u64(j, "hosts", rep->nhosts);
	kl_json_u64(j, "snapshots", rep->snapshots);
	kl_json_u64(j, "vanished_snapshots", rep->vanished);
	kl_json_u64(j, "damaged_files", rep->o.damaged);
	kl_json_u64(j, "run_records", rep->o.runs_listed);
	kl_json_u64(j, "run_records_read", rep->o.runs_looked);
	kl_json_u64(j, "run_records_unreadable", rep->o.runs_bad);
	kl_json_obj_end(j);
	kl_json_text(j, "machine", rep->machine);
	kl_json_obj(j, "thresholds");
	kl_json_i64(j, "backup_max_age_s", rep->o.backup_max_age);
	kl_json_i64(j, "verify_max_age_s", rep->o.verify_max_age);
	kl_json_i64(j, "drill_max_age_s", rep->o.drill_max_age);
	kl_json_obj_end(j);
	kl_json_text(j, "verdict", kl_report_verdict_name(rep->verdict));
	j_reasons(j, rep);
}

int
rep_write_json(const struct kl_report *rep, FILE *f)
{
	struct kl_json j;
	size_t i;

	kl_json_init(&j, f);
	kl_json_obj(&j, NULL);
	j_head(&j, rep);
	kl_json_arr(&j, "hosts");
	for (i = 0; i < rep->nhosts; i++)
		j_host(&j, rep, &rep->hosts[i]);
	kl_json_arr_end(&j);
	j_verification(&j, rep);
	kl_json_obj(&j, "checks");
	j_run(&j, "last", rep->last_check);
	j_runs(&j, "runs", rep, "check");
	kl_json_obj_end(&j);
	kl_json_obj(&j, "drills");
	j_run(&j, "last", rep->last_drill);
	j_runs(&j, "runs", rep, "drill");
	kl_json_obj_end(&j);
	j_runs(&j, "backup_runs", rep, "backup");
	kl_json_obj_end(&j);
	fputc('\n', f);
	return ferror(f) ? KL_E_IO : KL_OK;
}
