/*
 * The repository's blob index: loading index files into the catalog
 * (kl_repo_index_load) with the trust of their source and without the
 * entries whose pack is not in the repository, packs known only from their
 * own headers, and the in-memory table of the blobs a running backup
 * session adds: the keyed map (kluis/map.h) from blob id to an entry -
 * keyed, because the ids of adopted packs come from their headers, which
 * their writer chose.  Pack ids are interned in a side array so an entry
 * is 20 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/map.h"
#include "kluis/treewalk.h"
#include "repo_internal.h"

/* Packs stat'ed one by one before a whole listing of data/ is cheaper. */
#define PRESENCE_STATS_MAX 64

/* A blob the session added; the map holds its id. */
struct entry {
	uint32_t pack;		/* index into packs + 1 */
	uint32_t offset, stored_len, raw_len;
	uint8_t type;
};

struct kl_index_table {
	struct kl_map ids;	/* blob id -> index into e */
	struct entry *e;
	size_t n, e_cap;
	struct kl_id *packs;
	size_t npacks, packs_cap;
};

struct kl_index_table *
index_table_new(void)
{
	struct kl_index_table *t;

	if ((t = calloc(1, sizeof(*t))) != NULL)
		kl_map_init(&t->ids, KL_ID_LEN);
	return t;
}

void
index_table_free(struct kl_index_table *t)
{
	if (t == NULL)
		return;
	kl_map_clear(&t->ids);
	free(t->e);
	free(t->packs);
	free(t);
}

/* Interns a pack id; packs arrive grouped, so checking the last suffices
 * to keep duplicates rare (a duplicate only costs 32 bytes). */
static int
pack_intern(struct kl_index_table *t, const struct kl_id *p, uint32_t *out)
{
	int rc;

	if (t->npacks > 0 && kl_id_eq(&t->packs[t->npacks - 1], p)) {
		*out = (uint32_t)t->npacks;
		return KL_OK;
	}
	if ((rc = KL_GROW(t->packs, t->packs_cap, t->npacks + 1)) != KL_OK)
		return rc;
	t->packs[t->npacks++] = *p;
	*out = (uint32_t)t->npacks;
	return KL_OK;
}

int
index_table_put(struct kl_index_table *t, const struct kl_id *id,
    const struct kl_blob_loc *loc)
{
	struct entry *e;
	uint64_t at;
	uint32_t pk;
	int rc;

	if (kl_map_get(&t->ids, id->b, &at))
		return 0;
	if ((rc = KL_GROW(t->e, t->e_cap, t->n + 1)) != KL_OK ||
	    (rc = pack_intern(t, &loc->pack, &pk)) != KL_OK)
		return rc;
	if ((rc = kl_map_put(&t->ids, id->b, t->n)) < 0)
		return rc;
	e = &t->e[t->n++];
	e->pack = pk;
	e->type = loc->type;
	e->offset = loc->offset;
	e->stored_len = loc->stored_len;
	e->raw_len = loc->raw_len;
	return 1;
}

static void
entry_loc(const struct kl_index_table *t, const struct entry *e,
    struct kl_blob_loc *loc)
{
	loc->pack = t->packs[e->pack - 1];
	loc->type = e->type;
	loc->offset = e->offset;
	loc->stored_len = e->stored_len;
	loc->raw_len = e->raw_len;
}

int
index_table_get(const struct kl_index_table *t, const struct kl_id *id,
    struct kl_blob_loc *loc)
{
	uint64_t at;

	if (!kl_map_get(&t->ids, id->b, &at))
		return KL_E_NOTFOUND;
	if (loc != NULL)
		entry_loc(t, &t->e[at], loc);
	return KL_OK;
}

uint64_t
index_table_count(const struct kl_index_table *t)
{
	return t->n;
}

size_t
index_table_run_max(const struct kl_index_table *t)
{
	return kl_map_run_max(&t->ids);
}

/*
 * The repository's catalog.  Commands open the persistent one
 * (kl_repo_catalog_open); anything else - library users, tests - gets a
 * private temporary catalog, so that there is one index mechanism.
 */
