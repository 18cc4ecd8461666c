/*
 * Unit tests of base/cliref.c (kluis/cliref.h): the getopt-based parser
 * and the lookups, the profile parser (with a deterministic mutation
 * test) and the renderers (terminal help, man, markdown), all against a
 * small table of this file's own, so that changes to the programs'
 * tables do not move these tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kluis/cliref.h"

#include "mutate.h"

/* ---- the table ---- */

enum {
	O_HELP = 1,
	O_VERBOSE,
	O_REPO,
	O_KEY_FILE,
	O_EXCLUDE,
	O_DRY_RUN,
};

enum {
	C_INIT = 1,
	C_KEY_ADD,
	C_KEY_LIST,
	C_BACKUP,
};

static const struct kl_ref_opt opts[] = {
	{ O_HELP, "help", NULL, 'h', NULL, KL_REF_GLOBAL,
	    "Shows the help of a command.", NULL },
	{ O_VERBOSE, "verbose", NULL, 'v', NULL, KL_REF_GLOBAL,
	    "Says more: every path it reads, such as C:\\backup, is printed "
	    "as it is, one to a line, and every object it writes is named "
	    "with its size.", NULL },
	{ O_REPO, "repo", "repository", 'r', "URL", KL_REF_CONF,
	    "Where the backups go.", NULL },
	{ O_KEY_FILE, "key-file", NULL, 0, "KEY-FILE-PATH",
	    KL_REF_CONF | KL_REF_CONF_SECRET,
	    ".key files hold the key.", "The key file of the profile." },
	{ O_EXCLUDE, "exclude", NULL, 0, "GLOB|PATH",
	    KL_REF_REPEAT | KL_REF_CONF,
	    "Leaves out what matches GLOB | PATH.", NULL },
	{ O_DRY_RUN, "dry-run", NULL, 'n', NULL, KL_REF_CONF,
	    "'dry' runs change nothing.", NULL },
};

static const int backup_opts[] = { O_REPO, O_EXCLUDE, O_DRY_RUN, 0 };
static const int key_add_opts[] = { O_KEY_FILE, 0 };

static const struct kl_ref_cmd cmds[] = {
	{ C_INIT, "init", "", "create a repository", NULL, NULL, NULL },
	{ C_KEY_ADD, "key add", "NAME [PUBLIC-KEY-FILE...]", "add a key",
	    NULL, key_add_opts,
	    "demo key add laptop" },
	{ C_KEY_LIST, "key list", "", "list the keys", NULL, NULL, NULL },
	{ C_BACKUP, "backup", "PATH...", "back up the paths given, every "
	    "file and directory below them, into a new snapshot of the "
	    "repository, sending only what it does not hold yet",
	    "Reads every path.\nA second paragraph.", backup_opts,
	    "demo backup -r /srv/backup /home\n"
	    ". ~/.demo-env; demo backup --exclude '*.o' /src" },
};

static const struct kl_ref_sect sects[] = {
	{ "ENVIRONMENT", "\tDEMO_REPO\tThe default repository.\n"
	    "$ demo backup /home" },
};

static const struct kl_ref ref = {
	"demo", 1, "9.9.9", "back up files", "[options] COMMAND [ARGS]",
	"Backs up files.\nA second paragraph.",
	opts, sizeof(opts) / sizeof(opts[0]),
	cmds, sizeof(cmds) / sizeof(cmds[0]),
	sects, sizeof(sects) / sizeof(sects[0]),
};

static const struct kl_ref conf_ref = {
	"demo.conf", 5, "9.9.9", "demo profiles", "",
	"One key = value per line.", NULL, 0, NULL, 0, NULL, 0,
};

/* ---- parsing ---- */

#define GOT_MAX 8

/* What the option callback was handed, in order. */
struct got {
	int n;
	int id[GOT_MAX];
	const char *value[GOT_MAX];
	int fail_id;		/* refuse this option */
};

static int
collect(void *arg, const struct kl_ref_opt *o, const char *value, char *msg,
    size_t msg_len)
{
	struct got *g = arg;

	if (o->id == g->fail_id) {
		snprintf(msg, msg_len, "bad %s", value);
		return -1;
	}
	assert_true(g->n < GOT_MAX);
	g->id[g->n] = o->id;
	g->value[g->n] = value;
	g->n++;
	return 0;
}

/* argv: the words after the program name, NULL-terminated. */
#define ARGV(...) ((char *[]){ "demo", __VA_ARGS__, NULL })

static int
parse(struct got *g, struct kl_ref_parsed *out, char **argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	return kl_ref_parse(&ref, argc, argv, collect, g, out);
}

