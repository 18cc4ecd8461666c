/*
 * Removing snapshots (docs/CLI.md "forget", FORMAT.md §9 forget records):
 * one mechanism for `kluis forget` and `kluis rewrite --forget`.
 */
#ifndef KLUIS_FORGET_H
#define KLUIS_FORGET_H

#include <stddef.h>

#include "kluis/err.h"
#include "kluis/hash.h"

struct kl_repo;

/*
 * Forgets snapshots ids[0, n) (sorted in place): writes the forget
 * record(s) - signed index files withdrawing the ids, at most
 * KL_INDEX_WITHDRAWN_MAX each - records the withdrawals in r's catalog,
 * then removes each snapshot file.  A file the storage refuses to remove
 * is told to refused (its hex id and the storage's reason) and counted in
 * *failed; *removed counts the others (gone already included).  The
 * caller holds the exclusive lock and a full key.  Errors of the record
 * (nothing removed then): KL_E_PERM, transport and storage errors.
 */
int kl_forget_snapshots(struct kl_repo *r, struct kl_id *ids, size_t n,
    void (*refused)(void *arg, const char *hex, const char *why), void *arg,
    size_t *removed, size_t *failed, struct kl_error *err);

/*
 * Writes ids[0, n) (sorted) as withdrawals in signed index files of no
 * packs, at most KL_INDEX_WITHDRAWN_MAX each (FORMAT.md §9): forget
 * records, or with retire, prune's retire records.  *files counts those
 * written.  Does not touch the catalog.
 */
int kl_record_write(struct kl_repo *r, const struct kl_id *ids, size_t n,
    int retire, size_t *files, struct kl_error *err);

#endif
