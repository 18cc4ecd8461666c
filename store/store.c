/*
 * Repository storage on a local file system (docs/FORMAT.md §1).
 *
 * Every file but `config` is named by the unkeyed BLAKE2b-256 of its bytes
 * and is created once, read-only, and never modified.  What a role may do
 * is decided in exactly one place, role_rules[] below: an operation that
 * has no row for a (type, role) pair simply does not exist for that role.
 * One rule looks at content as well: the append-only role may create only
 * shared locks (lock_head_refusal, put_lock_size).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/layout.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/store.h"

#include "store_internal.h"

#define STORE_FILE_MODE	0400u	/* create-only: never rewritten */
#define STORE_CONFIG_MAX ((size_t)64 << 10)
#define STORE_TMP_PREFIX ".tmp-"

enum store_op {
	OP_PUT,
	OP_GET,
	OP_STAT,
	OP_LIST,
	OP_REMOVE,
};

#define R_FULL		(1u << KL_ROLE_FULL)
#define R_APPEND	(1u << KL_ROLE_APPEND)
#define R_READ		(1u << KL_ROLE_READ)
#define R_REPLICA	(1u << KL_ROLE_REPLICA)
#define R_ALL		(R_FULL | R_APPEND | R_READ | R_REPLICA)
#define R_ADD		(R_FULL | R_APPEND | R_REPLICA)

/*
 * The only place where roles are enforced.  A missing row means nobody may
 * do it: CONFIG is never put through the backend (kl_store_create writes
 * it), the append role has no remove row except for locks, and it may not
 * create key files (a hacked host must not plant a key that operators
 * would take for theirs).  The replica role (an off-site copy receiving
 * `kluis-server replicate`) adds every kind of history, key files
 * included - they are the primary's, byte for byte, and their names are
 * their hashes - but removes nothing and takes no lock.
 */
static const struct role_rule {
	enum store_op op;
	enum kl_ftype t;
	unsigned roles;
} role_rules[] = {
	{ OP_PUT, KL_FT_KEY, R_FULL | R_REPLICA },
	{ OP_PUT, KL_FT_DATA, R_ADD },
	{ OP_PUT, KL_FT_INDEX, R_ADD },
	{ OP_PUT, KL_FT_SNAPSHOT, R_ADD },
	{ OP_PUT, KL_FT_LOCK, R_FULL | R_APPEND },
	{ OP_PUT, KL_FT_RUN, R_ADD },
	{ OP_GET, KL_FT_CONFIG, R_ALL },
	{ OP_GET, KL_FT_KEY, R_ALL },
	{ OP_GET, KL_FT_DATA, R_ALL },
	{ OP_GET, KL_FT_INDEX, R_ALL },
	{ OP_GET, KL_FT_SNAPSHOT, R_ALL },
	{ OP_GET, KL_FT_LOCK, R_ALL },
	{ OP_GET, KL_FT_RUN, R_ALL },
	{ OP_STAT, KL_FT_CONFIG, R_ALL },
	{ OP_STAT, KL_FT_KEY, R_ALL },
	{ OP_STAT, KL_FT_DATA, R_ALL },
	{ OP_STAT, KL_FT_INDEX, R_ALL },
	{ OP_STAT, KL_FT_SNAPSHOT, R_ALL },
	{ OP_STAT, KL_FT_LOCK, R_ALL },
	{ OP_STAT, KL_FT_RUN, R_ALL },
	{ OP_LIST, KL_FT_CONFIG, R_ALL },
	{ OP_LIST, KL_FT_KEY, R_ALL },
	{ OP_LIST, KL_FT_DATA, R_ALL },
	{ OP_LIST, KL_FT_INDEX, R_ALL },
	{ OP_LIST, KL_FT_SNAPSHOT, R_ALL },
	{ OP_LIST, KL_FT_LOCK, R_ALL },
	{ OP_LIST, KL_FT_RUN, R_ALL },
	{ OP_REMOVE, KL_FT_KEY, R_FULL },
	{ OP_REMOVE, KL_FT_DATA, R_FULL },
	{ OP_REMOVE, KL_FT_INDEX, R_FULL },
	{ OP_REMOVE, KL_FT_SNAPSHOT, R_FULL },
	{ OP_REMOVE, KL_FT_LOCK, R_FULL | R_APPEND },
	{ OP_REMOVE, KL_FT_RUN, R_FULL },
};

