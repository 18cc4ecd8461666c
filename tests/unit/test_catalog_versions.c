/*
 * Unit tests of the catalog's file versions (catalog/cat_versions.c):
 * kl_cat_versions_update, kl_cat_versions, kl_cat_find.
 *
 * Every test gets a fresh temporary catalog and a small model file system
 * (struct ent): a test edits the model, takes a snapshot of it (the trees
 * are encoded with kl_tree_encode and kept in memory by their kl_hash id,
 * the snapshot added with kl_cat_snap_add), updates the versions through
 * an in-memory tree loader that counts its calls and can be told to fail,
 * and checks what kl_cat_versions and kl_cat_find report.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"

#define ENTS_MAX 64
#define ENT_PATH_MAX 128
#define SNAPS_MAX 32
#define ROWS_MAX 32
#define T0 1700000000

/* One file system object of the model. */
struct ent {
	char path[ENT_PATH_MAX];	/* absolute */
	uint8_t type;
	uint32_t mode, uid;
	int64_t mtime, atime, ctime;
	uint64_t inode;
	uint32_t nlink;
	uint8_t seed;			/* content: chunk id bytes, target */
	uint64_t rdev;
};

struct stored_tree {
	struct kl_id id;
	uint8_t *data;
	size_t len;
	unsigned loads;
};

struct fx {
	struct kl_cat *c;
	struct ent ents[ENTS_MAX];
	size_t nents;
	struct stored_tree *trees;
	size_t ntrees;
	unsigned loads;			/* loader calls */
	struct kl_id fail;		/* the loader fails for this id */
	int failing;
	int fail_err;			/* with this error (0: KL_E_IO) */
	int reenter;			/* the loader calls into the catalog */
	int unsort;			/* the loader swaps two entries */
	uint32_t snap_counter;
	unsigned skips;			/* snapshots reported skipped */
	int skip_err;			/* the last one's error */
	struct kl_id skip_id;
	char skip_why[256];
};

struct vrow {
	struct kl_cat_version v;
	char path[ENT_PATH_MAX];
	char host[32];
};

struct vrows {
	struct vrow r[ROWS_MAX];
	size_t n;
};

struct frow {
	struct kl_cat_found f;
	char path[ENT_PATH_MAX];
	char host[32];
};

struct frows {
	struct frow r[ROWS_MAX];
	size_t n;
};

/* ---- the model ---- */

static struct ent *
ent_get(struct fx *f, const char *path)
{
	size_t i;

	for (i = 0; i < f->nents; i++)
		if (strcmp(f->ents[i].path, path) == 0)
			return &f->ents[i];
	return NULL;
}

/* Adds (or replaces) path with default attributes. */
static struct ent *
ent_put(struct fx *f, const char *path, uint8_t type, uint8_t seed)
{
	struct ent *e = ent_get(f, path);

	if (e == NULL) {
		assert_true(f->nents < ENTS_MAX);
		e = &f->ents[f->nents++];
	}
	memset(e, 0, sizeof(*e));
	assert_true(strlen(path) < sizeof(e->path));
	strcpy(e->path, path);
	e->type = type;
	e->mode = type == KL_NODE_DIR ? 0755 : 0644;
	e->uid = 1000;
	e->mtime = T0;
	e->atime = T0;
	e->ctime = T0;
	e->inode = 1 + f->nents;
	e->nlink = 1;
	e->seed = seed;
	return e;
}

static void
file_put(struct fx *f, const char *path, uint8_t seed)
{
	ent_put(f, path, KL_NODE_FILE, seed);
}

static void
dir_put(struct fx *f, const char *path)
{
	ent_put(f, path, KL_NODE_DIR, 0);
}

/* Removes path and everything below it. */
static void
ent_del(struct fx *f, const char *path)
{
	size_t i = 0, pl = strlen(path);

	while (i < f->nents) {
		if (strcmp(f->ents[i].path, path) == 0 ||
		    (strncmp(f->ents[i].path, path, pl) == 0 &&
		    f->ents[i].path[pl] == '/'))
			f->ents[i] = f->ents[--f->nents];
		else
			i++;
	}
}

/* ---- trees ---- */

static void
tree_store(struct fx *f, const struct buf *b, struct kl_id *id)
{
	struct stored_tree *t;
	size_t i;

	kl_hash(buf_data(b), buf_size(b), id);
	for (i = 0; i < f->ntrees; i++)
		if (kl_id_eq(&f->trees[i].id, id))
			return;
	f->trees = realloc(f->trees, (f->ntrees + 1) * sizeof(*f->trees));
	assert_non_null(f->trees);
	t = &f->trees[f->ntrees++];
	t->id = *id;
	t->len = buf_size(b);
	assert_non_null(t->data = malloc(t->len));
	memcpy(t->data, buf_data(b), t->len);
	t->loads = 0;
}

static struct stored_tree *
tree_find(struct fx *f, const struct kl_id *id)
{
	size_t i;

	for (i = 0; i < f->ntrees; i++)
		if (kl_id_eq(&f->trees[i].id, id))
			return &f->trees[i];
	return NULL;
}

static int
node_name_cmp(const void *x, const void *y)
{
	const struct kl_node *a = x, *b = y;

	return kl_name_cmp(a->name, a->name_len, b->name, b->name_len);
}

static void dir_build(struct fx *, const char *, struct kl_id *);

static void
node_fill(struct fx *f, const struct ent *e, const char *name,
    struct kl_node *n, struct kl_id *chunk, char *target)
{
	memset(n, 0, sizeof(*n));
	n->name = (uint8_t *)(uintptr_t)name;
	n->name_len = strlen(name);
	n->type = e->type;
	n->mode = e->mode;
	n->uid = e->uid;
	n->gid = 100;
	n->user = "user";
	n->group = "users";
	n->mtime.s = e->mtime;
	n->atime.s = e->atime;
	n->ctime.s = e->ctime;
	n->inode = e->inode;
	n->nlink = e->nlink;
	n->target = "";
	if (e->type == KL_NODE_FILE) {
		memset(chunk->b, e->seed, KL_ID_LEN);
		n->chunks = chunk;
		n->nchunks = 1;
		n->size = 4096;
	} else if (e->type == KL_NODE_SYMLINK) {
		snprintf(target, 8, "t%u", e->seed);
		n->target = target;
		n->size = strlen(target);
	} else if (e->type == KL_NODE_CHR || e->type == KL_NODE_BLK)
		n->rdev = e->rdev;
	else if (e->type == KL_NODE_DIR)
		dir_build(f, e->path, &n->subtree);
}

