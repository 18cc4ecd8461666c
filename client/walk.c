/*
 * The walker: one thread that reads the source tree and file contents,
 * cuts chunks and pushes items in tree order.  Reading stays on one
 * thread because on these machines more readers do not make cold reads
 * faster (design brief, "Performance stance"); the CPU work happens in
 * the workers while this thread waits on the disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/chunker.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "backup_internal.h"
#include "meta_internal.h"

#define READ_STEP ((size_t)1 << 20)

struct hl {			/* hard link group: (device, inode) */
	uint64_t dev, ino, group;
};

struct walker {
	struct bk *bk;
	struct kl_chunker *ch;
	struct kl_namecache *nc;
	uint32_t chunk_max;
	char path[KL_PATH_MAX + 2];
	size_t plen;
	uint64_t root_dev;
	struct hl *hls;
	size_t nhls, hlcap;
	uint64_t next_group;
	int stop;		/* fatal: pipe aborted */
	struct item *batch[PIPE_BATCH_MAX];	/* not yet pushed */
	size_t nbatch, batch_bytes;
	struct dfile *df;	/* the file being read: its delta context */
	uint64_t off;		/* the file being read: bytes chunked */
};

static void
warn(struct walker *w, const char *path, int err, const char *what)
{
	w->bk->warnings++;
	if (w->bk->o->warn != NULL)
		w->bk->o->warn(w->bk->o->warn_arg, path, err, what);
}

/* Hands the batched items to the pipe. */
static int
flush(struct walker *w)
{
	size_t n = w->nbatch;

	w->nbatch = 0;
	w->batch_bytes = 0;
	if (n > 0 && pipe_push_batch(&w->bk->p, w->batch, n) != 0) {
		w->stop = 1;
		return -1;
	}
	return 0;
}

/* Queues an item; a batch goes out when full or holding 1 MiB of data. */
static int
push(struct walker *w, struct item *it)
{
	if (w->stop) {
		item_free(it);
		return -1;
	}
	w->batch[w->nbatch++] = it;
	if (it->kind == IT_CHUNK)
		w->batch_bytes += it->len;
	if (w->nbatch < PIPE_BATCH_MAX && w->batch_bytes < PIPE_BATCH_BYTES)
		return 0;
	return flush(w);
}

/* Appends "/name" to w->path; 0 if it does not fit. */
static int
path_enter(struct walker *w, const char *name, size_t *saved)
{
	size_t l = strlen(name), sep = (w->plen > 0 &&
	    w->path[w->plen - 1] == '/') ? 0 : 1;

	*saved = w->plen;
	if (w->plen + sep + l > KL_PATH_MAX)
		return 0;
	if (sep)
		w->path[w->plen++] = '/';
	memcpy(w->path + w->plen, name, l + 1);
	w->plen += l;
	return 1;
}

static void
path_leave(struct walker *w, size_t saved)
{
	w->plen = saved;
	w->path[saved] = '\0';
}

static int
excluded(const struct walker *w, const char *name)
{
	const struct kl_backup_opts *o = w->bk->o;
	size_t i;

	for (i = 0; i < o->nexcludes; i++) {
		const char *pat = o->excludes[i];

		if (strchr(pat, '/') != NULL ?
		    fnmatch(pat, w->path, FNM_PATHNAME) == 0 :
		    fnmatch(pat, name, 0) == 0)
			return 1;
	}
	return 0;
}

/* The entry of a sorted tree (NULL: none) called name. */
static const struct kl_node *
tree_find(const struct kl_tree *t, const char *name)
{
	return kl_tree_find(t, (const uint8_t *)name, strlen(name));
}

static int
ts_eq(const struct kl_ts *a, const struct kl_ts *b)
{
	return a->s == b->s && a->ns == b->ns;
}

/* 1 if the index holds a trusted location of every blob chunk i of p is
 * read from: its data blob, or its delta blob and bases. */
