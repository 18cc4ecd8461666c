/*
 * Chunk signatures (catalog.h "Chunk signatures", FORMAT.md §7.2).
 */
#include <sqlite3.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "catalog_internal.h"

int
kl_cat_sig_get(struct kl_cat *c, const struct kl_id *id, struct buf *out,
    struct kl_error *err)
{
	sqlite3_stmt *st;
	const void *p;
	int rc, src, n;

	cat_lock(c);
	if ((rc = cat_prepare(c, "SELECT sig FROM delta_sig WHERE id = ?1",
	    &st, err)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, id)) != SQLITE_OK) {
		rc = cat_sqlerr(c, err, src, "sig_get");
		goto out;
	}
	if ((src = sqlite3_step(st)) == SQLITE_DONE) {
		rc = KL_E_NOTFOUND;
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = cat_sqlerr(c, err, src, "sig_get");
		goto out;
	}
	p = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (p == NULL || n <= 0) {
		rc = cat_err(c, err, KL_E_CORRUPT, "an empty chunk signature");
		goto out;
	}
	rc = buf_put(out, p, (size_t)n);
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_sig_put(struct kl_cat *c, const struct kl_id *id, const uint8_t *sig,
    size_t len, struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src;

	if (len == 0 || len > INT32_MAX)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, "INSERT OR IGNORE INTO delta_sig(id, sig)"
	    " VALUES(?1, ?2)", &st, err)) == KL_OK &&
	    ((src = cat_bind_id(st, 1, id)) != SQLITE_OK ||
	    (src = sqlite3_bind_blob(st, 2, sig, (int)len, SQLITE_STATIC)) !=
	    SQLITE_OK || (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, err, src, "sig_put");
	cat_unlock(c);
	return rc;
}

int
kl_cat_sig_has(struct kl_cat *c, const struct kl_id *id, struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM delta_sig WHERE id = ?1", id,
	    "sig_has", err);
}

int
kl_cat_sig_prune(struct kl_cat *c, uint64_t *n, struct kl_error *err)
{
	int rc;

	if (n != NULL)
		*n = 0;
	cat_lock(c);
	if ((rc = cat_exec(c, "DELETE FROM delta_sig WHERE id NOT IN"
	    " (SELECT id FROM loc)", "sig_prune", err)) == KL_OK && n != NULL)
		*n = (uint64_t)sqlite3_changes(c->db);
	cat_unlock(c);
	return rc;
}
