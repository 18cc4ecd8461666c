/*
 * Listing repository files with the receive times the backend reports
 * (kl_list_cb, docs/PROTOCOL.md §3): the times retention and point-in-time
 * restore go by, instead of the clock of the client that made a snapshot.
 */
#include <stdint.h>
#include <stdlib.h>

#include "kluis/err.h"
#include "kluis/grow.h"
#include "repo_internal.h"

struct time_list {
	struct kl_id *ids;
	int64_t *times;
	size_t n, ids_cap, times_cap;
};

/* Makes room for one more entry in both arrays. */
static int
time_list_grow(struct time_list *l)
{
	int rc;

	if ((rc = KL_GROW(l->ids, l->ids_cap, l->n + 1)) != KL_OK)
		return rc;
	return KL_GROW(l->times, l->times_cap, l->n + 1);
}

/* Keeps files named by a valid id; skips anything else, as listing does. */
static int
time_list_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct time_list *l = arg;
	struct kl_id id;
	int rc;

	(void)size;
	if (kl_id_parse(name, &id) != KL_OK)
		return KL_OK;
	if ((rc = time_list_grow(l)) != KL_OK)
		return rc;
	l->ids[l->n] = id;
	l->times[l->n++] = mtime_s;
	return KL_OK;
}

int
repo_file_times(struct kl_repo *r, enum kl_ftype t, struct kl_id **ids,
    int64_t **recv_s, size_t *n, struct kl_error *err)
{
	static const char *const dirs[] = { "", "config", "keys", "data",
	    "index", "snapshots", "locks" };
	struct time_list l = { NULL, NULL, 0, 0, 0 };
	int rc;

	*ids = NULL;
	*recv_s = NULL;
	*n = 0;
	if ((rc = r->be.ops->list(r->be.ctx, t, time_list_add, &l)) !=
	    KL_OK) {
		kl_error_set(err, rc, "listing %s: %s", (unsigned)t <
		    sizeof(dirs) / sizeof(dirs[0]) ? dirs[t] : "files",
		    kl_strerror(rc));
		goto out;
	}
	*ids = l.ids;
	*recv_s = l.times;
	*n = l.n;
	l.ids = NULL;
	l.times = NULL;
out:
	free(l.ids);
	free(l.times);
	return rc;
}

int
kl_repo_snapshot_times(struct kl_repo *r, struct kl_id **ids,
    int64_t **recv_s, size_t *n, struct kl_error *err)
{
	return repo_file_times(r, KL_FT_SNAPSHOT, ids, recv_s, n, err);
}
