/* Unit tests of repo/repo*.c: the repository access layer. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "repo_internal.h"

#define PASS "secret passphrase"

struct fx {
	char dir[64];
	char repo[96];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/kl-repo-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct kl_repo *
make_repo(struct fx *f)
{
	struct kl_kdf_params kdf;
	struct kl_repo_init_opts o;
	struct kl_repo *r = NULL;

	assert_int_equal(kl_kdf_preset("interactive", &kdf), KL_OK);
	memset(&o, 0, sizeof(o));
	o.kdf = &kdf;
	o.label = "test";
	assert_int_equal(kl_repo_init(f->repo, PASS, strlen(PASS), &o, &r,
	    NULL), KL_OK);
	return r;
}

static struct kl_repo *
open_repo(struct fx *f, const char *keyfile, const char *pass)
{
	struct kl_repo *r = NULL;

	assert_int_equal(kl_repo_open(f->repo, keyfile, pass, strlen(pass),
	    &r, NULL), KL_OK);
	return r;
}

/* Stores blobs and a snapshot; returns the snapshot id. */
static void
store_some(struct kl_repo *r, const char *const *data, size_t n,
    struct kl_id *ids, struct kl_id *snap_id)
{
	struct kl_session *s = NULL;
	struct kl_snapshot sn;
	char *paths[] = { "/x" };
	size_t i;
	int added;

	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	for (i = 0; i < n; i++) {
		kl_blob_id(kl_repo_keys(r), (const uint8_t *)data[i],
		    strlen(data[i]), &ids[i]);
		assert_int_equal(kl_session_blob_add(s, KL_OBJ_DATA, &ids[i],
		    (const uint8_t *)data[i], strlen(data[i]), &added, NULL,
		    NULL), KL_OK);
	}
	memset(&sn, 0, sizeof(sn));
	sn.time_s = 1700000000;
	sn.tree = ids[0];
	sn.hostname = "host";
	sn.username = "root";
	sn.paths = paths;
	sn.npaths = 1;
	sn.program = "test";
	assert_int_equal(kl_session_commit(s, &sn, snap_id, NULL), KL_OK);
	kl_session_free(s);
}

/* Gives r the persistent catalog f->dir/<name>: one client's cache. */
static void
cat_in(struct fx *f, struct kl_repo *r, const char *name)
{
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/%s", f->dir, name);
	assert_int_equal(kl_repo_catalog_open(r, dir, NULL, NULL), KL_OK);
}

/* The best location of blob id (kl_repo_blob_locate). */
static void
best_loc(struct kl_repo *r, const struct kl_id *id, struct kl_blob_loc *l)
{
	struct kl_blob_loc *locs;
	size_t n;

	assert_int_equal(kl_repo_blob_locate(r, id, KL_OBJ_DATA, &locs, &n,
	    NULL), KL_OK);
	*l = locs[0];
	free(locs);
}

/* How many locations the catalog holds for id (before any check). */
static size_t
cat_locs(struct kl_repo *r, const struct kl_id *id)
{
	size_t n = 0;
	int rc;

	rc = kl_cat_blob_get(kl_repo_catalog(r), id, NULL, &n, NULL);
	assert_true(rc == KL_OK || rc == KL_E_NOTFOUND);
	return n;
}

/* A backup-only key file for f's repository (opened with "bk"). */
static void
backup_key(struct fx *f, struct kl_repo *full, char *path, size_t cap)
{
	struct kl_kdf_params kdf;
	struct kl_id kid;

	assert_int_equal(kl_kdf_preset("interactive", &kdf), KL_OK);
	snprintf(path, cap, "%s/backup.key", f->dir);
	assert_int_equal(kl_repo_key_add(full, 1, "bk", 2, &kdf, "web01",
	    path, &kid, NULL), KL_OK);
}

/* An index file with one entry: blob id at l, written with r's key. */
static void
index_claim(struct kl_repo *r, const struct kl_id *id,
    const struct kl_blob_loc *l, struct kl_id *file)
{
	struct kl_blob_entry e;
	struct kl_index_pack ip;
	struct kl_index ix;

	memset(&ix, 0, sizeof(ix));
	e.type = l->type;
	e.id = *id;
	e.offset = l->offset;
	e.stored_len = l->stored_len;
	e.raw_len = l->raw_len;
	ip.pack_id = l->pack;
	ip.e = &e;
	ip.n = 1;
	ix.packs = &ip;
	ix.n = 1;
	assert_int_equal(kl_repo_index_write(r, &ix, file, NULL), KL_OK);
}

static void
test_open_with_right_passphrase_works(void **state)
{
	struct fx *f = *state;

	kl_repo_close(make_repo(f));
	kl_repo_close(open_repo(f, NULL, PASS));
}

static void
test_open_with_wrong_passphrase_is_badpass(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = NULL;

	kl_repo_close(make_repo(f));
	assert_int_equal(kl_repo_open(f->repo, NULL, "wrong", 5, &r, NULL),
	    KL_E_BADPASS);
	assert_null(r);
}

static void
test_open_of_missing_repository_is_notfound(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = NULL;
	struct kl_error e;

	kl_error_clear(&e);
	assert_int_equal(kl_repo_open(f->repo, NULL, PASS, strlen(PASS), &r,
	    &e), KL_E_NOTFOUND);
	assert_null(r);
	/* "no repository" (exit code 10) is told by the kind, not the text */
	assert_int_equal(e.code, KL_E_NOTFOUND);
	assert_true(e.kind == KL_ABOUT_REPO || e.kind == KL_ABOUT_CONFIG);
}

static void
test_init_over_existing_repository_is_exists(void **state)
{
	struct fx *f = *state;
	struct kl_repo_init_opts o;
	struct kl_repo *r = NULL;

	kl_repo_close(make_repo(f));
	memset(&o, 0, sizeof(o));
	assert_int_equal(kl_repo_init(f->repo, PASS, strlen(PASS), &o, &r,
	    NULL), KL_E_EXISTS);
	assert_null(r);
}

/* A server that swaps in a config with its own public key is caught. */
static void
test_swapped_config_is_corrupt(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_config c = *kl_repo_config(r);
	struct kl_repo *r2 = NULL;
	struct buf *b = buf_new(4096);
	struct kl_error e;
	char path[160];

	kl_repo_close(r);
	c.box_pk[0] ^= 1;
	assert_int_equal(kl_config_encode(&c, b), KL_OK);
	snprintf(path, sizeof(path), "%s/config", f->repo);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(kl_file_write_atomic(f->repo, "config", buf_data(b),
	    buf_size(b), 1, 0400), KL_OK);
	buf_free(b);
	kl_error_clear(&e);
	assert_int_equal(kl_repo_open(f->repo, NULL, PASS, strlen(PASS), &r2,
	    &e), KL_E_CORRUPT);
	assert_null(r2);
	assert_int_equal(e.code, KL_E_CORRUPT);
	assert_non_null(strstr(e.msg, "config"));
}

