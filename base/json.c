/* JSON strings (kluis/json.h). */
#include <string.h>

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
