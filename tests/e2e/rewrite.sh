#!/usr/bin/env bash
# Issue #11 section 4: erasure of personal data with kluis rewrite.
#   A data-protection officer asks to erase citizen Jansen's files from all
#   backups.  Three snapshots hold citizens/jansen.pdf (content nobody else
#   has) and citizens/jansen-form.pdf (the same bytes as shared/form.pdf,
#   which stays).  `rewrite --exclude "$SRC/citizens/jansen*" --forget`
#   writes three new snapshots without them (same host, paths, time; the
#   parent names the original), forgets the originals, and names every
#   path it left out in JSON the officer can file; --dry-run changes
#   nothing.  prune through kluis-server (delete delay 2 s) then leaves no
#   location of jansen.pdf's blobs that any key holder can find (index
#   files, pack headers: kluis-hostile blob-where) while the trash still
#   holds their encrypted bytes until purge; after `kluis-server purge`
#   the encrypted bytes of those blobs are nowhere in the repository
#   directory.  The shared content stays (its blobs and shared/form.pdf
#   restore identical), and check --read-data passes.  A backup-only key
#   cannot rewrite (exit 12); no --exclude is a usage error.  A hacked
#   host's snapshot of 2^40 paths (kluis-hostile tree-dag) is given up
#   within its walk budget and named (exit 1); the others are rewritten.
#
# usage: rewrite.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: rewrite.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: rewrite.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: rewrite.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/lib.sh"
e2e_init rewrite
export TZ=UTC
SRC=$WORK/src

case_begin() {
	echo "# --- $1"
}

# chunks SNAPSHOT PATH: the chunk ids of the file at PATH in SNAPSHOT.
chunks() {
	python3 - "$KLUIS" "$REPO" "$PW" "$1" "$2" <<'EOF'
import json, subprocess, sys
kluis, repo, pw, snap, path = sys.argv[1:6]
def k(*a):
    return json.loads(subprocess.run([kluis, "-r", repo, "--password-file",
        pw] + list(a), check=True, capture_output=True).stdout)
tree = k("cat", "snapshot", snap)["tree"]
parts = [p for p in path.split("/") if p]
for i, name in enumerate(parts):
    node = [n for n in k("cat", "tree", tree) if n["name"] == name][0]
    if i == len(parts) - 1:
        print("\n".join(node["chunks"]))
    else:
        tree = node["subtree"]
EOF
}

# where IDS_FILE: every location of those blobs any key holder finds.
where() {
	# shellcheck disable=SC2046
	"$HOSTILE" -r "$REPO" --key-file "$WORK/web01.key" \
	    --password-file "$WORK/pw-web" blob-where $(cat "$1")
}

# found_raw SAMPLES: how many of the sampled encrypted blobs occur in any
# file under $REPO (trash included).
found_raw() {
	python3 - "$1" "$REPO" <<'EOF'
import os, sys
samples = [bytes.fromhex(l.strip()) for l in open(sys.argv[1]) if l.strip()]
blobs = []
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        blobs.append(open(os.path.join(root, f), "rb").read())
print(sum(1 for s in samples if any(s in b for b in blobs)))
EOF
}

# ---------------------------------------------------------------------------
case_begin "three backups with citizen Jansen's files"
mkdir -p "$SRC/citizens" "$SRC/shared"
head -c 3000000 /dev/urandom >"$SRC/citizens/jansen.pdf"
head -c 2000000 /dev/urandom >"$SRC/citizens/peeters.pdf"
head -c 1500000 /dev/urandom >"$SRC/shared/form.pdf"
cp "$SRC/shared/form.pdf" "$SRC/citizens/jansen-form.pdf"
find /usr/share/doc -maxdepth 2 -type f -size -64k 2>/dev/null |
    LC_ALL=C sort | head -n 20 | while read -r f; do
	cp "$f" "$SRC/shared/$(echo "${f#/usr/share/doc/}" | tr / _)"
done
expect_exit 0 k init --kdf interactive
SNAPS=()
for night in 1 2 3; do
	echo "night $night" >"$SRC/shared/log.txt"
	E2E_WHAT="backup $night" expect_exit 0 k backup "$SRC" --json
	SNAPS+=("$(json_field snapshot_id)")
done
cp -a "$SRC" "$WORK/expected"
rm -f "$WORK/expected/citizens/jansen.pdf" \
    "$WORK/expected/citizens/jansen-form.pdf"
touch -r "$SRC/citizens" "$WORK/expected/citizens"
make_password "$WORK/pw-web" "web01 backup passphrase"
expect_exit 0 k key add --backup-only --out "$WORK/web01.key" \
    --new-password-file "$WORK/pw-web" --kdf interactive
chunks "${SNAPS[2]}" "$SRC/citizens/jansen.pdf" >"$WORK/x.ids"
chunks "${SNAPS[2]}" "$SRC/shared/form.pdf" >"$WORK/s.ids"
check "jansen.pdf has chunks ($(wc -l <"$WORK/x.ids"))" test -s "$WORK/x.ids"
where "$WORK/x.ids" >"$WORK/x.where"
check "blob-where finds them before" test -s "$WORK/x.where"
# the first 64 encrypted bytes of each stored blob of jansen.pdf
awk '$5 == "index"' "$WORK/x.where" | while read -r _ pack off _ _; do
	dd if="$REPO/data/${pack:0:2}/$pack" bs=1 skip="$off" count=64 \
	    status=none | od -An -tx1 | tr -d ' \n'
	echo
done | sort -u >"$WORK/x.raw"
check "the raw bytes are in the repository before" \
    test "$(found_raw "$WORK/x.raw")" -eq "$(wc -l <"$WORK/x.raw")"

case_begin "rewrite --dry-run, usage, a backup-only key"
file_sum() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z |
	    xargs -0 -r b2sum)
}
file_sum "$REPO" >"$WORK/sum0"
E2E_WHAT="rewrite --dry-run" expect_exit 0 k rewrite \
    --exclude "$SRC/citizens/jansen*" --dry-run --json
