/*
 * kluis check (docs/COMPLIANCE.md "Checks"): the structure of a
 * repository, the data of a selection of its packs (check_data.c), and the
 * snapshots and paths each finding affects.
 *
 * The order matters.  First the repository is compared with what this
 * client's catalog knew - index files and snapshots that are gone - because
 * bringing the catalog up to date afterwards forgets a vanished index file.
 * Then every index file is read from the repository and verified (the
 * catalog's copy is not trusted), packs that no index file names are
 * located by their own headers, every pack's size is compared with what
 * its entries imply, every snapshot is opened and every tree parsed once.
 * Last, if anything was found damaged, the snapshots are walked again to
 * name the files and directories that lost something.
 *
 * This file holds the run and what every phase shares: the id map, the
 * findings, blob opening.  The phases: check_index.c (index files),
 * check_packs.c (packs and blob locations), check_snaps.c (snapshots and
 * the catalog), check_trees.c (the structure pass), check_data.c (data
 * verification), check_conclude.c (findings per pack, affected paths);
 * check_subset.c parses and applies --read-data-subset.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "kluis/backend.h"
#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "check_internal.h"

/* ---- id map ---- */

/*
 * Pack names come from the storage's listing, which a hostile server
 * chooses, blob ids from index files and pack headers: kluis/map.h's map,
 * whose slots no one can make collide.
 */
int
idmap_put(struct idmap *m, const struct kl_id *id, uint32_t v)
{
	if (v == UINT32_MAX)
		return KL_E_LIMIT;
	if (m->m.key_len == 0)
		kl_map_init(&m->m, KL_ID_LEN);
	return kl_map_put(&m->m, id->b, v);
}

int
idmap_get(const struct idmap *m, const struct kl_id *id, uint32_t *v)
{
	uint64_t x;

	if (!kl_map_get(&m->m, id->b, &x))
		return 0;
	*v = (uint32_t)x;
	return 1;
}

void
idmap_repoint(struct idmap *m, const struct kl_id *id, uint32_t v)
{
	(void)kl_map_set(&m->m, id->b, v);
}

void
idmap_clear(struct idmap *m)
{
	kl_map_clear(&m->m);
}

/* ---- findings ---- */

const char *
kl_check_kind_name(enum kl_check_kind k)
{
	switch (k) {
	case KL_CHECK_MISSING: return "missing";
	case KL_CHECK_CORRUPT: return "corrupt";
	case KL_CHECK_VANISHED: return "vanished";
	case KL_CHECK_ROLLBACK: return "rollback";
	case KL_CHECK_BOGUS: return "bogus";
	}
	return "?";
}

static char *
vfmt(const char *fmt, va_list ap)
{
	va_list cp;
	char *s;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static int
findings_grow(struct chk *k)
{
	struct kl_check_report *rep = k->rep;
	int rc;

	if ((rc = KL_GROW(rep->f, k->f_cap, rep->nf + 1)) != KL_OK)
		return rc;
	return KL_GROW(k->fx, k->fx_cap, rep->nf + 1);
}

/* A new finding about object; *idx (may be NULL) gets its index. */
int
finding_new(struct chk *k, enum kl_check_kind kind, const char *object,
    uint32_t *idx, const char *fmt, ...)
{
	struct kl_check_finding *f;
	va_list ap;
	int rc;

	if ((rc = findings_grow(k)) != KL_OK)
		return rc;
	f = &k->rep->f[k->rep->nf];
	memset(f, 0, sizeof(*f));
	kl_map_init(&k->fx[k->rep->nf], sizeof(uint64_t));
	f->kind = kind;
	va_start(ap, fmt);
	f->detail = vfmt(fmt, ap);
	va_end(ap);
	if (f->detail == NULL || (f->object = strdup(object)) == NULL) {
		free(f->detail);
		return KL_E_NOMEM;
	}
	if (idx != NULL)
		*idx = (uint32_t)k->rep->nf;
	k->rep->nf++;
	return KL_OK;
}

int
chk_finding_snap(struct chk *k, uint32_t i, const struct kl_id *snap)
{
	struct kl_check_finding *f = &k->rep->f[i];
	struct kl_id *ns;
	size_t j;

	for (j = f->nsnaps; j > 0; j--)
		if (kl_id_eq(&f->snaps[j - 1], snap))
			return KL_OK;
	if ((ns = realloc(f->snaps, (f->nsnaps + 1) * sizeof(*ns))) == NULL)
		return KL_E_NOMEM;
	f->snaps = ns;
	f->snaps[f->nsnaps++] = *snap;
	return KL_OK;
}

int
chk_finding_hit(struct chk *k, uint32_t i, const struct kl_id *snap,
    const char *path, size_t len)
{
	struct kl_check_finding *f = &k->rep->f[i];
	char **np;
	/* paths come from trees, which any key holder writes: keyed */
	uint64_t h = kl_hash_slot(path, len);
	int rc;

	if ((rc = chk_finding_snap(k, i, snap)) != KL_OK ||
	    (rc = kl_map_put(&k->fx[i], &h, 0)) <= 0)
		return rc;
	if (f->npaths >= k->paths_max) {
		f->more_paths++;
		return KL_OK;
	}
	if ((np = realloc(f->paths, (f->npaths + 1) * sizeof(*np))) == NULL)
		return KL_E_NOMEM;
	f->paths = np;
	if ((f->paths[f->npaths] = strndup(path, len)) == NULL)
		return KL_E_NOMEM;
	f->npaths++;
	return KL_OK;
}

void
kl_check_report_clear(struct kl_check_report *rep)
{
	size_t i, j;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->nf; i++) {
		free(rep->f[i].object);
		free(rep->f[i].detail);
		free(rep->f[i].snaps);
		for (j = 0; j < rep->f[i].npaths; j++)
			free(rep->f[i].paths[j]);
		free(rep->f[i].paths);
	}
	free(rep->f);
	memset(rep, 0, sizeof(*rep));
}

