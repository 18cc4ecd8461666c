/*
 * Data verification of kluis check (--read-data, --read-data-subset): each
 * selected pack is read whole in one request, hashed against its name, its
 * header decrypted with the index key and compared with the index, and
 * every blob decrypted, decoded and its id recomputed.  Packs are spread
 * over one worker per core; while one worker waits for its pack, the
 * others compute.  Memory: one pack per worker.  Each verified pack is
 * recorded in the catalog as it is done, so an interrupted run keeps its
 * progress in the rotation.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "check_internal.h"

struct dworker {
	struct chk *k;
	struct cscratch s;
	struct kl_error err;	/* this worker's failure */
	pthread_t th;
};

/* Marks the packs the subset selects (catalog order for P%). */
static int
select_packs(struct chk *k)
{
	struct kl_check_pack_age *a;
	size_t i, n = 0;
	uint32_t pi;

	if ((a = calloc(k->npacks ? k->npacks : 1, sizeof(*a))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < k->npacks; i++) {
		if (!k->packs[i].listed || k->packs[i].gone)
			continue;
		a[n].id = k->packs[i].id;
		a[n].checked_s = k->packs[i].checked_s;
		n++;
	}
	kl_check_subset_select(&k->o->data, a, n);
	for (i = 0; i < n; i++) {
		if (!a[i].selected || !idmap_get(&k->pmap, &a[i].id, &pi))
			continue;
		k->packs[pi].selected = 1;
		k->bytes_total += k->packs[pi].size;
		k->ndone_total++;
	}
	free(a);
	return KL_OK;
}

/* The header of a pack held whole in memory (FORMAT.md §8). */
static int
header_parse(const struct kl_keys *keys, const uint8_t *p, size_t len,
    struct kl_blob_entry **e, size_t *n)
{
	uint64_t hoff;
	uint32_t hlen;
	uint8_t *pt;
	int rc;

	*e = NULL;
	*n = 0;
	if (len < KL_PACK_PREAMBLE_LEN + KL_PACK_TRAILER_LEN)
		return KL_E_CORRUPT;
	if ((rc = kl_pack_trailer_decode(p + len - KL_PACK_TRAILER_LEN,
	    KL_PACK_TRAILER_LEN, len, &hoff, &hlen)) != KL_OK)
		return rc;
	if (hlen < KL_AEAD_OVERHEAD)
		return KL_E_CORRUPT;
	if ((pt = malloc(hlen)) == NULL)
		return KL_E_NOMEM;
	rc = kl_aead_open(keys->index_key, &keys->repo_id, KL_OBJ_PACK_HEADER,
	    NULL, p + hoff, hlen, pt);
	if (rc == KL_OK)
		rc = kl_pack_header_decode(pt, hlen - KL_AEAD_OVERHEAD, hoff, e,
		    n);
	free(pt);
	return rc;
}

/* Opens one stored blob of the pack in data[0, len). */
static int
blob_verify(struct dworker *w, const struct cpack *p, const struct centry *e,
    const uint8_t *data, size_t len)
{
	if (p->key_err != 0)
		return p->key_err;
	if ((uint64_t)e->offset + e->stored_len > len)
		return KL_E_CORRUPT;	/* beyond the end: truncated */
	return chk_blob_open(w->k->keys, e, data + e->offset, &w->s);
}

static int
entry_same(const struct centry *e, const struct kl_blob_entry *x)
{
	return e->offset == x->offset && e->type == x->type &&
	    e->stored_len == x->stored_len && e->raw_len == x->raw_len &&
	    kl_id_eq(&e->id, &x->id);
}

/*
 * Verifies every blob the index lists in p and every blob its header
 * (h[0, nh), in file order) lists that the index does not; both lists are
 * sorted by offset.
 */
static int
pack_blobs(struct dworker *w, struct cpack *p, const uint8_t *data,
    size_t len, const struct kl_blob_entry *h, size_t nh, int hdr_ok)
{
	struct chk *k = w->k;
	size_t i = p->first, end = p->first + p->n, j = 0;
	struct centry tmp;
	int rc;

	while (i < end || j < nh) {
		struct centry *e = i < end ? &k->e[i] : NULL;
		const struct kl_blob_entry *x = j < nh ? &h[j] : NULL;

		if (e != NULL && x != NULL && entry_same(e, x))
			j++;
		else if (x == NULL || (e != NULL && e->offset <= x->offset))
			p->hdr_mismatch |= (uint8_t)hdr_ok;
		else {
			/* a blob the header lists and the index does not */
			memset(&tmp, 0, sizeof(tmp));
			tmp.id = x->id;
			tmp.type = x->type;
			tmp.offset = x->offset;
			tmp.stored_len = x->stored_len;
			tmp.raw_len = x->raw_len;
			p->hdr_mismatch = 1;
			p->hdr_extra++;
			j++;
			if ((rc = blob_verify(w, p, &tmp, data, len)) ==
			    KL_E_NOMEM)
				return rc;
			p->nbad += rc != KL_OK;
			continue;
		}
		if ((rc = blob_verify(w, p, e, data, len)) == KL_E_NOMEM)
			return rc;
		e->err = (int8_t)rc;
		i++;
	}
	return KL_OK;
}

static int
pack_sound(struct chk *k, const struct cpack *p)
{
	size_t i;

	if (p->hash_bad || p->hdr_err || p->hdr_mismatch || p->key_err ||
	    p->nbad)
		return 0;
	for (i = p->first; i < p->first + p->n; i++)
		if (k->e[i].err != 0)
			return 0;
	return 1;
}

/* Checks the content of the pack in b. */
static int
pack_content(struct dworker *w, struct cpack *p, const struct buf *b)
{
	struct chk *k = w->k;
	struct kl_blob_entry *h = NULL;
	const uint8_t *data = buf_data(b);
	size_t nh = 0, len = buf_size(b);
	struct kl_id got;
	int rc;

	kl_hash(data, len, &got);
	p->hash_bad = !kl_id_eq(&got, &p->id);
	if ((rc = header_parse(k->keys, data, len, &h, &nh)) == KL_E_NOMEM)
		goto out;
	p->hdr_err = (int8_t)rc;
	if ((rc = len < KL_PACK_PREAMBLE_LEN ? KL_E_CORRUPT :
	    kl_envelope_hdr_open(k->keys, data, len, KL_MAGIC_PACK,
	    w->s.key)) == KL_E_NOMEM)
		goto out;
	p->key_err = (int8_t)rc;
	rc = pack_blobs(w, p, data, len, h, p->hdr_err ? 0 : nh,
	    p->hdr_err == 0);
out:
	free(h);
	return rc;
}

/* Reads pack p whole and verifies it; records the result. */
static int
pack_verify(struct dworker *w, struct cpack *p)
{
	struct chk *k = w->k;
	struct kl_backend *be = kl_repo_backend(k->r);
	struct kl_check_progress pr;
	char hex[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;
	size_t i, len = 0;
	int rc;

	kl_id_hex(&p->id, hex);
	rc = p->size > KL_FILE_MAX ? KL_E_LIMIT : be->ops->get(be->ctx,
	    KL_FT_DATA, hex, 0, (size_t)p->size, KL_FILE_MAX, &b);
	if (rc == KL_E_CORRUPT)	/* shorter than listed: take what is */
		rc = be->ops->get(be->ctx, KL_FT_DATA, hex, 0, 0, KL_FILE_MAX,
		    &b);
	if (rc == KL_E_NOTFOUND) {
		p->gone = 1;	/* deleted since the listing */
		rc = KL_OK;
		goto progress;
	}
	p->read = 1;
	if (rc == KL_E_LIMIT) {	/* larger than any pack may be */
		p->hdr_err = p->key_err = KL_E_LIMIT;
		for (i = p->first; i < p->first + p->n; i++)
			k->e[i].err = KL_E_LIMIT;
	} else if (rc != KL_OK)
		goto out;
	else {
		len = buf_size(b);
		if ((rc = pack_content(w, p, b)) != KL_OK)
			goto out;
	}
	if ((rc = kl_cat_pack_checked(k->cat, &p->id, k->o->now,
	    pack_sound(k, p), &w->err)) != KL_OK) {
		kl_error_wrap(&w->err, rc, "catalog");
		goto out;
	}
progress:
	pthread_mutex_lock(&k->mu);
	k->done++;
	k->bytes_done += len;
	if (k->o->progress != NULL) {
		memset(&pr, 0, sizeof(pr));
		pr.phase = "data";
		pr.done = k->done;
		pr.total = k->ndone_total;
		pr.bytes_done = k->bytes_done;
		pr.bytes_total = k->bytes_total;
		k->o->progress(k->o->progress_arg, &pr);
	}
	pthread_mutex_unlock(&k->mu);
out:
	buf_free(b);
	return rc;
}

/* The next selected pack; 0 when none is left or the run failed. */
static int
take(struct chk *k, size_t *i)
{
	int ok;

	pthread_mutex_lock(&k->mu);
	while (k->next < k->npacks && !k->packs[k->next].selected)
		k->next++;
	ok = k->fatal == KL_OK && k->next < k->npacks;
	if (ok)
		*i = k->next++;
	pthread_mutex_unlock(&k->mu);
	return ok;
}

static void *
worker_main(void *arg)
{
	struct dworker *w = arg;
	struct chk *k = w->k;
	size_t i;
	int rc;

	while (take(k, &i)) {
		kl_error_clear(&w->err);
		if ((rc = pack_verify(w, &k->packs[i])) == KL_OK)
			continue;
		pthread_mutex_lock(&k->mu);
		if (k->fatal == KL_OK) {	/* the first failure tells */
			k->fatal = rc;
			if (k->err != NULL)
				*k->err = w->err;
		}
		pthread_mutex_unlock(&k->mu);
	}
	return NULL;
}

int
chk_data(struct chk *k)
{
	struct dworker w[KL_CHECK_THREADS_MAX];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int i, n, made = 0, rc;

	if ((rc = select_packs(k)) != KL_OK)
		return rc;
	n = k->o->threads > 0 ? k->o->threads : cores < 1 ? 1 : (int)cores;
	if (n > KL_CHECK_THREADS_MAX)
		n = KL_CHECK_THREADS_MAX;
	if ((uint64_t)n > k->ndone_total)
		n = (int)k->ndone_total;
	for (i = 0; i < n; i++) {
		w[i].k = k;
		if ((rc = cscratch_init(&w[i].s)) != KL_OK ||
		    pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
			cscratch_clear(&w[i].s);
			break;
		}
		made++;
	}
	if (made == 0 && n > 0)
		return rc != KL_OK ? rc : KL_E_NOMEM;
	for (i = 0; i < made; i++) {
		pthread_join(w[i].th, NULL);
		cscratch_clear(&w[i].s);
	}
	return k->fatal;
}
