/*
 * Blob plaintext encoding (docs/FORMAT.md §7): compression with zstd when
 * it pays, PADME padding.  Pure: memory in, memory out.
 */
#ifndef KLUIS_BLOBCODEC_H
#define KLUIS_BLOBCODEC_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/format.h"

struct buf;

#define KL_BLOB_RAW_MAX ((size_t)64 << 20)	/* FORMAT.md §14 */
#define KL_BLOB_HDR_LEN 12
#define KL_BLOB_ENC_STORED 0
#define KL_BLOB_ENC_ZSTD 1
#define KL_COMPRESSION_OFF 0	/* level 0 means: never compress */

/* kl_padme (FORMAT.md §7) is declared in kluis/format.h. */

/* Upper bound of kl_blob_encode's output for raw_len bytes. */
size_t kl_blob_encode_bound(size_t raw_len);

/*
 * Appends the padded blob plaintext of raw[0, raw_len) to out.  level is a
 * zstd level 1..19, or KL_COMPRESSION_OFF.  Stores uncompressed when zstd
 * does not save at least raw_len/32 bytes.  KL_E_LIMIT if raw_len exceeds
 * KL_BLOB_RAW_MAX; KL_E_INVAL for a level outside 0..19; KL_E_NOMEM.
 * zctx may be NULL or a ZSTD_CCtx * reused by the caller (one per thread).
 * On error nothing is appended.
 */
int kl_blob_encode(void *zctx, int level, const uint8_t *raw, size_t raw_len,
    struct buf *out);

/*
 * Decodes a blob plaintext p[0, len) and appends the raw content to out.
 * Checks encoding, reserved bytes, lengths, the padded length and zero
 * padding; KL_E_CORRUPT on any mismatch, KL_E_UNSUPPORTED for an unknown
 * encoding, KL_E_LIMIT if raw_len > max_raw.  dctx may be NULL or a
 * ZSTD_DCtx * reused by the caller.
 */
int kl_blob_decode(void *dctx, const uint8_t *p, size_t len, size_t max_raw,
    struct buf *out);

/* The version of the zstd library linked (kluis version). */
const char *kl_blob_zstd_version(void);

#endif
