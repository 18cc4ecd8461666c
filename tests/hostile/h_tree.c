/*
 * Attacks through trees (issue #10 finding 4): a backup-only key holds
 * everything needed to write authentic snapshots and trees - the id key,
 * the public key sessions are sealed to, the index key - so any tree a
 * full-key reader walks may be hostile.  Each attack writes one snapshot
 * through an ordinary backup session (kl_session_*) and prints its id:
 *
 *   tree-deep N       a chain of N nested directories;
 *   tree-dag DEPTH    two names per level that both name the next level:
 *                     a few hundred bytes of trees, 2^DEPTH paths;
 *   tree-unloadable missing-root|missing-subtree|garbage-pack
 *                     a root tree that is in no pack, a directory whose
 *                     subtree is in no pack, or a subtree claimed by a
 *                     pack of garbage that an index file names.
 *
 * Options before the attack's arguments: --host H (the snapshot's host
 * name, default web01), --path P (its backed-up path, default /srv),
 * --files F and --dirs D (the totals it declares; by default what the
 * trees would truthfully hold if each path were a directory of its own:
 * N for a chain, 2 * DEPTH for a DAG - numbers that look like a small
 * real backup), --time T (unix seconds; default now).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "hostile.h"

#define GARBAGE_STORED 512	/* bytes of garbage for a claimed tree */

struct topts {
	char *host;
	char *path;
	uint64_t files, dirs;
	int files_set, dirs_set;
	int64_t time;
};

/* Parses the options; *first gets the index of the first argument. */
static int
topts_parse(int argc, char **argv, struct topts *o, int *first)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->host = "web01";
	o->path = "/srv";
	o->time = (int64_t)time(NULL);
	for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--host") == 0)
			o->host = argv[i + 1];
		else if (strcmp(argv[i], "--path") == 0)
			o->path = argv[i + 1];
		else if (strcmp(argv[i], "--files") == 0) {
			o->files = strtoull(argv[i + 1], NULL, 10);
			o->files_set = 1;
		} else if (strcmp(argv[i], "--dirs") == 0) {
			o->dirs = strtoull(argv[i + 1], NULL, 10);
			o->dirs_set = 1;
		} else if (strcmp(argv[i], "--time") == 0)
			o->time = strtoll(argv[i + 1], NULL, 10);
		else
			return -1;
	}
	*first = i;
	return 0;
}

/* A directory node named name whose tree is sub. */
static void
dir_node(struct kl_node *n, const char *name, const struct kl_id *sub)
{
	memset(n, 0, sizeof(*n));
	n->name = (uint8_t *)(uintptr_t)name;
	n->name_len = strlen(name);
	n->type = KL_NODE_DIR;
	n->mode = 0755;
	n->user = "root";
	n->group = "root";
	n->target = "";
	n->mtime.s = 1700000000;
	n->atime = n->ctime = n->mtime;
	n->nlink = 2;
	n->subtree = *sub;
}

/*
 * Wraps tree top (the backed-up directory's content) in the directories
 * of o->path up to the root tree (FORMAT.md §11.1), then commits the
 * snapshot and prints its id.
 */
static int
snap_commit(struct hctx *h, struct kl_session *s, const struct topts *o,
    const struct kl_id *top)
{
	char buf[KL_PATH_MAX + 1], *comp[64], *p, *save = NULL;
	struct kl_snapshot snap;
	struct kl_node n;
	struct kl_id cur = *top, id;
	size_t nc = 0;
	int rc = KL_OK;

	snprintf(buf, sizeof(buf), "%s", o->path);
	for (p = strtok_r(buf, "/", &save); p != NULL && nc < 64;
	    p = strtok_r(NULL, "/", &save))
		comp[nc++] = p;
	while (nc > 0 && rc == KL_OK) {
		dir_node(&n, comp[--nc], &cur);
		rc = h_tree_put(h, s, &n, 1, &cur);
	}
	if (rc != KL_OK)
		return rc;
	memset(&snap, 0, sizeof(snap));
	snap.time_s = o->time;
	snap.tree = cur;
	snap.hostname = o->host;
	snap.username = "root";
	snap.paths = (char *[]){ o->path };
	snap.npaths = 1;
	snap.files = o->files;
	snap.dirs = o->dirs;
	snap.program = "kluis-hostile";
	if ((rc = kl_session_commit(s, &snap, &id, &h->err)) == KL_OK)
		h_print_id("snapshot", &id);
	return rc;
}

static int
usage_err(const char *u)
{
	fprintf(stderr, "usage: %s\n", u);
	return 2;
}

