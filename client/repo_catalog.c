/*
 * Keeping the catalog's snapshot table and file versions up to date with
 * the repository (docs/CATALOG.md "Updates").  The repository is the
 * truth: its snapshot list decides what the catalog shows, snapshots are
 * decrypted and authenticated before they are recorded, and the trees
 * behind the versions come through kl_repo_tree_load, which verifies them.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "repo_internal.h"

static int
tree_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	return kl_repo_tree_load(arg, id, out);
}

static void
versions_progress(void *arg, uint64_t done, uint64_t total)
{
	struct kl_repo *r = arg;

	if (r->progress != NULL)
		r->progress(r->progress_arg, "versions", done, total);
}

struct snap_time {
	struct kl_id id;
	int64_t recv;
};

static int
snap_time_cmp(const void *a, const void *b)
{
	return kl_id_cmp(&((const struct snap_time *)a)->id,
	    &((const struct snap_time *)b)->id);
}

/* Records the snapshots the catalog does not have yet, with the server's
 * receive time of each. */
static int
snapshots_add(struct kl_repo *r, struct kl_cat *c, const struct snap_time *st,
    size_t n)
{
	struct kl_snapshot s;
	size_t i, todo = 0, done = 0;
	int rc = KL_OK, has;
	uint8_t *want;

	if (n == 0)
		return KL_OK;
	if ((want = calloc(n, 1)) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n; i++) {
		if ((has = kl_cat_snap_has(c, &st[i].id)) < 0) {
			rc = has;
			goto out;
		}
		want[i] = !has;
		todo += want[i];
	}
	for (i = 0; i < n && rc == KL_OK; i++) {
		if (!want[i])
			continue;
		rc = kl_repo_snapshot_load(r, &st[i].id, &s);
		if (rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED ||
		    rc == KL_E_NOTFOUND || rc == KL_E_LIMIT) {
			/* skipped, reported, and tried again next time */
			repo_damage_note(r);
			rc = KL_OK;
			continue;
		}
		if (rc != KL_OK)
			break;
		rc = kl_cat_snap_add(c, &st[i].id, &s, st[i].recv);
		kl_snapshot_clear(&s);
		if (rc != KL_OK)
			repo_seterr(r, "%s", kl_cat_errmsg(c));
		if (r->progress != NULL && todo >= 8)
			r->progress(r->progress_arg, "snapshots", ++done, todo);
	}
out:
	free(want);
	return rc;
}

/* The repository's snapshots with their receive times, sorted by id; and
 * the bare ids in the same order. */
static int
snapshots_list(struct kl_repo *r, struct snap_time **out, struct kl_id **ids,
    size_t *n)
{
	struct kl_id *lid = NULL;
	int64_t *recv = NULL;
	struct snap_time *st = NULL;
	size_t i;
	int rc;

	*out = NULL;
	*ids = NULL;
	if ((rc = kl_repo_snapshot_times(r, &lid, &recv, n)) != KL_OK)
		return rc;
	if (*n > 0 && (st = calloc(*n, sizeof(*st))) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	for (i = 0; i < *n; i++) {
		st[i].id = lid[i];
		st[i].recv = recv[i];
	}
	if (*n > 1)
		qsort(st, *n, sizeof(*st), snap_time_cmp);
	for (i = 0; i < *n; i++)
		lid[i] = st[i].id;
	*out = st;
	*ids = lid;
	lid = NULL;
out:
	free(lid);
	free(recv);
	return rc;
}

/* Snapshots the versions update left out now, with the reason. */
struct skips {
	struct kl_repo *r;
	struct kl_id *id;
	char **why;
	size_t n, cap;
};

static void
skip_note(void *arg, const struct kl_id *snap, int err, const char *why)
{
	struct skips *k = arg;
	struct kl_id *ni;
	char **nw;
	size_t cap;

	if (k->n == k->cap) {
		cap = k->cap ? k->cap * 2 : 8;
		if ((ni = realloc(k->id, cap * sizeof(*ni))) == NULL)
			return;
		k->id = ni;
		if ((nw = realloc(k->why, cap * sizeof(*nw))) == NULL)
			return;
		k->why = nw;
		k->cap = cap;
	}
	/* a load error's detail is the loader's (kl_repo_tree_load) */
	if (why == NULL)
		why = *k->r->errmsg ? k->r->errmsg : kl_strerror(err);
	if ((k->why[k->n] = strdup(why)) == NULL)
		return;
	k->id[k->n++] = *snap;
	kl_repo_clear_err(k->r);
}

static void
skips_clear(struct skips *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->why[i]);
	free(k->why);
	free(k->id);
}

