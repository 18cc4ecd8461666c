/*
 * Tests of `kluis-server serve` and `kluis-server audit verify`
 * (repo-server/serve.c, audit.c; docs/PROTOCOL.md): each test runs the
 * built server binary (KLUIS_SERVER_BIN) as a child on pipes, against a
 * fresh repository, and speaks the protocol with the codec of proto.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"
#include "kluis/proto.h"
#include "kluis/store.h"

#ifndef KLUIS_SERVER_BIN
#error "KLUIS_SERVER_BIN must name the kluis-server binary"
#endif

#define V KL_PROTO_VERSION

#define PATHF(out, ...) \
	assert_true(snprintf((out), PATH_MAX, __VA_ARGS__) < PATH_MAX)

struct fx {
	char dir[PATH_MAX];
	char repo[PATH_MAX];
};

/* A running server: we write to `to`, read from `from`. */
struct conn {
	pid_t pid;
	int to, from;
	uint32_t next_id;
	struct buf *body;
};

struct reply {
	uint8_t type;
	uint32_t id;
	int code;		/* ERR code, 0 otherwise */
	char msg[1024];
};

/* --- fixture --- */

static int
setup(void **state)
{
	static const uint8_t cfg[] = "KLUISCFG serve test";
	struct kl_store *s;
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kluis-test-serve.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	PATHF(f->repo, "%s/repo", f->dir);
	assert_int_equal(kl_store_create(f->repo, cfg, sizeof(cfg), &s),
	    KL_OK);
	kl_store_close(s);
	*state = f;
	return 0;
}

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* --- the server child --- */

static int
fd_write(void *ctx, const void *p, size_t n)
{
	struct conn *c = ctx;
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(c->to, b, n)) <= 0)
			return KL_E_CONN;
		b += w;
		n -= (size_t)w;
	}
	return KL_OK;
}

static int
fd_read(void *ctx, void *p, size_t n)
{
	struct conn *c = ctx;
	uint8_t *b = p;
	ssize_t r;

	while (n > 0) {
		if ((r = read(c->from, b, n)) <= 0)
			return KL_E_CONN;
		b += r;
		n -= (size_t)r;
	}
	return KL_OK;
}

