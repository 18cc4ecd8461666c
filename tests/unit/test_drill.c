/*
 * Unit tests of restore-tools/drill.c: the verifier finds what was changed
 * in a restored tree after restore had finished (so it does not rely on
 * restore's own account), the sample and the RTO model, and the scratch
 * tree removal.
 */
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
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "kluis/backup.h"
#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/restore.h"

#define PASS "secret passphrase"
#define FOUND_MAX 32

struct found {
	size_t n;
	char path[FOUND_MAX][512];
	char field[FOUND_MAX][32];
};

/* One repository with one snapshot of src for the whole group. */
static struct {
	char dir[64];
	char src[128];
	struct kl_repo *r;
	struct kl_id snap;
	int xattrs;		/* the file system takes user.* xattrs */
} g;

/* Per test: a fresh restore of the snapshot. */
struct fx {
	char out[160];
	struct found f;
};

static void
on_finding(void *arg, const char *path, const char *field, const char *detail)
{
	struct found *f = arg;

	(void)detail;
	if (f->n == FOUND_MAX)
		return;
	snprintf(f->path[f->n], sizeof(f->path[0]), "%s", path);
	snprintf(f->field[f->n], sizeof(f->field[0]), "%s", field);
	f->n++;
}

static void
write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void
src_make(void)
{
	char p[256];
	uint8_t big[100000];
	size_t i;
	int fd;

	snprintf(g.src, sizeof(g.src), "%s/src", g.dir);
	assert_int_equal(mkdir(g.src, 0755), 0);
	snprintf(p, sizeof(p), "%s/sub", g.src);
	assert_int_equal(mkdir(p, 0750), 0);
	snprintf(p, sizeof(p), "%s/a.txt", g.src);
	write_file(p, "hello, drill\n", 13);
	g.xattrs = setxattr(p, "user.note", "kept", 4, 0) == 0;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7919 >> 3);
	snprintf(p, sizeof(p), "%s/sub/b.bin", g.src);
	write_file(p, big, sizeof(big));
	snprintf(p, sizeof(p), "%s/link", g.src);
	assert_int_equal(symlink("a.txt", p), 0);
	/* 1 MiB with data only in its middle: holes on either side */
	snprintf(p, sizeof(p), "%s/sparse", g.src);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(pwrite(fd, "data", 4, 512 << 10), 4);
	close(fd);
}

static int
group_setup(void **state)
{
	struct kl_kdf_params kdf;
	struct kl_repo_init_opts o;
	struct kl_backup_opts bo;
	struct kl_backup_stats st;
	char repo[128];
	const char *paths[1];

	(void)state;
	strcpy(g.dir, "/tmp/kl-drill-XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		return -1;
	src_make();
	snprintf(repo, sizeof(repo), "%s/repo", g.dir);
	if (kl_kdf_preset("interactive", &kdf) != KL_OK)
		return -1;
	memset(&o, 0, sizeof(o));
	o.kdf = &kdf;
	o.label = "test";
	if (kl_repo_init(repo, PASS, strlen(PASS), &o, &g.r, NULL) != KL_OK ||
	    kl_repo_index_load(g.r, NULL) != KL_OK)
		return -1;
	memset(&bo, 0, sizeof(bo));
	paths[0] = g.src;
	bo.paths = paths;
	bo.npaths = 1;
	bo.host = "testhost";
	if (kl_backup_run(g.r, &bo, &st, NULL) != KL_OK || st.warnings != 0)
		return -1;
	g.snap = st.snapshot;
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	kl_repo_close(g.r);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
setup(void **state)
{
	static int seq;
	struct kl_restore_opts o;
	struct kl_restore_stats st;
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->out, sizeof(f->out), "%s/out%d", g.dir, seq++);
	memset(&o, 0, sizeof(o));
	o.target = f->out;
	if (kl_restore_run(g.r, &g.snap, &o, &st, NULL) != KL_OK ||
	    st.errors != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int rc = kl_drill_rmtree(f->out, 0);

	free(f);
	return rc == KL_OK ? 0 : -1;
}

/* The restored copy of src's relative path rel. */
static const char *
rpath(const struct fx *f, const char *rel)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s%s%s%s", f->out, g.src, *rel ? "/" : "",
	    rel);
	return p;
}

/* The snapshot path of src's relative path rel. */
static const char *
spath(const char *rel)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s%s%s", g.src, *rel ? "/" : "", rel);
	return p;
}

static void
verify(struct fx *f)
{
	uint64_t n = 99;

	f->f.n = 0;
	assert_int_equal(kl_drill_verify(g.r, &g.snap, f->out, on_finding,
	    &f->f, &n, NULL), KL_OK);
	assert_int_equal(n, f->f.n);
}

/* Exactly one finding, of field on snapshot path path. */
static void
expect_one(const struct fx *f, const char *path, const char *field)
{
	size_t i;

	for (i = 0; i < f->f.n; i++)
		print_message("finding: %s: %s\n", f->f.path[i],
		    f->f.field[i]);
	assert_int_equal(f->f.n, 1);
	assert_string_equal(f->f.path[0], path);
	assert_string_equal(f->f.field[0], field);
}

