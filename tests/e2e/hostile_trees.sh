#!/usr/bin/env bash
# Issue #10 finding 4 (hostile but authentic trees) and the rollback
# warning of finding 6, played by the attacker of the threat model: a
# compromised city server that holds only its backup-only key file, the
# passphrase, and an SSH key that a real sshd forces into the append-only
# role (SSH_KEY_APPEND, client name web01).  With tests/hostile's
# kluis-hostile it writes, through that role only:
#   - a chain of 100,000 nested directories (a stack overflow in check and
#     versions before),
#   - a DAG of a few hundred bytes: two names per level naming the same
#     next level, 40 levels, 2^41 paths (exponential in versions, find,
#     ls, restore, drill and check's attribution before),
#   - a snapshot whose root tree is in no pack, one whose subtree is in no
#     pack, one whose subtree a pack of garbage claims (versions, find and
#     catalog rebuild failed on any of them before),
#   - a snapshot claiming another host's name, dated in the year 2100.
# Then an operator with the full key runs check, versions, find, ls,
# restore, diff, drill and catalog rebuild: each must end within a time
# and memory bound (timeout, ulimit -v), name the hostile snapshot and
# still serve the good ones.  `latest` must not pick another host's
# snapshot, nor a forged future date; a restore after a rollback warns.
#
# usage: hostile_trees.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
#   (KLUIS may be an older client, to show what it fails: the attacker's
#   tool is always KLUIS_HOSTILE)
KLUIS=${1:?usage: hostile_trees.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: hostile_trees.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: hostile_trees.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init hostile-trees

DEEP_N=${HOSTILE_DEEP:-100000}
SECS=${HOSTILE_SECS:-60}	# per command: seconds
MEM_KB=$((1024 * 1024))		# per command: 1 GiB of address space
# ASan reserves terabytes of shadow memory: no address-space limit there,
# and it runs several times slower.
if ldd "$KLUIS" 2>/dev/null | grep -q libasan; then
	MEM_KB=unlimited
	SECS=${HOSTILE_SECS:-240}
	echo "# ASan build: no ulimit -v, ${SECS}s per command"
fi

# bounded NAME WANT ARGS...: runs kluis ARGS with the full key within SECS
# seconds and MEM_KB of address space; passes if it ends in time with
# exit code WANT.
bounded() {
	local name=$1 want=$2 t0=$SECONDS
	shift 2
	(ulimit -v "$MEM_KB" && exec timeout "$SECS" "$KLUIS" -r "$REPO" \
	    --password-file "$PW" "$@") >"$OUT" 2>"$ERR"
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -ge 128 ]; then
		not_ok "$name: killed or timed out after ${SECS}s (exit $rc)"
	elif [ "$rc" -ne "$want" ]; then
		not_ok "$name: exit $rc, wanted $want"
	else
		ok "$name: exit $want in $((SECONDS - t0))s (limits ${SECS}s, $MEM_KB KiB)"
	fi
}

# each case's start, in seconds since the script began (the CI budget)
case_begin() {
	echo "# --- $1 (at ${SECONDS}s)"
}

# attacker ATTACK ARGS...: kluis-hostile with what web01 holds, through
# the append-only role of the real sshd.
attacker() {
	hs "$WORK/web01.key" "$PW_WEB" "$@"
}

# snapshot_of: the id the last attack printed.
snapshot_of() {
	awk '$1 == "snapshot" { print $2 }' "$OUT"
}

# ---------------------------------------------------------------------------
case_begin "a repository with real backups of good01, and web01's keys"
SRC=$WORK/src
mkdir -p "$SRC/etc" "$SRC/var"
echo "good content" >"$SRC/etc/app.conf"
echo "second file" >"$SRC/var/data"
expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" --host good01 --json
GOOD=$(json_field snapshot_id)
PW_WEB=$WORK/pw-web01
make_password "$PW_WEB" "web01 backup passphrase"
expect_exit 0 k key add --backup-only --out "$WORK/web01.key" \
    --new-password-file "$PW_WEB" --kdf interactive
