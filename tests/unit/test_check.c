/*
 * Unit tests of the pure parts of the repository check
 * (restore-tools/check_subset.c, kluis/check.h): parsing and printing of
 * --read-data-subset, and which packs a subset selects - the stable N/M partition and the P%
 * rotation over the packs checked longest ago.  The check itself runs
 * against real repositories in tests/e2e/check.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/check.h"
#include "kluis/err.h"
#include "kluis/hash.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NPACKS 1000

/* Deterministic pseudo-random pack ids (xorshift). */
static void
make_packs(struct kl_check_pack_age *p, size_t n, uint64_t seed)
{
	size_t i, j;

	memset(p, 0, n * sizeof(*p));
	for (i = 0; i < n; i++) {
		for (j = 0; j < KL_ID_LEN; j++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			p[i].id.b[j] = (uint8_t)seed;
		}
		p[i].checked_s = KL_CAT_TIME_NONE;
	}
}

static struct kl_check_subset
parse_ok(const char *s)
{
	struct kl_check_subset v;

	assert_int_equal(kl_check_subset_parse(s, &v), KL_OK);
	return v;
}

static void
test_parse_part_and_percent(void **state)
{
	struct kl_check_subset v;

	(void)state;
	v = parse_ok("2/5");
	assert_int_equal(v.mode, KL_CHECK_DATA_PART);
	assert_int_equal(v.part, 2);
	assert_int_equal(v.parts, 5);
	v = parse_ok("1/1");
	assert_int_equal(v.part, 1);
	v = parse_ok("34%");
	assert_int_equal(v.mode, KL_CHECK_DATA_PERCENT);
	assert_int_equal(v.ppm, 340000);
	assert_int_equal(parse_ok("2.5%").ppm, 25000);
	assert_int_equal(parse_ok("0.0001%").ppm, 1);
	assert_int_equal(parse_ok("100%").ppm, 1000000);
}

static void
test_parse_rejects_nonsense(void **state)
{
	static const char *const bad[] = {
		"", "0/5", "6/5", "1/0", "/5", "1/", "1/5x", "-1/5", "a/b",
		"1 /5", "0%", "101%", "100.0001%", "2.%", ".5%", "5", "5%%",
		"1.23456%", "%", "4294967296/4294967297", "1/1000001",
		"12345678901%",
	};
	struct kl_check_subset v;
	size_t i;

	(void)state;
	memset(&v, 0x5a, sizeof(v));
	for (i = 0; i < NELEM(bad); i++) {
		if (kl_check_subset_parse(bad[i], &v) != KL_E_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(*(uint8_t *)&v, 0x5a);	/* untouched */
	}
	assert_int_equal(kl_check_subset_parse(NULL, &v), KL_E_INVAL);
}

static void
test_format_round_trips(void **state)
{
	static const char *const in[] = { "3/7", "34%", "2.5%", "0.0001%",
		"100%" };
	struct kl_check_subset v;
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(in); i++) {
		v = parse_ok(in[i]);
		kl_check_subset_format(&v, out, sizeof(out));
		assert_string_equal(out, in[i]);
	}
	memset(&v, 0, sizeof(v));
	kl_check_subset_format(&v, out, sizeof(out));
	assert_string_equal(out, "none");
	v.mode = KL_CHECK_DATA_ALL;
	kl_check_subset_format(&v, out, sizeof(out));
	assert_string_equal(out, "all");
}

static void
test_select_all_and_none(void **state)
{
	struct kl_check_pack_age p[10];
	struct kl_check_subset s;
	size_t i;

	(void)state;
	make_packs(p, NELEM(p), 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), 0);
	for (i = 0; i < NELEM(p); i++)
		assert_false(p[i].selected);
	s.mode = KL_CHECK_DATA_ALL;
	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), NELEM(p));
	for (i = 0; i < NELEM(p); i++)
		assert_true(p[i].selected);
	assert_int_equal(kl_check_subset_select(&s, p, 0), 0);
}

/* M runs of N/M select every pack exactly once, whatever their ages. */
static void
test_part_runs_partition_every_pack(void **state)
{
	struct kl_check_pack_age *p = calloc(NPACKS, sizeof(*p));
	unsigned char *hits = calloc(NPACKS, 1);
	struct kl_check_subset s;
	size_t i, total = 0, got;
	uint32_t m = 7, n;

	(void)state;
	assert_non_null(p);
	assert_non_null(hits);
	make_packs(p, NPACKS, 42);
	for (n = 1; n <= m; n++) {
		s.mode = KL_CHECK_DATA_PART;
		s.part = n;
		s.parts = m;
		for (i = 0; i < NPACKS; i++)	/* ages must not matter */
			p[i].checked_s = (int64_t)(i * n % 13);
		got = kl_check_subset_select(&s, p, NPACKS);
		total += got;
		for (i = 0; i < NPACKS; i++) {
			if (!p[i].selected)
				continue;
			hits[i]++;
			assert_int_equal(kl_le64dec(p[i].id.b) % m, n - 1);
		}
		/* a fair share: 1000/7 = 143, allow a wide margin */
		assert_true(got > 90 && got < 200);
	}
	assert_int_equal(total, NPACKS);
	for (i = 0; i < NPACKS; i++)
		assert_int_equal(hits[i], 1);
	free(hits);
	free(p);
}

