/*
 * kl_index_decode (FORMAT.md §9): no crash or leak on any input, under a
 * generous and a tight entry limit.  What decodes re-encodes to the same
 * bytes, decodes again with max_entries equal to its entry count and
 * fails with KL_E_LIMIT under one less.
 */
#include <stddef.h>
#include <stdint.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

#define FUZZ_INDEX_MAX ((size_t)1 << 24)

static size_t
index_entries(const struct kl_index *ix)
{
	size_t i, total = 0;

	for (i = 0; i < ix->n; i++) {
		fuzz_require(
		    ix->packs[i].n >= 1 && ix->packs[i].n <= KL_PACK_BLOBS_MAX);
		total += ix->packs[i].n;
	}
	return total;
}

static void
check_limits(const uint8_t *data, size_t size, size_t total)
{
	struct kl_index ix = {NULL, 0};

	fuzz_require(kl_index_decode(data, size, total, &ix) == KL_OK);
	kl_index_clear(&ix);
	if (total > 0)
		fuzz_require(
		    kl_index_decode(data, size, total - 1, &ix) == KL_E_LIMIT);
	fuzz_require(ix.packs == NULL && ix.n == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_index ix = {NULL, 0};
	struct buf *b;

	fuzz_init();
	if (kl_index_decode(data, size, 3, &ix) == KL_OK)
		kl_index_clear(&ix);
	if (kl_index_decode(data, size, FUZZ_INDEX_MAX, &ix) != KL_OK) {
		fuzz_require(ix.packs == NULL && ix.n == 0);
		return 0;
	}
	b = fuzz_buf_new();
	fuzz_require(kl_index_encode(&ix, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	check_limits(data, size, index_entries(&ix));
	kl_index_clear(&ix);
	return 0;
}
