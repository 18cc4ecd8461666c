#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/chunker.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/keys.h"
#include "kluis/store.h"
#include "kluis/transport.h"
#include "repo_internal.h"

#define PACK_TARGET_DEFAULT ((uint32_t)16 << 20)	/* FORMAT.md §6 */

static struct kl_repo *
repo_alloc(void)
{
	struct kl_repo *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void
kl_repo_close(struct kl_repo *r)
{
	unsigned i;

	if (r == NULL)
		return;
	kl_repo_unlock(r);
	for (i = 0; i < KL_PACK_KEY_CACHE; i++)
		kl_session_key_free(r->pk[i].key);
	for (i = 0; i < r->ndamage; i++)
		free(r->damage[i]);
	for (i = 0; i < r->nnotice; i++)
		free(r->notice[i]);
	for (i = 0; i < r->ntr; i++)
		buf_free(r->tr[i].b);
	kl_cat_close(r->cat);
	kl_keys_free(r->keys);
	free(r->key_path);
	if (r->be.ops != NULL)
		r->be.ops->close(r->be.ctx);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/*
 * ssh:// and pipe: URLs go through the protocol (transport/transport*.c; a
 * new repository is created by the server, PROTOCOL.md §2 CREATE);
 * anything else is a local path served in-process.
 */
static int
backend_open(const char *url, int create, const uint8_t *cfg, size_t cfg_len,
    struct kl_repo *r, struct kl_error *err)
{
	char msg[KL_TRANSPORT_ERR_MAX];
	struct kl_url u;
	int rc;

	if ((rc = kl_url_parse(url, &u)) != KL_OK || u.kind != KL_URL_LOCAL) {
		rc = kl_transport_open(url, create ? cfg : NULL, cfg_len, msg,
		    sizeof(msg), &r->be);
		/* the transport's NOTFOUND: no repository at that path */
		if (rc != KL_OK)
			kl_error_obj(err, rc, rc == KL_E_NOTFOUND ?
			    KL_ABOUT_REPO : KL_ABOUT_SERVER, NULL, url, "%s", msg);
		return rc;
	}
	if (create)
		rc = kl_store_create(url, cfg, cfg_len, &r->store);
	else
		rc = kl_store_open(url, KL_ROLE_FULL, &r->store);
	if (rc != KL_OK)
		return kl_error_obj(err, rc, KL_ABOUT_REPO, NULL, url, "%s",
		    "");
	kl_store_backend(r->store, &r->be);
	return KL_OK;
}

static void
tmp_count(void *arg, const char *rel, uint64_t size)
{
	uint64_t *c = arg;

	(void)rel;
	c[0]++;
	c[1] += size;
}

void
kl_repo_sweep_tmp(struct kl_repo *r, uint64_t *files, uint64_t *bytes)
{
	uint64_t c[2] = { 0, 0 };

	if (r->store != NULL)
		(void)kl_store_sweep_tmp(r->store, KL_STORE_TMP_STALE_S, tmp_count,
		    c);
	*files = c[0];
	*bytes = c[1];
}

void
kl_repo_damage_add(struct kl_repo *r, const struct kl_error *e)
{
	repo_damage_note(r, e);
}

void
repo_damage_note(struct kl_repo *r, const struct kl_error *e)
{
	const char *msg = e != NULL ? kl_error_msg(e, e->code) : "";

	pthread_mutex_lock(&r->mu);
	if (r->ndamage < KL_REPO_DAMAGE_MAX &&
	    (r->damage[r->ndamage] = strdup(msg)) != NULL)
		r->ndamage++;
	pthread_mutex_unlock(&r->mu);
}

/* The kind of object a repository file of type t is. */
static enum kl_about
ftype_obj(enum kl_ftype t)
{
	switch (t) {
	case KL_FT_DATA: return KL_ABOUT_PACK;
	case KL_FT_KEY: return KL_ABOUT_KEY;
	case KL_FT_INDEX: return KL_ABOUT_INDEX;
	case KL_FT_SNAPSHOT: return KL_ABOUT_SNAPSHOT;
	case KL_FT_LOCK: return KL_ABOUT_LOCK;
	case KL_FT_RUN: return KL_ABOUT_RUN;
	case KL_FT_CONFIG: break;
	}
	return KL_ABOUT_CONFIG;
}

int
repo_err_file(struct kl_error *err, int code, enum kl_ftype t,
    const struct kl_id *id, const char *fmt, ...)
{
	char fn[REPO_FNAME_MAX], msg[KL_ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return code;
	repo_fname(t, id, fn);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kl_error_obj(err, code, ftype_obj(t), t == KL_FT_CONFIG ? NULL :
	    id, fn, "%s", msg);
}

void
repo_notice(struct kl_repo *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&r->mu);
	if (r->nnotice < KL_REPO_NOTICE_MAX &&
	    (r->notice[r->nnotice] = strdup(msg)) != NULL)
		r->nnotice++;
	pthread_mutex_unlock(&r->mu);
}

void
repo_notices_trim(struct kl_repo *r, size_t n)
{
	pthread_mutex_lock(&r->mu);
	while (r->nnotice > n)
		free(r->notice[--r->nnotice]);
	pthread_mutex_unlock(&r->mu);
}

size_t
kl_repo_notice_count(const struct kl_repo *r)
{
	return r->nnotice;
}

const char *
kl_repo_notice_msg(const struct kl_repo *r, size_t i)
{
	return i < r->nnotice ? r->notice[i] : "";
}

size_t
kl_repo_damage_count(const struct kl_repo *r)
{
	return r->ndamage;
}

const char *
kl_repo_damage_msg(const struct kl_repo *r, size_t i)
{
	return i < r->ndamage ? r->damage[i] : "";
}

const struct kl_config *
kl_repo_config(const struct kl_repo *r)
{
	return &r->cfg;
}

const struct kl_keys *
kl_repo_keys(const struct kl_repo *r)
{
	return r->keys;
}

struct kl_backend *
kl_repo_backend(struct kl_repo *r)
{
	return &r->be;
}

int
kl_repo_role(const struct kl_repo *r)
{
	int role = kl_transport_role(&r->be);

	return role < 0 ? KL_ROLE_FULL : role;
}

int
kl_repo_is_full(const struct kl_repo *r)
{
	return r->keys->kind == KL_KEY_FULL;
}

const struct kl_id *
kl_repo_key_id(const struct kl_repo *r)
{
	return &r->key_id;
}

void
repo_fname(enum kl_ftype t, const struct kl_id *id, char *out)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	if (t == KL_FT_CONFIG || kl_ftype_dir(t) == NULL)
		snprintf(out, REPO_FNAME_MAX, "config");
	else if (t == KL_FT_DATA)
		snprintf(out, REPO_FNAME_MAX, "data/%.2s/%s", hex, hex);
	else
		snprintf(out, REPO_FNAME_MAX, "%s/%s", kl_ftype_dir(t), hex);
}

int
repo_file_put(struct kl_repo *r, enum kl_ftype t, const struct buf *b,
    struct kl_id *id, struct kl_error *err)
{
	kl_hash(buf_data(b), buf_size(b), id);
	return repo_file_put_named(r, t, b, id, err);
}

int
repo_file_put_named(struct kl_repo *r, enum kl_ftype t, const struct buf *b,
    const struct kl_id *id, struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1], fn[REPO_FNAME_MAX];
	const char *why;
	int rc;

	kl_id_hex(id, name);
	rc = r->be.ops->put(r->be.ctx, t, name, buf_data(b), buf_size(b));
	if (rc == KL_E_EXISTS)	/* same name = same bytes */
		rc = KL_OK;
	if (rc != KL_OK) {
		repo_fname(t, id, fn);
		why = r->be.ops->why != NULL ? r->be.ops->why(r->be.ctx) : NULL;
		repo_err_file(err, rc, t, id, "writing %s: %s", fn,
		    why != NULL ? why : kl_strerror(rc));
	}
	return rc;
}