/* Directory of each type below the repository root (FORMAT.md §1). */
const char *
store_type_dir(enum kl_ftype t)
{
	return kl_ftype_dir((int)t);
}

/* KL_E_INVAL for an unknown type, KL_E_PERM if no rule allows it. */
static int
role_check(const struct kl_store *s, enum store_op op, enum kl_ftype t)
{
	size_t i;

	if (store_type_dir(t) == NULL)
		return KL_E_INVAL;
	for (i = 0; i < sizeof(role_rules) / sizeof(role_rules[0]); i++) {
		if (role_rules[i].op == op && role_rules[i].t == t)
			return (role_rules[i].roles & (1u << s->role)) ?
			    KL_OK : KL_E_PERM;
	}
	return KL_E_PERM;
}

int
kl_store_name_valid(enum kl_ftype t, const char *name)
{
	if (name == NULL || store_type_dir(t) == NULL)
		return 0;
	if (t == KL_FT_CONFIG)
		return strcmp(name, "config") == 0;
	return kl_hex64_valid(name);
}

/* The name of a file as checked by the backend: CONFIG ignores it. */
static int
name_check(enum kl_ftype t, const char *name)
{
	if (t == KL_FT_CONFIG)
		return KL_OK;
	return kl_store_name_valid(t, name) ? KL_OK : KL_E_INVAL;
}

int
store_join(char *out, size_t out_len, const char *a, const char *b)
{
	int n;

	if (b[0] == '\0')
		n = snprintf(out, out_len, "%s", a);
	else
		n = snprintf(out, out_len, "%s/%s", a, b);
	return n >= 0 && (size_t)n < out_len ? KL_OK : KL_E_LIMIT;
}

int
store_dir_path(const struct kl_store *s, enum kl_ftype t, const char *name,
    char *out, size_t out_len)
{
	char sub[8];

	if (t != KL_FT_DATA || name == NULL)
		return store_join(out, out_len, s->path, store_type_dir(t));
	snprintf(sub, sizeof(sub), "data/%.2s", name);
	return store_join(out, out_len, s->path, sub);
}

int
kl_store_path(const struct kl_store *s, enum kl_ftype t, const char *name,
    char *out, size_t out_len)
{
	char dir[PATH_MAX];
	int r;

	if (out_len > 0)
		out[0] = '\0';
	if (store_type_dir(t) == NULL || name_check(t, name) != KL_OK)
		return KL_E_INVAL;
	if ((r = store_dir_path(s, t, name, dir, sizeof(dir))) != KL_OK)
		return r;
	return store_join(out, out_len, dir,
	    t == KL_FT_CONFIG ? "config" : name);
}

/* Role, type and name checks shared by every operation but list. */
static int
op_path(const struct kl_store *s, enum store_op op, enum kl_ftype t,
    const char *name, char *out, size_t out_len)
{
	int r;

	if ((r = role_check(s, op, t)) != KL_OK)
		return r;
	return kl_store_path(s, t, name, out, out_len);
}

static int
store_new(const char *path, enum kl_store_role role, struct kl_store **out)
{
	struct kl_store *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KL_E_NOMEM;
	if ((s->path = strdup(path)) == NULL) {
		free(s);
		return KL_E_NOMEM;
	}
	s->role = role;
	s->snap_newest = -1;
	*out = s;
	return KL_OK;
}

int
kl_store_open(const char *path, enum kl_store_role role,
    struct kl_store **out)
{
	char cfg[PATH_MAX];
	struct stat st;
	int r;

