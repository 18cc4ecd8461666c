/*
 * kluis-server serve: the repository server side of the kluis protocol
 * (docs/PROTOCOL.md) on a byte stream, normally the stdin/stdout of an
 * OpenSSH forced command.
 *
 * Every byte from the client goes through one bounded buffer (s->in, at
 * most KL_FRAME_BODY_MAX) and the codec of protocol/proto.c.  What a role may
 * do is decided by handlers[] below (STYLE.md "The server is a table"):
 * the append-only role has no row that reaches a removal of content, and
 * no role has a path that replaces a file (the store links create-only).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/audit.h"
#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/proto.h"
#include "kluis/store.h"

#include "serve_internal.h"

#define R_FULL		(1u << KL_ROLE_FULL)
#define R_APPEND	(1u << KL_ROLE_APPEND)
#define R_READ		(1u << KL_ROLE_READ)
#define R_REPLICA	(1u << KL_ROLE_REPLICA)
#define R_ALL		(R_FULL | R_APPEND | R_READ | R_REPLICA)

#define SSH_AUTH_MAX	((size_t)16 << 10)	/* $SSH_USER_AUTH file */
#define MSG_MAX		512			/* ERR messages we write */

/*
 * A backup holds one lock and, while refreshing it, briefly two; the oldest
 * of more is forgotten (it goes stale after 30 minutes on its own).
 */
#define OWN_LOCKS_MAX 16

struct serve {
	const struct kl_serve_opts *o;
	int open_err;			/* why the repository did not open */
	struct kl_store *store;		/* owned by be */
	struct kl_backend be;
	struct kl_audit *audit;
	struct kl_audit_who who;
	int in_fd, out_fd;
	size_t nread;			/* bytes of the current frame read */
	struct buf *in;			/* the one buffer for client bytes */
	struct buf *out;		/* reply bodies */
	uint8_t *chunk;			/* GET reads */
	int greeted, done, end_err;
	unsigned refusals;		/* failed or refused requests */
	int uploading;			/* between PUT and PUT_END */
	int put_dated;			/* h_put serves a PUT_DATED */
	struct kl_store_put *put;	/* NULL: the upload is discarded */
	struct kl_msg_file put_msg;
	uint32_t put_id;
	uint64_t gets, get_bytes;
	/* locks this session created: all the append-only role may remove */
	char own_locks[OWN_LOCKS_MAX][sizeof(((struct kl_msg_file *)0)->name)];
	size_t own_locks_next;
};

typedef int (*handler_fn)(struct serve *s, uint32_t id,
    const struct kl_msg_file *m);

static int h_put(struct serve *, uint32_t, const struct kl_msg_file *);
static int h_put_dated(struct serve *, uint32_t, const struct kl_msg_file *);
static int h_get(struct serve *, uint32_t, const struct kl_msg_file *);
static int h_stat(struct serve *, uint32_t, const struct kl_msg_file *);
static int h_list(struct serve *, uint32_t, const struct kl_msg_file *);
static int h_remove(struct serve *, uint32_t, const struct kl_msg_file *);
static int h_remove_lock(struct serve *, uint32_t,
    const struct kl_msg_file *);
static int h_bye(struct serve *, uint32_t, const struct kl_msg_file *);

/*
 * {message, roles, handler}: the first row whose message and role match
 * handles a request; a message with rows but none for the role is refused
 * (KL_E_PERM, audited); a message with no row at all is malformed.
 * PUT_DATA and PUT_END belong to the upload a PUT opened (serve_upload).
 */
static const struct handler {
	uint8_t msg;
	unsigned roles;
	handler_fn fn;
} handlers[] = {
	{ KL_MSG_PUT, R_FULL | R_APPEND | R_REPLICA, h_put },
	{ KL_MSG_PUT_DATED, R_REPLICA, h_put_dated },
	{ KL_MSG_GET, R_ALL, h_get },
	{ KL_MSG_STAT, R_ALL, h_stat },
	{ KL_MSG_LIST, R_ALL, h_list },
	{ KL_MSG_REMOVE, R_FULL, h_remove },
	{ KL_MSG_REMOVE, R_APPEND, h_remove_lock },
	{ KL_MSG_BYE, R_ALL, h_bye },
};

static const char *
role_name(enum kl_store_role r)
{
	switch (r) {
	case KL_ROLE_FULL: return "full";
	case KL_ROLE_APPEND: return "append-only";
	case KL_ROLE_READ: return "read-only";
	case KL_ROLE_REPLICA: return "replica";
	}
	return "unknown";
}

