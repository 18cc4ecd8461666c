/*
 * Unit tests of restore-tools/report*.c: every verdict rule of
 * docs/COMPLIANCE.md "Verdict" on a catalog filled directly (snapshots,
 * runs of every kind, pack verifications), the effective time of
 * snapshots, KLUIS_REPORT_NOW-style evaluation in the past, the escaping
 * of hostile host names in all three formats, and run details that are
 * truncated or bit-flipped (mutate.h: never a crash, never invalid JSON
 * copied through).
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"
#include "kluis/report.h"
#include "mutate.h"

#define NOW ((int64_t)1790000000)
#define H ((int64_t)3600)
#define D ((int64_t)86400)

struct fx {
	char dir[64];
	struct kl_id repo;
	struct kl_cat *c;
	uint32_t seq;
};

static struct kl_id
mkid(uint32_t tag, uint32_t n)
{
	uint8_t in[8];
	struct kl_id id;

	kl_le32enc(in, tag);
	kl_le32enc(in + 4, n);
	kl_hash(in, sizeof(in), &id);
	return id;
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kl-report-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->repo = mkid(1, 1);
	assert_int_equal(kl_cat_open(f->dir, &f->repo, &f->c, NULL,
	    NULL), KL_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kl_cat_close(f->c);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* A snapshot of host with client time t and receive time recv. */
static void
snap(struct fx *f, const char *host, int64_t t, int64_t recv, uint64_t bytes)
{
	static char *paths[] = { "/srv" };
	struct kl_snapshot s;
	struct kl_id id = mkid(2, ++f->seq);

	memset(&s, 0, sizeof(s));
	s.time_s = t;
	s.tree = mkid(3, f->seq);
	s.hostname = (char *)host;
	s.username = "root";
	s.paths = paths;
	s.npaths = 1;
	s.files = 7;
	s.bytes = bytes;
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, recv, NULL), KL_OK);
}

#define VALS_MAX 16

/*
 * A run's details from spec: "key=Tvalue|key=Tvalue|...", T one of i
 * (integer), r (real), t (text), b (0 or 1); a key "list.N.field" is a
 * field of the N-th entry of list.  The texts point into buf (spec
 * copied); returns the number of values.
 */
static size_t
vals_parse(const char *spec, char *buf, size_t cap, struct kl_run_value *v)
{
	char *p, *next, *eq, *dot;
	size_t n = 0;

	if (spec == NULL)
		return 0;
	assert_true(strlen(spec) < cap);
	strcpy(buf, spec);
	for (p = buf; p != NULL && *p != '\0'; p = next) {
		if ((next = strchr(p, '|')) != NULL)
			*next++ = '\0';
		assert_true(n < VALS_MAX);
		assert_non_null(eq = strchr(p, '='));
		*eq++ = '\0';
		memset(&v[n], 0, sizeof(v[n]));
		v[n].key = p;
		if ((dot = strchr(p, '.')) != NULL) {
			*dot++ = '\0';
			v[n].item = (uint32_t)strtoul(dot, &dot, 10);
			assert_true(*dot == '.');
			v[n].field = dot + 1;
		}
		v[n].type = *eq == 'i' ? KL_RUN_INT : *eq == 'r' ? KL_RUN_REAL :
		    *eq == 't' ? KL_RUN_TEXT : KL_RUN_BOOL;
		if (v[n].type == KL_RUN_TEXT)
			v[n].s = eq + 1;
		else if (v[n].type == KL_RUN_REAL)
			v[n].r = strtod(eq + 1, NULL);
		else
			v[n].i = strtoll(eq + 1, NULL, 10);
		n++;
	}
	return n;
}

