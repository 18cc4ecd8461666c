/*
 * What store.c and trash.c share: private to the kl_store library.
 */
#ifndef KLUIS_STORE_INTERNAL_H
#define KLUIS_STORE_INTERNAL_H

#include <stddef.h>

#include "kluis/store.h"

#define STORE_DIR_MODE	0700u

struct kl_store {
	char *path;
	enum kl_store_role role;
	struct kl_store_policy policy;
	const char *why;	/* why the last put or remove was refused */
	int64_t snap_newest;	/* replica role: the newest snapshot's
				 * receive time; -1 not yet looked at */
	char why_buf[256];	/* a why made for the occasion (quota) */
};

/* Directory of type t below the root ("" for CONFIG), NULL if unknown. */
const char *store_type_dir(enum kl_ftype t);

/* out = "a/b", or a alone when b is empty; KL_E_LIMIT if too long. */
int store_join(char *out, size_t out_len, const char *a, const char *b);

/*
 * Directory holding file (t, name); name must already be valid.  Without
 * a name: the type's own directory (for data, the one above the fan-out).
 */
int store_dir_path(const struct kl_store *s, enum kl_ftype t,
    const char *name, char *out, size_t out_len);

/*
 * trash.c: moves the live file (t, name) at path into the trash (the
 * policy's delete delay is > 0), durably.  KL_E_NOTFOUND if it is gone.
 */
int store_trash_move(struct kl_store *s, enum kl_ftype t, const char *name,
    const char *path);

/*
 * quota.c (no-ops without a quota): reserve size bytes for an upload
 * (KL_E_NOSPACE with s->why when the quota would be passed), give them
 * back when the upload does not become a file, and drop the cached count
 * after bytes were deleted.
 */
int store_quota_reserve(struct kl_store *s, uint64_t size);
void store_quota_release(struct kl_store *s, uint64_t size);
void store_usage_forget(struct kl_store *s);

#endif
