/*
 * kluis check (docs/CLI.md "check", docs/COMPLIANCE.md "Checks"): runs
 * the check of restore-tools/check.c, prints its findings (text or one
 * JSON object), records the run in the catalog and writes the metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kluis/catalog.h"
#include "kluis/check.h"
#include "kluis/err.h"
#include "kluis/format.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "cli.h"

#define SNAPS_SHOWN 20		/* snapshot ids printed per finding */
#define MIB (1024.0 * 1024.0)

/* The phases: indexes, snapshots and trees counted, then packs read. */
static void
check_progress(void *arg, const struct kl_check_progress *p)
{
	struct cli_progress_state s = { p->phase, p->done, p->total,
	    strcmp(p->phase, "data") == 0 ? "packs" :
	    strcmp(p->phase, "index") == 0 ? "files" :
	    strcmp(p->phase, "snapshots") == 0 ? "read" : "walked",
	    p->bytes_done, p->bytes_total,
	    p->total > 0 && p->done >= p->total };

	cli_progress_update(arg, &s);
}

/* ---- output ---- */

static void
finding_text(const struct kl_check_finding *f)
{
	char hex[KL_ID_HEX_LEN + 1];
	size_t i;

	printf("%s: ", kl_check_kind_name(f->kind));
	cli_puts(stdout, f->object);
	fputs(": ", stdout);
	cli_puts(stdout, f->detail);
	putchar('\n');
	if (f->nsnaps > 0) {
		printf("  snapshot%s:", f->nsnaps == 1 ? "" : "s");
		for (i = 0; i < f->nsnaps && i < SNAPS_SHOWN; i++) {
			kl_id_hex(&f->snaps[i], hex);
			printf(" %.8s", hex);
		}
		if (f->nsnaps > SNAPS_SHOWN)
			printf(" and %zu more", f->nsnaps - SNAPS_SHOWN);
		putchar('\n');
	}
	for (i = 0; i < f->npaths; i++) {
		fputs("  affected: ", stdout);
		cli_puts(stdout, f->paths[i]);
		putchar('\n');
	}
	if (f->more_paths > 0)
		printf("  ... and %llu more affected path%s\n",
		    (unsigned long long)f->more_paths,
		    f->more_paths == 1 ? "" : "s");
	if (f->copies > 0)
		printf("  %llu of its data blob%s also in a sound pack: "
		    "restores take %s\n", (unsigned long long)f->copies,
		    f->copies == 1 ? " is" : "s are",
		    f->copies == 1 ? "that copy" : "those copies");
}

static void
report_text(const struct cli *c, const struct kl_check_report *rep,
    const char *subset, int data)
{
	size_t i;

	for (i = 0; i < rep->nf; i++)
		finding_text(&rep->f[i]);
	if (c->quiet)
		return;
	printf("checked %llu snapshot%s, %llu trees, %llu blobs in %llu "
	    "packs, %llu index files\n", (unsigned long long)rep->snapshots,
	    rep->snapshots == 1 ? "" : "s", (unsigned long long)rep->trees,
	    (unsigned long long)rep->blobs, (unsigned long long)rep->packs,
	    (unsigned long long)rep->index_files);
	if (data)
		printf("read %llu of %llu packs (subset %s): %.1f MiB, "
		    "%.1f MiB/s\n", (unsigned long long)rep->packs_read,
		    (unsigned long long)rep->packs, subset,
		    rep->bytes_read / MIB, rep->duration_s > 0 ?
		    rep->bytes_read / MIB / rep->duration_s : 0.0);
	if (rep->orphan_packs > 0)
		printf("info: %llu pack%s that no index file names and no "
		    "snapshot needs (left by interrupted backups; the backup "
		    "that wrote them adopts them)\n",
		    (unsigned long long)rep->orphan_packs,
		    rep->orphan_packs == 1 ? "" : "s");
	if (rep->quarantined > 0)
		printf("info: %llu file%s (index files, packs) withdrawn by "
		    "a full key (kluis quarantine): not used\n",
		    (unsigned long long)rep->quarantined,
		    rep->quarantined == 1 ? "" : "s");
	if (rep->attested_packs > 0)
		printf("vouched for %llu verified pack%s in an index file "
		    "signed with this full key: every host deduplicates "
		    "against %s now\n", (unsigned long long)rep->attested_packs,
		    rep->attested_packs == 1 ? "" : "s",
		    rep->attested_packs == 1 ? "it" : "them");
	if (rep->attest_refused)
		printf("info: the repository server's role for this key "
		    "cannot write: the verified packs were not vouched for "
		    "(other hosts upload their data again rather than trust "
		    "another host's index)\n");
	if (rep->nf == 0)
		printf("no problems found in %.1f s\n", rep->duration_s);
	else
		printf("%zu problem%s found in %.1f s\n", rep->nf,
		    rep->nf == 1 ? "" : "s", rep->duration_s);
}

