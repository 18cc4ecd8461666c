/*
 * The report as one self-contained HTML page: inline CSS, inline SVG
 * charts, no script, no external resource of any kind, so that an auditor
 * can open it offline years later and print it on A4.
 *
 * Host names, error messages and run details come from the repository and
 * the catalog and are attacker-influenced: every one goes through h_esc,
 * which writes character references for the five HTML specials and
 * U+FFFD for control bytes and bytes that are not UTF-8.  Nothing else is
 * written unescaped but this file's own constants and numbers.
 */
#include <string.h>
#include <time.h>

#include "kluis/err.h"
#include "report_internal.h"

/* Chart geometry, in SVG user units. */
#define CH_W 760
#define CH_H 250
#define CH_L 78		/* left margin: y labels */
#define CH_R 16
#define CH_T 14
#define CH_B 36		/* bottom margin: x labels */
#define CH_XTICKS 6
#define CH_YTICKS 4
#define PALETTE_N 8
#define H_NAME_CHUNK 256
#define H_NAME_NOWRAP 40

static const char *const palette[PALETTE_N] = {
	"#1f6fb2", "#e07b00", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d",
	"#b8860b", "#17a2b8",
};

static void
h_esc(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = strlen(s), l;

	while (i < n) {
		switch (p[i]) {
		case '&': fputs("&amp;", f); i++; continue;
		case '<': fputs("&lt;", f); i++; continue;
		case '>': fputs("&gt;", f); i++; continue;
		case '"': fputs("&quot;", f); i++; continue;
		case '\'': fputs("&#39;", f); i++; continue;
		}
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') ||
		    p[i] == 0x7f || (l = kl_utf8_len(p + i, n - i)) == 0) {
			fputs("&#xFFFD;", f);
			i++;
			continue;
		}
		fwrite(p + i, 1, l, f);
		i += l;
	}
}

/* A host name in a table cell: escaped, with a line break opportunity
 * after each '.', '-' and '_' so that long names wrap between labels. */
static void
h_host(FILE *f, const char *s)
{
	const char *p;
	char part[H_NAME_CHUNK + 1];
	size_t n;

	if (strlen(s) <= H_NAME_NOWRAP) {
		h_esc(f, s);	/* class nw: on one line (see host_class) */
		return;
	}
	for (p = s; *p != '\0'; p += n) {
		n = strcspn(p, ".-_");
		n += p[n] != '\0';
		if (n > H_NAME_CHUNK)
			n = H_NAME_CHUNK;
		memcpy(part, p, n);
		part[n] = '\0';
		h_esc(f, part);
		if (strchr(".-_", p[n - 1]) != NULL)
			fputs("<wbr>", f);
	}
}

/* Usual host names stay on one line; long ones wrap between labels. */
static const char *
host_class(const char *name)
{
	return strlen(name) <= H_NAME_NOWRAP ? "h nw" : "h";
}

static const char *
verdict_class(enum kl_report_verdict v)
{
	return v == KL_REPORT_OK ? "ok" : v == KL_REPORT_WARNING ? "warn" :
	    "fail";
}

static size_t
host_index(const struct kl_report *rep, const char *host)
{
	size_t i;

	for (i = 0; i < rep->nhosts; i++)
		if (strcmp(rep->hosts[i].name, host) == 0)
			return i;
	return 0;
}

static const char *
host_color(const struct kl_report *rep, const char *host)
{
	return palette[host_index(rep, host) % PALETTE_N];
}

