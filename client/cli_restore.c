/* kluis restore and ls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/backup.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/repo.h"
#include "kluis/restore.h"
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

static int
resolve(struct cli *c, struct kl_repo *r, const char *spec, struct kl_id *id)
{
	char hex[KL_ID_HEX_LEN + 1];
	int rc = kl_repo_snapshot_resolve(r, spec, id);

	if (rc == KL_OK && strcmp(spec, "latest") == 0 &&
	    kl_repo_damage_count(r) > 0) {
		kl_id_hex(id, hex);
		cli_warn(c, "some snapshot files are damaged (listed at the "
		    "end); 'latest' is the newest intact snapshot, %.8s", hex);
	}
	if (rc == KL_OK)
		return EXIT_OK;
	cli_err(c, "%s", *kl_repo_errmsg(r) ? kl_repo_errmsg(r) :
	    kl_strerror(rc));
	return rc == KL_E_INVAL ? EXIT_USAGE : cli_exit_for(rc);
}

static void
restore_report(const struct cli *c, const struct kl_restore_stats *st)
{
	if (c->json)
		printf("{\"files\":%llu,\"dirs\":%llu,\"links\":%llu,"
		    "\"others\":%llu,\"bytes\":%llu,\"packs_read\":%llu,"
		    "\"bytes_fetched\":%llu,\"errors\":%llu,"
		    "\"duration_s\":%.3f}\n",
		    (unsigned long long)st->files, (unsigned long long)st->dirs,
		    (unsigned long long)st->links,
		    (unsigned long long)st->others,
		    (unsigned long long)st->bytes,
		    (unsigned long long)st->packs_read,
		    (unsigned long long)st->bytes_fetched,
		    (unsigned long long)st->errors, st->duration_s);
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

/* 1 if snapshot path s and the requested path p are on one line: one is
 * the other or lies below it. */
static int
path_related(const char *s, const char *p)
{
	size_t sl = strlen(s), pl = strlen(p);

	if (strcmp(s, "/") == 0 || strcmp(p, "/") == 0)
		return 1;
	if (sl <= pl)
		return strncmp(s, p, sl) == 0 && (p[sl] == '/' || p[sl] == 0);
	return strncmp(s, p, pl) == 0 && s[pl] == '/';
}

struct atpick {
	int64_t t;
	const char *host;
	const char *const *paths;
	size_t npaths;
	int found, hosts;
	struct kl_id id;
	int64_t best;
	char best_host[KL_NAME_MAX + 1], first_host[KL_NAME_MAX + 1];
	char other_host[KL_NAME_MAX + 1];
};