static void
run(struct fx *f, const char *kind, const char *host, int64_t start,
    int exit_code, uint64_t errors, const char *spec)
{
	struct kl_run_value v[VALS_MAX];
	struct kl_cat_run r;
	char buf[1024];
	size_t nv = vals_parse(spec, buf, sizeof(buf), v);

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.host = host;
	r.start_s = start;
	r.end_s = start + 90;
	r.exit_code = exit_code;
	r.errors = errors;
	r.bytes_added = 1000;
	r.v = v;
	r.nv = nv;
	assert_int_equal(kl_cat_run_add(f->c, &r, NULL), KL_OK);
}

/* n packs, verified at t (KL_CAT_TIME_NONE: never), ok or not. */
static void
packs(struct fx *f, uint32_t n, int64_t t, int ok)
{
	struct kl_blob_loc l;
	struct kl_id blob;
	uint32_t i;

	for (i = 0; i < n; i++) {
		memset(&l, 0, sizeof(l));
		l.pack = mkid(4, ++f->seq);
		l.type = KL_BLOB_TYPE_DATA;
		l.stored_len = 100;
		l.raw_len = 60;
		blob = mkid(5, f->seq);
		assert_true(kl_cat_blob_put(f->c, &blob, &l, KL_TRUST_OWN, 0,
		    NULL) >= 0);
		if (t != KL_CAT_TIME_NONE)
			assert_int_equal(kl_cat_pack_checked(f->c, &l.pack, t,
			    ok, NULL), KL_OK);
	}
}

/* A healthy repository: one host backed up an hour ago, every pack
 * verified yesterday, a clean check and a passed drill last week. */
static void
healthy(struct fx *f)
{
	snap(f, "web01", NOW - H, NOW - H, 5000);
	run(f, "backup", "web01", NOW - H - 90, 0, 0, NULL);
	packs(f, 3, NOW - D, 1);
	run(f, "check", "m", NOW - D, 0, 0, "findings=i0|subset=tall");
	run(f, "drill", "m", NOW - 7 * D, 0, 0,
	    "rto_s=r123.5|snapshot_host=tweb01");
}

/* The report as of now, period from since, in format fmt, as a
 * NUL-terminated string (free it). */
static char *
render_since(struct fx *f, int64_t now, int64_t since,
    enum kl_report_format fmt, enum kl_report_verdict *v)
{
	struct kl_report_opts o;
	struct kl_report *rep = NULL;
	char *data = NULL;
	size_t len = 0;
	FILE *m;

	memset(&o, 0, sizeof(o));
	o.repo_id = f->repo;
	o.machine = "m";
	o.generated = now;
	o.now = now;
	o.since = since;
	assert_int_equal(kl_report_collect(f->c, &o, &rep, NULL), KL_OK);
	if (v != NULL)
		*v = kl_report_verdict(rep);
	assert_non_null(m = open_memstream(&data, &len));
	assert_int_equal(kl_report_write(rep, fmt, m), KL_OK);
	assert_int_equal(fclose(m), 0);
	kl_report_free(rep);
	return data;
}

static char *
render(struct fx *f, int64_t now, enum kl_report_format fmt,
    enum kl_report_verdict *v)
{
	return render_since(f, now, now - KL_REPORT_PERIOD_S, fmt, v);
}

static int
has(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

/* The JSON report's reason codes, comma-separated, in *codes. */
static enum kl_report_verdict
verdict(struct fx *f, int64_t now, char *codes, size_t cap)
{
	enum kl_report_verdict v;
	char *j = render(f, now, KL_REPORT_JSON, &v), *p, *e;
	size_t n = 0;

	codes[0] = '\0';
	for (p = j; (p = strstr(p, "\"code\":\"")) != NULL; p = e) {
		p += 8;
		e = strchr(p, '"');
		assert_non_null(e);
		n += (size_t)snprintf(codes + n, cap - n, "%s%.*s",
		    n ? "," : "", (int)(e - p), p);
		assert_true(n < cap);
	}
	free(j);
	return v;
}

/* ---- the verdict ---- */

static void
test_empty_repository_warns(void **state)
{
	struct fx *f = *state;
	char codes[256];

	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "no_snapshots,drill_overdue");
}

