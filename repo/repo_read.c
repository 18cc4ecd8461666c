/* Reading encrypted objects: blobs, trees, snapshots. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "repo_internal.h"

int
kl_envelope_hdr_open(const struct kl_keys *keys, const uint8_t *hdr,
    size_t len, const char *magic, uint8_t *key)
{
	struct buf v;
	const uint8_t *env;
	int rc;

	buf_view_init(&v, hdr, len);
	if ((rc = kl_file_hdr_get(&v, magic)) != KL_OK)
		return rc;
	if ((rc = buf_get_ptr(&v, KL_ENVELOPE_LEN, &env)) != KL_OK)
		return rc;
	return kl_envelope_open(keys, env, key);
}

static int
pack_key_cached(struct kl_repo *r, const struct kl_id *pack, uint8_t *key)
{
	unsigned i;
	int found = 0;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < KL_PACK_KEY_CACHE && !found; i++) {
		if (r->pk[i].key != NULL && kl_id_eq(&r->pk[i].pack, pack)) {
			memcpy(key, r->pk[i].key, KL_KEY_LEN);
			found = 1;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

static void
pack_key_remember(struct kl_repo *r, const struct kl_id *pack,
    const uint8_t *key)
{
	struct kl_pack_key *slot;
	uint8_t *copy;

	if (kl_session_key_new(&copy) != KL_OK)
		return;	/* the cache is an optimisation only */
	memcpy(copy, key, KL_KEY_LEN);
	pthread_mutex_lock(&r->mu);
	slot = &r->pk[r->pk_next++ % KL_PACK_KEY_CACHE];
	kl_session_key_free(slot->key);
	slot->pack = *pack;
	slot->key = copy;
	pthread_mutex_unlock(&r->mu);
}

int
kl_repo_pack_key(struct kl_repo *r, const struct kl_id *pack, uint8_t *key,
    struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1], fn[REPO_FNAME_MAX];
	struct buf *b = NULL;
	int rc;

	if (r->keys->kind != KL_KEY_FULL)
		return kl_error_set(err, KL_E_PERM, "this is a backup-only "
		    "key: it cannot read backed-up data; use a full key");
	if (pack_key_cached(r, pack, key))
		return KL_OK;
	kl_id_hex(pack, name);
	rc = r->be.ops->get(r->be.ctx, KL_FT_DATA, name, 0,
	    KL_PACK_PREAMBLE_LEN, KL_PACK_PREAMBLE_LEN, &b);
	if (rc == KL_OK)
		rc = kl_envelope_hdr_open(r->keys, buf_data(b), buf_size(b),
		    KL_MAGIC_PACK, key);
	buf_free(b);
	if (rc != KL_OK) {
		repo_fname(KL_FT_DATA, pack, fn);
		return repo_err_file(err, rc, KL_FT_DATA, pack, "%s: %s", fn,
		    rc == KL_E_NOTFOUND ? "missing" : kl_strerror(rc));
	}
	pack_key_remember(r, pack, key);
	return KL_OK;
}

int
kl_blob_open(const struct kl_keys *keys, const uint8_t *key,
    const struct kl_id *id, uint8_t type, const uint8_t *stored,
    size_t stored_len, void *dctx, struct buf *raw, struct buf *enc)
{
	struct kl_id got;
	uint8_t *pt = NULL;
	size_t pt_len, start = buf_size(raw);
	int rc;

	/* no blob's plaintext is shorter or longer (FORMAT.md §7, §14) */
	if (stored_len < KL_AEAD_OVERHEAD || stored_len - KL_AEAD_OVERHEAD >
	    kl_blob_encode_bound(KL_BLOB_RAW_MAX))
		return KL_E_CORRUPT;
	pt_len = stored_len - KL_AEAD_OVERHEAD;
	if (enc != NULL)
		rc = buf_reserve(enc, pt_len, &pt);
	else
		rc = (pt = malloc(pt_len ? pt_len : 1)) == NULL ? KL_E_NOMEM :
		    KL_OK;
	if (rc == KL_OK)
		rc = kl_aead_open(key, &keys->repo_id, type, id, stored,
		    stored_len, pt);
	if (rc == KL_OK)
		rc = kl_blob_decode(dctx, pt, pt_len, KL_BLOB_RAW_MAX, raw);
	if (rc == KL_OK) {
		kl_blob_id(keys, buf_data(raw) + start,
		    buf_size(raw) - start, &got);
		if (!kl_id_eq(&got, id)) {
			buf_unput(raw, buf_size(raw) - start);
			rc = KL_E_CORRUPT;
		}
	}
	if (enc == NULL)
		free(pt);
	else if (rc != KL_OK && pt != NULL)
		buf_unput(enc, pt_len);
	return rc;
}