/* Encodes and stores the tree of directory prefix ("" for "/"). */
static void
dir_build(struct fx *f, const char *prefix, struct kl_id *id)
{
	struct kl_node nodes[ENTS_MAX];
	struct kl_id chunks[ENTS_MAX];
	char targets[ENTS_MAX][8];
	struct kl_tree t = { nodes, 0 };
	size_t i, pl = strlen(prefix);
	const char *name;
	struct buf *b;

	for (i = 0; i < f->nents; i++) {
		if (strncmp(f->ents[i].path, prefix, pl) != 0 ||
		    f->ents[i].path[pl] != '/')
			continue;
		name = f->ents[i].path + pl + 1;
		if (strchr(name, '/') != NULL)
			continue;
		node_fill(f, &f->ents[i], name, &nodes[t.n], &chunks[t.n],
		    targets[t.n]);
		t.n++;
	}
	qsort(nodes, t.n, sizeof(*nodes), node_name_cmp);
	assert_non_null(b = buf_new(BUF_MAX_DEFAULT));
	assert_int_equal(kl_tree_encode(&t, b), KL_OK);
	tree_store(f, b, id);
	buf_free(b);
}

static struct kl_id
dir_id(struct fx *f, const char *path)
{
	struct kl_id id;

	dir_build(f, path, &id);
	return id;
}

/* ---- snapshots ---- */

/* Takes a snapshot of the model as host's backup of paths (a
 * '\n'-separated list) at time t (recv: server time or
 * KL_CAT_TIME_NONE). */
static struct kl_id
snap_at(struct fx *f, const char *host, const char *paths, int64_t t,
    int64_t recv)
{
	char pbuf[256], *pv[8], *save = NULL, *p;
	struct kl_snapshot s;
	struct kl_id id;
	uint8_t seed[8];

	memset(&s, 0, sizeof(s));
	dir_build(f, "", &s.tree);
	assert_true(strlen(paths) < sizeof(pbuf));
	strcpy(pbuf, paths);
	for (p = strtok_r(pbuf, "\n", &save); p != NULL;
	    p = strtok_r(NULL, "\n", &save)) {
		assert_true(s.npaths < 8);
		pv[s.npaths++] = p;
	}
	s.paths = pv;
	s.time_s = t;
	s.hostname = (char *)(uintptr_t)host;
	s.username = "root";
	s.program = "test";
	kl_le64enc(seed, ++f->snap_counter);
	kl_hash(seed, sizeof(seed), &id);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, recv, NULL), KL_OK);
	return id;
}

/* Snapshot number k (1, 2, ...) of the default series, a day apart. */
static struct kl_id
snap(struct fx *f, int k)
{
	return snap_at(f, "h1", "/srv", T0 + 86400 * k, KL_CAT_TIME_NONE);
}

/* ---- the loader ---- */

static int
load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct fx *f = arg;
	struct stored_tree *t;
	struct kl_node tmp;
	int r;

	f->loads++;
	if (f->reenter)
		assert_int_equal(kl_cat_snap_has(f->c, id, NULL), 0);
	if (f->failing && kl_id_eq(&f->fail, id))
		return f->fail_err != 0 ? f->fail_err : KL_E_IO;
	if ((t = tree_find(f, id)) == NULL)
		return KL_E_NOTFOUND;
	t->loads++;
	if ((r = kl_tree_decode(t->data, t->len, out)) == KL_OK &&
	    f->unsort && out->n >= 2) {
		tmp = out->nodes[0];
		out->nodes[0] = out->nodes[1];
		out->nodes[1] = tmp;
	}
	return r;
}

static void
skipped(void *arg, const struct kl_id *snap, int err, const char *why)
{
	struct fx *f = arg;

	f->skips++;
	f->skip_err = err;
	f->skip_id = *snap;
	snprintf(f->skip_why, sizeof(f->skip_why), "%s", why ? why : "");
}

static int
update_with(struct fx *f, void (*progress)(void *, uint64_t, uint64_t),
    void *parg)
{
	struct kl_cat_update u;

	memset(&u, 0, sizeof(u));
	u.load = load;
	u.load_arg = f;
	u.progress = progress;
	u.progress_arg = parg;
	u.skipped = skipped;
	u.skipped_arg = f;
	return kl_cat_versions_update(f->c, &u, NULL);
}

static int
update(struct fx *f)
{
	return update_with(f, NULL, NULL);
}

static void
reset_loads(struct fx *f)
{
	size_t i;

	f->loads = 0;
	for (i = 0; i < f->ntrees; i++)
		f->trees[i].loads = 0;
}

/* ---- collecting results ---- */

static int
ver_cb(void *arg, const struct kl_cat_version *v)
{
	struct vrows *rs = arg;
	struct vrow *r;

	assert_true(rs->n < ROWS_MAX);
	r = &rs->r[rs->n++];
	r->v = *v;
	assert_true(strlen(v->path) < sizeof(r->path));
	assert_true(strlen(v->host) < sizeof(r->host));
	strcpy(r->path, v->path);
	strcpy(r->host, v->host);
	r->v.path = r->path;
	r->v.host = r->host;
	return 0;
}

static int
versions(struct fx *f, const char *path, const char *host, struct vrows *rs)
{
	memset(rs, 0, sizeof(*rs));
	return kl_cat_versions(f->c, path, host, ver_cb, rs, NULL);
}

/* Asserts that path has exactly n versions (host: any). */
static void
expect_versions(struct fx *f, const char *path, size_t n, struct vrows *rs)
{
	assert_int_equal(versions(f, path, NULL, rs), KL_OK);
	assert_int_equal(rs->n, n);
}

static void
expect_span(const struct vrow *r, const struct kl_id *first,
    const struct kl_id *last, int in_latest)
{
	assert_true(kl_id_eq(&r->v.first, first));
	assert_true(kl_id_eq(&r->v.last, last));
	assert_int_equal(r->v.in_latest, in_latest);
}

