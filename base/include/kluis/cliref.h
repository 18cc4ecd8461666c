/*
 * A program's command-line reference, once (docs/ARCHITECTURE.md "One
 * reference"): a table of its options and commands that the parser reads
 * to know what exists and what each command takes, and that the help
 * text, the man pages and the generated blocks of docs/CLI.md are printed
 * from.  Nothing of a program's options is written down twice, so none of
 * them can drift from what the parser accepts.
 *
 * Renderers write to the FILE * the caller gives; the parser never
 * prints, it fills a message the caller shows.
 */
#ifndef KLUIS_CLIREF_H
#define KLUIS_CLIREF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Option flags. */
enum {
	KL_REF_GLOBAL = 1u << 0,	/* taken by every command */
	KL_REF_REPEAT = 1u << 1,	/* may be given more than once */
	KL_REF_CONF = 1u << 2,		/* also a profile key (kluis.conf(5)) */
	KL_REF_CONF_SECRET = 1u << 3,	/* that key leads to a secret: the
					 * profile must not be world-readable */
	KL_REF_CONF_BACKUP = 1u << 4,	/* that key applies to backup only */
};

/* Option ids are the caller's, from 1; at most KL_REF_ID_MAX. */
#define KL_REF_ID_MAX 127

struct kl_ref_opt {
	int id;
	const char *name;	/* long name without "--" */
	const char *alias;	/* a second long name, or NULL */
	char short_name;	/* 0: none */
	const char *arg;	/* value placeholder ("FILE"); NULL: a flag */
	unsigned flags;
	const char *help;	/* sentences; '\n' starts a paragraph */
	const char *conf_help;	/* as a profile key, when that differs */
};

struct kl_ref_cmd {
	int id;			/* the caller's, from 1 */
	const char *name;	/* "backup", or two words: "key add" */
	const char *args;	/* positional synopsis ("PATH..."), or "" */
	const char *summary;	/* one line, no full stop */
	const char *text;	/* sentences ('\n': paragraph), or NULL */
	const int *opts;	/* option ids it takes, 0-terminated; NULL:
				 * none besides the global ones */
	const char *example;	/* shell lines ('\n' between), or NULL */
};

/* A section of prose in a man page ("ENVIRONMENT", "EXIT STATUS"). */
struct kl_ref_sect {
	const char *title;
	/* Paragraphs separated by '\n'; a paragraph whose first character
	 * is '\t' is a tagged item: the tag up to the next '\t', then its
	 * text; one starting with '$' is a line of shell, printed as it is. */
	const char *text;
};

struct kl_ref {
	const char *prog;		/* "kluis" */
	int section;			/* man section: 1, 8 */
	const char *version;		/* "0.1.0" */
	const char *what;		/* NAME line: "prog \- what" */
	const char *synopsis;		/* after prog: "[OPTIONS] COMMAND ..." */
	const char *text;		/* DESCRIPTION */
	const struct kl_ref_opt *opts;
	size_t nopts;
	const struct kl_ref_cmd *cmds;
	size_t ncmds;
	const struct kl_ref_sect *sects;	/* after COMMANDS */
	size_t nsects;
};

/* The command named by words[0] (and words[1] for a two-word name, which
 * wins over a one-word one); *used gets how many words it took.  NULL:
 * none of that name. */
const struct kl_ref_cmd *kl_ref_cmd_find(const struct kl_ref *ref,
    char *const *words, int nwords, int *used);
/* Whether cmd has sub-commands ("key" when "key add" exists). */
int kl_ref_cmd_is_group(const struct kl_ref *ref, const char *name);
const struct kl_ref_opt *kl_ref_opt_find(const struct kl_ref *ref,
    const char *name);
const struct kl_ref_opt *kl_ref_opt_by_id(const struct kl_ref *ref, int id);
/* Whether cmd takes the option (its own or a global one). */
int kl_ref_cmd_takes(const struct kl_ref_cmd *cmd,
    const struct kl_ref_opt *o);

