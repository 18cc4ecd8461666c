/*
 * The index files in kluis check (issue #10 finding 1d).  An index file
 * is a claim by whoever wrote it - any key holder - about where blobs
 * are.  Every file is read and verified; files that a full key withdrew
 * (FORMAT.md §9) are left out; the claims are compared with the packs:
 * entries that name packs not in the repository, and entries that a
 * pack's own header denies, are counted against their file and never
 * taken for damage of the pack they point into.  Such files are named as
 * "bogus" with the command that withdraws them.  Last, with data read,
 * the packs found sound are vouched for in an index file signed with the
 * full key, which lets every host deduplicate against them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "check_internal.h"

/* Packs vouched for by one signed index file at most. */
#define ATTEST_PACKS_MAX 4096

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

/* Index files the catalog loaded earlier that are gone. */
static int
index_vanished(struct chk *k, const struct kl_id *ids, size_t n)
{
	struct kl_id *known = NULL;
	char name[96];
	size_t i, nk;
	int rc;

	if ((rc = kl_cat_index_list(k->cat, &known, &nk, k->err)) != KL_OK)
		return kl_error_wrap(k->err, rc, "catalog");
	for (i = 0; i < nk && rc == KL_OK; i++) {
		if ((n > 0 && bsearch(&known[i], ids, n, sizeof(*ids),
		    id_cmp) != NULL) || chk_pruned(k, &known[i]))
			continue;
		obj_name("index/", &known[i], name);
		rc = finding_new(k, KL_CHECK_MISSING, name, NULL, "this "
		    "client's catalog loaded it earlier and it is gone from "
		    "the repository: deleted, or the repository was put back "
		    "to an older state");
	}
	free(known);
	return rc;
}

/* Registers index file id; its number + 1 in *file. */
static int
ixf_add(struct chk *k, const struct kl_id *id, uint32_t *file)
{
	int rc;

	if ((rc = KL_GROW(k->ixf, k->ixf_cap, k->nixf + 1)) != KL_OK)
		return rc;
	memset(&k->ixf[k->nixf], 0, sizeof(k->ixf[0]));
	k->ixf[k->nixf].id = *id;
	*file = (uint32_t)++k->nixf;
	return KL_OK;
}

/* Appends n ids to the list (*v, *len, *cap). */
static int
ids_append(struct kl_id **v, size_t *len, size_t *cap,
    const struct kl_id *ids, size_t n)
{
	if (n == 0)
		return KL_OK;
	if (n > SIZE_MAX - *len)
		return KL_E_NOMEM;
	if (kl_grow(v, cap, *len + n, sizeof(**v)) != KL_OK)
		return KL_E_NOMEM;
	memcpy(*v + *len, ids, n * sizeof(*ids));
	*len += n;
	return KL_OK;
}

/* Remembers the files an attested index file withdraws, or, for a
 * retire record, the files whose absence it explains. */
static int
withdrawals_note(struct chk *k, const struct kl_index *ix)
{
	if (ix->retire)
		return ids_append(&k->rt, &k->nrt, &k->rt_cap, ix->withdrawn,
		    ix->nwithdrawn);
	return ids_append(&k->wd, &k->nwd, &k->wd_cap, ix->withdrawn,
	    ix->nwithdrawn);
}

