/*
 * The report as plain text, for reading and for mail: the same content as
 * the HTML page, without the chart.  Host names and error messages come
 * from the repository and the catalog: every such string goes through
 * kl_text_esc (control bytes, bytes that are not UTF-8, C1 and
 * bidirectional controls as \xNN, a backslash as \\), so that no line can
 * be forged and nothing reaches a terminal as a control sequence.
 */
#include <string.h>
#include <time.h>

#include "kluis/err.h"
#include "report_internal.h"

#define T_HOST_W_MAX 40

/* s, escaped (kl_text_esc). */
static void
t_put(FILE *f, const char *s)
{
	char e[256];
	size_t n = strlen(s), used;

	while (n > 0) {
		used = kl_text_esc(e, sizeof(e), s, n);
		fputs(e, f);
		s += used;
		n -= used;
	}
}

/* s escaped, then spaces to w bytes. */
static void
t_put_pad(FILE *f, const char *s, int w)
{
	size_t l = kl_text_esc_len(s, strlen(s));

	t_put(f, s);
	for (; (size_t)w > l; w--)
		fputc(' ', f);
}

static int
host_width(const struct kl_report *rep)
{
	size_t i, w = 4, l;

	for (i = 0; i < rep->nhosts; i++) {
		l = kl_text_esc_len(rep->hosts[i].name,
		    strlen(rep->hosts[i].name));
		if (l > w)
			w = l;
	}
	return (int)(w > T_HOST_W_MAX ? T_HOST_W_MAX : w);
}

static void
t_head(FILE *f, const struct kl_report *rep)
{
	char hex[KL_ID_HEX_LEN + 1], a[32], b[32], zone[64];
	struct tm tm;
	time_t t = (time_t)rep->o.generated;
	size_t i;

	kl_id_hex(&rep->o.repo_id, hex);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(zone, sizeof(zone), "local time: %Z, UTC%z", &tm) == 0)
		snprintf(zone, sizeof(zone), "local time");
	fputs("KLUIS BACKUP REPORT\n===================\n\n", f);
	fprintf(f, "Repository:  %s\n", hex);
	rep_time_local(a, sizeof(a), rep->o.generated);
	fprintf(f, "Generated:   %s (%s)\n", a, zone);
	if (rep->o.now != rep->o.generated) {
		rep_time_local(a, sizeof(a), rep->o.now);
		fprintf(f, "Evaluated as of: %s (KLUIS_REPORT_NOW)\n", a);
	}
	rep_time_local(a, sizeof(a), rep->o.since);
	rep_time_local(b, sizeof(b), rep->o.now);
	fprintf(f, "Period:      %s .. %s\n", a, b);
	fputs("Run history: from this machine (", f);
	t_put(f, rep->machine);
	fputs(") and from the run records of\n             every client "
	    "in the repository (marked *); snapshots are the "
	    "repository's.\n\n", f);
	fprintf(f, "VERDICT: %s\n", kl_report_verdict_name(rep->verdict));
	if (rep->nreasons == 0)
		fputs("  every rule is met\n", f);
	for (i = 0; i < rep->nreasons; i++) {
		fprintf(f, "  - %-7s ",
		    kl_report_verdict_name(rep->reasons[i].level));
		t_put(f, rep->reasons[i].msg);
		fputc('\n', f);
	}
}

