/*
 * kluis forget (docs/CLI.md "forget"): which snapshots a retention policy
 * keeps, judged on the server's receive time of each snapshot, and the
 * removal of the others.
 *
 * A removal is a forget record first - a version-2 index file, signed by
 * the full key, that withdraws the snapshot ids (FORMAT.md §9) - and then
 * the removal of each snapshot file (kluis/forget.h).  Other clients see
 * a snapshot gone and withdrawn as forgotten, not as vanished; a crash
 * between the two steps leaves snapshots that are still listed (the
 * record only explains an absence), and running forget again finishes
 * the job.  The data the snapshots used stays until prune.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/forget.h"
#include "kluis/format.h"
#include "kluis/grow.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "kluis/retention.h"
#include "kluis/units.h"
#include "cli.h"

/* A client time this far after the receive time, or this far before it,
 * is flagged (a clock ahead or a forged date; no backup runs a day). */
#define FLAG_AHEAD_S	600
#define FLAG_BEHIND_S	86400

struct fsnap {
	struct kl_id id;
	int64_t time_s, recv_s;
	uint32_t time_ns;
	char *host, *paths, *tags;
	char *group;		/* the grouping key */
	int chosen;		/* named on the command line */
	unsigned keep;		/* KL_KEEP_* bits */
	int remove;
};

struct forget {
	struct cli *c;
	struct kl_repo *r;
	struct kl_keep_policy p;
	int by_host, by_paths;
	struct fsnap *s;
	size_t n, cap;
	size_t removed, kept, failed;
	struct kl_json out;	/* --json: the document */
	struct kl_error err;	/* the command's: printed once */
};

static void
fsnaps_free(struct forget *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->s[i].host);
		free(f->s[i].paths);
		free(f->s[i].tags);
		free(f->s[i].group);
	}
	free(f->s);
}

/* 1 if the '\n'-separated list holds s. */
static int
list_has(const char *list, const char *s)
{
	size_t n = strlen(s);
	const char *p = list, *e;

	for (; *p != '\0'; p = e + 1) {
		e = strchr(p, '\n');
		if ((size_t)((e ? e : p + strlen(p)) - p) == n &&
		    strncmp(p, s, n) == 0)
			return 1;
		if (e == NULL)
			break;
	}
	return 0;
}

/* --host and --tag: which snapshots the command looks at. */
static int
selected(const struct cli *c, const struct kl_cat_snap *s)
{
	size_t i;
	int ok = c->hosts.n == 0;

	for (i = 0; i < c->hosts.n && !ok; i++)
		ok = strcmp(c->hosts.v[i], s->host) == 0;
	for (i = 0; i < c->tags.n && ok; i++)
		ok = list_has(s->tags, c->tags.v[i]);
	return ok;
}

static int
snap_collect(void *arg, const struct kl_cat_snap *s)
{
	struct forget *f = arg;
	struct fsnap *v;
	int rc;

	if (!selected(f->c, s))
		return 0;
	if ((rc = KL_GROW(f->s, f->cap, f->n + 1)) != KL_OK)
		return rc;
	v = &f->s[f->n];
	memset(v, 0, sizeof(*v));
	v->id = s->id;
	v->time_s = s->time_s;
	v->time_ns = s->time_ns;
	v->recv_s = s->recv_s == KL_CAT_TIME_NONE ? s->time_s : s->recv_s;
	v->host = strdup(s->host);
	v->paths = strdup(s->paths);
	v->tags = strdup(s->tags);
	if (v->host == NULL || v->paths == NULL || v->tags == NULL ||
	    asprintf(&v->group, "%s\n\n%s", f->by_host ? s->host : "",
	    f->by_paths ? s->paths : "") < 0) {
		v->group = NULL;
		f->n++;		/* freed with the rest */
		return KL_E_NOMEM;
	}
	f->n++;
	return 0;
}

static int
by_group_then_recv(const void *a, const void *b)
{
	const struct fsnap *x = a, *y = b;
	int d = strcmp(x->group, y->group);

	if (d != 0)
		return d;
	if (x->recv_s != y->recv_s)
		return x->recv_s > y->recv_s ? -1 : 1;
	if (x->time_s != y->time_s)
		return x->time_s > y->time_s ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns > y->time_ns ? -1 : 1;
	return -kl_id_cmp(&x->id, &y->id);
}

