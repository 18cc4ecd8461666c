#!/usr/bin/env bash
# End-to-end tests of sub-chunk deltas (issue #14, FORMAT.md §7.1, §7.2,
# §11 "Delta chunks") on real data: a 96 MiB "database" made of this
# machine's binaries whose 4 KiB pages are rewritten in place every night.
#
#   1. night 2 after 200 page rewrites adds < 5 % of the file, as delta
#      blobs, at least 5 times less than --delta-min-size off; a file below
#      the minimum size gets no deltas
#   2. a week of nights: every version restores byte-identical, by snapshot
#      id and by restore --at; versions lists 7, diff sees the change;
#      generations climb and every base is a full chunk of night 1
#   3. --delta-max-depth 2: generations 1 and 2, then whole chunks again
#   4. appends (log style) and an insertion in the middle stay small
#   5. the catalog (signature cache) lost: whole chunks, then deltas again
#   6. a damaged delta blob, a damaged base, a missing pack: the file is
#      left as NAME.kluis-incomplete (exit 1), the others restore identical,
#      check --read-data names the damage and the file
#   7. a backup-only key through the append-only role of a real sshd makes
#      deltas; the full key restores them
#   8. forget --prune keeps the bases of the deltas still in use
#   9. check --read-data on every healthy repository, drill --sample 100%
#
# Needs root (section 7 runs sshd, as the other ssh tests) and about 1.5 GB
# in $TMPDIR; about 70 s on 2 cores.
#
# usage: delta.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: delta.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: delta.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
e2e_init delta
export TZ=UTC
# drill's scratch directories are made here
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
MIB=1048576
BIG=$((96 * MIB))
MIN=16M
PY=$WORK/delta.py

# The helper: real data from this machine's binaries, deterministic page
# rewrites, and the walks over trees and the catalog the checks need.
cat >"$PY" <<'EOF'
import glob, json, os, random, sqlite3, subprocess, sys

def binaries():
    for d, pat in (("/usr/bin", "*"), ("/usr/lib/x86_64-linux-gnu", "*.so*")):
        for p in sorted(glob.glob(os.path.join(d, pat))):
            if not os.path.islink(p) and os.path.isfile(p):
                yield p, os.path.getsize(p)

def pool(skip, n):
    """n bytes of /usr/bin/* and the shared libraries, from byte skip
    (modulo their total)."""
    files = list(binaries())
    total = sum(s for _, s in files)
    if total < n:
        sys.exit("only %d bytes of binaries on this machine" % total)
    skip %= total
    out = bytearray()
    while len(out) < n:
        for p, size in files:
            if skip >= size:
                skip -= size
                continue
            with open(p, "rb") as f:
                f.seek(skip)
                out += f.read(min(size - skip, n - len(out)))
            skip = 0
            if len(out) == n:
                break
    return bytes(out)

def pages(path, seed, n, same):
    """Rewrites n 4 KiB pages at 4 KiB-aligned offsets: random bytes or a
    copy of another page.  same: always the same pages (their content from
    seed); else a quarter of them from a fixed hot set (rewritten again on
    later nights), the rest anywhere."""
    r = random.Random(seed)
    npg = os.path.getsize(path) // 4096
    hot = random.Random(0).sample(range(npg), 100)
    fixed = random.Random(1).sample(range(npg), n)
    with open(path, "r+b") as f:
        for i in range(n):
            if same:
                pg = fixed[i]
            elif i % 4 == 0:
                pg = hot[r.randrange(len(hot))]
            else:
                pg = r.randrange(npg)
            if same or i % 2:
                data = r.randbytes(4096)
            else:
                f.seek(r.randrange(npg) * 4096)
                data = f.read(4096)
            f.seek(pg * 4096)
            f.write(data)

def kluis(k, repo, pw, *args):
    return json.loads(subprocess.run([k, "-r", repo, "--password-file", pw]
        + list(args), check=True, capture_output=True).stdout)

def dirtree(k, repo, pw, snap, path):
    """{name: entry} of the directory path in the snapshot."""
    t = kluis(k, repo, pw, "cat", "snapshot", snap)["tree"]
    for name in [c for c in path.split("/") if c]:
        t = [e for e in kluis(k, repo, pw, "cat", "tree", t)
             if e["name"] == name][0]["subtree"]
    return {e["name"]: e for e in kluis(k, repo, pw, "cat", "tree", t)}

def needs(e):
    """Every blob the file entry is read from."""
    ds = {d["chunk"]: d for d in e.get("deltas", [])}
    b = set()
    for i, c in enumerate(e["chunks"]):
        if i in ds:
            b.add(ds[i]["delta"])
            b.update(ds[i]["bases"])
        else:
            b.add(c)
    return b

def catalog(cache, repo_id):
    db = os.path.join(cache, repo_id, "catalog.db")
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True)

