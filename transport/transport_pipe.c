/*
 * The transports that run a child process and talk to it over a
 * socketpair on its stdin and stdout:
 *  - pipe:PATH: kluis-server itself (--server-command through /bin/sh, or
 *    the one next to this program);
 *  - ssh:// with --ssh-command: the OpenSSH client, which runs kluis-server
 *    on the server (its stderr, prompts included, stays the terminal's).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kluis/err.h"
#include "transport_internal.h"

#define CLOSE_WAIT_MS 10000		/* server exit after BYE */
#define SERVER_PROG "kluis-server"
#define SOCK_BUF_LEN (4 << 20)

extern char **environ;

struct pipe_io {
	int fd;
	pid_t pid;
	int reaped, status;
	const char *ssh;	/* the ssh command, or NULL for pipe: */
};

static int
pipe_read(void *ctx, void *p, size_t n)
{
	struct pipe_io *s = ctx;
	uint8_t *q = p;
	ssize_t k;

	while (n > 0) {
		k = recv(s->fd, q, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return KL_E_CONN;
		q += k;
		n -= (size_t)k;
	}
	return KL_OK;
}

static int
pipe_write(void *ctx, const void *p, size_t n)
{
	struct pipe_io *s = ctx;
	const uint8_t *q = p;
	ssize_t k;

	while (n > 0) {
		k = send(s->fd, q, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return KL_E_CONN;
		q += k;
		n -= (size_t)k;
	}
	return KL_OK;
}

static void
pipe_abort(void *ctx)
{
	struct pipe_io *s = ctx;

	shutdown(s->fd, SHUT_RDWR);
}

static void
pipe_reap(struct pipe_io *s, int wait_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	pid_t p;
	int waited = 0;

	while (!s->reaped) {
		p = waitpid(s->pid, &s->status, wait_ms < 0 ? 0 : WNOHANG);
		if (p == s->pid) {
			s->reaped = 1;
			break;
		}
		if (p < 0 && errno != EINTR)
			break;
		if (wait_ms < 0 || p < 0)
			continue;
		if (waited >= wait_ms)
			break;
		nanosleep(&ts, NULL);
		waited += 10;
	}
}

static void
pipe_why(void *ctx, char *out, size_t out_len)
{
	struct pipe_io *s = ctx;

	pipe_reap(s, 2000);
	if (!s->reaped)
		snprintf(out, out_len, "%s", "");
	else if (s->ssh != NULL && WIFEXITED(s->status) &&
	    WEXITSTATUS(s->status) == 255)	/* ssh's own failure */
		snprintf(out, out_len, "the ssh command failed (exit status "
		    "255; ssh's message is above)");
	else if (s->ssh != NULL && WIFEXITED(s->status))
		snprintf(out, out_len, "the ssh command exited with status "
		    "%d%s", WEXITSTATUS(s->status), WEXITSTATUS(s->status) ==
		    127 ? " (the ssh command here, or kluis-server on the "
		    "server, was not found; see --ssh-command and "
		    "--server-command)" : "");
	else if (WIFEXITED(s->status))
		snprintf(out, out_len, "the server program exited with status "
		    "%d%s", WEXITSTATUS(s->status), WEXITSTATUS(s->status) ==
		    127 ? " (not found? see --server-command)" : "");
	else if (WIFSIGNALED(s->status))
		snprintf(out, out_len, "the server program was killed by "
		    "signal %d", WTERMSIG(s->status));
}

/* Waits (bounded) for the server to finish after BYE, then reaps it. */
static void
pipe_close(void *ctx)
{
	struct pipe_io *s = ctx;
	struct pollfd pfd = { s->fd, POLLIN, 0 };
	uint8_t sink[4096];
	int left = CLOSE_WAIT_MS;

	shutdown(s->fd, SHUT_WR);
	while (left > 0 && poll(&pfd, 1, 100) >= 0) {
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
		    recv(s->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
		left -= 100;
	}
	close(s->fd);
	pipe_reap(s, left > 0 ? left : 0);
	if (!s->reaped) {
		kill(s->pid, SIGKILL);
		pipe_reap(s, -1);
	}
	free(s);
}

/* The directory of the running program + "/kluis-server", if it exists. */
static int
server_next_to_self(char *out, size_t out_len)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return 0;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return 0;
	*slash = '\0';
	if ((size_t)snprintf(out, out_len, "%s/%s", self, SERVER_PROG) >=
	    out_len)
		return 0;
	return access(out, X_OK) == 0;
}

/* Runs argv (argv[0] from PATH) on one end of a socketpair; 0 or errno. */
static int
spawn_on_socket(struct pipe_io *s, char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t usr1;
	int sv[2], e, sz = SOCK_BUF_LEN;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return errno;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
	/* SIGUSR1 asks kluis for a progress line; a signal to the whole
	 * group (systemctl kill -s USR1) must not end the server or ssh */
	posix_spawnattr_init(&at);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	posix_spawnattr_setsigmask(&at, &usr1);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	e = posix_spawnp(&s->pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (e != 0)
		close(sv[0]);
	else
		s->fd = sv[0];
	return e;
}

static int
pipe_spawn(struct pipe_io *s, const char *path, char *err, size_t err_len)
{
	char prog[PATH_MAX], *cmdline = NULL;
	const char *cmd = tr_server_command();
	char *argv[6];
	int e;

	if (cmd != NULL) {
		size_t len = strlen(cmd) + 4 * strlen(path) + 32;

		/* exec: the child we reap and signal is the server itself */
		if ((cmdline = malloc(len + 5)) == NULL ||
		    tr_shell_command(cmd, path, cmdline + 5, len) != KL_OK) {
			free(cmdline);
			return KL_E_NOMEM;
		}
		memcpy(cmdline, "exec ", 5);
		argv[0] = "/bin/sh", argv[1] = "-c", argv[2] = cmdline;
		argv[3] = NULL;
	} else {
		if (!server_next_to_self(prog, sizeof(prog)))
			snprintf(prog, sizeof(prog), "%s", SERVER_PROG);
		argv[0] = prog, argv[1] = "serve", argv[2] = "--repo";
		argv[3] = (char *)(uintptr_t)path, argv[4] = NULL;
	}
	e = spawn_on_socket(s, argv);
	free(cmdline);
	if (e == 0)
		return KL_OK;
	snprintf(err, err_len, "cannot run %s: %s (set --server-command or "
	    "KLUIS_SERVER_COMMAND)", cmd ? cmd : SERVER_PROG, strerror(e));
	return KL_E_CONN;
}

static void
io_fill(struct tr_io *io, struct pipe_io *s)
{
	io->read = pipe_read;
	io->write = pipe_write;
	io->abort = pipe_abort;
	io->why = pipe_why;
	io->close = pipe_close;
	io->ctx = s;
}

int
tr_pipe_io_open(const struct kl_url *u, char *err, size_t err_len,
    struct tr_io *io)
{
	struct pipe_io *s;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KL_E_NOMEM;
	if ((rc = pipe_spawn(s, u->path, err, err_len)) != KL_OK) {
		free(s);
		return rc;
	}
	io_fill(io, s);
	return KL_OK;
}

#define SSH_ARGS 24	/* the most tr_sshcmd_io_open passes is 20 */

/*
 * ssh:// through the OpenSSH client.  The command runs through /bin/sh
 * (it may carry options: "ssh -F /etc/kluis/ssh_config") with the rest as
 * "$@", so no part of the URL is ever parsed by a shell here; the remote
 * command is quoted for the server's shell as libssh2's is.  The URL's
 * user, host and port go to ssh as written: what is not written comes
 * from ssh's own configuration (~/.ssh/config, /etc/ssh/ssh_config).
 */
int
tr_sshcmd_io_open(const struct kl_url *u, const char *ssh_command,
    char *err, size_t err_len, struct tr_io *io)
{
	const struct kl_transport_opts *o = tr_opts();
	const char *srv = tr_server_command();
	char *argv[SSH_ARGS], *script = NULL, *remote = NULL;
	char port[8], kh[4200];
	struct pipe_io *s = NULL;
	size_t len;
	int n = 0, e, rc = KL_E_NOMEM;

	/* "-oProxyCommand=..." as a host or user would be an ssh option */
	if (u->host[0] == '-' || u->user[0] == '-') {
		snprintf(err, err_len, "ssh://%s%s%s: a user or host may not "
		    "begin with '-'", u->user, *u->user ? "@" : "", u->host);
		return KL_E_INVAL;
	}
	len = strlen(ssh_command) + 16;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (script = malloc(len)) == NULL ||
	    (remote = malloc(4 * strlen(u->path) + 4200)) == NULL)
		goto out;
	snprintf(script, len, "exec %s \"$@\"", ssh_command);
	if (tr_shell_command(srv != NULL ? srv : SERVER_PROG, u->path, remote,
	    4 * strlen(u->path) + 4200) != KL_OK) {
		snprintf(err, err_len, "the server command and path are too "
		    "long for an ssh command line");
		rc = KL_E_LIMIT;
		goto out;
	}
	/* ssh splits an -o value on blanks and expands '%' and '~' in it */
	if (o->known_hosts != NULL && strpbrk(o->known_hosts, " \t%~\"'") !=
	    NULL) {
		snprintf(err, err_len, "--ssh-known-hosts %s: with --ssh-command "
		    "the path may not hold blanks, quotes, '%%' or '~'",
		    o->known_hosts);
		rc = KL_E_INVAL;
		goto out;
	}
	argv[n++] = "/bin/sh", argv[n++] = "-c", argv[n++] = script;
	argv[n++] = "kluis-ssh";	/* $0 */
	if (*u->user != '\0')
		argv[n++] = "-l", argv[n++] = (char *)(uintptr_t)u->user;
	if (u->port_given) {
		snprintf(port, sizeof(port), "%u", (unsigned)u->port);
		argv[n++] = "-p", argv[n++] = port;
	}
	if (o->ssh_key != NULL) {
		argv[n++] = "-i", argv[n++] = (char *)(uintptr_t)o->ssh_key;
		argv[n++] = "-o", argv[n++] = "IdentitiesOnly=yes";
	}
	if (o->known_hosts != NULL) {	/* that file, and no other */
		snprintf(kh, sizeof(kh), "UserKnownHostsFile=%s",
		    o->known_hosts);
		argv[n++] = "-o", argv[n++] = kh;
		argv[n++] = "-o", argv[n++] = "GlobalKnownHostsFile=/dev/null";
	}
	argv[n++] = "--", argv[n++] = (char *)(uintptr_t)u->host;
	argv[n++] = remote, argv[n] = NULL;
	s->ssh = ssh_command;
	if ((e = spawn_on_socket(s, argv)) != 0) {
		snprintf(err, err_len, "cannot run the ssh command \"%s\": %s",
		    ssh_command, strerror(e));
		rc = KL_E_CONN;
		goto out;
	}
	io_fill(io, s);
	s = NULL;
	rc = KL_OK;
out:
	free(s);
	free(script);
	free(remote);
	return rc;
}
