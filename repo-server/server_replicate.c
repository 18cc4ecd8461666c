/*
 * kluis-server replicate (issue #15, docs/RUNBOOK.md "Off-site copies"):
 * copies every file of a repository that the other side lacks, without a
 * key.  Each file is read here and hashed against its name before it is
 * sent (bit rot is reported, never propagated); the receiving server
 * hashes it again before it publishes it.  The other side is any
 * kluis-server reached through the transports (ssh://, or a local
 * directory served by this very program in the replica role over a pipe),
 * so a copy is written by the same code, under the same roles and with the
 * same audit log as any upload.
 *
 * Order: key files, packs, index files, snapshots, run records - each kind
 * complete before the next starts, the repository's own write order, so a
 * copy cut short never holds a snapshot whose data is missing.  (A pack
 * damaged here is not sent, and the snapshots that need it are sent all
 * the same: they are no less whole on the copy than here, and the night's
 * other backups must not wait for the damaged one.)  What the
 * other side holds is what its LIST says; a file that arrived complete is
 * never sent again, which is all that resuming after a kill or a dropped
 * connection needs.  Deletions are not replicated.  Each file keeps its
 * receive time here on the copy (PUT_DATED, the replica role's), so
 * point-in-time restores and retention read the same times on both.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kluis/audit.h"
#include "kluis/backend.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/grow.h"
#include "kluis/hash.h"
#include "kluis/json.h"
#include "kluis/map.h"
#include "kluis/store.h"
#include "kluis/transport.h"
#include "kluis/units.h"

#include "repl_state.h"
#include "server_cmds.h"

#define REPL_THREADS 2		/* reading and hashing overlap sending */
#define REPL_NAMES_MAX 100	/* damaged files named in the report */
#define REPL_SYNC_MARGIN_S 60	/* a receive time is set before the file
				 * is fsynced and linked into place */
#define CONFIG_MAX 4096

/* One file of the repository here. */
struct rfile {
	uint8_t t;			/* enum kl_ftype */
	char name[KL_ID_HEX_LEN + 1];
	uint64_t size;
	int64_t recv_s;			/* its receive time here */
	uint8_t there;			/* the copy holds the name */
	uint64_t there_size;		/* with this size */
};