int
repo_seal_append(struct kl_repo *r, struct buf *f, const uint8_t *key,
    uint8_t type, const struct buf *pt)
{
	uint8_t *ct;
	int rc;

	if ((rc = buf_reserve(f, buf_size(pt) + KL_AEAD_OVERHEAD, &ct)) !=
	    KL_OK)
		return rc;
	kl_aead_seal(key, &r->keys->repo_id, type, NULL, buf_data(pt),
	    buf_size(pt), ct);
	return KL_OK;
}

int
repo_sealed_put(struct kl_repo *r, enum kl_ftype t, const char *magic,
    const uint8_t *env, const uint8_t *key, uint8_t type,
    const struct buf *pt, struct kl_id *id, struct kl_error *err)
{
	size_t len = KL_PACK_PREAMBLE_LEN + buf_size(pt) + KL_AEAD_OVERHEAD;
	struct buf *f;
	int rc;

	if ((f = buf_new(len)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_file_hdr_put(f, magic)) == KL_OK && env != NULL)
		rc = buf_put(f, env, KL_ENVELOPE_LEN);
	if (rc == KL_OK &&
	    (rc = repo_seal_append(r, f, key, type, pt)) == KL_OK)
		rc = repo_file_put(r, t, f, id, err);
	buf_free(f);
	return rc;
}

