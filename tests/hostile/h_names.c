/*
 * Attacks through names (issue #10 finding 6): host names, user names,
 * tags, paths, file names, symlink targets, owner names, xattr names and
 * key-file labels that carry terminal control sequences.  A backup-only
 * key holds auth_key and box_pk, so it writes snapshots and trees that
 * every full key accepts as authentic; whatever kluis prints of them for a
 * human reaches the operator's terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kluis/err.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "hostile.h"

/*
 * The hostile strings.  ESC sequences that would clear the screen, set the
 * window title, change colours or blink; BEL; CR (overwrites the start of
 * the line); LF (forges a line); a byte that is not UTF-8; C1 CSI (U+009B)
 * and a right-to-left override (U+202E).  Each keeps a plain marker word
 * so that tests can check the name is still recognisable.
 */
#define E_HOST "web\x1b]0;pwned-title\x07" "01\x1b[2J"
#define E_USER "root\x1b[8m"
#define E_TAG1 "nightly\rFAKE"
#define E_TAG2 "tag\xff\xfe" "bad"
#define E_DIR "evil\x1b[31mdir\x1b[0m"
#define E_SUB "sub\rdir"
#define E_FILE_ESC "esc\x1b[5mblink"
#define E_FILE_BEL "bel\x07ring\nforged line"
#define E_FILE_BAD "bad\xff" "utf8"
#define E_FILE_C1 "csi\xc2\x9b" "2Jname"
#define E_FILE_BIDI "bidi\xe2\x80\xaetxt.exe"
#define E_FILE_MISSING "missing\x1b[41mcontent"
#define E_LINK "link\x1b[7m"
#define E_TARGET "\x1b]2;link-target\x07/etc"
#define E_OWNER "own\x1b[1mer"
#define E_GROUP "gr\x07oup"
#define E_XATTR "user.x\x1b[4mattr"
#define E_LABEL "label\x1b]0;key-title\x07\x1b[2J"
#define E_CONTENT "hostile content\n"

/* A node of the given type and name; strings point at constants. */
static void
node_init(struct kl_node *n, uint8_t type, const char *name)
{
	memset(n, 0, sizeof(*n));
	n->name = (uint8_t *)(uintptr_t)name;
	n->name_len = strlen(name);
	n->type = type;
	n->mode = type == KL_NODE_DIR ? 0755 : 0644;
	n->user = (char *)(uintptr_t)E_OWNER;
	n->group = (char *)(uintptr_t)E_GROUP;
	n->mtime.s = n->atime.s = n->ctime.s = 1700000000;
	n->nlink = 1;
}

static int
node_cmp(const void *a, const void *b)
{
	const struct kl_node *x = a, *y = b;

	return kl_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

/* Sorts v and writes it; *id gets its id. */
static int
sorted_put(struct hctx *h, struct kl_session *s, struct kl_node *v, size_t n,
    struct kl_id *id)
{
	qsort(v, n, sizeof(*v), node_cmp);
	return h_tree_put(h, s, v, n, id);
}

/* The leaf directory: every kind of hostile name, one file of real
 * content, one whose content the repository does not hold. */
static int
leaf_put(struct hctx *h, struct kl_session *s, const struct kl_id *data,
    const struct kl_id *sub, struct kl_id *id)
{
	static const char *const files[] = { E_FILE_ESC, E_FILE_BEL,
	    E_FILE_BAD, E_FILE_C1, E_FILE_BIDI };
	static struct kl_xattr xa = { (char *)(uintptr_t)E_XATTR,
	    (uint8_t *)(uintptr_t)"v", 1 };
	struct kl_node v[8];
	struct kl_id ghost;
	size_t i, n = 0;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++, n++) {
		node_init(&v[n], KL_NODE_FILE, files[i]);
		v[n].size = sizeof(E_CONTENT) - 1;
		v[n].chunks = (struct kl_id *)(uintptr_t)data;
		v[n].nchunks = 1;
	}
	v[0].xattrs = &xa;
	v[0].nxattrs = 1;
	randombytes_buf(ghost.b, sizeof(ghost.b));
	node_init(&v[n], KL_NODE_FILE, E_FILE_MISSING);
	v[n].size = sizeof(E_CONTENT) - 1;
	v[n].chunks = &ghost;
	v[n++].nchunks = 1;
	node_init(&v[n], KL_NODE_SYMLINK, E_LINK);
	v[n].mode = 0777;
	v[n].target = (char *)(uintptr_t)E_TARGET;
	v[n++].size = strlen(E_TARGET);
	node_init(&v[n], KL_NODE_DIR, E_SUB);
	v[n++].subtree = *sub;
	return sorted_put(h, s, v, n, id);
}