	*out = NULL;
	if (path == NULL || path[0] == '\0' || (role != KL_ROLE_FULL &&
	    role != KL_ROLE_APPEND && role != KL_ROLE_READ &&
	    role != KL_ROLE_REPLICA))
		return KL_E_INVAL;
	if ((r = store_join(cfg, sizeof(cfg), path, "config")) != KL_OK)
		return r;
	if (stat(cfg, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR ? KL_E_NOTFOUND :
		    kl_err_from_errno(errno);
	if (!S_ISREG(st.st_mode))
		return KL_E_CORRUPT;
	return store_new(path, role, out);
}

void
kl_store_close(struct kl_store *s)
{
	if (s == NULL)
		return;
	free(s->path);
	free(s);
}

/* Makes the directory entry of a newly created path durable. */
static int
fsync_parent(const char *path)
{
	char parent[PATH_MAX];
	char *slash;
	size_t n;

	if (store_join(parent, sizeof(parent), path, "") != KL_OK)
		return KL_E_LIMIT;
	for (n = strlen(parent); n > 1 && parent[n - 1] == '/'; n--)
		parent[n - 1] = '\0';
	if ((slash = strrchr(parent, '/')) == NULL)
		return kl_fsync_dir(".");
	slash[slash == parent ? 1 : 0] = '\0';
	return kl_fsync_dir(parent);
}

/* KL_OK if path is missing (created) or an empty directory. */
static int
create_root(const char *path)
{
	struct dirent *de;
	DIR *d;
	int r = KL_OK;

	if ((d = opendir(path)) == NULL) {
		if (errno == ENOTDIR)
			return KL_E_EXISTS;
		if (errno != ENOENT)
			return kl_err_from_errno(errno);
		if ((r = kl_mkdir_p(path, STORE_DIR_MODE)) != KL_OK)
			return r;
		return fsync_parent(path);
	}
	while (r == KL_OK && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			r = KL_E_EXISTS;
	}
	closedir(d);
	return r;
}

static int
create_subdir(const char *root, const char *sub)
{
	char p[PATH_MAX];
	int r;

	if ((r = store_join(p, sizeof(p), root, sub)) != KL_OK)
		return r;
	if (mkdir(p, STORE_DIR_MODE) != 0)
		return kl_err_from_errno(errno);
	return KL_OK;
}

/* keys/, data/00..ff, index/, snapshots/, locks/, runs/, all durable. */
static int
create_layout(const char *root)
{
	char sub[8], data[PATH_MAX];
	size_t i;
	int t, r;

	for (t = KL_FT_KEY; t <= KL_FT_LAST; t++)
		if ((r = create_subdir(root, kl_ftype_dir(t))) != KL_OK)
			return r;
	for (i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "data/%02zx", i);
		if ((r = create_subdir(root, sub)) != KL_OK)
			return r;
	}
	if ((r = store_join(data, sizeof(data), root, "data")) != KL_OK)
		return r;
	if ((r = kl_fsync_dir(data)) != KL_OK)
		return r;
	return kl_fsync_dir(root);
}

int
kl_store_create(const char *path, const uint8_t *config, size_t config_len,
    struct kl_store **out)
{
	int r;

