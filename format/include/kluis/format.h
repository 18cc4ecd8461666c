/*
 * Encoders and decoders of the repository's plaintext records
 * (docs/FORMAT.md §6, §8-§12).  Pure: memory in, memory out; encryption is
 * applied by the caller (crypto/).  Decoders read only through struct buf,
 * check every rule of the spec and return KL_E_CORRUPT (malformed,
 * truncated, trailing bytes), KL_E_UNSUPPORTED (unknown version, type,
 * flag, non-zero reserved field) or KL_E_LIMIT (a count or length over
 * its maximum); outputs are untouched on failure.  A count that cannot fit
 * in the bytes left is KL_E_CORRUPT before anything is allocated.
 * Encoders append to out and check the same rules: KL_E_INVAL if the
 * record breaks one, KL_E_LIMIT if over a maximum (or out's max),
 * KL_E_NOMEM; out is unchanged on failure.
 */
#ifndef KLUIS_FORMAT_H
#define KLUIS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/hash.h"
#include "kluis/layout.h"

struct buf;

#define KL_CONFIG_LEN 104			/* §6 */
#define KL_PACK_PREAMBLE_LEN 128		/* §8 */
#define KL_PACK_TRAILER_LEN 12
#define KL_ENTRY_LEN 45				/* §8 entry */
#define KL_PACK_BLOBS_MAX 65536
#define KL_PACK_MAX ((size_t)128 << 20)
#define KL_TREE_ENTRIES_MAX 1000000
#define KL_PATH_MAX 4096
#define KL_XATTRS_MAX 4096
#define KL_XATTR_VALUE_MAX 65536
#define KL_SNAP_PATHS_MAX 1024
#define KL_SNAP_TAGS_MAX 256
#define KL_TARGET_MAX 4095
#define KL_TREE_RAW_MAX ((size_t)64 << 20)	/* §11, §14: raw tree blob */

/* §4 blob types in pack and index entries (= KL_OBJ_DATA / KL_OBJ_TREE /
 * KL_OBJ_DELTA of crypto's kluis/keys.h, which format must not include). */
#define KL_BLOB_TYPE_DATA 1
#define KL_BLOB_TYPE_TREE 2
#define KL_BLOB_TYPE_DELTA 3
/* "data", "tree", "delta" (messages), or "unknown". */
const char *kl_blob_type_name(uint8_t type);

/*
 * PADME padded length (FORMAT.md §7; Nikitin et al., PETS 2019): for
 * L >= 2, E = floor(log2 L), S = floor(log2 E) + 1, mask = 2^(E-S) - 1,
 * padme(L) = (L + mask) & ~mask.  Aborts for L above 2^64 - 2^57: every
 * caller bounds its lengths far below that.
 */
uint64_t kl_padme(uint64_t len);

/* §6 */
struct kl_config {
	struct kl_id repo_id;
	uint32_t chunk_min, chunk_avg, chunk_max;
	uint32_t pack_target;
	uint8_t box_pk[32];
	int64_t created;
};
/* Exactly 104 bytes including the file header; chunk parameters must obey
 * 4 KiB <= min < avg < max <= 16 MiB and 1 MiB <= pack_target <= 64 MiB
 * (KL_E_CORRUPT / KL_E_INVAL otherwise). */
int kl_config_encode(const struct kl_config *c, struct buf *out);
int kl_config_decode(const uint8_t *p, size_t len, struct kl_config *out);

/* §8 / §9 blob location entry. */
struct kl_blob_entry {
	uint8_t type;		/* KL_BLOB_TYPE_DATA or _TREE */
	struct kl_id id;
	uint32_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
};

