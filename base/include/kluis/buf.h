/*
 * struct buf: the one bounded byte buffer through which every untrusted byte
 * (repository files, protocol frames, key files) is read.
 *
 * A buffer holds bytes [off, len) of a storage area of capacity cap, and
 * never grows beyond max.  Getters read at off and advance it; on failure
 * they return KL_E_CORRUPT (not enough bytes) or KL_E_LIMIT and consume
 * nothing.  Putters append at len; they return KL_E_LIMIT if max would be
 * exceeded and KL_E_NOMEM if allocation fails, and append nothing on failure.
 *
 * A "view" (buf_view_init) reads memory owned by someone else: it never
 * allocates and refuses puts.  A "secure" buffer lives in sodium_malloc
 * memory and is wiped when freed or grown.
 */
#ifndef KLUIS_BUF_H
#define KLUIS_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_MAX_DEFAULT ((size_t)256 << 20)	/* 256 MiB hard ceiling */

struct buf {
	uint8_t *d;
	size_t off;	/* read position */
	size_t len;	/* end of valid data */
	size_t cap;
	size_t max;
	unsigned flags;	/* private: BUF_F_* in buf.c */
};

/* Allocates an empty buffer that may grow up to max bytes; NULL on ENOMEM. */
struct buf *buf_new(size_t max);
/* As buf_new, storage in sodium_malloc memory, wiped on free. */
struct buf *buf_new_secure(size_t max);
/* Frees b and its storage (wiping secure ones).  NULL-safe. */
void buf_free(struct buf *b);

/* Initialises a read-only view of [p, p+len) on caller storage. */
void buf_view_init(struct buf *b, const uint8_t *p, size_t len);

/* Bytes left to read. */
size_t buf_avail(const struct buf *b);
/* Pointer to the next unread byte (valid until the next put). */
const uint8_t *buf_rptr(const struct buf *b);
/* Pointer to the whole stored content [0, len). */
const uint8_t *buf_data(const struct buf *b);
/* Total stored length (len), independent of read position. */
size_t buf_size(const struct buf *b);
/* Empties the buffer (wipes secure ones); keeps the storage. */
void buf_reset(struct buf *b);

/* Ensures room for n more bytes, returns a pointer to them in *p and
 * extends len by n.  The bytes are uninitialised. */
int buf_reserve(struct buf *b, size_t n, uint8_t **p);
/* Drops the last n stored bytes (n <= len - off). */
void buf_unput(struct buf *b, size_t n);

int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16le(struct buf *b, uint16_t v);
int buf_put_u32le(struct buf *b, uint32_t v);
int buf_put_u64le(struct buf *b, uint64_t v);
/* u16 little-endian length then the bytes; KL_E_LIMIT if n > 65535. */
int buf_put_str16(struct buf *b, const void *p, size_t n);
/* u32 little-endian length then the bytes. */
int buf_put_bytes32(struct buf *b, const void *p, size_t n);
/* Appends n zero bytes. */
int buf_put_zero(struct buf *b, size_t n);

int buf_get_u8(struct buf *b, uint8_t *v);
int buf_get_u16le(struct buf *b, uint16_t *v);
int buf_get_u32le(struct buf *b, uint32_t *v);
int buf_get_u64le(struct buf *b, uint64_t *v);
/* Copies n bytes into out. */
int buf_get(struct buf *b, void *out, size_t n);
/* Returns in *p a pointer to the next n bytes inside b and consumes them. */
int buf_get_ptr(struct buf *b, size_t n, const uint8_t **p);
/* Reads a u16-length-prefixed string of at most max bytes: *p points into
 * b, *n is its length.  KL_E_LIMIT if longer than max. */
int buf_get_str16(struct buf *b, size_t max, const uint8_t **p, size_t *n);
/* As buf_get_str16 with a u32 length prefix. */
int buf_get_bytes32(struct buf *b, size_t max, const uint8_t **p, size_t *n);
/* Skips n bytes. */
int buf_skip(struct buf *b, size_t n);

/* Little-endian helpers on plain memory (caller checked bounds). */
void kl_le32enc(uint8_t *p, uint32_t v);
void kl_le64enc(uint8_t *p, uint64_t v);
uint32_t kl_le32dec(const uint8_t *p);
uint64_t kl_le64dec(const uint8_t *p);

#endif
