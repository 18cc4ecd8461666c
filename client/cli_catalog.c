/*
 * The catalog's commands (docs/CLI.md): versions, find, diff, catalog
 * status|rebuild, and the catalog update they share with restore --at.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kluis/catalog.h"
#include "kluis/cliref.h"
#include "kluis/err.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "kluis/treewalk.h"
#include "cli.h"

int
cli_catalog_sync(struct cli *c, struct kl_repo *r, int versions)
{
	struct kl_error err;
	int rc;

	kl_error_clear(&err);
	if ((rc = kl_repo_catalog_sync(r, versions, &err)) == KL_OK)
		return EXIT_OK;
	return cli_fail(c, rc, &err, "cannot update the catalog");
}

/* A failure of the catalog itself: err is what the catalog call filled
 * ("catalog PATH: what failed"). */
static int
cat_failed(struct cli *c, const struct kl_error *err, int rc)
{
	return cli_fail(c, rc, err, "catalog");
}

int
parse_local_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *e;
	time_t t;
	int day_only;

	memset(&tm, 0, sizeof(tm));
	if ((e = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	day_only = *e == '\0';
	if (*e == ' ' || *e == 'T') {
		const char *f = strptime(e + 1, "%H:%M:%S", &tm);

		if (f == NULL) {
			tm.tm_sec = 0;
			f = strptime(e + 1, "%H:%M", &tm);
		}
		e = f;
	}
	if (e == NULL || *e != '\0')
		return -1;
	/*
	 * A date alone means that whole day: up to the last second before
	 * the next local midnight (mktime normalises the 32nd etc.), which on
	 * a daylight-saving day is not midnight + 86399 s.
	 */
	if (day_only)
		tm.tm_mday++;
	tm.tm_isdst = -1;	/* the zone's rule for that date decides */
	if ((t = mktime(&tm)) == (time_t)-1)
		return -1;
	*out = (int64_t)t - day_only;
	return 0;
}

static void
content_hex(const uint8_t *p, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[32] = '\0';
}

/* The names `ls --json` uses. */
static const char *const type_names[] = {
	"?", "file", "dir", "symlink", "chr", "blk", "fifo", "socket",
};

static const char *
type_name(uint8_t t)
{
	return t < sizeof(type_names) / sizeof(type_names[0]) ?
	    type_names[t] : "?";
}

/* ---- versions ---- */

/* --json: the array that the callbacks of versions and find fill, on a
 * line of its own. */
static void
json_list_begin(const struct cli *c, struct kl_json *j)
{
	kl_json_init(j, stdout);
	if (c->json)
		kl_json_arr(j, NULL);
}

static void
json_list_end(const struct cli *c, struct kl_json *j)
{
	if (!c->json)
		return;
	kl_json_arr_end(j);
	putchar('\n');
}

struct vctx {
	struct cli *c;
	uint64_t n;
	struct kl_json j;	/* --json: the array of them */
};

static void
version_json(struct kl_json *j, const struct kl_cat_version *v,
    const char *ch)
{
	char t[40], mode[12];

	fmt_time_utc(t, sizeof(t), v->mtime.s, v->mtime.ns);
	fmt_mode(mode, v->mode);
	kl_json_obj(j, NULL);
	kl_json_text(j, "path", v->path);
	kl_json_text(j, "host", v->host);
	kl_json_text(j, "type", type_name(v->type));
	kl_json_text(j, "mode", mode);
	kl_json_u64(j, "uid", v->uid);
	kl_json_u64(j, "gid", v->gid);
	kl_json_u64(j, "size", v->size);
	kl_json_text(j, "mtime", t);
	kl_json_text(j, "content", ch);
	kl_json_id(j, "first_snapshot", &v->first);
	fmt_time_utc(t, sizeof(t), v->first_time, 0);
	kl_json_text(j, "first_time", t);
	kl_json_id(j, "last_snapshot", &v->last);
	fmt_time_utc(t, sizeof(t), v->last_time, 0);
	kl_json_text(j, "last_time", t);
	kl_json_bool(j, "in_latest", v->in_latest);
	kl_json_obj_end(j);
}

static int
version_print(void *arg, const struct kl_cat_version *v)
{
	struct vctx *x = arg;
	char f[40], l[40], m[40], ch[33], fh[KL_ID_HEX_LEN + 1];
	char lh[KL_ID_HEX_LEN + 1];

	content_hex(v->content, ch);
	kl_id_hex(&v->first, fh);
	kl_id_hex(&v->last, lh);
	if (x->c->json) {
		version_json(&x->j, v, ch);
	} else {
		if (x->n == 0)
			printf("%-19s %-8s  %-19s %-8s  %-10s %12s  %-19s  %s\n",
			    "FIRST SEEN", "SNAPSHOT", "LAST SEEN", "SNAPSHOT",
			    "HOST", "SIZE", "MODIFIED", "CONTENT");
		fmt_time_local(f, sizeof(f), v->first_time);
		fmt_time_local(l, sizeof(l), v->last_time);
		fmt_time_local(m, sizeof(m), v->mtime.s);
		printf("%-19s %.8s  %-19s %.8s  ", f, fh, l, lh);
		cli_puts_pad(stdout, v->host, 10);
		printf(" %12llu  %-19s  %.12s%s\n", (unsigned long long)v->size,
		    m, ch, v->in_latest ? "  (in latest)" : "");
	}
	x->n++;
	return 0;
}

int
cmd_versions(struct cli *c)
{
	char path[KL_PATH_MAX + 1];
	struct kl_repo *r = NULL;
	struct vctx x;
	struct kl_error err;
	int rc;

	memset(&x, 0, sizeof(x));
	x.c = c;
	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 1, 1)))
		return rc;
	if (snap_path(c->args[0], path) != KL_OK) {
		cli_err(c, "bad path %s", c->args[0]);
		return EXIT_USAGE;
	}
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = cli_catalog_sync(c, r, 1)) != EXIT_OK)
		goto out;
	json_list_begin(c, &x.j);
	rc = kl_cat_versions(kl_repo_catalog(r), path, c->host, version_print,
	    &x, &err);
	json_list_end(c, &x.j);
	if (rc == KL_E_NOTFOUND) {
		cli_err(c, "%s is in no snapshot%s%s", path, c->host ?
		    " of host " : "", c->host ? c->host : "");
		rc = EXIT_FATAL;
	} else if (rc != KL_OK) {
		rc = cat_failed(c, &err, rc);
	} else if (!c->json && !c->quiet) {
		printf("%llu version%s of ", (unsigned long long)x.n,
		    x.n == 1 ? "" : "s");
		cli_puts(stdout, path);
		putchar('\n');
	}