/*
 * §8 pack header plaintext (count, entries, PADME padding).
 * kl_pack_header_decode allocates *out (free() it) with *n entries and
 * checks the contiguity rule against the header's offset H (entries start
 * at 128 and end at H).  Every entry (here and in §9): type 1 or 2 (3 and
 * others KL_E_UNSUPPORTED), offset >= 128, stored_len >= 40, offset +
 * stored_len <= KL_PACK_MAX, raw_len <= 64 MiB (KL_E_LIMIT).  The length
 * must be exactly padme(4 + 45 n) with zero padding.  The encoder requires
 * 1..65536 entries contiguous from 128.
 */
int kl_pack_header_encode(const struct kl_blob_entry *e, size_t n,
    struct buf *out);
int kl_pack_header_decode(const uint8_t *p, size_t len, uint64_t hdr_off,
    struct kl_blob_entry **out, size_t *n);
/* Parses the 12-byte trailer at the end of a pack of pack_len bytes;
 * returns the header offset and length.  KL_E_LIMIT if pack_len exceeds
 * KL_PACK_MAX; KL_E_CORRUPT unless 128 + h + 12 <= pack_len and h is
 * between the stored sizes of a 1-entry and a 65536-entry header. */
int kl_pack_trailer_decode(const uint8_t *p, size_t len, uint64_t pack_len,
    uint64_t *hdr_off, uint32_t *hdr_len);
void kl_pack_trailer_encode(uint32_t hdr_len, uint8_t out[12]);

/*
 * §9 index files: version 1 (packs only) and 2 (packs, then the index
 * files this one withdraws; flag bit 0: signed, §16).
 */
#define KL_INDEX_VERSION_1 1
#define KL_INDEX_VERSION 2
#define KL_INDEX_FLAG_SIGNED 1u
/* Flag bit 1, signed files with no packs only: a retire record (prune).
 * Its withdrawn ids explain absences and never leave a present file out. */
#define KL_INDEX_FLAG_RETIRE 2u
#define KL_INDEX_WITHDRAWN_MAX 65536

/* §9 index plaintext: a list of packs each with its entries, and (version
 * 2) the ids of index files it withdraws, strictly increasing. */
struct kl_index_pack {
	struct kl_id pack_id;
	struct kl_blob_entry *e;
	size_t n;
};
struct kl_index {
	struct kl_index_pack *packs;
	size_t n;
	struct kl_id *withdrawn;
	size_t nwithdrawn;
	int retire;		/* flag bit 1 (not in the plaintext) */
};
/* Encodes the plaintext of the given version (KL_E_INVAL: another
 * version, or withdrawals in version 1, or withdrawals not strictly
 * increasing; KL_E_LIMIT over KL_INDEX_WITHDRAWN_MAX). */
int kl_index_encode(const struct kl_index *ix, uint32_t version,
    struct buf *out);
/* Allocates *out; free with kl_index_clear. At most max_entries entries in
 * total (KL_E_LIMIT).  A pack count of 0 is valid; each pack holds
 * 1..65536 entries under the §8 per-entry rules (contiguity within a pack
 * is not required here).  Version 2: 0..65536 withdrawn ids, strictly
 * increasing (KL_E_CORRUPT otherwise).  kl_index_clear is NULL-safe and
 * zeroes ix. */
int kl_index_decode(const uint8_t *p, size_t len, size_t max_entries,
    uint32_t version, struct kl_index *out);
void kl_index_clear(struct kl_index *ix);

/* A blob's location, from the index (one §8 entry with its pack). */
struct kl_blob_loc {
	struct kl_id pack;
	uint8_t type;
	uint32_t offset, stored_len, raw_len;
};

/* §10 snapshot plaintext. */
struct kl_snapshot {
	int64_t time_s;
	uint32_t time_ns;
	struct kl_id tree;
	struct kl_id parent;
	char *hostname;
	char *username;
	uint32_t uid, gid;
	char **paths;
	size_t npaths;
	char **tags;
	size_t ntags;
	uint64_t files, dirs, bytes;
	char *program;
};
int kl_snapshot_encode(const struct kl_snapshot *s, struct buf *out);
/* Allocates the strings (NUL-terminated; strings containing NUL are
 * corrupt); free with kl_snapshot_clear (NULL-safe, zeroes s).  After
 * decoding every string is non-NULL (tags may be NULL when ntags is 0).
 * Paths must be absolute and normalised (§11.1): start with '/', no empty,
 * "." or ".." component, no trailing '/' except "/".  The encoder treats
 * NULL username/program as "". */
