/* Shared command-line plumbing: passphrases, opening, output. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
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
#include "kluis/cliref.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/repo.h"
#include "kluis/text.h"
#include "cli.h"

#define PASS_MAX 4096

extern char **environ;

void
cli_putn(FILE *f, const char *s, size_t len)
{
	char e[256];
	size_t used;

	while (len > 0) {
		used = kl_text_esc(e, sizeof(e), s, len);
		fputs(e, f);
		s += used;
		len -= used;
	}
}

void
cli_puts(FILE *f, const char *s)
{
	cli_putn(f, s, strlen(s));
}

void
cli_puts_pad(FILE *f, const char *s, size_t width)
{
	size_t l = kl_text_esc_len(s, strlen(s));

	cli_puts(f, s);
	for (; l < width; l++)
		fputc(' ', f);
}

static void cli_vmsg(const struct cli *c, const char *prefix,
    const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* "PROG: PREFIX<message>\n", the message escaped. */
static void
cli_vmsg(const struct cli *c, const char *prefix, const char *fmt,
    va_list ap)
{
	char *msg = NULL;

	fprintf(stderr, "%s: %s", c->prog, prefix);
	if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;	/* undefined after a failure */
		fputs("(out of memory formatting the message)", stderr);
	} else
		cli_puts(stderr, msg);
	free(msg);
	fputc('\n', stderr);
}

void
cli_err(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(c, "", fmt, ap);
	va_end(ap);
}

void
cli_warn(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(c, "warning: ", fmt, ap);
	va_end(ap);
}

void
cli_warn_path(void *arg, const char *path, int err, const char *what)
{
	const struct cli *c = arg;

	fprintf(stderr, "%s: warning: ", c->prog);
	cli_puts(stderr, path);
	fputs(": ", stderr);
	cli_puts(stderr, what);
	if (err == KL_OK)	/* a notice, not an error (restore's target) */
		fputc('\n', stderr);
	else
		fprintf(stderr, " (%s)\n", kl_strerror(err));
}

int
cli_nargs(const struct cli *c, int min, int max)
{
	if (c->nargs >= min && (max < 0 || c->nargs <= max))
		return EXIT_OK;
	fprintf(stderr, "usage: kluis %s%s%s%s (see kluis %s --help)\n",
	    c->cmd->name, c->cmd->opts != NULL ? " [options]" : "",
	    *c->cmd->args ? " " : "", c->cmd->args, c->cmd->name);
	return EXIT_USAGE;
}

/*
 * Passphrases never pass through stdio, whose buffers (a FILE's, a
 * pipe's from popen) are plain malloc'd memory freed without wiping, nor
 * through any other copy: every source is read with read(2) straight into
 * one sodium_malloc'd buffer of PASS_CAP bytes (guard pages, locked in
 * memory where the system allows, excluded from core dumps), the line end
 * is wiped in place, and the buffer goes to the caller as it is; every
 * buffer that does not is wiped and freed on the way out.  What stays
 * outside kluis's reach: the kernel's pipe and terminal buffers, and the
 * passphrase command's own memory.
 */
#define PASS_CAP (PASS_MAX + 2)	/* PASS_MAX bytes, one more, a NUL */

static char *
pass_new(void)
{
	char *p = sodium_malloc(PASS_CAP);

	if (p != NULL)
		sodium_memzero(p, PASS_CAP);
	return p;
}

static void
pass_drop(char *p)
{
	if (p != NULL) {
		sodium_memzero(p, PASS_CAP);
		sodium_free(p);
	}
}

/* Hands p to *out on success, else wipes and frees it; returns rc. */
static int
pass_out(char *p, int rc, char **out)
{
	if (rc == KL_OK)
		*out = p;
	else
		pass_drop(p);
	return rc;
}

/*
 * Reads fd into p until its end, a newline (with line set), or more than
 * PASS_MAX bytes (KL_E_LIMIT: the rest is not read); *n bytes read.
 */
static int
pass_read(int fd, char *p, int line, size_t *n)
{
	ssize_t k;

	*n = 0;
	while (*n <= PASS_MAX) {
		k = read(fd, p + *n, PASS_MAX + 1 - *n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return kl_err_from_errno(errno);
		if (k == 0)
			break;
		*n += (size_t)k;
		if (line && p[*n - 1] == '\n')
			break;
	}
	return *n > PASS_MAX ? KL_E_LIMIT : KL_OK;
}

/*
 * One line: all trailing \n and \r are wiped off p[0, n); a newline or a
 * NUL before them is KL_E_INVAL.  p is then NUL-terminated, zeros after.
 */
static int
pass_finish(char *p, size_t n, size_t *len)
{
	size_t end = n;

	while (end > 0 && (p[end - 1] == '\n' || p[end - 1] == '\r'))
		end--;
	sodium_memzero(p + end, PASS_CAP - end);
	if (memchr(p, '\n', end) != NULL || memchr(p, '\0', end) != NULL)
		return KL_E_INVAL;
	*len = end;
	return KL_OK;
}

static int
pass_from_file(const char *path, char **out, size_t *len)
{
	char *p = NULL;
	size_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return kl_err_from_errno(errno);
	if ((p = pass_new()) == NULL)
		rc = KL_E_NOMEM;
	else if ((rc = pass_read(fd, p, 0, &n)) == KL_OK)
		rc = pass_finish(p, n, len);
	close(fd);
	return pass_out(p, rc, out);
}

/* Runs cmd with /bin/sh -c, its standard output a pipe: *fd. */
static int
cmd_spawn(const char *cmd, pid_t *pid, int *fd)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "sh", "-c", (char *)(uintptr_t)cmd, NULL };
	int pfd[2], e;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return kl_err_from_errno(errno);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	e = posix_spawn(pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (e != 0) {
		close(pfd[0]);
		return kl_err_from_errno(e);
	}
	*fd = pfd[0];
	return KL_OK;
}