def layout(c, e):
    """[(offset, length, id, delta entry or None)] of a file entry: a
    delta chunk's length from its entry, a whole one's from the index."""
    ds = {d["chunk"]: d for d in e.get("deltas", [])}
    out, off = [], 0
    for i, ch in enumerate(e["chunks"]):
        if i in ds:
            n = ds[i]["length"]
        else:
            n = c.execute("SELECT raw_len FROM loc WHERE id = ? AND type = 1",
                          (bytes.fromhex(ch),)).fetchone()[0]
        out.append((off, n, ch, ds.get(i)))
        off += n
    if off != e["size"]:
        sys.exit("chunk lengths add up to %d, not %d" % (off, e["size"]))
    return out

def chain(c, prev, cur, depth):
    """The rules of FORMAT.md §7.1 and backup_delta.c on one version:
    each chunk not in the previous version is a delta whose bases are the
    previous version's full chunks at its offsets (a whole one itself, a
    delta one its bases, in order, once each) with a generation one above
    theirs, or whole; a kept chunk stored as a delta keeps its entry."""
    p, v = layout(c, prev), layout(c, cur)
    pids = {x[2]: x for x in p}
    pdel = {x[3]["delta"] for x in p if x[3]}
    r = {"new_deltas": 0, "gens": [], "whole_at_depth": 0,
         "whole_below_depth": 0, "violations": []}
    for off, n, ch, d in v:
        if ch in pids:
            old = pids[ch][3]
            if old and (not d or d["delta"] != old["delta"]):
                r["violations"].append("kept chunk %s lost its entry" % ch)
            continue
        ov = [x for x in p if x[0] < off + n and x[0] + x[1] > off]
        g = max([x[3]["generation"] if x[3] else 0 for x in ov] + [0])
        bases = []
        for x in ov:
            for b in (x[3]["bases"] if x[3] else [x[2]]):
                if b not in bases:
                    bases.append(b)
        if d is None:
            r["whole_at_depth" if g >= depth else "whole_below_depth"] += 1
            continue
        r["new_deltas"] += d["delta"] not in pdel
        r["gens"].append(d["generation"])
        if d["generation"] != g + 1 or g + 1 > depth:
            r["violations"].append("chunk at %d: generation %d over %d"
                                   % (off, d["generation"], g))
        if d["bases"] != bases:
            r["violations"].append("chunk at %d: bases %s, not %s"
                                   % (off, d["bases"], bases))
        if d["length"] != n or len(bases) > 4:
            r["violations"].append("chunk at %d: length or base count" % off)
    r["gens"] = sorted(set(r["gens"]))
    return r

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "mkbig":		# OUT SIZE SKIP
    with open(a[0], "wb") as f:
        f.write(pool(int(a[2]), int(a[1])))
elif cmd == "pages":		# FILE SEED N [same]
    pages(a[0], int(a[1]), int(a[2]), len(a) > 3)
elif cmd == "append":		# FILE SKIP N
    with open(a[0], "ab") as f:
        f.write(pool(int(a[1]), int(a[2])))
elif cmd == "insert":		# FILE OFFSET N SEED: in place, same inode
    with open(a[0], "r+b") as f:
        b = f.read()
        f.seek(0)
        f.write(b[:int(a[1])] + random.Random(int(a[3])).randbytes(int(a[2]))
                + b[int(a[1]):])
elif cmd == "dir":		# KLUIS REPO PW SNAP PATH
    print(json.dumps(dirtree(*a)))
elif cmd == "locate":		# CACHE REPO_ID BLOB: pack offset stored_len
    for r in catalog(a[0], a[1]).execute(
            "SELECT lower(hex(p.id)), l.off, l.stored_len FROM loc l "
            "JOIN pack p ON p.pack_no = l.pack_no WHERE l.id = ?",
            (bytes.fromhex(a[2]),)):
        print(*r)
elif cmd == "packblobs":	# CACHE REPO_ID PACK: the blobs in it
    for r in catalog(a[0], a[1]).execute(
            "SELECT lower(hex(l.id)) FROM loc l JOIN pack p "
            "ON p.pack_no = l.pack_no WHERE p.id = ?", (bytes.fromhex(a[2]),)):
        print(r[0])
elif cmd == "present":		# CACHE REPO_ID BLOB...: those the index holds
    c = catalog(a[0], a[1])
    for h in a[2:]:
        if c.execute("SELECT 1 FROM loc WHERE id = ?",
                     (bytes.fromhex(h),)).fetchone():
            print(h)
elif cmd == "chain":		# CACHE REPO_ID PREV CUR NAME DEPTH
    c = catalog(a[0], a[1])
    print(json.dumps(chain(c, json.load(open(a[2]))[a[4]],
                           json.load(open(a[3]))[a[4]], int(a[5]))))
