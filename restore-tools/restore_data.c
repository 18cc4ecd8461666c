/*
 * Content restore in pack order: every chunk of every file to restore
 * becomes a "want" (pack, offset -> file, file offset); wants are sorted by
 * pack and offset, each pack's needed range is read once, each blob is
 * decrypted and verified once and written to every place that wants it.
 * Hole ranges are left unwritten, so sparse files stay sparse.
 *
 * A pack that is missing or damaged, or a blob in it that does not decrypt,
 * does not fail its files at once: the wants are set aside, and after the
 * pass each takes the next location the blob index knows for its blob
 * (kl_repo_blob_locate: every copy, a bogus claim included, is a
 * location); another pass restores them from there, and so on until every
 * want is delivered or out of locations.  Only what no copy can give
 * fails.
 *
 * A lost connection to the repository ends the restore: no more packs
 * are taken, and every file not yet complete is marked failed (renamed
 * like any other; one message says why, not one per file).
 *
 * Chunks stored as deltas (FORMAT.md §7.1), restore_delta.c: their
 * delta records are fetched first (a phase of their own, in pack order);
 * their bases are wants of the pass like any chunk, and a delta chunk
 * with one base is made as that base arrives; the others are made after
 * the pass from bases kept in a scratch file.  A file one of whose delta
 * chunks cannot be made fails like any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "restore_data_internal.h"

#define RESTORE_THREADS_MAX 16

/* A free slot at the end of *v (n used of *cap), or NULL. */
static struct want *
want_slot(struct want **v, size_t *n, size_t *cap)
{
	if (kl_grow(v, cap, *n + 1, sizeof(**v)) != KL_OK)
		return NULL;
	return &(*v)[(*n)++];
}

void
rd_file_fail(struct rd *d, size_t f, int err, const char *what)
{
	char path[2 * KL_PATH_MAX + 2];

	pthread_mutex_lock(&d->mu);
	if (!d->files[f].failed) {
		d->files[f].failed = 1;
		d->st->errors++;
		snprintf(path, sizeof(path), "%s/%s", d->o->target,
		    d->files[f].rel);
		if (d->o->warn != NULL)
			d->o->warn(d->o->warn_arg, path, err, what);
	}
	pthread_mutex_unlock(&d->mu);
}

/* Want w's content is lost: its file fails, or what it was for. */
static void
dest_fail(struct rd *d, const struct want *w, int err, const char *what)
{
	switch (w->kind) {
	case W_BASE:
		rd_slot_fail(d, w->dest, err);
		break;
	case W_RECORD:
		rd_record_fail(d, w->dest, err);
		break;
	default:
		rd_file_fail(d, w->dest, err, what);
	}
}

/* Marks the file of w cut off by a lost connection (under mu).  A base
 * or a record cuts off the delta chunks waiting for it: rd_delta_cut. */
static void
dest_cut(struct rd *d, const struct want *w)
{
	if (w->kind != W_FILE)
		return;
	if (!d->files[w->dest].failed) {
		d->files[w->dest].failed = 1;
		d->cut++;
	}
}

/*
 * The repository could not give want k's content (pack missing or
 * damaged, blob corrupt): it is set aside to be fetched from the blob's
 * next location after the pass; without memory its file fails now.
 */
static void
want_fail(struct rd *d, size_t k, int err, const char *what)
{
	struct want *l = NULL;

	if (err == KL_E_CONN) {		/* the end of the restore */
		pthread_mutex_lock(&d->mu);
		if (d->fatal == KL_OK)
			d->fatal = KL_E_CONN;
		dest_cut(d, &d->w[k]);
		pthread_mutex_unlock(&d->mu);
		return;
	}
	pthread_mutex_lock(&d->mu);
	if ((l = want_slot(&d->later, &d->nlater, &d->later_cap)) != NULL) {
		*l = d->w[k];
		l->err = err;
		l->what = what;
	}
	pthread_mutex_unlock(&d->mu);
	if (l == NULL)
		dest_fail(d, &d->w[k], err, what);
}

int
rd_file_failed(struct rd *d, size_t f)
{
	int v;

	pthread_mutex_lock(&d->mu);
	v = d->files[f].failed;
	pthread_mutex_unlock(&d->mu);
	return v;
}