	*out = NULL;
	if (path == NULL || path[0] == '\0' || config == NULL ||
	    config_len == 0)
		return KL_E_INVAL;
	if (config_len > STORE_CONFIG_MAX)
		return KL_E_LIMIT;
	if ((r = create_root(path)) != KL_OK)
		return r;
	if ((r = create_layout(path)) != KL_OK)
		return r;
	/* config last: a half-made layout is "not a repository". */
	if ((r = kl_file_write_atomic(path, "config", config, config_len, 1,
	    STORE_FILE_MODE)) != KL_OK)
		return r;
	return store_new(path, KL_ROLE_FULL, out);
}

/*
 * A whole file at once: the streaming put below, so that both paths share
 * every check, the create-only link and the receive time set at
 * publication.
 */
static int
be_put(void *ctx, enum kl_ftype t, const char *name, const uint8_t *data,
    size_t len)
{
	struct kl_store_put *p;
	int r;

	if (data == NULL && len > 0)
		return KL_E_INVAL;
	if ((r = kl_store_put_begin(ctx, t, name, len, &p)) != KL_OK)
		return r;
	if (len > 0 && (r = kl_store_put_write(p, data, len)) != KL_OK) {
		kl_store_put_abort(p);
		return r;
	}
	return kl_store_put_commit(p);
}

static int
be_get(void *ctx, enum kl_ftype t, const char *name, uint64_t off,
    size_t len, size_t max, struct buf **out)
{
	struct kl_store *s = ctx;
	char path[PATH_MAX];
	int r;

	*out = NULL;
	if ((r = op_path(s, OP_GET, t, name, path, sizeof(path))) != KL_OK)
		return r;
	if (max > KL_FILE_MAX)
		max = KL_FILE_MAX;
	if (len == 0)
		return off == 0 ? kl_file_read_all(path, max, out) :
		    KL_E_INVAL;
	if (len > max)
		return KL_E_LIMIT;
	if (off > (uint64_t)INT64_MAX - len)
		return KL_E_INVAL;
	return kl_file_read_range(path, off, len, out);
}

static int
be_stat(void *ctx, enum kl_ftype t, const char *name, uint64_t *size)
{
	struct kl_store *s = ctx;
	char path[PATH_MAX];
	struct stat st;
	int r;

	*size = 0;
	if ((r = op_path(s, OP_STAT, t, name, path, sizeof(path))) != KL_OK)
		return r;
	if (lstat(path, &st) != 0)
		return kl_err_from_errno(errno);
	if (!S_ISREG(st.st_mode))
		return KL_E_CORRUPT;
	*size = (uint64_t)st.st_size;
	return KL_OK;
}

/*
 * Reports one directory entry if it is a finished, validly named regular
 * file that belongs in this directory (prefix: data/<xx>/ only).  Its
 * modification time is its receive time: the file was written under a
 * temporary name, fsynced and renamed, and is never written again.
 */
static int
list_entry(int dfd, const char *name, const char *prefix, kl_list_cb cb,
    void *arg)
{
	struct stat st;

	if (strncmp(name, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) == 0 ||
	    !kl_hex64_valid(name))
		return KL_OK;
	if (prefix != NULL && strncmp(name, prefix, 2) != 0)
		return KL_OK;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
	if (!S_ISREG(st.st_mode))
		return KL_OK;
	return cb(arg, name, (uint64_t)st.st_size, (int64_t)st.st_mtime);
}

/* A missing directory lists as empty. */
static int
list_dir(const char *dir, const char *prefix, kl_list_cb cb, void *arg)
{
	struct dirent *de;
	DIR *d;
	int r = KL_OK;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
	errno = 0;
	while (r == KL_OK && (de = readdir(d)) != NULL) {
		r = list_entry(dirfd(d), de->d_name, prefix, cb, arg);
		errno = 0;
	}
	if (r == KL_OK && errno != 0)
		r = kl_err_from_errno(errno);
	closedir(d);
	return r;
}

static int
list_data(const struct kl_store *s, kl_list_cb cb, void *arg)
{
	char dir[PATH_MAX], sub[8];
	unsigned i;
	int r = KL_OK;

	for (i = 0; r == KL_OK && i < 256; i++) {
		snprintf(sub, sizeof(sub), "data/%02x", i);
		r = store_join(dir, sizeof(dir), s->path, sub);
		if (r == KL_OK)
			r = list_dir(dir, sub + 5, cb, arg);
	}
	return r;
}

static int
list_config(const struct kl_store *s, kl_list_cb cb, void *arg)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	if ((r = kl_store_path(s, KL_FT_CONFIG, NULL, path, sizeof(path))) !=
	    KL_OK)
		return r;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
	return S_ISREG(st.st_mode) ? cb(arg, "config", (uint64_t)st.st_size,
	    (int64_t)st.st_mtime) : KL_OK;
}

static int
be_list(void *ctx, enum kl_ftype t, kl_list_cb cb, void *arg)
{
	struct kl_store *s = ctx;
	char dir[PATH_MAX];
	int r;

	if ((r = role_check(s, OP_LIST, t)) != KL_OK)
		return r;
	if (cb == NULL)
		return KL_E_INVAL;
	if (t == KL_FT_CONFIG)
		return list_config(s, cb, arg);
	if (t == KL_FT_DATA)
		return list_data(s, cb, arg);
	if ((r = store_dir_path(s, t, NULL, dir, sizeof(dir))) != KL_OK)
		return r;
	return list_dir(dir, NULL, cb, arg);
}

void
kl_store_set_policy(struct kl_store *s, const struct kl_store_policy *p)
{
	s->policy = *p;
}

/*
 * The policy's minimum age: a file received less than min_age_s ago is not
 * removed, by any role.  KL_E_NOTFOUND if it is gone.
 */
