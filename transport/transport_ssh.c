/*
 * The ssh:// transport: `kluis-server serve --repo PATH` on the far side of
 * an SSH channel (libssh2), feeding the protocol session of
 * transport_session.c.
 *
 * Connecting (TCP, handshake, host key check, authentication, exec) is
 * done in blocking mode by the opening thread alone; the TCP connection
 * and the host key are in transport_ssh_host.c, authentication in
 * transport_ssh_auth.c.  After that exactly
 * one I/O thread makes every libssh2 call, in non-blocking mode, moving
 * bytes between the channel and two rings that the protocol's reading and
 * writing threads use.  Why a thread and not a mutex around libssh2: with
 * non-blocking libssh2, after channel_write returns EAGAIN with a packet
 * half sent, the next transport call of *any* kind finishes that packet
 * and reports its own packet as sent, so a concurrent channel_read (window
 * adjust) would lose its packet and the retried write would send data
 * twice.  One thread can keep that rule (retry the write, nothing else),
 * and still read replies while the write waits for window space, which a
 * blocking design cannot do without deadlocking against a server that
 * waits for us to read.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>

#include "kluis/err.h"
#include "transport_internal.h"

#define SESSION_TIMEOUT_MS 60000	/* blocking phase: per wait */
#define CLOSE_WAIT_MS 10000
#define POLL_MS 200			/* safety net for missed wake-ups */
#define RING_LEN ((size_t)4 << 20)
/*
 * The receive window we grant sshd, and the most we let one libssh2 read
 * add to it (libssh2 grows the window by the length asked for).  sshd
 * buffers up to a window of our data, and its buffers grow by copying:
 * with up to 12 MiB, sshd used 1.0-1.4 s of CPU for a restore of 300 MB
 * over 127.0.0.1, with 4 MiB 0.6-0.75 s, and no slower.  4 MiB still
 * fills 600 Mbit/s at a 50 ms round trip.
 */
#define CHAN_WINDOW (4u << 20)
#define READ_MAX ((size_t)256 << 10)
#define WRITE_BURST ((size_t)1 << 20)	/* per step, between reads */
#define STDERR_TAIL 512
#define CMD_MAX (2 * KL_URL_PATH_MAX + 4096)

struct ring {
	uint8_t *d;
	size_t cap, head, len;
};

struct ssh_io {
	int sock, efd;
	LIBSSH2_SESSION *s;
	LIBSSH2_CHANNEL *ch;
	pthread_t thr;
	int thr_started;
	pthread_mutex_t mu;	/* rings, flags, tail */
	pthread_cond_t cv;
	struct ring out, in;
	int err;		/* KL_E_CONN once the channel is gone */
	int closing, done;
	int exit_status, have_exit;
	int setup;		/* connecting: acknowledge at once */
	char tail[STDERR_TAIL];	/* end of the remote stderr */
	size_t tail_len;
};

/* ---- rings ---- */

static size_t
ring_rspan(const struct ring *r, uint8_t **p)
{
	size_t n = r->cap - r->head;

	*p = r->d + r->head;
	return r->len < n ? r->len : n;
}

static size_t
ring_wspan(const struct ring *r, uint8_t **p)
{
	size_t tail = (r->head + r->len) % r->cap, n = r->cap - tail;

	*p = r->d + tail;
	return r->cap - r->len < n ? r->cap - r->len : n;
}

static void
ring_consume(struct ring *r, size_t n)
{
	r->head = (r->head + n) % r->cap;
	r->len -= n;
}

/* ---- the I/O thread ---- */

static void
kick(struct ssh_io *s)
{
	uint64_t one = 1;

	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: a wake-up is pending anyway */
	}
}

static void
tail_add(struct ssh_io *s, const char *p, size_t n)
{
	if (n >= STDERR_TAIL) {
		p += n - (STDERR_TAIL - 1);
		n = STDERR_TAIL - 1;
	}
	pthread_mutex_lock(&s->mu);
	if (s->tail_len + n >= STDERR_TAIL) {
		size_t drop = s->tail_len + n - (STDERR_TAIL - 1);

		memmove(s->tail, s->tail + drop, s->tail_len - drop);
		s->tail_len -= drop;
	}
	memcpy(s->tail + s->tail_len, p, n);
	s->tail_len += n;
	pthread_mutex_unlock(&s->mu);
}

