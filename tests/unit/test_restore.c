/*
 * Unit tests of restore's file-system rules (restore-tools/restore_fs.c,
 * issue #10 finding 3) without relying on timing: the local user's swaps
 * are made at exact steps of a restore through the test seam rs_test_step
 * (restore_internal.h) - a directory of the target replaced by a symbolic
 * link, a restored file replaced by a link or by a hard link to a root
 * file, a name planted before the content is written, the first name of a
 * hard-link group swapped, the target's own path swapped - and each test
 * checks that nothing outside the target changed and that the path was
 * named.  Also the size of failed and sparse files (finding 6) and the
 * keyed group map.
 */
#include <dirent.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "kluis/backup.h"
#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/restore.h"
#include "restore_internal.h"

#define PASS "secret passphrase"
#define WARN_MAX 64
#define STATE_MAX 8192

/* Two repositories of one source: the second has lost its data pack. */
static struct {
	char dir[64];
	char src[128];
	char out[128];		/* outside every target */
	char hv[128];		/* a root file to hard link: outside too */
	struct kl_repo *r, *r2;
	struct kl_id snap, snap2;
} g;

/* The hook: at step `step`, on the first rel ending in `suffix`, act. */
static struct {
	enum rs_step step;
	const char *suffix;
	void (*act)(const char *path);
	const char *target;	/* of the running restore */
	int done;
} hk;

struct warned {
	size_t n;
	char path[WARN_MAX][512];
	int err[WARN_MAX];
};

/* Per test: a target and what restore warned about. */
struct fx {
	char target[160];
	struct warned w;
	char before[STATE_MAX];	/* the outside, before */
};

static void
on_warn(void *arg, const char *path, int err, const char *what)
{
	struct warned *w = arg;

	(void)what;
	if (w->n == WARN_MAX)
		return;
	snprintf(w->path[w->n], sizeof(w->path[0]), "%s", path);
	w->err[w->n++] = err;
}

static void
write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static const char *
sp(const char *rel)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", g.src, rel);
	return p[i];
}

static const char *
op(const char *rel)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", g.out, rel);
	return p[i];
}

/* src: d/ with a file of mode 0666, others, a hard-link pair, a link, a
 * FIFO and a subdirectory; tail: a sparse file ending in a hole. */
