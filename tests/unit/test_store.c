/*
 * Unit tests of the repository storage (store/store.c, FORMAT.md §1).
 * Every test gets a fresh repository in its own temporary directory.
 *
 * The write and fsync fault injection of base/fsutil.c reads its
 * environment variables once per process, and a fork()ed child inherits
 * that already-read state; so the faulty put runs in a child that re-execs
 * this program ("--fault-put REPO") with the variable set, and reports its
 * result through its exit status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/layout.h"
#include "kluis/hash.h"
#include "kluis/store.h"

#define FAULT_ARG "--fault-put"
#define FAULT_PAYLOAD "payload written under an injected fault"
#define LIST_MAX 16
/* snprintf into a PATH_MAX buffer that must not truncate. */
#define PATHF(out, ...) \
	assert_true(snprintf((out), PATH_MAX, __VA_ARGS__) < PATH_MAX)

static const uint8_t config_bytes[] = "KLUISCFG test configuration";

struct fx {
	char dir[PATH_MAX];
	char repo[PATH_MAX];
	struct kl_backend be;	/* owns the store */
};

struct listing {
	size_t n;
	char names[LIST_MAX][KL_ID_HEX_LEN + 1];
	uint64_t sizes[LIST_MAX];
	int64_t mtimes[LIST_MAX];
};

/* --- helpers --- */

static void
name_of(const void *p, size_t len, char hex[KL_ID_HEX_LEN + 1])
{
	struct kl_id id;

	kl_hash(p, len, &id);
	kl_id_hex(&id, hex);
}

static int
put_str(struct kl_backend *be, enum kl_ftype t, const char *s, char *name)
{
	name_of(s, strlen(s), name);
	return be->ops->put(be->ctx, t, name, (const uint8_t *)s, strlen(s));
}

static int
put_bytes(struct kl_backend *be, enum kl_ftype t, const uint8_t *p,
    size_t len, char *name)
{
	name_of(p, len, name);
	return be->ops->put(be->ctx, t, name, p, len);
}

/*
 * A lock file as the server sees it (FORMAT.md §12): magic, version,
 * flags, then len - 16 bytes standing for the AEAD, which only key holders
 * could check (fill tells files apart).
 */
static size_t
lock_file(uint8_t *out, size_t len, const char *magic, uint32_t version,
    uint32_t flags, uint8_t fill)
{
	memcpy(out, magic, 8);
	kl_le32enc(out + 8, version);
	kl_le32enc(out + 12, flags);
	memset(out + 16, fill, len - 16);
	return len;
}

