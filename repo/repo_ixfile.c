/*
 * Index files (FORMAT.md §9, §16).  Written as version 2, signed when the
 * key is a full key (its entries are then ATTESTED for every reader: only
 * a full key can sign, so only a full key can vouch for locations other
 * hosts may deduplicate against).  Read in versions 1 and 2: checked
 * against the name, the signature verified where the key can, decrypted
 * and decoded.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "repo_internal.h"

#define INDEX_ENTRIES_MAX ((size_t)1 << 24)

int
kl_repo_index_write(struct kl_repo *r, const struct kl_index *ix,
    struct kl_id *id, struct kl_error *err)
{
	return kl_repo_index_write_as(r, ix, 1, id, err);
}

int
kl_repo_index_write_as(struct kl_repo *r, const struct kl_index *ix,
    int may_sign, struct kl_id *id, struct kl_error *err)
{
	int sign = may_sign && r->keys->kind == KL_KEY_FULL &&
	    r->keys->has_sign;
	uint8_t sig[KL_SIG_LEN], *ct;
	struct buf *pt = NULL, *f = NULL;
	int rc = KL_E_NOMEM;

	memset(id, 0, sizeof(*id));
	if ((ix->nwithdrawn > 0 || ix->retire) && !sign)
		return kl_error_set(err, KL_E_PERM, "withdrawing index files "
		    "needs a full key");
	if (ix->retire && ix->n > 0)
		return KL_E_INVAL;	/* a retire record names no pack */
	if ((pt = buf_new(REPO_INDEX_FILE_MAX)) == NULL ||
	    (f = buf_new(REPO_INDEX_FILE_MAX)) == NULL)
		goto out;
	if ((rc = kl_index_encode(ix, KL_INDEX_VERSION, pt)) != KL_OK ||
	    (rc = kl_file_hdr_put_v(f, KL_MAGIC_INDEX, KL_INDEX_VERSION,
	    (sign ? KL_INDEX_FLAG_SIGNED : 0) |
	    (ix->retire ? KL_INDEX_FLAG_RETIRE : 0))) != KL_OK ||
	    (rc = buf_reserve(f, buf_size(pt) + KL_AEAD_OVERHEAD, &ct)) !=
	    KL_OK)
		goto out;
	kl_aead_seal(r->keys->index_key, &r->keys->repo_id, KL_OBJ_INDEX,
	    NULL, buf_data(pt), buf_size(pt), ct);
	if (sign && ((rc = kl_sig_create(r->keys, buf_data(f), buf_size(f),
	    sig)) != KL_OK || (rc = buf_put(f, sig, sizeof(sig))) != KL_OK))
		goto out;
	rc = repo_file_put(r, KL_FT_INDEX, f, id, err);
out:
	buf_free(pt);
	buf_free(f);
	return rc;
}

/*
 * The signature at the end of a signed file f[0, len): *attested 1 if it
 * verifies under the key's sign_pk, 0 if the key cannot tell (a
 * backup-only key file of version 1).  KL_E_CORRUPT if it does not verify:
 * a forged or damaged signature is a damaged file.
 */
static int
sig_check(struct kl_repo *r, const uint8_t *p, size_t len, int *attested)
{
	int rc;

	*attested = 0;
	if (len < KL_FILE_HDR_LEN + KL_SIG_LEN)
		return KL_E_CORRUPT;
	rc = kl_sig_verify(r->keys, p, len - KL_SIG_LEN, p + len - KL_SIG_LEN);
	if (rc == KL_E_PERM)
		return KL_OK;
	*attested = rc == KL_OK;
	return rc;
}

/* Decrypts ct[0, len) with the index key and decodes version v. */
static int
index_open(struct kl_repo *r, const uint8_t *ct, size_t len, uint32_t v,
    struct kl_index *out)
{
	uint8_t *pt;
	int rc;

	if (len < KL_AEAD_OVERHEAD)
		return KL_E_CORRUPT;
	if ((pt = malloc(len - KL_AEAD_OVERHEAD + 1)) == NULL)
		return KL_E_NOMEM;
	rc = kl_aead_open(r->keys->index_key, &r->keys->repo_id, KL_OBJ_INDEX,
	    NULL, ct, len, pt);
	if (rc == KL_OK)
		rc = kl_index_decode(pt, len - KL_AEAD_OVERHEAD,
		    INDEX_ENTRIES_MAX, v, out);
	free(pt);
	return rc;
}

int
repo_index_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_index *out, int *attested, struct kl_error *err)
{
	struct buf *f = NULL;
	uint32_t v = 0, flags = 0;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	*attested = 0;
	if ((rc = repo_file_get(r, KL_FT_INDEX, id, REPO_INDEX_FILE_MAX,
	    &f, err)) != KL_OK)
		return rc;
	len = buf_size(f);
	if ((rc = kl_file_hdr_get_v(f, KL_MAGIC_INDEX, KL_INDEX_VERSION,
	    KL_INDEX_FLAG_SIGNED | KL_INDEX_FLAG_RETIRE, &v, &flags)) !=
	    KL_OK)
		goto out;
	if (v == KL_INDEX_VERSION_1 && flags != 0) {
		rc = KL_E_UNSUPPORTED;
		goto out;
	}
	if ((flags & KL_INDEX_FLAG_SIGNED) &&
	    (rc = sig_check(r, buf_data(f), len, attested)) != KL_OK)
		goto out;
	if ((rc = index_open(r, buf_rptr(f), buf_avail(f) -
	    ((flags & KL_INDEX_FLAG_SIGNED) ? KL_SIG_LEN : 0), v, out)) !=
	    KL_OK)
		goto out;
	/* only a full key may withdraw index files (FORMAT.md §9); a retire
	 * record is signed and names no pack */
	out->retire = (flags & KL_INDEX_FLAG_RETIRE) != 0;
	if ((out->nwithdrawn > 0 || out->retire) &&
	    !(flags & KL_INDEX_FLAG_SIGNED))
		rc = KL_E_CORRUPT;
	else if (out->retire && out->n > 0)
		rc = KL_E_CORRUPT;
	else if (!*attested) {
		free(out->withdrawn);
		out->withdrawn = NULL;
		out->nwithdrawn = 0;
	}
out:
	if (rc != KL_OK)
		kl_index_clear(out);
	buf_free(f);
	return rc;
}

int
kl_repo_index_file_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_index *out, int *attested, struct kl_error *err)
{
	char name[REPO_FNAME_MAX];
	int rc, a = 0;

	kl_error_clear(err);
	rc = repo_index_read(r, id, out, &a, err);
	if (attested != NULL)
		*attested = a;
	if (rc != KL_OK && !kl_error_isset(err)) {
		repo_fname(KL_FT_INDEX, id, name);
		repo_err_file(err, rc, KL_FT_INDEX, id, "%s: %s", name,
		    rc == KL_E_CORRUPT ? "does not decrypt, decode or verify "
		    "(corrupt)" : kl_strerror(rc));
	}
	return rc;
}
