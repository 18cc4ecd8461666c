/*
 * Unit tests of sub-chunk deltas (issue #14): the librsync wrappers of
 * delta/delta.c (signatures, deltas and patches on pseudo-random data,
 * every error of kl_delta_apply on real and hand-made streams), the
 * delta record of format/format_delta.c (docs/FORMAT.md §7.1, rule by
 * rule, with mutation tests), the delta entries of tree nodes and the
 * blobs they name (format/format_tree.c, §11 "Delta chunks") and the
 * known-answer vector tests/vectors/delta_v1.txt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/delta.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"
#include "kluis/keys.h"

#include "mutate.h"

#define VECTORS_FILE KL_VECTORS_DIR "/delta_v1.txt"
#define MIB ((size_t)1 << 20)
#define BLOCK KL_DELTA_BLOCK_LEN
/* §7.2: the librsync signature header, big-endian. */
#define SIG_MAGIC 0x72730147u
#define REC_STREAM_OFF(b) (KL_DELTA_REC_HDR_LEN + (b) * KL_DELTA_REC_BASE_LEN)
/* Enough for any delta of a chunk of len bytes (all literal). */
#define MAX_FOR(len) ((len) + 1024)

/* ---- data ---- */

/*
 * Deterministic bytes, the generator delta_v1.txt describes: a 32-bit
 * LCG x = x * 1103515245 + 12345 (mod 2^32) from x = seed, one byte per
 * step, bits 16..23 of the new x.
 */
static void
fill(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

static uint8_t *
gen(size_t len, uint32_t seed)
{
	uint8_t *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	fill(p, len, seed);
	return p;
}

static struct buf *
new_buf(void)
{
	struct buf *b = buf_new(BUF_MAX_DEFAULT);

	assert_non_null(b);
	return b;
}

static void
be32enc(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
be32dec(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
id_fill(struct kl_id *id, uint8_t v)
{
	size_t i;

	for (i = 0; i < KL_ID_LEN; i++)
		id->b[i] = (uint8_t)(v + i);
}

/* ---- signatures, deltas, patches ---- */

/* The signatures of n bases, each in a buffer of its own. */
struct sigs {
	struct buf *b[KL_DELTA_BASES_MAX + 1];
	struct kl_delta_base s[KL_DELTA_BASES_MAX + 1];
};

static void
sigs_make(struct sigs *sg, const struct kl_delta_base *bases, size_t n)
{
	size_t i;

	memset(sg, 0, sizeof(*sg));
	for (i = 0; i < n; i++) {
		sg->b[i] = new_buf();
		assert_int_equal(kl_delta_sig(bases[i].p, bases[i].len,
		    sg->b[i]), KL_OK);
		sg->s[i].p = buf_data(sg->b[i]);
		sg->s[i].len = buf_size(sg->b[i]);
	}
}

static void
sigs_free(struct sigs *sg)
{
	size_t i;

	for (i = 0; i < KL_DELTA_BASES_MAX + 1; i++)
		buf_free(sg->b[i]);
}

/* kl_delta_make from the bases' own signatures into a new *out. */
static int
make(const struct kl_delta_base *bases, size_t n, const uint8_t *t,
    size_t len, size_t max, struct buf **out)
{
	struct sigs sg;
	int r;

	sigs_make(&sg, bases, n);
	*out = new_buf();
	r = kl_delta_make(sg.s, n, t, len, max, *out);
	sigs_free(&sg);
	return r;
}

static int
apply(const struct kl_delta_base *bases, size_t n, const struct buf *d,
    uint8_t *out, size_t out_len)
{
	return kl_delta_apply(bases, n, BLOCK, buf_data(d), buf_size(d),
	    out, out_len);
}

/*
 * Makes the delta of t against the bases, applies it and requires t
 * back exactly (and KL_E_CORRUPT one byte short and one long).  Returns
 * the delta's length.
 */
static size_t
round_trip(const struct kl_delta_base *bases, size_t n, const uint8_t *t,
    size_t len)
{
	struct buf *d = NULL;
	uint8_t *out = malloc(len + 1);
	size_t dl;

	assert_non_null(out);
	assert_int_equal(make(bases, n, t, len, MAX_FOR(len), &d), KL_OK);
	assert_true(buf_size(d) >= 5);
	assert_int_equal(be32dec(buf_data(d)), KL_DELTA_STREAM_MAGIC);
	memset(out, 0xaa, len + 1);
	assert_int_equal(apply(bases, n, d, out, len), KL_OK);
	assert_memory_equal(out, t, len);
	assert_int_equal(out[len], 0xaa);
	assert_int_equal(apply(bases, n, d, out, len + 1), KL_E_CORRUPT);
	if (len > 1)
		assert_int_equal(apply(bases, n, d, out, len - 1),
		    KL_E_CORRUPT);
	dl = buf_size(d);
	buf_free(d);
	free(out);
	return dl;
}

/* The old version of a file's chunk: 1 MiB of pseudo-random bytes. */
#define OLD_LEN MIB
#define OLD_SEED 7

/* ---- librsync commands, for crafted streams ---- */

/*
 * librsync 2.x "rs" delta commands (prototab.c), checked against the
 * streams kl_delta_make writes: 0x00 END; 0x01..0x40 a literal of that
 * many bytes; 0x41..0x44 a literal whose length follows in 1, 2, 4 or 8
 * bytes; 0x45..0x54 COPY, then the offset and the length, each 1, 2, 4 or
 * 8 bytes wide (widths (cmd - 0x45) / 4 and (cmd - 0x45) % 4).  All
 * numbers big-endian.
 */
#define CMD_END 0x00
#define CMD_LIT_N1 0x41
#define CMD_COPY_N1_N1 0x45
#define CMD_COPY_N2_N2 0x4a
#define CMD_COPY_N8_N8 0x54

struct cmd {
	uint8_t op;
	size_t at;		/* offset of the command byte */
	size_t ow, lw;		/* COPY: widths of offset and length */
	uint64_t off, len;	/* COPY: offset, length; literal: length */
};

static uint64_t
be_get(const uint8_t *p, size_t w)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < w; i++)
		v = v << 8 | p[i];
	return v;
}

static void
be_put(uint8_t *p, size_t w, uint64_t v)
{
	size_t i;

	for (i = w; i > 0; i--) {
		p[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

/* Parses the command at *pos; 0 and *pos past it, -1 at the end. */
static int
cmd_next(const uint8_t *d, size_t len, size_t *pos, struct cmd *c)
{
	static const size_t w[4] = { 1, 2, 4, 8 };
	size_t i = *pos;

	if (i >= len)
		return -1;
	memset(c, 0, sizeof(*c));
	c->at = i;
	c->op = d[i++];
	if (c->op >= CMD_COPY_N1_N1 && c->op <= CMD_COPY_N8_N8) {
		c->ow = w[(c->op - CMD_COPY_N1_N1) / 4];
		c->lw = w[(c->op - CMD_COPY_N1_N1) % 4];
		assert_true(i + c->ow + c->lw <= len);
		c->off = be_get(d + i, c->ow);
		c->len = be_get(d + i + c->ow, c->lw);
		i += c->ow + c->lw;
	} else if (c->op >= CMD_LIT_N1 && c->op < CMD_COPY_N1_N1) {
		size_t lw = w[c->op - CMD_LIT_N1];

		c->len = be_get(d + i, lw);
		i += lw + c->len;
	} else if (c->op != CMD_END) {
		c->len = c->op;
		i += c->len;
	}
	*pos = i;
	return 0;
}

/* The first COPY command of a delta stream; fails the test if none. */
static struct cmd
first_copy(const uint8_t *d, size_t len)
{
	struct cmd c;
	size_t pos = 4;

	while (cmd_next(d, len, &pos, &c) == 0)
		if (c.op >= CMD_COPY_N1_N1 && c.op <= CMD_COPY_N8_N8)
			return c;
	fail_msg("no COPY in the delta");
	return c;
}

/* A stream of hand-made commands after the magic. */
struct stream {
	uint8_t d[256];
	size_t len;
};

static void
st_init(struct stream *s)
{
	be32enc(s->d, KL_DELTA_STREAM_MAGIC);
	s->len = 4;
}

static void
st_bytes(struct stream *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->d));
	memcpy(s->d + s->len, p, n);
	s->len += n;
}

static void
st_copy(struct stream *s, uint64_t off, uint64_t len)
{
	uint8_t c[1 + 8 + 8];

	c[0] = CMD_COPY_N8_N8;
	be_put(c + 1, 8, off);
	be_put(c + 9, 8, len);
	st_bytes(s, c, sizeof(c));
}

static void
st_copy16(struct stream *s, uint16_t off, uint16_t len)
{
	uint8_t c[5];

	c[0] = CMD_COPY_N2_N2;
	be_put(c + 1, 2, off);
	be_put(c + 3, 2, len);
	st_bytes(s, c, sizeof(c));
}

static void
st_lit(struct stream *s, const char *text)
{
	uint8_t n = (uint8_t)strlen(text);

	assert_true(n >= 1 && n <= 0x40);
	st_bytes(s, &n, 1);
	st_bytes(s, text, n);
}

static void
st_end(struct stream *s)
{
	uint8_t e = CMD_END;

	st_bytes(s, &e, 1);
}

static int
st_apply(const struct kl_delta_base *bases, size_t n, uint32_t block_len,
    const struct stream *s, uint8_t *out, size_t out_len)
{
	return kl_delta_apply(bases, n, block_len, s->d, s->len, out,
	    out_len);
}

/* ======================= signatures ======================= */

static void
test_sig_length_is_header_and_one_entry_per_block(void **state)
{
	static const size_t lens[] = { 1, 2047, 2048, 2049, MIB + 3,
	    KL_DELTA_CHUNK_MAX };
	struct buf *b = new_buf();
	uint8_t *p = gen(KL_DELTA_CHUNK_MAX, 1);
	size_t i, blocks;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		buf_reset(b);
		blocks = (lens[i] + BLOCK - 1) / BLOCK;
		assert_int_equal(kl_delta_sig_len(lens[i]), 12 + 20 * blocks);
		assert_int_equal(kl_delta_sig(p, lens[i], b), KL_OK);
		assert_int_equal(buf_size(b), kl_delta_sig_len(lens[i]));
	}
	buf_free(b);
	free(p);
}

static void
test_sig_is_deterministic(void **state)
{
	struct buf *a = new_buf(), *b = new_buf();
	uint8_t *p = gen(MIB + 3, 2);

	assert_int_equal(kl_delta_sig(p, MIB + 3, a), KL_OK);
	assert_int_equal(kl_delta_sig(p, MIB + 3, b), KL_OK);
	assert_int_equal(buf_size(a), buf_size(b));
	assert_memory_equal(buf_data(a), buf_data(b), buf_size(a));
	/* and depends on every block: one byte of the last one changed */
	p[MIB + 2] ^= 1;
	buf_reset(b);
	assert_int_equal(kl_delta_sig(p, MIB + 3, b), KL_OK);
	assert_memory_equal(buf_data(a), buf_data(b), buf_size(a) - 20);
	assert_memory_not_equal(buf_data(a) + buf_size(a) - 20,
	    buf_data(b) + buf_size(b) - 20, 20);
	buf_free(a);
	buf_free(b);
	free(p);
}

/* §7.2: magic 0x72730147, B = 2048, strong length 16, big-endian. */
static void
test_sig_header_bytes(void **state)
{
	static const uint8_t want[12] = { 0x72, 0x73, 0x01, 0x47,
	    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x10 };
	struct buf *b = new_buf();
	uint8_t *p = gen(5000, 3);

	assert_int_equal(kl_delta_sig(p, 5000, b), KL_OK);
	assert_memory_equal(buf_data(b), want, sizeof(want));
	assert_int_equal(be32dec(buf_data(b)), SIG_MAGIC);
	buf_free(b);
	free(p);
}

/* librsync's RabinKarp weak sum: h = 1, then h = h * 0x08104225 + byte
 * (mod 2^32) over the block. */
static uint32_t
rabinkarp(const uint8_t *p, size_t len)
{
	uint32_t h = 1;
	size_t i;

	for (i = 0; i < len; i++)
		h = h * 0x08104225u + p[i];
	return h;
}

/* §7.2 per block, computed here: the weak sum (big-endian), then the
 * first 16 bytes of the BLAKE2b-256 of the block padded with zeros. */
static void
test_sig_entries_are_weak_and_strong_sums(void **state)
{
	uint8_t *p = calloc(1, 3 * BLOCK), strong[32];
	struct buf *b = new_buf();
	const uint8_t *e;
	size_t i;

	assert_non_null(p);
	fill(p, 5000, 37);
	assert_int_equal(kl_delta_sig(p, 5000, b), KL_OK);
	for (i = 0; i < 3; i++) {
		e = buf_data(b) + KL_DELTA_SIG_HDR_LEN +
		    i * KL_DELTA_SIG_ENTRY_LEN;
		assert_int_equal(be32dec(e), rabinkarp(p + i * BLOCK, BLOCK));
		crypto_generichash(strong, sizeof(strong), p + i * BLOCK,
		    BLOCK, NULL, 0);
		assert_memory_equal(e + 4, strong, KL_DELTA_STRONG_LEN);
	}
	buf_free(b);
	free(p);
}

/* The last block is signed as if padded with zeros to 2048 bytes. */
static void
test_sig_pads_last_block_with_zeros(void **state)
{
	struct buf *a = new_buf(), *b = new_buf();
	uint8_t *p = calloc(1, 2 * BLOCK);

	assert_non_null(p);
	fill(p, BLOCK + 1, 4);
	assert_int_equal(kl_delta_sig(p, BLOCK + 1, a), KL_OK);
	assert_int_equal(kl_delta_sig(p, 2 * BLOCK, b), KL_OK);
	assert_int_equal(buf_size(a), buf_size(b));
	assert_memory_equal(buf_data(a), buf_data(b), buf_size(a));
	buf_free(a);
	buf_free(b);
	free(p);
}

static void
test_sig_appends_to_out(void **state)
{
	struct buf *a = new_buf(), *b = new_buf();
	uint8_t *p = gen(3000, 5);

	assert_int_equal(buf_put(b, "abc", 3), KL_OK);
	assert_int_equal(kl_delta_sig(p, 3000, a), KL_OK);
	assert_int_equal(kl_delta_sig(p, 3000, b), KL_OK);
	assert_int_equal(buf_size(b), 3 + buf_size(a));
	assert_memory_equal(buf_data(b), "abc", 3);
	assert_memory_equal(buf_data(b) + 3, buf_data(a), buf_size(a));
	buf_free(a);
	buf_free(b);
	free(p);
}

static void
test_sig_bad_length_inval(void **state)
{
	uint8_t *p = calloc(1, KL_DELTA_CHUNK_MAX + 1);
	struct buf *b = new_buf();

	assert_non_null(p);
	assert_int_equal(buf_put(b, "x", 1), KL_OK);
	assert_int_equal(kl_delta_sig(p, 0, b), KL_E_INVAL);
	assert_int_equal(kl_delta_sig(p, KL_DELTA_CHUNK_MAX + 1, b),
	    KL_E_INVAL);
	assert_int_equal(buf_size(b), 1);
	buf_free(b);
	free(p);
}

/* An output buffer too small: KL_E_LIMIT and nothing appended. */
static void
test_sig_out_full_limit(void **state)
{
	struct buf *b = buf_new(100);
	uint8_t *p = gen(20000, 6);

	assert_non_null(b);
	assert_int_equal(buf_put(b, "abc", 3), KL_OK);
	assert_int_equal(kl_delta_sig(p, 20000, b), KL_E_LIMIT);
	assert_int_equal(buf_size(b), 3);
	assert_int_equal(kl_delta_sig(p, 4096, b), KL_OK);	/* 52 */
	assert_int_equal(buf_size(b), 3 + 52);
	buf_free(b);
	free(p);
}

static void
test_sig_check_accepts_own(void **state)
{
	static const size_t lens[] = { 1, 2047, 2048, 2049, 70001 };
	struct buf *b = new_buf();
	uint8_t *p = gen(70001, 7);
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		buf_reset(b);
		assert_int_equal(kl_delta_sig(p, lens[i], b), KL_OK);
		assert_int_equal(kl_delta_sig_check(buf_data(b), buf_size(b),
		    lens[i]), KL_OK);
	}
	buf_free(b);
	free(p);
}