static const char *
msg_name(uint8_t type)
{
	switch (type) {
	case KL_MSG_HELLO: return "hello";
	case KL_MSG_CREATE: return "create";
	case KL_MSG_PUT: return "put";
	case KL_MSG_PUT_DATED: return "put";
	case KL_MSG_PUT_DATA: return "put-data";
	case KL_MSG_PUT_END: return "put-end";
	case KL_MSG_GET: return "get";
	case KL_MSG_STAT: return "stat";
	case KL_MSG_LIST: return "list";
	case KL_MSG_REMOVE: return "remove";
	case KL_MSG_BYE: return "bye";
	}
	return "frame";
}

/* --- I/O --- */

static int
io_read(void *ctx, void *p, size_t n)
{
	struct serve *s = ctx;
	uint8_t *c = p;
	ssize_t got;

	while (n > 0) {
		got = read(s->in_fd, c, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return KL_E_CONN;
		c += got;
		n -= (size_t)got;
		s->nread += (size_t)got;
	}
	return KL_OK;
}

static int
io_write(void *ctx, const void *p, size_t n)
{
	struct serve *s = ctx;
	const uint8_t *c = p;
	ssize_t put;

	while (n > 0) {
		put = write(s->out_fd, c, n);
		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return KL_E_CONN;
		c += put;
		n -= (size_t)put;
	}
	return KL_OK;
}

/* A reply that cannot be written ends the session. */
static int
send_frame(struct serve *s, uint8_t type, uint32_t id, const uint8_t *p,
    size_t len)
{
	int r;

	if ((r = kl_frame_write(io_write, s, type, id, p, len)) != KL_OK) {
		s->done = 1;
		s->end_err = KL_E_CONN;
	}
	return r;
}

static int
send_err(struct serve *s, uint32_t id, int code, const char *msg)
{
	buf_reset(s->out);
	if (kl_msg_err_encode(code, msg, s->out) != KL_OK)
		return KL_E_INVAL;
	return send_frame(s, KL_MSG_ERR, id, buf_data(s->out),
	    buf_size(s->out));
}

static int
send_u64(struct serve *s, uint8_t type, uint32_t id, uint64_t v)
{
	uint8_t b[8];

	kl_le64enc(b, v);
	return send_frame(s, type, id, b, sizeof(b));
}

/* --- audit --- */

static int
audit(struct serve *s, const char *op, const struct kl_msg_file *m,
    uint64_t size, int outcome)
{
	struct kl_audit_rec rec = { op, 0, NULL, size, 0, outcome };

	if (s->audit == NULL)
		return KL_OK;	/* no repository: nothing to record into */
	if (m != NULL) {
		rec.ftype = m->ftype;
		rec.name = m->name;
	}
	return kl_audit_append(s->audit, &s->who, &rec);
}

/*
 * Ends the session with ERR: a malformed frame, a refused greeting, or a
 * log that cannot be written.  Returns code.
 */
static int
fatal(struct serve *s, uint32_t id, uint8_t type, int code, const char *msg)
{
	if (code != KL_E_CONN)
		(void)send_err(s, id, code, msg);
	/* Best effort: the session is over whether or not this lands. */
	(void)audit(s, msg_name(type), NULL, 0, code);
	s->done = 1;
	s->end_err = code;
	return code;
}

/*
 * "put data <name>: already exists".  why: the store's reason for a
 * refusal by content (the lock rule), or NULL.
 */
static void
describe(char *out, const char *op, const struct kl_msg_file *m, int code,
    const char *role, const char *why)
{
	const char *type = kl_ftype_name(m->ftype);

	if (code == KL_E_PERM && why != NULL && strcmp(op, "put") == 0)
		snprintf(out, MSG_MAX, "%s %s %s: the %s role may create only "
		    "shared locks of version 2 (FORMAT.md §12), and %s; "
		    "nothing was stored", op, type, m->name, role, why);
	else if ((code == KL_E_NOSPACE || code == KL_E_INVAL) && why != NULL)
		snprintf(out, MSG_MAX, "%s %s %s: %s; nothing was stored", op,
		    type, m->name, why);
	else if (code == KL_E_CORRUPT && strcmp(op, "put") == 0)
		snprintf(out, MSG_MAX, "put %s %s: the upload's size or "
		    "content hash does not match the PUT; nothing was stored",
		    type, m->name);
	else if (code == KL_E_PERM && m->ftype == KL_FT_CONFIG)
		snprintf(out, MSG_MAX, "%s config: the config is written once, "
		    "when the repository is created", op);
	else if (code == KL_E_PERM && why != NULL &&
	    strcmp(op, "remove") == 0)
		snprintf(out, MSG_MAX, "remove %s %s: %s; nothing was removed",
		    kl_ftype_name(m->ftype), m->name, why);
	else if (code == KL_E_PERM && role != NULL &&
	    strcmp(role, "append-only") == 0 && m->ftype == KL_FT_LOCK &&
	    strcmp(op, "remove") == 0)
		snprintf(out, MSG_MAX, "remove lock %s: the %s role removes "
		    "only the locks it created in this session", m->name,
		    role);
	else if (code == KL_E_PERM && role != NULL)
		snprintf(out, MSG_MAX, "%s %s %s: not allowed in the %s role",
		    op, kl_ftype_name(m->ftype), m->name, role);
	else
		snprintf(out, MSG_MAX, "%s %s %s: %s", op, type, m->name,
		    kl_strerror(code));
}

#define SERVE_REFUSALS_MAX 64	/* per session (PROTOCOL.md §7) */

/*
 * Records a write (or refusal) durably, then answers it: OK, or ERR with
 * outcome.  If the record cannot be written the request fails and the
 * session ends: the server does not work without its audit trail.
 */
static int
record_reply(struct serve *s, uint32_t id, const char *op,
    const struct kl_msg_file *m, uint64_t size, int outcome)
{
	char msg[MSG_MAX];
	int r;

	if ((r = audit(s, op, m, size, outcome)) != KL_OK)
		return fatal(s, id, 0, r, "cannot write the audit log "
		    "(DIR/audit.log); the request was not completed");
	if (outcome == KL_OK)
		return send_frame(s, KL_MSG_OK, id, NULL, 0) == KL_OK ?
		    KL_OK : KL_E_CONN;
	/* the store's reason is fresh after a put (every role) and after a
	 * remove in the full role, the only one whose removals reach it
	 * (h_remove_lock refuses the others first) */
	describe(msg, op, m, outcome, outcome == KL_E_PERM ?
	    role_name(s->o->role) : NULL, (outcome == KL_E_PERM ||
	    outcome == KL_E_NOSPACE || outcome == KL_E_INVAL) &&
	    s->store != NULL &&
	    (strcmp(op, "put") == 0 || s->o->role == KL_ROLE_FULL) ?
	    kl_store_why(s->store) : NULL);
	if (send_err(s, id, outcome, msg) != KL_OK)
		return KL_E_CONN;
	/*
	 * Every refusal is a durable audit record: a restricted key must not
	 * be able to grow the log without bound.  No legitimate client comes
	 * near this many; the session ends after the reply.
	 */
	if (++s->refusals >= SERVE_REFUSALS_MAX) {
		s->done = 1;
		s->end_err = KL_E_LIMIT;
	}
	return KL_OK;
}

/* Reads answer errors without a record, except refusals. */
static int
read_failed(struct serve *s, uint32_t id, const char *op,
    const struct kl_msg_file *m, int code)
{
	char msg[MSG_MAX];

	if (code == KL_E_PERM || code == KL_E_INVAL)
		return record_reply(s, id, op, m, 0, code);
	describe(msg, op, m, code, NULL, NULL);
	return send_err(s, id, code, msg) == KL_OK ? KL_OK : KL_E_CONN;
}

/* --- uploads --- */

/* PUT_DATED: a PUT whose file keeps the receive time b (replica role). */
static int
h_put_dated(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	int r;

	s->put_dated = 1;
	r = h_put(s, id, m);
	s->put_dated = 0;
	return r;
}

static int
h_put(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	int r;

	s->uploading = 1;
	s->put_id = id;
	s->put_msg = *m;
	r = kl_store_put_begin(s->store, m->ftype, m->name, m->a, &s->put);
	/* PUT_DATED (replica role): keep the primary's receive time, b */
	if (r == KL_OK && s->put_dated && (r = kl_store_put_keep_time(s->put,
	    m->b > (uint64_t)INT64_MAX ? -1 : (int64_t)m->b)) != KL_OK) {
		kl_store_put_abort(s->put);
		s->put = NULL;
	}
	if (r == KL_OK)
		return KL_OK;
	/* Refused now: the rest of this upload is read and dropped. */
	return record_reply(s, id, "put", m, m->a, r);
}

static int
put_data(struct serve *s, const uint8_t *p, size_t len)
{
	int r;

	if (len == 0)
		return fatal(s, s->put_id, KL_MSG_PUT_DATA, KL_E_PROTO,
		    "empty PUT_DATA");
	if (len > KL_PROTO_DATA_MAX)
		return fatal(s, s->put_id, KL_MSG_PUT_DATA, KL_E_LIMIT,
		    "PUT_DATA larger than 1 MiB");
	if (s->put == NULL)
		return KL_OK;
	if ((r = kl_store_put_write(s->put, p, len)) == KL_OK)
		return KL_OK;
	kl_store_put_abort(s->put);
	s->put = NULL;
	if (r == KL_E_LIMIT)
		return fatal(s, s->put_id, KL_MSG_PUT_DATA, KL_E_PROTO,
		    "more PUT_DATA than the size the PUT declared");
	return record_reply(s, s->put_id, "put", &s->put_msg,
	    s->put_msg.a, r);
}

/*
 * A lock file this session created (a commit that returned OK made the
 * name: link() never takes over an existing file, so an upload of a copy
 * of another client's lock does not make it this session's).
 */
static void
own_lock_note(struct serve *s, const char *name)
{
	snprintf(s->own_locks[s->own_locks_next % OWN_LOCKS_MAX],
	    sizeof(s->own_locks[0]), "%s", name);
	s->own_locks_next++;
}

/* Forgets name; 1 if this session had created it. */
static int
own_lock_take(struct serve *s, const char *name)
{
	size_t i;

	for (i = 0; i < OWN_LOCKS_MAX; i++)
		if (s->own_locks[i][0] != '\0' &&
		    strcmp(s->own_locks[i], name) == 0) {
			s->own_locks[i][0] = '\0';
			return 1;
		}
	return 0;
}

static int
put_end(struct serve *s, size_t len)
{
	int r;

	if (len != 0)
		return fatal(s, s->put_id, KL_MSG_PUT_END, KL_E_PROTO,
		    "PUT_END with a body");
	s->uploading = 0;
	if (s->put == NULL)
		return KL_OK;	/* refused before: the ERR was sent */
	r = kl_store_put_commit(s->put);
	s->put = NULL;
	if (r == KL_OK && s->put_msg.ftype == KL_FT_LOCK)
		own_lock_note(s, s->put_msg.name);
	return record_reply(s, s->put_id, "put", &s->put_msg, s->put_msg.a,
	    r);
}

/* Between PUT and PUT_END nothing but the upload's frames is allowed. */
static int
serve_upload(struct serve *s, uint8_t type)
{
	if (type == KL_MSG_PUT_DATA)
		return put_data(s, buf_rptr(s->in), buf_avail(s->in));
	if (type == KL_MSG_PUT_END)
		return put_end(s, buf_avail(s->in));
	return fatal(s, s->put_id, type, KL_E_PROTO,
	    "only PUT_DATA or PUT_END may follow a PUT");
}

/* The connection ended mid-upload: nothing becomes visible. */
static void
upload_broken(struct serve *s)
{
	if (!s->uploading)
		return;
	s->uploading = 0;
	if (s->put == NULL)
		return;
	kl_store_put_abort(s->put);
	s->put = NULL;
	(void)audit(s, "put", &s->put_msg, s->put_msg.a, KL_E_CONN);
}

/* --- reads --- */

/* Resolves GET's offset, length and max against the file size. */
static int
get_range(uint64_t size, uint64_t off, uint64_t *len, uint64_t max)
{
	if (max == 0 || max > KL_FILE_MAX)
		max = KL_FILE_MAX;
	if (*len == 0) {
		if (off != 0)
			return KL_E_INVAL;
		*len = size;
		return size > max ? KL_E_LIMIT : KL_OK;
	}
	if (*len > max)
		return KL_E_LIMIT;
	return off > size || *len > size - off ? KL_E_CORRUPT : KL_OK;
}

static int
get_stream(struct serve *s, uint32_t id, int fd, uint64_t off, uint64_t len)
{
	uint64_t done = 0;
	size_t want;
	ssize_t n;

	while (done < len) {
		want = len - done < KL_PROTO_DATA_MAX ?
		    (size_t)(len - done) : KL_PROTO_DATA_MAX;
		n = pread(fd, s->chunk, want, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)	/* the file shrank: it is damaged */
			return n < 0 ? kl_err_from_errno(errno) :
			    KL_E_CORRUPT;
		if (send_frame(s, KL_MSG_DATA, id, s->chunk, (size_t)n) !=
		    KL_OK)
			return KL_E_CONN;
		done += (uint64_t)n;
	}
	s->get_bytes += done;
	return send_u64(s, KL_MSG_END, id, done) == KL_OK ? KL_OK : KL_E_CONN;
}

static int
h_get(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	uint64_t size, len = m->b;
	int fd, r;

	s->gets++;
	r = kl_store_open_file(s->store, m->ftype, m->name, &fd, &size);
	if (r == KL_OK && (r = get_range(size, m->a, &len, m->c)) != KL_OK)
		close(fd);
	if (r != KL_OK)
		return read_failed(s, id, "get", m, r);
	r = get_stream(s, id, fd, m->a, len);
	close(fd);
	if (r == KL_OK || r == KL_E_CONN)
		return r;
	return read_failed(s, id, "get", m, r);
}

static int
h_stat(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	uint64_t size;
	int r;

	s->gets++;
	if ((r = s->be.ops->stat(s->be.ctx, m->ftype, m->name, &size)) !=
	    KL_OK)
		return read_failed(s, id, "stat", m, r);
	return send_u64(s, KL_MSG_OK, id, size) == KL_OK ? KL_OK : KL_E_CONN;
}

struct listing {
	struct serve *s;
	uint32_t id;
	uint64_t n;
};

static int
list_flush(struct listing *l)
{
	struct serve *s = l->s;
	int r = KL_OK;

	if (buf_size(s->out) > 0)
		r = send_frame(s, KL_MSG_DATA, l->id, buf_data(s->out),
		    buf_size(s->out));
	buf_reset(s->out);
	return r;
}

static int
list_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct listing *l = arg;
	int r;

	if (buf_size(l->s->out) + KL_PROTO_LIST_ENTRY_LEN(strlen(name)) >
	    KL_PROTO_DATA_MAX && (r = list_flush(l)) != KL_OK)
		return r;
	if ((r = kl_msg_list_put(l->s->out, name, size, mtime_s)) != KL_OK)
		return r;
	l->n++;
	return KL_OK;
}

