/*
 * Other copies of blobs.  The blob index keeps one location per blob (the
 * first index entry seen); the same blob can also be stored in other packs
 * (two hosts that uploaded the same new data at the same time, each before
 * seeing the other's index).  When a restore finds a pack missing or
 * damaged, this looks for those other copies in every index file of the
 * repository: a rare, slow path that reads and decrypts all index files.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/repo.h"

/* One blob asked for: its position in the caller's arrays. */
struct alt_q {
	struct kl_id id;
	size_t i;
};

struct alt_req {
	struct alt_q *q;	/* sorted by id */
	size_t n;
	const struct kl_id *avoid;
	struct kl_blob_loc *alt;
	uint8_t *found;
	size_t left;		/* asked for and not yet found */
};

static int
alt_q_cmp(const void *a, const void *b)
{
	const struct alt_q *x = a, *y = b;
	int c = kl_id_cmp(&x->id, &y->id);

	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* First position in q whose id is >= id. */
static size_t
alt_lower(const struct alt_req *a, const struct kl_id *id)
{
	size_t lo = 0, hi = a->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (kl_id_cmp(&a->q[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* An index entry: a copy for every request of its blob not in its pack. */
static void
alt_offer(struct alt_req *a, const struct kl_id *pack,
    const struct kl_blob_entry *e)
{
	size_t k, i;

	for (k = alt_lower(a, &e->id); k < a->n &&
	    kl_id_eq(&a->q[k].id, &e->id); k++) {
		i = a->q[k].i;
		if (a->found[i] || kl_id_eq(&a->avoid[i], pack))
			continue;
		a->alt[i].pack = *pack;
		a->alt[i].type = e->type;
		a->alt[i].offset = e->offset;
		a->alt[i].stored_len = e->stored_len;
		a->alt[i].raw_len = e->raw_len;
		a->found[i] = 1;
		a->left--;
	}
}

static void
alt_scan(struct alt_req *a, const struct kl_index *ix)
{
	size_t p, e;

	for (p = 0; p < ix->n && a->left > 0; p++)
		for (e = 0; e < ix->packs[p].n; e++)
			alt_offer(a, &ix->packs[p].pack_id, &ix->packs[p].e[e]);
}

int
kl_repo_blob_alternates(struct kl_repo *r, const struct kl_id *ids,
    const struct kl_id *avoid, size_t n, struct kl_blob_loc *alt,
    uint8_t *found)
{
	struct alt_req a;
	struct kl_index ix;
	struct kl_id *files = NULL;
	size_t nfiles = 0, f, i;
	int rc;

	memset(found, 0, n);
	if (n == 0)
		return KL_OK;
	if ((a.q = malloc(n * sizeof(*a.q))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n; i++) {
		a.q[i].id = ids[i];
		a.q[i].i = i;
	}
	qsort(a.q, n, sizeof(*a.q), alt_q_cmp);
	a.n = a.left = n;
	a.avoid = avoid;
	a.alt = alt;
	a.found = found;
	rc = kl_repo_list_ids(r, KL_FT_INDEX, &files, &nfiles);
	for (f = 0; rc == KL_OK && f < nfiles && a.left > 0; f++) {
		/* a damaged index file is no reason to stop looking */
		if (kl_repo_index_file_read(r, &files[f], &ix) != KL_OK)
			continue;
		alt_scan(&a, &ix);
		kl_index_clear(&ix);
	}
	free(files);
	free(a.q);
	return rc;
}
