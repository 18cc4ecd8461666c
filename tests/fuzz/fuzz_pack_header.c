/*
 * kl_pack_header_decode and kl_pack_trailer_decode (FORMAT.md §8).
 * Input: u64le H (the header offset, and the pack length for the trailer),
 * then the header plaintext; the input's last 12 bytes are also parsed as
 * a trailer.  What decodes obeys the contract and re-encodes to the same
 * bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

static void
check_header(const uint8_t *p, size_t len, uint64_t hdr_off)
{
	struct kl_blob_entry *e = NULL;
	struct buf *b;
	uint64_t pos = KL_PACK_PREAMBLE_LEN;
	size_t n = 0, i;

	if (kl_pack_header_decode(p, len, hdr_off, &e, &n) != KL_OK)
		return;
	fuzz_require(e != NULL && n >= 1 && n <= KL_PACK_BLOBS_MAX);
	for (i = 0; i < n; i++) {
		fuzz_require(e[i].offset == pos && e[i].stored_len >= 40);
		pos += e[i].stored_len;
	}
	fuzz_require(pos == hdr_off);
	b = fuzz_buf_new();
	fuzz_require(kl_pack_header_encode(e, n, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, p, len));
	buf_free(b);
	free(e);
}

static void
check_trailer(const uint8_t *p, size_t len, uint64_t pack_len)
{
	uint64_t off = 0;
	uint32_t hlen = 0;
	uint8_t t[KL_PACK_TRAILER_LEN];

	if (kl_pack_trailer_decode(p, len, pack_len, &off, &hlen) != KL_OK)
		return;
	fuzz_require(len == KL_PACK_TRAILER_LEN && pack_len <= KL_PACK_MAX);
	fuzz_require(off >= KL_PACK_PREAMBLE_LEN &&
	             off + hlen + KL_PACK_TRAILER_LEN == pack_len);
	kl_pack_trailer_encode(hlen, t);
	fuzz_require(memcmp(t, p, sizeof(t)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h;

	fuzz_init();
	if (size < FUZZ_PACK_HDR_OFF_LEN)
		return 0;
	h = kl_le64dec(data);
	check_header(
	    data + FUZZ_PACK_HDR_OFF_LEN, size - FUZZ_PACK_HDR_OFF_LEN, h);
	check_trailer(
	    data + FUZZ_PACK_HDR_OFF_LEN, size - FUZZ_PACK_HDR_OFF_LEN, h);
	if (size >= FUZZ_PACK_HDR_OFF_LEN + KL_PACK_TRAILER_LEN)
		check_trailer(
		    data + size - KL_PACK_TRAILER_LEN, KL_PACK_TRAILER_LEN, h);
	return 0;
}
