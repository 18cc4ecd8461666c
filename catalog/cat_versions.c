/*
 * File versions as change intervals (catalog.h "file versions").
 *
 * A version row says: in series S, path X had one identity from snapshot
 * first_snap to last_snap (NULL: still in S's newest processed snapshot,
 * series.last_snap).  kl_cat_versions_update compares each new snapshot of
 * a series with the previous one by walking both trees together from the
 * root and descending only where subtree ids differ.  Trees are Merkle
 * trees: equal subtree ids mean nothing below changed, so an incremental
 * update loads and writes in proportion to what changed, not to the size
 * of the tree.
 *
 * Identities, 16 bytes each: unkeyed BLAKE2b-128 of the following, every
 * integer little-endian, every count and length a u64:
 *   content  file:     nchunks, the chunk ids (32 bytes each), nholes,
 *                      then off, len of each hole
 *            dir:      the subtree id (32 bytes)
 *            symlink:  the target's bytes (NULL as "")
 *            chr, blk: rdev (u64)
 *            others:   nothing
 *   meta     type (u8), mode, uid, gid (u32 each), len and bytes of user,
 *            len and bytes of group (NULL as ""), mtime.s (i64 as u64),
 *            mtime.ns (u32), size (u64), nxattrs, then len and bytes of
 *            the name and len and bytes of the value of each xattr.
 * atime, ctime, inode, device, nlink and link_group are left out: they
 * change without the file changing (reading it, a restore to another
 * disk, a new hard link elsewhere), and a version for each such change
 * would bury the real ones.  A directory's content is its subtree id: it
 * gets a version whenever anything below it changed.
 *
 * The path table is a tree of names shared by all series; path_no 1 is
 * "/" (parent_no 0, empty name).  "/" is no node of any tree, so it has no
 * version rows: kl_cat_versions("/") is KL_E_NOTFOUND.
 *
 * The callbacks of kl_cat_versions and kl_cat_find run after the mutex is
 * released (the results are collected first).  load and progress of
 * kl_cat_versions_update run inside the update with the (recursive)
 * mutex held: they may call the catalog from the same thread, e.g. to
 * find a tree blob's pack; their reads see the update's transaction.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/treewalk.h"
#include "catalog_internal.h"

#define ROOT_NO 1
#define IDENT_LEN 16
#define NONE SIZE_MAX
#define TOO_LONG (SIZE_MAX - 1)	/* fpath.full: over KL_PATH_MAX */

struct ident {
	uint8_t content[IDENT_LEN];
	uint8_t meta[IDENT_LEN];
};

/* One snapshot being recorded. */
struct walk {
	struct kl_cat *c;
	const struct kl_cat_update *u;
	kl_cat_tree_fn load;
	void *load_arg;
	unsigned factor;		/* budget factor (kluis/treewalk.h) */
	int64_t series;
	int64_t snap;			/* N, being recorded */
	int64_t prev;			/* P, the series' last_snap (0: none) */
	struct kl_id id;		/* N's id */
	uint64_t files, dirs;		/* what N declares */
	struct kl_walk_budget budget;
	struct kl_walk_stats st;
	int tree_err;			/* a tree did not load (its error) */
};

static const char sql_root[] =
    "INSERT OR IGNORE INTO path(path_no, parent_no, name) VALUES(1, 0, X'')";
static const char sql_path_get[] =
    "SELECT path_no FROM path WHERE parent_no = ?1 AND name = ?2";
static const char sql_path_add[] =
    "INSERT INTO path(parent_no, name) VALUES(?1, ?2)";
static const char sql_ver_add[] =
    "INSERT INTO version(path_no, series_no, first_snap, last_snap, type,"
    " mode, uid, gid, size, mtime_s, mtime_ns, content, meta)"
    " VALUES(?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char sql_ver_close[] =
    "UPDATE version SET last_snap = ?3 WHERE path_no = ?1 AND"
    " series_no = ?2 AND last_snap IS NULL";
/* UNION, not UNION ALL: a damaged path table with a cycle still ends. */
static const char sql_ver_close_below[] =
    "WITH RECURSIVE d(no) AS (SELECT path_no FROM path WHERE parent_no = ?1"
    " UNION SELECT p.path_no FROM path p JOIN d ON p.parent_no = d.no)"
    " UPDATE version SET last_snap = ?3 WHERE series_no = ?2 AND"
    " last_snap IS NULL AND path_no IN (SELECT no FROM d)";

/*
 * A series is rebuilt when what is recorded no longer follows its
 * snapshots in order: a recorded snapshot vanished, the newest recorded
 * one is gone from the table, or a pending one sorts before the newest
 * recorded one (it arrived late, or reappeared).  kl_cat_snap_add and
 * kl_cat_snap_mark_vanished set series.rebuild themselves; this is the
 * guard of the versions' own invariant, whoever changed the snapshots.
 */
static const char sql_mark_rebuild[] =
    "UPDATE series SET rebuild = 1 WHERE rebuild = 0 AND ("
    " EXISTS (SELECT 1 FROM snapshot s WHERE s.series_no = series.series_no"
    " AND s.vanished = 1 AND s.done = 1)"
    " OR (last_snap <> 0 AND NOT EXISTS (SELECT 1 FROM snapshot l"
    " WHERE l.snap_no = series.last_snap))"
    " OR EXISTS (SELECT 1 FROM snapshot s JOIN snapshot l ON"
    " l.snap_no = series.last_snap WHERE s.series_no = series.series_no"
    " AND s.done = 0 AND s.vanished = 0 AND"
    " (s.time_s, s.time_ns, s.id) < (l.time_s, l.time_ns, l.id)))";
static const char sql_reset_ver[] =
    "DELETE FROM version WHERE series_no IN"
    " (SELECT series_no FROM series WHERE rebuild = 1)";
static const char sql_reset_snap[] =
    "UPDATE snapshot SET done = 0 WHERE done <> 0 AND series_no IN"
    " (SELECT series_no FROM series WHERE rebuild = 1)";
static const char sql_reset_series[] =
    "UPDATE series SET last_snap = 0, rebuild = 0 WHERE rebuild = 1";
static const char sql_pending[] =
    "SELECT snap_no FROM snapshot WHERE done = 0 AND vanished = 0"
    " ORDER BY series_no, time_s, time_ns, id";