int
repo_cat(struct kl_repo *r, struct kl_cat **c, struct kl_error *err)
{
	int rc = KL_OK;

	pthread_mutex_lock(&r->mu);
	if (r->cat == NULL)
		rc = kl_cat_open(NULL, &r->keys->repo_id, &r->cat,
		    &r->cat_state, err);
	*c = r->cat;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int
kl_repo_catalog_open(struct kl_repo *r, const char *dir, int *state,
    struct kl_error *err)
{
	char def[KL_CAT_PATH_MAX];
	int rc;

	if (r->cat != NULL) {
		if (state != NULL)
			*state = r->cat_state;
		return KL_OK;
	}
	if (dir == NULL) {
		if ((rc = kl_cat_dir_default(&r->keys->repo_id, def,
		    sizeof(def))) != KL_OK) {
			return kl_error_obj(err, rc, KL_ABOUT_CATALOG, NULL,
			    NULL, "no cache directory for the catalog (set "
			    "KLUIS_CACHE_DIR or HOME)");
		}
		dir = def;
	}
	rc = kl_cat_open(dir, &r->keys->repo_id, &r->cat, &r->cat_state, err);
	/* the catalog's own sentence names its file and says why */
	if (rc != KL_OK && !(err != NULL && err->code == rc))
		kl_error_obj(err, rc, KL_ABOUT_CATALOG, NULL, dir, "catalog in "
		    "%s: %s", dir, kl_strerror(rc));
	else if (rc == KL_OK && state != NULL)
		*state = r->cat_state;
	return rc;
}

struct kl_cat *
kl_repo_catalog(struct kl_repo *r)
{
	struct kl_cat *c;

	return repo_cat(r, &c, NULL) == KL_OK ? c : NULL;
}

void
kl_repo_set_progress(struct kl_repo *r,
    void (*fn)(void *arg, const char *what, uint64_t done, uint64_t total),
    void *arg)
{
	r->progress = fn;
	r->progress_arg = arg;
}

void
kl_repo_set_tree_budget(struct kl_repo *r, unsigned factor)
{
	r->tree_budget = factor;
}

unsigned
kl_repo_tree_budget(const struct kl_repo *r)
{
	return r->tree_budget;
}

void
kl_repo_walk_budget(const struct kl_repo *r, const struct kl_snapshot *s,
    struct kl_walk_budget *b)
{
	kl_walk_budget_init(b, s->files, s->dirs, r->tree_budget);
}

/* A pack of the repository's listing. */
struct pack_sz {
	struct kl_id id;
	uint64_t size;
};

/*
 * Which packs are in the repository: the catalog knows the size of every
 * pack it has seen listed or stat'ed; others are stat'ed, or after
 * PRESENCE_STATS_MAX of them looked up in one listing of data/.
 */
struct presence {
	struct kl_repo *r;
	struct pack_sz *p;	/* the listing, sorted by id */
	size_t n, cap;
	int listed;
	unsigned stats;
	/* index files that name absent packs: (file, entries) per absent
	 * pack, told once the whole pass is loaded - a retire record loaded
	 * later in the pass may explain them (prune deleted those packs) */
	struct absent *ab;
	size_t nab, ab_cap;
};

struct absent {
	struct kl_id file, pack;
	size_t entries;
};

static int
pack_sz_cmp(const void *a, const void *b)
{
	return kl_id_cmp(&((const struct pack_sz *)a)->id,
	    &((const struct pack_sz *)b)->id);
}

static int
presence_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct presence *pr = arg;
	int rc;
	struct kl_id id;

	(void)mtime_s;
	if (kl_id_parse(name, &id) != KL_OK)
		return 0;
	if ((rc = KL_GROW(pr->p, pr->cap, pr->n + 1)) != KL_OK)
		return rc;
	pr->p[pr->n].id = id;
	pr->p[pr->n++].size = size;
	return 0;
}

