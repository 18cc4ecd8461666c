/*
 * Unit tests of the plaintext record codecs (format/format_*.c,
 * docs/FORMAT.md §6, §8-§12): round trips, one rejection test per rule,
 * known-answer vectors (tests/vectors/format_v1.txt) and deterministic
 * mutation tests of every decoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/hash.h"

#include "mutate.h"

#define VECTORS_FILE KL_VECTORS_DIR "/format_v1.txt"
#define RAW_CAP 16384

/* A mutable byte string for hand-made (often invalid) encodings. */
struct raw {
	uint8_t d[RAW_CAP];
	size_t len;
};

static void
id_fill(struct kl_id *id, uint8_t v)
{
	size_t i;

	for (i = 0; i < KL_ID_LEN; i++)
		id->b[i] = (uint8_t)(v + i);
}

static struct buf *
new_buf(void)
{
	struct buf *b = buf_new(BUF_MAX_DEFAULT);

	assert_non_null(b);
	return b;
}

static void
raw_from_buf(struct raw *r, const struct buf *b)
{
	assert_true(buf_size(b) <= RAW_CAP);
	memcpy(r->d, buf_data(b), buf_size(b));
	r->len = buf_size(b);
}

static void
raw_put(struct raw *r, const void *p, size_t n)
{
	assert_true(r->len + n <= RAW_CAP);
	memcpy(r->d + r->len, p, n);
	r->len += n;
}

static void
raw_u32(struct raw *r, uint32_t v)
{
	uint8_t p[4];

	kl_le32enc(p, v);
	raw_put(r, p, 4);
}

/* ---- sample records ---- */

static void
sample_config(struct kl_config *c)
{
	memset(c, 0, sizeof(*c));
	id_fill(&c->repo_id, 0x10);
	c->chunk_min = 512 << 10;
	c->chunk_avg = 1 << 20;
	c->chunk_max = 8 << 20;
	c->pack_target = 16 << 20;
	memset(c->box_pk, 0xb0, sizeof(c->box_pk));
	c->created = 1700000000;
}

/* n contiguous entries starting at 128; returns where the last ends. */
static uint64_t
sample_entries(struct kl_blob_entry *e, size_t n)
{
	uint64_t pos = KL_PACK_PREAMBLE_LEN;
	size_t i;

	for (i = 0; i < n; i++) {
		e[i].type = i % 2 ? KL_BLOB_TYPE_TREE : KL_BLOB_TYPE_DATA;
		id_fill(&e[i].id, (uint8_t)(0x40 + i));
		e[i].offset = (uint32_t)pos;
		e[i].stored_len = (uint32_t)(100 + 7 * i);
		e[i].raw_len = (uint32_t)(1000 + i);
		pos += e[i].stored_len;
	}
	return pos;
}

static struct kl_blob_entry ix_e1[3], ix_e2[2];
static struct kl_index_pack ix_packs[2];
static struct kl_id ix_withdrawn[2];

/* Two packs and (version 2) two withdrawn index files. */
static void
sample_index(struct kl_index *ix)
{
	sample_entries(ix_e1, 3);
	sample_entries(ix_e2, 2);
	id_fill(&ix_packs[0].pack_id, 0x70);
	ix_packs[0].e = ix_e1;
	ix_packs[0].n = 3;
	id_fill(&ix_packs[1].pack_id, 0x90);
	ix_packs[1].e = ix_e2;
	ix_packs[1].n = 2;
	ix->packs = ix_packs;
	ix->n = 2;
	id_fill(&ix_withdrawn[0], 0x11);
	id_fill(&ix_withdrawn[1], 0x12);
	ix->withdrawn = ix_withdrawn;
	ix->nwithdrawn = 2;
}

static char *snap_paths[] = { "/etc", "/usr/share/doc" };
static char *snap_tags[] = { "daily", "\xc3\xa9t\xc3\xa9" };

static void
sample_snapshot(struct kl_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->time_s = 1700000123;
	s->time_ns = 456789;
	id_fill(&s->tree, 0x20);
	id_fill(&s->parent, 0x30);
	s->hostname = "host";
	s->username = "root";
	s->uid = 0;
	s->gid = 4;
	s->paths = snap_paths;
	s->npaths = 2;
	s->tags = snap_tags;
	s->ntags = 2;
	s->files = 1234;
	s->dirs = 56;
	s->bytes = 789012345;
	s->program = "kluis 0.1.0";
}

static void
sample_lock(struct kl_lock *l)
{
	memset(l, 0, sizeof(*l));
	l->time = -5;
	l->exclusive = 1;
	l->pid = 4242;
	strcpy(l->hostname, "backup-host");
}

/* Nodes built on static storage: kl_node_valid needs no allocation. */
static struct kl_xattr file_xattrs[] = {
	{ "security.selinux", (uint8_t *)"ctx", 3 },
	{ "system.posix_acl_access", (uint8_t *)"\x02\x00\x00\x00", 4 },
	{ "user.empty", NULL, 0 },
};
static struct kl_hole file_holes[] = { { 0, 4096 }, { 8192, 4096 } };
static struct kl_id file_chunks[3];

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
	n->ctime.s = 1600000002;
	n->inode = 77;
	n->device = 0x803;
	n->nlink = 1;
	n->target = "";
}

static void
file_node(struct kl_node *n, const char *name)
{
	base_node(n, name, KL_NODE_FILE);
	n->size = 20000;
	n->xattrs = file_xattrs;
	n->nxattrs = 3;
	n->holes = file_holes;
	n->nholes = 2;
	id_fill(&file_chunks[0], 1);
	id_fill(&file_chunks[1], 2);
	id_fill(&file_chunks[2], 3);
	n->chunks = file_chunks;
	n->nchunks = 3;
}

#define FULL_TREE_N 10
static struct kl_node full_nodes[FULL_TREE_N];

/* Every node type, xattrs, holes, a hard link pair, a non-UTF-8 name;
 * names in bytewise order. */
static void
full_tree(struct kl_tree *t)
{
	struct kl_node *n = full_nodes;

	base_node(&n[0], "blk", KL_NODE_BLK);
	n[0].rdev = 0x801;
	base_node(&n[1], "chr", KL_NODE_CHR);
	n[1].rdev = 0x501;
	base_node(&n[2], "dir", KL_NODE_DIR);
	n[2].mode = 01777;
	id_fill(&n[2].subtree, 0xd0);
	base_node(&n[3], "fifo", KL_NODE_FIFO);
	file_node(&n[4], "file");
	n[4].mode = 04755;
	file_node(&n[5], "link1");
	n[5].nlink = 2;
	n[5].link_group = 7;
	file_node(&n[6], "link2");
	n[6].nlink = 2;
	n[6].link_group = 7;
	base_node(&n[7], "sock", KL_NODE_SOCK);
	base_node(&n[8], "symlink", KL_NODE_SYMLINK);
	n[8].mode = 0777;
	n[8].target = "../some/where";
	n[8].size = strlen(n[8].target);
	base_node(&n[9], "\xff\xfe", KL_NODE_FILE);
	n[9].user = "";
	n[9].group = "";
	t->nodes = n;
	t->n = FULL_TREE_N;
}

/* ---- comparisons ---- */

static void
assert_id_eq(const struct kl_id *a, const struct kl_id *b)
{
	assert_memory_equal(a->b, b->b, KL_ID_LEN);
}

static void
assert_str_eq(const char *a, const char *b)
{
	assert_string_equal(a == NULL ? "" : a, b == NULL ? "" : b);
}

static void
assert_ts_eq(const struct kl_ts *a, const struct kl_ts *b)
{
	assert_true(a->s == b->s);
	assert_int_equal(a->ns, b->ns);
}

static void
assert_xattrs_eq(const struct kl_node *a, const struct kl_node *b)
{
	size_t i;

	assert_int_equal(a->nxattrs, b->nxattrs);
	for (i = 0; i < a->nxattrs; i++) {
		assert_string_equal(a->xattrs[i].name, b->xattrs[i].name);
		assert_int_equal(a->xattrs[i].value_len,
		    b->xattrs[i].value_len);
		if (a->xattrs[i].value_len > 0)
			assert_memory_equal(a->xattrs[i].value,
			    b->xattrs[i].value, a->xattrs[i].value_len);
	}
}

static void
assert_lists_eq(const struct kl_node *a, const struct kl_node *b)
{
	size_t i;

	assert_int_equal(a->nholes, b->nholes);
	for (i = 0; i < a->nholes; i++) {
		assert_int_equal(a->holes[i].off, b->holes[i].off);
		assert_int_equal(a->holes[i].len, b->holes[i].len);
	}
	assert_int_equal(a->nchunks, b->nchunks);
	for (i = 0; i < a->nchunks; i++)
		assert_id_eq(&a->chunks[i], &b->chunks[i]);
}

static void
assert_node_eq(const struct kl_node *a, const struct kl_node *b)
{
	assert_int_equal(a->name_len, b->name_len);
	assert_memory_equal(a->name, b->name, a->name_len);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_str_eq(a->user, b->user);
	assert_str_eq(a->group, b->group);
	assert_ts_eq(&a->mtime, &b->mtime);
	assert_ts_eq(&a->atime, &b->atime);
	assert_ts_eq(&a->ctime, &b->ctime);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->inode, b->inode);
	assert_int_equal(a->device, b->device);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->link_group, b->link_group);
	assert_str_eq(a->target, b->target);
	assert_xattrs_eq(a, b);
	assert_lists_eq(a, b);
	assert_id_eq(&a->subtree, &b->subtree);
}

static void
assert_entry_eq(const struct kl_blob_entry *a, const struct kl_blob_entry *b)
{
	assert_int_equal(a->type, b->type);
	assert_id_eq(&a->id, &b->id);
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->stored_len, b->stored_len);
	assert_int_equal(a->raw_len, b->raw_len);
}

static void
assert_strv_eq(char *const *a, size_t an, char *const *b, size_t bn)
{
	size_t i;

	assert_int_equal(an, bn);
	for (i = 0; i < an; i++)
		assert_string_equal(a[i], b[i]);
}

