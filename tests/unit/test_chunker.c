/*
 * Unit tests for the chunker (chunker/chunker.c, docs/FORMAT.md §13).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/chunker.h"
#include "kluis/err.h"

#define BIG_LEN ((size_t)64 << 20)
#define KAT_FILE KL_VECTORS_DIR "/chunker_v1.txt"
#define KAT_GEAR_N 4
#define KAT_CUTS_MAX 1024

static const struct kl_chunker_params small = { 4096, 16384, 65536 };
static const struct kl_chunker_params deflt = {
	KL_CHUNK_MIN_DEFAULT, KL_CHUNK_AVG_DEFAULT, KL_CHUNK_MAX_DEFAULT
};

/* End offsets of every chunk of a stream, the last one included. */
struct cuts {
	size_t *end;
	size_t n, cap;
};

static uint8_t *
prng_bytes(size_t len, uint8_t seed_byte)
{
	uint8_t seed[randombytes_SEEDBYTES];
	uint8_t *p;

	memset(seed, seed_byte, sizeof(seed));
	p = malloc(len);
	assert_non_null(p);
	randombytes_buf_deterministic(p, len, seed);
	return p;
}

static void
key_fill(uint8_t key[32], uint8_t v)
{
	memset(key, v, 32);
}

static struct kl_chunker *
chunker_make(const struct kl_chunker_params *p, uint8_t key_byte)
{
	struct kl_chunker *c;
	uint8_t key[32];

	key_fill(key, key_byte);
	assert_int_equal(kl_chunker_new(p, key, &c), KL_OK);
	assert_non_null(c);
	return c;
}

static void
cuts_add(struct cuts *cs, size_t end)
{
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 64;
		cs->end = realloc(cs->end, cs->cap * sizeof(*cs->end));
		assert_non_null(cs->end);
	}
	cs->end[cs->n++] = end;
}

static void
cuts_clear(struct cuts *cs)
{
	free(cs->end);
	memset(cs, 0, sizeof(*cs));
}

/* A deterministic irregular piece size in 1..9000 (xorshift). */
static size_t
piece_next(uint32_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 17;
	*st ^= *st << 5;
	return 1 + *st % 9000;
}

/*
 * Chunks d[0, len) fed in pieces of `piece` bytes (0: irregular sizes,
 * SIZE_MAX: the whole buffer at once) and records every chunk end.
 */
static void
chunk_stream(struct kl_chunker *c, const uint8_t *d, size_t len, size_t piece,
    struct cuts *out)
{
	size_t pos = 0, n, plen, last = 0;
	uint32_t st = 2463534242u;
	int cut;

	memset(out, 0, sizeof(*out));
	kl_chunker_reset(c);
	while (pos < len) {
		plen = piece == 0 ? piece_next(&st) : piece;
		if (plen > len - pos)
			plen = len - pos;
		while (plen > 0) {
			n = kl_chunker_next(c, d + pos, plen, &cut);
			assert_true(n >= 1 && n <= plen);
			assert_true(cut || n == plen);
			pos += n;
			plen -= n;
			if (cut) {
				cuts_add(out, pos);
				last = pos;
			}
		}
	}
	if (last < len)
		cuts_add(out, len);
}

static void
assert_cuts_equal(const struct cuts *a, const struct cuts *b)
{
	assert_int_equal(a->n, b->n);
	assert_memory_equal(a->end, b->end, a->n * sizeof(*a->end));
}

static void
assert_chunk_bounds(const struct cuts *cs, const struct kl_chunker_params *p)
{
	size_t i, prev = 0, l;

	for (i = 0; i < cs->n; i++) {
		l = cs->end[i] - prev;
		assert_true(l <= p->max);
		if (i + 1 < cs->n)
			assert_true(l >= p->min);
		prev = cs->end[i];
	}
}