static const char css[] =
    "*{box-sizing:border-box}"
    "body{font-family:\"DejaVu Sans\",\"Liberation Sans\",Arial,sans-serif;"
    "font-size:13px;color:#1d2125;margin:0 auto;max-width:1060px;"
    "padding:24px;line-height:1.4}"
    "h1{font-size:22px;margin:0 0 4px}"
    "h2{font-size:16px;margin:26px 0 8px;padding-bottom:3px;"
    "border-bottom:2px solid #d5dbe1}"
    "h3{font-size:13px;margin:14px 0 4px}"
    "code,.mono{font-family:\"DejaVu Sans Mono\",\"Liberation Mono\","
    "monospace;font-size:12px}"
    ".meta{border-collapse:collapse;margin:6px 0}"
    ".meta th{text-align:left;font-weight:600;padding:1px 14px 1px 0;"
    "vertical-align:top;white-space:nowrap}"
    ".meta td{padding:1px 0;overflow-wrap:anywhere}"
    ".verdict{border-radius:6px;padding:10px 16px;margin:16px 0;"
    "border:2px solid}"
    ".verdict h2{border:0;margin:0 0 4px;font-size:20px}"
    ".verdict ul{margin:4px 0 0;padding-left:20px}"
    ".verdict.ok{background:#e6f4ea;border-color:#2e7d32;color:#1b5e20}"
    ".verdict.warn{background:#fff4e0;border-color:#e08a00;color:#6d4300}"
    ".verdict.fail{background:#fdecea;border-color:#c62828;"
    "color:#8e1b1b}"
    ".tag{display:inline-block;min-width:64px;text-align:center;"
    "font-size:11px;font-weight:700;border-radius:3px;padding:0 4px;"
    "margin-right:6px;color:#fff}"
    ".tag.ok{background:#2e7d32}.tag.warn{background:#e08a00}"
    ".tag.fail{background:#c62828}"
    "table.data{border-collapse:collapse;width:100%;margin:4px 0 8px}"
    "table.data th,table.data td{border:1px solid #d5dbe1;"
    "padding:3px 6px;text-align:left;vertical-align:top}"
    "table.data th{background:#eef1f4;font-weight:600}"
    "table.data td.n{text-align:right;white-space:nowrap}"
    "table.data td.t{white-space:nowrap}"
    "table.data td.h{overflow-wrap:break-word;min-width:8em}"
    "table.data td.nw{white-space:nowrap}"
    "table.data td.e{overflow-wrap:anywhere}"
    "tr.failed td{background:#fdecea}tr.partial td{background:#fff4e0}"
    ".note{color:#555;font-size:12px;margin:4px 0}"
    ".swatch{display:inline-block;width:10px;height:10px;"
    "border-radius:2px;margin-right:4px;vertical-align:baseline}"
    ".legend span.item{margin-right:14px;display:inline-block;"
    "max-width:100%;overflow-wrap:anywhere}"
    ".bar{background:#e4e8ec;border-radius:3px;height:10px;width:160px;"
    "display:inline-block;vertical-align:middle;overflow:hidden}"
    ".bar i{display:block;height:100%;background:#2e7d32}"
    "svg{display:block;width:100%;max-width:860px;height:auto}"
    "svg text{font-family:\"DejaVu Sans\",Arial,sans-serif;font-size:11px;"
    "fill:#333}"
    "footer{margin-top:28px;color:#555;font-size:11px;"
    "border-top:1px solid #d5dbe1;padding-top:6px}"
    "@page{size:A4;margin:14mm 12mm}"
    "@media print{body{max-width:none;padding:0;font-size:10px}"
    "h2{break-after:avoid}section{break-inside:avoid}"
    "table.data{break-inside:auto}tr{break-inside:avoid}"
    "thead{display:table-header-group}footer{break-inside:avoid}"
    "code,.mono{font-size:9px}"
    ".verdict,.tag,tr.failed td,tr.partial td,.bar,.bar i,.swatch,td.h"
    "{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

static void
h_time(FILE *f, int64_t t)
{
	char b[32];

	rep_time_local(b, sizeof(b), t);
	fputs(b, f);
}

