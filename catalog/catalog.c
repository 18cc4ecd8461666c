/*
 * The plumbing the other files of the module share: the lock, the
 * statement cache, error mapping and transactions; and the calls on the
 * catalog as a whole: where it lives, its status, reset.  Opening and
 * closing it are in cat_open.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "catalog_internal.h"


/* ---- locations ---- */

static int
dir_fmt(char *out, size_t cap, const char *a, const char *b,
    const char *hex)
{
	int n;

	n = snprintf(out, cap, "%s%s%s", a, b, hex);
	if (n < 0 || (size_t)n >= cap) {
		out[0] = '\0';
		return KL_E_LIMIT;
	}
	return KL_OK;
}

int
kl_cat_dir_named(const char *name, char *out, size_t cap)
{
	const char *e;

	if (name == NULL || out == NULL || cap == 0)
		return KL_E_INVAL;
	out[0] = '\0';
	if ((e = getenv("KLUIS_CACHE_DIR")) != NULL && *e != '\0')
		return dir_fmt(out, cap, e, "/", name);
	if (geteuid() == 0)
		return dir_fmt(out, cap, "/var/cache/kluis", "/", name);
	/* the XDG spec: a relative XDG_CACHE_HOME is invalid, ignore it */
	if ((e = getenv("XDG_CACHE_HOME")) != NULL && *e == '/')
		return dir_fmt(out, cap, e, "/kluis/", name);
	if ((e = getenv("HOME")) != NULL && *e != '\0')
		return dir_fmt(out, cap, e, "/.cache/kluis/", name);
	return KL_E_NOTFOUND;
}

int
kl_cat_dir_default(const struct kl_id *repo_id, char *out, size_t cap)
{
	char hex[KL_ID_HEX_LEN + 1];

	if (repo_id == NULL || out == NULL || cap == 0)
		return KL_E_INVAL;
	kl_id_hex(repo_id, hex);
	return kl_cat_dir_named(hex, out, cap);
}

const char *
kl_cat_path(const struct kl_cat *c)
{
	return c->path;
}

const char *
kl_cat_replaced_why(const struct kl_cat *c)
{
	return c->replaced_why;
}

void
cat_why(struct kl_cat *c, const char *fmt, ...)
{
	va_list ap;

	if (c->replaced_why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->replaced_why, sizeof(c->replaced_why), fmt, ap);
	va_end(ap);
}

/* ---- errors ---- */

/* The sentence the handle used to keep, "catalog PATH: detail"; the path
 * goes in err->path too (none for a temporary catalog). */
int
cat_err(struct kl_cat *c, struct kl_error *err, int code, const char *fmt,
    ...)
{
	char detail[512];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return kl_error_obj(err, code, KL_ABOUT_CATALOG, NULL,
	    c->path[0] != '\0' ? c->path : NULL, "catalog %s: %s",
	    c->path[0] != '\0' ? c->path : "(temporary)", detail);
}

/*
 * SQLITE_BUSY / SQLITE_LOCKED come after KL_CAT_BUSY_MS of waiting for
 * another process.  They map to KL_E_IO, not KL_E_LOCKED: callers read
 * KL_E_LOCKED as "the repository is locked" and would send the operator
 * to the repository's locks; the message names the real cause instead.
 */
int
cat_sqlerr(struct kl_cat *c, struct kl_error *err, int src, const char *what)
{
	const char *msg, *hint = "";
	int code;

	switch (src & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = KL_E_CORRUPT;
		hint = " (the catalog is damaged: it is replaced when next "
		    "opened if SQLite's checks find it)";
		break;
	case SQLITE_FULL:
		code = KL_E_NOSPACE;
		break;
	case SQLITE_NOMEM:
		code = KL_E_NOMEM;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		code = KL_E_DENIED;
		break;
	case SQLITE_CANTOPEN:
		code = c->db != NULL && sqlite3_system_errno(c->db) != 0 ?
		    kl_err_from_errno(sqlite3_system_errno(c->db)) : KL_E_IO;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = KL_E_IO;
		hint = " (another kluis process kept the catalog busy for "
		    "60 s; try again when it has finished)";
		break;
	default:
		code = KL_E_IO;
		break;
	}
	if (c->db != NULL && (sqlite3_errcode(c->db) & 0xff) == (src & 0xff))
		msg = sqlite3_errmsg(c->db);
	else
		msg = sqlite3_errstr(src);
	return cat_err(c, err, code, "%s: %s%s", what, msg, hint);
}

