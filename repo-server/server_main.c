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
#include "kluis/cliref.h"
#include "kluis/err.h"
#include "kluis/grow.h"
#include "kluis/hash.h"
#include "kluis/json.h"
#include "kluis/layout.h"
#include "kluis/store.h"
#include "kluis/units.h"

#include "serve_internal.h"
#include "server_cmds.h"

#ifndef KLUIS_VERSION
#error "KLUIS_VERSION comes from CMakeLists.txt"
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
	    "locks", "runs" };
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

int
server_store_open(const char *cmd, const char *repo, int role,
    struct kl_store **out)
{
	int r;

	*out = NULL;
	if ((r = kl_store_open(repo, (enum kl_store_role)role, out)) ==
	    KL_OK)
		return EXIT_CLEAN;
	fprintf(stderr, "%s: %s: ", progname, cmd);
	print_name(stderr, repo);
	fprintf(stderr, ": %s\n", r == KL_E_NOTFOUND ? "not a repository (no "
	    "config file); check the --repo path" : kl_strerror(r));
	return r == KL_E_NOTFOUND ? EXIT_NOREPO : EXIT_FINDINGS;
}

void
server_who_fill(struct kl_audit_who *w, const char *client)
{
	const char *u = getenv("USER");

	memset(w, 0, sizeof(*w));
	w->role = "server";
	w->pid = (long)getpid();
	if (u == NULL)
		u = getenv("LOGNAME");
	snprintf(w->user, sizeof(w->user), "%s", u != NULL ? u : "");
	if (client != NULL)
		snprintf(w->client, sizeof(w->client), "%s", client);
}

/* Refuses what is not a repository before walking anything. */
static int
verify_open(const char *repo)
{
	struct kl_store *s = NULL;
	int r;

	if ((r = server_store_open("verify", repo, KL_ROLE_READ, &s)) ==
	    EXIT_CLEAN)
		kl_store_close(s);
	return r;
}

/*
 * One "verify" record (PROTOCOL.md §6) for status: its outcome and the
 * bytes checked.  Only into an existing log (kl_audit_open_existing); a
 * log that cannot be written costs the record, not the verify.
 */
static void
verify_record(const struct verify *v, int exit_code)
{
	struct kl_audit_rec rec = { "verify", 0, NULL, 0, 0, KL_OK };
	struct kl_audit_who who;
	struct kl_audit *log = NULL;
	int r;

	rec.size = v->bytes;
	if (v->corrupt.n > 0 || v->stray.n > 0)
		rec.outcome = KL_E_CORRUPT;
	else if (v->unreadable.n > 0)
		rec.outcome = KL_E_IO;
	else if (exit_code != EXIT_CLEAN)
		rec.outcome = KL_E_NOMEM;	/* the only other failure */
	server_who_fill(&who, NULL);
	if ((r = kl_audit_open_existing(v->repo, &log)) == KL_OK)
		r = kl_audit_append(log, &who, &rec);
	kl_audit_close(log);
	if (r == KL_OK)
		return;
	fprintf(stderr, "%s: verify: warning: ", progname);
	print_name(stderr, v->repo);
	fprintf(stderr, "/%s: %s; this verify is not recorded and status "
	    "will not show it\n", KL_AUDIT_FILE, r == KL_E_NOTFOUND ?
	    "no audit log (no client has been served here yet)" :
	    kl_strerror(r));
}

static int
cmd_verify(const struct server_args *a)
{
	struct verify v;
	int r;

	memset(&v, 0, sizeof(v));
	if (server_repo_required(a) != 0)
		return EXIT_USAGE;
	v.repo = a->repo;
	v.json = a->json;
	if ((r = verify_open(v.repo)) != EXIT_CLEAN)
		return r;
	r = verify_run(&v);
	verify_record(&v, r);
	verify_clear(&v);
	return r;
}

/* --- serve --- */

