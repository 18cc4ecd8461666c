/*
 * Retention policies (docs/CLI.md "forget"): which snapshots of one group
 * a policy keeps, with restic's semantics so that operators can carry
 * their policies over: a snapshot is kept if any rule keeps it.
 *
 * Times are whatever the caller trusts - kluis passes the server's receive
 * time of each snapshot, not the time its client wrote into it - and the
 * hourly, daily, weekly (ISO 8601), monthly and yearly buckets are those of
 * the local time zone (TZ).  Pure: no I/O, no allocation but a sort.
 */
#ifndef KLUIS_RETENTION_H
#define KLUIS_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/hash.h"

/* Why a snapshot is kept (bits of kl_ret_snap.keep). */
enum {
	KL_KEEP_LAST = 1u << 0,
	KL_KEEP_HOURLY = 1u << 1,
	KL_KEEP_DAILY = 1u << 2,
	KL_KEEP_WEEKLY = 1u << 3,
	KL_KEEP_MONTHLY = 1u << 4,
	KL_KEEP_YEARLY = 1u << 5,
	KL_KEEP_WITHIN = 1u << 6,
	KL_KEEP_TAG = 1u << 7,
};
#define KL_KEEP_RULES 8

/* A count rule of 0 is unused; within_s 0 is unused. */
struct kl_keep_policy {
	unsigned last, hourly, daily, weekly, monthly, yearly;
	int64_t within_s;		/* keep all within this of the newest */
	const char *const *tags;	/* keep those with any of these tags */
	size_t ntags;
};

struct kl_ret_snap {
	struct kl_id id;
	int64_t when;		/* UTC seconds: the time the rules judge */
	int64_t sub;		/* orders equal whens (kluis: the client's
				 * own time in ns); then the id does */
	const char *tags;	/* '\n'-separated, "" if none */
	unsigned keep;		/* out: KL_KEEP_* bits, 0 = remove */
	size_t index;		/* the caller's own; carried along */
};

/* 1 if the policy has at least one rule. */
int kl_keep_policy_any(const struct kl_keep_policy *p);

/*
 * Applies p to the snapshots of one group: sorts s[0, n) newest first (by
 * when, then sub, then id) and sets each keep.  Rules as restic's: --keep-last N the
 * N newest; --keep-hourly N (daily, ...) the newest of each of the N
 * newest hours (days, ...) that have a snapshot; --keep-within D those
 * whose time is within D of the newest; --keep-tag T those tagged T.
 */
void kl_retention_apply(const struct kl_keep_policy *p,
    struct kl_ret_snap *s, size_t n);

/* "last", "hourly", ... for bit i of keep (0 <= i < KL_KEEP_RULES). */
const char *kl_keep_rule_name(unsigned i);

#endif
