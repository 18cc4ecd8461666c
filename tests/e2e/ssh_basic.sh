#!/usr/bin/env bash
# End-to-end tests of the repository server behind a real OpenSSH server
# (issue #3): init, backup, snapshots, ls, restore over ssh:// and pipe:;
# the append-only role refusing deletes and overwrites sent as raw protocol
# requests, each refusal in the hash-chained audit log; forced commands
# pinning the repository; the read-only role; malformed frames.
#
# usage: ssh_basic.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: ssh_basic.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: ssh_basic.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init ssh-basic

SRC=/usr/include
[ -d "$SRC" ] || { echo "FAIL: $SRC is missing"; echo "0 passed, 1 failed"; exit 1; }
A=$SSH_KEY_ADMIN

# ---------------------------------------------------------------------------
case_begin "init, backup, snapshots, ls, restore over ssh:// (admin key)"
E2E_WHAT="init over ssh:// with the admin key" expect_exit 0 \
    ks "$A" init --kdf interactive
if [ ! -f "$REPO/config" ]; then
	echo "# remote init did not create $REPO/config: initialising locally"
	rm -rf "$REPO"
	E2E_WHAT="local init (fallback)" expect_exit 0 k init --kdf interactive
fi
check "the repository has no .tmp- files after init" test -z "$(tmp_files "$REPO")"
file_sum "$REPO" >"$WORK/repo.before"
E2E_WHAT="init over ssh:// over an existing repository" expect_exit 1 \
    ks "$A" init --kdf interactive
expect_stderr_contains "already exists"
file_sum "$REPO" >"$WORK/repo.after"
check "init over an existing repository changes nothing" \
    cmp -s "$WORK/repo.before" "$WORK/repo.after"
# Issue #13 §6: init reaches the server before it asks for a passphrase,
# and a transport's message is not preceded by the URL a second time.
: >"$WORK/empty_kh"
E2E_WHAT="init with an unknown host key and no passphrase source" \
    expect_exit 1 ks "$A" --ssh-known-hosts "$WORK/empty_kh" \
    --password-file "$WORK/no-such-passphrase" init --kdf interactive
expect_stderr_contains "host key" "the connection fails first"
check "init did not get as far as the passphrase" \
    bash -c "! grep -q 'passphrase' '$ERR'"
check "the URL is said once" \
    test "$(grep -o "$SSH_URL" "$ERR" | wc -l)" -le 1
ssh-keygen -q -t ed25519 -N 'a key passphrase' -f "$WORK/locked_key"
E2E_WHAT="--ssh-key with a passphrase-protected key and no terminal" \
    expect_exit 1 setsid -w "$KLUIS" -r "$SSH_URL" --ssh-key \
    "$WORK/locked_key" --ssh-known-hosts "$SSH_KH" --password-file "$PW" \
    snapshots </dev/null
expect_stderr_contains "passphrase-protected" "the key is named"
check "--ssh-key uses no agent, and the message does not send one there" \
    bash -c "! grep -q 'load it into ssh-agent' '$ERR'"
NEWREPO_KEY=$(ssh_add_key newrepo-append \
    "command=\"$KLUIS_SERVER serve --append-only --repo $WORK/newrepo --client-name new01\",restrict")
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$WORK/newrepo" \
    run ks "$NEWREPO_KEY" init --kdf interactive
check "the append-only role may not create a repository (exit 1 or 12, got $rc)" \
    test "$rc" -eq 1 -o "$rc" -eq 12
expect_stderr_contains "may not create"
check "the refused init creates nothing" test ! -e "$WORK/newrepo"
E2E_WHAT="backup of $SRC over ssh://" expect_exit 0 \
    ks "$A" backup "$SRC" --host ssh-admin --json
SNAP1=$(json_field snapshot_id 2>/dev/null)
check "the backup printed a snapshot id" test -n "$SNAP1" -a -f "$REPO/snapshots/$SNAP1"
check "no lock left after the backup" \
    test "$(find "$REPO/locks" -type f 2>/dev/null | wc -l)" -eq 0