elif cmd == "affected":		# DIRJSON BLOB...: files needing any of them
    bad = set(a[1:])
    for n, e in sorted(json.load(open(a[0])).items()):
        if e["type"] == "file" and needs(e) & bad:
            print(n)
elif cmd == "flip":		# FILE OFFSET: one byte changed
    with open(a[0], "r+b") as f:
        f.seek(int(a[1]))
        c = f.read(1)
        f.seek(int(a[1]))
        f.write(bytes([c[0] ^ 0x5a]))
EOF

# py ARGS...: the helper; a failure is the test's (also in $(...): the
# last check counts $WORK/py-failed).
py() {
	python3 "$PY" "$@" && return 0
	echo "$*" >>"$WORK/py-failed"
	not_ok "delta.py $*"
	return 1
}

# kd ARGS...: kluis on the section's repository $WORK/repo-$SEC with its
# own catalog $WORK/cache-$SEC.
kd() {
	KLUIS_CACHE_DIR=$WORK/cache-$SEC "$KLUIS" -r "$WORK/repo-$SEC" \
	    --password-file "$PW" "$@"
}

# kdf ARGS...: the same with a catalog nobody used.
kdf() {
	KLUIS_CACHE_DIR=$WORK/cache-$SEC-fresh$RANDOM$RANDOM "$KLUIS" \
	    -r "$WORK/repo-$SEC" --password-file "$PW" "$@"
}

# night N ARGS...: backup of $SRC (--json, --delta-min-size $MIN), then
# S[N] = its snapshot id, ADDED[N], DCH[N] (delta chunks); keeps a copy of
# $SRC in $WORK/ref-$SEC-N.
declare -A S ADDED DCH
night() {
	local n=$1
	shift
	E2E_WHAT="$SEC night $n: backup" expect_exit 0 \
	    kd backup "$SRC" --json --delta-min-size "$MIN" "$@"
	S[$SEC$n]=$(json_field snapshot_id)
	ADDED[$SEC$n]=$(json_field bytes_added)
	DCH[$SEC$n]=$(json_field delta_chunks)
	echo "# $SEC night $n: bytes_added ${ADDED[$SEC$n]}," \
	    "delta_chunks ${DCH[$SEC$n]}," \
	    "delta_bytes_added $(json_field delta_bytes_added)"
	rm -rf "$WORK/ref-$SEC-$n"
	cp -a "$SRC" "$WORK/ref-$SEC-$n"
}

# tree_json N FILE: the {name: entry} of $SRC in night N's snapshot.
tree_json() {
	KLUIS_CACHE_DIR=$WORK/cache-$SEC py dir "$KLUIS" \
	    "$WORK/repo-$SEC" "$PW" "${S[$SEC$1]}" "$SRC" >"$2"
}

# chain N NAME DEPTH: night N's NAME against night N-1's by the rules of
# delta chains (delta.py chain), as JSON in $OUT.
chain() {
	local id
	id=$(kd cat config | python3 -c \
	    'import json, sys; print(json.load(sys.stdin)["repository_id"])')
	py chain "$WORK/cache-$SEC" "$id" "$WORK/t-$SEC-$(($1 - 1)).json" \
	    "$WORK/t-$SEC-$1.json" "$2" "$3" >"$OUT" 2>"$ERR"
}

# jcheck NAME EXPR FILE...: EXPR (Python; a, b, c: the JSON FILEs) holds.
jcheck() {
	local name=$1 expr=$2
	shift 2
	if python3 -c 'import json, sys
a, b, c = ([json.load(open(f)) for f in sys.argv[2:]] + [None] * 3)[:3]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$expr" "$@" 2>"$WORK/.jerr"; then
		ok "$name"
	else
		not_ok "$name"
		sed 's/^/  python: /' "$WORK/.jerr" | tail -n 3
	fi
}

# same_file NAME A B: byte for byte.
same_file() {
	if cmp "$2" "$3" >"$WORK/.cmp" 2>&1; then ok "$1"; else
		not_ok "$1"
		sed 's/^/  cmp: /' "$WORK/.cmp"
	fi
}

# restore_same N [ARGS...]: night N's snapshot, restored with a catalog
# nobody used, holds night N's files byte for byte.
restore_same() {
	local n=$1 out=$WORK/out-$SEC f
	shift
	rm -rf "$out"
	E2E_WHAT="$SEC: restore night $n" expect_exit 0 \
	    kdf restore "${S[$SEC$n]}" --target "$out" "$@"
	for f in "$WORK/ref-$SEC-$n"/*; do
		same_file "$SEC night $n: ${f##*/} restores identical" "$f" \
		    "$out$SRC/${f##*/}"
	done
	rm -rf "$out"
}

