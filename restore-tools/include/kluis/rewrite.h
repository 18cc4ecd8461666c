/*
 * kluis rewrite (docs/CLI.md "rewrite", RUNBOOK "Erasure request"): a
 * snapshot written again without the paths that match exclude patterns.
 *
 * The new snapshot keeps the original's host, paths, tags, user and time;
 * its trees are the original's with the matching entries (and everything
 * below them) left out, unchanged subtrees shared; its program field says
 * "rewrite" and its parent field names the snapshot it replaces
 * (FORMAT.md §10).  No data blob is read or written: the erased content
 * stays in the repository until the original is forgotten and pruned.
 */
#ifndef KLUIS_REWRITE_H
#define KLUIS_REWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

struct kl_rewrite_opts {
	/* fnmatch(3) patterns as for backup --exclude: with a '/', matched
	 * against the whole path (FNM_PATHNAME), else against the name */
	const char *const *excludes;
	size_t nexcludes;
	int dry_run;		/* find what matches, write nothing */
};

struct kl_rewrite_result {
	struct kl_id original;
	struct kl_id rewritten;		/* zero when unchanged or a dry run */
	int changed;			/* some entry matched */
	uint64_t files, dirs, bytes;	/* what was left out */
	char **paths;			/* the entries left out (the topmost
					 * of each matching subtree) */
	size_t npaths;
};

/*
 * Rewrites snapshot id into res.  KL_E_CORRUPT (a tree that does not
 * read), KL_E_LIMIT (trees beyond the snapshot's walk budget: a hostile
 * snapshot), KL_E_NOMEM, transport and storage errors; the snapshot is
 * then not rewritten and err says why.  Needs a full key.
 */
int kl_rewrite_snapshot(struct kl_repo *r, const struct kl_id *id,
    const struct kl_rewrite_opts *o, struct kl_rewrite_result *res,
    struct kl_error *err);
void kl_rewrite_result_clear(struct kl_rewrite_result *res);

#endif