static int
presence_list(struct presence *pr)
{
	int rc;

	if (pr->listed)
		return KL_OK;
	pr->n = 0;
	if ((rc = pr->r->be.ops->list(pr->r->be.ctx, KL_FT_DATA, presence_add,
	    pr)) != KL_OK)
		return rc;
	if (pr->n > 1)
		qsort(pr->p, pr->n, sizeof(*pr->p), pack_sz_cmp);
	pr->listed = 1;
	return KL_OK;
}

static void
presence_clear(struct presence *pr)
{
	free(pr->p);
	free(pr->ab);
	memset(pr, 0, sizeof(*pr));
}

/* 1 and *size if pack is in the repository, 0 if not, or an error. */
static int
pack_present(struct presence *pr, struct kl_cat *c, const struct kl_id *pack,
    uint64_t *size, struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1];
	struct pack_sz key, *hit;
	int rc;

	if ((rc = kl_cat_withdrawn_has(c, pack, err)) != 0)
		return rc < 0 ? rc : 0;	/* withdrawn: as good as gone */
	if (kl_cat_pack_size(c, pack, size, NULL) == KL_OK)
		return 1;	/* else the repository says */
	if (!pr->listed && pr->stats >= PRESENCE_STATS_MAX &&
	    (rc = presence_list(pr)) != KL_OK)
		return rc;
	if (pr->listed) {
		key.id = *pack;
		hit = pr->n ? bsearch(&key, pr->p, pr->n, sizeof(*pr->p),
		    pack_sz_cmp) : NULL;
		if (hit != NULL)
			*size = hit->size;
		return hit != NULL;
	}
	pr->stats++;
	kl_id_hex(pack, name);
	rc = pr->r->be.ops->stat(pr->r->be.ctx, KL_FT_DATA, name, size);
	return rc == KL_OK ? 1 : rc == KL_E_NOTFOUND ? 0 : rc;
}

/* Puts the entries of one pack (in the repository) into the catalog. */
static int
pack_put(struct kl_cat *c, const struct kl_index_pack *ip, uint64_t size,
    int trust, int64_t recv_s, struct kl_error *err)
{
	struct kl_blob_loc loc;
	size_t j;
	int rc;

	loc.pack = ip->pack_id;
	for (j = 0; j < ip->n; j++) {
		const struct kl_blob_entry *e = &ip->e[j];

		loc.type = e->type;
		loc.offset = e->offset;
		loc.stored_len = e->stored_len;
		loc.raw_len = e->raw_len;
		if ((rc = kl_cat_blob_put(c, &e->id, &loc, trust, recv_s,
		    err)) < 0)
			return rc;
	}
	return size > 0 ? kl_cat_pack_size_set(c, &ip->pack_id, size,
	    err) : KL_OK;
}

/*
 * Records that index file or pack w is withdrawn; *reload is set if the
 * catalog holds entries of it (loaded before the withdrawal was seen).
 */
static int
withdrawal_put(struct kl_cat *c, const struct kl_id *w, int *reload,
    struct kl_error *err)
{
	int has;

	if ((has = kl_cat_withdrawn_has(c, w, err)) != 0)
		return has < 0 ? has : KL_OK;	/* known: nothing of it held */
	if ((has = kl_cat_index_has(c, w, err)) == 0)
		has = kl_cat_pack_known(c, w, err);
	if (has < 0)
		return has;
	if (has)
		*reload = 1;
	return kl_cat_withdrawn_add(c, w, err);
}

/*
 * Puts the entries of ix whose packs are present (present[i], sizes[i];
 * NULL: all, sizes unknown) into the catalog, records the withdrawals and
 * the file; one transaction.  *reload is set if ix withdraws a file whose
 * entries the catalog already holds.
 */
