/*
 * Unit tests of the crypto module: AEAD (FORMAT.md §4), key sets and session
 * envelopes (§5), key files (§3).  Key files use the cheapest Argon2id
 * parameters so the whole suite runs in seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "mutate.h"

#define VEC_AEAD	KL_VECTORS_DIR "/aead_v1.txt"
#define VEC_SIGN	KL_VECTORS_DIR "/sign_v1.txt"
#define VEC_LINE_MAX	1024
#define PT_LEN		100
#define PASS		"correct horse battery staple"
#define PASS_LEN	(sizeof(PASS) - 1)
#define LABEL		"host.example"
#define CREATED		((int64_t)1700000000)

/* FORMAT.md §3 offsets of the cleartext header fields. */
#define KF_OFF_VERSION	8
#define KF_OFF_KIND	10
#define KF_OFF_KDF	11
#define KF_OFF_OPS	12
#define KF_OFF_MEM	16
#define KF_OFF_LABEL	49

/* Flips of memlimit that stay within the reader's limits but above this
 * would make one Argon2 run cost seconds; see the open mutation test. */
#define MUT_MEM_CAP	((uint64_t)16 << 20)

static const struct kl_kdf_params test_kdf = { 1, 8192 };

/* ---- helpers ---------------------------------------------------------- */

static void
fill_id(struct kl_id *id, uint8_t seed)
{
	size_t i;

	for (i = 0; i < KL_ID_LEN; i++)
		id->b[i] = (uint8_t)(seed + i);
}

static struct kl_keys *
keys_full(void)
{
	struct kl_id repo, cfg;
	struct kl_keys *k;

	fill_id(&repo, 0x10);
	fill_id(&cfg, 0x50);
	assert_int_equal(kl_keys_generate(&repo, &cfg, &k), KL_OK);
	return k;
}

static struct kl_keys *
keys_backup(const struct kl_keys *full)
{
	struct kl_keys *k;

	assert_int_equal(kl_keys_derive_backup(full, &k), KL_OK);
	return k;
}

static struct buf *
keyfile_sealed(const struct kl_keys *k, const char *label)
{
	struct buf *b = buf_new(KL_KEYFILE_MAX);

	assert_non_null(b);
	assert_int_equal(kl_keyfile_seal(k, PASS, PASS_LEN, &test_kdf, CREATED,
	    label, b), KL_OK);
	return b;
}

/* A writable copy of a sealed key file (full key, LABEL). */
static size_t
keyfile_copy(uint8_t *out, size_t cap)
{
	struct kl_keys *k = keys_full();
	struct buf *b = keyfile_sealed(k, LABEL);
	size_t len = buf_size(b);

	assert_true(len <= cap);
	memcpy(out, buf_data(b), len);
	buf_free(b);
	kl_keys_free(k);
	return len;
}

static int
keyfile_open_rc(const uint8_t *p, size_t len)
{
	struct kl_keys *k = NULL;
	int r;

	r = kl_keyfile_open(p, len, PASS, PASS_LEN, &k);
	assert_true(r == KL_OK ? k != NULL : k == NULL);
	kl_keys_free(k);
	return r;
}

static void
assert_keys_equal(const struct kl_keys *a, const struct kl_keys *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_memory_equal(a, b, sizeof(*a));
}

/* Reads `name = hex` from vector file path into exactly len bytes. */
static void
vec_get_from(const char *path, const char *name, uint8_t *out, size_t len)
{
	char line[VEC_LINE_MAX];
	size_t nlen = strlen(name), got = 0;
	int found = 0;
	FILE *f;

	f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nlen) != 0 ||
		    strncmp(line + nlen, " = ", 3) != 0)
			continue;
		assert_int_equal(sodium_hex2bin(out, len, line + nlen + 3,
		    strcspn(line + nlen + 3, "\r\n"), NULL, &got, NULL), 0);
		found = 1;
	}
	fclose(f);
	assert_true(found);
	assert_int_equal(got, len);
}

static void
vec_get(const char *name, uint8_t *out, size_t len)
{
	vec_get_from(VEC_AEAD, name, out, len);
}

static int
group_setup(void **state)
{
	return kl_crypto_init() == KL_OK ? 0 : -1;
}

/* ---- AEAD ------------------------------------------------------------- */

struct aead_case {
	uint8_t key[KL_KEY_LEN];
	struct kl_id repo, obj;
	uint8_t pt[PT_LEN];
	uint8_t ct[PT_LEN + KL_AEAD_OVERHEAD];
	uint8_t out[PT_LEN];
};

static void
aead_case_init(struct aead_case *c)
{
	size_t i;

	randombytes_buf(c->key, sizeof(c->key));
	fill_id(&c->repo, 1);
	fill_id(&c->obj, 2);
	for (i = 0; i < PT_LEN; i++)
		c->pt[i] = (uint8_t)(i * 7);
	kl_aead_seal(c->key, &c->repo, KL_OBJ_DATA, &c->obj, c->pt, PT_LEN,
	    c->ct);
}

static int
aead_case_open(struct aead_case *c)
{
	return kl_aead_open(c->key, &c->repo, KL_OBJ_DATA, &c->obj, c->ct,
	    sizeof(c->ct), c->out);
}

static void
test_aead_round_trip(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	assert_int_equal(aead_case_open(&c), KL_OK);
	assert_memory_equal(c.out, c.pt, PT_LEN);
}

