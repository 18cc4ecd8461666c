/*
 * Applying metadata to restored paths.  Order matters: owner first (chown
 * clears setuid/setgid), then mode, xattrs (which include POSIX ACLs, and
 * an ACL rewrites the group bits of the mode, so ACLs come after chmod),
 * and times last (any change above touches ctime, not mtime/atime).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kluis/err.h"
#include "restore_internal.h"

int
rs_open_beneath(int dirfd, const char *rel, int flags, unsigned mode)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

/* Splits rel into its parent (opened O_PATH beneath root) and name. */
static int
open_parent(int root, const char *rel, const char **name)
{
	char parent[KL_PATH_MAX + 1];
	const char *slash = strrchr(rel, '/');
	size_t pl;

	if (slash == NULL) {
		*name = rel;
		return rs_open_beneath(root, ".", O_PATH | O_DIRECTORY, 0);
	}
	pl = (size_t)(slash - rel);
	if (pl >= sizeof(parent))
		return -1;
	memcpy(parent, rel, pl);
	parent[pl] = '\0';
	*name = slash + 1;
	return rs_open_beneath(root, parent, O_PATH | O_DIRECTORY, 0);
}

static int
xattrs_apply(int pfd, const char *name, const struct kl_node *n)
{
	char p[64 + KL_NAME_MAX];
	size_t i;
	int rc = KL_OK;

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", pfd, name);
	for (i = 0; i < n->nxattrs; i++) {
		if (lsetxattr(p, n->xattrs[i].name, n->xattrs[i].value,
		    n->xattrs[i].value_len, 0) != 0 && rc == KL_OK &&
		    errno != ENOTSUP && errno != EPERM)
			rc = kl_err_from_errno(errno);
	}
	return rc;
}

static int
times_apply(int pfd, const char *name, const struct kl_node *n)
{
	struct timespec ts[2];

	ts[0].tv_sec = (time_t)n->atime.s;
	ts[0].tv_nsec = (long)n->atime.ns;
	ts[1].tv_sec = (time_t)n->mtime.s;
	ts[1].tv_nsec = (long)n->mtime.ns;
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
		return kl_err_from_errno(errno);
	return KL_OK;
}

int
rs_meta_apply(int root, const char *rel, const struct kl_node *n,
    int is_root_user)
{
	const char *name;
	int pfd, rc = KL_OK;

	if ((pfd = open_parent(root, rel, &name)) < 0)
		return kl_err_from_errno(errno);
	/* Without root we cannot give files away; keep our own owner. */
	if (is_root_user && fchownat(pfd, name, (uid_t)n->uid, (gid_t)n->gid,
	    AT_SYMLINK_NOFOLLOW) != 0)
		rc = kl_err_from_errno(errno);
	if (n->type != KL_NODE_SYMLINK &&
	    fchmodat(pfd, name, (mode_t)n->mode, 0) != 0 && rc == KL_OK)
		rc = kl_err_from_errno(errno);
	if (n->type != KL_NODE_SYMLINK) {
		int xr = xattrs_apply(pfd, name, n);

		if (rc == KL_OK)
			rc = xr;
	}
	if (times_apply(pfd, name, n) != KL_OK && rc == KL_OK)
		rc = kl_err_from_errno(errno);
	close(pfd);
	return rc;
}
