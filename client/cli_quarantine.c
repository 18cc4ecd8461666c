/*
 * kluis quarantine ID... (docs/CLI.md "quarantine"): withdraws index
 * files and packs that `kluis check` names as bogus (or as packs none of
 * whose blobs verify).  The withdrawal is an index file of its own,
 * signed with the full key (FORMAT.md §9, §16): every client leaves the
 * withdrawn files out from then on, the files stay in the repository as
 * evidence (an append-only server will not delete them), and nobody
 * without a full key can withdraw anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "cli.h"

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

/* The files of the repository that can be withdrawn. */
struct files {
	struct kl_id *ix, *packs;
	size_t nix, npacks;
};

/* How many of ids[0, n) hex is a prefix of; the first into *out. */
static size_t
prefix_hits(const char *hex, const struct kl_id *ids, size_t n,
    struct kl_id *out)
{
	char h[KL_ID_HEX_LEN + 1];
	size_t i, len = strlen(hex), hits = 0;

	for (i = 0; i < n; i++) {
		kl_id_hex(&ids[i], h);
		if (strncmp(h, hex, len) == 0 && hits++ == 0)
			*out = ids[i];
	}
	return hits;
}

/* The index file or pack that spec (64 hex digits, or a unique prefix of
 * >= 8; or "index/..." and "data/xx/..." as check prints them) names. */
static int
file_resolve(const struct cli *c, const char *spec, const struct files *f,
    struct kl_id *out)
{
	const char *hex = strrchr(spec, '/') ? strrchr(spec, '/') + 1 : spec;
	size_t len = strlen(hex), hits;

	if (len < 8 || len > KL_ID_HEX_LEN || strspn(hex,
	    "0123456789abcdef") != len) {
		cli_err(c, "\"%s\" is not the id of an index file or a pack "
		    "(at least 8 lowercase hex digits)", spec);
		return EXIT_USAGE;
	}
	hits = prefix_hits(hex, f->ix, f->nix, out) +
	    prefix_hits(hex, f->packs, f->npacks, out);
	if (hits == 1)
		return EXIT_OK;
	cli_err(c, hits == 0 ? "no index file or pack %s... in the "
	    "repository" : "%s... matches several files: give more digits",
	    hex);
	return EXIT_FATAL;
}

/* The sorted, distinct ids the arguments name into *w. */
static int
targets(const struct cli *c, struct kl_repo *r, struct kl_index *w,
    struct kl_error *err)
{
	struct files f;
	size_t i, k;
	int rc;

	memset(&f, 0, sizeof(f));
	if ((rc = kl_repo_list_ids(r, KL_FT_INDEX, &f.ix, &f.nix, err)) !=
	    KL_OK || (rc = kl_repo_list_ids(r, KL_FT_DATA, &f.packs,
	    &f.npacks, err)) != KL_OK) {
		free(f.ix);
		return cli_fail(c, rc, err, "listing the repository");
	}
	rc = EXIT_OK;
	if ((w->withdrawn = calloc((size_t)c->nargs, sizeof(*w->withdrawn))) ==
	    NULL)
		rc = EXIT_FATAL;
	for (i = 0; i < (size_t)c->nargs && rc == EXIT_OK; i++)
		rc = file_resolve(c, c->args[i], &f,
		    &w->withdrawn[w->nwithdrawn++]);
	free(f.ix);
	free(f.packs);
	if (rc != EXIT_OK)
		return rc;
	qsort(w->withdrawn, w->nwithdrawn, sizeof(*w->withdrawn), id_cmp);
	for (i = k = 0; i < w->nwithdrawn; i++)	/* named twice: once */
		if (k == 0 || !kl_id_eq(&w->withdrawn[k - 1], &w->withdrawn[i]))
			w->withdrawn[k++] = w->withdrawn[i];
	w->nwithdrawn = k;
	return EXIT_OK;
}

static void
report(const struct cli *c, const struct kl_index *w, const struct kl_id *id)
{
	char hex[KL_ID_HEX_LEN + 1];
	struct kl_json j;
	size_t i;

	if (c->json) {
		kl_json_init(&j, stdout);
		kl_json_obj(&j, NULL);
		kl_json_id(&j, "withdrawal", id);
		kl_json_arr(&j, "withdrawn");
		for (i = 0; i < w->nwithdrawn; i++)
			kl_json_id(&j, NULL, &w->withdrawn[i]);
		kl_json_arr_end(&j);
		kl_json_obj_end(&j);
		putchar('\n');
		return;
	}
	for (i = 0; i < w->nwithdrawn; i++) {
		kl_id_hex(&w->withdrawn[i], hex);
		printf("withdrawn: %s\n", hex);
	}
	kl_id_hex(id, hex);
	printf("signed withdrawal written as index/%s; every client skips "
	    "the withdrawn files from its next command on\n", hex);
}

static int
quarantine(struct cli *c, struct kl_repo *r, struct kl_error *err)
{
	struct kl_index w;
	struct kl_id id;
	int rc;

	memset(&w, 0, sizeof(w));
	if (!kl_repo_is_full(r)) {
		kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "withdrawing files needs a full key (a backup-only key "
		    "could otherwise hide other hosts' data)");
		return cli_fail(c, KL_E_PERM, err, NULL);
	}
	if ((rc = targets(c, r, &w, err)) != EXIT_OK)
		goto out;
	if ((rc = kl_repo_index_write(r, &w, &id, err)) != KL_OK) {
		rc = cli_fail(c, rc, err, "writing the withdrawal");
		goto out;
	}
	report(c, &w, &id);
	rc = EXIT_OK;
out:
	kl_index_clear(&w);
	return rc;
}

int
cmd_quarantine(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 1, -1)) != EXIT_OK ||
	    (rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	rc = quarantine(c, r, &err);
	cli_close(c, r);
	return rc;
}
