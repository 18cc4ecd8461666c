/*
 * Opening, checking, replacing and migrating the catalog database, and
 * the plumbing the other files of the module share: the lock, the
 * statement cache, error mapping and transactions.
 *
 * The catalog is a cache (catalog.h): when the file is not sound it is
 * set aside and rebuilt rather than repaired.  "Sound" is what SQLite can
 * tell: the file opens as a database, PRAGMA quick_check passes and the
 * meta table names our repository and a schema we know.  SQLite keeps no
 * checksums of row contents, so a flipped bit inside a value goes
 * unnoticed here; the callers verify what they use (catalog.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "catalog_internal.h"

#define CAT_DIR_MODE 0700u
#define CAT_STMTS_MIN 32

/* What inspect() found in an opened database. */
enum cat_verdict {
	CAT_SOUND,	/* ours, schema <= KL_CAT_SCHEMA (maybe to migrate) */
	CAT_EMPTY,	/* no table at all: a new database */
	CAT_DAMAGED,
	CAT_FOREIGN,
	CAT_NEWER,
};

static const char *const cat_pragmas =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"	/* WAL: fsync at checkpoints only */
    "PRAGMA foreign_keys=OFF;"
    "PRAGMA temp_store=MEMORY;"
    "PRAGMA cell_size_check=ON;"	/* damage is an error, not a crash */
    "PRAGMA cache_size=-16384;";	/* KiB: 16 MiB of page cache */

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
kl_cat_dir_default(const struct kl_id *repo_id, char *out, size_t cap)
{
	char hex[KL_ID_HEX_LEN + 1];
	const char *e;

	if (repo_id == NULL || out == NULL || cap == 0)
		return KL_E_INVAL;
	out[0] = '\0';
	kl_id_hex(repo_id, hex);
	if ((e = getenv("KLUIS_CACHE_DIR")) != NULL && *e != '\0')
		return dir_fmt(out, cap, e, "/", hex);
	if (geteuid() == 0)
		return dir_fmt(out, cap, "/var/cache/kluis", "/", hex);
	/* the XDG spec: a relative XDG_CACHE_HOME is invalid, ignore it */
	if ((e = getenv("XDG_CACHE_HOME")) != NULL && *e == '/')
		return dir_fmt(out, cap, e, "/kluis/", hex);
	if ((e = getenv("HOME")) != NULL && *e != '\0')
		return dir_fmt(out, cap, e, "/.cache/kluis/", hex);
	return KL_E_NOTFOUND;
}

const char *
kl_cat_path(const struct kl_cat *c)
{
	return c->path;
}

const char *
kl_cat_errmsg(struct kl_cat *c)
{
	return c->errmsg;
}

/* ---- errors ---- */

int
cat_err(struct kl_cat *c, int err, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(c->errmsg, sizeof(c->errmsg), "catalog %s: %s",
	    c->path[0] != '\0' ? c->path : "(temporary)", detail);
	return err;
}

/*
 * SQLITE_BUSY / SQLITE_LOCKED come after KL_CAT_BUSY_MS of waiting for
 * another process.  They map to KL_E_IO, not KL_E_LOCKED: callers read
 * KL_E_LOCKED as "the repository is locked" and would send the operator
 * to the repository's locks; the message names the real cause instead.
 */
