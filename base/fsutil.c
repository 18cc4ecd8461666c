#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"

/* Test-only failure injection (see fsutil.h); -1 = not configured yet. */
static long fault_write_at = -1, fault_fsync_at = -1;
static long write_calls, fsync_calls;

static long
fault_env(const char *name)
{
	const char *s = getenv(name);

	return s != NULL ? strtol(s, NULL, 10) : 0;
}

static int
fault_hit(long *at, long *calls, const char *env)
{
	if (*at < 0)
		*at = fault_env(env);
	return *at > 0 && ++*calls == *at;
}

int
kl_fsync(int fd)
{
	if (fault_hit(&fault_fsync_at, &fsync_calls, "KLUIS_FAULT_FSYNC")) {
		errno = EIO;
		return -1;
	}
	return fsync(fd);
}

int
kl_write_full(int fd, const void *p, size_t len)
{
	const uint8_t *c = p;
	ssize_t n;

	if (fault_hit(&fault_write_at, &write_calls, "KLUIS_FAULT_WRITE"))
		return KL_E_NOSPACE;
	while (len > 0) {
		n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kl_err_from_errno(errno);
		c += n;
		len -= (size_t)n;
	}
	return KL_OK;
}

int
kl_read_full(int fd, void *p, size_t len, size_t *got)
{
	uint8_t *c = p;
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = read(fd, c + *got, len - *got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kl_err_from_errno(errno);
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return KL_OK;
}

static int
read_fd_range(int fd, uint64_t off, size_t len, struct buf *b)
{
	uint8_t *dst;
	size_t got;
	int r;

	if (off > 0 && lseek(fd, (off_t)off, SEEK_SET) < 0)
		return kl_err_from_errno(errno);
	if ((r = buf_reserve(b, len, &dst)) != KL_OK)
		return r;
	if ((r = kl_read_full(fd, dst, len, &got)) != KL_OK)
		return r;
	return got == len ? KL_OK : KL_E_CORRUPT;
}

int
kl_file_read_all(const char *path, size_t max, struct buf **out)
{
	struct buf *b = NULL;
	struct stat st;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	if (fstat(fd, &st) != 0) {
		r = kl_err_from_errno(errno);
		goto out;
	}
	r = KL_E_LIMIT;
	if ((uint64_t)st.st_size > max)
		goto out;
	r = KL_E_NOMEM;
	if ((b = buf_new(max)) == NULL)
		goto out;
	if ((r = read_fd_range(fd, 0, (size_t)st.st_size, b)) != KL_OK)
		goto out;
	*out = b;
	b = NULL;
out:
	buf_free(b);
	close(fd);
	return r;
}

int
kl_file_read_range(const char *path, uint64_t off, size_t len,
    struct buf **out)
{
	struct buf *b = NULL;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	r = KL_E_NOMEM;
	if ((b = buf_new(len)) == NULL)
		goto out;
	if ((r = read_fd_range(fd, off, len, b)) != KL_OK)
		goto out;
	*out = b;
	b = NULL;
out:
	buf_free(b);
	close(fd);
	return r;
}

int
kl_fsync_dir(const char *path)
{
	int fd, r = KL_OK;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kl_err_from_errno(errno);
	if (kl_fsync(fd) != 0)
		r = kl_err_from_errno(errno);
	close(fd);
	return r;
}

static int
tmp_create(const char *dir, char *tmp, size_t tmp_len, unsigned mode)
{
	char rnd[17];
	uint8_t raw[8];
	int fd, tries;

	for (tries = 0; tries < 16; tries++) {
		randombytes_buf(raw, sizeof(raw));
		snprintf(rnd, sizeof(rnd), "%016llx",
		    (unsigned long long)((uint64_t)raw[0] << 56 |
		    (uint64_t)raw[1] << 48 | (uint64_t)raw[2] << 40 |
		    (uint64_t)raw[3] << 32 | (uint64_t)raw[4] << 24 |
		    (uint64_t)raw[5] << 16 | (uint64_t)raw[6] << 8 | raw[7]));
		if ((size_t)snprintf(tmp, tmp_len, "%s/.tmp-%s", dir, rnd) >=
		    tmp_len)
			return -ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* Moves tmp to final: link() refuses to replace, rename() replaces. */
static int
tmp_publish(const char *tmp, const char *final, int exclusive)
{
	if (!exclusive)
		return rename(tmp, final) == 0 ? KL_OK :
		    kl_err_from_errno(errno);
	if (link(tmp, final) != 0)
		return kl_err_from_errno(errno);
	unlink(tmp);
	return KL_OK;
}

int
kl_file_write_atomic(const char *dir, const char *name, const void *data,
    size_t len, int exclusive, unsigned mode)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	int fd, r;

	if ((size_t)snprintf(final, sizeof(final), "%s/%s", dir, name) >=
	    sizeof(final))
		return KL_E_LIMIT;
	if ((fd = tmp_create(dir, tmp, sizeof(tmp), mode)) < 0)
		return kl_err_from_errno(-fd);
	r = kl_write_full(fd, data, len);
	if (r == KL_OK && kl_fsync(fd) != 0)
		r = kl_err_from_errno(errno);
	if (close(fd) != 0 && r == KL_OK)
		r = kl_err_from_errno(errno);
	if (r == KL_OK)
		r = tmp_publish(tmp, final, exclusive);
	if (r != KL_OK) {
		unlink(tmp);
		return r;
	}
	return kl_fsync_dir(dir);
}

int
kl_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return KL_E_INVAL;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return kl_err_from_errno(errno);
		if (i < n)
			tmp[i] = '/';
	}
	return KL_OK;
}

int
kl_file_write_atomic_path(const char *path, const void *data, size_t len,
    int exclusive, unsigned mode)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t dl;

	if (slash == NULL)
		return kl_file_write_atomic(".", path, data, len, exclusive,
		    mode);
	dl = (size_t)(slash - path);
	if (dl >= sizeof(dir) || slash[1] == '\0')
		return KL_E_INVAL;
	memcpy(dir, path, dl);
	dir[dl] = '\0';
	return kl_file_write_atomic(dl == 0 ? "/" : dir, slash + 1, data, len,
	    exclusive, mode);
}

int
kl_open_regular(const char *path, int *fd)
{
	struct stat st;
	int f, flags;

	*fd = -1;
	if ((f = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) <
	    0)
		return errno == ELOOP ? KL_E_CORRUPT : kl_err_from_errno(errno);
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (flags = fcntl(f, F_GETFL)) < 0 ||
	    fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		close(f);
		return KL_E_CORRUPT;
	}
	*fd = f;
	return KL_OK;
}
