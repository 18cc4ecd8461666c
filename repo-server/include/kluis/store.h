/*
 * Repository storage on a local file system (docs/FORMAT.md §1): the code
 * that both kluis-server and the client's embedded local mode use.  It
 * holds no key and never sees plaintext.
 */
#ifndef KLUIS_STORE_H
#define KLUIS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/backend.h"

enum kl_store_role {
	KL_ROLE_FULL = 0,	/* everything, including removal */
	KL_ROLE_APPEND = 1,	/* create and read; remove only lock files */
	KL_ROLE_READ = 2,	/* read only */
};

struct kl_store;

/*
 * Opens the repository directory path.  KL_E_NOTFOUND if path has no
 * `config` file (not a repository).  The returned store owns a copy of
 * path.
 */
int kl_store_open(const char *path, enum kl_store_role role,
    struct kl_store **out);

/*
 * Creates the layout (config's directory, keys/, data/00..ff, index/,
 * snapshots/, locks/) under path, which must not exist or be an empty
 * directory (KL_E_EXISTS otherwise), and writes config atomically.
 */
int kl_store_create(const char *path, const uint8_t *config,
    size_t config_len, struct kl_store **out);

void kl_store_close(struct kl_store *s);

/* 1 if name is valid for type t (64 lowercase hex; "config" for CONFIG). */
int kl_store_name_valid(enum kl_ftype t, const char *name);

/* The kl_backend_ops over this store (see backend.h for the contract);
 * the role is enforced here: puts need APPEND or FULL, removes need FULL
 * (or APPEND for locks).  The backend takes over s: ops->close closes it,
 * so do not also call kl_store_close. */
void kl_store_backend(struct kl_store *s, struct kl_backend *out);

/*
 * Writes the path of file (t, name) into out[out_len]; KL_E_INVAL for an
 * invalid name, KL_E_LIMIT if it does not fit.
 */
int kl_store_path(const struct kl_store *s, enum kl_ftype t,
    const char *name, char *out, size_t out_len);

#endif