static void
test_blob_round_trip_and_dedup(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha", "beta", "gamma" };
	struct kl_id ids[3], snap;
	struct kl_session *s = NULL;
	struct kl_repo *r = make_repo(f);
	struct buf *out = buf_new(1 << 20);
	int added = 1;

	store_some(r, data, 3, ids, &snap);
	kl_repo_close(r);
	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_repo_blob_read(r, &ids[1], KL_OBJ_DATA, out, NULL),
	    KL_OK);
	assert_int_equal(buf_size(out), 4);
	assert_memory_equal(buf_data(out), "beta", 4);
	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	assert_int_equal(kl_session_blob_add(s, KL_OBJ_DATA, &ids[1],
	    (const uint8_t *)"beta", 4, &added, NULL, NULL), KL_OK);
	assert_int_equal(added, 0);
	kl_session_free(s);
	buf_free(out);
	kl_repo_close(r);
}

static void
test_blob_read_as_wrong_type_is_notfound(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha" };
	struct kl_id ids[1], snap;
	struct kl_repo *r = make_repo(f);
	struct buf *out = buf_new(1 << 20);

	store_some(r, data, 1, ids, &snap);
	assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_TREE, out, NULL),
	    KL_E_NOTFOUND);
	buf_free(out);
	kl_repo_close(r);
}

static void
test_backup_only_key_cannot_read(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha", "beta" };
	struct kl_id ids[2], snap, kid;
	struct kl_snapshot sn;
	struct kl_repo *r = make_repo(f);
	struct buf *out = buf_new(1 << 20);
	char key[160];

	store_some(r, data, 2, ids, &snap);
	snprintf(key, sizeof(key), "%s/backup.key", f->dir);
	assert_int_equal(kl_repo_key_add(r, 1, "bk", 2, NULL, "web01", key,
	    &kid, NULL), KL_OK);
	kl_repo_close(r);
	r = open_repo(f, key, "bk");
	assert_false(kl_repo_is_full(r));
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_DATA, out, NULL),
	    KL_E_PERM);
	assert_int_equal(kl_repo_snapshot_load(r, &snap, &sn, NULL), KL_E_PERM);
	/* it can still write: a new snapshot of its own */
	store_some(r, data, 2, ids, &snap);
	buf_free(out);
	kl_repo_close(r);
}

static void
test_backup_key_cannot_add_full_key(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_id kid;
	char key[160], key2[160];

	snprintf(key, sizeof(key), "%s/backup.key", f->dir);
	snprintf(key2, sizeof(key2), "%s/full.key", f->dir);
	assert_int_equal(kl_repo_key_add(r, 1, "bk", 2, NULL, NULL, key,
	    &kid, NULL), KL_OK);
	kl_repo_close(r);
	r = open_repo(f, key, "bk");
	assert_int_equal(kl_repo_key_add(r, 0, "x", 1, NULL, NULL, key2,
	    &kid, NULL), KL_E_PERM);
	kl_repo_close(r);
}

static void
test_key_passwd_replaces_old_passphrase(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f), *r2 = NULL;

	assert_int_equal(kl_repo_key_passwd(r, "new one", 7, NULL, NULL),
	    KL_OK);
	kl_repo_close(r);
	assert_int_equal(kl_repo_open(f->repo, NULL, PASS, strlen(PASS), &r2,
	    NULL), KL_E_BADPASS);
	assert_null(r2);
	kl_repo_close(open_repo(f, NULL, "new one"));
}

static void
test_exclusive_lock_blocks_shared(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f), *b = open_repo(f, NULL, PASS);
	struct kl_error e;

	kl_error_clear(&e);
	assert_int_equal(kl_repo_lock(a, 1, NULL), KL_OK);
	assert_int_equal(kl_repo_lock(b, 0, &e), KL_E_LOCKED);
	/* the detail itself, not kl_strerror's "repository is locked" */
	assert_int_equal(e.code, KL_E_LOCKED);
	assert_non_null(strstr(e.msg, "locked"));
	kl_repo_unlock(a);
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_OK);
	kl_repo_close(a);
	kl_repo_close(b);
}

static void
test_shared_locks_coexist(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f), *b = open_repo(f, NULL, PASS);

	assert_int_equal(kl_repo_lock(a, 0, NULL), KL_OK);
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_OK);
	kl_repo_close(a);
	kl_repo_close(b);
}

/*
 * Writes a lock file as any key holder could (index_key): a header of
 * version 1 or 2 with exclusive bit hdr_excl, then the sealed plaintext l.
 * Its receive time - the file's modification time in this local
 * repository - is set to recv.  name gets the file name.
 */
static void
plant_lock(struct fx *f, struct kl_repo *r, uint32_t version,
    uint8_t hdr_excl, const struct kl_lock *l, time_t recv, char *name)
{
	const struct kl_keys *k = kl_repo_keys(r);
	struct kl_backend *be = kl_repo_backend(r);
	struct buf *pt = buf_new(KL_LOCK_PLAIN_MAX);
	struct buf *b = buf_new(KL_LOCK_FILE_MAX);
	struct timespec ts[2] = { { recv, 0 }, { recv, 0 } };
	char path[256];
	struct kl_id id;
	uint8_t *ct;

	assert_int_equal(kl_lock_encode(l, pt), KL_OK);
	if (version == KL_LOCK_VERSION)
		assert_int_equal(kl_lock_hdr_put(b, hdr_excl), KL_OK);
	else
		assert_int_equal(kl_file_hdr_put(b, KL_MAGIC_LOCK), KL_OK);
	assert_int_equal(buf_reserve(b, buf_size(pt) + KL_AEAD_OVERHEAD, &ct),
	    KL_OK);
	kl_aead_seal(k->index_key, &k->repo_id, KL_OBJ_LOCK, NULL,
	    buf_data(pt), buf_size(pt), ct);
	kl_hash(buf_data(b), buf_size(b), &id);
	kl_id_hex(&id, name);
	assert_int_equal(be->ops->put(be->ctx, KL_FT_LOCK, name, buf_data(b),
	    buf_size(b)), KL_OK);
	snprintf(path, sizeof(path), "%s/locks/%s", f->repo, name);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	buf_free(pt);
	buf_free(b);
}

/* A lock of another host (its process cannot be judged from here). */
static void
other_lock(struct kl_lock *l, int exclusive, int64_t t)
{
	memset(l, 0, sizeof(*l));
	l->time = t;
	l->exclusive = (uint8_t)exclusive;
	l->pid = 1;
	strcpy(l->hostname, "another-host.example");
}

/* The lock we write is version 2 with the exclusive bit in cleartext. */
static void
test_lock_is_written_as_version_2(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f);
	struct kl_id *ids = NULL;
	struct kl_lock_hdr h;
	struct buf *b = NULL, v;
	char name[KL_ID_HEX_LEN + 1];
	size_t n;
	int excl;

	for (excl = 0; excl <= 1; excl++) {
		assert_int_equal(kl_repo_lock(a, excl, NULL), KL_OK);
		assert_int_equal(kl_repo_list_ids(a, KL_FT_LOCK, &ids, &n,
		    NULL), KL_OK);
		assert_int_equal(n, 1);
		kl_id_hex(&ids[0], name);
		assert_int_equal(kl_repo_backend(a)->ops->get(
		    kl_repo_backend(a)->ctx, KL_FT_LOCK, name, 0, 0, 4096, &b),
		    KL_OK);
		buf_view_init(&v, buf_data(b), buf_size(b));
		assert_int_equal(kl_lock_hdr_get(&v, &h), KL_OK);
		assert_int_equal(h.version, 2);
		assert_int_equal(h.exclusive, excl);
		buf_free(b);
		free(ids);
		kl_repo_unlock(a);
	}
	kl_repo_close(a);
}

