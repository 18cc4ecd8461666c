/*
 * The conclusions of kluis check, once the data is read: a finding per
 * pack that is damaged or missing with the blobs it costs, sound copies
 * that save blobs, and the snapshots and paths each finding costs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "check_internal.h"

/* ---- conclusions per pack ---- */

/* Appends "; text" (or text) to the bounded string d. */
static void
det_add(char *d, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
det_add(char *d, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(d);
	va_list ap;

	if (len > 0 && len + 2 < cap) {
		memcpy(d + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d + len, cap - len, fmt, ap);
	va_end(ap);
}

/* The first blob of p that did not verify, and how many did not. */
static uint32_t
pack_bad_blobs(struct chk *k, const struct cpack *p, const struct centry **f)
{
	uint32_t n = 0;
	size_t i;

	*f = NULL;
	for (i = p->first; i < p->first + p->n; i++) {
		if (k->e[i].err == 0)
			continue;
		if (n++ == 0)
			*f = &k->e[i];
	}
	return n + p->nbad;
}

/* What is wrong with a pack in the repository, into d; 1 if corrupt. */
static int
pack_problems(struct chk *k, const struct cpack *p, char *d, size_t cap)
{
	const struct centry *f;
	char hex[KL_ID_HEX_LEN + 1];
	uint32_t nbad;
	size_t len;

	if (p->orphan_err != 0)
		det_add(d, cap, "no index file names it and its header cannot "
		    "be read (%s)", kl_strerror(p->orphan_err));
	/* a pack read whole with a sound header is as long as it says */
	if (p->size_bad && !(p->read && p->hdr_err == 0 && !p->hash_bad)) {
		if (p->expect)
			det_add(d, cap, "it is %llu bytes, its index entries "
			    "make it %llu", (unsigned long long)p->size,
			    (unsigned long long)p->expect);
		else
			det_add(d, cap, "it is %llu bytes, its index entries "
			    "reach byte %llu", (unsigned long long)p->size,
			    (unsigned long long)p->end);
	}
	if (p->hash_bad)
		det_add(d, cap, "content does not match its name");
	if (p->hdr_err != 0)
		det_add(d, cap, "its header cannot be read (%s)",
		    kl_strerror(p->hdr_err));
	if (p->hdr_mismatch)
		det_add(d, cap, "its header does not list the blobs the index "
		    "lists (%u not in the index)", p->hdr_extra);
	if (p->key_err != 0)
		det_add(d, cap, "its session envelope does not open (%s)",
		    kl_strerror(p->key_err));
	if ((nbad = pack_bad_blobs(k, p, &f)) > 0 && f != NULL) {
		kl_id_hex(&f->id, hex);
		det_add(d, cap, "%u of its %zu blobs do not verify (first: "
		    "%s blob %.16s: %s)", nbad, p->n,
		    kl_blob_type_name(f->type), hex, kl_strerror(f->err));
	} else if (nbad > 0)
		det_add(d, cap, "%u blobs that the index does not list do not "
		    "verify", nbad);
	len = strlen(d);	/* everything so far is damage */
	if (!p->indexed && p->needed && p->orphan_err == 0)
		det_add(d, cap, "no index file names it, but snapshots use its "
		    "blobs: an index file is lost or damaged (the pack's own "
		    "header still locates them; the next backup names them in "
		    "its index file again)");
	return len > 0;
}

/*
 * A data blob that a finding costs but that a sound pack named by an index
 * file also holds is not lost: restore takes that copy (restore_data.c,
 * kl_repo_blob_alternates).  The blob map is pointed at the sound copy, so
 * that no path is named for it, and the finding counts it.
 */
void
chk_copies_phase(struct chk *k)
{
	const struct centry *e, *b;
	size_t i;
	uint32_t v;

	for (i = 0; i < k->ne; i++) {	/* sound copies replace lost ones */
		e = &k->e[i];
		if (e->finding != 0 || e->orphan || e->err != 0 ||
		    e->type != KL_BLOB_TYPE_DATA ||
		    !k->packs[e->pack].listed || k->packs[e->pack].gone ||
		    !idmap_get(&k->bmap, &e->id, &v) || v == i)
			continue;
		b = &k->e[v];
		if (b->finding != 0 && b->raw_len == e->raw_len)
			idmap_repoint(&k->bmap, &e->id, (uint32_t)i);
	}
	for (i = 0; i < k->ne; i++) {	/* and are counted */
		b = &k->e[i];
		if (b->finding != 0 && b->type == KL_BLOB_TYPE_DATA &&
		    idmap_get(&k->bmap, &b->id, &v) && v != i &&
		    k->e[v].finding == 0)
			k->rep->f[b->finding - 1].copies++;
	}
}

/* Attributes the blobs that pack p's finding fi costs to it. */
static void
pack_attribute(struct chk *k, const struct cpack *p, uint32_t fi, int all)
{
	size_t i;

	for (i = p->first; i < p->first + p->n; i++) {
		struct centry *e = &k->e[i];

		if (all || e->err != 0 || (e->referenced && !p->indexed))
			e->finding = fi + 1;
	}
}

/* ", in index/<hex>[, index/<hex> and maybe more]" for a pack that is
 * not there: where to look if it was planted (kluis quarantine). */
static void
pack_namers(const struct chk *k, const struct cpack *p, char *d, size_t cap)
{
	char a[KL_ID_HEX_LEN + 1], b[KL_ID_HEX_LEN + 1];

	*d = '\0';
	if (p->file1 == 0)
		return;
	kl_id_hex(&k->ixf[p->file1 - 1].id, a);
	if (p->file2 == 0) {
		snprintf(d, cap, ", in index/%s", a);
		return;
	}
	kl_id_hex(&k->ixf[p->file2 - 1].id, b);
	snprintf(d, cap, ", in index/%s, index/%s and maybe more", a, b);
}

int
chk_pack_conclude(struct chk *k, struct cpack *p)
{
	char name[80], d[1024] = "";
	uint32_t fi;
	int corrupt, rc;

	chk_pack_name(&p->id, name);
	if (p->indexed && (!p->listed || p->gone) && chk_pruned(k, &p->id))
		return KL_OK;	/* prune deleted it */
	if (p->indexed && (!p->listed || p->gone)) {
		pack_namers(k, p, d, sizeof(d));
		if ((rc = finding_new(k, KL_CHECK_MISSING, name, &fi, "the "
		    "index names it (%zu blobs%s), but it is not in the "
		    "repository", p->n, d)) == KL_OK)
			pack_attribute(k, p, fi, 1);
		return rc;
	}
	if (!p->listed || p->gone)
		return KL_OK;
	corrupt = pack_problems(k, p, d, sizeof(d));
	if (*d == '\0') {
		if (!p->indexed && !p->needed)
			k->rep->orphan_packs++;
		return KL_OK;
	}
	if ((rc = finding_new(k, corrupt ? KL_CHECK_CORRUPT :
	    KL_CHECK_MISSING, name, &fi, "%s", d)) == KL_OK)
		pack_attribute(k, p, fi, p->size_bad && !p->read);
	return rc;
}

/* ---- affected paths ---- */

/*
 * A walk over each snapshot's paths (kluis/treewalk.h), within the
 * snapshot's budget: every path that lost something must be named, so
 * only trees with nothing damaged below them are memoised (skipped when
 * met again).  Each level's tag is 1 once something below it is damaged.
 */
struct attr {
	struct chk *k;
	struct cscratch *s;
	const struct kl_id *snap;
	struct idmap clean;	/* trees with nothing damaged below */
};

/* Finding index + 1 that blob id is attributed to, 0 if none. */
static uint32_t
bad_of(struct chk *k, const struct kl_id *id)
{
	uint32_t v;

	if (idmap_get(&k->miss, id, &v))
		return v + 1;
	if (idmap_get(&k->bmap, id, &v))
		return k->e[v].finding;
	return 0;
}

static int
attr_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct attr *a = arg;

	return chk_tree_read(a->k, a->s, id, 0, out);
}

/* A tree that cannot be read is named where it is used (bad_of). */
static int
attr_fail(void *arg, struct kl_walk *w, int side, const struct kl_id *id,
    int err)
{
	(void)arg;
	(void)w;
	(void)side;
	(void)id;
	return err == KL_E_NOTFOUND ? KL_OK : err;
}

static int
attr_hit(struct attr *a, struct kl_walk *w, uint32_t f)
{
	const char *p;
	size_t len;

	*kl_walk_tagp(w, 0) = 1;
	p = kl_walk_path(w, &len);
	return chk_finding_hit(a->k, f - 1, a->snap, p, len);
}

/* A file's blob (kl_node_blobs): a hit if it is bad. */
struct attr_blob {
	struct attr *a;
	struct kl_walk *w;
};

static int
attr_blob(void *arg, const struct kl_id *id, uint8_t type)
{
	struct attr_blob *x = arg;
	uint32_t f;

	(void)type;
	if ((f = bad_of(x->a->k, id)) != 0)
		return attr_hit(x->a, x->w, f);
	return KL_OK;
}

static int
attr_entry(void *arg, struct kl_walk *w, const struct kl_node *n,
    const struct kl_node *unused)
{
	struct attr *a = arg;
	struct attr_blob x = { a, w };
	uint32_t f, v;
	int rc = KL_OK;

	(void)unused;
	if (n->type == KL_NODE_FILE)
		return kl_node_blobs(n, attr_blob, &x);
	if (n->type != KL_NODE_DIR)
		return KL_OK;
	if ((f = bad_of(a->k, &n->subtree)) != 0 &&
	    (rc = attr_hit(a, w, f)) != KL_OK)
		return rc;
	/* a tree that is only unindexed, not lost, is read on */
	return idmap_get(&a->clean, &n->subtree, &v) ? 0 : KL_WALK_A;
}

static int
attr_leave(void *arg, struct kl_walk *w)
{
	struct attr *a = arg;
	const struct kl_id *id = kl_walk_dir_id(w, KL_WALK_A);
	uint64_t *up;
	int rc;

	if (*kl_walk_tagp(w, 0) != 0) {
		if ((up = kl_walk_tagp(w, 1)) != NULL)
			*up = 1;
		return KL_OK;
	}
	if (id != NULL && (rc = idmap_put(&a->clean, id, 0)) < 0)
		return rc;
	return KL_OK;
}

/* The paths of snapshot cs affected by the findings. */
static int
attr_snap(struct attr *a, const struct csnap *cs)
{
	struct kl_walk_budget b;
	struct kl_walk_ops ops;
	uint32_t f;
	int rc = KL_OK;

	a->snap = &cs->id;
	if ((f = bad_of(a->k, &cs->tree)) != 0)
		rc = chk_finding_hit(a->k, f - 1, a->snap, "/", 1);
	if (rc != KL_OK)
		return rc;
	memset(&ops, 0, sizeof(ops));
	ops.load = attr_load;
	ops.load_arg = a;
	ops.entry = attr_entry;
	ops.leave = attr_leave;
	ops.fail = attr_fail;
	kl_walk_budget_init(&b, cs->files, cs->dirs,
	    kl_repo_tree_budget(a->k->r));
	rc = kl_walk_run(&ops, a, &cs->tree, NULL, &b, 0, NULL);
	/* over its budget: named by its own finding (snap_over) */
	return rc == KL_E_LIMIT ? KL_OK : rc;
}

int
chk_attribute_phase(struct chk *k, struct cscratch *s)
{
	struct attr a;
	size_t i;
	int rc = KL_OK;

	for (i = 0; i < k->ne && k->e[i].finding == 0; i++)
		;
	if (i == k->ne && k->miss.m.n == 0)
		return KL_OK;
	memset(&a, 0, sizeof(a));
	a.k = k;
	a.s = s;
	for (i = 0; i < k->nsnaps && rc == KL_OK; i++)
		if (k->snaps[i].ok)
			rc = attr_snap(&a, &k->snaps[i]);
	idmap_clear(&a.clean);
	return rc;
}
