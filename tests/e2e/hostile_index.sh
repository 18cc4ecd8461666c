#!/usr/bin/env bash
# Issue #10 finding 1, played by the attacker: a compromised city server
# (web01) holding only its backup-only key file, its passphrase and its
# append-only SSH key writes hostile index files through a real sshd:
#   - restore denial: every entry of every index file copied into one
#     index file that names a pack that does not exist, sealed until its
#     name sorts first;
#   - dedup poisoning: the chunk ids of a file another host (db01) is
#     expected to back up, claimed by a pack of garbage.
# db01's backups and every restore from a fresh catalog (a new machine)
# must be unaffected; check must name the bogus files; only a full key
# can quarantine them, after which check is clean.
#
# usage: hostile_index.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: hostile_index.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: hostile_index.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: hostile_index.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init hostile-index

W=$SSH_KEY_APPEND		# web01: the compromised host
DB=$(ssh_add_key db01 \
    "command=\"$KLUIS_SERVER serve --append-only --repo $REPO --client-name db01\",restrict")

# kb CACHE ARGS...: kluis as db01 (its own key file and catalog).
kb() {
	local cache=$1
	shift
	KLUIS_CACHE_DIR=$WORK/$cache ks "$DB" --key-file "$WORK/db01.key" "$@"
}

# kw CACHE ARGS...: kluis as web01 with its own key file and catalog (what
# the attacker runs on the compromised host).
kw() {
	local cache=$1
	shift
	KLUIS_CACHE_DIR=$WORK/$cache ks "$W" --key-file "$WORK/web01.key" "$@"
}

# attack ARGS...: kluis-hostile as web01, over its append-only SSH key.
attack() {
	HS_TIMEOUT=120 hs "$WORK/web01.key" "$PW" "$@"
}

# ---------------------------------------------------------------------------
case_begin "set-up: a repository, a backup-only key per host, db01 backs up"
E2E_WHAT="init (full key)" expect_exit 0 k init --kdf interactive
for h in web01 db01; do
	E2E_WHAT="backup-only key for $h" expect_exit 0 \
	    k key add --backup-only --out "$WORK/$h.key" \
	    --new-password-file "$PW" --kdf interactive --label "$h"
done
SRC=$WORK/db-data
mkdir -p "$SRC/etc" "$SRC/bin"
cp -r /usr/include/linux "$SRC/etc/" 2>/dev/null
cp /usr/bin/ls "$SRC/bin/ls-copy"
E2E_WHAT="db01 backs up over its append-only key" expect_exit 0 \
    kb db01-cache backup "$SRC" --host db01 --json
DBSNAP=$(json_field snapshot_id 2>/dev/null)
check "db01's backup wrote a snapshot" test -n "$DBSNAP"

# ---------------------------------------------------------------------------
case_begin "restore denial: a bogus index naming every blob in a pack that does not exist"
E2E_WHAT="web01 plants the bogus index file" expect_exit 0 \
    attack index-missing-pack
GHOST_IX=$(awk '$1 == "index" { print $2 }' "$OUT")
check "the bogus index file is in the repository" test -f "$REPO/index/$GHOST_IX"
check "its name sorts before every other index file" \
    test "$(ls "$REPO/index" | LC_ALL=C sort | head -n 1)" = "$GHOST_IX"
check "the audit log names web01 as its uploader" \
    grep -q "web01.*$GHOST_IX" "$REPO/audit.log"
E2E_WHAT="a new machine restores db01's snapshot" expect_exit 0 \
    fresh r1 restore "$DBSNAP" --target "$WORK/out1"
treecmp "every file of db01 is restored, identical" "$SRC" "$WORK/out1$SRC"
expect_stderr_contains "not in the repository"
E2E_WHAT="catalog rebuild and a restore from it" expect_exit 0 \
    fresh r1 catalog rebuild
E2E_WHAT="restore after the rebuild" expect_exit 0 \
    fresh r1 restore "$DBSNAP" --target "$WORK/out1b"
treecmp "the restore after a rebuild is identical" "$SRC" "$WORK/out1b$SRC"