static void
path_of(struct fx *f, enum kl_ftype t, const char *name, char *out)
{
	struct kl_store *s = f->be.ctx;

	assert_int_equal(kl_store_path(s, t, name, out, PATH_MAX), KL_OK);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void
plant(const char *dir, const char *name, const char *content)
{
	char p[PATH_MAX];
	FILE *fp;

	PATHF(p, "%s/%s", dir, name);
	assert_non_null(fp = fopen(p, "w"));
	fputs(content, fp);
	fclose(fp);
}

/* Number of entries other than . and .. in dir. */
static size_t
dir_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
list_cb(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct listing *l = arg;

	assert_true(l->n < LIST_MAX);
	snprintf(l->names[l->n], sizeof(l->names[l->n]), "%s", name);
	l->mtimes[l->n] = mtime_s;
	l->sizes[l->n++] = size;
	return 0;
}

static int
listing_has(const struct listing *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return 1;
	return 0;
}

/* A second handle on the fixture's repository, with another role. */
static void
open_role(struct fx *f, enum kl_store_role role, struct kl_backend *be)
{
	struct kl_store *s = NULL;

	assert_int_equal(kl_store_open(f->repo, role, &s), KL_OK);
	kl_store_backend(s, be);
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int
setup(void **state)
{
	struct kl_store *s = NULL;
	struct fx *f;

	assert_non_null(f = calloc(1, sizeof(*f)));
	PATHF(f->dir, "/tmp/kl-test-store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	PATHF(f->repo, "%s/repo", f->dir);
	assert_int_equal(kl_store_create(f->repo, config_bytes,
	    sizeof(config_bytes), &s), KL_OK);
	kl_store_backend(s, &f->be);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	f->be.ops->close(f->be.ctx);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* --- create and open --- */

static void
test_create_then_open_succeeds(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;

	assert_int_equal(kl_store_open(f->repo, KL_ROLE_FULL, &s), KL_OK);
	assert_non_null(s);
	kl_store_close(s);
}

static void
test_create_makes_layout_with_mode_0700(void **state)
{
	static const char *const sub[] = { "keys", "data", "data/00",
	    "data/7f", "data/ff", "index", "snapshots", "locks" };
	struct fx *f = *state;
	char p[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		PATHF(p, "%s/%s", f->repo, sub[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	PATHF(p, "%s/data", f->repo);
	assert_int_equal(dir_entries(p), 256);
}

static void
test_open_missing_dir_is_notfound(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;
	char p[PATH_MAX];

	PATHF(p, "%s/nothing-here", f->dir);
	assert_int_equal(kl_store_open(p, KL_ROLE_FULL, &s), KL_E_NOTFOUND);
	assert_null(s);
}

static void
test_open_dir_without_config_is_notfound(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;
	char p[PATH_MAX];

	PATHF(p, "%s/empty", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(kl_store_open(p, KL_ROLE_READ, &s), KL_E_NOTFOUND);
	assert_null(s);
}

static void
test_create_over_nonempty_dir_is_exists(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;
	char p[PATH_MAX];

	PATHF(p, "%s/full", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	plant(p, "somefile", "x");
	assert_int_equal(kl_store_create(p, config_bytes,
	    sizeof(config_bytes), &s), KL_E_EXISTS);
	assert_null(s);
	assert_int_equal(dir_entries(p), 1);
}

static void
test_create_over_existing_repository_is_exists(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;

	assert_int_equal(kl_store_create(f->repo, config_bytes,
	    sizeof(config_bytes), &s), KL_E_EXISTS);
	assert_null(s);
}

static void
test_create_in_empty_dir_succeeds(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;
	char p[PATH_MAX];

	PATHF(p, "%s/empty", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(kl_store_create(p, config_bytes,
	    sizeof(config_bytes), &s), KL_OK);
	kl_store_close(s);
}

/* --- put and get --- */

static void
round_trip(struct fx *f, enum kl_ftype t)
{
	static const char content[] = "encrypted bytes of some object";
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;

	assert_int_equal(put_str(&f->be, t, content, name), KL_OK);
	assert_int_equal(f->be.ops->get(f->be.ctx, t, name, 0, 0, 1024, &b),
	    KL_OK);
	assert_int_equal(buf_size(b), strlen(content));
	assert_memory_equal(buf_data(b), content, strlen(content));
	buf_free(b);
}

static void
test_round_trip_key(void **state)
{
	round_trip(*state, KL_FT_KEY);
}

static void
test_round_trip_data(void **state)
{
	round_trip(*state, KL_FT_DATA);
}

static void
test_round_trip_index(void **state)
{
	round_trip(*state, KL_FT_INDEX);
}

static void
test_round_trip_snapshot(void **state)
{
	round_trip(*state, KL_FT_SNAPSHOT);
}

static void
test_round_trip_lock(void **state)
{
	round_trip(*state, KL_FT_LOCK);
}

static void
test_get_config_returns_created_bytes(void **state)
{
	struct fx *f = *state;
	struct buf *b = NULL;

	assert_int_equal(f->be.ops->get(f->be.ctx, KL_FT_CONFIG, "config", 0,
	    0, 1024, &b), KL_OK);
	assert_int_equal(buf_size(b), sizeof(config_bytes));
	assert_memory_equal(buf_data(b), config_bytes, sizeof(config_bytes));
	buf_free(b);
}

static void
test_put_config_is_perm(void **state)
{
	struct fx *f = *state;

	assert_int_equal(f->be.ops->put(f->be.ctx, KL_FT_CONFIG, "config",
	    (const uint8_t *)"new", 3), KL_E_PERM);
}

static void
test_put_wrong_hash_is_corrupt_and_leaves_nothing(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];

	name_of("other content", 13, name);
	assert_int_equal(f->be.ops->put(f->be.ctx, KL_FT_DATA, name,
	    (const uint8_t *)"content", 7), KL_E_CORRUPT);
	path_of(f, KL_FT_DATA, name, p);
	assert_false(exists(p));
	PATHF(p, "%s/data/%.2s", f->repo, name);
	assert_int_equal(dir_entries(p), 0);
}

static void
test_put_lock_wrong_hash_is_corrupt(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];

	name_of("other content", 13, name);
	assert_int_equal(f->be.ops->put(f->be.ctx, KL_FT_LOCK, name,
	    (const uint8_t *)"content", 7), KL_E_CORRUPT);
}

static void
test_put_existing_name_is_exists_and_keeps_original(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	struct stat before, after;

	assert_int_equal(put_str(&f->be, KL_FT_INDEX, "index v1", name),
	    KL_OK);
	path_of(f, KL_FT_INDEX, name, p);
	assert_int_equal(stat(p, &before), 0);
	assert_int_equal(put_str(&f->be, KL_FT_INDEX, "index v1", name),
	    KL_E_EXISTS);
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(after.st_size, 8);
}

static void
test_put_empty_file_round_trips(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	uint64_t size = 1;

	assert_int_equal(put_str(&f->be, KL_FT_SNAPSHOT, "", name), KL_OK);
	assert_int_equal(f->be.ops->stat(f->be.ctx, KL_FT_SNAPSHOT, name,
	    &size), KL_OK);
	assert_int_equal(size, 0);
}

/* --- names --- */

static const char *const bad_names[] = {
	"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
	"abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678",
	"abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890",
	"../x",
	"a/b",
	"",
	".tmp-0123456789abcdef",
};
#define NBAD (sizeof(bad_names) / sizeof(bad_names[0]))

static void
test_invalid_names_put_is_inval(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < NBAD; i++)
		assert_int_equal(f->be.ops->put(f->be.ctx, KL_FT_DATA,
		    bad_names[i], (const uint8_t *)"x", 1), KL_E_INVAL);
	assert_int_equal(f->be.ops->put(f->be.ctx, KL_FT_DATA, NULL,
	    (const uint8_t *)"x", 1), KL_E_INVAL);
}

static void
test_invalid_names_get_is_inval(void **state)
{
	struct fx *f = *state;
	struct buf *b = NULL;
	size_t i;

	for (i = 0; i < NBAD; i++) {
		assert_int_equal(f->be.ops->get(f->be.ctx, KL_FT_INDEX,
		    bad_names[i], 0, 0, 1024, &b), KL_E_INVAL);
		assert_null(b);
	}
}

static void
test_invalid_names_stat_is_inval(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	size_t i;

	for (i = 0; i < NBAD; i++)
		assert_int_equal(f->be.ops->stat(f->be.ctx, KL_FT_SNAPSHOT,
		    bad_names[i], &size), KL_E_INVAL);
}

static void
test_invalid_names_remove_is_inval(void **state)
{
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < NBAD; i++)
		assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_LOCK,
		    bad_names[i]), KL_E_INVAL);
}

static void
test_unknown_type_is_inval(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	uint64_t size;

	name_of("x", 1, name);
	assert_int_equal(f->be.ops->stat(f->be.ctx, (enum kl_ftype)99, name,
	    &size), KL_E_INVAL);
}

static void
test_name_valid_accepts_only_lowercase_hex64_and_config(void **state)
{
	char name[KL_ID_HEX_LEN + 1];
	size_t i;

	name_of("x", 1, name);
	assert_true(kl_store_name_valid(KL_FT_DATA, name));
	assert_true(kl_store_name_valid(KL_FT_CONFIG, "config"));
	assert_false(kl_store_name_valid(KL_FT_CONFIG, name));
	assert_false(kl_store_name_valid(KL_FT_DATA, "config"));
	assert_false(kl_store_name_valid(KL_FT_DATA, NULL));
	for (i = 0; i < NBAD; i++)
		assert_false(kl_store_name_valid(KL_FT_KEY, bad_names[i]));
}

static void
test_path_of_data_uses_fanout_directory(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX], want[PATH_MAX];

	name_of("x", 1, name);
	path_of(f, KL_FT_DATA, name, p);
	PATHF(want, "%s/data/%.2s/%s", f->repo, name, name);
	assert_string_equal(p, want);
}

static void
test_path_too_long_is_limit(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[16];

	name_of("x", 1, name);
	assert_int_equal(kl_store_path(f->be.ctx, KL_FT_INDEX, name, p,
	    sizeof(p)), KL_E_LIMIT);
}

/* --- get: ranges and limits --- */

static void
test_range_get_returns_slice(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;

	assert_int_equal(put_str(&f->be, KL_FT_DATA, "0123456789", name),
	    KL_OK);
	assert_int_equal(f->be.ops->get(f->be.ctx, KL_FT_DATA, name, 3, 4,
	    1024, &b), KL_OK);
	assert_int_equal(buf_size(b), 4);
	assert_memory_equal(buf_data(b), "3456", 4);
	buf_free(b);
}

static void
test_range_get_past_end_is_corrupt(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;

	assert_int_equal(put_str(&f->be, KL_FT_DATA, "0123456789", name),
	    KL_OK);
	assert_int_equal(f->be.ops->get(f->be.ctx, KL_FT_DATA, name, 8, 4,
	    1024, &b), KL_E_CORRUPT);
	assert_null(b);
}

static void
test_get_over_max_is_limit(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;

	assert_int_equal(put_str(&f->be, KL_FT_INDEX, "0123456789", name),
	    KL_OK);
	assert_int_equal(f->be.ops->get(f->be.ctx, KL_FT_INDEX, name, 0, 0, 9,
	    &b), KL_E_LIMIT);
	assert_null(b);
}

static void
test_get_missing_is_notfound(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;

	name_of("never stored", 12, name);
	assert_int_equal(f->be.ops->get(f->be.ctx, KL_FT_DATA, name, 0, 0,
	    1024, &b), KL_E_NOTFOUND);
	assert_null(b);
}

static void
test_stat_reports_size_and_missing_is_notfound(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], missing[KL_ID_HEX_LEN + 1];
	uint64_t size = 0;

	assert_int_equal(put_str(&f->be, KL_FT_KEY, "12345", name), KL_OK);
	assert_int_equal(f->be.ops->stat(f->be.ctx, KL_FT_KEY, name, &size),
	    KL_OK);
	assert_int_equal(size, 5);
	name_of("never stored", 12, missing);
	assert_int_equal(f->be.ops->stat(f->be.ctx, KL_FT_KEY, missing,
	    &size), KL_E_NOTFOUND);
}

/* --- list --- */

static void
test_list_data_returns_exactly_files_put(void **state)
{
	static const char *const content[] = { "one", "two", "three", "four" };
	struct fx *f = *state;
	char name[4][KL_ID_HEX_LEN + 1];
	struct listing l = { 0 };
	size_t i;

	for (i = 0; i < 4; i++)
		assert_int_equal(put_str(&f->be, KL_FT_DATA, content[i],
		    name[i]), KL_OK);
	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_DATA, list_cb, &l),
	    KL_OK);
	assert_int_equal(l.n, 4);
	for (i = 0; i < 4; i++)
		assert_true(listing_has(&l, name[i]));
}

