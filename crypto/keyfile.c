/*
 * Key files: the repository keys wrapped under an Argon2id key-encryption
 * key, with the cleartext header as associated data (FORMAT.md §3).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"

/* FORMAT.md §3 */
#define KF_MAGIC		"KLUISKEY"
#define KF_MAGIC_LEN		8
#define KF_VERSION_1		1	/* no sign_pk */
#define KF_VERSION		2	/* written whenever sign_pk is known */
#define KF_KDF_ARGON2ID13	1
#define KF_SALT_LEN		16
#define KF_OPSLIMIT_MAX		32
#define KF_MEMLIMIT_MAX		((uint64_t)4 << 30)
#define KF_PAYLOAD_FULL		256	/* version 1 */
#define KF_PAYLOAD_BACKUP	224	/* version 1 */
#define KF_PAYLOAD_MAX		(KF_PAYLOAD_FULL + KL_KEY_LEN)
#define KF_FIXED_LEN		49	/* header up to the label */

_Static_assert(KF_SALT_LEN == crypto_pwhash_SALTBYTES, "salt size");
_Static_assert(KF_MAGIC_LEN + 2 + 1 + 1 + 4 + 8 + KF_SALT_LEN + 8 + 1 ==
    KF_FIXED_LEN, "FORMAT.md §3 header layout");
_Static_assert(KF_PAYLOAD_BACKUP == 2 * KL_ID_LEN + 5 * KL_KEY_LEN &&
    KF_PAYLOAD_FULL == KF_PAYLOAD_BACKUP + KL_KEY_LEN, "payload layout");
_Static_assert(KF_FIXED_LEN + KL_KEY_LABEL_MAX + KL_NONCE_LEN +
    KF_PAYLOAD_MAX + KL_TAG_LEN <= KL_KEYFILE_MAX, "key file limit");

/* A parsed key file; pointers point into the caller's bytes. */
struct kf_parsed {
	uint16_t version;
	uint8_t kind;
	struct kl_kdf_params kdf;
	const uint8_t *salt;
	int64_t created;
	const uint8_t *label;
	size_t label_len;
	const uint8_t *ad;	/* the cleartext header [0, 49 + L) */
	size_t ad_len;
	const uint8_t *nonce;
	const uint8_t *ct;	/* ciphertext and tag */
	size_t ct_len;
};

/* Version 2 adds sign_pk after the version-1 fields (FORMAT.md §3). */
static size_t
kf_payload_len(uint8_t kind, uint16_t version)
{
	return (kind == KL_KEY_FULL ? KF_PAYLOAD_FULL : KF_PAYLOAD_BACKUP) +
	    (version == KF_VERSION ? KL_KEY_LEN : 0);
}

/* Below the range is malformed; above it is a reader limit. */
static int
kf_check_kdf(const struct kl_kdf_params *kdf)
{
	if (kdf->opslimit < 1 || kdf->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
	    kdf->memlimit < crypto_pwhash_MEMLIMIT_MIN)
		return KL_E_CORRUPT;
	if (kdf->opslimit > KF_OPSLIMIT_MAX ||
	    kdf->memlimit > KF_MEMLIMIT_MAX ||
	    kdf->memlimit > crypto_pwhash_MEMLIMIT_MAX)
		return KL_E_LIMIT;
	return KL_OK;
}

