/* Private to format/format_*.c: helpers every record codec uses. */
#ifndef KLUIS_FORMAT_INTERNAL_H
#define KLUIS_FORMAT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Decoder-style error to encoder-style: broken input rules are INVAL. */
int fmt_enc_err(int r);
/* Drops whatever an encoder appended after mark (outputs untouched). */
void fmt_unput_to(struct buf *b, size_t mark);
/* Two's complement i64 without implementation-defined conversions. */
int fmt_get_i64(struct buf *b, int64_t *v);
/* Length of a possibly NULL string, capped at max + 1. */
size_t fmt_slen(const char *s, size_t max);
/* A new NUL-terminated copy of n bytes (NUL not counted); NULL on ENOMEM. */
void *fmt_memdup0(const void *p, size_t n);
/* str16 of at most max bytes into a new NUL-terminated string; an
 * embedded NUL is corrupt (it could not survive the conversion). */
int fmt_get_str(struct buf *b, size_t max, char **out);
/* A possibly NULL C string as str16. */
int fmt_put_str(struct buf *b, const char *s);

#endif