# ---------------------------------------------------------------------------
case_begin "dedup poisoning: web01 claims the chunks of a file db01 will back up"
cp /usr/bin/ls "$WORK/predicted"
printf 'a new build of ls\n' >>"$WORK/predicted"
E2E_WHAT="web01 claims the predicted file's chunks with a pack of garbage" \
    expect_exit 0 attack index-predict "$WORK/predicted"
FAKE_PACK=$(awk '$1 == "pack" { print $2 }' "$OUT")
FAKE_IX=$(awk '$1 == "index" { print $2 }' "$OUT")
check "the garbage pack is in the repository" \
    test -f "$REPO/data/${FAKE_PACK:0:2}/$FAKE_PACK"
cp "$WORK/predicted" "$SRC/bin/ls-new"
SIZE=$(stat -c %s "$WORK/predicted")
for cache in db01-cache db01-newcache; do
	E2E_WHAT="db01 backs up the new file (catalog $cache)" expect_exit 0 \
	    kb "$cache" backup "$SRC" --host db01 --json
	check "db01 uploaded the file it was told is stored ($cache: added $(json_field bytes_added) of $SIZE)" \
	    test "$(json_field bytes_added 2>/dev/null || echo 0)" -gt $((SIZE / 3))
done
DBSNAP2=$(json_field snapshot_id 2>/dev/null)
E2E_WHAT="a new machine restores the new snapshot" expect_exit 0 \
    fresh r2 restore "$DBSNAP2" --target "$WORK/out2"
treecmp "the new file is restored, identical" "$SRC" "$WORK/out2$SRC"

# ---------------------------------------------------------------------------
case_begin "check names the bogus files; only a full key quarantines them"
E2E_WHAT="check finds the bogus index files" expect_exit 1 fresh c1 check
expect_out "bogus: index/$GHOST_IX" "the restore-denial index"
E2E_WHAT="check --read-data finds the fake pack" expect_exit 1 \
    fresh c1 check --read-data
expect_out "bogus: index/$FAKE_IX" "the poisoning index"
expect_out "data/${FAKE_PACK:0:2}/$FAKE_PACK" "the pack of garbage"
E2E_WHAT="a backup-only key cannot quarantine" expect_exit 12 \
    kw web01-cache quarantine "$GHOST_IX"
E2E_WHAT="the full key quarantines the three files" expect_exit 0 \
    fresh c1 quarantine "index/$GHOST_IX" "$FAKE_IX" "$FAKE_PACK"
E2E_WHAT="check --read-data is clean afterwards" expect_exit 0 \
    fresh c2 check --read-data
expect_out "withdrawn by a full key"
check "the quarantined files stay in the repository as evidence" \
    test -f "$REPO/index/$GHOST_IX" -a -f "$REPO/data/${FAKE_PACK:0:2}/$FAKE_PACK"
E2E_WHAT="a restore after the quarantine" expect_exit 0 \
    fresh r3 restore "$DBSNAP2" --target "$WORK/out3"
treecmp "the restore after the quarantine is identical" "$SRC" "$WORK/out3$SRC"

# ---------------------------------------------------------------------------
case_begin "a verified check lets other hosts deduplicate again"
cp /usr/bin/cp "$WORK/shared-bin"
cp "$WORK/shared-bin" "$SRC/bin/"
E2E_WHAT="db01 backs up a new shared file" expect_exit 0 \
    kb db01-cache backup "$SRC" --host db01 --json
mkdir -p "$WORK/web-data"
cp "$WORK/shared-bin" "$WORK/web-data/"
E2E_WHAT="web01 backs up the same file before any check" expect_exit 0 \
    kw web01-cache backup "$WORK/web-data" --host web01 --json
check "without a full key's word web01 uploads it again" \
    test "$(json_field bytes_added 2>/dev/null || echo 0)" -gt 10000
E2E_WHAT="the operator's check --read-data vouches for the packs" \
    expect_exit 0 fresh c3 check --read-data
expect_out "vouched for"
echo extra >>"$WORK/web-data/notes"
cp "$WORK/shared-bin" "$WORK/web-data/shared-bin-2"
E2E_WHAT="web01 backs up another copy" expect_exit 0 \
    kw web01-cache2 backup "$WORK/web-data" --host web01 --json
check "attested data is deduplicated by another host (added $(json_field bytes_added))" \
    test "$(json_field bytes_added 2>/dev/null || echo 999999)" -lt 10000

e2e_finish
