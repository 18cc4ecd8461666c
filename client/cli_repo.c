/* kluis init, key, snapshots, cat, stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/backup.h"
#include "kluis/buf.h"
#include "kluis/chunker.h"
#include "kluis/cliref.h"
#include "kluis/err.h"
#include "kluis/json.h"
#include "kluis/keys.h"
#include "kluis/repo.h"
#include "cli.h"

static int
kdf_choose(const struct cli *c, struct kl_kdf_params *kdf)
{
	if (kl_kdf_preset(c->kdf ? c->kdf : "moderate", kdf) == KL_OK)
		return EXIT_OK;
	cli_err(c, "--kdf must be interactive, moderate or sensitive");
	return EXIT_USAGE;
}

static int
chunker_choose(const struct cli *c, struct kl_chunker_params *p)
{
	uint64_t avg = KL_CHUNK_AVG_DEFAULT;

	p->min = KL_CHUNK_MIN_DEFAULT;
	p->avg = KL_CHUNK_AVG_DEFAULT;
	p->max = KL_CHUNK_MAX_DEFAULT;
	if (c->chunk_avg == NULL)
		return EXIT_OK;
	if (parse_size(c->chunk_avg, &avg) != 0 || avg > (8u << 20) ||
	    kl_chunker_params_from_avg((uint32_t)avg, p) != KL_OK) {
		cli_err(c, "--chunk-avg %s: give a size from 8K to 8M, "
		    "e.g. 1M", c->chunk_avg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static void
init_json(const struct cli *c, const struct kl_config *cf)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_id(&j, "repository_id", &cf->repo_id);
	kl_json_text(&j, "path", c->repo);
	kl_json_obj_end(&j);
	putchar('\n');
}

int
cmd_init(struct cli *c)
{
	struct kl_chunker_params cp;
	struct kl_kdf_params kdf;
	struct kl_repo_init_opts o;
	struct kl_repo *r = NULL;
	struct kl_error err;
	char *pass = NULL, hex[KL_ID_HEX_LEN + 1];
	size_t plen;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)) ||
	    (rc = chunker_choose(c, &cp)) || (rc = kdf_choose(c, &kdf)))
		return rc;
	if (c->repo == NULL) {
		cli_err(c, "no repository given: use -r REPO");
		return EXIT_USAGE;
	}
	/* a server that cannot be reached fails before the passphrase is
	 * asked for, twice */
	if ((rc = kl_repo_reach(c->repo, &err)) != KL_OK)
		return cli_msg_names(&err, rc, c->repo) ? cli_fail_at(c,
		    CLI_AT_INIT, rc, &err, "cannot create the repository") :
		    cli_fail_at(c, CLI_AT_INIT, rc, &err, "cannot create "
		    "repository %s", c->repo);
	if ((rc = cli_password(c, c->password_file, PW_NEW_REPO, "new "
	    "repository passphrase", &pass, &plen)) != EXIT_OK)
		return rc;
	memset(&o, 0, sizeof(o));
	o.chunker = &cp;
	o.kdf = &kdf;
	o.label = c->label;
	o.key_out = c->key_file;
	rc = kl_repo_init(c->repo, pass, plen, &o, &r, &err);
	cli_password_free(pass, plen);
	/* on failure r is not set: nothing to close */
	if (rc == KL_E_EXISTS && err.kind == KL_ABOUT_REPO) {
		cli_err(c, "%s already exists and is not empty: refusing to "
		    "create a repository there", c->repo);
		rc = cli_exit_code(rc, &err, CLI_AT_INIT);
	} else if (rc == KL_E_EXISTS)	/* the key file, the server's word */
		rc = cli_fail_at(c, CLI_AT_INIT, rc, &err, NULL);
	else if (rc != KL_OK && cli_msg_names(&err, rc, c->repo))
		rc = cli_fail_at(c, CLI_AT_INIT, rc, &err, "cannot create the "
		    "repository");
	else if (rc != KL_OK)
		rc = cli_fail_at(c, CLI_AT_INIT, rc, &err, "cannot create "
		    "repository %s", c->repo);
	else {
		kl_id_hex(&kl_repo_config(r)->repo_id, hex);
		if (c->json)
			init_json(c, kl_repo_config(r));
		else if (!c->quiet)
			printf("created kluis repository %.8s at %s\n"
			    "Keep the passphrase%s safe: without %s the "
			    "backups cannot be read.\n", hex, c->repo,
			    c->key_file ? " and the key file" : "",
			    c->key_file ? "them" : "it");
	}
	cli_close(c, r);
	return rc;
}