/* ---- lock and statements ---- */

void
cat_lock(struct kl_cat *c)
{
	if (pthread_mutex_lock(&c->mu) != 0)
		abort();
	c->lock_depth++;
}

/* Resets the statements held at lock depth >= depth: a statement left
 * stepped would keep a read transaction (and an old snapshot) open. */
static void
stmts_release(struct kl_cat *c, int depth)
{
	size_t i;

	for (i = 0; i < c->nstmts; i++) {
		if (c->stmts[i].depth >= depth) {
			sqlite3_reset(c->stmts[i].st);
			c->stmts[i].depth = 0;
		}
	}
	while (c->ntmp > 0 && c->tmp[c->ntmp - 1].depth >= depth) {
		sqlite3_finalize(c->tmp[c->ntmp - 1].st);
		c->ntmp--;
	}
}

void
cat_unlock(struct kl_cat *c)
{
	if (c->lock_depth <= 0)
		abort();
	stmts_release(c, c->lock_depth);
	c->lock_depth--;
	pthread_mutex_unlock(&c->mu);
}

void
cat_stmts_free(struct kl_cat *c)
{
	size_t i;

	for (i = 0; i < c->nstmts; i++)
		sqlite3_finalize(c->stmts[i].st);
	for (i = 0; i < c->ntmp; i++)
		sqlite3_finalize(c->tmp[i].st);
	c->nstmts = c->ntmp = 0;
}

static int
stmt_room(struct cat_stmt **a, size_t n, size_t *cap)
{
	return kl_grow(a, cap, n + 1, sizeof(**a));
}

static struct cat_stmt *
stmt_find(struct kl_cat *c, const char *sql)
{
	size_t i;

	for (i = 0; i < c->nstmts; i++)
		if (c->stmts[i].sql == sql)
			return &c->stmts[i];
	return NULL;
}

int
cat_prepare(struct kl_cat *c, const char *sql, sqlite3_stmt **st,
    struct kl_error *err)
{
	struct cat_stmt *e, **a;
	size_t *n, *cap;
	sqlite3_stmt *s = NULL;
	int src;

	*st = NULL;
	e = stmt_find(c, sql);
	if (e != NULL && (e->depth == 0 || e->depth == c->lock_depth)) {
		sqlite3_reset(e->st);
		sqlite3_clear_bindings(e->st);
		e->depth = c->lock_depth;
		*st = e->st;
		return KL_OK;
	}
	/* not cached yet, or held by an outer call: a fresh one */
	a = e == NULL ? &c->stmts : &c->tmp;
	n = e == NULL ? &c->nstmts : &c->ntmp;
	cap = e == NULL ? &c->stmts_cap : &c->tmp_cap;
	if (stmt_room(a, *n, cap) != KL_OK)
		return cat_err(c, err, KL_E_NOMEM, "out of memory");
	src = sqlite3_prepare_v3(c->db, sql, -1,
	    e == NULL ? SQLITE_PREPARE_PERSISTENT : 0, &s, NULL);
	if (src != SQLITE_OK) {
		sqlite3_finalize(s);
		return cat_sqlerr(c, err, src, "prepare");
	}
	(*a)[*n].sql = sql;
	(*a)[*n].st = s;
	(*a)[*n].depth = c->lock_depth;
	(*n)++;
	*st = s;
	return KL_OK;
}

int
cat_exec(struct kl_cat *c, const char *sql, const char *what,
    struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		continue;
	if (src != SQLITE_DONE)
		return cat_sqlerr(c, err, src, what);
	return KL_OK;
}

int
cat_bind_id(sqlite3_stmt *st, int i, const struct kl_id *id)
{
	return sqlite3_bind_blob(st, i, id->b, KL_ID_LEN, SQLITE_STATIC);
}

