/*
 * Trees in kluis check: reading a tree from any sound copy (through a
 * cache of fetched ranges), and the structure pass - every tree of every
 * snapshot parsed once, every blob it names looked up, each snapshot's
 * size held against its budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "check_internal.h"

#define PROGRESS_TREES 256	/* trees between progress calls */

/* ---- trees ---- */

/* The stored bytes of tree blob e, from a cached range of its pack. */
static int
tree_bytes(struct chk *k, const struct centry *e, const uint8_t **out)
{
	struct kl_backend *be = kl_repo_backend(k->r);
	const struct cpack *p = &k->packs[e->pack];
	char hex[KL_ID_HEX_LEN + 1];
	struct trange *t;
	struct buf *b = NULL;
	uint32_t lo, hi;
	unsigned i;
	int rc;

	for (i = 0; i < CHK_TREE_CACHE; i++) {
		t = &k->tr[i];
		if (t->b != NULL && t->pack == e->pack && e->offset >= t->lo &&
		    (uint64_t)e->offset - t->lo + e->stored_len <=
		    buf_size(t->b)) {
			*out = buf_data(t->b) + (e->offset - t->lo);
			return KL_OK;
		}
	}
	/* all tree blobs of the pack in one request, as restores do */
	lo = p->tree_lo;
	hi = p->tree_hi;
	if (lo > e->offset || hi < e->offset + e->stored_len ||
	    hi - lo > CHK_TREE_RANGE_MAX) {
		lo = e->offset;
		hi = e->offset + e->stored_len;
	}
	kl_id_hex(&p->id, hex);
	rc = be->ops->get(be->ctx, KL_FT_DATA, hex, lo, hi - lo, hi - lo, &b);
	if (rc == KL_E_CORRUPT && (lo != e->offset ||
	    hi != e->offset + e->stored_len)) {
		/* a truncated pack: the blobs before the cut still count */
		lo = e->offset;
		hi = e->offset + e->stored_len;
		rc = be->ops->get(be->ctx, KL_FT_DATA, hex, lo, hi - lo,
		    hi - lo, &b);
	}
	if (rc != KL_OK)
		return rc;
	t = &k->tr[k->tr_next++ % CHK_TREE_CACHE];
	buf_free(t->b);
	t->pack = e->pack;
	t->lo = lo;
	t->b = b;
	*out = buf_data(b) + (e->offset - lo);
	return KL_OK;
}

/* A blob that snapshots use has no usable location. */
static int
blob_missing(struct chk *k, const struct kl_id *id, uint8_t type,
    const struct centry *other)
{
	char name[96], hex[KL_ID_HEX_LEN + 1];
	uint32_t fi;
	int rc;

	if (idmap_get(&k->miss, id, &fi))
		return KL_OK;
	kl_id_hex(id, hex);
	snprintf(name, sizeof(name), "blob %s", hex);
	if (other != NULL)
		rc = finding_new(k, KL_CHECK_CORRUPT, name, &fi, "snapshots "
		    "use it as a %s blob, but the index lists it as a %s blob",
		    kl_blob_type_name(type), kl_blob_type_name(other->type));
	else
		rc = finding_new(k, KL_CHECK_MISSING, name, &fi, "a %s blob "
		    "that snapshots use is in no index file and in no pack "
		    "header", kl_blob_type_name(type));
	if (rc == KL_OK && (rc = idmap_put(&k->miss, id, fi)) > 0)
		rc = KL_OK;
	return rc;
}

/* Reads and parses the tree at location e. */
static int
tree_read_at(struct chk *k, struct cscratch *s, const struct centry *e,
    struct kl_tree *out)
{
	const uint8_t *stored;
	struct kl_error ke;
	int rc;