static int
key_add(struct cli *c, struct kl_repo *r, struct kl_error *err)
{
	struct kl_kdf_params kdf;
	struct kl_json j;
	struct kl_id id;
	char *pass = NULL, hex[KL_ID_HEX_LEN + 1];
	size_t plen;
	int rc;

	if ((rc = kdf_choose(c, &kdf)) != EXIT_OK)
		return rc;
	if ((rc = cli_password(c, c->new_password_file, PW_NEW_KEY, "new key "
	    "passphrase", &pass, &plen)) != EXIT_OK)
		return rc;
	rc = kl_repo_key_add(r, c->backup_only, pass, plen, &kdf, c->label,
	    c->out, &id, err);
	cli_password_free(pass, plen);
	if (rc == KL_E_PERM)
		kl_error_obj(err, rc, KL_ABOUT_KEY, NULL, NULL, "a backup-only "
		    "key can only add backup-only keys");
	if (rc != KL_OK)
		return cli_fail(c, rc, err, "cannot add key");
	kl_id_hex(&id, hex);
	if (c->json) {
		kl_json_init(&j, stdout);
		kl_json_obj(&j, NULL);
		kl_json_text(&j, "kind", c->backup_only ? "backup-only" :
		    "full");
		if (c->out)
			kl_json_text(&j, "file", c->out);
		else
			kl_json_id(&j, "id", &id);
		kl_json_obj_end(&j);
		putchar('\n');
	} else if (!c->quiet)
		printf("added %s key %s\n", c->backup_only ? "backup-only" :
		    "full", c->out ? c->out : hex);
	return EXIT_OK;
}

struct klist {
	struct cli *c;
	struct kl_repo *r;
	struct kl_json j;	/* --json: the array */
	size_t n;		/* key files listed */
};

static const char *
key_kind(const struct kl_keyfile_info *info)
{
	return info->kind == KL_KEY_FULL ? "full" : info->kind ==
	    KL_KEY_BACKUP ? "backup-only" : "unreadable";
}

static int
key_list_one(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct klist *kl = arg;
	struct kl_backend *be = kl_repo_backend(kl->r);
	struct kl_keyfile_info info;
	struct kl_id id;
	struct buf *b = NULL;
	char when[32];
	int cur;

	if (kl_id_parse(name, &id) != KL_OK ||
	    be->ops->get(be->ctx, KL_FT_KEY, name, 0, 0, KL_KEYFILE_MAX,
	    &b) != KL_OK)
		return 0;
	if (kl_keyfile_info(buf_data(b), buf_size(b), &info) != KL_OK)
		memset(&info, 0, sizeof(info));
	buf_free(b);
	kl->n++;
	cur = kl_id_eq(&id, kl_repo_key_id(kl->r));
	fmt_time_local(when, sizeof(when), info.created);
	if (kl->c->json) {
		kl_json_obj(&kl->j, NULL);
		kl_json_text(&kl->j, "id", name);
		kl_json_text(&kl->j, "kind", key_kind(&info));
		kl_json_i64(&kl->j, "created", info.created);
		kl_json_bool(&kl->j, "current", cur);
		kl_json_text(&kl->j, "label", info.label);
		kl_json_obj_end(&kl->j);
	} else {
		printf("%c %s  %-11s  %s  ", cur ? '*' : ' ', name,
		    key_kind(&info), when);
		cli_puts(stdout, info.label);
		putchar('\n');
	}
	(void)size;
	return 0;
}

