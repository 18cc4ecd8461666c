/*
 * Unit tests of transport/transport*.c: repository URLs, known_hosts, and the
 * protocol backend over the pipe transport against the real kluis-server.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/hash.h"
#include "kluis/store.h"
#include "kluis/transport.h"
#include "transport_internal.h"

#ifndef KL_SERVER_PATH
#define KL_SERVER_PATH "kluis-server"
#endif

#define CONFIG_BYTES "test config bytes"
#define HANG_GUARD_S 60

/* ---- URLs ---- */

static void
test_url_ssh_full(void **state)
{
	struct kl_url u;

	assert_int_equal(kl_url_parse("ssh://backup@store.example:2222/srv/"
	    "kluis/web01", &u), KL_OK);
	assert_int_equal(u.kind, KL_URL_SSH);
	assert_string_equal(u.user, "backup");
	assert_string_equal(u.host, "store.example");
	assert_int_equal(u.port, 2222);
	assert_string_equal(u.path, "/srv/kluis/web01");
}

static void
test_url_ssh_defaults(void **state)
{
	struct kl_url u;

	assert_int_equal(kl_url_parse("ssh://10.0.0.7/r", &u), KL_OK);
	assert_int_equal(u.kind, KL_URL_SSH);
	assert_string_equal(u.user, "");
	assert_string_equal(u.host, "10.0.0.7");
	assert_int_equal(u.port, 22);
	assert_string_equal(u.path, "/r");
}

static void
test_url_ssh_ipv6(void **state)
{
	struct kl_url u;

	assert_int_equal(kl_url_parse("ssh://u@[::1]:2200/x", &u), KL_OK);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 2200);
	assert_int_equal(kl_url_parse("ssh://[fe80::1]/y/z", &u), KL_OK);
	assert_string_equal(u.host, "fe80::1");
	assert_int_equal(u.port, 22);
	assert_string_equal(u.path, "/y/z");
}

static void
test_url_ssh_bad(void **state)
{
	static const char *const bad[] = {
		"ssh://host", "ssh://host:22", "ssh:///path", "ssh://@h/p",
		"ssh://h:0/p", "ssh://h:65536/p", "ssh://h:/p", "ssh://h:2x/p",
		"ssh://[::1/p", "ssh://[]/p", "ssh://[::1]x/p", "ssh://a b/p",
		"ssh://u:pw@h/p", "ssh://h/p\nq", "ssh://h:123456/p",
	};
	struct kl_url u;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kl_url_parse(bad[i], &u), KL_E_INVAL);
		assert_int_equal(u.kind, KL_URL_LOCAL);
	}
}

static void
test_url_pipe(void **state)
{
	char cwd[4096], want[4200];
	struct kl_url u;

	assert_int_equal(kl_url_parse("pipe:/srv/r", &u), KL_OK);
	assert_int_equal(u.kind, KL_URL_PIPE);
	assert_string_equal(u.path, "/srv/r");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/rel/r", cwd);
	assert_int_equal(kl_url_parse("pipe:rel/r", &u), KL_OK);
	assert_string_equal(u.path, want);
	assert_int_equal(kl_url_parse("pipe:", &u), KL_E_INVAL);
}

static void
test_url_local(void **state)
{
	struct kl_url u;

	assert_int_equal(kl_url_parse("/srv/repo", &u), KL_OK);
	assert_int_equal(u.kind, KL_URL_LOCAL);
	assert_int_equal(kl_url_parse("sshfoo/repo", &u), KL_OK);
	assert_int_equal(u.kind, KL_URL_LOCAL);
}

static void
test_open_bad_url_is_inval(void **state)
{
	struct kl_backend be;
	char err[256];

	assert_int_equal(kl_transport_open("/local/path", NULL, 0, err,
	    sizeof(err), &be), KL_E_INVAL);
	assert_int_equal(kl_transport_open("ssh://h", NULL, 0, err,
	    sizeof(err), &be), KL_E_INVAL);
	assert_non_null(strstr(err, "ssh://"));
}

/* ---- known_hosts (transport_kh.c) ---- */

/* A salt of bytes 0..19 and HMAC-SHA1 of the host name (python hmac). */
#define KH_HASHED_22 "|1|AAECAwQFBgcICQoLDA0ODxAREhM=|+oE8OOAIpk16Ha+QTJLdI7ab2QA="
#define KH_HASHED_2222 \
	"|1|AAECAwQFBgcICQoLDA0ODxAREhM=|Or3+u+wAV5Y5nBlNXZaSu6Qa1dI="

struct khkey {
	uint8_t blob[64];	/* SSH wire form: string type, string key */
	size_t len;
	char b64[96];
};

