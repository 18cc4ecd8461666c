/*
 * Writes the seed corpus of the fuzz targets: valid encodings made with
 * the encoders, plus truncated copies and an empty file per target; for
 * fuzz_serve whole client sessions, for fuzz_audit logs written by the
 * server's own appender, for fuzz_profile kluis.conf(5) texts, for
 * fuzz_delta delta records whose streams kl_delta_make made.
 * Usage: fuzz_mkseeds <dir>   (normally tests/fuzz/corpus; the per-target
 * directories must exist).  Not run by ctest; key-file, AEAD-nonce and
 * envelope bytes are random, so the output differs from run to run.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/audit.h"
#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/delta.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/keys.h"
#include "kluis/proto.h"
#include "kluis/store.h"

#include "fuzz.h"

static const char *outdir;

static void
die(const char *what, int r)
{
	fprintf(stderr, "mkseeds: %s: %d\n", what, r);
	exit(1);
}

static void
ok(const char *what, int r)
{
	if (r != KL_OK)
		die(what, r);
}

static void
put_file(const char *target, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    (len > 0 && fwrite(p, 1, len, f) != len) || fclose(f) != 0)
		die(path, KL_E_IO);
}

/* name, name-trunc1 (one byte short) and name-half. */
static void
put_variants(const char *target, const char *name, const struct buf *b)
{
	char n[256];

	put_file(target, name, buf_data(b), buf_size(b));
	if (buf_size(b) < 2)
		return;
	snprintf(n, sizeof(n), "%s-trunc1", name);
	put_file(target, n, buf_data(b), buf_size(b) - 1);
	snprintf(n, sizeof(n), "%s-half", name);
	put_file(target, n, buf_data(b), buf_size(b) / 2);
}

static struct buf *
new_buf(void)
{
	struct buf *b = buf_new(BUF_MAX_DEFAULT);

	if (b == NULL)
		die("buf_new", KL_E_NOMEM);
	return b;
}

static void
id_fill(struct kl_id *id, uint8_t v)
{
	size_t i;

	for (i = 0; i < KL_ID_LEN; i++)
		id->b[i] = (uint8_t)(v + i);
}

static void
seeds_config(void)
{
	struct kl_config c;
	struct buf *b = new_buf();

	memset(&c, 0, sizeof(c));
	id_fill(&c.repo_id, 0x10);
	c.chunk_min = 512 << 10;
	c.chunk_avg = 1 << 20;
	c.chunk_max = 8 << 20;
	c.pack_target = 16 << 20;
	memset(c.box_pk, 0xb0, sizeof(c.box_pk));
	c.created = 1700000000;
	ok("config", kl_config_encode(&c, b));
	put_variants("config", "valid", b);
	buf_reset(b);
	c.chunk_min = 4096;
	c.chunk_avg = 4097;
	c.chunk_max = 16 << 20;
	c.pack_target = 64 << 20;
	c.created = -1;
	ok("config", kl_config_encode(&c, b));
	put_file("config", "limits", buf_data(b), buf_size(b));
	buf_free(b);
}

static void
seeds_lock(void)
{
	struct kl_lock l;
	struct buf *b = new_buf();

	memset(&l, 0, sizeof(l));
	l.time = 1700000000;
	l.exclusive = 1;
	l.pid = 4242;
	strcpy(l.hostname, "backup-host");
	ok("lock", kl_lock_encode(&l, b));
	put_variants("lock", "valid", b);
	buf_reset(b);
	l.time = -5;
	l.exclusive = 0;
	memset(l.hostname, 'h', KL_NAME_MAX);
	ok("lock", kl_lock_encode(&l, b));
	put_file("lock", "long-host", buf_data(b), buf_size(b));
	buf_free(b);
}

/* n contiguous entries from 128; returns where the last ends. */
static uint64_t
entries(struct kl_blob_entry *e, size_t n)
{
	uint64_t pos = KL_PACK_PREAMBLE_LEN;
	size_t i;

	for (i = 0; i < n; i++) {
		e[i].type = i % 2 ? KL_BLOB_TYPE_TREE : KL_BLOB_TYPE_DATA;
		id_fill(&e[i].id, (uint8_t)(0x40 + i));
		e[i].offset = (uint32_t)pos;
		e[i].stored_len = (uint32_t)(40 + 7 * i);
		e[i].raw_len = (uint32_t)(1000 + i);
		pos += e[i].stored_len;
	}
	return pos;
}

static void
pack_seed(const char *name, size_t n)
{
	struct kl_blob_entry e[3];
	struct buf *b = new_buf();

	ok("pack", buf_put_u64le(b, entries(e, n)));
	ok("pack", kl_pack_header_encode(e, n, b));
	put_variants("pack_header", name, b);
	buf_free(b);
}

static void
seeds_pack_header(void)
{
	struct buf *b = new_buf();
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint32_t h = KL_AEAD_OVERHEAD + (uint32_t)kl_padme(4 + 3 * 45);

	pack_seed("one", 1);
	pack_seed("three", 3);
	/* H, then only a trailer: parses as the trailer of an H-byte pack. */
	kl_pack_trailer_encode(h, t);
	ok("trailer", buf_put_u64le(b, KL_PACK_PREAMBLE_LEN + 1000 + h +
	                                   KL_PACK_TRAILER_LEN));
	ok("trailer", buf_put(b, t, sizeof(t)));
	put_variants("pack_header", "trailer", b);
	buf_free(b);
}