static void
test_aead_round_trip_empty_plaintext(void **state)
{
	uint8_t key[KL_KEY_LEN] = { 0 }, ct[KL_AEAD_OVERHEAD];
	struct kl_id repo;

	fill_id(&repo, 3);
	kl_aead_seal(key, &repo, KL_OBJ_LOCK, NULL, NULL, 0, ct);
	assert_int_equal(kl_aead_open(key, &repo, KL_OBJ_LOCK, NULL, ct,
	    sizeof(ct), NULL), KL_OK);
}

static void
test_aead_null_obj_id_means_zero_id(void **state)
{
	uint8_t key[KL_KEY_LEN] = { 0 }, pt[4] = { 1, 2, 3, 4 };
	uint8_t ct[sizeof(pt) + KL_AEAD_OVERHEAD], out[sizeof(pt)];
	struct kl_id repo, zero;

	fill_id(&repo, 3);
	memset(&zero, 0, sizeof(zero));
	kl_aead_seal(key, &repo, KL_OBJ_INDEX, NULL, pt, sizeof(pt), ct);
	assert_int_equal(kl_aead_open(key, &repo, KL_OBJ_INDEX, &zero, ct,
	    sizeof(ct), out), KL_OK);
	assert_memory_equal(out, pt, sizeof(pt));
}

static void
test_aead_seal_draws_fresh_nonces(void **state)
{
	struct aead_case a, b;

	aead_case_init(&a);
	memcpy(&b, &a, sizeof(b));
	kl_aead_seal(b.key, &b.repo, KL_OBJ_DATA, &b.obj, b.pt, PT_LEN, b.ct);
	assert_memory_not_equal(a.ct, b.ct, KL_NONCE_LEN);
}

static void
test_aead_open_other_repo_id_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	c.repo.b[31] ^= 1;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
}

static void
test_aead_open_other_type_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	assert_int_equal(kl_aead_open(c.key, &c.repo, KL_OBJ_TREE, &c.obj,
	    c.ct, sizeof(c.ct), c.out), KL_E_CORRUPT);
}

static void
test_aead_open_other_obj_id_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	c.obj.b[0] ^= 0x80;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
}

static void
test_aead_open_null_obj_id_for_blob_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	assert_int_equal(kl_aead_open(c.key, &c.repo, KL_OBJ_DATA, NULL, c.ct,
	    sizeof(c.ct), c.out), KL_E_CORRUPT);
}

static void
test_aead_open_flipped_nonce_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	c.ct[5] ^= 0x10;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
}

static void
test_aead_open_flipped_ciphertext_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	c.ct[KL_NONCE_LEN + PT_LEN / 2] ^= 0x01;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
}

static void
test_aead_open_flipped_tag_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	c.ct[sizeof(c.ct) - 1] ^= 0x40;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
}

static void
test_aead_open_other_key_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	c.key[0] ^= 1;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
}

static void
test_aead_open_shorter_than_overhead_is_corrupt(void **state)
{
	struct aead_case c;
	size_t len;

	aead_case_init(&c);
	for (len = 0; len < KL_AEAD_OVERHEAD; len++)
		assert_int_equal(kl_aead_open(c.key, &c.repo, KL_OBJ_DATA,
		    &c.obj, c.ct, len, c.out), KL_E_CORRUPT);
}

static void
test_aead_open_truncated_is_corrupt(void **state)
{
	struct aead_case c;

	aead_case_init(&c);
	assert_int_equal(kl_aead_open(c.key, &c.repo, KL_OBJ_DATA, &c.obj,
	    c.ct, sizeof(c.ct) - 1, c.out), KL_E_CORRUPT);
}

static void
test_aead_open_failure_wipes_output(void **state)
{
	struct aead_case c;
	uint8_t zero[PT_LEN] = { 0 };

	aead_case_init(&c);
	memset(c.out, 0xaa, sizeof(c.out));
	c.ct[sizeof(c.ct) - 1] ^= 1;
	assert_int_equal(aead_case_open(&c), KL_E_CORRUPT);
	assert_memory_equal(c.out, zero, PT_LEN);
}

/* FORMAT.md §15: the stored form of a fixed input, byte for byte. */
#define KAT_PT_LEN 42

static void
test_aead_known_answer_vector(void **state)
{
	uint8_t key[KL_KEY_LEN], nonce[KL_NONCE_LEN], type;
	uint8_t pt[KAT_PT_LEN], ad[65], want[KAT_PT_LEN + KL_AEAD_OVERHEAD];
	uint8_t got[sizeof(want)], back[KAT_PT_LEN];
	struct kl_id repo, obj;

	vec_get("key", key, sizeof(key));
	vec_get("nonce", nonce, sizeof(nonce));
	vec_get("repo_id", repo.b, sizeof(repo.b));
	vec_get("type", &type, 1);
	vec_get("obj_id", obj.b, sizeof(obj.b));
	vec_get("plaintext", pt, sizeof(pt));
	vec_get("ad", ad, sizeof(ad));
	vec_get("stored", want, sizeof(want));
	/* The file documents the AD layout; keep it honest. */
	assert_memory_equal(ad, repo.b, KL_ID_LEN);
	assert_int_equal(ad[KL_ID_LEN], type);
	assert_memory_equal(ad + KL_ID_LEN + 1, obj.b, KL_ID_LEN);
	kl_aead_seal_nonce(key, &repo, type, &obj, nonce, pt, sizeof(pt), got);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(kl_aead_open(key, &repo, type, &obj, want,
	    sizeof(want), back), KL_OK);
	assert_memory_equal(back, pt, sizeof(pt));
}

