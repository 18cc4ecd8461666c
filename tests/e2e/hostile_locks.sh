#!/usr/bin/env bash
# Issue #10 finding 2, played by the attacker: a compromised city server
# (web01) holding only its backup-only key file, its passphrase and its
# append-only SSH key tries to stop every other host's backups with a lock
# (kluis-hostile lock-forge), through a real sshd.  Another host (web02,
# its own append-only SSH key and backup-only key) must keep backing up.
#
# - exclusive locks, of version 2 or 1, are refused by the server in the
#   append-only role and audited; so are version-1 shared locks;
# - a shared lock dated ten years ahead is accepted (the server cannot see
#   its time) but ignored as invalid, with a warning; once its receive
#   time is 31 minutes old it is stale (and no longer even read);
# - an operator's exclusive lock (full role) stops backups (exit 11) until
#   its receive time is 31 minutes old; dated ten years ahead it is invalid
#   and ignored.
# Receive times are set as root on the server with touch, as the server's
# clock would have set them.
#
# usage: hostile_locks.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: hostile_locks.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: hostile_locks.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_HOSTILE=${3:?usage: hostile_locks.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $KLUIS_HOSTILE in /*) ;; *) KLUIS_HOSTILE=$PWD/$KLUIS_HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init hostile-locks

TEN_YEARS=315360000
A=$SSH_KEY_ADMIN
P=$SSH_KEY_APPEND		# web01, the attacker
W2=$(ssh_add_key web02 \
    "command=\"$KLUIS_SERVER serve --append-only --repo $REPO --client-name web02\",restrict")

# hostile SSH_KEY ATTACK ARGS...: kluis-hostile as web01, with web01's
# backup-only key file and passphrase.
hostile() {
	local key=$1
	shift
	timeout 60 "$KLUIS_HOSTILE" -r "$SSH_URL" --ssh-key "$key" \
	    --ssh-known-hosts "$SSH_KH" --server-command "$KLUIS_SERVER" \
	    --key-file "$WORK/web01.key" --password-file "$WORK/pw-web01" "$@"
}

# web02 ARGS...: the other host's kluis.
web02() {
	timeout 120 "$KLUIS" -r "$SSH_URL" --ssh-key "$W2" \
	    --ssh-known-hosts "$SSH_KH" --server-command "$KLUIS_SERVER" \
	    --key-file "$WORK/web02.key" --password-file "$WORK/pw-web02" "$@"
}

lock_count() {
	find "$REPO/locks" -type f ! -name '.tmp-*' | wc -l
}

# age_lock NAME SECONDS: the lock's receive time, SECONDS ago.
age_lock() {
	touch -d "@$(($(date +%s) - $2))" "$REPO/locks/$1"
}

# expect_web02_backup EXIT WHAT: web02 backs up $SRC.
expect_web02_backup() {
	E2E_WHAT="web02's backup $2" expect_exit "$1" \
	    web02 backup "$SRC" --host web02
}

# refused CASE ARGS...: lock-forge ARGS as web01 is refused, recorded in
# the audit log, and leaves no lock.
refused() {
	local what=$1 before n
	shift
	before=$(audit_lines)
	n=$(lock_count)
	E2E_WHAT="web01 plants $what" expect_exit 1 hostile "$P" lock-forge "$@"
	expect_stderr_contains "refused the lock"
	check "no lock file was stored ($what)" test "$(lock_count)" -eq "$n"
	if audit_since "$before" | grep 'op=put type=lock' |
	    grep 'client=web01' | grep -q 'outcome=KL_E_PERM'; then
		ok "the refusal is audited with web01's key ($what)"
	else
		not_ok "no audit record of the refused $what"
		audit_since "$before" | sed 's/^/  audit: /' | head -n 5
	fi
}

# ---------------------------------------------------------------------------
case_begin "setup: repository, two backup-only keys, a baseline backup"
E2E_WHAT="init over ssh:// (admin)" expect_exit 0 ks "$A" init --kdf interactive
for h in web01 web02; do
	make_password "$WORK/pw-$h" "passphrase of $h"
	E2E_WHAT="backup-only key for $h" expect_exit 0 \
	    ks "$A" key add --backup-only --label "$h" --kdf interactive \
	    --out "$WORK/$h.key" --new-password-file "$WORK/pw-$h"