static int
find_cb(void *arg, const struct kl_cat_found *fo)
{
	struct frows *rs = arg;
	struct frow *r;

	assert_true(rs->n < ROWS_MAX);
	r = &rs->r[rs->n++];
	r->f = *fo;
	assert_true(strlen(fo->path) < sizeof(r->path));
	assert_true(strlen(fo->host) < sizeof(r->host));
	strcpy(r->path, fo->path);
	strcpy(r->host, fo->host);
	r->f.path = r->path;
	r->f.host = r->host;
	return 0;
}

static int
find(struct fx *f, const char *pattern, const char *host, struct frows *rs)
{
	memset(rs, 0, sizeof(*rs));
	return kl_cat_find(f->c, pattern, host, find_cb, rs, NULL);
}

/* ---- fixture ---- */

static int
setup(void **state)
{
	struct kl_id repo;
	struct fx *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	memset(repo.b, 0x42, sizeof(repo.b));
	if (kl_cat_open(NULL, &repo, &f->c, NULL, NULL) != KL_OK) {
		free(f);
		return -1;
	}
	dir_put(f, "/srv");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	size_t i;

	kl_cat_close(f->c);
	for (i = 0; i < f->ntrees; i++)
		free(f->trees[i].data);
	free(f->trees);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void
test_unchanged_file_is_one_version_in_latest(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	s2 = snap_at(f, "h1", "/srv", T0 + 2 * 86400, T0 + 2 * 86400 + 7);
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s1, &s3, 1);
	assert_string_equal(rs.r[0].v.path, "/srv/a");
	assert_string_equal(rs.r[0].v.host, "h1");
	assert_int_equal(rs.r[0].v.type, KL_NODE_FILE);
	assert_int_equal(rs.r[0].v.mode, 0644);
	assert_int_equal(rs.r[0].v.uid, 1000);
	assert_int_equal(rs.r[0].v.gid, 100);
	assert_int_equal(rs.r[0].v.size, 4096);
	assert_int_equal(rs.r[0].v.mtime.s, T0);
	assert_int_equal(rs.r[0].v.first_time, T0 + 86400);
	assert_int_equal(rs.r[0].v.last_time, T0 + 3 * 86400);
	(void)s2;
}

static void
test_last_time_is_receive_time_when_known(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	s2 = snap_at(f, "h1", "/srv", T0 + 2 * 86400, T0 + 2 * 86400 + 7);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s1, &s2, 1);
	assert_int_equal(rs.r[0].v.first_time, T0 + 86400);
	assert_int_equal(rs.r[0].v.last_time, T0 + 2 * 86400 + 7);
}

static void
test_snap_time_prefers_receive_time(void **state)
{
	struct kl_cat_snap s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.time_s = 100;
	s.recv_s = KL_CAT_TIME_NONE;
	assert_int_equal(kl_cat_snap_time(&s), 100);
	s.recv_s = 105;
	assert_int_equal(kl_cat_snap_time(&s), 105);
}

static void
test_content_change_makes_two_versions(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3, s4;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	s2 = snap(f, 2);
	file_put(f, "/srv/a", 2);
	s3 = snap(f, 3);
	s4 = snap(f, 4);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 2, &rs);
	expect_span(&rs.r[0], &s1, &s2, 0);
	expect_span(&rs.r[1], &s3, &s4, 1);
	assert_memory_not_equal(rs.r[0].v.content, rs.r[1].v.content, 16);
	assert_int_equal(rs.r[0].v.last_time, T0 + 2 * 86400);
	assert_int_equal(rs.r[1].v.first_time, T0 + 3 * 86400);
}

static void
test_incremental_updates_match_one_update(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s1, &s1, 1);
	s2 = snap(f, 2);
	assert_int_equal(update(f), KL_OK);
	file_put(f, "/srv/a", 2);
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 2, &rs);
	expect_span(&rs.r[0], &s1, &s2, 0);
	expect_span(&rs.r[1], &s3, &s3, 1);
}

static void
test_mode_change_makes_new_version(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	ent_get(f, "/srv/a")->mode = 0600;
	s2 = snap(f, 2);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 2, &rs);
	expect_span(&rs.r[0], &s1, &s1, 0);
	expect_span(&rs.r[1], &s2, &s2, 1);
	assert_int_equal(rs.r[1].v.mode, 0600);
	/* Same content: only the metadata changed. */
	assert_memory_equal(rs.r[0].v.content, rs.r[1].v.content, 16);
}

static void
test_mtime_change_makes_new_version(void **state)
{
	struct fx *f = *state;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	snap(f, 1);
	ent_get(f, "/srv/a")->mtime = T0 + 1;
	snap(f, 2);
	ent_get(f, "/srv/a")->uid = 0;
	snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 3, &rs);
	assert_int_equal(rs.r[1].v.mtime.s, T0 + 1);
	assert_int_equal(rs.r[2].v.uid, 0);
}

static void
test_atime_ctime_inode_change_makes_no_version(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s3;
	struct vrows rs;
	struct ent *e;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	e = ent_get(f, "/srv/a");
	e->atime = T0 + 50;
	e->ctime = T0 + 60;
	snap(f, 2);
	e->inode = 999;
	e->nlink = 3;
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s1, &s3, 1);
	/* The trees did change (their ids differ), so the walk went there:
	 * the directory has a version per snapshot. */
	expect_versions(f, "/srv", 3, &rs);
}

static void
test_deleted_and_recreated_file_has_two_versions(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s3, s4;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	file_put(f, "/srv/keep", 9);
	s1 = snap(f, 1);
	ent_del(f, "/srv/a");
	snap(f, 2);
	file_put(f, "/srv/a", 1);
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 2, &rs);
	expect_span(&rs.r[0], &s1, &s1, 0);
	expect_span(&rs.r[1], &s3, &s3, 1);
	ent_del(f, "/srv/a");
	s4 = snap(f, 4);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 2, &rs);
	expect_span(&rs.r[1], &s3, &s3, 0);
	expect_versions(f, "/srv/keep", 1, &rs);
	expect_span(&rs.r[0], &s1, &s4, 1);
}

