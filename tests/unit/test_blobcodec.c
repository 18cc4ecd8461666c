/*
 * Unit tests for the blob codec (format/blobcodec.c, docs/FORMAT.md §7).
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
#include <zstd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "mutate.h"

#define OUT_MAX ((size_t)128 << 20)

/* Text-like, compressible: numbered lines of a small vocabulary. */
static uint8_t *
text_bytes(size_t len)
{
	static const char *words[] = { "backup ", "restore ", "pack ",
	    "index ", "snapshot ", "chunk ", "blob ", "tree ", "\n" };
	uint8_t *p = malloc(len ? len : 1);
	uint32_t st = 12345;
	size_t i = 0, n;
	const char *w;

	assert_non_null(p);
	while (i < len) {
		st = st * 1103515245u + 12345u;
		w = words[(st >> 16) % 9];
		n = strlen(w);
		if (n > len - i)
			n = len - i;
		memcpy(p + i, w, n);
		i += n;
	}
	return p;
}

static uint8_t *
random_bytes(size_t len)
{
	uint8_t seed[randombytes_SEEDBYTES] = { 7 };
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	randombytes_buf_deterministic(p, len, seed);
	return p;
}

static struct buf *
encode(int level, const uint8_t *raw, size_t len)
{
	struct buf *b = buf_new(OUT_MAX);

	assert_non_null(b);
	assert_int_equal(kl_blob_encode(NULL, level, raw, len, b), KL_OK);
	return b;
}

static uint32_t
hdr_u32(const struct buf *b, size_t off)
{
	return kl_le32dec(buf_data(b) + off);
}

/* Decodes b and checks that the raw content comes back. */
static void
assert_round_trip(const struct buf *b, const uint8_t *raw, size_t len)
{
	struct buf *out = buf_new(OUT_MAX);

	assert_non_null(out);
	assert_int_equal(kl_blob_decode(NULL, buf_data(b), buf_size(b), len,
	    out), KL_OK);
	assert_int_equal(buf_size(out), len);
	if (len > 0)
		assert_memory_equal(buf_data(out), raw, len);
	buf_free(out);
}

static void
assert_layout(const struct buf *b, uint8_t enc, size_t raw_len)
{
	const uint8_t *p = buf_data(b);
	uint32_t payload_len = hdr_u32(b, 8);
	size_t i;

	assert_int_equal(p[0], enc);
	assert_int_equal(p[1] | p[2] | p[3], 0);
	assert_int_equal(hdr_u32(b, 4), raw_len);
	assert_int_equal(buf_size(b), kl_padme(12 + (uint64_t)payload_len));
	for (i = 12 + payload_len; i < buf_size(b); i++)
		assert_int_equal(p[i], 0);
	assert_true(buf_size(b) <= kl_blob_encode_bound(raw_len));
}

static int
decode_rc(const uint8_t *p, size_t len, size_t max_raw)
{
	struct buf *out = buf_new(OUT_MAX);
	int r;

	assert_non_null(out);
	r = kl_blob_decode(NULL, p, len, max_raw, out);
	if (r != KL_OK)
		assert_int_equal(buf_size(out), 0);
	buf_free(out);
	return r;
}

/* Builds a blob plaintext by hand (header, payload, zero padding). */
static struct buf *
blob_build(uint8_t enc, uint32_t raw_len, const void *payload,
    size_t payload_len)
{
	struct buf *b = buf_new(OUT_MAX);
	size_t total = kl_padme(12 + (uint64_t)payload_len);

	assert_non_null(b);
	assert_int_equal(buf_put_u8(b, enc), KL_OK);
	assert_int_equal(buf_put_zero(b, 3), KL_OK);
	assert_int_equal(buf_put_u32le(b, raw_len), KL_OK);
	assert_int_equal(buf_put_u32le(b, (uint32_t)payload_len), KL_OK);
	if (payload_len > 0)
		assert_int_equal(buf_put(b, payload, payload_len), KL_OK);
	assert_int_equal(buf_put_zero(b, total - 12 - payload_len), KL_OK);
	return b;
}

