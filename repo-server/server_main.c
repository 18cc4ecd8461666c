/*
 * kluis-server: the repository server program.  It never holds a key: all
 * it can check is that every file still hashes to its name (FORMAT.md §1).
 *
 * Commands are rows of one const table (STYLE.md "The server is a table").
 * This file and server_trash.c (purge, undelete) are the only files of the
 * module that print.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/audit.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/hash.h"
#include "kluis/json.h"
#include "kluis/store.h"
#include "kluis/units.h"

#include "serve_internal.h"
#include "server_cmds.h"

#ifndef KLUIS_VERSION
#define KLUIS_VERSION "0.1.0"
#endif

#define VERIFY_CHUNK	((size_t)1 << 20)	/* streaming read size */
#define TMP_PREFIX	".tmp-"

const char *progname = "kluis-server";

/* A growing list of repository-relative names, for the JSON report. */
struct namelist {
	char **v;
	size_t n, cap;
};

struct verify {
	const char *repo;
	int json;
	int failed;	/* an error that is not a finding about a file */
	uint64_t files, bytes;
	struct namelist corrupt, stray, unreadable;
	uint8_t *chunk;
};

static int
namelist_add(struct namelist *l, const char *name)
{
	char *dup;
	int rc;

	if ((rc = KL_GROW(l->v, l->cap, l->n + 1)) != KL_OK)
		return rc;
	if ((dup = strdup(name)) == NULL)
		return KL_E_NOMEM;
	l->v[l->n++] = dup;
	return KL_OK;
}

static void
namelist_clear(struct namelist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
print_name(FILE *f, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

/* Records a finding; prints it at once in text mode. */
static void
finding(struct verify *v, struct namelist *l, const char *kind,
    const char *rel, const char *detail)
{
	if (namelist_add(l, rel) != KL_OK)
		v->failed = 1;
	if (v->json)
		return;
	printf("%s: ", kind);
	print_name(stdout, rel);
	if (detail != NULL)
		printf(" (%s)", detail);
	putchar('\n');
}

static void
unreadable(struct verify *v, const char *rel, int err)
{
	finding(v, &v->unreadable, "unreadable", rel, kl_strerror(err));
}

static int
relpath(char *out, size_t out_len, const char *dir, const char *name)
{
	int n = snprintf(out, out_len, "%s/%s", dir, name);

	return n >= 0 && (size_t)n < out_len ? KL_OK : KL_E_LIMIT;
}

/* Streams fd through BLAKE2b-256; *len gets the number of bytes read. */
static int
hash_fd(struct verify *v, int fd, struct kl_id *id, uint64_t *len)
{
	struct kl_hash_state st;
	ssize_t n;

	*len = 0;
	kl_hash_init(&st);
	for (;;) {
		n = read(fd, v->chunk, VERIFY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kl_err_from_errno(errno);
		if (n == 0)
			break;
		kl_hash_update(&st, v->chunk, (size_t)n);
		*len += (uint64_t)n;
	}
	kl_hash_final(&st, id);
	return KL_OK;
}

static void
verify_file(struct verify *v, int dfd, const char *name, const char *rel,
    const char *expect)
{
	char hex[KL_ID_HEX_LEN + 1], detail[KL_ID_HEX_LEN + 16];
	struct kl_id id;
	uint64_t len;
	int fd, r;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		unreadable(v, rel, kl_err_from_errno(errno));
		return;
	}
	r = hash_fd(v, fd, &id, &len);
	close(fd);
	if (r != KL_OK) {
		unreadable(v, rel, r);
		return;
	}
	v->files++;
	v->bytes += len;
	kl_id_hex(&id, hex);
	if (strcmp(hex, expect) == 0)
		return;
	snprintf(detail, sizeof(detail), "content hash %s", hex);
	finding(v, &v->corrupt, "corrupt", rel, detail);
}

/*
 * One directory entry of dir (repository-relative rel_dir).  Temporary
 * files belong to writes in progress (or a crashed one) and are skipped.
 * prefix, for data/<xx>/, is the two digits every name must start with.
 */
static void
verify_entry(struct verify *v, int dfd, const char *rel_dir,
    const char *name, const char *prefix)
{
	char rel[PATH_MAX];
	struct stat st;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
		return;
	if (relpath(rel, sizeof(rel), rel_dir, name) != KL_OK) {
		unreadable(v, rel_dir, KL_E_LIMIT);
		return;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT)	/* removed while we walked */
			unreadable(v, rel, kl_err_from_errno(errno));
		return;
	}
	if (!S_ISREG(st.st_mode) || !kl_store_name_valid(KL_FT_DATA, name) ||
	    (prefix != NULL && strncmp(name, prefix, 2) != 0)) {
		finding(v, &v->stray, "stray", rel, NULL);
		return;
	}
	verify_file(v, dfd, name, rel, name);
}

/*
 * trash/ (FORMAT.md §1): each entry's bytes must still hash to the name
 * its entry name carries, so that an undelete brings back sound files.
 */
static void
verify_trash(struct verify *v)
{
	char path[PATH_MAX], rel[PATH_MAX];
	struct kl_trash_entry e;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (relpath(path, sizeof(path), v->repo, "trash") != KL_OK)
		return;
	if ((d = opendir(path)) == NULL) {
		if (errno != ENOENT)
			unreadable(v, "trash", kl_err_from_errno(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    relpath(rel, sizeof(rel), "trash", de->d_name) != KL_OK)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0)
			continue;	/* purged or undeleted meanwhile */
		if (!S_ISREG(st.st_mode) ||
		    !kl_store_trash_parse(de->d_name, &e))
			finding(v, &v->stray, "stray", rel, NULL);
		else
			verify_file(v, dirfd(d), de->d_name, rel, e.name);
	}
	closedir(d);
}

/* Walks repo/rel_dir; a missing directory holds no files. */
static void
verify_dir(struct verify *v, const char *rel_dir, const char *prefix)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (relpath(path, sizeof(path), v->repo, rel_dir) != KL_OK) {
		unreadable(v, rel_dir, KL_E_LIMIT);
		return;
	}
	/* A fan-out name that is not a directory was reported as stray. */
	if ((d = opendir(path)) == NULL) {
		if (errno != ENOENT && !(errno == ENOTDIR && prefix != NULL))
			unreadable(v, rel_dir, kl_err_from_errno(errno));
		return;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		verify_entry(v, dirfd(d), rel_dir, de->d_name, prefix);
		errno = 0;
	}
	if (errno != 0)
		unreadable(v, rel_dir, kl_err_from_errno(errno));
	closedir(d);
}