/*
 * N's state, read again inside its transaction (another process may have
 * recorded it meanwhile): skip it, N's series, P and their trees, and
 * whether N sorts after P.
 */
static const char sql_prev[] =
    "SELECT n.done OR n.vanished, n.series_no, s.last_snap, n.tree, l.tree,"
    " l.snap_no IS NULL OR (n.time_s, n.time_ns, n.id) >"
    " (l.time_s, l.time_ns, l.id), n.id, n.files, n.dirs,"
    " coalesce(l.files, 0), coalesce(l.dirs, 0)"
    " FROM snapshot n JOIN series s ON s.series_no = n.series_no"
    " LEFT JOIN snapshot l ON l.snap_no = s.last_snap WHERE n.snap_no = ?1";
static const char sql_set_rebuild[] =
    "UPDATE series SET rebuild = 1 WHERE series_no = ?1";
static const char sql_snap_done[] =
    "UPDATE snapshot SET done = 1 WHERE snap_no = ?1";
/* done = 2: skipped, its trees could not be walked (CATALOG.md). */
static const char sql_snap_skip[] =
    "UPDATE snapshot SET done = 2 WHERE snap_no = ?1";
static const char sql_series_last[] =
    "UPDATE series SET last_snap = ?2 WHERE series_no = ?1";

/* ---- small SQLite helpers ---- */

/* Steps a writing statement to its end and resets it. */
static int
step_done(struct kl_cat *c, sqlite3_stmt *st, const char *what)
{
	int rc, r = KL_OK;

	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		r = cat_sqlerr(c, rc, what);
	sqlite3_reset(st);
	return r;
}

