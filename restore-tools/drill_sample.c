/*
 * The sample of a restore drill: one walk over a snapshot's trees that
 * draws regular files uniformly (reservoir sampling) and other entries
 * with the same chance, and the walks' shared pieces.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "restore_internal.h"
#include "drill_internal.h"

struct sampler {
	struct drill *d;
	uint64_t k;		/* files to keep */
	double p;		/* chance of any other entry */
	int all;		/* keep nothing, count only */
	uint64_t rng;
	struct sentry *f, *o;	/* reservoir of files; others */
	size_t nf, cf, no, co;
	uint64_t seen, seen_bytes, seen_space, seen_others;
	struct rs_gmap groups;	/* hard link groups seen (keyed: trees
				 * choose the numbers) */
	char path[KL_PATH_MAX + 2];
	size_t len;
	int failed;		/* the tree just entered did not load */
};

/* splitmix64: a sample needs spread, not secrecy. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Data blocks of a file: its size less its holes, in 4 KiB blocks. */
static uint64_t
file_space(const struct kl_node *n)
{
	uint64_t s = n->size;
	size_t i;

	for (i = 0; i < n->nholes; i++)
		s -= n->holes[i].len <= s ? n->holes[i].len : s;
	return (s + DRILL_ENTRY_COST - 1) / DRILL_ENTRY_COST *
	    DRILL_ENTRY_COST;
}

/* n: a file counted as one (NULL: any other entry). */
static int
sentry_set(struct sentry *e, const char *path, const struct kl_node *n)
{
	char *p = strdup(path);

	if (p == NULL)
		return KL_E_NOMEM;
	free(e->path);
	e->path = p;
	e->file = n != NULL;
	e->size = n != NULL ? n->size : 0;
	e->space = n != NULL ? file_space(n) : 0;
	return KL_OK;
}

static int
sentry_push(struct sentry **v, size_t *n, size_t *cap, const char *path,
    const struct kl_node *file)
{
	if (kl_grow(v, cap, *n + 1, sizeof(**v)) != KL_OK)
		return KL_E_NOMEM;
	memset(&(*v)[*n], 0, sizeof(**v));
	if (sentry_set(&(*v)[*n], path, file) != KL_OK)
		return KL_E_NOMEM;
	(*n)++;
	return KL_OK;
}

static void
sentries_free(struct sentry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

/*
 * 1 if hard link group g (non-zero) was met before.  The snapshot counts a
 * file with several names once (its first name; the others are links), so
 * the sample does too.
 */
static int
group_seen(struct sampler *sm, uint64_t g, int *rc)
{
	int r = rs_gmap_put(&sm->groups, g, 0);

	*rc = r < 0 ? r : KL_OK;
	return r == 0;
}

/* Reservoir sampling (Algorithm R): every file is kept with chance k/N. */
static int
sample_file(struct sampler *sm, const struct kl_node *n)
{
	uint64_t j;

	sm->seen++;
	sm->seen_bytes += n->size;
	sm->seen_space += file_space(n);
	if (sm->all)
		return KL_OK;
	if (sm->nf < sm->k)
		return sentry_push(&sm->f, &sm->nf, &sm->cf, sm->path, n);
	j = rng_next(&sm->rng) % sm->seen;	/* bias below 2^-40 */
	if (j < sm->k)
		return sentry_set(&sm->f[j], sm->path, n);
	return KL_OK;
}

/* Symlinks, devices, FIFOs, sockets, other names of a file with hard
 * links, empty directories. */
static int
sample_other(struct sampler *sm)
{
	sm->seen_others++;
	if (sm->all)
		return KL_OK;
	if (sm->p < 1.0 &&
	    (double)(rng_next(&sm->rng) >> 11) * 0x1.0p-53 >= sm->p)
		return KL_OK;
	return sentry_push(&sm->o, &sm->no, &sm->co, sm->path, NULL);
}

int
drill_walk_here(struct kl_walk *w, char *p, size_t *len)
{
	size_t l;
	const char *wp = kl_walk_path(w, &l);

	if (l > KL_PATH_MAX)
		return 0;
	memcpy(p, wp, l + 1);
	*len = l;
	return 1;
}

int
drill_tree_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct drill *d = arg;

	kl_error_clear(&d->tree_err);
	return kl_repo_tree_load(d->r, id, out, &d->tree_err);
}

/* A directory's tree did not load: one finding, and the walk goes on. */
static int
sample_fail(void *arg, struct kl_walk *w, int side, const struct kl_id *id,
    int err)
{
	struct sampler *sm = arg;

	(void)side;
	(void)id;
	sm->failed = 1;
	if (drill_walk_here(w, sm->path, &sm->len))
		drill_finding_once(sm->d, sm->path, "tree", "the directory's "
		    "tree cannot be read: %s", kl_error_msg(&sm->d->tree_err,
		    err));
	return drill_fatal(err) ? drill_fail(sm->d, &sm->d->tree_err, err) :
	    KL_OK;
}

/* An empty directory (not the root) is sampled like any other entry. */
static int
sample_dir(void *arg, struct kl_walk *w, const struct kl_tree *t,
    const struct kl_tree *unused)
{
	struct sampler *sm = arg;

	(void)unused;
	if (sm->failed) {
		sm->failed = 0;
		return KL_OK;
	}
	if (t->n > 0 || kl_walk_depth(w) < 2 ||
	    !drill_walk_here(w, sm->path, &sm->len))
		return KL_OK;
	return sample_other(sm);
}

