#!/usr/bin/env bash
# End-to-end tests of the client-side catalog (issue #4, docs/CATALOG.md):
# file versions, find, diff, point-in-time restore, the run history, a
# backup-only key's incremental backups, and disaster recovery: the cache
# deleted, the database corrupted, another repository's catalog swapped in,
# cached trees doctored, an index file gone from the repository.
#
# usage: catalog.sh /path/to/kluis [/path/to/kluis-server]
KLUIS=${1:?usage: catalog.sh KLUIS [KLUIS_SERVER]}
. "$(dirname "$0")/lib.sh"
e2e_init catalog

SRC=$WORK/src
CACHE=$KLUIS_CACHE_DIR

# now_local: the local time in --at's format.
now_local() {
	date '+%Y-%m-%d %H:%M:%S'
}

# json_len: number of elements of the JSON array in $OUT.
json_len() {
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' \
	    "$OUT"
}

# json_q EXPR: evaluates a Python expression over d = the JSON in $OUT.
json_q() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$OUT" "$1"
}

mkdir -p "$SRC/docs/old" "$SRC/data"
echo "version one" >"$SRC/docs/permit.txt"
echo "stays the same" >"$SRC/docs/same.txt"
echo "will be deleted" >"$SRC/docs/old/gone.txt"
seq 1 50000 >"$SRC/data/table.csv"
printf 'odd name\n' >"$SRC/data/$(printf 'sp ace\001\377')"

expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" --json
S1=$(json_field snapshot_id)
sleep 1.1
T1=$(now_local)
cp -a "$SRC" "$WORK/ref1"
sleep 1.1

# Step 2: content change, metadata-only change, deletion, new file.
echo "version two" >"$SRC/docs/permit.txt"
chmod 600 "$SRC/data/table.csv"
rm -r "$SRC/docs/old"
echo "new" >"$SRC/docs/new.txt"
expect_exit 0 k backup "$SRC" --json
S2=$(json_field snapshot_id)
sleep 1.1
T2=$(now_local)
cp -a "$SRC" "$WORK/ref2"
sleep 1.1

# Step 3: back to a third content.
echo "version three" >"$SRC/docs/permit.txt"
expect_exit 0 k backup "$SRC" --json
S3=$(json_field snapshot_id)
cp -a "$SRC" "$WORK/ref3"

DB=$(find "$CACHE" -name catalog.db | head -n 1)
check "the catalog lives under KLUIS_CACHE_DIR/<repository id>/" \
    test -s "$DB"
check "the cache directory is private (0700)" \
    test "$(stat -c %a "$(dirname "$DB")")" = 700

# ---------------------------------------------------------------------------
echo "# versions"
expect_exit 0 k versions "$SRC/docs/permit.txt" --json
check "a file changed twice has three versions" test "$(json_len)" = 3
check "versions are oldest first, each with its own first snapshot" \
    test "$(json_q '",".join(v["first_snapshot"] for v in d)')" = "$S1,$S2,$S3"
check "only the newest version is in the latest snapshot" \
    test "$(json_q '[v["in_latest"] for v in d]')" = "[False, False, True]"
check "a version's last snapshot is the last one that had it" \
    test "$(json_q 'd[0]["last_snapshot"]')" = "$S1"
check "sizes follow the content" \
    test "$(json_q '[v["size"] for v in d]')" = "[12, 12, 14]"

expect_exit 0 k versions "$SRC/docs/same.txt" --json
check "an unchanged file has one version, from the first to the last snapshot" \
    test "$(json_q '(len(d), d[0]["first_snapshot"], d[0]["last_snapshot"], d[0]["in_latest"])')" = "(1, '$S1', '$S3', True)"

expect_exit 0 k versions "$SRC/data/table.csv" --json
check "a mode change is a new version" \
    test "$(json_q '[v["mode"] for v in d]')" = "['0644', '0600']"

expect_exit 0 k versions "$SRC/docs/old/gone.txt" --json
check "a deleted file: one version, not in the latest snapshot" \
    test "$(json_q '(len(d), d[0]["last_snapshot"], d[0]["in_latest"])')" = "(1, '$S1', False)"

