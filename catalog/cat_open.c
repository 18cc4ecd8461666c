/*
 * Opening, checking, replacing and migrating the catalog database, and
 * closing it.
 *
 * The catalog is a cache (catalog.h): when the file is not sound it is
 * set aside and rebuilt rather than repaired.  "Sound" is what SQLite can
 * tell: the file opens as a database, PRAGMA quick_check passes and the
 * meta table names our repository and a schema we know.  SQLite keeps no
 * checksums of row contents, so a flipped bit inside a value goes
 * unnoticed here; the callers verify what they use (catalog.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "catalog_internal.h"

#define CAT_DIR_MODE 0700u

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

/* ---- opening ---- */

static int
is_damage(int src)
{
	return (src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB;
}

/* An error that means the file is damaged sets *verdict; others fail. */
static int
damage_or_fail(struct kl_cat *c, int src, const char *what, int *verdict,
    struct kl_error *err)
{
	if (!is_damage(src))
		return cat_sqlerr(c, err, src, what);
	*verdict = CAT_DAMAGED;
	cat_why(c, "%s: %s", what, sqlite3_errstr(src));
	return KL_OK;
}

static int
db_open(struct kl_cat *c, struct kl_error *err)
{
	int src;

	src = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		src = cat_sqlerr(c, err, src, "open");
		sqlite3_close_v2(c->db);
		c->db = NULL;
		return src;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, KL_CAT_BUSY_MS);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	if (c->path[0] != '\0' && sqlite3_db_readonly(c->db, "main") == 1)
		return cat_err(c, err, KL_E_DENIED, "the file is not writable");
	return KL_OK;
}

static void
db_close(struct kl_cat *c)
{
	cat_stmts_free(c);
	sqlite3_close_v2(c->db);
	c->db = NULL;
}

/* PRAGMA quick_check reads the whole file: about 0.2 s for 55 MB (1M
 * blobs), paid at every open. */
static int
quick_check(struct kl_cat *c, int *verdict, struct kl_error *err)
{
	const char *res;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, "PRAGMA quick_check(1)", &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(st)) != SQLITE_ROW)
		return damage_or_fail(c, src == SQLITE_DONE ? SQLITE_CORRUPT :
		    src, "quick_check", verdict, err);
	res = (const char *)sqlite3_column_text(st, 0);
	if (res == NULL || strcmp(res, "ok") != 0) {
		*verdict = CAT_DAMAGED;
		cat_why(c, "quick_check: %s", res != NULL ? res : "?");
	}
	return KL_OK;
}

/* Reads meta's schema (an integer) and repo_id; *found 0 if missing. */
static int
meta_get(struct kl_cat *c, int64_t *schema, struct kl_id *repo, int *found,
    struct kl_error *err)
{
	static const char sql[] = "SELECT (SELECT value FROM meta WHERE key ="
	    " 'schema'), (SELECT value FROM meta WHERE key = 'repo_id')";
	sqlite3_stmt *st;
	const char *hex;
	int rc, src;

	*found = 0;
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(st)) != SQLITE_ROW)
		return cat_sqlerr(c, err, src, "meta");
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
inspect_meta(struct kl_cat *c, const struct kl_id *repo_id, int *verdict,
    struct kl_error *err)
{
	static const char sql[] = "SELECT count(*), sum(name = 'meta') FROM"
	    " sqlite_schema WHERE type = 'table'";
	struct kl_id repo;
	sqlite3_stmt *st;
	int64_t schema = 0;
	int rc, src, found;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_step(st)) != SQLITE_ROW)
		return damage_or_fail(c, src, "tables", verdict, err);
	if (sqlite3_column_int64(st, 0) == 0) {
		*verdict = CAT_EMPTY;
		return KL_OK;
	}
	/* what is wrong with the file: *state, and kl_cat_replaced_why */
	*verdict = CAT_DAMAGED;
	if (sqlite3_column_int64(st, 1) != 1) {
		cat_why(c, "no meta table: not a kluis catalog");
		return KL_OK;
	}
	if ((rc = meta_get(c, &schema, &repo, &found, err)) != KL_OK) {
		if (!is_damage(sqlite3_errcode(c->db)))
			return rc;
		cat_why(c, "meta: %s", sqlite3_errmsg(c->db));
		return KL_OK;
	}
	if (!found || schema < 0) {
		cat_why(c, "meta lacks a valid schema or repository id");
		return KL_OK;
	}
	if (schema > KL_CAT_SCHEMA) {
		*verdict = CAT_NEWER;
		cat_why(c, "schema %lld is newer than this kluis (%d)",
		    (long long)schema, KL_CAT_SCHEMA);
	} else if (!kl_id_eq(&repo, repo_id)) {
		*verdict = CAT_FOREIGN;
		cat_why(c, "it belongs to another repository");
	} else
		*verdict = CAT_SOUND;
	return KL_OK;
}