static void
test_list_skips_tmp_and_invalid_names(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], dir[PATH_MAX], upper[KL_ID_HEX_LEN + 1];
	struct listing l = { 0 };
	size_t i;

	assert_int_equal(put_str(&f->be, KL_FT_DATA, "kept", name), KL_OK);
	PATHF(dir, "%s/data/%.2s", f->repo, name);
	plant(dir, ".tmp-0123456789abcdef", "half written");
	plant(dir, "not-a-name", "junk");
	for (i = 0; i <= KL_ID_HEX_LEN; i++)
		upper[i] = (char)(i >= 2 && name[i] >= 'a' ? name[i] - 32 :
		    name[i]);
	plant(dir, upper, "uppercase");
	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_DATA, list_cb, &l),
	    KL_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.names[0], name);
	assert_int_equal(l.sizes[0], 4);
}

static void
test_list_index_skips_tmp_file(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], dir[PATH_MAX];
	struct listing l = { 0 };

	assert_int_equal(put_str(&f->be, KL_FT_INDEX, "an index", name),
	    KL_OK);
	PATHF(dir, "%s/index", f->repo);
	plant(dir, ".tmp-fedcba9876543210", "half written");
	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_INDEX, list_cb, &l),
	    KL_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.names[0], name);
}

static void
test_list_empty_type_reports_nothing(void **state)
{
	struct fx *f = *state;
	struct listing l = { 0 };

	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_SNAPSHOT, list_cb,
	    &l), KL_OK);
	assert_int_equal(l.n, 0);
}

/* Sets a file's access and modification times to t. */
static void
set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW),
	    0);
}

/*
 * The time listed is the file's modification time: when the store
 * finished writing it (now, for a fresh put), or whatever it is on disk.
 */
static void
test_list_reports_mtime_as_receive_time(void **state)
{
	struct fx *f = *state;
	char name[2][KL_ID_HEX_LEN + 1], p[PATH_MAX];
	time_t before = time(NULL), after;
	struct listing l = { 0 };
	size_t i;

	assert_int_equal(put_str(&f->be, KL_FT_DATA, "fresh", name[0]), KL_OK);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, "older", name[1]), KL_OK);
	after = time(NULL);
	path_of(f, KL_FT_DATA, name[1], p);
	set_mtime(p, 1234567890);
	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_DATA, list_cb, &l),
	    KL_OK);
	assert_int_equal(l.n, 2);
	i = strcmp(l.names[0], name[1]) == 0 ? 0 : 1;	/* the older one */
	assert_true(l.mtimes[i] == 1234567890);
	assert_true(l.mtimes[1 - i] >= before - 1 &&
	    l.mtimes[1 - i] <= after + 1);
	path_of(f, KL_FT_CONFIG, NULL, p);
	set_mtime(p, 1500000000);
	memset(&l, 0, sizeof(l));
	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_CONFIG, list_cb, &l),
	    KL_OK);
	assert_int_equal(l.n, 1);
	assert_true(l.mtimes[0] == 1500000000);
}

static void age(const char *path, int64_t age_s);

/* The only temporary file in dir. */
static void
tmp_in(const char *dir, char out[PATH_MAX])
{
	struct dirent *de;
	DIR *d;

	out[0] = '\0';
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".tmp-", 5) == 0) {
			assert_true(out[0] == '\0');
			PATHF(out, "%s/%s", dir, de->d_name);
		}
	closedir(d);
	assert_true(out[0] != '\0');
}

/*
 * Issue #10 finding 6: the receive time is the time of publication, not
 * of the last write.  An upload whose data came long ago (its temporary
 * file's mtime is set back a day) and that commits now is listed now: a
 * client that holds back the end of an upload cannot backdate it.
 */
