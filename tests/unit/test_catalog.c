/*
 * Unit tests of the client-side catalog (catalog/, catalog.h): opening,
 * soundness checks and replacement, migration, the blob index, snapshots,
 * own backups, runs, status and reset.  Versions and find are in
 * test_catalog_versions.c.
 *
 * Every test gets a fresh catalog in its own temporary directory.  Some
 * tests reach into the database with SQLite directly (through a second
 * connection, as another process would) to plant states the API cannot
 * produce: an old or newer schema, a damaged file, a doctored tree.
 *
 * "test_catalog --bench [N]" is a benchmark, not a test: it fills N blobs
 * (default 1 000 000) and reports insert and lookup times and how long
 * opening (PRAGMA quick_check) takes on the resulting file.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zstd.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"

/* snprintf into a PATH_MAX buffer that must not truncate. */
#define PATHF(out, ...) \
	assert_true(snprintf((out), PATH_MAX, __VA_ARGS__) < PATH_MAX)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define FILL_N 5000		/* blobs in a "real" database */
#define THREADS 4
#define THREAD_LOOKUPS 20000
#ifndef BENCH_TX
#define BENCH_TX 10000	/* blobs per transaction in the benchmark */
#endif

struct fx {
	char tmp[PATH_MAX];
	char dir[PATH_MAX];	/* the catalog directory (tmp/cat) */
	char db[PATH_MAX];	/* dir/catalog.db */
	struct kl_id repo;
	struct kl_cat *c;
};

/* --- helpers --- */

/* A well-spread id: the hash of (tag, n). */
static struct kl_id
mkid(uint32_t tag, uint32_t n)
{
	uint8_t in[8];
	struct kl_id id;

	kl_le32enc(in, tag);
	kl_le32enc(in + 4, n);
	kl_hash(in, sizeof(in), &id);
	return id;
}

static struct kl_blob_loc
mkloc(const struct kl_id *pack, uint8_t type, uint32_t off, uint32_t len)
{
	struct kl_blob_loc l;

	memset(&l, 0, sizeof(l));
	l.pack = *pack;
	l.type = type;
	l.offset = off;
	l.stored_len = len;
	l.raw_len = len - 40;
	return l;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

/* Opens f's catalog into *c, which must say want_state; err (may be NULL)
 * is cleared first and gets what the catalog says, such as why it
 * replaced the file. */
static void
cat_open_err(struct fx *f, struct kl_cat **c, int want_state,
    struct kl_error *err)
{
	int state = -1;

	kl_error_clear(err);
	assert_int_equal(kl_cat_open(f->dir, &f->repo, c, &state, err), KL_OK);
	assert_non_null(*c);
	assert_int_equal(state, want_state);
}

static void
cat_open_ok(struct fx *f, struct kl_cat **c, int want_state)
{
	cat_open_err(f, c, want_state, NULL);
}

static void
reopen_err(struct fx *f, int want_state, struct kl_error *err)
{
	kl_cat_close(f->c);
	f->c = NULL;
	cat_open_err(f, &f->c, want_state, err);
}

static void
reopen(struct fx *f, int want_state)
{
	reopen_err(f, want_state, NULL);
}

/*
 * Asserts that e is about the catalog file f->db: kind, path, and a
 * message "catalog <f->db>: <detail>" whose detail is not empty and
 * contains text.
 */
static void
assert_cat_about(const struct fx *f, const struct kl_error *e,
    const char *text)
{
	char head[PATH_MAX];
	size_t n;

	PATHF(head, "catalog %s: ", f->db);
	n = strlen(head);
	assert_int_equal(e->kind, KL_ABOUT_CATALOG);
	assert_string_equal(e->path, f->db);
	assert_int_equal(strncmp(e->msg, head, n), 0);
	assert_true(e->msg[n] != '\0');
	assert_non_null(strstr(e->msg + n, text));
}

/* Asserts that the catalog opened successfully - e records nothing - and
 * says why it replaced the file it found: text, and something. */
static void
assert_replaced_why(const struct kl_cat *c, const struct kl_error *e,
    const char *text)
{
	assert_false(kl_error_isset(e));
	assert_true(kl_cat_replaced_why(c)[0] != '\0');
	assert_non_null(strstr(kl_cat_replaced_why(c), text));
}

/* Asserts that e records the failure code of a call on f's catalog
 * (assert_cat_about). */
static void
assert_cat_error(const struct fx *f, const struct kl_error *e, int code,
    const char *text)
{
	assert_int_equal(e->code, code);
	assert_cat_about(f, e, text);
}

/* Runs sql on the catalog file through a connection of its own. */
static void
raw_exec(struct fx *f, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The single integer sql yields, through a connection of its own. */
static int64_t
raw_int(struct fx *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
write_file(const char *path, const void *p, size_t len)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, fp), len);
	fclose(fp);
}

/* Puts n data blobs (ids mkid(tag, i)), 64 per pack, in one transaction. */
static void
fill(struct kl_cat *c, uint32_t tag, uint32_t n)
{
	struct kl_blob_loc l;
	struct kl_id id, pack;
	uint32_t i;

	assert_int_equal(kl_cat_begin(c, NULL), KL_OK);
	for (i = 0; i < n; i++) {
		pack = mkid(tag + 1000, i / 64);
		l = mkloc(&pack, KL_BLOB_TYPE_DATA, 128 + (i % 64) * 100, 100);
		id = mkid(tag, i);
		assert_int_equal(kl_cat_blob_put(c, &id, &l, KL_TRUST_OWN, 0,
		    NULL), 1);
	}
	assert_int_equal(kl_cat_commit(c, NULL), KL_OK);
}

static void
put_blob(struct kl_cat *c, uint32_t tag, uint32_t n, const struct kl_id *pack,
    uint8_t type, uint32_t off, uint32_t len, int want)
{
	struct kl_blob_loc l = mkloc(pack, type, off, len);
	struct kl_id id = mkid(tag, n);

	assert_int_equal(kl_cat_blob_put(c, &id, &l, KL_TRUST_OWN, 0,
	    NULL), want);
}

static uint64_t
blob_count(struct kl_cat *c)
{
	uint64_t n = 0;

	assert_int_equal(kl_cat_blob_count(c, &n, NULL), KL_OK);
	return n;
}

static int
has_blob(struct kl_cat *c, uint32_t tag, uint32_t n)
{
	struct kl_id id = mkid(tag, n);
	int rc;

	rc = kl_cat_blob_get(c, &id, NULL, NULL, NULL);
	assert_true(rc == KL_OK || rc == KL_E_NOTFOUND);
	return rc == KL_OK;
}