/* The check is of the shape: a length of the same block count passes,
 * one block more or less does not. */
static void
test_sig_check_wrong_chunk_length_corrupt(void **state)
{
	struct buf *b = new_buf();
	uint8_t *p = gen(5000, 8);
	const uint8_t *s;
	size_t sl;

	assert_int_equal(kl_delta_sig(p, 5000, b), KL_OK);
	s = buf_data(b);
	sl = buf_size(b);
	assert_int_equal(kl_delta_sig_check(s, sl, 4097), KL_OK);
	assert_int_equal(kl_delta_sig_check(s, sl, 6144), KL_OK);
	assert_int_equal(kl_delta_sig_check(s, sl, 4096), KL_E_CORRUPT);
	assert_int_equal(kl_delta_sig_check(s, sl, 6145), KL_E_CORRUPT);
	assert_int_equal(kl_delta_sig_check(s, sl, 1), KL_E_CORRUPT);
	assert_int_equal(kl_delta_sig_check(s, sl, 0), KL_E_CORRUPT);
	assert_int_equal(kl_delta_sig_check(s, sl, KL_DELTA_CHUNK_MAX + 1),
	    KL_E_CORRUPT);
	assert_int_equal(kl_delta_sig_check(NULL, sl, 5000), KL_E_CORRUPT);
	buf_free(b);
	free(p);
}

/* A signature of the shape a chunk one byte over the maximum would have
 * (header and 8193 entries) is still refused. */
static void
test_sig_check_chunk_over_max_corrupt(void **state)
{
	size_t sl = kl_delta_sig_len(KL_DELTA_CHUNK_MAX + 1);
	uint8_t *s = calloc(1, sl);

	assert_non_null(s);
	assert_int_equal(sl, 12 + 20 * (KL_DELTA_CHUNK_MAX / BLOCK + 1));
	be32enc(s, SIG_MAGIC);
	be32enc(s + 4, BLOCK);
	be32enc(s + 8, KL_DELTA_STRONG_LEN);
	assert_int_equal(kl_delta_sig_check(s, sl - 20, KL_DELTA_CHUNK_MAX),
	    KL_OK);
	assert_int_equal(kl_delta_sig_check(s, sl, KL_DELTA_CHUNK_MAX + 1),
	    KL_E_CORRUPT);
	free(s);
}

static void
test_sig_check_truncated_corrupt(void **state)
{
	struct buf *b = new_buf();
	uint8_t *p = gen(5000, 9);
	size_t sl;

	assert_int_equal(kl_delta_sig(p, 5000, b), KL_OK);
	for (sl = 0; sl < buf_size(b); sl++)
		assert_int_equal(kl_delta_sig_check(buf_data(b), sl, 5000),
		    KL_E_CORRUPT);
	buf_free(b);
	free(p);
}

/* Every bit of the 12-byte header matters (magic, B, strong length). */
static void
test_sig_check_altered_header_corrupt(void **state)
{
	struct buf *b = new_buf();
	uint8_t *p = gen(5000, 10), *s;
	size_t i, bit, sl;

	assert_int_equal(kl_delta_sig(p, 5000, b), KL_OK);
	sl = buf_size(b);
	s = malloc(sl);
	assert_non_null(s);
	for (i = 0; i < KL_DELTA_SIG_HDR_LEN; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(s, buf_data(b), sl);
			s[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(kl_delta_sig_check(s, sl, 5000),
			    KL_E_CORRUPT);
		}
	}
	buf_free(b);
	free(s);
	free(p);
}

/* ======================= round trips ======================= */

static void
overwrite(uint8_t *t, size_t at, size_t len, uint32_t seed)
{
	fill(t + at, len, seed);
}

/* Three scattered pages rewritten in 1 MiB: the delta is small. */
static void
test_round_trip_scattered_overwrites(void **state)
{
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(OLD_LEN);
	struct kl_delta_base b = { old, OLD_LEN };
	size_t dl;

	assert_non_null(t);
	memcpy(t, old, OLD_LEN);
	overwrite(t, 100000, 4096, 11);
	overwrite(t, 400123, 4096, 12);
	overwrite(t, 777777, 4096, 13);
	dl = round_trip(&b, 1, t, OLD_LEN);
	assert_true(dl < OLD_LEN / 20);
	free(t);
	free(old);
}

static void
test_round_trip_insertion(void **state)
{
	size_t len = OLD_LEN + 1000;
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(len);
	struct kl_delta_base b = { old, OLD_LEN };

	assert_non_null(t);
	memcpy(t, old, 300001);
	fill(t + 300001, 1000, 14);
	memcpy(t + 301001, old + 300001, OLD_LEN - 300001);
	assert_true(round_trip(&b, 1, t, len) < len / 20);
	free(t);
	free(old);
}

static void
test_round_trip_deletion(void **state)
{
	size_t len = OLD_LEN - 777;
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(len);
	struct kl_delta_base b = { old, OLD_LEN };

	assert_non_null(t);
	memcpy(t, old, 500000);
	memcpy(t + 500000, old + 500777, OLD_LEN - 500777);
	assert_true(round_trip(&b, 1, t, len) < len / 20);
	free(t);
	free(old);
}

static void
test_round_trip_append(void **state)
{
	size_t len = OLD_LEN + 5003;
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(len);
	struct kl_delta_base b = { old, OLD_LEN };

	assert_non_null(t);
	memcpy(t, old, OLD_LEN);
	fill(t + OLD_LEN, 5003, 15);
	assert_true(round_trip(&b, 1, t, len) < len / 20);
	free(t);
	free(old);
}

static void
test_round_trip_truncation(void **state)
{
	size_t len = OLD_LEN - 70001;
	uint8_t *old = gen(OLD_LEN, OLD_SEED);
	struct kl_delta_base b = { old, OLD_LEN };

	assert_true(round_trip(&b, 1, old, len) < len / 20);
	free(old);
}

static void
test_round_trip_identical(void **state)
{
	uint8_t *old = gen(OLD_LEN - 5, OLD_SEED);
	struct kl_delta_base b = { old, OLD_LEN - 5 };

	/* the last, partial block is a literal: the signature padded it */
	assert_true(round_trip(&b, 1, old, OLD_LEN - 5) < 2 * BLOCK);
	free(old);
}

/* Nothing in common: the delta is the target as a literal, and still
 * applies. */
static void
test_round_trip_unrelated(void **state)
{
	uint8_t *old = gen(100000, OLD_SEED), *t = gen(100000, 16);
	struct kl_delta_base b = { old, 100000 };

	assert_true(round_trip(&b, 1, t, 100000) > 100000);
	free(t);
	free(old);
}

static void
test_round_trip_one_byte_chunks(void **state)
{
	uint8_t a = 'a', z = 'z';
	struct kl_delta_base b = { &a, 1 };

	round_trip(&b, 1, &z, 1);
	round_trip(&b, 1, &a, 1);
}

/*
 * §7.1's base stream: a base is followed by zeros up to the block
 * boundary, so a target of the base's bytes and those zeros is all
 * copies.
 */
static void
test_round_trip_target_of_base_and_padding(void **state)
{
	uint8_t *old = gen(5000, 17), *t = calloc(1, 3 * BLOCK);
	struct kl_delta_base b = { old, 5000 };
	struct buf *d = NULL;
	struct cmd c;
	size_t pos = 4;

	assert_non_null(t);
	memcpy(t, old, 5000);
	assert_true(round_trip(&b, 1, t, 3 * BLOCK) < 64);
	assert_int_equal(make(&b, 1, t, 3 * BLOCK, 64, &d), KL_OK);
	while (cmd_next(buf_data(d), buf_size(d), &pos, &c) == 0)
		assert_true(c.op == CMD_END || c.op >= CMD_COPY_N1_N1);
	buf_free(d);
	free(t);
	free(old);
}

/* Old content split into parts at offsets that are not block aligned. */
static void
split(const uint8_t *old, const size_t *cuts, size_t n,
    struct kl_delta_base *bases)
{
	size_t i, at = 0;

	for (i = 0; i < n; i++) {
		size_t end = i + 1 < n ? cuts[i] : OLD_LEN;

		bases[i].p = old + at;
		bases[i].len = end - at;
		at = end;
	}
}

/* Two bases; the changes span the cut. */
static void
test_round_trip_two_bases(void **state)
{
	static const size_t cuts[] = { 300001 };
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(OLD_LEN);
	struct kl_delta_base b[2];

	assert_non_null(t);
	split(old, cuts, 2, b);
	memcpy(t, old, OLD_LEN);
	overwrite(t, 299000, 4096, 18);
	overwrite(t, 900000, 4096, 19);
	assert_true(round_trip(b, 2, t, OLD_LEN) < OLD_LEN / 20);
	free(t);
	free(old);
}

/* Three bases; the target starts in the first, ends in the third and
 * has an insertion in the second. */
static void
test_round_trip_three_bases(void **state)
{
	static const size_t cuts[] = { 250001, 600003 };
	size_t len = 800000 + 3000;
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(len);
	struct kl_delta_base b[3];

	assert_non_null(t);
	split(old, cuts, 3, b);
	memcpy(t, old + 100000, 400000);
	fill(t + 400000, 3000, 20);
	memcpy(t + 403000, old + 500000, 400000);
	assert_true(round_trip(b, 3, t, len) < len / 20);
	free(t);
	free(old);
}

/* Four bases of very different sizes, the target their parts in another
 * order. */
