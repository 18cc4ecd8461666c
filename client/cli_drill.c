/*
 * kluis drill: a restore drill of one snapshot (docs/CLI.md "kluis drill",
 * docs/COMPLIANCE.md "Restore drills").  The drill itself is
 * restore-tools' kl_drill_run; this file picks and guards the scratch
 * directory, removes it on every way out (a signal too), records the run
 * in the catalog and reports.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kluis/catalog.h"
#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/grow.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "cli.h"

/* Mismatches kept for the JSON report (all are counted and printed). */
#define DRILL_LISTED_MAX 1000
/* Mismatches copied into the catalog's run record. */
#define DRILL_RECORDED_MAX 20
/* its details: 17 values and 3 per mismatch recorded */
_Static_assert(17 + 3 * DRILL_RECORDED_MAX <= CLI_RUN_VALUES,
    "a drill's details fit struct cli_run");

struct mism {
	char *path, *field, *detail;
};

struct drillcli {
	struct cli *c;
	struct mism *v;
	size_t n, cap;
	char scratch[PATH_MAX];	/* made by this drill, removed with all in it */
	int create;		/* --target absent: made by mkdir */
	int have_dir;		/* scratch exists and holds our data */
};

/* What the signal thread removes; written before it starts. */
static const char *sig_scratch;
static volatile sig_atomic_t dying;	/* findings are noise from now on */

static void
on_finding(void *arg, const char *path, const char *field, const char *detail)
{
	struct drillcli *x = arg;
	struct mism *m;

	if (dying)
		return;
	if (!x->c->json) {
		fprintf(stderr, "%s: drill: ", x->c->prog);
		cli_puts(stderr, path);
		fputs(": ", stderr);
		cli_puts(stderr, field);
		fputs(": ", stderr);
		cli_puts(stderr, detail);
		fputc('\n', stderr);
	}
	if (x->n == DRILL_LISTED_MAX)
		return;
	if (KL_GROW(x->v, x->cap, x->n + 1) != KL_OK)
		return;
	m = &x->v[x->n];
	m->path = strdup(path);
	m->field = strdup(field);
	m->detail = strdup(detail);
	if (m->path == NULL || m->field == NULL || m->detail == NULL) {
		free(m->path);
		free(m->field);
		free(m->detail);
		return;
	}
	x->n++;
}

static void
mism_free(struct drillcli *x)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		free(x->v[i].path);
		free(x->v[i].field);
		free(x->v[i].detail);
	}
	free(x->v);
}

/* "N" files or "P%" (0 < P <= 100) of them. */
static int
sample_parse(const char *s, struct kl_drill_opts *o)
{
	unsigned long long n;
	size_t l = s != NULL ? strlen(s) : 0;
	char *end;
	double p;

	if (s == NULL)
		return 0;
	if (l < 1 || ((*s < '0' || *s > '9') && *s != '.'))
		return -1;
	errno = 0;
	if (s[l - 1] == '%') {
		p = strtod(s, &end);
		if (end != s + l - 1 || errno != 0 || !(p > 0 && p <= 100))
			return -1;
		o->share = p / 100;
		return 0;
	}
	n = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || n == 0)
		return -1;
	o->files = n;
	return 0;
}