static int
index_put(struct kl_cat *c, const struct kl_id *file,
    const struct kl_index *ix, const uint8_t *present, const uint64_t *sizes,
    int trust, int64_t recv_s, int *reload, struct kl_error *err)
{
	size_t i;
	int rc;

	if ((rc = kl_cat_begin(c, err)) != KL_OK)
		return rc;
	for (i = 0; i < ix->n && rc == KL_OK; i++)
		if (present == NULL || present[i])
			rc = pack_put(c, &ix->packs[i], sizes ? sizes[i] : 0,
			    trust, recv_s, err);
	for (i = 0; i < ix->nwithdrawn && rc == KL_OK; i++)
		rc = ix->retire ? kl_cat_pruned_add(c, &ix->withdrawn[i], err) :
		    withdrawal_put(c, &ix->withdrawn[i], reload, err);
	if (rc == KL_OK && (rc = kl_cat_index_add(c, file, trust, recv_s,
	    err)) ==
	    KL_OK)
		return kl_cat_commit(c, err);
	kl_cat_abort(c);
	return rc;
}

int
repo_index_add(struct kl_repo *r, const struct kl_id *file,
    const struct kl_index *ix, int trust, struct kl_error *err)
{
	struct kl_cat *c;
	int rc, reload = 0;

	if ((rc = repo_cat(r, &c, err)) != KL_OK ||
	    (rc = kl_cat_own_index_add(c, file, err)) != KL_OK)
		return rc;
	return index_put(c, file, ix, NULL, NULL, trust, (int64_t)time(NULL),
	    &reload, err);
}

/* Remembers the packs of ix that are not in the repository. */
static int
absent_note(struct presence *pr, const struct kl_id *file,
    const struct kl_index *ix, const uint8_t *present)
{
	int rc;
	size_t i;

	for (i = 0; i < ix->n; i++) {
		if (present[i])
			continue;
		if ((rc = KL_GROW(pr->ab, pr->ab_cap, pr->nab + 1)) != KL_OK)
			return rc;
		pr->ab[pr->nab].file = *file;
		pr->ab[pr->nab].pack = ix->packs[i].pack_id;
		pr->ab[pr->nab++].entries = ix->packs[i].n;
	}
	return KL_OK;
}

/* Tells, per index file, the absent packs no retire record explains. */
static int
absent_tell(struct kl_repo *r, struct kl_cat *c, struct presence *pr,
    struct kl_error *err)
{
	char name[REPO_FNAME_MAX];
	size_t i, j, packs, entries;
	int rc;

	for (i = 0; i < pr->nab; i = j) {
		packs = entries = 0;
		for (j = i; j < pr->nab && kl_id_eq(&pr->ab[j].file,
		    &pr->ab[i].file); j++) {
			if ((rc = kl_cat_pruned_has(c, &pr->ab[j].pack,
			    err)) < 0)
				return rc;
			if (rc == 0) {
				packs++;
				entries += pr->ab[j].entries;
			}
		}
		if (packs == 0)
			continue;
		repo_fname(KL_FT_INDEX, &pr->ab[i].file, name);
		repo_notice(r, "%s names %zu pack%s that %s not in the "
		    "repository (or withdrawn); its %zu entr%s there %s "
		    "ignored (kluis check tells whether it is bogus)", name,
		    packs, packs == 1 ? "" : "s", packs == 1 ? "is" : "are",
		    entries, entries == 1 ? "y" : "ies", entries == 1 ? "is" :
		    "are");
	}
	pr->nab = 0;
	return KL_OK;
}

/* Which packs of ix are in the repository. */
static int
index_presence(struct presence *pr, struct kl_cat *c,
    const struct kl_index *ix, uint8_t **present, uint64_t **sizes,
    struct kl_error *err)
{
	size_t i;
	int rc = KL_OK;

	*present = calloc(ix->n ? ix->n : 1, 1);
	*sizes = calloc(ix->n ? ix->n : 1, sizeof(**sizes));
	if (*present == NULL || *sizes == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < ix->n && rc >= 0; i++)
		if ((rc = pack_present(pr, c, &ix->packs[i].pack_id,
		    &(*sizes)[i], err)) > 0)
			(*present)[i] = 1;
	return rc < 0 ? rc : KL_OK;
}