static void
test_round_trip_four_bases(void **state)
{
	static const size_t cuts[] = { 1001, 2049 + 1001, 500000 };
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(OLD_LEN);
	struct kl_delta_base b[4];
	size_t at = 0;

	assert_non_null(t);
	split(old, cuts, 4, b);
	memcpy(t + at, b[3].p, b[3].len);
	at += b[3].len;
	memcpy(t + at, b[2].p, b[2].len);
	at += b[2].len;
	memcpy(t + at, b[0].p, b[0].len);
	at += b[0].len;
	memcpy(t + at, b[1].p, b[1].len);
	assert_true(round_trip(b, 4, t, OLD_LEN) < OLD_LEN / 20);
	free(t);
	free(old);
}

/* ======================= kl_delta_make ======================= */

static void
test_make_is_deterministic(void **state)
{
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(OLD_LEN);
	struct kl_delta_base b = { old, OLD_LEN };
	struct buf *d1 = NULL, *d2 = NULL;

	assert_non_null(t);
	memcpy(t, old, OLD_LEN);
	overwrite(t, 5000, 100, 21);
	assert_int_equal(make(&b, 1, t, OLD_LEN, OLD_LEN / 2, &d1), KL_OK);
	assert_int_equal(make(&b, 1, t, OLD_LEN, OLD_LEN / 2, &d2), KL_OK);
	assert_int_equal(buf_size(d1), buf_size(d2));
	assert_memory_equal(buf_data(d1), buf_data(d2), buf_size(d1));
	buf_free(d1);
	buf_free(d2);
	free(t);
	free(old);
}

static void
test_make_appends_to_out(void **state)
{
	uint8_t *old = gen(5000, 22), *t = gen(5000, 23);
	struct kl_delta_base b = { old, 5000 };
	struct buf *d = NULL, *o = new_buf();
	struct sigs sg;

	assert_int_equal(make(&b, 1, t, 5000, 8000, &d), KL_OK);
	sigs_make(&sg, &b, 1);
	assert_int_equal(buf_put(o, "abc", 3), KL_OK);
	assert_int_equal(kl_delta_make(sg.s, 1, t, 5000, 8000, o), KL_OK);
	assert_int_equal(buf_size(o), 3 + buf_size(d));
	assert_memory_equal(buf_data(o), "abc", 3);
	assert_memory_equal(buf_data(o) + 3, buf_data(d), buf_size(d));
	sigs_free(&sg);
	buf_free(o);
	buf_free(d);
	free(t);
	free(old);
}

/* max is the delta's length: OK; one byte less: KL_E_LIMIT. */
static void
test_make_max_is_inclusive(void **state)
{
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(OLD_LEN);
	struct kl_delta_base b = { old, OLD_LEN };
	struct buf *d = NULL, *e = NULL;
	size_t dl;

	assert_non_null(t);
	memcpy(t, old, OLD_LEN);
	overwrite(t, 12345, 4096, 24);
	assert_int_equal(make(&b, 1, t, OLD_LEN, OLD_LEN, &d), KL_OK);
	dl = buf_size(d);
	assert_int_equal(make(&b, 1, t, OLD_LEN, dl, &e), KL_OK);
	assert_int_equal(buf_size(e), dl);
	assert_memory_equal(buf_data(e), buf_data(d), dl);
	buf_free(e);
	assert_int_equal(make(&b, 1, t, OLD_LEN, dl - 1, &e), KL_E_LIMIT);
	assert_int_equal(buf_size(e), 0);
	buf_free(e);
	buf_free(d);
	free(t);
	free(old);
}

/* KL_E_LIMIT leaves out as it was. */
static void
make_limit(const uint8_t *t, size_t len, size_t max)
{
	uint8_t *old = gen(OLD_LEN, OLD_SEED);
	struct kl_delta_base b = { old, OLD_LEN };
	struct buf *o = new_buf();
	struct sigs sg;

	sigs_make(&sg, &b, 1);
	assert_int_equal(buf_put(o, "abc", 3), KL_OK);
	assert_int_equal(kl_delta_make(sg.s, 1, t, len, max, o), KL_E_LIMIT);
	assert_int_equal(buf_size(o), 3);
	assert_memory_equal(buf_data(o), "abc", 3);
	sigs_free(&sg);
	buf_free(o);
	free(old);
}

static void
test_make_max_too_small_limit(void **state)
{
	uint8_t *t = gen(OLD_LEN, OLD_SEED);

	t[700000] ^= 1;
	make_limit(t, OLD_LEN, 16);
	make_limit(t, OLD_LEN, 1);
	free(t);
}

static void
test_make_unrelated_target_half_limit(void **state)
{
	uint8_t *t = gen(OLD_LEN, 25);

	make_limit(t, OLD_LEN, OLD_LEN / 2);
	free(t);
}

static void
test_make_base_count_inval(void **state)
{
	uint8_t *old = gen(5000, 26);
	struct kl_delta_base b[5] = {
		{ old, 1000 }, { old, 1000 }, { old, 1000 }, { old, 1000 },
		{ old, 1000 },
	};
	struct buf *o = new_buf();
	struct sigs sg;

	sigs_make(&sg, b, 5);
	assert_int_equal(kl_delta_make(sg.s, 0, old, 5000, 8000, o),
	    KL_E_INVAL);
	assert_int_equal(kl_delta_make(sg.s, 5, old, 5000, 8000, o),
	    KL_E_INVAL);
	assert_int_equal(kl_delta_make(sg.s, 4, old, 5000, 8000, o), KL_OK);
	sigs_free(&sg);
	buf_free(o);
	free(old);
}

static void
test_make_bad_lengths_inval(void **state)
{
	uint8_t *old = calloc(1, KL_DELTA_CHUNK_MAX + 1);
	struct kl_delta_base b = { old, 5000 };
	struct buf *o = new_buf();
	struct sigs sg;

	assert_non_null(old);
	sigs_make(&sg, &b, 1);
	assert_int_equal(kl_delta_make(sg.s, 1, old, 0, 8000, o), KL_E_INVAL);
	assert_int_equal(kl_delta_make(sg.s, 1, old, KL_DELTA_CHUNK_MAX + 1,
	    8000, o), KL_E_INVAL);
	assert_int_equal(kl_delta_make(sg.s, 1, old, 5000, 0, o), KL_E_INVAL);
	assert_int_equal(buf_size(o), 0);
	sigs_free(&sg);
	buf_free(o);
	free(old);
}

/* Applies edit to a copy of a good signature (as base 0 and, alone, as
 * base 1 of two) and expects KL_E_INVAL with out unchanged. */
static void
make_sig_inval(void (*edit)(uint8_t *s, size_t *len))
{
	uint8_t *old = gen(5000, 27), s[1024];
	struct kl_delta_base b = { old, 5000 }, two[2];
	struct buf *o = new_buf();
	struct sigs sg;
	size_t sl;

	sigs_make(&sg, &b, 1);
	sl = sg.s[0].len;
	memcpy(s, sg.s[0].p, sl);
	edit(s, &sl);
	two[0].p = s;
	two[0].len = sl;
	assert_int_equal(kl_delta_make(two, 1, old, 5000, 8000, o),
	    KL_E_INVAL);
	two[0] = sg.s[0];
	two[1].p = s;
	two[1].len = sl;
	assert_int_equal(kl_delta_make(two, 2, old, 5000, 8000, o),
	    KL_E_INVAL);
	assert_int_equal(buf_size(o), 0);
	sigs_free(&sg);
	buf_free(o);
	free(old);
}

static void
edit_cut_entry(uint8_t *s, size_t *len)
{
	(void)s;
	*len -= 1;
}

static void
edit_header_only(uint8_t *s, size_t *len)
{
	(void)s;
	*len = KL_DELTA_SIG_HDR_LEN;
}

static void
edit_magic(uint8_t *s, size_t *len)
{
	(void)len;
	be32enc(s, 0x72730146);	/* RabinKarp with MD4 strong sums */
}

static void
edit_block_len(uint8_t *s, size_t *len)
{
	(void)len;
	be32enc(s + 4, 1024);
}

static void
edit_strong_len(uint8_t *s, size_t *len)
{
	(void)len;
	be32enc(s + 8, 32);
}

static void
test_make_signature_of_wrong_shape_inval(void **state)
{
	make_sig_inval(edit_cut_entry);
	make_sig_inval(edit_header_only);
	make_sig_inval(edit_magic);
	make_sig_inval(edit_block_len);
	make_sig_inval(edit_strong_len);
}

/* ======================= kl_delta_apply ======================= */

/* A real delta of a 5000-byte base whose first block changed: LITERAL
 * 2048, COPY 2048 from 2048, LITERAL 904 (the padded tail). */
struct small {
	uint8_t *base, *t;
	struct kl_delta_base b;
	struct buf *d;
	uint8_t out[8192];
};

static void
small_make(struct small *s)
{
	s->base = gen(5000, 28);
	s->t = malloc(5000);
	assert_non_null(s->t);
	memcpy(s->t, s->base, 5000);
	overwrite(s->t, 10, 100, 29);
	s->b.p = s->base;
	s->b.len = 5000;
	assert_int_equal(make(&s->b, 1, s->t, 5000, 8000, &s->d), KL_OK);
	assert_int_equal(apply(&s->b, 1, s->d, s->out, 5000), KL_OK);
	assert_memory_equal(s->out, s->t, 5000);
}

static void
small_free(struct small *s)
{
	buf_free(s->d);
	free(s->t);
	free(s->base);
}

static void
test_apply_every_truncation_corrupt(void **state)
{
	struct small s;
	size_t n;

	small_make(&s);
	for (n = 0; n < buf_size(s.d); n++)
		assert_int_equal(kl_delta_apply(&s.b, 1, BLOCK, buf_data(s.d),
		    n, s.out, 5000), KL_E_CORRUPT);
	small_free(&s);
}

static void
test_apply_trailing_bytes_corrupt(void **state)
{
	static const uint8_t tails[] = { CMD_END, 0x01, CMD_COPY_N1_N1, 'x' };
	struct small s;
	size_t i;

	small_make(&s);
	for (i = 0; i < sizeof(tails); i++) {
		assert_int_equal(buf_put_u8(s.d, tails[i]), KL_OK);
		assert_int_equal(apply(&s.b, 1, s.d, s.out, 5000),
		    KL_E_CORRUPT);
		buf_unput(s.d, 1);
	}
	small_free(&s);
}

static void
test_apply_out_len_off_by_one_corrupt(void **state)
{
	struct small s;

	small_make(&s);
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 4999), KL_E_CORRUPT);
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 5001), KL_E_CORRUPT);
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 1), KL_E_CORRUPT);
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 5000), KL_OK);
	small_free(&s);
}

/* A delta made against a long base, applied to a shorter one: its copies
 * reach past the (shorter) base stream. */
static void
test_apply_to_shorter_base_corrupt(void **state)
{
	uint8_t *old = gen(OLD_LEN, OLD_SEED), *t = malloc(OLD_LEN);
	struct kl_delta_base b = { old, OLD_LEN }, shorter = { old, 500001 };
	struct kl_delta_base two[2] = { { old, 300000 }, { old, 1000 } };
	struct buf *d = NULL;

	assert_non_null(t);
	memcpy(t, old, OLD_LEN);
	overwrite(t, 0, 100, 30);
	assert_int_equal(make(&b, 1, t, OLD_LEN, OLD_LEN / 2, &d), KL_OK);
	assert_int_equal(apply(&shorter, 1, d, t, OLD_LEN), KL_E_CORRUPT);
	assert_int_equal(apply(two, 2, d, t, OLD_LEN), KL_E_CORRUPT);
	buf_free(d);
	free(t);
	free(old);
}

/*
 * The COPY of a real delta moved: ending exactly at the end of the base
 * stream (its padding reads as zeros) is fine, one byte further is
 * corrupt, and so is an offset far outside.
 */
static void
test_apply_copy_moved_past_stream_corrupt(void **state)
{
	const size_t stream_len = 3 * BLOCK;
	struct small s;
	struct cmd c;
	uint8_t *d;

	small_make(&s);
	d = (uint8_t *)(uintptr_t)buf_data(s.d);
	c = first_copy(d, buf_size(s.d));
	assert_int_equal(c.off, BLOCK);
	assert_int_equal(c.len, BLOCK);
	assert_true(c.ow >= 2);
	be_put(d + c.at + 1, c.ow, stream_len - c.len);
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 5000), KL_OK);
	assert_memory_equal(s.out + BLOCK, s.base + 2 * BLOCK,
	    5000 - 2 * BLOCK);
	assert_int_equal(s.out[BLOCK + 5000 - 2 * BLOCK], 0);
	assert_int_equal(s.out[2 * BLOCK - 1], 0);
	be_put(d + c.at + 1, c.ow, stream_len - c.len + 1);
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 5000), KL_E_CORRUPT);
	be_put(d + c.at + 1, c.ow, (uint64_t)1 << (8 * c.ow - 1));
	assert_int_equal(apply(&s.b, 1, s.d, s.out, 5000), KL_E_CORRUPT);
	small_free(&s);
}

