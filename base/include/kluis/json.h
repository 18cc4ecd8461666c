/*
 * JSON strings, one rule for every JSON kluis writes (docs/CLI.md "JSON
 * conventions"; the report, the command line and kluis-server alike).
 */
#ifndef KLUIS_JSON_H
#define KLUIS_JSON_H

#include <stddef.h>
#include <stdio.h>

/*
 * Writes s[0, len) to f as a JSON string, quotes included: valid UTF-8
 * sequences as they are, '"' and '\' after a backslash, bytes below 0x20,
 * 0x7f and every byte that is not part of a valid UTF-8 sequence as
 * \u00XX of the byte, and the code points that act on a terminal or on
 * how a line reads (kl_utf8_unsafe: C1 controls, bidi controls, line
 * separators) as \uXXXX of the code point, so that a JSON viewer or a
 * terminal shows them as escapes.  Lossy for invalid bytes (0xff and
 * U+00FF decode alike); text output names exact bytes (kl_text_esc).
 */
void kl_json_str(FILE *f, const char *s, size_t len);

/* kl_json_str of a NUL-terminated string. */
void kl_json_cstr(FILE *f, const char *s);

#endif