int
repo_sealed_open(struct kl_repo *r, struct buf *f, const uint8_t *key,
    uint8_t type, struct buf **pt)
{
	size_t ct_len = buf_avail(f);
	struct buf *b;
	uint8_t *p;
	int rc;

	*pt = NULL;
	if (ct_len < KL_AEAD_OVERHEAD)
		return KL_E_CORRUPT;
	if ((b = buf_new(ct_len)) == NULL)
		return KL_E_NOMEM;
	if ((rc = buf_reserve(b, ct_len - KL_AEAD_OVERHEAD, &p)) == KL_OK)
		rc = kl_aead_open(key, &r->keys->repo_id, type, NULL,
		    buf_rptr(f), ct_len, p);
	if (rc != KL_OK) {
		buf_free(b);
		return rc;
	}
	*pt = b;
	return KL_OK;
}

int
repo_sealed_get(struct kl_repo *r, enum kl_ftype t, const struct kl_id *id,
    size_t max, const char *magic, const uint8_t *key, uint8_t type,
    struct buf **pt, struct kl_error *err)
{
	struct buf *f = NULL;
	uint8_t *skey = NULL;
	int rc;

	*pt = NULL;
	if ((rc = repo_file_get(r, t, id, max, &f, err)) != KL_OK)
		return rc;
	if (key == NULL) {	/* the session key of its envelope */
		if ((rc = kl_session_key_new(&skey)) != KL_OK ||
		    buf_size(f) < KL_PACK_PREAMBLE_LEN ||
		    (rc = kl_envelope_hdr_open(r->keys, buf_data(f),
		    KL_PACK_PREAMBLE_LEN, magic, skey)) != KL_OK) {
			rc = rc != KL_OK ? rc : KL_E_CORRUPT;
			goto out;
		}
		rc = buf_skip(f, KL_PACK_PREAMBLE_LEN);
		key = skey;
	} else
		rc = kl_file_hdr_get(f, magic);
	if (rc == KL_OK)
		rc = repo_sealed_open(r, f, key, type, pt);
out:
	kl_session_key_free(skey);
	buf_free(f);
	return rc;
}

/* Fetches a whole content-addressed file and checks it against its name. */
int
repo_file_get(struct kl_repo *r, enum kl_ftype t, const struct kl_id *id,
    size_t max, struct buf **out, struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1], fn[REPO_FNAME_MAX];
	struct kl_id got;
	int rc;

	*out = NULL;
	kl_id_hex(id, name);
	repo_fname(t, id, fn);
	rc = r->be.ops->get(r->be.ctx, t, name, 0, 0, max, out);
	if (rc != KL_OK) {
		return repo_err_file(err, rc, t, id, "reading %s: %s", fn,
		    kl_strerror(rc));
	}
	kl_hash(buf_data(*out), buf_size(*out), &got);
	if (!kl_id_eq(&got, id)) {
		buf_free(*out);
		*out = NULL;
		return repo_err_file(err, KL_E_CORRUPT, t, id, "%s is damaged: "
		    "its content does not match its name", fn);
	}
	return KL_OK;
}

/* Reads config, checks it parses. */
static int
config_load(struct kl_repo *r, struct kl_id *hash, struct kl_error *err)
{
	struct buf *b = NULL;
	int rc;

	rc = r->be.ops->get(r->be.ctx, KL_FT_CONFIG, "config", 0, 0, 4096, &b);
	if (rc != KL_OK) {
		return kl_error_obj(err, rc, KL_ABOUT_CONFIG, NULL, "config",
		    "reading config: %s", kl_strerror(rc));
	}
	kl_hash(buf_data(b), buf_size(b), hash);
	if ((rc = kl_config_decode(buf_data(b), buf_size(b), &r->cfg)) != 0)
		kl_error_obj(err, rc, KL_ABOUT_CONFIG, NULL, "config",
		    "config: %s", kl_strerror(rc));
	buf_free(b);
	return rc;
}