int
cat_sqlerr(struct kl_cat *c, int src, const char *what)
{
	const char *msg, *hint = "";
	int err;

	switch (src & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		err = KL_E_CORRUPT;
		hint = " (the catalog is damaged: it is replaced when next "
		    "opened if SQLite's checks find it)";
		break;
	case SQLITE_FULL:
		err = KL_E_NOSPACE;
		break;
	case SQLITE_NOMEM:
		err = KL_E_NOMEM;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		err = KL_E_DENIED;
		break;
	case SQLITE_CANTOPEN:
		err = c->db != NULL && sqlite3_system_errno(c->db) != 0 ?
		    kl_err_from_errno(sqlite3_system_errno(c->db)) : KL_E_IO;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		err = KL_E_IO;
		hint = " (another kluis process kept the catalog busy for "
		    "60 s; try again when it has finished)";
		break;
	default:
		err = KL_E_IO;
		break;
	}
	if (c->db != NULL && (sqlite3_errcode(c->db) & 0xff) == (src & 0xff))
		msg = sqlite3_errmsg(c->db);
	else
		msg = sqlite3_errstr(src);
	return cat_err(c, err, "%s: %s%s", what, msg, hint);
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

static void
stmts_free(struct kl_cat *c)
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
	struct cat_stmt *p;
	size_t ncap;

	if (n < *cap)
		return KL_OK;
	ncap = *cap < CAT_STMTS_MIN ? CAT_STMTS_MIN : *cap * 2;
	if ((p = realloc(*a, ncap * sizeof(*p))) == NULL)
		return KL_E_NOMEM;
	*a = p;
	*cap = ncap;
	return KL_OK;
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
cat_prepare(struct kl_cat *c, const char *sql, sqlite3_stmt **st)
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
		return cat_err(c, KL_E_NOMEM, "out of memory");
	src = sqlite3_prepare_v3(c->db, sql, -1,
	    e == NULL ? SQLITE_PREPARE_PERSISTENT : 0, &s, NULL);
	if (src != SQLITE_OK) {
		sqlite3_finalize(s);
		return cat_sqlerr(c, src, "prepare");
	}
	(*a)[*n].sql = sql;
	(*a)[*n].st = s;
	(*a)[*n].depth = c->lock_depth;
	(*n)++;
	*st = s;
	return KL_OK;
}

int
cat_exec(struct kl_cat *c, const char *sql, const char *what)
{
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		continue;
	if (src != SQLITE_DONE)
		return cat_sqlerr(c, src, what);
	return KL_OK;
}

int
cat_bind_id(sqlite3_stmt *st, int i, const struct kl_id *id)
{
	return sqlite3_bind_blob(st, i, id->b, KL_ID_LEN, SQLITE_STATIC);
}

int
cat_col_id(struct kl_cat *c, sqlite3_stmt *st, int i, struct kl_id *id)
{
	const void *p;

	p = sqlite3_column_blob(st, i);
	if (p == NULL || sqlite3_column_bytes(st, i) != KL_ID_LEN)
		return cat_err(c, KL_E_CORRUPT, "an id column holds %d bytes",
		    sqlite3_column_bytes(st, i));
	memcpy(id->b, p, KL_ID_LEN);
	return KL_OK;
}

int
cat_col_text(struct kl_cat *c, sqlite3_stmt *st, int i, const char **s)
{
	const char *p;

	p = (const char *)sqlite3_column_text(st, i);
	if (p == NULL && sqlite3_column_type(st, i) != SQLITE_NULL)
		return cat_err(c, KL_E_NOMEM, "out of memory");
	*s = p != NULL ? p : "";
	return KL_OK;
}

/* ---- transactions ---- */

/* The transaction is over (committed or rolled back). */
static void
tx_closed(struct kl_cat *c)
{
	c->tx_depth = 0;
	c->pack_valid = 0;
}

/* Rolls the whole transaction back; keeps the error message. */
static void
tx_rollback(struct kl_cat *c)
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
cat_tx_begin(struct kl_cat *c)
{
	int rc;

	(void)tx_lost(c);
	if (c->tx_depth == 0)
		rc = cat_exec(c, "BEGIN IMMEDIATE", "begin");
	else
		rc = cat_exec(c, "SAVEPOINT cat_call", "savepoint");
	if (rc == KL_OK)
		c->tx_depth++;
	return rc;
}

