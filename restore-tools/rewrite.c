/*
 * kluis rewrite (kluis/rewrite.h): each tree is read, its entries matched
 * against the patterns by name and by whole path, and written again only
 * if something below it changed; a matching entry is left out with all it
 * holds (counted, and named in the result).
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/repo.h"
#include "kluis/rewrite.h"

#define PATH_MAX_LEN	((size_t)64 << 10)
#define DEPTH_MAX	4096
#define REWRITE_LEVEL	3	/* zstd level of the new trees */

struct rw {
	struct kl_repo *r;
	const struct kl_rewrite_opts *o;
	struct kl_rewrite_result *res;
	struct kl_session *s;		/* NULL for a dry run */
	char *path;			/* the current path, NUL-terminated */
	size_t plen, pcap;
	size_t paths_cap;
};

static int
path_push(struct rw *w, const struct kl_node *n, size_t *saved)
{
	size_t need = w->plen + 1 + n->name_len + 1;
	char *np;

	*saved = w->plen;
	if (need > PATH_MAX_LEN)
		return KL_E_LIMIT;
	if (need > w->pcap) {
		if ((np = realloc(w->path, need * 2)) == NULL)
			return KL_E_NOMEM;
		w->path = np;
		w->pcap = need * 2;
	}
	if (w->plen != 1)	/* the root is "/" */
		w->path[w->plen++] = '/';
	memcpy(w->path + w->plen, n->name, n->name_len);
	w->plen += n->name_len;
	w->path[w->plen] = '\0';
	return KL_OK;
}

static void
path_pop(struct rw *w, size_t saved)
{
	w->plen = saved;
	w->path[saved] = '\0';
}

/* 1 if the entry at w->path (named name) matches a pattern. */
static int
matches(const struct rw *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->o->nexcludes; i++) {
		const char *pat = w->o->excludes[i];

		if (strchr(pat, '/') != NULL ?
		    fnmatch(pat, w->path, FNM_PATHNAME) == 0 :
		    fnmatch(pat, name, 0) == 0)
			return 1;
	}
	return 0;
}

static int
tree_read(struct rw *w, const struct kl_id *id, struct kl_tree *t)
{
	char hex[KL_ID_HEX_LEN + 1];
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = kl_repo_tree_load(w->r, id, t)) != KL_OK) {
		kl_id_hex(id, hex);
		kl_repo_seterr(w->r, "tree %s (below %s) cannot be read: %s",
		    hex, w->path, kl_strerror(rc));
		return rc == KL_E_NOTFOUND ? KL_E_CORRUPT : rc;
	}
	return KL_OK;
}

/* Counts what a left-out entry held. */
static int
count_out(struct rw *w, const struct kl_node *n, unsigned depth)
{
	struct kl_tree t;
	size_t i;
	int rc;

	if (n->type == KL_NODE_FILE) {
		w->res->files++;
		w->res->bytes += n->size;
	}
	if (n->type != KL_NODE_DIR)
		return KL_OK;
	w->res->dirs++;
	if (depth > DEPTH_MAX)
		return KL_E_LIMIT;
	if ((rc = tree_read(w, &n->subtree, &t)) != KL_OK)
		return rc;
	for (i = 0; i < t.n && rc == KL_OK; i++)
		rc = count_out(w, &t.nodes[i], depth + 1);
	kl_tree_clear(&t);
	return rc;
}

static int
path_note(struct rw *w)
{
	struct kl_rewrite_result *res = w->res;
	char **np;

	if (res->npaths == w->paths_cap) {
		w->paths_cap = w->paths_cap ? w->paths_cap * 2 : 16;
		if ((np = realloc(res->paths, w->paths_cap * sizeof(*np))) ==
		    NULL)
			return KL_E_NOMEM;
		res->paths = np;
	}
	if ((res->paths[res->npaths] = strdup(w->path)) == NULL)
		return KL_E_NOMEM;
	res->npaths++;
	return KL_OK;
}

