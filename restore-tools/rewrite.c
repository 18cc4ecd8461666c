/*
 * kluis rewrite (kluis/rewrite.h): one walk over each snapshot's paths
 * (kluis/treewalk.h: no recursion, within the snapshot's budget, so a
 * hostile tree cannot make it run forever); every entry is matched against
 * the patterns by name and by whole path, a matching one is left out with
 * all it holds (counted, and named in the result), and a directory is
 * written again, when the walk leaves it, only if something below it
 * changed.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/grow.h"
#include "kluis/repo.h"
#include "kluis/rewrite.h"
#include "kluis/treewalk.h"

#define REWRITE_LEVEL	3	/* zstd level of the new trees */

/* Level tags: 1 below a left-out entry (only counted), 0 otherwise. */
#define TAG_OUT 1

/* A directory being written again: its entries so far, shared with the
 * walk's tree of it (valid until the walk leaves it). */
struct level {
	struct kl_tree nt;
	int changed;
};

struct rw {
	struct kl_repo *r;
	struct kl_error *err;		/* the caller's (may be NULL) */
	const struct kl_rewrite_opts *o;
	struct kl_rewrite_result *res;
	struct kl_session *s;		/* NULL for a dry run */
	struct level *lv;		/* [depth - 1]: the directories on the
					 * path */
	size_t nlv, lv_cap;
	size_t paths_cap;
	struct kl_id root;
	int changed;
};

/* 1 if the entry at path (named name) matches a pattern. */
static int
matches(const struct rw *w, const char *path, const char *name)
{
	size_t i;

	for (i = 0; i < w->o->nexcludes; i++) {
		const char *pat = w->o->excludes[i];

		if (strchr(pat, '/') != NULL ?
		    fnmatch(pat, path, FNM_PATHNAME) == 0 :
		    fnmatch(pat, name, 0) == 0)
			return 1;
	}
	return 0;
}

static int
path_note(struct rw *w, const char *path)
{
	struct kl_rewrite_result *res = w->res;
	int rc;

	if ((rc = KL_GROW(res->paths, w->paths_cap, res->npaths + 1)) !=
	    KL_OK)
		return rc;
	if ((res->paths[res->npaths] = strdup(path)) == NULL)
		return KL_E_NOMEM;
	res->npaths++;
	return KL_OK;
}

static void
count_out(struct rw *w, const struct kl_node *n)
{
	if (n->type == KL_NODE_FILE) {
		w->res->files++;
		w->res->bytes += n->size;
	} else if (n->type == KL_NODE_DIR) {
		w->res->dirs++;
	}
}

static int
tree_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct rw *w = arg;

	return kl_repo_tree_load(w->r, id, out, w->err);
}

/* A directory's tree, before its entries: a level to write it again. */
static int
rw_tree(void *arg, struct kl_walk *wk, const struct kl_tree *a,
    const struct kl_tree *b)
{
	struct rw *w = arg;
	struct level *nl;

	(void)b;
	if (*kl_walk_tagp(wk, 0) == TAG_OUT)
		return KL_OK;
	if (KL_GROW(w->lv, w->lv_cap, w->nlv + 1) != KL_OK)
		return KL_E_NOMEM;
	nl = &w->lv[w->nlv];
	memset(nl, 0, sizeof(*nl));
	if ((nl->nt.nodes = calloc(a->n ? a->n : 1, sizeof(*nl->nt.nodes))) ==
	    NULL)
		return KL_E_NOMEM;
	w->nlv++;
	return KL_OK;
}

static int
rw_entry(void *arg, struct kl_walk *wk, const struct kl_node *a,
    const struct kl_node *b)
{
	struct rw *w = arg;
	struct level *l;
	const char *path;
	size_t len;
	int rc;

	(void)b;
	if (*kl_walk_tagp(wk, 0) == TAG_OUT) {	/* below a left-out entry */
		count_out(w, a);
		kl_walk_set_tag(wk, TAG_OUT);
		return KL_WALK_A;
	}
	l = &w->lv[w->nlv - 1];
	path = kl_walk_path(wk, &len);
	if (matches(w, path, path + len - a->name_len)) {
		l->changed = 1;
		if ((rc = path_note(w, path)) != KL_OK)
			return rc;
		count_out(w, a);
		kl_walk_set_tag(wk, TAG_OUT);	/* only counted below */
		return KL_WALK_A;
	}
	l->nt.nodes[l->nt.n++] = *a;		/* shares the walk's tree */
	return KL_WALK_A;
}

/* After a directory's entries: written again if something changed, and
 * its parent's entry pointed at the new tree. */