E2E_WHAT="snapshots over ssh://" expect_exit 0 ks "$A" snapshots --json
check "snapshots lists the new snapshot" grep -qF "$SNAP1" "$OUT"
E2E_WHAT="ls over ssh://" expect_exit 0 ks "$A" ls latest "$SRC/stdio.h"
expect_stdout_contains "stdio.h"
E2E_WHAT="stats over ssh://" expect_exit 0 ks "$A" stats
E2E_WHAT="cat config over ssh://" expect_exit 0 ks "$A" cat config
E2E_WHAT="restore over ssh://" expect_exit 0 \
    ks "$A" restore "$SNAP1" --target "$WORK/out-ssh"
treecmp "restore over ssh:// is identical to $SRC" "$SRC" "$WORK/out-ssh$SRC"
rm -rf "$WORK/out-ssh"
E2E_WHAT="kluis-server verify after the ssh:// backup" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"
check "the repository has no .tmp- files" test -z "$(tmp_files "$REPO")"
check "the server wrote an audit log" test -s "$REPO/audit.log"

# ---------------------------------------------------------------------------
case_begin "the same over pipe:"
E2E_WHAT="init over pipe:" expect_exit 0 "$KLUIS" -r "pipe:$WORK/pipe-repo" \
    --server-command "$KLUIS_SERVER" --password-file "$PW" init --kdf interactive
check "init over pipe: created the repository" test -f "$WORK/pipe-repo/config"
E2E_WHAT="backup over pipe:" expect_exit 0 kp backup "$SRC" --host ssh-admin --json
check "a second backup over pipe: adds almost nothing (< 1 MB)" \
    test "$(json_field bytes_added 2>/dev/null || echo 999999999)" -lt 1000000
SNAP2=$(json_field snapshot_id 2>/dev/null)
E2E_WHAT="snapshots over pipe:" expect_exit 0 kp snapshots
check "pipe: lists both snapshots" \
    test "$(grep -c '^[0-9a-f]\{8\} ' "$OUT")" -eq 2
E2E_WHAT="ls over pipe:" expect_exit 0 kp ls latest "$SRC/stdio.h"
E2E_WHAT="restore over pipe:" expect_exit 0 \
    kp restore "${SNAP2:-latest}" --target "$WORK/out-pipe"
treecmp "restore over pipe: is identical to $SRC" "$SRC" "$WORK/out-pipe$SRC"
rm -rf "$WORK/out-pipe"

# ---------------------------------------------------------------------------
case_begin "append-only key: backups work"
BSRC=$WORK/src
mkdir -p "$BSRC"
cp -a "$SRC/linux" "$BSRC/"
head -c 3000000 /dev/urandom >"$BSRC/random"
echo "web01 only" >"$BSRC/web01"
locks0=$(find "$REPO/locks" -type f | wc -l)
E2E_WHAT="backup with the append-only key" expect_exit 0 \
    ks "$SSH_KEY_APPEND" backup "$BSRC" --host web01 --json
SNAP3=$(json_field snapshot_id 2>/dev/null)
check "the append-only backup wrote its snapshot" test -n "$SNAP3" -a -f "$REPO/snapshots/$SNAP3"
check "the append-only backup released its lock" \
    test "$(find "$REPO/locks" -type f | wc -l)" -eq "$locks0"
E2E_WHAT="snapshots with the append-only key" expect_exit 0 \
    ks "$SSH_KEY_APPEND" snapshots
E2E_WHAT="the full role restores the append-only snapshot" expect_exit 0 \
    ks "$A" restore "${SNAP3:-latest}" --target "$WORK/out-web01"
treecmp "the append-only snapshot is complete" "$BSRC" "$WORK/out-web01$BSRC"
rm -rf "$WORK/out-web01"