static int
setup(void **state)
{
	struct fx *f;

	assert_non_null(f = calloc(1, sizeof(*f)));
	PATHF(f->tmp, "/tmp/kl-test-catalog.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	PATHF(f->dir, "%s/cat", f->tmp);
	PATHF(f->db, "%s/%s", f->dir, KL_CAT_FILE);
	memset(f->repo.b, 0xa1, sizeof(f->repo.b));
	cat_open_ok(f, &f->c, KL_CAT_CREATED);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kl_cat_close(f->c);
	nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* --- locations --- */

static void
test_dir_default_follows_environment(void **state)
{
	char out[PATH_MAX], want[PATH_MAX], hex[KL_ID_HEX_LEN + 1];
	struct kl_id id;

	memset(id.b, 0x5c, sizeof(id.b));
	kl_id_hex(&id, hex);
	setenv("KLUIS_CACHE_DIR", "/somewhere/cache", 1);
	setenv("XDG_CACHE_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(kl_cat_dir_default(&id, out, sizeof(out)), KL_OK);
	PATHF(want, "/somewhere/cache/%s", hex);
	assert_string_equal(out, want);
	assert_int_equal(kl_cat_dir_default(&id, out, 20), KL_E_LIMIT);
	assert_string_equal(out, "");

	unsetenv("KLUIS_CACHE_DIR");
	assert_int_equal(kl_cat_dir_default(&id, out, sizeof(out)), KL_OK);
	if (geteuid() == 0)
		PATHF(want, "/var/cache/kluis/%s", hex);
	else
		PATHF(want, "/xdg/kluis/%s", hex);
	assert_string_equal(out, want);
	if (geteuid() != 0) {
		setenv("XDG_CACHE_HOME", "relative", 1);
		assert_int_equal(kl_cat_dir_default(&id, out, sizeof(out)),
		    KL_OK);
		PATHF(want, "/home/u/.cache/kluis/%s", hex);
		assert_string_equal(out, want);
		unsetenv("XDG_CACHE_HOME");
		unsetenv("HOME");
		assert_int_equal(kl_cat_dir_default(&id, out, sizeof(out)),
		    KL_E_NOTFOUND);
	}
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
}

/* --- open, soundness, replacement, migration --- */

static void
test_open_creates_dirs_with_mode_0700(void **state)
{
	struct fx *f = *state;
	struct kl_cat *c = NULL;
	char dir[PATH_MAX], top[PATH_MAX];
	struct stat st;
	int state_ = -1;

	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	PATHF(top, "%s/a", f->tmp);
	PATHF(dir, "%s/a/b/c", f->tmp);
	assert_int_equal(kl_cat_open(dir, &f->repo, &c, &state_, NULL), KL_OK);
	assert_int_equal(state_, KL_CAT_CREATED);
	assert_int_equal(stat(top, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	kl_cat_close(c);
}

static void
test_reopen_keeps_contents(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	char want[PATH_MAX];

	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	PATHF(want, "%s", f->db);
	assert_string_equal(kl_cat_path(f->c), want);
	reopen(f, KL_CAT_OPENED);
	assert_true(has_blob(f->c, 1, 1));
	assert_true(exists(f->db));
}

static void
test_open_foreign_repository_is_replaced(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	struct kl_error e;

	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	f->repo.b[31] ^= 1;
	reopen_err(f, KL_CAT_REPLACED_FOREIGN, &e);
	assert_int_equal(blob_count(f->c), 0);
	assert_false(has_blob(f->c, 1, 1));
	/* why it was replaced */
	assert_replaced_why(f->c, &e, "another repository");
	/* the replacement is ours now */
	reopen(f, KL_CAT_OPENED);
	assert_string_equal(kl_cat_replaced_why(f->c), "");
}

/* err (may be NULL): as for cat_open_err. */
static void
open_over(struct fx *f, const void *content, size_t len, int want_state,
    struct kl_error *err)
{
	char aside[PATH_MAX];

	kl_cat_close(f->c);
	f->c = NULL;
	write_file(f->db, content, len);
	cat_open_err(f, &f->c, want_state, err);
	PATHF(aside, "%s.damaged", f->db);
	assert_true(exists(aside));
}

static void
test_open_garbage_file_is_replaced_as_damaged(void **state)
{
	static const char junk[] = "this is not an SQLite database at all, "
	    "just some text that is long enough to have a header's size....."
	    "................................................................";
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	char aside[PATH_MAX];
	struct kl_error e;
	struct stat st;

	open_over(f, junk, sizeof(junk), KL_CAT_REPLACED_DAMAGED, &e);
	PATHF(aside, "%s.damaged", f->db);
	assert_int_equal(stat(aside, &st), 0);
	assert_int_equal(st.st_size, sizeof(junk));
	assert_replaced_why(f->c, &e, "");
	/* the new one works */
	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	reopen(f, KL_CAT_OPENED);
	assert_true(has_blob(f->c, 1, 1));
}

/* The bytes of the catalog file after FILL_N blobs (closed, so the WAL
 * has been checkpointed into it). */
static uint8_t *
filled_file(struct fx *f, size_t *len)
{
	struct stat st;
	uint8_t *p;
	FILE *fp;

	fill(f->c, 1, FILL_N);
	kl_cat_close(f->c);
	f->c = NULL;
	assert_int_equal(stat(f->db, &st), 0);
	assert_true(st.st_size > 64 * 1024);
	*len = (size_t)st.st_size;
	assert_non_null(p = malloc(*len));
	assert_non_null(fp = fopen(f->db, "rb"));
	assert_int_equal(fread(p, 1, *len, fp), *len);
	fclose(fp);
	return p;
}

static void
test_open_truncated_file_is_replaced_as_damaged(void **state)
{
	struct fx *f = *state;
	size_t len;
	uint8_t *p;

	p = filled_file(f, &len);
	open_over(f, p, len / 2, KL_CAT_REPLACED_DAMAGED, NULL);
	assert_int_equal(blob_count(f->c), 0);
	free(p);
}

/*
 * A flipped byte in the middle of the file, where SQLite can see it: the
 * page-type byte of a b-tree page.  (SQLite has no checksums: a flip
 * inside a stored value is invisible to quick_check; see catalog.c.)
 */
static void
test_open_flipped_page_byte_is_replaced_as_damaged(void **state)
{
	struct fx *f = *state;
	size_t len, psz, pg, off = 0;
	struct kl_error e;
	uint8_t *p;

	p = filled_file(f, &len);
	psz = (size_t)p[16] << 8 | p[17];
	if (psz == 1)
		psz = 65536;
	for (pg = len / psz / 2; pg < len / psz; pg++) {
		off = pg * psz;
		if (p[off] == 2 || p[off] == 5 || p[off] == 10 || p[off] == 13)
			break;
	}
	assert_true(pg < len / psz);
	p[off] ^= 0xff;
	open_over(f, p, len, KL_CAT_REPLACED_DAMAGED, &e);
	assert_replaced_why(f->c, &e, "quick_check");
	assert_int_equal(blob_count(f->c), 0);
	free(p);
}

/* Damage where SQLite reads the schema (page 1's b-tree header). */
static void
test_open_damaged_schema_page_is_replaced_as_damaged(void **state)
{
	struct fx *f = *state;
	size_t len;
	uint8_t *p;

	p = filled_file(f, &len);
	assert_true(p[100] == 5 || p[100] == 13);
	p[100] ^= 0xff;
	open_over(f, p, len, KL_CAT_REPLACED_DAMAGED, NULL);
	assert_int_equal(blob_count(f->c), 0);
	free(p);
}

static void
test_open_newer_schema_is_replaced(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;

	kl_cat_close(f->c);
	f->c = NULL;
	raw_exec(f, "UPDATE meta SET value = 99 WHERE key = 'schema'");
	cat_open_ok(f, &f->c, KL_CAT_REPLACED_NEWER);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	assert_int_equal(raw_int(f, "SELECT value FROM meta WHERE key ="
	    " 'schema'"), KL_CAT_SCHEMA);
}

static void
test_open_meta_without_repo_id_is_damaged(void **state)
{
	struct fx *f = *state;

	kl_cat_close(f->c);
	f->c = NULL;
	raw_exec(f, "DELETE FROM meta WHERE key = 'repo_id'");
	cat_open_ok(f, &f->c, KL_CAT_REPLACED_DAMAGED);
}

static void
test_open_other_sqlite_database_is_damaged(void **state)
{
	struct fx *f = *state;
	struct kl_error e;

	kl_cat_close(f->c);
	f->c = NULL;
	assert_int_equal(unlink(f->db), 0);
	raw_exec(f, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
	cat_open_err(f, &f->c, KL_CAT_REPLACED_DAMAGED, &e);
	assert_replaced_why(f->c, &e, "meta");
}

static void
test_open_empty_file_is_created(void **state)
{
	struct fx *f = *state;

	kl_cat_close(f->c);
	f->c = NULL;
	write_file(f->db, "", 0);
	cat_open_ok(f, &f->c, KL_CAT_CREATED);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_schema WHERE"
	    " name = 'loc'"), 1);
}

/* A schema-0 database (meta only) goes through migration 0 -> 1 in place:
 * it keeps its meta and gets every table. */
static void
test_open_schema0_is_migrated(void **state)
{
	static const char *const drop =
	    "DROP TABLE index_file; DROP TABLE pack; DROP TABLE loc;"
	    "DROP TABLE series; DROP TABLE snapshot; DROP TABLE path;"
	    "DROP TABLE version; DROP TABLE own_parent; DROP TABLE own_tree;"
	    "DROP TABLE run; DROP TABLE pack_check; DROP TABLE withdrawn;"
	    "DROP TABLE own_index; DROP TABLE own_pack; DROP TABLE retired;"
	    "DROP TABLE pruned; DROP TABLE run_value; DROP TABLE delta_sig;"
	    "DROP TABLE run_file;"
	    "UPDATE meta SET value = 0 WHERE key = 'schema';"
	    "INSERT INTO meta VALUES('kept', 'yes');";
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	struct kl_cat_status st;

	kl_cat_close(f->c);
	f->c = NULL;
	raw_exec(f, drop);
	cat_open_ok(f, &f->c, KL_CAT_OPENED);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM meta WHERE key ="
	    " 'kept'"), 1);
	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	assert_true(has_blob(f->c, 1, 1));
}

/* Turns the (closed) catalog into schema 3's shape: one location per
 * blob in table blob, no trust, withdrawals or own index files. */
static void
to_schema3(struct fx *f)
{
	raw_exec(f, "DROP TABLE run_file; DROP INDEX run_by_id; DROP INDEX run_to_upload;"
	    "ALTER TABLE run DROP COLUMN run_id; ALTER TABLE run DROP COLUMN"
	    " origin; ALTER TABLE run DROP COLUMN recv_s;"
	    "ALTER TABLE run DROP COLUMN uploaded;"
	    "DROP TABLE loc; DROP TABLE withdrawn;"
	    "DROP TABLE own_index; DROP TABLE own_pack; DROP TABLE retired;"
	    "DROP TABLE pruned; DROP TABLE delta_sig;"
	    "DROP TABLE run_value; ALTER TABLE run ADD COLUMN detail TEXT;"
	    "DROP TABLE index_file;"
	    "CREATE TABLE index_file(id BLOB PRIMARY KEY) WITHOUT ROWID;"
	    "DROP TABLE pack;"
	    "CREATE TABLE pack(pack_no INTEGER PRIMARY KEY, id BLOB NOT NULL"
	    " UNIQUE, tree_lo INTEGER NOT NULL, tree_hi INTEGER NOT NULL,"
	    " orphan INTEGER NOT NULL DEFAULT 0);"
	    "CREATE TABLE blob(id BLOB PRIMARY KEY, pack_no INTEGER NOT NULL,"
	    " type INTEGER NOT NULL, off INTEGER NOT NULL,"
	    " stored_len INTEGER NOT NULL, raw_len INTEGER NOT NULL)"
	    " WITHOUT ROWID;"
	    "INSERT INTO pack VALUES(1, zeroblob(32), 0, 0, 0);"
	    "INSERT INTO blob VALUES(zeroblob(32), 1, 1, 128, 100, 60);"
	    "INSERT INTO index_file VALUES(zeroblob(32));"
	    "INSERT INTO own_parent VALUES(1, zeroblob(32), zeroblob(32), 1);"
	    "UPDATE meta SET value = 3 WHERE key = 'schema';");
}

/*
 * A schema-3 catalog is migrated to 4 in place: the blob index (one
 * location per blob, first seen wins) is dropped to be reloaded with
 * every location and its trust; what cannot be reloaded stays, and own
 * parents are no longer "intact".
 */
static void
test_open_schema3_is_migrated_dropping_the_blob_index(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;

	kl_cat_close(f->c);
	f->c = NULL;
	to_schema3(f);
	cat_open_ok(f, &f->c, KL_CAT_OPENED);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(st.index_files, 0);
	assert_int_equal(st.packs, 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM own_parent WHERE"
	    " intact = 0"), 1);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_schema"
	    " WHERE name = 'blob'"), 0);
}

/* A schema-1 catalog (before data verification records) is migrated
 * through 2, 3 and 4 in place: the new tables appear. */
static void
test_open_schema1_is_migrated_keeping_data(void **state)
{
	struct fx *f = *state;
	struct kl_id p2 = mkid(8, 8);
	struct kl_cat_status st;

	kl_cat_close(f->c);
	f->c = NULL;
	to_schema3(f);
	raw_exec(f, "DROP TABLE pack_check;"
	    "CREATE TABLE op(series_no INTEGER PRIMARY KEY, snap BLOB NOT NULL,"
	    " root BLOB NOT NULL); INSERT INTO op SELECT series_no, snap, root"
	    " FROM own_parent; DROP TABLE own_parent;"
	    "ALTER TABLE op RENAME TO own_parent;"
	    "UPDATE meta SET value = 1 WHERE key = 'schema';");
	cat_open_ok(f, &f->c, KL_CAT_OPENED);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM own_parent"), 1);
	assert_int_equal(kl_cat_pack_checked(f->c, &p2, 1700000000, 1,
	    NULL), KL_OK);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM pack_check"), 1);
}

/* A migration the database does not take (a table of the new schema is
 * already there) means it is not what its meta says: replaced. */
static void
test_open_failed_migration_is_damaged(void **state)
{
	struct fx *f = *state;

	kl_cat_close(f->c);
	f->c = NULL;
	raw_exec(f, "DROP TABLE run; UPDATE meta SET value = 0"
	    " WHERE key = 'schema';");
	cat_open_ok(f, &f->c, KL_CAT_REPLACED_DAMAGED);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_schema WHERE"
	    " name = 'run'"), 1);
}

static void
test_open_unusable_dir_fails_without_handle(void **state)
{
	struct fx *f = *state;
	struct kl_cat *c = NULL;
	char dir[PATH_MAX], longdir[KL_CAT_PATH_MAX + 16];
	struct kl_error e;
	int rc;

	/* *out is set only on success: there is no handle to close */
	PATHF(dir, "%s/plain-file", f->tmp);
	write_file(dir, "x", 1);
	kl_error_clear(&e);
	rc = kl_cat_open(dir, &f->repo, &c, NULL, &e);
	assert_int_not_equal(rc, KL_OK);
	assert_null(c);
	assert_int_equal(e.code, rc);
	assert_int_equal(e.kind, KL_ABOUT_CATALOG);
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(kl_cat_open(longdir, &f->repo, &c, NULL, NULL),
	    KL_E_LIMIT);
	assert_null(c);
	assert_int_equal(kl_cat_open(f->dir, NULL, &c, NULL, NULL), KL_E_INVAL);
	assert_null(c);
}