int
cat_col_id(struct kl_cat *c, sqlite3_stmt *st, int i, struct kl_id *id,
    struct kl_error *err)
{
	const void *p;

	p = sqlite3_column_blob(st, i);
	if (p == NULL || sqlite3_column_bytes(st, i) != KL_ID_LEN)
		return cat_err(c, err, KL_E_CORRUPT,
		    "an id column holds %d bytes", sqlite3_column_bytes(st, i));
	memcpy(id->b, p, KL_ID_LEN);
	return KL_OK;
}

int
cat_col_text(struct kl_cat *c, sqlite3_stmt *st, int i, const char **s,
    struct kl_error *err)
{
	const char *p;

	p = (const char *)sqlite3_column_text(st, i);
	if (p == NULL && sqlite3_column_type(st, i) != SQLITE_NULL)
		return cat_err(c, err, KL_E_NOMEM, "out of memory");
	*s = p != NULL ? p : "";
	return KL_OK;
}

int
cat_id_exists(struct kl_cat *c, const char *sql, const struct kl_id *id,
    const char *what, struct kl_error *err)
{
	sqlite3_stmt *st;
	int rc, src;

	if (id == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, id)) == SQLITE_OK)
		src = sqlite3_step(st);
	rc = src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 :
	    cat_sqlerr(c, err, src, what);
out:
	cat_unlock(c);
	return rc;
}

/* ---- transactions ---- */

/* The transaction is over (committed or rolled back). */
static void
tx_closed(struct kl_cat *c)
{
	c->tx_depth = 0;
	c->pack_valid = 0;
}

void
cat_tx_rollback(struct kl_cat *c)
{
	if (c->db != NULL && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	tx_closed(c);
}

/* SQLite rolls a transaction back by itself after some errors (FULL,
 * IOERR, NOMEM, BUSY during a commit): then our count is stale. */
static int
tx_lost(struct kl_cat *c)
{
	if (c->tx_depth > 0 && sqlite3_get_autocommit(c->db)) {
		tx_closed(c);
		return 1;
	}
	return 0;
}

int
cat_tx_begin(struct kl_cat *c, struct kl_error *err)
{
	int rc;

	(void)tx_lost(c);
	if (c->tx_depth == 0)
		rc = cat_exec(c, "BEGIN IMMEDIATE", "begin", err);
	else
		rc = cat_exec(c, "SAVEPOINT cat_call", "savepoint", err);
	if (rc == KL_OK)
		c->tx_depth++;
	return rc;
}

int
cat_tx_end(struct kl_cat *c, int rc, struct kl_error *err)
{
	int r;

	if (tx_lost(c) || c->tx_depth == 0)
		return rc < 0 ? rc : cat_err(c, err, KL_E_IO,
		    "the transaction was rolled back by an earlier error");
	if (--c->tx_depth == 0) {
		if (rc >= 0 &&
		    (r = cat_exec(c, "COMMIT", "commit", err)) != KL_OK)
			rc = r;
		if (rc < 0)
			cat_tx_rollback(c);
		tx_closed(c);
		return rc;
	}
	if (rc < 0) {
		sqlite3_exec(c->db, "ROLLBACK TO cat_call", NULL, NULL, NULL);
		c->pack_valid = 0;
	}
	/* after a failure err keeps its detail, not the release's */
	r = cat_exec(c, "RELEASE cat_call", "release", rc < 0 ? NULL : err);
	if (tx_lost(c) && rc >= 0) {
		/* the release failed and took the transaction with it: its
		 * detail explains the KL_E_IO returned */
		if (err != NULL && r != KL_OK && err->code == r)
			err->code = KL_E_IO;
		rc = KL_E_IO;
	}
	return rc < 0 ? rc : r != KL_OK ? r : rc;
}

int
kl_cat_begin(struct kl_cat *c, struct kl_error *err)
{
	int rc = KL_OK;

	cat_lock(c);
	(void)tx_lost(c);
	if (c->tx_depth == 0)
		rc = cat_exec(c, "BEGIN IMMEDIATE", "begin", err);
	if (rc == KL_OK)
		c->tx_depth++;
	cat_unlock(c);
	return rc;
}

int
kl_cat_commit(struct kl_cat *c, struct kl_error *err)
{
	int rc = KL_OK;

	cat_lock(c);
	if (tx_lost(c))
		rc = cat_err(c, err, KL_E_IO,
		    "the transaction was rolled back by an earlier error");
	else if (c->tx_depth == 0)
		rc = cat_err(c, err, KL_E_INVAL, "commit without begin");
	else if (c->tx_depth > 1)
		c->tx_depth--;
	else if ((rc = cat_exec(c, "COMMIT", "commit", err)) == KL_OK)
		tx_closed(c);
	else
		cat_tx_rollback(c);
	cat_unlock(c);
	return rc;
}

void
kl_cat_abort(struct kl_cat *c)
{
	cat_lock(c);
	cat_tx_rollback(c);
	cat_unlock(c);
}

/* ---- operators ---- */

static uint64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int
status_counts(struct kl_cat *c, struct kl_cat_status *st, struct kl_error *err)
{
	static const char sql[] = "SELECT"
	    " (SELECT value FROM meta WHERE key = 'schema'),"
	    " (SELECT count(*) FROM index_file),"
	    " (SELECT count(*) FROM (SELECT DISTINCT id FROM loc)),"
	    " (SELECT count(*) FROM pack), (SELECT count(*) FROM snapshot),"
	    " (SELECT count(*) FROM snapshot WHERE vanished),"
	    " (SELECT count(*) FROM series),"
	    " (SELECT count(*) FROM snapshot WHERE NOT done AND NOT vanished),"
	    " (SELECT count(*) FROM path), (SELECT count(*) FROM version),"
	    " (SELECT count(*) FROM own_tree WHERE series_no > 0),"
	    " (SELECT count(*) FROM run),"
	    " (SELECT count(*) FROM snapshot WHERE done = 2 AND NOT vanished),"
	    " (SELECT count(*) FROM delta_sig)";
	uint64_t *v[] = { &st->index_files, &st->blobs, &st->packs,
	    &st->snapshots, &st->vanished, &st->series, &st->pending,
	    &st->paths, &st->versions, &st->own_trees, &st->runs,
	    &st->skipped, &st->signatures };
	sqlite3_stmt *s;
	size_t i;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &s, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(s)) != SQLITE_ROW)
		return cat_sqlerr(c, err, src, "status");
	st->schema = sqlite3_column_int(s, 0);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		*v[i] = (uint64_t)sqlite3_column_int64(s, (int)i + 1);
	return KL_OK;
}

