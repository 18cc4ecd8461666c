/* A program's command-line reference: parser tables and renderers
 * (kluis/cliref.h). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kluis/cliref.h"

#define WIDTH 79
#define OPT_COL 24		/* help text column in terminal help */
#define LONG_BASE 256		/* getopt val of long option id: above chars */

/* ---- lookups ---- */

static size_t
word_len(const char *s)
{
	const char *sp = strchr(s, ' ');

	return sp != NULL ? (size_t)(sp - s) : strlen(s);
}

const struct kl_ref_cmd *
kl_ref_cmd_find(const struct kl_ref *ref, char *const *words, int nwords,
    int *used)
{
	const struct kl_ref_cmd *one = NULL;
	size_t i, l;

	*used = 0;
	if (nwords < 1)
		return NULL;
	for (i = 0; i < ref->ncmds; i++) {
		const char *n = ref->cmds[i].name;

		l = word_len(n);
		if (l != strlen(words[0]) || strncmp(n, words[0], l) != 0)
			continue;
		if (n[l] == '\0')
			one = &ref->cmds[i];
		else if (nwords >= 2 && strcmp(n + l + 1, words[1]) == 0) {
			*used = 2;
			return &ref->cmds[i];
		}
	}
	if (one != NULL)
		*used = 1;
	return one;
}

int
kl_ref_cmd_is_group(const struct kl_ref *ref, const char *name)
{
	size_t i, l = strlen(name);

	for (i = 0; i < ref->ncmds; i++)
		if (strncmp(ref->cmds[i].name, name, l) == 0 &&
		    ref->cmds[i].name[l] == ' ')
			return 1;
	return 0;
}

const struct kl_ref_opt *
kl_ref_opt_find(const struct kl_ref *ref, const char *name)
{
	size_t i;

	for (i = 0; i < ref->nopts; i++)
		if (strcmp(ref->opts[i].name, name) == 0 ||
		    (ref->opts[i].alias != NULL &&
		    strcmp(ref->opts[i].alias, name) == 0))
			return &ref->opts[i];
	return NULL;
}

const struct kl_ref_opt *
kl_ref_opt_by_id(const struct kl_ref *ref, int id)
{
	size_t i;

	for (i = 0; i < ref->nopts; i++)
		if (ref->opts[i].id == id)
			return &ref->opts[i];
	return NULL;
}

int
kl_ref_cmd_takes(const struct kl_ref_cmd *cmd, const struct kl_ref_opt *o)
{
	const int *p;

	if (o->flags & KL_REF_GLOBAL)
		return 1;
	for (p = cmd->opts; p != NULL && *p != 0; p++)
		if (*p == o->id)
			return 1;
	return 0;
}

/* ---- parsing ---- */

struct tables {
	struct option *lo;
	char so[2 + 3 * 64];
};

static int
tables_init(struct tables *t, const struct kl_ref *ref, int stop)
{
	size_t i, n = 0, s = 0;

	t->lo = calloc(2 * ref->nopts + 1, sizeof(*t->lo));
	if (t->lo == NULL)
		return -1;
	/* '+': stop at the first positional word; '-': hand every one
	 * over (ch 1), so that no environment changes the order */
	t->so[s++] = stop ? '+' : '-';
	t->so[s++] = ':';
	for (i = 0; i < ref->nopts; i++) {
		const struct kl_ref_opt *o = &ref->opts[i];
		int has = o->arg != NULL ? required_argument : no_argument;

		if (o->id < 1 || o->id > KL_REF_ID_MAX)
			abort();	/* a broken table */
		t->lo[n++] = (struct option){ o->name, has, NULL,
		    LONG_BASE + o->id };
		if (o->alias != NULL)
			t->lo[n++] = (struct option){ o->alias, has, NULL,
			    LONG_BASE + o->id };
		if (o->short_name != 0 && s + 3 < sizeof(t->so)) {
			t->so[s++] = o->short_name;
			if (o->arg != NULL)
				t->so[s++] = ':';
		}
	}
	t->so[s] = '\0';
	return 0;
}

static const struct kl_ref_opt *
opt_by_short(const struct kl_ref *ref, int ch)
{
	size_t i;

	for (i = 0; i < ref->nopts; i++)
		if (ref->opts[i].short_name == ch)
			return &ref->opts[i];
	return NULL;
}