static void
test_receive_time_is_set_at_commit(void **state)
{
	struct fx *f = *state;
	static const uint8_t data[] = "a snapshot held back for a day";
	struct kl_store_put *pp;
	struct listing l = { 0 };
	char name[KL_ID_HEX_LEN + 1], dir[PATH_MAX], tmp[PATH_MAX];
	time_t before;

	name_of(data, sizeof(data), name);
	assert_int_equal(kl_store_put_begin(f->be.ctx, KL_FT_SNAPSHOT, name,
	    sizeof(data), &pp), KL_OK);
	assert_int_equal(kl_store_put_write(pp, data, sizeof(data)), KL_OK);
	PATHF(dir, "%s/snapshots", f->repo);
	tmp_in(dir, tmp);
	age(tmp, 24 * 3600);
	before = time(NULL);
	assert_int_equal(kl_store_put_commit(pp), KL_OK);
	assert_int_equal(f->be.ops->list(f->be.ctx, KL_FT_SNAPSHOT, list_cb,
	    &l), KL_OK);
	assert_int_equal(l.n, 1);
	assert_true(l.mtimes[0] >= (int64_t)before);
	assert_true(l.mtimes[0] <= (int64_t)time(NULL));
}

/* --- roles --- */

static void
test_append_remove_content_is_perm_and_file_stays(void **state)
{
	static const enum kl_ftype types[] = { KL_FT_DATA, KL_FT_INDEX,
	    KL_FT_SNAPSHOT, KL_FT_KEY };
	struct fx *f = *state;
	struct kl_backend app;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	size_t i;

	open_role(f, KL_ROLE_APPEND, &app);
	for (i = 0; i < 4; i++) {
		/* key files: only the full role creates them */
		assert_int_equal(put_str(types[i] == KL_FT_KEY ? &f->be : &app,
		    types[i], "keep me", name), KL_OK);
		assert_int_equal(app.ops->remove(app.ctx, types[i], name),
		    KL_E_PERM);
		path_of(f, types[i], name, p);
		assert_true(exists(p));
	}
	app.ops->close(app.ctx);
}

static void
test_append_remove_lock_succeeds(void **state)
{
	struct fx *f = *state;
	struct kl_backend app;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];

	uint8_t lock[100];

	open_role(f, KL_ROLE_APPEND, &app);
	assert_int_equal(put_bytes(&app, KL_FT_LOCK, lock, lock_file(lock,
	    sizeof(lock), KL_MAGIC_LOCK, 2, 0, 'a'), name), KL_OK);
	assert_int_equal(app.ops->remove(app.ctx, KL_FT_LOCK, name), KL_OK);
	path_of(f, KL_FT_LOCK, name, p);
	assert_false(exists(p));
	app.ops->close(app.ctx);
}

/* One lock the append-only role may not create, and why. */
struct bad_lock {
	const char *magic;
	uint32_t version, flags;
	size_t len;
	const char *why;
};

static const struct bad_lock bad_locks[] = {
	{ KL_MAGIC_LOCK, 2, 1, 100, "exclusive" },
	{ KL_MAGIC_LOCK, 2, 1, KL_LOCK_FILE_MIN, "exclusive" },
	{ KL_MAGIC_LOCK, 1, 0, 100, "version-1" },
	{ KL_MAGIC_LOCK, 3, 0, 100, "header" },
	{ KL_MAGIC_LOCK, 2, 2, 100, "header" },		/* reserved flag */
	{ KL_MAGIC_LOCK, 2, 0x80000000u, 100, "header" },
	{ KL_MAGIC_INDEX, 2, 0, 100, "header" },	/* not a lock */
	{ KL_MAGIC_LOCK, 2, 0, KL_LOCK_FILE_MIN - 1, "size" },
	{ KL_MAGIC_LOCK, 2, 0, KL_LOCK_FILE_MAX + 1, "size" },
};

/*
 * Issue #10 finding 2: a host whose key only appends must not be able to
 * plant an exclusive lock, which would stop every other host's backups.
 * Only shared version-2 locks pass; each refusal names its reason and
 * leaves nothing behind.
 */