/* ---- key sets --------------------------------------------------------- */

static void
test_keys_generate_is_full_with_matching_box_keypair(void **state)
{
	struct kl_keys *k = keys_full();
	uint8_t pk[KL_KEY_LEN];
	struct kl_id repo;

	fill_id(&repo, 0x10);
	assert_int_equal(k->kind, KL_KEY_FULL);
	assert_memory_equal(k->repo_id.b, repo.b, KL_ID_LEN);
	assert_int_equal(crypto_scalarmult_base(pk, k->box_sk), 0);
	assert_memory_equal(pk, k->box_pk, KL_KEY_LEN);
	kl_keys_free(k);
}

static void
test_keys_generate_draws_fresh_keys(void **state)
{
	struct kl_keys *a = keys_full(), *b = keys_full();

	assert_memory_not_equal(a->id_key, b->id_key, KL_KEY_LEN);
	assert_memory_not_equal(a->auth_key, b->auth_key, KL_KEY_LEN);
	assert_memory_not_equal(a->box_sk, b->box_sk, KL_KEY_LEN);
	kl_keys_free(a);
	kl_keys_free(b);
}

static void
test_keys_dup_copies_everything(void **state)
{
	struct kl_keys *k = keys_full(), *d = NULL;

	assert_int_equal(kl_keys_dup(k, &d), KL_OK);
	assert_ptr_not_equal(d, k);
	assert_keys_equal(d, k);
	kl_keys_free(d);
	kl_keys_free(k);
}

static void
test_derive_backup_zeroes_box_sk_only(void **state)
{
	struct kl_keys *k = keys_full(), *b = keys_backup(k);
	uint8_t zero[KL_KEY_LEN] = { 0 };

	assert_int_equal(b->kind, KL_KEY_BACKUP);
	assert_memory_equal(b->box_sk, zero, KL_KEY_LEN);
	assert_memory_equal(b->box_pk, k->box_pk, KL_KEY_LEN);
	assert_memory_equal(b->id_key, k->id_key, KL_KEY_LEN);
	assert_memory_equal(b->auth_key, k->auth_key, KL_KEY_LEN);
	kl_keys_free(b);
	kl_keys_free(k);
}

static void
test_derive_backup_from_backup_key_is_perm(void **state)
{
	struct kl_keys *k = keys_full(), *b = keys_backup(k);
	struct kl_keys *bb = (struct kl_keys *)1;

	assert_int_equal(kl_keys_derive_backup(b, &bb), KL_E_PERM);
	assert_null(bb);
	kl_keys_free(b);
	kl_keys_free(k);
}

static void
test_keys_free_accepts_null(void **state)
{
	kl_keys_free(NULL);
	kl_session_key_free(NULL);
}

static void
test_blob_id_is_deterministic(void **state)
{
	struct kl_keys *k = keys_full();
	const uint8_t p[] = "some chunk";
	struct kl_id a, b;

	kl_blob_id(k, p, sizeof(p), &a);
	kl_blob_id(k, p, sizeof(p), &b);
	assert_memory_equal(a.b, b.b, KL_ID_LEN);
	kl_keys_free(k);
}

static void
test_blob_id_is_keyed_blake2b(void **state)
{
	struct kl_keys *k = keys_full();
	const uint8_t p[] = "some chunk";
	uint8_t want[KL_ID_LEN];
	struct kl_id id;

	kl_blob_id(k, p, sizeof(p), &id);
	crypto_generichash(want, sizeof(want), p, sizeof(p), k->id_key,
	    KL_KEY_LEN);
	assert_memory_equal(id.b, want, KL_ID_LEN);
	kl_keys_free(k);
}

static void
test_blob_id_differs_for_other_id_key(void **state)
{
	struct kl_keys *a = keys_full(), *b = NULL;
	const uint8_t p[] = "some chunk";
	struct kl_id ia, ib;

	assert_int_equal(kl_keys_dup(a, &b), KL_OK);
	b->id_key[0] ^= 1;
	kl_blob_id(a, p, sizeof(p), &ia);
	kl_blob_id(b, p, sizeof(p), &ib);
	assert_memory_not_equal(ia.b, ib.b, KL_ID_LEN);
	kl_keys_free(a);
	kl_keys_free(b);
}