int kl_snapshot_decode(const uint8_t *p, size_t len, struct kl_snapshot *out);
void kl_snapshot_clear(struct kl_snapshot *s);

/*
 * §17 run record plaintext: one backup, check or drill as its client saw
 * it.  Strings are NUL-terminated copies (the decoder allocates them; free
 * with kl_runrec_clear, NULL-safe, zeroes r).  Rules (both directions):
 * run id not all zero, kind one of enum kl_runrec_kind, exit code at most
 * KL_RUNREC_EXIT_MAX,
 * 0 <= start <= end, files, bytes, bytes_added and errors each at most
 * KL_RUNREC_COUNT_MAX, host 1..KL_NAME_MAX bytes, detail at most
 * KL_RUNREC_DETAIL_MAX, program at most KL_NAME_MAX, no string with a NUL.
 * The encoder returns KL_E_INVAL (KL_E_LIMIT for an over-long string) and
 * appends nothing then; the decoder KL_E_CORRUPT for truncated, trailing
 * or rule-breaking input, KL_E_UNSUPPORTED for an unknown kind or a
 * non-zero reserved byte, KL_E_LIMIT for an over-long string.  The
 * encoder treats NULL detail and program as "".
 */
#define KL_RUNREC_ID_LEN 16
#define KL_RUNREC_DETAIL_MAX 1024
#define KL_RUNREC_EXIT_MAX 255u	/* a process exit status */
/* §17: a count is below 2^53 (exact as a double and a JSON number) */
#define KL_RUNREC_COUNT_MAX ((UINT64_C(1) << 53) - 1)
#define KL_RUNREC_PT_MAX (16 + 4 + 4 + 8 * 6 + KL_ID_LEN + \
	3 * 2 + KL_NAME_MAX * 2 + KL_RUNREC_DETAIL_MAX)
enum kl_runrec_kind {
	KL_RUNREC_BACKUP = 1,
	KL_RUNREC_CHECK = 2,
	KL_RUNREC_DRILL = 3,
};
struct kl_runrec {
	uint8_t run_id[KL_RUNREC_ID_LEN];
	uint8_t kind;			/* enum kl_runrec_kind */
	uint32_t exit_code;
	int64_t start_s, end_s;		/* the writer's clock, UTC seconds */
	uint64_t files, bytes, bytes_added, errors;
	struct kl_id snapshot;		/* zero: none */
	char *host;
	char *detail;			/* the error of a failed run, or "" */
	char *program;			/* "kluis 0.1.0" */
};
int kl_runrec_encode(const struct kl_runrec *r, struct buf *out);
int kl_runrec_decode(const uint8_t *p, size_t len, struct kl_runrec *out);
void kl_runrec_clear(struct kl_runrec *r);
/* "backup", "check", "drill"; NULL for another kind. */
const char *kl_runrec_kind_name(int kind);
/* The kind named s, 0 for another name. */
int kl_runrec_kind_parse(const char *s);
/* 1 if the KL_RUNREC_ID_LEN bytes of run id id are all zero (§17: no
 * run has that id; the catalog's "none"). */
int kl_runrec_id_is_zero(const uint8_t *id);

/* §11 tree entries. */
enum kl_node_type {
	KL_NODE_FILE = 1,
	KL_NODE_DIR = 2,
	KL_NODE_SYMLINK = 3,
	KL_NODE_CHR = 4,
	KL_NODE_BLK = 5,
	KL_NODE_FIFO = 6,
	KL_NODE_SOCK = 7,
};

