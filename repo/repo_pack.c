/*
 * Backup sessions: blobs are compressed, padded and encrypted by the
 * calling threads, gathered into packs, and each full pack is written with
 * its blobs in a random order (FORMAT.md §8) so that a pack's sequence of
 * blob sizes does not mirror any file's chunk sequence.  An index file is
 * written every INDEX_FLUSH_PACKS packs, not only at the end, so that the
 * packs of an interrupted backup are known to the next one (which then
 * does not upload them again).
 */
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

#define INDEX_FLUSH_PACKS 32
#define ADOPT_PACKS_MAX 4096	/* 64 GiB of 16 MiB packs per run */
#define SNAPSHOT_PT_MAX ((size_t)16 << 20)

struct pending {
	struct kl_blob_entry e;	/* offset: position in builder data */
};

struct builder {
	struct buf *data;		/* stored blobs in arrival order */
	struct pending *p;
	size_t n, cap;
};

struct kl_session {
	struct kl_repo *r;
	int level;
	uint8_t *key;
	uint8_t env[KL_ENVELOPE_LEN];
	pthread_mutex_t mu;
	pthread_mutex_t write_mu;	/* one pack written at a time */
	struct kl_index_table *seen;	/* blobs this session added */
	struct builder cur[2];		/* [0] data, [1] trees: apart */
	struct kl_index done;		/* packs not yet in an index file */
	size_t done_cap;
	int own;			/* recording own trees (catalog) */
	int store_all;			/* repack: store what the index has */
	int failed;
};

/*
 * Per-thread state of the threads that add blobs: a zstd context and two
 * scratch buffers that keep their capacity, so that sealing a blob
 * allocates nothing (fresh MiB-sized buffers cost a page fault per 4 KiB).
 * Freed at thread exit.
 */
struct tls {
	ZSTD_CCtx *zctx;
	struct buf *pt;		/* encoded plaintext */
	struct buf *st;		/* sealed blob */
};

static pthread_key_t tkey;
static pthread_once_t tonce = PTHREAD_ONCE_INIT;

static void
tls_free(void *p)
{
	struct tls *t = p;

	ZSTD_freeCCtx(t->zctx);
	buf_free(t->pt);
	buf_free(t->st);
	free(t);
}

static void
tkey_init(void)
{
	pthread_key_create(&tkey, tls_free);
}

static struct tls *
thread_state(void)
{
	struct tls *t;

	pthread_once(&tonce, tkey_init);
	if ((t = pthread_getspecific(tkey)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->zctx = ZSTD_createCCtx();
	t->pt = buf_new(kl_blob_encode_bound(KL_BLOB_RAW_MAX));
	t->st = buf_new(kl_blob_encode_bound(KL_BLOB_RAW_MAX) +
	    KL_AEAD_OVERHEAD);
	if (t->zctx == NULL || t->pt == NULL || t->st == NULL ||
	    pthread_setspecific(tkey, t) != 0) {
		tls_free(t);
		return NULL;
	}
	return t;
}

static void
builder_clear(struct builder *b)
{
	buf_free(b->data);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int
kl_session_begin(struct kl_repo *r, int compression, struct kl_session **out,
    struct kl_error *err)
{
	struct kl_session *s;
	int rc = KL_E_NOMEM;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KL_E_NOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->write_mu, NULL);
	s->r = r;
	s->level = compression;
	if ((s->seen = index_table_new()) == NULL)
		goto out;
	if ((rc = kl_session_key_new(&s->key)) != KL_OK)
		goto out;
	kl_envelope_seal(r->keys, s->key, s->env);
	*out = s;
	s = NULL;
out:
	kl_session_free(s);
	return rc;
}

void
kl_session_free(struct kl_session *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->own)
		kl_cat_own_abort(s->r->cat);
	builder_clear(&s->cur[0]);
	builder_clear(&s->cur[1]);
	for (i = 0; i < s->done.n; i++)
		free(s->done.packs[i].e);
	free(s->done.packs);
	index_table_free(s->seen);
	kl_session_key_free(s->key);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->write_mu);
	free(s);
}

/* Encrypts the blob plaintext pt (FORMAT.md §7) into the thread's scratch
 * buffer *out. */
static int
blob_seal_encoded(struct kl_session *s, struct tls *t, uint8_t type,
    const struct kl_id *id, const uint8_t *pt, size_t pt_len,
    struct buf **out)
{
	uint8_t *ct;
	int rc;