/* An Ed25519 public key blob whose 32 key bytes are all seed. */
static void
khkey_make(struct khkey *k, uint8_t seed)
{
	static const char type[] = "ssh-ed25519";
	size_t n = 0;

	memset(k, 0, sizeof(*k));
	k->blob[n + 3] = (uint8_t)(sizeof(type) - 1);
	n += 4;
	memcpy(k->blob + n, type, sizeof(type) - 1);
	n += sizeof(type) - 1;
	k->blob[n + 3] = 32;
	n += 4;
	memset(k->blob + n, seed, 32);
	k->len = n + 32;
	sodium_bin2base64(k->b64, sizeof(k->b64), k->blob, k->len,
	    sodium_base64_VARIANT_ORIGINAL);
}

/* The verdict for key k (NULL: none) of host:port from the file text. */
static struct tr_kh_verdict
kh_verdict(const char *text, const char *host, uint16_t port,
    const struct khkey *k)
{
	struct tr_kh_verdict v;
	struct tr_kh *kh = NULL;

	assert_int_equal(tr_kh_load(text, strlen(text), &kh), KL_OK);
	assert_int_equal(tr_kh_check(kh, host, port, "ssh-ed25519",
	    k ? k->blob : NULL, k ? k->len : 0, &v), KL_OK);
	tr_kh_free(kh);
	return v;
}

/* fmt with "%K" replaced by a's base64 and "%O" by b's. */
static char *
kh_text(const char *fmt, const struct khkey *a, const struct khkey *b)
{
	char *out = malloc(8192), *o = out;

	assert_non_null(out);
	for (; *fmt != '\0'; fmt++) {
		if (fmt[0] == '%' && (fmt[1] == 'K' || fmt[1] == 'O')) {
			strcpy(o, *++fmt == 'K' ? a->b64 : b->b64);
			o += strlen(o);
		} else
			*o++ = *fmt;
	}
	*o = '\0';
	return out;
}

static enum tr_kh_status
kh_status(const char *fmt, const char *host, uint16_t port)
{
	struct khkey a, b;
	struct tr_kh_verdict v;
	char *t;

	khkey_make(&a, 0xa1);
	khkey_make(&b, 0xb2);
	t = kh_text(fmt, &a, &b);
	v = kh_verdict(t, host, port, &a);
	free(t);
	return v.status;
}

