/*
 * known_hosts (transport/transport_kh.c): the input is the file's text.  It is
 * loaded (split into lines, markers recognised, the rest fed to libssh2's
 * parser) and asked about two hosts and two keys; then again with lines
 * appended (four loads an input).
 *
 * Oracles, besides no crash and no leak:
 *   - a @revoked line for a key always wins: tr_kh_check says REVOKED
 *     exactly when tr_kh_revoked finds the key, and appending
 *     "@revoked * <key>" to any file makes the key REVOKED;
 *   - appending a plain line for (host, key) makes it MATCH, unless the
 *     file revokes the key;
 *   - lines with a marker never accept anything: appending a
 *     @cert-authority or unknown-marker line for (host, key) leaves the
 *     verdict on that key as it was;
 *   - REVOKED names a line that exists.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/err.h"
#include "transport_internal.h"

#include "fuzz.h"

#define KEY_LEN (4 + 11 + 4 + 32)	/* string "ssh-ed25519", string key */

struct key {
	uint8_t blob[KEY_LEN];
	char b64[80];
};

static struct key keys[2];

static const struct {
	const char *host;	/* as the file names it */
	const char *name;
	uint16_t port;
} hosts[] = {
	{ "kh.example", "kh.example", 22 },
	{ "[10.0.0.7]:2222", "10.0.0.7", 2222 },
};
#define NHOSTS (sizeof(hosts) / sizeof(hosts[0]))

static void
key_init(struct key *k, uint8_t fill)
{
	static const uint8_t head[] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e',
	    'd', '2', '5', '5', '1', '9', 0, 0, 0, 32 };

	memcpy(k->blob, head, sizeof(head));
	memset(k->blob + sizeof(head), fill, 32);
	sodium_bin2base64(k->b64, sizeof(k->b64), k->blob, KEY_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
}

/* The verdicts on every (host, key) of text; *kh freed. */
static void
verdicts(const char *text, size_t len, struct tr_kh_verdict v[NHOSTS][2])
{
	struct tr_kh *kh = NULL;
	size_t h, k;

	if (tr_kh_load(text, len, &kh) != KL_OK)
		abort();
	for (h = 0; h < NHOSTS; h++)
		for (k = 0; k < 2; k++) {
			fuzz_require(tr_kh_check(kh, hosts[h].name,
			    hosts[h].port, "ssh-ed25519", keys[k].blob, KEY_LEN,
			    &v[h][k]) == KL_OK);
			fuzz_require(v[h][k].status <= TR_KH_REVOKED);
		}
	tr_kh_free(kh);
}

/* data, then for every host (or "*" alone) and key the line
 * "MARKER HOST ssh-ed25519 BASE64", each after a newline. */
static char *
append(const uint8_t *data, size_t size, const char *marker, int any_host,
    size_t *len)
{
	size_t cap = size + 4 * 256, h, k;
	char *t = malloc(cap);
	int n;

	fuzz_require(t != NULL);
	if (size > 0)
		memcpy(t, data, size);
	*len = size;
	for (h = 0; h < (any_host ? 1 : NHOSTS); h++)
		for (k = 0; k < 2; k++) {
			n = snprintf(t + *len, cap - *len,
			    "\n%s%s ssh-ed25519 %s", marker, any_host ? "*" :
			    hosts[h].host, keys[k].b64);
			fuzz_require(n > 0 && (size_t)n < cap - *len);
			*len += (size_t)n;
		}
	return t;
}

static size_t
lines_of(const uint8_t *data, size_t size)
{
	size_t i, n = 1;

	for (i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

/* REVOKED exactly when tr_kh_revoked finds the key, on a line that is. */
static void
check_revoked(const uint8_t *data, size_t size,
    struct tr_kh_verdict v[NHOSTS][2], int revoked[2])
{
	size_t h, k, line;

	for (k = 0; k < 2; k++) {
		revoked[k] = tr_kh_revoked((const char *)data, size,
		    keys[k].blob, KEY_LEN, &line);
		fuzz_require(!revoked[k] || (line >= 1 &&
		    line <= lines_of(data, size)));
		for (h = 0; h < NHOSTS; h++) {
			fuzz_require((v[h][k].status == TR_KH_REVOKED) ==
			    revoked[k]);
			fuzz_require(!revoked[k] || v[h][k].line == line);
		}
	}
}

/* Appended lines: @revoked always wins, a plain line accepts unless the
 * key is revoked, marker lines change nothing. */
static void
check_appended(const uint8_t *data, size_t size,
    struct tr_kh_verdict v[NHOSTS][2], const int revoked[2])
{
	static const char *const inert[] = { "@cert-authority ", "@frob " };
	struct tr_kh_verdict w[NHOSTS][2];
	size_t h, k, i, len;
	char *t;

	t = append(data, size, "@revoked ", 1, &len);
	verdicts(t, len, w);
	free(t);
	for (h = 0; h < NHOSTS; h++)
		for (k = 0; k < 2; k++)
			fuzz_require(w[h][k].status == TR_KH_REVOKED);
	t = append(data, size, "", 0, &len);
	verdicts(t, len, w);
	free(t);
	for (h = 0; h < NHOSTS; h++)
		for (k = 0; k < 2; k++)
			fuzz_require(w[h][k].status == (revoked[k] ?
			    TR_KH_REVOKED : TR_KH_MATCH));
	for (i = 0; i < 2; i++) {
		t = append(data, size, inert[i], 0, &len);
		verdicts(t, len, w);
		free(t);
		for (h = 0; h < NHOSTS; h++)
			for (k = 0; k < 2; k++)
				fuzz_require(w[h][k].status ==
				    v[h][k].status);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr_kh_verdict v[NHOSTS][2];
	int revoked[2];

	fuzz_init();
	if (keys[0].blob[3] == 0) {
		key_init(&keys[0], 0xa1);
		key_init(&keys[1], 0xb2);
	}
	if (size > 65536)
		return 0;	/* lines and libssh2's list: keep runs fast */
	verdicts((const char *)data, size, v);
	check_revoked(data, size, v, revoked);
	check_appended(data, size, v, revoked);
	return 0;
}