static void
test_removed_directory_closes_all_below(void **state)
{
	struct fx *f = *state;
	static const char *const below[] = { "/srv/d", "/srv/d/x", "/srv/d/e",
	    "/srv/d/e/y" };
	struct kl_id s1, s2, s3;
	struct vrows rs;
	size_t i;

	file_put(f, "/srv/a", 1);
	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 2);
	dir_put(f, "/srv/d/e");
	file_put(f, "/srv/d/e/y", 3);
	s1 = snap(f, 1);
	s2 = snap(f, 2);
	ent_del(f, "/srv/d");
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	for (i = 0; i < sizeof(below) / sizeof(below[0]); i++) {
		expect_versions(f, below[i], 1, &rs);
		expect_span(&rs.r[0], &s1, &s2, 0);
	}
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s1, &s3, 1);
}

static void
test_directory_replaced_by_file_and_back(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct vrows rs;

	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 2);
	s1 = snap(f, 1);
	ent_del(f, "/srv/d");
	file_put(f, "/srv/d", 5);
	s2 = snap(f, 2);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/d", 2, &rs);
	assert_int_equal(rs.r[0].v.type, KL_NODE_DIR);
	expect_span(&rs.r[0], &s1, &s1, 0);
	assert_int_equal(rs.r[1].v.type, KL_NODE_FILE);
	expect_span(&rs.r[1], &s2, &s2, 1);
	expect_versions(f, "/srv/d/x", 1, &rs);
	expect_span(&rs.r[0], &s1, &s1, 0);
	/* And back: the file under the directory is new again. */
	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 2);
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/d/x", 2, &rs);
	expect_span(&rs.r[1], &s3, &s3, 1);
	expect_versions(f, "/srv/d", 3, &rs);
	assert_int_equal(rs.r[2].v.type, KL_NODE_DIR);
}

static void
test_symlink_and_device_content(void **state)
{
	struct fx *f = *state;
	struct vrows rs;
	struct ent *e;

	ent_put(f, "/srv/l", KL_NODE_SYMLINK, 1);
	e = ent_put(f, "/srv/dev", KL_NODE_CHR, 0);
	e->rdev = 0x0103;
	ent_put(f, "/srv/p", KL_NODE_FIFO, 0);
	snap(f, 1);
	ent_get(f, "/srv/l")->seed = 2;
	ent_get(f, "/srv/dev")->rdev = 0x0105;
	snap(f, 2);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/l", 2, &rs);
	assert_int_equal(rs.r[0].v.type, KL_NODE_SYMLINK);
	assert_memory_not_equal(rs.r[0].v.content, rs.r[1].v.content, 16);
	expect_versions(f, "/srv/dev", 2, &rs);
	assert_memory_not_equal(rs.r[0].v.content, rs.r[1].v.content, 16);
	expect_versions(f, "/srv/p", 1, &rs);
	assert_int_equal(rs.r[0].v.type, KL_NODE_FIFO);
}

static void
test_hosts_are_separate_and_filtered(void **state)
{
	struct fx *f = *state;
	struct kl_id a1, b1, a2;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	a1 = snap_at(f, "alpha", "/srv", T0 + 10, KL_CAT_TIME_NONE);
	file_put(f, "/srv/a", 2);
	b1 = snap_at(f, "beta", "/srv", T0 + 20, KL_CAT_TIME_NONE);
	file_put(f, "/srv/a", 1);
	a2 = snap_at(f, "alpha", "/srv", T0 + 30, KL_CAT_TIME_NONE);
	assert_int_equal(update(f), KL_OK);
	/* alpha never saw content 2: one version; beta one of its own. */
	expect_versions(f, "/srv/a", 2, &rs);
	assert_string_equal(rs.r[0].host, "alpha");
	expect_span(&rs.r[0], &a1, &a2, 1);
	assert_string_equal(rs.r[1].host, "beta");
	expect_span(&rs.r[1], &b1, &b1, 1);
	assert_int_equal(versions(f, "/srv/a", "beta", &rs), KL_OK);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.r[0].host, "beta");
	assert_int_equal(versions(f, "/srv/a", "gamma", &rs), KL_E_NOTFOUND);
}

static void
test_removed_directory_leaves_other_series_open(void **state)
{
	struct fx *f = *state;
	struct kl_id b1, b2;
	struct vrows rs;

	dir_put(f, "/srv/d");
	dir_put(f, "/srv/d/e");
	file_put(f, "/srv/d/e/x", 1);
	snap_at(f, "alpha", "/srv", T0 + 10, KL_CAT_TIME_NONE);
	b1 = snap_at(f, "beta", "/srv", T0 + 20, KL_CAT_TIME_NONE);
	assert_int_equal(update(f), KL_OK);
	ent_del(f, "/srv/d");
	snap_at(f, "alpha", "/srv", T0 + 30, KL_CAT_TIME_NONE);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(versions(f, "/srv/d/e/x", "alpha", &rs), KL_OK);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].v.in_latest, 0);
	assert_int_equal(versions(f, "/srv/d/e/x", "beta", &rs), KL_OK);
	assert_int_equal(rs.n, 1);
	expect_span(&rs.r[0], &b1, &b1, 1);
	dir_put(f, "/srv/d");
	dir_put(f, "/srv/d/e");
	file_put(f, "/srv/d/e/x", 1);
	b2 = snap_at(f, "beta", "/srv", T0 + 40, KL_CAT_TIME_NONE);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(versions(f, "/srv/d/e/x", "beta", &rs), KL_OK);
	assert_int_equal(rs.n, 1);
	expect_span(&rs.r[0], &b1, &b2, 1);
}

static void
test_series_of_one_host_are_separate(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s3;
	struct vrows rs;

	dir_put(f, "/home");
	file_put(f, "/home/h", 4);
	file_put(f, "/srv/a", 1);
	s1 = snap_at(f, "h1", "/srv", T0 + 10, KL_CAT_TIME_NONE);
	/* A backup of other paths: its trees lack /srv/a, which must not end
	 * /srv/a's version in the /srv series. */
	ent_del(f, "/srv");
	snap_at(f, "h1", "/home", T0 + 20, KL_CAT_TIME_NONE);
	dir_put(f, "/srv");
	file_put(f, "/srv/a", 1);
	s3 = snap_at(f, "h1", "/srv", T0 + 30, KL_CAT_TIME_NONE);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s1, &s3, 1);
	expect_versions(f, "/home/h", 2, &rs);
}

