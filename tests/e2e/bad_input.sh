#!/usr/bin/env bash
# End-to-end failure handling: wrong passphrases and keys, missing or foreign
# repositories, unreadable and changing sources, damaged packs, indexes and
# snapshots, a full disk, a killed backup.  Each case checks the exit code,
# the gist of the message and that nothing else was harmed.  Needs root
# (setpriv to nobody, tmpfs mounts).
#
# usage: bad_input.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: bad_input.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: bad_input.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/lib.sh"
e2e_init bad-input

if [ "$(id -u)" -ne 0 ]; then
	echo "bad_input.sh needs root (setpriv, mount); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi

# fingerprint DIR: one line per entry with type, mode, size and content hash.
fingerprint() {
	(cd "$1" && find . -printf '%y %m %s %p\n' | LC_ALL=C sort &&
	    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r b2sum)
}

# flip FILE OFFSET: inverts the byte at OFFSET.
flip() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# new_files BEFORE AFTER: lines of AFTER not in BEFORE (sorted lists).
new_files() {
	comm -13 "$1" "$2"
}

# case_begin TITLE: a header line to read the log by.
case_begin() {
	echo "# --- $1"
}

SRC=$WORK/src
mkdir -p "$SRC/dir"
echo small >"$SRC/small"
expect_exit 0 k init --kdf interactive

# ---------------------------------------------------------------------------
case_begin "passphrases and repositories"
make_password "$WORK/wrongpw" "not the passphrase"
E2E_WHAT="wrong passphrase" expect_exit 12 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/wrongpw" snapshots
expect_stderr_contains "wrong passphrase"

mkdir -p "$WORK/notrepo/sub"
echo keep >"$WORK/notrepo/file"
E2E_WHAT="-r to a directory that is not a repository" expect_exit 10 \
    "$KLUIS" -r "$WORK/notrepo" --password-file "$PW" snapshots
expect_stderr_contains "not a kluis repository"
E2E_WHAT="-r to a missing path" expect_exit 10 \
    "$KLUIS" -r "$WORK/missing" --password-file "$PW" snapshots
expect_stderr_contains "not a kluis repository"
check "a failed open does not create the missing path" \
    test ! -e "$WORK/missing"
E2E_WHAT="backup to a missing repository" expect_exit 10 \
    "$KLUIS" -r "$WORK/missing" --password-file "$PW" backup "$SRC"
check "a failed backup does not create the missing repository" \
    test ! -e "$WORK/missing"

fingerprint "$REPO" >"$WORK/fp.before"
E2E_WHAT="init over an existing repository" expect_exit 1 \
    k init --kdf interactive
expect_stderr_contains "$REPO"
fingerprint "$REPO" >"$WORK/fp.after"
check "init over a repository changes nothing in it" \
    cmp -s "$WORK/fp.before" "$WORK/fp.after"

fingerprint "$WORK/notrepo" >"$WORK/fp.before"
E2E_WHAT="init over a non-empty directory" expect_exit 1 \
    "$KLUIS" -r "$WORK/notrepo" --password-file "$PW" init --kdf interactive
expect_stderr_contains "not empty"
fingerprint "$WORK/notrepo" >"$WORK/fp.after"
check "init over a non-empty directory changes nothing in it" \
    cmp -s "$WORK/fp.before" "$WORK/fp.after"

E2E_WHAT="no password source and no terminal" expect_exit 1 \
    setsid -w "$KLUIS" -r "$REPO" snapshots </dev/null
expect_stderr_contains "no terminal"
E2E_WHAT="KLUIS_PASSWORD_FILE is used" expect_exit 0 \
    env KLUIS_PASSWORD_FILE="$PW" "$KLUIS" -r "$REPO" snapshots
E2E_WHAT="KLUIS_PASSWORD_COMMAND is used" expect_exit 0 \
    env KLUIS_PASSWORD_COMMAND="cat $PW" "$KLUIS" -r "$REPO" snapshots
E2E_WHAT="a failing KLUIS_PASSWORD_COMMAND" expect_exit 1 \
    env KLUIS_PASSWORD_COMMAND="false" "$KLUIS" -r "$REPO" snapshots
expect_stderr_contains "KLUIS_PASSWORD_COMMAND"