/* ---- small helpers ---- */

void
chk_pack_name(const struct kl_id *id, char *out)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	snprintf(out, 80, "data/%.2s/%s", hex, hex);
}

void
obj_name(const char *dir, const struct kl_id *id, char *out)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	snprintf(out, 96, "%s%s", dir, hex);
}

const char *
errmsg_about(const struct kl_error *e, const char *object, int rc)
{
	const char *m = kl_error_msg(e, rc);
	size_t n = strlen(object);

	if (strncmp(m, object, n) == 0) {
		m += n;
		while (*m == ':' || *m == ' ')
			m++;
		if (strncmp(m, "is damaged: ", 12) == 0)
			m += 12;
	}
	return *m ? m : kl_strerror(rc);
}

int
chk_fail(struct chk *k, const struct kl_error *e, int rc)
{
	if (k->err != NULL && e != NULL)
		*k->err = *e;
	return rc;
}

int
is_damage(int rc)
{
	return rc == KL_E_CORRUPT || rc == KL_E_NOTFOUND ||
	    rc == KL_E_UNSUPPORTED || rc == KL_E_LIMIT;
}

void
progress(struct chk *k, const char *phase, uint64_t done, uint64_t total)
{
	struct kl_check_progress p;

	if (k->o->progress == NULL)
		return;
	memset(&p, 0, sizeof(p));
	p.phase = phase;
	p.done = done;
	p.total = total;
	k->o->progress(k->o->progress_arg, &p);
}

int
cscratch_init(struct cscratch *s)
{
	memset(s, 0, sizeof(*s));
	if ((s->dctx = ZSTD_createDCtx()) == NULL ||
	    (s->raw = buf_new(KL_BLOB_RAW_MAX)) == NULL ||
	    (s->pt = buf_new(kl_blob_encode_bound(KL_BLOB_RAW_MAX))) == NULL)
		return KL_E_NOMEM;
	return kl_session_key_new(&s->key);
}

void
cscratch_clear(struct cscratch *s)
{
	ZSTD_freeDCtx(s->dctx);
	buf_free(s->raw);
	buf_free(s->pt);
	kl_session_key_free(s->key);
	memset(s, 0, sizeof(*s));
}

int
chk_blob_open(const struct kl_keys *keys, const struct centry *e,
    const uint8_t *stored, struct cscratch *s)
{
	int rc;

	buf_reset(s->raw);
	buf_reset(s->pt);
	if (e->stored_len < KL_AEAD_OVERHEAD + KL_BLOB_HDR_LEN)
		return KL_E_CORRUPT;
	rc = kl_blob_open(keys, s->key, &e->id, e->type, stored,
	    e->stored_len, s->dctx, s->raw, s->pt);
	if (rc == KL_OK && buf_size(s->raw) != e->raw_len)
		rc = KL_E_CORRUPT;
	return rc;
}

/* ---- the run ---- */