out:
	if (cli_close(c, r) && rc == EXIT_OK)
		rc = EXIT_FATAL;
	return rc;
}

/* ---- find ---- */

static int
found_print(void *arg, const struct kl_cat_found *f)
{
	struct vctx *x = arg;
	char a[40], b[40];

	if (x->c->json) {
		fmt_time_utc(a, sizeof(a), f->first_time, 0);
		fmt_time_utc(b, sizeof(b), f->last_time, 0);
		kl_json_obj(&x->j, NULL);
		kl_json_text(&x->j, "path", f->path);
		kl_json_text(&x->j, "host", f->host);
		kl_json_u64(&x->j, "versions", f->versions);
		kl_json_text(&x->j, "first_time", a);
		kl_json_text(&x->j, "last_time", b);
		kl_json_bool(&x->j, "in_latest", f->in_latest);
		kl_json_obj_end(&x->j);
	} else {
		fmt_time_local(a, sizeof(a), f->first_time);
		fmt_time_local(b, sizeof(b), f->last_time);
		cli_puts(stdout, f->path);
		printf("  %s .. %s  ", a, f->in_latest ? "latest             " :
		    b);
		cli_puts_pad(stdout, f->host, 10);
		printf(" %3llu version%s\n", (unsigned long long)f->versions,
		    f->versions == 1 ? "" : "s");
	}
	x->n++;
	return 0;
}

