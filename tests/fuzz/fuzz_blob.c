/*
 * kl_blob_decode (FORMAT.md §7) with max_raw 1 MiB: no crash, leak or
 * over-allocation on any input.  What decodes has the header's raw length
 * and survives an encode/decode round trip.
 */
#include <stddef.h>
#include <stdint.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"

#include "fuzz.h"

#define FUZZ_BLOB_MAX_RAW ((size_t)1 << 20)

static void
check_round_trip(const struct buf *raw)
{
	struct buf *enc = fuzz_buf_new(), *dec = fuzz_buf_new();

	fuzz_require(kl_blob_encode(
	                 NULL, 1, buf_data(raw), buf_size(raw), enc) == KL_OK);
	fuzz_require(buf_size(enc) <= kl_blob_encode_bound(buf_size(raw)));
	fuzz_require(kl_blob_decode(NULL, buf_data(enc), buf_size(enc),
	                 FUZZ_BLOB_MAX_RAW, dec) == KL_OK);
	fuzz_require(fuzz_buf_eq(dec, buf_data(raw), buf_size(raw)));
	buf_free(dec);
	buf_free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf *out;

	fuzz_init();
	out = fuzz_buf_new();
	if (kl_blob_decode(NULL, data, size, FUZZ_BLOB_MAX_RAW, out) == KL_OK) {
		fuzz_require(size >= KL_BLOB_HDR_LEN &&
		             buf_size(out) == kl_le32dec(data + 4));
		check_round_trip(out);
	}
	buf_free(out);
	return 0;
}