static void
assert_args(const struct kl_ref_parsed *out, int n, ...)
{
	va_list ap;
	int i;

	assert_int_equal(out->nargs, n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		assert_string_equal(out->args[i], va_arg(ap, const char *));
	va_end(ap);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not in:\n%s", needle, hay);
}

static void
assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle) != NULL)
		fail_msg("\"%s\" wrongly in:\n%s", needle, hay);
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("does not start with \"%s\":\n%s", prefix, s);
}

static void
test_parse_options_before_and_after_command(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("-v", "backup", "/a",
	    "--exclude", "x", "/b", "-n")), 0);
	assert_non_null(out.cmd);
	assert_int_equal(out.cmd->id, C_BACKUP);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.id[0], O_VERBOSE);
	assert_null(g.value[0]);
	assert_int_equal(g.id[1], O_EXCLUDE);
	assert_string_equal(g.value[1], "x");
	assert_int_equal(g.id[2], O_DRY_RUN);
	assert_null(g.value[2]);
	assert_int_equal(out.help, 0);
	assert_null(out.unknown);
	assert_args(&out, 2, "/a", "/b");
}

static void
test_parse_long_value_with_equals_and_separate(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("--repo=/r1", "backup",
	    "--repo", "/r2", "/p")), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.id[0], O_REPO);
	assert_string_equal(g.value[0], "/r1");
	assert_int_equal(g.id[1], O_REPO);
	assert_string_equal(g.value[1], "/r2");
	assert_args(&out, 1, "/p");
}

static void
test_parse_short_option_with_value(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("-r", "/r1", "backup",
	    "-r/r2", "-vn", "/p")), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.id[0], O_REPO);
	assert_string_equal(g.value[0], "/r1");
	assert_int_equal(g.id[1], O_REPO);
	assert_string_equal(g.value[1], "/r2");
	assert_int_equal(g.id[2], O_VERBOSE);
	assert_int_equal(g.id[3], O_DRY_RUN);
	assert_args(&out, 1, "/p");
}

static void
test_parse_alias_is_the_option(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("backup", "--repository",
	    "/srv", "/p")), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], O_REPO);
	assert_string_equal(g.value[0], "/srv");
	assert_args(&out, 1, "/p");
}

static void
test_parse_repeatable_handed_over_in_order(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("backup", "--exclude", "first",
	    "/p", "--exclude=second")), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.id[0], O_EXCLUDE);
	assert_string_equal(g.value[0], "first");
	assert_int_equal(g.id[1], O_EXCLUDE);
	assert_string_equal(g.value[1], "second");
	assert_args(&out, 1, "/p");
}

static void
test_parse_two_word_command_and_its_args(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("key", "add", "laptop",
	    "extra")), 0);
	assert_non_null(out.cmd);
	assert_int_equal(out.cmd->id, C_KEY_ADD);
	assert_args(&out, 2, "laptop", "extra");

	/* An option between the two words. */
	assert_int_equal(parse(&g, &out, ARGV("key", "--key-file", "k",
	    "add", "laptop")), 0);
	assert_non_null(out.cmd);
	assert_int_equal(out.cmd->id, C_KEY_ADD);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], O_KEY_FILE);
	assert_string_equal(g.value[0], "k");
	assert_args(&out, 1, "laptop");

	assert_int_equal(parse(&g, &out, ARGV("key", "list")), 0);
	assert_non_null(out.cmd);
	assert_int_equal(out.cmd->id, C_KEY_LIST);
	assert_args(&out, 0);
}

static void
test_parse_unknown_option_before_command(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("--x", "backup", "/p")), -1);
	assert_contains(out.msg, "unknown option --x");
	assert_contains(out.msg, "(see demo --help)");
	assert_int_equal(g.n, 0);
}

static void
test_parse_unknown_option_after_command(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("backup", "/p", "--x=1")), -1);
	assert_contains(out.msg, "unknown option --x ");
	assert_lacks(out.msg, "=1");
	assert_contains(out.msg, "(see demo backup --help)");

	assert_int_equal(parse(&g, &out, ARGV("backup", "-z")), -1);
	assert_contains(out.msg, "unknown option -z ");
	assert_contains(out.msg, "(see demo backup --help)");
}

static void
test_parse_missing_value(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("backup", "/p", "--exclude")),
	    -1);
	assert_contains(out.msg, "--exclude needs a value");
	assert_contains(out.msg, "(see demo backup --help)");

	assert_int_equal(parse(&g, &out, ARGV("-r")), -1);
	assert_contains(out.msg, "-r needs a value");
	assert_contains(out.msg, "(see demo --help)");
	assert_int_equal(g.n, 0);
}

