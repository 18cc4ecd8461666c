/*
 * The report as JSON: schema KL_REPORT_SCHEMA, documented field by field
 * in docs/COMPLIANCE.md "JSON schema".  Fields are only ever added within
 * a schema version; a change of meaning bumps it.
 */
#include <string.h>

#include "kluis/err.h"
#include "kluis/json.h"
#include "report_internal.h"

static void
j_str_or_null(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		kl_json_cstr(f, s);
}

static void
j_time(FILE *f, int64_t t)
{
	char b[32];

	if (t == REP_TIME_NONE) {
		fputs("null", f);
		return;
	}
	rep_time_utc(b, sizeof(b), t);
	fprintf(f, "\"%s\"", b);
}

static void
j_id(FILE *f, const struct kl_id *id)
{
	char hex[KL_ID_HEX_LEN + 1];

	if (kl_id_is_zero(id)) {
		fputs("null", f);
		return;
	}
	kl_id_hex(id, hex);
	fprintf(f, "\"%s\"", hex);
}

static void
j_u64(FILE *f, const char *key, uint64_t v, int comma)
{
	fprintf(f, "%s\"%s\":%llu", comma ? "," : "", key,
	    (unsigned long long)v);
}

static const char *
state_name(int s)
{
	return s == REP_RUN_OK ? "ok" : s == REP_RUN_PARTIAL ? "partial" :
	    "failed";
}

static void
j_run(FILE *f, const struct rep_run *x)
{
	if (x == NULL) {
		fputs("null", f);
		return;
	}
	fputs("{\"kind\":", f);
	kl_json_cstr(f, x->kind);
	fputs(",\"host\":", f);
	kl_json_cstr(f, x->host);
	fputs(",\"start\":", f);
	j_time(f, x->start);
	fputs(",\"end\":", f);
	j_time(f, x->end);
	fprintf(f, ",\"duration_s\":%lld,\"exit_code\":%d,\"status\":\"%s\","
	    "\"snapshot\":", (long long)(x->end - x->start), x->exit_code,
	    state_name(x->state));
	j_id(f, &x->snapshot);
	j_u64(f, "files", x->files, 1);
	j_u64(f, "bytes", x->bytes, 1);
	j_u64(f, "bytes_added", x->bytes_added, 1);
	j_u64(f, "errors", x->errors, 1);
	j_u64(f, "findings", x->findings, 1);
	if (x->rto_s >= 0)
		fprintf(f, ",\"rto_s\":%.3f", x->rto_s);
	else
		fputs(",\"rto_s\":null", f);
	fputs(",\"error\":", f);
	j_str_or_null(f, x->error);
	/* a valid JSON object of valid UTF-8 (report.c run_detail) */
	fprintf(f, ",\"detail\":%s}", x->detail ? x->detail : "null");
}

static void
j_runs(FILE *f, const struct kl_report *rep, const char *kind)
{
	size_t i, n = 0;

	fputc('[', f);
	for (i = 0; i < rep->nruns; i++) {
		if (!rep->runs[i].in_period ||
		    strcmp(rep->runs[i].kind, kind) != 0)
			continue;
		if (n++ > 0)
			fputc(',', f);
		j_run(f, &rep->runs[i]);
	}
	fputc(']', f);
}

static void
j_host(FILE *f, const struct kl_report *rep, const struct rep_host *h)
{
	size_t i;

	fputs("{\"host\":", f);
	kl_json_cstr(f, h->name);
	j_u64(f, "snapshots", h->snapshots, 1);
	fputs(",\"first_backup\":", f);
	j_time(f, h->first);
	fputs(",\"last_backup\":", f);
	j_time(f, h->last);
	fputs(",\"retired\":", f);
	j_time(f, h->retired);
	if (h->last == REP_TIME_NONE)
		fputs(",\"last_backup_age_s\":null", f);
	else
		fprintf(f, ",\"last_backup_age_s\":%lld",
		    (long long)(rep->o.now - h->last));
	fputs(",\"last_snapshot\":", f);
	j_id(f, &h->last_id);
	j_u64(f, "last_snapshot_bytes", h->last_bytes, 1);
	j_u64(f, "last_snapshot_files", h->last_files, 1);
	fputs(",\"runs\":{", f);
	j_u64(f, "total", h->runs, 0);
	j_u64(f, "ok", h->ok, 1);
	j_u64(f, "partial", h->partial, 1);
	j_u64(f, "failed", h->failed, 1);
	j_u64(f, "bytes_added", h->bytes_added, 1);
	fputs("},\"last_failure\":", f);
	j_run(f, h->last_failure);
	fputs(",\"history\":[", f);
	for (i = 0; i < h->npts; i++) {
		fputs(i ? ",{\"snapshot\":" : "{\"snapshot\":", f);
		j_id(f, &h->pts[i].id);
		fputs(",\"time\":", f);
		j_time(f, h->pts[i].t);
		j_u64(f, "bytes", h->pts[i].bytes, 1);
		j_u64(f, "files", h->pts[i].files, 1);
		fputc('}', f);
	}
	fputs("]}", f);
}

