/*
 * The client-side catalog (docs/CATALOG.md): one SQLite database per
 * repository that caches what the repository holds - the blob index used
 * for deduplication, the snapshot list, file versions stored as change
 * intervals, the trees of this client's own last backups - and records
 * what happened here: backup runs, checks and drills.
 *
 * It is a cache.  Everything can be rebuilt from the repository but what
 * only this client knows: the runs (table run), the data verification
 * records (pack_check), the index files and packs this client wrote
 * (own_index, own_pack) and the hosts retired by forgets it followed
 * (retired); kl_cat_reset keeps those.  Callers never trust it over the
 * repository: what it returns is checked where it is used (blob ids are
 * verified when blobs are read, cached trees against their keyed ids).
 *
 * This module knows SQLite and the catalog's schema, nothing about keys
 * or transports: the client feeds it decrypted repository contents.
 *
 * Thread safety: one struct kl_cat may be shared by threads; every call is
 * serialised by an internal mutex.  Several processes may open the same
 * catalog (WAL mode; a writer waits up to KL_CAT_BUSY_MS for another).
 * Callbacks run with the mutex held: they may call the catalog from the
 * same thread (the mutex is recursive), other threads wait.  Those of
 * kl_cat_versions, kl_cat_find, kl_cat_pack_check_foreach and
 * kl_cat_prune_copies are the exception: these collect their rows first
 * and call back without the mutex.
 *
 * Strings returned through callbacks are valid during the callback only.
 * Every function returns KL_OK (0) or a negative kl_err, except where it
 * says otherwise (predicates return 1 or 0), and fills the caller's
 * struct kl_error (last parameter, may be NULL; kind KL_ABOUT_CATALOG,
 * path the database file, message "catalog PATH: what failed"; never
 * text kept in the shared handle): KL_E_IO for SQLite errors,
 * KL_E_CORRUPT when SQLite reports the database damaged, KL_E_NOSPACE
 * when the disk is full, KL_E_DENIED when the file may not be written,
 * the file system's error when SQLite cannot open a file, KL_E_NOMEM,
 * KL_E_INVAL for bad arguments.
 */
#ifndef KLUIS_CATALOG_H
#define KLUIS_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"

struct buf;
struct kl_cat;

/* Schema version this code writes; older ones are migrated step by step. */
#define KL_CAT_SCHEMA 9
#define KL_CAT_BUSY_MS 60000
/* "No time known" (a snapshot without a server receive time). */
#define KL_CAT_TIME_NONE INT64_MIN
#define KL_CAT_FILE "catalog.db"
#define KL_CAT_PATH_MAX 4096

/*
 * The directory of repository repo_id's catalog: $KLUIS_CACHE_DIR/<id>,
 * else for root /var/cache/kluis/<id>, else $XDG_CACHE_HOME/kluis/<id>,
 * else $HOME/.cache/kluis/<id> (<id> = 64 hex digits).  KL_E_LIMIT if it
 * does not fit cap bytes, KL_E_NOTFOUND if there is no HOME either.
 */
int kl_cat_dir_default(const struct kl_id *repo_id, char *out, size_t cap);
/* The same place for name instead of <id>: what else kluis keeps in its
 * cache directory (docs/CATALOG.md "Pending runs"). */
int kl_cat_dir_named(const char *name, char *out, size_t cap);

enum kl_cat_state {
	KL_CAT_OPENED = 0,	/* an existing, sound catalog */
	KL_CAT_CREATED,		/* there was none */
	KL_CAT_REPLACED_DAMAGED, /* the file was damaged (renamed to
				 * catalog.db.damaged) and a new one created */
	KL_CAT_REPLACED_FOREIGN, /* it belonged to another repository */
	KL_CAT_REPLACED_NEWER,	/* a newer kluis wrote it (schema too new) */
	KL_CAT_TEMPORARY,	/* dir NULL: a private temporary database */
};

