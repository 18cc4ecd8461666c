/*
 * The history of backups, checks and drills run from this client.  It is
 * the one table nothing else can rebuild: kl_cat_reset keeps it.  A run's
 * details are rows of run_value (schema 7), read back as they were
 * written: nothing parses them.  Schema 9 adds the runs of other clients,
 * imported from their run records (FORMAT.md §17), and the runs of this
 * client still to be uploaded as records.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/grow.h"
#include "kluis/json.h"
#include "catalog_internal.h"

/* Details of one run read back at most: a doctored catalog cannot make
 * a report hold more. */
#define RUN_VALUES_MAX 4096

const struct kl_run_value *
kl_run_value_get(const struct kl_run_value *v, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].item == 0 && strcmp(v[i].key, key) == 0)
			return &v[i];
	return NULL;
}

static void
value_json(struct kl_json *j, const char *key, const struct kl_run_value *v)
{
	switch (v->type) {
	case KL_RUN_REAL:
		kl_json_num(j, key, v->r);
		return;
	case KL_RUN_TEXT:
		kl_json_text(j, key, v->s);
		return;
	case KL_RUN_BOOL:
		kl_json_bool(j, key, v->i != 0);
		return;
	}
	kl_json_i64(j, key, v->i);
}

/* 1 if a row before v[i] belongs to the same list (and, with item, to
 * the same entry). */
static int
seen_before(const struct kl_run_value *v, size_t i, int same_item)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (v[k].item > 0 && strcmp(v[k].key, v[i].key) == 0 &&
		    (!same_item || v[k].item == v[i].item))
			return 1;
	return 0;
}

/* The list v[i].key: its entries in the order they first appear. */
static void
list_json(struct kl_json *j, const struct kl_run_value *v, size_t n,
    size_t i)
{
	size_t e, k;

	kl_json_arr(j, v[i].key);
	for (e = i; e < n; e++) {
		if (v[e].item == 0 || strcmp(v[e].key, v[i].key) != 0 ||
		    seen_before(v, e, 1))
			continue;
		kl_json_obj(j, NULL);
		for (k = e; k < n; k++)
			if (v[k].item == v[e].item &&
			    strcmp(v[k].key, v[e].key) == 0)
				value_json(j, v[k].field, &v[k]);
		kl_json_obj_end(j);
	}
	kl_json_arr_end(j);
}

void
kl_run_values_json(struct kl_json *j, const struct kl_run_value *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i].item == 0)
			value_json(j, v[i].key, &v[i]);
		else if (!seen_before(v, i, 0))
			list_json(j, v, n, i);
	}
}

_Static_assert(KL_CAT_RUN_ID_LEN == KL_RUNREC_ID_LEN,
    "a run of the history has a §17 run id");

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
	return kl_runrec_id_is_zero(r->run_id) ? sqlite3_bind_null(st, 11) :
	    sqlite3_bind_blob(st, 11, r->run_id, KL_CAT_RUN_ID_LEN,
	    SQLITE_STATIC);
}

static int
value_valid(const struct kl_run_value *v)
{
	return v->key != NULL && (v->item == 0) == (v->field == NULL) &&
	    v->type >= KL_RUN_INT && v->type <= KL_RUN_BOOL &&
	    (v->type != KL_RUN_TEXT || v->s != NULL);
}

static int
value_bind(sqlite3_stmt *st, int64_t run, const struct kl_run_value *v)
{
	int src;

	if ((src = sqlite3_bind_int64(st, 1, run)) != SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 2, v->key, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 3, v->item)) != SQLITE_OK ||
	    (src = v->field == NULL ? sqlite3_bind_null(st, 4) :
	    sqlite3_bind_text(st, 4, v->field, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 5, v->type)) != SQLITE_OK)
		return src;
	switch (v->type) {
	case KL_RUN_REAL:
		return sqlite3_bind_double(st, 6, v->r);
	case KL_RUN_TEXT:
		return sqlite3_bind_text(st, 6, v->s, -1, SQLITE_STATIC);
	case KL_RUN_BOOL:
		return sqlite3_bind_int64(st, 6, v->i != 0);
	}
	return sqlite3_bind_int64(st, 6, v->i);
}