/*
 * Parsing.  argv[0] is the program; options may come before and after
 * the command word (whatever POSIXLY_CORRECT says), long options as
 * --name VALUE or --name=VALUE, by their whole name only (no
 * abbreviations), "--" ends them.  Each option is handed to fn as it is
 * met (fn returns 0, or -1 with a message of its own in msg); then the
 * command is found from the first positional words (a second word after
 * "--" is an argument, never a sub-command), and every option given is
 * checked to be one the command takes.  argv's positional words are put
 * in order after the command word; out->args points there.
 */
#define KL_REF_MSG_MAX 256
struct kl_ref_parsed {
	const struct kl_ref_cmd *cmd;	/* NULL: no command word */
	char **args;			/* positional words after the command */
	int nargs;
	int help;		/* -h/--help given (cmd may be NULL) */
	const char *unknown;	/* a first word that names no command */
	char msg[KL_REF_MSG_MAX];	/* why it failed */
};
typedef int (*kl_ref_opt_fn)(void *arg, const struct kl_ref_opt *o,
    const char *value, char *msg, size_t msg_len);
/*
 * 0 ok; -1 a usage error (out->msg says which, naming where to look:
 * "unknown option --x (see kluis backup --help)", "option --json takes no
 * value", "option --repo needs a value", "snapshots does not take
 * --target (see kluis snapshots --help)").  An unknown command
 * word is not an error here: out->cmd is NULL and out->unknown names it.
 * -h/--help sets out->help and stops checking.  Not reentrant (getopt).
 */
int kl_ref_parse(const struct kl_ref *ref, int argc, char **argv,
    kl_ref_opt_fn fn, void *arg, struct kl_ref_parsed *out);

/*
 * A profile (kluis.conf(5)): one "key = value" per line, blank lines and
 * lines whose first non-blank character is '#' ignored, spaces around key
 * and value removed; keys are the long names of ref's KL_REF_CONF
 * options; a key that is not KL_REF_REPEAT may appear once; no value may
 * be empty, and a flag's is yes or no.  text is changed in place (values
 * point into it).  Returns the number of settings in out[0, max), or -1
 * with msg "line N: why"
 * (*line = N).  Pure: no I/O.
 */
struct kl_ref_setting {
	const struct kl_ref_opt *o;
	const char *value;
	unsigned line;
};
long kl_ref_conf_parse(const struct kl_ref *ref, char *text,
    struct kl_ref_setting *out, size_t max, unsigned *line, char *msg,
    size_t msg_len);

/*
 * Renderers.  Terminal text is wrapped at 79 columns.
 *  - usage: the synopsis and every command with its summary;
 *  - help: one command's synopsis, text, options, example (a group name
 *    such as "key": each of its sub-commands);
 *  - man: the whole page in roff (man(7)), dated by SOURCE_DATE_EPOCH
 *    when set (reproducible builds), else undated;
 *  - markdown: one command's block for docs/CLI.md ("": the table of
 *    the options every command takes).
 * Return 0, or -1 when name is no command.
 */
void kl_ref_usage(FILE *f, const struct kl_ref *ref);
/* `PROG help [COMMAND]`: the overview for no word, else the help of the
 * command (or group) the first two words name; -1 (nothing printed) when
 * they name none. */
int kl_ref_help_words(FILE *f, const struct kl_ref *ref, char *const *words,
    int nwords);
/* --help as parsed: the command's help, a group's, or the overview. */
void kl_ref_help_parsed(FILE *f, const struct kl_ref *ref,
    const struct kl_ref_parsed *p);
/* The command words, comma-separated ("init, key, backup, ..."). */
void kl_ref_cmd_list(FILE *f, const struct kl_ref *ref);
int kl_ref_help(FILE *f, const struct kl_ref *ref, const char *name);
void kl_ref_man(FILE *f, const struct kl_ref *ref);
int kl_ref_markdown(FILE *f, const struct kl_ref *ref, const char *name);
/*
 * The profile page (kluis.conf(5)): NAME and DESCRIPTION from conf, then
 * every KL_REF_CONF option of ref as a key, then conf's sections.
 */
void kl_ref_man_conf(FILE *f, const struct kl_ref *ref,
    const struct kl_ref *conf);

#endif
