#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"

#define BUF_F_VIEW	0x1u
#define BUF_F_SECURE	0x2u

static struct buf *
buf_alloc(size_t max, unsigned flags)
{
	struct buf *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max = max;
	b->flags = flags;
	return b;
}

struct buf *
buf_new(size_t max)
{
	return buf_alloc(max, 0);
}

struct buf *
buf_new_secure(size_t max)
{
	return buf_alloc(max, BUF_F_SECURE);
}

static void
storage_free(struct buf *b)
{
	if (b->d == NULL || (b->flags & BUF_F_VIEW))
		return;
	if (b->flags & BUF_F_SECURE)
		sodium_free(b->d);
	else
		free(b->d);
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	storage_free(b);
	free(b);
}

void
buf_view_init(struct buf *b, const uint8_t *p, size_t len)
{
	memset(b, 0, sizeof(*b));
	/* The view never writes through d: puts are refused by flag. */
	b->d = (uint8_t *)(uintptr_t)p;
	b->len = b->cap = b->max = len;
	b->flags = BUF_F_VIEW;
}

size_t
buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

const uint8_t *
buf_rptr(const struct buf *b)
{
	return b->d + b->off;
}

const uint8_t *
buf_data(const struct buf *b)
{
	return b->d;
}

size_t
buf_size(const struct buf *b)
{
	return b->len;
}

void
buf_reset(struct buf *b)
{
	if (b->flags & BUF_F_VIEW) {
		b->off = 0;
		return;
	}
	if ((b->flags & BUF_F_SECURE) && b->d != NULL)
		sodium_memzero(b->d, b->cap);
	b->off = b->len = 0;
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t ncap;
	uint8_t *nd;

	if (need <= b->cap)
		return KL_OK;
	ncap = b->cap < 256 ? 256 : b->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if (b->flags & BUF_F_SECURE) {
		if ((nd = sodium_malloc(ncap)) == NULL)
			return KL_E_NOMEM;
		if (b->d != NULL) {
			memcpy(nd, b->d, b->len);
			sodium_free(b->d);
		}
	} else if ((nd = realloc(b->d, ncap)) == NULL)
		return KL_E_NOMEM;
	b->d = nd;
	b->cap = ncap;
	return KL_OK;
}

int
buf_reserve(struct buf *b, size_t n, uint8_t **p)
{
	int r;

	*p = NULL;
	if (b->flags & BUF_F_VIEW)
		return KL_E_INVAL;
	if (n > b->max || b->len > b->max - n)
		return KL_E_LIMIT;
	if ((r = buf_grow(b, b->len + n)) != KL_OK)
		return r;
	*p = b->d + b->len;
	b->len += n;
	return KL_OK;
}

void
buf_unput(struct buf *b, size_t n)
{
	if (n > b->len - b->off)
		abort();
	b->len -= n;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if ((r = buf_reserve(b, n, &dst)) != KL_OK)
		return r;
	if (n > 0)
		memcpy(dst, p, n);
	return KL_OK;
}

int
buf_put_zero(struct buf *b, size_t n)
{
	uint8_t *dst;
	int r;

	if ((r = buf_reserve(b, n, &dst)) != KL_OK)
		return r;
	if (n > 0)
		memset(dst, 0, n);
	return KL_OK;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u16le(struct buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return buf_put(b, p, 2);
}

int
buf_put_u32le(struct buf *b, uint32_t v)
{
	uint8_t p[4];

	kl_le32enc(p, v);
	return buf_put(b, p, 4);
}

int
buf_put_u64le(struct buf *b, uint64_t v)
{
	uint8_t p[8];

	kl_le64enc(p, v);
	return buf_put(b, p, 8);
}

int
buf_put_str16(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n > UINT16_MAX)
		return KL_E_LIMIT;
	if ((r = buf_reserve(b, 2 + n, &dst)) != KL_OK)
		return r;
	dst[0] = (uint8_t)n;
	dst[1] = (uint8_t)(n >> 8);
	if (n > 0)
		memcpy(dst + 2, p, n);
	return KL_OK;
}

int
buf_put_bytes32(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n > UINT32_MAX || n > SIZE_MAX - 4)
		return KL_E_LIMIT;
	if ((r = buf_reserve(b, 4 + n, &dst)) != KL_OK)
		return r;
	kl_le32enc(dst, (uint32_t)n);
	if (n > 0)
		memcpy(dst + 4, p, n);
	return KL_OK;
}

int
buf_get_ptr(struct buf *b, size_t n, const uint8_t **p)
{
	if (n > buf_avail(b))
		return KL_E_CORRUPT;
	*p = b->d + b->off;
	b->off += n;
	return KL_OK;
}

int
buf_get(struct buf *b, void *out, size_t n)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_ptr(b, n, &p)) != KL_OK)
		return r;
	if (n > 0)
		memcpy(out, p, n);
	return KL_OK;
}

int
buf_skip(struct buf *b, size_t n)
{
	const uint8_t *p;

	return buf_get_ptr(b, n, &p);
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	return buf_get(b, v, 1);
}

int
buf_get_u16le(struct buf *b, uint16_t *v)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_ptr(b, 2, &p)) != KL_OK)
		return r;
	*v = (uint16_t)(p[0] | (p[1] << 8));
	return KL_OK;
}

int
buf_get_u32le(struct buf *b, uint32_t *v)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_ptr(b, 4, &p)) != KL_OK)
		return r;
	*v = kl_le32dec(p);
	return KL_OK;
}

int
buf_get_u64le(struct buf *b, uint64_t *v)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_ptr(b, 8, &p)) != KL_OK)
		return r;
	*v = kl_le64dec(p);
	return KL_OK;
}

/* Length-prefixed reads must not consume the prefix when the body fails. */
int
buf_get_str16(struct buf *b, size_t max, const uint8_t **p, size_t *n)
{
	size_t save = b->off;
	uint16_t l;
	int r;

	if ((r = buf_get_u16le(b, &l)) != KL_OK)
		return r;
	if (l > max)
		r = KL_E_LIMIT;
	else
		r = buf_get_ptr(b, l, p);
	if (r != KL_OK) {
		b->off = save;
		return r;
	}
	*n = l;
	return KL_OK;
}

int
buf_get_bytes32(struct buf *b, size_t max, const uint8_t **p, size_t *n)
{
	size_t save = b->off;
	uint32_t l;
	int r;

	if ((r = buf_get_u32le(b, &l)) != KL_OK)
		return r;
	if (l > max)
		r = KL_E_LIMIT;
	else
		r = buf_get_ptr(b, l, p);
	if (r != KL_OK) {
		b->off = save;
		return r;
	}
	*n = l;
	return KL_OK;
}

void
kl_le32enc(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void
kl_le64enc(uint8_t *p, uint64_t v)
{
	kl_le32enc(p, (uint32_t)v);
	kl_le32enc(p + 4, (uint32_t)(v >> 32));
}

uint32_t
kl_le32dec(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	    ((uint32_t)p[3] << 24);
}

uint64_t
kl_le64dec(const uint8_t *p)
{
	return (uint64_t)kl_le32dec(p) | ((uint64_t)kl_le32dec(p + 4) << 32);
}
