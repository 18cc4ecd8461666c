/*
 * Applying metadata to restored paths.  Order matters: owner first (chown
 * clears setuid/setgid), then mode, xattrs (which include POSIX ACLs, and
 * an ACL rewrites the group bits of the mode, so ACLs come after chmod),
 * and times last (any change above touches ctime, not mtime/atime).
 *
 * Everything goes through one O_PATH descriptor of the object, opened
 * without following it and checked to be the object the restore made
 * (restore_fs.c): a name that another user swapped for a link or for
 * another file in the meantime gets nothing.  O_PATH descriptors take
 * fchownat and utimensat with AT_EMPTY_PATH (Linux 5.8 for utimensat);
 * chmod and setxattr go through /proc/self/fd/N, which names that object.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kluis/err.h"
#include "restore_internal.h"

unsigned
rs_node_fmt(unsigned type)
{
	switch (type) {
	case KL_NODE_FILE: return S_IFREG;
	case KL_NODE_DIR: return S_IFDIR;
	case KL_NODE_SYMLINK: return S_IFLNK;
	case KL_NODE_CHR: return S_IFCHR;
	case KL_NODE_BLK: return S_IFBLK;
	case KL_NODE_FIFO: return S_IFIFO;
	case KL_NODE_SOCK: return S_IFSOCK;
	}
	return 0;
}

static int
xattrs_apply(const char *p, const struct kl_node *n)
{
	size_t i;
	int rc = KL_OK;

	for (i = 0; i < n->nxattrs; i++) {
		if (setxattr(p, n->xattrs[i].name, n->xattrs[i].value,
		    n->xattrs[i].value_len, 0) != 0 && rc == KL_OK &&
		    errno != ENOTSUP && errno != EPERM)
			rc = kl_err_from_errno(errno);
	}
	return rc;
}

static int
times_apply(int fd, const struct kl_node *n)
{
	struct timespec ts[2];

	ts[0].tv_sec = (time_t)n->atime.s;
	ts[0].tv_nsec = (long)n->atime.ns;
	ts[1].tv_sec = (time_t)n->mtime.s;
	ts[1].tv_nsec = (long)n->mtime.ns;
	if (utimensat(fd, "", ts, AT_EMPTY_PATH) != 0)
		return kl_err_from_errno(errno);
	return KL_OK;
}

/* Owner, mode, xattrs, times of n on the object of O_PATH descriptor fd. */
static int
fd_apply(int fd, const struct kl_node *n, int is_root_user)
{
	char p[RS_FD_PATH_LEN];
	int rc = KL_OK, r;

	rs_fd_path(fd, p, sizeof(p));
	/* Without root we cannot give files away; keep our own owner. */
	if (is_root_user && fchownat(fd, "", (uid_t)n->uid, (gid_t)n->gid,
	    AT_EMPTY_PATH) != 0)
		rc = kl_err_from_errno(errno);
	/* the type was checked: p is not a symbolic link to follow */
	if (n->type != KL_NODE_SYMLINK) {
		if (chmod(p, (mode_t)n->mode) != 0 && rc == KL_OK)
			rc = kl_err_from_errno(errno);
		if ((r = xattrs_apply(p, n)) != KL_OK && rc == KL_OK)
			rc = r;
	}
	if ((r = times_apply(fd, n)) != KL_OK && rc == KL_OK)
		rc = r;
	return rc;
}

int
rs_meta_apply(struct rs_pdir *pd, int root, const char *rel,
    const struct kl_node *n, const struct rs_ident *id, int is_root_user)
{
	const char *name;
	int pfd, fd, rc;

	RS_STEP(RS_STEP_META, rel);
	if ((rc = rs_pdir_open(pd, root, rel, &name, &pfd)) != KL_OK)
		return rc;
	if ((rc = rs_object_open(pfd, name, rs_node_fmt(n->type), id, &fd,
	    NULL)) != KL_OK)
		return rc;
	rc = fd_apply(fd, n, is_root_user);
	close(fd);
	return rc;
}
