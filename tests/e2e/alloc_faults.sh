#!/usr/bin/env bash
# Allocation failures in backup and restore (STYLE "Tests": make the n-th
# call fail, raise n).  KLUIS_FAULT_ALLOC=N makes the N-th growth of an
# array (kluis/grow.h) fail.  For each of the first 120 N, backup either
# writes a complete snapshot (exit 0: it restores
# identical to the source), names what it could not read (exit 3), or
# writes no snapshot (exit 1) - never a shorter snapshot with exit 0, which
# is what a directory listing cut short by a failed allocation gave before
# (issue #12).  Restore: exit 0 and identical, or a failure exit.
# usage: alloc_faults.sh KLUIS
set -u
KLUIS=$1
. "$(dirname "$0")/lib.sh"
e2e_init alloc-faults
TREECMP=$(dirname "$0")/treecmp.py

SRC=$WORK/src
for d in a b c; do
	mkdir -p "$SRC/$d"
	for i in $(seq 1 40); do echo "$d $i" >"$SRC/$d/f$i"; done
done
head -c 3000000 /dev/urandom >"$SRC/big"
ln "$SRC/a/f1" "$SRC/b/hardlink"
truncate -s 1M "$SRC/sparse" && echo tail >>"$SRC/sparse"
k init --kdf interactive -q

snaps() { find "$REPO/snapshots" -type f | wc -l; }

# Growths are counted across threads, so which one the N-th is varies a
# little from run to run; N covers the first 120 (a backup of this tree
# makes about 60).
N=1
MAX=120
met=0
ok0=0
while [ $N -le $MAX ]; do
	before=$(snaps)
	KLUIS_FAULT_ALLOC=$N k backup "$SRC" -q >"$OUT" 2>"$ERR"
	rc=$?
	after=$(snaps)
	case $rc in
	0)
		[ "$after" -eq $((before + 1)) ] ||
		    not_ok "fault $N: exit 0 but no new snapshot"
		rm -rf "$WORK/t"
		if ! k restore latest --target "$WORK/t" -q 2>>"$ERR" ||
		    ! python3 "$TREECMP" "$SRC" "$WORK/t$SRC" \
		    >"$WORK/.cmp" 2>&1; then
			not_ok "fault $N: backup exit 0 but the snapshot differs"
			head -n 20 "$WORK/.cmp"
		else
			ok0=$((ok0 + 1))
		fi
		;;
	1)
		[ "$after" -eq "$before" ] ||
		    not_ok "fault $N: exit 1 but a snapshot was written"
		grep -qi "memory" "$ERR" ||
		    not_ok "fault $N: exit 1 without naming the cause"
		met=$((met + 1))
		;;
	3)
		grep -q "$SRC" "$ERR" ||
		    not_ok "fault $N: exit 3 without naming a path"
		met=$((met + 1))
		;;
	*)
		not_ok "fault $N: backup exit $rc"
		sed 's/^/  /' "$ERR" | head -n 5
		;;
	esac
	N=$((N + 1))
done
check "backup met faults (the injection works)" test $met -gt 0
check "some fault points left complete snapshots" test $ok0 -gt 0
echo "# backup: $MAX fault points: $met failed as they should, $ok0 complete"

# restore of a complete snapshot under the same faults
k backup "$SRC" -q >/dev/null
N=1
failed=0
whole=0
while [ $N -le 200 ]; do
	rm -rf "$WORK/t"
	KLUIS_FAULT_ALLOC=$N k restore latest --target "$WORK/t" -q \
	    >"$OUT" 2>"$ERR"
	rc=$?
	if [ $rc -eq 0 ]; then
		if python3 "$TREECMP" "$SRC" "$WORK/t$SRC" \
		    >"$WORK/.cmp" 2>&1; then
			whole=$((whole + 1))
			# 5 in a row after a failure: past the last growth,
			# every later N is the same run
			[ $failed -gt 0 ] && [ $whole -ge 5 ] && break
		else
			not_ok "restore fault $N: exit 0 but the tree differs"
		fi
	elif [ $rc -eq 1 ] || [ $rc -eq 3 ]; then
		failed=$((failed + 1))
		whole=0		# complete runs in a row count
	else
		not_ok "restore fault $N: exit $rc"
	fi
	N=$((N + 1))
done
check "restore met faults" test $failed -gt 0
check "restore past its last growth is complete, 5 in a row" \
	test $whole -ge 5
echo "# restore: $N fault points: $failed failed, $whole complete"

e2e_finish
