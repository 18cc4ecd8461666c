/*
 * kluis-server purge and undelete (docs/PROTOCOL.md §4 "Deletion",
 * RUNBOOK "Deleted files on the server"): the two ends of the trash.
 * purge, from the server's own timer, deletes what has waited out its
 * delay; undelete, after an incident, brings back what was removed.  Both
 * run on the server as its administrator, need no key, and write every
 * file they touch into the audit log before they report it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kluis/audit.h"
#include "kluis/err.h"
#include "kluis/json.h"
#include "kluis/store.h"
#include "kluis/units.h"

#include "server_cmds.h"

struct trash_cmd {
	const char *what;		/* "purge", "undelete" */
	const char *repo;
	int json, dry_run;
	struct kl_json j;		/* with --json */
	int64_t now, since;
	struct kl_audit *audit;
	struct kl_audit_who who;
	uint64_t files, bytes, failed;
	uint64_t left, left_bytes;	/* purge: what waits on */
	int64_t next_purge;		/* purge: earliest waiting entry */
	uint64_t in_use;		/* purge: the repository's bytes */
};



/* Whether the command acts on e (the same test as the store's). */
static int
selected(const struct trash_cmd *c, const struct kl_trash_entry *e)
{
	return strcmp(c->what, "purge") == 0 ? e->purge_s <= c->now :
	    e->deleted_s >= c->since;
}

static void
report_entry(struct trash_cmd *c, const struct kl_trash_entry *e,
    int outcome)
{
	char del[KL_UTC_LEN];

	kl_time_utc(del, e->deleted_s);
	if (c->json) {
		kl_json_obj(&c->j, NULL);
		kl_json_text(&c->j, "type", kl_ftype_name((int)e->t));
		kl_json_text(&c->j, "name", e->name);
		kl_json_u64(&c->j, "size", e->size);
		kl_json_text(&c->j, "deleted", del);
		kl_json_text(&c->j, "outcome",
		    kl_audit_outcome_name(outcome));
		kl_json_obj_end(&c->j);
		return;
	}
	if (outcome != KL_OK)
		printf("%s failed: %s %s (deleted %s): %s\n", c->what,
		    kl_ftype_name((int)e->t), e->name, del,
		    kl_strerror(outcome));
	else
		printf("%s%s %s %s (%" PRIu64 " bytes, deleted %s)\n",
		    c->dry_run ? "would " : "", strcmp(c->what, "purge") == 0 ?
		    "purge" : "undelete", kl_ftype_name((int)e->t), e->name,
		    e->size, del);
}

/* Per entry acted on: the audit record first, then the report. */
static int
on_entry(void *arg, const struct kl_trash_entry *e, int outcome)
{
	struct trash_cmd *c = arg;
	struct kl_audit_rec rec;
	int r;

	if (c->dry_run && !selected(c, e))
		return KL_OK;
	if (!c->dry_run) {
		memset(&rec, 0, sizeof(rec));
		rec.op = c->what;
		rec.ftype = (int)e->t;
		rec.name = e->name;
		rec.size = e->size;
		rec.outcome = outcome;
		if ((r = kl_audit_append(c->audit, &c->who, &rec)) != KL_OK) {
			fprintf(stderr, "%s: %s: cannot write the audit log "
			    "(%s/%s): %s; stopped\n", progname, c->what,
			    c->repo, KL_AUDIT_FILE, kl_strerror(r));
			return r;
		}
	}
	if (outcome == KL_OK) {
		c->files++;
		c->bytes += e->size;
	} else {
		c->failed++;
	}
	report_entry(c, e, outcome);
	return KL_OK;
}

/* After a purge: what the trash still holds and when it is due. */
static int
on_left(void *arg, const struct kl_trash_entry *e, int outcome)
{
	struct trash_cmd *c = arg;

	(void)outcome;
	if (c->dry_run && selected(c, e))
		return KL_OK;
	c->left++;
	c->left_bytes += e->size;
	if (c->next_purge == 0 || e->purge_s < c->next_purge)
		c->next_purge = e->purge_s;
	return KL_OK;
}

/* WHEN: a duration back from now ("2d"), "@SECONDS", or a UTC date and
 * time ("2026-12-07", "2026-12-07T02:00", "2026-12-07 02:00:00"). */
static int
since_parse(const char *s, int64_t now, int64_t *out)
{
	static const char *const fmts[] = {
		"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
		"%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d",
	};
	struct tm tm;
	int64_t d;
	const char *end;
	char *e;
	size_t i;

	if (kl_duration_parse(s, &d) == KL_OK) {
		*out = now - d;
		return 0;
	}
	if (s[0] == '@' && s[1] >= '0' && s[1] <= '9') {
		*out = (int64_t)strtoll(s + 1, &e, 10);
		return *e == '\0' ? 0 : -1;
	}
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, fmts[i], &tm)) != NULL && *end == '\0') {
			*out = (int64_t)timegm(&tm);
			return 0;
		}
	}
	return -1;
}

