/*
 * kluis prune (kluis/prune.h).  Phases: mark (every blob a snapshot uses,
 * into the catalog), plan (per pack: keep, repack or delete; which copy
 * of a blob is kept), copy (verified blobs into new packs), record (the
 * retire record), delete (packs, then index files).
 *
 * Whom prune trusts: a blob's location that only a pack header or another
 * host's index file claims may be a lie (issue #10).  Prune therefore
 * never drops a copy of a blob in use on the word of a claim alone: a
 * blob whose kept location is merely claimed, and which loses another
 * copy, is read, verified and written afresh first.  Copies are read with
 * kl_repo_blob_read, which tries every location and verifies the content
 * against the blob's id.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/forget.h"
#include "kluis/format.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/prune.h"
#include "kluis/repo.h"

/*
 * The session's zstd level.  Copies keep the compression each blob was
 * stored with (kl_session_blob_add_encoded): compressing again cost
 * 35-46 % of the copy's CPU and would change nothing an operator chose.
 */
#define PRUNE_LEVEL 3

struct ppack {
	struct kl_id id;
	uint64_t size;
	uint64_t used, unused;	/* bytes of its keepers, and the rest */
	int act;		/* KL_PRUNE_* */
	int unknown;		/* left alone: its header does not read, or
				 * it is quarantined */
	int planned;		/* the plan saw it */
};

/* Copies made at once: blobs per batch, threads at most. */
#define COPY_BATCH 512
#define COPY_THREADS_MAX 4

struct cjob {
	struct kl_id id;
	uint8_t type;
};

struct prune;

struct cworker {
	struct prune *pr;
	struct buf *raw;	/* the blob's content, to verify it */
	struct buf *enc;	/* its plaintext as stored, copied as it is */
	struct kl_error err;	/* this worker's last failure */
};

struct prune {
	struct kl_repo *r;
	struct kl_error *err;	/* the caller's (may be NULL) */
	struct kl_cat *c;
	const struct kl_prune_opts *o;
	struct kl_prune_report *rep;
	struct ppack *p;	/* the listing of data/, sorted by id */
	size_t np, cap;
	struct kl_session *s;
	uint64_t total;		/* blobs to copy */
	/* the copy: a batch of blobs, the workers, the first failure */
	struct cjob *batch;
	size_t nbatch, next, err_at;
	struct cworker w[COPY_THREADS_MAX];
	int nworkers, copy_rc;	/* copy_rc: the first failure, whose detail
				 * is copied to *err (under mu) */
	pthread_mutex_t mu;
};

static void
progress(struct prune *pr, const char *phase, uint64_t done, uint64_t total)
{
	if (pr->o->progress != NULL)
		pr->o->progress(pr->o->progress_arg, phase, done, total);
}

