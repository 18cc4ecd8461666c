/*
 * The repository server's session state machine (repo-server/serve.c,
 * docs/PROTOCOL.md), fed whatever a client could send.  The input's first
 * byte picks the role and whether a repository exists (fuzz.h
 * FUZZ_SERVE_*); the rest is the client's byte stream, which kl_serve
 * reads to its end over a repository in a sandbox directory (on tmpfs
 * when /dev/shm exists).  After every session:
 *  - nothing outside the repository changed: the sandbox holds the
 *    repository and a sentinel file, unchanged;
 *  - every file is config, audit.log, or sits in its type's directory
 *    under a name that is the BLAKE2b-256 of its content; no temporary
 *    file is left, nothing else exists;
 *  - in the append-only role every lock is a shared lock of version 2
 *    (FORMAT.md §12); in the read-only role nothing was stored; in the
 *    replica role (issue #15) no lock was stored;
 *  - the audit log the server wrote verifies.
 * The repository is emptied again for the next input.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/audit.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/store.h"
#include "serve_internal.h"

#include "fuzz.h"

#define SENTINEL "outside"
#define CONFIG_BYTE 0x5a
#define SENTINEL_TEXT "the server must never touch this file\n"

#define SANDBOX_MAX 256

static char sandbox[SANDBOX_MAX], repo[SANDBOX_MAX + 8];
static int null_fd = -1;

static const char *const typed_dirs[] = { "keys", "index", "snapshots",
	"locks", "runs" };

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
sandbox_remove(void)
{
	if (sandbox[0] != '\0')
		nftw(sandbox, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
repo_create(void)
{
	uint8_t cfg[KL_CONFIG_LEN];
	struct kl_store *s = NULL;

	memset(cfg, CONFIG_BYTE, sizeof(cfg));
	fuzz_require(kl_store_create(repo, cfg, sizeof(cfg), &s) == KL_OK);
	kl_store_close(s);
}

static void
sandbox_init(void)
{
	const char *base = fuzz_scratch_base();
	char p[PATH_MAX];
	FILE *f;

	snprintf(sandbox, sizeof(sandbox), "%s/kluis-fuzz-serve.XXXXXX", base);
	fuzz_require(mkdtemp(sandbox) != NULL);
	atexit(sandbox_remove);
	snprintf(repo, sizeof(repo), "%s/repo", sandbox);
	snprintf(p, sizeof(p), "%s/%s", sandbox, SENTINEL);
	fuzz_require((f = fopen(p, "w")) != NULL);
	fputs(SENTINEL_TEXT, f);
	fuzz_require(fclose(f) == 0);
	fuzz_require((null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0);
	repo_create();
}

/* The whole of a small file, or abort. */
static struct buf *
slurp(const char *path)
{
	struct buf *b = NULL;

	fuzz_require(kl_file_read_all(path, KL_FILE_MAX, &b) == KL_OK);
	return b;
}