struct kl_ts {
	int64_t s;
	uint32_t ns;
};

struct kl_xattr {
	char *name;		/* NUL-terminated */
	uint8_t *value;
	size_t value_len;
};

struct kl_hole {
	uint64_t off, len;
};

/* §11 "Delta chunks" / §7.1. */
#define KL_DELTA_REF_BASES_MAX 4
#define KL_DELTA_TARGET_MAX ((uint32_t)16 << 20)
#define KL_DELTA_GEN_MAX 255
struct kl_delta_ref {
	uint32_t index;		/* into the node's chunks, increasing */
	uint32_t len;		/* the chunk's length, 1..16 MiB */
	uint8_t gen;		/* 1..255 */
	uint8_t nbases;		/* 1..4 */
	struct kl_id delta;	/* the delta blob (type 3) */
	struct kl_id bases[KL_DELTA_REF_BASES_MAX];	/* type 1 */
};

struct kl_node {
	uint8_t *name;		/* arbitrary bytes except '/' and NUL */
	size_t name_len;
	uint8_t type;		/* enum kl_node_type */
	uint32_t mode;		/* & 07777 */
	uint32_t uid, gid;
	char *user, *group;	/* NUL-terminated, may be "" */
	struct kl_ts mtime, atime, ctime;
	uint64_t size;
	uint64_t inode, device;
	uint32_t nlink;
	uint64_t rdev;
	uint64_t link_group;
	char *target;		/* symlink target, "" otherwise */
	struct kl_xattr *xattrs;
	size_t nxattrs;
	struct kl_hole *holes;
	size_t nholes;
	struct kl_id *chunks;
	size_t nchunks;
	struct kl_delta_ref *deltas;	/* files only (flag bit 0) */
	size_t ndeltas;
	struct kl_id subtree;
};

struct kl_tree {
	struct kl_node *nodes;
	size_t n;
};

/* Frees every allocation inside n (NULL-safe) and zeroes it. */
void kl_node_clear(struct kl_node *n);
/* Deep copy into *dst, which is overwritten (not freed); untouched on
 * failure (KL_E_NOMEM).  NULL strings stay NULL. */
int kl_node_copy(const struct kl_node *src, struct kl_node *dst);
/*
 * Copies the content fields of src (chunks, holes, delta entries; not
 * size) into dst, replacing dst's (freed); dst is unchanged on failure
 * (KL_E_NOMEM).
 */
int kl_node_content_copy(struct kl_node *dst, const struct kl_node *src);
/*
 * Calls cb(arg, id, type) for every blob the content of file node n is
 * read from, in chunk order: a data blob (KL_BLOB_TYPE_DATA) per whole
 * chunk; per delta chunk its delta blob (KL_BLOB_TYPE_DELTA), then its
 * bases (data blobs; a base shared by chunks comes once per chunk).
 * Stops at cb's first non-zero return and returns it; 0 otherwise.
 */
int kl_node_blobs(const struct kl_node *n,
    int (*cb)(void *arg, const struct kl_id *id, uint8_t type), void *arg);
/* The delta entry of chunk i of n, NULL if it is a data blob. */
const struct kl_delta_ref *kl_node_delta(const struct kl_node *n, size_t i);
/*
 * Checks a node against §11's rules: name; type 1..7 (KL_E_UNSUPPORTED);
 * mode & ~07777 == 0; ns < 10^9; only files have chunks, holes and delta
 * entries (indexes strictly increasing below nchunks, length 1..16 MiB,
 * generation >= 1, 1..4 bases); only
 * symlinks have a target (1..4095 bytes, size = its length); size 0 for
 * all but files and symlinks; only dirs and all dirs have a non-zero
 * subtree; rdev 0 unless chr/blk; xattr names 1..255 bytes strictly
 * increasing, values <= 64 KiB; holes non-empty, increasing,
 * non-overlapping (adjacent allowed), inside size.  NULL user, group and
 * target count as "".  Returns 0, KL_E_CORRUPT, KL_E_UNSUPPORTED or
 * KL_E_LIMIT (a length or count over its maximum).
 */