static int
is_fanout_name(const char *s)
{
	static const char hx[] = "0123456789abcdef";

	return s[0] != '\0' && strchr(hx, s[0]) != NULL && s[1] != '\0' &&
	    strchr(hx, s[1]) != NULL && s[2] == '\0';
}

/* data/ holds only the 256 fan-out directories data/00..data/ff. */
static void
verify_data(struct verify *v)
{
	char sub[8];
	unsigned i;

	for (i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "data/%02x", i);
		verify_dir(v, sub, sub + 5);
	}
}

static void
verify_data_top(struct verify *v)
{
	char path[PATH_MAX], rel[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (relpath(path, sizeof(path), v->repo, "data") != KL_OK) {
		unreadable(v, "data", KL_E_LIMIT);
		return;
	}
	if ((d = opendir(path)) == NULL) {
		if (errno != ENOENT)
			unreadable(v, "data", kl_err_from_errno(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    relpath(rel, sizeof(rel), "data", de->d_name) != KL_OK)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    0 && S_ISDIR(st.st_mode) && is_fanout_name(de->d_name))
			continue;
		finding(v, &v->stray, "stray", rel, NULL);
	}
	closedir(d);
}

/* The names of l as the array member key. */
static void
json_names(struct kl_json *j, const char *key, const struct namelist *l)
{
	size_t i;

	kl_json_arr(j, key);
	for (i = 0; i < l->n; i++)
		kl_json_text(j, NULL, l->v[i]);
	kl_json_arr_end(j);
}

static void
verify_report(const struct verify *v)
{
	struct kl_json j;

	if (!v->json) {
		printf("verified %llu files, %llu bytes: %zu corrupt, "
		    "%zu stray\n", (unsigned long long)v->files,
		    (unsigned long long)v->bytes, v->corrupt.n, v->stray.n);
		return;
	}
	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_u64(&j, "files", v->files);
	kl_json_u64(&j, "bytes", v->bytes);
	json_names(&j, "corrupt", &v->corrupt);
	json_names(&j, "stray", &v->stray);
	json_names(&j, "unreadable", &v->unreadable);
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
verify_clear(struct verify *v)
{
	namelist_clear(&v->corrupt);
	namelist_clear(&v->stray);
	namelist_clear(&v->unreadable);
	free(v->chunk);
	v->chunk = NULL;
}

static int
verify_run(struct verify *v)
{
	static const char *const flat[] = { "keys", "index", "snapshots",
	    "locks" };
	size_t i;

	if ((v->chunk = malloc(VERIFY_CHUNK)) == NULL) {
		fprintf(stderr, "%s: verify: out of memory\n", progname);
		return EXIT_FINDINGS;
	}
	for (i = 0; i < sizeof(flat) / sizeof(flat[0]); i++)
		verify_dir(v, flat[i], NULL);
	verify_data_top(v);
	verify_data(v);
	verify_trash(v);
	verify_report(v);
	if (v->failed)
		fprintf(stderr, "%s: verify: out of memory while recording "
		    "findings; the report is incomplete\n", progname);
	return v->failed || v->corrupt.n > 0 || v->stray.n > 0 ||
	    v->unreadable.n > 0 ? EXIT_FINDINGS : EXIT_CLEAN;
}

static void
verify_usage(FILE *f)
{
	fprintf(f, "usage: %s verify --repo DIR [--json]\n"
	    "  Re-hashes every file under keys/, data/, index/, snapshots/, "
	    "locks/ and\n  trash/ against its name (no key needed).  Exit 0 clean, "
	    "1 findings or errors,\n  10 not a repository, 2 usage error.  "
	    "Temporary .tmp-* files are skipped.\n", progname);
}

/* Parses verify's arguments into v; returns -1 on a usage error, 1 for
 * --help, 0 otherwise. */
static int
verify_args(int argc, char **argv, struct verify *v)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			v->json = 1;
		else if (strcmp(argv[i], "--help") == 0)
			return 1;
		else if (strcmp(argv[i], "--repo") == 0 && i + 1 < argc)
			v->repo = argv[++i];
		else if (strncmp(argv[i], "--repo=", 7) == 0)
			v->repo = argv[i] + 7;
		else {
			fprintf(stderr, "%s: verify: unexpected argument "
			    "'%s'\n", progname, argv[i]);
			return -1;
		}
	}
	if (v->repo == NULL || v->repo[0] == '\0') {
		fprintf(stderr, "%s: verify: --repo DIR is required\n",
		    progname);
		return -1;
	}
	return 0;
}

