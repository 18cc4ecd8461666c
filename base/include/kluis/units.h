/*
 * Durations and sizes as operators write them on command lines and in
 * forced commands (docs/CLI.md "Durations and sizes").  Pure parsers: no
 * allocation, no I/O.
 */
#ifndef KLUIS_UNITS_H
#define KLUIS_UNITS_H

#include <stdint.h>

/*
 * A duration: "0", or one or more <digits><unit> with units y (365 days),
 * m (30 days), w (7 days), d, h, min and s, each unit at most once and in
 * that order ("2y5m7d3h", "14d", "90s").  *secs gets the total in seconds.
 * KL_E_INVAL for anything else (an empty string, a bare number other than
 * 0, an unknown or repeated unit), KL_E_LIMIT above 1000 years.  *secs is
 * written only on success.
 */
int kl_duration_parse(const char *s, int64_t *secs);

/*
 * A size: <digits> with an optional unit K, M, G, T (powers of 1024; also
 * written KiB, MiB, GiB, TiB) or B.  KL_E_INVAL for anything else,
 * KL_E_LIMIT beyond 2^63 - 1 bytes.  *bytes is written only on success.
 */
int kl_size_parse(const char *s, uint64_t *bytes);

/* t (UTC seconds) as "2026-12-08T03:14:15Z", or "@T" when it has no
 * calendar date. */
#define KL_UTC_LEN 32
void kl_time_utc(char out[KL_UTC_LEN], int64_t t);

#endif
