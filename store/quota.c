/*
 * The repository's quota (kluis-server serve --quota, PROTOCOL.md §4
 * "Quota"): one city server's key must not fill the disk for all of them.
 *
 * The bytes in use are kept in DIR/usage (FORMAT.md §1), read and written
 * under an exclusive flock(2) on it, so that concurrent sessions see each
 * other's uploads: an upload reserves its declared size before its first
 * byte is written and gives it back if it does not become a file.
 * Anything that deletes bytes (a removal without delay, purge) empties
 * the usage file instead of counting down, and the next reservation counts
 * the repository's files afresh: counting is the one source of truth, the
 * file only a cache of it.  A process killed between reserving and
 * committing leaves the count too high until the next deletion or
 * `kluis-server purge` (which counts afresh); a deletion while uploads are
 * in flight leaves it too low by at most their sizes until then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/store.h"

#include "store_internal.h"

#define USAGE_FILE "usage"
#define USAGE_TEXT_MAX 32
#define TMP_PREFIX ".tmp-"
#define QUOTA_FILE "quota"

/* Adds the sizes of the regular files of dir (but .tmp-*) to *sum. */
static int
dir_sum(const char *dir, uint64_t *sum)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = KL_OK;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? KL_OK : kl_err_from_errno(errno);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 &&
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			*sum += (uint64_t)st.st_size;
		errno = 0;
	}
	if (errno != 0)
		r = kl_err_from_errno(errno);
	closedir(d);
	return r;
}

int
kl_store_usage_count(struct kl_store *s, uint64_t *bytes)
{
	static const char *const flat[] = { "keys", "index", "snapshots",
	    "locks", "runs", "trash" };
	char dir[PATH_MAX], sub[8];
	uint64_t sum = 0;
	size_t i;
	int r = KL_OK;

	for (i = 0; r == KL_OK && i < sizeof(flat) / sizeof(flat[0]); i++)
		if ((r = store_join(dir, sizeof(dir), s->path, flat[i])) ==
		    KL_OK)
			r = dir_sum(dir, &sum);
	for (i = 0; r == KL_OK && i < 256; i++) {
		snprintf(sub, sizeof(sub), "data/%02x", (unsigned)i);
		if ((r = store_join(dir, sizeof(dir), s->path, sub)) == KL_OK)
			r = dir_sum(dir, &sum);
	}
	if (r == KL_OK)
		*bytes = sum;
	return r;
}

/* Opens and locks DIR/usage (creating it empty); *fd, or an error. */
static int
usage_lock(struct kl_store *s, int *fd)
{
	char path[PATH_MAX];
	int r;

	if ((r = store_join(path, sizeof(path), s->path, USAGE_FILE)) != KL_OK)
		return r;
	if ((*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0)
		return kl_err_from_errno(errno);
	if (flock(*fd, LOCK_EX) != 0) {
		r = kl_err_from_errno(errno);
		close(*fd);
		return r;
	}
	return KL_OK;
}

/* The count in the locked file, or a fresh one (empty or unreadable). */
static int
usage_read(struct kl_store *s, int fd, uint64_t *bytes)
{
	char text[USAGE_TEXT_MAX + 1], *end;
	ssize_t n;

	n = pread(fd, text, USAGE_TEXT_MAX, 0);
	if (n > 1 && text[n - 1] == '\n') {
		text[n - 1] = '\0';
		errno = 0;
		*bytes = strtoull(text, &end, 10);
		if (errno == 0 && *end == '\0' && text[0] >= '0' &&
		    text[0] <= '9')
			return KL_OK;
	}
	return kl_store_usage_count(s, bytes);
}

static int
usage_write(int fd, uint64_t bytes)
{
	char text[USAGE_TEXT_MAX + 1];
	int n;

	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", bytes);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
		return kl_err_from_errno(errno);
	return KL_OK;
}

/* "10.0 GiB" */
static void
human(char *out, size_t len, uint64_t b)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, i == 0 ? "%.0f %s" : "%.1f %s", v, u[i]);
}

