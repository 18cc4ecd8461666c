/*
 * Iterative tree walks with budgets (kluis/treewalk.h).
 *
 * One frame per directory level on the current path, in a growable array:
 * the trees of both sides, the next name of each, where the level's path
 * ends, and the caller's tag.  The loop takes the next name of the top
 * frame, calls entry(), and pushes a frame when entry() asks to enter;
 * a frame with no names left is left (leave()) and popped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/map.h"
#include "kluis/treewalk.h"

struct frame {
	struct kl_tree t[2];	/* side A, side B */
	struct kl_id id[2];
	uint8_t has[2];		/* that side has a tree id */
	size_t i[2];		/* next name of each side */
	size_t path_len;	/* the directory's path */
	uint64_t tag;
};

struct kl_walk {
	const struct kl_walk_ops *ops;
	void *arg;
	const struct kl_walk_budget *b;
	struct kl_walk_stats st;
	struct kl_map seen;		/* the distinct trees loaded, by
					 * keyed 64-bit hash of their ids */
	struct frame *f;
	size_t n, cap;
	char *path;
	size_t len, pcap;
	uint64_t next_tag;
};

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

void
kl_walk_budget_init(struct kl_walk_budget *b, uint64_t files, uint64_t dirs,
    unsigned factor)
{
	if (factor == KL_WALK_UNLIMITED) {
		b->entries = UINT64_MAX;
		b->depth = UINT64_MAX;
		b->share = 0;
		return;
	}
	if (factor == 0)
		factor = KL_WALK_FACTOR_DEFAULT;
	b->entries = sat_add(sat_mul(factor, sat_add(files, dirs)),
	    KL_WALK_SLACK_ENTRIES);
	b->depth = sat_add(dirs, 1 + KL_WALK_SLACK_DEPTH);
	b->share = KL_WALK_SHARE_MAX;
}

void
kl_walk_budget_add(struct kl_walk_budget *b, const struct kl_walk_budget *o)
{
	b->entries = sat_add(b->entries, o->entries);
	if (o->depth > b->depth)
		b->depth = o->depth;
	if (o->share == 0 || (b->share != 0 && o->share > b->share))
		b->share = o->share;
}

const char *
kl_walk_path(const struct kl_walk *w, size_t *len)
{
	if (len != NULL)
		*len = w->len;
	return w->path;
}

uint64_t
kl_walk_depth(const struct kl_walk *w)
{
	return w->n;
}

uint64_t *
kl_walk_tagp(struct kl_walk *w, unsigned up)
{
	return up < w->n ? &w->f[w->n - 1 - up].tag : NULL;
}

void
kl_walk_set_tag(struct kl_walk *w, uint64_t tag)
{
	w->next_tag = tag;
}

const struct kl_id *
kl_walk_dir_id(const struct kl_walk *w, int side)
{
	const struct frame *f;
	int s = side == KL_WALK_A ? 0 : 1;

	if (w->n == 0)
		return NULL;
	f = &w->f[w->n - 1];
	return f->has[s] ? &f->id[s] : NULL;
}

/* Sets the path to the first keep bytes, then "/name" if name_len > 0. */
static int
path_set(struct kl_walk *w, size_t keep, const uint8_t *name,
    size_t name_len)
{
	size_t need = keep + (name_len ? 1 + name_len : 0) + 1, ncap;
	char *np;

	if (need > w->pcap) {
		ncap = w->pcap ? w->pcap : 256;
		while (ncap < need)
			ncap *= 2;
		if ((np = realloc(w->path, ncap)) == NULL)
			return KL_E_NOMEM;
		w->path = np;
		w->pcap = ncap;
	}
	w->len = keep;
	if (name_len > 0) {
		w->path[w->len++] = '/';
		memcpy(w->path + w->len, name, name_len);
		w->len += name_len;
	}
	w->path[w->len] = '\0';
	return KL_OK;
}

/* Names must strictly increase: the merge of two sides depends on it. */
static int
tree_sorted(const struct kl_tree *t)
{
	size_t i;

	if (t->n > 0 && t->nodes == NULL)
		return 0;
	for (i = 1; i < t->n; i++)
		if (kl_name_cmp(t->nodes[i - 1].name, t->nodes[i - 1].name_len,
		    t->nodes[i].name, t->nodes[i].name_len) >= 0)
			return 0;
	return 1;
}

