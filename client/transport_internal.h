/* Private to the client transports (client/transport*.c). */
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

/* The pipe transport (transport.c) and the ssh transport
 * (transport_ssh.c): connect and start the server; err gets a message. */
int tr_pipe_io_open(const struct kl_url *u, char *err, size_t err_len,
    struct tr_io *io);
int tr_ssh_io_open(const struct kl_url *u, char *err, size_t err_len,
    struct tr_io *io);

#endif