static void
h_head(FILE *f, const struct kl_report *rep)
{
	char hex[KL_ID_HEX_LEN + 1], zone[64], b[32];
	struct tm tm;
	time_t t = (time_t)rep->o.generated;

	kl_id_hex(&rep->o.repo_id, hex);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(zone, sizeof(zone), "local time: %Z, UTC%z", &tm) == 0)
		snprintf(zone, sizeof(zone), "local time");
	rep_time_local(b, sizeof(b), rep->o.generated);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n"
	    "<title>kluis backup report %.8s %s</title>\n<style>%s</style>\n"
	    "</head>\n<body>\n<header>\n<h1>Backup report</h1>\n"
	    "<table class=\"meta\">\n<tr><th>Repository</th><td><code>%s"
	    "</code></td></tr>\n<tr><th>Generated</th><td>%s (%s)"
	    "</td></tr>\n", hex, b, css, hex, b, zone);
	if (rep->o.now != rep->o.generated) {
		fputs("<tr><th>Evaluated as of</th><td>", f);
		h_time(f, rep->o.now);
		fputs(" (KLUIS_REPORT_NOW)</td></tr>\n", f);
	}
	fputs("<tr><th>Period</th><td>", f);
	h_time(f, rep->o.since);
	fputs(" &ndash; ", f);
	h_time(f, rep->o.now);
	fputs("</td></tr>\n<tr><th>Run history</th><td>from this machine (",
	    f);
	h_esc(f, rep->machine);
	fputs(") and from the run records of every client in the "
	    "repository (marked &quot;record&quot;). Snapshots are the "
	    "repository&#39;s own."
	    "</td></tr>\n</table>\n</header>\n", f);
}

static void
h_verdict(FILE *f, const struct kl_report *rep)
{
	size_t i;

	fprintf(f, "<section class=\"verdict %s\">\n<h2>Verdict: %s</h2>\n",
	    verdict_class(rep->verdict), kl_report_verdict_name(rep->verdict));
	if (rep->nreasons == 0)
		fputs("<p>Every rule is met (see &ldquo;How the verdict is "
		    "made&rdquo; below).</p>\n", f);
	else
		fputs("<ul>\n", f);
	for (i = 0; i < rep->nreasons; i++) {
		fprintf(f, "<li><span class=\"tag %s\">%s</span>",
		    verdict_class(rep->reasons[i].level),
		    kl_report_verdict_name(rep->reasons[i].level));
		h_esc(f, rep->reasons[i].msg);
		fputs("</li>\n", f);
	}
	if (rep->nreasons > 0)
		fputs("</ul>\n", f);
	fputs("</section>\n", f);
}

