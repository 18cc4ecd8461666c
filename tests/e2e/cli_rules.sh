#!/usr/bin/env bash
# Command-line rules that protect operators: key files are never
# overwritten, new passphrases never come from KLUIS_PASSWORD_COMMAND and
# are never empty, operating-system refusals are not "wrong key" (12),
# listings and restores name what is missing, damaged index files are
# skipped, reported and repaired by the next backup.
# usage: cli_rules.sh KLUIS
set -u
KLUIS=$1
. "$(dirname "$0")/lib.sh"
e2e_init cli-rules

E2E_WHAT="init"
expect_exit 0 k init --kdf interactive

# --- --version wins over the command; "--" before the command ends options
E2E_WHAT="backup ... --version prints the version and backs up nothing" \
    expect_exit 0 k backup "$WORK/src" --version
expect_stdout_contains "repository format"
check "no snapshot was written" test "$(snapshot_count)" -eq 0
E2E_WHAT="-- before the command word: --json is an argument" expect_exit 2 \
    k -- snapshots --json
expect_stderr_contains "usage: kluis snapshots"

# --- a backup-only key is refused snapshots even on an empty repository
# (RUNBOOK §2.3 checks a new host's key that way), and key list says so
# when keys/ holds no key file (the key is kept outside)
make_password "$WORK/pbo" "backup-only passphrase"
E2E_WHAT="key add --backup-only" expect_exit 0 k key add --backup-only \
    --out "$WORK/bo.key" --new-password-file "$WORK/pbo" --kdf interactive
E2E_WHAT="snapshots with a backup-only key, no snapshot yet" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/bo.key" --password-file \
    "$WORK/pbo" snapshots
expect_stderr_contains "backup-only key"
mkdir -p "$WORK/extkey"
E2E_WHAT="init with the key kept outside" expect_exit 0 "$KLUIS" \
    -r "$WORK/repo-ext" --password-file "$PW" --key-file "$WORK/extkey/k" \
    init --kdf interactive
E2E_WHAT="key list with no key file in keys/" expect_exit 0 "$KLUIS" \
    -r "$WORK/repo-ext" --password-file "$PW" --key-file "$WORK/extkey/k" \
    key list
expect_stdout_contains "no key files in the repository's keys/"
mkdir -p "$WORK/src/a" "$WORK/src/b"
echo one > "$WORK/src/a/f1"
head -c 200000 /dev/urandom > "$WORK/src/b/f2"
E2E_WHAT="first backup"
expect_exit 0 k backup "$WORK/src" -q

# --- key files are never overwritten
echo "precious" > "$WORK/existing.key"
make_password "$WORK/p2" "second passphrase"
E2E_WHAT="key add --out onto an existing file"
expect_exit 1 k key add --out "$WORK/existing.key" --new-password-file "$WORK/p2" --kdf interactive
expect_stderr_contains "already exists"
check "the existing file is untouched" grep -qx precious "$WORK/existing.key"
E2E_WHAT="init --key-file onto an existing file"
expect_exit 1 "$KLUIS" -r "$WORK/repo2" --password-file "$PW" --key-file "$WORK/existing.key" init --kdf interactive
expect_stderr_contains "already exists"
check "no repository was created" test ! -e "$WORK/repo2"
check "the existing key file is untouched" grep -qx precious "$WORK/existing.key"

# --- new passphrases
E2E_WHAT="key add with only KLUIS_PASSWORD_COMMAND and no terminal"
KLUIS_PASSWORD_COMMAND="cat $PW" expect_exit 1 "$KLUIS" -r "$REPO" key add --out "$WORK/k3" --kdf interactive </dev/null
expect_stderr_contains "--new-password-file"
check "no key file was written" test ! -e "$WORK/k3"
: > "$WORK/empty"
E2E_WHAT="key add with an empty new passphrase"
expect_exit 1 k key add --out "$WORK/k4" --new-password-file "$WORK/empty" --kdf interactive
expect_stderr_contains "empty"
E2E_WHAT="an empty KLUIS_PASSWORD_FILE counts as unset"
KLUIS_PASSWORD_FILE= expect_exit 1 "$KLUIS" -r "$REPO" snapshots </dev/null
expect_stderr_contains "no repository passphrase given"

# --- the operating system refusing is exit 1, not 12
if command -v setpriv >/dev/null; then
	chmod 700 "$REPO"
	E2E_WHAT="a repository the user may not read"
	expect_exit 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$KLUIS" -r "$REPO" --password-file /dev/null snapshots
	expect_stderr_contains "permission denied by the operating system"
	chmod 755 "$REPO"
fi