done
SRC=$WORK/src
mkdir -p "$SRC"
head -c 200000 /dev/urandom >"$SRC/data"
echo "web02's files" >"$SRC/notes"
expect_web02_backup 0 "before any attack"

# ---------------------------------------------------------------------------
case_begin "the append-only role refuses exclusive and version-1 locks"
refused "an exclusive lock dated ten years ahead" \
    --exclusive --time-offset "$TEN_YEARS"
refused "an exclusive lock of now" --exclusive
refused "a version-1 exclusive lock dated ten years ahead" \
    --version 1 --exclusive --time-offset "$TEN_YEARS"
refused "a version-1 shared lock" --version 1
expect_web02_backup 0 "after the refused locks"

# ---------------------------------------------------------------------------
case_begin "a shared lock dated ten years ahead: accepted, ignored as invalid"
E2E_WHAT="web01 plants a shared lock dated ten years ahead" expect_exit 0 \
    hostile "$P" lock-forge --time-offset "$TEN_YEARS" --host web01-forged
FORGED=$(sed -n 's/^lock //p' "$OUT")
check "the server stored it (it cannot see the time)" \
    test -n "$FORGED" -a -f "$REPO/locks/$FORGED"
E2E_WHAT="web01 plants a lock exclusive inside, shared in its header" \
    expect_exit 0 hostile "$P" lock-forge --exclusive --header-shared
MISMATCH=$(sed -n 's/^lock //p' "$OUT")
expect_web02_backup 0 "with both forged locks in place"
expect_stderr_contains "ignored 1 lock file dated after its arrival"
expect_stderr_contains "locks/$FORGED (host web01-forged)"
age_lock "$FORGED" $((31 * 60))
expect_web02_backup 0 "once the forged lock's receive time is 31 minutes old"
if grep -qi "dated after" "$ERR"; then
	not_ok "a stale lock is still judged (it should not even be read)"
else
	ok "a lock 31 minutes old by its receive time is stale: no warning"
fi
rm -f "$REPO/locks/$FORGED" "$REPO/locks/$MISMATCH"

# ---------------------------------------------------------------------------
case_begin "an operator's exclusive lock (full role) goes stale by receive time"
E2E_WHAT="the full role creates an exclusive lock" expect_exit 0 \
    hostile "$A" lock-forge --exclusive --host operator
OPLOCK=$(sed -n 's/^lock //p' "$OUT")
check "the exclusive lock is stored" test -n "$OPLOCK" -a -f "$REPO/locks/$OPLOCK"
expect_web02_backup 11 "while the exclusive lock is live"
expect_stderr_contains "locked exclusively by operator"
rm -f "$REPO/locks/$OPLOCK"
# written 29 minutes ago, by its holder's clock and the server's
E2E_WHAT="the full role creates an exclusive lock of 29 minutes ago" \
    expect_exit 0 hostile "$A" lock-forge --exclusive --host operator \
    --time-offset $((-29 * 60))
OPLOCK=$(sed -n 's/^lock //p' "$OUT")
age_lock "$OPLOCK" $((29 * 60))
expect_web02_backup 11 "29 minutes after the exclusive lock arrived"
age_lock "$OPLOCK" $((31 * 60))
expect_web02_backup 0 "31 minutes after the exclusive lock arrived"
if grep -qi "dated after" "$ERR"; then
	not_ok "the stale exclusive lock was judged invalid, not stale"
else
	ok "the exclusive lock is stale by its receive time, not invalid"
fi
rm -f "$REPO/locks/$OPLOCK"
E2E_WHAT="the full role creates an exclusive lock dated ten years ahead" \
    expect_exit 0 hostile "$A" lock-forge --exclusive --host operator \
    --time-offset "$TEN_YEARS"
OPLOCK=$(sed -n 's/^lock //p' "$OUT")
expect_web02_backup 0 "with an exclusive lock dated ten years ahead"
expect_stderr_contains "ignored 1 lock file dated after its arrival"
rm -f "$REPO/locks/$OPLOCK"

# ---------------------------------------------------------------------------
case_begin "nothing left behind, the audit chain intact"
check "no lock left" test "$(lock_count)" -eq 0
E2E_WHAT="audit verify" expect_exit 0 "$KLUIS_SERVER" audit verify --repo "$REPO"
expect_stdout_contains "chain intact"
e2e_finish
