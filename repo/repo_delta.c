/*
 * Chunks stored as delta blobs (FORMAT.md §7.1): the one place where a
 * delta record, its tree entry and its bases become the chunk, verified.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/delta.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/keys.h"
#include "kluis/repo.h"

int
kl_chunk_from_delta(const struct kl_keys *k, const uint8_t *rec,
    size_t rec_len, const struct kl_delta_ref *ref, const struct kl_id *id,
    const struct kl_delta_base *bases, uint8_t *out)
{
	struct kl_delta_rec d;
	struct kl_id got;
	uint8_t i;
	int rc;

	if ((rc = kl_delta_rec_decode(rec, rec_len, &d)) != KL_OK)
		return rc;
	if ((rc = kl_delta_rec_match(&d, ref, id)) != KL_OK)
		return rc;
	for (i = 0; i < d.nbases; i++)
		if (bases[i].len != d.base_lens[i])
			return KL_E_CORRUPT;
	if ((rc = kl_delta_apply(bases, d.nbases, d.block_len, d.delta,
	    d.delta_len, out, d.target_len)) != KL_OK)
		return rc;
	kl_blob_id(k, out, d.target_len, &got);
	return kl_id_eq(&got, id) ? KL_OK : KL_E_CORRUPT;
}

int
kl_repo_chunk_read(struct kl_repo *r, const struct kl_node *n, size_t i,
    struct buf *out, struct kl_error *err)
{
	const struct kl_delta_ref *d = kl_node_delta(n, i);
	struct kl_delta_base b[KL_DELTA_REF_BASES_MAX];
	struct buf *rec = NULL, *bb[KL_DELTA_REF_BASES_MAX] = { NULL };
	char hex[KL_ID_HEX_LEN + 1];
	uint8_t *p;
	uint8_t j;
	int rc;

	if (d == NULL)
		return kl_repo_blob_read(r, &n->chunks[i], KL_OBJ_DATA, out,
		    err);
	if ((rec = buf_new(KL_BLOB_RAW_MAX)) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	if ((rc = kl_repo_blob_read(r, &d->delta, KL_OBJ_DELTA, rec,
	    err)) != KL_OK)
		goto out;
	for (j = 0; j < d->nbases; j++) {
		if ((bb[j] = buf_new(KL_DELTA_CHUNK_MAX)) == NULL) {
			rc = KL_E_NOMEM;
			goto out;
		}
		if ((rc = kl_repo_blob_read(r, &d->bases[j], KL_OBJ_DATA,
		    bb[j], err)) != KL_OK)
			goto out;
		b[j].p = buf_data(bb[j]);
		b[j].len = buf_size(bb[j]);
	}
	if ((rc = buf_reserve(out, d->len, &p)) != KL_OK)
		goto out;
	if ((rc = kl_chunk_from_delta(kl_repo_keys(r), buf_data(rec),
	    buf_size(rec), d, &n->chunks[i], b, p)) != KL_OK) {
		buf_unput(out, d->len);
		kl_id_hex(&n->chunks[i], hex);
		rc = kl_error_obj(err, rc, KL_ABOUT_BLOB, &d->delta, NULL,
		    "the delta blob of chunk %s does not make it: %s", hex,
		    kl_strerror(rc));
	}
out:
	buf_free(rec);
	for (j = 0; j < KL_DELTA_REF_BASES_MAX; j++)
		buf_free(bb[j]);
	return rc;
}