static void
test_healthy_repository_is_ok(void **state)
{
	struct fx *f = *state;
	char codes[256], *j;

	healthy(f);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)), KL_REPORT_OK);
	assert_string_equal(codes, "");
	j = render(f, NOW, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"reasons\":[]"));
	assert_true(has(j, "\"rto_s\":123.500"));
	assert_true(has(j, "\"all_verified_since\":\""));
	assert_true(has(j, "\"detail\":{\"findings\":0,\"subset\":\"all\"}"));
	free(j);
}

static void
test_backup_older_than_48h_fails(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	snap(f, "db01", NOW - 47 * H, NOW - 47 * H, 1);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)), KL_REPORT_OK);
	assert_int_equal(verdict(f, NOW + 2 * H, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "backup_overdue");
}

static void
test_receive_time_wins_over_client_clock(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	/* the client claims now; the server received it three days ago */
	snap(f, "liar", NOW, NOW - 3 * D, 1);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "backup_overdue");
}

static void
test_client_time_without_receive_time(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	snap(f, "old", NOW - 3 * D, KL_CAT_TIME_NONE, 1);
	snap(f, "new", NOW - H, KL_CAT_TIME_NONE, 1);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "backup_overdue");
}

static void
test_absurd_times_are_clamped(void **state)
{
	struct fx *f = *state;
	char codes[256], *h;

	healthy(f);
	/* a server that claims a receive time before 1970; a run that ends
	 * at the end of time: no overflow (UBSan), an overdue backup */
	snap(f, "past", INT64_MAX, INT64_MIN + 1, 1);
	run(f, "backup", "past", INT64_MIN + 1, 1, 1, NULL);
	run(f, "backup", "web01", NOW - H, 0, 0, NULL);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "backup_overdue");
	h = render(f, NOW, KL_REPORT_HTML, NULL);
	assert_true(has(h, "1970-01-01"));
	free(h);
}

static void
test_host_with_only_failed_runs_fails(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	run(f, "backup", "db01", NOW - 2 * H, 1, 1,
	    "error=tdisk full");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "no_backup,backup_runs_failed");
}

static void
test_failed_runs_warn_only_in_the_period(void **state)
{
	struct fx *f = *state;
	char codes[256], *t;

	healthy(f);
	run(f, "backup", "web01", NOW - 40 * D, 1, 1, NULL);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)), KL_REPORT_OK);
	run(f, "backup", "web01", NOW - 3 * H, 1, 1,
	    "error=tno space");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "backup_runs_failed");
	t = render(f, NOW, KL_REPORT_TEXT, NULL);
	assert_true(has(t, "exit code 1: no space"));
	free(t);
}

static void
test_partial_runs_warn(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	run(f, "backup", "web01", NOW - 3 * H, 3, 2, NULL);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "backup_runs_partial");
}

static void
test_check_findings_fail(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	run(f, "check", "m", NOW - H, 1, 2, "findings=i2");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "check_findings");
}

static void
test_check_error_is_incomplete_not_a_finding(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	/* errors counts the error itself; the detail says: no findings */
	run(f, "check", "m", NOW - H, 11, 1, "findings=i0|error=tlocked");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "check_incomplete");
}

static void
test_later_clean_check_clears_findings(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	run(f, "check", "m", NOW - 2 * H, 1, 2, "findings=i2");
	run(f, "check", "m", NOW - H, 0, 0, "findings=i0");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)), KL_REPORT_OK);
}

static void
test_failed_pack_verification_fails(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	packs(f, 1, NOW - D, 0);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "packs_failed_verification");
}

