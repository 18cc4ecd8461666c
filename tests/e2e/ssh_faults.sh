#!/usr/bin/env bash
# End-to-end faults of the ssh:// transport and the repository server
# (issue #3 §4, §5): unknown and changed host keys, a wrong client key, a
# wrong passphrase, a missing repository, a connection killed and a client
# killed mid-backup (nothing lost, packs re-used), two concurrent clients,
# a full server disk.
#
# usage: ssh_faults.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: ssh_faults.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: ssh_faults.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init ssh-faults

# A repository made locally, so that every case below depends only on the
# transport and the server.
E2E_WHAT="local init" expect_exit 0 k init --kdf interactive
SRC=$WORK/src
mkdir -p "$SRC/sub"
echo "hello over ssh" >"$SRC/a"
head -c 200000 /dev/urandom >"$SRC/sub/b"
P=$SSH_KEY_APPEND

# serve_gone: waits up to 10 s until no `kluis-server serve` of DIR runs.
serve_gone() {
	local i
	for i in $(seq 200); do
		pgrep -f "kluis-server serve.*--repo $1( |\$)" >/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------------
case_begin "host keys"
: >"$WORK/kh.empty"
E2E_WHAT="an unknown host key (empty known_hosts)" expect_exit 1 \
    "$KLUIS" -r "$SSH_URL" --ssh-key "$P" --ssh-known-hosts "$WORK/kh.empty" \
    --server-command "$KLUIS_SERVER" --password-file "$PW" backup "$SRC"
expect_stderr_contains "$SSH_HOSTKEY_FP" "the host key's SHA256 fingerprint is shown"
check "the unknown host key is not written to the known_hosts file" \
    test ! -s "$WORK/kh.empty"
E2E_WHAT="a known_hosts file that does not exist" expect_exit 1 \
    "$KLUIS" -r "$SSH_URL" --ssh-key "$P" --ssh-known-hosts "$WORK/kh.none" \
    --server-command "$KLUIS_SERVER" --password-file "$PW" snapshots
expect_stderr_contains "$SSH_HOSTKEY_FP"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/otherhost" >/dev/null
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$WORK/otherhost.pub")" \
    >"$WORK/kh.changed"
cp "$WORK/kh.changed" "$WORK/kh.changed.orig"
E2E_WHAT="a changed host key" expect_exit 1 \
    "$KLUIS" -r "$SSH_URL" --ssh-key "$P" --ssh-known-hosts "$WORK/kh.changed" \
    --server-command "$KLUIS_SERVER" --password-file "$PW" backup "$SRC"
expect_stderr_contains "$SSH_HOSTKEY_FP" "the offered host key's fingerprint is shown"
check "the message says the host key changed / does not match" \
    grep -qiE 'chang|mismatch|does not match|differ' "$ERR"
check "the known_hosts file is left alone" cmp -s "$WORK/kh.changed" "$WORK/kh.changed.orig"
check "no snapshot written through refused host keys" test "$(snapshot_count)" -eq 0

# ---------------------------------------------------------------------------
case_begin "client keys and passphrases"
E2E_WHAT="a client key that is not authorized" expect_exit 1 \
    ks "$SSH_KEY_STRANGER" snapshots
check "the message says authentication failed" \
    grep -qiE 'authenticat|denied|not accepted|rejected' "$ERR"
E2E_WHAT="a client key file that does not exist" expect_exit 1 \
    ks "$WORK/no-such-key" snapshots
expect_stderr_contains "$WORK/no-such-key" "the missing key file is named"
make_password "$WORK/wrongpw" "not the passphrase"
PW_SAVE=$PW
PW=$WORK/wrongpw
E2E_WHAT="a wrong repository passphrase over ssh://" expect_exit 12 \
    ks "$P" snapshots
expect_stderr_contains "wrong passphrase"
PW=$PW_SAVE

# ---------------------------------------------------------------------------
case_begin "a repository that does not exist"
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$WORK/missing" \
    E2E_WHAT="ssh:// to a missing repository (own remote command)" \
    expect_exit 10 ks "$SSH_KEY_OPEN" snapshots
check "the missing path is not created" test ! -e "$WORK/missing"
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$WORK/missing" \
    E2E_WHAT="backup over ssh:// to a missing repository" \
    expect_exit 10 ks "$SSH_KEY_OPEN" backup "$SRC"
check "a backup does not create the missing repository" test ! -e "$WORK/missing"
GONE_KEY=$(ssh_add_key gone \
    "command=\"$KLUIS_SERVER serve --append-only --repo $WORK/gone --client-name gone\",restrict")
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$WORK/gone" \
    E2E_WHAT="a forced command whose repository does not exist" \
    expect_exit 10 ks "$GONE_KEY" backup "$SRC"
check "the forced command's missing repository is not created" test ! -e "$WORK/gone"
E2E_WHAT="pipe: to a missing repository" expect_exit 10 \
    "$KLUIS" -r "pipe:$WORK/missing" --server-command "$KLUIS_SERVER" \
    --password-file "$PW" snapshots
SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$REPO" \
    E2E_WHAT="own remote command: the repository works with --server-command" \
    expect_exit 0 ks "$SSH_KEY_OPEN" snapshots
run timeout 60 "$KLUIS" -r "ssh://root@127.0.0.1:$SSH_PORT$REPO" \
    --ssh-key "$SSH_KEY_OPEN" --ssh-known-hosts "$SSH_KH" \
    --server-command "$WORK/no-such-server" --password-file "$PW" snapshots
check "a --server-command that does not exist: exit 1 (got $rc)" test "$rc" -eq 1
check "... and the message says the server program did not start" \
    grep -qiE 'no-such-server|not found|server|exit' "$ERR"

# ---------------------------------------------------------------------------
case_begin "connection killed mid-backup, client killed mid-backup"
# More than 32 packs of 16 MiB: the first index file of the backup is
# written after 32 packs (FORMAT.md, CLI.md "Failure"); packs listed there
# must not be uploaded again.
BIG=$WORK/big
mkdir -p "$BIG"
for i in 1 2 3 4 5 6 7; do
	head -c 100000000 /dev/urandom >"$BIG/r$i"
done
S=$(du -sb "$BIG" | cut -f1)
data_bytes() {
	find "$REPO/data" -type f ! -name '.tmp-*' -printf '%s\n' |
	    awk '{s += $1} END {print s + 0}'
}
idx_count() {
	find "$REPO/index" -type f ! -name '.tmp-*' | wc -l
}
D0=$(data_bytes)
I0=$(idx_count)
snaps0=$(snapshot_count)
timeout 200 "$KLUIS" -r "$SSH_URL" --ssh-key "$P" --ssh-known-hosts "$SSH_KH" \
    --password-file "$PW" backup "$BIG" --host big --json \
    >"$WORK/kill1.out" 2>"$WORK/kill1.err" &
bpid=$!
# Wait for the backup's first index file, then one more pack.
t0=$SECONDS
while kill -0 "$bpid" 2>/dev/null && [ "$(idx_count)" -le "$I0" ] &&
    [ $((SECONDS - t0)) -lt 120 ]; do
	sleep 0.05
done
Dk=$(data_bytes)
while kill -0 "$bpid" 2>/dev/null && [ "$(data_bytes)" -le "$Dk" ] &&
    [ $((SECONDS - t0)) -lt 120 ]; do
	sleep 0.05
done
echo "# index written after $((SECONDS - t0)) s"
sess=$(sshd_session_pids)
check "the backup is still running when the connection is killed" \
    kill -0 "$bpid"
check "the backup has one sshd session to kill (${sess:-none})" \
    test -n "$sess"
# shellcheck disable=SC2086
[ -n "$sess" ] && kill -9 $sess
wait "$bpid"
rc=$?
D1=$(data_bytes)
echo "# killed connection: client exit $rc, $(( (D1 - D0) / 1048576 )) MiB of packs on the server, $(( $(idx_count) - I0 )) index files"
sed 's/^/#   stderr: /' "$WORK/kill1.err" | head -n 5
check "the client reports the broken connection (exit 1, got $rc)" test "$rc" -eq 1
check "the client names the broken connection" \
    grep -qiE 'connection|disconnect|closed|ssh|transport' "$WORK/kill1.err"
check "no snapshot written by the killed backup" test "$(snapshot_count)" -eq "$snaps0"
check "the killed connection's server is gone" serve_gone "$REPO"
check "no .tmp- file left by the killed connection" test -z "$(tmp_files "$REPO")"
tmp_files "$REPO" | sed 's/^/  left: /'
E2E_WHAT="kluis-server verify after the killed connection" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"

# The client itself killed with -9, a little later.
"$KLUIS" -r "$SSH_URL" --ssh-key "$P" --ssh-known-hosts "$SSH_KH" \
    --password-file "$PW" backup "$BIG" --host big --json \
    >"$WORK/kill2.out" 2>"$WORK/kill2.err" &
bpid=$!
t0=$SECONDS
Dk=$(data_bytes)
while kill -0 "$bpid" 2>/dev/null &&
    [ "$(data_bytes)" -le $((Dk + 40000000)) ] && [ $((SECONDS - t0)) -lt 120 ]; do
	sleep 0.05
done
check "the second backup is still running when it is killed" kill -0 "$bpid"
kill -9 "$bpid"
wait "$bpid" 2>/dev/null
D2=$(data_bytes)
echo "# killed client: $(( (D2 - D1) / 1048576 )) MiB more packs on the server"
check "no snapshot written by the killed client" test "$(snapshot_count)" -eq "$snaps0"
check "the killed client's server is gone" serve_gone "$REPO"
check "no .tmp- file left by the killed client" test -z "$(tmp_files "$REPO")"
tmp_files "$REPO" | sed 's/^/  left: /'
E2E_WHAT="kluis-server verify after the killed client" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"

E2E_WHAT="the next backup finishes" expect_exit 0 ks "$P" backup "$BIG" --host big --json
added=$(json_field bytes_added 2>/dev/null || echo -1)
D3=$(data_bytes)
echo "# source $((S / 1048576)) MiB; uploaded by the killed runs $(( (D2 - D0) / 1048576 )) MiB; re-run added $((added / 1048576)) MiB; packs on the server $(( (D3 - D0) / 1048576 )) MiB in total"
check "the re-run writes a snapshot" test "$(snapshot_count)" -eq $((snaps0 + 1))
check "the re-run re-uses the indexed packs: adds < source - 400 MiB" \
    test "$added" -ge 0 -a "$added" -lt $((S - 400 * 1048576))
# Everything uploaded twice: the packs on the server beyond one copy of the
# source.  The killed runs' packs that no index listed yet are sent again.
waste=$((D3 - D0 - S))
echo "# uploaded twice: $((waste / 1048576)) MiB"
# Slack of one pack (16 MiB + overhead) for a pack the server finished just
# as the connection died.
check "packs uploaded by the killed runs are not sent again (sent twice: $((waste / 1048576)) MiB, at most 17 MiB allowed)" \
    test "$waste" -le $((17 * 1048576))
# A restore whose connection is killed: exit 1, the reason said once, and
# no file that is not complete under its own name.
CUT=$WORK/out-cut
KS_TIMEOUT=200 ks "$SSH_KEY_ADMIN" restore latest --target "$CUT" \
    >"$WORK/cut.out" 2>"$WORK/cut.err" &
rpid=$!
t0=$SECONDS
# allocated blocks, not sizes: files are created at their full size
allocated_kib() {
	local k
	k=$(du -sk "$CUT" 2>/dev/null | cut -f1)
	echo "${k:-0}"
}
while kill -0 "$rpid" 2>/dev/null && [ "$(allocated_kib)" -lt 150000 ] &&
    [ $((SECONDS - t0)) -lt 120 ]; do
	sleep 0.05
done
sess=$(sshd_session_pids)
check "the restore is still running when its connection is killed ($(allocated_kib) KiB written)" \
    kill -0 "$rpid"
# shellcheck disable=SC2086
[ -n "$sess" ] && kill -9 $sess
wait "$rpid"
rc=$?
sed 's/^/#   stderr: /' "$WORK/cut.err" | head -n 5
check "the cut restore exits 1 (got $rc)" test "$rc" -eq 1
check "the cut restore says the connection was lost" \
    grep -q 'connection to the repository was lost' "$WORK/cut.err"
check "the cut restore says so once, not per file" \
    test "$(wc -l <"$WORK/cut.err")" -le 4
n_inc=$(find "$CUT" -name '*.kluis-incomplete' | wc -l)
check "the files not restored are NAME.kluis-incomplete ($n_inc)" \
    test "$n_inc" -ge 1
bad=0
while IFS= read -r -d '' f; do
	case $f in *.kluis-incomplete) continue ;; esac
	cmp -s "$f" "$BIG/${f#"$CUT$BIG/"}" || bad=$((bad + 1))
