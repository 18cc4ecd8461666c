/*
 * The backup pipeline (see backup.h): walker thread -> ordered ring ->
 * worker threads (id, compression, encryption, packing) -> the calling
 * thread, which consumes items strictly in order and builds one tree per
 * directory, bottom-up.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/store.h"
#include "backup_internal.h"

#define RING_CAP 4096
#define WORKERS_MAX 64
#define PROGRAM "kluis " KLUIS_VERSION

struct item *
item_new(enum item_kind k)
{
	struct item *it = calloc(1, sizeof(*it));

	if (it != NULL)
		it->kind = k;
	return it;
}

void
item_free(struct item *it)
{
	if (it == NULL)
		return;
	free(it->data);
	dfile_put(it->df);
	kl_node_clear(&it->node);
	free(it);
}

static int
pipe_init(struct pipe *p)
{
	memset(p, 0, sizeof(*p));
	p->cap = RING_CAP;
	if ((p->ring = calloc(p->cap, sizeof(*p->ring))) == NULL)
		return KL_E_NOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	pthread_cond_init(&p->space, NULL);
	return KL_OK;
}

static void
pipe_clear(struct pipe *p)
{
	uint64_t i;

	for (i = p->head; i < p->tail; i++)
		item_free(p->ring[i % p->cap]);
	free(p->ring);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->space);
}

/*
 * A slot is free once the collector is past it.  Every item before head is
 * done, so no worker needs it: workers that lag behind jump to head under
 * the mutex before they look at a slot (pipe_take_work).
 */
static int
pipe_has_room(const struct pipe *p, size_t n, size_t bytes)
{
	if (p->tail - p->head + n > p->cap)
		return 0;
	return bytes == 0 || p->inflight == 0 ||
	    p->inflight + bytes <= KL_BACKUP_INFLIGHT_MAX;
}

int
pipe_push_batch(struct pipe *p, struct item **v, size_t n)
{
	size_t i, bytes = 0, chunks = 0;

	for (i = 0; i < n; i++)
		if (v[i]->kind == IT_CHUNK) {
			bytes += v[i]->len;
			chunks++;
		}
	pthread_mutex_lock(&p->mu);
	while (!p->abort && !pipe_has_room(p, n, bytes))
		pthread_cond_wait(&p->space, &p->mu);
	if (p->abort) {
		pthread_mutex_unlock(&p->mu);
		for (i = 0; i < n; i++)
			item_free(v[i]);
		return -1;
	}
	p->inflight += bytes;
	for (i = 0; i < n; i++) {
		if (v[i]->kind != IT_CHUNK)
			v[i]->done = 1;
		p->ring[p->tail++ % p->cap] = v[i];
	}
	/* one waiter class per condition: workers for work, the collector
	 * for done (closing and aborting broadcast) */
	if (chunks > 1)
		pthread_cond_broadcast(&p->work);
	else if (chunks == 1)
		pthread_cond_signal(&p->work);
	pthread_cond_signal(&p->done);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Next chunk item for a worker, NULL when the pipe is finished. */
static struct item *
pipe_take_work(struct pipe *p)
{
	struct item *it = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* the collector is past these: all were done, none is work */
		if (p->work_next < p->head)
			p->work_next = p->head;
		while (p->work_next < p->tail && p->ring[p->work_next %
		    p->cap]->kind != IT_CHUNK)
			p->work_next++;
		if (p->work_next < p->tail) {
			it = p->ring[p->work_next++ % p->cap];
			break;
		}
		pthread_cond_signal(&p->space);
		if (p->closed)
			break;
		pthread_cond_wait(&p->work, &p->mu);
	}
	pthread_cond_signal(&p->space);
	pthread_mutex_unlock(&p->mu);
	return it;
}

/*
 * A worker is done with it.  werr: the worker's own error for the call
 * that failed (NULL: the item was skipped after an abort).  The first
 * failure of any worker goes to the caller's err under the mutex that
 * guards the abort, so that no error text is shared between threads.
 */
static void
pipe_work_done(struct bk *bk, struct item *it, const struct kl_error *werr)
{
	struct pipe *p = &bk->p;

	pthread_mutex_lock(&p->mu);
	p->inflight -= it->len;
	it->done = 1;
	if (it->rc != KL_OK)
		p->abort = 1;
	if (it->rc != KL_OK && werr != NULL && bk->worker_rc == KL_OK) {
		bk->worker_rc = it->rc;
		if (bk->err != NULL)
			*bk->err = *werr;
	}
	pthread_cond_signal(&p->done);
	pthread_cond_signal(&p->space);
	pthread_mutex_unlock(&p->mu);
}

