/*
 * Snapshots and the series they belong to (a series: one host and one
 * list of paths).  The versions of a series (cat_versions.c) are built in
 * snapshot order; anything that changes that history after the fact - an
 * older snapshot arriving late, a snapshot vanishing or coming back -
 * sets series.rebuild so that they are rebuilt.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "catalog_internal.h"

int
cat_join(char *const *v, size_t n, char **out)
{
	size_t i, len = 1, l;
	char *s, *p;

	*out = NULL;
	for (i = 0; i < n; i++) {
		if (v[i] == NULL)
			return KL_E_INVAL;
		len += strlen(v[i]) + 1;
	}
	if ((s = malloc(len)) == NULL)
		return KL_E_NOMEM;
	p = s;
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = '\n';
		l = strlen(v[i]);
		memcpy(p, v[i], l);
		p += l;
	}
	*p = '\0';
	*out = s;
	return KL_OK;
}

static int
series_find(struct kl_cat *c, const char *host, const char *paths,
    int create, int64_t *no, struct kl_error *err)
{
	static const char sel[] = "SELECT series_no FROM series"
	    " WHERE host = ?1 AND paths = ?2";
	static const char ins[] = "INSERT INTO series(host, paths)"
	    " VALUES(?1, ?2)";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sel, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 2, paths, -1, SQLITE_STATIC)) !=
	    SQLITE_OK)
		return cat_sqlerr(c, err, src, "series");
	if ((src = sqlite3_step(st)) == SQLITE_ROW) {
		*no = sqlite3_column_int64(st, 0);
		return KL_OK;
	}
	if (src != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "series");
	if (!create)
		return KL_E_NOTFOUND;
	if ((rc = cat_prepare(c, ins, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 2, paths, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "series");
	*no = sqlite3_last_insert_rowid(c->db);
	return KL_OK;
}

int
cat_series_get(struct kl_cat *c, const char *host, char *const *paths,
    size_t npaths, int create, int64_t *no, struct kl_error *err)
{
	char *joined = NULL;
	int rc;

	*no = 0;
	if (host == NULL || (paths == NULL && npaths > 0))
		return cat_err(c, err, KL_E_INVAL, "series: no host or paths");
	if ((rc = cat_join(paths, npaths, &joined)) != KL_OK)
		return cat_err(c, err, rc, "series: %s", kl_strerror(rc));
	rc = series_find(c, host, joined, create, no, err);
	free(joined);
	return rc;
}

int
kl_cat_snap_has(struct kl_cat *c, const struct kl_id *id, struct kl_error *err)
{
	return cat_id_exists(c, "SELECT 1 FROM snapshot WHERE id = ?1", id,
	    "snap_has", err);
}

/* The fields of a new snapshot row, in the order of snap_insert's SQL. */
struct snap_row {
	const struct kl_id *id;
	const struct kl_snapshot *s;
	int64_t series, recv_s;
	char *paths, *tags;
};

static int
snap_insert(struct kl_cat *c, const struct snap_row *r, struct kl_error *err)
{
	static const char sql[] = "INSERT INTO snapshot(id, series_no,"
	    " time_s, time_ns, recv_s, host, username, paths, tags, tree,"
	    " parent, files, dirs, bytes) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	    " ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
	const struct kl_snapshot *s = r->s;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = cat_bind_id(st, 1, r->id)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, r->series)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, s->time_s)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 4, s->time_ns)) != SQLITE_OK ||
	    (src = r->recv_s == KL_CAT_TIME_NONE ? sqlite3_bind_null(st, 5) :
	    sqlite3_bind_int64(st, 5, r->recv_s)) != SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 6, s->hostname, -1,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 7, s->username != NULL ?
	    s->username : "", -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 8, r->paths, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 9, r->tags, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = cat_bind_id(st, 10, &s->tree)) != SQLITE_OK ||
	    (src = cat_bind_id(st, 11, &s->parent)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 12, (int64_t)s->files)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 13, (int64_t)s->dirs)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 14, (int64_t)s->bytes)) !=
	    SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "snap_add");
	return KL_OK;
}