int
kl_cat_status(struct kl_cat *c, struct kl_cat_status *st, struct kl_error *err)
{
	char wal[KL_CAT_PATH_MAX + 8];
	int rc;

	if (st == NULL)
		return KL_E_INVAL;
	memset(st, 0, sizeof(*st));
	cat_lock(c);
	if ((rc = status_counts(c, st, err)) == KL_OK && c->path[0] != '\0') {
		snprintf(wal, sizeof(wal), "%s-wal", c->path);
		st->file_bytes = file_size(c->path) + file_size(wal);
	}
	cat_unlock(c);
	return rc;
}

int
kl_cat_reset(struct kl_cat *c, struct kl_error *err)
{
	static const char *const sql[] = {
		"DELETE FROM index_file", "DELETE FROM loc",
		"DELETE FROM pack", "DELETE FROM withdrawn",
		"DELETE FROM pruned",
		"DELETE FROM version", "DELETE FROM path",
		"DELETE FROM snapshot", "DELETE FROM series",
		"DELETE FROM own_tree", "DELETE FROM own_parent",
	};
	size_t i;
	int rc;

	cat_lock(c);
	if (c->own_series != 0) {
		rc = cat_err(c, err, KL_E_INVAL, "reset while a backup is "
		    "being recorded");
		goto out;
	}
	if ((rc = cat_tx_begin(c, err)) != KL_OK)
		goto out;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == KL_OK; i++)
		rc = cat_exec(c, sql[i], "reset", err);
	rc = cat_tx_end(c, rc, err);
	c->pack_valid = 0;
out:
	cat_unlock(c);
	return rc;
}

const char *
kl_cat_sqlite_version(void)
{
	return sqlite3_libversion();
}
