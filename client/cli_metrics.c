/*
 * --metrics-file: Prometheus textfile-collector metrics of a backup, check
 * or drill (docs/COMPLIANCE.md "Metrics").  The file is built in memory
 * and replaced atomically (a temporary file in the same directory, fsync,
 * rename): node_exporter's textfile collector must never read half a file.
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
#include "kluis/text.h"
#include "cli.h"

#define METRIC_NAME_MAX 128

/* What the run history says about job (on this host, for backups). */
struct hist {
	const char *job, *host;
	int have_run, have_success;
	int64_t last_run, last_success;
	int last_exit;
};

/*
 * A run counts as a success when it did what it is for: a backup that
 * wrote its snapshot (exit 0, or 3 when some sources were unreadable -
 * kluis_backup_errors and last_exit_code show those), a check without
 * findings, a drill that verified every byte (exit 0).
 */
static int
run_succeeded(const char *job, int exit_code)
{
	return exit_code == EXIT_OK || (strcmp(job, "backup") == 0 &&
	    exit_code == EXIT_PARTIAL);
}

static int
hist_cb(void *arg, const struct kl_cat_run *r)
{
	struct hist *h = arg;

	/* this machine's runs: not those imported from other clients' run
	 * records (FORMAT.md §17) */
	if (r->origin != KL_CAT_RUN_LOCAL)
		return 0;
	/* backups are per host (--host); checks and drills per repository */
	if (strcmp(h->job, "backup") == 0 && strcmp(r->host, h->host) != 0)
		return 0;
	/* oldest first: the last one seen is the newest */
	h->have_run = 1;
	h->last_run = r->end_s;
	h->last_exit = r->exit_code;
	if (run_succeeded(h->job, r->exit_code)) {
		h->have_success = 1;
		h->last_success = r->end_s;
	}
	return 0;
}

static int
name_ok(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > METRIC_NAME_MAX ||
	    (*s >= '0' && *s <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_'))
			return 0;
	return 1;
}

/* HELP text: backslash and newline escaped. */
static void
help_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
gauge(FILE *f, const char *job, const char *name, const char *help,
    const char *repo, const char *host, double v)
{
	fprintf(f, "# HELP kluis_%s_%s ", job, name);
	help_text(f, help);
	fprintf(f, "\n# TYPE kluis_%s_%s gauge\nkluis_%s_%s{repository=",
	    job, name, job, name);
	kl_prom_label(f, repo);
	fputs(",host=", f);
	kl_prom_label(f, host);
	/* integers exactly (bytes, timestamps); fractions to 9 digits */
	if (v == (double)(int64_t)v && v > -9e15 && v < 9e15)
		fprintf(f, "} %lld\n", (long long)v);
	else
		fprintf(f, "} %.9g\n", v);
}

static void
history_gauges(FILE *f, const char *job, const struct hist *h,
    const char *repo, const char *host)
{
	char help[256];

	if (!h->have_run)
		return;
	snprintf(help, sizeof(help), "End of the last successful %s "
	    "(UNIX time; 0: none recorded in this machine's catalog).", job);
	gauge(f, job, "last_success_timestamp_seconds", help, repo, host,
	    h->have_success ? (double)h->last_success : 0);
	snprintf(help, sizeof(help), "End of the last %s run (UNIX time).",
	    job);
	gauge(f, job, "last_run_timestamp_seconds", help, repo, host,
	    (double)h->last_run);
	snprintf(help, sizeof(help), "Exit code of the last %s run (0 ok, 1 "
	    "failed%s).", job, strcmp(job, "backup") == 0 ?
	    ", 3 some sources unreadable" : strcmp(job, "check") == 0 ?
	    " or findings" : "");
	gauge(f, job, "last_exit_code", help, repo, host,
	    (double)h->last_exit);
}

/*
 * A run that never opened its repository (unreachable server, host key
 * problem, wrong passphrase, no repository) has no catalog to ask: the
 * repository label and the last success come from the file's previous
 * contents, so that an alert on the age of the last success, or on the
 * exit code, still fires for it.
 */
static void
hist_from_file(const char *path, const char *job, struct hist *h,
    char repo[KL_ID_HEX_LEN + 1])
{
	char line[1024], want[METRIC_NAME_MAX + 64];
	const char *p, *sp;
	FILE *f;
	size_t l;

	snprintf(want, sizeof(want), "kluis_%s_last_success_timestamp_"
	    "seconds{repository=\"", job);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		p = line + strlen(want);
		l = strspn(p, "0123456789abcdef");
		if (l == KL_ID_HEX_LEN && p[l] == '"') {
			memcpy(repo, p, l);
			repo[l] = '\0';
		}
		if ((sp = strrchr(line, ' ')) != NULL &&
		    strtoll(sp + 1, NULL, 10) > 0) {
			h->have_success = 1;
			h->last_success = strtoll(sp + 1, NULL, 10);
		}
	}
	fclose(f);
}

/*
 * One file may serve several jobs (a profile's metrics-file applies to
 * backup, check and drill): the series of the other jobs in the file it
 * replaces are kept, so that no run hides another job's age.
 */
