/*
 * Chunks stored as deltas (FORMAT.md §7.1) in the content restore.
 *
 * A delta chunk needs its delta record and its bases (full chunks, in
 * other packs).  The records are small (a writer stores a delta only at
 * half the chunk or less; in practice a few KiB): they are fetched first,
 * in a phase of their own in pack order, and kept in memory up to a
 * budget.  Then the ordinary pass delivers every base once; a delta
 * chunk with one base and its record in memory is made the moment its
 * base arrives - patched in the thread that decrypted the base, verified
 * against the chunk's id, written - so a restore of a database file
 * changed in place reads each pack once and writes each byte once.  A
 * delta chunk with several bases, or whose record did not fit the
 * budget, has its bases written to a scratch file (unnamed, in the
 * target) and is made after the pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/blobcodec.h"
#include "kluis/delta.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "restore_data_internal.h"

/* Delta records kept in memory between their phase and the pass;
 * KLUIS_RESTORE_RECORDS_MAX=BYTES lowers it (tests of the scratch path,
 * docs/TESTING.md). */
#define RESTORE_RECORDS_MAX ((uint64_t)256 << 20)

static uint64_t
records_max(void)
{
	const char *v = getenv("KLUIS_RESTORE_RECORDS_MAX");
	char *end;
	unsigned long long n;

	if (v == NULL || *v < '0' || *v > '9')
		return RESTORE_RECORDS_MAX;
	n = strtoull(v, &end, 10);
	return *end == '\0' && n < RESTORE_RECORDS_MAX ? n :
	    RESTORE_RECORDS_MAX;
}

/*
 * The slot of base id, planned (a want of it for the pass) when it is
 * new: *slot, or KL_E_NOTFOUND when the index has no location of it.
 */
static int
slot_get(struct rd *d, const struct kl_id *id, size_t *slot,
    struct kl_error *e)
{
	struct kl_blob_loc *l;
	struct slot *s;
	uint64_t at;
	size_t nl;
	int rc;

	if (kl_map_get(&d->slot_of, id->b, &at)) {
		*slot = (size_t)at;
		return KL_OK;
	}
	if ((rc = kl_repo_blob_locate(d->r, id, KL_OBJ_DATA, &l, &nl, e)) !=
	    KL_OK)
		return rc;
	if (l[0].raw_len == 0 || l[0].raw_len > KL_DELTA_CHUNK_MAX) {
		free(l);
		return KL_E_CORRUPT;
	}
	if (kl_grow(&d->slots, &d->slots_cap, d->nslots + 1,
	    sizeof(*d->slots)) != KL_OK ||
	    kl_map_put(&d->slot_of, id->b, d->nslots) < 0) {
		free(l);
		return KL_E_NOMEM;
	}
	s = &d->slots[d->nslots];
	memset(s, 0, sizeof(*s));
	s->id = *id;
	s->len = l[0].raw_len;
	rc = rd_want_push(&d->w, &d->n, &d->cap, &l[0], id, KL_OBJ_DATA,
	    W_BASE, d->nslots, 0, 0);
	free(l);
	if (rc == KL_OK)
		*slot = d->nslots++;
	return rc;
}