# check_clean: check --read-data with a fresh catalog finds nothing.
check_clean() {
	E2E_WHAT="$SEC: check --read-data" expect_exit 0 \
	    kdf check --read-data --json
	json_check "$SEC: check --read-data: no finding" \
	    'd["ok"] and d["findings"] == []'
}

# ---------------------------------------------------------------------------
case_begin "1, 2: a week of page rewrites in a 96 MiB file"
SEC=week
SRC=$WORK/src-week
mkdir -p "$SRC"
py mkbig "$SRC/big.db" "$BIG" 0
py mkbig "$SRC/mid.db" $((12 * MIB)) $((100 * MIB))
echo "notes, never changed" >"$SRC/notes.txt"
expect_exit 0 kd init --kdf interactive
# the same nights without deltas, for comparison
E2E_WHAT="init the repository without deltas" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-off" "$KLUIS" -r "$WORK/repo-off" \
    --password-file "$PW" init --kdf interactive
koff() {
	KLUIS_CACHE_DIR=$WORK/cache-off "$KLUIS" -r "$WORK/repo-off" \
	    --password-file "$PW" backup "$SRC" --json --delta-min-size off
}
night 1
check "night 1 stores no deltas" test "${DCH[week1]}" -eq 0
E2E_WHAT="night 1 without deltas" expect_exit 0 koff
for n in 2 3 4 5 6 7; do
	py pages "$SRC/big.db" "$n" 200
	py pages "$SRC/mid.db" "$((100 + n))" 1
	[ "$n" -ne 2 ] || { E2E_WHAT="night 2 without deltas" expect_exit 0 koff
		OFF2=$(json_field bytes_added); OFFD2=$(json_field delta_chunks); }
	sleep 1	# one version a second: restore --at tells them apart
	night "$n"
done
check "night 2: bytes_added ${ADDED[week2]} < 5 % of $BIG" \
    test "${ADDED[week2]}" -lt $((BIG / 20))
check "night 2: delta chunks stored (${DCH[week2]})" test "${DCH[week2]}" -gt 0
check "night 2: without deltas $OFF2 bytes, at least 5x ${ADDED[week2]}" \
    test "$OFF2" -ge $((5 * ADDED[week2]))
check "--delta-min-size off stores no delta ($OFFD2)" test "$OFFD2" -eq 0
# Depth 1: night n's deltas hold every change since night 1.
for n in 3 4 5 6 7; do
	check "night $n: bytes_added ${ADDED[week$n]} < 10 %, delta chunks ${DCH[week$n]} > 0" \
	    test "${ADDED[week$n]}" -lt $((BIG / 10)) -a "${DCH[week$n]}" -gt 0
done

for n in 1 2 3 4 5 6 7; do tree_json "$n" "$WORK/t-week-$n.json"; done
jcheck "night 1: no delta entries" \
    'all("deltas" not in e for e in a.values())' "$WORK/t-week-1.json"
for n in 2 3 4 5 6 7; do
	jcheck "night $n: big.db has delta entries, generations 1..$((n - 1)), bases are night 1's chunks" \
	    "len(b['big.db'].get('deltas', [])) > 0 and all(1 <= d['generation'] <= $n - 1 and set(d['bases']) <= set(a['big.db']['chunks']) and 1 <= len(d['bases']) <= 4 and b['big.db']['chunks'][d['chunk']] not in a['big.db']['chunks'] for d in b['big.db']['deltas'])" \
	    "$WORK/t-week-1.json" "$WORK/t-week-$n.json"
	jcheck "night $n: mid.db (12 MiB < $MIN) changed, without deltas" \
	    "'deltas' not in b['mid.db'] and b['mid.db']['chunks'] != a['mid.db']['chunks']" \
	    "$WORK/t-week-1.json" "$WORK/t-week-$n.json"
done
for n in 2 3 4 5 6 7; do
	chain "$n" big.db 16
	json_check "night $n: every changed chunk a delta on the bases at its offsets, one generation up; new deltas = delta_chunks (${DCH[week$n]})" \
	    "d['violations'] == [] and d['new_deltas'] == ${DCH[week$n]} and d['whole_below_depth'] == 0 and d['whole_at_depth'] == 0"
done
jcheck "night 7: chains grew past generation 2 (default depth 16)" \
    'max(d["generation"] for d in a["big.db"]["deltas"]) >= 3' \
    "$WORK/t-week-7.json"
for n in 1 2 3 4 5 6 7; do restore_same "$n"; done

E2E_WHAT="versions of big.db" expect_exit 0 kd versions "$SRC/big.db"
expect_stdout_contains "7 versions of $SRC/big.db"
E2E_WHAT="versions --json" expect_exit 0 kd versions --json "$SRC/big.db"
cp "$OUT" "$WORK/versions.json"
json_check "7 versions, each a snapshot of its night" \
    "len(d) == 7 and [v['first_snapshot'] for v in d] == '${S[week1]} ${S[week2]} ${S[week3]} ${S[week4]} ${S[week5]} ${S[week6]} ${S[week7]}'.split()"