int
cat_tx_end(struct kl_cat *c, int rc)
{
	int r;

	if (tx_lost(c) || c->tx_depth == 0)
		return rc < 0 ? rc : cat_err(c, KL_E_IO,
		    "the transaction was rolled back by an earlier error");
	if (--c->tx_depth == 0) {
		if (rc >= 0 && (r = cat_exec(c, "COMMIT", "commit")) != KL_OK)
			rc = r;
		if (rc < 0)
			tx_rollback(c);
		tx_closed(c);
		return rc;
	}
	if (rc < 0) {
		sqlite3_exec(c->db, "ROLLBACK TO cat_call", NULL, NULL, NULL);
		c->pack_valid = 0;
	}
	r = cat_exec(c, "RELEASE cat_call", "release");
	if (tx_lost(c) && rc >= 0)
		rc = KL_E_IO;
	return rc < 0 ? rc : r != KL_OK ? r : rc;
}

int
kl_cat_begin(struct kl_cat *c)
{
	int rc = KL_OK;

	cat_lock(c);
	(void)tx_lost(c);
	if (c->tx_depth == 0)
		rc = cat_exec(c, "BEGIN IMMEDIATE", "begin");
	if (rc == KL_OK)
		c->tx_depth++;
	cat_unlock(c);
	return rc;
}

int
kl_cat_commit(struct kl_cat *c)
{
	int rc = KL_OK;

	cat_lock(c);
	if (tx_lost(c))
		rc = cat_err(c, KL_E_IO,
		    "the transaction was rolled back by an earlier error");
	else if (c->tx_depth == 0)
		rc = cat_err(c, KL_E_INVAL, "commit without begin");
	else if (c->tx_depth > 1)
		c->tx_depth--;
	else if ((rc = cat_exec(c, "COMMIT", "commit")) == KL_OK)
		tx_closed(c);
	else
		tx_rollback(c);
	cat_unlock(c);
	return rc;
}

void
kl_cat_abort(struct kl_cat *c)
{
	cat_lock(c);
	tx_rollback(c);
	cat_unlock(c);
}

/* ---- opening ---- */

static int
is_damage(int src)
{
	return (src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB;
}

/* An error that means the file is damaged sets *verdict; others fail. */
static int
damage_or_fail(struct kl_cat *c, int src, const char *what, int *verdict)
{
	int rc;

	rc = cat_sqlerr(c, src, what);
	if (!is_damage(src))
		return rc;
	*verdict = CAT_DAMAGED;
	return KL_OK;
}

static int
db_open(struct kl_cat *c)
{
	int src;

	src = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		src = cat_sqlerr(c, src, "open");
		sqlite3_close_v2(c->db);
		c->db = NULL;
		return src;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, KL_CAT_BUSY_MS);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	if (c->path[0] != '\0' && sqlite3_db_readonly(c->db, "main") == 1)
		return cat_err(c, KL_E_DENIED, "the file is not writable");
	return KL_OK;
}

static void
db_close(struct kl_cat *c)
{
	stmts_free(c);
	sqlite3_close_v2(c->db);
	c->db = NULL;
}

/* PRAGMA quick_check reads the whole file: about 0.2 s for 55 MB (1M
 * blobs), paid at every open. */
static int
quick_check(struct kl_cat *c, int *verdict)
{
	const char *res;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, "PRAGMA quick_check(1)", &st)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(st)) != SQLITE_ROW)
		return damage_or_fail(c, src == SQLITE_DONE ? SQLITE_CORRUPT :
		    src, "quick_check", verdict);
	res = (const char *)sqlite3_column_text(st, 0);
	if (res != NULL && strcmp(res, "ok") == 0)
		return KL_OK;
	*verdict = CAT_DAMAGED;
	return cat_err(c, KL_OK, "quick_check: %s", res != NULL ? res : "?");
}

