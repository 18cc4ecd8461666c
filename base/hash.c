#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "kluis/err.h"
#include "kluis/hash.h"

_Static_assert(sizeof(struct kl_hash_state) >=
    sizeof(crypto_generichash_state), "kl_hash_state too small");

static unsigned char slot_key[crypto_shorthash_KEYBYTES];
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void
slot_key_init(void)
{
	randombytes_buf(slot_key, sizeof(slot_key));
}

uint64_t
kl_hash_slot(const void *p, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v = 0;
	size_t i;

	pthread_once(&slot_once, slot_key_init);
	crypto_shorthash(h, p, len, slot_key);
	for (i = 0; i < sizeof(h); i++)
		v |= (uint64_t)h[i] << (8 * i);
	return v;
}

void
kl_hash(const uint8_t *p, size_t len, struct kl_id *out)
{
	crypto_generichash(out->b, KL_ID_LEN, p, len, NULL, 0);
}

void
kl_hash_init(struct kl_hash_state *st)
{
	crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL,
	    0, KL_ID_LEN);
}

void
kl_hash_update(struct kl_hash_state *st, const uint8_t *p, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)st->opaque, p,
	    len);
}

void
kl_hash_final(struct kl_hash_state *st, struct kl_id *out)
{
	crypto_generichash_final((crypto_generichash_state *)st->opaque, out->b,
	    KL_ID_LEN);
}

void
kl_hex_encode(const uint8_t *p, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

void
kl_id_hex(const struct kl_id *id, char out[KL_ID_HEX_LEN + 1])
{
	kl_hex_encode(id->b, KL_ID_LEN, out);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
kl_hex64_valid(const char *s)
{
	size_t i;

	for (i = 0; i < KL_ID_HEX_LEN; i++)
		if (hexval(s[i]) < 0)
			return 0;
	return s[KL_ID_HEX_LEN] == '\0';
}

int
kl_id_parse(const char *s, struct kl_id *out)
{
	size_t i;

	if (!kl_hex64_valid(s))
		return KL_E_INVAL;
	for (i = 0; i < KL_ID_LEN; i++)
		out->b[i] = (uint8_t)(hexval(s[2 * i]) << 4 |
		    hexval(s[2 * i + 1]));
	return KL_OK;
}

int
kl_id_is_zero(const struct kl_id *id)
{
	return sodium_is_zero(id->b, KL_ID_LEN);
}

int
kl_id_eq(const struct kl_id *a, const struct kl_id *b)
{
	return sodium_memcmp(a->b, b->b, KL_ID_LEN) == 0;
}

int
kl_id_cmp(const struct kl_id *a, const struct kl_id *b)
{
	return memcmp(a->b, b->b, KL_ID_LEN);
}