static void
test_temporary_catalog_works(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	struct kl_cat_status st;
	struct kl_cat *c = NULL;
	int s = -1;

	assert_int_equal(kl_cat_open(NULL, &f->repo, &c, &s, NULL), KL_OK);
	assert_int_equal(s, KL_CAT_TEMPORARY);
	assert_string_equal(kl_cat_path(c), "");
	put_blob(c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	assert_true(has_blob(c, 1, 1));
	assert_int_equal(kl_cat_status(c, &st, NULL), KL_OK);
	assert_int_equal(st.blobs, 1);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	kl_cat_close(c);
}

static void
test_two_handles_on_one_file_see_each_other(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	struct kl_cat *b = NULL;

	cat_open_ok(f, &b, KL_CAT_OPENED);
	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	assert_true(has_blob(b, 1, 1));
	/* b's read of blob 1 must not pin its snapshot: blob 2 is seen */
	put_blob(f->c, 1, 2, &pack, KL_BLOB_TYPE_DATA, 228, 100, 1);
	assert_int_equal(blob_count(b), 2);
	put_blob(b, 1, 3, &pack, KL_BLOB_TYPE_DATA, 328, 100, 1);
	assert_true(has_blob(f->c, 1, 3));
	put_blob(b, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 0);
	kl_cat_close(b);
}

/* --- transactions --- */

static void
test_abort_rolls_back_and_commit_without_begin_is_inval(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	struct kl_error e;

	assert_int_equal(kl_cat_begin(f->c, NULL), KL_OK);
	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	kl_cat_abort(f->c);
	assert_false(has_blob(f->c, 1, 1));
	kl_error_clear(&e);
	assert_int_equal(kl_cat_commit(f->c, &e), KL_E_INVAL);
	assert_cat_error(f, &e, KL_E_INVAL, "");
}

static void
test_nested_begin_commits_at_outermost(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9);
	struct kl_cat *b = NULL;

	cat_open_ok(f, &b, KL_CAT_OPENED);
	assert_int_equal(kl_cat_begin(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_begin(f->c, NULL), KL_OK);
	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	assert_int_equal(kl_cat_commit(f->c, NULL), KL_OK);
	assert_false(has_blob(b, 1, 1));	/* not committed yet */
	assert_int_equal(kl_cat_commit(f->c, NULL), KL_OK);
	assert_true(has_blob(b, 1, 1));
	kl_cat_close(b);
}

/* The remembered pack row must not outlive a rolled-back transaction. */
static void
test_pack_row_after_abort_is_recreated(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 9), id = mkid(1, 2);
	struct kl_blob_loc l;

	assert_int_equal(kl_cat_begin(f->c, NULL), KL_OK);
	put_blob(f->c, 1, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	kl_cat_abort(f->c);
	assert_int_equal(kl_cat_begin(f->c, NULL), KL_OK);
	put_blob(f->c, 1, 2, &pack, KL_BLOB_TYPE_DATA, 228, 100, 1);
	assert_int_equal(kl_cat_commit(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_blob_get(f->c, &id, &l, NULL, NULL), KL_OK);
	assert_memory_equal(l.pack.b, pack.b, KL_ID_LEN);
}

/* --- blob index --- */

static void
test_blob_put_get_round_trip_every_location_kept(void **state)
{
	struct fx *f = *state;
	struct kl_id p1 = mkid(9, 1), p2 = mkid(9, 2), id = mkid(1, 1);
	struct kl_blob_loc l;
	size_t n = 0;

	put_blob(f->c, 1, 1, &p1, KL_BLOB_TYPE_TREE, 4000, 300, 1);
	put_blob(f->c, 1, 1, &p2, KL_BLOB_TYPE_DATA, 128, 50, 1);
	put_blob(f->c, 1, 1, &p2, KL_BLOB_TYPE_DATA, 128, 50, 0);
	/* the same place with another length is another location */
	put_blob(f->c, 1, 1, &p2, KL_BLOB_TYPE_DATA, 128, 60, 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kl_cat_blob_get(f->c, &id, &l, &n, NULL), KL_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(l.pack.b, p1.b, KL_ID_LEN);
	assert_int_equal(l.type, KL_BLOB_TYPE_TREE);
	assert_int_equal(l.offset, 4000);
	assert_int_equal(l.stored_len, 300);
	assert_int_equal(l.raw_len, 260);
	id = mkid(1, 2);
	assert_int_equal(kl_cat_blob_get(f->c, &id, &l, &n,
	    NULL), KL_E_NOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(blob_count(f->c), 1);
}

/*
 * Locations come best first by trust, then receive time - never by which
 * index file was loaded first - and only ATTESTED and OWN ones count for
 * deduplication.  A known location keeps its best trust.
 */
static void
test_blob_locations_ordered_by_trust_and_time(void **state)
{
	struct fx *f = *state;
	struct kl_id p1 = mkid(9, 1), p2 = mkid(9, 2), p3 = mkid(9, 3);
	struct kl_id id = mkid(1, 1);
	struct kl_blob_loc a = mkloc(&p1, KL_BLOB_TYPE_DATA, 128, 100);
	struct kl_blob_loc b = mkloc(&p2, KL_BLOB_TYPE_DATA, 128, 100);
	struct kl_blob_loc c = mkloc(&p3, KL_BLOB_TYPE_DATA, 128, 100);
	struct kl_cat_loc *l;
	size_t n;

	assert_int_equal(kl_cat_blob_put(f->c, &id, &a, KL_TRUST_CLAIMED,
	    300, NULL), 1);
	assert_int_equal(kl_cat_blob_put(f->c, &id, &b, KL_TRUST_CLAIMED,
	    100, NULL), 1);
	assert_int_equal(kl_cat_blob_trusted(f->c, &id, NULL), 0);
	assert_int_equal(kl_cat_blob_locs(f->c, &id, &l, &n, NULL), KL_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(l[0].loc.pack.b, p2.b, KL_ID_LEN);	/* older */
	assert_int_equal(l[0].trust, KL_TRUST_CLAIMED);
	free(l);
	assert_int_equal(kl_cat_blob_put(f->c, &id, &c, KL_TRUST_OWN, 900,
	    NULL), 1);
	assert_int_equal(kl_cat_blob_trusted(f->c, &id, NULL), 1);
	/* a signed file names a's place: the same location, now attested */
	assert_int_equal(kl_cat_blob_put(f->c, &id, &a, KL_TRUST_ATTESTED,
	    500, NULL), 0);
	assert_int_equal(kl_cat_blob_locs(f->c, &id, &l, &n, NULL), KL_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(l[0].loc.pack.b, p1.b, KL_ID_LEN);
	assert_int_equal(l[0].trust, KL_TRUST_ATTESTED);
	assert_memory_equal(l[1].loc.pack.b, p3.b, KL_ID_LEN);
	assert_memory_equal(l[2].loc.pack.b, p2.b, KL_ID_LEN);
	free(l);
	assert_int_equal(kl_cat_blob_put(f->c, &id, &a, 3, 0,
	    NULL), KL_E_INVAL);
}

/* A pack's own header removes the CLAIMED locations in that pack it
 * does not list, never the others; an unreadable header is marked. */
static void
test_pack_confirm_drops_what_the_header_denies(void **state)
{
	struct fx *f = *state;
	struct kl_id p = mkid(9, 1), x = mkid(1, 1), y = mkid(1, 2);
	struct kl_blob_loc good = mkloc(&p, KL_BLOB_TYPE_DATA, 128, 100);
	struct kl_blob_loc bad = mkloc(&p, KL_BLOB_TYPE_DATA, 228, 100);
	struct kl_blob_entry e;
	struct kl_cat_loc *l;
	uint64_t gone = 9;
	size_t n;

	assert_int_equal(kl_cat_blob_put(f->c, &x, &good, KL_TRUST_CLAIMED,
	    1, NULL), 1);
	assert_int_equal(kl_cat_blob_put(f->c, &x, &bad, KL_TRUST_CLAIMED, 1,
	    NULL), 1);
	assert_int_equal(kl_cat_blob_put(f->c, &y, &bad, KL_TRUST_OWN, 1,
	    NULL), 1);
	e.type = KL_BLOB_TYPE_DATA;
	e.id = x;
	e.offset = 128;
	e.stored_len = 100;
	e.raw_len = good.raw_len;
	assert_int_equal(kl_cat_pack_confirm(f->c, &p, &e, 1, &gone,
	    NULL), KL_OK);
	assert_int_equal(gone, 1);
	assert_int_equal(kl_cat_blob_locs(f->c, &x, &l, &n, NULL), KL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].loc.offset, 128);
	assert_int_equal(l[0].hdr, KL_CAT_HDR_CONFIRMED);
	free(l);
	/* y's own location stays: this client wrote it */
	assert_int_equal(kl_cat_blob_trusted(f->c, &y, NULL), 1);
	assert_int_equal(kl_cat_pack_confirm(f->c, &p, NULL, 0, &gone,
	    NULL), KL_OK);
	assert_int_equal(gone, 0);
	assert_int_equal(kl_cat_blob_locs(f->c, &x, &l, &n, NULL), KL_OK);
	assert_int_equal(l[0].hdr, KL_CAT_HDR_BAD);
	free(l);
}

/* Withdrawals, own index files and own packs survive a reload of the
 * blob index (kl_cat_index_clear); a reset forgets the withdrawals. */
static void
test_index_clear_keeps_what_cannot_be_reloaded(void **state)
{
	struct fx *f = *state;
	struct kl_id w = mkid(7, 1), own = mkid(7, 2), pk = mkid(7, 3);
	struct kl_id *ids;
	uint64_t *sizes;
	size_t n;

	assert_int_equal(kl_cat_withdrawn_add(f->c, &w, NULL), KL_OK);
	assert_int_equal(kl_cat_own_index_add(f->c, &own, NULL), KL_OK);
	assert_int_equal(kl_cat_own_pack_add(f->c, &pk, 4096, NULL), KL_OK);
	assert_int_equal(kl_cat_index_clear(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_withdrawn_has(f->c, &w, NULL), 1);
	assert_int_equal(kl_cat_own_index_has(f->c, &own, NULL), 1);
	assert_int_equal(kl_cat_own_index_has(f->c, &w, NULL), 0);
	assert_int_equal(kl_cat_own_pack_list(f->c, &ids, &sizes, &n,
	    NULL), KL_OK);
	assert_int_equal(n, 1);
	assert_memory_equal(ids[0].b, pk.b, KL_ID_LEN);
	assert_int_equal(sizes[0], 4096);
	free(ids);
	free(sizes);
	assert_int_equal(kl_cat_own_pack_del(f->c, &pk, NULL), KL_OK);
	assert_int_equal(kl_cat_own_pack_list(f->c, &ids, &sizes, &n,
	    NULL), KL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kl_cat_reset(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_withdrawn_has(f->c, &w, NULL), 0);
	assert_int_equal(kl_cat_own_index_has(f->c, &own, NULL), 1);
}

static void
test_blob_put_extreme_values_round_trip(void **state)
{
	struct fx *f = *state;
	struct kl_id p = mkid(9, 1), id = mkid(1, 1);
	struct kl_blob_loc l = mkloc(&p, KL_BLOB_TYPE_DATA, 0, 0xffffffffu);
	struct kl_blob_loc got;

	l.raw_len = 0xffffffffu;
	assert_int_equal(kl_cat_blob_put(f->c, &id, &l, KL_TRUST_OWN, 0,
	    NULL), 1);
	assert_int_equal(kl_cat_blob_get(f->c, &id, &got, NULL, NULL), KL_OK);
	assert_int_equal(got.stored_len, 0xffffffffu);
	assert_int_equal(got.raw_len, 0xffffffffu);
	l.offset = 1;
	id = mkid(1, 2);
	assert_int_equal(kl_cat_blob_put(f->c, &id, &l, KL_TRUST_OWN, 0,
	    NULL), KL_E_INVAL);
	assert_int_equal(kl_cat_blob_put(f->c, NULL, &l, KL_TRUST_OWN, 0,
	    NULL), KL_E_INVAL);
}

static void
test_pack_tree_range_covers_tree_blobs_only(void **state)
{
	struct fx *f = *state;
	struct kl_id p1 = mkid(9, 1), p2 = mkid(9, 2), p3 = mkid(9, 3);
	uint32_t lo = 7, hi = 7;

	put_blob(f->c, 1, 1, &p1, KL_BLOB_TYPE_DATA, 128, 1000, 1);
	put_blob(f->c, 1, 2, &p1, KL_BLOB_TYPE_TREE, 2000, 100, 1);
	put_blob(f->c, 1, 3, &p1, KL_BLOB_TYPE_DATA, 5000, 1000, 1);
	put_blob(f->c, 1, 4, &p1, KL_BLOB_TYPE_TREE, 1128, 200, 1);
	put_blob(f->c, 1, 5, &p2, KL_BLOB_TYPE_DATA, 128, 1000, 1);
	assert_int_equal(kl_cat_pack_tree_range(f->c, &p2, &lo, &hi, NULL),
	    KL_E_NOTFOUND);
	/* a copy of a tree elsewhere is a location there too */
	put_blob(f->c, 1, 2, &p2, KL_BLOB_TYPE_TREE, 9000, 100, 1);
	assert_int_equal(kl_cat_pack_tree_range(f->c, &p1, &lo, &hi,
	    NULL), KL_OK);
	assert_int_equal(lo, 1128);
	assert_int_equal(hi, 2100);
	assert_int_equal(kl_cat_pack_tree_range(f->c, &p2, &lo, &hi,
	    NULL), KL_OK);
	assert_int_equal(lo, 9000);
	assert_int_equal(hi, 9100);
	assert_int_equal(kl_cat_pack_tree_range(f->c, &p3, &lo, &hi, NULL),
	    KL_E_NOTFOUND);
	assert_int_equal(lo, 9000);	/* untouched */
}

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

static void
test_pack_ids_lists_each_pack_once(void **state)
{
	struct fx *f = *state;
	struct kl_id p[3] = { mkid(9, 1), mkid(9, 2), mkid(9, 3) };
	struct kl_id *ids = NULL;
	size_t n = 99, i;

	assert_int_equal(kl_cat_pack_ids(f->c, &ids, &n, NULL), KL_OK);
	assert_int_equal(n, 0);
	assert_null(ids);
	for (i = 0; i < 12; i++)
		put_blob(f->c, 1, (uint32_t)i, &p[i % 3], KL_BLOB_TYPE_DATA,
		    128 + 100 * (uint32_t)i, 100, 1);
	assert_int_equal(kl_cat_pack_ids(f->c, &ids, &n, NULL), KL_OK);
	assert_int_equal(n, 3);
	qsort(p, 3, sizeof(p[0]), id_cmp);
	for (i = 0; i < 3; i++)
		assert_memory_equal(ids[i].b, p[i].b, KL_ID_LEN);
	free(ids);
}

struct walk {
	struct kl_id ids[256];
	struct kl_blob_loc locs[256];
	size_t n, stop_at;
	struct kl_cat *c;
	int nested_n;
};

static int
walk_cb(void *arg, const struct kl_id *id, const struct kl_blob_loc *l)
{
	struct walk *w = arg;

	assert_true(w->n < NELEM(w->ids));
	w->ids[w->n] = *id;
	w->locs[w->n] = *l;
	if (++w->n == w->stop_at)
		return 42;
	return 0;
}

static void
test_blob_foreach_walks_in_id_order_and_stops(void **state)
{
	struct fx *f = *state;
	struct walk *w;
	size_t i;

	assert_non_null(w = calloc(1, sizeof(*w)));
	fill(f->c, 1, 100);
	assert_int_equal(kl_cat_blob_foreach(f->c, walk_cb, w, NULL), KL_OK);
	assert_int_equal(w->n, 100);
	for (i = 1; i < w->n; i++)
		assert_true(kl_id_cmp(&w->ids[i - 1], &w->ids[i]) < 0);
	for (i = 0; i < w->n; i++)
		assert_int_equal(w->locs[i].stored_len, 100);
	memset(w, 0, sizeof(*w));
	w->stop_at = 10;
	assert_int_equal(kl_cat_blob_foreach(f->c, walk_cb, w, NULL), 42);
	assert_int_equal(w->n, 10);
	assert_int_equal(blob_count(f->c), 100);
	free(w);
}

/* A callback may call the catalog, even the same walk (re-entry). */
static int
nested_inner_cb(void *arg, const struct kl_id *id, const struct kl_blob_loc *l)
{
	struct walk *w = arg;

	w->nested_n++;
	return 0;
}

static int
nested_outer_cb(void *arg, const struct kl_id *id,
    const struct kl_blob_loc *l)
{
	struct walk *w = arg;
	struct kl_blob_loc got;

	assert_int_equal(kl_cat_blob_get(w->c, id, &got, NULL, NULL), KL_OK);
	assert_int_equal(got.offset, l->offset);
	if (w->n == 0)
		assert_int_equal(kl_cat_blob_foreach(w->c, nested_inner_cb, w,
		    NULL), KL_OK);
	w->ids[w->n++] = *id;
	return 0;
}

static void
test_callbacks_may_reenter_the_catalog(void **state)
{
	struct fx *f = *state;
	struct walk *w;
	size_t i;

	assert_non_null(w = calloc(1, sizeof(*w)));
	w->c = f->c;
	fill(f->c, 1, 50);
	assert_int_equal(kl_cat_blob_foreach(f->c, nested_outer_cb, w, NULL),
	    KL_OK);
	assert_int_equal(w->n, 50);
	assert_int_equal(w->nested_n, 50);
	for (i = 1; i < w->n; i++)
		assert_true(kl_id_cmp(&w->ids[i - 1], &w->ids[i]) < 0);
	free(w);
}

static void
test_index_files_add_has_list_clear(void **state)
{
	struct fx *f = *state;
	struct kl_id a = mkid(5, 1), b = mkid(5, 2), *ids = NULL;
	struct kl_id p = mkid(9, 1), want[2];
	size_t n = 0;

	assert_int_equal(kl_cat_index_has(f->c, &a, NULL), 0);
	assert_int_equal(kl_cat_index_add(f->c, &a, KL_TRUST_CLAIMED, 0,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_index_add(f->c, &b, KL_TRUST_CLAIMED, 0,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_index_add(f->c, &a, KL_TRUST_CLAIMED, 0,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_index_has(f->c, &a, NULL), 1);
	assert_int_equal(kl_cat_index_has(f->c, &p, NULL), 0);
	assert_int_equal(kl_cat_index_list(f->c, &ids, &n, NULL), KL_OK);
	assert_int_equal(n, 2);
	want[0] = a;
	want[1] = b;
	qsort(want, 2, sizeof(want[0]), id_cmp);
	assert_memory_equal(ids, want, sizeof(want));
	free(ids);
	put_blob(f->c, 1, 1, &p, KL_BLOB_TYPE_TREE, 128, 100, 1);
	assert_int_equal(kl_cat_index_clear(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_index_has(f->c, &a, NULL), 0);
	assert_int_equal(blob_count(f->c), 0);
	assert_int_equal(kl_cat_pack_ids(f->c, &ids, &n, NULL), KL_OK);
	assert_int_equal(n, 0);
	/* and the index fills again */
	put_blob(f->c, 1, 1, &p, KL_BLOB_TYPE_TREE, 128, 100, 1);
	assert_true(has_blob(f->c, 1, 1));
}

struct lookers {
	struct kl_cat *c;
	uint32_t n, seed;
	int bad;
};

static void *
look_thread(void *arg)
{
	struct lookers *l = arg;
	struct kl_blob_loc loc;
	struct kl_id id;
	uint32_t i, k;

	for (i = 0; i < THREAD_LOOKUPS; i++) {
		k = (i * 2654435761u + l->seed) % l->n;
		id = mkid(1, k);
		if (kl_cat_blob_get(l->c, &id, &loc, NULL, NULL) != KL_OK ||
		    loc.offset != 128 + (k % 64) * 100)
			l->bad++;
	}
	return NULL;
}

static void *
put_thread(void *arg)
{
	struct lookers *l = arg;
	struct kl_blob_loc loc;
	struct kl_id id, pack = mkid(77, 0);
	uint32_t i;

	for (i = 0; i < 500; i++) {
		id = mkid(2, i);
		loc = mkloc(&pack, KL_BLOB_TYPE_DATA, 128 + i * 100, 100);
		if (kl_cat_blob_put(l->c, &id, &loc, KL_TRUST_OWN, 0,
		    NULL) != 1)
			l->bad++;
	}
	return NULL;
}

static void
test_threads_look_up_while_another_puts(void **state)
{
	struct fx *f = *state;
	struct lookers l[THREADS + 1];
	pthread_t t[THREADS + 1];
	size_t i;

	fill(f->c, 1, 4096);
	for (i = 0; i <= THREADS; i++) {
		l[i].c = f->c;
		l[i].n = 4096;
		l[i].seed = (uint32_t)i * 977;
		l[i].bad = 0;
		assert_int_equal(pthread_create(&t[i], NULL, i < THREADS ?
		    look_thread : put_thread, &l[i]), 0);
	}
	for (i = 0; i <= THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(l[i].bad, 0);
	}
	assert_int_equal(blob_count(f->c), 4096 + 500);
}

/* --- snapshots --- */

static void
mksnap(struct kl_snapshot *s, const char *host, int64_t t, uint32_t ns,
    char **paths, size_t npaths)
{
	memset(s, 0, sizeof(*s));
	s->time_s = t;
	s->time_ns = ns;
	s->tree = mkid(30, (uint32_t)t);
	s->parent = mkid(31, (uint32_t)t);
	s->hostname = (char *)host;
	s->username = "root";
	s->paths = paths;
	s->npaths = npaths;
	s->files = 10;
	s->dirs = 2;
	s->bytes = (uint64_t)1 << 40;
}

struct snaps {
	struct kl_cat_snap v[16];
	char host[16][32], paths[16][64], tags[16][64];
	size_t n;
};

static int
snap_cb(void *arg, const struct kl_cat_snap *s)
{
	struct snaps *l = arg;

	assert_true(l->n < NELEM(l->v));
	l->v[l->n] = *s;
	snprintf(l->host[l->n], sizeof(l->host[0]), "%s", s->host);
	snprintf(l->paths[l->n], sizeof(l->paths[0]), "%s", s->paths);
	snprintf(l->tags[l->n], sizeof(l->tags[0]), "%s", s->tags);
	l->n++;
	return 0;
}

static void
snaps_list(struct kl_cat *c, const char *host, int vanished, struct snaps *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(kl_cat_snap_foreach(c, host, vanished, snap_cb, l,
	    NULL), KL_OK);
}

static void
test_snap_add_round_trips_every_field(void **state)
{
	static char *paths[] = { "/home", "/etc" };
	static char *tags[] = { "daily", "x" };
	struct fx *f = *state;
	struct kl_snapshot s;
	struct kl_id id = mkid(20, 1);
	struct snaps l;

	mksnap(&s, "alpha", 1700000000, 123456789, paths, 2);
	s.tags = tags;
	s.ntags = 2;
	assert_int_equal(kl_cat_snap_has(f->c, &id, NULL), 0);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, 1700000100,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_snap_has(f->c, &id, NULL), 1);
	/* a second add changes nothing */
	s.files = 99;
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	snaps_list(f->c, NULL, 1, &l);
	assert_int_equal(l.n, 1);
	assert_memory_equal(l.v[0].id.b, id.b, KL_ID_LEN);
	assert_memory_equal(l.v[0].tree.b, s.tree.b, KL_ID_LEN);
	assert_memory_equal(l.v[0].parent.b, s.parent.b, KL_ID_LEN);
	assert_int_equal(l.v[0].time_s, 1700000000);
	assert_int_equal(l.v[0].time_ns, 123456789);
	assert_int_equal(l.v[0].recv_s, 1700000100);
	assert_string_equal(l.host[0], "alpha");
	assert_string_equal(l.paths[0], "/home\n/etc");
	assert_string_equal(l.tags[0], "daily\nx");
	assert_int_equal(l.v[0].files, 10);
	assert_int_equal(l.v[0].dirs, 2);
	assert_int_equal(l.v[0].bytes, (uint64_t)1 << 40);
	assert_int_equal(l.v[0].vanished, 0);
}

static void
test_snap_foreach_orders_by_time_and_filters_host(void **state)
{
	static char *paths[] = { "/" };
	struct fx *f = *state;
	struct kl_snapshot s;
	struct kl_id id;
	struct snaps l;

	mksnap(&s, "b", 300, 0, paths, 1);
	id = mkid(20, 1);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	mksnap(&s, "a", 100, 5, paths, 1);
	id = mkid(20, 2);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, 50, NULL), KL_OK);
	mksnap(&s, "a", 100, 4, paths, 1);
	id = mkid(20, 3);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	snaps_list(f->c, NULL, 0, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].time_ns, 4);
	assert_int_equal(l.v[0].recv_s, KL_CAT_TIME_NONE);
	assert_int_equal(l.v[1].time_ns, 5);
	assert_int_equal(l.v[2].time_s, 300);
	snaps_list(f->c, "a", 0, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.host[0], "a");
	assert_string_equal(l.host[1], "a");
	snaps_list(f->c, "nobody", 1, &l);
	assert_int_equal(l.n, 0);
}

static int64_t
series_rebuild_of(struct fx *f, const char *host)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT rebuild FROM series WHERE host ="
	    " '%s'", host);
	return raw_int(f, sql);
}

static void
test_snap_mark_vanished_marks_and_unmarks(void **state)
{
	static char *paths[] = { "/" };
	struct fx *f = *state;
	struct kl_id ids[3], present[2];
	struct kl_snapshot s;
	struct snaps l;
	size_t i, newly = 99;

	for (i = 0; i < 3; i++) {
		mksnap(&s, i == 1 ? "h2" : "h1", 100 + (int64_t)i, 0, paths, 1);
		ids[i] = mkid(20, (uint32_t)i);
		assert_int_equal(kl_cat_snap_add(f->c, &ids[i], &s,
		    KL_CAT_TIME_NONE, NULL), KL_OK);
	}
	assert_int_equal(series_rebuild_of(f, "h1"), 0);
	present[0] = ids[2];	/* unsorted on purpose */
	present[1] = ids[0];
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, present, 2, &newly,
	    NULL), KL_OK);
	assert_int_equal(newly, 1);
	snaps_list(f->c, NULL, 0, &l);
	assert_int_equal(l.n, 2);
	snaps_list(f->c, NULL, 1, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[1].vanished, 1);
	assert_memory_equal(l.v[1].id.b, ids[1].b, KL_ID_LEN);
	assert_int_equal(series_rebuild_of(f, "h2"), 1);
	assert_int_equal(series_rebuild_of(f, "h1"), 0);
	/* again: nothing new */
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, present, 2, &newly,
	    NULL), KL_OK);
	assert_int_equal(newly, 0);
	/* it comes back */
	raw_exec(f, "UPDATE series SET rebuild = 0");
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, ids, 3, &newly, NULL),
	    KL_OK);
	assert_int_equal(newly, 0);
	snaps_list(f->c, NULL, 0, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(series_rebuild_of(f, "h2"), 1);
	assert_int_equal(series_rebuild_of(f, "h1"), 0);
	/* an empty list: all vanish */
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, NULL, 0, &newly, NULL),
	    KL_OK);
	assert_int_equal(newly, 3);
	assert_int_equal(kl_cat_snap_has(f->c, &ids[0], NULL), 1);
}

