/*
 * Tree objects (FORMAT.md §11): the raw content of type-2 blobs.
 *
 * kl_node_valid is the one statement of §11's per-entry rules; the decoder
 * runs it on every parsed node, the encoder on every node it is given.
 * Decoding fills nodes in place inside a zeroed array so that any failure,
 * at any field, is cleaned up by kl_tree_clear.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "format_internal.h"

#define TREE_MAGIC "KLTR"
#define TREE_MAGIC_LEN 4
#define TREE_VERSION 1
#define NS_MAX 1000000000u			/* §11: nanoseconds < 10^9 */
#define MODE_MASK 07777u
#define TS_LEN (8 + 4)
#define HOLE_LEN (8 + 8)
#define NODE_FLAG_DELTAS 1u			/* §11 flags bit 0 */
#define DELTA_MIN_LEN (4 + 4 + 1 + 1 + 2 * KL_ID_LEN)	/* one base */
#define XATTR_MIN_LEN (2 + 1 + 4)		/* 1-byte name, empty value */
/* Smallest entry: 1-byte name, empty strings, no xattrs/holes/chunks. */
#define NODE_MIN_LEN (2 + 1 + 1 + 1 + 4 + 4 + 4 + 2 + 2 + 3 * TS_LEN + \
	8 + 8 + 8 + 4 + 8 + 8 + 2 + 4 + 4 + 4 + KL_ID_LEN)

static_assert(NODE_MIN_LEN == 147, "FORMAT.md §11 entry layout");

/* u32 count of items of at least unit bytes: KL_E_LIMIT above max,
 * KL_E_CORRUPT if they cannot fit in the rest of the input. */
static int
get_count32(struct buf *b, uint32_t max, size_t unit, uint32_t *cnt)
{
	uint32_t v;
	int r;

	if ((r = buf_get_u32le(b, &v)) != KL_OK)
		return r;
	if (v > max)
		return KL_E_LIMIT;
	if ((uint64_t)v * unit > buf_avail(b))
		return KL_E_CORRUPT;
	*cnt = v;
	return KL_OK;
}

static int
get_ts(struct buf *b, struct kl_ts *ts)
{
	int r;

	if ((r = fmt_get_i64(b, &ts->s)) != KL_OK)
		return r;
	return buf_get_u32le(b, &ts->ns);
}

static int
put_ts(struct buf *b, const struct kl_ts *ts)
{
	int r;

	if ((r = buf_put_u64le(b, (uint64_t)ts->s)) != KL_OK)
		return r;
	return buf_put_u32le(b, ts->ns);
}

/* §11 name: 1..255 bytes, no '/' or NUL, not "." or "..". */
static int
name_check(const uint8_t *p, size_t n)
{
	if (n > KL_NAME_MAX)
		return KL_E_LIMIT;
	if (n == 0 || p == NULL || memchr(p, '/', n) != NULL ||
	    memchr(p, 0, n) != NULL)
		return KL_E_CORRUPT;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return KL_E_CORRUPT;
	return KL_OK;
}

static int
ts_ok(const struct kl_ts *ts)
{
	return ts->ns < NS_MAX;
}

/* Fields whose presence depends on the type (§11 "rule" column). */
static int
type_check(const struct kl_node *n)
{
	size_t tl = fmt_slen(n->target, KL_TARGET_MAX);
	int file = n->type == KL_NODE_FILE, link = n->type == KL_NODE_SYMLINK;
	int dev = n->type == KL_NODE_CHR || n->type == KL_NODE_BLK;

	if (tl > KL_TARGET_MAX)
		return KL_E_LIMIT;
	if (!file && (n->nchunks != 0 || n->nholes != 0 || n->ndeltas != 0))
		return KL_E_CORRUPT;
	if (link ? (tl == 0 || n->size != tl) : tl != 0)
		return KL_E_CORRUPT;
	if (!file && !link && n->size != 0)
		return KL_E_CORRUPT;
	if ((n->type == KL_NODE_DIR) == kl_id_is_zero(&n->subtree))
		return KL_E_CORRUPT;
	if (!dev && n->rdev != 0)
		return KL_E_CORRUPT;
	return KL_OK;
}

