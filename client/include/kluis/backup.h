/*
 * Backup: walks the given paths, chunks and stores changed content, writes
 * one tree per directory and a snapshot (docs/ARCHITECTURE.md "Backup
 * pipeline").  Reading, chunking and storing overlap: one reader thread,
 * one worker per core for hashing, compression and encryption, and the
 * calling thread assembling trees in order.  Memory is bounded by
 * KL_BACKUP_INFLIGHT_MAX bytes of chunks in flight, the pack being filled,
 * packs being written, and per-worker scratch buffers.
 */
#ifndef KLUIS_BACKUP_H
#define KLUIS_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

/* Enough for two workers to each hold a maximal (8 MiB) chunk. */
#define KL_BACKUP_INFLIGHT_MAX ((size_t)16 << 20)

/* How far the walk has come: regular files reached (new, changed or the
 * same as in the parent) and the bytes read from them. */
struct kl_backup_progress {
	uint64_t files, bytes_read;
};

struct kl_backup_opts {
	const char *const *paths;	/* as given; made absolute */
	size_t npaths;
	const char *const *tags;
	size_t ntags;
	const char *host;		/* NULL: gethostname() */
	const char *const *excludes;	/* fnmatch patterns */
	size_t nexcludes;
	int one_file_system;
	int with_atime;			/* store access times (else 0) */
	int compression;		/* zstd level, 0 = off */
	int threads;			/* workers; 0 = number of cores */
	/* Sub-chunk deltas (FORMAT.md §7.1, ARCHITECTURE.md "Deltas"):
	 * files of at least delta_min_size bytes (0: none) keep chunk
	 * signatures in the catalog, and a changed chunk of such a file
	 * may be stored as a delta for up to delta_max_depth versions in
	 * a row (1..255) */
	uint64_t delta_min_size;
	unsigned delta_max_depth;
	kl_warn_fn warn;
	void *warn_arg;
	/* from the thread that walks the paths (one at a time), after each
	 * file it reaches and each read from a file; may be NULL */
	void (*progress)(void *arg, const struct kl_backup_progress *p);
	void *progress_arg;
};

struct kl_backup_stats {
	struct kl_id snapshot;
	struct kl_id parent;		/* zero if none was used */
	uint64_t files_new, files_changed, files_unmodified;
	uint64_t dirs, others;
	uint64_t bytes_read;		/* content bytes read from sources */
	uint64_t bytes_total;		/* content bytes in the snapshot */
	uint64_t bytes_added;		/* stored bytes of new blobs */
	uint64_t blobs_added;
	uint64_t delta_chunks;		/* chunks stored as new delta blobs */
	uint64_t delta_bytes;		/* their stored bytes */
	uint64_t warnings;		/* source problems reported */
	uint64_t packs_adopted;		/* of an interrupted backup */
	uint64_t bytes_adopted;
	uint64_t tmp_removed;		/* stale .tmp-* of a local repository */
	uint64_t tmp_removed_bytes;
	double duration_s;
};

/*
 * Runs a backup into r (which must have its index loaded).  Takes a shared
 * lock for the duration.  Returns KL_OK when a snapshot was written (even
 * if some sources had problems: stats->warnings > 0), or an error when no
 * snapshot was written (nothing that was written is referenced; the
 * repository stays consistent).  A given path that does not exist or
 * cannot be looked at is named through o->warn, counted in
 * stats->warnings and left out; KL_E_NOTFOUND when none is left, and
 * KL_E_INVAL when a path is malformed (o->warn named it): err (NULL: no
 * detail) records nothing then.  Other failures are recorded in err
 * (the repository's, or the first of the worker threads', each of which
 * has its own struct kl_error), except those the code says all about.
 */
int kl_backup_run(struct kl_repo *r, const struct kl_backup_opts *o,
    struct kl_backup_stats *stats, struct kl_error *err);

/*
 * Normalises path into an absolute path without ".", ".." or repeated
 * '/' (no symlink resolution).  out must hold KL_PATH_MAX + 1 bytes.
 */
int kl_path_normalize(const char *path, char *out);

#endif