/* "--name" or "-c" as written in argv (without "=value"). */
static void
opt_written(char *out, size_t len, const char *arg)
{
	size_t n = strcspn(arg, "=");

	if (n >= len)
		n = len - 1;
	memcpy(out, arg, n);
	out[n] = '\0';
}

/* Whether argv's word for a long option is its whole name (GNU getopt
 * also takes unique abbreviations, which would make every prefix part of
 * the command line: "--dry" must not become --dry-run). */
static int
whole_name(const char *word, const char *name)
{
	size_t l = strlen(name);

	return strncmp(word, "--", 2) == 0 && strncmp(word + 2, name, l) == 0 &&
	    (word[2 + l] == '\0' || word[2 + l] == '=');
}

/* What went wrong with the option getopt just refused (ch '?' or ':'). */
static void
refused(const struct kl_ref *ref, int ch, char **argv, const char *where,
    struct kl_ref_parsed *out)
{
	const struct kl_ref_opt *o = NULL;
	char w[64];

	if (optopt >= LONG_BASE)
		o = kl_ref_opt_by_id(ref, optopt - LONG_BASE);
	if (o != NULL)
		snprintf(w, sizeof(w), "--%s", o->name);
	else if (optopt > 0 && optopt < LONG_BASE)
		snprintf(w, sizeof(w), "-%c", optopt);
	else
		opt_written(w, sizeof(w), argv[optind - 1]);
	if (ch == ':')
		snprintf(out->msg, sizeof(out->msg), "option %s needs a value "
		    "(see %s --help)", w, where);
	else if (o != NULL)	/* a flag given "=value" */
		snprintf(out->msg, sizeof(out->msg), "option %s takes no value "
		    "(see %s --help)", w, where);
	else
		snprintf(out->msg, sizeof(out->msg), "unknown option %s (see "
		    "%s --help)", w, where);
}

/*
 * One getopt pass over argv[0, argc); where names the help to point to.
 * stop: up to the first positional word (returned: its index).  Else
 * every word: positional ones are gathered, in order, into pos (*npos;
 * *nbefore of them came before "--"), whatever POSIXLY_CORRECT says.
 */
static int
pass(const struct kl_ref *ref, int argc, char **argv, int stop,
    const char *where, kl_ref_opt_fn fn, void *arg, uint8_t *seen,
    char **pos, int *npos, int *nbefore, struct kl_ref_parsed *out)
{
	struct tables t;
	const struct kl_ref_opt *o;
	const char *word;
	int ch, li, rc = 0;

	if (tables_init(&t, ref, stop) != 0) {
		snprintf(out->msg, sizeof(out->msg), "out of memory");
		return -1;
	}
	optind = 0;	/* GNU: a full reset */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, t.so, t.lo, &li)) != -1) {
		if (ch == 1) {	/* a positional word ("-" mode) */
			pos[(*npos)++] = optarg;
			*nbefore = *npos;
			continue;
		}
		if (ch == '?' || ch == ':') {
			refused(ref, ch, argv, where, out);
			rc = -1;
			break;
		}
		if (ch >= LONG_BASE) {
			o = kl_ref_opt_by_id(ref, ch - LONG_BASE);
			word = argv[optind - 1];
			if (optarg != NULL && optarg == word)
				word = argv[optind - 2];
			if (!whole_name(word, t.lo[li].name)) {
				snprintf(out->msg, sizeof(out->msg), "unknown "
				    "option %.*s (see %s --help)",
				    (int)strcspn(word, "="), word, where);
				rc = -1;
				break;
			}
		} else
			o = opt_by_short(ref, ch);
		if (o == NULL)
			abort();	/* getopt returned what we gave it */
		if (strcmp(o->name, "help") == 0) {
			out->help = 1;
			continue;
		}
		seen[o->id] = 1;
		if (fn(arg, o, optarg, out->msg, sizeof(out->msg)) != 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && !stop)	/* what follows "--" */
		while (optind < argc)
			pos[(*npos)++] = argv[optind++];
	free(t.lo);
	return rc < 0 ? rc : optind;
}