static void
test_late_older_snapshot_rebuilds_series(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	s1 = snap(f, 1);
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	/* Taken between the two, added after they were recorded. */
	file_put(f, "/srv/a", 2);
	s2 = snap(f, 2);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 3, &rs);
	expect_span(&rs.r[0], &s1, &s1, 0);
	expect_span(&rs.r[1], &s2, &s2, 0);
	expect_span(&rs.r[2], &s3, &s3, 1);
	assert_memory_equal(rs.r[2].v.content, rs.r[0].v.content, 16);
}

static void
test_vanished_snapshot_rebuilds_without_it(void **state)
{
	struct fx *f = *state;
	struct kl_id s[3];
	struct vrows rs;
	size_t newly = 0;

	file_put(f, "/srv/a", 1);
	s[0] = snap(f, 1);
	file_put(f, "/srv/a", 2);
	s[1] = snap(f, 2);
	file_put(f, "/srv/a", 1);
	s[2] = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 3, &rs);
	s[1] = s[2];
	assert_int_equal(kl_cat_snap_mark_vanished(f->c, s, 2, &newly,
	    NULL), KL_OK);
	assert_int_equal(newly, 1);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
	expect_span(&rs.r[0], &s[0], &s[2], 1);
}

static void
test_load_error_records_nothing_of_that_snapshot(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct vrows rs;

	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 1);
	s1 = snap(f, 1);
	file_put(f, "/srv/d/x", 2);
	s2 = snap(f, 2);
	file_put(f, "/srv/d/x", 3);
	file_put(f, "/srv/new", 3);
	s3 = snap(f, 3);
	f->fail = dir_id(f, "/srv/d");	/* the tree of /srv/d in s3 */
	f->failing = 1;
	assert_int_equal(update(f), KL_E_IO);
	/* s1 and s2 stay recorded, nothing of s3 is. */
	expect_versions(f, "/srv/d/x", 2, &rs);
	expect_span(&rs.r[1], &s2, &s2, 1);
	assert_int_equal(versions(f, "/srv/new", NULL, &rs), KL_E_NOTFOUND);
	expect_versions(f, "/srv/d", 2, &rs);
	f->failing = 0;
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/d/x", 3, &rs);
	expect_span(&rs.r[1], &s2, &s2, 0);
	expect_span(&rs.r[2], &s3, &s3, 1);
	expect_versions(f, "/srv/new", 1, &rs);
	(void)s1;
}

static int
skipped_of(void *arg, const struct kl_cat_snap *s)
{
	unsigned *n = arg;

	*n += s->skipped ? 1 : 0;
	return 0;
}

/* Snapshots the catalog marks skipped. */
static unsigned
skipped_count(struct fx *f)
{
	struct kl_cat_status st;
	unsigned n = 0;

	assert_int_equal(kl_cat_snap_foreach(f->c, NULL, 1, skipped_of, &n,
	    NULL), KL_OK);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.skipped, n);
	return n;
}

static void
test_unsorted_tree_skips_the_snapshot(void **state)
{
	struct fx *f = *state;
	struct kl_id s1;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	file_put(f, "/srv/b", 1);
	snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	file_put(f, "/srv/b", 2);
	s1 = snap(f, 2);
	f->unsort = 1;
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(f->skips, 1);
	assert_int_equal(f->skip_err, KL_E_CORRUPT);
	assert_true(kl_id_eq(&f->skip_id, &s1));
	expect_versions(f, "/srv/b", 1, &rs);
	assert_int_equal(skipped_count(f), 1);
	/* Not walked again on every update. */
	f->unsort = 0;
	reset_loads(f);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(f->loads, 0);
	assert_int_equal(f->skips, 1);
	/* A rebuild of its series (an older snapshot arrives) tries again. */
	snap(f, 0);
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/b", 3, &rs);	/* days 0, 1, 2 */
	expect_span(&rs.r[2], &s1, &s1, 1);
	assert_int_equal(skipped_count(f), 0);
}

static void
test_missing_tree_skips_only_that_snapshot(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct vrows rs;

	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 1);
	s1 = snap(f, 1);
	file_put(f, "/srv/d/x", 2);
	s2 = snap(f, 2);
	f->fail = dir_id(f, "/srv/d");	/* s2's /srv/d: gone */
	file_put(f, "/srv/d/x", 3);
	file_put(f, "/srv/new", 3);
	s3 = snap(f, 3);
	snap_at(f, "h2", "/srv", T0 + 86400 * 4, KL_CAT_TIME_NONE);
	f->fail_err = KL_E_NOTFOUND;
	f->failing = 1;
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(f->skips, 1);
	assert_int_equal(f->skip_err, KL_E_NOTFOUND);
	assert_true(kl_id_eq(&f->skip_id, &s2));
	assert_string_equal(f->skip_why, "");
	/* s3 is compared with s1, the last one recorded; h2 is whole. */
	expect_versions(f, "/srv/d/x", 3, &rs);
	expect_span(&rs.r[0], &s1, &s1, 0);
	expect_span(&rs.r[1], &s3, &s3, 1);
	expect_versions(f, "/srv/new", 2, &rs);
	assert_int_equal(versions(f, "/srv/d/x", "h2", &rs), KL_OK);
	assert_int_equal(rs.n, 1);
	assert_int_equal(skipped_count(f), 1);
}

/*
 * A few hundred bytes of trees whose two directories per level both name
 * the next level: 2^depth paths.  The snapshot declares what such a tree
 * really holds, so its budget stops the walk long before.
 */