/*
 * The budget after loading a tree of n entries: the total, and how often
 * the same trees come back.  A DAG whose paths double per level loads a
 * few distinct trees over and over; a real snapshot loads each tree
 * about once (identical subtrees exist, but only where every entry's
 * inode is the same: empty directories, hard-link farms).
 */
static int
budget_count(struct kl_walk *w, const struct kl_id *id, size_t n)
{
	uint64_t h;
	int known;

	w->st.entries = sat_add(w->st.entries, n);
	if (w->b == NULL)
		return KL_OK;
	if (w->st.entries > w->b->entries) {
		w->st.over = KL_WALK_OVER_ENTRIES;
		return KL_E_LIMIT;
	}
	if (w->b->share == 0)
		return KL_OK;
	/* keyed, and so are the map's slots: ids are the writer's to
	 * choose; 8 bytes a tree instead of 32 */
	h = kl_hash_slot(id->b, KL_ID_LEN);
	if ((known = kl_map_put(&w->seen, &h, 0)) < 0)
		return known;
	if (known == 1)	/* added: not seen before */
		w->st.distinct = sat_add(w->st.distinct, n);
	if (w->st.entries > sat_add(sat_mul(w->b->share, w->st.distinct),
	    KL_WALK_SLACK_ENTRIES)) {
		w->st.over = KL_WALK_OVER_SHARE;
		return KL_E_LIMIT;
	}
	return KL_OK;
}

/* Loads side s of frame f (the top frame), counting it. */
static int
side_load(struct kl_walk *w, struct frame *f, int s)
{
	int rc;

	memset(&f->t[s], 0, sizeof(f->t[s]));
	rc = w->ops->load(w->ops->load_arg, &f->id[s], &f->t[s]);
	if (rc == KL_OK && !tree_sorted(&f->t[s]))
		rc = KL_E_CORRUPT;
	if (rc == KL_OK) {
		w->st.trees++;
		if ((rc = budget_count(w, &f->id[s], f->t[s].n)) != KL_OK)
			kl_tree_clear(&f->t[s]);
		return rc;
	}
	kl_tree_clear(&f->t[s]);
	if (rc > 0)
		rc = KL_E_IO;	/* not a kl_err: it must not pass for success */
	if (w->ops->fail == NULL)
		return rc;
	return w->ops->fail(w->arg, w, s == 0 ? KL_WALK_A : KL_WALK_B,
	    &f->id[s], rc);
}

/* Pushes a level for subtrees a and/or b; the path is the directory's. */
static int
frame_push(struct kl_walk *w, const struct kl_id *a, const struct kl_id *b)
{
	struct frame *f;
	int rc = KL_OK, s;

	if (w->b != NULL && (uint64_t)w->n + 1 > w->b->depth) {
		w->st.over = KL_WALK_OVER_DEPTH;
		return KL_E_LIMIT;
	}
	if (KL_GROW(w->f, w->cap, w->n + 1) != KL_OK)
		return KL_E_NOMEM;
	f = &w->f[w->n++];
	memset(f, 0, sizeof(*f));
	f->path_len = w->len;
	f->tag = w->next_tag;
	if ((uint64_t)w->n > w->st.depth)
		w->st.depth = w->n;
	if (a != NULL)
		f->id[0] = *a;
	if (b != NULL)
		f->id[1] = *b;
	f->has[0] = a != NULL;
	f->has[1] = b != NULL;
	for (s = 0; s < 2 && rc == KL_OK; s++)
		if (f->has[s])
			rc = side_load(w, f, s);
	if (rc == KL_OK && w->ops->tree != NULL)
		rc = w->ops->tree(w->arg, w, f->has[0] ? &f->t[0] : NULL,
		    f->has[1] ? &f->t[1] : NULL);
	return rc;
}

static void
frame_pop(struct kl_walk *w)
{
	struct frame *f = &w->f[--w->n];

	kl_tree_clear(&f->t[0]);
	kl_tree_clear(&f->t[1]);
	w->len = f->path_len;
	if (w->path != NULL)
		w->path[w->len] = '\0';
}