int
kl_ref_parse(const struct kl_ref *ref, int argc, char **argv,
    kl_ref_opt_fn fn, void *arg, struct kl_ref_parsed *out)
{
	uint8_t seen[KL_REF_ID_MAX + 1];
	char where[128], **rest, **pos;
	int first, npos = 0, nbefore = 0, used = 0, id, i;

	memset(out, 0, sizeof(*out));
	memset(seen, 0, sizeof(seen));
	/* Up to the command word, which names the help to point to. */
	if ((first = pass(ref, argc, argv, 1, ref->prog, fn, arg, seen, NULL,
	    NULL, NULL, out)) < 0)
		return -1;
	if (first >= argc) {
		out->args = argv + argc;
		return 0;
	}
	snprintf(where, sizeof(where), "%s %s", ref->prog, argv[first]);
	/* The rest, the command word standing in for argv[0]. */
	rest = argv + first;
	if ((pos = calloc((size_t)(argc - first), sizeof(*pos))) == NULL) {
		snprintf(out->msg, sizeof(out->msg), "out of memory");
		return -1;
	}
	if (first > 1 && strcmp(argv[first - 1], "--") == 0) {
		/* "--" came before the command word: no option follows */
		for (i = 1; i < argc - first; i++)
			pos[npos++] = rest[i];
		nbefore = npos;
	} else if (pass(ref, argc - first, rest, 0, where, fn, arg, seen, pos,
	    &npos, &nbefore, out) < 0) {
		free(pos);
		return -1;
	}
	/* The positional words go back into argv, in order, after the
	 * command word: the arguments point there. */
	for (i = 0; i < npos; i++)
		rest[1 + i] = pos[i];
	free(pos);
	/* a second word after "--" is an argument, never a sub-command */
	out->cmd = kl_ref_cmd_find(ref, rest, nbefore > 0 ? 2 : 1, &used);
	if (out->cmd == NULL) {
		out->unknown = rest[0];
		out->args = rest + 1;
		out->nargs = npos;
		return 0;
	}
	out->args = rest + used;
	out->nargs = npos - (used - 1);
	if (out->help)
		return 0;
	for (id = 1; id <= KL_REF_ID_MAX; id++) {
		const struct kl_ref_opt *o;

		if (!seen[id] || (o = kl_ref_opt_by_id(ref, id)) == NULL ||
		    kl_ref_cmd_takes(out->cmd, o))
			continue;
		snprintf(out->msg, sizeof(out->msg), "%s does not take --%s "
		    "(see %s %s --help)", out->cmd->name, o->name, ref->prog,
		    out->cmd->name);
		return -1;
	}
	return 0;
}

/* ---- profiles ---- */

static char *
trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

long
kl_ref_conf_parse(const struct kl_ref *ref, char *text,
    struct kl_ref_setting *out, size_t max, unsigned *line, char *msg,
    size_t msg_len)
{
	char *p = text, *nl, *end, *eq, *key, *val;
	const struct kl_ref_opt *o;
	size_t n = 0, i;
	unsigned no = 0;

	for (; p != NULL; p = nl) {
		*line = ++no;
		if ((nl = strchr(p, '\n')) != NULL)
			end = nl++;
		else
			end = p + strlen(p);
		key = trim(p, end);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(msg, msg_len, "line %u: not \"key = value\"",
			    no);
			return -1;
		}
		val = trim(eq + 1, key + strlen(key));
		key = trim(key, eq);
		o = kl_ref_opt_find(ref, key);
		if (o == NULL || !(o->flags & KL_REF_CONF) ||
		    strcmp(o->name, key) != 0) {
			snprintf(msg, msg_len, "line %u: unknown key \"%.64s\"",
			    no, key);
			return -1;
		}
		if (*val == '\0') {
			snprintf(msg, msg_len, "line %u: %s has no value", no,
			    key);
			return -1;
		}
		if (o->arg == NULL && strcmp(val, "yes") != 0 &&
		    strcmp(val, "no") != 0) {
			snprintf(msg, msg_len, "line %u: %s takes yes or no",
			    no, key);
			return -1;
		}
		for (i = 0; i < n && !(o->flags & KL_REF_REPEAT); i++)
			if (out[i].o == o) {
				snprintf(msg, msg_len, "line %u: %s was set on "
				    "line %u already", no, key, out[i].line);
				return -1;
			}
		if (n == max) {
			snprintf(msg, msg_len, "line %u: more than %zu "
			    "settings", no, max);
			return -1;
		}
		out[n++] = (struct kl_ref_setting){ o, val, no };
	}
	return (long)n;
}

