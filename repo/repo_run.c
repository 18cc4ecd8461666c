/*
 * Run records (FORMAT.md §17, issue #15): a backup, check or drill of any
 * client, sealed into runs/ the way a snapshot is (a fresh session key in
 * an envelope to the repository's public key, §5, §10), and their import
 * into the catalog's run history for reports.
 *
 * What a backup-only host writes here is read by the operator's report, so
 * the reading side is bounded: of the records this catalog has not read
 * yet (the catalog's run_file), at most max - the newest by receive time -
 * are read per import; each file is read once ever, and each is at most
 * RUN_FILE_MAX bytes.  A flood of records is read over several imports,
 * never pushing older unread records out for good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/keys.h"
#include "kluis/layout.h"
#include "kluis/store.h"
#include "repo_internal.h"

/* FORMAT.md §17: the file's magic and its AEAD object type (§4). */
#define RUN_MAGIC "KLUISRUN"
#define RUN_OBJ 21
#define RUN_FILE_MAX (KL_PACK_PREAMBLE_LEN + KL_AEAD_OVERHEAD + \
	KL_RUNREC_PT_MAX)
#define PROGRAM "kluis " KLUIS_VERSION	/* §17: the writer of a record */

_Static_assert(RUN_OBJ != KL_OBJ_KEYFILE && RUN_OBJ > KL_OBJ_LOCK,
    "the run record's AEAD type is its own");

int
kl_repo_run_write(struct kl_repo *r, const struct kl_runrec *rec,
    struct kl_id *id, struct kl_error *err)
{
	uint8_t env[KL_ENVELOPE_LEN];
	uint8_t *key = NULL;
	struct kl_id got;
	struct buf *pt;
	int rc;

	if ((pt = buf_new(KL_RUNREC_PT_MAX)) == NULL)
		return kl_error_set(err, KL_E_NOMEM, "out of memory");
	if ((rc = kl_runrec_encode(rec, pt)) != KL_OK) {
		kl_error_obj(err, rc, KL_ABOUT_RUN, NULL, NULL, "run record: "
		    "%s", kl_strerror(rc));
		goto out;
	}
	/* one session per record, as for a snapshot: only box_sk opens it */
	if ((rc = kl_session_key_new(&key)) != KL_OK)
		goto out;
	kl_envelope_seal(r->keys, key, env);
	rc = repo_sealed_put(r, KL_FT_RUN, RUN_MAGIC, env, key, RUN_OBJ, pt,
	    &got, err);
	if (rc == KL_OK && id != NULL)
		*id = got;
out:
	kl_session_key_free(key);
	buf_free(pt);
	return rc;
}

int
kl_repo_run_read(struct kl_repo *r, const struct kl_id *id,
    struct kl_runrec *out, struct kl_error *err)
{
	struct buf *pt = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (r->keys->kind != KL_KEY_FULL)
		return kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "this is a backup-only key: it cannot read run records; "
		    "use a full key");
	rc = repo_sealed_get(r, KL_FT_RUN, id, RUN_FILE_MAX, RUN_MAGIC, NULL,
	    RUN_OBJ, &pt, err);
	if (rc == KL_OK)
		rc = kl_runrec_decode(buf_data(pt), buf_size(pt), out);
	if (rc != KL_OK && rc != KL_E_NOTFOUND && rc != KL_E_NOMEM &&
	    rc != KL_E_CONN)
		repo_err_file(err, rc, KL_FT_RUN, id, "run record: %s",
		    kl_strerror(rc));
	buf_free(pt);
	return rc;
}

/* ---- conversions between the history and records ---- */

const char *
kl_repo_run_program(void)
{
	return PROGRAM;
}

/* s into out[cap], cut at a UTF-8 boundary if it is longer; 0 if s is
 * NULL. */
