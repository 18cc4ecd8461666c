/*
 * Restore, phase by phase: (1) walk the snapshot's trees and create the
 * structure - directories, symlinks, devices, fifos, hard links, and every
 * regular file at its final size (so holes are holes); (2) fill file
 * contents pack by pack (restore_data.c); (3) apply file metadata, then
 * directory metadata deepest first, so that writing into a directory never
 * disturbs its restored times or read-only mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "restore_internal.h"

/* restore_data.c */
int rs_data_restore(struct kl_repo *r, int root, struct rjob *files,
    size_t nfiles, const struct kl_restore_opts *o,
    struct kl_restore_stats *st, struct kl_error *err);

struct linkmap {
	uint64_t group;
	char *rel;		/* the first restored name of the group */
	size_t job;		/* its file job, or SIZE_MAX (not a file) */
	struct rs_ident id;	/* the object made for it */
};

/* Another name made with link(): renamed too if the content fails. */
struct linkname {
	uint64_t group;
	char *rel;
};

struct rs {
	struct kl_repo *r;
	struct kl_error *err;		/* the caller's (may be NULL) */
	struct kl_error tree_err;	/* of the last tree load: a tree
					 * that does not load is a warning */
	kl_tree_load_fn load;		/* trees: kl_repo_tree_load of r */
	void *load_arg;
	struct kl_walk_stats wst;	/* of the walk over the trees */
	const struct kl_restore_opts *o;
	struct kl_restore_stats *st;
	int root;			/* target directory fd */
	char rel[KL_PATH_MAX + 2];	/* current path, relative */
	size_t rlen;
	char snap[KL_PATH_MAX + 2];	/* current path in the snapshot */
	size_t slen;
	struct rjob *files, *dirs, *others;
	size_t nfiles, ndirs, nothers, cfiles, cdirs, cothers;
	struct linkmap *links;
	size_t nlinks, clinks;
	struct rs_gmap lmap;		/* group -> index in links */
	struct rs_pdir pd;		/* the last parent directory */
	struct rs_pdir pdl;		/* the last parent of a first name */
	struct linkname *names;
	size_t nnames, cnames;
	int is_root_user;
};

/* Warns about the current path, named as TARGET/relative. */
static void
rs_warn_here(struct rs *s, int err, const char *what)
{
	char path[2 * KL_PATH_MAX + 2];

	snprintf(path, sizeof(path), "%s%s%s", s->o->target,
	    s->rlen ? "/" : "", s->rel);
	s->st->errors++;
	if (s->o->warn != NULL)
		s->o->warn(s->o->warn_arg, path, err, what);
}

static void
rs_warn(struct rs *s, const char *path, int err, const char *what)
{
	s->st->errors++;
	if (s->o->warn != NULL)
		s->o->warn(s->o->warn_arg, path, err, what);
}

static int
job_add(struct rjob **v, size_t *n, size_t *cap, const char *rel,
    const struct kl_node *node, const struct rs_ident *id)
{
	struct rjob *j;
	int rc;

	if ((rc = kl_grow(v, cap, *n + 1, sizeof(*j))) != KL_OK)
		return rc;
	j = &(*v)[*n];
	memset(j, 0, sizeof(*j));
	if ((j->rel = strdup(rel)) == NULL)
		return KL_E_NOMEM;
	if (kl_node_copy(node, &j->node) != KL_OK) {
		free(j->rel);
		return KL_E_NOMEM;
	}
	if (id != NULL)
		j->id = *id;
	(*n)++;
	return KL_OK;
}

static void
jobs_free(struct rjob *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].rel);
		kl_node_clear(&v[i].node);
	}
	free(v);
}

/* Include test: 2 = inside an include, 1 = an ancestor of one, 0 = out. */
static int
include_state(struct rs *s)
{
	size_t i, l;
	int best = s->o->nincludes == 0 ? 2 : 0;

	if (s->o->select != NULL)
		return s->o->select(s->o->select_arg, s->snap);
	for (i = 0; i < s->o->nincludes; i++) {
		const char *inc = s->o->includes[i];

		l = strlen(inc);
		if (strcmp(inc, "/") == 0 || (strncmp(s->snap, inc, l) == 0 &&
		    (s->snap[l] == '/' || s->snap[l] == '\0')))
			return 2;
		if (strncmp(inc, s->snap, s->slen) == 0 && inc[s->slen] == '/')
			best = 1;
	}
	return best;
}