# ---------------------------------------------------------------------------
case_begin "backup of a missing path"
E2E_WHAT="backup of a missing path" expect_exit 1 k backup "$WORK/nothere"
expect_stderr_contains "$WORK/nothere" "the missing path is named"
check "stderr says the path is missing" \
    grep -qiE 'not found|does not exist|no such' "$ERR"
check "no snapshot written for a missing path" test "$(snapshot_count)" -eq 0
E2E_WHAT="backup of two missing paths" expect_exit 1 \
    k backup "$WORK/nothere" "$WORK/gone"
expect_stderr_contains "$WORK/gone" "every missing path is named"
check "no snapshot written when no path exists" \
    test "$(snapshot_count)" -eq 0
# A nightly job does not lose the whole night for one path (issue #13 §6).
E2E_WHAT="backup of an existing and a missing path" expect_exit 3 \
    k backup "$SRC" "$WORK/nothere"
expect_stderr_contains "$WORK/nothere" "the missing path is named"
check "the snapshot holds the existing path only" \
    bash -c "'$KLUIS' -r '$REPO' --password-file '$PW' snapshots --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==1 and d[0][\"paths\"]==[\"$SRC\"], d'"
E2E_WHAT="forget it again" expect_exit 0 k forget "$(
    "$KLUIS" -r "$REPO" --password-file "$PW" snapshots --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"

# ---------------------------------------------------------------------------
case_begin "packs: one backup per file, so each file's data has its own pack"
ls_data() {
	(cd "$REPO" && find data -type f | LC_ALL=C sort)
}
ls_data >"$WORK/packs.0"
declare -A PACK_OF
for i in 1 2 3 4; do
	# f$i is added now: its data goes to this backup's largest new pack,
	# and the directory's tree changes every time.
	head -c $((1500000 + i * 100000)) /dev/urandom >"$SRC/dir/f$i"
	E2E_WHAT="backup $i adds f$i" expect_exit 0 k backup "$SRC"
	ls_data >"$WORK/packs.$i"
	PACK_OF[$i]=$(new_files "$WORK/packs.$((i - 1))" "$WORK/packs.$i" |
	    while read -r p; do echo "$(stat -c %s "$REPO/$p") $p"; done |
	    sort -n | tail -n 1 | cut -d' ' -f2)
done
SNAP=$(last_line)
cp -a "$SRC" "$WORK/ref"
cp -a "$REPO" "$WORK/repo.good"
echo "# pack of f2: ${PACK_OF[2]}"

# restore_damaged NAME: restores latest from the damaged $REPO; f2 must be
# named, left only as f2.kluis-incomplete, everything else byte-identical.
restore_damaged() {
	local out=$WORK/out-$1 inc=$WORK/out-$1$SRC/dir/f2.kluis-incomplete
	E2E_WHAT="restore with $1: exit 1" expect_exit 1 \
	    k restore latest --target "$out"
	# The path may be given relative to the target or absolute.
	expect_stderr_contains "${SRC#/}/dir/f2" "$1: the damaged file is named"
	check "$1: no other file is named" test "$(grep -c "$SRC/dir/f[134]" \
	    "$ERR")" -eq 0
	check "$1: f2 is left only as f2.kluis-incomplete" \
	    test -f "$inc" -a ! -e "$out$SRC/dir/f2"
	treecmp "$1: all other files are restored identical" "$WORK/ref" \
	    "$out$SRC" --ignore dir/f2 --ignore dir/f2.kluis-incomplete \
	    --ignore dir
	treecmp "$1: f1, f3, f4 are identical" "$WORK/ref/dir" "$out$SRC/dir" \
	    --ignore f2 --ignore f2.kluis-incomplete --no-root-mtime
	rm -rf "$REPO"
	cp -a "$WORK/repo.good" "$REPO"
}

case_begin "a flipped byte in the middle of a pack"
P=$REPO/${PACK_OF[2]}
flip "$P" $(($(stat -c %s "$P") / 2))
E2E_WHAT="kluis-server verify finds the flipped byte" expect_exit 1 \
    "$KLUIS_SERVER" verify --repo "$REPO"
check "verify names the corrupt pack" \
    grep -qF "corrupt: ${PACK_OF[2]}" "$OUT"
restore_damaged "a flipped byte"
E2E_WHAT="kluis-server verify on the repaired copy" expect_exit 0 \
    "$KLUIS_SERVER" verify --repo "$REPO"

