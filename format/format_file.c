/*
 * Plaintext records of repository files: config (FORMAT.md §6), pack
 * header and trailer (§8), index (§9) and lock (§12); the 16-byte file
 * headers they start with are layout/'s (kluis/layout.h).
 *
 * Each record has one check function returning the decoder's error codes
 * (KL_E_CORRUPT, KL_E_UNSUPPORTED, KL_E_LIMIT); decoders run it on what
 * they parsed, encoders run it on their input and report KL_E_INVAL
 * instead of CORRUPT/UNSUPPORTED, so writer and reader share one set of
 * rules.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "format_internal.h"

#define MAGIC_LEN 8
#define ENTRY_RAW_MAX ((uint32_t)64 << 20)	/* FORMAT.md §7, §14 */
#define STORED_MIN 40		/* FORMAT.md §4: nonce + tag, no plaintext */
#define BLOB_TYPE_DELTA 3	/* FORMAT.md §7.1: reserved */
#define CHUNK_MIN_MIN ((uint32_t)4 << 10)	/* FORMAT.md §6 */
#define CHUNK_MAX_MAX ((uint32_t)16 << 20)
#define PACK_TARGET_MIN ((uint32_t)1 << 20)
#define PACK_TARGET_MAX ((uint32_t)64 << 20)
#define INDEX_PACK_MIN_LEN (KL_ID_LEN + 4 + KL_ENTRY_LEN)	/* §9 */

static_assert(KL_CONFIG_LEN == KL_FILE_HDR_LEN + KL_ID_LEN + 4 * 4 + 32 + 8,
    "FORMAT.md §6 layout");
static_assert(KL_ENTRY_LEN == 1 + KL_ID_LEN + 3 * 4, "FORMAT.md §8 entry");
static_assert(KL_FILE_HDR_LEN == MAGIC_LEN + 4 + 4, "file header");

static int
put_i64(struct buf *b, int64_t v)
{
	return buf_put_u64le(b, (uint64_t)v);
}

/*
 * Reads a u32 count and checks it: KL_E_LIMIT above max, KL_E_CORRUPT
 * below min or when count items of at least unit bytes each cannot fit in
 * what is left, so no caller allocates from an impossible count.
 */
static int
get_count32(struct buf *b, uint32_t min, uint32_t max, size_t unit,
    uint32_t *cnt)
{
	uint32_t v;
	int r;

	if ((r = buf_get_u32le(b, &v)) != KL_OK)
		return r;
	if (v > max)
		return KL_E_LIMIT;
	if (v < min || (uint64_t)v * unit > buf_avail(b))
		return KL_E_CORRUPT;
	*cnt = v;
	return KL_OK;
}

/* Consumes the rest of b, which must be zero padding. */
static int
get_zero_pad(struct buf *b)
{
	const uint8_t *p;
	size_t i, n = buf_avail(b);
	int r;

	if ((r = buf_get_ptr(b, n, &p)) != KL_OK)
		return r;
	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return KL_E_CORRUPT;
	return KL_OK;
}

static size_t
floor_log2(uint64_t v)
{
	size_t l = 0;

	while (v >>= 1)
		l++;
	return l;
}

uint64_t
kl_padme(uint64_t len)
{
	uint64_t e, s, mask;

	if (len < 2)
		return len;
	e = floor_log2(len);
	s = floor_log2(e) + 1;
	mask = ((uint64_t)1 << (e - s)) - 1;
	if (len > UINT64_MAX - mask)
		abort();
	return (len + mask) & ~mask;
}

/* FORMAT.md §6 parameter rules. */
static int
config_check(const struct kl_config *c)
{
	if (c->chunk_min < CHUNK_MIN_MIN || c->chunk_min >= c->chunk_avg ||
	    c->chunk_avg >= c->chunk_max || c->chunk_max > CHUNK_MAX_MAX)
		return KL_E_CORRUPT;
	if (c->pack_target < PACK_TARGET_MIN ||
	    c->pack_target > PACK_TARGET_MAX)
		return KL_E_CORRUPT;
	return KL_OK;
}

