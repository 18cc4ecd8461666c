/*
 * The verifier of restore drills: a walk over the snapshot's trees that
 * compares each restored entry's type, metadata, extended attributes,
 * holes and content (chunk ids recomputed from the bytes read back) with
 * its node, and, for a whole restore, finds entries the snapshot lacks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/restore.h"
#include "kluis/treewalk.h"
#include "restore_internal.h"
#include "drill_internal.h"

/* Verification of a restored tree. */
struct dv {
	struct drill *d;
	const struct kl_keys *keys;
	struct kl_drill_sample *s;	/* NULL: everything */
	int root;			/* the target directory */
	int is_root_user;
	char snap[KL_PATH_MAX + 2];	/* current absolute snapshot path */
	size_t len;
	uint8_t *buf;			/* one chunk of restored content */
	size_t cap;
	char *xv;			/* an xattr value or name list */
	uint64_t verified;
	int failed;			/* the tree just entered did not load */
};

static const char *
type_name(unsigned t)
{
	static const char *names[] = { "unknown", "regular file",
		"directory", "symbolic link", "character device",
		"block device", "FIFO", "socket" };

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : names[0];
}

static unsigned
stat_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return KL_NODE_FILE;
	case S_IFDIR: return KL_NODE_DIR;
	case S_IFLNK: return KL_NODE_SYMLINK;
	case S_IFCHR: return KL_NODE_CHR;
	case S_IFBLK: return KL_NODE_BLK;
	case S_IFIFO: return KL_NODE_FIFO;
	case S_IFSOCK: return KL_NODE_SOCK;
	}
	return 0;
}

/* Opens the restored parent of the current path; *name is its last part. */
static int
parent_open(struct dv *v, const char **name)
{
	char parent[KL_PATH_MAX + 1];
	const char *slash = strrchr(v->snap, '/');
	size_t pl = (size_t)(slash - v->snap);

	*name = slash + 1;
	if (pl == 0)
		return rs_open_beneath(v->root, ".", O_PATH | O_DIRECTORY, 0);
	memcpy(parent, v->snap + 1, pl - 1);
	parent[pl - 1] = '\0';
	return rs_open_beneath(v->root, parent, O_PATH | O_DIRECTORY, 0);
}

static void
time_check(struct dv *v, const char *field, const struct timespec *got,
    const struct kl_ts *want)
{
	if ((int64_t)got->tv_sec == want->s && (uint32_t)got->tv_nsec ==
	    want->ns)
		return;
	drill_finding(v->d, v->snap, field, "%lld.%09ld, expected %lld.%09u",
	    (long long)got->tv_sec, (long)got->tv_nsec, (long long)want->s,
	    want->ns);
}

/* Restore ignores EPERM from lsetxattr: without root, these fail. */
static int
xattr_settable(const struct dv *v, const char *name)
{
	return v->is_root_user || (strncmp(name, "trusted.", 8) != 0 &&
	    strncmp(name, "security.", 9) != 0);
}

/* Namespaces nobody but restore writes to on a fresh scratch file. */
static int
xattr_watched(const char *name)
{
	return strncmp(name, "user.", 5) == 0 ||
	    strncmp(name, "trusted.", 8) == 0 ||
	    strncmp(name, "system.posix_acl_", 17) == 0;
}

static int
xattr_in_node(const struct kl_node *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->nxattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return 1;
	return 0;
}

static void
xattr_extras(struct dv *v, const char *p, const struct kl_node *n)
{
	ssize_t len = llistxattr(p, v->xv, KL_XATTR_VALUE_MAX);
	const char *x;

	for (x = v->xv; len > 0 && x < v->xv + len; x += strlen(x) + 1)
		if (xattr_watched(x) && !xattr_in_node(n, x))
			drill_finding(v->d, v->snap, "xattr", "%s is set but "
			    "not in the snapshot", x);
}