static void
test_append_lock_rule_refuses_all_but_shared_v2(void **state)
{
	struct fx *f = *state;
	struct kl_backend app;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	uint8_t lock[KL_LOCK_FILE_MAX + 1];
	const struct bad_lock *b;
	size_t i, len;

	open_role(f, KL_ROLE_APPEND, &app);
	for (i = 0; i < sizeof(bad_locks) / sizeof(bad_locks[0]); i++) {
		b = &bad_locks[i];
		len = lock_file(lock, b->len, b->magic, b->version, b->flags,
		    (uint8_t)i);
		assert_int_equal(put_bytes(&app, KL_FT_LOCK, lock, len, name),
		    KL_E_PERM);
		assert_non_null(kl_store_why(app.ctx));
		if (strstr(kl_store_why(app.ctx), b->why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
			    kl_store_why(app.ctx), b->why);
	}
	PATHF(p, "%s/locks", f->repo);
	assert_int_equal(dir_entries(p), 0);
	for (len = KL_LOCK_FILE_MIN; len <= KL_LOCK_FILE_MAX; len += 127) {
		lock_file(lock, len, KL_MAGIC_LOCK, 2, 0, 's');
		assert_int_equal(put_bytes(&app, KL_FT_LOCK, lock, len, name),
		    KL_OK);
		assert_null(kl_store_why(app.ctx));
	}
	lock_file(lock, KL_LOCK_FILE_MAX, KL_MAGIC_LOCK, 2, 0, 'm');
	assert_int_equal(put_bytes(&app, KL_FT_LOCK, lock, KL_LOCK_FILE_MAX,
	    name), KL_OK);
	assert_int_equal(dir_entries(p), 4);
	app.ops->close(app.ctx);
}

/* The full role may take any lock (an operator's exclusive one, an old
 * client's version 1); the rule is the append-only role's alone. */
static void
test_full_role_creates_any_lock(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	uint8_t lock[KL_LOCK_FILE_MAX + 1];
	size_t i, len;

	for (i = 0; i < sizeof(bad_locks) / sizeof(bad_locks[0]); i++) {
		len = lock_file(lock, bad_locks[i].len, bad_locks[i].magic,
		    bad_locks[i].version, bad_locks[i].flags, (uint8_t)i);
		assert_int_equal(put_bytes(&f->be, KL_FT_LOCK, lock, len,
		    name), KL_OK);
	}
	PATHF(p, "%s/locks", f->repo);
	assert_int_equal(dir_entries(p), i);
}

/* A streaming upload is judged as soon as the header is complete, however
 * it is cut; the rest is never written. */
static void
test_append_lock_rule_on_split_header(void **state)
{
	struct fx *f = *state;
	struct kl_store *s = NULL;
	struct kl_store_put *pp;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	uint8_t lock[200];
	size_t cut;

	assert_int_equal(kl_store_open(f->repo, KL_ROLE_APPEND, &s), KL_OK);
	lock_file(lock, sizeof(lock), KL_MAGIC_LOCK, 2, 1, 'x');
	name_of(lock, sizeof(lock), name);
	for (cut = 1; cut < 16; cut++) {
		assert_int_equal(kl_store_put_begin(s, KL_FT_LOCK, name,
		    sizeof(lock), &pp), KL_OK);
		assert_int_equal(kl_store_put_write(pp, lock, cut), KL_OK);
		assert_int_equal(kl_store_put_write(pp, lock + cut, 16 - cut),
		    KL_E_PERM);
		assert_non_null(strstr(kl_store_why(s), "exclusive"));
		kl_store_put_abort(pp);
	}
	lock_file(lock, sizeof(lock), KL_MAGIC_LOCK, 2, 0, 'x');
	name_of(lock, sizeof(lock), name);
	assert_int_equal(kl_store_put_begin(s, KL_FT_LOCK, name, sizeof(lock),
	    &pp), KL_OK);
	for (cut = 0; cut < sizeof(lock); cut++)
		assert_int_equal(kl_store_put_write(pp, lock + cut, 1), KL_OK);
	assert_int_equal(kl_store_put_commit(pp), KL_OK);
	kl_store_close(s);
	PATHF(p, "%s/locks", f->repo);
	assert_int_equal(dir_entries(p), 1);
}

static void
test_append_put_get_list_stat_allowed(void **state)
{
	struct fx *f = *state;
	struct kl_backend app;
	char name[KL_ID_HEX_LEN + 1];
	struct listing l = { 0 };
	struct buf *b = NULL;
	uint64_t size;

	open_role(f, KL_ROLE_APPEND, &app);
	assert_int_equal(put_str(&app, KL_FT_DATA, "pack", name), KL_OK);
	assert_int_equal(app.ops->get(app.ctx, KL_FT_DATA, name, 0, 0, 64,
	    &b), KL_OK);
	buf_free(b);
	assert_int_equal(app.ops->stat(app.ctx, KL_FT_DATA, name, &size),
	    KL_OK);
	assert_int_equal(app.ops->list(app.ctx, KL_FT_DATA, list_cb, &l),
	    KL_OK);
	assert_int_equal(l.n, 1);
	app.ops->close(app.ctx);
}

static void
test_read_put_is_perm(void **state)
{
	struct fx *f = *state;
	struct kl_backend rd;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];

	open_role(f, KL_ROLE_READ, &rd);
	assert_int_equal(put_str(&rd, KL_FT_DATA, "pack", name), KL_E_PERM);
	assert_int_equal(put_str(&rd, KL_FT_LOCK, "lock", name), KL_E_PERM);
	path_of(f, KL_FT_LOCK, name, p);
	assert_false(exists(p));
	rd.ops->close(rd.ctx);
}

static void
test_read_remove_is_perm(void **state)
{
	struct fx *f = *state;
	struct kl_backend rd;
	char name[KL_ID_HEX_LEN + 1];

	assert_int_equal(put_str(&f->be, KL_FT_LOCK, "lock", name), KL_OK);
	open_role(f, KL_ROLE_READ, &rd);
	assert_int_equal(rd.ops->remove(rd.ctx, KL_FT_LOCK, name), KL_E_PERM);
	rd.ops->close(rd.ctx);
}

static void
test_full_remove_data_succeeds(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];

	assert_int_equal(put_str(&f->be, KL_FT_DATA, "old pack", name), KL_OK);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, name),
	    KL_OK);
	path_of(f, KL_FT_DATA, name, p);
	assert_false(exists(p));
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, name),
	    KL_E_NOTFOUND);
}

/* --- durability and modes --- */

/* Runs the faulty put in a fresh process; returns its exit status. */
static int
fault_put_in_child(const char *repo, const char *env)
{
	pid_t pid;
	int status;

	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		setenv(env, "1", 1);
		execl("/proc/self/exe", "test_store", FAULT_ARG, repo,
		    (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Child side: exit status is the negated kl_err of the put. */
static int
fault_put_child(const char *repo)
{
	struct kl_store *s = NULL;
	struct kl_backend be;
	char name[KL_ID_HEX_LEN + 1];
	int r;

	if ((r = kl_store_open(repo, KL_ROLE_APPEND, &s)) != KL_OK)
		return 100;
	kl_store_backend(s, &be);
	r = put_str(&be, KL_FT_DATA, FAULT_PAYLOAD, name);
	be.ops->close(be.ctx);
	return -r;
}

static void
assert_fault_left_nothing(struct fx *f)
{
	char name[KL_ID_HEX_LEN + 1], dir[PATH_MAX];

	name_of(FAULT_PAYLOAD, strlen(FAULT_PAYLOAD), name);
	PATHF(dir, "%s/data/%.2s", f->repo, name);
	assert_int_equal(dir_entries(dir), 0);
}

static void
test_failed_write_leaves_no_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fault_put_in_child(f->repo, "KLUIS_FAULT_WRITE"),
	    -KL_E_NOSPACE);
	assert_fault_left_nothing(f);
}

static void
test_failed_fsync_leaves_no_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fault_put_in_child(f->repo, "KLUIS_FAULT_FSYNC"),
	    -KL_E_IO);
	assert_fault_left_nothing(f);
}

static void
test_put_without_fault_in_child_succeeds(void **state)
{
	struct fx *f = *state;

	/* The control for the two tests above: the child path itself works. */
	assert_int_equal(fault_put_in_child(f->repo, "KLUIS_FAULT_UNUSED"), 0);
}

