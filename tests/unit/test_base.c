/* Unit tests of base/: the bounded buffer, hashing, file helpers, text
 * escaping, the JSON writer. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/grow.h"
#include "kluis/hash.h"
#include "kluis/json.h"
#include "kluis/map.h"
#include "kluis/text.h"
#include "kluis/units.h"

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

/* ---- struct kl_error ---- */

/* An id whose bytes are 0, 7, 14, ... and its 64 hex digits. */
static void
error_id(struct kl_id *id, char hex[KL_ID_HEX_LEN + 1])
{
	size_t i;

	for (i = 0; i < KL_ID_LEN; i++) {
		id->b[i] = (uint8_t)(7 * i);
		snprintf(hex + 2 * i, 3, "%02x", id->b[i]);
	}
}

/* e recording a CORRUPT pack, with every field set. */
static void
error_pack(struct kl_error *e, struct kl_id *id, char hex[KL_ID_HEX_LEN + 1])
{
	error_id(id, hex);
	assert_int_equal(kl_error_obj(e, KL_E_CORRUPT, KL_ABOUT_PACK, id,
	    "data/00/0007", "pack %.8s: header does not decrypt", hex),
	    KL_E_CORRUPT);
}

static void
test_error_set_records_code_and_message_about_nothing(void **state)
{
	struct kl_error e;
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1];

	(void)state;
	error_pack(&e, &id, hex);	/* what set must not keep */
	assert_int_equal(kl_error_set(&e, KL_E_INVAL, "bad %s: %d", "level",
	    42), KL_E_INVAL);
	assert_int_equal(e.code, KL_E_INVAL);
	assert_int_equal(e.kind, KL_ABOUT_NONE);
	assert_string_equal(e.id, "");
	assert_string_equal(e.path, "");
	assert_string_equal(e.msg, "bad level: 42");
	assert_true(kl_error_isset(&e));
}

static void
test_error_obj_records_kind_hex_id_and_path(void **state)
{
	struct kl_error e;
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1], want[64];

	(void)state;
	error_pack(&e, &id, hex);
	assert_int_equal(e.code, KL_E_CORRUPT);
	assert_int_equal(e.kind, KL_ABOUT_PACK);
	assert_int_equal(strlen(e.id), KL_ID_HEX_LEN);
	assert_string_equal(e.id, hex);
	assert_string_equal(e.path, "data/00/0007");
	snprintf(want, sizeof(want), "pack %.8s: header does not decrypt",
	    hex);
	assert_string_equal(e.msg, want);
}

static void
test_error_obj_without_id_or_path_leaves_them_empty(void **state)
{
	struct kl_error e;
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1];

	(void)state;
	error_pack(&e, &id, hex);	/* a previous object's id and path */
	assert_int_equal(kl_error_obj(&e, KL_E_NOTFOUND, KL_ABOUT_REPO, NULL,
	    NULL, "%s: no repository", "/srv/backup"), KL_E_NOTFOUND);
	assert_int_equal(e.code, KL_E_NOTFOUND);
	assert_int_equal(e.kind, KL_ABOUT_REPO);
	assert_string_equal(e.id, "");
	assert_string_equal(e.path, "");
	assert_string_equal(e.msg, "/srv/backup: no repository");
}

static void
test_error_wrap_prepends_context_and_keeps_the_object(void **state)
{
	struct kl_error e;
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1], want[128];

	(void)state;
	error_pack(&e, &id, hex);
	assert_int_equal(kl_error_wrap(&e, KL_E_CORRUPT, "snapshot %s",
	    "1a2b3c4d"), KL_E_CORRUPT);
	snprintf(want, sizeof(want),
	    "snapshot 1a2b3c4d: pack %.8s: header does not decrypt", hex);
	assert_string_equal(e.msg, want);
	assert_int_equal(e.code, KL_E_CORRUPT);
	assert_int_equal(e.kind, KL_ABOUT_PACK);
	assert_string_equal(e.id, hex);
	assert_string_equal(e.path, "data/00/0007");
}

static void
test_error_wrap_of_empty_error_is_context_and_code_text(void **state)
{
	struct kl_error e;
	char want[128];

	(void)state;
	kl_error_clear(&e);
	assert_int_equal(kl_error_wrap(&e, KL_E_NOTFOUND, "tree %s", "3c4d"),
	    KL_E_NOTFOUND);
	snprintf(want, sizeof(want), "tree 3c4d: %s",
	    kl_strerror(KL_E_NOTFOUND));
	assert_string_equal(e.msg, want);
	assert_int_equal(e.code, KL_E_NOTFOUND);
	assert_int_equal(e.kind, KL_ABOUT_NONE);
	assert_string_equal(e.id, "");
	assert_string_equal(e.path, "");
}

/* A detail left from a failure of another code (tolerated earlier) is
 * never shown for this one. */
static void
test_error_wrap_of_another_code_drops_the_stale_detail(void **state)
{
	struct kl_error e;
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1], want[128];

	(void)state;
	error_pack(&e, &id, hex);
	assert_int_equal(kl_error_wrap(&e, KL_E_NOTFOUND, "snapshot %s",
	    "1a2b3c4d"), KL_E_NOTFOUND);
	snprintf(want, sizeof(want), "snapshot 1a2b3c4d: %s",
	    kl_strerror(KL_E_NOTFOUND));
	assert_string_equal(e.msg, want);
	assert_int_equal(e.code, KL_E_NOTFOUND);
	assert_int_equal(e.kind, KL_ABOUT_NONE);
	assert_string_equal(e.id, "");
	assert_string_equal(e.path, "");
}

