/*
 * The kluis protocol codec (docs/PROTOCOL.md): frames and message bodies.
 *
 * Pure code: bytes in, structs out (and back).  Every decoder reads through
 * a struct buf view, so that no length from the wire is used before it was
 * checked against the bytes present and against its limit, and every
 * decoder requires the body to be consumed exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/proto.h"

#define MAGIC_LEN 8			/* PROTOCOL.md §3, HELLO */
#define FRAME_SMALL 4096		/* frames built on the stack */
#define HELLO_CLIENT_MAX (sizeof(((struct kl_msg_hello *)0)->client) - 1)
#define HELLO_OK_SERVER_MAX (sizeof(((struct kl_msg_hello_ok *)0)->server) - 1)
#define FILE_NAME_MAX (sizeof(((struct kl_msg_file *)0)->name) - 1)
#define ERR_MESSAGE_MAX (sizeof(((struct kl_msg_err *)0)->message) - 1)
#define ROLE_MAX 3	/* 0 full, 1 append-only, 2 read-only, 3 replica */

_Static_assert(KL_FRAME_HDR_LEN == 4 + 1 + 4, "PROTOCOL.md §1 header");
_Static_assert(sizeof(KL_PROTO_MAGIC) - 1 == MAGIC_LEN, "HELLO magic");
_Static_assert(KL_FRAME_BODY_MAX + 5 <= UINT32_MAX, "frame length field");

/* --- frames (PROTOCOL.md §1) --- */

int
kl_frame_write(kl_io_write_fn w, void *ctx, uint8_t type, uint32_t id,
    const uint8_t *body, size_t len)
{
	uint8_t small[FRAME_SMALL];
	int r;

	if (len > KL_FRAME_BODY_MAX || (len > 0 && body == NULL))
		return KL_E_LIMIT;
	kl_le32enc(small, (uint32_t)(5 + len));
	small[4] = type;
	kl_le32enc(small + 5, id);
	if (KL_FRAME_HDR_LEN + len <= sizeof(small)) {
		if (len > 0)
			memcpy(small + KL_FRAME_HDR_LEN, body, len);
		return w(ctx, small, KL_FRAME_HDR_LEN + len);
	}
	/* A large body (DATA) goes out from where it is, not copied. */
	if ((r = w(ctx, small, KL_FRAME_HDR_LEN)) != KL_OK)
		return r;
	return w(ctx, body, len);
}

int
kl_frame_head_read(kl_io_read_fn r, void *ctx, uint8_t *type, uint32_t *id,
    size_t *body_len)
{
	uint8_t hdr[KL_FRAME_HDR_LEN];
	uint32_t len;
	int e;

	*type = 0;
	*id = 0;
	*body_len = 0;
	if ((e = r(ctx, hdr, 4)) != KL_OK)
		return e;
	len = kl_le32dec(hdr);
	/* The limit is checked before a single body byte is read. */
	if (len < 5 || len - 5 > KL_FRAME_BODY_MAX)
		return KL_E_PROTO;
	if ((e = r(ctx, hdr + 4, 5)) != KL_OK)
		return e;
	*type = hdr[4];
	*id = kl_le32dec(hdr + 5);
	*body_len = len - 5;
	return KL_OK;
}

int
kl_frame_read(kl_io_read_fn r, void *ctx, uint8_t *type, uint32_t *id,
    struct buf *body)
{
	size_t len;
	uint8_t *p;
	int e;

	buf_reset(body);
	if ((e = kl_frame_head_read(r, ctx, type, id, &len)) != KL_OK)
		return e;
	if (len == 0)
		return KL_OK;
	if ((e = buf_reserve(body, len, &p)) != KL_OK)
		return e;
	return r(ctx, p, len);
}

/* --- shared body helpers --- */

/* A body that ended early is a protocol error, not a corrupt file. */
static int
wire_err(int r)
{
	return r == KL_E_CORRUPT ? KL_E_PROTO : r;
}

/* Two's complement i64 from its u64 bits, without implementation-defined
 * conversion. */