/* T_c of §13, independently: floor(2^69 / d) by long division. */
static uint64_t
ref_threshold(const struct kl_chunker_params *p)
{
	uint64_t d = p->avg - p->min, q = 0, r = 1;
	int i;

	if (d <= 32)
		return UINT64_MAX;
	for (i = 0; i < 69; i++) {	/* r holds 2^i mod d on entry */
		r <<= 1;
		q <<= 1;
		if (r >= d) {
			r -= d;
			q |= 1;
		}
	}
	return q;
}

static uint8_t *big_data;

static int
group_setup(void **state)
{
	if (sodium_init() < 0)
		return -1;
	big_data = prng_bytes(BIG_LEN, 0x42);
	return 0;
}

static int
group_teardown(void **state)
{
	free(big_data);
	return 0;
}

static void
test_params_valid_bounds(void **state)
{
	struct kl_chunker_params p;

	assert_true(kl_chunker_params_valid(&small));
	assert_true(kl_chunker_params_valid(&deflt));
	assert_false(kl_chunker_params_valid(NULL));
	p = (struct kl_chunker_params){ 4095, 16384, 65536 };
	assert_false(kl_chunker_params_valid(&p));
	p = (struct kl_chunker_params){ 4096, 4096, 65536 };
	assert_false(kl_chunker_params_valid(&p));
	p = (struct kl_chunker_params){ 4096, 65536, 65536 };
	assert_false(kl_chunker_params_valid(&p));
	p = (struct kl_chunker_params){ 4096, 8192, (16 << 20) + 1 };
	assert_false(kl_chunker_params_valid(&p));
	p = (struct kl_chunker_params){ 4096, 4097, 16 << 20 };
	assert_true(kl_chunker_params_valid(&p));
}

static void
test_params_from_avg(void **state)
{
	struct kl_chunker_params p;

	assert_int_equal(kl_chunker_params_from_avg(1 << 20, &p), KL_OK);
	assert_memory_equal(&p, &deflt, sizeof(p));
	assert_int_equal(kl_chunker_params_from_avg(4 << 20, &p), KL_OK);
	assert_int_equal(p.min, 2 << 20);
	assert_int_equal(p.max, 16 << 20);	/* 32 MiB capped */
	assert_int_equal(kl_chunker_params_from_avg(8192, &p), KL_OK);
	assert_int_equal(p.min, 4096);
	assert_int_equal(p.max, 65536);
	/* min 2 KiB is too small; avg 16 MiB is not below the capped max. */
	assert_int_equal(kl_chunker_params_from_avg(4096, &p), KL_E_INVAL);
	assert_int_equal(p.avg, 0);
	assert_int_equal(kl_chunker_params_from_avg(16 << 20, &p), KL_E_INVAL);
	assert_int_equal(kl_chunker_params_from_avg(UINT32_MAX, &p),
	    KL_E_INVAL);
}

static void
test_new_rejects_invalid_params(void **state)
{
	struct kl_chunker_params p = { 4096, 4096, 8192 };
	struct kl_chunker *c = (struct kl_chunker *)&p;
	uint8_t key[32] = { 0 };

	assert_int_equal(kl_chunker_new(&p, key, &c), KL_E_INVAL);
	assert_null(c);
	assert_int_equal(kl_chunker_new(NULL, key, &c), KL_E_INVAL);
	assert_null(c);
	kl_chunker_free(NULL);
}

static void
test_gear_is_blake2b_of_tag(void **state)
{
	struct kl_chunker *c = chunker_make(&small, 1);
	uint8_t msg[14], d[32];
	uint64_t g;
	unsigned i, j;

	memcpy(msg, "kluis-gear-v1", 13);
	for (i = 0; i < 256; i++) {
		msg[13] = (uint8_t)i;
		crypto_generichash(d, 32, msg, sizeof(msg), NULL, 0);
		for (g = 0, j = 0; j < 8; j++)
			g |= (uint64_t)d[j] << (8 * j);
		assert_true(kl_chunker_gear(c, i) == g);
	}
	kl_chunker_free(c);
}