static void
test_error_msg_is_the_detail_of_the_code_returned(void **state)
{
	struct kl_error e;

	(void)state;
	kl_error_set(&e, KL_E_LOCKED, "locked by %s", "web01");
	assert_ptr_equal(kl_error_msg(&e, KL_E_LOCKED), e.msg);
	assert_string_equal(kl_error_msg(&e, KL_E_LOCKED), "locked by web01");
}

static void
test_error_msg_of_another_code_is_its_strerror(void **state)
{
	struct kl_error e;

	(void)state;
	kl_error_set(&e, KL_E_LOCKED, "locked by %s", "web01");
	assert_ptr_equal(kl_error_msg(&e, KL_E_IO), kl_strerror(KL_E_IO));
	assert_ptr_equal(kl_error_msg(&e, KL_OK), kl_strerror(KL_OK));
	kl_error_clear(&e);
	assert_ptr_equal(kl_error_msg(&e, KL_E_IO), kl_strerror(KL_E_IO));
}

static void
test_error_msg_without_detail_is_strerror(void **state)
{
	struct kl_error e;

	(void)state;
	kl_error_set(&e, KL_E_NOMEM, "%s", "");
	assert_int_equal(e.code, KL_E_NOMEM);
	assert_ptr_equal(kl_error_msg(&e, KL_E_NOMEM),
	    kl_strerror(KL_E_NOMEM));
}

static void
test_error_long_message_is_cut_and_terminated(void **state)
{
	char big[2 * KL_ERROR_MSG_MAX];
	struct kl_error e;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(&e, '#', sizeof(e));
	assert_int_equal(kl_error_set(&e, KL_E_IO, "%s", big), KL_E_IO);
	assert_int_equal(e.msg[KL_ERROR_MSG_MAX - 1], '\0');
	assert_int_equal(strlen(e.msg), KL_ERROR_MSG_MAX - 1);
	assert_memory_equal(e.msg, big, KL_ERROR_MSG_MAX - 1);
	memset(&e, '#', sizeof(e));
	assert_int_equal(kl_error_obj(&e, KL_E_IO, KL_ABOUT_FILE, NULL,
	    "/etc/x", "%s", big), KL_E_IO);
	assert_int_equal(e.msg[KL_ERROR_MSG_MAX - 1], '\0');
	assert_int_equal(strlen(e.msg), KL_ERROR_MSG_MAX - 1);
}

static void
test_error_wrap_cuts_a_long_message_and_terminates_it(void **state)
{
	char big[2 * KL_ERROR_MSG_MAX];
	struct kl_error e;

	(void)state;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* a detail that fills the message: the context goes first */
	kl_error_set(&e, KL_E_IO, "%.*s", KL_ERROR_MSG_MAX - 1, big);
	assert_int_equal(kl_error_wrap(&e, KL_E_IO, "ctx"), KL_E_IO);
	assert_int_equal(strlen(e.msg), KL_ERROR_MSG_MAX - 1);
	assert_memory_equal(e.msg, "ctx: yyy", 8);
	assert_memory_equal(e.msg + 5, big, KL_ERROR_MSG_MAX - 1 - 5);
	/* a context longer than the message: cut, nothing after it */
	kl_error_set(&e, KL_E_IO, "detail");
	assert_int_equal(kl_error_wrap(&e, KL_E_IO, "%s", big), KL_E_IO);
	assert_int_equal(e.msg[KL_ERROR_MSG_MAX - 1], '\0');
	assert_int_equal(strlen(e.msg), KL_ERROR_MSG_MAX - 1);
	assert_memory_equal(e.msg, big, KL_ERROR_MSG_MAX - 1);
}

static void
test_error_functions_accept_null(void **state)
{
	struct kl_id id;

	(void)state;
	memset(&id, 0, sizeof(id));
	kl_error_clear(NULL);
	assert_int_equal(kl_error_set(NULL, KL_E_IO, "x"), KL_E_IO);
	assert_int_equal(kl_error_obj(NULL, KL_E_CORRUPT, KL_ABOUT_BLOB, &id,
	    "p", "x"), KL_E_CORRUPT);
	assert_int_equal(kl_error_wrap(NULL, KL_E_NOTFOUND, "x"),
	    KL_E_NOTFOUND);
	assert_false(kl_error_isset(NULL));
	assert_ptr_equal(kl_error_msg(NULL, KL_E_IO), kl_strerror(KL_E_IO));
}

static void
test_error_clear_empties_every_field(void **state)
{
	struct kl_error e;
	struct kl_id id;
	char hex[KL_ID_HEX_LEN + 1];

	(void)state;
	error_pack(&e, &id, hex);
	assert_true(kl_error_isset(&e));
	kl_error_clear(&e);
	assert_false(kl_error_isset(&e));
	assert_int_equal(e.code, KL_OK);
	assert_int_equal(e.kind, KL_ABOUT_NONE);
	assert_string_equal(e.id, "");
	assert_string_equal(e.path, "");
	assert_string_equal(e.msg, "");
}

/* ---- kl_text_esc ---- */

static void
esc_is(const char *in, size_t len, const char *want)
{
	char out[KL_TEXT_ESC_LEN(64)];

	assert_true(len <= 64);
	assert_int_equal(kl_text_esc(out, sizeof(out), in, len), len);
	assert_string_equal(out, want);
	assert_int_equal(kl_text_esc_len(in, len), strlen(want));
}

#define ESC_IS(in, want) esc_is(in, sizeof(in) - 1, want)

static void
test_text_esc_controls_del_and_backslash(void **state)
{
	(void)state;
	ESC_IS("a\x1b[2J\a\r\n\t\x7f\\b", "a\\x1b[2J\\x07\\x0d\\x0a\\x09"
	    "\\x7f\\\\b");
	ESC_IS("nul\0end", "nul\\x00end");
	ESC_IS("plain name.txt", "plain name.txt");
	ESC_IS("", "");
}