static void
xattrs_check(struct dv *v, int pfd, const char *name,
    const struct kl_node *n)
{
	const struct kl_xattr *x;
	char p[64 + KL_NAME_MAX];
	ssize_t len;
	size_t i;

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", pfd, name);
	for (i = 0; i < n->nxattrs; i++) {
		x = &n->xattrs[i];
		if (!xattr_settable(v, x->name))
			continue;
		len = lgetxattr(p, x->name, v->xv, KL_XATTR_VALUE_MAX);
		if (len < 0 && errno == ENOTSUP)
			return;		/* this file system holds none */
		if (len < 0 && errno == ENODATA)
			drill_finding(v->d, v->snap, "xattr", "%s is missing",
			    x->name);
		else if (len < 0)
			drill_finding(v->d, v->snap, "xattr", "%s cannot be "
			    "read back: %s", x->name, strerror(errno));
		else if ((size_t)len != x->value_len ||
		    memcmp(v->xv, x->value, x->value_len) != 0)
			drill_finding(v->d, v->snap, "xattr", "%s differs "
			    "from the snapshot", x->name);
	}
	xattr_extras(v, p, n);
}

static int
chunk_buf(struct dv *v, size_t len)
{
	uint8_t *nb;

	if (len <= v->cap)
		return KL_OK;
	if ((nb = realloc(v->buf, len)) == NULL)
		return KL_E_NOMEM;
	v->buf = nb;
	v->cap = len;
	return KL_OK;
}

static ssize_t
pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, p + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Cuts the restored bytes where the index says each chunk ends and
 * recomputes each chunk's keyed id.  Stops at the first difference.
 */
/* The raw length of chunk i of n: a delta chunk's from its entry
 * (FORMAT.md §11), another's as the blob index has it (its best location,
 * kl_repo_blob_locate): KL_OK, KL_E_NOTFOUND, or an error. */
static int
chunk_raw_len(struct kl_repo *r, const struct kl_node *nd, size_t i,
    struct kl_blob_loc *l, struct kl_error *err)
{
	const struct kl_delta_ref *x = kl_node_delta(nd, i);
	struct kl_blob_loc *locs;
	size_t n;
	int rc;

	if (x != NULL) {
		memset(l, 0, sizeof(*l));
		l->raw_len = x->len;
		return KL_OK;
	}
	if ((rc = kl_repo_blob_locate(r, &nd->chunks[i], KL_OBJ_DATA, &locs,
	    &n, err)) == KL_OK) {
		*l = locs[0];
		free(locs);
	}
	return rc;
}

static int
content_check(struct dv *v, int fd, const struct kl_node *n)
{
	struct kl_blob_loc l;
	struct kl_error e;
	struct kl_id id;
	uint64_t off = 0;
	ssize_t got;
	size_t i;
	int rc;

	for (i = 0; i < n->nchunks; i++, off += l.raw_len) {
		kl_error_clear(&e);
		if ((rc = chunk_raw_len(v->d->r, n, i, &l, &e)) ==
		    KL_E_NOMEM || rc == KL_E_CONN || rc == KL_E_IO)
			return drill_fail(v->d, &e, rc);
		if (rc != KL_OK) {
			drill_finding(v->d, v->snap, "content", "chunk %zu of "
			    "%zu is not in the repository index", i + 1,
			    n->nchunks);
			return KL_OK;
		}
		if (l.raw_len > n->size - off) {
			drill_finding(v->d, v->snap, "content", "the "
			    "snapshot's chunks are longer than the file");
			return KL_OK;
		}
		if (chunk_buf(v, l.raw_len) != KL_OK)
			return KL_E_NOMEM;
		if ((got = pread_full(fd, v->buf, l.raw_len, off)) < 0) {
			drill_finding(v->d, v->snap, "read", "reading the "
			    "restored file failed: %s", strerror(errno));
			return KL_OK;
		}
		if ((size_t)got != l.raw_len) {
			drill_finding(v->d, v->snap, "content", "the restored "
			    "file ends at byte %llu", (unsigned long long)(off +
			    (uint64_t)got));
			return KL_OK;
		}
		kl_blob_id(v->keys, v->buf, l.raw_len, &id);
		if (!kl_id_eq(&id, &n->chunks[i])) {
			drill_finding(v->d, v->snap, "content", "bytes "
			    "%llu-%llu differ from the snapshot (chunk %zu of "
			    "%zu)",
			    (unsigned long long)off, (unsigned long long)(off +
			    l.raw_len - 1), i + 1, n->nchunks);
			return KL_OK;
		}
	}
	if (off != n->size)
		drill_finding(v->d, v->snap, "content", "the snapshot's chunks "
		    "cover %llu of %llu bytes", (unsigned long long)off,
		    (unsigned long long)n->size);
	return KL_OK;
}