static void
test_kh_plain_port_and_changed_keys(void **state)
{
	(void)state;
	assert_int_equal(kh_status("kh.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_MATCH);
	assert_int_equal(kh_status("a.example,kh.example ssh-ed25519 %K c\n",
	    "kh.example", 22), TR_KH_MATCH);
	assert_int_equal(kh_status("[kh.example]:2222 ssh-ed25519 %K\n",
	    "kh.example", 2222), TR_KH_MATCH);
	assert_int_equal(kh_status("kh.example ssh-ed25519 %O\n",
	    "kh.example", 22), TR_KH_MISMATCH);
	assert_int_equal(kh_status("other.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("", "kh.example", 22), TR_KH_NOTFOUND);
	/* CRLF line ends, comments, blank lines */
	assert_int_equal(kh_status("# c\r\n\r\n  \r\nkh.example ssh-ed25519 "
	    "%K\r\n", "kh.example", 22), TR_KH_MATCH);
}

static void
test_kh_hashed_host_names(void **state)
{
	(void)state;
	assert_int_equal(kh_status(KH_HASHED_22 " ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_MATCH);
	assert_int_equal(kh_status(KH_HASHED_2222 " ssh-ed25519 %K\n",
	    "kh.example", 2222), TR_KH_MATCH);
	assert_int_equal(kh_status(KH_HASHED_22 " ssh-ed25519 %O\n",
	    "kh.example", 22), TR_KH_MISMATCH);
	assert_int_equal(kh_status(KH_HASHED_22 " ssh-ed25519 %K\n",
	    "other.example", 22), TR_KH_NOTFOUND);
}

/* Bad lines are skipped, and the lines after them still count. */
static void
test_kh_bad_lines_do_not_hide_later_ones(void **state)
{
	(void)state;
	assert_int_equal(kh_status("kh.example ssh-foo AAAA\n"
	    "garbage\n\x01\x02\n@frob kh.example ssh-ed25519 %O\n"
	    "kh.example ssh-ed25519 %K\n", "kh.example", 22), TR_KH_MATCH);
	/* an unknown marker's line is no host key line */
	assert_int_equal(kh_status("@frob kh.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
}

static void
test_kh_revoked_wins_over_every_other_line(void **state)
{
	struct khkey a, b;
	struct tr_kh_verdict v;
	char *t;

	(void)state;
	khkey_make(&a, 0xa1);
	khkey_make(&b, 0xb2);
	t = kh_text("kh.example ssh-ed25519 %K\n# x\n@revoked * ssh-ed25519 %K "
	    "lost laptop\n", &a, &b);
	v = kh_verdict(t, "kh.example", 22, &a);
	assert_int_equal(v.status, TR_KH_REVOKED);
	assert_int_equal(v.line, 3);
	free(t);
	/* before the accepting line, hashed, and for another host name:
	 * a revoked key is refused for every host */
	assert_int_equal(kh_status("@revoked " KH_HASHED_22 " ssh-ed25519 %K\n"
	    "[kh.example]:2222 ssh-ed25519 %K\n", "kh.example", 2222),
	    TR_KH_REVOKED);
	assert_int_equal(kh_status("@revoked old.example ssh-ed25519 %K\n"
	    "kh.example ssh-ed25519 %K\n", "kh.example", 22), TR_KH_REVOKED);
	/* another key revoked: this one is still accepted */
	assert_int_equal(kh_status("@revoked * ssh-ed25519 %O\n"
	    "kh.example ssh-ed25519 %K\n", "kh.example", 22), TR_KH_MATCH);
	/* a revoked, unlisted key is refused, not merely unknown */
	assert_int_equal(kh_status("\t@revoked\t*\tssh-ed25519\t%K\r\n",
	    "kh.example", 22), TR_KH_REVOKED);
}

static void
test_kh_revoked_needs_the_exact_key(void **state)
{
	struct khkey a;
	char bad[256];
	size_t line = 7;

	(void)state;
	khkey_make(&a, 0xa1);
	snprintf(bad, sizeof(bad), "@revoked * ssh-ed25519 %.*s\n",
	    (int)strlen(a.b64) - 4, a.b64);
	assert_int_equal(tr_kh_revoked(bad, strlen(bad), a.blob, a.len,
	    &line), 0);
	assert_int_equal(line, 0);
	snprintf(bad, sizeof(bad), "@revoked * ssh-ed25519 %s=\n", a.b64);
	assert_int_equal(tr_kh_revoked(bad, strlen(bad), a.blob, a.len,
	    &line), 0);
	snprintf(bad, sizeof(bad), "@revoked * ssh-ed25519\n@revoked\n"
	    "@revoked *\n@revoked * ssh-ed25519 !%s\n", a.b64 + 1);
	assert_int_equal(tr_kh_revoked(bad, strlen(bad), a.blob, a.len,
	    &line), 0);
	snprintf(bad, sizeof(bad), "@revoked * ssh-ed25519 %s", a.b64);
	assert_int_equal(tr_kh_revoked(bad, strlen(bad), a.blob, a.len,
	    &line), 1);		/* no final newline */
	assert_int_equal(line, 1);
}

/* A CA line never accepts a key, not even the CA's own; it is counted. */
static void
test_kh_cert_authority_is_ignored(void **state)
{
	struct khkey a, b;
	struct tr_kh_verdict v;
	char *t;

	(void)state;
	khkey_make(&a, 0xa1);
	khkey_make(&b, 0xb2);
	t = kh_text("@cert-authority kh.example ssh-ed25519 %K\n"
	    "@cert-authority *.example ssh-ed25519 %O\n", &a, &b);
	v = kh_verdict(t, "kh.example", 22, &a);
	assert_int_equal(v.status, TR_KH_NOTFOUND);
	assert_int_equal(v.ca_lines, 2);
	free(t);
}

static void
test_kh_type_presence_without_a_key(void **state)
{
	struct khkey a, b;
	struct tr_kh_verdict v;
	char *t;

	(void)state;
	khkey_make(&a, 0xa1);
	khkey_make(&b, 0xb2);
	t = kh_text(KH_HASHED_22 " ssh-ed25519 %K\n", &a, &b);
	v = kh_verdict(t, "kh.example", 22, NULL);
	assert_int_equal(v.status, TR_KH_MISMATCH);
	v = kh_verdict(t, "other.example", 22, NULL);
	assert_int_equal(v.status, TR_KH_NOTFOUND);
	free(t);
}

/* RFC 2202 test cases 1, 2, 3 and 6 (a key longer than the block). */
static void
test_kh_hmac_sha1_vectors(void **state)
{
	static const struct {
		const char *key, *msg, *mac;
		size_t key_len, msg_len;
	} v[] = {
		{ "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
		    "\x0b\x0b\x0b\x0b\x0b", "Hi There",
		    "b617318655057264e28bc0b6fb378c8ef146be00", 20, 8 },
		{ "Jefe", "what do ya want for nothing?",
		    "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", 4, 28 },
		{ NULL, NULL, "125d7342b9ac11cd91a39af48aa17b4f63f175d3", 20,
		    50 },
		{ NULL, "Test Using Larger Than Block-Size Key - Hash Key "
		    "First", "aa4ae5e15272d00e95705637ce8a3b55ed402112", 80,
		    54 },
	};
	uint8_t key[80], msg[64], mac[20];
	char hex[41];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(key, 0xaa, sizeof(key));
		if (v[i].key != NULL)
			memcpy(key, v[i].key, v[i].key_len);
		memset(msg, 0xdd, sizeof(msg));
		if (v[i].msg != NULL)
			memcpy(msg, v[i].msg, v[i].msg_len);
		tr_kh_hmac_sha1(key, v[i].key_len, msg, v[i].msg_len, mac);
		sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
		assert_string_equal(hex, v[i].mac);
	}
}

/* OpenSSH's rules: patterns, negation, case, and a plain name only for
 * port 22. */
static void
test_kh_patterns_and_ports(void **state)
{
	(void)state;
	assert_int_equal(kh_status("*.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_MATCH);
	assert_int_equal(kh_status("kh.exampl? ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_MATCH);
	assert_int_equal(kh_status("KH.Example ssh-ed25519 %K\n",
	    "kh.EXAMPLE", 22), TR_KH_MATCH);
	assert_int_equal(kh_status("!kh.example,*.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("*.example,!other.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_MATCH);
	assert_int_equal(kh_status("[kh.example]:* ssh-ed25519 %K\n",
	    "kh.example", 2222), TR_KH_MATCH);
	assert_int_equal(kh_status("kh.example ssh-ed25519 %K\n",
	    "kh.example", 2222), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("[kh.example]:2222 ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("*a*a*a*a*a*a*a*a*a*a*a*a*a*b "
	    "ssh-ed25519 %K\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    22), TR_KH_NOTFOUND);
}

/* A line is a host key only if it parses whole: the key's own type
 * must be the type field, the hash 20 bytes of valid base64. */
static void
test_kh_malformed_entries_accept_nothing(void **state)
{
	(void)state;
	assert_int_equal(kh_status("kh.example ssh-rsa %K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("kh.example ssh-ed25519 !%K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("kh.example ssh-ed25519\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
	assert_int_equal(kh_status("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|+oE8OOAIpk1"
	    "6Ha+QTJLdI7ab2Q ssh-ed25519 %K\n", "kh.example", 22),
	    TR_KH_NOTFOUND);
	assert_int_equal(kh_status("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|+oE8OOAIpk1"
	    "6Ha+QTJLdI7ab2QAAA== ssh-ed25519 %K\n", "kh.example", 22),
	    TR_KH_NOTFOUND);
	assert_int_equal(kh_status("#kh.example ssh-ed25519 %K\n",
	    "kh.example", 22), TR_KH_NOTFOUND);
}

static void
test_kh_limits(void **state)
{
	struct khkey a, b;
	struct tr_kh *kh = NULL;
	char *t, *big;
	size_t n;

	(void)state;
	big = malloc(TR_KH_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', TR_KH_FILE_MAX + 1);
	assert_int_equal(tr_kh_load(big, TR_KH_FILE_MAX + 1, &kh),
	    KL_E_LIMIT);
	assert_null(kh);
	free(big);
	/* a line over TR_KH_LINE_MAX is skipped, not cut into lines */
	khkey_make(&a, 0xa1);
	khkey_make(&b, 0xb2);
	t = kh_text("kh.example ssh-ed25519 %K ", &a, &b);
	n = strlen(t);
	big = malloc(TR_KH_LINE_MAX + 64);
	assert_non_null(big);
	memcpy(big, t, n);
	memset(big + n, 'c', TR_KH_LINE_MAX + 2 - n);
	big[TR_KH_LINE_MAX + 2] = '\0';
	assert_int_equal(kh_verdict(big, "kh.example", 22, &a).status,
	    TR_KH_NOTFOUND);
	big[TR_KH_LINE_MAX - 1] = '\0';
	assert_int_equal(kh_verdict(big, "kh.example", 22, &a).status,
	    TR_KH_MATCH);
	free(big);
	free(t);
}

/* ---- the pipe transport ---- */

struct fx {
	char dir[64];
	char repo[128];		/* a path with a quote and a space */
	char url[160];
	char pidfile[128];
	char script[128];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kl_transport_opts o = { NULL, NULL, KL_SERVER_PATH, NULL };
	struct kl_store *st = NULL;

	strcpy(f->dir, "/tmp/kl-tr-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->repo, sizeof(f->repo), "%s/it's a repo", f->dir);
	snprintf(f->url, sizeof(f->url), "pipe:%s", f->repo);
	if (kl_store_create(f->repo, (const uint8_t *)CONFIG_BYTES,
	    strlen(CONFIG_BYTES), &st) != KL_OK)
		return -1;
	kl_store_close(st);
	kl_transport_configure(&o);
	*state = f;
	alarm(HANG_GUARD_S);	/* a hang fails the test instead of CI */
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	alarm(0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
open_ok(struct fx *f, struct kl_backend *be)
{
	char err[KL_TRANSPORT_ERR_MAX];
	int rc;

	rc = kl_transport_open(f->url, NULL, 0, err, sizeof(err), be);
	if (rc != KL_OK)
		fail_msg("open %s: %d %s", f->url, rc, err);
}

/* Content-addressed bytes of length n, varied by seed. */
static uint8_t *
blob(size_t n, unsigned seed, char name[KL_ID_HEX_LEN + 1])
{
	uint8_t *p = malloc(n ? n : 1);
	struct kl_id id;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 9));
	kl_hash(p, n, &id);
	kl_id_hex(&id, name);
	return p;
}

static void
test_pipe_round_trip(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct kl_backend be;
	struct buf *b = NULL;
	uint64_t size;
	size_t n = 3 * (1 << 20) + 17;	/* several PUT_DATA/DATA frames */
	uint8_t *p = blob(n, 1, name);

	open_ok(f, &be);
	assert_int_equal(kl_transport_role(&be), 0);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_DATA, name, p, n), KL_OK);
	assert_int_equal(be.ops->stat(be.ctx, KL_FT_DATA, name, &size), 0);
	assert_int_equal(size, n);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_DATA, name, 0, 0,
	    KL_FILE_MAX, &b), KL_OK);
	assert_int_equal(buf_size(b), n);
	assert_memory_equal(buf_data(b), p, n);
	buf_free(b);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_DATA, name, 1000, 5000,
	    KL_FILE_MAX, &b), KL_OK);
	assert_int_equal(buf_size(b), 5000);
	assert_memory_equal(buf_data(b), p + 1000, 5000);
	buf_free(b);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_CONFIG, "config", 0, 0,
	    4096, &b), KL_OK);
	assert_memory_equal(buf_data(b), CONFIG_BYTES, strlen(CONFIG_BYTES));
	buf_free(b);
	be.ops->close(be.ctx);
	free(p);
}

static void
test_pipe_empty_file(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct kl_backend be;
	struct buf *b = NULL;
	uint8_t *p = blob(0, 0, name);

	open_ok(f, &be);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_INDEX, name, p, 0), KL_OK);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_INDEX, name, 0, 0, 100,
	    &b), KL_OK);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
	be.ops->close(be.ctx);
	free(p);
}

static void
test_pipe_errors_keep_session(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], other[KL_ID_HEX_LEN + 1];
	struct kl_backend be;
	struct buf *b = NULL;
	uint64_t size;
	uint8_t *p = blob(5000, 2, name), *q = blob(10, 3, other);

	open_ok(f, &be);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_DATA, name, p, 5000), 0);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_DATA, name, p, 5000),
	    KL_E_EXISTS);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_DATA, other, p, 5000),
	    KL_E_CORRUPT);		/* content does not match the name */
	assert_int_equal(be.ops->get(be.ctx, KL_FT_DATA, other, 0, 0, 100,
	    &b), KL_E_NOTFOUND);
	assert_null(b);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_DATA, name, 0, 0, 100,
	    &b), KL_E_LIMIT);
	assert_int_equal(be.ops->stat(be.ctx, KL_FT_DATA, other, &size),
	    KL_E_NOTFOUND);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_DATA, "../etc", p, 1),
	    KL_E_INVAL);
	/* still usable after all of these */
	assert_int_equal(be.ops->stat(be.ctx, KL_FT_DATA, name, &size), 0);
	assert_int_equal(size, 5000);
	be.ops->close(be.ctx);
	free(p);
	free(q);
}

