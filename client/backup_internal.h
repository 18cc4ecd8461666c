/* Private to the backup pipeline (backup.c, walk.c). */
#ifndef KLUIS_BACKUP_INTERNAL_H
#define KLUIS_BACKUP_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "kluis/backup.h"
#include "kluis/err.h"
#include "kluis/format.h"

struct kl_repo;
struct kl_session;

enum item_kind {
	IT_CHUNK = 1,		/* content of the current file */
	IT_FILE,		/* a file starts (or, reused: is complete) */
	IT_FILE_END,		/* the current file ends (failed: drop it) */
	IT_NODE,		/* a symlink, device, fifo or socket */
	IT_DIR_BEGIN,
	IT_DIR_END,
	IT_LINK,		/* another name of an already stored file */
};

enum file_status { FS_NEW = 1, FS_CHANGED, FS_UNMODIFIED };

struct dfile;

struct item {
	enum item_kind kind;
	int done;
	int rc;
	/* IT_CHUNK */
	uint8_t *data;
	size_t len;
	struct kl_id id;
	uint64_t stored;
	int added;
	uint64_t off;			/* in the file */
	struct dfile *df;		/* a big file's delta context */
	int is_delta;			/* stored as dref says */
	struct kl_delta_ref dref;	/* index set by the collector */
	/* IT_FILE, IT_NODE, IT_DIR_BEGIN, IT_LINK */
	struct kl_node node;
	int reused;
	int status;
	int failed;		/* IT_FILE_END */
};

/* The ordered ring shared by walker, workers and collector. */
struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t work, done, space;
	struct item **ring;
	size_t cap;
	uint64_t head, work_next, tail;
	size_t inflight;
	int closed;
	int abort;
};

struct bk {
	struct kl_repo *r;
	struct kl_session *s;
	const struct kl_backup_opts *o;
	struct pipe p;
	char **paths;			/* normalised, sorted, deduplicated */
	size_t npaths;
	struct kl_id parent_tree;	/* zero: no parent */
	int parent_intact;		/* the parent's blobs are all in the
					 * blob index (kl_repo_own_parent) */
	int parent_own;			/* the parent is this client's own
					 * (its trees from the catalog) */
	uint64_t warnings;		/* walker thread only */
	uint64_t bytes_read;		/* walker thread only */
	uint64_t files_reached;		/* walker thread only: progress */
	int walk_rc;			/* fatal walker error */
	/* The caller's error (may be NULL).  While the pipeline runs only
	 * the first worker failure is copied into it, under p.mu, with its
	 * code in worker_rc; every thread has its own struct kl_error. */
	struct kl_error *err;
	int worker_rc;			/* under p.mu */
};

/*
 * Pushes n items (ownership moves to the pipe) under one lock: fewer
 * hand-offs per small file.  Blocks while the ring is full or too many
 * chunk bytes are in flight.  Returns 0, or -1 when the pipe was aborted
 * (the items not pushed are freed).
 */
#define PIPE_BATCH_MAX 64
#define PIPE_BATCH_BYTES ((size_t)1 << 20)
int pipe_push_batch(struct pipe *p, struct item **v, size_t n);
void item_free(struct item *it);
struct item *item_new(enum item_kind k);

/* walk.c: the walker thread's body. */
void *walk_main(void *arg);

/*
 * backup_delta.c: a big file's delta context, shared by its chunk items
 * (reference counted; the walker makes it, workers use it read-only).
 * dfile_new takes the previous version prev (NULL: none) and builds its
 * chunk layout from prev's chunk list, delta entries and the blob index;
 * a layout that cannot be known (a chunk the index lacks) leaves only
 * the signatures to be written.  NULL *out when the catalog is missing.
 * dfile_store is the worker's job for a chunk item with a context: it
 * stores the chunk whole, or as a delta (it->is_delta, it->dref), or
 * reuses the previous version's delta entry for an unchanged chunk, and
 * caches the signature of a chunk it stores whole.
 */
int dfile_new(struct bk *bk, const struct kl_node *prev, struct dfile **out);
struct dfile *dfile_ref(struct dfile *f);
void dfile_put(struct dfile *f);
int dfile_store(struct bk *bk, struct item *it, struct kl_error *err);

#endif