/*
 * The command's output, which must end with exit status 0 (*status gets
 * the wait status; KL_E_IO otherwise).  Reading stops after PASS_MAX + 1
 * bytes: closing the pipe then ends a command that writes on.
 */
static int
pass_from_command(const char *cmd, char **out, size_t *len, int *status)
{
	char *p = NULL;
	size_t n = 0;
	pid_t pid = -1;
	int fd = -1, rc;

	*status = 0;
	if ((rc = cmd_spawn(cmd, &pid, &fd)) != KL_OK)
		return rc;
	if ((p = pass_new()) == NULL)
		rc = KL_E_NOMEM;
	else
		rc = pass_read(fd, p, 0, &n);
	close(fd);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	if (rc == KL_OK && (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0))
		rc = KL_E_IO;
	if (rc == KL_OK)
		rc = pass_finish(p, n, len);
	return pass_out(p, rc, out);
}

static void
tty_put(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t k;

	while (n > 0) {
		k = write(fd, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* One line from the terminal fd, echo off, into p; *len as pass_finish. */
static int
pass_prompt_once(int fd, const char *prompt, char *p, size_t *len)
{
	struct termios old, noecho;
	int have_old, rc;
	size_t n;

	/* echo off before the prompt: TCSAFLUSH drops unread input */
	if ((have_old = tcgetattr(fd, &old) == 0)) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &noecho);
	}
	tty_put(fd, prompt);
	rc = pass_read(fd, p, 1, &n);
	if (have_old)
		tcsetattr(fd, TCSAFLUSH, &old);
	tty_put(fd, "\n");
	if (rc == KL_OK && n == 0)
		rc = KL_E_IO;		/* end of input at the prompt */
	return rc == KL_OK ? pass_finish(p, n, len) : rc;
}

static int
pass_prompt(const char *what, int confirm, char **out, size_t *len)
{
	char *a = NULL, *b = NULL, prompt[128];
	size_t blen = 0;
	int fd, rc = KL_E_NOMEM;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0)
		return KL_E_INVAL;
	if ((a = pass_new()) == NULL || (confirm && (b = pass_new()) == NULL))
		goto out;
	snprintf(prompt, sizeof(prompt), "Enter %s: ", what);
	rc = pass_prompt_once(fd, prompt, a, len);
	if (rc == KL_OK && confirm) {
		snprintf(prompt, sizeof(prompt), "Repeat %s: ", what);
		rc = pass_prompt_once(fd, prompt, b, &blen);
		if (rc == KL_OK && (blen != *len ||
		    sodium_memcmp(a, b, blen) != 0))
			rc = KL_E_BADPASS;
	}
out:
	pass_drop(b);
	close(fd);
	return pass_out(a, rc, out);
}

/* Why a passphrase could not be read, for the message; status is the
 * command's wait status (cmd set). */
