/*
 * Repository access: opening a repository with a key, reading and writing
 * its encrypted files, the in-memory blob index, and backup sessions that
 * pack blobs (docs/FORMAT.md).  Used by the client and by restore-tools.
 * Nothing here prints; errors come back as kl_err codes, and every call
 * that can fail with more to say takes the caller's struct kl_error
 * (kluis/err.h; NULL: no detail) and fills it where the failure happens:
 * which object, which file.  Calls on one handle from several threads
 * (sessions, blob reads) each pass their own.
 */
#ifndef KLUIS_REPO_H
#define KLUIS_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/backend.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"

struct buf;
struct kl_keys;
struct kl_kdf_params;
struct kl_chunker_params;
struct kl_cat;

struct kl_repo;
struct kl_session;

/* Options for kl_repo_init. */
struct kl_repo_init_opts {
	const struct kl_chunker_params *chunker;	/* NULL: defaults */
	const struct kl_kdf_params *kdf;		/* NULL: "moderate" */
	const char *label;				/* key label */
	const char *key_out;	/* non-NULL: write the key file here instead
				 * of into keys/ */
};

/*
 * Creates a repository at url - a local path, or ssh:// or pipe: (the
 * server creates it) - with a fresh full key wrapped under pass.
 * KL_E_EXISTS if something is there already, or if o->key_out exists
 * (checked before anything is created).  *out is set only on success;
 * on error err says what failed (kind KL_ABOUT_REPO: the address itself).
 */
int kl_repo_init(const char *url, const char *pass, size_t pass_len,
    const struct kl_repo_init_opts *o, struct kl_repo **out,
    struct kl_error *err);

/*
 * Whether kl_repo_init could reach url: for ssh:// and pipe:, connects
 * (host key, authentication, the server program) and asks for the
 * repository.  KL_OK: reached and no repository there (or a local path:
 * nothing to reach); KL_E_EXISTS: a repository is there; otherwise the
 * connection's error, in err.  Lets init fail before it asks for a new
 * passphrase twice.
 */
int kl_repo_reach(const char *url, struct kl_error *err);

/*
 * Opens the repository at url (as for kl_repo_init).  With key_file
 * non-NULL, that key file is used (KL_E_INVAL if it does not exist);
 * otherwise every file in keys/ is tried.  KL_E_NOTFOUND: no repository
 * there, or keys/ holds no key file; KL_E_BADPASS: no key opens with
 * pass.  A key file that fails for another reason (damaged, unsupported)
 * gives its own error instead; with keys/, the first file that fails
 * decides.  KL_E_CORRUPT: config damaged or not matching the key (a
 * foreign or tampered config).  *out is set only on success; err's kind
 * tells a missing repository (KL_ABOUT_REPO, KL_ABOUT_CONFIG) from a missing
 * key file (KL_ABOUT_KEY).
 */
int kl_repo_open(const char *url, const char *key_file, const char *pass,
    size_t pass_len, struct kl_repo **out, struct kl_error *err);
void kl_repo_close(struct kl_repo *r);

const struct kl_config *kl_repo_config(const struct kl_repo *r);
const struct kl_keys *kl_repo_keys(const struct kl_repo *r);
struct kl_backend *kl_repo_backend(struct kl_repo *r);
/*
 * The role the storage grants: KL_ROLE_FULL for local paths, else what
 * the server reported (KL_ROLE_APPEND, KL_ROLE_READ; enum kl_store_role
 * of store.h).
 */
int kl_repo_role(const struct kl_repo *r);
/*
 * A local repository: removes the temporary files of uploads that never
 * finished, untouched for a day (kl_store_sweep_tmp); *files and *bytes
 * count them.  Nothing for ssh:// and pipe: (their server does it).
 */
void kl_repo_sweep_tmp(struct kl_repo *r, uint64_t *files, uint64_t *bytes);
/* 1 if the open key is a full key. */
int kl_repo_is_full(const struct kl_repo *r);