	if (!k->packs[e->pack].listed || k->packs[e->pack].gone ||
	    e->err != 0)
		return KL_E_NOTFOUND;
	kl_error_clear(&ke);
	rc = kl_repo_pack_key(k->r, &k->packs[e->pack].id, s->key, &ke);
	if (rc != KL_OK && !is_damage(rc))	/* damage: another copy */
		return chk_fail(k, &ke, rc);
	if (rc == KL_OK)
		rc = tree_bytes(k, e, &stored);
	if (rc == KL_OK)
		rc = chk_blob_open(k->keys, e, stored, s);
	if (rc == KL_OK)
		rc = kl_tree_decode(buf_data(s->raw), buf_size(s->raw), out);
	return rc;
}

/*
 * The tree's other locations, after the mapped one (ei) failed: every
 * copy is tried, as restore does (issue #10), and the first sound one
 * becomes the tree's location, so that a bogus or damaged copy costs no
 * path.  KL_E_NOTFOUND if none reads.
 */
static int
tree_read_other(struct chk *k, struct cscratch *s, const struct kl_id *id,
    uint32_t ei, int record, struct kl_tree *out)
{
	size_t j;
	int rc = KL_E_NOTFOUND;

	for (j = chk_byid_lower(k, id); j < k->ne &&
	    kl_id_eq(&k->e[k->byid[j]].id, id); j++) {
		struct centry *e = &k->e[k->byid[j]];

		if (k->byid[j] == ei || e->type != KL_BLOB_TYPE_TREE)
			continue;
		kl_tree_clear(out);
		if ((rc = tree_read_at(k, s, e, out)) == KL_OK) {
			if (record) {
				e->referenced = 1;
				k->packs[e->pack].needed = 1;
				idmap_repoint(&k->bmap, id, k->byid[j]);
			}
			return KL_OK;
		}
		if (!is_damage(rc))
			return rc;
		if (record)
			e->err = (int8_t)rc;
	}
	kl_tree_clear(out);
	return KL_E_NOTFOUND;
}

int
chk_tree_read(struct chk *k, struct cscratch *s, const struct kl_id *id,
    int record, struct kl_tree *out)
{
	struct centry *e;
	uint32_t ei;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!idmap_get(&k->bmap, id, &ei))
		return record && (rc = blob_missing(k, id, KL_BLOB_TYPE_TREE,
		    NULL)) != KL_OK ? rc : KL_E_NOTFOUND;
	e = &k->e[ei];
	if (e->type != KL_BLOB_TYPE_TREE)
		return record && (rc = blob_missing(k, id, KL_BLOB_TYPE_TREE,
		    e)) != KL_OK ? rc : KL_E_NOTFOUND;
	if (record) {
		e->referenced = 1;
		k->packs[e->pack].needed = 1;
	}
	if ((rc = tree_read_at(k, s, e, out)) == KL_OK || !is_damage(rc))
		return rc;
	if (record && e->err == 0)
		e->err = (int8_t)rc;
	return tree_read_other(k, s, id, ei, record, out);
}

/* A blob a tree names: it must have a location of the right type. */
static int
blob_ref(struct chk *k, const struct kl_id *id, uint8_t type)
{
	struct centry *e;
	uint32_t ei;

	if (!idmap_get(&k->bmap, id, &ei))
		return blob_missing(k, id, type, NULL);
	e = &k->e[ei];
	if (e->type != type)
		return blob_missing(k, id, type, e);
	e->referenced = 1;
	k->packs[e->pack].needed = 1;
	return KL_OK;
}

/* ---- the structure pass: every tree once, sizes by tree id ---- */