static int
chunk_trusted(struct walker *w, const struct kl_node *p, size_t i)
{
	const struct kl_delta_ref *d = kl_node_delta(p, i);
	uint8_t j;

	if (d == NULL)
		return kl_repo_index_trusted(w->bk->r, &p->chunks[i], NULL) == 1;
	if (kl_repo_index_trusted(w->bk->r, &d->delta, NULL) != 1)
		return 0;
	for (j = 0; j < d->nbases; j++)
		if (kl_repo_index_trusted(w->bk->r, &d->bases[j], NULL) != 1)
			return 0;
	return 1;
}

/*
 * A file is unchanged when its identity and times match the parent's and
 * every chunk is still in the index - which needs no lookup when the
 * parent is this client's own last backup and the blob index has not been
 * rebuilt since (kl_repo_own_parent): a lookup per chunk was half the time
 * of an unchanged backup.
 */
static int
reusable(struct walker *w, const struct kl_node *n, const struct kl_node *p)
{
	size_t i;

	if (p == NULL || p->type != KL_NODE_FILE || p->size != n->size ||
	    !ts_eq(&p->mtime, &n->mtime) || !ts_eq(&p->ctime, &n->ctime) ||
	    p->inode != n->inode || p->device != n->device)
		return 0;
	for (i = 0; i < p->nchunks && !w->bk->parent_intact; i++)
		if (!chunk_trusted(w, p, i))
			return 0;
	return 1;
}

static int
push_chunk(struct walker *w, uint8_t *data, size_t len)
{
	struct item *it;

	if ((it = item_new(IT_CHUNK)) == NULL) {
		free(data);
		return KL_E_NOMEM;
	}
	it->data = data;
	it->len = len;
	it->off = w->off;
	w->off += len;
	if (w->df != NULL)
		it->df = dfile_ref(w->df);
	return push(w, it) == 0 ? KL_OK : KL_E_IO;
}

/* Feeds n new bytes at buf[*filled] to the chunker, emitting chunks. */
static int
feed(struct walker *w, uint8_t **buf, size_t *cap, size_t *filled, size_t n)
{
	uint8_t *p = *buf + *filled, *nb;
	size_t k;
	int cut, rc;

	while (n > 0) {
		k = kl_chunker_next(w->ch, p, n, &cut);
		*filled += k;
		n -= k;
		p += k;
		if (!cut)
			break;
		if ((nb = malloc(*cap)) == NULL)
			return KL_E_NOMEM;
		memcpy(nb, p, n);
		if ((rc = push_chunk(w, *buf, *filled)) != KL_OK) {
			free(nb);
			*buf = NULL;
			return rc;
		}
		/* the unscanned rest now starts the next chunk's buffer */
		*buf = nb;
		*filled = 0;
		p = nb;
	}
	return KL_OK;
}

static int
grow_chunk_buf(struct walker *w, uint8_t **buf, size_t *cap, size_t filled)
{
	size_t ncap;
	uint8_t *nb;

	if (filled < *cap)
		return KL_OK;
	ncap = *cap * 2 > w->chunk_max ? w->chunk_max : *cap * 2;
	if (ncap <= *cap)
		return KL_OK;
	if ((nb = realloc(*buf, ncap)) == NULL)
		return KL_E_NOMEM;
	*buf = nb;
	*cap = ncap;
	return KL_OK;
}

/*
 * Reads fd to the end, pushing chunks.  *total gets the bytes read.
 * Errors are read errors (the file is then dropped) or KL_E_IO when the
 * pipe was aborted.
 */
/* The walk's progress, to the caller's callback (bytes: just read). */
static void
progress(struct walker *w, uint64_t bytes)
{
	struct kl_backup_progress p;

	w->bk->bytes_read += bytes;
	if (w->bk->o->progress == NULL)
		return;
	p.files = w->bk->files_reached;
	p.bytes_read = w->bk->bytes_read;
	w->bk->o->progress(w->bk->o->progress_arg, &p);
}

