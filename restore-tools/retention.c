/* Retention policies (kluis/retention.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kluis/retention.h"

static const char *const rule_names[KL_KEEP_RULES] = {
	"last", "hourly", "daily", "weekly", "monthly", "yearly", "within",
	"tag",
};

const char *
kl_keep_rule_name(unsigned i)
{
	return i < KL_KEEP_RULES ? rule_names[i] : "?";
}

int
kl_keep_policy_any(const struct kl_keep_policy *p)
{
	return p->last || p->hourly || p->daily || p->weekly || p->monthly ||
	    p->yearly || p->within_s > 0 || p->ntags > 0;
}

static int
newest_first(const void *a, const void *b)
{
	const struct kl_ret_snap *x = a, *y = b;

	if (x->when != y->when)
		return x->when > y->when ? -1 : 1;
	if (x->sub != y->sub)
		return x->sub > y->sub ? -1 : 1;
	return -kl_id_cmp(&x->id, &y->id);
}

/* The bucket of time t for a count rule (bit), in local time. */
static long
bucket(unsigned bit, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char week[16];

	if (localtime_r(&tt, &tm) == NULL)
		return (long)(t / 3600);
	switch (bit) {
	case KL_KEEP_HOURLY:
		return (tm.tm_year * 400L + tm.tm_yday) * 24 + tm.tm_hour;
	case KL_KEEP_DAILY:
		return tm.tm_year * 400L + tm.tm_yday;
	case KL_KEEP_WEEKLY:	/* ISO 8601 year and week: 202653 */
		if (strftime(week, sizeof(week), "%G%V", &tm) == 0)
			return 0;
		return strtol(week, NULL, 10);
	case KL_KEEP_MONTHLY:
		return tm.tm_year * 12L + tm.tm_mon;
	default:
		return tm.tm_year;
	}
}

/* 1 if the '\n'-separated list tags holds tag. */
static int
has_tag(const char *tags, const char *tag)
{
	size_t n = strlen(tag);
	const char *p = tags, *e;

	while (*p != '\0') {
		e = strchr(p, '\n');
		if ((size_t)((e ? e : p + strlen(p)) - p) == n &&
		    strncmp(p, tag, n) == 0)
			return 1;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return 0;
}

void
kl_retention_apply(const struct kl_keep_policy *p, struct kl_ret_snap *s,
    size_t n)
{
	static const unsigned count_bits[] = { KL_KEEP_HOURLY, KL_KEEP_DAILY,
	    KL_KEEP_WEEKLY, KL_KEEP_MONTHLY, KL_KEEP_YEARLY };
	unsigned left[5];
	long last[5];
	int seen[5] = { 0, 0, 0, 0, 0 };
	size_t i, r, t;

	if (n == 0)
		return;
	qsort(s, n, sizeof(*s), newest_first);
	left[0] = p->hourly;
	left[1] = p->daily;
	left[2] = p->weekly;
	left[3] = p->monthly;
	left[4] = p->yearly;
	for (i = 0; i < n; i++) {
		s[i].keep = 0;
		if (i < p->last)
			s[i].keep |= KL_KEEP_LAST;
		for (r = 0; r < 5; r++) {
			long b;

			if (left[r] == 0)
				continue;
			b = bucket(count_bits[r], s[i].when);
			if (seen[r] && b == last[r])
				continue;
			seen[r] = 1;
			last[r] = b;
			left[r]--;
			s[i].keep |= count_bits[r];
		}
		if (p->within_s > 0 && s[0].when - s[i].when <= p->within_s)
			s[i].keep |= KL_KEEP_WITHIN;
		for (t = 0; t < p->ntags; t++)
			if (has_tag(s[i].tags, p->tags[t]))
				s[i].keep |= KL_KEEP_TAG;
	}
}