static int
key_list(struct cli *c, struct kl_repo *r)
{
	struct kl_backend *be = kl_repo_backend(r);
	struct klist kl;
	int rc;

	memset(&kl, 0, sizeof(kl));
	kl.c = c;
	kl.r = r;
	kl_json_init(&kl.j, stdout);
	if (c->json)
		kl_json_arr(&kl.j, NULL);
	rc = be->ops->list(be->ctx, KL_FT_KEY, key_list_one, &kl);
	if (c->json) {
		kl_json_arr_end(&kl.j);
		putchar('\n');
	} else if (rc == KL_OK && kl.n == 0 && !c->quiet) {
		/* opened with a key file kept outside (--key-file) */
		fputs("no key files in the repository's keys/; this run uses ",
		    stdout);
		cli_puts(stdout, c->key_file != NULL ? c->key_file :
		    "a key file kept outside it");
		putchar('\n');
	}
	return rc == KL_OK ? EXIT_OK : EXIT_FATAL;
}

/* What key remove learns of keys/: the match and the full keys. */
struct kfind {
	struct kl_repo *r;
	const char *want;		/* an id or its first >= 8 digits */
	char match[KL_ID_HEX_LEN + 1];
	int matches, match_kind;
	unsigned full_keys;		/* readable full keys in keys/ */
};

static int
key_find_one(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct kfind *f = arg;
	struct kl_backend *be = kl_repo_backend(f->r);
	struct kl_keyfile_info info;
	struct buf *b = NULL;

	(void)size;
	(void)mtime_s;
	memset(&info, 0, sizeof(info));
	if (be->ops->get(be->ctx, KL_FT_KEY, name, 0, 0, KL_KEYFILE_MAX,
	    &b) == KL_OK &&
	    kl_keyfile_info(buf_data(b), buf_size(b), &info) != KL_OK)
		memset(&info, 0, sizeof(info));
	buf_free(b);
	if (info.kind == KL_KEY_FULL)
		f->full_keys++;
	if (strncmp(name, f->want, strlen(f->want)) == 0) {
		f->matches++;
		snprintf(f->match, sizeof(f->match), "%s", name);
		f->match_kind = info.kind;
	}
	return 0;
}

/*
 * key remove ID: a full key only (a backup-only host must not remove the
 * operators' keys), never the key in use, never the last full key - the
 * repository would be unreadable for good.  Over ssh:// the server keeps
 * the file in its trash for its delete delay.
 */