	buf_reset(t->st);
	if ((rc = buf_reserve(t->st, pt_len + KL_AEAD_OVERHEAD, &ct)) !=
	    KL_OK)
		return rc;
	kl_aead_seal(s->key, &s->r->keys->repo_id, type, id, pt, pt_len, ct);
	*out = t->st;
	return KL_OK;
}

/* Encodes and encrypts raw into the thread's scratch buffer *out; with
 * enc, enc is the plaintext already encoded (raw is then unused). */
static int
blob_seal(struct kl_session *s, uint8_t type, const struct kl_id *id,
    const uint8_t *raw, size_t raw_len, const struct buf *enc,
    struct buf **out)
{
	struct tls *t;
	int rc;

	*out = NULL;
	if ((t = thread_state()) == NULL)
		return KL_E_NOMEM;
	if (enc != NULL)
		return blob_seal_encoded(s, t, type, id, buf_data(enc),
		    buf_size(enc), out);
	buf_reset(t->pt);
	if ((rc = kl_blob_encode(t->zctx, s->level, raw, raw_len, t->pt)) != 0)
		return rc;
	return blob_seal_encoded(s, t, type, id, buf_data(t->pt),
	    buf_size(t->pt), out);
}

/* Room for a pack at its target plus the largest blob, reserved once:
 * the buffer never moves, and untouched pages cost no memory. */
static struct buf *
builder_data_new(const struct kl_session *s)
{
	size_t cap = s->r->cfg.pack_target + kl_blob_encode_bound(
	    KL_BLOB_RAW_MAX) + KL_AEAD_OVERHEAD;
	struct buf *b;
	uint8_t *p;

	if (cap > KL_PACK_MAX)
		cap = KL_PACK_MAX;
	if ((b = buf_new(KL_PACK_MAX)) == NULL)
		return NULL;
	if (buf_reserve(b, cap, &p) != KL_OK) {
		buf_free(b);
		return NULL;
	}
	buf_unput(b, cap);
	return b;
}

static int
builder_append(struct kl_session *s, struct builder *b, uint8_t type,
    const struct kl_id *id, const struct buf *stored, size_t raw_len)
{
	struct pending *np;
	int rc;

	if (b->data == NULL && (b->data = builder_data_new(s)) == NULL)
		return KL_E_NOMEM;
	if ((rc = KL_GROW(b->p, b->cap, b->n + 1)) != KL_OK)
		return rc;
	if ((rc = buf_put(b->data, buf_data(stored), buf_size(stored))) != 0)
		return rc;
	np = &b->p[b->n++];
	np->e.type = type;
	np->e.id = *id;
	np->e.offset = (uint32_t)(buf_size(b->data) - buf_size(stored));
	np->e.stored_len = (uint32_t)buf_size(stored);
	np->e.raw_len = (uint32_t)raw_len;
	return KL_OK;
}

/* 1 if adding a blob of this size would push the pack past its limits. */
static int
pack_would_overflow(const struct builder *b, size_t adding)
{
	size_t have = b->data ? buf_size(b->data) : 0;

	/* Leave room for the preamble, the header (45 B a blob) and slack. */
	return b->n > 0 && have + adding > KL_PACK_MAX - ((size_t)4 << 20);
}

static int
pack_reached_target(const struct kl_session *s, const struct builder *b)
{
	return buf_size(b->data) >= s->r->cfg.pack_target ||
	    b->n >= KL_PACK_BLOBS_MAX;
}

/* Moves a current builder into *to and starts a new one. */
static void
detach(struct builder *cur, struct builder *to)
{
	*to = *cur;
	memset(cur, 0, sizeof(*cur));
}