struct counted {
	size_t n;
	char seen[KL_ID_HEX_LEN + 1];
};

static int
count_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct counted *c = arg;

	c->n++;
	snprintf(c->seen, sizeof(c->seen), "%s", name);
	return size == 40 ? 0 : KL_E_CORRUPT;
}

static int
stop_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	return 7;
}

static void
test_pipe_list_and_remove(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct counted c = { 0, "" };
	struct kl_backend be;
	uint8_t *p;
	unsigned i;

	open_ok(f, &be);
	for (i = 0; i < 50; i++) {
		p = blob(40, 100 + i, name);
		assert_int_equal(be.ops->put(be.ctx, KL_FT_LOCK, name, p, 40),
		    KL_OK);
		free(p);
	}
	assert_int_equal(be.ops->list(be.ctx, KL_FT_LOCK, count_cb, &c), 0);
	assert_int_equal(c.n, 50);
	assert_int_equal(be.ops->list(be.ctx, KL_FT_LOCK, stop_cb, NULL), 7);
	assert_int_equal(be.ops->remove(be.ctx, KL_FT_LOCK, c.seen), KL_OK);
	assert_int_equal(be.ops->remove(be.ctx, KL_FT_LOCK, c.seen),
	    KL_E_NOTFOUND);
	c.n = 0;
	assert_int_equal(be.ops->list(be.ctx, KL_FT_LOCK, count_cb, &c), 0);
	assert_int_equal(c.n, 49);
	be.ops->close(be.ctx);
}

