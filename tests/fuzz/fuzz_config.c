/*
 * kl_config_decode (FORMAT.md §6): no crash on any input; what decodes
 * re-encodes to the same bytes (the encoding is canonical).
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
	struct kl_config c;
	struct buf *b;

	fuzz_init();
	if (kl_config_decode(data, size, &c) != KL_OK)
		return 0;
	fuzz_require(size == KL_CONFIG_LEN);
	b = fuzz_buf_new();
	fuzz_require(kl_config_encode(&c, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	return 0;
}
