/*
 * Sub-chunk deltas in the backup pipeline (ARCHITECTURE.md "Deltas",
 * FORMAT.md §7.1).  For a file of at least --delta-min-size bytes, each
 * chunk that must be stored is compared, by signature, with the full
 * chunks the previous version had at the same offsets (its bases); when
 * the delta is at most half the chunk it is stored instead.  Nothing of
 * the old bytes is read: they may be gone (a file rewritten in place),
 * and a backup-only key could not read them from the repository anyway.
 * What it needs are the signatures this client cached when it read those
 * chunks, and the previous tree, which a backup-only host has from its
 * catalog.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/delta.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/map.h"
#include "kluis/repo.h"
#include "backup_internal.h"

/* One chunk of the previous version. */
struct dold {
	uint64_t off;
	uint32_t len;
	struct kl_id id;
	const struct kl_delta_ref *ref;	/* into dfile.refs; NULL: whole */
};

struct dfile {
	int refs;			/* atomic */
	struct kl_cat *cat;
	struct dold *old;		/* by offset */
	size_t nold;
	struct kl_delta_ref *refs_v;	/* prev's delta entries */
	size_t nrefs;
	struct kl_map by_id;		/* content id -> index into old, for
					 * chunks that were deltas; built by
					 * the walker, then only read; only
					 * for this client's own parent */
	int have_map;
	unsigned max_depth;
};

struct dfile *
dfile_ref(struct dfile *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
	return f;
}