static void
test_padme_known_values(void **state)
{
	/* L < 2: L.  L = 2, 3: E = 1, S = 1, z = 0: L. */
	assert_true(kl_padme(0) == 0);
	assert_true(kl_padme(1) == 1);
	assert_true(kl_padme(2) == 2);
	assert_true(kl_padme(3) == 3);
	/* 9: E = 3, S = 2, z = 1, mask 1: 10. */
	assert_true(kl_padme(9) == 10);
	/* 12: E = 3, z = 1: 12 (an empty blob is 12 bytes); 13 -> 14. */
	assert_true(kl_padme(12) == 12);
	assert_true(kl_padme(13) == 14);
	/* 100: E = 6, S = 3, z = 3, mask 7: 107 & ~7 = 104. */
	assert_true(kl_padme(100) == 104);
	/* 129: E = 7, S = 3, z = 4, mask 15: 144 (the worst case, 11.6 %). */
	assert_true(kl_padme(129) == 144);
	/* 1000: E = 9, S = 4, z = 5, mask 31: 1031 & ~31 = 1024. */
	assert_true(kl_padme(1000) == 1024);
	/* 1025: E = 10, S = 4, z = 6, mask 63: 1088. */
	assert_true(kl_padme(1025) == 1088);
	/* 12 + 1 MiB: E = 20, S = 5, z = 15: 2^20 + 2^15. */
	assert_true(kl_padme(12 + ((uint64_t)1 << 20)) == 1081344);
	/* Powers of two are fixed points. */
	assert_true(kl_padme((uint64_t)1 << 40) == (uint64_t)1 << 40);
}

static void
test_padme_properties(void **state)
{
	uint64_t l, p, prev = 0;

	for (l = 0; l < 300000; l++) {
		p = kl_padme(l);
		assert_true(p >= l && p >= prev);
		assert_true((p - l) * 100 <= 12 * l);
		assert_true(kl_padme(p) == p);
		prev = p;
	}
}

static void
test_round_trip_compressible(void **state)
{
	const size_t len = 256 << 10;
	uint8_t *raw = text_bytes(len);
	struct buf *b = encode(3, raw, len);

	assert_layout(b, KL_BLOB_ENC_ZSTD, len);
	assert_true(hdr_u32(b, 8) < len / 2);
	assert_round_trip(b, raw, len);
	buf_free(b);
	free(raw);
}

static void
test_round_trip_incompressible_is_stored(void **state)
{
	const size_t len = 100000;
	uint8_t *raw = random_bytes(len);
	struct buf *b = encode(19, raw, len);

	assert_layout(b, KL_BLOB_ENC_STORED, len);
	assert_int_equal(hdr_u32(b, 8), len);
	assert_memory_equal(buf_data(b) + 12, raw, len);
	assert_round_trip(b, raw, len);
	buf_free(b);
	free(raw);
}

static void
test_round_trip_empty(void **state)
{
	struct buf *b = encode(3, NULL, 0);

	assert_layout(b, KL_BLOB_ENC_STORED, 0);
	assert_int_equal(buf_size(b), 12);
	assert_round_trip(b, NULL, 0);
	buf_free(b);
}

static void
test_round_trip_tiny(void **state)
{
	uint8_t *raw = text_bytes(40);
	struct buf *b;
	size_t len;

	for (len = 1; len <= 40; len++) {
		b = encode(3, raw, len);
		assert_layout(b, buf_data(b)[0], len);
		assert_round_trip(b, raw, len);
		buf_free(b);
	}
	free(raw);
}

static void
test_level_off_stores(void **state)
{
	const size_t len = 64 << 10;
	uint8_t *raw = text_bytes(len);
	struct buf *b = encode(KL_COMPRESSION_OFF, raw, len);

	assert_layout(b, KL_BLOB_ENC_STORED, len);
	assert_round_trip(b, raw, len);
	buf_free(b);
	free(raw);
}

static void
test_encode_with_caller_contexts(void **state)
{
	const size_t len = 100 << 10;
	uint8_t *raw = text_bytes(len);
	struct buf *a = encode(1, raw, len), *b = buf_new(OUT_MAX);
	struct buf *out = buf_new(OUT_MAX);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	int i;

	assert_non_null(cc);
	assert_non_null(dc);
	for (i = 0; i < 2; i++) {
		buf_reset(b);
		assert_int_equal(kl_blob_encode(cc, 1, raw, len, b), KL_OK);
		assert_int_equal(buf_size(a), buf_size(b));
		assert_memory_equal(buf_data(a), buf_data(b), buf_size(a));
		buf_reset(out);
		assert_int_equal(kl_blob_decode(dc, buf_data(b), buf_size(b),
		    len, out), KL_OK);
		assert_memory_equal(buf_data(out), raw, len);
	}
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	buf_free(a);
	buf_free(b);
	buf_free(out);
	free(raw);
}

