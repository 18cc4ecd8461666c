/*
 * Restore drills: sample a snapshot, restore the sample with
 * kl_restore_run, verify what the file system holds afterwards against the
 * snapshot's trees, and extrapolate the time of a full restore.
 *
 * The verifier shares nothing with restore but the way a path is resolved
 * beneath the target (rs_open_beneath): it reads the restored bytes back,
 * cuts them where the index says each chunk ends, recomputes every keyed
 * chunk id and compares it with the tree's, and compares each metadata
 * field with the tree's node - so a restore that writes the wrong bytes,
 * misses a hole or forgets a field is caught, not vouched for by itself.
 *
 * This file holds the findings and the drill itself, and removes the
 * scratch data; drill_sample.c draws the sample and drill_verify.c
 * verifies what was restored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/repo.h"
#include "kluis/restore.h"
#include "restore_internal.h"
#include "drill_internal.h"

/* Paths remembered so that a path that failed is reported once. */
#define DRILL_FAILED_MAX 10000

/* ---- findings ---- */

void
drill_init(struct drill *d, struct kl_repo *r, kl_drill_finding_fn fn,
    void *arg, const char *target, struct kl_error *err)
{
	memset(d, 0, sizeof(*d));
	d->r = r;
	d->err = err;
	d->fn = fn;
	d->arg = arg;
	d->target = target;
}

void
drill_clear(struct drill *d)
{
	size_t i;

	for (i = 0; i < d->nfailed; i++)
		free(d->failed[i]);
	free(d->failed);
}

static void vfinding(struct drill *d, const char *path, const char *field,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void
vfinding(struct drill *d, const char *path, const char *field,
    const char *fmt, va_list ap)
{
	char detail[512];

	vsnprintf(detail, sizeof(detail), fmt, ap);
	d->findings++;
	if (d->fn != NULL)
		d->fn(d->arg, *path ? path : "/", field, detail);
}

void
drill_finding(struct drill *d, const char *path, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(d, path, field, fmt, ap);
	va_end(ap);
}

void
drill_finding_once(struct drill *d, const char *path, const char *field,
    const char *fmt, ...)
{
	va_list ap;
	size_t i;

	for (i = 0; i < d->nfailed; i++)
		if (strcmp(d->failed[i], path) == 0)
			return;
	if (d->nfailed < DRILL_FAILED_MAX) {
		if (KL_GROW(d->failed, d->cfailed, d->nfailed + 1) == KL_OK &&
		    (d->failed[d->nfailed] = strdup(path)) != NULL)
			d->nfailed++;
	}
	va_start(ap, fmt);
	vfinding(d, path, field, fmt, ap);
	va_end(ap);
}

/* Restore's warnings name TARGET/relative paths: made snapshot paths. */
static void
drill_warn(void *arg, const char *path, int err, const char *what)
{
	struct drill *d = arg;
	size_t tl = strlen(d->target);
	const char *p = path;

	if (strncmp(path, d->target, tl) == 0 &&
	    (path[tl] == '/' || path[tl] == '\0'))
		p = path[tl] == '\0' ? "/" : path + tl;
	drill_finding_once(d, p, "restore", "%s (%s)", what, kl_strerror(err));
}

int
drill_fatal(int rc)
{
	return rc == KL_E_NOMEM || rc == KL_E_CONN || rc == KL_E_PERM;
}

int
drill_fail(struct drill *d, const struct kl_error *e, int rc)
{
	if (d->err != NULL && e != NULL)
		*d->err = *e;
	return rc;
}

/* ---- the drill ---- */

double
kl_drill_rto(uint64_t sample_files, uint64_t sample_bytes,
    uint64_t snapshot_files, uint64_t snapshot_bytes, double restore_s)
{
	double t = restore_s, x;

	/* ratios first: a whole-snapshot sample scales by exactly 1 */
	if (sample_files > 0) {
		x = restore_s * ((double)snapshot_files / (double)sample_files);
		t = x > t ? x : t;
	}
	if (sample_bytes > 0) {
		x = restore_s * ((double)snapshot_bytes / (double)sample_bytes);
		t = x > t ? x : t;
	}
	return t;
}

/* Refuses a sample the target's file system cannot hold. */
static int
space_check(const char *dir, const struct kl_drill_sample *s,
    struct kl_drill_result *res)
{
	struct statvfs vs;
	uint64_t entries = s->files + s->others;

	res->scratch_needed = s->space + entries * DRILL_ENTRY_COST;
	if (statvfs(dir, &vs) != 0)
		return KL_OK;	/* cannot tell: restore will find out */
	res->scratch_free = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
	if (res->scratch_free < res->scratch_needed ||
	    (vs.f_files > 0 && (uint64_t)vs.f_favail < entries))
		return KL_E_NOSPACE;
	return KL_OK;
}

static int
restore_sample(struct drill *d, const struct kl_id *snap,
    struct kl_drill_sample *s, struct kl_drill_result *res)
{
	struct kl_restore_opts ro;
	struct kl_restore_stats st;
	int rc;

	memset(&ro, 0, sizeof(ro));
	ro.target = d->target;
	ro.warn = drill_warn;
	ro.warn_arg = d;
	if (!s->all) {
		ro.select = drill_sample_state;
		ro.select_arg = s;
	}
	rc = kl_restore_run(d->r, snap, &ro, &st, d->err);
	res->restore_s = st.duration_s;
	res->restore_errors = st.errors;
	return rc;
}

static void
result_rates(struct kl_drill_result *res)
{
	double t = res->restore_s > 1e-6 ? res->restore_s : 1e-6;

	res->bytes_per_s = (double)res->sample_bytes / t;
	res->files_per_s = (double)res->sample_files / t;
	res->rto_s = kl_drill_rto(res->sample_files, res->sample_bytes,
	    res->snapshot_files, res->snapshot_bytes, res->restore_s);
}

int
kl_drill_run(struct kl_repo *r, const struct kl_id *snap,
    const struct kl_drill_opts *o, struct kl_drill_result *res,
    struct kl_error *err)
{
	struct kl_drill_sample *s = NULL;
	struct kl_snapshot sn;
	struct drill d;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&sn, 0, sizeof(sn));
	drill_init(&d, r, o->finding, o->finding_arg, o->target, err);
	if ((rc = kl_repo_snapshot_load(r, snap, &sn, err)) != KL_OK)
		goto out;
	res->snapshot_files = sn.files;
	res->snapshot_bytes = sn.bytes;
	if ((rc = kl_repo_index_load(r, err)) != KL_OK ||
	    (rc = drill_sample_take(&d, snap, &sn, o, &s)) != KL_OK)
		goto out;
	res->all = s->all;
	res->sample_files = s->files;
	res->sample_bytes = s->bytes;
	res->sample_others = s->others;
	if ((rc = space_check(o->target, s, res)) != KL_OK ||
	    (rc = restore_sample(&d, snap, s, res)) != KL_OK)
		goto out;
	result_rates(res);
	rc = drill_verify_run(&d, snap, &sn, o->target, s, res);
out:
	res->mismatches = d.findings;
	drill_sample_free(s);
	drill_clear(&d);
	kl_snapshot_clear(&sn);
	return rc;
}