static void
test_kdf_presets_match_libsodium(void **state)
{
	struct kl_kdf_params p;

	assert_int_equal(kl_kdf_preset("interactive", &p), KL_OK);
	assert_int_equal(p.opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
	assert_int_equal(p.memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
	assert_int_equal(kl_kdf_preset("moderate", &p), KL_OK);
	assert_int_equal(p.opslimit, crypto_pwhash_OPSLIMIT_MODERATE);
	assert_int_equal(p.memlimit, crypto_pwhash_MEMLIMIT_MODERATE);
	assert_int_equal(kl_kdf_preset("sensitive", &p), KL_OK);
	assert_int_equal(p.opslimit, crypto_pwhash_OPSLIMIT_SENSITIVE);
	assert_int_equal(p.memlimit, crypto_pwhash_MEMLIMIT_SENSITIVE);
}

static void
test_kdf_preset_unknown_name_is_inval(void **state)
{
	struct kl_kdf_params p;

	assert_int_equal(kl_kdf_preset("fast", &p), KL_E_INVAL);
	assert_int_equal(kl_kdf_preset("", &p), KL_E_INVAL);
	assert_int_equal(p.opslimit, 0);
	assert_int_equal(p.memlimit, 0);
}

/* ---- session envelopes ------------------------------------------------ */

static void
test_envelope_round_trip(void **state)
{
	struct kl_keys *k = keys_full();
	uint8_t env[KL_ENVELOPE_LEN], *s = NULL, *got = NULL;

	assert_int_equal(kl_session_key_new(&s), KL_OK);
	assert_int_equal(kl_session_key_new(&got), KL_OK);
	kl_envelope_seal(k, s, env);
	assert_int_equal(kl_envelope_open(k, env, got), KL_OK);
	assert_memory_equal(got, s, KL_KEY_LEN);
	kl_session_key_free(got);
	kl_session_key_free(s);
	kl_keys_free(k);
}

static void
test_envelope_sealed_by_backup_key_opens_with_full_key(void **state)
{
	struct kl_keys *k = keys_full(), *b = keys_backup(k);
	uint8_t env[KL_ENVELOPE_LEN], s[KL_KEY_LEN], got[KL_KEY_LEN];

	randombytes_buf(s, sizeof(s));
	kl_envelope_seal(b, s, env);
	assert_int_equal(kl_envelope_open(k, env, got), KL_OK);
	assert_memory_equal(got, s, KL_KEY_LEN);
	kl_keys_free(b);
	kl_keys_free(k);
}

static void
test_envelope_open_with_backup_key_is_perm(void **state)
{
	struct kl_keys *k = keys_full(), *b = keys_backup(k);
	uint8_t env[KL_ENVELOPE_LEN], s[KL_KEY_LEN], got[KL_KEY_LEN];

	randombytes_buf(s, sizeof(s));
	kl_envelope_seal(k, s, env);
	assert_int_equal(kl_envelope_open(b, env, got), KL_E_PERM);
	kl_keys_free(b);
	kl_keys_free(k);
}

/* Seals a random key with k, flips bit `bit` of the envelope, opens. */
static int
envelope_flip_open(size_t bit)
{
	struct kl_keys *k = keys_full();
	uint8_t env[KL_ENVELOPE_LEN], s[KL_KEY_LEN], got[KL_KEY_LEN];
	uint8_t zero[KL_KEY_LEN] = { 0 };
	int r;

	randombytes_buf(s, sizeof(s));
	kl_envelope_seal(k, s, env);
	env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	memset(got, 0xaa, sizeof(got));
	r = kl_envelope_open(k, env, got);
	if (r != KL_OK)
		assert_memory_equal(got, zero, KL_KEY_LEN);
	kl_keys_free(k);
	return r;
}

static void
test_envelope_flipped_tag_bit_is_corrupt(void **state)
{
	size_t bit;

	for (bit = KL_SEALED_LEN * 8; bit < KL_ENVELOPE_LEN * 8; bit += 37)
		assert_int_equal(envelope_flip_open(bit), KL_E_CORRUPT);
}

static void
test_envelope_flipped_seal_bit_is_corrupt(void **state)
{
	size_t bit;

	for (bit = 0; bit < KL_SEALED_LEN * 8; bit += 37)
		assert_int_equal(envelope_flip_open(bit), KL_E_CORRUPT);
}

static void
test_envelope_from_other_auth_key_is_corrupt(void **state)
{
	struct kl_keys *k = keys_full(), *other = NULL;
	uint8_t env[KL_ENVELOPE_LEN], s[KL_KEY_LEN], got[KL_KEY_LEN];

	/* Same box keys (the server may know box_pk), another auth_key. */
	assert_int_equal(kl_keys_dup(k, &other), KL_OK);
	randombytes_buf(other->auth_key, KL_KEY_LEN);
	randombytes_buf(s, sizeof(s));
	kl_envelope_seal(other, s, env);
	assert_int_equal(kl_envelope_open(k, env, got), KL_E_CORRUPT);
	kl_keys_free(other);
	kl_keys_free(k);
}

static void
test_envelope_from_other_repo_id_is_corrupt(void **state)
{
	struct kl_keys *k = keys_full(), *other = NULL;
	uint8_t env[KL_ENVELOPE_LEN], s[KL_KEY_LEN], got[KL_KEY_LEN];

	assert_int_equal(kl_keys_dup(k, &other), KL_OK);
	other->repo_id.b[0] ^= 1;
	randombytes_buf(s, sizeof(s));
	kl_envelope_seal(other, s, env);
	assert_int_equal(kl_envelope_open(k, env, got), KL_E_CORRUPT);
	kl_keys_free(other);
	kl_keys_free(k);
}

/* ---- key files -------------------------------------------------------- */

static void
test_keyfile_round_trip_full(void **state)
{
	struct kl_keys *k = keys_full(), *got = NULL;
	struct buf *b = keyfile_sealed(k, LABEL);

	/* version 2: sign_pk after box_sk */
	assert_int_equal(buf_size(b), 49 + strlen(LABEL) + 24 + 288 + 16);
	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), PASS,
	    PASS_LEN, &got), KL_OK);
	assert_keys_equal(got, k);
	kl_keys_free(got);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_round_trip_backup(void **state)
{
	struct kl_keys *k = keys_full(), *bk = keys_backup(k), *got = NULL;
	struct buf *b = keyfile_sealed(bk, LABEL);
	uint8_t zero[KL_KEY_LEN] = { 0 };

	assert_int_equal(buf_size(b), 49 + strlen(LABEL) + 24 + 256 + 16);
	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), PASS,
	    PASS_LEN, &got), KL_OK);
	assert_keys_equal(got, bk);
	assert_int_equal(got->kind, KL_KEY_BACKUP);
	assert_memory_equal(got->box_sk, zero, KL_KEY_LEN);
	kl_keys_free(got);
	buf_free(b);
	kl_keys_free(bk);
	kl_keys_free(k);
}