/* Prepares sql and runs it with up to three integer parameters. */
static int
run3(struct kl_cat *c, const char *sql, int64_t a, int64_t b, int64_t d,
    const char *what)
{
	sqlite3_stmt *st;
	int r, np;

	if ((r = cat_prepare(c, sql, &st)) != KL_OK)
		return r;
	np = sqlite3_bind_parameter_count(st);
	if (np >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (np >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (np >= 3)
		sqlite3_bind_int64(st, 3, d);
	return step_done(c, st, what);
}

/* A zero-length blob must not be bound from a NULL pointer (that binds
 * NULL). */
static void
bind_name(sqlite3_stmt *st, int i, const void *p, size_t len)
{
	sqlite3_bind_blob(st, i, len > 0 ? p : "", (int)len, SQLITE_STATIC);
}

/* ---- identities ---- */

static void
h_u64(crypto_generichash_state *h, uint64_t v)
{
	uint8_t b[8];

	kl_le64enc(b, v);
	crypto_generichash_update(h, b, sizeof(b));
}

static void
h_u32(crypto_generichash_state *h, uint32_t v)
{
	uint8_t b[4];

	kl_le32enc(b, v);
	crypto_generichash_update(h, b, sizeof(b));
}

static void
h_bytes(crypto_generichash_state *h, const void *p, size_t len)
{
	h_u64(h, len);
	if (len > 0)
		crypto_generichash_update(h, p, len);
}

static void
h_str(crypto_generichash_state *h, const char *s)
{
	h_bytes(h, s, s != NULL ? strlen(s) : 0);
}

static void
ident_content(const struct kl_node *n, uint8_t out[IDENT_LEN])
{
	crypto_generichash_state h;
	size_t i;

	crypto_generichash_init(&h, NULL, 0, IDENT_LEN);
	switch (n->type) {
	case KL_NODE_FILE:
		h_u64(&h, n->nchunks);
		for (i = 0; i < n->nchunks; i++)
			crypto_generichash_update(&h, n->chunks[i].b, KL_ID_LEN);
		h_u64(&h, n->nholes);
		for (i = 0; i < n->nholes; i++) {
			h_u64(&h, n->holes[i].off);
			h_u64(&h, n->holes[i].len);
		}
		break;
	case KL_NODE_DIR:
		crypto_generichash_update(&h, n->subtree.b, KL_ID_LEN);
		break;
	case KL_NODE_SYMLINK:
		if (n->target != NULL)
			crypto_generichash_update(&h,
			    (const uint8_t *)n->target, strlen(n->target));
		break;
	case KL_NODE_CHR:
	case KL_NODE_BLK:
		h_u64(&h, n->rdev);
		break;
	default:
		break;
	}
	crypto_generichash_final(&h, out, IDENT_LEN);
}

static void
ident_meta(const struct kl_node *n, uint8_t out[IDENT_LEN])
{
	crypto_generichash_state h;
	uint8_t t = n->type;
	size_t i;

	crypto_generichash_init(&h, NULL, 0, IDENT_LEN);
	crypto_generichash_update(&h, &t, 1);
	h_u32(&h, n->mode);
	h_u32(&h, n->uid);
	h_u32(&h, n->gid);
	h_str(&h, n->user);
	h_str(&h, n->group);
	h_u64(&h, (uint64_t)n->mtime.s);
	h_u32(&h, n->mtime.ns);
	h_u64(&h, n->size);
	h_u64(&h, n->nxattrs);
	for (i = 0; i < n->nxattrs; i++) {
		h_str(&h, n->xattrs[i].name);
		h_bytes(&h, n->xattrs[i].value, n->xattrs[i].value_len);
	}
	crypto_generichash_final(&h, out, IDENT_LEN);
}

static void
ident_of(const struct kl_node *n, struct ident *id)
{
	ident_content(n, id->content);
	ident_meta(n, id->meta);
}

void
kl_cat_node_identity(const struct kl_node *n, uint8_t content[16],
    uint8_t meta[16])
{
	ident_content(n, content);
	ident_meta(n, meta);
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static int
xattrs_eq(const struct kl_node *a, const struct kl_node *b)
{
	size_t i;

	if (a->nxattrs != b->nxattrs)
		return 0;
	for (i = 0; i < a->nxattrs; i++)
		if (!str_eq(a->xattrs[i].name, b->xattrs[i].name) ||
		    a->xattrs[i].value_len != b->xattrs[i].value_len ||
		    (a->xattrs[i].value_len > 0 && memcmp(a->xattrs[i].value,
		    b->xattrs[i].value, a->xattrs[i].value_len) != 0))
			return 0;
	return 1;
}

static int
content_eq(const struct kl_node *a, const struct kl_node *b)
{
	switch (a->type) {
	case KL_NODE_FILE:
		return a->nchunks == b->nchunks && a->nholes == b->nholes &&
		    (a->nchunks == 0 || memcmp(a->chunks, b->chunks,
		    a->nchunks * sizeof(*a->chunks)) == 0) &&
		    (a->nholes == 0 || memcmp(a->holes, b->holes,
		    a->nholes * sizeof(*a->holes)) == 0);
	case KL_NODE_DIR:
		return memcmp(a->subtree.b, b->subtree.b, KL_ID_LEN) == 0;
	case KL_NODE_SYMLINK:
		return str_eq(a->target, b->target);
	case KL_NODE_CHR:
	case KL_NODE_BLK:
		return a->rdev == b->rdev;
	default:
		return 1;
	}
}

/*
 * 1 if every input of both identities is equal (so are the identities).
 * Most entries of a changed directory did not change: comparing them
 * field by field costs far less than two BLAKE2b each.  0 means "hash and
 * compare": it may miss nothing the identities cover.
 */
static int
ident_inputs_eq(const struct kl_node *a, const struct kl_node *b)
{
	return a->type == b->type && a->mode == b->mode &&
	    a->uid == b->uid && a->gid == b->gid &&
	    a->mtime.s == b->mtime.s && a->mtime.ns == b->mtime.ns &&
	    a->size == b->size && str_eq(a->user, b->user) &&
	    str_eq(a->group, b->group) && xattrs_eq(a, b) && content_eq(a, b);
}

/* ---- paths and version rows ---- */

/*
 * The path_no of name in directory parent; created if create, else
 * KL_E_NOTFOUND when unknown.
 */
static int
path_get(struct kl_cat *c, int64_t parent, const void *name, size_t len,
    int create, int64_t *no)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((r = cat_prepare(c, sql_path_get, &st)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name, len);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*no = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "path lookup");
	sqlite3_reset(st);
	if (r != KL_OK || rc == SQLITE_ROW)
		return r;
	if (!create)
		return KL_E_NOTFOUND;
	if ((r = cat_prepare(c, sql_path_add, &st)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name, len);
	if ((r = step_done(c, st, "path insert")) == KL_OK)
		*no = sqlite3_last_insert_rowid(c->db);
	return r;
}

static int
node_path(struct walk *w, int64_t dir, const struct kl_node *n, int64_t *no)
{
	return path_get(w->c, dir, n->name, n->name_len, 1, no);
}

/* Opens a row for node n at path no: first seen in N. */
static int
ver_open(struct walk *w, int64_t no, const struct kl_node *n,
    const struct ident *id)
{
	sqlite3_stmt *st;
	int r;

	if ((r = cat_prepare(w->c, sql_ver_add, &st)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, no);
	sqlite3_bind_int64(st, 2, w->series);
	sqlite3_bind_int64(st, 3, w->snap);
	sqlite3_bind_int(st, 4, n->type);
	sqlite3_bind_int64(st, 5, n->mode);
	sqlite3_bind_int64(st, 6, n->uid);
	sqlite3_bind_int64(st, 7, n->gid);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)n->size);
	sqlite3_bind_int64(st, 9, n->mtime.s);
	sqlite3_bind_int64(st, 10, n->mtime.ns);
	sqlite3_bind_blob(st, 11, id->content, IDENT_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 12, id->meta, IDENT_LEN, SQLITE_STATIC);
	return step_done(w->c, st, "version insert");
}

/* Closes the open row of path no: last seen in P. */
static int
ver_close(struct walk *w, int64_t no)
{
	return run3(w->c, sql_ver_close, no, w->series, w->prev,
	    "version close");
}

/*
 * Closes the open rows of everything below directory no.  Through the path
 * table rather than the old trees: a removed subtree costs no tree loads.
 */
static int
ver_close_below(struct walk *w, int64_t no)
{
	return run3(w->c, sql_ver_close_below, no, w->series, w->prev,
	    "version close below");
}

/* ---- walking trees ---- */

/*
 * Snapshot N against P, the previous one of its series, as one walk over
 * both trees side by side (kluis/treewalk.h): side A is P, side B is N,
 * and each level's tag is the path_no of its directory.  The walk keeps
 * its own stack and counts what it loads against the budget N and P
 * declare, so a chain of 100,000 directories costs memory, not the call
 * stack, and a few trees whose directories name each other many times
 * over stop at the budget instead of writing a row per path forever.
 * Rows are per path, so there is nothing to memoise by tree id here
 * beyond what the Merkle comparison already skips.
 */

/* n (and, entered, everything below it) is new in N. */
static int
node_add(struct walk *w, struct kl_walk *kw, int64_t dir,
    const struct kl_node *n)
{
	struct ident id;
	int64_t no;
	int r;

	ident_of(n, &id);
	if ((r = node_path(w, dir, n, &no)) != KL_OK ||
	    (r = ver_open(w, no, n, &id)) != KL_OK)
		return r;
	kl_walk_set_tag(kw, (uint64_t)no);
	return n->type == KL_NODE_DIR ? KL_WALK_B : 0;
}

/* o (and everything below it) is gone in N. */
static int
node_gone(struct walk *w, int64_t dir, const struct kl_node *o)
{
	int64_t no;
	int r;

	/* Not in the path table: nothing of it was ever recorded. */
	r = path_get(w->c, dir, o->name, o->name_len, 0, &no);
	if (r == KL_E_NOTFOUND)
		return KL_OK;
	if (r != KL_OK || (r = ver_close(w, no)) != KL_OK)
		return r;
	if (o->type == KL_NODE_DIR)
		r = ver_close_below(w, no);
	return r;
}

/* The same name in P (o) and N (n); which subtrees to walk on. */
static int
node_both(struct walk *w, struct kl_walk *kw, int64_t dir,
    const struct kl_node *o, const struct kl_node *n)
{
	struct ident io, in;
	int odir = o->type == KL_NODE_DIR, ndir = n->type == KL_NODE_DIR;
	int64_t no;
	int r;

	/* Equal identities imply equal subtree ids: nothing below changed. */
	if (ident_inputs_eq(o, n))
		return 0;
	ident_of(o, &io);
	ident_of(n, &in);
	if (memcmp(&io, &in, sizeof(io)) == 0)
		return 0;
	if ((r = node_path(w, dir, n, &no)) != KL_OK ||
	    (r = ver_close(w, no)) != KL_OK ||
	    (r = ver_open(w, no, n, &in)) != KL_OK)
		return r;
	kl_walk_set_tag(kw, (uint64_t)no);
	if (odir && ndir)
		return memcmp(o->subtree.b, n->subtree.b, KL_ID_LEN) != 0 ?
		    KL_WALK_A | KL_WALK_B : 0;
	if (odir)
		return ver_close_below(w, no);
	return ndir ? KL_WALK_B : 0;
}

static int
walk_entry(void *arg, struct kl_walk *kw, const struct kl_node *o,
    const struct kl_node *n)
{
	struct walk *w = arg;
	int64_t dir = (int64_t)*kl_walk_tagp(kw, 0);

	if (n == NULL)
		return node_gone(w, dir, o);
	if (o == NULL)
		return node_add(w, kw, dir, n);
	return node_both(w, kw, dir, o, n);
}

/* A tree that does not load or is unsorted: remembered, so that the
 * update can tell it from the catalog's own errors. */
static int
walk_fail(void *arg, struct kl_walk *kw, int side, const struct kl_id *id,
    int err)
{
	struct walk *w = arg;

	(void)kw;
	(void)side;
	(void)id;
	w->tree_err = err;
	return err;
}

/* Walks P's tree old (NULL: none) against N's tree new from the root. */
static int
walk_trees(struct walk *w, const struct kl_id *old, const struct kl_id *new,
    const struct kl_walk_budget *b)
{
	struct kl_walk_ops ops;

	memset(&ops, 0, sizeof(ops));
	ops.load = w->load;
	ops.load_arg = w->load_arg;
	ops.entry = walk_entry;
	ops.fail = walk_fail;
	return kl_walk_run(&ops, w, old, new, b, ROOT_NO, &w->st);
}

/* ---- recording snapshots ---- */

struct prev {
	int skip;			/* recorded, skipped or vanished
					 * meanwhile */
	int older;			/* N sorts before P: rebuild */
	int64_t series, prev;
	struct kl_id id, tn, tp;
	uint64_t nfiles, ndirs, pfiles, pdirs;
};

static int
prev_read(struct kl_cat *c, sqlite3_stmt *st, struct prev *p)
{
	int r;

	p->skip = sqlite3_column_int(st, 0) != 0;
	p->series = sqlite3_column_int64(st, 1);
	p->prev = sqlite3_column_int64(st, 2);
	p->older = sqlite3_column_int(st, 5) == 0;
	p->nfiles = (uint64_t)sqlite3_column_int64(st, 7);
	p->ndirs = (uint64_t)sqlite3_column_int64(st, 8);
	p->pfiles = (uint64_t)sqlite3_column_int64(st, 9);
	p->pdirs = (uint64_t)sqlite3_column_int64(st, 10);
	if ((r = cat_col_id(c, st, 3, &p->tn)) != KL_OK ||
	    (r = cat_col_id(c, st, 6, &p->id)) != KL_OK)
		return r;
	if (p->prev == 0)
		return KL_OK;
	/* last_snap names a snapshot that is gone: rebuild. */
	if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
		p->older = 1;
		return KL_OK;
	}
	return cat_col_id(c, st, 4, &p->tp);
}

static int
prev_get(struct kl_cat *c, int64_t snap, struct prev *p)
{
	sqlite3_stmt *st;
	int r, rc;

	memset(p, 0, sizeof(*p));
	if ((r = cat_prepare(c, sql_prev, &st)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, snap);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = prev_read(c, st, p);
	else if (rc == SQLITE_DONE)
		p->skip = 1;		/* forgotten meanwhile */
	else
		r = cat_sqlerr(c, rc, "snapshot state");
	sqlite3_reset(st);
	return r;
}

/* Records snapshot w->snap; runs inside its savepoint. */
static int
snap_walk(struct walk *w)
{
	struct kl_cat *c = w->c;
	struct kl_walk_budget bp;
	struct prev p;
	int r = KL_OK;

	if ((r = prev_get(c, w->snap, &p)) != KL_OK || p.skip)
		return r;
	if (p.older)
		return run3(c, sql_set_rebuild, p.series, 0, 0, "rebuild");
	w->series = p.series;
	w->prev = p.prev;
	w->id = p.id;
	w->files = p.nfiles;
	w->dirs = p.ndirs;
	kl_walk_budget_init(&w->budget, p.nfiles, p.ndirs, w->factor);
	if ((r = cat_exec(c, sql_root, "root path")) != KL_OK)
		return r;
	if (p.prev == 0)
		r = walk_trees(w, NULL, &p.tn, &w->budget);
	else if (memcmp(p.tp.b, p.tn.b, KL_ID_LEN) != 0) {
		kl_walk_budget_init(&bp, p.pfiles, p.pdirs, w->factor);
		kl_walk_budget_add(&w->budget, &bp);
		r = walk_trees(w, &p.tp, &p.tn, &w->budget);
	}
	if (r != KL_OK ||
	    (r = run3(c, sql_snap_done, w->snap, 0, 0, "snapshot done")) !=
	    KL_OK)
		return r;
	return run3(c, sql_series_last, w->series, w->snap, 0, "series last");
}

/* One snapshot, one transaction (a savepoint inside a caller's
 * kl_cat_begin): an error leaves nothing of it behind. */
static int
snap_record(struct walk *w, int64_t snap)
{
	int r;

	w->snap = snap;
	w->tree_err = 0;
	memset(&w->st, 0, sizeof(w->st));
	memset(&w->id, 0, sizeof(w->id));
	if ((r = cat_tx_begin(w->c)) != KL_OK)
		return r;
	return cat_tx_end(w->c, snap_walk(w));
}

/*
 * 1 if r means that N's (or P's) trees cannot be walked: a tree is
 * missing, damaged, unsorted or over a limit, or the walk exceeds the
 * budget.  Not the catalog's own errors, nor the loader's I/O, memory
 * or connection errors: those stop the update.
 */
static int
snap_unwalkable(const struct walk *w, int r)
{
	if (r == KL_E_LIMIT && w->st.over != KL_WALK_WITHIN)
		return 1;
	return w->tree_err != 0 && r == w->tree_err &&
	    (r == KL_E_NOTFOUND || r == KL_E_CORRUPT ||
	    r == KL_E_UNSUPPORTED || r == KL_E_LIMIT);
}

/* Marks w->snap skipped (its savepoint was rolled back) and reports it. */
static int
snap_skip(struct walk *w, int err)
{
	char why[256];
	int r;

	if ((r = cat_tx_begin(w->c)) != KL_OK)
		return r;
	r = cat_tx_end(w->c, run3(w->c, sql_snap_skip, w->snap, 0, 0,
	    "snapshot skipped"));
	if (r != KL_OK || w->u->skipped == NULL)
		return r;
	if (w->st.over != KL_WALK_WITHIN)
		kl_walk_over_str(&w->st, &w->budget, w->files, w->dirs, why,
		    sizeof(why));
	w->u->skipped(w->u->skipped_arg, &w->id, err,
	    w->st.over != KL_WALK_WITHIN ? why : NULL);
	return KL_OK;
}

/*
 * Flags the series to rebuild and resets them, in one transaction of its
 * own: if a snapshot of a series being rebuilt then fails to load, the
 * series is left consistent (fewer snapshots recorded, the rest pending)
 * and the next update goes on from there.
 */
static int
queue_reset(struct kl_cat *c)
{
	int r;

	if ((r = cat_tx_begin(c)) != KL_OK)
		return r;
	if ((r = run3(c, sql_mark_rebuild, 0, 0, 0, "rebuild check")) ==
	    KL_OK &&
	    (r = run3(c, sql_reset_ver, 0, 0, 0, "rebuild")) == KL_OK &&
	    (r = run3(c, sql_reset_snap, 0, 0, 0, "rebuild")) == KL_OK)
		r = run3(c, sql_reset_series, 0, 0, 0, "rebuild");
	return cat_tx_end(c, r);
}

/* The snapshots to record, per series in time order; *out malloc'd. */
static int
queue_list(struct kl_cat *c, int64_t **out, size_t *n)
{
	sqlite3_stmt *st;
	int64_t *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*n = 0;
	if ((r = cat_prepare(c, sql_pending, &st)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = KL_E_NOMEM;
				break;
			}
			v = nv;
		}
		v[len++] = sqlite3_column_int64(st, 0);
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "pending snapshots");
	sqlite3_reset(st);
	if (r != KL_OK) {
		free(v);
		return r;
	}
	*out = v;
	*n = len;
	return KL_OK;
}

int
kl_cat_versions_update(struct kl_cat *c, const struct kl_cat_update *u)
{
	struct walk w;
	int64_t *snaps = NULL;
	size_t n = 0, i;
	int r;

	if (c == NULL || u == NULL || u->load == NULL)
		return KL_E_INVAL;
	memset(&w, 0, sizeof(w));
	w.c = c;
	w.u = u;
	w.load = u->load;
	w.load_arg = u->load_arg;
	w.factor = u->budget_factor;
	cat_lock(c);
	if ((r = queue_reset(c)) != KL_OK ||
	    (r = queue_list(c, &snaps, &n)) != KL_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = snap_record(&w, snaps[i])) != KL_OK &&
		    (!snap_unwalkable(&w, r) || (r = snap_skip(&w, r)) !=
		    KL_OK))
			goto out;
		if (u->progress != NULL)
			u->progress(u->progress_arg, i + 1, n);
	}
