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
 * load and progress of kl_cat_versions_update run inside the update with
 * the (recursive) mutex held: they may call the catalog from the same
 * thread, e.g. to find a tree blob's pack; their reads see the update's
 * transaction.  The queries over these rows are in cat_find.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/treewalk.h"
#include "catalog_internal.h"


struct ident {
	uint8_t content[CAT_IDENT_LEN];
	uint8_t meta[CAT_IDENT_LEN];
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
	struct kl_error *err;		/* the catalog's errors while N is
					 * recorded */
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
step_done(struct kl_cat *c, sqlite3_stmt *st, const char *what,
    struct kl_error *err)
{
	int rc, r = KL_OK;

	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, what);
	sqlite3_reset(st);
	return r;
}

/* Prepares sql and runs it with up to three integer parameters. */
static int
run3(struct kl_cat *c, const char *sql, int64_t a, int64_t b, int64_t d,
    const char *what, struct kl_error *err)
{
	sqlite3_stmt *st;
	int r, np;

	if ((r = cat_prepare(c, sql, &st, err)) != KL_OK)
		return r;
	np = sqlite3_bind_parameter_count(st);
	if (np >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (np >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (np >= 3)
		sqlite3_bind_int64(st, 3, d);
	return step_done(c, st, what, err);
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
ident_content(const struct kl_node *n, uint8_t out[CAT_IDENT_LEN])
{
	crypto_generichash_state h;
	size_t i;

	crypto_generichash_init(&h, NULL, 0, CAT_IDENT_LEN);
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
	crypto_generichash_final(&h, out, CAT_IDENT_LEN);
}

static void
ident_meta(const struct kl_node *n, uint8_t out[CAT_IDENT_LEN])
{
	crypto_generichash_state h;
	uint8_t t = n->type;
	size_t i;

	crypto_generichash_init(&h, NULL, 0, CAT_IDENT_LEN);
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
	crypto_generichash_final(&h, out, CAT_IDENT_LEN);
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

int
cat_path_get(struct kl_cat *c, int64_t parent, const void *name, size_t len,
    int create, int64_t *no, struct kl_error *err)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((r = cat_prepare(c, sql_path_get, &st, err)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name, len);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*no = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, "path lookup");
	sqlite3_reset(st);
	if (r != KL_OK || rc == SQLITE_ROW)
		return r;
	if (!create)
		return KL_E_NOTFOUND;
	if ((r = cat_prepare(c, sql_path_add, &st, err)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, parent);
	bind_name(st, 2, name, len);
	if ((r = step_done(c, st, "path insert", err)) == KL_OK)
		*no = sqlite3_last_insert_rowid(c->db);
	return r;
}

static int
node_path(struct walk *w, int64_t dir, const struct kl_node *n, int64_t *no)
{
	return cat_path_get(w->c, dir, n->name, n->name_len, 1, no, w->err);
}

/* Opens a row for node n at path no: first seen in N. */
static int
ver_open(struct walk *w, int64_t no, const struct kl_node *n,
    const struct ident *id)
{
	sqlite3_stmt *st;
	int r;

	if ((r = cat_prepare(w->c, sql_ver_add, &st, w->err)) != KL_OK)
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
	sqlite3_bind_blob(st, 11, id->content, CAT_IDENT_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 12, id->meta, CAT_IDENT_LEN, SQLITE_STATIC);
	return step_done(w->c, st, "version insert", w->err);
}

/* Closes the open row of path no: last seen in P. */
static int
ver_close(struct walk *w, int64_t no)
{
	return run3(w->c, sql_ver_close, no, w->series, w->prev,
	    "version close", w->err);
}

/*
 * Closes the open rows of everything below directory no.  Through the path
 * table rather than the old trees: a removed subtree costs no tree loads.
 */
static int
ver_close_below(struct walk *w, int64_t no)
{
	return run3(w->c, sql_ver_close_below, no, w->series, w->prev,
	    "version close below", w->err);
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
	r = cat_path_get(w->c, dir, o->name, o->name_len, 0, &no, w->err);
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
	return kl_walk_run(&ops, w, old, new, b, CAT_ROOT_NO, &w->st);
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
prev_read(struct kl_cat *c, sqlite3_stmt *st, struct prev *p,
    struct kl_error *err)
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
	if ((r = cat_col_id(c, st, 3, &p->tn, err)) != KL_OK ||
	    (r = cat_col_id(c, st, 6, &p->id, err)) != KL_OK)
		return r;
	if (p->prev == 0)
		return KL_OK;
	/* last_snap names a snapshot that is gone: rebuild. */
	if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
		p->older = 1;
		return KL_OK;
	}
	return cat_col_id(c, st, 4, &p->tp, err);
}

static int
prev_get(struct kl_cat *c, int64_t snap, struct prev *p, struct kl_error *err)
{
	sqlite3_stmt *st;
	int r, rc;

	memset(p, 0, sizeof(*p));
	if ((r = cat_prepare(c, sql_prev, &st, err)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, snap);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = prev_read(c, st, p, err);
	else if (rc == SQLITE_DONE)
		p->skip = 1;		/* forgotten meanwhile */
	else
		r = cat_sqlerr(c, err, rc, "snapshot state");
	sqlite3_reset(st);
	return r;
}

/* Records snapshot w->snap; runs inside its savepoint. */
static int
snap_walk(struct walk *w)
{
	struct kl_cat *c = w->c;
	struct kl_error *err = w->err;
	struct kl_walk_budget bp;
	struct prev p;
	int r = KL_OK;

	if ((r = prev_get(c, w->snap, &p, err)) != KL_OK || p.skip)
		return r;
	if (p.older)
		return run3(c, sql_set_rebuild, p.series, 0, 0, "rebuild",
		    err);
	w->series = p.series;
	w->prev = p.prev;
	w->id = p.id;
	w->files = p.nfiles;
	w->dirs = p.ndirs;
	kl_walk_budget_init(&w->budget, p.nfiles, p.ndirs, w->factor);
	if ((r = cat_exec(c, sql_root, "root path", err)) != KL_OK)
		return r;
	if (p.prev == 0)
		r = walk_trees(w, NULL, &p.tn, &w->budget);
	else if (memcmp(p.tp.b, p.tn.b, KL_ID_LEN) != 0) {
		kl_walk_budget_init(&bp, p.pfiles, p.pdirs, w->factor);
		kl_walk_budget_add(&w->budget, &bp);
		r = walk_trees(w, &p.tp, &p.tn, &w->budget);
	}
	if (r != KL_OK || (r = run3(c, sql_snap_done, w->snap, 0, 0,
	    "snapshot done", err)) != KL_OK)
		return r;
	return run3(c, sql_series_last, w->series, w->snap, 0, "series last",
	    err);
}

/* One snapshot, one transaction (a savepoint inside a caller's
 * kl_cat_begin): an error leaves nothing of it behind. */
static int
snap_record(struct walk *w, int64_t snap, struct kl_error *err)
{
	int r;

	w->err = err;
	w->snap = snap;
	w->tree_err = 0;
	memset(&w->st, 0, sizeof(w->st));
	memset(&w->id, 0, sizeof(w->id));
	if ((r = cat_tx_begin(w->c, w->err)) != KL_OK)
		return r;
	return cat_tx_end(w->c, snap_walk(w), w->err);
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

/* Marks w->snap skipped (its savepoint was rolled back) and reports it
 * (code: why its trees could not be walked). */
static int
snap_skip(struct walk *w, int code, struct kl_error *err)
{
	char why[256];
	int r;

	if ((r = cat_tx_begin(w->c, err)) != KL_OK)
		return r;
	r = cat_tx_end(w->c, run3(w->c, sql_snap_skip, w->snap, 0, 0,
	    "snapshot skipped", err), err);
	if (r != KL_OK || w->u->skipped == NULL)
		return r;
	if (w->st.over != KL_WALK_WITHIN)
		kl_walk_over_str(&w->st, &w->budget, w->files, w->dirs, why,
		    sizeof(why));
	w->u->skipped(w->u->skipped_arg, &w->id, code,
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
queue_reset(struct kl_cat *c, struct kl_error *err)
{
	int r;

	if ((r = cat_tx_begin(c, err)) != KL_OK)
		return r;
	if ((r = run3(c, sql_mark_rebuild, 0, 0, 0, "rebuild check", err)) ==
	    KL_OK &&
	    (r = run3(c, sql_reset_ver, 0, 0, 0, "rebuild", err)) == KL_OK &&
	    (r = run3(c, sql_reset_snap, 0, 0, 0, "rebuild", err)) == KL_OK)
		r = run3(c, sql_reset_series, 0, 0, 0, "rebuild", err);
	return cat_tx_end(c, r, err);
}

/* The snapshots to record, per series in time order; *out malloc'd. */
static int
queue_list(struct kl_cat *c, int64_t **out, size_t *n, struct kl_error *err)
{
	sqlite3_stmt *st;
	int64_t *v = NULL;
	size_t len = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*n = 0;
	if ((r = cat_prepare(c, sql_pending, &st, err)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = KL_GROW(v, cap, len + 1)) != KL_OK)
			break;
		v[len++] = sqlite3_column_int64(st, 0);
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, "pending snapshots");
	sqlite3_reset(st);
	if (r != KL_OK) {
		free(v);
		return r;
	}
	*out = v;
	*n = len;
	return KL_OK;
}

/*
 * What the catalog reports while a snapshot is recorded goes to a local
 * error first: a snapshot whose trees cannot be walked is skipped, no
 * failure of the update.  Copied to err only when the catalog said
 * something: a loader that stopped the update may have filled err itself
 * (through its own argument), and that detail stays.
 */
int
kl_cat_versions_update(struct kl_cat *c, const struct kl_cat_update *u,
    struct kl_error *err)
{
	struct kl_error e;
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
	if ((r = queue_reset(c, err)) != KL_OK ||
	    (r = queue_list(c, &snaps, &n, err)) != KL_OK)
		goto out;
	for (i = 0; i < n; i++) {
		kl_error_clear(&e);
		if ((r = snap_record(&w, snaps[i], &e)) != KL_OK) {
			if (!snap_unwalkable(&w, r)) {
				if (err != NULL && kl_error_isset(&e))
					*err = e;
				goto out;
			}
			if ((r = snap_skip(&w, r, err)) != KL_OK)
				goto out;
		}
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