static int
series_rebuild(struct kl_cat *c, int64_t series, struct kl_error *err)
{
	static const char sql[] = "UPDATE series SET rebuild = 1"
	    " WHERE series_no = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, series)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "series");
	return KL_OK;
}

/*
 * 1 if snapshot r sorts before the newest processed one of its series:
 * by (time_s, time_ns, id), or by effective time (kl_cat_snap_time).
 * Either order may be the one versions are built in; a needless rebuild
 * only costs time.
 */
static int
snap_is_late(struct kl_cat *c, const struct snap_row *r, struct kl_error *err)
{
	static const char sql[] = "SELECT (?2, ?3, ?4) < (s.time_s,"
	    " s.time_ns, s.id) OR coalesce(?5, ?2) < coalesce(s.recv_s,"
	    " s.time_s) FROM series r JOIN snapshot s"
	    " ON s.snap_no = r.last_snap WHERE r.series_no = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, r->series)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, r->s->time_s)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, r->s->time_ns)) != SQLITE_OK ||
	    (src = cat_bind_id(st, 4, r->id)) != SQLITE_OK ||
	    (src = r->recv_s == KL_CAT_TIME_NONE ? sqlite3_bind_null(st, 5) :
	    sqlite3_bind_int64(st, 5, r->recv_s)) != SQLITE_OK)
		return cat_sqlerr(c, err, src, "snap_add");
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		return sqlite3_column_int(st, 0) != 0;
	return src == SQLITE_DONE ? 0 : cat_sqlerr(c, err, src, "snap_add");
}

static int
snap_add(struct kl_cat *c, struct snap_row *r, struct kl_error *err)
{
	const struct kl_snapshot *s = r->s;
	int rc;

	if ((rc = kl_cat_snap_has(c, r->id, err)) != 0)
		return rc < 0 ? rc : KL_OK;
	if ((rc = cat_series_get(c, s->hostname, s->paths, s->npaths, 1,
	    &r->series, err)) != KL_OK)
		return rc;
	if ((rc = cat_join(s->paths, s->npaths, &r->paths)) != KL_OK ||
	    (rc = cat_join(s->tags, s->ntags, &r->tags)) != KL_OK)
		return cat_err(c, err, rc, "snap_add: %s", kl_strerror(rc));
	if ((rc = snap_insert(c, r, err)) != KL_OK ||
	    (rc = snap_is_late(c, r, err)) <= 0)
		return rc;
	return series_rebuild(c, r->series, err);
}

int
kl_cat_snap_add(struct kl_cat *c, const struct kl_id *id,
    const struct kl_snapshot *s, int64_t recv_s, struct kl_error *err)
{
	struct snap_row r = { id, s, 0, recv_s, NULL, NULL };
	int rc;

	if (id == NULL || s == NULL || s->hostname == NULL ||
	    (s->paths == NULL && s->npaths > 0) ||
	    (s->tags == NULL && s->ntags > 0))
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK)
		rc = cat_tx_end(c, snap_add(c, &r, err), err);
	cat_unlock(c);
	free(r.paths);
	free(r.tags);
	return rc;
}

/* A snapshot whose vanished flag changes, or that was forgotten. */
struct flip {
	int64_t snap, series;
	int vanished;
	int forgotten;		/* gone, and withdrawn by a signed index file */
};

struct flips {
	struct flip *v;
	size_t n, cap;
};

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

static int
flips_add(struct flips *f, int64_t snap, int64_t series, int vanished,
    int forgotten)
{
	int rc;

	if ((rc = KL_GROW(f->v, f->cap, f->n + 1)) != KL_OK)
		return rc;
	f->v[f->n].snap = snap;
	f->v[f->n].series = series;
	f->v[f->n].vanished = vanished;
	f->v[f->n].forgotten = forgotten;
	f->n++;
	return KL_OK;
}

/*
 * The snapshots whose flag must change, against present (sorted).  One
 * that is gone and that a signed index file withdrew (table withdrawn:
 * `kluis forget`, FORMAT.md §9) was forgotten, not lost: it leaves the
 * catalog instead of becoming vanished.
 */