/* Names 1..255 bytes, strictly increasing; values at most 64 KiB. */
static int
xattrs_check(const struct kl_node *n)
{
	const struct kl_xattr *x = n->xattrs, *prev = NULL;
	size_t i, l;

	if (n->nxattrs > KL_XATTRS_MAX)
		return KL_E_LIMIT;
	if (n->nxattrs > 0 && x == NULL)
		return KL_E_CORRUPT;
	for (i = 0; i < n->nxattrs; prev = &x[i], i++) {
		if ((l = fmt_slen(x[i].name, KL_NAME_MAX)) > KL_NAME_MAX ||
		    x[i].value_len > KL_XATTR_VALUE_MAX)
			return KL_E_LIMIT;
		if (l == 0 || (x[i].value_len > 0 && x[i].value == NULL))
			return KL_E_CORRUPT;
		if (prev != NULL && strcmp(prev->name, x[i].name) >= 0)
			return KL_E_CORRUPT;
	}
	return KL_OK;
}

/* Non-empty, increasing, non-overlapping (adjacent is allowed), inside
 * size. */
static int
holes_check(const struct kl_node *n)
{
	uint64_t end = 0;
	size_t i;

	if (n->nholes > 0 && n->holes == NULL)
		return KL_E_CORRUPT;
	for (i = 0; i < n->nholes; i++) {
		const struct kl_hole *h = &n->holes[i];

		if (h->len == 0 || h->off < end || h->len > n->size ||
		    h->off > n->size - h->len)
			return KL_E_CORRUPT;
		end = h->off + h->len;
	}
	return KL_OK;
}

/* Indexes strictly increasing below nchunks; lengths, generations and
 * base counts in range. */
static int
deltas_check(const struct kl_node *n)
{
	const struct kl_delta_ref *d = n->deltas;
	size_t i;

	if (n->ndeltas == 0)
		return KL_OK;
	if (d == NULL || n->ndeltas > n->nchunks)
		return KL_E_CORRUPT;
	for (i = 0; i < n->ndeltas; i++) {
		if (d[i].index >= n->nchunks ||
		    (i > 0 && d[i].index <= d[i - 1].index))
			return KL_E_CORRUPT;
		if (d[i].len == 0 || d[i].gen == 0 || d[i].nbases == 0)
			return KL_E_CORRUPT;
		if (d[i].len > KL_DELTA_TARGET_MAX ||
		    d[i].nbases > KL_DELTA_REF_BASES_MAX)
			return KL_E_LIMIT;
	}
	return KL_OK;
}

