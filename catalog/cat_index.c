/*
 * The blob index (FORMAT.md §8, §9): which index files were loaded, and
 * every location of each blob with the trust of its best source
 * (catalog.h enum kl_cat_trust).  kl_cat_blob_trusted is on the hot path
 * of a backup (one call per chunk, from several threads): one cached
 * statement and one range of the primary key.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "catalog_internal.h"

#define IDS_MIN 64

/* A column that must hold a uint32 (or a uint8 when max says so). */
static int
col_u32(struct kl_cat *c, sqlite3_stmt *st, int i, uint32_t max,
    uint32_t *v, struct kl_error *err)
{
	int64_t x;

	x = sqlite3_column_int64(st, i);
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER || x < 0 ||
	    (uint64_t)x > max)
		return cat_err(c, err, KL_E_CORRUPT,
		    "a blob location holds %lld", (long long)x);
	*v = (uint32_t)x;
	return KL_OK;
}

/* Columns first.. of st: pack id, type, offset, stored_len, raw_len. */
static int
col_loc(struct kl_cat *c, sqlite3_stmt *st, int first, struct kl_blob_loc *l,
    struct kl_error *err)
{
	uint32_t type = 0;
	int rc;

	if ((rc = cat_col_id(c, st, first, &l->pack, err)) != KL_OK ||
	    (rc = col_u32(c, st, first + 1, UINT8_MAX, &type, err)) != KL_OK ||
	    (rc = col_u32(c, st, first + 2, UINT32_MAX, &l->offset, err)) !=
	    KL_OK ||
	    (rc = col_u32(c, st, first + 3, UINT32_MAX, &l->stored_len, err)) !=
	    KL_OK ||
	    (rc = col_u32(c, st, first + 4, UINT32_MAX, &l->raw_len, err)) !=
	    KL_OK)
		return rc;
	l->type = (uint8_t)type;
	return KL_OK;
}

/* Runs sql (one id column) and collects the ids into a malloc'd array. */
static int
ids_collect(struct kl_cat *c, const char *sql, struct kl_id **ids,
    size_t *n, struct kl_error *err)
{
	struct kl_id *a = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (KL_GROW(a, cap, len + 1) != KL_OK) {
			rc = cat_err(c, err, KL_E_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = cat_col_id(c, st, 0, &a[len], err)) != KL_OK)
			goto out;
		len++;
	}
	if (src != SQLITE_DONE) {
		rc = cat_sqlerr(c, err, src, "list");
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
kl_cat_index_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM index_file WHERE id = ?1",
	    file, "index_has", err);
}

int
kl_cat_index_add(struct kl_cat *c, const struct kl_id *file, int trust,
    int64_t recv_s, struct kl_error *err)
{
	static const char sql[] = "INSERT INTO index_file(id, trust, recv_s)"
	    " VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET"
	    " trust = min(trust, excluded.trust)";
	sqlite3_stmt *st;
	int rc, src;

	if (file == NULL || trust < KL_TRUST_ATTESTED ||
	    trust > KL_TRUST_CLAIMED)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK &&
	    ((src = cat_bind_id(st, 1, file)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 2, trust)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, recv_s)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, err, src, "index_add");
	cat_unlock(c);
	return rc;
}

int
kl_cat_index_list(struct kl_cat *c, struct kl_id **ids, size_t *n,
    struct kl_error *err)
{
	int rc;

	if (ids == NULL || n == NULL)
		return KL_E_INVAL;
	*ids = NULL;
	*n = 0;
	cat_lock(c);
	rc = ids_collect(c, "SELECT id FROM index_file ORDER BY id", ids, n,
	    err);
	cat_unlock(c);
	return rc;
}

