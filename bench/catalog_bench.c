/*
 * catalog_bench: the catalog's file versions on a synthetic history.
 * A benchmark, not a test: it prints numbers and judges nothing.
 *
 *   catalog_bench [FILES [DAYS [DIR]]]   (defaults 100000, 60, a new
 *                                        directory under /tmp)
 *
 * FILES file slots in FILES/100 directories under /data (5 % of the slots
 * start empty), DAYS nightly snapshots of one host, 1 % of the slots
 * changed each day (of those changes 90 % new content, 5 % deletions, 5 %
 * creations).  Then one more snapshot.  Measured:
 *   - kl_cat_snap_add of the DAYS snapshots;
 *   - kl_cat_versions_update of all of them (the full build) and of the
 *     one more (the incremental update), with the loader calls;
 *   - the database's size after close, and per table (SQLite's dbstat);
 *   - kl_cat_versions of 200 random files (median and max);
 *   - kl_cat_find for a name, a name glob, a directory glob, and "*".
 *
 * The trees are not stored: a tree id encodes (kind, directory, day of
 * its last change) and the loader generates the tree from the history,
 * allocating it as a decoder would.  Equal content has equal ids, as in
 * a repository, which is what the versions' Merkle walk depends on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"

#define SLOTS_PER_DIR 100
#define T0 1767225600			/* 2026-01-01 */
#define DAY 86400
#define QUERIES 200

enum { ID_ROOT = 1, ID_DATA = 2, ID_DIR = 3 };

struct hist {
	uint32_t files, dirs, days;	/* states: days + 1 */
	uint16_t *cv;			/* [state][slot]: content version,
					 * 0: absent */
	uint16_t *epoch;		/* [state][dir]: last change */
	uint64_t loads;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL) {
		fprintf(stderr, "catalog_bench: out of memory\n");
		exit(1);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		fprintf(stderr, "catalog_bench: out of memory\n");
		exit(1);
	}
	return p;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Exits on a failure, saying what the catalog recorded in e about it. */
static void
check(int rc, const char *what, const struct kl_error *e)
{
	if (rc == KL_OK)
		return;
	fprintf(stderr, "catalog_bench: %s: %s (%s)\n", what, kl_strerror(rc),
	    e->code == rc ? e->msg : "");
	exit(1);
}

/* One day of churn: 1 % of the slots. */
static void
hist_day(struct hist *h, uint32_t d, uint16_t *next, uint64_t *seed)
{
	uint16_t *cur = h->cv + (size_t)d * h->files;
	uint32_t i, slot, kind;

	memcpy(cur, cur - h->files, h->files * sizeof(*cur));
	memcpy(h->epoch + (size_t)d * h->dirs, h->epoch + (size_t)(d - 1) *
	    h->dirs, h->dirs * sizeof(*h->epoch));
	for (i = 0; i < h->files / 100; i++) {
		slot = (uint32_t)(rnd(seed) % h->files);
		kind = (uint32_t)(rnd(seed) % 20);
		if (kind == 0 && cur[slot] != 0)
			cur[slot] = 0;			/* deleted */
		else if (kind == 1 || cur[slot] != 0)
			cur[slot] = ++next[slot];	/* new content or
							 * created */
		else
			continue;
		h->epoch[(size_t)d * h->dirs + slot / SLOTS_PER_DIR] =
		    (uint16_t)d;
	}
}

static void
hist_make(struct hist *h, uint32_t files, uint32_t days)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint16_t *next;
	uint32_t i, d;

	h->files = files;
	h->dirs = (files + SLOTS_PER_DIR - 1) / SLOTS_PER_DIR;
	h->days = days;
	h->cv = xcalloc((size_t)(days + 1) * files, sizeof(*h->cv));
	h->epoch = xcalloc((size_t)(days + 1) * h->dirs, sizeof(*h->epoch));
	next = xcalloc(files, sizeof(*next));
	for (i = 0; i < files; i++)
		h->cv[i] = next[i] = i % 20 == 19 ? 0 : 1;
	for (d = 1; d <= days; d++)
		hist_day(h, d, next, &seed);
	free(next);
}

