/*
 * Blob plaintext codec, docs/FORMAT.md §7: a 12-byte header, the payload
 * (stored or one zstd frame), zero padding up to padme(12 + payload_len).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"

#define BLOB_LEVEL_MAX 19		/* blobcodec.h: levels 1..19 */
#define BLOB_SAVE_DIV 32		/* §7: compress only if it saves 1/32 */

_Static_assert(KL_BLOB_HDR_LEN == 1 + 3 + 4 + 4, "§7 header layout");
_Static_assert(KL_BLOB_RAW_MAX <= UINT32_MAX - KL_BLOB_HDR_LEN,
    "raw_len and payload_len are u32 fields");

/* The payload never exceeds raw_len: zstd is kept only when it is smaller. */
size_t
kl_blob_encode_bound(size_t raw_len)
{
	return (size_t)kl_padme((uint64_t)KL_BLOB_HDR_LEN + raw_len);
}

/*
 * Compresses into dst, whose capacity is the largest payload worth keeping;
 * zstd fails with dstSize_tooSmall when it cannot do better.  Returns the
 * frame length, or 0 to store.  *r is set only on allocation failure.
 */
static size_t
blob_compress(void *zctx, int level, const uint8_t *raw, size_t raw_len,
    uint8_t *dst, int *r)
{
	ZSTD_CCtx *tmp = NULL, *cctx = zctx;
	size_t save, zlen;

	*r = KL_OK;
	save = raw_len / BLOB_SAVE_DIV;
	if (level == KL_COMPRESSION_OFF || raw_len == 0)
		return 0;
	if (cctx == NULL && (cctx = tmp = ZSTD_createCCtx()) == NULL) {
		*r = KL_E_NOMEM;
		return 0;
	}
	zlen = ZSTD_compressCCtx(cctx, dst, raw_len - (save > 0 ? save : 1),
	    raw, raw_len, level);
	ZSTD_freeCCtx(tmp);
	return ZSTD_isError(zlen) ? 0 : zlen;
}

/* Writes the header and the zero padding; returns the padded length. */
static size_t
blob_frame(uint8_t *p, uint8_t enc, size_t raw_len, size_t payload_len)
{
	size_t total = kl_blob_encode_bound(payload_len);

	p[0] = enc;
	memset(p + 1, 0, 3);
	kl_le32enc(p + 4, (uint32_t)raw_len);
	kl_le32enc(p + 8, (uint32_t)payload_len);
	memset(p + KL_BLOB_HDR_LEN + payload_len, 0,
	    total - KL_BLOB_HDR_LEN - payload_len);
	return total;
}

/*
 * Reserves the bound in out, writes the payload in place and gives the
 * unused tail back, so no scratch copy of the payload is ever made.
 */
int
kl_blob_encode(void *zctx, int level, const uint8_t *raw, size_t raw_len,
    struct buf *out)
{
	size_t bound, zlen, total;
	uint8_t *p;
	int r;

	if (raw_len > KL_BLOB_RAW_MAX)
		return KL_E_LIMIT;
	if (level < KL_COMPRESSION_OFF || level > BLOB_LEVEL_MAX)
		return KL_E_INVAL;
	bound = kl_blob_encode_bound(raw_len);
	if ((r = buf_reserve(out, bound, &p)) != KL_OK)
		return r;
	zlen = blob_compress(zctx, level, raw, raw_len, p + KL_BLOB_HDR_LEN,
	    &r);
	if (r != KL_OK) {
		buf_unput(out, bound);
		return r;
	}
	if (zlen > 0) {
		total = blob_frame(p, KL_BLOB_ENC_ZSTD, raw_len, zlen);
	} else {
		if (raw_len > 0)
			memcpy(p + KL_BLOB_HDR_LEN, raw, raw_len);
		total = blob_frame(p, KL_BLOB_ENC_STORED, raw_len, raw_len);
	}
	buf_unput(out, bound - total);
	return KL_OK;
}

struct blob_hdr {
	uint8_t enc;
	uint32_t raw_len;
	const uint8_t *payload;
	uint32_t payload_len;
};