for n in 1 2 3 4 5 6 7; do
	at=$(python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))[int(sys.argv[2]) - 1]
print(v["first_time"][:19].replace("T", " "))' "$WORK/versions.json" "$n")
	rm -rf "$WORK/out-at"
	E2E_WHAT="restore --at '$at' big.db" expect_exit 0 \
	    kd restore --at "$at" "$SRC/big.db" --target "$WORK/out-at"
	expect_stderr_contains "snapshot ${S[week$n]:0:8}" "--at picks night $n"
	same_file "restore --at of night $n: big.db identical" \
	    "$WORK/ref-week-$n/big.db" "$WORK/out-at$SRC/big.db"
done
rm -rf "$WORK/out-at"
E2E_WHAT="diff night 1 night 7" expect_exit 0 \
    kd diff --json "${S[week1]}" "${S[week7]}"
json_check "diff: big.db and mid.db modified in content, notes.txt not" \
    "sorted((c['path'], c['change'], c['content']) for c in d['changes'] if c['path'].startswith('$SRC')) == [('$SRC/big.db', 'modified', True), ('$SRC/mid.db', 'modified', True)]"
E2E_WHAT="diff night 6 night 7, text" expect_exit 0 \
    kd diff "${S[week6]}" "${S[week7]}"
expect_stdout_contains "M    $SRC/big.db"
check_clean
E2E_WHAT="drill --sample 100% of night 7" expect_exit 0 \
    kdf drill "${S[week7]}" --sample 100% --json
json_check "drill: every file, every byte, no mismatch" \
    'd["ok"] and d["all"] and d["sample_bytes"] == d["snapshot_bytes"] and d["mismatch_count"] == 0'
E2E_WHAT="check --read-data of the repository without deltas" \
    expect_exit 0 env KLUIS_CACHE_DIR="$WORK/cache-off" "$KLUIS" \
    -r "$WORK/repo-off" --password-file "$PW" check --read-data
for n in 2 3 4 5 6; do rm -rf "$WORK/ref-week-$n"; done

# ---------------------------------------------------------------------------
case_begin "3: a chain at --delta-max-depth 2"
SEC=depth
SRC=$WORK/src-depth
mkdir -p "$SRC"
py mkbig "$SRC/big.db" $((24 * MIB)) $((120 * MIB))
# in night 1 only: its chunks share a pack with big.db's (section 8)
py mkbig "$SRC/junk.bin" $((6 * MIB)) $((145 * MIB))
expect_exit 0 kd init --kdf interactive
night 1 --delta-max-depth 2
rm "$SRC/junk.bin"
for n in 2 3 4; do
	# the same 8 pages each time: the chunks holding them change again
	py pages "$SRC/big.db" "$((200 + n))" 8 same
	night "$n" --delta-max-depth 2
	tree_json "$n" "$WORK/t-depth-$n.json"
	if [ "$n" -eq 3 ]; then
		# for section 8: the repository and catalog after night 3
		cp -a "$WORK/repo-depth" "$WORK/repo-prune"
		cp -a "$WORK/cache-depth" "$WORK/cache-prune"
		cp -a "$WORK/ref-depth-3" "$WORK/ref-prune-3"
	fi
done
tree_json 1 "$WORK/t-depth-1.json"
check "version 2 stores delta chunks (${DCH[depth2]})" test "${DCH[depth2]}" -gt 0
check "version 3 stores delta chunks (${DCH[depth3]})" test "${DCH[depth3]}" -gt 0
jcheck "version 2: every delta of generation 1 against version 1's chunks" \
    "len(b['big.db']['deltas']) == ${DCH[depth2]} and all(d['generation'] == 1 and set(d['bases']) <= set(a['big.db']['chunks']) for d in b['big.db']['deltas'])" \
    "$WORK/t-depth-1.json" "$WORK/t-depth-2.json"
jcheck "version 3: deltas of generation 2, against version 1's chunks" \
    "any(d['generation'] == 2 for d in b['big.db']['deltas']) and all(d['generation'] <= 2 and set(d['bases']) <= set(a['big.db']['chunks']) for d in b['big.db']['deltas'])" \
    "$WORK/t-depth-1.json" "$WORK/t-depth-3.json"
jcheck "version 4: no generation 3" \
    "all(d['generation'] <= 2 for d in a['big.db'].get('deltas', []))" \
    "$WORK/t-depth-4.json"
chain 2 big.db 2
json_check "version 2: every changed chunk is a generation-1 delta on its old chunks" \
    "d['violations'] == [] and d['gens'] == [1] and d['new_deltas'] == ${DCH[depth2]} and d['whole_below_depth'] == 0"
