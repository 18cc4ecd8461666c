#!/usr/bin/env bash
# Restore never writes outside its target, even when the target already
# holds symbolic links or hard links that point elsewhere (restore
# --overwrite), and symbolic links inside a snapshot are restored as links,
# never followed.  A target, or a directory on the way to it, that other
# users can write is named in a warning (tests/e2e/hostile_restore_race.sh
# races such a user against the restore).
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

# 4. a planted hard link to a file outside, in place of a file: the link is
#    replaced, the file outside keeps its content, mode and link count
echo "outside content" >"$T/outside/hard"
chmod 0600 "$T/outside/hard"
mkdir -p "$T/t4/$rel/src/d"
ln "$T/outside/hard" "$T/t4/$rel/src/d/file"
K restore latest --target "$T/t4" --overwrite -q
check "file restored in place of the hard link" \
    test "$(cat "$T/t4/$rel/src/d/file")" = secret
check "the file outside kept its content" \
    test "$(cat "$T/outside/hard")" = "outside content"
check "the file outside kept its mode and has one name" \
    test "$(stat -c '%a %h' "$T/outside/hard")" = "600 1"
rm -f "$T/outside/hard"

# 5. a target that another user owns, and one below a directory anyone can
#    write: restored, with a warning that names the directory (exit 0)
if [ "$(id -u)" -eq 0 ]; then
	mkdir "$T/t5"
	chown 65534:65534 "$T/t5"
	K restore latest --target "$T/t5" -q 2>"$T/err"
	rc=$?
	check "a target of another user: restored (exit 0)" test "$rc" -eq 0
	check "with a warning naming the target" grep -q \
	    "^kluis: warning: $T/t5: users other than you and root can write the target" \
	    "$T/err"
	mkdir -m 0777 "$T/shared"
	chmod 0777 "$T/shared"
	K restore latest --target "$T/shared/t6" -q 2>"$T/err"
	rc=$?
	check "below a directory anyone can write: restored (exit 0)" \
	    test "$rc" -eq 0
	check "with a warning naming that directory" grep -q \
	    "^kluis: warning: $T/shared: users other than you and root can write this directory on the way" \
	    "$T/err"
	check "not the target itself (root made it, mode 0700)" \
	    test "$(grep -c warning "$T/err")" -eq 1
fi
K restore latest --target "$T/t7" -q 2>"$T/err"
check "a target only the caller can write: no warning" test ! -s "$T/err"
check "nothing written outside (4, 5)" test -z "$(ls -A "$T/outside")"

e2e_finish