int
cmd_find(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct vctx x;
	struct kl_error err;
	int rc;

	memset(&x, 0, sizeof(x));
	x.c = c;
	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 1, 1)))
		return rc;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = cli_catalog_sync(c, r, 1)) != EXIT_OK)
		goto out;
	json_list_begin(c, &x.j);
	rc = kl_cat_find(kl_repo_catalog(r), c->args[0], c->host, found_print,
	    &x, &err);
	json_list_end(c, &x.j);
	if (rc != KL_OK) {
		rc = cat_failed(c, &err, rc);
	} else if (x.n == 0) {
		if (!c->json)
			cli_err(c, "no path matches %s", c->args[0]);
		rc = EXIT_FATAL;
	}
out:
	if (cli_close(c, r) && rc == EXIT_OK)
		rc = EXIT_FATAL;
	return rc;
}

/* ---- diff ---- */

/*
 * A walk over both snapshots' trees side by side (kluis/treewalk.h),
 * within the sum of their budgets; equal subtree ids are not entered.
 * A level's tag, if not 0, is the node of the other side to report as
 * added when the level (a directory replaced by something else) is done.
 */
struct dctx {
	struct cli *c;
	struct kl_repo *r;
	struct kl_error *err;	/* the command's: a tree that fails to load */
	uint64_t added, removed, modified, meta_only, n;
	struct kl_json j;	/* --json: the document */
};

static void
change_print(struct dctx *d, struct kl_walk *w, char what, int content,
    int meta)
{
	static const char *const names[] = { "added", "removed", "modified" };
	const char *name = what == '+' ? names[0] : what == '-' ? names[1] :
	    names[2];
	size_t len;
	const char *p = kl_walk_path(w, &len);

	if (d->c->json) {
		kl_json_obj(&d->j, NULL);
		kl_json_textn(&d->j, "path", p, len);
		kl_json_text(&d->j, "change", name);
		kl_json_bool(&d->j, "content", content);
		kl_json_bool(&d->j, "metadata", meta);
		kl_json_obj_end(&d->j);
	} else {
		printf("%c    ", what);
		cli_putn(stdout, p, len);
		putchar('\n');
	}
	d->n++;
}

/* A node on one side only (removed or added), and all below it. */
static int
diff_one(struct dctx *d, struct kl_walk *w, int removed)
{
	change_print(d, w, removed ? '-' : '+', 1, 1);
	*(removed ? &d->removed : &d->added) += 1;
	return removed ? KL_WALK_A : KL_WALK_B;
}

static int
diff_both(struct dctx *d, struct kl_walk *w, const struct kl_node *a,
    const struct kl_node *b)
{
	uint8_t ca[16], ma[16], cb[16], mb[16];
	int content, meta, mask;

	if (a->type != b->type) {
		mask = diff_one(d, w, 1);
		if (a->type == KL_NODE_DIR)	/* b's turn after a's below */
			kl_walk_set_tag(w, (uint64_t)(uintptr_t)b);
		else
			mask = diff_one(d, w, 0);
		return mask;
	}
	kl_cat_node_identity(a, ca, ma);
	kl_cat_node_identity(b, cb, mb);
	/* a directory's "content" is everything below: reported there */
	content = a->type != KL_NODE_DIR && memcmp(ca, cb, 16) != 0;
	meta = memcmp(ma, mb, 16) != 0;
	if (content || meta) {
		change_print(d, w, content ? 'M' : 'U', content, meta);
		d->modified++;
		d->meta_only += !content;
	}
	if (a->type == KL_NODE_DIR && !kl_id_eq(&a->subtree, &b->subtree))
		return KL_WALK_A | KL_WALK_B;
	return 0;
}

static int
diff_entry(void *arg, struct kl_walk *w, const struct kl_node *a,
    const struct kl_node *b)
{
	struct dctx *d = arg;
	size_t len;

	kl_walk_path(w, &len);
	if (len > KL_PATH_MAX)
		return KL_E_LIMIT;
	if (b == NULL)
		return diff_one(d, w, 1);
	if (a == NULL)
		return diff_one(d, w, 0);
	return diff_both(d, w, a, b);
}

/* A directory replaced by a non-directory: the new one after the old. */
static int
diff_leave(void *arg, struct kl_walk *w)
{
	if (*kl_walk_tagp(w, 0) != 0)
		diff_one(arg, w, 0);
	return KL_OK;
}

static int
diff_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct dctx *d = arg;

	return kl_repo_tree_load(d->r, id, out, d->err);
}