/* 1 if every requested path is related to one of the snapshot's paths. */
static int
snap_covers(const char *spaths, const char *const *paths, size_t n)
{
	char one[KL_PATH_MAX + 1];
	const char *p, *e;
	size_t i, ok;

	for (i = 0; i < n; i++) {
		for (p = spaths, ok = 0; *p && !ok; p = *e ? e + 1 : e) {
			e = p + strcspn(p, "\n");
			if ((size_t)(e - p) > KL_PATH_MAX)
				continue;
			memcpy(one, p, (size_t)(e - p));
			one[e - p] = '\0';
			ok = path_related(one, paths[i]);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

static int
at_pick(void *arg, const struct kl_cat_snap *s)
{
	struct atpick *a = arg;
	int64_t t = kl_cat_snap_time(s);

	if (s->vanished || t > a->t || !snap_covers(s->paths, a->paths,
	    a->npaths))
		return 0;
	/* two distinct hosts among the candidates are enough to refuse */
	if (!a->found)
		snprintf(a->first_host, sizeof(a->first_host), "%s", s->host);
	else if (a->hosts < 2 && strcmp(a->first_host, s->host) != 0) {
		snprintf(a->other_host, sizeof(a->other_host), "%s", s->host);
		a->hosts = 2;
	}
	/* listed oldest first by the client's clock; ties: the later one */
	if (!a->found || t >= a->best) {
		a->id = s->id;
		a->best = t;
		snprintf(a->best_host, sizeof(a->best_host), "%s", s->host);
	}
	a->found = 1;
	return 0;
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
    size_t npaths, struct kl_id *id)
{
	char when[40], hex[KL_ID_HEX_LEN + 1];
	struct atpick a;
	int rc;

	memset(&a, 0, sizeof(a));
	if (parse_local_time(c->at, &a.t) != 0) {
		cli_err(c, "bad --at time \"%s\": use \"YYYY-MM-DD[ HH:MM[:SS]]\" "
		    "(local time)", c->at);
		return EXIT_USAGE;
	}
	a.host = c->host;
	a.paths = paths;
	a.npaths = npaths;
	if ((rc = cli_catalog_sync(c, r, 0)) != EXIT_OK)
		return rc;
	if ((rc = kl_cat_snap_foreach(kl_repo_catalog(r), c->host, 0, at_pick,
	    &a)) != KL_OK) {
		cli_err(c, "catalog: %s", kl_cat_errmsg(kl_repo_catalog(r)));
		return cli_exit_for(rc);
	}
	fmt_time_local(when, sizeof(when), a.t);
	if (!a.found) {
		cli_err(c, "no snapshot%s%s taken at or before %s holds %s%s",
		    c->host ? " of host " : "", c->host ? c->host : "", when,
		    paths[0], npaths > 1 ? " and the other paths" : "");
		return EXIT_FATAL;
	}
	if (c->host == NULL && a.hosts > 1) {
		cli_err(c, "snapshots of several hosts (%s, %s) hold %s: choose "
		    "one with --host", a.first_host, a.other_host, paths[0]);
		return EXIT_USAGE;
	}
	*id = a.id;
	kl_id_hex(id, hex);
	fmt_time_local(when, sizeof(when), a.best);
	if (!c->quiet && !c->json) {
		fprintf(stderr, "%s: restoring from snapshot %.8s of ", c->prog,
		    hex);
		cli_puts(stderr, a.best_host);
		fprintf(stderr, ", taken %s\n", when);
	}
	return EXIT_OK;
}

int
cmd_restore(struct cli *c)
{
	struct kl_restore_opts o;
	struct kl_restore_stats st;
	struct kl_repo *r = NULL;
	const char *iv[CLI_LIST_MAX];
	struct kl_id id;
	size_t i, ni = 0;
	int rc, first = c->at ? 0 : 1;

	if ((rc = cli_only(c, CLI_O_TARGET | CLI_O_INCLUDE | CLI_O_OVERWRITE |
	    CLI_O_AT | CLI_O_HOST, "restore")) || (rc = cli_nargs(c, 1,
	    CLI_LIST_MAX, c->at ? "restore --at TIME [--host H] PATH... "
	    "--target DIR" : "restore SNAPSHOT [PATH]... --target DIR "
	    "[--include PATH]... [--overwrite]")))
		return rc;
	if (c->host != NULL && c->at == NULL) {
		cli_err(c, "--host goes with --at (a SNAPSHOT names one host's "
		    "snapshot already)");
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
		rc = resolve_at(c, r, iv, ni, &id);
	else
		rc = resolve(c, r, c->args[0], &id);
	if (rc != EXIT_OK)
		goto out;
	memset(&o, 0, sizeof(o));
	o.target = c->target;
	/* "/" alone means everything */
	o.includes = iv;
	o.nincludes = ni == 1 && strcmp(iv[0], "/") == 0 ? 0 : ni;
	o.overwrite = c->overwrite;
	o.warn = cli_warn_path;
	o.warn_arg = c;
	kl_repo_clear_err(r);
	rc = kl_restore_run(r, &id, &o, &st);
	if (rc == KL_E_EXISTS) {
		cli_err(c, "target %s is not empty: nothing restored (use "
		    "--overwrite to restore into it anyway)", c->target);
		rc = EXIT_FATAL;
	} else if (rc == KL_E_INVAL) {
		cli_err(c, "target %s is not a directory: nothing restored",
		    c->target);
		rc = EXIT_FATAL;
	} else if (rc == KL_E_NOTFOUND && *kl_repo_errmsg(r) == '\0') {
		/* the target or an --include: named above */
		rc = EXIT_FATAL;
	} else if (rc != KL_OK) {
		cli_err(c, "restore into %s failed: %s", c->target,
		    *kl_repo_errmsg(r) ? kl_repo_errmsg(r) : kl_strerror(rc));
		rc = cli_exit_for(rc);
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
	char path[KL_PATH_MAX + 2];
	size_t len;
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

static void
ls_print(struct lsctx *l, const struct kl_node *n)
{
	static const char *types[] = { "", "file", "dir", "symlink", "chr",
		"blk", "fifo", "socket" };
	char m[11], t[48];

	if (l->c->json) {
		fmt_time_utc(t, sizeof(t), n->mtime.s, n->mtime.ns);
		printf("{\"path\":");
		json_str(stdout, l->path, l->len);
		printf(",\"type\":\"%s\",\"mode\":\"%04o\",\"uid\":%u,"
		    "\"gid\":%u,\"size\":%llu,\"mtime\":\"%s\"}\n",
		    types[n->type], n->mode, n->uid, n->gid,
		    (unsigned long long)n->size, t);
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
	cli_putn(stdout, l->path, l->len);
	if (n->type == KL_NODE_SYMLINK && l->c->long_list) {
		fputs(" -> ", stdout);
		cli_puts(stdout, n->target);
	}
	putchar('\n');
}

static int ls_tree(struct lsctx *l, const struct kl_id *tree,
    const char *want);

/* want: the remaining path to descend to ("" = list everything). */
static int
ls_node(struct lsctx *l, const struct kl_node *n, const char *want)
{
	size_t save = l->len;
	int rc = KL_OK;

	if (l->len + 1 + n->name_len > KL_PATH_MAX)
		return KL_OK;
	l->path[l->len++] = '/';
	memcpy(l->path + l->len, n->name, n->name_len);
	l->len += n->name_len;
	if (*want == '\0') {
		ls_print(l, n);
		l->found = 1;
	}
	if (n->type == KL_NODE_DIR)
		rc = ls_tree(l, &n->subtree, want);
	l->len = save;
	return rc;
}

static int
ls_tree(struct lsctx *l, const struct kl_id *tree, const char *want)
{
	struct kl_tree t;
	size_t i, cl;
	int rc;

	if ((rc = kl_repo_tree_load(l->r, tree, &t)) != KL_OK)
		return rc;
	cl = *want ? strcspn(want + 1, "/") : 0;
	for (i = 0; i < t.n && rc == KL_OK; i++) {
		if (*want == '\0')
			rc = ls_node(l, &t.nodes[i], "");
		else if (t.nodes[i].name_len == cl &&
		    memcmp(t.nodes[i].name, want + 1, cl) == 0)
			rc = ls_node(l, &t.nodes[i], want + 1 + cl);
	}
	kl_tree_clear(&t);
	return rc;
}

int
cmd_ls(struct cli *c)
{
	char want[KL_PATH_MAX + 1] = "";
	struct kl_snapshot s;
	struct kl_repo *r = NULL;
	struct lsctx l;
	struct kl_id id;
	int rc;

	if ((rc = cli_only(c, CLI_O_LONG, "ls")) || (rc = cli_nargs(c, 1, 2,
	    "ls SNAPSHOT [PATH] [--long]")))
		return rc;
	if (c->nargs == 2 && snap_path(c->args[1], want) != KL_OK)
		return EXIT_USAGE;
	if (strcmp(want, "/") == 0)
		want[0] = '\0';
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if ((rc = resolve(c, r, c->args[0], &id)) != EXIT_OK)
		goto out;
	memset(&l, 0, sizeof(l));
	l.c = c;
	l.r = r;
	l.found = want[0] == '\0';
	if ((rc = kl_repo_snapshot_load(r, &id, &s)) == KL_OK) {
		if ((rc = kl_repo_index_load(r)) == KL_OK)
			rc = ls_tree(&l, &s.tree, want);
		kl_snapshot_clear(&s);
	}
	if (rc == KL_OK && !l.found) {
		cli_err(c, "%s is not in the snapshot", want);
		rc = EXIT_FATAL;
	} else if (rc != KL_OK) {
		cli_err(c, "%s", kl_repo_errmsg(r));
		rc = cli_exit_for(rc);
	}
out:
	cli_close(c, r);
	return rc;
}
