/*
 * Unit tests of the protocol codec (protocol/proto.c, docs/PROTOCOL.md):
 * round trips, every rule of every body, frame limits, and deterministic
 * mutation of every decoder and of frame parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/proto.h"

#include "mutate.h"

#define NAME64 "0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

/* An in-memory stream: writes append to w, reads consume r[off, len). */
struct mem {
	struct buf *w;
	const uint8_t *r;
	size_t len, off;
};

static int
mem_write(void *ctx, const void *p, size_t n)
{
	struct mem *m = ctx;

	return buf_put(m->w, p, n) == KL_OK ? KL_OK : KL_E_CONN;
}

static int
mem_read(void *ctx, void *p, size_t n)
{
	struct mem *m = ctx;

	if (n > m->len - m->off)
		return KL_E_CONN;
	memcpy(p, m->r + m->off, n);
	m->off += n;
	return KL_OK;
}

static struct buf *
new_buf(void)
{
	struct buf *b = buf_new(KL_FRAME_BODY_MAX + KL_FRAME_HDR_LEN);

	assert_non_null(b);
	return b;
}

/* Reads one frame from p[0, len). */
static int
read_from(const uint8_t *p, size_t len, uint8_t *type, uint32_t *id,
    struct buf *body)
{
	struct mem m = { NULL, p, len, 0 };

	return kl_frame_read(mem_read, &m, type, id, body);
}

/* A frame header with any length. */
static void
hdr(uint8_t out[KL_FRAME_HDR_LEN], uint32_t len, uint8_t type, uint32_t id)
{
	kl_le32enc(out, len);
	out[4] = type;
	kl_le32enc(out + 5, id);
}

static struct kl_msg_hello
hello_sample(void)
{
	struct kl_msg_hello h;

	memset(&h, 0, sizeof(h));
	h.min_version = 1;
	h.max_version = 3;
	strcpy(h.repo, "/srv/kluis/web01");
	strcpy(h.client, "kluis 0.1.0 web01");
	return h;
}

/* --- frames --- */

static void
test_frame_round_trip(void **state)
{
	struct buf *w = new_buf(), *body = new_buf();
	struct mem m = { w, NULL, 0, 0 };
	const uint8_t payload[] = "some body bytes";
	uint8_t type;
	uint32_t id;

	assert_int_equal(kl_frame_write(mem_write, &m, KL_MSG_STAT, 0xdeadbeef,
	    payload, sizeof(payload)), KL_OK);
	assert_int_equal(buf_size(w), KL_FRAME_HDR_LEN + sizeof(payload));
	assert_int_equal(read_from(buf_data(w), buf_size(w), &type, &id,
	    body), KL_OK);
	assert_int_equal(type, KL_MSG_STAT);
	assert_int_equal(id, 0xdeadbeef);
	assert_memory_equal(buf_data(body), payload, sizeof(payload));
	buf_free(w);
	buf_free(body);
}