/* ---- terminal text ---- */

/*
 * Writes s wrapped at WIDTH, every line indented by indent, the first by
 * first (the caller has already written that much of the line); '\n' in
 * s starts a paragraph after an empty line.
 */
static void
wrap(FILE *f, const char *s, size_t indent, size_t first)
{
	size_t col = first, l;

	if (col < indent) {
		fprintf(f, "%*s", (int)(indent - col), "");
		col = indent;
	}
	while (*s != '\0') {
		if (*s == '\n') {
			fprintf(f, "\n\n%*s", (int)indent, "");
			col = indent;
			s++;
			continue;
		}
		if (*s == ' ') {
			s++;
			continue;
		}
		l = strcspn(s, " \n");
		if (col > indent && col + 1 + l > WIDTH) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fwrite(s, 1, l, f);
		col += l;
		s += l;
	}
	fputc('\n', f);
}

/* "-r, --repo URL" */
static void
opt_label(char *out, size_t len, const struct kl_ref_opt *o)
{
	const char *sp = o->arg != NULL ? " " : "";
	const char *a = o->arg != NULL ? o->arg : "";

	if (o->short_name != 0)
		snprintf(out, len, "-%c, --%s%s%s", o->short_name, o->name,
		    sp, a);
	else
		snprintf(out, len, "--%s%s%s", o->name, sp, a);
}

static void
opt_help(FILE *f, const struct kl_ref_opt *o)
{
	char label[96], help[2048];
	int n;

	opt_label(label, sizeof(label), o);
	snprintf(help, sizeof(help), "%s%s%s%s%s", o->help,
	    o->flags & KL_REF_REPEAT ? " Repeatable." : "",
	    o->alias != NULL ? " Also --" : "",
	    o->alias != NULL ? o->alias : "", o->alias != NULL ? "." : "");
	fprintf(f, "  %s", label);
	n = (int)strlen(label) + 2;
	if (n + 2 > OPT_COL) {
		fputc('\n', f);
		n = 0;
	}
	wrap(f, help, OPT_COL, (size_t)n);
}

static void
synopsis(FILE *f, const struct kl_ref *ref, const struct kl_ref_cmd *cmd)
{
	fprintf(f, "%s %s%s%s%s\n", ref->prog, cmd->name,
	    cmd->opts != NULL ? " [options]" : "", *cmd->args ? " " : "",
	    cmd->args);
}

static void
example(FILE *f, const char *ex, const char *indent)
{
	const char *nl;

	while (*ex != '\0') {
		nl = strchr(ex, '\n');
		fprintf(f, "%s%.*s\n", indent, nl != NULL ? (int)(nl - ex) :
		    (int)strlen(ex), ex);
		if (nl == NULL)
			break;
		ex = nl + 1;
	}
}

void
kl_ref_cmd_list(FILE *f, const struct kl_ref *ref)
{
	size_t i, j, l;

	for (i = 0; i < ref->ncmds; i++) {
		const char *n = ref->cmds[i].name;

		l = word_len(n);
		for (j = 0; j < i; j++)	/* "key" once for "key add", ... */
			if (word_len(ref->cmds[j].name) == l &&
			    strncmp(ref->cmds[j].name, n, l) == 0)
				break;
		if (j == i)
			fprintf(f, "%s%.*s", i > 0 ? ", " : "", (int)l, n);
	}
}