/* Reads and checks the header; leaves b at the start of the padding. */
static int
blob_hdr_get(struct buf *b, size_t max_raw, struct blob_hdr *h)
{
	uint8_t rsv[3];

	if (buf_get_u8(b, &h->enc) != KL_OK || buf_get(b, rsv, 3) != KL_OK ||
	    buf_get_u32le(b, &h->raw_len) != KL_OK ||
	    buf_get_u32le(b, &h->payload_len) != KL_OK)
		return KL_E_CORRUPT;
	if (h->enc != KL_BLOB_ENC_STORED && h->enc != KL_BLOB_ENC_ZSTD)
		return KL_E_UNSUPPORTED;
	if ((rsv[0] | rsv[1] | rsv[2]) != 0 || h->raw_len > KL_BLOB_RAW_MAX)
		return KL_E_CORRUPT;
	if (h->raw_len > max_raw)
		return KL_E_LIMIT;
	if (h->enc == KL_BLOB_ENC_STORED && h->payload_len != h->raw_len)
		return KL_E_CORRUPT;
	if (buf_get_ptr(b, h->payload_len, &h->payload) != KL_OK)
		return KL_E_CORRUPT;
	return KL_OK;
}

/* The rest of b must be exactly the zero padding of padme(12 + payload). */
static int
blob_pad_check(struct buf *b, size_t len, const struct blob_hdr *h)
{
	const uint8_t *pad;
	size_t n, i;
	uint8_t acc = 0;

	if ((uint64_t)len != kl_padme((uint64_t)KL_BLOB_HDR_LEN +
	    h->payload_len))
		return KL_E_CORRUPT;
	n = buf_avail(b);
	if (buf_get_ptr(b, n, &pad) != KL_OK)
		return KL_E_CORRUPT;
	for (i = 0; i < n; i++)
		acc |= pad[i];
	return acc == 0 ? KL_OK : KL_E_CORRUPT;
}

/* A zstd payload is a regular frame, not a skippable one (§7). */
static int
blob_is_zstd_frame(const struct blob_hdr *h)
{
	struct buf pb;
	uint32_t magic;

	buf_view_init(&pb, h->payload, h->payload_len);
	return buf_get_u32le(&pb, &magic) == KL_OK &&
	    magic == ZSTD_MAGICNUMBER;
}

/*
 * The payload must be exactly one zstd frame that declares raw_len (or no
 * size) and yields exactly raw_len bytes; the output buffer is sized from
 * the checked raw_len, never from the frame.
 */
static int
blob_decompress(void *dctx, const struct blob_hdr *h, struct buf *out)
{
	ZSTD_DCtx *tmp = NULL, *d = dctx;
	unsigned long long fcs;
	uint8_t *dst, none;
	size_t n;
	int r;

	if (!blob_is_zstd_frame(h) ||
	    ZSTD_findFrameCompressedSize(h->payload, h->payload_len) !=
	    h->payload_len)
		return KL_E_CORRUPT;
	fcs = ZSTD_getFrameContentSize(h->payload, h->payload_len);
	if (fcs == ZSTD_CONTENTSIZE_ERROR ||
	    (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != h->raw_len))
		return KL_E_CORRUPT;
	if (d == NULL && (d = tmp = ZSTD_createDCtx()) == NULL)
		return KL_E_NOMEM;
	dst = &none;
	if (h->raw_len > 0 && (r = buf_reserve(out, h->raw_len, &dst)) != KL_OK)
		goto out;
	n = ZSTD_decompressDCtx(d, dst, h->raw_len, h->payload,
	    h->payload_len);
	r = KL_OK;
	if (ZSTD_isError(n) || n != h->raw_len) {
		if (h->raw_len > 0)
			buf_unput(out, h->raw_len);
		r = KL_E_CORRUPT;
	}
out:
	ZSTD_freeDCtx(tmp);
	return r;
}

int
kl_blob_decode(void *dctx, const uint8_t *p, size_t len, size_t max_raw,
    struct buf *out)
{
	struct blob_hdr h;
	struct buf b;
	int r;

	buf_view_init(&b, p, len);
	if ((r = blob_hdr_get(&b, max_raw, &h)) != KL_OK)
		return r;
	if ((r = blob_pad_check(&b, len, &h)) != KL_OK)
		return r;
	if (h.enc == KL_BLOB_ENC_ZSTD)
		return blob_decompress(dctx, &h, out);
	if (h.raw_len == 0)
		return KL_OK;
	return buf_put(out, h.payload, h.raw_len);
}

const char *
kl_blob_zstd_version(void)
{
	return ZSTD_versionString();
}
