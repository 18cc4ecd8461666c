/* Shared command-line plumbing: passphrases, opening, output. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/catalog.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/repo.h"
#include "kluis/text.h"
#include "cli.h"

#define PASS_MAX 4096

void
cli_err(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
cli_warn(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: warning: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
cli_warn_path(void *arg, const char *path, int err, const char *what)
{
	const struct cli *c = arg;

	fprintf(stderr, "%s: warning: %s: %s (%s)\n", c->prog, path, what,
	    kl_strerror(err));
}

int
cli_only(const struct cli *c, unsigned allowed, const char *cmd)
{
	if ((c->seen & ~allowed) == 0)
		return EXIT_OK;
	cli_err(c, "an option given does not apply to \"%s\"; see "
	    "kluis --help", cmd);
	return EXIT_USAGE;
}

int
cli_nargs(const struct cli *c, int min, int max, const char *usage)
{
	if (c->nargs >= min && (max < 0 || c->nargs <= max))
		return EXIT_OK;
	fprintf(stderr, "usage: kluis %s\n", usage);
	return EXIT_USAGE;
}

/* Copies at most one line (without its newline) into secure memory. */
static int
pass_take(const uint8_t *p, size_t n, char **out, size_t *len)
{
	char *s;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n > 0 && (memchr(p, '\n', n) != NULL ||
	    memchr(p, '\0', n) != NULL))
		return KL_E_INVAL;
	if ((s = sodium_malloc(n + 1)) == NULL)
		return KL_E_NOMEM;
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	*len = n;
	return KL_OK;
}

static int
pass_from_file(const char *path, char **out, size_t *len)
{
	struct buf *b = NULL;
	int rc;

	if ((rc = kl_file_read_all(path, PASS_MAX, &b)) != KL_OK)
		return rc;
	rc = pass_take(buf_data(b), buf_size(b), out, len);
	sodium_memzero((void *)(uintptr_t)buf_data(b), buf_size(b));
	buf_free(b);
	return rc;
}

static int
pass_from_command(const char *cmd, char **out, size_t *len)
{
	uint8_t tmp[PASS_MAX];
	size_t n;
	FILE *f;
	int st, rc;

	if ((f = popen(cmd, "r")) == NULL)
		return KL_E_IO;
	n = fread(tmp, 1, sizeof(tmp), f);
	st = pclose(f);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		rc = KL_E_IO;
	else
		rc = pass_take(tmp, n, out, len);
	sodium_memzero(tmp, sizeof(tmp));
	return rc;
}

static int
pass_prompt_once(FILE *tty, const char *prompt, char *line, size_t cap)
{
	struct termios old, noecho;
	int ok;

	/* echo off before the prompt: TCSAFLUSH drops unread input */
	tcgetattr(fileno(tty), &old);
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	fprintf(tty, "%s", prompt);
	fflush(tty);
	ok = fgets(line, (int)cap, tty) != NULL;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	return ok ? KL_OK : KL_E_IO;
}

static int
pass_prompt(const char *what, int confirm, char **out, size_t *len)
{
	char a[PASS_MAX], b[PASS_MAX], prompt[128];
	FILE *tty;
	int rc;

	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return KL_E_INVAL;
	snprintf(prompt, sizeof(prompt), "Enter %s: ", what);
	rc = pass_prompt_once(tty, prompt, a, sizeof(a));
	if (rc == KL_OK && confirm) {
		snprintf(prompt, sizeof(prompt), "Repeat %s: ", what);
		rc = pass_prompt_once(tty, prompt, b, sizeof(b));
		if (rc == KL_OK && strcmp(a, b) != 0)
			rc = KL_E_BADPASS;
	}
	if (rc == KL_OK)
		rc = pass_take((const uint8_t *)a, strlen(a), out, len);
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	fclose(tty);
	return rc;
}

