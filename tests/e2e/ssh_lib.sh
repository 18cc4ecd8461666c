# shellcheck shell=bash
# Shared helpers of the ssh:// end-to-end scripts (ssh_basic.sh,
# ssh_faults.sh).  Source after setting KLUIS and KLUIS_SERVER; it sources
# lib.sh and sshd_harness.sh.
#
#   ssh_e2e_init NAME   e2e_init, a repository path $REPO (not created),
#                       sshd started (sshd_harness.sh)
#   ks KEY ARGS...      kluis -r $SSH_URL over ssh with client key KEY
#                       (SSH_URL_USE: another URL; killed after KS_TIMEOUT s)
#   kp ARGS...          kluis -r pipe:$REPO
#   pc KEY ARGS...      protoclient.py through ssh with KEY (use with run
#                       or expect_exit)
#   pcl ARGS...         protoclient.py through a local `kluis-server serve`
#   expect_out TEXT [NAME]  fixed string in $OUT (like expect_stdout_contains)
#   repo_files DIR      sorted list of the repository files (no .tmp-)
#   tmp_files DIR       .tmp-* files left in DIR
#   file_sum DIR        one line per file with its BLAKE2b, to compare
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sshd_harness.sh"

PROTOCLIENT="$E2E_DIR/protoclient.py"

ssh_e2e_init() {
	e2e_init "$1"
	sshd_start
}

# case_begin TITLE: a header line to read the log by.
case_begin() {
	echo "# --- $1"
}

# ks KEY ARGS...: the kluis client over ssh:// with KEY and the harness's
# known_hosts.  SSH_URL_USE overrides the URL.
ks() {
	local key=$1
	shift
	timeout "${KS_TIMEOUT:-60}" \
	    "$KLUIS" -r "${SSH_URL_USE:-$SSH_URL}" --ssh-key "$key" \
	    --ssh-known-hosts "$SSH_KH" --server-command "$KLUIS_SERVER" \
	    --password-file "$PW" "$@"
}

# hs KEY_FILE PASSWORD_FILE ARGS...: kluis-hostile ($HOSTILE) with what a
# compromised host holds - that repository key file and passphrase, the
# append-only SSH key - through the real sshd, within HS_TIMEOUT seconds.
hs() {
	local key=$1 pw=$2
	shift 2
	timeout "${HS_TIMEOUT:-300}" "$HOSTILE" -r "$SSH_URL" \
	    --key-file "$key" --password-file "$pw" \
	    --ssh-key "$SSH_KEY_APPEND" --ssh-known-hosts "$SSH_KH" \
	    --server-command "$KLUIS_SERVER" "$@"
}

# fresh NAME ARGS...: kluis with the full key (the admin SSH key) and a
# catalog nobody used (an operator on a new machine after an incident).
fresh() {
	local name=$1
	shift
	KLUIS_CACHE_DIR=$WORK/fresh-$name ks "$SSH_KEY_ADMIN" "$@"
}

# kp ARGS...: the kluis client over the pipe transport.
kp() {
	timeout "${KS_TIMEOUT:-60}" \
	    "$KLUIS" -r "pipe:$REPO" --server-command "$KLUIS_SERVER" \
	    --password-file "$PW" "$@"
}

# pc KEY ARGS...: raw protocol through ssh with KEY.
pc() {
	local key=$1
	shift
	timeout 120 python3 "$PROTOCLIENT" --cmd "$(ssh_cmd "$key")" "$@"
}

# pcl ARGS...: raw protocol through a local server; PCL_SERVE_ARGS are the
# serve options (default: --repo $REPO).
pcl() {
	timeout 120 python3 "$PROTOCLIENT" \
	    --cmd "$KLUIS_SERVER serve ${PCL_SERVE_ARGS:---repo $REPO}" "$@"
}

expect_out() {
	if grep -qF -- "$1" "$OUT"; then
		ok "reply '$1'${2:+: $2}"
		return 0
	fi
	not_ok "no reply '$1'${2:+: $2}"
	return 1
}

repo_files() {
	(cd "$1" && find . -type f ! -name '.tmp-*' ! -name 'audit.log*' |
	    LC_ALL=C sort)
}

tmp_files() {
	find "$1" -name '.tmp-*' 2>/dev/null
}

file_sum() {
	(cd "$1" && find . -type f ! -name 'audit.log*' -print0 |
	    LC_ALL=C sort -z | xargs -0 -r b2sum)
}

# first_file DIR/SUBDIR: the name of one repository file there.
first_file() {
	find "$1" -type f ! -name '.tmp-*' | LC_ALL=C sort | head -n 1 |
	    xargs -r basename
}

# audit_lines: number of lines of $REPO/audit.log (0 if missing).
audit_lines() {
	if [ -f "${1:-$REPO}/audit.log" ]; then
		wc -l <"${1:-$REPO}/audit.log"
	else
		echo 0
	fi
}

# audit_since N: the records appended after line N.
audit_since() {
	tail -n +"$(($1 + 1))" "${2:-$REPO}/audit.log" 2>/dev/null
}