/* The trust of a loaded index file's entries (catalog.h). */
static int
index_trust(struct kl_cat *c, const struct kl_id *file, int attested)
{
	if (attested)
		return KL_TRUST_ATTESTED;
	/* not known as ours (or the catalog cannot say): a claim */
	return kl_cat_own_index_has(c, file, NULL) == 1 ? KL_TRUST_OWN :
	    KL_TRUST_CLAIMED;
}

/*
 * Loads one index file received at recv_s into the catalog.  A withdrawn
 * file is recorded as loaded with no entries.  The file's own errors come
 * back as they are (KL_E_CORRUPT, ...) with the message set; the catalog's
 * as KL_E_IO, never mistaken for a damaged file.
 */
static int
index_file_load(struct kl_repo *r, struct presence *pr, struct kl_cat *c,
    const struct kl_id *id, int64_t recv_s, int *reload, struct kl_error *err)
{
	char name[REPO_FNAME_MAX];
	struct kl_index ix;
	uint8_t *present = NULL;
	uint64_t *sizes = NULL;
	int rc, attested = 0;

	memset(&ix, 0, sizeof(ix));
	if ((rc = kl_cat_withdrawn_has(c, id, err)) != 0)
		return rc < 0 ? rc : kl_cat_index_add(c, id, KL_TRUST_CLAIMED,
		    recv_s, err);
	if ((rc = repo_index_read(r, id, &ix, &attested, err)) != KL_OK) {
		if (!kl_error_isset(err) || err->code != rc) {
			repo_fname(KL_FT_INDEX, id, name);
			repo_err_file(err, rc, KL_FT_INDEX, id, "%s: %s", name,
			    kl_strerror(rc));
		}
		return rc;
	}
	if ((rc = index_presence(pr, c, &ix, &present, &sizes, err)) == KL_OK &&
	    (rc = index_put(c, id, &ix, present, sizes, index_trust(c, id,
	    attested), recv_s, reload, err)) == KL_OK)
		rc = absent_note(pr, id, &ix, present);
	else if (rc != KL_E_NOMEM && rc != KL_E_CONN) {
		/* the catalog failed, not the file: never taken for a
		 * damaged index file (its message names the catalog) */
		if (err != NULL && err->code == rc)
			err->code = KL_E_IO;
		rc = KL_E_IO;
	}
	free(present);
	free(sizes);
	kl_index_clear(&ix);
	return rc;
}

int
kl_repo_pack_header_read(struct kl_repo *r, const struct kl_id *id,
    uint64_t size, struct kl_blob_entry **e, size_t *n, struct kl_error *err)
{
	*e = NULL;
	*n = 0;
	return repo_pack_header_read(r, id, size, e, n, err);
}

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

/* An index file of the listing with its receive time. */
struct ixf {
	struct kl_id id;
	int64_t recv_s;
};

struct ixf_list {
	struct ixf *f;
	size_t n, cap;
};

static int
ixf_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct ixf_list *l = arg;
	int rc;
	struct kl_id id;

	(void)size;
	if (kl_id_parse(name, &id) != KL_OK)
		return 0;
	if ((rc = KL_GROW(l->f, l->cap, l->n + 1)) != KL_OK)
		return rc;
	l->f[l->n].id = id;
	l->f[l->n++].recv_s = mtime_s;
	return 0;
}

/*
 * 1 if every index file the catalog has loaded is still in the
 * repository (l sorted by id).  An index file that went away (a future
 * prune, or tampering) takes blobs with it that other index files may
 * also name; rather than track which, the blob index is reloaded.
 */
static int
index_known_present(struct kl_cat *c, const struct ixf_list *l,
    int *present, int *empty, struct kl_error *err)
{
	struct kl_id *known = NULL;
	size_t i, nk;
	int rc;

	*present = 1;
	if ((rc = kl_cat_index_list(c, &known, &nk, err)) != KL_OK)
		return rc;
	*empty = nk == 0;
	for (i = 0; i < nk && *present; i++)
		*present = l->n > 0 && bsearch(&known[i], l->f, l->n,
		    sizeof(*l->f), id_cmp) != NULL;
	free(known);
	return KL_OK;
}