static void
test_deterministic_for_one_key(void **state)
{
	struct kl_chunker *a = chunker_make(&small, 7);
	struct kl_chunker *b = chunker_make(&small, 7);
	struct cuts ca, cb, cc;

	chunk_stream(a, big_data, 4 << 20, SIZE_MAX, &ca);
	chunk_stream(b, big_data, 4 << 20, SIZE_MAX, &cb);
	chunk_stream(a, big_data, 4 << 20, SIZE_MAX, &cc);	/* after reset */
	assert_true(ca.n > 1);
	assert_cuts_equal(&ca, &cb);
	assert_cuts_equal(&ca, &cc);
	cuts_clear(&ca);
	cuts_clear(&cb);
	cuts_clear(&cc);
	kl_chunker_free(a);
	kl_chunker_free(b);
}

static void
test_chunks_within_bounds(void **state)
{
	struct kl_chunker *c = chunker_make(&small, 9);
	struct cuts cs;
	double mean;

	chunk_stream(c, big_data, 16 << 20, SIZE_MAX, &cs);
	assert_chunk_bounds(&cs, &small);
	/* Expected length about min + (avg - min) = avg (§13). */
	mean = (double)(16 << 20) / (double)cs.n;
	assert_true(mean > 0.85 * small.avg && mean < 1.15 * small.avg);
	cuts_clear(&cs);
	kl_chunker_free(c);
}

static void
test_split_invariance(void **state)
{
	static const size_t pieces[] = { 1, 7, 63, 64, 65, 4096, 0 };
	struct kl_chunker *c = chunker_make(&small, 3);
	const size_t len = (size_t)3 << 20;
	struct cuts whole, cs;
	size_t i;

	chunk_stream(c, big_data, len, SIZE_MAX, &whole);
	assert_true(whole.n > 100);
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		chunk_stream(c, big_data, len, pieces[i], &cs);
		assert_cuts_equal(&whole, &cs);
		cuts_clear(&cs);
	}
	cuts_clear(&whole);
	kl_chunker_free(c);
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* BLAKE2b-256 of every chunk, sorted. */
static uint8_t *
chunk_ids(const uint8_t *d, const struct cuts *cs)
{
	uint8_t *ids = malloc(cs->n * 32);
	size_t i, prev = 0;

	assert_non_null(ids);
	for (i = 0; i < cs->n; i++) {
		crypto_generichash(ids + 32 * i, 32, d + prev,
		    cs->end[i] - prev, NULL, 0);
		prev = cs->end[i];
	}
	qsort(ids, cs->n, 32, id_cmp);
	return ids;
}

static size_t
ids_shared(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t i, k = 0;

	for (i = 0; i < na; i++)
		if (bsearch(a + 32 * i, b, nb, 32, id_cmp) != NULL)
			k++;
	return k;
}

static void
test_insert_keeps_most_chunks(void **state)
{
	struct kl_chunker *c = chunker_make(&deflt, 5);
	uint8_t *mod = malloc(BIG_LEN + 100), *ia, *ib;
	struct cuts ca, cb;
	size_t shared;

	assert_non_null(mod);
	memcpy(mod, big_data, 1000);
	memset(mod + 1000, 0xa5, 100);
	memcpy(mod + 1100, big_data + 1000, BIG_LEN - 1000);
	chunk_stream(c, big_data, BIG_LEN, SIZE_MAX, &ca);
	chunk_stream(c, mod, BIG_LEN + 100, 1 << 20, &cb);
	assert_chunk_bounds(&ca, &deflt);
	assert_chunk_bounds(&cb, &deflt);
	ia = chunk_ids(big_data, &ca);
	ib = chunk_ids(mod, &cb);
	shared = ids_shared(ib, cb.n, ia, ca.n);
	assert_true(ca.n >= 32);
	assert_true(shared * 10 >= cb.n * 9);
	assert_true(shared * 10 >= ca.n * 9);
	free(ia);
	free(ib);
	free(mod);
	cuts_clear(&ca);
	cuts_clear(&cb);
	kl_chunker_free(c);
}

