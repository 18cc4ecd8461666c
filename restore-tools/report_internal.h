/* The report's model, shared by report.c (gathering, verdict) and its
 * writers report_text.c, report_json.c, report_html.c. */
#ifndef KLUIS_REPORT_INTERNAL_H
#define KLUIS_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kluis/hash.h"
#include "kluis/report.h"
#include "kluis/text.h"

#define REP_TIME_NONE INT64_MIN
/* Coverage windows of data verification, in days (0: ever). */
#define REP_COVER_N 4
extern const int rep_cover_days[REP_COVER_N];

enum rep_run_state {
	REP_RUN_OK = 0,
	REP_RUN_PARTIAL,	/* backup exit 3: a snapshot without some
				 * unreadable sources */
	REP_RUN_FAILED,
};

struct kl_run_value;

struct rep_run {
	char *kind, *host;
	struct kl_run_value *v;	/* its details (catalog.h), copied */
	size_t nv;
	char *error;		/* its "error" text, or NULL */
	char *subject;		/* drills: "snapshot_host"; checks: "subset"
				 * (data read); or NULL */
	int64_t start, end;
	int exit_code;
	int state;		/* enum rep_run_state */
	struct kl_id snapshot;	/* zero if none */
	uint64_t files, bytes, bytes_added, errors;
	uint64_t findings;	/* checks: "findings", else errors */
	double rto_s;		/* drills: "rto_s", < 0 if absent */
	int rto_measured;	/* the drill restored everything ("all"):
				 * rto_s was measured, not extrapolated */
	int in_period;
	int imported;		/* from a run record (docs/FORMAT.md §17):
				 * host and times are its writer's claim */
	int64_t recv;		/* imported: the record's receive time,
				 * REP_TIME_NONE otherwise */
};

struct rep_point {
	int64_t t;		/* effective time */
	uint64_t bytes, files;
	struct kl_id id;
};

struct rep_host {
	char *name;
	uint64_t snapshots;	/* present in the repository, up to now */
	int64_t first, last;	/* effective times, REP_TIME_NONE if none */
	struct kl_id last_id;
	uint64_t last_bytes, last_files;
	/* backup runs of this host in the period (this machine's history) */
	uint64_t runs, ok, partial, failed, bytes_added;
	uint64_t local_runs;	/* of them this machine's own: a host only
				 * run records name is anyone's claim */
	const struct rep_run *last_failure;	/* in the period */
	int64_t retired;	/* all its snapshots forgotten, since then
				 * (kl_cat_retired_foreach); REP_TIME_NONE */
	/* the host's snapshots in the period, oldest first */
	struct rep_point *pts;
	size_t npts, cap;
};

struct rep_reason {
	enum kl_report_verdict level;
	char code[32];
	char *host;		/* NULL: the repository */
	char *msg;
};

struct kl_report {
	struct kl_report_opts o;
	char *machine;
	struct rep_host *hosts;
	size_t nhosts, hcap;
	struct rep_run *runs;	/* the whole history up to now, oldest
				 * first */
	size_t nruns, rcap;
	uint64_t snapshots, vanished;
	/* data verification */
	uint64_t packs, verified, bad, never;
	uint64_t within[REP_COVER_N];
	int64_t oldest_verified, newest_verified;
	const struct rep_run *last_check, *last_drill;
	uint64_t checks, drills;	/* in the period */
	struct rep_reason *reasons;
	size_t nreasons, ncap;
	enum kl_report_verdict verdict;
};

/* report.c: shared formatting. */
/* Local time "YYYY-MM-DD HH:MM:SS" (or "-" for REP_TIME_NONE). */
void rep_time_local(char *out, size_t len, int64_t t);
/* UTC "YYYY-MM-DDTHH:MM:SSZ". */
void rep_time_utc(char *out, size_t len, int64_t t);
/* "1.5 GiB", "512 B". */
void rep_bytes(char *out, size_t len, uint64_t n);
/* "3 d 4 h", "5 h 2 min", "42 s". */
void rep_age(char *out, size_t len, int64_t s);
/* A threshold: "48 hours", "31 days". */
void rep_span(char *out, size_t len, int64_t s);
/* A measured time: "0.13 s" below 10 s, else as rep_age. */
void rep_secs(char *out, size_t len, double s);
/* Percentage of a in b, 0 when b is 0. */
double rep_pct(uint64_t a, uint64_t b);
/* The coverage line's label for window i: "7 days", ..., "ever". */
const char *rep_cover_label(size_t i);

int rep_write_text(const struct kl_report *rep, FILE *f);
int rep_write_json(const struct kl_report *rep, FILE *f);
int rep_write_html(const struct kl_report *rep, FILE *f);

/* A deep copy of a run's details: keys and fields cut at 128 bytes, texts
 * at REP_TEXT_MAX (the catalog is anyone's to edit); rep_values_free
 * frees one (NULL-safe). */
int rep_values_dup(const struct kl_run_value *v, size_t n,
    struct kl_run_value **out, size_t *nout);
void rep_values_free(struct kl_run_value *v, size_t n);

#endif
