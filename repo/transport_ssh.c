/*
 * The ssh:// transport: `kluis-server serve --repo PATH` on the far side of
 * an SSH channel (libssh2), feeding the protocol session of transport.c.
 *
 * Connecting (TCP, handshake, host key check, authentication, exec) is
 * done in blocking mode by the opening thread alone.  After that exactly
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
#include <fcntl.h>
#include <netdb.h>
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
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "kluis/text.h"
#include "transport_internal.h"

#define CONNECT_TIMEOUT_MS 15000
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
#define KEYFILE_READ_MAX 65536
#define PASS_MAX 1024
#define TRIED_MAX 400
#define AUTH_LIST_MAX 256
#define AUTH_LISTS_MAX 300
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
static void
clean_copy(char *out, size_t out_len, const char *p, size_t n)
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
	clean_copy(t, sizeof(t), s->tail, s->tail_len);
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

static int
connect_timeout(int fd, const struct sockaddr *a, socklen_t alen)
{
	struct pollfd p = { fd, POLLOUT, 0 };
	int fl = fcntl(fd, F_GETFL), e = 0;
	socklen_t el = sizeof(e);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, a, alen) != 0) {
		if (errno != EINPROGRESS)
			return -1;
		if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 ||
		    e != 0) {
			errno = e != 0 ? e : EIO;
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fl);
	return 0;
}

static void
sock_tune(int fd)
{
	int one = 1, idle = 60, intvl = 15, cnt = 4;

	/* a vanished server is noticed in minutes, not hours */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static int
tcp_connect(const struct kl_url *u, int *out, char *err, size_t err_len)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1, g, e = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", u->port);
	if ((g = getaddrinfo(u->host, port, &hints, &res)) != 0) {
		snprintf(err, err_len, "cannot resolve %s: %s", u->host,
		    gai_strerror(g));
		return KL_E_CONN;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd >= 0 && connect_timeout(fd, ai->ai_addr,
		    ai->ai_addrlen) == 0)
			break;
		e = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, err_len, "cannot connect to %s port %u: %s",
		    u->host, u->port, strerror(e));
		return KL_E_CONN;
	}
	sock_tune(fd);
	*out = fd;
	return KL_OK;
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

/* Host key types in OpenSSH's order of preference. */
static const struct hktype {
	int type;		/* LIBSSH2_HOSTKEY_TYPE_* */
	const char *kh;		/* its name in known_hosts */
	const char *name;	/* as ssh shows it */
	const char *methods;
} hktab[] = {
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, "ssh-ed25519", "ED25519",
	    "ssh-ed25519" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, "ecdsa-sha2-nistp256", "ECDSA",
	    "ecdsa-sha2-nistp256" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, "ecdsa-sha2-nistp384", "ECDSA",
	    "ecdsa-sha2-nistp384" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, "ecdsa-sha2-nistp521", "ECDSA",
	    "ecdsa-sha2-nistp521" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, "ssh-rsa", "RSA",
	    "rsa-sha2-512,rsa-sha2-256,ssh-rsa" },
	{ LIBSSH2_HOSTKEY_TYPE_DSS, "ssh-dss", "DSA", "ssh-dss" },
};
#define HKTAB_N (sizeof(hktab) / sizeof(hktab[0]))

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && *h != '\0')
		return h;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_dir : "/";
}

static void
known_hosts_path(char *out, size_t out_len)
{
	if (tr_opts()->known_hosts != NULL)
		snprintf(out, out_len, "%s", tr_opts()->known_hosts);
	else
		snprintf(out, out_len, "%s/.ssh/known_hosts", home_dir());
}

/*
 * Reads and parses known_hosts (transport_kh.c); a file that does not
 * exist is an empty one (*have_file 0).  Other errors refuse the
 * connection: a known_hosts that cannot be read must not look empty.
 */
static int
kh_open(const char *path, struct tr_kh **kh, int *have_file, char *err,
    size_t err_len)
{
	struct buf *b = NULL;
	int rc;

	*have_file = 0;
	rc = kl_file_read_all(path, TR_KH_FILE_MAX, &b);
	if (rc == KL_E_NOTFOUND)
		return tr_kh_load("", 0, kh);
	if (rc == KL_OK) {
		*have_file = 1;
		rc = tr_kh_load((const char *)buf_data(b), buf_size(b), kh);
	}
	buf_free(b);
	if (rc != KL_OK)
		snprintf(err, err_len, "cannot read the known_hosts file %s: "
		    "%s", path, rc == KL_E_LIMIT ? "larger than 16 MiB" :
		    kl_strerror(rc));
	return rc;
}