static int
serve_role(struct kl_serve_opts *o, enum kl_store_role role)
{
	if (o->role != KL_ROLE_FULL && o->role != role) {
		fprintf(stderr, "%s: serve: --append-only, --read-only and "
		    "--replica exclude each other\n", progname);
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

/* serve's options into o; 0, or -1 after saying what is wrong. */
static int
serve_args(const struct server_args *a, struct kl_serve_opts *o)
{
	if (server_repo_required(a) != 0 ||
	    (a->append_only && serve_role(o, KL_ROLE_APPEND) != 0) ||
	    (a->read_only && serve_role(o, KL_ROLE_READ) != 0) ||
	    (a->replica && serve_role(o, KL_ROLE_REPLICA) != 0) ||
	    (a->delete_delay != NULL && serve_duration("--delete-delay",
	    a->delete_delay, &o->policy.delete_delay_s) != 0) ||
	    (a->min_age != NULL && serve_duration("--min-age", a->min_age,
	    &o->policy.min_age_s) != 0) ||
	    (a->quota != NULL && serve_size("--quota", a->quota,
	    &o->policy.quota) != 0))
		return -1;
	o->repo = a->repo;
	o->client_name = a->client_name;
	return 0;
}

static int
cmd_serve(const struct server_args *a)
{
	struct kl_serve_opts o = { NULL, KL_ROLE_FULL, NULL,
	    "kluis-server " KLUIS_VERSION, { KL_SERVE_DELETE_DELAY_S, 0, 0 } };
	int r;

	if (serve_args(a, &o) != 0)
		return EXIT_USAGE;
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
cmd_audit(const struct server_args *a)
{
	struct kl_audit_report rep;
	const char *repo = a->repo;
	int json = a->json, r;

	if (server_repo_required(a) != 0)
		return EXIT_USAGE;
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
cmd_version(const struct server_args *a)
{
	(void)a;
	printf("kluis-server %s\nrepository format %d\nlibsodium %s\n",
	    KLUIS_VERSION, KL_FORMAT_VERSION, sodium_version_string());
	return EXIT_CLEAN;
}

static int
cmd_help(const struct server_args *a)
{
	if (kl_ref_help_words(stdout, &server_ref, a->args, a->nargs) == 0)
		return EXIT_CLEAN;
	fprintf(stderr, "%s: no command '", progname);
	print_name(stderr, a->args[0]);
	fprintf(stderr, "' (see %s --help)\n", progname);
	return EXIT_USAGE;
}

int
server_repo_required(const struct server_args *a)
{
	if (a->repo != NULL && a->repo[0] != '\0')
		return 0;
	fprintf(stderr, "%s: %s: --repo DIR is required (see %s %s --help)\n",
	    progname, a->cmd, progname, a->cmd);
	return -1;
}

static int
on_opt(void *arg, const struct kl_ref_opt *o, const char *v, char *msg,
    size_t msg_len)
{
	struct server_args *a = arg;

	(void)msg;
	(void)msg_len;
	switch ((enum server_opt)o->id) {
	case S_REPO: a->repo = v; break;
	case S_APPEND_ONLY: a->append_only = 1; break;
	case S_READ_ONLY: a->read_only = 1; break;
	case S_CLIENT_NAME: a->client_name = v; break;
	case S_DELETE_DELAY: a->delete_delay = v; break;
	case S_MIN_AGE: a->min_age = v; break;
	case S_QUOTA: a->quota = v; break;
	case S_SINCE: a->since = v; break;
	case S_DRY_RUN: a->dry_run = 1; break;
	case S_JSON: a->json = 1; break;
	case S_HELP: break;	/* the parser's */
	case S_VERSION: a->version = 1; break;
	case S_REPLICA: a->replica = 1; break;
	case S_TO: a->to = v; break;
	case S_REPAIR: a->repair = 1; break;
	case S_SSH_KEY: a->ssh_key = v; break;
	case S_SSH_KNOWN_HOSTS: a->ssh_known_hosts = v; break;
	case S_SSH_COMMAND: a->ssh_command = v; break;
	case S_SERVER_COMMAND: a->server_command = v; break;
	case S_ROOT: a->root = v; break;
	case S_OVERDUE: a->overdue = v; break;
	case S_METRICS_FILE: a->metrics_file = v; break;
	}
	return 0;
}

static int
run(const struct kl_ref_cmd *c, struct server_args *a)
{
	if (c->id != SC_HELP && a->nargs > 0) {
		fprintf(stderr, "%s: %s takes no argument '", progname,
		    c->name);
		print_name(stderr, a->args[0]);
		fprintf(stderr, "' (see %s %s --help)\n", progname, c->name);
		return EXIT_USAGE;
	}
	switch ((enum server_cmd)c->id) {
	case SC_SERVE: return cmd_serve(a);
	case SC_VERIFY: return cmd_verify(a);
	case SC_AUDIT: return cmd_audit(a);
	case SC_PURGE: return cmd_purge(a);
	case SC_UNDELETE: return cmd_undelete(a);
	case SC_REPLICATE: return cmd_replicate(a);
	case SC_STATUS: return cmd_status(a);
	case SC_VERSION: return cmd_version(a);
	case SC_HELP: return cmd_help(a);
	}
	abort();	/* a command in the table without a case */
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
	struct kl_ref_parsed p;
	struct server_args a;
	int used;

	if (harden() != 0)
		return EXIT_FINDINGS;
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: cannot initialise libsodium\n", progname);
		return EXIT_FINDINGS;
	}
	memset(&a, 0, sizeof(a));
	if (kl_ref_parse(&server_ref, argc, argv, on_opt, &a, &p) != 0) {
		fprintf(stderr, "%s: ", progname);
		print_name(stderr, p.msg);
		fputc('\n', stderr);
		return EXIT_USAGE;
	}
	if (p.help) {
		kl_ref_help_parsed(stdout, &server_ref, &p);
		return EXIT_CLEAN;
	}
	if (a.version) {	/* "print the version and exit", whatever else */
		p.cmd = kl_ref_cmd_find(&server_ref, (char *[]){ "version" },
		    1, &used);
		p.nargs = 0;
	}
	if (p.cmd == NULL) {
		if (p.unknown == NULL)
			kl_ref_usage(stderr, &server_ref);
		else {
			fprintf(stderr, "%s: %s '", progname,
			    kl_ref_cmd_is_group(&server_ref, p.unknown) ?
			    "no sub-command given for" : "unknown command");
			print_name(stderr, p.unknown);
			fputs("'; commands: ", stderr);
			kl_ref_cmd_list(stderr, &server_ref);
			fprintf(stderr, " (see %s --help)\n", progname);
		}
		return EXIT_USAGE;
	}
	a.cmd = p.cmd->name;
	a.args = p.args;
	a.nargs = p.nargs;
	return run(p.cmd, &a);
}