static void
j_verification(FILE *f, const struct kl_report *rep)
{
	size_t i;

	fputs(",\"verification\":{", f);
	j_u64(f, "packs", rep->packs, 0);
	j_u64(f, "verified", rep->verified, 1);
	j_u64(f, "never_verified", rep->never, 1);
	j_u64(f, "failed", rep->bad, 1);
	fputs(",\"all_verified_since\":", f);
	j_time(f, rep->never == 0 && rep->verified > 0 ?
	    rep->oldest_verified : REP_TIME_NONE);
	fputs(",\"oldest_verification\":", f);
	j_time(f, rep->oldest_verified);
	fputs(",\"newest_verification\":", f);
	j_time(f, rep->newest_verified);
	fputs(",\"coverage\":[", f);
	for (i = 0; i < REP_COVER_N; i++) {
		if (rep_cover_days[i] == 0)
			fprintf(f, "%s{\"window_days\":null", i ? "," : "");
		else
			fprintf(f, "%s{\"window_days\":%d", i ? "," : "",
			    rep_cover_days[i]);
		j_u64(f, "packs", rep->within[i], 1);
		fprintf(f, ",\"fraction\":%.4f}",
		    rep_pct(rep->within[i], rep->packs) / 100.0);
	}
	fputs("]}", f);
}

static void
j_head(FILE *f, const struct kl_report *rep)
{
	char hex[KL_ID_HEX_LEN + 1];
	size_t i;

	kl_id_hex(&rep->o.repo_id, hex);
	fprintf(f, "{\"schema\":%d,\"generated\":", KL_REPORT_SCHEMA);
	j_time(f, rep->o.generated);
	fputs(",\"as_of\":", f);
	j_time(f, rep->o.now);
	fputs(",\"period\":{\"since\":", f);
	j_time(f, rep->o.since);
	fputs(",\"until\":", f);
	j_time(f, rep->o.now);
	fprintf(f, "},\"repository\":{\"id\":\"%s\"", hex);
	j_u64(f, "hosts", rep->nhosts, 1);
	j_u64(f, "snapshots", rep->snapshots, 1);
	j_u64(f, "vanished_snapshots", rep->vanished, 1);
	j_u64(f, "damaged_files", rep->o.damaged, 1);
	fputs("},\"machine\":", f);
	kl_json_cstr(f, rep->machine);
	fprintf(f, ",\"thresholds\":{\"backup_max_age_s\":%lld,"
	    "\"verify_max_age_s\":%lld,\"drill_max_age_s\":%lld}",
	    (long long)rep->o.backup_max_age, (long long)rep->o.verify_max_age,
	    (long long)rep->o.drill_max_age);
	fprintf(f, ",\"verdict\":\"%s\",\"reasons\":[",
	    kl_report_verdict_name(rep->verdict));
	for (i = 0; i < rep->nreasons; i++) {
		fprintf(f, "%s{\"level\":\"%s\",\"code\":", i ? "," : "",
		    kl_report_verdict_name(rep->reasons[i].level));
		kl_json_cstr(f, rep->reasons[i].code);
		fputs(",\"host\":", f);
		j_str_or_null(f, rep->reasons[i].host);
		fputs(",\"message\":", f);
		kl_json_cstr(f, rep->reasons[i].msg);
		fputc('}', f);
	}
	fputc(']', f);
}

int
rep_write_json(const struct kl_report *rep, FILE *f)
{
	size_t i;

	j_head(f, rep);
	fputs(",\"hosts\":[", f);
	for (i = 0; i < rep->nhosts; i++) {
		if (i > 0)
			fputc(',', f);
		j_host(f, rep, &rep->hosts[i]);
	}
	fputc(']', f);
	j_verification(f, rep);
	fputs(",\"checks\":{\"last\":", f);
	j_run(f, rep->last_check);
	fputs(",\"runs\":", f);
	j_runs(f, rep, "check");
	fputs("},\"drills\":{\"last\":", f);
	j_run(f, rep->last_drill);
	fputs(",\"runs\":", f);
	j_runs(f, rep, "drill");
	fputs("},\"backup_runs\":", f);
	j_runs(f, rep, "backup");
	fputs("}\n", f);
	return ferror(f) ? KL_E_IO : KL_OK;
}