/* Hand-made streams: our reading of the command format holds. */
static void
test_apply_handmade_copy_and_literal(void **state)
{
	uint8_t *base = gen(5000, 31), out[BLOCK + 3];
	struct kl_delta_base b = { base, 5000 };
	struct stream s;

	st_init(&s);
	st_copy16(&s, 100, BLOCK);
	st_lit(&s, "abc");
	st_end(&s);
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, sizeof(out)), KL_OK);
	assert_memory_equal(out, base + 100, BLOCK);
	assert_memory_equal(out + BLOCK, "abc", 3);
	free(base);
}

/* Copies from the padded base stream of two bases (3000 and 5000 bytes,
 * B = 2048): [b0 3000][0 x 1096][b1 5000][0 x 1144], 10240 bytes. */
static void
test_apply_copy_across_padding_and_bases(void **state)
{
	uint8_t *b0 = gen(3000, 32), *b1 = gen(5000, 33), out[14240];
	uint8_t want[10240];
	struct kl_delta_base b[2] = { { b0, 3000 }, { b1, 5000 } };
	struct stream s;

	memset(want, 0, sizeof(want));
	memcpy(want, b0, 3000);
	memcpy(want + 4096, b1, 5000);
	st_init(&s);
	st_copy(&s, 2000, 4000);	/* b0's end, padding, b1's start */
	st_copy(&s, 0, 10240);		/* the whole stream */
	st_end(&s);
	assert_int_equal(st_apply(b, 2, BLOCK, &s, out, 14240), KL_OK);
	assert_memory_equal(out, want + 2000, 4000);
	assert_memory_equal(out + 4000, want, 10240);
	st_init(&s);
	st_copy(&s, 10239, 1);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, BLOCK, &s, out, 1), KL_OK);
	assert_int_equal(out[0], 0);
	st_init(&s);
	st_copy(&s, 10239, 2);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, BLOCK, &s, out, 2), KL_E_CORRUPT);
	st_init(&s);
	st_copy(&s, 10240, 1);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, BLOCK, &s, out, 1), KL_E_CORRUPT);
	free(b0);
	free(b1);
}

/* The block length of the record sets the padding: with B = 256 base 1
 * starts at 3072, with B = 4096 at 4096. */
static void
test_apply_block_len_sets_padding(void **state)
{
	static const uint8_t zeros[100];
	uint8_t *b0 = gen(3000, 34), *b1 = gen(5000, 35), out[100];
	struct kl_delta_base b[2] = { { b0, 3000 }, { b1, 5000 } };
	struct stream s;

	st_init(&s);
	st_copy(&s, 3072, 100);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, 256, &s, out, 100), KL_OK);
	assert_memory_equal(out, b1, 100);
	assert_int_equal(st_apply(b, 2, 4096, &s, out, 100), KL_OK);
	assert_memory_equal(out, zeros, sizeof(zeros));
	st_init(&s);
	st_copy(&s, 4096, 100);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, 4096, &s, out, 100), KL_OK);
	assert_memory_equal(out, b1, 100);
	/* B = 256: the stream is 3072 + 5120 bytes */
	st_init(&s);
	st_copy(&s, 8192 - 100, 100);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, 256, &s, out, 100), KL_OK);
	assert_int_equal(st_apply(b, 2, 65536, &s, out, 100), KL_OK);
	st_init(&s);
	st_copy(&s, 8192 - 99, 100);
	st_end(&s);
	assert_int_equal(st_apply(b, 2, 256, &s, out, 100), KL_E_CORRUPT);
	free(b0);
	free(b1);
}

static void
test_apply_malformed_streams_corrupt(void **state)
{
	static const uint8_t copy0[] = { CMD_COPY_N2_N2, 0, 0, 0, 0 };
	static const uint8_t bad_cmd[] = { 0x55 };
	static const uint8_t lit_huge[] = { CMD_LIT_N1 + 3, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t copy_neg[] = { CMD_COPY_N8_N8, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t *base = gen(5000, 36), out[16];
	struct kl_delta_base b = { base, 5000 };
	struct stream s;

	st_init(&s);	/* the magic alone, no END */
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, 1), KL_E_CORRUPT);
	be32enc(s.d, SIG_MAGIC);
	st_lit(&s, "a");
	st_end(&s);
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, 1), KL_E_CORRUPT);
	assert_int_equal(kl_delta_apply(&b, 1, BLOCK, s.d, 0, out, 1),
	    KL_E_CORRUPT);
	st_init(&s);
	st_bytes(&s, copy0, sizeof(copy0));
	st_lit(&s, "a");
	st_end(&s);
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, 1), KL_E_CORRUPT);
	st_init(&s);
	st_bytes(&s, bad_cmd, sizeof(bad_cmd));
	st_end(&s);
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, 1), KL_E_CORRUPT);
	st_init(&s);
	st_bytes(&s, lit_huge, sizeof(lit_huge));
	st_end(&s);
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, 1), KL_E_CORRUPT);
	st_init(&s);
	st_bytes(&s, copy_neg, sizeof(copy_neg));
	st_end(&s);
	assert_int_equal(st_apply(&b, 1, BLOCK, &s, out, 1), KL_E_CORRUPT);
	free(base);
}

static void
test_apply_bad_arguments_inval(void **state)
{
	static const uint32_t blocks[] = { 0, 128, 255, 257, 3000, 131072 };
	uint8_t *base = calloc(1, KL_DELTA_CHUNK_MAX + 2);
	struct kl_delta_base b[5] = {
		{ base, 10 }, { base, 10 }, { base, 10 }, { base, 10 },
		{ base, 10 },
	};
	struct stream s;
	size_t i;

	assert_non_null(base);
	st_init(&s);
	st_lit(&s, "a");
	st_end(&s);
	assert_int_equal(st_apply(b, 1, BLOCK, &s, base, 1), KL_OK);
	assert_int_equal(st_apply(b, 4, BLOCK, &s, base, 1), KL_OK);
	assert_int_equal(st_apply(b, 0, BLOCK, &s, base, 1), KL_E_INVAL);
	assert_int_equal(st_apply(b, 5, BLOCK, &s, base, 1), KL_E_INVAL);
	for (i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		assert_int_equal(st_apply(b, 1, blocks[i], &s, base, 1),
		    KL_E_INVAL);
	assert_int_equal(st_apply(b, 1, 256, &s, base, 1), KL_OK);
	assert_int_equal(st_apply(b, 1, 65536, &s, base, 1), KL_OK);
	assert_int_equal(st_apply(b, 1, BLOCK, &s, base, 0), KL_E_INVAL);
	assert_int_equal(st_apply(b, 1, BLOCK, &s, base + 1,
	    KL_DELTA_CHUNK_MAX + 1), KL_E_INVAL);
	b[1].len = 0;
	assert_int_equal(st_apply(b, 2, BLOCK, &s, base, 1), KL_E_INVAL);
	b[1].len = KL_DELTA_CHUNK_MAX + 1;
	assert_int_equal(st_apply(b, 2, BLOCK, &s, base, 1), KL_E_INVAL);
	b[1].len = KL_DELTA_CHUNK_MAX;
	assert_int_equal(st_apply(b, 2, BLOCK, &s, base, 1), KL_OK);
	free(base);
}

/* ======================= delta records (§7.1) ======================= */

/* A hand-made stream: 2048 bytes from base 0 at 100, then "abc". */
static struct stream rec_stream;
static uint8_t *rec_bases[KL_DELTA_REF_BASES_MAX];
#define REC_BASE_LEN 3000
#define REC_TARGET_LEN (BLOCK + 3)

static void
sample_rec(struct kl_delta_rec *d, uint8_t nbases)
{
	uint8_t i;

	st_init(&rec_stream);
	st_copy16(&rec_stream, 100, BLOCK);
	st_lit(&rec_stream, "abc");
	st_end(&rec_stream);
	memset(d, 0, sizeof(*d));
	d->gen = 3;
	d->nbases = nbases;
	d->block_len = BLOCK;
	d->target_len = REC_TARGET_LEN;
	id_fill(&d->target, 0x20);
	for (i = 0; i < nbases; i++) {
		id_fill(&d->bases[i], (uint8_t)(0x40 + 0x20 * i));
		d->base_lens[i] = REC_BASE_LEN + i;
	}
	d->delta = rec_stream.d;
	d->delta_len = rec_stream.len;
}

/* The encoding of d into a new buffer. */
static struct buf *
enc_rec(const struct kl_delta_rec *d)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_delta_rec_encode(d, b), KL_OK);
	return b;
}

static void
assert_rec_eq(const struct kl_delta_rec *a, const struct kl_delta_rec *b)
{
	uint8_t i;

	assert_int_equal(a->gen, b->gen);
	assert_int_equal(a->nbases, b->nbases);
	assert_int_equal(a->block_len, b->block_len);
	assert_int_equal(a->target_len, b->target_len);
	assert_memory_equal(a->target.b, b->target.b, KL_ID_LEN);
	for (i = 0; i < a->nbases; i++) {
		assert_memory_equal(a->bases[i].b, b->bases[i].b, KL_ID_LEN);
		assert_int_equal(a->base_lens[i], b->base_lens[i]);
	}
	assert_int_equal(a->delta_len, b->delta_len);
	assert_memory_equal(a->delta, b->delta, a->delta_len);
}

static void
rec_round_trip(uint8_t nbases)
{
	struct kl_delta_rec d, o;
	struct buf *b;

	sample_rec(&d, nbases);
	b = enc_rec(&d);
	assert_int_equal(buf_size(b), REC_STREAM_OFF(nbases) + d.delta_len);
	memset(&o, 0xee, sizeof(o));
	assert_int_equal(kl_delta_rec_decode(buf_data(b), buf_size(b), &o),
	    KL_OK);
	assert_rec_eq(&d, &o);
	/* the stream is borrowed from the input */
	assert_ptr_equal(o.delta, buf_data(b) + REC_STREAM_OFF(nbases));
	buf_free(b);
}

static void
test_rec_round_trip_one_base(void **state)
{
	rec_round_trip(1);
}

static void
test_rec_round_trip_four_bases(void **state)
{
	rec_round_trip(4);
}

/* The bytes of §7.1's table, laid out by hand. */
static void
test_rec_layout_is_the_spec_table(void **state)
{
	uint8_t want[REC_STREAM_OFF(2) + 64];
	struct kl_delta_rec d;
	struct buf *b;
	size_t at;
	uint8_t i;

	sample_rec(&d, 2);
	d.block_len = 0x10000;
	d.target_len = 0x00f1f2f3;
	memcpy(want, "KLDL", 4);
	want[4] = 1;
	want[5] = 2;
	want[6] = 3;
	want[7] = 0;
	kl_le32enc(want + 8, 0x10000);
	kl_le32enc(want + 12, 0x00f1f2f3);
	memcpy(want + 16, d.target.b, KL_ID_LEN);
	for (i = 0, at = 48; i < 2; i++, at += 36) {
		memcpy(want + at, d.bases[i].b, KL_ID_LEN);
		kl_le32enc(want + at + 32, REC_BASE_LEN + i);
	}
	assert_int_equal(at, REC_STREAM_OFF(2));
	memcpy(want + at, rec_stream.d, rec_stream.len);
	b = enc_rec(&d);
	assert_int_equal(buf_size(b), at + rec_stream.len);
	assert_memory_equal(buf_data(b), want, buf_size(b));
	buf_free(b);
}

/* The encoding of sample_rec(nbases) in a mutable copy. */
struct rec_raw {
	uint8_t d[512];
	size_t len;
};

static void
rec_raw(struct rec_raw *r, uint8_t nbases)
{
	struct kl_delta_rec d;
	struct buf *b;

	sample_rec(&d, nbases);
	b = enc_rec(&d);
	assert_true(buf_size(b) <= sizeof(r->d));
	memcpy(r->d, buf_data(b), buf_size(b));
	r->len = buf_size(b);
	buf_free(b);
}

/* Decodes r; on failure the output is untouched. */
static int
rec_rc(const struct rec_raw *r)
{
	struct kl_delta_rec o, before;
	int rc;

	memset(&o, 0x5a, sizeof(o));
	before = o;
	rc = kl_delta_rec_decode(r->d, r->len, &o);
	if (rc != KL_OK)
		assert_memory_equal(&o, &before, sizeof(o));
	return rc;
}

static void
test_rec_bad_magic_corrupt(void **state)
{
	struct rec_raw r;
	size_t i;

	for (i = 0; i < 4; i++) {
		rec_raw(&r, 1);
		r.d[i] ^= 0x20;
		assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	}
}

static void
test_rec_version_unsupported(void **state)
{
	static const uint8_t versions[] = { 0, 2, 255 };
	struct rec_raw r;
	size_t i;

	for (i = 0; i < sizeof(versions); i++) {
		rec_raw(&r, 1);
		r.d[4] = versions[i];
		assert_int_equal(rec_rc(&r), KL_E_UNSUPPORTED);
	}
}

static void
test_rec_reserved_unsupported(void **state)
{
	struct rec_raw r;

	rec_raw(&r, 1);
	r.d[7] = 1;
	assert_int_equal(rec_rc(&r), KL_E_UNSUPPORTED);
	r.d[7] = 0x80;
	assert_int_equal(rec_rc(&r), KL_E_UNSUPPORTED);
}