static int
id_cmp(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

/* ---- mark ---- */

/* A list of ids; as the trees still to read, a stack (depth first keeps
 * it short). */
struct idlist {
	struct kl_id *v;
	size_t n, cap;
};

static int
idlist_add(struct idlist *t, const struct kl_id *id)
{
	int rc;

	if ((rc = KL_GROW(t->v, t->cap, t->n + 1)) != KL_OK)
		return rc;
	t->v[t->n++] = *id;
	return KL_OK;
}

/* A blob a kept file's content is read from - a delta chunk's delta
 * blob and bases included (kl_node_blobs) - is used. */
static int
blob_mark(void *arg, const struct kl_id *id, uint8_t type)
{
	struct prune *pr = arg;
	int rc;

	if ((rc = kl_cat_mark_add(pr->c, id, type, pr->err)) > 0)
		pr->rep->blobs_used++;
	return rc < 0 ? rc : 0;
}

/* Marks tree id (and, if it is new, queues it for reading). */
static int
tree_mark(struct prune *pr, struct idlist *t, const struct kl_id *id)
{
	int rc;

	if ((rc = kl_cat_mark_add(pr->c, id, KL_OBJ_TREE, pr->err)) <= 0)
		return rc;
	return idlist_add(t, id);
}

/* Reads the trees queued in t (below snapshot sid of host) and marks
 * what they use. */
static int
trees_walk(struct prune *pr, struct idlist *t, const struct kl_id *sid,
    const char *host)
{
	char hex[KL_ID_HEX_LEN + 1], shex[KL_ID_HEX_LEN + 1];
	struct kl_tree tr;
	struct kl_id id;
	size_t i;
	int rc = KL_OK;

	while (t->n > 0 && rc == KL_OK) {
		id = t->v[--t->n];
		memset(&tr, 0, sizeof(tr));
		if ((rc = kl_repo_tree_load(pr->r, &id, &tr, pr->err)) !=
		    KL_OK) {
			kl_id_hex(&id, hex);
			kl_id_hex(sid, shex);
			return kl_error_obj(pr->err, rc == KL_E_NOTFOUND ?
			    KL_E_CORRUPT : rc, KL_ABOUT_TREE, &id, NULL,
			    "tree %.16s of snapshot %s (host %s) cannot be "
			    "read (%s): prune cannot tell what lies below it, "
			    "so it deletes nothing; run kluis check, and "
			    "forget that snapshot if it cannot be repaired "
			    "(or a hacked host planted it)", hex, shex, host,
			    kl_strerror(rc));
		}
		pr->rep->trees++;
		for (i = 0; i < tr.n && rc == KL_OK; i++) {
			const struct kl_node *n = &tr.nodes[i];

			rc = kl_node_blobs(n, blob_mark, pr);
			if (rc >= 0 && !kl_id_is_zero(&n->subtree))
				rc = tree_mark(pr, t, &n->subtree);
			rc = rc < 0 ? rc : KL_OK;
		}
		kl_tree_clear(&tr);
		if (rc == KL_OK && (pr->rep->trees & 255) == 0) {
			rc = kl_repo_lock_refresh(pr->r, pr->err);
			progress(pr, "trees", pr->rep->trees, 0);
		}
	}
	return rc;
}

static int
skipped(const struct kl_prune_opts *o, const struct kl_id *id)
{
	size_t i;

	for (i = 0; i < o->nskip; i++)
		if (kl_id_eq(&o->skip[i], id))
			return 1;
	return 0;
}

/* Marks every blob that a snapshot of the repository uses. */
static int
mark(struct prune *pr)
{
	char hex[KL_ID_HEX_LEN + 1], name[16 + KL_ID_HEX_LEN];
	struct kl_snapshot snap;
	struct idlist t = { NULL, 0, 0 };
	struct kl_id *ids = NULL;
	size_t i, n = 0;
	int rc, why;

	if ((rc = kl_cat_mark_begin(pr->c, pr->err)) != KL_OK ||
	    (rc = kl_repo_snapshot_ids(pr->r, &ids, &n, pr->err)) != KL_OK)
		goto out;
	for (i = 0; i < n && rc == KL_OK; i++) {
		if (skipped(pr->o, &ids[i]))
			continue;
		memset(&snap, 0, sizeof(snap));
		/* NULL: a snapshot forgotten meanwhile is no error, and any
		 * other failure gets the message below */
		if ((rc = kl_repo_snapshot_load(pr->r, &ids[i], &snap,
		    NULL)) != KL_OK) {
			/* forgotten meanwhile */
			if (rc == KL_E_NOTFOUND) {
				rc = KL_OK;
				continue;
			}
			why = rc;
			if (rc != KL_E_NOMEM && rc != KL_E_CONN)
				rc = KL_E_CORRUPT;
			kl_id_hex(&ids[i], hex);
			snprintf(name, sizeof(name), "snapshots/%s", hex);
			kl_error_obj(pr->err, rc, KL_ABOUT_SNAPSHOT, &ids[i],
			    name, "snapshot %s cannot be read (%s): prune "
			    "cannot tell what it uses, so it deletes nothing; "
			    "forget it or put it back", hex,
			    kl_strerror(why));
			break;
		}
		pr->rep->snapshots++;
		/* a transaction per snapshot: a mark is a row, not a commit */
		if ((rc = kl_cat_begin(pr->c, pr->err)) == KL_OK &&
		    (rc = tree_mark(pr, &t, &snap.tree)) >= 0)
			rc = trees_walk(pr, &t, &ids[i], snap.hostname);
		if (rc >= 0)
			rc = kl_cat_commit(pr->c, pr->err);
		else
			kl_cat_abort(pr->c);
		kl_snapshot_clear(&snap);
		progress(pr, "snapshots", i + 1, n);
	}
out:
	free(t.v);
	free(ids);
	return rc < 0 ? rc : KL_OK;
}

/* ---- plan ---- */

static int
list_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct prune *pr = arg;
	struct kl_id id;
	int rc;

	(void)mtime_s;
	if (kl_id_parse(name, &id) != KL_OK)
		return 0;
	if ((rc = KL_GROW(pr->p, pr->cap, pr->np + 1)) != KL_OK)
		return rc;
	memset(&pr->p[pr->np], 0, sizeof(*pr->p));
	pr->p[pr->np].id = id;
	pr->p[pr->np++].size = size;
	return 0;
}