/* A listing callback that itself makes requests (as key_try_one does). */
struct nested {
	struct kl_backend *be;
	size_t ok;
};

static int
nested_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct nested *n = arg;
	struct buf *b = NULL;

	if (n->be->ops->get(n->be->ctx, KL_FT_KEY, name, 0, 0, 1 << 20, &b)
	    == KL_OK && buf_size(b) == size)
		n->ok++;
	buf_free(b);
	return 0;
}

static void
test_pipe_list_callback_may_request(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct kl_backend be;
	struct nested n = { &be, 0 };
	uint8_t *p;
	unsigned i;

	open_ok(f, &be);
	for (i = 0; i < 3; i++) {
		p = blob(300 + i, 200 + i, name);
		assert_int_equal(be.ops->put(be.ctx, KL_FT_KEY, name, p,
		    300 + i), KL_OK);
		free(p);
	}
	assert_int_equal(be.ops->list(be.ctx, KL_FT_KEY, nested_cb, &n), 0);
	assert_int_equal(n.ok, 3);
	be.ops->close(be.ctx);
}

/* Each listed lock's time must be its modification time on the server. */
struct timed {
	const char *repo;
	size_t n, odd;
	time_t before, after;
};

static int
timed_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct timed *t = arg;
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/locks/%s", t->repo, name);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(mtime_s == (int64_t)st.st_mtime);
	if (mtime_s == 1000000000)
		t->odd++;
	else
		assert_true(mtime_s >= t->before - 1 &&
		    mtime_s <= t->after + 1);
	t->n++;
	return 0;
}