static int
h_list(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	struct listing l = { s, id, 0 };
	int r;

	s->gets++;
	buf_reset(s->out);
	r = s->be.ops->list(s->be.ctx, m->ftype, list_cb, &l);
	if (r == KL_OK)
		r = list_flush(&l);
	if (s->done)
		return KL_E_CONN;
	if (r != KL_OK)
		return read_failed(s, id, "list", m, r);
	return send_u64(s, KL_MSG_END, id, l.n) == KL_OK ? KL_OK : KL_E_CONN;
}

/* --- removal --- */

static int
h_remove(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	uint64_t size = 0;
	int r;

	(void)s->be.ops->stat(s->be.ctx, m->ftype, m->name, &size);
	r = s->be.ops->remove(s->be.ctx, m->ftype, m->name);
	return record_reply(s, id, "remove", m, size, r);
}

/*
 * The append-only role may release the locks it took in this session and
 * remove nothing else: not another client's lock, not its own from an
 * earlier session (a client only ever removes the locks it wrote; a lock
 * left behind by a dropped session goes stale on its own).
 */
static int
h_remove_lock(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	if (m->ftype != KL_FT_LOCK || !own_lock_take(s, m->name))
		return record_reply(s, id, "remove", m, 0, KL_E_PERM);
	return h_remove(s, id, m);
}

