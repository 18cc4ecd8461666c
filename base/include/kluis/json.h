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
 * \u00XX of the byte.  Lossy for the last kind (0xff and U+00FF decode
 * alike); text output names exact bytes instead (kl_text_esc).
 */
void kl_json_str(FILE *f, const char *s, size_t len);

/* kl_json_str of a NUL-terminated string. */
void kl_json_cstr(FILE *f, const char *s);

#endif
