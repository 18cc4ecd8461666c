/* Text helpers shared by the output code of client and restore-tools. */
#ifndef KLUIS_TEXT_H
#define KLUIS_TEXT_H

#include <stddef.h>
#include <stdio.h>

/*
 * Length (1-4) of the valid UTF-8 sequence at p[0..n), n >= 1; 0 if it is
 * not one: a bad lead or continuation byte, a sequence cut short, an
 * overlong form, a surrogate, or a code point beyond U+10FFFF.
 */
size_t kl_utf8_len(const unsigned char *p, size_t n);

/*
 * 1 if the valid UTF-8 sequence p[0, l) (kl_utf8_len) is a code point that
 * acts on a terminal or on how a line reads: a C1 control
 * (U+0080-U+009F), the Arabic letter mark (U+061C), a left-to-right or
 * right-to-left mark (U+200E, U+200F), a line or paragraph separator or
 * bidirectional embedding or override (U+2028-U+202E) or a bidirectional
 * isolate (U+2066-U+2069).  Both kl_text_esc and kluis/json.h escape them.
 * *cp gets the code point.
 */
int kl_utf8_unsafe(const unsigned char *p, size_t l, unsigned long *cp);

/* Room for the escaped form of n input bytes and its NUL. */
#define KL_TEXT_ESC_LEN(n) (4 * (size_t)(n) + 1)
/* The smallest out_len with which kl_text_esc always makes progress. */
#define KL_TEXT_ESC_STEP_MIN 17

/*
 * Escapes untrusted text (names, tags, paths, messages from a repository,
 * a catalog, a server or a file system) for a terminal or a plain-text
 * file, so that it cannot move the cursor, clear the screen, set the
 * window title, forge or reorder lines (docs/CLI.md "Names on the
 * terminal"):
 *   - a backslash becomes "\\";
 *   - each byte of a C0 control (0x00-0x1f), of DEL (0x7f), of anything
 *     that is not valid UTF-8 (kl_utf8_len), and of the UTF-8 form of a
 *     C1 control (U+0080-U+009F), the Arabic letter mark (U+061C), a
 *     left-to-right or right-to-left mark (U+200E, U+200F), a line or
 *     paragraph separator or bidirectional embedding or override
 *     (U+2028-U+202E) or a bidirectional isolate (U+2066-U+2069) becomes
 *     "\xNN" (two lowercase hex digits);
 *   - everything else is copied.
 * So every escape names exact bytes, and printf '%b' turns the output
 * back into them.  Writes as much of s[0, len) as fits into out[0,
 * out_len) followed by a NUL, never splitting an escape or a UTF-8
 * sequence, and returns the number of input bytes consumed: len when
 * out_len >= KL_TEXT_ESC_LEN(len), at least 1 when len > 0 and out_len >=
 * KL_TEXT_ESC_STEP_MIN.  out_len must be >= 1.  Pure: no allocation,
 * no I/O.
 */
size_t kl_text_esc(char *out, size_t out_len, const char *s, size_t len);

/* The length of kl_text_esc's output for all of s[0, len), without the
 * NUL. */
size_t kl_text_esc_len(const char *s, size_t len);

/*
 * Writes s as a Prometheus label value, quotes included: backslash,
 * double quote and newline escaped as the exposition format asks; the
 * format is UTF-8, so a byte that is not part of valid UTF-8 (kl_utf8_len)
 * becomes U+FFFD, and other control bytes are dropped.  Used by every
 * metrics file kluis and kluis-server write.
 */
void kl_prom_label(FILE *f, const char *s);

#endif