static void
seeds_index(void)
{
	struct kl_blob_entry e1[3], e2[1];
	struct kl_index_pack packs[2];
	struct kl_index ix = {NULL, 0, NULL, 0, 0};
	struct kl_id gone[2];
	struct buf *b = new_buf();

	ok("index", kl_index_encode(&ix, KL_INDEX_VERSION_1, b));
	put_file("index", "no-packs", buf_data(b), buf_size(b));
	buf_reset(b);
	entries(e1, 3);
	entries(e2, 1);
	id_fill(&packs[0].pack_id, 0x70);
	packs[0].e = e1;
	packs[0].n = 3;
	id_fill(&packs[1].pack_id, 0x90);
	packs[1].e = e2;
	packs[1].n = 1;
	ix.packs = packs;
	ix.n = 2;
	ok("index", kl_index_encode(&ix, KL_INDEX_VERSION_1, b));
	put_variants("index", "two-packs", b);
	buf_reset(b);
	/* version 2: packs, then the index files it withdraws */
	id_fill(&gone[0], 0x21);
	id_fill(&gone[1], 0x22);
	ix.withdrawn = gone;
	ix.nwithdrawn = 2;
	ok("index", kl_index_encode(&ix, KL_INDEX_VERSION, b));
	put_variants("index", "v2-withdrawals", b);
	buf_free(b);
}

static void
seeds_snapshot(void)
{
	static char *paths[] = {"/etc", "/usr/share/doc"};
	static char *tags[] = {"daily", "\xc3\xa9t\xc3\xa9"};
	static char *root[] = {"/"};
	struct kl_snapshot s;
	struct buf *b = new_buf();

	memset(&s, 0, sizeof(s));
	s.time_s = 1700000123;
	s.time_ns = 456789;
	id_fill(&s.tree, 0x20);
	id_fill(&s.parent, 0x30);
	s.hostname = "host";
	s.username = "root";
	s.gid = 4;
	s.paths = paths;
	s.npaths = 2;
	s.tags = tags;
	s.ntags = 2;
	s.files = 1234;
	s.dirs = 56;
	s.bytes = 789012345;
	s.program = "kluis 0.1.0";
	ok("snapshot", kl_snapshot_encode(&s, b));
	put_variants("snapshot", "valid", b);
	buf_reset(b);
	memset(&s, 0, sizeof(s));
	s.hostname = "h";
	s.paths = root;
	s.npaths = 1;
	ok("snapshot", kl_snapshot_encode(&s, b));
	put_file("snapshot", "minimal", buf_data(b), buf_size(b));
	buf_free(b);
}

static void
base_node(struct kl_node *n, const char *name, uint8_t type)
{
	memset(n, 0, sizeof(*n));
	n->name = (uint8_t *)name;
	n->name_len = strlen(name);
	n->type = type;
	n->mode = 0644;
	n->uid = 1000;
	n->gid = 100;
	n->user = "alice";
	n->group = "users";
	n->mtime.s = 1600000000;
	n->mtime.ns = 1;
	n->atime.s = -1;
	n->atime.ns = 999999999;
	n->inode = 77;
	n->nlink = 1;
	n->target = "";
}

/* FORMAT.md §17: a failed backup with every field set, and the
 * smallest record (a check, host "h", no detail, no program). */
static void
seeds_runrec(void)
{
	struct kl_runrec r;
	struct buf *b = new_buf();
	size_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < KL_RUNREC_ID_LEN; i++)
		r.run_id[i] = (uint8_t)(0x40 + i);
	r.kind = KL_RUNREC_BACKUP;
	r.exit_code = 1;
	r.start_s = 1700000000;
	r.end_s = 1700000100;
	r.files = 12;
	r.bytes = 34567;
	r.bytes_added = 890;
	r.errors = 1;
	id_fill(&r.snapshot, 0x50);
	r.host = "web01";
	r.detail = "cannot open the repository: connection refused";
	r.program = "kluis 0.1.0";
	ok("runrec", kl_runrec_encode(&r, b));
	put_variants("runrec", "valid", b);
	buf_reset(b);
	memset(&r, 0, sizeof(r));
	r.run_id[0] = 1;
	r.kind = KL_RUNREC_CHECK;
	r.host = "h";
	ok("runrec", kl_runrec_encode(&r, b));
	put_file("runrec", "minimal", buf_data(b), buf_size(b));
	buf_free(b);
}

static void
seeds_tree(void)
{
	static struct kl_xattr xa[] = {
	    {"security.selinux", (uint8_t *)"ctx", 3},
	    {"user.empty", NULL, 0},
	};
	static struct kl_hole holes[] = {{0, 4096}, {8192, 4096}};
	struct kl_id chunks[2];
	struct kl_node n[6];
	struct kl_tree t = {NULL, 0};
	struct buf *b = new_buf();

	ok("tree", kl_tree_encode(&t, b));
	put_file("tree", "empty-tree", buf_data(b), buf_size(b));
	buf_reset(b);
	base_node(&n[0], "chr", KL_NODE_CHR);
	n[0].rdev = 0x501;
	base_node(&n[1], "dir", KL_NODE_DIR);
	n[1].mode = 01777;
	id_fill(&n[1].subtree, 0xd0);
	base_node(&n[2], "fifo", KL_NODE_FIFO);
	base_node(&n[3], "file", KL_NODE_FILE);
	n[3].size = 20000;
	n[3].xattrs = xa;
	n[3].nxattrs = 2;
	n[3].holes = holes;
	n[3].nholes = 2;
	id_fill(&chunks[0], 1);
	id_fill(&chunks[1], 2);
	n[3].chunks = chunks;
	n[3].nchunks = 2;
	n[3].nlink = 2;
	n[3].link_group = 7;
	base_node(&n[4], "symlink", KL_NODE_SYMLINK);
	n[4].mode = 0777;
	n[4].target = "../some/where";
	n[4].size = strlen(n[4].target);
	base_node(&n[5], "\xff\xfe", KL_NODE_SOCK);
	n[5].user = "";
	n[5].group = "";
	t.nodes = n;
	t.n = 6;
	ok("tree", kl_tree_encode(&t, b));
	put_variants("tree", "all-types", b);
	buf_reset(b);
	t.nodes = &n[3];
	t.n = 1;
	ok("tree", kl_tree_encode(&t, b));
	put_file("tree", "one-file", buf_data(b), buf_size(b));
	buf_free(b);
}