/*
 * Opens (creating dir with mode 0700 and the database if needed) the
 * catalog of repository repo_id in dir/KL_CAT_FILE.  A file that is not
 * a sound catalog (SQLite cannot open it, PRAGMA quick_check fails, the
 * schema is not ours) or that belongs to another repository is replaced by
 * a new, empty catalog; *state says what happened (state may be NULL).
 * An older schema is migrated in place.  dir NULL: a temporary database
 * deleted on close (used when no cache directory can be written).
 * KL_E_IO / KL_E_DENIED if dir cannot be created or written, KL_E_LIMIT
 * if dir/KL_CAT_FILE does not fit KL_CAT_PATH_MAX bytes.
 */
int kl_cat_open(const char *dir, const struct kl_id *repo_id,
    struct kl_cat **out, int *state, struct kl_error *err);
void kl_cat_close(struct kl_cat *c);
/* The database file's path ("" for a temporary catalog). */
const char *kl_cat_path(const struct kl_cat *c);
/* Why kl_cat_open replaced the file it found (*state REPLACED_*: what
 * quick_check said, "it belongs to another repository", ...), "" if it
 * did not.  Fixed when the handle is opened. */
const char *kl_cat_replaced_why(const struct kl_cat *c);

/*
 * Transactions.  Calls between begin and commit are one SQLite write
 * transaction (much faster for many puts); begin/commit nest by count and
 * only the outermost pair acts.  kl_cat_abort rolls the outermost
 * transaction back and ends it, whatever the nesting: a kl_cat_commit
 * after it returns KL_E_INVAL.  Without begin every writing call commits
 * itself; a call that fails inside a transaction undoes its own changes
 * only.  A transaction belongs to the handle, not to a thread: calls of
 * other threads in between are part of it.
 */
int kl_cat_begin(struct kl_cat *c, struct kl_error *err);
int kl_cat_commit(struct kl_cat *c, struct kl_error *err);
void kl_cat_abort(struct kl_cat *c);

/* ---- blob index (FORMAT.md §8 entries) ---- */

/*
 * How far a location of a blob is trusted (docs/threat-model.md 4.2).
 * Deduplication relies only on ATTESTED and OWN locations: whatever any
 * other key holder wrote is a claim, used to find data for reads (which
 * verify every blob) but never to skip an upload.
 */
enum kl_cat_trust {
	KL_TRUST_ATTESTED = 0,	/* an index file signed by a full key */
	KL_TRUST_OWN = 1,	/* an index file this client wrote */
	KL_TRUST_CLAIMED = 2,	/* any other index file, or a pack header */
};

/* 1 if index file id was recorded as loaded, 0 if not. */
int kl_cat_index_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);
/* Records index file id as loaded (its entries were put), with the trust
 * of its entries and its receive time. */
int kl_cat_index_add(struct kl_cat *c, const struct kl_id *file, int trust,
    int64_t recv_s, struct kl_error *err);
/* The recorded index files; *ids malloc'd (NULL when *n is 0). */
int kl_cat_index_list(struct kl_cat *c, struct kl_id **ids, size_t *n,
    struct kl_error *err);
/* Forgets every index file, location and pack (before a full reload);
 * every own parent becomes not intact (kl_cat_own_parent).  Withdrawals,
 * pruned ids, own index files and own packs are kept. */
int kl_cat_index_clear(struct kl_cat *c, struct kl_error *err);
/*
 * Adds location loc of blob id, named by a source of the given trust
 * (enum kl_cat_trust) received at recv_s.  A location is the whole entry
 * (pack, offset, lengths, type): entries that differ in any field are
 * different locations, so no claim can hide another.  A known location
 * keeps the best trust and the earliest time.  Returns 1 if the location
 * is new, 0 if known.
 */
int kl_cat_blob_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int trust, int64_t recv_s,
    struct kl_error *err);
/*
 * Like kl_cat_blob_put (no time: after everything an index file names)
 * for a blob known only from its pack's own header (a pack no index file
 * names: an interrupted backup's, or one whose index file is damaged or
 * gone); trust is CLAIMED, or OWN for a pack this client wrote.  The pack
 * is marked orphan until an index file names it.
 */
int kl_cat_orphan_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int trust, struct kl_error *err);
/* 1 if blob id has a location of trust ATTESTED or OWN - one that a backup
 * may deduplicate against - 0 if not. */