/* The kinds copied, in the order they are sent. */
static const enum kl_ftype kinds[] = {
	KL_FT_KEY, KL_FT_DATA, KL_FT_INDEX, KL_FT_SNAPSHOT, KL_FT_RUN,
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct repl {
	const struct server_args *a;
	const char *repo, *to;
	struct kl_store *src;		/* owned by sbe */
	struct kl_backend sbe, dbe;
	int dst_open;
	int dst_missing;		/* --dry-run: no copy there yet */
	struct kl_map mine[KL_FT_LAST + 1];	/* here: id -> todo index */
	struct rfile *todo;		/* to send, or (repair) to re-hash */
	size_t ntodo, captodo;
	uint64_t present;		/* files the other side holds */
	int64_t newest_snap;		/* the copy's newest snapshot's receive
					 * time (under mu once sending) */
	uint64_t mismatched;		/* there with another size */

	/* the workers' share, under mu */
	pthread_mutex_t mu;
	size_t next, end;		/* todo[next, end): this phase's */
	int stop;			/* the connection is gone */
	int conn_err;			/* why */
	uint64_t sent, sent_bytes, damaged, repaired, failed;
	char names[REPL_NAMES_MAX][16 + KL_ID_HEX_LEN];
	size_t nnames;
	char first_err[KL_REPL_MSG_MAX + 1];

	struct kl_audit *audit;
	struct kl_audit_who who;
};

/* --- what each side holds --- */

struct list_arg {
	struct repl *rp;
	enum kl_ftype t;
	int there;		/* listing the other side */
};

static int
on_listed(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct list_arg *l = arg;
	struct repl *rp = l->rp;
	struct rfile *f;
	struct kl_id id;
	uint64_t i;
	int r;

	if (kl_id_parse(name, &id) != KL_OK)
		return KL_OK;	/* not a repository file: verify's business */
	if (l->there) {
		if (l->t == KL_FT_SNAPSHOT && mtime_s > rp->newest_snap)
			rp->newest_snap = mtime_s;
		/* only names we hold matter: the copy's listing costs us
		 * nothing beyond the size of our own repository */
		if (kl_map_get(&rp->mine[l->t], id.b, &i)) {
			rp->todo[i].there = 1;
			rp->todo[i].there_size = size;
		}
		return KL_OK;
	}
	if ((r = KL_GROW(rp->todo, rp->captodo, rp->ntodo + 1)) != KL_OK)
		return r;
	if ((r = kl_map_put(&rp->mine[l->t], id.b, rp->ntodo)) < 0)
		return r;
	if (r == 0)
		return KL_OK;	/* listed twice */
	f = &rp->todo[rp->ntodo++];
	memset(f, 0, sizeof(*f));
	f->t = (uint8_t)l->t;
	memcpy(f->name, name, KL_ID_HEX_LEN + 1);
	f->size = size;
	f->recv_s = mtime_s;
	return KL_OK;
}

/* Kind order, then receive time: snapshots reach the copy in the order
 * they reached us (the copy refuses to date one before its newest). */
static int
rfile_cmp(const void *a, const void *b)
{
	const struct rfile *x = a, *y = b;
	size_t i, kx = 0, ky = 0;

	for (i = 0; i < NKINDS; i++) {
		kx = kinds[i] == x->t ? i : kx;
		ky = kinds[i] == y->t ? i : ky;
	}
	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (x->recv_s != y->recv_s)
		return x->recv_s < y->recv_s ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Lists this side, then the other: todo keeps what must be sent, what the
 * copy holds with another size (whose side is damaged is found by
 * hashing ours), and with --repair everything the copy holds.
 */
static int
plan(struct repl *rp, char *err, size_t err_len)
{
	struct list_arg l = { rp, 0, 0 };
	size_t i, keep = 0;
	int r;

	for (i = 0; i < NKINDS; i++) {
		l.t = kinds[i];
		if ((r = rp->sbe.ops->list(rp->sbe.ctx, l.t, on_listed,
		    &l)) != KL_OK) {
			snprintf(err, err_len, "cannot list the %s files here: "
			    "%s", kl_ftype_name(l.t), kl_strerror(r));
			return r;
		}
	}
	l.there = 1;
	for (i = 0; i < NKINDS && !rp->dst_missing; i++) {
		l.t = kinds[i];
		if ((r = rp->dbe.ops->list(rp->dbe.ctx, l.t, on_listed,
		    &l)) != KL_OK) {
			snprintf(err, err_len, "cannot list the %s files of "
			    "the copy: %s", kl_ftype_name(l.t),
			    kl_strerror(r));
			return r;
		}
	}
	for (i = 0; i < rp->ntodo; i++) {
		struct rfile *f = &rp->todo[i];

		if (f->there) {
			rp->present++;
			if (f->there_size == f->size && !rp->a->repair)
				continue;
		}
		rp->todo[keep++] = *f;
	}
	rp->ntodo = keep;
	qsort(rp->todo, rp->ntodo, sizeof(rp->todo[0]), rfile_cmp);
	return KL_OK;
}

/* --- the workers --- */

/* f's path in the repository, "data/xx/<id>" or "<dir>/<id>"; a buffer
 * per thread, valid until the thread's next call. */
static const char *
fpath(const struct rfile *f)
{
	static _Thread_local char out[16 + KL_ID_HEX_LEN];

	if (f->t == KL_FT_DATA)
		snprintf(out, sizeof(out), "data/%.2s/%s", f->name, f->name);
	else
		snprintf(out, sizeof(out), "%s/%s", kl_ftype_dir(f->t),
		    f->name);
	return out;
}

static void
note_damaged(struct repl *rp, const struct rfile *f)
{
	if (rp->nnames < REPL_NAMES_MAX)
		snprintf(rp->names[rp->nnames++], sizeof(rp->names[0]), "%s",
		    fpath(f));
}

static void
note_error(struct repl *rp, const struct rfile *f, const char *what, int r)
{
	const char *why = rp->dbe.ops->why != NULL ?
	    rp->dbe.ops->why(rp->dbe.ctx) : NULL;

	if (rp->first_err[0] == '\0')
		snprintf(rp->first_err, sizeof(rp->first_err), "%s %s: %s",
		    what, fpath(f), why != NULL ? why : kl_strerror(r));
}

/* Reads file f here whole into *out; KL_OK, or the error. */
static int
read_here(struct repl *rp, const struct rfile *f, uint8_t **out,
    size_t *len)
{
	uint64_t size;
	size_t got;
	int fd, r;

	*out = NULL;
	if ((r = kl_store_open_file(rp->src, f->t, f->name, &fd, &size)) !=
	    KL_OK)
		return r;
	if (size > KL_FILE_MAX) {
		close(fd);
		return KL_E_LIMIT;
	}
	if ((*out = malloc(size > 0 ? (size_t)size : 1)) == NULL) {
		close(fd);
		return KL_E_NOMEM;
	}
	r = kl_read_full(fd, *out, (size_t)size, &got);
	close(fd);
	if (r == KL_OK && got != size)
		r = KL_E_CORRUPT;	/* shrank while we read it */
	if (r != KL_OK) {
		free(*out);
		*out = NULL;
		return r;
	}
	*len = (size_t)size;
	return KL_OK;
}

static int
hash_matches(const uint8_t *p, size_t len, const char *name)
{
	struct kl_id want, got;

	kl_hash(p, len, &got);
	return kl_id_parse(name, &want) == KL_OK && kl_id_eq(&want, &got);
}

static void
audit_file(struct repl *rp, const char *op, const struct rfile *f, int out)
{
	struct kl_audit_rec rec = { op, f->t, f->name, f->size, 0, out };

	if (rp->audit != NULL)
		(void)kl_audit_append(rp->audit, &rp->who, &rec);
}

/* --repair: the other side's copy of a file damaged here, put in place. */
static void
repair_one(struct repl *rp, const struct rfile *f)
{
	struct buf *b = NULL;
	int r;

	r = rp->dbe.ops->get(rp->dbe.ctx, f->t, f->name, 0, 0, KL_FILE_MAX,
	    &b);
	if (r == KL_OK && !hash_matches(buf_data(b), buf_size(b), f->name))
		r = KL_E_CORRUPT;	/* damaged there as well */
	pthread_mutex_lock(&rp->mu);	/* repairs are rare: one at a time */
	if (r == KL_OK)
		r = kl_store_repair(rp->src, f->t, f->name, buf_data(b),
		    buf_size(b));
	buf_free(b);
	if (r == KL_OK) {
		rp->repaired++;
		fprintf(stderr, "%s: replicate: repaired %s from the copy\n",
		    progname, fpath(f));
	} else {
		fprintf(stderr, "%s: replicate: cannot repair %s from the "
		    "copy: %s\n", progname, fpath(f), r == KL_E_CORRUPT ?
		    "its bytes there do not match its name either" :
		    kl_strerror(r));
		if (r == KL_E_CONN) {
			rp->stop = 1;
			rp->conn_err = r;
		}
	}
	audit_file(rp, "repair", f, r);
	pthread_mutex_unlock(&rp->mu);
}

/*
 * Sends f's bytes p, dated with its receive time here (PUT_DATED).  The
 * copy dates no snapshot before its newest one: a snapshot that arrived
 * here after the copy received a newer one is dated one second after
 * that newest (so `restore --at` that time still picks what the copy had,
 * and later snapshots keep their times).  A time the copy refuses anyway
 * (ahead of its clock) is sent undated.
 */
static int
send_one(struct repl *rp, const struct rfile *f, const uint8_t *p,
    size_t len)
{
	int64_t when = f->recv_s;
	int r;

	if (rp->dbe.ops->put_dated == NULL || f->recv_s <= 0)
		return rp->dbe.ops->put(rp->dbe.ctx, f->t, f->name, p, len);
	if (f->t == KL_FT_SNAPSHOT) {
		pthread_mutex_lock(&rp->mu);
		if (when < rp->newest_snap) {
			/* a second later: `restore --at` the newest's
			 * time still picks what the copy had */
			when = rp->newest_snap + 1;
			fprintf(stderr, "%s: replicate: %s arrived here after "
			    "a newer snapshot reached the copy: it is dated "
			    "there one second after that one\n", progname,
			    fpath(f));
		}
		pthread_mutex_unlock(&rp->mu);
	}
	r = rp->dbe.ops->put_dated(rp->dbe.ctx, f->t, f->name, p, len, when);
	if (r == KL_OK && f->t == KL_FT_SNAPSHOT) {
		pthread_mutex_lock(&rp->mu);
		if (when > rp->newest_snap)
			rp->newest_snap = when;
		pthread_mutex_unlock(&rp->mu);
	}
	if (r != KL_E_INVAL)
		return r;
	pthread_mutex_lock(&rp->mu);
	fprintf(stderr, "%s: replicate: the copy does not take the receive "
	    "time of %s here; it gets its own\n", progname, fpath(f));
	pthread_mutex_unlock(&rp->mu);
	return rp->dbe.ops->put(rp->dbe.ctx, f->t, f->name, p, len);
}

/* One file: read and hash here, then send it (or repair it). */
static void
one_file(struct repl *rp, const struct rfile *f)
{
	uint8_t *p = NULL;
	size_t len = 0;
	int r;

	if ((r = read_here(rp, f, &p, &len)) == KL_E_NOTFOUND) {
		return;		/* removed here since the listing: not sent */
	} else if (r != KL_OK) {
		pthread_mutex_lock(&rp->mu);
		rp->failed++;
		note_error(rp, f, "read", r);
		fprintf(stderr, "%s: replicate: cannot read %s: %s\n",
		    progname, fpath(f), kl_strerror(r));
		pthread_mutex_unlock(&rp->mu);
		return;
	}
	if (!hash_matches(p, len, f->name)) {
		free(p);
		pthread_mutex_lock(&rp->mu);
		rp->damaged++;
		note_damaged(rp, f);
		fprintf(stderr, "%s: replicate: %s is damaged here (its bytes "
		    "do not match its name): not sent%s\n", progname,
		    fpath(f), !f->there ? "; the copy does not hold it "
		    "either" : rp->a->repair ? "" : "; --repair can fetch the "
		    "copy's");
		pthread_mutex_unlock(&rp->mu);
		if (f->there && rp->a->repair && !rp->a->dry_run)
			repair_one(rp, f);
		return;
	}
	if (f->there) {		/* sound here: a size mismatch is the copy's */
		free(p);
		if (f->there_size != f->size) {
			pthread_mutex_lock(&rp->mu);
			rp->mismatched++;
			fprintf(stderr, "%s: replicate: %s has %" PRIu64
			    " bytes on the copy and %" PRIu64 " here, where it is "
			    "sound: the copy's is damaged (run kluis-server "
			    "verify there)\n", progname, fpath(f),
			    f->there_size, f->size);
			pthread_mutex_unlock(&rp->mu);
		}
		return;
	}
	if (rp->a->dry_run) {
		free(p);
		pthread_mutex_lock(&rp->mu);
		rp->sent++;
		rp->sent_bytes += len;
		pthread_mutex_unlock(&rp->mu);
		return;
	}
	r = send_one(rp, f, p, len);
	free(p);
	pthread_mutex_lock(&rp->mu);
	/* KL_E_EXISTS: it arrived meanwhile */
	if (r == KL_OK || r == KL_E_EXISTS) {
		rp->sent += r == KL_OK;
		rp->sent_bytes += r == KL_OK ? len : 0;
	} else {
		note_error(rp, f, "send", r);
		if (r == KL_E_CONN) {
			rp->stop = 1;
			rp->conn_err = r;
		} else {
			const char *why = rp->dbe.ops->why != NULL ?
			    rp->dbe.ops->why(rp->dbe.ctx) : NULL;

			rp->failed++;
			fprintf(stderr, "%s: replicate: the copy refused %s: "
			    "%s\n", progname, fpath(f), why != NULL ? why :
			    kl_strerror(r));
		}
	}
	pthread_mutex_unlock(&rp->mu);
}

static void *
worker(void *arg)
{
	struct repl *rp = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&rp->mu);
		if (rp->stop || rp->next >= rp->end) {
			pthread_mutex_unlock(&rp->mu);
			return NULL;
		}
		i = rp->next++;
		pthread_mutex_unlock(&rp->mu);
		one_file(rp, &rp->todo[i]);
	}
}

