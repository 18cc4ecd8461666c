/*
 * Content-defined chunker, docs/FORMAT.md §13.
 *
 * A public gear hash finds cheap candidate positions; a keyed PRF (BLAKE2b
 * keyed with the chunker key, over the 64-byte window) decides which
 * candidates become cuts.  The gear table is public on purpose: keying it
 * would not hide the key (Truong et al., CCS 2025), the PRF does.
 *
 * Each chunk is scanned in three phases:
 *   1. bytes 0 .. min-65 are skipped: after 64 hashed bytes h depends only
 *      on the window, so nothing before min-64 can influence a decision;
 *   2. bytes min-64 .. min-2 warm the gear hash up (no candidate yet);
 *   3. from L = min on, every byte is hashed and tested, up to L = max.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/chunker.h"
#include "kluis/err.h"

#define CHUNKER_KEY_LEN 32
#define CHUNKER_WIN_LEN 64		/* §13: the window the PRF reads */
#define CHUNKER_PRF_LEN 8		/* BLAKE2b-64 */
#define CHUNKER_PRF_LIMIT ((uint64_t)1 << 59)	/* one candidate in 32 */
#define CHUNKER_GEAR_TAG "kluis-gear-v1"
#define CHUNKER_GEAR_TAG_LEN 13

_Static_assert(KL_CHUNK_MIN_MIN > CHUNKER_WIN_LEN,
    "the window must fit in the smallest chunk");
_Static_assert(sizeof(CHUNKER_GEAR_TAG) == CHUNKER_GEAR_TAG_LEN + 1,
    "gear tag length");

struct kl_chunker {
	uint64_t gear[256];
	uint64_t thresh;	/* T_c */
	uint64_t h;		/* rolling gear hash */
	uint32_t min, max;
	uint32_t len;		/* bytes of the current chunk consumed */
	/* The last 64 bytes of the stream before the current call, for a
	 * window that straddles two buffers. */
	uint8_t win[CHUNKER_WIN_LEN];
	uint8_t *key;		/* sodium_malloc */
};

int
kl_chunker_params_valid(const struct kl_chunker_params *p)
{
	if (p == NULL)
		return 0;
	return p->min >= KL_CHUNK_MIN_MIN && p->min < p->avg &&
	    p->avg < p->max && p->max <= KL_CHUNK_MAX_MAX;
}

int
kl_chunker_params_from_avg(uint32_t avg, struct kl_chunker_params *out)
{
	struct kl_chunker_params p;
	uint64_t max = (uint64_t)avg * 8;

	memset(out, 0, sizeof(*out));
	if (max > KL_CHUNK_MAX_MAX)
		max = KL_CHUNK_MAX_MAX;
	p.min = avg / 2;
	p.avg = avg;
	p.max = (uint32_t)max;
	if (!kl_chunker_params_valid(&p))
		return KL_E_INVAL;
	*out = p;
	return KL_OK;
}

/*
 * T_c = floor(2^64 * 32 / (avg - min)), saturating at 2^64 - 1.  Computed
 * from 2^64 = q*d + r without 128-bit arithmetic.
 */
static uint64_t
chunker_threshold(uint32_t min, uint32_t avg)
{
	uint64_t d = (uint64_t)avg - min, q, r;

	if (d <= 32)
		return UINT64_MAX;
	q = UINT64_MAX / d;
	r = UINT64_MAX % d + 1;
	if (r == d) {
		q++;
		r = 0;
	}
	/* d > 32, so q < 2^59 and 32*q + 32*r/d < 2^64. */
	return 32 * q + (32 * r) / d;
}

static void
chunker_gear_init(uint64_t gear[256])
{
	uint8_t msg[CHUNKER_GEAR_TAG_LEN + 1], d[32];
	unsigned i;

	memcpy(msg, CHUNKER_GEAR_TAG, CHUNKER_GEAR_TAG_LEN);
	for (i = 0; i < 256; i++) {
		msg[CHUNKER_GEAR_TAG_LEN] = (uint8_t)i;
		crypto_generichash(d, sizeof(d), msg, sizeof(msg), NULL, 0);
		gear[i] = kl_le64dec(d);
	}
}

int
kl_chunker_new(const struct kl_chunker_params *p, const uint8_t key[32],
    struct kl_chunker **out)
{
	struct kl_chunker *c = NULL;
	int r;

