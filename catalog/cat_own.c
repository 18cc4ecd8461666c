/*
 * This client's own backups: per series the last snapshot it wrote (the
 * parent of its next backup) and the trees of that backup, so that a
 * backup-only key, which cannot read the repository's trees, still finds
 * which files are unchanged.
 *
 * The trees of a backup in progress are staged under series_no = -series
 * and take the place of the previous backup's only at kl_cat_own_commit,
 * in one transaction: a failed backup leaves the last good one intact.
 *
 * A backup puts one tree per directory (10 000s).  Each put as its own
 * transaction would cost a WAL append and a lock round per tree; holding
 * one write transaction across the backup would lock other kluis
 * processes out of the catalog for hours.  So puts collect in memory
 * (compressed) and are written OWN_BATCH at a time, one short transaction
 * per batch; commit and abort settle the rest.  With synchronous=NORMAL
 * in WAL mode none of these commits fsyncs (only checkpoints do).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "catalog_internal.h"

#define OWN_BATCH 256				/* trees per transaction */
#define OWN_BATCH_BYTES ((size_t)8 << 20)	/* or compressed bytes */
#define OWN_ZSTD_LEVEL 1

void
cat_own_drop(struct kl_cat *c)
{
	size_t i;

	for (i = 0; i < c->own_npend; i++)
		free(c->own_pend[i].z);
	free(c->own_pend);
	c->own_pend = NULL;
	c->own_npend = c->own_pend_bytes = 0;
}

static int
own_write(struct kl_cat *c, struct kl_error *err)
{
	static const char sql[] = "INSERT OR IGNORE INTO own_tree(series_no,"
	    " id, data) VALUES(?1, ?2, ?3)";
	const struct cat_own_tree *t;
	sqlite3_stmt *st;
	size_t i;
	int rc, src;

	for (i = 0; i < c->own_npend; i++) {
		t = &c->own_pend[i];
		if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
			return rc;
		if ((src = sqlite3_bind_int64(st, 1, -c->own_series)) !=
		    SQLITE_OK ||
		    (src = cat_bind_id(st, 2, &t->id)) != SQLITE_OK ||
		    (src = sqlite3_bind_blob(st, 3, t->z, (int)t->zlen,
		    SQLITE_STATIC)) != SQLITE_OK ||
		    (src = sqlite3_step(st)) != SQLITE_DONE)
			return cat_sqlerr(c, err, src, "own_tree_put");
	}
	return KL_OK;
}

/* Writes the pending trees; they are forgotten either way (a tree that
 * could not be written is only a cache miss for the next backup). */
int
cat_own_flush(struct kl_cat *c, struct kl_error *err)
{
	int rc;

	if (c->own_npend == 0)
		return KL_OK;
	if ((rc = cat_tx_begin(c, err)) == KL_OK)
		rc = cat_tx_end(c, own_write(c, err), err);
	cat_own_drop(c);
	return rc;
}

int
kl_cat_own_parent(struct kl_cat *c, const char *host,
    char *const *paths, size_t npaths, struct kl_id *snap, struct kl_id *root,
    int *intact, struct kl_error *err)
{
	static const char sql[] = "SELECT snap, root, intact FROM own_parent"
	    " WHERE series_no = ?1";
	sqlite3_stmt *st;
	int64_t series;
	int rc, src;

	if (snap == NULL || root == NULL)
		return KL_E_INVAL;
	memset(snap, 0, sizeof(*snap));
	memset(root, 0, sizeof(*root));
	if (intact != NULL)
		*intact = 0;
	cat_lock(c);
	if ((rc = cat_series_get(c, host, paths, npaths, 0, &series, err)) !=
	    KL_OK || (rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = sqlite3_bind_int64(st, 1, series)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
		    cat_sqlerr(c, err, src, "own_parent");
		goto out;
	}
	if ((rc = cat_col_id(c, st, 0, snap, err)) != KL_OK ||
	    (rc = cat_col_id(c, st, 1, root, err)) != KL_OK) {
		memset(snap, 0, sizeof(*snap));
		memset(root, 0, sizeof(*root));
	} else if (intact != NULL)
		*intact = sqlite3_column_int(st, 2) == 1;
out:
	cat_unlock(c);
	return rc;
}

/* Deletes the rows of series_no no from own_tree. */
static int
own_delete(struct kl_cat *c, int64_t no, struct kl_error *err)
{
	static const char sql[] = "DELETE FROM own_tree WHERE series_no = ?1";
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, no)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "own");
	return KL_OK;
}

