/*
 * The audit-log parser (repo-server/audit.c, PROTOCOL.md §6): the input is
 * the content of DIR/audit.log, as `kluis-server audit verify` and every
 * append read it.  No input may crash either reader, and:
 *  - verify reports an intact chain with one record per line, or the first
 *    broken line right after the intact ones, with a reason;
 *  - an append to an intact log succeeds and leaves an intact log one
 *    record longer;
 *  - an append to a broken log either fails and leaves the bytes exactly as
 *    they were, or succeeds and verify still reports the same first break
 *    (the damage is neither hidden nor moved);
 *  - kl_audit_scan reports what verify reports and hands over exactly the
 *    intact records, in order (one parser for both).
 * The log lives in a sandbox directory (on tmpfs when /dev/shm exists).
 */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kluis/audit.h"
#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"

#include "fuzz.h"

#define SANDBOX_MAX 256

static char dir[SANDBOX_MAX], log_path[SANDBOX_MAX + 16];

static void
sandbox_remove(void)
{
	unlink(log_path);
	rmdir(dir);
}

static void
sandbox_init(void)
{
	const char *base = fuzz_scratch_base();

	snprintf(dir, sizeof(dir), "%s/kluis-fuzz-audit.XXXXXX", base);
	fuzz_require(mkdtemp(dir) != NULL);
	snprintf(log_path, sizeof(log_path), "%s/%s", dir, KL_AUDIT_FILE);
	atexit(sandbox_remove);
}

static void
log_write(const uint8_t *p, size_t len)
{
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);

	fuzz_require(fd >= 0);
	fuzz_require(len == 0 || kl_write_full(fd, p, len) == KL_OK);
	fuzz_require(close(fd) == 0);
}

static size_t
newlines(const uint8_t *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += p[i] == '\n';
	return n;
}

struct seen {
	uint64_t n;
	int ordered;
};

static int
on_record(void *arg, const struct kl_audit_entry *e)
{
	struct seen *s = arg;

	s->ordered &= e->seq == s->n + 1 && e->op != NULL &&
	    e->time != NULL;
	s->n++;
	return 0;
}

/* The scan agrees with verify and passes every intact record once. */
static void
scan_agrees(int r, const struct kl_audit_report *rep)
{
	struct kl_audit_report srep;
	struct seen s = { 0, 1 };

	fuzz_require(kl_audit_scan(dir, on_record, &s, &srep) == r);
	fuzz_require(srep.records == rep->records && srep.bad_line ==
	    rep->bad_line && strcmp(srep.what, rep->what) == 0 &&
	    strcmp(srep.last_hash, rep->last_hash) == 0);
	fuzz_require(s.n == rep->records && s.ordered);
}

/* What verify reports must be consistent in itself. */
static int
verify(struct kl_audit_report *rep)
{
	int r = kl_audit_verify(dir, rep);

	fuzz_require(r == KL_OK || r == KL_E_CORRUPT);
	fuzz_require(strlen(rep->last_hash) == 64);
	if (r == KL_OK)
		fuzz_require(rep->bad_line == 0);
	else
		fuzz_require(rep->bad_line == rep->records + 1 &&
		    rep->what[0] != '\0');
	scan_agrees(r, rep);
	return r;
}

static int
append_one(void)
{
	static const struct kl_audit_who who = { "append-only", 42, "kluis",
	    "SHA256:fuzz", "web01", "127.0.0.1", "fuzz" };
	static const struct kl_audit_rec rec = { "put", 6,
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    100, 0, KL_OK };
	struct kl_audit *a = NULL;
	int r;

	fuzz_require(kl_audit_open(dir, &a) == KL_OK);
	r = kl_audit_append(a, &who, &rec);
	kl_audit_close(a);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_audit_report before, after;
	struct buf *b = NULL;
	int r1, r2, r3;

	fuzz_init();
	if (dir[0] == '\0')
		sandbox_init();
	log_write(data, size);
	r1 = verify(&before);
	if (r1 == KL_OK)
		fuzz_require(before.records == newlines(data, size));
	r2 = append_one();
	fuzz_require(r1 != KL_OK || r2 == KL_OK);
	if (r2 != KL_OK) {
		fuzz_require(kl_file_read_all(log_path, size + 1, &b) ==
		    KL_OK);
		fuzz_require(fuzz_buf_eq(b, data, size));
		buf_free(b);
		return 0;
	}
	r3 = verify(&after);
	fuzz_require(r3 == r1);
	if (r1 == KL_OK)
		fuzz_require(after.records == before.records + 1);
	else
		fuzz_require(after.bad_line == before.bad_line &&
		    strcmp(after.what, before.what) == 0);
	return 0;
}
