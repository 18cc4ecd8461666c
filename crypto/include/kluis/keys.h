/*
 * Repository keys, key files, object encryption and session envelopes
 * (docs/FORMAT.md §3, §4, §5).  Secrets live in sodium_malloc memory and are
 * wiped on every path out.  libsodium only.
 */
#ifndef KLUIS_KEYS_H
#define KLUIS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/hash.h"

struct buf;

#define KL_KEY_LEN 32
#define KL_NONCE_LEN 24	 /* XChaCha20-Poly1305-IETF */
#define KL_TAG_LEN 16
#define KL_AEAD_OVERHEAD (KL_NONCE_LEN + KL_TAG_LEN)
#define KL_SEALED_LEN (KL_KEY_LEN + 48)	/* crypto_box_seal of a key */
#define KL_ENVELOPE_LEN (KL_SEALED_LEN + 32)	/* + keyed-hash auth tag */
#define KL_KEYFILE_MAX 4096
#define KL_KEY_LABEL_MAX 255
#define KL_SIG_LEN 64		/* Ed25519 signature (FORMAT.md §16) */
#define KL_SIGN_SK_LEN 64	/* libsodium's Ed25519 secret key */

enum kl_key_kind {
	KL_KEY_FULL = 1,	/* can do everything */
	KL_KEY_BACKUP = 2,	/* chunk, dedup, seal: cannot open sessions */
};

/* Object types bound into the AEAD associated data (FORMAT.md §4). */
enum kl_obj_type {
	KL_OBJ_DATA = 1,	/* file content chunk */
	KL_OBJ_TREE = 2,	/* directory tree object */
	KL_OBJ_DELTA = 3,	/* reserved: rdiff delta against a base chunk */
	KL_OBJ_PACK_HEADER = 16,
	KL_OBJ_INDEX = 17,
	KL_OBJ_SNAPSHOT = 18,
	KL_OBJ_LOCK = 19,
	KL_OBJ_KEYFILE = 20,
};

/* All key material of one repository; lives in sodium_malloc memory. */
struct kl_keys {
	uint8_t kind;			/* enum kl_key_kind */
	struct kl_id repo_id;		/* from config */
	struct kl_id config_hash;	/* BLAKE2b-256 of the config file */
	uint8_t id_key[KL_KEY_LEN];	/* keyed BLAKE2b-256 blob IDs */
	uint8_t chunker_key[KL_KEY_LEN]; /* chunk cut PRF */
	uint8_t index_key[KL_KEY_LEN];	/* AEAD of index and lock files */
	uint8_t auth_key[KL_KEY_LEN];	/* authenticates session envelopes */
	uint8_t box_pk[KL_KEY_LEN];	/* X25519 public: sessions seal to it */
	uint8_t box_sk[KL_KEY_LEN];	/* X25519 secret: zero in BACKUP keys */
	uint8_t has_sign;		/* sign_pk known (FORMAT.md §3.1) */
	uint8_t sign_pk[KL_KEY_LEN];	/* Ed25519 public: verifies §16 */
	uint8_t sign_sk[KL_SIGN_SK_LEN]; /* Ed25519 secret: FULL keys only,
					 * derived from box_sk */
};

/*
 * Initialises libsodium and disables core dumps for this process
 * (RLIMIT_CORE 0, PR_SET_DUMPABLE 0).  Call first in every program.
 * KL_E_CRYPTO if libsodium cannot initialise, KL_E_IO if core dumps cannot
 * be disabled.
 */
int kl_crypto_init(void);

/* Allocates zeroed key storage.  KL_E_NOMEM. */
int kl_keys_new(struct kl_keys **out);
/* Wipes and frees.  NULL-safe. */
void kl_keys_free(struct kl_keys *k);
/*
 * Derives the signing key pair of a FULL key set from its box_sk
 * (FORMAT.md §3.1) into sign_pk/sign_sk and sets has_sign.  KL_E_PERM for
 * a BACKUP key, KL_E_CRYPTO if libsodium fails.
 */
int kl_keys_sign_derive(struct kl_keys *k);
/*
 * Signatures of repository files (FORMAT.md §16): Ed25519ph over the
 * context string, the repository id and p[0, len).  kl_sig_create needs a
 * FULL key (KL_E_PERM otherwise).  kl_sig_verify: KL_OK if sig is valid
 * under k->sign_pk, KL_E_CORRUPT if not, KL_E_PERM if k has no sign_pk (a
 * backup-only key file of version 1 cannot verify anything).
 */
int kl_sig_create(const struct kl_keys *k, const uint8_t *p, size_t len,
    uint8_t sig[KL_SIG_LEN]);
int kl_sig_verify(const struct kl_keys *k, const uint8_t *p, size_t len,
    const uint8_t sig[KL_SIG_LEN]);
/* Generates a fresh FULL key set for a new repository. */
int kl_keys_generate(const struct kl_id *repo_id,
    const struct kl_id *config_hash, struct kl_keys **out);
/* Copies k into a new BACKUP key set (box_sk zeroed). KL_E_PERM if k is
 * not FULL. */