/*
 * Rewrites tree id (at w->path): *out gets the id of the tree to use,
 * *changed whether it differs.
 */
static int
tree_rewrite(struct rw *w, const struct kl_id *id, unsigned depth,
    struct kl_id *out, int *changed)
{
	struct kl_tree t, nt;
	struct kl_id sub;
	uint64_t stored;
	char *name = NULL;
	size_t i, saved;
	int rc, ch;

	*out = *id;
	*changed = 0;
	if (depth > DEPTH_MAX)
		return KL_E_LIMIT;
	if ((rc = tree_read(w, id, &t)) != KL_OK)
		return rc;
	memset(&nt, 0, sizeof(nt));
	if ((nt.nodes = calloc(t.n ? t.n : 1, sizeof(*nt.nodes))) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	for (i = 0; i < t.n && rc == KL_OK; i++) {
		struct kl_node *n = &t.nodes[i];

		free(name);
		if ((name = strndup((const char *)n->name, n->name_len)) ==
		    NULL || (rc = path_push(w, n, &saved)) != KL_OK) {
			rc = rc != KL_OK ? rc : KL_E_NOMEM;
			break;
		}
		if (matches(w, name)) {
			*changed = 1;
			if ((rc = path_note(w)) == KL_OK)
				rc = count_out(w, n, depth + 1);
		} else {
			nt.nodes[nt.n] = *n;	/* shares t's allocations */
			if (n->type == KL_NODE_DIR && (rc = tree_rewrite(w,
			    &n->subtree, depth + 1, &sub, &ch)) == KL_OK &&
			    ch) {
				nt.nodes[nt.n].subtree = sub;
				*changed = 1;
			}
			nt.n++;
		}
		path_pop(w, saved);
	}
	if (rc == KL_OK && *changed && w->s != NULL)
		rc = kl_session_tree_add(w->s, &nt, out, &stored);
out:
	free(name);
	free(nt.nodes);
	kl_tree_clear(&t);
	return rc;
}

static uint64_t
minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int
kl_rewrite_snapshot(struct kl_repo *r, const struct kl_id *id,
    const struct kl_rewrite_opts *o, struct kl_rewrite_result *res)
{
	struct kl_snapshot snap;
	struct rw w;
	struct kl_id root;
	char *program = NULL;
	int rc, changed = 0;

	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	memset(&snap, 0, sizeof(snap));
	res->original = *id;
	w.r = r;
	w.o = o;
	w.res = res;
	if ((w.path = malloc(256)) == NULL)
		return KL_E_NOMEM;
	w.pcap = 256;
	w.path[0] = '/';
	w.path[1] = '\0';
	w.plen = 1;
	if ((rc = kl_repo_snapshot_load(r, id, &snap)) != KL_OK)
		goto out;
	if (!o->dry_run && (rc = kl_repo_index_load(r)) == KL_OK)
		rc = kl_session_begin(r, REWRITE_LEVEL, &w.s);
	if (rc == KL_OK)
		rc = tree_rewrite(&w, &snap.tree, 0, &root, &changed);
	res->changed = changed;
	if (rc != KL_OK || !changed || o->dry_run)
		goto out;
	if (asprintf(&program, "kluis %s rewrite", KLUIS_VERSION) < 0) {
		program = NULL;
		rc = KL_E_NOMEM;
		goto out;
	}
	free(snap.program);
	snap.program = program;
	program = NULL;
	snap.tree = root;
	snap.parent = *id;
	snap.files = minus(snap.files, res->files);
	snap.dirs = minus(snap.dirs, res->dirs);
	snap.bytes = minus(snap.bytes, res->bytes);
	rc = kl_session_commit(w.s, &snap, &res->rewritten);
out:
	if (w.s != NULL)
		kl_session_free(w.s);
	kl_snapshot_clear(&snap);
	free(program);
	free(w.path);
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
