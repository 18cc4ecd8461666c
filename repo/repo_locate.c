/*
 * Where to read a blob (issue #10 finding 1).  The blob index keeps every
 * location that an index file or a pack header names, and anyone holding
 * a key can add some, so no location wins because it was seen first.  A
 * blob with one location is read from there.  With several, the CLAIMED
 * ones are first checked against their pack's own header: the header is
 * bound to the pack's bytes by the pack's name, so only the pack's writer
 * chose it, and an entry that points into somebody else's pack at a place
 * its header does not list is dropped.  If the locations left disagree on
 * the blob's raw length - which decides where its bytes go in a restored
 * file - the first that decrypts and verifies decides.  Each of these
 * costs a read only when a blob has several locations: in a repository
 * nobody tampered with, almost never.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "repo_internal.h"

/* Checks the CLAIMED locations of l's pack against the pack's header. */
static int
confirm_pack(struct kl_repo *r, struct kl_cat *c, const struct kl_cat_loc *l,
    struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1];
	struct kl_blob_entry *e = NULL;
	struct kl_error he;
	uint64_t size = l->pack_size;
	size_t n = 0;
	int rc = KL_OK;

	kl_id_hex(&l->loc.pack, name);
	kl_error_clear(&he);
	if (size == 0)
		rc = r->be.ops->stat(r->be.ctx, KL_FT_DATA, name, &size);
	if (rc == KL_OK)
		rc = repo_pack_header_read(r, &l->loc.pack, size, &e, &n, &he);
	if (rc == KL_OK)
		rc = kl_cat_pack_confirm(c, &l->loc.pack, e, n, NULL, err);
	else if (rc == KL_E_CORRUPT || rc == KL_E_NOTFOUND ||
	    rc == KL_E_UNSUPPORTED || rc == KL_E_LIMIT)	/* a bad header */
		rc = kl_cat_pack_confirm(c, &l->loc.pack, NULL, 0, NULL, err);
	else if (err != NULL && he.code == rc)
		*err = he;
	free(e);
	return rc;
}

static int
to_confirm(const struct kl_cat_loc *l)
{
	return l->trust == KL_TRUST_CLAIMED && l->hdr == KL_CAT_HDR_UNREAD;
}

/* Confirms the packs of every CLAIMED location not checked yet; *did is
 * set if one was. */
static int
confirm_claims(struct kl_repo *r, struct kl_cat *c,
    const struct kl_cat_loc *l, size_t n, int *did, struct kl_error *err)
{
	size_t i, j;
	int rc;

	*did = 0;
	for (i = 0; i < n; i++) {
		if (!to_confirm(&l[i]))
			continue;
		for (j = 0; j < i && !(to_confirm(&l[j]) &&
		    kl_id_eq(&l[j].loc.pack, &l[i].loc.pack)); j++)
			;
		if (j < i)
			continue;	/* this pack was checked just now */
		if ((rc = confirm_pack(r, c, &l[i], err)) != KL_OK)
			return rc;
		*did = 1;
	}
	return KL_OK;
}

/* The locations of type, in the catalog's order, into a new *out. */
static int
locs_of_type(struct kl_cat *c, const struct kl_id *id, uint8_t type,
    struct kl_cat_loc **all, size_t *nall, struct kl_blob_loc **out,
    size_t *n, struct kl_error *err)
{
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = kl_cat_blob_locs(c, id, all, nall, err)) != KL_OK)
		return rc;
	if ((*out = malloc(*nall * sizeof(**out))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < *nall; i++)
		if ((*all)[i].loc.type == type)
			(*out)[(*n)++] = (*all)[i].loc;
	return *n > 0 ? KL_OK : KL_E_NOTFOUND;
}

/* Reads and verifies the blob at l. */
static int
loc_verify(struct kl_repo *r, const struct kl_id *id, uint8_t type,
    const struct kl_blob_loc *l)
{
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL, *raw = NULL;
	uint8_t *key = NULL;
	int rc;

	kl_id_hex(&l->pack, name);
	if ((rc = kl_session_key_new(&key)) != KL_OK)
		return rc;
	/* a probe: the caller only wants to know which one verifies */
	if ((rc = kl_repo_pack_key(r, &l->pack, key, NULL)) == KL_OK &&
	    (rc = r->be.ops->get(r->be.ctx, KL_FT_DATA, name, l->offset,
	    l->stored_len, l->stored_len, &b)) == KL_OK) {
		if ((raw = buf_new(KL_BLOB_RAW_MAX)) == NULL)
			rc = KL_E_NOMEM;
		else
			rc = kl_blob_open(r->keys, key, id, type, buf_data(b),
			    buf_size(b), NULL, raw, NULL);
		if (rc == KL_OK && buf_size(raw) != l->raw_len)
			rc = KL_E_CORRUPT;
	}
	buf_free(raw);
	buf_free(b);
	kl_session_key_free(key);
	return rc;
}

/* 1 if every location agrees on the raw length. */
static int
raw_len_agree(const struct kl_blob_loc *l, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (l[i].raw_len != l[0].raw_len)
			return 0;
	return 1;
}

static int
loc_eq(const struct kl_blob_loc *a, const struct kl_blob_loc *b)
{
	return kl_id_eq(&a->pack, &b->pack) && a->offset == b->offset &&
	    a->stored_len == b->stored_len && a->raw_len == b->raw_len &&
	    a->type == b->type;
}

/*
 * The locations disagree on the raw length: the first that verifies
 * comes first, and the ones of another length go (a blob id names one
 * content, so they cannot verify).  If none verifies, all stay.
 */
static void
raw_len_decide(struct kl_repo *r, const struct kl_id *id, uint8_t type,
    struct kl_blob_loc *l, size_t *n)
{
	struct kl_blob_loc good;
	size_t i, w;

	for (i = 0; i < *n; i++)
		if (loc_verify(r, id, type, &l[i]) == KL_OK)
			break;
	if (i == *n)
		return;
	good = l[i];
	l[0] = good;
	for (w = 1, i = 1; i < *n; i++)
		if (l[i].raw_len == good.raw_len && !loc_eq(&l[i], &good))
			l[w++] = l[i];
	*n = w;
}

int
kl_repo_blob_locate(struct kl_repo *r, const struct kl_id *id, uint8_t type,
    struct kl_blob_loc **locs, size_t *n, struct kl_error *err)
{
	struct kl_cat_loc *all = NULL;
	struct kl_blob_loc *l = NULL;
	struct kl_cat *c;
	size_t nall = 0, nl = 0;
	int rc, did = 0;

	*locs = NULL;
	*n = 0;
	if ((rc = repo_cat(r, &c, err)) != KL_OK)
		return rc;
	rc = locs_of_type(c, id, type, &all, &nall, &l, &nl, err);
	if (rc == KL_OK && nall > 1 &&
	    (rc = confirm_claims(r, c, all, nall, &did, err)) == KL_OK &&
	    did) {
		free(all);
		free(l);
		rc = locs_of_type(c, id, type, &all, &nall, &l, &nl, err);
	}
	if (rc == KL_OK && !raw_len_agree(l, nl))
		raw_len_decide(r, id, type, l, &nl);
	if (rc == KL_OK) {
		*locs = l;
		*n = nl;
		l = NULL;
	}
	free(all);
	free(l);
	return rc;
}
