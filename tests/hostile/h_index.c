/*
 * Attacks through index files and pack headers (issue #10 finding 1):
 * restore denial by a bogus index that names every blob in a pack that
 * does not exist, and dedup poisoning by blob ids of content another host
 * is expected to back up, listed in a pack that holds garbage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/chunker.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "hostile.h"

#define GARBAGE_STORED 64	/* bytes of garbage per predicted blob */

/*
 * index-missing-pack: one index file that copies every entry of every
 * index file and says it lives in a pack that does not exist, sealed until
 * its name sorts first.
 */
static int
missing_pack(struct hctx *h, int argc, char **argv)
{
	struct kl_index all;
	struct kl_id ghost, id;
	unsigned tries = 0;
	size_t i;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = h_index_all(h, &all)) != KL_OK)
		return 1;
	if (all.n == 0) {
		fprintf(stderr, "kluis-hostile: the repository has no index "
		    "entries to copy\n");
		return 1;
	}
	randombytes_buf(ghost.b, sizeof(ghost.b));
	for (i = 0; i < all.n; i++)
		all.packs[i].pack_id = ghost;
	rc = h_index_put(h, &all, 1, &id, &tries);
	kl_index_clear(&all);
	if (rc != KL_OK)
		return 1;
	h_print_id("index", &id);
	h_print_id("ghost-pack", &ghost);
	printf("tries %u\n", tries);
	return 0;
}

/* Appends the ids of the chunks of file path to *ids. */
static int
file_chunk_ids(struct hctx *h, const char *path, struct kl_id **ids,
    size_t *n, size_t *cap, uint32_t **lens)
{
	const struct kl_config *cfg = kl_repo_config(h->r);
	struct kl_chunker_params p = { cfg->chunk_min, cfg->chunk_avg,
		cfg->chunk_max };
	struct kl_chunker *c = NULL;
	uint8_t *data = NULL;
	size_t len = 0, off = 0, used;
	long sz;
	FILE *f;
	int rc = KL_E_IO, cut;

	if ((f = fopen(path, "rb")) == NULL)
		return KL_E_IO;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (data = malloc((size_t)sz)) == NULL ||
	    fread(data, 1, (size_t)sz, f) != (size_t)sz)
		goto out;
	len = (size_t)sz;
	if ((rc = kl_chunker_new(&p, h->k->chunker_key, &c)) != KL_OK)
		goto out;
	while (off < len) {
		used = kl_chunker_next(c, data + off, len - off, &cut);
		if (!cut)
			used = len - off;	/* the stream's end ends it */
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			if ((*ids = realloc(*ids, *cap * sizeof(**ids))) ==
			    NULL || (*lens = realloc(*lens, *cap *
			    sizeof(**lens))) == NULL) {
				rc = KL_E_NOMEM;
				goto out;
			}
		}
		kl_blob_id(h->k, data + off, used, &(*ids)[*n]);
		(*lens)[(*n)++] = (uint32_t)used;
		off += used;
	}
	rc = KL_OK;
out:
	kl_chunker_free(c);
	free(data);
	fclose(f);
	return rc;
}

/*
 * index-predict FILE...: the chunk ids of files the attacker expects
 * another host to back up, claimed by a pack of garbage and an index file
 * that names it.  A host that deduplicates against the claim never uploads
 * that content.
 */