out:
	cat_unlock(c);
	free(snaps);
	return r;
}

int64_t
kl_cat_snap_time(const struct kl_cat_snap *s)
{
	return s->recv_s != KL_CAT_TIME_NONE ? s->recv_s : s->time_s;
}

/* ---- kl_cat_versions ---- */

static const char sql_versions[] =
    "SELECT v.type, v.mode, v.uid, v.gid, v.size, v.mtime_s, v.mtime_ns,"
    " v.content, f.id, coalesce(f.recv_s, f.time_s), l.id,"
    " coalesce(l.recv_s, l.time_s), v.last_snap IS NULL, s.host"
    " FROM version v JOIN series s ON s.series_no = v.series_no"
    " JOIN snapshot f ON f.snap_no = v.first_snap"
    " JOIN snapshot l ON l.snap_no = coalesce(v.last_snap, s.last_snap)"
    " WHERE v.path_no = ?1 AND (?2 IS NULL OR s.host = ?2)"
    " ORDER BY coalesce(f.recv_s, f.time_s), f.time_s, f.time_ns, f.id";

struct vrow {
	struct kl_cat_version v;
	char *host;
};

struct vlist {
	struct vrow *v;
	size_t n, cap;
};

static void
vlist_clear(struct vlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].host);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * The path_no of absolute path (empty components are skipped) and its
 * normalised form in norm (at least strlen(path) + 1 bytes).
 * KL_E_NOTFOUND if unknown, or "/".
 */
