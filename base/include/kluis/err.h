/*
 * kluis error vocabulary, shared by every module and carried in protocol
 * error replies (docs/PROTOCOL.md).  0 is success, errors are negative.
 * The values are part of the wire protocol: never renumber, only append.
 */
#ifndef KLUIS_ERR_H
#define KLUIS_ERR_H

enum kl_err {
	KL_OK = 0,
	KL_E_NOMEM = -1,	/* allocation failed */
	KL_E_IO = -2,		/* operating system I/O error (errno kept) */
	KL_E_NOTFOUND = -3,	/* object / file / repository is missing */
	KL_E_CORRUPT = -4,	/* bytes present but malformed or failing auth */
	KL_E_INVAL = -5,	/* bad argument or usage */
	KL_E_EXISTS = -6,	/* create-only target already exists */
	KL_E_BADPASS = -7,	/* no key file opens with this passphrase */
	KL_E_PERM = -8,		/* key or role lacks the right */
	KL_E_LOCKED = -9,	/* repository is locked by someone else */
	KL_E_UNSUPPORTED = -10,	/* unknown version, flag or type */
	KL_E_LIMIT = -11,	/* a hard size/count limit would be exceeded */
	KL_E_NOSPACE = -12,	/* disk full or quota exceeded */
	KL_E_PROTO = -13,	/* protocol violation by the peer */
	KL_E_CRYPTO = -14,	/* crypto library failure (not bad input) */
	KL_E_CHANGED = -15,	/* source changed or vanished while read */
	KL_E_CONN = -16,	/* transport connection failed or dropped */
	KL_E_HOSTKEY = -17,	/* SSH host key unknown or changed */
	KL_E_DENIED = -18,	/* the operating system denied access
				 * (EACCES, EPERM, EROFS) */
};

/* Returns a static, human-readable description of an error code. */
const char *kl_strerror(int err);

/*
 * Maps an errno value to a kl_err (ENOENT -> NOTFOUND, ENOSPC/EDQUOT ->
 * NOSPACE, EEXIST -> EXISTS, EACCES/EPERM/EROFS -> DENIED, ENOMEM -> NOMEM,
 * everything else -> IO).
 */
int kl_err_from_errno(int e);

/*
 * What a failure is about (struct kl_error).  The command line maps a code
 * and this kind to an exit code in one table (client/cli_fail.c): a
 * missing KL_ABOUT_REPO or KL_ABOUT_CONFIG is "no repository" (10), a
 * missing blob an ordinary failure (1).
 */
enum kl_about {
	KL_ABOUT_NONE = 0,	/* nothing in particular (usage, memory) */
	KL_ABOUT_REPO,		/* the repository as a whole, by its address */
	KL_ABOUT_CONFIG,	/* the repository's config file */
	KL_ABOUT_KEY,		/* a key file (id, or path of an external one) */
	KL_ABOUT_LOCK,		/* a lock file */
	KL_ABOUT_INDEX,		/* an index file */
	KL_ABOUT_PACK,		/* a pack file */
	KL_ABOUT_BLOB,		/* a blob (data or tree), by id */
	KL_ABOUT_TREE,		/* a tree blob, by id */
	KL_ABOUT_SNAPSHOT,	/* a snapshot file */
	KL_ABOUT_CATALOG,	/* the local catalog (a SQLite file) */
	KL_ABOUT_FILE,		/* a local file or directory, by path */
	KL_ABOUT_SERVER,	/* the repository server or the connection */
	KL_ABOUT_RUN,		/* a run record in the repository (issue #15) */
};

#define KL_ERROR_ID_MAX 65	/* 64 hex digits and a NUL */
#define KL_ERROR_PATH_MAX 4096
#define KL_ERROR_MSG_MAX 1024

/*
 * One failure, filled where it happens and passed explicitly: every
 * library call that can fail with more to say than its code takes a
 * struct kl_error * (NULL when the caller does not want the detail).
 * The caller owns it - one per thread of work, never shared - and the
 * command line prints it once (docs/ARCHITECTURE.md "Errors").
 *
 * code is the enum kl_err the call returned; kind, id and path say which
 * object (id: its 64 hex digits, or ""; path: a repository file name such
 * as "data/ab/<hex>" or a local path, or ""); msg is the whole sentence
 * for the operator, including the object, or "" when the code says it all.
 */
struct kl_error {
	int code;
	enum kl_about kind;
	char id[KL_ERROR_ID_MAX];
	char path[KL_ERROR_PATH_MAX];
	char msg[KL_ERROR_MSG_MAX];
};

struct kl_id;

/* Empties e (code KL_OK).  NULL-safe, as are all kl_error_* below. */
void kl_error_clear(struct kl_error *e);
/* Records a failure about nothing in particular; returns code. */
int kl_error_set(struct kl_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a failure about one object (id and path may be NULL); returns
 * code. */
int kl_error_obj(struct kl_error *e, int code, enum kl_about kind,
    const struct kl_id *id, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/*
 * Adds context in front of the detail a callee recorded ("snapshot 1a2b"
 * + ": " + "tree 3c4d: missing"), keeping its kind, id and path, and
 * returns code.  When e holds no failure with this code (the callee said
 * nothing more than its code), the message becomes the context and the
 * code's text, about nothing in particular.
 */
int kl_error_wrap(struct kl_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether e records a failure. */
int kl_error_isset(const struct kl_error *e);
/* The text to show for a call that returned code: e's message when e
 * records that code and has one, else kl_strerror(code). */
const char *kl_error_msg(const struct kl_error *e, int code);

/* Called for each problem with one path that does not stop the run
 * (backup: unreadable, vanished, changed while read, excluded type...;
 * restore: a file not restored): path, error code, a short description. */
typedef void (*kl_warn_fn)(void *arg, const char *path, int err,
    const char *what);

#endif