/* Every skipped snapshot still in the repository is reported as damage,
 * with the reason if it was skipped now. */
static int
skip_report(void *arg, const struct kl_cat_snap *s)
{
	struct skips *k = arg;
	const char *why = "its trees could not be walked when the catalog "
	    "recorded it (kluis check names the damage; kluis catalog "
	    "rebuild tries again)";
	char hex[KL_ID_HEX_LEN + 1];
	size_t i;

	if (!s->skipped)
		return 0;
	for (i = 0; i < k->n; i++)
		if (kl_id_eq(&k->id[i], &s->id))
			why = k->why[i];
	kl_id_hex(&s->id, hex);
	repo_seterr(k->r, "snapshots/%s of host %s: left out of versions and "
	    "find: %s", hex, s->host, why);
	repo_damage_note(k->r);
	return 0;
}

static int
versions_update(struct kl_repo *r, struct kl_cat *c)
{
	struct kl_cat_update u;
	struct skips k;
	int rc;

	memset(&k, 0, sizeof(k));
	k.r = r;
	memset(&u, 0, sizeof(u));
	u.load = tree_load;
	u.load_arg = r;
	u.progress = versions_progress;
	u.progress_arg = r;
	u.budget_factor = r->tree_budget;
	u.skipped = skip_note;
	u.skipped_arg = &k;
	if ((rc = kl_cat_versions_update(c, &u)) != KL_OK) {
		if (*r->errmsg == '\0')
			repo_seterr(r, "%s", kl_cat_errmsg(c));
	} else if ((rc = kl_cat_snap_foreach(c, NULL, 0, skip_report, &k)) !=
	    KL_OK)
		repo_seterr(r, "%s", kl_cat_errmsg(c));
	skips_clear(&k);
	return rc;
}

int
kl_repo_catalog_sync(struct kl_repo *r, int versions)
{
	struct snap_time *st = NULL;
	struct kl_id *ids = NULL;
	struct kl_cat *c;
	size_t n = 0;
	int rc;

	if (r->keys->kind != KL_KEY_FULL) {
		repo_seterr(r, "this is a backup-only key: it cannot read "
		    "snapshots; use a full key");
		return KL_E_PERM;
	}
	if ((rc = repo_cat(r, &c)) != KL_OK ||
	    (rc = snapshots_list(r, &st, &ids, &n)) != KL_OK)
		goto out;
	if ((rc = kl_cat_snap_mark_vanished(c, ids, n, NULL)) != KL_OK) {
		repo_seterr(r, "%s", kl_cat_errmsg(c));
		goto out;
	}
	if ((rc = snapshots_add(r, c, st, n)) != KL_OK || !versions)
		goto out;
	/* the trees come from the index: it must be current */
	if ((rc = kl_repo_index_load(r)) != KL_OK)
		goto out;
	kl_repo_clear_err(r);
	rc = versions_update(r, c);
out:
	free(st);
	free(ids);
	return rc;
}

int
kl_repo_own_parent(struct kl_repo *r, const char *host, char *const *paths,
    size_t npaths, struct kl_id *snap, struct kl_id *root, int *intact)
{
	char name[KL_ID_HEX_LEN + 1];
	struct kl_cat *c;
	uint64_t size;
	int rc;

	if ((rc = repo_cat(r, &c)) != KL_OK ||
	    (rc = kl_cat_own_parent(c, host, paths, npaths, snap, root,
	    intact)) !=
	    KL_OK)
		return rc;
	/* the repository decides: a snapshot that is gone is no parent */
	kl_id_hex(snap, name);
	return r->be.ops->stat(r->be.ctx, KL_FT_SNAPSHOT, name, &size);
}
