/* Private to the repository check (check*.c). */
#ifndef KLUIS_CHECK_INTERNAL_H
#define KLUIS_CHECK_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kluis/check.h"
#include "kluis/err.h"
#include "kluis/map.h"
#include "kluis/format.h"

struct buf;
struct kl_cat;
struct kl_keys;

/* kl_id -> u32 map: kluis/map.h's, typed; all zeroes is an empty map.
 * idmap_put: 1 added, 0 present, KL_E_NOMEM, KL_E_LIMIT. */
struct idmap {
	struct kl_map m;
};

int idmap_put(struct idmap *m, const struct kl_id *id, uint32_t v);
/* 1 and *v if present, 0 if not. */
int idmap_get(const struct idmap *m, const struct kl_id *id, uint32_t *v);
/* Points id, which m holds, at v. */
void idmap_repoint(struct idmap *m, const struct kl_id *id, uint32_t v);
void idmap_clear(struct idmap *m);

/* One blob location, from an index file or (orphan) a pack's header. */
struct centry {
	struct kl_id id;
	uint32_t pack;		/* index into chk.packs */
	uint32_t offset, stored_len, raw_len;
	uint32_t finding;	/* finding index + 1 it is attributed to */
	uint32_t file;		/* index file (chk.ixf) + 1; 0: a header */
	int8_t err;		/* kl_err of reading it; 0 = sound or unread */
	uint8_t type;
	uint8_t orphan;		/* known from the pack header only */
	uint8_t referenced;	/* a tree of a snapshot names it */
	uint8_t denied;		/* its pack's header does not list it */
};

/* One index file of the repository, and what is wrong with its entries. */
struct cixf {
	struct kl_id id;
	uint64_t entries;	/* as read */
	uint64_t absent;	/* naming packs not in the repository */
	uint64_t denied;	/* not where their pack's header lists them */
	uint64_t fake;		/* in a pack none of whose blobs verify */
	uint8_t attested;	/* signed by a full key, verified */
	uint8_t withdrawn;	/* a signed index file withdraws it */
};

/* One pack: listed in data/, or named by an index file, or both. */
struct cpack {
	struct kl_id id;
	uint64_t size;		/* as listed */
	uint64_t expect;	/* size its index entries imply, 0: unknown */
	uint64_t end;		/* end of its last blob per the entries */
	size_t first, n;	/* its entries in chk.e */
	uint32_t tree_lo, tree_hi;	/* range of its tree blobs */
	uint32_t finding;	/* finding index + 1 */
	uint32_t nbad;		/* blobs that did not verify */
	int64_t checked_s;	/* last data verification (catalog) */
	int8_t orphan_err;	/* header unreadable (no index names it) */
	int8_t hdr_err;		/* --read-data: header unreadable */
	int8_t key_err;		/* --read-data: envelope does not open */
	uint8_t listed, indexed, needed, selected, read, gone;
	uint8_t size_bad, hash_bad, hdr_mismatch;
	uint32_t hdr_extra;	/* header entries the index lacks */
	uint32_t file1, file2;	/* not listed: index files (chk.ixf + 1)
				 * that name it, 0: none */
};

/* Scratch of one thread that opens blobs. */
struct cscratch {
	void *dctx;		/* ZSTD_DCtx */
	struct buf *raw;
	struct buf *pt;		/* a blob's plaintext as stored */
	uint8_t *key;		/* sodium_malloc'd session key */
};

/* A snapshot of the repository, as listed and (if ok) opened. */
struct csnap {
	struct kl_id id;
	struct kl_id tree;
	int64_t recv_s;		/* receive time from the listing */
	int64_t time_s;
	uint32_t time_ns;
	uint64_t files, dirs;	/* what it declares */
	char host[KL_NAME_MAX + 1];
	int ok;			/* opened */
	int over;		/* its trees exceed its budget */
};

/*
 * What a tree and everything below it hold, as a walk over paths meets
 * them (kluis/treewalk.h): the entries of every tree loaded on the way,
 * summed over every path (saturating), and the levels of directories.
 */
struct chk_size {
	uint64_t entries;
	uint64_t levels;
};

/*
 * The structure pass's memo over all snapshots: every tree id met, with
 * its size once known.  Each tree is read and parsed once, whatever the
 * number of paths that name it.
 */