static int
age_check(struct kl_store *s, const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? KL_E_NOTFOUND :
		    kl_err_from_errno(errno);
	if (s->policy.min_age_s > 0 &&
	    (int64_t)time(NULL) - (int64_t)st.st_mtime < s->policy.min_age_s) {
		s->why = "it is younger than the server's minimum age "
		    "(kluis-server serve --min-age)";
		return KL_E_PERM;
	}
	return KL_OK;
}

/*
 * Locks are released at once: they are no history.  Every other file
 * passes the minimum age and, with a delete delay, goes to the trash.
 */
static int
be_remove(void *ctx, enum kl_ftype t, const char *name)
{
	struct kl_store *s = ctx;
	char dir[PATH_MAX], path[PATH_MAX];
	int r;

	s->why = NULL;
	if ((r = op_path(s, OP_REMOVE, t, name, path, sizeof(path))) != KL_OK)
		return r;
	if (t != KL_FT_LOCK) {
		if ((r = age_check(s, path)) != KL_OK)
			return r;
		if (s->policy.delete_delay_s > 0)
			return store_trash_move(s, t, name, path);
	}
	if (unlink(path) != 0)
		return kl_err_from_errno(errno);
	if (t != KL_FT_LOCK)	/* locks come and go: a few hundred bytes */
		store_usage_forget(s);
	if ((r = store_dir_path(s, t, name, dir, sizeof(dir))) != KL_OK)
		return r;
	return kl_fsync_dir(dir);
}

static void
be_close(void *ctx)
{
	kl_store_close(ctx);
}

static const char *
be_why(void *ctx)
{
	return kl_store_why(ctx);
}

static const struct kl_backend_ops store_ops = {
	.put = be_put,
	.get = be_get,
	.stat = be_stat,
	.list = be_list,
	.remove = be_remove,
	.close = be_close,
	.why = be_why,
};

void
kl_store_backend(struct kl_store *s, struct kl_backend *out)
{
	out->ops = &store_ops;
	out->ctx = s;
}

/* --- temporary files of uploads that never finished --- */

/* Removes the stale .tmp-* regular files of one directory. */
static void
sweep_dir(const char *root, const char *rel, time_t before,
    kl_store_sweep_cb cb, void *arg)
{
	char dir[PATH_MAX], what[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (store_join(dir, sizeof(dir), root, rel) != KL_OK ||
	    (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STORE_TMP_PREFIX,
		    strlen(STORE_TMP_PREFIX)) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_mtime >= before ||
		    unlinkat(dirfd(d), de->d_name, 0) != 0)
			continue;
		snprintf(what, sizeof(what), "%s%s%s", rel, *rel ? "/" : "",
		    de->d_name);
		if (cb != NULL)
			cb(arg, what, (uint64_t)st.st_size);
	}
	closedir(d);
}

int
kl_store_sweep_tmp(struct kl_store *s, int64_t min_age_s,
    kl_store_sweep_cb cb, void *arg)
{
	time_t before = time(NULL) - (time_t)min_age_s;
	char sub[8];
	size_t i;
	int t, r;

	if ((r = role_check(s, OP_PUT, KL_FT_DATA)) != KL_OK)
		return r;
	for (t = KL_FT_FIRST; t <= KL_FT_LAST; t++)
		sweep_dir(s->path, kl_ftype_dir(t), before, cb, arg);
	for (i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "data/%02x", (unsigned)i);
		sweep_dir(s->path, sub, before, cb, arg);
	}
	return KL_OK;
}

/* --- streaming put (kluis-server PUT) --- */

struct kl_store_put {
	struct kl_store *s;
	int fd;
	int lock_rule;			/* the lock rule applies */
	uint64_t size, got;
	struct kl_id want;
	struct kl_hash_state hs;
	uint8_t head[KL_FILE_HDR_LEN];	/* the file's first bytes */
	uint64_t reserved;		/* quota bytes to give back */
	int64_t recv_s;			/* > 0: the receive time to keep */
	enum kl_ftype t;
	char dir[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX];
};