/* Runs kluis-server with argv (NULL-terminated); env "K=V" or NULL. */
static void
spawn(struct conn *c, char *const argv[], const char *env)
{
	int in[2], out[2];

	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		if (env != NULL)
			putenv((char *)env);
		execv(KLUIS_SERVER_BIN, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->to = in[1];
	c->from = out[0];
	c->next_id = 1;
	c->body = buf_new(KL_FRAME_BODY_MAX);
	assert_non_null(c->body);
}

static void
serve_role(struct conn *c, struct fx *f, const char *role, const char *env)
{
	char *argv[] = { "kluis-server", "serve", "--repo", f->repo,
	    (char *)role, NULL };

	spawn(c, argv, env);
}

/* Closes our ends and returns the server's exit status. */
static int
finish(struct conn *c)
{
	int st;

	if (c->to >= 0)
		close(c->to);
	close(c->from);
	buf_free(c->body);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static uint32_t
send_msg(struct conn *c, uint8_t type, const struct buf *body)
{
	uint32_t id = c->next_id++;

	assert_int_equal(kl_frame_write(fd_write, c, type, id,
	    body != NULL ? buf_data(body) : NULL,
	    body != NULL ? buf_size(body) : 0), KL_OK);
	return id;
}

static uint32_t
send_file(struct conn *c, uint8_t type, enum kl_ftype t, const char *name,
    uint64_t a, uint64_t b, uint64_t cc)
{
	struct kl_msg_file m = { (uint8_t)t, "", a, b, cc };
	struct buf *enc = buf_new(256);
	uint32_t id;

	snprintf(m.name, sizeof(m.name), "%s", name);
	assert_int_equal(kl_msg_file_encode(type, &m, enc), KL_OK);
	id = send_msg(c, type, enc);
	buf_free(enc);
	return id;
}

/* Reads one reply; KL_E_CONN in r->code when the server closed. */
static void
recv_reply(struct conn *c, struct reply *r)
{
	struct kl_msg_err e;

	memset(r, 0, sizeof(*r));
	if (kl_frame_read(fd_read, c, &r->type, &r->id, c->body) != KL_OK) {
		r->code = KL_E_CONN;
		return;
	}
	if (r->type != KL_MSG_ERR)
		return;
	assert_int_equal(kl_msg_err_decode(buf_data(c->body),
	    buf_size(c->body), &e), KL_OK);
	r->code = e.code;
	snprintf(r->msg, sizeof(r->msg), "%s", e.message);
}

static void
expect_err(struct conn *c, uint32_t id, int code)
{
	struct reply r;

	recv_reply(c, &r);
	assert_int_equal(r.type, KL_MSG_ERR);
	assert_int_equal(r.code, code);
	if (id != 0)
		assert_int_equal(r.id, id);
}

static void
expect_ok(struct conn *c, uint32_t id)
{
	struct reply r;

	recv_reply(c, &r);
	if (r.type == KL_MSG_ERR)
		fail_msg("ERR %d: %s", r.code, r.msg);
	assert_int_equal(r.type, KL_MSG_OK);
	assert_int_equal(r.id, id);
}

static void
expect_closed(struct conn *c)
{
	struct reply r;

	recv_reply(c, &r);
	assert_int_equal(r.code, KL_E_CONN);
}

static uint32_t
send_hello(struct conn *c, const char *repo, uint16_t lo, uint16_t hi)
{
	struct kl_msg_hello h;
	struct buf *enc = buf_new(8192);
	uint32_t id;

	memset(&h, 0, sizeof(h));
	h.min_version = lo;
	h.max_version = hi;
	snprintf(h.repo, sizeof(h.repo), "%s", repo);
	strcpy(h.client, "test_serve");
	assert_int_equal(kl_msg_hello_encode(&h, enc), KL_OK);
	id = send_msg(c, KL_MSG_HELLO, enc);
	buf_free(enc);
	return id;
}

static void
greet(struct conn *c, struct fx *f, int want_role)
{
	struct kl_msg_hello_ok ok;
	struct reply r;

	send_hello(c, f->repo, V, V);
	recv_reply(c, &r);
	assert_int_equal(r.type, KL_MSG_HELLO_OK);
	assert_int_equal(kl_msg_hello_ok_decode(buf_data(c->body),
	    buf_size(c->body), &ok), KL_OK);
	assert_int_equal(ok.version, V);
	assert_int_equal(ok.role, want_role);
}

/* --- uploads and downloads --- */

static void
name_of(const uint8_t *p, size_t len, char hex[KL_ID_HEX_LEN + 1])
{
	struct kl_id id;

	kl_hash(p, len, &id);
	kl_id_hex(&id, hex);
}

/* PUT, then the data in frames of at most 1 MiB, then PUT_END. */
static uint32_t
send_put(struct conn *c, enum kl_ftype t, const char *name,
    const uint8_t *p, size_t len, uint64_t declared)
{
	uint32_t id = send_file(c, KL_MSG_PUT, t, name, declared, 0, 0);
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < KL_PROTO_DATA_MAX ? len - off :
		    KL_PROTO_DATA_MAX;
		assert_int_equal(kl_frame_write(fd_write, c, KL_MSG_PUT_DATA,
		    id, p + off, n), KL_OK);
	}
	assert_int_equal(kl_frame_write(fd_write, c, KL_MSG_PUT_END, id, NULL,
	    0), KL_OK);
	return id;
}

static uint32_t
put_str(struct conn *c, enum kl_ftype t, const char *s, char *name)
{
	name_of((const uint8_t *)s, strlen(s), name);
	return send_put(c, t, name, (const uint8_t *)s, strlen(s), strlen(s));
}

/*
 * A lock file as the server sees it (FORMAT.md §12): header, then len - 16
 * bytes standing for the AEAD only key holders could check; name gets its
 * file name.
 */
static size_t
lock_file(uint8_t *out, size_t len, uint32_t version, uint32_t flags,
    const char *tag, char *name)
{
	memcpy(out, KL_MAGIC_LOCK, 8);
	kl_le32enc(out + 8, version);
	kl_le32enc(out + 12, flags);
	memset(out + 16, 0, len - 16);
	memcpy(out + 16, tag, strlen(tag) < len - 16 ? strlen(tag) : len - 16);
	name_of(out, len, name);
	return len;
}

/* PUT of a lock file of that version and flags (100 bytes). */
static uint32_t
put_lock(struct conn *c, uint32_t version, uint32_t flags, const char *tag,
    char *name)
{
	uint8_t lock[100];
	size_t len = lock_file(lock, sizeof(lock), version, flags, tag, name);

	return send_put(c, KL_FT_LOCK, name, lock, len, len);
}

/* GET into out (malloc'd); returns the ERR code or KL_OK. */
static int
get_file(struct conn *c, enum kl_ftype t, const char *name, uint64_t off,
    uint64_t len, uint8_t **out, size_t *out_len)
{
	uint32_t id = send_file(c, KL_MSG_GET, t, name, off, len, 0);
	struct reply r;
	uint64_t total;

	*out = NULL;
	*out_len = 0;
	for (;;) {
		recv_reply(c, &r);
		assert_int_equal(r.id, id);
		if (r.type == KL_MSG_ERR)
			return r.code;
		if (r.type == KL_MSG_END)
			break;
		assert_int_equal(r.type, KL_MSG_DATA);
		assert_true(buf_size(c->body) <= KL_PROTO_DATA_MAX);
		*out = realloc(*out, *out_len + buf_size(c->body));
		memcpy(*out + *out_len, buf_data(c->body), buf_size(c->body));
		*out_len += buf_size(c->body);
	}
	assert_int_equal(kl_msg_u64_decode(buf_data(c->body),
	    buf_size(c->body), &total), KL_OK);
	assert_int_equal(total, *out_len);
	return KL_OK;
}

static int
stat_file(struct conn *c, enum kl_ftype t, const char *name, uint64_t *size)
{
	uint32_t id = send_file(c, KL_MSG_STAT, t, name, 0, 0, 0);
	struct reply r;

	recv_reply(c, &r);
	assert_int_equal(r.id, id);
	if (r.type == KL_MSG_ERR)
		return r.code;
	assert_int_equal(r.type, KL_MSG_OK);
	return kl_msg_u64_decode(buf_data(c->body), buf_size(c->body), size);
}

static void
bye(struct conn *c)
{
	send_msg(c, KL_MSG_BYE, NULL);
	expect_closed(c);
	assert_int_equal(finish(c), 0);
}

/* --- repository inspection --- */

static int
exists_in_repo(struct fx *f, const char *sub, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	PATHF(p, "%s/%s/%s", f->repo, sub, name);
	return lstat(p, &st) == 0;
}

static size_t
tmp_files(const char *dir)
{
	char cmd[PATH_MAX + 64], line[64];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find '%s' -name '.tmp-*'", dir);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL)
		n++;
	pclose(p);
	return n;
}

/* Runs `kluis-server audit verify --repo` and captures its stdout. */
static int
audit_verify(struct fx *f, char *out, size_t out_len)
{
	char cmd[PATH_MAX + 128];
	size_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' audit verify --repo '%s' 2>&1",
	    KLUIS_SERVER_BIN, f->repo);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, out_len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Number of audit records whose line contains every one of the words. */
static size_t
audit_count(struct fx *f, const char *w1, const char *w2)
{
	char p[PATH_MAX], line[4200];
	size_t n = 0;
	FILE *fp;

	PATHF(p, "%s/audit.log", f->repo);
	if ((fp = fopen(p, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, w1) != NULL &&
		    (w2 == NULL || strstr(line, w2) != NULL))
			n++;
	fclose(fp);
	return n;
}

/* --- greeting --- */

static void
test_request_before_hello_is_proto_and_closes(void **state)
{
	struct fx *f = *state;
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	send_file(&c, KL_MSG_STAT, KL_FT_DATA, "config", 0, 0, 0);
	expect_err(&c, 1, KL_E_PROTO);
	expect_closed(&c);
	assert_int_not_equal(finish(&c), 0);
}

static void
test_hello_without_common_version_is_unsupported(void **state)
{
	struct fx *f = *state;
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	send_hello(&c, "", V + 1, 9);
	expect_err(&c, 1, KL_E_UNSUPPORTED);
	expect_closed(&c);
	finish(&c);
}

/* Version 1 had LIST entries without receive times (PROTOCOL.md §3). */
static void
test_hello_version_1_is_unsupported_and_says_why(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	send_hello(&c, "", 1, 1);
	recv_reply(&c, &r);
	assert_int_equal(r.type, KL_MSG_ERR);
	assert_int_equal(r.code, KL_E_UNSUPPORTED);
	assert_non_null(strstr(r.msg, "protocol version 3 only"));
	expect_closed(&c);
	finish(&c);
	assert_int_equal(audit_count(f, "op=hello", "KL_E_UNSUPPORTED"), 1);
}

static void
test_hello_other_repo_is_perm_and_audited(void **state)
{
	struct fx *f = *state;
	struct reply r;
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	send_hello(&c, f->dir, V, V);
	recv_reply(&c, &r);
	assert_int_equal(r.code, KL_E_PERM);
	assert_non_null(strstr(r.msg, "this key may only use"));
	assert_non_null(strstr(r.msg, f->repo));
	expect_closed(&c);
	finish(&c);
	assert_int_equal(audit_count(f, "op=hello", "outcome=KL_E_PERM"), 1);
}

static void
test_hello_same_repo_other_spelling_is_accepted(void **state)
{
	struct fx *f = *state;
	char alias[PATH_MAX];
	struct reply r;
	struct conn c;

	PATHF(alias, "%s/./repo/", f->dir);
	serve_role(&c, f, NULL, NULL);
	send_hello(&c, alias, 1, V);
	recv_reply(&c, &r);
	assert_int_equal(r.type, KL_MSG_HELLO_OK);
	bye(&c);
}

static void
test_second_hello_is_proto(void **state)
{
	struct fx *f = *state;
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	send_hello(&c, "", V, V);
	expect_err(&c, 2, KL_E_PROTO);
	expect_closed(&c);
	finish(&c);
}

/* --- files --- */

static void
test_put_get_round_trip_multi_frame(void **state)
{
	struct fx *f = *state;
	size_t len = (5u << 19) + 123, got_len;	/* 2.5 MiB + 123 */
	uint8_t *data = malloc(len), *got;
	char name[KL_ID_HEX_LEN + 1];
	uint64_t size;
	struct conn c;

	assert_non_null(data);
	randombytes_buf(data, len);
	name_of(data, len, name);
	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_ok(&c, send_put(&c, KL_FT_DATA, name, data, len, len));
	assert_int_equal(stat_file(&c, KL_FT_DATA, name, &size), KL_OK);
	assert_int_equal(size, len);
	assert_int_equal(get_file(&c, KL_FT_DATA, name, 0, 0, &got, &got_len),
	    KL_OK);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	assert_int_equal(get_file(&c, KL_FT_DATA, name, 1000, 5000, &got,
	    &got_len), KL_OK);
	assert_int_equal(got_len, 5000);
	assert_memory_equal(got, data + 1000, 5000);
	free(got);
	bye(&c);
	free(data);
}

static void
test_get_errors_keep_the_session(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	uint8_t *got;
	size_t n;
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_ok(&c, put_str(&c, KL_FT_INDEX, "an index", name));
	assert_int_equal(get_file(&c, KL_FT_INDEX, name, 4, 100, &got, &n),
	    KL_E_CORRUPT);
	assert_int_equal(get_file(&c, KL_FT_INDEX, "00", 0, 0, &got, &n),
	    KL_E_INVAL);
	name[0] = name[0] == 'a' ? 'b' : 'a';
	assert_int_equal(get_file(&c, KL_FT_INDEX, name, 0, 0, &got, &n),
	    KL_E_NOTFOUND);
	assert_int_equal(get_file(&c, KL_FT_CONFIG, "config", 0, 0, &got, &n),
	    KL_OK);
	assert_memory_equal(got, "KLUISCFG", 8);
	free(got);
	bye(&c);
}

static void
test_put_hash_mismatch_is_corrupt_and_leaves_nothing(void **state)
{
	struct fx *f = *state;
	const char *s = "not what the name says";
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;
	uint64_t size;

	name_of((const uint8_t *)"something else", 14, name);
	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_err(&c, send_put(&c, KL_FT_SNAPSHOT, name,
	    (const uint8_t *)s, strlen(s), strlen(s)), KL_E_CORRUPT);
	assert_int_equal(stat_file(&c, KL_FT_SNAPSHOT, name, &size),
	    KL_E_NOTFOUND);
	bye(&c);
	assert_int_equal(tmp_files(f->repo), 0);
}

static void
test_put_short_upload_is_corrupt(void **state)
{
	struct fx *f = *state;
	const char *s = "short upload";
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;

	name_of((const uint8_t *)s, strlen(s), name);
	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_err(&c, send_put(&c, KL_FT_KEY, name, (const uint8_t *)s, 5,
	    strlen(s)), KL_E_CORRUPT);
	bye(&c);
	assert_false(exists_in_repo(f, "keys", name));
}

static void
test_put_existing_is_exists(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_ok(&c, put_str(&c, KL_FT_SNAPSHOT, "snap", name));
	expect_err(&c, put_str(&c, KL_FT_SNAPSHOT, "snap", name),
	    KL_E_EXISTS);
	bye(&c);
	assert_int_equal(audit_count(f, "op=put", "outcome=KL_E_EXISTS"), 1);
}

static void
test_put_config_is_perm(void **state)
{
	struct fx *f = *state;
	const char *s = "KLUISCFG replaced";
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_err(&c, send_put(&c, KL_FT_CONFIG, "config",
	    (const uint8_t *)s, strlen(s), strlen(s)), KL_E_PERM);
	bye(&c);
}

static void
test_append_remove_data_is_perm_and_file_stays(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], sub[8];
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_ok(&c, put_str(&c, KL_FT_DATA, "precious pack", name));
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_DATA, name, 0, 0,
	    0), KL_E_PERM);
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_CONFIG, "config",
	    0, 0, 0), KL_E_PERM);
	bye(&c);
	snprintf(sub, sizeof(sub), "data/%.2s", name);
	assert_true(exists_in_repo(f, sub, name));
	assert_int_equal(audit_count(f, "op=remove", "outcome=KL_E_PERM"), 2);
}