void
kl_ref_usage(FILE *f, const struct kl_ref *ref)
{
	char line[256];
	size_t i;

	fprintf(f, "usage: %s %s\n", ref->prog, ref->synopsis);
	fputs("\ncommands:\n", f);
	for (i = 0; i < ref->ncmds; i++) {
		const struct kl_ref_cmd *c = &ref->cmds[i];
		int n;

		n = snprintf(line, sizeof(line), "  %s%s%s", c->name,
		    *c->args ? " " : "", c->args);
		fputs(line, f);
		if (n + 2 > OPT_COL + 8) {
			fputc('\n', f);
			n = 0;
		}
		wrap(f, c->summary, OPT_COL + 8, (size_t)n);
	}
	fputs("\noptions for every command:\n", f);
	for (i = 0; i < ref->nopts; i++)
		if (ref->opts[i].flags & KL_REF_GLOBAL)
			opt_help(f, &ref->opts[i]);
	snprintf(line, sizeof(line), "'%s help COMMAND' or '%s COMMAND "
	    "--help' shows a command's options and an example; 'man %s' has "
	    "everything.", ref->prog, ref->prog, ref->prog);
	fputc('\n', f);
	wrap(f, line, 0, 0);
}

/* A summary as a sentence: capital first, full stop last. */
static void
sentence(FILE *f, const char *s)
{
	char b[512];

	snprintf(b, sizeof(b), "%s.", s);
	if (b[0] >= 'a' && b[0] <= 'z')
		b[0] = (char)(b[0] - 'a' + 'A');
	wrap(f, b, 0, 0);
}

static void
cmd_help(FILE *f, const struct kl_ref *ref, const struct kl_ref_cmd *cmd)
{
	const int *p;

	fputs("usage: ", f);
	synopsis(f, ref, cmd);
	fputc('\n', f);
	sentence(f, cmd->summary);
	if (cmd->text != NULL) {
		fputc('\n', f);
		wrap(f, cmd->text, 0, 0);
	}
	if (cmd->opts != NULL && cmd->opts[0] != 0) {
		fputs("\noptions:\n", f);
		for (p = cmd->opts; *p != 0; p++) {
			const struct kl_ref_opt *o = kl_ref_opt_by_id(ref, *p);

			if (o == NULL)
				abort();	/* a broken table */
			opt_help(f, o);
		}
	}
	if (cmd->example != NULL) {
		fputs("\nexample:\n", f);
		example(f, cmd->example, "  ");
	}
	fprintf(f, "\nOptions for every command: %s --help.\n", ref->prog);
}

int
kl_ref_help(FILE *f, const struct kl_ref *ref, const char *name)
{
	size_t i, l = strlen(name);
	int n = 0;

	for (i = 0; i < ref->ncmds; i++) {
		const char *cn = ref->cmds[i].name;

		if (strcmp(cn, name) != 0 && (strncmp(cn, name, l) != 0 ||
		    cn[l] != ' '))
			continue;
		if (n++ > 0)
			fputs("\n", f);
		cmd_help(f, ref, &ref->cmds[i]);
	}
	return n > 0 ? 0 : -1;
}

int
kl_ref_help_words(FILE *f, const struct kl_ref *ref, char *const *words,
    int nwords)
{
	char name[128];

	if (nwords == 0) {
		kl_ref_usage(f, ref);
		return 0;
	}
	snprintf(name, sizeof(name), "%s%s%s", words[0], nwords > 1 ? " " : "",
	    nwords > 1 ? words[1] : "");
	/* "key add" names one command, "key" a group: both print */
	if (kl_ref_help(f, ref, name) == 0)
		return 0;
	return nwords > 1 ? kl_ref_help_words(f, ref, words, 1) : -1;
}

void
kl_ref_help_parsed(FILE *f, const struct kl_ref *ref,
    const struct kl_ref_parsed *p)
{
	if (p->cmd != NULL)
		kl_ref_help(f, ref, p->cmd->name);
	else if (p->unknown == NULL || kl_ref_help(f, ref, p->unknown) != 0)
		kl_ref_usage(f, ref);
}

/* ---- roff ---- */

/* Text for a roff line: escapes, and no line may start with '.' or '\''. */
static void
roff(FILE *f, const char *s, size_t len)
{
	size_t i;
	int bol = 1;

	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (bol && (ch == '.' || ch == '\''))
			fputs("\\&", f);
		bol = 0;
		if (ch == '\\')
			fputs("\\e", f);
		else if (ch == '-')
			fputs("\\-", f);
		else if (ch == '\n') {
			fputc('\n', f);
			bol = 1;
		} else
			fputc(ch, f);
	}
}

