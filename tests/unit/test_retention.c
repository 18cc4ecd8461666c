/*
 * Unit tests of the retention policies (restore-tools/retention.c): the
 * rules as restic defines them, on hand-made times in UTC (TZ=UTC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kluis/retention.h"

#define H 3600
#define D (24 * H)
/* 2026-12-07T00:00:00Z, a Monday */
#define T0 1796601600LL

/* n snapshots at the given times; index i, id byte i, no tags. */
static struct kl_ret_snap *
snaps(const int64_t *t, size_t n)
{
	struct kl_ret_snap *s = calloc(n, sizeof(*s));
	size_t i;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		s[i].when = t[i];
		s[i].id.b[0] = (uint8_t)i;
		s[i].tags = "";
		s[i].index = i;
	}
	return s;
}

/* The bits kept for the snapshot that came in as index i. */
static unsigned
kept(const struct kl_ret_snap *s, size_t n, size_t i)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (s[k].index == i)
			return s[k].keep;
	fail();
	return 0;
}

static void
test_keep_last_keeps_the_newest_whatever_the_order(void **state)
{
	const int64_t t[] = { T0 + 5, T0 + 1, T0 + 9, T0 + 3, T0 + 7 };
	struct kl_keep_policy p = { .last = 2 };
	struct kl_ret_snap *s = snaps(t, 5);

	(void)state;
	kl_retention_apply(&p, s, 5);
	assert_true(s[0].when == T0 + 9 && s[1].when == T0 + 7);
	assert_int_equal(kept(s, 5, 2), KL_KEEP_LAST);
	assert_int_equal(kept(s, 5, 4), KL_KEEP_LAST);
	assert_int_equal(kept(s, 5, 0), 0);
	assert_int_equal(kept(s, 5, 1), 0);
	assert_int_equal(kept(s, 5, 3), 0);
	free(s);
}

static void
test_keep_daily_keeps_the_newest_of_each_day_that_has_one(void **state)
{
	/* three snapshots on day 0, none on day 1, two on day 2, one on 5 */
	const int64_t t[] = { T0 + 1 * H, T0 + 2 * H, T0 + 23 * H,
	    T0 + 2 * D + 1, T0 + 2 * D + 10 * H, T0 + 5 * D + 3 * H };
	struct kl_keep_policy p = { .daily = 3 };
	struct kl_ret_snap *s = snaps(t, 6);

	(void)state;
	kl_retention_apply(&p, s, 6);
	assert_int_equal(kept(s, 6, 5), KL_KEEP_DAILY);
	assert_int_equal(kept(s, 6, 4), KL_KEEP_DAILY);
	assert_int_equal(kept(s, 6, 3), 0);	/* older on the same day */
	assert_int_equal(kept(s, 6, 2), KL_KEEP_DAILY);	/* day 0's newest */
	assert_int_equal(kept(s, 6, 1), 0);
	assert_int_equal(kept(s, 6, 0), 0);
	free(s);
}

static void
test_keep_hourly_counts_hours_with_snapshots_not_clock_hours(void **state)
{
	const int64_t t[] = { T0 + 1 * H + 5, T0 + 5 * H + 5, T0 + 5 * H + 50,
	    T0 + 9 * H };
	struct kl_keep_policy p = { .hourly = 2 };
	struct kl_ret_snap *s = snaps(t, 4);

	(void)state;
	kl_retention_apply(&p, s, 4);
	assert_int_equal(kept(s, 4, 3), KL_KEEP_HOURLY);
	assert_int_equal(kept(s, 4, 2), KL_KEEP_HOURLY);
	assert_int_equal(kept(s, 4, 1), 0);
	assert_int_equal(kept(s, 4, 0), 0);
	free(s);
}