/* Refuses what is not a repository before walking anything. */
static int
verify_open(const char *repo)
{
	struct kl_store *s = NULL;
	int r;

	if ((r = kl_store_open(repo, KL_ROLE_READ, &s)) == KL_OK) {
		kl_store_close(s);
		return EXIT_CLEAN;
	}
	fprintf(stderr, "%s: verify: %s: %s\n", progname, repo,
	    r == KL_E_NOTFOUND ? "not a repository (no config file); check "
	    "the --repo path" : kl_strerror(r));
	return r == KL_E_NOTFOUND ? EXIT_NOREPO : EXIT_FINDINGS;
}

static int
cmd_verify(int argc, char **argv)
{
	struct verify v;
	int r;

	memset(&v, 0, sizeof(v));
	if ((r = verify_args(argc, argv, &v)) != 0) {
		verify_usage(r > 0 ? stdout : stderr);
		return r > 0 ? EXIT_CLEAN : EXIT_USAGE;
	}
	if ((r = verify_open(v.repo)) != EXIT_CLEAN)
		return r;
	r = verify_run(&v);
	verify_clear(&v);
	return r;
}

/* --- serve --- */

static void
serve_usage(FILE *f)
{
	fprintf(f, "usage: %s serve --repo DIR [--append-only | --read-only] "
	    "[--client-name NAME]\n"
	    "        [--delete-delay DURATION] [--min-age DURATION] "
	    "[--quota SIZE]\n"
	    "  Speaks the kluis protocol (docs/PROTOCOL.md) on stdin/stdout "
	    "for DIR only,\n  normally as an OpenSSH forced command.  "
	    "Roles: full (default), append-only\n  (create and read; remove "
	    "locks only), read-only.  Every write and refusal\n  is recorded "
	    "in DIR/audit.log.  A removed file goes to DIR/trash/ for the\n"
	    "  delete delay (default 14d; 0: removed at once; purge deletes "
	    "it then);\n  files received less than --min-age ago (default 0) "
	    "cannot be removed;\n  an upload that would make DIR hold more "
	    "than --quota (default 0: none)\n  is refused.  Exit 0 after a "
	    "clean session, 1 otherwise.\n", progname);
}

static int
serve_role(struct kl_serve_opts *o, enum kl_store_role role)
{
	if (o->role != KL_ROLE_FULL && o->role != role) {
		fprintf(stderr, "%s: serve: --append-only and --read-only "
		    "exclude each other\n", progname);
		return -1;
	}
	o->role = role;
	return 0;
}