/* Adds a key file wrapping this repository's key (or, with backup_only,
 * a backup-only key derived from it) under pass; to keys/ or to out_path.
 * *id gets the new key file's id (zero with out_path).  KL_E_PERM when a
 * backup-only key asks for a full key (backup_only 0): a backup-only key
 * adds only backup-only keys. */
int kl_repo_key_add(struct kl_repo *r, int backup_only, const char *pass,
    size_t pass_len, const struct kl_kdf_params *kdf, const char *label,
    const char *out_path, struct kl_id *id, struct kl_error *err);
/* Rewraps the key that opened r under a new passphrase: writes the new
 * key file, then removes the old one (or rewrites key_file in place when
 * the key lives outside the repository). */
int kl_repo_key_passwd(struct kl_repo *r, const char *pass, size_t pass_len,
    const struct kl_kdf_params *kdf, struct kl_error *err);
/* Id of the key file that opened r (zero for an external key file). */
const struct kl_id *kl_repo_key_id(const struct kl_repo *r);

/*
 * Opens the client-side catalog of this repository (catalog.h) in dir, or
 * with dir NULL in the default cache directory; *state (may be NULL) gets
 * enum kl_cat_state.  Without this call the repository uses a private
 * temporary catalog that lives as long as r.  Idempotent.
 */
int kl_repo_catalog_open(struct kl_repo *r, const char *dir, int *state,
    struct kl_error *err);
/* The catalog in use (opening a temporary one if needed), NULL on error. */
struct kl_cat *kl_repo_catalog(struct kl_repo *r);
/* Progress of long catalog updates: what ("index", "snapshots",
 * "versions"), done of total.  fn NULL: none. */
void kl_repo_set_progress(struct kl_repo *r,
    void (*fn)(void *arg, const char *what, uint64_t done, uint64_t total),
    void *arg);

/*
 * Brings the catalog's blob index up to date with the repository's index
 * files (once per r): new files are loaded, and if a file the catalog
 * loaded earlier has gone, the index is rebuilt.  Entries whose pack is
 * not in the repository are ignored (and noted: kl_repo_notice_msg, unless
 * a retire record names the pack).  Each location keeps the trust of its
 * source (catalog.h enum kl_cat_trust): ATTESTED for index files signed by
 * a full key (FORMAT.md §16), OWN for those this client wrote, CLAIMED for
 * the rest.  Packs known only from their own headers are CLAIMED, or OWN
 * if this client uploaded them.  Files withdrawn by a signed index file are
 * skipped.  A damaged or vanished index file is skipped and recorded
 * (kl_repo_damage): a backup then stores that data again, a restore fails
 * only for files that need it.
 */
int kl_repo_index_load(struct kl_repo *r, struct kl_error *err);
/*
 * 1 if a backup may skip uploading blob id: a location of trust ATTESTED
 * or OWN exists (never on another host's word alone); 0 if not; <0 on a
 * catalog error.
 */
int kl_repo_index_trusted(struct kl_repo *r, const struct kl_id *id,
    struct kl_error *err);
/*
 * Every location of blob id of the given type that is worth reading, best
 * first (*locs malloc'd, *n >= 1).  With several locations, the CLAIMED
 * ones are first checked against their pack's own header (once per pack,
 * kl_cat_pack_confirm), and if the rest disagree on the blob's raw length
 * the first that decrypts and verifies decides it (others are dropped).
 * KL_E_NOTFOUND if the index has none; catalog or transport errors.
 */
int kl_repo_blob_locate(struct kl_repo *r, const struct kl_id *id,
    uint8_t type, struct kl_blob_loc **locs, size_t *n, struct kl_error *err);
/* Calls cb for every blob once, with its best location. */
int kl_repo_index_foreach(struct kl_repo *r,
    int (*cb)(void *arg, const struct kl_id *id, const struct kl_blob_loc *l),
    void *arg, struct kl_error *err);

