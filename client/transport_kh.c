/*
 * known_hosts for the ssh transport (docs/CLI.md "Repository URLs", host
 * keys): OpenSSH's file format, sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT".
 *
 * The file is read once into memory and split into lines here.  Lines
 * without a marker go to libssh2's parser and matcher (plain and hashed
 * host names, [host]:port), one NUL-terminated line at a time: its file
 * reader stops at the first line it cannot parse, and its line parser
 * reads one byte past a line that is not NUL-terminated.  Lines with a
 * marker never reach libssh2, which does not know markers:
 *   - @revoked: the key on the line is refused, whatever the line's host
 *     names and whatever other lines accept it.  OpenSSH applies a
 *     @revoked line only to the hosts it names; kluis refuses the key for
 *     every host, as sshd(8) puts it: "the key contained on the line is
 *     revoked and must not ever be accepted".  A key that one host lost is
 *     compromised wherever else it is used.
 *   - @cert-authority: ignored.  libssh2 1.10 does not negotiate host
 *     certificates, so a server only ever shows its plain key, and a CA
 *     key is never a host key: treating the line as one would trust any
 *     server that presents the CA's key itself.  Ignoring a line can only
 *     refuse a server, never accept one; the refusal says why.
 *   - any other marker: the line is ignored (it is not a host key line).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libssh2.h>
#include <sodium.h>

#include "kluis/err.h"
#include "transport_internal.h"

struct tr_kh {
	char *text;
	size_t len;
	LIBSSH2_SESSION *sess;		/* only for libssh2's knownhost API */
	LIBSSH2_KNOWNHOSTS *kh;
	size_t ca_lines;
};

/* One line of the file: p[0, len) without its line end. */
struct kh_line {
	const char *p;
	size_t len, no;
};

static pthread_once_t kh_once = PTHREAD_ONCE_INIT;
static int kh_init_rc;

