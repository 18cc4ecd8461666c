/*
 * The client transports' front door: their settings, repository URLs, and
 * kl_transport_open, which starts a transport (the pipe transport,
 * transport_pipe.c; ssh://, transport_ssh.c) and opens the protocol
 * session over it (transport_session.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kluis/backend.h"
#include "kluis/err.h"
#include "transport_internal.h"

/* ---- settings ---- */

static struct kl_transport_opts opts;

void
kl_transport_configure(const struct kl_transport_opts *o)
{
	opts = *o;
}

const struct kl_transport_opts *
tr_opts(void)
{
	return &opts;
}

const char *
tr_server_command(void)
{
	const char *e = getenv("KLUIS_SERVER_COMMAND");

	if (opts.server_command != NULL && *opts.server_command != '\0')
		return opts.server_command;
	return e != NULL && *e != '\0' ? e : NULL;
}

int
tr_shell_command(const char *cmd, const char *path, char *out,
    size_t out_len)
{
	size_t n;
	const char *p;
	int k;

	k = snprintf(out, out_len, "%s serve --repo '", cmd);
	if (k < 0 || (size_t)k >= out_len)
		return KL_E_LIMIT;
	n = (size_t)k;
	for (p = path; *p != '\0'; p++) {
		const char *piece = *p == '\'' ? "'\\''" : NULL;
		size_t pl = piece ? strlen(piece) : 1;

		if (n + pl + 2 > out_len)
			return KL_E_LIMIT;
		if (piece != NULL)
			memcpy(out + n, piece, pl);
		else
			out[n] = *p;
		n += pl;
	}
	out[n++] = '\'';
	out[n] = '\0';
	return KL_OK;
}

/* ---- URLs ---- */

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		return KL_E_INVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return KL_OK;
}

static int
url_pipe(const char *p, struct kl_url *u)
{
	char cwd[PATH_MAX];

	if (*p == '\0')
		return KL_E_INVAL;
	if (*p == '/')
		return copy_str(u->path, sizeof(u->path), p, strlen(p));
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return KL_E_IO;
	if ((size_t)snprintf(u->path, sizeof(u->path), "%s/%s",
	    strcmp(cwd, "/") == 0 ? "" : cwd, p) >= sizeof(u->path))
		return KL_E_INVAL;
	return KL_OK;
}

static int
url_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return KL_E_INVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return KL_E_INVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return KL_E_INVAL;
	*port = (uint16_t)v;
	return KL_OK;
}

/* host[:port] or [v6][:port], the part between '@' and the path. */
static int
url_hostport(const char *s, size_t n, struct kl_url *u)
{
	const char *end = s + n, *colon, *rb;

	u->port = 22;
	if (n > 0 && *s == '[') {
		if ((rb = memchr(s, ']', n)) == NULL || rb == s + 1)
			return KL_E_INVAL;
		if (copy_str(u->host, sizeof(u->host), s + 1,
		    (size_t)(rb - s - 1)) != KL_OK)
			return KL_E_INVAL;
		if (rb + 1 == end)
			return KL_OK;
		if (rb[1] != ':')
			return KL_E_INVAL;
		u->port_given = 1;
		return url_port(rb + 2, (size_t)(end - rb - 2), &u->port);
	}
	colon = memchr(s, ':', n);
	if (colon == s || n == 0)
		return KL_E_INVAL;
	if (copy_str(u->host, sizeof(u->host), s,
	    colon ? (size_t)(colon - s) : n) != KL_OK)
		return KL_E_INVAL;
	if (strpbrk(u->host, "[]@/ ") != NULL)
		return KL_E_INVAL;
	u->port_given = colon != NULL;
	return colon ? url_port(colon + 1, (size_t)(end - colon - 1),
	    &u->port) : KL_OK;
}

static int
url_ssh(const char *p, struct kl_url *u)
{
	const char *slash = strchr(p, '/'), *at;
	size_t hn;

	if (slash == NULL || slash == p)
		return KL_E_INVAL;	/* no path, or no host */
	at = memchr(p, '@', (size_t)(slash - p));
	if (at != NULL) {
		if (at == p || copy_str(u->user, sizeof(u->user), p,
		    (size_t)(at - p)) != KL_OK || strchr(u->user, ':'))
			return KL_E_INVAL;
		p = at + 1;
	}
	hn = (size_t)(slash - p);
	if (url_hostport(p, hn, u) != KL_OK)
		return KL_E_INVAL;
	return copy_str(u->path, sizeof(u->path), slash, strlen(slash));
}

int
kl_url_parse(const char *url, struct kl_url *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "ssh://", 6) == 0) {
		out->kind = KL_URL_SSH;
		rc = has_ctl(url) ? KL_E_INVAL : url_ssh(url + 6, out);
	} else if (strncmp(url, "pipe:", 5) == 0) {
		out->kind = KL_URL_PIPE;
		rc = has_ctl(url) ? KL_E_INVAL : url_pipe(url + 5, out);
	} else
		return KL_OK;
	if (rc != KL_OK) {
		memset(out, 0, sizeof(*out));
		out->kind = KL_URL_LOCAL;
	}
	return rc;
}

/* ---- entry point ---- */

int
kl_transport_open(const char *url, const uint8_t *config,
    size_t config_len, char *err, size_t err_len, struct kl_backend *out)
{
	struct kl_url *u;
	struct tr_io io;
	char dummy[8];
	int rc;

	out->ops = NULL;
	out->ctx = NULL;
	if (err == NULL || err_len == 0) {
		err = dummy;
		err_len = sizeof(dummy);
	}
	err[0] = '\0';
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return KL_E_NOMEM;
	if ((rc = kl_url_parse(url, u)) != KL_OK || u->kind == KL_URL_LOCAL) {
		snprintf(err, err_len, "%s: not a valid repository URL (use "
		    "ssh://[user@]host[:port]/absolute/path or pipe:PATH)",
		    url);
		rc = KL_E_INVAL;
		goto out;
	}
	if (u->kind == KL_URL_PIPE)
		rc = tr_pipe_io_open(u, err, err_len, &io);
	else if (opts.ssh_command != NULL && *opts.ssh_command != '\0')
		rc = tr_sshcmd_io_open(u, opts.ssh_command, err, err_len, &io);
	else
		rc = tr_ssh_io_open(u, err, err_len, &io);
	if (rc == KL_OK)
		rc = tr_conn_open(&io, u->path, url, config, config_len, err,
		    err_len, out);
out:
	free(u);
	return rc;
}