int kl_cat_blob_trusted(struct kl_cat *c, const struct kl_id *id,
    struct kl_error *err);

/* A location with what the catalog knows of it and its pack. */
struct kl_cat_loc {
	struct kl_blob_loc loc;
	int trust;		/* enum kl_cat_trust */
	int hdr;		/* enum kl_cat_hdr of its pack */
	uint64_t pack_size;	/* 0: unknown */
};
/* What the pack's own header said of the locations naming it. */
enum kl_cat_hdr {
	KL_CAT_HDR_UNREAD = 0,
	KL_CAT_HDR_CONFIRMED = 1,	/* locations it does not list removed */
	KL_CAT_HDR_BAD = 2,		/* the header could not be read */
};
/*
 * Every location of blob id, best first: by trust, packs with an
 * unreadable header last, then the earliest receive time (never a file
 * name).  *locs malloc'd; KL_E_NOTFOUND (and *n 0) if there is none.
 */
int kl_cat_blob_locs(struct kl_cat *c, const struct kl_id *id,
    struct kl_cat_loc **locs, size_t *n, struct kl_error *err);
/* The best location of blob id (loc may be NULL) and, in *nlocs (may be
 * NULL), how many it has: KL_OK, or KL_E_NOTFOUND. */
int kl_cat_blob_get(struct kl_cat *c, const struct kl_id *id,
    struct kl_blob_loc *loc, size_t *nlocs, struct kl_error *err);
/* The byte range [*lo, *hi) of pack covering all its tree blobs;
 * KL_E_NOTFOUND if the catalog knows no tree blob in that pack. */
int kl_cat_pack_tree_range(struct kl_cat *c, const struct kl_id *pack,
    uint32_t *lo, uint32_t *hi, struct kl_error *err);
/* Every pack an index file names (not orphans), each once, sorted;
 * *ids malloc'd. */
int kl_cat_pack_ids(struct kl_cat *c, struct kl_id **ids, size_t *n,
    struct kl_error *err);
/* Records that pack is in the repository with size bytes (a listing or a
 * stat said so).  Only for a pack the blob index knows: for any other
 * nothing is recorded (KL_OK). */
int kl_cat_pack_size_set(struct kl_cat *c, const struct kl_id *pack,
    uint64_t size, struct kl_error *err);
/* 1 if the blob index names pack (an index file or its header), 0 if
 * not. */
int kl_cat_pack_known(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err);
/* The size recorded for pack: KL_OK, or KL_E_NOTFOUND if none is. */
int kl_cat_pack_size(struct kl_cat *c, const struct kl_id *pack,
    uint64_t *size, struct kl_error *err);
/*
 * What pack's own header (FORMAT.md §8) lists, e[0, n): the CLAIMED
 * locations in that pack that it does not list are removed (the header
 * is the pack writer's, bound to the pack's content by its name), and the
 * pack is marked KL_CAT_HDR_CONFIRMED.  e NULL: the header could not be
 * read; the pack is marked KL_CAT_HDR_BAD.  *removed (may be NULL) counts
 * the locations removed.
 */
int kl_cat_pack_confirm(struct kl_cat *c, const struct kl_id *pack,
    const struct kl_blob_entry *e, size_t n, uint64_t *removed,
    struct kl_error *err);
/* The least trusted (highest enum kl_cat_trust) of the locations in pack:
 * KL_TRUST_ATTESTED when a full key vouched for all of them;
 * KL_TRUST_CLAIMED if the catalog knows none; <0 on errors. */
int kl_cat_pack_trust(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err);
/* Calls cb for every blob once, in id order, with its best location: by
 * trust, then the earliest receive time (unlike kl_cat_blob_locs, the
 * state of the pack's header is not considered).  A non-zero return of cb
 * stops the walk and is returned. */
int kl_cat_blob_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *id, const struct kl_blob_loc *l),
    void *arg, struct kl_error *err);
/* Distinct blobs. */
int kl_cat_blob_count(struct kl_cat *c, uint64_t *n, struct kl_error *err);