static int
dir_empty(const char *path)
{
	struct dirent *de;
	DIR *d;
	int empty = 1;

	if ((d = opendir(path)) == NULL)
		return -1;
	while (empty && (de = readdir(d)) != NULL)
		empty = strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/*
 * --target must be absent (made, and removed afterwards) or an empty
 * directory (the drill works in a new directory inside it, removed
 * afterwards): a drill removes what it restored, so it must never be
 * pointed at data.  Checked before the repository is opened.
 */
static int
target_check(struct drillcli *x)
{
	const char *t = x->c->target;
	struct stat st;
	int e;

	if (strlen(t) >= sizeof(x->scratch)) {
		cli_err(x->c, "--target: path too long");
		return EXIT_USAGE;
	}
	snprintf(x->scratch, sizeof(x->scratch), "%s", t);
	if (lstat(t, &st) != 0) {
		if (errno == ENOENT) {
			x->create = 1;
			return EXIT_OK;
		}
		cli_err(x->c, "--target %s: %s", t, strerror(errno));
		return EXIT_FATAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_err(x->c, "--target %s is not a directory; nothing done",
		    t);
		return EXIT_FATAL;
	}
	if ((e = dir_empty(t)) != 1) {
		if (e < 0)
			cli_err(x->c, "--target %s: %s", t, strerror(errno));
		else
			cli_err(x->c, "--target %s is not empty: a drill "
			    "removes what it restores, so it needs an empty or "
			    "absent directory; nothing done", t);
		return EXIT_FATAL;
	}
	return EXIT_OK;
}

/* Where the scratch directory is made (for messages). */
static const char *
scratch_base(const struct drillcli *x)
{
	const char *t = getenv("TMPDIR");

	if (x->c->target != NULL)
		return x->c->target;
	return t != NULL && *t != '\0' ? t : "/var/tmp";
}

/*
 * The scratch directory, always one this drill makes (so that removing it
 * whole is always right): an absent --target, else a new
 * kluis-drill.XXXXXX (mode 0700) in the empty --target, in $TMPDIR, or in
 * /var/tmp (on disk, unlike a tmpfs /tmp).
 */
static int
scratch_make(struct drillcli *x)
{
	const char *base = scratch_base(x);

	if (x->create) {
		if (mkdir(x->scratch, 0700) != 0) {
			cli_err(x->c, "cannot create --target %s: %s",
			    x->scratch, strerror(errno));
			return EXIT_FATAL;
		}
		x->have_dir = 1;
		return EXIT_OK;
	}
	if ((size_t)snprintf(x->scratch, sizeof(x->scratch),
	    "%s/kluis-drill.XXXXXX", base) >= sizeof(x->scratch) ||
	    mkdtemp(x->scratch) == NULL) {
		cli_err(x->c, "cannot create a scratch directory in %s: %s%s",
		    base, strerror(errno), x->c->target != NULL ? "" :
		    " (set TMPDIR or use --target)");
		return EXIT_FATAL;
	}
	x->have_dir = 1;
	return EXIT_OK;
}

static int
scratch_remove(struct drillcli *x)
{
	int rc;

	if (!x->have_dir)
		return EXIT_OK;
	if ((rc = kl_drill_rmtree(x->scratch, 0)) == KL_OK) {
		x->have_dir = 0;
		return EXIT_OK;
	}
	cli_err(x->c, "could not remove the drill's scratch data in %s (%s): "
	    "remove it by hand", x->scratch, kl_strerror(rc));
	return EXIT_FATAL;
}

/*
 * A drill killed by cron's timeout or an operator must not leave a copy of
 * the data behind: SIGINT, SIGTERM and SIGHUP are taken by this thread,
 * which removes the scratch data and exits.  Restore may still be writing
 * meanwhile; once the scratch directory itself is gone nothing can be
 * created in it any more, so a few passes empty it for good.
 */
#define SIG_RM_PASSES 100

static void *
sig_main(void *arg)
{
	sigset_t *set = arg;
	int sig, i, rc = KL_OK;

	if (sigwait(set, &sig) != 0)
		return NULL;
	/* from here the thread ends the process: sig_stop cannot cancel it */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	dying = 1;
	fprintf(stderr, "kluis: drill interrupted (signal %d): removing %s\n",
	    sig, sig_scratch);
	for (i = 0; i < SIG_RM_PASSES; i++)
		if ((rc = kl_drill_rmtree(sig_scratch, 0)) == KL_OK ||
		    rc == KL_E_NOTFOUND)
			break;
	if (rc != KL_OK && rc != KL_E_NOTFOUND)
		fprintf(stderr, "kluis: could not remove %s (%s): remove it "
		    "by hand\n", sig_scratch, kl_strerror(rc));
	_exit(128 + sig);
}

struct sigguard {
	sigset_t set, old;
	pthread_t th;
	int on;
};

static void
sig_start(struct sigguard *g, const struct drillcli *x)
{
	sig_scratch = x->scratch;
	sigemptyset(&g->set);
	sigaddset(&g->set, SIGINT);
	sigaddset(&g->set, SIGTERM);
	sigaddset(&g->set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &g->set, &g->old) != 0)
		return;
	if (pthread_create(&g->th, NULL, sig_main, &g->set) != 0) {
		pthread_sigmask(SIG_SETMASK, &g->old, NULL);
		return;
	}
	g->on = 1;
}

static void
sig_stop(struct sigguard *g)
{
	if (!g->on)
		return;
	/*
	 * A thread that took a signal exits the process with 128 + signal
	 * once the scratch data is gone; the join below waits for that (the
	 * cancel is ignored then), so the drill's own outcome, a failure
	 * caused by the removal, is never what the caller sees.
	 */
	pthread_cancel(g->th);
	pthread_join(g->th, NULL);
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	g->on = 0;
}

static void
fmt_bytes(char *out, size_t len, double b)
{
	static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t i = 0;

	while (b >= 1024 && i < sizeof(u) / sizeof(u[0]) - 1) {
		b /= 1024;
		i++;
	}
	snprintf(out, len, i == 0 ? "%.0f %s" : "%.1f %s", b, u[i]);
}