static int
retired_cb(void *arg, const char *host, int64_t since_s)
{
	char *out = arg;

	assert_true(since_s > 0);
	strcat(out, host);
	strcat(out, ",");
	return 0;
}

/* Gone and withdrawn (a forget record): forgotten, not vanished; a host
 * whose last snapshot is forgotten is retired until it has one again. */
static void
test_snap_forgotten_leaves_the_catalog_and_retires_a_host(void **state)
{
	static char *paths[] = { "/" };
	struct fx *f = *state;
	struct kl_id ids[4];
	struct kl_snapshot s;
	struct snaps l;
	char retired[64] = "";
	size_t i, newly = 99;

	for (i = 0; i < 4; i++) {
		mksnap(&s, i < 2 ? "old" : "live", 100 + (int64_t)i, 0, paths,
		    1);
		ids[i] = mkid(30, (uint32_t)i);
		assert_int_equal(kl_cat_snap_add(f->c, &ids[i], &s, 200, NULL),
		    KL_OK);
	}
	/* old's two and one of live's are gone; all but live's withdrawn */
	assert_int_equal(kl_cat_withdrawn_add(f->c, &ids[0], NULL), KL_OK);
	assert_int_equal(kl_cat_withdrawn_add(f->c, &ids[1], NULL), KL_OK);
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, &ids[3], 1, &newly,
	    NULL), KL_OK);
	assert_int_equal(newly, 1);		/* live's, not withdrawn */
	assert_int_equal(kl_cat_snap_has(f->c, &ids[0], NULL), 0);
	assert_int_equal(kl_cat_snap_has(f->c, &ids[1], NULL), 0);
	assert_int_equal(kl_cat_snap_has(f->c, &ids[2], NULL), 1);
	snaps_list(f->c, NULL, 1, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(series_rebuild_of(f, "old"), 1);
	assert_int_equal(kl_cat_retired_foreach(f->c, retired_cb, retired,
	    NULL), KL_OK);
	assert_string_equal(retired, "old,");
	/* a vanished one that is withdrawn later is forgotten then */
	assert_int_equal(kl_cat_withdrawn_add(f->c, &ids[2], NULL), KL_OK);
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, &ids[3], 1, &newly,
	    NULL), KL_OK);
	assert_int_equal(newly, 0);
	assert_int_equal(kl_cat_snap_has(f->c, &ids[2], NULL), 0);
	/* old backs up again: no longer retired */
	mksnap(&s, "old", 500, 0, paths, 1);
	ids[0] = mkid(31, 0);
	assert_int_equal(kl_cat_snap_add(f->c, &ids[0], &s, 600, NULL), KL_OK);
	retired[0] = '\0';
	assert_int_equal(kl_cat_retired_foreach(f->c, retired_cb, retired,
	    NULL), KL_OK);
	assert_string_equal(retired, "");
}