static void
test_keyfile_round_trip_empty_label_and_passphrase(void **state)
{
	struct kl_keys *k = keys_full(), *got = NULL;
	struct buf *b = buf_new(KL_KEYFILE_MAX);

	assert_int_equal(kl_keyfile_seal(k, NULL, 0, &test_kdf, CREATED, NULL,
	    b), KL_OK);
	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), "", 0,
	    &got), KL_OK);
	assert_keys_equal(got, k);
	kl_keys_free(got);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_wrong_passphrase_is_badpass(void **state)
{
	struct kl_keys *k = keys_full(), *got = (struct kl_keys *)1;
	struct buf *b = keyfile_sealed(k, LABEL);

	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), "wrong", 5,
	    &got), KL_E_BADPASS);
	assert_null(got);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_info_reads_header_without_passphrase(void **state)
{
	struct kl_keys *k = keys_full(), *bk = keys_backup(k);
	struct buf *b = keyfile_sealed(bk, LABEL);
	struct kl_keyfile_info info;

	assert_int_equal(kl_keyfile_info(buf_data(b), buf_size(b), &info),
	    KL_OK);
	assert_int_equal(info.kind, KL_KEY_BACKUP);
	assert_int_equal(info.created, CREATED);
	assert_int_equal(info.kdf.opslimit, test_kdf.opslimit);
	assert_int_equal(info.kdf.memlimit, test_kdf.memlimit);
	assert_string_equal(info.label, LABEL);
	buf_free(b);
	kl_keys_free(bk);
	kl_keys_free(k);
}

static void
test_keyfile_info_negative_created_round_trips(void **state)
{
	struct kl_keys *k = keys_full();
	struct buf *b = buf_new(KL_KEYFILE_MAX);
	struct kl_keyfile_info info;

	assert_int_equal(kl_keyfile_seal(k, PASS, PASS_LEN, &test_kdf, -5,
	    LABEL, b), KL_OK);
	assert_int_equal(kl_keyfile_info(buf_data(b), buf_size(b), &info),
	    KL_OK);
	assert_int_equal(info.created, -5);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_label_of_255_bytes_round_trips(void **state)
{
	char label[KL_KEY_LABEL_MAX + 1];
	struct kl_keys *k = keys_full();
	struct kl_keyfile_info info;
	struct buf *b;

	memset(label, 'x', KL_KEY_LABEL_MAX);
	label[KL_KEY_LABEL_MAX] = '\0';
	b = keyfile_sealed(k, label);
	assert_int_equal(kl_keyfile_info(buf_data(b), buf_size(b), &info),
	    KL_OK);
	assert_string_equal(info.label, label);
	assert_int_equal(keyfile_open_rc(buf_data(b), buf_size(b)), KL_OK);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_seal_label_over_255_bytes_is_inval(void **state)
{
	char label[KL_KEY_LABEL_MAX + 2];
	struct kl_keys *k = keys_full();
	struct buf *b = buf_new(KL_KEYFILE_MAX);

	memset(label, 'x', KL_KEY_LABEL_MAX + 1);
	label[KL_KEY_LABEL_MAX + 1] = '\0';
	assert_int_equal(kl_keyfile_seal(k, PASS, PASS_LEN, &test_kdf, CREATED,
	    label, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_seal_kdf_outside_limits_is_inval(void **state)
{
	struct kl_kdf_params ops = { 33, 8192 }, mem = { 1, 4096 };
	struct kl_keys *k = keys_full();
	struct buf *b = buf_new(KL_KEYFILE_MAX);

	assert_int_equal(kl_keyfile_seal(k, PASS, PASS_LEN, &ops, CREATED,
	    LABEL, b), KL_E_INVAL);
	assert_int_equal(kl_keyfile_seal(k, PASS, PASS_LEN, &mem, CREATED,
	    LABEL, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
	kl_keys_free(k);
}

static void
test_keyfile_label_with_nul_is_corrupt(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	struct kl_keyfile_info info;
	size_t len = keyfile_copy(f, sizeof(f));

	f[KF_OFF_LABEL + 2] = '\0';
	assert_int_equal(kl_keyfile_info(f, len, &info), KL_E_CORRUPT);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_CORRUPT);
}

static void
test_keyfile_tampered_kind_fails_open(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	f[KF_OFF_KIND] = KL_KEY_BACKUP;
	assert_int_not_equal(keyfile_open_rc(f, len), KL_OK);
}

static void
test_keyfile_tampered_opslimit_is_badpass(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	f[KF_OFF_OPS] = 2;
	assert_int_equal(keyfile_open_rc(f, len), KL_E_BADPASS);
}

static void
test_keyfile_tampered_memlimit_is_badpass(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	kl_le64enc(f + KF_OFF_MEM, 16384);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_BADPASS);
}

static void
test_keyfile_memlimit_over_4gib_is_limit(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	struct kl_keyfile_info info;
	size_t len = keyfile_copy(f, sizeof(f));

	kl_le64enc(f + KF_OFF_MEM, ((uint64_t)4 << 30) + 1);
	assert_int_equal(kl_keyfile_info(f, len, &info), KL_E_LIMIT);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_LIMIT);
	kl_le64enc(f + KF_OFF_MEM, UINT64_MAX);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_LIMIT);
}

static void
test_keyfile_memlimit_of_4gib_is_within_limits(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	struct kl_keyfile_info info;
	size_t len = keyfile_copy(f, sizeof(f));

	kl_le64enc(f + KF_OFF_MEM, (uint64_t)4 << 30);
	assert_int_equal(kl_keyfile_info(f, len, &info), KL_OK);
	assert_int_equal(info.kdf.memlimit, (uint64_t)4 << 30);
}

static void
test_keyfile_memlimit_under_8kib_is_corrupt(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	kl_le64enc(f + KF_OFF_MEM, 8191);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_CORRUPT);
}

static void
test_keyfile_opslimit_over_32_is_limit(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	kl_le32enc(f + KF_OFF_OPS, 33);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_LIMIT);
	kl_le32enc(f + KF_OFF_OPS, UINT32_MAX);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_LIMIT);
}

