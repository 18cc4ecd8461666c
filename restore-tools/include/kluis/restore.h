/*
 * Restore of a snapshot (or parts of it) into a target directory, with
 * full metadata (docs/ARCHITECTURE.md "Restore").  Packs are read once
 * each, in order; every blob is decrypted once and written to every place
 * that needs it.  Nothing is ever written outside the target, even while
 * another local user changes directories of the target that they can
 * write: names come from verified trees that forbid '/', "." and "..";
 * every operation works on one name in a parent directory opened beneath
 * the target without following symbolic links (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), and metadata goes only to the very objects the
 * restore created (restore_fs.c).  Needs Linux 5.8 and /proc.
 */
#ifndef KLUIS_RESTORE_H
#define KLUIS_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

/* Suffix given to a file whose content could not be fully restored. */
#define KL_RESTORE_DAMAGED_SUFFIX ".kluis-incomplete"

/* What a restore has written of the files' content (a retry from other
 * copies of a damaged pack adds to both totals). */
struct kl_restore_progress {
	uint64_t packs_done, packs_total;
	uint64_t bytes_done, bytes_total;
};

struct kl_restore_opts {
	const char *target;
	const char *const *includes;	/* absolute snapshot paths; none: all */
	size_t nincludes;
	int overwrite;			/* allow a non-empty target */
	/*
	 * Per-path problems; and, with err KL_OK (not counted as an error),
	 * every directory on the way to the target and the target itself
	 * that users other than the caller and root can write.
	 */
	kl_warn_fn warn;
	void *warn_arg;
	/*
	 * Optional selection in place of includes (which must then be
	 * empty), for selections too large for a list: called with the
	 * absolute snapshot path of every entry restore reaches (the
	 * entries of each directory it descends into); returns 2 to restore
	 * the entry (a directory: and descend into it), 1 to create a
	 * directory only as the way to selected entries below it (ignored
	 * for other types), 0 to skip it.  Restore follows the answers as
	 * given: a selected directory's entries are asked about in turn.
	 * Called from the calling thread only.  kluis drill uses it.
	 */
	int (*select)(void *arg, const char *path);
	void *select_arg;
	/* after each pack whose content was written, from the restore
	 * threads one at a time (may be NULL) */
	void (*progress)(void *arg, const struct kl_restore_progress *p);
	void *progress_arg;
};

struct kl_restore_stats {
	uint64_t files, dirs, links, others;
	uint64_t bytes;			/* content bytes written */
	uint64_t packs_read;
	uint64_t bytes_fetched;		/* pack bytes read from the repository */
	uint64_t errors;		/* paths not (fully) restored */
	double duration_s;
};

/*
 * Restores snapshot snap into o->target (created if missing).
 * KL_E_EXISTS: target is not empty and overwrite is off (nothing written).
 * KL_E_NOTFOUND: an include path is not in the snapshot.
 * KL_E_CHANGED: a symbolic link appeared on the target's path while it
 * was opened (nothing written).  These two, and a target that cannot be
 * created or opened, are recorded in err with kind KL_ABOUT_FILE, the
 * sentence naming the path (fatal: not warnings).
 * KL_OK with stats->errors > 0: some paths could not be restored (each
 * reported through o->warn; damaged files carry KL_RESTORE_DAMAGED_SUFFIX
 * and are as large as what was written to them, never larger); everything
 * else was restored.
 */
int kl_restore_run(struct kl_repo *r, const struct kl_id *snap,
    const struct kl_restore_opts *o, struct kl_restore_stats *stats,
    struct kl_error *err);

#endif
