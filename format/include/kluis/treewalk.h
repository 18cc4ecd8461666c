/*
 * Walks over snapshot trees (FORMAT.md §11): one tree, or two side by side
 * in name order, without recursion and within a budget.
 *
 * Trees are the repository's to decide, and any holder of a backup-only
 * key writes authentic ones: a chain of 100,000 directories, or a few
 * hundred bytes of trees whose directories all name the same subtree (a
 * DAG whose paths double at every level).  A walk over paths therefore
 * keeps its own stack (no call depth the repository decides) and counts
 * what it loads against what the snapshot declares: a snapshot written by
 * `kluis backup` holds exactly the directories it declares, and each of
 * its directories holds at most a few entries more than it counts as
 * files (symbolic links, devices and the other names of hard-linked files
 * are not counted).  A walk that exceeds the budget stops with
 * KL_E_LIMIT: a snapshot cannot cost a reader more than a real one of the
 * size it declares.  Walks that need no paths memoise by tree id instead
 * (restore-tools/check_trees.c).
 *
 * Pure: trees come from the caller's loader.
 */
#ifndef KLUIS_TREEWALK_H
#define KLUIS_TREEWALK_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/format.h"
#include "kluis/hash.h"

/* Loads tree id into *out (kl_tree_clear frees it); a kl_err. */
typedef int (*kl_tree_load_fn)(void *arg, const struct kl_id *id,
    struct kl_tree *out);

/*
 * A snapshot's budget: entries <= factor * (files + dirs) + SLACK_ENTRIES,
 * depth <= dirs + 1 + SLACK_DEPTH, and entries <= SHARE_MAX times the
 * entries of the distinct trees loaded, + SLACK_ENTRIES (docs/threat-
 * model.md section 4.7 has the reasons).  Factor 0 means
 * KL_WALK_FACTOR_DEFAULT, KL_WALK_UNLIMITED no budget.
 */
#define KL_WALK_FACTOR_DEFAULT 4
#define KL_WALK_FACTOR_MAX 1000000
#define KL_WALK_UNLIMITED 0xffffffffu
#define KL_WALK_SLACK_ENTRIES 10000
#define KL_WALK_SLACK_DEPTH 64
#define KL_WALK_SHARE_MAX 256

struct kl_walk_budget {
	uint64_t entries;	/* tree entries loaded, summed over every
				 * load of every tree */
	uint64_t depth;		/* directory levels: the root tree's
				 * entries are at level 1 */
	uint64_t share;		/* entries per entry of the distinct trees
				 * loaded (beyond SLACK_ENTRIES); 0: any */
};

/* The budget of a snapshot that declares files and dirs (saturating). */
void kl_walk_budget_init(struct kl_walk_budget *b, uint64_t files,
    uint64_t dirs, unsigned factor);
/* b += o (a walk over two snapshots), saturating; depth: the larger. */
void kl_walk_budget_add(struct kl_walk_budget *b,
    const struct kl_walk_budget *o);

/* Sides of a walk over two trees; entry() returns a mask of them. */
#define KL_WALK_A 1
#define KL_WALK_B 2

/* Which budget stopped a walk (kl_walk_stats.over). */
enum kl_walk_over {
	KL_WALK_WITHIN = 0,
	KL_WALK_OVER_ENTRIES,
	KL_WALK_OVER_DEPTH,
	KL_WALK_OVER_SHARE,	/* the same trees met too many times */
};

struct kl_walk;

/*
 * Callbacks; a negative return stops the walk, which returns it.
 *   entry  one name of the directory being listed, from side A, side B
 *          or both (the other NULL), in name order.  Returns 0, or a mask
 *          of KL_WALK_A / KL_WALK_B: the walk enters that side's subtree
 *          (of a directory node; ignored for others) right after, before
 *          the next name.  Required.
 *   tree   optional: a directory's trees were loaded (a or b NULL where
 *          that side has none), before its entries.
 *   leave  optional: after a directory's entries (also the root's).
 *   fail   optional: tree id of side (KL_WALK_A or _B) did not load with
 *          err.  Return KL_OK to go on as if it were empty, or an error
 *          to stop.  Without it, err stops the walk.
 * The path (kl_walk_path) is the entry's in entry(), the directory's in
 * tree(), leave() and fail(); "" for the root.
 */
struct kl_walk_ops {
	kl_tree_load_fn load;
	void *load_arg;
	int (*entry)(void *arg, struct kl_walk *w, const struct kl_node *a,
	    const struct kl_node *b);
	int (*tree)(void *arg, struct kl_walk *w, const struct kl_tree *a,
	    const struct kl_tree *b);
	int (*leave)(void *arg, struct kl_walk *w);
	int (*fail)(void *arg, struct kl_walk *w, int side,
	    const struct kl_id *id, int err);
};

struct kl_walk_stats {
	uint64_t entries;	/* entries of every tree loaded */
	uint64_t distinct;	/* entries of the distinct trees loaded
				 * (counted with a budget's share only) */
	uint64_t trees;		/* trees loaded */
	uint64_t depth;		/* deepest level entered */
	int over;		/* enum kl_walk_over */
};

/*
 * Walks tree a and/or tree b (NULL: none) from their roots, calling ops
 * with arg.  root_tag is the root level's tag (kl_walk_tag).  Every tree
 * loaded counts its entries against budget (NULL: none); a walk that
 * would exceed it, enter a level deeper than budget->depth, or load more
 * than budget->share times the entries of the distinct trees it loaded
 * (beyond KL_WALK_SLACK_ENTRIES), stops with KL_E_LIMIT and st->over says
 * which.  Distinct trees are remembered by a keyed 64-bit hash of their
 * ids (8 bytes each, twice that in the table).  A tree whose names do not strictly
 * increase is KL_E_CORRUPT (passed to fail like a load error).  Memory:
 * the trees of the directories on the current path.  st (may be NULL) is
 * filled in either way.  Returns KL_OK, KL_E_NOMEM, KL_E_LIMIT, or what a
 * callback or the loader returned.
 */
int kl_walk_run(const struct kl_walk_ops *ops, void *arg,
    const struct kl_id *a, const struct kl_id *b,
    const struct kl_walk_budget *budget, uint64_t root_tag,
    struct kl_walk_stats *st);

/* In a callback: the current path ("/a/b", NUL-terminated) and its
 * length; valid until the callback returns. */
const char *kl_walk_path(const struct kl_walk *w, size_t *len);
/* The level being listed: 1 for the root tree's entries. */
uint64_t kl_walk_depth(const struct kl_walk *w);
/* The tag of the directory up levels above the one being listed (0: that
 * one), NULL above the root.  A caller's word per level: a path number,
 * a flag, a descriptor. */
uint64_t *kl_walk_tagp(struct kl_walk *w, unsigned up);
/* In entry(): the tag the level it enters gets (default 0). */
void kl_walk_set_tag(struct kl_walk *w, uint64_t tag);
/* The tree id of side (KL_WALK_A or _B) of the directory being listed,
 * NULL if that side has none. */
const struct kl_id *kl_walk_dir_id(const struct kl_walk *w, int side);

/*
 * "its trees hold more than N entries, more than the F files and D
 * directories it declares allow" (or the depth), into out: for messages
 * that name the snapshot first.
 */
void kl_walk_over_str(const struct kl_walk_stats *st,
    const struct kl_walk_budget *b, uint64_t files, uint64_t dirs,
    char *out, size_t cap);

#endif