static void
test_keyfile_opslimit_zero_is_corrupt(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	kl_le32enc(f + KF_OFF_OPS, 0);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_CORRUPT);
}

static void
test_keyfile_unknown_version_is_unsupported(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	struct kl_keyfile_info info;
	size_t len = keyfile_copy(f, sizeof(f));

	f[KF_OFF_VERSION] = 3;
	assert_int_equal(kl_keyfile_info(f, len, &info), KL_E_UNSUPPORTED);
	assert_int_equal(keyfile_open_rc(f, len), KL_E_UNSUPPORTED);
}

static void
test_keyfile_unknown_kind_is_unsupported(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	f[KF_OFF_KIND] = 3;
	assert_int_equal(keyfile_open_rc(f, len), KL_E_UNSUPPORTED);
	f[KF_OFF_KIND] = 0;
	assert_int_equal(keyfile_open_rc(f, len), KL_E_UNSUPPORTED);
}

static void
test_keyfile_unknown_kdf_is_unsupported(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	f[KF_OFF_KDF] = 2;
	assert_int_equal(keyfile_open_rc(f, len), KL_E_UNSUPPORTED);
}

static void
test_keyfile_bad_magic_is_corrupt(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f));

	f[0] = 'k';
	assert_int_equal(keyfile_open_rc(f, len), KL_E_CORRUPT);
}

static void
test_keyfile_trailing_byte_is_corrupt(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	struct kl_keyfile_info info;
	size_t len = keyfile_copy(f, sizeof(f));

	f[len] = 0;
	assert_int_equal(kl_keyfile_info(f, len + 1, &info), KL_E_CORRUPT);
	assert_int_equal(keyfile_open_rc(f, len + 1), KL_E_CORRUPT);
}

static void
test_keyfile_failed_info_clears_output(void **state)
{
	struct kl_keyfile_info info;

	memset(&info, 0xaa, sizeof(info));
	assert_int_equal(kl_keyfile_info((const uint8_t *)"KLUISKEY", 8,
	    &info), KL_E_CORRUPT);
	assert_int_equal(info.kind, 0);
	assert_int_equal(info.label[0], '\0');
}

/* Parser results a mutation may produce; anything else is a bug. */
static int
keyfile_rc_expected(int r)
{
	return r == KL_E_CORRUPT || r == KL_E_UNSUPPORTED || r == KL_E_LIMIT ||
	    r == KL_E_BADPASS;
}

struct mut_stats {
	size_t odd_rc;		/* results other than the expected errors */
	size_t skipped;		/* costly-KDF flips not opened */
};

static int
mut_info(const uint8_t *p, size_t len, void *arg)
{
	struct mut_stats *st = arg;
	struct kl_keyfile_info info;
	int r;

	r = kl_keyfile_info(p, len, &info);
	if (r != KL_OK && (!keyfile_rc_expected(r) || r == KL_E_BADPASS))
		st->odd_rc++;
	if (r == KL_OK && strlen(info.label) > KL_KEY_LABEL_MAX)
		st->odd_rc++;
	return r;
}

static void
test_keyfile_info_rejects_every_truncation(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f)), flips_ok;
	struct mut_stats st = { 0, 0 };

	assert_int_equal(mutate_run(f, len, mut_info, &st, &flips_ok), 0);
	assert_int_equal(st.odd_rc, 0);
	/* info authenticates nothing: flips in salt, created, label, nonce
	 * and ciphertext are accepted; the rest of the header is checked. */
	assert_true(flips_ok > 0 && flips_ok < len * 8);
}

/*
 * Every flip must make open fail.  A flip in memlimit that stays within
 * the 4 GiB reader limit but exceeds MUT_MEM_CAP would cost seconds of
 * Argon2 each; those are not opened but counted (bits 24..31 of the 8192
 * memlimit: exactly 8), and test_keyfile_tampered_memlimit_is_badpass
 * covers that class.  Flips that leave the limits fail before any hashing.
 */