chain 3 big.db 2
json_check "version 3: every changed chunk is a delta one generation up, on the same bases" \
    "d['violations'] == [] and 2 in d['gens'] and d['new_deltas'] == ${DCH[depth3]} and d['whole_below_depth'] == 0"
chain 4 big.db 2
cp "$OUT" "$WORK/chain-depth-4.json"
json_check "version 4: chunks whose previous version was at generation 2 are stored whole, deltas only where it was whole" \
    "d['violations'] == [] and d['whole_at_depth'] >= 1 and d['gens'] in ([], [1]) and d['new_deltas'] == ${DCH[depth4]} and d['whole_below_depth'] == 0"
echo "# depth 4: $(cat "$WORK/chain-depth-4.json")"
for n in 1 2 3 4; do restore_same "$n"; done
check_clean

# ---------------------------------------------------------------------------
case_begin "4: a file that grows at its end, then an insertion"
SEC=append
SRC=$WORK/src-append
mkdir -p "$SRC"
py mkbig "$SRC/mbox" $((64 * MIB)) $((150 * MIB))
expect_exit 0 kd init --kdf interactive
night 1
for n in 2 3 4; do
	py append "$SRC/mbox" $((215 * MIB + n * MIB)) "$MIB"
	night "$n"
	check "night $n: 1 MiB appended adds ${ADDED[append$n]} < 3 MiB" \
	    test "${ADDED[append$n]}" -lt $((3 * MIB))
done
py insert "$SRC/mbox" $((33 * MIB + 12345)) 100 5
night 5
check "100 bytes inserted in the middle add ${ADDED[append5]} < 3 MiB" \
    test "${ADDED[append5]}" -lt $((3 * MIB))
check "mbox is $((67 * MIB + 100)) bytes" \
    test "$(stat -c %s "$SRC/mbox")" -eq $((67 * MIB + 100))
for n in 1 2 3 4 5; do restore_same "$n"; rm -rf "$WORK/ref-append-$n"; done
check_clean

# ---------------------------------------------------------------------------
case_begin "5: the catalog lost between nights"
SEC=lost
SRC=$WORK/src-lost
mkdir -p "$SRC"
py mkbig "$SRC/big.db" $((24 * MIB)) $((250 * MIB))
expect_exit 0 kd init --kdf interactive
night 1
rm -rf "$WORK/cache-lost"
py pages "$SRC/big.db" 302 50
night 2
check "without cached signatures night 2 stores whole chunks (${DCH[lost2]} deltas)" \
    test "${DCH[lost2]}" -eq 0
check "and stored something (${ADDED[lost2]} bytes)" \
    test "${ADDED[lost2]}" -gt 0
py pages "$SRC/big.db" 303 50
night 3
check "night 3, with the catalog night 2 rebuilt, makes deltas (${DCH[lost3]})" \
    test "${DCH[lost3]}" -gt 0
tree_json 2 "$WORK/t-lost-2.json"
jcheck "night 2's tree has no delta entries" \
    'all("deltas" not in e for e in a.values())' "$WORK/t-lost-2.json"
for n in 1 2 3; do restore_same "$n"; done
check_clean

# ---------------------------------------------------------------------------
case_begin "6: a damaged delta blob, a damaged base, a missing pack"
SEC=week
SRC=$WORK/src-week
WEEK_ID=$(kd cat config | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["repository_id"])')
T7=$WORK/t-week-7.json
DELTA=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["big.db"]["deltas"][0]["delta"])' "$T7")
BASE=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["big.db"]["deltas"][-1]["bases"][0])' "$T7")