/* The catalog's record of data verifications, for the rotation. */
static int
pack_age(void *arg, const struct kl_id *pack, int64_t checked_s, int ok)
{
	struct chk *k = arg;
	uint32_t i;

	(void)ok;
	if (idmap_get(&k->pmap, pack, &i))
		k->packs[i].checked_s = checked_s;
	return 0;
}

static int
structure(struct chk *k, struct cscratch *s)
{
	struct kl_backend *be = kl_repo_backend(k->r);
	int rc;

	if ((rc = be->ops->list(be->ctx, KL_FT_DATA, chk_list_pack, k)) !=
	    KL_OK)
		return kl_error_obj(k->err, rc, KL_ABOUT_PACK, NULL, "data/",
		    "listing data/: %s", kl_strerror(rc));
	if ((rc = index_phase(k)) != KL_OK || (rc = chk_snap_phase(k)) != KL_OK)
		return rc;
	/* the catalog now, after it was compared: it is the rotation's
	 * record and the next check's reference */
	if ((rc = kl_repo_index_load(k->r, k->err)) != KL_OK ||
	    (rc = kl_cat_pack_check_foreach(k->cat, pack_age, k, k->err)) !=
	    KL_OK)
		return rc;
	if ((rc = chk_orphans_phase(k)) != KL_OK ||
	    (rc = chk_entries_finish(k)) != KL_OK)
		return rc;
	return chk_trees_phase(k, s);
}

static int
chk_init(struct chk *k, struct kl_repo *r, const struct kl_check_opts *o,
    struct kl_check_report *out, struct kl_error *err)
{
	memset(k, 0, sizeof(*k));
	k->r = r;
	k->err = err;
	k->o = o;
	k->rep = out;
	k->keys = kl_repo_keys(r);
	k->paths_max = o->paths_max ? o->paths_max : KL_CHECK_PATHS_DEFAULT;
	pthread_mutex_init(&k->mu, NULL);
	if (!kl_repo_is_full(r))
		return kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "checking needs a full key: a backup-only key cannot read "
		    "snapshots, trees or data");
	if ((k->cat = kl_repo_catalog(r)) == NULL)
		return kl_error_obj(err, KL_E_IO, KL_ABOUT_CATALOG, NULL, NULL,
		    "no catalog could be opened");
	return KL_OK;
}

static void
chk_clear(struct chk *k)
{
	size_t i;

	for (i = 0; k->fx != NULL && i < k->rep->nf; i++)
		kl_map_clear(&k->fx[i]);
	free(k->fx);
	for (i = 0; i < CHK_TREE_CACHE; i++)
		buf_free(k->tr[i].b);
	idmap_clear(&k->pmap);
	idmap_clear(&k->bmap);
	idmap_clear(&k->miss);
	chk_trees_clear(&k->trees);
	free(k->packs);
	free(k->e);
	free(k->byid);
	free(k->ixf);
	free(k->wd);
	free(k->rt);
	free(k->snaps);
	pthread_mutex_destroy(&k->mu);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
kl_check_run(struct kl_repo *r, const struct kl_check_opts *o,
    struct kl_check_report *out, struct kl_error *err)
{
	struct cscratch s;
	struct chk k;
	double t0 = now_s();
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	kl_error_clear(err);
	if ((rc = chk_init(&k, r, o, out, err)) != KL_OK ||
	    (rc = cscratch_init(&s)) != KL_OK ||
	    (rc = structure(&k, &s)) != KL_OK)
		goto out;
	if (o->data.mode != KL_CHECK_DATA_NONE && (rc = chk_data(&k)) != KL_OK)
		goto out;
	for (i = 0; i < k.npacks && rc == KL_OK; i++)
		rc = chk_pack_conclude(&k, &k.packs[i]);
	if (rc == KL_OK && (rc = index_conclude(&k)) == KL_OK) {
		chk_copies_phase(&k);
		rc = chk_attribute_phase(&k, &s);
	}
	if (rc == KL_OK && o->data.mode != KL_CHECK_DATA_NONE)
		rc = attest_phase(&k);
out:
	for (i = 0; i < k.npacks; i++) {
		out->packs_selected += k.packs[i].selected;
		out->packs_read += k.packs[i].read;
	}
	out->bytes_read = k.bytes_done;
	out->duration_s = now_s() - t0;
	cscratch_clear(&s);
	chk_clear(&k);
	if (rc != KL_OK)
		kl_check_report_clear(out);
	return rc;
}