const struct kl_delta_ref *
kl_node_delta(const struct kl_node *n, size_t i)
{
	size_t lo = 0, hi = n->ndeltas, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (n->deltas[mid].index == i)
			return &n->deltas[mid];
		if (n->deltas[mid].index < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
kl_node_blobs(const struct kl_node *n,
    int (*cb)(void *arg, const struct kl_id *id, uint8_t type), void *arg)
{
	const struct kl_delta_ref *d;
	size_t i, k = 0;
	uint8_t j;
	int rc;

	for (i = 0; i < n->nchunks; i++) {
		/* delta entries are sorted by index: walk them alongside */
		d = k < n->ndeltas && n->deltas[k].index == i ?
		    &n->deltas[k++] : NULL;
		if (d == NULL) {
			if ((rc = cb(arg, &n->chunks[i], KL_BLOB_TYPE_DATA)) != 0)
				return rc;
			continue;
		}
		if ((rc = cb(arg, &d->delta, KL_BLOB_TYPE_DELTA)) != 0)
			return rc;
		for (j = 0; j < d->nbases; j++)
			if ((rc = cb(arg, &d->bases[j], KL_BLOB_TYPE_DATA)) !=
			    0)
				return rc;
	}
	return 0;
}

int
kl_node_valid(const struct kl_node *n)
{
	int r;

	if (n->type < KL_NODE_FILE || n->type > KL_NODE_SOCK)
		return KL_E_UNSUPPORTED;
	if ((r = name_check(n->name, n->name_len)) != KL_OK)
		return r;
	if (fmt_slen(n->user, KL_NAME_MAX) > KL_NAME_MAX ||
	    fmt_slen(n->group, KL_NAME_MAX) > KL_NAME_MAX)
		return KL_E_LIMIT;
	if ((n->mode & ~MODE_MASK) != 0 || !ts_ok(&n->mtime) ||
	    !ts_ok(&n->atime) || !ts_ok(&n->ctime))
		return KL_E_CORRUPT;
	if (n->nchunks > 0 && n->chunks == NULL)
		return KL_E_CORRUPT;
	if ((r = type_check(n)) != KL_OK || (r = xattrs_check(n)) != KL_OK ||
	    (r = deltas_check(n)) != KL_OK)
		return r;
	return holes_check(n);
}

/* name, type, flags (bit 0: delta entries follow the chunks; the others
 * reserved), mode, ids, owner names. */
static int
get_node_head(struct buf *b, struct kl_node *n, uint8_t *fl)
{
	const uint8_t *p;
	uint8_t flags;
	int r;

	if ((r = buf_get_str16(b, KL_NAME_MAX, &p, &n->name_len)) != KL_OK)
		return r;
	if ((n->name = fmt_memdup0(p, n->name_len)) == NULL)
		return KL_E_NOMEM;
	if ((r = buf_get_u8(b, &n->type)) != KL_OK ||
	    (r = buf_get_u8(b, &flags)) != KL_OK)
		return r;
	if ((flags & ~NODE_FLAG_DELTAS) != 0)
		return KL_E_UNSUPPORTED;
	*fl = flags;
	if ((r = buf_get_u32le(b, &n->mode)) != KL_OK ||
	    (r = buf_get_u32le(b, &n->uid)) != KL_OK ||
	    (r = buf_get_u32le(b, &n->gid)) != KL_OK ||
	    (r = fmt_get_str(b, KL_NAME_MAX, &n->user)) != KL_OK ||
	    (r = fmt_get_str(b, KL_NAME_MAX, &n->group)) != KL_OK)
		return r;
	return KL_OK;
}

/* Times, size, inode, device, nlink, rdev, link group, target. */
static int
get_node_stat(struct buf *b, struct kl_node *n)
{
	int r;

	if ((r = get_ts(b, &n->mtime)) != KL_OK ||
	    (r = get_ts(b, &n->atime)) != KL_OK ||
	    (r = get_ts(b, &n->ctime)) != KL_OK ||
	    (r = buf_get_u64le(b, &n->size)) != KL_OK ||
	    (r = buf_get_u64le(b, &n->inode)) != KL_OK ||
	    (r = buf_get_u64le(b, &n->device)) != KL_OK ||
	    (r = buf_get_u32le(b, &n->nlink)) != KL_OK ||
	    (r = buf_get_u64le(b, &n->rdev)) != KL_OK ||
	    (r = buf_get_u64le(b, &n->link_group)) != KL_OK ||
	    (r = fmt_get_str(b, KL_TARGET_MAX, &n->target)) != KL_OK)
		return r;
	return KL_OK;
}

static int
get_xattr(struct buf *b, struct kl_xattr *x)
{
	const uint8_t *p;
	int r;

	if ((r = fmt_get_str(b, KL_NAME_MAX, &x->name)) != KL_OK ||
	    (r = buf_get_bytes32(b, KL_XATTR_VALUE_MAX, &p,
	    &x->value_len)) != KL_OK)
		return r;
	if ((x->value = fmt_memdup0(p, x->value_len)) == NULL)
		return KL_E_NOMEM;
	return KL_OK;
}

static int
get_xattrs(struct buf *b, struct kl_node *n)
{
	uint32_t cnt, i;
	int r;

	if ((r = get_count32(b, KL_XATTRS_MAX, XATTR_MIN_LEN, &cnt)) != KL_OK)
		return r;
	if (cnt == 0)
		return KL_OK;
	if ((n->xattrs = calloc(cnt, sizeof(*n->xattrs))) == NULL)
		return KL_E_NOMEM;
	n->nxattrs = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = get_xattr(b, &n->xattrs[i])) != KL_OK)
			return r;
	return KL_OK;
}