done < <(find "$CUT$BIG" -type f -print0)
check "every file under its own name is complete ($bad are not)" \
    test "$bad" -eq 0
rm -rf "$CUT"
E2E_WHAT="restore of the re-run" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" restore latest --target "$WORK/out-big"
treecmp "the re-run's snapshot restores identical" "$BIG" "$WORK/out-big$BIG"
rm -rf "$WORK/out-big" "$BIG"
E2E_WHAT="kluis-server verify after the re-run" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"

# ---------------------------------------------------------------------------
case_begin "two concurrent clients"
mkdir -p "$WORK/hostA" "$WORK/hostB"
head -c 30000000 /dev/urandom >"$WORK/shared"
cp "$WORK/shared" "$WORK/hostA/shared"
cp "$WORK/shared" "$WORK/hostB/shared"
head -c 25000000 /dev/urandom >"$WORK/hostA/onlyA"
head -c 25000000 /dev/urandom >"$WORK/hostB/onlyB"
cp -a /usr/include/linux "$WORK/hostA/"
cp -a /usr/include/linux "$WORK/hostB/"
KEY_B=$(ssh_add_key hostB \
    "command=\"$KLUIS_SERVER serve --append-only --repo $REPO --client-name hostB\",restrict")
snaps0=$(snapshot_count)
ks "$P" backup "$WORK/hostA" --host hostA --json >"$WORK/A.out" 2>"$WORK/A.err" &
pa=$!
ks "$KEY_B" backup "$WORK/hostB" --host hostB --json >"$WORK/B.out" 2>"$WORK/B.err" &
pb=$!
sleep 0.3
both_running() {
	kill -0 "$pa" 2>/dev/null && kill -0 "$pb" 2>/dev/null
}
check "both backups run at the same time" both_running
wait "$pa"; ra=$?
wait "$pb"; rb=$?
check "concurrent client A succeeds (exit $ra)" test "$ra" -eq 0
check "concurrent client B succeeds (exit $rb)" test "$rb" -eq 0
[ "$ra" -eq 0 ] || sed 's/^/  A: /' "$WORK/A.err" | head -n 5
[ "$rb" -eq 0 ] || sed 's/^/  B: /' "$WORK/B.err" | head -n 5
check "both snapshots are written" test "$(snapshot_count)" -eq $((snaps0 + 2))
# A later backup of host A holding B's data deduplicates against B's.
cp "$WORK/hostB/onlyB" "$WORK/hostA/fromB"
E2E_WHAT="host A backs up B's data later" expect_exit 0 \
    ks "$P" backup "$WORK/hostA" --host hostA --json