static int
mut_open(const uint8_t *p, size_t len, void *arg)
{
	struct mut_stats *st = arg;
	struct kl_keyfile_info info;
	int r;

	if (kl_keyfile_info(p, len, &info) == KL_OK &&
	    info.kdf.memlimit > MUT_MEM_CAP) {
		st->skipped++;
		return KL_E_LIMIT;
	}
	r = keyfile_open_rc(p, len);
	if (r != KL_OK && !keyfile_rc_expected(r))
		st->odd_rc++;
	return r;
}

static void
test_keyfile_open_rejects_every_truncation_and_bit_flip(void **state)
{
	uint8_t f[KL_KEYFILE_MAX];
	size_t len = keyfile_copy(f, sizeof(f)), flips_ok = 1;
	struct mut_stats st = { 0, 0 };

	assert_int_equal(mutate_run(f, len, mut_open, &st, &flips_ok), 0);
	assert_int_equal(flips_ok, 0);
	assert_int_equal(st.odd_rc, 0);
	assert_int_equal(st.skipped, 8);
}

/* ---- signing keys and signatures (FORMAT.md §3.1, §16) -------------- */

static void
test_sign_known_answer_vector(void **state)
{
	uint8_t pk[KL_KEY_LEN], sig[KL_SIG_LEN], got[KL_SIG_LEN], msg[48];
	struct kl_keys *k = NULL;

	assert_int_equal(kl_keys_new(&k), KL_OK);
	k->kind = KL_KEY_FULL;
	vec_get_from(VEC_SIGN, "box_sk", k->box_sk, KL_KEY_LEN);
	vec_get_from(VEC_SIGN, "repo_id", k->repo_id.b, KL_ID_LEN);
	vec_get_from(VEC_SIGN, "sign_pk", pk, sizeof(pk));
	vec_get_from(VEC_SIGN, "message", msg, sizeof(msg));
	vec_get_from(VEC_SIGN, "signature", sig, sizeof(sig));
	assert_int_equal(kl_keys_sign_derive(k), KL_OK);
	assert_memory_equal(k->sign_pk, pk, sizeof(pk));
	assert_int_equal(kl_sig_create(k, msg, sizeof(msg), got), KL_OK);
	assert_memory_equal(got, sig, sizeof(sig));
	assert_int_equal(kl_sig_verify(k, msg, sizeof(msg), sig), KL_OK);
	kl_keys_free(k);
}

static void
test_sig_verifies_with_backup_key_and_binds_everything(void **state)
{
	struct kl_keys *k = keys_full(), *bk = keys_backup(k);
	uint8_t msg[100], sig[KL_SIG_LEN];

	randombytes_buf(msg, sizeof(msg));
	assert_int_equal(kl_sig_create(k, msg, sizeof(msg), sig), KL_OK);
	assert_true(bk->has_sign);
	assert_int_equal(kl_sig_verify(bk, msg, sizeof(msg), sig), KL_OK);
	/* a backup-only key cannot sign */
	assert_int_equal(kl_sig_create(bk, msg, sizeof(msg), sig), KL_E_PERM);
	msg[99] ^= 1;
	assert_int_equal(kl_sig_verify(bk, msg, sizeof(msg), sig),
	    KL_E_CORRUPT);
	msg[99] ^= 1;
	assert_int_equal(kl_sig_verify(bk, msg, sizeof(msg) - 1, sig),
	    KL_E_CORRUPT);
	/* another repository's id */
	bk->repo_id.b[0] ^= 1;
	assert_int_equal(kl_sig_verify(bk, msg, sizeof(msg), sig),
	    KL_E_CORRUPT);
	/* without sign_pk nothing can be verified */
	bk->has_sign = 0;
	assert_int_equal(kl_sig_verify(bk, msg, sizeof(msg), sig), KL_E_PERM);
	kl_keys_free(bk);
	kl_keys_free(k);
}

/* A backup-only key set without sign_pk is written as version 1 and
 * opens without it; a full one derives it whatever the version. */
static void
test_keyfile_version1_round_trips(void **state)
{
	struct kl_keys *k = keys_full(), *bk = keys_backup(k), *got = NULL;
	struct buf *b;
	uint8_t pk[KL_KEY_LEN];

	bk->has_sign = 0;
	sodium_memzero(bk->sign_pk, sizeof(bk->sign_pk));
	b = keyfile_sealed(bk, LABEL);
	assert_int_equal(buf_size(b), 49 + strlen(LABEL) + 24 + 224 + 16);
	assert_int_equal(buf_data(b)[KF_OFF_VERSION], 1);
	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), PASS,
	    PASS_LEN, &got), KL_OK);
	assert_false(got->has_sign);
	kl_keys_free(got);
	buf_free(b);

	memcpy(pk, k->sign_pk, sizeof(pk));
	k->has_sign = 0;
	b = keyfile_sealed(k, LABEL);
	assert_int_equal(buf_data(b)[KF_OFF_VERSION], 1);
	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), PASS,
	    PASS_LEN, &got), KL_OK);
	assert_true(got->has_sign);
	assert_memory_equal(got->sign_pk, pk, sizeof(pk));
	kl_keys_free(got);
	buf_free(b);
	kl_keys_free(bk);
	kl_keys_free(k);
}

/* A full key file whose stored sign_pk is not the one its box_sk
 * derives is corrupt: it would make other hosts trust another signer. */