static int
path_resolve(struct kl_cat *c, const char *path, int64_t *no, char *norm)
{
	const char *p = path, *e;
	int64_t cur = ROOT_NO;
	size_t nl = 0, len;
	int r;

	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		len = (size_t)(e - p);
		if (len > KL_NAME_MAX)
			return KL_E_NOTFOUND;
		if ((r = path_get(c, cur, p, len, 0, &cur)) != KL_OK)
			return r;
		norm[nl++] = '/';
		memcpy(norm + nl, p, len);
		nl += len;
		p = e;
	}
	norm[nl] = '\0';
	if (cur == ROOT_NO)
		return KL_E_NOTFOUND;
	*no = cur;
	return KL_OK;
}

static int
vrow_read(struct kl_cat *c, sqlite3_stmt *st, struct vrow *row)
{
	struct kl_cat_version *v = &row->v;
	const char *host;
	int r;

	memset(row, 0, sizeof(*row));
	v->type = (uint8_t)sqlite3_column_int(st, 0);
	v->mode = (uint32_t)sqlite3_column_int64(st, 1);
	v->uid = (uint32_t)sqlite3_column_int64(st, 2);
	v->gid = (uint32_t)sqlite3_column_int64(st, 3);
	v->size = (uint64_t)sqlite3_column_int64(st, 4);
	v->mtime.s = sqlite3_column_int64(st, 5);
	v->mtime.ns = (uint32_t)sqlite3_column_int64(st, 6);
	if (sqlite3_column_bytes(st, 7) != IDENT_LEN)
		return KL_E_CORRUPT;
	memcpy(v->content, sqlite3_column_blob(st, 7), IDENT_LEN);
	if ((r = cat_col_id(c, st, 8, &v->first)) != KL_OK ||
	    (r = cat_col_id(c, st, 10, &v->last)) != KL_OK)
		return r;
	v->first_time = sqlite3_column_int64(st, 9);
	v->last_time = sqlite3_column_int64(st, 11);
	v->in_latest = sqlite3_column_int(st, 12);
	if ((host = (const char *)sqlite3_column_text(st, 13)) == NULL ||
	    (row->host = strdup(host)) == NULL)
		return KL_E_NOMEM;
	return KL_OK;
}