/*
 * Issue #10 finding 2: an exclusive lock dated ten years ahead used to
 * stay live forever (a negative age) and stop every backup.  A lock whose
 * own time is past its arrival by more than KL_LOCK_FUTURE_S is invalid:
 * ignored, with one notice naming it.
 */
static void
test_lock_dated_in_the_future_is_ignored_with_notice(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f), *b = open_repo(f, NULL, PASS);
	char name[KL_ID_HEX_LEN + 1], name2[KL_ID_HEX_LEN + 1];
	time_t now = time(NULL);
	struct kl_lock l;

	other_lock(&l, 1, (int64_t)now + 10 * 365 * 86400);
	plant_lock(f, a, 2, 1, &l, now, name);
	plant_lock(f, a, 1, 0, &l, now, name2);	/* and an old client's */
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_OK);
	assert_int_equal(kl_repo_notice_count(b), 1);
	assert_non_null(strstr(kl_repo_notice_msg(b, 0), "ignored 2 lock "
	    "files dated after their arrival"));
	assert_non_null(strstr(kl_repo_notice_msg(b, 0), "another-host"));
	kl_repo_unlock(b);
	/* within the tolerance it is an ordinary exclusive lock */
	other_lock(&l, 1, (int64_t)now + KL_LOCK_FUTURE_S - 10);
	plant_lock(f, a, 2, 1, &l, now, name);
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_E_LOCKED);
	kl_repo_close(a);
	kl_repo_close(b);
}

/* Staleness goes by receive times: a lock that arrived more than
 * KL_LOCK_STALE_S before ours is stale, whatever its holder's clock. */
static void
test_lock_staleness_goes_by_receive_time(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f), *b = open_repo(f, NULL, PASS);
	char name[KL_ID_HEX_LEN + 1];
	time_t now = time(NULL), recv;
	struct kl_error e;
	struct kl_lock l;

	/* arrived 31 minutes ago, written then: stale */
	recv = now - KL_LOCK_STALE_S - 60;
	other_lock(&l, 1, (int64_t)recv);
	plant_lock(f, a, 2, 1, &l, recv, name);
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_OK);
	assert_int_equal(kl_repo_notice_count(b), 0);
	kl_repo_unlock(b);
	/* the same, claiming to be fresh: stale all the same (and ignored
	 * without a notice: stale locks are not read) */
	other_lock(&l, 1, (int64_t)now);
	plant_lock(f, a, 2, 1, &l, recv, name);
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_OK);
	assert_int_equal(kl_repo_notice_count(b), 0);
	kl_repo_unlock(b);
	/* arrived 29 minutes ago: live */
	recv = now - KL_LOCK_STALE_S + 60;
	other_lock(&l, 1, (int64_t)recv);
	plant_lock(f, a, 2, 1, &l, recv, name);
	kl_error_clear(&e);
	assert_int_equal(kl_repo_lock(b, 0, &e), KL_E_LOCKED);
	assert_int_equal(e.code, KL_E_LOCKED);
	assert_non_null(strstr(e.msg, "exclusively by "
	    "another-host.example"));
	kl_repo_close(a);
	kl_repo_close(b);
}

/* A holder whose clock is behind (its lock claims two hours ago) still
 * holds a lock that has just arrived: no comparison of two clocks. */
static void
test_lock_of_slow_clock_that_just_arrived_is_live(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f), *b = open_repo(f, NULL, PASS);
	char name[KL_ID_HEX_LEN + 1];
	time_t now = time(NULL);
	struct kl_lock l;

	other_lock(&l, 1, (int64_t)now - 2 * 3600);
	plant_lock(f, a, 2, 1, &l, now, name);
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_E_LOCKED);
	kl_repo_close(a);
	kl_repo_close(b);
}

/* A version-2 lock whose header and plaintext disagree is invalid
 * (whoever stores it may flip the unauthenticated header bit); an older
 * client's version-1 lock keeps its old meaning. */
static void
test_lock_kinds_header_and_version_1(void **state)
{
	struct fx *f = *state;
	struct kl_repo *a = make_repo(f), *b = open_repo(f, NULL, PASS);
	char name[KL_ID_HEX_LEN + 1];
	time_t now = time(NULL);
	struct kl_lock l;

	other_lock(&l, 1, (int64_t)now);
	plant_lock(f, a, 2, 0, &l, now, name);	/* header says shared */
	other_lock(&l, 0, (int64_t)now);
	plant_lock(f, a, 2, 1, &l, now, name);	/* header says exclusive */
	assert_int_equal(kl_repo_lock(b, 1, NULL), KL_OK);
	kl_repo_unlock(b);
	other_lock(&l, 1, (int64_t)now);
	plant_lock(f, a, 1, 0, &l, now, name);	/* version 1, exclusive */
	assert_int_equal(kl_repo_lock(b, 0, NULL), KL_E_LOCKED);
	kl_repo_close(a);
	kl_repo_close(b);
}

static void
test_snapshot_resolve_prefix_rules(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "one" };
	struct kl_id ids[1], snap, got;
	struct kl_repo *r = make_repo(f);
	char hex[KL_ID_HEX_LEN + 1];

	store_some(r, data, 1, ids, &snap);
	kl_id_hex(&snap, hex);
	assert_int_equal(kl_repo_snapshot_resolve(r, "latest", &got, NULL),
	    KL_OK);
	assert_true(kl_id_eq(&got, &snap));
	hex[8] = '\0';
	assert_int_equal(kl_repo_snapshot_resolve(r, hex, &got, NULL), KL_OK);
	assert_true(kl_id_eq(&got, &snap));
	hex[7] = '\0';
	assert_int_equal(kl_repo_snapshot_resolve(r, hex, &got, NULL),
	    KL_E_INVAL);
	assert_int_equal(kl_repo_snapshot_resolve(r, "zzzzzzzz", &got, NULL),
	    KL_E_INVAL);
	kl_repo_close(r);
}

/*
 * A snapshot's receive time is when the repository stored its file (its
 * mtime on disk), whatever the snapshot says inside.  The files are put
 * through the backend as they are: listing them needs no decryption.
 */
