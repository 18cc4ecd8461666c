#!/usr/bin/env bash
# Issue #11 section 3: deletion on the server is delayed, bounded and
# visible, decided by the forced command and not by the client.  Through a
# real sshd and the raw protocol (tests/e2e/protoclient.py):
#   - the append-only and read-only roles remove nothing but their own
#     locks, and the append-only role cannot plant key files;
#   - --min-age: a file younger than that is not removed, by any role,
#     and the refusal says why and is audited;
#   - --delete-delay (default 14 days): a removal moves the file into
#     trash/ - gone for every client at once (LIST, STAT, GET, `kluis
#     snapshots`), still on disk, verified by `kluis-server verify`;
#   - `kluis-server purge` deletes only what has waited out its delay,
#     `--dry-run` touches nothing, every purge is in the audit log;
#   - `kluis-server undelete` brings files back with their receive time,
#     after which `kluis check --read-data` passes and the snapshot is
#     listed again; a name uploaded again meanwhile is kept;
#   - --quota: a backup that would pass it fails with a clear message,
#     writes nothing half and is audited; a smaller one still goes in;
#   - --delete-delay 0 removes at once; a corrupted or stray trash entry
#     is a verify finding; bad arguments are usage errors (exit 2), a
#     directory that is no repository exit 10.
#
# usage: server_trash.sh KLUIS KLUIS_SERVER
KLUIS=${1:?usage: server_trash.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: server_trash.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init server-trash

SV=$KLUIS_SERVER
KEY_MINAGE=$(ssh_add_key minage \
    "command=\"$SV serve --repo $REPO --min-age 1h\",restrict")
KEY_DELAY=$(ssh_add_key delay \
    "command=\"$SV serve --repo $REPO --delete-delay 3s\",restrict")
KEY_NOW=$(ssh_add_key now \
    "command=\"$SV serve --repo $REPO --delete-delay 0\",restrict")

# files_in DIR: number of regular files below DIR (0 if missing).
files_in() {
	find "$1" -type f 2>/dev/null | wc -l
}

# trash_of NAME: the trash entries of file NAME.
trash_of() {
	find "$REPO/trash" -name "*.$1.*" 2>/dev/null
}

# listed TYPE NAME KEY: passes if LIST of TYPE through KEY names NAME.
listed() {
	pc "$3" "list $1" 2>/dev/null | grep -q "^  $2 "
}

# mtime_listed TYPE NAME: the receive time LIST reports for NAME.
mtime_listed() {
	pc "$SSH_KEY_ADMIN" "list $1" 2>/dev/null |
	    awk -v n="$2" '$1 == n { print $3 }'
}

# audited OP NAME: passes if a record of OP naming NAME was appended
# after line $AUDIT0 of the audit log.
audited() {
	audit_since "$AUDIT0" | grep -F -- "$2" | grep -q -- "$1"
}

# ---------------------------------------------------------------------------
case_begin "a repository with two snapshots, written over ssh://"
mkdir -p "$WORK/src"
echo "citizen record 1" >"$WORK/src/a.txt"
expect_exit 0 k init --kdf interactive
expect_exit 0 ks "$SSH_KEY_ADMIN" backup "$WORK/src" --host web01 --json
S1=$(json_field snapshot_id)
echo "citizen record 2" >"$WORK/src/b.txt"
expect_exit 0 ks "$SSH_KEY_ADMIN" backup "$WORK/src" --host web01 --json
S2=$(json_field snapshot_id)
IDX=$(first_file "$REPO/index")
MT1=$(mtime_listed snapshot "$S1")
check "the snapshots are listed" listed snapshot "$S1" "$SSH_KEY_ADMIN"

# ---------------------------------------------------------------------------
case_begin "roles that may not remove, and the append-only role's keys"
AUDIT0=$(audit_lines)
run pc "$SSH_KEY_APPEND" "remove snapshot $S1"
check "append-only: remove refused (KL_E_PERM)" grep -q "KL_E_PERM" "$OUT"
run pc "$SSH_KEY_RO" "remove snapshot $S1"
check "read-only: remove refused (KL_E_PERM)" grep -q "KL_E_PERM" "$OUT"
check "the snapshot is still there" test -f "$REPO/snapshots/$S1"
check "the refusals are audited" audited "KL_E_PERM" "$S1"
printf 'a key file nobody asked for' >"$WORK/planted"
run pc "$SSH_KEY_APPEND" "put key auto $WORK/planted"
check "append-only: a key file cannot be planted (KL_E_PERM)" \
    grep -q "KL_E_PERM" "$OUT"
check "no key file was added" test "$(files_in "$REPO/keys")" -eq 1

# ---------------------------------------------------------------------------
case_begin "--min-age: younger files are not removed, by any role"
AUDIT0=$(audit_lines)
run pc "$KEY_MINAGE" "remove snapshot $S1"
check "min-age: remove refused (KL_E_PERM)" grep -q "KL_E_PERM" "$OUT"
check "min-age: the refusal says why" grep -q "minimum age" "$OUT"
check "min-age: nothing moved" test -f "$REPO/snapshots/$S1" -a \
    "$(files_in "$REPO/trash")" -eq 0
check "min-age: the refusal is audited" audited "KL_E_PERM" "$S1"
run pc "$KEY_MINAGE" "list lock"
check "min-age: the session still works after the refusal" \
    test "$rc" -eq 0

# ---------------------------------------------------------------------------
case_begin "the default delay: a removal goes to the trash"
AUDIT0=$(audit_lines)
run pc "$SSH_KEY_ADMIN" "remove snapshot $S1"
check "full role: remove answered OK" test "$rc" -eq 0
check "the snapshot left snapshots/" test ! -e "$REPO/snapshots/$S1"
check "it is in trash/, once" test "$(trash_of "$S1" | wc -l)" -eq 1
check "its bytes are intact in the trash" \
    test "$(b2sum -l 256 <"$(trash_of "$S1")" | cut -d' ' -f1)" = "$S1"
check "the removal is audited" audited "remove" "$S1"
if listed snapshot "$S1" "$SSH_KEY_ADMIN"; then
	not_ok "LIST no longer shows it"
else
	ok "LIST no longer shows it"
fi
run pc "$SSH_KEY_ADMIN" "stat snapshot $S1"
check "STAT: not found" grep -q "KL_E_NOTFOUND" "$OUT"
run pc "$SSH_KEY_ADMIN" "get snapshot $S1"
check "GET: not found" grep -q "KL_E_NOTFOUND" "$OUT"
KLUIS_CACHE_DIR=$WORK/cache-fresh run ks "$SSH_KEY_ADMIN" snapshots --json
# snapshot_ids: the ids `kluis snapshots --json` printed into $OUT.
snapshot_ids() {
	python3 -c 'import json, sys
print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$OUT"
}
check "a client's snapshots no longer list it" \
    test "$(snapshot_ids)" = "$S2"
E2E_WHAT="kluis-server verify with a trash entry" expect_exit 0 \
    "$SV" verify --repo "$REPO" --json
# every directory verify re-hashes: runs/ holds the clients' run records
NFILES=$(find "$REPO"/keys "$REPO"/data "$REPO"/index "$REPO"/snapshots \
    "$REPO"/locks "$REPO"/runs "$REPO"/trash -type f ! -name '.tmp-*' | wc -l)
check "verify re-hashed the trash entry too ($NFILES files)" \
    test "$(json_field files)" = "$NFILES"

# ---------------------------------------------------------------------------
case_begin "purge keeps what has not waited out its delay"
AUDIT0=$(audit_lines)
E2E_WHAT="purge before the delay" expect_exit 0 "$SV" purge --repo "$REPO" \
    --json
check "purge: nothing purged" test "$(json_field files_done)" = 0
check "purge: the entry waits, due in about 14 days" python3 -c "
import json, sys, datetime
d = json.load(open('$OUT'))
due = datetime.datetime.strptime(d['next_purge'], '%Y-%m-%dT%H:%M:%SZ')
left = (due - datetime.datetime.utcnow()).total_seconds()
sys.exit(0 if d['trash_files'] == 1 and 13.9 * 86400 < left <= 14 * 86400
         else 1)"
check "the entry is still on disk" test "$(trash_of "$S1" | wc -l)" -eq 1

# ---------------------------------------------------------------------------
case_begin "undelete brings the snapshot back, receive time and all"
AUDIT0=$(audit_lines)
E2E_WHAT="undelete --dry-run" expect_exit 0 "$SV" undelete --repo "$REPO" \
    --since 1h --dry-run
expect_stdout_contains "would undelete snapshot $S1"
check "dry run: nothing moved" test ! -e "$REPO/snapshots/$S1"
E2E_WHAT="undelete --since 1h" expect_exit 0 "$SV" undelete \
    --repo "$REPO" --since 1h
expect_stdout_contains "undeleted 1 files"
check "the snapshot is back" test -f "$REPO/snapshots/$S1"
check "the trash is empty" test "$(files_in "$REPO/trash")" -eq 0
check "its receive time is what it was" \
    test "$(mtime_listed snapshot "$S1")" = "$MT1"
check "the undelete is audited" audited "undelete" "$S1"
KLUIS_CACHE_DIR=$WORK/cache-fresh2 run ks "$SSH_KEY_ADMIN" snapshots --json
check "a client lists it again" \
    test "$(snapshot_ids | tr ' ' '\n' | sort | tr '\n' ' ')" = \
    "$(printf '%s\n' "$S1" "$S2" | sort | tr '\n' ' ')"
E2E_WHAT="check --read-data after the undelete" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" check --read-data

# ---------------------------------------------------------------------------
case_begin "a short delay: purge deletes what is due, and only that"
AUDIT0=$(audit_lines)
run pc "$KEY_DELAY" "remove index $IDX"
check "delay 3s: remove answered OK" test "$rc" -eq 0
run pc "$SSH_KEY_ADMIN" "remove snapshot $S2"
check "default delay: remove answered OK" test "$rc" -eq 0
E2E_WHAT="purge --dry-run right away" expect_exit 0 "$SV" purge \
    --repo "$REPO" --dry-run
expect_stdout_contains "would have purged 0 files"
sleep 4
E2E_WHAT="purge --dry-run when due" expect_exit 0 "$SV" purge \
    --repo "$REPO" --dry-run
expect_stdout_contains "would purge index $IDX"
check "dry run: still on disk" test "$(trash_of "$IDX" | wc -l)" -eq 1
E2E_WHAT="purge when due" expect_exit 0 "$SV" purge --repo "$REPO"
expect_stdout_contains "purged 1 files"
check "the index file is gone for good" \
    test "$(trash_of "$IDX" | wc -l)" -eq 0 -a ! -e "$REPO/index/$IDX"
check "the snapshot with 14 days still waits" \
    test "$(trash_of "$S2" | wc -l)" -eq 1
check "the purge is audited" audited "purge" "$IDX"

# ---------------------------------------------------------------------------
case_begin "undelete when the same bytes were uploaded again"
cp "$(trash_of "$S2")" "$WORK/s2.copy"
run pc "$SSH_KEY_ADMIN" "put snapshot $S2 $WORK/s2.copy"
check "the same snapshot uploaded again" test "$rc" -eq 0
E2E_WHAT="undelete over a name in use" expect_exit 0 "$SV" undelete \
    --repo "$REPO"
check "the live file stays, the trash entry is dropped" \
    test -f "$REPO/snapshots/$S2" -a "$(files_in "$REPO/trash")" -eq 0

# ---------------------------------------------------------------------------
case_begin "--delete-delay 0 removes at once"
printf 'a lock to remove' >"$WORK/dummy"
D=$(b2sum -l 256 <"$WORK/dummy" | cut -d' ' -f1)
run pc "$SSH_KEY_ADMIN" "put index auto $WORK/dummy"
check "an index file to remove" test -f "$REPO/index/$D"
run pc "$KEY_NOW" "remove index $D"
check "delay 0: remove answered OK" test "$rc" -eq 0
check "delay 0: gone, not in the trash" \
    test ! -e "$REPO/index/$D" -a "$(files_in "$REPO/trash")" -eq 0

# ---------------------------------------------------------------------------
case_begin "a damaged or stray trash entry is a verify finding"
run pc "$SSH_KEY_ADMIN" "remove snapshot $S2"
T=$(trash_of "$S2")
chmod u+w "$T"
printf 'X' | dd of="$T" bs=1 seek=20 conv=notrunc 2>/dev/null
E2E_WHAT="verify with a damaged trash entry" expect_exit 1 "$SV" verify \
    --repo "$REPO"
expect_stdout_contains "trash/$(basename "$T")"
touch "$REPO/trash/not-an-entry"
E2E_WHAT="verify with a stray trash entry" expect_exit 1 "$SV" verify \
    --repo "$REPO"
expect_stdout_contains "trash/not-an-entry"
rm -f "$REPO/trash/not-an-entry"

# ---------------------------------------------------------------------------
case_begin "--quota: one host's key cannot fill the disk"
E2E_WHAT="purge --dry-run counts the bytes in use" expect_exit 0 "$SV" purge \
    --repo "$REPO" --dry-run --json
USED=$(json_field bytes_in_use)
check "bytes in use counted ($USED)" test "$USED" -gt 0
KEY_QUOTA=$(ssh_add_key quota "command=\"$SV serve --append-only --repo \
$REPO --client-name web01 --quota $((USED + 100000))B\",restrict")
head -c 2000000 /dev/urandom >"$WORK/src/big.bin"
snaps=$(snapshot_count)
AUDIT0=$(audit_lines)
E2E_WHAT="a backup beyond the quota" expect_exit 1 ks "$KEY_QUOTA" \
    backup "$WORK/src" --host web01
expect_stderr_contains "quota"
check "no snapshot written" test "$(snapshot_count)" -eq "$snaps"
check "nothing half-written" test -z "$(tmp_files "$REPO")"
check "the refusal is audited (put ... KL_E_NOSPACE)" \
    bash -c "tail -n +$((AUDIT0 + 1)) '$REPO/audit.log' | grep -q 'op=put .*outcome=KL_E_NOSPACE'"
rm -f "$WORK/src/big.bin"
E2E_WHAT="a small backup within the quota" expect_exit 0 ks "$KEY_QUOTA" \
    backup "$WORK/src" --host web01

# ---------------------------------------------------------------------------
case_begin "usage errors and what is no repository"
E2E_WHAT="serve with a bad --delete-delay" expect_exit 2 "$SV" serve \
    --repo "$REPO" --delete-delay 5x
expect_stderr_contains "not a duration"
E2E_WHAT="serve with a bad --quota" expect_exit 2 "$SV" serve \
    --repo "$REPO" --quota 10X
expect_stderr_contains "not a size"
E2E_WHAT="undelete with a bad --since" expect_exit 2 "$SV" undelete \
    --repo "$REPO" --since yesterday
expect_stderr_contains "--since"
E2E_WHAT="purge of a directory that is no repository" expect_exit 10 \
    "$SV" purge --repo "$WORK/src"
E2E_WHAT="undelete of a directory that is no repository" expect_exit 10 \
    "$SV" undelete --repo "$WORK/src"
E2E_WHAT="undelete --since a date" expect_exit 0 "$SV" undelete \
    --repo "$REPO" --since 2026-01-01 --dry-run

e2e_finish
