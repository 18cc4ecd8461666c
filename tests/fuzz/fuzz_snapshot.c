/*
 * kl_snapshot_decode (FORMAT.md §10): no crash or leak on any input; after
 * a successful decode every string is present, and the snapshot
 * re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

static void
check_strings(const struct kl_snapshot *s)
{
	size_t i;

	fuzz_require(
	    s->hostname != NULL && s->username != NULL && s->program != NULL);
	fuzz_require(s->npaths >= 1 && s->paths != NULL);
	for (i = 0; i < s->npaths; i++)
		fuzz_require(s->paths[i] != NULL && s->paths[i][0] == '/');
	fuzz_require(s->ntags == 0 || s->tags != NULL);
	for (i = 0; i < s->ntags; i++)
		fuzz_require(s->tags[i] != NULL && s->tags[i][0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_snapshot s = {0};
	struct buf *b;

	fuzz_init();
	if (kl_snapshot_decode(data, size, &s) != KL_OK)
		return 0;
	check_strings(&s);
	b = fuzz_buf_new();
	fuzz_require(kl_snapshot_encode(&s, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	kl_snapshot_clear(&s);
	return 0;
}