/* Appends the methods of t that libssh2 supports to list. */
static void
prefs_add(char *list, size_t cap, const struct hktype *t,
    const char **algs, int nalgs)
{
	char m[128], *tok, *save = NULL;
	int i;

	snprintf(m, sizeof(m), "%s", t->methods);
	for (tok = strtok_r(m, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < nalgs && strcmp(algs[i], tok) != 0; i++)
			;
		if (i < nalgs)
			snprintf(list + strlen(list), cap - strlen(list),
			    "%s%s", *list ? "," : "", tok);
	}
}

/*
 * Offers first the host key types known_hosts has for this host (hashed
 * or not), so that the server presents a key we can check.  Only methods
 * libssh2 supports are named: libssh2 1.10 strips unsupported ones with
 * an overlapping memcpy.
 */
static void
hostkey_prefs(LIBSSH2_SESSION *sess, const struct tr_kh *kh,
    const struct kl_url *u)
{
	char pref[512] = "", rest[512] = "";
	const char **algs = NULL;
	struct tr_kh_verdict v;
	int nalgs;
	size_t i;

	nalgs = libssh2_session_supported_algs(sess, LIBSSH2_METHOD_HOSTKEY,
	    &algs);
	if (nalgs <= 0)
		return;
	for (i = 0; i < HKTAB_N; i++) {
		tr_kh_check(kh, u->host, u->port, hktab[i].kh, NULL, 0, &v);
		prefs_add(v.status == TR_KH_MISMATCH ? pref : rest,
		    sizeof(pref), &hktab[i], algs, nalgs);
	}
	libssh2_free(sess, (void *)algs);
	if (*rest != '\0')
		snprintf(pref + strlen(pref), sizeof(pref) - strlen(pref),
		    "%s%s", *pref ? "," : "", rest);
	if (*pref != '\0')
		libssh2_session_method_pref(sess, LIBSSH2_METHOD_HOSTKEY,
		    pref);
}

static const struct hktype *
hktype_of(int type)
{
	size_t i;

	for (i = 0; i < HKTAB_N; i++)
		if (hktab[i].type == type)
			return &hktab[i];
	return NULL;
}

/* "ED25519 key fingerprint is SHA256:..." as ssh prints it. */
static void
fingerprint(LIBSSH2_SESSION *sess, const struct hktype *t, char *out,
    size_t out_len)
{
	const unsigned char *h;
	char b64[64];

	h = (const unsigned char *)libssh2_hostkey_hash(sess,
	    LIBSSH2_HOSTKEY_HASH_SHA256);
	if (h == NULL) {
		snprintf(out, out_len, "%s key (no fingerprint)",
		    t ? t->name : "unknown");
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), h, 32,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(out, out_len, "%s key fingerprint is SHA256:%s",
	    t ? t->name : "unknown", b64);
}

/* "host" or "[host]:port", as ssh names it. */
static void
host_port(const struct kl_url *u, char *out, size_t out_len)
{
	if (u->port == 22)
		snprintf(out, out_len, "%s", u->host);
	else
		snprintf(out, out_len, "[%s]:%u", u->host, u->port);
}

/* Why a @cert-authority line did not help, if the file has any. */
static void
ca_note(const struct tr_kh_verdict *v, char *out, size_t out_len)
{
	*out = '\0';
	if (v->ca_lines > 0)
		snprintf(out, out_len, " (kluis does not use host certificates: "
		    "the file's %zu @cert-authority line%s ignored; list the "
		    "server's own host key)", v->ca_lines,
		    v->ca_lines == 1 ? " is" : "s are");
}