int
store_quota_reserve(struct kl_store *s, uint64_t size)
{
	char q[24], used[24], want[24];
	uint64_t bytes;
	int fd, r;

	if (s->policy.quota == 0)
		return KL_OK;
	if ((r = usage_lock(s, &fd)) != KL_OK)
		return r;
	if ((r = usage_read(s, fd, &bytes)) == KL_OK) {
		if (bytes > s->policy.quota || size > s->policy.quota - bytes) {
			human(q, sizeof(q), s->policy.quota);
			human(used, sizeof(used), bytes);
			human(want, sizeof(want), size);
			snprintf(s->why_buf, sizeof(s->why_buf), "repository "
			    "quota of %s reached (%s in use, %s more asked "
			    "for): remove old snapshots, or ask the server's "
			    "operator for more", q, used, want);
			s->why = s->why_buf;
			r = KL_E_NOSPACE;
		} else {
			r = usage_write(fd, bytes + size);
		}
	}
	close(fd);	/* releases the lock */
	return r;
}

void
store_quota_release(struct kl_store *s, uint64_t size)
{
	uint64_t bytes;
	int fd;

	if (s->policy.quota == 0 || usage_lock(s, &fd) != KL_OK)
		return;
	if (usage_read(s, fd, &bytes) == KL_OK)
		(void)usage_write(fd, bytes > size ? bytes - size : 0);
	close(fd);
}

void
store_usage_forget(struct kl_store *s)
{
	char path[PATH_MAX];
	int fd;

	if (store_join(path, sizeof(path), s->path, USAGE_FILE) != KL_OK)
		return;
	/* under the lock: no reservation reads a count we are dropping */
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	if (flock(fd, LOCK_EX) == 0)
		(void)ftruncate(fd, 0);
	close(fd);
}

int
kl_store_usage_refresh(struct kl_store *s, uint64_t *bytes)
{
	int fd, r;

	if ((r = usage_lock(s, &fd)) != KL_OK)
		return r;
	if ((r = kl_store_usage_count(s, bytes)) == KL_OK)
		r = usage_write(fd, *bytes);
	close(fd);
	return r;
}

/* The figure in DIR/state/quota and that file's modification time. */
static int
quota_read(struct kl_store *s, uint64_t *quota, int64_t *since_s)
{
	char path[PATH_MAX], text[USAGE_TEXT_MAX + 1], *end;
	struct stat st;
	ssize_t n;
	int fd, r = KL_E_CORRUPT;

	if (store_join(path, sizeof(path), s->path, KL_STORE_STATE_DIR "/"
	    QUOTA_FILE) != KL_OK)
		return KL_E_LIMIT;
	if ((r = kl_open_regular(path, &fd)) != KL_OK)
		return r;
	r = KL_E_CORRUPT;
	n = read(fd, text, USAGE_TEXT_MAX);
	if (n > 1 && text[n - 1] == '\n' && text[0] >= '0' && text[0] <= '9' &&
	    fstat(fd, &st) == 0) {
		text[n - 1] = '\0';
		errno = 0;
		*quota = strtoull(text, &end, 10);
		*since_s = (int64_t)st.st_mtime;
		if (errno == 0 && *end == '\0')
			r = KL_OK;
	}
	close(fd);
	return r;
}

int
kl_store_quota_recorded(struct kl_store *s, uint64_t *quota,
    int64_t *since_s)
{
	uint64_t q;
	int64_t t;
	int r;

	if ((r = quota_read(s, &q, &t)) != KL_OK)
		return r;
	*quota = q;
	*since_s = t;
	return KL_OK;
}

int
kl_store_quota_record(struct kl_store *s)
{
	char dir[PATH_MAX], text[USAGE_TEXT_MAX + 1];
	uint64_t have;
	int64_t since;
	int n, r;

	if (s->policy.quota == 0 || s->role == KL_ROLE_READ)
		return KL_OK;
	/* most sessions find it unchanged: no write, no fsync */
	if (quota_read(s, &have, &since) == KL_OK && have == s->policy.quota)
		return KL_OK;
	if ((r = store_join(dir, sizeof(dir), s->path, KL_STORE_STATE_DIR)) !=
	    KL_OK || (r = kl_mkdir_p(dir, STORE_DIR_MODE)) != KL_OK)
		return r;
	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", s->policy.quota);
	return kl_file_write_atomic(dir, QUOTA_FILE, text, (size_t)n, 0, 0600);
}
