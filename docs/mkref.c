/*
 * kluis-mkref: prints the man pages and docs/CLI.md's reference blocks from
 * the programs' option tables (client/cli_ref.c, repo-server/server_ref.c),
 * and checks that the docs name no option the programs lack.  Run by the
 * build, not installed (docs/ARCHITECTURE.md "One reference").
 *
 * usage: kluis-mkref man kluis|kluis-server|kluis.conf
 *        kluis-mkref sync FILE [--check]
 *
 * sync rewrites every block of FILE that starts with a line
 * "<!-- ref: PROG [COMMAND] -->" and ends with "<!-- /ref -->" with the
 * generated text (no COMMAND: the options of every command); with --check
 * it changes nothing and exits 1 when FILE is not up to date.
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

	if (f == NULL)
		return NULL;
	b = malloc(FILE_MAX + 1);
	*len = b != NULL ? fread(b, 1, FILE_MAX, f) : 0;
	fclose(f);
	if (b != NULL)
		b[*len] = '\0';
	return b;
}

/* Writes text with its ref blocks regenerated into out. */
static int
sync_text(const char *path, const char *text, FILE *out)
{
	const char *p = text, *open, *close, *eol;
	char prog[64], cmd[64];
	const struct kl_ref *ref;
	int n;

	while ((open = strstr(p, "<!-- ref: ")) != NULL) {
		eol = strchr(open, '\n');
		close = strstr(open, "<!-- /ref -->");
		if (eol == NULL || close == NULL) {
			fprintf(stderr, "%s: a ref block is not closed\n", path);
			return -1;
		}
		*cmd = '\0';
		n = sscanf(open, "<!-- ref: %63s %63[^-\n]", prog, cmd);
		if (n >= 2) {	/* "key add " -> "key add" */
			size_t l = strlen(cmd);

			while (l > 0 && cmd[l - 1] == ' ')
				cmd[--l] = '\0';
		}
		if (n < 1 || (ref = ref_named(prog)) == NULL) {
			fprintf(stderr, "%s: bad ref block: %.*s\n", path,
			    (int)(eol - open), open);
			return -1;
		}
		fwrite(p, 1, (size_t)(eol + 1 - p), out);
		if (kl_ref_markdown(out, ref, n >= 2 ? cmd : "") != 0) {
			fprintf(stderr, "%s: %s has no command \"%s\"\n", path,
			    prog, cmd);
			return -1;
		}
		p = close;
	}
	fputs(p, out);
	return 0;
}

static int
do_sync(const char *path, int check)
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
	rc = sync_text(path, text, m);
	fclose(m);
	if (rc == 0 && (olen != len || memcmp(out, text, len) != 0)) {
		if (check) {
			fprintf(stderr, "%s: the generated reference blocks "
			    "are out of date: run 'BUILD/docs/kluis-mkref sync "
			    "%s'\n", path, path);
			rc = 1;
		} else {
			FILE *f = fopen(path, "wb");

			if (f == NULL || fwrite(out, 1, olen, f) != olen ||
			    fclose(f) != 0) {
				perror(path);
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
	if ((argc == 3 || (argc == 4 && strcmp(argv[3], "--check") == 0)) &&
	    strcmp(argv[1], "sync") == 0)
		return do_sync(argv[2], argc == 4);
	fprintf(stderr, "usage: kluis-mkref man kluis|kluis-server|kluis.conf"
	    "\n       kluis-mkref sync FILE [--check]\n");
	return 2;
}