static int
hostkey_refused(const struct tr_kh_verdict *v, int have_file,
    const char *hp, const char *fp, const char *khpath, char *err,
    size_t err_len)
{
	char ca[160];

	ca_note(v, ca, sizeof(ca));
	if (v->status == TR_KH_REVOKED)
		snprintf(err, err_len, "the host key of %s (%s) is marked "
		    "@revoked in %s (line %zu): refusing to connect, whatever "
		    "other lines say; a revoked key must never be trusted "
		    "again: ask the server's administrator for its new host "
		    "key", hp, fp, khpath, v->line);
	else if (v->status == TR_KH_MISMATCH)
		snprintf(err, err_len, "the host key of %s has CHANGED (%s) "
		    "and does not match %s: refusing to connect; someone may "
		    "be intercepting the connection; if the key was replaced "
		    "on purpose, update %s%s", hp, fp, khpath, khpath, ca);
	else
		snprintf(err, err_len, "the host key of %s is not known (%s)%s"
		    "%s: refusing to connect; after checking the fingerprint "
		    "with the server's administrator, add the key to it "
		    "(ssh-keyscan) or use --ssh-known-hosts%s", hp, fp,
		    have_file ? "; it is not in " : "; there is no ",
		    khpath, ca);
	return KL_E_HOSTKEY;
}

static int
hostkey_verify(struct ssh_io *s, const struct tr_kh *kh, int have_file,
    const struct kl_url *u, const char *khpath, char *err, size_t err_len)
{
	struct tr_kh_verdict v;
	const struct hktype *t;
	const char *key;
	char fp[160], hp[300];
	size_t len;
	int type;

	if ((key = libssh2_session_hostkey(s->s, &len, &type)) == NULL) {
		snprintf(err, err_len, "%s: the server sent no host key",
		    u->host);
		return KL_E_CONN;
	}
	t = hktype_of(type);
	fingerprint(s->s, t, fp, sizeof(fp));
	/* an unknown type is never found, but may still be revoked */
	tr_kh_check(kh, u->host, u->port, t != NULL ? t->kh : "",
	    (const uint8_t *)key, len, &v);
	if (v.status == TR_KH_MATCH)
		return KL_OK;
	host_port(u, hp, sizeof(hp));
	return hostkey_refused(&v, have_file, hp, fp, khpath, err, err_len);
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
	known_hosts_path(khpath, sizeof(khpath));
	if ((rc = kh_open(khpath, &kh, &have_file, err, err_len)) != KL_OK)
		return rc == KL_E_NOMEM ? rc : KL_E_HOSTKEY;
	hostkey_prefs(s->s, kh, u);
	if (libssh2_session_handshake(s->s, s->sock) != 0) {
		char *m = NULL;

		libssh2_session_last_error(s->s, &m, NULL, 0);
		snprintf(err, err_len, "SSH handshake with %s failed: %s",
		    u->host, m ? m : "unknown error");
		rc = KL_E_CONN;
	} else
		rc = hostkey_verify(s, kh, have_file, u, khpath, err, err_len);
	tr_kh_free(kh);
	return rc;
}

/* ---- authentication ---- */

static int
have_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * Prints a server-supplied text to the terminal: its line breaks as they
 * are, everything else escaped (kl_text_esc, docs/CLI.md "Names on the
 * terminal").
 */
static void
tty_text(FILE *tty, const char *p, size_t n)
{
	const char *nl;
	char e[256];
	size_t line, used;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		line = nl != NULL ? (size_t)(nl - p) : n;
		while (line > 0) {
			used = kl_text_esc(e, sizeof(e), p, line);
			fputs(e, tty);
			p += used;
			n -= used;
			line -= used;
		}
		if (nl != NULL) {
			fputc('\n', tty);
			p++;
			n--;
		}
	}
}

/* Reads one line from the terminal, echo off unless asked. */
static int
tty_ask(const char *prompt, size_t prompt_len, int echo, char *line,
    size_t cap)
{
	struct termios old, quiet;
	FILE *tty;
	size_t n;
	int ok, have_old;

	if ((tty = fopen("/dev/tty", "r+e")) == NULL)
		return -1;
	/*
	 * Echo off before the prompt, as readpassphrase(3) does: TCSAFLUSH
	 * discards input not yet read, so an answer typed as soon as the
	 * prompt shows would otherwise be thrown away, and kluis would wait.
	 */
	have_old = tcgetattr(fileno(tty), &old) == 0;
	if (have_old && !echo) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	tty_text(tty, prompt, prompt_len);
	fflush(tty);
	ok = fgets(line, (int)cap, tty) != NULL;
	if (have_old && !echo) {
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
		fputc('\n', tty);
	}
	fclose(tty);
	if (!ok)
		return -1;
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return 0;
}

