/*
 * kl_runrec_decode (FORMAT.md §17, issue #15): no crash or leak on any
 * input; after a successful decode every string is present, the host is
 * not empty, the rules hold, and the record re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_runrec r = {0};
	struct buf *b;

	fuzz_init();
	if (kl_runrec_decode(data, size, &r) != KL_OK)
		return 0;
	fuzz_require(r.host != NULL && r.host[0] != '\0' &&
	    r.detail != NULL && r.program != NULL);
	fuzz_require(kl_runrec_kind_name(r.kind) != NULL &&
	    r.exit_code <= 255 && r.start_s >= 0 && r.end_s >= r.start_s);
	b = fuzz_buf_new();
	fuzz_require(kl_runrec_encode(&r, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	kl_runrec_clear(&r);
	return 0;
}