/* A pack the blob index does not know: its header's blobs, as claims (or
 * as this client's own).  0 if the header does not read. */
static int
pack_learn(struct prune *pr, const struct ppack *p)
{
	struct kl_error e;
	int rc;

	kl_error_clear(&e);
	if ((rc = kl_repo_pack_learn(pr->r, &p->id, p->size, &e)) != KL_OK) {
		if (rc < 0 && pr->err != NULL)	/* 1: left alone, no error */
			*pr->err = e;
		return rc > 0 ? 0 : rc;
	}
	return kl_cat_prune_present(pr->c, &p->id, p->size,
	    pr->err);
}

/* Lists data/ and tells the catalog which packs are there. */
static int
packs_present(struct prune *pr)
{
	struct ppack *p;
	size_t i;
	int rc;

	if ((rc = kl_repo_backend(pr->r)->ops->list(kl_repo_backend(
	    pr->r)->ctx, KL_FT_DATA, list_add, pr)) != KL_OK)
		return rc;
	if (pr->np > 1)
		qsort(pr->p, pr->np, sizeof(*pr->p), id_cmp);
	for (i = 0; i < pr->np; i++) {
		p = &pr->p[i];
		pr->rep->packs++;
		pr->rep->bytes += p->size;
		if ((rc = kl_cat_withdrawn_has(pr->c, &p->id, pr->err)) !=
		    0) {
			if (rc < 0)
				return rc;
			pr->rep->packs_quarantined++;
			p->unknown = 1;		/* evidence: left alone */
			continue;
		}
		if ((rc = kl_cat_prune_present(pr->c, &p->id, p->size,
		    pr->err)) == 0)
			rc = pack_learn(pr, p);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			pr->rep->packs_unknown++;
			p->unknown = 1;
		}
		if ((i & 1023) == 1023)
			progress(pr, "packs", i + 1, pr->np);
	}
	return KL_OK;
}

static struct ppack *
ppack_find(struct prune *pr, const struct kl_id *id)
{
	return pr->np ? bsearch(id, pr->p, pr->np, sizeof(*pr->p),
	    id_cmp) : NULL;
}

/* What a pack of n blobs costs besides its blobs (FORMAT.md §8). */
static uint64_t
pack_overhead(uint64_t n)
{
	return KL_PACK_PREAMBLE_LEN + KL_PACK_TRAILER_LEN + KL_AEAD_OVERHEAD +
	    kl_padme(4 + (uint64_t)KL_ENTRY_LEN * n);
}

/* The plan's view of one pack: what it uses and wastes. */
static int
plan_pack(void *arg, const struct kl_cat_prune_pack *cp)
{
	struct prune *pr = arg;
	struct ppack *p = ppack_find(pr, &cp->id);
	uint64_t over;

	if (p == NULL || p->unknown)
		return 0;
	p->planned = 1;
	p->used = cp->used_bytes;
	over = pack_overhead(cp->blobs);
	p->unused = cp->size > over + cp->used_bytes ? cp->size - over -
	    cp->used_bytes : 0;
	if (cp->used_blobs == 0)
		p->act = KL_PRUNE_DELETE;
	return 0;
}