/*
 * Each hole of the snapshot must be a hole in the restored file, rounded
 * inwards to the target's block size (a hole smaller than a block cannot
 * be one).  A file system without SEEK_DATA is not judged.
 */
static void
holes_check(struct dv *v, int fd, const struct kl_node *n, uint64_t bs)
{
	uint64_t lo, hi;
	off_t d;
	size_t i;

	if (bs == 0)
		bs = 4096;
	for (i = 0; i < n->nholes; i++) {
		lo = (n->holes[i].off + bs - 1) / bs * bs;
		hi = (n->holes[i].off + n->holes[i].len) / bs * bs;
		if (lo >= hi)
			continue;
		d = lseek(fd, (off_t)lo, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			continue;
		if (d < 0)
			return;
		if ((uint64_t)d < hi) {
			drill_finding(v->d, v->snap, "holes", "bytes "
			    "%llu-%llu hold data where the snapshot has a hole",
			    (unsigned long long)d, (unsigned long long)(hi -
			    1));
			return;
		}
	}
}

/*
 * Opens name in pfd for reading if it is still the regular file st
 * describes: through an O_PATH descriptor checked first, so that a FIFO or
 * a device swapped in is never opened.  -2 if it changed; -1 with errno.
 */
static int
file_read_open(int pfd, const char *name, const struct stat *st,
    struct stat *fst)
{
	char p[RS_FD_PATH_LEN];
	struct rs_ident id;
	int opfd, fd, rc;

	rs_ident_set(&id, st);
	if ((rc = rs_object_open(pfd, name, S_IFREG, &id, &opfd, fst)) != KL_OK)
		return rc == KL_E_CHANGED ? -2 : -1;
	rs_fd_path(opfd, p, sizeof(p));
	/* O_NOATIME: reading must not change what a later check compares */
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(p, O_RDONLY | O_CLOEXEC);
	close(opfd);
	return fd;
}

static int
file_check(struct dv *v, int pfd, const char *name, const struct kl_node *n,
    const struct stat *st)
{
	struct stat fst;
	int fd, rc = KL_OK;

	if ((uint64_t)st->st_size != n->size) {
		drill_finding(v->d, v->snap, "size", "%lld bytes, expected "
		    "%llu", (long long)st->st_size,
		    (unsigned long long)n->size);
		return KL_OK;
	}
	if ((fd = file_read_open(pfd, name, st, &fst)) == -2) {
		drill_finding(v->d, v->snap, "read", "the restored file "
		    "changed while it was verified");
		return KL_OK;
	}
	if (fd < 0) {
		drill_finding(v->d, v->snap, "read", "the restored file "
		    "cannot be opened: %s", strerror(errno));
		return KL_OK;
	}
	if ((rc = content_check(v, fd, n)) == KL_OK)
		holes_check(v, fd, n, (uint64_t)st->st_blksize);
	close(fd);
	return rc;
}

static void
target_check(struct dv *v, int pfd, const char *name,
    const struct kl_node *n)
{
	char t[KL_TARGET_MAX + 2];
	ssize_t len = readlinkat(pfd, name, t, sizeof(t) - 1);

	if (len < 0) {
		drill_finding(v->d, v->snap, "read", "the restored link "
		    "cannot be read: %s", strerror(errno));
		return;
	}
	t[len] = '\0';
	if ((size_t)len != strlen(n->target) || strcmp(t, n->target) != 0)
		drill_finding(v->d, v->snap, "target", "points to \"%s\", "
		    "expected \"%s\"", t, n->target);
}

static int
node_check(struct dv *v, int pfd, const char *name, const struct kl_node *n,
    const struct stat *st)
{
	if (n->type != KL_NODE_SYMLINK && (st->st_mode & 07777) != n->mode)
		drill_finding(v->d, v->snap, "mode", "%04o, expected %04o",
		    (unsigned)(st->st_mode & 07777), n->mode);
	if (v->is_root_user && st->st_uid != n->uid)
		drill_finding(v->d, v->snap, "uid", "%u, expected %u",
		    (unsigned)st->st_uid, n->uid);
	if (v->is_root_user && st->st_gid != n->gid)
		drill_finding(v->d, v->snap, "gid", "%u, expected %u",
		    (unsigned)st->st_gid, n->gid);
	time_check(v, "mtime", &st->st_mtim, &n->mtime);
	/* names of one file differ in atime: backup reads between lstats */
	if (n->link_group == 0)
		time_check(v, "atime", &st->st_atim, &n->atime);
	if (n->type != KL_NODE_SYMLINK)
		xattrs_check(v, pfd, name, n);
	if ((n->type == KL_NODE_CHR || n->type == KL_NODE_BLK) &&
	    (uint64_t)st->st_rdev != n->rdev)
		drill_finding(v->d, v->snap, "rdev", "device %llx, expected "
		    "%llx", (unsigned long long)st->st_rdev,
		    (unsigned long long)n->rdev);
	if (n->type == KL_NODE_SYMLINK)
		target_check(v, pfd, name, n);
	if (n->type == KL_NODE_FILE)
		return file_check(v, pfd, name, n, st);
	return KL_OK;
}

/* Verifies the current path; *ok: it exists with the right type. */
static int
verify_node(struct dv *v, const struct kl_node *n, int *ok)
{
	const char *name;
	struct stat st;
	int pfd, rc = KL_OK;

	*ok = 0;
	v->verified++;
	if ((pfd = parent_open(v, &name)) < 0 ||
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			drill_finding_once(v->d, v->snap, "missing",
			    "not restored");
		else
			drill_finding(v->d, v->snap, "read", "the restored %s "
			    "cannot be examined: %s", type_name(n->type),
			    strerror(errno));
	} else if (stat_type(st.st_mode) != n->type) {
		drill_finding(v->d, v->snap, "type", "a %s, expected a %s",
		    type_name(stat_type(st.st_mode)), type_name(n->type));
	} else {
		*ok = 1;
		rc = node_check(v, pfd, name, n, &st);
	}
	if (pfd >= 0)
		close(pfd);
	return rc;
}

/* 1 if t has an entry called name. */
static int
tree_has(const struct kl_tree *t, const char *name)
{
	return kl_tree_find(t, (const uint8_t *)name, strlen(name)) != NULL;
}

/* Restore's mark on a file it reported as damaged, not a stray entry. */
static int
damaged_mark(const struct kl_tree *t, const char *name)
{
	char base[KL_NAME_MAX + 1];
	size_t nl = strlen(name), sl = strlen(KL_RESTORE_DAMAGED_SUFFIX);

	if (nl <= sl || nl - sl > KL_NAME_MAX ||
	    strcmp(name + nl - sl, KL_RESTORE_DAMAGED_SUFFIX) != 0)
		return 0;
	memcpy(base, name, nl - sl);
	base[nl - sl] = '\0';
	return tree_has(t, base);
}

/* A whole restore: nothing in the directory that the tree lacks. */
static void
extras_check(struct dv *v, const struct kl_tree *t)
{
	/* room for all that v->snap's array and a name can hold, "/" and
	 * NUL: a cut no compiler has to prove impossible */
	char p[KL_PATH_MAX + 2 + 1 + KL_NAME_MAX + 1];
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = rs_open_beneath(v->root, v->len ? v->snap + 1 : ".",
	    O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;		/* reported as the directory's finding */
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    tree_has(t, de->d_name) || damaged_mark(t, de->d_name))
			continue;
		snprintf(p, sizeof(p), "%s/%s", v->snap, de->d_name);
		drill_finding(v->d, p, "extra", "restored but not in the "
		    "snapshot");
	}
	closedir(dir);
}