/* Reads meta's schema (an integer) and repo_id; *found 0 if missing. */
static int
meta_get(struct kl_cat *c, int64_t *schema, struct kl_id *repo, int *found)
{
	static const char sql[] = "SELECT (SELECT value FROM meta WHERE key ="
	    " 'schema'), (SELECT value FROM meta WHERE key = 'repo_id')";
	sqlite3_stmt *st;
	const char *hex;
	int rc, src;

	*found = 0;
	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(st)) != SQLITE_ROW)
		return cat_sqlerr(c, src, "meta");
	hex = (const char *)sqlite3_column_text(st, 1);
	if (sqlite3_column_type(st, 0) == SQLITE_INTEGER && hex != NULL &&
	    kl_id_parse(hex, repo) == KL_OK) {
		*schema = sqlite3_column_int64(st, 0);
		*found = 1;
	}
	return KL_OK;
}

/* What the opened database is (tables, meta); errors that mean damage
 * become CAT_DAMAGED. */
static int
inspect_meta(struct kl_cat *c, const struct kl_id *repo_id, int *verdict)
{
	static const char sql[] = "SELECT count(*), sum(name = 'meta') FROM"
	    " sqlite_schema WHERE type = 'table'";
	struct kl_id repo;
	sqlite3_stmt *st;
	int64_t schema = 0;
	int rc, src, found;

	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(st)) != SQLITE_ROW)
		return damage_or_fail(c, src, "tables", verdict);
	if (sqlite3_column_int64(st, 0) == 0) {
		*verdict = CAT_EMPTY;
		return KL_OK;
	}
	*verdict = CAT_DAMAGED;
	if (sqlite3_column_int64(st, 1) != 1)
		return cat_err(c, KL_OK, "no meta table: not a kluis catalog");
	if ((rc = meta_get(c, &schema, &repo, &found)) != KL_OK)
		return is_damage(sqlite3_errcode(c->db)) ? KL_OK : rc;
	if (!found || schema < 0)
		return cat_err(c, KL_OK, "meta lacks a valid schema or "
		    "repository id");
	if (schema > KL_CAT_SCHEMA) {
		*verdict = CAT_NEWER;
		return cat_err(c, KL_OK, "schema %lld is newer than this "
		    "kluis (%d)", (long long)schema, KL_CAT_SCHEMA);
	}
	if (!kl_id_eq(&repo, repo_id)) {
		*verdict = CAT_FOREIGN;
		return cat_err(c, KL_OK, "it belongs to another repository");
	}
	*verdict = CAT_SOUND;
	return KL_OK;
}

