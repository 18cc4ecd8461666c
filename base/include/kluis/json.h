/*
 * JSON output, one rule for every JSON kluis writes (docs/CLI.md "JSON
 * conventions"; the report, the command line and kluis-server alike):
 * strings escaped by kl_json_str, and struct kl_json, the one writer that
 * places braces, brackets, colons and commas.  Output is compact: no
 * spaces and no newlines (but see kl_json_arr_lines); a newline after a
 * document is the caller's.
 */
#ifndef KLUIS_JSON_H
#define KLUIS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kl_id;

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

/* ---- the writer ---- */

/* Objects and arrays open at once, at most. */
#define KL_JSON_DEPTH_MAX 32
/* Decimals of kl_json_real, at most. */
#define KL_JSON_DECIMALS_MAX 17

/*
 * A JSON document (or several, one after the other) written to f as it
 * goes: the writer tracks the open objects and arrays and writes the
 * commas between members and elements itself.  Nothing is buffered and
 * nothing allocated; write errors stay in f (check ferror or fclose).
 * Not thread-safe.  The fields are the writer's.
 */
struct kl_json {
	FILE *f;
	int depth;		/* objects and arrays open */
	/* bit d-1 of each: level d is an object; has a member or an
	 * element; is a kl_json_arr_lines */
	uint32_t obj, used, lines;
	int keyed;		/* a key is written, its value due */
};

/* A writer to f, at the top level (nothing open). */
void kl_json_init(struct kl_json *j, FILE *f);

/*
 * Every function below that writes a value takes key: inside an object
 * the member's name (escaped like a string), or NULL for the value of the
 * key kl_json_key wrote; elsewhere (an array element, a value at the top
 * level) NULL.  A comma goes before every member or element but the first
 * of its object or array; values at the top level get no separator.
 *
 * Misuse is a broken invariant and aborts: a key outside an object or
 * none inside one, a key while kl_json_key's value is due, closing what
 * is not open or an object whose key has no value, more than
 * KL_JSON_DEPTH_MAX levels, more than KL_JSON_DECIMALS_MAX decimals.
 * A document left open (a command that fails half-way) is no misuse: the
 * writer does not check that everything was closed.
 */

/* Opens an object: '{'. */
void kl_json_obj(struct kl_json *j, const char *key);
/* Closes the innermost object: '}'. */
void kl_json_obj_end(struct kl_json *j);
/* Opens an array: '['. */
void kl_json_arr(struct kl_json *j, const char *key);
/* Opens an array with ",\n" between its elements, each after the first
 * on a new line (`kluis cat tree`: one node a line). */
void kl_json_arr_lines(struct kl_json *j, const char *key);
/* Closes the innermost array: ']'. */
void kl_json_arr_end(struct kl_json *j);

/*
 * Writes a member's key and ':', for a value that somebody else writes
 * next with key NULL (a function that writes one value wherever it goes).
 */
void kl_json_key(struct kl_json *j, const char *key);

/* null. */
void kl_json_null(struct kl_json *j, const char *key);
/* true if v is not 0, else false. */
void kl_json_bool(struct kl_json *j, const char *key, int v);
/* An integer in decimal. */
void kl_json_u64(struct kl_json *j, const char *key, uint64_t v);
void kl_json_i64(struct kl_json *j, const char *key, int64_t v);
/*
 * A number with decimals digits after the point (0..KL_JSON_DECIMALS_MAX),
 * as printf's "%.*f" writes it; null if v is not finite (printf's nan and
 * inf are no JSON).
 */
void kl_json_real(struct kl_json *j, const char *key, double v,
    int decimals);
/* A string (kl_json_str), or null if s is NULL. */
void kl_json_text(struct kl_json *j, const char *key, const char *s);
/* The string s[0, len) (kl_json_str); s may hold NUL bytes. */
void kl_json_textn(struct kl_json *j, const char *key, const char *s,
    size_t len);
/* An id as a string of its 64 lowercase hex digits. */
void kl_json_id(struct kl_json *j, const char *key, const struct kl_id *id);
/* A number as the fewest digits that read back as v (printf's "%.15g",
 * else "%.17g"), or null if v is not finite: for numbers that are data
 * (a run's details), not a display with fixed decimals. */
void kl_json_num(struct kl_json *j, const char *key, double v);

#endif
