/*
 * Object AEAD and session envelopes (FORMAT.md §4, §5).
 * Input: key (32), nonce (24), object type (1), flags (1), plaintext (the
 * rest); a short input is padded with zeros.  Seal then open gives back
 * the plaintext; a flipped bit, another type or another key makes open
 * fail and wipe its output; the input itself, opened as ciphertext, must
 * not crash.  With FUZZ_AEAD_F_ENVELOPE a session envelope made with
 * fresh keys round-trips, and the input opened as an envelope fails.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/err.h"
#include "kluis/hash.h"
#include "kluis/keys.h"

#include "fuzz.h"

struct aead_in {
	uint8_t key[KL_KEY_LEN];
	uint8_t nonce[KL_NONCE_LEN];
	uint8_t type, flags;
	struct kl_id repo_id, obj_id;
	const struct kl_id *obj;
	const uint8_t *pt;
	size_t pt_len;
};

static void
aead_in_parse(const uint8_t *data, size_t size, struct aead_in *in)
{
	uint8_t hdr[FUZZ_AEAD_HDR_LEN] = {0};
	size_t n = size < sizeof(hdr) ? size : sizeof(hdr);

	if (n > 0)
		memcpy(hdr, data, n);
	memcpy(in->key, hdr, KL_KEY_LEN);
	memcpy(in->nonce, hdr + KL_KEY_LEN, KL_NONCE_LEN);
	in->type = hdr[KL_KEY_LEN + KL_NONCE_LEN];
	in->flags = hdr[KL_KEY_LEN + KL_NONCE_LEN + 1];
	kl_hash(in->nonce, KL_NONCE_LEN, &in->repo_id);
	kl_hash(in->key, KL_KEY_LEN, &in->obj_id);
	in->obj = in->flags & FUZZ_AEAD_F_OBJ_ID ? &in->obj_id : NULL;
	in->pt = data + n;
	in->pt_len = size - n;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Open must fail with KL_E_CORRUPT and leave out wiped. */
static void
require_open_fails(const uint8_t *key, const struct aead_in *in, uint8_t type,
    const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	size_t pt_len = ct_len - KL_AEAD_OVERHEAD;

	memset(out, 0xa5, pt_len);
	fuzz_require(kl_aead_open(key, &in->repo_id, type, in->obj, ct, ct_len,
	                 out) == KL_E_CORRUPT);
	fuzz_require(all_zero(out, pt_len));
}

static void
check_tampering(
    const struct aead_in *in, uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t key2[KL_KEY_LEN];
	size_t bit = ((size_t)in->flags << 8 | in->key[0]) % (ct_len * 8);

	ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	require_open_fails(in->key, in, in->type, ct, ct_len, out);
	ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	require_open_fails(
	    in->key, in, (uint8_t)(in->type + 1), ct, ct_len, out);
	memcpy(key2, in->key, sizeof(key2));
	key2[KL_KEY_LEN - 1] ^= 0x80;
	require_open_fails(key2, in, in->type, ct, ct_len, out);
}

static void
check_round_trip(const struct aead_in *in)
{
	size_t ct_len = in->pt_len + KL_AEAD_OVERHEAD;
	uint8_t *ct = malloc(ct_len), *out = malloc(in->pt_len + 1);

	fuzz_require(ct != NULL && out != NULL);
	kl_aead_seal_nonce(in->key, &in->repo_id, in->type, in->obj, in->nonce,
	    in->pt, in->pt_len, ct);
	fuzz_require(memcmp(ct, in->nonce, KL_NONCE_LEN) == 0);
	fuzz_require(kl_aead_open(in->key, &in->repo_id, in->type, in->obj, ct,
	                 ct_len, out) == KL_OK);
	fuzz_require(in->pt_len == 0 || memcmp(out, in->pt, in->pt_len) == 0);
	check_tampering(in, ct, ct_len, out);
	/* The random-nonce variant opens too. */
	kl_aead_seal(
	    in->key, &in->repo_id, in->type, in->obj, in->pt, in->pt_len, ct);
	fuzz_require(kl_aead_open(in->key, &in->repo_id, in->type, in->obj, ct,
	                 ct_len, out) == KL_OK);
	fuzz_require(in->pt_len == 0 || memcmp(out, in->pt, in->pt_len) == 0);
	free(out);
	free(ct);
}

/* The input opened as ciphertext under its own key: no crash. */
static void
check_open_input(const struct aead_in *in, const uint8_t *data, size_t size)
{
	uint8_t *out, none[1];

	if (size < KL_AEAD_OVERHEAD) {
		fuzz_require(kl_aead_open(in->key, &in->repo_id, in->type,
		                 in->obj, data, size, none) == KL_E_CORRUPT);
		return;
	}
	out = malloc(size - KL_AEAD_OVERHEAD + 1);
	fuzz_require(out != NULL);
	(void)kl_aead_open(
	    in->key, &in->repo_id, in->type, in->obj, data, size, out);
	free(out);
}

static void
check_envelope(const struct aead_in *in, const uint8_t *data, size_t size)
{
	struct kl_keys *k = NULL, *bk = NULL;
	uint8_t env[KL_ENVELOPE_LEN], sk[KL_KEY_LEN];

	fuzz_require(kl_keys_generate(&in->repo_id, &in->obj_id, &k) == KL_OK);
	kl_envelope_seal(k, in->key, env);
	fuzz_require(kl_envelope_open(k, env, sk) == KL_OK);
	fuzz_require(sodium_memcmp(sk, in->key, KL_KEY_LEN) == 0);
	fuzz_require(kl_keys_derive_backup(k, &bk) == KL_OK);
	fuzz_require(kl_envelope_open(bk, env, sk) == KL_E_PERM);
	fuzz_require(all_zero(sk, sizeof(sk)));
	if (size >= KL_ENVELOPE_LEN) {
		fuzz_require(kl_envelope_open(k, data, sk) == KL_E_CORRUPT);
		fuzz_require(all_zero(sk, sizeof(sk)));
	}
	kl_keys_free(bk);
	kl_keys_free(k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aead_in in;

	fuzz_init();
	aead_in_parse(data, size, &in);
	check_round_trip(&in);
	check_open_input(&in, data, size);
	if (in.flags & FUZZ_AEAD_F_ENVELOPE)
		check_envelope(&in, data, size);
	return 0;
}
