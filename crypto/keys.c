/*
 * Key sets, blob ids, session keys and session envelopes (FORMAT.md §2, §5).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <sodium.h>

#include "kluis/err.h"
#include "kluis/keys.h"

/* FORMAT.md §5: the envelope is a sealed key followed by a BLAKE2b-256 tag. */
#define ENV_TAG_LEN 32

_Static_assert(KL_SEALED_LEN == KL_KEY_LEN + crypto_box_SEALBYTES,
    "KL_SEALED_LEN does not match crypto_box_seal");
_Static_assert(KL_ENVELOPE_LEN == KL_SEALED_LEN + ENV_TAG_LEN,
    "KL_ENVELOPE_LEN does not match FORMAT.md §5");
_Static_assert(KL_KEY_LEN == crypto_box_PUBLICKEYBYTES &&
    KL_KEY_LEN == crypto_box_SECRETKEYBYTES, "X25519 key size");
_Static_assert(KL_ID_LEN == crypto_generichash_BYTES, "blob id size");

int
kl_crypto_init(void)
{
	struct rlimit rl = { 0, 0 };

	if (sodium_init() < 0)
		return KL_E_CRYPTO;
	/* A core file or a ptrace attach would expose every key we hold. */
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return KL_E_IO;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return KL_E_IO;
	return KL_OK;
}

int
kl_keys_new(struct kl_keys **out)
{
	struct kl_keys *k;

	*out = NULL;
	if ((k = sodium_malloc(sizeof(*k))) == NULL)
		return KL_E_NOMEM;
	sodium_memzero(k, sizeof(*k));
	*out = k;
	return KL_OK;
}

void
kl_keys_free(struct kl_keys *k)
{
	if (k == NULL)
		return;
	sodium_memzero(k, sizeof(*k));
	sodium_free(k);
}

int
kl_keys_generate(const struct kl_id *repo_id, const struct kl_id *config_hash,
    struct kl_keys **out)
{
	struct kl_keys *k = NULL;
	int r;

	*out = NULL;
	if ((r = kl_keys_new(&k)) != KL_OK)
		goto out;
	k->kind = KL_KEY_FULL;
	k->repo_id = *repo_id;
	k->config_hash = *config_hash;
	randombytes_buf(k->id_key, sizeof(k->id_key));
	randombytes_buf(k->chunker_key, sizeof(k->chunker_key));
	randombytes_buf(k->index_key, sizeof(k->index_key));
	randombytes_buf(k->auth_key, sizeof(k->auth_key));
	if (crypto_box_keypair(k->box_pk, k->box_sk) != 0) {
		r = KL_E_CRYPTO;
		goto out;
	}
	if ((r = kl_keys_sign_derive(k)) != KL_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	kl_keys_free(k);
	return r;
}

int
kl_keys_dup(const struct kl_keys *k, struct kl_keys **out)
{
	struct kl_keys *n = NULL;
	int r;

	*out = NULL;
	if ((r = kl_keys_new(&n)) != KL_OK)
		return r;
	memcpy(n, k, sizeof(*n));
	*out = n;
	return KL_OK;
}

int
kl_keys_derive_backup(const struct kl_keys *k, struct kl_keys **out)
{
	struct kl_keys *n = NULL;
	int r;

	*out = NULL;
	if (k->kind != KL_KEY_FULL)
		return KL_E_PERM;
	if ((r = kl_keys_dup(k, &n)) != KL_OK)
		return r;
	n->kind = KL_KEY_BACKUP;
	sodium_memzero(n->box_sk, sizeof(n->box_sk));
	sodium_memzero(n->sign_sk, sizeof(n->sign_sk));
	*out = n;
	return KL_OK;
}

void
kl_blob_id(const struct kl_keys *k, const uint8_t *p, size_t len,
    struct kl_id *out)
{
	crypto_generichash(out->b, KL_ID_LEN, p, len, k->id_key,
	    sizeof(k->id_key));
}

int
kl_session_key_new(uint8_t **key)
{
	uint8_t *s;

	*key = NULL;
	if ((s = sodium_malloc(KL_KEY_LEN)) == NULL)
		return KL_E_NOMEM;
	randombytes_buf(s, KL_KEY_LEN);
	*key = s;
	return KL_OK;
}

void
kl_session_key_free(uint8_t *key)
{
	if (key == NULL)
		return;
	sodium_memzero(key, KL_KEY_LEN);
	sodium_free(key);
}

/* FORMAT.md §5: tag = BLAKE2b-256(key = auth_key, repo_id || sealed). */
static void
envelope_tag(const struct kl_keys *k, const uint8_t sealed[KL_SEALED_LEN],
    uint8_t tag[ENV_TAG_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, k->auth_key, sizeof(k->auth_key),
	    ENV_TAG_LEN);
	crypto_generichash_update(&st, k->repo_id.b, KL_ID_LEN);
	crypto_generichash_update(&st, sealed, KL_SEALED_LEN);
	crypto_generichash_final(&st, tag, ENV_TAG_LEN);
	sodium_memzero(&st, sizeof(st));
}

void
kl_envelope_seal(const struct kl_keys *k, const uint8_t *session_key,
    uint8_t out[KL_ENVELOPE_LEN])
{
	/*
	 * crypto_box_seal fails only for a low-order box_pk.  box_pk comes
	 * from an authenticated key file, so that is a broken invariant, and
	 * writing an envelope nobody can open would lose the backup.
	 */
	if (crypto_box_seal(out, session_key, KL_KEY_LEN, k->box_pk) != 0)
		abort();
	envelope_tag(k, out, out + KL_SEALED_LEN);
}

int
kl_envelope_open(const struct kl_keys *k, const uint8_t env[KL_ENVELOPE_LEN],
    uint8_t *session_key)
{
	uint8_t tag[ENV_TAG_LEN];
	int r;

	sodium_memzero(session_key, KL_KEY_LEN);
	if (k->kind != KL_KEY_FULL) {
		r = KL_E_PERM;
		goto out;
	}
	/* Verify before opening: the server knows box_pk, not auth_key. */
	envelope_tag(k, env, tag);
	if (sodium_memcmp(tag, env + KL_SEALED_LEN, ENV_TAG_LEN) != 0) {
		r = KL_E_CORRUPT;
		goto out;
	}
	if (crypto_box_seal_open(session_key, env, KL_SEALED_LEN, k->box_pk,
	    k->box_sk) != 0) {
		sodium_memzero(session_key, KL_KEY_LEN);
		r = KL_E_CORRUPT;
		goto out;
	}
	r = KL_OK;
out:
	sodium_memzero(tag, sizeof(tag));
	return r;
}

int
kl_kdf_preset(const char *name, struct kl_kdf_params *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(name, "interactive") == 0) {
		out->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		out->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	} else if (strcmp(name, "moderate") == 0) {
		out->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
		out->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
	} else if (strcmp(name, "sensitive") == 0) {
		out->opslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
		out->memlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
	} else
		return KL_E_INVAL;
	return KL_OK;
}

