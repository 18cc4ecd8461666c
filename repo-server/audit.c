/*
 * The audit log (docs/PROTOCOL.md §6): one line per record, keys in a
 * fixed order, values percent-escaped so that a record never holds a space
 * or a newline of its own, and chained: each record's hash covers the
 * previous record's hash and all of its own fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kluis/audit.h"
#include "kluis/backend.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"

#define AUDIT_VERSION "1"
#define AUDIT_MODE 0600u
#define HASH_KEY " hash="

/* The keys of a record, in the only order allowed (PROTOCOL.md §6). */
static const char *const rec_keys[] = {
	"v", "seq", "time", "pid", "role", "user", "key", "client", "addr",
	"hello", "op", "type", "name", "size", "gets", "outcome", "prev",
	"hash",
};
#define NKEYS (sizeof(rec_keys) / sizeof(rec_keys[0]))
enum { K_V = 0, K_SEQ = 1, K_PREV = NKEYS - 2, K_HASH = NKEYS - 1 };

struct kl_audit {
	int fd;
};

/* The chain as far as it was read: the next seq and the previous hash. */
struct chain {
	uint64_t seq;
	struct kl_id prev;
};

struct line {
	char s[KL_AUDIT_LINE_MAX + 1];
	size_t len;
	int over;
};

const char *
kl_audit_outcome_name(int code)
{
	static const char *const names[] = {
		"ok", "KL_E_NOMEM", "KL_E_IO", "KL_E_NOTFOUND",
		"KL_E_CORRUPT", "KL_E_INVAL", "KL_E_EXISTS", "KL_E_BADPASS",
		"KL_E_PERM", "KL_E_LOCKED", "KL_E_UNSUPPORTED", "KL_E_LIMIT",
		"KL_E_NOSPACE", "KL_E_PROTO", "KL_E_CRYPTO", "KL_E_CHANGED",
		"KL_E_CONN", "KL_E_HOSTKEY", "KL_E_DENIED",
	};

	if (code > 0 || -code >= (int)(sizeof(names) / sizeof(names[0])))
		return "KL_E_UNKNOWN";
	return names[-code];
}


/* --- formatting --- */