# --- listings and restores name what is missing
E2E_WHAT="ls of a path that is not in the snapshot"
expect_exit 1 k ls latest /no/such/path
expect_stderr_contains "is not in the snapshot"
E2E_WHAT="restore --include of a missing path"
expect_exit 1 k restore latest --target "$WORK/r1" --include /no/such/path
expect_stderr_contains "is not in the snapshot"
check "nothing was created in the target" test -z "$(ls -A "$WORK/r1" 2>/dev/null)"
touch "$WORK/afile"
E2E_WHAT="restore into a regular file"
expect_exit 1 k restore latest --target "$WORK/afile"
expect_stderr_contains "not a directory"
E2E_WHAT="restore below a missing parent"
expect_exit 1 k restore latest --target "$WORK/missing/parent/dir"
expect_stderr_contains "target directory"

# --- backup-only keys: stats does not pretend there are no snapshots
E2E_WHAT="key add --backup-only"
expect_exit 0 k key add --backup-only --out "$WORK/bk.key" --new-password-file "$WORK/p2" --kdf interactive
E2E_WHAT="stats with a backup-only key"
expect_exit 0 "$KLUIS" -r "$REPO" --key-file "$WORK/bk.key" --password-file "$WORK/p2" stats --json
check "snapshots is null, not 0" test "$(json_field snapshots)" = None

# --- a damaged index file is skipped, reported, and repaired
idx=$(find "$REPO/index" -type f ! -name '.*' | head -n 1)
chmod u+w "$idx"
printf 'X' | dd of="$idx" bs=1 seek=40 conv=notrunc 2>/dev/null
E2E_WHAT="restore with a damaged index file the catalog already holds"
expect_exit 0 k restore latest --target "$WORK/r-warm"
treecmp "the catalog's verified copy of the index keeps restores whole" \
	"$WORK/src" "$WORK/r-warm$WORK/src"
# The client that wrote the packs, after rebuilding its catalog, reads the
# damaged file: it is skipped and reported, and the packs it named are
# found through their own headers - its own, so they are adopted, not
# uploaded again (another client's packs never are: issue #10).
E2E_WHAT="catalog rebuild with a damaged index file"
expect_exit 1 k catalog rebuild
echo two > "$WORK/src/a/f3"
E2E_WHAT="backup with a damaged index file"
expect_exit 0 k backup "$WORK/src" --json
expect_stderr_contains "skipped a damaged repository file: index/"
check "the backup reports the damage" test "$(json_field repository_damage)" = 1
check "its own packs behind the damaged index are not uploaded again" \
	test "$(json_field bytes_added)" -lt 100000
# A client without that catalog (another machine, a lost cache) names the
# damaged file too; the adopting backup's index file is signed by the full
# key, so it deduplicates against those packs as well.
export KLUIS_CACHE_DIR=$WORK/cache-fresh
echo three > "$WORK/src/a/f3"
E2E_WHAT="backup with a damaged index file, another client"
expect_exit 0 k backup "$WORK/src" --json
expect_stderr_contains "skipped a damaged repository file: index/"
check "the adopted packs are deduplicated by another client" \
	test "$(json_field bytes_added)" -lt 100000
E2E_WHAT="stats exits 1 while the repository is damaged"
expect_exit 1 k stats
mv "$idx" "$WORK/damaged-index"
E2E_WHAT="restore latest after the damaged index was moved aside"
expect_exit 0 k restore latest --target "$WORK/r2"
treecmp "the new snapshot is complete without the damaged index file" \
	"$WORK/src" "$WORK/r2$WORK/src"

# --- every name of a damaged file is marked, not only the first
REPO=$WORK/repo-links
E2E_WHAT="init (hard links)"
expect_exit 0 k init --kdf interactive
mkdir -p "$WORK/hl/d"
head -c 3000000 /dev/urandom > "$WORK/hl/d/a"
ln "$WORK/hl/d/a" "$WORK/hl/d/b"
E2E_WHAT="backup of a hard-linked file"
expect_exit 0 k backup "$WORK/hl" -q
# the data pack is the largest (trees have packs of their own)
pack=$(find "$REPO/data" -type f ! -name '.*' -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
chmod u+w "$pack"
printf 'X' | dd of="$pack" bs=1 seek=1500000 conv=notrunc 2>/dev/null
E2E_WHAT="restore with the file's content damaged"
expect_exit 1 k restore latest --target "$WORK/rl"
d="$WORK/rl$WORK/hl/d"
check "the first name is marked incomplete" test -e "$d/a.kluis-incomplete"
check "the other name is marked incomplete too" test -e "$d/b.kluis-incomplete"
check "no name passes for a good copy" test ! -e "$d/a" -a ! -e "$d/b"
expect_stderr_contains "a hard link of a file whose content could not be restored"

e2e_finish