static struct kl_id
dag_build(struct fx *f, unsigned depth)
{
	struct kl_node nodes[2];
	struct kl_tree t = { nodes, 2 };
	struct kl_id id;
	struct buf *b;
	unsigned k;

	assert_non_null(b = buf_new(BUF_MAX_DEFAULT));
	assert_int_equal(kl_tree_encode(&(struct kl_tree){ NULL, 0 }, b),
	    KL_OK);
	tree_store(f, b, &id);
	for (k = 0; k < depth; k++) {
		memset(nodes, 0, sizeof(nodes));
		nodes[0].name = (uint8_t *)"a";
		nodes[1].name = (uint8_t *)"b";
		nodes[0].name_len = nodes[1].name_len = 1;
		nodes[0].type = nodes[1].type = KL_NODE_DIR;
		nodes[0].mode = nodes[1].mode = 0755;
		nodes[0].target = nodes[1].target = "";
		nodes[0].subtree = nodes[1].subtree = id;
		buf_reset(b);
		assert_int_equal(kl_tree_encode(&t, b), KL_OK);
		tree_store(f, b, &id);
	}
	buf_free(b);
	return id;
}

/* Adds a snapshot of root declaring files and dirs. */
static struct kl_id
snap_tree(struct fx *f, const char *host, const struct kl_id *root,
    uint64_t files, uint64_t dirs, int64_t t)
{
	char *pv[] = { "/srv" };
	struct kl_snapshot s;
	struct kl_id id;
	uint8_t seed[8];

	memset(&s, 0, sizeof(s));
	s.tree = *root;
	s.paths = pv;
	s.npaths = 1;
	s.time_s = t;
	s.hostname = (char *)(uintptr_t)host;
	s.username = "root";
	s.program = "test";
	s.files = files;
	s.dirs = dirs;
	kl_le64enc(seed, ++f->snap_counter);
	kl_hash(seed, sizeof(seed), &id);
	assert_int_equal(kl_cat_snap_add(f->c, &id, &s, KL_CAT_TIME_NONE, NULL),
	    KL_OK);
	return id;
}

static void
test_dag_over_budget_skips_and_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;
	struct kl_id root, bad;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	snap(f, 1);
	root = dag_build(f, 40);
	bad = snap_tree(f, "evil", &root, 0, 40, T0 + 86400 * 2);
	snap_at(f, "h2", "/srv", T0 + 86400 * 3, KL_CAT_TIME_NONE);
	reset_loads(f);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(f->skips, 1);
	assert_int_equal(f->skip_err, KL_E_LIMIT);
	assert_true(kl_id_eq(&f->skip_id, &bad));
	assert_non_null(strstr(f->skip_why, "more than 10160 entries"));
	/* bounded: every load is that of an entry counted */
	assert_true(f->loads <= 10160 + 1 + 4);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.versions, 4);
	assert_int_equal(versions(f, "/a", NULL, &rs), KL_E_NOTFOUND);
	expect_versions(f, "/srv/a", 2, &rs);
	assert_int_equal(skipped_count(f), 1);
}

/* A chain of n directories named "a" below the root. */
static struct kl_id
chain_build(struct fx *f, unsigned n)
{
	struct kl_node node;
	struct kl_tree t = { &node, 1 };
	struct kl_id id;
	struct buf *b;
	unsigned k;

	assert_non_null(b = buf_new(BUF_MAX_DEFAULT));
	assert_int_equal(kl_tree_encode(&(struct kl_tree){ NULL, 0 }, b),
	    KL_OK);
	tree_store(f, b, &id);
	for (k = 0; k < n; k++) {
		memset(&node, 0, sizeof(node));
		node.name = (uint8_t *)"a";
		node.name_len = 1;
		node.type = KL_NODE_DIR;
		node.mode = 0755;
		node.target = "";
		node.subtree = id;
		buf_reset(b);
		assert_int_equal(kl_tree_encode(&t, b), KL_OK);
		tree_store(f, b, &id);
	}
	buf_free(b);
	return id;
}

static int
count_found(void *arg, const struct kl_cat_found *fo)
{
	size_t *n = arg;

	assert_true(strlen(fo->path) <= KL_PATH_MAX);
	(*n)++;
	return 0;
}

/*
 * Paths deeper than KL_PATH_MAX are recorded (nothing to gain by leaving
 * them out) but not listed by find, which would otherwise build each of
 * them from its parent: the square of the depth.
 */
static void
test_find_leaves_out_paths_over_path_max(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;
	struct kl_id root;
	size_t n = 0;

	root = chain_build(f, 3000);
	snap_tree(f, "h1", &root, 0, 3000, T0);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.versions, 3000);
	/* "/a" is 2 bytes a level: 2048 levels fit */
	assert_int_equal(kl_cat_find(f->c, "a", NULL, count_found, &n,
	    NULL), KL_OK);
	assert_int_equal(n, KL_PATH_MAX / 2);
	n = 0;
	assert_int_equal(kl_cat_find(f->c, "/a/a/*", NULL, count_found, &n,
	    NULL), KL_OK);
	assert_int_equal(n, 1);
}

static void
test_dag_within_an_honest_budget_is_recorded(void **state)
{
	struct fx *f = *state;
	struct kl_cat_status st;
	struct kl_id root;

	root = dag_build(f, 10);	/* 2^11 - 2 directories */
	snap_tree(f, "h1", &root, 0, 2046, T0);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(f->skips, 0);
	assert_int_equal(kl_cat_status(f->c, &st, NULL), KL_OK);
	assert_int_equal(st.versions, 2046);
}

static void
test_unchanged_subtree_is_not_loaded(void **state)
{
	struct fx *f = *state;
	struct kl_id d2;
	struct vrows rs;
	char p[64];
	int i;

	dir_put(f, "/srv/d1");
	dir_put(f, "/srv/d2");
	dir_put(f, "/srv/d2/e");
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "/srv/d1/f%d", i);
		file_put(f, p, (uint8_t)i);
		snprintf(p, sizeof(p), "/srv/d2/e/g%d", i);
		file_put(f, p, (uint8_t)i);
	}
	snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	d2 = dir_id(f, "/srv/d2");
	file_put(f, "/srv/d1/f3", 42);
	snap(f, 2);
	reset_loads(f);
	assert_int_equal(update(f), KL_OK);
	/* Both roots, both /srv, both /srv/d1: nothing else. */
	assert_int_equal(f->loads, 6);
	assert_int_equal(tree_find(f, &d2)->loads, 0);
	expect_versions(f, "/srv/d1/f3", 2, &rs);
	expect_versions(f, "/srv/d2/e/g3", 1, &rs);
	/* An identical snapshot loads nothing at all. */
	snap(f, 3);
	reset_loads(f);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(f->loads, 0);
}

