/* kluis restore and ls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kluis/backup.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/json.h"
#include "kluis/repo.h"
#include "kluis/restore.h"
#include "kluis/treewalk.h"
#include "cli.h"

int
snap_path(const char *in, char *out)
{
	char tmp[KL_PATH_MAX + 2];

	if (strlen(in) > KL_PATH_MAX)
		return KL_E_LIMIT;
	snprintf(tmp, sizeof(tmp), "%s%s", in[0] == '/' ? "" : "/", in);
	return kl_path_normalize(tmp, out);
}

/* This machine's host name, as kluis backup records it; NULL if none. */
static const char *
host_local(char *buf, size_t cap)
{
	if (gethostname(buf, cap - 1) != 0)
		return NULL;
	buf[cap - 1] = '\0';
	return buf;
}

/*
 * SNAPSHOT on the command line: an id or prefix, or "latest" - the newest
 * snapshot of --host, or of the only host whose snapshots hold paths
 * (kl_repo_snapshot_pick; docs/CLI.md "Which snapshot").
 */
int
cli_snapshot(struct cli *c, struct kl_repo *r, const char *spec,
    const char *const *paths, size_t npaths, struct kl_id *id,
    struct kl_snap_pick *pick)
{
	struct kl_snap_query q;
	struct kl_snap_pick p;
	struct kl_error err;
	int rc, latest = strcmp(spec, "latest") == 0;

	kl_error_clear(&err);
	memset(id, 0, sizeof(*id));
	if (pick != NULL)
		memset(pick, 0, sizeof(*pick));
	if (c->host != NULL && !latest && c->at == NULL) {
		cli_err(c, "--host goes with latest or --at (a snapshot id "
		    "names one host's snapshot already)");
		return EXIT_USAGE;
	}
	if (latest) {
		memset(&q, 0, sizeof(q));
		q.host = c->host;
		q.local_host = host_local(c->host_buf, sizeof(c->host_buf));
		q.paths = paths;
		q.npaths = npaths;
		q.paths_narrow = 1;
		q.at = INT64_MAX;
		if ((rc = kl_repo_snapshot_pick(r, &q, &p, &err)) == KL_OK) {
			*id = p.id;
			if (pick != NULL)
				*pick = p;
		}
	} else
		rc = kl_repo_snapshot_resolve(r, spec, id, &err);
	if (rc == KL_OK && latest && kl_repo_damage_count(r) > 0)
		cli_warn(c, "some snapshot files are damaged (listed at the "
		    "end); 'latest' is the newest intact snapshot");
	if (rc == KL_OK)
		return EXIT_OK;
	return cli_fail(c, rc, &err, latest ? "latest" : NULL);
}

static void
restore_json(const struct kl_restore_stats *st)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_u64(&j, "files", st->files);
	kl_json_u64(&j, "dirs", st->dirs);
	kl_json_u64(&j, "links", st->links);
	kl_json_u64(&j, "others", st->others);
	kl_json_u64(&j, "bytes", st->bytes);
	kl_json_u64(&j, "packs_read", st->packs_read);
	kl_json_u64(&j, "bytes_fetched", st->bytes_fetched);
	kl_json_u64(&j, "errors", st->errors);
	kl_json_real(&j, "duration_s", st->duration_s, 3);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
restore_report(const struct cli *c, const struct kl_restore_stats *st)
{
	if (c->json)
		restore_json(st);
	else if (c->verbose)
		printf("packs read: %llu; hard links: %llu\n",
		    (unsigned long long)st->packs_read,
		    (unsigned long long)st->links);
	if (!c->json && !c->quiet)
		printf("restored %llu files, %llu dirs, %llu other entries, "
		    "%llu bytes in %.1f s\n", (unsigned long long)st->files,
		    (unsigned long long)st->dirs,
		    (unsigned long long)(st->others + st->links),
		    (unsigned long long)st->bytes, st->duration_s);
}

static char incs[CLI_LIST_MAX][KL_PATH_MAX + 1];

/* "restoring from snapshot X of HOST, taken TIME", and a warning if the
 * catalog knew a newer snapshot of the same host and paths. */