static void
assert_snapshot_eq(const struct kl_snapshot *a, const struct kl_snapshot *b)
{
	assert_true(a->time_s == b->time_s);
	assert_int_equal(a->time_ns, b->time_ns);
	assert_id_eq(&a->tree, &b->tree);
	assert_id_eq(&a->parent, &b->parent);
	assert_string_equal(a->hostname, b->hostname);
	assert_string_equal(a->username, b->username);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_strv_eq(a->paths, a->npaths, b->paths, b->npaths);
	assert_strv_eq(a->tags, a->ntags, b->tags, b->ntags);
	assert_int_equal(a->files, b->files);
	assert_int_equal(a->dirs, b->dirs);
	assert_int_equal(a->bytes, b->bytes);
	assert_string_equal(a->program, b->program);
}

/* ---- encoders into a raw byte string ---- */

static void
enc_config(const struct kl_config *c, struct raw *r)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_config_encode(c, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

static void
enc_tree(const struct kl_tree *t, struct raw *r)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_tree_encode(t, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

static void
enc_snapshot(const struct kl_snapshot *s, struct raw *r)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_snapshot_encode(s, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

static void
enc_index(const struct kl_index *ix, struct raw *r)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_index_encode(ix, KL_INDEX_VERSION, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

static void
enc_lock(const struct kl_lock *l, struct raw *r)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_lock_encode(l, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

static void
enc_pack_header(const struct kl_blob_entry *e, size_t n, struct raw *r)
{
	struct buf *b = new_buf();

	assert_int_equal(kl_pack_header_encode(e, n, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

/* Tree header with the given count, for hand-made trees. */
static void
raw_tree_head(struct raw *r, uint32_t count)
{
	r->len = 0;
	raw_put(r, "KLTR\x01\x00\x00\x00", 8);
	raw_u32(r, count);
}

/* Appends the encoding of one node; returns the offset where it starts. */
static size_t
raw_tree_node(struct raw *r, const struct kl_node *n)
{
	struct kl_tree t = { (struct kl_node *)(uintptr_t)n, 1 };
	struct raw one;
	size_t at = r->len;

	enc_tree(&t, &one);
	raw_put(r, one.d + 12, one.len - 12);
	return at;
}

static int
tree_decode_rc(const struct raw *r)
{
	struct kl_tree t = { NULL, 0 };
	int rc = kl_tree_decode(r->d, r->len, &t);

	if (rc != KL_OK)
		assert_null(t.nodes);
	kl_tree_clear(&t);
	return rc;
}

/* ---- vectors ---- */

/* Finds "name = hex" in the vectors file; *p is malloc()ed. */
static int
vec_get(const char *name, uint8_t **p, size_t *len)
{
	char line[8192], *v;
	FILE *f = fopen(VECTORS_FILE, "r");
	size_t i, n, nl = strlen(name);
	unsigned x;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nl) != 0 ||
		    strncmp(line + nl, " = ", 3) != 0)
			continue;
		v = line + nl + 3;
		n = strcspn(v, "\r\n") / 2;
		assert_non_null(*p = malloc(n + 1));
		for (i = 0; i < n; i++) {
			assert_int_equal(sscanf(v + 2 * i, "%2x", &x), 1);
			(*p)[i] = (uint8_t)x;
		}
		*len = n;
		fclose(f);
		return 0;
	}
	fclose(f);
	return -1;
}

/* Compares an encoding with the stored vector; prints it when missing. */
static void
vec_check(const char *name, const struct raw *r)
{
	uint8_t *p = NULL;
	size_t len = 0, i;

	if (vec_get(name, &p, &len) != 0) {
		fprintf(stderr, "%s = ", name);
		for (i = 0; i < r->len; i++)
			fprintf(stderr, "%02x", r->d[i]);
		fprintf(stderr, "\n");
		fail_msg("vector %s missing from %s", name, VECTORS_FILE);
	}
	assert_int_equal(len, r->len);
	assert_memory_equal(p, r->d, len);
	free(p);
}

/* ======================= tests ======================= */

static void
test_file_hdr_round_trip(void **state)
{
	struct buf *b = new_buf();
	struct buf v;

	assert_int_equal(kl_file_hdr_put(b, KL_MAGIC_INDEX), KL_OK);
	assert_int_equal(buf_size(b), KL_FILE_HDR_LEN);
	assert_memory_equal(buf_data(b),
	    "KLUISIDX\x01\x00\x00\x00\x00\x00\x00\x00", KL_FILE_HDR_LEN);
	buf_view_init(&v, buf_data(b), buf_size(b));
	assert_int_equal(kl_file_hdr_get(&v, KL_MAGIC_INDEX), KL_OK);
	assert_int_equal(buf_avail(&v), 0);
	buf_free(b);
}

static void
test_file_hdr_other_magic_corrupt(void **state)
{
	struct buf v;

	buf_view_init(&v, (const uint8_t *)"KLUISSNP\x01\0\0\0\0\0\0\0", 16);
	assert_int_equal(kl_file_hdr_get(&v, KL_MAGIC_INDEX), KL_E_CORRUPT);
}

static void
test_file_hdr_bad_version_unsupported(void **state)
{
	struct buf v;

	buf_view_init(&v, (const uint8_t *)"KLUISIDX\x02\0\0\0\0\0\0\0", 16);
	assert_int_equal(kl_file_hdr_get(&v, KL_MAGIC_INDEX),
	    KL_E_UNSUPPORTED);
}

static void
test_file_hdr_flags_unsupported(void **state)
{
	struct buf v;

	buf_view_init(&v, (const uint8_t *)"KLUISIDX\x01\0\0\0\0\0\0\x80", 16);
	assert_int_equal(kl_file_hdr_get(&v, KL_MAGIC_INDEX),
	    KL_E_UNSUPPORTED);
}

static void
test_file_hdr_truncated_corrupt(void **state)
{
	struct buf v;

	buf_view_init(&v, (const uint8_t *)"KLUISIDX\x01\0\0\0\0\0\0", 15);
	assert_int_equal(kl_file_hdr_get(&v, KL_MAGIC_INDEX), KL_E_CORRUPT);
}

static void
test_config_round_trip(void **state)
{
	struct kl_config c, d;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	assert_int_equal(r.len, KL_CONFIG_LEN);
	memset(&d, 0, sizeof(d));
	assert_int_equal(kl_config_decode(r.d, r.len, &d), KL_OK);
	assert_id_eq(&c.repo_id, &d.repo_id);
	assert_int_equal(c.chunk_min, d.chunk_min);
	assert_int_equal(c.chunk_avg, d.chunk_avg);
	assert_int_equal(c.chunk_max, d.chunk_max);
	assert_int_equal(c.pack_target, d.pack_target);
	assert_memory_equal(c.box_pk, d.box_pk, 32);
	assert_true(c.created == d.created);
}

static void
test_config_bad_version_unsupported(void **state)
{
	struct kl_config c;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	r.d[8] = 2;
	assert_int_equal(kl_config_decode(r.d, r.len, &c), KL_E_UNSUPPORTED);
}

static void
test_config_flags_unsupported(void **state)
{
	struct kl_config c;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	r.d[12] = 1;
	assert_int_equal(kl_config_decode(r.d, r.len, &c), KL_E_UNSUPPORTED);
}

static void
test_config_trailing_byte_corrupt(void **state)
{
	struct kl_config c;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	r.d[r.len++] = 0;
	assert_int_equal(kl_config_decode(r.d, r.len, &c), KL_E_CORRUPT);
}

/* Each variant breaks one §6 chunk rule; the decoder rejects all. */
static void
test_config_chunk_params_rejected(void **state)
{
	static const uint32_t bad[][3] = {
		{ 4095, 8192, 16384 },			/* min < 4 KiB */
		{ 8192, 8192, 16384 },			/* min == avg */
		{ 8192, 16384, 16384 },			/* avg == max */
		{ 8192, 4096, 16384 },			/* avg < min */
		{ 4096, 8192, (16 << 20) + 1 },	/* max > 16 MiB */
	};
	struct kl_config c, out;
	struct raw r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sample_config(&c);
		enc_config(&c, &r);
		kl_le32enc(r.d + 48, bad[i][0]);
		kl_le32enc(r.d + 52, bad[i][1]);
		kl_le32enc(r.d + 56, bad[i][2]);
		assert_int_equal(kl_config_decode(r.d, r.len, &out),
		    KL_E_CORRUPT);
	}
}

static void
test_config_chunk_bounds_accepted(void **state)
{
	struct kl_config c, out;
	struct raw r;

	sample_config(&c);
	c.chunk_min = 4096;
	c.chunk_avg = 4097;
	c.chunk_max = 16 << 20;
	c.pack_target = 64 << 20;
	enc_config(&c, &r);
	assert_int_equal(kl_config_decode(r.d, r.len, &out), KL_OK);
}

static void
test_config_pack_target_rejected(void **state)
{
	struct kl_config c, out;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	kl_le32enc(r.d + 60, (1 << 20) - 1);
	assert_int_equal(kl_config_decode(r.d, r.len, &out), KL_E_CORRUPT);
	kl_le32enc(r.d + 60, (64 << 20) + 1);
	assert_int_equal(kl_config_decode(r.d, r.len, &out), KL_E_CORRUPT);
}

static void
test_config_encode_invalid_leaves_output(void **state)
{
	struct kl_config c;
	struct buf *b = new_buf();

	assert_int_equal(buf_put(b, "xy", 2), KL_OK);
	sample_config(&c);
	c.chunk_avg = c.chunk_max;
	assert_int_equal(kl_config_encode(&c, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 2);
	buf_free(b);
}

static void
test_config_decode_failure_leaves_output(void **state)
{
	struct kl_config c, out;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	r.d[63] = 0x7f;		/* pack_target far over 64 MiB */
	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(kl_config_decode(r.d, r.len, &out), KL_E_CORRUPT);
	assert_int_equal(out.chunk_min, 0xa5a5a5a5u);
}

static void
test_pack_header_round_trip(void **state)
{
	struct kl_blob_entry e[5], *d = NULL;
	uint64_t end = sample_entries(e, 5);
	struct raw r;
	size_t n = 0, i;

	enc_pack_header(e, 5, &r);
	/* padme(4 + 225 = 229): E=7, S=3, mask 15 -> 240 */
	assert_int_equal(r.len, 240);
	for (i = 229; i < r.len; i++)
		assert_int_equal(r.d[i], 0);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n), KL_OK);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_entry_eq(&e[i], &d[i]);
	free(d);
}

/* Type 3 (delta, §7.1) is a blob type; 4 and 0 are not. */
static void
test_pack_header_type4_unsupported(void **state)
{
	struct kl_blob_entry e[2], *d = NULL;
	uint64_t end = sample_entries(e, 2);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 2, &r);
	r.d[4 + KL_ENTRY_LEN] = 3;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_OK);
	assert_int_equal(d[1].type, KL_BLOB_TYPE_DELTA);
	free(d);
	d = NULL;
	r.d[4 + KL_ENTRY_LEN] = 4;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_UNSUPPORTED);
	assert_null(d);
	r.d[4 + KL_ENTRY_LEN] = 0;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_UNSUPPORTED);
	assert_null(d);
}