static void
h_hosts(FILE *f, const struct kl_report *rep)
{
	const struct rep_host *h;
	char hex[KL_ID_HEX_LEN + 1], a[32], b[32];
	size_t i;

	fprintf(f, "<section>\n<h2>Hosts</h2>\n<p class=\"note\">%zu "
	    "host%s, %llu snapshot%s in the repository", rep->nhosts,
	    rep->nhosts == 1 ? "" : "s", (unsigned long long)rep->snapshots,
	    rep->snapshots == 1 ? "" : "s");
	if (rep->vanished > 0)
		fprintf(f, "; %llu known snapshot%s vanished",
		    (unsigned long long)rep->vanished,
		    rep->vanished == 1 ? "" : "s");
	fputs(". Runs, failures and added bytes are from the run history "
	    "(this machine&#39;s runs and the run records), in the period."
	    "</p>\n<table class=\"data\">\n"
	    "<thead><tr><th>Host</th><th>Snapshots</th><th>First backup</th>"
	    "<th>Last successful backup</th><th>Age</th><th>Latest snapshot"
	    "</th><th>Size</th><th>Files</th><th>Runs ok / partial / failed"
	    "</th><th>Added</th></tr></thead>\n<tbody>\n", f);
	for (i = 0; i < rep->nhosts; i++) {
		h = &rep->hosts[i];
		/* the chart colour as the cell's left border: an inline
		 * swatch would wrap apart from the name */
		fprintf(f, "<tr%s><td class=\"%s\" style=\"border-left:6px "
		    "solid %s\">", h->retired == REP_TIME_NONE &&
		    (h->snapshots == 0 ||
		    rep->o.now - h->last > rep->o.backup_max_age) ?
		    " class=\"failed\"" : h->failed > 0 ? " class=\"partial\"" :
		    "", host_class(h->name), palette[i % PALETTE_N]);
		h_host(f, h->name);
		if (h->retired != REP_TIME_NONE)
			fputs(" (retired)", f);
		fprintf(f, "</td><td class=\"n\">%llu</td><td class=\"t\">",
		    (unsigned long long)h->snapshots);
		rep_time_local(a, sizeof(a), h->first);
		a[10] = '\0';		/* the date is enough here */
		fputs(a, f);
		fputs("</td><td class=\"t\">", f);
		h_time(f, h->last);
		if (h->last != REP_TIME_NONE) {
			kl_id_hex(&h->last_id, hex);
			rep_age(a, sizeof(a), rep->o.now - h->last);
			rep_bytes(b, sizeof(b), h->last_bytes);
		} else {
			snprintf(hex, sizeof(hex), "-");
			snprintf(a, sizeof(a), "-");
			snprintf(b, sizeof(b), "-");
		}
		fprintf(f, "</td><td class=\"n\">%s</td><td><code>%.8s</code>"
		    "</td><td class=\"n\">%s</td><td class=\"n\">%llu</td>"
		    "<td class=\"n\">%llu / %llu / %llu</td>", a, hex, b,
		    (unsigned long long)h->last_files,
		    (unsigned long long)h->ok, (unsigned long long)h->partial,
		    (unsigned long long)h->failed);
		rep_bytes(b, sizeof(b), h->bytes_added);
		fprintf(f, "<td class=\"n\">%s</td></tr>\n", b);
	}
	if (rep->nhosts == 0)
		fputs("<tr><td colspan=\"10\">no snapshot and no backup run"
		    "</td></tr>\n", f);
	fputs("</tbody>\n</table>\n</section>\n", f);
}

/* ---- charts ---- */

struct axis {
	double lo, hi;		/* data range */
	double step;		/* tick step */
	double unit;		/* bytes: 1024^k of the labels */
};

/* A step of 1, 2 or 5 times a power of ten, near raw (no libm). */
static double
nice_step(double raw)
{
	double p = 1, m;

	if (!(raw > 0) || raw > 1e300)
		return 1;
	while (p * 10 <= raw)
		p *= 10;
	while (p > raw)
		p /= 10;
	m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* A step of durations that reads well: 1 s ... 30 min, 1 h ... 12 h, days. */
static double
time_step(double raw)
{
	static const double steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300,
	    600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400 };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i] >= raw)
			return steps[i];
	return 86400 * nice_step(raw / 86400);
}

static void
axis_y(struct axis *a, double max, int bytes)
{
	double k;

	a->unit = 1;
	if (bytes)
		while (max / a->unit >= 1024 && a->unit < 1e18)
			a->unit *= 1024;
	a->lo = 0;
	a->step = bytes ? nice_step(max / a->unit / CH_YTICKS) * a->unit :
	    time_step(max / CH_YTICKS);
	k = (double)(uint64_t)(max / a->step);
	if (k * a->step < max)
		k++;
	a->hi = k > 0 ? k * a->step : a->step;
}

static double
px_x(const struct kl_report *rep, int64_t t)
{
	double span = (double)(rep->o.now - rep->o.since);

	if (span <= 0)
		return CH_L;
	return CH_L + (double)(t - rep->o.since) / span *
	    (CH_W - CH_L - CH_R);
}

static double
px_y(const struct axis *a, double v)
{
	return CH_H - CH_B - (v - a->lo) / (a->hi - a->lo) *
	    (CH_H - CH_T - CH_B);
}

