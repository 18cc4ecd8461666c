/*
 * kluis rewrite (docs/CLI.md "rewrite"): snapshots written again without
 * the paths that match --exclude, and with --forget the originals
 * forgotten - the first half of an erasure request (RUNBOOK "Erasure
 * request"); prune and the server's purge are the second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/forget.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "kluis/rewrite.h"
#include "cli.h"

struct rwc {
	struct cli *c;
	struct kl_repo *r;
	struct kl_id *ids;
	size_t n;
	struct kl_rewrite_result *res;
	size_t rewritten, forgotten, failed;
	size_t snap_failed;	/* snapshots that could not be rewritten */
	struct kl_error err;	/* the command's: printed once */
};

/* The snapshots to rewrite: those named, or all. */
static int
targets(struct rwc *w)
{
	int a, rc;

	if (w->c->nargs == 0) {
		rc = kl_repo_snapshot_ids(w->r, &w->ids, &w->n, &w->err);
		if (rc != KL_OK)
			return cli_fail(w->c, rc, &w->err, "listing snapshots");
		return EXIT_OK;
	}
	if ((w->ids = calloc((size_t)w->c->nargs, sizeof(*w->ids))) == NULL)
		return cli_fail(w->c, KL_E_NOMEM, NULL, NULL);
	for (a = 0; a < w->c->nargs; a++) {
		if ((rc = cli_snapshot(w->c, w->r, w->c->args[a], NULL, 0,
		    &w->ids[w->n], NULL)) != EXIT_OK)
			return rc;
		w->n++;
	}
	return EXIT_OK;
}

static void
result_json(struct kl_json *j, const struct kl_rewrite_result *x)
{
	size_t i;

	kl_json_obj(j, NULL);
	kl_json_id(j, "original", &x->original);
	if (kl_id_is_zero(&x->rewritten))
		kl_json_null(j, "rewritten");
	else
		kl_json_id(j, "rewritten", &x->rewritten);
	kl_json_bool(j, "changed", x->changed);
	kl_json_u64(j, "files", x->files);
	kl_json_u64(j, "dirs", x->dirs);
	kl_json_u64(j, "bytes", x->bytes);
	kl_json_arr(j, "paths");
	for (i = 0; i < x->npaths; i++)
		kl_json_text(j, NULL, x->paths[i]);
	kl_json_arr_end(j);
	kl_json_obj_end(j);
}