static int
vlist_load(struct kl_cat *c, int64_t no, const char *host, struct vlist *l)
{
	sqlite3_stmt *st;
	struct vrow *nv;
	int r, rc;

	if ((r = cat_prepare(c, sql_versions, &st)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, no);
	if (host != NULL)
		sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			if ((nv = realloc(l->v, l->cap * sizeof(*nv))) ==
			    NULL) {
				r = KL_E_NOMEM;
				break;
			}
			l->v = nv;
		}
		r = vrow_read(c, st, &l->v[l->n]);
		l->n++;			/* freed by vlist_clear either way */
		if (r != KL_OK)
			break;
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "versions");
	sqlite3_reset(st);
	return r;
}

int
kl_cat_versions(struct kl_cat *c, const char *path, const char *host,
    int (*cb)(void *arg, const struct kl_cat_version *v), void *arg)
{
	struct vlist l = { 0 };
	char *norm = NULL;
	int64_t no;
	size_t i;
	int r;

	if (c == NULL || path == NULL || cb == NULL || path[0] != '/')
		return KL_E_INVAL;
	if (strlen(path) > KL_PATH_MAX)
		return KL_E_LIMIT;
	if ((norm = malloc(strlen(path) + 1)) == NULL)
		return KL_E_NOMEM;
	cat_lock(c);
	if ((r = path_resolve(c, path, &no, norm)) == KL_OK)
		r = vlist_load(c, no, host, &l);
	cat_unlock(c);
	if (r == KL_OK && l.n == 0)
		r = KL_E_NOTFOUND;
	for (i = 0; r == KL_OK && i < l.n; i++) {
		l.v[i].v.path = norm;
		l.v[i].v.host = l.v[i].host;
		r = cb(arg, &l.v[i].v);
	}
	vlist_clear(&l);
	free(norm);
	return r;
}

/* ---- kl_cat_find ---- */

/*
 * Done in memory: the snapshot and series tables are small; the path
 * table is read once in path_no order and full paths are built only for
 * the paths needed, each from its parent's (memoised); the version table
 * is scanned once in its key order (path_no first) and aggregated per
 * (path, host).  SQL per path would cost a statement per path.
 */

static const char sql_find_snaps[] =
    "SELECT snap_no, id, coalesce(recv_s, time_s) FROM snapshot"
    " ORDER BY snap_no";
static const char sql_find_series[] =
    "SELECT series_no, host, last_snap FROM series ORDER BY series_no";
static const char sql_find_paths[] =
    "SELECT path_no, parent_no, name FROM path ORDER BY path_no";
static const char sql_find_vers[] =
    "SELECT path_no, series_no, first_snap, last_snap FROM version"
    " ORDER BY path_no";

struct fsnap {
	int64_t no, time;
	struct kl_id id;
};

struct fseries {
	int64_t no, last;
	size_t host;			/* index into find.hosts */
	int want;			/* of the host asked for */
};

struct fpath {
	int64_t no, parent_no;
	size_t parent;			/* index; NONE: none (root) */
	size_t name;			/* offset into find.names */
	size_t full, full_len;		/* offset into find.fulls;
					 * NONE: not built yet */
	int match;			/* -1: not tested yet */
};

struct fgroup {
	size_t path, host;
	uint64_t n;
	size_t first, last;		/* indexes into find.snaps */
	int in_latest;
	const char *path_s;		/* set once every path is built */
};

struct arena {
	char *d;
	size_t len, cap;
};

struct find {
	const char *pattern;
	int whole;			/* pattern has a '/' */
	const char *host;
	struct fsnap *snaps;
	size_t nsnaps, capsnaps;
	struct fseries *series;
	size_t nseries, capseries;
	char **hosts;
	size_t nhosts, caphosts;
	struct fpath *paths;
	size_t npaths, cappaths;
	struct fgroup *res;
	size_t nres, capres;
	size_t *chain;			/* scratch for path_build */
	size_t capchain;
	struct arena names, fulls;
};

/* Makes room for one more element in *v (of elem bytes, *cap of them). */
static int
grow(void **v, size_t n, size_t *cap, size_t elem)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return KL_OK;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > SIZE_MAX / elem || (nv = realloc(*v, ncap * elem)) == NULL)
		return KL_E_NOMEM;
	*v = nv;
	*cap = ncap;
	return KL_OK;
}

#define GROW(v, n, cap) grow((void **)&(v), (n), &(cap), sizeof(*(v)))

/* Reserves len bytes at the end of a: their offset in *off. */
static int
arena_reserve(struct arena *a, size_t len, size_t *off)
{
	size_t ncap;
	char *nd;

	if (len > SIZE_MAX / 2 - a->len)
		return KL_E_NOMEM;
	if (a->len + len > a->cap) {
		ncap = a->cap ? a->cap : 4096;
		while (ncap < a->len + len)
			ncap *= 2;
		if ((nd = realloc(a->d, ncap)) == NULL)
			return KL_E_NOMEM;
		a->d = nd;
		a->cap = ncap;
	}
	*off = a->len;
	a->len += len;
	return KL_OK;
}

static void
find_clear(struct find *f)
{
	size_t i;

	for (i = 0; i < f->nhosts; i++)
		free(f->hosts[i]);
	free(f->hosts);
	free(f->snaps);
	free(f->series);
	free(f->paths);
	free(f->res);
	free(f->chain);
	free(f->names.d);
	free(f->fulls.d);
}

static int
find_snaps(struct kl_cat *c, struct find *f)
{
	sqlite3_stmt *st;
	struct fsnap *s;
	int r, rc;

	if ((r = cat_prepare(c, sql_find_snaps, &st)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = GROW(f->snaps, f->nsnaps, f->capsnaps)) != KL_OK)
			break;
		s = &f->snaps[f->nsnaps];
		s->no = sqlite3_column_int64(st, 0);
		s->time = sqlite3_column_int64(st, 2);
		if ((r = cat_col_id(c, st, 1, &s->id)) != KL_OK)
			break;
		f->nsnaps++;
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "find snapshots");
	sqlite3_reset(st);
	return r;
}

