#!/usr/bin/env bash
# End-to-end tests of restore drills (issue #5 §2, docs/COMPLIANCE.md
# "Restore drills"): a drill passes on a healthy repository with every
# sample size, reports sane numbers, records its run and leaves no scratch
# data; it fails on a damaged repository naming the damaged file, and
# still leaves no scratch data; a non-empty --target is refused untouched;
# a killed drill removes its scratch data.
#
# usage: drill.sh /path/to/kluis [/path/to/kluis-server]
KLUIS=${1:?usage: drill.sh KLUIS [KLUIS_SERVER]}
. "$(dirname "$0")/lib.sh"
e2e_init drill

SRC=$WORK/src
# every scratch directory of these drills is made here
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

# json_q EXPR: evaluates a Python expression over d = the JSON in $OUT.
json_q() {
	python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(eval(sys.argv[2]))' "$OUT" "$1"
}

# runs: the number of runs in the catalog's history.
runs() {
	k catalog status --json | python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["runs"])'
}

# scratch_empty NAME: passes if no drill left anything in $TMPDIR.
scratch_empty() {
	if [ -z "$(ls -A "$TMPDIR")" ]; then
		ok "no scratch data left: $1"
	else
		not_ok "scratch data left: $1: $(ls -A "$TMPDIR" | head -3)"
	fi
}

# ---------------------------------------------------------------------------
# A crafted tree: sizes from empty to multi-chunk, a symlink, a sparse file,
# hard links, a FIFO, a device (as root), owners, modes, xattrs if the
# file system takes them - and a real one, /usr/share/doc.
mkdir -p "$SRC/sizes" "$SRC/meta/deep/er" "$SRC/empty-dir"
: >"$SRC/sizes/empty"
printf x >"$SRC/sizes/one"
head -c 4095 /dev/urandom >"$SRC/sizes/4095"
head -c 65536 /dev/urandom >"$SRC/sizes/64k"
head -c 3000000 /dev/urandom >"$SRC/sizes/3m"
seq 1 300000 >"$SRC/sizes/text"
truncate -s 20M "$SRC/sparse"
printf 'in the middle' | dd of="$SRC/sparse" bs=1 seek=9000000 \
    conv=notrunc status=none
ln -s sizes/one "$SRC/link"
ln -s /nonexistent/target "$SRC/dangling"
echo "two names" >"$SRC/meta/hard1"
ln "$SRC/meta/hard1" "$SRC/meta/hard2"
mkfifo "$SRC/meta/fifo"
echo deep >"$SRC/meta/deep/er/file"
chmod 0751 "$SRC/meta/deep"
chmod 4755 "$SRC/sizes/one"
touch -d '2001-02-03 04:05:06.123456789' "$SRC/sizes/64k"
if [ "$(id -u)" = 0 ]; then
	mknod "$SRC/meta/null" c 1 3
	chown 1234:5678 "$SRC/meta/hard1"
fi
# an xattr where the file system takes one (the 100% drill verifies it)
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.kluis", b"v1")' \
    "$SRC/sizes/text" 2>/dev/null || echo "note: no user xattrs here"
# a copy, so that packages installed meanwhile cannot disturb the backup
DOC=$WORK/doc
cp -a /usr/share/doc "$DOC" 2>/dev/null ||
    cp -a /usr/share/common-licenses "$DOC" 2>/dev/null || true

expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" "$DOC" --json
SNAP=$(json_field snapshot_id)
R0=$(runs)

# ---------------------------------------------------------------------------
# The default sample: 1000 files (the snapshot has more).
E2E_WHAT="drill latest (default sample)" expect_exit 0 k drill --json
check "default sample is 1000 files" test "$(json_q 'd["sample_files"]')" = 1000
check "drill ok" test "$(json_q 'd["ok"]')" = True
check "no mismatches" test "$(json_q 'len(d["mismatches"])')" = 0
check "drilled the latest snapshot" test "$(json_q 'd["snapshot"]')" = "$SNAP"
check "snapshot counts from the snapshot" \
    test "$(json_q 'd["snapshot_files"] > 1000 and d["snapshot_bytes"] > 20000000')" = True
check "rto_s > 0 and at least the sample's restore time" \
    test "$(json_q 'd["rto_s"] > 0 and d["rto_s"] >= d["duration_s"]')" = True