/* One decompression context per reading thread, freed at thread exit. */
static pthread_key_t dkey;
static pthread_once_t donce = PTHREAD_ONCE_INIT;

static void
dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void
dkey_init(void)
{
	pthread_key_create(&dkey, dctx_free);
}

static ZSTD_DCtx *
thread_dctx(void)
{
	ZSTD_DCtx *d;

	pthread_once(&donce, dkey_init);
	if ((d = pthread_getspecific(dkey)) == NULL &&
	    (d = ZSTD_createDCtx()) != NULL &&
	    pthread_setspecific(dkey, d) != 0) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;	/* NULL: kl_blob_decode makes its own */
}

/*
 * And one key buffer per reading thread: sodium_malloc maps, guards and
 * locks pages, which cost more than decrypting a tree.
 */
static pthread_key_t kkey;
static pthread_once_t konce = PTHREAD_ONCE_INIT;

static void
key_free(void *p)
{
	kl_session_key_free(p);
}

static void
kkey_init(void)
{
	pthread_key_create(&kkey, key_free);
}

static uint8_t *
thread_key(void)
{
	uint8_t *k;

	pthread_once(&konce, kkey_init);
	if ((k = pthread_getspecific(kkey)) == NULL &&
	    kl_session_key_new(&k) == KL_OK && pthread_setspecific(kkey, k)) {
		kl_session_key_free(k);
		k = NULL;
	}
	return k;
}

/*
 * A copy of the stored blob at loc from the tree cache: 1 if found, 0 if
 * not (or out of memory: the caller reads it then).  Caller holds r->mu.
 */
static int
tree_cached(struct kl_repo *r, const struct kl_blob_loc *loc,
    struct buf **out)
{
	struct kl_tree_range *c;
	unsigned i;

	for (i = 0; i < r->ntr; i++) {
		c = &r->tr[i];
		if (!kl_id_eq(&c->pack, &loc->pack) || loc->offset < c->lo ||
		    loc->offset - c->lo + (uint64_t)loc->stored_len >
		    buf_size(c->b))
			continue;
		if ((*out = buf_new(loc->stored_len)) == NULL)
			return 0;
		if (buf_put(*out, buf_data(c->b) + (loc->offset - c->lo),
		    loc->stored_len) != KL_OK) {
			buf_free(*out);
			*out = NULL;
			return 0;
		}
		return 1;
	}
	return 0;
}

/* 1 if a range of len bytes still fits in the tree cache. */
static int
tree_room(const struct kl_repo *r, size_t len)
{
	return !r->tr_off && r->ntr < KL_TREE_CACHE &&
	    len <= KL_TREE_CACHE_BYTES - r->tr_bytes;
}

void
kl_repo_tree_cache(struct kl_repo *r, int on)
{
	unsigned i;

	pthread_mutex_lock(&r->mu);
	r->tr_off = !on;
	for (i = 0; i < r->ntr; i++)
		buf_free(r->tr[i].b);
	r->ntr = 0;
	r->tr_bytes = 0;
	pthread_mutex_unlock(&r->mu);
}

/*
 * Reads the stored bytes of a tree blob.  Trees are fetched by whole
 * pack ranges (all tree blobs of the pack, FORMAT.md §8: backups keep them
 * in packs of their own) and cached: a restore or a backup walking a
 * snapshot's directories then costs one request per tree pack, not one
 * per directory - which over ssh:// is the difference between seconds and
 * minutes.  Ranges stay until the handle closes: a walk visits the tree
 * packs again and again (every snapshot holds trees of every night), so
 * evicting one range for the next would read each range once per visit -
 * 2.7 GB instead of 86 MB for prune's marks in bench/prune.sh.  When the
 * cache is full, a tree of a pack it does not hold is read alone.
 */