static void
test_parse_option_the_command_does_not_take(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("init", "--exclude", "a")), -1);
	assert_contains(out.msg, "init does not take --exclude");

	/* before the command word, and by its alias */
	assert_int_equal(parse(&g, &out, ARGV("--repository", "/r", "init")),
	    -1);
	assert_contains(out.msg, "init does not take --repo");

	assert_int_equal(parse(&g, &out, ARGV("key", "list", "--key-file",
	    "k")), -1);
	assert_contains(out.msg, "key list does not take --key-file");

	/* a command with options takes only its own */
	assert_int_equal(parse(&g, &out, ARGV("backup", "--key-file", "k",
	    "/p")), -1);
	assert_contains(out.msg, "backup does not take --key-file");
}

static void
test_parse_global_option_accepted_everywhere(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("-v", "init")), 0);
	assert_int_equal(out.cmd->id, C_INIT);
	assert_int_equal(parse(&g, &out, ARGV("init", "--verbose")), 0);
	assert_int_equal(out.cmd->id, C_INIT);
	assert_int_equal(parse(&g, &out, ARGV("key", "list", "-v")), 0);
	assert_int_equal(out.cmd->id, C_KEY_LIST);
	assert_int_equal(parse(&g, &out, ARGV("key", "add", "-v", "n")), 0);
	assert_int_equal(out.cmd->id, C_KEY_ADD);
	assert_int_equal(parse(&g, &out, ARGV("backup", "/p", "-v")), 0);
	assert_int_equal(out.cmd->id, C_BACKUP);
	assert_int_equal(g.n, 5);
}

static void
test_parse_help_stops_checking(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("init", "--exclude", "a",
	    "--help")), 0);
	assert_int_equal(out.help, 1);
	assert_non_null(out.cmd);
	assert_int_equal(out.cmd->id, C_INIT);
	/* help itself is not handed to the callback */
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], O_EXCLUDE);

	assert_int_equal(parse(&g, &out, ARGV("-h")), 0);
	assert_int_equal(out.help, 1);
	assert_null(out.cmd);
	assert_null(out.unknown);
}

static void
test_parse_unknown_command_is_not_an_error(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("frob", "a")), 0);
	assert_null(out.cmd);
	assert_non_null(out.unknown);
	assert_string_equal(out.unknown, "frob");
	assert_string_equal(out.msg, "");
}

static void
test_parse_group_word_alone(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("key")), 0);
	assert_null(out.cmd);
	assert_non_null(out.unknown);
	assert_string_equal(out.unknown, "key");
	assert_true(kl_ref_cmd_is_group(&ref, "key"));
	assert_false(kl_ref_cmd_is_group(&ref, "ke"));
	assert_false(kl_ref_cmd_is_group(&ref, "backup"));
	assert_false(kl_ref_cmd_is_group(&ref, "key add"));

	/* a second word that is no sub-command, or only starts one */
	assert_int_equal(parse(&g, &out, ARGV("key", "frob")), 0);
	assert_null(out.cmd);
	assert_string_equal(out.unknown, "key");
	assert_int_equal(parse(&g, &out, ARGV("key", "a")), 0);
	assert_null(out.cmd);
	assert_int_equal(parse(&g, &out, ARGV("key", "addx")), 0);
	assert_null(out.cmd);
}

static void
test_parse_callback_failure_propagates(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	g.fail_id = O_EXCLUDE;
	assert_int_equal(parse(&g, &out, ARGV("backup", "--exclude", "[",
	    "/p")), -1);
	assert_string_equal(out.msg, "bad [");
	assert_int_equal(parse(&g, &out, ARGV("--exclude=]", "backup")), -1);
	assert_string_equal(out.msg, "bad ]");
	assert_int_equal(g.n, 0);
}

static void
test_parse_double_dash_ends_options(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("backup", "-v", "--", "-x",
	    "/p")), 0);
	assert_int_equal(out.cmd->id, C_BACKUP);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], O_VERBOSE);
	assert_args(&out, 2, "-x", "/p");

	g.n = 0;
	assert_int_equal(parse(&g, &out, ARGV("backup", "/p", "--",
	    "--exclude")), 0);
	assert_int_equal(g.n, 0);
	assert_args(&out, 2, "/p", "--exclude");
}

static void
test_parse_no_command(void **state)
{
	struct got g = { 0 };
	struct kl_ref_parsed out;

	assert_int_equal(parse(&g, &out, ARGV("-v")), 0);
	assert_null(out.cmd);
	assert_null(out.unknown);
	assert_int_equal(out.help, 0);
	assert_int_equal(out.nargs, 0);
	assert_int_equal(g.n, 1);
}

