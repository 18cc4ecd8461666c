/*
 * File-system operations of restore, made safe against a local user who
 * can write somewhere in the target while a (root) restore runs (issue #10
 * finding 3; docs/threat-model.md, "A local user during a restore").
 *
 * The rules, which every restore operation follows:
 * - a path below the target is never handed to the kernel whole for
 *   anything but openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *   RESOLVE_NO_MAGICLINKS); every other operation (mkdirat, unlinkat,
 *   renameat, symlinkat, mknodat, linkat, fstatat) takes one name in a
 *   parent directory opened that way (rs_parent_open);
 * - metadata is set through a descriptor of the object itself (O_PATH,
 *   opened without following a final link), after fstat on that
 *   descriptor showed the type the snapshot has and the device and inode
 *   that the restore itself created or reused.  O_PATH has no side effect,
 *   where opening a FIFO or a device to read or write could block or act;
 *   what O_PATH descriptors cannot do directly goes through fchownat and
 *   utimensat with AT_EMPTY_PATH, and chmod, setxattr and the reopening of
 *   a file for writing through /proc/self/fd/N, which names exactly that
 *   object;
 * - the target is reached from "/" one component at a time without
 *   following links (after realpath), and every directory on the way, and
 *   the target itself, that users other than the caller and root can
 *   write is named in a warning.
 * Whoever can write a directory of the target can still move a directory
 * out of it, or swap entries around, while the restore works there: an
 * operation on a parent descriptor then lands where that directory went,
 * which is only somewhere that user could write anyway.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kluis/err.h"
#include "restore_internal.h"

void (*rs_test_step)(enum rs_step step, const char *rel);

/* A rename during a RESOLVE_BENEATH walk may give EAGAIN: try again. */
#define BENEATH_TRIES 8

int
rs_open_beneath(int dirfd, const char *rel, int flags, unsigned mode)
{
	struct open_how how;
	int fd, i = 0;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	do
		fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++i < BENEATH_TRIES);
	return fd;
}

int
rs_err(int e)
{
	/* a link, a non-directory or an escape on the way */
	if (e == ELOOP || e == EXDEV || e == EAGAIN || e == ENOTDIR)
		return KL_E_CHANGED;
	return kl_err_from_errno(e);
}

int
rs_parent_open(int root, const char *rel, const char **name, int *pfd)
{
	char parent[KL_PATH_MAX + 1];
	const char *slash = strrchr(rel, '/');
	size_t pl;

	*pfd = -1;
	*name = slash == NULL ? rel : slash + 1;
	if (slash == NULL) {
		strcpy(parent, ".");
	} else {
		if ((pl = (size_t)(slash - rel)) >= sizeof(parent))
			return KL_E_LIMIT;
		memcpy(parent, rel, pl);
		parent[pl] = '\0';
	}
	if ((*pfd = rs_open_beneath(root, parent, O_PATH | O_DIRECTORY,
	    0)) < 0)
		return rs_err(errno);
	return KL_OK;
}

int
rs_pdir_open(struct rs_pdir *c, int root, const char *rel, const char **name,
    int *pfd)
{
	const char *slash = strrchr(rel, '/');
	size_t pl = slash == NULL ? 0 : (size_t)(slash - rel);
	int rc;

	*pfd = -1;
	*name = slash == NULL ? rel : slash + 1;
	if (c->fd >= 0 && strlen(c->rel) == pl &&
	    strncmp(c->rel, rel, pl) == 0) {
		*pfd = c->fd;
		return KL_OK;
	}
	rs_pdir_close(c);
	if (pl >= sizeof(c->rel))
		return KL_E_LIMIT;
	if ((rc = rs_parent_open(root, rel, name, &c->fd)) != KL_OK)
		return rc;
	memcpy(c->rel, rel, pl);
	c->rel[pl] = '\0';
	*pfd = c->fd;
	return KL_OK;
}

void
rs_pdir_close(struct rs_pdir *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rel[0] = '\0';
}

void
rs_ident_set(struct rs_ident *id, const struct stat *st)
{
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
}

static int
ident_is(const struct rs_ident *id, const struct stat *st)
{
	return id->dev == (uint64_t)st->st_dev &&
	    id->ino == (uint64_t)st->st_ino;
}