static void
test_append_remove_lock_is_allowed(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_ok(&c, put_lock(&c, 2, 0, "my lock", name));
	assert_true(exists_in_repo(f, "locks", name));
	expect_ok(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_LOCK, name, 0, 0, 0));
	bye(&c);
	assert_false(exists_in_repo(f, "locks", name));
	assert_int_equal(audit_count(f, "op=remove", "outcome=ok"), 1);
}

/* "its own locks": another session's lock stays, also after re-uploading
 * a copy of it; the full role may remove it. */
static void
test_append_remove_other_sessions_lock_is_perm(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct reply r;
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_ok(&c, put_lock(&c, 2, 0, "web01's lock", name));
	bye(&c);

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	send_file(&c, KL_MSG_REMOVE, KL_FT_LOCK, name, 0, 0, 0);
	recv_reply(&c, &r);
	assert_int_equal(r.type, KL_MSG_ERR);
	assert_int_equal(r.code, KL_E_PERM);
	assert_non_null(strstr(r.msg, "only the locks it created"));
	/* a copy uploaded now does not make the existing file this session's */
	expect_err(&c, put_lock(&c, 2, 0, "web01's lock", name),
	    KL_E_EXISTS);
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_LOCK, name, 0, 0, 0),
	    KL_E_PERM);
	bye(&c);
	assert_true(exists_in_repo(f, "locks", name));
	assert_int_equal(audit_count(f, "op=remove", "outcome=KL_E_PERM"), 2);

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_ok(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_LOCK, name, 0, 0, 0));
	bye(&c);
	assert_false(exists_in_repo(f, "locks", name));
}

