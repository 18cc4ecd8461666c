/*
 * Remote repositories: the client side of the kluis protocol
 * (docs/PROTOCOL.md) over a pipe to a child `kluis-server serve` or over an
 * SSH channel (libssh2).  A transport is a struct kl_backend
 * (kluis/backend.h) like the in-process local store, so every repository
 * command works unchanged over it.
 *
 * URLs:
 *   ssh://[user@]host[:port]/absolute/path   host: name, IPv4 or [IPv6]
 *   pipe:/absolute/path, pipe:relative/path  (made absolute)
 * Anything else is a local path (not handled here).
 */
#ifndef KLUIS_TRANSPORT_H
#define KLUIS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct kl_backend;

#define KL_URL_USER_MAX 255
#define KL_URL_HOST_MAX 255
#define KL_URL_PATH_MAX 4096	/* KL_PROTO_STR_MAX: it goes in HELLO */
#define KL_TRANSPORT_ERR_MAX 1024

enum kl_url_kind {
	KL_URL_LOCAL = 0,	/* a plain path */
	KL_URL_PIPE = 1,
	KL_URL_SSH = 2,
};

struct kl_url {
	enum kl_url_kind kind;
	char user[KL_URL_USER_MAX + 1];	/* ssh: "" when not given */
	char host[KL_URL_HOST_MAX + 1];	/* ssh: without [] for IPv6 */
	uint16_t port;			/* ssh: 22 when not given */
	int port_given;			/* ssh: the URL names the port */
	char path[KL_URL_PATH_MAX + 1];	/* pipe and ssh: absolute */
};

/*
 * Parses url.  Returns KL_OK with kind KL_URL_LOCAL (nothing else set) for
 * anything that is neither "ssh://" nor "pipe:"; KL_E_INVAL for a malformed
 * ssh:// or pipe: URL (empty host, bad port, relative ssh path, too long,
 * control characters).  A relative pipe: path is made absolute against the
 * current directory (KL_E_IO if that cannot be read).
 */
int kl_url_parse(const char *url, struct kl_url *out);

/*
 * Process-wide transport settings from the command line.  The strings are
 * not copied: they must outlive every kl_transport_open (argv does).  NULL
 * fields mean the default:
 *   known_hosts     ~/.ssh/known_hosts
 *   ssh_key         ~/.ssh/id_ed25519, id_ecdsa, id_rsa (those that exist)
 *   server_command  $KLUIS_SERVER_COMMAND, else "kluis-server" (pipe: next
 *                   to the running kluis binary if there, else from PATH)
 *   ssh_command     NULL: ssh:// connects with libssh2.  Else the OpenSSH
 *                   client (or a command line that starts one) is run
 *                   through /bin/sh as `CMD [-l USER] [-p PORT]
 *                   [-i KEY -o IdentitiesOnly=yes] [-o UserKnownHostsFile=
 *                   FILE] -- HOST 'SERVER serve --repo PATH'`, with the
 *                   URL's user, host and port as written (so ~/.ssh/config
 *                   aliases, ProxyJump, certificates, FIDO keys and
 *                   ControlMaster apply), and the protocol runs over its
 *                   stdin and stdout.
 */
struct kl_transport_opts {
	const char *known_hosts;
	const char *ssh_key;
	const char *server_command;
	const char *ssh_command;
};
void kl_transport_configure(const struct kl_transport_opts *o);

/*
 * Connects to the repository at a pipe: or ssh:// url and greets the
 * server.  With config != NULL the repository is created first (the
 * CREATE greeting, PROTOCOL.md §2): the server writes config (config_len
 * bytes) into a new repository; KL_E_EXISTS if the path exists and is not
 * empty.  On success *out is a backend whose ops are thread-safe (requests
 * from several threads are pipelined) and ops->close ends the session and
 * reaps the server.
 *
 * On failure err (err_len bytes, may be NULL) gets a message for the
 * operator.  Returns:
 *   KL_E_INVAL     malformed URL, or not a remote URL
 *   KL_E_NOTFOUND  the server has no repository at the path (no config)
 *   KL_E_PERM      the server refused the path (pinned by a forced
 *                  command) or the role does not allow creation
 *   KL_E_HOSTKEY   ssh: the host key is unknown or changed (the message
 *                  shows its type and SHA256 fingerprint)
 *   KL_E_CONN      cannot connect, authenticate, or start the server, or
 *                  the connection dropped
 *   KL_E_UNSUPPORTED  no common protocol version
 *   KL_E_PROTO     the server broke the protocol
 *   any other code the server sent in its ERR reply
 * Every later call on a dropped connection returns KL_E_CONN at once.
 */
int kl_transport_open(const char *url, const uint8_t *config,
    size_t config_len, char *err, size_t err_len, struct kl_backend *out);

/* The role the server reported in HELLO_OK for a backend returned by
 * kl_transport_open (enum kl_store_role: 0 full, 1 append-only, 2
 * read-only, 3 replica); -1 for any other backend. */
int kl_transport_role(const struct kl_backend *b);

/* The version of the libssh2 library linked (kluis version). */
const char *kl_transport_ssh_version(void);

#endif
