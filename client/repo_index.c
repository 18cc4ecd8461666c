/*
 * The in-memory blob index: an open-addressing hash table keyed by blob id
 * (ids are keyed hashes, so their first bytes are uniformly distributed and
 * serve as the hash).  Pack ids are interned in a side array so an entry is
 * 48 bytes.  Used for the blobs of a running backup session; the
 * repository's index lives in the catalog (kl_repo_index_load).
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/treewalk.h"
#include "repo_internal.h"

#define INDEX_FILE_MAX ((size_t)64 << 20)
#define INDEX_ENTRIES_MAX ((size_t)1 << 24)

struct slot {
	struct kl_id id;
	uint32_t pack;		/* index into packs + 1; 0 = empty slot */
	uint8_t type;
	uint32_t offset, stored_len, raw_len;
};

/* Where a pack's tree blobs lie: [lo, hi) of the pack, or lo > hi. */
struct extent {
	uint32_t lo, hi;
};

struct kl_index_table {
	struct slot *s;
	size_t cap, n;		/* cap is a power of two */
	struct kl_id *packs;
	struct extent *trees;	/* per interned pack */
	size_t npacks, packs_cap;
};

struct kl_index_table *
index_table_new(void)
{
	return calloc(1, sizeof(struct kl_index_table));
}

void
index_table_free(struct kl_index_table *t)
{
	if (t == NULL)
		return;
	free(t->s);
	free(t->packs);
	free(t->trees);
	free(t);
}

static size_t
slot_of(const struct kl_id *id, size_t cap)
{
	return (size_t)kl_le64dec(id->b) & (cap - 1);
}

static struct slot *
probe(const struct kl_index_table *t, const struct kl_id *id)
{
	size_t i = slot_of(id, t->cap);

	while (t->s[i].pack != 0 && memcmp(t->s[i].id.b, id->b, KL_ID_LEN))
		i = (i + 1) & (t->cap - 1);
	return &t->s[i];
}

static int
grow(struct kl_index_table *t)
{
	struct slot *old = t->s, *ns;
	size_t i, ocap = t->cap, ncap = ocap ? ocap * 2 : 1024;

	if ((ns = calloc(ncap, sizeof(*ns))) == NULL)
		return KL_E_NOMEM;
	t->s = ns;
	t->cap = ncap;
	for (i = 0; i < ocap; i++)
		if (old[i].pack != 0)
			*probe(t, &old[i].id) = old[i];
	free(old);
	return KL_OK;
}

/* Interns a pack id; packs arrive grouped, so checking the last suffices
 * to keep duplicates rare (a duplicate only costs 32 bytes). */
static int
pack_intern(struct kl_index_table *t, const struct kl_id *p, uint32_t *out)
{
	struct kl_id *np;

	if (t->npacks > 0 && kl_id_eq(&t->packs[t->npacks - 1], p)) {
		*out = (uint32_t)t->npacks;
		return KL_OK;
	}
	if (t->npacks == t->packs_cap) {
		size_t ncap = t->packs_cap ? t->packs_cap * 2 : 256;
		struct extent *ne;

		if ((np = realloc(t->packs, ncap * sizeof(*np))) == NULL)
			return KL_E_NOMEM;
		t->packs = np;
		if ((ne = realloc(t->trees, ncap * sizeof(*ne))) == NULL)
			return KL_E_NOMEM;
		t->trees = ne;
		t->packs_cap = ncap;
	}
	t->trees[t->npacks].lo = UINT32_MAX;
	t->trees[t->npacks].hi = 0;
	t->packs[t->npacks++] = *p;
	*out = (uint32_t)t->npacks;
	return KL_OK;
}

int
index_table_put(struct kl_index_table *t, const struct kl_id *id,
    const struct kl_blob_loc *loc)
{
	struct slot *s;
	uint32_t pk;
	int rc;

	if ((t->n + 1) * 4 > t->cap * 3 && (rc = grow(t)) != KL_OK)
		return rc;
	s = probe(t, id);
	if (s->pack != 0)
		return 0;
	if ((rc = pack_intern(t, &loc->pack, &pk)) != KL_OK)
		return rc;
	if (loc->type == KL_OBJ_TREE) {
		struct extent *x = &t->trees[pk - 1];

		if (loc->offset < x->lo)
			x->lo = loc->offset;
		if (loc->offset + loc->stored_len > x->hi)
			x->hi = loc->offset + loc->stored_len;
	}
	s->id = *id;
	s->pack = pk;
	s->type = loc->type;
	s->offset = loc->offset;
	s->stored_len = loc->stored_len;
	s->raw_len = loc->raw_len;
	t->n++;
	return 1;
}

