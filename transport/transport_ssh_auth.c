/*
 * SSH user authentication (for transport_ssh.c): publickey with ssh-agent
 * or key files, and keyboard-interactive with the prompts answered on the
 * terminal, over as many steps as the server asks for.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libssh2.h>
#include <sodium.h>

#include "kluis/err.h"
#include "kluis/text.h"
#include "transport_internal.h"

#define KEYFILE_READ_MAX 65536
#define PASS_MAX 1024
#define TRIED_MAX 400
#define AUTH_LIST_MAX 256
#define AUTH_LISTS_MAX 300

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
	tr_ssh_clean_copy(now, sizeof(now), l, strlen(l));
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
		/* --ssh-key turns the agent off: do not send anyone there */
		tried_add(a->tried, path, explicit ? " (passphrase-protected "
		    "and no terminal to ask on: --ssh-key uses no agent, so "
		    "a key for unattended runs must have no passphrase)" :
		    " (passphrase-protected, no terminal to ask on; load it "
		    "into ssh-agent)");
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
		snprintf(path, sizeof(path), "%s/.ssh/%s", tr_ssh_home_dir(),
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

int
tr_ssh_authenticate(LIBSSH2_SESSION *sess, const char *user, const char *dest,
    char *err, size_t err_len)
{
	struct auth a;
	enum auth_res res = AUTH_MORE;
	int pk_done = 0, kbd_done = 0, was_kbd = 0, q;

	memset(&a, 0, sizeof(a));
	a.sess = sess;
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
		if (res == AUTH_OK || libssh2_userauth_authenticated(sess))
			return KL_OK;
	}
	return auth_fail(&a, dest, 0, err, err_len);
}