/* Expects ERR KL_E_PERM for id whose message holds what. */
static void
expect_perm_saying(struct conn *c, uint32_t id, const char *what)
{
	struct reply r;

	recv_reply(c, &r);
	assert_int_equal(r.type, KL_MSG_ERR);
	assert_int_equal(r.code, KL_E_PERM);
	assert_int_equal(r.id, id);
	if (strstr(r.msg, what) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", r.msg, what);
}

/*
 * Issue #10 finding 2: an append-only key may create shared locks of
 * version 2 only.  An exclusive lock (which would stop every host's
 * backups), a version-1 lock (whose kind the server cannot see) and a
 * file that is no lock are refused with a reason and an audit record;
 * nothing is stored and the session goes on.
 */
static void
test_append_put_lock_rule_refuses_and_audits(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_perm_saying(&c, put_lock(&c, 2, KL_LOCK_F_EXCLUSIVE, "x",
	    name), "exclusive lock, which only the full role may take");
	expect_perm_saying(&c, put_lock(&c, 1, 0, "v1", name), "version-1");
	expect_perm_saying(&c, put_str(&c, KL_FT_LOCK, "no lock at all",
	    name), "size is not that of a lock file");
	expect_perm_saying(&c, put_lock(&c, 2, 4, "reserved", name),
	    "header is not that of a lock file");
	assert_int_equal(tmp_files(f->repo), 0);
	PATHF(p, "%s/locks", f->repo);
	assert_int_equal(tmp_files(p), 0);
	expect_ok(&c, put_lock(&c, 2, 0, "shared", name));
	bye(&c);
	assert_true(exists_in_repo(f, "locks", name));
	assert_int_equal(audit_count(f, "op=put type=lock",
	    "outcome=KL_E_PERM"), 4);
	assert_int_equal(audit_count(f, "op=put type=lock", "outcome=ok"), 1);
}

/* The header is judged however the upload is cut into frames: here one
 * byte a frame; the ERR comes at once and the rest is dropped. */
static void
test_append_put_exclusive_lock_in_one_byte_frames_is_perm(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	uint8_t lock[100];
	size_t len = lock_file(lock, sizeof(lock), 2, 1, "x", name), i;
	uint32_t id;
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	id = send_file(&c, KL_MSG_PUT, KL_FT_LOCK, name, len, 0, 0);
	for (i = 0; i < len; i++)
		assert_int_equal(kl_frame_write(fd_write, &c, KL_MSG_PUT_DATA,
		    id, lock + i, 1), KL_OK);
	assert_int_equal(kl_frame_write(fd_write, &c, KL_MSG_PUT_END, id,
	    NULL, 0), KL_OK);
	expect_perm_saying(&c, id, "exclusive");
	bye(&c);
	assert_false(exists_in_repo(f, "locks", name));
}

/* The full role may create any lock: an operator's exclusive one, an
 * older client's version 1. */
static void
test_full_put_exclusive_and_v1_locks_allowed(void **state)
{
	struct fx *f = *state;
	char name[2][KL_ID_HEX_LEN + 1];
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_ok(&c, put_lock(&c, 2, KL_LOCK_F_EXCLUSIVE, "x", name[0]));
	expect_ok(&c, put_lock(&c, 1, 0, "v1", name[1]));
	bye(&c);
	assert_true(exists_in_repo(f, "locks", name[0]));
	assert_true(exists_in_repo(f, "locks", name[1]));
}

/* A temporary file a killed server left a day ago goes at the next
 * session that may upload, with an audit record; read-only leaves it. */
static void
test_session_start_sweeps_stale_temporary_files(void **state)
{
	struct fx *f = *state;
	struct timespec t[2];
	char p[PATH_MAX], fresh[PATH_MAX];
	struct conn c;
	FILE *fp;

	PATHF(p, "%s/data/5e/.tmp-0123456789abcdef", f->repo);
	PATHF(fresh, "%s/data/5e/.tmp-fedcba9876543210", f->repo);
	assert_non_null(fp = fopen(p, "w"));
	fputs("half a pack", fp);
	fclose(fp);
	assert_non_null(fp = fopen(fresh, "w"));
	fclose(fp);
	t[0].tv_sec = t[1].tv_sec = time(NULL) - 25 * 3600;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);

	serve_role(&c, f, "--read-only", NULL);
	greet(&c, f, KL_ROLE_READ);
	bye(&c);
	assert_int_equal(access(p, F_OK), 0);

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	bye(&c);
	assert_int_not_equal(access(p, F_OK), 0);
	assert_int_equal(access(fresh, F_OK), 0);	/* an upload's, maybe */
	assert_int_equal(audit_count(f, "op=sweep-tmp",
	    "data/5e/.tmp-0123456789abcdef"), 1);
}