# ---------------------------------------------------------------------------
case_begin "append-only key: raw REMOVE and PUT are refused and audited"
P=$SSH_KEY_APPEND
# audit_check NAME WHAT BEFORE: the records after line BEFORE name the
# object and the client, and say the request was refused.
audit_check() {
	audit_since "$3" >"$WORK/audit.new"
	if grep -F -- "$1" "$WORK/audit.new" | grep -qi 'web01' &&
	    grep -F -- "$1" "$WORK/audit.new" |
	    grep -qiE 'refus|denied|den|perm|exist|corrupt|err|fail|reject'; then
		ok "audit.log records the refused $2 (object, client, outcome)"
	else
		not_ok "audit.log lacks the refused $2 of $1"
		sed 's/^/  audit: /' "$WORK/audit.new" | head -n 10
	fi
}
declare -A DIROF=([data]=data [index]=index [snapshot]=snapshots [key]=keys)
for t in data index snapshot key; do
	f=$(find "$REPO/${DIROF[$t]}" -type f ! -name '.tmp-*' | LC_ALL=C sort |
	    head -n 1)
	name=$(basename "$f")
	sum=$(b2sum <"$f")
	before=$(audit_lines)
	E2E_WHAT="append-only: raw REMOVE $t" expect_exit 1 pc "$P" "remove $t $name"
	expect_out "ERR code=-8" "REMOVE $t is KL_E_PERM"
	check "append-only: the $t file still exists, unchanged" \
	    test -f "$f" -a "$(b2sum <"$f" 2>/dev/null)" = "$sum"
	audit_check "$name" "REMOVE $t" "$before"

	before=$(audit_lines)
	E2E_WHAT="append-only: raw PUT over the existing $t file" expect_exit 1 \
	    pc "$P" "put $t $name $f"
	if [ "$t" = key ]; then	# no key files at all from this role
		expect_out "ERR code=-8" "PUT of a key file is KL_E_PERM"
	else
		expect_out "ERR code=-6" "PUT over an existing $t is KL_E_EXISTS"
	fi
	check "append-only: the $t file is unchanged after PUT" \
	    test "$(b2sum <"$f")" = "$sum"
	audit_check "$name" "PUT over $t" "$before"
done
before=$(audit_lines)
E2E_WHAT="append-only: raw REMOVE config" expect_exit 1 pc "$P" "remove config config"
expect_out "ERR code=-8"
check "config still exists" test -f "$REPO/config"
sum=$(b2sum <"$REPO/config")
E2E_WHAT="append-only: raw PUT of config" expect_exit 1 \
    pc "$P" "put config config $REPO/config"
check "the PUT of config is refused (EXISTS or PERM)" grep -qE 'ERR code=-(6|8) ' "$OUT"
check "config is unchanged" test "$(b2sum <"$REPO/config")" = "$sum"

# An existing name with other content: refused, file unchanged.
f=$(find "$REPO/data" -type f ! -name '.tmp-*' | LC_ALL=C sort | head -n 1)
name=$(basename "$f")
sum=$(b2sum <"$f")
head -c 5000 /dev/urandom >"$WORK/junk"
E2E_WHAT="append-only: PUT other content under an existing data name" \
    expect_exit 1 pc "$P" "put data $name $WORK/junk"
check "refused with KL_E_EXISTS or KL_E_CORRUPT" grep -qE 'ERR code=-(6|4) ' "$OUT"
check "the data file is unchanged" test "$(b2sum <"$f")" = "$sum"

# A new name that is not the content's hash.
bad=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
before=$(audit_lines)
E2E_WHAT="append-only: PUT whose name is not the content hash" expect_exit 1 \
    pc "$P" "put data $bad $WORK/junk"
expect_out "ERR code=-4" "a wrong content hash is KL_E_CORRUPT"
check "the mismatching upload is not visible" \
    test ! -e "$REPO/data/${bad:0:2}/$bad"
audit_check "$bad" "PUT with a wrong hash" "$before"
for t in index snapshot; do
	E2E_WHAT="append-only: $t PUT whose name is not the hash" expect_exit 1 \
	    pc "$P" "put $t $bad $WORK/junk"
	expect_out "ERR code=-4"
	check "the mismatching $t upload is not visible" \
	    test ! -e "$REPO/${DIROF[$t]}/$bad"
done
# A PUT whose declared size differs from the bytes sent.
E2E_WHAT="append-only: PUT declaring more bytes than sent" expect_exit 1 \
    pc "$P" "put data auto $WORK/junk 6000"