static int
read_content(struct walker *w, int fd, uint64_t size_hint, uint64_t *total)
{
	size_t cap, filled = 0, want;
	uint8_t *buf;
	ssize_t n;
	int rc = KL_OK;

	*total = 0;
	cap = size_hint == 0 ? 4096 : size_hint + 1 > w->chunk_max ?
	    w->chunk_max : (size_t)size_hint + 1;
	if ((buf = malloc(cap)) == NULL)
		return KL_E_NOMEM;
	kl_chunker_reset(w->ch);
	for (;;) {
		if ((rc = grow_chunk_buf(w, &buf, &cap, filled)) != KL_OK)
			break;
		want = cap - filled < READ_STEP ? cap - filled : READ_STEP;
		n = read(fd, buf + filled, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? kl_err_from_errno(errno) : KL_OK;
			break;
		}
		*total += (uint64_t)n;
		progress(w, (uint64_t)n);
		if ((rc = feed(w, &buf, &cap, &filled, (size_t)n)) != KL_OK)
			break;
	}
	if (rc == KL_OK && filled > 0) {
		rc = push_chunk(w, buf, filled);
		buf = NULL;
	}
	free(buf);
	return rc;
}

static int
same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int
end_file(struct walker *w, int failed, uint64_t total)
{
	struct item *it;

	if ((it = item_new(IT_FILE_END)) == NULL)
		return KL_E_NOMEM;
	it->failed = failed;
	it->len = (size_t)total;
	return push(w, it) == 0 ? KL_OK : KL_E_IO;
}

/*
 * The delta context of a file about to be read (ARCHITECTURE.md
 * "Deltas"): files of at least --delta-min-size bytes, with the previous
 * version prev (NULL: none) as what their chunks may be deltas against.
 */
static int
delta_begin(struct walker *w, const struct stat *st, const struct kl_node *prev)
{
	const struct kl_backup_opts *o = w->bk->o;

	w->off = 0;
	if (o->delta_min_size == 0 || (uint64_t)st->st_size < o->delta_min_size)
		return KL_OK;
	/* deltas only save space: without a context the file is stored as
	 * whole chunks, not dropped */
	if (dfile_new(w->bk, prev, &w->df) != KL_OK)
		w->df = NULL;
	return KL_OK;
}

static void
delta_end(struct walker *w)
{
	dfile_put(w->df);
	w->df = NULL;
}

/* Reads a regular file that is new or changed. */
static int
store_file(struct walker *w, struct item *it, const struct stat *st,
    const struct kl_node *prev)
{
	struct stat after;
	uint64_t total = 0;
	int fd, rc;

	fd = open(w->path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		warn(w, w->path, kl_err_from_errno(errno), errno == ENOENT ?
		    "vanished before it could be read" : "cannot open");
		item_free(it);
		return KL_OK;
	}
	if (st->st_blocks * 512 < st->st_size &&
	    kl_meta_holes(fd, (uint64_t)st->st_size, &it->node) != KL_OK)
		it->node.nholes = 0;
	if (push(w, it) != 0) {
		close(fd);
		return KL_E_IO;
	}
	if ((rc = delta_begin(w, st, prev)) == KL_OK)
		rc = read_content(w, fd, (uint64_t)st->st_size, &total);
	delta_end(w);
	if (rc == KL_OK && (fstat(fd, &after) != 0 || !same_stat(st, &after) ||
	    total != (uint64_t)st->st_size))
		warn(w, w->path, KL_E_CHANGED, "changed while being read; "
		    "the version read was stored");
	close(fd);
	if (rc != KL_OK && !w->stop)
		warn(w, w->path, rc, "read error; file not stored");
	return w->stop ? KL_E_IO : end_file(w, rc != KL_OK, total);
}

