/*
 * Chunks stored as delta blobs (FORMAT.md §7.1): the one place where a
 * delta record, its tree entry and its bases become the chunk, verified
 * (restore-tools/restore_delta.c is its caller).
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