static void
expect_none(const struct fx *f)
{
	size_t i;

	for (i = 0; i < f->f.n; i++)
		print_message("finding: %s: %s\n", f->f.path[i],
		    f->f.field[i]);
	assert_int_equal(f->f.n, 0);
}

/* Sets the times of path (not following links) back to those of st. */
static void
times_back(const char *path, const struct stat *st)
{
	struct timespec ts[2];

	ts[0] = st->st_atim;
	ts[1] = st->st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW),
	    0);
}

static void
test_clean_restore_has_no_findings(void **state)
{
	struct fx *f = *state;

	verify(f);
	expect_none(f);
}

static void
test_changed_byte_is_a_content_finding(void **state)
{
	struct fx *f = *state;
	const char *p = rpath(f, "sub/b.bin");
	struct stat st;
	uint8_t c;
	int fd;

	assert_int_equal(lstat(p, &st), 0);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 77777), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, 77777), 1);
	close(fd);
	times_back(p, &st);
	verify(f);
	expect_one(f, spath("sub/b.bin"), "content");
}

static void
test_changed_mode_is_a_mode_finding(void **state)
{
	struct fx *f = *state;

	assert_int_equal(chmod(rpath(f, "a.txt"), 0666), 0);
	verify(f);
	expect_one(f, spath("a.txt"), "mode");
}

static void
test_changed_mtime_is_an_mtime_finding(void **state)
{
	struct fx *f = *state;
	const char *p = rpath(f, "sub");
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	st.st_mtim.tv_nsec = (st.st_mtim.tv_nsec + 1) % 1000000000;
	times_back(p, &st);
	verify(f);
	expect_one(f, spath("sub"), "mtime");
}

static void
test_changed_link_target_is_a_target_finding(void **state)
{
	struct fx *f = *state;
	char dir[512];
	struct stat st, dst;

	snprintf(dir, sizeof(dir), "%s", rpath(f, ""));
	assert_int_equal(lstat(dir, &dst), 0);
	assert_int_equal(lstat(rpath(f, "link"), &st), 0);
	assert_int_equal(unlink(rpath(f, "link")), 0);
	assert_int_equal(symlink("sub/b.bin", rpath(f, "link")), 0);
	times_back(rpath(f, "link"), &st);
	times_back(dir, &dst);
	verify(f);
	expect_one(f, spath("link"), "target");
}

static void
test_removed_file_is_a_missing_finding(void **state)
{
	struct fx *f = *state;
	char dir[512];
	struct stat dst;

	snprintf(dir, sizeof(dir), "%s", rpath(f, "sub"));
	assert_int_equal(lstat(dir, &dst), 0);
	assert_int_equal(unlink(rpath(f, "sub/b.bin")), 0);
	times_back(dir, &dst);
	verify(f);
	expect_one(f, spath("sub/b.bin"), "missing");
}

static void
test_added_file_is_an_extra_finding(void **state)
{
	struct fx *f = *state;
	char dir[512];
	struct stat dst;

	snprintf(dir, sizeof(dir), "%s", rpath(f, "sub"));
	assert_int_equal(lstat(dir, &dst), 0);
	write_file(rpath(f, "sub/stray"), "x", 1);
	times_back(dir, &dst);
	verify(f);
	expect_one(f, spath("sub/stray"), "extra");
}

static void
test_truncated_file_is_a_size_finding(void **state)
{
	struct fx *f = *state;
	const char *p = rpath(f, "a.txt");
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(truncate(p, 5), 0);
	times_back(p, &st);
	verify(f);
	expect_one(f, spath("a.txt"), "size");
}

static void
test_filled_hole_is_a_holes_finding(void **state)
{
	struct fx *f = *state;
	const char *p = rpath(f, "sparse");
	static const uint8_t zero[65536];
	struct stat st;
	off_t d;
	int fd;

	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	d = lseek(fd, 0, SEEK_DATA);
	if (d <= 0) {	/* no hole at the start: holes not supported here */
		close(fd);
		skip();
	}
	assert_int_equal(fstat(fd, &st), 0);
	/* the same bytes - zeros - but now stored */
	assert_int_equal(pwrite(fd, zero, sizeof(zero), 0),
	    (ssize_t)sizeof(zero));
	assert_int_equal(fsync(fd), 0);
	close(fd);
	times_back(p, &st);
	verify(f);
	expect_one(f, spath("sparse"), "holes");
}

static void
test_changed_xattr_is_an_xattr_finding(void **state)
{
	struct fx *f = *state;
	const char *p = rpath(f, "a.txt");

	if (!g.xattrs)
		skip();
	assert_int_equal(setxattr(p, "user.note", "KEPT", 4, 0), 0);
	verify(f);
	expect_one(f, spath("a.txt"), "xattr");
}