int kl_node_valid(const struct kl_node *n);
/*
 * Encodes a tree; nodes must already be sorted by name (strictly
 * increasing), KL_E_INVAL otherwise.  KL_E_LIMIT if the result exceeds
 * KL_TREE_RAW_MAX (64 MiB).
 */
int kl_tree_encode(const struct kl_tree *t, struct buf *out);
/* Allocates t->nodes; free with kl_tree_clear (NULL-safe, zeroes t).
 * KL_E_LIMIT if len exceeds KL_TREE_RAW_MAX. */
int kl_tree_decode(const uint8_t *p, size_t len, struct kl_tree *out);
void kl_tree_clear(struct kl_tree *t);
/* The node of a decoded (sorted) tree named name (len bytes), by binary
 * search; NULL if there is none or t is NULL. */
const struct kl_node *kl_tree_find(const struct kl_tree *t,
    const uint8_t *name, size_t len);
/* Bytewise name order used by trees (shorter prefix first); returns -1,
 * 0 or 1. */
int kl_name_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

/*
 * §7.1 delta record: the raw content of a delta blob (type 3).
 * kl_delta_rec_decode checks every rule of §7.1's table (magic; version 1,
 * else KL_E_UNSUPPORTED; 1..4 bases; generation >= 1; reserved 0; block
 * length a power of two in 256..65536; target and base lengths 1..16 MiB;
 * a delta stream that starts with librsync's delta magic) and leaves
 * out->delta pointing into p: KL_E_CORRUPT, KL_E_UNSUPPORTED, KL_E_LIMIT
 * (more than 4 bases, a length over 16 MiB, a record over
 * KL_BLOB_RAW_MAX).  The stream has no length of its own: a record cut
 * inside it decodes, and the patch finds it truncated (kl_delta_apply).
 * The encoder checks the same rules (KL_E_INVAL, KL_E_LIMIT).
 */
#define KL_DELTA_REC_VERSION 1
#define KL_DELTA_REC_HDR_LEN 48
#define KL_DELTA_REC_BASE_LEN 36
#define KL_DELTA_STREAM_MAGIC 0x72730236u	/* big-endian in the stream */
struct kl_delta_rec {
	uint8_t gen, nbases;
	uint32_t block_len, target_len;
	struct kl_id target;
	struct kl_id bases[KL_DELTA_REF_BASES_MAX];
	uint32_t base_lens[KL_DELTA_REF_BASES_MAX];
	const uint8_t *delta;	/* the librsync stream (borrowed) */
	size_t delta_len;
};
int kl_delta_rec_encode(const struct kl_delta_rec *d, struct buf *out);
int kl_delta_rec_decode(const uint8_t *p, size_t len,
    struct kl_delta_rec *out);
/* KL_OK if d makes chunk `target` as ref says (target id, length,
 * generation, the same bases in the same order), else KL_E_CORRUPT. */
int kl_delta_rec_match(const struct kl_delta_rec *d,
    const struct kl_delta_ref *ref, const struct kl_id *target);

/* §12 lock plaintext. */
struct kl_lock {
	int64_t time;
	uint8_t exclusive;
	uint32_t pid;
	char hostname[KL_NAME_MAX + 1];
};
/* hostname is 1..255 bytes; exclusive is 0 or 1 (KL_E_CORRUPT). */
int kl_lock_encode(const struct kl_lock *l, struct buf *out);
int kl_lock_decode(const uint8_t *p, size_t len, struct kl_lock *out);

/* KL_E_CORRUPT unless the plaintext agrees with its header: in version
 * 2 the plaintext's exclusive byte must equal the header bit. */
int kl_lock_hdr_match(const struct kl_lock_hdr *h, const struct kl_lock *l);

#endif
