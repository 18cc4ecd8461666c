/* Private to the repository access layer (repo*.c). */
#ifndef KLUIS_REPO_INTERNAL_H
#define KLUIS_REPO_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "kluis/repo.h"

struct kl_cat;
struct kl_store;
struct kl_index_table;

struct kl_pack_key {
	struct kl_id pack;
	uint8_t *key;		/* sodium_malloc'd session key */
};

#define KL_PACK_KEY_CACHE 64
#define KL_REPO_DAMAGE_MAX 64
#define KL_REPO_NOTICE_MAX 64
#define REPO_INDEX_FILE_MAX ((size_t)64 << 20)
/*
 * The tree cache (repo_read.c): ranges of tree packs, kept until the
 * handle closes, at most KL_TREE_CACHE of them and KL_TREE_CACHE_BYTES in
 * all.  Once full, a tree of another pack is read alone.
 */
#define KL_TREE_CACHE 256
#define KL_TREE_CACHE_BYTES ((size_t)64 << 20)
#define KL_TREE_RANGE_MAX ((uint32_t)32 << 20)

/* A fetched range of a pack that holds tree blobs (repo_read.c). */
struct kl_tree_range {
	struct kl_id pack;
	uint32_t lo;
	struct buf *b;		/* bytes [lo, lo + size) of the pack */
};

struct kl_repo {
	struct kl_backend be;
	struct kl_store *store;
	struct kl_config cfg;
	struct kl_keys *keys;
	struct kl_id key_id;		/* keys/<id> that opened it, or zero */
	char *key_path;			/* external key file, or NULL */
	char key_label[256];		/* label of the key that opened it */
	struct kl_cat *cat;		/* the blob index lives here */
	int cat_state;			/* enum kl_cat_state of its opening */
	int index_loaded;
	void (*progress)(void *, const char *, uint64_t, uint64_t);
	void *progress_arg;
	struct kl_pack_key pk[KL_PACK_KEY_CACHE];
	struct kl_tree_range tr[KL_TREE_CACHE];
	unsigned ntr;			/* ranges in tr */
	int tr_off;			/* kl_repo_tree_cache(r, 0) */
	size_t tr_bytes;		/* their bytes */
	unsigned pk_next;
	pthread_mutex_t mu;		/* guards pk cache, damage, notices */
	struct kl_id lock_id;		/* our lock file, zero if none */
	int lock_exclusive;
	time_t lock_time;
	char *damage[KL_REPO_DAMAGE_MAX];	/* skipped damaged files */
	size_t ndamage;
	char *notice[KL_REPO_NOTICE_MAX];	/* kl_repo_notice_msg */
	size_t nnotice;
	unsigned tree_budget;		/* walk budget factor (treewalk.h) */
};