/* /E_DIR/{files, E_SUB/E_FILE_ESC}; *root gets the root tree. */
static int
trees_put(struct hctx *h, struct kl_session *s, const struct kl_id *data,
    struct kl_id *root)
{
	struct kl_node v[1];
	struct kl_id sub, leaf;
	int rc;

	node_init(&v[0], KL_NODE_FILE, E_FILE_ESC);
	v[0].size = sizeof(E_CONTENT) - 1;
	v[0].chunks = (struct kl_id *)(uintptr_t)data;
	v[0].nchunks = 1;
	if ((rc = sorted_put(h, s, v, 1, &sub)) != KL_OK ||
	    (rc = leaf_put(h, s, data, &sub, &leaf)) != KL_OK)
		return rc;
	node_init(&v[0], KL_NODE_DIR, E_DIR);
	v[0].subtree = leaf;
	return sorted_put(h, s, v, 1, root);
}

static int
snapshot_commit(struct hctx *h, struct kl_session *s,
    const struct kl_id *root, struct kl_id *id)
{
	static char *paths[] = { "/" E_DIR };
	static char *tags[] = { E_TAG1, E_TAG2 };
	struct kl_snapshot snap;

	memset(&snap, 0, sizeof(snap));
	snap.time_s = (int64_t)time(NULL);
	snap.tree = *root;
	snap.hostname = E_HOST;
	snap.username = E_USER;
	snap.paths = paths;
	snap.npaths = 1;
	snap.tags = tags;
	snap.ntags = 2;
	snap.files = 7;
	snap.dirs = 3;
	snap.bytes = 7 * (sizeof(E_CONTENT) - 1);
	snap.program = "kluis-hostile";
	return kl_session_commit(s, &snap, id, &h->err);
}

/*
 * A backup-only key file labelled E_LABEL (passphrase: random), written to
 * the local file out: the append-only role may not create key files, so
 * only whoever can write the repository's disk (the server) can place it.
 */
static int
key_put(struct hctx *h, const char *out)
{
	struct kl_id id;
	struct kl_kdf_params kdf;
	char pass[33];
	uint8_t rnd[16];
	int rc;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(pass, sizeof(pass), rnd, sizeof(rnd));
	if ((rc = kl_kdf_preset("interactive", &kdf)) != KL_OK)
		return rc;
	rc = kl_repo_key_add(h->r, 1, pass, strlen(pass), &kdf, E_LABEL, out,
	    &id, &h->err);
	sodium_memzero(pass, sizeof(pass));
	return rc;
}

/*
 * snapshot-escape KEY_OUT: an authentic snapshot whose host name, user
 * name, tags, path and tree (file names, a symlink target, owner names,
 * an xattr name) carry control sequences, and a backup-only key file
 * whose label does, written to KEY_OUT.  One file's content is not in the
 * repository, so that a restore warns about it by name.
 */
static int
snapshot_escape(struct hctx *h, int argc, char **argv)
{
	struct kl_session *s = NULL;
	struct kl_id data, root, snap;
	uint64_t stored;
	int rc, added;

	if (argc != 2) {
		fprintf(stderr, "usage: snapshot-escape KEY_OUT\n");
		return 2;
	}
	kl_blob_id(h->k, (const uint8_t *)E_CONTENT, sizeof(E_CONTENT) - 1,
	    &data);
	if ((rc = h_session_open(h, &s)) != KL_OK)
		goto out;
	if ((rc = kl_session_blob_add(s, KL_BLOB_TYPE_DATA, &data,
	    (const uint8_t *)E_CONTENT, sizeof(E_CONTENT) - 1, &added,
	    &stored, &h->err)) != KL_OK ||
	    (rc = trees_put(h, s, &data, &root)) != KL_OK ||
	    (rc = snapshot_commit(h, s, &root, &snap)) != KL_OK)
		goto out;
	if ((rc = key_put(h, argv[1])) != KL_OK)
		goto out;
	h_print_id("snapshot", &snap);
out:
	kl_session_free(s);
	if (rc != KL_OK)
		fprintf(stderr, "kluis-hostile: snapshot-escape: %s\n",
		    kl_strerror(rc));
	return rc == KL_OK ? 0 : 1;
}

const struct h_attack h_names_attacks[] = {
	{ "snapshot-escape", "KEY_OUT", snapshot_escape },
	{ NULL, NULL, NULL },
};
