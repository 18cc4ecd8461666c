/*
 * known_hosts for the ssh transport (docs/CLI.md "Repository URLs", host
 * keys): OpenSSH's file format, sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT".
 * Pure: text in, verdict out; no I/O, no libssh2.
 *
 * libssh2 1.10's known-host code, which kluis used before, knows no
 * markers (an @revoked line was dropped as unparsable, so the key stayed
 * accepted by another line), no host patterns, matches a plain "host"
 * line for every port, and leaks an HMAC context per check of a hashed
 * line.  This parser follows OpenSSH instead:
 *   - a line is "[marker] hostnames keytype base64-key [comment]"; '#'
 *     starts a comment line; a line that cannot be parsed (or is longer
 *     than TR_KH_LINE_MAX) is skipped and the lines after it still count;
 *   - hostnames is a comma-separated list of patterns ('*', '?', and '!'
 *     for a negation that excludes the host whatever else matches),
 *     compared without regard to ASCII case, or one hashed name
 *     "|1|base64-salt|base64-HMAC-SHA1(salt, name)" (ssh-keygen -H);
 *     the name is the host for port 22, else "[host]:port";
 *   - the key's type is the one inside the decoded key, which must equal
 *     the keytype field.
 * Markers:
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
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/err.h"
#include "transport_internal.h"

#define HOSTNAME_MAX 300	/* "[" host (<= 255) "]:" port */
#define SHA1_LEN 20
#define SHA1_BLOCK 64
#define SALT_B64_MAX 64

struct tr_kh {
	char *text;
	size_t len;
	size_t ca_lines;
};

/* One line of the file: p[0, len) without its line end. */
struct kh_line {
	const char *p;
	size_t len, no;
};

/* ---- SHA-1 and HMAC-SHA1 (FIPS 180-4, RFC 2104), for hashed names ---- */

struct sha1 {
	uint32_t h[5];
	uint8_t buf[SHA1_BLOCK];
	size_t n;		/* bytes in buf */
	uint64_t total;
};

static uint32_t
rol32(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void
sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 80; i++) {
		if (i < 20)
			f = ((b & c) | (~b & d)) + 0x5a827999u;
		else if (i < 40)
			f = (b ^ c ^ d) + 0x6ed9eba1u;
		else if (i < 60)
			f = ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdcu;
		else
			f = (b ^ c ^ d) + 0xca62c1d6u;
		t = rol32(a, 5) + f + e + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void
sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = { 0x67452301u, 0xefcdab89u,
	    0x98badcfeu, 0x10325476u, 0xc3d2e1f0u };

	memcpy(s->h, iv, sizeof(iv));
	s->n = 0;
	s->total = 0;
}

static void
sha1_update(struct sha1 *s, const uint8_t *p, size_t len)
{
	size_t k;

	s->total += len;
	while (len > 0) {
		k = SHA1_BLOCK - s->n < len ? SHA1_BLOCK - s->n : len;
		memcpy(s->buf + s->n, p, k);
		s->n += k;
		p += k;
		len -= k;
		if (s->n == SHA1_BLOCK) {
			sha1_block(s->h, s->buf);
			s->n = 0;
		}
	}
}

static void
sha1_final(struct sha1 *s, uint8_t out[SHA1_LEN])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80, len[8];
	int i;

	sha1_update(s, &pad, 1);
	pad = 0;
	while (s->n != SHA1_BLOCK - 8)
		sha1_update(s, &pad, 1);
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(s, len, 8);
	for (i = 0; i < 20; i++)
		out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