/* The policy over one group [i, j) of f->s (sorted by group). */
static int
group_apply(struct forget *f, size_t i, size_t j)
{
	struct kl_ret_snap *rs;
	size_t k;

	if ((rs = calloc(j - i, sizeof(*rs))) == NULL)
		return KL_E_NOMEM;
	for (k = i; k < j; k++) {
		rs[k - i].id = f->s[k].id;
		rs[k - i].when = f->s[k].recv_s;
		rs[k - i].sub = f->s[k].time_s * 1000000000LL +
		    f->s[k].time_ns;
		rs[k - i].tags = f->s[k].tags;
		rs[k - i].index = k;
	}
	kl_retention_apply(&f->p, rs, j - i);
	for (k = 0; k < j - i; k++) {
		f->s[rs[k].index].keep = rs[k].keep;
		f->s[rs[k].index].remove = rs[k].keep == 0;
	}
	free(rs);
	return KL_OK;
}

/* Counts that policies take; "--keep-daily" is the option's name. */
static int
count_parse(struct cli *c, const char *opt, const char *v, unsigned *out)
{
	char *end;
	unsigned long n;

	if (v == NULL)
		return EXIT_OK;
	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || n > 1000000) {
		cli_err(c, "%s takes a count (0 to 1000000), not \"%s\"", opt, v);
		return EXIT_USAGE;
	}
	*out = (unsigned)n;
	return EXIT_OK;
}