static void
finding_json(struct kl_json *j, const struct kl_check_finding *f)
{
	size_t i;

	kl_json_obj(j, NULL);
	kl_json_text(j, "kind", kl_check_kind_name(f->kind));
	kl_json_text(j, "object", f->object);
	kl_json_text(j, "detail", f->detail);
	kl_json_arr(j, "snapshots");
	for (i = 0; i < f->nsnaps; i++)
		kl_json_id(j, NULL, &f->snaps[i]);
	kl_json_arr_end(j);
	kl_json_arr(j, "paths");
	for (i = 0; i < f->npaths; i++)
		kl_json_text(j, NULL, f->paths[i]);
	kl_json_arr_end(j);
	kl_json_u64(j, "more_paths", f->more_paths);
	kl_json_u64(j, "copies", f->copies);
	kl_json_obj_end(j);
}

static void
report_json(const struct kl_check_report *rep, const char *subset)
{
	struct kl_json j;
	size_t i;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_arr(&j, "findings");
	for (i = 0; i < rep->nf; i++)
		finding_json(&j, &rep->f[i]);
	kl_json_arr_end(&j);
	kl_json_u64(&j, "snapshots", rep->snapshots);
	kl_json_u64(&j, "trees", rep->trees);
	kl_json_u64(&j, "blobs", rep->blobs);
	kl_json_u64(&j, "packs", rep->packs);
	kl_json_u64(&j, "index_files", rep->index_files);
	kl_json_u64(&j, "orphan_packs", rep->orphan_packs);
	kl_json_u64(&j, "quarantined_index_files", rep->quarantined);
	kl_json_u64(&j, "attested_packs", rep->attested_packs);
	kl_json_u64(&j, "packs_read", rep->packs_read);
	kl_json_u64(&j, "bytes_read", rep->bytes_read);
	kl_json_text(&j, "subset", subset);
	kl_json_real(&j, "duration_s", rep->duration_s, 3);
	kl_json_bool(&j, "ok", rep->nf == 0);
	kl_json_obj_end(&j);
	putchar('\n');
}

/* ---- records ---- */

/* The run's details for the catalog (restore-tools/report.c reads
 * them). */
static void
run_detail(struct cli_run *x, const struct kl_check_report *rep,
    const char *subset, const char *err)
{
	cli_run_int(x, "packs", (int64_t)rep->packs);
	cli_run_int(x, "packs_read", (int64_t)rep->packs_read);
	cli_run_int(x, "bytes_read", (int64_t)rep->bytes_read);
	cli_run_int(x, "findings", (int64_t)rep->nf);
	cli_run_text(x, "subset", subset);
	cli_run_real(x, "coverage", rep->packs > 0 ?
	    (double)rep->packs_read / (double)rep->packs : 0.0);
	cli_run_real(x, "duration_s", rep->duration_s);
	cli_run_text(x, "error", err);
}

static void
run_record(struct cli *c, struct kl_repo *r,
    const struct kl_check_report *rep, const char *subset, int64_t start,
    int exit_code, const char *err)
{
	struct kl_cat_run run;
	char host[KL_NAME_MAX + 1] = "unknown";
	struct cli_run x;

	memset(&run, 0, sizeof(run));
	x.n = 0;
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	run.kind = "check";
	run.host = host;
	run.start_s = start;
	run.end_s = (int64_t)time(NULL);
	run.exit_code = exit_code;
	run.bytes = rep->bytes_read;
	run.errors = rep->nf + (err != NULL);
	run_detail(&x, rep, subset, err);
	run.v = x.v;
	run.nv = x.n;
	cli_run_commit(c, r, &run);
}

