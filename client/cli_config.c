/*
 * Settings: the command line, then the environment, then a profile
 * (kluis.conf(5), generated from cli_ref.c), then the defaults; and
 * `kluis config show`, which says where each came from.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kluis/cliref.h"
#include "kluis/json.h"
#include "kluis/treewalk.h"
#include "kluis/units.h"
#include "cli.h"

#define PROFILE_MAX (64 * 1024)	/* bytes of a profile file */
#define PROFILE_LINES 1024	/* settings in one profile */

/* The variables that stand in for an option (kluis(1) ENVIRONMENT). */
static const struct {
	int id;
	const char *var;
} env_vars[] = {
	{ OPT_REPO, "KLUIS_REPOSITORY" },
	{ OPT_PROFILE, "KLUIS_PROFILE" },
	{ OPT_PASSWORD_FILE, "KLUIS_PASSWORD_FILE" },
	{ OPT_PASSWORD_COMMAND, "KLUIS_PASSWORD_COMMAND" },
	{ OPT_KEY_FILE, "KLUIS_KEY_FILE" },
	{ OPT_SERVER_COMMAND, "KLUIS_SERVER_COMMAND" },
};

static const char *
env_var(int id)
{
	size_t i;

	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		if (env_vars[i].id == id)
			return env_vars[i].var;
	return NULL;
}

static int
list_add(struct strlist *l, const struct kl_ref_opt *o, const char *v,
    char *msg, size_t msg_len)
{
	if (l->n == CLI_LIST_MAX) {
		snprintf(msg, msg_len, "too many values for --%s (at most %d)",
		    o->name, CLI_LIST_MAX);
		return -1;
	}
	l->v[l->n++] = v;
	return 0;
}

/* --tree-budget N|off: N times a snapshot's declared totals. */
static int
tree_budget_parse(struct cli *c, const char *arg, char *msg, size_t msg_len)
{
	char *end;
	unsigned long v;

	if (strcmp(arg, "off") == 0) {
		c->tree_budget = KL_WALK_UNLIMITED;
		return 0;
	}
	v = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || v < 1 ||
	    v > KL_WALK_FACTOR_MAX) {
		snprintf(msg, msg_len, "--tree-budget takes a factor from 1 "
		    "to %u, or off", KL_WALK_FACTOR_MAX);
		return -1;
	}
	c->tree_budget = (unsigned)v;
	return 0;
}

/* --progress-interval DURATION: at least a second. */
static int
interval_parse(struct cli *c, const char *arg, char *msg, size_t msg_len)
{
	int64_t s;

	if (kl_duration_parse(arg, &s) != KL_OK || s < 1) {
		snprintf(msg, msg_len, "--progress-interval takes a duration "
		    "of a second or more (60s, 5min), not \"%.40s\"", arg);
		return -1;
	}
	c->progress_interval = (double)s;
	c->progress_interval_text = arg;
	return 0;
}

/* A flag: set on the command line; "yes" or "no" in a profile. */
static int
flag_value(const struct kl_ref_opt *o, const char *v, int *out, char *msg,
    size_t msg_len)
{
	if (v == NULL || strcmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0)
		*out = 0;
	else {
		snprintf(msg, msg_len, "%s takes yes or no", o->name);
		return -1;
	}
	return 0;
}

int
cli_opt_set(struct cli *c, const struct kl_ref_opt *o, const char *v,
    enum cli_src src, unsigned line, char *msg, size_t msg_len)
{
	int *flag = NULL;