static void
fmt_dur(char *out, size_t len, double s)
{
	if (s < 10)
		snprintf(out, len, "%.2f s", s);
	else if (s < 60)
		snprintf(out, len, "%.1f s", s);
	else if (s < 3600)
		snprintf(out, len, "%d min %d s", (int)(s / 60),
		    (int)s % 60);
	else if (s < 86400)
		snprintf(out, len, "%d h %d min", (int)(s / 3600),
		    (int)(s / 60) % 60);
	else
		snprintf(out, len, "%lld d %lld h", (long long)(s / 86400),
		    (long long)(s / 3600) % 24);
}

/* The drill's numbers as JSON members (the output and the run record). */
static void
json_numbers(struct kl_json *j, const struct kl_drill_result *res)
{
	kl_json_u64(j, "sample_files", res->sample_files);
	kl_json_u64(j, "sample_bytes", res->sample_bytes);
	kl_json_u64(j, "sample_others", res->sample_others);
	kl_json_u64(j, "entries_verified", res->verified);
	kl_json_u64(j, "snapshot_files", res->snapshot_files);
	kl_json_u64(j, "snapshot_bytes", res->snapshot_bytes);
	kl_json_bool(j, "all", res->all);
	kl_json_real(j, "duration_s", res->restore_s, 3);
	kl_json_real(j, "verify_s", res->verify_s, 3);
	kl_json_real(j, "bytes_per_s", res->bytes_per_s, 1);
	kl_json_real(j, "files_per_s", res->files_per_s, 2);
	kl_json_real(j, "rto_s", res->rto_s, 3);
}

/* The first max mismatches as the array member key. */
static void
json_mism(struct kl_json *j, const char *key, const struct drillcli *x,
    size_t max)
{
	size_t i;

	kl_json_arr(j, key);
	for (i = 0; i < x->n && i < max; i++) {
		kl_json_obj(j, NULL);
		kl_json_text(j, "path", x->v[i].path);
		kl_json_text(j, "field", x->v[i].field);
		kl_json_text(j, "detail", x->v[i].detail);
		kl_json_obj_end(j);
	}
	kl_json_arr_end(j);
}

struct outcome {
	struct kl_id snap;
	char host[KL_NAME_MAX + 1];	/* of the snapshot */
	const char *sample;		/* as given, or "default" */
	struct kl_drill_result res;
	int64_t start;
	double total_s;
	int ok;
	char err[PATH_MAX + 512];	/* why the drill could not run */
};

/* The run's details for the catalog (restore-tools/report.c reads
 * them): what --json shows, the first DRILL_RECORDED_MAX mismatches. */
static void
run_detail(struct cli_run *v, const struct drillcli *x,
    const struct outcome *o)
{
	const struct kl_drill_result *res = &o->res;
	size_t i;

	cli_run_text(v, "sample", o->sample);
	cli_run_int(v, "sample_files", (int64_t)res->sample_files);
	cli_run_int(v, "sample_bytes", (int64_t)res->sample_bytes);
	cli_run_int(v, "sample_others", (int64_t)res->sample_others);
	cli_run_int(v, "entries_verified", (int64_t)res->verified);
	cli_run_int(v, "snapshot_files", (int64_t)res->snapshot_files);
	cli_run_int(v, "snapshot_bytes", (int64_t)res->snapshot_bytes);
	cli_run_bool(v, "all", res->all);
	cli_run_real(v, "duration_s", res->restore_s);
	cli_run_real(v, "verify_s", res->verify_s);
	cli_run_real(v, "bytes_per_s", res->bytes_per_s);
	cli_run_real(v, "files_per_s", res->files_per_s);
	cli_run_real(v, "rto_s", res->rto_s);
	cli_run_int(v, "mismatches", (int64_t)res->mismatches);
	cli_run_text(v, "snapshot_host", o->host);
	for (i = 0; i < x->n && i < DRILL_RECORDED_MAX; i++) {
		cli_run_entry(v, "mismatch_list", (uint32_t)i + 1, "path",
		    x->v[i].path);
		cli_run_entry(v, "mismatch_list", (uint32_t)i + 1, "field",
		    x->v[i].field);
		cli_run_entry(v, "mismatch_list", (uint32_t)i + 1, "detail",
		    x->v[i].detail);
	}
	if (*o->err)
		cli_run_text(v, "error", o->err);
	cli_run_bool(v, "ok", o->ok);
}

/* Records the drill in the catalog's run history and the repository
 * (cli_run_commit). */
