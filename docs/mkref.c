/*
 * kluis-mkref: prints the man pages and the docs' generated blocks from the
 * programs' option tables (client/cli_ref.c, repo-server/server_ref.c) and
 * from the files operators copy.  Run by the build, not installed
 * (docs/ARCHITECTURE.md "One reference").
 *
 * usage: kluis-mkref man kluis|kluis-server|kluis.conf
 *        kluis-mkref sync ROOT FILE [--check]
 *
 * sync rewrites every block of FILE that starts with a line
 * "<!-- ref: PROG [COMMAND] -->" and ends with "<!-- /ref -->" with the
 * generated text (no COMMAND: the options of every command), and every
 * block "<!-- file: PATH [LANG] -->" ... "<!-- /file -->" with the file
 * ROOT/PATH (the snippets an operator copies live once, as files that are
 * tested); with --check it changes nothing and exits 1 when FILE is not up
 * to date.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/cliref.h"

extern const struct kl_ref cli_ref, cli_conf_ref, server_ref;

#define FILE_MAX (4 << 20)

static const struct kl_ref *
ref_named(const char *name)
{
	if (strcmp(name, "kluis") == 0)
		return &cli_ref;
	if (strcmp(name, "kluis-server") == 0)
		return &server_ref;
	return NULL;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	int bad;

	if (f == NULL)
		return NULL;
	b = malloc(FILE_MAX + 2);
	*len = b != NULL ? fread(b, 1, FILE_MAX + 1, f) : 0;
	bad = b == NULL || ferror(f) || *len > FILE_MAX;
	fclose(f);
	if (bad) {	/* never half a file: sync would write it back */
		fprintf(stderr, "%s: unreadable or larger than %d bytes\n",
		    path, FILE_MAX);
		free(b);
		return NULL;
	}
	b[*len] = '\0';
	return b;
}

/* The file ROOT/rel as a fenced block of lang ("" none); -1 if missing. */
static int
file_block(FILE *out, const char *root, const char *rel, const char *lang)
{
	char path[4096];
	char *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if ((text = slurp(path, &len)) == NULL)
		return -1;
	fprintf(out, "```%s\n", lang);
	fwrite(text, 1, len, out);
	if (len > 0 && text[len - 1] != '\n')
		fputc('\n', out);
	fputs("```\n", out);
	free(text);
	return 0;
}

/*
 * Writes text with its generated blocks regenerated into out:
 *   <!-- ref: PROG [COMMAND] -->   the reference of a command
 *   <!-- file: PATH [LANG] -->     a file of the tree (ROOT/PATH), fenced
 * each closed by the next <!-- /ref --> or <!-- /file -->.
 */
static int
sync_text(const char *path, const char *root, const char *text, FILE *out)
{
	const char *p = text, *open, *close, *eol, *r, *f;
	char a[256], b[64];
	const struct kl_ref *ref;
	int n, is_ref;

	for (;;) {
		r = strstr(p, "<!-- ref: ");
		f = strstr(p, "<!-- file: ");
		if (r == NULL && f == NULL)
			break;
		is_ref = f == NULL || (r != NULL && r < f);
		open = is_ref ? r : f;
		eol = strchr(open, '\n');
		close = strstr(open, is_ref ? "<!-- /ref -->" : "<!-- /file -->");
		/* an unclosed block must not swallow the text up to the next
		 * block's end */
		r = eol != NULL ? strstr(eol, "<!-- ref: ") : NULL;
		f = eol != NULL ? strstr(eol, "<!-- file: ") : NULL;
		if (eol == NULL || close == NULL || (r != NULL && r < close) ||
		    (f != NULL && f < close)) {
			fprintf(stderr, "%s: a generated block is not closed: "
			    "%.*s\n", path, eol != NULL ? (int)(eol - open) :
			    40, open);
			return -1;
		}
		*b = '\0';
		n = sscanf(open, is_ref ? "<!-- ref: %255s %63[^-\n]" :
		    "<!-- file: %255s %63[^ -\n]", a, b);
		if (n >= 2) {	/* "key add " -> "key add" */
			size_t l = strlen(b);

			while (l > 0 && b[l - 1] == ' ')
				b[--l] = '\0';
		}
		fwrite(p, 1, (size_t)(eol + 1 - p), out);
		if (!is_ref) {
			if (n < 1 || file_block(out, root, a, b) != 0) {
				fprintf(stderr, "%s: cannot read %s/%s\n", path,
				    root, a);
				return -1;
			}
		} else if (n < 1 || (ref = ref_named(a)) == NULL) {
			fprintf(stderr, "%s: bad ref block: %.*s\n", path,
			    (int)(eol - open), open);
			return -1;
		} else if (kl_ref_markdown(out, ref, n >= 2 ? b : "") != 0) {
			fprintf(stderr, "%s: %s has no command \"%s\"\n", path,
			    a, b);
			return -1;
		}
		p = close;
	}
	fputs(p, out);
	return 0;
}

static int
do_sync(const char *path, const char *root, int check)
{
	char *text, *out = NULL;
	size_t len, olen = 0;
	FILE *m;
	int rc;

	if ((text = slurp(path, &len)) == NULL) {
		perror(path);
		return 1;
	}
	if ((m = open_memstream(&out, &olen)) == NULL)
		return 1;
	rc = sync_text(path, root, text, m);
	fclose(m);
	if (rc == 0 && (olen != len || memcmp(out, text, len) != 0)) {
		if (check) {
			fprintf(stderr, "%s: the generated blocks are out of "
			    "date: run 'BUILD/docs/kluis-mkref sync %s %s'\n",
			    path, root, path);
			rc = 1;
		} else {	/* a new file renamed over: never half a doc */
			char tmp[4200];
			FILE *f;
			int ok;

			snprintf(tmp, sizeof(tmp), "%s.mkref-tmp", path);
			if ((f = fopen(tmp, "wb")) == NULL)
				ok = 0;
			else {
				ok = fwrite(out, 1, olen, f) == olen;
				ok = fclose(f) == 0 && ok;
				ok = ok && rename(tmp, path) == 0;
			}
			if (!ok) {
				perror(path);
				remove(tmp);
				rc = 1;
			}
		}
	}
	free(text);
	free(out);
	return rc != 0;
}

int
main(int argc, char **argv)
{
	const struct kl_ref *ref;

	if (argc == 3 && strcmp(argv[1], "man") == 0) {
		if (strcmp(argv[2], "kluis.conf") == 0) {
			kl_ref_man_conf(stdout, &cli_ref, &cli_conf_ref);
			return 0;
		}
		if ((ref = ref_named(argv[2])) != NULL) {
			kl_ref_man(stdout, ref);
			return 0;
		}
	}
	if (argc >= 4 && strcmp(argv[1], "sync") == 0 &&
	    (argc == 4 || (argc == 5 && strcmp(argv[4], "--check") == 0)))
		return do_sync(argv[3], argv[2], argc == 5);
	fprintf(stderr, "usage: kluis-mkref man kluis|kluis-server|kluis.conf"
	    "\n       kluis-mkref sync ROOT FILE [--check]\n");
	return 2;
}