static void
test_different_keys_cut_differently(void **state)
{
	struct kl_chunker *a = chunker_make(&small, 1);
	struct kl_chunker *b = chunker_make(&small, 2);
	struct cuts ca, cb;
	size_t i, j = 0, same = 0;

	chunk_stream(a, big_data, 4 << 20, SIZE_MAX, &ca);
	chunk_stream(b, big_data, 4 << 20, SIZE_MAX, &cb);
	/* Count cut offsets both keys chose (the stream end excluded). */
	for (i = 0; i + 1 < ca.n; i++) {
		while (j + 1 < cb.n && cb.end[j] < ca.end[i])
			j++;
		if (j + 1 < cb.n && cb.end[j] == ca.end[i])
			same++;
	}
	assert_true(ca.n > 100 && cb.n > 100);
	assert_true(same * 4 < ca.n);
	cuts_clear(&ca);
	cuts_clear(&cb);
	kl_chunker_free(a);
	kl_chunker_free(b);
}

/*
 * A constant input gives a constant gear hash once 64 bytes are hashed, so
 * either every position from min on is a candidate or none is; if they
 * are, the PRF over the constant window decides once for all.  Every
 * chunk but the last is then exactly min (cut at the first candidate) or
 * exactly max (forced).
 */
static size_t
constant_chunk_len(const struct kl_chunker *c,
    const struct kl_chunker_params *p, const uint8_t key[32])
{
	uint8_t win[64] = { 0 }, mac[8];
	uint64_t h = 0, v = 0;
	int i;

	for (i = 0; i < 64; i++)
		h = (h << 1) + kl_chunker_gear(c, 0);
	if (h >= ref_threshold(p))
		return p->max;
	crypto_generichash(mac, 8, win, 64, key, 32);
	for (i = 7; i >= 0; i--)
		v = (v << 8) | mac[i];
	return v < ((uint64_t)1 << 59) ? p->min : p->max;
}

static void
check_zero_stream(const struct kl_chunker_params *p, const uint8_t key[32],
    size_t expect_len)
{
	const size_t len = 4 * (size_t)p->max + 123;
	uint8_t *zero = calloc(1, len);
	struct kl_chunker *c;
	struct cuts cs;
	size_t i, n;

	assert_non_null(zero);
	assert_int_equal(kl_chunker_new(p, key, &c), KL_OK);
	assert_int_equal(constant_chunk_len(c, p, key), expect_len);
	chunk_stream(c, zero, len, 4096, &cs);
	n = len / expect_len;
	assert_int_equal(cs.n, n + (len % expect_len != 0));
	for (i = 0; i < n; i++)
		assert_int_equal(cs.end[i], (i + 1) * expect_len);
	cuts_clear(&cs);
	kl_chunker_free(c);
	free(zero);
}

static void
test_zero_data_forced_cut_at_max(void **state)
{
	uint8_t key[32];

	/* v1: zeros hash to 2^64 - G[0] = 0x3ecaf383877e7b75, far above
	 * T_c for these params (< 2^56): never a candidate. */
	key_fill(key, 11);
	check_zero_stream(&small, key, small.max);
	check_zero_stream(&deflt, key, deflt.max);
}

static void
test_zero_data_cut_at_min_when_prf_says_so(void **state)
{
	/* avg - min <= 32 saturates T_c: every position is a candidate. */
	const struct kl_chunker_params p = { 4096, 4100, 8192 };
	struct kl_chunker *c = chunker_make(&p, 0);
	uint8_t key[32];
	int k, seen_min = 0, seen_max = 0;

	for (k = 0; k < 256 && !(seen_min && seen_max); k++) {
		key_fill(key, (uint8_t)k);
		if (constant_chunk_len(c, &p, key) == p.min) {
			if (!seen_min)
				check_zero_stream(&p, key, p.min);
			seen_min = 1;
		} else if (!seen_max) {
			check_zero_stream(&p, key, p.max);
			seen_max = 1;
		}
	}
	assert_true(seen_min && seen_max);
	kl_chunker_free(c);
}

static void
test_empty_input_is_no_cut(void **state)
{
	struct kl_chunker *c = chunker_make(&small, 1);
	uint8_t b = 0;
	int cut = 1;

	assert_int_equal(kl_chunker_next(c, &b, 0, &cut), 0);
	assert_int_equal(cut, 0);
	kl_chunker_free(c);
}