/* Runs the workers over todo[begin, end). */
static int
phase(struct repl *rp, size_t begin, size_t end)
{
	pthread_t th[REPL_THREADS];
	size_t n, i, threads;

	rp->next = begin;
	rp->end = end;
	/* snapshots one at a time, in receive order: each is dated no
	 * earlier than the one before it on the copy */
	threads = begin < end && rp->todo[begin].t == KL_FT_SNAPSHOT ? 1 :
	    REPL_THREADS;
	for (n = 0; n < threads && n < end - begin; n++)
		if (pthread_create(&th[n], NULL, worker, rp) != 0)
			break;
	if (n == 0 && end > begin)
		worker(rp);	/* no thread to be had: do it here */
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return rp->stop ? rp->conn_err : KL_OK;
}

static int
send_all(struct repl *rp)
{
	size_t k, i = 0, begin;
	int r = KL_OK;

	/* todo is in kind order (plan sorted it) */
	for (k = 0; k < NKINDS && r == KL_OK; k++) {
		uint64_t failed = rp->failed;

		for (begin = i; i < rp->ntodo && rp->todo[i].t == kinds[k];
		    i++)
			;
		r = phase(rp, begin, i);
		/* a file that could not be read or was refused stops the
		 * run before the kinds that may need it (a pack damaged
		 * here does not: see the top of this file) */
		if (r == KL_OK && rp->failed > failed && i < rp->ntodo) {
			fprintf(stderr, "%s: replicate: %" PRIu64 " %s file%s "
			    "not sent: stopping before the files that may "
			    "need %s\n", progname, rp->failed - failed,
			    kl_ftype_name(kinds[k]), rp->failed - failed == 1 ?
			    "" : "s", rp->failed - failed == 1 ? "it" : "them");
			break;
		}
	}
	return r;
}

