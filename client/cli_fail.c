/*
 * The command line prints each failure once and maps it to the exit code
 * in one place (docs/ARCHITECTURE.md "Errors: one path"): the table below
 * takes a code, the kind of object the failure is about and where the
 * command was (enum cli_at) to restic's exit codes (docs/RUNBOOK.md "Exit
 * codes").  Nothing here reads a message's text.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kluis/err.h"
#include "cli.h"

#define AT_ANY (-1)
#define CODE_ANY 1		/* no enum kl_err is positive */
#define KIND_ANY (-1)

struct fail_row {
	int at;			/* enum cli_at, or AT_ANY */
	int code;		/* enum kl_err, or CODE_ANY */
	int kind;		/* enum kl_about or KIND_ANY */
	int exit_code;
};

/* The first row that matches decides. */
static const struct fail_row fail_table[] = {
	{ AT_ANY,	KL_OK,		KIND_ANY,	EXIT_OK },
	/* kluis init: whatever failed, no repository was made */
	{ CLI_AT_INIT,	CODE_ANY,	KIND_ANY,	EXIT_FATAL },
	/* opening: no repository there (a missing key file is not that) */
	{ CLI_AT_OPEN,	KL_E_NOTFOUND,	KL_ABOUT_REPO,	EXIT_NOREPO },
	{ CLI_AT_OPEN,	KL_E_NOTFOUND,	KL_ABOUT_CONFIG,	EXIT_NOREPO },
	/* a --key-file that does not exist, an address that does not parse:
	 * not a usage error of the command line */
	{ CLI_AT_OPEN,	KL_E_INVAL,	KIND_ANY,	EXIT_FATAL },
	/* restore: the target is not a directory */
	{ CLI_AT_RESTORE, KL_E_INVAL,	KIND_ANY,	EXIT_FATAL },
	/* a drill: a key without the right has its code, the rest is 1 */
	{ CLI_AT_DRILL,	KL_E_PERM,	KIND_ANY,	EXIT_KEY },
	{ CLI_AT_DRILL,	CODE_ANY,	KIND_ANY,	EXIT_FATAL },
	/* everywhere else */
	{ AT_ANY,	KL_E_LOCKED,	KIND_ANY,	EXIT_LOCKED },
	{ AT_ANY,	KL_E_BADPASS,	KIND_ANY,	EXIT_KEY },
	{ AT_ANY,	KL_E_PERM,	KIND_ANY,	EXIT_KEY },
	{ AT_ANY,	KL_E_INVAL,	KIND_ANY,	EXIT_USAGE },
	{ AT_ANY,	CODE_ANY,	KIND_ANY,	EXIT_FATAL },
};

int
cli_said(const struct kl_error *e, int rc)
{
	return e != NULL && rc != KL_OK && e->code == rc;
}

static int
row_matches(const struct fail_row *row, int rc, int kind, enum cli_at at)
{
	if (row->at != AT_ANY && row->at != (int)at)
		return 0;
	if (row->code != CODE_ANY && row->code != rc)
		return 0;
	return row->kind == KIND_ANY || row->kind == kind;
}

int
cli_exit_code(int rc, const struct kl_error *e, enum cli_at at)
{
	/* a detail of another failure says nothing about this one */
	int kind = cli_said(e, rc) ? (int)e->kind : KL_ABOUT_NONE;
	size_t i;

	for (i = 0; i < sizeof(fail_table) / sizeof(fail_table[0]); i++)
		if (row_matches(&fail_table[i], rc, kind, at))
			return fail_table[i].exit_code;
	abort();	/* the last row matches everything */
}

static int cli_vfail(const struct cli *c, enum cli_at at, int rc,
    const struct kl_error *e, const char *ctx_fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static int
cli_vfail(const struct cli *c, enum cli_at at, int rc,
    const struct kl_error *e, const char *ctx_fmt, va_list ap)
{
	const char *msg = kl_error_msg(e, rc);
	char *ctx = NULL;

	if (ctx_fmt == NULL)
		cli_err(c, "%s", msg);
	else if (vasprintf(&ctx, ctx_fmt, ap) < 0) {
		ctx = NULL;	/* undefined after a failure */
		cli_err(c, "%s", msg);
	} else
		cli_err(c, "%s: %s", ctx, msg);
	free(ctx);
	return cli_exit_code(rc, e, at);
}

int
cli_fail(const struct cli *c, int rc, const struct kl_error *e,
    const char *ctx_fmt, ...)
{
	va_list ap;
	int code;

	va_start(ap, ctx_fmt);
	code = cli_vfail(c, CLI_AT_REPO, rc, e, ctx_fmt, ap);
	va_end(ap);
	return code;
}

int
cli_fail_at(const struct cli *c, enum cli_at at, int rc,
    const struct kl_error *e, const char *ctx_fmt, ...)
{
	va_list ap;
	int code;

	va_start(ap, ctx_fmt);
	code = cli_vfail(c, at, rc, e, ctx_fmt, ap);
	va_end(ap);
	return code;
}

int
cli_msg_names(const struct kl_error *e, int rc, const char *s)
{
	return cli_said(e, rc) && strncmp(kl_error_msg(e, rc), s,
	    strlen(s)) == 0;
}