int
kl_cat_index_clear(struct kl_cat *c, struct kl_error *err)
{
	/* withdrawals stay: a reload must skip the withdrawn files */
	static const char *const sql[] = {
		"DELETE FROM index_file", "DELETE FROM loc", "DELETE FROM pack",
		/* own backups may reference blobs that are gone now */
		"UPDATE own_parent SET intact = 0",
	};
	size_t i;
	int rc;

	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK) {
		for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == KL_OK;
		    i++)
			rc = cat_exec(c, sql[i], "index_clear", err);
		rc = cat_tx_end(c, rc, err);
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
    int64_t *no, struct kl_error *err)
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
	if ((rc = cat_prepare(c, ins, &st, err)) != KL_OK)
		return rc;
	if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 2, orphan)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "pack");
	if (sqlite3_changes(c->db) == 1) {
		*no = sqlite3_last_insert_rowid(c->db);
	} else {
		int was;

		if ((rc = cat_prepare(c, sel, &st, err)) != KL_OK)
			return rc;
		if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
		    (src = sqlite3_step(st)) != SQLITE_ROW)
			return cat_sqlerr(c, err, src, "pack");
		*no = sqlite3_column_int64(st, 0);
		was = sqlite3_column_int(st, 1);
		/* an index file now names a pack known from its header */
		if (was && !orphan) {
			if ((rc = cat_prepare(c, named, &st, err)) != KL_OK)
				return rc;
			if ((src = sqlite3_bind_int64(st, 1, *no)) !=
			    SQLITE_OK || (src = sqlite3_step(st)) !=
			    SQLITE_DONE)
				return cat_sqlerr(c, err, src, "pack");
		}
	}
	c->pack_id = *pack;
	c->pack_no = *no;
	c->pack_orphan = orphan;
	c->pack_valid = 1;
	return KL_OK;
}

/* Binds ?1..?6 of a statement that names one location. */
static int
bind_loc(sqlite3_stmt *st, const struct kl_id *id, int64_t no,
    const struct kl_blob_loc *loc)
{
	int src;

	if ((src = cat_bind_id(st, 1, id)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, no)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, loc->offset)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 4, loc->stored_len)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 5, loc->raw_len)) != SQLITE_OK)
		return src;
	return sqlite3_bind_int(st, 6, loc->type);
}

/* A location already known: it keeps the best trust and earliest time. */
static int
loc_improve(struct kl_cat *c, const struct kl_id *id, int64_t no,
    const struct kl_blob_loc *loc, int trust, int64_t recv_s,
    struct kl_error *err)
{
	static const char upd[] = "UPDATE loc SET trust = min(trust, ?7),"
	    " recv_s = min(recv_s, ?8) WHERE id = ?1 AND pack_no = ?2 AND"
	    " off = ?3 AND stored_len = ?4 AND raw_len = ?5 AND type = ?6";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, upd, &st, err)) != KL_OK)
		return rc;
	if ((src = bind_loc(st, id, no, loc)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 7, trust)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 8, recv_s)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "blob_put");
	return 0;
}

/* The range of the pack's tree blobs covers a new tree location. */
static int
tree_range_grow(struct kl_cat *c, int64_t no, const struct kl_blob_loc *loc,
    struct kl_error *err)
{
	static const char upd[] = "UPDATE pack SET tree_lo = min(tree_lo,"
	    " ?2), tree_hi = max(tree_hi, ?3) WHERE pack_no = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, upd, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, no)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, loc->offset)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, (int64_t)loc->offset +
	    loc->stored_len)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "blob_put");
	return KL_OK;
}

static int
blob_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int orphan, int trust, int64_t recv_s,
    struct kl_error *err)
{
	static const char ins[] = "INSERT OR IGNORE INTO loc(id, pack_no,"
	    " off, stored_len, raw_len, type, trust, recv_s)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	sqlite3_stmt *st;
	int64_t no = 0;
	int rc, src;

	if ((rc = pack_no_get(c, &loc->pack, orphan, &no, err)) != KL_OK ||
	    (rc = cat_prepare(c, ins, &st, err)) != KL_OK)
		return rc;
	if ((src = bind_loc(st, id, no, loc)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 7, trust)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 8, recv_s)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "blob_put");
	if (sqlite3_changes(c->db) == 0)
		return loc_improve(c, id, no, loc, trust, recv_s, err);
	/* the range covers the tree blobs this index finds in the pack */
	if (loc->type == KL_BLOB_TYPE_TREE &&
	    (rc = tree_range_grow(c, no, loc, err)) != KL_OK)
		return rc;
	return 1;
}

static int
put_checked(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int orphan, int trust, int64_t recv_s,
    struct kl_error *err)
{
	int rc;