static void
t_host(FILE *f, const struct kl_report *rep, const struct rep_host *h)
{
	char a[32], b[32], s[32], hex[KL_ID_HEX_LEN + 1];

	fputs("\nHost ", f);
	t_put(f, h->name);
	fputc('\n', f);
	rep_time_local(a, sizeof(a), h->first);
	rep_time_local(b, sizeof(b), h->last);
	fprintf(f, "  snapshots:              %llu (%s .. %s)\n",
	    (unsigned long long)h->snapshots, a, b);
	if (h->retired != REP_TIME_NONE) {
		rep_time_local(s, sizeof(s), h->retired);
		fprintf(f, "  retired:                since %s (all its "
		    "snapshots were forgotten; no backup is due)\n", s);
	}
	if (h->last != REP_TIME_NONE) {
		kl_id_hex(&h->last_id, hex);
		rep_age(a, sizeof(a), rep->o.now - h->last);
		rep_bytes(s, sizeof(s), h->last_bytes);
		fprintf(f, "  last successful backup: %s (%s ago), snapshot "
		    "%.8s: %s in %llu files\n", b, a, hex, s,
		    (unsigned long long)h->last_files);
	} else
		fputs("  last successful backup: none\n", f);
	rep_bytes(s, sizeof(s), h->bytes_added);
	fprintf(f, "  backup runs in period:  %llu (%llu ok, %llu partial, "
	    "%llu failed); %s added\n", (unsigned long long)h->runs,
	    (unsigned long long)h->ok, (unsigned long long)h->partial,
	    (unsigned long long)h->failed, s);
	if (h->last_failure != NULL) {
		rep_time_local(a, sizeof(a), h->last_failure->start);
		fprintf(f, "  last failed run:        %s, exit code %d%s", a,
		    h->last_failure->exit_code, h->last_failure->error ?
		    ": " : "");
		if (h->last_failure->error)
			t_put(f, h->last_failure->error);
		fputc('\n', f);
	}
}

static void
t_verification(FILE *f, const struct kl_report *rep)
{
	char a[32];
	size_t i;

	fputs("\nDATA VERIFICATION (kluis check --read-data)\n", f);
	fprintf(f, "  pack files: %llu; verified: %llu (%.1f%%); never "
	    "verified: %llu; failed their last verification: %llu\n",
	    (unsigned long long)rep->packs, (unsigned long long)rep->verified,
	    rep_pct(rep->verified, rep->packs), (unsigned long long)rep->never,
	    (unsigned long long)rep->bad);
	fputs("  coverage:", f);
	for (i = 0; i < REP_COVER_N; i++)
		fprintf(f, "%s %s %.1f%%", i ? "," : "", rep_cover_label(i),
		    rep_pct(rep->within[i], rep->packs));
	fputc('\n', f);
	if (rep->never == 0 && rep->verified > 0) {
		rep_time_local(a, sizeof(a), rep->oldest_verified);
		fprintf(f, "  all data verified since: %s\n", a);
	} else
		fputs("  all data verified since: - (not every pack file has "
		    "been verified)\n", f);
	rep_time_local(a, sizeof(a), rep->newest_verified);
	fprintf(f, "  newest verification:     %s\n", a);
}

static void
t_runs(FILE *f, const struct kl_report *rep, const char *kind, int hw)
{
	const struct rep_run *x;
	char a[32], d[32], s[32], hex[KL_ID_HEX_LEN + 1];
	const char *last = strcmp(kind, "backup") == 0 ?
	    "FILES / ADDED / ERROR" : strcmp(kind, "check") == 0 ?
	    "DATA READ / FINDINGS" : "SNAPSHOT / RECOVERY TIME";
	size_t i, n = 0, imported = 0;

	for (i = 0; i < rep->nruns; i++) {
		x = &rep->runs[i];
		if (!x->in_period || strcmp(x->kind, kind) != 0)
			continue;
		if (n++ == 0)
			fprintf(f, "  %-19s  %-*s  %-10s  %4s  %s\n", "START",
			    hw, "HOST", "DURATION", "EXIT", last);
		rep_time_local(a, sizeof(a), x->start);
		rep_age(d, sizeof(d), x->end - x->start);
		fprintf(f, "  %-19s  ", a);
		t_put_pad(f, x->host, hw);
		fputc(x->imported ? '*' : ' ', f);
		imported += x->imported;
		fprintf(f, " %-10s  %4d  ", d, x->exit_code);
		if (strcmp(kind, "backup") == 0) {
			rep_bytes(s, sizeof(s), x->bytes_added);
			fprintf(f, "%llu / %s", (unsigned long long)x->files,
			    s);
		} else if (strcmp(kind, "check") == 0) {
			t_put(f, x->subject ? x->subject : "-");
			fprintf(f, " / %llu", (unsigned long long)x->findings);
		} else {
			kl_id_hex(&x->snapshot, hex);
			fprintf(f, "%.8s", kl_id_is_zero(&x->snapshot) ? "-" :
			    hex);
			if (x->subject != NULL) {
				fputs(" of ", f);
				t_put(f, x->subject);
			}
			if (x->rto_s >= 0)
				rep_secs(s, sizeof(s), x->rto_s);
			fprintf(f, " / %s%s", x->rto_s >= 0 &&
			    !x->rto_measured ? "est. " : "", x->rto_s >= 0 ?
			    s : "-");
		}
		if (x->error != NULL) {
			fputs(strcmp(kind, "backup") == 0 ? " / " : "  ", f);
			t_put(f, x->error);
		}
		fputc('\n', f);
	}
	if (n == 0)
		fputs("  none in the period\n", f);
	if (imported > 0)
		fputs("  * from a run record in the repository: host and times "
		    "as its writer says\n", f);
}