static void
keyfile_seed(const struct kl_keys *k, const char *pass, uint32_t ops,
    const char *label, const char *name)
{
	struct kl_kdf_params kdf = {ops, 8192};
	struct buf *b = new_buf();

	ok("keyfile",
	    kl_keyfile_seal(k, pass, strlen(pass), &kdf, 1700000000, label, b));
	put_variants("keyfile", name, b);
	buf_free(b);
}

static void
seeds_keyfile(void)
{
	struct kl_keys *k = NULL, *bk = NULL;
	struct kl_id repo, cfg;

	id_fill(&repo, 0x10);
	id_fill(&cfg, 0x50);
	ok("keys", kl_keys_generate(&repo, &cfg, &k));
	ok("keys", kl_keys_derive_backup(k, &bk));
	/* version 2: with sign_pk (FORMAT.md §3) */
	keyfile_seed(k, FUZZ_PASS, 1, "laptop", "full-v2");
	keyfile_seed(bk, FUZZ_PASS, 2, "", "backup-v2");
	/* version 1: a key set without sign_pk is written as before */
	k->has_sign = bk->has_sign = 0;
	keyfile_seed(k, FUZZ_PASS, 1, "laptop", "full");
	keyfile_seed(bk, FUZZ_PASS, 2, "", "backup");
	keyfile_seed(k, "another passphrase", 1, "x", "other-pass");
	keyfile_seed(bk, FUZZ_PASS, 3, "slow-kdf", "slow-kdf");
	kl_keys_free(bk);
	kl_keys_free(k);
}

static void
seeds_blob(void)
{
	uint8_t raw[4096];
	struct buf *b = new_buf();
	size_t i;

	ok("blob", kl_blob_encode(NULL, KL_COMPRESSION_OFF, raw, 0, b));
	put_file("blob", "empty-raw", buf_data(b), buf_size(b));
	buf_reset(b);
	ok("blob", kl_blob_encode(NULL, KL_COMPRESSION_OFF,
	               (const uint8_t *)"hello, kluis", 12, b));
	put_variants("blob", "stored", b);
	buf_reset(b);
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t) "abcabcabd"[i % 9];
	ok("blob", kl_blob_encode(NULL, 3, raw, sizeof(raw), b));
	put_variants("blob", "zstd", b);
	buf_free(b);
}

static void
aead_seed(const char *name, uint8_t type, uint8_t flags, size_t pt_len)
{
	uint8_t in[FUZZ_AEAD_HDR_LEN + 256];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	in[KL_KEY_LEN + KL_NONCE_LEN] = type;
	in[KL_KEY_LEN + KL_NONCE_LEN + 1] = flags;
	put_file("aead", name, in, FUZZ_AEAD_HDR_LEN + pt_len);
}

static void
seeds_aead(void)
{
	uint8_t k[KL_KEY_LEN] = {0};
	uint8_t ct[KL_AEAD_OVERHEAD + 5];
	struct kl_id repo;

	put_file("aead", "short", "k", 1);
	aead_seed("no-plaintext", KL_OBJ_DATA, 0, 0);
	aead_seed("tree-obj-id", KL_OBJ_TREE, FUZZ_AEAD_F_OBJ_ID, 100);
	aead_seed("index-envelope", KL_OBJ_INDEX, FUZZ_AEAD_F_ENVELOPE, 256);
	/* A real ciphertext (zero key, zero repo ID) as the whole input. */
	memset(&repo, 0, sizeof(repo));
	kl_aead_seal(
	    k, &repo, KL_OBJ_DATA, NULL, (const uint8_t *)"hello", 5, ct);
	put_file("aead", "ciphertext", ct, sizeof(ct));
}

static void
chunker_seed(const char *name, uint8_t avg, uint8_t max, size_t len, int zeros)
{
	uint8_t *p = calloc(1, FUZZ_CHUNKER_HDR_LEN + len);
	size_t i;

	if (p == NULL)
		die("chunker", KL_E_NOMEM);
	p[0] = avg;
	p[1] = max;
	p[2] = 0x5c;
	for (i = 3; i < FUZZ_CHUNKER_HDR_LEN; i++)
		p[i] = (uint8_t)(i * 73);
	if (!zeros)
		randombytes_buf_deterministic(p + FUZZ_CHUNKER_HDR_LEN, len,
		    (const uint8_t *)"kluis-fuzz-chunker-seed-00000000");
	put_file("chunker", name, p, FUZZ_CHUNKER_HDR_LEN + len);
	free(p);
}

static void
seeds_chunker(void)
{
	chunker_seed("tiny", 0, 0, 100, 0);
	chunker_seed("cut-at-min", 0, 0, 9000, 0);
	chunker_seed("zeros-cut-at-max", 3, 2, 5000, 1);
	chunker_seed("random-avg", 40, 10, 9000, 0);
}