static int
cut_utf8(const char *s, char *out, size_t cap)
{
	size_t n;

	if (s == NULL)
		return 0;
	if ((n = strlen(s)) > cap - 1) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

static uint64_t
count_cap(uint64_t n)
{
	return n > KL_RUNREC_COUNT_MAX ? KL_RUNREC_COUNT_MAX : n;
}

int
kl_repo_runrec_from_run(const struct kl_cat_run *c,
    struct kl_repo_runrec_text *txt, struct kl_runrec *out)
{
	const struct kl_run_value *e;

	memset(out, 0, sizeof(*out));
	memset(txt, 0, sizeof(*txt));
	if (kl_runrec_id_is_zero(c->run_id) || c->host == NULL ||
	    *c->host == '\0' || strlen(c->host) > KL_NAME_MAX ||
	    (out->kind = (uint8_t)kl_runrec_kind_parse(c->kind)) == 0)
		return KL_E_INVAL;
	memcpy(out->run_id, c->run_id, KL_RUNREC_ID_LEN);
	out->exit_code = c->exit_code < 0 ||
	    (unsigned)c->exit_code > KL_RUNREC_EXIT_MAX ? KL_RUNREC_EXIT_MAX :
	    (uint32_t)c->exit_code;
	out->start_s = c->start_s < 0 ? 0 : c->start_s;
	out->end_s = c->end_s < out->start_s ? out->start_s : c->end_s;
	out->files = count_cap(c->files);
	out->bytes = count_cap(c->bytes);
	out->bytes_added = count_cap(c->bytes_added);
	out->errors = count_cap(c->errors);
	out->snapshot = c->snapshot;
	cut_utf8(c->host, txt->host, sizeof(txt->host));
	cut_utf8(PROGRAM, txt->program, sizeof(txt->program));
	e = kl_run_value_get(c->v, c->nv, "error");
	if (e != NULL && e->type == KL_RUN_TEXT)
		cut_utf8(e->s, txt->detail, sizeof(txt->detail));
	out->host = txt->host;
	out->program = txt->program;
	out->detail = txt->detail;
	return KL_OK;
}

void
kl_repo_run_from_runrec(const struct kl_runrec *rec,
    struct kl_run_value *v, struct kl_cat_run *out)
{
	memset(out, 0, sizeof(*out));
	memset(v, 0, 2 * sizeof(*v));
	out->kind = kl_runrec_kind_name(rec->kind);
	out->host = rec->host;
	out->start_s = rec->start_s;
	out->end_s = rec->end_s;
	out->exit_code = (int)rec->exit_code;
	out->snapshot = rec->snapshot;
	out->files = rec->files;
	out->bytes = rec->bytes;
	out->bytes_added = rec->bytes_added;
	out->errors = rec->errors;
	memcpy(out->run_id, rec->run_id, KL_CAT_RUN_ID_LEN);
	out->recv_s = KL_CAT_TIME_NONE;
	out->v = v;
	if (rec->detail != NULL && *rec->detail != '\0') {
		v[out->nv].key = "error";
		v[out->nv].type = KL_RUN_TEXT;
		v[out->nv++].s = rec->detail;
	}
	if (rec->program != NULL && *rec->program != '\0') {
		v[out->nv].key = "program";
		v[out->nv].type = KL_RUN_TEXT;
		v[out->nv++].s = rec->program;
	}
}

/* ---- the newest records of a listing, in bounded memory ---- */

struct run_ent {
	struct kl_id id;
	int64_t recv_s;
};

/*
 * A min-heap of the max newest entries seen that this catalog has not read
 * (the oldest at the top); those it has read are counted as they pass.
 */
struct newest {
	struct run_ent *h;
	size_t n, max;
	struct kl_repo *r;
	struct kl_cat *c;
	struct kl_repo_runs_stats *st;
	int64_t bad_recv;	/* receive time of st->bad_name */
	int cat_failed;		/* the catalog stopped the listing */
	struct kl_error *err;
};

static int
ent_older(const struct run_ent *a, const struct run_ent *b)
{
	if (a->recv_s != b->recv_s)
		return a->recv_s < b->recv_s;
	return memcmp(a->id.b, b->id.b, KL_ID_LEN) < 0;
}

static void
heap_swap(struct run_ent *a, struct run_ent *b)
{
	struct run_ent t = *a;

	*a = *b;
	*b = t;
}

static void
heap_up(struct newest *w, size_t i)
{
	while (i > 0 && ent_older(&w->h[i], &w->h[(i - 1) / 2])) {
		heap_swap(&w->h[i], &w->h[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct newest *w, size_t i)
{
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < w->n && ent_older(&w->h[l], &w->h[m]))
			m = l;
		if (l + 1 < w->n && ent_older(&w->h[l + 1], &w->h[m]))
			m = l + 1;
		if (m == i)
			return;
		heap_swap(&w->h[i], &w->h[m]);
		i = m;
	}
}

static void bad_note(struct newest *w, const struct run_ent *e,
    const struct kl_error *why);

static int
newest_add(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct newest *w = arg;
	struct run_ent e;
	int rc, ok;

	(void)size;
	if (kl_id_parse(name, &e.id) != KL_OK)
		return KL_OK;	/* not a record's name: as every listing */
	e.recv_s = mtime_s;
	w->st->listed++;
	if ((rc = kl_cat_run_file_get(w->c, &e.id, &ok, w->err)) == KL_OK) {
		w->st->looked++;	/* read before: not again */
		if (!ok)
			bad_note(w, &e, NULL);
		return KL_OK;
	}
	if (rc != KL_E_NOTFOUND) {
		w->cat_failed = 1;
		return rc;
	}
	if (w->n < w->max) {
		w->h[w->n++] = e;
		heap_up(w, w->n - 1);
	} else if (w->max > 0 && ent_older(&w->h[0], &e)) {
		w->h[0] = e;
		heap_down(w, 0);
	}
	return KL_OK;
}

static int
ent_newer_first(const void *a, const void *b)
{
	return ent_older(b, a) ? -1 : ent_older(a, b);
}

/* ---- import ---- */

/* A record that does not read, now (why) or before (why NULL): counted
 * every time; the newest by receive time is named. */
static void
bad_note(struct newest *w, const struct run_ent *e,
    const struct kl_error *why)
{
	char fn[REPO_FNAME_MAX];

	repo_fname(KL_FT_RUN, &e->id, fn);
	if (w->st->bad++ == 0 || e->recv_s > w->bad_recv) {
		snprintf(w->st->bad_name, sizeof(w->st->bad_name), "%s", fn);
		w->bad_recv = e->recv_s;
	}
	if (why != NULL)
		repo_notice(w->r, "run record %s skipped: %s", fn,
		    kl_error_msg(why, why->code));
}

/*
 * One record not read before: imported, noted as bad for good (damaged,
 * forged, of an unknown version), skipped if it vanished, or - any other
 * error of that one file - counted as bad for now and read again by the
 * next import.  A lost connection, no memory and the catalog's errors stop
 * the import.
 */
static int
import_one(struct newest *w, const struct run_ent *e, struct kl_error *err)
{
	struct kl_run_value v[2];
	struct kl_runrec rec;
	struct kl_cat_run run;
	struct kl_error e2;
	int rc;

	kl_error_clear(&e2);
	rc = kl_repo_run_read(w->r, &e->id, &rec, &e2);
	if (rc == KL_E_NOTFOUND) {
		w->st->looked++;	/* removed since the listing */
		return KL_OK;
	}
	if (rc == KL_E_CONN || rc == KL_E_NOMEM) {
		if (err != NULL)
			*err = e2;
		return rc;
	}
	if (rc != KL_OK) {
		bad_note(w, e, &e2);
		if (rc != KL_E_CORRUPT && rc != KL_E_UNSUPPORTED &&
		    rc != KL_E_LIMIT)
			return KL_OK;	/* not noted: read again next time */
		w->st->looked++;
		rc = kl_cat_run_import(w->c, &e->id, e->recv_s, NULL, err);
		return rc < 0 ? rc : KL_OK;
	}
	kl_repo_run_from_runrec(&rec, v, &run);
	rc = kl_cat_run_import(w->c, &e->id, e->recv_s, &run, err);
	kl_runrec_clear(&rec);
	if (rc < 0)
		return rc;
	w->st->looked++;
	w->st->imported += (uint64_t)rc;
	return KL_OK;
}

int
kl_repo_runs_import(struct kl_repo *r, size_t max,
    struct kl_repo_runs_stats *st, struct kl_error *err)
{
	struct kl_repo_runs_stats local;
	struct newest w;
	size_t i;
	int rc;

	if (st == NULL)
		st = &local;
	memset(st, 0, sizeof(*st));
	memset(&w, 0, sizeof(w));
	if (r->keys->kind != KL_KEY_FULL)
		return kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "this is a backup-only key: it cannot read run records");
	if ((rc = repo_cat(r, &w.c, err)) != KL_OK)
		return rc;
	w.r = r;
	w.st = st;
	w.max = max;
	w.err = err;
	if (max > 0 && (w.h = calloc(max, sizeof(*w.h))) == NULL)
		return kl_error_set(err, KL_E_NOMEM, "out of memory");
	if ((rc = r->be.ops->list(r->be.ctx, KL_FT_RUN, newest_add, &w)) !=
	    KL_OK) {
		if (!w.cat_failed)	/* the catalog set err itself */
			kl_error_obj(err, rc, KL_ABOUT_RUN, NULL, "runs",
			    "listing runs: %s", kl_strerror(rc));
		goto out;
	}
	if (w.n > 1)
		qsort(w.h, w.n, sizeof(*w.h), ent_newer_first);
	for (i = 0; i < w.n && rc == KL_OK; i++)
		rc = import_one(&w, &w.h[i], err);
out:
	free(w.h);
	return rc;
}

/* ---- upload ---- */

struct pending {
	struct kl_runrec rec[KL_REPO_RUNS_UPLOAD_MAX];
	struct kl_repo_runrec_text txt[KL_REPO_RUNS_UPLOAD_MAX];
	int64_t no[KL_REPO_RUNS_UPLOAD_MAX];
	size_t n;
	/* runs no record can hold (a doctored catalog): marked, never
	 * uploaded, so they cannot block the queue */
	int64_t skip[KL_REPO_RUNS_UPLOAD_MAX];
	size_t nskip;
};

static int
pending_cb(void *arg, const struct kl_cat_run *run)
{
	struct pending *p = arg;
	size_t i = p->n;

	if (i + p->nskip >= KL_REPO_RUNS_UPLOAD_MAX)
		return 1;
	/* the catalog's strings live only for this call: copied */
	if (kl_repo_runrec_from_run(run, &p->txt[i], &p->rec[i]) != KL_OK) {
		p->skip[p->nskip++] = run->no;
		return 0;
	}
	p->no[i] = run->no;
	p->n++;
	return 0;
}

int
kl_repo_runs_upload(struct kl_repo *r, size_t max, size_t *n,
    struct kl_error *err)
{
	struct pending *p;
	struct kl_cat *c;
	size_t i;
	int rc;

	if (n != NULL)
		*n = 0;
	if (kl_repo_role(r) == KL_ROLE_READ)
		return kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "the repository server gives this key read-only access: "
		    "it cannot store run records");
	if ((rc = repo_cat(r, &c, err)) != KL_OK)
		return rc;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return kl_error_set(err, KL_E_NOMEM, "out of memory");
	if (max > KL_REPO_RUNS_UPLOAD_MAX)
		max = KL_REPO_RUNS_UPLOAD_MAX;
	if ((rc = kl_cat_run_pending(c, max, pending_cb, p, err)) < 0)
		goto out;
	rc = KL_OK;
	for (i = 0; i < p->nskip && rc == KL_OK; i++)
		rc = kl_cat_run_uploaded(c, p->skip[i], err);
	for (i = 0; i < p->n && rc == KL_OK; i++) {
		if ((rc = kl_repo_run_write(r, &p->rec[i], NULL, err)) !=
		    KL_OK)
			break;
		if ((rc = kl_cat_run_uploaded(c, p->no[i], err)) == KL_OK &&
		    n != NULL)
			(*n)++;
	}
out:
	free(p);
	return rc;
}