static int
serve_duration(const char *opt, const char *v, int64_t *out)
{
	if (kl_duration_parse(v, out) == KL_OK)
		return 0;
	fprintf(stderr, "%s: serve: %s '", progname, opt);
	print_name(stderr, v);
	fprintf(stderr, "' is not a duration (examples: 14d, 36h, 2w, 0)\n");
	return -1;
}

static int
serve_size(const char *opt, const char *v, uint64_t *out)
{
	if (kl_size_parse(v, out) == KL_OK)
		return 0;
	fprintf(stderr, "%s: serve: %s '", progname, opt);
	print_name(stderr, v);
	fprintf(stderr, "' is not a size (examples: 500G, 2T, 0)\n");
	return -1;
}

static int
serve_arg(int argc, char **argv, int *i, struct kl_serve_opts *o)
{
	const char *a = argv[*i];

	if (strcmp(a, "--append-only") == 0)
		return serve_role(o, KL_ROLE_APPEND);
	if (strcmp(a, "--read-only") == 0)
		return serve_role(o, KL_ROLE_READ);
	if (strcmp(a, "--repo") == 0 && *i + 1 < argc)
		o->repo = argv[++*i];
	else if (strncmp(a, "--repo=", 7) == 0)
		o->repo = a + 7;
	else if (strcmp(a, "--delete-delay") == 0 && *i + 1 < argc)
		return serve_duration(a, argv[++*i], &o->policy.delete_delay_s);
	else if (strcmp(a, "--min-age") == 0 && *i + 1 < argc)
		return serve_duration(a, argv[++*i], &o->policy.min_age_s);
	else if (strcmp(a, "--quota") == 0 && *i + 1 < argc)
		return serve_size(a, argv[++*i], &o->policy.quota);
	else if (strcmp(a, "--client-name") == 0 && *i + 1 < argc)
		o->client_name = argv[++*i];
	else if (strncmp(a, "--client-name=", 14) == 0)
		o->client_name = a + 14;
	else {
		fprintf(stderr, "%s: serve: unexpected argument '", progname);
		print_name(stderr, a);
		fprintf(stderr, "'\n");
		return -1;
	}
	return 0;
}

/* -1 usage error, 1 --help, 0 otherwise. */
static int
serve_args(int argc, char **argv, struct kl_serve_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0)
			return 1;
		if (serve_arg(argc, argv, &i, o) != 0)
			return -1;
	}
	if (o->repo == NULL || o->repo[0] == '\0') {
		fprintf(stderr, "%s: serve: --repo DIR is required\n",
		    progname);
		return -1;
	}
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	struct kl_serve_opts o = { NULL, KL_ROLE_FULL, NULL,
	    "kluis-server " KLUIS_VERSION, { KL_SERVE_DELETE_DELAY_S, 0, 0 } };
	int r;

	if ((r = serve_args(argc, argv, &o)) != 0) {
		serve_usage(r > 0 ? stdout : stderr);
		return r > 0 ? EXIT_CLEAN : EXIT_USAGE;
	}
	/* A client that goes away must not kill the server silently. */
	signal(SIGPIPE, SIG_IGN);
	r = kl_serve(&o, STDIN_FILENO, STDOUT_FILENO);
	if (r != KL_OK && r != KL_E_CONN)
		fprintf(stderr, "%s: serve: session ended: %s\n", progname,
		    kl_strerror(r));
	return r == KL_OK ? EXIT_CLEAN : EXIT_FINDINGS;
}

/* --- audit --- */

static void
audit_usage(FILE *f)
{
	fprintf(f, "usage: %s audit verify --repo DIR [--json]\n"
	    "  Checks the hash chain of DIR/audit.log (docs/PROTOCOL.md "
	    "§6) and prints the\n  number of records and \"chain intact\" "
	    "(exit 0), or the first broken record\n  (exit 1).  Exit 10 if "
	    "DIR has no audit log, 2 on a usage error.\n", progname);
}

static void
audit_json(const struct kl_audit_report *rep, int r)
{
	struct kl_json j;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_u64(&j, "records", rep->records);
	kl_json_bool(&j, "intact", r == KL_OK);
	kl_json_text(&j, "last_hash", rep->last_hash);
	if (r == KL_E_CORRUPT) {
		kl_json_u64(&j, "bad_line", rep->bad_line);
		kl_json_text(&j, "problem", rep->what);
	}
	kl_json_obj_end(&j);
	putchar('\n');
}