/* Records a damaged file that was skipped (the file e names). */
void repo_damage_note(struct kl_repo *r, const struct kl_error *e);
/* Records a notice for the command layer (kl_repo_notice_msg). */
void repo_notice(struct kl_repo *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Forgets the notices after the first n. */
void repo_notices_trim(struct kl_repo *r, size_t n);

/*
 * Fills err about repository file (t, id) - kind, id and its name
 * ("data/ab/<hex>", ...) as path - with the message fmt; returns code.
 */
int repo_err_file(struct kl_error *err, int code, enum kl_ftype t,
    const struct kl_id *id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "index/<hex>", "data/ab/<hex>", ...: how messages name a file. */
#define REPO_FNAME_MAX 96
void repo_fname(enum kl_ftype t, const struct kl_id *id, char *out);

/* Reads and decrypts an encrypted repository file with its 16-byte
 * header: checks the name (content hash), magic and version. */
int repo_file_get(struct kl_repo *r, enum kl_ftype t, const struct kl_id *id,
    size_t max, struct buf **out, struct kl_error *err);
/*
 * Sealed repository files (FORMAT.md §9, §10, §12): the 16-byte header
 * (magic), an optional session envelope, then the AEAD (type, object id
 * zero) of a plaintext.  repo_sealed_put writes one under key (with env
 * if non-NULL).  repo_sealed_get reads one, checked against its name,
 * and decrypts it with key - or, if key is NULL, with the session key of
 * its envelope - into a new buffer *pt.
 */
int repo_sealed_put(struct kl_repo *r, enum kl_ftype t, const char *magic,
    const uint8_t *env, const uint8_t *key, uint8_t type,
    const struct buf *pt, struct kl_id *id, struct kl_error *err);
int repo_sealed_get(struct kl_repo *r, enum kl_ftype t, const struct kl_id *id,
    size_t max, const char *magic, const uint8_t *key, uint8_t type,
    struct buf **pt, struct kl_error *err);
/* Appends the AEAD (type, object id zero) of pt under key to f. */
int repo_seal_append(struct kl_repo *r, struct buf *f, const uint8_t *key,
    uint8_t type, const struct buf *pt);
/* Decrypts the rest of f (after its header and envelope, which the caller
 * consumed) with key into a new buffer *pt. */
int repo_sealed_open(struct kl_repo *r, struct buf *f, const uint8_t *key,
    uint8_t type, struct buf **pt);
/* Lists the files of type t with their receive times (kl_list_cb): both
 * arrays malloc'd (NULL when *n is 0); names that are no id are skipped.
 * The backend's error, with err set. */
int repo_file_times(struct kl_repo *r, enum kl_ftype t, struct kl_id **ids,
    int64_t **recv_s, size_t *n, struct kl_error *err);

/* Writes bytes as a content-addressed file; *id gets its name.  An
 * existing identical file is fine. */
int repo_file_put(struct kl_repo *r, enum kl_ftype t, const struct buf *b,
    struct kl_id *id, struct kl_error *err);
/* repo_file_put of bytes whose name the caller already computed:
 * id == BLAKE2b-256(b), as kl_hash gives it (the backend checks it). */
int repo_file_put_named(struct kl_repo *r, enum kl_ftype t,
    const struct buf *b, const struct kl_id *id, struct kl_error *err);

/* repo_pack.c: reads and decrypts the header of pack id (size bytes long,
 * from a listing) with the index key: its blob entries, *e malloc'd. */
struct kl_blob_entry;
int repo_pack_header_read(struct kl_repo *r, const struct kl_id *id,
    uint64_t size, struct kl_blob_entry **e, size_t *n, struct kl_error *err);

/* repo_index.c: the blobs a backup session added (on kluis/map.h) */
struct kl_index_table *index_table_new(void);
void index_table_free(struct kl_index_table *t);
/* Inserts unless present; returns 1 if inserted, 0 if present, <0 err. */
int index_table_put(struct kl_index_table *t, const struct kl_id *id,
    const struct kl_blob_loc *loc);
int index_table_get(const struct kl_index_table *t, const struct kl_id *id,
    struct kl_blob_loc *loc);
uint64_t index_table_count(const struct kl_index_table *t);
/*
 * The longest run of occupied slots of its map: the most slots any insert
 * or lookup walks.  It stays small only while the slot function spreads
 * the ids, whoever chose them (tests of issue #10 finding 5).
 */
size_t index_table_run_max(const struct kl_index_table *t);
/* The repository's catalog, a temporary one if none was opened. */
int repo_cat(struct kl_repo *r, struct kl_cat **c, struct kl_error *err);
/*
 * Adds an index file this client wrote and its entries to the catalog
 * with trust (enum kl_cat_trust: OWN, or ATTESTED when signed), records it
 * as this client's own and its packs as no longer to adopt.
 */
int repo_index_add(struct kl_repo *r, const struct kl_id *file,
    const struct kl_index *ix, int trust, struct kl_error *err);
/*
 * repo_ixfile.c: reads index file id (versions 1 and 2), checked against
 * its name, its signature verified (*attested 1) where the key can, and
 * decoded into *out.  Withdrawals are kept only when attested.  The
 * file's errors: KL_E_NOTFOUND, KL_E_CORRUPT (incl. a signature that does
 * not verify), KL_E_UNSUPPORTED, KL_E_LIMIT.
 */
int repo_index_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_index *out, int *attested, struct kl_error *err);

#endif