static void
test_keyfile_full_with_foreign_sign_pk_is_corrupt(void **state)
{
	struct kl_keys *k = keys_full(), *got = NULL;
	struct buf *b;

	k->sign_pk[0] ^= 1;
	b = keyfile_sealed(k, LABEL);
	assert_int_equal(kl_keyfile_open(buf_data(b), buf_size(b), PASS,
	    PASS_LEN, &got), KL_E_CORRUPT);
	assert_null(got);
	buf_free(b);
	kl_keys_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_known_answer_vector),
		cmocka_unit_test(test_sig_verifies_with_backup_key_and_binds_everything),
		cmocka_unit_test(test_keyfile_version1_round_trips),
		cmocka_unit_test(test_keyfile_full_with_foreign_sign_pk_is_corrupt),
		cmocka_unit_test(test_aead_round_trip),
		cmocka_unit_test(test_aead_round_trip_empty_plaintext),
		cmocka_unit_test(test_aead_null_obj_id_means_zero_id),
		cmocka_unit_test(test_aead_seal_draws_fresh_nonces),
		cmocka_unit_test(test_aead_open_other_repo_id_is_corrupt),
		cmocka_unit_test(test_aead_open_other_type_is_corrupt),
		cmocka_unit_test(test_aead_open_other_obj_id_is_corrupt),
		cmocka_unit_test(
		    test_aead_open_null_obj_id_for_blob_is_corrupt),
		cmocka_unit_test(test_aead_open_flipped_nonce_is_corrupt),
		cmocka_unit_test(test_aead_open_flipped_ciphertext_is_corrupt),
		cmocka_unit_test(test_aead_open_flipped_tag_is_corrupt),
		cmocka_unit_test(test_aead_open_other_key_is_corrupt),
		cmocka_unit_test(
		    test_aead_open_shorter_than_overhead_is_corrupt),
		cmocka_unit_test(test_aead_open_truncated_is_corrupt),
		cmocka_unit_test(test_aead_open_failure_wipes_output),
		cmocka_unit_test(test_aead_known_answer_vector),
		cmocka_unit_test(
		    test_keys_generate_is_full_with_matching_box_keypair),
		cmocka_unit_test(test_keys_generate_draws_fresh_keys),
		cmocka_unit_test(test_keys_dup_copies_everything),
		cmocka_unit_test(test_derive_backup_zeroes_box_sk_only),
		cmocka_unit_test(test_derive_backup_from_backup_key_is_perm),
		cmocka_unit_test(test_keys_free_accepts_null),
		cmocka_unit_test(test_blob_id_is_deterministic),
		cmocka_unit_test(test_blob_id_is_keyed_blake2b),
		cmocka_unit_test(test_blob_id_differs_for_other_id_key),
		cmocka_unit_test(test_kdf_presets_match_libsodium),
		cmocka_unit_test(test_kdf_preset_unknown_name_is_inval),
		cmocka_unit_test(test_envelope_round_trip),
		cmocka_unit_test(
		    test_envelope_sealed_by_backup_key_opens_with_full_key),
		cmocka_unit_test(test_envelope_open_with_backup_key_is_perm),
		cmocka_unit_test(test_envelope_flipped_tag_bit_is_corrupt),
		cmocka_unit_test(test_envelope_flipped_seal_bit_is_corrupt),
		cmocka_unit_test(test_envelope_from_other_auth_key_is_corrupt),
		cmocka_unit_test(test_envelope_from_other_repo_id_is_corrupt),
		cmocka_unit_test(test_keyfile_round_trip_full),
		cmocka_unit_test(test_keyfile_round_trip_backup),
		cmocka_unit_test(
		    test_keyfile_round_trip_empty_label_and_passphrase),
		cmocka_unit_test(test_keyfile_wrong_passphrase_is_badpass),
		cmocka_unit_test(
		    test_keyfile_info_reads_header_without_passphrase),
		cmocka_unit_test(
		    test_keyfile_info_negative_created_round_trips),
		cmocka_unit_test(test_keyfile_label_of_255_bytes_round_trips),
		cmocka_unit_test(
		    test_keyfile_seal_label_over_255_bytes_is_inval),
		cmocka_unit_test(test_keyfile_seal_kdf_outside_limits_is_inval),
		cmocka_unit_test(test_keyfile_label_with_nul_is_corrupt),
		cmocka_unit_test(test_keyfile_tampered_kind_fails_open),
		cmocka_unit_test(test_keyfile_tampered_opslimit_is_badpass),
		cmocka_unit_test(test_keyfile_tampered_memlimit_is_badpass),
		cmocka_unit_test(test_keyfile_memlimit_over_4gib_is_limit),
		cmocka_unit_test(
		    test_keyfile_memlimit_of_4gib_is_within_limits),
		cmocka_unit_test(test_keyfile_memlimit_under_8kib_is_corrupt),
		cmocka_unit_test(test_keyfile_opslimit_over_32_is_limit),
		cmocka_unit_test(test_keyfile_opslimit_zero_is_corrupt),
		cmocka_unit_test(test_keyfile_unknown_version_is_unsupported),
		cmocka_unit_test(test_keyfile_unknown_kind_is_unsupported),
		cmocka_unit_test(test_keyfile_unknown_kdf_is_unsupported),
		cmocka_unit_test(test_keyfile_bad_magic_is_corrupt),
		cmocka_unit_test(test_keyfile_trailing_byte_is_corrupt),
		cmocka_unit_test(test_keyfile_failed_info_clears_output),
		cmocka_unit_test(test_keyfile_info_rejects_every_truncation),
		cmocka_unit_test(
		    test_keyfile_open_rejects_every_truncation_and_bit_flip),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