static int
get_holes(struct buf *b, struct kl_node *n)
{
	uint32_t cnt, i;
	int r;

	if ((r = get_count32(b, UINT32_MAX, HOLE_LEN, &cnt)) != KL_OK)
		return r;
	if (cnt == 0)
		return KL_OK;
	if ((n->holes = calloc(cnt, sizeof(*n->holes))) == NULL)
		return KL_E_NOMEM;
	n->nholes = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = buf_get_u64le(b, &n->holes[i].off)) != KL_OK ||
		    (r = buf_get_u64le(b, &n->holes[i].len)) != KL_OK)
			return r;
	return KL_OK;
}

static int
get_chunks(struct buf *b, struct kl_node *n)
{
	uint32_t cnt, i;
	int r;

	if ((r = get_count32(b, UINT32_MAX, KL_ID_LEN, &cnt)) != KL_OK)
		return r;
	if (cnt == 0)
		return KL_OK;
	if ((n->chunks = calloc(cnt, sizeof(*n->chunks))) == NULL)
		return KL_E_NOMEM;
	n->nchunks = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = buf_get(b, n->chunks[i].b, KL_ID_LEN)) != KL_OK)
			return r;
	return KL_OK;
}

static int
get_delta(struct buf *b, struct kl_delta_ref *d)
{
	uint8_t i;
	int r;

	if ((r = buf_get_u32le(b, &d->index)) != KL_OK ||
	    (r = buf_get_u32le(b, &d->len)) != KL_OK ||
	    (r = buf_get_u8(b, &d->gen)) != KL_OK ||
	    (r = buf_get_u8(b, &d->nbases)) != KL_OK)
		return r;
	if (d->nbases == 0)
		return KL_E_CORRUPT;
	if (d->nbases > KL_DELTA_REF_BASES_MAX)
		return KL_E_LIMIT;
	if ((r = buf_get(b, d->delta.b, KL_ID_LEN)) != KL_OK)
		return r;
	for (i = 0; i < d->nbases; i++)
		if ((r = buf_get(b, d->bases[i].b, KL_ID_LEN)) != KL_OK)
			return r;
	return KL_OK;
}

/* Flag bit 0: 1..nchunks delta entries (the rest of the rules are
 * kl_node_valid's). */
static int
get_deltas(struct buf *b, struct kl_node *n)
{
	uint32_t cnt, i;
	int r;

	if ((r = get_count32(b, UINT32_MAX, DELTA_MIN_LEN, &cnt)) != KL_OK)
		return r;
	if (cnt == 0 || cnt > n->nchunks)
		return KL_E_CORRUPT;
	if ((n->deltas = calloc(cnt, sizeof(*n->deltas))) == NULL)
		return KL_E_NOMEM;
	n->ndeltas = cnt;
	for (i = 0; i < cnt; i++)
		if ((r = get_delta(b, &n->deltas[i])) != KL_OK)
			return r;
	return KL_OK;
}

/* Parses one entry into the zeroed *n; partial results stay in *n. */
static int
get_node(struct buf *b, struct kl_node *n)
{
	uint8_t flags = 0;
	int r;

	if ((r = get_node_head(b, n, &flags)) != KL_OK ||
	    (r = get_node_stat(b, n)) != KL_OK ||
	    (r = get_xattrs(b, n)) != KL_OK ||
	    (r = get_holes(b, n)) != KL_OK ||
	    (r = get_chunks(b, n)) != KL_OK ||
	    ((flags & NODE_FLAG_DELTAS) && (r = get_deltas(b, n)) != KL_OK) ||
	    (r = buf_get(b, n->subtree.b, KL_ID_LEN)) != KL_OK)
		return r;
	return kl_node_valid(n);
}

static int
get_tree_head(struct buf *b, uint32_t *cnt)
{
	uint8_t magic[TREE_MAGIC_LEN], version, rsv[3];
	int r;

	if ((r = buf_get(b, magic, TREE_MAGIC_LEN)) != KL_OK ||
	    (r = buf_get_u8(b, &version)) != KL_OK ||
	    (r = buf_get(b, rsv, sizeof(rsv))) != KL_OK)
		return r;
	if (memcmp(magic, TREE_MAGIC, TREE_MAGIC_LEN) != 0)
		return KL_E_CORRUPT;
	if (version != TREE_VERSION || rsv[0] != 0 || rsv[1] != 0 ||
	    rsv[2] != 0)
		return KL_E_UNSUPPORTED;
	return get_count32(b, KL_TREE_ENTRIES_MAX, NODE_MIN_LEN, cnt);
}