int
rd_delta_plan(struct rd *d, size_t f, size_t i, const struct kl_delta_ref *x,
    uint64_t foff)
{
	struct kl_blob_loc *l = NULL;
	struct kl_error e;
	struct dwant *w;
	size_t s, nl;
	uint8_t j;
	int rc;

	kl_error_clear(&e);
	for (j = 0; j < x->nbases; j++) {
		rc = slot_get(d, &x->bases[j], &s, &e);
		if (rd_locate_fatal(rc))
			return rd_fail(d, &e, rc);
		if (rc != KL_OK) {
			rd_file_fail(d, f, rc, rc == KL_E_NOTFOUND ? "a base "
			    "chunk of its delta is missing from the repository "
			    "index" : "a base chunk of its delta has a length "
			    "no chunk can have in the repository index");
			return KL_OK;
		}
	}
	rc = kl_repo_blob_locate(d->r, &x->delta, KL_OBJ_DELTA, &l, &nl, &e);
	if (rd_locate_fatal(rc))
		return rd_fail(d, &e, rc);
	if (rc != KL_OK) {
		rd_file_fail(d, f, KL_E_NOTFOUND, "the delta blob of a chunk is "
		    "missing from the repository index");
		return KL_OK;
	}
	if (kl_grow(&d->dw, &d->dw_cap, d->ndw + 1, sizeof(*d->dw)) != KL_OK) {
		free(l);
		return KL_E_NOMEM;
	}
	w = &d->dw[d->ndw];
	memset(w, 0, sizeof(*w));
	w->file = f;
	w->foff = foff;
	w->chunk = i;
	rc = KL_OK;
	if (d->rec_bytes + l[0].raw_len <= records_max()) {
		d->rec_bytes += l[0].raw_len;
		rc = rd_want_push(&d->rw, &d->nrw, &d->rw_cap, &l[0],
		    &x->delta, KL_OBJ_DELTA, W_RECORD, d->ndw, 0, 0);
	}
	free(l);
	if (rc == KL_OK) {
		d->ndw++;
		d->prog.bytes_total += x->len;	/* made by make_one */
	}
	return rc;
}

/*
 * The scratch file for the bases that wait: unnamed (O_TMPFILE) in the
 * target, so that it costs the target's file system what it holds, is
 * gone when the restore ends however it ends, and no one racing the
 * restore in the target can open it.  Where O_TMPFILE is not supported,
 * a new name is created exclusively and unlinked at once.
 */
