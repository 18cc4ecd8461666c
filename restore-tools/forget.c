/*
 * Removing snapshots (kluis/forget.h): the forget record first, then the
 * files.  A crash between the two leaves snapshots that are still listed
 * (the record only explains an absence), and forgetting them again
 * finishes the job.
 */
#include <stdlib.h>
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/forget.h"
#include "kluis/format.h"
#include "kluis/repo.h"

static int
id_order(const void *a, const void *b)
{
	return kl_id_cmp(a, b);
}

int
kl_record_write(struct kl_repo *r, const struct kl_id *ids, size_t n,
    int retire, size_t *files, struct kl_error *err)
{
	struct kl_index ix;
	struct kl_id name;
	size_t at;
	int rc = KL_OK;

	*files = 0;
	for (at = 0; at < n && rc == KL_OK; at += ix.nwithdrawn) {
		memset(&ix, 0, sizeof(ix));
		ix.retire = retire;
		ix.withdrawn = (struct kl_id *)(ids + at);
		ix.nwithdrawn = n - at < KL_INDEX_WITHDRAWN_MAX ? n - at :
		    KL_INDEX_WITHDRAWN_MAX;
		if ((rc = kl_repo_index_write(r, &ix, &name, err)) == KL_OK)
			(*files)++;
	}
	return rc;
}

/* The forget record, and this client's catalog knows the withdrawals
 * now, whether or not it loads the new index file in this run. */
static int
record_write(struct kl_repo *r, const struct kl_id *ids, size_t n,
    struct kl_error *err)
{
	size_t i, files;
	int rc;

	rc = kl_record_write(r, ids, n, 0, &files, err);
	for (i = 0; i < n && rc == KL_OK; i++)
		rc = kl_cat_withdrawn_add(kl_repo_catalog(r), &ids[i], err);
	return rc;
}

int
kl_forget_snapshots(struct kl_repo *r, struct kl_id *ids, size_t n,
    void (*refused)(void *arg, const char *hex, const char *why), void *arg,
    size_t *removed, size_t *failed, struct kl_error *err)
{
	struct kl_backend *be = kl_repo_backend(r);
	char hex[KL_ID_HEX_LEN + 1];
	const char *why;
	size_t i;
	int rc;

	*removed = *failed = 0;
	if (n == 0)
		return KL_OK;
	qsort(ids, n, sizeof(*ids), id_order);
	if ((rc = record_write(r, ids, n, err)) != KL_OK)
		return rc;
	for (i = 0; i < n; i++) {
		kl_id_hex(&ids[i], hex);
		rc = be->ops->remove(be->ctx, KL_FT_SNAPSHOT, hex);
		if (rc == KL_OK || rc == KL_E_NOTFOUND) {
			(*removed)++;
			continue;
		}
		why = be->ops->why != NULL ? be->ops->why(be->ctx) : NULL;
		if (refused != NULL)
			refused(arg, hex, why != NULL ? why : kl_strerror(rc));
		(*failed)++;
	}
	return KL_OK;
}