static void
test_lookups(void **state)
{
	char *w[] = { "key", "add", "x" };
	char *b[] = { "backup", "add" };
	int used;

	assert_ptr_equal(kl_ref_cmd_find(&ref, w, 3, &used), &cmds[1]);
	assert_int_equal(used, 2);
	assert_null(kl_ref_cmd_find(&ref, w, 1, &used));
	assert_int_equal(used, 0);
	assert_ptr_equal(kl_ref_cmd_find(&ref, b, 2, &used), &cmds[3]);
	assert_int_equal(used, 1);
	assert_null(kl_ref_cmd_find(&ref, b, 0, &used));

	assert_ptr_equal(kl_ref_opt_find(&ref, "repository"), &opts[2]);
	assert_ptr_equal(kl_ref_opt_find(&ref, "repo"), &opts[2]);
	assert_null(kl_ref_opt_find(&ref, "rep"));
	assert_ptr_equal(kl_ref_opt_by_id(&ref, O_DRY_RUN), &opts[5]);
	assert_null(kl_ref_opt_by_id(&ref, 99));

	assert_true(kl_ref_cmd_takes(&cmds[0], &opts[1]));	/* global */
	assert_false(kl_ref_cmd_takes(&cmds[0], &opts[4]));
	assert_true(kl_ref_cmd_takes(&cmds[3], &opts[4]));
	assert_false(kl_ref_cmd_takes(&cmds[3], &opts[3]));
}

/* ---- profiles ---- */

#define SET_MAX 8

struct conf {
	char text[1024];
	struct kl_ref_setting s[SET_MAX];
	unsigned line;
	char msg[KL_REF_MSG_MAX];
};

static long
conf_parse(struct conf *c, const char *text, size_t max)
{
	assert_true(strlen(text) < sizeof(c->text));
	strcpy(c->text, text);
	c->line = 0;
	c->msg[0] = '\0';
	return kl_ref_conf_parse(&ref, c->text, c->s, max, &c->line, c->msg,
	    sizeof(c->msg));
}

static void
assert_setting(const struct conf *c, size_t i, int id, const char *value,
    unsigned line)
{
	assert_int_equal(c->s[i].o->id, id);
	assert_string_equal(c->s[i].value, value);
	assert_int_equal(c->s[i].line, line);
	/* values point into the text given */
	assert_true(c->s[i].value >= c->text &&
	    c->s[i].value < c->text + sizeof(c->text));
}

static void
test_conf_valid_profile(void **state)
{
	struct conf c;

	assert_int_equal(conf_parse(&c,
	    "# a profile\r\n"
	    "\r\n"
	    "repo = /srv/backup  \r\n"
	    "   exclude=*.o\r\n"
	    "\t# an indented comment\n"
	    "  \t \n"
	    "exclude =  /tmp/a b \t\n"
	    "dry-run\t=\tyes\n"
	    "key-file = /k=v", SET_MAX), 5);
	assert_setting(&c, 0, O_REPO, "/srv/backup", 3);
	assert_setting(&c, 1, O_EXCLUDE, "*.o", 4);
	assert_setting(&c, 2, O_EXCLUDE, "/tmp/a b", 7);
	assert_setting(&c, 3, O_DRY_RUN, "yes", 8);
	assert_setting(&c, 4, O_KEY_FILE, "/k=v", 9);
	assert_true(c.s[4].o->flags & KL_REF_CONF_SECRET);
}

static void
test_conf_empty_and_comments_only(void **state)
{
	struct conf c;

	assert_int_equal(conf_parse(&c, "", SET_MAX), 0);
	assert_int_equal(conf_parse(&c, "# x = y\n\n   \n#\n", SET_MAX), 0);
	assert_int_equal(conf_parse(&c, "repo = a\n", 1), 1);
}

static void
assert_conf_error(const char *text, size_t max, unsigned line,
    const char *msg)
{
	struct conf c;

	assert_int_equal(conf_parse(&c, text, max), -1);
	assert_string_equal(c.msg, msg);
	assert_int_equal(c.line, line);
}

static void
test_conf_line_without_equals(void **state)
{
	assert_conf_error("repo = a\n\njust words\nexclude = b\n", SET_MAX, 3,
	    "line 3: not \"key = value\"");
	assert_conf_error("\r\n# c\r\nrepo\r\n", SET_MAX, 3,
	    "line 3: not \"key = value\"");
}

static void
test_conf_unknown_key(void **state)
{
	assert_conf_error("\n\nfrob = 1\n", SET_MAX, 3,
	    "line 3: unknown key \"frob\"");
	assert_conf_error(" = 1\n", SET_MAX, 1, "line 1: unknown key \"\"");
	assert_conf_error("--repo = a\n", SET_MAX, 1,
	    "line 1: unknown key \"--repo\"");
}

static void
test_conf_option_that_is_no_key(void **state)
{
	assert_conf_error("repo = a\nverbose = yes\n", SET_MAX, 2,
	    "line 2: unknown key \"verbose\"");
	assert_conf_error("help = yes\n", SET_MAX, 1,
	    "line 1: unknown key \"help\"");
}