static int
own_begin(struct kl_cat *c, const char *host, char *const *paths,
    size_t npaths, int64_t *series, struct kl_error *err)
{
	int rc;

	/* leftovers of a backup that died before commit or abort */
	if ((rc = cat_series_get(c, host, paths, npaths, 1, series, err)) !=
	    KL_OK)
		return rc;
	return own_delete(c, -*series, err);
}

int
kl_cat_own_begin(struct kl_cat *c, const char *host, char *const *paths,
    size_t npaths, struct kl_error *err)
{
	int64_t series = 0;
	int rc;

	cat_lock(c);
	if (c->own_series != 0) {
		rc = cat_err(c, err, KL_E_INVAL, "own_begin: a backup is "
		    "already being recorded");
	} else if ((rc = cat_tx_begin(c, err)) == KL_OK) {
		rc = cat_tx_end(c, own_begin(c, host, paths, npaths, &series,
		    err), err);
		if (rc == KL_OK)
			c->own_series = series;
	}
	cat_unlock(c);
	return rc;
}

/* The zstd frame of [data, data + len) in a malloc'd *z. */
static int
own_compress(struct kl_cat *c, const uint8_t *data, size_t len, void **z,
    size_t *zlen)
{
	size_t cap, n;
	void *p, *q;

	*z = NULL;
	cap = ZSTD_compressBound(len);
	if ((p = malloc(cap)) == NULL)
		return KL_E_NOMEM;
	pthread_mutex_lock(&c->zmu);
	if (c->zc == NULL)
		c->zc = ZSTD_createCCtx();
	n = c->zc == NULL ? (size_t)-1 : ZSTD_compressCCtx(c->zc, p, cap, data,
	    len, OWN_ZSTD_LEVEL);
	pthread_mutex_unlock(&c->zmu);
	if (c->zc == NULL || ZSTD_isError(n)) {
		free(p);
		return KL_E_NOMEM;	/* zstd fails only to allocate */
	}
	if ((q = realloc(p, n)) != NULL)
		p = q;
	*z = p;
	*zlen = n;
	return KL_OK;
}

static int
own_queue(struct kl_cat *c, const struct kl_id *tree, void *z, size_t zlen,
    struct kl_error *err)
{
	struct cat_own_tree *t;

	if (c->own_pend == NULL &&
	    (c->own_pend = calloc(OWN_BATCH, sizeof(*c->own_pend))) == NULL) {
		free(z);
		return cat_err(c, err, KL_E_NOMEM, "out of memory");
	}
	t = &c->own_pend[c->own_npend++];
	t->id = *tree;
	t->z = z;
	t->zlen = zlen;
	c->own_pend_bytes += zlen;
	if (c->own_npend < OWN_BATCH && c->own_pend_bytes < OWN_BATCH_BYTES)
		return KL_OK;
	return cat_own_flush(c, err);
}

int
kl_cat_own_tree_put(struct kl_cat *c, const struct kl_id *tree,
    const uint8_t *data, size_t len, struct kl_error *err)
{
	size_t zlen = 0;
	void *z = NULL;
	int rc;

	if (tree == NULL || (data == NULL && len > 0))
		return KL_E_INVAL;
	if (len > KL_TREE_RAW_MAX)
		return KL_E_LIMIT;
	/* outside the lock: other threads keep using the catalog */
	if ((rc = own_compress(c, data, len, &z, &zlen)) != KL_OK)
		return rc;
	cat_lock(c);
	if (c->own_series == 0) {
		free(z);
		rc = cat_err(c, err, KL_E_INVAL,
		    "own_tree_put without own_begin");
	} else {
		rc = own_queue(c, tree, z, zlen, err);
	}
	cat_unlock(c);
	return rc;
}

