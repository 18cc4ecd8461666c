/*
 * Unit tests of run records (issue #15, FORMAT.md §17): the plaintext
 * codec (format/format_run.c) against a vector written from the spec,
 * its rules and mutations; the sealed file (repo/repo_run.c) written with
 * a backup-only key and read with the full key, every bit flip of it
 * refused; the catalog's import (catalog/cat_run.c): one run per run id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/fsutil.h"
#include "kluis/hash.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "mutate.h"

#define PASS "secret passphrase"

/* FORMAT.md §17 by hand (python's struct from the table), not by the
 * encoder: run id 01..10, check, exit 3, start 1700000000, end +42, files
 * 7, bytes 4096, added 512, errors 1, snapshot 5a.., "web01", "disk full",
 * "kluis 0.1.0". */
static const char vector_hex[] =
    "0102030405060708090a0b0c0d0e0f10020000000300000000f1536500000000"
    "2af1536500000000070000000000000000100000000000000002000000000000"
    "01000000000000005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5a5a5a5a0500776562303109006469736b2066756c6c0b006b6c7569"
    "7320302e312e30";

static void
sample(struct kl_runrec *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < KL_RUNREC_ID_LEN; i++)
		r->run_id[i] = (uint8_t)(i + 1);
	r->kind = KL_RUNREC_CHECK;
	r->exit_code = 3;
	r->start_s = 1700000000;
	r->end_s = 1700000042;
	r->files = 7;
	r->bytes = 4096;
	r->bytes_added = 512;
	r->errors = 1;
	memset(r->snapshot.b, 0x5a, KL_ID_LEN);
	r->host = "web01";
	r->detail = "disk full";
	r->program = "kluis 0.1.0";
}