static int
sample_entry(void *arg, struct kl_walk *w, const struct kl_node *n,
    const struct kl_node *unused)
{
	struct sampler *sm = arg;
	int rc = KL_OK;

	(void)unused;
	/* paths too long are restore's to report */
	if (!drill_walk_here(w, sm->path, &sm->len))
		return 0;
	if (n->type == KL_NODE_DIR)
		return KL_WALK_A;
	if (n->type == KL_NODE_FILE && (n->link_group == 0 ||
	    !group_seen(sm, n->link_group, &rc)))
		return rc == KL_OK ? sample_file(sm, n) : rc;
	return rc == KL_OK ? sample_other(sm) : rc;
}

int
drill_walk(struct drill *d, const struct kl_walk_ops *ops, void *arg,
    const struct kl_id *snap, const struct kl_snapshot *sn)
{
	char hex[KL_ID_HEX_LEN + 1], why[256];
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	int rc;

	kl_repo_walk_budget(d->r, sn, &b);
	if ((rc = kl_walk_run(ops, arg, &sn->tree, NULL, &b, 0, &st)) !=
	    KL_E_LIMIT || st.over == KL_WALK_WITHIN)
		return rc;
	kl_id_hex(snap, hex);
	kl_walk_over_str(&st, &b, sn->files, sn->dirs, why, sizeof(why));
	return kl_error_obj(d->err, rc, KL_ABOUT_SNAPSHOT, snap, NULL,
	    "snapshot %.8s of host %s: %s; kluis backup never writes this "
	    "(kluis check names it): the drill stopped", hex, sn->hostname,
	    why);
}

static int
sample_walk(struct sampler *sm, const struct kl_id *snap,
    const struct kl_snapshot *sn)
{
	struct kl_walk_ops ops;

	memset(&ops, 0, sizeof(ops));
	ops.load = drill_tree_load;
	ops.load_arg = sm->d;
	ops.entry = sample_entry;
	ops.tree = sample_dir;
	ops.fail = sample_fail;
	return drill_walk(sm->d, &ops, sm, snap, sn);
}

static int
sentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sentry *)a)->path,
	    ((const struct sentry *)b)->path);
}

/* Moves the sampler's picks into a sorted sample. */
static int
sample_finish(struct sampler *sm, struct kl_drill_sample *s)
{
	size_t i;

	if (sm->all || (sm->seen <= sm->k && sm->p >= 1.0)) {
		s->all = 1;
		s->files = sm->seen;
		s->bytes = sm->seen_bytes;
		s->space = sm->seen_space;
		s->others = sm->seen_others;
		return KL_OK;
	}
	if ((s->v = calloc(sm->nf + sm->no + 1, sizeof(*s->v))) == NULL)
		return KL_E_NOMEM;
	if (sm->nf > 0)
		memcpy(s->v, sm->f, sm->nf * sizeof(*s->v));
	if (sm->no > 0)
		memcpy(s->v + sm->nf, sm->o, sm->no * sizeof(*s->v));
	s->n = sm->nf + sm->no;
	free(sm->f);
	free(sm->o);
	sm->f = sm->o = NULL;
	sm->nf = sm->no = 0;
	for (i = 0; i < s->n; i++) {
		s->files += s->v[i].file;
		s->others += !s->v[i].file;
		s->bytes += s->v[i].size;
		s->space += s->v[i].space;
	}
	qsort(s->v, s->n, sizeof(*s->v), sentry_cmp);
	return KL_OK;
}

static uint64_t
sample_k(const struct kl_drill_opts *o, uint64_t files)
{
	double x;
	uint64_t k;

	if (o->share > 0) {
		if (o->share >= 1.0)
			return KL_DRILL_ALL;
		x = o->share * (double)files;
		k = (uint64_t)x;
		if ((double)k < x)
			k++;
		return k > 0 ? k : 1;
	}
	return o->files == 0 ? KL_DRILL_DEFAULT_FILES : o->files;
}

void
drill_sample_free(struct kl_drill_sample *s)
{
	if (s == NULL)
		return;
	sentries_free(s->v, s->n);
	free(s);
}

int
drill_sample_take(struct drill *d, const struct kl_id *snap,
    const struct kl_snapshot *sn, const struct kl_drill_opts *o,
    struct kl_drill_sample **out)
{
	struct kl_drill_sample *s = NULL;
	struct sampler sm;
	int rc;

	*out = NULL;
	memset(&sm, 0, sizeof(sm));
	sm.d = d;
	sm.rng = o->seed;
	sm.k = sample_k(o, sn->files);
	sm.p = sm.k == KL_DRILL_ALL || sm.k >= sn->files ? 1.0 :
	    (double)sm.k / (double)sn->files;
	sm.all = sm.k == KL_DRILL_ALL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		rc = KL_E_NOMEM;
	else if ((rc = sample_walk(&sm, snap, sn)) == KL_OK)
		rc = sample_finish(&sm, s);
	sentries_free(sm.f, sm.nf);
	sentries_free(sm.o, sm.no);
	rs_gmap_clear(&sm.groups);
	if (rc == KL_OK) {
		*out = s;
		s = NULL;
	}
	drill_sample_free(s);
	return rc;
}

static size_t
lower_bound(const struct kl_drill_sample *s, const char *key)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(s->v[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
drill_sample_state(void *arg, const char *path)
{
	struct kl_drill_sample *s = arg;
	size_t i, pl = strlen(path);

	if (s->all)
		return 2;
	i = lower_bound(s, path);
	if (i < s->n && strcmp(s->v[i].path, path) == 0)
		return 2;
	if (pl + 2 > sizeof(s->key))
		return 0;
	memcpy(s->key, path, pl);
	s->key[pl] = '/';
	s->key[pl + 1] = '\0';
	i = lower_bound(s, s->key);
	return i < s->n && strncmp(s->v[i].path, s->key, pl + 1) == 0;
}