/* --- fuzz_serve: client byte streams --- */

static int
buf_writer(void *ctx, const void *p, size_t n)
{
	return buf_put(ctx, p, n);
}

static void
frame(struct buf *b, uint8_t type, uint32_t id, const void *p, size_t len)
{
	ok("frame", kl_frame_write(buf_writer, b, type, id, p, len));
}

static void
hello_body(struct buf *body)
{
	struct kl_msg_hello h;

	memset(&h, 0, sizeof(h));
	h.min_version = h.max_version = KL_PROTO_VERSION;
	strcpy(h.client, "seed");
	ok("hello", kl_msg_hello_encode(&h, body));
}

static void
hello(struct buf *b)
{
	struct buf *body = new_buf();

	hello_body(body);
	frame(b, KL_MSG_HELLO, 1, buf_data(body), buf_size(body));
	buf_free(body);
}

/* A request about a file: PUT (a = size), GET, STAT, LIST, REMOVE. */
static void
file_req(struct buf *b, uint8_t type, uint32_t id, uint8_t ft,
    const char *name, uint64_t a, uint64_t bb, uint64_t c)
{
	struct kl_msg_file m = { ft, "", a, bb, c };
	struct buf *body = new_buf();

	snprintf(m.name, sizeof(m.name), "%s", name);
	ok("file", kl_msg_file_encode(type, &m, body));
	frame(b, type, id, buf_data(body), buf_size(body));
	buf_free(body);
}

/* PUT, the data in frames of at most step bytes, PUT_END; named by its
 * hash unless name is given. */
static void
put(struct buf *b, uint32_t id, uint8_t ft, const uint8_t *p, size_t len,
    size_t step, const char *name)
{
	char hex[KL_ID_HEX_LEN + 1];
	struct kl_id h;
	size_t off, n;

	kl_hash(p, len, &h);
	kl_id_hex(&h, hex);
	file_req(b, KL_MSG_PUT, id, ft, name != NULL ? name : hex, len, 0, 0);
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		frame(b, KL_MSG_PUT_DATA, id, p + off, n);
	}
	frame(b, KL_MSG_PUT_END, id, NULL, 0);
}

/* A lock file as the server sees it: header, then 84 opaque bytes. */
static void
lock_bytes(uint8_t out[100], uint32_t version, uint32_t flags, uint8_t fill)
{
	memcpy(out, KL_MAGIC_LOCK, 8);
	kl_le32enc(out + 8, version);
	kl_le32enc(out + 12, flags);
	memset(out + 16, fill, 84);
}

static void
hex_of(const uint8_t *p, size_t len, char hex[KL_ID_HEX_LEN + 1])
{
	struct kl_id h;

	kl_hash(p, len, &h);
	kl_id_hex(&h, hex);
}

/* Every request kind, uploads of each type and each kind of lock. */
static void
serve_session(struct buf *b, uint8_t mode)
{
	uint8_t pack[300], shared[100], excl[100], v1[100];
	char pack_hex[KL_ID_HEX_LEN + 1], lock_hex[KL_ID_HEX_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(pack); i++)
		pack[i] = (uint8_t)(i * 7);
	lock_bytes(shared, KL_LOCK_VERSION, 0, 's');
	lock_bytes(excl, KL_LOCK_VERSION, KL_LOCK_F_EXCLUSIVE, 'x');
	lock_bytes(v1, KL_LOCK_VERSION_1, 0, '1');
	hex_of(pack, sizeof(pack), pack_hex);
	hex_of(shared, sizeof(shared), lock_hex);
	ok("mode", buf_put_u8(b, mode));
	hello(b);
	put(b, 2, KL_FT_DATA, pack, sizeof(pack), 128, NULL);
	put(b, 3, KL_FT_LOCK, shared, sizeof(shared), 100, NULL);
	put(b, 4, KL_FT_LOCK, excl, sizeof(excl), 100, NULL);
	put(b, 5, KL_FT_LOCK, v1, sizeof(v1), 100, NULL);
	put(b, 6, KL_FT_INDEX, pack, 50, 50, NULL);
	put(b, 7, KL_FT_SNAPSHOT, pack, 60, 60, pack_hex);	/* wrong hash */
	file_req(b, KL_MSG_LIST, 8, KL_FT_LOCK, "", 0, 0, 0);
	file_req(b, KL_MSG_LIST, 9, KL_FT_DATA, "", 0, 0, 0);
	file_req(b, KL_MSG_GET, 10, KL_FT_DATA, pack_hex, 0, 0, 0);
	file_req(b, KL_MSG_GET, 11, KL_FT_DATA, pack_hex, 10, 20, 100);
	file_req(b, KL_MSG_STAT, 12, KL_FT_DATA, pack_hex, 0, 0, 0);
	file_req(b, KL_MSG_REMOVE, 13, KL_FT_LOCK, lock_hex, 0, 0, 0);
	file_req(b, KL_MSG_REMOVE, 14, KL_FT_DATA, pack_hex, 0, 0, 0);
	put(b, 15, KL_FT_CONFIG, pack, 10, 10, "config");
	frame(b, KL_MSG_BYE, 16, NULL, 0);
}

