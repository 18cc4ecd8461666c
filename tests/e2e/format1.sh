#!/usr/bin/env bash
# A repository of format 1 (tests/vectors/repo-v1, written before issue
# #10) keeps working with this kluis and is upgraded by use
# (docs/FORMAT.md, docs/RUNBOOK.md §7 "Upgrading a repository to format
# 2"): its full key of version 1 restores, checks and signs; its
# backup-only key of version 1 still backs up, deduplicating against its
# own data only; a backup-only key issued now (version 2) deduplicates
# against what a check vouched for.
#
# usage: format1.sh KLUIS
KLUIS=${1:?usage: format1.sh KLUIS}
. "$(dirname "$0")/lib.sh"
e2e_init format1

FIX=$E2E_DIR/../vectors/repo-v1
mkdir -p "$REPO"
cp -r "$FIX/config" "$FIX/keys" "$FIX/data" "$FIX/index" "$FIX/snapshots" \
    "$REPO/"
for d in $(printf '%02x ' $(seq 0 255)); do mkdir -p "$REPO/data/$d"; done
mkdir -p "$REPO/locks"
find "$REPO" -type f -exec chmod 0400 {} +
# the fixture's files as received a year ago: what kluis writes is newer
find "$REPO" -type f -exec touch -h -d '-1 year' {} +
cp "$FIX/pw" "$PW"
cp "$FIX/backup-v1.key" "$WORK/backup-v1.key"
chmod 600 "$PW" "$WORK/backup-v1.key"
SNAP=dbf692574c3afda25d55584b85514355301e8978f665ba520baf4b90a4b903bb
SRC=/tmp/v1fix/src

# kb KEY CACHE ARGS...: kluis with a backup-only key file and a catalog of
# its own.
kb() {
	local key=$1 cache=$2
	shift 2
	KLUIS_CACHE_DIR=$WORK/$cache "$KLUIS" -r "$REPO" --key-file "$key" \
	    --password-file "$PW" "$@"
}

# version FILE: the version field of a key file (bytes 8-9, little-endian).
version() {
	od -An -tu2 -j8 -N2 "$1" | tr -d ' '
}

case_begin() { echo "# --- $1"; }

# ---------------------------------------------------------------------------
case_begin "the full key of version 1 restores and checks"
check "the fixture's full key file is of version 1" \
    test "$(version "$REPO"/keys/*)" = 1
E2E_WHAT="restore the format-1 snapshot" expect_exit 0 \
    k restore "$SNAP" --target "$WORK/out"
check "app.conf is restored byte for byte" test "$(sha256sum <"$WORK/out$SRC/etc/app.conf" | cut -c1-64)" = \
    5a8abe74347af33379aff56cad2dfe5476cde8602367fe27624218a5b8cf879f
check "blob.bin is restored byte for byte" test "$(sha256sum <"$WORK/out$SRC/data/blob.bin" | cut -c1-64)" = \
    2578f1c38b53506a012f74ff776898635f478a1afa25af1f0be600999c020fa7
check "the symbolic link is restored" test "$(readlink "$WORK/out$SRC/etc/link")" = app.conf
E2E_WHAT="check of the format-1 repository" expect_exit 0 k check
E2E_WHAT="check --read-data vouches for its packs" expect_exit 0 \
    k check --read-data
expect_stdout_contains "vouched for 2 verified packs"
NEWIX=$(find "$REPO/index" -type f -newer "$REPO/config" | head -n 1)
check "the vouching index file is of version 2, signed (flags 1)" \
    test "$(od -An -tu4 -j8 -N8 "$NEWIX" | tr -s ' ')" = " 2 1"

# ---------------------------------------------------------------------------
case_begin "the backup-only key of version 1 still backs up"
mkdir -p "$WORK/src"
cp "$WORK/out$SRC/data/blob.bin" "$WORK/src/"
echo "new with format 2" >"$WORK/src/new"
E2E_WHAT="backup with the version-1 backup-only key" expect_exit 0 \
    kb "$WORK/backup-v1.key" c-v1 backup "$WORK/src" --host web01 --json
check "without sign_pk it trusts no signature: it uploads blob.bin again" \
    test "$(json_field bytes_added)" -gt 600000
E2E_WHAT="the full key restores that backup" expect_exit 0 \
    k restore "$(json_field snapshot_id)" --target "$WORK/out2"
treecmp "the new backup is complete" "$WORK/src" "$WORK/out2$WORK/src"

# ---------------------------------------------------------------------------
case_begin "a backup-only key issued now is of version 2 and deduplicates"
E2E_WHAT="key add --backup-only" expect_exit 0 \
    k key add --backup-only --out "$WORK/backup-v2.key" \
    --new-password-file "$PW" --kdf interactive --label web02
check "the new key file is of version 2" \
    test "$(version "$WORK/backup-v2.key")" = 2
E2E_WHAT="check --read-data vouches for the new packs" expect_exit 0 \
    k check --read-data
mkdir -p "$WORK/src3"
cp "$WORK/src/blob.bin" "$WORK/src3/"
E2E_WHAT="backup with the version-2 backup-only key" expect_exit 0 \
    kb "$WORK/backup-v2.key" c-v2 backup "$WORK/src3" --host web02 --json
check "it deduplicates against what the check vouched for" \
    test "$(json_field bytes_added)" -lt 100000
E2E_WHAT="the version-1 backup-only key, fresh catalog" expect_exit 0 \
    kb "$WORK/backup-v1.key" c-v1b backup "$WORK/src3" --host web01 --json
check "the version-1 key still uploads it (re-issue old key files)" \
    test "$(json_field bytes_added)" -gt 600000

e2e_finish