	if (id == NULL || loc == NULL || trust < KL_TRUST_ATTESTED ||
	    trust > KL_TRUST_CLAIMED)
		return KL_E_INVAL;
	cat_lock(c);
	if ((uint64_t)loc->offset + loc->stored_len > UINT32_MAX)
		rc = cat_err(c, err, KL_E_INVAL, "blob_put: offset %u + length "
		    "%u overflow", loc->offset, loc->stored_len);
	else if ((rc = cat_tx_begin(c, err)) == KL_OK)
		rc = cat_tx_end(c, blob_put(c, id, loc, orphan, trust,
		    recv_s, err), err);
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int trust, int64_t recv_s,
    struct kl_error *err)
{
	return put_checked(c, id, loc, 0, trust, recv_s, err);
}

int
kl_cat_orphan_put(struct kl_cat *c, const struct kl_id *id,
    const struct kl_blob_loc *loc, int trust, struct kl_error *err)
{
	if (trust == KL_TRUST_ATTESTED)
		return KL_E_INVAL;	/* a header is nobody's signature */
	/* after every location an index file names */
	return put_checked(c, id, loc, 1, trust, INT64_MAX, err);
}

int
kl_cat_blob_trusted(struct kl_cat *c, const struct kl_id *id,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM loc WHERE id = ?1 AND"
	    " trust <= 1 LIMIT 1", id, "blob_trusted", err);
}

/* Every location of a blob, best first (catalog.h kl_cat_blob_locs). */
static const char locs_sql[] = "SELECT p.id, l.type, l.off, l.stored_len,"
    " l.raw_len, l.trust, p.hdr, p.size FROM loc l JOIN pack p"
    " ON p.pack_no = l.pack_no WHERE l.id = ?1"
    " ORDER BY l.trust, p.hdr = 2, l.recv_s, l.pack_no, l.off";

/* One row of locs_sql. */
static int
col_cat_loc(struct kl_cat *c, sqlite3_stmt *st, struct kl_cat_loc *out,
    struct kl_error *err)
{
	int64_t size;
	int rc;

	if ((rc = col_loc(c, st, 0, &out->loc, err)) != KL_OK)
		return rc;
	out->trust = sqlite3_column_int(st, 5);
	out->hdr = sqlite3_column_int(st, 6);
	size = sqlite3_column_int64(st, 7);
	out->pack_size = size > 0 ? (uint64_t)size : 0;
	return KL_OK;
}


int
kl_cat_blob_locs(struct kl_cat *c, const struct kl_id *id,
    struct kl_cat_loc **locs, size_t *n, struct kl_error *err)
{
	struct kl_cat_loc *a = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, src;

	if (id == NULL || locs == NULL || n == NULL)
		return KL_E_INVAL;
	*locs = NULL;
	*n = 0;
	cat_lock(c);
	if ((rc = cat_prepare(c, locs_sql, &st, err)) != KL_OK ||
	    (src = cat_bind_id(st, 1, id)) != SQLITE_OK) {
		rc = rc != KL_OK ? rc : cat_sqlerr(c, err, src, "blob_locs");
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (KL_GROW(a, cap, len + 1) != KL_OK) {
			rc = cat_err(c, err, KL_E_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = col_cat_loc(c, st, &a[len], err)) != KL_OK)
			goto out;
		len++;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "blob_locs");
	else if (len == 0)
		rc = KL_E_NOTFOUND;
	else {
		*locs = a;
		*n = len;
		a = NULL;
	}
out:
	free(a);
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_get(struct kl_cat *c, const struct kl_id *id,
    struct kl_blob_loc *loc, size_t *nlocs, struct kl_error *err)
{
	struct kl_cat_loc l;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc, src;