/* 0 and *group = 0 if not a hard link; *seen set if the group exists. */
static int
link_group(struct walker *w, const struct stat *st, uint64_t *group,
    int *seen)
{
	int rc;
	size_t i;

	*group = 0;
	*seen = 0;
	if (st->st_nlink < 2)
		return KL_OK;
	for (i = 0; i < w->nhls; i++) {
		if (w->hls[i].dev == (uint64_t)st->st_dev &&
		    w->hls[i].ino == (uint64_t)st->st_ino) {
			*group = w->hls[i].group;
			*seen = 1;
			return KL_OK;
		}
	}
	if ((rc = KL_GROW(w->hls, w->hlcap, w->nhls + 1)) != KL_OK)
		return rc;
	w->hls[w->nhls].dev = (uint64_t)st->st_dev;
	w->hls[w->nhls].ino = (uint64_t)st->st_ino;
	w->hls[w->nhls].group = *group = ++w->next_group;
	w->nhls++;
	return KL_OK;
}

static int
walk_file(struct walker *w, struct item *it, const struct stat *st,
    const struct kl_node *prev)
{
	int seen, rc;

	w->bk->files_reached++;
	progress(w, 0);
	if ((rc = link_group(w, st, &it->node.link_group, &seen)) != KL_OK) {
		item_free(it);
		return rc;
	}
	if (seen) {
		it->kind = IT_LINK;
		return push(w, it) == 0 ? KL_OK : KL_E_IO;
	}
	it->status = prev == NULL || prev->type != KL_NODE_FILE ? FS_NEW :
	    FS_CHANGED;
	if (reusable(w, &it->node, prev)) {
		if ((rc = kl_node_content_copy(&it->node, prev)) != KL_OK) {
			item_free(it);
			return rc;
		}
		it->reused = 1;
		it->status = FS_UNMODIFIED;
		return push(w, it) == 0 ? KL_OK : KL_E_IO;
	}
	return store_file(w, it, st, prev);
}

/* Symlinks, devices, FIFOs, sockets: metadata only; hard links too. */
static int
walk_special(struct walker *w, struct item *it, const struct stat *st)
{
	int seen, rc;

	if ((rc = link_group(w, st, &it->node.link_group, &seen)) != KL_OK) {
		item_free(it);
		return rc;
	}
	return push(w, it) == 0 ? KL_OK : KL_E_IO;
}

static int walk_dir(struct walker *w, const struct kl_id *prev_tree);

/*
 * The metadata of w->path.  Its access time is kept only with
 * --with-atime: reading a file changes it, so every run would store new
 * trees for whatever was read since the last (docs/FORMAT.md "atime");
 * without, atime is stored as mtime, and a restore sets both to mtime.
 */
static int
capture(struct walker *w, const uint8_t *name, size_t name_len,
    const struct stat *st, struct kl_node *n)
{
	int rc = kl_meta_capture(w->nc, w->path, name, name_len, st, n);

	if (rc == KL_OK && !w->bk->o->with_atime)
		n->atime = n->mtime;
	return rc;
}

static int
walk_subdir(struct walker *w, struct item *it, const struct stat *st,
    const struct kl_node *prev)
{
	struct item *end;
	int descend = !w->bk->o->one_file_system ||
	    (uint64_t)st->st_dev == w->root_dev;

	if (push(w, it) != 0)
		return KL_E_IO;
	if (descend) {
		int rc = walk_dir(w, prev && prev->type == KL_NODE_DIR ?
		    &prev->subtree : NULL);

		if (rc != KL_OK)
			return rc;
	}
	if ((end = item_new(IT_DIR_END)) == NULL)
		return KL_E_NOMEM;
	return push(w, end) == 0 ? KL_OK : KL_E_IO;
}

/* One directory entry at w->path; name is its last component. */
static int
walk_entry(struct walker *w, const char *name, const struct kl_node *prev)
{
	struct stat st;
	struct item *it;
	int rc;

	if (lstat(w->path, &st) != 0) {
		warn(w, w->path, kl_err_from_errno(errno), errno == ENOENT ?
		    "vanished" : "cannot stat");
		return KL_OK;
	}
	if (excluded(w, name))
		return KL_OK;
	if ((it = item_new(IT_NODE)) == NULL)
		return KL_E_NOMEM;
	rc = capture(w, (const uint8_t *)name, strlen(name), &st, &it->node);
	if (rc != KL_OK) {
		item_free(it);
		warn(w, w->path, rc, "cannot read metadata");
		return rc == KL_E_NOMEM ? rc : KL_OK;
	}
	switch (it->node.type) {
	case KL_NODE_FILE:
		it->kind = IT_FILE;
		return walk_file(w, it, &st, prev);
	case KL_NODE_DIR:
		it->kind = IT_DIR_BEGIN;
		return walk_subdir(w, it, &st, prev);
	}
	return walk_special(w, it, &st);
}