static void
test_rec_zero_bases_corrupt(void **state)
{
	struct rec_raw r;

	/* one base's bytes are there; the count says none */
	rec_raw(&r, 1);
	r.d[5] = 0;
	assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
}

/* Five bases, all present in the bytes: over the maximum of 4. */
static void
test_rec_five_bases_limit(void **state)
{
	struct rec_raw r, s;

	rec_raw(&r, 4);
	memcpy(s.d, r.d, REC_STREAM_OFF(4));
	s.len = REC_STREAM_OFF(4);
	memcpy(s.d + s.len, r.d + REC_STREAM_OFF(3), KL_DELTA_REC_BASE_LEN);
	s.len += KL_DELTA_REC_BASE_LEN;
	memcpy(s.d + s.len, rec_stream.d, rec_stream.len);
	s.len += rec_stream.len;
	s.d[5] = 5;
	assert_int_equal(rec_rc(&s), KL_E_LIMIT);
	s.d[5] = 255;
	assert_int_equal(rec_rc(&s), KL_E_LIMIT);
}

static void
test_rec_generation_zero_corrupt(void **state)
{
	struct rec_raw r;

	rec_raw(&r, 1);
	r.d[6] = 0;
	assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	r.d[6] = 255;
	assert_int_equal(rec_rc(&r), KL_OK);
	r.d[6] = 1;
	assert_int_equal(rec_rc(&r), KL_OK);
}

static void
test_rec_block_len_rules(void **state)
{
	static const uint32_t bad[] = { 0, 1, 128, 255, 257, 2047, 3000,
	    65535, 131072, 0x80000000u, 0xffffffffu };
	static const uint32_t good[] = { 256, 512, 2048, 4096, 65536 };
	struct rec_raw r;
	size_t i;

	rec_raw(&r, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kl_le32enc(r.d + 8, bad[i]);
		assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		kl_le32enc(r.d + 8, good[i]);
		assert_int_equal(rec_rc(&r), KL_OK);
	}
}

/* A length over its maximum is refused; which code is the decoder's
 * choice (KL_E_CORRUPT today, KL_E_LIMIT by format.h's general rule). */
static void
assert_over_max(int rc)
{
	assert_true(rc == KL_E_CORRUPT || rc == KL_E_LIMIT);
}

static void
test_rec_target_len_rules(void **state)
{
	struct rec_raw r;

	rec_raw(&r, 1);
	kl_le32enc(r.d + 12, 0);
	assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	kl_le32enc(r.d + 12, KL_DELTA_TARGET_MAX + 1);
	assert_over_max(rec_rc(&r));
	kl_le32enc(r.d + 12, 0xffffffffu);
	assert_over_max(rec_rc(&r));
	kl_le32enc(r.d + 12, KL_DELTA_TARGET_MAX);
	assert_int_equal(rec_rc(&r), KL_OK);
	kl_le32enc(r.d + 12, 1);
	assert_int_equal(rec_rc(&r), KL_OK);
}

static void
test_rec_base_len_rules(void **state)
{
	struct rec_raw r;
	size_t i, at;

	for (i = 0; i < 4; i++) {
		rec_raw(&r, 4);
		at = KL_DELTA_REC_HDR_LEN + i * KL_DELTA_REC_BASE_LEN + 32;
		kl_le32enc(r.d + at, 0);
		assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
		kl_le32enc(r.d + at, KL_DELTA_TARGET_MAX + 1);
		assert_over_max(rec_rc(&r));
		kl_le32enc(r.d + at, KL_DELTA_TARGET_MAX);
		assert_int_equal(rec_rc(&r), KL_OK);
		kl_le32enc(r.d + at, 1);
		assert_int_equal(rec_rc(&r), KL_OK);
	}
}

static void
test_rec_stream_needs_delta_magic(void **state)
{
	struct rec_raw r;
	size_t at = REC_STREAM_OFF(1), i;

	for (i = 0; i < 4; i++) {
		rec_raw(&r, 1);
		r.d[at + i] ^= 0x01;
		assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	}
	rec_raw(&r, 1);
	be32enc(r.d + at, SIG_MAGIC);
	assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	for (i = 0; i < 4; i++) {
		rec_raw(&r, 1);
		r.len = at + i;		/* a stream of 0..3 bytes */
		assert_int_equal(rec_rc(&r), KL_E_CORRUPT);
	}
	rec_raw(&r, 1);
	r.len = at + 4;		/* the magic alone is a record, not a delta */
	assert_int_equal(rec_rc(&r), KL_OK);
}

/*
 * A record cut anywhere never makes a chunk: up to the stream's magic
 * the decoder refuses it; after that the stream (opaque to the codec,
 * ended by its own END command) is refused by kl_delta_apply.
 */
static void
test_rec_truncated_never_makes_a_chunk(void **state)
{
	struct kl_delta_base b = { NULL, REC_BASE_LEN };
	struct kl_delta_rec o;
	uint8_t out[REC_TARGET_LEN];
	struct rec_raw r;
	size_t len, full;

	rec_raw(&r, 1);
	full = r.len;
	b.p = rec_bases[0];
	assert_int_equal(kl_delta_rec_decode(r.d, full, &o), KL_OK);
	assert_int_equal(kl_delta_apply(&b, 1, o.block_len, o.delta,
	    o.delta_len, out, o.target_len), KL_OK);
	for (len = 0; len < full; len++) {
		if (kl_delta_rec_decode(r.d, len, &o) != KL_OK) {
			assert_true(len < REC_STREAM_OFF(1) + 4);
			continue;
		}
		assert_true(len >= REC_STREAM_OFF(1) + 4);
		assert_int_equal(kl_delta_apply(&b, 1, o.block_len, o.delta,
		    o.delta_len, out, o.target_len), KL_E_CORRUPT);
	}
}

static void
test_rec_over_blob_max_limit(void **state)
{
	uint8_t *p = calloc(1, KL_BLOB_RAW_MAX + 1);
	struct kl_delta_rec d, o;
	struct buf *b;

	assert_non_null(p);
	sample_rec(&d, 1);
	b = enc_rec(&d);
	memcpy(p, buf_data(b), buf_size(b));
	assert_int_equal(kl_delta_rec_decode(p, KL_BLOB_RAW_MAX + 1, &o),
	    KL_E_LIMIT);
	assert_int_equal(kl_delta_rec_decode(p, KL_BLOB_RAW_MAX, &o), KL_OK);
	assert_int_equal(o.delta_len, KL_BLOB_RAW_MAX - REC_STREAM_OFF(1));
	/* the encoder refuses what the decoder would */
	buf_reset(b);
	d.delta = p + REC_STREAM_OFF(1);
	d.delta_len = KL_BLOB_RAW_MAX - REC_STREAM_OFF(1) + 1;
	assert_int_equal(kl_delta_rec_encode(&d, b), KL_E_LIMIT);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
	free(p);
}

/* Encodes after "abc"; on failure the buffer is as it was. */
static int
rec_enc_rc(const struct kl_delta_rec *d)
{
	struct buf *b = new_buf();
	int rc;

	assert_int_equal(buf_put(b, "abc", 3), KL_OK);
	if ((rc = kl_delta_rec_encode(d, b)) != KL_OK)
		assert_int_equal(buf_size(b), 3);
	buf_free(b);
	return rc;
}

/* One broken field of sample_rec(4) at a time. */
static void
rec_enc_refused(const struct kl_delta_rec *d, int want)
{
	assert_int_equal(rec_enc_rc(d), want);
}

static void
assert_enc_over_max(int rc)
{
	assert_true(rc == KL_E_INVAL || rc == KL_E_LIMIT);
}

static void
test_rec_encode_checks_every_field(void **state)
{
	static const uint8_t sig[] = { 0x72, 0x73, 0x01, 0x47, 0 };
	struct kl_delta_rec d;
	int i;

	sample_rec(&d, 4);
	d.nbases = 0;
	rec_enc_refused(&d, KL_E_INVAL);
	d.nbases = 5;
	rec_enc_refused(&d, KL_E_LIMIT);
	sample_rec(&d, 4);
	d.gen = 0;
	rec_enc_refused(&d, KL_E_INVAL);
	sample_rec(&d, 4);
	d.block_len = 3000;
	rec_enc_refused(&d, KL_E_INVAL);
	d.block_len = 128;
	rec_enc_refused(&d, KL_E_INVAL);
	d.block_len = 131072;
	rec_enc_refused(&d, KL_E_INVAL);
	sample_rec(&d, 4);
	d.target_len = 0;
	rec_enc_refused(&d, KL_E_INVAL);
	d.target_len = KL_DELTA_TARGET_MAX + 1;
	assert_enc_over_max(rec_enc_rc(&d));
	for (i = 0; i < 4; i++) {
		sample_rec(&d, 4);
		d.base_lens[i] = 0;
		rec_enc_refused(&d, KL_E_INVAL);
		d.base_lens[i] = KL_DELTA_TARGET_MAX + 1;
		assert_enc_over_max(rec_enc_rc(&d));
	}
	sample_rec(&d, 4);
	d.delta = NULL;
	rec_enc_refused(&d, KL_E_INVAL);
	d.delta = sig;
	d.delta_len = sizeof(sig);
	rec_enc_refused(&d, KL_E_INVAL);
	d.delta = rec_stream.d;
	d.delta_len = 3;
	rec_enc_refused(&d, KL_E_INVAL);
	d.delta_len = 0;
	rec_enc_refused(&d, KL_E_INVAL);
}

static void
ref_of(const struct kl_delta_rec *d, struct kl_delta_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	ref->index = 7;
	ref->len = d->target_len;
	ref->gen = d->gen;
	ref->nbases = d->nbases;
	id_fill(&ref->delta, 0x99);
	memcpy(ref->bases, d->bases, sizeof(ref->bases));
}

static void
test_rec_match_accepts_its_ref(void **state)
{
	struct kl_delta_ref ref;
	struct kl_delta_rec d;

	sample_rec(&d, 4);
	ref_of(&d, &ref);
	assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target), KL_OK);
	sample_rec(&d, 1);
	ref_of(&d, &ref);
	assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target), KL_OK);
}

static void
test_rec_match_rejects_each_field(void **state)
{
	struct kl_delta_ref ref;
	struct kl_delta_rec d;
	struct kl_id other;
	int i;

	sample_rec(&d, 4);
	other = d.target;
	other.b[31] ^= 1;
	ref_of(&d, &ref);
	assert_int_equal(kl_delta_rec_match(&d, &ref, &other), KL_E_CORRUPT);
	ref.len++;
	assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target),
	    KL_E_CORRUPT);
	ref_of(&d, &ref);
	ref.gen++;
	assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target),
	    KL_E_CORRUPT);
	ref_of(&d, &ref);
	ref.nbases = 3;
	assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target),
	    KL_E_CORRUPT);
	for (i = 0; i < 4; i++) {
		ref_of(&d, &ref);
		ref.bases[i].b[0] ^= 0x80;
		assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target),
		    KL_E_CORRUPT);
	}
	ref_of(&d, &ref);	/* the same bases in another order */
	ref.bases[0] = d.bases[1];
	ref.bases[1] = d.bases[0];
	assert_int_equal(kl_delta_rec_match(&d, &ref, &d.target),
	    KL_E_CORRUPT);
}

/* ---- mutation ---- */

struct rec_mut {
	int mismatch;
	int applied;
};

/*
 * A record as a reader takes it: decode; what passes re-encodes to the
 * same bytes and is applied to bases of the stated lengths (the record's
 * own bases, cut or zero-extended).  Returns the first error.
 */
static int
mut_rec(const uint8_t *p, size_t len, void *arg)
{
	struct kl_delta_base b[KL_DELTA_REF_BASES_MAX];
	struct rec_mut *m = arg;
	struct kl_delta_rec d;
	struct buf *e;
	uint8_t *out;
	size_t i, n;
	int r;

	if ((r = kl_delta_rec_decode(p, len, &d)) != KL_OK)
		return r;
	e = new_buf();
	assert_int_equal(kl_delta_rec_encode(&d, e), KL_OK);
	if (buf_size(e) != len || memcmp(buf_data(e), p, len) != 0)
		m->mismatch++;
	buf_free(e);
	for (i = 0; i < d.nbases; i++) {
		uint8_t *q = calloc(1, d.base_lens[i]);

		assert_non_null(q);
		n = d.base_lens[i] < REC_BASE_LEN ? d.base_lens[i] :
		    REC_BASE_LEN;
		memcpy(q, rec_bases[i], n);
		b[i].p = q;
		b[i].len = d.base_lens[i];
	}
	out = malloc(d.target_len);
	assert_non_null(out);
	r = kl_delta_apply(b, d.nbases, d.block_len, d.delta, d.delta_len,
	    out, d.target_len);
	assert_true(r == KL_OK || r == KL_E_CORRUPT);
	m->applied += r == KL_OK;
	for (i = 0; i < d.nbases; i++)
		free((void *)(uintptr_t)b[i].p);
	free(out);
	return r;
}

