/* Private to restore-tools/. */
#ifndef KLUIS_RESTORE_INTERNAL_H
#define KLUIS_RESTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kluis/format.h"
#include "kluis/map.h"
#include "kluis/restore.h"
#include "kluis/treewalk.h"

struct stat;

/* Which object a restored path is: the restore's own, by device and inode
 * (ino 0: not known). */
struct rs_ident {
	uint64_t dev, ino;
};

/* A regular file's progress in the content restore (rjob.state). */
enum rs_file_state {
	RS_FILE_NONE,		/* not created yet */
	RS_FILE_CREATING,	/* a thread is creating it */
	RS_FILE_MADE,		/* created by this restore: id says which */
	RS_FILE_LOST,		/* could not be created */
};

/* A restored path whose content or metadata is applied later. */
struct rjob {
	char *rel;		/* path relative to the target */
	struct kl_node node;	/* a copy (content fields for files) */
	struct rs_ident id;	/* the object created (or reused) for it */
	int failed;
	int state;		/* files: enum rs_file_state */
};

/*
 * Renames every file whose job failed and that the restore created to
 * NAME.kluis-incomplete (or removes it if that name does not fit):
 * restore_data.c, after the content.
 */
void rs_damaged_rename(int root, const struct rjob *files, size_t nfiles);
/*
 * After the content: creates, empty, the files of files[0, nfiles) that
 * nothing was written to (empty files, all holes, content that failed),
 * and gives each complete file that ends in a hole its full size.  A
 * file's size never comes from the tree alone: a file whose content
 * failed keeps the size of what was written.  fail (may be NULL) hears of
 * those that cannot be created or completed.
 */
void rs_files_create(int root, struct rjob *files, size_t nfiles,
    void (*fail)(void *arg, size_t f, int err), void *arg);

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

/* ---- restore_fs.c: file-system operations beneath the target ---- */

/* "/proc/self/fd/N" */
#define RS_FD_PATH_LEN 32

/*
 * Opens rel beneath dirfd without following any symbolic link (openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, O_NOFOLLOW,
 * O_CLOEXEC).  Returns the descriptor, or -1 with errno.
 */
int rs_open_beneath(int dirfd, const char *rel, int flags, unsigned mode);
/* An errno of an operation beneath the target as a kl_err: a link or a
 * non-directory on the way (ELOOP, EXDEV, EAGAIN, ENOTDIR) is
 * KL_E_CHANGED. */
int rs_err(int e);
/*
 * Opens (O_PATH) the parent directory of rel beneath root; *name points
 * to rel's last component.  Every single-name operation on rel goes
 * through *pfd.  KL_OK, KL_E_CHANGED (a link or a non-directory on the
 * way), KL_E_LIMIT or another errno code; *pfd is -1 on failure.
 */
int rs_parent_open(int root, const char *rel, const char **name, int *pfd);
/*
 * The last parent directory opened (rs_parent_open), kept for the next
 * operation in the same directory: the walk and the metadata phase work
 * through one directory's entries in a row.  A descriptor stays what it
 * was when it was opened beneath the target, like any other: someone who
 * can write a directory and the place it goes can move it meanwhile, and
 * then the operations go there - only where they could write anyway.
 * fd is -1 when empty (set it so before the first use).
 */
struct rs_pdir {
	char rel[KL_PATH_MAX + 1];
	int fd;
};
/* rs_parent_open through the cache c: *pfd is c's, not to be closed. */
int rs_pdir_open(struct rs_pdir *c, int root, const char *rel,
    const char **name, int *pfd);
void rs_pdir_close(struct rs_pdir *c);
void rs_ident_set(struct rs_ident *id, const struct stat *st);
/*
 * Opens name in pfd with O_PATH, not following it, and checks with fstat
 * that it has file type fmt (S_IFMT bits; 0: any) and, if want is given
 * and known, that it is that object.  *st (may be NULL) gets the stat.
 * KL_E_CHANGED if not; *fd is -1 on failure.
 */
