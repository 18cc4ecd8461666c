/*
 * The storage backend interface: how the client reaches a repository's
 * files, whether in-process (local path, store/store.c) or through the
 * kluis protocol (pipe or ssh://, transport/transport_*.c).
 *
 * File names are 64 lowercase hex digits (the unkeyed BLAKE2b-256 of the
 * file's bytes, docs/FORMAT.md §2) except for KL_FT_CONFIG, whose name is
 * ignored.  Backends validate names and refuse anything else (KL_E_INVAL).
 */
#ifndef KLUIS_BACKEND_H
#define KLUIS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct buf;

enum kl_ftype {
	KL_FT_CONFIG = 1,
	KL_FT_KEY = 2,
	KL_FT_DATA = 3,
	KL_FT_INDEX = 4,
	KL_FT_SNAPSHOT = 5,
	KL_FT_LOCK = 6,
	KL_FT_RUN = 7,		/* run records (FORMAT.md §17, issue #15) */
};
#define KL_FT_FIRST KL_FT_CONFIG
#define KL_FT_LAST KL_FT_RUN

/*
 * The directory of type t below a repository's root (FORMAT.md §1): ""
 * for CONFIG, "keys", "data", "index", "snapshots", "locks", "runs"; NULL
 * for a value that is no type.  Every list of a repository's directories
 * walks KL_FT_FIRST..KL_FT_LAST through it.
 */
const char *kl_ftype_dir(int t);
/* The singular name of type t in messages and the audit log: "config",
 * "key", "data", "index", "snapshot", "lock", "run"; "" for no type. */
const char *kl_ftype_name(int t);

/*
 * Called once per listed file; a non-zero return stops the listing and is
 * returned by list().  mtime_s is the file's receive time: when the
 * repository's host finished writing it (its modification time there, in
 * UTC seconds since the epoch, by that host's clock; files are create-only,
 * so it never changes).  Over the protocol it is the server's claim
 * (docs/PROTOCOL.md §3): a client may order and filter by it, but it is not
 * authenticated.
 */
typedef int (*kl_list_cb)(void *arg, const char *name, uint64_t size,
    int64_t mtime_s);

struct kl_backend_ops {
	/*
	 * Creates a file with exactly these bytes, durably and atomically.
	 * Content-addressed types (all but CONFIG; FORMAT.md §1) must have
	 * name == hex(BLAKE2b-256(data)); the backend verifies it
	 * (KL_E_CORRUPT on mismatch).  An existing file is never replaced:
	 * KL_E_EXISTS.  KL_E_NOSPACE when the disk is full.
	 */
	int (*put)(void *ctx, enum kl_ftype t, const char *name,
	    const uint8_t *data, size_t len);
	/*
	 * Reads len bytes at off (len == 0: the whole file, at most max
	 * bytes) into a new buffer *out.  KL_E_NOTFOUND if missing,
	 * KL_E_CORRUPT if the file is shorter than asked, KL_E_LIMIT if
	 * larger than max.
	 */
	int (*get)(void *ctx, enum kl_ftype t, const char *name, uint64_t off,
	    size_t len, size_t max, struct buf **out);
	/* Size of a file; KL_E_NOTFOUND if missing. */
	int (*stat)(void *ctx, enum kl_ftype t, const char *name,
	    uint64_t *size);
	/* Lists all files of a type (order unspecified) with their sizes
	 * and receive times (kl_list_cb). */
	int (*list)(void *ctx, enum kl_ftype t, kl_list_cb cb, void *arg);
	/* Removes a file.  Append-only repositories allow this for LOCK
	 * files only (KL_E_PERM otherwise). */
	int (*remove)(void *ctx, enum kl_ftype t, const char *name);
	/* Releases the backend. */
	void (*close)(void *ctx);
	/*
	 * Optional (may be NULL): what the storage said of the calling
	 * thread's last failed call - a repository server's ERR message
	 * ("put data ...: repository quota of 10.0 GiB reached ...") or a
	 * store's refusal - or NULL when it said nothing.
	 */
	const char *(*why)(void *ctx);
	/*
	 * Optional (may be NULL): put, keeping recv_s (UTC seconds) as the
	 * file's receive time - a repository server's replica role, for
	 * `kluis-server replicate` (PROTOCOL.md §3 PUT_DATED).  Other roles
	 * refuse it (KL_E_PERM).
	 */
	int (*put_dated)(void *ctx, enum kl_ftype t, const char *name,
	    const uint8_t *data, size_t len, int64_t recv_s);
};

struct kl_backend {
	const struct kl_backend_ops *ops;
	void *ctx;
};

/* Largest single repository file any backend accepts (a pack plus slack). */
#define KL_FILE_MAX ((size_t)128 << 20)

#endif