static void
test_conf_alias_is_no_key(void **state)
{
	assert_conf_error("# c\nrepository = /srv\n", SET_MAX, 2,
	    "line 2: unknown key \"repository\"");
}

static void
test_conf_empty_value(void **state)
{
	assert_conf_error("exclude = a\nrepo =   \t\r\n", SET_MAX, 2,
	    "line 2: repo has no value");
	assert_conf_error("\n\n\ndry-run=", SET_MAX, 4,
	    "line 4: dry-run has no value");
}

static void
test_conf_key_twice(void **state)
{
	assert_conf_error("repo = a\n# c\n\nrepo = b\n", SET_MAX, 4,
	    "line 4: repo was set on line 1 already");
	assert_conf_error("exclude = x\ndry-run = yes\nexclude = y\n"
	    "dry-run = no\n", SET_MAX, 4,
	    "line 4: dry-run was set on line 2 already");
}

static void
test_conf_more_than_max(void **state)
{
	assert_conf_error("exclude = a\n# c\nexclude = b\n\nexclude = c\n",
	    2, 5, "line 5: more than 2 settings");
	assert_conf_error("repo = a\n", 0, 1, "line 1: more than 0 settings");
}

/* A mutated profile: a count in range, or -1 with a message. */
struct mut {
	size_t runs;
	size_t errors;
};

#define MUT_MAX 8

static int
mut_conf(const uint8_t *p, size_t len, void *arg)
{
	struct mut *m = arg;
	struct kl_ref_setting s[MUT_MAX];
	char msg[KL_REF_MSG_MAX] = "";
	unsigned line = 0, prev = 0;
	char *text;
	long r, i;
	size_t vl;

	/* exactly len + 1 bytes: a read past the end is an ASan report */
	if ((text = malloc(len + 1)) == NULL)
		abort();
	memcpy(text, p, len);
	text[len] = '\0';
	r = kl_ref_conf_parse(&ref, text, s, MUT_MAX, &line, msg,
	    sizeof(msg));
	m->runs++;
	if (r < 0) {
		assert_int_equal(r, -1);
		assert_true(msg[0] != '\0');
		assert_true(strncmp(msg, "line ", 5) == 0);
		assert_true(line >= 1);
		m->errors++;
	}
	assert_true(r <= MUT_MAX);
	for (i = 0; i < r; i++) {
		assert_non_null(s[i].o);
		assert_true(s[i].o->flags & KL_REF_CONF);
		assert_true(s[i].value >= text && s[i].value < text + len);
		vl = strlen(s[i].value);
		assert_true(vl > 0 && s[i].value + vl <= text + len);
		assert_true(s[i].line > prev && s[i].line <= line);
		prev = s[i].line;
	}
	free(text);
	return r < 0 ? -1 : 0;
}

static void
test_conf_mutations(void **state)
{
	static const char valid[] =
	    "# profile\n"
	    "repo = /srv/backup\n"
	    "\n"
	    "exclude = *.o\n"
	    "  exclude=/tmp\r\n"
	    "dry-run = yes\n"
	    "key-file = /etc/demo/key\n";
	struct mut m = { 0, 0 };
	size_t flips_ok = 0, trunc_ok;

	assert_int_equal(mut_conf((const uint8_t *)valid, strlen(valid), &m),
	    0);
	trunc_ok = mutate_run((const uint8_t *)valid, strlen(valid), mut_conf,
	    &m, &flips_ok);
	/* Both outcomes were seen, so the checks above ran on each: the empty
	 * truncation parses, a flip of '=' does not. */
	assert_true(trunc_ok > 0 && trunc_ok < strlen(valid));
	assert_true(flips_ok > 0 && flips_ok < strlen(valid) * 8);
	assert_true(m.errors > 0 && m.errors < m.runs);
}

/* ---- renderers ---- */

struct mem {
	char *p;
	size_t len;
	FILE *f;
};

static FILE *
mem_open(struct mem *m)
{
	m->p = NULL;
	m->len = 0;
	m->f = open_memstream(&m->p, &m->len);
	assert_non_null(m->f);
	return m->f;
}

/* The text written; the caller frees it. */
static char *
mem_close(struct mem *m)
{
	assert_int_equal(fclose(m->f), 0);
	assert_non_null(m->p);
	assert_int_equal(strlen(m->p), m->len);
	return m->p;
}

/* Every line of s at most max columns (no tabs in terminal output). */
static void
assert_lines_within(const char *s, size_t max)
{
	const char *nl;
	size_t l;

	for (; *s != '\0'; s = nl + 1) {
		nl = strchr(s, '\n');
		assert_non_null(nl);	/* every line ends */
		l = (size_t)(nl - s);
		if (l > max)
			fail_msg("line of %zu columns: %.*s", l, (int)l, s);
		assert_null(memchr(s, '\t', l));
	}
}