static int64_t
kf_i64(uint64_t u)
{
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* magic, version, kind, kdf: everything that selects how to read on. */
static int
kf_parse_ident(struct buf *b, struct kf_parsed *h)
{
	const uint8_t *magic;
	uint8_t kdf;
	int r;

	if ((r = buf_get_ptr(b, KF_MAGIC_LEN, &magic)) != KL_OK ||
	    (r = buf_get_u16le(b, &h->version)) != KL_OK ||
	    (r = buf_get_u8(b, &h->kind)) != KL_OK ||
	    (r = buf_get_u8(b, &kdf)) != KL_OK)
		return r;
	if (memcmp(magic, KF_MAGIC, KF_MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if ((h->version != KF_VERSION && h->version != KF_VERSION_1) ||
	    kdf != KF_KDF_ARGON2ID13 ||
	    (h->kind != KL_KEY_FULL && h->kind != KL_KEY_BACKUP))
		return KL_E_UNSUPPORTED;
	return KL_OK;
}

static int
kf_parse_header(struct buf *b, struct kf_parsed *h)
{
	uint64_t created;
	uint8_t label_len;
	int r;

	if ((r = kf_parse_ident(b, h)) != KL_OK ||
	    (r = buf_get_u32le(b, &h->kdf.opslimit)) != KL_OK ||
	    (r = buf_get_u64le(b, &h->kdf.memlimit)) != KL_OK)
		return r;
	/* Before anything else: a caller must never hash with these. */
	if ((r = kf_check_kdf(&h->kdf)) != KL_OK)
		return r;
	if ((r = buf_get_ptr(b, KF_SALT_LEN, &h->salt)) != KL_OK ||
	    (r = buf_get_u64le(b, &created)) != KL_OK ||
	    (r = buf_get_u8(b, &label_len)) != KL_OK ||
	    (r = buf_get_ptr(b, label_len, &h->label)) != KL_OK)
		return r;
	h->created = kf_i64(created);
	h->label_len = label_len;
	if (memchr(h->label, '\0', h->label_len) != NULL)
		return KL_E_CORRUPT;
	return KL_OK;
}

/* Parses and checks the whole file except the ciphertext's contents. */
static int
kf_parse(const uint8_t *p, size_t len, struct kf_parsed *h)
{
	struct buf b;
	int r;

	memset(h, 0, sizeof(*h));
	buf_view_init(&b, p, len);
	if ((r = kf_parse_header(&b, h)) != KL_OK)
		return r;
	h->ad = buf_data(&b);
	h->ad_len = len - buf_avail(&b);
	if ((r = buf_get_ptr(&b, KL_NONCE_LEN, &h->nonce)) != KL_OK)
		return r;
	/* The file ends exactly after the tag: no short or trailing bytes. */
	h->ct_len = buf_avail(&b);
	if (h->ct_len != kf_payload_len(h->kind, h->version) + KL_TAG_LEN)
		return KL_E_CORRUPT;
	return buf_get_ptr(&b, h->ct_len, &h->ct);
}

static int
kf_derive_kek(const char *pass, size_t pass_len, const uint8_t *salt,
    const struct kl_kdf_params *kdf, uint8_t *kek)
{
	if (crypto_pwhash(kek, KL_KEY_LEN, pass_len > 0 ? pass : "", pass_len,
	    salt, kdf->opslimit, (size_t)kdf->memlimit,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		return errno == ENOMEM ? KL_E_NOMEM : KL_E_CRYPTO;
	return KL_OK;
}

/* KEK and payload plaintext: one sodium_malloc area each. */
static int
kf_secrets_new(uint8_t **kek, uint8_t **pl)
{
	*kek = sodium_malloc(KL_KEY_LEN);
	*pl = sodium_malloc(KF_PAYLOAD_MAX);
	if (*kek == NULL || *pl == NULL)
		return KL_E_NOMEM;
	return KL_OK;
}

static void
kf_secrets_free(uint8_t *kek, uint8_t *pl)
{
	if (kek != NULL) {
		sodium_memzero(kek, KL_KEY_LEN);
		sodium_free(kek);
	}
	if (pl != NULL) {
		sodium_memzero(pl, KF_PAYLOAD_MAX);
		sodium_free(pl);
	}
}

/* FORMAT.md §3 payload; box_sk only for full keys, sign_pk from
 * version 2 on. */
static void
kf_payload_put(const struct kl_keys *k, uint8_t *pl)
{
	size_t end = kf_payload_len(k->kind, KF_VERSION_1);

	memcpy(pl, k->repo_id.b, KL_ID_LEN);
	memcpy(pl + 32, k->config_hash.b, KL_ID_LEN);
	memcpy(pl + 64, k->id_key, KL_KEY_LEN);
	memcpy(pl + 96, k->chunker_key, KL_KEY_LEN);
	memcpy(pl + 128, k->index_key, KL_KEY_LEN);
	memcpy(pl + 160, k->auth_key, KL_KEY_LEN);
	memcpy(pl + 192, k->box_pk, KL_KEY_LEN);
	if (k->kind == KL_KEY_FULL)
		memcpy(pl + 224, k->box_sk, KL_KEY_LEN);
	if (k->has_sign)
		memcpy(pl + end, k->sign_pk, KL_KEY_LEN);
}

/*
 * The signing key of the payload (version 2): a full key derives its own
 * and MUST find the same public key stored; a backup-only key takes the
 * stored one.  Version 1: full keys derive, backup-only keys have none.
 */
static int
kf_sign_get(struct buf *b, uint16_t version, struct kl_keys *k)
{
	uint8_t pk[KL_KEY_LEN];
	int r;

	if (k->kind == KL_KEY_FULL && (r = kl_keys_sign_derive(k)) != KL_OK)
		return r;
	if (version == KF_VERSION_1)
		return KL_OK;
	if ((r = buf_get(b, pk, sizeof(pk))) != KL_OK)
		return r;
	if (k->kind == KL_KEY_FULL)
		return sodium_memcmp(pk, k->sign_pk, KL_KEY_LEN) == 0 ? KL_OK :
		    KL_E_CORRUPT;
	memcpy(k->sign_pk, pk, KL_KEY_LEN);
	k->has_sign = 1;
	return KL_OK;
}

static int
kf_payload_get(const uint8_t *pl, uint8_t kind, uint16_t version,
    struct kl_keys *k)
{
	struct buf b;
	int r;

	buf_view_init(&b, pl, kf_payload_len(kind, version));
	k->kind = kind;
	if ((r = buf_get(&b, k->repo_id.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_get(&b, k->config_hash.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_get(&b, k->id_key, KL_KEY_LEN)) != KL_OK ||
	    (r = buf_get(&b, k->chunker_key, KL_KEY_LEN)) != KL_OK ||
	    (r = buf_get(&b, k->index_key, KL_KEY_LEN)) != KL_OK ||
	    (r = buf_get(&b, k->auth_key, KL_KEY_LEN)) != KL_OK ||
	    (r = buf_get(&b, k->box_pk, KL_KEY_LEN)) != KL_OK)
		return r;
	if (kind == KL_KEY_FULL &&
	    (r = buf_get(&b, k->box_sk, KL_KEY_LEN)) != KL_OK)
		return r;
	return kf_sign_get(&b, version, k);
}

/* The writer refuses what a reader would refuse. */
static int
kf_seal_check(const struct kl_keys *k, const char *pass, size_t pass_len,
    const struct kl_kdf_params *kdf, const char *label)
{
	if (k->kind != KL_KEY_FULL && k->kind != KL_KEY_BACKUP)
		return KL_E_INVAL;
	if (pass == NULL && pass_len > 0)
		return KL_E_INVAL;
	if (strnlen(label, KL_KEY_LABEL_MAX + 1) > KL_KEY_LABEL_MAX)
		return KL_E_INVAL;
	if (kf_check_kdf(kdf) != KL_OK)
		return KL_E_INVAL;
	return KL_OK;
}

static int
kf_put_header(struct buf *f, uint8_t kind, uint16_t version,
    const struct kl_kdf_params *kdf, const uint8_t salt[KF_SALT_LEN],
    int64_t created, const char *label)
{
	size_t label_len = strlen(label);
	int r;

	if ((r = buf_put(f, KF_MAGIC, KF_MAGIC_LEN)) != KL_OK ||
	    (r = buf_put_u16le(f, version)) != KL_OK ||
	    (r = buf_put_u8(f, kind)) != KL_OK ||
	    (r = buf_put_u8(f, KF_KDF_ARGON2ID13)) != KL_OK ||
	    (r = buf_put_u32le(f, kdf->opslimit)) != KL_OK ||
	    (r = buf_put_u64le(f, kdf->memlimit)) != KL_OK ||
	    (r = buf_put(f, salt, KF_SALT_LEN)) != KL_OK ||
	    (r = buf_put_u64le(f, (uint64_t)created)) != KL_OK ||
	    (r = buf_put_u8(f, (uint8_t)label_len)) != KL_OK ||
	    (r = buf_put(f, label, label_len)) != KL_OK)
		return r;
	return KL_OK;
}

/* Appends nonce || AEAD(kek, pl) to f, the header already in f as AD. */
static int
kf_put_sealed(struct buf *f, const uint8_t *kek, const uint8_t *pl,
    size_t n)
{
	uint8_t nonce[KL_NONCE_LEN], *ct;
	size_t ad_len = buf_size(f);
	int r;

	randombytes_buf(nonce, sizeof(nonce));
	if ((r = buf_put(f, nonce, sizeof(nonce))) != KL_OK ||
	    (r = buf_reserve(f, n + KL_TAG_LEN, &ct)) != KL_OK)
		return r;
	/* buf_data only now: buf_reserve may have moved the storage. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, pl, n,
	    buf_data(f), ad_len, NULL, nonce, kek);
	return KL_OK;
}

int
kl_keyfile_seal(const struct kl_keys *k, const char *pass, size_t pass_len,
    const struct kl_kdf_params *kdf, int64_t created, const char *label,
    struct buf *out)
{
	struct buf *f = NULL;
	uint8_t salt[KF_SALT_LEN], *kek = NULL, *pl = NULL;
	/* a backup-only key without sign_pk can only pass on what it has */
	uint16_t version = k->has_sign ? KF_VERSION : KF_VERSION_1;
	int r;

	if (label == NULL)
		label = "";
	if ((r = kf_seal_check(k, pass, pass_len, kdf, label)) != KL_OK)
		goto out;
	if ((f = buf_new(KL_KEYFILE_MAX)) == NULL) {
		r = KL_E_NOMEM;
		goto out;
	}
	randombytes_buf(salt, sizeof(salt));
	r = kf_put_header(f, k->kind, version, kdf, salt, created, label);
	if (r != KL_OK || (r = kf_secrets_new(&kek, &pl)) != KL_OK ||
	    (r = kf_derive_kek(pass, pass_len, salt, kdf, kek)) != KL_OK)
		goto out;
	kf_payload_put(k, pl);
	if ((r = kf_put_sealed(f, kek, pl, kf_payload_len(k->kind,
	    version))) != KL_OK)
		goto out;
	/* One put: out gains the whole file or nothing. */
	r = buf_put(out, buf_data(f), buf_size(f));
out:
	kf_secrets_free(kek, pl);
	buf_free(f);
	return r;
}

int
kl_keyfile_open(const uint8_t *p, size_t len, const char *pass,
    size_t pass_len, struct kl_keys **out)
{
	struct kf_parsed h;
	struct kl_keys *k = NULL;
	uint8_t *kek = NULL, *pl = NULL;
	int r;

	*out = NULL;
	if (pass == NULL && pass_len > 0) {
		r = KL_E_INVAL;
		goto out;
	}
	if ((r = kf_parse(p, len, &h)) != KL_OK ||
	    (r = kf_secrets_new(&kek, &pl)) != KL_OK ||
	    (r = kf_derive_kek(pass, pass_len, h.salt, &h.kdf, kek)) != KL_OK)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pl, NULL, NULL, h.ct,
	    h.ct_len, h.ad, h.ad_len, h.nonce, kek) != 0) {
		r = KL_E_BADPASS;
		goto out;
	}
	if ((r = kl_keys_new(&k)) != KL_OK ||
	    (r = kf_payload_get(pl, h.kind, h.version, k)) != KL_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	kl_keys_free(k);
	kf_secrets_free(kek, pl);
	return r;
}

int
kl_keyfile_info(const uint8_t *p, size_t len, struct kl_keyfile_info *out)
{
	struct kf_parsed h;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = kf_parse(p, len, &h)) != KL_OK)
		return r;
	out->kind = h.kind;
	out->created = h.created;
	out->kdf = h.kdf;
	memcpy(out->label, h.label, h.label_len);
	out->label[h.label_len] = '\0';
	return KL_OK;
}