static void
serve_create(struct buf *b, uint8_t mode)
{
	uint8_t cfg[KL_CONFIG_LEN], key[200];
	struct buf *body = new_buf();

	memset(cfg, 0x42, sizeof(cfg));
	memset(key, 0x17, sizeof(key));
	ok("mode", buf_put_u8(b, mode));
	ok("create", buf_put_u32le(body, sizeof(cfg)));
	ok("create", buf_put(body, cfg, sizeof(cfg)));
	hello_body(body);
	frame(b, KL_MSG_CREATE, 1, buf_data(body), buf_size(body));
	put(b, 2, KL_FT_KEY, key, sizeof(key), 200, NULL);
	file_req(b, KL_MSG_LIST, 3, KL_FT_KEY, "", 0, 0, 0);
	frame(b, KL_MSG_BYE, 4, NULL, 0);
	buf_free(body);
}

/* Locks cut into one-byte frames: the header arrives piece by piece. */
static void
serve_split_locks(struct buf *b)
{
	uint8_t shared[100], excl[100];

	lock_bytes(shared, KL_LOCK_VERSION, 0, 'S');
	lock_bytes(excl, KL_LOCK_VERSION, KL_LOCK_F_EXCLUSIVE, 'X');
	ok("mode", buf_put_u8(b, KL_ROLE_APPEND));
	hello(b);
	put(b, 2, KL_FT_LOCK, excl, sizeof(excl), 1, NULL);
	put(b, 3, KL_FT_LOCK, shared, sizeof(shared), 1, NULL);
	frame(b, KL_MSG_BYE, 4, NULL, 0);
}

static void
seeds_serve(void)
{
	static const char *const role[] = { "full", "append", "read" };
	struct buf *b = new_buf();
	char name[64];
	uint8_t m;

	for (m = 0; m < 3; m++) {
		buf_reset(b);
		serve_session(b, m);
		snprintf(name, sizeof(name), "%s-session", role[m]);
		put_variants("serve", name, b);
	}
	buf_reset(b);
	serve_create(b, FUZZ_SERVE_NO_REPO | KL_ROLE_FULL);
	put_variants("serve", "create", b);
	buf_reset(b);
	serve_create(b, FUZZ_SERVE_NO_REPO | KL_ROLE_APPEND);
	put_file("serve", "create-append", buf_data(b), buf_size(b));
	buf_reset(b);
	serve_split_locks(b);
	put_variants("serve", "split-locks", b);
	buf_reset(b);	/* a request before HELLO */
	ok("mode", buf_put_u8(b, KL_ROLE_FULL));
	file_req(b, KL_MSG_STAT, 1, KL_FT_DATA, "config", 0, 0, 0);
	put_file("serve", "no-hello", buf_data(b), buf_size(b));
	buf_free(b);
}

/* --- fuzz_audit: audit logs --- */

/* A real log written by kl_audit_append into a scratch directory. */
static struct buf *
audit_log_make(void)
{
	struct kl_audit_who who = { "append-only", 4242, "kluis",
	    "SHA256:seed", "web01", "10.0.0.1", "kluis 0.1.0 %odd name" };
	struct kl_audit_rec rec = { "session-start", 0, NULL, 0, 0, KL_OK };
	char dir[] = "/tmp/kluis-mkseeds.XXXXXX", path[PATH_MAX];
	struct kl_audit *a = NULL;
	struct buf *b = NULL;

	if (mkdtemp(dir) == NULL)
		die("mkdtemp", KL_E_IO);
	ok("audit", kl_audit_open(dir, &a));
	ok("audit", kl_audit_append(a, &who, &rec));
	rec.op = "put";
	rec.ftype = 6;
	rec.name = "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff";
	rec.size = 100;
	rec.outcome = KL_E_PERM;
	ok("audit", kl_audit_append(a, &who, &rec));
	rec.op = "session-end";
	rec.ftype = 0;
	rec.name = NULL;
	rec.gets = 3;
	rec.outcome = KL_OK;
	ok("audit", kl_audit_append(a, &who, &rec));
	kl_audit_close(a);
	snprintf(path, sizeof(path), "%s/%s", dir, KL_AUDIT_FILE);
	ok("audit", kl_file_read_all(path, 1 << 20, &b));
	unlink(path);
	rmdir(dir);
	return b;
}

static void
seeds_audit(void)
{
	struct buf *b = audit_log_make();
	uint8_t *p;
	size_t len = buf_size(b), first;

	put_variants("audit", "intact", b);
	if ((p = malloc(len)) == NULL)
		die("audit", KL_E_NOMEM);
	memcpy(p, buf_data(b), len);
	p[len / 2] ^= 0x01;	/* one byte of the middle record */
	put_file("audit", "edited", p, len);
	memcpy(p, buf_data(b), len);
	first = (size_t)((uint8_t *)memchr(p, '\n', len) - p) + 1;
	put_file("audit", "first-removed", p + first, len - first);
	free(p);
	buf_free(b);
}

/* ---- fuzz_client_reply: request script + server byte stream ---- */

static int
to_buf(void *ctx, const void *p, size_t n)
{
	return buf_put(ctx, p, n);
}

static void
reply_frame(struct buf *out, uint8_t type, uint32_t id,
    const struct buf *body)
{
	ok("frame", kl_frame_write(to_buf, out, type, id,
	    body ? buf_data(body) : NULL, body ? buf_size(body) : 0));
}

static void
frame_u64(struct buf *out, uint8_t type, uint32_t id, uint64_t v)
{
	struct buf *b = new_buf();

	ok("u64", buf_put_u64le(b, v));
	reply_frame(out, type, id, b);
	buf_free(b);
}