static int
key_remove(struct cli *c, struct kl_repo *r, struct kl_error *err)
{
	struct kfind f;
	struct kl_backend *be = kl_repo_backend(r);
	struct kl_json j;
	char cur[KL_ID_HEX_LEN + 1];
	size_t n;
	int rc;

	memset(&f, 0, sizeof(f));
	f.r = r;
	f.want = c->args[0];
	n = strlen(f.want);
	if (n < 8 || n > KL_ID_HEX_LEN ||
	    strspn(f.want, "0123456789abcdef") != n) {
		cli_err(c, "\"%s\" is not a key id (at least 8 lowercase hex "
		    "digits, see 'kluis key list')", f.want);
		return EXIT_USAGE;
	}
	if (!kl_repo_is_full(r)) {
		kl_error_obj(err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL,
		    "removing a key needs a full key (a backup-only key could "
		    "otherwise lock the operators out)");
		return cli_fail(c, KL_E_PERM, err, NULL);
	}
	if ((rc = be->ops->list(be->ctx, KL_FT_KEY, key_find_one, &f)) !=
	    KL_OK)
		return cli_fail(c, rc, NULL, "cannot list the key files");
	if (f.matches != 1) {
		cli_err(c, f.matches == 0 ? "no key file %s in keys/ (see "
		    "'kluis key list')" : "%s names %d key files: give more "
		    "digits", f.want, f.matches);
		return EXIT_FATAL;
	}
	kl_id_hex(kl_repo_key_id(r), cur);
	if (strcmp(cur, f.match) == 0) {
		cli_err(c, "key %s is the key in use: open the repository with "
		    "another full key to remove it", f.match);
		return EXIT_FATAL;
	}
	if (f.match_kind == KL_KEY_FULL && f.full_keys < 2) {
		cli_err(c, "key %s is the last full key in keys/: without it "
		    "nobody could read the backups; add another first", f.match);
		return EXIT_FATAL;
	}
	if ((rc = be->ops->remove(be->ctx, KL_FT_KEY, f.match)) != KL_OK) {
		const char *why = be->ops->why != NULL ?
		    be->ops->why(be->ctx) : NULL;

		if (why != NULL)	/* the server's word on it */
			kl_error_obj(err, rc, KL_ABOUT_KEY, NULL, NULL, "%s",
			    why);
		return cli_fail(c, rc, err, "cannot remove key %s", f.match);
	}
	if (c->json) {
		kl_json_init(&j, stdout);
		kl_json_obj(&j, NULL);
		kl_json_text(&j, "removed", f.match);
		kl_json_obj_end(&j);
		putchar('\n');
	} else if (!c->quiet)
		printf("removed key %s\n", f.match);
	return EXIT_OK;
}

static int
key_passwd(struct cli *c, struct kl_repo *r, struct kl_error *err)
{
	struct kl_kdf_params kdf;
	struct kl_json j;
	char *pass = NULL;
	size_t plen;
	int rc;

	if ((rc = kdf_choose(c, &kdf)) != EXIT_OK)
		return rc;
	if ((rc = cli_password(c, c->new_password_file, PW_NEW_KEY,
	    "new passphrase", &pass, &plen)) != EXIT_OK)
		return rc;
	rc = kl_repo_key_passwd(r, pass, plen, &kdf, err);
	cli_password_free(pass, plen);
	if (rc != KL_OK)
		return cli_fail(c, rc, err, "cannot change the passphrase");
	if (c->json) {
		kl_json_init(&j, stdout);
		kl_json_obj(&j, NULL);
		kl_json_bool(&j, "changed", 1);
		kl_json_obj_end(&j);
		putchar('\n');
	} else if (!c->quiet)
		printf("passphrase changed\n");
	return EXIT_OK;
}

int
cmd_key(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	const char *sub = c->cmd->name + sizeof("key");
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, strcmp(sub, "remove") == 0,
	    strcmp(sub, "remove") == 0)) != EXIT_OK ||
	    (rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if (strcmp(sub, "add") == 0)
		rc = key_add(c, r, &err);
	else if (strcmp(sub, "list") == 0)
		rc = key_list(c, r);
	else if (strcmp(sub, "remove") == 0)
		rc = key_remove(c, r, &err);
	else
		rc = key_passwd(c, r, &err);
	cli_close(c, r);
	return rc;
}

/* ---- snapshots ---- */

struct snap_row {
	struct kl_id id;
	struct kl_snapshot s;
};

static int
row_cmp(const void *a, const void *b)
{
	const struct snap_row *x = a, *y = b;

	if (x->s.time_s != y->s.time_s)
		return x->s.time_s < y->s.time_s ? -1 : 1;
	if (x->s.time_ns != y->s.time_ns)
		return x->s.time_ns < y->s.time_ns ? -1 : 1;
	return kl_id_cmp(&x->id, &y->id);
}