static int
inspect(struct kl_cat *c, const struct kl_id *repo_id, int *verdict,
    struct kl_error *err)
{
	int rc, src;

	*verdict = CAT_SOUND;
	/* the first statement to read the file: garbage fails here */
	if ((src = sqlite3_exec(c->db, cat_pragmas, NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return damage_or_fail(c, src, "open", verdict, err);
	if ((rc = quick_check(c, verdict, err)) != KL_OK ||
	    *verdict != CAT_SOUND)
		return rc;
	return inspect_meta(c, repo_id, verdict, err);
}

/* Runs sql (any number of statements) outside the statement cache and
 * records an error; *src (may be NULL) gets SQLite's result code. */
static int
db_exec(struct kl_cat *c, const char *sql, const char *what, int *src,
    struct kl_error *err)
{
	int s;

	s = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	if (src != NULL)
		*src = s;
	return s == SQLITE_OK ? KL_OK : cat_sqlerr(c, err, s, what);
}

/* The meta table with schema 0: a new database, ready to migrate.
 * Idempotent, for two processes creating the catalog at once. */
static int
bootstrap(struct kl_cat *c, const struct kl_id *repo_id, struct kl_error *err)
{
	char hex[KL_ID_HEX_LEN + 1], sql[512];
	int n, rc;

	kl_id_hex(repo_id, hex);
	n = snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %s INSERT OR IGNORE"
	    " INTO meta VALUES('schema', 0); INSERT OR IGNORE INTO meta"
	    " VALUES('repo_id', '%s'); COMMIT;", cat_meta_sql, hex);
	if (n < 0 || (size_t)n >= sizeof(sql))
		abort();
	if ((rc = db_exec(c, sql, "create", NULL, err)) != KL_OK)
		cat_tx_rollback(c);
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
migrate_step(struct kl_cat *c, int64_t *v, int *damaged, struct kl_error *err)
{
	static const char upd[] = "UPDATE meta SET value = value + 1 WHERE"
	    " key = 'schema'";
	struct kl_id repo;
	int rc, src, found;

	if ((rc = db_exec(c, "BEGIN IMMEDIATE", "migrate", NULL, err)) != KL_OK)
		return rc;
	if ((rc = meta_get(c, v, &repo, &found, err)) != KL_OK)
		goto fail;
	if (!found || *v < 0) {
		*damaged = 1;
		rc = cat_err(c, err, KL_E_CORRUPT, "meta lost its schema");
		goto fail;
	}
	if (*v < KL_CAT_SCHEMA) {
		stmts_reset_all(c);
		rc = db_exec(c, cat_migrations[*v], "migrate", &src, err);
		if (rc == KL_OK)
			rc = db_exec(c, upd, "migrate", &src, err);
		/* a schema that does not take the migration is not the
		 * catalog its meta claims */
		if (rc != KL_OK) {
			*damaged = (src & 0xff) == SQLITE_ERROR ||
			    is_damage(src);
			goto fail;
		}
	}
	if ((rc = db_exec(c, "COMMIT", "migrate", NULL, err)) == KL_OK)
		return KL_OK;
fail:
	cat_tx_rollback(c);
	return rc;
}

/* Migrates schema by schema, one transaction each, up to KL_CAT_SCHEMA.
 * *damaged: the database does not take it (replace it). */
static int
migrate(struct kl_cat *c, int *damaged, struct kl_error *err)
{
	int64_t v = 0;
	int rc;

	*damaged = 0;
	do {
		if ((rc = migrate_step(c, &v, damaged, err)) != KL_OK)
			return rc;
	} while (v < KL_CAT_SCHEMA);
	return KL_OK;
}

static int
create(struct kl_cat *c, const struct kl_id *repo_id, int *damaged,
    struct kl_error *err)
{
	int rc;

	*damaged = 0;
	if ((rc = bootstrap(c, repo_id, err)) != KL_OK)
		return rc;
	return migrate(c, damaged, err);
}

static int
unlink_quiet(struct kl_cat *c, const char *path, struct kl_error *err)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return cat_err(c, err, kl_err_from_errno(errno), "cannot "
		    "remove %s: %s", path, strerror(errno));
	return KL_OK;
}

/*
 * Sets the file aside: a damaged one is kept as catalog.db.damaged for a
 * post-mortem, a foreign or newer one is removed.  seen is the file that
 * was inspected: if another process has replaced it already, that new
 * file is left alone.
 */
static int
replace(struct kl_cat *c, int verdict, const struct stat *seen,
    struct kl_error *err)
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
		return cat_err(c, err, kl_err_from_errno(errno), "cannot "
		    "rename it to %s: %s", aside, strerror(errno));
	if (verdict != CAT_DAMAGED && (rc = unlink_quiet(c, c->path, err)) != 0)
		return rc;
	snprintf(aside, sizeof(aside), "%s-wal", c->path);
	if ((rc = unlink_quiet(c, aside, err)) != KL_OK)
		return rc;
	snprintf(aside, sizeof(aside), "%s-shm", c->path);
	return unlink_quiet(c, aside, err);
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

/*
 * Opens and inspects the file; a sound one is migrated, an empty one
 * created.  *verdict says what was found.  Damage found on the way is no
 * failure (the file is replaced): what inspect, migrate and create
 * report goes to a local error, copied to err only for a failure.
 */
static int
open_once(struct kl_cat *c, const struct kl_id *repo_id, int *verdict,
    struct stat *seen, struct kl_error *err)
{
	struct kl_error e;
	int rc, damaged = 0;

	if ((rc = db_open(c, err)) != KL_OK)
		return rc;
	if (stat(c->path, seen) != 0)
		return cat_err(c, err, kl_err_from_errno(errno), "stat: %s",
		    strerror(errno));
	kl_error_clear(&e);
	if ((rc = inspect(c, repo_id, verdict, &e)) == KL_OK) {
		if (*verdict == CAT_SOUND)
			rc = migrate(c, &damaged, &e);
		else if (*verdict == CAT_EMPTY)
			rc = create(c, repo_id, &damaged, &e);
	}
	/* SQLite found damage anywhere on the way (KL_E_CORRUPT comes from
	 * SQLITE_CORRUPT and SQLITE_NOTADB only) */
	if (damaged || rc == KL_E_CORRUPT) {
		*verdict = CAT_DAMAGED;
		cat_why(c, "%s", kl_error_msg(&e, rc != KL_OK ? rc : e.code));
		return KL_OK;
	}
	if (rc != KL_OK && err != NULL && kl_error_isset(&e))
		*err = e;
	return rc;
}

static int
open_file(struct kl_cat *c, const char *dir, const struct kl_id *repo_id,
    int *state, struct kl_error *err)
{
	struct stat seen;
	int rc, n, verdict;

	n = snprintf(c->path, sizeof(c->path), "%s/%s", dir, KL_CAT_FILE);
	if (n < 0 || (size_t)n >= sizeof(c->path)) {
		c->path[0] = '\0';
		return KL_E_LIMIT;
	}
	if ((rc = kl_mkdir_p(dir, CAT_DIR_MODE)) != KL_OK)
		return cat_err(c, err, rc, "cannot create %s: %s", dir,
		    kl_strerror(rc));
	if ((rc = open_once(c, repo_id, &verdict, &seen, err)) != KL_OK)
		return rc;
	*state = state_of(verdict);
	if (verdict == CAT_SOUND || verdict == CAT_EMPTY)
		return KL_OK;
	if ((rc = replace(c, verdict, &seen, err)) != KL_OK)
		return rc;
	if ((rc = open_once(c, repo_id, &verdict, &seen, err)) != KL_OK)
		return rc;
	if (verdict != CAT_SOUND && verdict != CAT_EMPTY)
		return cat_err(c, err, KL_E_IO, "the new catalog is not sound "
		    "either; remove the directory %s", dir);
	return KL_OK;
}

static int
open_temporary(struct kl_cat *c, const struct kl_id *repo_id,
    struct kl_error *err)
{
	int rc, src, damaged;

	if ((rc = db_open(c, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_exec(c->db, cat_pragmas, NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return cat_sqlerr(c, err, src, "open");
	return create(c, repo_id, &damaged, err);
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
    struct kl_cat **out, int *state, struct kl_error *err)
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
		rc = open_temporary(c, repo_id, err);
	else
		rc = open_file(c, dir, repo_id, &st, err);
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
		cat_tx_rollback(c);
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
