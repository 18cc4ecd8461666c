/*
 * The blob index (FORMAT.md §8, §9): which index files were loaded, and
 * where each blob is.  kl_cat_blob_get is on the hot path of a backup
 * (one call per chunk, from several threads): one cached statement, one
 * primary-key lookup and one rowid lookup of the pack.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "catalog_internal.h"

#define IDS_MIN 64

/* A column that must hold a uint32 (or a uint8 when max says so). */
static int
col_u32(struct kl_cat *c, sqlite3_stmt *st, int i, uint32_t max,
    uint32_t *v)
{
	int64_t x;

	x = sqlite3_column_int64(st, i);
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER || x < 0 ||
	    (uint64_t)x > max)
		return cat_err(c, KL_E_CORRUPT, "a blob location holds %lld",
		    (long long)x);
	*v = (uint32_t)x;
	return KL_OK;
}

/* Columns first.. of st: pack id, type, offset, stored_len, raw_len. */
static int
col_loc(struct kl_cat *c, sqlite3_stmt *st, int first, struct kl_blob_loc *l)
{
	uint32_t type = 0;
	int rc;

	if ((rc = cat_col_id(c, st, first, &l->pack)) != KL_OK ||
	    (rc = col_u32(c, st, first + 1, UINT8_MAX, &type)) != KL_OK ||
	    (rc = col_u32(c, st, first + 2, UINT32_MAX, &l->offset)) != KL_OK ||
	    (rc = col_u32(c, st, first + 3, UINT32_MAX, &l->stored_len)) !=
	    KL_OK ||
	    (rc = col_u32(c, st, first + 4, UINT32_MAX, &l->raw_len)) != KL_OK)
		return rc;
	l->type = (uint8_t)type;
	return KL_OK;
}

/* Runs sql (one id column) and collects the ids into a malloc'd array. */
static int
ids_collect(struct kl_cat *c, const char *sql, struct kl_id **ids,
    size_t *n)
{
	struct kl_id *a = NULL, *p;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap == 0 ? IDS_MIN : cap * 2;
			if ((p = realloc(a, cap * sizeof(*a))) == NULL) {
				rc = cat_err(c, KL_E_NOMEM, "out of memory");
				goto out;
			}
			a = p;
		}
		if ((rc = cat_col_id(c, st, 0, &a[len])) != KL_OK)
			goto out;
		len++;
	}
	if (src != SQLITE_DONE) {
		rc = cat_sqlerr(c, src, "list");
		goto out;
	}
	*ids = a;
	*n = len;
	a = NULL;
out:
	free(a);
	return rc;
}

int
kl_cat_index_has(struct kl_cat *c, const struct kl_id *file)
{
	return cat_id_exists(c, "SELECT 1 FROM index_file WHERE id = ?1",
	    file, "index_has");
}

int
kl_cat_index_add(struct kl_cat *c, const struct kl_id *file)
{
	static const char sql[] = "INSERT OR IGNORE INTO index_file(id)"
	    " VALUES(?1)";
	sqlite3_stmt *st;
	int rc, src;

	if (file == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st)) == KL_OK &&
	    ((src = cat_bind_id(st, 1, file)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, src, "index_add");
	cat_unlock(c);
	return rc;
}

int
kl_cat_index_list(struct kl_cat *c, struct kl_id **ids, size_t *n)
{
	int rc;

	if (ids == NULL || n == NULL)
		return KL_E_INVAL;
	*ids = NULL;
	*n = 0;
	cat_lock(c);
	rc = ids_collect(c, "SELECT id FROM index_file ORDER BY id", ids, n);
	cat_unlock(c);
	return rc;
}

int
kl_cat_index_clear(struct kl_cat *c)
{
	int rc;

	cat_lock(c);
	if ((rc = cat_tx_begin(c)) == KL_OK) {
		if ((rc = cat_exec(c, "DELETE FROM index_file", "index_clear"))
		    == KL_OK &&
		    (rc = cat_exec(c, "DELETE FROM blob", "index_clear")) ==
		    KL_OK)
			rc = cat_exec(c, "DELETE FROM pack", "index_clear");
		/* own backups may reference blobs that are gone now */
		if (rc == KL_OK)
			rc = cat_exec(c, "UPDATE own_parent SET intact = 0",
			    "index_clear");
		rc = cat_tx_end(c, rc);
	}
	c->pack_valid = 0;
	cat_unlock(c);
	return rc;
}

/*
 * pack's row number, the row created if needed.  Entries arrive grouped
 * by pack, so the last pack is remembered; only inside the current write
 * transaction (tx_closed() forgets it), where no other process can
 * renumber the packs under us.
 */
static int
pack_no_get(struct kl_cat *c, const struct kl_id *pack, int orphan,
    int64_t *no)
{
	static const char ins[] = "INSERT OR IGNORE INTO pack(id, tree_lo,"
	    " tree_hi, orphan) VALUES(?1, 4294967295, 0, ?2)";
	static const char sel[] = "SELECT pack_no, orphan FROM pack"
	    " WHERE id = ?1";
	static const char named[] = "UPDATE pack SET orphan = 0"
	    " WHERE pack_no = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if (c->pack_valid && memcmp(c->pack_id.b, pack->b, KL_ID_LEN) == 0 &&
	    c->pack_orphan == orphan) {
		*no = c->pack_no;
		return KL_OK;
	}
	if ((rc = cat_prepare(c, ins, &st)) != KL_OK)
		return rc;
	if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 2, orphan)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, src, "pack");
	if (sqlite3_changes(c->db) == 1) {
		*no = sqlite3_last_insert_rowid(c->db);
	} else {
		int was;

		if ((rc = cat_prepare(c, sel, &st)) != KL_OK)
			return rc;
		if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
		    (src = sqlite3_step(st)) != SQLITE_ROW)
			return cat_sqlerr(c, src, "pack");
		*no = sqlite3_column_int64(st, 0);
		was = sqlite3_column_int(st, 1);
		/* an index file now names a pack known from its header */
		if (was && !orphan) {
			if ((rc = cat_prepare(c, named, &st)) != KL_OK)
				return rc;
			if ((src = sqlite3_bind_int64(st, 1, *no)) !=
			    SQLITE_OK || (src = sqlite3_step(st)) !=
			    SQLITE_DONE)
				return cat_sqlerr(c, src, "pack");
		}
	}
	c->pack_id = *pack;
	c->pack_no = *no;
	c->pack_orphan = orphan;
	c->pack_valid = 1;
	return KL_OK;
}

