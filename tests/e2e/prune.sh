#!/usr/bin/env bash
# Issue #11 section 2: kluis prune (and forget --prune).
#   - --dry-run changes no byte; prune deletes the packs only forgotten
#     snapshots used, repacks a pack that is partly unused, deletes the
#     index files left with no pack, and writes one signed retire record;
#     check --read-data then passes with a new catalog and with a catalog
#     that was warm before the prune (no vanished index file, no missing
#     pack), the kept snapshots restore identical, and a second prune has
#     nothing left to do.
#   - A backup-only key cannot prune (exit 12).
#   - Locks: a backup that is running makes prune exit 11; a backup
#     started while prune runs exits 11; nothing is lost either way.
#   - kill -9 at six points of a prune (before the first copy lands, after
#     the copies but before their index file, before the retire record,
#     before the first pack deletion, after one, before the index files
#     go): each time check --read-data passes and the kept snapshots
#     restore identical, and a rerun - which finds the killed run's lock
#     dead - finishes the job.  A connection dropped in the middle of the
#     deletions: the same.
#   - A hacked host's snapshot with a missing subtree makes prune refuse,
#     naming it, with nothing deleted; once it is forgotten prune runs.
#   - Another host's lock stops prune while it is live; `kluis unlock`
#     leaves it, and removes it once its refresh time has passed.
#   - Over ssh://: the append-only role cannot prune (refusal audited);
#     the full role's prune lands in the server's trash, and kluis-server
#     undelete brings the forgotten snapshot back whole.
#
#   - A hacked host's claims (kluis-hostile index-predict: a pack of
#     garbage and an index file claiming the chunks of a file that snapshots
#     use) do not make prune drop the true copy: check --read-data passes
#     and the snapshot restores identical (the keeper rule itself is in
#     test_catalog).
#
# usage: prune.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: prune.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: prune.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: prune.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init prune
export TZ=UTC
KILLPROXY="$E2E_DIR/killproxy.py"
SRC=$WORK/src

# c2 ARGS...: a second operator machine whose catalog was warm before.
c2() {
	KLUIS_CACHE_DIR=$WORK/cache2 "$KLUIS" -r "$REPO" --password-file "$PW" \
	    "$@"
}

# restored_same NAME SNAPSHOT DIR: SNAPSHOT restores identical to DIR.
restored_same() {
	local out=$WORK/restored
	rm -rf "$out"
	if ! KLUIS_CACHE_DIR=$WORK/cache-r$RANDOM "$KLUIS" -r "$REPO" \
	    --password-file "$PW" restore "$2" --target "$out" \
	    >/dev/null 2>"$WORK/restore.err"; then
		not_ok "$1 (restore failed)"
		sed 's/^/  stderr: /' "$WORK/restore.err" | head -n 5
		return
	fi
	treecmp "$1" "$3" "$out$SRC"
	rm -rf "$out"
}

# via_proxy ARGS...: kluis over pipe: through killproxy.py with
# PROXY_ARGS; its pid in $WORK/pid.
via_proxy() {
	bash -c 'echo $$ >"$1"; shift; exec "$@"' sh "$WORK/pid" \
	    "$KLUIS" -r "pipe:$REPO" --password-file "$PW" --server-command \
	    "python3 $KILLPROXY $PROXY_ARGS --pid-file $WORK/pid -- $KLUIS_SERVER" \
	    "$@"
}

packs() {
	find "$REPO/data" -type f ! -name '.tmp-*' | wc -l
}

# ---------------------------------------------------------------------------
case_begin "three backups; the oldest is forgotten"
mkdir -p "$SRC/inc"
cp -r /usr/include/linux "$SRC/inc/"
head -c 12000000 /dev/urandom >"$SRC/a.bin"
expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" --json
S1=$(json_field snapshot_id)
rm -f "$SRC/a.bin"
rm -rf "$SRC/inc/linux/netfilter"*
head -c 6000000 /dev/urandom >"$SRC/b.bin"
expect_exit 0 k backup "$SRC" --json
S2=$(json_field snapshot_id)
cp -a "$SRC" "$WORK/gen2"
echo "third" >"$SRC/notes.txt"
head -c 3000000 /dev/urandom >"$SRC/c.bin"
expect_exit 0 k backup "$SRC" --json
S3=$(json_field snapshot_id)
cp -a "$SRC" "$WORK/gen3"
E2E_WHAT="the second catalog is warm" expect_exit 0 c2 check
E2E_WHAT="forget $S1 (no prune yet)" expect_exit 0 k forget "$S1"
BEFORE=$(du -sb "$REPO" | cut -f1)
cp -a "$REPO" "$WORK/base"
cp -a "$WORK/cache2" "$WORK/cache2-base"

