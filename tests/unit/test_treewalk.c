/*
 * Property tests of the walks over snapshot trees (issue #10 finding 4):
 * the tree walker (format/treewalk.c), check's structure pass
 * (restore-tools/check_trees.c chk_tree_size), the catalog's file versions
 * (catalog/cat_versions.c) and restore's walk (restore-tools/restore.c
 * rs_plan_run), all fed by a fake loader that builds trees from a table:
 * random DAGs, chains 100,000 directories deep, DAGs whose paths double at
 * every level, and cycles - which tree ids that are hashes exclude, but a
 * loader can produce.  Each walk must do bounded work (what the snapshot
 * declares allows, or each tree once where it memoises) and keep no call
 * stack the trees decide: the deep chains run on a thread with a small
 * stack, which a recursive walk overflows.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"
#include "kluis/treewalk.h"
#include "check_internal.h"
#include "restore_internal.h"

#define SMALL_STACK ((size_t)512 << 10)	/* a recursive walk needs MBs */
#define DEEP 100000
#define NAME_LEN 8
#define NONE UINT32_MAX

/* ---- a universe of trees behind a fake loader ---- */

struct uent {
	char name[NAME_LEN];
	uint8_t type;
	uint32_t sub;		/* dirs: index of the subtree */
};

struct utree {
	struct uent *e;
	uint32_t n;
};

struct uni {
	struct utree *t;
	uint32_t n;
	uint64_t loads;
	uint32_t *per;		/* loads per tree */
	uint32_t missing;	/* this tree does not load (NONE: all do) */
};

static void
uid(uint32_t i, struct kl_id *id)
{
	memset(id, 0, sizeof(*id));
	id->b[0] = 0xa5;
	kl_le32enc(id->b + 1, i);
}

static uint32_t
uidx(const struct uni *u, const struct kl_id *id)
{
	uint32_t i = kl_le32dec(id->b + 1);

	return id->b[0] == 0xa5 && i < u->n ? i : NONE;
}

static struct uni *
uni_new(uint32_t n)
{
	struct uni *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	assert_non_null(u->t = calloc(n, sizeof(*u->t)));
	assert_non_null(u->per = calloc(n, sizeof(*u->per)));
	u->n = n;
	u->missing = NONE;
	return u;
}

static void
uni_free(struct uni *u)
{
	uint32_t i;

	for (i = 0; i < u->n; i++)
		free(u->t[i].e);
	free(u->t);
	free(u->per);
	free(u);
}

/* Appends an entry to tree i (names in order: e0, e1, ... fixed width). */
static void
uni_add(struct uni *u, uint32_t i, uint8_t type, uint32_t sub)
{
	struct utree *t = &u->t[i];
	struct uent *e;

	assert_non_null(t->e = realloc(t->e, (t->n + 1) * sizeof(*t->e)));
	e = &t->e[t->n];
	snprintf(e->name, sizeof(e->name), "e%03u", t->n);
	e->type = type;
	e->sub = sub;
	t->n++;
}