# damaged CASE HOW BLOB: in a copy of the week's repository, damages the
# pack holding BLOB (HOW: flip one byte in the middle of the blob, or rm
# the pack), then restores night 7 and checks.
damaged() {
	local sec=$1 how=$2 blob=$3 loc pack off len out f
	local -a bad
	loc=$(py locate "$WORK/cache-week" "$WEEK_ID" "$blob")
	read -r pack off len <<<"$loc"
	if [ -z "$pack" ]; then
		not_ok "$sec: blob $blob not found in the catalog"
		return
	fi
	rm -rf "$WORK/repo-$sec"
	cp -a "$WORK/repo-week" "$WORK/repo-$sec"
	SEC=$sec
	f=$WORK/repo-$sec/data/${pack:0:2}/$pack
	if [ "$how" = flip ]; then
		py flip "$f" $((off + len / 2))
		bad=("$blob")
	else
		mapfile -t bad < <(py packblobs "$WORK/cache-week" "$WEEK_ID" \
		    "$pack")
		rm -f "$f"
	fi
	py affected "$T7" "${bad[@]}" >"$WORK/affected-$sec"
	echo "# $sec: $how ${pack:0:16} at $off ($len bytes);" \
	    "affected: $(tr '\n' ' ' <"$WORK/affected-$sec")"
	check "$sec: big.db is affected" grep -qx big.db "$WORK/affected-$sec"
	check "$sec: notes.txt is not" \
	    bash -c "! grep -qx notes.txt '$WORK/affected-$sec'"
	out=$WORK/out-$sec
	E2E_WHAT="$sec: restore night 7" expect_exit 1 \
	    kdf restore "${S[week7]}" --target "$out"
	for f in big.db mid.db notes.txt; do
		if grep -qx "$f" "$WORK/affected-$sec"; then
			check "$sec: $f is left as $f.kluis-incomplete" \
			    test -f "$out$SRC/$f.kluis-incomplete" -a \
			    ! -e "$out$SRC/$f"
			expect_stderr_contains "$SRC/$f" "$sec: the file is named"
		else
			same_file "$sec: $f restores identical" \
			    "$WORK/ref-week-7/$f" "$out$SRC/$f"
		fi
	done
	rm -rf "$out"
	E2E_WHAT="$sec: check --read-data" expect_exit 1 \
	    kdf check --read-data --json
	json_check "$sec: check names the pack and every file of night 7 it costs" \
	    "{'$SRC/' + n for n in open('$WORK/affected-$sec').read().split()} <= {p for f in d['findings'] if f['object'] == 'data/${pack:0:2}/$pack' for p in f['paths']}"
	E2E_WHAT="$sec: check --read-data, text" expect_exit 1 \
	    kdf check --read-data
	expect_stdout_contains "$SRC/big.db" "$sec: the text report names the file"
	rm -rf "$WORK/repo-$sec"
}
damaged damage-delta flip "$DELTA"
damaged damage-base flip "$BASE"
damaged missing-delta rm "$DELTA"
SEC=week

# ---------------------------------------------------------------------------
case_begin "7: a backup-only key through the append-only role of sshd"
SEC=ssh
SRC=$WORK/src-ssh
mkdir -p "$SRC"
py mkbig "$SRC/big.db" $((24 * MIB)) $((300 * MIB))
echo "web01" >"$SRC/host.txt"
sshd_start
expect_exit 0 k init --kdf interactive
ln -s "$REPO" "$WORK/repo-ssh"	# kd: the full key, locally
make_password "$WORK/pw-web" "web01's passphrase"
E2E_WHAT="key add --backup-only" expect_exit 0 kd key add --backup-only \
    --out "$WORK/web01.key" --new-password-file "$WORK/pw-web" \
    --kdf interactive
# web ARGS...: web01, with its backup-only key, its catalog and the
# append-only SSH key.
web() {
	KLUIS_CACHE_DIR=$WORK/cache-web01 timeout 120 "$KLUIS" -r "$SSH_URL" \
	    --key-file "$WORK/web01.key" --password-file "$WORK/pw-web" \
	    --ssh-key "$SSH_KEY_APPEND" --ssh-known-hosts "$SSH_KH" \
	    --server-command "$KLUIS_SERVER" "$@"
}
for n in 1 2; do
	[ "$n" -eq 1 ] || py pages "$SRC/big.db" 402 100
	E2E_WHAT="web01 night $n over ssh://" expect_exit 0 \
	    web backup "$SRC" --json --delta-min-size "$MIN"
	S[ssh$n]=$(json_field snapshot_id)
	DCH[ssh$n]=$(json_field delta_chunks)
	ADDED[ssh$n]=$(json_field bytes_added)
	rm -rf "$WORK/ref-ssh-$n"
	cp -a "$SRC" "$WORK/ref-ssh-$n"
done
check "web01's night 2 stores delta chunks (${DCH[ssh2]})" \
    test "${DCH[ssh2]}" -gt 0
check "web01's night 2 adds ${ADDED[ssh2]} < 5 % of 24 MiB" \
    test "${ADDED[ssh2]}" -lt $((24 * MIB / 20))
check "the server audited web01's uploads" \
    grep -q 'client=web01.*op=put type=snapshot' "$REPO/audit.log"
E2E_WHAT="web01 cannot restore" expect_exit 12 \
    web restore "${S[ssh2]}" --target "$WORK/out-web"
restore_same 2
restore_same 1
check_clean

# ---------------------------------------------------------------------------
case_begin "8: forget --prune keeps the bases of the deltas in use"
SEC=prune
SRC=$WORK/src-depth
for n in 1 2 3; do S[prune$n]=${S[depth$n]}; done
E2E_WHAT="forget --keep-last 1 --prune --max-unused 0" expect_exit 0 \
    kd forget --keep-last 1 --prune --max-unused 0 --json