static int
has_str(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int
snap_matches(const struct cli *c, const struct kl_snapshot *s)
{
	char norm[KL_PATH_MAX + 1];
	size_t i;

	if (c->host != NULL && strcmp(c->host, s->hostname) != 0)
		return 0;
	for (i = 0; i < c->tags.n; i++)
		if (!has_str(s->tags, s->ntags, c->tags.v[i]))
			return 0;
	for (i = 0; i < c->paths.n; i++)
		if (kl_path_normalize(c->paths.v[i], norm) != KL_OK ||
		    !has_str(s->paths, s->npaths, norm))
			return 0;
	return 1;
}

/* The array member key of v[0, n). */
static void
json_strings(struct kl_json *j, const char *key, char *const *v, size_t n)
{
	size_t i;

	kl_json_arr(j, key);
	for (i = 0; i < n; i++)
		kl_json_text(j, NULL, v[i]);
	kl_json_arr_end(j);
}

static void
snap_json(struct kl_json *j, const struct snap_row *row)
{
	const struct kl_snapshot *s = &row->s;
	char t[48];

	fmt_time_utc(t, sizeof(t), s->time_s, s->time_ns);
	kl_json_obj(j, NULL);
	kl_json_id(j, "id", &row->id);
	kl_json_text(j, "time", t);
	kl_json_text(j, "hostname", s->hostname);
	kl_json_text(j, "username", s->username);
	kl_json_id(j, "tree", &s->tree);
	if (kl_id_is_zero(&s->parent))
		kl_json_null(j, "parent");
	else
		kl_json_id(j, "parent", &s->parent);
	json_strings(j, "paths", s->paths, s->npaths);
	json_strings(j, "tags", s->tags, s->ntags);
	kl_json_u64(j, "files", s->files);
	kl_json_u64(j, "dirs", s->dirs);
	kl_json_u64(j, "bytes", s->bytes);
	kl_json_text(j, "program", s->program);
	kl_json_obj_end(j);
}

static void
snap_text(const struct snap_row *row)
{
	const struct kl_snapshot *s = &row->s;
	char hex[KL_ID_HEX_LEN + 1], t[32];
	size_t i;

	kl_id_hex(&row->id, hex);
	fmt_time_local(t, sizeof(t), s->time_s);
	printf("%.8s  %s  ", hex, t);
	cli_puts_pad(stdout, s->hostname, 16);
	putchar(' ');
	for (i = 0; i < s->ntags; i++) {
		printf("%s", i ? "," : "");
		cli_puts(stdout, s->tags[i]);
	}
	printf("%s ", s->ntags ? "" : "-");
	for (i = 0; i < s->npaths; i++) {
		putchar(' ');
		cli_puts(stdout, s->paths[i]);
	}
	printf("\n");
}

static int
rows_load(struct cli *c, struct kl_repo *r, struct snap_row **out,
    size_t *nout, size_t *damaged, struct kl_error *err)
{
	struct kl_id *ids = NULL;
	struct snap_row *rows;
	size_t i, n, k = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	if ((rc = kl_repo_snapshot_ids(r, &ids, &n, err)) != KL_OK)
		return rc;
	if ((rows = calloc(n + 1, sizeof(*rows))) == NULL) {
		free(ids);
		return KL_E_NOMEM;
	}
	for (i = 0; i < n && rc == KL_OK; i++) {
		rows[k].id = ids[i];
		rc = kl_repo_snapshot_load(r, &ids[i], &rows[k].s, err);
		if (rc == KL_E_CORRUPT || rc == KL_E_UNSUPPORTED ||
		    rc == KL_E_NOTFOUND || rc == KL_E_LIMIT) {
			/* list the intact ones; name the damaged one */
			cli_warn(c, "skipped a damaged snapshot: %s",
			    kl_error_msg(err, rc));
			kl_error_clear(err);	/* told, and tolerated */
			(*damaged)++;
			rc = KL_OK;
			continue;
		}
		if (rc != KL_OK)
			break;
		if (snap_matches(c, &rows[k].s))
			k++;
		else
			kl_snapshot_clear(&rows[k].s);
	}
	free(ids);
	if (k > 1)
		qsort(rows, k, sizeof(*rows), row_cmp);
	*out = rows;
	*nout = k;
	return rc;
}

int
cmd_snapshots(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct kl_json j;
	struct snap_row *rows = NULL;
	size_t i, n = 0, damaged = 0;
	int rc;

	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)) || (rc = cli_open(c, &r)))
		return rc;
	/* not only when there is a snapshot to fail on: an operator checks a
	 * new host's key on an empty repository (RUNBOOK §2.3) */
	if (!kl_repo_is_full(r)) {
		kl_error_obj(&err, KL_E_PERM, KL_ABOUT_KEY, NULL, NULL, "this "
		    "is a backup-only key: it cannot read snapshots; use a full "
		    "key");
		rc = cli_fail(c, KL_E_PERM, &err, NULL);
		goto out;
	}
	if ((rc = rows_load(c, r, &rows, &n, &damaged, &err)) != KL_OK) {
		rc = cli_fail(c, rc, &err, NULL);
		goto out;
	}
	rc = damaged > 0 ? EXIT_FATAL : EXIT_OK;
	kl_json_init(&j, stdout);
	if (c->json)
		kl_json_arr(&j, NULL);
	else if (!c->quiet)
		printf("ID        Time                 Host             Tags  "
		    "Paths\n");
	for (i = 0; i < n; i++) {
		if (c->json)
			snap_json(&j, &rows[i]);
		else
			snap_text(&rows[i]);
	}
	if (c->json) {
		kl_json_arr_end(&j);
		putchar('\n');
	} else if (!c->quiet)
		printf("%zu snapshot%s\n", n, n == 1 ? "" : "s");