/* One tree on the current path of chk_tree_size's walk. */
struct sframe {
	struct kl_tree t;
	size_t i;		/* next entry */
	uint32_t slot;		/* index into m->sz */
	struct chk_size below;	/* sums over the entries done */
};

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* A new tree id in m, its size not known yet. */
static int
trees_add(struct chk_trees *m, const struct kl_id *id, uint32_t *slot)
{
	int rc;

	if ((rc = KL_GROW(m->sz, m->cap, m->n + 1)) != KL_OK ||
	    (rc = KL_GROW(m->done, m->done_cap, m->n + 1)) != KL_OK)
		return rc;
	if ((rc = idmap_put(&m->seen, id, (uint32_t)m->n)) < 0)
		return rc;
	memset(&m->sz[m->n], 0, sizeof(m->sz[m->n]));
	m->done[m->n] = 0;
	*slot = (uint32_t)m->n++;
	return KL_OK;
}

void
chk_trees_clear(struct chk_trees *m)
{
	idmap_clear(&m->seen);
	free(m->sz);
	free(m->done);
	memset(m, 0, sizeof(*m));
}

/* Adds a subtree's size to a directory's sums (levels: the deepest). */
static void
size_add(struct chk_size *to, const struct chk_size *sub)
{
	to->entries = sat_add(to->entries, sub->entries);
	if (sub->levels > to->levels)
		to->levels = sub->levels;
}

/* Known size of slot (a cycle if it is on the current path). */
static struct chk_size
size_of(const struct chk_trees *m, uint32_t slot)
{
	struct chk_size inf = { UINT64_MAX, UINT64_MAX };

	return m->done[slot] ? m->sz[slot] : inf;
}

/*
 * Starts tree id: *push 1 and a frame in *f if it must be read; else its
 * size (known, or 0 and 1 level for one that does not read) in *sz.
 */
static int
tree_enter(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_id *id, struct sframe *f, struct chk_size *sz, int *push)
{
	uint32_t slot;
	int rc;

	*push = 0;
	if (idmap_get(&m->seen, id, &slot)) {
		*sz = size_of(m, slot);
		return KL_OK;
	}
	if ((rc = trees_add(m, id, &slot)) != KL_OK)
		return rc;
	memset(f, 0, sizeof(*f));
	f->slot = slot;
	rc = o->read(o->arg, id, &f->t);
	if (rc == KL_E_NOTFOUND) {
		/* a walk enters its level and finds nothing */
		m->sz[slot].levels = 1;
		m->done[slot] = 1;
		*sz = m->sz[slot];
		return KL_OK;
	}
	if (rc != KL_OK)
		return rc;
	m->parsed++;
	if (o->progress != NULL && m->parsed % PROGRESS_TREES == 0)
		o->progress(o->arg, m->parsed);
	*push = 1;
	return KL_OK;
}

/* Leaves the top frame: its size is final. */
static struct chk_size
tree_leave(struct chk_trees *m, struct sframe *f)
{
	struct chk_size *sz = &m->sz[f->slot];

	sz->entries = sat_add(f->t.n, f->below.entries);
	sz->levels = sat_add(f->below.levels, 1);
	m->done[f->slot] = 1;
	kl_tree_clear(&f->t);
	return *sz;
}

/* One entry of the top frame: chunks, or a subtree to size or read. */
static int
tree_entry(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_node *n, struct sframe *next, struct chk_size *sz,
    int *push)
{
	*push = 0;
	memset(sz, 0, sizeof(*sz));
	if (n->type == KL_NODE_FILE)
		return kl_node_blobs(n, o->chunk, o->arg);
	if (n->type != KL_NODE_DIR)
		return KL_OK;
	return tree_enter(m, o, &n->subtree, next, sz, push);
}

static int
sframes_grow(struct sframe **v, size_t n, size_t *cap)
{
	return kl_grow(v, cap, n + 1, sizeof(**v));
}

