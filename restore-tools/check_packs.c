/*
 * Packs and blob locations in kluis check: the packs the storage lists,
 * the blobs of packs no index file names (from their own headers), and
 * every blob location sorted, merged, checked against its pack's size and
 * mapped by blob id.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "check_internal.h"

int
pack_ref(struct chk *k, const struct kl_id *id, uint32_t *out)
{
	struct cpack *np;
	int rc;

	if (idmap_get(&k->pmap, id, out))
		return KL_OK;
	if ((rc = KL_GROW(k->packs, k->packs_cap, k->npacks + 1)) != KL_OK)
		return rc;
	if ((rc = idmap_put(&k->pmap, id, (uint32_t)k->npacks)) < 0)
		return rc;
	np = &k->packs[k->npacks];
	memset(np, 0, sizeof(*np));
	np->id = *id;
	np->checked_s = KL_CAT_TIME_NONE;
	*out = (uint32_t)k->npacks++;
	return KL_OK;
}

int
entry_add(struct chk *k, uint32_t pack, const struct kl_blob_entry *be,
    int orphan)
{
	struct centry *ne;
	int rc;

	if (k->ne >= UINT32_MAX - 1)
		return KL_E_LIMIT;	/* entries are numbered by u32 */
	if ((rc = KL_GROW(k->e, k->e_cap, k->ne + 1)) != KL_OK)
		return rc;
	ne = &k->e[k->ne++];
	memset(ne, 0, sizeof(*ne));
	ne->id = be->id;
	ne->pack = pack;
	ne->type = be->type;
	ne->offset = be->offset;
	ne->stored_len = be->stored_len;
	ne->raw_len = be->raw_len;
	ne->orphan = (uint8_t)orphan;
	return KL_OK;
}

int
chk_list_pack(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct chk *k = arg;
	struct kl_id id;
	uint32_t i;
	int rc;

	(void)mtime_s;
	if (kl_id_parse(name, &id) != KL_OK)
		return 0;
	if ((rc = pack_ref(k, &id, &i)) != KL_OK)
		return rc;
	k->packs[i].listed = 1;
	k->packs[i].size = size;
	return 0;
}

int
chk_orphans_phase(struct chk *k)
{
	struct kl_blob_entry *e;
	struct kl_error ke;
	size_t i, j, n;
	int rc = KL_OK;

	for (i = 0; i < k->npacks && rc == KL_OK; i++) {
		struct cpack *p = &k->packs[i];

		if (!p->listed || p->indexed)
			continue;
		kl_error_clear(&ke);
		rc = kl_repo_pack_header_read(k->r, &p->id, p->size, &e, &n,
		    &ke);
		if (rc == KL_E_NOTFOUND) {
			p->gone = 1;	/* gone since the listing */
			rc = KL_OK;
		} else if (is_damage(rc)) {
			p->orphan_err = (int8_t)rc;
			rc = KL_OK;
		} else if (rc != KL_OK) {
			rc = chk_fail(k, &ke, rc);
		} else {
			for (j = 0; j < n && rc == KL_OK; j++)
				rc = entry_add(k, (uint32_t)i, &e[j], 1);
		}
		free(e);
	}
	return rc;
}

int
entry_cmp(const void *a, const void *b)
{
	const struct centry *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->orphan != y->orphan)
		return x->orphan < y->orphan ? -1 : 1;
	if (x->stored_len != y->stored_len)
		return x->stored_len < y->stored_len ? -1 : 1;
	if (x->raw_len != y->raw_len)
		return x->raw_len < y->raw_len ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

/* Two entries that name the same location (from different sources). */
static int
entry_same_loc(const struct centry *a, const struct centry *b)
{
	return a->pack == b->pack && a->offset == b->offset &&
	    a->stored_len == b->stored_len && a->raw_len == b->raw_len &&
	    a->type == b->type && kl_id_eq(&a->id, &b->id);
}

