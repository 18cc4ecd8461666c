#!/usr/bin/env bash
# Issue #15: off-site copies with `kluis-server replicate`, through two real
# OpenSSH servers on 127.0.0.1 (the primary's and the off-site's, each with
# its own port, host key and authorized_keys).  A city host backs up over
# ssh:// to the primary with its append-only key; the primary replicates
# with a key the off-site sshd forces into `serve --replica`.
#   - the first run creates the copy, which holds the primary's files byte
#     for byte (key files too) with their receive times, passes `check --read-data` and restores
#     identical with the client's usual key and passphrase;
#   - later runs send exactly the new files, an unchanged run sends none;
#   - a run whose connection drops (the off-site sshd session killed) exits
#     1 saying so and records it in DIR/replication/; a run killed with -9
#     in the middle of a pack; the next run completes without sending a
#     complete file again, and leaves no temporary file;
#   - the replica key cannot remove, overwrite or lock (raw protocol);
#   - bit rot on the primary is reported, not sent; `--repair` brings a
#     damaged file back from the copy (its hash and receive time right,
#     `kluis-server verify` clean, a `repair` audit record);
#   - a copy of another repository is refused, a local directory works,
#     usage errors (exit 2, exit 10);
#   - a primary whose history was forgotten, pruned and purged does not
#     take the copy's files with it: the old snapshot restores from there.
#
# usage: replicate.sh KLUIS KLUIS_SERVER
KLUIS=${1:?usage: replicate.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: replicate.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
e2e_init replicate

SV=$KLUIS_SERVER
# A relay for the off-site forced command that holds the N-th pack upload
# (PUT or PUT_DATED of a data file) for S seconds, touching READY when the
# hold begins: the replicator is then in the middle of that pack for as
# long as the test needs.  (killproxy.py holds PUT only; replicate sends
# PUT_DATED.)
HOLDRELAY=$WORK/holdrelay.py
cat >"$HOLDRELAY" <<'EOF'
import struct, subprocess, sys, threading, time

n_at, secs, ready = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
srv = subprocess.Popen(sys.argv[4:], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE)


def down():
    while True:
        b = srv.stdout.read1(65536)
        if not b:
            return
        try:
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()
        except OSError:
            return


def read_exact(f, n):
    b = b""
    while len(b) < n:
        c = f.read(n - len(b))
        if not c:
            return None
        b += c
    return b


threading.Thread(target=down, daemon=True).start()
seen = 0
while True:
    hdr = read_exact(sys.stdin.buffer, 4)
    rest = hdr and read_exact(sys.stdin.buffer, struct.unpack("<I", hdr)[0])
    if not rest:
        break
    # type, request id (4 bytes), then the file type (3: data)
    if rest[0] in (0x10, 0x13) and len(rest) > 5 and rest[5] == 3:
        seen += 1
        if seen == n_at:
            open(ready, "w").close()
            time.sleep(secs)
    try:
        srv.stdin.write(hdr + rest)
        srv.stdin.flush()
    except OSError:
        break
try:
    srv.stdin.close()
except OSError:
    pass
srv.wait()
EOF
PRIM=$WORK/primary	# the primary's repositories
OFF=$WORK/offsite	# the off-site server's
mkdir -p "$PRIM" "$OFF"

# ---------------------------------------------------------------------------
# Two sshd instances.  sshd_start keeps its settings in globals: each
# server's are saved under P_ (primary) and O_ (off-site).
REPO=$PRIM/web01
sshd_start
P_PORT=$SSH_PORT P_KH=$SSH_KH P_URL=$SSH_URL
P_ADMIN=$SSH_KEY_ADMIN P_APPEND=$SSH_KEY_APPEND
P_NOW=$(ssh_add_key now \
    "command=\"$SV serve --repo $REPO --delete-delay 0\",restrict")

REPO=$OFF/web01
# shellcheck disable=SC2034 # read by sshd_start (SSH_KEY_OTHER)
OTHER_REPO=$OFF/other
sshd_start
O_PORT=$SSH_PORT O_KH=$SSH_KH
O_RO=$SSH_KEY_RO
O_RO_BIG=$(ssh_add_key ro-big \
    "command=\"$SV serve --read-only --repo $OFF/big --client-name dr01\",restrict")
# replica_key NAME REPO [WRAPPER]: a replicator's key on the off-site sshd,
# forced into the replica role for REPO (through WRAPPER, a command put
# before the server's, if given).
replica_key() {
	ssh_add_key "$1" "command=\"${3:+$3 }$SV serve --replica --repo $2 --client-name antwerpen\",restrict"
}
O_REPL=$(replica_key repl "$OFF/web01")
O_BIG=$(replica_key big "$OFF/big")
O_OTHER=$(replica_key other-repl "$OFF/other")
O_HOLD=$(replica_key hold "$OFF/big" \
    "python3 $HOLDRELAY 3 3 $WORK/hold.ready")
O_PID=$SSHD_PID
[ "$P_PORT" != "$O_PORT" ] || sshd_die "both servers on port $P_PORT"
REPO=$PRIM/web01
echo "# primary sshd on port $P_PORT, off-site sshd on port $O_PORT"

# ---------------------------------------------------------------------------
# Helpers.

# kpr KEY ARGS...: the city host's client on the primary (ssh://).
kpr() {
	local key=$1
	shift
	timeout 120 "$KLUIS" -r "$P_URL" --ssh-key "$key" \
	    --ssh-known-hosts "$P_KH" --password-file "$PW" "$@"
}

# koff KEY PATH ARGS...: the client on the off-site copy PATH with the
# usual repository key and passphrase.
koff() {
	local key=$1 path=$2
	shift 2
	timeout 180 "$KLUIS" -r "ssh://root@127.0.0.1:$O_PORT$path" \
	    --ssh-key "$key" --ssh-known-hosts "$O_KH" --password-file "$PW" "$@"
}

# rep_to KEY REPO_DIR OFFSITE_PATH ARGS...: replicate REPO_DIR to the
# off-site server's OFFSITE_PATH with KEY.
rep_to() {
	local key=$1 repo=$2 path=$3
	shift 3
	timeout 180 "$SV" replicate --repo "$repo" \
	    --to "ssh://root@127.0.0.1:$O_PORT$path" --ssh-key "$key" \
	    --ssh-known-hosts "$O_KH" "$@"
}

# pco KEY ARGS...: raw protocol (protoclient.py) to the off-site sshd.
pco() {
	local key=$1
	shift
	timeout 120 python3 "$PROTOCLIENT" \
	    --cmd "$(SSH_PORT=$O_PORT ssh_cmd "$key" "$O_KH")" "$@"
}

# hist DIR: the files replicate copies (keys, packs, index files,
# snapshots, run records), one relative path a line, sorted.
hist() {
	(cd "$1" 2>/dev/null && find keys data index snapshots runs -type f \
	    ! -name '.tmp-*' 2>/dev/null | LC_ALL=C sort)
}

hist_count() {
	hist "$1" | wc -l
}

# repo_sum DIR: the BLAKE2b of config and of every history file (not
# audit.log, locks, trash or replication state, which are each side's own).
repo_sum() {
	(cd "$1" && { echo config; hist .; } | xargs -r b2sum)
}

# same_files NAME A B: passes if A and B hold the same repository files,
# byte for byte.
same_files() {
	repo_sum "$2" >"$WORK/.sum.a" 2>&1
	repo_sum "$3" >"$WORK/.sum.b" 2>&1
	if [ -s "$WORK/.sum.a" ] && cmp -s "$WORK/.sum.a" "$WORK/.sum.b"; then
		ok "$1"
	else
		not_ok "$1"
		diff "$WORK/.sum.a" "$WORK/.sum.b" | head -n 10 | sed 's/^/  diff: /'
	fi
}

# same_times NAME A B: passes if every history file of B has the receive
# time (mtime, seconds) of the same file in A.
same_times() {
	(cd "$2" && hist . | xargs -r stat -c '%n %Y') >"$WORK/.t.a" 2>&1
	(cd "$3" && hist . | xargs -r stat -c '%n %Y') >"$WORK/.t.b" 2>&1
	if [ -s "$WORK/.t.a" ] && cmp -s "$WORK/.t.a" "$WORK/.t.b"; then
		ok "$1"
	else
		not_ok "$1"
		diff "$WORK/.t.a" "$WORK/.t.b" | head -n 6 | sed 's/^/  diff: /'
	fi
}

# rot FILE: flips one bit in the middle of FILE and keeps its times, as
# bit rot does.
rot() {
	python3 - "$1" <<'EOF'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(st.st_size // 2)
    b = f.read(1)
    f.seek(st.st_size // 2)
    f.write(bytes([b[0] ^ 0x10]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
EOF
}

# sound FILE: passes if FILE's BLAKE2b-256 is its name.
sound() {
	[ "$(b2sum -l 256 "$1" | cut -d' ' -f1)" = "$(basename "$1")" ]
}

unsound() {
	! sound "$1"
}

# new_files BEFORE AFTER: the lines of AFTER not in BEFORE (sorted lists).
new_files() {
	LC_ALL=C comm -13 "$1" "$2"
}

# state_of REPO_DIR: the one replication state file of REPO_DIR.
state_of() {
	find "$1/replication" -maxdepth 1 -type f ! -name '.tmp-*' 2>/dev/null
}

# state_val REPO_DIR KEY: that line's value in the state file.
state_val() {
	sed -n "s/^$2 //p" "$(state_of "$1")" 2>/dev/null
}

# gone_serve PATH: waits up to 15 s until no `serve` of PATH runs.
gone_serve() {
	local i
	for i in $(seq 300); do
		pgrep -f "serve --replica --repo $1( |\$)" >/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------------------
case_begin "a city host backs up to the primary with its append-only key"
SRC=$WORK/src
mkdir -p "$SRC/crafted/deep/er" "$SRC/crafted/empty-dir"
cp -a /usr/include/linux "$SRC/"
head -c 2000000 /dev/urandom >"$SRC/crafted/random.bin"
printf 'the town archive\n' >"$SRC/crafted/deep/er/note.txt"
: >"$SRC/crafted/empty"
printf 'private\n' >"$SRC/crafted/mode-600"
chmod 600 "$SRC/crafted/mode-600"
printf 'spaces\n' >"$SRC/crafted/name with spaces"
ln -s deep/er/note.txt "$SRC/crafted/link"
ln "$SRC/crafted/deep/er/note.txt" "$SRC/crafted/hardlink"
truncate -s 5M "$SRC/crafted/sparse"
printf 'tail' >>"$SRC/crafted/sparse"
E2E_WHAT="init of the primary's repository over ssh://" expect_exit 0 \
    kpr "$P_ADMIN" init --kdf interactive
E2E_WHAT="backup 1 with the append-only key" expect_exit 0 \
    kpr "$P_APPEND" backup "$SRC" --host web01 --json
S1=$(json_field snapshot_id 2>/dev/null)
cp -a "$SRC" "$WORK/src-v1"
check "the primary holds snapshot 1" test -n "$S1" -a -f "$REPO/snapshots/$S1"

# ---------------------------------------------------------------------------
case_begin "the first replicate creates the copy"
hist "$REPO" >"$WORK/h.1"
N1=$(wc -l <"$WORK/h.1")
check "no copy before the first run" test ! -e "$OFF/web01"
E2E_WHAT="replicate to the off-site sshd (first run)" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --json
json_check "first run: complete, every file sent ($N1), none there" \
    "d['complete'] and d['files_sent'] == $N1 and d['files_there'] == 0 and d['damaged'] == 0 and d['failed'] == 0 and d['error'] is None"
json_check "first run: bytes_sent is the size of the files" \
    "d['bytes_sent'] == $(cd "$REPO" && hist . | xargs stat -c %s | awk '{s += $1} END {print s}')"
expect_stderr_contains "created the copy"
same_files "the copy holds the primary's files byte for byte (config, keys, packs, index, snapshots, runs)" \
    "$REPO" "$OFF/web01"
same_times "the copy's files keep the primary's receive times" \
    "$REPO" "$OFF/web01"
check "the copy holds the key files" \
    test "$(find "$OFF/web01/keys" -type f | wc -l)" -ge 1
check "the copy has no lock and no temporary file" \
    test -z "$(find "$OFF/web01/locks" -type f 2>/dev/null)$(tmp_files "$OFF/web01")"
check "the off-site server audited the uploads as antwerpen" \
    grep -q "antwerpen" "$OFF/web01/audit.log"
E2E_WHAT="kluis-server verify of the copy" expect_exit 0 \
    "$SV" verify --repo "$OFF/web01"
check "a state file for the target, named by 16 hex digits" \
    bash -c "basename \"\$(find '$REPO/replication' -type f)\" | grep -qxE '[0-9a-f]{16}'"
check "the state file: outcome 0, the URL, the files sent" \
    test "$(state_val "$REPO" outcome)" = 0 -a \
    "$(state_val "$REPO" url)" = "ssh://root@127.0.0.1:$O_PORT$OFF/web01" -a \
    "$(state_val "$REPO" files_sent)" = "$N1"
check "the primary's audit log has a replicate record" \
    grep -q "replicate" "$REPO/audit.log"

# ---------------------------------------------------------------------------
case_begin "the client restores from the off-site copy with its usual key"
E2E_WHAT="snapshots on the copy (read-only key, the city's catalog)" \
    expect_exit 0 koff "$O_RO" "$OFF/web01" snapshots
expect_stdout_contains "${S1:0:8}"
E2E_WHAT="restore from the copy (the city's catalog)" expect_exit 0 \
    koff "$O_RO" "$OFF/web01" restore "$S1" --target "$WORK/out1"
treecmp "the restore from the copy is identical to the source" \
    "$SRC" "$WORK/out1$SRC"
rm -rf "$WORK/out1"
E2E_WHAT="check --read-data on the copy (a new catalog)" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-off" \
    timeout 180 "$KLUIS" -r "ssh://root@127.0.0.1:$O_PORT$OFF/web01" \
    --ssh-key "$O_RO" --ssh-known-hosts "$O_KH" --password-file "$PW" \
    check --read-data
E2E_WHAT="restore from the copy (a new catalog)" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-off" \
    timeout 180 "$KLUIS" -r "ssh://root@127.0.0.1:$O_PORT$OFF/web01" \
    --ssh-key "$O_RO" --ssh-known-hosts "$O_KH" --password-file "$PW" \
    restore latest --target "$WORK/out1b"
treecmp "the restore with a new catalog is identical too" \
    "$SRC" "$WORK/out1b$SRC"
rm -rf "$WORK/out1b"

# ---------------------------------------------------------------------------
case_begin "incremental: only the new files are sent"
head -c 1500000 /dev/urandom >"$SRC/crafted/random2.bin"
printf 'changed\n' >>"$SRC/linux/types.h"
E2E_WHAT="backup 2 with the append-only key" expect_exit 0 \
    kpr "$P_APPEND" backup "$SRC" --host web01 --json
hist "$REPO" >"$WORK/h.2"
NEW2=$(new_files "$WORK/h.1" "$WORK/h.2" | wc -l)
N2=$(wc -l <"$WORK/h.2")
check "backup 2 added files to the primary ($NEW2)" test "$NEW2" -ge 2
# a lock on the primary (the full role takes any lock) is not copied
head -c 200 /dev/urandom >"$WORK/lock"
LOCK=$(b2sum -l 256 "$WORK/lock" | cut -d' ' -f1)
E2E_WHAT="a lock on the primary (raw PUT, full role)" expect_exit 0 \
    timeout 60 python3 "$PROTOCLIENT" \
    --cmd "$(SSH_PORT=$P_PORT ssh_cmd "$P_ADMIN" "$P_KH")" \
    "put lock $LOCK $WORK/lock" bye
check "(the lock is there)" test -f "$REPO/locks/$LOCK"
E2E_WHAT="replicate after backup 2" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --json
check "the primary's lock was not copied" \
    test -z "$(find "$OFF/web01/locks" -type f 2>/dev/null)"
check "nor was the primary's replication state" \
    test ! -e "$OFF/web01/replication"
rm -f "$REPO/locks/$LOCK"
json_check "files_sent is the number of new files ($NEW2), files_there the rest ($N1)" \
    "d['complete'] and d['files_sent'] == $NEW2 and d['files_there'] == $N1"
same_files "the copy equals the primary again" "$REPO" "$OFF/web01"
same_times "the new files keep their receive times too" "$REPO" "$OFF/web01"
t0=$(date +%s%N)
E2E_WHAT="replicate with nothing new" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --json
ms=$((($(date +%s%N) - t0) / 1000000))
json_check "an unchanged run sends nothing and finds every file there ($N2)" \
    "d['complete'] and d['files_sent'] == 0 and d['bytes_sent'] == 0 and d['files_there'] == $N2"
check "an unchanged run takes under 5 s (took $ms ms)" test "$ms" -lt 5000
E2E_WHAT="text output of an unchanged run" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01"
expect_stdout_contains "sent 0 files"

# ---------------------------------------------------------------------------
case_begin "the replica key cannot remove, overwrite or lock (raw protocol)"
repo_sum "$OFF/web01" >"$WORK/off.before"
a0=$(audit_lines "$OFF/web01")
declare -A DIROF=([data]=data [index]=index [snapshot]=snapshots [key]=keys)
for t in data index snapshot key; do
	f=$(find "$OFF/web01/${DIROF[$t]}" -type f ! -name '.tmp-*' |
	    LC_ALL=C sort | head -n 1)
	name=$(basename "$f")
	[ "$t" = data ] && PACK1=$name
	E2E_WHAT="replica: raw REMOVE $t" expect_exit 1 \
	    pco "$O_REPL" "remove $t $name" bye
	expect_out "ERR code=-8" "REMOVE $t is KL_E_PERM"
	E2E_WHAT="replica: raw PUT over the existing $t" expect_exit 1 \
	    pco "$O_REPL" "put $t $name $f" bye
	expect_out "KL_E_EXISTS" "PUT of an existing $t name"
done
head -c 3000 /dev/urandom >"$WORK/fake-pack"
FAKE=$(b2sum -l 256 "$WORK/fake-pack" | cut -d' ' -f1)
E2E_WHAT="replica: raw PUT of another file under a pack's name" \
    expect_exit 1 pco "$O_REPL" "put data $PACK1 $WORK/fake-pack" bye
E2E_WHAT="replica: raw PUT of a lock" expect_exit 1 \
    pco "$O_REPL" "put lock auto $WORK/fake-pack" bye
expect_out "ERR code=-8" "a lock is KL_E_PERM in the replica role"
E2E_WHAT="replica: raw PUT of the config" expect_exit 1 \
    pco "$O_REPL" "put config config $OFF/web01/config" bye
repo_sum "$OFF/web01" >"$WORK/off.after"
check "every file of the copy is unchanged" \
    cmp -s "$WORK/off.before" "$WORK/off.after"
check "no lock was taken on the copy" \
    test -z "$(find "$OFF/web01/locks" -type f 2>/dev/null)"
check "the refusals are in the copy's audit log (KL_E_PERM, antwerpen)" \
    bash -c "tail -n +$((a0 + 1)) '$OFF/web01/audit.log' | grep 'antwerpen' | grep -q 'KL_E_PERM'"
E2E_WHAT="the copy's audit chain is intact" expect_exit 0 \
    "$SV" audit verify --repo "$OFF/web01"
E2E_WHAT="a new pack through the replica key is taken (the role adds)" \
    expect_exit 0 pco "$O_REPL" "put data auto $WORK/fake-pack" bye
check "it is there" test -f "$OFF/web01/data/${FAKE:0:2}/$FAKE"
rm -f "$OFF/web01/data/${FAKE:0:2}/$FAKE"

# ---------------------------------------------------------------------------
case_begin "bit rot on the primary: a damaged new pack is reported, not sent"
head -c 1200000 /dev/urandom >"$SRC/crafted/random3.bin"
E2E_WHAT="backup 3" expect_exit 0 kpr "$P_APPEND" backup "$SRC" --host web01 --json
hist "$REPO" >"$WORK/h.3"
NEWDATA=$(new_files "$WORK/h.2" "$WORK/h.3" | grep '^data/' |
    (cd "$REPO" && xargs ls -S | head -n 1))
echo "# the new pack to damage: $NEWDATA"
check "backup 3 made a new pack" test -n "$NEWDATA" -a -f "$REPO/$NEWDATA"
cp -p "$REPO/$NEWDATA" "$WORK/pack.sound"
rot "$REPO/$NEWDATA"
check "the pack no longer matches its name" unsound "$REPO/$NEWDATA"
E2E_WHAT="replicate with a damaged new pack" expect_exit 1 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --json
json_check "the report names the damaged pack" \
    "not d['complete'] and d['damaged'] == 1 and d['damaged_files'] == ['$NEWDATA']"
expect_stderr_contains "$(basename "$NEWDATA")"
check "the copy did not get the damaged pack" test ! -e "$OFF/web01/$NEWDATA"
check "the damaged pack was never offered to the copy (not in its audit log)" \
    bash -c "! grep -qF '$(basename "$NEWDATA")' '$OFF/web01/audit.log'"
new_files "$WORK/h.2" "$WORK/h.3" | grep -vxF "$NEWDATA" >"$WORK/h.3new"
check "the other new files were sent ($(wc -l <"$WORK/h.3new"))" \
    test "$(cd "$OFF/web01" && xargs ls <"$WORK/h.3new" 2>/dev/null |
    wc -l)" -eq "$(wc -l <"$WORK/h.3new")"
check "the state file records the damage" \
    test "$(state_val "$REPO" damaged)" = 1 -a "$(state_val "$REPO" outcome)" != 0
rot "$REPO/$NEWDATA"	# the same bit again: sound
check "(the pack is sound again)" cmp -s "$REPO/$NEWDATA" "$WORK/pack.sound"
E2E_WHAT="replicate once the pack is sound" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --json
json_check "only the pack is sent" "d['complete'] and d['files_sent'] == 1"
same_files "the copy equals the primary" "$REPO" "$OFF/web01"

# ---------------------------------------------------------------------------
case_begin "bit rot on the primary in a replicated pack: --repair"
OLDDATA=$(grep '^data/' "$WORK/h.1" | (cd "$REPO" && xargs ls -S | head -n 1))
echo "# the replicated pack to damage: $OLDDATA"
MT=$(stat -c %Y "$REPO/$OLDDATA")
OFFSUM=$(b2sum <"$OFF/web01/$OLDDATA")
rot "$REPO/$OLDDATA"
E2E_WHAT="kluis-server verify of the primary sees the damage" expect_exit 1 \
    "$SV" verify --repo "$REPO"
a0=$(audit_lines "$REPO")
E2E_WHAT="replicate --repair" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --repair --json
json_check "--repair: one damaged, one repaired, nothing sent" \
    "d['complete'] and d['damaged'] == 1 and d['repaired'] == 1 and d['files_sent'] == 0 and d['damaged_files'] == ['$OLDDATA']"
check "the pack matches its name again" sound "$REPO/$OLDDATA"
check "the repaired pack kept its receive time ($MT)" \
    test "$(stat -c %Y "$REPO/$OLDDATA")" = "$MT"
check "the copy's pack is unchanged" \
    test "$(b2sum <"$OFF/web01/$OLDDATA")" = "$OFFSUM"
E2E_WHAT="kluis-server verify of the primary is clean after the repair" \
    expect_exit 0 "$SV" verify --repo "$REPO"
check "the primary's audit log has a repair record of the pack" \
    bash -c "tail -n +$((a0 + 1)) '$REPO/audit.log' | grep 'repair' | grep -qF '$(basename "$OLDDATA")'"
E2E_WHAT="the primary's audit chain is intact" expect_exit 0 \
    "$SV" audit verify --repo "$REPO"
same_files "the copy equals the primary" "$REPO" "$OFF/web01"
# damaged on both sides: nothing to repair from
cp -p "$REPO/$OLDDATA" "$WORK/pack.sound"
cp -p "$OFF/web01/$OLDDATA" "$WORK/pack.off"
rot "$REPO/$OLDDATA"
rot "$OFF/web01/$OLDDATA"
E2E_WHAT="replicate --repair when the copy is damaged as well" expect_exit 1 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --repair --json
json_check "damaged, not repaired" "d['damaged'] == 1 and d['repaired'] == 0"
expect_stderr_contains "cannot repair"
check "the primary's pack is left as it was" \
    test "$(b2sum <"$REPO/$OLDDATA")" != "$(b2sum <"$WORK/pack.sound")" -a \
    "$(stat -c %s "$REPO/$OLDDATA")" = "$(stat -c %s "$WORK/pack.sound")"
cp -p "$WORK/pack.sound" "$REPO/$OLDDATA"
cp -p "$WORK/pack.off" "$OFF/web01/$OLDDATA"
same_files "(both sides sound again)" "$REPO" "$OFF/web01"

# ---------------------------------------------------------------------------
case_begin "a larger repository: a dropped connection, then kill -9"
BIG=$PRIM/big
mkdir -p "$WORK/bigsrc"
for i in 1 2 3 4 5 6; do
	head -c 25000000 /dev/urandom >"$WORK/bigsrc/r$i"
done
E2E_WHAT="init of the big repository" expect_exit 0 \
    "$KLUIS" -r "$BIG" --password-file "$PW" init --kdf interactive
E2E_WHAT="backup of 150 MB of random data" expect_exit 0 \
    "$KLUIS" -r "$BIG" --password-file "$PW" backup "$WORK/bigsrc" --host big
hist "$BIG" >"$WORK/hb"
NB=$(wc -l <"$WORK/hb")
NBD=$(grep -c '^data/' "$WORK/hb")
echo "# the big repository: $NB files, $NBD packs"
check "the big repository has at least 8 packs ($NBD)" test "$NBD" -ge 8
# hold_run: starts replicate of the big repository through the holding
# relay in the background ($rpid: the replicator itself, not a shell) and
# waits until the relay holds the run's third pack.
hold_run() {
	rm -f "$WORK/hold.ready"
	"$SV" replicate --repo "$BIG" --to "ssh://root@127.0.0.1:$O_PORT$OFF/big" \
	    --ssh-key "$O_HOLD" --ssh-known-hosts "$O_KH" --json \
	    >"$OUT" 2>"$ERR" &
	rpid=$!
	for _ in $(seq 600); do
		[ -e "$WORK/hold.ready" ] && break
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.05
	done
}

# A dropped connection: while the off-site server holds the third pack,
# its sshd session processes are killed (as ssh_faults.sh does).
hold_run
check "the replicator is in the middle of a pack" test -e "$WORK/hold.ready"
SSHD_PID=$O_PID
sess=$(sshd_session_pids)
check "the replicator has an off-site sshd session to kill (${sess:-none})" \
    test -n "$sess"
# shellcheck disable=SC2086
[ -n "$sess" ] && kill -9 $sess
wait "$rpid"
rc=$?
check "the replicate whose connection dropped exits 1 (got $rc)" test "$rc" -eq 1
json_check "not complete, the JSON error names the broken connection" \
    "not d['complete'] and 'connection' in (d['error'] or '')"
expect_stderr_contains "connection"
expect_stderr_contains "a new run sends what is missing"
DROPPED=$(hist_count "$OFF/big")
check "the copy holds some of the files ($DROPPED of $NB)" \
    test "$DROPPED" -ge 2 -a "$DROPPED" -lt "$NB"
check "the state file records the failed run" \
    test -n "$(state_of "$BIG")" -a "$(state_val "$BIG" outcome)" -lt 0 -a \
    "$(state_val "$BIG" synced)" = 0
check "the state file says why" \
    bash -c "grep '^message ' '$(state_of "$BIG")' | grep -qi connection"
check "the failed run is in the primary's audit log" \
    grep -q "replicate" "$BIG/audit.log"
check "the dropped session's server is gone" gone_serve "$OFF/big"
check "the cut copy holds no index file or snapshot yet (packs come first)" \
    test -z "$(hist "$OFF/big" | grep -E '^(index|snapshots)/')"
check "no temporary file left on the copy" test -z "$(tmp_files "$OFF/big")"

# kill -9 of the replicator while the off-site server holds its third pack.
hold_run
BEFORE_KILL=$(hist_count "$OFF/big")
check "the replicator is still running when it is killed" kill -0 "$rpid"
check "more packs arrived before the kill ($BEFORE_KILL > $DROPPED)" \
    test "$BEFORE_KILL" -gt "$DROPPED"
kill -9 "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
check "the killed session's server is gone" gone_serve "$OFF/big"
THERE=$(hist_count "$OFF/big")
echo "# the dropped run left $DROPPED files, the killed run $THERE of $NB"
check "the killed run left the copy incomplete" test "$THERE" -lt "$NB"
check "... and without a snapshot" \
    test -z "$(hist "$OFF/big" | grep '^snapshots/')"
check "no temporary file left on the copy by the killed run" \
    test -z "$(tmp_files "$OFF/big")"
E2E_WHAT="replicate after kill -9" expect_exit 0 \
    rep_to "$O_BIG" "$BIG" "$OFF/big" --json
json_check "complete files were not sent again: sent $((NB - THERE)), there $THERE" \
    "d['complete'] and d['files_sent'] == $NB - $THERE and d['files_there'] == $THERE and d['files_sent'] < $NB"
same_files "the big copy equals the primary" "$BIG" "$OFF/big"
same_times "the big copy keeps the primary's receive times" "$BIG" "$OFF/big"
check "no temporary file on the copy" test -z "$(tmp_files "$OFF/big")"
E2E_WHAT="LIST data on the copy" expect_exit 0 pco "$O_BIG" "list data" bye
check "LIST shows the packs and nothing else (no .tmp-)" \
    test "$(grep -cE '^  [0-9a-f]{64} [0-9]+ [0-9]+$' "$OUT")" -eq "$NBD" -a \
    "$(grep -c '^  ' "$OUT")" -eq "$NBD"
check "the state file records the complete run" \
    test "$(state_val "$BIG" outcome)" = 0 -a "$(state_val "$BIG" synced)" -gt 0 -a \
    -z "$(state_val "$BIG" message)"
E2E_WHAT="check --read-data on the big copy" expect_exit 0 \
    koff "$O_RO_BIG" "$OFF/big" check --read-data
E2E_WHAT="restore from the big copy" expect_exit 0 \
    koff "$O_RO_BIG" "$OFF/big" restore latest --target "$WORK/outbig"
treecmp "the big copy restores identical" "$WORK/bigsrc" "$WORK/outbig$WORK/bigsrc"
rm -rf "$WORK/outbig"

# ---------------------------------------------------------------------------
case_begin "another repository is refused; a local directory; usage"
E2E_WHAT="init of another repository at the off-site path" expect_exit 0 \
    "$KLUIS" -r "$OFF/other" --password-file "$PW" init --kdf interactive
hist "$OFF/other" >"$WORK/other.before"
E2E_WHAT="replicate web01 to a copy of another repository" expect_exit 1 \
    rep_to "$O_OTHER" "$REPO" "$OFF/other" --json
json_check "nothing sent, the error says why" \
    "not d['complete'] and d['files_sent'] == 0 and 'another repository' in (d['error'] or '')"
hist "$OFF/other" >"$WORK/other.after"
check "the other repository is unchanged" \
    cmp -s "$WORK/other.before" "$WORK/other.after"
check "... and so is its config" \
    bash -c "! cmp -s '$OFF/other/config' '$REPO/config'"
LOCAL=$WORK/localcopy
E2E_WHAT="replicate to a local directory" expect_exit 0 \
    "$SV" replicate --repo "$REPO" --to "$LOCAL" --json
json_check "local: every file sent" \
    "d['complete'] and d['files_sent'] == $(hist_count "$REPO")"
same_files "the local copy equals the primary" "$REPO" "$LOCAL"
same_times "the local copy keeps the primary's receive times" "$REPO" "$LOCAL"
E2E_WHAT="check --read-data of the local copy" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-local" "$KLUIS" -r "$LOCAL" \
    --password-file "$PW" check --read-data
E2E_WHAT="replicate to the local directory again" expect_exit 0 \
    "$SV" replicate --repo "$REPO" --to "$LOCAL" --json
json_check "local, again: nothing sent" "d['complete'] and d['files_sent'] == 0"
E2E_WHAT="replicate the big repository to the local copy of web01" \
    expect_exit 1 "$SV" replicate --repo "$BIG" --to "$LOCAL" --json
json_check "refused, nothing sent" "not d['complete'] and d['files_sent'] == 0"
check "one state file per target (web01: 3, big: 2)" \
    test "$(find "$REPO/replication" -type f | wc -l)" -eq 3 -a \
    "$(find "$BIG/replication" -type f | wc -l)" -eq 2
# a target that serves the replicator in another role than replica (no
# forced command, a full key, pipe: with the default command): refused
# before anything is sent, saying how to fix it
E2E_WHAT="replicate to pipe: (the full role)" expect_exit 1 \
    "$SV" replicate --repo "$REPO" --to "pipe:$WORK/fullcopy" --json
json_check "full role: nothing sent" \
    "not d['complete'] and d['files_sent'] == 0 and d['failed'] == 0"
expect_stderr_contains "not the replica role"
E2E_WHAT="replicate to a new copy through an append-only key" expect_exit 1 \
    "$SV" replicate --repo "$REPO" --to "pipe:$WORK/apcopy" \
    --server-command "$SV --append-only"
expect_stderr_contains "not pinned to the replica role"
check "... and nothing was created there" test ! -e "$WORK/apcopy/config"
check "... and no file but config reached it" \
    test "$(find "$WORK/fullcopy" -type f ! -name audit.log ! -name config | wc -l)" -eq 0
# a snapshot whose receive time here is older than the newest snapshot
# the copy holds (a backup that arrived late, or a primary lying about
# time): the copy would refuse that date, so replicate dates it as the
# copy's newest snapshot
hist "$REPO" >"$WORK/h.pre3"
E2E_WHAT="backup 3 with the append-only key" expect_exit 0 \
    kpr "$P_APPEND" backup "$SRC/crafted" --host web01 --json
hist "$REPO" >"$WORK/h.late"
LATE=$(new_files "$WORK/h.pre3" "$WORK/h.late" | grep '^snapshots/')
check "(backup 3 made one snapshot: $LATE)" \
    test "$(printf '%s\n' "$LATE" | grep -c .)" -eq 1
touch -d '3 days ago' "$REPO/$LATE"
NEWEST=$(find "$LOCAL/snapshots" -type f -printf '%T@\n' | cut -d. -f1 |
    sort -n | tail -n 1)
E2E_WHAT="replicate a snapshot dated before the copy's newest" \
    expect_exit 0 "$SV" replicate --repo "$REPO" --to "$LOCAL" --json
expect_stderr_contains "$LATE arrived here after a newer snapshot"
check "... it is dated on the copy one second after the copy's newest snapshot" \
    test "$(stat -c %Y "$LOCAL/$LATE")" -eq "$((NEWEST + 1))"
# a pack the copy refuses (its quota) stops the run before the index
# files and snapshots that need it: the copy never holds a snapshot whose
# data is missing
E2E_WHAT="replicate into a copy whose quota refuses the packs" expect_exit 1 \
    "$SV" replicate --repo "$REPO" --to "pipe:$WORK/quotacopy" \
    --server-command "$SV --replica --quota 8K" --json
json_check "quota: packs refused, nothing complete" \
    "not d['complete'] and d['failed'] >= 1"
expect_stderr_contains "stopping before the files that may need"
check "... and no index file or snapshot reached the copy" \
    test "$(find "$WORK/quotacopy/index" "$WORK/quotacopy/snapshots" -type f | wc -l)" -eq 0
# a pack cut short here, whose name the copy holds with its true size:
# the primary's file is the damaged one, and --repair puts it back
CUT=$(grep '^data/' "$WORK/h.1" | head -n 1)
cp "$REPO/$CUT" "$WORK/cut.orig"
chmod u+w "$REPO/$CUT"
truncate -s -1 "$REPO/$CUT"
E2E_WHAT="replicate --repair of a pack cut short here" expect_exit 0 \
    "$SV" replicate --repo "$REPO" --to "$LOCAL" --repair --json
json_check "the cut pack is found damaged here and repaired" \
    "d['damaged'] == 1 and d['repaired'] == 1 and d['size_mismatches'] == 0"
check "... and it is whole again" cmp -s "$REPO/$CUT" "$WORK/cut.orig"
E2E_WHAT="not a repository (exit 10)" expect_exit 10 \
    "$SV" replicate --repo "$WORK/src" --to "$WORK/nowhere"
check "nothing was created there" test ! -e "$WORK/nowhere"
E2E_WHAT="no --to (exit 2)" expect_exit 2 "$SV" replicate --repo "$REPO"
expect_stderr_contains "--to"
E2E_WHAT="no --repo (exit 2)" expect_exit 2 \
    "$SV" replicate --to "$WORK/nowhere"

# ---------------------------------------------------------------------------
case_begin "a compromised primary cannot destroy the off-site copy"
hist "$OFF/web01" >"$WORK/off.h.before"
E2E_WHAT="forget all but the last snapshot and prune (full role, delete delay 0)" \
    expect_exit 0 kpr "$P_NOW" forget --keep-last 1 --prune --max-unused 0
E2E_WHAT="kluis-server purge on the primary" expect_exit 0 \
    "$SV" purge --repo "$REPO"
check "snapshot 1 is gone from the primary" test ! -e "$REPO/snapshots/$S1"
hist "$REPO" >"$WORK/h.pruned"
GONE=$(LC_ALL=C comm -23 "$WORK/h.3" "$WORK/h.pruned" | wc -l)
check "the prune removed files on the primary ($GONE)" test "$GONE" -ge 3
check "the primary's trash is empty" \
    test -z "$(find "$REPO/trash" -type f 2>/dev/null)"
NEWP=$(LC_ALL=C comm -13 "$WORK/off.h.before" "$WORK/h.pruned" | wc -l)
E2E_WHAT="replicate --dry-run after the prune" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --dry-run --json
json_check "--dry-run: would send the prune's new files ($NEWP)" \
    "d['dry_run'] and d['complete'] and d['files_sent'] == $NEWP"
hist "$OFF/web01" >"$WORK/off.h.dry"
check "--dry-run changed nothing on the copy" \
    cmp -s "$WORK/off.h.before" "$WORK/off.h.dry"
E2E_WHAT="replicate after the prune" expect_exit 0 \
    rep_to "$O_REPL" "$REPO" "$OFF/web01" --json
hist "$OFF/web01" >"$WORK/off.h.after"
check "the copy still holds every file it held" \
    test -z "$(LC_ALL=C comm -23 "$WORK/off.h.before" "$WORK/off.h.after")"
check "the copy holds every file of the pruned primary" \
    test -z "$(LC_ALL=C comm -23 "$WORK/h.pruned" "$WORK/off.h.after")"
E2E_WHAT="snapshots on the copy (a new catalog)" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-dr" \
    timeout 180 "$KLUIS" -r "ssh://root@127.0.0.1:$O_PORT$OFF/web01" \
    --ssh-key "$O_RO" --ssh-known-hosts "$O_KH" --password-file "$PW" \
    snapshots
expect_stdout_contains "${S1:0:8}" "snapshot 1 is still listed on the copy"
E2E_WHAT="restore snapshot 1 from the copy (a new catalog)" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-dr" \
    timeout 180 "$KLUIS" -r "ssh://root@127.0.0.1:$O_PORT$OFF/web01" \
    --ssh-key "$O_RO" --ssh-known-hosts "$O_KH" --password-file "$PW" \
    restore "$S1" --target "$WORK/out-old"
treecmp "snapshot 1 restores from the copy as it was backed up" \
    "$WORK/src-v1" "$WORK/out-old$SRC"
E2E_WHAT="check --read-data on the copy after the primary's prune" \
    expect_exit 0 env KLUIS_CACHE_DIR="$WORK/cache-dr" \
    timeout 180 "$KLUIS" -r "ssh://root@127.0.0.1:$O_PORT$OFF/web01" \
    --ssh-key "$O_RO" --ssh-known-hosts "$O_KH" --password-file "$PW" \
    check --read-data
e2e_finish