/* How a run goes in: from this client (a duplicate run id is an error),
 * or imported (a duplicate is skipped). */
static const char run_sql_local[] = "INSERT INTO run(kind, host, start_s,"
    " end_s, exit_code, snapshot, files, bytes, bytes_added, errors, run_id,"
    " origin, recv_s, uploaded) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
    " ?10, ?11, 0, NULL, ?11 IS NULL)";
static const char run_sql_import[] = "INSERT OR IGNORE INTO run(kind, host,"
    " start_s, end_s, exit_code, snapshot, files, bytes, bytes_added, errors,"
    " run_id, origin, recv_s, uploaded) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
    " ?8, ?9, ?10, ?11, 1, ?12, 1)";

/* The run and its values, inside the caller's transaction; *added (may
 * be NULL) is 0 when an import was skipped as a duplicate. */
static int
run_insert(struct kl_cat *c, const struct kl_cat_run *r, int64_t recv_s,
    int import, int *added, struct kl_error *err)
{
	static const char vsql[] = "INSERT INTO run_value(run_no, key, item,"
	    " field, type, val) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *st;
	int64_t no;
	size_t i;
	int rc, src;

	if ((rc = cat_prepare(c, import ? run_sql_import : run_sql_local, &st,
	    err)) != KL_OK)
		return rc;
	if ((src = run_bind(st, r)) != SQLITE_OK ||
	    (import && (src = sqlite3_bind_int64(st, 12, recv_s)) !=
	    SQLITE_OK))
		return cat_sqlerr(c, err, src, "run_add");
	if (((src = sqlite3_step(st)) & 0xff) == SQLITE_CONSTRAINT && !import)
		return cat_err(c, err, KL_E_EXISTS, "run_add: a run of this "
		    "id is recorded already");
	if (src != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "run_add");
	if (added != NULL)
		*added = sqlite3_changes(c->db) > 0;
	if (import && sqlite3_changes(c->db) == 0)
		return KL_OK;
	no = sqlite3_last_insert_rowid(c->db);
	for (i = 0; i < r->nv; i++) {
		if ((rc = cat_prepare(c, vsql, &st, err)) != KL_OK)
			return rc;
		if ((src = value_bind(st, no, &r->v[i])) != SQLITE_OK ||
		    (src = sqlite3_step(st)) != SQLITE_DONE)
			return cat_sqlerr(c, err, src, "run_add");
	}
	return KL_OK;
}

static int
run_valid(const struct kl_cat_run *r)
{
	size_t i;

	if (r == NULL || r->kind == NULL || r->host == NULL ||
	    (r->nv > 0 && r->v == NULL) || r->nv > RUN_VALUES_MAX)
		return 0;
	for (i = 0; i < r->nv; i++)
		if (!value_valid(&r->v[i]))
			return 0;
	return 1;
}

int
kl_cat_run_add(struct kl_cat *c, const struct kl_cat_run *r,
    struct kl_error *err)
{
	int rc;

	if (!run_valid(r))
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK)
		rc = cat_tx_end(c, run_insert(c, r, 0, 0, NULL, err), err);
	cat_unlock(c);
	return rc;
}

static int
run_file_note(struct kl_cat *c, const struct kl_id *file, int64_t recv_s,
    int ok, struct kl_error *err)
{
	static const char sql[] = "INSERT OR REPLACE INTO run_file(id, recv_s,"
	    " ok) VALUES(?1, ?2, ?3)";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = cat_bind_id(st, 1, file)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, recv_s)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 3, ok)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "run_import");
	return KL_OK;
}