out:
	for (i = 0; rows != NULL && i < n; i++)
		kl_snapshot_clear(&rows[i].s);
	free(rows);
	cli_close(c, r);
	return rc;
}

/* ---- cat ---- */

static void
node_json(struct kl_json *j, const struct kl_node *n)
{
	static const char *types[] = { "", "file", "dir", "symlink", "chr",
		"blk", "fifo", "socket" };
	char t[48], mode[12];
	size_t i;

	fmt_time_utc(t, sizeof(t), n->mtime.s, n->mtime.ns);
	fmt_mode(mode, n->mode);
	kl_json_obj(j, NULL);
	kl_json_textn(j, "name", (const char *)n->name, n->name_len);
	kl_json_text(j, "type", types[n->type]);
	kl_json_text(j, "mode", mode);
	kl_json_u64(j, "uid", n->uid);
	kl_json_u64(j, "gid", n->gid);
	kl_json_text(j, "user", n->user);
	kl_json_text(j, "group", n->group);
	kl_json_u64(j, "size", n->size);
	kl_json_text(j, "mtime", t);
	kl_json_u64(j, "inode", n->inode);
	kl_json_u64(j, "link_group", n->link_group);
	if (n->type == KL_NODE_SYMLINK)
		kl_json_text(j, "target", n->target);
	if (n->type == KL_NODE_DIR)
		kl_json_id(j, "subtree", &n->subtree);
	kl_json_arr(j, "xattrs");
	for (i = 0; i < n->nxattrs; i++)
		kl_json_text(j, NULL, n->xattrs[i].name);
	kl_json_arr_end(j);
	kl_json_u64(j, "holes", n->nholes);
	kl_json_arr(j, "chunks");
	for (i = 0; i < n->nchunks; i++)
		kl_json_id(j, NULL, &n->chunks[i]);
	kl_json_arr_end(j);
	if (n->ndeltas > 0) {
		/* FORMAT.md §11 "Delta chunks" */
		kl_json_arr(j, "deltas");
		for (i = 0; i < n->ndeltas; i++) {
			const struct kl_delta_ref *d = &n->deltas[i];
			uint8_t b;

			kl_json_obj(j, NULL);
			kl_json_u64(j, "chunk", d->index);
			kl_json_u64(j, "length", d->len);
			kl_json_u64(j, "generation", d->gen);
			kl_json_id(j, "delta", &d->delta);
			kl_json_arr(j, "bases");
			for (b = 0; b < d->nbases; b++)
				kl_json_id(j, NULL, &d->bases[b]);
			kl_json_arr_end(j);
			kl_json_obj_end(j);
		}
		kl_json_arr_end(j);
	}
	kl_json_obj_end(j);
}

