/*
 * The data subset of kluis check (--read-data-subset, kluis/check.h): its
 * parsing and printing, and which packs it selects.  Pure: no repository,
 * no I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/check.h"
#include "kluis/err.h"

static int
parse_u32(const char *s, const char **end, uint32_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && v <= UINT32_MAX)
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p == s || v > UINT32_MAX)
		return -1;
	*end = p;
	*out = (uint32_t)v;
	return 0;
}

/* "P" or "P.dddd" in millionths (P% of the whole: 34 -> 340000). */
static int
parse_percent(const char *s, uint32_t *ppm)
{
	const char *p;
	uint32_t whole, frac = 0, scale = 10000;

	if (parse_u32(s, &p, &whole) != 0 || whole > 100)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return -1;	/* more than four decimals */
			scale /= 10;
			frac += (uint32_t)(*p - '0') * scale;
		}
		if (p[-1] == '.')
			return -1;
	}
	if (strcmp(p, "%") != 0)
		return -1;
	*ppm = whole * 10000 + frac;
	return *ppm > 0 && *ppm <= 1000000 ? 0 : -1;
}

int
kl_check_subset_parse(const char *s, struct kl_check_subset *out)
{
	struct kl_check_subset v;
	const char *p;

	memset(&v, 0, sizeof(v));
	if (s == NULL)
		return KL_E_INVAL;
	if (strchr(s, '%') != NULL) {
		if (parse_percent(s, &v.ppm) != 0)
			return KL_E_INVAL;
		v.mode = KL_CHECK_DATA_PERCENT;
	} else {
		if (parse_u32(s, &p, &v.part) != 0 || *p != '/' ||
		    parse_u32(p + 1, &p, &v.parts) != 0 || *p != '\0' ||
		    v.part < 1 || v.part > v.parts ||
		    v.parts > KL_CHECK_PARTS_MAX)
			return KL_E_INVAL;
		v.mode = KL_CHECK_DATA_PART;
	}
	*out = v;
	return KL_OK;
}

void
kl_check_subset_format(const struct kl_check_subset *s, char *out,
    size_t cap)
{
	char frac[8];
	int n;

	switch (s->mode) {
	case KL_CHECK_DATA_ALL:
		snprintf(out, cap, "all");
		return;
	case KL_CHECK_DATA_PART:
		snprintf(out, cap, "%u/%u", s->part, s->parts);
		return;
	case KL_CHECK_DATA_PERCENT:
		snprintf(frac, sizeof(frac), "%04u", s->ppm % 10000);
		for (n = 3; n >= 0 && frac[n] == '0'; n--)
			frac[n] = '\0';
		snprintf(out, cap, "%u%s%s%%", s->ppm / 10000, *frac ? "." : "",
		    frac);
		return;
	default:
		snprintf(out, cap, "none");
	}
}

static int
age_cmp(const void *a, const void *b)
{
	const struct kl_check_pack_age *x = a, *y = b;
	int xn = x->checked_s == KL_CAT_TIME_NONE;
	int yn = y->checked_s == KL_CAT_TIME_NONE;

	if (xn != yn)
		return xn ? -1 : 1;
	if (!xn && x->checked_s != y->checked_s)
		return x->checked_s < y->checked_s ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

size_t
kl_check_subset_select(const struct kl_check_subset *s,
    struct kl_check_pack_age *p, size_t n)
{
	size_t i, want = 0;

	for (i = 0; i < n; i++)
		p[i].selected = 0;
	switch (s->mode) {
	case KL_CHECK_DATA_ALL:
		want = n;
		break;
	case KL_CHECK_DATA_PART:
		for (i = 0; i < n && s->parts > 0; i++) {
			p[i].selected = kl_le64dec(p[i].id.b) % s->parts ==
			    (uint64_t)s->part - 1;
			want += (size_t)p[i].selected;
		}
		return want;
	case KL_CHECK_DATA_PERCENT:
		if (n > 1)
			qsort(p, n, sizeof(*p), age_cmp);
		want = (size_t)(((uint64_t)s->ppm * n + 999999) / 1000000);
		if (want > n)
			want = n;
		break;
	default:
		return 0;
	}
	for (i = 0; i < want; i++)
		p[i].selected = 1;
	return want;
}
