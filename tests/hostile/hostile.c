/*
 * kluis-hostile: the attacker's tool of the threat-model tests (hostile.h).
 *
 * usage: kluis-hostile -r URL --key-file F --password-file F
 *            [--ssh-key F] [--ssh-known-hosts F] [--server-command CMD]
 *            ATTACK [ARGS...]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/hash.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "kluis/transport.h"
#include "hostile.h"

#define PASS_MAX 1024
#define SEAL_TRIES_MAX 4096

static const struct h_attack *const tables[] = {
	h_index_attacks,
	h_lock_attacks,
	h_restore_attacks,
	h_names_attacks,
	h_tree_attacks,
	h_flood_attacks,
	NULL,
};

int
h_session_open(struct hctx *h, struct kl_session **s)
{
	int rc;

	*s = NULL;
	if ((rc = kl_repo_index_load(h->r, &h->err)) != KL_OK)
		return rc;
	return kl_session_begin(h->r, 3, s, &h->err);
}

void
h_print_id(const char *what, const struct kl_id *id)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	printf("%s %s\n", what, hex);
}

int
h_tree_put(struct hctx *h, struct kl_session *s, struct kl_node *nodes,
    size_t n, struct kl_id *id)
{
	struct kl_tree t = { nodes, n };
	uint64_t stored;

	return kl_session_tree_add(s, &t, id, &stored, &h->err);
}

int
h_put(struct hctx *h, enum kl_ftype t, const struct buf *b, struct kl_id *id)
{
	char name[KL_ID_HEX_LEN + 1];
	int rc;

	kl_hash(buf_data(b), buf_size(b), id);
	kl_id_hex(id, name);
	rc = h->be->ops->put(h->be->ctx, t, name, buf_data(b), buf_size(b));
	if (rc == KL_E_EXISTS)
		return KL_OK;
	if (rc != KL_OK)
		fprintf(stderr, "kluis-hostile: cannot store file %s of type "
		    "%d (%zu bytes): %s\n", name, (int)t, buf_size(b),
		    kl_strerror(rc));
	return rc;
}

/* 1 if id sorts before every id in ids[0, n). */
static int
sorts_first(const struct kl_id *id, const struct kl_id *ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (kl_id_cmp(id, &ids[i]) >= 0)
			return 0;
	return 1;
}

int
h_index_put(struct hctx *h, const struct kl_index *ix, int first,
    struct kl_id *id, unsigned *tries)
{
	struct kl_id *ids = NULL;
	struct buf *pt = NULL, *f = NULL;
	size_t n = 0;
	unsigned t = 0;
	uint8_t *ct;
	int rc = KL_E_NOMEM;

	if (first && (rc = kl_repo_list_ids(h->r, KL_FT_INDEX, &ids, &n,
	    &h->err)) != KL_OK)
		return rc;
	if ((pt = buf_new(KL_FILE_MAX)) == NULL ||
	    (f = buf_new(KL_FILE_MAX)) == NULL)
		goto out;
	if ((rc = kl_index_encode(ix, KL_INDEX_VERSION_1, pt)) != KL_OK)
		goto out;
	do {
		buf_reset(f);
		if ((rc = kl_file_hdr_put(f, KL_MAGIC_INDEX)) != KL_OK ||
		    (rc = buf_reserve(f, buf_size(pt) + KL_AEAD_OVERHEAD,
		    &ct)) != KL_OK)
			goto out;
		kl_aead_seal(h->k->index_key, &h->k->repo_id, KL_OBJ_INDEX,
		    NULL, buf_data(pt), buf_size(pt), ct);
		kl_hash(buf_data(f), buf_size(f), id);
	} while (first && !sorts_first(id, ids, n) && ++t < SEAL_TRIES_MAX);
	if (tries != NULL)
		*tries = t + 1;
	rc = h_put(h, KL_FT_INDEX, f, id);
out:
	buf_free(pt);
	buf_free(f);
	free(ids);
	return rc;
}