/*
 * The walk's operations on the file system (restore_fs.c has the rules):
 * each works on one name in a parent directory opened beneath the
 * target, and records which object it made, so that later phases touch
 * only that object.
 */

/* Makes directory rel (with --overwrite, an existing one is reused). */
static int
make_dir(struct rs *s, struct rs_ident *id)
{
	const char *name;
	int pfd, rc;

	RS_STEP(RS_STEP_ENTRY, s->rel);
	if ((rc = rs_pdir_open(&s->pd, s->root, s->rel, &name, &pfd)) != KL_OK)
		return rc;
	if (mkdirat(pfd, name, 0700) != 0 && errno != EEXIST)
		rc = kl_err_from_errno(errno);
	/* overwrite: an existing directory is fine, anything else is not */
	else if ((rc = rs_made_check(pfd, name, S_IFDIR, id)) == KL_E_CHANGED)
		rc = KL_E_EXISTS;
	return rc;
}

/* With --overwrite, a non-directory in the way is replaced. */
static void
clear_way(struct rs *s, int pfd, const char *name)
{
	if (s->o->overwrite)
		unlinkat(pfd, name, 0);
}

/*
 * The way for a regular file that the content restore creates (on its
 * first write, restore_data.c): cleared, and nothing left in it (with
 * --overwrite, a directory may be).
 */
static int
file_way(struct rs *s)
{
	const char *name;
	struct stat st;
	int pfd, rc;

	if (!s->o->overwrite)
		return KL_OK;	/* the target was empty */
	if ((rc = rs_pdir_open(&s->pd, s->root, s->rel, &name, &pfd)) != KL_OK)
		return rc;
	clear_way(s, pfd, name);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = KL_E_EXISTS;
	else if (errno != ENOENT)
		rc = kl_err_from_errno(errno);
	return rc;
}

/*
 * The first name of a hard-linked file, made during the walk so that the
 * other names can be linked to it; empty: content makes it grow
 * (restore_data.c), a tree's claim of a size does not.
 */
static int
make_file(struct rs *s, struct rs_ident *id)
{
	const char *name;
	struct stat st;
	int pfd, fd, rc = KL_OK;

	if ((rc = rs_pdir_open(&s->pd, s->root, s->rel, &name, &pfd)) != KL_OK)
		return rc;
	clear_way(s, pfd, name);
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) != 0)
		rc = rs_err(errno);
	else
		rs_ident_set(id, &st);
	if (fd >= 0)
		close(fd);
	return rc;
}

static const struct linkmap *
link_find(struct rs *s, uint64_t group)
{
	size_t i;

	if (!rs_gmap_get(&s->lmap, group, &i))
		return NULL;
	return &s->links[i];
}

static int
name_note(struct rs *s, uint64_t group)
{
	int rc;

	if ((rc = KL_GROW(s->names, s->cnames, s->nnames + 1)) != KL_OK)
		return rc;
	if ((s->names[s->nnames].rel = strdup(s->rel)) == NULL)
		return KL_E_NOMEM;
	s->names[s->nnames++].group = group;
	return KL_OK;
}

static int
link_note(struct rs *s, uint64_t group, size_t job,
    const struct rs_ident *id)
{
	int rc;

	if (group == 0)
		return KL_OK;
	if ((rc = KL_GROW(s->links, s->clinks, s->nlinks + 1)) != KL_OK)
		return rc;
	if ((rc = rs_gmap_put(&s->lmap, group, s->nlinks)) < 0)
		return rc;
	if ((s->links[s->nlinks].rel = strdup(s->rel)) == NULL)
		return KL_E_NOMEM;
	s->links[s->nlinks].job = job;
	s->links[s->nlinks].id = *id;
	s->links[s->nlinks++].group = group;
	return KL_OK;
}

/*
 * Links rel to the object made for first: opened (O_PATH) and checked to
 * be that object before it is linked, so that a name swapped in the
 * meantime is never linked into the target.
 */
