/*
 * Keeping the catalog's snapshot table and file versions up to date with
 * the repository (docs/CATALOG.md "Updates").  The repository is the
 * truth: its snapshot list decides what the catalog shows, snapshots are
 * decrypted and authenticated before they are recorded, and the trees
 * behind the versions come through kl_repo_tree_load, which verifies them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "repo_internal.h"

/* The versions update's tree loader: the last load's error is kept for
 * skip_note, which names why a snapshot was left out. */
struct vload {
	struct kl_repo *r;
	struct kl_error e;
};

static int
tree_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct vload *v = arg;

	kl_error_clear(&v->e);
	return kl_repo_tree_load(v->r, id, out, &v->e);
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
    size_t n, struct kl_error *err)
{
	struct kl_error e;
	struct kl_snapshot s;
	size_t i, todo = 0, done = 0;
	int rc = KL_OK, has;
	uint8_t *want;

	if (n == 0)
		return KL_OK;
	if ((want = calloc(n, 1)) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n; i++) {
		if ((has = kl_cat_snap_has(c, &st[i].id, err)) < 0) {
			rc = has;
			goto out;
		}
		want[i] = !has;
		todo += want[i];
	}
	for (i = 0; i < n && rc == KL_OK; i++) {
		if (!want[i])
			continue;
		kl_error_clear(&e);
		rc = kl_repo_snapshot_load(r, &st[i].id, &s, &e);
		if (rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED ||
		    rc == KL_E_NOTFOUND || rc == KL_E_LIMIT) {
			/* skipped, reported, and tried again next time */
			repo_damage_note(r, &e);
			rc = KL_OK;
			continue;
		}
		if (rc != KL_OK) {
			if (err != NULL)
				*err = e;
			break;
		}
		rc = kl_cat_snap_add(c, &st[i].id, &s, st[i].recv, err);
		kl_snapshot_clear(&s);
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
    size_t *n, struct kl_error *err)
{
	struct kl_id *lid = NULL;
	int64_t *recv = NULL;
	struct snap_time *st = NULL;
	size_t i;
	int rc;

	*out = NULL;
	*ids = NULL;
	if ((rc = kl_repo_snapshot_times(r, &lid, &recv, n, err)) != KL_OK)
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
	struct vload *load;		/* the loader's last error */
	struct kl_id *id;
	char **why;
	size_t n, id_cap, why_cap;
};

static void
skip_note(void *arg, const struct kl_id *snap, int err, const char *why)
{
	struct skips *k = arg;

	if (KL_GROW(k->id, k->id_cap, k->n + 1) != KL_OK ||
	    KL_GROW(k->why, k->why_cap, k->n + 1) != KL_OK)
		return;
	/* a load error's detail is the loader's (kl_repo_tree_load) */
	if (why == NULL)
		why = kl_error_msg(&k->load->e, err);
	if ((k->why[k->n] = strdup(why)) == NULL)
		return;
	k->id[k->n++] = *snap;
	kl_error_clear(&k->load->e);
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
	struct kl_error e;
	size_t i;

	if (!s->skipped)
		return 0;
	for (i = 0; i < k->n; i++)
		if (kl_id_eq(&k->id[i], &s->id))
			why = k->why[i];
	kl_id_hex(&s->id, hex);
	repo_err_file(&e, KL_E_CORRUPT, KL_FT_SNAPSHOT, &s->id, "snapshots/%s "
	    "of host %s: left out of versions and find: %s", hex, s->host,
	    why);
	repo_damage_note(k->r, &e);
	return 0;
}

static int
versions_update(struct kl_repo *r, struct kl_cat *c, struct kl_error *err)
{
	struct kl_cat_update u;
	struct vload v;
	struct skips k;
	int rc;

	v.r = r;
	kl_error_clear(&v.e);
	memset(&k, 0, sizeof(k));
	k.r = r;
	k.load = &v;
	memset(&u, 0, sizeof(u));
	u.load = tree_load;
	u.load_arg = &v;
	u.progress = versions_progress;
	u.progress_arg = r;
	u.budget_factor = r->tree_budget;
	u.skipped = skip_note;
	u.skipped_arg = &k;
	if ((rc = kl_cat_versions_update(c, &u, err)) != KL_OK) {
		/* a loader's failure that stopped the update (the catalog
		 * said nothing of it), else the catalog's */
		if (v.e.code == rc && err != NULL && err->code != rc)
			*err = v.e;
	} else
		rc = kl_cat_snap_foreach(c, NULL, 0, skip_report, &k, err);
	skips_clear(&k);
	return rc;
}

struct gone {
	const struct kl_id *ids;	/* sorted */
	size_t n;
	int any;
};

static int
id_order(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

static int
gone_one(void *arg, const struct kl_cat_snap *s)
{
	struct gone *g = arg;

	if (g->n == 0 || bsearch(&s->id, g->ids, g->n, sizeof(*g->ids),
	    id_order) == NULL) {
		g->any = 1;
		return 1;	/* one is enough */
	}
	return 0;
}

/* 1 if the catalog knows a snapshot that ids[0, n) (sorted here) lacks,
 * vanished ones included; 0 if not; < 0 on a catalog error. */
static int
any_gone(struct kl_cat *c, struct kl_id *ids, size_t n, struct kl_error *err)
{
	struct gone g = { ids, n, 0 };
	int rc;

	if (n > 1)	/* none: ids may be NULL, which qsort must not get */
		qsort(ids, n, sizeof(*ids), id_order);
	rc = kl_cat_snap_foreach(c, NULL, 1, gone_one, &g, err);
	return rc < 0 ? rc : g.any;
}

int
kl_repo_catalog_sync(struct kl_repo *r, int versions, struct kl_error *err)
{
	struct snap_time *st = NULL;
	struct kl_id *ids = NULL;
	struct kl_cat *c;
	size_t n = 0;
	int rc;

	if (r->keys->kind != KL_KEY_FULL)
		return kl_error_set(err, KL_E_PERM, "this is a backup-only "
		    "key: it cannot read snapshots; use a full key");
	if ((rc = repo_cat(r, &c, err)) != KL_OK ||
	    (rc = snapshots_list(r, &st, &ids, &n, err)) != KL_OK)
		goto out;
	/* a snapshot gone may have been forgotten: the withdrawals that say
	 * so come with the index files */
	if ((rc = any_gone(c, ids, n, err)) > 0)
		rc = kl_repo_index_load(r, err);
	if (rc < 0)
		goto out;
	if ((rc = kl_cat_snap_mark_vanished(c, ids, n, NULL, err)) != KL_OK)
		goto out;
	if ((rc = snapshots_add(r, c, st, n, err)) != KL_OK || !versions)
		goto out;
	/* the trees come from the index: it must be current */
	if ((rc = kl_repo_index_load(r, err)) != KL_OK)
		goto out;
	rc = versions_update(r, c, err);
out:
	free(st);
	free(ids);
	return rc;
}

int
kl_repo_own_parent(struct kl_repo *r, const char *host, char *const *paths,
    size_t npaths, struct kl_id *snap, struct kl_id *root, int *intact,
    struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1];
	struct kl_cat *c;
	uint64_t size;
	int rc;

	if ((rc = repo_cat(r, &c, err)) != KL_OK ||
	    (rc = kl_cat_own_parent(c, host, paths, npaths, snap, root,
	    intact, err)) !=
	    KL_OK)
		return rc;
	/* the repository decides: a snapshot that is gone is no parent */
	kl_id_hex(snap, name);
	return r->be.ops->stat(r->be.ctx, KL_FT_SNAPSHOT, name, &size);
}

/* ---- which snapshot "latest" and --at mean ---- */

/* One snapshot kl_repo_snapshot_pick may take. */
struct cand {
	struct kl_id id;
	int64_t time, time_s;
	uint32_t time_ns;
	int local;			/* of q->local_host */
};

struct picker {
	const struct kl_snap_query *q;
	int use_paths;
	struct cand *v;
	size_t n, cap;
	char host[2][KL_NAME_MAX + 1];	/* the first two hosts met */
	int hosts;
	int locals;			/* candidates of q->local_host */
	/* rollback: the pick, and the newest vanished one after it */
	const char *paths;
	struct kl_snap_pick *out;
};

/* 1 if snapshot path s and the requested path p are on one line: one is
 * the other or lies below it. */
static int
path_related(const char *s, size_t sl, const char *p)
{
	size_t pl = strlen(p);

	if ((sl == 1 && s[0] == '/') || strcmp(p, "/") == 0)
		return 1;
	if (sl <= pl)
		return strncmp(s, p, sl) == 0 && (p[sl] == '/' || p[sl] == 0);
	return strncmp(s, p, pl) == 0 && s[pl] == '/';
}

/* 1 if every requested path is related to one of the snapshot's paths
 * ('\n'-separated). */
static int
paths_cover(const char *spaths, const char *const *want, size_t n)
{
	const char *p, *e;
	size_t i;
	int ok;

	for (i = 0; i < n; i++) {
		for (p = spaths, ok = 0; *p && !ok; p = *e ? e + 1 : e) {
			e = p + strcspn(p, "\n");
			ok = path_related(p, (size_t)(e - p), want[i]);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

static int
cand_add(void *arg, const struct kl_cat_snap *s)
{
	struct picker *k = arg;
	int64_t t = kl_cat_snap_time(s);

	if (t > k->q->at || (k->use_paths && !paths_cover(s->paths,
	    k->q->paths, k->q->npaths)))
		return 0;
	if (k->hosts < 2 && (k->hosts == 0 || strcmp(k->host[0], s->host)))
		snprintf(k->host[k->hosts++], sizeof(k->host[0]), "%s",
		    s->host);
	if (KL_GROW(k->v, k->cap, k->n + 1) != KL_OK)
		return KL_E_NOMEM;
	k->v[k->n].id = s->id;
	k->v[k->n].time = t;
	k->v[k->n].time_s = s->time_s;
	k->v[k->n].time_ns = s->time_ns;
	k->v[k->n].local = k->q->local_host != NULL &&
	    strcmp(s->host, k->q->local_host) == 0;
	k->locals += k->v[k->n++].local;
	return 0;
}

/* Keeps the candidates of the local host only. */
static void
cand_local(struct picker *k)
{
	size_t i, w = 0;

	for (i = 0; i < k->n; i++)
		if (k->v[i].local)
			k->v[w++] = k->v[i];
	k->n = w;
	snprintf(k->host[0], sizeof(k->host[0]), "%s", k->q->local_host);
	k->hosts = 1;
	k->out->by_local_host = 1;
}

/* Newest first: effective time, the snapshot's own time, id. */
static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	if (x->time_s != y->time_s)
		return x->time_s > y->time_s ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns > y->time_ns ? -1 : 1;
	return -kl_id_cmp(&x->id, &y->id);
}

/* A vanished snapshot of the pick's host and paths, newer than it. */
static int
gone_find(void *arg, const struct kl_cat_snap *s)
{
	struct picker *k = arg;
	struct kl_snap_pick *o = k->out;
	int64_t t = kl_cat_snap_time(s);

	if (!s->vanished || t <= o->time || t > k->q->at ||
	    strcmp(s->paths, k->paths) != 0 || (o->gone && t <= o->gone_time))
		return 0;
	o->gone = 1;
	o->gone_id = s->id;
	o->gone_time = t;
	return 0;
}

/* The paths of s, '\n'-joined as the catalog keeps them; *out malloc'd. */
static int
paths_join(const struct kl_snapshot *s, char **out)
{
	size_t i, len = 1;
	char *p;

	for (i = 0; i < s->npaths; i++)
		len += strlen(s->paths[i]) + 1;
	if ((*out = p = malloc(len)) == NULL)
		return KL_E_NOMEM;
	*p = '\0';
	for (i = 0; i < s->npaths; i++) {
		if (i > 0)
			*p++ = '\n';
		len = strlen(s->paths[i]);
		memcpy(p, s->paths[i], len + 1);
		p += len;
	}
	return KL_OK;
}

/* Snapshot s, read from the repository, is what the catalog said. */
static int
pick_verify(struct picker *k, const struct kl_snapshot *s,
    const struct cand *c, char **paths, struct kl_error *err)
{
	char hex[KL_ID_HEX_LEN + 1];
	int rc;

	if ((rc = paths_join(s, paths)) != KL_OK)
		return rc;
	if (strcmp(s->hostname, k->q->host ? k->q->host : k->host[0]) == 0 &&
	    (!k->use_paths || paths_cover(*paths, k->q->paths, k->q->npaths)))
		return KL_OK;
	kl_id_hex(&c->id, hex);
	return kl_error_obj(err, KL_E_CORRUPT, KL_ABOUT_CATALOG, &c->id, NULL,
	    "snapshot %.8s is not what this client's catalog says (another "
	    "host or other paths): the catalog was altered; run kluis "
	    "catalog rebuild", hex);
}

/* The newest candidate that reads from the repository. */
static int
pick_first(struct kl_repo *r, struct picker *k, char **paths,
    struct kl_error *err)
{
	struct kl_snapshot s;
	struct kl_error e;
	size_t i;
	int rc = KL_E_NOTFOUND;

	for (i = 0; i < k->n; i++) {
		kl_error_clear(&e);
		rc = kl_repo_snapshot_load(r, &k->v[i].id, &s, &e);
		if (rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED ||
		    rc == KL_E_NOTFOUND || rc == KL_E_LIMIT) {
			repo_damage_note(r, &e);
			rc = KL_E_NOTFOUND;
			continue;
		}
		if (rc != KL_OK) {
			if (err != NULL)
				*err = e;
			return rc;
		}
		rc = pick_verify(k, &s, &k->v[i], paths, err);
		if (rc == KL_OK) {
			k->out->id = k->v[i].id;
			k->out->time = k->v[i].time;
			snprintf(k->out->host, sizeof(k->out->host), "%s",
			    s.hostname);
		}
		kl_snapshot_clear(&s);
		return rc;
	}
	return kl_error_obj(err, rc, KL_ABOUT_SNAPSHOT, NULL, NULL,
	    "no intact snapshot qualifies");
}

static int
cand_list(struct kl_cat *c, struct picker *k, struct kl_error *err)
{
	k->n = 0;
	k->hosts = 0;
	k->locals = 0;
	return kl_cat_snap_foreach(c, k->q->host, 0, cand_add, k, err);
}

static int
pick_candidates(struct kl_cat *c, struct picker *k, struct kl_error *err)
{
	int rc;

	k->use_paths = k->q->npaths > 0;
	if ((rc = cand_list(c, k, err)) != KL_OK)
		return rc;
	if (k->n == 0 && k->use_paths && k->q->paths_narrow) {
		k->use_paths = 0;
		if ((rc = cand_list(c, k, err)) != KL_OK)
			return rc;
	}
	if (k->q->host == NULL && k->hosts > 1 && k->locals > 0)
		cand_local(k);
	if (k->q->host == NULL && k->hosts > 1)
		return kl_error_set(err, KL_E_INVAL, "snapshots of several "
		    "hosts (%s, %s) qualify: choose one with --host",
		    k->host[0], k->host[1]);
	if (k->n == 0)
		return kl_error_obj(err, KL_E_NOTFOUND, KL_ABOUT_SNAPSHOT,
		    NULL, NULL, "no snapshot%s%s%s qualifies", k->q->host ?
		    " of host " : "", k->q->host ? k->q->host : "",
		    k->use_paths ? " holding the paths asked for" : "");
	if (k->n > 1)
		qsort(k->v, k->n, sizeof(*k->v), cand_cmp);
	return KL_OK;
}

int
kl_repo_snapshot_pick(struct kl_repo *r, const struct kl_snap_query *q,
    struct kl_snap_pick *out, struct kl_error *err)
{
	struct picker k;
	struct kl_cat *c;
	char *paths = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	k.q = q;
	k.out = out;
	if ((rc = kl_repo_catalog_sync(r, 0, err)) != KL_OK ||
	    (rc = repo_cat(r, &c, err)) != KL_OK ||
	    (rc = pick_candidates(c, &k, err)) != KL_OK)
		goto out;
	if ((rc = pick_first(r, &k, &paths, err)) != KL_OK)
		goto out;
	k.paths = paths;
	rc = kl_cat_snap_foreach(c, out->host, 1, gone_find, &k, err);
out:
	if (rc != KL_OK)
		memset(out, 0, sizeof(*out));
	free(paths);
	free(k.v);
	return rc;
}