static int
h_bye(struct serve *s, uint32_t id, const struct kl_msg_file *m)
{
	s->done = 1;
	return KL_OK;
}

/* --- dispatch --- */

static int
request_decode(struct serve *s, uint8_t type, struct kl_msg_file *m)
{
	memset(m, 0, sizeof(*m));
	if (type == KL_MSG_BYE)
		return buf_avail(s->in) == 0 ? KL_OK : KL_E_PROTO;
	return kl_msg_file_decode(type, buf_rptr(s->in), buf_avail(s->in), m);
}

/* A request the role has no row for: refused and recorded. */
static int
refuse(struct serve *s, uint8_t type, uint32_t id,
    const struct kl_msg_file *m)
{
	if (type == KL_MSG_PUT || type == KL_MSG_PUT_DATED) {
		s->uploading = 1;	/* drop its PUT_DATA and PUT_END */
		s->put_id = id;
		s->put_msg = *m;
	}
	return record_reply(s, id, msg_name(type), m, type == KL_MSG_PUT ||
	    type == KL_MSG_PUT_DATED ? m->a : 0, KL_E_PERM);
}

static int
dispatch(struct serve *s, uint8_t type, uint32_t id)
{
	const struct handler *h = NULL;
	struct kl_msg_file m;
	size_t i;
	int known = 0, r;

	for (i = 0; h == NULL && i < sizeof(handlers) / sizeof(handlers[0]);
	    i++) {
		if (handlers[i].msg != type)
			continue;
		known = 1;
		if (handlers[i].roles & (1u << s->o->role))
			h = &handlers[i];
	}
	if (!known)
		return fatal(s, id, type, KL_E_PROTO, "unknown or unexpected "
		    "message type");
	if ((r = request_decode(s, type, &m)) != KL_OK)
		return fatal(s, id, type, r, r == KL_E_LIMIT ? "a field is "
		    "over its limit" : "malformed request body");
	if (h == NULL)
		return refuse(s, type, id, &m);
	return h->fn(s, id, &m);
}