static size_t
unhex(const char *h, uint8_t *out)
{
	size_t i, n = strlen(h) / 2;
	unsigned v;

	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void
test_encode_matches_vector(void **state)
{
	uint8_t want[256];
	struct kl_runrec r;
	struct buf *b = buf_new(KL_RUNREC_PT_MAX);
	size_t n = unhex(vector_hex, want);

	(void)state;
	sample(&r);
	assert_int_equal(kl_runrec_encode(&r, b), KL_OK);
	assert_int_equal(buf_size(b), n);
	assert_memory_equal(buf_data(b), want, n);
	buf_free(b);
}

static void
test_decode_vector(void **state)
{
	uint8_t in[256];
	struct kl_runrec r;
	size_t n = unhex(vector_hex, in);

	(void)state;
	assert_int_equal(kl_runrec_decode(in, n, &r), KL_OK);
	assert_int_equal(r.kind, KL_RUNREC_CHECK);
	assert_int_equal(r.exit_code, 3);
	assert_int_equal(r.start_s, 1700000000);
	assert_int_equal(r.end_s, 1700000042);
	assert_int_equal(r.bytes_added, 512);
	assert_string_equal(r.host, "web01");
	assert_string_equal(r.detail, "disk full");
	assert_string_equal(r.program, "kluis 0.1.0");
	assert_int_equal(r.run_id[15], 16);
	kl_runrec_clear(&r);
	assert_null(r.host);
}

/* Encodes r; the result of the encoder. */
static int
enc(const struct kl_runrec *r)
{
	struct buf *b = buf_new(4 * KL_RUNREC_PT_MAX);
	int rc = kl_runrec_encode(r, b);

	if (rc != KL_OK)
		assert_int_equal(buf_size(b), 0);	/* nothing appended */
	buf_free(b);
	return rc;
}

static void
test_encoder_rules(void **state)
{
	char big[KL_RUNREC_DETAIL_MAX + 2];
	struct kl_runrec r;

	(void)state;
	sample(&r);
	memset(r.run_id, 0, sizeof(r.run_id));
	assert_int_equal(enc(&r), KL_E_INVAL);		/* zero run id */
	sample(&r);
	r.kind = 4;
	assert_int_equal(enc(&r), KL_E_INVAL);
	sample(&r);
	r.exit_code = 256;
	assert_int_equal(enc(&r), KL_E_INVAL);
	sample(&r);
	r.end_s = r.start_s - 1;
	assert_int_equal(enc(&r), KL_E_INVAL);
	sample(&r);
	r.start_s = -1;
	r.end_s = 0;
	assert_int_equal(enc(&r), KL_E_INVAL);
	sample(&r);
	r.host = "";
	assert_int_equal(enc(&r), KL_E_INVAL);
	sample(&r);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r.detail = big;
	assert_int_equal(enc(&r), KL_E_LIMIT);
	big[KL_RUNREC_DETAIL_MAX] = '\0';		/* exactly the max */
	assert_int_equal(enc(&r), KL_OK);
	sample(&r);
	r.detail = NULL;
	r.program = NULL;
	assert_int_equal(enc(&r), KL_OK);
}

static void
test_decoder_rejects_reserved_kind_trailing(void **state)
{
	uint8_t in[260];
	struct kl_runrec r;
	size_t n = unhex(vector_hex, in);

	(void)state;
	memset(&r, 0, sizeof(r));
	in[17] = 1;					/* reserved */
	assert_int_equal(kl_runrec_decode(in, n, &r), KL_E_UNSUPPORTED);
	in[17] = 0;
	in[16] = 9;					/* kind */
	assert_int_equal(kl_runrec_decode(in, n, &r), KL_E_UNSUPPORTED);
	in[16] = 2;
	in[n] = 0;					/* trailing */
	assert_int_equal(kl_runrec_decode(in, n + 1, &r), KL_E_CORRUPT);
	in[20] = 0;					/* exit 256 */
	in[21] = 1;
	assert_int_equal(kl_runrec_decode(in, n, &r), KL_E_CORRUPT);
	assert_null(r.host);			/* *out untouched */
}

static int
parse_runrec(const uint8_t *p, size_t len, void *arg)
{
	struct kl_runrec r;
	struct buf *b;
	int rc;

	(void)arg;
	if ((rc = kl_runrec_decode(p, len, &r)) != KL_OK)
		return rc;
	/* what decodes is a record the encoder makes byte for byte */
	b = buf_new(KL_RUNREC_PT_MAX);
	assert_int_equal(kl_runrec_encode(&r, b), KL_OK);
	assert_int_equal(buf_size(b), len);
	assert_memory_equal(buf_data(b), p, len);
	buf_free(b);
	kl_runrec_clear(&r);
	return 0;
}

/* §17: files, bytes, bytes_added and errors are below 2^53; a record
 * claiming more is refused, so no sum of them in a report can wrap. */
static void
test_counts_over_2_53_refused(void **state)
{
	static const size_t off[] = { 40, 48, 56, 64 };	/* §17 table */
	uint8_t in[256], m[256];
	struct kl_runrec r;
	size_t n = unhex(vector_hex, in), i;

	(void)state;
	sample(&r);
	r.files = KL_RUNREC_COUNT_MAX;
	assert_int_equal(enc(&r), KL_OK);
	r.files = KL_RUNREC_COUNT_MAX + 1;
	assert_int_equal(enc(&r), KL_E_INVAL);
	sample(&r);
	r.errors = UINT64_MAX;
	assert_int_equal(enc(&r), KL_E_INVAL);
	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		memcpy(m, in, n);
		memset(m + off[i], 0, 8);
		m[off[i] + 6] = 0x20;		/* 2^53, little endian */
		assert_int_equal(kl_runrec_decode(m, n, &r), KL_E_CORRUPT);
		m[off[i] + 6] = 0x1f;
		memset(m + off[i], 0xff, 6);	/* 2^53 - 1 */
		assert_int_equal(kl_runrec_decode(m, n, &r), KL_OK);
		kl_runrec_clear(&r);
	}
}

/* A run of the history as a record: strings copied, counts capped at
 * §17's maximum rather than refused (the catalog is anyone's file). */