static void
frame_err(struct buf *out, uint32_t id, int32_t code, const char *msg)
{
	struct buf *b = new_buf();

	ok("err", kl_msg_err_encode(code, msg, b));
	reply_frame(out, KL_MSG_ERR, id, b);
	buf_free(b);
}

static void
frame_hello_ok(struct buf *out, uint16_t version, uint8_t role)
{
	struct kl_msg_hello_ok h;
	struct buf *b = new_buf();

	memset(&h, 0, sizeof(h));
	h.version = version;
	h.role = role;
	snprintf(h.server, sizeof(h.server), "kluis-server fuzz seed");
	ok("hello_ok", kl_msg_hello_ok_encode(&h, b));
	reply_frame(out, KL_MSG_HELLO_OK, 0, b);
	buf_free(b);
}

static void
frame_data(struct buf *out, uint32_t id, size_t n)
{
	struct buf *b = new_buf();
	uint8_t *p;

	ok("data", buf_reserve(b, n, &p));
	memset(p, 0x5a, n);
	reply_frame(out, KL_MSG_DATA, id, b);
	buf_free(b);
}

static void
frame_list(struct buf *out, uint32_t id, size_t name_len, size_t n)
{
	struct buf *b = new_buf();
	char name[80];
	size_t i;

	for (i = 0; i < n; i++) {
		memset(name, 'a' + (int)i, name_len);
		name[name_len] = '\0';
		if (name_len <= 71) {
			ok("list", kl_msg_list_put(b, name, 1000 + i,
			    1700000000 + (int64_t)i));
			continue;
		}
		/* over the limit: what the encoder refuses, by hand */
		ok("list", buf_put_u16le(b, (uint16_t)name_len));
		ok("list", buf_put(b, name, name_len));
		ok("list", buf_put_u64le(b, 1000 + i));
		ok("list", buf_put_u64le(b, 1700000000));
	}
	reply_frame(out, KL_MSG_DATA, id, b);
	buf_free(b);
}

/* The script (flags byte, request bytes) followed by the stream. */
static void
reply_seed(const char *name, uint8_t flags, const uint8_t *ops, size_t n,
    const struct buf *stream, int variants)
{
	struct buf *b = new_buf();

	ok("seed", buf_put_u8(b, (uint8_t)(flags | (n - 1))));
	ok("seed", buf_put(b, ops, n));
	ok("seed", buf_put(b, buf_data(stream), buf_size(stream)));
	if (variants)
		put_variants("client_reply", name, b);
	else
		put_file("client_reply", name, buf_data(b), buf_size(b));
	buf_free(b);
}

/* PUT 1 byte, GET 132 at 1, STAT, LIST keys, REMOVE: all answered. */
static void
seed_session(void)
{
	static const uint8_t ops[] = { 0x08, 0x09, 0x02, 0x0b, 0x04 };
	struct buf *s = new_buf();

	frame_hello_ok(s, KL_PROTO_VERSION, 1);
	reply_frame(s, KL_MSG_OK, 1, NULL);
	frame_data(s, 2, 100);
	frame_data(s, 2, 32);
	frame_u64(s, KL_MSG_END, 2, 132);
	frame_u64(s, KL_MSG_OK, 3, 4096);
	frame_list(s, 4, 64, 3);
	frame_list(s, 4, 71, 1);
	frame_u64(s, KL_MSG_END, 4, 4);
	reply_frame(s, KL_MSG_OK, 5, NULL);
	reply_seed("session", 0, ops, sizeof(ops), s, 1);
	buf_free(s);
}

/* Every request refused; GET after some DATA: the session goes on. */
static void
seed_errors(void)
{
	static const uint8_t ops[] = { 0x08, 0x11, 0x03, 0x02, 0x04 };
	struct buf *s = new_buf();

	frame_hello_ok(s, KL_PROTO_VERSION, 0);
	frame_err(s, 1, KL_E_EXISTS, "exists");
	frame_data(s, 2, 50);
	frame_err(s, 2, KL_E_IO, "read error");
	frame_err(s, 3, KL_E_PERM, "not for this role");
	frame_err(s, 4, KL_E_NOTFOUND, "");
	frame_err(s, 5, -99, "a code from a newer server");
	reply_seed("errors", 0, ops, sizeof(ops), s, 0);
	buf_free(s);
}

static void
seeds_client_reply(void)
{
	static const uint8_t one_get[] = { 0x01 }, two[] = { 0x00, 0x02 };
	static const uint8_t get132[] = { 0x09 }, list1[] = { 0x03 };
	struct buf *s = new_buf();

	seed_session();
	seed_errors();
	frame_err(s, 0, KL_E_NOTFOUND, "not a kluis repository");
	reply_seed("greet-refused", 0, one_get, 1, s, 0);
	buf_reset(s);
	frame_hello_ok(s, KL_PROTO_VERSION, 2);
	frame_data(s, 1, 100);
	frame_u64(s, KL_MSG_END, 1, 100);
	reply_seed("create-get-whole", 0x80, one_get, 1, s, 0);
	buf_reset(s);
	frame_hello_ok(s, KL_PROTO_VERSION, 0);
	reply_frame(s, KL_MSG_OK, 7, NULL);
	reply_seed("wrong-id", 0, two, 2, s, 0);
	buf_reset(s);
	frame_hello_ok(s, KL_PROTO_VERSION, 0);
	frame_err(s, 1, KL_E_CONN, "the server claims a dropped connection");
	reply_frame(s, KL_MSG_OK, 2, NULL);
	reply_seed("err-code-conn", 0, two, 2, s, 0);
	buf_reset(s);
	frame_hello_ok(s, 1, 0);
	reply_seed("old-version", 0, one_get, 1, s, 0);
	buf_reset(s);
	frame_hello_ok(s, KL_PROTO_VERSION, 0);
	frame_data(s, 1, 100);
	frame_u64(s, KL_MSG_END, 1, 100);
	reply_seed("get-short", 0, get132, 1, s, 0);
	buf_reset(s);
	frame_hello_ok(s, KL_PROTO_VERSION, 0);
	frame_list(s, 1, 72, 1);
	frame_u64(s, KL_MSG_END, 1, 1);
	reply_seed("list-name-too-long", 0, list1, 1, s, 0);
	buf_free(s);
}