static void
line_raw(struct line *l, const char *p, size_t n)
{
	if (l->over || n > KL_AUDIT_LINE_MAX - l->len) {
		l->over = 1;
		return;
	}
	memcpy(l->s + l->len, p, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static void
line_key(struct line *l, const char *key)
{
	if (l->len > 0)
		line_raw(l, " ", 1);
	line_raw(l, key, strlen(key));
	line_raw(l, "=", 1);
}

/* Bytes outside '!'..'~', and '%', are written as %XX. */
static void
line_text(struct line *l, const char *key, const char *v)
{
	const unsigned char *p;
	char esc[4];
	size_t i;

	line_key(l, key);
	if (v == NULL)
		return;
	p = (const unsigned char *)v;
	for (i = 0; p[i] != '\0' && i < KL_AUDIT_TEXT_MAX; i++) {
		if (p[i] > ' ' && p[i] < 0x7f && p[i] != '%') {
			line_raw(l, (const char *)&p[i], 1);
			continue;
		}
		snprintf(esc, sizeof(esc), "%%%02X", p[i]);
		line_raw(l, esc, 3);
	}
}

static void
line_u64(struct line *l, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	line_text(l, key, num);
}

/* UTC with nanoseconds: 2025-01-31T23:59:59.123456789Z. */
static void
now_utc(char out[40])
{
	struct timespec ts;
	struct tm tm;
	char sec[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%09ldZ", sec, (long)ts.tv_nsec);
}

static void
record_fields(struct line *l, const struct chain *c,
    const struct kl_audit_who *w, const struct kl_audit_rec *r)
{
	char t[40], prev[KL_ID_HEX_LEN + 1];

	now_utc(t);
	kl_id_hex(&c->prev, prev);
	line_text(l, "v", AUDIT_VERSION);
	line_u64(l, "seq", c->seq);
	line_text(l, "time", t);
	line_u64(l, "pid", (uint64_t)w->pid);
	line_text(l, "role", w->role);
	line_text(l, "user", w->user);
	line_text(l, "key", w->key);
	line_text(l, "client", w->client);
	line_text(l, "addr", w->addr);
	line_text(l, "hello", w->hello);
	line_text(l, "op", r->op);
	line_text(l, "type", kl_ftype_name(r->ftype));
	line_text(l, "name", r->name);
	line_u64(l, "size", r->size);
	line_u64(l, "gets", r->gets);
	line_text(l, "outcome", kl_audit_outcome_name(r->outcome));
	line_text(l, "prev", prev);
}

/* The record's hash: BLAKE2b-256(previous hash || fields). */
static void
record_hash(const struct kl_id *prev, const char *fields, size_t len,
    struct kl_id *out)
{
	struct kl_hash_state st;

	kl_hash_init(&st);
	kl_hash_update(&st, prev->b, sizeof(prev->b));
	kl_hash_update(&st, (const uint8_t *)fields, len);
	kl_hash_final(&st, out);
}

static int
record_format(struct line *l, const struct chain *c,
    const struct kl_audit_who *w, const struct kl_audit_rec *r)
{
	char hex[KL_ID_HEX_LEN + 1];
	struct kl_id h;

	memset(l, 0, sizeof(*l));
	record_fields(l, c, w, r);
	record_hash(&c->prev, l->s, l->len, &h);
	kl_id_hex(&h, hex);
	line_text(l, "hash", hex);
	line_raw(l, "\n", 1);
	return l->over ? KL_E_LIMIT : KL_OK;
}

/* --- parsing --- */

/*
 * Splits line[0, len) (no newline) into the values of the record's keys;
 * vals[i] points into the copy tok.  Returns NULL or what is wrong.
 */
static const char *
record_split(const char *line, size_t len, char tok[KL_AUDIT_LINE_MAX + 1],
    char *vals[NKEYS])
{
	char *p, *save = NULL;
	size_t i, kl;

	memcpy(tok, line, len);
	tok[len] = '\0';
	p = strtok_r(tok, " ", &save);
	for (i = 0; i < NKEYS; i++, p = strtok_r(NULL, " ", &save)) {
		kl = strlen(rec_keys[i]);
		if (p == NULL || strncmp(p, rec_keys[i], kl) != 0 ||
		    p[kl] != '=')
			return "fields missing or out of order";
		vals[i] = p + kl + 1;
	}
	if (p != NULL)
		return "unexpected fields after hash";
	if (strcmp(vals[K_V], AUDIT_VERSION) != 0)
		return "unknown record version";
	return NULL;
}

static int
parse_seq(const char *s, uint64_t *v)
{
	char *end;

	if (s[0] < '1' || s[0] > '9')
		return KL_E_CORRUPT;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' ? KL_OK : KL_E_CORRUPT;
}

/*
 * Checks one record (without its newline) against the chain and advances
 * the chain.  Returns NULL if intact, else what is wrong, in why[].  The
 * record's values are left in v[], pointing into tok.
 */
static const char *
record_check(const char *line, size_t len, struct chain *c, char *why,
    size_t why_len, char tok[KL_AUDIT_LINE_MAX + 1], char *v[NKEYS])
{
	struct kl_id prev, h, want;
	const char *e;
	uint64_t seq;

	if (len == 0 || line[0] == ' ' || memmem(line, len, "  ", 2) != NULL)
		return "malformed spacing";
	if ((e = record_split(line, len, tok, v)) != NULL)
		return e;
	if (parse_seq(v[K_SEQ], &seq) != KL_OK)
		return "seq is not a number";
	if (seq != c->seq) {
		snprintf(why, why_len, "seq %" PRIu64 " where %" PRIu64
		    " was expected: a record was removed, inserted or "
		    "reordered", seq, c->seq);
		return why;
	}
	if (kl_id_parse(v[K_PREV], &prev) != KL_OK ||
	    kl_id_parse(v[K_HASH], &want) != KL_OK)
		return "prev or hash is not 64 hex digits";
	if (!kl_id_eq(&prev, &c->prev))
		return "prev does not match the previous record's hash: a "
		    "record before it was removed or altered";
	/* The fields are everything before " hash=" (the last key). */
	record_hash(&prev, line, (size_t)(v[K_HASH] - tok) - strlen(HASH_KEY),
	    &h);
	if (!kl_id_eq(&h, &want))
		return "hash does not match the record: it was altered";
	c->seq = seq + 1;
	c->prev = want;
	return NULL;
}

/* --- appending --- */

static int
audit_open(const char *repo, int create, struct kl_audit **out)
{
	char path[PATH_MAX];
	struct kl_audit *a;
	int fd = -1, created = create;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", repo,
	    KL_AUDIT_FILE) >= sizeof(path))
		return KL_E_LIMIT;
	if (create)
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL |
		    O_CLOEXEC, AUDIT_MODE);
	if (!create || (fd < 0 && errno == EEXIST)) {
		created = 0;
		fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return kl_err_from_errno(errno);
	if ((created && kl_fsync_dir(repo) != KL_OK) ||
	    (a = calloc(1, sizeof(*a))) == NULL) {
		close(fd);
		return created ? KL_E_IO : KL_E_NOMEM;
	}
	a->fd = fd;
	*out = a;
	return KL_OK;
}

int
kl_audit_open(const char *repo, struct kl_audit **out)
{
	return audit_open(repo, 1, out);
}

int
kl_audit_open_existing(const char *repo, struct kl_audit **out)
{
	return audit_open(repo, 0, out);
}

void
kl_audit_close(struct kl_audit *a)
{
	if (a == NULL)
		return;
	close(a->fd);
	free(a);
}

/* The seq and hash of the last record: the log's tail ends in '\n'. */
static int
tail_chain(int fd, off_t size, struct chain *c)
{
	/* The longest record and the newline that ends the one before. */
	char buf[KL_AUDIT_LINE_MAX + 2], tok[KL_AUDIT_LINE_MAX + 1], *v[NKEYS];
	size_t n = size > KL_AUDIT_LINE_MAX + 1 ? KL_AUDIT_LINE_MAX + 1 :
	    (size_t)size;
	char *start;
	ssize_t got;

	memset(c, 0, sizeof(*c));
	c->seq = 1;
	if (size == 0)
		return KL_OK;
	got = pread(fd, buf, n, size - (off_t)n);
	if (got < 0 || (size_t)got != n)
		return got < 0 ? kl_err_from_errno(errno) : KL_E_IO;
	if (buf[n - 1] != '\n')
		return KL_E_CORRUPT;
	buf[n - 1] = '\0';
	if ((start = strrchr(buf, '\n')) != NULL)
		start++;
	else if ((size_t)size == n)
		start = buf;
	else
		return KL_E_CORRUPT;
	if (record_split(start, strlen(start), tok, v) != NULL ||
	    parse_seq(v[K_SEQ], &c->seq) != KL_OK ||
	    kl_id_parse(v[K_HASH], &c->prev) != KL_OK)
		return KL_E_CORRUPT;
	c->seq++;
	return KL_OK;
}

/* Plain write(2): the test-only write faults of fsutil.c are meant for
 * repository files, not for the log that records them. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kl_err_from_errno(errno);
		p += n;
		len -= (size_t)n;
	}
	return KL_OK;
}

/* Under the lock: one write, fsync; a failed write is cut back. */
static int
append_locked(int fd, const struct kl_audit_who *w,
    const struct kl_audit_rec *r)
{
	struct line l;
	struct chain c;
	struct stat st;
	int e;

	if (fstat(fd, &st) != 0)
		return kl_err_from_errno(errno);
	if ((e = tail_chain(fd, st.st_size, &c)) != KL_OK)
		return e;
	if ((e = record_format(&l, &c, w, r)) != KL_OK)
		return e;
	if ((e = write_all(fd, l.s, l.len)) == KL_OK &&
	    fsync(fd) != 0)
		e = kl_err_from_errno(errno);
	if (e != KL_OK && ftruncate(fd, st.st_size) == 0)
		(void)fsync(fd);
	return e;
}

int
kl_audit_append(struct kl_audit *a, const struct kl_audit_who *who,
    const struct kl_audit_rec *rec)
{
	int e;

	while (flock(a->fd, LOCK_EX) != 0)
		if (errno != EINTR)
			return kl_err_from_errno(errno);
	e = append_locked(a->fd, who, rec);
	flock(a->fd, LOCK_UN);
	return e;
}

/* --- verification --- */

/* Reads one line into buf (newline stripped): 1 a line, 0 end of file,
 * negative: what is wrong with it (KL_E_LIMIT too long, KL_E_CORRUPT no
 * newline or a NUL byte, KL_E_IO read error). */
static int
read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
	int ch, bad = 0;

	*len = 0;
	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0')
			bad = 1;
		if (*len + 1 >= cap)
			return KL_E_LIMIT;
		buf[(*len)++] = (char)ch;
	}
	buf[*len] = '\0';
	if (ferror(f))
		return KL_E_IO;
	if (ch == EOF)
		return *len == 0 ? 0 : KL_E_CORRUPT;
	return bad ? KL_E_CORRUPT : 1;
}

