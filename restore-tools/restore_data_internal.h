/*
 * Private to the content restore: restore_data.c (wants, packs, passes)
 * and restore_delta.c (chunks stored as deltas, FORMAT.md §7.1).
 */
#ifndef KLUIS_RESTORE_DATA_INTERNAL_H
#define KLUIS_RESTORE_DATA_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/map.h"
#include "restore_internal.h"

struct buf;
struct kl_repo;

/* Where a want's blob goes. */
enum want_kind {
	W_FILE = 0,		/* dest: a file job; foff: where in it */
	W_BASE,			/* dest: a slot (a base of delta chunks) */
	W_RECORD,		/* dest: a delta chunk; its delta record */
};

/* One blob to deliver to one place. */
struct want {
	struct kl_id pack;
	uint32_t offset, stored_len, raw_len;
	struct kl_id id;
	uint8_t type;		/* KL_OBJ_DATA or KL_OBJ_DELTA */
	uint8_t kind;		/* enum want_kind */
	size_t dest;
	uint64_t foff;
	size_t attempt;		/* which of the blob's locations this is */
	int err;		/* set aside: why */
	const char *what;
};

/* A base of delta chunks (restore_delta.c). */
struct slot {
	struct kl_id id;
	uint64_t off;		/* in the scratch file, if it goes there */
	uint32_t len;
	int scratch;		/* a delta chunk reads it from the scratch
				 * file (it has more bases, or its record
				 * was not kept in memory) */
	size_t *users;		/* delta chunks made when it arrives */
	size_t nusers, users_cap;
	int ok;			/* delivered (under mu) */
	int err;		/* failed: why (under mu) */
};

/* A chunk stored as a delta (restore_delta.c). */
struct dwant {
	size_t file;
	uint64_t foff;
	size_t chunk;		/* index into the file's chunks */
	uint8_t *rec;		/* its delta record, once delivered */
	size_t rec_len;
	int direct;		/* made when its one base arrives */
	int done;		/* made, or its file failed (under mu) */
};

/* Shared by all restore threads. */
struct rd {
	struct kl_repo *r;
	struct kl_error *err;	/* the caller's (may be NULL): the detail of
				 * the first fatal error (under mu while
				 * workers run) */
	int root;
	struct rjob *files;
	const struct kl_restore_opts *o;
	struct kl_restore_stats *st;
	struct want *w;		/* this pass's wants */
	size_t n, cap;
	size_t *groups;		/* start of each pack's wants, + n at end */
	size_t ngroups;
	size_t next;		/* next group to take (under mu) */
	int fatal;		/* first fatal error (under mu) */
	uint8_t *gdone;		/* per group: every want handled */
	uint64_t cut;		/* files cut off by a lost connection */
	struct want *later;	/* set aside for other copies (under mu) */
	size_t nlater, later_cap;
	struct kl_restore_progress prog;	/* (under mu) */
	/* delta chunks (restore_delta.c) */
	struct want *rw;	/* their records' wants, the first phase */
	size_t nrw, rw_cap;
	uint64_t rec_bytes;	/* kept in memory, at most a budget */
	struct slot *slots;
	size_t nslots, slots_cap;
	struct kl_map slot_of;	/* base id -> slot */
	uint64_t scratch_len;
	int scratch_fd;		/* -1 unless a base goes there */
	struct dwant *dw;
	size_t ndw, dw_cap, dw_next;	/* dw_next: under mu */
	pthread_mutex_t mu;	/* groups, fatal, failed flags, file states,
				 * stats, warn, prog, slot and dwant states */
	pthread_cond_t made;	/* a file left RS_FILE_CREATING (under mu) */
};

/* One restore thread's private state. */
struct rworker {
	struct rd *d;
	ZSTD_DCtx *dctx;
	struct buf *raw;
	uint8_t *key;
	uint8_t *made;		/* a delta chunk being made (16 MiB, lazy) */
	size_t fd_file;		/* one-entry descriptor cache */
	int fd;
	uint64_t bytes, packs, fetched;
	uint64_t reported;	/* of bytes, in d->prog already */
	struct kl_error err;	/* this thread's last failure */
};

/* ---- restore_data.c ---- */

/* Names file f failed (once) with err and what; under no lock. */
void rd_file_fail(struct rd *d, size_t f, int err, const char *what);
int rd_file_failed(struct rd *d, size_t f);
/* The file-creation failure of f, named. */
void rd_create_failed(void *arg, size_t f, int err);
/* Keeps e, the detail of fatal error rc, for the caller; returns rc. */
int rd_fail(struct rd *d, const struct kl_error *e, int rc);
/* A fatal error of locating a blob (not its absence). */
int rd_locate_fatal(int rc);
/* Appends to *v a want of blob id at location l for (kind, dest, foff). */
int rd_want_push(struct want **v, size_t *n, size_t *cap,
    const struct kl_blob_loc *l, const struct kl_id *id, uint8_t type,
    uint8_t kind, size_t dest, uint64_t foff, size_t attempt);
/* The descriptor of file f for writing (a thread's one-entry cache). */
int rd_file_fd(struct rworker *t, size_t f);
/* Writes [off, off + len) of file node n except its holes. */
int rd_write_range(int fd, const struct kl_node *n, const uint8_t *p,
    uint64_t off, size_t len);
int rd_pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off);
/* One phase: d->w's wants in pack order, then other copies of what
 * failed, until nothing is set aside; returns the fatal error. */
int rd_phase(struct rd *d);
/* Runs body on one thread per core (struct rworker each); returns the
 * fatal error. */
int rd_run_threads(struct rd *d, void *(*body)(void *));

/* ---- restore_delta.c ---- */

/* Chunk i of file f (at foff) is made from delta entry x. */
int rd_delta_plan(struct rd *d, size_t f, size_t i,
    const struct kl_delta_ref *x, uint64_t foff);
/* After planning: fetches the delta records kept in memory (a phase of
 * their own), decides which chunks are made as their base arrives, and
 * opens the scratch file for the bases the others need. */
int rd_delta_begin(struct rd *d);
/* Deliveries of a base and of a delta record (from the pack passes). */
void rd_deliver_base(struct rworker *t, const struct want *w,
    const uint8_t *p, size_t len);
void rd_deliver_record(struct rworker *t, const struct want *w,
    const uint8_t *p, size_t len);
/* A base or a record no copy gives. */
void rd_slot_fail(struct rd *d, size_t s, int err);
void rd_record_fail(struct rd *d, size_t k, int err);
/* After the passes: makes the delta chunks that wait for the scratch
 * file, fails those whose base never came. */
int rd_delta_end(struct rd *d);
/* Under mu: the delta chunks not made yet are cut off (the connection
 * was lost); returns how many files that newly failed. */
uint64_t rd_delta_cut(struct rd *d);
void rd_delta_clear(struct rd *d);

#endif