static int
blob_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int orphan)
{
	static const char ins[] = "INSERT OR IGNORE INTO blob(id, pack_no,"
	    " type, off, stored_len, raw_len) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
	static const char upd[] = "UPDATE pack SET tree_lo = min(tree_lo,"
	    " ?2), tree_hi = max(tree_hi, ?3) WHERE pack_no = ?1";
	sqlite3_stmt *st;
	int64_t no = 0;
	int rc, src, added;

	if ((rc = pack_no_get(c, &loc->pack, orphan, &no)) != KL_OK ||
	    (rc = cat_prepare(c, ins, &st)) != KL_OK)
		return rc;
	if ((src = cat_bind_id(st, 1, id)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, no)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 3, loc->type)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 4, loc->offset)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 5, loc->stored_len)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 6, loc->raw_len)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, src, "blob_put");
	added = sqlite3_changes(c->db) > 0;
	/* the range covers the tree blobs this index finds in the pack */
	if (!added || loc->type != KL_BLOB_TYPE_TREE)
		return added;
	if ((rc = cat_prepare(c, upd, &st)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, no)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, loc->offset)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, (int64_t)loc->offset +
	    loc->stored_len)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, src, "blob_put");
	return added;
}

static int
put_checked(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int orphan)
{
	int rc;

	if (id == NULL || loc == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((uint64_t)loc->offset + loc->stored_len > UINT32_MAX)
		rc = cat_err(c, KL_E_INVAL, "blob_put: offset %u + length %u "
		    "overflow", loc->offset, loc->stored_len);
	else if ((rc = cat_tx_begin(c)) == KL_OK)
		rc = cat_tx_end(c, blob_put(c, id, loc, orphan));
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc)
{
	return put_checked(c, id, loc, 0);
}

int
kl_cat_orphan_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc)
{
	return put_checked(c, id, loc, 1);
}

int
kl_cat_blob_get(struct kl_cat *c, const struct kl_id *id,
    struct kl_blob_loc *loc)
{
	static const char sql[] = "SELECT p.id, b.type, b.off, b.stored_len,"
	    " b.raw_len FROM blob b JOIN pack p ON p.pack_no = b.pack_no"
	    " WHERE b.id = ?1";
	struct kl_blob_loc l;
	sqlite3_stmt *st;
	int rc, src;

	if (id == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, id)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
		    cat_sqlerr(c, src, "blob_get");
		goto out;
	}
	if ((rc = col_loc(c, st, 0, &l)) == KL_OK && loc != NULL)
		*loc = l;
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_pack_tree_range(struct kl_cat *c, const struct kl_id *pack,
    uint32_t *lo, uint32_t *hi)
{
	static const char sql[] = "SELECT tree_lo, tree_hi FROM pack"
	    " WHERE id = ?1";
	sqlite3_stmt *st;
	uint32_t l = 0, h = 0;
	int rc, src;

	if (pack == NULL || lo == NULL || hi == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
		    cat_sqlerr(c, src, "pack_tree_range");
		goto out;
	}
	if ((rc = col_u32(c, st, 0, UINT32_MAX, &l)) != KL_OK ||
	    (rc = col_u32(c, st, 1, UINT32_MAX, &h)) != KL_OK)
		goto out;
	if (l > h) {
		rc = KL_E_NOTFOUND;
		goto out;
	}
	*lo = l;
	*hi = h;
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_pack_ids(struct kl_cat *c, struct kl_id **ids, size_t *n)
{
	int rc;

	if (ids == NULL || n == NULL)
		return KL_E_INVAL;
	*ids = NULL;
	*n = 0;
	cat_lock(c);
	rc = ids_collect(c, "SELECT id FROM pack WHERE orphan = 0 ORDER BY id",
	    ids, n);
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *id, const struct kl_blob_loc *l),
    void *arg)
{
	static const char sql[] = "SELECT b.id, p.id, b.type, b.off,"
	    " b.stored_len, b.raw_len FROM blob b JOIN pack p"
	    " ON p.pack_no = b.pack_no ORDER BY b.id";
	struct kl_blob_loc l;
	struct kl_id id;
	sqlite3_stmt *st;
	int rc, src;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = cat_col_id(c, st, 0, &id)) != KL_OK ||
		    (rc = col_loc(c, st, 1, &l)) != KL_OK ||
		    (rc = cb(arg, &id, &l)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, src, "blob_foreach");
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_count(struct kl_cat *c, uint64_t *n)
{
	sqlite3_stmt *st;
	int rc, src;

	if (n == NULL)
		return KL_E_INVAL;
	*n = 0;
	cat_lock(c);
	if ((rc = cat_prepare(c, "SELECT count(*) FROM blob", &st)) ==
	    KL_OK) {
		if ((src = sqlite3_step(st)) == SQLITE_ROW)
			*n = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = cat_sqlerr(c, src, "blob_count");
	}
	cat_unlock(c);
	return rc;
}
