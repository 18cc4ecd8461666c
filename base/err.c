#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kluis/err.h"
#include "kluis/hash.h"

const char *
kl_strerror(int err)
{
	switch (err) {
	case KL_OK: return "success";
	case KL_E_NOMEM: return "out of memory";
	case KL_E_IO: return "input/output error";
	case KL_E_NOTFOUND: return "not found";
	case KL_E_CORRUPT: return "data is corrupt or has been tampered with";
	case KL_E_INVAL: return "invalid argument";
	case KL_E_EXISTS: return "already exists";
	case KL_E_BADPASS: return "wrong passphrase (no key opens with it)";
	case KL_E_PERM: return "permission denied (key or role lacks the right)";
	case KL_E_LOCKED: return "repository is locked";
	case KL_E_UNSUPPORTED: return "unsupported format version or feature";
	case KL_E_LIMIT: return "size or count limit exceeded";
	case KL_E_NOSPACE: return "no space left on device";
	case KL_E_PROTO: return "protocol error";
	case KL_E_CRYPTO: return "cryptographic library failure";
	case KL_E_CHANGED: return "file changed or vanished while being read";
	case KL_E_CONN: return "connection failed or dropped";
	case KL_E_HOSTKEY: return "SSH host key is unknown or has changed";
	case KL_E_DENIED: return "permission denied by the operating system";
	}
	return "unknown error";
}

int
kl_err_from_errno(int e)
{
	switch (e) {
	case 0: return KL_OK;
	case ENOENT: case ENOTDIR: return KL_E_NOTFOUND;
	case ENOSPC: case EDQUOT: return KL_E_NOSPACE;
	case EEXIST: return KL_E_EXISTS;
	case EACCES: case EPERM: case EROFS: return KL_E_DENIED;
	case ENOMEM: return KL_E_NOMEM;
	}
	return KL_E_IO;
}

void
kl_error_clear(struct kl_error *e)
{
	if (e == NULL)
		return;
	e->code = KL_OK;
	e->kind = KL_ABOUT_NONE;
	e->id[0] = e->path[0] = e->msg[0] = '\0';
}

static void
error_fill(struct kl_error *e, int code, enum kl_about kind,
    const struct kl_id *id, const char *path)
{
	e->code = code;
	e->kind = kind;
	if (id != NULL)
		kl_id_hex(id, e->id);
	else
		e->id[0] = '\0';
	snprintf(e->path, sizeof(e->path), "%s", path != NULL ? path : "");
}

static int error_vset(struct kl_error *e, int code, enum kl_about kind,
    const struct kl_id *id, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static int
error_vset(struct kl_error *e, int code, enum kl_about kind,
    const struct kl_id *id, const char *path, const char *fmt, va_list ap)
{
	if (e == NULL)
		return code;
	error_fill(e, code, kind, id, path);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

int
kl_error_set(struct kl_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = error_vset(e, code, KL_ABOUT_NONE, NULL, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int
kl_error_obj(struct kl_error *e, int code, enum kl_about kind,
    const struct kl_id *id, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = error_vset(e, code, kind, id, path, fmt, ap);
	va_end(ap);
	return code;
}

/* Appends s to msg[KL_ERROR_MSG_MAX], cut to what fits. */
static void
msg_append(char *msg, const char *s)
{
	size_t n = strlen(msg), m = strlen(s);

	if (m > KL_ERROR_MSG_MAX - 1 - n)
		m = KL_ERROR_MSG_MAX - 1 - n;
	memcpy(msg + n, s, m);
	msg[n + m] = '\0';
}

int
kl_error_wrap(struct kl_error *e, int code, const char *fmt, ...)
{
	char old[KL_ERROR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return code;
	if (e->code != code) {	/* a stale detail: not this failure's */
		error_fill(e, code, KL_ABOUT_NONE, NULL, NULL);
		e->msg[0] = '\0';
	}
	snprintf(old, sizeof(old), "%s", kl_error_msg(e, code));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	msg_append(e->msg, ": ");
	msg_append(e->msg, old);
	return code;
}

int
kl_error_isset(const struct kl_error *e)
{
	return e != NULL && e->code != KL_OK;
}

const char *
kl_error_msg(const struct kl_error *e, int code)
{
	if (e != NULL && e->code == code && code != KL_OK && e->msg[0] != '\0')
		return e->msg;
	return kl_strerror(code);
}
