/*
 * Shared by the libFuzzer targets, their replay driver and the seed
 * generator (docs/TESTING.md "Fuzzing").  Only static inline helpers and
 * macros: each target defines LLVMFuzzerTestOneInput and nothing else.
 */
#ifndef KLUIS_FUZZ_H
#define KLUIS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/buf.h"

/* The passphrase of the key-file seeds; fuzz_keyfile opens with it. */
#define FUZZ_PASS "kluis-fuzz"
#define FUZZ_PASS_LEN (sizeof(FUZZ_PASS) - 1)

/* fuzz_keyfile opens a key file only under these (Argon2id is slow). */
#define FUZZ_KDF_OPS_MAX 2
#define FUZZ_KDF_MEM_MAX 65536

/* fuzz_aead input: key, nonce, AEAD type, flags, then the plaintext. */
#define FUZZ_AEAD_HDR_LEN (32 + 24 + 1 + 1)
#define FUZZ_AEAD_F_OBJ_ID 0x01 /* bind an object ID */
#define FUZZ_AEAD_F_ENVELOPE 0x02 /* also a session envelope trip */

/* fuzz_chunker input: avg step, max step, key byte, 8-byte split seed. */
#define FUZZ_CHUNKER_HDR_LEN 11

/* fuzz_pack_header input: u64le header offset H, then the header. */
#define FUZZ_PACK_HDR_OFF_LEN 8

/* fuzz_serve input: one mode byte, then the client's byte stream.  Role =
 * mode & ROLE_MASK (enum kl_store_role, 3 the replica); NO_REPO: the repository
 * does not exist (so CREATE can make it). */
#define FUZZ_SERVE_ROLE_MASK 0x03
#define FUZZ_SERVE_NO_REPO 0x04

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libsodium must be initialised before the crypto and chunker code runs;
 * sodium_init is idempotent, the flag only saves the call. */
static inline void
fuzz_init(void)
{
	static int done;

	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	done = 1;
}

/* Where targets that work on files make their sandbox: tmpfs when there
 * is one (the code under test fsyncs), else $TMPDIR or /tmp. */
static inline const char *
fuzz_scratch_base(void)
{
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
}

/* A check failed: crash so that libFuzzer and the replay report it. */
static inline void
fuzz_require(int cond)
{
	if (!cond)
		abort();
}

static inline struct buf *
fuzz_buf_new(void)
{
	struct buf *b = buf_new(BUF_MAX_DEFAULT);

	fuzz_require(b != NULL);
	return b;
}

/* 1 if b holds exactly p[0, len). */
static inline int
fuzz_buf_eq(const struct buf *b, const uint8_t *p, size_t len)
{
	return buf_size(b) == len &&
	       (len == 0 || memcmp(buf_data(b), p, len) == 0);
}

#endif