/* ---- removing the scratch data ---- */

static int rm_below(int dfd, dev_t dev);

/* chmod of directory name in dfd, never of what a link there points to. */
static int
dir_chmod(int dfd, const char *name, mode_t mode)
{
	char p[RS_FD_PATH_LEN];
	int fd, r;

	if ((fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return -1;
	rs_fd_path(fd, p, sizeof(p));
	r = chmod(p, mode);
	close(fd);
	return r;
}

static int
rm_dir(int dfd, const char *name, const struct stat *st)
{
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 && errno == EACCES && dir_chmod(dfd, name, 0700) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return kl_err_from_errno(errno);
	/* without root, a read-only directory keeps its entries */
	if ((st->st_mode & 0700) != 0700)
		(void)fchmod(fd, 0700);
	rc = rm_below(fd, st->st_dev);
	close(fd);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && rc == KL_OK)
		rc = kl_err_from_errno(errno);
	return rc;
}

static int
rm_below(int dfd, dev_t dev)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, rc = KL_OK, e;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	if ((dir = fdopendir(fd)) == NULL) {
		e = errno;
		close(fd);
		return kl_err_from_errno(e);
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			e = kl_err_from_errno(errno);
		else if (!S_ISDIR(st.st_mode))
			e = unlinkat(dfd, de->d_name, 0) == 0 ? KL_OK :
			    kl_err_from_errno(errno);
		else if (st.st_dev != dev)
			e = KL_E_INVAL;	/* a mount point: not ours */
		else
			e = rm_dir(dfd, de->d_name, &st);
		if (rc == KL_OK && e != KL_E_NOTFOUND)
			rc = e;
	}
	closedir(dir);
	return rc;
}

int
kl_drill_rmtree(const char *dir, int keep_top)
{
	struct stat st;
	int fd, rc;

	if (lstat(dir, &st) != 0)
		return kl_err_from_errno(errno);
	if (!S_ISDIR(st.st_mode))
		return KL_E_INVAL;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	rc = rm_below(fd, st.st_dev);
	close(fd);
	if (rc == KL_OK && !keep_top && rmdir(dir) != 0)
		rc = kl_err_from_errno(errno);
	return rc;
}