int rs_object_open(int pfd, const char *name, unsigned fmt,
    const struct rs_ident *want, int *fd, struct stat *st);
/*
 * Identifies what the restore has just created at name in pfd: of type
 * fmt and, unless a directory, with one link (a hard link planted in its
 * place has more).  KL_E_CHANGED if not.
 */
int rs_made_check(int pfd, const char *name, unsigned fmt,
    struct rs_ident *id);
/* p gets "/proc/self/fd/FD" (len >= RS_FD_PATH_LEN). */
void rs_fd_path(int fd, char *p, size_t len);
/* Links the object of O_PATH descriptor fd as name in pfd. */
int rs_link_fd(int fd, int pfd, const char *name);
/*
 * Reopens regular file rel beneath root with open flags (no O_CREAT),
 * through an O_PATH descriptor checked to be the file want names: never
 * opens anything else.  Returns the descriptor or a negative kl_err.
 */
int rs_reopen(int root, const char *rel, const struct rs_ident *want,
    int flags);
/* Renames rel to rel.kluis-incomplete (or removes it if the name does not
 * fit), if it is still the object want names. */
void rs_rename_damaged(int root, const char *rel,
    const struct rs_ident *want);
/*
 * Opens o->target (O_RDONLY | O_DIRECTORY), created with mode 0700 if
 * missing: its real path is walked from "/" one component at a time
 * without following links, and o->warn hears (with KL_OK, no error) of
 * every directory on the way and of the target that users other than the
 * caller and root can write.  KL_E_EXISTS: not empty and no overwrite;
 * KL_E_INVAL: not a directory; KL_E_CHANGED: a link appeared on the path
 * while it was walked; else an errno code.
 */
int rs_target_open(const struct kl_restore_opts *o, int *fd);

/* ---- meta_apply.c ---- */

/*
 * Applies owner, mode, xattrs and times of n to rel beneath root, through
 * a descriptor of the object, which must be of n's type and, if id is
 * known, that object (KL_E_CHANGED otherwise: nothing applied).  The
 * parent is opened through pd.
 */
int rs_meta_apply(struct rs_pdir *pd, int root, const char *rel,
    const struct kl_node *n, const struct rs_ident *id, int is_root_user);
/* The S_IFMT bits of a tree node type. */
unsigned rs_node_fmt(unsigned type);

/* ---- groupmap.c: hard link groups, keyed ---- */

/*
 * uint64 -> size_t map: kluis/map.h's, typed; all zeroes is an empty map.
 * Keys come from trees, which a backup-only key can write: the map's slots
 * are keyed per process, so no one can make keys collide.
 */
struct rs_gmap {
	struct kl_map m;
};

/* Adds k -> v unless k is present: 1 added, 0 present, KL_E_NOMEM,
 * KL_E_LIMIT (v is SIZE_MAX). */
int rs_gmap_put(struct rs_gmap *m, uint64_t k, size_t v);
/* 1 and *v if k is present, 0 if not. */
int rs_gmap_get(const struct rs_gmap *m, uint64_t k, size_t *v);
/* Frees the map (NULL-safe contents) and zeroes it. */
void rs_gmap_clear(struct rs_gmap *m);

/* ---- a test seam ---- */

/* Steps at which a test may change the target (tests/unit/test_restore.c:
 * the local user's swaps, made deterministic). */
enum rs_step {
	RS_STEP_TARGET,		/* rel: the target's real path, unwalked */
	RS_STEP_ENTRY,		/* before the walk creates rel */
	RS_STEP_CONTENT,	/* before file rel is opened to be written */
	RS_STEP_META,		/* before rel's metadata is applied */
	RS_STEP_DAMAGED,	/* before rel is renamed as damaged */
};
/* NULL except in tests; called from restore threads too. */
extern void (*rs_test_step)(enum rs_step step, const char *rel);
#define RS_STEP(step, rel)						\
	do {								\
		if (rs_test_step != NULL)				\
			rs_test_step((step), (rel));			\
	} while (0)

#endif