/*
 * The append-only role's content rule (FORMAT.md §12, PROTOCOL.md §4): a
 * host whose SSH key may only append can take a shared lock, never an
 * exclusive one, which would stop every other host's backups.  A version-2
 * lock shows which it is in its cleartext header; anything else - a
 * version-1 lock, whose kind only key holders can read, an exclusive lock,
 * a file that is no lock at all - is refused.  Returns NULL or the reason.
 */
static const char *
lock_head_refusal(const uint8_t head[KL_FILE_HDR_LEN])
{
	struct kl_lock_hdr h;
	struct buf b;

	buf_view_init(&b, head, KL_FILE_HDR_LEN);
	if (kl_lock_hdr_get(&b, &h) != KL_OK)
		return "its header is not that of a lock file";
	if (h.version != KL_LOCK_VERSION)
		return "it is a version-1 lock, which does not show whether it "
		    "is exclusive (update kluis on this client)";
	if (h.exclusive)
		return "it is an exclusive lock, which only the full role may "
		    "take";
	return NULL;
}

/* Whether the upload of a file of type t must pass the lock rule. */
static int
lock_rule_applies(const struct kl_store *s, enum kl_ftype t)
{
	return t == KL_FT_LOCK && s->role == KL_ROLE_APPEND;
}

const char *
kl_store_why(const struct kl_store *s)
{
	return s->why;
}

/*
 * Creates dir/.tmp-<random> exclusively; fd in p->fd.  A type directory
 * that is missing - runs/ in a repository made before run records existed
 * (FORMAT.md §1) - is made, durably, on the first upload into it.
 */
static int
put_tmp_create(struct kl_store_put *p)
{
	uint8_t raw[8];
	char hex[2 * sizeof(raw) + 1];
	int tries, made = 0, r;

	for (tries = 0; tries < 16; tries++) {
		randombytes_buf(raw, sizeof(raw));
		kl_hex_encode(raw, sizeof(raw), hex);
		if (store_join(p->tmp, sizeof(p->tmp), p->dir, STORE_TMP_PREFIX) !=
		    KL_OK || strlen(p->tmp) + strlen(hex) >= sizeof(p->tmp))
			return KL_E_LIMIT;
		strcat(p->tmp, hex);
		p->fd = open(p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    STORE_FILE_MODE);
		if (p->fd >= 0)
			return KL_OK;
		if (errno == ENOENT && !made) {
			made = 1;
			if (mkdir(p->dir, STORE_DIR_MODE) != 0 &&
			    errno != EEXIST)
				return kl_err_from_errno(errno);
			if ((r = fsync_parent(p->dir)) != KL_OK)
				return r;
			continue;
		}
		if (errno != EEXIST)
			return kl_err_from_errno(errno);
	}
	return KL_E_EXISTS;
}

/* Checks that put_begin shares with be_put, and fills the paths of p. */
static int
put_prepare(struct kl_store *s, enum kl_ftype t, const char *name,
    uint64_t size, struct kl_store_put *p)
{
	struct stat st;
	int r;

	if ((r = op_path(s, OP_PUT, t, name, p->final,
	    sizeof(p->final))) != KL_OK)
		return r;
	if (size > KL_FILE_MAX)
		return KL_E_LIMIT;
	if (kl_id_parse(name, &p->want) != KL_OK)
		return KL_E_INVAL;
	/* Cheap early refusal; the exclusive link at commit is the real one. */
	if (lstat(p->final, &st) == 0)
		return KL_E_EXISTS;
	return store_dir_path(s, t, name, p->dir, sizeof(p->dir));
}

/* The lock rule on the declared size, before anything is written. */
static int
put_lock_size(struct kl_store_put *p)
{
	if (!p->lock_rule ||
	    (p->size >= KL_LOCK_FILE_MIN && p->size <= KL_LOCK_FILE_MAX))
		return KL_OK;
	p->s->why = "its size is not that of a lock file";
	return KL_E_PERM;
}

/* The lock rule on the header, as soon as its 16 bytes have come. */
static int
put_lock_head(struct kl_store_put *p, const uint8_t *data, size_t len)
{
	size_t n;

	if (!p->lock_rule || p->got >= KL_FILE_HDR_LEN)
		return KL_OK;
	n = KL_FILE_HDR_LEN - (size_t)p->got;
	if (n > len)
		n = len;
	memcpy(p->head + p->got, data, n);
	if (p->got + n < KL_FILE_HDR_LEN)
		return KL_OK;
	p->s->why = lock_head_refusal(p->head);
	return p->s->why != NULL ? KL_E_PERM : KL_OK;
}

