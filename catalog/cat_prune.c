/*
 * Prune's plan (catalog.h "Prune's plan"): the blobs in use, the packs in
 * the repository, which location of each blob in use is kept, and what
 * happens to each pack - all in temporary tables of this connection, so
 * that a repository of any size is planned in the page cache's memory.
 */
#include <string.h>

#include "kluis/err.h"
#include "catalog_internal.h"

/* Copies handed to the caller per batch (the lock is not held while the
 * caller reads and writes blobs). */
#define COPY_BATCH 512

static const char *const prune_ddl[] = {
	"CREATE TEMP TABLE IF NOT EXISTS prune_mark(id BLOB NOT NULL,"
	" type INTEGER NOT NULL, PRIMARY KEY(id, type)) WITHOUT ROWID",
	"CREATE TEMP TABLE IF NOT EXISTS prune_present(pack_no INTEGER"
	" PRIMARY KEY, size INTEGER NOT NULL)",
	"CREATE TEMP TABLE IF NOT EXISTS prune_keep(id BLOB NOT NULL,"
	" type INTEGER NOT NULL, pack_no INTEGER NOT NULL,"
	" off INTEGER NOT NULL, stored_len INTEGER NOT NULL,"
	" trust INTEGER NOT NULL, PRIMARY KEY(id, type)) WITHOUT ROWID",
	"CREATE TEMP TABLE IF NOT EXISTS prune_act(pack_no INTEGER PRIMARY"
	" KEY, act INTEGER NOT NULL)",
	"CREATE TEMP TABLE IF NOT EXISTS prune_copy(seq INTEGER PRIMARY KEY,"
	" id BLOB NOT NULL, type INTEGER NOT NULL)",
	"DELETE FROM temp.prune_mark",
	"DELETE FROM temp.prune_present",
	"DELETE FROM temp.prune_keep",
	"DELETE FROM temp.prune_act",
	"DELETE FROM temp.prune_copy",
};

int
kl_cat_mark_begin(struct kl_cat *c, struct kl_error *err)
{
	size_t i;
	int rc = KL_OK;

	cat_lock(c);
	for (i = 0; i < sizeof(prune_ddl) / sizeof(prune_ddl[0]) &&
	    rc == KL_OK; i++)
		rc = cat_exec(c, prune_ddl[i], "prune tables", err);
	cat_unlock(c);
	return rc;
}

void
kl_cat_mark_end(struct kl_cat *c)
{
	static const char *const sql[] = {
		"DROP TABLE IF EXISTS temp.prune_mark",
		"DROP TABLE IF EXISTS temp.prune_present",
		"DROP TABLE IF EXISTS temp.prune_keep",
		"DROP TABLE IF EXISTS temp.prune_act",
		"DROP TABLE IF EXISTS temp.prune_copy",
	};
	size_t i;

	cat_lock(c);
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		(void)sqlite3_exec(c->db, sql[i], NULL, NULL, NULL);
	cat_unlock(c);
}

/* Runs sql (a literal) with ?1 = id, ?2 = v; the rows it changed. */
static int
id_int_write(struct kl_cat *c, const char *sql, const struct kl_id *id,
    int64_t v, const char *what, struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src;

	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK) {
		if ((src = cat_bind_id(st, 1, id)) != SQLITE_OK ||
		    (src = sqlite3_bind_int64(st, 2, v)) != SQLITE_OK ||
		    (src = sqlite3_step(st)) != SQLITE_DONE)
			rc = cat_sqlerr(c, err, src, what);
		else
			rc = sqlite3_changes(c->db) > 0;
	}
	cat_unlock(c);
	return rc;
}

int
kl_cat_mark_add(struct kl_cat *c, const struct kl_id *id, uint8_t type,
    struct kl_error *err)
{
	if (id == NULL)
		return KL_E_INVAL;
	return id_int_write(c, "INSERT OR IGNORE INTO temp.prune_mark(id, type)"
	    " VALUES(?1, ?2)", id, type, "mark_add", err);
}