/* A directory's tree did not load: one finding, and the walk goes on. */
static int
verify_fail(void *arg, struct kl_walk *w, int side, const struct kl_id *id,
    int err)
{
	struct dv *v = arg;

	(void)side;
	(void)id;
	v->failed = 1;
	if (drill_walk_here(w, v->snap, &v->len))
		drill_finding_once(v->d, v->snap, "tree", "the directory's "
		    "tree cannot be read: %s", kl_error_msg(&v->d->tree_err,
		    err));
	return drill_fatal(err) ? drill_fail(v->d, &v->d->tree_err, err) :
	    KL_OK;
}

/* A whole restore: nothing in a directory that its tree lacks. */
static int
verify_dir(void *arg, struct kl_walk *w, const struct kl_tree *t,
    const struct kl_tree *unused)
{
	struct dv *v = arg;

	(void)unused;
	if (v->failed) {
		v->failed = 0;
		return KL_OK;
	}
	if ((v->s == NULL || v->s->all) && drill_walk_here(w, v->snap, &v->len))
		extras_check(v, t);
	return KL_OK;
}

static int
verify_entry(void *arg, struct kl_walk *w, const struct kl_node *n,
    const struct kl_node *unused)
{
	struct dv *v = arg;
	int state, ok, rc;

	(void)unused;
	/* paths too long are restore's to report */
	if (!drill_walk_here(w, v->snap, &v->len))
		return 0;
	state = v->s == NULL ? 2 : drill_sample_state(v->s, v->snap);
	if (state != 2 && !(state == 1 && n->type == KL_NODE_DIR))
		return 0;
	if ((rc = verify_node(v, n, &ok)) != KL_OK)
		return rc;
	return ok && n->type == KL_NODE_DIR ? KL_WALK_A : 0;
}