case_begin "a truncated pack"
P=$REPO/${PACK_OF[2]}
truncate -s $(($(stat -c %s "$P") / 2)) "$P"
restore_damaged "a truncated pack"

case_begin "a deleted pack"
rm -f "$REPO/${PACK_OF[2]}"
restore_damaged "a deleted pack"

# ---------------------------------------------------------------------------
case_begin "a damaged pack whose content has another copy"
# Two copies of every blob: the same files backed up into an empty copy of
# this repository (same keys, so the same blob ids, other packs), whose
# packs, index file and snapshot are then added to this one - what two
# hosts uploading the same new data at the same time leave behind.
DUP=$WORK/repo-dup
cp -a "$WORK/repo.good" "$DUP"
find "$DUP/data" "$DUP/index" "$DUP/snapshots" "$DUP/locks" -type f -delete
E2E_WHAT="backup into the empty copy" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-dup" "$KLUIS" -r "$DUP" \
    --password-file "$PW" backup "$SRC"
(cd "$DUP" && find data index snapshots -type f) | while read -r f; do
	[ -e "$REPO/$f" ] || { mkdir -p "$(dirname "$REPO/$f")" &&
	    cp "$DUP/$f" "$REPO/$f"; }
done
# This client's catalog knew f2's blobs in PACK_OF[2] first: a restore
# looks there, finds the pack missing (then damaged), and must find the copy.
for how in deleted flipped; do
	P=$REPO/${PACK_OF[2]}
	cp -p "$P" "$WORK/pack.keep"
	if [ "$how" = deleted ]; then
		rm -f "$P"
	else
		flip "$P" $(($(stat -c %s "$P") / 2))
	fi
	out=$WORK/out-copy-$how
	E2E_WHAT="restore, f2's pack $how, another copy there: exit 0" \
	    expect_exit 0 k restore "$SNAP" --target "$out"
	expect_stderr_contains "${PACK_OF[2]}" \
	    "$how: the warning names the pack"
	expect_stderr_contains "other copies" "$how: and says what was done"
	treecmp "$how: every file restored identical" "$WORK/ref" "$out$SRC"
	E2E_WHAT="check --read-data, f2's pack $how: a finding, exit 1" \
	    expect_exit 1 k check --read-data
	expect_stdout_contains "${PACK_OF[2]}" "$how: check names the pack"
	expect_stdout_contains "also in a sound pack: restores take" \
	    "$how: check says its blobs have other copies"
	check "$how: check names no affected path (restores are whole)" \
	    bash -c '! grep -q "affected:" "$1"' _ "$OUT"
	cp -p "$WORK/pack.keep" "$P"
done
# Without the other copy the damage is an error again.
rm -rf "$REPO"
cp -a "$WORK/repo.good" "$REPO"
rm -rf "$WORK/cache-dup" "$DUP"

# ---------------------------------------------------------------------------
case_begin "damaged index and snapshot files"
IDX=$(cd "$REPO" && find index -type f | LC_ALL=C sort | head -n 1)
flip "$REPO/$IDX" $(($(stat -c %s "$REPO/$IDX") / 2))
# This client's catalog loaded the file while it was intact: restores use
# that verified copy.  A client without it (a fresh cache) reads the
# damaged file, names it, and still finds the data through the packs' own
# headers: the restore is complete (exit 0), with a warning that the
# repository needs repair.
E2E_WHAT="restore with a corrupted index file, warm catalog" expect_exit 0 \
    k restore latest --target "$WORK/out-index-warm"
E2E_WHAT="restore with a corrupted index file, no catalog" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-fresh" \
    "$KLUIS" -r "$REPO" --password-file "$PW" restore latest \
    --target "$WORK/out-index"
expect_stderr_contains "${IDX#index/}" "the corrupt index file is named"
check "stderr says the damaged file is an index file" grep -qi index "$ERR"
treecmp "the restore is complete all the same" "$WORK/ref" \
    "$WORK/out-index$SRC"
rm -rf "$REPO" "$WORK/out-index" "$WORK/out-index-warm" "$WORK/cache-fresh"
cp -a "$WORK/repo.good" "$REPO"