static int
diff_walk(struct dctx *d, const struct kl_snapshot *s1,
    const struct kl_snapshot *s2, char *why, size_t cap)
{
	struct kl_walk_budget b, b2;
	struct kl_walk_stats st;
	struct kl_walk_ops ops;
	int rc;

	memset(&ops, 0, sizeof(ops));
	ops.load = diff_load;
	ops.load_arg = d;
	ops.entry = diff_entry;
	ops.leave = diff_leave;
	kl_repo_walk_budget(d->r, s1, &b);
	kl_repo_walk_budget(d->r, s2, &b2);
	kl_walk_budget_add(&b, &b2);
	*why = '\0';
	rc = kl_walk_run(&ops, d, &s1->tree, &s2->tree, &b, 0, &st);
	if (rc == KL_E_LIMIT && st.over != KL_WALK_WITHIN)
		kl_walk_over_str(&st, &b, s1->files + s2->files,
		    s1->dirs + s2->dirs, why, cap);
	return rc;
}

/* --json: the object, up to its changes. */
static void
diff_json_begin(struct dctx *d, const struct kl_id *i1,
    const struct kl_id *i2)
{
	kl_json_init(&d->j, stdout);
	kl_json_obj(&d->j, NULL);
	kl_json_id(&d->j, "snapshot1", i1);
	kl_json_id(&d->j, "snapshot2", i2);
	kl_json_arr(&d->j, "changes");
}

/* --json: the rest, also after a tree that failed (docs/CLI.md "JSON
 * conventions"). */
static void
diff_json_end(struct dctx *d)
{
	kl_json_arr_end(&d->j);
	kl_json_u64(&d->j, "added", d->added);
	kl_json_u64(&d->j, "removed", d->removed);
	kl_json_u64(&d->j, "modified", d->modified);
	kl_json_obj_end(&d->j);
	putchar('\n');
}

static int
diff_resolve(struct cli *c, struct kl_repo *r, const char *spec,
    struct kl_snapshot *s, struct kl_id *id, struct kl_error *err)
{
	int rc;

	if ((rc = cli_snapshot(c, r, spec, NULL, 0, id, NULL)) != EXIT_OK)
		return rc;
	if ((rc = kl_repo_snapshot_load(r, id, s, err)) == KL_OK)
		return EXIT_OK;
	return cli_fail(c, rc, err, "%s", spec);
}

int
cmd_diff(struct cli *c)
{
	char h1[KL_ID_HEX_LEN + 1], h2[KL_ID_HEX_LEN + 1], why[256];
	struct kl_snapshot s1, s2;
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct kl_id i1, i2;
	struct dctx d;
	int rc;

	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 2, 2)))
		return rc;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = diff_resolve(c, r, c->args[0], &s1, &i1, &err)) !=
	    EXIT_OK ||
	    (rc = diff_resolve(c, r, c->args[1], &s2, &i2, &err)) != EXIT_OK)
		goto out;
	if ((rc = kl_repo_index_load(r, &err)) != KL_OK) {
		rc = cli_fail(c, rc, &err, NULL);
		goto out;
	}
	memset(&d, 0, sizeof(d));
	d.c = c;
	d.r = r;
	d.err = &err;
	kl_id_hex(&i1, h1);
	kl_id_hex(&i2, h2);
	if (c->json)
		diff_json_begin(&d, &i1, &i2);
	rc = diff_walk(&d, &s1, &s2, why, sizeof(why));
	if (c->json)
		diff_json_end(&d);
	else if (rc == KL_OK && !c->quiet)
		printf("%.8s -> %.8s: %llu added, %llu removed, %llu modified "
		    "(%llu metadata only)\n", h1, h2,
		    (unsigned long long)d.added, (unsigned long long)d.removed,
		    (unsigned long long)d.modified,
		    (unsigned long long)d.meta_only);
	if (rc != KL_OK && *why)	/* beyond the trees' budget: says how */
		kl_error_set(&err, rc, "%s", why);
	if (rc != KL_OK)
		rc = cli_fail(c, rc, &err, "diff of %.8s and %.8s failed", h1,
		    h2);
out:
	kl_snapshot_clear(&s1);
	kl_snapshot_clear(&s2);
	if (cli_close(c, r) && rc == EXIT_OK)
		rc = EXIT_FATAL;
	return rc;
}

