/*
 * Content restore in pack order: every chunk of every file to restore
 * becomes a "want" (pack, offset -> file, file offset); wants are sorted by
 * pack and offset, each pack's needed range is read once, each blob is
 * decrypted and verified once and written to every place that wants it.
 * Hole ranges are left unwritten, so sparse files stay sparse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "restore_internal.h"

struct want {
	struct kl_id pack;
	uint32_t offset, stored_len, raw_len;
	struct kl_id id;
	size_t file;
	uint64_t foff;
};

struct rd {
	struct kl_repo *r;
	int root;
	struct rjob *files;
	const struct kl_restore_opts *o;
	struct kl_restore_stats *st;
	struct want *w;
	size_t n, cap;
	ZSTD_DCtx *dctx;
	struct buf *raw;
	size_t fd_file;		/* one-entry descriptor cache */
	int fd;
};

static void
rd_warn(struct rd *d, const char *path, int err, const char *what)
{
	if (d->o->warn != NULL)
		d->o->warn(d->o->warn_arg, path, err, what);
}

static void
file_fail(struct rd *d, size_t f, int err, const char *what)
{
	if (d->files[f].failed)
		return;
	d->files[f].failed = 1;
	d->st->errors++;
	rd_warn(d, d->files[f].rel, err, what);
}

static int
want_add(struct rd *d, const struct kl_blob_loc *l, const struct kl_id *id,
    size_t file, uint64_t foff)
{
	struct want *nw;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		if ((nw = realloc(d->w, d->cap * sizeof(*nw))) == NULL)
			return KL_E_NOMEM;
		d->w = nw;
	}
	nw = &d->w[d->n++];
	nw->pack = l->pack;
	nw->offset = l->offset;
	nw->stored_len = l->stored_len;
	nw->raw_len = l->raw_len;
	nw->id = *id;
	nw->file = file;
	nw->foff = foff;
	return KL_OK;
}