/* "2025-01-31T23:59:59.123456789Z" to UTC seconds; 0 if it is not one. */
static int64_t
time_parse(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || (*end != '.' && *end != 'Z'))
		return 0;
	return (int64_t)timegm(&tm);
}

/* The inverse of kl_audit_outcome_name. */
static int
outcome_code(const char *name)
{
	const char *n;
	int c;

	for (c = 0; strcmp(n = kl_audit_outcome_name(c), "KL_E_UNKNOWN") != 0;
	    c--)
		if (strcmp(n, name) == 0)
			return c;
	return KL_AUDIT_OUTCOME_UNKNOWN;
}

/* Numbers the chain covers were written by append: a bad one reads 0. */
static uint64_t
field_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && end != s ? (uint64_t)v : 0;
}

static int
entry_pass(char *v[NKEYS], kl_audit_scan_cb cb, void *arg)
{
	struct kl_audit_entry e;

	memset(&e, 0, sizeof(e));
	e.seq = field_u64(v[K_SEQ]);
	e.time = v[2];
	e.time_s = time_parse(v[2]);
	e.role = v[4];
	e.client = v[7];
	e.op = v[10];
	e.type = v[11];
	e.name = v[12];
	e.size = field_u64(v[13]);
	e.gets = field_u64(v[14]);
	e.outcome = outcome_code(v[15]);
	return cb(arg, &e);
}

