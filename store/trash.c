/*
 * The trash of a repository (docs/FORMAT.md §1, PROTOCOL.md §4
 * "Deletion"): where a removal puts a file when the server keeps deleted
 * files for a while, so that a stolen full key cannot destroy history
 * faster than the server's delete delay.  Entries are renamed, never
 * copied: the bytes and the receive time (the modification time) stay as
 * they were, and a rename within one file system is atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/store.h"

#include "store_internal.h"

#define TRASH_DIR "trash"

/* The types that can be in the trash: what a removal may trash. */
static const enum kl_ftype trash_types[] = {
	KL_FT_KEY, KL_FT_DATA, KL_FT_INDEX, KL_FT_SNAPSHOT, KL_FT_RUN,
};

/* Decimal seconds at *p up to the next "." or the end, at most 18 digits,
 * no leading zero unless "0". */
static int
secs_get(const char **p, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;
	size_t n = 0;

	for (; *s >= '0' && *s <= '9'; s++, n++) {
		if (n == 18)
			return 0;
		v = v * 10 + (*s - '0');
	}
	if (n == 0 || (n > 1 && **p == '0'))
		return 0;
	*p = s;
	*out = v;
	return 1;
}

int
kl_store_trash_parse(const char *file, struct kl_trash_entry *e)
{
	const char *dot, *p;
	size_t i, dl;

	memset(e, 0, sizeof(*e));
	if ((dot = strchr(file, '.')) == NULL)
		return 0;
	dl = (size_t)(dot - file);
	for (i = 0; i < sizeof(trash_types) / sizeof(trash_types[0]); i++) {
		const char *d = store_type_dir(trash_types[i]);

		if (strlen(d) == dl && strncmp(file, d, dl) == 0)
			break;
	}
	if (i == sizeof(trash_types) / sizeof(trash_types[0]))
		return 0;
	e->t = trash_types[i];
	p = dot + 1;
	if (strlen(p) < KL_ID_HEX_LEN + 1 || p[KL_ID_HEX_LEN] != '.')
		return 0;
	memcpy(e->name, p, KL_ID_HEX_LEN);
	e->name[KL_ID_HEX_LEN] = '\0';
	if (!kl_store_name_valid(e->t, e->name))
		return 0;
	p += KL_ID_HEX_LEN + 1;
	if (!secs_get(&p, &e->deleted_s) || *p++ != '.' ||
	    !secs_get(&p, &e->purge_s) || *p != '\0' ||
	    e->purge_s < e->deleted_s)
		return 0;
	e->file = file;
	return 1;
}

/* Creates root/trash if it is missing (repositories older than it). */
static int
trash_dir_make(const struct kl_store *s, char *dir, size_t len)
{
	int r;

	if ((r = store_join(dir, len, s->path, TRASH_DIR)) != KL_OK)
		return r;
	if (mkdir(dir, STORE_DIR_MODE) == 0)
		return kl_fsync_dir(s->path);
	return errno == EEXIST ? KL_OK : kl_err_from_errno(errno);
}