static int
plan_file(struct rd *d, size_t f)
{
	const struct kl_node *n = &d->files[f].node;
	struct kl_blob_loc l;
	uint64_t off = 0;
	size_t i;
	int rc;

	for (i = 0; i < n->nchunks; i++) {
		if (kl_repo_index_lookup(d->r, &n->chunks[i], &l) != KL_OK ||
		    l.type != KL_OBJ_DATA) {
			file_fail(d, f, KL_E_NOTFOUND, "content is missing "
			    "from the repository index");
			return KL_OK;
		}
		if ((rc = want_add(d, &l, &n->chunks[i], f, off)) != KL_OK)
			return rc;
		off += l.raw_len;
	}
	if (off != n->size)
		file_fail(d, f, KL_E_CORRUPT, "chunk sizes do not add up to "
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
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->foff < y->foff ? -1 : x->foff > y->foff;
}

static int
pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
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

/* Writes [off, off+len) except where the file has holes. */
static int
write_range(int fd, const struct kl_node *n, const uint8_t *p, uint64_t off,
    size_t len)
{
	uint64_t pos = off, end = off + len;
	size_t i;
	int rc;

	for (i = 0; i < n->nholes && pos < end; i++) {
		const struct kl_hole *h = &n->holes[i];

		if (h->off + h->len <= pos)
			continue;
		if (h->off >= end)
			break;
		if (h->off > pos && (rc = pwrite_full(fd, p + (pos - off),
		    (size_t)(h->off - pos), pos)) != KL_OK)
			return rc;
		pos = h->off + h->len;
	}
	if (pos < end)
		return pwrite_full(fd, p + (pos - off), (size_t)(end - pos),
		    pos);
	return KL_OK;
}

static int
file_fd(struct rd *d, size_t f)
{
	if (d->fd >= 0 && d->fd_file == f)
		return d->fd;
	if (d->fd >= 0)
		close(d->fd);
	d->fd_file = f;
	d->fd = rs_open_beneath(d->root, d->files[f].rel, O_WRONLY, 0);
	return d->fd;
}

static void
deliver(struct rd *d, const struct want *w, const uint8_t *p, size_t len)
{
	int fd, rc;

	if (d->files[w->file].failed)
		return;
	if ((fd = file_fd(d, w->file)) < 0) {
		file_fail(d, w->file, kl_err_from_errno(errno),
		    "cannot open for writing");
		return;
	}
	rc = write_range(fd, &d->files[w->file].node, p, w->foff, len);
	if (rc != KL_OK)
		file_fail(d, w->file, rc, "write failed");
	else
		d->st->bytes += len;
}

/* Decrypts the blob of wants [i, j) (same pack and offset) and writes it. */
static void
blob_deliver(struct rd *d, const uint8_t *key, const struct buf *pk,
    uint32_t base, size_t i, size_t j)
{
	const struct want *w = &d->w[i];
	size_t k;
	int rc;

	buf_reset(d->raw);
	rc = kl_repo_blob_open(d->r, key, &w->id, KL_OBJ_DATA,
	    buf_data(pk) + (w->offset - base), w->stored_len, d->dctx,
	    d->raw);
	if (rc == KL_OK && buf_size(d->raw) != w->raw_len)
		rc = KL_E_CORRUPT;
	for (k = i; k < j; k++) {
		if (rc != KL_OK)
			file_fail(d, d->w[k].file, rc, "content is corrupt "
			    "in the repository");
		else
			deliver(d, &d->w[k], buf_data(d->raw),
			    buf_size(d->raw));
	}
}

static void
group_fail(struct rd *d, size_t i, size_t j, int rc, const char *what)
{
	for (; i < j; i++)
		file_fail(d, d->w[i].file, rc, what);
}

/* Reads the needed range of one pack and delivers wants [i, j). */
static int
pack_restore(struct rd *d, size_t i, size_t j, uint8_t *key)
{
	char name[KL_ID_HEX_LEN + 1];
	struct kl_backend *be = kl_repo_backend(d->r);
	struct buf *pk = NULL;
	uint32_t lo = d->w[i].offset;
	uint64_t hi = 0;
	size_t k, m;
	int rc;

	for (k = i; k < j; k++)
		if ((uint64_t)d->w[k].offset + d->w[k].stored_len > hi)
			hi = (uint64_t)d->w[k].offset + d->w[k].stored_len;
	if ((rc = kl_repo_pack_key(d->r, &d->w[i].pack, key)) != KL_OK) {
		group_fail(d, i, j, rc, kl_repo_errmsg(d->r));
		return rc == KL_E_PERM || rc == KL_E_NOMEM ? rc : KL_OK;
	}
	kl_id_hex(&d->w[i].pack, name);
	rc = be->ops->get(be->ctx, KL_FT_DATA, name, lo, (size_t)(hi - lo),
	    KL_FILE_MAX, &pk);
	if (rc != KL_OK) {
		group_fail(d, i, j, rc, rc == KL_E_NOTFOUND ?
		    "its pack file is missing" : "its pack file is unreadable");
		return KL_OK;
	}
	d->st->packs_read++;
	for (k = i; k < j; k = m) {
		for (m = k + 1; m < j && d->w[m].offset == d->w[k].offset; m++)
			;
		blob_deliver(d, key, pk, lo, k, m);
	}
	buf_free(pk);
	return KL_OK;
}

/*
 * A file whose content could not be fully restored keeps what was written
 * under a name that says so, rather than passing for a good copy; it gets
 * no metadata (phase 3 skips failed jobs).  If the longer name does not
 * fit, the partial file is removed.
 */
static void
damaged_rename(struct rd *d, size_t nfiles)
{
	char to[KL_PATH_MAX + sizeof(KL_RESTORE_DAMAGED_SUFFIX)];
	size_t f;

	for (f = 0; f < nfiles; f++) {
		if (!d->files[f].failed)
			continue;
		snprintf(to, sizeof(to), "%s%s", d->files[f].rel,
		    KL_RESTORE_DAMAGED_SUFFIX);
		if (renameat(d->root, d->files[f].rel, d->root, to) != 0)
			unlinkat(d->root, d->files[f].rel, 0);
	}
}

int
rs_data_restore(struct kl_repo *r, int root, struct rjob *files,
    size_t nfiles, const struct kl_restore_opts *o,
    struct kl_restore_stats *st)
{
	struct rd d;
	uint8_t *key = NULL;
	size_t i, j;
	int rc = KL_OK;

	memset(&d, 0, sizeof(d));
	d.r = r;
	d.root = root;
	d.files = files;
	d.o = o;
	d.st = st;
	d.fd = -1;
	for (i = 0; i < nfiles && rc == KL_OK; i++)
		rc = plan_file(&d, i);
	if (rc != KL_OK)
		goto out;
	qsort(d.w, d.n, sizeof(*d.w), want_cmp);
	rc = KL_E_NOMEM;
	if ((d.dctx = ZSTD_createDCtx()) == NULL ||
	    (d.raw = buf_new(KL_BLOB_RAW_MAX)) == NULL ||
	    kl_session_key_new(&key) != KL_OK)
		goto out;
	rc = KL_OK;
	for (i = 0; i < d.n && rc == KL_OK; i = j) {
		for (j = i + 1; j < d.n && kl_id_eq(&d.w[j].pack, &d.w[i].pack);
		    j++)
			;
		rc = pack_restore(&d, i, j, key);
	}
	if (d.fd >= 0)
		close(d.fd);
	d.fd = -1;
	damaged_rename(&d, nfiles);
out:
	if (d.fd >= 0)
		close(d.fd);
	kl_session_key_free(key);
	buf_free(d.raw);
	ZSTD_freeDCtx(d.dctx);
	free(d.w);
	return rc;
}