static void
test_full_remove_data_is_allowed(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], sub[8];
	struct conn c;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	expect_ok(&c, put_str(&c, KL_FT_DATA, "old pack", name));
	expect_ok(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_DATA, name, 0, 0, 0));
	bye(&c);
	snprintf(sub, sizeof(sub), "data/%.2s", name);
	assert_false(exists_in_repo(f, sub, name));
}

static void
test_read_only_put_is_perm_and_upload_is_skipped(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;
	uint64_t size;

	serve_role(&c, f, "--read-only", NULL);
	greet(&c, f, KL_ROLE_READ);
	expect_err(&c, put_str(&c, KL_FT_DATA, "forbidden", name), KL_E_PERM);
	/* The refused upload's PUT_DATA and PUT_END were read and dropped. */
	assert_int_equal(stat_file(&c, KL_FT_CONFIG, "config", &size), KL_OK);
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_LOCK, name, 0, 0, 0),
	    KL_E_PERM);
	bye(&c);
	assert_int_equal(audit_count(f, "role=read-only", "KL_E_PERM"), 2);
}

static void
test_list_streams_every_entry(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], s[32];
	struct reply r;
	struct conn c;
	uint64_t total;
	int i;

	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	for (i = 0; i < 20; i++) {
		snprintf(s, sizeof(s), "index %d", i);
		expect_ok(&c, put_str(&c, KL_FT_INDEX, s, name));
	}
	send_file(&c, KL_MSG_LIST, KL_FT_INDEX, "", 0, 0, 0);
	recv_reply(&c, &r);
	assert_int_equal(r.type, KL_MSG_DATA);
	assert_int_equal(buf_size(c.body), 20 * KL_PROTO_LIST_ENTRY_LEN(64));
	recv_reply(&c, &r);
	assert_int_equal(r.type, KL_MSG_END);
	assert_int_equal(kl_msg_u64_decode(buf_data(c.body), buf_size(c.body),
	    &total), KL_OK);
	assert_int_equal(total, 20);
	bye(&c);
}

#define TIMED_MAX 8

struct timed {
	size_t n;
	char names[TIMED_MAX][KL_ID_HEX_LEN + 1];
	int64_t mtimes[TIMED_MAX];
};

static int
timed_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct timed *t = arg;

	assert_true(t->n < TIMED_MAX);
	assert_int_equal(strlen(name), KL_ID_HEX_LEN);
	memcpy(t->names[t->n], name, KL_ID_HEX_LEN + 1);
	t->mtimes[t->n++] = mtime_s;
	return KL_OK;
}

/* LIST of a type into t; every DATA frame must decode. */
static void
list_timed(struct conn *c, enum kl_ftype type, struct timed *t)
{
	uint32_t id = send_file(c, KL_MSG_LIST, type, "", 0, 0, 0);
	struct reply r;
	uint64_t total;

	memset(t, 0, sizeof(*t));
	for (;;) {
		recv_reply(c, &r);
		assert_int_equal(r.id, id);
		if (r.type != KL_MSG_DATA)
			break;
		assert_int_equal(kl_msg_list_decode(buf_data(c->body),
		    buf_size(c->body), timed_cb, t), KL_OK);
	}
	assert_int_equal(r.type, KL_MSG_END);
	assert_int_equal(kl_msg_u64_decode(buf_data(c->body),
	    buf_size(c->body), &total), KL_OK);
	assert_int_equal(total, t->n);
}

/*
 * LIST reports each file's modification time on the server's disk, its
 * receive time: a fresh upload's is now, and one set on disk is reported
 * as set (PROTOCOL.md §3).
 */
static void
test_list_reports_receive_times(void **state)
{
	static const char *bodies[] = { "snap a", "snap b", "snap c" };
	struct fx *f = *state;
	char name[3][KL_ID_HEX_LEN + 1], p[PATH_MAX];
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct timed t;
	struct stat st;
	struct conn c;
	time_t before = time(NULL), after;
	size_t i;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	for (i = 0; i < 3; i++)
		expect_ok(&c, put_str(&c, KL_FT_SNAPSHOT, bodies[i], name[i]));
	after = time(NULL);
	PATHF(p, "%s/snapshots/%s", f->repo, name[1]);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	list_timed(&c, KL_FT_SNAPSHOT, &t);
	assert_int_equal(t.n, 3);
	for (i = 0; i < t.n; i++) {
		PATHF(p, "%s/snapshots/%s", f->repo, t.names[i]);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(t.mtimes[i] == (int64_t)st.st_mtime);
		if (strcmp(t.names[i], name[1]) == 0)
			assert_true(t.mtimes[i] == 1000000000);
		else
			assert_true(t.mtimes[i] >= before - 1 &&
			    t.mtimes[i] <= after + 1);
	}
	bye(&c);
}

