/*
 * Repository locks (FORMAT.md §12).  A backup holds a shared lock so that
 * a future exclusive operation (prune) never removes data a running backup
 * is about to reference.
 *
 * Locks are judged by the repository's clock only (issue #10): we write our
 * lock first, then list the locks; the receive time the repository reports
 * for ours is "now", and another lock is stale when it arrived more than
 * KL_LOCK_STALE_S before ours.  A lock's own time, the clock of the host
 * that wrote it, decides nothing but validity: a lock claiming a time more
 * than KL_LOCK_FUTURE_S after its arrival is a wrong clock or a forgery and
 * is ignored.  Exclusive locks carry their kind in cleartext (version 2),
 * so the repository server refuses them from the append-only role.
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

#define HOST_SHOWN_MAX 64	/* bytes of a lock's host name in messages */

/* Locks ignored because they claim a time after their arrival. */
struct future {
	size_t n;
	struct kl_id first;
	uint64_t ahead;		/* seconds, of the first */
	char host[HOST_SHOWN_MAX + 1];
};

/* 1 if a is later than b by more than limit seconds, without overflow
 * (both may be anything a hostile server or lock holds). */
static int
later_by_more(int64_t a, int64_t b, uint64_t limit)
{
	return a > b && (uint64_t)a - (uint64_t)b > limit;
}

