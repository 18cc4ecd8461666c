/* Text helpers shared by the output code of client and restore-tools. */
#ifndef KLUIS_TEXT_H
#define KLUIS_TEXT_H

#include <stddef.h>

/*
 * Length (1-4) of the valid UTF-8 sequence at p[0..n), n >= 1; 0 if it is
 * not one: a bad lead or continuation byte, a sequence cut short, an
 * overlong form, a surrogate, or a code point beyond U+10FFFF.
 */
size_t kl_utf8_len(const unsigned char *p, size_t n);

#endif
