/*
 * The client side of the kluis protocol (transport/transport_session.c,
 * docs/PROTOCOL.md) against a hostile server: the input scripts a few
 * requests and then is everything the "server" ever answers.  The session
 * runs over an in-memory stream (struct tr_io) exactly as over a pipe or
 * ssh://: the greeting, then PUT, GET, STAT, LIST and REMOVE with their
 * reply state machines.
 *
 * Input: byte 0 = flags (bit 7: greet with CREATE) and the request count
 * (low 3 bits, plus one); one byte per request (low 3 bits: the kind; the
 * rest: a size); then the server's byte stream.
 *
 * Oracles, besides no crash and no leak: every result is KL_OK or an error
 * code the protocol can carry (an ERR reply's code, or the client's own);
 * a broken session (KL_E_CONN) aborts the stream and fails every later
 * request at once; a GET that succeeds returns exactly the length asked
 * (or at most max for a whole file); LIST names are NUL-free and shorter
 * than 72 bytes; a failed greeting leaves a message and closes the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/proto.h"
#include "transport_internal.h"

#include "fuzz.h"

#define REQ_MAX 8
#define GET_MAX 4096		/* largest GET the script asks for */

struct mem_io {
	const uint8_t *p;
	size_t len, off;
	size_t written;
	int aborted, closed;
};

static int
mem_read(void *ctx, void *out, size_t n)
{
	struct mem_io *m = ctx;

	if (m->aborted || n > m->len - m->off)
		return KL_E_CONN;
	memcpy(out, m->p + m->off, n);
	m->off += n;
	return KL_OK;
}

static int
mem_write(void *ctx, const void *p, size_t n)
{
	struct mem_io *m = ctx;

	(void)p;
	if (m->aborted)
		return KL_E_CONN;
	m->written += n;
	return KL_OK;
}

static void
mem_abort(void *ctx)
{
	((struct mem_io *)ctx)->aborted = 1;
}

static void
mem_why(void *ctx, char *out, size_t out_len)
{
	(void)ctx;
	if (out_len > 0)
		out[0] = '\0';
}

static void
mem_close(void *ctx)
{
	((struct mem_io *)ctx)->closed++;
}

static int
list_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	(void)arg;
	(void)size;
	(void)mtime_s;
	fuzz_require(strlen(name) < 72);
	return KL_OK;
}

static int
code_ok(int rc)
{
	return rc <= KL_OK && rc >= KL_E_DENIED;
}

static const char NAME[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* One scripted request; returns its result after checking it. */
static int
one_request(struct kl_backend *be, uint8_t op)
{
	static const uint8_t data[64] = { 1, 2, 3 };
	size_t len = (size_t)(op >> 3) * (GET_MAX / 31);
	struct buf *out = NULL;
	uint64_t size;
	int rc;

	switch (op & 7) {
	case 0: case 5:
		rc = be->ops->put(be->ctx, KL_FT_DATA, NAME, data,
		    (op >> 3) % sizeof(data));
		break;
	case 1: case 6:
		rc = be->ops->get(be->ctx, KL_FT_DATA, NAME, op >> 3, len,
		    GET_MAX, &out);
		fuzz_require(rc == KL_OK ? out != NULL && (len != 0 ?
		    buf_size(out) == len : buf_size(out) <= GET_MAX) :
		    out == NULL);
		buf_free(out);
		break;
	case 2:
		rc = be->ops->stat(be->ctx, KL_FT_INDEX, NAME, &size);
		break;
	case 3: case 7:
		rc = be->ops->list(be->ctx, (enum kl_ftype)(1 + (op >> 3) % 6),
		    list_cb, NULL);
		break;
	default:
		rc = be->ops->remove(be->ctx, KL_FT_LOCK, NAME);
	}
	fuzz_require(code_ok(rc));
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t config[] = "fuzz config";
	struct mem_io m = { NULL, 0, 0, 0, 0, 0 };
	struct tr_io io = { mem_read, mem_write, mem_abort, mem_why,
	    mem_close, &m };
	struct kl_backend be;
	char err[KL_TRANSPORT_ERR_MAX];
	size_t i, nreq;
	int rc, dead = 0;

	if (size < 1)
		return 0;
	nreq = (size_t)(data[0] & 7) + 1;
	if (size < 1 + nreq)
		return 0;
	m.p = data + 1 + nreq;
	m.len = size - 1 - nreq;
	err[0] = '\0';
	rc = tr_conn_open(&io, "/srv/kluis/fuzz", "fuzz", data[0] & 0x80 ?
	    config : NULL, data[0] & 0x80 ? sizeof(config) - 1 : 0, err,
	    sizeof(err), &be);
	if (rc != KL_OK) {
		/* a refused greeting is explained, and the stream closed */
		fuzz_require(code_ok(rc) && err[0] != '\0' && m.closed == 1);
		return 0;
	}
	fuzz_require(m.closed == 0 && kl_transport_role(&be) >= 0);
	for (i = 0; i < nreq; i++) {
		rc = one_request(&be, data[1 + i]);
		/* once broken, always broken, and the stream is aborted */
		fuzz_require(!dead || rc == KL_E_CONN);
		if (rc == KL_E_CONN) {
			dead = 1;
			fuzz_require(m.aborted);
		}
	}
	be.ops->close(be.ctx);
	fuzz_require(m.closed == 1);
	return 0;
}
