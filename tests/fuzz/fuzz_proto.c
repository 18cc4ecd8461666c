/*
 * The protocol codec (protocol/proto.c, docs/PROTOCOL.md): the input is a
 * byte stream of frames as a server or client would read it.  Every frame
 * kl_frame_read accepts is decoded by the decoder of its type; no input
 * may crash, and every body that decodes re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/proto.h"

#include "fuzz.h"

struct stream {
	const uint8_t *p;
	size_t len, off;
};

static int
stream_read(void *ctx, void *out, size_t n)
{
	struct stream *s = ctx;

	if (n > s->len - s->off)
		return KL_E_CONN;
	memcpy(out, s->p + s->off, n);
	s->off += n;
	return KL_OK;
}

/* Re-encodes each LIST entry (name, size, mtime) into the buffer. */
static int
list_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	fuzz_require(strlen(name) < 72);
	fuzz_require(kl_msg_list_put(arg, name, size, mtime_s) == KL_OK);
	return KL_OK;
}

static void
list_trip(const uint8_t *p, size_t n, struct buf *b)
{
	buf_reset(b);
	if (kl_msg_list_decode(p, n, list_cb, b) != KL_OK)
		return;
	fuzz_require(fuzz_buf_eq(b, p, n));
}

static void
hello_trip(const uint8_t *p, size_t n, struct buf *b)
{
	struct kl_msg_hello h;

	if (kl_msg_hello_decode(p, n, &h) != KL_OK)
		return;
	fuzz_require(kl_msg_hello_encode(&h, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, p, n));
}

static void
hello_ok_trip(const uint8_t *p, size_t n, struct buf *b)
{
	struct kl_msg_hello_ok h;

	if (kl_msg_hello_ok_decode(p, n, &h) != KL_OK)
		return;
	fuzz_require(kl_msg_hello_ok_encode(&h, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, p, n));
}

static void
file_trip(uint8_t type, const uint8_t *p, size_t n, struct buf *b)
{
	struct kl_msg_file m;

	if (kl_msg_file_decode(type, p, n, &m) != KL_OK)
		return;
	fuzz_require(kl_msg_file_encode(type, &m, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, p, n));
}

static void
err_trip(const uint8_t *p, size_t n, struct buf *b)
{
	struct kl_msg_err m;

	if (kl_msg_err_decode(p, n, &m) != KL_OK)
		return;
	fuzz_require(m.code < 0);
	fuzz_require(kl_msg_err_encode(m.code, m.message, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, p, n));
}

static void
body_check(uint8_t type, const uint8_t *p, size_t n, struct buf *b)
{
	uint64_t v;

	buf_reset(b);
	switch (type) {
	case KL_MSG_HELLO: hello_trip(p, n, b); break;
	case KL_MSG_HELLO_OK: hello_ok_trip(p, n, b); break;
	case KL_MSG_ERR: err_trip(p, n, b); break;
	case KL_MSG_PUT: case KL_MSG_GET: case KL_MSG_STAT: case KL_MSG_LIST:
	case KL_MSG_REMOVE: file_trip(type, p, n, b); break;
	default:
		list_trip(p, n, b);
		if (kl_msg_u64_decode(p, n, &v) == KL_OK)
			fuzz_require(n == 8);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = { data, size, 0 };
	struct buf *body, *enc;
	uint8_t type;
	uint32_t id;

	fuzz_init();
	body = buf_new(KL_FRAME_BODY_MAX);
	enc = fuzz_buf_new();
	fuzz_require(body != NULL);
	while (kl_frame_read(stream_read, &s, &type, &id, body) == KL_OK) {
		fuzz_require(buf_size(body) <= KL_FRAME_BODY_MAX);
		body_check(type, buf_data(body), buf_size(body), enc);
	}
	buf_free(body);
	buf_free(enc);
	return 0;
}