static void
pick_tell(const struct cli *c, const struct kl_snap_pick *p)
{
	char when[40], gone[40], hex[KL_ID_HEX_LEN + 1];
	char ghex[KL_ID_HEX_LEN + 1];

	kl_id_hex(&p->id, hex);
	fmt_time_local(when, sizeof(when), p->time);
	if (!c->quiet && !c->json) {
		fprintf(stderr, "%s: restoring from snapshot %.8s of ",
		    c->prog, hex);
		cli_puts(stderr, p->host);
		fprintf(stderr, ", taken %s%s\n", when, p->by_local_host ?
		    " (this machine; several hosts have snapshots: --host "
		    "picks another)" : "");
	}
	if (!p->gone)
		return;
	kl_id_hex(&p->gone_id, ghex);
	fmt_time_local(gone, sizeof(gone), p->gone_time);
	cli_warn(c, "this client's catalog saw a newer snapshot of %s with "
	    "the same paths, %.8s (%s), that is gone from the repository: it "
	    "was deleted, or the repository was put back to an older state; "
	    "this restores the older %.8s (kluis check tells more)", p->host,
	    ghex, gone, hex);
}

/*
 * --at: the newest snapshot taken at or before the time (its effective
 * time: the server's receive time where known, else the client's clock;
 * docs/CLI.md "Point-in-time restore") that holds every requested path,
 * of --host if given.  Without --host, candidates from two hosts are
 * refused rather than guessed between.
 */
static int
resolve_at(struct cli *c, struct kl_repo *r, const char *const *paths,
    size_t npaths, struct kl_snap_pick *p, struct kl_error *err)
{
	char when[40];
	struct kl_snap_query q;
	int rc;

	memset(&q, 0, sizeof(q));
	if (parse_local_time(c->at, &q.at) != 0) {
		cli_err(c, "bad --at time \"%s\": use \"YYYY-MM-DD[ HH:MM[:SS]]\" "
		    "(local time)", c->at);
		return EXIT_USAGE;
	}
	q.host = c->host;
	q.paths = paths;
	q.npaths = npaths;
	if ((rc = kl_repo_snapshot_pick(r, &q, p, err)) == KL_OK)
		return EXIT_OK;
	if (rc != KL_E_NOTFOUND)
		return cli_fail(c, rc, err, NULL);
	fmt_time_local(when, sizeof(when), q.at);
	cli_err(c, "no snapshot%s%s taken at or before %s holds %s%s",
	    c->host ? " of host " : "", c->host ? c->host : "", when,
	    paths[0], npaths > 1 ? " and the other paths" : "");
	return cli_exit_code(rc, err, CLI_AT_REPO);
}

static void
restore_progress(void *arg, const struct kl_restore_progress *p)
{
	struct cli_progress_state s = { NULL, p->packs_done, p->packs_total,
	    "packs", p->bytes_done, p->bytes_total,
	    p->packs_done == p->packs_total };

	cli_progress_update(arg, &s);
}