static struct kl_id
tree_id(uint8_t kind, uint32_t dir, uint32_t day)
{
	struct kl_id id;

	memset(&id, 0, sizeof(id));
	id.b[0] = kind;
	kl_le32enc(id.b + 1, dir);
	kl_le32enc(id.b + 5, day);
	id.b[31] = 0x5a;
	return id;
}

static void
node_dir(struct kl_node *n, const char *name, struct kl_id sub, uint32_t e)
{
	n->name = (uint8_t *)xstrdup(name);
	n->name_len = strlen(name);
	n->type = KL_NODE_DIR;
	n->mode = 0755;
	n->mtime.s = T0 + (int64_t)e * DAY;
	n->subtree = sub;
}

static void
node_file(struct kl_node *n, uint32_t slot, uint16_t cv)
{
	char name[16];

	snprintf(name, sizeof(name), "f%07u", slot);
	n->name = (uint8_t *)xstrdup(name);
	n->name_len = strlen(name);
	n->type = KL_NODE_FILE;
	n->mode = 0644;
	n->uid = n->gid = 1000;
	n->mtime.s = T0 + (int64_t)cv * 3600;
	n->atime = n->mtime;
	n->ctime = n->mtime;
	n->size = 1000 + slot % 100000;
	n->nlink = 1;
	n->inode = slot;
	n->chunks = xcalloc(1, sizeof(*n->chunks));
	n->nchunks = 1;
	kl_le32enc(n->chunks[0].b, slot);
	kl_le32enc(n->chunks[0].b + 4, cv);
}

static void
tree_data(const struct hist *h, uint32_t day, struct kl_tree *out)
{
	const uint16_t *ep = h->epoch + (size_t)day * h->dirs;
	char name[16];
	uint32_t i;

	out->nodes = xcalloc(h->dirs, sizeof(*out->nodes));
	out->n = h->dirs;
	for (i = 0; i < h->dirs; i++) {
		snprintf(name, sizeof(name), "d%05u", i);
		node_dir(&out->nodes[i], name, tree_id(ID_DIR, i, ep[i]),
		    ep[i]);
	}
}

static void
tree_dir(const struct hist *h, uint32_t dir, uint32_t e, struct kl_tree *out)
{
	const uint16_t *cv = h->cv + (size_t)e * h->files;
	uint32_t s, lo = dir * SLOTS_PER_DIR, hi = lo + SLOTS_PER_DIR;

	if (hi > h->files)
		hi = h->files;
	out->nodes = xcalloc(SLOTS_PER_DIR, sizeof(*out->nodes));
	out->n = 0;
	for (s = lo; s < hi; s++)
		if (cv[s] != 0)
			node_file(&out->nodes[out->n++], s, cv[s]);
}

static int
load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct hist *h = arg;
	uint32_t a = kl_le32dec(id->b + 1), b = kl_le32dec(id->b + 5);

	h->loads++;
	memset(out, 0, sizeof(*out));
	switch (id->b[0]) {
	case ID_ROOT:
		out->nodes = xcalloc(1, sizeof(*out->nodes));
		out->n = 1;
		node_dir(&out->nodes[0], "data", tree_id(ID_DATA, 0, b), b);
		return KL_OK;
	case ID_DATA:
		tree_data(h, b, out);
		return KL_OK;
	case ID_DIR:
		tree_dir(h, a, b, out);
		return KL_OK;
	default:
		return KL_E_NOTFOUND;
	}
}