static void
test_files_are_created_read_only(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	struct stat st;

	assert_int_equal(put_str(&f->be, KL_FT_SNAPSHOT, "a snapshot", name),
	    KL_OK);
	path_of(f, KL_FT_SNAPSHOT, name, p);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	PATHF(p, "%s/config", f->repo);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* --- stale temporary files --- */

/* Sets path's modification time to age_s seconds ago. */
static void
age(const char *path, int64_t age_s)
{
	struct timespec t[2];

	t[0].tv_sec = t[1].tv_sec = time(NULL) - (time_t)age_s;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

struct swept {
	size_t n;
	char rel[8][PATH_MAX];
	uint64_t bytes;
};

static void
swept_cb(void *arg, const char *rel, uint64_t size)
{
	struct swept *w = arg;

	assert_true(w->n < 8);
	snprintf(w->rel[w->n++], PATH_MAX, "%s", rel);
	w->bytes += size;
}

static int
swept_has(const struct swept *w, const char *rel)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->rel[i], rel) == 0)
			return 1;
	return 0;
}

static void
test_sweep_removes_only_stale_temporary_files(void **state)
{
	struct fx *f = *state;
	struct kl_backend ro;
	struct swept w;
	char d[PATH_MAX], p[PATH_MAX], name[KL_ID_HEX_LEN + 1], data[PATH_MAX];

	PATHF(d, "%s/data/ab", f->repo);
	plant(d, ".tmp-old", "left by a killed upload");	/* 23 bytes */
	PATHF(p, "%s/.tmp-old", d);
	age(p, 2 * 3600);
	PATHF(d, "%s/index", f->repo);
	plant(d, ".tmp-new", "an upload in progress");
	PATHF(d, "%s", f->repo);
	plant(d, ".tmp-root", "old");
	PATHF(p, "%s/.tmp-root", d);
	age(p, 3 * 3600);
	PATHF(p, "%s/locks/.tmp-dir", f->repo);	/* not a regular file */
	assert_int_equal(mkdir(p, 0700), 0);
	age(p, 3 * 3600);
	PATHF(p, "%s/keys/.tmp-link", f->repo);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	age(p, 3 * 3600);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, "a real pack", name),
	    KL_OK);
	path_of(f, KL_FT_DATA, name, data);
	age(data, 3 * 3600);

	/* read-only may not */
	open_role(f, KL_ROLE_READ, &ro);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_sweep_tmp(ro.ctx, 3600, swept_cb, &w),
	    KL_E_PERM);
	ro.ops->close(ro.ctx);
	assert_int_equal(w.n, 0);

	assert_int_equal(kl_store_sweep_tmp(f->be.ctx, 3600, swept_cb, &w),
	    KL_OK);
	assert_int_equal(w.n, 2);
	assert_true(swept_has(&w, "data/ab/.tmp-old"));
	assert_true(swept_has(&w, ".tmp-root"));
	assert_int_equal(w.bytes, 23 + 3);
	PATHF(p, "%s/data/ab/.tmp-old", f->repo);
	assert_false(exists(p));
	PATHF(p, "%s/index/.tmp-new", f->repo);
	assert_true(exists(p));
	PATHF(p, "%s/locks/.tmp-dir", f->repo);
	assert_true(exists(p));
	PATHF(p, "%s/keys/.tmp-link", f->repo);
	assert_true(exists(p));
	assert_true(exists(data));
	PATHF(p, "/etc/passwd");
	assert_true(exists(p));
}

/* --- the trash (delete delay, minimum age, purge, undelete) --- */

static void
test_append_put_key_is_perm(void **state)
{
	struct fx *f = *state;
	struct kl_backend app;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX];

	open_role(f, KL_ROLE_APPEND, &app);
	assert_int_equal(put_str(&app, KL_FT_KEY, "a planted key", name),
	    KL_E_PERM);
	path_of(f, KL_FT_KEY, name, p);
	assert_false(exists(p));
	app.ops->close(app.ctx);
}

static void
test_trash_parse_accepts_entries_only(void **state)
{
	/* '@' stands for the 64 hex digits of a name */
	static const char *const bad[] = {
		"", "data", "data.", "locks.@.1.2", "config.@.1.2",
		"Data.@.1.2", "data.@", "data.@.1", "data.@.1.", "data.@..2",
		"data.@.01.2", "data.@.2.1", "data.@.1.2.3", "data.@.1.2x",
		"data.@.1234567890123456789.1234567890123456789",
		"data.@a.1.2", ".data.@.1.2", "data.@.-1.2",
	};
	char hex[KL_ID_HEX_LEN + 1], up[KL_ID_HEX_LEN + 1], file[PATH_MAX];
	struct kl_trash_entry e;
	size_t i;

	(void)state;
	name_of("x", 1, hex);
	assert_true(snprintf(file, sizeof(file), "snapshots.%s.0.0", hex) > 0);
	assert_true(kl_store_trash_parse(file, &e));
	assert_int_equal(e.t, KL_FT_SNAPSHOT);
	assert_string_equal(e.name, hex);
	assert_true(e.deleted_s == 0 && e.purge_s == 0);
	assert_true(snprintf(file, sizeof(file), "keys.%s.1765000000."
	    "1766209600", hex) > 0);
	assert_true(kl_store_trash_parse(file, &e));
	assert_int_equal(e.t, KL_FT_KEY);
	assert_true(e.deleted_s == 1765000000 && e.purge_s == 1766209600);
	assert_ptr_equal(e.file, file);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = strchr(bad[i], '@');

		if (at == NULL)
			PATHF(file, "%s", bad[i]);
		else
			PATHF(file, "%.*s%s%s", (int)(at - bad[i]), bad[i], hex,
			    at + 1);
		assert_false(kl_store_trash_parse(file, &e));
	}
	/* 63 hex digits */
	PATHF(file, "data.%.63s.1.2", hex);
	assert_false(kl_store_trash_parse(file, &e));
	/* a name that is not lowercase hex */
	memcpy(up, hex, sizeof(up));
	up[0] = 'A';
	assert_true(snprintf(file, sizeof(file), "index.%s.1.2", up) > 0);
	assert_false(kl_store_trash_parse(file, &e));
}

struct seen {
	size_t n;
	struct kl_trash_entry e[8];
	int outcome[8];
};

static int
seen_cb(void *arg, const struct kl_trash_entry *e, int outcome)
{
	struct seen *w = arg;

	assert_true(w->n < 8);
	w->e[w->n] = *e;
	w->e[w->n].file = NULL;		/* valid during the call only */
	w->outcome[w->n++] = outcome;
	return KL_OK;
}

static void
set_policy(struct fx *f, int64_t delay, int64_t min_age)
{
	struct kl_store_policy p = { delay, min_age, 0 };

	kl_store_set_policy(f->be.ctx, &p);
}

static size_t
trash_count(struct fx *f)
{
	struct seen w;

	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_trash_list(f->be.ctx, seen_cb, &w), KL_OK);
	return w.n;
}