static void
rec_mutate_bits(uint8_t nbases)
{
	struct rec_mut m = { 0, 0 };
	size_t flips_ok = 0;
	struct rec_raw r;

	rec_raw(&r, nbases);
	assert_int_equal(mut_rec(r.d, r.len, &m), KL_OK);
	assert_int_equal(mutate_run(r.d, r.len, mut_rec, &m, &flips_ok), 0);
	assert_int_equal(m.mismatch, 0);
	assert_true(flips_ok > 0);	/* ids, free lengths, literal bytes */
	assert_true(flips_ok < r.len * 8);
}

static void
test_rec_mutate_bit_flips_and_truncations(void **state)
{
	rec_mutate_bits(1);
	rec_mutate_bits(4);
}

/* Every byte set to every other value: decodes to a record that
 * re-encodes to the mutated bytes, or is refused. */
static void
rec_mutate_values(uint8_t nbases)
{
	struct rec_mut m = { 0, 0 };
	struct rec_raw r;
	uint8_t orig;
	size_t i;
	int v;

	rec_raw(&r, nbases);
	for (i = 0; i < r.len; i++) {
		orig = r.d[i];
		for (v = 0; v < 256; v++) {
			if (v == orig)
				continue;
			r.d[i] = (uint8_t)v;
			(void)mut_rec(r.d, r.len, &m);
		}
		r.d[i] = orig;
	}
	assert_int_equal(m.mismatch, 0);
	assert_true(m.applied > 0);
}

static void
test_rec_mutate_every_byte_value(void **state)
{
	rec_mutate_values(1);
	rec_mutate_values(4);
}

/* ======================= tree delta entries (§11) ======================= */

static struct kl_id node_chunks[200];
static struct kl_delta_ref node_deltas[100];

static void
base_node(struct kl_node *n, const char *name, uint8_t type)
{
	memset(n, 0, sizeof(*n));
	n->name = (uint8_t *)(uintptr_t)name;
	n->name_len = strlen(name);
	n->type = type;
	n->mode = 0644;
	n->uid = 1000;
	n->gid = 100;
	n->user = "alice";
	n->group = "users";
	n->mtime.s = 1600000000;
	n->nlink = 1;
	n->target = "";
}

static void
delta_ref(struct kl_delta_ref *d, uint32_t index, uint8_t nbases,
    uint8_t seed)
{
	uint8_t i;

	memset(d, 0, sizeof(*d));
	d->index = index;
	d->len = 1000000 + index;
	d->gen = (uint8_t)(seed + 1);
	d->nbases = nbases;
	id_fill(&d->delta, seed);
	for (i = 0; i < nbases; i++)
		id_fill(&d->bases[i], (uint8_t)(seed + 0x10 * (i + 1)));
}

/* A file of 5 chunks, chunk 1 a delta against 1 base, chunk 3 against 4
 * (static storage). */
static void
delta_file(struct kl_node *n)
{
	size_t i;

	base_node(n, "db", KL_NODE_FILE);
	n->size = 5000000;
	for (i = 0; i < 5; i++)
		id_fill(&node_chunks[i], (uint8_t)(0xc0 + i));
	n->chunks = node_chunks;
	n->nchunks = 5;
	delta_ref(&node_deltas[0], 1, 1, 0x31);
	delta_ref(&node_deltas[1], 3, 4, 0x61);
	n->deltas = node_deltas;
	n->ndeltas = 2;
}

static void
assert_deltas_eq(const struct kl_node *a, const struct kl_node *b)
{
	size_t i;

	assert_int_equal(a->ndeltas, b->ndeltas);
	for (i = 0; i < a->ndeltas; i++) {
		const struct kl_delta_ref *x = &a->deltas[i], *y = &b->deltas[i];

		assert_int_equal(x->index, y->index);
		assert_int_equal(x->len, y->len);
		assert_int_equal(x->gen, y->gen);
		assert_int_equal(x->nbases, y->nbases);
		assert_memory_equal(x->delta.b, y->delta.b, KL_ID_LEN);
		assert_memory_equal(x->bases, y->bases,
		    x->nbases * sizeof(x->bases[0]));
	}
}

static void
assert_content_eq(const struct kl_node *a, const struct kl_node *b)
{
	assert_int_equal(a->nchunks, b->nchunks);
	assert_memory_equal(a->chunks, b->chunks,
	    a->nchunks * sizeof(a->chunks[0]));
	assert_deltas_eq(a, b);
}

static struct buf *
enc_node(const struct kl_node *n)
{
	struct kl_tree t = { (struct kl_node *)(uintptr_t)n, 1 };
	struct buf *b = new_buf();

	assert_int_equal(kl_tree_encode(&t, b), KL_OK);
	return b;
}

/* Offset of the flags byte of the first node: tree head (12), name
 * (str16), type. */
static size_t
flags_at(const struct kl_node *n)
{
	return 12 + 2 + n->name_len + 1;
}

/* The deltas of delta_file (count and both entries), as encoded. */
#define DELTAS_LEN (4 + 2 * (10 + KL_ID_LEN) + 5 * KL_ID_LEN)

static void
test_tree_deltas_round_trip(void **state)
{
	struct kl_tree t = { NULL, 0 };
	struct kl_node n;
	struct buf *b;

	delta_file(&n);
	b = enc_node(&n);
	assert_int_equal(kl_tree_decode(buf_data(b), buf_size(b), &t), KL_OK);
	assert_int_equal(t.n, 1);
	assert_content_eq(&n, &t.nodes[0]);
	assert_int_equal(t.nodes[0].size, n.size);
	kl_tree_clear(&t);
	buf_free(b);
}

static void
test_tree_flag_bit_only_with_deltas(void **state)
{
	struct kl_node n;
	struct buf *b;

	delta_file(&n);
	b = enc_node(&n);
	assert_int_equal(buf_data(b)[flags_at(&n)], 1);
	buf_free(b);
	n.ndeltas = 0;
	b = enc_node(&n);
	assert_int_equal(buf_data(b)[flags_at(&n)], 0);
	buf_free(b);
	n.deltas = NULL;
	b = enc_node(&n);
	assert_int_equal(buf_data(b)[flags_at(&n)], 0);
	buf_free(b);
}

/* §11: the deltas follow the chunk ids, before the subtree: u32 count,
 * then index, length (u32), generation, base count (u8), delta id and
 * the base ids; the entry without them is that much shorter. */
static void
test_tree_deltas_layout(void **state)
{
	uint8_t want[DELTAS_LEN], *p = want;
	struct kl_node n;
	struct buf *with, *without;
	size_t i, j, tail;

	delta_file(&n);
	with = enc_node(&n);
	n.ndeltas = 0;
	without = enc_node(&n);
	n.ndeltas = 2;
	kl_le32enc(p, 2);
	p += 4;
	for (i = 0; i < 2; i++) {
		kl_le32enc(p, node_deltas[i].index);
		kl_le32enc(p + 4, node_deltas[i].len);
		p[8] = node_deltas[i].gen;
		p[9] = node_deltas[i].nbases;
		memcpy(p + 10, node_deltas[i].delta.b, KL_ID_LEN);
		p += 10 + KL_ID_LEN;
		for (j = 0; j < node_deltas[i].nbases; j++, p += KL_ID_LEN)
			memcpy(p, node_deltas[i].bases[j].b, KL_ID_LEN);
	}
	tail = (size_t)(p - want);
	assert_int_equal(tail, sizeof(want));
	assert_int_equal(buf_size(with), buf_size(without) + tail);
	/* everything before the subtree is the same but the flag, then the
	 * deltas */
	assert_memory_equal(buf_data(with), buf_data(without), flags_at(&n));
	assert_memory_equal(buf_data(with) + flags_at(&n) + 1,
	    buf_data(without) + flags_at(&n) + 1,
	    buf_size(without) - KL_ID_LEN - flags_at(&n) - 1);
	assert_memory_equal(buf_data(with) + buf_size(without) - KL_ID_LEN,
	    want, tail);
	buf_free(with);
	buf_free(without);
}

static void
test_node_valid_accepts_delta_bounds(void **state)
{
	struct kl_node n;
	uint32_t i;

	delta_file(&n);
	assert_int_equal(kl_node_valid(&n), KL_OK);
	for (i = 0; i < 5; i++)		/* every chunk a delta */
		delta_ref(&node_deltas[i], i, (uint8_t)(i % 4 + 1),
		    (uint8_t)i);
	n.ndeltas = 5;
	assert_int_equal(kl_node_valid(&n), KL_OK);
	node_deltas[0].len = 1;
	node_deltas[0].gen = 1;
	node_deltas[4].len = KL_DELTA_TARGET_MAX;
	node_deltas[4].gen = 255;
	assert_int_equal(kl_node_valid(&n), KL_OK);
}

static void
test_node_valid_deltas_only_on_files(void **state)
{
	static const uint8_t types[] = { KL_NODE_DIR, KL_NODE_SYMLINK,
	    KL_NODE_CHR, KL_NODE_BLK, KL_NODE_FIFO, KL_NODE_SOCK };
	struct kl_node n;
	size_t i;

	for (i = 0; i < sizeof(types); i++) {
		base_node(&n, "x", types[i]);
		if (types[i] == KL_NODE_DIR)
			id_fill(&n.subtree, 1);
		if (types[i] == KL_NODE_SYMLINK) {
			n.target = "t";
			n.size = 1;
		}
		assert_int_equal(kl_node_valid(&n), KL_OK);
		delta_ref(&node_deltas[0], 0, 1, 1);
		n.deltas = node_deltas;
		n.ndeltas = 1;
		assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	}
}