static void
test_pack_header_unknown_type_unsupported(void **state)
{
	struct kl_blob_entry e[1], *d = NULL;
	uint64_t end = sample_entries(e, 1);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 1, &r);
	r.d[4] = 0;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_UNSUPPORTED);
	r.d[4] = 16;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_UNSUPPORTED);
}

static void
test_pack_header_gap_between_entries_corrupt(void **state)
{
	struct kl_blob_entry e[3], *d = NULL;
	uint64_t end = sample_entries(e, 3);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 3, &r);
	/* second entry one byte later than where the first ends */
	kl_le32enc(r.d + 4 + KL_ENTRY_LEN + 33, e[1].offset + 1);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end + 1, &d, &n),
	    KL_E_CORRUPT);
}

/* Same total length and end, entries 1 and 2 listed out of file order. */
static void
test_pack_header_entries_out_of_order_corrupt(void **state)
{
	struct kl_blob_entry e[3], *d = NULL;
	uint64_t end = sample_entries(e, 3);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 3, &r);
	kl_le32enc(r.d + 4 + KL_ENTRY_LEN + 33, e[2].offset);
	kl_le32enc(r.d + 4 + 2 * KL_ENTRY_LEN + 33, e[1].offset);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_CORRUPT);
	assert_null(d);
}

static void
test_pack_header_first_not_at_preamble_corrupt(void **state)
{
	struct kl_blob_entry e[1], *d = NULL;
	uint64_t end = sample_entries(e, 1);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 1, &r);
	/* same end, but starting one byte into the preamble's successor */
	kl_le32enc(r.d + 4 + 33, 129);
	kl_le32enc(r.d + 4 + 37, e[0].stored_len - 1);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_CORRUPT);
}

static void
test_pack_header_end_not_at_header_corrupt(void **state)
{
	struct kl_blob_entry e[2], *d = NULL;
	uint64_t end = sample_entries(e, 2);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 2, &r);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end + 1, &d, &n),
	    KL_E_CORRUPT);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end - 1, &d, &n),
	    KL_E_CORRUPT);
}

static void
test_pack_header_count_zero_corrupt(void **state)
{
	static const uint8_t p[4] = { 0 };
	struct kl_blob_entry *d = NULL;
	size_t n = 0;

	assert_int_equal(kl_pack_header_decode(p, 4, 128, &d, &n),
	    KL_E_CORRUPT);
}

static void
test_pack_header_count_over_limit(void **state)
{
	struct kl_blob_entry *d = NULL;
	struct raw r = { .len = 0 };
	size_t n = 0;

	raw_u32(&r, KL_PACK_BLOBS_MAX + 1);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, 128, &d, &n),
	    KL_E_LIMIT);
}

static void
test_pack_header_count_exceeds_input_corrupt(void **state)
{
	struct kl_blob_entry e[1], *d = NULL;
	uint64_t end = sample_entries(e, 1);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 1, &r);
	kl_le32enc(r.d, KL_PACK_BLOBS_MAX);
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_CORRUPT);
}

static void
test_pack_header_nonzero_padding_corrupt(void **state)
{
	struct kl_blob_entry e[1], *d = NULL;
	uint64_t end = sample_entries(e, 1);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 1, &r);
	assert_int_equal(r.len, 52);	/* padme(49) */
	r.d[51] = 1;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_CORRUPT);
}

static void
test_pack_header_trailing_bytes_corrupt(void **state)
{
	struct kl_blob_entry e[1], *d = NULL;
	uint64_t end = sample_entries(e, 1);
	struct raw r;
	size_t n = 0;

	enc_pack_header(e, 1, &r);
	r.d[r.len++] = 0;
	assert_int_equal(kl_pack_header_decode(r.d, r.len, end, &d, &n),
	    KL_E_CORRUPT);
}

static void
test_pack_header_encode_gap_inval(void **state)
{
	struct kl_blob_entry e[2];
	struct buf *b = new_buf();

	sample_entries(e, 2);
	e[1].offset++;
	assert_int_equal(kl_pack_header_encode(e, 2, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	assert_int_equal(kl_pack_header_encode(e, 0, b), KL_E_INVAL);
	buf_free(b);
}

static void
test_pack_trailer_round_trip(void **state)
{
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint64_t off = 0;
	uint32_t h = 0;

	kl_pack_trailer_encode(92, t);
	assert_memory_equal(t, "\x5c\x00\x00\x00KLUISEND", 12);
	assert_int_equal(kl_pack_trailer_decode(t, 12, 1000, &off, &h), KL_OK);
	assert_int_equal(h, 92);
	assert_int_equal(off, 1000 - 12 - 92);
}

static void
test_pack_trailer_bad_magic_corrupt(void **state)
{
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint64_t off = 0;
	uint32_t h = 0;

	kl_pack_trailer_encode(92, t);
	t[11] = 'X';
	assert_int_equal(kl_pack_trailer_decode(t, 12, 1000, &off, &h),
	    KL_E_CORRUPT);
}

static void
test_pack_trailer_header_does_not_fit_corrupt(void **state)
{
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint64_t off = 0;
	uint32_t h = 0;

	kl_pack_trailer_encode(200, t);
	/* 128 + 200 + 12 = 340: one byte short, then exact */
	assert_int_equal(kl_pack_trailer_decode(t, 12, 339, &off, &h),
	    KL_E_CORRUPT);
	assert_int_equal(kl_pack_trailer_decode(t, 12, 340, &off, &h), KL_OK);
	assert_int_equal(off, 128);
}

static void
test_pack_trailer_header_len_out_of_range_corrupt(void **state)
{
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint64_t off = 0;
	uint32_t h = 0;

	kl_pack_trailer_encode(91, t);	/* < 40 + padme(49) */
	assert_int_equal(kl_pack_trailer_decode(t, 12, 100000, &off, &h),
	    KL_E_CORRUPT);
	kl_pack_trailer_encode(UINT32_MAX, t);
	assert_int_equal(kl_pack_trailer_decode(t, 12, KL_PACK_MAX, &off, &h),
	    KL_E_CORRUPT);
}

static void
test_pack_trailer_pack_too_large_limit(void **state)
{
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint64_t off = 0;
	uint32_t h = 0;

	kl_pack_trailer_encode(92, t);
	assert_int_equal(kl_pack_trailer_decode(t, 12, KL_PACK_MAX + 1, &off,
	    &h), KL_E_LIMIT);
}

static void
test_index_round_trip(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;
	size_t i, j;

	sample_index(&ix);
	enc_index(&ix, &r);
	/* version 2: the withdrawal count and two ids follow the packs */
	assert_int_equal(r.len, 4 + 2 * (32 + 4) + 5 * KL_ENTRY_LEN + 4 +
	    2 * KL_ID_LEN);
	assert_int_equal(kl_index_decode(r.d, r.len, 5, KL_INDEX_VERSION, &d), KL_OK);
	assert_int_equal(d.n, 2);
	for (i = 0; i < d.n; i++) {
		assert_id_eq(&ix.packs[i].pack_id, &d.packs[i].pack_id);
		assert_int_equal(ix.packs[i].n, d.packs[i].n);
		for (j = 0; j < d.packs[i].n; j++)
			assert_entry_eq(&ix.packs[i].e[j], &d.packs[i].e[j]);
	}
	kl_index_clear(&d);
	assert_null(d.packs);
}

static void
test_index_empty_round_trip(void **state)
{
	struct kl_index ix = { NULL, 0, NULL, 0, 0 }, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	enc_index(&ix, &r);
	assert_int_equal(r.len, 8);
	assert_int_equal(kl_index_decode(r.d, r.len, 0, KL_INDEX_VERSION, &d), KL_OK);
	assert_int_equal(d.n, 0);
}

static void
test_index_type4_unsupported(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	r.d[4 + 36 + KL_ENTRY_LEN] = 3;	/* pack 0, entry 1: a delta blob */
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d),
	    KL_OK);
	assert_int_equal(d.packs[0].e[1].type, KL_BLOB_TYPE_DELTA);
	kl_index_clear(&d);
	r.d[4 + 36 + KL_ENTRY_LEN] = 4;
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d),
	    KL_E_UNSUPPORTED);
	assert_null(d.packs);
}

static void
test_index_offset_before_preamble_corrupt(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	kl_le32enc(r.d + 4 + 36 + 33, 127);
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d), KL_E_CORRUPT);
}

static void
test_index_stored_len_below_overhead_corrupt(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	kl_le32enc(r.d + 4 + 36 + 37, 39);
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d), KL_E_CORRUPT);
}