static void
test_remove_with_delay_trashes_and_keeps_receive_time(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], p[PATH_MAX], t[PATH_MAX];
	struct stat st;
	struct seen w;
	int64_t before = (int64_t)time(NULL);

	set_policy(f, 100, 0);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, "pack bytes", name),
	    KL_OK);
	path_of(f, KL_FT_DATA, name, p);
	age(p, 5000);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, name),
	    KL_OK);
	assert_false(exists(p));
	assert_int_equal(f->be.ops->stat(f->be.ctx, KL_FT_DATA, name,
	    &(uint64_t){ 0 }), KL_E_NOTFOUND);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_trash_list(f->be.ctx, seen_cb, &w), KL_OK);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.e[0].t, KL_FT_DATA);
	assert_string_equal(w.e[0].name, name);
	assert_int_equal(w.e[0].size, strlen("pack bytes"));
	assert_true(w.e[0].deleted_s >= before &&
	    w.e[0].deleted_s <= (int64_t)time(NULL));
	assert_true(w.e[0].purge_s == w.e[0].deleted_s + 100);
	PATHF(t, "%s/trash/data.%s.%lld.%lld", f->repo, name,
	    (long long)w.e[0].deleted_s, (long long)w.e[0].purge_s);
	assert_int_equal(lstat(t, &st), 0);
	assert_true((int64_t)st.st_mtime <= before - 4999);
	/* the same bytes again, removed again in the same second: one entry */
	assert_int_equal(put_str(&f->be, KL_FT_DATA, "pack bytes", name),
	    KL_OK);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, name),
	    KL_OK);
	assert_false(exists(p));
	assert_true(trash_count(f) >= 1 && trash_count(f) <= 2);
	/* a lock is no history: removed at once */
	assert_int_equal(put_str(&f->be, KL_FT_LOCK, "a lock", name), KL_OK);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_LOCK, name),
	    KL_OK);
	assert_true(trash_count(f) <= 2);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, name),
	    KL_E_NOTFOUND);
}

static void
test_min_age_refuses_young_files_but_not_locks(void **state)
{
	struct fx *f = *state;
	char name[KL_ID_HEX_LEN + 1], lock[KL_ID_HEX_LEN + 1], p[PATH_MAX];

	set_policy(f, 0, 3600);
	assert_int_equal(put_str(&f->be, KL_FT_SNAPSHOT, "young", name),
	    KL_OK);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_SNAPSHOT, name),
	    KL_E_PERM);
	assert_non_null(strstr(kl_store_why(f->be.ctx), "minimum age"));
	path_of(f, KL_FT_SNAPSHOT, name, p);
	assert_true(exists(p));
	assert_int_equal(put_str(&f->be, KL_FT_LOCK, "lock", lock), KL_OK);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_LOCK, lock),
	    KL_OK);
	age(p, 3601);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_SNAPSHOT, name),
	    KL_OK);
	assert_false(exists(p));
	assert_int_equal(trash_count(f), 0);	/* no delay: gone */
}

/* Plants a trash entry for content s: type dir, deleted and purge time. */
static void
plant_entry(struct fx *f, const char *dir, const char *s, long long del,
    long long purge, char name[KL_ID_HEX_LEN + 1])
{
	char d[PATH_MAX], file[NAME_MAX + 1];

	name_of(s, strlen(s), name);
	PATHF(d, "%s/trash", f->repo);
	(void)mkdir(d, 0700);
	assert_true(snprintf(file, sizeof(file), "%s.%s.%lld.%lld", dir, name,
	    del, purge) < (int)sizeof(file));
	plant(d, file, s);
}

static void
test_purge_deletes_only_what_is_due(void **state)
{
	struct fx *f = *state;
	char due[KL_ID_HEX_LEN + 1], wait[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	long long now = (long long)time(NULL);
	struct kl_backend app;
	struct seen w;

	plant_entry(f, "index", "due", now - 100, now - 10, due);
	plant_entry(f, "snapshots", "waits", now - 100, now + 1000, wait);
	PATHF(p, "%s/trash", f->repo);
	plant(p, "stray", "x");	/* not an entry: left alone */
	PATHF(p, "%s/trash/stray", f->repo);
	open_role(f, KL_ROLE_APPEND, &app);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_purge(app.ctx, now, seen_cb, &w),
	    KL_E_PERM);
	app.ops->close(app.ctx);
	assert_int_equal(kl_store_purge(f->be.ctx, now, seen_cb, &w), KL_OK);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].name, due);
	assert_int_equal(w.outcome[0], KL_OK);
	assert_int_equal(w.e[0].size, 3);
	assert_int_equal(trash_count(f), 1);
	assert_true(exists(p));
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_purge(f->be.ctx, now + 1000, seen_cb, &w),
	    KL_OK);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].name, wait);
	assert_int_equal(trash_count(f), 0);
}

static void
test_undelete_since_and_over_a_name_in_use(void **state)
{
	struct fx *f = *state;
	char old[KL_ID_HEX_LEN + 1], new[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	char again[KL_ID_HEX_LEN + 1];
	struct stat st;
	struct seen w;

	plant_entry(f, "snapshots", "old snapshot", 1000, 2000, old);
	plant_entry(f, "data", "new pack", 5000, 6000, new);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_undelete(f->be.ctx, 5000, seen_cb, &w),
	    KL_OK);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.e[0].name, new);
	path_of(f, KL_FT_DATA, new, p);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(trash_count(f), 1);
	/* the old one was uploaded again meanwhile: the live file stays */
	assert_int_equal(put_str(&f->be, KL_FT_SNAPSHOT, "old snapshot",
	    again), KL_OK);
	assert_string_equal(again, old);
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_undelete(f->be.ctx, 0, seen_cb, &w), KL_OK);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.outcome[0], KL_OK);
	assert_int_equal(trash_count(f), 0);
	path_of(f, KL_FT_SNAPSHOT, old, p);
	assert_true(exists(p));
}

static void
set_quota(struct fx *f, int64_t delay, uint64_t quota)
{
	struct kl_store_policy p = { delay, 0, quota };

	kl_store_set_policy(f->be.ctx, &p);
}

/* Bytes the store holds now, counted. */
static uint64_t
in_use(struct fx *f)
{
	uint64_t b = 0;

	assert_int_equal(kl_store_usage_count(f->be.ctx, &b), KL_OK);
	return b;
}