void
dfile_put(struct dfile *f)
{
	if (f == NULL || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (f->have_map)
		kl_map_clear(&f->by_id);
	free(f->old);
	free(f->refs_v);
	free(f);
}

/*
 * The previous version's layout: every chunk's offset and length (a
 * delta chunk's from its entry, a whole one's from the blob index).  A
 * chunk the index does not know makes the layout unknown: no deltas for
 * this file this time, signatures only.
 */
static int
layout_build(struct dfile *f, const struct kl_node *prev, int own)
{
	struct kl_blob_loc loc;
	uint64_t off = 0;
	size_t i;
	int rc;

	/*
	 * An entry that says "delta blob D makes chunk X" is reused for an
	 * unchanged X only when this client wrote it: a parent read from
	 * the repository may be another writer's tree, which could pair a
	 * guessed X with any delta blob and so decide what this backup
	 * skips (issue #10).  Bases are safe to take from any parent: the
	 * delta is made from this client's own signatures of them.
	 */
	if (prev->ndeltas > 0) {
		if ((f->refs_v = malloc(prev->ndeltas * sizeof(*f->refs_v))) ==
		    NULL)
			return KL_E_NOMEM;
		memcpy(f->refs_v, prev->deltas, prev->ndeltas *
		    sizeof(*f->refs_v));
		f->nrefs = prev->ndeltas;
		if (own) {
			kl_map_init(&f->by_id, KL_ID_LEN);
			f->have_map = 1;
		}
	}
	if ((f->old = calloc(prev->nchunks, sizeof(*f->old))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < prev->nchunks; i++) {
		struct dold *o = &f->old[i];
		const struct kl_delta_ref *d = kl_node_delta(prev, i);

		o->off = off;
		o->id = prev->chunks[i];
		if (d != NULL) {
			o->ref = &f->refs_v[d - prev->deltas];
			o->len = d->len;
			if (f->have_map &&
			    (rc = kl_map_put(&f->by_id, o->id.b, i)) < 0)
				return rc;
		} else {
			if (kl_cat_blob_get(f->cat, &o->id, &loc, NULL, NULL) !=
			    KL_OK || loc.raw_len == 0) {
				f->nold = 0;	/* unknown: no layout */
				return KL_OK;
			}
			o->len = loc.raw_len;
		}
		off += o->len;
	}
	f->nold = prev->nchunks;
	return KL_OK;
}

int
dfile_new(struct bk *bk, const struct kl_node *prev, struct dfile **out)
{
	struct dfile *f;
	int rc;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return KL_E_NOMEM;
	f->refs = 1;
	f->max_depth = bk->o->delta_max_depth;
	if ((f->cat = kl_repo_catalog(bk->r)) == NULL) {
		free(f);
		return KL_OK;
	}
	if (prev != NULL && prev->type == KL_NODE_FILE && prev->nchunks > 0 &&
	    (rc = layout_build(f, prev, bk->parent_own)) != KL_OK) {
		dfile_put(f);
		return rc;
	}
	*out = f;
	return KL_OK;
}

/* 1 if every blob of ref (its delta blob, its bases) is stored or known
 * to the session, 0 if not, <0 on errors. */
static int
ref_known(struct kl_session *s, const struct kl_delta_ref *ref,
    struct kl_error *err)
{
	uint8_t j;
	int rc;

	if ((rc = kl_session_blob_known(s, &ref->delta, err)) != 1)
		return rc;
	for (j = 0; j < ref->nbases; j++)
		if ((rc = kl_session_blob_known(s, &ref->bases[j], err)) != 1)
			return rc;
	return 1;
}

/* Adds base id to the set b (n so far); 0 if the set is full. */
static int
base_add(struct kl_id *b, uint8_t *n, const struct kl_id *id)
{
	uint8_t i;

	for (i = 0; i < *n; i++)
		if (kl_id_eq(&b[i], id))
			return 1;
	if (*n == KL_DELTA_BASES_MAX)
		return 0;
	b[(*n)++] = *id;
	return 1;
}

/*
 * The bases of the chunk at [off, off + len): the full chunks the
 * previous version had there - whole chunks themselves, delta chunks
 * their bases (depth 1: a base is never a delta) - and in *gen the
 * highest generation among the delta chunks (0: none).  0 if there are
 * none or more than KL_DELTA_BASES_MAX.
 */
static int
bases_of(const struct dfile *f, uint64_t off, size_t len, struct kl_id *b,
    uint8_t *n, unsigned *gen)
{
	size_t lo = 0, hi = f->nold, mid, i;
	uint64_t end = off + len;
	uint8_t j;

	*n = 0;
	*gen = 0;
	while (lo < hi) {	/* the first chunk that ends after off */
		mid = lo + (hi - lo) / 2;
		if (f->old[mid].off + f->old[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < f->nold && f->old[i].off < end; i++) {
		const struct dold *o = &f->old[i];

		if (o->ref == NULL) {
			if (!base_add(b, n, &o->id))
				return 0;
			continue;
		}
		if (o->ref->gen > *gen)
			*gen = o->ref->gen;
		for (j = 0; j < o->ref->nbases; j++)
			if (!base_add(b, n, &o->ref->bases[j]))
				return 0;
	}
	return *n > 0;
}

/*
 * Stores it as a delta if it pays: 1 stored (it->dref filled), 0 not
 * (no layout, no usable bases, chain at its depth, a delta over half the
 * chunk), <0 on errors.
 */
static int
delta_try(struct bk *bk, struct dfile *f, struct item *it,
    struct kl_error *err)
{
	struct kl_delta_base sig[KL_DELTA_BASES_MAX];
	struct buf *sb[KL_DELTA_BASES_MAX] = { NULL }, *d = NULL, *rec = NULL;
	struct kl_delta_rec r;
	struct kl_blob_loc loc;
	struct kl_id bases[KL_DELTA_BASES_MAX], did;
	size_t max, over;
	unsigned gen;
	uint8_t n, j;
	int rc = 0;

	if (f->nold == 0 || !bases_of(f, it->off, it->len, bases, &n, &gen) ||
	    gen + 1 > f->max_depth || gen + 1 > KL_DELTA_GEN_MAX)
		return 0;
	memset(&r, 0, sizeof(r));
	for (j = 0; j < n; j++) {
		if ((rc = kl_session_blob_known(bk->s, &bases[j], err)) != 1)
			goto out;	/* a base nobody vouches for: whole */
		if (kl_cat_blob_get(f->cat, &bases[j], &loc, NULL, NULL) !=
		    KL_OK || loc.raw_len == 0 ||
		    loc.raw_len > KL_DELTA_CHUNK_MAX ||
		    (sb[j] = buf_new(kl_delta_sig_len(loc.raw_len))) == NULL ||
		    kl_cat_sig_get(f->cat, &bases[j], sb[j], NULL) != KL_OK ||
		    kl_delta_sig_check(buf_data(sb[j]), buf_size(sb[j]),
		    loc.raw_len) != KL_OK) {
			rc = 0;		/* no signature (fresh cache): whole */
			goto out;
		}
		sig[j].p = buf_data(sb[j]);
		sig[j].len = buf_size(sb[j]);
		r.bases[j] = bases[j];
		r.base_lens[j] = loc.raw_len;
	}
	/* worth it only at half the chunk or less, record included */
	over = KL_DELTA_REC_HDR_LEN + (size_t)n * KL_DELTA_REC_BASE_LEN;
	if (it->len / 2 <= over) {
		rc = 0;
		goto out;
	}
	max = it->len / 2 - over;
	if ((d = buf_new(max)) == NULL || (rec = buf_new(it->len)) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	/* not worth it (KL_E_LIMIT), or a cached signature librsync does
	 * not take: whole; only memory is fatal */
	if ((rc = kl_delta_make(sig, n, it->data, it->len, max, d)) != KL_OK) {
		rc = rc == KL_E_NOMEM ? rc : 0;
		goto out;
	}
	r.gen = (uint8_t)(gen + 1);
	r.nbases = n;
	r.block_len = KL_DELTA_BLOCK_LEN;
	r.target_len = (uint32_t)it->len;
	r.target = it->id;
	r.delta = buf_data(d);
	r.delta_len = buf_size(d);
	if ((rc = kl_delta_rec_encode(&r, rec)) != KL_OK) {
		rc = rc == KL_E_NOMEM ? rc : 0;
		goto out;
	}
	kl_blob_id(kl_repo_keys(bk->r), buf_data(rec), buf_size(rec), &did);
	if ((rc = kl_session_blob_add(bk->s, KL_OBJ_DELTA, &did, buf_data(rec),
	    buf_size(rec), &it->added, &it->stored, err)) != KL_OK)
		goto out;
	memset(&it->dref, 0, sizeof(it->dref));
	it->dref.len = (uint32_t)it->len;
	it->dref.gen = r.gen;
	it->dref.nbases = n;
	it->dref.delta = did;
	memcpy(it->dref.bases, bases, n * sizeof(*bases));
	it->is_delta = 1;
	rc = 1;
out:
	for (j = 0; j < KL_DELTA_BASES_MAX; j++)
		buf_free(sb[j]);
	buf_free(d);
	buf_free(rec);
	return rc;
}

/* Caches the signature of a chunk stored whole, unless it is cached.  A
 * catalog that fails costs only a later delta. */
static void
sig_cache(struct dfile *f, const struct item *it)
{
	struct buf *b;

	if (it->len == 0 || it->len > KL_DELTA_CHUNK_MAX ||
	    kl_cat_sig_has(f->cat, &it->id, NULL) != 0 ||
	    (b = buf_new(kl_delta_sig_len(it->len))) == NULL)
		return;
	if (kl_delta_sig(it->data, it->len, b) == KL_OK)
		(void)kl_cat_sig_put(f->cat, &it->id, buf_data(b), buf_size(b),
		    NULL);
	buf_free(b);
}

int
dfile_store(struct bk *bk, struct item *it, struct kl_error *err)
{
	struct dfile *f = it->df;
	uint64_t at;
	int rc;

	if ((rc = kl_session_blob_known(bk->s, &it->id, err)) < 0)
		return rc;
	if (rc == 0 && f->have_map &&
	    kl_map_get(&f->by_id, it->id.b, &at) &&
	    (rc = ref_known(bk->s, f->old[at].ref, err)) != 0) {
		/* unchanged since it was stored as a delta: the same entry */
		if (rc < 0)
			return rc;
		it->dref = *f->old[at].ref;
		it->is_delta = 1;
		return KL_OK;
	}
	if (rc == 0 && (rc = delta_try(bk, f, it, err)) != 0)
		return rc < 0 ? rc : KL_OK;
	if ((rc = kl_session_blob_add(bk->s, KL_OBJ_DATA, &it->id, it->data,
	    it->len, &it->added, &it->stored, err)) != KL_OK)
		return rc;
	sig_cache(f, it);
	return KL_OK;
}
