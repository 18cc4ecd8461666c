/* Private to the restore drills (drill*.c). */
#ifndef KLUIS_DRILL_INTERNAL_H
#define KLUIS_DRILL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/drill.h"
#include "kluis/err.h"
#include "kluis/format.h"

struct kl_repo;
struct kl_walk;
struct kl_walk_ops;

/* Space a restored entry takes besides its data (an inode, a block). */
#define DRILL_ENTRY_COST 4096

struct drill {
	struct kl_repo *r;
	struct kl_error *err;	/* the caller's (may be NULL): what stopped
				 * the drill */
	struct kl_error tree_err;	/* of the last tree load (its failure
					 * is a finding, or stops the drill) */
	kl_drill_finding_fn fn;
	void *arg;
	const char *target;
	uint64_t findings;
	char **failed;		/* paths with a missing/restore/tree finding */
	size_t nfailed, cfailed;
};

/* One sampled entry. */
struct sentry {
	char *path;		/* absolute snapshot path */
	uint64_t size;		/* regular files: size */
	uint64_t space;		/* regular files: data blocks, no holes */
	int file;
};

struct kl_drill_sample {
	struct sentry *v;	/* sorted by path (strcmp) */
	size_t n;
	int all;		/* everything: v is empty */
	uint64_t files, bytes, space, others;
	char key[KL_PATH_MAX + 3];	/* drill_sample_state's scratch */
};

/* drill.c: findings. */
void drill_init(struct drill *d, struct kl_repo *r, kl_drill_finding_fn fn,
    void *arg, const char *target, struct kl_error *err);
void drill_clear(struct drill *d);
/* Counts a finding about path ("": the root) and field, and reports it. */
void drill_finding(struct drill *d, const char *path, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * A path that could not be restored at all is named once, by whichever
 * stage saw it first (the sampling walk, restore, the verifier), not once
 * per stage.
 */
void drill_finding_once(struct drill *d, const char *path, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 1 for errors after which a drill cannot go on. */
int drill_fatal(int rc);
/* Copies e, the detail of a failure that stops the drill, into d->err;
 * returns rc. */
int drill_fail(struct drill *d, const struct kl_error *e, int rc);

/* drill_sample.c: the sample, and what the walks of a drill share. */
/* Copies the walk's path to p (*len); 0 if longer than KL_PATH_MAX. */
int drill_walk_here(struct kl_walk *w, char *p, size_t *len);
/* kl_walk_ops.load: kl_repo_tree_load of the repository of drill arg
 * (struct drill *); the failure's detail is left in d->tree_err. */
int drill_tree_load(void *arg, const struct kl_id *id, struct kl_tree *out);
/*
 * The walks of a drill (kluis/treewalk.h): their own stack, and the
 * snapshot's budget.  Over it, the error names the snapshot.
 */
int drill_walk(struct drill *d, const struct kl_walk_ops *ops, void *arg,
    const struct kl_id *snap, const struct kl_snapshot *sn);
/* The sample o asks for of snapshot sn (*out, drill_sample_free). */
int drill_sample_take(struct drill *d, const struct kl_id *snap,
    const struct kl_snapshot *sn, const struct kl_drill_opts *o,
    struct kl_drill_sample **out);
void drill_sample_free(struct kl_drill_sample *s);	/* NULL-safe */
/* kl_restore_opts.select: 2 for a sampled entry, 1 on the way to one. */
int drill_sample_state(void *arg, const char *path);

/*
 * drill_verify.c: verifies what dir holds against snapshot sn - the
 * sample s, or everything if s is NULL or all - and fills res->verified
 * and res->verify_s.
 */
int drill_verify_run(struct drill *d, const struct kl_id *snap,
    const struct kl_snapshot *sn, const char *dir,
    struct kl_drill_sample *s, struct kl_drill_result *res);

#endif