static void
slot_loc(const struct kl_index_table *t, const struct slot *s,
    struct kl_blob_loc *loc)
{
	loc->pack = t->packs[s->pack - 1];
	loc->type = s->type;
	loc->offset = s->offset;
	loc->stored_len = s->stored_len;
	loc->raw_len = s->raw_len;
}

int
index_table_get(const struct kl_index_table *t, const struct kl_id *id,
    struct kl_blob_loc *loc)
{
	const struct slot *s;

	if (t->cap == 0)
		return KL_E_NOTFOUND;
	s = probe(t, id);
	if (s->pack == 0)
		return KL_E_NOTFOUND;
	if (loc != NULL)
		slot_loc(t, s, loc);
	return KL_OK;
}

int
index_table_tree_range(const struct kl_index_table *t, const struct kl_id *id,
    uint32_t *lo, uint32_t *hi)
{
	const struct slot *s;

	if (t->cap == 0 || (s = probe(t, id))->pack == 0 ||
	    t->trees[s->pack - 1].lo > t->trees[s->pack - 1].hi)
		return KL_E_NOTFOUND;
	*lo = t->trees[s->pack - 1].lo;
	*hi = t->trees[s->pack - 1].hi;
	return KL_OK;
}

uint64_t
index_table_count(const struct kl_index_table *t)
{
	return t->n;
}

void
index_table_pack_ids(struct kl_index_table *t, struct kl_id **ids, size_t *n)
{
	*ids = t->packs;
	*n = t->npacks;
}

int
index_table_foreach(const struct kl_index_table *t,
    int (*cb)(void *, const struct kl_id *, const struct kl_blob_loc *),
    void *arg)
{
	struct kl_blob_loc loc;
	size_t i;
	int rc;

	for (i = 0; i < t->cap; i++) {
		if (t->s[i].pack == 0)
			continue;
		slot_loc(t, &t->s[i], &loc);
		if ((rc = cb(arg, &t->s[i].id, &loc)) != 0)
			return rc;
	}
	return KL_OK;
}

/*
 * The repository's catalog.  Commands open the persistent one
 * (kl_repo_catalog_open); anything else - library users, tests - gets a
 * private temporary catalog, so that there is one index mechanism.
 */
int
repo_cat(struct kl_repo *r, struct kl_cat **c)
{
	int rc = KL_OK;

	pthread_mutex_lock(&r->mu);
	if (r->cat == NULL)
		rc = kl_cat_open(NULL, &r->keys->repo_id, &r->cat,
		    &r->cat_state);
	*c = r->cat;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int
kl_repo_catalog_open(struct kl_repo *r, const char *dir, int *state)
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
			repo_seterr(r, "no cache directory for the catalog "
			    "(set KLUIS_CACHE_DIR or HOME)");
			return rc;
		}
		dir = def;
	}
	rc = kl_cat_open(dir, &r->keys->repo_id, &r->cat, &r->cat_state);
	if (rc != KL_OK)
		repo_seterr(r, "catalog in %s: %s", dir, kl_strerror(rc));
	else if (state != NULL)
		*state = r->cat_state;
	return rc;
}

struct kl_cat *
kl_repo_catalog(struct kl_repo *r)
{
	struct kl_cat *c;

	return repo_cat(r, &c) == KL_OK ? c : NULL;
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

/* Puts every entry of ix into the catalog (inside a transaction). */
static int
index_put_all(struct kl_cat *c, const struct kl_index *ix)
{
	struct kl_blob_loc loc;
	size_t i, j;
	int rc;

	for (i = 0; i < ix->n; i++) {
		loc.pack = ix->packs[i].pack_id;
		for (j = 0; j < ix->packs[i].n; j++) {
			const struct kl_blob_entry *e = &ix->packs[i].e[j];

			loc.type = e->type;
			loc.offset = e->offset;
			loc.stored_len = e->stored_len;
			loc.raw_len = e->raw_len;
			if ((rc = kl_cat_blob_put(c, &e->id, &loc)) < 0)
				return rc;
		}
	}
	return KL_OK;
}

int
repo_index_add(struct kl_repo *r, const struct kl_id *file,
    const struct kl_index *ix)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(r, &c)) != KL_OK || (rc = kl_cat_begin(c)) != KL_OK)
		return rc;
	if ((rc = index_put_all(c, ix)) == KL_OK &&
	    (rc = kl_cat_index_add(c, file)) == KL_OK)
		return kl_cat_commit(c);
	kl_cat_abort(c);
	return rc;
}

