/*
 * kl_delta_rec_decode (FORMAT.md §7.1) and kl_delta_apply (delta/delta.c)
 * on what it accepts: no crash or leak on any input.  A record that
 * decodes re-encodes to exactly the input bytes and agrees with the tree
 * entry that names it.  Its delta is applied to fixed bases of the stated
 * lengths (records with a base or target longer than DELTA_LEN_MAX are
 * skipped, to keep runs fast): that either makes exactly target_len bytes
 * or is KL_E_CORRUPT, never a bad-argument error; and a stream that makes
 * target_len bytes is KL_E_CORRUPT for one byte of output more or less.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/delta.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

/* Base and target lengths beyond this are skipped.  mkseeds.c makes its
 * seeds against the same bases (its seeds_delta). */
#define DELTA_LEN_MAX 65536

static uint8_t pool[KL_DELTA_REF_BASES_MAX][DELTA_LEN_MAX];

/* Base i is DELTA_LEN_MAX bytes of a 32-bit LCG (x = x * 1103515245 +
 * 12345, byte = x >> 16) from seed i + 1, cut to the stated length; the
 * same generator as tests/vectors/delta_v1.txt. */
static void
pool_init(void)
{
	static int done;
	uint32_t x;
	size_t i, j;

	if (done)
		return;
	for (i = 0; i < KL_DELTA_REF_BASES_MAX; i++) {
		x = (uint32_t)i + 1;
		for (j = 0; j < DELTA_LEN_MAX; j++) {
			x = x * 1103515245u + 12345u;
			pool[i][j] = (uint8_t)(x >> 16);
		}
	}
	done = 1;
}

/* The record re-encodes to its bytes and matches an entry made of it. */
static void
check_codec(const struct kl_delta_rec *d, const uint8_t *data, size_t size)
{
	struct kl_delta_ref ref;
	struct buf *b = fuzz_buf_new();

	fuzz_require(kl_delta_rec_encode(d, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	memset(&ref, 0, sizeof(ref));
	ref.len = d->target_len;
	ref.gen = d->gen;
	ref.nbases = d->nbases;
	memcpy(ref.bases, d->bases, sizeof(ref.bases));
	fuzz_require(kl_delta_rec_match(d, &ref, &d->target) == KL_OK);
	ref.gen++;
	fuzz_require(kl_delta_rec_match(d, &ref, &d->target) == KL_E_CORRUPT);
}

static int
fits(const struct kl_delta_rec *d)
{
	uint8_t i;

	if (d->target_len > DELTA_LEN_MAX)
		return 0;
	for (i = 0; i < d->nbases; i++)
		if (d->base_lens[i] > DELTA_LEN_MAX)
			return 0;
	return 1;
}

static int
patch(const struct kl_delta_rec *d, const struct kl_delta_base *b, uint8_t *out,
    size_t out_len)
{
	return kl_delta_apply(
	    b, d->nbases, d->block_len, d->delta, d->delta_len, out, out_len);
}

static void
check_apply(const struct kl_delta_rec *d)
{
	struct kl_delta_base b[KL_DELTA_REF_BASES_MAX];
	size_t t = d->target_len;
	uint8_t *out, i;
	int r;

	for (i = 0; i < d->nbases; i++) {
		b[i].p = pool[i];
		b[i].len = d->base_lens[i];
	}
	out = malloc(t + 1);
	fuzz_require(out != NULL);
	r = patch(d, b, out, t);
	fuzz_require(r == KL_OK || r == KL_E_CORRUPT || r == KL_E_NOMEM);
	if (r == KL_OK) {
		fuzz_require(patch(d, b, out, t + 1) == KL_E_CORRUPT);
		fuzz_require(t == 1 || patch(d, b, out, t - 1) == KL_E_CORRUPT);
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_delta_rec d;

	fuzz_init();
	pool_init();
	if (kl_delta_rec_decode(data, size, &d) != KL_OK)
		return 0;
	check_codec(&d, data, size);
	if (fits(&d))
		check_apply(&d);
	return 0;
}
