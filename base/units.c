/* Durations and sizes from operators' text (kluis/units.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kluis/err.h"
#include "kluis/units.h"

#define DAY_S ((int64_t)86400)
#define DURATION_MAX_S (1000 * 365 * DAY_S)

/* The units of a duration, in the order they must appear. */
static const struct unit {
	const char *name;
	int64_t secs;
} duration_units[] = {
	{ "y", 365 * DAY_S },
	{ "m", 30 * DAY_S },
	{ "w", 7 * DAY_S },
	{ "d", DAY_S },
	{ "h", 3600 },
	{ "min", 60 },
	{ "s", 1 },
};
#define NUNITS (sizeof(duration_units) / sizeof(duration_units[0]))

/* Reads decimal digits at *p (at least one) into *v, at most max. */
static int
digits(const char **p, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return KL_E_INVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (max - (uint64_t)(*s - '0')) / 10)
			return KL_E_LIMIT;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = x;
	return KL_OK;
}

/* The index of the unit at p, from first on ("min" before "m"). */
static size_t
unit_at(const char *p, size_t first, size_t *len)
{
	size_t i, best = NUNITS, l;

	*len = 0;
	for (i = first; i < NUNITS; i++) {
		l = strlen(duration_units[i].name);
		if (strncmp(p, duration_units[i].name, l) == 0 &&
		    (best == NUNITS || l > *len)) {
			best = i;
			*len = l;
		}
	}
	return best;
}

int
kl_duration_parse(const char *s, int64_t *secs)
{
	uint64_t v, total = 0;
	size_t next = 0, u, len = 0;
	int r;

	if (strcmp(s, "0") == 0) {
		*secs = 0;
		return KL_OK;
	}
	if (*s == '\0')
		return KL_E_INVAL;
	while (*s != '\0') {
		if ((r = digits(&s, (uint64_t)DURATION_MAX_S, &v)) != KL_OK)
			return r;
		if ((u = unit_at(s, next, &len)) == NUNITS)
			return KL_E_INVAL;
		if (v > ((uint64_t)DURATION_MAX_S - total) /
		    (uint64_t)duration_units[u].secs)
			return KL_E_LIMIT;
		total += v * (uint64_t)duration_units[u].secs;
		s += len;
		next = u + 1;
	}
	*secs = (int64_t)total;
	return KL_OK;
}

int
kl_size_parse(const char *s, uint64_t *bytes)
{
	static const char *const units[] = { "", "K", "M", "G", "T" };
	static const char *const iec[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	uint64_t v;
	size_t i;
	int r;

	if ((r = digits(&s, INT64_MAX, &v)) != KL_OK)
		return r;
	for (i = 0; i < 5; i++)
		if (strcmp(s, units[i]) == 0 || strcmp(s, iec[i]) == 0)
			break;
	if (i == 5)
		return KL_E_INVAL;
	if (i > 0 && v > (uint64_t)INT64_MAX >> (10 * i))
		return KL_E_LIMIT;
	*bytes = v << (10 * i);
	return KL_OK;
}

void
kl_time_utc(char out[KL_UTC_LEN], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, KL_UTC_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, KL_UTC_LEN, "@%" PRId64, t);
}