static int
link_make(struct rs *s, const struct linkmap *first)
{
	const char *fname, *name;
	int fpfd, fd, pfd, rc;

	if ((rc = rs_pdir_open(&s->pdl, s->root, first->rel, &fname,
	    &fpfd)) != KL_OK || (rc = rs_object_open(fpfd, fname, 0,
	    &first->id, &fd, NULL)) != KL_OK)
		return rc;
	if ((rc = rs_pdir_open(&s->pd, s->root, s->rel, &name, &pfd)) ==
	    KL_OK) {
		clear_way(s, pfd, name);
		rc = rs_link_fd(fd, pfd, name);
	}
	close(fd);
	return rc;
}

/* Another name of an inode already restored: 1 if it was linked. */
static int
restore_link(struct rs *s, const struct kl_node *n, int *rc)
{
	const struct linkmap *first;

	*rc = KL_OK;
	if (n->link_group == 0 || (first = link_find(s, n->link_group)) == NULL)
		return 0;
	if ((*rc = link_make(s, first)) == KL_OK &&
	    (*rc = name_note(s, n->link_group)) == KL_OK)
		s->st->links++;
	return 1;
}

/*
 * A regular file is created by the content restore when it first writes
 * to it (restore_data.c): the walk only plans it, and the two threads that
 * restore content create files alongside.  The first name of a hard-linked
 * file is made here: the other names are linked to it during the walk.
 */
static int
restore_file(struct rs *s, const struct kl_node *n)
{
	struct rs_ident id = { 0, 0 };
	int rc, made = n->link_group != 0;

	RS_STEP(RS_STEP_ENTRY, s->rel);
	if (restore_link(s, n, &rc))
		return rc;
	if ((rc = made ? make_file(s, &id) : file_way(s)) != KL_OK)
		return rc;
	if ((rc = link_note(s, n->link_group, s->nfiles, &id)) != KL_OK)
		return rc;
	s->st->files++;
	if ((rc = job_add(&s->files, &s->nfiles, &s->cfiles, s->rel, n,
	    &id)) != KL_OK)
		return rc;
	s->files[s->nfiles - 1].state = made ? RS_FILE_MADE : RS_FILE_NONE;
	return KL_OK;
}

static int
restore_special(struct rs *s, const struct kl_node *n)
{
	static const mode_t fmt[] = { [KL_NODE_CHR] = S_IFCHR,
		[KL_NODE_BLK] = S_IFBLK, [KL_NODE_FIFO] = S_IFIFO,
		[KL_NODE_SOCK] = S_IFSOCK };
	struct rs_ident id;
	const char *name;
	int pfd, rc;

	RS_STEP(RS_STEP_ENTRY, s->rel);
	if (restore_link(s, n, &rc))
		return rc;
	if ((rc = rs_pdir_open(&s->pd, s->root, s->rel, &name, &pfd)) != KL_OK)
		return rc;
	clear_way(s, pfd, name);
	if (n->type == KL_NODE_SYMLINK ? symlinkat(n->target, pfd, name) :
	    mknodat(pfd, name, fmt[n->type] | 0600, (dev_t)n->rdev))
		rc = kl_err_from_errno(errno);
	else
		rc = rs_made_check(pfd, name, rs_node_fmt(n->type), &id);
	if (rc != KL_OK)
		return rc;
	s->st->others++;
	if ((rc = link_note(s, n->link_group, SIZE_MAX, &id)) != KL_OK)
		return rc;
	return job_add(&s->others, &s->nothers, &s->cothers, s->rel, n, &id);
}

/* A directory; the walk enters its tree next (rs_entry). */
static int
restore_dir(struct rs *s, const struct kl_node *n)
{
	struct rs_ident id;
	int rc;

	if ((rc = make_dir(s, &id)) != KL_OK)
		return rc;
	s->st->dirs++;
	return job_add(&s->dirs, &s->ndirs, &s->cdirs, s->rel, n, &id);
}

static int
restore_node(struct rs *s, const struct kl_node *n, int state)
{
	if (n->type == KL_NODE_DIR)
		return restore_dir(s, n);
	if (state != 2)
		return KL_OK;	/* only directories lead to includes */
	if (n->type == KL_NODE_FILE)
		return restore_file(s, n);
	return restore_special(s, n);
}