static const char *
pass_why(int rc, int cmd, int status, char *buf, size_t buf_len)
{
	if (rc == KL_E_LIMIT)
		snprintf(buf, buf_len, "longer than %d bytes", PASS_MAX);
	else if (rc == KL_E_INVAL)
		snprintf(buf, buf_len, "more than one line, or a NUL byte");
	else if (rc == KL_E_IO && cmd && WIFEXITED(status))
		snprintf(buf, buf_len, "the command exited with status %d",
		    WEXITSTATUS(status));
	else if (rc == KL_E_IO && cmd && WIFSIGNALED(status))
		snprintf(buf, buf_len, "the command was killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(buf, buf_len, "%s", kl_strerror(rc));
	return buf;
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
	const char *cmd = mode == PW_NEW_KEY ? NULL : c->password_command;
	int is_new = mode != PW_CURRENT, rc, status = 0;
	char why[64];

	*out = NULL;
	*len = 0;
	if (file != NULL)
		rc = pass_from_file(file, out, len);
	else if (cmd != NULL)
		rc = pass_from_command(cmd, out, len, &status);
	else if (isatty(STDIN_FILENO))
		rc = pass_prompt(what, is_new, out, len);
	else {
		cli_err(c, "no %s given and no terminal to ask on: use %s",
		    what, mode == PW_NEW_KEY ? "--new-password-file" :
		    "--password-file or --password-command (or their "
		    "KLUIS_ variables, or a profile)");
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
	pass_why(rc, file == NULL && cmd != NULL, status, why, sizeof(why));
	if (file != NULL)
		cli_err(c, "cannot read the %s from %s: %s", what, file, why);
	else if (rc == KL_E_BADPASS)
		cli_err(c, "the two entries differ");
	else {
		char from[512];

		cli_err(c, "cannot read the %s%s%s: %s", what, cmd ? " from " :
		    "", cmd ? cli_origin(c, OPT_PASSWORD_COMMAND, from,
		    sizeof(from)) : "", why);
	}
	return EXIT_FATAL;
}

void
cli_password_free(char *p, size_t len)
{
	(void)len;	/* the whole buffer is wiped, not just the passphrase */
	pass_drop(p);
}

int
cli_close(const struct cli *c, struct kl_repo *r)
{
	size_t i, n;

	if (r == NULL)
		return 0;
	n = kl_repo_notice_count(r);
	for (i = 0; i < n; i++)
		cli_warn(c, "%s", kl_repo_notice_msg(r, i));
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

/*
 * What the operator reads when the repository does not open: the table
 * (cli_fail.c) decides on the code and the kind of object that failed
 * whether there is a repository at all.
 */
static int
open_failed(const struct cli *c, int rc, const struct kl_error *err)
{
	int code = cli_exit_code(rc, err, CLI_AT_OPEN);

	if (code == EXIT_NOREPO)
		cli_err(c, "%s is not a kluis repository (no config file); "
		    "check -r/KLUIS_REPOSITORY or run 'kluis init'", c->repo);
	else if (rc == KL_E_BADPASS)
		cli_err(c, "wrong passphrase: no key of %s opens with it",
		    c->key_file ? c->key_file : "this repository");
	else if (cli_msg_names(err, rc, c->repo))
		code = cli_fail_at(c, CLI_AT_OPEN, rc, err, "cannot open the "
		    "repository");
	else
		code = cli_fail_at(c, CLI_AT_OPEN, rc, err, "cannot open "
		    "repository %s", c->repo);
	return code;
}

/* "kluis: updating the catalog: index 12/40", the commands' progress line
 * (cli_progress.c); one repository is open at a time. */
static struct cli_progress catalog_prog;

static void
catalog_progress(void *arg, const char *what, uint64_t done, uint64_t total)
{
	struct cli_progress_state s = { what, done, total, "", 0, 0,
	    done >= total };

	(void)arg;
	cli_progress_update(&catalog_prog, &s);
	if (done >= total)
		cli_progress_end(&catalog_prog);
}

/*
 * Every command that opens a repository opens its catalog too.  A catalog
 * that cannot be opened is not fatal - it is a cache: the command then
 * runs on a temporary one, only slower.
 */
static void
catalog_open(struct cli *c, struct kl_repo *r)
{
	struct kl_error e;
	const char *p;
	int state, rc;

	kl_error_clear(&e);
	if ((rc = kl_repo_catalog_open(r, NULL, &state, &e)) != KL_OK) {
		cli_warn(c, "%s; this run uses a temporary catalog (slower)",
		    kl_error_msg(&e, rc));
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
	cli_progress_begin(&catalog_prog, c, "updating the catalog");
	/* a command's --json document may follow: no status lines here */
	catalog_prog.json = 0;
	kl_repo_set_progress(r, catalog_progress, NULL);
}

int
cli_open(struct cli *c, struct kl_repo **out)
{
	struct kl_repo *r = NULL;
	struct kl_error err;
	char *pass;
	size_t plen;
	int rc;

	*out = NULL;
	kl_error_clear(&err);
	if (c->repo == NULL || *c->repo == '\0') {
		cli_err(c, "no repository given: use -r REPO or "
		    "KLUIS_REPOSITORY");
		return EXIT_USAGE;
	}
	if ((rc = cli_password(c, c->password_file, PW_CURRENT, "repository "
	    "passphrase", &pass, &plen)) != EXIT_OK) {
		snprintf(c->open_why, sizeof(c->open_why), "cannot open the "
		    "repository: no passphrase could be read");
		return rc;
	}
	rc = kl_repo_open(c->repo, c->key_file, pass, plen, &r, &err);
	cli_password_free(pass, plen);
	if (rc != KL_OK) {
		snprintf(c->open_why, sizeof(c->open_why), "cannot open the "
		    "repository: %s", rc == KL_E_BADPASS ? "wrong passphrase" :
		    kl_error_msg(&err, rc));
		return open_failed(c, rc, &err);	/* r is not set */
	}
	kl_repo_set_tree_budget(r, c->tree_budget);
	catalog_open(c, r);
	*out = r;
	return EXIT_OK;
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

void
fmt_mode(char out[12], uint32_t mode)
{
	snprintf(out, 12, "%04o", (unsigned)mode);
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