/* ---- catalog status | rebuild ---- */

static void
status_json(struct kl_cat *cat, const struct kl_cat_status *st,
    double rebuild_s)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_text(&j, "path", kl_cat_path(cat));
	kl_json_i64(&j, "schema", st->schema);
	kl_json_u64(&j, "file_bytes", st->file_bytes);
	kl_json_u64(&j, "index_files", st->index_files);
	kl_json_u64(&j, "blobs", st->blobs);
	kl_json_u64(&j, "packs", st->packs);
	kl_json_u64(&j, "snapshots", st->snapshots);
	kl_json_u64(&j, "vanished", st->vanished);
	kl_json_u64(&j, "series", st->series);
	kl_json_u64(&j, "pending", st->pending);
	kl_json_u64(&j, "skipped", st->skipped);
	kl_json_u64(&j, "paths", st->paths);
	kl_json_u64(&j, "versions", st->versions);
	kl_json_u64(&j, "own_trees", st->own_trees);
	kl_json_u64(&j, "runs", st->runs);
	kl_json_u64(&j, "signatures", st->signatures);
	if (rebuild_s >= 0)
		kl_json_real(&j, "rebuild_s", rebuild_s, 3);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
status_print(const struct cli *c, struct kl_cat *cat,
    const struct kl_cat_status *st, double rebuild_s)
{
	if (c->json) {
		status_json(cat, st, rebuild_s);
		return;
	}
	fputs("catalog:      ", stdout);
	cli_puts(stdout, kl_cat_path(cat));
	printf(" (schema %d, %.1f MB on disk)\n", st->schema,
	    (double)st->file_bytes / 1e6);
	printf("blob index:   %llu blobs in %llu packs from %llu index files\n",
	    (unsigned long long)st->blobs, (unsigned long long)st->packs,
	    (unsigned long long)st->index_files);
	printf("snapshots:    %llu in %llu series (%llu vanished from the "
	    "repository, %llu without versions yet, %llu left out: their "
	    "trees cannot be walked)\n",
	    (unsigned long long)st->snapshots, (unsigned long long)st->series,
	    (unsigned long long)st->vanished, (unsigned long long)st->pending,
	    (unsigned long long)st->skipped);
	printf("versions:     %llu change intervals over %llu paths\n",
	    (unsigned long long)st->versions, (unsigned long long)st->paths);
	printf("own backups:  %llu trees cached; %llu runs recorded\n",
	    (unsigned long long)st->own_trees, (unsigned long long)st->runs);
	printf("signatures:   %llu chunks of big files (for deltas)\n",
	    (unsigned long long)st->signatures);
	if (rebuild_s >= 0)
		printf("rebuilt from the repository in %.2f s\n", rebuild_s);
}

int
cmd_catalog(struct cli *c)
{
	struct kl_cat_status st;
	struct timespec t0, t1;
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct kl_cat *cat;
	double took = -1;
	int rc, rebuild;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)))
		return rc;
	rebuild = strcmp(c->cmd->name, "catalog rebuild") == 0;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((cat = kl_repo_catalog(r)) == NULL) {
		/* cli_open warned why the catalog did not open */
		cli_err(c, "no catalog: not even a temporary one opens");
		rc = EXIT_FATAL;
		goto out;
	}
	if (rebuild) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((rc = kl_cat_reset(cat, &err)) != KL_OK) {
			rc = cat_failed(c, &err, rc);
			goto out;
		}
		if ((rc = kl_repo_index_load(r, &err)) != KL_OK) {
			rc = cli_fail(c, rc, &err, NULL);
			goto out;
		}
		/* a backup-only key has the index and its own trees only */
		if (kl_repo_is_full(r) &&
		    (rc = cli_catalog_sync(c, r, 1)) != EXIT_OK)
			goto out;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	if ((rc = kl_cat_status(cat, &st, &err)) != KL_OK) {
		rc = cat_failed(c, &err, rc);
		goto out;
	}
	status_print(c, cat, &st, took);
	rc = EXIT_OK;
out:
	if (cli_close(c, r) && rc == EXIT_OK)
		rc = EXIT_FATAL;
	return rc;
}