	if (c->src[o->id] == CLI_SRC_NONE) {
		c->src[o->id] = (unsigned char)src;
		c->src_line[o->id] = line;
	}
	switch ((enum cli_opt)o->id) {
	case OPT_REPO: c->repo = v; break;
	case OPT_PROFILE: c->profile = v; break;
	case OPT_PASSWORD_FILE: c->password_file = v; break;
	case OPT_PASSWORD_COMMAND: c->password_command = v; break;
	case OPT_KEY_FILE: c->key_file = v; break;
	case OPT_SSH_KEY: c->ssh_key = v; break;
	case OPT_SSH_KNOWN_HOSTS: c->ssh_known_hosts = v; break;
	case OPT_SSH_COMMAND: c->ssh_command = v; break;
	case OPT_SERVER_COMMAND: c->server_command = v; break;
	case OPT_TREE_BUDGET: return tree_budget_parse(c, v, msg, msg_len);
	case OPT_JSON: flag = &c->json; break;
	case OPT_QUIET: flag = &c->quiet; break;
	case OPT_VERBOSE: c->verbose++; break;
	case OPT_HELP: break;	/* the parser's */
	case OPT_VERSION: flag = &c->version; break;
	case OPT_PROGRESS_INTERVAL: return interval_parse(c, v, msg, msg_len);
	case OPT_CHUNK_AVG: c->chunk_avg = v; break;
	case OPT_KDF: c->kdf = v; break;
	case OPT_LABEL: c->label = v; break;
	case OPT_BACKUP_ONLY: flag = &c->backup_only; break;
	case OPT_NEW_PASSWORD_FILE: c->new_password_file = v; break;
	case OPT_OUT: c->out = v; break;
	case OPT_TAG: return list_add(&c->tags, o, v, msg, msg_len);
	case OPT_HOST: c->host = v;
		return list_add(&c->hosts, o, v, msg, msg_len);
	case OPT_PATH: return list_add(&c->paths, o, v, msg, msg_len);
	case OPT_EXCLUDE: return list_add(&c->excludes, o, v, msg, msg_len);
	case OPT_EXCLUDE_FILE:
		return list_add(&c->exclude_files, o, v, msg, msg_len);
	case OPT_ONE_FILE_SYSTEM: flag = &c->one_file_system; break;
	case OPT_COMPRESSION: c->compression = v; break;
	case OPT_WITH_ATIME: flag = &c->with_atime; break;
	case OPT_DELTA_MIN_SIZE: c->delta_min_size = v; break;
	case OPT_DELTA_MAX_DEPTH: c->delta_max_depth = v; break;
	case OPT_THREADS: c->threads = atoi(v); break;
	case OPT_METRICS_FILE: c->metrics_file = v; break;
	case OPT_TARGET: c->target = v; break;
	case OPT_INCLUDE: return list_add(&c->includes, o, v, msg, msg_len);
	case OPT_OVERWRITE: flag = &c->overwrite; break;
	case OPT_AT: c->at = v; break;
	case OPT_LONG: flag = &c->long_list; break;
	case OPT_READ_DATA: flag = &c->read_data; break;
	case OPT_READ_DATA_SUBSET: c->read_data_subset = v; break;
	case OPT_SAMPLE: c->sample = v; break;
	case OPT_FORMAT: c->format = v; break;
	case OPT_SINCE: c->since = v; break;
	case OPT_BACKUP_MAX_AGE: case OPT_VERIFY_MAX_AGE: case OPT_DRILL_MAX_AGE:
		c->max_age[o->id - OPT_BACKUP_MAX_AGE] = v; break;
	case OPT_KEEP_LAST: case OPT_KEEP_HOURLY: case OPT_KEEP_DAILY:
	case OPT_KEEP_WEEKLY: case OPT_KEEP_MONTHLY: case OPT_KEEP_YEARLY:
		c->keep[o->id - OPT_KEEP_LAST] = v; break;
	case OPT_KEEP_WITHIN: c->keep_within = v; break;
	case OPT_KEEP_TAG: return list_add(&c->keep_tags, o, v, msg, msg_len);
	case OPT_GROUP_BY: c->group_by = v; break;
	case OPT_DRY_RUN: flag = &c->dry_run; break;
	case OPT_PRUNE: flag = &c->prune; break;
	case OPT_MAX_UNUSED: c->max_unused = v; break;
	case OPT_FORGET: flag = &c->forget; break;
	case OPT_END: abort();
	}
	return flag != NULL ? flag_value(o, v, flag, msg, msg_len) : 0;
}

/* ---- profiles ---- */

struct profile {
	char path[4096];
	char *text;			/* the file; values point into it */
	struct kl_ref_setting s[PROFILE_LINES];
	size_t n;
	int secret;			/* names a secret (KL_REF_CONF_SECRET) */
};