static int
names_increase(const struct kl_node *a, const struct kl_node *b)
{
	return kl_name_cmp(a->name, a->name_len, b->name, b->name_len) < 0;
}

int
kl_tree_decode(const uint8_t *p, size_t len, struct kl_tree *out)
{
	struct kl_tree t = { NULL, 0 };
	struct buf b;
	uint32_t cnt, i;
	int r;

	if (len > KL_TREE_RAW_MAX)
		return KL_E_LIMIT;
	buf_view_init(&b, p, len);
	if ((r = get_tree_head(&b, &cnt)) != KL_OK)
		goto out;
	if (cnt > 0 && (t.nodes = calloc(cnt, sizeof(*t.nodes))) == NULL) {
		r = KL_E_NOMEM;
		goto out;
	}
	t.n = cnt;
	for (i = 0; i < cnt; i++) {
		if ((r = get_node(&b, &t.nodes[i])) != KL_OK)
			goto out;
		if (i > 0 && !names_increase(&t.nodes[i - 1], &t.nodes[i])) {
			r = KL_E_CORRUPT;
			goto out;
		}
	}
	if (buf_avail(&b) != 0) {
		r = KL_E_CORRUPT;
		goto out;
	}
	*out = t;
	t.nodes = NULL;
	t.n = 0;
out:
	kl_tree_clear(&t);
	return r;
}

static int
put_node_head(struct buf *b, const struct kl_node *n)
{
	int r;

	if ((r = buf_put_str16(b, n->name, n->name_len)) != KL_OK ||
	    (r = buf_put_u8(b, n->type)) != KL_OK ||
	    (r = buf_put_u8(b, n->ndeltas > 0 ? NODE_FLAG_DELTAS : 0)) !=
	    KL_OK ||
	    (r = buf_put_u32le(b, n->mode)) != KL_OK ||
	    (r = buf_put_u32le(b, n->uid)) != KL_OK ||
	    (r = buf_put_u32le(b, n->gid)) != KL_OK ||
	    (r = fmt_put_str(b, n->user)) != KL_OK ||
	    (r = fmt_put_str(b, n->group)) != KL_OK)
		return r;
	return KL_OK;
}

static int
put_node_stat(struct buf *b, const struct kl_node *n)
{
	int r;

	if ((r = put_ts(b, &n->mtime)) != KL_OK ||
	    (r = put_ts(b, &n->atime)) != KL_OK ||
	    (r = put_ts(b, &n->ctime)) != KL_OK ||
	    (r = buf_put_u64le(b, n->size)) != KL_OK ||
	    (r = buf_put_u64le(b, n->inode)) != KL_OK ||
	    (r = buf_put_u64le(b, n->device)) != KL_OK ||
	    (r = buf_put_u32le(b, n->nlink)) != KL_OK ||
	    (r = buf_put_u64le(b, n->rdev)) != KL_OK ||
	    (r = buf_put_u64le(b, n->link_group)) != KL_OK ||
	    (r = fmt_put_str(b, n->target)) != KL_OK)
		return r;
	return KL_OK;
}