expect_exit 0 k versions "$SRC/docs/permit.txt"
expect_stdout_contains "3 versions of $SRC/docs/permit.txt"
expect_stdout_contains "(in latest)"
E2E_WHAT="versions of a path never backed up" expect_exit 1 \
    k versions /no/such/path
expect_stderr_contains "is in no snapshot"
E2E_WHAT="versions --host of another host" expect_exit 1 \
    k versions "$SRC/docs/permit.txt" --host nosuchhost

# ---------------------------------------------------------------------------
echo "# find"
expect_exit 0 k find 'permit*' --json
check "find without '/' matches the last component" \
    test "$(json_q '[(f["path"], f["versions"]) for f in d]')" = "[('$SRC/docs/permit.txt', 3)]"
expect_exit 0 k find "$SRC/docs/*" --json
check "find with '/' matches whole paths, deleted ones too" \
    test "$(json_q 'sorted(f["path"] for f in d)')" = "['$SRC/docs/new.txt', '$SRC/docs/old', '$SRC/docs/permit.txt', '$SRC/docs/same.txt']"
check "find tells what is gone from the latest snapshot" \
    test "$(json_q '[f["in_latest"] for f in d if f["path"].endswith("/old")]')" = "[False]"
expect_exit 0 k find 'sp ace*' --json
check "find matches names with arbitrary bytes" test "$(json_len)" = 1
E2E_WHAT="find with no match" expect_exit 1 k find 'nothing-matches-*'

# ---------------------------------------------------------------------------
echo "# diff"
expect_exit 0 k diff "$S1" "$S2" --json
check "diff: added, removed, modified by content and by metadata" \
    test "$(json_q 'sorted((c["path"][len("'"$SRC"'"):], c["change"], c["content"]) for c in d["changes"] if c["path"].startswith("'"$SRC"'/") and not c["path"].endswith("/docs"))')" = \
    "[('/data/table.csv', 'modified', False), ('/docs/new.txt', 'added', True), ('/docs/old', 'removed', True), ('/docs/old/gone.txt', 'removed', True), ('/docs/permit.txt', 'modified', True)]"
expect_exit 0 k diff "$S1" "$S2"
expect_stdout_contains "M    $SRC/docs/permit.txt"
expect_stdout_contains "U    $SRC/data/table.csv"
expect_stdout_contains "+    $SRC/docs/new.txt"
expect_stdout_contains "-    $SRC/docs/old/gone.txt"
expect_exit 0 k diff "$S3" "$S3" --json
check "a snapshot against itself has no changes" \
    test "$(json_q 'len(d["changes"])')" = 0
E2E_WHAT="diff with an unknown snapshot" expect_exit 1 k diff "$S1" 00000000

# ---------------------------------------------------------------------------
echo "# point-in-time restore"
expect_exit 0 k restore --at "$T1" "$SRC/docs" --target "$WORK/at1"
expect_stderr_contains "${S1:0:8}"
treecmp "restore --at T1 gives the first snapshot's folder" \
    "$WORK/ref1/docs" "$WORK/at1$SRC/docs"
check "restore --at restores only the paths asked for" \
    test ! -e "$WORK/at1$SRC/data"
expect_exit 0 k restore --at "$T2" "$SRC/docs/permit.txt" --target "$WORK/at2"
check "restore --at T2 gives version two" \
    test "$(cat "$WORK/at2$SRC/docs/permit.txt")" = "version two"
expect_exit 0 k restore --at "$(date '+%Y-%m-%d')" "$SRC" --target "$WORK/at3"
treecmp "restore --at a date alone means the end of that day (latest)" \
    "$WORK/ref3" "$WORK/at3$SRC"
E2E_WHAT="restore --at before the first backup" expect_exit 1 \
    k restore --at "2001-01-01 00:00" "$SRC" --target "$WORK/at0"
