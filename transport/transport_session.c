/*
 * The client side of the kluis protocol (docs/PROTOCOL.md): the session
 * over any byte stream (struct tr_io), its requests and replies, and the
 * greeting that opens it.
 *
 * Pipelining.  A request takes the writer lock only while its frames go
 * out (PUT, PUT_DATA..., PUT_END stay contiguous), and gets the next
 * request id under that lock.  The server answers strictly in request
 * order, so the replies form a queue of turns: the thread whose id equals
 * `turn` reads its own reply frames straight off the stream, then passes
 * the turn on.  No thread ever reads for another, and no reply is copied
 * between threads.  Reading needs no writer lock, so a thread uploading a
 * pack never stops the reply of an earlier request from being read (the
 * server could otherwise block on a full pipe: a deadlock).
 *
 * A broken stream, an impossible frame or a wrong id poisons the session:
 * every waiting and later call returns KL_E_CONN at once, and the stream
 * is aborted so that no thread stays blocked in I/O.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "transport_internal.h"

#ifndef KLUIS_VERSION
#define KLUIS_VERSION "0.1.0"
#endif

#define LIST_ENTRIES_MAX ((size_t)1 << 24)
#define REQ_BODY_MAX 8192		/* requests we encode are small */

/* ---- the session ---- */

struct conn {
	struct tr_io io;
	pthread_mutex_t wmu;	/* held while one request's frames go out */
	uint32_t next_id;	/* under wmu */
	pthread_mutex_t mu;	/* guards turn, dead */
	pthread_cond_t cv;
	uint32_t turn;		/* id of the reply next on the stream */
	int dead;		/* 0, or why the session broke */
	struct buf *rbuf;	/* frame body; used by the thread whose turn */
	int role;
	char server[256];
};

static const struct kl_backend_ops conn_ops;

/* The last ERR message this thread received (conn_why), cleared by each
 * request it sends: requests run on several threads, and each must see
 * its own reply's message. */
static __thread char err_last[sizeof(((struct kl_msg_err *)0)->message)];

/* Poisons the session (first cause wins); returns KL_E_CONN. */
static int
conn_fail(struct conn *c, int why)
{
	int first;

	pthread_mutex_lock(&c->mu);
	first = c->dead == 0;
	if (first)
		c->dead = why != 0 ? why : KL_E_CONN;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (first)
		c->io.abort(c->io.ctx);
	return KL_E_CONN;
}

static int
conn_dead(struct conn *c)
{
	int d;

	pthread_mutex_lock(&c->mu);
	d = c->dead;
	pthread_mutex_unlock(&c->mu);
	return d;
}

static int
frame_send(struct conn *c, uint8_t type, uint32_t id, const uint8_t *p,
    size_t n)
{
	if (kl_frame_write(c->io.write, c->io.ctx, type, id, p, n) != KL_OK)
		return conn_fail(c, KL_E_CONN);
	return KL_OK;
}

/* Takes the writer lock and a request id; KL_E_CONN on a dead session. */
static int
send_begin(struct conn *c, uint32_t *id)
{
	err_last[0] = '\0';
	pthread_mutex_lock(&c->wmu);
	if (conn_dead(c)) {
		pthread_mutex_unlock(&c->wmu);
		return KL_E_CONN;
	}
	*id = c->next_id++;
	return KL_OK;
}

static void
send_end(struct conn *c)
{
	pthread_mutex_unlock(&c->wmu);
}

/* Sends a one-frame request; *id gets its id. */
static int
request(struct conn *c, uint8_t type, const struct buf *body, uint32_t *id)
{
	int rc;

	if ((rc = send_begin(c, id)) != KL_OK)
		return rc;
	rc = frame_send(c, type, *id, buf_data(body), buf_size(body));
	send_end(c);
	return rc;
}