static void
stderr_drain(struct ssh_io *s)
{
	char tmp[1024];
	ssize_t k;

	while ((k = libssh2_channel_read_stderr(s->ch, tmp, sizeof(tmp))) > 0)
		tail_add(s, tmp, (size_t)k);
}

/*
 * One step of the writing side: packets until WRITE_BURST bytes are out or
 * libssh2 stops (it sends one packet per call).  Returns <0 on a dead
 * channel.
 */
static int
step_write(struct ssh_io *s, uint8_t *p, size_t n, int *pending, int *dirs,
    int *progress)
{
	size_t done = 0;
	ssize_t k = 0;

	*pending = 0;
	while (done < n && done < WRITE_BURST && (k = libssh2_channel_write(
	    s->ch, (const char *)p + done, n - done)) > 0)
		done += (size_t)k;
	if (done > 0) {
		pthread_mutex_lock(&s->mu);
		ring_consume(&s->out, done);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		*progress = 1;
	}
	if (k > 0)
		return 0;
	if (k == 0) {			/* no window: wait for an adjust */
		*dirs |= LIBSSH2_SESSION_BLOCK_INBOUND;
		return 0;
	}
	if (k != LIBSSH2_ERROR_EAGAIN)
		return -1;
	*dirs |= libssh2_session_block_directions(s->s);
	*pending = (libssh2_session_block_directions(s->s) &
	    LIBSSH2_SESSION_BLOCK_OUTBOUND) != 0;
	return 0;
}

static int
step_read(struct ssh_io *s, uint8_t *p, size_t n, int *dirs, int *progress)
{
	ssize_t k = libssh2_channel_read(s->ch, (char *)p, n);

	if (k > 0) {
		pthread_mutex_lock(&s->mu);
		s->in.len += (size_t)k;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		*progress = 1;
		return 0;
	}
	if (k == LIBSSH2_ERROR_EAGAIN) {
		*dirs |= libssh2_session_block_directions(s->s);
		return 0;
	}
	return -1;	/* 0: end of stream; <0: error */
}

static void
io_wait(struct ssh_io *s, int dirs)
{
	struct pollfd p[2];
	uint64_t v;

	p[0].fd = s->sock;
	p[0].events = (short)(((dirs & LIBSSH2_SESSION_BLOCK_INBOUND) ?
	    POLLIN : 0) | ((dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) ?
	    POLLOUT : 0));
	p[0].revents = 0;
	p[1].fd = s->efd;
	p[1].events = POLLIN;
	p[1].revents = 0;
	if (poll(p, 2, POLL_MS) > 0 && (p[1].revents & POLLIN) &&
	    read(s->efd, &v, sizeof(v)) < 0) {
		/* nothing to do: another wake-up drained it */
	}
}

/*
 * 1 if libssh2 holds channel data that it has already read off the socket
 * (every libssh2 call may read packets): poll would not wake us for it.
 */
static int
data_queued(struct ssh_io *s)
{
	unsigned long avail = 0;

	libssh2_channel_window_read_ex(s->ch, &avail, NULL);
	return avail > 0;
}

/* Sends EOF once everything queued is out; 1 while it must be retried. */
static int
step_eof(struct ssh_io *s, int *sent, int *dirs, int *progress)
{
	int k = libssh2_channel_send_eof(s->ch);

	if (k == 0) {
		*sent = *progress = 1;
		return 0;
	}
	if (k != LIBSSH2_ERROR_EAGAIN)
		return -1;
	*dirs |= libssh2_session_block_directions(s->s);
	return 1;
}

/*
 * The server ended the stream: its last words on stderr and its exit
 * status come around the EOF; collect them (briefly) for messages.
 */
static void
closed_drain(struct ssh_io *s)
{
	char sink[1024];
	ssize_t k;
	int i;

	for (i = 0; i < 10; i++) {
		stderr_drain(s);
		if (libssh2_channel_eof(s->ch))
			k = libssh2_channel_wait_closed(s->ch);
		else
			k = libssh2_channel_read(s->ch, sink, sizeof(sink));
		if (k != LIBSSH2_ERROR_EAGAIN && (k < 0 ||
		    libssh2_channel_eof(s->ch)))
			break;
		if (k == LIBSSH2_ERROR_EAGAIN)
			io_wait(s, libssh2_session_block_directions(s->s));
	}
	stderr_drain(s);
}