int
kl_store_put_begin(struct kl_store *s, enum kl_ftype t, const char *name,
    uint64_t size, struct kl_store_put **out)
{
	struct kl_store_put *p;
	int r;

	*out = NULL;
	s->why = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return KL_E_NOMEM;
	p->s = s;
	p->t = t;
	p->fd = -1;
	p->size = size;
	p->lock_rule = lock_rule_applies(s, t);
	kl_hash_init(&p->hs);
	if ((r = put_prepare(s, t, name, size, p)) != KL_OK ||
	    (r = put_lock_size(p)) != KL_OK ||
	    (r = store_quota_reserve(s, size)) != KL_OK) {
		free(p);
		return r;
	}
	p->reserved = size;
	if ((r = put_tmp_create(p)) != KL_OK) {
		p->tmp[0] = '\0';	/* a name tried, perhaps another's */
		kl_store_put_abort(p);
		return r;
	}
	*out = p;
	return KL_OK;
}

int
kl_store_put_write(struct kl_store_put *p, const uint8_t *data, size_t len)
{
	int r;

	if (len > p->size - p->got)
		return KL_E_LIMIT;
	if ((r = put_lock_head(p, data, len)) != KL_OK ||
	    (r = kl_write_full(p->fd, data, len)) != KL_OK)
		return r;
	kl_hash_update(&p->hs, data, len);
	p->got += len;
	return KL_OK;
}

/*
 * Size, hash, receive time, fsync and close: everything before the name is
 * visible.  The modification time is what LIST reports as the receive time
 * (PROTOCOL.md §3), so it is set now, at publication: a client that sends
 * its data and holds back the end of the upload gets the time it finished,
 * not the time of its last data.
 */
static int
put_seal(struct kl_store_put *p)
{
	struct kl_id got;
	int r = KL_OK;

	kl_hash_final(&p->hs, &got);
	if (p->got != p->size || !kl_id_eq(&got, &p->want))
		r = KL_E_CORRUPT;
	if (r == KL_OK && p->recv_s > 0) {
		struct timespec t[2] = { { (time_t)p->recv_s, 0 },
		    { (time_t)p->recv_s, 0 } };

		if (futimens(p->fd, t) != 0)
			r = kl_err_from_errno(errno);
	} else if (r == KL_OK && futimens(p->fd, NULL) != 0) {
		r = kl_err_from_errno(errno);
	}
	if (r == KL_OK && kl_fsync(p->fd) != 0)
		r = kl_err_from_errno(errno);
	if (close(p->fd) != 0 && r == KL_OK)
		r = kl_err_from_errno(errno);
	p->fd = -1;
	return r;
}

int
kl_store_put_commit(struct kl_store_put *p)
{
	int r;

	if ((r = put_seal(p)) != KL_OK)
		goto out;
	/* link() never replaces an existing name: create-only. */
	if (link(p->tmp, p->final) != 0) {
		r = kl_err_from_errno(errno);
		goto out;
	}
	unlink(p->tmp);
	p->tmp[0] = '\0';
	p->reserved = 0;	/* the file holds it now */
	if (p->t == KL_FT_SNAPSHOT && p->s->snap_newest >= 0) {
		int64_t t = p->recv_s > 0 ? p->recv_s : (int64_t)time(NULL);

		if (t > p->s->snap_newest)
			p->s->snap_newest = t;
	}
	r = kl_fsync_dir(p->dir);
out:
	kl_store_put_abort(p);
	return r;
}

void
kl_store_put_abort(struct kl_store_put *p)
{
	if (p == NULL)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->tmp[0] != '\0')
		unlink(p->tmp);
	if (p->reserved > 0)
		store_quota_release(p->s, p->reserved);
	free(p);
}