/* P% takes ceil(P% of n), never-checked first, then the oldest. */
static void
test_percent_takes_never_checked_then_oldest(void **state)
{
	struct kl_check_pack_age p[10];
	struct kl_check_subset s = parse_ok("34%");
	struct kl_id never1, never2, oldest, next;
	size_t i;

	(void)state;
	make_packs(p, NELEM(p), 7);
	for (i = 0; i < NELEM(p); i++)
		p[i].checked_s = 1000 + (int64_t)i;	/* 0 oldest */
	p[8].checked_s = KL_CAT_TIME_NONE;
	p[5].checked_s = 10;				/* older still */
	p[3].checked_s = KL_CAT_TIME_NONE;
	/* remember the ids before the call sorts the array */
	never1 = p[3].id;
	never2 = p[8].id;
	oldest = p[5].id;
	next = p[0].id;

	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), 4);
	for (i = 0; i < 2; i++) {
		assert_int_equal(p[i].checked_s, KL_CAT_TIME_NONE);
		assert_true(kl_id_eq(&p[i].id, &never1) ||
		    kl_id_eq(&p[i].id, &never2));
	}
	assert_true(kl_id_cmp(&p[0].id, &p[1].id) < 0);	/* ties by id */
	assert_true(kl_id_eq(&p[2].id, &oldest));
	assert_true(kl_id_eq(&p[3].id, &next));
	for (i = 0; i < NELEM(p); i++)
		assert_int_equal(p[i].selected, i < 4);
}

static void
test_percent_rounds_up_and_caps(void **state)
{
	struct kl_check_pack_age p[3];
	struct kl_check_subset s;

	(void)state;
	make_packs(p, NELEM(p), 9);
	s = parse_ok("0.0001%");	/* a tiny share still checks one */
	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), 1);
	s = parse_ok("34%");		/* 1.02 -> 2 */
	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), 2);
	s = parse_ok("33%");		/* 0.99 -> 1 */
	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), 1);
	s = parse_ok("100%");
	assert_int_equal(kl_check_subset_select(&s, p, NELEM(p)), 3);
	assert_int_equal(kl_check_subset_select(&s, p, 0), 0);
}

/*
 * Runs that record what they checked rotate over the whole repository:
 * ceil(100/P) runs cover every pack, and a pack added between runs is
 * taken by the next run.
 */
static void
test_percent_runs_rotate_over_everything(void **state)
{
	struct kl_check_pack_age p[NPACKS + 1];
	struct kl_check_subset s = parse_ok("34%");
	struct kl_id fresh;
	size_t i, covered = 0, run, n = NPACKS;
	int64_t now = 5000;

	(void)state;
	make_packs(p, NELEM(p), 99);
	for (i = 0; i < n; i++)
		p[i].checked_s = 100;	/* all checked once, long ago */
	for (run = 0; run < 3; run++) {
		kl_check_subset_select(&s, p, n);
		for (i = 0; i < n; i++) {
			if (!p[i].selected)
				continue;
			if (p[i].checked_s < 5000)
				covered++;
			p[i].checked_s = now;
		}
		now++;
	}
	assert_int_equal(covered, NPACKS);
	/* a new pack comes first in the next run */
	p[n].checked_s = KL_CAT_TIME_NONE;
	fresh = p[n].id;
	n++;
	kl_check_subset_select(&s, p, n);
	assert_true(p[0].selected);
	assert_true(kl_id_eq(&p[0].id, &fresh));
	/* and the next-oldest are the first run's */
	assert_int_equal(p[1].checked_s, 5000);
}

static void
test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(kl_check_kind_name(KL_CHECK_MISSING), "missing");
	assert_string_equal(kl_check_kind_name(KL_CHECK_CORRUPT), "corrupt");
	assert_string_equal(kl_check_kind_name(KL_CHECK_VANISHED),
	    "vanished");
	assert_string_equal(kl_check_kind_name(KL_CHECK_ROLLBACK),
	    "rollback");
}

static void
test_report_clear_is_null_safe(void **state)
{
	struct kl_check_report rep;

	(void)state;
	kl_check_report_clear(NULL);
	memset(&rep, 0, sizeof(rep));
	kl_check_report_clear(&rep);
	assert_int_equal(rep.nf, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_part_and_percent),
		cmocka_unit_test(test_parse_rejects_nonsense),
		cmocka_unit_test(test_format_round_trips),
		cmocka_unit_test(test_select_all_and_none),
		cmocka_unit_test(test_part_runs_partition_every_pack),
		cmocka_unit_test(test_percent_takes_never_checked_then_oldest),
		cmocka_unit_test(test_percent_rounds_up_and_caps),
		cmocka_unit_test(test_percent_runs_rotate_over_everything),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_report_clear_is_null_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