expect_stderr_contains "no snapshot"
E2E_WHAT="restore --at with a malformed time" expect_exit 2 \
    k restore --at "yesterday" "$SRC" --target "$WORK/at0"
E2E_WHAT="restore --at of another host" expect_exit 1 \
    k restore --at "$T2" --host nosuchhost "$SRC" --target "$WORK/at0"
expect_exit 0 k restore "$S2" "$SRC/docs/permit.txt" --target "$WORK/snappath"
check "restore SNAPSHOT PATH restores that path" \
    test "$(cat "$WORK/snappath$SRC/docs/permit.txt")" = "version two"
check "restore SNAPSHOT PATH restores nothing else" \
    test ! -e "$WORK/snappath$SRC/docs/same.txt"

# A second host backing up the same paths: --at must not guess.
expect_exit 0 k backup "$SRC" --host otherhost --json
E2E_WHAT="restore --at with two hosts and no --host" expect_exit 2 \
    k restore --at "$(date '+%Y-%m-%d %H:%M:%S')" "$SRC" --target "$WORK/at4"
expect_stderr_contains "--host"
expect_stderr_contains "($(hostname), otherhost)" "both hosts are named"
expect_exit 0 k restore --at "$(date '+%Y-%m-%d %H:%M:%S')" --host otherhost \
    "$SRC/docs" --target "$WORK/at4"
expect_exit 0 k versions "$SRC/docs/same.txt" --host otherhost --json
check "versions --host lists that host only" \
    test "$(json_q 'sorted(set(v["host"] for v in d))')" = "['otherhost']"

# ---------------------------------------------------------------------------
echo "# restores fetch only the blobs they need"
km() {
	"$KLUIS" -r "$WORK/repo-many" --password-file "$PW" "$@"
}
mkdir -p "$WORK/many"
for i in $(seq 1 150); do
	head -c 40000 /dev/urandom >"$WORK/many/f$i"
done
E2E_WHAT="init a second repository" expect_exit 0 km init --kdf interactive
expect_exit 0 km backup "$WORK/many" --json
MANY=$(json_field snapshot_id)
# eight files whose blobs lie scattered in one 6 MB pack (blobs are
# shuffled within packs): the restore fetches them, not the span between
expect_exit 0 km restore "$MANY" "$WORK"/many/f1{0..7} --target "$WORK/one" \
    --json
check "a partial restore fetches its blobs, not the whole pack" \
    test "$(json_field bytes_fetched)" -lt 1500000
for i in 0 1 2 3 4 5 6 7; do
	cmp -s "$WORK/many/f1$i" "$WORK/one$WORK/many/f1$i" || break
done
check "the eight files are restored exactly" test "$i" = 7
check "and nothing else" test "$(ls "$WORK/one$WORK/many" | wc -l)" = 8
expect_exit 0 km restore "$MANY" --target "$WORK/all" --json
check "a full restore reads every byte it needs once" \
    test "$(json_field bytes_fetched)" -ge 6000000
treecmp "the full restore is exact" "$WORK/many" "$WORK/all$WORK/many"

# ---------------------------------------------------------------------------
echo "# status and history"
expect_exit 0 k catalog status --json
check "catalog status counts the snapshots" \
    test "$(json_field snapshots)" = 4
check "catalog status counts the backup runs" \
    test "$(json_field runs)" = 4
E2E_WHAT="backup of a missing path fails" expect_exit 1 \
    k backup "$WORK/does-not-exist"
expect_exit 0 k catalog status --json
check "a failed backup is in the run history too" \
    test "$(json_field runs)" = 5
expect_exit 0 k catalog rebuild --json
check "catalog rebuild reports its time" python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
sys.exit(0 if d["rebuild_s"] >= 0 and d["snapshots"] == 4 and d["blobs"] > 0 else 1)' "$OUT"
check "catalog rebuild keeps the run history" test "$(json_field runs)" = 5
E2E_WHAT="catalog with a wrong subcommand" expect_exit 2 k catalog frobnicate