/* --- greeting --- */

/* 1 if the client may use the repository it asked for (§5). */
static int
repo_allowed(const char *served, const char *asked)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (asked[0] == '\0')
		return 1;
	if (realpath(asked, a) == NULL)
		return strcmp(asked, served) == 0;
	if (realpath(served, b) == NULL)
		return 0;
	return strcmp(a, b) == 0;
}

/* Version and path (§3, §5): the same for HELLO and CREATE. */
static int
greeting_check(struct serve *s, uint32_t id, uint8_t type,
    const struct kl_msg_hello *h)
{
	char msg[MSG_MAX + PATH_MAX];

	if (h->min_version > KL_PROTO_VERSION ||
	    h->max_version < KL_PROTO_VERSION) {
		snprintf(msg, sizeof(msg), "this server speaks protocol "
		    "version %d only (the client offers %u..%u): use kluis "
		    "and kluis-server of the same release", KL_PROTO_VERSION,
		    h->min_version, h->max_version);
		return fatal(s, id, type, KL_E_UNSUPPORTED, msg);
	}
	if (!repo_allowed(s->o->repo, h->repo)) {
		snprintf(msg, sizeof(msg), "this key may only use %s",
		    s->o->repo);
		return fatal(s, id, type, KL_E_PERM, msg);
	}
	return KL_OK;
}