static int
index_file_check(struct chk *k, const struct kl_id *id)
{
	struct kl_error e;
	struct kl_index ix;
	char name[96];
	uint32_t pi, file;
	size_t i, j;
	int rc, attested = 0;

	kl_error_clear(&e);
	rc = kl_repo_index_file_read(k->r, id, &ix, &attested, &e);
	if (is_damage(rc)) {	/* a finding, not an error */
		obj_name("index/", id, name);
		return finding_new(k, rc == KL_E_NOTFOUND ? KL_CHECK_MISSING :
		    KL_CHECK_CORRUPT, name, NULL, "cannot be read: %s; the "
		    "packs it names are located by their own headers",
		    errmsg_about(&e, name, rc));
	}
	if (rc != KL_OK)
		rc = chk_fail(k, &e, rc);
	if (rc == KL_OK && (rc = ixf_add(k, id, &file)) == KL_OK)
		rc = withdrawals_note(k, &ix);
	if (rc == KL_OK)
		k->ixf[file - 1].attested = (uint8_t)attested;
	for (i = 0; i < ix.n && rc == KL_OK; i++) {
		if ((rc = pack_ref(k, &ix.packs[i].pack_id, &pi)) != KL_OK)
			break;
		for (j = 0; j < ix.packs[i].n && rc == KL_OK; j++)
			if ((rc = entry_add(k, pi, &ix.packs[i].e[j], 0)) ==
			    KL_OK)
				k->e[k->ne - 1].file = file;
		k->ixf[file - 1].entries += ix.packs[i].n;
	}
	kl_index_clear(&ix);
	return rc;
}

int
chk_pruned(const struct chk *k, const struct kl_id *id)
{
	return k->nrt > 0 && bsearch(id, k->rt, k->nrt, sizeof(*k->rt),
	    id_cmp) != NULL;
}

int
chk_withdrawn(const struct chk *k, const struct kl_id *id)
{
	return k->nwd > 0 && bsearch(id, k->wd, k->nwd, sizeof(*k->wd),
	    id_cmp) != NULL;
}

/*
 * Leaves out the entries of withdrawn index files, takes withdrawn packs
 * for absent, and marks as indexed the packs that a file still in force
 * names.
 */
static void
withdrawals_apply(struct chk *k)
{
	size_t i, w = 0;

	if (k->nwd > 1)
		qsort(k->wd, k->nwd, sizeof(*k->wd), id_cmp);
	if (k->nrt > 1)
		qsort(k->rt, k->nrt, sizeof(*k->rt), id_cmp);
	for (i = 0; i < k->nixf; i++) {
		k->ixf[i].withdrawn = (uint8_t)chk_withdrawn(k, &k->ixf[i].id);
		k->rep->quarantined += k->ixf[i].withdrawn;
	}
	for (i = 0; i < k->npacks; i++) {
		if (!k->packs[i].listed || !chk_withdrawn(k, &k->packs[i].id))
			continue;
		k->packs[i].listed = 0;
		k->rep->quarantined++;
	}
	for (i = 0; i < k->ne; i++) {
		if (k->e[i].file != 0 && k->ixf[k->e[i].file - 1].withdrawn)
			continue;
		k->packs[k->e[i].pack].indexed = 1;
		k->e[w++] = k->e[i];
	}
	k->ne = w;
}

int
index_phase(struct chk *k)
{
	struct kl_id *ids = NULL;
	size_t i, n;
	int rc;

	if ((rc = kl_repo_list_ids(k->r, KL_FT_INDEX, &ids, &n, k->err)) !=
	    KL_OK)
		return kl_error_obj(k->err, rc, KL_ABOUT_INDEX, NULL, "index/",
		    "listing index/: %s", kl_strerror(rc));
	if (n > 1)
		qsort(ids, n, sizeof(*ids), id_cmp);
	k->rep->index_files = n;
	for (i = 0; i < n && rc == KL_OK; i++) {
		rc = index_file_check(k, &ids[i]);
		progress(k, "index", i + 1, n);
	}
	if (rc == KL_OK)
		withdrawals_apply(k);
	/* after the files: a retire record explains what prune deleted */
	if (rc == KL_OK)
		rc = index_vanished(k, ids, n);
	free(ids);
	return rc;
}

/* ---- claims against packs ---- */

/* The run of entries of one pack, [i, j) of k->e. */
static size_t
pack_run_end(const struct chk *k, size_t i)
{
	size_t j;

	for (j = i + 1; j < k->ne && k->e[j].pack == k->e[i].pack; j++)
		;
	return j;
}

static int
same_loc(const struct centry *a, const struct centry *b)
{
	return a->offset == b->offset && a->stored_len == b->stored_len &&
	    a->raw_len == b->raw_len && a->type == b->type &&
	    kl_id_eq(&a->id, &b->id);
}