static void
test_runrec_from_run_caps_and_copies(void **state)
{
	struct kl_repo_runrec_text txt;
	struct kl_run_value v = { 0 };
	struct kl_cat_run run;
	struct kl_runrec r;
	char host[] = "web01";

	(void)state;
	memset(&run, 0, sizeof(run));
	run.kind = "backup";
	run.host = host;
	run.exit_code = 300;
	run.files = UINT64_MAX;
	run.bytes_added = KL_RUNREC_COUNT_MAX + 1;
	v.key = "error";
	v.type = KL_RUN_TEXT;
	v.s = "disk full";
	run.v = &v;
	run.nv = 1;
	assert_int_equal(kl_repo_runrec_from_run(&run, &txt, &r), KL_E_INVAL);
	memset(run.run_id, 7, sizeof(run.run_id));
	assert_int_equal(kl_repo_runrec_from_run(&run, &txt, &r), KL_OK);
	assert_int_equal(r.files, KL_RUNREC_COUNT_MAX);
	assert_int_equal(r.bytes_added, KL_RUNREC_COUNT_MAX);
	assert_int_equal(r.exit_code, KL_RUNREC_EXIT_MAX);
	host[0] = 'X';			/* a copy, not the catalog's string */
	assert_string_equal(r.host, "web01");
	assert_string_equal(r.detail, "disk full");
	assert_string_equal(r.program, kl_repo_run_program());
	assert_int_equal(enc(&r), KL_OK);
	run.host = "";
	assert_int_equal(kl_repo_runrec_from_run(&run, &txt, &r), KL_E_INVAL);
}

static void
test_mutations(void **state)
{
	uint8_t in[256];
	size_t n = unhex(vector_hex, in), flips = 0;

	(void)state;
	assert_int_equal(mutate_run(in, n, parse_runrec, NULL, &flips), 0);
	/* flips in the counters and texts are records too, but not all */
	assert_true(flips < n * 8);
}

/* ---- the sealed file (repo/repo_run.c) ---- */