static void
test_verification_overdue(void **state)
{
	struct fx *f = *state;
	char codes[256], *j;

	healthy(f);
	/* new packs since the last check: listed, no reason */
	packs(f, 2, KL_CAT_TIME_NONE, 0);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)), KL_REPORT_OK);
	j = render(f, NOW, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"never_verified\":2"));
	assert_true(has(j, "\"all_verified_since\":null"));
	free(j);
	/* packs last verified 40 days ago: the rotation does not keep up */
	packs(f, 1, NOW - 40 * D, 1);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "verification_overdue");
	/* and nothing at all verified within 31 days, seen later */
	assert_int_equal(verdict(f, NOW + 32 * D, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_true(has(codes, "verification_overdue"));
}

static void
test_never_verified_warns(void **state)
{
	struct fx *f = *state;
	char codes[256];

	snap(f, "web01", NOW - H, NOW - H, 1);
	packs(f, 2, KL_CAT_TIME_NONE, 0);
	run(f, "drill", "m", NOW - D, 0, 0, "rto_s=i1");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "verification_overdue");
}

static void
test_drill_failed_fails(void **state)
{
	struct fx *f = *state;
	char codes[256];

	healthy(f);
	run(f, "drill", "m", NOW - H, 1, 3, "rto_s=r5");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_FAILED);
	assert_string_equal(codes, "drill_failed");
}

static void
test_drill_older_than_35_days_warns(void **state)
{
	struct fx *f = *state;
	char codes[256];

	snap(f, "web01", NOW - H, NOW - H, 1);
	packs(f, 1, NOW - D, 1);
	run(f, "drill", "m", NOW - 36 * D, 0, 0, "rto_s=i5");
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "drill_overdue");
}

static void
test_vanished_snapshots_warn(void **state)
{
	struct fx *f = *state;
	struct kl_id keep = mkid(2, 1);
	char codes[256];

	healthy(f);		/* its snapshot is mkid(2, 1) */
	snap(f, "web01", NOW - 2 * H, NOW - 2 * H, 1);
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, &keep, 1, NULL, NULL),
	    KL_OK);
	assert_int_equal(verdict(f, NOW, codes, sizeof(codes)),
	    KL_REPORT_WARNING);
	assert_string_equal(codes, "snapshots_vanished");
}

static void
test_as_of_the_past_leaves_later_records_out(void **state)
{
	struct fx *f = *state;
	char *j;

	healthy(f);
	snap(f, "web01", NOW - 10 * D, NOW - 10 * D, 1);
	run(f, "backup", "web01", NOW - 10 * D, 1, 1, NULL);
	/* as of 5 days ago: one snapshot, the check and the drill not yet */
	j = render(f, NOW - 5 * D, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"snapshots\":1,"));
	assert_true(has(j, "\"checks\":{\"last\":null"));
	assert_true(has(j, "\"last_backup_age_s\":432000"));
	assert_true(has(j, "\"verified\":0,"));
	free(j);
}

static void
test_collect_refuses_since_after_now(void **state)
{
	struct fx *f = *state;
	struct kl_report_opts o;
	struct kl_report *rep = (struct kl_report *)&o;

	memset(&o, 0, sizeof(o));
	o.now = NOW;
	o.since = NOW + 1;
	assert_int_equal(kl_report_collect(f->c, &o, &rep, NULL), KL_E_INVAL);
	assert_null(rep);
}

/* ---- escaping ---- */

#define EVIL "<script>alert(1)</script>&\"'\n\x01\xff"

static void
test_hostile_host_names_are_escaped(void **state)
{
	struct fx *f = *state;
	char *h, *t, *j;

	healthy(f);
	snap(f, EVIL, NOW - H, NOW - H, 1);
	run(f, "backup", EVIL, NOW - 2 * H, 1, 1,
	    "error=t<img src=x onerror=alert(2)>");
	h = render(f, NOW, KL_REPORT_HTML, NULL);
	assert_false(has(h, "<script"));
	assert_false(has(h, "<img"));
	assert_true(has(h, "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;"
	    "&#39;\n&#xFFFD;&#xFFFD;"));
	assert_true(has(h, "&lt;img src=x onerror=alert(2)&gt;"));
	assert_true(has(h, "<svg"));
	/* the one URL: the SVG namespace, which is never fetched */
	assert_false(has(h, "http") && !has(h, "http://www.w3.org/2000/svg"));
	t = render(f, NOW, KL_REPORT_TEXT, NULL);
	assert_true(has(t, "<script>alert(1)</script>&\"'\\x0a\\x01\\xff"));
	j = render(f, NOW, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"host\":\"<script>alert(1)</script>&\\\"'"
	    "\\u000a\\u0001\\u00ff\""));
	free(h);
	free(t);
	free(j);
}