static void
snap_add(struct kl_cat *c, const struct hist *h, uint32_t day)
{
	char *paths[] = { "/data" };
	struct kl_snapshot s;
	struct kl_error e;
	struct kl_id id;
	uint8_t seed[4];

	kl_error_clear(&e);
	memset(&s, 0, sizeof(s));
	s.time_s = T0 + (int64_t)day * DAY;
	s.tree = tree_id(ID_ROOT, 0, day);
	s.hostname = "bench";
	s.username = "root";
	s.paths = paths;
	s.npaths = 1;
	s.program = "catalog_bench";
	s.files = h->files;		/* at most: the walk's budget */
	s.dirs = h->dirs + 1;
	kl_le32enc(seed, day);
	kl_hash(seed, sizeof(seed), &id);
	check(kl_cat_snap_add(c, &id, &s, s.time_s + 60, &e), "snap_add", &e);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Per-table sizes through SQLite's dbstat table, if compiled in. */
static void
report_tables(const char *db)
{
	static const char sql[] = "SELECT name, sum(pgsize) FROM dbstat"
	    " GROUP BY name ORDER BY 2 DESC";
	sqlite3_stmt *st = NULL;
	sqlite3 *h = NULL;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("  (no dbstat: %s)\n", h != NULL ? sqlite3_errmsg(h) :
		    "");
		sqlite3_close(h);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		if (sqlite3_column_int64(st, 1) >= 65536)
			printf("  %-24s %8.2f MB\n", sqlite3_column_text(st, 0),
			    (double)sqlite3_column_int64(st, 1) / 1e6);
	sqlite3_finalize(st);
	sqlite3_close(h);
}

static int
ver_cb(void *arg, const struct kl_cat_version *v)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
bench_versions(struct kl_cat *c, const struct hist *h)
{
	double t[QUERIES], t0;
	uint64_t seed = 12345, rows = 0;
	struct kl_error e;
	char path[64];
	uint32_t slot;
	int i, rc;

	kl_error_clear(&e);
	for (i = 0; i < QUERIES; i++) {
		do
			slot = (uint32_t)(rnd(&seed) % h->files);
		while (h->cv[slot] == 0);	/* one in the first snapshot */
		snprintf(path, sizeof(path), "/data/d%05u/f%07u",
		    slot / SLOTS_PER_DIR, slot);
		t0 = now();
		rc = kl_cat_versions(c, path, NULL, ver_cb, &rows, &e);
		t[i] = now() - t0;
		check(rc, path, &e);
	}
	qsort(t, QUERIES, sizeof(t[0]), dbl_cmp);
	printf("kl_cat_versions: %d random files, %.2f versions each: median"
	    " %.3f ms, max %.3f ms\n", QUERIES, (double)rows / QUERIES,
	    t[QUERIES / 2] * 1e3, t[QUERIES - 1] * 1e3);
}

static int
find_cb(void *arg, const struct kl_cat_found *f)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static void
bench_find(struct kl_cat *c, const char *pattern)
{
	struct kl_error e;
	uint64_t n = 0;
	double t0 = now();

	kl_error_clear(&e);
	check(kl_cat_find(c, pattern, NULL, find_cb, &n, &e), pattern, &e);
	printf("kl_cat_find \"%s\": %llu paths, %.1f ms\n", pattern,
	    (unsigned long long)n, (now() - t0) * 1e3);
}

static struct kl_cat *
cat_open(const char *dir)
{
	struct kl_cat *c = NULL;
	struct kl_error e;
	struct kl_id repo;

	kl_error_clear(&e);
	memset(&repo, 0x11, sizeof(repo));
	check(kl_cat_open(dir, &repo, &c, NULL, &e), "open", &e);
	return c;
}

static void
update(struct kl_cat *c, struct hist *h, const char *what, uint32_t snaps)
{
	struct kl_cat_update u;
	struct kl_error e;
	double t0;

	kl_error_clear(&e);
	memset(&u, 0, sizeof(u));
	u.load = load;
	u.load_arg = h;
	h->loads = 0;
	t0 = now();
	check(kl_cat_versions_update(c, &u, &e), what, &e);
	printf("%s (%u snapshot%s): %.3f s, %llu trees loaded\n", what, snaps,
	    snaps == 1 ? "" : "s", now() - t0, (unsigned long long)h->loads);
}

static void
report_size(struct kl_cat *c, const char *dir)
{
	struct kl_cat_status st;
	struct kl_error e;
	char db[4200];

	kl_error_clear(&e);
	check(kl_cat_status(c, &st, &e), "status", &e);
	printf("catalog: %llu snapshots, %llu paths, %llu versions\n",
	    (unsigned long long)st.snapshots, (unsigned long long)st.paths,
	    (unsigned long long)st.versions);
	snprintf(db, sizeof(db), "%s/%s", dir, KL_CAT_FILE);
	kl_cat_close(c);
	printf("size after close: %.2f MB (%s)\n", (double)file_size(db) / 1e6,
	    db);
	report_tables(db);
}

struct atpick {
	int64_t t;
	int64_t best;
	int found;
};

static int
at_cb(void *arg, const struct kl_cat_snap *s)
{
	struct atpick *a = arg;
	int64_t t = kl_cat_snap_time(s);

	if (!s->vanished && t <= a->t && (!a->found || t >= a->best)) {
		a->best = t;
		a->found = 1;
	}
	return 0;
}

/*
 * The catalog's part of restore --at: choosing the newest snapshot at or
 * before a time among all of them (what the command does after listing
 * the repository's snapshot files), for random times in the history.
 */
static void
bench_at(struct kl_cat *c, uint32_t days)
{
	double t[QUERIES], t0;
	struct kl_error e;
	struct atpick a;
	int i;

	kl_error_clear(&e);
	for (i = 0; i < QUERIES; i++) {
		memset(&a, 0, sizeof(a));
		a.t = T0 + (int64_t)(rand() % (int)(days + 1)) * DAY + 7200;
		t0 = now();
		check(kl_cat_snap_foreach(c, NULL, 0, at_cb, &a, &e), "at",
		    &e);
		t[i] = now() - t0;
	}
	qsort(t, QUERIES, sizeof(t[0]), dbl_cmp);
	printf("restore --at planning (catalog part), %d random times: "
	    "median %.3f ms, max %.3f ms\n", QUERIES, t[QUERIES / 2] * 1e3,
	    t[QUERIES - 1] * 1e3);
}

int
main(int argc, char **argv)
{
	uint32_t files = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) :
	    100000;
	uint32_t days = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 60;
	char dir[256];
	struct kl_cat *c;
	struct hist h;
	uint32_t d;
	double t0;

	if (files < SLOTS_PER_DIR || days < 1 || days > 60000) {
		fprintf(stderr, "usage: catalog_bench [FILES [DAYS [DIR]]]\n");
		return 2;
	}
	if (argc > 3)
		snprintf(dir, sizeof(dir), "%s", argv[3]);
	else
		snprintf(dir, sizeof(dir), "/tmp/kluis-catbench-%ld",
		    (long)getpid());
	memset(&h, 0, sizeof(h));
	hist_make(&h, files, days);
	printf("history: %u file slots in %u directories, %u days + 1, 1 %%"
	    " daily churn; catalog in %s\n", files, h.dirs, days, dir);
	c = cat_open(dir);
	t0 = now();
	for (d = 0; d < days; d++)
		snap_add(c, &h, d);
	printf("kl_cat_snap_add x %u: %.3f s\n", days, now() - t0);
	update(c, &h, "full build", days);
	snap_add(c, &h, days);
	update(c, &h, "incremental update", 1);
	report_size(c, dir);
	c = cat_open(dir);
	bench_versions(c, &h);
	bench_at(c, days);
	bench_find(c, "f0012345");
	bench_find(c, "f00123*");
	bench_find(c, "/data/d00012/*");
	bench_find(c, "*");
	kl_cat_close(c);
	free(h.cv);
	free(h.epoch);
	return 0;
}