/* Appends blob b to the pack in f, sealed under key; fills *e. */
static int
pack_blob(struct hctx *h, const uint8_t *key, void *zctx,
    const struct h_blob *b, struct buf *f, struct kl_blob_entry *e)
{
	struct buf *pt = NULL;
	uint8_t *p;
	size_t len;
	int rc;

	e->type = b->type;
	e->id = b->id;
	e->offset = (uint32_t)buf_size(f);
	e->raw_len = (uint32_t)b->raw_len;
	if (b->raw == NULL) {
		if ((rc = buf_reserve(f, b->stored_len, &p)) != KL_OK)
			return rc;
		randombytes_buf(p, b->stored_len);
		e->stored_len = b->stored_len;
		return KL_OK;
	}
	if ((pt = buf_new(kl_blob_encode_bound(b->raw_len))) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_blob_encode(zctx, 3, b->raw, b->raw_len, pt)) == KL_OK) {
		len = buf_size(pt) + KL_AEAD_OVERHEAD;
		if ((rc = buf_reserve(f, len, &p)) == KL_OK) {
			kl_aead_seal(key, &h->k->repo_id, b->type, &b->id,
			    buf_data(pt), buf_size(pt), p);
			e->stored_len = (uint32_t)len;
		}
	}
	buf_free(pt);
	return rc;
}

/* The header and trailer of the pack in f (FORMAT.md §8). */
static int
pack_finish(struct hctx *h, const struct kl_blob_entry *e, size_t n,
    struct buf *f)
{
	struct buf *pt;
	uint8_t *ct, tr[KL_PACK_TRAILER_LEN];
	size_t ct_len;
	int rc;

	if ((pt = buf_new(KL_PACK_MAX)) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_pack_header_encode(e, n, pt)) == KL_OK) {
		ct_len = buf_size(pt) + KL_AEAD_OVERHEAD;
		if ((rc = buf_reserve(f, ct_len, &ct)) == KL_OK) {
			kl_aead_seal(h->k->index_key, &h->k->repo_id,
			    KL_OBJ_PACK_HEADER, NULL, buf_data(pt),
			    buf_size(pt), ct);
			kl_pack_trailer_encode((uint32_t)ct_len, tr);
			rc = buf_put(f, tr, sizeof(tr));
		}
	}
	buf_free(pt);
	return rc;
}

int
h_pack_put(struct hctx *h, const struct h_blob *b, size_t n,
    struct kl_id *id, struct kl_blob_entry **out)
{
	struct kl_blob_entry *e = NULL;
	uint8_t env[KL_ENVELOPE_LEN], *key = NULL;
	struct buf *f = NULL;
	ZSTD_CCtx *z = NULL;
	size_t i;
	int rc = KL_E_NOMEM;

	*out = NULL;
	if ((e = calloc(n ? n : 1, sizeof(*e))) == NULL ||
	    (f = buf_new(KL_PACK_MAX)) == NULL ||
	    (z = ZSTD_createCCtx()) == NULL)
		goto out;
	if ((rc = kl_session_key_new(&key)) != KL_OK)
		goto out;
	kl_envelope_seal(h->k, key, env);
	if ((rc = kl_file_hdr_put(f, KL_MAGIC_PACK)) != KL_OK ||
	    (rc = buf_put(f, env, sizeof(env))) != KL_OK)
		goto out;
	for (i = 0; i < n && rc == KL_OK; i++)
		rc = pack_blob(h, key, z, &b[i], f, &e[i]);
	if (rc == KL_OK && (rc = pack_finish(h, e, n, f)) == KL_OK &&
	    (rc = h_put(h, KL_FT_DATA, f, id)) == KL_OK) {
		*out = e;
		e = NULL;
	}
out:
	kl_session_key_free(key);
	ZSTD_freeCCtx(z);
	buf_free(f);
	free(e);
	return rc;
}

int
h_claim(struct hctx *h, const struct h_blob *b, size_t n,
    struct kl_id *pack, struct kl_id *index)
{
	struct kl_blob_entry *e = NULL;
	struct kl_index_pack ip;
	struct kl_index ix;
	int rc;

	if ((rc = h_pack_put(h, b, n, pack, &e)) != KL_OK)
		return rc;
	ip.pack_id = *pack;
	ip.e = e;
	ip.n = n;
	memset(&ix, 0, sizeof(ix));
	ix.packs = &ip;
	ix.n = 1;
	rc = h_index_put(h, &ix, 0, index, NULL);
	free(e);
	return rc;
}

/* Moves the packs of one decoded index file to the end of all. */
static int
index_append(struct kl_index *all, size_t *cap, struct kl_index *one)
{
	struct kl_index_pack *np;
	size_t i;

	for (i = 0; i < one->n; i++) {
		if (all->n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			if ((np = realloc(all->packs, *cap * sizeof(*np))) ==
			    NULL)
				return KL_E_NOMEM;
			all->packs = np;
		}
		all->packs[all->n++] = one->packs[i];
		one->packs[i].e = NULL;
	}
	return KL_OK;
}

