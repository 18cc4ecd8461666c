/*
 * The catalog's schema, version 1 (docs/CATALOG.md has the same tables
 * with their meaning).  Ids are 32-byte BLOBs; times are UTC seconds.
 *
 * A new database gets the meta table (cat_meta_sql) with schema 0 and is
 * then migrated like an old one: cat_migrations[v] takes schema v to
 * v + 1, so creating schema 1 is "migration 0 -> 1".  A new schema
 * version appends its migration here and bumps KL_CAT_SCHEMA.
 */
#include "catalog_internal.h"

/* key/value: 'schema' (integer), 'repo_id' (64 hex digits).  IF NOT
 * EXISTS: two processes may create the same catalog at once. */
const char cat_meta_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value)"
    " WITHOUT ROWID;";

/* Schema 0 -> 1. */
const char cat_schema_sql[] =
    /* Index files whose entries are in blob. */
    "CREATE TABLE index_file(id BLOB PRIMARY KEY) WITHOUT ROWID;"
    /* Packs named by the index; tree_lo > tree_hi: no tree blob; orphan = 1:
     * known from the pack's own header only, no index file names it. */
    "CREATE TABLE pack(pack_no INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    " tree_lo INTEGER NOT NULL, tree_hi INTEGER NOT NULL,"
    " orphan INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE blob(id BLOB PRIMARY KEY, pack_no INTEGER NOT NULL,"
    " type INTEGER NOT NULL, off INTEGER NOT NULL,"
    " stored_len INTEGER NOT NULL, raw_len INTEGER NOT NULL) WITHOUT ROWID;"
    /* A series: the snapshots of one host and one set of paths
     * ('\n'-joined, sorted as the snapshot has them).  last_snap: the
     * newest snapshot whose versions are recorded (0: none);
     * rebuild = 1: its versions must be rebuilt. */
    "CREATE TABLE series(series_no INTEGER PRIMARY KEY, host TEXT NOT NULL,"
    " paths TEXT NOT NULL, last_snap INTEGER NOT NULL DEFAULT 0,"
    " rebuild INTEGER NOT NULL DEFAULT 0, UNIQUE(host, paths));"
    /* done = 1: versions recorded. */
    "CREATE TABLE snapshot(snap_no INTEGER PRIMARY KEY, id BLOB NOT NULL"
    " UNIQUE, series_no INTEGER NOT NULL, time_s INTEGER NOT NULL,"
    " time_ns INTEGER NOT NULL, recv_s INTEGER, host TEXT NOT NULL,"
    " username TEXT NOT NULL, paths TEXT NOT NULL, tags TEXT NOT NULL,"
    " tree BLOB NOT NULL, parent BLOB NOT NULL, files INTEGER NOT NULL,"
    " dirs INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " vanished INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX snapshot_series ON snapshot(series_no, time_s);"
    /* Every path ever seen: a tree of names; path_no 1 is "/". */
    "CREATE TABLE path(path_no INTEGER PRIMARY KEY, parent_no INTEGER NOT"
    " NULL, name BLOB NOT NULL, UNIQUE(parent_no, name));"
    /* One row per change of a path in a series: valid from first_snap to
     * last_snap (snap_no; NULL: still in the series' last_snap).  content
     * and meta are 16-byte identities (catalog.h kl_cat_version). */
    "CREATE TABLE version(path_no INTEGER NOT NULL, series_no INTEGER NOT"
    " NULL, first_snap INTEGER NOT NULL, last_snap INTEGER,"
    " type INTEGER NOT NULL, mode INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " gid INTEGER NOT NULL, size INTEGER NOT NULL, mtime_s INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, content BLOB NOT NULL, meta BLOB NOT NULL,"
    " PRIMARY KEY(path_no, series_no, first_snap)) WITHOUT ROWID;"
    "CREATE INDEX version_open ON version(series_no, path_no)"
    " WHERE last_snap IS NULL;"
    /* This client's own last backup per series: the parent of its next
     * backup, and the trees of that backup (zstd-compressed §11
     * plaintext).  series_no < 0: being recorded. */
    "CREATE TABLE own_parent(series_no INTEGER PRIMARY KEY, snap BLOB NOT"
    " NULL, root BLOB NOT NULL);"
    "CREATE TABLE own_tree(series_no INTEGER NOT NULL, id BLOB NOT NULL,"
    " data BLOB NOT NULL, PRIMARY KEY(series_no, id)) WITHOUT ROWID;"
    "CREATE INDEX own_tree_id ON own_tree(id);"
    /* History of backups, checks and drills run from this client. */
    "CREATE TABLE run(run_no INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " host TEXT NOT NULL, start_s INTEGER NOT NULL, end_s INTEGER NOT NULL,"
    " exit_code INTEGER NOT NULL, snapshot BLOB, files INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, bytes_added INTEGER NOT NULL,"
    " errors INTEGER NOT NULL, detail TEXT);"
    "CREATE INDEX run_kind ON run(kind, start_s);";

