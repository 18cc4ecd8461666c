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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/repo.h"
#include "cli.h"

/* Runs the journal keeps at most (a new one past this is dropped, with a
 * warning), and takes into a catalog per command. */
#define JOURNAL_MAX 256
#define JOURNAL_IMPORT_MAX 64
#define PROGRAM "kluis " KLUIS_VERSION

/* <cache>/pending-runs/<hash of the address>; KL_E_* if there is none. */
static int
journal_dir(const struct cli *c, char *out, size_t cap)
{
	char name[64 + KL_ID_HEX_LEN], hex[KL_ID_HEX_LEN + 1];
	struct kl_id h;

	if (c->repo == NULL || *c->repo == '\0')
		return KL_E_NOTFOUND;
	kl_hash((const uint8_t *)c->repo, strlen(c->repo), &h);
	kl_id_hex(&h, hex);
	snprintf(name, sizeof(name), "pending-runs/%s", hex);
	return kl_cat_dir_named(name, out, cap);
}

static int
is_run_name(const char *s)
{
	return strlen(s) == 2 * KL_RUNREC_ID_LEN &&
	    strspn(s, "0123456789abcdef") == 2 * KL_RUNREC_ID_LEN;
}

static size_t
journal_count(const char *dir)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += is_run_name(e->d_name);
	closedir(d);
	return n;
}

static void
run_id_new(uint8_t id[KL_CAT_RUN_ID_LEN])
{
	size_t i;

	do {
		if (getrandom(id, KL_CAT_RUN_ID_LEN, 0) != KL_CAT_RUN_ID_LEN)
			abort();	/* no randomness: nothing is safe */
		for (i = 0; i < KL_CAT_RUN_ID_LEN && id[i] == 0; i++)
			;
	} while (i == KL_CAT_RUN_ID_LEN);	/* §17: never all zero */
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

void
cli_run_unreached(struct cli *c, const char *kind, const char *host,
    int64_t start, int exit_code)
{
	char dir[4096], name[2 * KL_RUNREC_ID_LEN + 1], h[KL_NAME_MAX + 1];
	struct kl_runrec rec;
	struct buf *b = NULL;
	size_t i;
	int rc;

	/* only a run that tried to open its repository and failed (not a
	 * usage error); no address or no cache: nowhere to keep it */
	if (c->open_why[0] == '\0' || journal_dir(c, dir, sizeof(dir)) !=
	    KL_OK)
		return;
	memset(&rec, 0, sizeof(rec));
	host_of(host, h);
	run_id_new(rec.run_id);
	rec.kind = (uint8_t)kl_runrec_kind_parse(kind);
	rec.exit_code = exit_code < 0 || exit_code > 255 ? 255 :
	    (uint32_t)exit_code;
	rec.start_s = start < 0 ? 0 : start;
	rec.end_s = (int64_t)time(NULL);
	if (rec.end_s < rec.start_s)
		rec.end_s = rec.start_s;
	rec.errors = 1;
	rec.host = h;
	rec.detail = c->open_why;
	rec.program = PROGRAM;
	for (i = 0; i < KL_RUNREC_ID_LEN; i++)
		snprintf(name + 2 * i, 3, "%02x", rec.run_id[i]);
	if (journal_count(dir) >= JOURNAL_MAX) {
		cli_warn(c, "%d runs are waiting in %s already: this one is "
		    "not recorded", JOURNAL_MAX, dir);
		return;
	}
	if ((b = buf_new(KL_RUNREC_PT_MAX)) == NULL)
		return;
	if ((rc = kl_runrec_encode(&rec, b)) == KL_OK &&
	    (rc = kl_mkdir_p(dir, 0700)) == KL_OK)
		rc = kl_file_write_atomic(dir, name, buf_data(b), buf_size(b),
		    1, 0600);
	if (rc != KL_OK)
		cli_warn(c, "cannot record the failed run in %s: %s", dir,
		    kl_strerror(rc));
	buf_free(b);
}

/* One journal file into the history (or, with no catalog, straight into
 * the repository); 0 if it may be removed. */
static int
journal_take(struct kl_repo *r, struct kl_cat *cat, const char *path)
{
	struct kl_run_value v[2];
	struct kl_cat_run run;
	struct kl_runrec rec;
	struct buf *b = NULL;
	int rc;

	if ((rc = kl_file_read_all(path, KL_RUNREC_PT_MAX, &b)) != KL_OK)
		return rc == KL_E_NOTFOUND ? 0 : rc;
	rc = kl_runrec_decode(buf_data(b), buf_size(b), &rec);
	buf_free(b);
	if (rc != KL_OK)
		return 0;	/* not a record: nothing to keep */
	if (cat != NULL) {
		kl_repo_run_from_runrec(&rec, v, &run);
		rc = kl_cat_run_add(cat, &run, NULL);
		rc = rc == KL_E_EXISTS ? KL_OK : rc;
	} else
		rc = kl_repo_run_write(r, &rec, NULL, NULL);
	kl_runrec_clear(&rec);
	return rc;
}

static void
journal_import(struct cli *c, struct kl_repo *r)
{
	char dir[4096], path[4096 + 64];
	struct kl_cat *cat = kl_repo_catalog(r);
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	if (journal_dir(c, dir, sizeof(dir)) != KL_OK ||
	    (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < JOURNAL_IMPORT_MAX) {
		if (!is_run_name(e->d_name))
			continue;
		n++;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    e->d_name) >= sizeof(path))
			continue;
		if (journal_take(r, cat, path) == 0 && unlink(path) != 0 &&
		    errno != ENOENT)
			cli_warn(c, "cannot remove %s: %s", path,
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

void
cli_runs_sync(struct cli *c, struct kl_repo *r)
{
	struct kl_error err;
	int rc;

	if (r == NULL)
		return;
	journal_import(c, r);
	kl_error_clear(&err);
	if ((rc = kl_repo_runs_upload(r, KL_REPO_RUNS_UPLOAD_MAX, NULL,
	    &err)) != KL_OK)
		upload_failed(c, rc, &err);
}

void
cli_run_commit(struct cli *c, struct kl_repo *r, struct kl_cat_run *run)
{
	char detail[KL_RUNREC_DETAIL_MAX + 1];
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
	kl_error_clear(&err);
	if ((rc = kl_repo_runrec_from_run(run, PROGRAM, detail,
	    sizeof(detail), &rec)) == KL_OK)
		rc = kl_repo_run_write(r, &rec, NULL, &err);
	if (rc != KL_OK)
		upload_failed(c, rc, &err);
}