/*
 * The code a failed chunk item stands for: the first worker failure (its
 * detail is in the caller's err already), else the item's own code (an
 * item skipped after the walker or the collector stopped the pipe).
 */
static int
pipe_work_failure(struct bk *bk, const struct item *it)
{
	int rc;

	pthread_mutex_lock(&bk->p.mu);
	rc = bk->worker_rc != KL_OK ? bk->worker_rc : it->rc;
	pthread_mutex_unlock(&bk->p.mu);
	return rc;
}

/*
 * The next finished items in order for the collector: up to max of them
 * under one lock (at least one unless the pipe is finished: 0 then).
 */
static size_t
pipe_take_next(struct pipe *p, struct item **v, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&p->mu);
	while (p->head == p->tail && !p->closed)
		pthread_cond_wait(&p->done, &p->mu);
	while (p->head < p->tail && n < max) {
		struct item *it = p->ring[p->head % p->cap];

		if (!it->done) {
			if (n > 0)
				break;
			pthread_cond_wait(&p->done, &p->mu);
			continue;
		}
		v[n++] = it;
		p->ring[p->head++ % p->cap] = NULL;
	}
	if (n > 0)
		pthread_cond_signal(&p->space);
	pthread_mutex_unlock(&p->mu);
	return n;
}

static void *
worker_main(void *arg)
{
	struct bk *bk = arg;
	const struct kl_keys *k = kl_repo_keys(bk->r);
	struct kl_error werr;	/* this thread's own */
	struct item *it;
	int ran;

	while ((it = pipe_take_work(&bk->p)) != NULL) {
		if ((ran = !bk->p.abort)) {
			kl_error_clear(&werr);
			kl_blob_id(k, it->data, it->len, &it->id);
			it->rc = it->df != NULL ? dfile_store(bk, it, &werr) :
			    kl_session_blob_add(bk->s, KL_OBJ_DATA, &it->id,
			    it->data, it->len, &it->added, &it->stored, &werr);
		} else
			it->rc = KL_E_IO;
		free(it->data);
		it->data = NULL;
		pipe_work_done(bk, it, ran ? &werr : NULL);
	}
	return NULL;
}

/* ---- the collector: trees, bottom-up ---- */

struct frame {
	struct kl_node dir;	/* unused for the root frame */
	struct kl_node *v;
	size_t n, cap;
};

struct linkrec {
	uint64_t group;
	struct kl_node node;	/* content fields only */
};

struct collector {
	struct bk *bk;
	struct frame *st;
	size_t depth, stcap;
	struct kl_node file;	/* the file being assembled */
	int in_file;
	size_t chunks_cap, deltas_cap;
	struct linkrec *links;
	size_t nlinks, linkcap;
	struct kl_backup_stats *stats;
	struct kl_id root;
	/* for the collector's own calls (kl_session_tree_add, the lock's
	 * refresh): it stops at its first failure, so a failure recorded
	 * here is the one it returns */
	struct kl_error err;
};

static int
frame_add(struct frame *f, struct kl_node *n)
{
	int rc;

	if ((rc = KL_GROW(f->v, f->cap, f->n + 1)) != KL_OK)
		return rc;
	f->v[f->n++] = *n;
	memset(n, 0, sizeof(*n));
	return KL_OK;
}

static void
frame_clear(struct frame *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		kl_node_clear(&f->v[i]);
	free(f->v);
	kl_node_clear(&f->dir);
	memset(f, 0, sizeof(*f));
}

static int
frame_push(struct collector *c, struct kl_node *dir)
{
	int rc;

	if ((rc = KL_GROW(c->st, c->stcap, c->depth + 1)) != KL_OK)
		return rc;
	memset(&c->st[c->depth], 0, sizeof(*c->st));
	if (dir != NULL) {
		c->st[c->depth].dir = *dir;
		memset(dir, 0, sizeof(*dir));
	}
	c->depth++;
	return KL_OK;
}