/*
 * Fatal errors stop the walk: no memory, or the connection to the
 * repository is gone (every further tree would fail too); per-path ones
 * are reported.
 */
static int
fatal(int rc)
{
	return rc == KL_E_NOMEM || rc == KL_E_CONN;
}

/*
 * The walk stopped with rc (why: the connection was lost, or the trees
 * exceed the budget of snapshot snap): the files it planned have no
 * content.
 */
static void
walk_cut(struct rs *s, int rc, const struct kl_id *snap, const char *why)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		s->files[i].failed = 1;
	rs_files_create(s->root, s->files, s->nfiles, NULL, NULL);
	rs_damaged_rename(s->root, s->files, s->nfiles);
	s->st->errors += s->nfiles;
	kl_error_obj(s->err, rc, rc == KL_E_CONN ? KL_ABOUT_SERVER :
	    KL_ABOUT_SNAPSHOT, rc == KL_E_CONN ? NULL : snap, NULL, "%s; the "
	    "%zu file%s created so far %s kept as NAME%s: restore again into "
	    "an empty directory", why, s->nfiles, s->nfiles == 1 ? "" : "s",
	    s->nfiles == 1 ? "is" : "are", KL_RESTORE_DAMAGED_SUFFIX);
}

/* Makes the walk's path the current one (rel, snap); 0 if too long. */
static int
rs_here(struct rs *s, struct kl_walk *w)
{
	size_t len;
	const char *p = kl_walk_path(w, &len);

	if (len > KL_PATH_MAX)
		return 0;
	memcpy(s->snap, p, len + 1);
	s->slen = len;
	s->rlen = len > 0 ? len - 1 : 0;
	memcpy(s->rel, len > 0 ? p + 1 : "", s->rlen + 1);
	return 1;
}

/*
 * One entry of the walk over the snapshot's trees (kluis/treewalk.h): its
 * own stack, and the snapshot's budget, so that neither a chain of
 * directories nor a few trees naming each other many times over decide
 * how deep restore's stack goes or how long it runs.
 */
static int
rs_entry(void *arg, struct kl_walk *w, const struct kl_node *n,
    const struct kl_node *unused)
{
	char too[KL_PATH_MAX + 4];
	struct rs *s = arg;
	int state, rc;

	(void)unused;
	if (!rs_here(s, w)) {
		snprintf(too, sizeof(too), "%.*s...", KL_PATH_MAX,
		    kl_walk_path(w, NULL));
		rs_warn(s, too, KL_E_LIMIT, "path too long; skipped");
		return 0;
	}
	if ((state = include_state(s)) == 0)
		return 0;
	rc = restore_node(s, n, state);
	if (rc != KL_OK && !fatal(rc)) {
		rs_warn_here(s, rc, rc == KL_E_CHANGED ? "a directory on its "
		    "way (or the file it is a link of) was replaced during "
		    "the restore; not restored" : "could not be restored");
		return 0;
	}
	if (rc != KL_OK)
		return rc;
	return n->type == KL_NODE_DIR ? KL_WALK_A : 0;
}

/* A directory's tree did not load: named, and the walk goes on. */
static int
rs_fail(void *arg, struct kl_walk *w, int side, const struct kl_id *id,
    int err)
{
	struct rs *s = arg;

	(void)side;
	(void)id;
	if (rs_here(s, w))
		rs_warn_here(s, err, kl_error_msg(&s->tree_err, err));
	if (!fatal(err))
		return KL_OK;
	if (s->err != NULL)		/* it stops the restore */
		*s->err = s->tree_err;
	return err;
}

/* kl_walk_ops.load of a restore from a repository (arg: struct rs). */
static int
repo_tree_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct rs *s = arg;

	kl_error_clear(&s->tree_err);
	return kl_repo_tree_load(s->r, id, out, &s->tree_err);
}

/* Phase 1: the walk over tree within budget b. */
static int
rs_walk(struct rs *s, const struct kl_id *tree, const struct kl_walk_budget *b)
{
	struct kl_walk_ops ops;

	memset(&ops, 0, sizeof(ops));
	ops.load = s->load;
	ops.load_arg = s->load_arg;
	ops.entry = rs_entry;
	ops.fail = rs_fail;
	return kl_walk_run(&ops, s, tree, NULL, b, 0, &s->wst);
}