/* The known-answer file (tests/vectors/chunker_v1.txt). */
struct kat {
	uint64_t gear[KAT_GEAR_N];
	uint8_t key[32], seed[randombytes_SEEDBYTES];
	struct kl_chunker_params p;
	size_t stream_len;
	size_t cut[KAT_CUTS_MAX];
	size_t ncut;
	int have;	/* bit mask of the single-valued lines read */
};

static void
kat_hex(const char *hex, uint8_t *out, size_t len)
{
	size_t n = 0;

	assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &n,
	    NULL), 0);
	assert_int_equal(n, len);
}

static void
kat_line(struct kat *k, const char *line)
{
	char hex[129];
	unsigned i;
	unsigned long long v;
	unsigned long mn, av, mx;

	if (sscanf(line, "gear %u %llx", &i, &v) == 2 && i < KAT_GEAR_N) {
		k->gear[i] = v;
		k->have |= 1 << i;
	} else if (sscanf(line, "key %128s", hex) == 1) {
		kat_hex(hex, k->key, sizeof(k->key));
		k->have |= 0x10;
	} else if (sscanf(line, "seed %128s", hex) == 1) {
		kat_hex(hex, k->seed, sizeof(k->seed));
		k->have |= 0x20;
	} else if (sscanf(line, "params %lu %lu %lu", &mn, &av, &mx) == 3) {
		k->p = (struct kl_chunker_params){ mn, av, mx };
		k->have |= 0x40;
	} else if (sscanf(line, "stream_len %llu", &v) == 1) {
		k->stream_len = v;
		k->have |= 0x80;
	} else if (sscanf(line, "cut %llu", &v) == 1) {
		assert_true(k->ncut < KAT_CUTS_MAX);
		k->cut[k->ncut++] = v;
	} else {
		fail_msg("bad vector line: %s", line);
	}
}

static void
kat_load(struct kat *k)
{
	char line[512];
	FILE *f = fopen(KAT_FILE, "r");

	assert_non_null(f);
	memset(k, 0, sizeof(*k));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		kat_line(k, line);
	}
	fclose(f);
	assert_int_equal(k->have, 0xff);
	assert_true(k->ncut > 0);
}

static void
test_known_answer_vectors(void **state)
{
	struct kat *k = malloc(sizeof(*k));
	struct kl_chunker *c;
	struct cuts cs;
	uint8_t *d;
	unsigned i;

	assert_non_null(k);
	kat_load(k);
	assert_int_equal(kl_chunker_new(&k->p, k->key, &c), KL_OK);
	for (i = 0; i < KAT_GEAR_N; i++)
		assert_true(kl_chunker_gear(c, i) == k->gear[i]);
	d = malloc(k->stream_len);
	assert_non_null(d);
	randombytes_buf_deterministic(d, k->stream_len, k->seed);
	chunk_stream(c, d, k->stream_len, 0, &cs);
	assert_int_equal(cs.n, k->ncut);
	for (i = 0; i < cs.n; i++)
		assert_int_equal(cs.end[i], k->cut[i]);
	cuts_clear(&cs);
	free(d);
	kl_chunker_free(c);
	free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_valid_bounds),
		cmocka_unit_test(test_params_from_avg),
		cmocka_unit_test(test_new_rejects_invalid_params),
		cmocka_unit_test(test_gear_is_blake2b_of_tag),
		cmocka_unit_test(test_deterministic_for_one_key),
		cmocka_unit_test(test_chunks_within_bounds),
		cmocka_unit_test(test_split_invariance),
		cmocka_unit_test(test_insert_keeps_most_chunks),
		cmocka_unit_test(test_different_keys_cut_differently),
		cmocka_unit_test(test_zero_data_forced_cut_at_max),
		cmocka_unit_test(test_zero_data_cut_at_min_when_prf_says_so),
		cmocka_unit_test(test_empty_input_is_no_cut),
		cmocka_unit_test(test_known_answer_vectors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