static void
test_directory_meta_change_does_not_load_its_tree(void **state)
{
	struct fx *f = *state;
	struct kl_id d, s1, s2;
	struct vrows rs;

	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 1);
	s1 = snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	ent_get(f, "/srv/d")->mode = 0700;
	d = dir_id(f, "/srv/d");
	s2 = snap(f, 2);
	reset_loads(f);
	assert_int_equal(update(f), KL_OK);
	/* A new version of /srv/d, but its entries are the same tree. */
	assert_int_equal(tree_find(f, &d)->loads, 0);
	assert_int_equal(f->loads, 4);
	expect_versions(f, "/srv/d", 2, &rs);
	expect_span(&rs.r[1], &s2, &s2, 1);
	expect_versions(f, "/srv/d/x", 1, &rs);
	expect_span(&rs.r[0], &s1, &s2, 1);
}

static void
test_loader_may_call_the_catalog(void **state)
{
	struct fx *f = *state;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	snap(f, 1);
	f->reenter = 1;
	assert_int_equal(update(f), KL_OK);
	expect_versions(f, "/srv/a", 1, &rs);
}

struct prog {
	uint64_t done[8], total[8];
	size_t n;
};

static void
prog_cb(void *arg, uint64_t done, uint64_t total)
{
	struct prog *p = arg;

	assert_true(p->n < 8);
	p->done[p->n] = done;
	p->total[p->n++] = total;
}

static void
test_progress_counts_snapshots(void **state)
{
	struct fx *f = *state;
	struct prog p;
	size_t i;

	memset(&p, 0, sizeof(p));
	file_put(f, "/srv/a", 1);
	snap(f, 1);
	snap(f, 2);
	snap_at(f, "h2", "/srv", T0, KL_CAT_TIME_NONE);
	assert_int_equal(update_with(f, prog_cb, &p), KL_OK);
	assert_int_equal(p.n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(p.done[i], i + 1);
		assert_int_equal(p.total[i], 3);
	}
	/* Nothing left to do. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(update_with(f, prog_cb, &p), KL_OK);
	assert_int_equal(p.n, 0);
}

static void
test_bad_paths(void **state)
{
	struct fx *f = *state;
	struct vrows rs;

	file_put(f, "/srv/a", 1);
	snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(versions(f, "srv/a", NULL, &rs), KL_E_INVAL);
	assert_int_equal(versions(f, "", NULL, &rs), KL_E_INVAL);
	/* "/" itself is no node of any tree. */
	assert_int_equal(versions(f, "/", NULL, &rs), KL_E_NOTFOUND);
	assert_int_equal(versions(f, "/srv/b", NULL, &rs), KL_E_NOTFOUND);
	assert_int_equal(versions(f, "/srv/a/b", NULL, &rs), KL_E_NOTFOUND);
	/* Repeated and trailing slashes name the same path. */
	expect_versions(f, "//srv/a/", 1, &rs);
	assert_string_equal(rs.r[0].v.path, "/srv/a");
}