int
chk_tree_size(struct chk_trees *m, const struct chk_tree_ops *o,
    const struct kl_id *root, struct chk_size *out)
{
	struct sframe *st = NULL, *f;
	struct chk_size sz;
	size_t n = 0, cap = 0;
	int rc, push;

	memset(out, 0, sizeof(*out));
	if ((rc = sframes_grow(&st, 0, &cap)) != KL_OK)
		return rc;
	if ((rc = tree_enter(m, o, root, &st[0], out, &push)) == KL_OK)
		n = push;
	while (rc == KL_OK && n > 0) {
		f = &st[n - 1];
		if (f->i == f->t.n) {
			sz = tree_leave(m, f);
			if (--n == 0)
				*out = sz;
			else
				size_add(&st[n - 1].below, &sz);
			continue;
		}
		if ((rc = sframes_grow(&st, n, &cap)) != KL_OK)
			break;
		f = &st[n - 1];
		rc = tree_entry(m, o, &f->t.nodes[f->i++], &st[n], &sz, &push);
		if (rc == KL_OK && push)
			n++;
		else if (rc == KL_OK)
			size_add(&f->below, &sz);
	}
	while (n > 0)
		kl_tree_clear(&st[--n].t);
	free(st);
	return rc;
}

struct sread {
	struct chk *k;
	struct cscratch *s;
};

static int
sread_tree(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct sread *x = arg;

	return chk_tree_read(x->k, x->s, id, 1, out);
}

static int
sread_chunk(void *arg, const struct kl_id *id, uint8_t type)
{
	struct sread *x = arg;

	return blob_ref(x->k, id, type);
}

static void
sread_progress(void *arg, uint64_t parsed)
{
	struct sread *x = arg;

	progress(x->k, "trees", parsed, 0);
}

/*
 * A snapshot whose trees hold more than its declared files and
 * directories allow: every walk over its paths stops at its budget, so
 * restore, ls, versions, find, diff and drill refuse it (a hostile but
 * authentic snapshot: any backup-only key can write one).
 */
static int
snap_over(struct chk *k, struct csnap *cs, const struct chk_size *sz)
{
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	char name[96], why[256];
	uint32_t fi;
	int rc;

	kl_walk_budget_init(&b, cs->files, cs->dirs, kl_repo_tree_budget(k->r));
	memset(&st, 0, sizeof(st));
	if (sz->entries > b.entries)
		st.over = KL_WALK_OVER_ENTRIES;
	else if (sz->levels > b.depth)
		st.over = KL_WALK_OVER_DEPTH;
	else
		return KL_OK;
	cs->over = 1;
	kl_walk_over_str(&st, &b, cs->files, cs->dirs, why, sizeof(why));
	obj_name("snapshots/", &cs->id, name);
	if ((rc = finding_new(k, KL_CHECK_CORRUPT, name, &fi, "snapshot of "
	    "host %s: %s (%s%llu entries, %llu levels): commands that walk "
	    "its paths (restore, ls, diff, drill, versions, find) stop there; "
	    "kluis backup never writes this - find who wrote it from its "
	    "receive time in the server's audit log", cs->host, why,
	    sz->entries == UINT64_MAX ? "at least " : "",
	    (unsigned long long)sz->entries,
	    (unsigned long long)sz->levels)) != KL_OK)
		return rc;
	return chk_finding_snap(k, fi, &cs->id);
}

int
chk_trees_phase(struct chk *k, struct cscratch *s)
{
	struct chk_tree_ops o;
	struct chk_size sz;
	struct sread x = { k, s };
	size_t i;
	int rc = KL_OK;

	memset(&o, 0, sizeof(o));
	o.read = sread_tree;
	o.chunk = sread_chunk;
	o.progress = sread_progress;
	o.arg = &x;
	for (i = 0; i < k->nsnaps && rc == KL_OK; i++) {
		if (!k->snaps[i].ok)
			continue;
		if ((rc = chk_tree_size(&k->trees, &o, &k->snaps[i].tree,
		    &sz)) == KL_OK)
			rc = snap_over(k, &k->snaps[i], &sz);
	}
	k->rep->trees = k->trees.parsed;
	if (rc == KL_OK && k->rep->trees > 0)
		progress(k, "trees", k->rep->trees, k->rep->trees);
	return rc;
}