/* A body too large for one stack frame goes out in place: same bytes. */
static void
test_frame_large_body_round_trips(void **state)
{
	struct buf *w = new_buf(), *body = new_buf();
	struct mem m = { w, NULL, 0, 0 };
	size_t n = KL_PROTO_DATA_MAX, i, len;
	uint8_t *big = malloc(n), h[KL_FRAME_HDR_LEN], type;
	struct mem rd;
	uint32_t id;

	assert_non_null(big);
	for (i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(kl_frame_write(mem_write, &m, KL_MSG_DATA, 42, big,
	    n), KL_OK);
	assert_int_equal(buf_size(w), KL_FRAME_HDR_LEN + n);
	hdr(h, (uint32_t)(n + 5), KL_MSG_DATA, 42);
	assert_memory_equal(buf_data(w), h, sizeof(h));
	assert_memory_equal(buf_data(w) + KL_FRAME_HDR_LEN, big, n);
	/* header only: the body length, and nothing of the body consumed */
	rd = (struct mem){ NULL, buf_data(w), buf_size(w), 0 };
	assert_int_equal(kl_frame_head_read(mem_read, &rd, &type, &id, &len),
	    KL_OK);
	assert_int_equal(type, KL_MSG_DATA);
	assert_int_equal(id, 42);
	assert_int_equal(len, n);
	assert_int_equal(rd.off, KL_FRAME_HDR_LEN);
	assert_int_equal(read_from(buf_data(w), buf_size(w), &type, &id,
	    body), KL_OK);
	assert_memory_equal(buf_data(body), big, n);
	free(big);
	buf_free(w);
	buf_free(body);
}

static void
test_frame_head_read_checks_length(void **state)
{
	uint8_t h[KL_FRAME_HDR_LEN], type;
	struct mem rd;
	uint32_t id;
	size_t len = 99;

	hdr(h, 4, KL_MSG_STAT, 1);
	rd = (struct mem){ NULL, h, sizeof(h), 0 };
	assert_int_equal(kl_frame_head_read(mem_read, &rd, &type, &id, &len),
	    KL_E_PROTO);
	assert_int_equal(len, 0);
	hdr(h, (uint32_t)(KL_FRAME_BODY_MAX + 6), KL_MSG_DATA, 1);
	rd = (struct mem){ NULL, h, sizeof(h), 0 };
	assert_int_equal(kl_frame_head_read(mem_read, &rd, &type, &id, &len),
	    KL_E_PROTO);
	hdr(h, 5, KL_MSG_OK, 3);
	rd = (struct mem){ NULL, h, sizeof(h), 0 };
	assert_int_equal(kl_frame_head_read(mem_read, &rd, &type, &id, &len),
	    KL_OK);
	assert_int_equal(len, 0);
	assert_int_equal(id, 3);
	rd = (struct mem){ NULL, h, 6, 0 };	/* stream ends in the header */
	assert_int_equal(kl_frame_head_read(mem_read, &rd, &type, &id, &len),
	    KL_E_CONN);
}

static void
test_frame_empty_body_round_trips(void **state)
{
	struct buf *w = new_buf(), *body = new_buf();
	struct mem m = { w, NULL, 0, 0 };
	uint8_t type;
	uint32_t id;

	assert_int_equal(kl_frame_write(mem_write, &m, KL_MSG_BYE, 7, NULL, 0),
	    KL_OK);
	assert_int_equal(read_from(buf_data(w), buf_size(w), &type, &id,
	    body), KL_OK);
	assert_int_equal(type, KL_MSG_BYE);
	assert_int_equal(buf_size(body), 0);
	buf_free(w);
	buf_free(body);
}

static void
test_frame_length_below_5_is_proto(void **state)
{
	struct buf *body = new_buf();
	uint8_t h[KL_FRAME_HDR_LEN], type;
	uint32_t id;

	hdr(h, 4, KL_MSG_STAT, 1);
	assert_int_equal(read_from(h, sizeof(h), &type, &id, body),
	    KL_E_PROTO);
	buf_free(body);
}

static void
test_frame_length_over_limit_is_proto_before_reading_body(void **state)
{
	struct buf *body = new_buf();
	uint8_t h[KL_FRAME_HDR_LEN], type;
	uint32_t id;

	/* Only the header is present: the limit must be checked first. */
	hdr(h, (uint32_t)(KL_FRAME_BODY_MAX + 6), KL_MSG_PUT_DATA, 1);
	assert_int_equal(read_from(h, sizeof(h), &type, &id, body),
	    KL_E_PROTO);
	hdr(h, UINT32_MAX, KL_MSG_PUT_DATA, 1);
	assert_int_equal(read_from(h, sizeof(h), &type, &id, body),
	    KL_E_PROTO);
	assert_int_equal(buf_size(body), 0);
	buf_free(body);
}

static void
test_frame_length_at_limit_is_accepted(void **state)
{
	size_t n = KL_FRAME_HDR_LEN + KL_FRAME_BODY_MAX;
	uint8_t *f = calloc(1, n), type;
	struct buf *body = new_buf();
	uint32_t id;

	assert_non_null(f);
	hdr(f, (uint32_t)(KL_FRAME_BODY_MAX + 5), KL_MSG_PUT_DATA, 9);
	assert_int_equal(read_from(f, n, &type, &id, body), KL_OK);
	assert_int_equal(buf_size(body), KL_FRAME_BODY_MAX);
	free(f);
	buf_free(body);
}

static void
test_frame_write_over_limit_is_limit(void **state)
{
	struct buf *w = new_buf();
	struct mem m = { w, NULL, 0, 0 };
	uint8_t *big = calloc(1, KL_FRAME_BODY_MAX + 1);

	assert_non_null(big);
	assert_int_equal(kl_frame_write(mem_write, &m, KL_MSG_DATA, 1, big,
	    KL_FRAME_BODY_MAX + 1), KL_E_LIMIT);
	assert_int_equal(buf_size(w), 0);
	free(big);
	buf_free(w);
}

static void
test_frame_stream_end_is_conn(void **state)
{
	struct buf *body = new_buf();
	uint8_t h[KL_FRAME_HDR_LEN], type;
	uint32_t id;

	assert_int_equal(read_from(h, 0, &type, &id, body), KL_E_CONN);
	hdr(h, 100, KL_MSG_STAT, 1);
	assert_int_equal(read_from(h, sizeof(h), &type, &id, body),
	    KL_E_CONN);
	assert_int_equal(read_from(h, 6, &type, &id, body), KL_E_CONN);
	buf_free(body);
}

/* --- HELLO, HELLO_OK --- */

static void
test_hello_round_trip(void **state)
{
	struct kl_msg_hello h = hello_sample(), d;
	struct buf *b = new_buf();

	assert_int_equal(kl_msg_hello_encode(&h, b), KL_OK);
	assert_int_equal(kl_msg_hello_decode(buf_data(b), buf_size(b), &d),
	    KL_OK);
	assert_int_equal(d.min_version, 1);
	assert_int_equal(d.max_version, 3);
	assert_string_equal(d.repo, h.repo);
	assert_string_equal(d.client, h.client);
	buf_free(b);
}

static void
test_hello_empty_strings_round_trip(void **state)
{
	struct kl_msg_hello h = hello_sample(), d;
	struct buf *b = new_buf();

	h.repo[0] = h.client[0] = '\0';
	assert_int_equal(kl_msg_hello_encode(&h, b), KL_OK);
	assert_int_equal(buf_size(b), 8 + 2 + 2 + 2 + 2);
	assert_int_equal(kl_msg_hello_decode(buf_data(b), buf_size(b), &d),
	    KL_OK);
	assert_string_equal(d.repo, "");
	buf_free(b);
}

static void
test_hello_bad_magic_is_proto(void **state)
{
	struct kl_msg_hello h = hello_sample(), d;
	struct buf *b = new_buf();
	uint8_t *p;

	assert_int_equal(kl_msg_hello_encode(&h, b), KL_OK);
	p = (uint8_t *)(uintptr_t)buf_data(b);
	p[0] = 'X';
	assert_int_equal(kl_msg_hello_decode(p, buf_size(b), &d), KL_E_PROTO);
	buf_free(b);
}

static void
test_hello_min_above_max_is_proto(void **state)
{
	struct kl_msg_hello h = hello_sample(), d;
	struct buf *b = new_buf();
	uint8_t *p;

	assert_int_equal(kl_msg_hello_encode(&h, b), KL_OK);
	p = (uint8_t *)(uintptr_t)buf_data(b);
	p[8] = 5;	/* min_version 5 > max_version 3 */
	assert_int_equal(kl_msg_hello_decode(p, buf_size(b), &d), KL_E_PROTO);
	h.min_version = 4;
	assert_int_equal(kl_msg_hello_encode(&h, b), KL_E_INVAL);
	buf_free(b);
}

static void
test_hello_trailing_byte_is_proto(void **state)
{
	struct kl_msg_hello h = hello_sample(), d;
	struct buf *b = new_buf();

	assert_int_equal(kl_msg_hello_encode(&h, b), KL_OK);
	assert_int_equal(buf_put_u8(b, 0), KL_OK);
	assert_int_equal(kl_msg_hello_decode(buf_data(b), buf_size(b), &d),
	    KL_E_PROTO);
	buf_free(b);
}

static void
test_hello_string_with_nul_is_proto(void **state)
{
	struct buf *b = new_buf();
	struct kl_msg_hello d;

	assert_int_equal(buf_put(b, KL_PROTO_MAGIC, 8), KL_OK);
	assert_int_equal(buf_put_u16le(b, 1), KL_OK);
	assert_int_equal(buf_put_u16le(b, 1), KL_OK);
	assert_int_equal(buf_put_str16(b, "/a\0b", 4), KL_OK);
	assert_int_equal(buf_put_str16(b, "", 0), KL_OK);
	assert_int_equal(kl_msg_hello_decode(buf_data(b), buf_size(b), &d),
	    KL_E_PROTO);
	buf_free(b);
}

static void
test_hello_repo_over_limit_is_limit(void **state)
{
	struct buf *b = new_buf();
	char *big = malloc(KL_PROTO_STR_MAX + 1);
	struct kl_msg_hello d;

	assert_non_null(big);
	memset(big, 'a', KL_PROTO_STR_MAX + 1);
	assert_int_equal(buf_put(b, KL_PROTO_MAGIC, 8), KL_OK);
	assert_int_equal(buf_put_u16le(b, 1), KL_OK);
	assert_int_equal(buf_put_u16le(b, 1), KL_OK);
	assert_int_equal(buf_put_str16(b, big, KL_PROTO_STR_MAX + 1), KL_OK);
	assert_int_equal(buf_put_str16(b, "", 0), KL_OK);
	assert_int_equal(kl_msg_hello_decode(buf_data(b), buf_size(b), &d),
	    KL_E_LIMIT);
	free(big);
	buf_free(b);
}

static void
test_hello_client_over_255_is_limit(void **state)
{
	struct buf *b = new_buf();
	struct kl_msg_hello d;
	char big[256];

	memset(big, 'c', sizeof(big));
	assert_int_equal(buf_put(b, KL_PROTO_MAGIC, 8), KL_OK);
	assert_int_equal(buf_put_u16le(b, 1), KL_OK);
	assert_int_equal(buf_put_u16le(b, 1), KL_OK);
	assert_int_equal(buf_put_str16(b, "", 0), KL_OK);
	assert_int_equal(buf_put_str16(b, big, sizeof(big)), KL_OK);
	assert_int_equal(kl_msg_hello_decode(buf_data(b), buf_size(b), &d),
	    KL_E_LIMIT);
	buf_free(b);
}

static void
test_hello_ok_round_trip_and_bad_role(void **state)
{
	struct kl_msg_hello_ok h = { 1, 2, "kluis-server 0.1.0" }, d;
	struct buf *b = new_buf();
	uint8_t *p;

	assert_int_equal(kl_msg_hello_ok_encode(&h, b), KL_OK);
	assert_int_equal(kl_msg_hello_ok_decode(buf_data(b), buf_size(b), &d),
	    KL_OK);
	assert_int_equal(d.version, 1);
	assert_int_equal(d.role, 2);
	assert_string_equal(d.server, "kluis-server 0.1.0");
	p = (uint8_t *)(uintptr_t)buf_data(b);
	p[2] = 3;	/* the replica role (issue #15) */
	assert_int_equal(kl_msg_hello_ok_decode(p, buf_size(b), &d), KL_OK);
	assert_int_equal(d.role, 3);
	p[2] = 4;
	assert_int_equal(kl_msg_hello_ok_decode(p, buf_size(b), &d),
	    KL_E_PROTO);
	h.role = 4;
	assert_int_equal(kl_msg_hello_ok_encode(&h, b), KL_E_INVAL);
	buf_free(b);
}

/* --- file requests --- */

static void
file_round_trip(uint8_t type, size_t want_len)
{
	struct kl_msg_file m = { KL_FT_DATA, NAME64, 11, 22, 33 }, d;
	struct buf *b = new_buf();

	assert_int_equal(kl_msg_file_encode(type, &m, b), KL_OK);
	assert_int_equal(buf_size(b), want_len);
	assert_int_equal(kl_msg_file_decode(type, buf_data(b), buf_size(b),
	    &d), KL_OK);
	assert_int_equal(d.ftype, KL_FT_DATA);
	if (type != KL_MSG_LIST)
		assert_string_equal(d.name, NAME64);
	assert_int_equal(d.a, type == KL_MSG_PUT || type == KL_MSG_GET ||
	    type == KL_MSG_PUT_DATED ? 11 : 0);
	assert_int_equal(d.b, type == KL_MSG_GET ||
	    type == KL_MSG_PUT_DATED ? 22 : 0);
	assert_int_equal(d.c, type == KL_MSG_GET ? 33 : 0);
	buf_free(b);
}

static void
test_file_round_trip_every_request(void **state)
{
	file_round_trip(KL_MSG_PUT, 1 + 66 + 8);
	/* issue #15: size and the primary's receive time */
	file_round_trip(KL_MSG_PUT_DATED, 1 + 66 + 16);
	file_round_trip(KL_MSG_GET, 1 + 66 + 24);
	file_round_trip(KL_MSG_STAT, 1 + 66);
	file_round_trip(KL_MSG_REMOVE, 1 + 66);
	file_round_trip(KL_MSG_LIST, 1);
}

static void
test_file_bad_ftype_is_proto(void **state)
{
	uint8_t list0[] = { 0 }, list7[] = { 7 }, list8[] = { 8 };
	struct kl_msg_file d;

	assert_int_equal(kl_msg_file_decode(KL_MSG_LIST, list0, 1, &d),
	    KL_E_PROTO);
	/* 7: run records (issue #15) */
	assert_int_equal(kl_msg_file_decode(KL_MSG_LIST, list7, 1, &d), KL_OK);
	assert_int_equal(d.ftype, 7);
	assert_int_equal(kl_msg_file_decode(KL_MSG_LIST, list8, 1, &d),
	    KL_E_PROTO);
}

static void
test_file_name_over_71_is_limit(void **state)
{
	struct buf *b = new_buf();
	struct kl_msg_file d;
	char big[72];

	memset(big, 'a', sizeof(big));
	assert_int_equal(buf_put_u8(b, KL_FT_DATA), KL_OK);
	assert_int_equal(buf_put_str16(b, big, sizeof(big)), KL_OK);
	assert_int_equal(kl_msg_file_decode(KL_MSG_STAT, buf_data(b),
	    buf_size(b), &d), KL_E_LIMIT);
	buf_free(b);
}

static void
test_file_put_over_128mib_is_limit(void **state)
{
	struct kl_msg_file m = { KL_FT_DATA, NAME64, KL_PROTO_PUT_MAX + 1, 0,
	    0 }, d;
	struct buf *b = new_buf();

	assert_int_equal(kl_msg_file_encode(KL_MSG_PUT, &m, b), KL_E_LIMIT);
	assert_int_equal(buf_size(b), 0);
	assert_int_equal(buf_put_u8(b, KL_FT_DATA), KL_OK);
	assert_int_equal(buf_put_str16(b, NAME64, 64), KL_OK);
	assert_int_equal(buf_put_u64le(b, KL_PROTO_PUT_MAX + 1), KL_OK);
	assert_int_equal(kl_msg_file_decode(KL_MSG_PUT, buf_data(b),
	    buf_size(b), &d), KL_E_LIMIT);
	buf_free(b);
}

static void
test_file_trailing_byte_is_proto(void **state)
{
	struct kl_msg_file m = { KL_FT_LOCK, NAME64, 0, 0, 0 }, d;
	struct buf *b = new_buf();

	assert_int_equal(kl_msg_file_encode(KL_MSG_STAT, &m, b), KL_OK);
	assert_int_equal(buf_put_u8(b, 0), KL_OK);
	assert_int_equal(kl_msg_file_decode(KL_MSG_STAT, buf_data(b),
	    buf_size(b), &d), KL_E_PROTO);
	buf_free(b);
}

static void
test_file_other_message_type_is_inval(void **state)
{
	struct kl_msg_file m = { KL_FT_LOCK, NAME64, 0, 0, 0 }, d;
	struct buf *b = new_buf();
	uint8_t one[] = { 1 };

	assert_int_equal(kl_msg_file_encode(KL_MSG_HELLO, &m, b), KL_E_INVAL);
	assert_int_equal(kl_msg_file_decode(KL_MSG_DATA, one, 1, &d),
	    KL_E_INVAL);
	buf_free(b);
}

static void
test_encoder_failure_appends_nothing(void **state)
{
	struct kl_msg_file m = { KL_FT_DATA, "", 0, 0, 0 };
	struct buf *b = new_buf();

	memset(m.name, 'a', sizeof(m.name) - 1);
	m.name[sizeof(m.name) - 1] = '\0';	/* 71 bytes: fits */
	assert_int_equal(kl_msg_file_encode(KL_MSG_STAT, &m, b), KL_OK);
	buf_reset(b);
	assert_int_equal(buf_put_u8(b, 0xaa), KL_OK);
	m.ftype = 9;
	assert_int_equal(kl_msg_file_encode(KL_MSG_STAT, &m, b), KL_E_INVAL);
	assert_int_equal(kl_msg_list_put(b, "x", 1, 2), KL_OK);
	assert_int_equal(buf_size(b), 1 + KL_PROTO_LIST_ENTRY_LEN(1));
	buf_free(b);
}

/* --- ERR, LIST, u64 --- */

static void
test_err_round_trip(void **state)
{
	struct buf *b = new_buf();
	struct kl_msg_err d;

	assert_int_equal(kl_msg_err_encode(KL_E_PERM, "no", b), KL_OK);
	assert_int_equal(kl_msg_err_decode(buf_data(b), buf_size(b), &d),
	    KL_OK);
	assert_int_equal(d.code, KL_E_PERM);
	assert_string_equal(d.message, "no");
	buf_free(b);
}

static void
test_err_code_must_be_negative(void **state)
{
	uint8_t body[] = { 0, 0, 0, 0, 0, 0 };
	uint8_t most[] = { 0, 0, 0, 0x80, 0, 0 };
	struct buf *b = new_buf();
	struct kl_msg_err d;

	assert_int_equal(kl_msg_err_decode(body, sizeof(body), &d),
	    KL_E_PROTO);
	assert_int_equal(kl_msg_err_decode(most, sizeof(most), &d), KL_OK);
	assert_int_equal(d.code, INT32_MIN);
	assert_int_equal(kl_msg_err_encode(0, "x", b), KL_E_INVAL);
	buf_free(b);
}

static void
test_err_long_message_is_cut_on_encode(void **state)
{
	struct buf *b = new_buf();
	struct kl_msg_err d;
	char big[3000];

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(kl_msg_err_encode(KL_E_IO, big, b), KL_OK);
	assert_int_equal(kl_msg_err_decode(buf_data(b), buf_size(b), &d),
	    KL_OK);
	assert_int_equal(strlen(d.message), sizeof(d.message) - 1);
	buf_free(b);
}

#define SEEN_MAX 4

struct seen {
	size_t n;
	uint64_t sum;
	int stop_at;
	int64_t mtime[SEEN_MAX];
};

static int
seen_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct seen *s = arg;

	if (s->n < SEEN_MAX)
		s->mtime[s->n] = mtime_s;
	s->n++;
	s->sum += size + strlen(name);
	return (int)s->n == s->stop_at ? KL_E_LIMIT : KL_OK;
}