/*
 * 1 if the index entries of one pack [i, j) (sorted) are not plainly the
 * pack's own list: some location is named by fewer sources than another
 * (several index files naming one pack all name all of it: a backup's
 * file and a check's attestation), or the locations do not tile the pack
 * from its preamble to a header of the size its length leaves.  A pack
 * that a backup wrote is never suspicious; a claim planted in somebody
 * else's pack always is.
 */
static int
pack_suspicious(const struct chk *k, size_t i, size_t j)
{
	const struct cpack *p = &k->packs[k->e[i].pack];
	uint64_t end = KL_PACK_PREAMBLE_LEN, nloc = 0;
	size_t a, b, mult = 0;

	for (a = i; a < j; a = b) {
		for (b = a + 1; b < j && same_loc(&k->e[a], &k->e[b]); b++)
			;
		if (mult == 0)
			mult = b - a;
		if (b - a != mult || k->e[a].offset != end)
			return 1;	/* uneven, a gap or an overlap */
		end += k->e[a].stored_len;
		nloc++;
	}
	return p->size != end + kl_padme(4 + (uint64_t)KL_ENTRY_LEN * nloc) +
	    KL_AEAD_OVERHEAD + KL_PACK_TRAILER_LEN;
}

static int
hdr_off_cmp(const void *a, const void *b)
{
	const struct kl_blob_entry *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int
hdr_same(const struct kl_blob_entry *x, const struct centry *e)
{
	return x->offset == e->offset && x->type == e->type &&
	    x->stored_len == e->stored_len && x->raw_len == e->raw_len &&
	    kl_id_eq(&x->id, &e->id);
}

/* 1 if the header h[0, n) (sorted by offset) lists location e. */
static int
hdr_lists(const struct kl_blob_entry *h, size_t n, const struct centry *e)
{
	struct kl_blob_entry key;
	const struct kl_blob_entry *x;

	key.offset = e->offset;
	x = bsearch(&key, h, n, sizeof(*h), hdr_off_cmp);
	return x != NULL && hdr_same(x, e);
}

/* Header entries that no entry of [i, j) names, kept to add as the
 * pack's own (orphan) locations after the walk. */
struct hdr_rest {
	struct kl_blob_entry *e;
	uint32_t *pack;
	size_t n, e_cap, pack_cap;
};

static int
hdr_rest_add(struct hdr_rest *r, const struct kl_blob_entry *x,
    uint32_t pack)
{
	int rc;

	if ((rc = KL_GROW(r->e, r->e_cap, r->n + 1)) != KL_OK ||
	    (rc = KL_GROW(r->pack, r->pack_cap, r->n + 1)) != KL_OK)
		return rc;
	r->e[r->n] = *x;
	r->pack[r->n++] = pack;
	return KL_OK;
}

/*
 * Reads the header of the suspicious pack of [i, j): entries it does not
 * list are denied and counted against their file; blobs it lists that no
 * entry names go to *rest.  A header that cannot be read proves nothing:
 * the pack's own findings say so.
 */
static int
pack_claims(struct chk *k, size_t i, size_t j, struct hdr_rest *rest)
{
	struct cpack *p = &k->packs[k->e[i].pack];
	struct kl_blob_entry *h = NULL;
	struct kl_error ke;
	size_t n = 0, a, b;
	int rc;

	kl_error_clear(&ke);
	rc = kl_repo_pack_header_read(k->r, &p->id, p->size, &h, &n, &ke);
	if (rc != KL_OK) {
		free(h);
		return is_damage(rc) ? KL_OK : chk_fail(k, &ke, rc);
	}
	qsort(h, n, sizeof(*h), hdr_off_cmp);
	for (a = i, b = 0; a < j; a++)
		b += hdr_lists(h, n, &k->e[a]);
	/*
	 * A header that lists none of them is not this pack's own list (the
	 * header does not name its pack: a pack file swapped for another
	 * would read like this): the pack's findings say what is wrong.
	 */
	for (a = i; a < j && b > 0; a++) {
		struct centry *e = &k->e[a];

		if (hdr_lists(h, n, e))
			continue;
		e->denied = 1;
		if (e->file != 0)
			k->ixf[e->file - 1].denied++;
	}
	for (b = 0, a = i; b < n && rc == KL_OK; b++) {
		while (a < j && k->e[a].offset < h[b].offset)
			a++;
		if (a < j && hdr_same(&h[b], &k->e[a]))
			continue;
		rc = hdr_rest_add(rest, &h[b], k->e[i].pack);
	}
	free(h);
	return rc;
}

/* An entry naming a pack that is not in the repository: counted against
 * its file, and the pack remembers who names it. */
static void
absent_note(struct chk *k, const struct centry *e)
{
	struct cpack *p = &k->packs[e->pack];

	if (e->file == 0 || chk_pruned(k, &p->id))
		return;		/* prune deleted it: explained */
	k->ixf[e->file - 1].absent++;
	if (p->file1 == 0)
		p->file1 = e->file;
	else if (p->file1 != e->file && p->file2 == 0)
		p->file2 = e->file;
}

/* Drops the denied entries and adds what the headers read listed. */
static int
claims_apply(struct chk *k, const struct hdr_rest *rest)
{
	size_t i, w;
	int rc = KL_OK;

	for (i = w = 0; i < k->ne; i++)
		if (!k->e[i].denied)
			k->e[w++] = k->e[i];
	k->ne = w;
	for (i = 0; i < rest->n && rc == KL_OK; i++)
		rc = entry_add(k, rest->pack[i], &rest->e[i], 1);
	return rc;
}

int
claims_phase(struct chk *k)
{
	struct hdr_rest rest;
	size_t i, j, w;
	int rc = KL_OK;

	memset(&rest, 0, sizeof(rest));
	for (i = 0; i < k->ne && rc == KL_OK; i = j) {
		const struct cpack *p = &k->packs[k->e[i].pack];

		j = pack_run_end(k, i);
		if (!p->listed) {
			for (w = i; w < j; w++)
				absent_note(k, &k->e[w]);
		} else if (p->indexed && !k->e[i].orphan &&
		    pack_suspicious(k, i, j))
			rc = pack_claims(k, i, j, &rest);
	}
	if (rc == KL_OK)
		rc = claims_apply(k, &rest);
	/* kept sorted for the merge of identical locations */
	if (rc == KL_OK && rest.n > 0)
		qsort(k->e, k->ne, sizeof(*k->e), entry_cmp);
	free(rest.e);
	free(rest.pack);
	return rc;
}

/* ---- conclusions ---- */

/* Entries of each file in a pack none of whose blobs verify (read). */
static void
fakes_count(struct chk *k)
{
	size_t i, j, a, bad;

	for (i = 0; i < k->ne; i = j) {
		const struct cpack *p = &k->packs[k->e[i].pack];

		j = pack_run_end(k, i);
		if (!p->read || p->hash_bad)
			continue;
		for (bad = 0, a = i; a < j; a++)
			bad += k->e[a].err != 0;
		if (bad < j - i)
			continue;	/* damage, not a fake */
		for (a = i; a < j; a++)
			if (k->e[a].file != 0)
				k->ixf[k->e[a].file - 1].fake++;
	}
}

static int
ixf_conclude(struct chk *k, const struct cixf *f)
{
	char name[96];
	uint64_t bad = f->absent + f->denied + f->fake;

	/*
	 * An index file that names packs which are gone is what deleted
	 * packs leave (the packs' findings say so); one whose every entry
	 * leads nowhere, or that names places a pack's own header denies,
	 * was planted.
	 */
	if (f->withdrawn || f->entries == 0 ||
	    (f->denied == 0 && bad < f->entries))
		return KL_OK;
	obj_name("index/", &f->id, name);
	return finding_new(k, KL_CHECK_BOGUS, name, NULL, "%llu of its %llu "
	    "entries do not hold what it says: %llu name packs that are not "
	    "in the repository, %llu are not where their pack's own header "
	    "lists them, %llu are in a pack none of whose blobs verify%s; %s",
	    (unsigned long long)bad, (unsigned long long)f->entries,
	    (unsigned long long)f->absent, (unsigned long long)f->denied,
	    (unsigned long long)f->fake, f->attested ? " (it is signed by a "
	    "full key: were its packs deleted since?)" : "",
	    bad >= f->entries ?
	    "none of its entries is usable: a key holder planted it, or the "
	    "packs it names were deleted; withdraw it (and a pack of fakes it "
	    "names) with 'kluis quarantine ID' (the audit log names the "
	    "uploader)" : "its other entries are sound: if packs were "
	    "deleted, restore them from a copy; if it was planted, withdraw "
	    "it with 'kluis quarantine ID'");
}

int
index_conclude(struct chk *k)
{
	size_t i;
	int rc = KL_OK;

	fakes_count(k);
	for (i = 0; i < k->nixf && rc == KL_OK; i++)
		rc = ixf_conclude(k, &k->ixf[i]);
	return rc;
}

/* ---- attestation ---- */

/* 1 if pack p was read and every blob in it verified. */
static int
pack_vouchable(const struct chk *k, const struct cpack *p)
{
	size_t a;

	if (!p->read || p->gone || p->hash_bad || p->hdr_err ||
	    p->hdr_mismatch || p->key_err || p->nbad || p->n == 0)
		return 0;
	for (a = p->first; a < p->first + p->n; a++)
		if (k->e[a].err != 0)
			return 0;
	return 1;
}

/* The entries of pack p as an index pack record (e malloc'd). */
static int
pack_record(const struct chk *k, const struct cpack *p,
    struct kl_index_pack *out)
{
	size_t a;

	out->pack_id = p->id;
	out->n = p->n;
	if ((out->e = calloc(p->n, sizeof(*out->e))) == NULL)
		return KL_E_NOMEM;
	for (a = 0; a < p->n; a++) {
		const struct centry *e = &k->e[p->first + a];

		out->e[a].type = e->type;
		out->e[a].id = e->id;
		out->e[a].offset = e->offset;
		out->e[a].stored_len = e->stored_len;
		out->e[a].raw_len = e->raw_len;
	}
	return KL_OK;
}

/* Writes ix (signed: the key is full) and counts its packs. */
static int
attest_write(struct chk *k, struct kl_index *ix)
{
	struct kl_error e;
	struct kl_id id;
	int rc;

	if (ix->n == 0)
		return KL_OK;
	kl_error_clear(&e);
	rc = kl_repo_index_write(k->r, ix, &id, &e);
	if (rc == KL_E_PERM) {	/* the server's read-only role */
		k->rep->attest_refused = 1;
		rc = KL_OK;
	} else if (rc == KL_OK)
		k->rep->attested_packs += ix->n;
	else
		rc = chk_fail(k, &e, rc);
	kl_index_clear(ix);
	return rc;
}

int
attest_phase(struct chk *k)
{
	struct kl_index ix;
	size_t i;
	int rc = KL_OK, worst;

	memset(&ix, 0, sizeof(ix));
	if ((ix.packs = calloc(ATTEST_PACKS_MAX, sizeof(*ix.packs))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < k->npacks && rc == KL_OK; i++) {
		const struct cpack *p = &k->packs[i];

		if (!pack_vouchable(k, p))
			continue;
		/* already attested: nothing to add */
		if ((worst = kl_cat_pack_trust(k->cat, &p->id, k->err)) ==
		    KL_TRUST_ATTESTED)
			continue;
		if (worst < 0) {
			rc = worst;
			break;
		}
		if ((rc = pack_record(k, p, &ix.packs[ix.n])) != KL_OK)
			break;
		if (++ix.n == ATTEST_PACKS_MAX) {
			rc = attest_write(k, &ix);
			ix.packs = calloc(ATTEST_PACKS_MAX, sizeof(*ix.packs));
			if (ix.packs == NULL && rc == KL_OK)
				rc = KL_E_NOMEM;
		}
	}
	if (rc == KL_OK)
		rc = attest_write(k, &ix);
	kl_index_clear(&ix);
	return rc;
}