check "a size mismatch is refused" grep -q '^ERR ' "$OUT"
check "no .tmp- files left by refused uploads" test -z "$(tmp_files "$REPO")"
E2E_WHAT="append-only: a PUT broken off midway" expect_exit 0 \
    pc "$P" "put-partial data auto $WORK/junk 2000"
jname=$(b2sum -l 256 "$WORK/junk" | cut -d' ' -f1)
sleep 0.5
check "a broken-off upload is not visible" \
    test ! -e "$REPO/data/${jname:0:2}/$jname"
check "a broken-off upload leaves no .tmp- file" test -z "$(tmp_files "$REPO")"
tmp_files "$REPO" | sed 's/^/  left: /'
E2E_WHAT="append-only: raw LIST, STAT and GET are allowed" expect_exit 0 \
    pc "$P" "list snapshot" "stat data $name" "get data $name"
check "GET returned the file's content" \
    grep -qF "blake2b=$name" "$OUT"
# Locks: a session may release the locks it created, no other.  The
# append-only role creates only shared locks of version 2 (FORMAT.md §12):
# the header says so, the rest stands for the encrypted part.
{ printf 'KLUISLCK\002\000\000\000\000\000\000\000'
  head -c 284 /dev/urandom; } >"$WORK/lock1"
lname=$(b2sum -l 256 "$WORK/lock1" | cut -d' ' -f1)
E2E_WHAT="append-only: PUT of a lock, REMOVE of it in the same session" \
    expect_exit 0 pc "$P" "put lock $lname $WORK/lock1" "remove lock $lname"
check "a lock released by the session that took it is gone" \
    test ! -e "$REPO/locks/$lname"
E2E_WHAT="append-only: PUT of a lock" expect_exit 0 \
    pc "$P" "put lock $lname $WORK/lock1"
before=$(audit_lines)
E2E_WHAT="append-only: REMOVE of a lock an earlier session took" \
    expect_exit 1 pc "$P" "remove lock $lname"
expect_out "ERR code=-8" "another session's lock is KL_E_PERM"
expect_out "only the locks it created" "the refusal says why"
check "the other session's lock is still there" test -e "$REPO/locks/$lname"
audit_check "$lname" "REMOVE of another session's lock" "$before"
E2E_WHAT="append-only: REMOVE of a missing lock" expect_exit 1 \
    pc "$P" "remove lock $bad"
check "removing a missing lock is KL_E_PERM (not this session's)" \
    grep -qF 'ERR code=-8' "$OUT"
E2E_WHAT="admin: REMOVE of a left-behind lock" expect_exit 0 \
    pc "$A" "remove lock $lname"

case_begin "full role: a raw PUT then REMOVE works (the control case)"
E2E_WHAT="admin: PUT of new content then REMOVE of it" expect_exit 0 \
    pc "$A" "put data auto $WORK/junk" "remove data $jname"
check "the admin's PUT and REMOVE leave nothing" \
    test ! -e "$REPO/data/${jname:0:2}/$jname"
E2E_WHAT="admin: PUT over an existing name" expect_exit 1 \
    pc "$A" "put data $name $f"
expect_out "ERR code=-6" "no role may replace a file"

case_begin "audit verify"
E2E_WHAT="audit verify on the untouched log" expect_exit 0 \
    "$KLUIS_SERVER" audit verify --repo "$REPO"
