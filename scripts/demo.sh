#!/usr/bin/env bash
# kluis's main job on the embedded default, a local repository: create a
# repository, back up a real directory of this machine, restore it into a
# scratch directory, and verify that the restored tree is identical (content
# and metadata).  Usage: scripts/demo.sh [SOURCE_DIR]  (default
# /usr/share/doc).  Set KLUIS_DEMO_KEEP=1 to keep the repository.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-/usr/share/doc}

"$top/scripts/deps.sh"
echo "==> building kluis"
"$top/scripts/build.sh" "$top/build"
kluis="$top/build/client/kluis"

work=$(mktemp -d /tmp/kluis-demo.XXXXXX)
[ "${KLUIS_DEMO_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
export KLUIS_REPOSITORY="$work/repo" KLUIS_PASSWORD_FILE="$work/passphrase"
export KLUIS_CACHE_DIR="$work/cache"
head -c 24 /dev/urandom | base64 > "$KLUIS_PASSWORD_FILE"
chmod 600 "$KLUIS_PASSWORD_FILE"

echo "==> kluis init (repository $KLUIS_REPOSITORY)"
"$kluis" init
echo "==> kluis backup $src"
"$kluis" backup "$src"
echo "==> kluis backup $src again (unchanged files are not read again)"
"$kluis" backup "$src"
"$kluis" snapshots
echo "==> kluis restore latest --target $work/restore"
"$kluis" restore latest --target "$work/restore"
echo "==> comparing $src with the restored copy (content and metadata)"
python3 "$top/tests/e2e/treecmp.py" "$src" "$work/restore$src"
"$kluis" stats
echo "==> OK: $src was backed up, restored and verified identical"
