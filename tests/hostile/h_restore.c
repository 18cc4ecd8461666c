/*
 * Attacks on what a restore costs, through authentic trees (issue #10
 * finding 6).  A backup-only key holds everything a backup needs - the
 * session keys are its own, trees and snapshots are sealed to the
 * repository's public key - so it writes snapshots whose trees say
 * whatever it likes, and an operator who restores one (after an incident,
 * `restore latest`) pays for what they say:
 *   tree-links N        N hard-link groups of two names each;
 *   tree-holes N        one file of 2N bytes with N holes and N chunks;
 *   file-claims-size B  one file that claims B bytes: 15 real bytes, the
 *                       rest in chunks an index file places in a pack of
 *                       garbage, so its content fails after a first write.
 * Each prints "snapshot <id>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "hostile.h"

#define LINKS_PER_DIR 1000	/* groups per directory: 2000 entries */
#define ENTRIES_MAX 1000000	/* N of tree-links and tree-holes */
#define CLAIM_CHUNK ((uint64_t)64 << 20)	/* the largest raw blob */
#define CLAIM_CHUNKS_MAX 1000000
#define REAL_CONTENT "hello, hostile\n"
#define NAME_SLOT 24		/* bytes per generated name */

/* A directory or file node named name (not copied), times now. */
static void
node_init(struct kl_node *n, const char *name, uint8_t type, uint32_t mode)
{
	memset(n, 0, sizeof(*n));
	n->name = (uint8_t *)(uintptr_t)name;
	n->name_len = strlen(name);
	n->type = type;
	n->mode = mode;
	n->mtime.s = n->atime.s = n->ctime.s = (int64_t)time(NULL);
	n->nlink = 1;
}

/*
 * Commits a snapshot of host "hostile" whose root holds the directory
 * /hostile with tree sub, declaring the given totals.
 */
static int
snap_commit(struct hctx *h, struct kl_session *s, const struct kl_id *sub,
    uint64_t files, uint64_t dirs, uint64_t bytes)
{
	static char path[] = "/hostile";
	char *paths[1] = { path };
	struct kl_snapshot sn;
	struct kl_node top;
	struct kl_id root, id;
	int rc;

	node_init(&top, "hostile", KL_NODE_DIR, 0755);
	top.subtree = *sub;
	if ((rc = h_tree_put(h, s, &top, 1, &root)) != KL_OK)
		return rc;
	memset(&sn, 0, sizeof(sn));
	sn.time_s = (int64_t)time(NULL);
	sn.tree = root;
	sn.hostname = "hostile";
	sn.username = "";
	sn.paths = paths;
	sn.npaths = 1;
	sn.files = files;
	sn.dirs = dirs + 2;
	sn.bytes = bytes;
	sn.program = "kluis-hostile";
	if ((rc = kl_session_commit(s, &sn, &id, &h->err)) == KL_OK)
		h_print_id("snapshot", &id);
	return rc;
}

static int
count_arg(const char *a, uint64_t max, uint64_t *n)
{
	char *end;

	*n = strtoull(a, &end, 10);
	return *end == '\0' && *n > 0 && *n <= max;
}

/* Directory d of tree-links: groups [first, first + m), names a*, b*. */
static int
links_dir(struct hctx *h, struct kl_session *s, uint64_t first, size_t m,
    struct kl_id *id)
{
	struct kl_node *nodes = calloc(2 * m, sizeof(*nodes));
	char *names = malloc(2 * m * NAME_SLOT);
	size_t i, k;
	int rc = KL_E_NOMEM;

	if (nodes != NULL && names != NULL) {
		for (k = 0; k < 2 * m; k++) {
			i = k % m;
			snprintf(names + NAME_SLOT * k, NAME_SLOT, "%c%06zu",
			    k < m ? 'a' : 'b', i);
			node_init(&nodes[k], names + NAME_SLOT * k,
			    KL_NODE_FILE, 0644);
			nodes[k].nlink = 2;
			nodes[k].inode = first + i + 1;
			/* numbers an unkeyed multiplicative hash slots alike */
			nodes[k].link_group = (first + i + 1) << 32;
		}
		rc = h_tree_put(h, s, nodes, 2 * m, id);
	}
	free(nodes);
	free(names);
	return rc;
}

/* tree-links N: N groups of two hard-linked names, 1000 per directory. */
static int
tree_links(struct hctx *h, int argc, char **argv)
{
	struct kl_session *s = NULL;
	struct kl_node *dirs = NULL;
	struct kl_id sub;
	char *names = NULL;
	uint64_t n, d, nd;
	int rc = KL_E_NOMEM;

	if (argc != 2 || !count_arg(argv[1], ENTRIES_MAX, &n)) {
		fprintf(stderr, "usage: tree-links N (1..%d)\n", ENTRIES_MAX);
		return 2;
	}
	nd = (n + LINKS_PER_DIR - 1) / LINKS_PER_DIR;
	if ((dirs = calloc(nd, sizeof(*dirs))) == NULL ||
	    (names = malloc(nd * NAME_SLOT)) == NULL ||
	    (rc = h_session_open(h, &s)) != KL_OK)
		goto out;
	for (d = 0; d < nd && rc == KL_OK; d++) {
		snprintf(names + NAME_SLOT * d, NAME_SLOT, "d%05llu",
		    (unsigned long long)d);
		node_init(&dirs[d], names + NAME_SLOT * d, KL_NODE_DIR, 0755);
		rc = links_dir(h, s, d * LINKS_PER_DIR, d + 1 < nd ?
		    LINKS_PER_DIR : n - d * LINKS_PER_DIR, &dirs[d].subtree);
	}
	if (rc == KL_OK && (rc = h_tree_put(h, s, dirs, nd, &sub)) == KL_OK)
		rc = snap_commit(h, s, &sub, 2 * n, nd, 0);
out:
	kl_session_free(s);
	free(dirs);
	free(names);
	return rc == KL_OK ? 0 : 1;
}