static int
rw_leave(void *arg, struct kl_walk *wk)
{
	struct rw *w = arg;
	struct level *l;
	struct kl_id id;
	uint64_t stored;
	int rc = KL_OK, changed;

	if (*kl_walk_tagp(wk, 0) == TAG_OUT || w->nlv == 0)
		return KL_OK;
	l = &w->lv[w->nlv - 1];
	changed = l->changed;
	memset(&id, 0, sizeof(id));
	if (changed && w->s != NULL)
		rc = kl_session_tree_add(w->s, &l->nt, &id, &stored, w->err);
	free(l->nt.nodes);
	w->nlv--;
	if (rc != KL_OK || !changed)
		return rc;
	if (w->nlv == 0) {			/* the root */
		w->root = id;
		w->changed = 1;
		return KL_OK;
	}
	/* the directory is its parent's last entry so far */
	l = &w->lv[w->nlv - 1];
	l->nt.nodes[l->nt.n - 1].subtree = id;
	l->changed = 1;
	return KL_OK;
}

/* Walks snapshot snap within its budget, writing the trees that change. */
static int
rw_walk(struct rw *w, const struct kl_id *id, const struct kl_snapshot *snap)
{
	char hex[KL_ID_HEX_LEN + 1], why[256];
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	struct kl_walk_ops ops;
	int rc;

	memset(&ops, 0, sizeof(ops));
	ops.load = tree_load;
	ops.load_arg = w;
	ops.entry = rw_entry;
	ops.tree = rw_tree;
	ops.leave = rw_leave;
	kl_repo_walk_budget(w->r, snap, &b);
	rc = kl_walk_run(&ops, w, &snap->tree, NULL, &b, 0, &st);
	while (w->nlv > 0)		/* a walk that stopped half-way */
		free(w->lv[--w->nlv].nt.nodes);
	kl_id_hex(id, hex);
	if (rc == KL_E_LIMIT && st.over != KL_WALK_WITHIN) {
		kl_walk_over_str(&st, &b, snap->files, snap->dirs, why,
		    sizeof(why));
		kl_error_obj(w->err, rc, KL_ABOUT_SNAPSHOT, id, NULL,
		    "snapshot %.8s of host %s: %s; kluis backup never writes "
		    "this (kluis check names it): it was not rewritten; forget "
		    "it", hex, snap->hostname, why);
	} else if (rc == KL_E_CORRUPT || rc == KL_E_NOTFOUND ||
	    rc == KL_E_UNSUPPORTED) {
		/* a tree that does not read; a write's failure (a full disk,
		 * a refusal) keeps its own code and stops the rewrite */
		rc = kl_error_obj(w->err, KL_E_CORRUPT, KL_ABOUT_SNAPSHOT, id,
		    NULL, "snapshot %.8s: a tree does not read (%s): it was "
		    "not rewritten; run kluis check", hex, kl_strerror(rc));
	}
	return rc;
}

static uint64_t
minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int
kl_rewrite_snapshot(struct kl_repo *r, const struct kl_id *id,
    const struct kl_rewrite_opts *o, struct kl_rewrite_result *res,
    struct kl_error *err)
{
	struct kl_snapshot snap;
	struct rw w;
	char *program = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	memset(&snap, 0, sizeof(snap));
	res->original = *id;
	w.r = r;
	w.err = err;
	w.o = o;
	w.res = res;
	if ((rc = kl_repo_snapshot_load(r, id, &snap, err)) != KL_OK)
		goto out;
	if ((rc = kl_repo_index_load(r, err)) == KL_OK && !o->dry_run)
		rc = kl_session_begin(r, REWRITE_LEVEL, &w.s, err);
	if (rc == KL_OK)
		rc = rw_walk(&w, id, &snap);
	res->changed = w.changed;
	if (rc != KL_OK || !w.changed || o->dry_run)
		goto out;
	if (asprintf(&program, "kluis %s rewrite", KLUIS_VERSION) < 0) {
		program = NULL;
		rc = KL_E_NOMEM;
		goto out;
	}
	free(snap.program);
	snap.program = program;
	program = NULL;
	snap.tree = w.root;
	snap.parent = *id;
	snap.files = minus(snap.files, res->files);
	snap.dirs = minus(snap.dirs, res->dirs);
	snap.bytes = minus(snap.bytes, res->bytes);
	rc = kl_session_commit(w.s, &snap, &res->rewritten, err);
out:
	if (w.s != NULL)
		kl_session_free(w.s);
	free(w.lv);
	kl_snapshot_clear(&snap);
	free(program);
	return rc;
}

void
kl_rewrite_result_clear(struct kl_rewrite_result *res)
{
	size_t i;

	for (i = 0; i < res->npaths; i++)
		free(res->paths[i]);
	free(res->paths);
	memset(res, 0, sizeof(*res));
}