/* The key must belong to this config: detects a swapped config. */
static int
key_matches_config(struct kl_repo *r, const struct kl_keys *k,
    const struct kl_id *cfg_hash, struct kl_error *err)
{
	if (!kl_id_eq(&k->repo_id, &r->cfg.repo_id))
		return kl_error_obj(err, KL_E_CORRUPT, KL_ABOUT_KEY, NULL, NULL,
		    "the key belongs to another repository");
	if (!kl_id_eq(&k->config_hash, cfg_hash) ||
	    sodium_memcmp(k->box_pk, r->cfg.box_pk, 32) != 0)
		return kl_error_obj(err, KL_E_CORRUPT, KL_ABOUT_CONFIG, NULL,
		    "config", "config does not match the key: the repository "
		    "config was altered");
	return KL_OK;
}

/* Keeps the label of the key file in b, for key passwd. */
static void
label_remember(struct kl_repo *r, const struct buf *b)
{
	struct kl_keyfile_info info;

	if (kl_keyfile_info(buf_data(b), buf_size(b), &info) == KL_OK)
		snprintf(r->key_label, sizeof(r->key_label), "%s", info.label);
}

struct key_try {
	struct kl_repo *r;
	const char *pass;
	size_t pass_len;
	struct kl_keys *found;
	struct kl_id id;
	int worst;	/* most telling error so far */
	struct kl_error *err;	/* the caller's: worst's detail */
};

static int
key_try_one(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct key_try *kt = arg;
	struct kl_id id;
	struct kl_error e;
	struct buf *b = NULL;
	int rc;

	if (kl_id_parse(name, &id) != KL_OK || size > KL_KEYFILE_MAX)
		return 0;
	kl_error_clear(&e);
	if ((rc = repo_file_get(kt->r, KL_FT_KEY, &id, KL_KEYFILE_MAX, &b,
	    &e)) != 0)
		goto out;
	rc = kl_keyfile_open(buf_data(b), buf_size(b), kt->pass, kt->pass_len,
	    &kt->found);
	if (rc == KL_OK) {
		kt->id = id;
		label_remember(kt->r, b);
	}
out:
	buf_free(b);
	if (rc != KL_OK && kt->worst == KL_E_NOTFOUND) {
		kt->worst = rc;
		if (kt->err != NULL)
			*kt->err = e;
	}
	return rc == KL_OK ? 1 : 0;	/* 1 stops the listing */
}

static int
keys_from_repo(struct kl_repo *r, const char *pass, size_t pass_len,
    struct kl_error *err)
{
	struct key_try kt = { r, pass, pass_len, NULL, { { 0 } },
		KL_E_NOTFOUND, err };
	int rc;

	rc = r->be.ops->list(r->be.ctx, KL_FT_KEY, key_try_one, &kt);
	if (rc < 0) {
		kl_keys_free(kt.found);	/* a key opened before it failed */
		return kl_error_obj(err, rc, KL_ABOUT_REPO, NULL, "keys",
		    "listing keys/: %s", kl_strerror(rc));
	}
	if (kt.found == NULL) {
		if (kt.worst == KL_E_NOTFOUND)
			kl_error_obj(err, kt.worst, KL_ABOUT_KEY, NULL, "keys",
			    "the repository has no key files; use "
			    "--key-file");
		return kt.worst;
	}
	r->keys = kt.found;
	r->key_id = kt.id;
	return KL_OK;
}

static int
keys_from_file(struct kl_repo *r, const char *path, const char *pass,
    size_t pass_len, struct kl_error *err)
{
	struct buf *b = NULL;
	int rc;

	if ((rc = kl_file_read_all(path, KL_KEYFILE_MAX, &b)) != KL_OK)
		return kl_error_obj(err, rc == KL_E_NOTFOUND ? KL_E_INVAL : rc,
		    KL_ABOUT_KEY, NULL, path, "key file %s: %s", path,
		    kl_strerror(rc));
	rc = kl_keyfile_open(buf_data(b), buf_size(b), pass, pass_len,
	    &r->keys);
	if (rc == KL_OK)
		label_remember(r, b);
	buf_free(b);
	if (rc != KL_OK && rc != KL_E_BADPASS)
		kl_error_obj(err, rc, KL_ABOUT_KEY, NULL, path, "key file %s: %s",
		    path, kl_strerror(rc));
	if (rc == KL_OK && (r->key_path = strdup(path)) == NULL)
		rc = KL_E_NOMEM;
	return rc;
}