int
kl_cat_prune_present(struct kl_cat *c, const struct kl_id *pack,
    uint64_t size, struct kl_error *err)
{
	if (pack == NULL || size > INT64_MAX)
		return KL_E_INVAL;
	return id_int_write(c, "INSERT OR REPLACE INTO temp.prune_present"
	    "(pack_no, size) SELECT pack_no, ?2 FROM pack WHERE id = ?1",
	    pack, (int64_t)size, "prune_present", err);
}

int
kl_cat_prune_act(struct kl_cat *c, const struct kl_id *pack, int act,
    struct kl_error *err)
{
	int rc;

	if (pack == NULL || act < KL_PRUNE_KEEP || act > KL_PRUNE_DELETE)
		return KL_E_INVAL;
	rc = id_int_write(c, "INSERT OR REPLACE INTO temp.prune_act(pack_no,"
	    " act) SELECT pack_no, ?2 FROM pack WHERE id = ?1", pack, act,
	    "prune_act", err);
	return rc < 0 ? rc : KL_OK;
}

/*
 * The keeper of each blob in use: among its locations in present packs
 * of the right type, the most trusted (lowest trust value), then the one
 * in the pack holding the most bytes in use, then the lowest pack number.
 */
static const char keep_sql[] =
    "INSERT INTO temp.prune_keep(id, type, pack_no, off, stored_len, trust)"
    " SELECT id, type, pack_no, off, stored_len, trust FROM ("
    "  SELECT l.id, l.type, l.pack_no, l.off, l.stored_len, l.trust,"
    "   row_number() OVER (PARTITION BY l.id, l.type ORDER BY l.trust,"
    "    u.used DESC, l.pack_no, l.off) AS rn"
    "  FROM temp.prune_mark m"
    "  JOIN loc l ON l.id = m.id AND l.type = m.type"
    "  JOIN temp.prune_present pp ON pp.pack_no = l.pack_no"
    "  JOIN (SELECT l2.pack_no, sum(l2.stored_len) AS used"
    "   FROM temp.prune_mark m2 JOIN loc l2 ON l2.id = m2.id AND"
    "   l2.type = m2.type GROUP BY l2.pack_no) u ON u.pack_no = l.pack_no"
    " ) WHERE rn = 1";

static const char plan_sql[] =
    "SELECT p.id, pp.size, coalesce(k.used, 0), coalesce(k.n, 0),"
    " (SELECT count(*) FROM loc l WHERE l.pack_no = pp.pack_no)"
    " FROM temp.prune_present pp JOIN pack p ON p.pack_no = pp.pack_no"
    " LEFT JOIN (SELECT pack_no, sum(stored_len) AS used, count(*) AS n"
    "  FROM temp.prune_keep GROUP BY pack_no) k ON k.pack_no = pp.pack_no"
    " ORDER BY p.id";

static const char unlocated_sql[] =
    "SELECT count(*) FROM temp.prune_mark m WHERE NOT EXISTS"
    " (SELECT 1 FROM temp.prune_keep k WHERE k.id = m.id AND"
    " k.type = m.type)";

static int
u64_col(sqlite3_stmt *st, int i)
{
	return sqlite3_column_int64(st, i) < 0;
}