/* Waits until dir holds a temporary file of size bytes; its path. */
static void
wait_tmp_of_size(const char *dir, off_t size, char out[PATH_MAX])
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int i;

	for (i = 0; i < 500; i++) {
		assert_non_null(d = opendir(dir));
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, ".tmp-", 5) != 0)
				continue;
			PATHF(out, "%s/%s", dir, de->d_name);
			if (stat(out, &st) == 0 && st.st_size == size) {
				closedir(d);
				return;
			}
		}
		closedir(d);
		usleep(10000);
	}
	fail_msg("no temporary file of %lld bytes in %s", (long long)size,
	    dir);
}

/*
 * Issue #10 finding 6: holding back PUT_END does not backdate an upload.
 * The data arrives, its temporary file is aged by a day (as if the client
 * had waited that long), and the upload ends now: LIST reports now.
 */
static void
test_receive_time_is_the_end_of_the_upload(void **state)
{
	static const char body[] = "a snapshot whose end was held back";
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], dir[PATH_MAX], tmp[PATH_MAX];
	struct timespec ts[2];
	struct timed t;
	struct conn c;
	time_t before;
	uint32_t id;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	name_of((const uint8_t *)body, strlen(body), name);
	id = send_file(&c, KL_MSG_PUT, KL_FT_SNAPSHOT, name, strlen(body), 0,
	    0);
	assert_int_equal(kl_frame_write(fd_write, &c, KL_MSG_PUT_DATA, id,
	    (const uint8_t *)body, strlen(body)), KL_OK);
	PATHF(dir, "%s/snapshots", f->repo);
	wait_tmp_of_size(dir, (off_t)strlen(body), tmp);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 24 * 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, tmp, ts, 0), 0);
	before = time(NULL);
	assert_int_equal(kl_frame_write(fd_write, &c, KL_MSG_PUT_END, id, NULL,
	    0), KL_OK);
	expect_ok(&c, id);
	list_timed(&c, KL_FT_SNAPSHOT, &t);
	assert_int_equal(t.n, 1);
	assert_true(t.mtimes[0] >= (int64_t)before);
	assert_true(t.mtimes[0] <= (int64_t)time(NULL));
	bye(&c);
}

static void
test_pipelined_requests_are_answered_in_order(void **state)
{
	struct fx *f = *state;
	char n1[KL_ID_HEX_LEN + 1], n2[KL_ID_HEX_LEN + 1];
	uint32_t a, b, d;
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	a = put_str(&c, KL_FT_DATA, "first", n1);
	b = put_str(&c, KL_FT_DATA, "second", n2);
	d = send_file(&c, KL_MSG_REMOVE, KL_FT_DATA, n1, 0, 0, 0);
	expect_ok(&c, a);
	expect_ok(&c, b);
	expect_err(&c, d, KL_E_PERM);
	bye(&c);
}

/* --- malformed input --- */

/* Sends raw bytes after a good greeting; expects ERR code then close. */
static void
malformed(struct fx *f, const uint8_t *p, size_t len, int code)
{
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	assert_int_equal(fd_write(&c, p, len), KL_OK);
	expect_err(&c, 0, code);
	expect_closed(&c);
	assert_int_equal(finish(&c), 1);
}

static void
test_malformed_frames_get_err_then_close(void **state)
{
	struct fx *f = *state;
	const uint8_t short_len[] = { 4, 0, 0, 0, 0x21, 1, 0, 0, 0 };
	const uint8_t huge[] = { 0, 0, 0, 0x40, 0x11, 1, 0, 0, 0 };
	const uint8_t bad_type[] = { 5, 0, 0, 0, 0x55, 1, 0, 0, 0 };
	const uint8_t stat_trailing[] = { 9, 0, 0, 0, 0x21, 1, 0, 0, 0,
	    6, 0, 0, 'x' };
	const uint8_t stat_short[] = { 8, 0, 0, 0, 0x21, 1, 0, 0, 0,
	    6, 64, 0 };
	const uint8_t bad_ftype[] = { 8, 0, 0, 0, 0x21, 1, 0, 0, 0,
	    99, 0, 0 };
	const uint8_t data_alone[] = { 6, 0, 0, 0, 0x11, 1, 0, 0, 0, 'x' };
	const uint8_t end_alone[] = { 5, 0, 0, 0, 0x12, 1, 0, 0, 0 };
	const uint8_t bye_body[] = { 6, 0, 0, 0, 0x3f, 1, 0, 0, 0, 0 };
	const uint8_t ok_from_client[] = { 5, 0, 0, 0, 0x80, 1, 0, 0, 0 };

	malformed(f, short_len, sizeof(short_len), KL_E_PROTO);
	malformed(f, huge, sizeof(huge), KL_E_PROTO);
	malformed(f, bad_type, sizeof(bad_type), KL_E_PROTO);
	malformed(f, stat_trailing, sizeof(stat_trailing), KL_E_PROTO);
	malformed(f, stat_short, sizeof(stat_short), KL_E_PROTO);
	malformed(f, bad_ftype, sizeof(bad_ftype), KL_E_PROTO);
	malformed(f, data_alone, sizeof(data_alone), KL_E_PROTO);
	malformed(f, end_alone, sizeof(end_alone), KL_E_PROTO);
	malformed(f, bye_body, sizeof(bye_body), KL_E_PROTO);
	malformed(f, ok_from_client, sizeof(ok_from_client), KL_E_PROTO);
	assert_true(audit_count(f, "KL_E_PROTO", NULL) >= 10);
}

static void
test_frame_inside_upload_is_proto(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;

	name_of((const uint8_t *)"0123456789", 10, name);
	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	send_file(&c, KL_MSG_PUT, KL_FT_DATA, name, 10, 0, 0);
	send_file(&c, KL_MSG_STAT, KL_FT_DATA, name, 0, 0, 0);
	expect_err(&c, 0, KL_E_PROTO);
	expect_closed(&c);
	finish(&c);
	assert_int_equal(tmp_files(f->repo), 0);
}