/*
 * Reads one index file from the repository and decodes it into *out (free
 * with kl_index_clear), without touching the catalog: for `kluis check`,
 * which verifies every index file rather than trusting what the catalog
 * loaded earlier.  *attested (may be NULL) is 1 if the file is signed by a
 * full key and this key could verify it (FORMAT.md §16).  KL_E_NOTFOUND:
 * gone; KL_E_CORRUPT: its content does not match its name, its signature
 * does not verify, or it does not decrypt or decode; KL_E_UNSUPPORTED,
 * KL_E_LIMIT; err names the file.  Works with any key.
 */
int kl_repo_index_file_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_index *out, int *attested, struct kl_error *err);
/*
 * Writes ix as a version-2 index file (FORMAT.md §9), signed when r's key
 * is a full key; *id gets its name.  Withdrawals (ix->withdrawn) and
 * retire records (ix->retire) need a full key (KL_E_PERM otherwise); a
 * retire record that names packs is KL_E_INVAL.  Does not touch the
 * catalog.
 */
int kl_repo_index_write(struct kl_repo *r, const struct kl_index *ix,
    struct kl_id *id, struct kl_error *err);
/* The same; may_sign 0 writes an unsigned file even with a full key: a
 * copy of another writer's unverified claims (prune's index rewrite)
 * must not become ATTESTED by being copied.  Withdrawals and retire
 * records are then KL_E_PERM. */
int kl_repo_index_write_as(struct kl_repo *r, const struct kl_index *ix,
    int may_sign, struct kl_id *id, struct kl_error *err);
/*
 * Reads and decrypts the header of pack id (size bytes long, from a
 * listing) with the index key: its blob entries in file order, *e
 * malloc'd (FORMAT.md §8).  Fetches only the trailer and the header.
 * KL_E_NOTFOUND, KL_E_CORRUPT (trailer, header or its authentication),
 * KL_E_UNSUPPORTED, KL_E_LIMIT.  Works with any key.
 */
int kl_repo_pack_header_read(struct kl_repo *r, const struct kl_id *id,
    uint64_t size, struct kl_blob_entry **e, size_t *n, struct kl_error *err);
/*
 * Puts the blobs that pack id's own header lists into the blob index, as
 * claims (CLAIMED), or OWN for a pack this client uploaded (what a
 * rebuilt index does for packs no index file names).  1 if the header
 * does not read (the pack stays unknown), KL_OK, or KL_E_NOMEM, KL_E_CONN
 * and catalog errors.
 */
int kl_repo_pack_learn(struct kl_repo *r, const struct kl_id *id,
    uint64_t size, struct kl_error *err);

/*
 * Reads a blob: locate it in the index (kl_repo_blob_locate), fetch its
 * bytes from the pack, open the pack's envelope (cached), decrypt, decode
 * and verify its id.  Every location is tried, best first, until one
 * verifies; KL_E_PERM, KL_E_NOMEM and KL_E_CONN stop at once.  Appends
 * the raw content to out.  If none verifies, the error is the first
 * location's (err names its pack and counts the other copies).
 * KL_E_NOTFOUND: not in the index or its pack is missing; KL_E_CORRUPT:
 * anything does not verify; KL_E_PERM: a backup-only key.
 */
int kl_repo_blob_read(struct kl_repo *r, const struct kl_id *id,
    uint8_t type, struct buf *out, struct kl_error *err);
/*
 * kl_repo_blob_read that also appends the blob's plaintext as stored
 * (FORMAT.md §7: header, compressed payload, padding) to enc, once it has
 * verified: what kl_session_blob_add_encoded takes, so a copy need not
 * compress again.  On error neither buffer grows.
 */
int kl_repo_blob_read_encoded(struct kl_repo *r, const struct kl_id *id,
    uint8_t type, struct buf *raw, struct buf *enc, struct kl_error *err);

/*
 * Makes chunk id (ref->len bytes, into out) from its delta record
 * rec[0, rec_len) and its bases' bytes (bases[j] for ref->bases[j]):
 * the record must decode and agree with ref and id, each base must have
 * the length the record gives, the patch must make exactly ref->len
 * bytes, and they must have the content id id.  KL_E_CORRUPT,
 * KL_E_UNSUPPORTED, KL_E_LIMIT, KL_E_NOMEM.  Pure but for the key.
 */
