/*
 * kl_tree_decode (FORMAT.md §11): no crash or leak on any input.  A tree
 * that decodes holds only valid nodes in strictly increasing name order
 * and re-encodes to exactly the input bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/format.h"

#include "fuzz.h"

static void
check_nodes(const struct kl_tree *t)
{
	size_t i;

	fuzz_require(t->n == 0 || t->nodes != NULL);
	for (i = 0; i < t->n; i++) {
		fuzz_require(kl_node_valid(&t->nodes[i]) == KL_OK);
		if (i > 0)
			fuzz_require(
			    kl_name_cmp(t->nodes[i - 1].name,
			        t->nodes[i - 1].name_len, t->nodes[i].name,
			        t->nodes[i].name_len) < 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_tree t = {NULL, 0};
	struct buf *b;

	fuzz_init();
	if (kl_tree_decode(data, size, &t) != KL_OK)
		return 0;
	check_nodes(&t);
	b = fuzz_buf_new();
	fuzz_require(kl_tree_encode(&t, b) == KL_OK);
	fuzz_require(fuzz_buf_eq(b, data, size));
	buf_free(b);
	kl_tree_clear(&t);
	return 0;
}