static void
y_label(char *out, size_t len, double v, int bytes)
{
	uint64_t n = (uint64_t)v;

	if (bytes)
		rep_bytes(out, len, n);
	else if (n > 0 && n % 86400 == 0)
		snprintf(out, len, "%llu d", (unsigned long long)(n / 86400));
	else if (n > 0 && n % 3600 == 0)
		snprintf(out, len, "%llu h", (unsigned long long)(n / 3600));
	else if (n > 0 && n % 60 == 0)
		snprintf(out, len, "%llu min", (unsigned long long)(n / 60));
	else
		snprintf(out, len, "%llu s", (unsigned long long)n);
}

static void
chart_axes(FILE *f, const struct kl_report *rep, const struct axis *a,
    int bytes, const char *title)
{
	char b[32];
	struct tm tm;
	time_t tt;
	double v, x;
	int i;
	int64_t span = rep->o.now - rep->o.since;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
	    "%d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">"
	    "\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
	    "fill=\"#fafbfc\" stroke=\"#c9d0d6\"/>\n", CH_W, CH_H, CH_W, CH_H,
	    title, CH_L, CH_T, CH_W - CH_L - CH_R, CH_H - CH_T - CH_B);
	for (v = a->lo; v <= a->hi + a->step / 2; v += a->step) {
		y_label(b, sizeof(b), v, bytes);
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
		    "stroke=\"#e1e5e9\"/><text x=\"%d\" y=\"%.1f\" "
		    "text-anchor=\"end\">%s</text>\n", CH_L, CH_W - CH_R,
		    px_y(a, v), px_y(a, v), CH_L - 6, px_y(a, v) + 4, b);
	}
	for (i = 0; i <= CH_XTICKS; i++) {
		tt = (time_t)(rep->o.since + span / CH_XTICKS * i);
		x = px_x(rep, (int64_t)tt);
		if (localtime_r(&tt, &tm) == NULL)
			continue;
		strftime(b, sizeof(b), span > 3 * 86400 ? "%Y-%m-%d" :
		    "%m-%d %H:%M", &tm);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
		    "stroke=\"#c9d0d6\"/><text x=\"%.1f\" y=\"%d\" "
		    "text-anchor=\"%s\">%s</text>\n", x, x, CH_H - CH_B,
		    CH_H - CH_B + 4, x, CH_H - CH_B + 17, i == 0 ? "start" :
		    i == CH_XTICKS ? "end" : "middle", b);
	}
}

static void
chart_sizes(FILE *f, const struct kl_report *rep)
{
	const struct rep_host *h;
	struct axis a;
	double max = 0;
	size_t i, j, n = 0;

	for (i = 0; i < rep->nhosts; i++)
		for (j = 0; j < rep->hosts[i].npts; j++, n++)
			if ((double)rep->hosts[i].pts[j].bytes > max)
				max = (double)rep->hosts[i].pts[j].bytes;
	fputs("<h3>Snapshot sizes (bytes of the backed-up files per "
	    "snapshot)</h3>\n", f);
	if (n == 0) {
		fputs("<p class=\"note\">No snapshot in the period.</p>\n", f);
		return;
	}
	axis_y(&a, max, 1);
	chart_axes(f, rep, &a, 1, "snapshot sizes over time");
	for (i = 0; i < rep->nhosts; i++) {
		h = &rep->hosts[i];
		if (h->npts == 0)
			continue;
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"2\" points=\"", palette[i % PALETTE_N]);
		for (j = 0; j < h->npts; j++)
			fprintf(f, "%s%.1f,%.1f", j ? " " : "",
			    px_x(rep, h->pts[j].t),
			    px_y(&a, (double)h->pts[j].bytes));
		fputs("\"/>\n", f);
		for (j = 0; j < h->npts; j++)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
			    "fill=\"%s\"/>\n", px_x(rep, h->pts[j].t),
			    px_y(&a, (double)h->pts[j].bytes),
			    palette[i % PALETTE_N]);
	}
	fputs("</svg>\n", f);
}