static void
other_jobs(FILE *out, const char *path, const char *job)
{
	char line[4096], mine[METRIC_NAME_MAX + 16];
	const char *name;
	FILE *f;

	snprintf(mine, sizeof(mine), "kluis_%s_", job);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		name = line;
		if (strncmp(line, "# HELP ", 7) == 0 ||
		    strncmp(line, "# TYPE ", 7) == 0)
			name = line + 7;
		if (strncmp(name, "kluis_", 6) != 0 ||
		    strncmp(name, mine, strlen(mine)) == 0 ||
		    strchr(line, '\n') == NULL)	/* ours, or not a line */
			continue;
		fputs(line, out);
	}
	fclose(f);
}

static int
metrics_publish(struct cli *c, const char *data, size_t len)
{
	mode_t old;
	int rc;

	/* the collector runs as another user: 0644 whatever the umask */
	old = umask(022);
	rc = kl_file_write_atomic_path(c->metrics_file, data, len, 0, 0644);
	umask(old);
	if (rc != KL_OK) {
		cli_err(c, "cannot write the metrics file %s: %s",
		    c->metrics_file, kl_strerror(rc));
		return EXIT_FATAL;
	}
	return EXIT_OK;
}

int
cli_metrics_write(struct cli *c, struct kl_repo *r, const char *job,
    const struct cli_metric *m, size_t n, int exit_code)
{
	struct hist h;
	struct kl_cat *cat;
	char host[KL_NAME_MAX + 1], repo[KL_ID_HEX_LEN + 1];
	char *data = NULL;
	size_t i, len = 0;
	FILE *f;
	int rc;

	if (c->metrics_file == NULL)
		return EXIT_OK;
	if (!name_ok(job))
		abort();	/* the callers pass constants */
	for (i = 0; i < n; i++)
		if (!name_ok(m[i].name))
			abort();
	snprintf(host, sizeof(host), "%s", c->host ? c->host : "");
	if (c->host == NULL && gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	memset(&h, 0, sizeof(h));
	h.job = job;
	h.host = host;
	if (r == NULL) {
		snprintf(repo, sizeof(repo), "unknown");
		hist_from_file(c->metrics_file, job, &h, repo);
		h.have_run = 1;
		h.last_run = (int64_t)time(NULL);
		h.last_exit = exit_code;
	} else {
		kl_id_hex(&kl_repo_config(r)->repo_id, repo);
		/* without the history the run's own gauges are still worth
		 * having */
		if ((cat = kl_repo_catalog(r)) != NULL &&
		    kl_cat_run_foreach(cat, job, INT64_MIN, hist_cb, &h,
		    NULL) != KL_OK)
			memset(&h, 0, sizeof(h));
	}
	if ((f = open_memstream(&data, &len)) == NULL) {
		cli_err(c, "cannot write the metrics file: out of memory");
		return EXIT_FATAL;
	}
	for (i = 0; i < n; i++)
		gauge(f, job, m[i].name, m[i].help, repo, host, m[i].value);
	history_gauges(f, job, &h, repo, host);
	other_jobs(f, c->metrics_file, job);
	if (fclose(f) != 0) {
		free(data);
		cli_err(c, "cannot write the metrics file: %s",
		    strerror(errno));
		return EXIT_FATAL;
	}
	rc = metrics_publish(c, data, len);
	free(data);
	return rc;
}

/* ---- a run's details for the history ---- */

static struct kl_run_value *
run_value_add(struct cli_run *x, const char *key, int type)
{
	struct kl_run_value *v;

	if (x->n >= CLI_RUN_VALUES)
		abort();	/* the commands add a fixed number */
	v = &x->v[x->n++];
	memset(v, 0, sizeof(*v));
	v->key = key;
	v->type = type;
	return v;
}

void
cli_run_int(struct cli_run *x, const char *key, int64_t v)
{
	run_value_add(x, key, KL_RUN_INT)->i = v;
}

void
cli_run_real(struct cli_run *x, const char *key, double v)
{
	run_value_add(x, key, KL_RUN_REAL)->r = v;
}

void
cli_run_bool(struct cli_run *x, const char *key, int v)
{
	run_value_add(x, key, KL_RUN_BOOL)->i = v != 0;
}

void
cli_run_text(struct cli_run *x, const char *key, const char *s)
{
	if (s != NULL)
		run_value_add(x, key, KL_RUN_TEXT)->s = s;
}

void
cli_run_entry(struct cli_run *x, const char *key, uint32_t item,
    const char *field, const char *s)
{
	struct kl_run_value *v = run_value_add(x, key, KL_RUN_TEXT);

	v->item = item;
	v->field = field;
	v->s = s != NULL ? s : "";
}

void
cli_metrics_unreached(struct cli *c, const char *job, int64_t start,
    int exit_code)
{
	/* the HELP texts of the complete runs' series (cli_backup.c,
	 * cli_check.c, cli_drill.c): a collector refuses a series whose
	 * HELP differs between files */
	int check = strcmp(job, "check") == 0;
	struct cli_metric m[] = {
		{ "duration_seconds", check ? "How long the last check took." :
		    strcmp(job, "backup") == 0 ? "Duration of the last backup "
		    "run." : "Duration of the last drill run.",
		    (double)((int64_t)time(NULL) - start) },
		{ "exit_code", strcmp(job, "backup") == 0 ? "Exit code of this "
		    "backup run." : "Exit code of this drill run.",
		    (double)exit_code },
	};

	/* check has no exit_code series of its own: last_exit_code */
	(void)cli_metrics_write(c, NULL, job, m, check ? 1 : 2, exit_code);
}