static void
test_snapshot_times_are_receive_times(void **state)
{
	static const char *const body[] = { "snapshot one", "snapshot two" };
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_backend *be = kl_repo_backend(r);
	struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct kl_id snap[2], *got = NULL;
	char hex[KL_ID_HEX_LEN + 1], p[256];
	int64_t *recv = NULL;
	time_t before = time(NULL), after;
	size_t i, n;

	assert_int_equal(kl_repo_snapshot_times(r, &got, &recv, &n, NULL),
	    KL_OK);
	assert_int_equal(n, 0);
	assert_null(got);
	assert_null(recv);
	for (i = 0; i < 2; i++) {
		kl_hash((const uint8_t *)body[i], strlen(body[i]), &snap[i]);
		kl_id_hex(&snap[i], hex);
		assert_int_equal(be->ops->put(be->ctx, KL_FT_SNAPSHOT, hex,
		    (const uint8_t *)body[i], strlen(body[i])), KL_OK);
	}
	after = time(NULL);
	snprintf(p, sizeof(p), "%s/snapshots/%s", f->repo, hex);
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	assert_int_equal(kl_repo_snapshot_times(r, &got, &recv, &n, NULL),
	    KL_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		if (kl_id_eq(&got[i], &snap[1])) {
			assert_true(recv[i] == 1000000000);
		} else {
			assert_true(kl_id_eq(&got[i], &snap[0]));
			assert_true(recv[i] >= before - 1 &&
			    recv[i] <= after + 1);
		}
	}
	free(got);
	free(recv);
	kl_repo_close(r);
}

/* Blobs are not in the order they were added (FORMAT.md §8). */
static void
test_pack_order_does_not_follow_insertion(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_id ids[64], snap;
	struct kl_blob_loc l;
	char bufs[64][16];
	const char *data[64];
	size_t i, inversions = 0;
	uint32_t prev = 0;

	for (i = 0; i < 64; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "blob-%zu", i);
		data[i] = bufs[i];
	}
	store_some(r, data, 64, ids, &snap);
	for (i = 0; i < 64; i++) {
		best_loc(r, &ids[i], &l);
		inversions += l.offset < prev;
		prev = l.offset;
	}
	assert_true(inversions > 10);
	kl_repo_close(r);
}

static int
first_pack(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	snprintf(arg, 65, "%s", name);
	(void)size;
	return 1;
}

/* Flips one bit of the byte at off of pack name (64 hex digits). */
static void
pack_flip(struct fx *f, const char *name, uint64_t off)
{
	char path[256];
	uint8_t c;
	int fd;

	snprintf(path, sizeof(path), "%s/data/%.2s/%s", f->repo, name, name);
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

static void
test_tampered_pack_is_corrupt(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	const char *data[] = { "some content that is long enough" };
	struct kl_id ids[1], snap;
	struct buf *out = buf_new(1 << 20);
	struct kl_blob_loc l;
	char name[65];

	store_some(r, data, 1, ids, &snap);
	kl_repo_backend(r)->ops->list(kl_repo_backend(r)->ctx, KL_FT_DATA,
	    first_pack, name);
	best_loc(r, &ids[0], &l);
	pack_flip(f, name, l.offset + 30);
	assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_DATA, out, NULL),
	    KL_E_CORRUPT);
	buf_free(out);
	kl_repo_close(r);
}

/*
 * Prune's copies: the plaintext as stored passes through, so a copy made
 * by a session that would not compress keeps the zstd payload, and it
 * reads back; a blob that does not verify gives neither buffer a byte.
 */
static void
test_encoded_copy_keeps_its_compression(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	static char big[6000];
	const char *data[] = { big };
	struct kl_id ids[1], snap, none;
	struct kl_session *s = NULL;
	struct kl_blob_loc *locs, l;
	struct buf *raw = buf_new(1 << 20), *enc = buf_new(1 << 20);
	char name[65], path[256];
	size_t n, i;
	int added;

	memset(big, 'k', sizeof(big) - 1);
	store_some(r, data, 1, ids, &snap);
	assert_int_equal(kl_repo_blob_read_encoded(r, &ids[0], KL_OBJ_DATA,
	    raw, enc, NULL), KL_OK);
	assert_int_equal(buf_size(raw), sizeof(big) - 1);
	assert_memory_equal(buf_data(raw), big, sizeof(big) - 1);
	assert_int_equal(buf_data(enc)[0], KL_BLOB_ENC_ZSTD);
	assert_true(buf_size(enc) < 200);
	assert_int_equal(kl_session_begin(r, KL_COMPRESSION_OFF, &s, NULL),
	    KL_OK);
	kl_session_store_all(s);
	assert_int_equal(kl_session_blob_add_encoded(s, KL_OBJ_DATA, &ids[0],
	    enc, buf_size(raw), &added, NULL, NULL), KL_OK);
	assert_int_equal(added, 1);
	assert_int_equal(kl_session_commit(s, NULL, &none, NULL), KL_OK);
	kl_session_free(s);
	kl_repo_close(r);

	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_repo_blob_locate(r, &ids[0], KL_OBJ_DATA, &locs,
	    &n, NULL), KL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(locs[0].stored_len, locs[1].stored_len);
	assert_int_equal(locs[1].raw_len, sizeof(big) - 1);
	l = locs[0];
	free(locs);
	/* the first copy damaged: the read takes the second, the copy */
	kl_id_hex(&l.pack, name);
	pack_flip(f, name, l.offset + 30);
	buf_reset(raw);
	buf_reset(enc);
	assert_int_equal(kl_repo_blob_read_encoded(r, &ids[0], KL_OBJ_DATA,
	    raw, enc, NULL), KL_OK);
	assert_memory_equal(buf_data(raw), big, sizeof(big) - 1);
	kl_repo_close(r);

	/* with only the damaged copy left, nothing is appended */
	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	kl_id_hex(&l.pack, name);
	assert_int_equal(kl_repo_blob_locate(r, &ids[0], KL_OBJ_DATA, &locs,
	    &n, NULL), KL_OK);
	for (i = 0; i < n; i++) {
		if (kl_id_eq(&locs[i].pack, &l.pack))
			continue;
		kl_id_hex(&locs[i].pack, name);
		snprintf(path, sizeof(path), "%s/data/%.2s/%s", f->repo, name,
		    name);
		assert_int_equal(unlink(path), 0);
	}
	free(locs);
	buf_reset(raw);
	buf_reset(enc);
	assert_int_equal(kl_repo_blob_read_encoded(r, &ids[0], KL_OBJ_DATA,
	    raw, enc, NULL), KL_E_CORRUPT);
	assert_int_equal(buf_size(raw), 0);
	assert_int_equal(buf_size(enc), 0);
	buf_free(raw);
	buf_free(enc);
	kl_repo_close(r);
}

/*
 * kl_blob_open refuses what cannot be a blob before decrypting or
 * allocating: a stored length whose plaintext is longer than any blob's
 * (an index entry may claim up to a pack's size), or shorter than the AEAD.
 */