/* 0, or -1 after saying what is wrong. */
static int
trash_args(const struct server_args *a, struct trash_cmd *c)
{
	if (server_repo_required(a) != 0)
		return -1;
	c->repo = a->repo;
	c->json = a->json;
	c->dry_run = a->dry_run;
	if (a->since != NULL && since_parse(a->since, c->now, &c->since) != 0) {
		fprintf(stderr, "%s: undelete: --since '", progname);
		print_name(stderr, a->since);
		fprintf(stderr, "' is neither a duration (2d), @SECONDS nor a "
		    "UTC date and time (2026-12-07T02:00)\n");
		return -1;
	}
	return 0;
}

static void
summary(struct trash_cmd *c)
{
	char next[KL_UTC_LEN];
	int purge = strcmp(c->what, "purge") == 0;

	kl_time_utc(next, c->next_purge);
	if (c->json) {
		kl_json_arr_end(&c->j);
		kl_json_u64(&c->j, "files_done", c->files);
		kl_json_u64(&c->j, "bytes", c->bytes);
		kl_json_u64(&c->j, "failed", c->failed);
		if (purge) {
			kl_json_u64(&c->j, "trash_files", c->left);
			kl_json_u64(&c->j, "trash_bytes", c->left_bytes);
			kl_json_text(&c->j, "next_purge", c->left ? next :
			    NULL);
			kl_json_u64(&c->j, "bytes_in_use", c->in_use);
		}
		kl_json_obj_end(&c->j);
		putchar('\n');
		return;
	}
	printf("%s%s %" PRIu64 " files, %" PRIu64 " bytes", c->dry_run ?
	    "would have " : "", purge ? "purged" : "undeleted", c->files,
	    c->bytes);
	if (c->failed)
		printf("; %" PRIu64 " failed", c->failed);
	printf("\n");
	if (purge && c->left)
		printf("the trash still holds %" PRIu64 " files, %" PRIu64
		    " bytes; the next is due %s\n", c->left, c->left_bytes,
		    next);
	if (purge)
		printf("the repository holds %" PRIu64 " bytes, trash "
		    "included\n", c->in_use);
}

static int
trash_cmd(const struct server_args *a, const char *what)
{
	struct trash_cmd c;
	struct kl_store *s = NULL;
	int r;

	memset(&c, 0, sizeof(c));
	c.what = what;
	c.now = (int64_t)time(NULL);
	if (trash_args(a, &c) != 0)
		return EXIT_USAGE;
	if ((r = server_store_open(what, c.repo, KL_ROLE_FULL, &s)) !=
	    EXIT_CLEAN)
		return r;
	server_who_fill(&c.who, NULL);
	if (!c.dry_run && (r = kl_audit_open(c.repo, &c.audit)) != KL_OK) {
		fprintf(stderr, "%s: %s: cannot open %s/%s: %s\n", progname,
		    what, c.repo, KL_AUDIT_FILE, kl_strerror(r));
		kl_store_close(s);
		return EXIT_FINDINGS;
	}
	if (c.json) {
		kl_json_init(&c.j, stdout);
		kl_json_obj(&c.j, NULL);
		kl_json_text(&c.j, "command", what);
		kl_json_bool(&c.j, "dry_run", c.dry_run);
		kl_json_arr(&c.j, "files");
	}
	if (c.dry_run)
		r = kl_store_trash_list(s, on_entry, &c);
	else if (strcmp(what, "purge") == 0)
		r = kl_store_purge(s, c.now, on_entry, &c);
	else
		r = kl_store_undelete(s, c.since, on_entry, &c);
	if (r == KL_OK && strcmp(what, "purge") == 0)
		r = kl_store_trash_list(s, on_left, &c);
	/* a fresh count for the quota (killed uploads leave it too high) */
	if (r == KL_OK && strcmp(what, "purge") == 0)
		r = c.dry_run ? kl_store_usage_count(s, &c.in_use) :
		    kl_store_usage_refresh(s, &c.in_use);
	summary(&c);
	if (r != KL_OK)
		fprintf(stderr, "%s: %s: %s: %s\n", progname, what, c.repo,
		    kl_strerror(r));
	kl_audit_close(c.audit);
	kl_store_close(s);
	return r == KL_OK && c.failed == 0 ? EXIT_CLEAN : EXIT_FINDINGS;
}

int
cmd_purge(const struct server_args *a)
{
	return trash_cmd(a, "purge");
}

int
cmd_undelete(const struct server_args *a)
{
	return trash_cmd(a, "undelete");
}