static int
scratch_open(struct rd *d)
{
	char name[64];
	int fd, e;

	fd = openat(d->root, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd >= 0 ? fd : kl_err_from_errno(errno);
	snprintf(name, sizeof(name), ".kluis-delta-scratch.%ld.%08x",
	    (long)getpid(), (unsigned)randombytes_random());
	fd = openat(d->root, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0)
		return kl_err_from_errno(errno);
	if (unlinkat(d->root, name, 0) != 0) {
		e = errno;
		close(fd);
		return kl_err_from_errno(e);
	}
	return fd;
}

/* The records' phase: d->w is the pass's; the records take its place. */
static int
records_fetch(struct rd *d)
{
	struct want *pw = d->w;
	size_t pn = d->n, pcap = d->cap;
	int rc;

	d->w = d->rw;
	d->n = d->nrw;
	d->cap = d->rw_cap;
	d->rw = NULL;
	d->nrw = d->rw_cap = 0;
	rc = rd_phase(d);
	free(d->w);
	d->w = pw;
	d->n = pn;
	d->cap = pcap;
	/* the groups and set-aside wants were the records': the pass has
	 * none yet (conn_lost then cuts every want of d->w) */
	free(d->groups);
	free(d->gdone);
	d->groups = NULL;
	d->gdone = NULL;
	d->ngroups = d->next = 0;
	d->nlater = 0;
	return rc;
}

static int
user_add(struct slot *s, size_t k)
{
	if (kl_grow(&s->users, &s->users_cap, s->nusers + 1,
	    sizeof(*s->users)) != KL_OK)
		return KL_E_NOMEM;
	s->users[s->nusers++] = k;
	return KL_OK;
}

static struct slot *
slot_of(struct rd *d, const struct kl_id *id)
{
	uint64_t at;

	if (!kl_map_get(&d->slot_of, id->b, &at))
		abort();	/* planned with its delta chunk */
	return &d->slots[at];
}

int
rd_delta_begin(struct rd *d)
{
	const struct kl_delta_ref *x;
	struct slot *s;
	size_t k, i;
	uint8_t j;
	int rc = KL_OK, scratch = 0;

	if (d->ndw == 0)
		return KL_OK;
	if (d->nrw > 0 && (rc = records_fetch(d)) != KL_OK)
		return rc;
	for (k = 0; k < d->ndw && rc == KL_OK; k++) {
		x = kl_node_delta(&d->files[d->dw[k].file].node,
		    d->dw[k].chunk);
		if (d->dw[k].done)
			continue;	/* its record failed */
		if (d->dw[k].rec != NULL && x->nbases == 1) {
			d->dw[k].direct = 1;
			rc = user_add(slot_of(d, &x->bases[0]), k);
			continue;
		}
		for (j = 0; j < x->nbases; j++)
			slot_of(d, &x->bases[j])->scratch = 1;
	}
	for (i = 0; i < d->nslots && rc == KL_OK; i++) {
		s = &d->slots[i];
		if (!s->scratch)
			continue;
		s->off = d->scratch_len;
		d->scratch_len += s->len;
		scratch = 1;
	}
	if (rc == KL_OK && scratch && (d->scratch_fd = scratch_open(d)) < 0) {
		rc = kl_error_obj(d->err, d->scratch_fd, KL_ABOUT_FILE, NULL,
		    d->o->target, "cannot create the scratch file for the "
		    "bases of delta chunks in the target: %s",
		    kl_strerror(d->scratch_fd));
		d->scratch_fd = -1;
	}
	return rc;
}

void
rd_deliver_record(struct rworker *t, const struct want *w, const uint8_t *p,
    size_t len)
{
	struct rd *d = t->d;
	struct dwant *dw = &d->dw[w->dest];
	uint8_t *c;

	if (dw->rec != NULL)
		return;		/* a second copy of the same record */
	if ((c = malloc(len ? len : 1)) == NULL) {
		rd_record_fail(d, w->dest, KL_E_NOMEM);
		return;
	}
	memcpy(c, p, len);
	pthread_mutex_lock(&d->mu);
	dw->rec = c;
	dw->rec_len = len;
	pthread_mutex_unlock(&d->mu);
}

static void
dw_done(struct rd *d, size_t k)
{
	pthread_mutex_lock(&d->mu);
	d->dw[k].done = 1;
	pthread_mutex_unlock(&d->mu);
}

/* Makes delta chunk k from its record and bases b and writes it. */
static void
make_one(struct rworker *t, size_t k, const struct kl_delta_base *b)
{
	struct rd *d = t->d;
	const struct dwant *w = &d->dw[k];
	const struct kl_node *n = &d->files[w->file].node;
	const struct kl_delta_ref *x = kl_node_delta(n, w->chunk);
	int fd, rc;

	if (rd_file_failed(d, w->file))
		goto out;
	if (t->made == NULL && (t->made = malloc(KL_DELTA_CHUNK_MAX)) == NULL) {
		rd_file_fail(d, w->file, KL_E_NOMEM, "out of memory");
		goto out;
	}
	if (kl_chunk_from_delta(kl_repo_keys(d->r), w->rec, w->rec_len, x,
	    &n->chunks[w->chunk], b, t->made) != KL_OK) {
		rd_file_fail(d, w->file, KL_E_CORRUPT, "a chunk stored as a "
		    "delta does not make its content (its delta or a base is "
		    "damaged)");
		goto out;
	}
	if ((fd = rd_file_fd(t, w->file)) < 0) {
		rd_create_failed(d, w->file, fd);
		goto out;
	}
	if ((rc = rd_write_range(fd, n, t->made, w->foff, x->len)) != KL_OK)
		rd_file_fail(d, w->file, rc, "write failed");
	else
		t->bytes += x->len;
out:
	dw_done(d, k);
}

void
rd_deliver_base(struct rworker *t, const struct want *w, const uint8_t *p,
    size_t len)
{
	struct rd *d = t->d;
	struct slot *s = &d->slots[w->dest];
	struct kl_delta_base b = { p, len };
	size_t i;
	int rc;

	if (len != s->len) {
		rd_slot_fail(d, w->dest, KL_E_CORRUPT);
		return;
	}
	for (i = 0; i < s->nusers; i++)
		make_one(t, s->users[i], &b);
	if (s->scratch && (rc = rd_pwrite_full(d->scratch_fd, p, len,
	    s->off)) != KL_OK) {
		rd_slot_fail(d, w->dest, rc);
		return;
	}
	pthread_mutex_lock(&d->mu);
	s->ok = 1;
	pthread_mutex_unlock(&d->mu);
}

void
rd_slot_fail(struct rd *d, size_t s, int err)
{
	pthread_mutex_lock(&d->mu);
	if (d->slots[s].err == KL_OK)
		d->slots[s].err = err;
	pthread_mutex_unlock(&d->mu);
}

void
rd_record_fail(struct rd *d, size_t k, int err)
{
	rd_file_fail(d, d->dw[k].file, err, err == KL_E_NOTFOUND ? "the delta "
	    "blob of a chunk is missing from the repository" : "the delta "
	    "blob of a chunk is damaged in the repository");
	dw_done(d, k);
}

static int
pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? kl_err_from_errno(errno) : KL_E_CORRUPT;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return KL_OK;
}

