/* Private to the client transports (transport/transport*.c). */
#ifndef KLUIS_TRANSPORT_INTERNAL_H
#define KLUIS_TRANSPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kluis/proto.h"
#include "kluis/transport.h"

/*
 * CREATE greeting (docs/PROTOCOL.md §2, §3): sent instead of HELLO to
 * create the repository; body = config (u32 length, 1..TR_CONFIG_MAX
 * bytes) followed by exactly a HELLO body.  Answered like HELLO.
 */
#define TR_CONFIG_MAX 4096

/*
 * A byte stream to a server.  read/write follow kl_io_read_fn and
 * kl_io_write_fn (KL_E_CONN once the stream is gone); they are called by
 * at most one reading and one writing thread at a time, concurrently.
 * abort wakes any blocked read or write for good (safe from any thread);
 * why describes how the server ended, for messages ("" if unknown); close
 * ends the stream, reaps the server and frees ctx.
 */
struct tr_io {
	kl_io_read_fn read;
	kl_io_write_fn write;
	void (*abort)(void *ctx);
	void (*why)(void *ctx, char *out, size_t out_len);
	void (*close)(void *ctx);
	void *ctx;
};

/*
 * Greets the server over io (HELLO, or CREATE when config != NULL) for the
 * repository path and wraps the session in a kl_backend.  Takes over io in
 * every case (closes it on failure).  dest names the repository in
 * messages.  Returns as kl_transport_open.
 */
int tr_conn_open(const struct tr_io *io, const char *path, const char *dest,
    const uint8_t *config, size_t config_len, char *err, size_t err_len,
    struct kl_backend *out);

/*
 * known_hosts (transport/transport_kh.c; OpenSSH's format, pure: no I/O, no
 * libssh2).  tr_kh_load takes the file's text (copied; at most
 * TR_KH_FILE_MAX bytes, else KL_E_LIMIT; KL_E_NOMEM) and counts its
 * @cert-authority lines; tr_kh_check reads it for one host and key: lines
 * without a marker are host keys (patterns with '*', '?' and '!', or a
 * hashed name; a line that cannot be parsed, or is longer than
 * TR_KH_LINE_MAX, is skipped), @revoked lines revoke their key for every
 * host, @cert-authority and other marked lines accept nothing.
 */
#define TR_KH_FILE_MAX ((size_t)16 << 20)
#define TR_KH_LINE_MAX 16384

struct tr_kh;

enum tr_kh_status {
	TR_KH_MATCH,		/* a line for this host names this key */
	TR_KH_MISMATCH,		/* lines for this host name another key of
				 * this type: the key changed */
	TR_KH_NOTFOUND,		/* no line for this host has this type */
	TR_KH_REVOKED,		/* a @revoked line names this key */
};

struct tr_kh_verdict {
	enum tr_kh_status status;
	size_t line;		/* TR_KH_REVOKED: its line (1-based) */
	size_t ca_lines;	/* @cert-authority lines in the file */
};

int tr_kh_load(const char *text, size_t len, struct tr_kh **out);
void tr_kh_free(struct tr_kh *k);
/*
 * The verdict on key[0, key_len) (the SSH wire form of the public key,
 * as the server sent it) of type (its name in known_hosts, e.g.
 * "ssh-ed25519"; an unknown type is never found) for host at port (the
 * name "host" for port 22, else "[host]:port", ASCII case ignored).  A
 * @revoked line wins over every other line.  key may be NULL: then *v
 * says only whether an entry of this type exists for the host
 * (TR_KH_MISMATCH) or not (TR_KH_NOTFOUND).  Returns KL_OK.
 */
int tr_kh_check(const struct tr_kh *k, const char *host, uint16_t port,
    const char *type, const uint8_t *key, size_t key_len,
    struct tr_kh_verdict *v);
/*
 * 1 if a @revoked line of text[0, len) names key[0, key_len) (its base64
 * field decodes to exactly these bytes), *line (1-based) set to the first
 * such line; 0 otherwise.  Pure.
 */
int tr_kh_revoked(const char *text, size_t len, const uint8_t *key,
    size_t key_len, size_t *line);
/* HMAC-SHA1 (RFC 2104) of msg under key: hashed host names ("|1|"). */
void tr_kh_hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *msg,
    size_t msg_len, uint8_t out[20]);

/* The settings of kl_transport_configure. */
const struct kl_transport_opts *tr_opts(void);
/* --server-command, else $KLUIS_SERVER_COMMAND, else NULL. */
const char *tr_server_command(void);
/*
 * Appends "CMD serve --repo 'PATH'" (PATH quoted for a POSIX shell) to
 * out[out_len].  KL_E_LIMIT if it does not fit.
 */
int tr_shell_command(const char *cmd, const char *path, char *out,
    size_t out_len);

/* The pipe transport (transport_pipe.c) and the ssh transport
 * (transport_ssh.c): connect and start the server; err gets a message. */
int tr_pipe_io_open(const struct kl_url *u, char *err, size_t err_len,
    struct tr_io *io);
/* ssh:// through the OpenSSH client (kl_transport_opts.ssh_command),
 * transport_pipe.c. */
int tr_sshcmd_io_open(const struct kl_url *u, const char *ssh_command,
    char *err, size_t err_len, struct tr_io *io);
int tr_ssh_io_open(const struct kl_url *u, char *err, size_t err_len,
    struct tr_io *io);

/*
 * The parts of the ssh transport: transport_ssh.c (the connection and its
 * I/O thread), transport_ssh_host.c (TCP, the host key) and
 * transport_ssh_auth.c (authentication).  sess is libssh2's
 * LIBSSH2_SESSION, in blocking mode; err gets a message on failure.
 */
struct _LIBSSH2_SESSION;

/* p[0, n) as printable text into out[out_len >= 1], truncated to fit. */
void tr_ssh_clean_copy(char *out, size_t out_len, const char *p, size_t n);
/* $HOME, else the home directory in the password database, else "/". */
const char *tr_ssh_home_dir(void);
/* A TCP socket connected to u's host and port in *out, else KL_E_CONN. */
int tr_ssh_tcp_connect(const struct kl_url *u, int *out, char *err,
    size_t err_len);
/* --ssh-known-hosts, else ~/.ssh/known_hosts, into out[out_len]. */
void tr_ssh_known_hosts_path(char *out, size_t out_len);
/* known_hosts at path parsed into *kh (tr_kh_free); a missing file is an
 * empty one (*have_file 0); else kl_file_read_all's or tr_kh_load's code,
 * with a message. */
int tr_ssh_kh_open(const char *path, struct tr_kh **kh, int *have_file,
    char *err, size_t err_len);
/* Before the handshake: offers first the host key types kh has for u. */
void tr_ssh_hostkey_prefs(struct _LIBSSH2_SESSION *sess, const struct tr_kh *kh,
    const struct kl_url *u);
/* KL_OK if kh lists sess's host key for u (not @revoked), else
 * KL_E_HOSTKEY, or KL_E_CONN if there is none; khpath names the file. */
int tr_ssh_hostkey_verify(struct _LIBSSH2_SESSION *sess, const struct tr_kh *kh,
    int have_file, const struct kl_url *u, const char *khpath, char *err,
    size_t err_len);
/* Logs user in (agent, key files, keyboard-interactive on /dev/tty);
 * KL_OK, or KL_E_CONN saying what the server accepts and what was tried. */
int tr_ssh_authenticate(struct _LIBSSH2_SESSION *sess, const char *user,
    const char *dest, char *err, size_t err_len);

#endif