/* Most unused share first (restic's order), then by id. */
static int
waste_order(const void *a, const void *b)
{
	const struct ppack *x = *(const struct ppack *const *)a;
	const struct ppack *y = *(const struct ppack *const *)b;
	double l = x->size ? (double)x->unused / (double)x->size : 0;
	double r = y->size ? (double)y->unused / (double)y->size : 0;

	if (l != r)
		return l > r ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

/*
 * Which packs to repack: as restic's --max-unused, a share of the
 * repository, not of each pack - packs with the most unused share go
 * first, until what stays unused is at most max_unused of the bytes in
 * use.  0 repacks every pack with unused bytes.
 */
static int
repack_choose(struct prune *pr)
{
	struct ppack **cand;
	uint64_t used = 0, unused = 0;
	size_t i, n = 0;

	if ((cand = calloc(pr->np ? pr->np : 1, sizeof(*cand))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < pr->np; i++) {
		struct ppack *p = &pr->p[i];

		if (!p->planned || p->act == KL_PRUNE_DELETE)
			continue;
		used += p->used;
		unused += p->unused;
		if (p->unused > 0)
			cand[n++] = p;
	}
	if (n > 1)
		qsort(cand, n, sizeof(*cand), waste_order);
	for (i = 0; i < n; i++) {
		/* unused <= max_unused_x100 / 10000 * used: done */
		if (pr->o->max_unused_x100 > 0 && (double)unused * 10000.0 <=
		    (double)pr->o->max_unused_x100 * (double)used)
			break;
		cand[i]->act = KL_PRUNE_REPACK;
		unused -= cand[i]->unused;
	}
	free(cand);
	return KL_OK;
}

/* Tells the catalog what happens to each pack; counts it. */
static int
plan_apply(struct prune *pr)
{
	struct kl_prune_report *rep = pr->rep;
	size_t i;
	int rc = KL_OK;

	for (i = 0; i < pr->np && rc == KL_OK; i++) {
		struct ppack *p = &pr->p[i];

		if (!p->planned)
			continue;
		if (p->act == KL_PRUNE_KEEP) {
			rep->packs_kept++;
			rep->bytes_kept += p->size;
			rep->unused_kept += p->unused;
			continue;
		}
		if (p->act == KL_PRUNE_DELETE) {
			rep->packs_unused++;
			rep->bytes_unused += p->size;
		} else {
			rep->packs_repack++;
			rep->bytes_repack += p->size;
		}
		rc = kl_cat_prune_act(pr->c, &p->id, p->act, pr->err);
	}
	return rc;
}

static int
plan(struct prune *pr)
{
	uint64_t unlocated = 0;
	int rc;

	if ((rc = packs_present(pr)) != KL_OK ||
	    (rc = kl_cat_prune_plan(pr->c, plan_pack, pr, &unlocated,
	    pr->err)) != KL_OK)
		return rc;
	if (unlocated > 0)
		return kl_error_obj(pr->err, KL_E_CORRUPT, KL_ABOUT_BLOB, NULL,
		    NULL, "%llu blob%s that snapshots use %s no copy in the "
		    "repository: prune deletes nothing until kluis check has "
		    "been run and the damage dealt with",
		    (unsigned long long)unlocated, unlocated == 1 ? "" : "s",
		    unlocated == 1 ? "has" : "have");
	if ((rc = repack_choose(pr)) != KL_OK)
		return rc;
	return plan_apply(pr);
}

/* ---- copy ---- */

static int
copy_count(void *arg, const struct kl_id *id, uint8_t type)
{
	struct prune *pr = arg;

	(void)id;
	(void)type;
	pr->total++;
	return 0;
}

/* One worker's part of a batch: blobs read (verified) and added to the
 * session until the batch is done or a worker failed. */
static void *
copy_worker(void *arg)
{
	struct cworker *cw = arg;
	struct prune *pr = cw->pr;
	uint64_t stored = 0;
	size_t i;
	int rc, added;

	for (;;) {
		pthread_mutex_lock(&pr->mu);
		if (pr->copy_rc != KL_OK || pr->next >= pr->nbatch) {
			pthread_mutex_unlock(&pr->mu);
			break;
		}
		i = pr->next++;
		pthread_mutex_unlock(&pr->mu);
		buf_reset(cw->raw);
		buf_reset(cw->enc);
		kl_error_clear(&cw->err);
		rc = kl_repo_blob_read_encoded(pr->r, &pr->batch[i].id,
		    pr->batch[i].type, cw->raw, cw->enc, &cw->err);
		if (rc == KL_OK)
			rc = kl_session_blob_add_encoded(pr->s,
			    pr->batch[i].type, &pr->batch[i].id, cw->enc,
			    buf_size(cw->raw), &added, &stored, &cw->err);
		pthread_mutex_lock(&pr->mu);
		if (rc != KL_OK && pr->copy_rc == KL_OK) {
			/* the first failure tells */
			pr->copy_rc = rc;
			pr->err_at = i;
			if (pr->err != NULL)
				*pr->err = cw->err;
		} else if (rc == KL_OK) {
			pr->rep->blobs_copied++;
			pr->rep->bytes_copied += buf_size(cw->raw);
		}
		pthread_mutex_unlock(&pr->mu);
	}
	return NULL;
}

/* Copies the blobs of pr->batch with every worker. */
static int
batch_run(struct prune *pr)
{
	char hex[KL_ID_HEX_LEN + 1];
	pthread_t t[COPY_THREADS_MAX];
	int i, started = 0, rc;

	pr->next = 0;
	for (i = 1; i < pr->nworkers; i++)
		if (pthread_create(&t[i], NULL, copy_worker, &pr->w[i]) == 0)
			started = i;
		else
			break;
	copy_worker(&pr->w[0]);
	for (i = 1; i <= started; i++)
		pthread_join(t[i], NULL);
	pr->nbatch = 0;
	if ((rc = pr->copy_rc) != KL_OK) {
		if (rc == KL_E_NOTFOUND || rc == KL_E_CORRUPT) {
			kl_id_hex(&pr->batch[pr->err_at].id, hex);
			kl_error_obj(pr->err, KL_E_CORRUPT,
			    pr->batch[pr->err_at].type == KL_OBJ_TREE ?
			    KL_ABOUT_TREE : KL_ABOUT_BLOB,
			    &pr->batch[pr->err_at].id, NULL, "%s blob %s has "
			    "no sound copy (%s): prune deletes nothing; run "
			    "kluis check --read-data",
			    pr->batch[pr->err_at].type == KL_OBJ_TREE ?
			    "tree" : "data", hex, kl_strerror(rc));
			rc = KL_E_CORRUPT;
		}
		return rc;
	}
	progress(pr, "copy", pr->rep->blobs_copied, pr->total);
	return kl_repo_lock_refresh(pr->r, pr->err);
}

static int
copy_queue(void *arg, const struct kl_id *id, uint8_t type)
{
	struct prune *pr = arg;

	pr->batch[pr->nbatch].id = *id;
	pr->batch[pr->nbatch++].type = type;
	return pr->nbatch == COPY_BATCH ? batch_run(pr) : 0;
}

/* The workers: one per core, at most COPY_THREADS_MAX. */
static int
workers_new(struct prune *pr)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int i;

	pr->nworkers = cores < 1 ? 1 : cores > COPY_THREADS_MAX ?
	    COPY_THREADS_MAX : (int)cores;
	if ((pr->batch = calloc(COPY_BATCH, sizeof(*pr->batch))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < pr->nworkers; i++) {
		pr->w[i].pr = pr;
		if ((pr->w[i].raw = buf_new(KL_BLOB_RAW_MAX)) == NULL ||
		    (pr->w[i].enc = buf_new(kl_blob_encode_bound(
		    KL_BLOB_RAW_MAX))) == NULL)
			return KL_E_NOMEM;
	}
	return KL_OK;
}

/* Packs of data/ after the copy that the listing before did not hold. */
static int
written_count(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct prune *pr = arg;
	struct kl_id id;

	(void)mtime_s;
	if (kl_id_parse(name, &id) == KL_OK && ppack_find(pr, &id) == NULL) {
		pr->rep->packs_written++;
		pr->rep->bytes_written += size;
	}
	return 0;
}

static int
copy(struct prune *pr)
{
	struct kl_backend *be = kl_repo_backend(pr->r);
	struct kl_id none;
	int rc;

	pr->total = 0;
	if ((rc = kl_cat_prune_copies(pr->c, copy_count, pr, pr->err)) !=
	    KL_OK)
		return rc;
	pr->rep->blobs_copied = 0;
	if (pr->o->dry_run || pr->total == 0) {
		pr->rep->blobs_copied = pr->o->dry_run ? pr->total : 0;
		return KL_OK;
	}
	if ((rc = workers_new(pr)) != KL_OK ||
	    (rc = kl_session_begin(pr->r, PRUNE_LEVEL, &pr->s, pr->err)) !=
	    KL_OK)
		return rc;
	kl_session_store_all(pr->s);
	if ((rc = kl_cat_prune_copies(pr->c, copy_queue, pr, pr->err)) ==
	    KL_OK &&
	    (pr->nbatch == 0 || (rc = batch_run(pr)) == KL_OK))
		rc = kl_session_commit(pr->s, NULL, &none, pr->err);
	if (rc == KL_OK)
		rc = be->ops->list(be->ctx, KL_FT_DATA, written_count, pr);
	progress(pr, "copy", pr->rep->blobs_copied, pr->total);
	return rc;
}

/* ---- retire record and deletion ---- */

/* 1 if pack goes in this run or went in an earlier one (a retire record
 * says so); 0 if it stays (or is gone for another reason); <0. */
static int
pack_goes(struct prune *pr, const struct kl_id *pack)
{
	const struct ppack *p = ppack_find(pr, pack);

	if (p != NULL)
		return p->act != KL_PRUNE_KEEP;
	return kl_cat_pruned_has(pr->c, pack, pr->err);
}

/*
 * What becomes of index file ix: 0 it stays as it is; 1 it goes (every
 * pack it names goes or went); 2 it is rewritten without the packs that
 * go, and then goes.  Files that withdraw something are kept for good.
 */
static int
index_fate(struct prune *pr, const struct kl_index *ix)
{
	size_t i, going = 0;
	int rc;

	if (ix->n == 0 || ix->nwithdrawn > 0 || ix->retire)
		return 0;
	for (i = 0; i < ix->n; i++) {
		if ((rc = pack_goes(pr, &ix->packs[i].pack_id)) < 0)
			return rc;
		going += rc == 1;
	}
	return going == 0 ? 0 : going == ix->n ? 1 : 2;
}

/*
 * Writes ix again without the packs that go: signed only if ix was signed
 * and verified (attested) - the copy of a claim stays a claim.
 */
static int
index_rewrite(struct prune *pr, struct kl_index *ix, int attested)
{
	struct kl_index nix;
	struct kl_id id;
	size_t i;
	int rc = KL_OK;

	memset(&nix, 0, sizeof(nix));
	if ((nix.packs = calloc(ix->n, sizeof(*nix.packs))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < ix->n && rc >= 0; i++)
		if ((rc = pack_goes(pr, &ix->packs[i].pack_id)) == 0)
			nix.packs[nix.n++] = ix->packs[i];	/* shared */
	if (rc >= 0)
		rc = kl_repo_index_write_as(pr->r, &nix, attested, &id,
		    pr->err);
	if (rc == KL_OK)
		pr->rep->index_written++;
	free(nix.packs);
	return rc < 0 ? rc : KL_OK;
}

/*
 * The index files that go: those naming only packs that go or went, and
 * those naming some, which are written again first without them (so
 * that no entry of a deleted pack stays - an erased file's blob ids
 * included).  Damaged files stay for check to name.
 */
static int
dead_index_files(struct prune *pr, struct idlist *dead)
{
	struct kl_error e;
	struct kl_index ix;
	struct kl_id *ids = NULL;
	size_t i, n = 0;
	int rc, att, fate;

	if ((rc = kl_repo_list_ids(pr->r, KL_FT_INDEX, &ids, &n, pr->err)) !=
	    KL_OK)
		return rc;
	for (i = 0; i < n && rc == KL_OK; i++) {
		memset(&ix, 0, sizeof(ix));
		kl_error_clear(&e);
		rc = kl_repo_index_file_read(pr->r, &ids[i], &ix, &att, &e);
		if (rc != KL_OK) {	/* a damaged file stays */
			if (rc == KL_E_NOMEM || rc == KL_E_CONN) {
				if (pr->err != NULL)
					*pr->err = e;
			} else
				rc = KL_OK;
			continue;
		}
		if ((fate = index_fate(pr, &ix)) < 0)
			rc = fate;
		else if (fate == 2 && !pr->o->dry_run)
			rc = index_rewrite(pr, &ix, att);
		else if (fate == 2)
			pr->rep->index_written++;
		if (rc == KL_OK && fate > 0)
			rc = idlist_add(dead, &ids[i]);
		kl_index_clear(&ix);
	}
	free(ids);
	return rc;
}

/* Writes the retire record(s) naming ids[0, n) (sorted). */
static int
record_write(struct prune *pr, struct kl_id *ids, size_t n)
{
	size_t i, files = 0;
	int rc;

	rc = kl_record_write(pr->r, ids, n, 1, &files, pr->err);
	pr->rep->records += files;
	for (i = 0; i < n && rc == KL_OK; i++)
		rc = kl_cat_pruned_add(pr->c, &ids[i], pr->err);
	return rc;
}

/* Removes one file; a refusal of this file alone is told and counted. */
static int
file_remove(struct prune *pr, enum kl_ftype t, const struct kl_id *id)
{
	struct kl_backend *be = kl_repo_backend(pr->r);
	char hex[KL_ID_HEX_LEN + 1], what[96];
	const char *why;
	int rc;

	kl_id_hex(id, hex);
	rc = be->ops->remove(be->ctx, t, hex);
	if (rc == KL_OK || rc == KL_E_NOTFOUND) {
		pr->rep->removed++;
		return KL_OK;
	}
	why = be->ops->why != NULL ? be->ops->why(be->ctx) : NULL;
	if (t != KL_FT_DATA)
		snprintf(what, sizeof(what), "index/%s", hex);
	else
		snprintf(what, sizeof(what), "data/%.2s/%s", hex, hex);
	if (rc == KL_E_CONN || rc == KL_E_NOMEM ||
	    (rc == KL_E_PERM && pr->rep->removed == 0))
		return kl_error_obj(pr->err, rc, t == KL_FT_DATA ?
		    KL_ABOUT_PACK : KL_ABOUT_INDEX, id, what, "removing %s: %s",
		    hex, why != NULL ? why : kl_strerror(rc));
	if (pr->o->refused != NULL)
		pr->o->refused(pr->o->refused_arg, what, why != NULL ? why :
		    kl_strerror(rc));
	pr->rep->remove_failed++;
	return KL_OK;
}

static int
retire_and_delete(struct prune *pr)
{
	struct idlist dead = { NULL, 0, 0 }, all = { NULL, 0, 0 };
	size_t i, done = 0;
	int rc = KL_OK;

	if ((rc = dead_index_files(pr, &dead)) != KL_OK)
		goto out;
	pr->rep->index_deleted = dead.n;
	for (i = 0; i < pr->np && rc == KL_OK; i++)
		if (pr->p[i].act != KL_PRUNE_KEEP)
			rc = idlist_add(&all, &pr->p[i].id);
	for (i = 0; i < dead.n && rc == KL_OK; i++)
		rc = idlist_add(&all, &dead.v[i]);
	if (rc != KL_OK || all.n == 0 || pr->o->dry_run)
		goto out;
	qsort(all.v, all.n, sizeof(*all.v), id_cmp);
	if ((rc = record_write(pr, all.v, all.n)) != KL_OK)
		goto out;
	for (i = 0; i < pr->np && rc == KL_OK; i++) {
		if (pr->p[i].act == KL_PRUNE_KEEP)
			continue;
		if ((rc = file_remove(pr, KL_FT_DATA, &pr->p[i].id)) ==
		    KL_OK && (rc = kl_cat_own_pack_del(pr->c,
		    &pr->p[i].id, pr->err)) == KL_OK)
			rc = kl_repo_lock_refresh(pr->r, pr->err);
		progress(pr, "delete", ++done, all.n);
	}
	for (i = 0; i < dead.n && rc == KL_OK; i++) {
		rc = file_remove(pr, KL_FT_INDEX, &dead.v[i]);
		progress(pr, "delete", ++done, all.n);
	}
out:
	free(dead.v);
	free(all.v);
	return rc;
}

int
kl_prune(struct kl_repo *r, const struct kl_prune_opts *o,
    struct kl_prune_report *rep, struct kl_error *err)
{
	struct prune pr;
	int rc, i;

	memset(rep, 0, sizeof(*rep));
	memset(&pr, 0, sizeof(pr));
	pthread_mutex_init(&pr.mu, NULL);
	pr.r = r;
	pr.err = err;
	pr.o = o;
	pr.rep = rep;
	if ((rc = kl_repo_index_load(r, err)) != KL_OK)
		return rc;
	if ((pr.c = kl_repo_catalog(r)) == NULL)
		return KL_E_IO;
	rc = mark(&pr);
	/* every tree is read: the copies read each tree once, and want the
	 * memory (docs/PERFORMANCE.md "Prune": peak 134 -> 102 MiB) */
	kl_repo_tree_cache(r, 0);
	if (rc == KL_OK && (rc = plan(&pr)) == KL_OK &&
	    (rc = copy(&pr)) == KL_OK)
		rc = retire_and_delete(&pr);
	if (pr.s != NULL)
		kl_session_free(pr.s);
	for (i = 0; i < COPY_THREADS_MAX; i++) {
		buf_free(pr.w[i].raw);
		buf_free(pr.w[i].enc);
	}
	free(pr.batch);
	pthread_mutex_destroy(&pr.mu);
	kl_cat_mark_end(pr.c);
	free(pr.p);
	kl_repo_tree_cache(r, 1);	/* the handle as it came */
	return rc;
}