struct kl_delta_ref;
struct kl_delta_base;
int kl_chunk_from_delta(const struct kl_keys *k, const uint8_t *rec,
    size_t rec_len, const struct kl_delta_ref *ref, const struct kl_id *id,
    const struct kl_delta_base *bases, uint8_t *out);

/* Opens the session key of a pack from its preamble (cached by pack id)
 * into key[32]. */
int kl_repo_pack_key(struct kl_repo *r, const struct kl_id *pack,
    uint8_t *key, struct kl_error *err);
/*
 * The one way to open what was read of a pack (issue #12): restore,
 * check and every read go through these two.
 *
 * kl_envelope_hdr_open opens the envelope of a file's first bytes in
 * memory (the 16-byte header with magic, then the envelope; FORMAT.md §4,
 * §8) into key[32]: a pack's session key (KL_MAGIC_PACK) or a snapshot's.
 * KL_E_CORRUPT for fewer bytes or another magic; the envelope's errors
 * (kl_envelope_open) otherwise.
 */
int kl_envelope_hdr_open(const struct kl_keys *keys, const uint8_t *hdr,
    size_t len, const char *magic, uint8_t *key);
/*
 * Decrypts stored[0, stored_len), one blob of a pack, with the pack's
 * session key (its type, id and the repository id as associated data),
 * decodes its plaintext and checks that the content hashes to id; appends
 * the content to raw.  With enc, the plaintext as stored (FORMAT.md §7:
 * still compressed and padded) is appended to enc too - what
 * kl_session_blob_add_encoded takes, or scratch a caller reuses.  On
 * error neither buffer grows.  dctx: NULL or a ZSTD_DCtx * of the caller.
 */
int kl_blob_open(const struct kl_keys *keys, const uint8_t *key,
    const struct kl_id *id, uint8_t type, const uint8_t *stored,
    size_t stored_len, void *dctx, struct buf *raw, struct buf *enc);

/* Loads a tree blob and decodes it: the catalog's own copy of a tree this
 * client wrote (kl_cat_own_tree_get) if it verifies against id, else the
 * repository's (kl_repo_blob_read). */
int kl_repo_tree_load(struct kl_repo *r, const struct kl_id *id,
    struct kl_tree *out, struct kl_error *err);
/*
 * The tree cache: ranges of tree packs that tree reads keep (up to 64 MiB,
 * until the handle closes; docs/ARCHITECTURE.md "The tree cache").  on 0
 * frees it and reads trees alone from then on - for work that reads each
 * tree once after a walk, like prune's copies; on 1 (the default) caches
 * again.
 */
void kl_repo_tree_cache(struct kl_repo *r, int on);

/*
 * The budget of every walk over a snapshot's trees (kluis/treewalk.h):
 * kl_walk_budget_init's factor, 0 (the default) for
 * KL_WALK_FACTOR_DEFAULT, KL_WALK_UNLIMITED for none.  kl_repo_walk_budget
 * gives snapshot s's.
 */
void kl_repo_set_tree_budget(struct kl_repo *r, unsigned factor);
unsigned kl_repo_tree_budget(const struct kl_repo *r);
struct kl_walk_budget;
void kl_repo_walk_budget(const struct kl_repo *r, const struct kl_snapshot *s,
    struct kl_walk_budget *b);

/*
 * Damaged repository files that an operation skipped (index files,
 * snapshots): how many, and a message naming each (at most 64 kept).
 */
size_t kl_repo_damage_count(const struct kl_repo *r);
/* Records the file that e names as damaged and skipped. */
void kl_repo_damage_add(struct kl_repo *r, const struct kl_error *e);
const char *kl_repo_damage_msg(const struct kl_repo *r, size_t i);
/*
 * Notices: things an operation noticed and carried on from that the
 * operator should hear of once (a lock ignored for claiming a time after
 * its arrival, index entries ignored for naming packs that are not in the
 * repository, ...), not damage.  At most 64 kept.
 */
