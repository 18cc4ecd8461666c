/*
 * Repository checks (`kluis check`, docs/CLI.md "check", docs/COMPLIANCE.md
 * "Checks"): the structure of a repository - every snapshot opens, every
 * tree parses, every blob a tree names is in the index, every pack the
 * index names exists with the right size, every index file reads - and,
 * with a data subset, the content of the selected packs: each is read
 * whole, hashed against its name, its header compared with the index and
 * every blob decrypted, decompressed and its id recomputed.  Findings name
 * the object, say whether it is missing or corrupt, and list the snapshots
 * and paths affected.  Signs that the repository was tampered with - index
 * files and snapshots that this client's catalog knew and that are gone, a
 * repository whose newest snapshot is older than one the catalog saw - are
 * findings too.
 *
 * Nothing here prints; the command layer (client/cli_check.c) reports.
 */
#ifndef KLUIS_CHECK_H
#define KLUIS_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

/* Paths listed per finding unless the caller asks otherwise. */
#define KL_CHECK_PATHS_DEFAULT 20
/* Worker threads of the data verification at most. */
#define KL_CHECK_THREADS_MAX 16
/* Largest M of a "N/M" subset. */
#define KL_CHECK_PARTS_MAX 1000000

/* Which packs have their data read (--read-data[-subset]). */
enum kl_check_data {
	KL_CHECK_DATA_NONE = 0,		/* structure only */
	KL_CHECK_DATA_ALL,		/* every pack */
	KL_CHECK_DATA_PART,		/* N/M: a stable partition by pack id */
	KL_CHECK_DATA_PERCENT,		/* P%: the packs checked longest ago */
};

struct kl_check_subset {
	enum kl_check_data mode;
	uint32_t part, parts;		/* PART: N (1..M) and M */
	uint32_t ppm;			/* PERCENT: P in millionths of the
					 * whole (1..1000000) */
};

/*
 * Parses "N/M" (1 <= N <= M <= KL_CHECK_PARTS_MAX) or "P%" (0 < P <= 100,
 * up to four decimals: "2.5%") into *out.  KL_E_INVAL otherwise (*out is
 * then untouched).
 */
int kl_check_subset_parse(const char *s, struct kl_check_subset *out);
/* "none", "all", "2/5", "34%", "2.5%" into out (cap >= 32). */
void kl_check_subset_format(const struct kl_check_subset *s, char *out,
    size_t cap);

/* A pack and when its data was last verified (KL_CAT_TIME_NONE: never). */
struct kl_check_pack_age {
	struct kl_id id;
	int64_t checked_s;
	int selected;			/* output */
};

/*
 * Pure: marks the packs s selects and returns how many.  ALL: every one.
 * PART N/M: those whose id's first 8 bytes, as a little-endian u64, are
 * N-1 modulo M - so the M runs 1/M .. M/M together cover every pack
 * exactly once, whatever was checked before.  PERCENT: the ceil(P% of n)
 * packs checked longest ago - never-checked ones first, then by
 * checked_s, oldest first, ties by id - which sorts p into that order; so
 * ceil(100/P) runs, each recording what it checked, cover every pack, and
 * packs added since are taken first.  NONE: none.
 */
size_t kl_check_subset_select(const struct kl_check_subset *s,
    struct kl_check_pack_age *p, size_t n);

enum kl_check_kind {
	KL_CHECK_MISSING = 1,	/* an object that should be there is not */
	KL_CHECK_CORRUPT,	/* an object is there but does not verify */
	KL_CHECK_VANISHED,	/* a snapshot the catalog knew is gone */
	KL_CHECK_ROLLBACK,	/* the repository went back in time */
	KL_CHECK_BOGUS,		/* an index file names locations that do not
				 * hold what it says (issue #10) */
};

/* "missing", "corrupt", "vanished", "rollback", "bogus". */
const char *kl_check_kind_name(enum kl_check_kind k);

struct kl_check_finding {
	enum kl_check_kind kind;
	char *object;		/* "data/ab/<hex>", "index/<hex>",
				 * "snapshots/<hex>", "blob <hex>",
				 * "repository" */
	char *detail;		/* what is wrong, one line */
	struct kl_id *snaps;	/* snapshots affected (or the snapshot
				 * itself), oldest first */
	size_t nsnaps;
	char **paths;		/* affected paths (files, or directories whose
				 * tree is lost), at most paths_max */
	size_t npaths;
	uint64_t more_paths;	/* further affected paths not listed */
	uint64_t copies;	/* of its data blobs, also in a sound pack
				 * named by an index file: restores take
				 * those, and no path is affected by them */
};

/* Progress: phase "index", "snapshots", "trees" (done only) or "data"
 * (packs and bytes of the selection). */
struct kl_check_progress {
	const char *phase;
	uint64_t done, total;
	uint64_t bytes_done, bytes_total;
};

struct kl_check_opts {
	struct kl_check_subset data;
	int64_t now;		/* recorded as the packs' verification time */
	size_t paths_max;	/* 0: KL_CHECK_PATHS_DEFAULT */
	int threads;		/* data workers; 0: one per core */
	void (*progress)(void *arg, const struct kl_check_progress *p);
	void *progress_arg;	/* progress runs in any thread, serialised */
};

struct kl_check_report {
	struct kl_check_finding *f;
	size_t nf;
	uint64_t snapshots;	/* snapshots that opened */
	uint64_t trees;		/* distinct trees parsed */
	uint64_t blobs;		/* distinct blobs the index and headers name */
	uint64_t packs;		/* pack files in the repository */
	uint64_t index_files;	/* index files in the repository */
	uint64_t orphan_packs;	/* packs no index file names and no snapshot
				 * needs (information, not findings) */
	uint64_t packs_selected, packs_read, bytes_read;
	uint64_t quarantined;	/* index files and packs withdrawn by a full
				 * key's signed index file (left out,
				 * information) */
	uint64_t attested_packs;	/* packs whose data this run verified
				 * and vouched for in a signed index file */
	int attest_refused;	/* the storage refused that index file (a
				 * read-only role): nothing was vouched for */
	double duration_s;
};

/*
 * Checks the repository r (opened with a full key; its catalog open) as o
 * says, filling *out (cleared first; free with kl_check_report_clear).
 * Before anything else it compares the repository with what the catalog
 * knew (index files, snapshots); then it brings the catalog up to date,
 * so that the next check can compare with this one.  Each pack whose data
 * was read is recorded in the catalog (kl_cat_pack_checked).  Index
 * entries that do not hold what they say - naming packs that are not in
 * the repository, places their pack's own header does not list, or (with
 * data read) a pack none of whose blobs verify - are a "bogus" finding on
 * the index file, never damage of the pack they point into.  The packs
 * whose data was read and found sound are vouched for in an index file
 * signed with the full key (FORMAT.md §9, §16), so that every host may
 * deduplicate against them (out->attested_packs).
 * Findings are results, not errors: KL_OK with out->nf > 0.  Errors stop
 * the check: KL_E_PERM (a backup-only key), KL_E_NOMEM, and the storage's
 * or the catalog's errors (KL_E_IO, KL_E_CONN, ...), with
 * err set.
 */
int kl_check_run(struct kl_repo *r, const struct kl_check_opts *o,
    struct kl_check_report *out, struct kl_error *err);
/* Frees what kl_check_run put in rep and zeroes it; NULL-safe. */
void kl_check_report_clear(struct kl_check_report *rep);

#endif