/*
 * A new passphrase (init, key add, key passwd) comes only from a file or
 * the terminal, never from KLUIS_PASSWORD_COMMAND: that command answers
 * "what is the current passphrase", and must not silently become the
 * new one.  An empty passphrase is refused for new keys.
 */
int
cli_password(const struct cli *c, const char *file, enum cli_pw mode,
    const char *what, char **out, size_t *len)
{
	const char *cmd = mode == PW_NEW_KEY ? NULL :
	    getenv("KLUIS_PASSWORD_COMMAND");
	int is_new = mode != PW_CURRENT, rc;

	*out = NULL;
	*len = 0;
	if (cmd != NULL && *cmd == '\0')
		cmd = NULL;
	if (file != NULL)
		rc = pass_from_file(file, out, len);
	else if (cmd != NULL)
		rc = pass_from_command(cmd, out, len);
	else if (isatty(STDIN_FILENO))
		rc = pass_prompt(what, is_new, out, len);
	else {
		cli_err(c, "no %s given and no terminal to ask on: use %s",
		    what, mode == PW_NEW_KEY ? "--new-password-file" :
		    "--password-file, KLUIS_PASSWORD_FILE or "
		    "KLUIS_PASSWORD_COMMAND");
		return EXIT_FATAL;
	}
	if (rc == KL_OK && is_new && *len == 0) {
		cli_password_free(*out, *len);
		*out = NULL;
		cli_err(c, "the %s is empty: refusing it", what);
		return EXIT_FATAL;
	}
	if (rc == KL_OK)
		return EXIT_OK;
	if (file != NULL)
		cli_err(c, "cannot read the %s from %s: %s", what, file,
		    kl_strerror(rc));
	else if (rc == KL_E_BADPASS)
		cli_err(c, "the two entries differ");
	else
		cli_err(c, "cannot read the %s%s: %s", what, cmd ?
		    " from KLUIS_PASSWORD_COMMAND" : "", kl_strerror(rc));
	return EXIT_FATAL;
}

void
cli_password_free(char *p, size_t len)
{
	if (p != NULL) {
		sodium_memzero(p, len);
		sodium_free(p);
	}
}

int
cli_close(const struct cli *c, struct kl_repo *r)
{
	size_t i, n;

	if (r == NULL)
		return 0;
	n = kl_repo_damage_count(r);
	for (i = 0; i < n; i++)
		cli_warn(c, "skipped a damaged repository file: %s",
		    kl_repo_damage_msg(r, i));
	if (n > 0)
		cli_warn(c, "the repository has damage: restore what you need, "
		    "then repair it (docs/RUNBOOK.md \"Damaged repository\")");
	kl_repo_close(r);
	return n > 0;
}

int
cli_exit_for(int rc)
{
	switch (rc) {
	case KL_OK: return EXIT_OK;
	case KL_E_LOCKED: return EXIT_LOCKED;
	case KL_E_BADPASS: case KL_E_PERM: return EXIT_KEY;
	case KL_E_INVAL: return EXIT_USAGE;
	case KL_E_HOSTKEY: case KL_E_CONN: return EXIT_FATAL;
	}
	return EXIT_FATAL;
}

static int
open_failed(struct cli *c, struct kl_repo *r, int rc)
{
	const char *detail = r != NULL ? kl_repo_errmsg(r) : "";

	if (rc == KL_E_NOTFOUND && (r == NULL || *detail == '\0' ||
	    strstr(detail, "config") != NULL)) {
		cli_err(c, "%s is not a kluis repository (no config file); "
		    "check -r/KLUIS_REPOSITORY or run 'kluis init'", c->repo);
		rc = EXIT_NOREPO;
	} else if (rc == KL_E_BADPASS) {
		cli_err(c, "wrong passphrase: no key of %s opens with it",
		    c->key_file ? c->key_file : "this repository");
		rc = EXIT_KEY;
	} else {
		cli_err(c, "cannot open repository %s: %s", c->repo,
		    *detail ? detail : kl_strerror(rc));
		rc = rc == KL_E_INVAL ? EXIT_FATAL : cli_exit_for(rc);
	}
	kl_repo_close(r);
	return rc;
}

