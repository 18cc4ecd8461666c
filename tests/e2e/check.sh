#!/usr/bin/env bash
# End-to-end tests of `kluis check` (issue #5 §1, §4; docs/COMPLIANCE.md
# "Checks") and of `kluis-server verify` on the same damage.  A real
# repository (three backups, several packs) is checked healthy, then each
# kind of damage is injected into a fresh copy of it: a flipped bit in a
# pack, a truncated pack, a deleted pack, two packs swapped, a deleted
# index file (with the catalog that knew it and with none), a removed
# snapshot.  Every finding must have the right kind, name the right object
# and list the right files: "right" is what restoring every snapshot of
# the damaged copy actually fails to restore.  Then the rotation of
# --read-data-subset, the run history, usage errors and the progress bar.
#
# usage: check.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: check.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: check.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/lib.sh"
e2e_init check

SRC=$WORK/src
GOOD=$WORK/repo.good
WARM=$WORK/cache.warm

case_begin() {
	echo "# --- $1"
}

# flip FILE OFFSET: inverts one bit of the byte at OFFSET.
flip() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x10]))' "$1" "$2"
}

# jq EXPR: evaluates a Python expression over d = the JSON object on the
# last line of $OUT (with json and os available); prints the result.
jq() {
	python3 -c 'import json, os, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(eval(sys.argv[2]))' "$OUT" "$1"
}

# jcheck NAME EXPR: passes if the Python expression over d is true.
jcheck() {
	local v
	v=$(jq "$2" 2>&1)
	if [ "$v" = True ]; then ok "$1"; else
		not_ok "$1 (got: $v)"
	fi
}

# scenario NAME [fresh]: a fresh copy of the healthy repository in $REPO
# and, unless "fresh", a copy of the catalog that checked it healthy.
scenario() {
	case_begin "$1"
	REPO=$WORK/r-$1
	export KLUIS_CACHE_DIR=$WORK/c-$1
	rm -rf "$REPO" "$KLUIS_CACHE_DIR"
	cp -a "$GOOD" "$REPO"
	if [ "${2:-}" = fresh ]; then
		mkdir -p "$KLUIS_CACHE_DIR"
	else
		cp -a "$WARM" "$KLUIS_CACHE_DIR"
	fi
}

# data_packs: the repository's packs, "data/xx/<id>", largest first.
data_packs() {
	(cd "$REPO" && find data -type f -printf '%s %p\n' | sort -rn |
	    cut -d' ' -f2)
}

# oracle FILE: the absolute paths that restoring each snapshot of $REPO
# fails to restore (left as NAME.kluis-incomplete), sorted, one a line.
oracle() {
	local s out
	: >"$1.tmp"
	for s in $S1 $S2 $S3; do
		out=$WORK/oracle-out
		rm -rf "$out"
		k restore "$s" --target "$out" >/dev/null 2>&1
		(cd "$out" && find . -name '*.kluis-incomplete' -printf '/%P\n' |
		    sed 's/\.kluis-incomplete$//') >>"$1.tmp"
	done
	rm -rf "$WORK/oracle-out"
	LC_ALL=C sort -u "$1.tmp" >"$1"
	rm -f "$1.tmp"
}

# failed_snaps FILE: the snapshots (full ids) whose restore fails.
failed_snaps() {
	local s
	: >"$1"
	for s in $S1 $S2 $S3; do
		if ! k restore "$s" --target "$WORK/fs-out" >/dev/null 2>&1; then
			echo "$s" >>"$1"
		fi
		rm -rf "$WORK/fs-out"
	done
	LC_ALL=C sort -o "$1" "$1"
}

# paths_of OBJECTS...: the affected paths of the findings about OBJECTS
# in the JSON report in $OUT, sorted; "MORE" if any finding lists fewer
# than it counts.
paths_of() {
	python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
objs = set(sys.argv[2:])
ps = set()
for f in d["findings"]:
    if f["object"] in objs:
        ps.update(f["paths"])
        if f["more_paths"]:
            print("MORE")
for p in sorted(ps):
    print(p)' "$OUT" "$@" | LC_ALL=C sort
}