static void
test_index_raw_len_over_limit(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	kl_le32enc(r.d + 4 + 36 + 41, (64u << 20) + 1);
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d), KL_E_LIMIT);
}

static void
test_index_max_entries_limit(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	assert_int_equal(kl_index_decode(r.d, r.len, 4, KL_INDEX_VERSION, &d), KL_E_LIMIT);
	assert_null(d.packs);
	assert_int_equal(kl_index_decode(r.d, r.len, 1, KL_INDEX_VERSION, &d), KL_E_LIMIT);
}

static void
test_index_pack_count_exceeds_input_corrupt(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	kl_le32enc(r.d, UINT32_MAX);
	assert_int_equal(kl_index_decode(r.d, r.len, SIZE_MAX, KL_INDEX_VERSION, &d),
	    KL_E_CORRUPT);
}

static void
test_index_blob_count_zero_corrupt(void **state)
{
	struct kl_index d = { NULL, 0, NULL, 0, 0 };
	struct raw r = { .len = 0 };
	uint8_t id[32] = { 0 };

	raw_u32(&r, 1);
	raw_put(&r, id, 32);
	raw_u32(&r, 0);
	raw_put(&r, id, 32);
	raw_put(&r, id, 13);	/* as long as one entry */
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d), KL_E_CORRUPT);
}

static void
test_index_trailing_bytes_corrupt(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	r.d[r.len++] = 0;
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION, &d), KL_E_CORRUPT);
}

static void
test_index_encode_empty_pack_inval(void **state)
{
	struct kl_index ix;
	struct buf *b = new_buf();

	sample_index(&ix);
	ix.packs[1].n = 0;
	assert_int_equal(kl_index_encode(&ix, KL_INDEX_VERSION, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
}

static void
test_index_v2_withdrawals_round_trip(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION,
	    &d), KL_OK);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.nwithdrawn, 2);
	assert_memory_equal(d.withdrawn[0].b, ix_withdrawn[0].b, KL_ID_LEN);
	assert_memory_equal(d.withdrawn[1].b, ix_withdrawn[1].b, KL_ID_LEN);
	kl_index_clear(&d);
	assert_null(d.withdrawn);
	assert_int_equal(d.nwithdrawn, 0);
}

static void
test_index_v1_has_no_withdrawals(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct buf *b = new_buf();

	sample_index(&ix);
	/* version 1 cannot say it */
	assert_int_equal(kl_index_encode(&ix, KL_INDEX_VERSION_1, b),
	    KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	ix.nwithdrawn = 0;
	assert_int_equal(kl_index_encode(&ix, KL_INDEX_VERSION_1, b), KL_OK);
	assert_int_equal(kl_index_decode(buf_data(b), buf_size(b), 100,
	    KL_INDEX_VERSION_1, &d), KL_OK);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.nwithdrawn, 0);
	kl_index_clear(&d);
	/* a version-2 reader wants the withdrawal count: truncated */
	assert_int_equal(kl_index_decode(buf_data(b), buf_size(b), 100,
	    KL_INDEX_VERSION, &d), KL_E_CORRUPT);
	assert_int_equal(kl_index_decode(buf_data(b), buf_size(b), 100, 3,
	    &d), KL_E_UNSUPPORTED);
	buf_free(b);
}

static void
test_index_withdrawals_must_increase(void **state)
{
	struct kl_index ix, d = { NULL, 0, NULL, 0, 0 };
	struct buf *b = new_buf();
	struct raw r;

	sample_index(&ix);
	ix_withdrawn[1] = ix_withdrawn[0];	/* a duplicate */
	assert_int_equal(kl_index_encode(&ix, KL_INDEX_VERSION, b),
	    KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	/* the same bytes made by hand: the reader refuses them too */
	sample_index(&ix);
	enc_index(&ix, &r);
	memcpy(r.d + r.len - KL_ID_LEN, ix_withdrawn[0].b, KL_ID_LEN);
	assert_int_equal(kl_index_decode(r.d, r.len, 100, KL_INDEX_VERSION,
	    &d), KL_E_CORRUPT);
	buf_free(b);
}

static void
test_snapshot_round_trip(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	memset(&d, 0, sizeof(d));
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_OK);
	assert_snapshot_eq(&s, &d);
	kl_snapshot_clear(&d);
	assert_null(d.paths);
}

static void
test_snapshot_empty_optional_fields_round_trip(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	s.username = "";
	s.program = NULL;	/* encoded as empty */
	s.ntags = 0;
	s.tags = NULL;
	s.npaths = 1;
	enc_snapshot(&s, &r);
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_OK);
	assert_string_equal(d.username, "");
	assert_string_equal(d.program, "");
	assert_int_equal(d.ntags, 0);
	kl_snapshot_clear(&d);
}

/* Offset of the first path's str16 in sample_snapshot's encoding. */
#define SNAP_HOST_OFF 76
#define SNAP_PATH_OFF (SNAP_HOST_OFF + 2 + 4 + 2 + 4 + 8 + 2)

static void
test_snapshot_bad_nanoseconds_corrupt(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	kl_le32enc(r.d + 8, 1000000000);
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_E_CORRUPT);
}

static void
test_snapshot_nul_in_string_corrupt(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	assert_memory_equal(r.d + SNAP_HOST_OFF, "\x04\x00host", 6);
	r.d[SNAP_HOST_OFF + 3] = 0;
	memset(&d, 0, sizeof(d));
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_E_CORRUPT);
	assert_null(d.hostname);
}

static void
test_snapshot_relative_path_corrupt(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	assert_memory_equal(r.d + SNAP_PATH_OFF, "\x04\x00/etc", 6);
	r.d[SNAP_PATH_OFF + 2] = 'x';
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_E_CORRUPT);
}

static void
test_snapshot_encode_unnormalised_path_inval(void **state)
{
	static char *bad[] = { "etc", "/etc/", "//etc", "/./etc", "/a/..",
	    "/a/../b", "" };
	struct kl_snapshot s;
	struct buf *b = new_buf();
	char *p[1];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sample_snapshot(&s);
		p[0] = bad[i];
		s.paths = p;
		s.npaths = 1;
		assert_int_equal(kl_snapshot_encode(&s, b), KL_E_INVAL);
		assert_int_equal(buf_size(b), 0);
	}
	buf_free(b);
}

static void
test_snapshot_root_path_accepted(void **state)
{
	struct kl_snapshot s, d;
	char *p[] = { "/", "/.hidden/..x/a..b" };
	struct raw r;

	sample_snapshot(&s);
	s.paths = p;
	s.npaths = 2;
	enc_snapshot(&s, &r);
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_OK);
	assert_string_equal(d.paths[0], "/");
	kl_snapshot_clear(&d);
}

static void
test_snapshot_encode_no_paths_inval(void **state)
{
	struct kl_snapshot s;
	struct buf *b = new_buf();

	sample_snapshot(&s);
	s.npaths = 0;
	assert_int_equal(kl_snapshot_encode(&s, b), KL_E_INVAL);
	buf_free(b);
}

static void
test_snapshot_encode_empty_hostname_inval(void **state)
{
	struct kl_snapshot s;
	struct buf *b = new_buf();

	sample_snapshot(&s);
	s.hostname = "";
	assert_int_equal(kl_snapshot_encode(&s, b), KL_E_INVAL);
	buf_free(b);
}

static void
test_snapshot_path_count_exceeds_input_corrupt(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	r.d[SNAP_PATH_OFF - 2] = 0x00;	/* 1024 paths in 8 bytes */
	r.d[SNAP_PATH_OFF - 1] = 0x04;
	r.len = SNAP_PATH_OFF + 8;
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_E_CORRUPT);
}

static void
test_snapshot_too_many_tags_limit(void **state)
{
	static char *tags[KL_SNAP_TAGS_MAX + 1];
	struct kl_snapshot s;
	struct buf *b = new_buf();
	size_t i;

	for (i = 0; i <= KL_SNAP_TAGS_MAX; i++)
		tags[i] = "t";
	sample_snapshot(&s);
	s.tags = tags;
	s.ntags = KL_SNAP_TAGS_MAX + 1;
	assert_int_equal(kl_snapshot_encode(&s, b), KL_E_LIMIT);
	buf_free(b);
}

static void
test_snapshot_trailing_bytes_corrupt(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	r.d[r.len++] = 0;
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_E_CORRUPT);
}

static void
test_tree_round_trip_every_node_type(void **state)
{
	struct kl_tree t, d = { NULL, 0 };
	struct raw r;
	size_t i;

	full_tree(&t);
	enc_tree(&t, &r);
	assert_int_equal(kl_tree_decode(r.d, r.len, &d), KL_OK);
	assert_int_equal(d.n, t.n);
	for (i = 0; i < t.n; i++)
		assert_node_eq(&t.nodes[i], &d.nodes[i]);
	kl_tree_clear(&d);
	assert_null(d.nodes);
}

static void
test_tree_empty_round_trip(void **state)
{
	struct kl_tree t = { NULL, 0 }, d;
	struct raw r;

	enc_tree(&t, &r);
	assert_int_equal(r.len, 12);
	assert_memory_equal(r.d, "KLTR\x01\0\0\0\0\0\0\0", 12);
	assert_int_equal(kl_tree_decode(r.d, r.len, &d), KL_OK);
	assert_int_equal(d.n, 0);
	kl_tree_clear(&d);
}