static void
test_weekly_monthly_yearly_buckets(void **state)
{
	/* 2026-12-31 (Thu, ISO week 53 of 2026), 2027-01-03 (Sun, same ISO
	 * week), 2027-01-04 (Mon, week 1 of 2027), 2026-11-15 */
	const int64_t t[] = { 1798675200LL, 1798934400LL, 1799020800LL,
	    1794700800LL };
	struct kl_keep_policy w = { .weekly = 2 };
	struct kl_keep_policy m = { .monthly = 3 };
	struct kl_keep_policy y = { .yearly = 5 };
	struct kl_ret_snap *s = snaps(t, 4);

	(void)state;
	kl_retention_apply(&w, s, 4);
	assert_int_equal(kept(s, 4, 2), KL_KEEP_WEEKLY);
	assert_int_equal(kept(s, 4, 1), KL_KEEP_WEEKLY);
	assert_int_equal(kept(s, 4, 0), 0);	/* same ISO week as Jan 3 */
	assert_int_equal(kept(s, 4, 3), 0);
	kl_retention_apply(&m, s, 4);
	assert_int_equal(kept(s, 4, 2), KL_KEEP_MONTHLY);	/* 2027-01 */
	assert_int_equal(kept(s, 4, 1), 0);
	assert_int_equal(kept(s, 4, 0), KL_KEEP_MONTHLY);	/* 2026-12 */
	assert_int_equal(kept(s, 4, 3), KL_KEEP_MONTHLY);	/* 2026-11 */
	kl_retention_apply(&y, s, 4);
	assert_int_equal(kept(s, 4, 2), KL_KEEP_YEARLY);
	assert_int_equal(kept(s, 4, 0), KL_KEEP_YEARLY);
	assert_int_equal(kept(s, 4, 1) | kept(s, 4, 3), 0);
	free(s);
}

static void
test_within_tags_and_rules_together(void **state)
{
	static const char *const tags[] = { "keep", "audit" };
	const int64_t t[] = { T0, T0 + 10 * D, T0 + 19 * D, T0 + 20 * D };
	struct kl_keep_policy p = { .last = 1, .within_s = 2 * D, .tags = tags,
	    .ntags = 2 };
	struct kl_ret_snap *s = snaps(t, 4);

	(void)state;
	s[0].tags = "weekly\naudit";	/* index 0, the oldest */
	s[1].tags = "auditor\nkeeper";	/* no tag matches whole */
	kl_retention_apply(&p, s, 4);
	assert_int_equal(kept(s, 4, 3), KL_KEEP_LAST | KL_KEEP_WITHIN);
	assert_int_equal(kept(s, 4, 2), KL_KEEP_WITHIN);
	assert_int_equal(kept(s, 4, 1), 0);
	assert_int_equal(kept(s, 4, 0), KL_KEEP_TAG);
	assert_true(kl_keep_policy_any(&p));
	free(s);
}

static void
test_empty_policy_keeps_nothing_and_says_so(void **state)
{
	const int64_t t[] = { T0, T0 + 1 };
	struct kl_keep_policy p;
	struct kl_ret_snap *s = snaps(t, 2);

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_false(kl_keep_policy_any(&p));
	kl_retention_apply(&p, s, 2);
	assert_int_equal(s[0].keep | s[1].keep, 0);
	kl_retention_apply(&p, s, 0);
	assert_string_equal(kl_keep_rule_name(2), "daily");
	assert_string_equal(kl_keep_rule_name(KL_KEEP_RULES), "?");
	free(s);
}

static void
test_equal_times_order_by_sub_then_id(void **state)
{
	const int64_t t[] = { T0, T0, T0, T0 };
	struct kl_keep_policy p = { .last = 1 };
	struct kl_ret_snap *s = snaps(t, 4);

	(void)state;
	kl_retention_apply(&p, s, 4);
	assert_int_equal(kept(s, 4, 3), KL_KEEP_LAST);	/* highest id */
	assert_int_equal(kept(s, 4, 2) | kept(s, 4, 1) | kept(s, 4, 0), 0);
	s[0].sub = 5;	/* sorted: index 3 first; give index 1 the latest */
	s[1].sub = 1;
	s[2].sub = 9;
	s[3].sub = 2;
	kl_retention_apply(&p, s, 4);
	assert_int_equal(s[0].keep, KL_KEEP_LAST);
	assert_true(s[0].sub == 9);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_last_keeps_the_newest_whatever_the_order),
		cmocka_unit_test(test_keep_daily_keeps_the_newest_of_each_day_that_has_one),
		cmocka_unit_test(test_keep_hourly_counts_hours_with_snapshots_not_clock_hours),
		cmocka_unit_test(test_weekly_monthly_yearly_buckets),
		cmocka_unit_test(test_within_tags_and_rules_together),
		cmocka_unit_test(test_empty_policy_keeps_nothing_and_says_so),
		cmocka_unit_test(test_equal_times_order_by_sub_then_id),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
