/*
 * A run's record (docs/FORMAT.md §17, docs/CATALOG.md "Pending runs"):
 * into the catalog's history, then as a run record into the repository,
 * so that a report on any machine with a full key sees it.
 *
 * A run that never opened its repository (server unreachable, host key,
 * wrong passphrase, no repository) has no catalog - the catalog is per
 * repository id, and the id is in the repository - so it goes into the
 * pending-runs journal: one file per run, the §17 plaintext, in
 * <cache>/pending-runs/<BLAKE2b-256 of the repository address>/.  The next
 * run that opens a repository at that address takes the journal into its
 * catalog and uploads the records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/repo.h"
#include "kluis/store.h"
#include "cli.h"

/* Runs the journal keeps at most (a new one past this is dropped, with a
 * warning), and takes into a catalog per command. */
#define JOURNAL_MAX 256
#define JOURNAL_IMPORT_MAX 64
#define JOURNAL_PATH_MAX 4096
#define RUN_NAME_LEN (2 * KL_RUNREC_ID_LEN)	/* a journal file's name */

/* 1 for a repository behind kluis-server (ssh://, pipe:). */
static int
served(const char *repo)
{
	return strncmp(repo, "ssh://", 6) == 0 ||
	    strncmp(repo, "pipe:", 5) == 0;
}

/* The repository address the journal is kept for: a local path made
 * absolute, so that one repository has one journal from any directory. */