/* Counts were bounded by kl_node_valid (xattrs) or are checked here. */
static int
put_node_lists(struct buf *b, const struct kl_node *n)
{
	size_t i;
	int r;

	if (n->nholes > UINT32_MAX || n->nchunks > UINT32_MAX)
		return KL_E_LIMIT;
	if ((r = buf_put_u32le(b, (uint32_t)n->nxattrs)) != KL_OK)
		return r;
	for (i = 0; i < n->nxattrs && r == KL_OK; i++)
		if ((r = fmt_put_str(b, n->xattrs[i].name)) == KL_OK)
			r = buf_put_bytes32(b, n->xattrs[i].value,
			    n->xattrs[i].value_len);
	if (r != KL_OK || (r = buf_put_u32le(b, (uint32_t)n->nholes)) != KL_OK)
		return r;
	for (i = 0; i < n->nholes && r == KL_OK; i++)
		if ((r = buf_put_u64le(b, n->holes[i].off)) == KL_OK)
			r = buf_put_u64le(b, n->holes[i].len);
	if (r != KL_OK ||
	    (r = buf_put_u32le(b, (uint32_t)n->nchunks)) != KL_OK)
		return r;
	for (i = 0; i < n->nchunks && r == KL_OK; i++)
		r = buf_put(b, n->chunks[i].b, KL_ID_LEN);
	if (r != KL_OK || n->ndeltas == 0)
		return r;
	/* ndeltas <= nchunks (kl_node_valid) */
	if ((r = buf_put_u32le(b, (uint32_t)n->ndeltas)) != KL_OK)
		return r;
	for (i = 0; i < n->ndeltas && r == KL_OK; i++) {
		const struct kl_delta_ref *d = &n->deltas[i];
		uint8_t j;

		if ((r = buf_put_u32le(b, d->index)) != KL_OK ||
		    (r = buf_put_u32le(b, d->len)) != KL_OK ||
		    (r = buf_put_u8(b, d->gen)) != KL_OK ||
		    (r = buf_put_u8(b, d->nbases)) != KL_OK ||
		    (r = buf_put(b, d->delta.b, KL_ID_LEN)) != KL_OK)
			return r;
		for (j = 0; j < d->nbases && r == KL_OK; j++)
			r = buf_put(b, d->bases[j].b, KL_ID_LEN);
	}
	return r;
}

static int
put_node(struct buf *b, const struct kl_node *n)
{
	int r;

	if ((r = kl_node_valid(n)) != KL_OK)
		return fmt_enc_err(r);
	if ((r = put_node_head(b, n)) != KL_OK ||
	    (r = put_node_stat(b, n)) != KL_OK ||
	    (r = put_node_lists(b, n)) != KL_OK)
		return r;
	return buf_put(b, n->subtree.b, KL_ID_LEN);
}

static int
put_tree_head(struct buf *b, size_t n)
{
	int r;

	if ((r = buf_put(b, TREE_MAGIC, TREE_MAGIC_LEN)) != KL_OK ||
	    (r = buf_put_u8(b, TREE_VERSION)) != KL_OK ||
	    (r = buf_put_zero(b, 3)) != KL_OK)
		return r;
	return buf_put_u32le(b, (uint32_t)n);
}

int
kl_tree_encode(const struct kl_tree *t, struct buf *out)
{
	size_t mark = buf_size(out), i;
	int r;

	if (t->n > KL_TREE_ENTRIES_MAX)
		return KL_E_LIMIT;
	if (t->n > 0 && t->nodes == NULL)
		return KL_E_INVAL;
	if ((r = put_tree_head(out, t->n)) != KL_OK)
		goto out;
	for (i = 0; i < t->n; i++) {
		if (i > 0 && !names_increase(&t->nodes[i - 1], &t->nodes[i])) {
			r = KL_E_INVAL;
			goto out;
		}
		if ((r = put_node(out, &t->nodes[i])) != KL_OK)
			goto out;
		if (buf_size(out) - mark > KL_TREE_RAW_MAX) {
			r = KL_E_LIMIT;
			goto out;
		}
	}
out:
	if (r != KL_OK)
		buf_unput(out, buf_size(out) - mark);
	return r;
}

void
kl_tree_clear(struct kl_tree *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n && t->nodes != NULL; i++)
		kl_node_clear(&t->nodes[i]);
	free(t->nodes);
	t->nodes = NULL;
	t->n = 0;
}

void
kl_node_clear(struct kl_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nxattrs && n->xattrs != NULL; i++) {
		free(n->xattrs[i].name);
		free(n->xattrs[i].value);
	}
	free(n->xattrs);
	free(n->name);
	free(n->user);
	free(n->group);
	free(n->target);
	free(n->holes);
	free(n->chunks);
	free(n->deltas);
	memset(n, 0, sizeof(*n));
}