static void
run_record(struct kl_repo *r, const struct drillcli *x,
    const struct outcome *o, int exit_code)
{
	struct kl_cat_run run;
	char host[KL_NAME_MAX + 1] = "";
	struct cli_run v;

	v.n = 0;
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	memset(&run, 0, sizeof(run));
	run.kind = "drill";
	run.host = host;
	run.start_s = o->start;
	run.end_s = (int64_t)time(NULL);
	run.exit_code = exit_code;
	run.snapshot = o->snap;
	run.files = o->res.sample_files;
	run.bytes = o->res.sample_bytes;
	run.errors = o->res.mismatches + (*o->err != '\0');
	run_detail(&v, x, o);
	run.v = v.v;
	run.nv = v.n;
	cli_run_commit(x->c, r, &run);
}

static int
metrics(struct cli *c, struct kl_repo *r, const struct outcome *o,
    int exit_code)
{
	struct cli_metric m[] = {
		{ "rto_seconds", "Time a full restore of the drilled snapshot "
		    "would take, extrapolated from the last drill.",
		    o->res.rto_s },
		{ "files", "Files the last drill restored and verified.",
		    (double)o->res.sample_files },
		{ "bytes", "Bytes of the files the last drill restored and "
		    "verified.", (double)o->res.sample_bytes },
		{ "mismatches", "Mismatches the last drill found (0: "
		    "passed).", (double)o->res.mismatches },
		{ "duration_seconds", "Duration of the last drill run.",
		    o->total_s },
		{ "exit_code", "Exit code of this drill run.",
		    (double)exit_code },
	};

	return cli_metrics_write(c, r, "drill", m, sizeof(m) / sizeof(m[0]),
	    exit_code);
}

static void
report_json(const struct drillcli *x, const struct outcome *o)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_id(&j, "snapshot", &o->snap);
	kl_json_text(&j, "host", o->host);
	kl_json_text(&j, "sample", o->sample);
	json_numbers(&j, &o->res);
	kl_json_real(&j, "total_s", o->total_s, 3);
	kl_json_u64(&j, "mismatch_count", o->res.mismatches);
	json_mism(&j, "mismatches", x, DRILL_LISTED_MAX);
	if (*o->err)
		kl_json_text(&j, "error", o->err);
	kl_json_bool(&j, "ok", o->ok);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
report_text(const struct outcome *o)
{
	const struct kl_drill_result *s = &o->res;
	char hex[KL_ID_HEX_LEN + 1], b1[32], b2[32], b3[32], d1[32], d2[32];

	kl_id_hex(&o->snap, hex);
	printf("drill of snapshot %.8s (host ", hex);
	cli_puts(stdout, o->host);
	if (o->ok)
		printf("): PASSED\n");
	else if (*o->err) {
		printf("): FAILED: ");
		cli_puts(stdout, o->err);
		putchar('\n');
	} else
		printf("): FAILED, %llu mismatch%s (listed above)\n",
		    (unsigned long long)s->mismatches,
		    s->mismatches == 1 ? "" : "es");
	if (*o->err && s->sample_files + s->sample_others == 0)
		return;		/* it failed before it drew a sample */
	fmt_bytes(b1, sizeof(b1), (double)s->sample_bytes);
	fmt_bytes(b2, sizeof(b2), (double)s->snapshot_bytes);
	printf("  sample:  %llu of %llu files%s, %s of %s, %llu other "
	    "entries; %llu entries verified\n",
	    (unsigned long long)s->sample_files,
	    (unsigned long long)s->snapshot_files, s->all ? " (all)" : "",
	    b1, b2, (unsigned long long)s->sample_others,
	    (unsigned long long)s->verified);
	if (*o->err)
		return;
	fmt_bytes(b3, sizeof(b3), s->bytes_per_s);
	fmt_dur(d1, sizeof(d1), s->restore_s);
	fmt_dur(d2, sizeof(d2), s->verify_s);
	printf("  restore: %s, %s/s, %.1f files/s; verification %s\n", d1, b3,
	    s->files_per_s, d2);
	fmt_dur(d1, sizeof(d1), s->rto_s);
	printf("  RTO:     %s to restore the whole snapshot (extrapolated "
	    "from the sample)\n", d1);
}

/*
 * Turns kl_drill_run's error into the message (kept in o->err for the
 * records too) and the exit code.  Three failures are the drill's own to
 * explain, with what to do about them; the rest is err's.
 */
