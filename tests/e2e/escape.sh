#!/usr/bin/env bash
# Restore never writes outside its target, even when the target already
# holds symbolic links that point elsewhere (restore --overwrite), and
# symbolic links inside a snapshot are restored as links, never followed.
# usage: escape.sh KLUIS
set -u
KLUIS=$1
. "$(dirname "$0")/lib.sh"
e2e_init escape
T=$WORK

K() { "$KLUIS" -r "$REPO" --password-file "$PW" "$@"; }
K init --kdf interactive -q

mkdir -p "$T/src/d" "$T/outside"
echo secret > "$T/src/d/file"
ln -s "$T/outside" "$T/src/link"	# a link to a directory, in the snapshot
K backup "$T/src" -q >/dev/null
rel=${T#/}

# 1. plain restore: the link is restored as a link and nothing is written
#    through it
K restore latest --target "$T/t1" -q
check "symlink restored as a symlink" test -L "$T/t1/$rel/src/link"
check "nothing written outside (1)" test -z "$(ls -A "$T/outside")"

# 2. --overwrite into a target where the snapshot's directory "d" is a
#    planted symlink to the outside: restore must refuse that path
mkdir -p "$T/t2/$rel/src"
ln -s "$T/outside" "$T/t2/$rel/src/d"
K restore latest --target "$T/t2" --overwrite -q 2>"$T/err"
rc=$?
check "restore reports the planted link (exit 1)" test "$rc" -eq 1
check "the path is named" grep -q "src/d" "$T/err"
check "nothing written outside (2)" test -z "$(ls -A "$T/outside")"
check "other paths restored" test -L "$T/t2/$rel/src/link"

# 3. a planted symlink in place of a file is replaced, not followed
mkdir -p "$T/t3/$rel/src/d"
ln -s "$T/outside/victim" "$T/t3/$rel/src/d/file"
K restore latest --target "$T/t3" --overwrite -q
check "file restored in place of the link" test -f "$T/t3/$rel/src/d/file" -a ! -L "$T/t3/$rel/src/d/file"
check "nothing written outside (3)" test ! -e "$T/outside/victim"

e2e_finish