static void
test_tree_unsorted_names_corrupt(void **state)
{
	struct kl_node a, b;
	struct raw r;

	base_node(&a, "a", KL_NODE_FIFO);
	base_node(&b, "b", KL_NODE_FIFO);
	raw_tree_head(&r, 2);
	raw_tree_node(&r, &b);
	raw_tree_node(&r, &a);
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_duplicate_names_corrupt(void **state)
{
	struct kl_node a;
	struct raw r;

	base_node(&a, "a", KL_NODE_FIFO);
	raw_tree_head(&r, 2);
	raw_tree_node(&r, &a);
	raw_tree_node(&r, &a);
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_prefix_sorts_first(void **state)
{
	struct kl_node a, b;
	struct raw r;

	base_node(&a, "ab", KL_NODE_FIFO);
	base_node(&b, "abc", KL_NODE_FIFO);
	raw_tree_head(&r, 2);
	raw_tree_node(&r, &a);
	raw_tree_node(&r, &b);
	assert_int_equal(tree_decode_rc(&r), KL_OK);
	raw_tree_head(&r, 2);
	raw_tree_node(&r, &b);
	raw_tree_node(&r, &a);
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

/* kl_tree_find: every name of a sorted tree by binary search - a prefix
 * and its extension told apart - and none for a name in between, before
 * the first, after the last, or in an empty or absent tree. */
static void
test_tree_find_names_every_node_and_no_other(void **state)
{
	static const char *const names[] = { "a", "ab", "abc", "b", "zz" };
	struct kl_node n[5];
	struct kl_tree t;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		base_node(&n[i], names[i], KL_NODE_FIFO);
	t.nodes = n;
	t.n = 5;
	for (i = 0; i < 5; i++)
		assert_ptr_equal(kl_tree_find(&t, (const uint8_t *)names[i],
		    strlen(names[i])), &n[i]);
	assert_null(kl_tree_find(&t, (const uint8_t *)"aa", 2));
	assert_null(kl_tree_find(&t, (const uint8_t *)"", 0));
	assert_null(kl_tree_find(&t, (const uint8_t *)"zzz", 3));
	assert_null(kl_tree_find(&t, (const uint8_t *)"abcd", 4));
	t.n = 0;
	assert_null(kl_tree_find(&t, (const uint8_t *)"a", 1));
	assert_null(kl_tree_find(NULL, (const uint8_t *)"a", 1));
}

/* One node named by 'name_len' x's, with its name bytes replaced. */
static int
decode_named(const char *name, size_t len)
{
	struct kl_node a;
	struct raw r;
	size_t at;
	char xs[8] = "xxxxxxx";

	assert_true(len < sizeof(xs));
	xs[len] = '\0';
	base_node(&a, xs, KL_NODE_FIFO);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	memcpy(r.d + at + 2, name, len);
	return tree_decode_rc(&r);
}

static void
test_tree_dot_name_corrupt(void **state)
{
	assert_int_equal(decode_named(".", 1), KL_E_CORRUPT);
	assert_int_equal(decode_named(".x", 2), KL_OK);
}

static void
test_tree_dotdot_name_corrupt(void **state)
{
	assert_int_equal(decode_named("..", 2), KL_E_CORRUPT);
	assert_int_equal(decode_named("...", 3), KL_OK);
}

static void
test_tree_slash_in_name_corrupt(void **state)
{
	assert_int_equal(decode_named("a/b", 3), KL_E_CORRUPT);
}

static void
test_tree_nul_in_name_corrupt(void **state)
{
	assert_int_equal(decode_named("a\0b", 3), KL_E_CORRUPT);
}

static void
test_tree_empty_name_corrupt(void **state)
{
	struct raw r;
	struct kl_node a;
	size_t at;

	base_node(&a, "x", KL_NODE_FIFO);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	/* name "x" becomes the empty name */
	r.d[at] = 0;
	memmove(r.d + at + 2, r.d + at + 3, r.len - at - 3);
	r.len--;
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_non_utf8_name_accepted(void **state)
{
	assert_int_equal(decode_named("\xff\xfe", 2), KL_OK);
}

static void
test_tree_unknown_type_unsupported(void **state)
{
	struct kl_node a;
	struct raw r;
	size_t at;

	base_node(&a, "a", KL_NODE_FIFO);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	r.d[at + 3] = 8;
	assert_int_equal(tree_decode_rc(&r), KL_E_UNSUPPORTED);
	r.d[at + 3] = 0;
	assert_int_equal(tree_decode_rc(&r), KL_E_UNSUPPORTED);
}

static void
test_tree_node_flags_unsupported(void **state)
{
	struct kl_node a;
	struct raw r;
	size_t at;

	base_node(&a, "a", KL_NODE_FIFO);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	r.d[at + 4] = 2;	/* bit 0 is "delta entries follow" (§11) */
	assert_int_equal(tree_decode_rc(&r), KL_E_UNSUPPORTED);
	r.d[at + 4] = 0x80;
	assert_int_equal(tree_decode_rc(&r), KL_E_UNSUPPORTED);
}

static void
test_tree_bad_version_unsupported(void **state)
{
	struct raw r;

	raw_tree_head(&r, 0);
	r.d[4] = 2;
	assert_int_equal(tree_decode_rc(&r), KL_E_UNSUPPORTED);
}

static void
test_tree_reserved_unsupported(void **state)
{
	struct raw r;

	raw_tree_head(&r, 0);
	r.d[7] = 1;
	assert_int_equal(tree_decode_rc(&r), KL_E_UNSUPPORTED);
}

static void
test_tree_bad_magic_corrupt(void **state)
{
	struct raw r;

	raw_tree_head(&r, 0);
	r.d[0] = 'k';
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_trailing_bytes_corrupt(void **state)
{
	struct kl_tree t;
	struct raw r;

	full_tree(&t);
	enc_tree(&t, &r);
	r.d[r.len++] = 0;
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_count_exceeds_input_corrupt(void **state)
{
	struct raw r;

	raw_tree_head(&r, KL_TREE_ENTRIES_MAX);
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_count_over_limit(void **state)
{
	struct raw r;

	raw_tree_head(&r, KL_TREE_ENTRIES_MAX + 1);
	assert_int_equal(tree_decode_rc(&r), KL_E_LIMIT);
}

/*
 * Offset of the xattr count in a single-node raw tree of node n: the
 * fixed part after the name, owner names and target.
 */
static size_t
xattr_count_off(size_t at, const struct kl_node *n)
{
	return at + 2 + n->name_len + 1 + 1 + 12 + 2 + strlen(n->user) + 2 +
	    strlen(n->group) + 36 + 8 + 16 + 4 + 8 + 8 + 2 + strlen(n->target);
}

/* Holes and chunks have no count limit: a huge count must fail on the
 * input length, not on the allocation. */
static void
test_tree_huge_hole_count_corrupt(void **state)
{
	struct kl_node a;
	struct raw r;
	size_t at;

	base_node(&a, "f", KL_NODE_FILE);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	kl_le32enc(r.d + xattr_count_off(at, &a) + 4, UINT32_MAX);
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_huge_chunk_count_corrupt(void **state)
{
	struct kl_node a;
	struct raw r;
	size_t at;

	base_node(&a, "f", KL_NODE_FILE);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	kl_le32enc(r.d + xattr_count_off(at, &a) + 8, UINT32_MAX);
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_xattr_count_over_limit(void **state)
{
	struct kl_node a;
	struct raw r;
	size_t at;

	base_node(&a, "f", KL_NODE_FILE);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	kl_le32enc(r.d + xattr_count_off(at, &a), KL_XATTRS_MAX + 1);
	assert_int_equal(tree_decode_rc(&r), KL_E_LIMIT);
}

static void
test_tree_nul_in_user_corrupt(void **state)
{
	struct kl_node a;
	struct raw r;
	size_t at;

	base_node(&a, "a", KL_NODE_FIFO);
	raw_tree_head(&r, 1);
	at = raw_tree_node(&r, &a);
	assert_memory_equal(r.d + at + 17, "\x05\x00" "alice", 7);
	r.d[at + 20] = 0;
	assert_int_equal(tree_decode_rc(&r), KL_E_CORRUPT);
}

static void
test_tree_encode_unsorted_inval(void **state)
{
	struct kl_node n[2];
	struct kl_tree t = { n, 2 };
	struct buf *b = new_buf();

	base_node(&n[0], "b", KL_NODE_FIFO);
	base_node(&n[1], "a", KL_NODE_FIFO);
	assert_int_equal(kl_tree_encode(&t, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	base_node(&n[1], "b", KL_NODE_FIFO);
	assert_int_equal(kl_tree_encode(&t, b), KL_E_INVAL);
	buf_free(b);
}

static void
test_tree_encode_invalid_node_inval(void **state)
{
	struct kl_node n[2];
	struct kl_tree t = { n, 2 };
	struct buf *b = new_buf();

	base_node(&n[0], "a", KL_NODE_FIFO);
	base_node(&n[1], "b", KL_NODE_DIR);	/* zero subtree */
	assert_int_equal(kl_tree_encode(&t, b), KL_E_INVAL);
	assert_int_equal(buf_size(b), 0);
	buf_free(b);
}

static void
test_node_valid_full_tree_nodes(void **state)
{
	struct kl_tree t;
	size_t i;

	full_tree(&t);
	for (i = 0; i < t.n; i++)
		assert_int_equal(kl_node_valid(&t.nodes[i]), KL_OK);
}

static void
test_node_valid_dir_needs_subtree(void **state)
{
	struct kl_node n;

	base_node(&n, "d", KL_NODE_DIR);
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	id_fill(&n.subtree, 1);
	assert_int_equal(kl_node_valid(&n), KL_OK);
}

static void
test_node_valid_non_dir_zero_subtree(void **state)
{
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	id_fill(&n.subtree, 1);
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_non_file_no_chunks_or_holes(void **state)
{
	struct kl_node n;

	base_node(&n, "d", KL_NODE_FIFO);
	n.chunks = file_chunks;
	n.nchunks = 1;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	n.nchunks = 0;
	n.size = 100;
	n.holes = file_holes;
	n.nholes = 1;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_symlink_target_rules(void **state)
{
	static char longt[KL_TARGET_MAX + 2];
	struct kl_node n;

	base_node(&n, "l", KL_NODE_SYMLINK);
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);	/* empty */
	n.target = "t";
	n.size = 1;
	assert_int_equal(kl_node_valid(&n), KL_OK);
	n.size = 2;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);	/* size */
	memset(longt, 'a', KL_TARGET_MAX + 1);
	n.target = longt;
	n.size = KL_TARGET_MAX + 1;
	assert_int_equal(kl_node_valid(&n), KL_E_LIMIT);
}

static void
test_node_valid_non_symlink_empty_target(void **state)
{
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	n.target = "t";
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_special_size_zero(void **state)
{
	struct kl_node n;

	base_node(&n, "s", KL_NODE_SOCK);
	n.size = 1;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_rdev_only_devices(void **state)
{
	struct kl_node n;

	base_node(&n, "p", KL_NODE_FIFO);
	n.rdev = 1;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	n.type = KL_NODE_CHR;
	assert_int_equal(kl_node_valid(&n), KL_OK);
}

static void
test_node_valid_mode_bits(void **state)
{
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	n.mode = 07777;
	assert_int_equal(kl_node_valid(&n), KL_OK);
	n.mode = 0100644;	/* S_IFREG must not be stored */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_nanoseconds(void **state)
{
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	n.ctime.ns = 1000000000;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_xattr_names_increasing(void **state)
{
	struct kl_xattr x[2] = { { "user.b", NULL, 0 }, { "user.a", NULL, 0 } };
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	n.xattrs = x;
	n.nxattrs = 2;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	x[1].name = "user.b";
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	x[1].name = "user.c";
	assert_int_equal(kl_node_valid(&n), KL_OK);
	x[1].name = "";
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_xattr_value_limit(void **state)
{
	static uint8_t big[KL_XATTR_VALUE_MAX + 1];
	struct kl_xattr x = { "user.big", big, KL_XATTR_VALUE_MAX };
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	n.xattrs = &x;
	n.nxattrs = 1;
	assert_int_equal(kl_node_valid(&n), KL_OK);
	x.value_len++;
	assert_int_equal(kl_node_valid(&n), KL_E_LIMIT);
}

static void
test_node_valid_holes_rules(void **state)
{
	struct kl_hole h[2];
	struct kl_node n;

	base_node(&n, "f", KL_NODE_FILE);
	n.size = 100;
	n.holes = h;
	n.nholes = 2;
	h[0] = (struct kl_hole){ 0, 10 };
	h[1] = (struct kl_hole){ 10, 90 };	/* adjacent, ends at size */
	assert_int_equal(kl_node_valid(&n), KL_OK);
	h[1] = (struct kl_hole){ 9, 10 };	/* overlaps */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	h[1] = (struct kl_hole){ 50, 51 };	/* past size */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	h[1] = (struct kl_hole){ 50, 0 };	/* empty */
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	h[0] = (struct kl_hole){ 60, 10 };	/* decreasing */
	h[1] = (struct kl_hole){ 20, 10 };
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
	h[0] = (struct kl_hole){ UINT64_MAX, 2 };	/* wraps */
	n.nholes = 1;
	assert_int_equal(kl_node_valid(&n), KL_E_CORRUPT);
}

static void
test_node_valid_name_too_long_limit(void **state)
{
	static char name[KL_NAME_MAX + 2];
	struct kl_node n;

	memset(name, 'n', KL_NAME_MAX);
	base_node(&n, name, KL_NODE_FIFO);
	assert_int_equal(kl_node_valid(&n), KL_OK);
	name[KL_NAME_MAX] = 'n';
	base_node(&n, name, KL_NODE_FIFO);
	assert_int_equal(kl_node_valid(&n), KL_E_LIMIT);
}

static void
test_node_copy_is_deep(void **state)
{
	struct kl_tree t;
	struct kl_node c;
	size_t i;

	full_tree(&t);
	for (i = 0; i < t.n; i++) {
		memset(&c, 0, sizeof(c));
		assert_int_equal(kl_node_copy(&t.nodes[i], &c), KL_OK);
		assert_node_eq(&t.nodes[i], &c);
		assert_ptr_not_equal(c.name, t.nodes[i].name);
		if (c.nchunks > 0)
			assert_ptr_not_equal(c.chunks, t.nodes[i].chunks);
		kl_node_clear(&c);
		assert_null(c.name);
	}
}

static void
test_name_cmp_bytewise(void **state)
{
	assert_true(kl_name_cmp((const uint8_t *)"a", 1,
	    (const uint8_t *)"b", 1) < 0);
	assert_true(kl_name_cmp((const uint8_t *)"ab", 2,
	    (const uint8_t *)"a", 1) > 0);
	assert_true(kl_name_cmp((const uint8_t *)"z", 1,
	    (const uint8_t *)"\xff", 1) < 0);
	assert_int_equal(kl_name_cmp((const uint8_t *)"ab", 2,
	    (const uint8_t *)"ab", 2), 0);
}

static void
test_lock_round_trip(void **state)
{
	struct kl_lock l, d;
	struct raw r;

	sample_lock(&l);
	enc_lock(&l, &r);
	assert_int_equal(r.len, 8 + 1 + 4 + 2 + 11);
	assert_int_equal(kl_lock_decode(r.d, r.len, &d), KL_OK);
	assert_true(d.time == -5);
	assert_int_equal(d.exclusive, 1);
	assert_int_equal(d.pid, 4242);
	assert_string_equal(d.hostname, "backup-host");
}

static void
test_lock_exclusive_not_boolean_corrupt(void **state)
{
	struct kl_lock l, d;
	struct raw r;

	sample_lock(&l);
	enc_lock(&l, &r);
	r.d[8] = 2;
	assert_int_equal(kl_lock_decode(r.d, r.len, &d), KL_E_CORRUPT);
}

static void
test_lock_empty_hostname_corrupt(void **state)
{
	static const uint8_t p[15] = { 0 };
	struct kl_lock d;

	assert_int_equal(kl_lock_decode(p, sizeof(p), &d), KL_E_CORRUPT);
}

static void
test_lock_trailing_bytes_corrupt(void **state)
{
	struct kl_lock l, d;
	struct raw r;

	sample_lock(&l);
	enc_lock(&l, &r);
	r.d[r.len++] = 0;
	assert_int_equal(kl_lock_decode(r.d, r.len, &d), KL_E_CORRUPT);
}

/* A lock file without its encryption: header, then the plaintext. */
static void
enc_lock_file(const struct kl_lock *l, uint32_t version, struct raw *r)
{
	struct buf *b = new_buf();

	if (version == KL_LOCK_VERSION)
		assert_int_equal(kl_lock_hdr_put(b, l->exclusive), KL_OK);
	else
		assert_int_equal(kl_file_hdr_put(b, KL_MAGIC_LOCK), KL_OK);
	assert_int_equal(kl_lock_encode(l, b), KL_OK);
	raw_from_buf(r, b);
	buf_free(b);
}

/* Parses what enc_lock_file wrote as a reader does (header, plaintext,
 * agreement). */
static int
dec_lock_file(const uint8_t *p, size_t len, struct kl_lock_hdr *h,
    struct kl_lock *l)
{
	struct buf v;
	int r;

	buf_view_init(&v, p, len);
	if ((r = kl_lock_hdr_get(&v, h)) != KL_OK ||
	    (r = kl_lock_decode(buf_rptr(&v), buf_avail(&v), l)) != KL_OK)
		return r;
	return kl_lock_hdr_match(h, l);
}

static void
test_lock_hdr_v2_carries_exclusive_bit(void **state)
{
	struct kl_lock_hdr h;
	struct buf *b = new_buf();
	struct buf v;

	assert_int_equal(kl_lock_hdr_put(b, 1), KL_OK);
	assert_int_equal(kl_lock_hdr_put(b, 0), KL_OK);
	assert_memory_equal(buf_data(b), "KLUISLCK\x02\0\0\0\x01\0\0\0"
	    "KLUISLCK\x02\0\0\0\0\0\0\0", 2 * KL_FILE_HDR_LEN);
	buf_view_init(&v, buf_data(b), buf_size(b));
	assert_int_equal(kl_lock_hdr_get(&v, &h), KL_OK);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.exclusive, 1);
	assert_int_equal(kl_lock_hdr_get(&v, &h), KL_OK);
	assert_int_equal(h.exclusive, 0);
	assert_int_equal(buf_avail(&v), 0);
	assert_int_equal(kl_lock_hdr_put(b, 2), KL_E_INVAL);
	assert_int_equal(buf_size(b), 2 * KL_FILE_HDR_LEN);
	buf_free(b);
}

/* Version 1 (older clients) is still read: flags 0, kind inside. */
static void
test_lock_hdr_v1_is_read(void **state)
{
	struct kl_lock_hdr h;
	struct buf v;

	buf_view_init(&v, (const uint8_t *)"KLUISLCK\x01\0\0\0\0\0\0\0", 16);
	assert_int_equal(kl_lock_hdr_get(&v, &h), KL_OK);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.exclusive, 0);
}

static void
test_lock_hdr_bad_consumes_nothing(void **state)
{
	static const struct {
		const char *hdr;
		int want;
	} bad[] = {
		{ "KLUISLCK\x01\0\0\0\x01\0\0\0", KL_E_UNSUPPORTED },
		{ "KLUISLCK\x02\0\0\0\x02\0\0\0", KL_E_UNSUPPORTED },
		{ "KLUISLCK\x02\0\0\0\0\0\0\x80", KL_E_UNSUPPORTED },
		{ "KLUISLCK\x03\0\0\0\0\0\0\0", KL_E_UNSUPPORTED },
		{ "KLUISLCK\0\0\0\0\0\0\0\0", KL_E_UNSUPPORTED },
		{ "KLUISIDX\x02\0\0\0\0\0\0\0", KL_E_CORRUPT },
	};
	struct kl_lock_hdr h;
	struct buf v;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_view_init(&v, (const uint8_t *)bad[i].hdr, 16);
		assert_int_equal(kl_lock_hdr_get(&v, &h), bad[i].want);
		assert_int_equal(buf_avail(&v), 16);
	}
	buf_view_init(&v, (const uint8_t *)bad[0].hdr, 15);
	assert_int_equal(kl_lock_hdr_get(&v, &h), KL_E_CORRUPT);
	assert_int_equal(buf_avail(&v), 15);
}

/* In version 2 the plaintext's kind must be the header's: a header bit
 * flipped by whoever stores the file (it is not authenticated) makes the
 * lock invalid, not another kind. */
static void
test_lock_hdr_match_rules(void **state)
{
	struct kl_lock_hdr h1 = { 1, 0 }, h2s = { 2, 0 }, h2x = { 2, 1 };
	struct kl_lock l;

	sample_lock(&l);	/* exclusive */
	assert_int_equal(kl_lock_hdr_match(&h2x, &l), KL_OK);
	assert_int_equal(kl_lock_hdr_match(&h2s, &l), KL_E_CORRUPT);
	assert_int_equal(kl_lock_hdr_match(&h1, &l), KL_OK);
	l.exclusive = 0;
	assert_int_equal(kl_lock_hdr_match(&h2s, &l), KL_OK);
	assert_int_equal(kl_lock_hdr_match(&h2x, &l), KL_E_CORRUPT);
	assert_int_equal(kl_lock_hdr_match(&h1, &l), KL_OK);
}

static void
test_lock_file_header_flip_is_corrupt(void **state)
{
	struct kl_lock_hdr h;
	struct kl_lock l, d;
	struct raw r;

	sample_lock(&l);
	enc_lock_file(&l, KL_LOCK_VERSION, &r);
	assert_int_equal(dec_lock_file(r.d, r.len, &h, &d), KL_OK);
	assert_int_equal(d.exclusive, 1);
	r.d[12] ^= 1;		/* the exclusive bit */
	assert_int_equal(dec_lock_file(r.d, r.len, &h, &d), KL_E_CORRUPT);
}

/* ---- known-answer vectors ---- */

static void
vector_tree(struct kl_tree *t, struct kl_node n[3])
{
	static struct kl_xattr x = { "user.k", (uint8_t *)"v", 1 };
	static struct kl_hole h = { 0, 4096 };
	static struct kl_id c;

	memset(n, 0, 3 * sizeof(*n));
	id_fill(&c, 0xc0);
	base_node(&n[0], "bin", KL_NODE_DIR);
	n[0].mode = 0755;
	id_fill(&n[0].subtree, 0xa0);
	base_node(&n[1], "data", KL_NODE_FILE);
	n[1].size = 8192;
	n[1].xattrs = &x;
	n[1].nxattrs = 1;
	n[1].holes = &h;
	n[1].nholes = 1;
	n[1].chunks = &c;
	n[1].nchunks = 1;
	n[1].link_group = 3;
	base_node(&n[2], "ln", KL_NODE_SYMLINK);
	n[2].target = "bin";
	n[2].size = 3;
	t->nodes = n;
	t->n = 3;
}

static void
test_vector_config(void **state)
{
	struct kl_config c, d;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	vec_check("config", &r);
	assert_int_equal(kl_config_decode(r.d, r.len, &d), KL_OK);
	assert_int_equal(d.chunk_avg, 1 << 20);
}

static void
test_vector_tree(void **state)
{
	struct kl_node n[3];
	struct kl_tree t, d = { NULL, 0 };
	struct raw r;
	size_t i;

	vector_tree(&t, n);
	enc_tree(&t, &r);
	vec_check("tree", &r);
	assert_int_equal(kl_tree_decode(r.d, r.len, &d), KL_OK);
	assert_int_equal(d.n, 3);
	for (i = 0; i < 3; i++)
		assert_node_eq(&n[i], &d.nodes[i]);
	kl_tree_clear(&d);
}

/* FORMAT.md §12 version 2: a shared and an exclusive lock, header and
 * plaintext (the AEAD between them is §4's). */
static void
test_vector_lock_v2(void **state)
{
	struct kl_lock_hdr h;
	struct kl_lock l, d;
	struct raw r;

	sample_lock(&l);
	enc_lock_file(&l, KL_LOCK_VERSION, &r);
	vec_check("lock_v2_exclusive", &r);
	assert_int_equal(dec_lock_file(r.d, r.len, &h, &d), KL_OK);
	assert_int_equal(h.exclusive, 1);
	l.exclusive = 0;
	enc_lock_file(&l, KL_LOCK_VERSION, &r);
	vec_check("lock_v2_shared", &r);
	assert_int_equal(dec_lock_file(r.d, r.len, &h, &d), KL_OK);
	assert_int_equal(h.exclusive, 0);
	assert_int_equal(d.exclusive, 0);
}

static void
test_vector_snapshot(void **state)
{
	struct kl_snapshot s, d;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	vec_check("snapshot", &r);
	assert_int_equal(kl_snapshot_decode(r.d, r.len, &d), KL_OK);
	assert_snapshot_eq(&s, &d);
	kl_snapshot_clear(&d);
}

/* ---- mutation tests ---- */

/*
 * Each callback decodes, and on success re-encodes and requires the
 * original bytes back: anything a decoder accepts has exactly one
 * encoding, so a flip is either rejected or lands in a free field.
 */
struct mut {
	int mismatch;
	uint64_t hdr_off;
};

static void
mut_same(struct mut *m, const struct buf *b, const uint8_t *p, size_t len)
{
	if (buf_size(b) != len || memcmp(buf_data(b), p, len) != 0)
		m->mismatch++;
}

static int
mut_config(const uint8_t *p, size_t len, void *arg)
{
	struct kl_config c;
	struct buf *b;
	int r;

	if ((r = kl_config_decode(p, len, &c)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(kl_config_encode(&c, b), KL_OK);
	mut_same(arg, b, p, len);
	buf_free(b);
	return r;
}

static int
mut_pack_header(const uint8_t *p, size_t len, void *arg)
{
	struct mut *m = arg;
	struct kl_blob_entry *e = NULL;
	struct buf *b;
	size_t n = 0;
	int r;

	if ((r = kl_pack_header_decode(p, len, m->hdr_off, &e, &n)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(kl_pack_header_encode(e, n, b), KL_OK);
	mut_same(m, b, p, len);
	buf_free(b);
	free(e);
	return r;
}

static int
mut_trailer(const uint8_t *p, size_t len, void *arg)
{
	struct mut *m = arg;
	uint8_t t[KL_PACK_TRAILER_LEN];
	uint64_t off;
	uint32_t h;
	int r;

	if ((r = kl_pack_trailer_decode(p, len, m->hdr_off, &off, &h)) != 0)
		return r;
	kl_pack_trailer_encode(h, t);
	if (len != sizeof(t) || memcmp(t, p, len) != 0 ||
	    off + h + KL_PACK_TRAILER_LEN != m->hdr_off)
		m->mismatch++;
	return r;
}

static int
mut_index(const uint8_t *p, size_t len, void *arg)
{
	struct kl_index ix = { NULL, 0, NULL, 0, 0 };
	struct buf *b;
	int r;

	if ((r = kl_index_decode(p, len, 1000, KL_INDEX_VERSION, &ix)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(kl_index_encode(&ix, KL_INDEX_VERSION, b), KL_OK);
	mut_same(arg, b, p, len);
	buf_free(b);
	kl_index_clear(&ix);
	return r;
}

static int
mut_snapshot(const uint8_t *p, size_t len, void *arg)
{
	struct kl_snapshot s;
	struct buf *b;
	int r;

	if ((r = kl_snapshot_decode(p, len, &s)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(kl_snapshot_encode(&s, b), KL_OK);
	mut_same(arg, b, p, len);
	buf_free(b);
	kl_snapshot_clear(&s);
	return r;
}

static int
mut_tree(const uint8_t *p, size_t len, void *arg)
{
	struct kl_tree t = { NULL, 0 };
	struct buf *b;
	int r;

	if ((r = kl_tree_decode(p, len, &t)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(kl_tree_encode(&t, b), KL_OK);
	mut_same(arg, b, p, len);
	buf_free(b);
	kl_tree_clear(&t);
	return r;
}

static int
mut_lock(const uint8_t *p, size_t len, void *arg)
{
	struct kl_lock l;
	struct buf *b;
	int r;

	if ((r = kl_lock_decode(p, len, &l)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(kl_lock_encode(&l, b), KL_OK);
	mut_same(arg, b, p, len);
	buf_free(b);
	return r;
}

/* Header and plaintext as a reader takes them; what passes re-encodes to
 * the same bytes (version 2 only: single flips never make a 1 of a 2). */
static int
mut_lock_file(const uint8_t *p, size_t len, void *arg)
{
	struct kl_lock_hdr h;
	struct kl_lock l;
	struct buf *b;
	int r;

	if ((r = dec_lock_file(p, len, &h, &l)) != KL_OK)
		return r;
	b = new_buf();
	assert_int_equal(h.version, KL_LOCK_VERSION);
	assert_int_equal(kl_lock_hdr_put(b, h.exclusive), KL_OK);
	assert_int_equal(kl_lock_encode(&l, b), KL_OK);
	mut_same(arg, b, p, len);
	buf_free(b);
	return r;
}

static void
run_mutations(const struct raw *r, mutate_parse_fn fn, struct mut *m)
{
	size_t flips_ok = 0;

	assert_int_equal(fn(r->d, r->len, m), KL_OK);
	assert_int_equal(mutate_run(r->d, r->len, fn, m, &flips_ok), 0);
	assert_int_equal(m->mismatch, 0);
	assert_true(flips_ok < r->len * 8);
}

static void
test_mutate_config(void **state)
{
	struct mut m = { 0, 0 };
	struct kl_config c;
	struct raw r;

	sample_config(&c);
	enc_config(&c, &r);
	run_mutations(&r, mut_config, &m);
}

static void
test_mutate_pack_header(void **state)
{
	struct kl_blob_entry e[4];
	struct mut m = { 0, 0 };
	struct raw r;

	m.hdr_off = sample_entries(e, 4);
	enc_pack_header(e, 4, &r);
	run_mutations(&r, mut_pack_header, &m);
}

static void
test_mutate_pack_trailer(void **state)
{
	struct mut m = { 0, 100000 };
	struct raw r;

	kl_pack_trailer_encode(1000, r.d);
	r.len = KL_PACK_TRAILER_LEN;
	run_mutations(&r, mut_trailer, &m);
}

static void
test_mutate_index(void **state)
{
	struct mut m = { 0, 0 };
	struct kl_index ix;
	struct raw r;

	sample_index(&ix);
	enc_index(&ix, &r);
	run_mutations(&r, mut_index, &m);
}

static void
test_mutate_snapshot(void **state)
{
	struct mut m = { 0, 0 };
	struct kl_snapshot s;
	struct raw r;

	sample_snapshot(&s);
	enc_snapshot(&s, &r);
	run_mutations(&r, mut_snapshot, &m);
}

static void
test_mutate_tree(void **state)
{
	struct mut m = { 0, 0 };
	struct kl_tree t;
	struct raw r;

	full_tree(&t);
	enc_tree(&t, &r);
	run_mutations(&r, mut_tree, &m);
}

static void
test_mutate_lock(void **state)
{
	struct mut m = { 0, 0 };
	struct kl_lock l;
	struct raw r;

	sample_lock(&l);
	enc_lock(&l, &r);
	run_mutations(&r, mut_lock, &m);
}

static void
test_mutate_lock_file(void **state)
{
	struct mut m = { 0, 0 };
	struct kl_lock l;
	struct raw r;

	sample_lock(&l);
	enc_lock_file(&l, KL_LOCK_VERSION, &r);
	run_mutations(&r, mut_lock_file, &m);
	l.exclusive = 0;
	enc_lock_file(&l, KL_LOCK_VERSION, &r);
	run_mutations(&r, mut_lock_file, &m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_hdr_round_trip),
		cmocka_unit_test(test_file_hdr_other_magic_corrupt),
		cmocka_unit_test(test_file_hdr_bad_version_unsupported),
		cmocka_unit_test(test_file_hdr_flags_unsupported),
		cmocka_unit_test(test_file_hdr_truncated_corrupt),
		cmocka_unit_test(test_config_round_trip),
		cmocka_unit_test(test_config_bad_version_unsupported),
		cmocka_unit_test(test_config_flags_unsupported),
		cmocka_unit_test(test_config_trailing_byte_corrupt),
		cmocka_unit_test(test_config_chunk_params_rejected),
		cmocka_unit_test(test_config_chunk_bounds_accepted),
		cmocka_unit_test(test_config_pack_target_rejected),
		cmocka_unit_test(test_config_encode_invalid_leaves_output),
		cmocka_unit_test(test_config_decode_failure_leaves_output),
		cmocka_unit_test(test_pack_header_round_trip),
		cmocka_unit_test(test_pack_header_type4_unsupported),
		cmocka_unit_test(test_pack_header_unknown_type_unsupported),
		cmocka_unit_test(test_pack_header_gap_between_entries_corrupt),
		cmocka_unit_test(test_pack_header_entries_out_of_order_corrupt),
		cmocka_unit_test(
		    test_pack_header_first_not_at_preamble_corrupt),
		cmocka_unit_test(test_pack_header_end_not_at_header_corrupt),
		cmocka_unit_test(test_pack_header_count_zero_corrupt),
		cmocka_unit_test(test_pack_header_count_over_limit),
		cmocka_unit_test(test_pack_header_count_exceeds_input_corrupt),
		cmocka_unit_test(test_pack_header_nonzero_padding_corrupt),
		cmocka_unit_test(test_pack_header_trailing_bytes_corrupt),
		cmocka_unit_test(test_pack_header_encode_gap_inval),
		cmocka_unit_test(test_pack_trailer_round_trip),
		cmocka_unit_test(test_pack_trailer_bad_magic_corrupt),
		cmocka_unit_test(test_pack_trailer_header_does_not_fit_corrupt),
		cmocka_unit_test(
		    test_pack_trailer_header_len_out_of_range_corrupt),
		cmocka_unit_test(test_pack_trailer_pack_too_large_limit),
		cmocka_unit_test(test_index_round_trip),
		cmocka_unit_test(test_index_empty_round_trip),
		cmocka_unit_test(test_index_type4_unsupported),
		cmocka_unit_test(test_index_offset_before_preamble_corrupt),
		cmocka_unit_test(test_index_stored_len_below_overhead_corrupt),
		cmocka_unit_test(test_index_raw_len_over_limit),
		cmocka_unit_test(test_index_max_entries_limit),
		cmocka_unit_test(test_index_pack_count_exceeds_input_corrupt),
		cmocka_unit_test(test_index_blob_count_zero_corrupt),
		cmocka_unit_test(test_index_trailing_bytes_corrupt),
		cmocka_unit_test(test_index_encode_empty_pack_inval),
		cmocka_unit_test(test_index_v2_withdrawals_round_trip),
		cmocka_unit_test(test_index_v1_has_no_withdrawals),
		cmocka_unit_test(test_index_withdrawals_must_increase),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(
		    test_snapshot_empty_optional_fields_round_trip),
		cmocka_unit_test(test_snapshot_bad_nanoseconds_corrupt),
		cmocka_unit_test(test_snapshot_nul_in_string_corrupt),
		cmocka_unit_test(test_snapshot_relative_path_corrupt),
		cmocka_unit_test(test_snapshot_encode_unnormalised_path_inval),
		cmocka_unit_test(test_snapshot_root_path_accepted),
		cmocka_unit_test(test_snapshot_encode_no_paths_inval),
		cmocka_unit_test(test_snapshot_encode_empty_hostname_inval),
		cmocka_unit_test(
		    test_snapshot_path_count_exceeds_input_corrupt),
		cmocka_unit_test(test_snapshot_too_many_tags_limit),
		cmocka_unit_test(test_snapshot_trailing_bytes_corrupt),
		cmocka_unit_test(test_tree_round_trip_every_node_type),
		cmocka_unit_test(test_tree_empty_round_trip),
		cmocka_unit_test(test_tree_unsorted_names_corrupt),
		cmocka_unit_test(test_tree_duplicate_names_corrupt),
		cmocka_unit_test(test_tree_prefix_sorts_first),
		cmocka_unit_test(test_tree_find_names_every_node_and_no_other),
		cmocka_unit_test(test_tree_dot_name_corrupt),
		cmocka_unit_test(test_tree_dotdot_name_corrupt),
		cmocka_unit_test(test_tree_slash_in_name_corrupt),
		cmocka_unit_test(test_tree_nul_in_name_corrupt),
		cmocka_unit_test(test_tree_empty_name_corrupt),
		cmocka_unit_test(test_tree_non_utf8_name_accepted),
		cmocka_unit_test(test_tree_unknown_type_unsupported),
		cmocka_unit_test(test_tree_node_flags_unsupported),
		cmocka_unit_test(test_tree_bad_version_unsupported),
		cmocka_unit_test(test_tree_reserved_unsupported),
		cmocka_unit_test(test_tree_bad_magic_corrupt),
		cmocka_unit_test(test_tree_trailing_bytes_corrupt),
		cmocka_unit_test(test_tree_count_exceeds_input_corrupt),
		cmocka_unit_test(test_tree_count_over_limit),
		cmocka_unit_test(test_tree_huge_hole_count_corrupt),
		cmocka_unit_test(test_tree_huge_chunk_count_corrupt),
		cmocka_unit_test(test_tree_xattr_count_over_limit),
		cmocka_unit_test(test_tree_nul_in_user_corrupt),
		cmocka_unit_test(test_tree_encode_unsorted_inval),
		cmocka_unit_test(test_tree_encode_invalid_node_inval),
		cmocka_unit_test(test_node_valid_full_tree_nodes),
		cmocka_unit_test(test_node_valid_dir_needs_subtree),
		cmocka_unit_test(test_node_valid_non_dir_zero_subtree),
		cmocka_unit_test(test_node_valid_non_file_no_chunks_or_holes),
		cmocka_unit_test(test_node_valid_symlink_target_rules),
		cmocka_unit_test(test_node_valid_non_symlink_empty_target),
		cmocka_unit_test(test_node_valid_special_size_zero),
		cmocka_unit_test(test_node_valid_rdev_only_devices),
		cmocka_unit_test(test_node_valid_mode_bits),
		cmocka_unit_test(test_node_valid_nanoseconds),
		cmocka_unit_test(test_node_valid_xattr_names_increasing),
		cmocka_unit_test(test_node_valid_xattr_value_limit),
		cmocka_unit_test(test_node_valid_holes_rules),
		cmocka_unit_test(test_node_valid_name_too_long_limit),
		cmocka_unit_test(test_node_copy_is_deep),
		cmocka_unit_test(test_name_cmp_bytewise),
		cmocka_unit_test(test_lock_round_trip),
		cmocka_unit_test(test_lock_exclusive_not_boolean_corrupt),
		cmocka_unit_test(test_lock_empty_hostname_corrupt),
		cmocka_unit_test(test_lock_trailing_bytes_corrupt),
		cmocka_unit_test(test_lock_hdr_v2_carries_exclusive_bit),
		cmocka_unit_test(test_lock_hdr_v1_is_read),
		cmocka_unit_test(test_lock_hdr_bad_consumes_nothing),
		cmocka_unit_test(test_lock_hdr_match_rules),
		cmocka_unit_test(test_lock_file_header_flip_is_corrupt),
		cmocka_unit_test(test_vector_config),
		cmocka_unit_test(test_vector_tree),
		cmocka_unit_test(test_vector_snapshot),
		cmocka_unit_test(test_vector_lock_v2),
		cmocka_unit_test(test_mutate_config),
		cmocka_unit_test(test_mutate_pack_header),
		cmocka_unit_test(test_mutate_pack_trailer),
		cmocka_unit_test(test_mutate_index),
		cmocka_unit_test(test_mutate_snapshot),
		cmocka_unit_test(test_mutate_tree),
		cmocka_unit_test(test_mutate_lock),
		cmocka_unit_test(test_mutate_lock_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