static int
hello_check(struct serve *s, uint32_t id, const struct kl_msg_hello *h)
{
	char msg[MSG_MAX + PATH_MAX];
	int r;

	if ((r = greeting_check(s, id, KL_MSG_HELLO, h)) != KL_OK)
		return r;
	if (s->open_err == KL_OK)
		return KL_OK;
	if (s->store != NULL)
		snprintf(msg, sizeof(msg), "%s/%s: cannot open the audit log: "
		    "%s", s->o->repo, KL_AUDIT_FILE, kl_strerror(s->open_err));
	else
		snprintf(msg, sizeof(msg), "%s: %s", s->o->repo,
		    s->open_err == KL_E_NOTFOUND ? "not a kluis repository "
		    "(no config file)" : kl_strerror(s->open_err));
	return fatal(s, id, KL_MSG_HELLO, s->open_err, msg);
}

/*
 * CREATE (§8): full role only, into an empty or missing --repo DIR.  The
 * server checks nothing in the config but its size: it holds no key.
 */
static int
create_repo(struct serve *s, uint32_t id, struct kl_msg_hello *h)
{
	const uint8_t *cfg;
	size_t cfg_len;
	int r;

	if ((r = kl_msg_create_decode(buf_rptr(s->in), buf_avail(s->in),
	    &cfg, &cfg_len, h)) != KL_OK)
		return fatal(s, id, KL_MSG_CREATE, r, "malformed CREATE");
	snprintf(s->who.hello, sizeof(s->who.hello), "%.*s",
	    KL_AUDIT_TEXT_MAX, h->client);
	if ((r = greeting_check(s, id, KL_MSG_CREATE, h)) != KL_OK)
		return r;
	if (s->o->role != KL_ROLE_FULL && s->o->role != KL_ROLE_REPLICA)
		return fatal(s, id, KL_MSG_CREATE, KL_E_PERM,
		    "this key may not create repositories");
	if (s->store != NULL)
		return fatal(s, id, KL_MSG_CREATE, KL_E_EXISTS,
		    "a repository exists there already");
	if ((r = kl_store_create(s->o->repo, cfg, cfg_len, &s->store)) != 0)
		return fatal(s, id, KL_MSG_CREATE, r, r == KL_E_EXISTS ?
		    "the directory exists and is not empty" :
		    "cannot create the repository");
	/* the rest of the session in its own role and policy, as after
	 * HELLO: kl_store_create opens in the full role */
	kl_store_close(s->store);
	s->store = NULL;
	if ((r = kl_store_open(s->o->repo, s->o->role, &s->store)) != KL_OK)
		return fatal(s, id, KL_MSG_CREATE, r, "cannot open the "
		    "repository just created");
	kl_store_set_policy(s->store, &s->o->policy);
	kl_store_backend(s->store, &s->be);
	if ((r = kl_audit_open(s->o->repo, &s->audit)) != KL_OK ||
	    (r = audit(s, "create", NULL, cfg_len, KL_OK)) != KL_OK)
		return fatal(s, id, KL_MSG_CREATE, r, "cannot write the audit "
		    "log");
	s->open_err = KL_OK;
	return KL_OK;
}