/* NULL stays NULL; otherwise a NUL-terminated copy. */
static int
dup_str(const char *s, char **out)
{
	if (s != NULL && (*out = fmt_memdup0(s, strlen(s))) == NULL)
		return KL_E_NOMEM;
	return KL_OK;
}

static int
copy_xattrs(const struct kl_node *src, struct kl_node *dst)
{
	const struct kl_xattr *x;
	size_t i;

	if (src->nxattrs == 0 || src->xattrs == NULL)
		return KL_OK;
	if ((dst->xattrs = calloc(src->nxattrs, sizeof(*dst->xattrs))) == NULL)
		return KL_E_NOMEM;
	dst->nxattrs = src->nxattrs;
	for (i = 0; i < src->nxattrs; i++) {
		x = &src->xattrs[i];
		dst->xattrs[i].value_len = x->value_len;
		if (dup_str(x->name, &dst->xattrs[i].name) != KL_OK ||
		    (x->value != NULL && (dst->xattrs[i].value =
		    fmt_memdup0(x->value, x->value_len)) == NULL))
			return KL_E_NOMEM;
	}
	return KL_OK;
}

/* Holes, chunks and delta entries: plain arrays. */
static int
copy_lists(const struct kl_node *src, struct kl_node *dst)
{
	size_t hl = src->nholes * sizeof(*src->holes);
	size_t cl = src->nchunks * sizeof(*src->chunks);
	size_t dl = src->ndeltas * sizeof(*src->deltas);

	if (src->holes != NULL && src->nholes > 0 &&
	    (dst->holes = fmt_memdup0(src->holes, hl)) == NULL)
		return KL_E_NOMEM;
	if (src->chunks != NULL && src->nchunks > 0 &&
	    (dst->chunks = fmt_memdup0(src->chunks, cl)) == NULL)
		return KL_E_NOMEM;
	if (src->deltas != NULL && src->ndeltas > 0 &&
	    (dst->deltas = fmt_memdup0(src->deltas, dl)) == NULL)
		return KL_E_NOMEM;
	return KL_OK;
}

int
kl_node_content_copy(struct kl_node *dst, const struct kl_node *src)
{
	struct kl_node c;

	memset(&c, 0, sizeof(c));
	if (copy_lists(src, &c) != KL_OK) {
		kl_node_clear(&c);
		return KL_E_NOMEM;
	}
	free(dst->holes);
	free(dst->chunks);
	free(dst->deltas);
	dst->holes = c.holes;
	dst->chunks = c.chunks;
	dst->deltas = c.deltas;
	dst->nholes = src->holes != NULL ? src->nholes : 0;
	dst->nchunks = src->chunks != NULL ? src->nchunks : 0;
	dst->ndeltas = src->deltas != NULL ? src->ndeltas : 0;
	return KL_OK;
}

int
kl_node_copy(const struct kl_node *src, struct kl_node *dst)
{
	struct kl_node n = *src;
	int r = KL_E_NOMEM;

	/* Drop every borrowed pointer first, so a partial copy is freed by
	 * kl_node_clear. */
	n.name = NULL;
	n.user = n.group = n.target = NULL;
	n.xattrs = NULL;
	n.nxattrs = 0;
	n.holes = NULL;
	n.chunks = NULL;
	n.deltas = NULL;
	if (src->name != NULL &&
	    (n.name = fmt_memdup0(src->name, src->name_len)) == NULL)
		goto out;
	if (dup_str(src->user, &n.user) != KL_OK ||
	    dup_str(src->group, &n.group) != KL_OK ||
	    dup_str(src->target, &n.target) != KL_OK ||
	    copy_xattrs(src, &n) != KL_OK || copy_lists(src, &n) != KL_OK)
		goto out;
	*dst = n;
	memset(&n, 0, sizeof(n));
	r = KL_OK;
out:
	kl_node_clear(&n);
	return r;
}

const struct kl_node *
kl_tree_find(const struct kl_tree *t, const uint8_t *name, size_t len)
{
	size_t lo = 0, hi = t != NULL ? t->n : 0, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = kl_name_cmp(t->nodes[mid].name, t->nodes[mid].name_len,
		    name, len);
		if (c == 0)
			return &t->nodes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
