/* Unit tests of common/: the bounded buffer, hashing, file helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"

static void
test_get_u32_truncated_consumes_nothing(void **state)
{
	const uint8_t d[3] = { 1, 2, 3 };
	struct buf v;
	uint32_t x = 7;

	(void)state;
	buf_view_init(&v, d, sizeof(d));
	assert_int_equal(buf_get_u32le(&v, &x), KL_E_CORRUPT);
	assert_int_equal(buf_avail(&v), 3);
	assert_int_equal(x, 7);
}

static void
test_put_get_round_trip_little_endian(void **state)
{
	struct buf *b = buf_new(64);
	uint64_t q;
	uint32_t w;
	uint16_t h;
	uint8_t c;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_u8(b, 0xab), KL_OK);
	assert_int_equal(buf_put_u16le(b, 0x1234), KL_OK);
	assert_int_equal(buf_put_u32le(b, 0xdeadbeef), KL_OK);
	assert_int_equal(buf_put_u64le(b, 0x0102030405060708ULL), KL_OK);
	assert_int_equal(buf_data(b)[1], 0x34);
	assert_int_equal(buf_data(b)[3], 0xef);
	assert_int_equal(buf_get_u8(b, &c), KL_OK);
	assert_int_equal(buf_get_u16le(b, &h), KL_OK);
	assert_int_equal(buf_get_u32le(b, &w), KL_OK);
	assert_int_equal(buf_get_u64le(b, &q), KL_OK);
	assert_int_equal(c, 0xab);
	assert_int_equal(h, 0x1234);
	assert_int_equal(w, 0xdeadbeef);
	assert_true(q == 0x0102030405060708ULL);
	assert_int_equal(buf_avail(b), 0);
	buf_free(b);
}

static void
test_put_beyond_max_is_limit_and_appends_nothing(void **state)
{
	struct buf *b = buf_new(8);

	(void)state;
	assert_int_equal(buf_put_u32le(b, 1), KL_OK);
	assert_int_equal(buf_put_u64le(b, 2), KL_E_LIMIT);
	assert_int_equal(buf_size(b), 4);
	buf_free(b);
}

static void
test_view_refuses_puts(void **state)
{
	const uint8_t d[4] = { 0 };
	struct buf v;

	(void)state;
	buf_view_init(&v, d, sizeof(d));
	assert_int_equal(buf_put_u8(&v, 1), KL_E_INVAL);
}

static void
test_str16_over_max_is_limit_and_consumes_nothing(void **state)
{
	const uint8_t d[] = { 5, 0, 'h', 'e', 'l', 'l', 'o' };
	const uint8_t *p;
	struct buf v;
	size_t n;

	(void)state;
	buf_view_init(&v, d, sizeof(d));
	assert_int_equal(buf_get_str16(&v, 4, &p, &n), KL_E_LIMIT);
	assert_int_equal(buf_avail(&v), sizeof(d));
	assert_int_equal(buf_get_str16(&v, 5, &p, &n), KL_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
}

static void
test_str16_truncated_body_consumes_nothing(void **state)
{
	const uint8_t d[] = { 9, 0, 'a', 'b' };
	const uint8_t *p;
	struct buf v;
	size_t n;

	(void)state;
	buf_view_init(&v, d, sizeof(d));
	assert_int_equal(buf_get_str16(&v, 100, &p, &n), KL_E_CORRUPT);
	assert_int_equal(buf_avail(&v), sizeof(d));
}

static void
test_secure_buffer_grows_and_keeps_content(void **state)
{
	struct buf *b = buf_new_secure(1 << 20);
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_put_u32le(b, (uint32_t)i), KL_OK);
	assert_int_equal(kl_le32dec(buf_data(b) + 4 * 999), 999);
	buf_free(b);
}

static void
test_hash_is_blake2b_256_of_empty(void **state)
{
	/* BLAKE2b-256("") from RFC 7693's reference implementation. */
	static const char want[] = "0e5751c026e543b2e8ab2eb06099daa1"
	    "d1e5df47778f7787faab45cdf12fe3a8";
	char hex[KL_ID_HEX_LEN + 1];
	struct kl_id id;

	(void)state;
	kl_hash((const uint8_t *)"", 0, &id);
	kl_id_hex(&id, hex);
	assert_string_equal(hex, want);
}