int
repo_index_file_load(struct kl_repo *r, const struct kl_id *id)
{
	char name[REPO_FNAME_MAX];
	struct kl_index ix = { NULL, 0 };
	struct buf *pt = NULL;
	int rc;

	rc = repo_sealed_get(r, KL_FT_INDEX, id, INDEX_FILE_MAX,
	    KL_MAGIC_INDEX, r->keys->index_key, KL_OBJ_INDEX, &pt);
	if (rc == KL_OK)
		rc = kl_index_decode(buf_data(pt), buf_size(pt),
		    INDEX_ENTRIES_MAX, &ix);
	if (rc == KL_OK && (rc = repo_index_add(r, id, &ix)) != KL_OK) {
		/* the catalog failed, not the file: say so, and never let
		 * it pass for a damaged index file */
		repo_seterr(r, "%s", kl_cat_errmsg(r->cat));
		kl_index_clear(&ix);
		buf_free(pt);
		return rc == KL_E_CORRUPT ? KL_E_IO : rc;
	}
	if (rc != KL_OK) {
		repo_fname(KL_FT_INDEX, id, name);
		repo_seterr(r, "%s: %s", name, kl_strerror(rc));
	}
	kl_index_clear(&ix);
	buf_free(pt);
	return rc;
}

int
kl_repo_index_file_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_index *out)
{
	char name[REPO_FNAME_MAX];
	struct buf *pt = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	kl_repo_clear_err(r);
	rc = repo_sealed_get(r, KL_FT_INDEX, id, INDEX_FILE_MAX,
	    KL_MAGIC_INDEX, r->keys->index_key, KL_OBJ_INDEX, &pt);
	if (rc == KL_OK)
		rc = kl_index_decode(buf_data(pt), buf_size(pt),
		    INDEX_ENTRIES_MAX, out);
	if (rc != KL_OK && *r->errmsg == '\0') {
		repo_fname(KL_FT_INDEX, id, name);
		repo_seterr(r, "%s: %s", name, rc == KL_E_CORRUPT ?
		    "does not decrypt or decode (corrupt)" : kl_strerror(rc));
	}
	buf_free(pt);
	return rc;
}

int
kl_repo_pack_header_read(struct kl_repo *r, const struct kl_id *id,
    uint64_t size, struct kl_blob_entry **e, size_t *n)
{
	*e = NULL;
	*n = 0;
	return repo_pack_header_read(r, id, size, e, n);
}

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

/*
 * 1 if every index file the catalog has loaded is still in the
 * repository (sorted ids[0..n)).  An index file that went away (a future
 * prune, or tampering) takes blobs with it that other index files may
 * also name; rather than track which, the blob index is reloaded.
 */
static int
index_known_present(struct kl_cat *c, const struct kl_id *ids, size_t n,
    int *present, int *empty)
{
	struct kl_id *known = NULL;
	size_t i, nk;
	int rc;

	*present = 1;
	if ((rc = kl_cat_index_list(c, &known, &nk)) != KL_OK)
		return rc;
	*empty = nk == 0;
	for (i = 0; i < nk && *present; i++)
		*present = n > 0 && bsearch(&known[i], ids, n, sizeof(*ids),
		    id_cmp) != NULL;
	free(known);
	return KL_OK;
}

struct orphans {
	struct kl_repo *r;
	struct kl_cat *c;
	const struct kl_id *known;	/* sorted: packs index files name */
	size_t nknown;
	int rc;
};