struct fx {
	char dir[64];
	char repo[96];
	char key[128];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/kl-runrec-XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/web01.key", f->dir);
	setenv("KLUIS_CACHE_DIR", f->dir, 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* A repository (full key, open in *full) and a backup-only key file. */
static void
make_repo(struct fx *f, struct kl_repo **full)
{
	struct kl_kdf_params kdf;
	struct kl_repo_init_opts o;
	struct kl_id id;

	assert_int_equal(kl_kdf_preset("interactive", &kdf), KL_OK);
	memset(&o, 0, sizeof(o));
	o.kdf = &kdf;
	o.label = "test";
	assert_int_equal(kl_repo_init(f->repo, PASS, strlen(PASS), &o, full,
	    NULL), KL_OK);
	assert_int_equal(kl_repo_key_add(*full, 1, "bk", 2, &kdf, "web01",
	    f->key, &id, NULL), KL_OK);
}

static void
test_backup_only_writes_full_reads(void **state)
{
	struct fx *f = *state;
	struct kl_repo *full = NULL, *bo = NULL;
	struct kl_runrec r, got;
	struct kl_id id;

	make_repo(f, &full);
	assert_int_equal(kl_repo_open(f->repo, f->key, "bk", 2, &bo, NULL),
	    KL_OK);
	assert_int_equal(kl_repo_is_full(bo), 0);
	sample(&r);
	assert_int_equal(kl_repo_run_write(bo, &r, &id, NULL), KL_OK);
	/* the writer cannot read what it wrote */
	assert_int_equal(kl_repo_run_read(bo, &id, &got, NULL), KL_E_PERM);
	assert_int_equal(kl_repo_run_read(full, &id, &got, NULL), KL_OK);
	assert_memory_equal(got.run_id, r.run_id, KL_RUNREC_ID_LEN);
	assert_string_equal(got.host, "web01");
	assert_string_equal(got.detail, "disk full");
	kl_runrec_clear(&got);
	kl_repo_close(bo);
	kl_repo_close(full);
}

/* The file bytes of run record id. */
static struct buf *
file_of(struct fx *f, const struct kl_id *id)
{
	char path[256], hex[KL_ID_HEX_LEN + 1];
	struct buf *b = NULL;

	kl_id_hex(id, hex);
	snprintf(path, sizeof(path), "%s/runs/%s", f->repo, hex);
	assert_int_equal(kl_file_read_all(path, 1 << 16, &b), KL_OK);
	return b;
}

/* Stores bytes under their own name in runs/ (a server could). */
static void
plant(struct fx *f, const uint8_t *p, size_t n, struct kl_id *id)
{
	char dir[160], hex[KL_ID_HEX_LEN + 1];

	kl_hash(p, n, id);
	kl_id_hex(id, hex);
	snprintf(dir, sizeof(dir), "%s/runs", f->repo);
	assert_int_equal(kl_file_write_atomic(dir, hex, p, n, 0, 0600),
	    KL_OK);
}

static void
test_file_bit_flips_refused(void **state)
{
	struct fx *f = *state;
	struct kl_repo *full = NULL;
	struct kl_runrec r, got;
	struct kl_id id, mid;
	struct buf *b;
	uint8_t *m;
	size_t i, n;
	int rc;

	make_repo(f, &full);
	sample(&r);
	assert_int_equal(kl_repo_run_write(full, &r, &id, NULL), KL_OK);
	b = file_of(f, &id);
	n = buf_size(b);
	m = malloc(n);
	assert_non_null(m);
	/* one flip per byte (the AEAD covers every bit alike), each under
	 * its own name so the content check passes and decryption decides */
	for (i = 0; i < n; i++) {
		memcpy(m, buf_data(b), n);
		m[i] ^= (uint8_t)(1u << (i % 8));
		plant(f, m, n, &mid);
		rc = kl_repo_run_read(full, &mid, &got, NULL);
		assert_true(rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED);
		assert_null(got.host);
	}
	/* every truncation */
	for (i = 0; i < n; i++) {
		plant(f, buf_data(b), i, &mid);
		rc = kl_repo_run_read(full, &mid, &got, NULL);
		assert_true(rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED);
	}
	free(m);
	buf_free(b);
	kl_repo_close(full);
}

/* ---- the history (catalog/cat_run.c) via the repository ---- */

static int
count_cb(void *arg, const struct kl_cat_run *r)
{
	size_t *n = arg;

	n[0]++;
	n[1] += r->origin == KL_CAT_RUN_IMPORTED;
	return 0;
}

static void
history(struct kl_repo *r, size_t n[2])
{
	n[0] = n[1] = 0;
	assert_int_equal(kl_cat_run_foreach(kl_repo_catalog(r), NULL,
	    INT64_MIN, count_cb, n, NULL), KL_OK);
}

static void
test_import_one_run_per_id(void **state)
{
	struct fx *f = *state;
	struct kl_repo *full = NULL, *bo = NULL;
	struct kl_repo_runs_stats st;
	struct kl_cat_run run;
	struct kl_runrec r;
	size_t n[2], up;
	static const uint8_t junk[300] = { 1, 2, 3 };
	struct kl_id jid;

	make_repo(f, &full);
	assert_int_equal(kl_repo_open(f->repo, f->key, "bk", 2, &bo, NULL),
	    KL_OK);
	/* web01: two records */
	sample(&r);
	assert_int_equal(kl_repo_run_write(bo, &r, NULL, NULL), KL_OK);
	r.run_id[0] = 0x77;
	r.kind = KL_RUNREC_BACKUP;
	assert_int_equal(kl_repo_run_write(bo, &r, NULL, NULL), KL_OK);
	/* the operator's own run, uploaded as its record */
	memset(&run, 0, sizeof(run));
	run.kind = "drill";
	run.host = "ops";
	run.start_s = 10;
	run.end_s = 20;
	memset(run.run_id, 0x42, sizeof(run.run_id));
	assert_int_equal(kl_cat_run_add(kl_repo_catalog(full), &run, NULL),
	    KL_OK);
	assert_int_equal(kl_cat_run_add(kl_repo_catalog(full), &run, NULL),
	    KL_E_EXISTS);
	assert_int_equal(kl_repo_runs_upload(full, 32, &up, NULL), KL_OK);
	assert_int_equal(up, 1);
	assert_int_equal(kl_repo_runs_upload(full, 32, &up, NULL), KL_OK);
	assert_int_equal(up, 0);			/* marked */
	plant(f, junk, sizeof(junk), &jid);

	assert_int_equal(kl_repo_runs_import(bo, 10, &st, NULL), KL_E_PERM);
	assert_int_equal(kl_repo_runs_import(full, 100, &st, NULL), KL_OK);
	assert_int_equal(st.listed, 4);
	assert_int_equal(st.imported, 2);		/* not the own one */
	assert_int_equal(st.bad, 1);
	history(full, n);
	assert_int_equal(n[0], 3);
	assert_int_equal(n[1], 2);
	/* again: nothing new, the bad one still counted */
	assert_int_equal(kl_repo_runs_import(full, 100, &st, NULL), KL_OK);
	assert_int_equal(st.imported, 0);
	assert_int_equal(st.bad, 1);
	history(full, n);
	assert_int_equal(n[0], 3);
	/* all 4 read before: none is read again, none is unread */
	assert_int_equal(kl_repo_runs_import(full, 2, &st, NULL), KL_OK);
	assert_int_equal(st.listed, 4);
	assert_int_equal(st.looked, 4);
	assert_int_equal(st.imported, 0);
	kl_repo_close(bo);
	kl_repo_close(full);
}

/* n records of web01 with the backup-only key bo, run ids tag, tag+1... */
static void
write_records(struct kl_repo *bo, unsigned n, uint8_t tag)
{
	struct kl_runrec r;
	unsigned i;

	sample(&r);
	for (i = 0; i < n; i++) {
		r.run_id[0] = (uint8_t)(tag + i);
		assert_int_equal(kl_repo_run_write(bo, &r, NULL, NULL), KL_OK);
	}
}

/*
 * Records read before are not read again and do not count against the
 * window: runs/ past max files is read over a few imports, then nothing
 * is unread (it used to warn forever, the window full of read records).
 */
static void
test_import_window_skips_read_records(void **state)
{
	struct fx *f = *state;
	struct kl_repo *full = NULL, *bo = NULL;
	struct kl_repo_runs_stats st;

	make_repo(f, &full);
	assert_int_equal(kl_repo_open(f->repo, f->key, "bk", 2, &bo, NULL),
	    KL_OK);
	write_records(bo, 5, 0x10);
	assert_int_equal(kl_repo_runs_import(full, 2, &st, NULL), KL_OK);
	assert_int_equal(st.listed, 5);
	assert_int_equal(st.looked, 2);
	assert_int_equal(st.imported, 2);
	assert_int_equal(kl_repo_runs_import(full, 2, &st, NULL), KL_OK);
	assert_int_equal(st.looked, 4);
	assert_int_equal(st.imported, 2);
	assert_int_equal(kl_repo_runs_import(full, 2, &st, NULL), KL_OK);
	assert_int_equal(st.looked, 5);
	assert_int_equal(st.imported, 1);
	/* a flood of 3 more: read by the next imports, the old all read */
	write_records(bo, 3, 0x40);
	assert_int_equal(kl_repo_runs_import(full, 2, &st, NULL), KL_OK);
	assert_int_equal(st.listed, 8);
	assert_int_equal(st.looked, 7);
	assert_int_equal(kl_repo_runs_import(full, 2, &st, NULL), KL_OK);
	assert_int_equal(st.looked, 8);
	assert_int_equal(st.imported, 1);
	kl_repo_close(bo);
	kl_repo_close(full);
}

/* A backend whose get of one run record fails with fail_rc. */
static struct kl_backend_ops fail_ops;
static const struct kl_backend_ops *fail_inner;
static char fail_name[KL_ID_HEX_LEN + 1];
static int fail_rc;

static int
fail_get(void *ctx, enum kl_ftype t, const char *name, uint64_t off,
    size_t len, size_t max, struct buf **out)
{
	if (t == KL_FT_RUN && fail_rc != KL_OK &&
	    strcmp(name, fail_name) == 0)
		return fail_rc;
	return fail_inner->get(ctx, t, name, off, len, max, out);
}

static void
fail_reads(struct kl_repo *r, const struct kl_id *id, int rc)
{
	struct kl_backend *be = kl_repo_backend(r);

	if (be->ops != &fail_ops) {
		fail_inner = be->ops;
		fail_ops = *be->ops;
		fail_ops.get = fail_get;
		be->ops = &fail_ops;
	}
	kl_id_hex(id, fail_name);
	fail_rc = rc;
}

/*
 * A read of one record that fails for another reason than its content
 * (an I/O error) does not stop the import: that record is unreadable for
 * now, named, and read by the next import.  A lost connection stops it.
 */
static void
test_import_read_error_skips_one_file(void **state)
{
	struct fx *f = *state;
	struct kl_repo *full = NULL, *bo = NULL;
	struct kl_repo_runs_stats st;
	struct kl_runrec r;
	struct kl_id id;
	char want[96];

	make_repo(f, &full);
	assert_int_equal(kl_repo_open(f->repo, f->key, "bk", 2, &bo, NULL),
	    KL_OK);
	write_records(bo, 3, 0x10);
	sample(&r);
	r.run_id[0] = 0x99;
	assert_int_equal(kl_repo_run_write(bo, &r, &id, NULL), KL_OK);
	fail_reads(full, &id, KL_E_CONN);
	assert_int_equal(kl_repo_runs_import(full, 100, &st, NULL),
	    KL_E_CONN);
	fail_reads(full, &id, KL_E_IO);
	assert_int_equal(kl_repo_runs_import(full, 100, &st, NULL), KL_OK);
	assert_int_equal(st.listed, 4);
	assert_int_equal(st.bad, 1);
	assert_int_equal(st.looked, 3);		/* one is still to read */
	kl_id_hex(&id, fail_name);
	snprintf(want, sizeof(want), "runs/%s", fail_name);
	assert_string_equal(st.bad_name, want);
	fail_reads(full, &id, KL_OK);
	assert_int_equal(kl_repo_runs_import(full, 100, &st, NULL), KL_OK);
	assert_int_equal(st.bad, 0);
	assert_int_equal(st.imported, 1);
	assert_int_equal(st.looked, 4);
	kl_repo_close(bo);
	kl_repo_close(full);
}

static int
count_all_cb(void *arg, const struct kl_cat_run *r)
{
	size_t *n = arg;

	n[r->origin == KL_CAT_RUN_IMPORTED]++;
	return 0;
}

/* What a report loads: all of this machine's runs, imported runs only
 * from the start of its period. */
static void
test_foreach_recent_leaves_old_imports(void **state)
{
	struct fx *f = *state;
	struct kl_repo *full = NULL;
	struct kl_cat_run run;
	struct kl_id file;
	size_t n[2] = { 0, 0 };
	struct kl_cat *c;

	make_repo(f, &full);
	c = kl_repo_catalog(full);
	memset(&run, 0, sizeof(run));
	run.kind = "check";
	run.host = "ops";
	run.start_s = run.end_s = 10;
	assert_int_equal(kl_cat_run_add(c, &run, NULL), KL_OK);
	memset(run.run_id, 1, sizeof(run.run_id));
	memset(file.b, 1, KL_ID_LEN);
	assert_int_equal(kl_cat_run_import(c, &file, 20, &run, NULL), 1);
	run.start_s = run.end_s = 1000;
	memset(run.run_id, 2, sizeof(run.run_id));
	memset(file.b, 2, KL_ID_LEN);
	assert_int_equal(kl_cat_run_import(c, &file, 1010, &run, NULL), 1);
	assert_int_equal(kl_cat_run_foreach_recent(c, 500, count_all_cb, n,
	    NULL), KL_OK);
	assert_int_equal(n[0], 1);
	assert_int_equal(n[1], 1);
	kl_repo_close(full);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_vector),
		cmocka_unit_test(test_decode_vector),
		cmocka_unit_test(test_encoder_rules),
		cmocka_unit_test(test_decoder_rejects_reserved_kind_trailing),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_counts_over_2_53_refused),
		cmocka_unit_test(test_runrec_from_run_caps_and_copies),
		cmocka_unit_test_setup_teardown(
		    test_backup_only_writes_full_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_bit_flips_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_one_run_per_id,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_window_skips_read_records, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_read_error_skips_one_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_foreach_recent_leaves_old_imports, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