int
cmd_restore(struct cli *c)
{
	struct kl_restore_opts o;
	struct kl_restore_stats st;
	struct kl_snap_pick pick;
	struct kl_repo *r = NULL;
	struct kl_error err;
	const char *iv[CLI_LIST_MAX];
	struct cli_progress prog;
	struct kl_id id;
	size_t i, ni = 0;
	int rc, first = c->at ? 0 : 1;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 1, CLI_LIST_MAX)))
		return rc;
	if (c->host != NULL && c->at == NULL &&
	    strcmp(c->args[0], "latest") != 0) {
		cli_err(c, "--host goes with latest or --at (a snapshot id "
		    "names one host's snapshot already)");
		return EXIT_USAGE;
	}
	if (c->target == NULL || *c->target == '\0') {
		cli_err(c, "restore needs --target DIR");
		return EXIT_USAGE;
	}
	/* PATH arguments and --include are the same thing */
	for (i = 0; i < c->includes.n + (size_t)(c->nargs - first); i++) {
		const char *p = i < c->includes.n ? c->includes.v[i] :
		    c->args[first + (int)(i - c->includes.n)];

		if (ni == CLI_LIST_MAX || snap_path(p, incs[ni]) != KL_OK) {
			cli_err(c, "bad path %s", p);
			return EXIT_USAGE;
		}
		iv[ni] = incs[ni];
		ni++;
	}
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if (c->at != NULL)
		rc = resolve_at(c, r, iv, ni, &pick, &err);
	else
		rc = cli_snapshot(c, r, c->args[0], iv, ni, &id, &pick);
	if (rc != EXIT_OK)
		goto out;
	if (c->at != NULL || strcmp(c->args[0], "latest") == 0) {
		id = pick.id;
		pick_tell(c, &pick);
	}
	memset(&o, 0, sizeof(o));
	o.target = c->target;
	/* "/" alone means everything */
	o.includes = iv;
	o.nincludes = ni == 1 && strcmp(iv[0], "/") == 0 ? 0 : ni;
	o.overwrite = c->overwrite;
	o.warn = cli_warn_path;
	o.warn_arg = c;
	cli_progress_begin(&prog, c, "restore");
	o.progress = restore_progress;
	o.progress_arg = &prog;
	rc = kl_restore_run(r, &id, &o, &st, &err);
	cli_progress_end(&prog);
	if (rc == KL_E_EXISTS) {
		cli_err(c, "target %s is not empty: nothing restored (use "
		    "--overwrite to restore into it anyway)", c->target);
		rc = cli_exit_code(rc, &err, CLI_AT_RESTORE);
	} else if (rc == KL_E_INVAL) {
		cli_err(c, "target %s is not a directory: nothing restored",
		    c->target);
		rc = cli_exit_code(rc, &err, CLI_AT_RESTORE);
	} else if (cli_said(&err, rc) && err.kind == KL_ABOUT_FILE) {
		/* the target or an --include: the sentence names it */
		rc = cli_fail_at(c, CLI_AT_RESTORE, rc, &err, NULL);
	} else if (rc != KL_OK) {
		rc = cli_fail_at(c, CLI_AT_RESTORE, rc, &err, "restore into %s "
		    "failed", c->target);
	} else {
		restore_report(c, &st);
		rc = EXIT_OK;
		if (st.errors > 0) {
			cli_err(c, "%llu path%s could not be restored (listed "
			    "above); everything else was restored",
			    (unsigned long long)st.errors,
			    st.errors == 1 ? "" : "s");
			rc = EXIT_FATAL;
		}
	}
out:
	cli_close(c, r);
	return rc;
}

/* ---- ls ---- */

struct lsctx {
	struct cli *c;
	struct kl_repo *r;
	struct kl_error *err;	/* the command's: a tree that fails to load */
	const char *want;	/* the path asked for ("" = everything) */
	size_t want_len;
	int found;		/* the requested path exists */
};

static void
mode_string(const struct kl_node *n, char out[11])
{
	static const char tc[] = "?-dlcbps";
	static const char rwx[] = "rwxrwxrwx";
	int i;

	out[0] = tc[n->type];
	for (i = 0; i < 9; i++)
		out[1 + i] = (n->mode & (1u << (8 - i))) ? rwx[i] : '-';
	if (n->mode & 04000)
		out[3] = (n->mode & 0100) ? 's' : 'S';
	if (n->mode & 02000)
		out[6] = (n->mode & 010) ? 's' : 'S';
	if (n->mode & 01000)
		out[9] = (n->mode & 01) ? 't' : 'T';
	out[10] = '\0';
}