/* FORMAT.md §3.1: subkey 1 of box_sk under the context "kluissig". */
#define SIGN_KDF_CTX "kluissig"
#define SIGN_KDF_ID 1
/* FORMAT.md §16: what every signature covers before the file's bytes. */
static const char sig_context[] = "kluis signed file v1";

_Static_assert(sizeof(SIGN_KDF_CTX) - 1 == crypto_kdf_CONTEXTBYTES,
    "KDF context length");
_Static_assert(KL_KEY_LEN == crypto_kdf_KEYBYTES, "KDF key size");
_Static_assert(KL_SIG_LEN == crypto_sign_BYTES &&
    KL_SIGN_SK_LEN == crypto_sign_SECRETKEYBYTES &&
    KL_KEY_LEN == crypto_sign_PUBLICKEYBYTES &&
    KL_KEY_LEN == crypto_sign_SEEDBYTES, "Ed25519 sizes");

int
kl_keys_sign_derive(struct kl_keys *k)
{
	uint8_t *seed;
	int r = KL_OK;

	if (k->kind != KL_KEY_FULL)
		return KL_E_PERM;
	if ((seed = sodium_malloc(crypto_sign_SEEDBYTES)) == NULL)
		return KL_E_NOMEM;
	if (crypto_kdf_derive_from_key(seed, crypto_sign_SEEDBYTES,
	    SIGN_KDF_ID, SIGN_KDF_CTX, k->box_sk) != 0 ||
	    crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed) != 0)
		r = KL_E_CRYPTO;
	else
		k->has_sign = 1;
	sodium_memzero(seed, crypto_sign_SEEDBYTES);
	sodium_free(seed);
	return r;
}

/* Ed25519ph state over the context, the repository id and p[0, len). */
static void
sig_state(const struct kl_keys *k, const uint8_t *p, size_t len,
    crypto_sign_state *st)
{
	crypto_sign_init(st);
	crypto_sign_update(st, (const unsigned char *)sig_context,
	    sizeof(sig_context));
	crypto_sign_update(st, k->repo_id.b, KL_ID_LEN);
	crypto_sign_update(st, p, len);
}

int
kl_sig_create(const struct kl_keys *k, const uint8_t *p, size_t len,
    uint8_t sig[KL_SIG_LEN])
{
	crypto_sign_state st;

	if (k->kind != KL_KEY_FULL || !k->has_sign)
		return KL_E_PERM;
	sig_state(k, p, len, &st);
	if (crypto_sign_final_create(&st, sig, NULL, k->sign_sk) != 0)
		return KL_E_CRYPTO;
	return KL_OK;
}

int
kl_sig_verify(const struct kl_keys *k, const uint8_t *p, size_t len,
    const uint8_t sig[KL_SIG_LEN])
{
	crypto_sign_state st;

	if (!k->has_sign)
		return KL_E_PERM;
	sig_state(k, p, len, &st);
	return crypto_sign_final_verify(&st, sig, k->sign_pk) == 0 ? KL_OK :
	    KL_E_CORRUPT;
}
