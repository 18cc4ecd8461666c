/*
 * Restore drills (docs/COMPLIANCE.md "Restore drills"): a random sample of
 * a snapshot is restored into a scratch directory with kl_restore_run, then
 * every restored byte and metadata field is verified against the snapshot
 * and the time a full restore would take is extrapolated from the sample.
 *
 * The verifier does not trust restore: it reads back what the file system
 * holds, recomputes every chunk's keyed id from those bytes (the chunk
 * boundaries are the raw lengths in the repository index) and compares
 * every metadata field with the snapshot's tree itself.
 *
 * Nothing here prints; problems come back as findings through a callback,
 * each naming an absolute snapshot path and a field.
 */
#ifndef KLUIS_DRILL_H
#define KLUIS_DRILL_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

/* Regular files sampled when neither a count nor a share is given. */
#define KL_DRILL_DEFAULT_FILES 1000
/* opts.files: restore and verify the whole snapshot. */
#define KL_DRILL_ALL UINT64_MAX

/*
 * A finding.  path: absolute snapshot path ("/" for the root); field: what
 * differs - "content", "size", "holes", "type", "mode", "uid", "gid",
 * "mtime", "atime", "target", "rdev", "xattr", "missing" (not restored),
 * "extra" (restored but not in the snapshot), "restore" (restore reported
 * the path as not (fully) restored), "tree" (a directory's tree could not
 * be read), "read" (the restored data could not be read back); detail: one
 * line for an operator.  The strings live during the call only.
 */
typedef void (*kl_drill_finding_fn)(void *arg, const char *path,
    const char *field, const char *detail);

struct kl_drill_opts {
	const char *target;	/* an existing, empty directory; the caller
				 * creates it and removes what is restored */
	uint64_t files;		/* regular files to sample; 0: the default;
				 * KL_DRILL_ALL: everything */
	double share;		/* > 0: this share (0, 1] of the snapshot's
				 * files instead of files; >= 1: everything */
	uint64_t seed;		/* of the sample's pseudo-random choice */
	kl_drill_finding_fn finding;	/* may be NULL */
	void *finding_arg;
};

struct kl_drill_result {
	uint64_t snapshot_files, snapshot_bytes;	/* from the snapshot */
	uint64_t sample_files, sample_bytes;	/* regular files sampled */
	uint64_t sample_others;		/* other entries sampled (symlinks,
					 * devices, FIFOs, sockets, empty
					 * directories, the other names of
					 * files with hard links) */
	uint64_t verified;		/* entries verified, with the
					 * directories leading to the sample */
	int all;			/* the whole snapshot was restored */
	uint64_t scratch_needed, scratch_free;	/* bytes, see KL_E_NOSPACE */
	double restore_s, verify_s;
	double bytes_per_s, files_per_s;	/* of the sample's restore */
	double rto_s;			/* kl_drill_rto of the above */
	uint64_t mismatches;		/* findings reported */
	uint64_t restore_errors;	/* paths restore could not restore */
};

/*
 * Runs a drill of snapshot snap (full keys only) into o->target.
 *
 * The sample: k regular files drawn uniformly at random (reservoir
 * sampling over the snapshot's trees; k is o->files, the default, or
 * o->share of the snapshot's file count rounded up; a file with hard
 * links counts once, as in the snapshot), and every other non-directory
 * entry and empty directory with probability k / files;
 * every directory leading to a sampled entry is restored and verified as
 * well.  When the sample would be the whole snapshot, the whole snapshot
 * is restored, and directories are also checked for entries restore
 * should not have made.
 *
 * Returns KL_OK when the drill ran - its verdict is res->mismatches (0:
 * passed), each mismatch reported through o->finding.  Errors: what
 * kl_repo_snapshot_load, kl_repo_index_load and kl_restore_run return for
 * the repository (KL_E_PERM for a backup-only key; KL_E_EXISTS: the target
 * is not empty, nothing written); KL_E_NOSPACE: the file system of the
 * target has less free space (res->scratch_free) than the sample needs
 * (res->scratch_needed), nothing written; KL_E_NOMEM.  res is filled as
 * far as the drill got.  The target is left as restore and verification
 * left it: removing it is the caller's (kl_drill_rmtree).
 */
int kl_drill_run(struct kl_repo *r, const struct kl_id *snap,
    const struct kl_drill_opts *o, struct kl_drill_result *res,
    struct kl_error *err);

/*
 * Verifies a restore of the whole of snapshot snap in dir: every entry's
 * type, mode, owner (uid/gid, only when running as root, as restore sets
 * them only then), mtime and atime (to the nanosecond), symlink target,
 * device numbers, the extended attributes restore can set, size, holes
 * (at the target's block granularity) and content (chunk ids recomputed),
 * and no entry that is not in the snapshot.  Findings go to fn (may be
 * NULL) and are counted in *mismatches.  Returns KL_OK, or KL_E_NOTFOUND /
 * KL_E_INVAL if dir cannot be opened as a directory, the errors of
 * kl_repo_snapshot_load, KL_E_NOMEM.  The index must be loaded.
 */
int kl_drill_verify(struct kl_repo *r, const struct kl_id *snap,
    const char *dir, kl_drill_finding_fn fn, void *arg,
    uint64_t *mismatches, struct kl_error *err);

/*
 * The recovery time objective extrapolated from a sample restore that
 * took restore_s: the larger of the time at the sample's byte rate and at
 * its file rate, never less than restore_s itself
 * (docs/COMPLIANCE.md "Restore drills" explains the model and its
 * limits).  Pure.
 */
double kl_drill_rto(uint64_t sample_files, uint64_t sample_bytes,
    uint64_t snapshot_files, uint64_t snapshot_bytes, double restore_s);

/*
 * Removes everything below directory dir, and dir too unless keep_top,
 * without following symbolic links or descending into another file
 * system; write permission is restored where needed.  Returns KL_OK,
 * KL_E_INVAL if dir is not a directory (or a symbolic link), or the first
 * error met (what could be removed is).
 */
int kl_drill_rmtree(const char *dir, int keep_top);

#endif