SNAPS=$(cd "$REPO" && find snapshots -type f | LC_ALL=C sort)
FIRST=$(k snapshots --json | python3 -c 'import json, sys
print(sorted(json.load(sys.stdin), key=lambda s: s["time"])[0]["id"])')
flip "$REPO/snapshots/$FIRST" 40
# Either exit code is acceptable for the listing, as long as the damaged
# snapshot is named and the intact ones are still listed.
run k snapshots
check "snapshots with one corrupted snapshot file exits 0 or 1 (got $rc)" \
    test "$rc" -le 1
expect_stderr_contains "$FIRST" "the corrupt snapshot file is named"
check "the intact snapshots are still listed" \
    test "$(grep -c '^[0-9a-f]\{8\} ' "$OUT")" -eq 3
E2E_WHAT="restore latest still works with an old snapshot corrupted" \
    expect_exit 0 k restore latest --target "$WORK/out-snapcorrupt"
E2E_WHAT="restore of the corrupted snapshot" expect_exit 1 \
    k restore "$FIRST" --target "$WORK/out-snapcorrupt2"
expect_stderr_contains "$FIRST" "the corrupt snapshot is named"
rm -f "$REPO/snapshots/$FIRST"
E2E_WHAT="snapshots after deleting a snapshot file" expect_exit 0 \
    k snapshots --json
check "the deleted snapshot is no longer listed" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 3 and sys.argv[2] not in [s["id"] for s in d], d
' "$OUT" "$FIRST"
E2E_WHAT="restore of a deleted snapshot" expect_exit 1 \
    k restore "$FIRST" --target "$WORK/out-snapdeleted"
expect_stderr_contains "${FIRST:0:8}"
rm -rf "$REPO" "$WORK"/out-snap*
mv "$WORK/repo.good" "$REPO"

# ---------------------------------------------------------------------------
case_begin "restore into a non-empty target"
mkdir -p "$WORK/busy"
echo mine >"$WORK/busy/mine"
fingerprint "$WORK/busy" >"$WORK/fp.before"
E2E_WHAT="restore into a non-empty target" expect_exit 1 \
    k restore latest --target "$WORK/busy"
expect_stderr_contains "not empty"
fingerprint "$WORK/busy" >"$WORK/fp.after"
check "nothing is written into the non-empty target" \
    cmp -s "$WORK/fp.before" "$WORK/fp.after"
E2E_WHAT="restore into a non-empty target with --overwrite" expect_exit 0 \
    k restore latest --target "$WORK/busy" --overwrite
treecmp "--overwrite restores the snapshot" "$WORK/ref" "$WORK/busy$SRC"
check "--overwrite keeps unrelated files" grep -qx mine "$WORK/busy/mine"
rm -rf "$WORK/busy"
# A directory where the snapshot has a file is not replaced (or renamed).
mkdir -p "$WORK/busy2$SRC/small"
echo keep >"$WORK/busy2$SRC/small/inner"
E2E_WHAT="--overwrite, a directory in the way of a file: exit 1" \
    expect_exit 1 k restore latest --target "$WORK/busy2" --overwrite
expect_stderr_contains "${SRC#/}/small" "the blocked path is named"
check "the directory in the way is left as it was" \
    grep -qx keep "$WORK/busy2$SRC/small/inner"
check "and nothing is renamed to .kluis-incomplete" \
    test -z "$(find "$WORK/busy2" -name '*.kluis-incomplete')"
treecmp "everything else is restored" "$WORK/ref" "$WORK/busy2$SRC" \
    --ignore small --ignore small/inner
rm -rf "$WORK/busy2"

case_begin "restore and ls of things that are not there"
echo "a file, not a directory" >"$WORK/afile"
E2E_WHAT="restore into a target that is a regular file" expect_exit 1 \
    k restore latest --target "$WORK/afile"
expect_stderr_contains "$WORK/afile" "the target is named"
expect_stderr_contains "not a directory"
check "the file given as target is unchanged" \
    grep -qx "a file, not a directory" "$WORK/afile"
E2E_WHAT="restore --include of a path not in the snapshot" expect_exit 1 \
    k restore latest --target "$WORK/out-noinc" --include /no/such/path
expect_stderr_contains "/no/such/path: is not in the snapshot"
E2E_WHAT="ls of a path not in the snapshot" expect_exit 1 \
    k ls latest /no/such/path
expect_stderr_contains "/no/such/path"
E2E_WHAT="restore of a snapshot id that matches nothing" expect_exit 1 \
    k restore 00000000 --target "$WORK/out-nosnap"
expect_stderr_contains "no snapshot matches 00000000"
E2E_WHAT="a snapshot prefix shorter than 8 digits" expect_exit 2 \
    k restore abc --target "$WORK/out-nosnap"
E2E_WHAT="backup without a path" expect_exit 2 k backup
E2E_WHAT="an unknown command" expect_exit 2 k frobnicate
expect_stderr_contains "frobnicate"

# ---------------------------------------------------------------------------
case_begin "unreadable source file (backup as nobody)"
NB=$WORK/nobody
mkdir -p "$NB/src/sub"
echo "readable" >"$NB/src/a"
echo "readable too" >"$NB/src/sub/b"
echo "secret" >"$NB/src/sub/secret"
chmod 000 "$NB/src/sub/secret"
mkdir "$NB/unreadable-dir"
echo hidden >"$NB/unreadable-dir/x"
chmod 000 "$NB/unreadable-dir"
mv "$NB/unreadable-dir" "$NB/src/closed"
mkdir "$NB/home"
make_password "$NB/home/pw" "nobody's passphrase"
chown -R 65534:65534 "$NB/home"
chmod 755 "$NB"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$KLUIS" -r "$NB/home/repo" --password-file "$NB/home/pw" "$@"
}
E2E_WHAT="init as nobody" expect_exit 0 as_nobody init --kdf interactive
E2E_WHAT="backup with an unreadable file as nobody" expect_exit 3 \
    as_nobody backup "$NB/src"