int
kl_cat_run_import(struct kl_cat *c, const struct kl_id *file,
    int64_t recv_s, const struct kl_cat_run *r, struct kl_error *err)
{
	int rc, added = 0;

	if (file == NULL || (r != NULL && (!run_valid(r) ||
	    kl_runrec_id_is_zero(r->run_id))))
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_tx_begin(c, err)) == KL_OK) {
		rc = run_file_note(c, file, recv_s, r != NULL, err);
		if (rc == KL_OK && r != NULL)
			rc = run_insert(c, r, recv_s, 1, &added, err);
		rc = cat_tx_end(c, rc, err);
	}
	cat_unlock(c);
	return rc != KL_OK ? rc : added;
}

int
kl_cat_run_file_get(struct kl_cat *c, const struct kl_id *file, int *ok,
    struct kl_error *err)
{
	static const char sql[] = "SELECT ok FROM run_file WHERE id = ?1";
	sqlite3_stmt *st;
	int rc, src;

	*ok = 0;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, file)) != SQLITE_OK) {
		rc = cat_sqlerr(c, err, src, "run_file_get");
		goto out;
	}
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*ok = sqlite3_column_int(st, 0) != 0;
	else
		rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
		    cat_sqlerr(c, err, src, "run_file_get");
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_run_uploaded(struct kl_cat *c, int64_t no, struct kl_error *err)
{
	static const char sql[] = "UPDATE run SET uploaded = 1 WHERE"
	    " run_no = ?1";
	sqlite3_stmt *st;
	int rc, src;

	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) == KL_OK &&
	    ((src = sqlite3_bind_int64(st, 1, no)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE))
		rc = cat_sqlerr(c, err, src, "run_uploaded");
	cat_unlock(c);
	return rc;
}

/* The values of one run, read back: strings copied, freed by
 * values_clear. */
struct values {
	struct kl_run_value *v;
	size_t n, cap;
};

static void
values_clear(struct values *x)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		free((char *)x->v[i].key);
		free((char *)x->v[i].field);
		free((char *)x->v[i].s);
	}
	x->n = 0;
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const char *p = (const char *)sqlite3_column_text(st, i);

	return p != NULL ? strdup(p) : NULL;
}

/* One row of run_value into x; a row that no writer makes (an unknown
 * type, no key or no value, a field without an entry or an entry without
 * a field) is left out. */
static int
value_row(sqlite3_stmt *st, struct values *x)
{
	struct kl_run_value *v;
	int rc;

	if ((rc = KL_GROW(x->v, x->cap, x->n + 1)) != KL_OK)
		return rc;
	v = &x->v[x->n];
	memset(v, 0, sizeof(*v));
	v->type = sqlite3_column_int(st, 3);
	v->item = (uint32_t)sqlite3_column_int64(st, 1);
	if (v->type < KL_RUN_INT || v->type > KL_RUN_BOOL ||
	    sqlite3_column_type(st, 0) == SQLITE_NULL ||
	    sqlite3_column_type(st, 4) == SQLITE_NULL ||
	    (v->item == 0) != (sqlite3_column_type(st, 2) == SQLITE_NULL))
		return KL_OK;
	if ((v->key = col_dup(st, 0)) == NULL ||
	    (sqlite3_column_type(st, 2) != SQLITE_NULL &&
	    (v->field = col_dup(st, 2)) == NULL) ||
	    (v->type == KL_RUN_TEXT && (v->s = col_dup(st, 4)) == NULL)) {
		x->n++;		/* values_clear frees what was copied */
		return KL_E_NOMEM;
	}
	if (v->type == KL_RUN_REAL)
		v->r = sqlite3_column_double(st, 4);
	else
		v->i = sqlite3_column_int64(st, 4);
	x->n++;
	return KL_OK;
}

