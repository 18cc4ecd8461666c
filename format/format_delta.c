/*
 * Delta records (FORMAT.md §7.1): the raw content of type-3 blobs.  The
 * librsync stream inside is opaque here (kl_delta applies it); this codec
 * owns the header, the bases and the bounds.
 */
#include <assert.h>
#include <string.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "format_internal.h"

#define REC_MAGIC "KLDL"
#define REC_MAGIC_LEN 4
#define BLOCK_MIN 256u
#define BLOCK_MAX 65536u
#define STREAM_MAGIC_LEN 4

static_assert(KL_DELTA_REC_HDR_LEN == REC_MAGIC_LEN + 4 + 4 + 4 +
    KL_ID_LEN, "FORMAT.md §7.1 record header");
static_assert(KL_DELTA_REC_BASE_LEN == KL_ID_LEN + 4,
    "FORMAT.md §7.1 base entry");

static int
block_ok(uint32_t b)
{
	return b >= BLOCK_MIN && b <= BLOCK_MAX && (b & (b - 1)) == 0;
}

/* A chunk length: 0 is corrupt, over 16 MiB a limit (format.h). */
static int
len_check(uint32_t l)
{
	if (l == 0)
		return KL_E_CORRUPT;
	return l > KL_DELTA_TARGET_MAX ? KL_E_LIMIT : KL_OK;
}

/* librsync's delta magic, big-endian (KL_DELTA_STREAM_MAGIC). */
static int
stream_ok(const uint8_t *p, size_t len)
{
	static const uint8_t m[STREAM_MAGIC_LEN] = {
		KL_DELTA_STREAM_MAGIC >> 24, (KL_DELTA_STREAM_MAGIC >> 16) & 0xff,
		(KL_DELTA_STREAM_MAGIC >> 8) & 0xff, KL_DELTA_STREAM_MAGIC & 0xff,
	};

	return len >= STREAM_MAGIC_LEN && p != NULL &&
	    memcmp(p, m, STREAM_MAGIC_LEN) == 0;
}

/* Every rule but the stream's: the fields of the header and the bases. */
static int
fields_check(const struct kl_delta_rec *d)
{
	uint8_t i;
	int r;

	if (d->nbases == 0 || d->gen == 0 || !block_ok(d->block_len))
		return KL_E_CORRUPT;
	if (d->nbases > KL_DELTA_REF_BASES_MAX)
		return KL_E_LIMIT;
	if ((r = len_check(d->target_len)) != KL_OK)
		return r;
	for (i = 0; i < d->nbases; i++)
		if ((r = len_check(d->base_lens[i])) != KL_OK)
			return r;
	return KL_OK;
}

int
kl_delta_rec_encode(const struct kl_delta_rec *d, struct buf *out)
{
	size_t mark = buf_size(out);
	uint8_t i;
	int r;

	if ((r = fields_check(d)) != KL_OK)
		return fmt_enc_err(r);
	if (!stream_ok(d->delta, d->delta_len))
		return KL_E_INVAL;
	if (d->delta_len > KL_BLOB_RAW_MAX - KL_DELTA_REC_HDR_LEN -
	    (size_t)d->nbases * KL_DELTA_REC_BASE_LEN)
		return KL_E_LIMIT;
	if ((r = buf_put(out, REC_MAGIC, REC_MAGIC_LEN)) != KL_OK ||
	    (r = buf_put_u8(out, KL_DELTA_REC_VERSION)) != KL_OK ||
	    (r = buf_put_u8(out, d->nbases)) != KL_OK ||
	    (r = buf_put_u8(out, d->gen)) != KL_OK ||
	    (r = buf_put_u8(out, 0)) != KL_OK ||
	    (r = buf_put_u32le(out, d->block_len)) != KL_OK ||
	    (r = buf_put_u32le(out, d->target_len)) != KL_OK ||
	    (r = buf_put(out, d->target.b, KL_ID_LEN)) != KL_OK)
		goto out;
	for (i = 0; i < d->nbases; i++)
		if ((r = buf_put(out, d->bases[i].b, KL_ID_LEN)) != KL_OK ||
		    (r = buf_put_u32le(out, d->base_lens[i])) != KL_OK)
			goto out;
	r = buf_put(out, d->delta, d->delta_len);
out:
	if (r != KL_OK)
		fmt_unput_to(out, mark);
	return r;
}

int
kl_delta_rec_decode(const uint8_t *p, size_t len, struct kl_delta_rec *out)
{
	struct kl_delta_rec d;
	uint8_t magic[REC_MAGIC_LEN], version, rsv, i;
	struct buf b;
	int r;

	if (len > KL_BLOB_RAW_MAX)
		return KL_E_LIMIT;
	memset(&d, 0, sizeof(d));
	buf_view_init(&b, p, len);
	if ((r = buf_get(&b, magic, REC_MAGIC_LEN)) != KL_OK ||
	    (r = buf_get_u8(&b, &version)) != KL_OK ||
	    (r = buf_get_u8(&b, &d.nbases)) != KL_OK ||
	    (r = buf_get_u8(&b, &d.gen)) != KL_OK ||
	    (r = buf_get_u8(&b, &rsv)) != KL_OK)
		return r;
	if (memcmp(magic, REC_MAGIC, REC_MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if (version != KL_DELTA_REC_VERSION || rsv != 0)
		return KL_E_UNSUPPORTED;
	if (d.nbases > KL_DELTA_REF_BASES_MAX)
		return KL_E_LIMIT;
	if ((r = buf_get_u32le(&b, &d.block_len)) != KL_OK ||
	    (r = buf_get_u32le(&b, &d.target_len)) != KL_OK ||
	    (r = buf_get(&b, d.target.b, KL_ID_LEN)) != KL_OK)
		return r;
	for (i = 0; i < d.nbases; i++)
		if ((r = buf_get(&b, d.bases[i].b, KL_ID_LEN)) != KL_OK ||
		    (r = buf_get_u32le(&b, &d.base_lens[i])) != KL_OK)
			return r;
	if ((r = fields_check(&d)) != KL_OK)
		return r;
	d.delta = buf_rptr(&b);
	d.delta_len = buf_avail(&b);
	if (!stream_ok(d.delta, d.delta_len))
		return KL_E_CORRUPT;
	*out = d;
	return KL_OK;
}

int
kl_delta_rec_match(const struct kl_delta_rec *d,
    const struct kl_delta_ref *ref, const struct kl_id *target)
{
	uint8_t i;

	if (!kl_id_eq(&d->target, target) || d->target_len != ref->len ||
	    d->gen != ref->gen || d->nbases != ref->nbases)
		return KL_E_CORRUPT;
	for (i = 0; i < d->nbases; i++)
		if (!kl_id_eq(&d->bases[i], &ref->bases[i]))
			return KL_E_CORRUPT;
	return KL_OK;
}