static void
test_changed_owner_is_a_uid_finding(void **state)
{
	struct fx *f = *state;
	const char *p = rpath(f, "a.txt");
	struct stat st;

	if (geteuid() != 0)
		skip();		/* owners are verified as root only */
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(lchown(p, st.st_uid + 1, (gid_t)-1), 0);
	times_back(p, &st);
	verify(f);
	expect_one(f, spath("a.txt"), "uid");
}

static void
test_rto_takes_the_slower_of_files_and_bytes(void **state)
{
	(void)state;
	/* 10 of 100 files, half the bytes: files decide, 10 s */
	assert_true(kl_drill_rto(10, 500, 100, 1000, 1.0) == 10.0);
	/* 10 of 20 files, a hundredth of the bytes: bytes decide */
	assert_true(kl_drill_rto(10, 10, 20, 1000, 2.0) == 200.0);
	/* the whole snapshot: the time it took */
	assert_true(kl_drill_rto(7, 70, 7, 70, 3.5) == 3.5);
	/* nothing to scale by: never less than the time measured */
	assert_true(kl_drill_rto(0, 0, 0, 0, 0.25) == 0.25);
}

static void
test_drill_samples_the_requested_files(void **state)
{
	struct fx *f = *state;
	struct kl_drill_opts o;
	struct kl_drill_result res;
	char t[160];

	(void)f;
	snprintf(t, sizeof(t), "%s/drill", g.dir);
	assert_int_equal(mkdir(t, 0700), 0);
	memset(&o, 0, sizeof(o));
	o.target = t;
	o.files = 2;
	o.seed = 42;
	o.finding = on_finding;
	o.finding_arg = &f->f;
	assert_int_equal(kl_drill_run(g.r, &g.snap, &o, &res, NULL), KL_OK);
	assert_int_equal(res.sample_files, 2);
	assert_int_equal(res.snapshot_files, 3);
	assert_false(res.all);
	assert_int_equal(res.mismatches, 0);
	assert_true(res.rto_s >= res.restore_s);
	assert_int_equal(kl_drill_rmtree(t, 0), KL_OK);
	assert_int_equal(access(t, F_OK), -1);
}

static void
test_drill_of_everything_verifies_every_entry(void **state)
{
	struct fx *f = *state;
	struct kl_drill_opts o;
	struct kl_drill_result res;
	char t[160];

	snprintf(t, sizeof(t), "%s/drill-all", g.dir);
	assert_int_equal(mkdir(t, 0700), 0);
	memset(&o, 0, sizeof(o));
	o.target = t;
	o.share = 1.0;
	o.finding = on_finding;
	o.finding_arg = &f->f;
	assert_int_equal(kl_drill_run(g.r, &g.snap, &o, &res, NULL), KL_OK);
	assert_true(res.all);
	assert_int_equal(res.sample_files, 3);
	assert_int_equal(res.sample_others, 1);	/* the symlink */
	assert_int_equal(res.mismatches, 0);
	assert_true(res.verified >= 5);
	assert_true(res.rto_s == res.restore_s);
	assert_int_equal(kl_drill_rmtree(t, 0), KL_OK);
}

static void
test_rmtree_keeps_the_top_and_what_links_point_to(void **state)
{
	char top[160], p[256], outside[160];

	(void)state;
	snprintf(top, sizeof(top), "%s/rm", g.dir);
	snprintf(outside, sizeof(outside), "%s/outside", g.dir);
	write_file(outside, "keep", 4);
	assert_int_equal(mkdir(top, 0700), 0);
	snprintf(p, sizeof(p), "%s/ro", top);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ro/f", top);
	write_file(p, "x", 1);
	snprintf(p, sizeof(p), "%s/ro/to-outside", top);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/ro", top);
	assert_int_equal(chmod(p, 0500), 0);
	assert_int_equal(kl_drill_rmtree(top, 1), KL_OK);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(access(top, F_OK), 0);
	assert_int_equal(access(outside, F_OK), 0);
	assert_int_equal(kl_drill_rmtree(top, 0), KL_OK);
	assert_int_equal(access(top, F_OK), -1);
	assert_int_equal(kl_drill_rmtree(outside, 0), KL_E_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_clean_restore_has_no_findings, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_byte_is_a_content_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_mode_is_a_mode_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_mtime_is_an_mtime_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_link_target_is_a_target_finding, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_removed_file_is_a_missing_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_added_file_is_an_extra_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_truncated_file_is_a_size_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_filled_hole_is_a_holes_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_xattr_is_an_xattr_finding, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_changed_owner_is_a_uid_finding, setup, teardown),
		cmocka_unit_test(test_rto_takes_the_slower_of_files_and_bytes),
		cmocka_unit_test_setup_teardown(
		    test_drill_samples_the_requested_files, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_drill_of_everything_verifies_every_entry, setup,
		    teardown),
		cmocka_unit_test(
		    test_rmtree_keeps_the_top_and_what_links_point_to),
	};

	if (kl_crypto_init() != KL_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