static void
test_odd_names_round_trip(void **state)
{
	static const char *const names[] = { "/srv/a b", "/srv/\x01",
	    "/srv/\xff\xfe", "/srv/ lead", "/srv/x*y" };
	struct fx *f = *state;
	struct vrows rs;
	struct frows fr;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		file_put(f, names[i], (uint8_t)i);
	snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		expect_versions(f, names[i], 1, &rs);
		assert_string_equal(rs.r[0].v.path, names[i]);
	}
	assert_int_equal(find(f, "\xff*", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 1);
	assert_string_equal(fr.r[0].path, "/srv/\xff\xfe");
	assert_int_equal(find(f, "/srv/*", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 5);
	/* Bytewise order: 0x01, ' ', 'a', 'x', 0xff. */
	assert_string_equal(fr.r[0].path, "/srv/\x01");
	assert_string_equal(fr.r[1].path, "/srv/ lead");
	assert_string_equal(fr.r[2].path, "/srv/a b");
	assert_string_equal(fr.r[4].path, "/srv/\xff\xfe");
	/* Names are bytes also in a UTF-8 locale, where they are invalid. */
	if (setlocale(LC_ALL, "C.UTF-8") != NULL) {
		assert_int_equal(find(f, "*", NULL, &fr), KL_OK);
		assert_int_equal(fr.n, 6);
		assert_int_equal(find(f, "\xff?", NULL, &fr), KL_OK);
		setlocale(LC_ALL, "C");
		assert_int_equal(fr.n, 1);
	}
}

static void
test_find_by_name_matches_last_component(void **state)
{
	struct fx *f = *state;
	struct kl_id s1, s2, s3;
	struct frows fr;

	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x.txt", 1);
	file_put(f, "/srv/y.txt", 1);
	file_put(f, "/srv/z.dat", 1);
	dir_put(f, "/srv/t.txt");
	s1 = snap(f, 1);
	file_put(f, "/srv/d/x.txt", 2);
	s2 = snap(f, 2);
	ent_del(f, "/srv/y.txt");
	s3 = snap(f, 3);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(find(f, "*.txt", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 3);
	assert_string_equal(fr.r[0].path, "/srv/d/x.txt");
	assert_int_equal(fr.r[0].f.versions, 2);
	assert_true(kl_id_eq(&fr.r[0].f.first, &s1));
	assert_true(kl_id_eq(&fr.r[0].f.last, &s3));
	assert_int_equal(fr.r[0].f.first_time, T0 + 86400);
	assert_int_equal(fr.r[0].f.last_time, T0 + 3 * 86400);
	assert_int_equal(fr.r[0].f.in_latest, 1);
	assert_string_equal(fr.r[0].host, "h1");
	assert_string_equal(fr.r[1].path, "/srv/t.txt");
	assert_string_equal(fr.r[2].path, "/srv/y.txt");
	assert_int_equal(fr.r[2].f.versions, 1);
	assert_true(kl_id_eq(&fr.r[2].f.last, &s2));
	assert_int_equal(fr.r[2].f.in_latest, 0);
	assert_int_equal(find(f, "nothing*", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 0);
}

static void
test_find_with_slash_matches_whole_path(void **state)
{
	struct fx *f = *state;
	struct frows fr;

	dir_put(f, "/srv/d");
	file_put(f, "/srv/d/x", 1);
	dir_put(f, "/srv/d/e");
	file_put(f, "/srv/d/e/x", 1);
	file_put(f, "/srv/x", 1);
	snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	/* FNM_PATHNAME: '*' does not match '/'. */
	assert_int_equal(find(f, "/srv/*/x", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 1);
	assert_string_equal(fr.r[0].path, "/srv/d/x");
	assert_int_equal(find(f, "/srv/d*", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 1);
	assert_string_equal(fr.r[0].path, "/srv/d");
	/* Without a '/', a name: all three x. */
	assert_int_equal(find(f, "x", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 3);
	/* Tree order: a directory right before what it holds. */
	assert_string_equal(fr.r[0].path, "/srv/d/e/x");
	assert_string_equal(fr.r[1].path, "/srv/d/x");
	assert_string_equal(fr.r[2].path, "/srv/x");
}

static void
test_find_in_tree_order(void **state)
{
	struct fx *f = *state;
	struct frows fr;

	dir_put(f, "/srv/a");
	file_put(f, "/srv/a/x", 1);
	file_put(f, "/srv/a b", 1);
	file_put(f, "/srv/a-", 1);
	snap(f, 1);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(find(f, "/srv/*", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 3);
	assert_int_equal(find(f, "*", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 5);
	assert_string_equal(fr.r[0].path, "/srv");
	assert_string_equal(fr.r[1].path, "/srv/a");
	assert_string_equal(fr.r[2].path, "/srv/a/x");
	assert_string_equal(fr.r[3].path, "/srv/a b");
	assert_string_equal(fr.r[4].path, "/srv/a-");
}

static void
test_find_per_host_and_host_filter(void **state)
{
	struct fx *f = *state;
	struct kl_id a1, b1, b2;
	struct frows fr;

	file_put(f, "/srv/a", 1);
	a1 = snap_at(f, "alpha", "/srv", T0 + 10, KL_CAT_TIME_NONE);
	b1 = snap_at(f, "beta", "/srv", T0 + 20, KL_CAT_TIME_NONE);
	file_put(f, "/srv/a", 2);
	b2 = snap_at(f, "beta", "/srv", T0 + 30, KL_CAT_TIME_NONE);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(find(f, "a", NULL, &fr), KL_OK);
	assert_int_equal(fr.n, 2);
	assert_string_equal(fr.r[0].host, "alpha");
	assert_int_equal(fr.r[0].f.versions, 1);
	assert_true(kl_id_eq(&fr.r[0].f.first, &a1));
	assert_true(kl_id_eq(&fr.r[0].f.last, &a1));
	assert_string_equal(fr.r[1].host, "beta");
	assert_int_equal(fr.r[1].f.versions, 2);
	assert_true(kl_id_eq(&fr.r[1].f.first, &b1));
	assert_true(kl_id_eq(&fr.r[1].f.last, &b2));
	assert_int_equal(fr.r[1].f.first_time, T0 + 20);
	assert_int_equal(fr.r[1].f.last_time, T0 + 30);
	assert_int_equal(find(f, "a", "beta", &fr), KL_OK);
	assert_int_equal(fr.n, 1);
	assert_string_equal(fr.r[0].host, "beta");
	assert_int_equal(find(f, "a", "gamma", &fr), KL_OK);
	assert_int_equal(fr.n, 0);
}

static int
stop_cb(void *arg, const struct kl_cat_found *fo)
{
	(*(int *)arg)++;
	return 7;
}

static int
stop_ver_cb(void *arg, const struct kl_cat_version *v)
{
	(*(int *)arg)++;
	return 7;
}

static void
test_callback_return_stops(void **state)
{
	struct fx *f = *state;
	int calls = 0;

	file_put(f, "/srv/a", 1);
	snap(f, 1);
	file_put(f, "/srv/a", 2);
	snap(f, 2);
	assert_int_equal(update(f), KL_OK);
	assert_int_equal(kl_cat_find(f->c, "*", NULL, stop_cb, &calls,
	    NULL), 7);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(kl_cat_versions(f->c, "/srv/a", NULL, stop_ver_cb,
	    &calls, NULL), 7);
	assert_int_equal(calls, 1);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_unchanged_file_is_one_version_in_latest),
		T(test_last_time_is_receive_time_when_known),
		T(test_snap_time_prefers_receive_time),
		T(test_content_change_makes_two_versions),
		T(test_incremental_updates_match_one_update),
		T(test_mode_change_makes_new_version),
		T(test_mtime_change_makes_new_version),
		T(test_atime_ctime_inode_change_makes_no_version),
		T(test_deleted_and_recreated_file_has_two_versions),
		T(test_removed_directory_closes_all_below),
		T(test_directory_replaced_by_file_and_back),
		T(test_symlink_and_device_content),
		T(test_hosts_are_separate_and_filtered),
		T(test_removed_directory_leaves_other_series_open),
		T(test_series_of_one_host_are_separate),
		T(test_late_older_snapshot_rebuilds_series),
		T(test_vanished_snapshot_rebuilds_without_it),
		T(test_load_error_records_nothing_of_that_snapshot),
		T(test_unsorted_tree_skips_the_snapshot),
		T(test_missing_tree_skips_only_that_snapshot),
		T(test_dag_over_budget_skips_and_writes_nothing),
		T(test_dag_within_an_honest_budget_is_recorded),
		T(test_find_leaves_out_paths_over_path_max),
		T(test_unchanged_subtree_is_not_loaded),
		T(test_directory_meta_change_does_not_load_its_tree),
		T(test_loader_may_call_the_catalog),
		T(test_progress_counts_snapshots),
		T(test_bad_paths),
		T(test_odd_names_round_trip),
		T(test_find_by_name_matches_last_component),
		T(test_find_with_slash_matches_whole_path),
		T(test_find_in_tree_order),
		T(test_find_per_host_and_host_filter),
		T(test_callback_return_stops),
	};

	if (sodium_init() < 0)
		return 99;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
