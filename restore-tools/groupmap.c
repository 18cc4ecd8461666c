/*
 * A uint64 -> size_t map for hard link groups (restore_internal.h).  Link
 * group numbers come from trees, and a backup-only key writes authentic
 * trees with any numbers in them: slots are SipHash-2-4 (libsodium
 * crypto_shorthash) of the key under a random key of the map's own, so an
 * attacker cannot choose numbers that share a slot, and restore's and the
 * drill's work stays linear in the number of groups (issue #10 finding 6).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "restore_internal.h"

#define GMAP_CAP_MIN 64

_Static_assert(sizeof(((struct rs_gmap *)0)->key) ==
    crypto_shorthash_KEYBYTES, "rs_gmap key is a SipHash key");

static size_t
slot_of(const struct rs_gmap *m, uint64_t k)
{
	unsigned char in[8], h[crypto_shorthash_BYTES];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(k >> (8 * i));
	crypto_shorthash(h, in, sizeof(in), m->key);
	return (size_t)kl_le64dec(h) & (m->cap - 1);
}

static size_t
slot_find(const struct rs_gmap *m, uint64_t k)
{
	size_t i;

	for (i = slot_of(m, k); m->v[i] != 0 && m->k[i] != k;
	    i = (i + 1) & (m->cap - 1))
		;
	return i;
}

static int
gmap_grow(struct rs_gmap *m)
{
	struct rs_gmap n;
	size_t i, j;

	memcpy(n.key, m->key, sizeof(n.key));
	n.cap = m->cap ? m->cap * 2 : GMAP_CAP_MIN;
	n.n = m->n;
	n.k = malloc(n.cap * sizeof(*n.k));
	n.v = calloc(n.cap, sizeof(*n.v));
	if (n.k == NULL || n.v == NULL) {
		free(n.k);
		free(n.v);
		return KL_E_NOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->v[i] == 0)
			continue;
		j = slot_find(&n, m->k[i]);
		n.k[j] = m->k[i];
		n.v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	*m = n;
	return KL_OK;
}

int
rs_gmap_put(struct rs_gmap *m, uint64_t k, size_t v)
{
	size_t i;
	int rc;

	if (v == SIZE_MAX)
		return KL_E_LIMIT;
	if (m->cap == 0)
		randombytes_buf(m->key, sizeof(m->key));
	if ((m->n + 1) * 4 > m->cap * 3 && (rc = gmap_grow(m)) != KL_OK)
		return rc;
	i = slot_find(m, k);
	if (m->v[i] != 0)
		return 0;
	m->k[i] = k;
	m->v[i] = v + 1;
	m->n++;
	return 1;
}

int
rs_gmap_get(const struct rs_gmap *m, uint64_t k, size_t *v)
{
	size_t i;

	if (m->cap == 0)
		return 0;
	i = slot_find(m, k);
	if (m->v[i] == 0)
		return 0;
	*v = m->v[i] - 1;
	return 1;
}

void
rs_gmap_clear(struct rs_gmap *m)
{
	free(m->k);
	free(m->v);
	sodium_memzero(m, sizeof(*m));
}
