/*
 * kluis prune and forget --prune (docs/CLI.md "prune"): the exclusive
 * lock, kl_prune, and what it did, as text or JSON; kluis unlock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/json.h"
#include "kluis/prune.h"
#include "kluis/repo.h"
#include "cli.h"

#define DEFAULT_MAX_UNUSED_X100 500	/* 5 % */

/* --max-unused PERCENT: 0 to 100, at most two decimals ("5", "2.5"). */
static int
max_unused_parse(const struct cli *c, unsigned *out)
{
	const char *s = c->max_unused;
	unsigned whole = 0, frac = 0, digits = 0;

	*out = DEFAULT_MAX_UNUSED_X100;
	if (s == NULL)
		return EXIT_OK;
	if (*s < '0' || *s > '9')
		goto bad;
	for (; *s >= '0' && *s <= '9' && whole <= 100; s++)
		whole = whole * 10 + (unsigned)(*s - '0');
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9' && digits < 2; s++, digits++)
			frac = frac * 10 + (unsigned)(*s - '0');
	if (*s == '%')
		s++;
	if (*s != '\0' || whole > 100)
		goto bad;
	*out = whole * 100 + (digits == 1 ? frac * 10 : frac);
	if (*out <= 10000)
		return EXIT_OK;
bad:
	cli_err(c, "--max-unused takes a percentage from 0 to 100 (such as 5 "
	    "or 2.5), not \"%s\"", c->max_unused);
	return EXIT_USAGE;
}

int
cli_max_unused_check(const struct cli *c)
{
	unsigned x;

	return max_unused_parse(c, &x);
}

static void
refused(void *arg, const char *file, const char *why)
{
	const struct cli *c = arg;

	cli_warn(c, "%s was not deleted: %s (a later prune deletes it)", file,
	    why);
}

/* 1 for a repository behind kluis-server (ssh://, pipe:). */
static int
served(const struct cli *c)
{
	return c->repo != NULL && (strncmp(c->repo, "ssh://", 6) == 0 ||
	    strncmp(c->repo, "pipe:", 5) == 0);
}

static void
size_text(char *out, size_t len, uint64_t b)
{
	if (b >= (uint64_t)1 << 30)
		snprintf(out, len, "%.1f GiB", (double)b / (1u << 30));
	else if (b >= (uint64_t)1 << 20)
		snprintf(out, len, "%.1f MiB", (double)b / (1u << 20));
	else if (b >= (uint64_t)1 << 10)
		snprintf(out, len, "%.1f KiB", (double)b / (1u << 10));
	else
		snprintf(out, len, "%llu B", (unsigned long long)b);
}

/* The report as one JSON object: the next value of j. */
static void
report_json(const struct cli *c, struct kl_json *j,
    const struct kl_prune_report *p)
{
	kl_json_obj(j, NULL);
	kl_json_bool(j, "dry_run", c->dry_run);
	kl_json_bool(j, "deletes_at_once", !served(c));
	kl_json_u64(j, "snapshots", p->snapshots);
	kl_json_u64(j, "trees", p->trees);
	kl_json_u64(j, "blobs_used", p->blobs_used);
	kl_json_u64(j, "packs", p->packs);
	kl_json_u64(j, "bytes", p->bytes);
	kl_json_u64(j, "packs_unused", p->packs_unused);
	kl_json_u64(j, "bytes_unused", p->bytes_unused);
	kl_json_u64(j, "packs_repacked", p->packs_repack);
	kl_json_u64(j, "bytes_repacked", p->bytes_repack);
	kl_json_u64(j, "blobs_copied", p->blobs_copied);
	kl_json_u64(j, "bytes_copied", p->bytes_copied);
	kl_json_u64(j, "packs_written", p->packs_written);
	kl_json_u64(j, "bytes_written", p->bytes_written);
	kl_json_u64(j, "packs_kept", p->packs_kept);
	kl_json_u64(j, "bytes_kept", p->bytes_kept);
	kl_json_u64(j, "unused_kept", p->unused_kept);
	kl_json_u64(j, "packs_unknown", p->packs_unknown);
	kl_json_u64(j, "packs_quarantined", p->packs_quarantined);
	kl_json_u64(j, "index_deleted", p->index_deleted);
	kl_json_u64(j, "index_written", p->index_written);
	kl_json_u64(j, "records", p->records);
	kl_json_u64(j, "removed", p->removed);
	kl_json_u64(j, "remove_failed", p->remove_failed);
	kl_json_obj_end(j);
}

