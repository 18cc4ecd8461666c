/*
 * kluis-server serve (docs/PROTOCOL.md): private to the repo-server module.
 */
#ifndef KLUIS_SERVE_INTERNAL_H
#define KLUIS_SERVE_INTERNAL_H

#include "kluis/store.h"

struct kl_serve_opts {
	const char *repo;		/* --repo DIR: the only repository */
	enum kl_store_role role;	/* --append-only, --read-only, full */
	const char *client_name;	/* --client-name, or NULL */
	const char *server_id;		/* "kluis-server 0.1.0" for HELLO_OK */
	struct kl_store_policy policy;	/* --delete-delay, --min-age */
};

/* kluis-server serve's default --delete-delay: 14 days. */
#define KL_SERVE_DELETE_DELAY_S ((int64_t)14 * 86400)

/*
 * Serves one protocol session: reads requests from in_fd and writes
 * replies to out_fd until BYE, the end of the stream, or a fatal error
 * (which the client is told with ERR first).  Never prints: out_fd is the
 * protocol channel.  Returns KL_OK for a session that ended with BYE or at
 * a frame boundary, else the error that ended it (KL_E_PROTO for a
 * malformed frame, KL_E_PERM for a refused HELLO, KL_E_CONN when the
 * stream broke, an audit log error, ...).
 */
int kl_serve(const struct kl_serve_opts *o, int in_fd, int out_fd);

#endif
