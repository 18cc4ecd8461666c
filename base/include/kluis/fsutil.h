/*
 * Small file-system helpers shared by client and server.
 */
#ifndef KLUIS_FSUTIL_H
#define KLUIS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * Reads the whole file at path into a new buffer (*out, owned by the
 * caller).  KL_E_NOTFOUND if missing, KL_E_LIMIT if larger than max,
 * KL_E_IO / KL_E_PERM otherwise.  *out is NULL on failure.
 */
int kl_file_read_all(const char *path, size_t max, struct buf **out);

/*
 * Opens path for reading only if it is a regular file, never waiting: no
 * symlink followed, a FIFO or device refused (KL_E_CORRUPT) instead of
 * blocking.  For files that whoever controls a directory could replace
 * (a repository server's state, the audit log).  *fd: the caller closes.
 */
int kl_open_regular(const char *path, int *fd);

/*
 * Reads [off, off+len) of the file at path into a new buffer.  KL_E_CORRUPT
 * if the file is shorter than off+len (a truncated object).
 */
int kl_file_read_range(const char *path, uint64_t off, size_t len,
    struct buf **out);

/*
 * Writes data to dir/name atomically and durably: a temporary file in dir
 * (".tmp-<random>"), write, fsync, then link/rename into place and fsync
 * dir.  With exclusive set, an existing dir/name is never replaced
 * (KL_E_EXISTS).  On any failure the temporary file is removed and nothing
 * becomes visible.  KL_E_NOSPACE on ENOSPC/EDQUOT.  mode is the file mode.
 */
int kl_file_write_atomic(const char *dir, const char *name, const void *data,
    size_t len, int exclusive, unsigned mode);

/*
 * As kl_file_write_atomic for a full path (used for files outside a
 * repository, such as external key files).
 */
int kl_file_write_atomic_path(const char *path, const void *data, size_t len,
    int exclusive, unsigned mode);

/* Writes all len bytes to fd, retrying on EINTR and short writes. */
int kl_write_full(int fd, const void *p, size_t len);
/* Reads up to len bytes; *got < len only at end of file. */
int kl_read_full(int fd, void *p, size_t len, size_t *got);

/* fsync(2) with the failure injection below: 0, or -1 with errno. */
int kl_fsync(int fd);
/* fsyncs the directory at path. */
int kl_fsync_dir(const char *path);
/* mkdir -p with mode; existing directories are fine. */
int kl_mkdir_p(const char *path, unsigned mode);

/*
 * Failure injection for tests: when the environment variable
 * KLUIS_FAULT_WRITE=N is set, the N-th kl_write_full call (counting from 1)
 * of this process fails with ENOSPC; KLUIS_FAULT_FSYNC=N does the same for
 * fsync.  Read once at first use.  Documented in docs/TESTING.md.
 */

#endif
