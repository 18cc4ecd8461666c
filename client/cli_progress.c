/*
 * Progress of the long commands (backup, restore, check, prune): one live
 * line on a terminal, status lines with --json, and a line in the log on
 * SIGUSR1 or every --progress-interval seconds for runs under cron or
 * systemd (docs/CLI.md "Progress").  Nothing when none of these applies.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kluis/json.h"
#include "cli.h"

#define DRAW_EVERY 0.25		/* terminal line, seconds */
#define JSON_EVERY 1.0		/* --json status lines */

static volatile sig_atomic_t wanted;	/* SIGUSR1 since the last line */

static void
on_usr1(int sig)
{
	(void)sig;
	wanted = 1;
}

void
cli_progress_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
cli_progress_begin(struct cli_progress *g, const struct cli *c,
    const char *cmd)
{
	memset(g, 0, sizeof(*g));
	g->cmd = cmd;
	/* -v lists names on stdout: a live line would cut into them */
	g->tty = !c->quiet && !c->json && !c->verbose &&
	    isatty(STDERR_FILENO);
	g->json = c->json;
	g->interval = c->progress_interval;
	g->t0 = g->phase_t0 = g->last_log = now_s();
}

/* "12.3 MiB" */
static void
size_str(char *out, size_t len, double b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(out, len, u == 0 ? "%.0f %s" : "%.1f %s", b, unit[u]);
}

/* "1h02m", "3m05s", "42s" */
static void
dur_str(char *out, size_t len, double s)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(out, len, "%lds", t);
}

/* Seconds left, from bytes where their total is known, else from n; -1
 * when unknown. */
static double
eta(const struct cli_progress_state *s, double el)
{
	double f = -1;

	if (s->bytes_total > 0 && s->bytes > 0)
		f = (double)s->bytes / (double)s->bytes_total;
	else if (s->n_total > 0 && s->n > 0)
		f = (double)s->n / (double)s->n_total;
	if (f <= 0 || f > 1 || el < 1)
		return -1;
	return el / f - el;
}

/* "restore: data 40/120 packs, 1.2 GiB of 3.5 GiB, 85.0 MiB/s, 27s left" */
static void
line(const struct cli_progress *g, const struct cli_progress_state *s,
    char *out, size_t len)
{
	char n[64], a[32], b[32], bytes[80] = "", rate[48] = "", left[48] = "";
	double el = now_s() - g->phase_t0, l = eta(s, el);

	if (s->n_total > 0)
		snprintf(n, sizeof(n), "%llu/%llu%s%s", (unsigned long long)s->n,
		    (unsigned long long)s->n_total, *s->unit ? " " : "",
		    s->unit);
	else
		snprintf(n, sizeof(n), "%llu%s%s", (unsigned long long)s->n,
		    *s->unit ? " " : "", s->unit);
	if (s->bytes > 0 || s->bytes_total > 0) {
		size_str(a, sizeof(a), (double)s->bytes);
		size_str(b, sizeof(b), (double)s->bytes_total);
		snprintf(bytes, sizeof(bytes), s->bytes_total > 0 ?
		    ", %s of %s" : ", %s", a, b);
		if (el > 0 && s->bytes > 0) {
			size_str(a, sizeof(a), (double)s->bytes / el);
			snprintf(rate, sizeof(rate), ", %s/s", a);
		}
	}
	if (l >= 0) {
		dur_str(a, sizeof(a), l);
		snprintf(left, sizeof(left), ", %s left", a);
	}
	snprintf(out, len, "%s: %s%s%s%s%s%s", g->cmd, s->phase != NULL ?
	    s->phase : "", s->phase != NULL ? " " : "", n, bytes, rate, left);
}

static void
status_json(const struct cli_progress *g, const struct cli_progress_state *s)
{
	struct kl_json j;
	double el = now_s() - g->t0, left = eta(s, now_s() - g->phase_t0);

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_text(&j, "message_type", "status");
	kl_json_text(&j, "command", g->cmd);
	kl_json_text(&j, "phase", s->phase);
	kl_json_real(&j, "seconds_elapsed", el, 1);
	kl_json_text(&j, "unit", s->unit);
	kl_json_u64(&j, "done", s->n);
	if (s->n_total > 0)
		kl_json_u64(&j, "total", s->n_total);
	else
		kl_json_null(&j, "total");
	kl_json_u64(&j, "bytes_done", s->bytes);
	if (s->bytes_total > 0)
		kl_json_u64(&j, "bytes_total", s->bytes_total);
	else
		kl_json_null(&j, "bytes_total");
	if (left >= 0)
		kl_json_real(&j, "seconds_remaining", left, 0);
	else
		kl_json_null(&j, "seconds_remaining");
	kl_json_obj_end(&j);
	putchar('\n');
	fflush(stdout);
}

void
cli_progress_update(struct cli_progress *g,
    const struct cli_progress_state *s)
{
	char buf[256];
	double t = now_s();
	int log = wanted || (g->interval > 0 && t - g->last_log >=
	    g->interval);

	if (s->phase != NULL && (g->phase == NULL ||
	    strcmp(g->phase, s->phase) != 0)) {
		if (g->drawn)	/* each phase keeps its last line */
			fputc('\n', stderr);
		g->drawn = 0;
		g->phase = s->phase;
		g->phase_t0 = t;
	}
	if (log) {
		wanted = 0;
		g->last_log = t;
		line(g, s, buf, sizeof(buf));
		if (g->drawn)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "kluis: progress: %s\n", buf);
		g->drawn = 0;
	}
	if (g->tty && (s->final || t - g->last_draw >= DRAW_EVERY)) {
		g->last_draw = t;
		line(g, s, buf, sizeof(buf));
		fprintf(stderr, "\r\033[Kkluis: %s", buf);
		g->drawn = 1;
	}
	fflush(stderr);
	if (g->json && t - g->t0 >= JSON_EVERY && t - g->last_json >=
	    JSON_EVERY) {
		g->last_json = t;
		status_json(g, s);
	}
}

void
cli_progress_end(struct cli_progress *g)
{
	if (g->drawn)
		fputc('\n', stderr);
	g->drawn = 0;
	fflush(stderr);
}