size_t kl_repo_notice_count(const struct kl_repo *r);
const char *kl_repo_notice_msg(const struct kl_repo *r, size_t i);

/*
 * Brings the catalog's snapshot table up to date (new snapshots decrypted
 * and recorded, vanished ones marked) and, with versions, the file
 * versions too (loading the index first).  Full keys only (KL_E_PERM).
 * Damaged snapshot files are skipped and recorded (kl_repo_damage); with
 * versions, so is every snapshot whose trees cannot be walked (a tree
 * missing or damaged, or more than its declared totals allow: the tree
 * budget): the file versions leave it out (kl_cat_versions_update).
 */
int kl_repo_catalog_sync(struct kl_repo *r, int versions, struct kl_error *err);

/*
 * The last backup this client made of (host, paths) (kl_session_own_begin)
 * if its snapshot is still in the repository: *snap and its root tree;
 * *intact (may be NULL) is 1 if every blob it references is still in the
 * catalog's blob index (kl_cat_own_parent).  KL_E_NOTFOUND otherwise.
 * Works with backup-only keys.
 */
int kl_repo_own_parent(struct kl_repo *r, const char *host,
    char *const *paths, size_t npaths, struct kl_id *snap, struct kl_id *root,
    int *intact, struct kl_error *err);

/*
 * Run records (FORMAT.md §17, issue #15): every backup, check and drill
 * stores one in runs/, sealed to the repository's public key like a
 * snapshot (§5), so a backup-only key writes them and only a full key
 * reads them.
 *
 * kl_repo_run_write encodes and stores rec; *id (may be NULL) gets its
 * name.  Any key.  KL_E_INVAL/KL_E_LIMIT for a record that breaks §17's
 * rules, else the storage's error (an old server that does not know
 * runs/ refuses it), err naming the file.
 *
 * kl_repo_run_read fetches, checks against its name, decrypts and decodes
 * run record id into *out (kl_runrec_clear).  KL_E_PERM for a backup-only
 * key; KL_E_NOTFOUND; KL_E_CORRUPT, KL_E_UNSUPPORTED, KL_E_LIMIT for a
 * record that is damaged, forged without the repository's keys, or of a
 * version this reader does not know; err names the file.
 */
struct kl_runrec;
int kl_repo_run_write(struct kl_repo *r, const struct kl_runrec *rec,
    struct kl_id *id, struct kl_error *err);
int kl_repo_run_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_runrec *out, struct kl_error *err);

/* The run records one import reads at most (the newest not read before,
 * by receive time), and the runs of this client one command uploads at
 * most. */
#define KL_REPO_RUNS_READ_MAX 4096
#define KL_REPO_RUNS_UPLOAD_MAX 32

struct kl_repo_runs_stats {
	uint64_t listed;	/* run records in the repository */
	uint64_t looked;	/* of them, read by this catalog, now or
				 * before; listed - looked are still to be
				 * read (by later imports) */
	uint64_t imported;	/* new runs added to the history */
	uint64_t bad;		/* do not read: damaged, forged or of an
				 * unknown version (now or before), or a
				 * failed read of that file now */
	char bad_name[96];	/* the newest bad one, "runs/<hex>" */
};
/*
 * Brings the catalog's run history up to date with the run records in
 * runs/ (full key: KL_E_PERM otherwise).  Records this catalog read before
 * (kl_cat_run_file_get) are counted, not read again; of the others, the
 * newest max by receive time are read (the rest are left to later imports:
 * memory and work stay bounded whatever a backup-only host writes) and
 * their runs imported (kl_cat_run_import: a run already in the history by
 * its id is not added again).  A record that does not decrypt or decode
 * (KL_E_CORRUPT, KL_E_UNSUPPORTED, KL_E_LIMIT) is noted for good and
 * counted in st->bad, every time; one that fails to read otherwise is
 * counted in st->bad and read again next time.  Neither is fatal.  *st may
 * be NULL.  Listing errors, KL_E_CONN, KL_E_NOMEM and catalog errors stop
 * it (st says how far it got).
 */
