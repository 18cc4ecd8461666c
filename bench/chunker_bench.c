/*
 * chunker_bench: single-core throughput of the chunker and the blob codec.
 * A benchmark, not a test: it prints numbers and judges nothing.
 *
 *   chunker: 256 MiB of pseudo-random data in memory, default parameters,
 *            fed in 1 MiB reads; median of 7 runs in GB/s.
 *   codec:   kl_blob_encode of 1 MiB blobs of text (the headers under
 *            /usr/include, else generated text) at zstd levels 1 and 3,
 *            and kl_blob_decode; medians of 7 runs in MB/s.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zstd.h>

#include "kluis/blobcodec.h"
#include "kluis/buf.h"
#include "kluis/chunker.h"
#include "kluis/err.h"

#define RUNS 7
#define CHUNK_DATA_LEN ((size_t)256 << 20)
#define READ_LEN ((size_t)1 << 20)
#define TEXT_MAX ((size_t)32 << 20)
#define BLOB_LEN ((size_t)1 << 20)
#define INCLUDE_DIR "/usr/include"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double v[RUNS])
{
	qsort(v, RUNS, sizeof(v[0]), dbl_cmp);
	return v[RUNS / 2];
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "chunker_bench: out of memory\n");
		exit(1);
	}
	return p;
}

/* One pass over d in READ_LEN reads; returns the number of chunks. */
static size_t
chunk_pass(struct kl_chunker *c, const uint8_t *d, size_t len)
{
	size_t pos = 0, n, rd, chunks = 0;
	int cut;

	kl_chunker_reset(c);
	while (pos < len) {
		rd = len - pos < READ_LEN ? len - pos : READ_LEN;
		while (rd > 0) {
			n = kl_chunker_next(c, d + pos, rd, &cut);
			pos += n;
			rd -= n;
			chunks += (size_t)cut;
		}
	}
	return chunks + 1;	/* the last chunk ends with the stream */
}

static int
bench_chunker(void)
{
	const struct kl_chunker_params p = { KL_CHUNK_MIN_DEFAULT,
	    KL_CHUNK_AVG_DEFAULT, KL_CHUNK_MAX_DEFAULT };
	uint8_t seed[randombytes_SEEDBYTES] = { 1 }, key[32] = { 2 };
	struct kl_chunker *c;
	uint8_t *d = xmalloc(CHUNK_DATA_LEN);
	double gbs[RUNS], t;
	size_t chunks = 0;
	int i;

	randombytes_buf_deterministic(d, CHUNK_DATA_LEN, seed);
	if (kl_chunker_new(&p, key, &c) != KL_OK) {
		free(d);
		return 1;
	}
	for (i = 0; i < RUNS; i++) {
		t = now();
		chunks = chunk_pass(c, d, CHUNK_DATA_LEN);
		gbs[i] = (double)CHUNK_DATA_LEN / (now() - t) / 1e9;
	}
	printf("chunker: %zu MiB random, min/avg/max %u/%u/%u KiB: "
	    "median %.2f GB/s, mean chunk %.0f KiB (%zu chunks)\n",
	    CHUNK_DATA_LEN >> 20, p.min >> 10, p.avg >> 10, p.max >> 10,
	    median(gbs), (double)CHUNK_DATA_LEN / (double)chunks / 1024,
	    chunks);
	kl_chunker_free(c);
	free(d);
	return 0;
}

/* Appends the file at path to d[*len, TEXT_MAX). */
static void
text_from_file(const char *path, uint8_t *d, size_t *len)
{
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		return;
	*len += fread(d + *len, 1, TEXT_MAX - *len, f);
	fclose(f);
}

/* Appends the regular files under dir, depth first, up to TEXT_MAX. */
static void
text_from_dir(const char *dir, int depth, uint8_t *d, size_t *len)
{
	char path[4096];
	struct dirent *e;
	DIR *dp;

	if (depth > 8 || (dp = opendir(dir)) == NULL)
		return;
	while (*len < TEXT_MAX && (e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    e->d_name) >= sizeof(path))
			continue;
		if (e->d_type == DT_REG)
			text_from_file(path, d, len);
		else if (e->d_type == DT_DIR)
			text_from_dir(path, depth + 1, d, len);
	}
	closedir(dp);
}