# ---------------------------------------------------------------------------
echo "# disaster recovery: no cache at all"
rm -rf "$CACHE"
expect_exit 0 k snapshots --json
expect_exit 0 k versions "$SRC/docs/permit.txt" --json
check "versions after the cache was deleted" test "$(json_len)" = 4
expect_exit 0 k restore latest --target "$WORK/dr1"
treecmp "restore latest with no cache" "$WORK/ref3" "$WORK/dr1$SRC"
rm -rf "$CACHE"
expect_exit 0 k restore --at "$T1" "$SRC" --target "$WORK/dr2"
treecmp "restore --at with no cache" "$WORK/ref1" "$WORK/dr2$SRC"

echo "# disaster recovery: a corrupted database"
DB=$(find "$CACHE" -name catalog.db | head -n 1)
size=$(stat -c %s "$DB")
# garbage over the middle of the file (pages of the tables)
head -c 8192 /dev/urandom | dd of="$DB" bs=1 seek=$((size / 3)) \
    conv=notrunc status=none
expect_exit 0 k restore latest --target "$WORK/dr3"
expect_stderr_contains "was damaged"
treecmp "restore latest with a corrupted catalog" "$WORK/ref3" "$WORK/dr3$SRC"
check "the damaged catalog is kept aside" test -e "$DB.damaged"
expect_exit 0 k versions "$SRC/docs/permit.txt" --json
check "versions after the corrupted catalog was replaced" test "$(json_len)" = 4
# a file that is not SQLite at all
head -c 100000 /dev/urandom >"$DB"
expect_exit 0 k restore --at "$T2" "$SRC" --target "$WORK/dr4"
expect_stderr_contains "was damaged"
treecmp "restore --at with a garbage catalog" "$WORK/ref2" "$WORK/dr4$SRC"

echo "# disaster recovery: another repository's catalog"
OREPO=$WORK/other-repo
E2E_WHAT="init another repository" expect_exit 0 \
    "$KLUIS" -r "$OREPO" --password-file "$PW" init --kdf interactive
mkdir -p "$WORK/osrc"
echo "other repository" >"$WORK/osrc/x"
E2E_WHAT="back up into the other repository" expect_exit 0 \
    "$KLUIS" -r "$OREPO" --password-file "$PW" backup "$WORK/osrc"
ODB=$(find "$CACHE" -name catalog.db ! -path "$(dirname "$DB")/*" | head -n 1)
check "the other repository has a catalog of its own" test -s "$ODB"
cp "$ODB" "$DB"
rm -f "$DB-wal" "$DB-shm"
expect_exit 0 k restore latest --target "$WORK/dr5"
expect_stderr_contains "belonged to another repository"
treecmp "restore with a foreign catalog" "$WORK/ref3" "$WORK/dr5$SRC"
expect_exit 0 k versions "$SRC/docs/permit.txt" --json
check "versions with the foreign catalog replaced" test "$(json_len)" = 4