AUDIT0=$(audit_lines)

# ---------------------------------------------------------------------------
case_begin "web01, compromised, writes hostile trees through append-only"
run attacker tree-deep "$DEEP_N"
check "tree-deep $DEEP_N written (exit $rc)" test "$rc" -eq 0
DEEP=$(snapshot_of)
run attacker tree-dag 40
check "tree-dag 40 written (exit $rc)" test "$rc" -eq 0
DAG=$(snapshot_of)
# the same, declaring 2^50 files and directories: its totals allow it all
run attacker tree-dag --files 1125899906842624 --dirs 1125899906842624 40
check "tree-dag 40 with inflated totals written (exit $rc)" test "$rc" -eq 0
INFLATED=$(snapshot_of)
for mode in missing-root missing-subtree garbage-pack; do
	run attacker tree-unloadable "$mode"
	check "tree-unloadable $mode written (exit $rc)" test "$rc" -eq 0
	eval "U_${mode//-/_}=\$(snapshot_of)"
done
ROOTLESS=$U_missing_root
LOST=$U_missing_subtree
GARBAGE=$U_garbage_pack
check "every attack left a snapshot" test -n "$DEEP" -a -n "$DAG" \
    -a -n "$INFLATED" -a -n "$ROOTLESS" -a -n "$LOST" -a -n "$GARBAGE"
audit_since "$AUDIT0" >"$WORK/audit.new"
check "the DAG's snapshot came through web01's append-only role" \
    bash -c "grep -F '$DAG' '$WORK/audit.new' | grep -F web01 | grep -q append"
HOSTILE_ALL="$DAG $INFLATED $ROOTLESS $LOST $GARBAGE"

# names_all FILE IDS...: passes if FILE names the short form of every id.
names_all() {
	local f=$1 id
	shift
	for id in "$@"; do
		grep -q "${id:0:8}" "$f" || return 1
	done
}

# ---------------------------------------------------------------------------
case_begin "check"
bounded "check" 1 check
check "check names the DAG as over its declared totals" \
    grep -q "snapshots/$DAG.*more than" "$OUT"
check "check names every unloadable snapshot" \
    names_all "$OUT" $ROOTLESS $LOST $GARBAGE
check "check does not blame the deep chain, which declares its size" \
    bash -c "! grep -q '${DEEP:0:8}' '$OUT'"
check "check still reads the good snapshot" \
    grep -q "checked 7 snapshots" "$OUT"

# ---------------------------------------------------------------------------
case_begin "versions, find, catalog rebuild"
bounded "versions" 1 versions "$SRC/etc/app.conf"
check "versions lists the good version" grep -q good01 "$OUT"
check "versions names each snapshot it left out" \
    names_all "$ERR" $HOSTILE_ALL
bounded "find" 1 find app.conf
check "find finds the good file" grep -qF "$SRC/etc/app.conf" "$OUT"
check "find names each snapshot left out" names_all "$ERR" $HOSTILE_ALL
bounded "catalog rebuild" 1 catalog rebuild
check "catalog rebuild names each snapshot left out" \
    names_all "$ERR" $HOSTILE_ALL
check "catalog rebuild recorded the deep chain's versions" \
    grep -q "over 10000[0-9] paths" "$OUT"
bounded "versions after the rebuild" 1 versions "$SRC/etc/app.conf"
check "the good version is there" grep -q good01 "$OUT"