static
LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC(kbd_answer)
{
	char line[PASS_MAX];
	FILE *tty;
	int i;

	(void)abstract;
	if ((name_len > 0 || instruction_len > 0) &&
	    (tty = fopen("/dev/tty", "we")) != NULL) {
		tty_text(tty, name, (size_t)(name_len > 0 ? name_len : 0));
		if (name_len > 0)
			fputc('\n', tty);
		tty_text(tty, instruction, (size_t)(instruction_len > 0 ?
		    instruction_len : 0));
		if (instruction_len > 0)
			fputc('\n', tty);
		fclose(tty);
	}
	for (i = 0; i < num_prompts; i++) {
		responses[i].text = NULL;
		responses[i].length = 0;
		if (tty_ask(prompts[i].text, prompts[i].length, prompts[i].echo,
		    line, sizeof(line)) != 0)
			continue;
		responses[i].text = strdup(line);
		if (responses[i].text != NULL)
			responses[i].length = (unsigned)strlen(line);
		sodium_memzero(line, sizeof(line));
	}
}

/*
 * Authentication may take several steps (sshd's AuthenticationMethods
 * "publickey,keyboard-interactive"): a step the server accepts but that is
 * not enough alone ends in a failure reply with "partial success", which
 * libssh2 1.10 reports as a plain failure.  So after a method that may
 * have been such a step, the server is asked again which methods it
 * accepts now, and the next one is tried.  Each method is tried once.
 */
enum auth_res {
	AUTH_NO,	/* refused or not tried: the same methods stand */
	AUTH_OK,	/* logged in */
	AUTH_MORE	/* maybe accepted as one step of several: ask again */
};

struct auth {
	LIBSSH2_SESSION *sess;
	const char *user;
	int tty;
	char *held;			/* libssh2's copy of the last list */
	char list[AUTH_LIST_MAX];	/* the methods accepted now */
	char lists[AUTH_LISTS_MAX];	/* every list the server sent */
	char tried[TRIED_MAX];
};

/* Appends "a" + "b" to the list of what was tried. */
static void
tried_add(char *tried, const char *a, const char *b)
{
	size_t n = strlen(tried);

	snprintf(tried + n, TRIED_MAX - n, "%s%s%s", n > 0 ? ", " : "", a,
	    b);
}

/* Appends a note to the last entry of what was tried. */
static void
tried_note(char *tried, const char *note)
{
	size_t n = strlen(tried);

	snprintf(tried + n, TRIED_MAX - n, "%s", note);
}

