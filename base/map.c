/* The keyed hash map (kluis/map.h). */
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/hash.h"
#include "kluis/map.h"

#define MAP_CAP_MIN 64

void
kl_map_init(struct kl_map *m, size_t key_len)
{
	memset(m, 0, sizeof(*m));
	m->key_len = key_len;
}

/* The slot holding key, or the empty slot where it would go; cap > 0. */
static size_t
slot_find(const struct kl_map *m, const uint8_t *k, const uint8_t *key,
    const uint64_t *v, size_t cap)
{
	size_t i = (size_t)kl_hash_slot(key, m->key_len) & (cap - 1);

	while (v[i] != 0 && memcmp(k + i * m->key_len, key, m->key_len) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int
map_grow(struct kl_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : MAP_CAP_MIN, i, j;
	uint8_t *k;
	uint64_t *v;

	if (m->cap > SIZE_MAX / 2 / KL_MAP_KEY_MAX)
		return KL_E_NOMEM;
	k = malloc(cap * m->key_len);
	v = calloc(cap, sizeof(*v));
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return KL_E_NOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->v[i] == 0)
			continue;
		j = slot_find(m, k, m->k + i * m->key_len, v, cap);
		memcpy(k + j * m->key_len, m->k + i * m->key_len, m->key_len);
		v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = k;
	m->v = v;
	m->cap = cap;
	return KL_OK;
}

int
kl_map_put(struct kl_map *m, const void *key, uint64_t v)
{
	size_t i;
	int rc;

	if (v == UINT64_MAX)
		return KL_E_LIMIT;
	if ((m->n + 1) * 4 > m->cap * 3 && (rc = map_grow(m)) != KL_OK)
		return rc;
	i = slot_find(m, m->k, key, m->v, m->cap);
	if (m->v[i] != 0)
		return 0;
	memcpy(m->k + i * m->key_len, key, m->key_len);
	m->v[i] = v + 1;
	m->n++;
	return 1;
}

int
kl_map_get(const struct kl_map *m, const void *key, uint64_t *v)
{
	size_t i;

	if (m->cap == 0)
		return 0;
	i = slot_find(m, m->k, key, m->v, m->cap);
	if (m->v[i] == 0)
		return 0;
	*v = m->v[i] - 1;
	return 1;
}

int
kl_map_set(struct kl_map *m, const void *key, uint64_t v)
{
	size_t i;

	if (m->cap == 0 || v == UINT64_MAX)
		return 0;
	i = slot_find(m, m->k, key, m->v, m->cap);
	if (m->v[i] == 0)
		return 0;
	m->v[i] = v + 1;
	return 1;
}

size_t
kl_map_run_max(const struct kl_map *m)
{
	size_t i, e, run = 0, max = 0;

	/* from an empty slot (the load stays under 3/4), once around */
	for (e = 0; e < m->cap && m->v[e] != 0; e++)
		;
	for (i = 1; i <= m->cap; i++) {
		if (m->v[(e + i) & (m->cap - 1)] == 0)
			run = 0;
		else if (++run > max)
			max = run;
	}
	return max;
}

void
kl_map_clear(struct kl_map *m)
{
	size_t key_len = m->key_len;

	free(m->k);
	free(m->v);
	kl_map_init(m, key_len);
}