/* Index files and packs withdrawn by a signed index file (FORMAT.md §9):
 * recorded, and asked for before an index file is loaded or a pack
 * used. */
int kl_cat_withdrawn_add(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);
int kl_cat_withdrawn_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);

/* Index files and packs that a signed retire record names (prune deleted
 * them, FORMAT.md §9): their absence is no finding.  Unlike a withdrawal,
 * this never leaves a present file out. */
int kl_cat_pruned_add(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);
int kl_cat_pruned_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);

/*
 * Prune's plan (restore-tools/prune.c), in temporary tables of this
 * connection, so that memory stays flat however large the repository:
 * kl_cat_mark_begin empties the set of blobs in use; kl_cat_mark_add adds
 * one of a type (1 if it was new, 0 if marked already, <0 on errors).
 */
int kl_cat_mark_begin(struct kl_cat *c, struct kl_error *err);
int kl_cat_mark_add(struct kl_cat *c, const struct kl_id *id, uint8_t type,
    struct kl_error *err);
/* Pack id is in the repository, size bytes long (from a listing): 1, or 0
 * if the blob index does not know it (read its header first). */
int kl_cat_prune_present(struct kl_cat *c, const struct kl_id *pack,
    uint64_t size, struct kl_error *err);
/* Drops prune's temporary tables. */
void kl_cat_mark_end(struct kl_cat *c);

/* One pack as the plan sees it: its size (from the listing), and the
 * stored bytes and count of the blobs it keeps (a blob in use keeps one
 * location, its keeper: the most trusted, then in the pack that holds
 * the most bytes in use). */
struct kl_cat_prune_pack {
	struct kl_id id;
	uint64_t size;
	uint64_t used_bytes, used_blobs;
	uint64_t blobs;
};
/*
 * Chooses the keepers and calls cb for every pack given to
 * kl_cat_prune_present, in id order; cb's non-zero return stops the walk
 * and is returned.
 * *unlocated gets the number of marked (id, type) pairs with no location
 * of that type in a present pack (kl_cat_prune_present).
 */
int kl_cat_prune_plan(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_cat_prune_pack *p), void *arg,
    uint64_t *unlocated, struct kl_error *err);
/* What prune does with a pack: KL_PRUNE_KEEP (the default), _REPACK
 * (its keepers are copied, then it is deleted) or _DELETE. */
enum { KL_PRUNE_KEEP = 0, KL_PRUNE_REPACK = 1, KL_PRUNE_DELETE = 2 };
int kl_cat_prune_act(struct kl_cat *c, const struct kl_id *pack, int act,
    struct kl_error *err);
/*
 * The blobs prune must copy, each once: the keepers in packs to repack,
 * and the blobs whose keeper only a pack header or another host's index
 * file claims (CLAIMED) while a pack to delete or repack holds another
 * copy - the copy that goes could be the only true one, so a verified
 * copy is written first.  cb(id, type); non-zero stops.
 */
int kl_cat_prune_copies(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *id, uint8_t type), void *arg,
    struct kl_error *err);

/* Index files this client wrote: their entries are OWN whenever the blob
 * index is (re)loaded.  Kept by kl_cat_index_clear and kl_cat_reset. */
int kl_cat_own_index_add(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);
int kl_cat_own_index_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err);

/*
 * Packs this client uploaded, recorded as each is written (and removed
 * only when one turns out gone): their headers are this client's own, so
 * when no index file names them - an interrupted backup, an index file
 * damaged or gone - their blobs are OWN, and a backup adopts them; no
 * other pack is ever adopted.  kl_cat_own_pack_list: *ids and *sizes
 * malloc'd (NULL when *n is 0).
 */
int kl_cat_own_pack_add(struct kl_cat *c, const struct kl_id *pack,
    uint64_t size, struct kl_error *err);
int kl_cat_own_pack_has(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err);
int kl_cat_own_pack_del(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err);
int kl_cat_own_pack_list(struct kl_cat *c, struct kl_id **ids,
    uint64_t **sizes, size_t *n, struct kl_error *err);

/* ---- snapshots ---- */