static int
own_commit(struct kl_cat *c, const struct kl_id *snap,
    const struct kl_id *root, struct kl_error *err)
{
	static const char mv[] = "UPDATE own_tree SET series_no = ?1"
	    " WHERE series_no = ?2";
	/* every blob of a backup is in the blob index when it commits */
	static const char par[] = "INSERT OR REPLACE INTO own_parent"
	    "(series_no, snap, root, intact) VALUES(?1, ?2, ?3, 1)";
	int64_t s = c->own_series;
	sqlite3_stmt *st;
	int rc, src;

	if ((rc = cat_own_flush(c, err)) != KL_OK ||
	    (rc = own_delete(c, s, err)) != KL_OK ||
	    (rc = cat_prepare(c, mv, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, s)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, -s)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "own_commit");
	if ((rc = cat_prepare(c, par, &st, err)) != KL_OK)
		return rc;
	if ((src = sqlite3_bind_int64(st, 1, s)) != SQLITE_OK ||
	    (src = cat_bind_id(st, 2, snap)) != SQLITE_OK ||
	    (src = cat_bind_id(st, 3, root)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_DONE)
		return cat_sqlerr(c, err, src, "own_commit");
	return KL_OK;
}

int
kl_cat_own_commit(struct kl_cat *c, const struct kl_id *snap,
    const struct kl_id *root, struct kl_error *err)
{
	int rc;

	if (snap == NULL || root == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	if (c->own_series == 0) {
		rc = cat_err(c, err, KL_E_INVAL,
		    "own_commit without own_begin");
	} else {
		if ((rc = cat_tx_begin(c, err)) == KL_OK)
			rc = cat_tx_end(c, own_commit(c, snap, root, err), err);
		/* failed or not, this recording is over; staged rows left
		 * behind are deleted by the next own_begin of the series */
		cat_own_drop(c);
		c->own_series = 0;
	}
	cat_unlock(c);
	return rc;
}

void
kl_cat_own_abort(struct kl_cat *c)
{
	cat_lock(c);
	if (c->own_series != 0) {
		cat_own_drop(c);
		(void)own_delete(c, -c->own_series, NULL);
		c->own_series = 0;
	}
	cat_unlock(c);
}

/* Appends the tree in zstd frame [z, z + zlen) to out, at most
 * KL_TREE_RAW_MAX bytes. */
static int
own_decompress(struct kl_cat *c, const void *z, size_t zlen,
    struct buf *out, struct kl_error *err)
{
	unsigned long long raw;
	uint8_t *p;
	size_t got;
	int rc;

	raw = ZSTD_getFrameContentSize(z, zlen);
	if (raw == ZSTD_CONTENTSIZE_UNKNOWN || raw == ZSTD_CONTENTSIZE_ERROR ||
	    ZSTD_findFrameCompressedSize(z, zlen) != zlen)
		return cat_err(c, err, KL_E_CORRUPT,
		    "own tree: not one zstd frame");
	if (raw > KL_TREE_RAW_MAX)
		return cat_err(c, err, KL_E_CORRUPT, "own tree: %llu bytes, "
		    "more than a tree may have", raw);
	if ((rc = buf_reserve(out, (size_t)raw, &p)) != KL_OK)
		return cat_err(c, err, rc, "own tree: %s", kl_strerror(rc));
	if (c->zd == NULL && (c->zd = ZSTD_createDCtx()) == NULL) {
		buf_unput(out, (size_t)raw);
		return cat_err(c, err, KL_E_NOMEM, "out of memory");
	}
	got = ZSTD_decompressDCtx(c->zd, p, (size_t)raw, z, zlen);
	if (ZSTD_isError(got) || got != raw) {
		buf_unput(out, (size_t)raw);
		return cat_err(c, err, KL_E_CORRUPT, "own tree: %s",
		    ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
	}
	return KL_OK;
}

int
kl_cat_own_tree_get(struct kl_cat *c, const struct kl_id *tree,
    struct buf *out, struct kl_error *err)
{
	static const char sql[] = "SELECT data FROM own_tree WHERE id = ?1"
	    " LIMIT 1";
	sqlite3_stmt *st;
	const void *z;
	size_t i;
	int rc, src, zlen;

	if (tree == NULL || out == NULL)
		return KL_E_INVAL;
	cat_lock(c);
	/*
	 * Trees put but not written yet are looked at in memory: flushing
	 * them here would turn the batches into a transaction per
	 * directory, as the walker reads the parent's trees while the
	 * collector puts the new ones.
	 */
	for (i = 0; i < c->own_npend; i++)
		if (kl_id_eq(&c->own_pend[i].id, tree)) {
			rc = own_decompress(c, c->own_pend[i].z,
			    c->own_pend[i].zlen, out, err);
			goto out;
		}
	if ((rc = cat_prepare(c, sql, &st, err)) != KL_OK)
		goto out;
	if ((src = cat_bind_id(st, 1, tree)) != SQLITE_OK ||
	    (src = sqlite3_step(st)) != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? KL_E_NOTFOUND :
		    cat_sqlerr(c, err, src, "own_tree_get");
		goto out;
	}
	z = sqlite3_column_blob(st, 0);
	zlen = sqlite3_column_bytes(st, 0);
	if (z == NULL || zlen <= 0)
		rc = cat_err(c, err, KL_E_CORRUPT, "own tree: empty");
	else
		rc = own_decompress(c, z, (size_t)zlen, out, err);
out:
	cat_unlock(c);
	return rc;
}