static int
values_get(struct kl_cat *c, int64_t run, struct values *x,
    struct kl_error *err)
{
	static const char sql[] = "SELECT key, item, field, type, val FROM"
	    " run_value WHERE run_no = ?1 ORDER BY rowid LIMIT ?2";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, run)) != SQLITE_OK ||
	    (src = sqlite3_bind_int(st, 2, RUN_VALUES_MAX)) != SQLITE_OK)
		return cat_sqlerr(c, err, src, "run_foreach");
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = value_row(st, x)) != KL_OK)
			return cat_err(c, err, rc, "run_foreach: %s",
			    kl_strerror(rc));
	return src == SQLITE_DONE ? KL_OK : cat_sqlerr(c, err, src,
	    "run_foreach");
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
	/* an id of another length is none: a doctored catalog */
	if (sqlite3_column_type(st, 11) == SQLITE_BLOB &&
	    sqlite3_column_bytes(st, 11) == KL_CAT_RUN_ID_LEN)
		memcpy(r->run_id, sqlite3_column_blob(st, 11),
		    KL_CAT_RUN_ID_LEN);
	r->origin = sqlite3_column_int(st, 12) == KL_CAT_RUN_IMPORTED ?
	    KL_CAT_RUN_IMPORTED : KL_CAT_RUN_LOCAL;
	r->recv_s = sqlite3_column_type(st, 13) == SQLITE_NULL ?
	    KL_CAT_TIME_NONE : sqlite3_column_int64(st, 13);
	return KL_OK;
}

#define RUN_COLS "SELECT run_no, kind, host, start_s, end_s, exit_code," \
    " snapshot, files, bytes, bytes_added, errors, run_id, origin, recv_s" \
    " FROM run"

/* Calls cb for every row of st (bound), with its values. */
static int
runs_walk(struct kl_cat *c, sqlite3_stmt *st,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err)
{
	struct values x = { NULL, 0, 0 };
	struct kl_cat_run r;
	int rc = KL_OK, src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		values_clear(&x);
		if ((rc = run_row_get(c, st, &r, err)) != KL_OK ||
		    (rc = values_get(c, r.no, &x, err)) != KL_OK)
			goto out;
		r.v = x.v;
		r.nv = x.n;
		if ((rc = cb(arg, &r)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = cat_sqlerr(c, err, src, "run_foreach");
out:
	values_clear(&x);
	free(x.v);
	return rc;
}

/*
 * The runs sql selects (RUN_COLS ...), in its order: with with_kind, ?1 is
 * kind (NULL: any) and ?2 is n; else ?1 is n.  what names the query in
 * errors.
 */
static int
runs_select(struct kl_cat *c, const char *sql, const char *what,
    int with_kind, const char *kind, int64_t n,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src = SQLITE_OK;

	if (cb == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if (with_kind)
		src = kind == NULL ? sqlite3_bind_null(st, 1) :
		    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (src == SQLITE_OK)
		src = sqlite3_bind_int64(st, with_kind ? 2 : 1, n);
	if (src != SQLITE_OK) {
		rc = cat_sqlerr(c, err, src, what);
		goto out;
	}
	rc = runs_walk(c, st, cb, arg, err);
out:
	cat_unlock(c);
	return rc;
}

int
kl_cat_run_foreach(struct kl_cat *c, const char *kind, int64_t since,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err)
{
	static const char sql[] = RUN_COLS " WHERE (?1 IS NULL OR kind = ?1)"
	    " AND start_s >= ?2 ORDER BY start_s, run_no";

	return runs_select(c, sql, "run_foreach", 1, kind, since, cb, arg,
	    err);
}

int
kl_cat_run_foreach_recent(struct kl_cat *c, int64_t imported_since,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err)
{
	static const char sql[] = RUN_COLS " WHERE origin = 0 OR start_s >= ?1"
	    " ORDER BY start_s, run_no";

	return runs_select(c, sql, "run_foreach", 0, NULL, imported_since, cb,
	    arg, err);
}

int
kl_cat_run_pending(struct kl_cat *c, size_t max,
    int (*cb)(void *arg, const struct kl_cat_run *r), void *arg,
    struct kl_error *err)
{
	static const char sql[] = RUN_COLS " WHERE uploaded = 0 AND origin = 0"
	    " AND run_id IS NOT NULL ORDER BY run_no LIMIT ?1";

	return runs_select(c, sql, "run_pending", 0, NULL, (int64_t)(max >
	    INT64_MAX ? INT64_MAX : max), cb, arg, err);
}
