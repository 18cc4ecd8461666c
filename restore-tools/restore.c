/*
 * Restore, phase by phase: (1) walk the snapshot's trees and create the
 * structure - directories, symlinks, devices, fifos, hard links, and every
 * regular file at its final size (so holes are holes); (2) fill file
 * contents pack by pack (restore_data.c); (3) apply file metadata, then
 * directory metadata deepest first, so that writing into a directory never
 * disturbs its restored times or read-only mode.
 */
#include <dirent.h>
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
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "restore_internal.h"

/* restore_data.c */
int rs_data_restore(struct kl_repo *r, int root, struct rjob *files,
    size_t nfiles, const struct kl_restore_opts *o,
    struct kl_restore_stats *st);

struct linkmap {
	uint64_t group;
	char *rel;		/* the first restored name of the group */
	size_t job;		/* its file job, or SIZE_MAX (not a file) */
};

/* Another name made with link(): renamed too if the content fails. */
struct linkname {
	uint64_t group;
	char *rel;
};

struct rs {
	struct kl_repo *r;
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
    const struct kl_node *node)
{
	struct rjob *nv, *j;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((nv = realloc(*v, *cap * sizeof(*nv))) == NULL)
			return KL_E_NOMEM;
		*v = nv;
	}
	j = &(*v)[*n];
	memset(j, 0, sizeof(*j));
	if ((j->rel = strdup(rel)) == NULL)
		return KL_E_NOMEM;
	if (kl_node_copy(node, &j->node) != KL_OK) {
		free(j->rel);
		return KL_E_NOMEM;
	}
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

static int
make_dir(struct rs *s, const struct kl_node *n)
{
	struct stat st;
	int fd;

	if (mkdirat(s->root, s->rel, 0700) == 0)
		return KL_OK;
	if (errno != EEXIST)
		return kl_err_from_errno(errno);
	/* overwrite: an existing directory is fine, anything else is not */
	if ((fd = rs_open_beneath(s->root, s->rel, O_PATH | O_DIRECTORY,
	    0)) < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return KL_E_EXISTS;
	}
	close(fd);
	(void)n;
	return KL_OK;
}

/* With --overwrite, a non-directory in the way is replaced. */
static void
clear_way(struct rs *s)
{
	if (s->o->overwrite)
		unlinkat(s->root, s->rel, 0);
}

/*
 * The way for a regular file that the content restore creates (on its
 * first write, restore_data.c): cleared, and nothing left in it (with
 * --overwrite, a directory may be).
 */