static int
cat_tree(struct cli *c, struct kl_repo *r, const char *arg,
    struct kl_error *err)
{
	struct kl_json j;
	struct kl_tree t;
	struct kl_id id;
	size_t i;
	int rc;

	if (kl_id_parse(arg, &id) != KL_OK) {
		cli_err(c, "a tree id is 64 hex digits");
		return EXIT_USAGE;
	}
	if ((rc = kl_repo_index_load(r, err)) == KL_OK)
		rc = kl_repo_tree_load(r, &id, &t, err);
	if (rc != KL_OK)
		return cli_fail(c, rc, err, NULL);
	kl_json_init(&j, stdout);
	kl_json_arr_lines(&j, NULL);	/* one node a line */
	for (i = 0; i < t.n; i++)
		node_json(&j, &t.nodes[i]);
	kl_json_arr_end(&j);
	putchar('\n');
	kl_tree_clear(&t);
	return EXIT_OK;
}

static int
cat_snapshot(struct cli *c, struct kl_repo *r, const char *arg,
    struct kl_error *err)
{
	struct snap_row row;
	struct kl_json j;
	int rc;

	if ((rc = cli_snapshot(c, r, arg, NULL, 0, &row.id, NULL)) != EXIT_OK)
		return rc;
	if ((rc = kl_repo_snapshot_load(r, &row.id, &row.s, err)) != KL_OK)
		return cli_fail(c, rc, err, NULL);
	kl_json_init(&j, stdout);
	snap_json(&j, &row);
	putchar('\n');
	kl_snapshot_clear(&row.s);
	return EXIT_OK;
}

static void
cat_config(struct kl_repo *r)
{
	const struct kl_config *cf = kl_repo_config(r);
	struct kl_json j;
	char pk[65];

	kl_hex_encode(cf->box_pk, 32, pk);
	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_i64(&j, "version", KL_FORMAT_VERSION);
	kl_json_id(&j, "repository_id", &cf->repo_id);
	kl_json_u64(&j, "chunk_min", cf->chunk_min);
	kl_json_u64(&j, "chunk_avg", cf->chunk_avg);
	kl_json_u64(&j, "chunk_max", cf->chunk_max);
	kl_json_u64(&j, "pack_target", cf->pack_target);
	kl_json_text(&j, "public_key", pk);
	kl_json_i64(&j, "created", cf->created);
	kl_json_obj_end(&j);
	putchar('\n');
}

int
cmd_cat(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	const char *what = c->nargs > 0 ? c->args[0] : "";
	int rc;

	kl_error_clear(&err);
	if (!(strcmp(what, "config") == 0 && c->nargs == 1) &&
	    !((strcmp(what, "snapshot") == 0 || strcmp(what, "tree") == 0) &&
	    c->nargs == 2)) {
		fprintf(stderr, "usage: kluis cat config|snapshot ID|tree ID\n");
		return EXIT_USAGE;
	}
	if ((rc = cli_open(c, &r)) != EXIT_OK)
		return rc;
	if (strcmp(what, "config") == 0)
		cat_config(r);
	else if (strcmp(what, "snapshot") == 0)
		rc = cat_snapshot(c, r, c->args[1], &err);
	else
		rc = cat_tree(c, r, c->args[1], &err);
	cli_close(c, r);
	return rc;
}