static void
test_encode_appends(void **state)
{
	uint8_t *raw = text_bytes(5000);
	struct buf *b = buf_new(OUT_MAX), *ref = encode(3, raw, 5000);

	assert_non_null(b);
	assert_int_equal(buf_put(b, "prefix", 6), KL_OK);
	assert_int_equal(kl_blob_encode(NULL, 3, raw, 5000, b), KL_OK);
	assert_int_equal(buf_size(b), 6 + buf_size(ref));
	assert_memory_equal(buf_data(b), "prefix", 6);
	assert_memory_equal(buf_data(b) + 6, buf_data(ref), buf_size(ref));
	buf_free(b);
	buf_free(ref);
	free(raw);
}

static void
test_encode_rejects_bad_arguments(void **state)
{
	struct buf *b = buf_new(OUT_MAX);
	uint8_t raw[16] = { 0 };

	assert_non_null(b);
	assert_int_equal(kl_blob_encode(NULL, -1, raw, 16, b), KL_E_INVAL);
	assert_int_equal(kl_blob_encode(NULL, 20, raw, 16, b), KL_E_INVAL);
	/* The length is checked before any byte is read. */
	assert_int_equal(kl_blob_encode(NULL, 3, raw, KL_BLOB_RAW_MAX + 1, b),
	    KL_E_LIMIT);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
}

static void
test_encode_bound(void **state)
{
	assert_int_equal(kl_blob_encode_bound(0), 12);
	assert_int_equal(kl_blob_encode_bound(1000), 1024);
	assert_int_equal(kl_blob_encode_bound(KL_BLOB_RAW_MAX),
	    kl_padme(12 + (uint64_t)KL_BLOB_RAW_MAX));
}

static void
test_decode_rejects_nonzero_padding(void **state)
{
	uint8_t *raw = random_bytes(1000);
	struct buf *b = encode(3, raw, 1000);	/* 1012 padded to 1024 */
	uint8_t *p = (uint8_t *)(uintptr_t)buf_data(b);

	assert_int_equal(buf_size(b), 1024);
	p[1023] = 1;
	assert_int_equal(decode_rc(p, 1024, 1000), KL_E_CORRUPT);
	p[1023] = 0;
	p[1012] = 0x80;
	assert_int_equal(decode_rc(p, 1024, 1000), KL_E_CORRUPT);
	buf_free(b);
	free(raw);
}

static void
test_decode_rejects_reserved_bytes(void **state)
{
	uint8_t *raw = random_bytes(100);
	struct buf *b = encode(3, raw, 100);
	uint8_t *p = (uint8_t *)(uintptr_t)buf_data(b);
	int i;

	for (i = 1; i <= 3; i++) {
		p[i] = 0x10;
		assert_int_equal(decode_rc(p, buf_size(b), 100), KL_E_CORRUPT);
		p[i] = 0;
	}
	assert_int_equal(decode_rc(p, buf_size(b), 100), KL_OK);
	buf_free(b);
	free(raw);
}

static void
test_decode_rejects_wrong_raw_len(void **state)
{
	uint8_t *raw = text_bytes(10000);
	struct buf *z = encode(3, raw, 10000), *s = encode(0, raw, 10000);
	uint8_t *pz = (uint8_t *)(uintptr_t)buf_data(z);
	uint8_t *ps = (uint8_t *)(uintptr_t)buf_data(s);

	kl_le32enc(pz + 4, 9999);
	assert_int_equal(decode_rc(pz, buf_size(z), 20000), KL_E_CORRUPT);
	kl_le32enc(pz + 4, 10001);
	assert_int_equal(decode_rc(pz, buf_size(z), 20000), KL_E_CORRUPT);
	kl_le32enc(ps + 4, 9999);
	assert_int_equal(decode_rc(ps, buf_size(s), 20000), KL_E_CORRUPT);
	/* Above the format's 64 MiB limit is corrupt, whatever max_raw. */
	kl_le32enc(ps + 4, KL_BLOB_RAW_MAX + 1);
	assert_int_equal(decode_rc(ps, buf_size(s), SIZE_MAX), KL_E_CORRUPT);
	buf_free(z);
	buf_free(s);
	free(raw);
}