/* --- the other side --- */

/* out = 'p' with every ' as '\'' (for /bin/sh). */
static int
sh_quote(const char *p, char *out, size_t len)
{
	size_t n = 0;

	if (len < 3)
		return KL_E_LIMIT;
	out[n++] = '\'';
	for (; *p != '\0'; p++) {
		if (n + 6 >= len)
			return KL_E_LIMIT;
		if (*p == '\'') {
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			out[n++] = *p;
		}
	}
	out[n++] = '\'';
	out[n] = '\0';
	return KL_OK;
}

static int
read_config(const char *repo, struct buf **out)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/config", repo) >=
	    (int)sizeof(path))
		return KL_E_LIMIT;
	return kl_file_read_all(path, CONFIG_MAX, out);
}

/*
 * A local target is reached as pipe:DIR; the transport's messages name it
 * so.  Say it as the operator wrote it: the first "pipe:DIR" in err
 * becomes DIR.
 */
static void
unpipe(char *err, const char *target, const char *to)
{
	char *p;

	if (strcmp(target, to) == 0 || (p = strstr(err, target)) == NULL)
		return;
	memmove(p, p + 5, strlen(p + 5) + 1);	/* drop "pipe:" */
}

static int
has_config(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	return snprintf(path, sizeof(path), "%s/config", dir) <
	    (int)sizeof(path) && lstat(path, &st) == 0;
}