static void
chart_durations(FILE *f, const struct kl_report *rep)
{
	const struct rep_run *x;
	struct axis a;
	double max = 0, w, px, py;
	size_t i, n = 0;

	for (i = 0; i < rep->nruns; i++) {
		x = &rep->runs[i];
		if (!x->in_period || strcmp(x->kind, "backup") != 0)
			continue;
		n++;
		if ((double)(x->end - x->start) > max)
			max = (double)(x->end - x->start);
	}
	fputs("<h3>Backup run durations (the run history; failed "
	    "runs marked &#10005;)</h3>\n", f);
	if (n == 0) {
		fputs("<p class=\"note\">No backup run in the period.</p>\n",
		    f);
		return;
	}
	axis_y(&a, max < 10 ? 10 : max, 0);
	chart_axes(f, rep, &a, 0, "backup durations over time");
	w = (CH_W - CH_L - CH_R) / ((double)n * 1.6);
	w = w > 14 ? 14 : w < 2 ? 2 : w;
	for (i = 0; i < rep->nruns; i++) {
		x = &rep->runs[i];
		if (!x->in_period || strcmp(x->kind, "backup") != 0)
			continue;
		/* the hosts' bars side by side: nightly runs minutes apart
		 * would hide each other */
		px = px_x(rep, x->start) + ((double)host_index(rep, x->host) -
		    (double)(rep->nhosts - 1) / 2) * w;
		py = px_y(&a, (double)(x->end - x->start));
		/* a run under a second still shows */
		if (py > CH_H - CH_B - 2)
			py = CH_H - CH_B - 2;
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" fill=\"%s\"%s/>\n", px - w / 2, py, w,
		    CH_H - CH_B - py, host_color(rep, x->host),
		    x->state == REP_RUN_FAILED ? " fill-opacity=\"0.35\"" : "");
		if (x->state == REP_RUN_FAILED)
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" "
			    "text-anchor=\"middle\" style=\"fill:#c62828;"
			    "font-weight:700;font-size:13px\">&#10005;"
			    "</text>\n",
			    px, (double)(CH_H - CH_B - 4) < py - 3 ?
			    (double)(CH_H - CH_B - 4) : py - 3);
	}
	fputs("</svg>\n", f);
}

static void
h_charts(FILE *f, const struct kl_report *rep)
{
	size_t i;

	fputs("<section>\n<h2>Backups over time</h2>\n<p class=\"legend\">",
	    f);
	for (i = 0; i < rep->nhosts; i++) {
		fprintf(f, "<span class=\"item\"><span class=\"swatch\" "
		    "style=\"background:%s\"></span>", palette[i % PALETTE_N]);
		h_esc(f, rep->hosts[i].name);
		fputs("</span>", f);
	}
	fputs("</p>\n", f);
	chart_sizes(f, rep);
	chart_durations(f, rep);
	fputs("</section>\n", f);
}

/* ---- verification, checks, drills, runs ---- */