static void
test_streaming_hash_equals_one_shot(void **state)
{
	uint8_t data[1000];
	struct kl_hash_state st;
	struct kl_id a, b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	kl_hash(data, sizeof(data), &a);
	kl_hash_init(&st);
	kl_hash_update(&st, data, 333);
	kl_hash_update(&st, data + 333, sizeof(data) - 333);
	kl_hash_final(&st, &b);
	assert_true(kl_id_eq(&a, &b));
}

static void
test_id_parse_rejects_uppercase_and_short(void **state)
{
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1];

	(void)state;
	memset(hex, 'a', KL_ID_HEX_LEN);
	hex[KL_ID_HEX_LEN] = '\0';
	assert_int_equal(kl_id_parse(hex, &id), KL_OK);
	hex[3] = 'A';
	assert_int_equal(kl_id_parse(hex, &id), KL_E_INVAL);
	hex[3] = 'a';
	hex[63] = '\0';
	assert_int_equal(kl_id_parse(hex, &id), KL_E_INVAL);
}

static void
test_atomic_write_exclusive_never_replaces(void **state)
{
	char dir[] = "/tmp/kl-test-XXXXXX", path[64];
	struct buf *b = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(kl_file_write_atomic(dir, "f", "one", 3, 1, 0600),
	    KL_OK);
	assert_int_equal(kl_file_write_atomic(dir, "f", "two", 3, 1, 0600),
	    KL_E_EXISTS);
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(kl_file_read_all(path, 100, &b), KL_OK);
	assert_memory_equal(buf_data(b), "one", 3);
	buf_free(b);
	unlink(path);
	rmdir(dir);
}

static void
test_read_range_past_end_is_corrupt(void **state)
{
	char dir[] = "/tmp/kl-test-XXXXXX", path[64];
	struct buf *b = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(kl_file_write_atomic(dir, "f", "0123456789", 10, 1,
	    0600), KL_OK);
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(kl_file_read_range(path, 4, 4, &b), KL_OK);
	assert_memory_equal(buf_data(b), "4567", 4);
	buf_free(b);
	assert_int_equal(kl_file_read_range(path, 8, 4, &b), KL_E_CORRUPT);
	assert_null(b);
	assert_int_equal(kl_file_read_all(path, 5, &b), KL_E_LIMIT);
	unlink(path);
	rmdir(dir);
}

static void
test_errno_mapping_keeps_missing_and_full_apart(void **state)
{
	(void)state;
	assert_int_equal(kl_err_from_errno(ENOENT), KL_E_NOTFOUND);
	assert_int_equal(kl_err_from_errno(ENOSPC), KL_E_NOSPACE);
	assert_int_equal(kl_err_from_errno(EDQUOT), KL_E_NOSPACE);
	assert_int_equal(kl_err_from_errno(EIO), KL_E_IO);
	/* an OS refusal is not a key lacking the right (exit 12) */
	assert_int_equal(kl_err_from_errno(EACCES), KL_E_DENIED);
	assert_int_equal(kl_err_from_errno(EROFS), KL_E_DENIED);
	assert_string_not_equal(kl_strerror(KL_E_CORRUPT),
	    kl_strerror(KL_E_NOTFOUND));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_u32_truncated_consumes_nothing),
		cmocka_unit_test(test_put_get_round_trip_little_endian),
		cmocka_unit_test(test_put_beyond_max_is_limit_and_appends_nothing),
		cmocka_unit_test(test_view_refuses_puts),
		cmocka_unit_test(test_str16_over_max_is_limit_and_consumes_nothing),
		cmocka_unit_test(test_str16_truncated_body_consumes_nothing),
		cmocka_unit_test(test_secure_buffer_grows_and_keeps_content),
		cmocka_unit_test(test_hash_is_blake2b_256_of_empty),
		cmocka_unit_test(test_streaming_hash_equals_one_shot),
		cmocka_unit_test(test_id_parse_rejects_uppercase_and_short),
		cmocka_unit_test(test_atomic_write_exclusive_never_replaces),
		cmocka_unit_test(test_read_range_past_end_is_corrupt),
		cmocka_unit_test(test_errno_mapping_keeps_missing_and_full_apart),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