/* A stale temporary file removed at session start, in the audit log. */
static void
swept(void *arg, const char *rel, uint64_t size)
{
	struct serve *s = arg;
	struct kl_audit_rec rec = { "sweep-tmp", 0, rel, size, 0, KL_OK };

	(void)kl_audit_append(s->audit, &s->who, &rec);
}

static int
serve_hello(struct serve *s, uint8_t type, uint32_t id)
{
	struct kl_msg_hello h;
	struct kl_msg_hello_ok ok = { KL_PROTO_VERSION, 0, "" };
	int r;

	if (type == KL_MSG_CREATE) {
		if ((r = create_repo(s, id, &h)) != KL_OK)
			return r;
	} else if (type != KL_MSG_HELLO) {
		return fatal(s, id, type, KL_E_PROTO, "HELLO must come first");
	} else {
		if ((r = kl_msg_hello_decode(buf_rptr(s->in),
		    buf_avail(s->in), &h)) != KL_OK)
			return fatal(s, id, type, r, "malformed HELLO");
		snprintf(s->who.hello, sizeof(s->who.hello), "%.*s",
		    KL_AUDIT_TEXT_MAX, h.client);
		if ((r = hello_check(s, id, &h)) != KL_OK)
			return r;
	}
	if ((r = audit(s, "session-start", NULL, 0, KL_OK)) != KL_OK)
		return fatal(s, id, type, r, "cannot write the audit log");
	if (s->o->role != KL_ROLE_READ)
		(void)kl_store_sweep_tmp(s->store, KL_STORE_TMP_STALE_S,
		    swept, s);
	s->greeted = 1;
	ok.role = (uint8_t)s->o->role;
	snprintf(ok.server, sizeof(ok.server), "%s", s->o->server_id);
	buf_reset(s->out);
	if ((r = kl_msg_hello_ok_encode(&ok, s->out)) != KL_OK)
		return fatal(s, id, type, r, "internal error");
	return send_frame(s, KL_MSG_HELLO_OK, id, buf_data(s->out),
	    buf_size(s->out));
}

/* --- the loop --- */

static int
serve_frame(struct serve *s, uint8_t type, uint32_t id)
{
	if (!s->greeted)
		return serve_hello(s, type, id);
	if (s->uploading)
		return serve_upload(s, type);
	if (type == KL_MSG_PUT_DATA || type == KL_MSG_PUT_END)
		return fatal(s, id, type, KL_E_PROTO, "PUT_DATA or PUT_END "
		    "without a PUT");
	if (type == KL_MSG_HELLO || type == KL_MSG_CREATE)
		return fatal(s, id, type, KL_E_PROTO, "a second greeting");
	return dispatch(s, type, id);
}

/* Why kl_frame_read failed: the stream ended, or the frame was bad. */
static void
frame_failed(struct serve *s, uint32_t id, int r)
{
	upload_broken(s);
	if (r == KL_E_CONN && s->nread == 0) {
		s->done = 1;	/* the client closed at a frame boundary */
		return;
	}
	if (r == KL_E_CONN)
		r = KL_E_PROTO;
	(void)fatal(s, id, 0, r, r == KL_E_PROTO ? "malformed frame: length "
	    "outside 5..1 MiB + 69, or the stream ended inside a frame" :
	    kl_strerror(r));
}

static void
serve_loop(struct serve *s)
{
	uint8_t type;
	uint32_t id;
	int r;

	while (!s->done) {
		s->nread = 0;
		if ((r = kl_frame_read(io_read, s, &type, &id, s->in)) !=
		    KL_OK) {
			frame_failed(s, id, r);
			break;
		}
		(void)serve_frame(s, type, id);
	}
	upload_broken(s);
}

