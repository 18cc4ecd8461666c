/*
 * kl_index_decode (FORMAT.md §9), versions 1 and 2: no crash or leak on
 * any input, under a generous and a tight entry limit.  What decodes
 * re-encodes to the same bytes in the same version, decodes again with
 * max_entries equal to its entry count and fails with KL_E_LIMIT under one
 * less.
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
check_limits(const uint8_t *data, size_t size, uint32_t v, size_t total)
{
	struct kl_index ix = {NULL, 0, NULL, 0, 0};

	fuzz_require(kl_index_decode(data, size, total, v, &ix) == KL_OK);
	kl_index_clear(&ix);
	if (total > 0)
		fuzz_require(kl_index_decode(data, size, total - 1, v, &ix) ==
		    KL_E_LIMIT);
	fuzz_require(ix.packs == NULL && ix.n == 0 && ix.withdrawn == NULL);
}

static void
one_version(const uint8_t *data, size_t size, uint32_t v)
{
	struct kl_index ix = {NULL, 0, NULL, 0, 0};
	struct buf *b;

	if (kl_index_decode(data, size, 3, v, &ix) == KL_OK)
		kl_index_clear(&ix);
	if (kl_index_decode(data, size, FUZZ_INDEX_MAX, v, &ix) != KL_OK) {
		fuzz_require(ix.packs == NULL && ix.n == 0 &&
		    ix.withdrawn == NULL && ix.nwithdrawn == 0);
		return;
	}
	fuzz_require(v == KL_INDEX_VERSION || ix.nwithdrawn == 0);
	b = fuzz_buf_new();
	fuzz_require(kl_index_encode(&ix, v, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	check_limits(data, size, v, index_entries(&ix));
	kl_index_clear(&ix);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init();
	one_version(data, size, KL_INDEX_VERSION_1);
	one_version(data, size, KL_INDEX_VERSION);
	return 0;
}
