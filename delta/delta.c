/*
 * librsync under kluis's rules: bounded outputs, no log, every length
 * checked before librsync sees it.  See kluis/delta.h.
 */
#include <pthread.h>
#include <string.h>

#include <librsync.h>

#include "kluis/buf.h"
#include "kluis/delta.h"
#include "kluis/err.h"

/* A job that makes no progress this many times in a row is stuck. */
#define STALLS_MAX 2

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void
no_log(rs_loglevel level, char const *msg)
{
	(void)level;
	(void)msg;
}

/* librsync logs to stderr by default; a library of ours never prints. */
static void
quiet_init(void)
{
	rs_trace_to(no_log);
	rs_trace_set_level(RS_LOG_EMERG);
}

static void
quiet(void)
{
	(void)pthread_once(&quiet_once, quiet_init);
}

const char *
kl_delta_rsync_version(void)
{
	static const char pre[] = "librsync ";

	/* librsync's string starts with its name */
	if (strncmp(rs_librsync_version, pre, sizeof(pre) - 1) == 0)
		return rs_librsync_version + sizeof(pre) - 1;
	return rs_librsync_version;
}

static uint32_t
be32dec(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

size_t
kl_delta_sig_len(size_t len)
{
	return KL_DELTA_SIG_HDR_LEN + (len + KL_DELTA_BLOCK_LEN - 1) /
	    KL_DELTA_BLOCK_LEN * KL_DELTA_SIG_ENTRY_LEN;
}

/*
 * Runs job on io until it is done, fails, or stops moving (RS_BLOCKED
 * with nothing consumed or produced: it needs input there is none of,
 * or output space there is none of).  Returns librsync's result.
 */
static rs_result
job_run(rs_job_t *job, rs_buffers_t *io)
{
	rs_result r;
	int stalls = 0;

	for (;;) {
		size_t in = io->avail_in, out = io->avail_out;

		r = rs_job_iter(job, io);
		if (r != RS_BLOCKED)
			return r;
		if (io->avail_in == in && io->avail_out == out) {
			if (++stalls >= STALLS_MAX)
				return RS_BLOCKED;
		} else
			stalls = 0;
	}
}

/* Runs job over in[0, in_len) (the whole input) into out[0, out_len);
 * io is left as librsync left it. */
static rs_result
job_once(rs_job_t *job, const void *in, size_t in_len, int eof, void *out,
    size_t out_len, rs_buffers_t *io)
{
	memset(io, 0, sizeof(*io));
	io->next_in = (char *)(uintptr_t)in;
	io->avail_in = in_len;
	io->eof_in = eof;
	io->next_out = out;
	io->avail_out = out_len;
	return job_run(job, io);
}

int
kl_delta_sig(const uint8_t *chunk, size_t len, struct buf *out)
{
	uint8_t last[KL_DELTA_BLOCK_LEN], *p;
	size_t need, whole, tail;
	rs_buffers_t io;
	rs_job_t *job;
	rs_result r;
	int rc;

	if (len == 0 || len > KL_DELTA_CHUNK_MAX)
		return KL_E_INVAL;
	quiet();
	need = kl_delta_sig_len(len);
	if ((rc = buf_reserve(out, need, &p)) != KL_OK)
		return rc;
	if ((job = rs_sig_begin(KL_DELTA_BLOCK_LEN, KL_DELTA_STRONG_LEN,
	    RS_RK_BLAKE2_SIG_MAGIC)) == NULL) {
		buf_unput(out, need);
		return KL_E_NOMEM;
	}
	tail = len % KL_DELTA_BLOCK_LEN;
	whole = len - tail;
	r = job_once(job, chunk, whole, tail == 0, p, need, &io);
	if (tail > 0 && r == RS_BLOCKED && io.avail_in == 0) {
		/* the last block, padded with zeros (§7.1) */
		memcpy(last, chunk + whole, tail);
		memset(last + tail, 0, sizeof(last) - tail);
		io.next_in = (char *)last;
		io.avail_in = sizeof(last);
		io.eof_in = 1;
		r = job_run(job, &io);
	}
	rs_job_free(job);
	if (r != RS_DONE || io.avail_out != 0 || io.avail_in != 0) {
		buf_unput(out, need);
		return r == RS_MEM_ERROR ? KL_E_NOMEM : KL_E_INVAL;
	}
	return KL_OK;
}

/* The shape of a signature of some chunk: header and whole entries. */
static int
sig_shape(const uint8_t *sig, size_t sig_len)
{
	if (sig_len <= KL_DELTA_SIG_HDR_LEN || (sig_len -
	    KL_DELTA_SIG_HDR_LEN) % KL_DELTA_SIG_ENTRY_LEN != 0)
		return KL_E_CORRUPT;
	if (be32dec(sig) != RS_RK_BLAKE2_SIG_MAGIC ||
	    be32dec(sig + 4) != KL_DELTA_BLOCK_LEN ||
	    be32dec(sig + 8) != KL_DELTA_STRONG_LEN)
		return KL_E_CORRUPT;
	return KL_OK;
}

int
kl_delta_sig_check(const uint8_t *sig, size_t sig_len, size_t len)
{
	if (sig == NULL || len == 0 || len > KL_DELTA_CHUNK_MAX ||
	    sig_len != kl_delta_sig_len(len))
		return KL_E_CORRUPT;
	return sig_shape(sig, sig_len);
}

/* Loads the concatenated signature of the base stream into *out. */
static int
sumset_load(const struct kl_delta_base *sigs, size_t n, rs_signature_t **out)
{
	rs_signature_t *sum = NULL;
	rs_buffers_t io;
	rs_job_t *job;
	rs_result r = RS_DONE;
	size_t i;

	*out = NULL;
	if ((job = rs_loadsig_begin(&sum)) == NULL)
		return KL_E_NOMEM;
	for (i = 0; i < n && (r == RS_DONE || r == RS_BLOCKED); i++) {
		/* the first signature whole, the others' entries only */
		size_t skip = i == 0 ? 0 : KL_DELTA_SIG_HDR_LEN;

		r = job_once(job, sigs[i].p + skip, sigs[i].len - skip,
		    i + 1 == n, NULL, 0, &io);
		if (io.avail_in != 0)
			r = RS_CORRUPT;
	}
	rs_job_free(job);
	if (r != RS_DONE) {
		if (sum != NULL)
			rs_free_sumset(sum);
		return r == RS_MEM_ERROR ? KL_E_NOMEM : KL_E_INVAL;
	}
	if (rs_build_hash_table(sum) != RS_DONE) {
		rs_free_sumset(sum);
		return KL_E_NOMEM;
	}
	*out = sum;
	return KL_OK;
}

int
kl_delta_make(const struct kl_delta_base *sigs, size_t n,
    const uint8_t *target, size_t len, size_t max, struct buf *out)
{
	rs_signature_t *sum;
	rs_buffers_t io;
	rs_job_t *job;
	rs_result r;
	uint8_t *p;
	size_t i;
	int rc;

	if (n == 0 || n > KL_DELTA_BASES_MAX || len == 0 ||
	    len > KL_DELTA_CHUNK_MAX || max == 0)
		return KL_E_INVAL;
	for (i = 0; i < n; i++)
		if (sig_shape(sigs[i].p, sigs[i].len) != KL_OK)
			return KL_E_INVAL;
	quiet();
	if ((rc = sumset_load(sigs, n, &sum)) != KL_OK)
		return rc;
	if ((rc = buf_reserve(out, max, &p)) != KL_OK) {
		rs_free_sumset(sum);
		return rc;
	}
	if ((job = rs_delta_begin(sum)) == NULL) {
		buf_unput(out, max);
		rs_free_sumset(sum);
		return KL_E_NOMEM;
	}
	r = job_once(job, target, len, 1, p, max, &io);
	rs_job_free(job);
	rs_free_sumset(sum);
	if (r == RS_DONE) {
		buf_unput(out, io.avail_out);
		return KL_OK;
	}
	buf_unput(out, max);
	if (r == RS_BLOCKED && io.avail_out == 0)
		return KL_E_LIMIT;
	return r == RS_MEM_ERROR ? KL_E_NOMEM : KL_E_INVAL;
}

/* The base stream of a patch: bases, each padded to whole blocks. */
struct stream {
	const struct kl_delta_base *b;
	size_t n;
	uint64_t start[KL_DELTA_BASES_MAX + 1];	/* padded offsets */
};

/*
 * librsync's copy callback: fills [pos, pos + *len) of the base stream.
 * A range inside one base's bytes is handed over without a copy; others
 * are assembled in the buffer librsync gives (at least *len bytes).
 */
static rs_result
stream_copy(void *arg, rs_long_t pos, size_t *len, void **out)
{
	const struct stream *s = arg;
	uint64_t at, end;
	uint8_t *dst = *out;
	size_t i, k;

	if (pos < 0 || *len > s->start[s->n] ||
	    (uint64_t)pos > s->start[s->n] - *len)
		return RS_CORRUPT;
	at = (uint64_t)pos;
	end = at + *len;
	for (i = 0; i < s->n && s->start[i + 1] <= at; i++)
		;
	if (i < s->n && end <= s->start[i] + s->b[i].len) {
		*out = (void *)(uintptr_t)(s->b[i].p + (at - s->start[i]));
		return RS_DONE;
	}
	for (k = 0; at < end; i++) {
		uint64_t off = at - s->start[i], stop = s->start[i + 1] < end ?
		    s->start[i + 1] : end;

		if (off < s->b[i].len) {
			uint64_t m = s->b[i].len - off < stop - at ?
			    s->b[i].len - off : stop - at;

			memcpy(dst + k, s->b[i].p + off, m);
			k += m;
			at += m;
		}
		if (at < stop) {
			memset(dst + k, 0, stop - at);
			k += stop - at;
			at = stop;
		}
	}
	return RS_DONE;
}

int
kl_delta_apply(const struct kl_delta_base *bases, size_t n,
    uint32_t block_len, const uint8_t *d, size_t d_len, uint8_t *out,
    size_t out_len)
{
	struct stream s;
	rs_buffers_t io;
	rs_job_t *job;
	rs_result r;
	size_t i;

	if (n == 0 || n > KL_DELTA_BASES_MAX || out_len == 0 ||
	    out_len > KL_DELTA_CHUNK_MAX || block_len < KL_DELTA_BLOCK_MIN ||
	    block_len > KL_DELTA_BLOCK_MAX || (block_len & (block_len - 1)))
		return KL_E_INVAL;
	s.b = bases;
	s.n = n;
	s.start[0] = 0;
	for (i = 0; i < n; i++) {
		if (bases[i].len == 0 || bases[i].len > KL_DELTA_CHUNK_MAX)
			return KL_E_INVAL;
		s.start[i + 1] = s.start[i] + (bases[i].len + block_len - 1) /
		    block_len * block_len;
	}
	quiet();
	if ((job = rs_patch_begin(stream_copy, &s)) == NULL)
		return KL_E_NOMEM;
	r = job_once(job, d, d_len, 1, out, out_len, &io);
	rs_job_free(job);
	if (r == RS_MEM_ERROR)
		return KL_E_NOMEM;
	/* done, with every byte of the stream used and out exactly filled */
	if (r != RS_DONE || io.avail_in != 0 || io.avail_out != 0)
		return KL_E_CORRUPT;
	return KL_OK;
}
