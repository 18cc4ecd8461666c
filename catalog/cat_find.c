/*
 * Queries over the file versions that cat_versions.c records (catalog.h
 * "file versions"): kl_cat_versions, the history of one path, and
 * kl_cat_find, the paths whose name or full path matches a pattern.
 *
 * The callbacks of both run after the mutex is released (the results are
 * collected first).
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "catalog_internal.h"

#define NONE SIZE_MAX
#define TOO_LONG (SIZE_MAX - 1)	/* fpath.full: over KL_PATH_MAX */

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
path_resolve(struct kl_cat *c, const char *path, int64_t *no, char *norm,
    struct kl_error *err)
{
	const char *p = path, *e;
	int64_t cur = CAT_ROOT_NO;
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
		if ((r = cat_path_get(c, cur, p, len, 0, &cur, err)) != KL_OK)
			return r;
		norm[nl++] = '/';
		memcpy(norm + nl, p, len);
		nl += len;
		p = e;
	}
	norm[nl] = '\0';
	if (cur == CAT_ROOT_NO)
		return KL_E_NOTFOUND;
	*no = cur;
	return KL_OK;
}

static int
vrow_read(struct kl_cat *c, sqlite3_stmt *st, struct vrow *row,
    struct kl_error *err)
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
	if (sqlite3_column_bytes(st, 7) != CAT_IDENT_LEN)
		return KL_E_CORRUPT;
	memcpy(v->content, sqlite3_column_blob(st, 7), CAT_IDENT_LEN);
	if ((r = cat_col_id(c, st, 8, &v->first, err)) != KL_OK ||
	    (r = cat_col_id(c, st, 10, &v->last, err)) != KL_OK)
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
vlist_load(struct kl_cat *c, int64_t no, const char *host, struct vlist *l,
    struct kl_error *err)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((r = cat_prepare(c, sql_versions, &st, err)) != KL_OK)
		return r;
	sqlite3_bind_int64(st, 1, no);
	if (host != NULL)
		sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = KL_GROW(l->v, l->cap, l->n + 1)) != KL_OK)
			break;
		r = vrow_read(c, st, &l->v[l->n], err);
		l->n++;			/* freed by vlist_clear either way */
		if (r != KL_OK)
			break;
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, "versions");
	sqlite3_reset(st);
	return r;
}

int
kl_cat_versions(struct kl_cat *c, const char *path, const char *host,
    int (*cb)(void *arg, const struct kl_cat_version *v), void *arg,
    struct kl_error *err)
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
	if ((r = path_resolve(c, path, &no, norm, err)) == KL_OK)
		r = vlist_load(c, no, host, &l, err);
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

/* Room for one more element after the n of array v. */
#define GROW(v, n, cap) KL_GROW((v), (cap), (n) + 1)

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
find_snaps(struct kl_cat *c, struct find *f, struct kl_error *err)
{
	sqlite3_stmt *st;
	struct fsnap *s;
	int r, rc;

	if ((r = cat_prepare(c, sql_find_snaps, &st, err)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = GROW(f->snaps, f->nsnaps, f->capsnaps)) != KL_OK)
			break;
		s = &f->snaps[f->nsnaps];
		s->no = sqlite3_column_int64(st, 0);
		s->time = sqlite3_column_int64(st, 2);
		if ((r = cat_col_id(c, st, 1, &s->id, err)) != KL_OK)
			break;
		f->nsnaps++;
	}
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, "find snapshots");
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
find_series(struct kl_cat *c, struct find *f, struct kl_error *err)
{
	sqlite3_stmt *st;
	struct fseries *s;
	const char *host;
	int r, rc;

	if ((r = cat_prepare(c, sql_find_series, &st, err)) != KL_OK)
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
		r = cat_sqlerr(c, err, rc, "find series");
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
find_paths(struct kl_cat *c, struct find *f, struct kl_error *err)
{
	const struct fpath *par;
	sqlite3_stmt *st;
	size_t i, off;
	int r, rc;

	if ((r = arena_reserve(&f->fulls, 1, &off)) != KL_OK)
		return r;
	f->fulls.d[off] = '\0';		/* offset 0: the root's "" */
	if ((r = cat_prepare(c, sql_find_paths, &st, err)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = path_row(st, f)) != KL_OK)
			break;
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, "find paths");
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
find_versions(struct kl_cat *c, struct find *f, struct kl_error *err)
{
	sqlite3_stmt *st;
	size_t cur = 0;
	int r, rc;

	if ((r = cat_prepare(c, sql_find_vers, &st, err)) != KL_OK)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = find_row(f, st, &cur)) != KL_OK)
			break;
	if (r == KL_OK && rc != SQLITE_DONE)
		r = cat_sqlerr(c, err, rc, "find versions");
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
    int (*cb)(void *arg, const struct kl_cat_found *f), void *arg,
    struct kl_error *err)
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
	if ((r = find_snaps(c, &f, err)) == KL_OK &&
	    (r = find_series(c, &f, err)) == KL_OK &&
	    (r = find_paths(c, &f, err)) == KL_OK)
		r = find_versions(c, &f, err);
	cat_unlock(c);
	if (r == KL_OK && (r = find_sort(&f)) == KL_OK)
		r = find_report(&f, cb, arg);
	find_clear(&f);
	return r;
}