static void
report_text(const struct cli *c, const struct kl_prune_report *p)
{
	char a[32], b[32], d[32];
	const char *would = c->dry_run ? "would be " : "";

	size_text(a, sizeof(a), p->bytes);
	printf("%llu snapshots use %llu blobs in %llu trees; the repository "
	    "holds %llu packs (%s)\n", (unsigned long long)p->snapshots,
	    (unsigned long long)p->blobs_used, (unsigned long long)p->trees,
	    (unsigned long long)p->packs, a);
	size_text(a, sizeof(a), p->bytes_unused);
	printf("unused packs %sdeleted: %llu (%s)\n", would,
	    (unsigned long long)p->packs_unused, a);
	size_text(a, sizeof(a), p->bytes_repack);
	size_text(b, sizeof(b), p->bytes_copied);
	size_text(d, sizeof(d), p->bytes_written);
	if (c->dry_run)
		printf("packs that would be repacked: %llu (%s); blobs to "
		    "copy: %llu\n", (unsigned long long)p->packs_repack, a,
		    (unsigned long long)p->blobs_copied);
	else
		printf("packs repacked: %llu (%s); %llu blobs (%s) copied "
		    "into %llu new packs (%s)\n",
		    (unsigned long long)p->packs_repack, a,
		    (unsigned long long)p->blobs_copied, b,
		    (unsigned long long)p->packs_written, d);
	size_text(a, sizeof(a), p->bytes_kept);
	size_text(b, sizeof(b), p->unused_kept);
	printf("packs kept: %llu (%s), of which %s unused\n",
	    (unsigned long long)p->packs_kept, a, b);
	if (p->packs_unknown > 0 || p->packs_quarantined > 0)
		printf("left alone: %llu packs whose header does not read, "
		    "%llu quarantined (kluis check names them)\n",
		    (unsigned long long)p->packs_unknown,
		    (unsigned long long)p->packs_quarantined);
	printf("index files %sdeleted: %llu, of which %llu %swritten again "
	    "without the deleted packs\n", would,
	    (unsigned long long)p->index_deleted,
	    (unsigned long long)p->index_written, c->dry_run ? "would be " :
	    "");
	if (c->dry_run || p->removed == 0)
		return;
	if (served(c))
		printf("the server moved the %llu deleted files to its trash: "
		    "they stay on its disk for its --delete-delay (default 14 "
		    "days), and kluis-server undelete can bring them back\n",
		    (unsigned long long)p->removed);
	else
		printf("the %llu deleted files are gone at once (a local "
		    "repository has no delayed deletion)\n",
		    (unsigned long long)p->removed);
}

/* The report: into j, or (j NULL) as a document on stdout; or text. */
static void
report_print(const struct cli *c, struct kl_json *j,
    const struct kl_prune_report *p)
{
	struct kl_json own;

	if (c->json && j != NULL) {
		report_json(c, j, p);
	} else if (c->json) {
		kl_json_init(&own, stdout);
		report_json(c, &own, p);
		putchar('\n');
	} else if (!c->quiet)
		report_text(c, p);
}

static void
prune_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct cli_progress_state s = { phase, done, total,
	    strcmp(phase, "copy") == 0 ? "blobs" : strcmp(phase, "delete") ==
	    0 ? "files" : strcmp(phase, "packs") == 0 ? "packs" : "read", 0,
	    0, total > 0 && done >= total };

	cli_progress_update(arg, &s);
}

int
cli_prune_run(struct cli *c, struct kl_repo *r, struct kl_json *j,
    const struct kl_id *skip, size_t nskip)
{
	struct kl_prune_report rep;
	struct kl_prune_opts o;
	struct cli_progress g;
	struct kl_error err;
	int rc;

	memset(&o, 0, sizeof(o));
	kl_error_clear(&err);
	if ((rc = max_unused_parse(c, &o.max_unused_x100)) != EXIT_OK) {
		if (j != NULL)	/* forget checks it before: not reached */
			kl_json_null(j, NULL);
		return rc;
	}
	o.dry_run = c->dry_run;
	o.skip = skip;
	o.nskip = nskip;
	o.refused = refused;
	o.refused_arg = c;
	if (!c->dry_run && (rc = kl_repo_lock(r, 1, &err)) != KL_OK) {
		rc = cli_fail(c, rc, &err, "cannot take the repository's "
		    "exclusive lock");
		if (j != NULL)
			kl_json_null(j, NULL);
		return rc;
	}
	cli_progress_begin(&g, c, "prune");
	if (j != NULL)	/* inside forget's document: no status lines */
		g.json = 0;
	o.progress = prune_progress;
	o.progress_arg = &g;
	rc = kl_prune(r, &o, &rep, &err);
	cli_progress_end(&g);
	if (!c->dry_run)
		kl_repo_unlock(r);
	if (rc != KL_OK) {
		rc = cli_fail(c, rc, &err, "prune");
		if (j != NULL)
			kl_json_null(j, NULL);
		return rc;
	}
	report_print(c, j, &rep);
	return rep.remove_failed > 0 ? EXIT_FATAL : EXIT_OK;
}

int
cmd_prune(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	unsigned x;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)) != EXIT_OK ||
	    (rc = max_unused_parse(c, &x)) != EXIT_OK)
		return rc;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if (!kl_repo_is_full(r)) {
		kl_error_obj(&err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "prune needs a full key (a backup-only key cannot read the "
		    "snapshots, nor sign the record that tells other clients "
		    "what prune deleted)");
		rc = cli_fail(c, KL_E_PERM, &err, NULL);
	} else
		rc = cli_prune_run(c, r, NULL, NULL, 0);
	cli_close(c, r);
	return rc;
}

/* kluis unlock: the locks no client counts any more go (kluis/repo.h). */
int
cmd_unlock(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct kl_json j;
	size_t removed = 0, live = 0;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)) != EXIT_OK)
		return rc;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = kl_repo_locks_clean(r, &removed, &live, &err)) != KL_OK)
		rc = cli_fail(c, rc, &err, "unlock");
	else if (c->json) {
		kl_json_init(&j, stdout);
		kl_json_obj(&j, NULL);
		kl_json_u64(&j, "removed", removed);
		kl_json_u64(&j, "live", live);
		kl_json_obj_end(&j);
		putchar('\n');
	} else if (!c->quiet) {
		printf("removed %zu lock%s that no client counts any more",
		    removed, removed == 1 ? "" : "s");
		if (live > 0)
			printf("; %zu live lock%s stay%s (running operations: "
			    "each is stale 30 minutes after its last refresh)",
			    live, live == 1 ? "" : "s", live == 1 ? "s" : "");
		putchar('\n');
	}
	cli_close(c, r);
	return rc;
}
