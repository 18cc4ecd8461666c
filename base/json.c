/* JSON strings and the writer (kluis/json.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/hash.h"
#include "kluis/json.h"
#include "kluis/text.h"

void
kl_json_str(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t i = 0, l;

	fputc('"', f);
	while (i < len) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i++]);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\u%04x", p[i++]);
		else if ((l = kl_utf8_len(p + i, len - i)) == 0)
			fprintf(f, "\\u%04x", p[i++]);
		else if (l > 1 && kl_utf8_unsafe(p + i, l, &cp)) {
			fprintf(f, "\\u%04lx", cp);	/* all are in the BMP */
			i += l;
		} else {
			fwrite(p + i, 1, l, f);
			i += l;
		}
	}
	fputc('"', f);
}

void
kl_json_cstr(FILE *f, const char *s)
{
	kl_json_str(f, s, strlen(s));
}

/* ---- the writer ---- */

void
kl_json_init(struct kl_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* The bit of the innermost level (depth > 0). */
static uint32_t
json_bit(const struct kl_json *j)
{
	return (uint32_t)1 << (j->depth - 1);
}

/* The comma before a member or element but the first. */
static void
json_sep(struct kl_json *j)
{
	uint32_t bit = json_bit(j);

	if (j->used & bit)
		fputs(j->lines & bit ? ",\n" : ",", j->f);
	j->used |= bit;
}

/* What goes before a value: nothing, a comma, a key (see json.h). */
static void
json_before(struct kl_json *j, const char *key)
{
	if (j->depth == 0 || !(j->obj & json_bit(j))) {
		if (key != NULL)
			abort();	/* a key outside an object */
		if (j->depth > 0)
			json_sep(j);
		return;
	}
	if ((key == NULL) != (j->keyed != 0))
		abort();	/* no key in an object, or two */
	if (key != NULL)
		kl_json_key(j, key);
	j->keyed = 0;
}

void
kl_json_key(struct kl_json *j, const char *key)
{
	if (j->depth == 0 || !(j->obj & json_bit(j)) || j->keyed ||
	    key == NULL)
		abort();
	json_sep(j);
	kl_json_cstr(j->f, key);
	fputc(':', j->f);
	j->keyed = 1;
}

static void
json_open(struct kl_json *j, const char *key, int obj, int lines)
{
	uint32_t bit;

	json_before(j, key);
	if (j->depth == KL_JSON_DEPTH_MAX)
		abort();
	j->depth++;
	bit = json_bit(j);
	j->obj = obj ? j->obj | bit : j->obj & ~bit;
	j->lines = lines ? j->lines | bit : j->lines & ~bit;
	j->used &= ~bit;
	fputc(obj ? '{' : '[', j->f);
}

static void
json_close(struct kl_json *j, int obj)
{
	if (j->depth == 0 || ((j->obj & json_bit(j)) != 0) != obj ||
	    j->keyed)
		abort();
	j->depth--;
	fputc(obj ? '}' : ']', j->f);
}

void
kl_json_obj(struct kl_json *j, const char *key)
{
	json_open(j, key, 1, 0);
}

void
kl_json_obj_end(struct kl_json *j)
{
	json_close(j, 1);
}

void
kl_json_arr(struct kl_json *j, const char *key)
{
	json_open(j, key, 0, 0);
}

void
kl_json_arr_lines(struct kl_json *j, const char *key)
{
	json_open(j, key, 0, 1);
}

void
kl_json_arr_end(struct kl_json *j)
{
	json_close(j, 0);
}

void
kl_json_null(struct kl_json *j, const char *key)
{
	json_before(j, key);
	fputs("null", j->f);
}

void
kl_json_bool(struct kl_json *j, const char *key, int v)
{
	json_before(j, key);
	fputs(v ? "true" : "false", j->f);
}

void
kl_json_u64(struct kl_json *j, const char *key, uint64_t v)
{
	json_before(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void
kl_json_i64(struct kl_json *j, const char *key, int64_t v)
{
	json_before(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void
kl_json_real(struct kl_json *j, const char *key, double v, int decimals)
{
	if (decimals < 0 || decimals > KL_JSON_DECIMALS_MAX)
		abort();
	if (!isfinite(v)) {
		kl_json_null(j, key);
		return;
	}
	json_before(j, key);
	fprintf(j->f, "%.*f", decimals, v);
}

void
kl_json_text(struct kl_json *j, const char *key, const char *s)
{
	if (s == NULL)
		kl_json_null(j, key);
	else
		kl_json_textn(j, key, s, strlen(s));
}

void
kl_json_textn(struct kl_json *j, const char *key, const char *s,
    size_t len)
{
	json_before(j, key);
	kl_json_str(j->f, s, len);
}

void
kl_json_id(struct kl_json *j, const char *key, const struct kl_id *id)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	kl_json_textn(j, key, hex, KL_ID_HEX_LEN);
}

void
kl_json_num(struct kl_json *j, const char *key, double v)
{
	char b[32];

	if (!isfinite(v)) {
		kl_json_null(j, key);
		return;
	}
	/* the fewest digits that read back as v */
	snprintf(b, sizeof(b), "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, sizeof(b), "%.17g", v);
	json_before(j, key);
	fputs(b, j->f);
}