static void
roffs(FILE *f, const char *s)
{
	roff(f, s, strlen(s));
}

/* Paragraphs separated by '\n'. */
static void
roff_paras(FILE *f, const char *s)
{
	const char *nl;

	for (;;) {
		nl = strchr(s, '\n');
		fputs(".PP\n", f);
		roff(f, s, nl != NULL ? (size_t)(nl - s) : strlen(s));
		fputc('\n', f);
		if (nl == NULL)
			break;
		s = nl + 1;
	}
}

static void
roff_example(FILE *f, const char *ex)
{
	fputs(".PP\n.RS 4\n.nf\n", f);
	roffs(f, ex);
	fputs("\n.fi\n.RE\n", f);
}

static void
roff_opt(FILE *f, const struct kl_ref_opt *o, int as_key)
{
	fputs(".TP\n", f);
	if (as_key) {
		fputs("\\fB", f);
		roffs(f, o->name);
		fputs("\\fR = \\fI", f);
		roffs(f, o->arg != NULL ? o->arg : "yes|no");
		fputs("\\fR\n", f);
	} else {
		if (o->short_name)
			fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
		fputs("\\fB\\-\\-", f);
		roffs(f, o->name);
		fputs("\\fR", f);
		if (o->arg != NULL) {
			fputs(" \\fI", f);
			roffs(f, o->arg);
			fputs("\\fR", f);
		}
		fputc('\n', f);
	}
	roffs(f, as_key && o->conf_help != NULL ? o->conf_help : o->help);
	if (o->flags & KL_REF_REPEAT)
		fputs(" Repeatable.", f);
	if (!as_key && o->alias != NULL) {
		fputs(" Also \\fB\\-\\-", f);
		roffs(f, o->alias);
		fputs("\\fR.", f);
	}
	if (as_key && (o->flags & KL_REF_CONF_BACKUP))
		fputs(" Used by backup only.", f);
	fputc('\n', f);
}