static void
t_last(FILE *f, const struct rep_run *x, const char *what)
{
	char a[32], s[32];

	if (x == NULL) {
		fprintf(f, "  last %s: none has run from this machine\n", what);
		return;
	}
	rep_time_local(a, sizeof(a), x->start);
	fprintf(f, "  last %s: %s, exit code %d", what, a, x->exit_code);
	if (strcmp(x->kind, "check") == 0)
		fprintf(f, ", %llu finding%s", (unsigned long long)x->findings,
		    x->findings == 1 ? "" : "s");
	else if (x->rto_s >= 0) {
		rep_secs(s, sizeof(s), x->rto_s);
		fprintf(f, ", %s recovery time %s%s", x->rto_measured ?
		    "measured" : "estimated", s, x->rto_measured ? "" :
		    " (extrapolated from the sample)");
	}
	fputc('\n', f);
}

static void
t_rules(FILE *f, const struct kl_report *rep)
{
	char b[32], v[32], d[32];

	rep_span(b, sizeof(b), rep->o.backup_max_age);
	rep_span(v, sizeof(v), rep->o.verify_max_age);
	rep_span(d, sizeof(d), rep->o.drill_max_age);
	fprintf(f, "\nHOW THE VERDICT IS MADE\n"
	    "  FAILED:  a host without a successful backup in %s, or without "
	    "any;\n           the last check found problems; a pack file "
	    "failed its last\n           verification; the last restore drill "
	    "failed; repository files\n           could not be read.\n"
	    "  WARNING: failed or partial backup runs in the period; the last "
	    "check did\n           not complete; data not verified within %s; "
	    "no restore drill\n           within %s; snapshots vanished from "
	    "the repository; no snapshot.\n  OK:      none of these.\n", b, v,
	    d);
}

int
rep_write_text(const struct kl_report *rep, FILE *f)
{
	int hw = host_width(rep);
	size_t i;

	t_head(f, rep);
	fprintf(f, "\nHOSTS (%zu; %llu snapshots", rep->nhosts,
	    (unsigned long long)rep->snapshots);
	if (rep->vanished > 0)
		fprintf(f, "; %llu vanished",
		    (unsigned long long)rep->vanished);
	fputs(")\n", f);
	for (i = 0; i < rep->nhosts; i++)
		t_host(f, rep, &rep->hosts[i]);
	t_verification(f, rep);
	fputs("\nCHECKS\n", f);
	t_last(f, rep->last_check, "check");
	t_runs(f, rep, "check", hw);
	fputs("\nRESTORE DRILLS\n", f);
	t_last(f, rep->last_drill, "drill");
	t_runs(f, rep, "drill", hw);
	fputs("\nBACKUP RUNS IN THE PERIOD\n", f);
	t_runs(f, rep, "backup", hw);
	t_rules(f, rep);
	return ferror(f) ? KL_E_IO : KL_OK;
}
