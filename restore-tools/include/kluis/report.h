/*
 * Compliance reports (docs/COMPLIANCE.md "Reports"): what the catalog knows
 * about a repository - its snapshots, the run history of this machine and
 * of every client whose run records it imported (backups, checks,
 * drills) and the data verification records - gathered
 * into one report with an overall verdict, and written as plain text, as
 * JSON (a stable schema, KL_REPORT_SCHEMA) or as one self-contained HTML
 * page.
 *
 * The report reads the catalog only: the caller brings it up to date from
 * the repository first (kl_repo_catalog_sync, kl_repo_index_load).  No
 * clock is read here: the caller passes the times.  Nothing is printed:
 * kl_report_write writes to the stream it is given.
 */
#ifndef KLUIS_REPORT_H
#define KLUIS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kluis/hash.h"

struct kl_cat;
struct kl_error;
struct kl_report;

/* Version of the JSON schema (docs/COMPLIANCE.md "JSON schema"). */
#define KL_REPORT_SCHEMA 1

/* Default thresholds of the verdict (docs/COMPLIANCE.md "Verdict"). */
#define KL_REPORT_PERIOD_S ((int64_t)30 * 86400)
#define KL_REPORT_BACKUP_MAX_AGE_S ((int64_t)48 * 3600)
#define KL_REPORT_VERIFY_MAX_AGE_S ((int64_t)31 * 86400)
#define KL_REPORT_DRILL_MAX_AGE_S ((int64_t)35 * 86400)

/* Times are UTC seconds in [0, KL_REPORT_TIME_MAX] (9999-12-31T23:59:59Z):
 * snapshot and run times outside are clamped into it. */
#define KL_REPORT_TIME_MAX ((int64_t)253402300799)

/* Limits: a catalog with more is reported as KL_E_LIMIT. */
#define KL_REPORT_HOSTS_MAX 65536
#define KL_REPORT_RUNS_MAX ((size_t)1 << 22)
#define KL_REPORT_SNAPS_MAX ((size_t)1 << 22)

enum kl_report_format {
	KL_REPORT_TEXT = 0,
	KL_REPORT_JSON,
	KL_REPORT_HTML,
};

enum kl_report_verdict {
	KL_REPORT_OK = 0,
	KL_REPORT_WARNING,
	KL_REPORT_FAILED,
};

struct kl_report_opts {
	struct kl_id repo_id;
	const char *machine;	/* this machine's name: the run history is
				 * its own (copied) */
	int64_t generated;	/* when the report is made, UTC seconds */
	int64_t now;		/* the time ages are measured at and the end
				 * of the period; records after it are left
				 * out (normally == generated) */
	int64_t since;		/* start of the period of the history
				 * tables and the chart */
	uint64_t damaged;	/* repository files that could not be read
				 * while updating the catalog (FAILED) */
	/* thresholds in seconds; 0 takes the KL_REPORT_*_MAX_AGE_S default */
	int64_t backup_max_age, verify_max_age, drill_max_age;
	/* run records (docs/FORMAT.md §17) behind the history: in the
	 * repository, read by this catalog now or before (fewer: WARNING),
	 * unreadable (WARNING) and the newest of those ("runs/<hex>", or
	 * ""); with runs_error they could not be listed (WARNING) */
	uint64_t runs_listed, runs_looked, runs_bad;
	char runs_bad_name[96];
	int runs_error;
};

/*
 * Gathers the report from catalog c: snapshots (vanished ones counted),
 * every run of the history, every pack's last verification; computes the
 * verdict.  *out is owned by the caller (kl_report_free).  KL_E_INVAL for
 * NULL arguments, or unless 0 <= since <= now <= KL_REPORT_TIME_MAX and
 * 0 <= generated <= KL_REPORT_TIME_MAX; KL_E_LIMIT over the limits above,
 * KL_E_NOMEM, or the catalog's error (err says which; may be NULL).
 */
int kl_report_collect(struct kl_cat *c, const struct kl_report_opts *o,
    struct kl_report **out, struct kl_error *err);
void kl_report_free(struct kl_report *rep);

enum kl_report_verdict kl_report_verdict(const struct kl_report *rep);
/* "OK", "WARNING", "FAILED". */
const char *kl_report_verdict_name(enum kl_report_verdict v);

/*
 * Writes the report to f in format fmt.  Every string that came from the
 * repository or the catalog (host names, error messages) is escaped for
 * the format: JSON string escapes, HTML character references, and in text
 * "\xNN" for control bytes and bytes that are not UTF-8.  KL_E_INVAL for
 * an unknown format, KL_E_IO if the stream reports an error.
 */
int kl_report_write(const struct kl_report *rep, enum kl_report_format fmt,
    FILE *f);

#endif