/* Fills the rest with generated C-like text. */
static void
text_generate(uint8_t *d, size_t *len)
{
	uint32_t st = 1;
	int n;

	while (TEXT_MAX - *len > 128) {
		st = st * 1103515245u + 12345u;
		n = snprintf((char *)d + *len, 128,
		    "static int\nfield_%u(struct obj_%u *o)\n{\n\treturn "
		    "o->v[%u];\n}\n", st >> 20, (st >> 8) & 0xff, st & 0x3f);
		*len += (size_t)n;
	}
}

struct codec_run {
	ZSTD_CCtx *cc;
	ZSTD_DCtx *dc;
	struct buf *enc, *dec;
	size_t enc_total;
};

/* Encodes every blob of text; returns the seconds taken. */
static double
encode_pass(struct codec_run *cr, int level, const uint8_t *d, size_t len)
{
	double t = now();
	size_t off, n;

	cr->enc_total = 0;
	for (off = 0; off < len; off += n) {
		n = len - off < BLOB_LEN ? len - off : BLOB_LEN;
		buf_reset(cr->enc);
		if (kl_blob_encode(cr->cc, level, d + off, n, cr->enc) != 0)
			exit(1);
		cr->enc_total += buf_size(cr->enc);
	}
	return now() - t;
}

/* Encodes each blob untimed, then times its decoding. */
static double
decode_pass(struct codec_run *cr, int level, const uint8_t *d, size_t len)
{
	double secs = 0, t;
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < BLOB_LEN ? len - off : BLOB_LEN;
		buf_reset(cr->enc);
		buf_reset(cr->dec);
		if (kl_blob_encode(cr->cc, level, d + off, n, cr->enc) != 0)
			exit(1);
		t = now();
		if (kl_blob_decode(cr->dc, buf_data(cr->enc),
		    buf_size(cr->enc), n, cr->dec) != 0)
			exit(1);
		secs += now() - t;
	}
	return secs;
}

static void
bench_level(struct codec_run *cr, int level, const uint8_t *d, size_t len)
{
	double enc[RUNS], dec[RUNS];
	int i;

	for (i = 0; i < RUNS; i++) {
		enc[i] = (double)len / encode_pass(cr, level, d, len) / 1e6;
		dec[i] = (double)len / decode_pass(cr, level, d, len) / 1e6;
	}
	printf("codec: zstd level %d, 1 MiB blobs: encode median %.0f MB/s, "
	    "decode median %.0f MB/s, stored/raw %.3f\n", level, median(enc),
	    median(dec), (double)cr->enc_total / (double)len);
}

static int
bench_codec(void)
{
	struct codec_run cr;
	uint8_t *d = xmalloc(TEXT_MAX);
	size_t len = 0;

	text_from_dir(INCLUDE_DIR, 0, d, &len);
	printf("codec: %zu MiB of text from %s", len >> 20, INCLUDE_DIR);
	text_generate(d, &len);
	printf(", %zu MiB in all\n", len >> 20);
	cr.cc = ZSTD_createCCtx();
	cr.dc = ZSTD_createDCtx();
	cr.enc = buf_new(2 * BLOB_LEN);
	cr.dec = buf_new(2 * BLOB_LEN);
	if (cr.cc == NULL || cr.dc == NULL || cr.enc == NULL || cr.dec == NULL)
		exit(1);
	bench_level(&cr, 3, d, len);
	bench_level(&cr, 1, d, len);
	ZSTD_freeCCtx(cr.cc);
	ZSTD_freeDCtx(cr.dc);
	buf_free(cr.enc);
	buf_free(cr.dec);
	free(d);
	return 0;
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	if (bench_chunker() != 0)
		return 1;
	return bench_codec();
}