static int
uload(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct uni *u = arg;
	const struct utree *t;
	struct kl_node *n;
	uint32_t i, k;

	memset(out, 0, sizeof(*out));
	u->loads++;
	if ((i = uidx(u, id)) == NONE || i == u->missing)
		return KL_E_NOTFOUND;
	u->per[i]++;
	t = &u->t[i];
	if (t->n == 0)
		return KL_OK;
	assert_non_null(out->nodes = calloc(t->n, sizeof(*out->nodes)));
	out->n = t->n;
	for (k = 0; k < t->n; k++) {
		n = &out->nodes[k];
		n->name_len = strlen(t->e[k].name);
		assert_non_null(n->name = malloc(n->name_len));
		memcpy(n->name, t->e[k].name, n->name_len);
		n->type = t->e[k].type;
		n->mode = n->type == KL_NODE_DIR ? 0755 : 0644;
		n->mtime.s = 1700000000;
		if (n->type == KL_NODE_DIR)
			uid(t->e[k].sub, &n->subtree);
	}
	return KL_OK;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define CYCLES 1		/* uni_random: directories name any tree */
#define WIDE 2			/* uni_random: 2..4 entries, 80 % dirs */

/*
 * n trees, each with 0..4 entries, 60 % of them directories (WIDE: 2..4,
 * 80 %, all naming the next tree); a directory names one of the next
 * three trees (a DAG whose paths multiply), or with CYCLES any tree.
 * Tree 0 is the root.
 */
static struct uni *
uni_random(uint64_t seed, uint32_t n, int flags)
{
	struct uni *u = uni_new(n);
	int cycles = flags & CYCLES, files = flags & WIDE ? 2 : 4;
	uint32_t i, k, m, sub;

	seed = seed * 2654435761u + 1;
	for (i = 0; i < n; i++) {
		m = (uint32_t)(rnd(&seed) % 5);
		if ((i == 0 && m < 2) || ((flags & WIDE) && m < 2))
			m = 2 + (uint32_t)(rnd(&seed) % 3);
		for (k = 0; k < m; k++) {
			if ((int)(rnd(&seed) % 10) < files ||
			    (!cycles && i + 1 == n)) {
				uni_add(u, i, KL_NODE_FILE, 0);
				continue;
			}
			/* near: shared subtrees, paths that multiply */
			sub = cycles ? (uint32_t)(rnd(&seed) % n) :
			    (flags & WIDE) ? i + 1 :
			    i + 1 + (uint32_t)(rnd(&seed) % (n - i - 1 < 3 ?
			    n - i - 1 : 3));
			uni_add(u, i, KL_NODE_DIR, sub);
		}
	}
	return u;
}

/* A chain: tree i holds one directory, tree i + 1; the last is empty. */
static struct uni *
uni_chain(uint32_t depth)
{
	struct uni *u = uni_new(depth + 1);
	uint32_t i;

	for (i = 0; i < depth; i++)
		uni_add(u, i, KL_NODE_DIR, i + 1);
	return u;
}

/* Two directories per level naming the next level: 2^depth paths. */
static struct uni *
uni_dag(uint32_t depth)
{
	struct uni *u = uni_new(depth + 1);
	uint32_t i;

	for (i = 0; i < depth; i++) {
		uni_add(u, i, KL_NODE_DIR, i + 1);
		uni_add(u, i, KL_NODE_DIR, i + 1);
	}
	return u;
}

/* What a walk over every path of tree i meets (no cycles): entries of
 * every tree loaded, levels, directories and other entries.  Memoised. */
struct expect {
	uint64_t entries, levels, dirs, files;
	int known;
};

static struct expect
expected(const struct uni *u, struct expect *memo, uint32_t i)
{
	struct expect x, s;
	uint32_t k;

	if (memo[i].known)
		return memo[i];
	memset(&x, 0, sizeof(x));
	for (k = 0; k < u->t[i].n; k++) {
		if (u->t[i].e[k].type != KL_NODE_DIR) {
			x.files++;
			continue;
		}
		s = expected(u, memo, u->t[i].e[k].sub);
		x.dirs += 1 + s.dirs;
		x.files += s.files;
		x.entries += s.entries;
		if (s.levels > x.levels)
			x.levels = s.levels;
	}
	x.entries += u->t[i].n;
	x.levels += 1;
	x.known = 1;
	memo[i] = x;
	return x;
}

static struct expect
expect_of(const struct uni *u)
{
	struct expect *memo = calloc(u->n, sizeof(*memo)), x;

	assert_non_null(memo);
	x = expected(u, memo, 0);
	free(memo);
	return x;
}

/* ---- running on a small stack ---- */

struct job {
	void (*fn)(void *);
	void *arg;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;

	j->fn(j->arg);
	return NULL;
}

/* Runs fn(arg) on a thread whose stack is SMALL_STACK bytes. */
static void
on_small_stack(void (*fn)(void *), void *arg)
{
	struct job j = { fn, arg };
	pthread_attr_t a;
	pthread_t th;

	assert_int_equal(pthread_attr_init(&a), 0);
	assert_int_equal(pthread_attr_setstacksize(&a, SMALL_STACK), 0);
	assert_int_equal(pthread_create(&th, &a, job_main, &j), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_attr_destroy(&a);
}

/* ---- the walker ---- */

struct count {
	uint64_t entries, dirs;
	int descend_a;		/* which side to enter */
};

static int
count_entry(void *arg, struct kl_walk *w, const struct kl_node *a,
    const struct kl_node *b)
{
	struct count *c = arg;
	const struct kl_node *n = a != NULL ? a : b;

	(void)w;
	c->entries++;
	c->dirs += n->type == KL_NODE_DIR;
	return (a != NULL ? KL_WALK_A : 0) | (b != NULL ? KL_WALK_B : 0);
}

static int
walk(struct uni *u, const struct kl_id *a, const struct kl_id *b,
    const struct kl_walk_budget *bud, struct count *c,
    struct kl_walk_stats *st)
{
	struct kl_walk_ops ops;

	memset(&ops, 0, sizeof(ops));
	memset(c, 0, sizeof(*c));
	ops.load = uload;
	ops.load_arg = u;
	ops.entry = count_entry;
	return kl_walk_run(&ops, c, a, b, bud, 0, st);
}

static void
test_walk_meets_every_path_of_random_dags(void **state)
{
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	struct expect x;
	struct count c;
	struct kl_id root;
	struct uni *u;
	uint64_t seed;

	(void)state;
	uid(0, &root);
	for (seed = 1; seed <= 200; seed++) {
		u = uni_random(seed, 24, 0);
		x = expect_of(u);
		if (x.entries > 200000) {	/* a test of seconds */
			uni_free(u);
			continue;
		}
		/* honest totals: within budget, every path met once (the
		 * sharing rule is tested below: these DAGs share a lot) */
		kl_walk_budget_init(&b, x.files, x.dirs, 0);
		b.share = 0;
		assert_int_equal(walk(u, &root, NULL, &b, &c, &st), KL_OK);
		assert_int_equal(c.entries, x.entries);
		assert_int_equal(st.entries, x.entries);
		assert_int_equal(st.depth, x.levels);
		assert_int_equal(c.dirs, x.dirs);
		/* every load is that of a directory met, or the root */
		assert_int_equal(u->loads, x.dirs + 1);
		/* the same tree on both sides: a merge, the same paths */
		u->loads = 0;
		assert_int_equal(walk(u, &root, &root, &b, &c, &st), KL_OK);
		assert_int_equal(c.entries, x.entries);
		uni_free(u);
	}
}

static void
test_walk_stops_at_the_budget(void **state)
{
	struct kl_walk_budget b = { 50, 1000, 0 };
	struct kl_walk_stats st;
	struct expect x;
	struct count c;
	struct kl_id root;
	struct uni *u;
	uint64_t seed, checked = 0;

	(void)state;
	uid(0, &root);
	for (seed = 1; seed <= 200; seed++) {
		u = uni_random(seed, 24, 0);
		x = expect_of(u);
		if (x.entries > b.entries) {
			assert_int_equal(walk(u, &root, NULL, &b, &c, &st),
			    KL_E_LIMIT);
			assert_int_equal(st.over, KL_WALK_OVER_ENTRIES);
			/* the last tree loaded took it over: at most 4 */
			assert_true(st.entries <= b.entries + 4);
			assert_true(c.entries <= b.entries);
			assert_true(u->loads <= b.entries + 1);
			checked++;
		}
		uni_free(u);
	}
	assert_true(checked > 20);
}

static void
test_walk_dag_40_levels_is_stopped_by_its_totals(void **state)
{
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	struct count c;
	struct kl_id root;
	struct uni *u = uni_dag(40);
	char why[256];

	(void)state;
	uid(0, &root);
	/* what such a snapshot truthfully declares: 40 directories deep */
	kl_walk_budget_init(&b, 0, 80, 0);
	assert_int_equal(walk(u, &root, NULL, &b, &c, &st), KL_E_LIMIT);
	assert_int_equal(st.over, KL_WALK_OVER_ENTRIES);
	assert_true(st.entries <= b.entries + 2);
	assert_true(u->loads <= b.entries + 1);
	kl_walk_over_str(&st, &b, 0, 80, why, sizeof(why));
	assert_non_null(strstr(why, "more than 10320 entries"));
	uni_free(u);
}

/*
 * A DAG that declares a huge size: the totals allow 2^41 paths, but the
 * walk meets the same 41 trees over and over - at most KL_WALK_SHARE_MAX
 * times the entries of the distinct trees loaded, plus the slack.
 */
static void
test_walk_dag_with_inflated_totals_is_stopped_by_sharing(void **state)
{
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	struct count c;
	struct kl_id root;
	struct uni *u = uni_dag(40);
	char why[256];

	(void)state;
	uid(0, &root);
	kl_walk_budget_init(&b, (uint64_t)1 << 50, (uint64_t)1 << 50, 0);
	assert_int_equal(walk(u, &root, NULL, &b, &c, &st), KL_E_LIMIT);
	assert_int_equal(st.over, KL_WALK_OVER_SHARE);
	assert_int_equal(st.distinct, 80);
	assert_true(st.entries <= KL_WALK_SHARE_MAX * 80 +
	    KL_WALK_SLACK_ENTRIES + 2);
	kl_walk_over_str(&st, &b, 0, 0, why, sizeof(why));
	assert_non_null(strstr(why, "the same subtrees over and over"));
	uni_free(u);
	/* without a budget, nothing but the caller stops it */
	u = uni_dag(12);
	kl_walk_budget_init(&b, 0, 0, KL_WALK_UNLIMITED);
	assert_int_equal(walk(u, &root, NULL, &b, &c, &st), KL_OK);
	assert_int_equal(c.entries, ((uint64_t)1 << 13) - 2);
	uni_free(u);
}

static void
test_walk_cycles_end(void **state)
{
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	struct count c;
	struct kl_id root;
	struct uni *u;
	uint64_t seed;
	int rc;

	(void)state;
	uid(0, &root);
	/* a directory that is its own subtree: the depth budget */
	u = uni_new(1);
	uni_add(u, 0, KL_NODE_DIR, 0);
	kl_walk_budget_init(&b, 0, 10, 0);
	assert_int_equal(walk(u, &root, NULL, &b, &c, &st), KL_E_LIMIT);
	assert_int_equal(st.over, KL_WALK_OVER_DEPTH);
	assert_int_equal(st.depth, b.depth);
	uni_free(u);
	/* random graphs with cycles: one budget or the other, or done */
	for (seed = 1; seed <= 100; seed++) {
		u = uni_random(seed, 16, 1);
		kl_walk_budget_init(&b, 10, 10, 0);
		rc = walk(u, &root, NULL, &b, &c, &st);
		assert_true(rc == KL_OK || (rc == KL_E_LIMIT &&
		    st.over != KL_WALK_WITHIN));
		assert_true(st.entries <= b.entries + 4);
		assert_true(st.depth <= b.depth);
		uni_free(u);
	}
}

static void
test_walk_load_errors(void **state)
{
	struct kl_walk_stats st;
	struct count c;
	struct kl_id root;
	struct uni *u = uni_chain(5);

	(void)state;
	uid(0, &root);
	u->missing = 3;
	assert_int_equal(walk(u, &root, NULL, NULL, &c, &st), KL_E_NOTFOUND);
	assert_int_equal(c.entries, 3);
	uni_free(u);
}

struct deep {
	struct uni *u;
	int rc;
	struct kl_walk_stats st;
	uint64_t entries;
};

static void
deep_walk(void *arg)
{
	struct deep *d = arg;
	struct kl_walk_budget b;
	struct count c;
	struct kl_id root;

	uid(0, &root);
	kl_walk_budget_init(&b, 0, DEEP, 0);
	d->rc = walk(d->u, &root, NULL, &b, &c, &d->st);
	d->entries = c.entries;
}

static void
test_walk_deep_chain_on_a_small_stack(void **state)
{
	struct deep d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.u = uni_chain(DEEP);
	on_small_stack(deep_walk, &d);
	assert_int_equal(d.rc, KL_OK);
	assert_int_equal(d.entries, DEEP);
	assert_int_equal(d.st.depth, DEEP + 1);
	uni_free(d.u);
}

/* ---- check's structure pass ---- */

struct sread {
	struct uni *u;
	uint64_t chunks;
};

static int
s_read(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	return uload(((struct sread *)arg)->u, id, out);
}

static int
s_chunk(void *arg, const struct kl_id *id, uint8_t type)
{
	(void)id;
	(void)type;
	((struct sread *)arg)->chunks++;
	return KL_OK;
}

static int
size_of(struct uni *u, struct chk_trees *m, struct chk_size *sz)
{
	struct chk_tree_ops o;
	struct sread x = { u, 0 };
	struct kl_id root;

	memset(&o, 0, sizeof(o));
	o.read = s_read;
	o.chunk = s_chunk;
	o.arg = &x;
	uid(0, &root);
	return chk_tree_size(m, &o, &root, sz);
}

static void
test_check_reads_each_tree_once_and_sizes_it(void **state)
{
	struct chk_trees m;
	struct chk_size sz;
	struct expect x;
	struct uni *u;
	uint64_t seed;
	uint32_t i;

	(void)state;
	for (seed = 1; seed <= 200; seed++) {
		u = uni_random(seed, 32, 0);
		x = expect_of(u);
		memset(&m, 0, sizeof(m));
		assert_int_equal(size_of(u, &m, &sz), KL_OK);
		assert_int_equal(sz.entries, x.entries);
		assert_int_equal(sz.levels, x.levels);
		for (i = 0; i < u->n; i++)
			assert_true(u->per[i] <= 1);
		assert_int_equal(m.parsed, u->loads);
		/* a second snapshot of the same trees reads nothing */
		assert_int_equal(size_of(u, &m, &sz), KL_OK);
		assert_int_equal(sz.entries, x.entries);
		assert_int_equal(m.parsed, u->loads);
		chk_trees_clear(&m);
		uni_free(u);
	}
}

static void
test_check_dag_is_linear_in_its_trees(void **state)
{
	struct chk_trees m;
	struct chk_size sz;
	struct uni *u = uni_dag(40);

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(size_of(u, &m, &sz), KL_OK);
	assert_int_equal(u->loads, 41);
	/* 2 + 4 + ... + 2^40 paths, each an entry of a tree loaded */
	assert_int_equal(sz.entries, ((uint64_t)1 << 41) - 2);
	assert_int_equal(sz.levels, 41);
	chk_trees_clear(&m);
	uni_free(u);
	/* deep enough, the sum saturates instead of wrapping */
	u = uni_dag(70);
	memset(&m, 0, sizeof(m));
	assert_int_equal(size_of(u, &m, &sz), KL_OK);
	assert_int_equal(sz.entries, UINT64_MAX);
	chk_trees_clear(&m);
	uni_free(u);
}

static void
test_check_cycles_end_and_are_infinite(void **state)
{
	struct chk_trees m;
	struct chk_size sz;
	struct uni *u;
	uint64_t seed;
	uint32_t i;

	(void)state;
	u = uni_new(2);
	uni_add(u, 0, KL_NODE_DIR, 1);
	uni_add(u, 1, KL_NODE_DIR, 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(size_of(u, &m, &sz), KL_OK);
	assert_int_equal(sz.entries, UINT64_MAX);
	assert_int_equal(u->loads, 2);
	chk_trees_clear(&m);
	uni_free(u);
	for (seed = 1; seed <= 100; seed++) {
		u = uni_random(seed, 16, 1);
		memset(&m, 0, sizeof(m));
		assert_int_equal(size_of(u, &m, &sz), KL_OK);
		for (i = 0; i < u->n; i++)
			assert_true(u->per[i] <= 1);
		chk_trees_clear(&m);
		uni_free(u);
	}
}

static void
test_check_missing_tree_is_empty(void **state)
{
	struct chk_trees m;
	struct chk_size sz;
	struct uni *u = uni_chain(5);

	(void)state;
	u->missing = 3;
	memset(&m, 0, sizeof(m));
	assert_int_equal(size_of(u, &m, &sz), KL_OK);
	assert_int_equal(sz.entries, 3);	/* trees 0, 1, 2 */
	assert_int_equal(sz.levels, 4);		/* and level 4 is entered */
	chk_trees_clear(&m);
	uni_free(u);
}

struct deep_check {
	struct uni *u;
	int rc;
	struct chk_size sz;
};

static void
deep_check(void *arg)
{
	struct deep_check *d = arg;
	struct chk_trees m;

	memset(&m, 0, sizeof(m));
	d->rc = size_of(d->u, &m, &d->sz);
	chk_trees_clear(&m);
}

static void
test_check_deep_chain_on_a_small_stack(void **state)
{
	struct deep_check d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.u = uni_chain(DEEP);
	on_small_stack(deep_check, &d);
	assert_int_equal(d.rc, KL_OK);
	assert_int_equal(d.sz.entries, DEEP);
	assert_int_equal(d.sz.levels, DEEP + 1);
	uni_free(d.u);
}

/* ---- the catalog's file versions ---- */

struct cat {
	struct kl_cat *c;
	struct uni *u;
	unsigned skips;
	int skip_err;
	int rc;
};

static void
cat_skipped(void *arg, const struct kl_id *snap, int err, const char *why)
{
	struct cat *k = arg;

	(void)snap;
	(void)why;
	k->skips++;
	k->skip_err = err;
}

/* A snapshot of u's tree 0 declaring files and dirs, then the update. */
static void
cat_run(struct cat *k, uint64_t files, uint64_t dirs)
{
	struct kl_cat_update up;
	struct kl_snapshot s;
	struct kl_id id, repo;
	char *pv[] = { "/srv" };
	static uint32_t counter;
	uint8_t seed[4];

	memset(&repo, 0x42, sizeof(repo));
	k->c = NULL;		/* kl_cat_open sets it only on success */
	k->rc = kl_cat_open(NULL, &repo, &k->c, NULL, NULL);
	if (k->rc != KL_OK)
		return;
	memset(&s, 0, sizeof(s));
	uid(0, &s.tree);
	s.paths = pv;
	s.npaths = 1;
	s.hostname = "h";
	s.username = "";
	s.program = "";
	s.files = files;
	s.dirs = dirs;
	kl_le32enc(seed, ++counter);
	kl_hash(seed, sizeof(seed), &id);
	if ((k->rc = kl_cat_snap_add(k->c, &id, &s, KL_CAT_TIME_NONE, NULL)) !=
	    KL_OK)
		return;
	memset(&up, 0, sizeof(up));
	up.load = uload;
	up.load_arg = k->u;
	up.skipped = cat_skipped;
	up.skipped_arg = k;
	k->rc = kl_cat_versions_update(k->c, &up, NULL);
}

static uint64_t
cat_versions(struct cat *k)
{
	struct kl_cat_status st;

	assert_int_equal(kl_cat_status(k->c, &st, NULL), KL_OK);
	return st.versions;
}

static void
test_catalog_records_every_path_or_skips(void **state)
{
	struct expect x;
	struct cat k;
	uint64_t seed, over = 0, honest = 0;

	(void)state;
	for (seed = 1; seed <= 60; seed++) {
		memset(&k, 0, sizeof(k));
		k.u = uni_random(seed, 6 + (uint32_t)(seed % 10), WIDE);
		x = expect_of(k.u);
		/* honest, and within the slack of the sharing rule (these
		 * DAGs share a lot): every path is a version */
		if (x.entries <= KL_WALK_SLACK_ENTRIES) {
			honest++;
			cat_run(&k, x.files, x.dirs);
			assert_int_equal(k.rc, KL_OK);
			assert_int_equal(k.skips, 0);
			assert_int_equal(cat_versions(&k), x.entries);
			kl_cat_close(k.c);
		}
		/* declaring nothing: skipped beyond the slack, nothing kept */
		k.u->loads = 0;
		cat_run(&k, 0, 0);
		assert_int_equal(k.rc, KL_OK);
		if (x.entries > KL_WALK_SLACK_ENTRIES) {
			assert_int_equal(k.skips, 1);
			assert_int_equal(k.skip_err, KL_E_LIMIT);
			assert_int_equal(cat_versions(&k), 0);
			assert_true(k.u->loads <= KL_WALK_SLACK_ENTRIES + 1);
			over++;
		} else
			assert_int_equal(cat_versions(&k), x.entries);
		kl_cat_close(k.c);
		uni_free(k.u);
	}
	assert_true(over > 5);
	assert_true(honest > 5);
}

static void
test_catalog_cycles_are_skipped(void **state)
{
	struct cat k;
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 30; seed++) {
		memset(&k, 0, sizeof(k));
		k.u = uni_random(seed, 12, 1);
		cat_run(&k, 3, 3);
		assert_int_equal(k.rc, KL_OK);
		assert_true(k.u->loads <= 4 * 6 + KL_WALK_SLACK_ENTRIES + 1);
		if (k.skips == 0)
			assert_true(cat_versions(&k) <= 4 * 6 +
			    KL_WALK_SLACK_ENTRIES);
		kl_cat_close(k.c);
		uni_free(k.u);
	}
}

static void
deep_cat(void *arg)
{
	cat_run(arg, 0, 30000);
}

static void
test_catalog_deep_chain_on_a_small_stack(void **state)
{
	struct cat k;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.u = uni_chain(30000);
	on_small_stack(deep_cat, &k);
	assert_int_equal(k.rc, KL_OK);
	assert_int_equal(k.skips, 0);
	assert_int_equal(cat_versions(&k), 30000);
	kl_cat_close(k.c);
	uni_free(k.u);
}

static void
test_catalog_inflated_dag_is_skipped(void **state)
{
	struct cat k;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.u = uni_dag(40);
	cat_run(&k, (uint64_t)1 << 40, (uint64_t)1 << 40);
	assert_int_equal(k.rc, KL_OK);
	assert_int_equal(k.skips, 1);
	assert_int_equal(k.skip_err, KL_E_LIMIT);
	assert_int_equal(cat_versions(&k), 0);
	assert_true(k.u->loads <= KL_WALK_SHARE_MAX * 80 +
	    KL_WALK_SLACK_ENTRIES + 1);
	kl_cat_close(k.c);
	uni_free(k.u);
}

/* ---- restore's walk ---- */

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

struct plan {
	struct uni *u;
	struct kl_walk_budget b;
	struct kl_restore_stats st;
	struct kl_walk_stats wst;
	char dir[64];
	uint64_t warnings;
	int rc;
};

static void
plan_warn(void *arg, const char *path, int err, const char *what)
{
	(void)path;
	(void)err;
	(void)what;
	((struct plan *)arg)->warnings++;
}

static void
plan_run(void *arg)
{
	struct plan *p = arg;
	struct kl_restore_opts o;
	struct kl_id root;

	memset(&o, 0, sizeof(o));
	snprintf(p->dir, sizeof(p->dir), "/tmp/kluis-test-walk.XXXXXX");
	if (mkdtemp(p->dir) == NULL) {
		p->rc = KL_E_IO;
		return;
	}
	o.target = p->dir;
	o.warn = plan_warn;
	o.warn_arg = p;
	uid(0, &root);
	p->rc = rs_plan_run(&o, uload, p->u, &root, &p->b, &p->st, &p->wst);
}

static void
plan_clear(struct plan *p)
{
	nftw(p->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	uni_free(p->u);
}

static void
test_restore_plans_every_path_within_budget(void **state)
{
	struct expect x;
	struct plan p;
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 40; seed++) {
		memset(&p, 0, sizeof(p));
		p.u = uni_random(seed, 16, 0);
		x = expect_of(p.u);
		if (x.entries > 3000) {
			uni_free(p.u);
			continue;
		}
		kl_walk_budget_init(&p.b, x.files, x.dirs, 0);
		plan_run(&p);
		assert_int_equal(p.rc, KL_OK);
		assert_int_equal(p.st.dirs, x.dirs);
		assert_int_equal(p.st.files, x.files);
		assert_int_equal(p.warnings, 0);
		plan_clear(&p);
	}
}

static void
test_restore_dag_stops_at_the_budget(void **state)
{
	struct plan p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.u = uni_dag(40);
	kl_walk_budget_init(&p.b, 0, 80, 0);
	plan_run(&p);
	assert_int_equal(p.rc, KL_E_LIMIT);
	assert_int_equal(p.wst.over, KL_WALK_OVER_ENTRIES);
	assert_true(p.st.dirs <= p.b.entries);
	assert_true(p.u->loads <= p.b.entries + 1);
	plan_clear(&p);
}

static void
test_restore_deep_chain_on_a_small_stack(void **state)
{
	struct plan p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.u = uni_chain(DEEP);
	kl_walk_budget_init(&p.b, 0, DEEP, 0);
	on_small_stack(plan_run, &p);
	assert_int_equal(p.rc, KL_OK);
	/* "/e000" per level: deeper than KL_PATH_MAX is skipped, once */
	assert_int_equal(p.st.dirs, KL_PATH_MAX / 5);
	assert_int_equal(p.warnings, 1);
	assert_true(p.u->loads <= KL_PATH_MAX / 5 + 1);
	plan_clear(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_meets_every_path_of_random_dags),
		cmocka_unit_test(test_walk_stops_at_the_budget),
		cmocka_unit_test(test_walk_dag_40_levels_is_stopped_by_its_totals),
		cmocka_unit_test(
		    test_walk_dag_with_inflated_totals_is_stopped_by_sharing),
		cmocka_unit_test(test_walk_cycles_end),
		cmocka_unit_test(test_walk_load_errors),
		cmocka_unit_test(test_walk_deep_chain_on_a_small_stack),
		cmocka_unit_test(test_check_reads_each_tree_once_and_sizes_it),
		cmocka_unit_test(test_check_dag_is_linear_in_its_trees),
		cmocka_unit_test(test_check_cycles_end_and_are_infinite),
		cmocka_unit_test(test_check_missing_tree_is_empty),
		cmocka_unit_test(test_check_deep_chain_on_a_small_stack),
		cmocka_unit_test(test_catalog_records_every_path_or_skips),
		cmocka_unit_test(test_catalog_cycles_are_skipped),
		cmocka_unit_test(test_catalog_deep_chain_on_a_small_stack),
		cmocka_unit_test(test_catalog_inflated_dag_is_skipped),
		cmocka_unit_test(test_restore_plans_every_path_within_budget),
		cmocka_unit_test(test_restore_dag_stops_at_the_budget),
		cmocka_unit_test(test_restore_deep_chain_on_a_small_stack),
	};

	if (sodium_init() < 0)
		return 99;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