/*
 * The blobs of pack id (size bytes) from its own header, as claims - or
 * as this client's own (OWN) for a pack it uploaded - and its size.  1
 * if the header does not read (a damaged or foreign pack: check names
 * it), KL_OK, or KL_E_NOMEM, KL_E_CONN and catalog errors.
 */
static int
pack_learn(struct kl_repo *r, struct kl_cat *c, const struct kl_id *id,
    uint64_t size, struct kl_error *err)
{
	struct kl_blob_entry *e = NULL;
	struct kl_blob_loc loc;
	struct kl_error he;
	size_t j, n = 0;
	int rc, trust;

	kl_error_clear(&he);
	if ((rc = repo_pack_header_read(r, id, size, &e, &n, &he)) != KL_OK) {
		free(e);
		if (rc != KL_E_NOMEM && rc != KL_E_CONN)
			return 1;	/* check names it */
		if (err != NULL)
			*err = he;
		return rc;
	}
	/* a header is its writer's claim; this client's own are OWN */
	if ((trust = kl_cat_own_pack_has(c, id, err)) < 0)
		rc = trust;
	trust = trust == 1 ? KL_TRUST_OWN : KL_TRUST_CLAIMED;
	loc.pack = *id;
	for (j = 0; j < n && rc == KL_OK; j++) {
		loc.type = e[j].type;
		loc.offset = e[j].offset;
		loc.stored_len = e[j].stored_len;
		loc.raw_len = e[j].raw_len;
		if ((rc = kl_cat_orphan_put(c, &e[j].id, &loc, trust, err)) > 0)
			rc = KL_OK;
	}
	if (rc == KL_OK && n > 0)
		rc = kl_cat_pack_size_set(c, id, size, err);
	free(e);
	return rc;
}

int
kl_repo_pack_learn(struct kl_repo *r, const struct kl_id *id, uint64_t size,
    struct kl_error *err)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(r, &c, err)) != KL_OK)
		return rc;
	return pack_learn(r, c, id, size, err);
}

/*
 * Adds the blobs of packs that no index file names, from the packs' own
 * headers (readable with every key), as CLAIMED locations.  Done when the
 * blob index is built from nothing or an index file could not be read:
 * the data of an interrupted backup, or behind a damaged or vanished index
 * file, is still in the repository and must stay reachable for restores.
 * A backup deduplicates against the packs it wrote itself (OWN) and
 * adopts them; never against another writer's (their headers say whatever
 * that writer wanted).
 */
static int
orphans_scan(struct kl_repo *r, struct kl_cat *c, struct presence *pr,
    struct kl_error *err)
{
	struct kl_id *known = NULL;
	size_t i, nk;
	int rc;

	if ((rc = presence_list(pr)) != KL_OK ||
	    (rc = kl_cat_pack_ids(c, &known, &nk, err)) != KL_OK)
		return rc;
	if ((rc = kl_cat_begin(c, err)) != KL_OK)
		goto out;
	for (i = 0; i < pr->n && rc == KL_OK; i++) {
		if ((nk > 0 && bsearch(&pr->p[i].id, known, nk, sizeof(*known),
		    id_cmp) != NULL) || kl_cat_withdrawn_has(c,
		    &pr->p[i].id, NULL) != 0)
			continue;
		/* damaged or foreign packs stay unknown: check reports them */
		if ((rc = pack_learn(r, c, &pr->p[i].id, pr->p[i].size,
		    err)) > 0)
			rc = KL_OK;
	}
	if (rc == KL_OK)
		rc = kl_cat_commit(c, err);
	else
		kl_cat_abort(c);
out:
	free(known);
	return rc;
}

/* 1 for the errors of a damaged index file (skipped, not fatal). */
static int
index_damage(int rc)
{
	return rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED ||
	    rc == KL_E_NOTFOUND || rc == KL_E_LIMIT;
}

/*
 * One pass over the listed index files l: those the catalog has not
 * loaded are loaded.  *scan is set if one was damaged, *reload if one
 * withdraws a file already loaded.
 */