static int
journal_address(const struct cli *c, char *out, size_t cap)
{
	char cwd[JOURNAL_PATH_MAX];

	if (c->repo == NULL || *c->repo == '\0')
		return KL_E_NOTFOUND;
	if (served(c->repo) || *c->repo == '/') {
		if ((size_t)snprintf(out, cap, "%s", c->repo) >= cap)
			return KL_E_LIMIT;
		return KL_OK;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return kl_err_from_errno(errno);
	if ((size_t)snprintf(out, cap, "%s/%s", cwd, c->repo) >= cap)
		return KL_E_LIMIT;
	return KL_OK;
}

/* <cache>/pending-runs/<hash of the address>; KL_E_* if there is none. */
static int
journal_dir(const struct cli *c, char *out, size_t cap)
{
	char name[64 + KL_ID_HEX_LEN], hex[KL_ID_HEX_LEN + 1];
	char addr[2 * JOURNAL_PATH_MAX];
	struct kl_id h;
	int rc;

	if ((rc = journal_address(c, addr, sizeof(addr))) != KL_OK)
		return rc;
	kl_hash((const uint8_t *)addr, strlen(addr), &h);
	kl_id_hex(&h, hex);
	snprintf(name, sizeof(name), "pending-runs/%s", hex);
	return kl_cat_dir_named(name, out, cap);
}

/*
 * 1 if the open journal directory d is this user's own and nobody else
 * can write to it; else a warning and 0: what others can plant there is
 * not this machine's runs.
 */
static int
journal_trusted(const struct cli *c, DIR *d, const char *dir)
{
	struct stat st;

	if (fstat(dirfd(d), &st) != 0)
		return 0;
	if (S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 1;
	cli_warn(c, "the pending-runs journal %s is not this user's private "
	    "directory (owner %lu, mode %03o): its runs are ignored; remove "
	    "it", dir, (unsigned long)st.st_uid,
	    (unsigned)(st.st_mode & 0777));
	return 0;
}

static int
is_run_name(const char *s)
{
	return strlen(s) == RUN_NAME_LEN &&
	    strspn(s, "0123456789abcdef") == RUN_NAME_LEN;
}

static size_t
journal_count(DIR *d)
{
	struct dirent *e;
	size_t n = 0;

	rewinddir(d);
	while ((e = readdir(d)) != NULL)
		n += is_run_name(e->d_name);
	return n;
}

static void
run_id_new(uint8_t id[KL_CAT_RUN_ID_LEN])
{
	do
		randombytes_buf(id, KL_CAT_RUN_ID_LEN);
	while (kl_runrec_id_is_zero(id));	/* §17: never all zero */
}

static void
host_of(const char *given, char host[KL_NAME_MAX + 1])
{
	snprintf(host, KL_NAME_MAX + 1, "%s", given ? given : "");
	if (given == NULL && gethostname(host, KL_NAME_MAX) != 0)
		snprintf(host, KL_NAME_MAX + 1, "unknown");
	host[KL_NAME_MAX] = '\0';
	if (*host == '\0')
		snprintf(host, KL_NAME_MAX + 1, "unknown");
}

/* The journal directory dir, created if need be, open and trusted; NULL
 * (warned) if it cannot be. */
static DIR *
journal_open(const struct cli *c, const char *dir, int create)
{
	int rc;
	DIR *d;

	if (create && (rc = kl_mkdir_p(dir, 0700)) != KL_OK) {
		cli_warn(c, "cannot record the failed run in %s: %s", dir,
		    kl_strerror(rc));
		return NULL;
	}
	if ((d = opendir(dir)) == NULL)
		return NULL;
	if (!journal_trusted(c, d, dir)) {
		closedir(d);
		return NULL;
	}
	return d;
}

void
cli_run_unreached(struct cli *c, const char *kind, const char *host,
    int64_t start, int exit_code)
{
	char dir[JOURNAL_PATH_MAX], name[RUN_NAME_LEN + 1];
	char h[KL_NAME_MAX + 1], program[KL_NAME_MAX + 1];
	struct kl_runrec rec;
	struct buf *b = NULL;
	DIR *d;
	int rc;

	/* only a run that tried to open its repository and failed (not a
	 * usage error); no address or no cache: nowhere to keep it */
	if (c->open_why[0] == '\0' || journal_dir(c, dir, sizeof(dir)) !=
	    KL_OK || (d = journal_open(c, dir, 1)) == NULL)
		return;
	memset(&rec, 0, sizeof(rec));
	host_of(host, h);
	run_id_new(rec.run_id);
	rec.kind = (uint8_t)kl_runrec_kind_parse(kind);
	/* what journal_acceptable takes: a failure, with no counts */
	rec.exit_code = exit_code <= 0 ||
	    (unsigned)exit_code > KL_RUNREC_EXIT_MAX ? KL_RUNREC_EXIT_MAX :
	    (uint32_t)exit_code;
	rec.start_s = start < 0 ? 0 : start;
	rec.end_s = (int64_t)time(NULL);
	if (rec.end_s < rec.start_s)
		rec.end_s = rec.start_s;
	rec.errors = 1;
	rec.host = h;
	rec.detail = c->open_why;
	snprintf(program, sizeof(program), "%s", kl_repo_run_program());
	rec.program = program;
	kl_hex_encode(rec.run_id, KL_RUNREC_ID_LEN, name);
	if (journal_count(d) >= JOURNAL_MAX)
		cli_warn(c, "%d runs are waiting in %s already: this one is "
		    "not recorded", JOURNAL_MAX, dir);
	else if ((b = buf_new(KL_RUNREC_PT_MAX)) != NULL &&
	    ((rc = kl_runrec_encode(&rec, b)) != KL_OK ||
	    (rc = kl_file_write_atomic(dir, name, buf_data(b), buf_size(b),
	    1, 0600)) != KL_OK))
		cli_warn(c, "cannot record the failed run in %s: %s", dir,
		    kl_strerror(rc));
	buf_free(b);
	closedir(d);
}

/*
 * 1 if rec is what cli_run_unreached writes: a failed run (exit code not
 * 0, at least one error) that got nowhere (no counts, no snapshot).  The
 * journal is only as safe as the cache directory: anything else in it
 * (a planted successful check) is not this machine's run.
 */
static int
journal_acceptable(const struct kl_runrec *rec)
{
	return rec->exit_code != 0 && rec->errors >= 1 && rec->files == 0 &&
	    rec->bytes == 0 && rec->bytes_added == 0 &&
	    kl_id_is_zero(&rec->snapshot);
}

/* Journal file name of d (a run name) as a record into *rec: KL_E_PERM
 * for anything but a regular file of this user, KL_E_CORRUPT for what
 * does not decode or is not acceptable. */
static int
journal_read(DIR *d, const char *name, struct kl_runrec *rec)
{
	uint8_t raw[KL_RUNREC_PT_MAX + 1];
	struct stat st;
	ssize_t got;
	size_t n = 0;
	int fd, rc;

	if ((fd = openat(dirfd(d), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0)
		return errno == ENOENT ? KL_E_NOTFOUND : errno == ELOOP ?
		    KL_E_PERM : kl_err_from_errno(errno);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		close(fd);
		return KL_E_PERM;
	}
	while (n < sizeof(raw) && ((got = read(fd, raw + n,
	    sizeof(raw) - n)) > 0 || (got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	close(fd);
	if ((rc = kl_runrec_decode(raw, n, rec)) != KL_OK)
		return KL_E_CORRUPT;
	if (!journal_acceptable(rec)) {
		kl_runrec_clear(rec);
		return KL_E_CORRUPT;
	}
	return KL_OK;
}

/* One journal run into the history (or, with no catalog, straight into
 * the repository); KL_OK if its file may be removed. */
static int
journal_take(struct kl_repo *r, struct kl_cat *cat, struct kl_runrec *rec)
{
	struct kl_run_value v[2];
	struct kl_cat_run run;
	int rc;

	if (cat != NULL) {
		kl_repo_run_from_runrec(rec, v, &run);
		rc = kl_cat_run_add(cat, &run, NULL);
		return rc == KL_E_EXISTS ? KL_OK : rc;
	}
	if (kl_repo_role(r) == KL_ROLE_READ)
		return KL_E_PERM;	/* nowhere to take it: kept */
	return kl_repo_run_write(r, rec, NULL, NULL);
}

static void
journal_import(struct cli *c, struct kl_repo *r)
{
	char dir[JOURNAL_PATH_MAX];
	struct kl_cat *cat = kl_repo_catalog(r);
	struct kl_runrec rec;
	struct dirent *e;
	size_t n = 0;
	DIR *d;
	int rc;

	if (journal_dir(c, dir, sizeof(dir)) != KL_OK ||
	    (d = journal_open(c, dir, 0)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < JOURNAL_IMPORT_MAX) {
		if (!is_run_name(e->d_name))
			continue;
		n++;
		if ((rc = journal_read(d, e->d_name, &rec)) == KL_OK) {
			rc = journal_take(r, cat, &rec);
			kl_runrec_clear(&rec);
		} else if (rc == KL_E_CORRUPT) {
			cli_warn(c, "%s/%s is not a run this machine recorded: "
			    "removed", dir, e->d_name);
			rc = KL_OK;
		} else if (rc == KL_E_PERM)
			cli_warn(c, "%s/%s is not a file of this user: "
			    "ignored; remove it", dir, e->d_name);
		if (rc == KL_OK && unlinkat(dirfd(d), e->d_name, 0) != 0 &&
		    errno != ENOENT)
			cli_warn(c, "cannot remove %s/%s: %s", dir, e->d_name,
			    strerror(errno));
	}
	closedir(d);
}

static void
upload_failed(struct cli *c, int rc, const struct kl_error *err)
{
	cli_warn(c, "the record of this run was not stored in the repository "
	    "(%s); it stays in this machine's history and a later run "
	    "uploads it", kl_error_msg(err, rc));
}

/*
 * 1 if the server lets this client upload (not a read-only role); else it
 * says so, once per command, and this machine's runs stay in its history.
 */
static int
upload_allowed(struct cli *c, struct kl_repo *r)
{
	static int said;

	if (kl_repo_role(r) != KL_ROLE_READ)
		return 1;
	if (!said++)
		cli_warn(c, "the repository server gives this key read-only "
		    "access: this machine's runs stay in its local history "
		    "(reports elsewhere do not see them)");
	return 0;
}

/*
 * The upload comes after the command's own work, and a failed one only
 * warns: the run stays pending for a later run.  A server from before run
 * records (issue #15) speaks protocol version 2 and refuses this client at
 * HELLO, so no command gets this far against one (docs/FORMAT.md §17).
 */
void
cli_runs_sync(struct cli *c, struct kl_repo *r)
{
	struct kl_error err;
	int rc;

	if (r == NULL)
		return;
	journal_import(c, r);
	if (!upload_allowed(c, r))
		return;
	kl_error_clear(&err);
	if ((rc = kl_repo_runs_upload(r, KL_REPO_RUNS_UPLOAD_MAX, NULL,
	    &err)) != KL_OK)
		upload_failed(c, rc, &err);
}

void
cli_run_commit(struct cli *c, struct kl_repo *r, struct kl_cat_run *run)
{
	struct kl_repo_runrec_text txt;
	struct kl_runrec rec;
	struct kl_error err;
	struct kl_cat *cat;
	int rc;

	run_id_new(run->run_id);
	if ((cat = kl_repo_catalog(r)) != NULL &&
	    kl_cat_run_add(cat, run, NULL) == KL_OK) {
		cli_runs_sync(c, r);
		return;
	}
	/* no history to keep it for later: now or never */
	if (!upload_allowed(c, r))
		return;
	kl_error_clear(&err);
	if ((rc = kl_repo_runrec_from_run(run, &txt, &rec)) == KL_OK)
		rc = kl_repo_run_write(r, &rec, NULL, &err);
	if (rc != KL_OK)
		upload_failed(c, rc, &err);
}