struct kl_cat_snap {
	int64_t no;			/* catalog row number */
	struct kl_id id, tree, parent;
	int64_t time_s;			/* client clock, UTC seconds */
	uint32_t time_ns;
	int64_t recv_s;			/* server receive time or
					 * KL_CAT_TIME_NONE */
	const char *host, *username;
	const char *paths;		/* backed-up paths, '\n'-separated */
	const char *tags;		/* '\n'-separated, "" if none */
	uint64_t files, dirs, bytes;
	int vanished;			/* known here, gone from the
					 * repository */
	int skipped;			/* left out of the file versions:
					 * its trees could not be walked */
};

/* 1 if snapshot id is in the catalog (vanished or not), 0 if not. */
int kl_cat_snap_has(struct kl_cat *c, const struct kl_id *id,
    struct kl_error *err);
/* Adds a decoded snapshot (KL_OK also if present: nothing changes). */
int kl_cat_snap_add(struct kl_cat *c, const struct kl_id *id,
    const struct kl_snapshot *s, int64_t recv_s, struct kl_error *err);
/*
 * present[0..n) is the repository's current snapshot list: every catalog
 * snapshot not in it is marked vanished (and its series' versions are
 * rebuilt on the next kl_cat_versions_update); *newly (may be NULL) gets
 * how many were marked now.  A vanished snapshot that reappears is
 * unmarked.  One that is gone and withdrawn (kl_cat_withdrawn_add: a
 * signed index file, `kluis forget`) was forgotten on purpose: it is
 * removed from the catalog instead, and not counted.
 */
int kl_cat_snap_mark_vanished(struct kl_cat *c, const struct kl_id *present,
    size_t n, size_t *newly, struct kl_error *err);
/* Calls cb for the snapshots of host (NULL: all), oldest first (by
 * time_s, time_ns, id); vanished ones only if with_vanished. */
int kl_cat_snap_foreach(struct kl_cat *c, const char *host,
    int with_vanished, int (*cb)(void *arg, const struct kl_cat_snap *s),
    void *arg, struct kl_error *err);
/*
 * Hosts retired by forgets this catalog followed (kl_cat_snap_mark_vanished:
 * the last snapshot of the host was forgotten) that have no snapshot now,
 * with the time the catalog learnt it, in name order.
 */
int kl_cat_retired_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const char *host, int64_t since_s), void *arg,
    struct kl_error *err);
/* Forgets every snapshot and everything derived (versions); the series
 * stay, so that this client's own parents (below) survive. */
int kl_cat_snap_clear(struct kl_cat *c, struct kl_error *err);

/* ---- file versions (change intervals) ---- */

/* Loads a tree of the repository (the client passes its tree reader). */
typedef int (*kl_cat_tree_fn)(void *arg, const struct kl_id *id,
    struct kl_tree *out);

/* How kl_cat_versions_update reads trees and reports. */
struct kl_cat_update {
	kl_cat_tree_fn load;		/* required */
	void *load_arg;
	/* (done, total) snapshots; may be NULL */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	/* Walk budget per snapshot: kl_walk_budget_init's factor (0: the
	 * default, KL_WALK_UNLIMITED: none; kluis/treewalk.h). */
	unsigned budget_factor;
	/*
	 * A snapshot left out now (may be NULL): err is the loader's error
	 * (the loader's own message is current), or KL_E_LIMIT with why
	 * saying which budget its trees exceed (else why is NULL).
	 */
	void (*skipped)(void *arg, const struct kl_id *snap, int err,
	    const char *why);
	void *skipped_arg;
};

/*
 * Brings the file versions up to date with the snapshot table: every
 * snapshot not processed yet, per series (host + paths) in time order,
 * compared with the previous snapshot of its series by walking only the
 * subtrees whose ids differ, without recursion.  A series that got a
 * snapshot older than its newest processed one, or lost one (vanished),
 * is rebuilt.  A snapshot whose trees cannot be walked - a tree does not
 * load (KL_E_NOTFOUND, KL_E_CORRUPT, KL_E_UNSUPPORTED, KL_E_LIMIT), or
 * the walk exceeds the budget its declared files and directories allow -
 * records nothing, is marked skipped (kl_cat_snap.skipped; tried again
 * when its series is rebuilt or the catalog reset) and reported through
 * u->skipped; the update goes on with the others.  Any other error of
 * the loader (I/O, a lost connection, memory) stops the update with that
 * error, nothing of that snapshot recorded.
 */