int
h_index_all(struct hctx *h, struct kl_index *all)
{
	struct kl_index one;
	struct kl_id *ids = NULL;
	size_t i, n, cap = 0;
	int rc;

	memset(all, 0, sizeof(*all));
	if ((rc = kl_repo_list_ids(h->r, KL_FT_INDEX, &ids, &n,
	    &h->err)) != KL_OK)
		return rc;
	for (i = 0; i < n && rc == KL_OK; i++) {
		if (kl_repo_index_file_read(h->r, &ids[i], &one, NULL,
		    NULL) != KL_OK)
			continue;
		rc = index_append(all, &cap, &one);
		kl_index_clear(&one);
	}
	free(ids);
	if (rc != KL_OK)
		kl_index_clear(all);
	return rc;
}

static const struct h_attack *
attack_find(const char *name)
{
	const struct h_attack *a;
	size_t t;

	for (t = 0; tables[t] != NULL; t++)
		for (a = tables[t]; a->name != NULL; a++)
			if (strcmp(a->name, name) == 0)
				return a;
	return NULL;
}

static void
usage(void)
{
	const struct h_attack *a;
	size_t t;

	fprintf(stderr, "usage: kluis-hostile -r URL --key-file F "
	    "--password-file F [--ssh-key F]\n"
	    "           [--ssh-known-hosts F] [--server-command CMD] "
	    "ATTACK [ARGS...]\nattacks:\n");
	for (t = 0; tables[t] != NULL; t++)
		for (a = tables[t]; a->name != NULL; a++)
			fprintf(stderr, "  %s %s\n", a->name, a->usage);
	exit(2);
}

/* The first line of path, in sodium_malloc'd memory. */
static char *
pass_read(const char *path, size_t *len)
{
	char *p;
	FILE *f;

	if ((p = sodium_malloc(PASS_MAX)) == NULL)
		return NULL;
	if ((f = fopen(path, "r")) == NULL || fgets(p, PASS_MAX, f) == NULL) {
		if (f != NULL)
			fclose(f);
		sodium_free(p);
		return NULL;
	}
	fclose(f);
	*len = strcspn(p, "\r\n");
	p[*len] = '\0';
	return p;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "ssh-key", required_argument, NULL, 's' },
		{ "ssh-known-hosts", required_argument, NULL, 'K' },
		{ "server-command", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct kl_transport_opts to = { NULL, NULL, NULL, NULL };
	const char *url = NULL, *key = NULL, *pwf = NULL;
	const struct h_attack *a;
	struct hctx h;
	char *pass;
	size_t plen = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+r:", lo, NULL)) != -1) {
		switch (c) {
		case 'r': url = optarg; break;
		case 'k': key = optarg; break;
		case 'p': pwf = optarg; break;
		case 's': to.ssh_key = optarg; break;
		case 'K': to.known_hosts = optarg; break;
		case 'S': to.server_command = optarg; break;
		default: usage();
		}
	}
	if (url == NULL || pwf == NULL || optind >= argc ||
	    (a = attack_find(argv[optind])) == NULL)
		usage();
	if (kl_crypto_init() != KL_OK)
		return 1;
	kl_transport_configure(&to);
	if ((pass = pass_read(pwf, &plen)) == NULL) {
		fprintf(stderr, "kluis-hostile: cannot read %s\n", pwf);
		return 1;
	}
	memset(&h, 0, sizeof(h));
	rc = kl_repo_open(url, key, pass, plen, &h.r, &h.err);
	sodium_free(pass);
	if (rc != KL_OK) {
		fprintf(stderr, "kluis-hostile: %s: %s\n", url,
		    kl_error_msg(&h.err, rc));
		return 1;
	}
	h.k = kl_repo_keys(h.r);
	h.be = kl_repo_backend(h.r);
	rc = a->run(&h, argc - optind, argv + optind);
	if (rc != 0)
		fprintf(stderr, "kluis-hostile: %s failed%s%s\n", a->name,
		    kl_error_isset(&h.err) ? ": " : "",
		    kl_error_isset(&h.err) ?
		    kl_error_msg(&h.err, h.err.code) : "");
	kl_repo_close(h.r);
	return rc;
}