/* One line of ls --json: a document of its own (docs/CLI.md "ls"). */
static void
ls_json(const char *path, size_t len, const struct kl_node *n)
{
	static const char *types[] = { "", "file", "dir", "symlink", "chr",
		"blk", "fifo", "socket" };
	struct kl_json j;
	char t[48], mode[12];

	fmt_time_utc(t, sizeof(t), n->mtime.s, n->mtime.ns);
	fmt_mode(mode, n->mode);
	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_textn(&j, "path", path, len);
	kl_json_text(&j, "type", types[n->type]);
	kl_json_text(&j, "mode", mode);
	kl_json_u64(&j, "uid", n->uid);
	kl_json_u64(&j, "gid", n->gid);
	kl_json_u64(&j, "size", n->size);
	kl_json_text(&j, "mtime", t);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
ls_print(struct lsctx *l, const char *path, size_t len,
    const struct kl_node *n)
{
	char m[11], t[48];

	if (l->c->json) {
		ls_json(path, len, n);
		return;
	}
	if (l->c->long_list) {
		mode_string(n, m);
		fmt_time_local(t, sizeof(t), n->mtime.s);
		printf("%s ", m);
		cli_puts_pad(stdout, *n->user ? n->user : "-", 8);
		putchar(' ');
		cli_puts_pad(stdout, *n->group ? n->group : "-", 8);
		printf(" %12llu %s ", (unsigned long long)n->size, t);
	}
	cli_putn(stdout, path, len);
	if (n->type == KL_NODE_SYMLINK && l->c->long_list) {
		fputs(" -> ", stdout);
		cli_puts(stdout, n->target);
	}
	putchar('\n');
}

/*
 * One entry of the walk (kluis/treewalk.h, within the snapshot's budget):
 * on the way to the path asked for, only the names on it; from there on,
 * everything, printed.
 */
static int
ls_entry(void *arg, struct kl_walk *w, const struct kl_node *n,
    const struct kl_node *unused)
{
	struct lsctx *l = arg;
	size_t len;
	const char *p = kl_walk_path(w, &len);

	(void)unused;
	if (len > KL_PATH_MAX)
		return 0;
	if (len < l->want_len) {
		/* on the way: the path asked for lies below this one */
		if (memcmp(p, l->want, len) != 0 || l->want[len] != '/')
			return 0;
		return KL_WALK_A;
	}
	if (memcmp(p, l->want, l->want_len) != 0 || (len > l->want_len &&
	    l->want_len > 0 && p[l->want_len] != '/'))
		return 0;
	ls_print(l, p, len, n);
	l->found = 1;
	return KL_WALK_A;
}

static int
ls_load(void *arg, const struct kl_id *id, struct kl_tree *out)
{
	struct lsctx *l = arg;

	return kl_repo_tree_load(l->r, id, out, l->err);
}

/* The walk over snapshot id's trees; an error names the snapshot. */
static int
ls_walk(struct lsctx *l, const struct kl_id *id, const struct kl_snapshot *s)
{
	char hex[KL_ID_HEX_LEN + 1], why[256];
	struct kl_walk_budget b;
	struct kl_walk_stats st;
	struct kl_walk_ops ops;
	int rc;

	memset(&ops, 0, sizeof(ops));
	ops.load = ls_load;
	ops.load_arg = l;
	ops.entry = ls_entry;
	kl_repo_walk_budget(l->r, s, &b);
	rc = kl_walk_run(&ops, l, &s->tree, NULL, &b, 0, &st);
	kl_id_hex(id, hex);
	if (rc == KL_E_LIMIT && st.over != KL_WALK_WITHIN) {
		kl_walk_over_str(&st, &b, s->files, s->dirs, why, sizeof(why));
		kl_error_obj(l->err, rc, KL_ABOUT_SNAPSHOT, id, NULL,
		    "snapshot %.8s of host %s: %s; kluis backup never writes "
		    "this (kluis check names it): the listing stopped", hex,
		    s->hostname, why);
	} else if (rc != KL_OK)
		kl_error_wrap(l->err, rc, "snapshot %.8s of host %s", hex,
		    s->hostname);
	return rc;
}

int
cmd_ls(struct cli *c)
{
	char want[KL_PATH_MAX + 1] = "";
	const char *wv[1] = { want };
	struct kl_snapshot s;
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct lsctx l;
	struct kl_id id;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 1, 2)))
		return rc;
	if (c->nargs == 2 && snap_path(c->args[1], want) != KL_OK)
		return EXIT_USAGE;
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = cli_snapshot(c, r, c->args[0], wv, c->nargs == 2 ? 1 : 0,
	    &id, NULL)) != EXIT_OK)
		goto out;
	if (strcmp(want, "/") == 0)
		want[0] = '\0';
	memset(&l, 0, sizeof(l));
	l.c = c;
	l.r = r;
	l.err = &err;
	l.want = want;
	l.want_len = strlen(want);
	l.found = want[0] == '\0';
	if ((rc = kl_repo_snapshot_load(r, &id, &s, &err)) == KL_OK) {
		if ((rc = kl_repo_index_load(r, &err)) == KL_OK)
			rc = ls_walk(&l, &id, &s);
		kl_snapshot_clear(&s);
	}
	if (rc == KL_OK && !l.found) {
		cli_err(c, "%s is not in the snapshot", want);
		rc = EXIT_FATAL;
	} else if (rc != KL_OK)
		rc = cli_fail(c, rc, &err, NULL);
out:
	cli_close(c, r);
	return rc;
}
