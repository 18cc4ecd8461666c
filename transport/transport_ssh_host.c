/*
 * The SSH server as a host (for transport_ssh.c): the TCP connection to
 * it, and its host key, checked against known_hosts (transport_kh.c) after
 * offering first the key types that known_hosts has for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <sodium.h>

#include "kluis/buf.h"
#include "kluis/err.h"
#include "kluis/fsutil.h"
#include "transport_internal.h"

#define CONNECT_TIMEOUT_MS 15000

/* ---- the TCP connection ---- */

/* poll(2) for up to ms in all, through signals (SIGUSR1 asks for a
 * progress line; it must not time a connection out). */
static int
poll_left(struct pollfd *p, int ms)
{
	struct timespec t0, t1;
	int r, left = ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((r = poll(p, 1, left)) < 0 && errno == EINTR) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return 0;
	}
	return r;
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
		if (poll_left(&p, CONNECT_TIMEOUT_MS) != 1) {
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

int
tr_ssh_tcp_connect(const struct kl_url *u, int *out, char *err, size_t err_len)
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

/* ---- the host key ---- */

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

const char *
tr_ssh_home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && *h != '\0')
		return h;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_dir : "/";
}

void
tr_ssh_known_hosts_path(char *out, size_t out_len)
{
	if (tr_opts()->known_hosts != NULL)
		snprintf(out, out_len, "%s", tr_opts()->known_hosts);
	else
		snprintf(out, out_len, "%s/.ssh/known_hosts",
		    tr_ssh_home_dir());
}

/*
 * Reads and parses known_hosts (transport_kh.c); a file that does not
 * exist is an empty one (*have_file 0).  Other errors refuse the
 * connection: a known_hosts that cannot be read must not look empty.
 */
int
tr_ssh_kh_open(const char *path, struct tr_kh **kh, int *have_file, char *err,
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
void
tr_ssh_hostkey_prefs(LIBSSH2_SESSION *sess, const struct tr_kh *kh,
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

int
tr_ssh_hostkey_verify(LIBSSH2_SESSION *sess, const struct tr_kh *kh,
    int have_file, const struct kl_url *u, const char *khpath, char *err,
    size_t err_len)
{
	struct tr_kh_verdict v;
	const struct hktype *t;
	const char *key;
	char fp[160], hp[300];
	size_t len;
	int type;

	if ((key = libssh2_session_hostkey(sess, &len, &type)) == NULL) {
		snprintf(err, err_len, "%s: the server sent no host key",
		    u->host);
		return KL_E_CONN;
	}
	t = hktype_of(type);
	fingerprint(sess, t, fp, sizeof(fp));
	/* an unknown type is never found, but may still be revoked */
	tr_kh_check(kh, u->host, u->port, t != NULL ? t->kh : "",
	    (const uint8_t *)key, len, &v);
	if (v.status == TR_KH_MATCH)
		return KL_OK;
	host_port(u, hp, sizeof(hp));
	return hostkey_refused(&v, have_file, hp, fp, khpath, err, err_len);
}