static int
tree_fetch(struct kl_repo *r, const char *name, const struct kl_blob_loc *loc,
    struct buf **out)
{
	struct kl_tree_range *c;
	struct buf *range = NULL;
	uint32_t lo, hi;
	int rc, hit, room = 0;

	pthread_mutex_lock(&r->mu);
	hit = tree_cached(r, loc, out);
	pthread_mutex_unlock(&r->mu);
	if (hit)
		return KL_OK;
	/* no range known: the tree alone */
	if (r->cat != NULL &&
	    kl_cat_pack_tree_range(r->cat, &loc->pack, &lo, &hi, NULL) ==
	    KL_OK &&
	    hi - lo <= KL_TREE_RANGE_MAX && loc->offset >= lo &&
	    loc->offset + loc->stored_len <= hi) {
		pthread_mutex_lock(&r->mu);
		room = tree_room(r, hi - lo);
		pthread_mutex_unlock(&r->mu);
	}
	if (!room)	/* no range known, or no room: the blob alone */
		return r->be.ops->get(r->be.ctx, KL_FT_DATA, name, loc->offset,
		    loc->stored_len, loc->stored_len, out);
	if ((rc = r->be.ops->get(r->be.ctx, KL_FT_DATA, name, lo, hi - lo,
	    hi - lo, &range)) != KL_OK)
		return rc;
	pthread_mutex_lock(&r->mu);
	/* another thread may have cached it meanwhile, or filled the cache */
	if ((hit = tree_cached(r, loc, out)) == 0 &&
	    tree_room(r, buf_size(range))) {
		c = &r->tr[r->ntr++];
		c->pack = loc->pack;
		c->lo = lo;
		c->b = range;
		r->tr_bytes += buf_size(range);
		range = NULL;
		hit = tree_cached(r, loc, out);
	}
	pthread_mutex_unlock(&r->mu);
	if (!hit && range != NULL && (*out = buf_new(loc->stored_len)) !=
	    NULL && buf_put(*out, buf_data(range) + (loc->offset - lo),
	    loc->stored_len) == KL_OK)
		hit = 1;
	buf_free(range);
	if (!hit) {
		buf_free(*out);
		*out = NULL;
	}
	return hit ? KL_OK : KL_E_NOMEM;
}

/* Reads the blob at one location into out. */
static int
blob_read_at(struct kl_repo *r, const struct kl_id *id, uint8_t type,
    const struct kl_blob_loc *loc, uint8_t *key, struct buf *out,
    struct buf *enc, struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1], bname[KL_ID_HEX_LEN + 1];
	char fn[REPO_FNAME_MAX];
	struct buf *b = NULL;
	int rc;

	kl_id_hex(&loc->pack, name);
	if ((rc = kl_repo_pack_key(r, &loc->pack, key, err)) != KL_OK)
		goto out;	/* it said why */
	if (type == KL_OBJ_TREE)
		rc = tree_fetch(r, name, loc, &b);
	else
		rc = r->be.ops->get(r->be.ctx, KL_FT_DATA, name, loc->offset,
		    loc->stored_len, loc->stored_len, &b);
	if (rc == KL_OK)
		rc = kl_blob_open(r->keys, key, id, type, buf_data(b),
		    buf_size(b), thread_dctx(), out, enc);
	if (rc != KL_OK) {
		kl_id_hex(id, bname);
		repo_fname(KL_FT_DATA, &loc->pack, fn);
		repo_err_file(err, rc, KL_FT_DATA, &loc->pack, "blob %s in %s: "
		    "%s", bname, fn, rc == KL_E_NOTFOUND ?
		    "the pack is missing" : kl_strerror(rc));
	}
out:
	buf_free(b);
	return rc;
}

/*
 * Every location the index knows is tried, best first, until one
 * verifies (issue #10: a bogus location must cost a failed read, never
 * the blob).  The error is the first location's, which names the pack a
 * check should look at.
 */
static int
blob_read(struct kl_repo *r, const struct kl_id *id, uint8_t type,
    struct buf *out, struct buf *enc, struct kl_error *err)
{
	char bname[KL_ID_HEX_LEN + 1];
	struct kl_error e, first;
	struct kl_blob_loc *locs = NULL;
	uint8_t *key;
	size_t i, n = 0;
	int rc, rc0 = KL_OK;