	*out = NULL;
	if (!kl_chunker_params_valid(p) || key == NULL) {
		r = KL_E_INVAL;
		goto out;
	}
	if (sodium_init() < 0) {
		r = KL_E_CRYPTO;
		goto out;
	}
	r = KL_E_NOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	if ((c->key = sodium_malloc(CHUNKER_KEY_LEN)) == NULL)
		goto out;
	memcpy(c->key, key, CHUNKER_KEY_LEN);
	chunker_gear_init(c->gear);
	c->thresh = chunker_threshold(p->min, p->avg);
	c->min = p->min;
	c->max = p->max;
	*out = c;
	c = NULL;
	r = KL_OK;
out:
	kl_chunker_free(c);
	return r;
}

void
kl_chunker_free(struct kl_chunker *c)
{
	if (c == NULL)
		return;
	if (c->key != NULL)
		sodium_free(c->key);	/* wipes */
	sodium_memzero(c, sizeof(*c));	/* the window holds plaintext */
	free(c);
}

void
kl_chunker_reset(struct kl_chunker *c)
{
	c->h = 0;
	c->len = 0;
	sodium_memzero(c->win, sizeof(c->win));
}

uint64_t
kl_chunker_gear(const struct kl_chunker *c, unsigned i)
{
	if (i > 255)
		abort();
	return c->gear[i];
}

/*
 * The PRF decision for a candidate at data[i]: keyed BLAKE2b-64 of the 64
 * bytes ending at data[i], taking the head from c->win when the window
 * starts in an earlier buffer.
 */
static int
chunker_prf_cut(const struct kl_chunker *c, const uint8_t *data, size_t i)
{
	uint8_t tmp[CHUNKER_WIN_LEN], mac[CHUNKER_PRF_LEN];
	const uint8_t *w;
	size_t head;

	if (i >= CHUNKER_WIN_LEN - 1) {
		w = data + i + 1 - CHUNKER_WIN_LEN;
	} else {
		head = CHUNKER_WIN_LEN - 1 - i;
		memcpy(tmp, c->win + CHUNKER_WIN_LEN - head, head);
		memcpy(tmp + head, data, i + 1);
		w = tmp;
	}
	crypto_generichash(mac, sizeof(mac), w, CHUNKER_WIN_LEN, c->key,
	    CHUNKER_KEY_LEN);
	return kl_le64dec(mac) < CHUNKER_PRF_LIMIT;
}

/* Remembers the last 64 bytes of the stream for the next call. */
static void
chunker_keep_tail(struct kl_chunker *c, const uint8_t *data, size_t len)
{
	if (len >= CHUNKER_WIN_LEN) {
		memcpy(c->win, data + len - CHUNKER_WIN_LEN, CHUNKER_WIN_LEN);
		return;
	}
	memmove(c->win, c->win + len, CHUNKER_WIN_LEN - len);
	memcpy(c->win + CHUNKER_WIN_LEN - len, data, len);
}

/* Phases 1 and 2: returns the index of the first byte not consumed. */
static size_t
chunker_prefix(struct kl_chunker *c, const uint8_t *data, size_t len)
{
	uint32_t skip = c->min - CHUNKER_WIN_LEN;
	size_t i = 0, n;

	if (c->len < skip) {
		n = skip - c->len;
		i = n < len ? n : len;
		c->len += (uint32_t)i;
	}
	for (; i < len && c->len < c->min - 1; i++) {
		c->h = (c->h << 1) + c->gear[data[i]];
		c->len++;
	}
	return i;
}

/*
 * Phase 3, the hot loop: one shift-add and one compare per byte, the PRF
 * only on candidates (32 / (avg - min) of the positions).  Returns the
 * index just past the cut, or the end of the scanned range with *cut == 0.
 */
static size_t
chunker_scan(struct kl_chunker *c, const uint8_t *data, size_t i, size_t len,
    int *cut)
{
	const uint64_t *g = c->gear;
	const uint64_t t = c->thresh;
	uint64_t h = c->h;
	size_t start = i, end;

	end = len - i < c->max - c->len ? len : i + (c->max - c->len);
	for (; i < end; i++) {
		h = (h << 1) + g[data[i]];
		if (h < t && chunker_prf_cut(c, data, i)) {
			*cut = 1;
			i++;
			break;
		}
	}
	c->len += (uint32_t)(i - start);
	c->h = h;
	if (c->len == c->max)
		*cut = 1;
	return i;
}

size_t
kl_chunker_next(struct kl_chunker *c, const uint8_t *data, size_t len,
    int *cut)
{
	size_t i;

	*cut = 0;
	if (len == 0)
		return 0;
	i = chunker_prefix(c, data, len);
	if (i < len)
		i = chunker_scan(c, data, i, len, cut);
	if (*cut) {
		c->h = 0;
		c->len = 0;
		return i;
	}
	chunker_keep_tail(c, data, len);
	return len;
}