case_begin "prune --dry-run"
file_sum "$REPO" >"$WORK/sum0"
E2E_WHAT="prune --dry-run --json" expect_exit 0 k prune --dry-run --json
json_check "the dry run would delete or repack the forgotten snapshot's packs" \
    'd["dry_run"] and d["packs_unused"] + d["packs_repacked"] >= 1 and d["bytes_unused"] + d["bytes_repacked"] >= 11000000 and d["snapshots"] == 2'
file_sum "$REPO" >"$WORK/sum1"
check "the dry run changed no byte" cmp -s "$WORK/sum0" "$WORK/sum1"

case_begin "prune"
E2E_WHAT="prune --json" expect_exit 0 k prune --json
json_check "unused packs deleted, one retire record, files removed at once" \
    'd["packs_unused"] + d["packs_repacked"] >= 1 and d["records"] == 1 and d["removed"] >= d["packs_unused"] + d["packs_repacked"] and d["deletes_at_once"] and d["remove_failed"] == 0'
cp "$OUT" "$WORK/prune.json"
AFTER=$(du -sb "$REPO" | cut -f1)
check "the repository gave back the forgotten 12 MB ($BEFORE -> $AFTER bytes)" \
    test $((BEFORE - AFTER)) -ge 11000000
E2E_WHAT="check --read-data with a new catalog" expect_exit 0 \
    kf check --read-data --json
json_check "no finding" 'd["ok"] and d["findings"] == []'
E2E_WHAT="check by the catalog that was warm before the prune" \
    expect_exit 0 c2 check --json
json_check "no vanished index file, no missing pack" \
    'd["ok"] and d["findings"] == []'
restored_same "the second backup restores identical" "$S2" "$WORK/gen2"
restored_same "the third backup restores identical" "$S3" "$WORK/gen3"
E2E_WHAT="a second prune" expect_exit 0 k prune --json
json_check "has nothing left to do" \
    'd["packs_unused"] == 0 and d["packs_repacked"] == 0 and d["removed"] == 0 and d["records"] == 0'

case_begin "repack: a partly used pack is rewritten"
rm -rf "$REPO"
cp -a "$WORK/base" "$REPO"
E2E_WHAT="forget the second backup too" expect_exit 0 k forget "$S2"
E2E_WHAT="prune --max-unused 0 --json" expect_exit 0 \
    k prune --max-unused 0 --json
json_check "packs that still hold blobs in use are repacked, their blobs copied" \
    'd["packs_repacked"] >= 1 and d["blobs_copied"] >= 1 and d["packs_written"] >= 1'
E2E_WHAT="check --read-data after the repack" expect_exit 0 \
    kf check --read-data
restored_same "the third backup restores identical after the repack" \
    "$S3" "$WORK/gen3"
E2E_WHAT="--max-unused 101" expect_exit 2 k prune --max-unused 101
E2E_WHAT="--max-unused abc" expect_exit 2 k prune --max-unused abc
E2E_WHAT="forget --max-unused without --prune" expect_exit 2 \
    k forget --keep-last 1 --max-unused 5
N1=$(snapshot_count)
E2E_WHAT="forget --prune with a bad --max-unused" expect_exit 2 \
    k forget --keep-last 1 --prune --max-unused abc
check "nothing was forgotten" test "$(snapshot_count)" -eq "$N1"

case_begin "a backup-only key cannot prune"
make_password "$WORK/pw-web" "web01 backup passphrase"
E2E_WHAT="key add --backup-only" expect_exit 0 k key add --backup-only \
    --out "$WORK/web01.key" --new-password-file "$WORK/pw-web" \
    --kdf interactive
E2E_WHAT="prune with a backup-only key" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/web01.key" \
    --password-file "$WORK/pw-web" prune
expect_stderr_contains "full key"

# ---------------------------------------------------------------------------
case_begin "a hacked host's claims of the chunks in use"
rm -rf "$REPO"
cp -a "$WORK/base" "$REPO"
make_password "$WORK/pw-evil" "evil01 backup passphrase"
E2E_WHAT="key add --backup-only (evil01)" expect_exit 0 k key add \
    --backup-only --out "$WORK/evil.key" --new-password-file "$WORK/pw-evil" \
    --kdf interactive
E2E_WHAT="evil01 claims the chunks of c.bin and b.bin in a garbage pack" \
    expect_exit 0 "$HOSTILE" -r "$REPO" --key-file "$WORK/evil.key" \
    --password-file "$WORK/pw-evil" index-predict "$WORK/gen3/c.bin" \
    "$WORK/gen3/b.bin"
E2E_WHAT="forget the second backup" expect_exit 0 k forget "$S2"
E2E_WHAT="prune --max-unused 0 with the claims in the index" expect_exit 0 \
    k prune --max-unused 0 --json
E2E_WHAT="check --read-data after the prune" expect_exit 0 \
    kf check --read-data --json
