/*
 * Content-defined chunker with keyed-PRF cut decisions (docs/FORMAT.md §13).
 * A pure core: memory in, cut positions out; no I/O, no clock, no
 * randomness.  The caller streams a file through kl_chunker_next in buffers
 * of any size; boundaries do not depend on how the stream is split.
 */
#ifndef KLUIS_CHUNKER_H
#define KLUIS_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define KL_CHUNK_MIN_MIN ((uint32_t)4096)		/* FORMAT.md §6 */
#define KL_CHUNK_MAX_MAX ((uint32_t)16 << 20)
#define KL_CHUNK_MIN_DEFAULT ((uint32_t)512 << 10)
#define KL_CHUNK_AVG_DEFAULT ((uint32_t)1 << 20)
#define KL_CHUNK_MAX_DEFAULT ((uint32_t)8 << 20)

struct kl_chunker_params {
	uint32_t min, avg, max;
};

struct kl_chunker;

/* 1 if 4 KiB <= min < avg < max <= 16 MiB, else 0. */
int kl_chunker_params_valid(const struct kl_chunker_params *p);
/* Derives min = avg/2 and max = avg*8 (capped at 16 MiB) from an average;
 * KL_E_INVAL if the result is not valid. */
int kl_chunker_params_from_avg(uint32_t avg, struct kl_chunker_params *out);

/*
 * Creates a chunker for params and a 32-byte chunker key (copied into
 * sodium_malloc memory, wiped by kl_chunker_free).  KL_E_INVAL for invalid
 * params, KL_E_NOMEM, KL_E_CRYPTO if libsodium cannot be initialised.
 */
int kl_chunker_new(const struct kl_chunker_params *p, const uint8_t key[32],
    struct kl_chunker **out);
void kl_chunker_free(struct kl_chunker *c);

/* Starts a new stream (a new file): the next byte begins a chunk. */
void kl_chunker_reset(struct kl_chunker *c);

/*
 * Scans data[0, len).  If a chunk ends inside it, returns the number of
 * bytes up to and including the chunk's last byte (1..len) and sets *cut to
 * 1; the chunker is then positioned at the start of the next chunk.  If no
 * chunk ends in it, returns len and sets *cut to 0 (the bytes belong to the
 * current chunk).  The end of the stream is the caller's business: whatever
 * the current chunk holds at the end is the last chunk.
 */
size_t kl_chunker_next(struct kl_chunker *c, const uint8_t *data, size_t len,
    int *cut);

/* The gear table entry i (for test vectors). */
uint64_t kl_chunker_gear(const struct kl_chunker *c, unsigned i);

#endif