int
rd_want_push(struct want **v, size_t *n, size_t *cap,
    const struct kl_blob_loc *l, const struct kl_id *id, uint8_t type,
    uint8_t kind, size_t dest, uint64_t foff, size_t attempt)
{
	struct want *nw;

	if ((nw = want_slot(v, n, cap)) == NULL)
		return KL_E_NOMEM;
	memset(nw, 0, sizeof(*nw));
	nw->pack = l->pack;
	nw->offset = l->offset;
	nw->stored_len = l->stored_len;
	nw->raw_len = l->raw_len;
	nw->id = *id;
	nw->type = type;
	nw->kind = kind;
	nw->dest = dest;
	nw->foff = foff;
	nw->attempt = attempt;
	return KL_OK;
}

/* Keeps e, the detail of fatal error rc, for the caller (under mu while
 * workers run); returns rc. */
int
rd_fail(struct rd *d, const struct kl_error *e, int rc)
{
	if (d->err != NULL)
		*d->err = *e;
	return rc;
}

/* A fatal error of locating a blob (not its absence). */
int
rd_locate_fatal(int rc)
{
	return rc == KL_E_NOMEM || rc == KL_E_CONN || rc == KL_E_IO;
}

static int
plan_file(struct rd *d, size_t f)
{
	const struct kl_node *n = &d->files[f].node;
	const struct kl_delta_ref *x;
	struct kl_blob_loc *l;
	struct kl_error e;
	uint64_t off = 0;
	size_t i, nl;
	int rc;

	for (i = 0; i < n->nchunks; i++) {
		if ((x = kl_node_delta(n, i)) != NULL) {
			if ((rc = rd_delta_plan(d, f, i, x, off)) != KL_OK)
				return rc;
			off += x->len;
			continue;
		}
		kl_error_clear(&e);
		rc = kl_repo_blob_locate(d->r, &n->chunks[i], KL_OBJ_DATA, &l,
		    &nl, &e);
		if (rd_locate_fatal(rc))
			return rd_fail(d, &e, rc);
		if (rc != KL_OK) {
			rd_file_fail(d, f, KL_E_NOTFOUND, "content is missing "
			    "from the repository index");
			return KL_OK;
		}
		rc = rd_want_push(&d->w, &d->n, &d->cap, &l[0], &n->chunks[i],
		    KL_OBJ_DATA, W_FILE, f, off, 0);
		off += l[0].raw_len;
		free(l);
		if (rc != KL_OK)
			return rc;
	}
	if (off != n->size)
		rd_file_fail(d, f, KL_E_CORRUPT, "chunk sizes do not add up to "
		    "the file size");
	return KL_OK;
}

static int
want_cmp(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = kl_id_cmp(&x->pack, &y->pack);

	if (c != 0)
		return c;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->dest != y->dest)
		return x->dest < y->dest ? -1 : 1;
	return x->foff < y->foff ? -1 : x->foff > y->foff;
}

/* Sorts the wants and records where each pack's run starts. */
static int
plan_groups(struct rd *d)
{
	size_t i;

	if (d->n > 1)
		qsort(d->w, d->n, sizeof(*d->w), want_cmp);
	free(d->gdone);
	if ((d->groups = malloc((d->n + 1) * sizeof(size_t))) == NULL ||
	    (d->gdone = calloc(d->n + 1, 1)) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < d->n; i++)
		if (i == 0 || !kl_id_eq(&d->w[i].pack, &d->w[i - 1].pack))
			d->groups[d->ngroups++] = i;
	d->groups[d->ngroups] = d->n;
	return KL_OK;
}

int
rd_pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kl_err_from_errno(errno);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return KL_OK;
}

/*
 * The first hole of n that ends after pos.  Holes are sorted and do not
 * overlap (kl_node_valid), so their ends increase: a binary search keeps
 * a file of many holes and many chunks from costing chunks x holes.
 */