json_check "no finding: the garbage pack went, the true copies stayed" \
    'd["ok"] and d["findings"] == []'
restored_same "the third backup restores identical" "$S3" "$WORK/gen3"

# ---------------------------------------------------------------------------
case_begin "locks: a running backup stops prune; prune stops a backup"
rm -rf "$REPO"
cp -a "$WORK/base" "$REPO"
echo "fourth" >"$SRC/notes.txt"
head -c 2000000 /dev/urandom >"$SRC/d.bin"
rm -f "$WORK/ready"
PROXY_ARGS="--hold put-data:1:8 --ready $WORK/ready" \
    via_proxy backup "$SRC" >"$WORK/b.out" 2>"$WORK/b.err" &
bpid=$!
for _ in $(seq 1 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
check "the backup is held while it holds its lock" test -e "$WORK/ready"
E2E_WHAT="prune while a backup runs" expect_exit 11 k prune
expect_stderr_contains "lock"
wait "$bpid"
brc=$?
check "the backup finished (exit $brc)" test "$brc" -eq 0 -a \
    "$(snapshot_count)" -eq 3
rm -f "$WORK/ready"
PROXY_ARGS="--hold remove-data:1:8 --ready $WORK/ready" \
    via_proxy prune >"$WORK/p.out" 2>"$WORK/p.err" &
ppid=$!
for _ in $(seq 1 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
check "prune is held in its deletions" test -e "$WORK/ready"
E2E_WHAT="a backup started while prune runs" expect_exit 11 \
    k backup "$SRC"
expect_stderr_contains "lock"
wait "$ppid"
prc=$?
check "prune finished (exit $prc)" test "$prc" -eq 0
E2E_WHAT="check --read-data after both" expect_exit 0 kf check --read-data
restored_same "the third backup restores identical" "$S3" "$WORK/gen3"

# ---------------------------------------------------------------------------
for point in put-data:1 put-index:1 put-index:2 remove-data:1 \
    remove-data:2 remove-index:1; do
	case_begin "prune killed at $point"
	rm -rf "$REPO" "$WORK/cache2"
	cp -a "$WORK/base" "$REPO"
	cp -a "$WORK/cache2-base" "$WORK/cache2"
	E2E_WHAT="forget the second backup" expect_exit 0 k forget "$S2"
	PROXY_ARGS="--at $point --log $WORK/proxy.log" via_proxy \
	    prune --max-unused 0 >"$WORK/k.out" 2>"$WORK/k.err"
	krc=$?
	check "prune was killed at $point (exit $krc)" test "$krc" -eq 137
	check "its lock stayed behind" test -n "$(ls "$REPO/locks")"
	E2E_WHAT="check --read-data after the kill" expect_exit 0 \
	    kf check --read-data --json
	json_check "no finding after the kill at $point" \
	    'd["ok"] and d["findings"] == []'
	E2E_WHAT="check by a catalog warm from before" expect_exit 0 c2 check
	restored_same "the third backup restores identical after the kill" \
	    "$S3" "$WORK/gen3"
	E2E_WHAT="the rerun (the dead lock is its own host's)" expect_exit 0 \
	    k prune --max-unused 0 --json
	check "the rerun removed the dead lock" test -z "$(ls "$REPO/locks")"
	E2E_WHAT="check --read-data after the rerun" expect_exit 0 \
	    kf check --read-data
	E2E_WHAT="a third prune" expect_exit 0 k prune --max-unused 0 --json
	json_check "nothing is left to do" \
	    'd["packs_unused"] == 0 and d["removed"] == 0'
	restored_same "the third backup restores identical after the rerun" \
	    "$S3" "$WORK/gen3"
done

# ---------------------------------------------------------------------------
case_begin "the connection drops in the middle of the deletions"
rm -rf "$REPO"
cp -a "$WORK/base" "$REPO"
E2E_WHAT="forget the second backup" expect_exit 0 k forget "$S2"
PROXY_ARGS="--drop remove-data:2" via_proxy prune --max-unused 0 \
    >"$WORK/d.out" 2>"$WORK/d.err"
drc=$?
check "prune failed on the dropped connection (exit $drc)" test "$drc" -eq 1
check "and said so" grep -qiE 'connection|closed|transport' "$WORK/d.err"
E2E_WHAT="check --read-data after the drop" expect_exit 0 \
    kf check --read-data --json
json_check "no finding after the drop" 'd["ok"] and d["findings"] == []'
restored_same "the third backup restores identical after the drop" \
    "$S3" "$WORK/gen3"
E2E_WHAT="the rerun after the drop" expect_exit 0 \
    k prune --max-unused 0 --json
E2E_WHAT="a third prune after the drop" expect_exit 0 \
    k prune --max-unused 0 --json
json_check "nothing is left to do after the drop" \
    'd["packs_unused"] == 0 and d["removed"] == 0'

# ---------------------------------------------------------------------------
case_begin "unlock: another host's lock, live and then stale"
rm -rf "$REPO"
cp -a "$WORK/base" "$REPO"
make_password "$WORK/pw-other" "other01 backup passphrase"
E2E_WHAT="key add --backup-only (other01)" expect_exit 0 k key add \
    --backup-only --out "$WORK/other.key" \
    --new-password-file "$WORK/pw-other" --kdf interactive
E2E_WHAT="other01 holds a shared lock" expect_exit 0 "$HOSTILE" \
    -r "$REPO" --key-file "$WORK/other.key" \
    --password-file "$WORK/pw-other" lock-forge --host other01
E2E_WHAT="prune while other01's lock is live" expect_exit 11 k prune
expect_stderr_contains "other01"
E2E_WHAT="unlock while it is live" expect_exit 0 k unlock --json
json_check "a live lock stays" 'd["removed"] == 0 and d["live"] == 1'
touch -d '-31 minutes' "$REPO"/locks/*
E2E_WHAT="unlock after its refresh time has passed" expect_exit 0 \
    k unlock --json
json_check "the stale lock is removed" 'd["removed"] == 1 and d["live"] == 0'
check "no lock is left" test -z "$(ls "$REPO/locks")"
E2E_WHAT="prune after the unlock" expect_exit 0 k prune

case_begin "a hacked host's snapshot whose subtree does not exist"
E2E_WHAT="other01 writes a snapshot with a missing subtree" expect_exit 0 \
    "$HOSTILE" -r "$REPO" --key-file "$WORK/other.key" \
    --password-file "$WORK/pw-other" tree-unloadable missing-subtree
BAD=$(awk '/^snapshot /{ print $2 }' "$OUT" | tail -n 1)
check "its snapshot id was printed" test -n "$BAD"
E2E_WHAT="forget the second backup" expect_exit 0 k forget "$S2"
file_sum "$REPO" | grep -v ' ./locks/' >"$WORK/sumu0"
E2E_WHAT="prune refuses: it cannot tell what that snapshot uses" \
    expect_exit 1 k prune
expect_stderr_contains "snapshot $BAD"
expect_stderr_contains "deletes nothing"
file_sum "$REPO" | grep -v ' ./locks/' >"$WORK/sumu1"
check "nothing was deleted" cmp -s "$WORK/sumu0" "$WORK/sumu1"
E2E_WHAT="the operator forgets the planted snapshot" expect_exit 0 \
    k forget "$BAD"
E2E_WHAT="prune runs" expect_exit 0 k prune --json
json_check "and gives the space back" \
    'd["packs_unused"] + d["packs_repacked"] >= 1 and d["removed"] >= 1'

# ---------------------------------------------------------------------------
case_begin "over ssh://: the append-only role, the full role, undelete"
rm -rf "$REPO"
cp -a "$WORK/base" "$REPO"
E2E_WHAT="forget the second backup through the full role" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" forget "$S2"
N0=$(packs)
find "$REPO/data" -type f ! -name '.tmp-*' -printf '%f\n' | sort >"$WORK/packs0"
AUDIT0=$(audit_lines)
E2E_WHAT="prune through the append-only role" expect_exit 12 \
    ks "$SSH_KEY_APPEND" prune
expect_stderr_contains "exclusive"
check "nothing changed" test "$(packs)" -eq "$N0"
check "the refusal is audited" \
    bash -c "tail -n +$((AUDIT0 + 1)) '$REPO/audit.log' | grep -q 'op=put type=lock .*outcome=KL_E_PERM'"
E2E_WHAT="prune through the full role" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" prune --json
json_check "the server keeps what prune deleted" \
    'not d["deletes_at_once"] and d["removed"] >= 1'
find "$REPO/data" -type f ! -name '.tmp-*' -printf '%f\n' | sort >"$WORK/packs1"
check "a pack prune deleted is gone from data/" \
    test -n "$(comm -23 "$WORK/packs0" "$WORK/packs1")"
check "the deleted packs wait in the server's trash" \
    test "$(find "$REPO/trash" -name 'data.*' | wc -l)" -ge 1
check "the deletions are audited" \
    grep -q 'op=remove type=data' "$REPO/audit.log"
E2E_WHAT="check --read-data over ssh:// after the prune" expect_exit 0 \
    fresh a check --read-data
E2E_WHAT="kluis-server undelete" expect_exit 0 "$KLUIS_SERVER" undelete \
    --repo "$REPO" --since 1h
check "the packs are back" test "$(packs)" -ge "$N0"
E2E_WHAT="check --read-data after the undelete" expect_exit 0 \
    fresh b check --read-data
restored_same "the forgotten snapshot restores again after the undelete" \
    "$S2" "$WORK/gen2"

e2e_finish