/*
 * Opens the other side, creating the copy on the first run; a copy of
 * another repository is refused.  url is ssh://, pipe:, or a local
 * directory (served by this program in the replica role over a pipe).
 */
static int
open_target(struct repl *rp, const struct buf *cfg, char *err,
    size_t err_len)
{
	static char self_cmd[PATH_MAX * 4 + 32];
	char self[PATH_MAX], target[PATH_MAX + 8];
	struct kl_transport_opts to = { rp->a->ssh_known_hosts,
	    rp->a->ssh_key, rp->a->server_command, rp->a->ssh_command };
	struct kl_url u;
	struct buf *there = NULL;
	ssize_t n;
	int r, role;

	if ((r = kl_url_parse(rp->to, &u)) != KL_OK) {
		snprintf(err, err_len, "--to is not a valid URL");
		return r;
	}
	if (u.kind == KL_URL_LOCAL) {
		struct stat a, b;

		if (stat(rp->repo, &a) == 0 && stat(rp->to, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			snprintf(err, err_len, "--to names this repository "
			    "itself: a copy must be somewhere else");
			return KL_E_INVAL;
		}
		/* the same server code as over ssh: pipe:DIR, replica role */
		if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <
		    0) {
			snprintf(err, err_len, "cannot find this program: %s",
			    strerror(errno));
			return KL_E_IO;
		}
		self[n] = '\0';
		if (sh_quote(self, self_cmd, sizeof(self_cmd) - 16) != KL_OK)
			return KL_E_LIMIT;
		strcat(self_cmd, " --replica");
		to.server_command = self_cmd;
		if (snprintf(target, sizeof(target), "pipe:%s", rp->to) >=
		    (int)sizeof(target))
			return KL_E_LIMIT;
	} else {
		snprintf(target, sizeof(target), "%s", rp->to);
	}
	kl_transport_configure(&to);
	/* a local directory without config: create at once (the server
	 * would only say "not found" first) */
	if (u.kind == KL_URL_LOCAL && !has_config(rp->to))
		r = KL_E_NOTFOUND;
	else
		r = kl_transport_open(target, NULL, 0, err, err_len, &rp->dbe);
	if (r == KL_E_NOTFOUND) {	/* the first run: make the copy */
		if (rp->a->dry_run) {	/* everything would be sent */
			fprintf(stderr, "%s: replicate: the copy does not "
			    "exist yet; a run without --dry-run creates it\n",
			    progname);
			rp->dst_missing = 1;
			return KL_OK;
		}
		r = kl_transport_open(target, buf_data(cfg), buf_size(cfg),
		    err, err_len, &rp->dbe);
		if (r == KL_OK)
			fprintf(stderr, "%s: replicate: created the copy at "
			    "%s\n", progname, rp->to);
		else if (r == KL_E_PERM && strstr(err, "may not create") !=
		    NULL)	/* an append-only or read-only key */
			snprintf(err, err_len, "the other side does not let "
			    "this key create the copy, so it is not pinned to "
			    "the replica role: use the forced command "
			    "`kluis-server serve --replica --repo DIR` "
			    "(docs/RUNBOOK.md §12.1); nothing was sent");
	}
	if (r != KL_OK) {
		unpipe(err, target, rp->to);
		return r;
	}
	rp->dst_open = 1;
	/*
	 * Only the replica role keeps the copy safe from the primary (it
	 * adds, never removes) and keeps receive times: a key the other side
	 * serves in any other role is a set-up mistake, said before anything
	 * is sent.  (A copy this run just created in the full role stays, as
	 * an empty repository.)
	 */
	if ((role = kl_transport_role(&rp->dbe)) != KL_ROLE_REPLICA) {
		snprintf(err, err_len, "the other side serves this key in the "
		    "%s role, not the replica role: pin it there with the forced "
		    "command `kluis-server serve --replica --repo DIR` "
		    "(docs/RUNBOOK.md §12.1); nothing was sent",
		    role == KL_ROLE_FULL ? "full" : role == KL_ROLE_APPEND ?
		    "append-only" : role == KL_ROLE_READ ? "read-only" :
		    "unknown");
		return KL_E_PERM;
	}
	r = rp->dbe.ops->get(rp->dbe.ctx, KL_FT_CONFIG, "config", 0, 0,
	    CONFIG_MAX, &there);
	if (r == KL_OK && (buf_size(there) != buf_size(cfg) ||
	    memcmp(buf_data(there), buf_data(cfg), buf_size(cfg)) != 0)) {
		snprintf(err, err_len, "the copy at the other side holds "
		    "another repository (its config differs from this one's); "
		    "nothing was sent");
		r = KL_E_EXISTS;
	} else if (r != KL_OK) {
		snprintf(err, err_len, "cannot read the copy's config: %s",
		    kl_strerror(r));
	}
	buf_free(there);
	return r;
}