json_check "nights 1 and 2 forgotten; night 2's deltas deleted, night 1's pack (junk.bin, bases) repacked" \
    'd["removed"] == 2 and d["prune"]["packs_unused"] >= 1 and d["prune"]["packs_repacked"] >= 1 and d["prune"]["blobs_copied"] >= 1'
check "one snapshot is left" \
    test "$(find "$WORK/repo-prune/snapshots" -type f | wc -l)" -eq 1
E2E_WHAT="prune again, --json" expect_exit 0 kd prune --max-unused 0 --json
json_check "nothing left to prune" \
    'd["packs_unused"] == 0 and d["packs_repacked"] == 0'
E2E_WHAT="check --read-data after prune (a new catalog)" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-prune-after" "$KLUIS" \
    -r "$WORK/repo-prune" --password-file "$PW" check --read-data --json
json_check "no finding after prune" 'd["ok"] and d["findings"] == []'
PRUNE_ID=$(kd cat config | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["repository_id"])')
python3 -c 'import json, sys
t1, t2, t3 = (json.load(open(f))["big.db"] for f in sys.argv[1:4])
bases = {x for d in t3["deltas"] for x in d["bases"]}
print(" ".join(sorted(bases - set(t3["chunks"]))))
print(" ".join(sorted({d["delta"] for d in t2["deltas"]})))
print(" ".join(json.load(open(sys.argv[1]))["junk.bin"]["chunks"]))' \
    "$WORK/t-depth-1.json" "$WORK/t-depth-2.json" "$WORK/t-depth-3.json" \
    >"$WORK/prune-ids"
{ read -ra KEEP; read -ra GONE2; read -ra GONEJ; } <"$WORK/prune-ids"
check "night 3's bases are night 1 chunks no snapshot lists" \
    test "${#KEEP[@]}" -gt 0
check "every base of night 3's deltas is still in the repository" test \
    "$(py present "$WORK/cache-prune-after" "$PRUNE_ID" "${KEEP[@]}" |
    wc -l)" -eq "${#KEEP[@]}"
check "night 2's delta blobs (${#GONE2[@]}) are gone" test "${#GONE2[@]}" \
    -gt 0 -a -z "$(py present "$WORK/cache-prune-after" "$PRUNE_ID" \
    "${GONE2[@]}")"
check "junk.bin's chunks (${#GONEJ[@]}) are gone" test "${#GONEJ[@]}" \
    -gt 0 -a -z "$(py present "$WORK/cache-prune-after" "$PRUNE_ID" \
    "${GONEJ[@]}")"
restore_same 3

case_begin "9: the scratch path, and the connection lost at every phase"
# Delta records that do not fit the in-memory budget make their chunks
# after the pass, from bases kept in the scratch file.
SEC=week
SRC=$WORK/src-week
KLUIS_RESTORE_RECORDS_MAX=0 restore_same 7
check "no scratch file is left in the target" \
    test -z "$(find "$WORK" -maxdepth 2 -name '.kluis-delta-scratch*')"
# A server whose output stops after N bytes, N from the trees to late in
# the pass (the delta records' phase, before the pass, is among them).
# Wherever it is cut, every file the restore leaves under its own name
# is the original (the others are NAME.kluis-incomplete), and the exit
# code says the restore failed.
CUT=$WORK/cut-server
cat >"$CUT" <<CUTEOF
#!/usr/bin/env python3
import os, subprocess, sys
n = int(os.environ["KLUIS_TEST_CUT"])
p = subprocess.Popen(["$KLUIS_SERVER"] + sys.argv[1:], stdin=0,
                     stdout=subprocess.PIPE)
sent = 0
while sent < n:
    b = os.read(p.stdout.fileno(), min(65536, n - sent))
    if not b:
        break
    os.write(1, b)
    sent += len(b)
p.kill()
os._exit(0)
CUTEOF
chmod 755 "$CUT"
for cut in 50000 150000 400000 1000000 3000000 10000000; do
	out=$WORK/out-cut-$cut
	rm -rf "$out"
	E2E_WHAT="restore, the server's output cut after $cut bytes" \
	    expect_exit 1 env KLUIS_TEST_CUT=$cut \
	    KLUIS_CACHE_DIR=$WORK/cache-cut-$cut "$KLUIS" \
	    -r "pipe:$WORK/repo-week" --server-command "$CUT" \
	    --password-file "$PW" restore "${S[week7]}" --target "$out"
	bad=
	for f in "$WORK/ref-week-7"/*; do
		got=$out$SRC/${f##*/}
		if [ -e "$got" ] && ! cmp -s "$f" "$got"; then
			bad="$bad ${f##*/}"
		fi
	done
	check "cut at $cut: no file under its own name differs (${bad:-none})" \
	    test -z "$bad"
	rm -rf "$out"
done

check "every helper run succeeded" test ! -s "$WORK/py-failed"
e2e_finish