static int
file_way(struct rs *s)
{
	struct stat st;

	if (!s->o->overwrite)
		return KL_OK;	/* the target was empty */
	clear_way(s);
	if (fstatat(s->root, s->rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return KL_E_EXISTS;
	return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
}

static int
make_file(struct rs *s, const struct kl_node *n)
{
	int fd;

	clear_way(s);
	fd = rs_open_beneath(s->root, s->rel, O_WRONLY | O_CREAT | O_EXCL,
	    0600);
	if (fd < 0)
		return kl_err_from_errno(errno);
	if (ftruncate(fd, (off_t)n->size) != 0) {
		int e = errno;

		close(fd);
		return kl_err_from_errno(e);
	}
	close(fd);
	return KL_OK;
}

static const struct linkmap *
link_find(struct rs *s, uint64_t group)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		if (s->links[i].group == group)
			return &s->links[i];
	return NULL;
}

static int
name_note(struct rs *s, uint64_t group)
{
	struct linkname *nn;

	if (s->nnames == s->cnames) {
		s->cnames = s->cnames ? s->cnames * 2 : 32;
		if ((nn = realloc(s->names, s->cnames * sizeof(*nn))) == NULL)
			return KL_E_NOMEM;
		s->names = nn;
	}
	if ((s->names[s->nnames].rel = strdup(s->rel)) == NULL)
		return KL_E_NOMEM;
	s->names[s->nnames++].group = group;
	return KL_OK;
}

static int
link_note(struct rs *s, uint64_t group, size_t job)
{
	struct linkmap *nl;

	if (group == 0)
		return KL_OK;
	if (s->nlinks == s->clinks) {
		s->clinks = s->clinks ? s->clinks * 2 : 32;
		if ((nl = realloc(s->links, s->clinks * sizeof(*nl))) == NULL)
			return KL_E_NOMEM;
		s->links = nl;
	}
	if ((s->links[s->nlinks].rel = strdup(s->rel)) == NULL)
		return KL_E_NOMEM;
	s->links[s->nlinks].job = job;
	s->links[s->nlinks++].group = group;
	return KL_OK;
}

/* Another name of an inode already restored: 1 if it was linked. */
static int
restore_link(struct rs *s, const struct kl_node *n, int *rc)
{
	const struct linkmap *first;

	*rc = KL_OK;
	if (n->link_group == 0 || (first = link_find(s, n->link_group)) == NULL)
		return 0;
	clear_way(s);
	if (linkat(s->root, first->rel, s->root, s->rel, 0) != 0)
		*rc = kl_err_from_errno(errno);
	else if ((*rc = name_note(s, n->link_group)) == KL_OK)
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
	int rc, made = n->link_group != 0;

	if (restore_link(s, n, &rc))
		return rc;
	if ((rc = made ? make_file(s, n) : file_way(s)) != KL_OK)
		return rc;
	if ((rc = link_note(s, n->link_group, s->nfiles)) != KL_OK)
		return rc;
	s->st->files++;
	if ((rc = job_add(&s->files, &s->nfiles, &s->cfiles, s->rel, n)) !=
	    KL_OK)
		return rc;
	s->files[s->nfiles - 1].created = made;
	return KL_OK;
}

static int
restore_special(struct rs *s, const struct kl_node *n)
{
	static const mode_t fmt[] = { [KL_NODE_CHR] = S_IFCHR,
		[KL_NODE_BLK] = S_IFBLK, [KL_NODE_FIFO] = S_IFIFO,
		[KL_NODE_SOCK] = S_IFSOCK };
	int rc;

	if (restore_link(s, n, &rc))
		return rc;
	clear_way(s);
	if (n->type == KL_NODE_SYMLINK) {
		if (symlinkat(n->target, s->root, s->rel) != 0)
			return kl_err_from_errno(errno);
	} else if (mknodat(s->root, s->rel, fmt[n->type] | 0600,
	    (dev_t)n->rdev) != 0)
		return kl_err_from_errno(errno);
	s->st->others++;
	if ((rc = link_note(s, n->link_group, SIZE_MAX)) != KL_OK)
		return rc;
	return job_add(&s->others, &s->nothers, &s->cothers, s->rel, n);
}

/* A directory; the walk enters its tree next (rs_entry). */
static int
restore_dir(struct rs *s, const struct kl_node *n)
{
	int rc;

	if ((rc = make_dir(s, n)) != KL_OK)
		return rc;
	s->st->dirs++;
	return job_add(&s->dirs, &s->ndirs, &s->cdirs, s->rel, n);
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
 * The walk stopped (why: the connection was lost, or the trees exceed
 * the snapshot's budget): the files it planned have no content.
 */
static void
walk_cut(struct rs *s, const char *why)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		s->files[i].failed = 1;
	rs_files_create(s->root, s->files, s->nfiles, NULL, NULL);
	rs_damaged_rename(s->root, s->files, s->nfiles);
	s->st->errors += s->nfiles;
	if (s->r != NULL)
		kl_repo_seterr(s->r, "%s; the %zu file%s created so far %s "
		    "kept as NAME%s: restore again into an empty directory",
		    why, s->nfiles, s->nfiles == 1 ? "" : "s",
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
		rs_warn_here(s, rc, "could not be restored");
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
		rs_warn_here(s, err, s->r != NULL ? kl_repo_errmsg(s->r) :
		    kl_strerror(err));
	return fatal(err) ? err : KL_OK;
}

static int
repo_tree_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	return kl_repo_tree_load(arg, id, out);
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
	char to[KL_PATH_MAX + sizeof(KL_RESTORE_DAMAGED_SUFFIX)];
	char path[2 * KL_PATH_MAX + 2];
	const struct linkmap *m;
	size_t i;

	for (i = 0; i < s->nnames; i++) {
		m = link_find(s, s->names[i].group);
		if (m == NULL || m->job == SIZE_MAX || !s->files[m->job].failed)
			continue;
		snprintf(to, sizeof(to), "%s%s", s->names[i].rel,
		    KL_RESTORE_DAMAGED_SUFFIX);
		if (renameat(s->root, s->names[i].rel, s->root, to) != 0)
			unlinkat(s->root, s->names[i].rel, 0);
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

	if ((rc = rs_meta_apply(s->root, j->rel, &j->node,
	    s->is_root_user)) == KL_OK)
		return;
	snprintf(path, sizeof(path), "%s/%s", s->o->target, j->rel);
	rs_warn(s, path, rc, "metadata not restored");
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

/* Creates the target if missing; refuses a non-empty one. */
static int
target_open(const char *target, int overwrite, int *fd)
{
	struct dirent *de;
	DIR *d;
	int nonempty = 0;

	if (mkdir(target, 0700) != 0 && errno != EEXIST)
		return kl_err_from_errno(errno);
	if ((d = opendir(target)) == NULL)
		return errno == ENOTDIR ? KL_E_INVAL : kl_err_from_errno(errno);
	while (!nonempty && (de = readdir(d)) != NULL)
		nonempty = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	if (nonempty && !overwrite)
		return KL_E_EXISTS;
	*fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *fd < 0 ? kl_err_from_errno(errno) : KL_OK;
}

/* 1 if the absolute snapshot path p exists below tree root. */
static int
path_exists(struct kl_repo *r, const struct kl_id *root, const char *p,
    int *rc)
{
	struct kl_tree t;
	struct kl_id cur = *root;
	size_t cl, i;
	int found = 1, dir = 1;

	*rc = KL_OK;
	for (p++; *p != '\0' && found; p += cl + (p[cl] == '/')) {
		cl = strcspn(p, "/");
		if (!dir || (*rc = kl_repo_tree_load(r, &cur, &t)) != KL_OK)
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
		if (path_exists(s->r, root, s->o->includes[i], &rc))
			continue;
		if (rc != KL_OK)
			return rc;
		rs_warn(s, s->o->includes[i], KL_E_NOTFOUND,
		    "is not in the snapshot; nothing restored");
		return KL_E_NOTFOUND;
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

	if ((rc = kl_repo_snapshot_load(s->r, snap, &sn)) != KL_OK)
		return rc;
	kl_repo_walk_budget(s->r, &sn, &b);
	rc = kl_repo_index_load(s->r);
	if (rc == KL_OK)
		rc = includes_check(s, &sn.tree);
	if (rc == KL_OK)
		rc = rs_walk(s, &sn.tree, &b);
	if (rc == KL_E_LIMIT)
		over_msg(s, snap, &sn, &b, why, sizeof(why));
	kl_snapshot_clear(&sn);
	if (rc == KL_E_CONN)
		walk_cut(s, "the connection to the repository was lost while "
		    "reading the snapshot's directories");
	else if (rc == KL_E_LIMIT)
		walk_cut(s, why);
	else if (rc == KL_OK)
		rc = rs_data_restore(s->r, s->root, s->files, s->nfiles, s->o,
		    s->st);
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

	if (s->root >= 0)
		close(s->root);
	jobs_free(s->files, s->nfiles);
	jobs_free(s->dirs, s->ndirs);
	jobs_free(s->others, s->nothers);
	for (i = 0; i < s->nlinks; i++)
		free(s->links[i].rel);
	free(s->links);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i].rel);
	free(s->names);
}

int
kl_restore_run(struct kl_repo *r, const struct kl_id *snap,
    const struct kl_restore_opts *o, struct kl_restore_stats *stats)
{
	struct timespec t0;
	struct rs s;
	int rc;

	memset(stats, 0, sizeof(*stats));
	memset(&s, 0, sizeof(s));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s.r = r;
	s.load = repo_tree_load;
	s.load_arg = r;
	s.o = o;
	s.st = stats;
	s.root = -1;
	s.is_root_user = geteuid() == 0;
	rc = target_open(o->target, o->overwrite, &s.root);
	if (rc != KL_OK && rc != KL_E_EXISTS && rc != KL_E_INVAL &&
	    o->warn != NULL)
		o->warn(o->warn_arg, o->target, rc, "cannot create or open the "
		    "target directory; nothing restored");
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
	s.is_root_user = geteuid() == 0;
	if ((rc = target_open(o->target, o->overwrite, &s.root)) == KL_OK)
		rc = rs_walk(&s, tree, b);
	if (rc == KL_E_LIMIT)
		walk_cut(&s, "over budget");
	*wst = s.wst;
	rs_clear(&s);
	return rc;
}