/* Schema 2: data verification records (kluis check --read-data): when
 * each pack was last read and verified, and whether it was sound (ok =
 * 1).  Packs never checked have no row.  Rotating subsets pick the packs
 * checked longest ago; reports compute coverage from it. */
static const char cat_schema2_sql[] =
    "CREATE TABLE pack_check(pack BLOB PRIMARY KEY, checked_s INTEGER NOT"
    " NULL, ok INTEGER NOT NULL) WITHOUT ROWID;";

/* Schema 3: own_parent.intact = 1 while the blob index still holds every
 * blob of that backup (set when it is recorded, cleared when the blob
 * index is rebuilt): the next backup may then skip looking up the chunks
 * of its unchanged files. */
static const char cat_schema3_sql[] =
    "ALTER TABLE own_parent ADD COLUMN intact INTEGER NOT NULL DEFAULT 0;";

/*
 * Schema 4 (issue #10): the blob index keeps every location of a blob,
 * each with the trust of the best source that names it (catalog.h enum
 * kl_cat_trust) and the earliest receive time of those sources, instead of
 * the first location seen.  Index files record their trust and receive
 * time; packs their size (from a listing: they are in the repository) and
 * whether their own header confirmed the locations that name them.
 * withdrawn: index files that a signed index file withdraws (quarantine).
 * own_index: the index files this client wrote (their entries are OWN
 * whenever they are loaded again); own_pack: the packs this client
 * uploaded - the only packs a backup adopts when no index file names
 * them.  Neither can be rebuilt from the repository, so neither is
 * cleared with the blob index.  The old blob table is dropped and the
 * index reloaded (the catalog is a cache).
 */
static const char cat_schema4_sql[] =
    "DROP TABLE blob;"
    "DELETE FROM index_file;"
    "DELETE FROM pack;"
    "UPDATE own_parent SET intact = 0;"
    "ALTER TABLE index_file ADD COLUMN trust INTEGER NOT NULL DEFAULT 2;"
    "ALTER TABLE index_file ADD COLUMN recv_s INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE pack ADD COLUMN size INTEGER;"
    "ALTER TABLE pack ADD COLUMN hdr INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE loc(id BLOB NOT NULL, pack_no INTEGER NOT NULL,"
    " off INTEGER NOT NULL, stored_len INTEGER NOT NULL,"
    " raw_len INTEGER NOT NULL, type INTEGER NOT NULL,"
    " trust INTEGER NOT NULL, recv_s INTEGER NOT NULL,"
    " PRIMARY KEY(id, pack_no, off, stored_len, raw_len, type))"
    " WITHOUT ROWID;"
    "CREATE INDEX loc_pack ON loc(pack_no);"
    "CREATE TABLE withdrawn(id BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE own_index(id BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE own_pack(id BLOB PRIMARY KEY, size INTEGER NOT NULL)"
    " WITHOUT ROWID;";

/*
 * Schema 5 (issue #11): hosts whose last snapshot was forgotten (`kluis
 * forget`): retired, so that reports stop calling their backups overdue.
 * A host that has a snapshot again is not retired, whatever the table
 * says.  Learnt from forgets this catalog followed: a new catalog knows no
 * retired host, and no snapshot of it either.
 */
static const char cat_schema5_sql[] =
    "CREATE TABLE retired(host TEXT PRIMARY KEY, since_s INTEGER NOT NULL)"
    " WITHOUT ROWID;";

/*
 * Schema 6 (issue #11 prune): index files and packs that a signed retire
 * record names (FORMAT.md §9: prune deleted them).  Their absence is
 * explained - no finding, no notice - while a present file of such an id
 * is used as any other.  Kept by kl_cat_index_clear, cleared by
 * kl_cat_reset (the records are in the repository).
 */
static const char cat_schema6_sql[] =
    "CREATE TABLE pruned(id BLOB PRIMARY KEY) WITHOUT ROWID;";