json_check "the dry run names both files in all three snapshots" \
    'd["dry_run"] and len(d["snapshots"]) == 3 and all(sorted(p.rsplit("/",1)[1] for p in s["paths"]) == ["jansen-form.pdf", "jansen.pdf"] for s in d["snapshots"]) and d["rewritten"] == 0'
file_sum "$REPO" >"$WORK/sum1"
check "the dry run changed no byte" cmp -s "$WORK/sum0" "$WORK/sum1"
E2E_WHAT="rewrite without --exclude" expect_exit 2 k rewrite --forget
E2E_WHAT="rewrite with a backup-only key" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/web01.key" \
    --password-file "$WORK/pw-web" rewrite --exclude '*/jansen*'

case_begin "a hacked host's snapshot of 2^40 paths"
E2E_WHAT="web01 writes a tree DAG of depth 40" expect_exit 0 "$HOSTILE" \
    -r "$REPO" --key-file "$WORK/web01.key" --password-file "$WORK/pw-web" \
    tree-dag 40
DAG=$(awk '/^snapshot /{ print $2 }' "$OUT" | tail -n 1)
check "its snapshot id was printed" test -n "$DAG"
E2E_WHAT="rewrite --dry-run goes past it, naming it" expect_exit 1 \
    timeout 120 "$KLUIS" -r "$REPO" --password-file "$PW" rewrite \
    --exclude "$SRC/citizens/jansen*" --dry-run --json
expect_stderr_contains "kluis backup never writes this"
json_check "the three real snapshots are planned, the DAG is not" \
    'd["not_rewritten"] == 1 and sum(1 for s in d["snapshots"] if s["changed"]) == 3'
E2E_WHAT="the operator forgets the planted snapshot" expect_exit 0 \
    k forget "$DAG"

case_begin "rewrite --forget"
E2E_WHAT="rewrite --exclude SRC/citizens/jansen* --forget --json" \
    expect_exit 0 k rewrite --exclude "$SRC/citizens/jansen*" --forget --json
cp "$OUT" "$WORK/erasure.json"
json_check "three snapshots rewritten, the originals forgotten" \
    'd["rewritten"] == 3 and d["forgotten"] == 3 and d["failed"] == 0 and all(s["files"] == 2 and s["bytes"] == 4500000 for s in d["snapshots"])'
E2E_WHAT="snapshots" expect_exit 0 k snapshots --json
check "three snapshots, none of them an original" python3 -c '
import json, sys
now = json.load(open(sys.argv[1]))
orig = set(sys.argv[2:])
sys.exit(0 if len(now) == 3 and not orig & {s["id"] for s in now} else 1)' \
    "$OUT" "${SNAPS[@]}"
NEW=$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join(s["rewritten"] for s in d["snapshots"]))' "$WORK/erasure.json")
for s in $NEW; do
	E2E_WHAT="cat snapshot ${s:0:8}" expect_exit 0 k cat snapshot "$s"
	check "${s:0:8} keeps host, paths and time, and names its original" \
	    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
e = json.load(open(sys.argv[2]))
orig = [x["original"] for x in e["snapshots"] if x["rewritten"] == sys.argv[3]][0]
sys.exit(0 if d["parent"] == orig and d["program"].endswith(" rewrite") and d["paths"] == [sys.argv[4]] else 1)' \
	    "$OUT" "$WORK/erasure.json" "$s" "$SRC"
done
rm -rf "$WORK/out"
E2E_WHAT="restore the newest rewritten snapshot" expect_exit 0 \
    k restore latest --target "$WORK/out"
treecmp "it is the source without Jansen's files" "$WORK/expected" \
    "$WORK/out$SRC"

case_begin "prune through kluis-server, then purge"
cat >"$WORK/srv.sh" <<EOF
#!/bin/sh
# kluis-server with a delete delay of 2 s (the client appends serve ...)
cmd=\$1
shift
exec "$KLUIS_SERVER" "\$cmd" --delete-delay 2s "\$@"
EOF
chmod +x "$WORK/srv.sh"
E2E_WHAT="prune through the server" expect_exit 0 \
    "$KLUIS" -r "pipe:$REPO" --server-command "$WORK/srv.sh" \
    --password-file "$PW" prune --json
json_check "packs went to the server's trash" \
    'not d["deletes_at_once"] and d["removed"] >= 1'
where "$WORK/x.ids" >"$WORK/x.where2"
check "no key holder finds a location of jansen.pdf's blobs" \
    test ! -s "$WORK/x.where2"
where "$WORK/s.ids" >"$WORK/s.where"
check "the shared content's blobs are still there" test -s "$WORK/s.where"
check "the trash still holds jansen.pdf's encrypted bytes (the delay)" \
    test "$(found_raw "$WORK/x.raw")" -ge 1
sleep 2.5
E2E_WHAT="kluis-server purge" expect_exit 0 "$KLUIS_SERVER" purge \
    --repo "$REPO"
check "after purge jansen.pdf's encrypted bytes are nowhere" \
    test "$(found_raw "$WORK/x.raw")" -eq 0
E2E_WHAT="check --read-data after the erasure" expect_exit 0 \
    k check --read-data
rm -rf "$WORK/out"
E2E_WHAT="restore after the erasure" expect_exit 0 \
    k restore latest --target "$WORK/out"
treecmp "the shared form and every other file restore identical" \
    "$WORK/expected" "$WORK/out$SRC"

e2e_finish
