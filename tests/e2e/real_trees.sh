#!/usr/bin/env bash
# End-to-end backup of real system trees: /usr/include and /usr/share/doc in
# one snapshot, restored and compared with treecmp.py; then an unchanged second
# backup must read nothing and find every file unmodified.
#
# usage: real_trees.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: real_trees.sh KLUIS [KLUIS_SERVER]}
. "$(dirname "$0")/lib.sh"
e2e_init real-trees

TREES=(/usr/include /usr/share/doc)
nfiles=$(find "${TREES[@]}" -type f | wc -l)
ndirs=$(find "${TREES[@]}" -type d | wc -l)
echo "# $nfiles files, $ndirs dirs in ${TREES[*]}"

expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "${TREES[@]}" --json
snap1=$(json_field snapshot_id)
check "first backup counts every file as new ($nfiles)" \
    test "$(json_field files_new)" -eq "$nfiles"
check "first backup reads every byte" \
    test "$(json_field bytes_read)" -eq \
    "$(find "${TREES[@]}" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')"

rdir=$WORK/out
E2E_WHAT="restore both trees" expect_exit 0 k restore latest --target "$rdir"
for t in "${TREES[@]}"; do
	treecmp "restored $t is identical" "$t" "$rdir$t" --skip-atime
done
check "ancestor /usr keeps its mode, owner and mtime" python3 -c '
import os, sys
a, b = os.lstat("/usr"), os.lstat(sys.argv[1] + "/usr")
assert (a.st_mode, a.st_uid, a.st_gid, a.st_mtime_ns) == \
    (b.st_mode, b.st_uid, b.st_gid, b.st_mtime_ns), (a, b)
' "$rdir"
check "nothing but the two trees is restored under /usr" test \
    "$(ls -A "$rdir/usr" | tr '\n' ' ')" = "include share "
check "nothing but doc is restored under /usr/share" test \
    "$(ls -A "$rdir/usr/share")" = "doc"

expect_exit 0 k backup "${TREES[@]}" --json
snap2=$(json_field snapshot_id)
check "second backup is a new snapshot" test "$snap1" != "$snap2"
check "second backup: files_unmodified = $nfiles" \
    test "$(json_field files_unmodified)" -eq "$nfiles"
check "second backup: files_new = 0" test "$(json_field files_new)" -eq 0
check "second backup: files_changed = 0" \
    test "$(json_field files_changed)" -eq 0
check "second backup: bytes_read = 0" test "$(json_field bytes_read)" -eq 0
check "second backup adds little (< 1 MiB of trees)" \
    test "$(json_field bytes_added)" -lt 1048576

expect_exit 0 k stats --json
check "stats --json has the documented fields" python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read())
for f in ("snapshots", "raw_size", "dedup_size", "stored_size", "blobs",
          "data_blobs", "tree_blobs", "packs"):
    assert f in d, f
assert d["snapshots"] == 2, d
assert d["raw_size"] >= 2 * int(sys.argv[2]), d
assert 0 < d["dedup_size"] <= d["raw_size"], d
' "$OUT" "$(find "${TREES[@]}" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')"

expect_exit 0 k snapshots --json
check "snapshots --json lists both snapshots with both paths" python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert len(d) == 2, d
for s in d:
    assert sorted(s["paths"]) == ["/usr/include", "/usr/share/doc"], s
' "$OUT"

e2e_finish