# ---------------------------------------------------------------------------
case_begin "ls, restore, diff, drill of each hostile snapshot"
bounded "ls of the DAG" 1 ls "$DAG"
expect_stderr_contains "${DAG:0:8}" "ls names the DAG"
expect_stderr_contains "more than"
bounded "ls of the DAG that declares 2^50 entries" 1 ls "$INFLATED"
expect_stderr_contains "same subtrees over and over"
bounded "ls of the deep chain" 0 ls "$DEEP"
bounded "ls of the snapshot without a root" 1 ls "$ROOTLESS"
expect_stderr_contains "${ROOTLESS:0:8}"
bounded "restore of the DAG" 1 restore "$DAG" --target "$WORK/r-dag"
expect_stderr_contains "${DAG:0:8}" "restore names the DAG"
check "the DAG's restore created at most its budget" \
    test "$(find "$WORK/r-dag" -type d | wc -l)" -le 11000
bounded "restore of the deep chain" 1 restore "$DEEP" \
    --target "$WORK/r-deep"
expect_stderr_contains "path too long"
bounded "restore of a snapshot with a lost subtree" 1 \
    restore "$LOST" --target "$WORK/r-lost"
check "its sound part is restored" test -d "$WORK/r-lost/srv/sound"
bounded "restore of a subtree in a pack of garbage" 1 \
    restore "$GARBAGE" --target "$WORK/r-garbage"
bounded "diff of the good snapshot and the DAG" 1 diff "$GOOD" "$DAG"
expect_stderr_contains "more than"
bounded "drill of the DAG" 1 drill "$DAG" --target "$WORK/d-dag"
expect_stderr_contains "${DAG:0:8}" "drill names the DAG"
bounded "drill of the good snapshot" 0 drill "$GOOD" \
    --target "$WORK/d-good"
bounded "restore of the good snapshot" 0 restore "$GOOD" \
    --target "$WORK/r-good"
treecmp "the good snapshot restores identical" "$SRC" "$WORK/r-good$SRC"

# ---------------------------------------------------------------------------
case_begin "latest on a shared repository"
# web01 claims good01's name, dated in the year 2100: the newest by its
# own clock forever
run attacker tree-dag --host good01 --time 4102444800 3
FORGED=$(snapshot_of)
check "the forged good01 snapshot was written" test -n "$FORGED"
sleep 1		# receive times have seconds
echo "changed content" >"$SRC/etc/app.conf"
expect_exit 0 k backup "$SRC" --host good01 --json
GOOD2=$(json_field snapshot_id)
bounded "restore latest with two hosts and no --host" 2 \
    restore latest --target "$WORK/l-none"
expect_stderr_contains "--host"
check "nothing was restored" test ! -e "$WORK/l-none$SRC"
bounded "ls latest --host good01 takes the newest received" 0 \
    ls latest --host good01
check "latest of good01 is its real backup, not the forged date" \
    grep -qF "$SRC/etc/app.conf" "$OUT"
bounded "restore latest --host good01 PATH" 0 \
    restore latest --host good01 "$SRC" --target "$WORK/l-good"
expect_stderr_contains "${GOOD2:0:8}" "the pick is named"
check "the restore has good01's newest content" \
    grep -q "changed content" "$WORK/l-good$SRC/etc/app.conf"

# ---------------------------------------------------------------------------
case_begin "restore after a rollback warns"
# The repository server goes back to an older state: good01's newest
# snapshot is gone, and this client's catalog had seen it.
rm -f "$REPO/snapshots/$GOOD2"
bounded "restore latest --host good01 after the rollback" 0 \
    restore latest --host good01 "$SRC" --target "$WORK/l-rolled"
expect_stderr_contains "gone from the repository" "restore latest warns"
expect_stderr_contains "${GOOD2:0:8}" "the vanished snapshot is named"
check "the older content is what was restored" \
    grep -q "good content" "$WORK/l-rolled$SRC/etc/app.conf"
bounded "restore --at now --host good01 after the rollback" 0 \
    restore --at "$(date '+%Y-%m-%d %H:%M:%S')" --host good01 "$SRC" \
    --target "$WORK/l-at"
expect_stderr_contains "gone from the repository" "restore --at warns"

e2e_finish