static void *
io_main(void *arg)
{
	struct ssh_io *s = arg;
	int pending = 0, eof_pending = 0, eof_sent = 0, closing, dirs;
	int progress, stop;
	uint8_t *wp, *rp;
	size_t wn, rn;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		wn = ring_rspan(&s->out, &wp);
		rn = ring_wspan(&s->in, &rp);
		stop = s->err != 0;
		closing = s->closing;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		dirs = progress = 0;
		if (eof_pending) {
			/* a half-sent packet: retry exactly this call */
			if ((eof_pending = step_eof(s, &eof_sent, &dirs,
			    &progress)) < 0)
				break;
		} else if ((pending || wn > 0) &&
		    step_write(s, wp, wn, &pending, &dirs, &progress) < 0)
			break;
		if (!pending && !eof_pending) {
			/*
			 * stderr first: reading it takes the stdout packets
			 * that have arrived off the socket as well, and poll
			 * would not see those.
			 */
			stderr_drain(s);
			if (rn > 0 && step_read(s, rp, rn < READ_MAX ? rn :
			    READ_MAX, &dirs, &progress) < 0)
				break;
			if (closing && wn == 0 && !eof_sent &&
			    (eof_pending = step_eof(s, &eof_sent, &dirs,
			    &progress)) < 0)
				break;
			/* not while sending is blocked: poll waits for that */
			if (rn > 0 && !(dirs &
			    LIBSSH2_SESSION_BLOCK_OUTBOUND) && data_queued(s))
				progress = 1;
		}
		if (!progress)
			io_wait(s, dirs);
	}
	if (!stop)	/* the server ended it, not us */
		closed_drain(s);
	pthread_mutex_lock(&s->mu);
	if (libssh2_channel_eof(s->ch)) {
		s->exit_status = libssh2_channel_get_exit_status(s->ch);
		s->have_exit = 1;
	}
	if (s->err == 0)
		s->err = KL_E_CONN;
	s->done = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- the tr_io callbacks ---- */

static int
ssh_read(void *ctx, void *p, size_t n)
{
	struct ssh_io *s = ctx;
	uint8_t *q = p, *src;
	size_t k;
	int was_full;

	pthread_mutex_lock(&s->mu);
	while (n > 0) {
		while (s->in.len == 0 && s->err == 0)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->in.len == 0)
			break;
		k = ring_rspan(&s->in, &src);
		k = k < n ? k : n;
		memcpy(q, src, k);
		was_full = s->in.len == s->in.cap;
		ring_consume(&s->in, k);
		q += k;
		n -= k;
		if (was_full)
			kick(s);
	}
	pthread_mutex_unlock(&s->mu);
	return n == 0 ? KL_OK : KL_E_CONN;
}

static int
ssh_write(void *ctx, const void *p, size_t n)
{
	struct ssh_io *s = ctx;
	const uint8_t *q = p;
	uint8_t *dst;
	size_t k;

	pthread_mutex_lock(&s->mu);
	while (n > 0) {
		while (s->out.len == s->out.cap && s->err == 0)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->err != 0)
			break;
		k = ring_wspan(&s->out, &dst);
		k = k < n ? k : n;
		memcpy(dst, q, k);
		s->out.len += k;
		q += k;
		n -= k;
		kick(s);
	}
	pthread_mutex_unlock(&s->mu);
	return n == 0 ? KL_OK : KL_E_CONN;
}

static void
ssh_abort(void *ctx)
{
	struct ssh_io *s = ctx;

	pthread_mutex_lock(&s->mu);
	if (s->err == 0)
		s->err = KL_E_CONN;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	kick(s);
}

/* Waits for the I/O thread to finish, at most ms; 1 if it did. */
static int
wait_done(struct ssh_io *s, int ms)
{
	struct timespec ts;
	int done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->done && s->thr_started)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break;
	done = s->done || !s->thr_started;
	pthread_mutex_unlock(&s->mu);
	return done;
}