static void
test_put_overrun_is_proto(void **state)
{
	struct fx *f = *state;
	const char *s = "0123456789";
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;

	name_of((const uint8_t *)s, 9, name);
	serve_role(&c, f, NULL, NULL);
	greet(&c, f, KL_ROLE_FULL);
	send_put(&c, KL_FT_DATA, name, (const uint8_t *)s, 10, 9);
	expect_err(&c, 0, KL_E_PROTO);
	expect_closed(&c);
	finish(&c);
	assert_int_equal(tmp_files(f->repo), 0);
}

static void
test_truncated_upload_leaves_nothing(void **state)
{
	struct fx *f = *state;
	uint8_t data[4096];
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;
	uint32_t id;

	randombytes_buf(data, sizeof(data));
	name_of(data, sizeof(data), name);
	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	id = send_file(&c, KL_MSG_PUT, KL_FT_INDEX, name, sizeof(data), 0, 0);
	assert_int_equal(kl_frame_write(fd_write, &c, KL_MSG_PUT_DATA, id,
	    data, 1000), KL_OK);
	close(c.to);
	c.to = -1;
	expect_closed(&c);
	finish(&c);
	assert_false(exists_in_repo(f, "index", name));
	assert_int_equal(tmp_files(f->repo), 0);
	assert_int_equal(audit_count(f, "op=put", "outcome=KL_E_CONN"), 1);
	assert_int_equal(audit_count(f, "op=session-end", NULL), 1);
}

static void
test_disk_full_is_nospace_and_leaves_nothing(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], n2[KL_ID_HEX_LEN + 1];
	struct conn c;

	serve_role(&c, f, "--append-only", "KLUIS_FAULT_WRITE=1");
	greet(&c, f, KL_ROLE_APPEND);
	expect_err(&c, put_str(&c, KL_FT_DATA, "no room for this", name),
	    KL_E_NOSPACE);
	expect_ok(&c, put_str(&c, KL_FT_DATA, "room again", n2));
	bye(&c);
	assert_int_equal(tmp_files(f->repo), 0);
	assert_int_equal(audit_count(f, "op=put", "outcome=KL_E_NOSPACE"), 1);
}

static void
test_not_a_repository_is_notfound_after_hello(void **state)
{
	struct fx *f = *state;
	char *argv[] = { "kluis-server", "serve", "--repo", f->dir, NULL };
	struct reply r;
	struct conn c;

	spawn(&c, argv, NULL);
	send_hello(&c, "", V, V);
	recv_reply(&c, &r);
	assert_int_equal(r.code, KL_E_NOTFOUND);
	expect_closed(&c);
	finish(&c);
}

/* --- audit log --- */

static void
session_with_writes(struct fx *f, const char *pack)
{
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;
	uint64_t size;

	serve_role(&c, f, "--append-only", "USER=web01-backup");
	greet(&c, f, KL_ROLE_APPEND);
	expect_ok(&c, put_str(&c, KL_FT_DATA, pack, name));
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_DATA, name, 0, 0,
	    0), KL_E_PERM);
	assert_int_equal(stat_file(&c, KL_FT_DATA, name, &size), KL_OK);
	bye(&c);
}

static void
test_audit_chain_verifies_and_counts_reads(void **state)
{
	struct fx *f = *state;
	char out[4096];

	session_with_writes(f, "first pack");
	session_with_writes(f, "second pack");
	assert_int_equal(audit_verify(f, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "8 records"));
	assert_non_null(strstr(out, "chain intact"));
	assert_int_equal(audit_count(f, "op=session-end", "gets=1"), 2);
	assert_int_equal(audit_count(f, "user=web01-backup", NULL), 8);
}

/* Rewrites audit.log through sed (the log is ours to damage here). */
static void
edit_log(struct fx *f, const char *sed_expr)
{
	char cmd[PATH_MAX + 256];

	snprintf(cmd, sizeof(cmd), "sed -i '%s' '%s/audit.log'", sed_expr,
	    f->repo);
	assert_int_equal(system(cmd), 0);
}

static void
test_audit_verify_detects_edited_record(void **state)
{
	struct fx *f = *state;
	char out[4096];

	session_with_writes(f, "a pack");
	edit_log(f, "3s/outcome=KL_E_PERM/outcome=ok/");
	assert_int_equal(audit_verify(f, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "line 3"));
	assert_non_null(strstr(out, "altered"));
}

static void
test_audit_verify_detects_deleted_record(void **state)
{
	struct fx *f = *state;
	char out[4096];

	session_with_writes(f, "a pack");
	edit_log(f, "2d");
	assert_int_equal(audit_verify(f, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "line 2"));
	assert_non_null(strstr(out, "removed"));
}

static void
test_audit_verify_without_log_is_exit_10(void **state)
{
	struct fx *f = *state;
	char out[4096];

	assert_int_equal(audit_verify(f, out, sizeof(out)), 10);
}

static void
test_concurrent_servers_keep_one_chain(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], s[32], out[4096];
	struct conn a, b;
	int i;

	serve_role(&a, f, "--append-only", NULL);
	serve_role(&b, f, "--append-only", NULL);
	greet(&a, f, KL_ROLE_APPEND);
	greet(&b, f, KL_ROLE_APPEND);
	for (i = 0; i < 20; i++) {
		snprintf(s, sizeof(s), "client a %d", i);
		put_str(&a, KL_FT_DATA, s, name);
		snprintf(s, sizeof(s), "client b %d", i);
		put_str(&b, KL_FT_DATA, s, name);
	}
	for (i = 0; i < 20; i++) {
		expect_ok(&a, (uint32_t)(i + 2));
		expect_ok(&b, (uint32_t)(i + 2));
	}
	bye(&a);
	bye(&b);
	assert_int_equal(audit_verify(f, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "44 records"));
}

/* --- the replica role (issue #15) --- */