int kl_repo_runs_import(struct kl_repo *r, size_t max,
    struct kl_repo_runs_stats *st, struct kl_error *err);
/*
 * Uploads the records of this client's runs still to be uploaded
 * (kl_cat_run_pending, oldest first, at most max) and marks them; *n
 * (may be NULL) counts those uploaded.  Stops at the first failure and
 * returns it (the rest stay pending for the next run).  Any key, but not
 * over a read-only role (the server refuses every upload).
 */
int kl_repo_runs_upload(struct kl_repo *r, size_t max, size_t *n,
    struct kl_error *err);
/* The program a run record of this build names (§17): "kluis <version>". */
const char *kl_repo_run_program(void);
/* Room for the strings of a run record made from a run of the history. */
struct kl_repo_runrec_text {
	char host[KL_NAME_MAX + 1];
	char detail[KL_RUNREC_DETAIL_MAX + 1];
	char program[KL_NAME_MAX + 1];
};
/*
 * A run of the history as a run record (§17), its strings copied into
 * *txt (out lives no longer than *txt; no clear needed): the detail is the
 * run's "error" text cut at KL_RUNREC_DETAIL_MAX bytes (at a character
 * boundary), the program kl_repo_run_program(), times, exit code and
 * counts brought into §17's ranges.  KL_E_INVAL without a run id, for an
 * unknown kind, or a host that is empty or over KL_NAME_MAX bytes.
 */
struct kl_cat_run;
int kl_repo_runrec_from_run(const struct kl_cat_run *c,
    struct kl_repo_runrec_text *txt, struct kl_runrec *out);
/* The reverse: rec as a run of the history (origin and receive time
 * left to the caller), its detail as the text "error" and its program as
 * "program" in v[0, 2) (the caller's storage); out points into rec. */
struct kl_run_value;
void kl_repo_run_from_runrec(const struct kl_runrec *rec,
    struct kl_run_value *v, struct kl_cat_run *out);

/* Lists the ids of all files of type t (unsorted); *ids is malloc'd. */
int kl_repo_list_ids(struct kl_repo *r, enum kl_ftype t, struct kl_id **ids,
    size_t *n, struct kl_error *err);
/* Lists snapshot ids (unsorted); *ids is malloc'd. */
int kl_repo_snapshot_ids(struct kl_repo *r, struct kl_id **ids, size_t *n,
    struct kl_error *err);
/*
 * Lists snapshot ids with their receive times (unsorted; (*recv_s)[i] is
 * the time of (*ids)[i]): when the repository's host finished writing each
 * snapshot file, in UTC seconds by that host's clock (kl_list_cb).  This,
 * not the snapshot's own time, is what retention and point-in-time restore
 * trust; over the protocol it is the server's unauthenticated claim.  Both
 * arrays are malloc'd (NULL when *n is 0); files not named by an id are
 * skipped.  The backend's error (KL_E_NOMEM, KL_E_IO, KL_E_CONN, ...) with
 * err set; the outputs stay empty then.  Works with any key.
 */
int kl_repo_snapshot_times(struct kl_repo *r, struct kl_id **ids,
    int64_t **recv_s, size_t *n, struct kl_error *err);
/* Loads and decrypts a snapshot.  KL_E_PERM for backup-only keys. */
int kl_repo_snapshot_load(struct kl_repo *r, const struct kl_id *id,
    struct kl_snapshot *out, struct kl_error *err);
/*
 * Resolves "latest" (kl_repo_snapshot_pick with no host, paths or time:
 * the newest intact snapshot if all snapshots are of one host), a full id
 * or a unique prefix of >= 8 hex digits.  KL_E_NOTFOUND if none matches,
 * KL_E_INVAL for an ambiguous or malformed spec, or "latest" among
 * several hosts (err says which).
 */