static void
test_snap_older_than_processed_sets_rebuild(void **state)
{
	static char *paths[] = { "/srv", "/etc" };
	static char *other[] = { "/etc", "/srv" };
	struct fx *f = *state;
	struct kl_snapshot s;
	struct kl_id id;

	mksnap(&s, "h", 200, 0, paths, 2);
	id = mkid(20, 1);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	/* as if cat_versions had processed it */
	raw_exec(f, "UPDATE series SET last_snap = (SELECT snap_no FROM"
	    " snapshot), rebuild = 0");
	mksnap(&s, "h", 300, 0, paths, 2);
	id = mkid(20, 2);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	assert_int_equal(series_rebuild_of(f, "h"), 0);
	/* other path order: another series, untouched */
	mksnap(&s, "h", 100, 0, other, 2);
	id = mkid(20, 3);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM series"), 2);
	assert_int_equal(raw_int(f, "SELECT sum(rebuild) FROM series"), 0);
	mksnap(&s, "h", 150, 0, paths, 2);
	id = mkid(20, 4);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	assert_int_equal(raw_int(f, "SELECT rebuild FROM series WHERE paths ="
	    " '/srv' || char(10) || '/etc'"), 1);
	assert_int_equal(raw_int(f, "SELECT sum(rebuild) FROM series"), 1);
}

static void
test_snap_clear_forgets_snapshots_keeps_own_parent(void **state)
{
	static char *paths[] = { "/" };
	struct fx *f = *state;
	struct kl_id id = mkid(20, 1), snap = mkid(40, 1), root = mkid(41, 1);
	struct kl_id gs, gr;
	struct kl_snapshot s;
	struct snaps l;

	mksnap(&s, "h", 200, 0, paths, 1);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_snap_clear(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_snap_has(f->c, &id, NULL), 0);
	snaps_list(f->c, NULL, 1, &l);
	assert_int_equal(l.n, 0);
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr, NULL,
	    NULL), KL_OK);
	assert_memory_equal(gs.b, snap.b, KL_ID_LEN);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	assert_int_equal(kl_cat_snap_has(f->c, &id, NULL), 1);
}

/* --- own backups --- */

/* A tree's bytes: n copies of its tag, varied so zstd has work to do. */
static void
tree_bytes(uint32_t tag, size_t n, uint8_t *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(tag * 31 + i * (i % 7));
}

static void
own_put(struct kl_cat *c, uint32_t tag)
{
	uint8_t data[3000];
	struct kl_id id = mkid(50, tag);

	tree_bytes(tag, sizeof(data), data);
	assert_int_equal(kl_cat_own_tree_put(c, &id, data, sizeof(data), NULL),
	    KL_OK);
}

/* 1 if tree tag is in the catalog with the right bytes, 0 if absent. */
static int
own_has(struct kl_cat *c, uint32_t tag)
{
	uint8_t want[3000];
	struct kl_id id = mkid(50, tag);
	struct buf *b;
	int rc;

	assert_non_null(b = buf_new(KL_TREE_RAW_MAX));
	rc = kl_cat_own_tree_get(c, &id, b, NULL);
	assert_true(rc == KL_OK || rc == KL_E_NOTFOUND);
	if (rc == KL_OK) {
		tree_bytes(tag, sizeof(want), want);
		assert_int_equal(buf_size(b), sizeof(want));
		assert_memory_equal(buf_data(b), want, sizeof(want));
	} else {
		assert_int_equal(buf_size(b), 0);
	}
	buf_free(b);
	return rc == KL_OK;
}

static void
test_own_commit_records_parent_and_trees(void **state)
{
	static char *paths[] = { "/home" };
	struct fx *f = *state;
	struct kl_id snap = mkid(40, 1), root = mkid(41, 1), gs, gr;
	uint32_t i;

	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr, NULL,
	    NULL), KL_E_NOTFOUND);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	for (i = 0; i < 600; i++)	/* more than one batch */
		own_put(f->c, i);
	assert_true(own_has(f->c, 599));	/* pending ones are found */
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr, NULL,
	    NULL), KL_OK);
	assert_memory_equal(gs.b, snap.b, KL_ID_LEN);
	assert_memory_equal(gr.b, root.b, KL_ID_LEN);
	reopen(f, KL_CAT_OPENED);
	for (i = 0; i < 600; i += 37)
		assert_true(own_has(f->c, i));
	assert_false(own_has(f->c, 600));
	assert_int_equal(raw_int(f, "SELECT count(*) FROM own_tree"), 600);
}

static void
test_own_abort_keeps_the_previous_backup(void **state)
{
	static char *paths[] = { "/home" };
	struct fx *f = *state;
	struct kl_id snap = mkid(40, 1), root = mkid(41, 1), gs, gr;

	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	own_put(f->c, 1);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	own_put(f->c, 2);
	assert_true(own_has(f->c, 2));		/* written to staging */
	kl_cat_own_abort(f->c);
	assert_false(own_has(f->c, 2));
	assert_true(own_has(f->c, 1));
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr, NULL,
	    NULL), KL_OK);
	assert_memory_equal(gs.b, snap.b, KL_ID_LEN);
	/* after abort the recording is over */
	assert_int_equal(kl_cat_own_tree_put(f->c, &snap, (const uint8_t *)"x",
	    1, NULL), KL_E_INVAL);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root,
	    NULL), KL_E_INVAL);
}

