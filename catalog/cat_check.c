/*
 * Data verification records (catalog.h "data verification"): when each
 * pack was last read and verified.  Rotating subsets of `kluis check` take
 * the packs checked longest ago, and reports compute the coverage of
 * verification over time from the same rows.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "catalog_internal.h"

int
kl_cat_pack_checked(struct kl_cat *c, const struct kl_id *pack, int64_t t,
    int ok, struct kl_error *err)
{
	static const char sql[] = "INSERT OR REPLACE INTO pack_check(pack,"
	    " checked_s, ok) VALUES(?1, ?2, ?3)";
	sqlite3_stmt *st;
	int rc, src;

	if (pack == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) != KL_OK)
		goto out;
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK) {
		if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
		    (src = sqlite3_bind_int64(st, 2, t)) != SQLITE_OK ||
		    (src = sqlite3_bind_int(st, 3, ok != 0)) != SQLITE_OK ||
		    (src = sqlite3_step(st)) != SQLITE_DONE)
			rc = cat_sqlerr(c, err, src, "pack_checked");
	}
	rc = cat_tx_end(c, rc, err);
out:
	cat_unlock(c);
	return rc;
}

struct pc_row {
	struct kl_id pack;
	int64_t checked;
	int ok;
};

/*
 * Rows are collected first and the callback runs without the lock, so a
 * callback that records results (kl_cat_pack_checked) or reads the
 * catalog does not run inside this statement.
 */
int
kl_cat_pack_check_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *pack, int64_t checked_s, int ok),
    void *arg, struct kl_error *err)
{
	static const char sql[] = "SELECT p.id, k.checked_s, k.ok FROM pack p"
	    " LEFT JOIN pack_check k ON k.pack = p.id"
	    " ORDER BY k.checked_s IS NOT NULL, k.checked_s, p.id";
	struct pc_row *rows = NULL;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *st;
	int rc, src;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto unlock;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (KL_GROW(rows, cap, n + 1) != KL_OK) {
			rc = cat_err(c, err, KL_E_NOMEM, "out of memory");
			goto unlock;
		}
		if ((rc = cat_col_id(c, st, 0, &rows[n].pack, err)) != KL_OK)
			goto unlock;
		rows[n].checked = sqlite3_column_type(st, 1) == SQLITE_NULL ?
		    KL_CAT_TIME_NONE : sqlite3_column_int64(st, 1);
		rows[n].ok = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 :
		    sqlite3_column_int(st, 2);
		n++;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "pack_check_foreach");
unlock:
	cat_unlock(c);
	for (i = 0; i < n && rc == KL_OK; i++)
		rc = cb(arg, &rows[i].pack, rows[i].checked, rows[i].ok);
	free(rows);
	return rc;
}
