/* Private to the catalog module (the .c files of catalog/). */
#ifndef KLUIS_CATALOG_INTERNAL_H
#define KLUIS_CATALOG_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <zstd.h>

#include "kluis/catalog.h"

/* A cached prepared statement; depth: the lock depth of the call that
 * holds it (0: free). */
struct cat_stmt {
	const char *sql;
	sqlite3_stmt *st;
	int depth;
};

/* A tree of the backup being recorded, compressed, not yet in the
 * database (cat_own.c batches them). */
struct cat_own_tree {
	struct kl_id id;
	void *z;
	size_t zlen;
};

struct kl_cat {
	sqlite3 *db;
	pthread_mutex_t mu;		/* serialises every public call;
					 * recursive: callbacks may call in */
	int lock_depth;			/* cat_lock nesting (holder only) */
	int tx_depth;			/* kl_cat_begin, cat_tx_begin nesting */
	int64_t own_series;		/* series being recorded, 0 if none */
	struct cat_own_tree *own_pend;	/* trees put, not yet written */
	size_t own_npend, own_pend_bytes;
	struct cat_stmt *stmts;		/* the statement cache */
	size_t nstmts, stmts_cap;
	struct cat_stmt *tmp;		/* uncached statements (re-entry) */
	size_t ntmp, tmp_cap;
	int pack_valid;			/* pack_id -> pack_no valid (only
					 * inside one write transaction) */
	struct kl_id pack_id;
	int64_t pack_no;
	int pack_orphan;		/* the cached pack's orphan flag */
	/* zstd contexts of the own-tree cache, kept: creating one per tree
	 * cost more than the compression.  zmu guards zc (used outside mu);
	 * zd is used with mu held. */
	pthread_mutex_t zmu;
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
	char path[KL_CAT_PATH_MAX];
	/* why kl_cat_open replaced the file it found ("" if it did not):
	 * written while the handle is opened, never after */
	char replaced_why[256];
};

/* Records why the file found at open is replaced (the first reason). */
void cat_why(struct kl_cat *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* schema.c: the bootstrap meta table and the migrations: cat_migrations[v]
 * takes schema v to v + 1 (cat_migrations[0] = cat_schema_sql, the DDL of
 * schema 1). */
extern const char cat_meta_sql[];
extern const char cat_schema_sql[];
extern const char *const cat_migrations[KL_CAT_SCHEMA];

/*
 * catalog.c helpers for the other files of the module (mutex held).  The
 * handle keeps no error text (it is shared by threads): a helper that can
 * fail fills the struct kl_error of the public call it serves (may be
 * NULL: the caller wants only the code, or the failure is tolerated).
 */
void cat_lock(struct kl_cat *c);
/* Also resets the statements prepared under this lock level. */
void cat_unlock(struct kl_cat *c);
/* Finalizes every prepared statement, cached or not (before closing db). */
void cat_stmts_free(struct kl_cat *c);
/* Maps a SQLite result code to kl_err and records "catalog PATH: what:
 * SQLite's message" in err; returns the kl_err. */
int cat_sqlerr(struct kl_cat *c, struct kl_error *err, int src,
    const char *what);
/* Records code with "catalog PATH: <fmt>" (PATH "(temporary)" for a
 * temporary catalog) in err, about KL_ABOUT_CATALOG; returns code. */
int cat_err(struct kl_cat *c, struct kl_error *err, int code,
    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Prepares sql (cached by the pointer's identity: pass string literals).
 * The statement is reset and its bindings cleared; it stays valid until
 * the cat_unlock of this call (which resets it).  A statement still held
 * by an outer call (a callback calling in) is prepared afresh.
 */
int cat_prepare(struct kl_cat *c, const char *sql, sqlite3_stmt **st,
    struct kl_error *err);
/* Prepares (cat_prepare) and runs sql to completion; what names it in
 * the error message. */
int cat_exec(struct kl_cat *c, const char *sql, const char *what,
    struct kl_error *err);
/* Binds a 32-byte id (SQLITE_STATIC: id must outlive the step); returns
 * SQLite's result code. */
int cat_bind_id(sqlite3_stmt *st, int i, const struct kl_id *id);
/* Runs sql (a string literal: the statement cache keys on it) with ?1 =
 * id: 1 if it yields a row, 0 if not, or an error; takes the lock. */
int cat_id_exists(struct kl_cat *c, const char *sql, const struct kl_id *id,
    const char *what, struct kl_error *err);
/* Reads a 32-byte id column: KL_E_CORRUPT if it is not one. */
int cat_col_id(struct kl_cat *c, sqlite3_stmt *st, int i, struct kl_id *id,
    struct kl_error *err);
/* A text column ("" for NULL): KL_E_NOMEM if SQLite could not convert. */
int cat_col_text(struct kl_cat *c, sqlite3_stmt *st, int i, const char **s,
    struct kl_error *err);
/* The series row of (host, paths), created if create; *no.  KL_E_NOTFOUND
 * if absent and !create. */
int cat_series_get(struct kl_cat *c, const char *host, char *const *paths,
    size_t npaths, int create, int64_t *no, struct kl_error *err);
/* Joins v[0..n) with '\n' into a malloc'd string. */
int cat_join(char *const *v, size_t n, char **out);
/*
 * Implicit transaction around one writing call: BEGIN IMMEDIATE when none
 * is open, else a savepoint.  cat_tx_end commits (rc >= 0) or rolls back
 * (rc < 0) what the call did, and returns rc or the commit's error.  With
 * rc < 0, err keeps the detail of rc (the callee's): a failure while
 * rolling back is not recorded over it.
 */
int cat_tx_begin(struct kl_cat *c, struct kl_error *err);
int cat_tx_end(struct kl_cat *c, int rc, struct kl_error *err);
/* Rolls the whole transaction back, if any (reports nothing). */
void cat_tx_rollback(struct kl_cat *c);
/* cat_versions.c: the path_no of "/" in the path table, and the length of
 * a version's content and meta identities (catalog.h "file versions"). */
#define CAT_ROOT_NO 1
#define CAT_IDENT_LEN 16
/* cat_versions.c, mutex held: the path_no of name (len bytes) in
 * directory parent; created if create, else KL_E_NOTFOUND when unknown. */
int cat_path_get(struct kl_cat *c, int64_t parent, const void *name,
    size_t len, int create, int64_t *no, struct kl_error *err);
/* cat_own.c: writes the trees put but not yet written. */
int cat_own_flush(struct kl_cat *c, struct kl_error *err);
/* cat_own.c: forgets the unwritten trees (no database access). */
void cat_own_drop(struct kl_cat *c);

#endif