/* The index of host in f->hosts, added if new. */
static int
host_index(struct find *f, const char *host, size_t *ix)
{
	size_t i;
	int r;

	for (i = 0; i < f->nhosts; i++)
		if (strcmp(f->hosts[i], host) == 0) {
			*ix = i;
			return KL_OK;
		}
	if ((r = GROW(f->hosts, f->nhosts, f->caphosts)) != KL_OK)
		return r;
	if ((f->hosts[f->nhosts] = strdup(host)) == NULL)
		return KL_E_NOMEM;
	*ix = f->nhosts++;
	return KL_OK;
}

static int
find_series(struct kl_cat *c, struct find *f)
{
	sqlite3_stmt *st;
	struct fseries *s;
	const char *host;
	int r, rc;

	if ((r = cat_prepare(c, sql_find_series, &st)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = GROW(f->series, f->nseries, f->capseries)) != KL_OK)
			break;
		s = &f->series[f->nseries];
		s->no = sqlite3_column_int64(st, 0);
		s->last = sqlite3_column_int64(st, 2);
		if ((host = (const char *)sqlite3_column_text(st, 1)) == NULL) {
			r = KL_E_NOMEM;
			break;
		}
		s->want = f->host == NULL || strcmp(f->host, host) == 0;
		if ((r = host_index(f, host, &s->host)) != KL_OK)
			break;
		f->nseries++;
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "find series");
	sqlite3_reset(st);
	return r;
}

static int
path_row(sqlite3_stmt *st, struct find *f)
{
	const void *name = sqlite3_column_blob(st, 2);
	size_t len = (size_t)sqlite3_column_bytes(st, 2);
	struct fpath *p;
	int r;

	if ((r = GROW(f->paths, f->npaths, f->cappaths)) != KL_OK)
		return r;
	p = &f->paths[f->npaths];
	p->no = sqlite3_column_int64(st, 0);
	p->parent_no = sqlite3_column_int64(st, 1);
	p->parent = NONE;
	p->full = NONE;
	p->full_len = 0;
	p->match = -1;
	if ((r = arena_reserve(&f->names, len + 1, &p->name)) != KL_OK)
		return r;
	if (len > 0)
		memcpy(f->names.d + p->name, name, len);
	f->names.d[p->name + len] = '\0';
	/* The root's full path is "" (its children's are "/" name). */
	if (p->parent_no == 0) {
		p->full = 0;
		p->full_len = 0;
	}
	f->npaths++;
	return KL_OK;
}

static int
fpath_cmp(const void *k, const void *e)
{
	int64_t a = *(const int64_t *)k, b = ((const struct fpath *)e)->no;

	return a < b ? -1 : a > b;
}

/* Reads the path table and links every row to its parent's index. */
static int
find_paths(struct kl_cat *c, struct find *f)
{
	const struct fpath *par;
	sqlite3_stmt *st;
	size_t i, off;
	int r, rc;

	if ((r = arena_reserve(&f->fulls, 1, &off)) != KL_OK)
		return r;
	f->fulls.d[off] = '\0';		/* offset 0: the root's "" */
	if ((r = cat_prepare(c, sql_find_paths, &st)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = path_row(st, f)) != KL_OK)
			break;
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "find paths");
	sqlite3_reset(st);
	for (i = 0; r == KL_OK && i < f->npaths; i++) {
		if (f->paths[i].parent_no == 0)
			continue;
		par = bsearch(&f->paths[i].parent_no, f->paths, f->npaths,
		    sizeof(*f->paths), fpath_cmp);
		if (par != NULL)
			f->paths[i].parent = (size_t)(par - f->paths);
	}
	return r;
}

/*
 * Appends path i's full path: its parent's, '/', its name.  A path longer
 * than KL_PATH_MAX (a chain of directories as deep as the repository
 * likes) is marked TOO_LONG instead: building every such path would cost
 * the square of the depth.
 */
static int
path_join(struct find *f, size_t i)
{
	struct fpath *p = &f->paths[i], *par = &f->paths[p->parent];
	const char *name = f->names.d + p->name;
	size_t nl = strlen(name), off;
	int r;

	if (par->full == TOO_LONG || par->full_len + 1 + nl > KL_PATH_MAX) {
		p->full = TOO_LONG;
		return KL_OK;
	}
	if ((r = arena_reserve(&f->fulls, par->full_len + nl + 2, &off)) !=
	    KL_OK)
		return r;
	memcpy(f->fulls.d + off, f->fulls.d + par->full, par->full_len);
	f->fulls.d[off + par->full_len] = '/';
	memcpy(f->fulls.d + off + par->full_len + 1, name, nl + 1);
	p->full = off;
	p->full_len = par->full_len + 1 + nl;
	return KL_OK;
}

/*
 * Builds path i's full path, and those of its ancestors not built yet.
 * Not relying on parents preceding children: the chain is walked up to
 * the nearest built ancestor.  KL_E_CORRUPT for an orphan or a cycle.
 */
static int
path_build(struct find *f, size_t i)
{
	size_t depth = 0, k = i;
	int r;

	while (f->paths[k].full == NONE) {
		if (depth >= f->npaths)
			return KL_E_CORRUPT;
		if ((r = GROW(f->chain, depth, f->capchain)) != KL_OK)
			return r;
		f->chain[depth++] = k;
		if ((k = f->paths[k].parent) == NONE)
			return KL_E_CORRUPT;
	}
	while (depth > 0)
		if ((r = path_join(f, f->chain[--depth])) != KL_OK)
			return r;
	return KL_OK;
}

static int
path_match(struct find *f, size_t i, int *m)
{
	struct fpath *p = &f->paths[i];
	const char *s;
	int r;

	if (p->match < 0) {
		if (f->whole) {
			if ((r = path_build(f, i)) != KL_OK)
				return r;
			if (p->full == TOO_LONG) {
				p->match = 0;
				*m = 0;
				return KL_OK;
			}
			s = f->fulls.d + p->full;
		} else
			s = f->names.d + p->name;
		p->match = fnmatch(f->pattern, s,
		    f->whole ? FNM_PATHNAME : 0) == 0;
	}
	*m = p->match;
	return KL_OK;
}