# snaps_of OBJECTS...: the snapshots of the findings about OBJECTS.
snaps_of() {
	python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
objs = set(sys.argv[2:])
print("\n".join({s for f in d["findings"] if f["object"] in objs
                  for s in f["snapshots"]}))' "$OUT" "$@" |
	    sed '/^$/d' | LC_ALL=C sort
}

# same_lines NAME A B: passes if files A and B hold the same lines.
same_lines() {
	if diff -u "$2" "$3" >"$WORK/.diff"; then ok "$1"; else
		fail=$((fail + 1))
		echo "FAIL: $1"
		sed 's/^/  /' "$WORK/.diff" | head -n 30
	fi
}

# verify_corrupt: the sorted "corrupt" list of kluis-server verify --json,
# run as from cron: empty environment, no key, no passphrase.
verify_corrupt() {
	env -i "$KLUIS_SERVER" verify --repo "$REPO" --json >"$WORK/v.json"
	VRC=$?
	python3 -c 'import json, sys
print("\n".join(sorted(json.load(open(sys.argv[1]))["corrupt"])))' \
	    "$WORK/v.json" | sed '/^$/d'
}

# ---------------------------------------------------------------------------
case_begin "a repository with three backups and several packs"
mkdir -p "$SRC/big" "$SRC/docs"
head -c 12000000 /dev/urandom >"$SRC/big/a.bin"
head -c 9000000 /dev/urandom >"$SRC/big/b.bin"
seq 1 200000 >"$SRC/docs/numbers.txt"
echo "first version" >"$SRC/docs/notes.txt"
# a few real documents, if the machine has them
find /usr/share/doc -maxdepth 2 -type f -size -64k 2>/dev/null |
    LC_ALL=C sort | head -n 6 | while read -r f; do
	cp "$f" "$SRC/docs/$(echo "${f#/usr/share/doc/}" | tr / _)"
done
(cd "$SRC" && find . -type f -printf "$SRC/%P\n" | sed 's|/\./|/|' |
    LC_ALL=C sort) >"$WORK/files1"
expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" --json
S1=$(json_field snapshot_id)
(cd "$REPO" && find data -type f | LC_ALL=C sort) >"$WORK/packs1"
INDEX1=$(ls "$REPO/index")
sleep 1.1
echo "second version" >"$SRC/docs/notes.txt"
head -c 5000000 /dev/urandom >"$SRC/big/d.bin"
expect_exit 0 k backup "$SRC" --json
S2=$(json_field snapshot_id)
sleep 1.1
head -c 3000000 /dev/urandom >"$SRC/e.bin"
expect_exit 0 k backup "$SRC" --json
S3=$(json_field snapshot_id)
cp -a "$REPO" "$GOOD"
NPACKS=$(find "$REPO/data" -type f | wc -l)
PACKBYTES=$(find "$REPO/data" -type f -printf '%s\n' |
    awk '{ s += $1 } END { print s }')
check "the repository has several packs ($NPACKS)" test "$NPACKS" -ge 6
check "backup 1 wrote one index file" test "$(echo "$INDEX1" | wc -w)" -eq 1

case_begin "healthy"
E2E_WHAT="check (structure) of a healthy repository" expect_exit 0 \
    k check --json
jcheck "healthy: ok, no findings" 'd["ok"] is True and d["findings"] == []'
jcheck "healthy: every snapshot, pack and index file counted" \
    "d['snapshots'] == 3 and d['packs'] == $NPACKS and d['index_files'] == 3"
jcheck "structure only: no pack data read" \
    'd["packs_read"] == 0 and d["bytes_read"] == 0 and d["subset"] == "none"'
jcheck "healthy: trees and blobs counted" 'd["trees"] > 3 and d["blobs"] > 10'
E2E_WHAT="check --read-data of a healthy repository" expect_exit 0 \
    k check --read-data --json
jcheck "read-data: ok" 'd["ok"] is True and d["findings"] == []'
jcheck "read-data: every pack read whole" \
    "d['packs_read'] == $NPACKS and d['bytes_read'] == $PACKBYTES and d['subset'] == 'all'"
E2E_WHAT="check in text mode" expect_exit 0 k check --read-data
expect_stdout_contains "no problems found"
check "no progress output without a terminal" test ! -s "$ERR"
verify_corrupt >"$WORK/healthy.v"
check "kluis-server verify: a healthy repository is clean" \
    test ! -s "$WORK/healthy.v" -a "$VRC" -eq 0
cp -a "$KLUIS_CACHE_DIR" "$WARM"

# ---------------------------------------------------------------------------
scenario flip
P=$(data_packs | head -n 1)
flip "$REPO/$P" $(($(stat -c %s "$REPO/$P") / 2))
oracle "$WORK/flip.want"
failed_snaps "$WORK/flip.snaps"
check "flip: restoring the damaged copy fails for some file" \
    test -s "$WORK/flip.want"
E2E_WHAT="flip: structure-only check does not read data" expect_exit 0 \
    k check --json
jcheck "flip: structure-only check read nothing" \
    'd["bytes_read"] == 0 and d["packs_read"] == 0'
E2E_WHAT="flip: check --read-data" expect_exit 1 k check --read-data --json
jcheck "flip: one finding, corrupt, naming the pack" \
    "[(f['kind'], f['object']) for f in d['findings']] == [('corrupt', '$P')]"
jcheck "flip: the pack's content does not match its name" \
    "'content does not match its name' in d['findings'][0]['detail']"
paths_of "$P" >"$WORK/flip.got"
same_lines "flip: the affected files are exactly those restore loses" \
    "$WORK/flip.want" "$WORK/flip.got"
snaps_of "$P" >"$WORK/flip.gotsnaps"
same_lines "flip: the affected snapshots are those whose restore fails" \
    "$WORK/flip.snaps" "$WORK/flip.gotsnaps"
E2E_WHAT="flip: text output" expect_exit 1 k check --read-data
expect_stdout_contains "corrupt: $P: content does not match its name"
expect_stdout_contains "affected: $(head -n 1 "$WORK/flip.want")"
expect_stdout_contains "1 problem found"
printf '%s\n' "$P" >"$WORK/flip.vwant"
verify_corrupt >"$WORK/flip.vgot"
check "flip: kluis-server verify exits 1" test "$VRC" -eq 1
same_lines "flip: kluis-server verify names the pack, without keys" \
    "$WORK/flip.vwant" "$WORK/flip.vgot"
E2E_WHAT="flip: check --metrics-file" expect_exit 1 \
    k check --read-data --metrics-file "$WORK/check.prom"
check "flip: the metrics count the finding" \
    grep -qE '^kluis_check_findings\{.*\} 1$' "$WORK/check.prom"
check "flip: the metrics count the packs read" \
    grep -qE "^kluis_check_packs_read\\{.*\\} $NPACKS\$" "$WORK/check.prom"
E2E_WHAT="flip: check over the protocol (pipe:)" expect_exit 1 \
    "$KLUIS" -r "pipe:$REPO" --server-command "$KLUIS_SERVER" \
    --password-file "$PW" check --read-data --json
jcheck "flip: the same finding over the protocol" \
    "[f['object'] for f in d['findings']] == ['$P']"

# ---------------------------------------------------------------------------
scenario truncate
P=$(data_packs | head -n 1)
truncate -s $(($(stat -c %s "$REPO/$P") / 2)) "$REPO/$P"
oracle "$WORK/trunc.want"
E2E_WHAT="truncate: structure-only check finds the size" expect_exit 1 \
    k check --json
jcheck "truncate: corrupt, naming the pack, from its size alone" \
    "[(f['kind'], f['object']) for f in d['findings']] == [('corrupt', '$P')] and 'index entries make it' in d['findings'][0]['detail'] and d['bytes_read'] == 0"
paths_of "$P" >"$WORK/trunc.got1"
check "truncate: without reading, every file of the pack is suspect" \
    test -z "$(comm -23 "$WORK/trunc.want" "$WORK/trunc.got1")"
E2E_WHAT="truncate: check --read-data" expect_exit 1 \
    k check --read-data --json
jcheck "truncate: corrupt, naming the pack" \
    "[(f['kind'], f['object']) for f in d['findings']] == [('corrupt', '$P')]"
paths_of "$P" >"$WORK/trunc.got"
same_lines "truncate: read-data names exactly the files restore loses" \
    "$WORK/trunc.want" "$WORK/trunc.got"
printf '%s\n' "$P" >"$WORK/trunc.vwant"
verify_corrupt >"$WORK/trunc.vgot"
same_lines "truncate: kluis-server verify names the pack" \
    "$WORK/trunc.vwant" "$WORK/trunc.vgot"

# ---------------------------------------------------------------------------
scenario delete
P=$(data_packs | head -n 1)
rm -f "$REPO/$P"
oracle "$WORK/del.want"
failed_snaps "$WORK/del.snaps"
E2E_WHAT="delete: structure-only check finds the missing pack" \
    expect_exit 1 k check --json
jcheck "delete: one finding, missing, naming the pack" \
    "[(f['kind'], f['object']) for f in d['findings']] == [('missing', '$P')] and d['bytes_read'] == 0"
paths_of "$P" >"$WORK/del.got"
same_lines "delete: the affected files are exactly those restore loses" \
    "$WORK/del.want" "$WORK/del.got"
snaps_of "$P" >"$WORK/del.gotsnaps"
same_lines "delete: the affected snapshots are those whose restore fails" \
    "$WORK/del.snaps" "$WORK/del.gotsnaps"
E2E_WHAT="delete: check --read-data" expect_exit 1 k check --read-data --json
jcheck "delete: read-data keeps it missing, not corrupt" \
    "[(f['kind'], f['object']) for f in d['findings']] == [('missing', '$P')]"

# ---------------------------------------------------------------------------
scenario swap
P=$(data_packs | sed -n 1p)
Q=$(data_packs | sed -n 2p)
cp "$REPO/$P" "$WORK/swap.tmp"
cp "$REPO/$Q" "$REPO/$P"
cp "$WORK/swap.tmp" "$REPO/$Q"
oracle "$WORK/swap.want"
E2E_WHAT="swap: check --read-data" expect_exit 1 k check --read-data --json
jcheck "swap: both packs corrupt, their content not matching their names" \
    "sorted((f['kind'], f['object']) for f in d['findings']) == sorted([('corrupt', '$P'), ('corrupt', '$Q')]) and all('content does not match its name' in f['detail'] for f in d['findings'])"
paths_of "$P" "$Q" >"$WORK/swap.got"
same_lines "swap: the affected files are exactly those restore loses" \
    "$WORK/swap.want" "$WORK/swap.got"
printf '%s\n' "$P" "$Q" | LC_ALL=C sort >"$WORK/swap.vwant"
verify_corrupt >"$WORK/swap.vgot"
same_lines "swap: kluis-server verify names both packs" \
    "$WORK/swap.vwant" "$WORK/swap.vgot"

# ---------------------------------------------------------------------------
# An index file gone: the packs it named become orphans, still readable
# through their own headers; the snapshots that use them are affected.
index_gone_checks() {
	local name=$1 v
	jcheck "$name: every pack of backup 1 is reported as unindexed" \
	    "sorted(f['object'] for f in d['findings'] if f['object'].startswith('data/')) == sorted(open('$WORK/packs1').read().split())"
	jcheck "$name: unindexed packs are 'missing', not 'corrupt'" \
	    "all(f['kind'] == 'missing' and 'no index file names it' in f['detail'] for f in d['findings'] if f['object'].startswith('data/'))"
	# shellcheck disable=SC2046
	paths_of $(cat "$WORK/packs1") | while read -r p; do
		[ -d "$p" ] || echo "$p"
	done >"$WORK/$name.got"
	same_lines "$name: the files named are exactly backup 1's" \
	    "$WORK/files1" "$WORK/$name.got"
	v=$(jq "sorted(set(s for f in d['findings'] for s in f['snapshots']))")
	check "$name: all three snapshots use backup 1's data" \
	    test "$v" = "$(python3 -c "print(sorted(['$S1', '$S2', '$S3']))")"
}

scenario index-warm
rm -f "$REPO/index/$INDEX1"
E2E_WHAT="index gone, warm catalog: check" expect_exit 1 k check --json
jcheck "index gone: the catalog's index file is reported missing" \
    "[f['object'] for f in d['findings'] if f['kind'] == 'missing' and f['object'].startswith('index/')] == ['index/$INDEX1']"
index_gone_checks index-warm
E2E_WHAT="index gone: check --read-data finds no corruption" expect_exit 1 \
    k check --read-data --json
jcheck "index gone: all data is intact" \
    "all(f['kind'] == 'missing' for f in d['findings']) and d['packs_read'] == $NPACKS"
E2E_WHAT="index gone: every file still restores" expect_exit 0 \
    k restore latest --target "$WORK/idx-out"
treecmp "index gone: the latest snapshot restores identical" "$SRC" \
    "$WORK/idx-out$SRC"
rm -rf "$WORK/idx-out"

scenario index-fresh fresh
rm -f "$REPO/index/$INDEX1"
E2E_WHAT="index gone, no catalog: check" expect_exit 1 k check --json
jcheck "index gone, no catalog: nothing to compare the index files with" \
    "not any(f['object'].startswith('index/') for f in d['findings'])"
index_gone_checks index-fresh

scenario index-corrupt
flip "$REPO/index/$INDEX1" 100
E2E_WHAT="damaged index file: check" expect_exit 1 k check --json
jcheck "damaged index file: corrupt, naming it" \
    "[(f['kind'], f['object']) for f in d['findings'] if not f['object'].startswith('data/')] == [('corrupt', 'index/$INDEX1')] and 'does not match its name' in d['findings'][0]['detail']"
index_gone_checks index-corrupt

# ---------------------------------------------------------------------------
scenario tree
P=$(data_packs | tail -n 1)	# the smallest pack holds trees
flip "$REPO/$P" 200
E2E_WHAT="damaged tree: structure-only check finds it" expect_exit 1 \
    k check --json
jcheck "damaged tree: corrupt, naming the tree pack and the tree blob" \
    "[(f['kind'], f['object']) for f in d['findings']] == [('corrupt', '$P')] and 'tree blob' in d['findings'][0]['detail'] and d['bytes_read'] == 0"
jcheck "damaged tree: the directories that lost their listing are named" \
    "len(d['findings'][0]['paths']) > 0 and all(p == '/' or os.path.isdir(p) for p in d['findings'][0]['paths'])"

scenario snapshot-corrupt
flip "$REPO/snapshots/$S2" 200
E2E_WHAT="damaged snapshot file: check" expect_exit 1 k check --json
jcheck "damaged snapshot file: corrupt, naming it" \
    "[(f['kind'], f['object'], f['snapshots']) for f in d['findings']] == [('corrupt', 'snapshots/$S2', ['$S2'])] and d['snapshots'] == 2"

# ---------------------------------------------------------------------------
scenario snapshot-old
rm -f "$REPO/snapshots/$S1"
E2E_WHAT="oldest snapshot removed: check" expect_exit 1 k check --json
jcheck "oldest snapshot removed: vanished, naming it, and nothing else" \
    "[(f['kind'], f['object'], f['snapshots']) for f in d['findings']] == [('vanished', 'snapshots/$S1', ['$S1'])]"
jcheck "vanished: the detail says what the snapshot was" \
    "'known to this client' in d['findings'][0]['detail'] and 'taken' in d['findings'][0]['detail']"
E2E_WHAT="a vanished snapshot is reported again by the next check" \
    expect_exit 1 k check --json
jcheck "the catalog keeps the vanished snapshot" \
    "[f['kind'] for f in d['findings']] == ['vanished']"

scenario snapshot-new
rm -f "$REPO/snapshots/$S3"
E2E_WHAT="newest snapshot removed: check" expect_exit 1 k check --json
jcheck "newest snapshot removed: vanished and rollback" \
    "sorted((f['kind'], f['object']) for f in d['findings']) == [('rollback', 'repository'), ('vanished', 'snapshots/$S3')]"
jcheck "rollback: names the newest snapshot this client saw" \
    "'${S3:0:8}' in [f for f in d['findings'] if f['kind'] == 'rollback'][0]['detail']"

scenario snapshot-fresh fresh
rm -f "$REPO/snapshots/$S3"
E2E_WHAT="snapshot removed, no catalog: nothing to compare with" \
    expect_exit 0 k check --json

# ---------------------------------------------------------------------------
scenario subset-part fresh
sum=0
for n in 1 2 3; do
	E2E_WHAT="--read-data-subset $n/3" expect_exit 0 \
	    k check --read-data-subset "$n/3" --json
	want=$(cd "$REPO" && find data -type f -printf '%f\n' | python3 -c '
import sys
n = int(sys.argv[1])
print(sum(1 for l in sys.stdin
          if int.from_bytes(bytes.fromhex(l.strip())[:8], "little") % 3 == n - 1))' "$n")
	jcheck "subset $n/3 reads the packs whose id is $((n - 1)) mod 3 ($want)" \
	    "d['packs_read'] == $want and d['subset'] == '$n/3'"
	sum=$((sum + $(jq "d['packs_read']")))
done
check "the three parts together read every pack once" test "$sum" -eq "$NPACKS"

scenario subset-percent fresh
DB=
per=$(( (34 * NPACKS + 99) / 100 ))
for n in 1 2 3; do
	E2E_WHAT="--read-data-subset 34% run $n" expect_exit 0 \
	    k check --read-data-subset 34% --json
	jcheck "34% run $n reads ceil(34% of $NPACKS) = $per packs" \
	    "d['packs_read'] == $per and d['subset'] == '34%'"
	DB=$(find "$KLUIS_CACHE_DIR" -name catalog.db | head -n 1)
	got=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(
    "SELECT count(*) FROM pack_check WHERE ok = 1").fetchone()[0])' "$DB")
	exp=$((n * per < NPACKS ? n * per : NPACKS))
	check "after run $n the catalog records $exp verified packs (has $got)" \
	    test "$got" -eq "$exp"
done
runs=$(python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def val(run, key):
    return db.execute("SELECT val FROM run_value WHERE run_no = ? AND"
        " key = ? AND item = 0", (run, key)).fetchone()[0]
rows = db.execute("SELECT run_no, exit_code FROM run WHERE kind = '"'check'"'"
    " ORDER BY run_no").fetchall()
print(" ".join("%d:%s:%s:%.2f" % (r[1], val(r[0], "subset"),
      val(r[0], "packs_read"), val(r[0], "coverage")) for r in rows))' "$DB")
c=$(python3 -c "print('%.2f' % ($per / $NPACKS))")
check "the run history records the three checks ($runs)" \
    test "$runs" = "0:34%:$per:$c 0:34%:$per:$c 0:34%:$per:$c"

# A damaged pack is found within three rotating runs (which read 9 packs
# of 7: two of them twice).
scenario subset-rotation fresh
P=$(data_packs | head -n 1)
flip "$REPO/$P" 1000
found=0
for n in 1 2 3; do
	run k check --read-data-subset 34% --json
	if [ "$rc" -eq 1 ] && [ "$(jq "[f['object'] for f in d['findings']]")" = "['$P']" ]; then
		found=$((found + 1))
	elif [ "$rc" -ne 0 ]; then
		not_ok "rotation run $n: exit $rc"
	fi
done
check "rotation: three 34% runs find the damaged pack" test "$found" -ge 1

# ---------------------------------------------------------------------------
# Two hosts with backup-only keys back up the same files: neither trusts
# the other's claims (issue #10), so every tree of those files is stored
# twice.  Damage to either copy of a tree loses no path: check reads the
# other copy, as restore does, and names only the damaged pack (which a
# structure-only check may not read at all).
case_begin "a tree stored twice, one copy damaged"
CREPO=$WORK/copies.good
rm -rf "$CREPO"
mkdir -p "$WORK/copies-src/a/b"
echo one >"$WORK/copies-src/a/one.txt"
seq 1 20000 >"$WORK/copies-src/a/b/numbers.txt"
# read once, so that the first backup's reads leave the access times
# (which trees record) as the second backup finds them
cat "$WORK/copies-src/a/one.txt" "$WORK/copies-src/a/b/numbers.txt" \
    >/dev/null
REPO=$CREPO
export KLUIS_CACHE_DIR=$WORK/c-copies-init
expect_exit 0 k init --kdf interactive
make_password "$WORK/pw-copies" "a host passphrase"
for h in h1 h2; do
	E2E_WHAT="backup-only key for $h" expect_exit 0 k key add \
	    --backup-only --out "$WORK/$h.key" \
	    --new-password-file "$WORK/pw-copies" --kdf interactive
	E2E_WHAT="$h backs up the shared files" expect_exit 0 \
	    env KLUIS_CACHE_DIR="$WORK/c-copies-$h" "$KLUIS" -r "$REPO" \
	    --key-file "$WORK/$h.key" --password-file "$WORK/pw-copies" \
	    backup "$WORK/copies-src" --host "$h" --json
done
# "PACK OFFSET" per line: the middle of each copy of the tree of
# copies-src/a/b, from h2's catalog (which knows both hosts' index files).
python3 -c 'import glob, sqlite3, sys
db = sqlite3.connect(glob.glob(sys.argv[1] + "/**/catalog.db", recursive=True)[0])
for pack, off, n in db.execute("""
    SELECT hex(p.id), l.off, l.stored_len FROM loc l JOIN pack p USING (pack_no)
    WHERE l.type = 2 AND l.id IN (SELECT id FROM loc WHERE type = 2
                                  GROUP BY id HAVING count(*) = 2)
    ORDER BY l.raw_len, l.id, p.id LIMIT 2"""):
    print("data/%s/%s %d" % (pack[:2].lower(), pack.lower(), off + n // 2))' \
    "$WORK/c-copies-h2" >"$WORK/copies.at"
check "both hosts stored the shared trees" test "$(wc -l <"$WORK/copies.at")" -eq 2
mapfile -t COPIES <"$WORK/copies.at"
for n in 1 2; do
	read -r P at <<<"${COPIES[n - 1]:-}"
	REPO=$WORK/r-copies-$n
	export KLUIS_CACHE_DIR=$WORK/c-copies-check-$n
	rm -rf "$REPO" "$KLUIS_CACHE_DIR"
	cp -a "$CREPO" "$REPO"
	mkdir -p "$KLUIS_CACHE_DIR"
	flip "$REPO/$P" "$at"
	# the structure check reads one copy of each tree: the damaged
	# one, or the sound one and nothing else
	run k check --json
	jcheck "copy $n of a tree damaged: check loses no path (exit $rc)" \
	    "[(f['kind'], f['object'], f['paths'], f['snapshots']) for f in d['findings']] in ([], [('corrupt', '$P', [], [])])"
	E2E_WHAT="copy $n of a tree damaged: check --read-data" expect_exit 1 \
	    k check --read-data --json
	jcheck "copy $n of a tree damaged: corrupt, no path lost" \
	    "[(f['kind'], f['object'], f['paths'], f['snapshots']) for f in d['findings']] == [('corrupt', '$P', [], [])]"
	for s in $(ls "$REPO/snapshots"); do
		rm -rf "$WORK/copies-out"
		E2E_WHAT="copy $n of a tree damaged: restore ${s:0:8}" \
		    expect_exit 0 k restore "$s" --target "$WORK/copies-out"
	done
done
REPO=$GOOD

# ---------------------------------------------------------------------------
scenario usage
E2E_WHAT="--read-data with --read-data-subset" expect_exit 2 \
    k check --read-data --read-data-subset 1/2
for bad in 0/3 4/3 1/0 0% 101% 34 x; do
	E2E_WHAT="--read-data-subset $bad" expect_exit 2 \
	    k check --read-data-subset "$bad"
done
expect_stderr_contains "N/M"
E2E_WHAT="check takes no arguments" expect_exit 2 k check latest
E2E_WHAT="check does not take --sample" expect_exit 2 k check --sample 3
make_password "$WORK/pw2" "backup only passphrase"
E2E_WHAT="key add --backup-only" expect_exit 0 k key add --backup-only \
    --out "$WORK/bkey" --new-password-file "$WORK/pw2"
E2E_WHAT="check with a backup-only key" expect_exit 12 "$KLUIS" -r "$REPO" \
    --key-file "$WORK/bkey" --password-file "$WORK/pw2" check
expect_stderr_contains "full key"

# The progress bar: on a terminal only.
python3 -c 'import os, subprocess, sys
m, s = os.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=s)
os.close(s)
out = b""
while True:
    try:
        b = os.read(m, 65536)
    except OSError:
        break
    if not b:
        break
    out += b
p.wait()
open(sys.argv[1], "wb").write(out)
sys.exit(p.returncode)' "$WORK/tty.out" "$KLUIS" -r "$REPO" \
    --password-file "$PW" check --read-data
check "on a terminal, check --read-data exits 0" test $? -eq 0
check "on a terminal, a progress bar shows packs and rate" \
    grep -qE "kluis: check: data $NPACKS/$NPACKS packs, .* [KMG]?i?B/s" "$WORK/tty.out"

e2e_finish