static void
audit_report(const char *repo, const struct kl_audit_report *rep, int r,
    int json)
{
	if (json) {
		audit_json(rep, r);
		return;
	}
	printf("%llu records\n", (unsigned long long)rep->records);
	if (r == KL_OK)
		printf("chain intact; last hash %s\n", rep->last_hash);
	else
		printf("chain broken at line %llu: %s\n",
		    (unsigned long long)rep->bad_line, rep->what);
	(void)repo;
}

static int
audit_args(int argc, char **argv, const char **repo, int *json)
{
	int i;

	if (argc < 2 || strcmp(argv[1], "verify") != 0)
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 1 : -1;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = 1;
		else if (strcmp(argv[i], "--help") == 0)
			return 1;
		else if (strcmp(argv[i], "--repo") == 0 && i + 1 < argc)
			*repo = argv[++i];
		else if (strncmp(argv[i], "--repo=", 7) == 0)
			*repo = argv[i] + 7;
		else
			return -1;
	}
	return *repo == NULL || (*repo)[0] == '\0' ? -1 : 0;
}

static int
cmd_audit(int argc, char **argv)
{
	struct kl_audit_report rep;
	const char *repo = NULL;
	int json = 0, r;

	if ((r = audit_args(argc, argv, &repo, &json)) != 0) {
		audit_usage(r > 0 ? stdout : stderr);
		return r > 0 ? EXIT_CLEAN : EXIT_USAGE;
	}
	r = kl_audit_verify(repo, &rep);
	if (r != KL_OK && r != KL_E_CORRUPT) {
		fprintf(stderr, "%s: audit verify: %s/%s: %s\n", progname,
		    repo, KL_AUDIT_FILE, r == KL_E_NOTFOUND ? "no audit log "
		    "(no client has been served here, or it was deleted)" :
		    kl_strerror(r));
		return r == KL_E_NOTFOUND ? EXIT_NOREPO : EXIT_FINDINGS;
	}
	audit_report(repo, &rep, r, json);
	return r == KL_OK ? EXIT_CLEAN : EXIT_FINDINGS;
}

static int
cmd_version(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "%s: version takes no arguments\n", progname);
		return EXIT_USAGE;
	}
	printf("kluis-server %s (libsodium %s)\n", KLUIS_VERSION,
	    sodium_version_string());
	return EXIT_CLEAN;
}

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "serve", cmd_serve,
	    "serve --repo DIR [--append-only | --read-only] "
	    "[--client-name NAME]\n"
	    "        [--delete-delay DURATION] [--min-age DURATION] "
	    "[--quota SIZE]\n"
	    "                              serve the kluis protocol on "
	    "stdin/stdout" },
	{ "audit", cmd_audit,
	    "audit verify --repo DIR [--json]\n"
	    "                              check the audit log's hash chain" },
	{ "verify", cmd_verify,
	    "verify --repo DIR [--json]  re-hash every file against its name" },
	{ "purge", cmd_purge,
	    "purge --repo DIR [--dry-run] [--json]\n"
	    "                              delete trashed files whose delay "
	    "has passed" },
	{ "undelete", cmd_undelete,
	    "undelete --repo DIR [--since WHEN] [--dry-run] [--json]\n"
	    "                              bring trashed files back" },
	{ "version", cmd_version,
	    "version                     print the version" },
	{ "help", cmd_help,
	    "help                        show this help" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s COMMAND [ARGS]\ncommands:\n", progname);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].help);
}

static int
cmd_help(int argc, char **argv)
{
	usage(stdout);
	return EXIT_CLEAN;
}

static void
unknown_command(const char *name)
{
	size_t i;

	fprintf(stderr, "%s: unknown command '", progname);
	print_name(stderr, name);
	fprintf(stderr, "'; valid commands:");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
	fprintf(stderr, " (see '%s --help')\n", progname);
}

static const struct command *
command_find(const char *name)
{
	size_t i;

	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	else if (strcmp(name, "--version") == 0)
		name = "version";
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* No core file may ever hold what passed through this process. */
static int
harden(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		fprintf(stderr, "%s: cannot disable core dumps: %s\n",
		    progname, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const struct command *c;

	if (harden() != 0)
		return EXIT_FINDINGS;
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: cannot initialise libsodium\n", progname);
		return EXIT_FINDINGS;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((c = command_find(argv[1])) == NULL) {
		unknown_command(argv[1]);
		return EXIT_USAGE;
	}
	return c->handler(argc - 1, argv + 1);
}
