/*
 * kluis prune (docs/CLI.md "prune", docs/ARCHITECTURE.md "Why prune is
 * safe"): gives back the space of blobs no snapshot uses.
 *
 * Packs whose blobs no snapshot uses are deleted; the packs with the
 * most unused share are repacked until the repository's unused bytes are
 * within max_unused of those in use (the blobs in use are read,
 * verified, written into new packs named by a signed index file, then the
 * old pack is deleted).  Index files whose packs are all gone go too, and
 * those naming some are written again without them (signed only if they
 * were) before they go.
 * Every deletion is explained beforehand by a signed retire record
 * (FORMAT.md §9), so that no client or check takes it for damage.
 *
 * Order, so that a kill at any point loses nothing: (1) copies written
 * and indexed, (2) the retire record, (3) packs deleted, (4) index files
 * deleted.  A rerun finishes what a killed run began.  The caller holds
 * the exclusive lock and a full key; the set of blobs in use lives in the
 * catalog, not in memory.
 */
#ifndef KLUIS_PRUNE_H
#define KLUIS_PRUNE_H

#include <stdint.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

struct kl_prune_opts {
	/* repack the packs with the most unused share until at most this
	 * share of the bytes in use stays unused, in hundredths of a per
	 * cent (500: 5 %, restic's --max-unused; 0: every unused byte) */
	unsigned max_unused_x100;
	int dry_run;			/* plan and report, change nothing */
	/* snapshots taken as gone already (forget --prune --dry-run) */
	const struct kl_id *skip;
	size_t nskip;
	/* progress of each phase ("snapshots", "trees", "packs", "copy",
	 * "delete"); may be NULL */
	void (*progress)(void *arg, const char *phase, uint64_t done,
	    uint64_t total);
	void *progress_arg;
	/* a file the storage refused to delete ("data/ab/abcd..."), and
	 * what it said; may be NULL */
	void (*refused)(void *arg, const char *file, const char *why);
	void *refused_arg;
};

struct kl_prune_report {
	uint64_t snapshots, trees, blobs_used;
	uint64_t packs, bytes;			/* in the repository before */
	uint64_t packs_unused, bytes_unused;	/* deleted whole */
	uint64_t packs_repack, bytes_repack;	/* deleted after the copy */
	uint64_t blobs_copied, bytes_copied;	/* raw bytes read and kept */
	uint64_t packs_written, bytes_written;
	uint64_t packs_kept, bytes_kept, unused_kept; /* unused bytes left */
	uint64_t packs_unknown;		/* no readable header: left alone */
	uint64_t packs_quarantined;	/* withdrawn: left alone as evidence */
	uint64_t index_deleted;
	uint64_t index_written;		/* written again without dead packs */
	uint64_t records;		/* retire records written */
	uint64_t removed, remove_failed;	/* files the storage removed */
};

/*
 * Plans and (unless o->dry_run) carries out a prune of r; fills *rep.
 * KL_E_CORRUPT when a snapshot or a tree cannot be read, or a blob in use
 * has no location or no sound copy (err names it; nothing was
 * deleted); KL_E_PERM when the storage refuses deletions; transport,
 * catalog and storage errors.  Files the storage refused to delete one by
 * one (a server's --min-age) are counted in rep->remove_failed and told
 * to o->refused; a later prune deletes them.
 */
int kl_prune(struct kl_repo *r, const struct kl_prune_opts *o,
    struct kl_prune_report *rep, struct kl_error *err);

#endif