static void
test_blob_open_refuses_impossible_lengths(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	size_t big = kl_blob_encode_bound(KL_BLOB_RAW_MAX) + KL_AEAD_OVERHEAD
	    + 1;
	uint8_t *stored = calloc(1, big), key[KL_KEY_LEN] = { 0 };
	struct buf *raw = buf_new(1 << 20), *enc = buf_new(1 << 20);
	struct kl_id id;

	assert_non_null(stored);
	memset(&id, 0x5a, sizeof(id));
	assert_int_equal(kl_blob_open(kl_repo_keys(r), key, &id, KL_OBJ_DATA,
	    stored, big, NULL, raw, enc), KL_E_CORRUPT);
	assert_int_equal(kl_blob_open(kl_repo_keys(r), key, &id, KL_OBJ_DATA,
	    stored, KL_AEAD_OVERHEAD - 1, NULL, raw, NULL), KL_E_CORRUPT);
	/* the right length but not a sealed blob */
	assert_int_equal(kl_blob_open(kl_repo_keys(r), key, &id, KL_OBJ_DATA,
	    stored, 100, NULL, raw, enc), KL_E_CORRUPT);
	assert_int_equal(buf_size(raw), 0);
	assert_int_equal(buf_size(enc), 0);
	free(stored);
	buf_free(raw);
	buf_free(enc);
	kl_repo_close(r);
}

/* A backend that counts the reads of data files it passes on. */
static struct kl_backend_ops count_ops;
static const struct kl_backend_ops *count_inner;
static unsigned count_gets;

static size_t count_last_len;

static int
count_get(void *ctx, enum kl_ftype t, const char *name, uint64_t off,
    size_t len, size_t max, struct buf **out)
{
	if (t == KL_FT_DATA) {
		count_gets++;
		count_last_len = len;
	}
	return count_inner->get(ctx, t, name, off, len, max, out);
}

static void
count_reads(struct kl_repo *r)
{
	struct kl_backend *be = kl_repo_backend(r);

	count_inner = be->ops;
	count_ops = *be->ops;
	count_ops.get = count_get;
	be->ops = &count_ops;
	count_gets = 0;
}

#define TREE_PACKS 6

/*
 * A walk visits tree packs again and again (every snapshot holds trees of
 * every night): each pack's range is read once, however the visits
 * alternate.  With the 4-range round-robin cache it had before, every
 * visit of 6 alternating packs was a read (2.7 GB instead of 86 MB for
 * prune's marks in bench/prune.sh).
 */
static void
test_tree_ranges_are_read_once_per_pack(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_session *s;
	struct kl_id ids[TREE_PACKS], none;
	struct buf *out = buf_new(1 << 20);
	char raw[64];
	unsigned i, round;
	int added;

	cat_in(f, r, "cat");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	for (i = 0; i < TREE_PACKS; i++) {	/* one tree pack each */
		snprintf(raw, sizeof(raw), "tree number %u", i);
		kl_blob_id(kl_repo_keys(r), (const uint8_t *)raw, strlen(raw),
		    &ids[i]);
		assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
		assert_int_equal(kl_session_blob_add(s, KL_OBJ_TREE, &ids[i],
		    (const uint8_t *)raw, strlen(raw), &added, NULL, NULL),
		    KL_OK);
		assert_int_equal(kl_session_commit(s, NULL, &none, NULL),
		    KL_OK);
		kl_session_free(s);
	}
	kl_repo_close(r);

	r = open_repo(f, NULL, PASS);
	cat_in(f, r, "cat");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	count_reads(r);
	for (round = 0; round < 5; round++) {
		for (i = 0; i < TREE_PACKS; i++) {
			buf_reset(out);
			assert_int_equal(kl_repo_blob_read(r, &ids[i],
			    KL_OBJ_TREE, out, NULL), KL_OK);
			snprintf(raw, sizeof(raw), "tree number %u", i);
			assert_int_equal(buf_size(out), strlen(raw));
			assert_memory_equal(buf_data(out), raw, strlen(raw));
		}
	}
	/* a preamble (the pack's key) and a range per pack, once */
	assert_int_equal(count_gets, 2 * TREE_PACKS);
	/* off: the cache is freed and trees are read alone (one request
	 * each, every time); on again, it fills again */
	kl_repo_tree_cache(r, 0);
	for (round = 0; round < 2; round++) {
		buf_reset(out);
		assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_TREE,
		    out, NULL), KL_OK);
	}
	assert_int_equal(count_gets, 2 * TREE_PACKS + 2);
	kl_repo_tree_cache(r, 1);
	for (round = 0; round < 2; round++) {
		buf_reset(out);
		assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_TREE,
		    out, NULL), KL_OK);
	}
	assert_int_equal(count_gets, 2 * TREE_PACKS + 3);
	buf_free(out);
	kl_repo_close(r);
}

/* Stores trees "pack P tree 0" and "... tree 1" in a tree pack of their
 * own; ids[0..1] get their ids. */
static void
tree_pack(struct kl_repo *r, unsigned p, struct kl_id *ids)
{
	struct kl_session *s;
	struct kl_id none;
	char raw[64];
	unsigned i;
	int added;

	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	for (i = 0; i < 2; i++) {
		snprintf(raw, sizeof(raw), "pack %u tree %u", p, i);
		kl_blob_id(kl_repo_keys(r), (const uint8_t *)raw, strlen(raw),
		    &ids[i]);
		assert_int_equal(kl_session_blob_add(s, KL_OBJ_TREE, &ids[i],
		    (const uint8_t *)raw, strlen(raw), &added, NULL, NULL),
		    KL_OK);
	}
	assert_int_equal(kl_session_commit(s, NULL, &none, NULL), KL_OK);
	kl_session_free(s);
}

/*
 * Once the tree cache holds KL_TREE_CACHE ranges, a tree of another pack
 * is read alone (its own bytes, not its pack's range) and still right;
 * the cached ones are still read from the cache.
 */
static void
test_full_tree_cache_reads_trees_alone(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_id ids[KL_TREE_CACHE + 1][2];
	struct kl_blob_loc *locs;
	struct buf *out = buf_new(1 << 20);
	char raw[64];
	unsigned p, gets;
	size_t n;

	cat_in(f, r, "cat");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	for (p = 0; p <= KL_TREE_CACHE; p++)
		tree_pack(r, p, ids[p]);
	kl_repo_close(r);

	r = open_repo(f, NULL, PASS);
	cat_in(f, r, "cat");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	for (p = 0; p < KL_TREE_CACHE; p++)
		assert_int_equal(kl_repo_blob_read(r, &ids[p][0], KL_OBJ_TREE,
		    out, NULL), KL_OK);
	count_reads(r);
	buf_reset(out);
	assert_int_equal(kl_repo_blob_read(r, &ids[KL_TREE_CACHE][1],
	    KL_OBJ_TREE, out, NULL), KL_OK);
	snprintf(raw, sizeof(raw), "pack %u tree 1", KL_TREE_CACHE);
	assert_int_equal(buf_size(out), strlen(raw));
	assert_memory_equal(buf_data(out), raw, strlen(raw));
	assert_int_equal(kl_repo_blob_locate(r, &ids[KL_TREE_CACHE][1],
	    KL_OBJ_TREE, &locs, &n, NULL), KL_OK);
	assert_int_equal(count_last_len, locs[0].stored_len);
	free(locs);
	/* the packs cached first are read from the cache: no request */
	gets = count_gets;
	for (p = KL_TREE_CACHE - 8; p < KL_TREE_CACHE; p++) {
		buf_reset(out);
		assert_int_equal(kl_repo_blob_read(r, &ids[p][1], KL_OBJ_TREE,
		    out, NULL), KL_OK);
		snprintf(raw, sizeof(raw), "pack %u tree 1", p);
		assert_memory_equal(buf_data(out), raw, strlen(raw));
	}
	assert_int_equal(count_gets, gets);
	buf_free(out);
	kl_repo_close(r);
}