	if ((rc = kl_repo_blob_locate(r, id, type, &locs, &n, err)) != KL_OK) {
		kl_id_hex(id, bname);
		if (rc == KL_E_NOTFOUND)
			kl_error_obj(err, rc, KL_ABOUT_BLOB, id, NULL,
			    "blob %s is not in the index", bname);
		return rc;
	}
	if ((key = thread_key()) == NULL) {
		free(locs);
		return KL_E_NOMEM;
	}
	kl_error_clear(&first);
	for (i = 0; i < n; i++) {
		kl_error_clear(&e);
		if ((rc = blob_read_at(r, id, type, &locs[i], key, out, enc,
		    &e)) == KL_OK || rc == KL_E_PERM || rc == KL_E_NOMEM ||
		    rc == KL_E_CONN)
			break;
		if (i == 0) {
			rc0 = rc;
			first = e;
		}
	}
	if (rc != KL_OK && i == n && n > 1) {
		rc = rc0;
		e = first;
		if (e.code != rc)
			kl_error_set(&e, rc, "%s", "");
		snprintf(e.msg, sizeof(e.msg), "%.700s (and %zu other cop%s)",
		    kl_error_msg(&first, rc), n - 1, n == 2 ? "y" : "ies");
	}
	if (rc != KL_OK && err != NULL)
		*err = e;
	free(locs);
	return rc;
}

int
kl_repo_blob_read(struct kl_repo *r, const struct kl_id *id, uint8_t type,
    struct buf *out, struct kl_error *err)
{
	return blob_read(r, id, type, out, NULL, err);
}

int
kl_repo_blob_read_encoded(struct kl_repo *r, const struct kl_id *id,
    uint8_t type, struct buf *raw, struct buf *enc, struct kl_error *err)
{
	return blob_read(r, id, type, raw, enc, err);
}

/*
 * A tree this client wrote, from the catalog.  Its id is a keyed hash of
 * its bytes, so a cached copy that does not hash to it (a damaged or
 * doctored catalog) is not used: the repository's copy is read instead.
 */
static int
own_tree_get(struct kl_repo *r, const struct kl_id *id, struct buf *b)
{
	struct kl_id got;

	if (r->cat == NULL || kl_cat_own_tree_get(r->cat, id, b, NULL) !=
	    KL_OK)
		return KL_E_NOTFOUND;
	kl_blob_id(r->keys, buf_data(b), buf_size(b), &got);
	if (kl_id_eq(&got, id))
		return KL_OK;
	buf_reset(b);
	return KL_E_CORRUPT;
}

int
kl_repo_tree_load(struct kl_repo *r, const struct kl_id *id,
    struct kl_tree *out, struct kl_error *err)
{
	struct buf *b;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((b = buf_new(KL_BLOB_RAW_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = own_tree_get(r, id, b)) != KL_OK)
		rc = kl_repo_blob_read(r, id, KL_OBJ_TREE, b, err);
	if (rc == KL_OK) {
		rc = kl_tree_decode(buf_data(b), buf_size(b), out);
		if (rc != KL_OK) {
			char name[KL_ID_HEX_LEN + 1];

			kl_id_hex(id, name);
			kl_error_obj(err, rc, KL_ABOUT_TREE, id, NULL,
			    "tree %s: %s", name, kl_strerror(rc));
		}
	}
	buf_free(b);
	return rc;
}

struct id_list {
	struct kl_id *ids;
	size_t n, cap;
};

static int
id_list_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct id_list *l = arg;
	int rc;

	if ((rc = KL_GROW(l->ids, l->cap, l->n + 1)) != KL_OK)
		return rc;
	return kl_id_parse(name, &l->ids[l->n++]) == KL_OK ? 0 : (l->n--, 0);
}

int
kl_repo_list_ids(struct kl_repo *r, enum kl_ftype t, struct kl_id **ids,
    size_t *n, struct kl_error *err)
{
	struct id_list l = { NULL, 0, 0 };
	int rc;

	*ids = NULL;
	*n = 0;
	if ((rc = r->be.ops->list(r->be.ctx, t, id_list_add, &l)) != KL_OK) {
		free(l.ids);
		return rc;
	}
	*ids = l.ids;
	*n = l.n;
	return KL_OK;
}

