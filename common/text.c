/* Text helpers (kluis/text.h). */
#include <stdint.h>

#include "kluis/text.h"

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
