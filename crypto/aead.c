/*
 * Object encryption: XChaCha20-Poly1305-IETF with the repository id, the
 * object type and the object id bound in as associated data (FORMAT.md §4).
 */
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"

/* FORMAT.md §4: AD = repository id (32) || type (1) || object id (32). */
#define AD_LEN (KL_ID_LEN + 1 + KL_ID_LEN)

_Static_assert(KL_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
    "nonce size");
_Static_assert(KL_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
    "tag size");
_Static_assert(KL_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    "key size");

static void
ad_build(uint8_t ad[AD_LEN], const struct kl_id *repo_id, uint8_t type,
    const struct kl_id *obj_id)
{
	memcpy(ad, repo_id->b, KL_ID_LEN);
	ad[KL_ID_LEN] = type;
	if (obj_id != NULL)
		memcpy(ad + KL_ID_LEN + 1, obj_id->b, KL_ID_LEN);
	else
		memset(ad + KL_ID_LEN + 1, 0, KL_ID_LEN);
}

void
kl_aead_seal_nonce(const uint8_t key[KL_KEY_LEN], const struct kl_id *repo_id,
    uint8_t type, const struct kl_id *obj_id,
    const uint8_t nonce[KL_NONCE_LEN], const uint8_t *pt, size_t pt_len,
    uint8_t *out)
{
	uint8_t ad[AD_LEN];

	ad_build(ad, repo_id, type, obj_id);
	/* memmove: kl_aead_seal passes out itself as the nonce. */
	memmove(out, nonce, KL_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + KL_NONCE_LEN, NULL,
	    pt, pt_len, ad, sizeof(ad), NULL, out, key);
}

void
kl_aead_seal(const uint8_t key[KL_KEY_LEN], const struct kl_id *repo_id,
    uint8_t type, const struct kl_id *obj_id, const uint8_t *pt,
    size_t pt_len, uint8_t *out)
{
	randombytes_buf(out, KL_NONCE_LEN);
	kl_aead_seal_nonce(key, repo_id, type, obj_id, out, pt, pt_len, out);
}

int
kl_aead_open(const uint8_t key[KL_KEY_LEN], const struct kl_id *repo_id,
    uint8_t type, const struct kl_id *obj_id, const uint8_t *ct,
    size_t ct_len, uint8_t *out)
{
	struct buf b;
	const uint8_t *nonce, *body;
	uint8_t ad[AD_LEN];
	size_t body_len;
	int r;

	if (ct_len < KL_AEAD_OVERHEAD)
		return KL_E_CORRUPT;
	buf_view_init(&b, ct, ct_len);
	body_len = ct_len - KL_NONCE_LEN;
	if ((r = buf_get_ptr(&b, KL_NONCE_LEN, &nonce)) != KL_OK ||
	    (r = buf_get_ptr(&b, body_len, &body)) != KL_OK)
		return r;
	ad_build(ad, repo_id, type, obj_id);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, body,
	    body_len, ad, sizeof(ad), nonce, key) != 0) {
		if (body_len > KL_TAG_LEN)
			sodium_memzero(out, body_len - KL_TAG_LEN);
		return KL_E_CORRUPT;
	}
	return KL_OK;
}
