/*
 * A uint64 -> size_t map for hard link groups (restore_internal.h).  Link
 * group numbers come from trees, and a backup-only key writes authentic
 * trees with any numbers in them: slots come from kl_hash_slot (SipHash
 * under a key drawn per process), so an attacker cannot choose numbers
 * that share a slot, and restore's and the drill's work stays linear in
 * the number of groups (issue #10 findings 5, 6).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/hash.h"
#include "restore_internal.h"

#define GMAP_CAP_MIN 64

static size_t
slot_of(const struct rs_gmap *m, uint64_t k)
{
	unsigned char in[8];

	kl_le64enc(in, k);
	return (size_t)kl_hash_slot(in, sizeof(in)) & (m->cap - 1);
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
	memset(m, 0, sizeof(*m));
}