static void
test_own_commit_replaces_only_its_series_previous_backup(void **state)
{
	static char *paths[] = { "/home" };
	static char *other[] = { "/srv" };
	struct fx *f = *state;
	struct kl_id s1 = mkid(40, 1), s2 = mkid(40, 2), s3 = mkid(40, 3);
	struct kl_id root = mkid(41, 1), gs, gr;

	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	own_put(f->c, 1);
	own_put(f->c, 2);
	assert_int_equal(kl_cat_own_commit(f->c, &s1, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_own_begin(f->c, "h", other, 1, NULL), KL_OK);
	own_put(f->c, 3);
	assert_int_equal(kl_cat_own_commit(f->c, &s3, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	own_put(f->c, 2);
	own_put(f->c, 4);
	assert_int_equal(kl_cat_own_commit(f->c, &s2, &root, NULL), KL_OK);
	assert_false(own_has(f->c, 1));
	assert_true(own_has(f->c, 2));
	assert_true(own_has(f->c, 3));
	assert_true(own_has(f->c, 4));
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr, NULL,
	    NULL), KL_OK);
	assert_memory_equal(gs.b, s2.b, KL_ID_LEN);
	assert_int_equal(kl_cat_own_parent(f->c, "h", other, 1, &gs, &gr, NULL,
	    NULL), KL_OK);
	assert_memory_equal(gs.b, s3.b, KL_ID_LEN);
	assert_int_equal(kl_cat_own_parent(f->c, "other", paths, 1, &gs, &gr,
	    NULL, NULL), KL_E_NOTFOUND);
}

static void
test_own_begin_twice_is_inval_and_clears_leftovers(void **state)
{
	static char *paths[] = { "/home" };
	struct fx *f = *state;
	struct kl_id snap = mkid(40, 1), root = mkid(41, 1);
	char sql[128];

	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1,
	    NULL), KL_E_INVAL);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root, NULL), KL_OK);
	/* a backup that died: its staged rows are still there */
	snprintf(sql, sizeof(sql), "INSERT INTO own_tree VALUES(%lld, x'00',"
	    " x'00')", -(long long)raw_int(f, "SELECT series_no FROM series"));
	raw_exec(f, sql);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM own_tree"), 1);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM own_tree"), 0);
	kl_cat_own_abort(f->c);
}

/* Plants data as the stored form of tree tag 1 of series 1. */
static void
own_plant(struct fx *f, const void *data, size_t len)
{
	sqlite3_stmt *st = NULL;
	struct kl_id id = mkid(50, 1);
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO own_tree"
	    " VALUES(1, ?1, ?2)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, id.b, KL_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
test_own_tree_get_rejects_oversized_tree(void **state)
{
	struct fx *f = *state;
	struct kl_id id = mkid(50, 1);
	size_t raw = KL_TREE_RAW_MAX + 1, cap, zlen;
	struct kl_error e;
	uint8_t *src, *z;
	struct buf *b;

	assert_non_null(src = calloc(1, raw));
	cap = ZSTD_compressBound(raw);
	assert_non_null(z = malloc(cap));
	zlen = ZSTD_compress(z, cap, src, raw, 1);
	assert_false(ZSTD_isError(zlen));
	own_plant(f, z, zlen);
	assert_non_null(b = buf_new(BUF_MAX_DEFAULT));
	assert_int_equal(buf_put(b, "keep", 4), KL_OK);
	kl_error_clear(&e);
	assert_int_equal(kl_cat_own_tree_get(f->c, &id, b, &e), KL_E_CORRUPT);
	assert_int_equal(buf_size(b), 4);
	assert_cat_error(f, &e, KL_E_CORRUPT, "");
	buf_free(b);
	free(z);
	free(src);
	assert_int_equal(kl_cat_own_tree_put(f->c, &id, (const uint8_t *)"x",
	    KL_TREE_RAW_MAX + 1, NULL), KL_E_LIMIT);
}

static void
test_own_tree_get_rejects_garbage_and_small_buffer(void **state)
{
	static char *paths[] = { "/" };
	struct fx *f = *state;
	struct kl_id id = mkid(50, 1), snap = mkid(40, 1);
	struct buf *b;

	own_plant(f, "not zstd at all", 15);
	assert_non_null(b = buf_new(100));
	assert_int_equal(kl_cat_own_tree_get(f->c, &id, b, NULL), KL_E_CORRUPT);
	assert_int_equal(buf_size(b), 0);
	raw_exec(f, "DELETE FROM own_tree");
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	own_put(f->c, 1);			/* 3000 bytes */
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &snap, NULL), KL_OK);
	assert_int_equal(kl_cat_own_tree_get(f->c, &id, b, NULL), KL_E_LIMIT);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
}

/* --- runs --- */

struct runs {
	struct kl_cat_run v[8];
	char kind[8][16], values[8][256];
	size_t n;
};

/* A run's values as one line: key[item.field]=<type letter><value>;... */
static void
values_line(const struct kl_cat_run *r, char *out, size_t cap)
{
	size_t i, n = 0;
	const struct kl_run_value *v;

	out[0] = '\0';
	for (i = 0; i < r->nv && n < cap; i++) {
		v = &r->v[i];
		if (v->item > 0)
			n += (size_t)snprintf(out + n, cap - n, "%s[%u.%s]=",
			    v->key, v->item, v->field);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s=", v->key);
		if (n >= cap)
			break;
		if (v->type == KL_RUN_TEXT)
			n += (size_t)snprintf(out + n, cap - n, "t%s;", v->s);
		else if (v->type == KL_RUN_REAL)
			n += (size_t)snprintf(out + n, cap - n, "r%g;", v->r);
		else
			n += (size_t)snprintf(out + n, cap - n, "%c%lld;",
			    v->type == KL_RUN_BOOL ? 'b' : 'i',
			    (long long)v->i);
	}
}

static int
run_cb(void *arg, const struct kl_cat_run *r)
{
	struct runs *l = arg;

	assert_true(l->n < NELEM(l->v));
	l->v[l->n] = *r;
	snprintf(l->kind[l->n], sizeof(l->kind[0]), "%s", r->kind);
	values_line(r, l->values[l->n], sizeof(l->values[0]));
	l->n++;
	return 0;
}

/* Every kind of value, and a list of two entries. */
static const struct kl_run_value run_vals[] = {
	{ "a", 0, NULL, KL_RUN_INT, -1, 0, NULL },
	{ "r", 0, NULL, KL_RUN_REAL, 0, 2.5, NULL },
	{ "s", 0, NULL, KL_RUN_TEXT, 0, 0, "x\ny" },
	{ "ok", 0, NULL, KL_RUN_BOOL, 1, 0, NULL },
	{ "m", 1, "path", KL_RUN_TEXT, 0, 0, "/a" },
	{ "m", 1, "n", KL_RUN_INT, 7, 0, NULL },
	{ "m", 2, "path", KL_RUN_TEXT, 0, 0, "/b" },
};
#define RUN_VALS_LINE "a=i-1;r=r2.5;s=tx\ny;ok=b1;m[1.path]=t/a;m[1.n]=i7;" \
    "m[2.path]=t/b;"

static int
add_run_values(struct kl_cat *c, const char *kind, int64_t start,
    int with_snap, const struct kl_run_value *v, size_t nv)
{
	struct kl_cat_run r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.host = "h";
	r.start_s = start;
	r.end_s = start + 10;
	r.exit_code = 3;
	if (with_snap)
		r.snapshot = mkid(60, (uint32_t)start);
	r.files = 5;
	r.bytes = UINT64_MAX;
	r.bytes_added = 7;
	r.errors = 1;
	r.v = v;
	r.nv = nv;
	return kl_cat_run_add(c, &r, NULL);
}

static void
add_run(struct kl_cat *c, const char *kind, int64_t start, int with_snap,
    int with_values)
{
	assert_int_equal(add_run_values(c, kind, start, with_snap,
	    with_values ? run_vals : NULL, with_values ? NELEM(run_vals) : 0),
	    KL_OK);
}

static void
test_runs_add_and_foreach_filters(void **state)
{
	struct fx *f = *state;
	struct kl_id want = mkid(60, 100);
	struct runs l;

	add_run(f->c, "check", 300, 0, 0);
	add_run(f->c, "backup", 100, 1, 1);
	add_run(f->c, "backup", 200, 0, 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kl_cat_run_foreach(f->c, NULL, 0, run_cb, &l,
	    NULL), KL_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].start_s, 100);
	assert_int_equal(l.v[1].start_s, 200);
	assert_int_equal(l.v[2].start_s, 300);
	assert_string_equal(l.kind[2], "check");
	assert_memory_equal(l.v[0].snapshot.b, want.b, KL_ID_LEN);
	assert_true(kl_id_is_zero(&l.v[1].snapshot));
	/* the details come back as they were written, in order */
	assert_string_equal(l.values[0], RUN_VALS_LINE);
	assert_string_equal(l.values[1], "");
	assert_int_equal(l.v[0].bytes, UINT64_MAX);
	assert_int_equal(l.v[0].exit_code, 3);
	assert_int_equal(l.v[0].end_s, 110);
	assert_true(l.v[0].no > 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kl_cat_run_foreach(f->c, "backup", 150, run_cb, &l,
	    NULL), KL_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].start_s, 200);
}

/* Details no writer makes are refused, and nothing of the run is
 * recorded: a field without an entry, an entry without a field, a text
 * without one, an unknown type. */
static void
test_runs_malformed_values_are_refused(void **state)
{
	static const struct kl_run_value bad[] = {
		{ "a", 0, "f", KL_RUN_INT, 1, 0, NULL },
		{ "a", 1, NULL, KL_RUN_INT, 1, 0, NULL },
		{ "a", 0, NULL, KL_RUN_TEXT, 0, 0, NULL },
		{ "a", 0, NULL, 9, 0, 0, NULL },
		{ NULL, 0, NULL, KL_RUN_INT, 1, 0, NULL },
	};
	struct fx *f = *state;
	struct runs l;
	size_t i;

	for (i = 0; i < NELEM(bad); i++)
		assert_int_equal(add_run_values(f->c, "backup", 100, 0,
		    &bad[i], 1), KL_E_INVAL);
	assert_int_equal(add_run_values(f->c, "backup", 100, 0, NULL, 1),
	    KL_E_INVAL);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kl_cat_run_foreach(f->c, NULL, 0, run_cb, &l,
	    NULL), KL_OK);
	assert_int_equal(l.n, 0);
}

/*
 * Rows that no writer makes (an edited catalog: an unknown type, a NULL
 * value, an entry without a field, a field without an entry) are left
 * out when the run is read back; the rest of the run comes back.
 */
static void
test_runs_doctored_values_are_left_out(void **state)
{
	struct fx *f = *state;
	struct runs l;

	add_run(f->c, "backup", 100, 0, 1);
	raw_exec(f, "INSERT INTO run_value SELECT run_no, 'x', 0, NULL, 9, 1"
	    " FROM run; INSERT INTO run_value SELECT run_no, 'y', 0, NULL, 2,"
	    " NULL FROM run; INSERT INTO run_value SELECT run_no, 'z', 1,"
	    " NULL, 2, 'no field' FROM run; INSERT INTO run_value SELECT"
	    " run_no, 'w', 0, 'f', 2, 'no entry' FROM run;");
	memset(&l, 0, sizeof(l));
	assert_int_equal(kl_cat_run_foreach(f->c, NULL, 0, run_cb, &l,
	    NULL), KL_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.values[0], RUN_VALS_LINE);
}

/*
 * A schema-6 catalog keeps its run history: the JSON details of its runs
 * become rows (numbers, text, true/false, lists of flat objects, in
 * order); what is not JSON, or not an object, leaves no details.
 */