static int
predict(struct hctx *h, int argc, char **argv)
{
	struct h_blob *b = NULL;
	struct kl_id *ids = NULL, pack, id;
	uint32_t *lens = NULL;
	size_t i, n = 0, cap = 0;
	int rc = KL_OK, a;

	if (argc < 2) {
		fprintf(stderr, "usage: index-predict FILE...\n");
		return 2;
	}
	for (a = 1; a < argc && rc == KL_OK; a++)
		if ((rc = file_chunk_ids(h, argv[a], &ids, &n, &cap, &lens)) !=
		    KL_OK)
			fprintf(stderr, "kluis-hostile: %s: %s\n", argv[a],
			    kl_strerror(rc));
	if (rc != KL_OK || (b = calloc(n, sizeof(*b))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		b[i].type = KL_BLOB_TYPE_DATA;
		b[i].id = ids[i];
		b[i].raw_len = lens[i];
		b[i].stored_len = GARBAGE_STORED;
	}
	if ((rc = h_claim(h, b, n, &pack, &id)) != KL_OK)
		goto out;
	h_print_id("pack", &pack);
	h_print_id("index", &id);
	printf("blobs %zu\n", n);
out:
	if (rc != KL_OK)
		fprintf(stderr, "kluis-hostile: index-predict: %s\n",
		    kl_strerror(rc));
	free(b);
	free(ids);
	free(lens);
	return rc == KL_OK ? 0 : 1;
}

/* 1 if id is among ids[0, n). */
static int
wanted(const struct kl_id *ids, size_t n, const struct kl_id *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (kl_id_eq(&ids[i], id))
			return 1;
	return 0;
}

static void
where_print(const struct kl_id *id, const struct kl_id *pack,
    const struct kl_blob_entry *e, const char *source)
{
	char a[KL_ID_HEX_LEN + 1], b[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, a);
	kl_id_hex(pack, b);
	printf("%s %s %lu %lu %s\n", a, b, (unsigned long)e->offset,
	    (unsigned long)e->stored_len, source);
}

struct where_packs {
	struct kl_id *id;
	uint64_t *size;
	size_t n, cap;
};

static int
where_list(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct where_packs *w = arg;
	struct kl_id *ni;
	uint64_t *ns;

	(void)mtime_s;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		if ((ni = realloc(w->id, w->cap * sizeof(*ni))) == NULL)
			return KL_E_NOMEM;
		w->id = ni;
		if ((ns = realloc(w->size, w->cap * sizeof(*ns))) == NULL)
			return KL_E_NOMEM;
		w->size = ns;
	}
	if (kl_id_parse(name, &w->id[w->n]) != KL_OK)
		return 0;
	w->size[w->n++] = size;
	return 0;
}

/*
 * blob-where ID...: every location of these blobs that anyone holding a
 * key can find - in every index file and every pack header - one line
 * each: "ID PACK OFFSET STORED_LEN index|header".  What an attacker with
 * a backup-only key learns of erased data (the erasure test).
 */
static int
blob_where(struct hctx *h, int argc, char **argv)
{
	struct where_packs wp = { NULL, NULL, 0, 0 };
	struct kl_blob_entry *e = NULL;
	struct kl_index all;
	struct kl_id *ids;
	size_t i, j, n = 0, ne = 0;
	int rc = KL_OK, a;

	if ((ids = calloc((size_t)argc, sizeof(*ids))) == NULL)
		return 1;
	for (a = 1; a < argc; a++)
		if (kl_id_parse(argv[a], &ids[n++]) != KL_OK) {
			fprintf(stderr, "blob-where: not an id: %s\n", argv[a]);
			free(ids);
			return 2;
		}
	if ((rc = h_index_all(h, &all)) != KL_OK)
		goto out;
	for (i = 0; i < all.n; i++)
		for (j = 0; j < all.packs[i].n; j++)
			if (wanted(ids, n, &all.packs[i].e[j].id))
				where_print(&all.packs[i].e[j].id,
				    &all.packs[i].pack_id, &all.packs[i].e[j],
				    "index");
	kl_index_clear(&all);
	if ((rc = h->be->ops->list(h->be->ctx, KL_FT_DATA, where_list, &wp)) !=
	    KL_OK)
		goto out;
	for (i = 0; i < wp.n; i++) {
		if (kl_repo_pack_header_read(h->r, &wp.id[i], wp.size[i], &e,
		    &ne, NULL) == KL_OK)
			for (j = 0; j < ne; j++)
				if (wanted(ids, n, &e[j].id))
					where_print(&e[j].id, &wp.id[i], &e[j],
					    "header");
		free(e);
		e = NULL;
	}
out:
	if (rc != KL_OK)
		fprintf(stderr, "kluis-hostile: blob-where: %s\n",
		    kl_strerror(rc));
	free(wp.id);
	free(wp.size);
	free(ids);
	return rc == KL_OK ? 0 : 1;
}

const struct h_attack h_index_attacks[] = {
	{ "blob-where", "ID...", blob_where },
	{ "index-missing-pack", "", missing_pack },
	{ "index-predict", "FILE...", predict },
	{ NULL, NULL, NULL },
};