static size_t
hole_after(const struct kl_node *n, uint64_t pos)
{
	size_t lo = 0, hi = n->nholes, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (n->holes[mid].off + n->holes[mid].len <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Writes [off, off+len) except where the file has holes. */
int
rd_write_range(int fd, const struct kl_node *n, const uint8_t *p, uint64_t off,
    size_t len)
{
	uint64_t pos = off, end = off + len;
	size_t i;
	int rc;

	for (i = hole_after(n, pos); i < n->nholes && pos < end; i++) {
		const struct kl_hole *h = &n->holes[i];

		if (h->off >= end)
			break;
		if (h->off > pos && (rc = rd_pwrite_full(fd, p + (pos - off),
		    (size_t)(h->off - pos), pos)) != KL_OK)
			return rc;
		pos = h->off + h->len;
	}
	if (pos < end)
		return rd_pwrite_full(fd, p + (pos - off), (size_t)(end - pos),
		    pos);
	return KL_OK;
}

/*
 * Creates file job j, exclusively (whatever stands at its name now was
 * not made by this restore and is not written to), empty: it grows only
 * with what is written.  Records which file it is.  Returns the
 * descriptor or a negative kl_err.
 */
static int
file_create(int root, struct rjob *j)
{
	struct stat st;
	int fd, e;

	RS_STEP(RS_STEP_CONTENT, j->rel);
	fd = rs_open_beneath(root, j->rel, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return rs_err(errno);
	if (fstat(fd, &st) != 0) {
		e = errno;
		close(fd);
		return kl_err_from_errno(e);
	}
	rs_ident_set(&j->id, &st);
	return fd;
}


/*
 * Opens file f for writing: the first thread to want it creates it, the
 * others wait for that and reopen the file it made (restore.c makes the
 * first name of a hard-linked file during the walk).  Returns the
 * descriptor or a negative kl_err.
 */
static int
file_get(struct rd *d, size_t f)
{
	struct rjob *j = &d->files[f];
	int claim = 0, state, fd;

	pthread_mutex_lock(&d->mu);
	while (j->state == RS_FILE_CREATING)
		pthread_cond_wait(&d->made, &d->mu);
	if (j->state == RS_FILE_NONE) {
		j->state = RS_FILE_CREATING;
		claim = 1;
	}
	state = j->state;
	pthread_mutex_unlock(&d->mu);
	if (claim) {
		if ((fd = file_create(d->root, j)) < 0)
			rd_create_failed(d, f, fd);	/* before others hear */
		pthread_mutex_lock(&d->mu);
		j->state = fd >= 0 ? RS_FILE_MADE : RS_FILE_LOST;
		pthread_cond_broadcast(&d->made);
		pthread_mutex_unlock(&d->mu);
		return fd;
	}
	if (state == RS_FILE_LOST)
		return KL_E_CHANGED;
	RS_STEP(RS_STEP_CONTENT, j->rel);
	return rs_reopen(d->root, j->rel, &j->id, O_WRONLY);
}

/* A complete file whose last bytes are a hole: only a size makes them. */
static int
tail_hole(const struct kl_node *n)
{
	const struct kl_hole *h = n->nholes ? &n->holes[n->nholes - 1] : NULL;

	return h != NULL && h->off + h->len == n->size;
}

/* Gives complete file j the size its verified chunks add up to. */
static int
file_complete(int root, const struct rjob *j)
{
	int fd, rc = KL_OK;

	if ((fd = rs_reopen(root, j->rel, &j->id, O_WRONLY)) < 0)
		return fd;
	if (ftruncate(fd, (off_t)j->node.size) != 0)
		rc = kl_err_from_errno(errno);
	close(fd);
	return rc;
}

void
rs_files_create(int root, struct rjob *files, size_t nfiles,
    void (*fail)(void *arg, size_t f, int err), void *arg)
{
	struct rjob *j;
	size_t f;
	int fd, rc;

	for (f = 0; f < nfiles; f++) {
		j = &files[f];
		rc = KL_OK;
		if (j->state == RS_FILE_NONE) {
			if ((fd = file_create(root, j)) >= 0)
				close(fd);
			j->state = fd >= 0 ? RS_FILE_MADE : RS_FILE_LOST;
			rc = fd >= 0 ? KL_OK : fd;
		}
		if (rc == KL_OK && j->state == RS_FILE_MADE && !j->failed &&
		    tail_hole(&j->node))
			rc = file_complete(root, j);
		if (rc != KL_OK && fail != NULL)
			fail(arg, f, rc);
	}
}

void
rd_create_failed(void *arg, size_t f, int err)
{
	rd_file_fail(arg, f, err, err == KL_E_CHANGED || err == KL_E_EXISTS ?
	    "something else took its place during the restore; not restored" :
	    "could not be created");
}

int
rd_file_fd(struct rworker *t, size_t f)
{
	if (t->fd >= 0 && t->fd_file == f)
		return t->fd;
	if (t->fd >= 0)
		close(t->fd);
	t->fd_file = f;
	t->fd = file_get(t->d, f);
	return t->fd;
}

static void
deliver(struct rworker *t, const struct want *w, const uint8_t *p,
    size_t len)
{
	struct rd *d = t->d;
	int fd, rc;

	if (w->kind == W_BASE) {
		rd_deliver_base(t, w, p, len);
		return;
	}
	if (w->kind == W_RECORD) {
		rd_deliver_record(t, w, p, len);
		return;
	}
	if (rd_file_failed(d, w->dest))
		return;
	if ((fd = rd_file_fd(t, w->dest)) < 0) {
		rd_create_failed(d, w->dest, fd);
		return;
	}
	rc = rd_write_range(fd, &d->files[w->dest].node, p, w->foff, len);
	if (rc != KL_OK)
		rd_file_fail(d, w->dest, rc, "write failed");
	else
		t->bytes += len;
}

/* Decrypts the blob of wants [i, j) (same pack and offset) and writes it. */
static void
blob_deliver(struct rworker *t, const struct buf *pk, uint32_t base,
    size_t i, size_t j)
{
	struct rd *d = t->d;
	const struct want *w = &d->w[i];
	size_t k;
	int rc;

	buf_reset(t->raw);
	rc = kl_blob_open(kl_repo_keys(d->r), t->key, &w->id, w->type,
	    buf_data(pk) + (w->offset - base), w->stored_len, t->dctx,
	    t->raw, NULL);
	if (rc == KL_OK && buf_size(t->raw) != w->raw_len)
		rc = KL_E_CORRUPT;
	for (k = i; k < j; k++) {
		if (rc != KL_OK)
			want_fail(d, k, rc, "content is corrupt in the "
			    "repository");
		else
			deliver(t, &d->w[k], buf_data(t->raw),
			    buf_size(t->raw));
	}
}

static void
group_fail(struct rd *d, size_t i, size_t j, int rc, const char *what)
{
	for (; i < j; i++)
		want_fail(d, i, rc, what);
}

/*
 * A gap of unneeded bytes up to this size is read through rather than
 * split into two requests: a request costs a round trip (over ssh://) and
 * a seek, which 256 KiB of transfer costs about as much as (2 ms at
 * 120 MB/s).  Larger gaps - a partial restore taking a few blobs from a
 * 16 MiB pack, whose blobs are shuffled - are skipped, so only what is
 * needed is fetched.
 */
#define RESTORE_GAP_MAX ((uint64_t)256 << 10)

/* Reads bytes [lo, hi) of the pack and delivers wants [i, j) from them. */
static void
range_restore(struct rworker *t, const char *name, uint32_t lo, uint64_t hi,
    size_t i, size_t j)
{
	struct rd *d = t->d;
	struct kl_backend *be = kl_repo_backend(d->r);
	struct buf *pk = NULL;
	size_t k, m;
	int rc;

	rc = be->ops->get(be->ctx, KL_FT_DATA, name, lo, (size_t)(hi - lo),
	    KL_FILE_MAX, &pk);
	if (rc == KL_E_CORRUPT && d->w[j - 1].offset != d->w[i].offset) {
		/* a truncated pack: the blobs before the cut still restore */
		for (k = i; k < j; k = m) {
			for (m = k + 1; m < j &&
			    d->w[m].offset == d->w[k].offset; m++)
				;
			range_restore(t, name, d->w[k].offset,
			    (uint64_t)d->w[k].offset + d->w[k].stored_len, k,
			    m);
		}
		return;
	}
	if (rc != KL_OK) {
		group_fail(d, i, j, rc, rc == KL_E_NOTFOUND ?
		    "its pack file is missing" : "its pack file is damaged");
		return;
	}
	t->fetched += buf_size(pk);
	for (k = i; k < j; k = m) {
		for (m = k + 1; m < j && d->w[m].offset == d->w[k].offset; m++)
			;
		blob_deliver(t, pk, lo, k, m);
	}
	buf_free(pk);
}

/* Reads what one pack's wants [i, j) (sorted by offset) need, once. */
static int
pack_restore(struct rworker *t, size_t i, size_t j)
{
	char name[KL_ID_HEX_LEN + 1];
	struct rd *d = t->d;
	uint64_t hi, end;
	size_t k, start;
	int rc;

	kl_error_clear(&t->err);
	if ((rc = kl_repo_pack_key(d->r, &d->w[i].pack, t->key, &t->err)) !=
	    KL_OK) {
		group_fail(d, i, j, rc, rc == KL_E_NOTFOUND ?
		    "its pack file is missing" : "its pack file is damaged");
		return rc == KL_E_PERM || rc == KL_E_NOMEM ? rc : KL_OK;
	}
	kl_id_hex(&d->w[i].pack, name);
	t->packs++;
	for (start = i, hi = 0, k = i; k < j; k++) {
		end = (uint64_t)d->w[k].offset + d->w[k].stored_len;
		if (k > start && d->w[k].offset > hi + RESTORE_GAP_MAX) {
			range_restore(t, name, d->w[start].offset, hi, start, k);
			start = k;
			hi = 0;
		}
		if (end > hi)
			hi = end;
	}
	range_restore(t, name, d->w[start].offset, hi, start, j);
	return KL_OK;
}

/* Takes the next pack group; 0 when none is left or a fatal error hit. */
static int
take_group(struct rd *d, size_t *g)
{
	int ok;

	pthread_mutex_lock(&d->mu);
	ok = d->fatal == KL_OK && d->next < d->ngroups;
	if (ok)
		*g = d->next++;
	pthread_mutex_unlock(&d->mu);
	return ok;
}

static void *
worker_main(void *arg)
{
	struct rworker *t = arg;
	struct rd *d = t->d;
	size_t g;
	int rc;

	while (take_group(d, &g)) {
		rc = pack_restore(t, d->groups[g], d->groups[g + 1]);
		pthread_mutex_lock(&d->mu);
		if (rc != KL_OK && d->fatal == KL_OK)	/* the first tells */
			d->fatal = rd_fail(d, &t->err, rc);
		d->gdone[g] = 1;
		d->prog.packs_done++;
		d->prog.bytes_done += t->bytes - t->reported;
		t->reported = t->bytes;
		if (d->o->progress != NULL)
			d->o->progress(d->o->progress_arg, &d->prog);
		pthread_mutex_unlock(&d->mu);
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	return NULL;
}

static int
worker_init(struct rworker *t, struct rd *d)
{
	memset(t, 0, sizeof(*t));
	t->d = d;
	t->fd = -1;
	if ((t->dctx = ZSTD_createDCtx()) == NULL ||
	    (t->raw = buf_new(KL_BLOB_RAW_MAX)) == NULL)
		return KL_E_NOMEM;
	return kl_session_key_new(&t->key);
}

static void
worker_clear(struct rworker *t)
{
	if (t->fd >= 0)		/* a body that made delta chunks */
		close(t->fd);
	t->fd = -1;
	kl_session_key_free(t->key);
	free(t->made);
	buf_free(t->raw);
	ZSTD_freeDCtx(t->dctx);
}

/*
 * Decryption and decompression are CPU work: one thread per core, each
 * taking the next pack.  If fewer threads can be started, those that run
 * still take every pack.
 */
int
rd_run_threads(struct rd *d, void *(*body)(void *))
{
	struct rworker t[RESTORE_THREADS_MAX];
	pthread_t th[RESTORE_THREADS_MAX];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int i, n, made = 0, rc = KL_OK;

	n = cores < 1 ? 1 : cores > RESTORE_THREADS_MAX ?
	    RESTORE_THREADS_MAX : (int)cores;
	for (i = 0; i < n; i++) {
		if ((rc = worker_init(&t[i], d)) != KL_OK ||
		    pthread_create(&th[i], NULL, body, &t[i]) != 0) {
			worker_clear(&t[i]);
			break;
		}
		made++;
	}
	if (made == 0)
		return rc != KL_OK ? rc : KL_E_NOMEM;
	for (i = 0; i < made; i++) {
		pthread_join(th[i], NULL);
		d->st->bytes += t[i].bytes;
		d->st->packs_read += t[i].packs;
		d->st->bytes_fetched += t[i].fetched;
		worker_clear(&t[i]);
	}
	return d->fatal;
}

static int
run_workers(struct rd *d)
{
	return rd_run_threads(d, worker_main);
}

/* Says once per pack that its content is read from other copies. */
static void
copies_warn(struct rd *d, const struct want *l, size_t n,
    const uint8_t *found)
{
	char hex[KL_ID_HEX_LEN + 1], path[KL_ID_HEX_LEN + 16];
	size_t i, j;
	int any;

	for (i = 0; i < n; i = j) {
		for (any = 0, j = i; j < n && kl_id_eq(&l[j].pack, &l[i].pack);
		    j++)
			any |= found[j];
		if (!any || d->o->warn == NULL)
			continue;
		kl_id_hex(&l[i].pack, hex);
		snprintf(path, sizeof(path), "data/%.2s/%s", hex, hex);
		d->o->warn(d->o->warn_arg, path, l[i].err, "this location in "
		    "the repository is missing, damaged or bogus; the restore "
		    "reads its content from other copies the index knows "
		    "(files it still cannot restore are named; run kluis "
		    "check)");
	}
}

/*
 * The location after the one set-aside want l used, into *next: 1 if
 * there is one (of the same raw length: where the content goes in the
 * file is planned), 0 if not, <0 on a fatal error.
 */
static int
next_location(struct rd *d, const struct want *l, struct kl_blob_loc *next)
{
	struct kl_blob_loc *locs;
	struct kl_error e;
	size_t n;
	int rc;

	kl_error_clear(&e);
	rc = kl_repo_blob_locate(d->r, &l->id, l->type, &locs, &n, &e);
	if (rc != KL_OK)
		return rd_locate_fatal(rc) ? rd_fail(d, &e, rc) : 0;
	rc = l->attempt + 1 < n && locs[l->attempt + 1].raw_len == l->raw_len;
	if (rc)
		*next = locs[l->attempt + 1];
	free(locs);
	return rc;
}

/*
 * Replaces the wants by the set-aside ones that have another location
 * (with that location); the others fail their files now.
 */
static int
plan_copies(struct rd *d)
{
	struct want *l = d->later;
	struct kl_blob_loc *next;
	size_t i, n = d->nlater;
	uint8_t *found;
	int rc = KL_OK, has;

	qsort(l, n, sizeof(*l), want_cmp);	/* by pack: one warning each */
	next = malloc(n * sizeof(*next));
	found = calloc(n, 1);
	if (next == NULL || found == NULL)
		rc = KL_E_NOMEM;
	for (i = 0; i < n && rc == KL_OK; i++) {
		if ((has = next_location(d, &l[i], &next[i])) < 0)
			rc = has;
		found[i] = has > 0;
	}
	if (rc == KL_OK) {
		copies_warn(d, l, n, found);
		d->n = d->ngroups = d->next = 0;
		free(d->groups);
		d->groups = NULL;
		for (i = 0; i < n && rc == KL_OK; i++)
			if (!found[i])
				dest_fail(d, &l[i], l[i].err, l[i].what);
			else
				rc = rd_want_push(&d->w, &d->n, &d->cap,
				    &next[i], &l[i].id, l[i].type, l[i].kind,
				    l[i].dest, l[i].foff, l[i].attempt + 1);
	}
	free(next);
	free(found);
	return rc;
}

/* A pass's packs and bytes join the totals of what is to be written. */
static void
progress_plan(struct rd *d)
{
	size_t i;

	d->prog.packs_total += d->ngroups;
	for (i = 0; i < d->n; i++)	/* delta chunks: rd_delta_plan */
		if (d->w[i].kind == W_FILE)
			d->prog.bytes_total += d->w[i].raw_len;
}

/*
 * The passes after the first: what a pass set aside, from the next
 * location of each blob, until nothing is set aside.  Each pass uses one
 * more location of each blob it retries, so there are at most as many
 * passes as the blob with the most locations has.
 */
static int
copies_restore(struct rd *d)
{
	size_t i;
	int rc = KL_OK;

	while (rc == KL_OK && d->nlater > 0) {
		if ((rc = plan_copies(d)) != KL_OK)
			break;
		d->nlater = 0;	/* now in d->w; the next pass refills it */
		if (d->n == 0)
			break;
		if ((rc = plan_groups(d)) == KL_OK) {
			progress_plan(d);
			rc = run_workers(d);
		}
	}
	if (rc != KL_OK && rc != KL_E_CONN)
		for (i = 0; i < d->nlater; i++)	/* none was failed yet */
			dest_fail(d, &d->later[i], d->later[i].err,
			    d->later[i].what);
	return rc;
}

int
rd_phase(struct rd *d)
{
	int rc;

	free(d->groups);
	d->groups = NULL;
	d->ngroups = d->next = 0;
	d->nlater = 0;
	if (d->n == 0)
		return KL_OK;
	if ((rc = plan_groups(d)) != KL_OK)
		return rc;
	progress_plan(d);
	if ((rc = run_workers(d)) == KL_OK)
		rc = copies_restore(d);
	return rc;
}

/*
 * The connection is gone: every file with content in a pack not handled,
 * or waiting for another copy, is incomplete.  Says so once.
 */
static void
conn_lost(struct rd *d)
{
	size_t g, i;

	if (d->groups == NULL)	/* lost before the pass was planned */
		for (i = 0; i < d->n; i++)
			dest_cut(d, &d->w[i]);
	for (g = 0; d->groups != NULL && g < d->ngroups; g++)
		for (i = d->groups[g]; !d->gdone[g] && i < d->groups[g + 1];
		    i++)
			dest_cut(d, &d->w[i]);
	for (i = 0; i < d->nlater; i++)
		dest_cut(d, &d->later[i]);
	d->cut += rd_delta_cut(d);	/* delta chunks not made */
	d->st->errors += d->cut;
	kl_error_obj(d->err, KL_E_CONN, KL_ABOUT_SERVER, NULL, NULL, "the "
	    "connection to the repository was lost; %llu file%s could not be "
	    "restored completely and %s kept as NAME%s: restore again into "
	    "an empty directory",
	    (unsigned long long)d->cut, d->cut == 1 ? "" : "s",
	    d->cut == 1 ? "is" : "are", KL_RESTORE_DAMAGED_SUFFIX);
}

/*
 * A file whose content could not be fully restored keeps what was written
 * under a name that says so, rather than passing for a good copy; it gets
 * no metadata (phase 3 skips failed jobs).  If the longer name does not
 * fit, the partial file is removed.
 */
void
rs_damaged_rename(int root, const struct rjob *files, size_t nfiles)
{
	size_t f;

	for (f = 0; f < nfiles; f++)
		if (files[f].failed && files[f].state == RS_FILE_MADE)
			rs_rename_damaged(root, files[f].rel, &files[f].id);
}

int
rs_data_restore(struct kl_repo *r, int root, struct rjob *files,
    size_t nfiles, const struct kl_restore_opts *o,
    struct kl_restore_stats *st, struct kl_error *err)
{
	struct rd d;
	size_t i;
	int rc = KL_OK;

	memset(&d, 0, sizeof(d));
	d.r = r;
	d.err = err;
	d.root = root;
	d.files = files;
	d.o = o;
	d.st = st;
	d.scratch_fd = -1;
	kl_map_init(&d.slot_of, KL_ID_LEN);
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.made, NULL);
	for (i = 0; i < nfiles && rc == KL_OK; i++)
		rc = plan_file(&d, i);
	/* delta records first (restore_delta.c), then the pass */
	if (rc == KL_OK)
		rc = rd_delta_begin(&d);
	if (rc == KL_OK)
		rc = rd_phase(&d);
	if (rc == KL_OK)
		rc = rd_delta_end(&d);
	if (rc == KL_E_CONN)
		conn_lost(&d);
	rs_files_create(root, files, nfiles, rd_create_failed, &d);
	if (rc == KL_OK || rc == KL_E_CONN)
		rs_damaged_rename(root, files, nfiles);
	free(d.groups);
	free(d.gdone);
	free(d.w);
	free(d.later);
	rd_delta_clear(&d);
	pthread_cond_destroy(&d.made);
	pthread_mutex_destroy(&d.mu);
	return rc;
}