static int
drill_failed(struct cli *c, struct drillcli *x, struct outcome *o, int rc,
    const struct kl_error *err)
{
	char need[32], avail[32];

	if (rc == KL_E_PERM)
		snprintf(o->err, sizeof(o->err), "a drill needs a full key: "
		    "this key cannot read snapshots");
	else if (rc == KL_E_EXISTS) {
		snprintf(o->err, sizeof(o->err), "the scratch directory %s "
		    "is not empty any more; nothing restored or removed",
		    x->scratch);
		x->have_dir = 0;	/* someone else's data now */
	} else if (rc == KL_E_NOSPACE) {
		fmt_bytes(need, sizeof(need), (double)o->res.scratch_needed);
		fmt_bytes(avail, sizeof(avail), (double)o->res.scratch_free);
		snprintf(o->err, sizeof(o->err), "the sample needs about %s "
		    "(or more inodes) in %s, which has %s free: use --target "
		    "on a larger file system or a smaller --sample", need,
		    scratch_base(x), avail);
	} else
		snprintf(o->err, sizeof(o->err), "%s", kl_error_msg(err, rc));
	cli_err(c, "drill: %s", o->err);
	return cli_exit_code(rc, err, CLI_AT_DRILL);
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Runs the drill of o->snap in x->scratch; returns an exit code. */
static int
drill(struct cli *c, struct kl_repo *r, struct drillcli *x,
    struct outcome *o, const struct kl_drill_opts *base, struct kl_error *err)
{
	struct kl_drill_opts d = *base;
	struct sigguard g;
	int rc;

	memset(&g, 0, sizeof(g));
	if ((rc = scratch_make(x)) != EXIT_OK) {
		snprintf(o->err, sizeof(o->err), "no scratch directory");
		return rc;
	}
	sig_start(&g, x);
	d.target = x->scratch;
	d.finding = on_finding;
	d.finding_arg = x;
	rc = kl_drill_run(r, &o->snap, &d, &o->res, err);
	rc = rc == KL_OK ? EXIT_OK : drill_failed(c, x, o, rc, err);
	if (scratch_remove(x) != EXIT_OK) {
		if (!*o->err)
			snprintf(o->err, sizeof(o->err), "the scratch data "
			    "could not be removed from %s", x->scratch);
		rc = EXIT_FATAL;
	}
	sig_stop(&g);
	if (rc == EXIT_OK && o->res.mismatches > 0)
		rc = EXIT_FATAL;
	return rc;
}

static void
snapshot_host(struct kl_repo *r, struct outcome *o)
{
	struct kl_snapshot sn;

	/* the host is for the records only: no detail wanted */
	if (kl_repo_snapshot_load(r, &o->snap, &sn, NULL) != KL_OK)
		return;
	snprintf(o->host, sizeof(o->host), "%s", sn.hostname);
	kl_snapshot_clear(&sn);
}

int
cmd_drill(struct cli *c)
{
	struct kl_drill_opts d;
	struct drillcli x;
	struct outcome o;
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct timespec t0;
	int rc, began = 0;

	kl_error_clear(&err);
	memset(&x, 0, sizeof(x));
	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	x.c = c;
	o.start = (int64_t)time(NULL);
	if ((rc = cli_nargs(c, 0, 1)))
		goto out;
	if (sample_parse(c->sample, &d) != 0) {
		cli_err(c, "bad --sample \"%s\": a number of files (1000) or a "
		    "share of them (5%%, 100%%)", c->sample);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((c->target != NULL && (rc = target_check(&x)) != EXIT_OK) ||
	    (rc = cli_open(c, &r)) != EXIT_OK ||
	    (rc = cli_snapshot(c, r, c->nargs ? c->args[0] : "latest", NULL,
	    0, &o.snap, NULL)) != EXIT_OK)
		goto out;
	began = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	o.sample = c->sample != NULL ? c->sample : "default";
	if (getrandom(&d.seed, sizeof(d.seed), 0) != sizeof(d.seed))
		d.seed = (uint64_t)t0.tv_nsec ^ (uint64_t)getpid() << 32;
	snapshot_host(r, &o);
	rc = drill(c, r, &x, &o, &d, &err);
	o.total_s = elapsed(&t0);
	o.ok = rc == EXIT_OK;
	if (c->json)
		report_json(&x, &o);
	else if (!c->quiet || !o.ok)
		report_text(&o);
	run_record(r, &x, &o, rc);
	if (c->metrics_file != NULL && metrics(c, r, &o, rc) != EXIT_OK &&
	    rc == EXIT_OK)
		rc = EXIT_FATAL;
out:
	if (!began) {	/* no catalog run, but the metrics */
		if (r == NULL)
			cli_run_unreached(c, "drill", NULL, o.start, rc);
		cli_metrics_unreached(c, "drill", o.start, rc);
	}
	cli_close(c, r);
	mism_free(&x);
	return rc;
}