int kl_repo_snapshot_resolve(struct kl_repo *r, const char *spec,
    struct kl_id *out, struct kl_error *err);

/* What "latest" and `restore --at` mean (docs/CLI.md "Which snapshot"). */
struct kl_snap_query {
	const char *host;		/* NULL: any, but only one host may
					 * qualify (see local_host) */
	const char *local_host;		/* with several hosts qualifying and
					 * no host: this one's snapshots, if
					 * it has any (NULL: refuse) */
	const char *const *paths;	/* absolute: the snapshot must hold
					 * each (its path, or one above or
					 * below it) */
	size_t npaths;
	int paths_narrow;		/* paths only narrow the choice: if
					 * no snapshot holds them, any does */
	int64_t at;			/* INT64_MAX: the newest ("latest");
					 * else at or before this time */
};

struct kl_snap_pick {
	struct kl_id id;
	char host[KL_NAME_MAX + 1];
	int64_t time;			/* effective: receive time if known */
	int by_local_host;		/* several hosts qualified: local_host
					 * decided */
	/* The catalog saw a newer snapshot of the same host and paths (at
	 * or before q->at) that the repository no longer has: a rollback,
	 * or a deletion.  The newest such: */
	int gone;
	struct kl_id gone_id;
	int64_t gone_time;
};

/*
 * Picks a snapshot through the catalog, brought up to date first (new
 * snapshots decrypted, vanished ones marked): among the snapshots in the
 * repository of q->host that hold q->paths, the newest at or before q->at
 * by effective time - the receive time the repository reports, which a
 * backup-only key cannot set (over ssh://, the server's clock); ties by
 * the snapshot's own time, then id.  Without q->host, candidates of two
 * hosts are narrowed to q->local_host's, and refused (KL_E_INVAL;
 * err names two hosts) if it has none: one host's files are
 * never restored for another's by a guess.  The pick is
 * then read from the repository: one that does not read is skipped and
 * recorded (kl_repo_damage) and the next one taken; one whose host or
 * paths differ from the catalog's is KL_E_CORRUPT (a doctored catalog).
 * KL_E_NOTFOUND: no candidate; KL_E_PERM: a backup-only key.
 */
int kl_repo_snapshot_pick(struct kl_repo *r, const struct kl_snap_query *q,
    struct kl_snap_pick *out, struct kl_error *err);

/*
 * Backup sessions.  kl_session_begin draws a session key and seals it.
 * kl_session_blob_add stores a blob (*added 1) unless the index holds a
 * trusted (ATTESTED or OWN) location of it, or this session already added
 * it or adopted a pack holding it; after kl_session_store_all every blob
 * is stored.  Thread-safe.  Packs are written as they fill, with their
 * blobs in random order and trees in packs of their own; each is recorded
 * in the catalog as this client's own before its upload.  An index file
 * is written every 32 packs and at commit.  kl_session_commit flushes the
 * last packs, writes the index file, then the snapshot, and returns the
 * snapshot id.  kl_session_free without a commit writes nothing more:
 * packs already written stay, and those no index file names yet are
 * adopted by the next backup (kl_session_adopt_orphans).
 */
int kl_session_begin(struct kl_repo *r, int compression,
    struct kl_session **out, struct kl_error *err);
int kl_session_blob_add(struct kl_session *s, uint8_t type,
    const struct kl_id *id, const uint8_t *raw, size_t raw_len, int *added,
    uint64_t *stored, struct kl_error *err);
/*
 * 1 if kl_session_blob_add would not store blob id now: the index holds
 * a trusted (ATTESTED or OWN) location of it, or this session added or
 * adopted it; 0 if not; <0 on a catalog error.  What a backup may
 * reference without storing (a delta's bases, a delta blob it reuses).
 */
int kl_session_blob_known(struct kl_session *s, const struct kl_id *id,
    struct kl_error *err);
/*
 * kl_session_blob_add for a blob whose plaintext is already encoded: enc
 * as kl_repo_blob_read_encoded gave it, raw_len the length of its raw
 * content.  It is encrypted as it is, keeping the compression it was
 * stored with (prune's copies, FORMAT.md §7).  Only for a plaintext that
 * verified against id: the session does not decode it again.
 */