static void
test_open_schema6_run_details_become_rows(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;
	struct runs l;

	kl_cat_close(f->c);
	f->c = NULL;
	raw_exec(f, "DROP TABLE run_file; DROP INDEX run_by_id; DROP INDEX run_to_upload;"
	    "ALTER TABLE run DROP COLUMN run_id; ALTER TABLE run DROP COLUMN"
	    " origin; ALTER TABLE run DROP COLUMN recv_s;"
	    "ALTER TABLE run DROP COLUMN uploaded;"
	    "DROP TABLE run_value; DROP TABLE delta_sig;"
	    "ALTER TABLE run ADD COLUMN detail TEXT;"
	    "INSERT INTO run(kind, host, start_s, end_s, exit_code, files,"
	    " bytes, bytes_added, errors, detail) VALUES"
	    " ('drill', 'h', 1, 2, 1, 0, 0, 0, 1, '{\"a\":-1,\"r\":2.5,"
	    "\"s\":\"x\\ny\",\"ok\":true,\"z\":null,\"m\":[{\"path\":\"/a\","
	    "\"n\":7},{\"path\":\"/b\"}],\"no\":false}'),"
	    " ('check', 'h', 3, 4, 0, 0, 0, 0, 0, 'not json'),"
	    " ('check', 'h', 5, 6, 0, 0, 0, 0, 0, '[1,2]'),"
	    " ('backup', 'h', 7, 8, 0, 0, 0, 0, 0, NULL),"
	    " ('drill', 'h', 9, 10, 0, 0, 0, 0, 0, '{\"l\":\"all\","
	    "\"m\":[1,\"a\",[2],{\"p\":\"q\",\"o\":{}}]}'),"
	    " ('check', 'h', 11, 12, 0, 0, 0, 0, 0, x'ff00');"
	    "UPDATE meta SET value = 6 WHERE key = 'schema';");
	cat_open_ok(f, &f->c, KL_CAT_OPENED);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	memset(&l, 0, sizeof(l));
	assert_int_equal(kl_cat_run_foreach(f->c, NULL, 0, run_cb, &l,
	    NULL), KL_OK);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.values[0], "a=i-1;r=r2.5;s=tx\ny;ok=b1;no=b0;"
	    "m[1.path]=t/a;m[1.n]=i7;m[2.path]=t/b;");
	assert_string_equal(l.values[1], "");
	assert_string_equal(l.values[2], "");
	assert_string_equal(l.values[3], "");
	/* of a list only its objects' flat values; no JSON at all: none */
	assert_string_equal(l.values[4], "l=tall;m[4.p]=tq;");
	assert_string_equal(l.values[5], "");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM pragma_table_info("
	    "'run') WHERE name = 'detail'"), 0);
}

/* --- status and reset --- */

static void
populate(struct fx *f)
{
	static char *paths[] = { "/" };
	struct kl_id id = mkid(20, 1), snap = mkid(40, 1), ix = mkid(5, 1);
	struct kl_snapshot s;

	fill(f->c, 1, 10);
	assert_int_equal(kl_cat_index_add(f->c, &ix, KL_TRUST_CLAIMED, 0,
	    NULL), KL_OK);
	mksnap(&s, "h", 100, 0, paths, 1);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	own_put(f->c, 1);
	own_put(f->c, 2);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &snap, NULL), KL_OK);
	add_run(f->c, "backup", 100, 0, 1);
}

static void
test_status_counts_what_is_there(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;

	populate(f);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	assert_true(st.file_bytes > 4096);
	assert_int_equal(st.index_files, 1);
	assert_int_equal(st.blobs, 10);
	assert_int_equal(st.packs, 1);
	assert_int_equal(st.snapshots, 1);
	assert_int_equal(st.vanished, 0);
	assert_int_equal(st.series, 1);
	assert_int_equal(st.pending, 1);
	assert_int_equal(st.own_trees, 2);
	assert_int_equal(st.runs, 1);
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, NULL, 0, NULL,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.vanished, 1);
	assert_int_equal(st.pending, 0);
}

static void
test_reset_forgets_all_but_runs(void **state)
{
	static char *paths[] = { "/" };
	struct fx *f = *state;
	struct kl_cat_status st;
	struct kl_id gs, gr;

	populate(f);
	assert_int_equal(kl_cat_reset(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.index_files + st.blobs + st.packs + st.snapshots +
	    st.series + st.paths + st.versions + st.own_trees, 0);
	assert_int_equal(st.runs, 1);
	assert_int_equal(st.schema, KL_CAT_SCHEMA);
	assert_false(own_has(f->c, 1));
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr, NULL,
	    NULL), KL_E_NOTFOUND);
	reopen(f, KL_CAT_OPENED);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM run"), 1);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM run_value"),
	    NELEM(run_vals));
	/* not while a backup is being recorded */
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	assert_int_equal(kl_cat_reset(f->c, NULL), KL_E_INVAL);
	kl_cat_own_abort(f->c);
}

/* --- libraries never print --- */

static void
test_errors_are_returned_not_printed(void **state)
{
	struct fx *f = *state;
	char out[PATH_MAX], dir[PATH_MAX];
	struct kl_id id = mkid(1, 1);
	struct kl_cat *c = NULL;
	struct kl_error e;
	struct stat st;
	int fd, o1, o2;

	PATHF(out, "%s/output", f->tmp);
	PATHF(dir, "%s/plain-file", f->tmp);
	write_file(dir, "x", 1);
	fflush(stdout);
	fflush(stderr);
	assert_true((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	o1 = dup(1);
	o2 = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	/* with an error to fill: its text is made, not printed */
	(void)kl_cat_open(dir, &f->repo, &c, NULL, &e);
	(void)kl_cat_commit(f->c, &e);
	(void)kl_cat_own_tree_put(f->c, &id, (const uint8_t *)"x", 1, &e);
	(void)kl_cat_own_tree_get(f->c, &id, NULL, &e);
	fflush(stdout);
	fflush(stderr);
	dup2(o1, 1);
	dup2(o2, 2);
	close(o1);
	close(o2);
	close(fd);
	assert_null(c);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, 0);
}

/* --- the benchmark --- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
bench(uint32_t n)
{
	struct kl_blob_loc loc;
	struct kl_cat_status st;
	struct kl_id id, pack;
	struct kl_cat *c = NULL;
	struct fx f;
	uint32_t i, k, found = 0;
	double t0;
	int state;

	memset(&f, 0, sizeof(f));
	snprintf(f.tmp, sizeof(f.tmp), "/tmp/kl-bench-catalog.XXXXXX");
	if (mkdtemp(f.tmp) == NULL)
		return 1;
	if (snprintf(f.dir, sizeof(f.dir), "%s/cat", f.tmp) >=
	    (int)sizeof(f.dir))
		return 1;
	memset(f.repo.b, 0xa1, sizeof(f.repo.b));
	if (kl_cat_open(f.dir, &f.repo, &c, &state, NULL) != KL_OK)
		return 1;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (i % BENCH_TX == 0 && (i > 0 ? kl_cat_commit(c, NULL) :
		    KL_OK) != KL_OK)
			return 1;
		if (i % BENCH_TX == 0 && kl_cat_begin(c, NULL) != KL_OK)
			return 1;
		pack = mkid(1000, i / 2000);
		loc = mkloc(&pack, i % 50 ? KL_BLOB_TYPE_DATA :
		    KL_BLOB_TYPE_TREE, 128 + (i % 2000) * 100, 100);
		id = mkid(1, i);
		if (kl_cat_blob_put(c, &id, &loc, KL_TRUST_OWN, 0, NULL) != 1)
			return 1;
	}
	if (kl_cat_commit(c, NULL) != KL_OK)
		return 1;
	printf("put: %u blobs in %.2f s (%.2f us each)\n", n, now_s() - t0,
	    (now_s() - t0) * 1e6 / n);
	kl_cat_close(c);
	t0 = now_s();
	if (kl_cat_open(f.dir, &f.repo, &c, &state, NULL) != KL_OK ||
	    state != KL_CAT_OPENED)
		return 1;
	printf("open (quick_check): %.3f s\n", now_s() - t0);
	kl_cat_status(c, &st, NULL);
	printf("file: %.1f MB\n", st.file_bytes / 1e6);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		k = (uint32_t)(((uint64_t)i * 2654435761u) % n);
		id = mkid(1, k);
		found += kl_cat_blob_get(c, &id, &loc, NULL, NULL) == KL_OK;
	}
	printf("get (hit): %.2f us each, %u found\n",
	    (now_s() - t0) * 1e6 / n, found);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		id = mkid(2, i);
		found += kl_cat_blob_get(c, &id, &loc, NULL, NULL) == KL_OK;
	}
	printf("get (miss): %.2f us each\n", (now_s() - t0) * 1e6 / n);
	kl_cat_close(c);
	nftw(f.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return found == n ? 0 : 1;
}


/* ---- prune's plan ---- */

struct plan_got {
	struct kl_cat_prune_pack p[8];
	size_t n;
};

static int
plan_cb(void *arg, const struct kl_cat_prune_pack *p)
{
	struct plan_got *g = arg;

	assert_true(g->n < 8);
	g->p[g->n++] = *p;
	return 0;
}

static const struct kl_cat_prune_pack *
plan_find(const struct plan_got *g, const struct kl_id *id)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (kl_id_eq(&g->p[i].id, id))
			return &g->p[i];
	fail_msg("pack not in the plan");
	return NULL;
}

struct copies_got {
	struct kl_id id[16];
	size_t n;
};

static int
copies_cb(void *arg, const struct kl_id *id, uint8_t type)
{
	struct copies_got *g = arg;

	assert_int_equal(type, KL_BLOB_TYPE_DATA);
	assert_true(g->n < 16);
	g->id[g->n++] = *id;
	return 0;
}

static int
copies_has(const struct copies_got *g, const struct kl_id *id)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (kl_id_eq(&g->id[i], id))
			return 1;
	return 0;
}

static void
loc_put(struct kl_cat *c, const struct kl_id *id, const struct kl_id *pack,
    uint32_t off, uint32_t len, int trust)
{
	struct kl_blob_loc l = mkloc(pack, KL_BLOB_TYPE_DATA, off, len);

	assert_true(kl_cat_blob_put(c, id, &l, trust, 0, NULL) >= 0);
}

/*
 * Keepers and copies.  Blob a: ATTESTED in pack T and CLAIMED in pack G
 * (a hacked host's garbage pack, which claims many blobs and so holds the
 * most bytes "in use"); b: only CLAIMED, in G and in the honest host's
 * pack H; u: in H, unused.  The trusted copy of a wins over G's bulk; b's
 * keeper is G (most bytes in use), and since H is repacked, b is copied
 * afresh rather than left to G's word; a is not copied (T is trusted).  A
 * pack of nothing in use reports no keeper.
 */