int
rs_object_open(int pfd, const char *name, unsigned fmt,
    const struct rs_ident *want, int *fd, struct stat *st)
{
	struct stat tmp;
	int e;

	if (st == NULL)
		st = &tmp;
	if ((*fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return rs_err(errno);
	if (fstat(*fd, st) != 0) {
		e = errno;
		close(*fd);
		*fd = -1;
		return kl_err_from_errno(e);
	}
	if ((fmt != 0 && (st->st_mode & S_IFMT) != fmt) ||
	    (want != NULL && want->ino != 0 && !ident_is(want, st))) {
		close(*fd);
		*fd = -1;
		return KL_E_CHANGED;
	}
	return KL_OK;
}

int
rs_made_check(int pfd, const char *name, unsigned fmt, struct rs_ident *id)
{
	struct stat st;
	int fd, rc;

	memset(id, 0, sizeof(*id));
	if ((rc = rs_object_open(pfd, name, fmt, NULL, &fd, &st)) != KL_OK)
		return rc;
	close(fd);
	/* what we just made has one name; a planted hard link has more */
	if (fmt != S_IFDIR && st.st_nlink != 1)
		return KL_E_CHANGED;
	rs_ident_set(id, &st);
	return KL_OK;
}

void
rs_fd_path(int fd, char *p, size_t len)
{
	snprintf(p, len, "/proc/self/fd/%d", fd);
}

int
rs_link_fd(int fd, int pfd, const char *name)
{
	char p[RS_FD_PATH_LEN];

	/* the magic link names fd's object itself, even a symlink */
	rs_fd_path(fd, p, sizeof(p));
	if (linkat(AT_FDCWD, p, pfd, name, AT_SYMLINK_FOLLOW) != 0)
		return rs_err(errno);
	return KL_OK;
}

int
rs_reopen(int root, const char *rel, const struct rs_ident *want,
    int flags)
{
	char p[RS_FD_PATH_LEN];
	struct stat st;
	int pfd, fd, e;

	if ((pfd = rs_open_beneath(root, rel, O_PATH, 0)) < 0)
		return rs_err(errno);
	if (fstat(pfd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (want->ino != 0 && !ident_is(want, &st))) {
		close(pfd);
		return KL_E_CHANGED;
	}
	rs_fd_path(pfd, p, sizeof(p));
	fd = open(p, flags | O_CLOEXEC | O_NOCTTY);
	e = errno;
	close(pfd);
	return fd >= 0 ? fd : rs_err(e);
}

void
rs_rename_damaged(int root, const char *rel, const struct rs_ident *want)
{
	char to[KL_NAME_MAX + sizeof(KL_RESTORE_DAMAGED_SUFFIX)];
	const char *name;
	struct stat st;
	int pfd;

	RS_STEP(RS_STEP_DAMAGED, rel);
	if (rs_parent_open(root, rel, &name, &pfd) != KL_OK)
		return;
	/* rename only what the restore made; whatever else is there stays */
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ident_is(want, &st)) {
		snprintf(to, sizeof(to), "%s%s", name,
		    KL_RESTORE_DAMAGED_SUFFIX);
		if (strlen(name) + strlen(KL_RESTORE_DAMAGED_SUFFIX) >
		    KL_NAME_MAX || renameat(pfd, name, pfd, to) != 0)
			unlinkat(pfd, name, 0);
	}
	close(pfd);
}

/* ---- the target ---- */

/* 1 if users other than the caller and root can write directory st. */
static int
others_write(const struct stat *st)
{
	uid_t me = geteuid();

	if (st->st_uid != me && st->st_uid != 0)
		return 1;	/* its owner can: chmod */
	if (st->st_mode & S_IWOTH)
		return 1;
	return (st->st_mode & S_IWGRP) && st->st_gid != 0 &&
	    st->st_gid != getegid();
}

/* 1 if others can replace entry child of directory dir. */
static int
others_replace(const struct stat *dir, const struct stat *child)
{
	uid_t me = geteuid();

	if (!others_write(dir))
		return 0;
	/* sticky (/tmp): only an entry's owner (and the directory's) may
	 * rename or remove it */
	return !((dir->st_mode & S_ISVTX) && (dir->st_uid == me ||
	    dir->st_uid == 0) && (child->st_uid == me || child->st_uid == 0));
}

struct twalk {
	const struct kl_restore_opts *o;
	char path[PATH_MAX];	/* the directories walked so far */
	int fd;			/* O_PATH of the last one */
	struct stat st;
};

static void
target_note(struct twalk *w, const char *what)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s (owner uid %u, mode %04o): they can "
	    "change what the restore writes below it, during the restore and "
	    "after; restoring anyway, and nothing is written outside the "
	    "target, but check what was restored before you trust it",
	    what, (unsigned)w->st.st_uid, (unsigned)(w->st.st_mode & 07777));
	if (w->o->warn != NULL)
		w->o->warn(w->o->warn_arg, w->path[0] ? w->path : "/", KL_OK,
		    msg);
}