static int
index_pass(struct kl_repo *r, struct kl_cat *c, struct presence *pr,
    const struct ixf_list *l, int *scan, int *reload, struct kl_error *err)
{
	struct kl_error e;
	size_t i, todo = 0, done = 0;
	uint8_t *load;
	int rc = KL_OK, has;

	if ((load = calloc(l->n ? l->n : 1, 1)) == NULL)
		return KL_E_NOMEM;
	/* first the files to load, for an honest progress count */
	for (i = 0; i < l->n && rc == KL_OK; i++) {
		if ((has = kl_cat_index_has(c, &l->f[i].id, err)) < 0)
			rc = has;
		else if (!has)
			todo += load[i] = 1;
	}
	for (i = 0; i < l->n && rc == KL_OK; i++) {
		if (!load[i])
			continue;
		kl_error_clear(&e);
		rc = index_file_load(r, pr, c, &l->f[i].id, l->f[i].recv_s,
		    reload, &e);
		if (index_damage(rc)) {
			repo_damage_note(r, &e);
			*scan = 1;
			rc = KL_OK;
		} else if (rc != KL_OK && err != NULL)
			*err = e;
		if (r->progress != NULL && todo >= 8)
			r->progress(r->progress_arg, "index", ++done, todo);
	}
	free(load);
	return rc;
}

/*
 * Brings the catalog's blob index up to date: index files it has not
 * loaded yet are fetched, verified, decrypted and added; the rest costs
 * one listing.  A withdrawal of a file already loaded (a quarantine,
 * FORMAT.md §9) reloads the blob index once, without that file.
 */
int
kl_repo_index_load(struct kl_repo *r, struct kl_error *err)
{
	struct ixf_list l = { NULL, 0, 0 };
	struct presence pr;
	struct kl_cat *c;
	size_t notes;
	int rc, present, scan = 0, reload = 0;

	if (r->index_loaded)
		return KL_OK;
	memset(&pr, 0, sizeof(pr));
	pr.r = r;
	if ((rc = repo_cat(r, &c, err)) != KL_OK ||
	    (rc = r->be.ops->list(r->be.ctx, KL_FT_INDEX, ixf_add, &l)) !=
	    KL_OK)
		goto out;
	if (l.n > 1)
		qsort(l.f, l.n, sizeof(*l.f), id_cmp);
	if ((rc = index_known_present(c, &l, &present, &scan, err)) != KL_OK ||
	    (!present && (rc = kl_cat_index_clear(c, err)) != KL_OK))
		goto out;
	scan = scan || !present;
	notes = r->nnotice;
	rc = index_pass(r, c, &pr, &l, &scan, &reload, err);
	/* the withdrawals are kept: the second pass skips those files, and
	 * what the first said of them is forgotten */
	if (rc == KL_OK && reload && (rc = kl_cat_index_clear(c,
	    err)) == KL_OK) {
		repo_notices_trim(r, notes);
		pr.nab = 0;
		scan = 1;
		rc = index_pass(r, c, &pr, &l, &scan, &reload, err);
	}
	if (rc == KL_OK)
		rc = absent_tell(r, c, &pr, err);
	if (rc == KL_OK && scan)
		rc = orphans_scan(r, c, &pr, err);
out:
	presence_clear(&pr);
	free(l.f);
	if (rc == KL_OK)
		r->index_loaded = 1;
	return rc;
}

int
kl_repo_index_trusted(struct kl_repo *r, const struct kl_id *id,
    struct kl_error *err)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(r, &c, err)) != KL_OK)
		return rc;
	return kl_cat_blob_trusted(c, id, err);
}

int
kl_repo_index_foreach(struct kl_repo *r,
    int (*cb)(void *arg, const struct kl_id *id, const struct kl_blob_loc *l),
    void *arg, struct kl_error *err)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(r, &c, err)) != KL_OK)
		return rc;
	return kl_cat_blob_foreach(c, cb, arg, err);
}