static int
name_sort(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Lists a directory's names, sorted.  All or nothing: a listing cut short
 * (no memory, a read error of the directory) is an error, never a
 * shorter directory - the snapshot would silently lack the rest.
 */
static int
list_dir(const char *path, char ***out, size_t *n)
{
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0, i;
	int rc = KL_OK;
	DIR *d;

	*out = NULL;
	*n = 0;
	if ((d = opendir(path)) == NULL)
		return kl_err_from_errno(errno);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				rc = kl_err_from_errno(errno);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = KL_GROW(v, cap, cnt + 1)) != KL_OK)
			break;
		if ((v[cnt] = strdup(de->d_name)) == NULL) {
			rc = KL_E_NOMEM;
			break;
		}
		cnt++;
	}
	closedir(d);
	if (rc != KL_OK) {
		for (i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	if (v != NULL)
		qsort(v, cnt, sizeof(*v), name_sort);
	*out = v;
	*n = cnt;
	return KL_OK;
}

static void
free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
load_prev(struct walker *w, const struct kl_id *id, struct kl_tree *t)
{
	memset(t, 0, sizeof(*t));
	if (id == NULL || kl_id_is_zero(id))
		return 0;
	/* A damaged parent only costs speed: everything is read again (no
	 * detail wanted - and none shared with the other threads). */
	return kl_repo_tree_load(w->bk->r, id, t, NULL) == KL_OK;
}

static int
walk_dir(struct walker *w, const struct kl_id *prev_tree)
{
	struct kl_tree prev;
	char **names;
	size_t i, n, saved;
	int rc, have_prev;

	if ((rc = list_dir(w->path, &names, &n)) != KL_OK) {
		warn(w, w->path, rc, "cannot read directory");
		return rc == KL_E_NOMEM ? rc : KL_OK;
	}
	have_prev = load_prev(w, prev_tree, &prev);
	for (i = 0, rc = KL_OK; i < n && rc == KL_OK && !w->stop; i++) {
		if (!path_enter(w, names[i], &saved)) {
			warn(w, w->path, KL_E_LIMIT, "path too long");
			continue;
		}
		rc = walk_entry(w, names[i],
		    have_prev ? tree_find(&prev, names[i]) : NULL);
		path_leave(w, saved);
	}
	if (have_prev)
		kl_tree_clear(&prev);
	free_names(names, n);
	return w->stop ? KL_E_IO : rc;
}

/*
 * Walks the synthetic ancestors of the backup paths (FORMAT.md §11.1):
 * paths[lo, hi) all lie below w->path; depth is the length of w->path.
 */
static int walk_level(struct walker *w, size_t lo, size_t hi,
    const struct kl_tree *prev);

static int
walk_target(struct walker *w, const char *comp, size_t lo, size_t hi,
    const struct kl_tree *prev)
{
	const struct kl_node *pn = tree_find(prev, comp);
	const char *p = w->bk->paths[lo];
	struct kl_tree sub;
	struct item *it, *end;
	struct stat st;
	int rc, have;

	if (strcmp(p, w->path) == 0) {	/* a backup path itself */
		if (lstat(p, &st) == 0)
			w->root_dev = (uint64_t)st.st_dev;
		return walk_entry(w, comp, pn);
	}
	/* an ancestor: real metadata, only the entries on the way down */
	if (lstat(w->path, &st) != 0)
		return kl_err_from_errno(errno);
	if ((it = item_new(IT_DIR_BEGIN)) == NULL)
		return KL_E_NOMEM;
	if ((rc = capture(w, (const uint8_t *)comp, strlen(comp), &st,
	    &it->node)) != KL_OK) {
		item_free(it);
		return rc;
	}
	if (push(w, it) != 0)
		return KL_E_IO;
	have = pn && pn->type == KL_NODE_DIR && load_prev(w, &pn->subtree,
	    &sub);
	rc = walk_level(w, lo, hi, have ? &sub : NULL);
	if (have)
		kl_tree_clear(&sub);
	if (rc != KL_OK)
		return rc;
	if ((end = item_new(IT_DIR_END)) == NULL)
		return KL_E_NOMEM;
	return push(w, end) == 0 ? KL_OK : KL_E_IO;
}

/* Length of the component of p that starts at off. */
static size_t
comp_len(const char *p, size_t off)
{
	const char *s = strchr(p + off, '/');

	return s ? (size_t)(s - (p + off)) : strlen(p + off);
}

static int
walk_level(struct walker *w, size_t lo, size_t hi, const struct kl_tree *prev)
{
	char comp[KL_NAME_MAX + 1];
	size_t base = w->plen, i, j, cl, saved;
	int rc = KL_OK;

	for (i = lo; i < hi && rc == KL_OK; i = j) {
		const char *p = w->bk->paths[i];
		size_t off = base + 1;	/* skip the '/' */

		cl = comp_len(p, off);
		if (cl == 0 || cl > KL_NAME_MAX)
			return KL_E_INVAL;
		memcpy(comp, p + off, cl);
		comp[cl] = '\0';
		for (j = i + 1; j < hi && strncmp(w->bk->paths[j] + off, comp,
		    cl) == 0 && (w->bk->paths[j][off + cl] == '/' ||
		    w->bk->paths[j][off + cl] == '\0'); j++)
			;
		if (!path_enter(w, comp, &saved))
			return KL_E_LIMIT;
		rc = walk_target(w, comp, i, j, prev);
		path_leave(w, saved);
	}
	return rc;
}

static int
walker_init(struct walker *w, struct bk *bk)
{
	const struct kl_config *c = kl_repo_config(bk->r);
	struct kl_chunker_params p = { c->chunk_min, c->chunk_avg,
		c->chunk_max };
	int rc;

	memset(w, 0, sizeof(*w));
	w->bk = bk;
	w->chunk_max = c->chunk_max;
	if ((rc = kl_chunker_new(&p, kl_repo_keys(bk->r)->chunker_key,
	    &w->ch)) != KL_OK)
		return rc;
	return (w->nc = kl_namecache_new()) != NULL ? KL_OK : KL_E_NOMEM;
}

void *
walk_main(void *arg)
{
	struct bk *bk = arg;
	struct kl_tree prev;
	struct walker w;
	int rc, have;

	if ((rc = walker_init(&w, bk)) == KL_OK &&
	    strcmp(bk->paths[0], "/") == 0) {
		/* the whole file system: the root tree is "/" itself */
		struct stat st;

		strcpy(w.path, "/");
		w.plen = 1;
		if (lstat("/", &st) == 0)
			w.root_dev = (uint64_t)st.st_dev;
		rc = walk_dir(&w, &bk->parent_tree);
	} else if (rc == KL_OK) {
		have = load_prev(&w, &bk->parent_tree, &prev);
		rc = walk_level(&w, 0, bk->npaths, have ? &prev : NULL);
		if (have)
			kl_tree_clear(&prev);
	}
	flush(&w);	/* if aborted, whoever aborted holds the error */
	bk->walk_rc = w.stop ? KL_OK : rc;
	kl_chunker_free(w.ch);
	kl_namecache_free(w.nc);
	free(w.hls);
	pthread_mutex_lock(&bk->p.mu);
	bk->p.closed = 1;
	if (rc != KL_OK)
		bk->p.abort = 1;
	pthread_cond_broadcast(&bk->p.work);
	pthread_cond_broadcast(&bk->p.done);
	pthread_mutex_unlock(&bk->p.mu);
	return NULL;
}
