#!/usr/bin/env bash
# End-to-end incremental backups: three snapshots of a changing working tree
# (edits in place, appends, inserts at the front, renames, deletes, type
# changes), each restored and compared with a copy of the tree taken at that
# time; and content-defined chunking must dedup a large file after an insert
# at its start.
#
# usage: incremental.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: incremental.sh KLUIS [KLUIS_SERVER]}
. "$(dirname "$0")/lib.sh"
e2e_init incremental

SRC=$WORK/src
BIG=41943040	# 40 MiB

# insert_front FILE BYTES: prepends BYTES random bytes, keeping the inode.
insert_front() {
	head -c "$2" /dev/urandom >"$WORK/front"
	cat "$WORK/front" "$1" >"$WORK/joined"
	cat "$WORK/joined" >"$1"
	rm -f "$WORK/front" "$WORK/joined"
}

# overwrite FILE OFFSET TEXT: changes bytes in place.
overwrite() {
	printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

mkdir -p "$SRC/sub/deeper" "$SRC/gone"
seq 1 20000 >"$SRC/a.txt"
head -c 1048576 /dev/urandom >"$SRC/b.bin"
head -c 5242880 /dev/urandom >"$SRC/big5"
head -c "$BIG" /dev/urandom >"$SRC/big40"
echo "to be renamed" >"$SRC/c.txt"
echo "to be deleted" >"$SRC/d.txt"
seq 1 3000 >"$SRC/sub/e.txt"
echo "same size" >"$SRC/sub/deeper/samesize"
echo "in a dir that goes" >"$SRC/gone/f"
echo "becomes a symlink" >"$SRC/sub/tolink"

expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" --json
snap1=$(json_field snapshot_id)
cp -a "$SRC" "$WORK/ref1"

# Step 2.
overwrite "$SRC/b.bin" 500000 "CHANGED IN THE MIDDLE"
echo "appended line" >>"$SRC/a.txt"
insert_front "$SRC/big5" 777
insert_front "$SRC/big40" 100
mv "$SRC/c.txt" "$SRC/sub/c-renamed.txt"
rm "$SRC/d.txt"
echo "new file" >"$SRC/new.txt"
# Same size, same mtime: only ctime tells the change.
touch -r "$SRC/sub/deeper/samesize" "$WORK/stamp"
overwrite "$SRC/sub/deeper/samesize" 0 "SAME"
touch -r "$WORK/stamp" "$SRC/sub/deeper/samesize"

expect_exit 0 k backup "$SRC" --json
snap2=$(json_field snapshot_id)
added=$(json_field bytes_added)
check "insert at the front of 40 MiB adds < 25 % ($added bytes)" \
    test "$added" -lt $((BIG / 4))
check "changed files are counted (a.txt b.bin big5 big40 samesize)" \
    test "$(json_field files_changed)" -eq 5
check "unchanged e.txt and tolink, gone/f are unmodified" \
    test "$(json_field files_unmodified)" -eq 3
cp -a "$SRC" "$WORK/ref2"

# Step 3.
truncate -s 1000000 "$SRC/big5"
chmod 0600 "$SRC/a.txt"
rm "$SRC/sub/tolink"
ln -s ../a.txt "$SRC/sub/tolink"
rm -r "$SRC/gone"
echo "now a file" >"$SRC/gone"
ln "$SRC/new.txt" "$SRC/sub/new-link"
overwrite "$SRC/big40" 20000000 "x"
mkdir "$SRC/newdir"
echo 1 >"$SRC/newdir/one"

expect_exit 0 k backup "$SRC" --json
snap3=$(json_field snapshot_id)
cp -a "$SRC" "$WORK/ref3"

expect_exit 0 k snapshots --json
check "three snapshots are listed" python3 -c '
import json, sys
assert len(json.load(open(sys.argv[1]))) == 3' "$OUT"

# A change after the last snapshot must not leak into it.
echo "after the last snapshot" >>"$SRC/a.txt"

E2E_WHAT="restore snapshot 1 by an 8-digit prefix" \
    expect_exit 0 k restore "${snap1:0:8}" --target "$WORK/out1"
treecmp "snapshot 1 restores the tree as it was" "$WORK/ref1" \
    "$WORK/out1$SRC"
E2E_WHAT="restore snapshot 2 by full id" \
    expect_exit 0 k restore "$snap2" --target "$WORK/out2"
treecmp "snapshot 2 restores the tree as it was" "$WORK/ref2" \
    "$WORK/out2$SRC"
E2E_WHAT="restore snapshot 3 as latest" \
    expect_exit 0 k restore latest --target "$WORK/out3"
check "latest is snapshot 3" test -d "$WORK/out3$SRC/newdir"
treecmp "snapshot 3 restores the tree as it was" "$WORK/ref3" \
    "$WORK/out3$SRC"

# Restoring an older snapshot over a newer tree with --overwrite: files are
# replaced; a non-directory where the snapshot has a directory is not (by
# design, restore.c make_dir): it is named and the exit code is 1.
E2E_WHAT="restore snapshot 1 over snapshot 3 with --overwrite" \
    expect_exit 1 k restore "$snap1" --target "$WORK/out3" --overwrite
expect_stderr_contains "$SRC/gone: could not be restored" \
    "the file in the way of a directory is named"
check "--overwrite puts back the old content of big5" \
    cmp -s "$WORK/ref1/big5" "$WORK/out3$SRC/big5"
check "--overwrite puts back a regular file where a symlink was" \
    test -f "$WORK/out3$SRC/sub/tolink" -a ! -L "$WORK/out3$SRC/sub/tolink"
treecmp "--overwrite restores everything else as in snapshot 1" \
    "$WORK/ref1" "$WORK/out3$SRC" --ignore gone --ignore new.txt \
    --ignore newdir --no-root-mtime --ignore sub
treecmp "--overwrite restores sub/ content as in snapshot 1" \
    "$WORK/ref1" "$WORK/out3$SRC" --subtree sub/deeper

e2e_finish