static int
node_cmp(const void *a, const void *b)
{
	const struct kl_node *x = a, *y = b;

	return kl_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

/* Encodes and stores the top frame's tree; pops it into its parent. */
static int
frame_close(struct collector *c, struct kl_id *id)
{
	struct frame *f = &c->st[c->depth - 1];
	struct kl_tree t;
	uint64_t stored = 0;
	int rc;

	if (f->n > 1)
		qsort(f->v, f->n, sizeof(*f->v), node_cmp);
	t.nodes = f->v;
	t.n = f->n;
	rc = kl_session_tree_add(c->bk->s, &t, id, &stored, &c->err);
	c->stats->bytes_added += stored;
	c->stats->blobs_added += stored > 0;
	if (rc != KL_OK)
		return rc;
	if (c->depth > 1) {
		f->dir.subtree = *id;
		rc = frame_add(&c->st[c->depth - 2], &f->dir);
		c->stats->dirs++;
	}
	frame_clear(f);
	c->depth--;
	return rc;
}

static int
link_remember(struct collector *c, const struct kl_node *n)
{
	struct linkrec *nl;
	int rc;

	if ((rc = KL_GROW(c->links, c->linkcap, c->nlinks + 1)) != KL_OK)
		return rc;
	nl = &c->links[c->nlinks];
	memset(nl, 0, sizeof(*nl));
	nl->group = n->link_group;
	if (kl_node_copy(n, &nl->node) != KL_OK)
		return KL_E_NOMEM;
	c->nlinks++;
	return KL_OK;
}

static void
count_file(struct collector *c, const struct kl_node *n, int status)
{
	c->stats->bytes_total += n->size;
	if (status == FS_NEW)
		c->stats->files_new++;
	else if (status == FS_CHANGED)
		c->stats->files_changed++;
	else
		c->stats->files_unmodified++;
}

static int
file_done(struct collector *c, struct kl_node *n, int status)
{
	int rc = KL_OK;

	count_file(c, n, status);
	if (n->link_group != 0)
		rc = link_remember(c, n);
	if (rc == KL_OK)
		rc = frame_add(&c->st[c->depth - 1], n);
	return rc;
}

/* Another name of a stored file: take the content of the first. */
static int
link_resolve(struct collector *c, struct item *it)
{
	const struct kl_node *src = NULL;
	size_t i;

	for (i = 0; i < c->nlinks && src == NULL; i++)
		if (c->links[i].group == it->node.link_group)
			src = &c->links[i].node;
	if (src == NULL)	/* the first name failed to read */
		return KL_OK;
	it->node.size = src->size;
	if (kl_node_content_copy(&it->node, src) != KL_OK)
		return KL_E_NOMEM;
	/* another name of a counted file: not counted again */
	return frame_add(&c->st[c->depth - 1], &it->node);
}

static int
chunk_append(struct collector *c, struct item *it)
{
	int rc;

	if (it->rc != KL_OK)
		return pipe_work_failure(c->bk, it);
	if (!c->in_file)
		abort();	/* walker invariant: chunks follow a file */
	if ((rc = KL_GROW(c->file.chunks, c->chunks_cap,
	    c->file.nchunks + 1)) != KL_OK)
		return rc;
	if (it->is_delta) {
		if ((rc = KL_GROW(c->file.deltas, c->deltas_cap,
		    c->file.ndeltas + 1)) != KL_OK)
			return rc;
		it->dref.index = (uint32_t)c->file.nchunks;
		c->file.deltas[c->file.ndeltas++] = it->dref;
		c->stats->delta_chunks += it->added;
		c->stats->delta_bytes += it->stored;
	}
	c->file.chunks[c->file.nchunks++] = it->id;
	c->stats->bytes_added += it->stored;
	c->stats->blobs_added += it->added;
	return KL_OK;
}

static void
trim_holes(struct kl_node *n)
{
	while (n->nholes > 0 && n->holes[n->nholes - 1].off >= n->size)
		n->nholes--;
	if (n->nholes > 0 && n->holes[n->nholes - 1].off +
	    n->holes[n->nholes - 1].len > n->size)
		n->holes[n->nholes - 1].len = n->size -
		    n->holes[n->nholes - 1].off;
}

/* The size stored is what was read (it->len), whatever stat said. */
static int
file_end(struct collector *c, struct item *it, int status)
{
	int rc = KL_OK;

	if (!it->failed) {
		c->file.size = it->len;
		trim_holes(&c->file);
		rc = file_done(c, &c->file, status);
	}
	kl_node_clear(&c->file);
	c->in_file = 0;
	c->chunks_cap = 0;
	c->deltas_cap = 0;
	return rc;
}

static int
collect_one(struct collector *c, struct item *it, int *status)
{
	switch (it->kind) {
	case IT_CHUNK:
		return chunk_append(c, it);
	case IT_FILE:
		if (it->reused)
			return file_done(c, &it->node, it->status);
		c->file = it->node;
		memset(&it->node, 0, sizeof(it->node));
		c->in_file = 1;
		*status = it->status;
		return KL_OK;
	case IT_FILE_END:
		return file_end(c, it, *status);
	case IT_NODE:
		c->stats->others++;
		return frame_add(&c->st[c->depth - 1], &it->node);
	case IT_DIR_BEGIN:
		return frame_push(c, &it->node);
	case IT_DIR_END: {
		struct kl_id id;

		return frame_close(c, &id);
	}
	case IT_LINK:
		return link_resolve(c, it);
	}
	abort();
}

static void
collector_clear(struct collector *c)
{
	size_t i;

	while (c->depth > 0)
		frame_clear(&c->st[--c->depth]);
	free(c->st);
	kl_node_clear(&c->file);
	for (i = 0; i < c->nlinks; i++)
		kl_node_clear(&c->links[i].node);
	free(c->links);
}

static void
pipe_abort(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->abort = 1;
	pthread_cond_broadcast(&p->space);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
}

/* Consumes every item; after the first error keeps draining. */
static int
collect(struct collector *c)
{
	struct item *v[PIPE_BATCH_MAX];
	size_t i, n;
	int rc = KL_OK, status = FS_NEW, r1;

	if ((rc = frame_push(c, NULL)) != KL_OK)
		return rc;
	while ((n = pipe_take_next(&c->bk->p, v, PIPE_BATCH_MAX)) > 0) {
		if (rc == KL_OK && (r1 = kl_repo_lock_refresh(c->bk->r,
		    &c->err)) != 0)
			rc = r1;
		for (i = 0; i < n; i++) {
			if (rc == KL_OK &&
			    (r1 = collect_one(c, v[i], &status)) != 0) {
				rc = r1;
				pipe_abort(&c->bk->p);
			}
			item_free(v[i]);
		}
	}
	/* a walker that stopped early leaves directories open */
	if (rc == KL_OK && c->bk->p.abort)
		rc = c->bk->walk_rc != KL_OK ? c->bk->walk_rc : KL_E_IO;
	if (rc == KL_OK && c->depth != 1)
		abort();	/* walker invariant: balanced directories */
	if (rc == KL_OK)
		rc = frame_close(c, &c->root);
	return rc;
}

int
kl_path_normalize(const char *path, char *out)
{
	char cwd[KL_PATH_MAX + 1], tmp[2 * KL_PATH_MAX + 2];
	size_t o = 0, i = 0, l;
	int n;

	if (path[0] == '\0')
		return KL_E_INVAL;
	/* never normalise a cut-off path: it names another directory */
	if (strlen(path) > KL_PATH_MAX)
		return KL_E_LIMIT;
	if (path[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return KL_E_LIMIT;
		n = snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
	} else
		n = snprintf(tmp, sizeof(tmp), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return KL_E_LIMIT;
	while (tmp[i] != '\0') {
		while (tmp[i] == '/')
			i++;
		l = strcspn(tmp + i, "/");
		if (l == 0 || (l == 1 && tmp[i] == '.')) {
			i += l;
			continue;
		}
		if (l == 2 && tmp[i] == '.' && tmp[i + 1] == '.') {
			while (o > 0 && out[--o] != '/')
				;
		} else {
			if (o + 1 + l > KL_PATH_MAX)
				return KL_E_LIMIT;
			out[o++] = '/';
			memcpy(out + o, tmp + i, l);
			o += l;
		}
		i += l;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return KL_OK;
}

static int
str_sort(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Normalises, sorts and drops paths nested in another given path. */
static int
paths_prepare(struct bk *bk, const struct kl_backup_opts *o)
{
	char norm[KL_PATH_MAX + 1];
	struct stat st;
	size_t i, n = 0, pl;
	int rc;

	if (o->npaths == 0)
		return KL_E_INVAL;
	if ((bk->paths = calloc(o->npaths, sizeof(char *))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < o->npaths; i++) {
		if ((rc = kl_path_normalize(o->paths[i], norm)) != KL_OK) {
			if (o->warn != NULL)
				o->warn(o->warn_arg, o->paths[i], rc,
				    "cannot back up this path");
			return rc;
		}
		/*
		 * A path that is missing or cannot be looked at is named and
		 * left out, like an unreadable file inside one: a nightly job
		 * keeps the other paths (exit 3), and stores nothing only
		 * when no path is left.
		 */
		if (lstat(norm, &st) != 0) {
			rc = kl_err_from_errno(errno);
			if (o->warn != NULL)
				o->warn(o->warn_arg, o->paths[i], rc,
				    "cannot back up this path; the others are "
				    "backed up");
			bk->warnings++;
			continue;
		}
		if ((bk->paths[bk->npaths++] = strdup(norm)) == NULL)
			return KL_E_NOMEM;
	}
	if (bk->npaths == 0)
		return KL_E_NOTFOUND;
	qsort(bk->paths, bk->npaths, sizeof(char *), str_sort);
	for (i = 0; i < bk->npaths; i++) {
		if (n > 0) {
			pl = strlen(bk->paths[n - 1]);
			if (strcmp(bk->paths[n - 1], "/") == 0 ||
			    (strncmp(bk->paths[i], bk->paths[n - 1], pl) == 0 &&
			    (bk->paths[i][pl] == '/' ||
			    bk->paths[i][pl] == '\0'))) {
				free(bk->paths[i]);
				continue;
			}
		}
		bk->paths[n++] = bk->paths[i];
	}
	bk->npaths = n;
	return KL_OK;
}

static int
same_paths(const struct kl_snapshot *s, char *const *paths, size_t n)
{
	size_t i;

	if (s->npaths != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(s->paths[i], paths[i]) != 0)
			return 0;
	return 1;
}

/*
 * The parent: this client's own last backup of the same host and paths,
 * as the catalog recorded it (its trees are in the catalog, so this works
 * for backup-only keys, which cannot read snapshots or trees), if that
 * snapshot is still in the repository.  Otherwise, with a full key, the
 * newest snapshot of the same host and paths in the repository.  Without
 * a parent every file is read (and still only new data is uploaded).
 */
static void
parent_find(struct bk *bk, const char *host, struct kl_backup_stats *st)
{
	struct kl_id *ids = NULL;
	struct kl_snapshot s;
	struct kl_error e;	/* tolerated: without a parent, all is read */
	size_t i, n;
	int64_t best = INT64_MIN;

	if (kl_repo_own_parent(bk->r, host, bk->paths, bk->npaths,
	    &st->parent, &bk->parent_tree, &bk->parent_intact, NULL) == KL_OK) {
		bk->parent_own = 1;
		return;
	}
	memset(&st->parent, 0, sizeof(st->parent));
	memset(&bk->parent_tree, 0, sizeof(bk->parent_tree));
	if (!kl_repo_is_full(bk->r) ||
	    kl_repo_snapshot_ids(bk->r, &ids, &n, NULL) != KL_OK)
		return;
	for (i = 0; i < n; i++) {
		kl_error_clear(&e);
		if (kl_repo_snapshot_load(bk->r, &ids[i], &s, &e) != KL_OK) {
			kl_repo_damage_add(bk->r, &e);	/* told at the end */
			continue;
		}
		if (strcmp(s.hostname, host) == 0 &&
		    same_paths(&s, bk->paths, bk->npaths) && s.time_s > best) {
			best = s.time_s;
			st->parent = ids[i];
			bk->parent_tree = s.tree;
		}
		kl_snapshot_clear(&s);
	}
	free(ids);
}

static void
snapshot_fill(struct kl_snapshot *s, const struct bk *bk, const char *host,
    const struct timespec *t0, const struct kl_backup_stats *st,
    const struct kl_id *root)
{
	struct passwd *pw = getpwuid(getuid());

	memset(s, 0, sizeof(*s));
	s->time_s = (int64_t)t0->tv_sec;
	s->time_ns = (uint32_t)t0->tv_nsec;
	s->tree = *root;
	s->parent = st->parent;
	s->hostname = (char *)(uintptr_t)host;
	s->username = pw ? pw->pw_name : "";
	s->uid = (uint32_t)getuid();
	s->gid = (uint32_t)getgid();
	s->paths = bk->paths;
	s->npaths = bk->npaths;
	s->tags = (char **)(uintptr_t)bk->o->tags;
	s->ntags = bk->o->ntags;
	s->files = st->files_new + st->files_changed + st->files_unmodified;
	s->dirs = st->dirs;
	s->bytes = st->bytes_total;
	s->program = PROGRAM;
}

static int
threads_start(struct bk *bk, pthread_t *walker, pthread_t *w, int *nw)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int i, want = bk->o->threads > 0 ? bk->o->threads : (int)cores;

	if (want < 1)
		want = 1;
	if (want > WORKERS_MAX)
		want = WORKERS_MAX;
	*nw = 0;
	for (i = 0; i < want; i++) {
		if (pthread_create(&w[i], NULL, worker_main, bk) != 0)
			break;
		(*nw)++;
	}
	if (*nw == 0 || pthread_create(walker, NULL, walk_main, bk) != 0) {
		bk->p.closed = 1;
		pipe_abort(&bk->p);
		return KL_E_NOMEM;
	}
	return KL_OK;
}

static int
run_pipeline(struct bk *bk, struct kl_backup_stats *stats, struct kl_id *root)
{
	struct collector c;
	pthread_t walker, w[WORKERS_MAX];
	int i, nw, rc;

	memset(&c, 0, sizeof(c));
	c.bk = bk;
	c.stats = stats;
	kl_error_clear(&c.err);
	if ((rc = threads_start(bk, &walker, w, &nw)) == KL_OK) {
		rc = collect(&c);
		if (rc != KL_OK)
			pipe_abort(&bk->p);
		pthread_join(walker, NULL);
	}
	for (i = 0; i < nw; i++)
		pthread_join(w[i], NULL);
	/* the workers are gone: no other thread writes bk->err now */
	if (rc != KL_OK && c.err.code == rc && bk->err != NULL)
		*bk->err = c.err;
	*root = c.root;
	collector_clear(&c);
	if (rc == KL_OK && bk->walk_rc != KL_OK)
		rc = bk->walk_rc;
	return rc;
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
bk_clear(struct bk *bk)
{
	size_t i;

	for (i = 0; i < bk->npaths; i++)
		free(bk->paths[i]);
	free(bk->paths);
	kl_session_free(bk->s);
	pipe_clear(&bk->p);
}

int
kl_backup_run(struct kl_repo *r, const struct kl_backup_opts *o,
    struct kl_backup_stats *stats, struct kl_error *err)
{
	char host[KL_NAME_MAX + 1];
	struct timespec now, mono;
	struct kl_snapshot snap;
	struct kl_id root;
	struct bk bk;
	int rc;

	memset(stats, 0, sizeof(*stats));
	memset(&bk, 0, sizeof(bk));
	bk.r = r;
	bk.o = o;
	bk.err = err;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	snprintf(host, sizeof(host), "%s", o->host ? o->host : "");
	if (o->host == NULL && gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "unknown");
	if (kl_repo_role(r) == KL_ROLE_READ) {
		rc = kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "the repository server gives this key read-only access: "
		    "it can restore, not back up");
		goto out;
	}
	if ((rc = pipe_init(&bk.p)) != KL_OK ||
	    (rc = paths_prepare(&bk, o)) != KL_OK ||
	    (rc = kl_repo_index_load(r, err)) != KL_OK)
		goto out;
	/* signatures of chunks pruned from the repository: no base again
	 * (a catalog that fails here costs nothing but space) */
	if (o->delta_min_size > 0 && kl_repo_catalog(r) != NULL)
		(void)kl_cat_sig_prune(kl_repo_catalog(r), NULL, NULL);
	parent_find(&bk, host, stats);
	if ((rc = kl_repo_lock(r, 0, err)) != KL_OK)
		goto out;
	kl_repo_sweep_tmp(r, &stats->tmp_removed, &stats->tmp_removed_bytes);
	if ((rc = kl_session_begin(r, o->compression, &bk.s, err)) != KL_OK)
		goto unlock;
	/* failing to record only costs speed (repo.h): no detail wanted */
	(void)kl_session_own_begin(bk.s, host, bk.paths, bk.npaths, NULL);
	if ((rc = kl_session_adopt_orphans(bk.s, &stats->packs_adopted,
	    &stats->bytes_adopted, err)) != KL_OK)
		goto unlock;
	if ((rc = run_pipeline(&bk, stats, &root)) != KL_OK)
		goto unlock;
	stats->bytes_read = bk.bytes_read;
	stats->warnings = bk.warnings;
	snapshot_fill(&snap, &bk, host, &now, stats, &root);
	rc = kl_session_commit(bk.s, &snap, &stats->snapshot, err);
unlock:
	kl_repo_unlock(r);
out:
	/* also when it stopped early: paths left out are source problems */
	stats->warnings = bk.warnings;
	stats->duration_s = elapsed(&mono);
	bk_clear(&bk);
	return rc;
}