static int
flips_find(struct kl_cat *c, const struct kl_id *present, size_t n,
    struct flips *f, struct kl_error *err)
{
	static const char sql[] = "SELECT snap_no, id, series_no, vanished,"
	    " EXISTS (SELECT 1 FROM withdrawn w WHERE w.id = snapshot.id)"
	    " FROM snapshot";
	struct kl_id id;
	sqlite3_stmt *st;
	int rc, src, gone, forgotten;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = cat_col_id(c, st, 1, &id, err)) != KL_OK)
			return rc;
		gone = n == 0 || bsearch(&id, present, n, sizeof(*present),
		    id_cmp) == NULL;
		forgotten = gone && sqlite3_column_int(st, 4) != 0;
		if (!forgotten && gone == (sqlite3_column_int(st, 3) != 0))
			continue;
		if (flips_add(f, sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 2), gone, forgotten) != KL_OK)
			return cat_err(c, err, KL_E_NOMEM, "out of memory");
	}
	return src == SQLITE_DONE ? KL_OK : cat_sqlerr(c, err, src, "vanished");
}

/* A forgotten snapshot leaves the table; any other gets its new flag. */
static int
flip_one(struct kl_cat *c, const struct flip *v, struct kl_error *err)
{
	static const char sql[] = "UPDATE snapshot SET vanished = ?2"
	    " WHERE snap_no = ?1";
	static const char del[] = "DELETE FROM snapshot WHERE snap_no = ?1";
	/* the host's last snapshot goes: the host is retired */
	static const char retire[] = "INSERT OR REPLACE INTO retired(host,"
	    " since_s) SELECT s.host, ?2 FROM snapshot s WHERE s.snap_no = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM snapshot o WHERE o.host = s.host"
	    " AND o.snap_no <> s.snap_no)";
	sqlite3_stmt *st;
	int rc, src;

	if (v->forgotten) {
		if ((rc = cat_prepare(c, retire, &st, err)) != KL_OK)
			return rc;
		if ((src = sqlite3_bind_int64(st, 1, v->snap)) != SQLITE_OK ||
		    (src = sqlite3_bind_int64(st, 2, (int64_t)time(NULL))) !=
		    SQLITE_OK || (src = sqlite3_step(st)) != SQLITE_DONE)
			return cat_sqlerr(c, err, src, "retired");
	}
	if ((rc = cat_prepare(c, v->forgotten ? del : sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, v->snap)) != SQLITE_OK ||
	    (!v->forgotten &&
	    (src = sqlite3_bind_int(st, 2, v->vanished)) != SQLITE_OK) ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "vanished");
	return series_rebuild(c, v->series, err);
}

static int
flips_apply(struct kl_cat *c, const struct flips *f, size_t *newly,
    struct kl_error *err)
{
	size_t i;
	int rc;

	for (i = 0; i < f->n; i++) {
		if ((rc = flip_one(c, &f->v[i], err)) != KL_OK)
			return rc;
		*newly += f->v[i].vanished != 0 && !f->v[i].forgotten;
	}
	return KL_OK;
}

int
kl_cat_snap_mark_vanished(struct kl_cat *c, const struct kl_id *present,
    size_t n, size_t *newly, struct kl_error *err)
{
	struct flips f = { NULL, 0, 0 };
	struct kl_id *sorted = NULL;
	size_t marked = 0;
	int rc;

	if (newly != NULL)
		*newly = 0;
	if (present == NULL && n > 0)
		return KL_E_INVAL;
	if (n > 0) {
		if ((sorted = malloc(n * sizeof(*sorted))) == NULL)
			return KL_E_NOMEM;
		memcpy(sorted, present, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), id_cmp);
	}
	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK) {
		if ((rc = flips_find(c, sorted, n, &f, err)) == KL_OK)
			rc = flips_apply(c, &f, &marked, err);
		rc = cat_tx_end(c, rc, err);
	}
	cat_unlock(c);
	if (rc == KL_OK && newly != NULL)
		*newly = marked;
	free(f.v);
	free(sorted);
	return rc;
}