/*
 * Issue #10 finding 5: ids that share their first 8 bytes - what a pack
 * header or an index file may list - spread over the session's blob
 * table.  Slotted by their first bytes, as before, all 65,536 would take
 * one slot: every insert would walk all the others (2^31 steps in all)
 * and the longest run of occupied slots would be 65,536.
 */
#define FLOOD_IDS 65536
#define FLOOD_RUN_MAX 512	/* at load 1/2: exceeded with odds < 2^-100 */

static void
test_session_table_spreads_ids_sharing_a_prefix(void **state)
{
	struct kl_index_table *t = index_table_new();
	struct kl_blob_loc loc, got;
	struct kl_id id;
	uint32_t i;

	(void)state;
	assert_non_null(t);
	memset(&loc, 0, sizeof(loc));
	memset(loc.pack.b, 7, KL_ID_LEN);
	loc.type = KL_OBJ_DATA;
	loc.stored_len = loc.raw_len = 64;
	memset(id.b, 0xab, KL_ID_LEN);
	for (i = 0; i < FLOOD_IDS; i++) {
		kl_le32enc(id.b + 8, i);	/* the first 8 bytes stay */
		loc.offset = 64 * i;
		assert_int_equal(index_table_put(t, &id, &loc), 1);
	}
	assert_int_equal(index_table_count(t), FLOOD_IDS);
	assert_true(index_table_run_max(t) <= FLOOD_RUN_MAX);
	for (i = 0; i < FLOOD_IDS; i++) {
		kl_le32enc(id.b + 8, i);
		assert_int_equal(index_table_get(t, &id, &got), KL_OK);
		assert_int_equal(got.offset, 64 * i);
	}
	kl_le32enc(id.b + 8, FLOOD_IDS);
	assert_int_equal(index_table_get(t, &id, &got), KL_E_NOTFOUND);
	index_table_free(t);
}

/* A killed backup's packs (written, never indexed) are not sent again. */
static void
test_interrupted_backup_packs_are_adopted(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_session *s = NULL;
	struct kl_id ids[20];
	uint8_t *data = malloc(1 << 20);
	uint8_t seed[32] = { 7 };
	uint64_t packs, bytes;
	int i, added, sent = 0;

	cat_in(f, r, "cache");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	for (i = 0; i < 20; i++) {	/* > 16 MiB: at least one full pack */
		seed[1] = (uint8_t)i;
		randombytes_buf_deterministic(data, 1 << 20, seed);
		kl_blob_id(kl_repo_keys(r), data, 1 << 20, &ids[i]);
		assert_int_equal(kl_session_blob_add(s, KL_OBJ_DATA, &ids[i],
		    data, 1 << 20, &added, NULL, NULL), KL_OK);
	}
	kl_session_free(s);	/* killed: no index file, no snapshot */
	kl_repo_close(r);

	/* another client never adopts them: they are not its own */
	r = open_repo(f, NULL, PASS);
	cat_in(f, r, "other-cache");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	assert_int_equal(kl_session_adopt_orphans(s, &packs, &bytes, NULL),
	    KL_OK);
	assert_int_equal(packs, 0);
	kl_session_free(s);
	kl_repo_close(r);

	r = open_repo(f, NULL, PASS);
	cat_in(f, r, "cache");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	assert_int_equal(kl_session_adopt_orphans(s, &packs, &bytes, NULL),
	    KL_OK);
	assert_true(packs >= 1);
	for (i = 0; i < 20; i++) {
		seed[1] = (uint8_t)i;
		randombytes_buf_deterministic(data, 1 << 20, seed);
		assert_int_equal(kl_session_blob_add(s, KL_OBJ_DATA, &ids[i],
		    data, 1 << 20, &added, NULL, NULL), KL_OK);
		sent += added;
	}
	/* only the blobs of the pack that was still being filled */
	assert_true(sent < 20 - 14);
	kl_session_free(s);
	kl_repo_close(r);
	free(data);
}

/*
 * Two handles that loaded the (empty) index before either stored: both
 * upload the same blobs, into packs of their own - what two hosts backing
 * up the same new data at once leave.  A fresh catalog knows both copies,
 * and a read whose first copy is gone takes the other.
 */
static void
test_every_copy_is_a_location_and_reads_fall_back(void **state)
{
	struct fx *f = *state;
	static const char *const data[] = { "the same new file", "and another" };
	struct kl_repo *r1 = make_repo(f), *r2 = open_repo(f, NULL, PASS), *r;
	struct kl_blob_loc *locs;
	struct kl_id ids[2], snap;
	struct buf *out = buf_new(1 << 20);
	char hex[KL_ID_HEX_LEN + 1], path[256];
	size_t n;

	assert_int_equal(kl_repo_index_load(r1, NULL), KL_OK);
	assert_int_equal(kl_repo_index_load(r2, NULL), KL_OK);
	store_some(r1, data, 2, ids, &snap);
	store_some(r2, data, 2, ids, &snap);
	kl_repo_close(r1);
	kl_repo_close(r2);

	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_repo_blob_locate(r, &ids[0], KL_OBJ_DATA, &locs,
	    &n, NULL), KL_OK);
	assert_int_equal(n, 2);
	assert_false(kl_id_eq(&locs[0].pack, &locs[1].pack));
	assert_int_equal(locs[1].raw_len, strlen(data[0]));
	kl_id_hex(&locs[0].pack, hex);
	snprintf(path, sizeof(path), "%s/data/%.2s/%s", f->repo, hex, hex);
	assert_int_equal(unlink(path), 0);
	free(locs);
	assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_DATA, out, NULL),
	    KL_OK);
	assert_memory_equal(buf_data(out), data[0], strlen(data[0]));
	buf_free(out);
	kl_repo_close(r);
}

/*
 * Deduplication trusts only what this client wrote or a full key signed
 * (issue #10 finding 1c): a backup-only host's index is a claim to every
 * other client, however real its blobs are.
 */