/* --- identity (docs/PROTOCOL.md §6) --- */

static void
copy_env(char *out, size_t out_len, const char *a, const char *b)
{
	const char *v = getenv(a);

	if ((v == NULL || v[0] == '\0') && b != NULL)
		v = getenv(b);
	snprintf(out, out_len, "%s", v != NULL ? v : "");
}

/* SHA256:<base64> of the key blob on a "publickey TYPE BLOB" line. */
static void
fingerprint_line(const char *line, char *out, size_t out_len)
{
	uint8_t blob[8192], digest[crypto_hash_sha256_BYTES];
	const char *b64;
	size_t blen, n;

	if (strncmp(line, "publickey ", 10) != 0 ||
	    (b64 = strchr(line + 10, ' ')) == NULL)
		return;
	b64++;
	n = strcspn(b64, " \n");
	if (sodium_base642bin(blob, sizeof(blob), b64, n, NULL, &blen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || out_len < 8 + 44)
		return;
	crypto_hash_sha256(digest, blob, blen);
	memcpy(out, "SHA256:", 7);
	sodium_bin2base64(out + 7, out_len - 7, digest, sizeof(digest),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

/* With `ExposeAuthInfo yes`, sshd names a file holding the key used. */
static void
key_fingerprint(char *out, size_t out_len)
{
	const char *path = getenv("SSH_USER_AUTH");
	char text[SSH_AUTH_MAX + 1], *line, *save = NULL;
	struct buf *b = NULL;

	out[0] = '\0';
	if (path == NULL || kl_file_read_all(path, SSH_AUTH_MAX, &b) != KL_OK)
		return;
	memcpy(text, buf_data(b), buf_size(b));
	text[buf_size(b)] = '\0';
	buf_free(b);
	for (line = strtok_r(text, "\n", &save); line != NULL &&
	    out[0] == '\0'; line = strtok_r(NULL, "\n", &save))
		fingerprint_line(line, out, out_len);
}

static void
who_init(struct serve *s)
{
	struct kl_audit_who *w = &s->who;
	const char *c = getenv("SSH_CONNECTION");

	w->role = role_name(s->o->role);
	w->pid = (long)getpid();
	copy_env(w->user, sizeof(w->user), "USER", "LOGNAME");
	key_fingerprint(w->key, sizeof(w->key));
	snprintf(w->client, sizeof(w->client), "%s",
	    s->o->client_name != NULL ? s->o->client_name : "");
	snprintf(w->addr, sizeof(w->addr), "%.*s",
	    c != NULL ? (int)strcspn(c, " ") : 0, c != NULL ? c : "");
}

/* --- session --- */

static int
serve_init(struct serve *s, const struct kl_serve_opts *o, int in_fd,
    int out_fd)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	who_init(s);
	s->in = buf_new(KL_FRAME_BODY_MAX);
	s->out = buf_new(KL_FRAME_BODY_MAX);
	s->chunk = malloc(KL_PROTO_DATA_MAX);
	if (s->in == NULL || s->out == NULL || s->chunk == NULL)
		return KL_E_NOMEM;
	/* Failures are told to the client after its HELLO (§2). */
	s->open_err = kl_store_open(o->repo, o->role, &s->store);
	if (s->open_err == KL_OK) {
		kl_store_set_policy(s->store, &o->policy);
		/* for status; the quota holds whether or not this is kept */
		(void)kl_store_quota_record(s->store);
		kl_store_backend(s->store, &s->be);
		s->open_err = kl_audit_open(o->repo, &s->audit);
	}
	return KL_OK;
}

static void
serve_clear(struct serve *s)
{
	kl_store_put_abort(s->put);
	kl_audit_close(s->audit);
	if (s->be.ops != NULL)
		s->be.ops->close(s->be.ctx);
	buf_free(s->in);
	buf_free(s->out);
	free(s->chunk);
}

int
kl_serve(const struct kl_serve_opts *o, int in_fd, int out_fd)
{
	struct kl_audit_rec end = { "session-end", 0, NULL, 0, 0, KL_OK };
	struct serve s;
	int r;

	if ((r = serve_init(&s, o, in_fd, out_fd)) == KL_OK) {
		serve_loop(&s);
		r = s.end_err;
	}
	if (s.greeted && s.audit != NULL) {
		end.size = s.get_bytes;
		end.gets = s.gets;
		end.outcome = r;
		(void)kl_audit_append(s.audit, &s.who, &end);
	}
	serve_clear(&s);
	return r;
}
