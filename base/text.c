/* Text helpers (kluis/text.h). */
#include <stdint.h>
#include <string.h>

#include "kluis/text.h"

static const char hexd[] = "0123456789abcdef";

size_t
kl_utf8_len(const unsigned char *p, size_t n)
{
	size_t l, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	l = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 :
	    (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (l == 0 || l > n)
		return 0;
	cp = p[0] & (0x7f >> l);
	for (i = 1; i < l; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((l == 2 && cp < 0x80) || (l == 3 && cp < 0x800) ||
	    (l == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return l;
}

/* The code point of the valid multi-byte sequence p[0, l), l >= 2. */
static uint32_t
utf8_cp(const unsigned char *p, size_t l)
{
	uint32_t cp = p[0] & (0x7f >> l);
	size_t i;

	for (i = 1; i < l; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

/*
 * Code points that are valid text but act on the terminal or on how a
 * line reads: C1 controls (some terminals take U+009B as CSI), and the
 * line separators and bidirectional formatting characters that make a
 * name display as another ("Trojan Source", CVE-2021-42574).
 */
static int
cp_escaped(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

int
kl_utf8_unsafe(const unsigned char *p, size_t l, unsigned long *cp)
{
	uint32_t c = l > 1 ? utf8_cp(p, l) : p[0];

	*cp = c;
	return cp_escaped(c);
}

enum unit { U_COPY, U_BACKSLASH, U_HEX };

/* How the unit at p[0, n) is written; *in gets the input bytes it spans
 * and *w the output bytes (without a NUL). */
static enum unit
esc_unit(const unsigned char *p, size_t n, size_t *in, size_t *w)
{
	size_t l;

	*in = 1;
	*w = 4;
	if (p[0] == '\\') {
		*w = 2;
		return U_BACKSLASH;
	}
	if (p[0] < 0x20 || p[0] == 0x7f || (l = kl_utf8_len(p, n)) == 0)
		return U_HEX;
	*in = l;
	if (l > 1 && cp_escaped(utf8_cp(p, l))) {
		*w = 4 * l;
		return U_HEX;
	}
	*w = l;
	return U_COPY;
}

static void
hex_put(char *out, const unsigned char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		out[4 * k] = '\\';
		out[4 * k + 1] = 'x';
		out[4 * k + 2] = hexd[p[k] >> 4];
		out[4 * k + 3] = hexd[p[k] & 15];
	}
}

size_t
kl_text_esc(char *out, size_t out_len, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, in, w;
	enum unit u;

	while (i < len) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			if (o + 2 > out_len)	/* printable ASCII: the most */
				break;
			out[o++] = (char)p[i++];
			continue;
		}
		u = esc_unit(p + i, len - i, &in, &w);
		if (o + w + 1 > out_len)
			break;
		if (u == U_COPY)
			memcpy(out + o, p + i, in);
		else if (u == U_BACKSLASH)
			memcpy(out + o, "\\\\", 2);
		else
			hex_put(out + o, p + i, in);
		o += w;
		i += in;
	}
	out[o] = '\0';
	return i;
}

size_t
kl_text_esc_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, in, w;

	while (i < len) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			o++;
			i++;
			continue;
		}
		(void)esc_unit(p + i, len - i, &in, &w);
		o += w;
		i += in;
	}
	return o;
}

void
kl_prom_label(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = strlen(s), l;

	fputc('"', f);
	while (i < n) {
		if (p[i] == '\\' || p[i] == '"') {
			fprintf(f, "\\%c", p[i++]);
		} else if (p[i] == '\n') {
			fputs("\\n", f);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			i++;
		} else if ((l = kl_utf8_len(p + i, n - i)) == 0) {
			fputs("\xef\xbf\xbd", f);	/* U+FFFD */
			i++;
		} else {
			fwrite(p + i, 1, l, f);
			i += l;
		}
	}
	fputc('"', f);
}