int kl_cat_versions_update(struct kl_cat *c, const struct kl_cat_update *u,
    struct kl_error *err);

struct kl_cat_version {
	const char *path;		/* absolute */
	const char *host;
	uint8_t type;			/* enum kl_node_type */
	uint32_t mode, uid, gid;
	uint64_t size;
	struct kl_ts mtime;
	/* Identity of the content: BLAKE2b-128 of the chunk ids and holes
	 * (file), the subtree id (directory), the target (symlink), rdev
	 * (device); 16 bytes. */
	uint8_t content[16];
	struct kl_id first, last;	/* first and last snapshot seen in */
	int64_t first_time, last_time;	/* their effective times */
	int in_latest;			/* in the newest snapshot of its
					 * series */
};

/*
 * Every distinct version of path (content or metadata differ: type, mode,
 * owner ids and names, size, mtime, xattrs, content; not atime, ctime,
 * inode or link count) in the snapshots of host (NULL: all), oldest first.
 * KL_E_NOTFOUND if the catalog has no version of path at all.
 */
int kl_cat_versions(struct kl_cat *c, const char *path, const char *host,
    int (*cb)(void *arg, const struct kl_cat_version *v), void *arg,
    struct kl_error *err);

struct kl_cat_found {
	const char *path, *host;
	uint64_t versions;
	struct kl_id first, last;
	int64_t first_time, last_time;
	int in_latest;
};
/*
 * Paths matching pattern across all snapshots of host (NULL: all), with
 * the time range they exist in, per host, in path order.  pattern is an
 * fnmatch(3) glob: with a '/' it must match the whole absolute path
 * (FNM_PATHNAME), without one the last component only.  Paths longer
 * than KL_PATH_MAX are left out.
 */
int kl_cat_find(struct kl_cat *c, const char *pattern, const char *host,
    int (*cb)(void *arg, const struct kl_cat_found *f), void *arg,
    struct kl_error *err);

/*
 * The two identities by which versions are told apart (kl_cat_versions):
 * content and meta, 16 bytes each.  Also what `kluis diff` compares, so
 * that "modified" means the same everywhere.
 */
void kl_cat_node_identity(const struct kl_node *n, uint8_t content[16],
    uint8_t meta[16]);

/* The effective time of a snapshot: receive time if known, else its own. */
int64_t kl_cat_snap_time(const struct kl_cat_snap *s);

/* ---- this client's own backups (parents for backup-only keys) ---- */

/*
 * The last successful backup this client made of (host, paths): its
 * snapshot and root tree, and in *intact (may be NULL) 1 if the blob index
 * has not been rebuilt (kl_cat_index_clear) since it was recorded - then
 * every blob that backup references is still in the blob index.
 * KL_E_NOTFOUND if none is recorded.
 */
int kl_cat_own_parent(struct kl_cat *c, const char *host,
    char *const *paths, size_t npaths, struct kl_id *snap, struct kl_id *root,
    int *intact, struct kl_error *err);
/* Starts recording the trees of a new backup of (host, paths); one at a
 * time per handle (KL_E_INVAL while another is being recorded). */
int kl_cat_own_begin(struct kl_cat *c, const char *host, char *const *paths,
    size_t npaths, struct kl_error *err);
/* Records one encoded tree (FORMAT.md §11 plaintext) of that backup: every
 * tree of it, unchanged ones too, since they replace the previous
 * backup's.  Puts are batched: they reach the database in groups.
 * KL_E_INVAL without kl_cat_own_begin, KL_E_LIMIT over KL_TREE_RAW_MAX. */
int kl_cat_own_tree_put(struct kl_cat *c, const struct kl_id *tree,
    const uint8_t *data, size_t len, struct kl_error *err);
/* The backup's snapshot was written: its trees replace the previous
 * backup's, and it becomes the parent. */
