/*
 * Object identifiers and the unkeyed content hash that names repository
 * files (docs/FORMAT.md §2).  Both sides use these; the server verifies
 * every uploaded file against its name with kl_hash without any key.
 */
#ifndef KLUIS_HASH_H
#define KLUIS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define KL_ID_LEN 32
#define KL_ID_HEX_LEN 64

struct kl_id {
	uint8_t b[KL_ID_LEN];
};

/* Unkeyed BLAKE2b-256 of [p, p+len). */
void kl_hash(const uint8_t *p, size_t len, struct kl_id *out);

/* Streaming unkeyed BLAKE2b-256 (for files read in pieces). */
struct kl_hash_state {
	uint8_t opaque[384] __attribute__((aligned(64)));
};
void kl_hash_init(struct kl_hash_state *st);
void kl_hash_update(struct kl_hash_state *st, const uint8_t *p, size_t len);
void kl_hash_final(struct kl_hash_state *st, struct kl_id *out);

/* Writes 64 lowercase hex digits and a NUL into out[65]. */
/*
 * A 64-bit hash of p[0, len) keyed with a random key drawn once per
 * process (SipHash-2-4, libsodium crypto_shorthash): the slot function of
 * every hash table fed from repository or server content.  Such content is
 * chosen by whoever wrote it, and a fixed slot function (the first bytes
 * of an id, say) lets that writer make every key collide (issue #10
 * finding 5: quadratic backups).  Thread-safe.
 */
uint64_t kl_hash_slot(const void *p, size_t len);

void kl_id_hex(const struct kl_id *id, char out[KL_ID_HEX_LEN + 1]);
/* Parses exactly 64 lowercase hex digits (NUL-terminated); KL_E_INVAL else. */
int kl_id_parse(const char *s, struct kl_id *out);
/* 1 if every byte is zero. */
int kl_id_is_zero(const struct kl_id *id);
/* Constant-time equality: 1 if equal. */
int kl_id_eq(const struct kl_id *a, const struct kl_id *b);
/* memcmp-style ordering (not constant time: for sorting only). */
int kl_id_cmp(const struct kl_id *a, const struct kl_id *b);
/* 1 if s is exactly 64 lowercase hex digits. */
int kl_hex64_valid(const char *s);

/* Lowercase hex of len bytes into out[2*len+1]. */
void kl_hex_encode(const uint8_t *p, size_t len, char *out);

#endif