/* How many lines start with exactly n spaces and then a word. */
static size_t
indented_lines(const char *s, size_t n)
{
	const char *nl;
	size_t k = 0;

	for (; *s != '\0'; s = nl + 1) {
		if (strspn(s, " ") == n && s[n] != '\n' && s[n] != '\0')
			k++;
		if ((nl = strchr(s, '\n')) == NULL)
			break;
	}
	return k;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

static void
test_help_command(void **state)
{
	struct mem m;
	char *s;

	assert_int_equal(kl_ref_help(mem_open(&m), &ref, "backup"), 0);
	s = mem_close(&m);
	assert_prefix(s, "usage: demo backup [options] PATH...\n\n");
	assert_contains(s, "\nBack up the paths given");
	assert_contains(s, "Reads every path.");
	assert_contains(s, "  -r, --repo URL ");
	assert_contains(s, "  --exclude GLOB|PATH ");
	assert_contains(s, "  -n, --dry-run ");
	assert_contains(s, "Also --repository.");
	assert_int_equal(count(s, "Repeatable."), 1);
	assert_contains(s, "GLOB | PATH. Repeatable.");
	assert_contains(s, "\n  demo backup -r /srv/backup /home\n"
	    "  . ~/.demo-env; demo backup --exclude '*.o' /src\n");
	assert_lacks(s, "--key-file");
	assert_lacks(s, "--verbose");
	assert_lines_within(s, 79);
	free(s);

	assert_int_equal(kl_ref_help(mem_open(&m), &ref, "key add"), 0);
	s = mem_close(&m);
	assert_prefix(s, "usage: demo key add [options] NAME "
	    "[PUBLIC-KEY-FILE...]\n\n");
	/* a label too long for the column: the help on a line of its own */
	assert_contains(s, "\n  --key-file KEY-FILE-PATH\n"
	    "                        .key files hold the key.\n");
	assert_contains(s, "\n  demo key add laptop\n");
	assert_lacks(s, "key list");
	free(s);
}

static void
test_help_group_prints_each_sub_command(void **state)
{
	struct mem m;
	char *s;

	assert_int_equal(kl_ref_help(mem_open(&m), &ref, "key"), 0);
	s = mem_close(&m);
	assert_contains(s, "usage: demo key add [options] NAME "
	    "[PUBLIC-KEY-FILE...]\n");
	assert_contains(s, "usage: demo key list\n");
	assert_contains(s, "Add a key.");
	assert_contains(s, "List the keys.");
	assert_contains(s, "demo --help.\n\nusage: demo key list\n");
	assert_lacks(s, "backup");
	free(s);
}

static void
test_help_unknown_name(void **state)
{
	struct mem m;
	char *s;

	assert_int_equal(kl_ref_help(mem_open(&m), &ref, "frob"), -1);
	s = mem_close(&m);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(kl_ref_help(mem_open(&m), &ref, "ke"), -1);
	free(mem_close(&m));
	assert_int_equal(kl_ref_help(mem_open(&m), &ref, ""), -1);
	free(mem_close(&m));
}

/* Every line that starts with '.' or '\'' is a request of ours. */
static void
assert_roff_requests(const char *s)
{
	static const char *const req[] = { ".\\\" ", ".TH ", ".SH ", ".SS ",
	    ".TP\n", ".PP\n", ".RS 4\n", ".RE\n", ".nf\n", ".fi\n" };
	const char *nl;
	size_t i;

	for (; *s != '\0'; s = nl + 1) {
		nl = strchr(s, '\n');
		assert_non_null(nl);
		if (*s != '.' && *s != '\'')
			continue;
		for (i = 0; i < sizeof(req) / sizeof(req[0]); i++)
			if (strncmp(s, req[i], strlen(req[i])) == 0)
				break;
		if (i == sizeof(req) / sizeof(req[0]))
			fail_msg("a text line read as a request: %.*s",
			    (int)(nl - s), s);
	}
}

static char *
man(void)
{
	struct mem m;

	kl_ref_man(mem_open(&m), &ref);
	return mem_close(&m);
}

static void
test_man_page(void **state)
{
	char *s, *opt, *cmd;

	assert_int_equal(setenv("SOURCE_DATE_EPOCH", "0", 1), 0);
	s = man();
	assert_int_equal(unsetenv("SOURCE_DATE_EPOCH"), 0);
	assert_prefix(s, ".\\\" Generated from");
	assert_contains(s, "\n.TH \"DEMO\" 1 \"1970-01-01\" \"kluis 9.9.9\"");
	assert_contains(s, "\n.SH NAME\ndemo \\- back up files\n");
	/* '-' in option names */
	assert_contains(s, "\\fB\\-\\-dry\\-run\\fR");
	assert_contains(s, "\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR");
	assert_contains(s,
	    "\\fB\\-\\-key\\-file\\fR \\fIKEY\\-FILE\\-PATH\\fR");
	assert_lacks(s, "dry-run");
	/* text lines that roff would take for requests */
	assert_contains(s, "\n\\&.key files hold the key.\n");
	assert_contains(s, "\n\\&'dry' runs change nothing.\n");
	/* a backslash */
	assert_contains(s, "C:\\ebackup");
	assert_lacks(s, "C:\\backup");
	assert_contains(s, "Repeatable.");
	assert_contains(s, "Also \\fB\\-\\-repository\\fR.");
	assert_contains(s, ".SS \"key add NAME [PUBLIC\\-KEY\\-FILE...]\"\n");
	/* an example line that starts with '.' */
	assert_contains(s, "\n\\&. ~/.demo\\-env; demo backup \\-\\-exclude");
	assert_contains(s, ".SH ENVIRONMENT\n.TP\n\\fBDEMO_REPO\\fR\n"
	    "The default repository.\n.PP\n.RS 4\n.nf\ndemo backup /home\n");
	assert_roff_requests(s);
	/* OPTIONS: the global ones only */
	opt = strstr(s, "\n.SH OPTIONS\n");
	cmd = strstr(s, "\n.SH COMMANDS\n");
	assert_true(opt != NULL && cmd != NULL && opt < cmd);
	*cmd = '\0';
	assert_contains(opt, "\\fB\\-\\-help\\fR");
	assert_contains(opt, "\\fB\\-\\-verbose\\fR");
	assert_lacks(opt, "\\-\\-exclude");
	assert_lacks(opt, "\\-\\-repo");
	free(s);
}

static void
test_man_page_undated_without_source_date_epoch(void **state)
{
	char *s;

	assert_int_equal(unsetenv("SOURCE_DATE_EPOCH"), 0);
	s = man();
	assert_contains(s, "\n.TH \"DEMO\" 1 \"\" \"kluis 9.9.9\"");
	free(s);
	assert_int_equal(setenv("SOURCE_DATE_EPOCH", "86400", 1), 0);
	s = man();
	assert_int_equal(unsetenv("SOURCE_DATE_EPOCH"), 0);
	assert_contains(s, "\n.TH \"DEMO\" 1 \"1970-01-02\" ");
	free(s);
	assert_int_equal(setenv("SOURCE_DATE_EPOCH", "86399", 1), 0);
	s = man();
	assert_int_equal(unsetenv("SOURCE_DATE_EPOCH"), 0);
	assert_contains(s, "\n.TH \"DEMO\" 1 \"1970-01-01\" ");
	free(s);
}

static void
test_man_conf_lists_only_profile_keys(void **state)
{
	struct mem m;
	char *s;

	assert_int_equal(setenv("SOURCE_DATE_EPOCH", "0", 1), 0);
	kl_ref_man_conf(mem_open(&m), &ref, &conf_ref);
	assert_int_equal(unsetenv("SOURCE_DATE_EPOCH"), 0);
	s = mem_close(&m);
	assert_contains(s, "\n.TH \"DEMO.CONF\" 5 \"1970-01-01\" ");
	assert_contains(s, ".SH KEYS\n");
	assert_contains(s, ".TP\n\\fBrepo\\fR = \\fIURL\\fR\n"
	    "Where the backups go.\n");
	assert_contains(s, ".TP\n\\fBkey\\-file\\fR = "
	    "\\fIKEY\\-FILE\\-PATH\\fR\nThe key file of the profile.\n");
	assert_contains(s, ".TP\n\\fBexclude\\fR = \\fIGLOB|PATH\\fR\n");
	assert_contains(s, ".TP\n\\fBdry\\-run\\fR = \\fIyes|no\\fR\n");
	assert_int_equal(count(s, ".TP\n"), 4);
	assert_lacks(s, "verbose");
	assert_lacks(s, "help");
	assert_lacks(s, "repository");
	assert_lacks(s, ".key files");	/* conf_help instead */
	assert_lacks(s, "\\-\\-");
	assert_roff_requests(s);
	free(s);
}

static void
test_markdown_command(void **state)
{
	struct mem m;
	char *s;

	assert_int_equal(kl_ref_markdown(mem_open(&m), &ref, "backup"), 0);
	s = mem_close(&m);
	assert_prefix(s, "```\ndemo backup [options] PATH...\n```\n\n"
	    "back up the paths given");
	assert_contains(s, "| Option | Meaning |\n|---|---|\n");
	assert_contains(s, "| `--exclude GLOB\\|PATH` | Leaves out what "
	    "matches GLOB \\| PATH. Repeatable. |\n");
	assert_contains(s, "| `-r, --repo URL` | Where the backups go. "
	    "Also `--repository`. |\n");
	assert_contains(s, "\n```sh\ndemo backup -r /srv/backup /home\n");
	assert_lacks(s, "--verbose");
	free(s);

	assert_int_equal(kl_ref_markdown(mem_open(&m), &ref, "key add"), 0);
	s = mem_close(&m);
	assert_contains(s, "| `--key-file KEY-FILE-PATH` |");
	free(s);
}

static void
test_markdown_unknown_command(void **state)
{
	struct mem m;

	assert_int_equal(kl_ref_markdown(mem_open(&m), &ref, "frob"), -1);
	free(mem_close(&m));
	assert_int_equal(kl_ref_markdown(mem_open(&m), &ref, "back"), -1);
	free(mem_close(&m));
}

static void
test_markdown_global_options(void **state)
{
	struct mem m;
	char *s;

	assert_int_equal(kl_ref_markdown(mem_open(&m), &ref, ""), 0);
	s = mem_close(&m);
	assert_prefix(s, "| Option | Meaning |\n|---|---|\n| `-h, --help` | "
	    "Shows the help of a command. |\n| `-v, --verbose` | Says more");
	assert_int_equal(count(s, "\n"), 4);
	assert_lacks(s, "--repo");
	free(s);
}

static void
test_usage_wraps_at_79_columns(void **state)
{
	struct mem m;
	char *s;

	kl_ref_usage(mem_open(&m), &ref);
	s = mem_close(&m);
	assert_prefix(s, "usage: demo [options] COMMAND [ARGS]\n\ncommands:\n");
	assert_contains(s, "  init ");
	/* a synopsis too long for the column: the summary below it */
	assert_contains(s, "\n  key add NAME [PUBLIC-KEY-FILE...]\n"
	    "                                add a key\n");
	assert_contains(s, "  key list ");
	assert_contains(s, "  backup PATH... ");
	assert_contains(s, "  -v, --verbose ");
	assert_lacks(s, "--exclude");
	/* the long summary and help went on over more lines, indented */
	assert_true(indented_lines(s, 32) >= 2);
	assert_true(indented_lines(s, 24) >= 2);
	assert_contains(s, "new snapshot");
	assert_contains(s, "with its size.");
	assert_lines_within(s, 79);
	free(s);
}

static void
test_cmd_list(void **state)
{
	struct mem m;
	char *s;

	kl_ref_cmd_list(mem_open(&m), &ref);
	s = mem_close(&m);
	assert_string_equal(s, "init, key, backup");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_options_before_and_after_command),
		cmocka_unit_test(
		    test_parse_long_value_with_equals_and_separate),
		cmocka_unit_test(test_parse_short_option_with_value),
		cmocka_unit_test(test_parse_alias_is_the_option),
		cmocka_unit_test(test_parse_repeatable_handed_over_in_order),
		cmocka_unit_test(test_parse_two_word_command_and_its_args),
		cmocka_unit_test(test_parse_unknown_option_before_command),
		cmocka_unit_test(test_parse_unknown_option_after_command),
		cmocka_unit_test(test_parse_missing_value),
		cmocka_unit_test(test_parse_option_the_command_does_not_take),
		cmocka_unit_test(test_parse_global_option_accepted_everywhere),
		cmocka_unit_test(test_parse_help_stops_checking),
		cmocka_unit_test(test_parse_unknown_command_is_not_an_error),
		cmocka_unit_test(test_parse_group_word_alone),
		cmocka_unit_test(test_parse_callback_failure_propagates),
		cmocka_unit_test(test_parse_double_dash_ends_options),
		cmocka_unit_test(test_parse_no_command),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_conf_valid_profile),
		cmocka_unit_test(test_conf_empty_and_comments_only),
		cmocka_unit_test(test_conf_line_without_equals),
		cmocka_unit_test(test_conf_unknown_key),
		cmocka_unit_test(test_conf_option_that_is_no_key),
		cmocka_unit_test(test_conf_alias_is_no_key),
		cmocka_unit_test(test_conf_empty_value),
		cmocka_unit_test(test_conf_key_twice),
		cmocka_unit_test(test_conf_more_than_max),
		cmocka_unit_test(test_conf_mutations),
		cmocka_unit_test(test_help_command),
		cmocka_unit_test(test_help_group_prints_each_sub_command),
		cmocka_unit_test(test_help_unknown_name),
		cmocka_unit_test(test_man_page),
		cmocka_unit_test(
		    test_man_page_undated_without_source_date_epoch),
		cmocka_unit_test(test_man_conf_lists_only_profile_keys),
		cmocka_unit_test(test_markdown_command),
		cmocka_unit_test(test_markdown_unknown_command),
		cmocka_unit_test(test_markdown_global_options),
		cmocka_unit_test(test_usage_wraps_at_79_columns),
		cmocka_unit_test(test_cmd_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