/* A lock's host name for a message: printable ASCII, cut short. */
static void
host_shown(const char *in, char out[HOST_SHOWN_MAX + 1])
{
	size_t i;

	for (i = 0; in[i] != '\0' && i < HOST_SHOWN_MAX; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static int
lock_write(struct kl_repo *r, int exclusive, struct kl_lock *l,
    struct kl_id *id, struct kl_error *err)
{
	struct buf *pt = NULL, *f = NULL;
	int rc = KL_E_NOMEM;

	memset(l, 0, sizeof(*l));
	l->time = (int64_t)time(NULL);
	l->exclusive = exclusive ? 1 : 0;
	l->pid = (uint32_t)getpid();
	if (gethostname(l->hostname, sizeof(l->hostname) - 1) != 0 ||
	    l->hostname[0] == '\0')
		strcpy(l->hostname, "unknown");
	if ((pt = buf_new(KL_LOCK_PLAIN_MAX)) == NULL ||
	    (f = buf_new(KL_LOCK_FILE_MAX)) == NULL)
		goto out;
	if ((rc = kl_lock_encode(l, pt)) != KL_OK ||
	    (rc = kl_lock_hdr_put(f, l->exclusive)) != KL_OK ||
	    (rc = repo_seal_append(r, f, r->keys->index_key, KL_OBJ_LOCK,
	    pt)) != KL_OK)
		goto out;
	rc = repo_file_put(r, KL_FT_LOCK, f, id, err);
out:
	buf_free(pt);
	buf_free(f);
	return rc;
}

/* Reads a lock of version 1 or 2; a version-2 lock's plaintext must agree
 * with its cleartext header. */
static int
lock_read(struct kl_repo *r, const struct kl_id *id, struct kl_lock *l)
{
	struct buf *f = NULL, *pt = NULL;
	struct kl_lock_hdr h;
	int rc;

	/* an unreadable lock is ignored: no detail wanted */
	if ((rc = repo_file_get(r, KL_FT_LOCK, id, KL_LOCK_FILE_MAX, &f,
	    NULL)) != KL_OK)
		return rc;
	if ((rc = kl_lock_hdr_get(f, &h)) == KL_OK &&
	    (rc = repo_sealed_open(r, f, r->keys->index_key, KL_OBJ_LOCK,
	    &pt)) == KL_OK &&
	    (rc = kl_lock_decode(buf_data(pt), buf_size(pt), l)) == KL_OK)
		rc = kl_lock_hdr_match(&h, l);
	buf_free(pt);
	buf_free(f);
	return rc;
}

static void lock_remove(struct kl_repo *r, const struct kl_id *id);

/* The rule that may stay from before: a lock of this host whose process
 * is gone is dead, whatever its age. */
static int
lock_process_gone(const struct kl_lock *l)
{
	char host[KL_NAME_MAX + 1] = "";

	gethostname(host, sizeof(host) - 1);
	return strcmp(host, l->hostname) == 0 && l->pid != 0 &&
	    kill((pid_t)l->pid, 0) != 0 && errno == ESRCH;
}

static void
future_add(struct future *fu, const struct kl_id *id, const struct kl_lock *l,
    int64_t recv)
{
	if (fu->n++ > 0)
		return;
	fu->first = *id;
	fu->ahead = (uint64_t)l->time - (uint64_t)recv;
	host_shown(l->hostname, fu->host);
}

/*
 * Judges one other lock that arrived at recv, against now (our lock's
 * arrival): KL_E_LOCKED if it counts and conflicts with the lock we hold
 * or want.
 */
static int
lock_judge(struct kl_repo *r, int exclusive, const struct kl_id *id,
    int64_t recv, int64_t now, struct future *fu, struct kl_error *err)
{
	char host[HOST_SHOWN_MAX + 1];
	struct kl_lock l;

	if (later_by_more(now, recv, KL_LOCK_STALE_S))
		return KL_OK;	/* stale, by the repository's clock */
	if (lock_read(r, id, &l) != KL_OK)
		return KL_OK;	/* unreadable: ignore */
	if (later_by_more(l.time, recv, KL_LOCK_FUTURE_S)) {
		future_add(fu, id, &l, recv);
		return KL_OK;
	}
	if (lock_process_gone(&l)) {
		lock_remove(r, id);	/* best effort: it is ignored anyway */
		return KL_OK;
	}
	if (!exclusive && !l.exclusive)
		return KL_OK;
	host_shown(l.hostname, host);
	return repo_err_file(err, KL_E_LOCKED, KL_FT_LOCK, id, "repository is "
	    "locked %sby %s pid %u (its lock arrived %lld s before ours)",
	    l.exclusive ? "exclusively " : "", host, l.pid,
	    (long long)(now > recv ? now - recv : 0));
}

static void
future_notice(struct kl_repo *r, const struct future *fu)
{
	char hex[KL_ID_HEX_LEN + 1];

	if (fu->n == 0)
		return;
	kl_id_hex(&fu->first, hex);
	repo_notice(r, "ignored %zu lock file%s dated after %s arrival: "
	    "locks/%s (host %s) claims a time %llu s after the repository "
	    "received it; a host's clock is wrong or the lock is forged "
	    "(docs/RUNBOOK.md, \"Locks\")", fu->n, fu->n == 1 ? "" : "s",
	    fu->n == 1 ? "its" : "their", hex, fu->host,
	    (unsigned long long)fu->ahead);
}

/* Our own lock's receive time: the repository's "now". */
static int
own_arrival(const struct kl_id *ids, const int64_t *recv, size_t n,
    const struct kl_id *mine, int64_t *now, struct kl_error *err)
{
	char hex[KL_ID_HEX_LEN + 1];
	size_t i;

	for (i = 0; i < n; i++)
		if (kl_id_eq(&ids[i], mine)) {
			*now = recv[i];
			return KL_OK;
		}
	kl_id_hex(mine, hex);
	return repo_err_file(err, KL_E_NOTFOUND, KL_FT_LOCK, mine, "our lock "
	    "locks/%s is missing from the repository's listing right after "
	    "it was written", hex);
}

/*
 * Other hosts would ignore our lock if our clock is ahead of the
 * repository's by more than they tolerate.  An exclusive lock that others
 * ignore protects nothing: refused.  A backup's shared lock still runs,
 * with a notice, rather than leave the host without backups.
 */
static int
own_clock(struct kl_repo *r, const struct kl_lock *mine, int64_t now,
    struct kl_error *err)
{
	uint64_t ahead;

	if (!later_by_more(mine->time, now, KL_LOCK_FUTURE_S))
		return KL_OK;
	ahead = (uint64_t)mine->time - (uint64_t)now;
	if (mine->exclusive)
		return kl_error_obj(err, KL_E_INVAL, KL_ABOUT_LOCK, NULL, NULL,
		    "this host's clock is %llu s ahead of the repository's: "
		    "other hosts would ignore its exclusive lock; set the "
		    "clock right (NTP) and try again",
		    (unsigned long long)ahead);
	repo_notice(r, "this host's clock is %llu s ahead of the "
	    "repository's: other hosts ignore its locks; set the clock right "
	    "(NTP)", (unsigned long long)ahead);
	return KL_OK;
}

/* Checks every other lock against the one we hold or want (mine). */
static int
lock_conflicts(struct kl_repo *r, const struct kl_lock *mine,
    const struct kl_id *id, struct kl_error *err)
{
	struct future fu;
	struct kl_id *ids = NULL;
	int64_t *recv = NULL, now = 0;
	size_t i, n;
	int rc;

	memset(&fu, 0, sizeof(fu));
	if ((rc = repo_file_times(r, KL_FT_LOCK, &ids, &recv, &n,
	    err)) != KL_OK ||
	    (rc = own_arrival(ids, recv, n, id, &now, err)) != KL_OK ||
	    (rc = own_clock(r, mine, now, err)) != KL_OK)
		goto out;
	for (i = 0; i < n && rc == KL_OK; i++)
		if (!kl_id_eq(&ids[i], id))
			rc = lock_judge(r, mine->exclusive, &ids[i], recv[i],
			    now, &fu, err);
	if (rc == KL_OK)
		future_notice(r, &fu);
out:
	free(ids);
	free(recv);
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
kl_repo_lock(struct kl_repo *r, int exclusive, struct kl_error *err)
{
	struct kl_lock mine;
	struct kl_id id;
	int rc;

	if ((rc = lock_write(r, exclusive, &mine, &id, err)) != KL_OK)
		return rc;
	if ((rc = lock_conflicts(r, &mine, &id, err)) != KL_OK) {
		lock_remove(r, &id);
		return rc;
	}
	r->lock_id = id;
	r->lock_exclusive = exclusive;
	r->lock_time = time(NULL);
	return KL_OK;
}

int
kl_repo_lock_refresh(struct kl_repo *r, struct kl_error *err)
{
	struct kl_id old = r->lock_id, id;
	struct kl_lock l;
	int rc;

	if (kl_id_is_zero(&old) ||
	    time(NULL) - r->lock_time < KL_LOCK_STALE_S / 6)
		return KL_OK;
	if ((rc = lock_write(r, r->lock_exclusive, &l, &id, err)) != KL_OK)
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

/*
 * kluis unlock: takes a shared lock to learn the repository's "now", then
 * removes every other lock that no client counts any more - stale (it
 * arrived more than KL_LOCK_STALE_S before), of a dead process of this
 * host, dated after its arrival, or unreadable - and its own.  Live locks
 * stay: *live counts them.
 */
int
kl_repo_locks_clean(struct kl_repo *r, size_t *removed, size_t *live,
    struct kl_error *err)
{
	struct kl_lock mine, l;
	struct kl_id id, *ids = NULL;
	int64_t *recv = NULL, now = 0;
	size_t i, n;
	int rc;

	*removed = *live = 0;
	if ((rc = lock_write(r, 0, &mine, &id, err)) != KL_OK)
		return rc;
	if ((rc = repo_file_times(r, KL_FT_LOCK, &ids, &recv, &n,
	    err)) != KL_OK ||
	    (rc = own_arrival(ids, recv, n, &id, &now, err)) != KL_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (kl_id_eq(&ids[i], &id))
			continue;
		if (later_by_more(now, recv[i], KL_LOCK_STALE_S) ||
		    lock_read(r, &ids[i], &l) != KL_OK ||
		    later_by_more(l.time, recv[i], KL_LOCK_FUTURE_S) ||
		    lock_process_gone(&l)) {
			lock_remove(r, &ids[i]);
			(*removed)++;
		} else {
			(*live)++;
		}
	}
out:
	lock_remove(r, &id);
	free(ids);
	free(recv);
	return rc;
}