static void
report_json(const struct rwc *w)
{
	struct kl_json j;
	size_t i;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_bool(&j, "dry_run", w->c->dry_run);
	kl_json_arr(&j, "snapshots");
	for (i = 0; i < w->n; i++)
		result_json(&j, &w->res[i]);
	kl_json_arr_end(&j);
	kl_json_u64(&j, "rewritten", w->rewritten);
	kl_json_u64(&j, "forgotten", w->forgotten);
	kl_json_u64(&j, "failed", w->failed);
	kl_json_u64(&j, "not_rewritten", w->snap_failed);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
result_text(const struct cli *c, const struct kl_rewrite_result *x)
{
	char a[KL_ID_HEX_LEN + 1], b[KL_ID_HEX_LEN + 1];
	size_t i;

	kl_id_hex(&x->original, a);
	if (!x->changed) {
		printf("%.8s: nothing matches, unchanged\n", a);
		return;
	}
	if (c->dry_run)
		printf("%.8s: would leave out", a);
	else {
		kl_id_hex(&x->rewritten, b);
		printf("%.8s -> %.8s: left out", a, b);
	}
	printf(" %llu files, %llu directories, %llu bytes:\n",
	    (unsigned long long)x->files, (unsigned long long)x->dirs,
	    (unsigned long long)x->bytes);
	for (i = 0; i < x->npaths; i++) {
		printf("  ");
		cli_puts(stdout, x->paths[i]);
		putchar('\n');
	}
}

static void
refused(void *arg, const char *hex, const char *why)
{
	cli_err(arg, "snapshot %.8s was not removed: %s", hex, why);
}

/* --forget: the originals of the snapshots rewritten. */
static int
originals_forget(struct rwc *w)
{
	struct kl_id *ids;
	size_t i, k = 0;
	int rc;

	if ((ids = calloc(w->n ? w->n : 1, sizeof(*ids))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < w->n; i++)
		if (!kl_id_is_zero(&w->res[i].rewritten))
			ids[k++] = w->res[i].original;
	rc = kl_forget_snapshots(w->r, ids, k, refused, w->c, &w->forgotten,
	    &w->failed, &w->err);
	free(ids);
	return rc;
}

static int
rewrite_all(struct rwc *w)
{
	struct kl_rewrite_opts o;
	struct kl_error one;	/* one snapshot's: a failure may be its own */
	size_t i;
	int rc = KL_OK;

	memset(&o, 0, sizeof(o));
	o.excludes = (const char *const *)w->c->excludes.v;
	o.nexcludes = w->c->excludes.n;
	o.dry_run = w->c->dry_run;
	if ((w->res = calloc(w->n ? w->n : 1, sizeof(*w->res))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < w->n && rc == KL_OK; i++) {
		kl_error_clear(&one);
		rc = kl_rewrite_snapshot(w->r, &w->ids[i], &o, &w->res[i],
		    &one);
		if (rc != KL_OK && rc != KL_E_NOMEM && rc != KL_E_CONN &&
		    rc != KL_E_PERM && rc != KL_E_NOSPACE) {
			/* this snapshot only: named, the others go on */
			(void)cli_fail(w->c, rc, &one, "rewrite");
			w->res[i].changed = 0;
			w->snap_failed++;
			rc = KL_OK;
		} else if (rc != KL_OK) {
			w->err = one;	/* the run's: rewrite_run tells it */
		} else if (!kl_id_is_zero(&w->res[i].rewritten)) {
			w->rewritten++;
		}
		if (rc == KL_OK)
			rc = kl_repo_lock_refresh(w->r, &w->err);
	}
	if (rc == KL_OK && w->c->forget && !w->c->dry_run)
		rc = originals_forget(w);
	return rc;
}

static void
report(struct rwc *w)
{
	size_t i;

	if (w->c->json) {
		report_json(w);
		return;
	}
	if (w->c->quiet)
		return;
	for (i = 0; i < w->n; i++)
		result_text(w->c, &w->res[i]);
	if (!w->c->dry_run)
		printf("rewrote %zu snapshots%s", w->rewritten,
		    w->c->forget ? "" : "\n");
	if (!w->c->dry_run && w->c->forget)
		printf(", forgot %zu originals\n", w->forgotten);
}

static int
rewrite_run(struct rwc *w)
{
	int rc;

	if ((rc = targets(w)) != EXIT_OK)
		return rc;
	if (!w->c->dry_run && (rc = kl_repo_lock(w->r, 1, &w->err)) != KL_OK)
		return cli_fail(w->c, rc, &w->err, "cannot take the "
		    "repository's exclusive lock");
	rc = rewrite_all(w);
	if (!w->c->dry_run)
		kl_repo_unlock(w->r);
	if (rc != KL_OK)
		return cli_fail(w->c, rc, &w->err, "rewrite");
	report(w);
	if (!w->c->dry_run && (rc = cli_catalog_sync(w->c, w->r, 0)) !=
	    EXIT_OK)
		return rc;
	return w->failed > 0 || w->snap_failed > 0 ? EXIT_FATAL : EXIT_OK;
}

int
cmd_rewrite(struct cli *c)
{
	struct buf *keep[CLI_LIST_MAX];
	struct rwc w;
	size_t i, nkeep = 0;
	int rc = EXIT_OK;

	memset(&w, 0, sizeof(w));
	w.c = c;
	kl_error_clear(&w.err);
	for (i = 0; i < c->exclude_files.n && rc == EXIT_OK; i++)
		if ((rc = cli_exclude_file_load(c, c->exclude_files.v[i],
		    &keep[nkeep])) == EXIT_OK)
			nkeep++;
	if (rc == EXIT_OK && c->excludes.n == 0) {
		cli_err(c, "rewrite needs --exclude (or --exclude-file): the "
		    "paths to leave out");
		rc = EXIT_USAGE;
	}
	if (rc == EXIT_OK && (rc = cli_open(c, &w.r)) == EXIT_OK) {
		if (!kl_repo_is_full(w.r)) {
			kl_error_obj(&w.err, KL_E_PERM, KL_ABOUT_KEY, NULL,
			    NULL, "rewrite needs a full key (a backup-only key "
			    "cannot read the snapshots it would rewrite)");
			rc = cli_fail(c, KL_E_PERM, &w.err, NULL);
		} else
			rc = rewrite_run(&w);
		cli_close(c, w.r);
	}
	for (i = 0; w.res != NULL && i < w.n; i++)
		kl_rewrite_result_clear(&w.res[i]);
	free(w.res);
	free(w.ids);
	for (i = 0; i < nkeep; i++)
		buf_free(keep[i]);
	return rc;
}
