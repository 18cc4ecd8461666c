#!/usr/bin/env bash
# End-to-end tests of two-step SSH authentication (issue #3): a key, then a
# one-time code asked through keyboard-interactive by PAM, against the real
# OpenSSH server; and keyboard-interactive alone.  kluis runs on a
# pseudo-terminal (ptyrun.py) so that /dev/tty is one the test types on.
#
# The sshd runs under its own name, kluis-e2e-mfa-PID: OpenSSH portable
# takes its PAM service from the program name, so its PAM stack is
# /etc/pam.d/kluis-e2e-mfa-PID, written here and removed at exit.  That
# stack accepts the code in $SSHD_DIR/otp (pam_exec), nothing else.  One
# sshd, three ports, told apart with Match LocalPort:
#   SSH_PORT    publickey alone (the harness's own)
#   MFA_PORT    AuthenticationMethods publickey,keyboard-interactive
#   KBD_PORT    AuthenticationMethods keyboard-interactive
#
# usage: ssh_mfa.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: ssh_mfa.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: ssh_mfa.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
PTYRUN="$E2E_DIR/ptyrun.py"

e2e_init ssh-mfa
mfa_die() {
	echo "FAIL: $1"
	echo "0 passed, 1 failed"
	exit 1
}
command -v setsid >/dev/null || mfa_die "setsid (util-linux) is missing"
[ -d /etc/pam.d ] || mfa_die "no /etc/pam.d: PAM is missing"
ls /lib/*/security/pam_exec.so /usr/lib/*/security/pam_exec.so \
    >/dev/null 2>&1 || mfa_die "pam_exec.so is missing (libpam-modules)"
SSHD_PROGNAME=kluis-e2e-mfa-$$
PAM_FILE=/etc/pam.d/$SSHD_PROGNAME
MFA_PORT=$(sshd_free_port)
KBD_PORT=$(sshd_free_port)
# PermitRootLogin yes: prohibit-password forbids keyboard-interactive for
# root, and these tests log in as root.  Only 127.0.0.1, only these ports.
SSHD_CONFIG_PRE="Port $MFA_PORT
Port $KBD_PORT
UsePAM yes"
SSHD_CONFIG_POST="Match LocalPort $MFA_PORT
    KbdInteractiveAuthentication yes
    PermitRootLogin yes
    AuthenticationMethods publickey,keyboard-interactive
Match LocalPort $KBD_PORT
    KbdInteractiveAuthentication yes
    PermitRootLogin yes
    AuthenticationMethods keyboard-interactive"

# The PAM stack and its check script (root only: pam_exec runs it as root
# in sshd's monitor), ready before sshd_start logs in once to check itself.
at_exit "rm -f '$PAM_FILE'"
PAMDIR=$WORK/pam
mkdir -m 700 "$PAMDIR"
OTP=$PAMDIR/otp
OTP_LOG=$PAMDIR/otp.log
cat >"$PAMDIR/check-otp.sh" <<EOF
#!/bin/sh
# pam_exec expose_authtok: the answer on stdin (NUL-terminated).
got=\$(tr -d '\\000\\n')
if [ -n "\$got" ] && [ "\$got" = "\$(cat '$OTP')" ]; then
	echo "ok \$PAM_USER" >>'$OTP_LOG'
	exit 0
fi
echo "bad \$PAM_USER" >>'$OTP_LOG'
exit 1
EOF
chmod 700 "$PAMDIR/check-otp.sh"
cat >"$PAM_FILE" <<EOF
# kluis tests/e2e/ssh_mfa.sh (removed at exit): a one-time code, nothing else
auth required pam_exec.so expose_authtok quiet $PAMDIR/check-otp.sh
auth optional pam_permit.so
account required pam_permit.so
session required pam_permit.so
EOF
sshd_start
: >"$OTP_LOG"
echo "# PAM service $SSHD_PROGNAME; ports: key $SSH_PORT," \
    "key+code $MFA_PORT, code $KBD_PORT"
printf '[127.0.0.1]:%s %s\n[127.0.0.1]:%s %s\n' \
    "$MFA_PORT" "$(cut -d' ' -f2,3 "$SSH_KH")" \
    "$KBD_PORT" "$(cut -d' ' -f2,3 "$SSH_KH")" >>"$SSH_KH"

# new_code: a fresh one-time code in $CODE and $OTP.
new_code() {
	CODE=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ' | cut -c1-6)
	printf '%s\n' "$CODE" >"$OTP"
}

# kargs KEY: the kluis command line of ks (ssh_lib.sh) for KEY, in KARGS.
kargs() {
	KARGS=("$KLUIS" -r "${SSH_URL_USE:-$SSH_URL}" --ssh-key "$1" \
	    --ssh-known-hosts "$SSH_KH" --server-command "$KLUIS_SERVER" \
	    --password-file "$PW")
}

# tks KEY ANSWER ARGS...: ks on a pty as the terminal; ANSWER is typed at
# the first prompt for a code (nothing if empty).  The transcript of the
# terminal is in $TTY_OUT.  (No timeout(1) here: it would put kluis into a
# background process group, which may not read the terminal.)
TTY_OUT=$WORK/.tty
PROMPT_RE='[Pp]assword: *$'
tks() {
	local ans=$2
	kargs "$1"
	shift 2
	if [ -n "$ans" ]; then
		python3 "$PTYRUN" --timeout 60 --transcript "$TTY_OUT" \
		    --answer "$PROMPT_RE" "$ans" -- "${KARGS[@]}" "$@"
	else
		python3 "$PTYRUN" --timeout 60 --transcript "$TTY_OUT" -- \
		    "${KARGS[@]}" "$@"
	fi
}