struct chk_trees {
	struct idmap seen;	/* tree id -> index into sz */
	struct chk_size *sz;
	uint8_t *done;		/* sz[i] is final (0: on the current path) */
	size_t n, cap, done_cap;
	uint64_t parsed;	/* trees read and parsed */
};

/* How the structure pass reads trees and reports what they name. */
struct chk_tree_ops {
	/* KL_OK; KL_E_NOTFOUND: missing or damaged (recorded), size 0;
	 * anything else stops the pass */
	int (*read)(void *arg, const struct kl_id *id, struct kl_tree *out);
	/* a blob a file's content is read from: kl_node_blobs */
	int (*chunk)(void *arg, const struct kl_id *id, uint8_t type);
	void (*progress)(void *arg, uint64_t parsed);		/* may be NULL */
	void *arg;
};

/*
 * The size of tree root and everything below it (*out), reading each tree
 * not in m yet once, without recursion: a depth-first walk over distinct
 * trees, sizes computed as each is left.  A tree met again on its own path
 * (a cycle, which ids that are hashes exclude but a loader may produce)
 * is infinitely large.  Returns KL_OK or the first error of o->read or
 * o->chunk other than KL_E_NOTFOUND, or KL_E_NOMEM.
 */
int chk_tree_size(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_id *root, struct chk_size *out);
void chk_trees_clear(struct chk_trees *m);

/* A fetched byte range of a pack that holds tree blobs. */
struct trange {
	uint32_t pack;
	uint32_t lo;
	struct buf *b;
};

#define CHK_TREE_CACHE 8
#define CHK_TREE_RANGE_MAX ((uint32_t)32 << 20)

struct chk {
	struct kl_repo *r;
	struct kl_error *err;	/* the caller's (may be NULL): what stopped
				 * the check; the data phase's workers each
				 * fill their own, and the first failure is
				 * copied here under mu */
	struct cixf *ixf;	/* the repository's index files, by name */
	size_t nixf, ixf_cap;
	struct kl_id *wd;	/* withdrawn by attested index files */
	size_t nwd, wd_cap;
	struct kl_id *rt;	/* named by attested retire records (prune) */
	size_t nrt, rt_cap;
	const struct kl_keys *keys;
	const struct kl_check_opts *o;
	struct kl_check_report *rep;
	struct kl_cat *cat;
	size_t paths_max;
	struct cpack *packs;
	size_t npacks, packs_cap;
	struct idmap pmap;	/* pack id -> packs[] */
	struct centry *e;
	size_t ne, e_cap;
	struct idmap bmap;	/* blob id -> e[] (index locations first) */
	uint32_t *byid;		/* every e[] index, by blob id: a blob's
				 * other locations */
	struct idmap miss;	/* blob id -> finding index of blobs with no
				 * usable location */
	struct chk_trees trees;	/* trees parsed, with their sizes */
	struct csnap *snaps;	/* sorted by id, then (walks) by time */
	size_t nsnaps;
	struct kl_map *fx;	/* per finding (rep->f): its affected
				 * paths, by keyed hash, each counted once */
	size_t f_cap, fx_cap;
	struct trange tr[CHK_TREE_CACHE];
	unsigned tr_next;
	pthread_mutex_t mu;	/* data phase: progress, counters */
	int fatal;		/* data phase: first error that stops */
	size_t next;		/* data phase: next pack to take */
	uint64_t done, bytes_done, bytes_total, ndone_total;
};