	if (id == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, locs_sql, &st, err)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, id)) != SQLITE_OK) {
		rc = cat_sqlerr(c, err, src, "blob_get");
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if (n++ == 0 && (rc = col_cat_loc(c, st, &l, err)) != KL_OK)
			goto out;
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "blob_get");
	else if (n == 0)
		rc = KL_E_NOTFOUND;
	else if (loc != NULL)
		*loc = l.loc;
	if (nlocs != NULL)
		*nlocs = n;
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_pack_tree_range(struct kl_cat *c, const struct kl_id *pack,
    uint32_t *lo, uint32_t *hi, struct kl_error *err)
{
	static const char sql[] = "SELECT tree_lo, tree_hi FROM pack"
	    " WHERE id = ?1";
	sqlite3_stmt *st;
	uint32_t l = 0, h = 0;
	int rc, src;

	if (pack == NULL || lo == NULL || hi == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
		    cat_sqlerr(c, err, src, "pack_tree_range");
		goto out;
	}
	if ((rc = col_u32(c, st, 0, UINT32_MAX, &l, err)) != KL_OK ||
	    (rc = col_u32(c, st, 1, UINT32_MAX, &h, err)) != KL_OK)
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
kl_cat_pack_ids(struct kl_cat *c, struct kl_id **ids, size_t *n,
    struct kl_error *err)
{
	int rc;

	if (ids == NULL || n == NULL)
		return KL_E_INVAL;
	*ids = NULL;
	*n = 0;
	cat_lock(c);
	rc = ids_collect(c, "SELECT id FROM pack WHERE orphan = 0 ORDER BY id",
	    ids, n, err);
	cat_unlock(c);
	return rc;
}

int
kl_cat_pack_size_set(struct kl_cat *c, const struct kl_id *pack,
    uint64_t size, struct kl_error *err)
{
	static const char sql[] = "UPDATE pack SET size = ?2 WHERE id = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if (pack == NULL || size > INT64_MAX)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK &&
	    ((src = cat_bind_id(st, 1, pack)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, (int64_t)size)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, err, src, "pack_size_set");
	cat_unlock(c);
	return rc;
}

int
kl_cat_pack_known(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM pack WHERE id = ?1", pack,
	    "pack_known", err);
}

int
kl_cat_pack_size(struct kl_cat *c, const struct kl_id *pack, uint64_t *size,
    struct kl_error *err)
{
	static const char sql[] = "SELECT size FROM pack WHERE id = ?1 AND"
	    " size IS NOT NULL";
	sqlite3_stmt *st;
	int rc, src;

	if (pack == NULL || size == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK) {
		if ((src = cat_bind_id(st, 1, pack)) == SQLITE_OK)
			src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*size = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
			    cat_sqlerr(c, err, src, "pack_size");
	}
	cat_unlock(c);
	return rc;
}

static int
entry_off_cmp(const void *a, const void *b)
{
	const struct kl_blob_entry *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* 1 if sorted e[0, n) lists exactly this location. */
static int
header_lists(const struct kl_blob_entry *e, size_t n, const struct kl_id *id,
    const struct kl_blob_loc *l)
{
	struct kl_blob_entry key;
	const struct kl_blob_entry *x;

	key.offset = l->offset;
	x = bsearch(&key, e, n, sizeof(*e), entry_off_cmp);
	return x != NULL && kl_id_eq(&x->id, id) && x->type == l->type &&
	    x->stored_len == l->stored_len && x->raw_len == l->raw_len;
}

/* Deletes the CLAIMED locations of pack no that e[0, n) does not list. */
static int
confirm_locs(struct kl_cat *c, int64_t no, const struct kl_blob_entry *e,
    size_t n, uint64_t *removed, struct kl_error *err)
{
	static const char sel[] = "SELECT id, off, stored_len, raw_len, type"
	    " FROM loc WHERE pack_no = ?1 AND trust = 2";
	static const char del[] = "DELETE FROM loc WHERE id = ?1 AND"
	    " pack_no = ?2 AND off = ?3 AND stored_len = ?4 AND"
	    " raw_len = ?5 AND type = ?6";
	struct kl_blob_loc l;
	sqlite3_stmt *st, *d;
	struct kl_id id;
	uint32_t type = 0;
	int rc, src;

	if ((rc = cat_prepare(c, sel, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, no)) != SQLITE_OK)
		return cat_sqlerr(c, err, src, "pack_confirm");
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = cat_col_id(c, st, 0, &id, err)) != KL_OK ||
		    (rc = col_u32(c, st, 1, UINT32_MAX, &l.offset, err)) !=
		    KL_OK ||
		    (rc = col_u32(c, st, 2, UINT32_MAX, &l.stored_len, err)) !=
		    KL_OK ||
		    (rc = col_u32(c, st, 3, UINT32_MAX, &l.raw_len, err)) !=
		    KL_OK ||
		    (rc = col_u32(c, st, 4, UINT8_MAX, &type, err)) != KL_OK)
			return rc;
		l.type = (uint8_t)type;
		if (header_lists(e, n, &id, &l))
			continue;
		/* SQLite allows deleting the row a running select is on */
		if ((rc = cat_prepare(c, del, &d, err)) != KL_OK)
			return rc;
		if ((src = bind_loc(d, &id, no, &l)) != SQLITE_OK ||
		    (src = sqlite3_step(d)) != SQLITE_DONE)
			return cat_sqlerr(c, err, src, "pack_confirm");
		(*removed)++;
	}
	return src == SQLITE_DONE ? KL_OK :
	    cat_sqlerr(c, err, src, "pack_confirm");
}