int
kl_config_encode(const struct kl_config *c, struct buf *out)
{
	size_t mark = buf_size(out);
	int r;

	if ((r = config_check(c)) != KL_OK)
		return fmt_enc_err(r);
	if ((r = kl_file_hdr_put(out, KL_MAGIC_CONFIG)) != KL_OK ||
	    (r = buf_put(out, c->repo_id.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_put_u32le(out, c->chunk_min)) != KL_OK ||
	    (r = buf_put_u32le(out, c->chunk_avg)) != KL_OK ||
	    (r = buf_put_u32le(out, c->chunk_max)) != KL_OK ||
	    (r = buf_put_u32le(out, c->pack_target)) != KL_OK ||
	    (r = buf_put(out, c->box_pk, sizeof(c->box_pk))) != KL_OK ||
	    (r = put_i64(out, c->created)) != KL_OK)
		fmt_unput_to(out, mark);
	return r;
}

int
kl_config_decode(const uint8_t *p, size_t len, struct kl_config *out)
{
	struct kl_config c;
	struct buf b;
	int r;

	buf_view_init(&b, p, len);
	/* Header first: a future version may have another length. */
	if ((r = kl_file_hdr_get(&b, KL_MAGIC_CONFIG)) != KL_OK)
		return r;
	if (len != KL_CONFIG_LEN)
		return KL_E_CORRUPT;
	if ((r = buf_get(&b, c.repo_id.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_get_u32le(&b, &c.chunk_min)) != KL_OK ||
	    (r = buf_get_u32le(&b, &c.chunk_avg)) != KL_OK ||
	    (r = buf_get_u32le(&b, &c.chunk_max)) != KL_OK ||
	    (r = buf_get_u32le(&b, &c.pack_target)) != KL_OK ||
	    (r = buf_get(&b, c.box_pk, sizeof(c.box_pk))) != KL_OK ||
	    (r = fmt_get_i64(&b, &c.created)) != KL_OK)
		return r;
	if ((r = config_check(&c)) != KL_OK)
		return r;
	*out = c;
	return KL_OK;
}

const char *
kl_blob_type_name(uint8_t type)
{
	switch (type) {
	case KL_BLOB_TYPE_DATA: return "data";
	case KL_BLOB_TYPE_TREE: return "tree";
	case KL_BLOB_TYPE_DELTA: return "delta";
	}
	return "unknown";
}

/*
 * Rules every §8/§9 entry obeys on its own: a known type, a location after
 * the preamble inside a maximal pack, room for the AEAD overhead, a raw
 * length within the blob limit.
 */
static int
entry_check(const struct kl_blob_entry *e)
{
	if (e->type != KL_BLOB_TYPE_DATA && e->type != KL_BLOB_TYPE_TREE &&
	    e->type != KL_BLOB_TYPE_DELTA)
		return KL_E_UNSUPPORTED;
	if (e->offset < KL_PACK_PREAMBLE_LEN || e->stored_len < STORED_MIN)
		return KL_E_CORRUPT;
	if ((uint64_t)e->offset + e->stored_len > KL_PACK_MAX)
		return KL_E_CORRUPT;
	if (e->raw_len > ENTRY_RAW_MAX)
		return KL_E_LIMIT;
	return KL_OK;
}

static int
get_entry(struct buf *b, struct kl_blob_entry *e)
{
	int r;

	if ((r = buf_get_u8(b, &e->type)) != KL_OK ||
	    (r = buf_get(b, e->id.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_get_u32le(b, &e->offset)) != KL_OK ||
	    (r = buf_get_u32le(b, &e->stored_len)) != KL_OK ||
	    (r = buf_get_u32le(b, &e->raw_len)) != KL_OK)
		return r;
	return entry_check(e);
}

static int
put_entry(struct buf *b, const struct kl_blob_entry *e)
{
	int r;

	if ((r = entry_check(e)) != KL_OK)
		return fmt_enc_err(r);
	if ((r = buf_put_u8(b, e->type)) != KL_OK ||
	    (r = buf_put(b, e->id.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_put_u32le(b, e->offset)) != KL_OK ||
	    (r = buf_put_u32le(b, e->stored_len)) != KL_OK ||
	    (r = buf_put_u32le(b, e->raw_len)) != KL_OK)
		return r;
	return KL_OK;
}

/* Reads n entries (count already checked against the input) into *out. */
static int
get_entries(struct buf *b, uint32_t n, struct kl_blob_entry **out)
{
	struct kl_blob_entry *e;
	uint32_t i;
	int r = KL_OK;

	if ((e = calloc(n, sizeof(*e))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n && r == KL_OK; i++)
		r = get_entry(b, &e[i]);
	if (r != KL_OK) {
		free(e);
		return r;
	}
	*out = e;
	return KL_OK;
}

/* §8: the first entry starts at 128 and each where the previous ends;
 * *end is where the last ends (the header offset H of a valid pack). */
static int
entries_chain(const struct kl_blob_entry *e, size_t n, uint64_t *end)
{
	uint64_t pos = KL_PACK_PREAMBLE_LEN;
	size_t i;

	for (i = 0; i < n; i++) {
		if (e[i].offset != pos)
			return KL_E_CORRUPT;
		pos += e[i].stored_len;
	}
	*end = pos;
	return KL_OK;
}

int
kl_pack_header_encode(const struct kl_blob_entry *e, size_t n,
    struct buf *out)
{
	size_t mark = buf_size(out), i, plen;
	uint64_t end;
	int r;

	if (n > KL_PACK_BLOBS_MAX)
		return KL_E_LIMIT;
	if (n == 0 || e == NULL || entries_chain(e, n, &end) != KL_OK)
		return KL_E_INVAL;
	plen = 4 + KL_ENTRY_LEN * n;
	if ((r = buf_put_u32le(out, (uint32_t)n)) != KL_OK)
		goto out;
	for (i = 0; i < n; i++)
		if ((r = put_entry(out, &e[i])) != KL_OK)
			goto out;
	r = buf_put_zero(out, (size_t)kl_padme(plen) - plen);
out:
	if (r != KL_OK)
		fmt_unput_to(out, mark);
	return r;
}

int
kl_pack_header_decode(const uint8_t *p, size_t len, uint64_t hdr_off,
    struct kl_blob_entry **out, size_t *n)
{
	struct kl_blob_entry *e = NULL;
	struct buf b;
	uint64_t end;
	uint32_t cnt;
	int r;

	buf_view_init(&b, p, len);
	if ((r = get_count32(&b, 1, KL_PACK_BLOBS_MAX, KL_ENTRY_LEN,
	    &cnt)) != KL_OK)
		goto out;
	if (len != kl_padme(4 + (uint64_t)KL_ENTRY_LEN * cnt)) {
		r = KL_E_CORRUPT;
		goto out;
	}
	if ((r = get_entries(&b, cnt, &e)) != KL_OK ||
	    (r = entries_chain(e, cnt, &end)) != KL_OK ||
	    (r = get_zero_pad(&b)) != KL_OK)
		goto out;
	if (end != hdr_off) {
		r = KL_E_CORRUPT;
		goto out;
	}
	*out = e;
	*n = cnt;
	e = NULL;
out:
	free(e);
	return r;
}

void
kl_pack_trailer_encode(uint32_t hdr_len, uint8_t out[12])
{
	kl_le32enc(out, hdr_len);
	memcpy(out + 4, KL_MAGIC_PACK_END, MAGIC_LEN);
}

/* Smallest and largest stored header: AEAD of kl_padme(4 + 45 n). */
static int
hdr_len_valid(uint32_t h)
{
	uint64_t lo = STORED_MIN + kl_padme(4 + KL_ENTRY_LEN);
	uint64_t hi = STORED_MIN +
	    kl_padme(4 + (uint64_t)KL_ENTRY_LEN * KL_PACK_BLOBS_MAX);

	return h >= lo && h <= hi;
}

int
kl_pack_trailer_decode(const uint8_t *p, size_t len, uint64_t pack_len,
    uint64_t *hdr_off, uint32_t *hdr_len)
{
	uint8_t m[MAGIC_LEN];
	struct buf b;
	uint32_t h;
	int r;

	buf_view_init(&b, p, len);
	if ((r = buf_get_u32le(&b, &h)) != KL_OK ||
	    (r = buf_get(&b, m, MAGIC_LEN)) != KL_OK)
		return r;
	if (buf_avail(&b) != 0 || memcmp(m, KL_MAGIC_PACK_END, MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if (pack_len > KL_PACK_MAX)
		return KL_E_LIMIT;
	if (!hdr_len_valid(h) ||
	    KL_PACK_PREAMBLE_LEN + (uint64_t)h + KL_PACK_TRAILER_LEN > pack_len)
		return KL_E_CORRUPT;
	*hdr_off = pack_len - KL_PACK_TRAILER_LEN - h;
	*hdr_len = h;
	return KL_OK;
}

static int
put_index_pack(struct buf *b, const struct kl_index_pack *ip)
{
	size_t i;
	int r;

	if (ip->n > KL_PACK_BLOBS_MAX)
		return KL_E_LIMIT;
	if (ip->n == 0 || ip->e == NULL)
		return KL_E_INVAL;
	if ((r = buf_put(b, ip->pack_id.b, KL_ID_LEN)) != KL_OK ||
	    (r = buf_put_u32le(b, (uint32_t)ip->n)) != KL_OK)
		return r;
	for (i = 0; i < ip->n; i++)
		if ((r = put_entry(b, &ip->e[i])) != KL_OK)
			return r;
	return KL_OK;
}

/* 1 if ids[0, n) is strictly increasing. */
static int
ids_increasing(const struct kl_id *ids, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (kl_id_cmp(&ids[i - 1], &ids[i]) >= 0)
			return 0;
	return 1;
}

/* §9 version 2: the withdrawn index files. */
static int
put_withdrawn(struct buf *b, const struct kl_index *ix)
{
	size_t i;
	int r;

	if (ix->nwithdrawn > KL_INDEX_WITHDRAWN_MAX)
		return KL_E_LIMIT;
	if ((ix->nwithdrawn > 0 && ix->withdrawn == NULL) ||
	    !ids_increasing(ix->withdrawn, ix->nwithdrawn))
		return KL_E_INVAL;
	if ((r = buf_put_u32le(b, (uint32_t)ix->nwithdrawn)) != KL_OK)
		return r;
	for (i = 0; i < ix->nwithdrawn; i++)
		if ((r = buf_put(b, ix->withdrawn[i].b, KL_ID_LEN)) != KL_OK)
			return r;
	return KL_OK;
}

int
kl_index_encode(const struct kl_index *ix, uint32_t version,
    struct buf *out)
{
	size_t mark = buf_size(out), i;
	int r;

	if (ix->n > UINT32_MAX)
		return KL_E_LIMIT;
	if ((ix->n > 0 && ix->packs == NULL) ||
	    (version != KL_INDEX_VERSION && version != KL_INDEX_VERSION_1) ||
	    (version == KL_INDEX_VERSION_1 && ix->nwithdrawn > 0))
		return KL_E_INVAL;
	if ((r = buf_put_u32le(out, (uint32_t)ix->n)) != KL_OK)
		goto out;
	for (i = 0; i < ix->n; i++)
		if ((r = put_index_pack(out, &ix->packs[i])) != KL_OK)
			goto out;
	if (version == KL_INDEX_VERSION)
		r = put_withdrawn(out, ix);
out:
	if (r != KL_OK)
		fmt_unput_to(out, mark);
	return r;
}

/* One §9 pack record; *total counts entries across packs. */
static int
get_index_pack(struct buf *b, struct kl_index_pack *ip, size_t *total,
    size_t max_entries)
{
	uint32_t cnt;
	int r;

	if ((r = buf_get(b, ip->pack_id.b, KL_ID_LEN)) != KL_OK ||
	    (r = get_count32(b, 1, KL_PACK_BLOBS_MAX, KL_ENTRY_LEN,
	    &cnt)) != KL_OK)
		return r;
	if (cnt > max_entries - *total)
		return KL_E_LIMIT;
	if ((r = get_entries(b, cnt, &ip->e)) != KL_OK)
		return r;
	ip->n = cnt;
	*total += cnt;
	return KL_OK;
}

/* §9 version 2: count, then that many ids, strictly increasing. */
static int
get_withdrawn(struct buf *b, struct kl_index *ix)
{
	uint32_t cnt, i;
	int r;

	if ((r = get_count32(b, 0, KL_INDEX_WITHDRAWN_MAX, KL_ID_LEN,
	    &cnt)) != KL_OK)
		return r;
	if (cnt == 0)
		return KL_OK;
	if ((ix->withdrawn = calloc(cnt, sizeof(*ix->withdrawn))) == NULL)
		return KL_E_NOMEM;
	ix->nwithdrawn = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = buf_get(b, ix->withdrawn[i].b, KL_ID_LEN)) != KL_OK)
			return r;
	return ids_increasing(ix->withdrawn, cnt) ? KL_OK : KL_E_CORRUPT;
}

int
kl_index_decode(const uint8_t *p, size_t len, size_t max_entries,
    uint32_t version, struct kl_index *out)
{
	struct kl_index ix;
	size_t total = 0, i;
	struct buf b;
	uint32_t cnt;
	int r;

	memset(&ix, 0, sizeof(ix));
	if (version != KL_INDEX_VERSION && version != KL_INDEX_VERSION_1) {
		r = KL_E_UNSUPPORTED;
		goto out;
	}
	buf_view_init(&b, p, len);
	if ((r = get_count32(&b, 0, UINT32_MAX, INDEX_PACK_MIN_LEN,
	    &cnt)) != KL_OK)
		goto out;
	if (cnt > max_entries) {	/* every pack holds at least one */
		r = KL_E_LIMIT;
		goto out;
	}
	if (cnt > 0 && (ix.packs = calloc(cnt, sizeof(*ix.packs))) == NULL) {
		r = KL_E_NOMEM;
		goto out;
	}
	ix.n = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = get_index_pack(&b, &ix.packs[i], &total,
		    max_entries)) != KL_OK)
			goto out;
	if (version == KL_INDEX_VERSION && (r = get_withdrawn(&b, &ix)) !=
	    KL_OK)
		goto out;
	if (buf_avail(&b) != 0) {
		r = KL_E_CORRUPT;
		goto out;
	}
	*out = ix;
	memset(&ix, 0, sizeof(ix));
out:
	kl_index_clear(&ix);
	return r;
}

void
kl_index_clear(struct kl_index *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->n && ix->packs != NULL; i++)
		free(ix->packs[i].e);
	free(ix->packs);
	free(ix->withdrawn);
	memset(ix, 0, sizeof(*ix));
}

/* §12: hostname 1..255 bytes without NUL, exclusive 0 or 1. */
static int
lock_check(const struct kl_lock *l, size_t hlen)
{
	if (hlen > KL_NAME_MAX)
		return KL_E_LIMIT;
	if (hlen == 0 || l->exclusive > 1)
		return KL_E_CORRUPT;
	return KL_OK;
}

int
kl_lock_encode(const struct kl_lock *l, struct buf *out)
{
	size_t mark = buf_size(out);
	size_t hlen = strnlen(l->hostname, sizeof(l->hostname));
	int r;

	if ((r = lock_check(l, hlen)) != KL_OK)
		return fmt_enc_err(r);
	if ((r = put_i64(out, l->time)) != KL_OK ||
	    (r = buf_put_u8(out, l->exclusive)) != KL_OK ||
	    (r = buf_put_u32le(out, l->pid)) != KL_OK ||
	    (r = buf_put_str16(out, l->hostname, hlen)) != KL_OK)
		fmt_unput_to(out, mark);
	return r;
}

int
kl_lock_decode(const uint8_t *p, size_t len, struct kl_lock *out)
{
	struct kl_lock l;
	const uint8_t *h;
	struct buf b;
	size_t hlen;
	int r;

	memset(&l, 0, sizeof(l));
	buf_view_init(&b, p, len);
	if ((r = fmt_get_i64(&b, &l.time)) != KL_OK ||
	    (r = buf_get_u8(&b, &l.exclusive)) != KL_OK ||
	    (r = buf_get_u32le(&b, &l.pid)) != KL_OK ||
	    (r = buf_get_str16(&b, KL_NAME_MAX, &h, &hlen)) != KL_OK)
		return r;
	if (buf_avail(&b) != 0 || memchr(h, 0, hlen) != NULL)
		return KL_E_CORRUPT;
	if ((r = lock_check(&l, hlen)) != KL_OK)
		return r;
	memcpy(l.hostname, h, hlen);
	*out = l;
	return KL_OK;
}

int
kl_lock_hdr_match(const struct kl_lock_hdr *h, const struct kl_lock *l)
{
	if (h->version == KL_LOCK_VERSION && l->exclusive != h->exclusive)
		return KL_E_CORRUPT;
	return KL_OK;
}

int
kl_name_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c < 0 ? -1 : 1;
	if (al == bl)
		return 0;
	return al < bl ? -1 : 1;
}