/* ---- fuzz_known_hosts: the file's text ---- */

/* The base64 of an Ed25519 key blob whose key bytes are all fill. */
static void
kh_key(char *b64, size_t len, uint8_t fill)
{
	static const uint8_t head[] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e',
	    'd', '2', '5', '5', '1', '9', 0, 0, 0, 32 };
	uint8_t blob[sizeof(head) + 32];

	memcpy(blob, head, sizeof(head));
	memset(blob + sizeof(head), fill, 32);
	sodium_bin2base64(b64, len, blob, sizeof(blob),
	    sodium_base64_VARIANT_ORIGINAL);
}

static void
kh_seed(const char *name, const char *fmt_a, const char *fmt_b)
{
	char a[80], b[80], text[2048];
	int n;

	kh_key(a, sizeof(a), 0xa1);
	kh_key(b, sizeof(b), 0xb2);
	n = snprintf(text, sizeof(text), "%s%s%s%s", fmt_a, a, fmt_b, b);
	if (n < 0 || (size_t)n >= sizeof(text))
		die("kh_seed", KL_E_LIMIT);
	put_file("known_hosts", name, text, (size_t)n);
}

static void
seeds_known_hosts(void)
{
	put_file("known_hosts", "empty", "", 0);
	kh_seed("plain", "# comment\nkh.example,other ssh-ed25519 ",
	    " c\n[10.0.0.7]:2222 ssh-ed25519 ");
	kh_seed("hashed", "|1|AAECAwQFBgcICQoLDA0ODxAREhM=|+oE8OOAIpk16Ha+QTJ"
	    "LdI7ab2QA= ssh-ed25519 ", "\r\n|1|AAECAwQFBgcICQoLDA0ODxAREhM=|O"
	    "r3+u+wAV5Y5nBlNXZaSu6Qa1dI= ssh-ed25519 ");
	kh_seed("revoked", "kh.example ssh-ed25519 ",
	    "\n@revoked * ssh-ed25519 ");
	kh_seed("cert-authority", "@cert-authority *.example ssh-ed25519 ",
	    "\n@cert-authority kh.example ssh-ed25519 ");
	kh_seed("odd-lines", "\t \n@frob kh.example ssh-ed25519 ",
	    "\nkh.example ssh-foo AAAA\n!bad.example,*.example ssh-ed25519 ");
}

/* ---- fuzz_profile: kluis.conf(5) text ---- */

static void
profile_seed(const char *name, const char *text)
{
	put_file("profile", name, text, strlen(text));
}

/*
 * fuzz_delta's bases (fuzz_delta.c, pool_init): base i is bytes of a
 * 32-bit LCG from seed i + 1, up to 64 KiB.  Keep the two in step, or
 * the seeds stop reaching a successful patch.
 */
#define DELTA_SEED_LEN_MAX 65536

static uint8_t delta_pool[4][DELTA_SEED_LEN_MAX];

static void
delta_pool_init(void)
{
	uint32_t x;
	size_t i, j;

	for (i = 0; i < 4; i++) {
		x = (uint32_t)i + 1;
		for (j = 0; j < DELTA_SEED_LEN_MAX; j++) {
			x = x * 1103515245u + 12345u;
			delta_pool[i][j] = (uint8_t)(x >> 16);
		}
	}
}

/* The record of stream s against bases 0..n-1 of lens[], target t. */
static void
delta_rec_put(const char *name, const uint32_t *lens, uint8_t n,
    uint32_t block_len, uint32_t t_len, const uint8_t *s, size_t s_len)
{
	struct kl_delta_rec d;
	struct buf *b = new_buf();
	uint8_t i;

	memset(&d, 0, sizeof(d));
	d.gen = 1;
	d.nbases = n;
	d.block_len = block_len;
	d.target_len = t_len;
	id_fill(&d.target, 0x20);
	for (i = 0; i < n; i++) {
		id_fill(&d.bases[i], (uint8_t)(0x40 + 0x20 * i));
		d.base_lens[i] = lens[i];
	}
	d.delta = s;
	d.delta_len = s_len;
	ok("delta", kl_delta_rec_encode(&d, b));
	put_variants("delta", name, b);
	buf_free(b);
}

/* A real delta of t[0, t_len) against bases 0..n-1 of lens[]. */
static void
delta_seed(const char *name, const uint32_t *lens, uint8_t n,
    const uint8_t *t, uint32_t t_len)
{
	struct kl_delta_base sigs[4];
	struct buf *sb[4], *d = new_buf();
	uint8_t i;

	for (i = 0; i < n; i++) {
		sb[i] = new_buf();
		ok("delta sig", kl_delta_sig(delta_pool[i], lens[i], sb[i]));
		sigs[i].p = buf_data(sb[i]);
		sigs[i].len = buf_size(sb[i]);
	}
	ok("delta make", kl_delta_make(sigs, n, t, t_len, t_len + 1024, d));
	delta_rec_put(name, lens, n, KL_DELTA_BLOCK_LEN, t_len, buf_data(d),
	    buf_size(d));
	for (i = 0; i < n; i++)
		buf_free(sb[i]);
	buf_free(d);
}