static void
test_quota_refuses_what_would_pass_it_and_counts_the_trash(void **state)
{
	struct fx *f = *state;
	char a[KL_ID_HEX_LEN + 1], b[KL_ID_HEX_LEN + 1], p[PATH_MAX];
	char sixty[61], fifty[51];
	struct seen w;
	uint64_t base = in_use(f);	/* the empty repository's key-less files */

	memset(sixty, 'a', 60);
	sixty[60] = '\0';
	memset(fifty, 'b', 50);
	fifty[50] = '\0';
	set_quota(f, 100, base + 100);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, sixty, a), KL_OK);
	assert_int_equal(in_use(f), base + 60);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, fifty, b), KL_E_NOSPACE);
	assert_non_null(strstr(kl_store_why(f->be.ctx), "quota"));
	path_of(f, KL_FT_DATA, b, p);
	assert_false(exists(p));
	PATHF(p, "%s/data/%.2s", f->repo, b);
	assert_int_equal(dir_entries(p), 0);	/* no temporary file either */
	/* the trash still takes room on the disk */
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, a), KL_OK);
	assert_int_equal(in_use(f), base + 60);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, fifty, b), KL_E_NOSPACE);
	/* purged: room again */
	memset(&w, 0, sizeof(w));
	assert_int_equal(kl_store_purge(f->be.ctx, (int64_t)time(NULL) + 101,
	    seen_cb, &w), KL_OK);
	assert_int_equal(w.n, 1);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, fifty, b), KL_OK);
	assert_int_equal(in_use(f), base + 50);
}

static void
test_quota_gives_back_what_a_failed_upload_reserved(void **state)
{
	struct fx *f = *state;
	struct kl_store_put *up = NULL;
	char name[KL_ID_HEX_LEN + 1], hundred[101];
	uint64_t base = in_use(f), refreshed = 0;

	memset(hundred, 'c', 100);
	hundred[100] = '\0';
	set_quota(f, 0, base + 100);
	/* a wrong hash: refused at commit, its 100 bytes given back */
	name_of("other", 5, name);
	assert_int_equal(f->be.ops->put(f->be.ctx, KL_FT_DATA, name,
	    (const uint8_t *)hundred, 100), KL_E_CORRUPT);
	/* an upload abandoned half-way: given back too */
	name_of(hundred, 100, name);
	assert_int_equal(kl_store_put_begin(f->be.ctx, KL_FT_DATA, name, 100,
	    &up), KL_OK);
	assert_int_equal(kl_store_put_write(up, (const uint8_t *)hundred, 40),
	    KL_OK);
	kl_store_put_abort(up);
	assert_int_equal(put_str(&f->be, KL_FT_DATA, hundred, name), KL_OK);
	assert_int_equal(kl_store_usage_refresh(f->be.ctx, &refreshed), KL_OK);
	assert_int_equal(refreshed, base + 100);
	/* full: even one byte more is refused, and a removal makes room */
	assert_int_equal(put_str(&f->be, KL_FT_INDEX, "x", name),
	    KL_E_NOSPACE);
	name_of(hundred, 100, name);
	assert_int_equal(f->be.ops->remove(f->be.ctx, KL_FT_DATA, name),
	    KL_OK);
	assert_int_equal(put_str(&f->be, KL_FT_INDEX, "x", name), KL_OK);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_create_then_open_succeeds),
		T(test_create_makes_layout_with_mode_0700),
		T(test_open_missing_dir_is_notfound),
		T(test_open_dir_without_config_is_notfound),
		T(test_create_over_nonempty_dir_is_exists),
		T(test_create_over_existing_repository_is_exists),
		T(test_create_in_empty_dir_succeeds),
		T(test_round_trip_key),
		T(test_round_trip_data),
		T(test_round_trip_index),
		T(test_round_trip_snapshot),
		T(test_round_trip_lock),
		T(test_get_config_returns_created_bytes),
		T(test_put_config_is_perm),
		T(test_put_wrong_hash_is_corrupt_and_leaves_nothing),
		T(test_put_lock_wrong_hash_is_corrupt),
		T(test_put_existing_name_is_exists_and_keeps_original),
		T(test_put_empty_file_round_trips),
		T(test_invalid_names_put_is_inval),
		T(test_invalid_names_get_is_inval),
		T(test_invalid_names_stat_is_inval),
		T(test_invalid_names_remove_is_inval),
		T(test_unknown_type_is_inval),
		T(test_name_valid_accepts_only_lowercase_hex64_and_config),
		T(test_path_of_data_uses_fanout_directory),
		T(test_path_too_long_is_limit),
		T(test_range_get_returns_slice),
		T(test_range_get_past_end_is_corrupt),
		T(test_get_over_max_is_limit),
		T(test_get_missing_is_notfound),
		T(test_stat_reports_size_and_missing_is_notfound),
		T(test_list_data_returns_exactly_files_put),
		T(test_list_skips_tmp_and_invalid_names),
		T(test_list_index_skips_tmp_file),
		T(test_list_empty_type_reports_nothing),
		T(test_list_reports_mtime_as_receive_time),
		T(test_receive_time_is_set_at_commit),
		T(test_append_remove_content_is_perm_and_file_stays),
		T(test_append_remove_lock_succeeds),
		T(test_append_lock_rule_refuses_all_but_shared_v2),
		T(test_full_role_creates_any_lock),
		T(test_append_lock_rule_on_split_header),
		T(test_append_put_get_list_stat_allowed),
		T(test_read_put_is_perm),
		T(test_read_remove_is_perm),
		T(test_full_remove_data_succeeds),
		T(test_failed_write_leaves_no_file),
		T(test_failed_fsync_leaves_no_file),
		T(test_put_without_fault_in_child_succeeds),
		T(test_files_are_created_read_only),
		T(test_sweep_removes_only_stale_temporary_files),
		T(test_append_put_key_is_perm),
		T(test_trash_parse_accepts_entries_only),
		T(test_remove_with_delay_trashes_and_keeps_receive_time),
		T(test_min_age_refuses_young_files_but_not_locks),
		T(test_purge_deletes_only_what_is_due),
		T(test_undelete_since_and_over_a_name_in_use),
		T(test_quota_refuses_what_would_pass_it_and_counts_the_trash),
		T(test_quota_gives_back_what_a_failed_upload_reserved),
	};

	if (sodium_init() < 0)
		return 99;
	if (argc == 3 && strcmp(argv[1], FAULT_ARG) == 0)
		return fault_put_child(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