/* 1 if the comma-separated list names method. */
static int
has_method(const char *list, const char *method)
{
	size_t n = strlen(method);
	const char *p = list;

	while ((p = strstr(p, method)) != NULL) {
		if ((p == list || p[-1] == ',') &&
		    (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * Asks the server which methods it accepts now (a "none" request) into
 * a->list.  0 with a list, 1 if that request logged us in, -1 if the
 * connection is gone.  libssh2 1.10 to 1.11 keep the list in the session
 * and allocate a new one on every call without freeing the previous one;
 * it is freed here right before the next call, whose first step replaces
 * the session's pointer (the session frees the last one).  Later versions
 * are not known to do the same: there the few bytes are left alone.
 */
static int
auth_query(struct auth *a)
{
	char now[AUTH_LIST_MAX], *l;
	size_t n = strlen(a->lists);

#if LIBSSH2_VERSION_NUM < 0x010c00
	if (a->held != NULL)
		libssh2_free(a->sess, a->held);
#endif
	a->held = NULL;
	l = libssh2_userauth_list(a->sess, a->user, (unsigned)strlen(a->user));
	if (l == NULL)
		return libssh2_userauth_authenticated(a->sess) ? 1 : -1;
	a->held = l;
	clean_copy(now, sizeof(now), l, strlen(l));
	if (n == 0 || strcmp(now, a->list) != 0)
		snprintf(a->lists + n, sizeof(a->lists) - n, "%s%s",
		    n > 0 ? ", then " : "", now);
	memcpy(a->list, now, sizeof(now));
	return 0;
}

/* A publickey attempt's libssh2 code as an auth_res. */
static enum auth_res
pk_result(int rc)
{
	if (rc == 0)
		return AUTH_OK;
	/*
	 * The server answered the key's query with PK_OK and then refused
	 * the signed request: with OpenSSH that is a partial success.
	 */
	return rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED ? AUTH_MORE : AUTH_NO;
}

static enum auth_res
auth_agent(struct auth *a)
{
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	enum auth_res res = AUTH_NO;
	LIBSSH2_AGENT *ag;
	char note[80];
	int n = 0;

	if ((ag = libssh2_agent_init(a->sess)) == NULL)
		return AUTH_NO;
	if (libssh2_agent_connect(ag) == 0 &&
	    libssh2_agent_list_identities(ag) == 0) {
		while (res == AUTH_NO &&
		    libssh2_agent_get_identity(ag, &id, prev) == 0) {
			n++;
			res = pk_result(libssh2_agent_userauth(ag, a->user,
			    id));
			prev = id;
		}
		libssh2_agent_disconnect(ag);
	}
	libssh2_agent_free(ag);
	snprintf(note, sizeof(note), " (%d key%s%s)", n, n == 1 ? "" : "s",
	    res == AUTH_MORE ? "; one accepted, the server asks for more" :
	    "");
	tried_add(a->tried, "ssh-agent", note);
	return res;
}

/*
 * 1 if the private key file is passphrase-protected, 0 if not, -1 if it
 * cannot be read.  PEM keys say so in a header; OpenSSH's own format
 * names its cipher ("none" when plain) right after the magic.
 */
static int
key_encrypted(const char *path)
{
	static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	char txt[4096], b64[129];
	unsigned char bin[96];
	size_t n, i, j = 0, bl = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(txt, 1, sizeof(txt) - 1, f);
	fclose(f);
	txt[n] = '\0';
	if (strstr(txt, "ENCRYPTED") != NULL)
		return 1;
	if (strncmp(txt, begin, sizeof(begin) - 1) != 0)
		return 0;
	for (i = sizeof(begin) - 1; i < n && j < sizeof(b64) - 1; i++)
		if (txt[i] != '\n' && txt[i] != '\r')
			b64[j++] = txt[i];
	b64[j - j % 4] = '\0';
	if (sodium_base642bin(bin, sizeof(bin), b64, strlen(b64), NULL, &bl,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || bl < 23 ||
	    memcmp(bin, "openssh-key-v1", 15) != 0)
		return 0;
	/* u32 length of the cipher name, then the name */
	return !(bin[15] == 0 && bin[16] == 0 && bin[17] == 0 &&
	    bin[18] == 4 && memcmp(bin + 19, "none", 4) == 0);
}

static enum auth_res
auth_keyfile(struct auth *a, const char *path, int explicit)
{
	char pass[PASS_MAX] = "", prompt[4200];
	int enc = key_encrypted(path), rc;
	enum auth_res res;

	if (enc < 0) {
		if (explicit)
			tried_add(a->tried, path, " (cannot be read)");
		return AUTH_NO;
	}
	if (enc && !a->tty) {
		tried_add(a->tried, path, " (passphrase-protected, no "
		    "terminal to ask on; load it into ssh-agent)");
		return AUTH_NO;
	}
	if (enc) {
		snprintf(prompt, sizeof(prompt), "Enter passphrase for key "
		    "%s: ", path);
		if (tty_ask(prompt, strlen(prompt), 0, pass, sizeof(pass)) != 0)
			return AUTH_NO;
	}
	rc = libssh2_userauth_publickey_fromfile_ex(a->sess, a->user,
	    (unsigned)strlen(a->user), NULL, path, pass);
	sodium_memzero(pass, sizeof(pass));
	if ((res = pk_result(rc)) == AUTH_OK)
		return AUTH_OK;
	tried_add(a->tried, path, res == AUTH_MORE ? " (accepted; the "
	    "server asks for more)" : rc == LIBSSH2_ERROR_FILE ? " (cannot "
	    "be used: wrong passphrase or unsupported format)" :
	    " (refused)");
	return res;
}

static enum auth_res
auth_keyfiles(struct auth *a)
{
	static const char *const names[] = { "id_ed25519", "id_ecdsa",
	    "id_rsa" };
	enum auth_res res = AUTH_NO;
	char path[4096];
	size_t i;

	if (tr_opts()->ssh_key != NULL)
		return auth_keyfile(a, tr_opts()->ssh_key, 1);
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && res == AUTH_NO;
	    i++) {
		snprintf(path, sizeof(path), "%s/.ssh/%s", home_dir(),
		    names[i]);
		if (access(path, F_OK) == 0)
			res = auth_keyfile(a, path, 0);
	}
	return res;
}

/* 1 if an agent is configured (an empty SSH_AUTH_SOCK is none). */
static int
agent_sock(void)
{
	const char *v = getenv("SSH_AUTH_SOCK");

	return v != NULL && *v != '\0';
}

static enum auth_res
auth_publickey(struct auth *a)
{
	enum auth_res res = AUTH_NO;

	/*
	 * An explicit --ssh-key is the identity to use, and the only one
	 * (OpenSSH's IdentitiesOnly): an agent holding an admin key must not
	 * turn a restore-drill key into a full one.
	 */
	if (tr_opts()->ssh_key == NULL && agent_sock())
		res = auth_agent(a);
	if (res == AUTH_NO)
		res = auth_keyfiles(a);
	return res;
}

/* The prompts are answered on /dev/tty (kbd_answer), never from stdin. */
static enum auth_res
auth_kbd(struct auth *a)
{
	if (!a->tty) {
		tried_add(a->tried, "keyboard-interactive", " (no terminal)");
		return AUTH_NO;
	}
	if (libssh2_userauth_keyboard_interactive(a->sess, a->user,
	    kbd_answer) == 0)
		return AUTH_OK;
	/* refused, or accepted as one step: the next list tells */
	tried_add(a->tried, "keyboard-interactive", "");
	return AUTH_MORE;
}

static int
auth_fail(const struct auth *a, const char *dest, int gone, char *err,
    size_t err_len)
{
	const char *tried = *a->tried ? a->tried :
	    "nothing: no agent and no key file";

	if (gone)
		snprintf(err, err_len, "%s: the SSH server closed the "
		    "connection during authentication%s%s%s", dest,
		    *a->tried ? " (tried: " : "", a->tried,
		    *a->tried ? ")" : "");
	else if (!a->tty && has_method(a->list, "keyboard-interactive") &&
	    !has_method(a->list, "publickey"))
		snprintf(err, err_len, "SSH authentication for %s needs a "
		    "one-time code or password typed on a terminal "
		    "(keyboard-interactive), and kluis has no terminal: run it "
		    "from a terminal, or have the server accept the key alone "
		    "for scheduled jobs (server accepts: %s; tried: %s)", dest,
		    a->lists, tried);
	else
		snprintf(err, err_len, "SSH authentication failed for %s "
		    "(server accepts: %s; tried: %s)", dest, a->lists, tried);
	return KL_E_CONN;
}

static int
authenticate(struct ssh_io *s, const char *user, const char *dest,
    char *err, size_t err_len)
{
	struct auth a;
	enum auth_res res = AUTH_MORE;
	int pk_done = 0, kbd_done = 0, was_kbd = 0, q;

	memset(&a, 0, sizeof(a));
	a.sess = s->s;
	a.user = user;
	a.tty = have_tty();
	for (;;) {
		if (res == AUTH_MORE) {
			if ((q = auth_query(&a)) != 0)
				return q > 0 ? KL_OK : auth_fail(&a, dest, 1,
				    err, err_len);
			if (was_kbd)	/* what became of the answers */
				tried_note(a.tried, has_method(a.list,
				    "keyboard-interactive") ? " (answers "
				    "refused)" : " (accepted; the server asks "
				    "for more)");
		}
		was_kbd = 0;
		if (!pk_done && has_method(a.list, "publickey")) {
			pk_done = 1;
			res = auth_publickey(&a);
		} else if (!kbd_done &&
		    has_method(a.list, "keyboard-interactive")) {
			kbd_done = was_kbd = 1;
			res = auth_kbd(&a);
		} else
			break;
		if (res == AUTH_OK || libssh2_userauth_authenticated(s->s))
			return KL_OK;
	}
	return auth_fail(&a, dest, 0, err, err_len);
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
	if ((rc = tcp_connect(u, &s->sock, err, err_len)) != KL_OK)
		return rc;
	if ((rc = session_start(s, u, err, err_len)) != KL_OK)
		return rc;
	if ((rc = authenticate(s, user, dest, err, err_len)) != KL_OK)
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
