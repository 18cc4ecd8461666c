#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "meta_internal.h"

#define NAMECACHE_SLOTS 64

/* A tiny direct-mapped cache: a tree has few distinct owners. */
struct nc_slot {
	uint32_t id;
	int valid;
	char *name;
};

struct kl_namecache {
	struct nc_slot user[NAMECACHE_SLOTS], group[NAMECACHE_SLOTS];
};

struct kl_namecache *
kl_namecache_new(void)
{
	return calloc(1, sizeof(struct kl_namecache));
}

void
kl_namecache_free(struct kl_namecache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NAMECACHE_SLOTS; i++) {
		free(c->user[i].name);
		free(c->group[i].name);
	}
	free(c);
}

static const char *
lookup_name(uint32_t id, int is_group)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	static __thread char sbuf[16384];

	if (is_group) {
		getgrgid_r((gid_t)id, &gr, sbuf, sizeof(sbuf), &grp);
		return grp ? grp->gr_name : "";
	}
	getpwuid_r((uid_t)id, &pw, sbuf, sizeof(sbuf), &pwp);
	return pwp ? pwp->pw_name : "";
}

static int
cached_name(struct nc_slot *tab, uint32_t id, int is_group, char **out)
{
	struct nc_slot *s = &tab[id % NAMECACHE_SLOTS];

	if (!s->valid || s->id != id) {
		free(s->name);
		s->valid = 0;
		if ((s->name = strdup(lookup_name(id, is_group))) == NULL)
			return KL_E_NOMEM;
		s->id = id;
		s->valid = 1;
	}
	return (*out = strdup(s->name)) != NULL ? KL_OK : KL_E_NOMEM;
}

uint8_t
kl_meta_type(mode_t m)
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

static void
ts_from(struct kl_ts *t, const struct timespec *ts)
{
	t->s = (int64_t)ts->tv_sec;
	t->ns = (uint32_t)ts->tv_nsec;
}

static int
read_target(const char *path, const struct stat *st, struct kl_node *n)
{
	char tmp[KL_TARGET_MAX + 2];
	ssize_t l;

	if ((l = readlink(path, tmp, sizeof(tmp))) < 0)
		return kl_err_from_errno(errno);
	if (l == 0 || (size_t)l > KL_TARGET_MAX)
		return KL_E_LIMIT;
	tmp[l] = '\0';
	if ((n->target = strdup(tmp)) == NULL)
		return KL_E_NOMEM;
	n->size = (uint64_t)l;
	(void)st;
	return KL_OK;
}

static int
xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kl_xattr *)a)->name,
	    ((const struct kl_xattr *)b)->name);
}

static int
xattr_get_one(const char *path, const char *name, struct kl_xattr *x)
{
	ssize_t l;

	if ((x->name = strdup(name)) == NULL)
		return KL_E_NOMEM;
	if ((l = lgetxattr(path, name, NULL, 0)) < 0)
		return kl_err_from_errno(errno);
	if ((size_t)l > KL_XATTR_VALUE_MAX)
		return KL_E_LIMIT;
	if ((x->value = malloc(l > 0 ? (size_t)l : 1)) == NULL)
		return KL_E_NOMEM;
	if ((l = lgetxattr(path, name, x->value, (size_t)l)) < 0)
		return kl_err_from_errno(errno);
	x->value_len = (size_t)l;
	return KL_OK;
}

/* Splits a listxattr result into sorted kl_xattr entries. */
static int
xattrs_fill(const char *path, const char *list, size_t len,
    struct kl_node *n)
{
	const char *p;
	size_t cnt = 0;
	int rc;

	for (p = list; p < list + len; p += strlen(p) + 1)
		cnt++;
	if (cnt > KL_XATTRS_MAX)
		return KL_E_LIMIT;
	if ((n->xattrs = calloc(cnt, sizeof(*n->xattrs))) == NULL)
		return KL_E_NOMEM;
	for (p = list; p < list + len; p += strlen(p) + 1) {
		if (*p == '\0' || strlen(p) > KL_NAME_MAX)
			continue;
		rc = xattr_get_one(path, p, &n->xattrs[n->nxattrs++]);
		if (rc == KL_E_NOTFOUND || rc == KL_E_UNSUPPORTED) {
			/* removed meanwhile: drop it */
			n->nxattrs--;
			free(n->xattrs[n->nxattrs].name);
			free(n->xattrs[n->nxattrs].value);
			memset(&n->xattrs[n->nxattrs], 0, sizeof(*n->xattrs));
			continue;
		}
		if (rc != KL_OK)
			return rc;
	}
	if (n->nxattrs > 1)
		qsort(n->xattrs, n->nxattrs, sizeof(*n->xattrs),
		    xattr_cmp);
	return KL_OK;
}