/* A section's paragraphs: tagged items, shell lines, plain text. */
static void
roff_sect(FILE *f, const struct kl_ref_sect *s)
{
	const char *p = s->text, *nl, *tab;
	size_t len;

	fputs(".SH ", f);
	roffs(f, s->title);
	fputc('\n', f);
	while (*p != '\0') {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (*p == '\t' && (tab = memchr(p + 1, '\t', len - 1)) !=
		    NULL) {
			fputs(".TP\n\\fB", f);
			roff(f, p + 1, (size_t)(tab - p - 1));
			fputs("\\fR\n", f);
			roff(f, tab + 1, len - (size_t)(tab + 1 - p));
			fputc('\n', f);
		} else if (*p == '$') {
			fputs(".PP\n.RS 4\n.nf\n", f);
			while (*p == '$') {	/* consecutive shell lines */
				nl = strchr(p, '\n');
				len = nl != NULL ? (size_t)(nl - p) :
				    strlen(p);
				roff(f, p + 2, len > 2 ? len - 2 : 0);
				fputc('\n', f);
				if (nl == NULL || nl[1] != '$')
					break;
				p = nl + 1;
			}
			fputs(".fi\n.RE\n", f);
		} else {
			fputs(".PP\n", f);
			roff(f, p, len);
			fputc('\n', f);
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static void
roff_head(FILE *f, const char *name, int section, const char *version,
    const char *what)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char date[32] = "";
	const char *p;
	time_t t;
	struct tm tm;

	if (sde != NULL && *sde != '\0') {
		t = (time_t)strtoll(sde, NULL, 10);
		if (gmtime_r(&t, &tm) != NULL)
			strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	}
	fputs(".\\\" Generated from the program's option table "
	    "(base/cliref.c); do not edit.\n.TH \"", f);
	for (p = name; *p != '\0'; p++)
		fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, f);
	fprintf(f, "\" %d \"%s\" \"kluis %s\" \"kluis manual\"\n", section,
	    date, version);
	fputs(".SH NAME\n", f);
	roffs(f, name);
	fputs(" \\- ", f);
	roffs(f, what);
	fputc('\n', f);
}

void
kl_ref_man(FILE *f, const struct kl_ref *ref)
{
	size_t i;
	const int *p;

	roff_head(f, ref->prog, ref->section, ref->version, ref->what);
	fputs(".SH SYNOPSIS\n\\fB", f);
	roffs(f, ref->prog);
	fputs("\\fR ", f);
	roffs(f, ref->synopsis);
	fputs("\n.SH DESCRIPTION\n", f);
	roff_paras(f, ref->text);
	fputs(".SH OPTIONS\nThese options are taken by every command.\n", f);
	for (i = 0; i < ref->nopts; i++)
		if (ref->opts[i].flags & KL_REF_GLOBAL)
			roff_opt(f, &ref->opts[i], 0);
	fputs(".SH COMMANDS\n", f);
	for (i = 0; i < ref->ncmds; i++) {
		const struct kl_ref_cmd *c = &ref->cmds[i];

		fputs(".SS \"", f);
		roffs(f, c->name);
		if (*c->args) {
			fputc(' ', f);
			roffs(f, c->args);
		}
		fputs("\"\n", f);
		roffs(f, c->summary);
		fputs(".\n", f);
		if (c->text != NULL)
			roff_paras(f, c->text);
		if (c->opts != NULL && c->opts[0] != 0) {
			fputs(".PP\nOptions:\n.RS 4\n", f);
			for (p = c->opts; *p != 0; p++)
				roff_opt(f, kl_ref_opt_by_id(ref, *p), 0);
			fputs(".RE\n", f);
		}
		if (c->example != NULL)
			roff_example(f, c->example);
	}
	for (i = 0; i < ref->nsects; i++)
		roff_sect(f, &ref->sects[i]);
}

void
kl_ref_man_conf(FILE *f, const struct kl_ref *ref, const struct kl_ref *conf)
{
	size_t i;

	roff_head(f, conf->prog, conf->section, conf->version, conf->what);
	fputs(".SH DESCRIPTION\n", f);
	roff_paras(f, conf->text);
	fputs(".SH KEYS\n", f);
	for (i = 0; i < ref->nopts; i++)
		if (ref->opts[i].flags & KL_REF_CONF)
			roff_opt(f, &ref->opts[i], 1);
	for (i = 0; i < conf->nsects; i++)
		roff_sect(f, &conf->sects[i]);
}

/* ---- markdown ---- */

static void
md(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

/* One option's row of a markdown table. */
static void
md_opt(FILE *f, const struct kl_ref_opt *o)
{
	char label[96];

	opt_label(label, sizeof(label), o);
	fputs("| `", f);
	md(f, label);
	fputs("` | ", f);
	md(f, o->help);
	if (o->flags & KL_REF_REPEAT)
		fputs(" Repeatable.", f);
	if (o->alias != NULL)
		fprintf(f, " Also `--%s`.", o->alias);
	fputs(" |\n", f);
}

int
kl_ref_markdown(FILE *f, const struct kl_ref *ref, const char *name)
{
	const struct kl_ref_cmd *c = NULL;
	const int *p;
	size_t i;

	if (*name == '\0') {	/* the options of every command */
		fputs("| Option | Meaning |\n|---|---|\n", f);
		for (i = 0; i < ref->nopts; i++)
			if (ref->opts[i].flags & KL_REF_GLOBAL)
				md_opt(f, &ref->opts[i]);
		return 0;
	}
	for (i = 0; i < ref->ncmds; i++)
		if (strcmp(ref->cmds[i].name, name) == 0)
			c = &ref->cmds[i];
	if (c == NULL)
		return -1;
	fputs("```\n", f);
	synopsis(f, ref, c);
	fputs("```\n\n", f);
	md(f, c->summary);
	fputs(".", f);	/* as in the command list: lower case */
	if (c->text != NULL) {
		fputc(' ', f);
		md(f, c->text);
	}
	fputc('\n', f);
	if (c->opts != NULL && c->opts[0] != 0) {
		fputs("\n| Option | Meaning |\n|---|---|\n", f);
		for (p = c->opts; *p != 0; p++)
			md_opt(f, kl_ref_opt_by_id(ref, *p));
	}
	if (c->example != NULL) {
		fputs("\n```sh\n", f);
		example(f, c->example, "");
		fputs("```\n", f);
	}
	return 0;
}