/* The run's gauges; after an error only its duration is known. */
static int
metrics(struct cli *c, struct kl_repo *r, const struct kl_check_report *rep,
    int failed)
{
	struct cli_metric m[] = {
		{ "findings", "Problems the last check found.",
		    (double)rep->nf },
		{ "packs_read", "Pack files the last check read and verified.",
		    (double)rep->packs_read },
		{ "bytes_read", "Bytes of pack files the last check read.",
		    (double)rep->bytes_read },
		{ "duration_seconds", "How long the last check took.",
		    rep->duration_s },
	};

	if (c->metrics_file == NULL)
		return EXIT_OK;
	if (failed)
		return cli_metrics_write(c, r, "check", &m[3], 1, EXIT_FATAL);
	return cli_metrics_write(c, r, "check", m, sizeof(m) / sizeof(m[0]),
	    rep->nf > 0 ? EXIT_FATAL : EXIT_OK);
}

/* ---- the command ---- */

static int
options(struct cli *c, struct kl_check_opts *o)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if ((rc = cli_nargs(c, 0, 0)) != EXIT_OK)
		return rc;
	if (c->read_data && c->read_data_subset != NULL) {
		cli_err(c, "--read-data and --read-data-subset exclude each "
		    "other");
		return EXIT_USAGE;
	}
	if (c->read_data_subset != NULL && kl_check_subset_parse(
	    c->read_data_subset, &o->data) != KL_OK) {
		cli_err(c, "--read-data-subset %s: give N/M (1 <= N <= M) or "
		    "P%% (0 < P <= 100)", c->read_data_subset);
		return EXIT_USAGE;
	}
	if (c->read_data)
		o->data.mode = KL_CHECK_DATA_ALL;
	if (cli_given(c, OPT_THREADS) && (c->threads < 1 ||
	    c->threads > KL_CHECK_THREADS_MAX)) {
		cli_err(c, "--threads takes 1..%d", KL_CHECK_THREADS_MAX);
		return EXIT_USAGE;
	}
	o->threads = c->threads;
	o->now = (int64_t)time(NULL);
	return EXIT_OK;
}

int
cmd_check(struct cli *c)
{
	struct kl_check_report rep;
	struct kl_check_opts o;
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct cli_progress g;
	char subset[32], why[600];
	int64_t start = (int64_t)time(NULL);
	int rc, erc;

	memset(&rep, 0, sizeof(rep));
	kl_error_clear(&err);
	if ((rc = options(c, &o)) != EXIT_OK || (rc = cli_open(c, &r)) !=
	    EXIT_OK) {
		cli_run_unreached(c, "check", NULL, start, rc);
		cli_metrics_unreached(c, "check", start, rc);
		return rc;
	}
	kl_check_subset_format(&o.data, subset, sizeof(subset));
	cli_progress_begin(&g, c, "check");
	o.progress = check_progress;
	o.progress_arg = &g;
	erc = kl_check_run(r, &o, &rep, &err);
	cli_progress_end(&g);
	if (erc != KL_OK) {
		snprintf(why, sizeof(why), "%s", kl_error_msg(&err, erc));
		rc = cli_fail(c, erc, &err, "check failed");
		run_record(c, r, &rep, subset, start, rc, why);
		(void)metrics(c, r, &rep, 1);
		goto out;
	}
	if (c->json)
		report_json(&rep, subset);
	else
		report_text(c, &rep, subset, o.data.mode != KL_CHECK_DATA_NONE);
	rc = rep.nf > 0 ? EXIT_FATAL : EXIT_OK;
	run_record(c, r, &rep, subset, start, rc, NULL);
	if (metrics(c, r, &rep, 0) != EXIT_OK)
		rc = EXIT_FATAL;
out:
	kl_check_report_clear(&rep);
	/* not cli_close: every damaged file it would list is a finding */
	kl_repo_close(r);
	return rc;
}