static int
read_xattrs(const char *path, struct kl_node *n)
{
	char *list = NULL;
	ssize_t l;
	int rc;

	if ((l = llistxattr(path, NULL, 0)) < 0)
		return errno == ENOTSUP ? KL_OK : kl_err_from_errno(errno);
	if (l == 0)
		return KL_OK;
	if ((list = malloc((size_t)l)) == NULL)
		return KL_E_NOMEM;
	if ((l = llistxattr(path, list, (size_t)l)) < 0)
		rc = kl_err_from_errno(errno);
	else
		rc = xattrs_fill(path, list, (size_t)l, n);
	free(list);
	return rc;
}

int
kl_meta_capture(struct kl_namecache *c, const char *path,
    const uint8_t *name, size_t name_len, const struct stat *st,
    struct kl_node *n)
{
	int rc;

	memset(n, 0, sizeof(*n));
	if ((n->type = kl_meta_type(st->st_mode)) == 0)
		return KL_E_UNSUPPORTED;
	if ((n->name = malloc(name_len ? name_len : 1)) == NULL)
		return KL_E_NOMEM;
	memcpy(n->name, name, name_len);
	n->name_len = name_len;
	n->mode = (uint32_t)(st->st_mode & 07777);
	n->uid = (uint32_t)st->st_uid;
	n->gid = (uint32_t)st->st_gid;
	ts_from(&n->mtime, &st->st_mtim);
	ts_from(&n->atime, &st->st_atim);
	ts_from(&n->ctime, &st->st_ctim);
	n->inode = (uint64_t)st->st_ino;
	n->device = (uint64_t)st->st_dev;
	n->nlink = (uint32_t)st->st_nlink;
	if (n->type == KL_NODE_FILE)
		n->size = (uint64_t)st->st_size;
	if (n->type == KL_NODE_CHR || n->type == KL_NODE_BLK)
		n->rdev = (uint64_t)st->st_rdev;
	if ((rc = cached_name(c->user, n->uid, 0, &n->user)) != KL_OK ||
	    (rc = cached_name(c->group, n->gid, 1, &n->group)) != KL_OK)
		goto out;
	if (n->type == KL_NODE_SYMLINK && (rc = read_target(path, st, n)) != 0)
		goto out;
	if (n->type != KL_NODE_SYMLINK && (n->target = strdup("")) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	rc = read_xattrs(path, n);
out:
	if (rc != KL_OK)
		kl_node_clear(n);
	return rc;
}

static int
hole_add(struct kl_node *n, size_t *cap, uint64_t off, uint64_t len)
{
	int rc;

	if ((rc = KL_GROW(n->holes, *cap, n->nholes + 1)) != KL_OK)
		return rc;
	n->holes[n->nholes].off = off;
	n->holes[n->nholes].len = len;
	n->nholes++;
	return KL_OK;
}

int
kl_meta_holes(int fd, uint64_t size, struct kl_node *n)
{
	off_t pos = 0, hole, data;
	size_t cap = 0;
	int rc;

	while ((uint64_t)pos < size) {
		if ((hole = lseek(fd, pos, SEEK_HOLE)) < 0)
			return errno == ENXIO ? KL_OK : kl_err_from_errno(errno);
		if ((uint64_t)hole >= size)
			break;
		data = lseek(fd, hole, SEEK_DATA);
		if (data < 0 && errno != ENXIO)
			return kl_err_from_errno(errno);
		if (data < 0 || (uint64_t)data > size)
			data = (off_t)size;
		if ((rc = hole_add(n, &cap, (uint64_t)hole,
		    (uint64_t)(data - hole))) != KL_OK)
			return rc;
		pos = data;
	}
	lseek(fd, 0, SEEK_SET);
	return KL_OK;
}