/* Printable text only: the tail is the remote side's bytes. */
void
tr_ssh_clean_copy(char *out, size_t out_len, const char *p, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 1 < out_len; i++)
		out[j++] = (p[i] == '\n' || p[i] == '\t') ? ' ' :
		    ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
}

static void
ssh_why(void *ctx, char *out, size_t out_len)
{
	struct ssh_io *s = ctx;
	char t[STDERR_TAIL];
	int k;

	wait_done(s, 2000);
	pthread_mutex_lock(&s->mu);
	tr_ssh_clean_copy(t, sizeof(t), s->tail, s->tail_len);
	k = s->have_exit ? snprintf(out, out_len, "the remote command exited "
	    "with status %d%s", s->exit_status, *t ? ": " : "") : 0;
	if (k >= 0 && (size_t)k < out_len)
		snprintf(out + k, out_len - (size_t)k, "%s", t);
	pthread_mutex_unlock(&s->mu);
}

static void
ssh_free(struct ssh_io *s)
{
	if (s->ch != NULL) {
		libssh2_session_set_blocking(s->s, 1);
		libssh2_session_set_timeout(s->s, 2000);
		libssh2_channel_close(s->ch);
		libssh2_channel_free(s->ch);
	}
	if (s->s != NULL) {
		libssh2_session_set_blocking(s->s, 1);
		libssh2_session_set_timeout(s->s, 2000);
		libssh2_session_disconnect(s->s, "kluis: done");
		libssh2_session_free(s->s);
	}
	if (s->sock >= 0)
		close(s->sock);
	if (s->efd >= 0)
		close(s->efd);
	free(s->out.d);
	free(s->in.d);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void
ssh_close(void *ctx)
{
	struct ssh_io *s = ctx;

	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	pthread_mutex_unlock(&s->mu);
	kick(s);
	if (!wait_done(s, CLOSE_WAIT_MS))
		ssh_abort(s);
	if (s->thr_started)
		pthread_join(s->thr, NULL);
	ssh_free(s);
}

/* ---- connecting ---- */

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;

static void
ssh_lib_init(void)
{
	ssh_init_rc = libssh2_init(0);
}

/*
 * libssh2's recv, plus an immediate ACK while connecting.  Until its
 * session starts, sshd sends with Nagle's algorithm on: a small packet
 * that follows another waits for the ACK of the first, and a delayed ACK
 * (40 ms on Linux) stalls the login once or twice.  Afterwards ACKs are
 * left to the kernel.  Returns the count, or -errno as libssh2 wants it.
 */
static
LIBSSH2_RECV_FUNC(quickack_recv)
{
	struct ssh_io *s = *abstract;
	ssize_t n = recv(socket, buffer, length, flags);
	int one = 1;

	if (n < 0)
		return -errno;
	if (s->setup)
		setsockopt(socket, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
	return n;
}

static void
recv_hook(LIBSSH2_SESSION *sess)
{
	LIBSSH2_RECV_FUNC((*fn)) = quickack_recv;
	void *p;

	/* libssh2 takes callbacks as void *: the same size here */
	static_assert(sizeof(p) == sizeof(fn), "function pointer size");
	memcpy(&p, &fn, sizeof(p));
	libssh2_session_callback_set(sess, LIBSSH2_CALLBACK_RECV, p);
}

static int
session_start(struct ssh_io *s, const struct kl_url *u, char *err,
    size_t err_len)
{
	struct tr_kh *kh = NULL;
	char khpath[4096];
	int rc, have_file;

	if ((s->s = libssh2_session_init_ex(NULL, NULL, NULL, s)) == NULL)
		return KL_E_NOMEM;
	libssh2_session_set_blocking(s->s, 1);
	libssh2_session_set_timeout(s->s, SESSION_TIMEOUT_MS);
	recv_hook(s->s);
	tr_ssh_known_hosts_path(khpath, sizeof(khpath));
	if ((rc = tr_ssh_kh_open(khpath, &kh, &have_file, err, err_len)) !=
	    KL_OK)
		return rc == KL_E_NOMEM ? rc : KL_E_HOSTKEY;
	tr_ssh_hostkey_prefs(s->s, kh, u);
	if (libssh2_session_handshake(s->s, s->sock) != 0) {
		char *m = NULL;

		libssh2_session_last_error(s->s, &m, NULL, 0);
		snprintf(err, err_len, "SSH handshake with %s failed: %s",
		    u->host, m ? m : "unknown error");
		rc = KL_E_CONN;
	} else
		rc = tr_ssh_hostkey_verify(s->s, kh, have_file, u, khpath, err,
		    err_len);
	tr_kh_free(kh);
	return rc;
}

/* ---- the channel ---- */

static int
channel_start(struct ssh_io *s, const char *path, const char *dest,
    char *err, size_t err_len)
{
	const char *cmd = tr_server_command();
	char *line;
	int rc = KL_E_CONN;

	if ((line = malloc(CMD_MAX)) == NULL)
		return KL_E_NOMEM;
	if (tr_shell_command(cmd ? cmd : "kluis-server", path, line, CMD_MAX)
	    != KL_OK) {
		free(line);
		return KL_E_LIMIT;
	}
	s->ch = libssh2_channel_open_ex(s->s, "session", 7, CHAN_WINDOW,
	    LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
	if (s->ch == NULL)
		snprintf(err, err_len, "%s: cannot open an SSH channel", dest);
	else if (libssh2_channel_exec(s->ch, line) != 0)
		snprintf(err, err_len, "%s: the server refused to run "
		    "\"%s\"", dest, line);
	else
		rc = KL_OK;
	free(line);
	return rc;
}

static int
io_start(struct ssh_io *s)
{
	if ((s->out.d = malloc(RING_LEN)) == NULL ||
	    (s->in.d = malloc(RING_LEN)) == NULL)
		return KL_E_NOMEM;
	s->out.cap = s->in.cap = RING_LEN;
	s->setup = 0;	/* before the thread starts: no lock needed */
	libssh2_session_set_blocking(s->s, 0);
	if (pthread_create(&s->thr, NULL, io_main, s) != 0)
		return KL_E_NOMEM;
	s->thr_started = 1;
	return KL_OK;
}

static void
user_name(const struct kl_url *u, char *out, size_t out_len)
{
	const char *e = getenv("USER");
	struct passwd *pw;

	if (*u->user != '\0')
		snprintf(out, out_len, "%s", u->user);
	else if (e != NULL && *e != '\0')
		snprintf(out, out_len, "%s", e);
	else if ((pw = getpwuid(getuid())) != NULL)
		snprintf(out, out_len, "%s", pw->pw_name);
	else
		snprintf(out, out_len, "root");
}

static int
ssh_connect(struct ssh_io *s, const struct kl_url *u, char *err,
    size_t err_len)
{
	char user[KL_URL_USER_MAX + 1], dest[600];
	int rc;

	user_name(u, user, sizeof(user));
	snprintf(dest, sizeof(dest), "%s@%s", user, u->host);
	if ((rc = tr_ssh_tcp_connect(u, &s->sock, err, err_len)) != KL_OK)
		return rc;
	if ((rc = session_start(s, u, err, err_len)) != KL_OK)
		return rc;
	if ((rc = tr_ssh_authenticate(s->s, user, dest, err, err_len)) != KL_OK)
		return rc;
	if ((rc = channel_start(s, u->path, dest, err, err_len)) != KL_OK)
		return rc;
	return io_start(s);
}

int
tr_ssh_io_open(const struct kl_url *u, char *err, size_t err_len,
    struct tr_io *io)
{
	struct ssh_io *s;
	int rc;

	pthread_once(&ssh_once, ssh_lib_init);
	if (ssh_init_rc != 0) {
		snprintf(err, err_len, "cannot initialise libssh2");
		return KL_E_CONN;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KL_E_NOMEM;
	s->sock = -1;
	s->setup = 1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		s->efd = -1;
		rc = KL_E_NOMEM;
	} else
		rc = ssh_connect(s, u, err, err_len);
	if (rc != KL_OK) {
		if (s->thr_started) {
			ssh_abort(s);
			pthread_join(s->thr, NULL);
		}
		ssh_free(s);
		return rc;
	}
	io->read = ssh_read;
	io->write = ssh_write;
	io->abort = ssh_abort;
	io->why = ssh_why;
	io->close = ssh_close;
	io->ctx = s;
	return KL_OK;
}

const char *
kl_transport_ssh_version(void)
{
	const char *v = libssh2_version(0);

	return v != NULL ? v : "?";
}