int
kl_cat_prune_plan(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_cat_prune_pack *p), void *arg,
    uint64_t *unlocated, struct kl_error *err)
{
	struct kl_cat_prune_pack p;
	sqlite3_stmt *st;
	int rc, src;

	*unlocated = 0;
	cat_lock(c);
	if ((rc = cat_exec(c, "DELETE FROM temp.prune_keep", "prune_keep",
	    err)) != KL_OK ||
	    (rc = cat_exec(c, keep_sql, "prune keepers", err)) != KL_OK)
		goto out;
	if ((rc = cat_prepare(c, unlocated_sql, &st, err)) != KL_OK)
		goto out;
	if ((src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = cat_sqlerr(c, err, src, "prune unlocated");
		goto out;
	}
	*unlocated = (uint64_t)sqlite3_column_int64(st, 0);
	if ((rc = cat_prepare(c, plan_sql, &st, err)) != KL_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&p, 0, sizeof(p));
		if ((rc = cat_col_id(c, st, 0, &p.id, err)) != KL_OK)
			goto out;
		if (u64_col(st, 1) || u64_col(st, 2) || u64_col(st, 3) ||
		    u64_col(st, 4)) {
			rc = cat_err(c, err, KL_E_CORRUPT, "prune plan: a "
			    "negative size");
			goto out;
		}
		p.size = (uint64_t)sqlite3_column_int64(st, 1);
		p.used_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		p.used_blobs = (uint64_t)sqlite3_column_int64(st, 3);
		p.blobs = (uint64_t)sqlite3_column_int64(st, 4);
		if ((rc = cb(arg, &p)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "prune plan");
out:
	cat_unlock(c);
	return rc;
}

/* The keepers to copy (see catalog.h), in the order of their packs. */
static const char copy_sql[] =
    "INSERT INTO temp.prune_copy(id, type)"
    " SELECT id, type FROM ("
    "  SELECT k.id, k.type, k.pack_no, k.off FROM temp.prune_keep k"
    "   JOIN temp.prune_act a ON a.pack_no = k.pack_no AND a.act = 1"
    "  UNION"
    "  SELECT k.id, k.type, k.pack_no, k.off FROM temp.prune_keep k"
    "   WHERE k.trust = 2 AND NOT EXISTS (SELECT 1 FROM temp.prune_act a"
    "    WHERE a.pack_no = k.pack_no AND a.act <> 0)"
    "   AND EXISTS (SELECT 1 FROM loc l JOIN temp.prune_act a"
    "    ON a.pack_no = l.pack_no AND a.act <> 0"
    "    WHERE l.id = k.id AND l.type = k.type)"
    " ) ORDER BY pack_no, off";

static const char copy_batch_sql[] =
    "SELECT seq, id, type FROM temp.prune_copy WHERE seq > ?1"
    " ORDER BY seq LIMIT 512";

int
kl_cat_prune_copies(struct kl_cat *c,
    int (*cb)(void *arg, const struct kl_id *id, uint8_t type), void *arg,
    struct kl_error *err)
{
	struct kl_id ids[COPY_BATCH];
	uint8_t types[COPY_BATCH];
	sqlite3_stmt *st;
	int64_t last = 0;
	size_t n, i;
	int rc, src;

	cat_lock(c);
	if ((rc = cat_exec(c, "DELETE FROM temp.prune_copy", "prune_copy",
	    err)) == KL_OK)
		rc = cat_exec(c, copy_sql, "prune copies", err);
	cat_unlock(c);
	while (rc == KL_OK) {
		n = 0;
		cat_lock(c);
		if ((rc = cat_prepare(c, copy_batch_sql, &st, err)) == KL_OK &&
		    (src = sqlite3_bind_int64(st, 1, last)) != SQLITE_OK)
			rc = cat_sqlerr(c, err, src, "prune copies");
		while (rc == KL_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
			last = sqlite3_column_int64(st, 0);
			if ((rc = cat_col_id(c, st, 1, &ids[n], err)) != KL_OK)
				break;
			types[n++] = (uint8_t)sqlite3_column_int(st, 2);
		}
		if (rc == KL_OK && src != SQLITE_DONE)
			rc = cat_sqlerr(c, err, src, "prune copies");
		cat_unlock(c);
		if (rc != KL_OK || n == 0)
			break;
		for (i = 0; i < n && rc == KL_OK; i++)
			rc = cb(arg, &ids[i], types[i]);
	}
	return rc;
}
