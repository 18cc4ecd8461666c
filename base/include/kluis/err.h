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

/* Called for each problem with one path that does not stop the run
 * (backup: unreadable, vanished, changed while read, excluded type...;
 * restore: a file not restored): path, error code, a short description. */
typedef void (*kl_warn_fn)(void *arg, const char *path, int err,
    const char *what);

#endif