static void
h_verification(FILE *f, const struct kl_report *rep)
{
	double pct;
	size_t i;

	fprintf(f, "<section>\n<h2>Data verification</h2>\n<p class=\"note\">"
	    "Pack files read back and verified by <code>kluis check "
	    "--read-data</code> (or a rotating <code>--read-data-subset"
	    "</code>): every blob decrypted and its id recomputed.</p>\n"
	    "<table class=\"meta\">\n<tr><th>Pack files</th><td>%llu</td>"
	    "</tr>\n<tr><th>Verified</th><td>%llu (%.1f%%)</td></tr>\n"
	    "<tr><th>Never verified</th><td>%llu</td></tr>\n<tr><th>Failed "
	    "their last verification</th><td>%llu</td></tr>\n"
	    "<tr><th>All data verified since</th><td>",
	    (unsigned long long)rep->packs, (unsigned long long)rep->verified,
	    rep_pct(rep->verified, rep->packs), (unsigned long long)rep->never,
	    (unsigned long long)rep->bad);
	if (rep->never == 0 && rep->verified > 0)
		h_time(f, rep->oldest_verified);
	else
		fputs("&ndash; (not every pack file has been verified)", f);
	fputs("</td></tr>\n<tr><th>Newest verification</th><td>", f);
	h_time(f, rep->newest_verified);
	fputs("</td></tr>\n</table>\n<table class=\"data\" style=\"width:auto"
	    "\">\n<thead><tr><th>Verified within</th><th>Pack files</th>"
	    "<th colspan=\"2\">Coverage</th></tr></thead>\n<tbody>\n", f);
	for (i = 0; i < REP_COVER_N; i++) {
		pct = rep_pct(rep->within[i], rep->packs);
		fprintf(f, "<tr><td>%s</td><td class=\"n\">%llu</td><td "
		    "class=\"n\">%.1f%%</td><td><span class=\"bar\"><i "
		    "style=\"width:%.1f%%\"></i></span></td></tr>\n",
		    rep_cover_label(i), (unsigned long long)rep->within[i], pct,
		    pct);
	}
	fputs("</tbody>\n</table>\n</section>\n", f);
}

static void
h_run_cells(FILE *f, const struct rep_run *x)
{
	char d[32];

	fputs("<td class=\"t\">", f);
	h_time(f, x->start);
	fprintf(f, "</td><td class=\"%s\">", host_class(x->host));
	h_host(f, x->host);
	if (x->imported)	/* FORMAT.md §17: its writer's word */
		fputs(" <small title=\"from a run record in the repository: "
		    "host and times as its writer says\">(record)</small>", f);
	rep_age(d, sizeof(d), x->end - x->start);
	fprintf(f, "</td><td class=\"n\">%s</td><td class=\"n\">%d</td>", d,
	    x->exit_code);
}

static const char *
row_class(const struct rep_run *x)
{
	return x->state == REP_RUN_FAILED ? " class=\"failed\"" :
	    x->state == REP_RUN_PARTIAL ? " class=\"partial\"" : "";
}

static void
h_runs(FILE *f, const struct kl_report *rep, const char *kind)
{
	const struct rep_run *x;
	char s[32], hex[KL_ID_HEX_LEN + 1];
	int backup = strcmp(kind, "backup") == 0;
	int check = strcmp(kind, "check") == 0;
	size_t i, n = 0;

	for (i = 0; i < rep->nruns; i++) {
		x = &rep->runs[i];
		if (!x->in_period || strcmp(x->kind, kind) != 0)
			continue;
		if (n++ == 0)
			fprintf(f, "<table class=\"data\">\n<thead><tr><th>"
			    "Start</th><th>Host</th><th>Duration</th><th>Exit"
			    "</th>%s<th>Error</th></tr></thead>\n<tbody>\n",
			    backup ?
			    "<th>Snapshot</th><th>Files</th><th>Added</th>" :
			    check ? "<th>Data read</th><th>Findings</th>" :
			    "<th>Snapshot</th><th>Recovery time</th>");
		fprintf(f, "<tr%s>", row_class(x));
		h_run_cells(f, x);
		if (backup) {
			kl_id_hex(&x->snapshot, hex);
			rep_bytes(s, sizeof(s), x->bytes_added);
			fprintf(f, "<td><code>%.8s</code></td><td class=\"n\">"
			    "%llu</td><td class=\"n\">%s</td>",
			    kl_id_is_zero(&x->snapshot) ? "-" : hex,
			    (unsigned long long)x->files, s);
		} else if (check) {
			fputs("<td>", f);
			h_esc(f, x->subject ? x->subject : "-");
			fprintf(f, "</td><td class=\"n\">%llu</td>",
			    (unsigned long long)x->findings);
		} else {
			kl_id_hex(&x->snapshot, hex);
			fprintf(f, "<td><code>%.8s</code>",
			    kl_id_is_zero(&x->snapshot) ? "-" : hex);
			if (x->subject != NULL) {
				fputs(" of ", f);
				h_esc(f, x->subject);
			}
			fputs("</td>", f);
			if (x->rto_s >= 0)
				rep_secs(s, sizeof(s), x->rto_s);
			/* a sample's figure is an estimate, and says so */
			fprintf(f, "<td class=\"n\">%s%s</td>", x->rto_s >= 0 &&
			    !x->rto_measured ? "est. " : "", x->rto_s >= 0 ?
			    s : "-");
		}
		/* errors hold ids and paths without spaces: they must wrap */
		fputs("<td class=\"e\">", f);
		if (x->error != NULL)
			h_esc(f, x->error);
		fputs("</td></tr>\n", f);
	}
	if (n == 0)
		fputs("<p class=\"note\">None in the period.</p>\n", f);
	else
		fputs("</tbody>\n</table>\n", f);
}