/*
 * Other names of a file whose content could not be restored must not pass
 * for good copies either: they get the same suffix as the first name
 * (restore_data.c) and a warning of their own.
 */
static void
links_damaged(struct rs *s)
{
	char path[2 * KL_PATH_MAX + 2];
	const struct linkmap *m;
	size_t i;

	for (i = 0; i < s->nnames; i++) {
		m = link_find(s, s->names[i].group);
		if (m == NULL || m->job == SIZE_MAX || !s->files[m->job].failed)
			continue;
		rs_rename_damaged(s->root, s->names[i].rel, &m->id);
		snprintf(path, sizeof(path), "%s/%s", s->o->target,
		    s->names[i].rel);
		rs_warn(s, path, KL_E_CORRUPT, "a hard link of a file whose "
		    "content could not be restored");
	}
}

static void
meta_one(struct rs *s, const struct rjob *j)
{
	char path[2 * KL_PATH_MAX + 2];
	int rc;

	if ((rc = rs_meta_apply(&s->pd, s->root, j->rel, &j->node, &j->id,
	    s->is_root_user)) == KL_OK)
		return;
	snprintf(path, sizeof(path), "%s/%s", s->o->target, j->rel);
	rs_warn(s, path, rc, rc == KL_E_CHANGED ? "was replaced during the "
	    "restore (by another user?); metadata not restored" :
	    "metadata not restored");
}

static void
meta_phase(struct rs *s)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		if (!s->files[i].failed)
			meta_one(s, &s->files[i]);
	for (i = 0; i < s->nothers; i++)
		meta_one(s, &s->others[i]);
	/* deepest first: jobs were added parent before child */
	for (i = s->ndirs; i-- > 0;)
		meta_one(s, &s->dirs[i]);
}

/* 1 if the absolute snapshot path p exists below tree root. */
static int
path_exists(struct kl_repo *r, const struct kl_id *root, const char *p,
    int *rc, struct kl_error *err)
{
	struct kl_tree t;
	struct kl_id cur = *root;
	size_t cl, i;
	int found = 1, dir = 1;

	*rc = KL_OK;
	for (p++; *p != '\0' && found; p += cl + (p[cl] == '/')) {
		cl = strcspn(p, "/");
		if (!dir || (*rc = kl_repo_tree_load(r, &cur, &t, err)) !=
		    KL_OK)
			return 0;
		for (i = 0, found = 0; i < t.n && !found; i++) {
			if (t.nodes[i].name_len == cl &&
			    memcmp(t.nodes[i].name, p, cl) == 0) {
				found = 1;
				dir = t.nodes[i].type == KL_NODE_DIR;
				cur = t.nodes[i].subtree;
			}
		}
		kl_tree_clear(&t);
	}
	return found;
}

/* Every include must exist before anything is created. */
static int
includes_check(struct rs *s, const struct kl_id *root)
{
	size_t i;
	int rc;

	for (i = 0; i < s->o->nincludes; i++) {
		if (path_exists(s->r, root, s->o->includes[i], &rc, s->err))
			continue;
		if (rc != KL_OK)
			return rc;
		/* fatal: an error to report once, not a warning */
		return kl_error_obj(s->err, KL_E_NOTFOUND, KL_ABOUT_FILE, NULL,
		    s->o->includes[i], "%s: is not in the snapshot; nothing "
		    "restored", s->o->includes[i]);
	}
	return KL_OK;
}

double
rs_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The walk exceeded the snapshot's budget: why, naming the snapshot. */
static void
over_msg(const struct rs *s, const struct kl_id *snap,
    const struct kl_snapshot *sn, const struct kl_walk_budget *b, char *out,
    size_t cap)
{
	char hex[KL_ID_HEX_LEN + 1], why[256];

	kl_id_hex(snap, hex);
	kl_walk_over_str(&s->wst, b, sn->files, sn->dirs, why, sizeof(why));
	snprintf(out, cap, "snapshot %.8s of host %s: %s; kluis backup never "
	    "writes this (kluis check names it): restore stopped", hex,
	    sn->hostname, why);
}