/* --- the command --- */

static void
report(struct repl *rp, int r, const char *err, double secs)
{
	struct kl_json j;
	size_t i;

	if (rp->a->json) {
		kl_json_init(&j, stdout);
		kl_json_obj(&j, NULL);
		kl_json_text(&j, "repository", rp->repo);
		kl_json_text(&j, "target", rp->to);
		kl_json_bool(&j, "dry_run", rp->a->dry_run);
		kl_json_bool(&j, "complete", r == KL_OK);
		kl_json_u64(&j, "files_sent", rp->sent);
		kl_json_u64(&j, "bytes_sent", rp->sent_bytes);
		kl_json_u64(&j, "files_there", rp->present);
		kl_json_u64(&j, "damaged", rp->damaged);
		kl_json_u64(&j, "repaired", rp->repaired);
		kl_json_u64(&j, "failed", rp->failed);
		kl_json_u64(&j, "size_mismatches", rp->mismatched);
		kl_json_arr(&j, "damaged_files");
		for (i = 0; i < rp->nnames; i++)
			kl_json_text(&j, NULL, rp->names[i]);
		kl_json_arr_end(&j);
		kl_json_real(&j, "seconds", secs, 3);
		kl_json_text(&j, "error", r != KL_OK ? err : NULL);
		kl_json_obj_end(&j);
		putchar('\n');
		return;
	}
	printf("%s %" PRIu64 " files (%" PRIu64 " bytes) to %s; %" PRIu64
	    " were there already", rp->a->dry_run ? "would send" : "sent",
	    rp->sent, rp->sent_bytes, rp->to, rp->present);
	if (rp->damaged)
		printf("; %" PRIu64 " damaged here, not sent", rp->damaged);
	if (rp->repaired)
		printf("; %" PRIu64 " repaired from the copy", rp->repaired);
	if (rp->failed)
		printf("; %" PRIu64 " failed", rp->failed);
	printf(" (%.1f s)\n", secs);
}