static int64_t
u64_to_i64(uint64_t u)
{
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* The whole body must have been consumed. */
static int
body_end(const struct buf *b)
{
	return buf_avail(b) == 0 ? KL_OK : KL_E_PROTO;
}

/* Reads a str16 of at most max bytes (no NUL inside) into out[max + 1]. */
static int
str_get(struct buf *b, char *out, size_t max)
{
	const uint8_t *p;
	size_t n;
	int r;

	out[0] = '\0';
	if ((r = buf_get_str16(b, max, &p, &n)) != KL_OK)
		return wire_err(r);
	if (n > 0 && memchr(p, '\0', n) != NULL)
		return KL_E_PROTO;
	if (n > 0)
		memcpy(out, p, n);
	out[n] = '\0';
	return KL_OK;
}

/* Writes a NUL-terminated string of at most max bytes as str16. */
static int
str_put(struct buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return KL_E_LIMIT;
	return buf_put_str16(b, s, n);
}

/* Encoders append nothing on failure: drop what this one added. */
static int
enc_done(struct buf *out, size_t mark, int r)
{
	if (r != KL_OK && buf_size(out) > mark &&
	    buf_size(out) - mark <= buf_avail(out))
		buf_unput(out, buf_size(out) - mark);
	return r;
}

static int
ftype_valid(uint8_t t)
{
	return t >= KL_FT_FIRST && t <= KL_FT_LAST;
}

/* --- HELLO, HELLO_OK --- */

int
kl_msg_hello_encode(const struct kl_msg_hello *m, struct buf *out)
{
	size_t mark = buf_size(out);
	int r;

	if (m->min_version > m->max_version)
		return KL_E_INVAL;
	if ((r = buf_put(out, KL_PROTO_MAGIC, MAGIC_LEN)) == KL_OK &&
	    (r = buf_put_u16le(out, m->min_version)) == KL_OK &&
	    (r = buf_put_u16le(out, m->max_version)) == KL_OK &&
	    (r = str_put(out, m->repo, KL_PROTO_STR_MAX)) == KL_OK)
		r = str_put(out, m->client, HELLO_CLIENT_MAX);
	return enc_done(out, mark, r);
}

int
kl_msg_hello_decode(const uint8_t *p, size_t len, struct kl_msg_hello *m)
{
	uint8_t magic[MAGIC_LEN];
	struct buf b;
	int r;

	memset(m, 0, sizeof(*m));
	buf_view_init(&b, p, len);
	if ((r = buf_get(&b, magic, MAGIC_LEN)) != KL_OK)
		return wire_err(r);
	if (memcmp(magic, KL_PROTO_MAGIC, MAGIC_LEN) != 0)
		return KL_E_PROTO;
	if ((r = buf_get_u16le(&b, &m->min_version)) != KL_OK ||
	    (r = buf_get_u16le(&b, &m->max_version)) != KL_OK)
		return wire_err(r);
	if (m->min_version > m->max_version)
		return KL_E_PROTO;
	if ((r = str_get(&b, m->repo, KL_PROTO_STR_MAX)) != KL_OK ||
	    (r = str_get(&b, m->client, HELLO_CLIENT_MAX)) != KL_OK)
		return r;
	return body_end(&b);
}

int
kl_msg_create_decode(const uint8_t *p, size_t len, const uint8_t **cfg,
    size_t *cfg_len, struct kl_msg_hello *m)
{
	struct buf b;
	int r;

	*cfg = NULL;
	*cfg_len = 0;
	memset(m, 0, sizeof(*m));
	buf_view_init(&b, p, len);
	if ((r = buf_get_bytes32(&b, KL_PROTO_CONFIG_MAX, cfg, cfg_len)) != 0)
		return wire_err(r);
	if (*cfg_len == 0)
		return KL_E_PROTO;
	return kl_msg_hello_decode(buf_rptr(&b), buf_avail(&b), m);
}

int
kl_msg_hello_ok_encode(const struct kl_msg_hello_ok *m, struct buf *out)
{
	size_t mark = buf_size(out);
	int r;

	if (m->role > ROLE_MAX)
		return KL_E_INVAL;
	if ((r = buf_put_u16le(out, m->version)) == KL_OK &&
	    (r = buf_put_u8(out, m->role)) == KL_OK)
		r = str_put(out, m->server, HELLO_OK_SERVER_MAX);
	return enc_done(out, mark, r);
}

int
kl_msg_hello_ok_decode(const uint8_t *p, size_t len,
    struct kl_msg_hello_ok *m)
{
	struct buf b;
	int r;

	memset(m, 0, sizeof(*m));
	buf_view_init(&b, p, len);
	if ((r = buf_get_u16le(&b, &m->version)) != KL_OK ||
	    (r = buf_get_u8(&b, &m->role)) != KL_OK)
		return wire_err(r);
	if (m->role > ROLE_MAX)
		return KL_E_PROTO;
	if ((r = str_get(&b, m->server, HELLO_OK_SERVER_MAX)) != KL_OK)
		return r;
	return body_end(&b);
}

/* --- PUT, GET, STAT, LIST, REMOVE --- */

/* How many u64 fields follow (ftype, name) in a file request; -1 if type
 * is not a file request.  LIST has no name (-2 marks it). */
static int
file_nums(uint8_t type)
{
	switch (type) {
	case KL_MSG_PUT: return 1;
	case KL_MSG_PUT_DATED: return 2;
	case KL_MSG_GET: return 3;
	case KL_MSG_STAT: return 0;
	case KL_MSG_REMOVE: return 0;
	case KL_MSG_LIST: return -2;
	}
	return -1;
}

static int
file_encode_body(uint8_t type, const struct kl_msg_file *m, int nums,
    struct buf *out)
{
	const uint64_t v[3] = { m->a, m->b, m->c };
	int i, r;

	if ((r = buf_put_u8(out, m->ftype)) != KL_OK || nums == -2)
		return r;
	if ((r = str_put(out, m->name, FILE_NAME_MAX)) != KL_OK)
		return r;
	for (i = 0; i < nums; i++)
		if ((r = buf_put_u64le(out, v[i])) != KL_OK)
			return r;
	return KL_OK;
}

int
kl_msg_file_encode(uint8_t type, const struct kl_msg_file *m,
    struct buf *out)
{
	size_t mark = buf_size(out);
	int nums = file_nums(type);

	if (nums == -1)
		return KL_E_INVAL;
	if (!ftype_valid(m->ftype))
		return KL_E_INVAL;
	if ((type == KL_MSG_PUT || type == KL_MSG_PUT_DATED) &&
	    m->a > KL_PROTO_PUT_MAX)
		return KL_E_LIMIT;
	return enc_done(out, mark, file_encode_body(type, m, nums, out));
}

static int
file_decode_nums(struct buf *b, int nums, struct kl_msg_file *m)
{
	uint64_t *v[3] = { &m->a, &m->b, &m->c };
	int i, r;

	for (i = 0; i < nums; i++)
		if ((r = buf_get_u64le(b, v[i])) != KL_OK)
			return wire_err(r);
	return KL_OK;
}

int
kl_msg_file_decode(uint8_t type, const uint8_t *p, size_t len,
    struct kl_msg_file *m)
{
	int nums = file_nums(type);
	struct buf b;
	int r;

	memset(m, 0, sizeof(*m));
	if (nums == -1)
		return KL_E_INVAL;
	buf_view_init(&b, p, len);
	if ((r = buf_get_u8(&b, &m->ftype)) != KL_OK)
		return wire_err(r);
	if (!ftype_valid(m->ftype))
		return KL_E_PROTO;
	if (nums != -2) {
		if ((r = str_get(&b, m->name, FILE_NAME_MAX)) != KL_OK ||
		    (r = file_decode_nums(&b, nums, m)) != KL_OK)
			return r;
	}
	if ((type == KL_MSG_PUT || type == KL_MSG_PUT_DATED) &&
	    m->a > KL_PROTO_PUT_MAX)
		return KL_E_LIMIT;
	return body_end(&b);
}

/* --- ERR --- */

int
kl_msg_err_encode(int32_t code, const char *message, struct buf *out)
{
	size_t mark = buf_size(out);
	size_t n;
	int r;

	if (code >= 0)
		return KL_E_INVAL;
	if (message == NULL)
		message = "";
	/* An error report must not fail for being long: cut it. */
	n = strnlen(message, ERR_MESSAGE_MAX);
	if ((r = buf_put_u32le(out, (uint32_t)code)) == KL_OK)
		r = buf_put_str16(out, message, n);
	return enc_done(out, mark, r);
}

int
kl_msg_err_decode(const uint8_t *p, size_t len, struct kl_msg_err *m)
{
	struct buf b;
	uint32_t c;
	int r;

	memset(m, 0, sizeof(*m));
	buf_view_init(&b, p, len);
	if ((r = buf_get_u32le(&b, &c)) != KL_OK)
		return wire_err(r);
	if ((c & 0x80000000u) == 0)	/* codes are negative */
		return KL_E_PROTO;
	m->code = (int32_t)(c - 0x80000000u) - INT32_MAX - 1;
	if ((r = str_get(&b, m->message, ERR_MESSAGE_MAX)) != KL_OK)
		return r;
	return body_end(&b);
}

/* --- LIST entries, u64 bodies --- */

int
kl_msg_list_put(struct buf *out, const char *name, uint64_t size,
    int64_t mtime_s)
{
	size_t mark = buf_size(out);
	int r;

	if ((r = str_put(out, name, FILE_NAME_MAX)) == KL_OK &&
	    (r = buf_put_u64le(out, size)) == KL_OK)
		r = buf_put_u64le(out, (uint64_t)mtime_s);
	return enc_done(out, mark, r);
}

int
kl_msg_list_decode(const uint8_t *p, size_t len,
    int (*cb)(void *arg, const char *name, uint64_t size, int64_t mtime_s),
    void *arg)
{
	char name[FILE_NAME_MAX + 1];
	struct buf b;
	uint64_t size, mtime;
	int r;

	buf_view_init(&b, p, len);
	while (buf_avail(&b) > 0) {
		if ((r = str_get(&b, name, FILE_NAME_MAX)) != KL_OK)
			return r;
		if ((r = buf_get_u64le(&b, &size)) != KL_OK ||
		    (r = buf_get_u64le(&b, &mtime)) != KL_OK)
			return wire_err(r);
		if ((r = cb(arg, name, size, u64_to_i64(mtime))) != KL_OK)
			return r;
	}
	return KL_OK;
}

int
kl_msg_u64_decode(const uint8_t *p, size_t len, uint64_t *v)
{
	struct buf b;
	int r;

	*v = 0;
	buf_view_init(&b, p, len);
	if ((r = buf_get_u64le(&b, v)) != KL_OK)
		return wire_err(r);
	return body_end(&b);
}