static void
test_pipe_list_reports_receive_times(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct timed t = { f->repo, 0, 0, time(NULL), 0 };
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	struct kl_backend be;
	uint8_t *b;
	unsigned i;

	open_ok(f, &be);
	for (i = 0; i < 5; i++) {
		b = blob(40, 400 + i, name);
		assert_int_equal(be.ops->put(be.ctx, KL_FT_LOCK, name, b, 40),
		    KL_OK);
		free(b);
	}
	t.after = time(NULL);
	snprintf(p, sizeof(p), "%s/locks/%s", f->repo, name);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	assert_int_equal(be.ops->list(be.ctx, KL_FT_LOCK, timed_cb, &t), 0);
	assert_int_equal(t.n, 5);
	assert_int_equal(t.odd, 1);
	be.ops->close(be.ctx);
}

/*
 * A server of another protocol version refuses the HELLO (as a version-1
 * server answers a version-2 client): the client says what to do.
 */
static void
test_pipe_other_protocol_version_is_unsupported(void **state)
{
	static const char msg[] = "this server speaks protocol version 1 only";
	struct fx *f = *state;
	struct kl_transport_opts o = { NULL, NULL, NULL, NULL };
	char err[KL_TRANSPORT_ERR_MAX], errfile[PATH_MAX];
	uint8_t fr[64];
	struct kl_backend be;
	size_t n;
	FILE *fp;

	kl_le32enc(fr, (uint32_t)(5 + 4 + 2 + strlen(msg)));
	fr[4] = 0xff;			/* ERR, request id 0 */
	kl_le32enc(fr + 5, 0);
	kl_le32enc(fr + 9, (uint32_t)KL_E_UNSUPPORTED);
	fr[13] = (uint8_t)strlen(msg);	/* u16, < 256 */
	fr[14] = 0;
	n = 15 + strlen(msg);
	assert_true(n <= sizeof(fr));
	memcpy(fr + 15, msg, strlen(msg));
	snprintf(errfile, sizeof(errfile), "%s/err.bin", f->dir);
	assert_non_null(fp = fopen(errfile, "wb"));
	assert_int_equal(fwrite(fr, 1, n, fp), n);
	fclose(fp);
	snprintf(f->script, sizeof(f->script), "%s/old.sh", f->dir);
	assert_non_null(fp = fopen(f->script, "w"));
	fprintf(fp, "#!/bin/sh\ncat '%s'\nexec cat >/dev/null\n", errfile);
	fclose(fp);
	chmod(f->script, 0700);
	o.server_command = f->script;
	kl_transport_configure(&o);
	assert_int_equal(kl_transport_open(f->url, NULL, 0, err, sizeof(err),
	    &be), KL_E_UNSUPPORTED);
	assert_non_null(strstr(err, "protocol version 3"));
	assert_non_null(strstr(err, msg));
	assert_non_null(strstr(err, "same release"));
	o.server_command = KL_SERVER_PATH;
	kl_transport_configure(&o);
}

#define THREADS 4
#define PER_THREAD 12

struct worker {
	struct kl_backend *be;
	unsigned base;
	int failures;
	int last;
	int forever;		/* until the connection fails */
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;
	unsigned i;
	size_t n;
	uint8_t *p;
	int rc;