int
kl_repo_snapshot_ids(struct kl_repo *r, struct kl_id **ids, size_t *n,
    struct kl_error *err)
{
	return kl_repo_list_ids(r, KL_FT_SNAPSHOT, ids, n, err);
}

#define SNAPSHOT_FILE_MAX ((size_t)16 << 20)

int
kl_repo_snapshot_load(struct kl_repo *r, const struct kl_id *id,
    struct kl_snapshot *out, struct kl_error *err)
{
	char fn[REPO_FNAME_MAX];
	struct buf *pt = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (r->keys->kind != KL_KEY_FULL)
		return kl_error_set(err, KL_E_PERM, "this is a backup-only "
		    "key: it cannot read snapshots; use a full key");
	rc = repo_sealed_get(r, KL_FT_SNAPSHOT, id, SNAPSHOT_FILE_MAX,
	    KL_MAGIC_SNAPSHOT, NULL, KL_OBJ_SNAPSHOT, &pt, err);
	if (rc == KL_OK)
		rc = kl_snapshot_decode(buf_data(pt), buf_size(pt), out);
	if (rc != KL_OK && rc != KL_E_NOTFOUND) {
		repo_fname(KL_FT_SNAPSHOT, id, fn);
		repo_err_file(err, rc, KL_FT_SNAPSHOT, id, "%s: %s", fn,
		    kl_strerror(rc));
	}
	buf_free(pt);
	return rc;
}

/*
 * "latest" with nothing to narrow it: the newest snapshot if all are of
 * one host (kl_repo_snapshot_pick).  Damaged or vanished snapshot files
 * are skipped and recorded, so the caller can say that "latest" is not
 * the newest file in snapshots/.
 */
static int
snapshot_latest(struct kl_repo *r, struct kl_id *out, struct kl_error *err)
{
	struct kl_snap_query q;
	struct kl_snap_pick p;
	int rc;

	memset(&q, 0, sizeof(q));
	q.at = INT64_MAX;
	if ((rc = kl_repo_snapshot_pick(r, &q, &p, err)) == KL_OK)
		*out = p.id;
	return rc;
}

static int
snapshot_by_prefix(struct kl_repo *r, const char *spec,
    const struct kl_id *ids, size_t n, struct kl_id *out,
    struct kl_error *err)
{
	char hex[KL_ID_HEX_LEN + 1];
	size_t i, len = strlen(spec), hits = 0;

	for (i = 0; i < len; i++)
		if (!((spec[i] >= '0' && spec[i] <= '9') ||
		    (spec[i] >= 'a' && spec[i] <= 'f')))
			break;
	if (len < 8 || len > KL_ID_HEX_LEN || i != len)
		return kl_error_set(err, KL_E_INVAL, "\"%s\" is not a "
		    "snapshot id (use 'latest', or at least 8 hex digits)",
		    spec);
	for (i = 0; i < n; i++) {
		kl_id_hex(&ids[i], hex);
		if (strncmp(hex, spec, len) == 0 && hits++ == 0)
			*out = ids[i];
	}
	if (hits == 0)
		kl_error_obj(err, KL_E_NOTFOUND, KL_ABOUT_SNAPSHOT, NULL, NULL,
		    "no snapshot matches %s", spec);
	else if (hits > 1)
		kl_error_set(err, KL_E_INVAL, "%s matches %zu snapshots; give "
		    "more digits", spec, hits);
	return hits == 1 ? KL_OK : hits == 0 ? KL_E_NOTFOUND : KL_E_INVAL;
}

int
kl_repo_snapshot_resolve(struct kl_repo *r, const char *spec,
    struct kl_id *out, struct kl_error *err)
{
	struct kl_id *ids = NULL;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (strcmp(spec, "latest") == 0)
		return snapshot_latest(r, out, err);
	if ((rc = kl_repo_snapshot_ids(r, &ids, &n, err)) != KL_OK)
		return rc;
	rc = snapshot_by_prefix(r, spec, ids, n, out, err);
	free(ids);
	return rc;
}
