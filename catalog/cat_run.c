/*
 * The history of backups, checks and drills run from this client.  It is
 * the one table nothing else can rebuild: kl_cat_reset keeps it.
 */
#include <string.h>

#include "kluis/err.h"
#include "catalog_internal.h"

static int
run_bind(sqlite3_stmt *st, const struct kl_cat_run *r)
{
	int src;

	if ((src = sqlite3_bind_text(st, 1, r->kind, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 2, r->host, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, r->start_s)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 4, r->end_s)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 5, r->exit_code)) != SQLITE_OK ||
	    (src = kl_id_is_zero(&r->snapshot) ? sqlite3_bind_null(st, 6) :
	    cat_bind_id(st, 6, &r->snapshot)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 7, (int64_t)r->files)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 8, (int64_t)r->bytes)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 9, (int64_t)r->bytes_added)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 10, (int64_t)r->errors)) !=
	    SQLITE_OK)
		return src;
	if (r->detail == NULL)
		return sqlite3_bind_null(st, 11);
	return sqlite3_bind_text(st, 11, r->detail, -1, SQLITE_STATIC);
}

int
kl_cat_run_add(struct kl_cat *c, const struct kl_cat_run *r,
    struct kl_error *err)
{
	static const char sql[] = "INSERT INTO run(kind, host, start_s,"
	    " end_s, exit_code, snapshot, files, bytes, bytes_added, errors,"
	    " detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
	sqlite3_stmt *st;
	int rc, src;

	if (r == NULL || r->kind == NULL || r->host == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK &&
	    ((src = run_bind(st, r)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, err, src, "run_add");
	cat_unlock(c);
	return rc;
}

static int
run_row_get(struct kl_cat *c, sqlite3_stmt *st, struct kl_cat_run *r,
    struct kl_error *err)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->no = sqlite3_column_int64(st, 0);
	if ((rc = cat_col_text(c, st, 1, &r->kind, err)) != KL_OK ||
	    (rc = cat_col_text(c, st, 2, &r->host, err)) != KL_OK)
		return rc;
	r->start_s = sqlite3_column_int64(st, 3);
	r->end_s = sqlite3_column_int64(st, 4);
	r->exit_code = sqlite3_column_int(st, 5);
	if (sqlite3_column_type(st, 6) != SQLITE_NULL &&
	    (rc = cat_col_id(c, st, 6, &r->snapshot, err)) != KL_OK)
		return rc;
	r->files = (uint64_t)sqlite3_column_int64(st, 7);
	r->bytes = (uint64_t)sqlite3_column_int64(st, 8);
	r->bytes_added = (uint64_t)sqlite3_column_int64(st, 9);
	r->errors = (uint64_t)sqlite3_column_int64(st, 10);
	if (sqlite3_column_type(st, 11) != SQLITE_NULL)
		return cat_col_text(c, st, 11, &r->detail, err);
	return KL_OK;
}

int
kl_cat_run_foreach(struct kl_cat *c, const char *kind, int64_t since,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err)
{
	static const char sql[] = "SELECT run_no, kind, host, start_s, end_s,"
	    " exit_code, snapshot, files, bytes, bytes_added, errors, detail"
	    " FROM run WHERE (?1 IS NULL OR kind = ?1) AND start_s >= ?2"
	    " ORDER BY start_s, run_no";
	struct kl_cat_run r;
	sqlite3_stmt *st;
	int rc, src;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = (kind == NULL ? sqlite3_bind_null(st, 1) :
	    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC))) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, since)) != SQLITE_OK) {
		rc = cat_sqlerr(c, err, src, "run_foreach");
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = run_row_get(c, st, &r, err)) != KL_OK ||
		    (rc = cb(arg, &r)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "run_foreach");
out:
	cat_unlock(c);
	return rc;
}