check "rates are positive" \
    test "$(json_q 'd["bytes_per_s"] > 0 and d["files_per_s"] > 0')" = True
check "sample bytes within the snapshot's" \
    test "$(json_q '0 < d["sample_bytes"] <= d["snapshot_bytes"]')" = True
check "not the whole snapshot" test "$(json_q 'd["all"]')" = False
scratch_empty "default sample"

# --sample N
E2E_WHAT="drill --sample 25" expect_exit 0 k drill "$SNAP" --sample 25 --json
check "--sample 25 samples 25 files" test "$(json_q 'd["sample_files"]')" = 25
check "--sample 25 verified the directories leading there too" \
    test "$(json_q 'd["entries_verified"] > 25')" = True
check "--sample 25: ok" test "$(json_q 'd["ok"]')" = True
scratch_empty "--sample 25"

# --sample P%: the share of the snapshot's files, rounded up
E2E_WHAT="drill --sample 10%" expect_exit 0 k drill latest --sample 10% --json
check "--sample 10% samples ceil(files / 10)" \
    test "$(json_q 'd["sample_files"] == -(-d["snapshot_files"] // 10)')" = True
check "--sample 10%: ok" test "$(json_q 'd["ok"]')" = True
scratch_empty "--sample 10%"

# --sample 100%: everything, every byte and field of the crafted tree
E2E_WHAT="drill --sample 100%" expect_exit 0 k drill --sample 100% --json
check "100%: the whole snapshot" test "$(json_q 'd["all"]')" = True
check "100%: every file" \
    test "$(json_q 'd["sample_files"] == d["snapshot_files"]')" = True
check "100%: every byte" \
    test "$(json_q 'd["sample_bytes"] == d["snapshot_bytes"]')" = True
check "100%: symlinks, FIFO, device, empty dir sampled as others" \
    test "$(json_q 'd["sample_others"] >= 4')" = True
check "100%: the RTO is the measured time" \
    test "$(json_q 'abs(d["rto_s"] - d["duration_s"]) < 1e-3')" = True
check "100%: no mismatches" test "$(json_q 'd["mismatch_count"]')" = 0
scratch_empty "--sample 100%"

# the text summary an operator reads
E2E_WHAT="drill, text" expect_exit 0 k drill --sample 50
expect_stdout_contains "PASSED"
expect_stdout_contains "RTO"
expect_stdout_contains "50 of"
scratch_empty "text"

# an absent --target is made and removed; an empty one is kept, emptied
E2E_WHAT="drill --target absent" expect_exit 0 \
    k drill --sample 20 --target "$WORK/absent"
check "absent --target removed afterwards" test ! -e "$WORK/absent"
mkdir "$WORK/emptydir"
E2E_WHAT="drill --target empty" expect_exit 0 \
    k drill --sample 100% --target "$WORK/emptydir"
check "empty --target kept" test -d "$WORK/emptydir"
check "empty --target emptied" test -z "$(ls -A "$WORK/emptydir")"

# every drill is in the run history (the two refusals below are not)
check "each drill recorded in the catalog" test "$(runs)" = $((R0 + 7))
expect_exit 0 k catalog status --json

# --metrics-file
E2E_WHAT="drill --metrics-file" expect_exit 0 \
    k drill --sample 10 --metrics-file "$WORK/drill.prom"
check "metrics: rto_seconds" grep -q '^kluis_drill_rto_seconds' "$WORK/drill.prom"
check "metrics: mismatches 0" \
    grep -Eq '^kluis_drill_mismatches(\{[^}]*\})? 0$' "$WORK/drill.prom"
R1=$(runs)

# ---------------------------------------------------------------------------
# Refusals: nothing deleted, nothing restored.
mkdir "$WORK/full"
echo "precious" >"$WORK/full/data"
E2E_WHAT="non-empty --target refused" expect_exit 1 \
    k drill --target "$WORK/full"
expect_stderr_contains "not empty"
check "non-empty --target untouched" \
    test "$(cat "$WORK/full/data")" = precious -a "$(ls -A "$WORK/full")" = data
E2E_WHAT="--target a file refused" expect_exit 1 \
    k drill --target "$WORK/full/data"