int
kl_store_open_file(struct kl_store *s, enum kl_ftype t, const char *name,
    int *fd, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	*fd = -1;
	*size = 0;
	if ((r = op_path(s, OP_GET, t, name, path, sizeof(path))) != KL_OK)
		return r;
	if ((r = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ELOOP ? KL_E_CORRUPT : kl_err_from_errno(errno);
	if (fstat(r, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(r);
		return KL_E_CORRUPT;
	}
	*fd = r;
	*size = (uint64_t)st.st_size;
	return KL_OK;
}

/* --- repair --- */

int
kl_store_repair(struct kl_store *s, enum kl_ftype t, const char *name,
    const uint8_t *data, size_t len)
{
	char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 64];
	char hex[17];
	uint8_t raw[8];
	struct timespec times[2];
	struct kl_id want, got;
	struct stat st;
	int fd, r;

	s->why = NULL;
	if (s->role != KL_ROLE_FULL)
		return KL_E_PERM;
	if (t == KL_FT_CONFIG || t == KL_FT_LOCK)
		return KL_E_INVAL;	/* neither is named by its hash */
	if ((r = op_path(s, OP_GET, t, name, path, sizeof(path))) != KL_OK)
		return r;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? KL_E_NOTFOUND : kl_err_from_errno(errno);
	if (!S_ISREG(st.st_mode))
		return KL_E_CORRUPT;
	kl_hash(data, len, &got);
	if (kl_id_parse(name, &want) != KL_OK || !kl_id_eq(&want, &got))
		return KL_E_CORRUPT;
	if ((r = store_dir_path(s, t, name, dir, sizeof(dir))) != KL_OK)
		return r;
	/*
	 * The sound bytes go to a temporary file that already carries the
	 * receive time, durably, and are renamed over the damaged file: the
	 * name is never missing, and a crash leaves the old file or the
	 * repaired one with its time, nothing between.
	 */
	randombytes_buf(raw, sizeof(raw));
	kl_hex_encode(raw, sizeof(raw), hex);
	if (snprintf(tmp, sizeof(tmp), "%s/%srepair-%s", dir,
	    STORE_TMP_PREFIX, hex) >= (int)sizeof(tmp))
		return KL_E_LIMIT;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    STORE_FILE_MODE)) < 0)
		return kl_err_from_errno(errno);
	times[0].tv_sec = st.st_mtime;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	if ((r = kl_write_full(fd, data, len)) == KL_OK &&
	    (futimens(fd, times) != 0 || kl_fsync(fd) != 0))
		r = kl_err_from_errno(errno);
	if (close(fd) != 0 && r == KL_OK)
		r = kl_err_from_errno(errno);
	if (r == KL_OK && rename(tmp, path) != 0)
		r = kl_err_from_errno(errno);
	if (r != KL_OK) {
		unlink(tmp);
		return r;
	}
	return kl_fsync_dir(dir);
}

/* The newest receive time in snapshots/ (0 if none), once per store. */
static int64_t
snap_newest(struct kl_store *s)
{
	char dir[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (s->snap_newest >= 0)
		return s->snap_newest;
	s->snap_newest = 0;
	if (store_join(dir, sizeof(dir), s->path, "snapshots") != KL_OK ||
	    (d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (kl_hex64_valid(de->d_name) && fstatat(dirfd(d),
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_mtime > s->snap_newest)
			s->snap_newest = (int64_t)st.st_mtime;
	}
	closedir(d);
	return s->snap_newest;
}

int
kl_store_put_keep_time(struct kl_store_put *p, int64_t recv_s)
{
	struct kl_store *s = p->s;

	if (s->role != KL_ROLE_REPLICA)
		return KL_E_PERM;
	if (recv_s <= 0) {
		s->why = "a receive time must be after 1970";
		return KL_E_INVAL;
	}
	if (recv_s > (int64_t)time(NULL) + KL_STORE_CLOCK_SKEW_S) {
		s->why = "its receive time is ahead of this server's clock";
		return KL_E_INVAL;
	}
	/* history the copy holds cannot be rewritten: a snapshot is never
	 * dated before the newest one here, so `restore --at` before that
	 * picks what the copy had (threat-model.md §4.11) */
	if (p->t == KL_FT_SNAPSHOT && recv_s < snap_newest(s)) {
		s->why = "its receive time is before that of the newest "
		    "snapshot this copy holds";
		return KL_E_INVAL;
	}
	p->recv_s = recv_s;
	return KL_OK;
}