/* check.c, for the other check files. */
int finding_new(struct chk *k, enum kl_check_kind kind, const char *object,
    uint32_t *idx, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Adds snap to finding i's snapshots unless it is there. */
int chk_finding_snap(struct chk *k, uint32_t i, const struct kl_id *snap);
/* Records that path (len bytes) of snapshot snap is affected by finding
 * i: each path once, at most k->paths_max of them kept. */
int chk_finding_hit(struct chk *k, uint32_t i, const struct kl_id *snap,
    const char *path, size_t len);
/* "index/<hex>" (dir "index/") into out (>= 96 bytes). */
void obj_name(const char *dir, const struct kl_id *id, char *out);
/* The message of e for a call that returned rc (kl_error_msg), without
 * the object name it starts with. */
const char *errmsg_about(const struct kl_error *e, const char *object,
    int rc);
/* Copies e, the detail of a failure that stops the check, into k->err
 * (single-threaded phases only); returns rc. */
int chk_fail(struct chk *k, const struct kl_error *e, int rc);
/* 1 for damage to a repository object (a finding), 0 for errors that
 * stop the check. */
int is_damage(int rc);
void progress(struct chk *k, const char *phase, uint64_t done,
    uint64_t total);

/* check_packs.c: packs and blob locations. */
/* The packs[] index of pack id, added if new. */
int pack_ref(struct chk *k, const struct kl_id *id, uint32_t *out);
/* qsort order of k->e: by pack, offset, then the whole location, index
 * entries before headers' (orphan) ones. */
int entry_cmp(const void *a, const void *b);
/* Appends one location of pack (packs[] index) to k->e. */
int entry_add(struct chk *k, uint32_t pack, const struct kl_blob_entry *be,
    int orphan);
/* Listing callback of data/ (arg: k): marks pack name listed, with its
 * size; skips names that are not ids. */
int chk_list_pack(void *arg, const char *name, uint64_t size,
    int64_t mtime_s);
/* Packs no index file names: their blobs, from their own headers. */
int chk_orphans_phase(struct chk *k);
/*
 * Sorts the locations, drops the claims that do not hold (claims_phase),
 * merges the ones several sources name, and sizes every pack; then maps
 * each blob id to one location (k->bmap) and builds k->byid.
 */
int chk_entries_finish(struct chk *k);
/* The first position in k->byid of blob id. */
size_t chk_byid_lower(const struct chk *k, const struct kl_id *id);

/* check_snaps.c: snapshots. */
/* Snapshots the catalog knew that are gone, a rollback; then opens every
 * snapshot (k->snaps, sorted by time after) and records it in the catalog. */
int chk_snap_phase(struct chk *k);

/* check_trees.c: trees, and the structure pass. */
/*
 * Reads tree id.  A damaged or missing tree is not an error: with record
 * set it is noted (the blob's error, or a finding for a blob with no
 * location) and KL_E_NOTFOUND is returned for the caller to skip it.
 */
int chk_tree_read(struct chk *k, struct cscratch *s, const struct kl_id *id,
    int record, struct kl_tree *out);
/* Parses every tree of the opened snapshots once, marks the blobs they
 * name, and makes a finding for each snapshot over its budget. */
int chk_trees_phase(struct chk *k, struct cscratch *s);

/* check_conclude.c: after the data phase. */
/* The finding of pack p if it is damaged or missing, and its blobs'. */
int chk_pack_conclude(struct chk *k, struct cpack *p);
/* Points lost data blobs at sound copies, counted by their finding. */
void chk_copies_phase(struct chk *k);
/* Names the snapshots and paths that lost something to each finding. */
int chk_attribute_phase(struct chk *k, struct cscratch *s);

/*
 * check_index.c: the index files.  index_phase reads and verifies every
 * one (findings for the damaged, "vanished" for those the catalog knew
 * and the repository lost) and collects their entries with their file;
 * claims_phase (entries sorted by pack and offset) drops the entries of
 * withdrawn files and those that a suspicious pack's own header denies,
 * and counts, per file, the entries that name packs not in the
 * repository; index_conclude makes the "bogus" findings; attest_phase
 * vouches for the sound packs the data phase read.
 */
int index_phase(struct chk *k);
/* 1 if a signed index file withdrew file id (quarantine, forget); valid
 * once index_phase has run. */
int chk_withdrawn(const struct chk *k, const struct kl_id *id);
/* 1 if a retire record explains the absence of file id (prune). */
int chk_pruned(const struct chk *k, const struct kl_id *id);
int claims_phase(struct chk *k);
int index_conclude(struct chk *k);
int attest_phase(struct chk *k);

int cscratch_init(struct cscratch *s);
void cscratch_clear(struct cscratch *s);
/*
 * Opens the stored blob of e (stored_len bytes at stored) with the pack's
 * session key: decrypt, decode, check the raw length and recompute the
 * id.  The raw content is left in s->raw.  KL_E_CORRUPT on any mismatch.
 */
int chk_blob_open(const struct kl_keys *keys, const struct centry *e,
    const uint8_t *stored, struct cscratch *s);
/* "data/ab/<hex>" into out (>= 80 bytes). */
void chk_pack_name(const struct kl_id *id, char *out);

/* check_data.c: reads and verifies the packs the subset selects. */
int chk_data(struct chk *k);

#endif