static void
test_html_loads_nothing(void **state)
{
	struct fx *f = *state;
	const char *bad[] = { "<script", "<link", "<img", "<iframe", "src=",
	    "href=", "url(", "@import" };
	char *h;
	size_t i;

	healthy(f);
	h = render(f, NOW, KL_REPORT_HTML, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(has(h, bad[i]));
	assert_true(has(h, "@page{size:A4"));
	assert_true(has(h, "<polyline"));
	free(h);
}

/* ---- run details ---- */

/* Every kind of value and a list; a text with quotes, a backslash and
 * UTF-8. */
static const char vals_ok[] = "findings=i3|subset=t2/5|rto_s=i42|"
    "ok=b1|cov=r0.25|error=tbad \"pack\" \xc3\xa9\xf0\x9f\x98\x80 \\ end|"
    "m.1.path=t/a|m.1.n=i7|m.2.path=t/b";

static void
test_detail_values_are_read_and_written(void **state)
{
	struct fx *f = *state;
	char *j, *t;

	healthy(f);
	run(f, "drill", "m", NOW - H, 0, 0, vals_ok);
	run(f, "check", "m", NOW - H, 1, 9, vals_ok);
	j = render(f, NOW, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"rto_s\":42.000"));
	assert_true(has(j, "\"findings\":3,"));
	assert_true(has(j, "\"error\":\"bad \\\"pack\\\" "
	    "\xc3\xa9\xf0\x9f\x98\x80 \\\\ end\""));
	/* all of them, in order, as the run's detail */
	assert_true(has(j, "\"detail\":{\"findings\":3,\"subset\":\"2/5\","
	    "\"rto_s\":42,\"ok\":true,\"cov\":0.25,\"error\":\"bad \\\"pack"
	    "\\\" \xc3\xa9\xf0\x9f\x98\x80 \\\\ end\",\"m\":[{\"path\":"
	    "\"/a\",\"n\":7},{\"path\":\"/b\"}]}"));
	t = render(f, NOW, KL_REPORT_TEXT, NULL);
	assert_true(has(t, "2/5 / 3"));
	free(j);
	free(t);
}

static void
test_detail_not_utf8_is_escaped(void **state)
{
	struct fx *f = *state;
	char *j;

	run(f, "check", "m", NOW - H, 0, 0, "subset=t\xff\x01");
	j = render(f, NOW, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"detail\":{\"subset\":\"\\u00ff\\u0001\"}"));
	free(j);
}

static void
test_run_without_details_has_null_detail(void **state)
{
	struct fx *f = *state;
	char *j;

	run(f, "check", "m", NOW - H, 0, 0, NULL);
	j = render(f, NOW, KL_REPORT_JSON, NULL);
	assert_true(has(j, "\"detail\":null"));
	free(j);
}

struct dctx {
	struct fx *f;
	int n;
};

/* 1 if s holds a byte JSON may not carry raw (a control byte). */
static int
has_raw_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n')
			return 1;
	return 0;
}

/*
 * Records a check whose subset and error are p (an edited catalog holds
 * any bytes) and renders every format: the JSON carries them escaped,
 * never a raw control byte, and the text and HTML reports come out.
 */
