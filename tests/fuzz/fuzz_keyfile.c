/*
 * Key files (FORMAT.md §3).  kl_keyfile_info on any input; where it fails
 * kl_keyfile_open must fail with the same code (before any hashing).
 * Where the header asks for a tiny Argon2id (the seeds do), the file is
 * opened with FUZZ_PASS; keys that open are sealed again under the same
 * header fields and must open to the same keys.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"

#include "fuzz.h"

static void
check_reseal(const struct kl_keys *k, const struct kl_keyfile_info *info)
{
	struct kl_keyfile_info info2;
	struct kl_keys *k2 = NULL;
	struct buf *b = buf_new(KL_KEYFILE_MAX);

	fuzz_require(b != NULL);
	fuzz_require(kl_keyfile_seal(k, FUZZ_PASS, FUZZ_PASS_LEN, &info->kdf,
	                 info->created, info->label, b) == KL_OK);
	fuzz_require(
	    kl_keyfile_info(buf_data(b), buf_size(b), &info2) == KL_OK);
	fuzz_require(memcmp(info, &info2, sizeof(info2)) == 0);
	fuzz_require(kl_keyfile_open(buf_data(b), buf_size(b), FUZZ_PASS,
	                 FUZZ_PASS_LEN, &k2) == KL_OK);
	fuzz_require(sodium_memcmp(k, k2, sizeof(*k)) == 0);
	kl_keys_free(k2);
	buf_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_keyfile_info info;
	struct kl_keys *k = NULL;
	int r;

	fuzz_init();
	if ((r = kl_keyfile_info(data, size, &info)) != KL_OK) {
		fuzz_require(kl_keyfile_open(data, size, FUZZ_PASS,
		                 FUZZ_PASS_LEN, &k) == r &&
		             k == NULL);
		return 0;
	}
	fuzz_require(info.kind == KL_KEY_FULL || info.kind == KL_KEY_BACKUP);
	fuzz_require(strlen(info.label) <= KL_KEY_LABEL_MAX);
	if (info.kdf.opslimit > FUZZ_KDF_OPS_MAX ||
	    info.kdf.memlimit > FUZZ_KDF_MEM_MAX)
		return 0;
	r = kl_keyfile_open(data, size, FUZZ_PASS, FUZZ_PASS_LEN, &k);
	if (r != KL_OK) {
		fuzz_require(r == KL_E_BADPASS && k == NULL);
		return 0;
	}
	fuzz_require(k->kind == info.kind);
	check_reseal(k, &info);
	kl_keys_free(k);
	return 0;
}
