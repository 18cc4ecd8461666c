/*
 * Sub-chunk deltas with librsync (docs/FORMAT.md §7.1, ARCHITECTURE.md
 * "Deltas").  A chunk changed in place is stored as a librsync delta
 * against one to KL_DELTA_BASES_MAX full chunks of the file's previous
 * version, its bases.  The delta is made from the bases' signatures
 * alone (the client keeps them in its catalog: the old bytes are gone
 * when a file was rewritten in place) and applied to the bases' bytes.
 *
 * The base stream is the bases concatenated, each followed by zero bytes
 * up to the next multiple of the block length: every base's signature is
 * then the signature of its own padded bytes, and the signature of the
 * stream is theirs concatenated.
 *
 * Pure: memory in, memory out, no I/O (librsync's log is silenced).
 * Thread-safe.  Return codes as kluis/err.h.
 */
#ifndef KLUIS_DELTA_H
#define KLUIS_DELTA_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define KL_DELTA_BLOCK_LEN 2048		/* signature block (§7.1) */
#define KL_DELTA_STRONG_LEN 16		/* BLAKE2b strong sum bytes kept */
#define KL_DELTA_BASES_MAX 4
#define KL_DELTA_SIG_HDR_LEN 12		/* librsync: magic, block, strong */
#define KL_DELTA_SIG_ENTRY_LEN (4 + KL_DELTA_STRONG_LEN)
/* Block lengths a reader accepts (§7.1): powers of two in this range. */
#define KL_DELTA_BLOCK_MIN 256
#define KL_DELTA_BLOCK_MAX 65536
/* A chunk (and a base, and a delta's output) is at most 16 MiB (§14). */
#define KL_DELTA_CHUNK_MAX ((size_t)16 << 20)

/* Bytes of the signature of a chunk of len bytes (len <= CHUNK_MAX). */
size_t kl_delta_sig_len(size_t len);

/*
 * Appends to out the librsync signature (RabinKarp weak sums, BLAKE2b
 * strong sums of KL_DELTA_STRONG_LEN bytes, blocks of KL_DELTA_BLOCK_LEN)
 * of chunk[0, len) padded with zeros to a multiple of the block length:
 * kl_delta_sig_len(len) bytes.  KL_E_INVAL for len 0 or over
 * KL_DELTA_CHUNK_MAX; KL_E_NOMEM; KL_E_LIMIT if out cannot hold it.  out
 * is unchanged on failure.
 */
int kl_delta_sig(const uint8_t *chunk, size_t len, struct buf *out);

/*
 * 0 if sig has the shape kl_delta_sig gives for a chunk of len bytes
 * (header, block and strong lengths, entry count), KL_E_CORRUPT if not:
 * for signatures read back from a cache.
 */
int kl_delta_sig_check(const uint8_t *sig, size_t sig_len, size_t len);

/* A base of a delta being made: its signature; or applied: its bytes. */
struct kl_delta_base {
	const uint8_t *p;
	size_t len;
};

/*
 * Appends to out a librsync delta stream (RS_DELTA_MAGIC, then commands)
 * that makes target[0, len) from the base stream of n bases (1..
 * KL_DELTA_BASES_MAX) given by their signatures (sigs[i].p, as
 * kl_delta_sig made them; sigs[i].len is the signature's length).  The
 * delta may not exceed max bytes: KL_E_LIMIT when it would (not worth
 * storing; out unchanged).  KL_E_INVAL for a signature of the wrong
 * shape, a bad n or len; KL_E_NOMEM.
 */
int kl_delta_make(const struct kl_delta_base *sigs, size_t n,
    const uint8_t *target, size_t len, size_t max, struct buf *out);

/*
 * Applies the delta stream d[0, d_len) to the base stream of n bases
 * (1..KL_DELTA_BASES_MAX, bases[i] their bytes, each <= CHUNK_MAX) with
 * block length block_len, writing exactly out_len bytes (1..CHUNK_MAX) to
 * out.  KL_E_CORRUPT if the stream is malformed or truncated, copies from
 * outside the base stream, or makes more or fewer than out_len bytes;
 * KL_E_INVAL for bad arguments; KL_E_NOMEM.  The caller verifies what
 * was made against the chunk's id.
 */
int kl_delta_apply(const struct kl_delta_base *bases, size_t n,
    uint32_t block_len, const uint8_t *d, size_t d_len, uint8_t *out,
    size_t out_len);

/* librsync's version ("2.3.2"), for `kluis version`. */
const char *kl_delta_rsync_version(void);

#endif
