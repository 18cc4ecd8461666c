/*
 * Deterministic mutation testing for parsers (STYLE.md, "Tests"): feed a
 * parser every single-bit flip and every truncation of a valid input and
 * require that it either fails with an error code or - for bit flips that
 * land in fields without constraints - succeeds; it must never crash or
 * leak (ASan/LSan catch those).  The callback returns the parser's result
 * and frees whatever the parser allocated.
 */
#ifndef KLUIS_TEST_MUTATE_H
#define KLUIS_TEST_MUTATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*mutate_parse_fn)(const uint8_t *p, size_t len, void *arg);

/*
 * Runs parse on every truncation [0, len) and every bit flip of p.
 * Returns the number of truncations that were (wrongly) accepted; bit
 * flips accepted are counted in *flips_ok (a parser may legitimately
 * accept a flip in a free-form field).  Aborts on allocation failure.
 */
static inline size_t
mutate_run(const uint8_t *p, size_t len, mutate_parse_fn parse, void *arg,
    size_t *flips_ok)
{
	uint8_t *m = malloc(len ? len : 1);
	size_t i, bad_trunc = 0, ok = 0;
	int bit;

	if (m == NULL)
		abort();
	for (i = 0; i < len; i++) {
		memcpy(m, p, i);
		if (parse(m, i, arg) == 0)
			bad_trunc++;
	}
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(m, p, len);
			m[i] ^= (uint8_t)(1u << bit);
			if (parse(m, len, arg) == 0)
				ok++;
		}
	}
	free(m);
	if (flips_ok != NULL)
		*flips_ok = ok;
	return bad_trunc;
}

#endif