static int
repl_args(const struct server_args *a)
{
	if (server_repo_required(a) != 0)
		return -1;
	if (a->to == NULL || a->to[0] == '\0') {
		fprintf(stderr, "%s: replicate: --to URL is required (see %s "
		    "replicate --help)\n", progname, progname);
		return -1;
	}
	if (strlen(a->to) > KL_REPL_URL_MAX) {
		fprintf(stderr, "%s: replicate: --to is too long\n", progname);
		return -1;
	}
	return 0;
}

static double
mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What this run leaves for status (DIR/replication/). */
static void
state_save(struct repl *rp, int64_t started, int r, const char *err)
{
	struct kl_repl_state st, old;
	char name[17];

	kl_repl_state_name(rp->to, name);
	memset(&st, 0, sizeof(st));
	if (kl_repl_state_read(rp->repo, name, &old) == KL_OK &&
	    strcmp(old.url, rp->to) == 0)
		st.synced_s = old.synced_s;
	snprintf(st.url, sizeof(st.url), "%s", rp->to);
	st.started_s = started;
	st.finished_s = (int64_t)time(NULL);
	st.outcome = r;
	snprintf(st.message, sizeof(st.message), "%s", r != KL_OK ? err : "");
	if (r == KL_OK)
		st.synced_s = started - REPL_SYNC_MARGIN_S;
	st.files_sent = rp->sent;
	st.bytes_sent = rp->sent_bytes;
	st.damaged = rp->damaged;
	st.repaired = rp->repaired;
	if (kl_repl_state_write(rp->repo, &st) != KL_OK)
		fprintf(stderr, "%s: replicate: cannot record this run in "
		    "%s/%s/ (status will not see it)\n", progname, rp->repo,
		    KL_REPL_DIR);
}

