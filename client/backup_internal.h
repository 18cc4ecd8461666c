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

#endif
