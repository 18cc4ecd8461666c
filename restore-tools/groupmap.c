/*
 * A uint64 -> size_t map for hard link groups (restore_internal.h) on
 * kluis/map.h's map.  Link group numbers come from trees, and a
 * backup-only key writes authentic trees with any numbers in them: the
 * map's keyed slots keep restore's and the drill's work linear in the
 * number of groups (issue #10 findings 5, 6).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/map.h"
#include "restore_internal.h"

int
rs_gmap_put(struct rs_gmap *m, uint64_t k, size_t v)
{
	uint8_t key[8];

	if (v == SIZE_MAX)
		return KL_E_LIMIT;
	if (m->m.key_len == 0)
		kl_map_init(&m->m, sizeof(key));
	kl_le64enc(key, k);
	return kl_map_put(&m->m, key, v);
}

int
rs_gmap_get(const struct rs_gmap *m, uint64_t k, size_t *v)
{
	uint8_t key[8];
	uint64_t x;

	kl_le64enc(key, k);
	if (!kl_map_get(&m->m, key, &x))
		return 0;
	*v = (size_t)x;
	return 1;
}

void
rs_gmap_clear(struct rs_gmap *m)
{
	kl_map_clear(&m->m);
}