/* A profile name is a file name of letters, digits, '.', '_', '-'. */
static int
name_ok(const char *n)
{
	if (*n == '\0' || *n == '.')
		return 0;
	return n[strspn(n, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] == '\0';
}

/* The user's directory first, then the system's; a name with a slash is
 * the file itself.  0, or EXIT_FATAL told. */
static int
profile_find(const struct cli *c, const char *name, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char user[4096] = "";

	if (strchr(name, '/') != NULL) {
		snprintf(out, len, "%s", name);
		return 0;
	}
	if (!name_ok(name)) {
		cli_err(c, "profile name \"%s\": use letters, digits, '.', "
		    "'_' and '-', or a path with a slash", name);
		return EXIT_USAGE;
	}
	if (xdg != NULL && *xdg == '/')
		snprintf(user, sizeof(user), "%s/kluis/%s.conf", xdg, name);
	else if (home != NULL && *home == '/')
		snprintf(user, sizeof(user), "%s/.config/kluis/%s.conf", home,
		    name);
	if (*user != '\0' && access(user, F_OK) == 0) {
		snprintf(out, len, "%s", user);
		return 0;
	}
	snprintf(out, len, "/etc/kluis/%s.conf", name);
	if (access(out, F_OK) == 0)
		return 0;
	if (*user != '\0')
		cli_err(c, "no profile \"%s\": neither %s nor %s exists (see "
		    "man kluis.conf)", name, user, out);
	else
		cli_err(c, "no profile \"%s\": %s does not exist (see man "
		    "kluis.conf)", name, out);
	return EXIT_FATAL;
}

/* Parses p->text into p->s; 0 or EXIT_FATAL told. */
static int
profile_parse(const struct cli *c, struct profile *p)
{
	char msg[KL_REF_MSG_MAX];
	unsigned line;
	long n;
	size_t i;

	n = kl_ref_conf_parse(&cli_ref, p->text, p->s, PROFILE_LINES, &line,
	    msg, sizeof(msg));
	if (n < 0) {
		cli_err(c, "%s %s (see man kluis.conf)", p->path, msg);
		return EXIT_FATAL;
	}
	p->n = (size_t)n;
	for (i = 0; i < p->n; i++)
		if (p->s[i].o->flags & KL_REF_CONF_SECRET)
			p->secret = 1;
	return 0;
}

/*
 * Reads the profile, refusing one another user could have written (it
 * says which programs run and where secrets are) and one that names a
 * secret and anyone may read (as ssh refuses a readable private key).
 */
static int
profile_read(const struct cli *c, struct profile *p)
{
	struct stat st;
	ssize_t got = 0;
	size_t have = 0;
	int fd, rc;

	if ((fd = open(p->path, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_err(c, "cannot open profile %s: %s", p->path,
		    strerror(errno));
		return EXIT_FATAL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		cli_err(c, "profile %s is not a regular file", p->path);
		close(fd);
		return EXIT_FATAL;
	}
	if ((st.st_uid != getuid() && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		cli_err(c, "profile %s: bad owner or permissions: it must "
		    "belong to you or root and no one else may write to it "
		    "(chmod go-w)", p->path);
		close(fd);
		return EXIT_FATAL;
	}
	if (st.st_size > PROFILE_MAX ||
	    (p->text = malloc((size_t)st.st_size + 2)) == NULL) {
		cli_err(c, "profile %s is larger than %d bytes", p->path,
		    PROFILE_MAX);
		close(fd);
		return EXIT_FATAL;
	}
	while (have < (size_t)st.st_size + 1 &&
	    ((got = read(fd, p->text + have, (size_t)st.st_size + 1 - have)) >
	    0 || (got < 0 && errno == EINTR)))
		have += got > 0 ? (size_t)got : 0;
	close(fd);
	if (got < 0) {
		cli_err(c, "cannot read profile %s: %s", p->path,
		    strerror(errno));
		return EXIT_FATAL;
	}
	if (have > (size_t)st.st_size) {
		cli_err(c, "profile %s changed while it was read", p->path);
		return EXIT_FATAL;
	}
	if (memchr(p->text, '\0', have) != NULL) {	/* would end it early */
		cli_err(c, "profile %s holds a NUL byte: not a text file",
		    p->path);
		return EXIT_FATAL;
	}
	p->text[have] = '\0';
	if ((rc = profile_parse(c, p)) != 0)
		return rc;
	if (p->secret && (st.st_mode & S_IROTH)) {
		cli_err(c, "profile %s names a password, key or SSH key and "
		    "anyone may read it: refusing it (chmod o-r, or 0600)",
		    p->path);
		return EXIT_FATAL;
	}
	return 0;
}

/* Whether a profile's setting applies to the command. */
static int
applies(const struct cli *c, const struct kl_ref_opt *o)
{
	if (c->cmd->id == C_CONFIG)
		return 1;
	if (o->flags & KL_REF_CONF_BACKUP)
		return c->cmd->id == C_BACKUP;
	return kl_ref_cmd_takes(c->cmd, o);
}

static int
profile_apply(struct cli *c, struct profile *p)
{
	char msg[KL_REF_MSG_MAX];
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct kl_ref_opt *o = p->s[i].o;

		/* a higher level's values win, repeatable ones included */
		if ((c->src[o->id] != CLI_SRC_NONE &&
		    c->src[o->id] != CLI_SRC_PROFILE) || !applies(c, o))
			continue;
		if (cli_opt_set(c, o, p->s[i].value, CLI_SRC_PROFILE,
		    p->s[i].line, msg, sizeof(msg)) != 0) {
			cli_err(c, "%s line %u: %s", p->path, p->s[i].line,
			    msg);
			return EXIT_FATAL;
		}
	}
	return EXIT_OK;
}

/*
 * The passphrase has one source: a file or a command.  When the two come
 * from different levels, the higher level's wins (a --password-command
 * overrides a profile's password-file); at the same level the file does.
 */
static void
password_source(struct cli *c)
{
	unsigned char f = c->src[OPT_PASSWORD_FILE];
	unsigned char m = c->src[OPT_PASSWORD_COMMAND];

	if (f == CLI_SRC_NONE || m == CLI_SRC_NONE)
		return;
	if (m < f) {
		c->password_file = NULL;
		c->src[OPT_PASSWORD_FILE] = CLI_SRC_NONE;
	} else {
		c->password_command = NULL;
		c->src[OPT_PASSWORD_COMMAND] = CLI_SRC_NONE;
	}
}

int
cli_settings_load(struct cli *c)
{
	static struct profile p;	/* its text lives as long as c */
	char msg[KL_REF_MSG_MAX];
	const char *v;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const struct kl_ref_opt *o = kl_ref_opt_by_id(&cli_ref,
		    env_vars[i].id);

		if (c->src[o->id] != CLI_SRC_NONE ||
		    (v = getenv(env_vars[i].var)) == NULL || *v == '\0')
			continue;
		if (cli_opt_set(c, o, v, CLI_SRC_ENV, 0, msg, sizeof(msg))) {
			cli_err(c, "%s: %s", env_vars[i].var, msg);
			return EXIT_USAGE;
		}
	}
	if (c->profile != NULL) {
		memset(&p, 0, sizeof(p));
		if ((rc = profile_find(c, c->profile, p.path,
		    sizeof(p.path))) != 0 || (rc = profile_read(c, &p)) != 0 ||
		    (rc = profile_apply(c, &p)) != 0)
			return rc;
		c->profile_path = p.path;
	}
	password_source(c);
	return EXIT_OK;
}

const char *
cli_origin(const struct cli *c, int id, char *buf, size_t len)
{
	const struct kl_ref_opt *o = kl_ref_opt_by_id(&cli_ref, id);

	switch ((enum cli_src)c->src[id]) {
	case CLI_SRC_CMDLINE:
		snprintf(buf, len, "--%s", o->name);
		break;
	case CLI_SRC_ENV:
		snprintf(buf, len, "%s", env_var(id));
		break;
	case CLI_SRC_PROFILE:
		snprintf(buf, len, "%s in %s line %u", o->name,
		    c->profile_path, c->src_line[id]);
		break;
	case CLI_SRC_NONE:
		snprintf(buf, len, "the default");
		break;
	}
	return buf;
}

/* ---- kluis config show ---- */

static const char *const src_names[] = {
	[CLI_SRC_NONE] = "default", [CLI_SRC_CMDLINE] = "command line",
	[CLI_SRC_ENV] = "environment", [CLI_SRC_PROFILE] = "profile",
};

/* The values of option o: one, a list, or none (*n = 0). */
static const char *const *
values(struct cli *c, const struct kl_ref_opt *o, size_t *n,
    const char *one[1])
{
	const struct strlist *l = NULL;
	static const char *const yes = "yes", *const no = "no";

	switch (o->id) {
	case OPT_TAG: l = &c->tags; break;
	case OPT_HOST: l = &c->hosts; break;
	case OPT_PATH: l = &c->paths; break;
	case OPT_EXCLUDE: l = &c->excludes; break;
	case OPT_EXCLUDE_FILE: l = &c->exclude_files; break;
	case OPT_REPO: one[0] = c->repo; break;
	case OPT_PASSWORD_FILE: one[0] = c->password_file; break;
	case OPT_PASSWORD_COMMAND: one[0] = c->password_command; break;
	case OPT_KEY_FILE: one[0] = c->key_file; break;
	case OPT_SSH_KEY: one[0] = c->ssh_key; break;
	case OPT_SSH_KNOWN_HOSTS: one[0] = c->ssh_known_hosts; break;
	case OPT_SSH_COMMAND: one[0] = c->ssh_command; break;
	case OPT_SERVER_COMMAND: one[0] = c->server_command; break;
	case OPT_COMPRESSION: one[0] = c->compression; break;
	case OPT_DELTA_MIN_SIZE: one[0] = c->delta_min_size; break;
	case OPT_DELTA_MAX_DEPTH: one[0] = c->delta_max_depth; break;
	case OPT_METRICS_FILE: one[0] = c->metrics_file; break;
	case OPT_PROGRESS_INTERVAL: one[0] = c->progress_interval_text;
		break;
	case OPT_ONE_FILE_SYSTEM: one[0] = c->one_file_system ? yes : no; break;
	case OPT_WITH_ATIME: one[0] = c->with_atime ? yes : no; break;
	default: abort();	/* a CONF key without a case here */
	}
	if (l != NULL) {
		*n = l->n;
		return l->v;
	}
	*n = one[0] != NULL;
	return one;
}

/* What an unset setting means. */
static const char *
default_of(const struct kl_ref_opt *o)
{
	switch (o->id) {
	case OPT_REPO: return "(none: give one)";
	case OPT_PASSWORD_FILE: case OPT_PASSWORD_COMMAND:
		return "(ask on the terminal)";
	case OPT_KEY_FILE: return "(the key files in the repository's keys/)";
	case OPT_SSH_KEY: return "(ssh-agent, then ~/.ssh/id_*)";
	case OPT_SSH_KNOWN_HOSTS: return "~/.ssh/known_hosts";
	case OPT_SSH_COMMAND: return "(the built-in SSH, libssh2)";
	case OPT_SERVER_COMMAND: return "kluis-server";
	case OPT_HOST: return "(this machine's name)";
	case OPT_COMPRESSION: return "3";
	case OPT_DELTA_MIN_SIZE: return "64M";
	case OPT_DELTA_MAX_DEPTH: return CLI_STR(CLI_DELTA_DEPTH_DEFAULT);
	case OPT_PROGRESS_INTERVAL: return "(none: SIGUSR1 only)";
	case OPT_PATH: return "(the command line's)";
	default: return "(none)";
	}
}

static void
show_json(struct cli *c)
{
	const char *one[1];
	const char *const *v;
	struct kl_json j;
	size_t i, k, n;

	kl_json_init(&j, stdout);
	kl_json_obj(&j, NULL);
	kl_json_text(&j, "profile", c->profile);
	kl_json_text(&j, "profile_file", c->profile_path);
	kl_json_arr(&j, "settings");
	for (i = 0; i < cli_ref.nopts; i++) {
		const struct kl_ref_opt *o = &cli_ref.opts[i];

		if (!(o->flags & KL_REF_CONF))
			continue;
		v = values(c, o, &n, one);
		kl_json_obj(&j, NULL);
		kl_json_text(&j, "key", o->name);
		kl_json_arr(&j, "values");
		for (k = 0; k < n; k++)
			kl_json_text(&j, NULL, v[k]);
		kl_json_arr_end(&j);
		kl_json_text(&j, "source", src_names[c->src[o->id]]);
		if (c->src[o->id] == CLI_SRC_PROFILE)
			kl_json_u64(&j, "line", c->src_line[o->id]);
		if (c->src[o->id] == CLI_SRC_ENV)
			kl_json_text(&j, "variable", env_var(o->id));
		kl_json_obj_end(&j);
	}
	kl_json_arr_end(&j);
	kl_json_obj_end(&j);
	putchar('\n');
}

int
cmd_config(struct cli *c)
{
	const char *one[1];
	const char *const *v;
	char from[512];
	size_t i, k, n;
	int rc;

	if ((rc = cli_nargs(c, 0, 0)) != EXIT_OK)
		return rc;
	if (c->json) {
		show_json(c);
		return EXIT_OK;
	}
	fputs("profile           ", stdout);
	if (c->profile != NULL) {
		cli_puts(stdout, c->profile);
		fputs(" (", stdout);
		cli_puts(stdout, c->profile_path);
		fputs(")\n", stdout);
	} else
		fputs("(none)\n", stdout);
	for (i = 0; i < cli_ref.nopts; i++) {
		const struct kl_ref_opt *o = &cli_ref.opts[i];

		if (!(o->flags & KL_REF_CONF))
			continue;
		v = values(c, o, &n, one);
		if (n == 0) {
			printf("%-17s %s\n", o->name, default_of(o));
			continue;
		}
		for (k = 0; k < n; k++) {
			printf("%-17s ", o->name);
			cli_puts(stdout, v[k]);
			if (k == 0)
				printf("  [%s]", cli_origin(c, o->id, from,
				    sizeof(from)));
			putchar('\n');
		}
	}
	return EXIT_OK;
}
