#!/usr/bin/env bash
# End-to-end test of `kluis-server verify` (docs/FORMAT.md §1): builds a
# small repository by hand, with files named by the BLAKE2b-256 of their
# bytes, and checks the reports and exit codes for clean, corrupt, stray,
# not-a-repository and usage-error cases.
#
# usage: server_verify.sh /path/to/kluis-server
set -u

SERVER=${1:?usage: server_verify.sh /path/to/kluis-server}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kluis-e2e-verify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

pass=0
fail=0
OUT=$WORK/out
ERR=$WORK/err

ok() {
	pass=$((pass + 1))
	echo "ok: $1"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL: $1"
	sed 's/^/  stdout: /' "$OUT"
	sed 's/^/  stderr: /' "$ERR"
}

# run EXPECTED_EXIT ARGS...: runs the server, output in $OUT and $ERR.
run() {
	local want=$1
	shift
	"$SERVER" "$@" >"$OUT" 2>"$ERR"
	rc=$?
	[ "$rc" -eq "$want" ]
}

# check NAME EXPECTED_EXIT PATTERN ARGS...: exit code and an output line.
check() {
	local name=$1 want=$2 pat=$3
	shift 3
	if run "$want" "$@" && grep -qE -- "$pat" "$OUT" "$ERR"; then
		ok "$name"
	else
		not_ok "$name (exit $rc, wanted $want and /$pat/)"
	fi
}

# put DIR CONTENT: stores CONTENT under DIR/<blake2b-256>, echoes the name.
put() {
	local dir=$1 h
	h=$(printf '%s' "$2" | b2sum -l 256 | cut -d' ' -f1)
	if [ "$dir" = data ]; then
		dir=data/${h:0:2}
	fi
	mkdir -p "$REPO/$dir"
	printf '%s' "$2" >"$REPO/$dir/$h"
	echo "$dir/$h"
}

REPO=$WORK/repo
mkdir -p "$REPO"
printf 'any config bytes' >"$REPO/config"
DATA1=$(put data "a pack of encrypted blobs")
DATA2=$(put data "another pack")
INDEX1=$(put index "an index file")
SNAP1=$(put snapshots "a snapshot")
BYTES=$(cat "$REPO/$DATA1" "$REPO/$DATA2" "$REPO/$INDEX1" "$REPO/$SNAP1" |
    wc -c)

check "clean repository exits 0 with summary" 0 \
    "^verified 4 files, $BYTES bytes: 0 corrupt, 0 stray$" \
    verify --repo "$REPO"

check "clean repository --json reports nothing" 0 \
    "^\{\"files\":4,\"bytes\":$BYTES,\"corrupt\":\[\],\"stray\":\[\],\"unreadable\":\[\]\}$" \
    verify --repo "$REPO" --json

touch "$REPO/index/.tmp-0123456789abcdef"
check "temporary files are skipped" 0 "0 corrupt, 0 stray" \
    verify --repo="$REPO"
rm -f "$REPO/index/.tmp-0123456789abcdef"

# Flip the first byte ('a' -> 'A') of one data file.
printf 'A' | dd of="$REPO/$DATA1" bs=1 seek=0 conv=notrunc status=none
check "flipped byte is reported corrupt" 1 \
    "^corrupt: $DATA1 \(content hash [0-9a-f]{64}\)$" \
    verify --repo "$REPO"
check "summary counts the corrupt file" 1 \
    "^verified 4 files, $BYTES bytes: 1 corrupt, 0 stray$" \
    verify --repo "$REPO"
check "--json names the corrupt file" 1 "\"corrupt\":\[\"$DATA1\"\]" \
    verify --repo "$REPO" --json

printf 'junk' >"$REPO/snapshots/not-a-hash"
check "stray file is reported" 1 "^stray: snapshots/not-a-hash$" \
    verify --repo "$REPO"
check "--json names the stray file" 1 \
    "\"stray\":\[\"snapshots/not-a-hash\"\]" verify --repo "$REPO" --json

# A valid name in the wrong fan-out directory is stray too.
h=${DATA2##*/}
wrong=00
[ "${h:0:2}" = 00 ] && wrong=01
mkdir -p "$REPO/data/$wrong"
cp "$REPO/$DATA2" "$REPO/data/$wrong/$h"
check "file in the wrong data/xx directory is stray" 1 \
    "^stray: data/$wrong/$h$" verify --repo "$REPO"

mkdir -p "$WORK/norepo/data"
check "directory without config exits 10" 10 "not a repository" \
    verify --repo "$WORK/norepo"
check "missing directory exits 10" 10 "not a repository" \
    verify --repo "$WORK/does-not-exist"

check "no command is a usage error" 2 "usage:"
check "unknown command is a usage error naming the valid ones" 2 \
    "unknown command 'frobnicate'.*serve.*verify.*version" frobnicate
check "verify without --repo is a usage error" 2 "--repo DIR is required" \
    verify
check "verify with an unknown option is a usage error" 2 \
    "unknown option --bogus" verify --repo "$REPO" --bogus
check "--help lists verify" 0 "verify --repo DIR" --help
check "version prints the version" 0 "^kluis-server [0-9]" version

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