int
drill_verify_run(struct drill *d, const struct kl_id *snap,
    const struct kl_snapshot *sn, const char *dir,
    struct kl_drill_sample *s, struct kl_drill_result *res)
{
	struct kl_walk_ops ops;
	struct timespec t0;
	struct dv v;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&v, 0, sizeof(v));
	v.d = d;
	v.keys = kl_repo_keys(d->r);
	v.s = s;
	v.is_root_user = geteuid() == 0;
	memset(&ops, 0, sizeof(ops));
	ops.load = drill_tree_load;
	ops.load_arg = d;
	ops.entry = verify_entry;
	ops.tree = verify_dir;
	ops.fail = verify_fail;
	if ((v.root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOTDIR ? KL_E_INVAL :
		    kl_err_from_errno(errno);
	if ((v.xv = malloc(KL_XATTR_VALUE_MAX)) == NULL)
		rc = KL_E_NOMEM;
	else
		rc = drill_walk(d, &ops, &v, snap, sn);
	free(v.xv);
	free(v.buf);
	close(v.root);
	res->verified = v.verified;
	res->verify_s = rs_since(&t0);
	return rc;
}

int
kl_drill_verify(struct kl_repo *r, const struct kl_id *snap,
    const char *dir, kl_drill_finding_fn fn, void *arg,
    uint64_t *mismatches, struct kl_error *err)
{
	struct kl_drill_result res;
	struct kl_snapshot sn;
	struct drill d;
	int rc;

	*mismatches = 0;
	memset(&res, 0, sizeof(res));
	if ((rc = kl_repo_snapshot_load(r, snap, &sn, err)) != KL_OK)
		return rc;
	drill_init(&d, r, fn, arg, dir, err);
	rc = drill_verify_run(&d, snap, &sn, dir, NULL, &res);
	*mismatches = d.findings;
	drill_clear(&d);
	kl_snapshot_clear(&sn);
	return rc;
}
