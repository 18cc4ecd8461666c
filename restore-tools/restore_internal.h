/* Private to restore-tools/. */
#ifndef KLUIS_RESTORE_INTERNAL_H
#define KLUIS_RESTORE_INTERNAL_H

#include <time.h>

#include "kluis/format.h"
#include "kluis/restore.h"
#include "kluis/treewalk.h"

/* A restored path whose content or metadata is applied later. */
struct rjob {
	char *rel;		/* path relative to the target */
	struct kl_node node;	/* a copy (content fields for files) */
	int failed;
	int created;		/* files: exists at its full size (atomic) */
};

/*
 * Renames every file whose job failed and that the restore created to
 * NAME.kluis-incomplete (or removes it if that name does not fit):
 * restore_data.c, after the content.
 */
void rs_damaged_rename(int root, const struct rjob *files, size_t nfiles);
/*
 * Creates, at full size, the files of files[0, nfiles) that no content
 * was written to (empty files, all holes, content that failed); fail (may
 * be NULL) hears of those that cannot be created.
 */
void rs_files_create(int root, struct rjob *files, size_t nfiles,
    void (*fail)(void *arg, size_t f, int err), void *arg);
/* Opens (creating if need be) file job j for writing, at its full size. */
int rs_file_open(int root, struct rjob *j);

/*
 * Phase 1 of a restore alone - the walk over the trees that creates the
 * directories, links and special files and plans the regular files - with
 * trees from load and within budget b: kl_restore_run without a
 * repository, for tests of the walk.  Planned files are then created as
 * NAME.kluis-incomplete if the budget stopped the walk, else not at all.
 * *wst gets the walk's counts.
 */
struct kl_walk_budget;
struct kl_walk_stats;
int rs_plan_run(const struct kl_restore_opts *o, kl_tree_load_fn load,
    void *load_arg, const struct kl_id *tree, const struct kl_walk_budget *b,
    struct kl_restore_stats *stats, struct kl_walk_stats *wst);

/* Seconds since *t0 (CLOCK_MONOTONIC). */
double rs_since(const struct timespec *t0);

/* Opens rel beneath dirfd without following any symbolic link. */
int rs_open_beneath(int dirfd, const char *rel, int flags, unsigned mode);
/* Applies owner, mode, xattrs and times of n to rel beneath root. */
int rs_meta_apply(int root, const char *rel, const struct kl_node *n,
    int is_root_user);

#endif
