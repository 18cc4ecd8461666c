/*
 * The one hash map kluis keeps of keys that come from a repository, a
 * server or a tree (issue #12): fixed-length keys (a blob or pack id, a
 * 64-bit number) to 64-bit values, open addressing, at most 3/4 full,
 * doubling from 64 slots.  Slots come from kl_hash_slot (SipHash under a
 * key drawn per process), so whoever writes the keys cannot make them
 * share a slot: work stays linear in the number of keys (issue #10
 * findings 5 and 6).  Not thread-safe.
 */
#ifndef KLUIS_MAP_H
#define KLUIS_MAP_H

#include <stddef.h>
#include <stdint.h>

#define KL_MAP_KEY_MAX 32

struct kl_map {
	uint8_t *k;		/* cap keys of key_len bytes */
	uint64_t *v;		/* value + 1; 0: an empty slot */
	size_t cap, n, key_len;
};

/* An empty map of keys of key_len bytes (1..KL_MAP_KEY_MAX); it
 * allocates nothing until the first put. */
void kl_map_init(struct kl_map *m, size_t key_len);
/*
 * Adds key -> v: 1 if added, 0 if key was there (its value unchanged),
 * KL_E_LIMIT for v == UINT64_MAX, KL_E_NOMEM (the map unchanged).
 */
int kl_map_put(struct kl_map *m, const void *key, uint64_t v);
/* 1 and *v if key is there, else 0 (*v untouched). */
int kl_map_get(const struct kl_map *m, const void *key, uint64_t *v);
/* Gives a key that is there the value v (< UINT64_MAX): 1, or 0 if the
 * key is not there (nothing added). */
int kl_map_set(struct kl_map *m, const void *key, uint64_t v);
/* The longest run of occupied slots: what a lookup may have to probe
 * (tests check that keys an attacker chooses do not pile up). */
size_t kl_map_run_max(const struct kl_map *m);
/* Frees the map; it is empty and initialised for the same key length. */
void kl_map_clear(struct kl_map *m);

#endif