static void
src_make(void)
{
	int fd;

	snprintf(g.src, sizeof(g.src), "%s/src", g.dir);
	assert_int_equal(mkdir(g.src, 0755), 0);
	assert_int_equal(mkdir(sp("d"), 0755), 0);
	assert_int_equal(chmod(sp("d"), 0755), 0);
	write_file(sp("d/f"), "hello f", 0666);
	write_file(sp("d/g"), "hello g", 0644);
	write_file(sp("d/h1"), "linked", 0644);
	assert_int_equal(link(sp("d/h1"), sp("d/h2")), 0);
	assert_int_equal(symlink("f", sp("d/l")), 0);
	assert_int_equal(mkfifo(sp("d/p"), 0644), 0);
	assert_int_equal(mkdir(sp("d/sub"), 0750), 0);
	write_file(sp("d/sub/x"), "x", 0644);
	fd = open(sp("tail"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
}

/* out: a root file of mode 0600, and a directory of mode 0700 holding an
 * entry of every name of d. */
static void
out_make(void)
{
	static const char *names[] = { "f", "g", "h1", "h2", "l", "p", "sub",
		"x" };
	char p[256];
	size_t i;

	snprintf(g.hv, sizeof(g.hv), "%s/hv", g.dir);
	write_file(g.hv, "hard victim", 0600);
	snprintf(g.out, sizeof(g.out), "%s/out", g.dir);
	assert_int_equal(mkdir(g.out, 0755), 0);
	write_file(op("victim"), "victim", 0600);
	assert_int_equal(mkdir(op("vdir"), 0700), 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "vdir/%s", names[i]);
		write_file(op(p), "keep", 0600);
	}
}

static int
repo_make(const char *name, struct kl_repo **r, struct kl_id *snap)
{
	struct kl_kdf_params kdf;
	struct kl_repo_init_opts o;
	struct kl_backup_opts bo;
	struct kl_backup_stats st;
	const char *paths[1];
	char repo[128];

	snprintf(repo, sizeof(repo), "%s/%s", g.dir, name);
	if (kl_kdf_preset("interactive", &kdf) != KL_OK)
		return -1;
	memset(&o, 0, sizeof(o));
	o.kdf = &kdf;
	o.label = "test";
	if (kl_repo_init(repo, PASS, strlen(PASS), &o, r, NULL) != KL_OK ||
	    kl_repo_index_load(*r, NULL) != KL_OK)
		return -1;
	memset(&bo, 0, sizeof(bo));
	paths[0] = g.src;
	bo.paths = paths;
	bo.npaths = 1;
	bo.host = "testhost";
	if (kl_backup_run(*r, &bo, &st, NULL) != KL_OK || st.warnings != 0)
		return -1;
	*snap = st.snapshot;
	return 0;
}

/* Deletes the pack that holds d/f's content (all the data: one pack). */
static int
data_pack_delete(struct kl_repo *r, const char *name)
{
	char hex[KL_ID_HEX_LEN + 1], p[256];
	struct kl_blob_loc *l;
	struct kl_id id;
	size_t n;

	kl_blob_id(kl_repo_keys(r), (const uint8_t *)"hello f", 7, &id);
	if (kl_repo_blob_locate(r, &id, KL_OBJ_DATA, &l, &n, NULL) != KL_OK)
		return -1;
	kl_id_hex(&l[0].pack, hex);
	free(l);
	snprintf(p, sizeof(p), "%s/%s/data/%.2s/%s", g.dir, name, hex, hex);
	return unlink(p);
}

static void
hook(enum rs_step step, const char *rel)
{
	char path[1024];
	size_t rl = strlen(rel), sl;

	if (hk.done || hk.act == NULL || step != hk.step)
		return;
	sl = strlen(hk.suffix);
	if (rl < sl || strcmp(rel + rl - sl, hk.suffix) != 0)
		return;
	hk.done = 1;
	if (step == RS_STEP_TARGET)
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s", hk.target, rel);
	hk.act(path);
}

static int
group_setup(void **state)
{
	char cache[128];

	(void)state;
	strcpy(g.dir, "/tmp/kl-restore-XXXXXX");
	if (mkdtemp(g.dir) == NULL || chmod(g.dir, 0755) != 0)
		return -1;
	snprintf(cache, sizeof(cache), "%s/cache", g.dir);
	setenv("KLUIS_CACHE_DIR", cache, 1);
	src_make();
	out_make();
	if (repo_make("repo", &g.r, &g.snap) != 0 ||
	    repo_make("repo2", &g.r2, &g.snap2) != 0 ||
	    data_pack_delete(g.r2, "repo2") != 0)
		return -1;
	rs_test_step = hook;
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	rs_test_step = NULL;
	kl_repo_close(g.r);
	kl_repo_close(g.r2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* One line per entry below dir (sorted), with what a change would touch. */
static void
state_of(const char *dir, char *out, size_t cap)
{
	char names[64][256], p[512];
	struct dirent *de;
	struct stat st;
	size_t n = 0, i, l;
	DIR *d;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s",
			    de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]),
	    (int (*)(const void *, const void *))strcmp);
	for (i = 0; i < n; i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dir, names[i]) >=
		    (int)sizeof(p))
			fail();
		assert_int_equal(lstat(p, &st), 0);
		l = strlen(out);
		snprintf(out + l, cap - l, "%s %o %u %u %lu %lld %ld.%ld\n", p,
		    (unsigned)st.st_mode, (unsigned)st.st_uid,
		    (unsigned)st.st_gid, (unsigned long)st.st_nlink,
		    (long long)st.st_size, (long)st.st_ctim.tv_sec,
		    (long)st.st_ctim.tv_nsec);
		if (S_ISDIR(st.st_mode))
			state_of(p, out, cap);
	}
}