int kl_keys_derive_backup(const struct kl_keys *k, struct kl_keys **out);
/* Copies k into a new key set of the same kind. */
int kl_keys_dup(const struct kl_keys *k, struct kl_keys **out);

/* Keyed BLAKE2b-256 (id_key) of a blob's plaintext. */
void kl_blob_id(const struct kl_keys *k, const uint8_t *p, size_t len,
    struct kl_id *out);

/*
 * AEAD (FORMAT.md §4).  kl_aead_seal writes nonce || ciphertext || tag,
 * exactly pt_len + KL_AEAD_OVERHEAD bytes, to out; the nonce is random
 * (kl_aead_seal_nonce takes it, for test vectors).  The associated data is
 * repo_id || type (u8) || obj_id (zeros if obj_id is NULL).
 * kl_aead_open verifies and decrypts ct_len - KL_AEAD_OVERHEAD bytes into
 * out; KL_E_CORRUPT if ct_len < KL_AEAD_OVERHEAD or authentication fails
 * (out is then wiped).
 */
void kl_aead_seal(const uint8_t key[KL_KEY_LEN], const struct kl_id *repo_id,
    uint8_t type, const struct kl_id *obj_id, const uint8_t *pt,
    size_t pt_len, uint8_t *out);
void kl_aead_seal_nonce(const uint8_t key[KL_KEY_LEN],
    const struct kl_id *repo_id, uint8_t type, const struct kl_id *obj_id,
    const uint8_t nonce[KL_NONCE_LEN], const uint8_t *pt, size_t pt_len,
    uint8_t *out);
int kl_aead_open(const uint8_t key[KL_KEY_LEN], const struct kl_id *repo_id,
    uint8_t type, const struct kl_id *obj_id, const uint8_t *ct,
    size_t ct_len, uint8_t *out);

/*
 * Session envelopes (FORMAT.md §5): a fresh 32-byte session key sealed to
 * box_pk with crypto_box_seal, followed by keyed BLAKE2b-256(auth_key,
 * repo_id || sealed) so that the server, which knows box_pk, cannot mint
 * sessions.  kl_session_key_new returns sodium_malloc'd random key storage
 * (free with kl_session_key_free).
 * kl_envelope_seal aborts if box_pk is a low-order point (crypto_box_seal
 * refuses it; box_pk comes from an authenticated key file, so that is a
 * broken invariant).
 * kl_envelope_open: KL_E_PERM if k is a BACKUP key, KL_E_CORRUPT if the
 * tag or the seal does not verify.  session_key (KL_KEY_LEN bytes) is
 * zeroed on entry and holds the key only on success.
 */
int kl_session_key_new(uint8_t **key);
void kl_session_key_free(uint8_t *key);
void kl_envelope_seal(const struct kl_keys *k, const uint8_t *session_key,
    uint8_t out[KL_ENVELOPE_LEN]);
int kl_envelope_open(const struct kl_keys *k,
    const uint8_t env[KL_ENVELOPE_LEN], uint8_t *session_key);

/* Argon2id parameters stored in a key file. */
struct kl_kdf_params {
	uint32_t opslimit;
	uint64_t memlimit;	/* bytes */
};
/* Presets: "interactive" (libsodium INTERACTIVE), "moderate" (the default),
 * "sensitive".  KL_E_INVAL for other names. */
int kl_kdf_preset(const char *name, struct kl_kdf_params *out);

/* What a key file says about itself without the passphrase. */
struct kl_keyfile_info {
	uint8_t kind;
	int64_t created;		/* unix seconds */
	struct kl_kdf_params kdf;
	char label[KL_KEY_LABEL_MAX + 1];
};

/*
 * Key files (FORMAT.md §3).  kl_keyfile_seal wraps k under Argon2id(pass)
 * with a random salt and appends the file bytes to out.
 * kl_keyfile_open: KL_E_BADPASS when the passphrase does not open it,
 * KL_E_CORRUPT / KL_E_UNSUPPORTED for malformed or unknown files,
 * KL_E_LIMIT if the KDF parameters exceed the reader's limits (checked
 * before any hashing), KL_E_NOMEM if Argon2 cannot get its memory.
 * kl_keyfile_info parses the cleartext header only (no passphrase, no
 * decryption) but checks the whole file's structure and limits as
 * kl_keyfile_open does, with the same codes.
 * kl_keyfile_seal: KL_E_INVAL if k's kind is unknown, label is longer than
 * KL_KEY_LABEL_MAX (NULL means ""), the KDF parameters are outside the
 * reader's limits, or pass is NULL with pass_len > 0; KL_E_NOMEM, or
 * KL_E_LIMIT from out.  out gains the whole file or nothing.
 */
int kl_keyfile_seal(const struct kl_keys *k, const char *pass,
    size_t pass_len, const struct kl_kdf_params *kdf, int64_t created,
    const char *label, struct buf *out);
int kl_keyfile_open(const uint8_t *p, size_t len, const char *pass,
    size_t pass_len, struct kl_keys **out);
int kl_keyfile_info(const uint8_t *p, size_t len,
    struct kl_keyfile_info *out);

#endif
