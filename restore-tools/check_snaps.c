/*
 * Snapshots in kluis check: the repository's snapshots compared with what
 * this client's catalog knew (vanished ones, a rollback), then each opened
 * and recorded in the catalog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/repo.h"
#include "check_internal.h"

static void
fmt_utc(int64_t t, char *out, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == KL_CAT_TIME_NONE || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, cap, "at an unknown time");
	else
		strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int
snap_id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(&((const struct csnap *)a)->id,
	    &((const struct csnap *)b)->id);
}

static int
snap_time_cmp(const void *a, const void *b)
{
	const struct csnap *x = a, *y = b;

	if (x->time_s != y->time_s)
		return x->time_s < y->time_s ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

struct tamper {
	struct chk *k;
	int rc;
	int64_t newest_gone;
	struct kl_id gone_id;
	char gone_host[KL_NAME_MAX + 1];
};

/* A snapshot the catalog knows: is it still in the repository? */
static int
tamper_snap(void *arg, const struct kl_cat_snap *s)
{
	struct tamper *t = arg;
	struct chk *k = t->k;
	struct csnap key;
	char name[96], taken[40], recv[40];
	uint32_t fi;
	int64_t when;

	key.id = s->id;
	if (k->nsnaps > 0 && bsearch(&key, k->snaps, k->nsnaps,
	    sizeof(key), snap_id_cmp) != NULL)
		return 0;
	if (chk_withdrawn(k, &s->id))
		return 0;	/* forgotten by a full key (kluis forget) */
	obj_name("snapshots/", &s->id, name);
	fmt_utc(s->time_s, taken, sizeof(taken));
	fmt_utc(s->recv_s, recv, sizeof(recv));
	if ((t->rc = finding_new(k, KL_CHECK_VANISHED, name, &fi, "snapshot "
	    "of host %s taken %s (received %s), known to this client's "
	    "catalog, is gone from the repository", s->host, taken,
	    recv)) != KL_OK ||
	    (t->rc = chk_finding_snap(k, fi, &s->id)) != KL_OK)
		return t->rc;
	when = kl_cat_snap_time(s);
	if (kl_id_is_zero(&t->gone_id) || when > t->newest_gone) {
		t->newest_gone = when;
		t->gone_id = s->id;
		snprintf(t->gone_host, sizeof(t->gone_host), "%s", s->host);
	}
	return 0;
}

/*
 * Snapshots the catalog knew that are gone; and whether the repository
 * went back in time: its newest snapshot older than one the catalog saw.
 */
static int
tamper_phase(struct chk *k)
{
	struct tamper t;
	char hex[KL_ID_HEX_LEN + 1], a[40], b[40];
	int64_t newest = KL_CAT_TIME_NONE;
	size_t i;
	int rc;

	memset(&t, 0, sizeof(t));
	t.k = k;
	rc = kl_cat_snap_foreach(k->cat, NULL, 1, tamper_snap, &t, k->err);
	if (t.rc != KL_OK)
		return t.rc;
	if (rc != KL_OK)
		return kl_error_wrap(k->err, rc, "catalog");
	if (kl_id_is_zero(&t.gone_id))
		return KL_OK;
	for (i = 0; i < k->nsnaps; i++)
		if (newest == KL_CAT_TIME_NONE || k->snaps[i].recv_s > newest)
			newest = k->snaps[i].recv_s;
	if (newest != KL_CAT_TIME_NONE && newest >= t.newest_gone)
		return KL_OK;
	kl_id_hex(&t.gone_id, hex);
	fmt_utc(newest, a, sizeof(a));
	fmt_utc(t.newest_gone, b, sizeof(b));
	return finding_new(k, KL_CHECK_ROLLBACK, "repository", NULL, "%s%s, "
	    "but this client's catalog saw snapshot %.8s of host %s received "
	    "%s: the repository went back in time (put back from an older "
	    "copy, or its newest snapshots were deleted)", newest ==
	    KL_CAT_TIME_NONE ? "it has no snapshots" : "its newest snapshot "
	    "was received ", newest == KL_CAT_TIME_NONE ? "" : a, hex,
	    t.gone_host, b);
}

/* Opens one snapshot, and records it in the catalog if new there. */
static int
snap_open(struct chk *k, struct csnap *cs)
{
	struct kl_snapshot s;
	struct kl_error e;
	char name[96];
	uint32_t fi;
	int rc, has;

	kl_error_clear(&e);
	rc = kl_repo_snapshot_load(k->r, &cs->id, &s, &e);
	if (is_damage(rc)) {	/* a finding, not an error */
		obj_name("snapshots/", &cs->id, name);
		if ((rc = finding_new(k, rc == KL_E_NOTFOUND ?
		    KL_CHECK_MISSING : KL_CHECK_CORRUPT, name, &fi, "cannot "
		    "be read: %s; the backup it recorded is lost",
		    errmsg_about(&e, name, rc))) == KL_OK)
			rc = chk_finding_snap(k, fi, &cs->id);
		return rc;
	}
	if (rc != KL_OK)
		return chk_fail(k, &e, rc);
	cs->ok = 1;
	cs->tree = s.tree;
	cs->time_s = s.time_s;
	cs->time_ns = s.time_ns;
	cs->files = s.files;
	cs->dirs = s.dirs;
	snprintf(cs->host, sizeof(cs->host), "%s", s.hostname);
	k->rep->snapshots++;
	if ((has = kl_cat_snap_has(k->cat, &cs->id, k->err)) == 0)
		rc = kl_cat_snap_add(k->cat, &cs->id, &s, cs->recv_s, k->err);
	else if (has < 0)
		rc = has;
	if (rc != KL_OK)
		kl_error_wrap(k->err, rc, "catalog");
	kl_snapshot_clear(&s);
	return rc;
}

int
chk_snap_phase(struct chk *k)
{
	struct kl_id *ids = NULL;
	int64_t *recv = NULL;
	size_t i, n;
	int rc;

	if ((rc = kl_repo_snapshot_times(k->r, &ids, &recv, &n, k->err)) !=
	    KL_OK)
		return rc;
	if (n > 0 && (k->snaps = calloc(n, sizeof(*k->snaps))) == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	k->nsnaps = n;
	for (i = 0; i < n; i++) {
		k->snaps[i].id = ids[i];
		k->snaps[i].recv_s = recv[i];
	}
	if (n > 1)
		qsort(k->snaps, n, sizeof(*k->snaps), snap_id_cmp);
	if ((rc = tamper_phase(k)) != KL_OK)
		goto out;
	for (i = 0; i < n && rc == KL_OK; i++) {
		rc = snap_open(k, &k->snaps[i]);
		progress(k, "snapshots", i + 1, n);
	}
	for (i = 0; i < n; i++)
		ids[i] = k->snaps[i].id;
	if (rc == KL_OK && (rc = kl_cat_snap_mark_vanished(k->cat, ids, n,
	    NULL, k->err)) != KL_OK)
		kl_error_wrap(k->err, rc, "catalog");
	if (n > 1)
		qsort(k->snaps, n, sizeof(*k->snaps), snap_time_cmp);
out:
	free(ids);
	free(recv);
	return rc;
}
