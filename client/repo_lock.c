/*
 * Repository locks (FORMAT.md §12).  A backup holds a shared lock so that
 * a future exclusive operation (prune) never removes data a running backup
 * is about to reference.  A lock is live while younger than
 * KL_LOCK_STALE_S, or while its process still runs on this host; the
 * holder refreshes it (kl_repo_lock_refresh) well before that.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "repo_internal.h"

#define KL_LOCK_STALE_S (30 * 60)
#define LOCK_FILE_MAX 4096

static int
lock_write(struct kl_repo *r, int exclusive, struct kl_id *id)
{
	struct kl_lock l;
	struct buf *pt;
	int rc;

	memset(&l, 0, sizeof(l));
	l.time = (int64_t)time(NULL);
	l.exclusive = exclusive ? 1 : 0;
	l.pid = (uint32_t)getpid();
	if (gethostname(l.hostname, sizeof(l.hostname) - 1) != 0)
		strcpy(l.hostname, "unknown");
	if ((pt = buf_new(LOCK_FILE_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_lock_encode(&l, pt)) == KL_OK)
		rc = repo_sealed_put(r, KL_FT_LOCK, KL_MAGIC_LOCK, NULL,
		    r->keys->index_key, KL_OBJ_LOCK, pt, id);
	buf_free(pt);
	return rc;
}

static int
lock_read(struct kl_repo *r, const struct kl_id *id, struct kl_lock *l)
{
	struct buf *pt = NULL;
	int rc;

	rc = repo_sealed_get(r, KL_FT_LOCK, id, LOCK_FILE_MAX, KL_MAGIC_LOCK,
	    r->keys->index_key, KL_OBJ_LOCK, &pt);
	if (rc == KL_OK)
		rc = kl_lock_decode(buf_data(pt), buf_size(pt), l);
	buf_free(pt);
	return rc;
}

static int
lock_live(const struct kl_lock *l)
{
	char host[KL_NAME_MAX + 1] = "";
	int64_t age = (int64_t)time(NULL) - l->time;

	gethostname(host, sizeof(host) - 1);
	if (strcmp(host, l->hostname) == 0 && l->pid != 0 &&
	    kill((pid_t)l->pid, 0) != 0 && errno == ESRCH)
		return 0;	/* its process is gone */
	return age < KL_LOCK_STALE_S;
}

/* Checks every other lock for a conflict with the one we hold / want. */
static int
lock_conflicts(struct kl_repo *r, int exclusive, const struct kl_id *mine)
{
	struct kl_id *ids = NULL;
	struct kl_lock l;
	size_t i, n;
	int rc;

	if ((rc = kl_repo_list_ids(r, KL_FT_LOCK, &ids, &n)) != KL_OK)
		return rc;
	for (i = 0; i < n && rc == KL_OK; i++) {
		if (kl_id_eq(&ids[i], mine))
			continue;
		if (lock_read(r, &ids[i], &l) != KL_OK || !lock_live(&l))
			continue;	/* unreadable or stale: ignore */
		if (exclusive || l.exclusive) {
			repo_seterr(r, "repository is locked %sby %s pid %u "
			    "since %lld s", l.exclusive ? "exclusively " : "",
			    l.hostname, l.pid,
			    (long long)((int64_t)time(NULL) - l.time));
			rc = KL_E_LOCKED;
		}
	}
	free(ids);
	return rc;
}

static void
lock_remove(struct kl_repo *r, const struct kl_id *id)
{
	char name[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, name);
	r->be.ops->remove(r->be.ctx, KL_FT_LOCK, name);
}

/* Write first, then look: two racing clients both see each other. */
int
kl_repo_lock(struct kl_repo *r, int exclusive)
{
	struct kl_id id;
	int rc;

	if ((rc = lock_write(r, exclusive, &id)) != KL_OK)
		return rc;
	if ((rc = lock_conflicts(r, exclusive, &id)) != KL_OK) {
		lock_remove(r, &id);
		return rc;
	}
	r->lock_id = id;
	r->lock_exclusive = exclusive;
	r->lock_time = time(NULL);
	return KL_OK;
}

int
kl_repo_lock_refresh(struct kl_repo *r)
{
	struct kl_id old = r->lock_id, id;
	int rc;

	if (kl_id_is_zero(&old) ||
	    time(NULL) - r->lock_time < KL_LOCK_STALE_S / 6)
		return KL_OK;
	if ((rc = lock_write(r, r->lock_exclusive, &id)) != KL_OK)
		return rc;
	r->lock_id = id;
	r->lock_time = time(NULL);
	if (!kl_id_eq(&old, &id))
		lock_remove(r, &old);
	return KL_OK;
}

void
kl_repo_unlock(struct kl_repo *r)
{
	if (kl_id_is_zero(&r->lock_id))
		return;
	lock_remove(r, &r->lock_id);
	memset(&r->lock_id, 0, sizeof(r->lock_id));
}