int kl_cat_own_commit(struct kl_cat *c, const struct kl_id *snap,
    const struct kl_id *root, struct kl_error *err);
/* The backup failed: forget what was recorded since kl_cat_own_begin. */
void kl_cat_own_abort(struct kl_cat *c);
/* A tree recorded by kl_cat_own_tree_put (of any series), appended to out;
 * KL_E_NOTFOUND if none. */
int kl_cat_own_tree_get(struct kl_cat *c, const struct kl_id *tree,
    struct buf *out, struct kl_error *err);

/* ---- history of runs (not rebuildable: lost with the catalog) ---- */

/*
 * A run's details (docs/CATALOG.md "run_value"): named values in order -
 * numbers, text, true/false - and lists of entries with named fields (a
 * drill's mismatches).  A value of the run has item 0 and no field; the
 * n-th entry (from 1) of the list key has item n and one row per field.
 */
enum kl_run_type {
	KL_RUN_INT = 0,
	KL_RUN_REAL = 1,
	KL_RUN_TEXT = 2,
	KL_RUN_BOOL = 3,
};

struct kl_run_value {
	const char *key;
	uint32_t item;			/* 0, or the list entry's number */
	const char *field;		/* NULL with item 0 */
	int type;			/* enum kl_run_type */
	int64_t i;			/* INT; BOOL as 0 or 1 */
	double r;			/* REAL */
	const char *s;			/* TEXT */
};

/* The value of the run (item 0) called key, NULL if it has none. */
const struct kl_run_value *kl_run_value_get(const struct kl_run_value *v,
    size_t n, const char *key);
/*
 * Writes v[0, n) as members of the object open in j: a value of the run
 * as key: value (a real as the fewest digits that read back), a list as
 * key: [ {field: value, ...}, ... ], its entries in the order they first
 * appear.
 */
struct kl_json;
void kl_run_values_json(struct kl_json *j, const struct kl_run_value *v,
    size_t n);

#define KL_CAT_RUN_ID_LEN 16	/* = FORMAT.md §17 run id */

/* Where a run of the history comes from (schema 9). */
enum kl_cat_run_origin {
	KL_CAT_RUN_LOCAL = 0,		/* this client ran it */
	KL_CAT_RUN_IMPORTED = 1,	/* a run record in the repository */
};

struct kl_cat_run {
	int64_t no;			/* set by kl_cat_run_foreach */
	const char *kind;		/* "backup", "check", "drill" */
	const char *host;
	int64_t start_s, end_s;		/* UTC seconds */
	int exit_code;
	struct kl_id snapshot;		/* zero if none */
	uint64_t files, bytes, bytes_added, errors;
	const struct kl_run_value *v;	/* its details, in order */
	size_t nv;
	/* schema 9: the run's id (all zero: none, runs recorded before),
	 * its origin and, imported, its record's receive time
	 * (KL_CAT_TIME_NONE otherwise) */
	uint8_t run_id[KL_CAT_RUN_ID_LEN];
	int origin;			/* enum kl_cat_run_origin */
	int64_t recv_s;
};
/*
 * Records a run of this client (r->origin and r->recv_s are ignored).
 * With a run id, the run is to be uploaded (kl_cat_run_pending) and
 * KL_E_EXISTS if a run of that id is recorded already (nothing changes).
 */
int kl_cat_run_add(struct kl_cat *c, const struct kl_cat_run *r,
    struct kl_error *err);
/* Runs of kind (NULL: all) that started at or after since, oldest first. */
int kl_cat_run_foreach(struct kl_cat *c, const char *kind, int64_t since,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err);
/* Every run of this client and the imported runs that started at or
 * after imported_since, oldest first (a report: what others' records
 * claim before its period is not read). */