static void
test_node_valid_delta_index_rules(void **state)
{
	struct kl_node n;

	delta_file(&n);
	node_deltas[1].index = 5;		/* = nchunks */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	node_deltas[1].index = UINT32_MAX;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	node_deltas[1].index = 1;		/* equal */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	node_deltas[1].index = 0;		/* decreasing */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	node_deltas[1].index = 2;
	assert_int_equal(kl_node_valid(&n), KL_OK);
	n.nchunks = 2;				/* index 2 >= nchunks */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	n.nchunks = 1;				/* ndeltas > nchunks */
	node_deltas[0].index = 0;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	n.nchunks = 0;
	n.chunks = NULL;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	delta_file(&n);
	n.deltas = NULL;			/* a count without entries */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_delta_field_rules(void **state)
{
	struct kl_node n;
	size_t i;

	for (i = 0; i < 2; i++) {
		delta_file(&n);
		node_deltas[i].len = 0;
		assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
		delta_file(&n);
		node_deltas[i].len = KL_DELTA_TARGET_MAX + 1;
		assert_over_max(kl_node_valid(&n));
		delta_file(&n);
		node_deltas[i].gen = 0;
		assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
		delta_file(&n);
		node_deltas[i].nbases = 0;
		assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
		delta_file(&n);
		node_deltas[i].nbases = 5;
		assert_over_max(kl_node_valid(&n));
	}
}

/* The encoder runs the same rules. */
static void
test_tree_encode_bad_deltas_inval(void **state)
{
	struct kl_tree t = { NULL, 1 };
	struct kl_node n;
	struct buf *b = new_buf();

	delta_file(&n);
	t.nodes = &n;
	node_deltas[1].gen = 0;
	assert_int_equal(kl_tree_encode(&t, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	delta_file(&n);
	node_deltas[1].index = 1;
	assert_int_equal(kl_tree_encode(&t, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
}

/* A tree of one node, editable: bytes before the subtree and it. */
struct tree_raw {
	uint8_t d[4096];
	size_t len;
};

static void
tree_raw(struct tree_raw *r, const struct kl_node *n)
{
	struct buf *b = enc_node(n);

	assert_true(buf_size(b) <= sizeof(r->d));
	memcpy(r->d, buf_data(b), buf_size(b));
	r->len = buf_size(b);
	buf_free(b);
}

/* Inserts p[0, len) before the node's last 32 bytes (its subtree). */
static void
tree_raw_insert(struct tree_raw *r, const void *p, size_t len)
{
	size_t at = r->len - KL_ID_LEN;

	assert_true(r->len + len <= sizeof(r->d));
	memmove(r->d + at + len, r->d + at, KL_ID_LEN);
	memcpy(r->d + at, p, len);
	r->len += len;
}

static int
tree_rc(const struct tree_raw *r)
{
	struct kl_tree t = { NULL, 0 };
	int rc = kl_tree_decode(r->d, r->len, &t);

	if (rc != KL_OK)
		assert_null(t.nodes);
	kl_tree_clear(&t);
	return rc;
}

static void
test_tree_decode_flag_with_zero_deltas_corrupt(void **state)
{
	static const uint8_t zero[4] = { 0 };
	struct tree_raw r;
	struct kl_node n;

	delta_file(&n);
	n.ndeltas = 0;
	tree_raw(&r, &n);
	assert_int_equal(tree_rc(&r), KL_OK);
	r.d[flags_at(&n)] = 1;
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);	/* no count at all */
	tree_raw_insert(&r, zero, sizeof(zero));
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
}

/* The entries are there, the flag is not: the bytes left over. */
static void
test_tree_decode_deltas_without_flag_corrupt(void **state)
{
	struct tree_raw r;
	struct kl_node n;

	delta_file(&n);
	tree_raw(&r, &n);
	r.d[flags_at(&n)] = 0;
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_decode_delta_count_exceeds_input_corrupt(void **state)
{
	static const uint32_t counts[] = { 3, 5, 6, 1000, UINT32_MAX };
	struct tree_raw r;
	struct kl_node n;
	size_t i, at;

	delta_file(&n);
	tree_raw(&r, &n);
	/* the count: after the 5 chunk ids, before the 2 entries */
	at = r.len - KL_ID_LEN - DELTAS_LEN;
	assert_int_equal(kl_le32dec(r.d + at), 2);
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		kl_le32enc(r.d + at, counts[i]);
		assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
	}
	kl_le32enc(r.d + at, 1);	/* one entry, the rest left over */
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
}

/* Well-formed entries for more deltas than the node has chunks. */
static void
test_tree_decode_deltas_over_chunks_corrupt(void **state)
{
	struct tree_raw r, s;
	struct kl_node n;

	delta_file(&n);
	tree_raw(&r, &n);
	n.nchunks = 1;
	n.ndeltas = 0;
	tree_raw(&s, &n);
	s.d[flags_at(&n)] = 1;
	tree_raw_insert(&s, r.d + r.len - KL_ID_LEN - DELTAS_LEN, DELTAS_LEN);
	assert_int_equal(tree_rc(&s), KL_E_CORRUPT);	/* 2 deltas, 1 chunk */
	n.nchunks = 2;
	tree_raw(&s, &n);
	s.d[flags_at(&n)] = 1;
	tree_raw_insert(&s, r.d + r.len - KL_ID_LEN - DELTAS_LEN, DELTAS_LEN);
	assert_int_equal(tree_rc(&s), KL_E_CORRUPT);	/* index 3 of 2 */
	n.nchunks = 4;
	tree_raw(&s, &n);
	s.d[flags_at(&n)] = 1;
	tree_raw_insert(&s, r.d + r.len - KL_ID_LEN - DELTAS_LEN, DELTAS_LEN);
	assert_int_equal(tree_rc(&s), KL_OK);		/* index 3 of 4 */
}

/* A directory with the flag and one well-formed entry. */
static void
test_tree_decode_deltas_on_dir_corrupt(void **state)
{
	uint8_t e[4 + 10 + 2 * KL_ID_LEN];
	struct tree_raw r;
	struct kl_node d;

	base_node(&d, "db", KL_NODE_DIR);
	id_fill(&d.subtree, 0xd0);
	tree_raw(&r, &d);
	assert_int_equal(tree_rc(&r), KL_OK);
	r.d[flags_at(&d)] = 1;
	kl_le32enc(e, 1);
	kl_le32enc(e + 4, 0);
	kl_le32enc(e + 8, 100);
	e[12] = 1;
	e[13] = 1;
	memset(e + 14, 0x11, 2 * KL_ID_LEN);
	tree_raw_insert(&r, e, sizeof(e));
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
}

/* The base count of an entry on the wire: 0 corrupt, over 4 refused
 * before the (absent) bases are read. */
static void
test_tree_decode_delta_base_count_rules(void **state)
{
	struct tree_raw r;
	struct kl_node n;
	size_t at;

	delta_file(&n);
	tree_raw(&r, &n);
	/* entry 1 (4 bases) starts 10 + 5 ids before the subtree */
	at = r.len - KL_ID_LEN - (10 + 5 * KL_ID_LEN);
	assert_int_equal(kl_le32dec(r.d + at), 3);
	assert_int_equal(r.d[at + 9], 4);
	r.d[at + 9] = 0;
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
	r.d[at + 9] = 5;
	assert_over_max(tree_rc(&r));
	r.d[at + 9] = 255;
	assert_over_max(tree_rc(&r));
	r.d[at + 9] = 3;	/* one base id left over */
	assert_int_equal(tree_rc(&r), KL_E_CORRUPT);
	r.d[at + 9] = 4;
	assert_int_equal(tree_rc(&r), KL_OK);
}

static int
mut_tree(const uint8_t *p, size_t len, void *arg)
{
	struct kl_tree t = { NULL, 0 };
	int *mismatch = arg;
	struct buf *b;
	int r;

	if ((r = kl_tree_decode(p, len, &t)) != KL_OK) {
		assert_null(t.nodes);
		return r;
	}
	b = new_buf();
	assert_int_equal(kl_tree_encode(&t, b), KL_OK);
	if (buf_size(b) != len || memcmp(buf_data(b), p, len) != 0)
		(*mismatch)++;
	buf_free(b);
	kl_tree_clear(&t);
	return r;
}

static void
test_tree_deltas_mutation(void **state)
{
	size_t flips_ok = 0;
	struct tree_raw r;
	struct kl_node n;
	int mismatch = 0;

	delta_file(&n);
	tree_raw(&r, &n);
	assert_int_equal(mutate_run(r.d, r.len, mut_tree, &mismatch,
	    &flips_ok), 0);
	assert_int_equal(mismatch, 0);
	assert_true(flips_ok < r.len * 8);
}

/* A decoded node (heap storage) of delta_file. */
static void
decoded_file(struct kl_tree *t)
{
	struct kl_node n;
	struct buf *b;

	delta_file(&n);
	b = enc_node(&n);
	memset(t, 0, sizeof(*t));
	assert_int_equal(kl_tree_decode(buf_data(b), buf_size(b), t), KL_OK);
	buf_free(b);
}

/* Freeing the source leaves the copy whole (ASan would see a shared
 * array used after free or freed twice). */
static void
test_node_copy_copies_deltas(void **state)
{
	struct kl_node want, c;
	struct kl_tree t;

	delta_file(&want);
	decoded_file(&t);
	memset(&c, 0, sizeof(c));
	assert_int_equal(kl_node_copy(&t.nodes[0], &c), KL_OK);
	assert_ptr_not_equal(c.deltas, t.nodes[0].deltas);
	kl_tree_clear(&t);
	assert_content_eq(&want, &c);
	assert_int_equal(kl_node_valid(&c), KL_OK);
	kl_node_clear(&c);
	assert_null(c.deltas);
	assert_int_equal(c.ndeltas, 0);
}

static void
test_node_content_copy_copies_deltas(void **state)
{
	struct kl_node want, dst, empty;
	struct kl_tree t, u;

	delta_file(&want);
	decoded_file(&t);
	decoded_file(&u);	/* dst holds arrays of its own, to be freed */
	dst = u.nodes[0];
	memset(&u.nodes[0], 0, sizeof(u.nodes[0]));
	kl_tree_clear(&u);
	dst.deltas[0].gen = 99;
	assert_int_equal(kl_node_content_copy(&dst, &t.nodes[0]), KL_OK);
	assert_ptr_not_equal(dst.deltas, t.nodes[0].deltas);
	assert_ptr_not_equal(dst.chunks, t.nodes[0].chunks);
	kl_tree_clear(&t);
	assert_content_eq(&want, &dst);
	/* a source without deltas leaves none */
	base_node(&empty, "e", KL_NODE_FILE);
	assert_int_equal(kl_node_content_copy(&dst, &empty), KL_OK);
	assert_int_equal(dst.ndeltas, 0);
	assert_null(dst.deltas);
	assert_int_equal(dst.nchunks, 0);
	kl_node_clear(&dst);
}

static void
test_node_delta_finds_entries_by_chunk(void **state)
{
	const struct kl_delta_ref *d;
	struct kl_node n;
	size_t i;

	delta_file(&n);
	for (i = 0; i < 8; i++) {
		d = kl_node_delta(&n, i);
		if (i == 1 || i == 3) {
			assert_ptr_equal(d, &node_deltas[i == 1 ? 0 : 1]);
			assert_int_equal(d->index, i);
		} else
			assert_null(d);
	}
	assert_null(kl_node_delta(&n, SIZE_MAX));
	n.ndeltas = 0;
	n.deltas = NULL;
	assert_null(kl_node_delta(&n, 1));
}

/* 100 entries on the even chunks of 200: each found, no odd one. */
static void
test_node_delta_many_entries(void **state)
{
	const struct kl_delta_ref *d;
	struct kl_node n;
	size_t i;

	base_node(&n, "big", KL_NODE_FILE);
	for (i = 0; i < 200; i++)
		id_fill(&node_chunks[i], (uint8_t)i);
	for (i = 0; i < 100; i++)
		delta_ref(&node_deltas[i], (uint32_t)(2 * i), 1, (uint8_t)i);
	n.chunks = node_chunks;
	n.nchunks = 200;
	n.deltas = node_deltas;
	n.ndeltas = 100;
	n.size = 200;
	assert_int_equal(kl_node_valid(&n), KL_OK);
	for (i = 0; i < 201; i++) {
		d = kl_node_delta(&n, i);
		if (i % 2 == 0 && i < 200) {
			assert_non_null(d);
			assert_int_equal(d->index, i);
		} else
			assert_null(d);
	}
}

/* What kl_node_blobs reports, in order. */
struct blobs_seen {
	struct kl_id id[32];
	uint8_t type[32];
	size_t n, stop_at;
};

static int
blob_seen(void *arg, const struct kl_id *id, uint8_t type)
{
	struct blobs_seen *s = arg;

	assert_true(s->n < 32);
	s->id[s->n] = *id;
	s->type[s->n] = type;
	if (++s->n == s->stop_at)
		return 42;
	return 0;
}

static void
assert_blob(const struct blobs_seen *s, size_t i, const struct kl_id *id,
    uint8_t type)
{
	assert_memory_equal(s->id[i].b, id->b, KL_ID_LEN);
	assert_int_equal(s->type[i], type);
}

/* Chunk by chunk: a data blob, or the delta blob and then its bases. */
static void
test_node_blobs_names_delta_blobs_and_bases(void **state)
{
	struct blobs_seen s;
	struct kl_node n;
	size_t i, at = 0;
	uint8_t j;

	delta_file(&n);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kl_node_blobs(&n, blob_seen, &s), 0);
	for (i = 0; i < 5; i++) {
		const struct kl_delta_ref *d = kl_node_delta(&n, i);

		if (d == NULL) {
			assert_blob(&s, at++, &node_chunks[i],
			    KL_BLOB_TYPE_DATA);
			continue;
		}
		assert_blob(&s, at++, &d->delta, KL_BLOB_TYPE_DELTA);
		for (j = 0; j < d->nbases; j++)
			assert_blob(&s, at++, &d->bases[j], KL_BLOB_TYPE_DATA);
	}
	assert_int_equal(s.n, at);
	assert_int_equal(at, 3 + 2 + 5);
}

static void
test_node_blobs_stops_at_first_refusal(void **state)
{
	struct blobs_seen s;
	struct kl_node n;
	size_t stop;

	delta_file(&n);
	for (stop = 1; stop <= 10; stop++) {
		memset(&s, 0, sizeof(s));
		s.stop_at = stop;
		assert_int_equal(kl_node_blobs(&n, blob_seen, &s), 42);
		assert_int_equal(s.n, stop);
	}
}

/* ======================= vector (delta_v1.txt) ======================= */

/* "name = hex" of the vectors file; *p malloc()ed.  Lines are long. */
static int
vec_get(const char *name, uint8_t **p, size_t *len)
{
	FILE *f = fopen(VECTORS_FILE, "r");
	size_t nl = strlen(name), cap = 0, i, n;
	char *line = NULL, *v;
	unsigned x;
	int r = -1;

	if (f == NULL)
		return -1;
	while (r != 0 && getline(&line, &cap, f) != -1) {
		if (strncmp(line, name, nl) != 0 ||
		    strncmp(line + nl, " = ", 3) != 0)
			continue;
		v = line + nl + 3;
		n = strcspn(v, "\r\n") / 2;
		assert_non_null(*p = malloc(n + 1));
		for (i = 0; i < n; i++) {
			assert_int_equal(sscanf(v + 2 * i, "%2x", &x), 1);
			(*p)[i] = (uint8_t)x;
		}
		*len = n;
		r = 0;
	}
	free(line);
	fclose(f);
	return r;
}

/* Compares with the stored vector; prints the value when it is missing
 * (how the file was first written). */
static void
vec_check(const char *name, const uint8_t *p, size_t len)
{
	uint8_t *v = NULL;
	size_t vl = 0, i;

	if (vec_get(name, &v, &vl) != 0) {
		fprintf(stderr, "%s = ", name);
		for (i = 0; i < len; i++)
			fprintf(stderr, "%02x", p[i]);
		fprintf(stderr, "\n");
		fail_msg("vector %s missing from %s", name, VECTORS_FILE);
	}
	assert_int_equal(vl, len);
	assert_memory_equal(v, p, len);
	free(v);
}

static uint8_t *
vec_need(const char *name, size_t *len)
{
	uint8_t *v = NULL;

	if (vec_get(name, &v, len) != 0)
		fail_msg("vector %s missing from %s", name, VECTORS_FILE);
	return v;
}

/* The vector's inputs, as delta_v1.txt states them. */
#define V_B0_LEN 5000
#define V_B1_LEN 3000
#define V_T_LEN (V_B0_LEN + V_B1_LEN)
#define V_FLIP_AT 2100
#define V_FLIP_LEN 16

struct vec {
	uint8_t b0[V_B0_LEN], b1[V_B1_LEN], t[V_T_LEN];
	struct kl_delta_base bases[2];
	struct kl_keys *k;
};

static struct vec *
vec_new(void)
{
	struct vec *v = calloc(1, sizeof(*v));
	size_t i;

	assert_non_null(v);
	fill(v->b0, V_B0_LEN, 1);
	fill(v->b1, V_B1_LEN, 2);
	memcpy(v->t, v->b0, V_B0_LEN);
	memcpy(v->t + V_B0_LEN, v->b1, V_B1_LEN);
	for (i = 0; i < V_FLIP_LEN; i++)
		v->t[V_FLIP_AT + i] ^= 0xff;
	v->bases[0].p = v->b0;
	v->bases[0].len = V_B0_LEN;
	v->bases[1].p = v->b1;
	v->bases[1].len = V_B1_LEN;
	assert_int_equal(kl_keys_new(&v->k), KL_OK);
	for (i = 0; i < KL_KEY_LEN; i++)
		v->k->id_key[i] = (uint8_t)i;
	return v;
}

static void
vec_free(struct vec *v)
{
	kl_keys_free(v->k);
	free(v);
}

static void
test_vector_inputs(void **state)
{
	struct vec *v = vec_new();
	struct kl_id id;

	vec_check("base0", v->b0, V_B0_LEN);
	vec_check("base1", v->b1, V_B1_LEN);
	vec_check("target", v->t, V_T_LEN);
	vec_check("id_key", v->k->id_key, KL_KEY_LEN);
	kl_blob_id(v->k, v->b0, V_B0_LEN, &id);
	vec_check("base0_id", id.b, KL_ID_LEN);
	kl_blob_id(v->k, v->b1, V_B1_LEN, &id);
	vec_check("base1_id", id.b, KL_ID_LEN);
	kl_blob_id(v->k, v->t, V_T_LEN, &id);
	vec_check("target_id", id.b, KL_ID_LEN);
	vec_free(v);
}

/* The record decodes to what the file states, its id is the keyed
 * BLAKE2b of its bytes, and its delta applied to the bases makes the
 * target, whose id is the target id. */
static void
test_vector_record_makes_target(void **state)
{
	struct vec *v = vec_new();
	uint8_t *rec, *stream, out[V_T_LEN];
	struct kl_delta_rec d;
	struct kl_id id, want;
	size_t rl, sl;

	rec = vec_need("record", &rl);
	stream = vec_need("stream", &sl);
	assert_int_equal(kl_delta_rec_decode(rec, rl, &d), KL_OK);
	assert_int_equal(d.nbases, 2);
	assert_int_equal(d.gen, 1);
	assert_int_equal(d.block_len, BLOCK);
	assert_int_equal(d.target_len, V_T_LEN);
	assert_int_equal(d.base_lens[0], V_B0_LEN);
	assert_int_equal(d.base_lens[1], V_B1_LEN);
	kl_blob_id(v->k, v->b0, V_B0_LEN, &id);
	assert_memory_equal(d.bases[0].b, id.b, KL_ID_LEN);
	kl_blob_id(v->k, v->b1, V_B1_LEN, &id);
	assert_memory_equal(d.bases[1].b, id.b, KL_ID_LEN);
	kl_blob_id(v->k, v->t, V_T_LEN, &id);
	assert_memory_equal(d.target.b, id.b, KL_ID_LEN);
	assert_int_equal(d.delta_len, sl);
	assert_memory_equal(d.delta, stream, sl);
	assert_int_equal(kl_delta_apply(v->bases, 2, d.block_len, d.delta,
	    d.delta_len, out, d.target_len), KL_OK);
	assert_memory_equal(out, v->t, V_T_LEN);
	kl_blob_id(v->k, out, V_T_LEN, &id);
	assert_memory_equal(id.b, d.target.b, KL_ID_LEN);
	kl_blob_id(v->k, rec, rl, &id);
	vec_check("record_id", id.b, KL_ID_LEN);
	/* and not the id of the record under another key */
	v->k->id_key[0] ^= 1;
	kl_blob_id(v->k, rec, rl, &want);
	assert_memory_not_equal(want.b, id.b, KL_ID_LEN);
	free(stream);
	free(rec);
	vec_free(v);
}

/* librsync's delta is deterministic: kl_delta_make (from the bases'
 * signatures) makes the stored stream byte for byte, and the encoder the
 * stored record. */
static void
test_vector_make_reproduces_stream_and_record(void **state)
{
	struct vec *v = vec_new();
	struct kl_delta_rec d;
	struct buf *s = NULL, *r;
	uint8_t i;

	assert_int_equal(make(v->bases, 2, v->t, V_T_LEN, MAX_FOR(V_T_LEN),
	    &s), KL_OK);
	vec_check("stream", buf_data(s), buf_size(s));
	memset(&d, 0, sizeof(d));
	d.gen = 1;
	d.nbases = 2;
	d.block_len = BLOCK;
	d.target_len = V_T_LEN;
	kl_blob_id(v->k, v->t, V_T_LEN, &d.target);
	for (i = 0; i < 2; i++) {
		kl_blob_id(v->k, v->bases[i].p, v->bases[i].len, &d.bases[i]);
		d.base_lens[i] = (uint32_t)v->bases[i].len;
	}
	d.delta = buf_data(s);
	d.delta_len = buf_size(s);
	r = enc_rec(&d);
	vec_check("record", buf_data(r), buf_size(r));
	buf_free(r);
	buf_free(s);
	vec_free(v);
}

/* The stream copies base 1 from offset 6144: base 0 (5000 bytes) padded
 * to 3 blocks. */
static void
test_vector_stream_addresses_padded_stream(void **state)
{
	uint8_t *stream;
	size_t sl, pos = 4;
	struct cmd c;
	int seen = 0;

	stream = vec_need("stream", &sl);
	while (cmd_next(stream, sl, &pos, &c) == 0)
		if (c.op >= CMD_COPY_N1_N1 && c.op <= CMD_COPY_N8_N8 &&
		    c.off == 3 * BLOCK)
			seen = 1;
	assert_true(seen);
	free(stream);
}

static int
setup(void **state)
{
	uint8_t i;

	(void)state;
	for (i = 0; i < KL_DELTA_REF_BASES_MAX; i++)
		if ((rec_bases[i] = gen(REC_BASE_LEN, 100u + i)) == NULL)
			return -1;
	return kl_crypto_init() == KL_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	uint8_t i;

	(void)state;
	for (i = 0; i < KL_DELTA_REF_BASES_MAX; i++)
		free(rec_bases[i]);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_sig_length_is_header_and_one_entry_per_block),
		cmocka_unit_test(test_sig_is_deterministic),
		cmocka_unit_test(test_sig_header_bytes),
		cmocka_unit_test(test_sig_entries_are_weak_and_strong_sums),
		cmocka_unit_test(test_sig_pads_last_block_with_zeros),
		cmocka_unit_test(test_sig_appends_to_out),
		cmocka_unit_test(test_sig_bad_length_inval),
		cmocka_unit_test(test_sig_out_full_limit),
		cmocka_unit_test(test_sig_check_accepts_own),
		cmocka_unit_test(test_sig_check_wrong_chunk_length_corrupt),
		cmocka_unit_test(test_sig_check_chunk_over_max_corrupt),
		cmocka_unit_test(test_sig_check_truncated_corrupt),
		cmocka_unit_test(test_sig_check_altered_header_corrupt),
		cmocka_unit_test(test_round_trip_scattered_overwrites),
		cmocka_unit_test(test_round_trip_insertion),
		cmocka_unit_test(test_round_trip_deletion),
		cmocka_unit_test(test_round_trip_append),
		cmocka_unit_test(test_round_trip_truncation),
		cmocka_unit_test(test_round_trip_identical),
		cmocka_unit_test(test_round_trip_unrelated),
		cmocka_unit_test(test_round_trip_one_byte_chunks),
		cmocka_unit_test(test_round_trip_target_of_base_and_padding),
		cmocka_unit_test(test_round_trip_two_bases),
		cmocka_unit_test(test_round_trip_three_bases),
		cmocka_unit_test(test_round_trip_four_bases),
		cmocka_unit_test(test_make_is_deterministic),
		cmocka_unit_test(test_make_appends_to_out),
		cmocka_unit_test(test_make_max_is_inclusive),
		cmocka_unit_test(test_make_max_too_small_limit),
		cmocka_unit_test(test_make_unrelated_target_half_limit),
		cmocka_unit_test(test_make_base_count_inval),
		cmocka_unit_test(test_make_bad_lengths_inval),
		cmocka_unit_test(test_make_signature_of_wrong_shape_inval),
		cmocka_unit_test(test_apply_every_truncation_corrupt),
		cmocka_unit_test(test_apply_trailing_bytes_corrupt),
		cmocka_unit_test(test_apply_out_len_off_by_one_corrupt),
		cmocka_unit_test(test_apply_to_shorter_base_corrupt),
		cmocka_unit_test(test_apply_copy_moved_past_stream_corrupt),
		cmocka_unit_test(test_apply_handmade_copy_and_literal),
		cmocka_unit_test(test_apply_copy_across_padding_and_bases),
		cmocka_unit_test(test_apply_block_len_sets_padding),
		cmocka_unit_test(test_apply_malformed_streams_corrupt),
		cmocka_unit_test(test_apply_bad_arguments_inval),
		cmocka_unit_test(test_rec_round_trip_one_base),
		cmocka_unit_test(test_rec_round_trip_four_bases),
		cmocka_unit_test(test_rec_layout_is_the_spec_table),
		cmocka_unit_test(test_rec_bad_magic_corrupt),
		cmocka_unit_test(test_rec_version_unsupported),
		cmocka_unit_test(test_rec_reserved_unsupported),
		cmocka_unit_test(test_rec_zero_bases_corrupt),
		cmocka_unit_test(test_rec_five_bases_limit),
		cmocka_unit_test(test_rec_generation_zero_corrupt),
		cmocka_unit_test(test_rec_block_len_rules),
		cmocka_unit_test(test_rec_target_len_rules),
		cmocka_unit_test(test_rec_base_len_rules),
		cmocka_unit_test(test_rec_stream_needs_delta_magic),
		cmocka_unit_test(test_rec_truncated_never_makes_a_chunk),
		cmocka_unit_test(test_rec_over_blob_max_limit),
		cmocka_unit_test(test_rec_encode_checks_every_field),
		cmocka_unit_test(test_rec_match_accepts_its_ref),
		cmocka_unit_test(test_rec_match_rejects_each_field),
		cmocka_unit_test(test_rec_mutate_bit_flips_and_truncations),
		cmocka_unit_test(test_rec_mutate_every_byte_value),
		cmocka_unit_test(test_tree_deltas_round_trip),
		cmocka_unit_test(test_tree_flag_bit_only_with_deltas),
		cmocka_unit_test(test_tree_deltas_layout),
		cmocka_unit_test(test_node_valid_accepts_delta_bounds),
		cmocka_unit_test(test_node_valid_deltas_only_on_files),
		cmocka_unit_test(test_node_valid_delta_index_rules),
		cmocka_unit_test(test_node_valid_delta_field_rules),
		cmocka_unit_test(test_tree_encode_bad_deltas_inval),
		cmocka_unit_test(test_tree_decode_flag_with_zero_deltas_corrupt),
		cmocka_unit_test(test_tree_decode_deltas_without_flag_corrupt),
		cmocka_unit_test(
		    test_tree_decode_delta_count_exceeds_input_corrupt),
		cmocka_unit_test(test_tree_decode_deltas_over_chunks_corrupt),
		cmocka_unit_test(test_tree_decode_deltas_on_dir_corrupt),
		cmocka_unit_test(test_tree_decode_delta_base_count_rules),
		cmocka_unit_test(test_tree_deltas_mutation),
		cmocka_unit_test(test_node_copy_copies_deltas),
		cmocka_unit_test(test_node_content_copy_copies_deltas),
		cmocka_unit_test(test_node_delta_finds_entries_by_chunk),
		cmocka_unit_test(test_node_delta_many_entries),
		cmocka_unit_test(test_node_blobs_names_delta_blobs_and_bases),
		cmocka_unit_test(test_node_blobs_stops_at_first_refusal),
		cmocka_unit_test(test_vector_inputs),
		cmocka_unit_test(test_vector_record_makes_target),
		cmocka_unit_test(
		    test_vector_make_reproduces_stream_and_record),
		cmocka_unit_test(test_vector_stream_addresses_padded_stream),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
