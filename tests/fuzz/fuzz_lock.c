/*
 * kl_lock_decode (FORMAT.md §12): no crash on any input; what decodes
 * re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_lock l;
	struct buf *b;
	size_t hlen;

	fuzz_init();
	if (kl_lock_decode(data, size, &l) != KL_OK)
		return 0;
	hlen = strnlen(l.hostname, sizeof(l.hostname));
	fuzz_require(hlen >= 1 && hlen <= KL_NAME_MAX && l.exclusive <= 1);
	b = fuzz_buf_new();
	fuzz_require(kl_lock_encode(&l, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	return 0;
}