static int
detail_hostile(const uint8_t *p, size_t len, void *arg)
{
	struct dctx *x = arg;
	struct kl_run_value v[2];
	struct kl_cat_run r;
	char *d = malloc(len + 1), *j, *t, *h;

	assert_non_null(d);
	memcpy(d, p, len);
	d[len] = '\0';
	memset(&r, 0, sizeof(r));
	memset(v, 0, sizeof(v));
	v[0].key = "subset";
	v[1].key = "error";
	v[0].type = v[1].type = KL_RUN_TEXT;
	v[0].s = v[1].s = d;
	r.kind = "check";
	r.host = "m";
	/* the period holds the newest run only: the tables stay short */
	r.start_s = r.end_s = NOW - 100000 + x->n;
	r.exit_code = 1;
	r.errors = 1;
	r.v = v;
	r.nv = 2;
	assert_int_equal(kl_cat_run_add(x->f->c, &r, NULL), KL_OK);
	j = render_since(x->f, NOW, r.start_s, KL_REPORT_JSON, NULL);
	t = render_since(x->f, NOW, r.start_s, KL_REPORT_TEXT, NULL);
	h = render_since(x->f, NOW, r.start_s, KL_REPORT_HTML, NULL);
	x->n++;
	assert_non_null(strstr(j, "\"detail\":{\"subset\":\""));
	assert_false(has_raw_control(j));
	assert_false(has_raw_control(t));
	free(j);
	free(t);
	free(h);
	free(d);
	return 0;
}

/* Every bit of a text with quotes, escapes, UTF-8 and controls flipped,
 * and every prefix: the report stays whole and escaped. */
static void
test_hostile_detail_texts_never_break_the_report(void **state)
{
	static const char text[] = "\"\\\xc3\xa9\xf0\x9f\x98\x80<a>\x1b[2J\x7f";
	struct dctx x = { *state, 0 };
	size_t flips_ok = 0;

	/* every one is recorded and rendered (detail_hostile asserts) */
	assert_int_equal(mutate_run((const uint8_t *)text, strlen(text),
	    detail_hostile, &x, &flips_ok), strlen(text));
	assert_int_equal(flips_ok, 8 * strlen(text));
}

static void
test_write_unknown_format(void **state)
{
	struct fx *f = *state;
	struct kl_report_opts o;
	struct kl_report *rep = NULL;

	memset(&o, 0, sizeof(o));
	o.now = o.generated = NOW;
	o.since = NOW - D;
	assert_int_equal(kl_report_collect(f->c, &o, &rep, NULL), KL_OK);
	assert_int_equal(kl_report_write(rep, (enum kl_report_format)7,
	    stdout), KL_E_INVAL);
	kl_report_free(rep);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_repository_warns),
		T(test_healthy_repository_is_ok),
		T(test_backup_older_than_48h_fails),
		T(test_receive_time_wins_over_client_clock),
		T(test_client_time_without_receive_time),
		T(test_absurd_times_are_clamped),
		T(test_host_with_only_failed_runs_fails),
		T(test_failed_runs_warn_only_in_the_period),
		T(test_partial_runs_warn),
		T(test_check_findings_fail),
		T(test_check_error_is_incomplete_not_a_finding),
		T(test_later_clean_check_clears_findings),
		T(test_failed_pack_verification_fails),
		T(test_verification_overdue),
		T(test_never_verified_warns),
		T(test_drill_failed_fails),
		T(test_drill_older_than_35_days_warns),
		T(test_vanished_snapshots_warn),
		T(test_as_of_the_past_leaves_later_records_out),
		T(test_collect_refuses_since_after_now),
		T(test_hostile_host_names_are_escaped),
		T(test_html_loads_nothing),
		T(test_detail_values_are_read_and_written),
		T(test_detail_not_utf8_is_escaped),
		T(test_run_without_details_has_null_detail),
		T(test_hostile_detail_texts_never_break_the_report),
		T(test_write_unknown_format),
	};

	/* local times in the output: the same wherever the test runs */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