int
cmd_replicate(const struct server_args *a)
{
	struct repl rp;
	struct buf *cfg = NULL;
	char err[KL_TRANSPORT_ERR_MAX] = "";
	int64_t started = (int64_t)time(NULL);
	double t0 = mono_now();
	size_t i;
	int r, rc;

	if (repl_args(a) != 0)
		return EXIT_USAGE;
	memset(&rp, 0, sizeof(rp));
	rp.a = a;
	rp.repo = a->repo;
	rp.to = a->to;
	for (i = 0; i <= KL_FT_LAST; i++)
		kl_map_init(&rp.mine[i], KL_ID_LEN);
	pthread_mutex_init(&rp.mu, NULL);
	if ((rc = server_store_open("replicate", a->repo, a->repair &&
	    !a->dry_run ? KL_ROLE_FULL : KL_ROLE_READ, &rp.src)) !=
	    EXIT_CLEAN)
		return rc;
	kl_store_backend(rp.src, &rp.sbe);
	/* A server that goes away must not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	server_who_fill(&rp.who, a->to);
	if (!a->dry_run && (r = kl_audit_open(a->repo, &rp.audit)) != KL_OK) {
		fprintf(stderr, "%s: replicate: cannot open %s/%s: %s%s\n",
		    progname, a->repo, KL_AUDIT_FILE, kl_strerror(r),
		    a->repair ? "; no repair without the audit log" : "");
		if (a->repair) {
			rp.sbe.ops->close(rp.sbe.ctx);
			return EXIT_FINDINGS;
		}
	}
	if ((r = read_config(a->repo, &cfg)) != KL_OK)
		snprintf(err, sizeof(err), "cannot read this repository's "
		    "config: %s", kl_strerror(r));
	else if ((r = open_target(&rp, cfg, err, sizeof(err))) == KL_OK &&
	    (r = plan(&rp, err, sizeof(err))) == KL_OK)
		r = send_all(&rp);
	if (r == KL_E_CONN && rp.first_err[0] != '\0')
		snprintf(err, sizeof(err), "the connection to the copy broke "
		    "(%s); a new run sends what is missing", rp.first_err);
	if (r == KL_OK && (rp.failed || rp.damaged > rp.repaired ||
	    rp.mismatched)) {
		r = KL_E_CORRUPT;
		snprintf(err, sizeof(err), "%s", rp.failed ? rp.first_err :
		    rp.mismatched ? "files on the copy differ in size from "
		    "this repository's" : "damaged files here were not sent");
	}
	/* the transport's messages name the target already */
	if (r != KL_OK && r != KL_E_CORRUPT && err[0] != '\0')
		fprintf(stderr, "%s: replicate: %s\n", progname, err);
	else if (r != KL_OK && r != KL_E_CORRUPT)
		fprintf(stderr, "%s: replicate: %s: %s\n", progname, a->to,
		    kl_strerror(r));
	report(&rp, r, err, mono_now() - t0);
	if (!a->dry_run) {
		state_save(&rp, started, r, err);
		if (rp.audit != NULL) {
			struct kl_audit_rec rec = { "replicate", 0, NULL,
			    rp.sent_bytes, rp.sent, r };

			(void)kl_audit_append(rp.audit, &rp.who, &rec);
		}
	}
	if (rp.dst_open)
		rp.dbe.ops->close(rp.dbe.ctx);
	rp.sbe.ops->close(rp.sbe.ctx);
	kl_audit_close(rp.audit);
	buf_free(cfg);
	for (i = 0; i <= KL_FT_LAST; i++)
		kl_map_clear(&rp.mine[i]);
	free(rp.todo);
	pthread_mutex_destroy(&rp.mu);
	return r == KL_OK ? EXIT_CLEAN : EXIT_FINDINGS;
}