static void
test_text_esc_keeps_valid_utf8(void **state)
{
	(void)state;
	ESC_IS("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	/* no-break space, per mille: next to escaped ranges, kept */
	ESC_IS("\xc2\xa0\xe2\x80\xa7\xe2\x80\xb0\xe2\x81\xa5\xe2\x81\xaa",
	    "\xc2\xa0\xe2\x80\xa7\xe2\x80\xb0\xe2\x81\xa5\xe2\x81\xaa");
}

static void
test_text_esc_invalid_utf8_byte_by_byte(void **state)
{
	(void)state;
	ESC_IS("\xff", "\\xff");
	ESC_IS("\xc3(", "\\xc3(");			/* bad continuation */
	ESC_IS("x\xe2\x82", "x\\xe2\\x82");		/* cut short */
	ESC_IS("\xc0\xaf", "\\xc0\\xaf");		/* overlong '/' */
	ESC_IS("\xed\xa0\x80", "\\xed\\xa0\\x80");	/* surrogate */
	ESC_IS("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
}

static void
test_text_esc_c1_and_bidi_controls(void **state)
{
	(void)state;
	ESC_IS("\xc2\x80\xc2\x9b" "1m", "\\xc2\\x80\\xc2\\x9b1m");	/* CSI */
	ESC_IS("\xc2\x9f", "\\xc2\\x9f");
	ESC_IS("a\xe2\x80\xaetxt.exe", "a\\xe2\\x80\\xaetxt.exe"); /* RLO */
	ESC_IS("\xe2\x80\xa8\xe2\x80\xa9", "\\xe2\\x80\\xa8\\xe2\\x80\\xa9");
	ESC_IS("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c",
	    "\\xe2\\x80\\x8e\\xe2\\x80\\x8f\\xd8\\x9c");
	ESC_IS("\xe2\x81\xa6\xe2\x81\xa9", "\\xe2\\x81\\xa6\\xe2\\x81\\xa9");
}

/* Undoes kl_text_esc: "\\" and "\xNN"; -1 on anything else after '\'. */
static int
unesc(const char *s, uint8_t *out, size_t *n)
{
	unsigned v;

	*n = 0;
	while (*s != '\0') {
		if (*s != '\\') {
			out[(*n)++] = (uint8_t)*s++;
			continue;
		}
		if (s[1] == '\\') {
			out[(*n)++] = '\\';
			s += 2;
		} else if (s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1) {
			out[(*n)++] = (uint8_t)v;
			s += 4;
		} else
			return -1;
	}
	return 0;
}

/* Random bytes, biased towards the interesting ones. */
static void
esc_random(uint8_t *p, size_t n)
{
	static const uint8_t pick[] = { 0x1b, '\\', 'x', 0x07, 0x0d, 0x0a,
	    0x7f, 0xc2, 0x9b, 0xe2, 0x80, 0xae, 0xf0, 0x9f, 'a', 0xff };
	size_t i;

	randombytes_buf(p, n);
	for (i = 0; i < n; i++)
		if (p[i] & 1)
			p[i] = pick[p[i] >> 4];
}

/*
 * For random input: the output round-trips, holds no control byte and
 * nothing kl_text_esc would escape but its own backslashes, and escaping
 * through any buffer size in steps gives the same text.
 */
static void
test_text_esc_round_trips_and_steps(void **state)
{
	uint8_t in[48], back[48];
	char full[KL_TEXT_ESC_LEN(48)], step[KL_TEXT_ESC_LEN(48)];
	char part[KL_TEXT_ESC_LEN(48)];
	size_t t, n, used, off, cap, bs;

	(void)state;
	for (t = 0; t < 2000; t++) {
		n = randombytes_uniform(sizeof(in) + 1);
		esc_random(in, n);
		assert_int_equal(kl_text_esc(full, sizeof(full),
		    (const char *)in, n), n);
		assert_int_equal(unesc(full, back, &used), 0);
		assert_int_equal(used, n);
		assert_memory_equal(back, in, n);
		for (bs = 0, off = 0; full[off] != '\0'; off++)
			bs += full[off] == '\\';
		assert_int_equal(kl_text_esc_len(full, strlen(full)),
		    strlen(full) + bs);
		cap = KL_TEXT_ESC_STEP_MIN + randombytes_uniform(8);
		step[0] = '\0';
		for (off = 0; off < n; off += used) {
			used = kl_text_esc(part, cap, (const char *)in + off,
			    n - off);
			assert_true(used > 0);
			assert_true(strlen(part) < cap);
			strcat(step, part);
		}
		assert_string_equal(step, full);
	}
}

static void
test_text_esc_tiny_buffer_writes_whole_units_only(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(kl_text_esc(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
	assert_int_equal(kl_text_esc(out, 4, "\x1b" "a", 2), 0);
	assert_string_equal(out, "");
	assert_int_equal(kl_text_esc(out, 5, "\x1b" "a", 2), 1);
	assert_string_equal(out, "\\x1b");
	assert_int_equal(kl_text_esc(out, 4, "\xe6\x97\xa5", 3), 3);
	assert_int_equal(kl_text_esc(out, 3, "\xe6\x97\xa5", 3), 0);
}

/* kl_hash_slot of a fixed input, computed in a child process that has not
 * drawn its key yet. */
static uint64_t
slot_in_child(void)
{
	int fd[2];
	pid_t pid;
	uint64_t v = 0;
	int st;

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		v = kl_hash_slot("kluis", 5);
		_exit(write(fd[1], &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
	}
	close(fd[1]);
	assert_int_equal(read(fd[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	close(fd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return v;
}

/* The slots of hash tables fed from repository content (issue #10
 * finding 5): stable within a process, keyed afresh in every process, so
 * that no writer can compute which ids share a slot. */
static void
test_hash_slot_is_keyed_per_process(void **state)
{
	uint64_t a, b, here;

	(void)state;
	a = slot_in_child();
	b = slot_in_child();
	here = kl_hash_slot("kluis", 5);
	assert_true(a != b);
	assert_true(here != a && here != b);
	assert_true(kl_hash_slot("kluis", 5) == here);
	assert_true(kl_hash_slot("kluit", 5) != here);
}

static void
test_duration_units_and_order(void **state)
{
	static const struct {
		const char *s;
		int64_t secs;
	} good[] = {
		{ "0", 0 }, { "90s", 90 }, { "5min", 300 }, { "3h", 10800 },
		{ "14d", 14 * 86400 }, { "2w", 14 * 86400 },
		{ "1m", 30 * 86400 }, { "1y", 365 * 86400 },
		{ "2y5m7d3h", (730 + 150 + 7) * 86400 + 3 * 3600 },
		{ "1d1h1min1s", 86400 + 3600 + 61 },
		{ "1000y", 1000 * 365 * (int64_t)86400 },
	};
	static const char *const bad[] = {
		"", "5", "d", "1d1d", "1h1d", "1x", "1 d", "-1d", "1dd",
		"1mi", "1m1min1m", "0d0", "1.5d",
	};
	int64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		assert_int_equal(kl_duration_parse(good[i].s, &v), KL_OK);
		assert_true(v == good[i].secs);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		assert_int_equal(kl_duration_parse(bad[i], &v), KL_E_INVAL);
		assert_true(v == -7);
	}
	assert_int_equal(kl_duration_parse("1001y", &v), KL_E_LIMIT);
	assert_int_equal(kl_duration_parse("1000y1s", &v), KL_E_LIMIT);
	assert_int_equal(kl_duration_parse("99999999999999999999999d", &v),
	    KL_E_LIMIT);
}

static void
test_size_units_and_limits(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(kl_size_parse("0", &v), KL_OK);
	assert_true(v == 0);
	assert_int_equal(kl_size_parse("512B", &v), KL_OK);
	assert_true(v == 512);
	assert_int_equal(kl_size_parse("3K", &v), KL_OK);
	assert_true(v == 3072);
	assert_int_equal(kl_size_parse("10GiB", &v), KL_OK);
	assert_true(v == (uint64_t)10 << 30);
	assert_int_equal(kl_size_parse("2T", &v), KL_OK);
	assert_true(v == (uint64_t)2 << 40);
	v = 7;
	assert_int_equal(kl_size_parse("", &v), KL_E_INVAL);
	assert_int_equal(kl_size_parse("G", &v), KL_E_INVAL);
	assert_int_equal(kl_size_parse("1g", &v), KL_E_INVAL);
	assert_int_equal(kl_size_parse("1 G", &v), KL_E_INVAL);
	assert_int_equal(kl_size_parse("-1", &v), KL_E_INVAL);
	assert_true(v == 7);
	assert_int_equal(kl_size_parse("8388608T", &v), KL_E_LIMIT);
	assert_int_equal(kl_size_parse("9223372036854775808", &v),
	    KL_E_LIMIT);
	assert_int_equal(kl_size_parse("9223372036854775807", &v), KL_OK);
}

struct pt {
	uint32_t a, b;
};

static void
test_grow_doubles_keeps_content_and_changes_nothing_on_failure(void **state)
{
	struct pt *v = NULL, *before;
	size_t cap = 0, i;

	(void)state;
	assert_int_equal(KL_GROW(v, cap, 1), KL_OK);
	assert_int_equal(cap, KL_GROW_MIN);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(KL_GROW(v, cap, i + 1), KL_OK);
		assert_true(cap >= i + 1);
		v[i].a = (uint32_t)i;
		v[i].b = (uint32_t)(i * 3);
	}
	assert_int_equal(cap, 1024);
	for (i = 0; i < 1000; i++)
		assert_true(v[i].a == i && v[i].b == i * 3);
	/* enough room: nothing allocates, the fault is not even reached */
	kl_grow_fault(1);
	assert_int_equal(KL_GROW(v, cap, 1024), KL_OK);
	/* the first growth that allocates fails; array and cap untouched */
	before = v;
	assert_int_equal(KL_GROW(v, cap, 1025), KL_E_NOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 1024);
	assert_true(v[999].a == 999);
	/* only that one: the next succeeds */
	assert_int_equal(KL_GROW(v, cap, 1025), KL_OK);
	assert_int_equal(cap, 2048);
	/* sizes that overflow are refused before any allocation */
	assert_int_equal(kl_grow(&v, &cap, SIZE_MAX / 2 + 2, 1), KL_E_LIMIT);
	assert_int_equal(kl_grow(&v, &cap, SIZE_MAX / 8, sizeof(*v)),
	    KL_E_LIMIT);
	assert_int_equal(cap, 2048);
	kl_grow_fault(0);
	free(v);
}

/* The n-th growth failing, for every n: the caller sees KL_E_NOMEM and
 * keeps what it had (STYLE "Tests": make the n-th call fail, raise n). */
static void
test_grow_fault_at_every_step(void **state)
{
	uint64_t *v;
	size_t cap, i, n;
	long at;
	int rc, hit;

	(void)state;
	for (at = 1;; at++) {
		v = NULL;
		cap = 0;
		n = 0;
		hit = 0;
		kl_grow_fault(at);
		for (i = 0; i < 5000; i++) {
			if ((rc = KL_GROW(v, cap, n + 1)) != KL_OK) {
				assert_int_equal(rc, KL_E_NOMEM);
				hit = 1;
				break;
			}
			v[n++] = i;
		}
		for (i = 0; i < n; i++)
			assert_true(v[i] == i);
		free(v);
		if (!hit)
			break;
	}
	/* 16, 32, ..., 8192: ten growths, so the eleventh run had none */
	assert_int_equal(at, 11);
	kl_grow_fault(0);
}

/* kl_json_str into a string (open_memstream). */
static char *
json_of(const char *s, size_t len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	assert_non_null(f);
	kl_json_str(f, s, len);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void
test_json_str_one_rule_for_every_byte(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} v[] = {
		{ "plain", 5, "\"plain\"" },
		{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "tab\tnl\n", 7, "\"tab\\u0009nl\\u000a\"" },
		{ "nul\0x", 5, "\"nul\\u0000x\"" },
		{ "del\x7f", 4, "\"del\\u007f\"" },
		{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },	/* UTF-8 kept */
		{ "bad\xffname", 8, "\"bad\\u00ffname\"" },
		{ "cut\xc3", 4, "\"cut\\u00c3\"" },	/* truncated sequence */
		{ "\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"" },	/* surrogate */
		{ "csi\xc2\x9b", 5, "\"csi\\u009b\"" },	/* C1 control */
		{ "\xe2\x80\xaertl", 6, "\"\\u202ertl\"" },	/* bidi override */
		{ "ls\xe2\x80\xa8", 5, "\"ls\\u2028\"" },	/* line separator */
		{ "", 0, "\"\"" },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		got = json_of(v[i].in, v[i].len);
		assert_string_equal(got, v[i].out);
		free(got);
	}
}

/* A writer into a string: json_open_mem, write, json_done (open_memstream). */
struct jmem {
	struct kl_json j;
	FILE *f;
	char *out;
	size_t n;
};

static void
json_open_mem(struct jmem *m)
{
	m->out = NULL;
	m->n = 0;
	m->f = open_memstream(&m->out, &m->n);
	assert_non_null(m->f);
	kl_json_init(&m->j, m->f);
}

/* Closes the stream, compares what was written with want, frees it. */
static void
json_done(struct jmem *m, const char *want)
{
	assert_int_equal(fclose(m->f), 0);
	assert_string_equal(m->out, want);
	free(m->out);
}

static void
test_json_commas_between_members_and_elements(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_u64(&m.j, "a", 1);
	kl_json_u64(&m.j, "b", 2);
	kl_json_arr(&m.j, "c");
	kl_json_u64(&m.j, NULL, 3);
	kl_json_u64(&m.j, NULL, 4);
	kl_json_arr(&m.j, NULL);
	kl_json_u64(&m.j, NULL, 5);
	kl_json_u64(&m.j, NULL, 6);
	kl_json_arr_end(&m.j);
	kl_json_u64(&m.j, NULL, 7);
	kl_json_arr_end(&m.j);
	kl_json_obj(&m.j, "d");
	kl_json_u64(&m.j, "e", 8);
	kl_json_u64(&m.j, "f", 9);
	kl_json_obj_end(&m.j);
	kl_json_u64(&m.j, "g", 10);
	kl_json_obj_end(&m.j);
	json_done(&m, "{\"a\":1,\"b\":2,\"c\":[3,4,[5,6],7],"
	    "\"d\":{\"e\":8,\"f\":9},\"g\":10}");
}

static void
test_json_empty_object_and_array(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_arr(&m.j, NULL);
	kl_json_obj(&m.j, NULL);
	kl_json_obj_end(&m.j);
	kl_json_arr(&m.j, NULL);
	kl_json_arr_end(&m.j);
	kl_json_obj(&m.j, NULL);
	kl_json_arr(&m.j, "x");
	kl_json_arr_end(&m.j);
	kl_json_obj(&m.j, "y");
	kl_json_obj_end(&m.j);
	kl_json_obj_end(&m.j);
	kl_json_arr_end(&m.j);
	json_done(&m, "[{},[],{\"x\":[],\"y\":{}}]");
}

static void
test_json_keys_and_strings_escaped_alike(void **state)
{
	static const char name[] = "a\"b\\c\td\x7f\xff\xc2\x9b\xc3\xa9";
	struct jmem m;
	char *want;

	(void)state;
	want = json_of(name, sizeof(name) - 1);
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_text(&m.j, name, name);
	kl_json_obj_end(&m.j);
	assert_int_equal(fclose(m.f), 0);
	assert_int_equal(m.n, 1 + 2 * strlen(want) + 2);
	assert_memory_equal(m.out + 1, want, strlen(want));
	assert_int_equal(m.out[1 + strlen(want)], ':');
	assert_memory_equal(m.out + 2 + strlen(want), want, strlen(want));
	free(m.out);
	free(want);
}

static void
test_json_text_with_length_keeps_nul_bytes(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_arr(&m.j, NULL);
	kl_json_textn(&m.j, NULL, "a\0b", 3);
	kl_json_textn(&m.j, NULL, "cut here", 3);
	kl_json_arr_end(&m.j);
	json_done(&m, "[\"a\\u0000b\",\"cut\"]");
}

static void
test_json_integers_in_decimal_to_their_limits(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_u64(&m.j, "u0", 0);
	kl_json_u64(&m.j, "umax", UINT64_MAX);
	kl_json_i64(&m.j, "i", -42);
	kl_json_i64(&m.j, "imin", INT64_MIN);
	kl_json_i64(&m.j, "imax", INT64_MAX);
	kl_json_obj_end(&m.j);
	json_done(&m, "{\"u0\":0,\"umax\":18446744073709551615,\"i\":-42,"
	    "\"imin\":-9223372036854775808,\"imax\":9223372036854775807}");
}

/* The formats the command line, the report and the server use ("%.3f",
 * "%.6f", "%.1f", "%.2f", "%.4f"), rounded as printf rounds. */
static void
test_json_real_writes_each_number_of_decimals_like_printf(void **state)
{
	static const struct {
		double v;
		int decimals;
		const char *want;
	} v[] = {
		{ 1.23456789, 3, "1.235" }, { 0.0, 3, "0.000" },
		{ 2.0 / 3.0, 6, "0.666667" }, { 12345.06, 1, "12345.1" },
		{ 0.125, 2, "0.12" }, { 0.99996, 4, "1.0000" },
		{ -1.5, 0, "-2" }, { 1e15 + 0.5, 3, "1000000000000000.500" },
		{ 0.1, 17, "0.10000000000000001" },
		{ NAN, 3, "null" }, { -INFINITY, 1, "null" },
	};
	struct jmem m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		json_open_mem(&m);
		kl_json_real(&m.j, NULL, v[i].v, v[i].decimals);
		json_done(&m, v[i].want);
	}
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_real(&m.j, "duration_s", 1.5, 3);
	kl_json_real(&m.j, "coverage", 0.25, 6);
	kl_json_obj_end(&m.j);
	json_done(&m, "{\"duration_s\":1.500,\"coverage\":0.250000}");
}

static void
test_json_null_true_false_and_null_for_a_null_string(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_null(&m.j, "n");
	kl_json_bool(&m.j, "t", 7);
	kl_json_bool(&m.j, "f", 0);
	kl_json_text(&m.j, "s", NULL);
	kl_json_text(&m.j, "e", "");
	kl_json_obj_end(&m.j);
	json_done(&m, "{\"n\":null,\"t\":true,\"f\":false,\"s\":null,"
	    "\"e\":\"\"}");
}

static void
test_json_objects_in_arrays_and_back(void **state)
{
	struct jmem m;
	int i;

	(void)state;
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_arr(&m.j, "rows");
	for (i = 0; i < 3; i++) {
		kl_json_obj(&m.j, NULL);
		kl_json_i64(&m.j, "i", i);
		kl_json_arr(&m.j, "tags");
		if (i > 0)
			kl_json_text(&m.j, NULL, "x");
		kl_json_arr_end(&m.j);
		kl_json_obj_end(&m.j);
	}
	kl_json_arr_end(&m.j);
	kl_json_bool(&m.j, "ok", 1);
	kl_json_obj_end(&m.j);
	json_done(&m, "{\"rows\":[{\"i\":0,\"tags\":[]},{\"i\":1,\"tags\":"
	    "[\"x\"]},{\"i\":2,\"tags\":[\"x\"]}],\"ok\":true}");
}

/* A function that writes one value wherever it goes: after kl_json_key,
 * in an array, at the top level. */
static void
json_one_value(struct kl_json *j)
{
	kl_json_obj(j, NULL);
	kl_json_u64(j, "v", 1);
	kl_json_obj_end(j);
}

static void
test_json_key_then_a_value_written_elsewhere(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_obj(&m.j, NULL);
	kl_json_u64(&m.j, "a", 0);
	kl_json_key(&m.j, "b");
	json_one_value(&m.j);
	kl_json_key(&m.j, "c");
	kl_json_null(&m.j, NULL);
	kl_json_arr(&m.j, "d");
	json_one_value(&m.j);
	json_one_value(&m.j);
	kl_json_arr_end(&m.j);
	kl_json_obj_end(&m.j);
	json_one_value(&m.j);	/* top level: no separator */
	json_done(&m, "{\"a\":0,\"b\":{\"v\":1},\"c\":null,"
	    "\"d\":[{\"v\":1},{\"v\":1}]}{\"v\":1}");
}

static void
test_json_id_is_its_hex_string(void **state)
{
	struct kl_id id;
	struct jmem m;
	char hex[KL_ID_HEX_LEN + 1], want[KL_ID_HEX_LEN + 8];

	(void)state;
	kl_hash((const uint8_t *)"x", 1, &id);
	kl_id_hex(&id, hex);
	snprintf(want, sizeof(want), "[\"%s\"]", hex);
	json_open_mem(&m);
	kl_json_arr(&m.j, NULL);
	kl_json_id(&m.j, NULL, &id);
	kl_json_arr_end(&m.j);
	json_done(&m, want);
}

static void
test_json_arr_lines_puts_elements_on_lines(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_arr_lines(&m.j, NULL);
	json_one_value(&m.j);
	json_one_value(&m.j);
	kl_json_arr(&m.j, NULL);	/* an inner array: compact */
	kl_json_u64(&m.j, NULL, 1);
	kl_json_u64(&m.j, NULL, 2);
	kl_json_arr_end(&m.j);
	kl_json_arr_end(&m.j);
	json_done(&m, "[{\"v\":1},\n{\"v\":1},\n[1,2]]");
}

/* kl_json_num: the fewest digits that read back, integers without a
 * point, 17 digits where 15 do not do, null for what JSON cannot hold. */
static void
test_json_num_writes_the_shortest_exact_number(void **state)
{
	struct jmem m;

	(void)state;
	json_open_mem(&m);
	kl_json_arr(&m.j, NULL);
	kl_json_num(&m.j, NULL, 0.25);
	kl_json_num(&m.j, NULL, 42);
	kl_json_num(&m.j, NULL, -1.5e-7);
	kl_json_num(&m.j, NULL, 0.1 + 0.2);
	kl_json_num(&m.j, NULL, NAN);
	kl_json_num(&m.j, NULL, INFINITY);
	kl_json_arr_end(&m.j);
	json_done(&m, "[0.25,42,-1.5e-07,0.30000000000000004,null,null]");
}

static void
misuse_key_in_array(struct kl_json *j)
{
	kl_json_arr(j, NULL);
	kl_json_u64(j, "k", 1);
}

static void
misuse_no_key_in_object(struct kl_json *j)
{
	kl_json_obj(j, NULL);
	kl_json_u64(j, NULL, 1);
}

static void
misuse_key_at_top_level(struct kl_json *j)
{
	kl_json_key(j, "k");
}

static void
misuse_two_keys(struct kl_json *j)
{
	kl_json_obj(j, NULL);
	kl_json_key(j, "a");
	kl_json_u64(j, "b", 1);
}

static void
misuse_close_with_a_key_due(struct kl_json *j)
{
	kl_json_obj(j, NULL);
	kl_json_key(j, "a");
	kl_json_obj_end(j);
}

static void
misuse_close_the_other_kind(struct kl_json *j)
{
	kl_json_arr(j, NULL);
	kl_json_obj_end(j);
}

static void
misuse_close_nothing(struct kl_json *j)
{
	kl_json_arr_end(j);
}

static void
misuse_too_deep(struct kl_json *j)
{
	int i;

	for (i = 0; i <= KL_JSON_DEPTH_MAX; i++)
		kl_json_arr(j, NULL);
}

static void
misuse_too_many_decimals(struct kl_json *j)
{
	kl_json_real(j, NULL, 1.0, KL_JSON_DECIMALS_MAX + 1);
}

/* 1 if fn aborts (in a child process: its output goes to /dev/null). */
static int
json_aborts(void (*fn)(struct kl_json *))
{
	struct kl_json j;
	pid_t pid;
	FILE *f;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((f = fopen("/dev/null", "w")) == NULL)
			_exit(2);
		kl_json_init(&j, f);
		fn(&j);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void
test_json_misuse_aborts(void **state)
{
	struct jmem m;
	int i;

	(void)state;
	assert_true(json_aborts(misuse_key_in_array));
	assert_true(json_aborts(misuse_no_key_in_object));
	assert_true(json_aborts(misuse_key_at_top_level));
	assert_true(json_aborts(misuse_two_keys));
	assert_true(json_aborts(misuse_close_with_a_key_due));
	assert_true(json_aborts(misuse_close_the_other_kind));
	assert_true(json_aborts(misuse_close_nothing));
	assert_true(json_aborts(misuse_too_deep));
	assert_true(json_aborts(misuse_too_many_decimals));
	/* the limit itself is no misuse */
	json_open_mem(&m);
	for (i = 0; i < KL_JSON_DEPTH_MAX; i++)
		kl_json_arr(&m.j, NULL);
	for (i = 0; i < KL_JSON_DEPTH_MAX; i++)
		kl_json_arr_end(&m.j);
	assert_int_equal(fclose(m.f), 0);
	assert_int_equal(m.n, 2 * KL_JSON_DEPTH_MAX);
	free(m.out);
}

static void
test_map_put_get_set_and_grow(void **state)
{
	struct kl_map m;
	uint8_t key[32];
	uint64_t v, i;

	(void)state;
	kl_map_init(&m, sizeof(key));
	memset(key, 0, sizeof(key));
	assert_int_equal(kl_map_get(&m, key, &v), 0);	/* empty: no memory */
	for (i = 0; i < 5000; i++) {
		kl_le64enc(key, i);
		assert_int_equal(kl_map_put(&m, key, i * 7), 1);
	}
	assert_int_equal(m.n, 5000);
	assert_true(m.n * 4 <= m.cap * 3);
	kl_le64enc(key, 42);
	assert_int_equal(kl_map_put(&m, key, 1), 0);	/* there: unchanged */
	for (i = 0; i < 5000; i++) {
		kl_le64enc(key, i);
		assert_int_equal(kl_map_get(&m, key, &v), 1);
		assert_true(v == i * 7);
	}
	kl_le64enc(key, 5000);
	v = 99;
	assert_int_equal(kl_map_get(&m, key, &v), 0);
	assert_true(v == 99);
	assert_int_equal(kl_map_set(&m, key, 1), 0);	/* absent: not added */
	assert_int_equal(kl_map_get(&m, key, &v), 0);
	kl_le64enc(key, 3);
	assert_int_equal(kl_map_set(&m, key, 0), 1);
	assert_int_equal(kl_map_get(&m, key, &v), 1);
	assert_true(v == 0);
	assert_int_equal(kl_map_put(&m, key, UINT64_MAX), KL_E_LIMIT);
	kl_map_clear(&m);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.key_len, sizeof(key));
	assert_int_equal(kl_map_get(&m, key, &v), 0);
}

/* The longest run of occupied slots of m. */
static size_t
longest_run(const struct kl_map *m)
{
	size_t i, run = 0, longest = 0;

	for (i = 0; i < m->cap; i++) {
		run = m->v[i] != 0 ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest;
}

/* kl_map_run_max sees the longest run, around the end of the slots too:
 * none in an empty map, one for one key, at least the longest run that
 * does not wrap and at most the number of keys. */
static void
test_map_run_max_is_the_longest_run(void **state)
{
	struct kl_map m;
	uint64_t k;

	(void)state;
	kl_map_init(&m, sizeof(k));
	assert_int_equal(kl_map_run_max(&m), 0);
	k = 7;
	assert_int_equal(kl_map_put(&m, &k, 1), 1);
	assert_int_equal(kl_map_run_max(&m), 1);
	for (k = 100; k < 140; k++)
		assert_int_equal(kl_map_put(&m, &k, k), 1);
	assert_true(kl_map_run_max(&m) >= longest_run(&m));
	assert_true(kl_map_run_max(&m) <= m.n);
	assert_true(kl_map_run_max(&m) > 1);	/* 41 keys in 64 slots */
	kl_map_clear(&m);
}

/*
 * Keys an attacker chooses - 65,536 ids that share their first 24 bytes,
 * or numbers that differ only above bit 40 - still spread: the longest
 * run of occupied slots stays short (at load 3/4, a run of 512 has odds
 * far below 2^-100).
 */
static void
test_map_spreads_keys_an_attacker_chooses(void **state)
{
	struct kl_map m;
	uint8_t key[32];
	size_t i;

	(void)state;
	kl_map_init(&m, sizeof(key));
	memset(key, 0xab, sizeof(key));
	for (i = 0; i < 65536; i++) {
		key[30] = (uint8_t)(i >> 8);
		key[31] = (uint8_t)i;
		assert_int_equal(kl_map_put(&m, key, i), 1);
	}
	assert_true(longest_run(&m) < 512);
	kl_map_clear(&m);
	kl_map_init(&m, 8);
	for (i = 0; i < 65536; i++) {
		kl_le64enc(key, (uint64_t)i << 40);
		assert_int_equal(kl_map_put(&m, key, i), 1);
	}
	assert_true(longest_run(&m) < 512);
	assert_true(kl_map_run_max(&m) < 512);
	kl_map_clear(&m);
}

/* Issue #15: one Prometheus label escaper for kluis and kluis-server. */
static void
test_prom_label(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(f = open_memstream(&out, &len));
	kl_prom_label(f, "a\\b\"c\nd\te\x7f\xff\xc3\xa9\xe2\x82");
	kl_prom_label(f, "");
	assert_int_equal(fclose(f), 0);
	/* \ and " escaped, newline as \n, tab and DEL dropped, a stray byte
	 * and a cut sequence each U+FFFD, valid UTF-8 kept */
	assert_string_equal(out, "\"a\\\\b\\\"c\\nde\xef\xbf\xbd\xc3\xa9"
	    "\xef\xbf\xbd\xef\xbf\xbd\"\"\"");
	free(out);
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
		cmocka_unit_test(test_hash_slot_is_keyed_per_process),
		cmocka_unit_test(test_id_parse_rejects_uppercase_and_short),
		cmocka_unit_test(test_atomic_write_exclusive_never_replaces),
		cmocka_unit_test(test_read_range_past_end_is_corrupt),
		cmocka_unit_test(test_errno_mapping_keeps_missing_and_full_apart),
		cmocka_unit_test(
		    test_error_set_records_code_and_message_about_nothing),
		cmocka_unit_test(test_error_obj_records_kind_hex_id_and_path),
		cmocka_unit_test(
		    test_error_obj_without_id_or_path_leaves_them_empty),
		cmocka_unit_test(
		    test_error_wrap_prepends_context_and_keeps_the_object),
		cmocka_unit_test(
		    test_error_wrap_of_empty_error_is_context_and_code_text),
		cmocka_unit_test(
		    test_error_wrap_of_another_code_drops_the_stale_detail),
		cmocka_unit_test(
		    test_error_msg_is_the_detail_of_the_code_returned),
		cmocka_unit_test(
		    test_error_msg_of_another_code_is_its_strerror),
		cmocka_unit_test(test_error_msg_without_detail_is_strerror),
		cmocka_unit_test(test_error_long_message_is_cut_and_terminated),
		cmocka_unit_test(
		    test_error_wrap_cuts_a_long_message_and_terminates_it),
		cmocka_unit_test(test_error_functions_accept_null),
		cmocka_unit_test(test_error_clear_empties_every_field),
		cmocka_unit_test(test_text_esc_controls_del_and_backslash),
		cmocka_unit_test(test_prom_label),
		cmocka_unit_test(test_text_esc_keeps_valid_utf8),
		cmocka_unit_test(test_text_esc_invalid_utf8_byte_by_byte),
		cmocka_unit_test(test_text_esc_c1_and_bidi_controls),
		cmocka_unit_test(test_text_esc_round_trips_and_steps),
		cmocka_unit_test(test_text_esc_tiny_buffer_writes_whole_units_only),
		cmocka_unit_test(test_duration_units_and_order),
		cmocka_unit_test(test_size_units_and_limits),
		cmocka_unit_test(
		    test_grow_doubles_keeps_content_and_changes_nothing_on_failure),
		cmocka_unit_test(test_grow_fault_at_every_step),
		cmocka_unit_test(test_json_str_one_rule_for_every_byte),
		cmocka_unit_test(test_json_commas_between_members_and_elements),
		cmocka_unit_test(test_json_empty_object_and_array),
		cmocka_unit_test(test_json_keys_and_strings_escaped_alike),
		cmocka_unit_test(test_json_text_with_length_keeps_nul_bytes),
		cmocka_unit_test(test_json_integers_in_decimal_to_their_limits),
		cmocka_unit_test(
		    test_json_real_writes_each_number_of_decimals_like_printf),
		cmocka_unit_test(
		    test_json_null_true_false_and_null_for_a_null_string),
		cmocka_unit_test(test_json_objects_in_arrays_and_back),
		cmocka_unit_test(test_json_key_then_a_value_written_elsewhere),
		cmocka_unit_test(test_json_id_is_its_hex_string),
		cmocka_unit_test(test_json_arr_lines_puts_elements_on_lines),
		cmocka_unit_test(test_json_num_writes_the_shortest_exact_number),
		cmocka_unit_test(test_json_misuse_aborts),
		cmocka_unit_test(test_map_put_get_set_and_grow),
		cmocka_unit_test(test_map_run_max_is_the_longest_run),
		cmocka_unit_test(test_map_spreads_keys_an_attacker_chooses),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