/* ---- stats ---- */

struct sums {
	uint64_t packs, stored, dedup, blobs, data_blobs, tree_blobs;
};

static int
sum_pack(void *arg, const char *name, uint64_t size, int64_t mtime_s)
{
	struct sums *s = arg;

	s->packs++;
	s->stored += size;
	(void)name;
	return 0;
}

static int
sum_blob(void *arg, const struct kl_id *id, const struct kl_blob_loc *l)
{
	struct sums *s = arg;

	s->blobs++;
	s->dedup += l->raw_len;
	if (l->type == KL_OBJ_TREE)
		s->tree_blobs++;
	else
		s->data_blobs++;
	(void)id;
	return 0;
}

static void
stats_json(const struct sums *s, int full, size_t n, uint64_t raw)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	if (full) {
		kl_json_u64(&j, "snapshots", n);
		kl_json_u64(&j, "raw_size", raw);
	} else {
		kl_json_null(&j, "snapshots");
		kl_json_null(&j, "raw_size");
	}
	kl_json_u64(&j, "dedup_size", s->dedup);
	kl_json_u64(&j, "stored_size", s->stored);
	kl_json_u64(&j, "blobs", s->blobs);
	kl_json_u64(&j, "data_blobs", s->data_blobs);
	kl_json_u64(&j, "tree_blobs", s->tree_blobs);
	kl_json_u64(&j, "packs", s->packs);
	kl_json_obj_end(&j);
	putchar('\n');
}

/* A backup-only key cannot read snapshots: their totals are unknown. */
static void
stats_print(const struct cli *c, const struct sums *s, int full, size_t n,
    uint64_t raw)
{
	if (c->json) {
		stats_json(s, full, n, raw);
		return;
	}
	if (full)
		printf("snapshots:    %zu\nraw size:     %llu bytes (all files "
		    "of all snapshots)\n", n, (unsigned long long)raw);
	else
		printf("snapshots:    unknown (backup-only key)\n");
	printf("dedup size:   %llu bytes (unique content and trees)\n"
	    "stored size:  %llu bytes (packs: compressed, encrypted)\n"
	    "blobs:        %llu (%llu data, %llu trees)\npacks:        %llu\n",
	    (unsigned long long)s->dedup, (unsigned long long)s->stored,
	    (unsigned long long)s->blobs, (unsigned long long)s->data_blobs,
	    (unsigned long long)s->tree_blobs, (unsigned long long)s->packs);
}

int
cmd_stats(struct cli *c)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	struct snap_row *rows = NULL;
	struct sums s;
	uint64_t raw = 0;
	size_t i, n = 0, damaged = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	kl_error_clear(&err);
	if ((rc = cli_nargs(c, 0, 0)) || (rc = cli_open(c, &r)))
		return rc;
	if ((rc = kl_repo_index_load(r, &err)) == KL_OK &&
	    (rc = kl_repo_backend(r)->ops->list(kl_repo_backend(r)->ctx,
	    KL_FT_DATA, sum_pack, &s)) == KL_OK &&
	    (rc = kl_repo_index_foreach(r, sum_blob, &s, &err)) == KL_OK &&
	    kl_repo_is_full(r))
		rc = rows_load(c, r, &rows, &n, &damaged, &err);
	if (rc != KL_OK) {
		rc = cli_fail(c, rc, &err, NULL);
		goto out;
	}
	for (i = 0; i < n; i++)
		raw += rows[i].s.bytes;
	stats_print(c, &s, kl_repo_is_full(r), n, raw);
	/* a listing of the repository that skipped damage is not a success */
	rc = damaged > 0 || kl_repo_damage_count(r) > 0 ? EXIT_FATAL : EXIT_OK;
out:
	for (i = 0; rows != NULL && i < n; i++)
		kl_snapshot_clear(&rows[i].s);
	free(rows);
	cli_close(c, r);
	return rc;
}