static int
orphan_add(void *arg, const char *name, uint64_t size, int64_t mtime)
{
	struct orphans *o = arg;
	struct kl_blob_entry *e = NULL;
	struct kl_blob_loc loc;
	struct kl_id id;
	size_t i, n;

	(void)mtime;
	if (kl_id_parse(name, &id) != KL_OK || (o->nknown > 0 &&
	    bsearch(&id, o->known, o->nknown, sizeof(id), id_cmp) != NULL))
		return 0;
	/* damaged or foreign packs stay unknown: check reports them */
	if (repo_pack_header_read(o->r, &id, size, &e, &n) != KL_OK) {
		free(e);
		return 0;
	}
	loc.pack = id;
	for (i = 0; i < n && o->rc == KL_OK; i++) {
		loc.type = e[i].type;
		loc.offset = e[i].offset;
		loc.stored_len = e[i].stored_len;
		loc.raw_len = e[i].raw_len;
		if ((o->rc = kl_cat_orphan_put(o->c, &e[i].id, &loc)) > 0)
			o->rc = KL_OK;
	}
	free(e);
	return o->rc;
}

/*
 * Adds the blobs of packs that no index file names, from the packs' own
 * headers (readable with every key).  Done when the blob index is built
 * from nothing or an index file could not be read: the data of an
 * interrupted backup, or behind a damaged or vanished index file, is
 * still in the repository and must stay reachable - so a restore does not
 * fail for want of an index entry, and a backup that deduplicates against
 * such a pack adopts it into its own index file (kl_session_adopt_orphans).
 */
static int
orphans_scan(struct kl_repo *r, struct kl_cat *c)
{
	struct orphans o;
	struct kl_id *known = NULL;
	size_t n;
	int rc;

	if ((rc = kl_cat_pack_ids(c, &known, &n)) != KL_OK)
		return rc;
	memset(&o, 0, sizeof(o));
	o.r = r;
	o.c = c;
	o.known = known;
	o.nknown = n;
	if ((rc = kl_cat_begin(c)) == KL_OK) {
		rc = r->be.ops->list(r->be.ctx, KL_FT_DATA, orphan_add, &o);
		if (rc == KL_OK)
			rc = o.rc;
		if (rc == KL_OK)
			rc = kl_cat_commit(c);
		else
			kl_cat_abort(c);
	}
	free(known);
	return rc;
}

/*
 * Brings the catalog's blob index up to date: index files it has not
 * loaded yet are fetched, decrypted and added; the rest costs one listing.
 */
int
kl_repo_index_load(struct kl_repo *r)
{
	struct kl_id *ids = NULL;
	struct kl_cat *c;
	size_t i, n, todo = 0, done = 0;
	int rc, present, has, scan;

	if (r->index_loaded)
		return KL_OK;
	if ((rc = repo_cat(r, &c)) != KL_OK ||
	    (rc = kl_repo_list_ids(r, KL_FT_INDEX, &ids, &n)) != KL_OK)
		return rc;
	if (n > 1)
		qsort(ids, n, sizeof(*ids), id_cmp);
	if ((rc = index_known_present(c, ids, n, &present, &scan)) != KL_OK ||
	    (!present && (rc = kl_cat_index_clear(c)) != KL_OK))
		goto out;
	scan = scan || !present;
	/* keep only the files to load, for an honest progress count */
	for (i = 0; i < n; i++) {
		if ((has = kl_cat_index_has(c, &ids[i])) < 0) {
			rc = has;
			goto out;
		}
		if (!has)
			ids[todo++] = ids[i];
	}
	for (i = 0; i < todo && rc == KL_OK; i++) {
		rc = repo_index_file_load(r, &ids[i]);
		if (rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED ||
		    rc == KL_E_NOTFOUND || rc == KL_E_LIMIT) {
			repo_damage_note(r);
			scan = 1;
			rc = KL_OK;
		}
		if (r->progress != NULL && todo >= 8)
			r->progress(r->progress_arg, "index", ++done, todo);
	}
	if (rc == KL_OK && scan)
		rc = orphans_scan(r, c);
out:
	free(ids);
	if (rc == KL_OK)
		r->index_loaded = 1;
	return rc;
}

int
kl_repo_index_lookup(struct kl_repo *r, const struct kl_id *id,
    struct kl_blob_loc *loc)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(r, &c)) != KL_OK)
		return rc;
	return kl_cat_blob_get(c, id, loc);
}

int
kl_repo_index_foreach(struct kl_repo *r,
    int (*cb)(void *arg, const struct kl_id *id, const struct kl_blob_loc *l),
    void *arg)
{
	struct kl_cat *c;
	int rc;

	if ((rc = repo_cat(r, &c)) != KL_OK)
		return rc;
	return kl_cat_blob_foreach(c, cb, arg);
}