/*
 * Schema 7 (issue #12): a run's details as rows (run_value) instead of a
 * JSON text that the report parsed back: a value of the run (item 0), or
 * a field of the item-th entry of the list named key; type is enum
 * kl_run_type, the rowid keeps the order.  The details of earlier runs are
 * carried over with SQLite's JSON functions (numbers, text, true/false,
 * and lists of flat objects: a drill's mismatches); the detail column
 * goes.
 */
static const char cat_schema7_sql[] =
    "CREATE TABLE run_value(run_no INTEGER NOT NULL, key TEXT NOT NULL,"
    " item INTEGER NOT NULL, field TEXT, type INTEGER NOT NULL, val);"
    "CREATE INDEX run_value_run ON run_value(run_no);"
    /* every json_each gets a JSON object or array, or NULL (no rows):
     * CASE decides before any JSON function sees text that is no JSON,
     * which would fail the migration (and lose the run history) */
    "INSERT INTO run_value SELECT r.run_no, j.key, 0, NULL,"
    " CASE j.type WHEN 'integer' THEN 0 WHEN 'real' THEN 1"
    " WHEN 'text' THEN 2 ELSE 3 END,"
    " CASE j.type WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE j.value END"
    " FROM run r, json_each(CASE WHEN json_valid(r.detail) THEN CASE WHEN"
    " json_type(r.detail) = 'object' THEN r.detail END END) j"
    " WHERE j.type IN ('integer', 'real', 'text', 'true', 'false')"
    " ORDER BY r.run_no, j.id;"
    "INSERT INTO run_value SELECT r.run_no, l.key, e.key + 1, f.key,"
    " CASE f.type WHEN 'integer' THEN 0 WHEN 'real' THEN 1"
    " WHEN 'text' THEN 2 ELSE 3 END,"
    " CASE f.type WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE f.value END"
    " FROM run r, json_each(CASE WHEN json_valid(r.detail) THEN CASE WHEN"
    " json_type(r.detail) = 'object' THEN r.detail END END) l,"
    " json_each(CASE WHEN l.type = 'array' THEN l.value END) e,"
    " json_each(CASE WHEN e.type = 'object' THEN e.value END) f"
    " WHERE f.type IN ('integer', 'real', 'text', 'true', 'false')"
    " ORDER BY r.run_no, l.id, e.id, f.id;"
    "ALTER TABLE run DROP COLUMN detail;";

/*
 * Schema 8 (issue #14): the librsync signatures of full chunks of big
 * files this client read (FORMAT.md §7.2), by content id - what a backup
 * makes deltas from.  Only this client knows them (they never go to the
 * repository), so neither an index rebuild nor kl_cat_reset clears them;
 * kl_cat_sig_prune drops those of chunks the index no longer has.
 */
static const char cat_schema8_sql[] =
    "CREATE TABLE delta_sig(id BLOB PRIMARY KEY, sig BLOB NOT NULL);";

/*
 * Schema 9 (issue #15): run records (FORMAT.md §17).  run_id: the run's
 * random 16-byte id, the same in its run record, so a run this client
 * made and the record it uploaded are one run (unique; NULL for runs of
 * earlier schemas).  origin 0: run from this client; 1: imported from a
 * run record in the repository (recv_s: the repository host's receive
 * time of that record).  uploaded 0: a run of this client whose record is
 * still to be uploaded (kl_cat_run_pending); the runs of earlier schemas
 * count as uploaded, so no old history floods the repository.  run_file:
 * the run record files looked at, ok 0 for those that did not decrypt or
 * decode (each is fetched once).
 */
static const char cat_schema9_sql[] =
    "ALTER TABLE run ADD COLUMN run_id BLOB;"
    "ALTER TABLE run ADD COLUMN origin INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE run ADD COLUMN recv_s INTEGER;"
    "ALTER TABLE run ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 1;"
    "CREATE UNIQUE INDEX run_by_id ON run(run_id);"
    "CREATE INDEX run_to_upload ON run(run_no) WHERE uploaded = 0;"
    "CREATE TABLE run_file(id BLOB PRIMARY KEY, recv_s INTEGER NOT NULL,"
    " ok INTEGER NOT NULL) WITHOUT ROWID;";

const char *const cat_migrations[KL_CAT_SCHEMA] = {
	cat_schema_sql,
	cat_schema2_sql,
	cat_schema3_sql,
	cat_schema4_sql,
	cat_schema5_sql,
	cat_schema6_sql,
	cat_schema7_sql,
	cat_schema8_sql,
	cat_schema9_sql,
};