int
kl_repo_open(const char *url, const char *key_file, const char *pass,
    size_t pass_len, struct kl_repo **out, struct kl_error *err)
{
	struct kl_repo *r;
	struct kl_id cfg_hash;
	int rc;

	*out = NULL;
	if ((r = repo_alloc()) == NULL)
		return KL_E_NOMEM;
	if ((rc = backend_open(url, 0, NULL, 0, r, err)) != KL_OK)
		goto out;
	if ((rc = config_load(r, &cfg_hash, err)) != KL_OK)
		goto out;
	if (key_file != NULL)
		rc = keys_from_file(r, key_file, pass, pass_len, err);
	else
		rc = keys_from_repo(r, pass, pass_len, err);
	if (rc != KL_OK)
		goto out;
	if ((rc = key_matches_config(r, r->keys, &cfg_hash, err)) != KL_OK)
		goto out;
	*out = r;
	r = NULL;
out:
	kl_repo_close(r);	/* NULL on success */
	return rc;
}

static int
config_build(const struct kl_repo_init_opts *o, const uint8_t *pk,
    struct kl_config *c, struct buf *b)
{
	struct kl_chunker_params dp = { KL_CHUNK_MIN_DEFAULT,
		KL_CHUNK_AVG_DEFAULT, KL_CHUNK_MAX_DEFAULT };
	const struct kl_chunker_params *p = o->chunker ? o->chunker : &dp;

	memset(c, 0, sizeof(*c));
	randombytes_buf(c->repo_id.b, KL_ID_LEN);
	c->chunk_min = p->min;
	c->chunk_avg = p->avg;
	c->chunk_max = p->max;
	c->pack_target = PACK_TARGET_DEFAULT;
	memcpy(c->box_pk, pk, 32);
	c->created = (int64_t)time(NULL);
	return kl_config_encode(c, b);
}

/*
 * Seals k into a key file: into keys/, or to out_path.  An existing
 * out_path is never replaced unless replace is set (key passwd of an
 * external key): a key file may be the only copy of a repository's keys.
 */
static int
key_write(struct kl_repo *r, const struct kl_keys *k, const char *pass,
    size_t pass_len, const struct kl_kdf_params *kdf, const char *label,
    const char *out_path, int replace, struct kl_id *id,
    struct kl_error *err)
{
	struct kl_kdf_params def;
	struct buf *b;
	int rc;

	memset(id, 0, sizeof(*id));
	if (kdf == NULL && (rc = kl_kdf_preset("moderate", &def)) == KL_OK)
		kdf = &def;
	if ((b = buf_new(KL_KEYFILE_MAX)) == NULL)
		return KL_E_NOMEM;
	rc = kl_keyfile_seal(k, pass, pass_len, kdf, (int64_t)time(NULL),
	    label ? label : "", b);
	if (rc == KL_OK && out_path != NULL) {
		rc = kl_file_write_atomic_path(out_path, buf_data(b),
		    buf_size(b), !replace, 0600);
		if (rc == KL_E_EXISTS)
			kl_error_obj(err, rc, KL_ABOUT_KEY, NULL, out_path,
			    "key file %s already exists: refusing to "
			    "overwrite it", out_path);
		else if (rc != KL_OK)
			kl_error_obj(err, rc, KL_ABOUT_KEY, NULL, out_path,
			    "writing key file %s: %s", out_path,
			    kl_strerror(rc));
	} else if (rc == KL_OK)
		rc = repo_file_put(r, KL_FT_KEY, b, id, err);
	buf_free(b);
	return rc;
}

int
kl_repo_init(const char *url, const char *pass, size_t pass_len,
    const struct kl_repo_init_opts *o, struct kl_repo **out,
    struct kl_error *err)
{
	struct kl_repo *r;
	struct kl_keys *tmp = NULL;
	struct buf *cb = NULL;
	struct kl_id cfg_hash, kid;
	uint8_t pk[32], sk[32];
	int rc = KL_E_NOMEM;