void
tr_kh_hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *msg,
    size_t msg_len, uint8_t out[20])
{
	uint8_t k[SHA1_BLOCK], pad[SHA1_BLOCK], inner[SHA1_LEN];
	struct sha1 s;
	size_t i;

	memset(k, 0, sizeof(k));
	if (key_len > SHA1_BLOCK) {
		sha1_init(&s);
		sha1_update(&s, key, key_len);
		sha1_final(&s, k);
	} else if (key_len > 0)
		memcpy(k, key, key_len);
	for (i = 0; i < SHA1_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha1_init(&s);
	sha1_update(&s, pad, SHA1_BLOCK);
	sha1_update(&s, msg, msg_len);
	sha1_final(&s, inner);
	for (i = 0; i < SHA1_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha1_init(&s);
	sha1_update(&s, pad, SHA1_BLOCK);
	sha1_update(&s, inner, SHA1_LEN);
	sha1_final(&s, out);
}

/* ---- lines and tokens ---- */

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

/* The marker of line l ("" for none), advancing l past it. */
static void
line_marker(struct kh_line *l, const char **m, size_t *mlen)
{
	struct kh_line save = *l;

	if (token(l, m, mlen) && **m == '@')
		return;
	*l = save;
	*m = "";
	*mlen = 0;
}

/* Decodes padded base64 b[0, blen) into a new buffer *out (free it). */
static int
b64_decode(const char *b, size_t blen, uint8_t **out, size_t *n)
{
	const char *end = NULL;
	size_t cap = blen / 4 * 3 + 3;

	*out = NULL;
	if (blen == 0 || (*out = malloc(cap)) == NULL)
		return 0;
	if (sodium_base642bin(*out, cap, b, blen, NULL, n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != b + blen) {
		free(*out);
		*out = NULL;
		return 0;
	}
	return 1;
}

/* 1 if the base64 b[0, blen) is exactly the key k[0, klen). */
static int
b64_is_key(const char *b, size_t blen, const uint8_t *k, size_t klen)
{
	uint8_t *bin;
	size_t n = 0;
	int same;

	if (klen == 0 || blen != 4 * ((klen + 2) / 3))
		return 0;	/* padded base64 of klen bytes has this length */
	if (!b64_decode(b, blen, &bin, &n))
		return 0;
	same = n == klen && memcmp(bin, k, klen) == 0;
	free(bin);
	return same;
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

/* ---- host names ---- */

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * 1 if the pattern p[0, plen) ('*': any run, '?': any one character)
 * matches all of s, ASCII case ignored.  Backtracks to the last '*' only:
 * linear in plen * strlen(s) at worst.
 */
static int
glob_match(const char *p, size_t plen, const char *s)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
	size_t slen = strlen(s);

	while (si < slen) {
		if (pi < plen && (p[pi] == '?' || lower(p[pi]) == s[si])) {
			pi++;
			si++;
		} else if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else
			return 0;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* A comma-separated pattern list: a negated match excludes the host. */
static int
patterns_match(const char *f, size_t flen, const char *name)
{
	const char *comma;
	size_t plen;
	int neg, found = 0;

	while (flen > 0) {
		comma = memchr(f, ',', flen);
		plen = comma != NULL ? (size_t)(comma - f) : flen;
		neg = plen > 0 && f[0] == '!';
		if (glob_match(f + neg, plen - (size_t)neg, name)) {
			if (neg)
				return 0;
			found = 1;
		}
		f += plen + (comma != NULL);
		flen -= plen + (comma != NULL);
	}
	return found;
}

/* "|1|SALT|HASH": 1 if HASH is HMAC-SHA1(SALT, name). */
static int
hashed_match(const char *f, size_t flen, const char *name)
{
	const char *bar;
	uint8_t *salt = NULL, *hash = NULL, mac[SHA1_LEN];
	size_t slen = 0, hlen = 0;
	int same = 0;

	f += 3;
	flen -= 3;
	if ((bar = memchr(f, '|', flen)) == NULL ||
	    (size_t)(bar - f) > SALT_B64_MAX)
		return 0;
	if (b64_decode(f, (size_t)(bar - f), &salt, &slen) &&
	    b64_decode(bar + 1, flen - (size_t)(bar - f) - 1, &hash, &hlen) &&
	    hlen == SHA1_LEN) {
		tr_kh_hmac_sha1(salt, slen, (const uint8_t *)name,
		    strlen(name), mac);
		same = sodium_memcmp(mac, hash, SHA1_LEN) == 0;
	}
	free(salt);
	free(hash);
	return same;
}

static int
host_match(const char *f, size_t flen, const char *name)
{
	if (flen >= 3 && memcmp(f, "|1|", 3) == 0)
		return hashed_match(f, flen, name);
	return patterns_match(f, flen, name);
}

/* The name known_hosts uses: lowercase host, "[host]:port" unless 22. */
static int
host_name(const char *host, uint16_t port, char out[HOSTNAME_MAX])
{
	size_t i;
	int n;

	n = port == 22 ? snprintf(out, HOSTNAME_MAX, "%s", host) :
	    snprintf(out, HOSTNAME_MAX, "[%s]:%u", host, port);
	if (n < 0 || n >= HOSTNAME_MAX)
		return 0;
	for (i = 0; out[i] != '\0'; i++)
		out[i] = lower(out[i]);
	return 1;
}

/* ---- the file ---- */

/* 1 if blob holds an SSH public key whose type name is type[0, tlen). */
static int
blob_type_is(const uint8_t *blob, size_t n, const char *type, size_t tlen)
{
	uint32_t l;

	if (n < 4)
		return 0;
	l = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 |
	    (uint32_t)blob[2] << 8 | blob[3];
	return l == tlen && n - 4 >= tlen && memcmp(blob + 4, type, tlen) == 0;
}

struct kh_query {
	const char *name;	/* host_name() */
	const char *type;
	const uint8_t *key;	/* NULL: presence of the type only */
	size_t key_len;
};

/* A host key line for q's host and type: 2 same key, 1 another key,
 * 0 not for this host or type, or not a valid line. */
static int
line_verdict(struct kh_line l, const struct kh_query *q)
{
	const char *m, *hosts, *type, *b64;
	size_t mlen, hlen, tlen, blen, n = 0;
	uint8_t *blob = NULL;
	int r = 0;

	line_marker(&l, &m, &mlen);
	if (mlen > 0 || l.len > TR_KH_LINE_MAX || !token(&l, &hosts, &hlen) ||
	    *hosts == '#' || !token(&l, &type, &tlen) ||
	    !token(&l, &b64, &blen) || !token_is(type, tlen, q->type) ||
	    !host_match(hosts, hlen, q->name) ||
	    !b64_decode(b64, blen, &blob, &n))
		return 0;
	if (blob_type_is(blob, n, type, tlen))
		r = q->key != NULL && n == q->key_len &&
		    memcmp(blob, q->key, n) == 0 ? 2 : 1;
	free(blob);
	return r;
}

void
tr_kh_free(struct tr_kh *k)
{
	if (k == NULL)
		return;
	free(k->text);
	free(k);
}

int
tr_kh_load(const char *text, size_t len, struct tr_kh **out)
{
	struct kh_line l = { NULL, 0, 0 };
	struct tr_kh *k;
	const char *m;
	size_t off = 0, mlen;

	*out = NULL;
	if (len > TR_KH_FILE_MAX)
		return KL_E_LIMIT;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->text = malloc(len + 1)) == NULL) {
		free(k);
		return KL_E_NOMEM;
	}
	if (len > 0)
		memcpy(k->text, text, len);
	k->text[len] = '\0';
	k->len = len;
	while (line_next(k->text, k->len, &off, &l)) {
		line_marker(&l, &m, &mlen);
		k->ca_lines += token_is(m, mlen, "@cert-authority");
	}
	*out = k;
	return KL_OK;
}

int
tr_kh_check(const struct tr_kh *k, const char *host, uint16_t port,
    const char *type, const uint8_t *key, size_t key_len,
    struct tr_kh_verdict *v)
{
	struct kh_line l = { NULL, 0, 0 };
	struct kh_query q = { NULL, type, key, key_len };
	char name[HOSTNAME_MAX];
	size_t off = 0;
	int r, other = 0;

	memset(v, 0, sizeof(*v));
	v->ca_lines = k->ca_lines;
	v->status = TR_KH_NOTFOUND;
	if (key != NULL && tr_kh_revoked(k->text, k->len, key, key_len,
	    &v->line)) {
		v->status = TR_KH_REVOKED;
		return KL_OK;
	}
	if (!host_name(host, port, name) || *type == '\0')
		return KL_OK;
	q.name = name;
	while (line_next(k->text, k->len, &off, &l)) {
		if ((r = line_verdict(l, &q)) == 2) {
			v->status = TR_KH_MATCH;
			return KL_OK;
		}
		other |= r;
	}
	if (other)
		v->status = TR_KH_MISMATCH;
	return KL_OK;
}