static void
h_last(FILE *f, const struct rep_run *x, const char *what)
{
	char s[32];

	fputs("<p>", f);
	if (x == NULL) {
		fprintf(f, "No %s has run from this machine.</p>\n", what);
		return;
	}
	fprintf(f, "Last %s: <span class=\"tag %s\">%s</span>", what,
	    x->exit_code == 0 ? "ok" : "fail", x->exit_code == 0 ? "passed" :
	    "failed");
	h_time(f, x->start);
	fprintf(f, ", exit code %d", x->exit_code);
	if (strcmp(x->kind, "check") == 0)
		fprintf(f, ", %llu finding%s", (unsigned long long)x->findings,
		    x->findings == 1 ? "" : "s");
	else if (x->rto_s >= 0) {
		rep_secs(s, sizeof(s), x->rto_s);
		fprintf(f, ", %s recovery time <b>%s</b>", x->rto_measured ?
		    "measured" : "estimated", s);
		if (!x->rto_measured)
			fputs(" (extrapolated from the sample)", f);
	}
	fputs(".</p>\n", f);
}

static void
h_rules(FILE *f, const struct kl_report *rep)
{
	char b[32], v[32], d[32];

	rep_span(b, sizeof(b), rep->o.backup_max_age);
	rep_span(v, sizeof(v), rep->o.verify_max_age);
	rep_span(d, sizeof(d), rep->o.drill_max_age);
	fprintf(f, "<footer>\n<p><b>How the verdict is made.</b> FAILED: a "
	    "host without a successful backup in %s or without any; the last "
	    "check found problems; a pack file failed its last verification; "
	    "the last restore drill failed; repository files could not be "
	    "read. WARNING: failed or partial backup "
	    "runs in the period; the last check did not complete; data not "
	    "verified within %s (no verification, or pack files last verified "
	    "longer ago); no restore drill within %s; snapshots that vanished "
	    "from the repository; a repository without snapshots. Otherwise "
	    "OK. Backup times are the server&#39;s receive times where the "
	    "repository provides them.</p>\n<p>Generated by kluis report "
	    "(JSON schema %d). This page is self-contained: it loads nothing."
	    "</p>\n</footer>\n", b, v, d, KL_REPORT_SCHEMA);
}

int
rep_write_html(const struct kl_report *rep, FILE *f)
{
	h_head(f, rep);
	h_verdict(f, rep);
	h_hosts(f, rep);
	h_charts(f, rep);
	h_verification(f, rep);
	fputs("<section>\n<h2>Checks</h2>\n", f);
	h_last(f, rep->last_check, "check");
	h_runs(f, rep, "check");
	fputs("</section>\n<section>\n<h2>Restore drills</h2>\n", f);
	h_last(f, rep->last_drill, "drill");
	h_runs(f, rep, "drill");
	fputs("</section>\n<section>\n<h2>Backup runs in the period</h2>\n",
	    f);
	h_runs(f, rep, "backup");
	fputs("</section>\n", f);
	h_rules(f, rep);
	fputs("</body>\n</html>\n", f);
	return ferror(f) ? KL_E_IO : KL_OK;
}