/* tree-deep N: "/srv/d/d/d/..." N levels. */
static int
deep(struct hctx *h, int argc, char **argv)
{
	struct kl_session *s = NULL;
	struct topts o;
	struct kl_node n;
	struct kl_id cur;
	unsigned long depth, i;
	int first, rc;

	if (topts_parse(argc, argv, &o, &first) != 0 || first + 1 != argc ||
	    (depth = strtoul(argv[first], NULL, 10)) == 0)
		return usage_err("tree-deep [OPTIONS] N");
	if (!o.dirs_set)
		o.dirs = depth + 1;
	if ((rc = h_session_open(h, &s)) != KL_OK)
		goto out;
	if ((rc = h_tree_put(h, s, NULL, 0, &cur)) != KL_OK)
		goto out;
	for (i = 0; i < depth && rc == KL_OK; i++) {
		dir_node(&n, "d", &cur);
		rc = h_tree_put(h, s, &n, 1, &cur);
	}
	if (rc == KL_OK)
		rc = snap_commit(h, s, &o, &cur);
	printf("depth %lu\n", depth);
out:
	kl_session_free(s);
	return rc == KL_OK ? 0 : 1;
}

/* tree-dag DEPTH: every level "a" and "b", both the next level. */
static int
dag(struct hctx *h, int argc, char **argv)
{
	struct kl_session *s = NULL;
	struct kl_node n[2];
	struct topts o;
	struct kl_id cur;
	unsigned long depth, i;
	int first, rc;

	if (topts_parse(argc, argv, &o, &first) != 0 || first + 1 != argc ||
	    (depth = strtoul(argv[first], NULL, 10)) == 0 || depth > 63)
		return usage_err("tree-dag [OPTIONS] DEPTH (1..63)");
	if (!o.dirs_set)
		o.dirs = 2 * depth + 1;
	if ((rc = h_session_open(h, &s)) != KL_OK)
		goto out;
	if ((rc = h_tree_put(h, s, NULL, 0, &cur)) != KL_OK)
		goto out;
	for (i = 0; i < depth && rc == KL_OK; i++) {
		dir_node(&n[0], "a", &cur);
		dir_node(&n[1], "b", &cur);
		rc = h_tree_put(h, s, n, 2, &cur);
	}
	if (rc == KL_OK)
		rc = snap_commit(h, s, &o, &cur);
	printf("paths %.0f\n", 2.0 * ((double)(1ULL << depth) - 1.0));
out:
	kl_session_free(s);
	return rc == KL_OK ? 0 : 1;
}

/*
 * A tree id that a pack of garbage claims, named by an index file: the
 * reader finds a location, fetches it, and the blob does not open.
 */
static int
garbage_tree(struct hctx *h, struct kl_id *id)
{
	struct h_blob b;
	struct kl_id pack, idx;
	int rc;

	memset(&b, 0, sizeof(b));
	b.type = KL_BLOB_TYPE_TREE;
	randombytes_buf(b.id.b, sizeof(b.id.b));
	b.raw_len = 1000;
	b.stored_len = GARBAGE_STORED;
	if ((rc = h_claim(h, &b, 1, &pack, &idx)) == KL_OK) {
		*id = b.id;
		h_print_id("garbage-pack", &pack);
		h_print_id("garbage-index", &idx);
	}
	return rc;
}

/* tree-unloadable MODE: a root or a subtree that cannot be loaded. */
static int
unloadable(struct hctx *h, int argc, char **argv)
{
	struct kl_session *s = NULL;
	struct kl_node n[2];
	struct kl_id bad, empty, top;
	struct topts o;
	const char *mode;
	int first, rc;

	if (topts_parse(argc, argv, &o, &first) != 0 || first + 1 != argc)
		return usage_err("tree-unloadable [OPTIONS] missing-root|"
		    "missing-subtree|garbage-pack");
	mode = argv[first];
	if (!o.dirs_set)
		o.dirs = 3;
	randombytes_buf(bad.b, sizeof(bad.b));	/* in no pack */
	if (strcmp(mode, "garbage-pack") == 0 &&
	    (rc = garbage_tree(h, &bad)) != KL_OK)
		goto out;
	else if (strcmp(mode, "missing-root") != 0 &&
	    strcmp(mode, "missing-subtree") != 0 &&
	    strcmp(mode, "garbage-pack") != 0)
		return usage_err("tree-unloadable [OPTIONS] missing-root|"
		    "missing-subtree|garbage-pack");
	if ((rc = h_session_open(h, &s)) != KL_OK)
		goto out;
	h_print_id("bad-tree", &bad);
	if (strcmp(mode, "missing-root") == 0) {
		o.path = "/";
		rc = snap_commit(h, s, &o, &bad);
		goto out;
	}
	/* a sound sibling next to the directory that is lost */
	if ((rc = h_tree_put(h, s, NULL, 0, &empty)) != KL_OK)
		goto out;
	dir_node(&n[0], "lost", &bad);
	dir_node(&n[1], "sound", &empty);
	if ((rc = h_tree_put(h, s, n, 2, &top)) == KL_OK)
		rc = snap_commit(h, s, &o, &top);
out:
	kl_session_free(s);
	return rc == KL_OK ? 0 : 1;
}

const struct h_attack h_tree_attacks[] = {
	{ "tree-deep", "[--host H] [--path P] [--files F] [--dirs D] "
	    "[--time T] N", deep },
	{ "tree-dag", "[--host H] [--path P] [--files F] [--dirs D] "
	    "[--time T] DEPTH", dag },
	{ "tree-unloadable", "[--host H] [--path P] [--time T] "
	    "missing-root|missing-subtree|garbage-pack", unloadable },
	{ NULL, NULL, NULL },
};
