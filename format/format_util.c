/* Helpers shared by the record codecs (format_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "format_internal.h"

int
fmt_enc_err(int r)
{
	return r == KL_E_LIMIT || r == KL_E_NOMEM ? r : KL_E_INVAL;
}

void
fmt_unput_to(struct buf *b, size_t mark)
{
	buf_unput(b, buf_size(b) - mark);
}

int
fmt_get_i64(struct buf *b, int64_t *v)
{
	uint64_t u;
	int r;

	if ((r = buf_get_u64le(b, &u)) != KL_OK)
		return r;
	*v = u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
	return KL_OK;
}

size_t
fmt_slen(const char *s, size_t max)
{
	return s == NULL ? 0 : strnlen(s, max + 1);
}

void *
fmt_memdup0(const void *p, size_t n)
{
	uint8_t *d;

	if ((d = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(d, p, n);
	d[n] = 0;
	return d;
}

int
fmt_get_str(struct buf *b, size_t max, char **out)
{
	const uint8_t *p;
	size_t n;
	int r;

	if ((r = buf_get_str16(b, max, &p, &n)) != KL_OK)
		return r;
	if (n > 0 && memchr(p, 0, n) != NULL)
		return KL_E_CORRUPT;
	if ((*out = fmt_memdup0(p, n)) == NULL)
		return KL_E_NOMEM;
	return KL_OK;
}

int
fmt_put_str(struct buf *b, const char *s)
{
	return buf_put_str16(b, s == NULL ? "" : s, fmt_slen(s, UINT16_MAX));
}