static int
policy_parse(struct forget *f)
{
	static const char *const names[6] = { "--keep-last", "--keep-hourly",
	    "--keep-daily", "--keep-weekly", "--keep-monthly",
	    "--keep-yearly" };
	unsigned *slot[6];
	struct cli *c = f->c;
	const char *g = c->group_by != NULL ? c->group_by : "host,paths";
	int rc, i;

	slot[0] = &f->p.last;
	slot[1] = &f->p.hourly;
	slot[2] = &f->p.daily;
	slot[3] = &f->p.weekly;
	slot[4] = &f->p.monthly;
	slot[5] = &f->p.yearly;
	for (i = 0; i < 6; i++)
		if ((rc = count_parse(c, names[i], c->keep[i], slot[i])) !=
		    EXIT_OK)
			return rc;
	if (c->keep_within != NULL &&
	    (kl_duration_parse(c->keep_within, &f->p.within_s) != KL_OK ||
	    f->p.within_s == 0)) {
		cli_err(c, "--keep-within takes a duration such as 2y5m7d3h or "
		    "30d, not \"%s\"", c->keep_within);
		return EXIT_USAGE;
	}
	f->p.tags = c->keep_tags.v;
	f->p.ntags = c->keep_tags.n;
	f->by_host = strcmp(g, "host,paths") == 0 || strcmp(g, "host") == 0 ||
	    strcmp(g, "paths,host") == 0;
	f->by_paths = strcmp(g, "host,paths") == 0 ||
	    strcmp(g, "paths") == 0 || strcmp(g, "paths,host") == 0;
	if (!f->by_host && !f->by_paths && strcmp(g, "none") != 0) {
		cli_err(c, "--group-by takes host,paths, host, paths or none, "
		    "not \"%s\"", g);
		return EXIT_USAGE;
	}
	if (cli_given(c, OPT_MAX_UNUSED) && !c->prune) {
		cli_err(c, "--max-unused goes with --prune");
		return EXIT_USAGE;
	}
	if (c->prune && (rc = cli_max_unused_check(c)) != EXIT_OK)
		return rc;	/* before anything is forgotten */
	if (c->nargs == 0 && !kl_keep_policy_any(&f->p)) {
		cli_err(c, "no policy (--keep-...) and no snapshot given: "
		    "nothing to forget");
		return EXIT_USAGE;
	}
	if (c->nargs > 0 && (kl_keep_policy_any(&f->p) ||
	    cli_given(c, OPT_GROUP_BY))) {
		cli_err(c, "give snapshots or a policy, not both");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* SNAPSHOT... on the command line: each must name one listed snapshot. */
static int
chosen_mark(struct forget *f)
{
	struct kl_id id;
	size_t i;
	int a, rc, found;

	for (a = 0; a < f->c->nargs; a++) {
		if ((rc = cli_snapshot(f->c, f->r, f->c->args[a], NULL, 0, &id,
		    NULL)) != EXIT_OK)
			return rc;
		for (i = 0, found = 0; i < f->n; i++)
			if (kl_id_eq(&f->s[i].id, &id)) {
				f->s[i].chosen = f->s[i].remove = 1;
				found = 1;
			}
		if (!found) {
			cli_err(f->c, "snapshot %s is not among those "
			    "selected (--host, --tag)", f->c->args[a]);
			return EXIT_FATAL;
		}
	}
	return EXIT_OK;
}

/* 1 if the client's own time and the receive time disagree too much. */
static int
flagged(const struct fsnap *v)
{
	return v->time_s > v->recv_s + FLAG_AHEAD_S ||
	    v->recv_s - v->time_s > FLAG_BEHIND_S;
}

static void
reasons_json(struct kl_json *j, unsigned keep)
{
	unsigned i;

	kl_json_arr(j, "reasons");
	for (i = 0; i < KL_KEEP_RULES; i++)
		if (keep & (1u << i))
			kl_json_text(j, NULL, kl_keep_rule_name(i));
	kl_json_arr_end(j);
}

static void
reasons_text(unsigned keep)
{
	unsigned i;
	int first = 1;

	for (i = 0; i < KL_KEEP_RULES; i++)
		if (keep & (1u << i)) {
			printf("%s%s", first ? "" : ", ", kl_keep_rule_name(i));
			first = 0;
		}
}

static void
snap_json(struct kl_json *j, const struct fsnap *v)
{
	char t[48];

	kl_json_obj(j, NULL);
	kl_json_id(j, "id", &v->id);
	fmt_time_utc(t, sizeof(t), v->time_s, v->time_ns);
	kl_json_text(j, "time", t);
	fmt_time_utc(t, sizeof(t), v->recv_s, 0);
	kl_json_text(j, "received", t);
	kl_json_bool(j, "flagged", flagged(v));
	reasons_json(j, v->keep);
	kl_json_obj_end(j);
}

static void
snap_text(const struct fsnap *v)
{
	char hex[KL_ID_HEX_LEN + 1], r[32], t[32];

	kl_id_hex(&v->id, hex);
	fmt_time_local(r, sizeof(r), v->recv_s);
	printf("  %-6s  %.8s  received %s  ", v->remove ? "remove" : "keep",
	    hex, r);
	reasons_text(v->keep);
	if (flagged(v)) {
		fmt_time_local(t, sizeof(t), v->time_s);
		printf("%s(flagged: its own time says %s)", v->keep ? "  " :
		    "", t);
	}
	putchar('\n');
}

/* One group [i, j) as an element of "groups", kept snapshots first. */
static void
group_json(struct forget *f, size_t i, size_t j)
{
	const struct fsnap *g = &f->s[i];
	size_t k;
	int pass;

	kl_json_obj(&f->out, NULL);
	kl_json_text(&f->out, "host", f->by_host ? g->host : NULL);
	kl_json_text(&f->out, "paths", f->by_paths ? g->paths : NULL);
	for (pass = 0; pass < 2; pass++) {
		kl_json_arr(&f->out, pass ? "remove" : "keep");
		for (k = i; k < j; k++)
			if (f->s[k].remove == pass)
				snap_json(&f->out, &f->s[k]);
		kl_json_arr_end(&f->out);
	}
	kl_json_obj_end(&f->out);
}

/* One group [i, j): its heading and its snapshots, kept ones first. */
static void
group_print(struct forget *f, size_t i, size_t j)
{
	const struct fsnap *g = &f->s[i];
	size_t k;
	int pass;

	if (f->c->json) {
		group_json(f, i, j);
	} else if (!f->c->quiet) {
		printf("snapshots of host ");
		cli_puts(stdout, f->by_host ? g->host : "(any)");
		printf(", paths ");
		cli_puts(stdout, f->by_paths ? g->paths : "(any)");
		printf(":\n");
		for (pass = 0; pass < 2; pass++)
			for (k = i; k < j; k++)
				if (f->s[k].remove == pass)
					snap_text(&f->s[k]);
	}
}

static void
refused(void *arg, const char *hex, const char *why)
{
	cli_err(arg, "snapshot %.8s was not removed: %s", hex, why);
}

static int
forget_apply(struct forget *f, size_t nrm)
{
	struct kl_id *ids;
	size_t i, k = 0;
	int rc;

	if ((ids = calloc(nrm, sizeof(*ids))) == NULL)
		return cli_fail(f->c, KL_E_NOMEM, NULL, NULL);
	for (i = 0; i < f->n; i++)
		if (f->s[i].remove)
			ids[k++] = f->s[i].id;
	if ((rc = kl_repo_lock(f->r, 1, &f->err)) != KL_OK) {
		free(ids);
		return cli_fail(f->c, rc, &f->err, "cannot take the "
		    "repository's exclusive lock");
	}
	rc = kl_forget_snapshots(f->r, ids, k, refused, f->c, &f->removed,
	    &f->failed, &f->err);
	kl_repo_unlock(f->r);
	free(ids);
	if (rc != KL_OK)
		return cli_fail(f->c, rc, &f->err, "writing the forget record");
	/* the catalog follows: forgotten, not vanished */
	if ((rc = cli_catalog_sync(f->c, f->r, 0)) != EXIT_OK)
		return rc;
	return f->failed > 0 ? EXIT_FATAL : EXIT_OK;
}

/* forget --prune: prune at once, as if the forgotten snapshots were gone
 * already when this is a dry run. */
static int
forget_prune(struct forget *f, size_t nrm)
{
	struct kl_id *skip = NULL;
	size_t i, k = 0;
	int rc;

	if (f->c->dry_run && nrm > 0) {
		if ((skip = calloc(nrm, sizeof(*skip))) == NULL)
			return cli_fail(f->c, KL_E_NOMEM, NULL, NULL);
		for (i = 0; i < f->n; i++)
			if (f->s[i].remove)
				skip[k++] = f->s[i].id;
	}
	if (f->c->json)
		kl_json_key(&f->out, "prune");
	else if (!f->c->quiet)
		printf("prune:\n");
	rc = cli_prune_run(f->c, f->r, f->c->json ? &f->out : NULL, skip, k);
	free(skip);
	return rc;
}

/* 1 if a snapshot of group [i, j) was named on the command line. */
static int
group_chosen(const struct forget *f, size_t i, size_t j)
{
	for (; i < j; i++)
		if (f->s[i].chosen)
			return 1;
	return 0;
}

/* --json: the object, up to its groups. */
static void
forget_json_begin(struct forget *f)
{
	kl_json_init(&f->out, stdout);
	kl_json_obj(&f->out, NULL);
	kl_json_bool(&f->out, "dry_run", f->c->dry_run);
	kl_json_arr(&f->out, "groups");
}

/* What forget did, or would do: nrm snapshots to remove. */
static void
totals_print(struct forget *f, size_t nrm)
{
	size_t removed = f->c->dry_run ? nrm : f->removed;

	if (f->c->json) {
		kl_json_arr_end(&f->out);	/* the groups */
		kl_json_u64(&f->out, "removed", removed);
		kl_json_u64(&f->out, "kept", f->kept);
		kl_json_u64(&f->out, "failed", f->failed);
	} else if (!f->c->quiet)
		printf("%s %zu snapshots, kept %zu\n", f->c->dry_run ?
		    "would forget" : "forgot", removed, f->kept);
}

static int
forget_run(struct forget *f)
{
	size_t i, j, nrm = 0;
	int rc;

	if ((rc = cli_catalog_sync(f->c, f->r, 0)) != EXIT_OK)
		return rc;
	if ((rc = kl_cat_snap_foreach(kl_repo_catalog(f->r), NULL, 0,
	    snap_collect, f, NULL)) != KL_OK) {
		cli_err(f->c, "reading the catalog: %s", kl_strerror(rc));
		return EXIT_FATAL;
	}
	if (f->n > 1)
		qsort(f->s, f->n, sizeof(*f->s), by_group_then_recv);
	if (f->c->nargs > 0) {
		if ((rc = chosen_mark(f)) != EXIT_OK)
			return rc;
	}
	if (f->c->json)
		forget_json_begin(f);
	for (i = 0; i < f->n; i = j) {
		for (j = i + 1; j < f->n &&
		    strcmp(f->s[j].group, f->s[i].group) == 0; j++)
			;
		if (f->c->nargs == 0 && (rc = group_apply(f, i, j)) != KL_OK)
			return cli_fail(f->c, rc, NULL, NULL);
		if (f->c->nargs == 0 || group_chosen(f, i, j))
			group_print(f, i, j);
	}
	for (i = 0; i < f->n; i++)
		nrm += f->s[i].remove != 0;
	f->kept = f->n - nrm;
	rc = EXIT_OK;
	if (!f->c->dry_run && nrm > 0)
		rc = forget_apply(f, nrm);
	totals_print(f, nrm);
	if (f->c->prune && rc == EXIT_OK)
		rc = forget_prune(f, nrm);
	if (f->c->json) {
		kl_json_obj_end(&f->out);
		putchar('\n');
	}
	return rc;
}

int
cmd_forget(struct cli *c)
{
	struct forget f;
	int rc;

	memset(&f, 0, sizeof(f));
	f.c = c;
	kl_error_clear(&f.err);
	if ((rc = policy_parse(&f)) != EXIT_OK)
		return rc;
	if ((rc = cli_open(c, &f.r)) != EXIT_OK)
		return rc;
	if (!kl_repo_is_full(f.r)) {
		kl_error_obj(&f.err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "forgetting snapshots needs a full key (a backup-only key "
		    "cannot read them, nor sign the record that tells other "
		    "clients they were forgotten)");
		rc = cli_fail(c, KL_E_PERM, &f.err, NULL);
	} else
		rc = forget_run(&f);
	fsnaps_free(&f);
	cli_close(c, f.r);
	return rc;
}