static void
test_prune_plan_trusts_no_claim_for_a_copy_that_goes(void **state)
{
	struct fx *f = *state;
	struct kl_id T = mkid(70, 1), G = mkid(70, 2), H = mkid(70, 3);
	struct kl_id E = mkid(70, 4), a = mkid(71, 1), b = mkid(71, 2);
	struct kl_id u = mkid(71, 3), g[4];
	struct plan_got pg;
	struct copies_got cg;
	uint64_t unlocated = 9;
	size_t i;

	loc_put(f->c, &a, &T, 128, 1000, KL_TRUST_ATTESTED);
	loc_put(f->c, &a, &G, 128, 5000, KL_TRUST_CLAIMED);
	loc_put(f->c, &b, &G, 5128, 5000, KL_TRUST_CLAIMED);
	loc_put(f->c, &b, &H, 128, 1000, KL_TRUST_CLAIMED);
	loc_put(f->c, &u, &H, 1128, 9000, KL_TRUST_CLAIMED);
	for (i = 0; i < 4; i++) {	/* more claims in G, in use */
		g[i] = mkid(72, (uint32_t)i);
		loc_put(f->c, &g[i], &G, 10128 + (uint32_t)i * 5000, 5000,
		    KL_TRUST_CLAIMED);
	}
	loc_put(f->c, &u, &E, 128, 50, KL_TRUST_CLAIMED);
	assert_int_equal(kl_cat_mark_begin(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_mark_add(f->c, &a, KL_BLOB_TYPE_DATA, NULL), 1);
	assert_int_equal(kl_cat_mark_add(f->c, &a, KL_BLOB_TYPE_DATA, NULL), 0);
	assert_int_equal(kl_cat_mark_add(f->c, &b, KL_BLOB_TYPE_DATA, NULL), 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(kl_cat_mark_add(f->c, &g[i],
		    KL_BLOB_TYPE_DATA, NULL), 1);
	/* a pack the index does not know is not present: 0 */
	assert_int_equal(kl_cat_prune_present(f->c, &a, 10, NULL), 0);
	assert_int_equal(kl_cat_prune_present(f->c, &T, 2000, NULL), 1);
	assert_int_equal(kl_cat_prune_present(f->c, &G, 40000, NULL), 1);
	assert_int_equal(kl_cat_prune_present(f->c, &H, 11000, NULL), 1);
	assert_int_equal(kl_cat_prune_present(f->c, &E, 300, NULL), 1);
	memset(&pg, 0, sizeof(pg));
	assert_int_equal(kl_cat_prune_plan(f->c, plan_cb, &pg, &unlocated,
	    NULL), KL_OK);
	assert_int_equal(unlocated, 0);
	assert_int_equal(pg.n, 4);
	/* T keeps a (trusted beats bulk); G keeps b and its four */
	assert_int_equal(plan_find(&pg, &T)->used_blobs, 1);
	assert_int_equal(plan_find(&pg, &T)->used_bytes, 1000);
	assert_int_equal(plan_find(&pg, &G)->used_blobs, 5);
	assert_int_equal(plan_find(&pg, &G)->blobs, 6);
	assert_int_equal(plan_find(&pg, &H)->used_blobs, 0);
	assert_int_equal(plan_find(&pg, &H)->size, 11000);
	assert_int_equal(plan_find(&pg, &E)->used_blobs, 0);
	/* H goes (repacked or deleted): b loses its honest copy */
	assert_int_equal(kl_cat_prune_act(f->c, &H, KL_PRUNE_DELETE,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_prune_act(f->c, &E, KL_PRUNE_DELETE,
	    NULL), KL_OK);
	memset(&cg, 0, sizeof(cg));
	assert_int_equal(kl_cat_prune_copies(f->c, copies_cb, &cg,
	    NULL), KL_OK);
	assert_true(copies_has(&cg, &b));
	assert_false(copies_has(&cg, &a));
	assert_false(copies_has(&cg, &g[0]));	/* no other copy goes */
	assert_int_equal(cg.n, 1);
	/* repacking G copies its keepers, never T's */
	assert_int_equal(kl_cat_prune_act(f->c, &G, KL_PRUNE_REPACK,
	    NULL), KL_OK);
	memset(&cg, 0, sizeof(cg));
	assert_int_equal(kl_cat_prune_copies(f->c, copies_cb, &cg,
	    NULL), KL_OK);
	assert_int_equal(cg.n, 5);
	assert_false(copies_has(&cg, &a));
	/* a blob in use with no present copy is counted */
	assert_int_equal(kl_cat_mark_add(f->c, &u, KL_BLOB_TYPE_TREE, NULL), 1);
	memset(&pg, 0, sizeof(pg));
	assert_int_equal(kl_cat_prune_plan(f->c, plan_cb, &pg, &unlocated,
	    NULL), KL_OK);
	assert_int_equal(unlocated, 1);
	kl_cat_mark_end(f->c);
	/* the tables are gone with the marks, and come back empty */
	assert_int_equal(kl_cat_mark_begin(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_mark_add(f->c, &a, KL_BLOB_TYPE_DATA, NULL), 1);
	kl_cat_mark_end(f->c);
}

/* The absence of a pruned file is explained; pruned ids survive an index
 * rebuild and go with a reset. */
static void
test_pruned_survives_index_clear(void **state)
{
	struct fx *f = *state;
	struct kl_id p = mkid(73, 1);

	assert_int_equal(kl_cat_pruned_has(f->c, &p, NULL), 0);
	assert_int_equal(kl_cat_pruned_add(f->c, &p, NULL), KL_OK);
	assert_int_equal(kl_cat_pruned_add(f->c, &p, NULL), KL_OK);
	assert_int_equal(kl_cat_pruned_has(f->c, &p, NULL), 1);
	assert_int_equal(kl_cat_index_clear(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_pruned_has(f->c, &p, NULL), 1);
	assert_int_equal(kl_cat_reset(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_pruned_has(f->c, &p, NULL), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* An own backup is intact (all its blobs in the blob index) from its
 * commit until the blob index is rebuilt. */
static void
test_own_parent_intact_until_index_clear(void **state)
{
	struct fx *f = *state;
	char *paths[] = { "/srv" };
	struct kl_id snap = mkid(1, 1), root = mkid(2, 2), gs, gr;
	int intact = -1;

	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr,
	    &intact, NULL), KL_OK);
	assert_int_equal(intact, 1);
	assert_int_equal(kl_cat_index_clear(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr,
	    &intact, NULL), KL_OK);
	assert_int_equal(intact, 0);
	assert_memory_equal(gs.b, snap.b, KL_ID_LEN);
	/* the next backup is intact again */
	assert_int_equal(kl_cat_own_begin(f->c, "h", paths, 1, NULL), KL_OK);
	assert_int_equal(kl_cat_own_commit(f->c, &snap, &root, NULL), KL_OK);
	assert_int_equal(kl_cat_own_parent(f->c, "h", paths, 1, &gs, &gr,
	    &intact, NULL), KL_OK);
	assert_int_equal(intact, 1);
}

/* Schema 8 (issue #14): chunk signatures by content id - stored once,
 * kept by a reset (only this client knows them), dropped by sig_prune
 * once the blob index no longer has the chunk. */
static void
test_sig_put_get_has_prune_reset(void **state)
{
	struct fx *f = *state;
	struct kl_id pack = mkid(9, 1), a = mkid(5, 1), b = mkid(5, 2);
	struct kl_id none = mkid(5, 3);
	struct kl_cat_status st;
	static const uint8_t sa[] = "signature of a", sb[] = "signature of b";
	struct buf *out = buf_new(1 << 20);
	uint64_t n = 99;

	assert_non_null(out);
	put_blob(f->c, 5, 1, &pack, KL_BLOB_TYPE_DATA, 128, 100, 1);
	assert_int_equal(kl_cat_sig_put(f->c, &a, sa, sizeof(sa), NULL), KL_OK);
	assert_int_equal(kl_cat_sig_put(f->c, &b, sb, sizeof(sb), NULL), KL_OK);
	/* a second put of a stored id changes nothing */
	assert_int_equal(kl_cat_sig_put(f->c, &a, sb, sizeof(sb), NULL), KL_OK);
	assert_int_equal(kl_cat_sig_put(f->c, &a, sa, 0, NULL), KL_E_INVAL);
	assert_int_equal(kl_cat_sig_has(f->c, &a, NULL), 1);
	assert_int_equal(kl_cat_sig_has(f->c, &none, NULL), 0);
	assert_int_equal(kl_cat_sig_get(f->c, &a, out, NULL), KL_OK);
	assert_int_equal(buf_size(out), sizeof(sa));
	assert_memory_equal(buf_data(out), sa, sizeof(sa));
	assert_int_equal(kl_cat_sig_get(f->c, &none, out, NULL),
	    KL_E_NOTFOUND);
	assert_int_equal(buf_size(out), sizeof(sa));	/* unchanged */
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.signatures, 2);
	/* b's chunk is in no index: pruned; a's stays */
	assert_int_equal(kl_cat_sig_prune(f->c, &n, NULL), KL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(kl_cat_sig_has(f->c, &b, NULL), 0);
	assert_int_equal(kl_cat_sig_has(f->c, &a, NULL), 1);
	/* a reset keeps them (the blob index is rebuilt, they are not) */
	assert_int_equal(kl_cat_reset(f->c, NULL), KL_OK);
	assert_int_equal(kl_cat_sig_has(f->c, &a, NULL), 1);
	buf_free(out);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_prune_plan_trusts_no_claim_for_a_copy_that_goes),
		T(test_pruned_survives_index_clear),
		cmocka_unit_test(test_dir_default_follows_environment),
		T(test_open_creates_dirs_with_mode_0700),
		T(test_reopen_keeps_contents),
		T(test_open_foreign_repository_is_replaced),
		T(test_open_garbage_file_is_replaced_as_damaged),
		T(test_open_truncated_file_is_replaced_as_damaged),
		T(test_open_flipped_page_byte_is_replaced_as_damaged),
		T(test_open_damaged_schema_page_is_replaced_as_damaged),
		T(test_open_newer_schema_is_replaced),
		T(test_open_meta_without_repo_id_is_damaged),
		T(test_open_other_sqlite_database_is_damaged),
		T(test_open_empty_file_is_created),
		T(test_open_schema0_is_migrated),
		T(test_sig_put_get_has_prune_reset),
		T(test_own_parent_intact_until_index_clear),
		T(test_open_schema1_is_migrated_keeping_data),
		T(test_open_schema6_run_details_become_rows),
		T(test_open_schema3_is_migrated_dropping_the_blob_index),
		T(test_open_failed_migration_is_damaged),
		T(test_open_unusable_dir_fails_without_handle),
		T(test_temporary_catalog_works),
		T(test_two_handles_on_one_file_see_each_other),
		T(test_abort_rolls_back_and_commit_without_begin_is_inval),
		T(test_nested_begin_commits_at_outermost),
		T(test_pack_row_after_abort_is_recreated),
		T(test_blob_put_get_round_trip_every_location_kept),
		T(test_blob_locations_ordered_by_trust_and_time),
		T(test_pack_confirm_drops_what_the_header_denies),
		T(test_index_clear_keeps_what_cannot_be_reloaded),
		T(test_blob_put_extreme_values_round_trip),
		T(test_pack_tree_range_covers_tree_blobs_only),
		T(test_pack_ids_lists_each_pack_once),
		T(test_blob_foreach_walks_in_id_order_and_stops),
		T(test_callbacks_may_reenter_the_catalog),
		T(test_index_files_add_has_list_clear),
		T(test_threads_look_up_while_another_puts),
		T(test_snap_add_round_trips_every_field),
		T(test_snap_foreach_orders_by_time_and_filters_host),
		T(test_snap_mark_vanished_marks_and_unmarks),
		T(test_snap_forgotten_leaves_the_catalog_and_retires_a_host),
		T(test_snap_older_than_processed_sets_rebuild),
		T(test_snap_clear_forgets_snapshots_keeps_own_parent),
		T(test_own_commit_records_parent_and_trees),
		T(test_own_abort_keeps_the_previous_backup),
		T(test_own_commit_replaces_only_its_series_previous_backup),
		T(test_own_begin_twice_is_inval_and_clears_leftovers),
		T(test_own_tree_get_rejects_oversized_tree),
		T(test_own_tree_get_rejects_garbage_and_small_buffer),
		T(test_runs_add_and_foreach_filters),
		T(test_runs_malformed_values_are_refused),
		T(test_runs_doctored_values_are_left_out),
		T(test_status_counts_what_is_there),
		T(test_reset_forgets_all_but_runs),
		T(test_errors_are_returned_not_printed),
	};

	if (argc >= 2 && strcmp(argv[1], "--bench") == 0)
		return bench(argc >= 3 ? (uint32_t)strtoul(argv[2], NULL, 10) :
		    1000000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