/* PUT_DATED (size, receive time), the data, PUT_END. */
static uint32_t
put_dated(struct conn *c, enum kl_ftype t, const char *s, uint64_t when,
    char *name)
{
	uint32_t id;

	name_of((const uint8_t *)s, strlen(s), name);
	id = send_file(c, KL_MSG_PUT_DATED, t, name, strlen(s), when, 0);
	assert_int_equal(kl_frame_write(fd_write, c, KL_MSG_PUT_DATA, id,
	    (const uint8_t *)s, strlen(s)), KL_OK);
	assert_int_equal(kl_frame_write(fd_write, c, KL_MSG_PUT_END, id, NULL,
	    0), KL_OK);
	return id;
}

static int64_t
mtime_in_repo(struct fx *f, const char *sub, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	PATHF(p, "%s/%s/%s", f->repo, sub, name);
	assert_int_equal(lstat(p, &st), 0);
	return (int64_t)st.st_mtime;
}

/* The off-site copy's role: adds every kind of file, key files too, and
 * keeps the primary's receive time; removes nothing, locks nothing. */
static void
test_replica_adds_everything_removes_nothing(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], key[KL_ID_HEX_LEN + 1];
	char late[KL_ID_HEX_LEN + 1];
	struct conn c;

	serve_role(&c, f, "--replica", NULL);
	greet(&c, f, KL_ROLE_REPLICA);
	expect_ok(&c, put_str(&c, KL_FT_DATA, "a pack", name));
	expect_ok(&c, put_str(&c, KL_FT_KEY, "a key file", key));
	expect_ok(&c, put_dated(&c, KL_FT_SNAPSHOT, "a snapshot", 1700000000,
	    late));
	assert_int_equal(mtime_in_repo(f, "snapshots", late), 1700000000);
	/* history already here cannot be rewritten: no snapshot dated
	 * before the newest one */
	expect_err(&c, put_dated(&c, KL_FT_SNAPSHOT, "a backdated snapshot",
	    1600000000, name), KL_E_INVAL);
	assert_false(exists_in_repo(f, "snapshots", name));
	expect_ok(&c, put_dated(&c, KL_FT_INDEX, "an older index", 1600000000,
	    name));
	assert_int_equal(mtime_in_repo(f, "index", name), 1600000000);
	expect_err(&c, put_dated(&c, KL_FT_SNAPSHOT, "time zero", 0, name),
	    KL_E_INVAL);
	/* a receive time from the future is no receive time */
	expect_err(&c, put_dated(&c, KL_FT_INDEX, "an index",
	    (uint64_t)time(NULL) + 3600, late), KL_E_INVAL);
	assert_false(exists_in_repo(f, "index", late));
	/* nothing goes away, nothing is replaced, no lock is taken */
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_DATA, name, 0, 0,
	    0), KL_E_PERM);
	expect_err(&c, send_file(&c, KL_MSG_REMOVE, KL_FT_KEY, key, 0, 0, 0),
	    KL_E_PERM);
	expect_err(&c, put_str(&c, KL_FT_DATA, "a pack", name), KL_E_EXISTS);
	expect_err(&c, put_lock(&c, 2, 0, "a shared lock", late), KL_E_PERM);
	assert_false(exists_in_repo(f, "locks", late));
	bye(&c);
	assert_true(exists_in_repo(f, "keys", key));
	assert_true(mtime_in_repo(f, "keys", key) > 1700000000);
	PATHF(key, "data/%.2s", name);	/* data/<xx>/<name> */
	assert_true(exists_in_repo(f, key, name));
}

/* PUT_DATED belongs to the replica role: a backup key cannot backdate. */
static void
test_put_dated_outside_replica_is_perm(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct conn c;

	serve_role(&c, f, "--append-only", NULL);
	greet(&c, f, KL_ROLE_APPEND);
	expect_err(&c, put_dated(&c, KL_FT_SNAPSHOT, "old news", 1700000000,
	    name), KL_E_PERM);
	/* the session goes on after the refused upload's frames */
	expect_ok(&c, put_str(&c, KL_FT_SNAPSHOT, "new news", name));
	assert_true(mtime_in_repo(f, "snapshots", name) > 1700000000);
	bye(&c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_request_before_hello_is_proto_and_closes),
		T(test_replica_adds_everything_removes_nothing),
		T(test_put_dated_outside_replica_is_perm),
		T(test_hello_without_common_version_is_unsupported),
		T(test_hello_version_1_is_unsupported_and_says_why),
		T(test_hello_other_repo_is_perm_and_audited),
		T(test_hello_same_repo_other_spelling_is_accepted),
		T(test_second_hello_is_proto),
		T(test_put_get_round_trip_multi_frame),
		T(test_get_errors_keep_the_session),
		T(test_put_hash_mismatch_is_corrupt_and_leaves_nothing),
		T(test_put_short_upload_is_corrupt),
		T(test_put_existing_is_exists),
		T(test_put_config_is_perm),
		T(test_append_remove_data_is_perm_and_file_stays),
		T(test_append_remove_lock_is_allowed),
		T(test_append_remove_other_sessions_lock_is_perm),
		T(test_append_put_lock_rule_refuses_and_audits),
		T(test_append_put_exclusive_lock_in_one_byte_frames_is_perm),
		T(test_full_put_exclusive_and_v1_locks_allowed),
		T(test_session_start_sweeps_stale_temporary_files),
		T(test_full_remove_data_is_allowed),
		T(test_read_only_put_is_perm_and_upload_is_skipped),
		T(test_list_streams_every_entry),
		T(test_list_reports_receive_times),
		T(test_receive_time_is_the_end_of_the_upload),
		T(test_pipelined_requests_are_answered_in_order),
		T(test_malformed_frames_get_err_then_close),
		T(test_frame_inside_upload_is_proto),
		T(test_put_overrun_is_proto),
		T(test_truncated_upload_leaves_nothing),
		T(test_disk_full_is_nospace_and_leaves_nothing),
		T(test_not_a_repository_is_notfound_after_hello),
		T(test_audit_chain_verifies_and_counts_reads),
		T(test_audit_verify_detects_edited_record),
		T(test_audit_verify_detects_deleted_record),
		T(test_audit_verify_without_log_is_exit_10),
		T(test_concurrent_servers_keep_one_chain),
	};

	if (sodium_init() < 0)
		return 99;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