expect_stderr_contains "$NB/src/sub/secret" "the unreadable file is named"
expect_stderr_contains "$NB/src/closed" "the unreadable directory is named"
check "the partial backup still prints its snapshot id" \
    grep -qE '^[0-9a-f]{64}$' "$OUT"
E2E_WHAT="restore of the partial snapshot" expect_exit 0 \
    as_nobody restore latest --target "$NB/home/out" 
treecmp "everything readable is restored" "$NB/src" "$NB/home/out$NB/src" \
    --ignore sub/secret --ignore closed --no-owner --no-root-mtime
check "the unreadable file is not in the snapshot" \
    test ! -e "$NB/home/out$NB/src/sub/secret"
chmod 700 "$NB/src/closed"

# ---------------------------------------------------------------------------
case_begin "a file that changes while it is read"
GROW=$WORK/grow
mkdir "$GROW"
head -c 209715200 /dev/urandom >"$GROW/growing"
(while :; do echo more >>"$GROW/growing"; sleep 0.005; done) &
grower=$!
at_exit "kill $grower"
E2E_WHAT="backup of a file being appended to" expect_exit 3 \
    k backup "$GROW"
kill "$grower"
wait "$grower" 2>/dev/null
expect_stderr_contains "$GROW/growing: changed while being read"
rm -f "$GROW/growing"

# ---------------------------------------------------------------------------
case_begin "a killed backup"
before=$(snapshot_count)
ls_data >"$WORK/packs.before-kill"
# Fresh data (not deduplicated), so the backup takes seconds.
head -c 314572800 /dev/urandom >"$GROW/fresh"
"$KLUIS" -r "$REPO" --password-file "$PW" backup "$GROW" "$SRC" \
    >/dev/null 2>&1 &
bpid=$!
# Kill it once it has written at least one pack (or after 1 s at most).
for _ in $(seq 100); do
	sleep 0.01
	ls_data >"$WORK/packs.now"
	[ -n "$(new_files "$WORK/packs.before-kill" "$WORK/packs.now")" ] && break
done
check "the backup to be killed is still running" kill -0 "$bpid"
kill -9 "$bpid"
wait "$bpid" 2>/dev/null
check "the killed backup left its lock" \
    test "$(find "$REPO/locks" -type f | wc -l)" -eq 1
check "a killed backup leaves no snapshot" test "$(snapshot_count)" -eq "$before"
# What a kill in the middle of writing a pack leaves, a day later.
echo "half a pack" >"$REPO/data/00/.tmp-0011223344556677"
find "$REPO" -name '.tmp-*' -exec touch -d '2 days ago' {} +
E2E_WHAT="the next backup after a killed one" expect_exit 0 \
    k backup "$GROW" "$SRC" --json
expect_stderr_contains "temporary file(s)" \
    "the next backup says it removed what the kill left"