/* One step down from w->fd to name (created first if create is set). */
static int
target_step(struct twalk *w, const char *name, int create, int last)
{
	struct stat st;
	size_t l = strlen(w->path);
	int fd, e;

	if (l + 1 + strlen(name) >= sizeof(w->path))
		return KL_E_LIMIT;
	if (create && mkdirat(w->fd, name, 0700) != 0 && errno != EEXIST)
		return kl_err_from_errno(errno);
	fd = openat(w->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		if (e == ENOTDIR && last &&
		    fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISLNK(st.st_mode))
			return KL_E_INVAL;	/* not a directory */
		return e == ELOOP || e == ENOTDIR ? KL_E_CHANGED :
		    kl_err_from_errno(e);
	}
	if (others_replace(&w->st, &st))
		target_note(w, "users other than you and root can write this "
		    "directory on the way to the target and put another "
		    "directory in the target's place");
	snprintf(w->path + l, sizeof(w->path) - l, "/%s", name);
	close(w->fd);
	w->fd = fd;
	w->st = st;
	return KL_OK;
}

/* Walks the absolute, link-free path abs (the last part made if create). */
static int
target_walk(struct twalk *w, const char *abs, int create)
{
	char part[NAME_MAX + 1];
	const char *p = abs, *next;
	size_t l;
	int rc = KL_OK;

	w->path[0] = '\0';
	if ((w->fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(w->fd, &w->st) != 0)
		return kl_err_from_errno(errno);
	while (rc == KL_OK && *p != '\0') {
		p += strspn(p, "/");
		if ((l = strcspn(p, "/")) == 0)
			break;
		if (l > NAME_MAX)
			return KL_E_LIMIT;
		memcpy(part, p, l);
		part[l] = '\0';
		next = p + l + strspn(p + l, "/");
		rc = target_step(w, part, create && *next == '\0',
		    *next == '\0');
		p = next;
	}
	return rc;
}

/* The real path of target, or of its parent plus its last part. */
static int
target_real(const char *target, char *abs, int *missing)
{
	char dir[PATH_MAX], real[PATH_MAX];
	char *base;
	size_t l, rl, bl;

	*missing = 0;
	if (realpath(target, abs) != NULL)
		return KL_OK;
	if (errno != ENOENT || strlen(target) >= sizeof(dir))
		return kl_err_from_errno(errno);
	strcpy(dir, target);
	for (l = strlen(dir); l > 1 && dir[l - 1] == '/'; l--)
		dir[l - 1] = '\0';
	base = strrchr(dir, '/');
	if (base == NULL) {
		base = dir;
		if (realpath(".", real) == NULL)
			return kl_err_from_errno(errno);
	} else {
		*base++ = '\0';
		if (realpath(*dir ? dir : "/", real) == NULL)
			return kl_err_from_errno(errno);
	}
	rl = strcmp(real, "/") == 0 ? 0 : strlen(real);
	bl = strlen(base);
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    rl + bl + 2 > PATH_MAX)
		return KL_E_INVAL;
	memcpy(abs, real, rl);
	abs[rl] = '/';
	memcpy(abs + rl + 1, base, bl + 1);
	*missing = 1;
	return KL_OK;
}

/* 1 if directory fd holds anything; -1 on error. */
static int
dir_nonempty(int fd)
{
	struct dirent *de;
	DIR *d;
	int dfd, any = 0;

	if ((dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while (!any && (de = readdir(d)) != NULL)
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return any;
}

int
rs_target_open(const struct kl_restore_opts *o, int *fd)
{
	char abs[PATH_MAX];
	struct twalk w;
	int rc, missing, full;

	*fd = -1;
	memset(&w, 0, sizeof(w));
	w.o = o;
	w.fd = -1;
	if ((rc = target_real(o->target, abs, &missing)) != KL_OK)
		goto out;
	RS_STEP(RS_STEP_TARGET, abs);
	if ((rc = target_walk(&w, abs, missing)) != KL_OK)
		goto out;
	if (others_write(&w.st))
		target_note(&w, "users other than you and root can write the "
		    "target");
	if ((full = dir_nonempty(w.fd)) < 0) {
		rc = kl_err_from_errno(errno);
		goto out;
	}
	if (full && !o->overwrite) {
		rc = KL_E_EXISTS;
		goto out;
	}
	if ((*fd = openat(w.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = kl_err_from_errno(errno);
out:
	if (w.fd >= 0)
		close(w.fd);
	return rc;
}