	for (i = 0; w->forever || i < PER_THREAD; i++) {
		n = (size_t)((w->base * 7919 + i * 104729) % (3 << 20)) + 1;
		p = blob(n, w->base * 1000 + i, name);
		rc = w->be->ops->put(w->be->ctx, KL_FT_DATA, name, p, n);
		if (rc == KL_OK && !w->forever) {
			rc = w->be->ops->get(w->be->ctx, KL_FT_DATA, name, 0,
			    0, KL_FILE_MAX, &b);
			if (rc == KL_OK && (buf_size(b) != n ||
			    memcmp(buf_data(b), p, n) != 0))
				rc = KL_E_CORRUPT;
			buf_free(b);
			b = NULL;
		}
		free(p);
		w->last = rc;
		if (rc != KL_OK) {
			w->failures++;
			if (w->forever)
				break;
		}
	}
	return NULL;
}

static void
test_pipe_concurrent_puts(void **state)
{
	struct fx *f = *state;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct kl_backend be;
	int i;

	open_ok(f, &be);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ &be, (unsigned)i + 1, 0, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(be.ops->list(be.ctx, KL_FT_DATA, stop_cb, NULL), 7);
	be.ops->close(be.ctx);
}

static void
kill_server(const char *pidfile)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	FILE *fp;
	int pid = 0, tries;

	for (tries = 0; tries < 100 && pid == 0; tries++) {
		if ((fp = fopen(pidfile, "r")) != NULL) {
			if (fscanf(fp, "%d", &pid) != 1)
				pid = 0;
			fclose(fp);
		}
		if (pid == 0)
			nanosleep(&ts, NULL);
	}
	assert_true(pid > 0);
	nanosleep(&ts, NULL);
	assert_int_equal(kill(pid, SIGKILL), 0);
}

static void
test_pipe_server_killed_fails_fast(void **state)
{
	struct fx *f = *state;
	struct kl_transport_opts o = { NULL, NULL, NULL, NULL };
	char name[KL_ID_HEX_LEN + 1];
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct kl_backend be;
	struct buf *b = NULL;
	uint64_t size;
	FILE *fp;
	int i;

	snprintf(f->pidfile, sizeof(f->pidfile), "%s/pid", f->dir);
	snprintf(f->script, sizeof(f->script), "%s/server.sh", f->dir);
	assert_non_null(fp = fopen(f->script, "w"));
	fprintf(fp, "#!/bin/sh\necho $$ > '%s'\nexec '%s' \"$@\"\n",
	    f->pidfile, KL_SERVER_PATH);
	fclose(fp);
	chmod(f->script, 0700);
	o.server_command = f->script;
	kl_transport_configure(&o);
	open_ok(f, &be);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ &be, (unsigned)i + 50, 0, 0, 1 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main,
		    &w[i]), 0);
	}
	kill_server(f->pidfile);
	memset(name, 'a', KL_ID_HEX_LEN);
	name[KL_ID_HEX_LEN] = '\0';
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].last, KL_E_CONN);
	}
	/* every later call fails at once, none hangs */
	assert_int_equal(be.ops->stat(be.ctx, KL_FT_DATA, name, &size),
	    KL_E_CONN);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_CONFIG, "config", 0, 0,
	    4096, &b), KL_E_CONN);
	assert_int_equal(be.ops->list(be.ctx, KL_FT_DATA, stop_cb, NULL),
	    KL_E_CONN);
	be.ops->close(be.ctx);
	o.server_command = KL_SERVER_PATH;
	kl_transport_configure(&o);
}

static void
test_pipe_missing_repository_is_notfound(void **state)
{
	struct fx *f = *state;
	char url[200], err[KL_TRANSPORT_ERR_MAX];
	struct kl_backend be;

	snprintf(url, sizeof(url), "pipe:%s/none", f->dir);
	assert_int_equal(kl_transport_open(url, NULL, 0, err, sizeof(err),
	    &be), KL_E_NOTFOUND);
	assert_non_null(strstr(err, "no config file"));
	assert_null(be.ops);
}

static void
test_pipe_no_server_program_is_conn(void **state)
{
	struct fx *f = *state;
	struct kl_transport_opts o = { NULL, NULL, "/nonexistent/kluis-srv",
	    NULL };
	char err[KL_TRANSPORT_ERR_MAX];
	struct kl_backend be;

	kl_transport_configure(&o);
	assert_int_equal(kl_transport_open(f->url, NULL, 0, err, sizeof(err),
	    &be), KL_E_CONN);
	assert_non_null(strstr(err, "127"));
	o.server_command = KL_SERVER_PATH;
	kl_transport_configure(&o);
}