# nks KEY ARGS...: ks in a new session without a controlling terminal.
nks() {
	kargs "$1"
	shift
	setsid -w timeout 60 "${KARGS[@]}" "$@" </dev/null
}

check_tty() {
	if grep -qE "$1" "$TTY_OUT"; then
		ok "$2"
	else
		not_ok "$2"
		sed 's/^/  tty: /' "$TTY_OUT" | head -n 10
	fi
}

# show_err: the last run's stderr in the log, for the reader.
show_err() {
	sed 's/^/#   stderr: /' "$ERR" | head -n 3
}

otp_log_has() {
	grep -qx "$1 root" "$OTP_LOG"
}

MFA_URL=ssh://root@127.0.0.1:$MFA_PORT$REPO
KBD_URL=ssh://root@127.0.0.1:$KBD_PORT$REPO
A=$SSH_KEY_ADMIN
SRC=$WORK/src
mkdir -p "$SRC/d"
printf 'one\n' >"$SRC/a"
head -c 200000 /dev/urandom >"$SRC/d/b"
E2E_WHAT="local init" expect_exit 0 k init --kdf interactive

# ---------------------------------------------------------------------------
case_begin "publickey alone still works with UsePAM yes"
E2E_WHAT="snapshots over ssh:// with the key alone" expect_exit 0 \
    nks "$A" snapshots

# ---------------------------------------------------------------------------
case_begin "key, then a one-time code on the terminal"
new_code
: >"$OTP_LOG"
before=$(audit_lines)
SSH_URL_USE=$MFA_URL E2E_WHAT="backup with key + the right code" \
    expect_exit 0 tks "$A" "$CODE" backup "$SRC" --host mfa --json
SNAP=$(json_field snapshot_id 2>/dev/null)
check "the backup wrote its snapshot" \
    test -n "$SNAP" -a -f "$REPO/snapshots/$SNAP"
check_tty "Password:" "the server's prompt was shown on the terminal"
check "the code was checked by PAM and accepted" otp_log_has ok
check "the code is not echoed on the terminal" \
    test "$(grep -c "$CODE" "$TTY_OUT")" -eq 0
check "the prompt is not on stdout or stderr" \
    test -z "$(grep -i password "$OUT" "$ERR")"
check "sshd logged the two steps (publickey, then keyboard-interactive)" \
    grep -q "Partial publickey for root" "$SSHD_LOG"
fp=$(ssh-keygen -l -E sha256 -f "$A.pub" | awk '{print $2}')
check "the audit records name the key of the two-step login" \
    grep -qF "key=$fp " <(audit_since "$before" | grep ' op=put type=snapshot ')
new_code
SSH_URL_USE=$MFA_URL E2E_WHAT="snapshots with key + the right code" \
    expect_exit 0 tks "$A" "$CODE" snapshots
check "snapshots lists the snapshot" grep -qF "${SNAP:0:8}" "$OUT"

# ---------------------------------------------------------------------------
case_begin "key, then a wrong code"
new_code
: >"$OTP_LOG"
SSH_URL_USE=$MFA_URL E2E_WHAT="snapshots with key + a wrong code" \
    expect_exit 1 tks "$A" "000000x" snapshots
show_err
expect_stderr_contains "SSH authentication failed for root@127.0.0.1"
expect_stderr_contains "server accepts: publickey, then keyboard-interactive"
expect_stderr_contains "$A (accepted; the server asks for more)"
expect_stderr_contains "keyboard-interactive (answers refused)"
check "PAM saw the wrong code and refused it" otp_log_has bad
check "PAM accepted nothing" test "$(grep -c '^ok' "$OTP_LOG")" -eq 0

# ---------------------------------------------------------------------------
case_begin "key, then a code, without a terminal"
: >"$OTP_LOG"
SSH_URL_USE=$MFA_URL E2E_WHAT="snapshots with key + code, no terminal" \
    expect_exit 1 nks "$A" snapshots
show_err
expect_stderr_contains "one-time code"
expect_stderr_contains "no terminal"
expect_stderr_contains "$A (accepted; the server asks for more)"
check "PAM was not asked" test ! -s "$OTP_LOG"

# ---------------------------------------------------------------------------
case_begin "a key the server does not know: no code is asked"
: >"$OTP_LOG"
SSH_URL_USE=$MFA_URL E2E_WHAT="an unauthorized key on the key+code port" \
    expect_exit 1 tks "$SSH_KEY_STRANGER" "123456" snapshots
show_err
expect_stderr_contains \
    "server accepts: publickey; tried: $SSH_KEY_STRANGER (refused)"
check "no prompt on the terminal" test -z "$(grep -i password "$TTY_OUT")"
check "PAM was not asked" test ! -s "$OTP_LOG"

# ---------------------------------------------------------------------------
case_begin "keyboard-interactive alone"
new_code
: >"$OTP_LOG"
SSH_URL_USE=$KBD_URL E2E_WHAT="snapshots with the right code alone" \
    expect_exit 0 tks "$A" "$CODE" snapshots
check "snapshots lists the snapshot" grep -qF "${SNAP:0:8}" "$OUT"
check "the code was accepted by PAM" otp_log_has ok
SSH_URL_USE=$KBD_URL E2E_WHAT="the code alone, without a terminal" \
    expect_exit 1 nks "$A" snapshots
show_err
expect_stderr_contains "one-time code"
expect_stderr_contains "keyboard-interactive (no terminal)"
new_code
SSH_URL_USE=$KBD_URL E2E_WHAT="a wrong code alone" \
    expect_exit 1 tks "$A" "999999x" snapshots
show_err
expect_stderr_contains "keyboard-interactive (answers refused)"

e2e_finish