static int
run(struct rs *s, const struct kl_id *snap)
{
	struct kl_walk_budget b;
	struct kl_snapshot sn;
	char why[512];
	int rc;

	if ((rc = kl_repo_snapshot_load(s->r, snap, &sn, s->err)) != KL_OK)
		return rc;
	kl_repo_walk_budget(s->r, &sn, &b);
	rc = kl_repo_index_load(s->r, s->err);
	if (rc == KL_OK)
		rc = includes_check(s, &sn.tree);
	if (rc == KL_OK)
		rc = rs_walk(s, &sn.tree, &b);
	if (rc == KL_E_LIMIT)
		over_msg(s, snap, &sn, &b, why, sizeof(why));
	kl_snapshot_clear(&sn);
	if (rc == KL_E_CONN)
		walk_cut(s, rc, snap, "the connection to the repository was "
		    "lost while reading the snapshot's directories");
	else if (rc == KL_E_LIMIT)
		walk_cut(s, rc, snap, why);
	else if (rc == KL_OK)
		rc = rs_data_restore(s->r, s->root, s->files, s->nfiles, s->o,
		    s->st, s->err);
	if (rc == KL_OK || rc == KL_E_CONN || rc == KL_E_LIMIT)
		links_damaged(s);
	if (rc == KL_OK)
		meta_phase(s);
	return rc;
}

static void
rs_clear(struct rs *s)
{
	size_t i;

	rs_pdir_close(&s->pd);
	rs_pdir_close(&s->pdl);
	if (s->root >= 0)
		close(s->root);
	jobs_free(s->files, s->nfiles);
	jobs_free(s->dirs, s->ndirs);
	jobs_free(s->others, s->nothers);
	for (i = 0; i < s->nlinks; i++)
		free(s->links[i].rel);
	free(s->links);
	rs_gmap_clear(&s->lmap);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i].rel);
	free(s->names);
}

int
kl_restore_run(struct kl_repo *r, const struct kl_id *snap,
    const struct kl_restore_opts *o, struct kl_restore_stats *stats,
    struct kl_error *err)
{
	struct timespec t0;
	struct rs s;
	int rc;

	memset(stats, 0, sizeof(*stats));
	memset(&s, 0, sizeof(s));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s.r = r;
	s.err = err;
	s.load = repo_tree_load;
	s.load_arg = &s;
	s.o = o;
	s.st = stats;
	s.root = -1;
	s.pd.fd = s.pdl.fd = -1;
	s.is_root_user = geteuid() == 0;
	rc = rs_target_open(o, &s.root);
	if (rc != KL_OK && rc != KL_E_EXISTS && rc != KL_E_INVAL)
		kl_error_obj(err, rc, KL_ABOUT_FILE, NULL, o->target, "%s: %s "
		    "(%s)", o->target, rc == KL_E_CHANGED ? "a symbolic link "
		    "appeared on the target's path while it was opened; "
		    "nothing restored" : "cannot create or open the target "
		    "directory; nothing restored", kl_strerror(rc));
	if (rc == KL_OK)
		rc = run(&s, snap);
	rs_clear(&s);
	stats->duration_s = rs_since(&t0);
	return rc;
}

int
rs_plan_run(const struct kl_restore_opts *o, kl_tree_load_fn load,
    void *load_arg, const struct kl_id *tree, const struct kl_walk_budget *b,
    struct kl_restore_stats *stats, struct kl_walk_stats *wst)
{
	struct rs s;
	int rc;

	memset(stats, 0, sizeof(*stats));
	memset(&s, 0, sizeof(s));
	s.load = load;
	s.load_arg = load_arg;
	s.o = o;
	s.st = stats;
	s.root = -1;
	s.pd.fd = s.pdl.fd = -1;
	s.is_root_user = geteuid() == 0;
	if ((rc = rs_target_open(o, &s.root)) == KL_OK)
		rc = rs_walk(&s, tree, b);
	if (rc == KL_E_LIMIT)
		walk_cut(&s, rc, NULL, "over budget");
	*wst = s.wst;
	rs_clear(&s);
	return rc;
}