check "no stale .tmp- file is left" \
    test -z "$(find "$REPO" -name '.tmp-*')"
check "the next backup writes a snapshot" \
    test "$(snapshot_count)" -eq $((before + 1))
E2E_WHAT="restore after a killed backup" expect_exit 0 \
    k restore latest --target "$WORK/out-killed" --include "$SRC"
treecmp "restore after a killed backup is identical" "$SRC" \
    "$WORK/out-killed$SRC"
rm -rf "$GROW" "$WORK/out-killed"

# ---------------------------------------------------------------------------
case_begin "backup-only key"
make_password "$WORK/pw2" "backup only passphrase"
E2E_WHAT="key add --backup-only --out" expect_exit 0 \
    k key add --backup-only --out "$WORK/bkey" \
    --new-password-file "$WORK/pw2"
bk() {
	"$KLUIS" -r "$REPO" --key-file "$WORK/bkey" \
	    --password-file "$WORK/pw2" "$@"
}
echo "added with the backup-only key" >"$SRC/bo-new"
E2E_WHAT="backup with the backup-only key" expect_exit 0 bk backup "$SRC" \
    --json
check "backup-only key dedups against existing data" \
    test "$(json_field bytes_added)" -lt 100000
BOSNAP=$(json_field snapshot_id)
for cmd in "restore latest --target $WORK/out-bo" "ls latest" \
    "cat snapshot $BOSNAP" "snapshots"; do
	# shellcheck disable=SC2086
	E2E_WHAT="backup-only key: $cmd" expect_exit 12 bk $cmd
	expect_stderr_contains "backup-only" "$cmd"
done
check "backup-only restore wrote nothing" test ! -e "$WORK/out-bo"
E2E_WHAT="backup-only key with the wrong passphrase" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/bkey" --password-file "$PW" \
    backup "$SRC"
E2E_WHAT="the full key restores the backup-only snapshot" expect_exit 0 \
    k restore "$BOSNAP" --target "$WORK/out-bo2"
treecmp "snapshot written with the backup-only key is complete" "$SRC" \
    "$WORK/out-bo2$SRC"

# ---------------------------------------------------------------------------
case_begin "key passwd"
make_password "$WORK/pw3" "the new passphrase"
E2E_WHAT="key passwd" expect_exit 0 k key passwd \
    --new-password-file "$WORK/pw3"
E2E_WHAT="old passphrase after key passwd" expect_exit 12 k snapshots
expect_stderr_contains "wrong passphrase"
E2E_WHAT="new passphrase after key passwd" expect_exit 0 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/pw3" snapshots
E2E_WHAT="backup-only key still works after key passwd" expect_exit 0 \
    bk backup "$SRC"
PW=$WORK/pw3

# ---------------------------------------------------------------------------
case_begin "a full disk"
FULL=$WORK/fullfs
mkdir "$FULL"
if mount -t tmpfs -o size=8m tmpfs "$FULL" 2>"$WORK/mount.err"; then
	at_exit "umount -l '$FULL'"
	REPO_SAVE=$REPO
	REPO=$FULL/repo
	expect_exit 0 k init --kdf interactive
	mkdir "$WORK/bigsrc"
	head -c 20971520 /dev/urandom >"$WORK/bigsrc/twenty"
	echo "small" >"$WORK/bigsrc/small"
	E2E_WHAT="backup onto a full disk" expect_exit 1 k backup \
	    "$WORK/bigsrc"
	expect_stderr_contains "disk is full"
	check "no snapshot written on a full disk" \
	    test "$(snapshot_count)" -eq 0
	check "no lock left behind on a full disk" \
	    test "$(find "$REPO/locks" -type f | wc -l)" -eq 0
	E2E_WHAT="snapshots on the full disk" expect_exit 0 k snapshots
	mount -o remount,size=64m "$FULL"
	E2E_WHAT="backup after space is freed" expect_exit 0 k backup \
	    "$WORK/bigsrc"
	E2E_WHAT="restore after the full-disk backup" expect_exit 0 \
	    k restore latest --target "$WORK/out-full"
	treecmp "backup after a full disk restores identical" \
	    "$WORK/bigsrc" "$WORK/out-full$WORK/bigsrc"
	umount "$FULL"
	REPO=$REPO_SAVE
else
	not_ok "cannot mount a tmpfs: $(cat "$WORK/mount.err")"
fi

e2e_finish