static void
test_list_round_trip_and_stop(void **state)
{
	struct buf *b = new_buf();
	struct seen s = { 0 };

	assert_int_equal(kl_msg_list_put(b, NAME64, 100, 1700000000), KL_OK);
	assert_int_equal(kl_msg_list_put(b, "config", 5, 0), KL_OK);
	assert_int_equal(kl_msg_list_decode(buf_data(b), buf_size(b), seen_cb,
	    &s), KL_OK);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.sum, 100 + 64 + 5 + 6);
	assert_int_equal(s.mtime[0], 1700000000);
	assert_int_equal(s.mtime[1], 0);
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(kl_msg_list_decode(buf_data(b), buf_size(b), seen_cb,
	    &s), KL_E_LIMIT);
	assert_int_equal(s.n, 1);
	buf_free(b);
}

/* PROTOCOL.md §3: name str16, size u64, mtime i64, little-endian. */
static void
test_list_entry_layout_and_negative_mtime(void **state)
{
	static const uint8_t want[] = { 1, 0, 'x', 7, 0, 0, 0, 0, 0, 0, 0,
	    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct buf *b = new_buf();
	struct seen s = { 0 };

	assert_int_equal(kl_msg_list_put(b, "x", 7, -2), KL_OK);
	assert_int_equal(buf_size(b), sizeof(want));
	assert_memory_equal(buf_data(b), want, sizeof(want));
	assert_int_equal(kl_msg_list_decode(want, sizeof(want), seen_cb, &s),
	    KL_OK);
	assert_int_equal(s.n, 1);
	assert_true(s.mtime[0] == -2);
	buf_reset(b);
	assert_int_equal(kl_msg_list_put(b, "x", 7, INT64_MIN), KL_OK);
	assert_int_equal(kl_msg_list_put(b, "y", 7, INT64_MAX), KL_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kl_msg_list_decode(buf_data(b), buf_size(b), seen_cb,
	    &s), KL_OK);
	assert_true(s.mtime[0] == INT64_MIN);
	assert_true(s.mtime[1] == INT64_MAX);
	buf_free(b);
}

/* A version-1 entry (no mtime) is a truncated version-2 entry. */
static void
test_list_entry_without_mtime_is_proto(void **state)
{
	struct buf *b = new_buf();
	struct seen s = { 0 };

	assert_int_equal(buf_put_str16(b, NAME64, 64), KL_OK);
	assert_int_equal(buf_put_u64le(b, 100), KL_OK);
	assert_int_equal(kl_msg_list_decode(buf_data(b), buf_size(b), seen_cb,
	    &s), KL_E_PROTO);
	assert_int_equal(s.n, 0);
	buf_free(b);
}

static void
test_list_truncated_entry_is_proto(void **state)
{
	struct buf *b = new_buf();
	struct seen s = { 0 };

	assert_int_equal(kl_msg_list_put(b, NAME64, 100, 5), KL_OK);
	assert_int_equal(kl_msg_list_decode(buf_data(b), buf_size(b) - 1,
	    seen_cb, &s), KL_E_PROTO);
	assert_int_equal(kl_msg_list_decode(buf_data(b), 0, seen_cb, &s),
	    KL_OK);
	buf_free(b);
}

static void
test_u64_exact_length(void **state)
{
	uint8_t p[9] = { 1, 2, 0, 0, 0, 0, 0, 0, 0 };
	uint64_t v;

	assert_int_equal(kl_msg_u64_decode(p, 8, &v), KL_OK);
	assert_int_equal(v, 0x201);
	assert_int_equal(kl_msg_u64_decode(p, 9, &v), KL_E_PROTO);
	assert_int_equal(kl_msg_u64_decode(p, 7, &v), KL_E_PROTO);
}

/* --- mutation (STYLE.md "Tests") --- */

static int
parse_hello(const uint8_t *p, size_t len, void *arg)
{
	struct kl_msg_hello h;

	return kl_msg_hello_decode(p, len, &h);
}

static int
parse_hello_ok(const uint8_t *p, size_t len, void *arg)
{
	struct kl_msg_hello_ok h;

	return kl_msg_hello_ok_decode(p, len, &h);
}

static int
parse_file(const uint8_t *p, size_t len, void *arg)
{
	struct kl_msg_file m;
	int r = kl_msg_file_decode(*(uint8_t *)arg, p, len, &m);

	/* Whatever decodes is NUL-terminated within its array. */
	if (r == KL_OK)
		assert_true(memchr(m.name, '\0', sizeof(m.name)) != NULL);
	return r;
}

static int
parse_err(const uint8_t *p, size_t len, void *arg)
{
	struct kl_msg_err m;
	int r = kl_msg_err_decode(p, len, &m);

	if (r == KL_OK)
		assert_true(m.code < 0);
	return r;
}

static int
parse_list(const uint8_t *p, size_t len, void *arg)
{
	struct seen s = { 0 };

	return kl_msg_list_decode(p, len, seen_cb, &s);
}

static int
parse_u64(const uint8_t *p, size_t len, void *arg)
{
	uint64_t v;

	return kl_msg_u64_decode(p, len, &v);
}

/* A whole frame: header, then the body decoded by its type. */
static int
parse_frame(const uint8_t *p, size_t len, void *arg)
{
	struct buf *body = arg;
	uint8_t type;
	uint32_t id;
	int r;

	if ((r = read_from(p, len, &type, &id, body)) != KL_OK)
		return r;
	if (type == KL_MSG_HELLO)
		return kl_msg_hello_decode(buf_data(body), buf_size(body),
		    &(struct kl_msg_hello){ 0 });
	return parse_file(buf_data(body), buf_size(body), &type);
}

static void
mutate_expect(struct buf *b, mutate_parse_fn fn, void *arg, size_t trunc_ok)
{
	size_t flips;

	assert_int_equal(fn(buf_data(b), buf_size(b), arg), KL_OK);
	assert_int_equal(mutate_run(buf_data(b), buf_size(b), fn, arg, &flips),
	    trunc_ok);
}

static void
test_mutate_every_decoder(void **state)
{
	struct kl_msg_hello h = hello_sample();
	struct kl_msg_hello_ok ok = { 1, 1, "kluis-server" };
	struct kl_msg_file m = { KL_FT_INDEX, NAME64, 1, 2, 3 };
	const uint8_t types[] = { KL_MSG_PUT, KL_MSG_GET, KL_MSG_STAT,
	    KL_MSG_LIST, KL_MSG_REMOVE };
	struct buf *b = new_buf();
	size_t i;

	assert_int_equal(kl_msg_hello_encode(&h, b), KL_OK);
	mutate_expect(b, parse_hello, NULL, 0);
	buf_reset(b);
	assert_int_equal(kl_msg_hello_ok_encode(&ok, b), KL_OK);
	mutate_expect(b, parse_hello_ok, NULL, 0);
	for (i = 0; i < sizeof(types); i++) {
		buf_reset(b);
		assert_int_equal(kl_msg_file_encode(types[i], &m, b), KL_OK);
		mutate_expect(b, parse_file, (void *)&types[i], 0);
	}
	buf_reset(b);
	assert_int_equal(kl_msg_err_encode(KL_E_EXISTS, "exists", b), KL_OK);
	mutate_expect(b, parse_err, NULL, 0);
	buf_reset(b);
	assert_int_equal(kl_msg_list_put(b, NAME64, 7, 1700000000), KL_OK);
	mutate_expect(b, parse_list, NULL, 1);	/* empty list is valid */
	buf_reset(b);
	assert_int_equal(buf_put_u64le(b, 42), KL_OK);
	mutate_expect(b, parse_u64, NULL, 0);
	buf_free(b);
}

static void
test_mutate_frames(void **state)
{
	struct kl_msg_file m = { KL_FT_DATA, NAME64, 0, 4096, 1 << 20 };
	struct kl_msg_hello h = hello_sample();
	struct buf *w = new_buf(), *body = new_buf(), *enc = new_buf();
	struct mem mm = { w, NULL, 0, 0 };

	assert_int_equal(kl_msg_file_encode(KL_MSG_GET, &m, enc), KL_OK);
	assert_int_equal(kl_frame_write(mem_write, &mm, KL_MSG_GET, 5,
	    buf_data(enc), buf_size(enc)), KL_OK);
	mutate_expect(w, parse_frame, body, 0);
	buf_reset(w);
	buf_reset(enc);
	assert_int_equal(kl_msg_hello_encode(&h, enc), KL_OK);
	assert_int_equal(kl_frame_write(mem_write, &mm, KL_MSG_HELLO, 1,
	    buf_data(enc), buf_size(enc)), KL_OK);
	mutate_expect(w, parse_frame, body, 0);
	buf_free(w);
	buf_free(body);
	buf_free(enc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_round_trip),
		cmocka_unit_test(test_frame_empty_body_round_trips),
		cmocka_unit_test(test_frame_large_body_round_trips),
		cmocka_unit_test(test_frame_head_read_checks_length),
		cmocka_unit_test(test_frame_length_below_5_is_proto),
		cmocka_unit_test(
		    test_frame_length_over_limit_is_proto_before_reading_body),
		cmocka_unit_test(test_frame_length_at_limit_is_accepted),
		cmocka_unit_test(test_frame_write_over_limit_is_limit),
		cmocka_unit_test(test_frame_stream_end_is_conn),
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_hello_empty_strings_round_trip),
		cmocka_unit_test(test_hello_bad_magic_is_proto),
		cmocka_unit_test(test_hello_min_above_max_is_proto),
		cmocka_unit_test(test_hello_trailing_byte_is_proto),
		cmocka_unit_test(test_hello_string_with_nul_is_proto),
		cmocka_unit_test(test_hello_repo_over_limit_is_limit),
		cmocka_unit_test(test_hello_client_over_255_is_limit),
		cmocka_unit_test(test_hello_ok_round_trip_and_bad_role),
		cmocka_unit_test(test_file_round_trip_every_request),
		cmocka_unit_test(test_file_bad_ftype_is_proto),
		cmocka_unit_test(test_file_name_over_71_is_limit),
		cmocka_unit_test(test_file_put_over_128mib_is_limit),
		cmocka_unit_test(test_file_trailing_byte_is_proto),
		cmocka_unit_test(test_file_other_message_type_is_inval),
		cmocka_unit_test(test_encoder_failure_appends_nothing),
		cmocka_unit_test(test_err_round_trip),
		cmocka_unit_test(test_err_code_must_be_negative),
		cmocka_unit_test(test_err_long_message_is_cut_on_encode),
		cmocka_unit_test(test_list_round_trip_and_stop),
		cmocka_unit_test(test_list_entry_layout_and_negative_mtime),
		cmocka_unit_test(test_list_entry_without_mtime_is_proto),
		cmocka_unit_test(test_list_truncated_entry_is_proto),
		cmocka_unit_test(test_u64_exact_length),
		cmocka_unit_test(test_mutate_every_decoder),
		cmocka_unit_test(test_mutate_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