/* Fisher-Yates with libsodium's uniform generator. */
static void
shuffle(struct pending *p, size_t n)
{
	struct pending t;
	size_t i, j;

	for (i = n; i > 1; i--) {
		j = randombytes_uniform((uint32_t)i);
		t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
}

static int
pack_header_seal(struct kl_session *s, const struct kl_blob_entry *e,
    size_t n, struct buf *f)
{
	struct buf *pt;
	uint8_t *ct, tr[KL_PACK_TRAILER_LEN];
	size_t ct_len;
	int rc;

	if ((pt = buf_new(KL_PACK_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_pack_header_encode(e, n, pt)) != KL_OK)
		goto out;
	ct_len = buf_size(pt) + KL_AEAD_OVERHEAD;
	if ((rc = buf_reserve(f, ct_len, &ct)) != KL_OK)
		goto out;
	/* FORMAT.md §8: the index key, so any key can adopt the pack */
	kl_aead_seal(s->r->keys->index_key, &s->r->keys->repo_id,
	    KL_OBJ_PACK_HEADER, NULL, buf_data(pt), buf_size(pt), ct);
	kl_pack_trailer_encode((uint32_t)ct_len, tr);
	rc = buf_put(f, tr, sizeof(tr));
out:
	buf_free(pt);
	return rc;
}

/* Lays out a pack in random blob order; entries get their final offsets. */
static int
pack_build(struct kl_session *s, struct builder *b, struct buf *f,
    struct kl_blob_entry *e)
{
	size_t i;
	int rc;

	shuffle(b->p, b->n);
	if ((rc = kl_file_hdr_put(f, KL_MAGIC_PACK)) != KL_OK ||
	    (rc = buf_put(f, s->env, KL_ENVELOPE_LEN)) != KL_OK)
		return rc;
	for (i = 0; i < b->n; i++) {
		e[i] = b->p[i].e;
		e[i].offset = (uint32_t)buf_size(f);
		rc = buf_put(f, buf_data(b->data) + b->p[i].e.offset,
		    b->p[i].e.stored_len);
		if (rc != KL_OK)
			return rc;
	}
	return pack_header_seal(s, e, b->n, f);
}

static int
ix_add(struct kl_index *ix, size_t *cap, const struct kl_id *pack,
    struct kl_blob_entry *e, size_t n)
{
	struct kl_index_pack *np;
	int rc;

	if ((rc = kl_grow(&ix->packs, cap, ix->n + 1, sizeof(*np))) != KL_OK)
		return rc;
	np = &ix->packs[ix->n++];
	np->pack_id = *pack;
	np->e = e;
	np->n = n;
	return KL_OK;
}

static int
index_flush_locked(struct kl_session *s, struct kl_error *err)
{
	struct kl_repo *r = s->r;
	struct kl_id id;
	size_t i;
	int rc;

	if (s->done.n == 0)
		return KL_OK;
	if ((rc = kl_repo_index_write(r, &s->done, &id, err)) != KL_OK)
		return rc;
	/*
	 * Now that an index file names them, the entries go to the catalog:
	 * never before, or a crash would leave the catalog naming blobs
	 * that no index file has (FORMAT.md §1 write order).  A full key
	 * signed the file: its entries are attested for every host.
	 */
	if ((rc = repo_index_add(r, &id, &s->done, r->keys->kind ==
	    KL_KEY_FULL ? KL_TRUST_ATTESTED : KL_TRUST_OWN, err)) != KL_OK)
		return rc;
	for (i = 0; i < s->done.n; i++) {
		free(s->done.packs[i].e);
		s->done.packs[i].e = NULL;
	}
	s->done.n = 0;
	return KL_OK;
}

static int pack_write_locked(struct kl_session *s, struct builder *b,
    struct kl_error *err);

/* The pack file's buffer, allocated once at its final size. */
static struct buf *
pack_buf_new(const struct builder *b)
{
	size_t need = KL_PACK_PREAMBLE_LEN + buf_size(b->data) +
	    kl_padme(4 + (uint64_t)KL_ENTRY_LEN * b->n) + KL_AEAD_OVERHEAD +
	    KL_PACK_TRAILER_LEN;
	struct buf *f;
	uint8_t *p;

	if ((f = buf_new(KL_PACK_MAX)) == NULL)
		return NULL;
	if (buf_reserve(f, need, &p) != KL_OK) {
		buf_free(f);
		return NULL;
	}
	buf_unput(f, need);
	return f;
}

/*
 * Writes the pack in b (owned, cleared here) and records it.  One pack at
 * a time: the storage serialises writes anyway, and a pack being written
 * briefly exists twice (arrival order and shuffled), so two at once would
 * cost another ~32 MiB of memory for no speed.
 */
static int
pack_write(struct kl_session *s, struct builder *b, struct kl_error *err)
{
	int rc;

	pthread_mutex_lock(&s->write_mu);
	rc = pack_write_locked(s, b, err);
	pthread_mutex_unlock(&s->write_mu);
	return rc;
}

static int
pack_write_locked(struct kl_session *s, struct builder *b, struct kl_error *err)
{
	struct kl_cat *c;
	struct kl_blob_entry *e = NULL;
	struct buf *f = NULL;
	struct kl_id id;
	int rc = KL_E_NOMEM;

	if ((e = calloc(b->n, sizeof(*e))) == NULL ||
	    (f = pack_buf_new(b)) == NULL)
		goto out;
	if ((rc = pack_build(s, b, f, e)) != KL_OK)
		goto out;
	buf_free(b->data);	/* laid out in f now: do not hold it twice */
	b->data = NULL;
	/*
	 * Ours to adopt if this backup dies before an index names it:
	 * recorded before the upload, so a pack the server completes just
	 * as this process is killed is adopted, not sent again (one that
	 * never arrived is forgotten by the adoption).  A catalog that
	 * cannot record it only costs that re-upload.
	 */
	kl_hash(buf_data(f), buf_size(f), &id);
	if (repo_cat(s->r, &c, NULL) == KL_OK)
		(void)kl_cat_own_pack_add(c, &id, buf_size(f), NULL);
	if ((rc = repo_file_put_named(s->r, KL_FT_DATA, f, &id, err)) != KL_OK)
		goto out;
	pthread_mutex_lock(&s->mu);
	if ((rc = ix_add(&s->done, &s->done_cap, &id, e, b->n)) == KL_OK) {
		e = NULL;
		if (s->done.n >= INDEX_FLUSH_PACKS)
			rc = index_flush_locked(s, err);
	}
	pthread_mutex_unlock(&s->mu);
out:
	free(e);
	buf_free(f);
	builder_clear(b);
	return rc;
}

/* Claims id for this session: 1 if we must store it, 0 if known. */
static int
claim(struct kl_session *s, uint8_t type, const struct kl_id *id,
    struct kl_error *err)
{
	struct kl_blob_loc loc;
	int rc;

	/* prune's copies are each one blob once: no table to grow */
	if (s->store_all)
		return 1;
	/* only what this client or a full key vouches for (issue #10) */
	if ((rc = kl_repo_index_trusted(s->r, id, err)) != 0)
		return rc < 0 ? rc : 0;
	memset(&loc, 0, sizeof(loc));
	loc.type = type;
	pthread_mutex_lock(&s->mu);
	rc = index_table_put(s->seen, id, &loc);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int
kl_session_blob_known(struct kl_session *s, const struct kl_id *id,
    struct kl_error *err)
{
	struct kl_blob_loc loc;
	int rc;

	if ((rc = kl_repo_index_trusted(s->r, id, err)) != 0)
		return rc;
	pthread_mutex_lock(&s->mu);
	rc = index_table_get(s->seen, id, &loc) == KL_OK;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
session_fail(struct kl_session *s, int rc)
{
	pthread_mutex_lock(&s->mu);
	if (s->failed == KL_OK)
		s->failed = rc;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
blob_add(struct kl_session *s, uint8_t type, const struct kl_id *id,
    const uint8_t *raw, size_t raw_len, const struct buf *enc, int *added,
    uint64_t *stored, struct kl_error *err)
{
	struct builder before = { 0 }, after = { 0 }, *cur;
	struct buf *st = NULL;
	int rc;

	*added = 0;
	if (s->failed != KL_OK)
		return s->failed;
	if ((rc = claim(s, type, id, err)) <= 0)
		return rc < 0 ? session_fail(s, rc) : KL_OK;
	if ((rc = blob_seal(s, type, id, raw, raw_len, enc, &st)) != KL_OK)
		return session_fail(s, rc);
	/*
	 * Trees go into packs of their own: a snapshot's metadata then sits
	 * in few packs, which readers fetch whole (one request, not one per
	 * directory), and data packs hold only content.
	 */
	cur = &s->cur[type == KL_OBJ_TREE];
	pthread_mutex_lock(&s->mu);
	if (pack_would_overflow(cur, buf_size(st)))
		detach(cur, &before);
	rc = builder_append(s, cur, type, id, st, raw_len);
	if (rc == KL_OK && pack_reached_target(s, cur))
		detach(cur, &after);
	pthread_mutex_unlock(&s->mu);
	if (before.n > 0 && rc == KL_OK)
		rc = pack_write(s, &before, err);
	builder_clear(&before);
	if (rc == KL_OK && after.n > 0)
		rc = pack_write(s, &after, err);
	builder_clear(&after);
	if (rc == KL_OK) {
		*added = 1;
		if (stored != NULL)
			*stored = buf_size(st);
	}
	return rc == KL_OK ? KL_OK : session_fail(s, rc);
}

int
kl_session_blob_add(struct kl_session *s, uint8_t type,
    const struct kl_id *id, const uint8_t *raw, size_t raw_len, int *added,
    uint64_t *stored, struct kl_error *err)
{
	return blob_add(s, type, id, raw, raw_len, NULL, added, stored, err);
}

int
kl_session_blob_add_encoded(struct kl_session *s, uint8_t type,
    const struct kl_id *id, const struct buf *enc, size_t raw_len,
    int *added, uint64_t *stored, struct kl_error *err)
{
	return blob_add(s, type, id, NULL, raw_len, enc, added, stored, err);
}

int
kl_session_tree_add(struct kl_session *s, const struct kl_tree *t,
    struct kl_id *id, uint64_t *stored, struct kl_error *err)
{
	struct buf *b;
	int rc, added;

	*stored = 0;
	if ((b = buf_new(KL_BLOB_RAW_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_tree_encode(t, b)) == KL_OK) {
		kl_blob_id(s->r->keys, buf_data(b), buf_size(b), id);
		rc = kl_session_blob_add(s, KL_OBJ_TREE, id, buf_data(b),
		    buf_size(b), &added, stored, err);
	}
	/* a catalog that fails only costs the next backup its speed */
	if (rc == KL_OK && s->own && kl_cat_own_tree_put(s->r->cat, id,
	    buf_data(b), buf_size(b), NULL) != KL_OK) {
		kl_cat_own_abort(s->r->cat);
		s->own = 0;
	}
	buf_free(b);
	return rc;
}

int
kl_session_own_begin(struct kl_session *s, const char *host,
    char *const *paths, size_t npaths, struct kl_error *err)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(s->r, &c, err)) == KL_OK &&
	    (rc = kl_cat_own_begin(c, host, paths, npaths, err)) == KL_OK)
		s->own = 1;
	return rc;
}

static int
snapshot_write(struct kl_session *s, const struct kl_snapshot *snap,
    struct kl_id *id, struct kl_error *err)
{
	struct buf *pt;
	int rc;

	if ((pt = buf_new(SNAPSHOT_PT_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_snapshot_encode(snap, pt)) == KL_OK)
		rc = repo_sealed_put(s->r, KL_FT_SNAPSHOT, KL_MAGIC_SNAPSHOT,
		    s->env, s->key, KL_OBJ_SNAPSHOT, pt, id, err);
	buf_free(pt);
	return rc;
}

/* Packs, then index, then snapshot (FORMAT.md §1 write order). */
void
kl_session_store_all(struct kl_session *s)
{
	s->store_all = 1;
}

int
kl_session_commit(struct kl_session *s, const struct kl_snapshot *snap,
    struct kl_id *snap_id, struct kl_error *err)
{
	size_t i;
	int rc;

	memset(snap_id, 0, sizeof(*snap_id));
	if (s->failed != KL_OK)
		return s->failed;
	for (i = 0; i < 2; i++) {
		struct builder last;

		if (s->cur[i].n == 0)
			continue;
		detach(&s->cur[i], &last);
		if ((rc = pack_write(s, &last, err)) != KL_OK)
			return session_fail(s, rc);
	}
	pthread_mutex_lock(&s->mu);
	rc = index_flush_locked(s, err);
	pthread_mutex_unlock(&s->mu);
	if (rc != KL_OK)
		return session_fail(s, rc);
	if (snap == NULL)
		return KL_OK;		/* packs and index files only */
	if ((rc = snapshot_write(s, snap, snap_id, err)) != KL_OK)
		return rc;
	if (s->own) {
		s->own = 0;
		if (kl_cat_own_commit(s->r->cat, snap_id, &snap->tree, NULL) !=
		    KL_OK)
			kl_cat_own_abort(s->r->cat);
	}
	return KL_OK;
}

/* ---- adopting packs of interrupted backups ---- */

static int
id_sort(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

int
repo_pack_header_read(struct kl_repo *r, const struct kl_id *id,
    uint64_t size, struct kl_blob_entry **e, size_t *n, struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1];
	struct buf *tr = NULL, *h = NULL;
	uint8_t *pt = NULL;
	uint64_t hoff;
	uint32_t hlen;
	int rc;

	kl_id_hex(id, name);
	if (size < KL_PACK_PREAMBLE_LEN + KL_PACK_TRAILER_LEN)
		return KL_E_CORRUPT;
	if ((rc = r->be.ops->get(r->be.ctx, KL_FT_DATA, name,
	    size - KL_PACK_TRAILER_LEN, KL_PACK_TRAILER_LEN,
	    KL_PACK_TRAILER_LEN, &tr)) != KL_OK ||
	    (rc = kl_pack_trailer_decode(buf_data(tr), buf_size(tr), size,
	    &hoff, &hlen)) != KL_OK ||
	    (rc = r->be.ops->get(r->be.ctx, KL_FT_DATA, name, hoff, hlen,
	    hlen, &h)) != KL_OK)
		goto out;
	rc = KL_E_NOMEM;
	if (hlen < KL_AEAD_OVERHEAD || (pt = malloc(hlen)) == NULL)
		goto out;
	rc = kl_aead_open(r->keys->index_key, &r->keys->repo_id,
	    KL_OBJ_PACK_HEADER, NULL, buf_data(h), hlen, pt);
	if (rc == KL_OK)
		rc = kl_pack_header_decode(pt, hlen - KL_AEAD_OVERHEAD, hoff, e,
		    n);
out:
	free(pt);
	buf_free(tr);
	buf_free(h);
	return rc;
}

/*
 * Adopts one pack this client uploaded (its id and size as recorded when
 * it was written), unless an index file names it: its blobs go to the
 * session's table and its index file.  One that is gone is forgotten.
 */
static int
adopt_one(struct kl_session *s, struct kl_cat *c, const struct kl_id *known,
    size_t nknown, const struct kl_id *id, uint64_t size, uint64_t *bytes,
    struct kl_error *err)
{
	struct kl_blob_entry *e = NULL;
	struct kl_blob_loc loc;
	size_t i, n;
	int rc;

	if (nknown > 0 && bsearch(id, known, nknown, sizeof(*id),
	    id_sort) != NULL)
		return KL_OK;
	if ((rc = repo_pack_header_read(s->r, id, size, &e, &n,
	    NULL)) != KL_OK) {
		free(e);
		/* gone: forgotten; damaged: a re-upload, nothing worse */
		if (rc == KL_E_NOMEM || rc == KL_E_CONN)
			return repo_err_file(err, rc, KL_FT_DATA, id, "adopting "
			    "a pack of an interrupted backup: %s",
			    kl_strerror(rc));
		return rc == KL_E_NOTFOUND ? kl_cat_own_pack_del(c, id, err) :
		    KL_OK;
	}
	loc.pack = *id;
	for (i = 0; i < n; i++) {
		loc.type = e[i].type;
		loc.offset = e[i].offset;
		loc.stored_len = e[i].stored_len;
		loc.raw_len = e[i].raw_len;
		/* the session's table, not the catalog: no index file names
		 * this pack until the session writes one */
		if ((rc = index_table_put(s->seen, &e[i].id, &loc)) < 0)
			break;
	}
	if (rc >= 0 && (rc = ix_add(&s->done, &s->done_cap, id, e, n)) == 0)
		e = NULL;
	free(e);
	*bytes += size;
	return rc < 0 ? rc : KL_OK;
}

/*
 * Only packs this client wrote itself are adopted (issue #10): a pack
 * header is whatever its writer wanted, and adopting another host's pack
 * would make its claims this client's own.  At most ADOPT_PACKS_MAX per
 * run; the rest wait for the next.
 */
int
kl_session_adopt_orphans(struct kl_session *s, uint64_t *packs,
    uint64_t *bytes, struct kl_error *err)
{
	struct kl_id *own = NULL, *known = NULL;
	uint64_t *sizes = NULL;
	struct kl_cat *c;
	size_t i, n = 0, nknown = 0;
	int rc;

	*packs = *bytes = 0;
	if ((rc = repo_cat(s->r, &c, err)) != KL_OK ||
	    (rc = kl_cat_own_pack_list(c, &own, &sizes, &n, err)) != KL_OK ||
	    n == 0 || (rc = kl_cat_pack_ids(c, &known, &nknown, err)) != KL_OK)
		goto out;
	for (i = 0; i < n && *packs < ADOPT_PACKS_MAX && rc == KL_OK; i++) {
		uint64_t before = *bytes;

		rc = adopt_one(s, c, known, nknown, &own[i], sizes[i], bytes,
		    err);
		if (*bytes != before)
			(*packs)++;
	}
out:
	free(own);
	free(sizes);
	free(known);
	return rc;
}
