/*
 * Hash flooding (issue #10 finding 5): repository content whose keys a
 * writer chose so that a hash table with a fixed slot function puts them
 * all in one slot, and every insert or lookup walks all the others.
 *
 * Blob ids in pack headers and index files are whatever their writer
 * listed: these attacks list ids that share their first 8 bytes (the old
 * session table slotted ids by them).  Hard-link groups in trees are
 * whatever the tree's writer put there: link-flood writes a snapshot
 * whose groups have their low 40 bits zero (a table that slots them by
 * their low bits, or by a multiplication, puts them in one slot).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "hostile.h"

#define FLOOD_PACKS_MAX 64
#define FLOOD_IDS_MAX ((size_t)KL_PACK_BLOBS_MAX)
#define FLOOD_GARBAGE 64		/* stored bytes per listed blob */
#define PREFIX_LEN 8			/* bytes every flooded id shares */
#define LINK_FILES_MAX ((size_t)1 << 22)
#define LINK_DIR_FILES 4096		/* files per directory */
#define LINK_GROUP_SHIFT 40

/* Parses a count in [1, max]; 0 if it is not one. */
static size_t
count_arg(const char *s, size_t max)
{
	unsigned long long v;
	char *end;

	v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v == 0 || v > max)
		return 0;
	return (size_t)v;
}

/* Uploads one pack of n garbage blobs whose ids all start with prefix
 * (NULL: random ids). */
static int
flood_pack(struct hctx *h, const uint8_t *prefix, size_t n,
    struct kl_index_pack *out)
{
	struct kl_blob_entry *e = NULL;
	struct h_blob *b;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((b = calloc(n, sizeof(*b))) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n; i++) {
		b[i].type = KL_BLOB_TYPE_DATA;
		randombytes_buf(b[i].id.b, KL_ID_LEN);
		if (prefix != NULL)
			memcpy(b[i].id.b, prefix, PREFIX_LEN);
		b[i].raw_len = FLOOD_GARBAGE;
		b[i].stored_len = FLOOD_GARBAGE;
	}
	if ((rc = h_pack_put(h, b, n, &out->pack_id, &e)) == KL_OK) {
		out->e = e;
		out->n = n;
	}
	free(b);
	return rc;
}

/*
 * orphan-flood / index-flood PACKS IDS [spread]: PACKS packs whose headers
 * list IDS blob ids each, all sharing one random 8-byte prefix (spread:
 * random ids, the honest baseline of the same size); with an index file
 * that names them (index-flood) or none (orphan-flood: a reader finds
 * them in the listing of data/ and reads their headers).
 */
static int
flood(struct hctx *h, int argc, char **argv, int with_index)
{
	uint8_t prefix[PREFIX_LEN];
	char hex[2 * PREFIX_LEN + 1];
	struct kl_index ix;
	struct kl_id id;
	size_t i, packs = 0, ids = 0;
	int rc = KL_OK, spread = 0;

	if (argc == 4 && strcmp(argv[3], "spread") == 0)
		spread = 1;
	if ((argc != 3 && !spread) ||
	    (packs = count_arg(argv[1], FLOOD_PACKS_MAX)) == 0 ||
	    (ids = count_arg(argv[2], FLOOD_IDS_MAX)) == 0) {
		fprintf(stderr, "usage: %s PACKS(1..%d) IDS(1..%zu) "
		    "[spread]\n", argv[0], FLOOD_PACKS_MAX, FLOOD_IDS_MAX);
		return 2;
	}
	memset(&ix, 0, sizeof(ix));
	if ((ix.packs = calloc(packs, sizeof(*ix.packs))) == NULL)
		return 1;
	randombytes_buf(prefix, sizeof(prefix));
	for (i = 0; i < packs && rc == KL_OK; i++)
		if ((rc = flood_pack(h, spread ? NULL : prefix, ids,
		    &ix.packs[i])) == KL_OK)
			ix.n++;
	if (rc == KL_OK && with_index)
		rc = h_index_put(h, &ix, 0, &id, NULL);
	if (rc == KL_OK) {
		for (i = 0; i < ix.n; i++)
			h_print_id("pack", &ix.packs[i].pack_id);
		if (with_index)
			h_print_id("index", &id);
		kl_hex_encode(prefix, sizeof(prefix), hex);
		printf("prefix %s\nids %zu\n", spread ? "none" : hex,
		    packs * ids);
	} else
		fprintf(stderr, "kluis-hostile: %s: %s\n", argv[0],
		    kl_strerror(rc));
	kl_index_clear(&ix);
	return rc == KL_OK ? 0 : 1;
}

static int
orphan_flood(struct hctx *h, int argc, char **argv)
{
	return flood(h, argc, argv, 0);
}

static int
index_flood(struct hctx *h, int argc, char **argv)
{
	return flood(h, argc, argv, 1);
}

/* ---- link-flood ---- */

struct lflood {
	struct hctx *h;
	struct kl_session *s;
	int collide;
	size_t files;
	uint64_t stored;
	struct kl_ts now;
};

/* An empty regular file, file number i, in its own hard-link group. */
static void
link_node(const struct lflood *lf, size_t i, char *name, size_t name_cap,
    struct kl_node *n)
{
	memset(n, 0, sizeof(*n));
	n->name_len = (size_t)snprintf(name, name_cap, "f%07zu", i);
	n->name = (uint8_t *)name;
	n->type = KL_NODE_FILE;
	n->mode = 0644;
	n->mtime = n->atime = n->ctime = lf->now;
	n->inode = i + 1;
	n->nlink = 2;
	/* the other name is outside the backup: a group of one name here */
	n->link_group = lf->collide ? (uint64_t)(i + 1) << LINK_GROUP_SHIFT :
	    (uint64_t)(i + 1);
}