check "host A's later backup deduplicates against B's data (added $(json_field bytes_added 2>/dev/null) bytes < 1 MB)" \
    test "$(json_field bytes_added 2>/dev/null || echo 999999999)" -lt 1000000
E2E_WHAT="host B backs up again" expect_exit 0 \
    ks "$KEY_B" backup "$WORK/hostB" "$WORK/hostA/onlyA" --host hostB --json
check "host B's later backup deduplicates against A's data (added $(json_field bytes_added 2>/dev/null) bytes < 1 MB)" \
    test "$(json_field bytes_added 2>/dev/null || echo 999999999)" -lt 1000000
E2E_WHAT="restore of host B's first snapshot" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" restore "$(json_field snapshot_id <"$WORK/B.out" 2>/dev/null || echo latest)" \
    --target "$WORK/out-B"
E2E_WHAT="kluis-server verify after the concurrent backups" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"
rm -rf "$WORK/hostA" "$WORK/hostB" "$WORK/out-B" "$WORK/shared"

# ---------------------------------------------------------------------------
case_begin "the server's disk is full"
FULL=$WORK/fullfs
mkdir "$FULL"
if mount -t tmpfs -o size=24m tmpfs "$FULL" 2>"$WORK/mount.err"; then
	at_exit "umount -l '$FULL'"
	FREPO=$FULL/repo
	E2E_WHAT="local init on the small disk" expect_exit 0 \
	    "$KLUIS" -r "$FREPO" --password-file "$PW" init --kdf interactive
	FULL_KEY=$(ssh_add_key full \
	    "command=\"$KLUIS_SERVER serve --append-only --repo $FREPO --client-name fullhost\",restrict")
	mkdir "$WORK/fsrc"
	head -c 40000000 /dev/urandom >"$WORK/fsrc/forty"
	echo small >"$WORK/fsrc/small"
	SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$FREPO" \
	    E2E_WHAT="backup onto the server's full disk" expect_exit 1 \
	    ks "$FULL_KEY" backup "$WORK/fsrc" --host fullhost
	check "the client says the server's disk is full" \
	    grep -qiE 'disk is full|no space|full' "$ERR"
	check "no snapshot written on a full disk" \
	    test "$(find "$FREPO/snapshots" -type f | wc -l)" -eq 0
	check "the full disk's server is gone" serve_gone "$FREPO"
	check "nothing half-written is visible (no .tmp- files)" \
	    test -z "$(tmp_files "$FREPO")"
	tmp_files "$FREPO" | sed 's/^/  left: /'
	E2E_WHAT="kluis-server verify on the full disk" expect_exit 0 \
	    "$KLUIS_SERVER" verify --repo "$FREPO"
	mount -o remount,size=200m "$FULL"
	SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$FREPO" \
	    E2E_WHAT="the backup after space was freed" expect_exit 0 \
	    ks "$FULL_KEY" backup "$WORK/fsrc" --host fullhost
	SSH_URL_USE="ssh://root@127.0.0.1:$SSH_PORT$FREPO" \
	    E2E_WHAT="restore from the freed disk" expect_exit 0 \
	    ks "$FULL_KEY" restore latest --target "$WORK/out-full"
	treecmp "the backup after the full disk restores identical" \
	    "$WORK/fsrc" "$WORK/out-full$WORK/fsrc"
	E2E_WHAT="audit verify on the freed disk" expect_exit 0 \
	    "$KLUIS_SERVER" audit verify --repo "$FREPO"
else
	not_ok "cannot mount a tmpfs: $(cat "$WORK/mount.err")"
fi

E2E_WHAT="audit verify at the end" expect_exit 0 \
    "$KLUIS_SERVER" audit verify --repo "$REPO"
e2e_finish
