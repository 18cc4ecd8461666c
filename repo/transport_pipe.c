/*
 * The pipe transport (pipe:PATH): kluis-server run as a child process
 * (--server-command through /bin/sh, or the one next to this program),
 * talking over a socketpair on its stdin and stdout.
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

static int
pipe_spawn(struct pipe_io *s, const char *path, char *err, size_t err_len)
{
	posix_spawn_file_actions_t fa;
	char prog[PATH_MAX], *cmdline = NULL;
	const char *cmd = tr_server_command();
	char *argv[6];
	int sv[2], rc, e, sz = SOCK_BUF_LEN;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return kl_err_from_errno(errno);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
	if (cmd != NULL) {
		size_t len = strlen(cmd) + 4 * strlen(path) + 32;

		/* exec: the child we reap and signal is the server itself */
		if ((cmdline = malloc(len + 5)) == NULL ||
		    tr_shell_command(cmd, path, cmdline + 5, len) != KL_OK) {
			e = ENOMEM;
			goto out;
		}
		memcpy(cmdline, "exec ", 5);
		argv[0] = "sh", argv[1] = "-c", argv[2] = cmdline;
		argv[3] = NULL;
		e = posix_spawn(&s->pid, "/bin/sh", &fa, NULL, argv, environ);
	} else {
		if (!server_next_to_self(prog, sizeof(prog)))
			snprintf(prog, sizeof(prog), "%s", SERVER_PROG);
		argv[0] = prog, argv[1] = "serve", argv[2] = "--repo";
		argv[3] = (char *)(uintptr_t)path, argv[4] = NULL;
		e = posix_spawnp(&s->pid, prog, &fa, NULL, argv, environ);
	}
out:
	posix_spawn_file_actions_destroy(&fa);
	free(cmdline);
	close(sv[1]);
	rc = KL_OK;
	if (e != 0) {
		snprintf(err, err_len, "cannot run %s: %s (set "
		    "--server-command or KLUIS_SERVER_COMMAND)", cmd ? cmd :
		    SERVER_PROG, strerror(e));
		close(sv[0]);
		rc = KL_E_CONN;
	} else
		s->fd = sv[0];
	return rc;
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
	io->read = pipe_read;
	io->write = pipe_write;
	io->abort = pipe_abort;
	io->why = pipe_why;
	io->close = pipe_close;
	io->ctx = s;
	return KL_OK;
}