/* COPY off len (8-byte fields), appended to a hand-made stream. */
static void
delta_copy(struct buf *s, uint64_t off, uint64_t len)
{
	uint8_t c[17];
	int i;

	c[0] = 0x54;
	for (i = 0; i < 8; i++) {
		c[1 + i] = (uint8_t)(off >> (56 - 8 * i));
		c[9 + i] = (uint8_t)(len >> (56 - 8 * i));
	}
	ok("delta copy", buf_put(s, c, sizeof(c)));
}

/* Hand-made streams: B = 256 across padding and bases, one copy past the
 * end of the base stream, and a base longer than fuzz_delta applies. */
static void
delta_handmade(void)
{
	static const uint8_t magic[4] = { 0x72, 0x73, 0x02, 0x36 };
	static const uint32_t lens[2] = { 3000, 5000 };
	static const uint32_t big = KL_DELTA_TARGET_MAX;
	struct buf *s = new_buf();

	ok("delta", buf_put(s, magic, 4));
	delta_copy(s, 2900, 300);	/* b0's end, padding, b1's start */
	ok("delta", buf_put(s, "\x03" "abc", 4));
	delta_copy(s, 8192 - 100, 100);	/* B = 256: b1's padding */
	ok("delta", buf_put_u8(s, 0));
	delta_rec_put("block256", lens, 2, 256, 403, buf_data(s), buf_size(s));
	buf_reset(s);
	ok("delta", buf_put(s, magic, 4));
	delta_copy(s, 8192 - 99, 100);
	ok("delta", buf_put_u8(s, 0));
	delta_rec_put("copy-past-end", lens, 2, 256, 100, buf_data(s),
	    buf_size(s));
	/* a base over fuzz_delta's cap: decoded, not applied */
	delta_rec_put("over-cap", &big, 1, 256, 100, buf_data(s),
	    buf_size(s));
	buf_free(s);
}

static void
seeds_delta(void)
{
	static const uint32_t one[1] = { 5000 }, two[2] = { 5000, 3000 };
	static const uint32_t four[4] = { 1000, 2049, 4096, 65536 };
	static uint8_t t[DELTA_SEED_LEN_MAX];
	size_t i;

	delta_pool_init();
	memcpy(t, delta_pool[0], 5000);		/* first block changed */
	for (i = 10; i < 110; i++)
		t[i] ^= 0x5a;
	delta_seed("one-base", one, 1, t, 5000);
	memcpy(t, delta_pool[0], 5000);		/* as delta_v1.txt */
	memcpy(t + 5000, delta_pool[1], 3000);
	for (i = 2100; i < 2116; i++)
		t[i] ^= 0xff;
	delta_seed("two-bases", two, 2, t, 8000);
	memcpy(t, delta_pool[3] + 100, 30000);	/* parts, reordered */
	memcpy(t + 30000, delta_pool[2], 4096);
	memcpy(t + 34096, delta_pool[1], 2049);
	memcpy(t + 36145, delta_pool[0], 1000);
	delta_seed("four-bases", four, 4, t, 37145);
	memcpy(t, delta_pool[0], DELTA_SEED_LEN_MAX);	/* at the cap */
	t[40000] ^= 1;
	delta_seed("max-len", four + 3, 1, t, DELTA_SEED_LEN_MAX);
	for (i = 0; i < 4000; i++)		/* nothing in common */
		t[i] = (uint8_t)(i * 7);
	delta_seed("literal-only", one, 1, t, 4000);
	delta_handmade();
}

static void
seeds_profile(void)
{
	profile_seed("valid", "# the profile of a laptop\n"
	    "repo = ssh://backup@nas/srv/kluis\n"
	    "\n"
	    "key-file = /etc/kluis/laptop.key\n"
	    "exclude = *.o\n"
	    "exclude = /home/*/.cache\n"
	    "one-file-system = yes\n");
	profile_seed("crlf-blanks", "\t# indented comment\r\n"
	    "  repo=/srv/kluis  \r\n"
	    "\r\n"
	    "exclude =\tsome file = with equals\t\r\n"
	    "key-file = k");
	profile_seed("refused", "repo = a\n"
	    "repository = b\n"
	    "verbose = yes\n"
	    "repo = c\n"
	    "exclude =\n"
	    "no equals here\n");
}

int
main(int argc, char **argv)
{
	static const char *targets[] = {"config", "pack_header", "index",
	    "snapshot", "tree", "lock", "keyfile", "blob", "aead", "chunker",
	    "serve", "audit", "client_reply", "known_hosts", "profile",
	    "delta", "runrec"};
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_mkseeds <corpus-dir>\n");
		return 2;
	}
	outdir = argv[1];
	if (sodium_init() < 0)
		die("sodium_init", KL_E_CRYPTO);
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		put_file(targets[i], "empty", "", 0);
	seeds_config();
	seeds_lock();
	seeds_pack_header();
	seeds_index();
	seeds_snapshot();
	seeds_runrec();
	seeds_tree();
	seeds_keyfile();
	seeds_blob();
	seeds_aead();
	seeds_chunker();
	seeds_serve();
	seeds_audit();
	seeds_client_reply();
	seeds_known_hosts();
	seeds_profile();
	seeds_delta();
	return 0;
}