static void
outside_state(char *out)
{
	struct stat st;

	out[0] = '\0';
	assert_int_equal(lstat(g.out, &st), 0);
	snprintf(out, STATE_MAX, "out %o %ld.%ld\n", (unsigned)st.st_mode,
	    (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	state_of(g.out, out, STATE_MAX);
}

static int
setup(void **state)
{
	static int seq;
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->target, sizeof(f->target), "%s/t%d", g.dir, seq++);
	outside_state(f->before);
	memset(&hk, 0, sizeof(hk));
	hk.target = f->target;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char now[STATE_MAX];

	/* whatever the test did, the outside is as it was */
	outside_state(now);
	assert_string_equal(now, f->before);
	assert_int_equal(hk.act == NULL || hk.done, 1);
	memset(&hk, 0, sizeof(hk));
	kl_drill_rmtree(f->target, 0);
	free(f);
	return 0;
}

static int
restore(struct fx *f, struct kl_repo *r, const struct kl_id *snap,
    int overwrite, struct kl_restore_stats *st)
{
	struct kl_restore_opts o;

	memset(&o, 0, sizeof(o));
	o.target = f->target;
	o.overwrite = overwrite;
	o.warn = on_warn;
	o.warn_arg = &f->w;
	return kl_restore_run(r, snap, &o, st, NULL);
}

/* The restored copy of src's relative path rel. */
static const char *
tp(const struct fx *f, const char *rel)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s%s/%s", f->target, g.src, rel);
	return p[i];
}

/* 1 if a warning named the restored path rel with error err. */
static int
warned(const struct fx *f, const char *rel, int err)
{
	size_t i;

	for (i = 0; i < f->w.n; i++)
		if (strcmp(f->w.path[i], tp(f, rel)) == 0 &&
		    f->w.err[i] == err)
			return 1;
	return 0;
}

/* ---- the actions of the local user ---- */

/* The parent of path is renamed away and a link to out/vdir put there. */
static void
act_parent_to_link(const char *path)
{
	char parent[1024], old[1100];

	snprintf(parent, sizeof(parent), "%s", path);
	*strrchr(parent, '/') = '\0';
	snprintf(old, sizeof(old), "%s.orig", parent);
	assert_int_equal(rename(parent, old), 0);
	assert_int_equal(symlink(op("vdir"), parent), 0);
}

static void
act_to_link_to_victim(const char *path)
{
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(op("victim"), path), 0);
}

/* path (if any) replaced by a hard link to root's file g.hv. */
static void
act_to_hardlink_of_hv(const char *path)
{
	if (unlink(path) != 0)
		assert_int_equal(errno, ENOENT);
	assert_int_equal(link(g.hv, path), 0);
}

/* The sibling h1 of path (.../h2) replaced by a hard link to g.hv. */
static void
act_first_to_hardlink_of_hv(const char *path)
{
	char first[1024];

	snprintf(first, sizeof(first), "%s", path);
	first[strlen(first) - 1] = '1';
	act_to_hardlink_of_hv(first);
}

/*
 * g.hv is as it was: mode, owner, content, and (once the link the test
 * planted at rel is gone) one name.
 */
static void
hv_intact(const struct fx *f, const char *rel)
{
	char buf[32];
	struct stat s;
	int fd;

	assert_int_equal(unlink(tp(f, rel)), 0);
	assert_int_equal(lstat(g.hv, &s), 0);
	assert_int_equal(s.st_mode & 07777, 0600);
	assert_int_equal(s.st_uid, 0);
	assert_int_equal(s.st_nlink, 1);
	assert_int_equal(s.st_size, 11);
	assert_true((fd = open(g.hv, O_RDONLY)) >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 11);
	close(fd);
	assert_memory_equal(buf, "hard victim", 11);
}

static void
act_dir_to_link(const char *path)
{
	char old[1100];

	snprintf(old, sizeof(old), "%s.orig", path);
	assert_int_equal(rename(path, old), 0);
	assert_int_equal(symlink(op("vdir"), path), 0);
}

static void
act_target_to_link(const char *path)
{
	assert_int_equal(symlink(op("vdir"), path), 0);
}

/* ---- tests ---- */

static void
test_clean_restore_warns_nothing(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;
	struct stat s1, s2;

	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_int_equal(st.errors, 0);
	assert_int_equal(f->w.n, 0);
	assert_int_equal(lstat(tp(f, "d/h1"), &s1), 0);
	assert_int_equal(lstat(tp(f, "d/h2"), &s2), 0);
	assert_true(s1.st_ino == s2.st_ino);
	assert_int_equal(lstat(tp(f, "d/f"), &s1), 0);
	assert_int_equal(s1.st_mode & 07777, 0666);
}

