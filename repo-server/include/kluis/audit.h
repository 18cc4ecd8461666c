/*
 * The repository server's audit log (docs/PROTOCOL.md §6): DIR/audit.log,
 * append-only, one text line per record, hash-chained so that an altered
 * or removed record is found by kl_audit_verify.  The receive time is the
 * server's clock, which is what retention and point-in-time restore trust.
 */
#ifndef KLUIS_AUDIT_H
#define KLUIS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define KL_AUDIT_FILE "audit.log"
#define KL_AUDIT_TEXT_MAX 128	/* bytes kept of each identity text */
#define KL_AUDIT_LINE_MAX 4096	/* one record, newline included */

/* Who is talking to the server: fixed for a session. */
struct kl_audit_who {
	const char *role;			/* "full", "append-only", ... */
	long pid;				/* the serving process */
	char user[KL_AUDIT_TEXT_MAX + 1];	/* SSH user ($USER) */
	char key[KL_AUDIT_TEXT_MAX + 1];	/* SSH key fingerprint */
	char client[KL_AUDIT_TEXT_MAX + 1];	/* --client-name */
	char addr[KL_AUDIT_TEXT_MAX + 1];	/* client address */
	char hello[KL_AUDIT_TEXT_MAX + 1];	/* client name from HELLO */
};

/* What happened.  Text fields may be NULL (written empty). */
struct kl_audit_rec {
	const char *op;		/* "session-start", "put", "remove", ... */
	int ftype;		/* enum kl_ftype, 0 for none */
	const char *name;	/* file name */
	uint64_t size;		/* bytes written, removed or (session-end)
				 * sent by GETs */
	uint64_t gets;		/* session-end: read requests served */
	int outcome;		/* KL_OK or an enum kl_err */
};

struct kl_audit;

/*
 * Opens (creating it, mode 0600, if missing) repo/audit.log for appending.
 * Errors of open(2) as kl_err codes.
 */
int kl_audit_open(const char *repo, struct kl_audit **out);
/*
 * As kl_audit_open, but only an existing log: KL_E_NOTFOUND if there is
 * none.  For commands an administrator may run as another user (verify):
 * a log they created would belong to them, and a log that was deleted
 * must stay missing for status to see it.
 */
int kl_audit_open_existing(const char *repo, struct kl_audit **out);
/* Closes the log.  NULL-safe. */
void kl_audit_close(struct kl_audit *a);

/*
 * Appends one record, durably: under an exclusive flock on the log it
 * reads the last record's seq and hash, writes the new line with one
 * write(2), fsyncs, and unlocks, so that concurrent servers never
 * interleave or fork the chain.  KL_E_CORRUPT if the last record cannot
 * be read (the log was damaged: run `kluis-server audit verify`); on a
 * write error (KL_E_NOSPACE, KL_E_IO) the log is cut back to what it was.
 */
int kl_audit_append(struct kl_audit *a, const struct kl_audit_who *who,
    const struct kl_audit_rec *rec);

struct kl_audit_report {
	uint64_t records;		/* intact records before a break */
	uint64_t bad_line;		/* 1-based; 0 when intact */
	char what[256];			/* what is wrong at bad_line */
	char last_hash[65];		/* hash of the last intact record */
};

/*
 * Checks the whole chain of repo/audit.log.  KL_OK if intact, KL_E_CORRUPT
 * at the first broken record (rep->bad_line, rep->what), KL_E_NOTFOUND if
 * there is no log, I/O errors otherwise.  A removed tail cannot be seen
 * from the log alone: compare last_hash with a copy kept elsewhere.
 */
int kl_audit_verify(const char *repo, struct kl_audit_report *rep);

/*
 * One intact record, as kl_audit_scan hands it over.  Texts point into the
 * record and are valid during the callback only; they are as written
 * (percent-escaped, PROTOCOL.md §6).
 */
/* The outcome of a record whose outcome name this version lacks. */
#define KL_AUDIT_OUTCOME_UNKNOWN 1
struct kl_audit_entry {
	uint64_t seq;
	const char *time;	/* "2025-01-31T23:59:59.123456789Z" */
	int64_t time_s;		/* in UTC seconds (0: unreadable) */
	const char *role, *client, *op, *type, *name;
	uint64_t size, gets;
	int outcome;		/* KL_OK, an enum kl_err, or
				 * KL_AUDIT_OUTCOME_UNKNOWN */
};
/* Called per intact record, in order; non-zero stops the scan. */
typedef int (*kl_audit_scan_cb)(void *arg, const struct kl_audit_entry *e);

/*
 * Checks the chain as kl_audit_verify does (same results in *rep) and
 * calls cb (may be NULL) for every record found intact, oldest first,
 * before the first broken one.  cb runs under a shared flock of the log:
 * it must not append to it.  A non-zero return of cb stops the scan and
 * is returned.  Reads the whole log: O(its size), no allocation.
 */
int kl_audit_scan(const char *repo, kl_audit_scan_cb cb, void *arg,
    struct kl_audit_report *rep);

/* "KL_E_PERM" etc. for an error code, "ok" for KL_OK. */
const char *kl_audit_outcome_name(int code);

#endif