static void
test_only_own_and_attested_entries_deduplicate(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha", "beta" }, *more[] = { "gamma" };
	struct kl_repo *full = make_repo(f), *a, *b;
	struct kl_session *s = NULL;
	struct kl_id ids[2], gid[1], snap;
	char key[160];
	int added = 0;

	backup_key(f, full, key, sizeof(key));
	a = open_repo(f, key, "bk");
	cat_in(f, a, "host-a");
	store_some(a, data, 2, ids, &snap);
	/* its own upload */
	assert_int_equal(kl_repo_index_trusted(a, &ids[0], NULL), 1);
	kl_repo_close(a);

	b = open_repo(f, key, "bk");
	cat_in(f, b, "host-b");
	assert_int_equal(kl_repo_index_load(b, NULL), KL_OK);
	assert_int_equal(cat_locs(b, &ids[0]), 1);
	/* another host's claim */
	assert_int_equal(kl_repo_index_trusted(b, &ids[0], NULL), 0);
	assert_int_equal(kl_session_begin(b, 3, &s, NULL), KL_OK);
	assert_int_equal(kl_session_blob_add(s, KL_OBJ_DATA, &ids[0],
	    (const uint8_t *)"alpha", 5, &added, NULL, NULL), KL_OK);
	assert_int_equal(added, 1);	/* uploaded again, not skipped */
	kl_session_free(s);
	kl_repo_close(b);

	/* the same client after its blob index was rebuilt: still own */
	a = open_repo(f, key, "bk");
	cat_in(f, a, "host-a");
	assert_int_equal(kl_cat_index_clear(kl_repo_catalog(a), NULL), KL_OK);
	assert_int_equal(kl_repo_index_load(a, NULL), KL_OK);
	assert_int_equal(kl_repo_index_trusted(a, &ids[1], NULL), 1);
	kl_repo_close(a);

	/* a full key's backup is signed: attested for every host */
	store_some(full, more, 1, gid, &snap);
	kl_repo_close(full);
	b = open_repo(f, key, "bk");
	cat_in(f, b, "host-c");
	assert_int_equal(kl_repo_index_load(b, NULL), KL_OK);
	assert_int_equal(kl_repo_index_trusted(b, &gid[0], NULL), 1);
	assert_int_equal(kl_repo_index_trusted(b, &ids[0], NULL), 0);
	kl_repo_close(b);
}

/* Entries naming a pack that is not in the repository are ignored, and
 * said so (issue #10 finding 1b). */
static void
test_entries_of_missing_packs_are_ignored(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha" };
	struct kl_repo *full = make_repo(f), *a, *r;
	struct kl_blob_loc l, ghost;
	struct kl_id ids[1], snap, file;
	struct buf *out = buf_new(1 << 20);
	char key[160];

	store_some(full, data, 1, ids, &snap);
	best_loc(full, &ids[0], &l);
	backup_key(f, full, key, sizeof(key));
	kl_repo_close(full);
	a = open_repo(f, key, "bk");
	ghost = l;
	memset(ghost.pack.b, 0x5a, KL_ID_LEN);
	index_claim(a, &ids[0], &ghost, &file);
	kl_repo_close(a);

	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(cat_locs(r, &ids[0]), 1);
	assert_int_equal(kl_repo_notice_count(r), 1);
	assert_non_null(strstr(kl_repo_notice_msg(r, 0), "not in the "
	    "repository"));
	assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_DATA, out, NULL),
	    KL_OK);
	buf_free(out);
	kl_repo_close(r);
}

/*
 * A claim that points into somebody else's pack at a place the pack's
 * own header does not list is dropped once the blob has several
 * locations, so it costs one header read, not a failed blob read each
 * time.
 */
static void
test_claims_the_pack_header_denies_are_dropped(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha", "a somewhat longer second blob" };
	struct kl_repo *full = make_repo(f), *a, *r;
	struct kl_blob_loc l, bogus, *locs;
	struct kl_id ids[2], snap, file;
	struct buf *out = buf_new(1 << 20);
	char key[160];
	size_t n;

	store_some(full, data, 2, ids, &snap);
	best_loc(full, &ids[0], &l);
	best_loc(full, &ids[1], &bogus);	/* blob 1's place... */
	backup_key(f, full, key, sizeof(key));
	kl_repo_close(full);
	a = open_repo(f, key, "bk");
	bogus.raw_len = l.raw_len;		/* ...claimed for blob 0 */
	index_claim(a, &ids[0], &bogus, &file);
	kl_repo_close(a);

	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(cat_locs(r, &ids[0]), 2);
	assert_int_equal(kl_repo_blob_locate(r, &ids[0], KL_OBJ_DATA, &locs,
	    &n, NULL), KL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(locs[0].offset, l.offset);
	free(locs);
	assert_int_equal(cat_locs(r, &ids[0]), 1);
	assert_int_equal(kl_repo_blob_read(r, &ids[0], KL_OBJ_DATA, out, NULL),
	    KL_OK);
	buf_free(out);
	kl_repo_close(r);
}

/*
 * Withdrawing an index file takes a full key (the signature); a catalog
 * that loaded the withdrawn file reloads without it.
 */
static void
test_signed_withdrawal_removes_an_index_file(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha", "a somewhat longer second blob" };
	struct kl_repo *full = make_repo(f), *a, *r;
	struct kl_blob_loc l;
	struct kl_index w;
	struct kl_id ids[2], snap, bogus, wid;
	char key[160];

	store_some(full, data, 2, ids, &snap);
	best_loc(full, &ids[1], &l);
	l.raw_len = 5;
	backup_key(f, full, key, sizeof(key));
	a = open_repo(f, key, "bk");
	index_claim(a, &ids[0], &l, &bogus);
	memset(&w, 0, sizeof(w));
	w.withdrawn = &bogus;
	w.nwithdrawn = 1;
	/* a backup-only key cannot withdraw anything */
	assert_int_equal(kl_repo_index_write(a, &w, &wid, NULL), KL_E_PERM);
	kl_repo_close(a);

	r = open_repo(f, NULL, PASS);
	cat_in(f, r, "cache");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(cat_locs(r, &ids[0]), 2);
	kl_repo_close(r);

	/* the withdrawal sorts after the withdrawn file: a new catalog
	 * loads the bogus one first and must take it back */
	do
		assert_int_equal(kl_repo_index_write(full, &w, &wid, NULL),
		    KL_OK);
	while (kl_id_cmp(&wid, &bogus) < 0);
	kl_repo_close(full);
	r = open_repo(f, NULL, PASS);
	cat_in(f, r, "cache");
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(cat_locs(r, &ids[0]), 1);
	assert_int_equal(kl_repo_index_trusted(r, &ids[1], NULL), 1);
	kl_repo_close(r);
	/* a new catalog, whichever file it meets first: the same, and
	 * nothing said of the withdrawn file */
	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(cat_locs(r, &ids[0]), 1);
	assert_int_equal(kl_repo_index_trusted(r, &ids[0], NULL), 1);
	assert_int_equal(kl_repo_index_trusted(r, &ids[1], NULL), 1);
	assert_int_equal(kl_repo_notice_count(r), 0);
	kl_repo_close(r);
}

/* A signature that does not verify makes the file damaged: skipped,
 * reported, none of its entries used. */
static void
test_forged_signature_is_damage(void **state)
{
	struct fx *f = *state;
	const char *data[] = { "alpha" };
	struct kl_repo *full = make_repo(f), *r;
	const struct kl_keys *k;
	struct kl_blob_loc l;
	struct kl_blob_entry e;
	struct kl_index_pack ip;
	struct kl_index ix;
	struct kl_id ids[1], snap, file;
	struct buf *pt = buf_new(4096), *fb = buf_new(8192);
	uint8_t *ct, sig[KL_SIG_LEN];
	char key[160];

	store_some(full, data, 1, ids, &snap);
	best_loc(full, &ids[0], &l);
	backup_key(f, full, key, sizeof(key));
	kl_repo_close(full);
	r = open_repo(f, key, "bk");
	k = kl_repo_keys(r);
	memset(&ix, 0, sizeof(ix));
	e.type = KL_BLOB_TYPE_DATA;
	e.id = ids[0];
	e.offset = l.offset + 1;
	e.stored_len = l.stored_len;
	e.raw_len = l.raw_len;
	ip.pack_id = l.pack;
	ip.e = &e;
	ip.n = 1;
	ix.packs = &ip;
	ix.n = 1;
	assert_int_equal(kl_index_encode(&ix, KL_INDEX_VERSION, pt), KL_OK);
	assert_int_equal(kl_file_hdr_put_v(fb, KL_MAGIC_INDEX,
	    KL_INDEX_VERSION, KL_INDEX_FLAG_SIGNED), KL_OK);
	assert_int_equal(buf_reserve(fb, buf_size(pt) + KL_AEAD_OVERHEAD,
	    &ct), KL_OK);
	kl_aead_seal(k->index_key, &k->repo_id, KL_OBJ_INDEX, NULL,
	    buf_data(pt), buf_size(pt), ct);
	randombytes_buf(sig, sizeof(sig));
	assert_int_equal(buf_put(fb, sig, sizeof(sig)), KL_OK);
	kl_hash(buf_data(fb), buf_size(fb), &file);
	{
		char hex[KL_ID_HEX_LEN + 1];

		kl_id_hex(&file, hex);
		assert_int_equal(kl_repo_backend(r)->ops->put(
		    kl_repo_backend(r)->ctx, KL_FT_INDEX, hex, buf_data(fb),
		    buf_size(fb)), KL_OK);
	}
	kl_repo_close(r);

	r = open_repo(f, NULL, PASS);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_repo_damage_count(r), 1);
	assert_int_equal(cat_locs(r, &ids[0]), 1);
	kl_repo_close(r);
	buf_free(pt);
	buf_free(fb);
}