/*
 * Every entry of d is made after d was swapped for a link to a directory
 * outside: mkdirat, unlinkat (--overwrite), symlinkat, mknodat, linkat and
 * the content all must stay inside, and each entry is named.
 */
static void
test_dir_swapped_at_entry_nothing_outside(void **state)
{
	static const char *rels[] = { "d/f", "d/g", "d/h1", "d/h2", "d/l",
		"d/p", "d/sub" };
	struct fx *f = *state;
	struct kl_restore_stats st;
	size_t i;

	hk.step = RS_STEP_ENTRY;
	hk.suffix = "/d/f";
	hk.act = act_parent_to_link;
	assert_int_equal(restore(f, g.r, &g.snap, 1, &st), KL_OK);
	for (i = 0; i < sizeof(rels) / sizeof(rels[0]); i++)
		assert_true(warned(f, rels[i], KL_E_CHANGED));
	/* and d's own metadata went nowhere: it is a link now */
	assert_true(warned(f, "d", KL_E_CHANGED));
}

static void
test_file_swapped_for_link_before_meta(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_META;
	hk.suffix = "/d/f";
	hk.act = act_to_link_to_victim;
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_true(warned(f, "d/f", KL_E_CHANGED));
	assert_int_equal(st.errors, 1);
}

static void
test_file_swapped_for_hardlink_before_meta(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_META;
	hk.suffix = "/d/f";
	hk.act = act_to_hardlink_of_hv;
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_true(warned(f, "d/f", KL_E_CHANGED));
	hv_intact(f, "d/f");
}

static void
test_dir_swapped_before_meta(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_META;
	hk.suffix = "/d";
	hk.act = act_dir_to_link;
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_true(warned(f, "d", KL_E_CHANGED));
	assert_int_equal(st.errors, 1);
}

/* A name planted before the content is written is never written to. */
static void
test_name_planted_before_content(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_CONTENT;
	hk.suffix = "/d/g";
	hk.act = act_to_hardlink_of_hv;
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_true(warned(f, "d/g", KL_E_EXISTS));
	hv_intact(f, "d/g");
}

static void
test_parent_swapped_before_content(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_CONTENT;
	hk.suffix = "/d/f";
	hk.act = act_parent_to_link;
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_true(warned(f, "d/f", KL_E_CHANGED));
}

/* The first name of a hard-link group swapped before the second is made:
 * the second is not linked to what was swapped in. */
static void
test_first_link_swapped_before_second(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_ENTRY;
	hk.suffix = "/d/h2";
	hk.act = act_first_to_hardlink_of_hv;
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_true(warned(f, "d/h2", KL_E_CHANGED));
	assert_int_equal(access(tp(f, "d/h2"), F_OK), -1);
	/* and d/h1, which is g.hv now, got no metadata */
	assert_true(warned(f, "d/h1", KL_E_CHANGED));
	hv_intact(f, "d/h1");
}

/* A damaged file's directory swapped before the rename: no rename
 * outside. */
static void
test_dir_swapped_before_damaged_rename(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_DAMAGED;
	hk.suffix = "/d/f";
	hk.act = act_parent_to_link;
	assert_int_equal(restore(f, g.r2, &g.snap2, 0, &st), KL_OK);
	assert_true(st.errors > 0);
	assert_int_equal(access(tp(f, "d.orig/f"), F_OK), 0);
}

/* The target's own path swapped for a link after realpath: refused. */
static void
test_target_swapped_for_link(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	hk.step = RS_STEP_TARGET;
	hk.suffix = strrchr(f->target, '/');
	hk.act = act_target_to_link;
	assert_int_equal(restore(f, g.r, &g.snap, 1, &st), KL_E_CHANGED);
	assert_int_equal(unlink(f->target), 0);
}

static void
test_target_of_another_user_is_named(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;

	assert_int_equal(mkdir(f->target, 0755), 0);
	assert_int_equal(chown(f->target, 12345, 12345), 0);
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_int_equal(st.errors, 0);
	assert_int_equal(f->w.n, 1);
	assert_string_equal(f->w.path[0], f->target);
	assert_int_equal(f->w.err[0], KL_OK);
}