int
store_trash_move(struct kl_store *s, enum kl_ftype t, const char *name,
    const char *path)
{
	char dir[PATH_MAX], to[PATH_MAX], file[NAME_MAX + 1], from[PATH_MAX];
	int64_t now = (int64_t)time(NULL);
	int r, n;

	if ((r = trash_dir_make(s, dir, sizeof(dir))) != KL_OK)
		return r;
	n = snprintf(file, sizeof(file), "%s.%s.%" PRId64 ".%" PRId64,
	    store_type_dir(t), name, now, now + s->policy.delete_delay_s);
	if (n < 0 || (size_t)n >= sizeof(file) ||
	    (r = store_join(to, sizeof(to), dir, file)) != KL_OK)
		return KL_E_LIMIT;
	if (renameat2(AT_FDCWD, path, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
		if (errno == ENOENT)
			return KL_E_NOTFOUND;
		if (errno != EEXIST)
			return kl_err_from_errno(errno);
		/* removed twice in one second (uploaded again between):
		 * the same bytes are in the trash already */
		if (unlink(path) != 0)
			return kl_err_from_errno(errno);
	}
	if ((r = kl_fsync_dir(dir)) != KL_OK ||
	    (r = store_dir_path(s, t, name, from, sizeof(from))) != KL_OK)
		return r;
	return kl_fsync_dir(from);
}

enum trash_op { T_LIST, T_PURGE, T_UNDELETE };

struct trash_walk {
	struct kl_store *s;
	enum trash_op op;
	int64_t when;		/* purge: now; undelete: since */
	kl_trash_cb cb;
	void *arg;
	char dir[PATH_MAX];
	int dirty;		/* trash/ changed: fsync it */
};

/* Moves entry e back into place; the same name in use: dropped. */
static int
undelete_one(struct trash_walk *w, int dfd, const struct kl_trash_entry *e)
{
	char to[PATH_MAX], todir[PATH_MAX];
	int r;

	if ((r = kl_store_path(w->s, e->t, e->name, to, sizeof(to))) !=
	    KL_OK ||
	    (r = store_dir_path(w->s, e->t, e->name, todir, sizeof(todir))) !=
	    KL_OK)
		return r;
	if (renameat2(dfd, e->file, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
		if (errno != EEXIST)
			return kl_err_from_errno(errno);
		if (unlinkat(dfd, e->file, 0) != 0)
			return kl_err_from_errno(errno);
		return KL_OK;
	}
	return kl_fsync_dir(todir);
}

/* One entry of trash/: what op does to it, then the callback. */
static int
trash_entry(struct trash_walk *w, int dfd, const char *file)
{
	struct kl_trash_entry e;
	struct stat st;
	int outcome = KL_OK;

	if (!kl_store_trash_parse(file, &e))
		return KL_OK;
	if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? KL_OK : w->cb(w->arg, &e,
		    kl_err_from_errno(errno));
	if (!S_ISREG(st.st_mode))
		return KL_OK;
	e.size = (uint64_t)st.st_size;
	switch (w->op) {
	case T_LIST:
		break;
	case T_PURGE:
		if (e.purge_s > w->when)
			return KL_OK;
		if (unlinkat(dfd, file, 0) != 0)
			outcome = kl_err_from_errno(errno);
		break;
	case T_UNDELETE:
		if (e.deleted_s < w->when)
			return KL_OK;
		outcome = undelete_one(w, dfd, &e);
		break;
	}
	if (w->op != T_LIST && outcome == KL_OK)
		w->dirty = 1;
	return w->cb(w->arg, &e, outcome);
}

static int
trash_walk(struct trash_walk *w)
{
	struct dirent *de;
	DIR *d;
	int r = KL_OK;

	if (w->s->role != KL_ROLE_FULL)
		return KL_E_PERM;
	if ((r = store_join(w->dir, sizeof(w->dir), w->s->path, TRASH_DIR)) !=
	    KL_OK)
		return r;
	if ((d = opendir(w->dir)) == NULL)
		return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
	errno = 0;
	while (r == KL_OK && (de = readdir(d)) != NULL) {
		r = trash_entry(w, dirfd(d), de->d_name);
		errno = 0;
	}
	if (r == KL_OK && errno != 0)
		r = kl_err_from_errno(errno);
	closedir(d);
	if (w->dirty) {
		int fr = kl_fsync_dir(w->dir);

		if (r == KL_OK)
			r = fr;
		if (w->op == T_PURGE)
			store_usage_forget(w->s);
	}
	return r;
}

int
kl_store_purge(struct kl_store *s, int64_t now, kl_trash_cb cb, void *arg)
{
	struct trash_walk w = { s, T_PURGE, now, cb, arg, "", 0 };

	return trash_walk(&w);
}

int
kl_store_undelete(struct kl_store *s, int64_t since, kl_trash_cb cb,
    void *arg)
{
	struct trash_walk w = { s, T_UNDELETE, since, cb, arg, "", 0 };

	return trash_walk(&w);
}

int
kl_store_trash_list(struct kl_store *s, kl_trash_cb cb, void *arg)
{
	struct trash_walk w = { s, T_LIST, 0, cb, arg, "", 0 };

	return trash_walk(&w);
}