/* Fills s from a row of kl_cat_snap_foreach's statement. */
static int
snap_row_get(struct kl_cat *c, sqlite3_stmt *st, struct kl_cat_snap *s,
    struct kl_error *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->no = sqlite3_column_int64(st, 0);
	if ((rc = cat_col_id(c, st, 1, &s->id, err)) != KL_OK ||
	    (rc = cat_col_id(c, st, 2, &s->tree, err)) != KL_OK ||
	    (rc = cat_col_id(c, st, 3, &s->parent, err)) != KL_OK ||
	    (rc = cat_col_text(c, st, 7, &s->host, err)) != KL_OK ||
	    (rc = cat_col_text(c, st, 8, &s->username, err)) != KL_OK ||
	    (rc = cat_col_text(c, st, 9, &s->paths, err)) != KL_OK ||
	    (rc = cat_col_text(c, st, 10, &s->tags, err)) != KL_OK)
		return rc;
	s->time_s = sqlite3_column_int64(st, 4);
	s->time_ns = (uint32_t)sqlite3_column_int64(st, 5);
	s->recv_s = sqlite3_column_type(st, 6) == SQLITE_NULL ?
	    KL_CAT_TIME_NONE : sqlite3_column_int64(st, 6);
	s->files = (uint64_t)sqlite3_column_int64(st, 11);
	s->dirs = (uint64_t)sqlite3_column_int64(st, 12);
	s->bytes = (uint64_t)sqlite3_column_int64(st, 13);
	s->vanished = sqlite3_column_int(st, 14) != 0;
	s->skipped = sqlite3_column_int(st, 15) == 2;
	return KL_OK;
}

int
kl_cat_snap_foreach(struct kl_cat *c, const char *host,
    int with_vanished, int (*cb)(void *arg, const struct kl_cat_snap *s),
    void *arg, struct kl_error *err)
{
	static const char sql[] = "SELECT snap_no, id, tree, parent, time_s,"
	    " time_ns, recv_s, host, username, paths, tags, files, dirs,"
	    " bytes, vanished, done FROM snapshot"
	    " WHERE (?1 IS NULL OR host = ?1)"
	    " AND (?2 OR NOT vanished) ORDER BY time_s, time_ns, id";
	struct kl_cat_snap s;
	sqlite3_stmt *st;
	int rc, src;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = (host == NULL ? sqlite3_bind_null(st, 1) :
	    sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC))) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 2, with_vanished != 0)) != SQLITE_OK) {
		rc = cat_sqlerr(c, err, src, "snap_foreach");
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = snap_row_get(c, st, &s, err)) != KL_OK ||
		    (rc = cb(arg, &s)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "snap_foreach");
out:
	cat_unlock(c);
	return rc;
}

/*
 * Series rows stay: own_parent refers to them by number, and a cleared
 * snapshot list must not hand one series' parent to another whose new
 * row would reuse the number.
 */
int
kl_cat_snap_clear(struct kl_cat *c, struct kl_error *err)
{
	static const char *const sql[] = {
		"DELETE FROM version", "DELETE FROM path",
		"DELETE FROM snapshot",
		"UPDATE series SET last_snap = 0, rebuild = 0",
	};
	size_t i;
	int rc;

	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK) {
		for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == KL_OK;
		    i++)
			rc = cat_exec(c, sql[i], "snap_clear", err);
		rc = cat_tx_end(c, rc, err);
	}
	cat_unlock(c);
	return rc;
}

int
kl_cat_retired_foreach(struct kl_cat *c,
    int (*cb)(void *arg, const char *host, int64_t since_s), void *arg,
    struct kl_error *err)
{
	static const char sql[] = "SELECT host, since_s FROM retired r"
	    " WHERE NOT EXISTS (SELECT 1 FROM snapshot s WHERE s.host = r.host)"
	    " ORDER BY host";
	sqlite3_stmt *st;
	int rc, src;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = cb(arg, (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1))) != 0)
			goto out;
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "retired");
out:
	cat_unlock(c);
	return rc;
}