static void
kh_lib_init(void)
{
	kh_init_rc = libssh2_init(0);
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The next line of text after *off; 0 at the end. */
static int
line_next(const char *text, size_t len, size_t *off, struct kh_line *l)
{
	const char *nl;

	if (*off >= len)
		return 0;
	l->p = text + *off;
	nl = memchr(l->p, '\n', len - *off);
	l->len = nl != NULL ? (size_t)(nl - l->p) : len - *off;
	*off += l->len + (nl != NULL);
	l->no++;
	if (l->len > 0 && l->p[l->len - 1] == '\r')
		l->len--;
	return 1;
}

/* Splits off the next blank-separated token of l (advancing it). */
static int
token(struct kh_line *l, const char **t, size_t *tlen)
{
	size_t i = 0;

	while (l->len > 0 && is_blank(*l->p)) {
		l->p++;
		l->len--;
	}
	while (i < l->len && !is_blank(l->p[i]))
		i++;
	*t = l->p;
	*tlen = i;
	l->p += i;
	l->len -= i;
	return i > 0;
}

static int
token_is(const char *t, size_t tlen, const char *s)
{
	return tlen == strlen(s) && memcmp(t, s, tlen) == 0;
}

/* 1 if the base64 b[0, blen) is exactly the key k[0, klen). */
static int
b64_is_key(const char *b, size_t blen, const uint8_t *k, size_t klen)
{
	uint8_t *bin;
	size_t binlen = 0;
	const char *end = NULL;
	int same;

	if (klen == 0 || blen != 4 * ((klen + 2) / 3))
		return 0;	/* padded base64 of klen bytes has this length */
	if ((bin = malloc(klen + 3)) == NULL)
		return 0;
	same = sodium_base642bin(bin, klen + 3, b, blen, NULL, &binlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) == 0 && end == b + blen &&
	    binlen == klen && memcmp(bin, k, klen) == 0;
	free(bin);
	return same;
}

/* The marker of line l ("" for none), advancing l past it. */
static void
line_marker(struct kh_line *l, const char **m, size_t *mlen)
{
	struct kh_line save = *l;

	*m = "";
	*mlen = 0;
	if (token(l, m, mlen) && **m == '@')
		return;
	*l = save;
	*m = "";
	*mlen = 0;
}

int
tr_kh_revoked(const char *text, size_t len, const uint8_t *key,
    size_t key_len, size_t *line)
{
	struct kh_line l = { NULL, 0, 0 };
	const char *m, *hosts, *type, *b64;
	size_t off = 0, mlen, hlen, tlen, blen;

	*line = 0;
	while (line_next(text, len, &off, &l)) {
		line_marker(&l, &m, &mlen);
		if (!token_is(m, mlen, "@revoked"))
			continue;
		/* host names and the key type do not matter: the key does */
		if (token(&l, &hosts, &hlen) && token(&l, &type, &tlen) &&
		    token(&l, &b64, &blen) &&
		    b64_is_key(b64, blen, key, key_len)) {
			*line = l.no;
			return 1;
		}
	}
	return 0;
}

/* Feeds the lines without a marker to libssh2; counts @cert-authority. */
static void
kh_feed(struct tr_kh *k)
{
	struct kh_line l = { NULL, 0, 0 };
	const char *m;
	char *one;
	size_t off = 0, mlen;

	if ((one = malloc(TR_KH_LINE_MAX + 1)) == NULL)
		return;
	while (line_next(k->text, k->len, &off, &l)) {
		line_marker(&l, &m, &mlen);
		if (token_is(m, mlen, "@cert-authority"))
			k->ca_lines++;
		if (mlen > 0 || l.len > TR_KH_LINE_MAX)
			continue;
		memcpy(one, l.p, l.len);
		one[l.len] = '\0';
		/* a line libssh2 cannot parse is skipped, like ssh does */
		(void)libssh2_knownhost_readline(k->kh, one, l.len,
		    LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	free(one);
}

void
tr_kh_free(struct tr_kh *k)
{
	if (k == NULL)
		return;
	if (k->kh != NULL)
		libssh2_knownhost_free(k->kh);
	if (k->sess != NULL)
		libssh2_session_free(k->sess);
	free(k->text);
	free(k);
}

int
tr_kh_load(const char *text, size_t len, struct tr_kh **out)
{
	struct tr_kh *k;
	int rc = KL_E_NOMEM;

	*out = NULL;
	if (len > TR_KH_FILE_MAX)
		return KL_E_LIMIT;
	pthread_once(&kh_once, kh_lib_init);
	if (kh_init_rc != 0)
		return KL_E_IO;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->text = malloc(len + 1)) == NULL)
		goto out;
	if (len > 0)
		memcpy(k->text, text, len);
	k->text[len] = '\0';
	k->len = len;
	if ((k->sess = libssh2_session_init()) == NULL ||
	    (k->kh = libssh2_knownhost_init(k->sess)) == NULL)
		goto out;
	kh_feed(k);
	*out = k;
	k = NULL;
	rc = KL_OK;
out:
	tr_kh_free(k);
	return rc;
}

/* libssh2's known-host key type for a key type name; -1 if unknown. */
static int
kh_libssh2_type(const char *type)
{
	static const struct {
		const char *name;
		int kh;
	} t[] = {
		{ "ssh-ed25519", LIBSSH2_KNOWNHOST_KEY_ED25519 },
		{ "ecdsa-sha2-nistp256", LIBSSH2_KNOWNHOST_KEY_ECDSA_256 },
		{ "ecdsa-sha2-nistp384", LIBSSH2_KNOWNHOST_KEY_ECDSA_384 },
		{ "ecdsa-sha2-nistp521", LIBSSH2_KNOWNHOST_KEY_ECDSA_521 },
		{ "ssh-rsa", LIBSSH2_KNOWNHOST_KEY_SSHRSA },
		{ "ssh-dss", LIBSSH2_KNOWNHOST_KEY_SSHDSS },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, type) == 0)
			return t[i].kh;
	return -1;
}

int
tr_kh_check(const struct tr_kh *k, const char *host, uint16_t port,
    const char *type, const uint8_t *key, size_t key_len,
    struct tr_kh_verdict *v)
{
	int kt = kh_libssh2_type(type), r;

	memset(v, 0, sizeof(*v));
	v->ca_lines = k->ca_lines;
	v->status = TR_KH_NOTFOUND;
	if (key != NULL && tr_kh_revoked(k->text, k->len, key, key_len,
	    &v->line)) {
		v->status = TR_KH_REVOKED;
		return KL_OK;
	}
	if (kt < 0)
		return KL_OK;
	/* without a key: a dummy one mismatches exactly when an entry of
	 * this type exists for the host, hashed or not */
	r = libssh2_knownhost_checkp(k->kh, host, (int)port, key != NULL ?
	    (const char *)key : "x", key != NULL ? key_len : 1,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kt,
	    NULL);
	if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH && key != NULL)
		v->status = TR_KH_MATCH;
	else if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		v->status = TR_KH_MISMATCH;
	return KL_OK;
}