/* Writes the tree of files [first, first + n); *id gets its id. */
static int
link_dir(struct lflood *lf, size_t first, size_t n, struct kl_id *id)
{
	struct kl_node *nodes;
	struct kl_tree t;
	char (*names)[16];
	uint64_t stored = 0;
	size_t i;
	int rc;

	nodes = calloc(n, sizeof(*nodes));
	names = calloc(n, sizeof(*names));
	if (nodes == NULL || names == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		link_node(lf, first + i, names[i], sizeof(names[i]),
		    &nodes[i]);
	t.nodes = nodes;
	t.n = n;
	rc = kl_session_tree_add(lf->s, &t, id, &stored, &lf->h->err);
	lf->stored += stored;
out:
	free(nodes);
	free(names);
	return rc;
}

/* The root: one directory node per LINK_DIR_FILES files. */
static int
link_root(struct lflood *lf, struct kl_id *root, size_t *ndirs)
{
	struct kl_node *dirs;
	struct kl_tree t;
	char (*names)[16];
	uint64_t stored = 0;
	size_t i, first, n, nd = (lf->files + LINK_DIR_FILES - 1) /
	    LINK_DIR_FILES;
	int rc = KL_OK;

	dirs = calloc(nd, sizeof(*dirs));
	names = calloc(nd, sizeof(*names));
	if (dirs == NULL || names == NULL) {
		rc = KL_E_NOMEM;
		goto out;
	}
	for (i = 0; i < nd && rc == KL_OK; i++) {
		dirs[i].name_len = (size_t)snprintf(names[i], sizeof(names[i]),
		    "d%04zu", i);
		dirs[i].name = (uint8_t *)names[i];
		dirs[i].type = KL_NODE_DIR;
		dirs[i].mode = 0755;
		dirs[i].mtime = dirs[i].atime = dirs[i].ctime = lf->now;
		dirs[i].nlink = 2;
		first = i * LINK_DIR_FILES;
		n = lf->files - first;
		if (n > LINK_DIR_FILES)
			n = LINK_DIR_FILES;
		rc = link_dir(lf, first, n, &dirs[i].subtree);
	}
	if (rc == KL_OK) {
		t.nodes = dirs;
		t.n = nd;
		rc = kl_session_tree_add(lf->s, &t, root, &stored, &lf->h->err);
		lf->stored += stored;
		*ndirs = nd;
	}
out:
	free(dirs);
	free(names);
	return rc;
}

/* The snapshot of host naming root, dated now. */
static int
link_commit(struct lflood *lf, char *host, const struct kl_id *root,
    size_t ndirs, struct kl_id *snap_id)
{
	static char path[] = "/srv/flood", prog[] = "kluis-hostile";
	char *paths[1] = { path };
	struct kl_snapshot sn;

	memset(&sn, 0, sizeof(sn));
	sn.time_s = lf->now.s;
	sn.time_ns = lf->now.ns;
	sn.tree = *root;
	sn.hostname = host;
	sn.paths = paths;
	sn.npaths = 1;
	sn.files = lf->files;
	sn.dirs = ndirs + 1;
	sn.program = prog;
	return kl_session_commit(lf->s, &sn, snap_id, &lf->h->err);
}

/*
 * link-flood HOST FILES collide|spread: a snapshot of HOST whose FILES
 * empty files (in directories of 4096) each belong to a hard-link group
 * of their own: groups (i+1) << 40 (collide), or 1, 2, 3... as a real
 * walk numbers them (spread: the honest baseline of the same size).
 */
static int
link_flood(struct hctx *h, int argc, char **argv)
{
	struct lflood lf;
	struct kl_id root, snap;
	struct timespec ts;
	size_t ndirs = 0;
	int rc;

	memset(&lf, 0, sizeof(lf));
	if (argc != 4 || strlen(argv[1]) < 1 ||
	    strlen(argv[1]) > KL_NAME_MAX ||
	    (lf.files = count_arg(argv[2], LINK_FILES_MAX)) == 0 ||
	    (strcmp(argv[3], "collide") != 0 &&
	    strcmp(argv[3], "spread") != 0)) {
		fprintf(stderr, "usage: link-flood HOST FILES(1..%zu) "
		    "collide|spread\n", LINK_FILES_MAX);
		return 2;
	}
	lf.h = h;
	lf.collide = strcmp(argv[3], "collide") == 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	lf.now.s = ts.tv_sec;
	lf.now.ns = (uint32_t)ts.tv_nsec;
	if ((rc = kl_session_begin(h->r, 3, &lf.s, &h->err)) == KL_OK &&
	    (rc = link_root(&lf, &root, &ndirs)) == KL_OK)
		rc = link_commit(&lf, argv[1], &root, ndirs, &snap);
	kl_session_free(lf.s);
	if (rc != KL_OK) {
		fprintf(stderr, "kluis-hostile: link-flood: %s\n",
		    kl_strerror(rc));
		return 1;
	}
	h_print_id("snapshot", &snap);
	printf("files %zu\nstored %llu\n", lf.files,
	    (unsigned long long)lf.stored);
	return 0;
}

const struct h_attack h_flood_attacks[] = {
	{ "orphan-flood", "PACKS IDS [spread]", orphan_flood },
	{ "index-flood", "PACKS IDS [spread]", index_flood },
	{ "link-flood", "HOST FILES collide|spread", link_flood },
	{ NULL, NULL, NULL },
};