# ---------------------------------------------------------------------------
echo "# the catalog is never trusted over the repository"
# An index file vanishes from the repository: the catalog must not keep
# its entries as if nothing happened.  The blob index is rebuilt; the packs
# that file named are found through their own headers, and the next backup
# names them in its own index file instead of uploading them again.
mkdir -p "$WORK/src2"
head -c 3000000 /dev/urandom >"$WORK/src2/blob.bin"
expect_exit 0 k backup "$WORK/src2" --json
newest=$(ls -t "$REPO"/index/* | head -n 1)
mv "$newest" "$WORK/index-moved-away"
cp -a "$WORK/src2" "$WORK/src3"
expect_exit 0 k backup "$WORK/src3" --json
check "packs whose index file vanished are adopted, not uploaded again" \
    test "$(json_field bytes_added)" -lt 100000
E2E_WHAT="restore with no catalog after the index file vanished" \
    expect_exit 0 env KLUIS_CACHE_DIR="$WORK/cache-dr6" \
    "$KLUIS" -r "$REPO" --password-file "$PW" restore latest \
    --target "$WORK/dr6"
treecmp "that snapshot restores" "$WORK/src3" "$WORK/dr6$WORK/src3"

# Data and index both gone (a lost pack file and its index file): the
# catalog forgets those blobs, the own parent is no longer intact, and the
# next backup reads the unchanged files again instead of trusting it.
mkdir -p "$WORK/src4"
head -c 2000000 /dev/urandom >"$WORK/src4/lost.bin"
expect_exit 0 k backup "$WORK/src4" --json
before=$(ls "$REPO"/index)
newest=$(ls -t "$REPO"/index/* | head -n 1)
pk=$(find "$REPO/data" -type f -printf '%T@ %s %p\n' | sort -n | tail -n 3 |
    sort -k2 -n | tail -n 1 | cut -d' ' -f3)
mv "$newest" "$pk" "$WORK/"
expect_exit 0 k backup "$WORK/src4" --json
check "an unchanged file whose data is gone is read and stored again" \
    test "$(json_field bytes_added)" -gt 1500000
expect_exit 0 env KLUIS_CACHE_DIR="$WORK/cache-dr8" \
    "$KLUIS" -r "$REPO" --password-file "$PW" restore latest \
    --target "$WORK/dr8"
treecmp "and the new snapshot restores whole" "$WORK/src4" "$WORK/dr8$WORK/src4"

# Cached trees are checked against their keyed ids: a doctored tree in the
# catalog is ignored, the repository's copy is used.
python3 - "$DB" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT series_no, id, data FROM own_tree").fetchall()
# give every cached tree the bytes of another one
if len(rows) > 1:
    for i, (s, tid, _) in enumerate(rows):
        db.execute("UPDATE own_tree SET data = ? WHERE series_no = ? AND id = ?",
                   (rows[(i + 1) % len(rows)][2], s, tid))
db.commit()
print("doctored", len(rows), "cached trees")
EOF
echo "changed after doctoring" >"$SRC/docs/permit.txt"
expect_exit 0 k backup "$SRC" --json
expect_exit 0 k restore latest --target "$WORK/dr7"
treecmp "a backup with doctored cached trees is still exact" "$SRC" \
    "$WORK/dr7$SRC"

# ---------------------------------------------------------------------------
echo "# backup-only key: incremental thanks to its own catalog"
make_password "$WORK/pw2" "backup only passphrase"
expect_exit 0 k key add --backup-only --out "$WORK/bkey" \
    --new-password-file "$WORK/pw2"
bk() {
	KLUIS_CACHE_DIR=$WORK/bcache "$KLUIS" -r "$REPO" --key-file "$WORK/bkey" \
	    --password-file "$WORK/pw2" "$@"
}
E2E_WHAT="first backup with the backup-only key" expect_exit 0 \
    bk backup "$SRC" --json
check "the first backup-only run reads every file" \
    test "$(json_field files_unmodified)" = 0
echo "one change" >"$SRC/docs/bo.txt"
E2E_WHAT="second backup with the backup-only key" expect_exit 0 \
    bk backup "$SRC" --json
check "the second backup-only run skips unchanged files" \
    test "$(json_field files_unmodified)" -ge 5
check "the second backup-only run reads only the new file" \
    test "$(json_field bytes_read)" -lt 100
BOSNAP=$(json_field snapshot_id)
expect_exit 0 k restore "$BOSNAP" --target "$WORK/bo"
treecmp "the backup-only key's incremental snapshot is exact" "$SRC" \
    "$WORK/bo$SRC"
rm -rf "$WORK/bcache"
E2E_WHAT="backup-only key without its catalog" expect_exit 0 \
    bk backup "$SRC" --json
check "without its catalog the backup-only key reads everything again" \
    test "$(json_field files_unmodified)" = 0
E2E_WHAT="backup-only key: versions" expect_exit 12 \
    bk versions "$SRC/docs/permit.txt"
expect_exit 0 bk catalog status --json
check "a backup-only key's catalog holds the index and its own trees" \
    python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
sys.exit(0 if d["blobs"] > 0 and d["own_trees"] > 0 and d["snapshots"] == 0 else 1)' "$OUT"

e2e_finish