static void
test_decode_rejects_unknown_encoding(void **state)
{
	struct buf *b = blob_build(2, 4, "abcd", 4);

	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 4),
	    KL_E_UNSUPPORTED);
	buf_free(b);
	b = blob_build(0xff, 0, NULL, 0);
	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 4),
	    KL_E_UNSUPPORTED);
	buf_free(b);
}

static void
test_decode_raw_len_over_max_raw_is_limit(void **state)
{
	uint8_t *raw = text_bytes(10000);
	struct buf *z = encode(3, raw, 10000), *s = encode(0, raw, 10000);

	assert_int_equal(decode_rc(buf_data(z), buf_size(z), 9999),
	    KL_E_LIMIT);
	assert_int_equal(decode_rc(buf_data(s), buf_size(s), 9999),
	    KL_E_LIMIT);
	assert_int_equal(decode_rc(buf_data(z), buf_size(z), 10000), KL_OK);
	buf_free(z);
	buf_free(s);
	free(raw);
}

static void
test_decode_rejects_wrong_length(void **state)
{
	uint8_t *raw = random_bytes(1000);
	struct buf *b = encode(3, raw, 1000);
	size_t len = buf_size(b);

	assert_int_equal(decode_rc(buf_data(b), len - 1, 1000), KL_E_CORRUPT);
	assert_int_equal(decode_rc(buf_data(b), 11, 1000), KL_E_CORRUPT);
	assert_int_equal(decode_rc(buf_data(b), 0, 1000), KL_E_CORRUPT);
	/* One more zero byte: no longer padme(12 + payload_len). */
	assert_int_equal(buf_put_u8(b, 0), KL_OK);
	assert_int_equal(decode_rc(buf_data(b), len + 1, 1000), KL_E_CORRUPT);
	/* payload_len beyond the end. */
	kl_le32enc((uint8_t *)(uintptr_t)buf_data(b) + 4, 2000);
	kl_le32enc((uint8_t *)(uintptr_t)buf_data(b) + 8, 2000);
	assert_int_equal(decode_rc(buf_data(b), len, 2000), KL_E_CORRUPT);
	buf_free(b);
	free(raw);
}

/* A zstd frame without a content size (streaming API). */
static size_t
zstd_no_size(const uint8_t *raw, size_t len, uint8_t *dst, size_t cap)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t n;

	assert_non_null(cc);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc,
	    ZSTD_c_contentSizeFlag, 0)));
	n = ZSTD_compress2(cc, dst, cap, raw, len);
	assert_false(ZSTD_isError(n));
	ZSTD_freeCCtx(cc);
	return n;
}

static void
test_decode_zstd_frame_checks(void **state)
{
	uint8_t *raw = text_bytes(5000), frame[6000];
	size_t n;
	struct buf *b;

	/* Without a declared size: accepted when it yields raw_len. */
	n = zstd_no_size(raw, 5000, frame, sizeof(frame));
	b = blob_build(1, 5000, frame, n);
	assert_round_trip(b, raw, 5000);
	buf_free(b);
	/* ... and rejected when it yields more or fewer bytes. */
	b = blob_build(1, 4999, frame, n);
	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 5000),
	    KL_E_CORRUPT);
	buf_free(b);
	b = blob_build(1, 5001, frame, n);
	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 5001),
	    KL_E_CORRUPT);
	buf_free(b);
	/* Trailing bytes after the frame. */
	frame[n] = 0;
	b = blob_build(1, 5000, frame, n + 1);
	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 5000),
	    KL_E_CORRUPT);
	buf_free(b);
	free(raw);
}