/* A late delta worker's buffers: a record, bases from the scratch file
 * (each allocated when a chunk first needs it, at the most a base can
 * be, and kept for the next). */
struct dbufs {
	struct buf *rec;
	uint8_t *base[KL_DELTA_REF_BASES_MAX];
};

static int
dbufs_init(struct dbufs *b)
{
	memset(b, 0, sizeof(*b));
	return (b->rec = buf_new(KL_BLOB_RAW_MAX)) == NULL ? KL_E_NOMEM :
	    KL_OK;
}

static void
dbufs_clear(struct dbufs *b)
{
	uint8_t j;

	buf_free(b->rec);
	for (j = 0; j < KL_DELTA_REF_BASES_MAX; j++)
		free(b->base[j]);
}

/* Reads the bases of x back from the scratch file; 0, or why not. */
static int
bases_read(struct rd *d, const struct kl_delta_ref *x, struct dbufs *b,
    struct kl_delta_base *out, const char **what)
{
	const struct slot *s;
	uint8_t j;
	int rc;

	for (j = 0; j < x->nbases; j++) {
		s = slot_of(d, &x->bases[j]);
		pthread_mutex_lock(&d->mu);
		rc = s->ok ? KL_OK : s->err != KL_OK ? s->err : KL_E_NOTFOUND;
		pthread_mutex_unlock(&d->mu);
		*what = "a base chunk of its delta could not be read from the "
		    "repository";
		if (rc == KL_OK && b->base[j] == NULL &&
		    (b->base[j] = malloc(KL_DELTA_CHUNK_MAX)) == NULL) {
			rc = KL_E_NOMEM;
			*what = "out of memory";
		}
		if (rc == KL_OK && (rc = pread_full(d->scratch_fd, b->base[j],
		    s->len, s->off)) != KL_OK)
			*what = "the restore's scratch file could not be read";
		if (rc != KL_OK)
			return rc;
		out[j].p = b->base[j];
		out[j].len = s->len;
	}
	return KL_OK;
}

/* A delta chunk made after the pass: bases from the scratch file, its
 * record from memory or (over the budget) from the repository now. */