static int
inspect(struct kl_cat *c, const struct kl_id *repo_id, int *verdict)
{
	int rc, src;

	*verdict = CAT_SOUND;
	/* the first statement to read the file: garbage fails here */
	if ((src = sqlite3_exec(c->db, cat_pragmas, NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return damage_or_fail(c, src, "open", verdict);
	if ((rc = quick_check(c, verdict)) != KL_OK ||
	    *verdict != CAT_SOUND)
		return rc;
	return inspect_meta(c, repo_id, verdict);
}

/* Runs sql (any number of statements) outside the statement cache and
 * records an error; *src (may be NULL) gets SQLite's result code. */
static int
db_exec(struct kl_cat *c, const char *sql, const char *what, int *src)
{
	int s;

	s = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	if (src != NULL)
		*src = s;
	return s == SQLITE_OK ? KL_OK : cat_sqlerr(c, s, what);
}

/* The meta table with schema 0: a new database, ready to migrate.
 * Idempotent, for two processes creating the catalog at once. */
static int
bootstrap(struct kl_cat *c, const struct kl_id *repo_id)
{
	char hex[KL_ID_HEX_LEN + 1], sql[512];
	int n, rc;

	kl_id_hex(repo_id, hex);
	n = snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %s INSERT OR IGNORE"
	    " INTO meta VALUES('schema', 0); INSERT OR IGNORE INTO meta"
	    " VALUES('repo_id', '%s'); COMMIT;", cat_meta_sql, hex);
	if (n < 0 || (size_t)n >= sizeof(sql))
		abort();
	if ((rc = db_exec(c, sql, "create", NULL)) != KL_OK)
		tx_rollback(c);
	return rc;
}

/* No statement of this connection may be running while a migration
 * drops a table (SQLITE_LOCKED): the cached ones keep their last step. */
static void
stmts_reset_all(struct kl_cat *c)
{
	sqlite3_stmt *st = NULL;

	while ((st = sqlite3_next_stmt(c->db, st)) != NULL)
		sqlite3_reset(st);
}

/* One step of migration: schema v to v + 1 if still at v (another
 * process may have done it); *v gets the schema found. */
static int
migrate_step(struct kl_cat *c, int64_t *v, int *damaged)
{
	static const char upd[] = "UPDATE meta SET value = value + 1 WHERE"
	    " key = 'schema'";
	struct kl_id repo;
	int rc, src, found;

	if ((rc = db_exec(c, "BEGIN IMMEDIATE", "migrate", NULL)) != KL_OK)
		return rc;
	if ((rc = meta_get(c, v, &repo, &found)) != KL_OK)
		goto fail;
	if (!found || *v < 0) {
		*damaged = 1;
		rc = cat_err(c, KL_E_CORRUPT, "meta lost its schema");
		goto fail;
	}
	if (*v < KL_CAT_SCHEMA) {
		stmts_reset_all(c);
		rc = db_exec(c, cat_migrations[*v], "migrate", &src);
		if (rc == KL_OK)
			rc = db_exec(c, upd, "migrate", &src);
		/* a schema that does not take the migration is not the
		 * catalog its meta claims */
		if (rc != KL_OK) {
			*damaged = (src & 0xff) == SQLITE_ERROR ||
			    is_damage(src);
			goto fail;
		}
	}
	if ((rc = db_exec(c, "COMMIT", "migrate", NULL)) == KL_OK)
		return KL_OK;
fail:
	tx_rollback(c);
	return rc;
}

/* Migrates schema by schema, one transaction each, up to KL_CAT_SCHEMA.
 * *damaged: the database does not take it (replace it). */
static int
migrate(struct kl_cat *c, int *damaged)
{
	int64_t v = 0;
	int rc;

	*damaged = 0;
	do {
		if ((rc = migrate_step(c, &v, damaged)) != KL_OK)
			return rc;
	} while (v < KL_CAT_SCHEMA);
	return KL_OK;
}

static int
create(struct kl_cat *c, const struct kl_id *repo_id, int *damaged)
{
	int rc;

	*damaged = 0;
	if ((rc = bootstrap(c, repo_id)) != KL_OK)
		return rc;
	return migrate(c, damaged);
}

static int
unlink_quiet(struct kl_cat *c, const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return cat_err(c, kl_err_from_errno(errno), "cannot remove "
		    "%s: %s", path, strerror(errno));
	return KL_OK;
}

/*
 * Sets the file aside: a damaged one is kept as catalog.db.damaged for a
 * post-mortem, a foreign or newer one is removed.  seen is the file that
 * was inspected: if another process has replaced it already, that new
 * file is left alone.
 */
static int
replace(struct kl_cat *c, int verdict, const struct stat *seen)
{
	char aside[KL_CAT_PATH_MAX + 16];
	struct stat now;
	int rc;

	db_close(c);
	if (stat(c->path, &now) == 0 && (now.st_ino != seen->st_ino ||
	    now.st_dev != seen->st_dev))
		return KL_OK;
	snprintf(aside, sizeof(aside), "%s.damaged", c->path);
	if (verdict == CAT_DAMAGED && rename(c->path, aside) != 0 &&
	    errno != ENOENT)
		return cat_err(c, kl_err_from_errno(errno), "cannot rename "
		    "it to %s: %s", aside, strerror(errno));
	if (verdict != CAT_DAMAGED && (rc = unlink_quiet(c, c->path)) != 0)
		return rc;
	snprintf(aside, sizeof(aside), "%s-wal", c->path);
	if ((rc = unlink_quiet(c, aside)) != KL_OK)
		return rc;
	snprintf(aside, sizeof(aside), "%s-shm", c->path);
	return unlink_quiet(c, aside);
}

static int
state_of(int verdict)
{
	switch (verdict) {
	case CAT_DAMAGED:
		return KL_CAT_REPLACED_DAMAGED;
	case CAT_FOREIGN:
		return KL_CAT_REPLACED_FOREIGN;
	case CAT_NEWER:
		return KL_CAT_REPLACED_NEWER;
	case CAT_EMPTY:
		return KL_CAT_CREATED;
	default:
		return KL_CAT_OPENED;
	}
}

/* Opens and inspects the file; a sound one is migrated, an empty one
 * created.  *verdict says what was found. */
static int
open_once(struct kl_cat *c, const struct kl_id *repo_id, int *verdict,
    struct stat *seen)
{
	int rc, damaged = 0;

	if ((rc = db_open(c)) != KL_OK)
		return rc;
	if (stat(c->path, seen) != 0)
		return cat_err(c, kl_err_from_errno(errno), "stat: %s",
		    strerror(errno));
	if ((rc = inspect(c, repo_id, verdict)) == KL_OK) {
		if (*verdict == CAT_SOUND)
			rc = migrate(c, &damaged);
		else if (*verdict == CAT_EMPTY)
			rc = create(c, repo_id, &damaged);
	}
	/* SQLite found damage anywhere on the way (KL_E_CORRUPT comes from
	 * SQLITE_CORRUPT and SQLITE_NOTADB only) */
	if (damaged || rc == KL_E_CORRUPT) {
		*verdict = CAT_DAMAGED;
		return KL_OK;
	}
	return rc;
}

static int
open_file(struct kl_cat *c, const char *dir, const struct kl_id *repo_id,
    int *state)
{
	struct stat seen;
	int rc, n, verdict;

	n = snprintf(c->path, sizeof(c->path), "%s/%s", dir, KL_CAT_FILE);
	if (n < 0 || (size_t)n >= sizeof(c->path)) {
		c->path[0] = '\0';
		return KL_E_LIMIT;
	}
	if ((rc = kl_mkdir_p(dir, CAT_DIR_MODE)) != KL_OK)
		return cat_err(c, rc, "cannot create %s: %s", dir,
		    kl_strerror(rc));
	if ((rc = open_once(c, repo_id, &verdict, &seen)) != KL_OK)
		return rc;
	*state = state_of(verdict);
	if (verdict == CAT_SOUND || verdict == CAT_EMPTY)
		return KL_OK;
	if ((rc = replace(c, verdict, &seen)) != KL_OK)
		return rc;
	if ((rc = open_once(c, repo_id, &verdict, &seen)) != KL_OK)
		return rc;
	if (verdict != CAT_SOUND && verdict != CAT_EMPTY)
		return cat_err(c, KL_E_IO, "the new catalog is not sound "
		    "either; remove the directory %s", dir);
	return KL_OK;
}

static int
open_temporary(struct kl_cat *c, const struct kl_id *repo_id)
{
	int rc, src, damaged;

	if ((rc = db_open(c)) != KL_OK)
		return rc;
	if ((src = sqlite3_exec(c->db, cat_pragmas, NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return cat_sqlerr(c, src, "open");
	return create(c, repo_id, &damaged);
}

static int
cat_new(struct kl_cat **out)
{
	pthread_mutexattr_t a;
	struct kl_cat *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KL_E_NOMEM;
	if (pthread_mutexattr_init(&a) != 0) {
		free(c);
		return KL_E_NOMEM;
	}
	rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) == 0 &&
	    pthread_mutex_init(&c->mu, &a) == 0 ? KL_OK : KL_E_NOMEM;
	pthread_mutexattr_destroy(&a);
	if (rc != KL_OK) {
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->zmu, NULL);
	*out = c;
	return KL_OK;
}

int
kl_cat_open(const char *dir, const struct kl_id *repo_id,
    struct kl_cat **out, int *state)
{
	struct kl_cat *c = NULL;
	int rc, st = KL_CAT_TEMPORARY;

	if (state != NULL)
		*state = KL_CAT_OPENED;
	if (out != NULL)
		*out = NULL;
	if (out == NULL || repo_id == NULL)
		return KL_E_INVAL;
	if ((rc = cat_new(&c)) != KL_OK)
		return rc;
	cat_lock(c);
	if (dir == NULL)
		rc = open_temporary(c, repo_id);
	else
		rc = open_file(c, dir, repo_id, &st);
	cat_unlock(c);
	if (rc == KL_OK) {
		if (state != NULL)
			*state = st;
		*out = c;
		c = NULL;
	}
	kl_cat_close(c);
	return rc;
}

void
kl_cat_close(struct kl_cat *c)
{
	if (c == NULL)
		return;
	if (c->db != NULL) {
		kl_cat_own_abort(c);
		cat_lock(c);
		tx_rollback(c);
		if (c->path[0] != '\0')
			sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL,
			    NULL);
		cat_unlock(c);
		db_close(c);
	}
	cat_own_drop(c);
	free(c->stmts);
	free(c->tmp);
	ZSTD_freeCCtx(c->zc);
	ZSTD_freeDCtx(c->zd);
	pthread_mutex_destroy(&c->zmu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
cat_id_exists(struct kl_cat *c, const char *sql, const struct kl_id *id,
    const char *what)
{
	sqlite3_stmt *st;
	int rc, src;

	if (id == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if ((rc = cat_prepare(c, sql, &st)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, id)) == SQLITE_OK)
		src = sqlite3_step(st);
	rc = src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 :
	    cat_sqlerr(c, src, what);
out:
	cat_unlock(c);
	return rc;
}

/* ---- operators ---- */

static uint64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int
status_counts(struct kl_cat *c, struct kl_cat_status *st)
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
	    " (SELECT count(*) FROM snapshot WHERE done = 2 AND NOT vanished)";
	uint64_t *v[] = { &st->index_files, &st->blobs, &st->packs,
	    &st->snapshots, &st->vanished, &st->series, &st->pending,
	    &st->paths, &st->versions, &st->own_trees, &st->runs,
	    &st->skipped };
	sqlite3_stmt *s;
	size_t i;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &s)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(s)) != SQLITE_ROW)
		return cat_sqlerr(c, src, "status");
	st->schema = sqlite3_column_int(s, 0);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		*v[i] = (uint64_t)sqlite3_column_int64(s, (int)i + 1);
	return KL_OK;
}

int
kl_cat_status(struct kl_cat *c, struct kl_cat_status *st)
{
	char wal[KL_CAT_PATH_MAX + 8];
	int rc;

	if (st == NULL)
		return KL_E_INVAL;
	memset(st, 0, sizeof(*st));
	cat_lock(c);
	if ((rc = status_counts(c, st)) == KL_OK && c->path[0] != '\0') {
		snprintf(wal, sizeof(wal), "%s-wal", c->path);
		st->file_bytes = file_size(c->path) + file_size(wal);
	}
	cat_unlock(c);
	return rc;
}

int
kl_cat_reset(struct kl_cat *c)
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
		rc = cat_err(c, KL_E_INVAL, "reset while a backup is being "
		    "recorded");
		goto out;
	}
	if ((rc = cat_tx_begin(c)) != KL_OK)
		goto out;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == KL_OK; i++)
		rc = cat_exec(c, sql[i], "reset");
	rc = cat_tx_end(c, rc);
	c->pack_valid = 0;
out:
	cat_unlock(c);
	return rc;
}