/* Waits until the reply to id is next on the stream. */
static int
turn_wait(struct conn *c, uint32_t id)
{
	int rc = KL_OK;

	pthread_mutex_lock(&c->mu);
	while (c->dead == 0 && c->turn != id)
		pthread_cond_wait(&c->cv, &c->mu);
	if (c->dead != 0)
		rc = KL_E_CONN;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void
turn_done(struct conn *c)
{
	pthread_mutex_lock(&c->mu);
	c->turn++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Reads the header of the next frame of the reply to id. */
static int
head_recv(struct conn *c, uint32_t id, uint8_t *type, size_t *len)
{
	uint32_t rid;
	int rc;

	rc = kl_frame_head_read(c->io.read, c->io.ctx, type, &rid, len);
	if (rc != KL_OK)
		return conn_fail(c, rc);
	if (rid != id)
		return conn_fail(c, KL_E_PROTO);
	return KL_OK;
}

/* Reads a frame body of len bytes into c->rbuf. */
static int
body_recv(struct conn *c, size_t len)
{
	uint8_t *p;
	int rc;

	buf_reset(c->rbuf);
	if (len == 0)
		return KL_OK;
	if ((rc = buf_reserve(c->rbuf, len, &p)) != KL_OK ||
	    (rc = c->io.read(c->io.ctx, p, len)) != KL_OK)
		return conn_fail(c, rc);
	return KL_OK;
}

/* Reads the next frame of the reply to id into c->rbuf. */
static int
frame_recv(struct conn *c, uint32_t id, uint8_t *type)
{
	size_t len;
	int rc;

	if ((rc = head_recv(c, id, type, &len)) != KL_OK)
		return rc;
	return body_recv(c, len);
}

/*
 * The code of an ERR reply; msg (may be NULL) gets its message.  Codes
 * that only this side can produce - a dropped connection, a refused host
 * key - are malformed from a server (PROTOCOL.md §1): a session that
 * reported KL_E_CONN and went on would break the rule that KL_E_CONN
 * means "broken for good".
 */
static int
err_reply(struct conn *c, char *msg, size_t msg_len)
{
	struct kl_msg_err e;

	if (kl_msg_err_decode(buf_data(c->rbuf), buf_size(c->rbuf), &e) != 0
	    || e.code >= 0 || e.code == KL_E_CONN || e.code == KL_E_HOSTKEY)
		return conn_fail(c, KL_E_PROTO);
	snprintf(err_last, sizeof(err_last), "%s", e.message);
	if (msg != NULL)
		snprintf(msg, msg_len, "%s", e.message);
	if (e.code < KL_E_DENIED)
		return KL_E_IO;	/* a code newer than this client */
	return e.code;
}

/* Any reply frame the request does not expect breaks the session. */
static int
unexpected(struct conn *c)
{
	return conn_fail(c, KL_E_PROTO);
}

/* A reply that is one frame: OK (body to *u64 if asked) or ERR. */
static int
reply_simple(struct conn *c, uint32_t id, uint64_t *u64)
{
	uint8_t type;
	int rc;

	if ((rc = turn_wait(c, id)) != KL_OK)
		return rc;
	if ((rc = frame_recv(c, id, &type)) != KL_OK)
		return rc;
	if (type == KL_MSG_ERR)
		rc = err_reply(c, NULL, 0);
	else if (type != KL_MSG_OK)
		rc = unexpected(c);
	else if (u64 != NULL)
		rc = kl_msg_u64_decode(buf_data(c->rbuf), buf_size(c->rbuf),
		    u64) == KL_OK ? KL_OK : unexpected(c);
	else if (buf_size(c->rbuf) != 0)
		rc = unexpected(c);
	if (rc != KL_E_CONN)
		turn_done(c);
	return rc;
}

static int
file_body(uint8_t type, enum kl_ftype t, const char *name, uint64_t a,
    uint64_t b, uint64_t cc, struct buf **out)
{
	struct kl_msg_file m;
	int rc;

	*out = NULL;
	memset(&m, 0, sizeof(m));
	m.ftype = (uint8_t)t;
	if (name != NULL && strlen(name) >= sizeof(m.name))
		return KL_E_INVAL;
	if (name != NULL)
		memcpy(m.name, name, strlen(name) + 1);
	m.a = a;
	m.b = b;
	m.c = cc;
	if ((*out = buf_new(REQ_BODY_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_msg_file_encode(type, &m, *out)) != KL_OK) {
		buf_free(*out);
		*out = NULL;
	}
	return rc;
}

static int
put_frames(struct conn *c, uint8_t type, uint32_t id, const struct buf *hdr,
    const uint8_t *data, size_t len)
{
	size_t n;
	int rc;

	rc = frame_send(c, type, id, buf_data(hdr), buf_size(hdr));
	while (rc == KL_OK && len > 0) {
		n = len < KL_PROTO_DATA_MAX ? len : KL_PROTO_DATA_MAX;
		rc = frame_send(c, KL_MSG_PUT_DATA, id, data, n);
		data += n;
		len -= n;
	}
	if (rc == KL_OK)
		rc = frame_send(c, KL_MSG_PUT_END, id, NULL, 0);
	return rc;
}

/* PUT, or PUT_DATED with recv_s > 0 (the replica role's). */
static int
put_any(struct conn *c, enum kl_ftype t, const char *name,
    const uint8_t *data, size_t len, int64_t recv_s)
{
	uint8_t type = recv_s > 0 ? KL_MSG_PUT_DATED : KL_MSG_PUT;
	struct buf *hdr = NULL;
	uint32_t id;
	int rc;

	if ((uint64_t)len > KL_PROTO_PUT_MAX)
		return KL_E_LIMIT;
	if ((rc = file_body(type, t, name, len, recv_s > 0 ? (uint64_t)recv_s :
	    0, 0, &hdr)) != KL_OK)
		return rc;
	if ((rc = send_begin(c, &id)) == KL_OK) {
		rc = put_frames(c, type, id, hdr, data, len);
		send_end(c);
	}
	buf_free(hdr);
	return rc == KL_OK ? reply_simple(c, id, NULL) : rc;
}

static int
conn_put(void *ctx, enum kl_ftype t, const char *name, const uint8_t *data,
    size_t len)
{
	return put_any(ctx, t, name, data, len, 0);
}

static int
conn_put_dated(void *ctx, enum kl_ftype t, const char *name,
    const uint8_t *data, size_t len, int64_t recv_s)
{
	if (recv_s <= 0)
		return KL_E_INVAL;
	return put_any(ctx, t, name, data, len, recv_s);
}

/* GET reply state: bytes so far go to out (NULL after a local error). */
struct get_rx {
	struct buf *out;
	size_t cap;		/* most bytes the reply may carry */
	uint64_t got;
	int local;		/* local error while assembling */
};

/* A DATA body of n bytes: read straight into g->out (no copy). */
static int
get_data(struct conn *c, struct get_rx *g, size_t n)
{
	uint8_t *p;
	int rc;

	if (n == 0 || n > g->cap - g->got)	/* checked before growing */
		return unexpected(c);
	g->got += n;
	if (g->local == KL_OK &&
	    (g->local = buf_reserve(g->out, n, &p)) == KL_OK)
		return (rc = c->io.read(c->io.ctx, p, n)) == KL_OK ? KL_OK :
		    conn_fail(c, rc);
	buf_free(g->out);	/* a local error: the body is read, not kept */
	g->out = NULL;
	return body_recv(c, n);
}

static int
get_end(struct conn *c, struct get_rx *g, size_t want)
{
	uint64_t total;

	if (kl_msg_u64_decode(buf_data(c->rbuf), buf_size(c->rbuf), &total)
	    != KL_OK || total != g->got)
		return unexpected(c);
	if (g->local != KL_OK)
		return g->local;
	return want != 0 && g->got != want ? KL_E_CORRUPT : KL_OK;
}

/* Reads DATA... END (or ERR); the reply is always consumed whole. */
static int
get_reply(struct conn *c, uint32_t id, struct get_rx *g, size_t want)
{
	uint8_t type;
	size_t len;
	int rc;

	if ((rc = turn_wait(c, id)) != KL_OK)
		return rc;
	for (;;) {
		if ((rc = head_recv(c, id, &type, &len)) != KL_OK)
			return rc;
		if (type == KL_MSG_DATA) {
			if ((rc = get_data(c, g, len)) != KL_OK)
				return rc;
			continue;
		}
		if ((rc = body_recv(c, len)) != KL_OK)
			return rc;
		if (type == KL_MSG_END)
			rc = get_end(c, g, want);
		else if (type == KL_MSG_ERR)
			rc = err_reply(c, NULL, 0);
		else
			rc = unexpected(c);
		break;
	}
	if (rc != KL_E_CONN)
		turn_done(c);
	return rc;
}

static int
conn_get(void *ctx, enum kl_ftype t, const char *name, uint64_t off,
    size_t len, size_t max, struct buf **out)
{
	struct conn *c = ctx;
	struct get_rx g = { NULL, 0, 0, KL_OK };
	struct buf *req = NULL;
	uint8_t *tmp;
	uint32_t id;
	int rc;

	*out = NULL;
	g.cap = len != 0 ? len : max;
	if (g.cap > KL_FILE_MAX)
		g.cap = KL_FILE_MAX;
	if ((g.out = buf_new(g.cap)) == NULL)
		return KL_E_NOMEM;
	if (len != 0 && buf_reserve(g.out, len, &tmp) == KL_OK)
		buf_unput(g.out, len);	/* one allocation, known size */
	if ((rc = file_body(KL_MSG_GET, t, name, off, len, max, &req)) != 0)
		goto out;
	if ((rc = request(c, KL_MSG_GET, req, &id)) != KL_OK)
		goto out;
	if ((rc = get_reply(c, id, &g, len)) == KL_OK) {
		*out = g.out;
		g.out = NULL;
	}
out:
	buf_free(req);
	buf_free(g.out);
	return rc;
}

static int
conn_stat(void *ctx, enum kl_ftype t, const char *name, uint64_t *size)
{
	struct conn *c = ctx;
	struct buf *req = NULL;
	uint32_t id;
	int rc;

	*size = 0;
	if ((rc = file_body(KL_MSG_STAT, t, name, 0, 0, 0, &req)) != KL_OK)
		return rc;
	rc = request(c, KL_MSG_STAT, req, &id);
	buf_free(req);
	return rc == KL_OK ? reply_simple(c, id, size) : rc;
}

struct list_ent {
	char name[72];
	uint64_t size;
	int64_t mtime_s;
};

struct list_rx {
	struct list_ent *v;
	size_t n, cap;
	int local;
};

static int
list_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct list_rx *l = arg;

	if (strlen(name) >= sizeof(l->v[0].name))
		return KL_E_PROTO;
	if (l->n == LIST_ENTRIES_MAX)
		l->local = KL_E_LIMIT;
	if (l->local != KL_OK) {
		l->n++;		/* counted, not kept */
		return KL_OK;
	}
	if (KL_GROW(l->v, l->cap, l->n + 1) != KL_OK) {
		l->local = KL_E_NOMEM;
		l->n++;
		return KL_OK;
	}
	memcpy(l->v[l->n].name, name, strlen(name) + 1);
	l->v[l->n].size = size;
	l->v[l->n++].mtime_s = mtime_s;
	return KL_OK;
}

static int
list_reply(struct conn *c, uint32_t id, struct list_rx *l)
{
	uint64_t total;
	uint8_t type;
	int rc;

	if ((rc = turn_wait(c, id)) != KL_OK)
		return rc;
	for (;;) {
		if ((rc = frame_recv(c, id, &type)) != KL_OK)
			return rc;
		if (type != KL_MSG_DATA)
			break;
		if (kl_msg_list_decode(buf_data(c->rbuf), buf_size(c->rbuf),
		    list_add, l) != KL_OK)
			return unexpected(c);
	}
	if (type == KL_MSG_END)
		rc = kl_msg_u64_decode(buf_data(c->rbuf), buf_size(c->rbuf),
		    &total) != KL_OK || total != l->n ? unexpected(c) :
		    l->local;
	else if (type == KL_MSG_ERR)
		rc = err_reply(c, NULL, 0);
	else
		rc = unexpected(c);
	if (rc != KL_E_CONN)
		turn_done(c);
	return rc;
}

/*
 * The whole listing is received before the first callback: a callback may
 * itself issue requests (key_try_one reads each key file), whose replies
 * queue behind this one.
 */
static int
conn_list(void *ctx, enum kl_ftype t, kl_list_cb cb, void *arg)
{
	struct conn *c = ctx;
	struct list_rx l = { NULL, 0, 0, KL_OK };
	struct buf *req = NULL;
	uint32_t id;
	size_t i;
	int rc;

	if ((rc = file_body(KL_MSG_LIST, t, NULL, 0, 0, 0, &req)) != KL_OK)
		return rc;
	rc = request(c, KL_MSG_LIST, req, &id);
	buf_free(req);
	if (rc == KL_OK)
		rc = list_reply(c, id, &l);
	for (i = 0; rc == KL_OK && i < l.n; i++)
		rc = cb(arg, l.v[i].name, l.v[i].size, l.v[i].mtime_s);
	free(l.v);
	return rc;
}

static int
conn_remove(void *ctx, enum kl_ftype t, const char *name)
{
	struct conn *c = ctx;
	struct buf *req = NULL;
	uint32_t id;
	int rc;

	if ((rc = file_body(KL_MSG_REMOVE, t, name, 0, 0, 0, &req)) != 0)
		return rc;
	rc = request(c, KL_MSG_REMOVE, req, &id);
	buf_free(req);
	return rc == KL_OK ? reply_simple(c, id, NULL) : rc;
}

static void
conn_free(struct conn *c)
{
	c->io.close(c->io.ctx);
	buf_free(c->rbuf);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->wmu);
	free(c);
}

/* Called when no other thread uses the backend any more. */
static void
conn_close(void *ctx)
{
	struct conn *c = ctx;
	uint32_t id;

	if (send_begin(c, &id) == KL_OK) {
		frame_send(c, KL_MSG_BYE, id, NULL, 0);
		send_end(c);
	}
	conn_free(c);
}

/* The server's words on this thread's last refused request (they are
 * untrusted text: callers escape them before a terminal sees them). */
static const char *
conn_why(void *ctx)
{
	(void)ctx;
	return err_last[0] != '\0' ? err_last : NULL;
}

static const struct kl_backend_ops conn_ops = {
	conn_put, conn_get, conn_stat, conn_list, conn_remove, conn_close,
	conn_why, conn_put_dated,
};

int
kl_transport_role(const struct kl_backend *b)
{
	if (b == NULL || b->ops != &conn_ops)
		return -1;
	return ((const struct conn *)b->ctx)->role;
}

/* ---- the greeting ---- */

static int
greet_body(const char *path, const uint8_t *config, size_t config_len,
    struct buf *b)
{
	struct kl_msg_hello *h;
	char host[128] = "";
	int rc;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return KL_E_NOMEM;
	h->min_version = KL_PROTO_VERSION;
	h->max_version = KL_PROTO_VERSION;
	snprintf(h->repo, sizeof(h->repo), "%s", path);
	gethostname(host, sizeof(host) - 1);
	snprintf(h->client, sizeof(h->client), "kluis %s on %s",
	    KLUIS_VERSION, host);
	rc = KL_OK;
	if (config != NULL)
		rc = buf_put_bytes32(b, config, config_len);
	if (rc == KL_OK)
		rc = kl_msg_hello_encode(h, b);
	free(h);
	return rc;
}

/* A message for a refused greeting. */
static void
greet_refused(int code, const char *smsg, const char *dest, int create,
    char *err, size_t err_len)
{
	switch (code) {
	case KL_E_NOTFOUND:
		snprintf(err, err_len, "%s: no kluis repository there (no "
		    "config file)%s%s", dest, *smsg ? ": " : "", smsg);
		return;
	case KL_E_EXISTS:
		snprintf(err, err_len, "%s already exists and is not empty: "
		    "refusing to create a repository there", dest);
		return;
	case KL_E_PERM:
		snprintf(err, err_len, "the server refused %s %s: %s", create ?
		    "to create" : "access to", dest, *smsg ? smsg :
		    "not allowed for this key");
		return;
	case KL_E_UNSUPPORTED:
		snprintf(err, err_len, "%s: the server does not speak protocol "
		    "version %d of this client%s%s; use kluis and kluis-server "
		    "of the same release", dest, KL_PROTO_VERSION,
		    *smsg ? ": " : "", smsg);
		return;
	}
	snprintf(err, err_len, "the server refused %s: %s%s%s%s", dest,
	    kl_strerror(code), *smsg ? " (" : "", smsg, *smsg ? ")" : "");
}

static int
greet_ok(struct conn *c, char *err, size_t err_len)
{
	struct kl_msg_hello_ok h;

	/* the decoder refuses a role that is none (PROTOCOL.md §3) */
	if (kl_msg_hello_ok_decode(buf_data(c->rbuf), buf_size(c->rbuf), &h)
	    != KL_OK) {
		snprintf(err, err_len, "the server's greeting is malformed");
		return KL_E_PROTO;
	}
	if (h.version != KL_PROTO_VERSION) {
		snprintf(err, err_len, "the server chose protocol version %u; "
		    "this client speaks version %d", h.version,
		    KL_PROTO_VERSION);
		return KL_E_UNSUPPORTED;
	}
	c->role = h.role;
	snprintf(c->server, sizeof(c->server), "%s", h.server);
	return KL_OK;
}

/* The server went away during the greeting: say how, if we know. */
static void
greet_lost(struct conn *c, const char *dest, char *err, size_t err_len)
{
	char why[KL_TRANSPORT_ERR_MAX / 2] = "";

	c->io.why(c->io.ctx, why, sizeof(why));
	snprintf(err, err_len, "%s: the server closed the connection before "
	    "answering%s%s", dest, *why ? ": " : "", why);
}

static int
greet(struct conn *c, const char *path, const char *dest,
    const uint8_t *config, size_t config_len, char *err, size_t err_len)
{
	char smsg[1024] = "";
	struct buf *b;
	uint32_t id;
	uint8_t type;
	int rc;

	if ((b = buf_new(REQ_BODY_MAX + TR_CONFIG_MAX)) == NULL)
		return KL_E_NOMEM;
	rc = greet_body(path, config, config_len, b);
	if (rc == KL_OK)
		rc = request(c, config ? KL_MSG_CREATE : KL_MSG_HELLO, b, &id);
	buf_free(b);
	if (rc == KL_OK && (rc = turn_wait(c, id)) == KL_OK)
		rc = frame_recv(c, id, &type);
	if (rc == KL_E_CONN && conn_dead(c) == KL_E_PROTO) {
		snprintf(err, err_len, "%s: the server's reply is malformed",
		    dest);
		return KL_E_PROTO;
	}
	if (rc == KL_E_CONN) {
		greet_lost(c, dest, err, err_len);
		return rc;
	}
	if (rc != KL_OK)
		return rc;
	if (type == KL_MSG_HELLO_OK)
		rc = greet_ok(c, err, err_len);
	else if (type == KL_MSG_ERR &&
	    (rc = err_reply(c, smsg, sizeof(smsg))) == KL_E_CONN) {
		snprintf(err, err_len, "%s: the server's reply is malformed",
		    dest);
		return KL_E_PROTO;
	} else if (type == KL_MSG_ERR)
		greet_refused(rc, smsg, dest, config != NULL, err, err_len);
	else {
		snprintf(err, err_len, "%s: the server's reply is not a "
		    "kluis greeting", dest);
		rc = KL_E_PROTO;
	}
	turn_done(c);
	return rc;
}

int
tr_conn_open(const struct tr_io *io, const char *path, const char *dest,
    const uint8_t *config, size_t config_len, char *err, size_t err_len,
    struct kl_backend *out)
{
	struct conn *c;
	int rc;

	out->ops = NULL;
	out->ctx = NULL;
	if (config != NULL && (config_len == 0 || config_len > TR_CONFIG_MAX)) {
		io->close(io->ctx);
		return KL_E_INVAL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->rbuf = buf_new(KL_FRAME_BODY_MAX)) == NULL) {
		free(c);
		io->close(io->ctx);
		return KL_E_NOMEM;
	}
	c->io = *io;
	pthread_mutex_init(&c->wmu, NULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	rc = greet(c, path, dest, config, config_len, err, err_len);
	if (rc != KL_OK) {
		conn_free(c);
		return rc;
	}
	out->ops = &conn_ops;
	out->ctx = c;
	return KL_OK;
}