/* "kluis: updating the catalog: index 12/40" on one terminal line. */
static void
catalog_progress(void *arg, const char *what, uint64_t done, uint64_t total)
{
	(void)arg;
	fprintf(stderr, "\rkluis: updating the catalog: %s %llu/%llu ", what,
	    (unsigned long long)done, (unsigned long long)total);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

/*
 * Every command that opens a repository opens its catalog too.  A catalog
 * that cannot be opened is not fatal - it is a cache: the command then
 * runs on a temporary one, only slower.
 */
static void
catalog_open(struct cli *c, struct kl_repo *r)
{
	const char *p;
	int state;

	if (kl_repo_catalog_open(r, NULL, &state) != KL_OK) {
		cli_warn(c, "%s; this run uses a temporary catalog (slower)",
		    kl_repo_errmsg(r));
		kl_repo_clear_err(r);
		return;
	}
	p = kl_cat_path(kl_repo_catalog(r));
	if (state == KL_CAT_REPLACED_DAMAGED)
		cli_warn(c, "the catalog %s was damaged; it is rebuilt from the "
		    "repository (the damaged file is kept as %s.damaged)", p, p);
	else if (state == KL_CAT_REPLACED_FOREIGN)
		cli_warn(c, "the catalog %s belonged to another repository; it "
		    "is rebuilt from this one", p);
	else if (state == KL_CAT_REPLACED_NEWER)
		cli_warn(c, "the catalog %s was written by a newer kluis; it is "
		    "rebuilt for this version", p);
	if (!c->quiet && !c->json && isatty(STDERR_FILENO))
		kl_repo_set_progress(r, catalog_progress, c);
}

int
cli_open(struct cli *c, struct kl_repo **out)
{
	struct kl_repo *r = NULL;
	char *pass;
	size_t plen;
	int rc;

	*out = NULL;
	if (c->repo == NULL || *c->repo == '\0') {
		cli_err(c, "no repository given: use -r REPO or "
		    "KLUIS_REPOSITORY");
		return EXIT_USAGE;
	}
	if ((rc = cli_password(c, c->password_file, PW_CURRENT, "repository "
	    "passphrase", &pass, &plen)) != EXIT_OK)
		return rc;
	rc = kl_repo_open(c->repo, c->key_file, pass, plen, &r);
	cli_password_free(pass, plen);
	if (rc != KL_OK)
		return open_failed(c, r, rc);
	kl_repo_set_tree_budget(r, c->tree_budget);
	catalog_open(c, r);
	*out = r;
	return EXIT_OK;
}

void
json_str(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;

	fputc('"', f);
	while (i < len) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i++]);
		else if (p[i] < 0x20)
			fprintf(f, "\\u%04x", p[i++]);
		else if ((l = kl_utf8_len(p + i, len - i)) == 0)
			fprintf(f, "\\u%04x", p[i++]);
		else {
			fwrite(p + i, 1, l, f);
			i += l;
		}
	}
	fputc('"', f);
}

void
json_cstr(FILE *f, const char *s)
{
	json_str(f, s, strlen(s));
}

void
json_id(FILE *f, const struct kl_id *id)
{
	char hex[KL_ID_HEX_LEN + 1];

	kl_id_hex(id, hex);
	fprintf(f, "\"%s\"", hex);
}

void
fmt_time_utc(char *out, size_t len, int64_t s, uint32_t ns)
{
	struct tm tm;
	time_t t = (time_t)s;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%09uZ", base, ns);
}

void
fmt_time_local(char *out, size_t len, int64_t s)
{
	struct tm tm;
	time_t t = (time_t)s;

	localtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		mul = 1024;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (*end != '\0' && strcmp(end + 1, "") != 0 &&
	    strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}