/*
 * Reads the chain record by record; cb (may be NULL) hears of each intact
 * one.  The one parser of the log: audit verify and status both use it.
 */
static int
scan_stream(FILE *f, kl_audit_scan_cb cb, void *arg,
    struct kl_audit_report *rep)
{
	char buf[KL_AUDIT_LINE_MAX + 1], tok[KL_AUDIT_LINE_MAX + 1], why[160];
	char *v[NKEYS];
	const char *e;
	struct chain c;
	size_t len;
	int r;

	memset(&c, 0, sizeof(c));
	c.seq = 1;
	kl_id_hex(&c.prev, rep->last_hash);
	while ((r = read_line(f, buf, sizeof(buf), &len)) == 1) {
		if ((e = record_check(buf, len, &c, why, sizeof(why), tok,
		    v)) != NULL) {
			rep->bad_line = rep->records + 1;
			snprintf(rep->what, sizeof(rep->what), "%s", e);
			return KL_E_CORRUPT;
		}
		rep->records++;
		kl_id_hex(&c.prev, rep->last_hash);
		if (cb != NULL && (r = entry_pass(v, cb, arg)) != 0)
			return r;
	}
	if (r == 0 || r == KL_E_IO)
		return r == 0 ? KL_OK : KL_E_IO;
	rep->bad_line = rep->records + 1;
	snprintf(rep->what, sizeof(rep->what), "%s", r == KL_E_LIMIT ?
	    "record longer than the limit" : "record is incomplete (no "
	    "newline) or holds a NUL byte");
	return KL_E_CORRUPT;
}

int
kl_audit_scan(const char *repo, kl_audit_scan_cb cb, void *arg,
    struct kl_audit_report *rep)
{
	char path[PATH_MAX];
	FILE *f;
	int fd, r;

	memset(rep, 0, sizeof(*rep));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", repo,
	    KL_AUDIT_FILE) >= sizeof(path))
		return KL_E_LIMIT;
	if ((r = kl_open_regular(path, &fd)) != KL_OK)
		return r;	/* a FIFO or device there: KL_E_CORRUPT */
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return KL_E_NOMEM;
	}
	/* A shared lock: a record being appended is not yet half there. */
	while (flock(fd, LOCK_SH) != 0 && errno == EINTR)
		;
	r = scan_stream(f, cb, arg, rep);
	fclose(f);
	return r;
}

int
kl_audit_verify(const char *repo, struct kl_audit_report *rep)
{
	return kl_audit_scan(repo, NULL, NULL, rep);
}