/* Adds raw (len bytes) as a data blob; *id gets its id. */
static int
blob_put(struct hctx *h, struct kl_session *s, const void *raw, size_t len,
    struct kl_id *id)
{
	uint64_t stored;
	int added;

	kl_blob_id(h->k, raw, len, id);
	return kl_session_blob_add(s, KL_OBJ_DATA, id, raw, len, &added,
	    &stored, &h->err);
}

/* Commits a snapshot whose /hostile holds file f alone. */
static int
file_commit(struct hctx *h, struct kl_session *s, struct kl_node *f)
{
	struct kl_id sub;
	int rc;

	if ((rc = h_tree_put(h, s, f, 1, &sub)) != KL_OK)
		return rc;
	return snap_commit(h, s, &sub, 1, 0, f->size);
}

/*
 * tree-holes N: a file of 2N bytes, each even byte 'x' and each odd byte
 * a hole, in N chunks of the same 2-byte blob: a restore that looks for
 * each chunk's holes from the first costs N * N.
 */
static int
tree_holes(struct hctx *h, int argc, char **argv)
{
	static const uint8_t two[2] = { 'x', 0 };
	struct kl_session *s = NULL;
	struct kl_node f;
	struct kl_id id;
	uint64_t n, i;
	int rc = KL_E_NOMEM;

	if (argc != 2 || !count_arg(argv[1], ENTRIES_MAX, &n)) {
		fprintf(stderr, "usage: tree-holes N (1..%d)\n", ENTRIES_MAX);
		return 2;
	}
	node_init(&f, "holes", KL_NODE_FILE, 0644);
	f.size = 2 * n;
	f.nchunks = f.nholes = (size_t)n;
	if ((f.chunks = calloc(n, sizeof(*f.chunks))) == NULL ||
	    (f.holes = calloc(n, sizeof(*f.holes))) == NULL ||
	    (rc = h_session_open(h, &s)) != KL_OK ||
	    (rc = blob_put(h, s, two, sizeof(two), &id)) != KL_OK)
		goto out;
	for (i = 0; i < n; i++) {
		f.chunks[i] = id;
		f.holes[i].off = 2 * i + 1;
		f.holes[i].len = 1;
	}
	rc = file_commit(h, s, &f);
out:
	kl_session_free(s);
	free(f.chunks);
	free(f.holes);
	return rc == KL_OK ? 0 : 1;
}

/*
 * A pack of garbage claiming two data blobs of raw lengths big and rest
 * (rest may be 0: one blob), named by an index file of its own.
 */
static int
garbage_put(struct hctx *h, uint64_t big, uint64_t rest, struct kl_id ids[2])
{
	struct h_blob b[2];
	struct kl_id pack, index;
	size_t i, n = rest > 0 ? 2 : 1;

	memset(b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		b[i].type = KL_BLOB_TYPE_DATA;
		randombytes_buf(b[i].id.b, sizeof(b[i].id.b));
		b[i].raw_len = (size_t)(i == 0 ? big : rest);
		b[i].stored_len = 64;
		ids[i] = b[i].id;
	}
	return h_claim(h, b, n, &pack, &index);
}

/*
 * file-claims-size BYTES: a file whose chunks add up to BYTES - the first
 * 15 real, the rest blobs of garbage - so the plan accepts it, the first
 * chunk is written and the others fail.
 */
static int
file_claims(struct hctx *h, int argc, char **argv)
{
	struct kl_session *s = NULL;
	struct kl_node f;
	struct kl_id g[2];
	uint64_t bytes, rest, k, i;
	size_t real = strlen(REAL_CONTENT);
	int rc = KL_E_NOMEM;

	if (argc != 2 || !count_arg(argv[1], UINT64_MAX, &bytes) ||
	    bytes <= real || (bytes - real) / CLAIM_CHUNK >= CLAIM_CHUNKS_MAX) {
		fprintf(stderr, "usage: file-claims-size BYTES (more than %zu, "
		    "under %d x 64 MiB)\n", real, CLAIM_CHUNKS_MAX);
		return 2;
	}
	rest = bytes - real;
	k = rest / CLAIM_CHUNK;
	node_init(&f, "claims", KL_NODE_FILE, 0644);
	f.size = bytes;
	f.nchunks = (size_t)(1 + k + (rest % CLAIM_CHUNK != 0));
	if ((f.chunks = calloc(f.nchunks, sizeof(*f.chunks))) == NULL ||
	    (rc = h_session_open(h, &s)) != KL_OK ||
	    (rc = blob_put(h, s, REAL_CONTENT, real, &f.chunks[0])) !=
	    KL_OK ||
	    (rc = garbage_put(h, k ? CLAIM_CHUNK : rest % CLAIM_CHUNK,
	    k ? rest % CLAIM_CHUNK : 0, g)) != KL_OK)
		goto out;
	for (i = 1; i < f.nchunks; i++)
		f.chunks[i] = k == 0 || i <= k ? g[0] : g[1];
	rc = file_commit(h, s, &f);
out:
	kl_session_free(s);
	free(f.chunks);
	return rc == KL_OK ? 0 : 1;
}

const struct h_attack h_restore_attacks[] = {
	{ "tree-links", "N", tree_links },
	{ "tree-holes", "N", tree_holes },
	{ "file-claims-size", "BYTES", file_claims },
	{ NULL, NULL, NULL },
};