/* One pack's entries e[first, first + n): extent, trees, expected size. */
static void
pack_extent(struct chk *k, struct cpack *p)
{
	uint64_t sum = 0, end = 0;
	size_t i;

	p->tree_lo = UINT32_MAX;
	p->tree_hi = 0;
	for (i = p->first; i < p->first + p->n; i++) {
		const struct centry *e = &k->e[i];
		uint64_t x = (uint64_t)e->offset + e->stored_len;

		sum += e->stored_len;
		if (x > end)
			end = x;
		if (e->type == KL_BLOB_TYPE_TREE) {
			if (e->offset < p->tree_lo)
				p->tree_lo = e->offset;
			if (x > p->tree_hi)
				p->tree_hi = (uint32_t)x;
		}
	}
	p->end = end;
	/*
	 * Blobs lie back to back after the preamble (FORMAT.md §8), then
	 * come the header (padme(4 + 45 n) plus the AEAD's 40 bytes) and
	 * the trailer: repo/repo_pack.c pack_buf_new.  Only if the entries
	 * are contiguous are they all of the pack's blobs.
	 */
	if (p->n > 0 && k->e[p->first].offset == KL_PACK_PREAMBLE_LEN &&
	    end == KL_PACK_PREAMBLE_LEN + sum)
		p->expect = end + kl_padme(4 + (uint64_t)KL_ENTRY_LEN * p->n) +
		    KL_AEAD_OVERHEAD + KL_PACK_TRAILER_LEN;
}

/* Maps every blob id to one location: index-named packs in the
 * repository first, then index-named ones that are gone, then orphans. */
static int
blobs_map(struct chk *k)
{
	size_t i;
	int pass, rc, take;

	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < k->ne; i++) {
			const struct centry *e = &k->e[i];
			const struct cpack *p = &k->packs[e->pack];

			take = pass == 0 ? !e->orphan && p->listed :
			    pass == 1 ? !e->orphan && !p->listed : e->orphan;
			if (take && (rc = idmap_put(&k->bmap, &e->id,
			    (uint32_t)i)) < 0)
				return rc;
		}
	}
	k->rep->blobs = k->bmap.m.n;
	return KL_OK;
}

/* The entries byid_build sorts (qsort has no context argument; the
 * check is single-threaded until its data phase). */
static const struct centry *byid_e;

static int
byid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = kl_id_cmp(&byid_e[x].id, &byid_e[y].id);

	return c != 0 ? c : x < y ? -1 : x > y;
}

/* Every location's index, sorted by blob id: where else a blob is. */
static int
byid_build(struct chk *k)
{
	size_t i;

	free(k->byid);
	if ((k->byid = malloc((k->ne ? k->ne : 1) * sizeof(*k->byid))) ==
	    NULL)
		return KL_E_NOMEM;
	for (i = 0; i < k->ne; i++)
		k->byid[i] = (uint32_t)i;
	byid_e = k->e;
	qsort(k->byid, k->ne, sizeof(*k->byid), byid_cmp);
	byid_e = NULL;
	return KL_OK;
}

size_t
chk_byid_lower(const struct chk *k, const struct kl_id *id)
{
	size_t lo = 0, hi = k->ne, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (kl_id_cmp(&k->e[k->byid[mid]].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
chk_entries_finish(struct chk *k)
{
	size_t i, w = 0;
	int rc;

	if (k->ne > 1)
		qsort(k->e, k->ne, sizeof(*k->e), entry_cmp);
	if ((rc = claims_phase(k)) != KL_OK)
		return rc;
	for (i = 0; i < k->ne; i++) {
		/* several index files (a check's attestation, ...) may name
		 * one location */
		if (w > 0 && entry_same_loc(&k->e[w - 1], &k->e[i]))
			continue;
		k->e[w++] = k->e[i];
	}
	k->ne = w;
	for (i = 0; i < k->ne; i++) {
		struct cpack *p = &k->packs[k->e[i].pack];

		if (p->n == 0)
			p->first = i;
		p->n++;
	}
	for (i = 0; i < k->npacks; i++) {
		struct cpack *p = &k->packs[i];

		pack_extent(k, p);
		if (p->listed)
			k->rep->packs++;
		if (p->listed && p->indexed && (p->expect ? p->size !=
		    p->expect : p->size < p->end))
			p->size_bad = 1;
	}
	if ((rc = blobs_map(k)) != KL_OK)
		return rc;
	return byid_build(k);
}