static size_t
snap_index(const struct find *f, int64_t no)
{
	size_t lo = 0, hi = f->nsnaps, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (f->snaps[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nsnaps && f->snaps[lo].no == no ? lo : NONE;
}

static const struct fseries *
series_find(const struct find *f, int64_t no)
{
	size_t lo = 0, hi = f->nseries, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (f->series[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nseries && f->series[lo].no == no ? &f->series[lo] :
	    NULL;
}

/*
 * Adds one version row to the group of (path, host).  Rows come in path
 * order, so that group, if any, is among the last groups added.
 */
static int
group_add(struct find *f, size_t path, size_t host, size_t first,
    size_t last, int open)
{
	struct fgroup *g = NULL;
	size_t k;
	int r;

	for (k = f->nres; k > 0 && f->res[k - 1].path == path; k--)
		if (f->res[k - 1].host == host) {
			g = &f->res[k - 1];
			break;
		}
	if (g == NULL) {
		if ((r = GROW(f->res, f->nres, f->capres)) != KL_OK)
			return r;
		g = &f->res[f->nres++];
		memset(g, 0, sizeof(*g));
		g->path = path;
		g->host = host;
		g->first = first;
		g->last = last;
	}
	g->n++;
	if (f->snaps[first].time < f->snaps[g->first].time)
		g->first = first;
	if (f->snaps[last].time > f->snaps[g->last].time)
		g->last = last;
	g->in_latest |= open;
	return KL_OK;
}

/* One version row; rows of unknown paths, series or snapshots (a damaged
 * catalog) are skipped: find reports what it can. */
static int
find_row(struct find *f, sqlite3_stmt *st, size_t *cur)
{
	int64_t no = sqlite3_column_int64(st, 0);
	const struct fseries *s;
	size_t first, last;
	int open, m, r;

	while (*cur < f->npaths && f->paths[*cur].no < no)
		(*cur)++;
	if (*cur == f->npaths || f->paths[*cur].no != no)
		return KL_OK;
	s = series_find(f, sqlite3_column_int64(st, 1));
	if (s == NULL || !s->want)
		return KL_OK;
	if ((r = path_match(f, *cur, &m)) != KL_OK || !m)
		return r;
	open = sqlite3_column_type(st, 3) == SQLITE_NULL;
	first = snap_index(f, sqlite3_column_int64(st, 2));
	last = snap_index(f, open ? s->last : sqlite3_column_int64(st, 3));
	if (first == NONE || last == NONE)
		return KL_OK;
	return group_add(f, *cur, s->host, first, last, open);
}

static int
find_versions(struct kl_cat *c, struct find *f)
{
	sqlite3_stmt *st;
	size_t cur = 0;
	int r, rc;

	if ((r = cat_prepare(c, sql_find_vers, &st)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = find_row(f, st, &cur)) != KL_OK)
			break;
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, rc, "find versions");
	sqlite3_reset(st);
	return r;
}

/*
 * Tree order: component by component, bytewise, a prefix first - which is
 * bytewise order with '/' below every other byte.  A directory comes right
 * before what it holds ("/a", "/a/x", "/a b").
 */
static int
path_order(const char *a, const char *b)
{
	unsigned ca, cb;

	for (;; a++, b++) {
		ca = *a == '/' ? 1 : *a == '\0' ? 0 : (unsigned char)*a + 1u;
		cb = *b == '/' ? 1 : *b == '\0' ? 0 : (unsigned char)*b + 1u;
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca == 0)
			return 0;
	}
}

static int
group_cmp(const void *x, const void *y, void *arg)
{
	const struct fgroup *a = x, *b = y;
	const struct find *f = arg;
	int d;

	if ((d = path_order(a->path_s, b->path_s)) != 0)
		return d;
	return strcmp(f->hosts[a->host], f->hosts[b->host]);
}

/* Builds every result's path (dropping those too long), then sorts the
 * results. */
static int
find_sort(struct find *f)
{
	size_t i, w = 0;
	int r;

	for (i = 0; i < f->nres; i++) {
		if ((r = path_build(f, f->res[i].path)) != KL_OK)
			return r;
		if (f->paths[f->res[i].path].full != TOO_LONG)
			f->res[w++] = f->res[i];
	}
	f->nres = w;
	/* The arena no longer moves: pointers into it are stable now. */
	for (i = 0; i < f->nres; i++)
		f->res[i].path_s = f->fulls.d + f->paths[f->res[i].path].full;
	if (f->nres > 1)
		qsort_r(f->res, f->nres, sizeof(*f->res), group_cmp, f);
	return KL_OK;
}

static int
find_report(struct find *f, int (*cb)(void *, const struct kl_cat_found *),
    void *arg)
{
	struct kl_cat_found o;
	const struct fgroup *g;
	size_t i;
	int r = KL_OK;

	for (i = 0; r == KL_OK && i < f->nres; i++) {
		g = &f->res[i];
		memset(&o, 0, sizeof(o));
		o.path = g->path_s;
		o.host = f->hosts[g->host];
		o.versions = g->n;
		o.first = f->snaps[g->first].id;
		o.last = f->snaps[g->last].id;
		o.first_time = f->snaps[g->first].time;
		o.last_time = f->snaps[g->last].time;
		o.in_latest = g->in_latest;
		r = cb(arg, &o);
	}
	return r;
}

int
kl_cat_find(struct kl_cat *c, const char *pattern, const char *host,
    int (*cb)(void *arg, const struct kl_cat_found *f), void *arg)
{
	struct find f;
	int r;

	if (c == NULL || pattern == NULL || cb == NULL)
		return KL_E_INVAL;
	memset(&f, 0, sizeof(f));
	f.pattern = pattern;
	f.whole = strchr(pattern, '/') != NULL;
	f.host = host;
	cat_lock(c);
	if ((r = find_snaps(c, &f)) == KL_OK &&
	    (r = find_series(c, &f)) == KL_OK &&
	    (r = find_paths(c, &f)) == KL_OK)
		r = find_versions(c, &f);
	cat_unlock(c);
	if (r == KL_OK && (r = find_sort(&f)) == KL_OK)
		r = find_report(&f, cb, arg);
	find_clear(&f);
	return r;
}