static void
make_late(struct rworker *t, size_t k, struct dbufs *b)
{
	struct rd *d = t->d;
	struct dwant *w = &d->dw[k];
	const struct kl_delta_ref *x = kl_node_delta(&d->files[w->file].node,
	    w->chunk);
	struct kl_delta_base base[KL_DELTA_REF_BASES_MAX];
	const char *what = NULL;
	int rc;

	if (rd_file_failed(d, w->file)) {
		dw_done(d, k);
		return;
	}
	if ((rc = bases_read(d, x, b, base, &what)) != KL_OK) {
		rd_file_fail(d, w->file, rc, what);
		dw_done(d, k);
		return;
	}
	if (w->rec == NULL) {
		buf_reset(b->rec);
		kl_error_clear(&t->err);
		rc = kl_repo_blob_read(d->r, &x->delta, KL_OBJ_DELTA, b->rec,
		    &t->err);
		if (rc == KL_E_CONN || rc == KL_E_PERM || rc == KL_E_NOMEM) {
			pthread_mutex_lock(&d->mu);
			if (d->fatal == KL_OK)
				d->fatal = rd_fail(d, &t->err, rc);
			pthread_mutex_unlock(&d->mu);
			return;		/* not done: cut off */
		}
		if (rc != KL_OK) {
			rd_record_fail(d, k, rc);
			return;
		}
		w->rec = (uint8_t *)(uintptr_t)buf_data(b->rec);
		w->rec_len = buf_size(b->rec);
		make_one(t, k, base);
		w->rec = NULL;	/* b's, not to be freed */
		return;
	}
	make_one(t, k, base);
}

static void *
late_main(void *arg)
{
	struct rworker *t = arg;
	struct rd *d = t->d;
	struct dbufs b;
	size_t k;
	int ok;

	/* without its buffers a thread leaves the chunks to the others;
	 * rd_delta_end fails what no thread made */
	if (dbufs_init(&b) != KL_OK) {
		dbufs_clear(&b);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (d->fatal == KL_OK && d->dw_next < d->ndw &&
		    (d->dw[d->dw_next].direct || d->dw[d->dw_next].done))
			d->dw_next++;
		ok = d->fatal == KL_OK && d->dw_next < d->ndw;
		k = d->dw_next;
		if (ok)
			d->dw_next++;
		d->prog.bytes_done += t->bytes - t->reported;
		t->reported = t->bytes;
		if (d->o->progress != NULL)
			d->o->progress(d->o->progress_arg, &d->prog);
		pthread_mutex_unlock(&d->mu);
		if (!ok)
			break;
		make_late(t, k, &b);
	}
	dbufs_clear(&b);
	return NULL;
}

int
rd_delta_end(struct rd *d)
{
	const struct kl_delta_ref *x;
	size_t k;
	int late = 0, err, rc;

	for (k = 0; k < d->ndw; k++) {
		struct dwant *w = &d->dw[k];

		if (!w->direct) {
			late |= !w->done;
			continue;
		}
		if (w->done)
			continue;
		/* its one base never arrived */
		x = kl_node_delta(&d->files[w->file].node, w->chunk);
		err = slot_of(d, &x->bases[0])->err;
		rd_file_fail(d, w->file, err != KL_OK ? err : KL_E_NOTFOUND,
		    "a base chunk of its delta could not be read from the "
		    "repository");
		w->done = 1;
	}
	if (!late)
		return KL_OK;
	d->dw_next = 0;
	if ((rc = rd_run_threads(d, late_main)) != KL_OK)
		return rc;	/* KL_E_CONN: rd_delta_cut names the rest */
	for (k = 0; k < d->ndw; k++)
		if (!d->dw[k].done) {	/* no thread had the memory */
			rd_file_fail(d, d->dw[k].file, KL_E_NOMEM, "out of "
			    "memory for a chunk stored as a delta");
			d->dw[k].done = 1;
		}
	return KL_OK;
}

uint64_t
rd_delta_cut(struct rd *d)
{
	uint64_t n = 0;
	size_t k;

	for (k = 0; k < d->ndw; k++)
		if (!d->dw[k].done && !d->files[d->dw[k].file].failed) {
			d->files[d->dw[k].file].failed = 1;
			n++;
		}
	return n;
}

void
rd_delta_clear(struct rd *d)
{
	size_t i;

	for (i = 0; i < d->ndw; i++)
		free(d->dw[i].rec);
	for (i = 0; i < d->nslots; i++)
		free(d->slots[i].users);
	free(d->dw);
	free(d->slots);
	free(d->rw);
	kl_map_clear(&d->slot_of);
	if (d->scratch_fd >= 0)
		close(d->scratch_fd);
	d->scratch_fd = -1;
}