	*out = NULL;
	if ((r = repo_alloc()) == NULL || (cb = buf_new(4096)) == NULL)
		goto out;
	/* refuse before creating anything: a key file may be the only copy */
	if (o->key_out != NULL && access(o->key_out, F_OK) == 0) {
		rc = kl_error_obj(err, KL_E_EXISTS, KL_ABOUT_KEY, NULL,
		    o->key_out, "key file %s already exists: refusing to "
		    "overwrite it", o->key_out);
		goto out;
	}
	crypto_box_keypair(pk, sk);
	if ((rc = config_build(o, pk, &r->cfg, cb)) != KL_OK)
		goto out;
	kl_hash(buf_data(cb), buf_size(cb), &cfg_hash);
	if ((rc = kl_keys_generate(&r->cfg.repo_id, &cfg_hash, &tmp)) != 0)
		goto out;
	memcpy(tmp->box_pk, pk, 32);
	memcpy(tmp->box_sk, sk, 32);
	/* the signing key comes from this box_sk (FORMAT.md §3.1) */
	if ((rc = kl_keys_sign_derive(tmp)) != KL_OK)
		goto out;
	if ((rc = backend_open(url, 1, buf_data(cb), buf_size(cb), r,
	    err)) != 0)
		goto out;
	rc = key_write(r, tmp, pass, pass_len, o->kdf, o->label, o->key_out,
	    0, &kid, err);
	if (rc != KL_OK)
		goto out;
	r->keys = tmp;
	tmp = NULL;
	r->key_id = kid;
	if (o->key_out != NULL && (r->key_path = strdup(o->key_out)) == NULL)
		rc = KL_E_NOMEM;
	if (rc == KL_OK) {
		*out = r;
		r = NULL;
	}
out:
	sodium_memzero(sk, sizeof(sk));
	kl_keys_free(tmp);
	buf_free(cb);
	kl_repo_close(r);	/* NULL on success */
	return rc;
}

int
kl_repo_reach(const char *url, struct kl_error *err)
{
	struct kl_repo *r;
	struct kl_url u;
	int rc;

	if (kl_url_parse(url, &u) == KL_OK && u.kind == KL_URL_LOCAL)
		return KL_OK;	/* nothing to reach: kl_repo_init says all */
	if ((r = repo_alloc()) == NULL)
		return KL_E_NOMEM;
	rc = backend_open(url, 0, NULL, 0, r, err);
	if (rc == KL_OK)
		rc = kl_error_obj(err, KL_E_EXISTS, KL_ABOUT_REPO, NULL, url,
		    "a repository already exists there");
	else if (rc == KL_E_NOTFOUND) {	/* reached, and nothing there */
		kl_error_clear(err);
		rc = KL_OK;
	}
	kl_repo_close(r);
	return rc;
}

int
kl_repo_key_add(struct kl_repo *r, int backup_only, const char *pass,
    size_t pass_len, const struct kl_kdf_params *kdf, const char *label,
    const char *out_path, struct kl_id *id, struct kl_error *err)
{
	struct kl_keys *k = NULL;
	int rc;

	if (backup_only && r->keys->kind == KL_KEY_FULL)
		rc = kl_keys_derive_backup(r->keys, &k);
	else if (!backup_only && r->keys->kind != KL_KEY_FULL)
		rc = KL_E_PERM;
	else
		rc = kl_keys_dup(r->keys, &k);
	if (rc == KL_OK)
		rc = key_write(r, k, pass, pass_len, kdf, label, out_path, 0,
		    id, err);
	kl_keys_free(k);
	return rc;
}

int
kl_repo_key_passwd(struct kl_repo *r, const char *pass, size_t pass_len,
    const struct kl_kdf_params *kdf, struct kl_error *err)
{
	char name[KL_ID_HEX_LEN + 1];
	struct kl_id nid;
	int rc;

	if (r->key_path != NULL)
		return key_write(r, r->keys, pass, pass_len, kdf, r->key_label,
		    r->key_path, 1, &nid, err);
	if ((rc = key_write(r, r->keys, pass, pass_len, kdf, r->key_label,
	    NULL, 0, &nid, err)) != KL_OK)
		return rc;
	kl_id_hex(&r->key_id, name);
	if ((rc = r->be.ops->remove(r->be.ctx, KL_FT_KEY, name)) != KL_OK)
		return repo_err_file(err, rc, KL_FT_KEY, &r->key_id, "new key "
		    "written, but removing the old key file %s failed: %s",
		    name, kl_strerror(rc));
	r->key_id = nid;
	return KL_OK;
}