static void
test_shared_dir_on_the_way_is_named(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;
	char shared[200];

	snprintf(shared, sizeof(shared), "%s.shared", f->target);
	assert_int_equal(mkdir(shared, 0777), 0);
	assert_int_equal(chmod(shared, 0777), 0);
	snprintf(f->target + strlen(f->target), sizeof(f->target) -
	    strlen(f->target), ".shared/t");
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_int_equal(f->w.n, 1);
	assert_string_equal(f->w.path[0], shared);
	assert_int_equal(f->w.err[0], KL_OK);
	/* the teardown removes it */
	if (snprintf(f->target, sizeof(f->target), "%s", shared) >=
	    (int)sizeof(f->target))
		fail();
}

/* Under sticky /tmp, a target only root can write draws no warning. */
static void
test_target_in_sticky_dir_is_fine(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;
	struct stat s;

	assert_int_equal(lstat("/tmp", &s), 0);
	if (!(s.st_mode & S_ISVTX) || s.st_uid != 0)
		skip();
	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_int_equal(f->w.n, 0);
}

/* Finding 6: a file whose content failed is as large as what was
 * written (here nothing), not as large as its tree says. */
static void
test_failed_file_keeps_written_size(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;
	struct stat s;

	assert_int_equal(restore(f, g.r2, &g.snap2, 0, &st), KL_OK);
	assert_true(st.errors > 0);
	assert_int_equal(lstat(tp(f, "d/g.kluis-incomplete"), &s), 0);
	assert_int_equal(s.st_size, 0);
	assert_int_equal(lstat(tp(f, "tail.kluis-incomplete"), &s), 0);
	assert_int_equal(s.st_size, 0);
	assert_int_equal(access(tp(f, "d/g"), F_OK), -1);
}

/* A complete file that ends in a hole gets its size, and the hole. */
static void
test_sparse_tail_gets_its_size(void **state)
{
	struct fx *f = *state;
	struct kl_restore_stats st;
	struct stat s;

	assert_int_equal(restore(f, g.r, &g.snap, 0, &st), KL_OK);
	assert_int_equal(lstat(tp(f, "tail"), &s), 0);
	assert_int_equal(s.st_size, 1 << 20);
	assert_true(s.st_blocks * 512 < (1 << 20));
}

/* ---- the keyed group map ---- */

static void
test_gmap_put_get_grow(void **state)
{
	struct rs_gmap m;
	size_t v, i;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(rs_gmap_get(&m, 7, &v), 0);
	/* keys a multiplicative hash would put in few slots */
	for (i = 0; i < 100000; i++)
		assert_int_equal(rs_gmap_put(&m, (uint64_t)i << 32, i), 1);
	assert_int_equal(rs_gmap_put(&m, 0, 99), 0);	/* 0 << 32 is in */
	assert_int_equal(rs_gmap_put(&m, UINT64_MAX, 5), 1);
	for (i = 0; i < 100000; i++) {
		assert_int_equal(rs_gmap_get(&m, (uint64_t)i << 32, &v), 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(rs_gmap_get(&m, UINT64_MAX, &v), 1);
	assert_int_equal(v, 5);
	assert_int_equal(rs_gmap_get(&m, 1, &v), 0);
	assert_int_equal(rs_gmap_put(&m, 1, SIZE_MAX), KL_E_LIMIT);
	rs_gmap_clear(&m);
	assert_int_equal(rs_gmap_get(&m, 0, &v), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_clean_restore_warns_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dir_swapped_at_entry_nothing_outside, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_file_swapped_for_link_before_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_file_swapped_for_hardlink_before_meta, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_dir_swapped_before_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_name_planted_before_content, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_parent_swapped_before_content, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_first_link_swapped_before_second, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dir_swapped_before_damaged_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_swapped_for_link, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_of_another_user_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shared_dir_on_the_way_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_in_sticky_dir_is_fine, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_file_keeps_written_size, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sparse_tail_gets_its_size, setup, teardown),
		cmocka_unit_test(test_gmap_put_get_grow),
	};

	if (geteuid() != 0) {
		print_message("test_restore needs root (chown, hard links "
		    "to root files); skipped\n");
		return 0;
	}
	if (kl_crypto_init() != KL_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