check "--target file untouched" test "$(cat "$WORK/full/data")" = precious
check "refusals are not drills: no run recorded" test "$(runs)" = "$R1"
for bad in 0 abc 0% 101% 5%x -3; do
	E2E_WHAT="--sample $bad refused" expect_exit 2 k drill --sample "$bad"
done
E2E_WHAT="drill of an unknown snapshot" expect_exit 1 k drill deadbeefdeadbeef
scratch_empty "refusals"

# a backup-only key cannot drill
make_password "$WORK/pw2" "backup only passphrase"
expect_exit 0 k key add --backup-only --out "$WORK/bkey" \
    --new-password-file "$WORK/pw2"
E2E_WHAT="drill with a backup-only key" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/bkey" --password-file "$WORK/pw2" \
    drill
scratch_empty "backup-only key"

# no room: refused before anything is written (needs root for the mount)
mkdir "$WORK/small"
if mount -t tmpfs -o size=2M tmpfs "$WORK/small" 2>/dev/null; then
	at_exit "umount '$WORK/small'"
	E2E_WHAT="drill without room" expect_exit 1 \
	    k drill --sample 100% --target "$WORK/small" --json
	expect_stderr_contains "free"
	check "without room: the reason in the JSON" \
	    test "$(json_q '"error" in d and not d["ok"]')" = True
	check "without room: nothing left in the target" \
	    test -z "$(ls -A "$WORK/small")"
else
	echo "skip: no tmpfs mount (not root?): no-room test"
fi
E2E_WHAT="drill with TMPDIR missing" expect_exit 1 \
    env TMPDIR="$WORK/nonexistent" "$KLUIS" -r "$REPO" --password-file "$PW" \
    drill --sample 5
expect_stderr_contains "scratch directory"

# ---------------------------------------------------------------------------
# A killed drill removes its scratch data.
"$KLUIS" -r "$REPO" --password-file "$PW" drill --sample 100% \
    >"$WORK/.kill.out" 2>"$WORK/.kill.err" &
DPID=$!
for _ in $(seq 1 500); do
	[ -n "$(ls -A "$TMPDIR")" ] && break
	sleep 0.01
done
sleep 0.05
kill -TERM "$DPID" 2>/dev/null
wait "$DPID"
krc=$?
echo "killed drill exited $krc"
OUT=$WORK/.kill.out ERR=$WORK/.kill.err check "killed drill exits 143 (or had finished: 0)" \
    test "$krc" = 143 -o "$krc" = 0
scratch_empty "killed drill"

# ---------------------------------------------------------------------------
# A damaged repository: one file in its own repository, a bit flipped in
# the middle of its data pack (the largest pack; trees have packs of
# their own).  The drill of everything names the file and fails; the
# scratch data is gone all the same.
REPO=$WORK/repo-damaged
DSRC=$WORK/dsrc
mkdir -p "$DSRC"
head -c 3000000 /dev/urandom >"$DSRC/big.bin"
ln -s big.bin "$DSRC/link"
expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$DSRC" --json
E2E_WHAT="drill of the healthy copy" expect_exit 0 k drill --sample 100%
PACK=$(find "$REPO/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 |
    cut -d' ' -f2-)
python3 - "$PACK" <<'EOF'
import os, sys
p = sys.argv[1]
os.chmod(p, 0o600)
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
EOF
R2=$(runs)
E2E_WHAT="drill of a damaged repository fails" expect_exit 1 \
    k drill --sample 100% --json
check "damaged: ok is false" test "$(json_q 'd["ok"]')" = False
check "damaged: the damaged file is named" \
    test "$(json_q 'any(m["path"] == "'"$DSRC"'/big.bin" for m in d["mismatches"])')" = True
check "damaged: nothing else is named" \
    test "$(json_q 'all(m["path"] == "'"$DSRC"'/big.bin" for m in d["mismatches"])')" = True
scratch_empty "damaged repository"
E2E_WHAT="drill of a damaged repository, text" expect_exit 1 \
    k drill --sample 100% --target "$WORK/dtarget"
expect_stdout_contains "FAILED"
expect_stderr_contains "big.bin"
check "damaged: --target removed" test ! -e "$WORK/dtarget"
check "damaged: the failed drills are in the history" \
    test "$(runs)" = $((R2 + 2))

e2e_finish