/* The next name of frame f: *a and/or *b (the other NULL). */
static void
frame_next(struct frame *f, const struct kl_node **a, const struct kl_node **b)
{
	const struct kl_node *x = f->i[0] < f->t[0].n ?
	    &f->t[0].nodes[f->i[0]] : NULL;
	const struct kl_node *y = f->i[1] < f->t[1].n ?
	    &f->t[1].nodes[f->i[1]] : NULL;
	int cmp;

	if (x != NULL && y != NULL) {
		cmp = kl_name_cmp(x->name, x->name_len, y->name, y->name_len);
		if (cmp < 0)
			y = NULL;
		else if (cmp > 0)
			x = NULL;
	}
	f->i[0] += x != NULL;
	f->i[1] += y != NULL;
	*a = x;
	*b = y;
}

/* One step: the next name of the top level, or leaving it. */
static int
step(struct kl_walk *w)
{
	struct frame *f = &w->f[w->n - 1];
	const struct kl_node *a, *b, *n;
	struct kl_id sa, sb;
	int mask, rc;

	if (f->i[0] >= f->t[0].n && f->i[1] >= f->t[1].n) {
		w->len = f->path_len;
		w->path[w->len] = '\0';
		rc = w->ops->leave != NULL ? w->ops->leave(w->arg, w) : KL_OK;
		frame_pop(w);
		return rc;
	}
	frame_next(f, &a, &b);
	n = a != NULL ? a : b;
	if ((rc = path_set(w, f->path_len, n->name, n->name_len)) != KL_OK)
		return rc;
	w->next_tag = 0;
	if ((mask = w->ops->entry(w->arg, w, a, b)) < 0)
		return mask;
	mask &= (a != NULL && a->type == KL_NODE_DIR ? KL_WALK_A : 0) |
	    (b != NULL && b->type == KL_NODE_DIR ? KL_WALK_B : 0);
	if (mask == 0)
		return KL_OK;
	/* copies: pushing may move the frames, not the trees' nodes */
	if (mask & KL_WALK_A)
		sa = a->subtree;
	if (mask & KL_WALK_B)
		sb = b->subtree;
	return frame_push(w, (mask & KL_WALK_A) ? &sa : NULL,
	    (mask & KL_WALK_B) ? &sb : NULL);
}

int
kl_walk_run(const struct kl_walk_ops *ops, void *arg,
    const struct kl_id *a, const struct kl_id *b,
    const struct kl_walk_budget *budget, uint64_t root_tag,
    struct kl_walk_stats *st)
{
	struct kl_walk w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.ops = ops;
	w.arg = arg;
	w.b = budget;
	w.next_tag = root_tag;
	kl_map_init(&w.seen, sizeof(uint64_t));
	if ((rc = path_set(&w, 0, NULL, 0)) == KL_OK && (a != NULL ||
	    b != NULL))
		rc = frame_push(&w, a, b);
	while (rc == KL_OK && w.n > 0)
		rc = step(&w);
	while (w.n > 0)
		frame_pop(&w);
	if (st != NULL)
		*st = w.st;
	free(w.f);
	free(w.path);
	kl_map_clear(&w.seen);
	return rc;
}

void
kl_walk_over_str(const struct kl_walk_stats *st,
    const struct kl_walk_budget *b, uint64_t files, uint64_t dirs,
    char *out, size_t cap)
{
	if (st->over == KL_WALK_OVER_DEPTH)
		snprintf(out, cap, "its directories nest deeper than %llu "
		    "levels, more than the %llu directories it declares allow",
		    (unsigned long long)b->depth, (unsigned long long)dirs);
	else if (st->over == KL_WALK_OVER_SHARE)
		snprintf(out, cap, "its trees name the same subtrees over and "
		    "over: %llu entries from trees of %llu distinct entries, "
		    "more than %llu times that", (unsigned long long)
		    st->entries, (unsigned long long)st->distinct,
		    (unsigned long long)b->share);
	else
		snprintf(out, cap, "its trees hold more than %llu entries, "
		    "more than the %llu files and %llu directories it "
		    "declares allow", (unsigned long long)b->entries,
		    (unsigned long long)files, (unsigned long long)dirs);
}