/* Writes a one-entry tree named name through the session; returns its
 * id and its encoding. */
static void
tree_one(struct kl_session *s, const char *name, struct kl_id *id,
    struct buf *enc)
{
	struct kl_node n;
	struct kl_tree t;
	uint64_t stored;

	memset(&n, 0, sizeof(n));
	n.name = (uint8_t *)(uintptr_t)name;
	n.name_len = strlen(name);
	n.type = KL_NODE_FIFO;
	n.mode = 0600;
	n.user = n.group = n.target = "";
	t.nodes = &n;
	t.n = 1;
	assert_int_equal(kl_session_tree_add(s, &t, id, &stored, NULL), KL_OK);
	buf_reset(enc);
	assert_int_equal(kl_tree_encode(&t, enc), KL_OK);
}

/*
 * Trees cached in the catalog are used only if they hash to their keyed
 * id: a catalog that maps a tree id to other bytes (damaged, doctored)
 * is ignored and the repository's copy is read.
 */
static void
test_cached_tree_must_match_its_id(void **state)
{
	struct fx *f = *state;
	struct kl_repo *r = make_repo(f);
	struct kl_session *s = NULL;
	struct kl_snapshot sn;
	struct kl_tree got;
	struct kl_id a, b, snap;
	struct buf *ea = buf_new(4096), *eb = buf_new(4096), *x;
	struct kl_cat *c;
	char *paths[] = { "/x" };

	assert_non_null(ea);
	assert_non_null(eb);
	assert_int_equal(kl_repo_index_load(r, NULL), KL_OK);
	assert_int_equal(kl_session_begin(r, 3, &s, NULL), KL_OK);
	tree_one(s, "alpha", &a, ea);
	tree_one(s, "bravo", &b, eb);
	memset(&sn, 0, sizeof(sn));
	sn.time_s = 1700000000;
	sn.tree = a;
	sn.hostname = "host";
	sn.username = "root";
	sn.paths = paths;
	sn.npaths = 1;
	assert_int_equal(kl_session_commit(s, &sn, &snap, NULL), KL_OK);
	kl_session_free(s);

	/* the catalog claims tree a is bravo's bytes */
	c = kl_repo_catalog(r);
	assert_non_null(c);
	assert_int_equal(kl_cat_own_begin(c, "host", paths, 1, NULL), KL_OK);
	assert_int_equal(kl_cat_own_tree_put(c, &a, buf_data(eb),
	    buf_size(eb), NULL), KL_OK);
	assert_int_equal(kl_cat_own_commit(c, &snap, &a, NULL), KL_OK);
	x = buf_new(4096);
	assert_int_equal(kl_cat_own_tree_get(c, &a, x, NULL), KL_OK);
	assert_memory_equal(buf_data(x), buf_data(eb), buf_size(eb));
	buf_free(x);

	assert_int_equal(kl_repo_tree_load(r, &a, &got, NULL), KL_OK);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.nodes[0].name_len, 5);
	assert_memory_equal(got.nodes[0].name, "alpha", 5);
	kl_tree_clear(&got);
	buf_free(ea);
	buf_free(eb);
	kl_repo_close(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_open_with_right_passphrase_works),
		T(test_cached_tree_must_match_its_id),
		T(test_open_with_wrong_passphrase_is_badpass),
		T(test_open_of_missing_repository_is_notfound),
		T(test_init_over_existing_repository_is_exists),
		T(test_swapped_config_is_corrupt),
		T(test_blob_round_trip_and_dedup),
		T(test_blob_read_as_wrong_type_is_notfound),
		T(test_backup_only_key_cannot_read),
		T(test_backup_key_cannot_add_full_key),
		T(test_key_passwd_replaces_old_passphrase),
		T(test_exclusive_lock_blocks_shared),
		T(test_shared_locks_coexist),
		T(test_lock_is_written_as_version_2),
		T(test_lock_dated_in_the_future_is_ignored_with_notice),
		T(test_lock_staleness_goes_by_receive_time),
		T(test_lock_of_slow_clock_that_just_arrived_is_live),
		T(test_lock_kinds_header_and_version_1),
		T(test_snapshot_resolve_prefix_rules),
		T(test_snapshot_times_are_receive_times),
		T(test_pack_order_does_not_follow_insertion),
		T(test_tampered_pack_is_corrupt),
		T(test_encoded_copy_keeps_its_compression),
		T(test_blob_open_refuses_impossible_lengths),
		T(test_tree_ranges_are_read_once_per_pack),
		T(test_full_tree_cache_reads_trees_alone),
		T(test_interrupted_backup_packs_are_adopted),
		T(test_session_table_spreads_ids_sharing_a_prefix),
		T(test_every_copy_is_a_location_and_reads_fall_back),
		T(test_only_own_and_attested_entries_deduplicate),
		T(test_entries_of_missing_packs_are_ignored),
		T(test_claims_the_pack_header_denies_are_dropped),
		T(test_signed_withdrawal_removes_an_index_file),
		T(test_forged_signature_is_damage),
#undef T
	};

	if (kl_crypto_init() != KL_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