static int
pack_confirm(struct kl_cat *c, const struct kl_id *pack,
    const struct kl_blob_entry *e, size_t n, uint64_t *removed,
    struct kl_error *err)
{
	static const char sel[] = "SELECT pack_no FROM pack WHERE id = ?1";
	static const char upd[] = "UPDATE pack SET hdr = ?2 WHERE"
	    " pack_no = ?1";
	sqlite3_stmt *st;
	int64_t no;
	int rc, src;

	if ((rc = cat_prepare(c, sel, &st, err)) != KL_OK)
		return rc;
	if ((src = cat_bind_id(st, 1, pack)) == SQLITE_OK)
		src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		return KL_OK;	/* nothing names it */
	if (src != SQLITE_ROW)
		return cat_sqlerr(c, err, src, "pack_confirm");
	no = sqlite3_column_int64(st, 0);
	if (e != NULL &&
	    (rc = confirm_locs(c, no, e, n, removed, err)) != KL_OK)
		return rc;
	if ((rc = cat_prepare(c, upd, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, no)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 2, e != NULL ? KL_CAT_HDR_CONFIRMED :
	    KL_CAT_HDR_BAD)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "pack_confirm");
	return KL_OK;
}

int
kl_cat_pack_confirm(struct kl_cat *c, const struct kl_id *pack,
    const struct kl_blob_entry *e, size_t n, uint64_t *removed,
    struct kl_error *err)
{
	struct kl_blob_entry *sorted = NULL;
	uint64_t gone = 0;
	int rc;

	if (removed != NULL)
		*removed = 0;
	if (pack == NULL)
		return KL_E_INVAL;
	if (e != NULL) {
		if ((sorted = malloc((n ? n : 1) * sizeof(*sorted))) == NULL)
			return KL_E_NOMEM;
		memcpy(sorted, e, n * sizeof(*e));
		qsort(sorted, n, sizeof(*sorted), entry_off_cmp);
	}
	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK)
		rc = cat_tx_end(c, pack_confirm(c, pack, sorted, n, &gone, err),
		    err);
	cat_unlock(c);
	free(sorted);
	if (rc == KL_OK && removed != NULL)
		*removed = gone;
	return rc;
}