int kl_cat_run_foreach_recent(struct kl_cat *c, int64_t imported_since,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err);
/*
 * Run records (FORMAT.md §17) in the history.  kl_cat_run_import notes
 * run record file (received at recv_s) as looked at, and with r (its
 * decoded content; r NULL: it did not decrypt or decode) adds its run as
 * KL_CAT_RUN_IMPORTED unless a run of the same id is recorded (then the
 * history keeps the run it has: the same run once).  r needs a run id
 * (KL_E_INVAL).  Returns 1 if a run was added, 0 if not, or an error.
 * kl_cat_run_file_get: KL_OK and *ok (1: imported, 0: undecodable) for a
 * file looked at before, KL_E_NOTFOUND for one never seen.
 */
int kl_cat_run_import(struct kl_cat *c, const struct kl_id *file,
    int64_t recv_s, const struct kl_cat_run *r, struct kl_error *err);
int kl_cat_run_file_get(struct kl_cat *c, const struct kl_id *file, int *ok,
    struct kl_error *err);
/*
 * The runs of this client whose record is still to be uploaded, oldest
 * first, at most max of them (details included); kl_cat_run_uploaded
 * marks run no (kl_cat_run.no) as uploaded.
 */
int kl_cat_run_pending(struct kl_cat *c, size_t max,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err);
int kl_cat_run_uploaded(struct kl_cat *c, int64_t no, struct kl_error *err);

/* ---- data verification (kluis check --read-data) ---- */

/* Records that pack was read and verified at time t (UTC seconds); ok 1:
 * sound, 0: a finding. */
int kl_cat_pack_checked(struct kl_cat *c, const struct kl_id *pack,
    int64_t t, int ok, struct kl_error *err);
/*
 * Every pack the blob index names (orphans included) with its last
 * verification: checked_s KL_CAT_TIME_NONE and ok 0 if never checked.
 * Never-checked packs first, then by checked_s, oldest first (ties by
 * id): the order in which rotating checks take them.
 */
int kl_cat_pack_check_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *pack, int64_t checked_s, int ok),
    void *arg, struct kl_error *err);

/* ---- operators ---- */

struct kl_cat_status {
	int schema;
	uint64_t file_bytes;		/* database + WAL on disk */
	uint64_t index_files, blobs, packs;
	uint64_t snapshots, vanished, series, pending;	/* pending: snapshots
							 * without versions */
	uint64_t skipped;		/* left out of the versions */
	uint64_t paths, versions;
	uint64_t own_trees, runs;
	uint64_t signatures;		/* chunk signatures (schema 8) */
};
int kl_cat_status(struct kl_cat *c, struct kl_cat_status *st,
    struct kl_error *err);
/* Forgets everything that is rebuilt from the repository: the blob index
 * with its withdrawals and pruned ids, the snapshots, series and
 * versions, own trees and parents.  Keeps what cannot be rebuilt: the
 * runs, data verification records, own index files and packs, retired
 * hosts, chunk signatures.  KL_E_INVAL while a backup is being recorded (kl_cat_own_begin). */
int kl_cat_reset(struct kl_cat *c, struct kl_error *err);

/* The version of the SQLite library linked (kluis version). */
const char *kl_cat_sqlite_version(void);

/*
 * Chunk signatures (schema 8, FORMAT.md §7.2): the librsync signature of
 * a full chunk, by its content id, kept by the client that read it so
 * that the next version of the file can be stored as deltas.
 * kl_cat_sig_get appends the signature to out (KL_E_NOTFOUND if there is
 * none; KL_E_LIMIT if out cannot hold it); the caller checks its shape.
 * kl_cat_sig_put stores it unless one is stored (a signature never
 * changes: it is a function of the content id's bytes).
 * kl_cat_sig_prune deletes the signatures of chunks the blob index no
 * longer locates (pruned) and returns how many went in *n (may be NULL).
 */
int kl_cat_sig_get(struct kl_cat *c, const struct kl_id *id, struct buf *out,
    struct kl_error *err);
int kl_cat_sig_put(struct kl_cat *c, const struct kl_id *id,
    const uint8_t *sig, size_t len, struct kl_error *err);
/* 1 if the signature of id is stored, 0 if not, <0 on errors. */
int kl_cat_sig_has(struct kl_cat *c, const struct kl_id *id,
    struct kl_error *err);
int kl_cat_sig_prune(struct kl_cat *c, uint64_t *n, struct kl_error *err);

#endif
