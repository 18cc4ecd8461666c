/*
 * The chunker (FORMAT.md §13): boundaries do not depend on how the stream
 * is split.  Input: avg step (1), max step (1), key byte (1), split seed
 * (8), then the stream.  The stream is chunked fed whole, fed in pieces of
 * pseudo-random sizes (0 included) drawn from the seed, and fed whole
 * again after kl_chunker_reset; the three cut lists must be equal, every
 * chunk but the last min..max bytes, the last one 1..max.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/chunker.h"
#include "kluis/err.h"

#include "fuzz.h"

#define FUZZ_CHUNK_MIN KL_CHUNK_MIN_MIN
#define FUZZ_PIECE_MAX 20000

struct cuts {
	size_t *len; /* chunk lengths, the last chunk included */
	size_t n, cap;
};

static void
cuts_add(struct cuts *cs, size_t len)
{
	size_t *p;

	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? 2 * cs->cap : 16;
		p = realloc(cs->len, cs->cap * sizeof(*p));
		fuzz_require(p != NULL);
		cs->len = p;
	}
	cs->len[cs->n++] = len;
}

/* xorshift64: piece sizes, mostly small, sometimes 0 or large. */
static size_t
piece_len(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	switch (x & 3) {
	case 0:
		return (size_t)(x >> 8) % 8;
	case 1:
		return (size_t)(x >> 8) % 200;
	default:
		return (size_t)(x >> 8) % FUZZ_PIECE_MAX;
	}
}

/* Feeds p[0, len) in one call per piece (pieces of len if seed is 0),
 * returns the chunk lengths. */
static void
chunk_stream(struct kl_chunker *c, const uint8_t *p, size_t len, uint64_t seed,
    struct cuts *cs)
{
	size_t pos = 0, cur = 0, piece, n;
	int cut;

	while (pos < len) {
		piece = seed ? piece_len(&seed) : len;
		if (piece > len - pos)
			piece = len - pos;
		do {
			n = kl_chunker_next(c, p + pos, piece, &cut);
			fuzz_require(n <= piece && (cut || n == piece));
			fuzz_require(piece == 0 || n >= 1);
			pos += n;
			piece -= n;
			cur += n;
			if (cut) {
				cuts_add(cs, cur);
				cur = 0;
			}
		} while (piece > 0);
	}
	if (cur > 0)
		cuts_add(cs, cur);
}

static void
check_cuts(const struct cuts *a, const struct cuts *b,
    const struct kl_chunker_params *pr, size_t total)
{
	size_t i, sum = 0;

	fuzz_require(a->n == b->n);
	for (i = 0; i < a->n; i++) {
		fuzz_require(a->len[i] == b->len[i]);
		fuzz_require(a->len[i] >= 1 && a->len[i] <= pr->max);
		if (i + 1 < a->n)
			fuzz_require(a->len[i] >= pr->min);
		sum += a->len[i];
	}
	fuzz_require(sum == total);
}

static void
run(const struct kl_chunker_params *pr, const uint8_t key[32], const uint8_t *p,
    size_t len, uint64_t seed)
{
	struct kl_chunker *c1 = NULL, *c2 = NULL;
	struct cuts whole = {0}, pieces = {0}, again = {0};

	fuzz_require(kl_chunker_new(pr, key, &c1) == KL_OK);
	fuzz_require(kl_chunker_new(pr, key, &c2) == KL_OK);
	chunk_stream(c1, p, len, 0, &whole);
	chunk_stream(c2, p, len, seed | 1, &pieces);
	kl_chunker_reset(c1);
	chunk_stream(c1, p, len, 0, &again);
	check_cuts(&whole, &pieces, pr, len);
	check_cuts(&whole, &again, pr, len);
	free(again.len);
	free(pieces.len);
	free(whole.len);
	kl_chunker_free(c2);
	kl_chunker_free(c1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_chunker_params pr;
	uint8_t key[32];

	fuzz_init();
	if (size < FUZZ_CHUNKER_HDR_LEN)
		return 0;
	/* Small chunks, so that a fuzzer-sized input holds several. */
	pr.min = FUZZ_CHUNK_MIN;
	pr.avg = pr.min + 1 + (uint32_t)data[0] * 64;
	pr.max = pr.avg + 1 + (uint32_t)data[1] * 256;
	memset(key, data[2], sizeof(key));
	run(&pr, key, data + FUZZ_CHUNKER_HDR_LEN, size - FUZZ_CHUNKER_HDR_LEN,
	    kl_le64dec(data + 3));
	return 0;
}