int
kl_cat_pack_trust(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err)
{
	static const char sql[] = "SELECT max(l.trust) FROM loc l JOIN pack p"
	    " ON p.pack_no = l.pack_no WHERE p.id = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if (pack == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK) {
		if ((src = cat_bind_id(st, 1, pack)) == SQLITE_OK)
			src = sqlite3_step(st);
		if (src != SQLITE_ROW)
			rc = cat_sqlerr(c, err, src, "pack_trust");
		else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			rc = KL_TRUST_CLAIMED;
		else
			rc = sqlite3_column_int(st, 0);
	}
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *id, const struct kl_blob_loc *l),
    void *arg, struct kl_error *err)
{
	static const char sql[] = "SELECT l.id, p.id, l.type, l.off,"
	    " l.stored_len, l.raw_len FROM loc l JOIN pack p"
	    " ON p.pack_no = l.pack_no ORDER BY l.id, l.trust, l.recv_s";
	struct kl_blob_loc l;
	struct kl_id id, last;
	sqlite3_stmt *st;
	int rc, src, any = 0;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = cat_col_id(c, st, 0, &id, err)) != KL_OK)
			goto out;
		if (any && kl_id_eq(&id, &last))
			continue;	/* the best location only */
		any = 1;
		last = id;
		if ((rc = col_loc(c, st, 1, &l, err)) != KL_OK ||
		    (rc = cb(arg, &id, &l)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "blob_foreach");
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_blob_count(struct kl_cat *c, uint64_t *n, struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src;

	if (n == NULL)
		return KL_E_INVAL;
	*n = 0;
	cat_lock(c);
	if ((rc = cat_prepare(c, "SELECT count(*) FROM (SELECT DISTINCT id"
	    " FROM loc)", &st, err)) == KL_OK) {
		if ((src = sqlite3_step(st)) == SQLITE_ROW)
			*n = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = cat_sqlerr(c, err, src, "blob_count");
	}
	cat_unlock(c);
	return rc;
}

/* Runs sql (a literal) with ?1 = id and, if size_col, ?2 = size. */
static int
id_write(struct kl_cat *c, const char *sql, const struct kl_id *id,
    int with_size, uint64_t size, const char *what, struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src;

	if (id == NULL || size > INT64_MAX)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK &&
	    ((src = cat_bind_id(st, 1, id)) != SQLITE_OK ||
	    (with_size && (src = sqlite3_bind_int64(st, 2, (int64_t)size)) !=
	    SQLITE_OK) || (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, err, src, what);
	cat_unlock(c);
	return rc;
}

int
kl_cat_withdrawn_add(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return id_write(c, "INSERT OR IGNORE INTO withdrawn(id) VALUES(?1)",
	    file, 0, 0, "withdrawn_add", err);
}

int
kl_cat_withdrawn_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM withdrawn WHERE id = ?1",
	    file, "withdrawn_has", err);
}

int
kl_cat_pruned_add(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return id_write(c, "INSERT OR IGNORE INTO pruned(id) VALUES(?1)",
	    file, 0, 0, "pruned_add", err);
}

int
kl_cat_pruned_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM pruned WHERE id = ?1",
	    file, "pruned_has", err);
}

int
kl_cat_own_index_add(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return id_write(c, "INSERT OR IGNORE INTO own_index(id) VALUES(?1)",
	    file, 0, 0, "own_index_add", err);
}

int
kl_cat_own_index_has(struct kl_cat *c, const struct kl_id *file,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM own_index WHERE id = ?1",
	    file, "own_index_has", err);
}

int
kl_cat_own_pack_add(struct kl_cat *c, const struct kl_id *pack,
    uint64_t size, struct kl_error *err)
{
	return id_write(c, "INSERT OR REPLACE INTO own_pack(id, size)"
	    " VALUES(?1, ?2)", pack, 1, size, "own_pack_add", err);
}

int
kl_cat_own_pack_has(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM own_pack WHERE id = ?1", pack,
	    "own_pack_has", err);
}

int
kl_cat_own_pack_del(struct kl_cat *c, const struct kl_id *pack,
    struct kl_error *err)
{
	return id_write(c, "DELETE FROM own_pack WHERE id = ?1", pack, 0, 0,
	    "own_pack_del", err);
}


int
kl_cat_own_pack_list(struct kl_cat *c, struct kl_id **ids, uint64_t **sizes,
    size_t *n, struct kl_error *err)
{
	struct kl_id *a = NULL;
	uint64_t *sz = NULL;
	sqlite3_stmt *st;
	size_t len = 0, acap = 0, szcap = 0;
	int rc, src;

	if (ids == NULL || sizes == NULL || n == NULL)
		return KL_E_INVAL;
	*ids = NULL;
	*sizes = NULL;
	*n = 0;
	cat_lock(c);
	if ((rc = cat_prepare(c, "SELECT id, size FROM own_pack ORDER BY id",
	    &st, err)) != KL_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (KL_GROW(a, acap, len + 1) != KL_OK ||
		    KL_GROW(sz, szcap, len + 1) != KL_OK) {
			rc = cat_err(c, err, KL_E_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = cat_col_id(c, st, 0, &a[len], err)) != KL_OK)
			goto out;
		sz[len++] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (src != SQLITE_DONE) {
		rc = cat_sqlerr(c, err, src, "own_pack_list");
		goto out;
	}
	*ids = a;
	*sizes = sz;
	*n = len;
	a = NULL;
	sz = NULL;
out:
	free(a);
	free(sz);
	cat_unlock(c);
	return rc;
}