cp -p "$REPO/audit.log" "$WORK/audit.good"
n=$(audit_lines)
echo "# audit.log: $n records; first three:"
head -n 3 "$REPO/audit.log" | sed 's/^/#   /'
# Change one byte in the middle of record 3 (a letter or digit, so that the
# record stays a well-formed line).
python3 - "$REPO/audit.log" 3 <<'EOF'
import sys
p, rec = sys.argv[1], int(sys.argv[2])
lines = open(p, "rb").read().split(b"\n")
l = bytearray(lines[rec - 1])
for i in list(range(len(l) // 2, len(l))) + list(range(len(l) // 2)):
    c = chr(l[i])
    if c.isdigit():
        l[i] = ord("7" if c != "7" else "3"); break
    if c.isalpha():
        l[i] = ord("q" if c != "q" else "x"); break
lines[rec - 1] = bytes(l)
open(p, "wb").write(b"\n".join(lines))
EOF
E2E_WHAT="audit verify after one byte of record 3 changed" expect_exit 1 \
    "$KLUIS_SERVER" audit verify --repo "$REPO"
sed 's/^/#   audit verify: /' "$OUT" "$ERR" | head -n 3
check "audit verify names record 3" \
    grep -qiE '(record|line|entry|#)[^0-9]{0,3}3([^0-9]|$)' "$OUT" "$ERR"
cp -p "$WORK/audit.good" "$REPO/audit.log"
sed -i '2d' "$REPO/audit.log"
E2E_WHAT="audit verify after record 2 was removed" expect_exit 1 \
    "$KLUIS_SERVER" audit verify --repo "$REPO"
check "audit verify names record 2" \
    grep -qiE '(record|line|entry|#)[^0-9]{0,3}2([^0-9]|$)' "$OUT" "$ERR"
cp -p "$WORK/audit.good" "$REPO/audit.log"
E2E_WHAT="audit verify on the restored log" expect_exit 0 \
    "$KLUIS_SERVER" audit verify --repo "$REPO"

# ---------------------------------------------------------------------------
case_begin "forced commands pin the repository"
E2E_WHAT="init of the other repository (local)" expect_exit 0 \
    "$KLUIS" -r "$OTHER_REPO" --password-file "$PW" init --kdf interactive
file_sum "$OTHER_REPO" >"$WORK/other.before"
file_sum "$REPO" >"$WORK/repo.before"
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$OTHER_REPO" \
    run ks "$SSH_KEY_APPEND" backup "$BSRC" --host web01
echo "# append-only key asking for $OTHER_REPO: exit $rc"
sed 's/^/#   stderr: /' "$ERR" | head -n 5
check "a key asking for another repository is refused (exit 1 or 12, got $rc)" \
    test "$rc" -eq 1 -o "$rc" -eq 12
check "the refusal names the repository the key is pinned to" \
    grep -qF "$REPO" "$ERR"
file_sum "$OTHER_REPO" >"$WORK/other.after"
check "nothing was written to the other repository" \
    cmp -s "$WORK/other.before" "$WORK/other.after"
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$WORK/nowhere" \
    run ks "$SSH_KEY_APPEND" backup "$BSRC" --host web01
check "a key asking for a missing path is refused (exit 1 or 12, got $rc)" \
    test "$rc" -eq 1 -o "$rc" -eq 12
check "the missing path is not created" test ! -e "$WORK/nowhere"
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$REPO" \
    run ks "$SSH_KEY_OTHER" backup "$BSRC" --host other
check "the other key asking for this repository is refused (exit 1 or 12, got $rc)" \
    test "$rc" -eq 1 -o "$rc" -eq 12
file_sum "$REPO" >"$WORK/repo.after"
check "nothing was written to this repository" \
    cmp -s "$WORK/repo.before" "$WORK/repo.after"
E2E_WHAT="raw HELLO naming another repository" expect_exit 1 \
    pc "$SSH_KEY_APPEND" --repo "$OTHER_REPO" hello
expect_out "ERR code=-8" "HELLO for another path is KL_E_PERM"
expect_out "$REPO" "the error names the pinned path"
E2E_WHAT="raw HELLO naming the pinned repository" expect_exit 0 \
    pc "$SSH_KEY_APPEND" --repo "$REPO" hello
expect_out "role=append-only"
E2E_WHAT="raw HELLO with an empty path" expect_exit 0 \
    pc "$SSH_KEY_APPEND" hello
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$OTHER_REPO" \
    E2E_WHAT="the pinned key backs up into its own repository" \
    expect_exit 0 ks "$SSH_KEY_OTHER" backup "$BSRC" --host other

# ---------------------------------------------------------------------------
case_begin "read-only key"
file_sum "$REPO" >"$WORK/repo.before"
run ks "$SSH_KEY_RO" backup "$BSRC" --host ro01
echo "# read-only backup: exit $rc"
sed 's/^/#   stderr: /' "$ERR" | head -n 3
check "backup with the read-only key fails (exit 1 or 12, got $rc)" \
    test "$rc" -eq 1 -o "$rc" -eq 12
check "the message says the server gives this key read-only access" \
    grep -qiE 'read-only|read only' "$ERR"
file_sum "$REPO" >"$WORK/repo.after"
check "the read-only backup wrote nothing" \
    cmp -s "$WORK/repo.before" "$WORK/repo.after"
E2E_WHAT="restore with the read-only key" expect_exit 0 \
    ks "$SSH_KEY_RO" restore "${SNAP3:-latest}" --target "$WORK/out-ro"
treecmp "restore with the read-only key is identical" "$BSRC" "$WORK/out-ro$BSRC"
E2E_WHAT="snapshots with the read-only key" expect_exit 0 ks "$SSH_KEY_RO" snapshots
before=$(audit_lines)
E2E_WHAT="read-only: raw PUT" expect_exit 1 pc "$SSH_KEY_RO" "put data auto $WORK/junk"
expect_out "ERR code=-8"
check "the read-only PUT is not visible" test ! -e "$REPO/data/${jname:0:2}/$jname"
E2E_WHAT="read-only: raw REMOVE of a lock" expect_exit 1 pc "$SSH_KEY_RO" "remove lock $bad"
expect_out "ERR code=-8"
check "the read-only refusals are in audit.log" \
    test "$(audit_since "$before" | grep -c -F -e "$jname" -e "$bad")" -ge 2

# ---------------------------------------------------------------------------
case_begin "malformed frames: an ERR, then the server closes; never a crash"
# no_crash: the server's exit status is a normal exit, not a signal.
no_crash() {
	local x
	x=$(sed -n 's/^server-exit=//p' "$OUT" | tail -n 1)
	check "$1: the server exits normally (server-exit=${x:-none})" \
	    test -n "$x" -a "${x:-0}" -ge 0 -a "${x:-0}" -lt 128
}
for kind in short-length huge-length over-limit bad-type trailing short-body \
    put-too-big put-then-get data-without-put end-without-put \
    put-data-too-big; do
	run pcl "malformed $kind" expect-closed
	check "$kind: answered with ERR" grep -q '^ERR code=' "$OUT"
	check "$kind: the server closes the stream" grep -qx 'CLOSED' "$OUT"
	no_crash "$kind"
done
for kind in name-dotdot name-slash name-upper bad-ftype put-overflow put-short; do
	run pcl "malformed $kind" "stat config config"
	check "$kind: answered with ERR" grep -q '^ERR code=' "$OUT"
	no_crash "$kind"
done
run pcl "malformed truncated"
no_crash "a frame cut off by the end of the stream"
run pcl --no-hello "stat config config" expect-closed
check "a request before HELLO: ERR" grep -q '^ERR code=' "$OUT"
check "a request before HELLO: the server closes" grep -qx 'CLOSED' "$OUT"
no_crash "a request before HELLO"
run pcl --hello-magic KLUISXXX hello expect-closed
check "a HELLO with a bad magic: ERR" grep -q '^ERR code=' "$OUT"
no_crash "a HELLO with a bad magic"
run pcl --hello-versions 4:7 hello expect-closed
check "a HELLO for versions 4..7 only: ERR KL_E_UNSUPPORTED" \
    grep -q '^ERR code=-10 ' "$OUT"
no_crash "a HELLO for unknown versions"
run pcl --hello-versions 1:1 hello expect-closed
check "a version-1 client is refused with ERR KL_E_UNSUPPORTED" \
    grep -q '^ERR code=-10 .*protocol version 3 only' "$OUT"
run pcl --hello-versions 1:9 hello
expect_out "HELLO_OK version=3" "a version range including 3 is accepted"
run pc "$P" "malformed huge-length" expect-closed
check "through ssh: a huge frame is answered with ERR" grep -q '^ERR code=' "$OUT"
check "through ssh: the session is closed" grep -qx 'CLOSED' "$OUT"
check "no .tmp- files left by malformed uploads" test -z "$(tmp_files "$REPO")"
E2E_WHAT="kluis-server verify at the end" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"
E2E_WHAT="audit verify at the end" expect_exit 0 \
    "$KLUIS_SERVER" audit verify --repo "$REPO"

e2e_finish