/* A repository file: named by the hash of its content. */
static void
check_file(const char *dir, const char *name, const char *prefix,
    int lock_rule)
{
	char p[PATH_MAX], hex[KL_ID_HEX_LEN + 1];
	struct kl_lock_hdr h;
	struct kl_id id;
	struct stat st;
	struct buf *b, v;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fuzz_require(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
	fuzz_require(kl_hex64_valid(name));
	fuzz_require(prefix == NULL || strncmp(name, prefix, 2) == 0);
	b = slurp(p);
	kl_hash(buf_data(b), buf_size(b), &id);
	kl_id_hex(&id, hex);
	fuzz_require(strcmp(hex, name) == 0);
	if (lock_rule) {
		buf_view_init(&v, buf_data(b), buf_size(b));
		fuzz_require(kl_lock_hdr_get(&v, &h) == KL_OK);
		fuzz_require(h.version == KL_LOCK_VERSION && !h.exclusive);
		fuzz_require(buf_size(b) >= KL_LOCK_FILE_MIN &&
		    buf_size(b) <= KL_LOCK_FILE_MAX);
	}
	buf_free(b);
}

/* Checks every file of dir, then removes it; returns how many. */
static size_t
sweep_dir(const char *dir, const char *prefix, int lock_rule)
{
	char p[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	fuzz_require((d = opendir(dir)) != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		check_file(dir, de->d_name, prefix, lock_rule);
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		fuzz_require(unlink(p) == 0);
		n++;
	}
	closedir(d);
	return n;
}

static size_t
sweep_data(void)
{
	char dir[PATH_MAX], sub[3];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/data", repo);
	fuzz_require((d = opendir(dir)) != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		/* only the 256 fan-out directories */
		fuzz_require(strlen(de->d_name) == 2 &&
		    strspn(de->d_name, "0123456789abcdef") == 2);
		memcpy(sub, de->d_name, 3);	/* two digits and the NUL */
		snprintf(dir, sizeof(dir), "%s/data/%s", repo, sub);
		n += sweep_dir(dir, sub, 0);
	}
	closedir(d);
	return n;
}

/* The repository's top level holds only what the layout names. */
static void
check_top(void)
{
	static const char *const known[] = { ".", "..", "config", "audit.log",
	    "keys", "data", "index", "snapshots", "locks", "runs" };
	struct dirent *de;
	size_t i;
	DIR *d;
	int hit;

	fuzz_require((d = opendir(repo)) != NULL);
	while ((de = readdir(d)) != NULL) {
		for (hit = 0, i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			hit |= strcmp(de->d_name, known[i]) == 0;
		fuzz_require(hit);
	}
	closedir(d);
}

/* No request may write the config (PROTOCOL.md §4). */
static void
check_config(void)
{
	uint8_t cfg[KL_CONFIG_LEN];
	char p[PATH_MAX];
	struct buf *b;

	memset(cfg, CONFIG_BYTE, sizeof(cfg));
	snprintf(p, sizeof(p), "%s/config", repo);
	b = slurp(p);
	fuzz_require(fuzz_buf_eq(b, cfg, sizeof(cfg)));
	buf_free(b);
}

/* Only the repository and the unchanged sentinel outside it. */
static void
check_outside(void)
{
	char p[PATH_MAX];
	struct dirent *de;
	struct buf *b;
	DIR *d;

	fuzz_require((d = opendir(sandbox)) != NULL);
	while ((de = readdir(d)) != NULL)
		fuzz_require(strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "repo") == 0 ||
		    strcmp(de->d_name, SENTINEL) == 0);
	closedir(d);
	snprintf(p, sizeof(p), "%s/%s", sandbox, SENTINEL);
	b = slurp(p);
	fuzz_require(fuzz_buf_eq(b, (const uint8_t *)SENTINEL_TEXT,
	    strlen(SENTINEL_TEXT)));
	buf_free(b);
}

static void
check_audit(void)
{
	struct kl_audit_report rep;
	char p[PATH_MAX];
	int r;

	r = kl_audit_verify(repo, &rep);
	fuzz_require(r == KL_OK || r == KL_E_NOTFOUND);
	snprintf(p, sizeof(p), "%s/%s", repo, KL_AUDIT_FILE);
	fuzz_require(r == KL_E_NOTFOUND || unlink(p) == 0);
}

/* Checks and empties the repository after a session in role. */
static void
check_and_reset(enum kl_store_role role, int had_repo)
{
	char dir[PATH_MAX];
	struct stat st;
	size_t i, n = 0;

	check_outside();
	if (stat(repo, &st) != 0) {
		fuzz_require(!had_repo);	/* a CREATE that was refused */
		repo_create();
		return;
	}
	check_top();
	if (had_repo)
		check_config();
	for (i = 0; i < sizeof(typed_dirs) / sizeof(typed_dirs[0]); i++) {
		size_t k;

		snprintf(dir, sizeof(dir), "%s/%s", repo, typed_dirs[i]);
		k = sweep_dir(dir, NULL, role == KL_ROLE_APPEND &&
		    strcmp(typed_dirs[i], "locks") == 0);
		fuzz_require(role != KL_ROLE_REPLICA || k == 0 ||
		    strcmp(typed_dirs[i], "locks") != 0);
		n += k;
	}
	n += sweep_data();
	fuzz_require(role != KL_ROLE_READ || n == 0);
	check_audit();
	if (!had_repo) {	/* created by this session's CREATE */
		nftw(repo, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		repo_create();
	}
}

/* A descriptor that reads p[0, len) and then the end of the stream. */
static int
input_fd(const uint8_t *p, size_t len)
{
	int fd = memfd_create("fuzz-serve", MFD_CLOEXEC);

	fuzz_require(fd >= 0);
	fuzz_require(len == 0 || kl_write_full(fd, p, len) == KL_OK);
	fuzz_require(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_serve_opts o;
	enum kl_store_role role;
	int fd, had_repo;

	fuzz_init();
	if (sandbox[0] == '\0')
		sandbox_init();
	if (size < 1)
		return 0;
	role = (enum kl_store_role)(data[0] & FUZZ_SERVE_ROLE_MASK);
	had_repo = !(data[0] & FUZZ_SERVE_NO_REPO);
	if (!had_repo)
		nftw(repo, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	memset(&o, 0, sizeof(o));
	o.repo = repo;
	o.role = role;
	o.client_name = "fuzz";
	o.server_id = "kluis-server fuzz";
	fd = input_fd(data + 1, size - 1);
	(void)kl_serve(&o, fd, null_fd);
	close(fd);
	check_and_reset(role, had_repo);
	return 0;
}