static void
test_pipe_create(void **state)
{
	struct fx *f = *state;
	char url[200], err[KL_TRANSPORT_ERR_MAX];
	struct kl_backend be;
	struct buf *b = NULL;
	int rc;

	snprintf(url, sizeof(url), "pipe:%s/new", f->dir);
	rc = kl_transport_open(url, (const uint8_t *)CONFIG_BYTES,
	    strlen(CONFIG_BYTES), err, sizeof(err), &be);
	if (rc == KL_E_PROTO) {
		print_message("server without CREATE (PROTOCOL.md §8): %s\n",
		    err);
		skip();
	}
	assert_int_equal(rc, KL_OK);
	assert_int_equal(be.ops->get(be.ctx, KL_FT_CONFIG, "config", 0, 0,
	    4096, &b), KL_OK);
	assert_memory_equal(buf_data(b), CONFIG_BYTES, strlen(CONFIG_BYTES));
	buf_free(b);
	be.ops->close(be.ctx);
	/* a second create finds it there */
	assert_int_equal(kl_transport_open(url, (const uint8_t *)"x", 1, err,
	    sizeof(err), &be), KL_E_EXISTS);
}

/*
 * Issue #15: a copy created in the replica role stays in that role for the
 * rest of the session (the server once carried on in the full role after
 * CREATE): no lock, no removal; PUT_DATED keeps the receive time.
 */
static void
test_pipe_create_replica_keeps_its_role(void **state)
{
	struct fx *f = *state;
	struct kl_transport_opts o = { NULL, NULL, KL_SERVER_PATH
	    " --replica", NULL };
	char url[200], err[KL_TRANSPORT_ERR_MAX], name[KL_ID_HEX_LEN + 1];
	char path[400];
	const char *lock = "lock bytes", *snap = "snapshot bytes";
	struct kl_backend be;
	struct kl_id id;
	struct stat st;

	kl_transport_configure(&o);
	snprintf(url, sizeof(url), "pipe:%s/copy", f->dir);
	assert_int_equal(kl_transport_open(url, (const uint8_t *)CONFIG_BYTES,
	    strlen(CONFIG_BYTES), err, sizeof(err), &be), KL_OK);
	assert_int_equal(kl_transport_role(&be), KL_ROLE_REPLICA);
	kl_hash((const uint8_t *)lock, strlen(lock), &id);
	kl_id_hex(&id, name);
	assert_int_equal(be.ops->put(be.ctx, KL_FT_LOCK, name,
	    (const uint8_t *)lock, strlen(lock)), KL_E_PERM);
	kl_hash((const uint8_t *)snap, strlen(snap), &id);
	kl_id_hex(&id, name);
	assert_non_null(be.ops->put_dated);
	assert_int_equal(be.ops->put_dated(be.ctx, KL_FT_SNAPSHOT, name,
	    (const uint8_t *)snap, strlen(snap), 1600000000), KL_OK);
	assert_int_equal(be.ops->remove(be.ctx, KL_FT_SNAPSHOT, name),
	    KL_E_PERM);
	be.ops->close(be.ctx);
	snprintf(path, sizeof(path), "%s/copy/snapshots/%s", f->dir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((int64_t)st.st_mtime, 1600000000);
	o.server_command = KL_SERVER_PATH;
	kl_transport_configure(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ssh_full),
		cmocka_unit_test(test_url_ssh_defaults),
		cmocka_unit_test(test_url_ssh_ipv6),
		cmocka_unit_test(test_url_ssh_bad),
		cmocka_unit_test(test_url_pipe),
		cmocka_unit_test(test_url_local),
		cmocka_unit_test(test_open_bad_url_is_inval),
		cmocka_unit_test(test_kh_plain_port_and_changed_keys),
		cmocka_unit_test(test_kh_hashed_host_names),
		cmocka_unit_test(test_kh_bad_lines_do_not_hide_later_ones),
		cmocka_unit_test(test_kh_revoked_wins_over_every_other_line),
		cmocka_unit_test(test_kh_revoked_needs_the_exact_key),
		cmocka_unit_test(test_kh_cert_authority_is_ignored),
		cmocka_unit_test(test_kh_type_presence_without_a_key),
		cmocka_unit_test(test_kh_hmac_sha1_vectors),
		cmocka_unit_test(test_kh_patterns_and_ports),
		cmocka_unit_test(test_kh_malformed_entries_accept_nothing),
		cmocka_unit_test(test_kh_limits),
		cmocka_unit_test_setup_teardown(test_pipe_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_empty_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_errors_keep_session,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipe_list_and_remove,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_list_callback_may_request, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_list_reports_receive_times, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_other_protocol_version_is_unsupported, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipe_concurrent_puts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_server_killed_fails_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_missing_repository_is_notfound, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_no_server_program_is_conn, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipe_create_replica_keeps_its_role, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipe_create, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