static void
test_decode_rejects_skippable_frame(void **state)
{
	/* Magic 0x184D2A50, length 4, four bytes of content. */
	static const uint8_t skip[] = { 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0,
	    1, 2, 3, 4 };
	struct buf *b = blob_build(1, 0, skip, sizeof(skip));

	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 0),
	    KL_E_CORRUPT);
	buf_free(b);
	b = blob_build(1, 0, skip, 3);
	assert_int_equal(decode_rc(buf_data(b), buf_size(b), 0),
	    KL_E_CORRUPT);
	buf_free(b);
}

static void
test_decode_failure_appends_nothing(void **state)
{
	uint8_t *raw = text_bytes(5000);
	struct buf *b = encode(3, raw, 5000), *out = buf_new(OUT_MAX);
	uint8_t *p = (uint8_t *)(uintptr_t)buf_data(b);

	assert_non_null(out);
	assert_int_equal(buf_put(out, "xy", 2), KL_OK);
	kl_le32enc(p + 4, 4999);
	assert_int_equal(kl_blob_decode(NULL, p, buf_size(b), 5000, out),
	    KL_E_CORRUPT);
	assert_int_equal(buf_size(out), 2);
	kl_le32enc(p + 4, 5000);
	assert_int_equal(kl_blob_decode(NULL, p, buf_size(b), 5000, out),
	    KL_OK);
	assert_int_equal(buf_size(out), 5002);
	assert_memory_equal(buf_data(out) + 2, raw, 5000);
	buf_free(out);
	buf_free(b);
	free(raw);
}

static int
mutate_decode(const uint8_t *p, size_t len, void *arg)
{
	struct buf *out = buf_new(OUT_MAX);
	int r;

	assert_non_null(out);
	r = kl_blob_decode(arg, p, len, KL_BLOB_RAW_MAX, out);
	buf_free(out);
	return r;
}

static void
mutate_blob(int level, const uint8_t *raw, size_t len, size_t *flips_ok)
{
	struct buf *b = encode(level, raw, len);
	ZSTD_DCtx *dc = ZSTD_createDCtx();

	assert_non_null(dc);
	assert_int_equal(mutate_run(buf_data(b), buf_size(b), mutate_decode,
	    dc, flips_ok), 0);
	ZSTD_freeDCtx(dc);
	buf_free(b);
}

static void
test_mutation_stored(void **state)
{
	uint8_t *raw = random_bytes(1000);
	size_t ok;

	mutate_blob(3, raw, 1000, &ok);
	/* Flips in the stored payload are accepted (the AEAD catches them);
	 * flips anywhere else are not. */
	assert_int_equal(ok, 8 * 1000);
	free(raw);
}

static void
test_mutation_zstd(void **state)
{
	uint8_t *raw = text_bytes(3000);
	size_t ok;

	mutate_blob(3, raw, 3000, &ok);
	mutate_blob(19, raw, 3000, &ok);
	free(raw);
}

static void
test_mutation_empty(void **state)
{
	size_t ok;

	mutate_blob(3, NULL, 0, &ok);
	assert_int_equal(ok, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_padme_known_values),
		cmocka_unit_test(test_padme_properties),
		cmocka_unit_test(test_round_trip_compressible),
		cmocka_unit_test(test_round_trip_incompressible_is_stored),
		cmocka_unit_test(test_round_trip_empty),
		cmocka_unit_test(test_round_trip_tiny),
		cmocka_unit_test(test_level_off_stores),
		cmocka_unit_test(test_encode_with_caller_contexts),
		cmocka_unit_test(test_encode_appends),
		cmocka_unit_test(test_encode_rejects_bad_arguments),
		cmocka_unit_test(test_encode_bound),
		cmocka_unit_test(test_decode_rejects_nonzero_padding),
		cmocka_unit_test(test_decode_rejects_reserved_bytes),
		cmocka_unit_test(test_decode_rejects_wrong_raw_len),
		cmocka_unit_test(test_decode_rejects_unknown_encoding),
		cmocka_unit_test(test_decode_raw_len_over_max_raw_is_limit),
		cmocka_unit_test(test_decode_rejects_wrong_length),
		cmocka_unit_test(test_decode_zstd_frame_checks),
		cmocka_unit_test(test_decode_rejects_skippable_frame),
		cmocka_unit_test(test_decode_failure_appends_nothing),
		cmocka_unit_test(test_mutation_stored),
		cmocka_unit_test(test_mutation_zstd),
		cmocka_unit_test(test_mutation_empty),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