int kl_session_blob_add_encoded(struct kl_session *s, uint8_t type,
    const struct kl_id *id, const struct buf *enc, size_t raw_len,
    int *added, uint64_t *stored, struct kl_error *err);
/*
 * Adopts the packs this client uploaded that no index file names (an
 * interrupted backup wrote them after its last index file, or their index
 * file is damaged or gone; the catalog recorded each pack as it was
 * written): reads their headers and adds their blobs to this session,
 * whose index file will name them - a complete pack is never uploaded
 * twice.  Packs of other writers are never adopted (their headers are
 * claims, issue #10); at most 4096 packs a run.  Call after
 * kl_repo_index_load and before any blob is added.
 */
int kl_session_adopt_orphans(struct kl_session *s, uint64_t *packs,
    uint64_t *bytes, struct kl_error *err);
/* Writes a tree blob: encodes t, computes its id. */
int kl_session_tree_add(struct kl_session *s, const struct kl_tree *t,
    struct kl_id *id, uint64_t *stored, struct kl_error *err);
/*
 * Records every tree the session writes in the catalog as this client's
 * own backup of (host, paths); a successful commit makes it the parent of
 * the next backup of the same paths (kl_repo_own_parent) and its trees
 * readable without the repository - all that a backup-only key, which
 * cannot read trees, needs to skip unchanged files.  Failing to record
 * only costs speed: it never fails the backup.
 */
int kl_session_own_begin(struct kl_session *s, const char *host,
    char *const *paths, size_t npaths, struct kl_error *err);
/* snap NULL: the packs and their index files only (prune's copies). */
int kl_session_commit(struct kl_session *s, const struct kl_snapshot *snap,
    struct kl_id *snap_id, struct kl_error *err);
/* From now on every blob added is stored, whatever the index holds and
 * whether or not the session stored it before: the caller adds each blob
 * once (prune copies blobs that are in the index, to delete the old
 * packs, and keeps no table of them). */
void kl_session_store_all(struct kl_session *s);
void kl_session_free(struct kl_session *s);

/*
 * Lock handling (FORMAT.md §12): a shared lock for backups, exclusive for
 * operations that must be alone.  kl_repo_lock writes our lock, then lists
 * the locks: the receive time the repository reports for ours is "now" by
 * the repository's clock, and every other lock is judged against it, so
 * no two hosts' clocks are ever compared.  Another lock counts unless
 * - it arrived more than KL_LOCK_STALE_S before ours (stale),
 * - it claims a time more than KL_LOCK_FUTURE_S after its own arrival
 *   (invalid: a wrong clock or a forgery; one notice names it),
 * - it cannot be read, or its process is gone on this very host.
 * KL_E_LOCKED if a counting lock conflicts (err names its host,
 * pid and age); KL_E_NOTFOUND if our own lock is not in the listing; for
 * an exclusive lock KL_E_INVAL if this host's clock is so far ahead of the
 * repository's that others would ignore the lock (a shared lock is taken
 * then, with a notice).  Our lock is removed again on every error.
 */
#define KL_LOCK_STALE_S (30 * 60)
#define KL_LOCK_FUTURE_S (5 * 60)
int kl_repo_lock(struct kl_repo *r, int exclusive, struct kl_error *err);
/* Re-writes our lock when it is older than a sixth of the stale age, so
 * that long backups keep it live.  Cheap to call often. */
int kl_repo_lock_refresh(struct kl_repo *r, struct kl_error *err);
void kl_repo_unlock(struct kl_repo *r);
/*
 * Removes the locks no client counts any more (stale by the repository's
 * clock, of a dead process of this host, dated after their arrival, or
 * unreadable); *live counts the others, which stay.  `kluis unlock`.
 */
int kl_repo_locks_clean(struct kl_repo *r, size_t *removed, size_t *live,
    struct kl_error *err);

#endif
