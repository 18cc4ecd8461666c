#!/usr/bin/env bash
# Issue #10 finding 3: a local unprivileged user races a root
# `restore --overwrite` that restores into a directory this user can write
# (a home directory: the realistic case).  The user (created here) swaps, as
# fast as it can, every directory and file that appears there for symbolic
# links to places outside the target: a directory full of root's files (to
# be deleted or filled with new entries) and a root-owned 0600 file (to be
# chmod'ed).  Whatever the timing, nothing outside the target may change -
# no mode, owner, time, size or link count, no entry removed or added - and
# the restore must either succeed or name what it skipped, with everything
# outside the user's directory restored exactly.
#
# usage: hostile_restore_race.sh KLUIS KLUIS_RACER [ROUNDS]
KLUIS=${1:?usage: hostile_restore_race.sh KLUIS KLUIS_RACER [ROUNDS]}
RACER=${2:?usage: hostile_restore_race.sh KLUIS KLUIS_RACER [ROUNDS]}
ROUNDS=${3:-25}
. "$(dirname "$0")/lib.sh"
case $RACER in /*) ;; *) RACER=$PWD/$RACER ;; esac
e2e_init hostile-restore-race
T=$WORK

if [ "$(id -u)" -ne 0 ]; then
	echo "hostile_restore_race.sh needs root (useradd, setpriv); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi

# The attacker: an ordinary local account, removed at exit.
USR=klrace$$
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin \
    "$USR" || { echo "FAIL: useradd $USR"; exit 1; }
at_exit "userdel -f $USR; groupdel $USR"
UID_R=$(id -u "$USR")
GID_R=$(id -g "$USR")
as_racer() {
	setpriv --reuid="$UID_R" --regid="$GID_R" --clear-groups "$@"
}

# The snapshot: root's files, and the user's home directory with
# directories (files, subdirectories, a symlink, a hard link to a file in
# the home directory) and files of mode 0666 whose mode restore sets last.
S=$T/src
mkdir -p "$S/etc/conf.d" "$S/home/u"
for i in 1 2 3; do echo "root's config $i" >"$S/etc/conf.d/c$i"; done
chmod 0600 "$S/etc/conf.d/c1"
for d in $(seq -w 0 11); do
	mkdir "$S/home/u/d$d"
	for f in $(seq -w 0 19); do echo "$d/$f" >"$S/home/u/d$d/f$f"; done
	for s in 0 1 2 3 4; do
		mkdir "$S/home/u/d$d/s$s"
		echo x >"$S/home/u/d$d/s$s/x"
	done
	ln -s f00 "$S/home/u/d$d/l0"
	echo "linked $d" >"$S/home/u/d$d/h"
	ln "$S/home/u/d$d/h" "$S/home/u/h$d"
done
for f in $(seq -w 0 29); do
	echo "home file $f" >"$S/home/u/f$f"
	chmod 0666 "$S/home/u/f$f"
done
chown -R "$UID_R:$GID_R" "$S/home/u"
k init --kdf interactive -q >/dev/null 2>&1
k backup "$S" -q >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
rel=${S#/}

# Outside the target: what the links point to.
O=$T/outside
mkdir -p "$O/vd"
echo "root's secret" >"$O/secret"
chmod 0600 "$O/secret"
for f in $(seq -w 0 19) h; do echo "keep $f" >"$O/vd/f$f"; done
echo "keep h" >"$O/vd/h"
chmod 0600 "$O"/vd/*
chmod 0755 "$O/vd"
outside_state() {
	(cd "$O" && find . -printf '%p %y %m %U %G %s %n %T@ %C@\n' |
	    LC_ALL=C sort)
}
outside_state >"$T/outside.before"

escaped=0
bad_rc=0
unnamed=0
others_wrong=0
skipped_rounds=0
swapped=0
for r in $(seq 1 "$ROUNDS"); do
	tgt=$T/t$r
	mkdir -p "$tgt/$rel/home/u"
	chown "$UID_R:$GID_R" "$tgt/$rel/home/u"
	rm -f "$T/stop"
	as_racer "$RACER" "$tgt/$rel/home/u" "$O/vd" "$O/secret" "$T/stop" \
	    >"$T/racer.out" 2>&1 &
	rpid=$!
	sleep 0.05
	k restore latest --target "$tgt" --overwrite -q >"$OUT" 2>"$ERR"
	rc=$?
	touch "$T/stop"
	wait "$rpid"
	read -r _ sd sf <"$T/racer.out"
	swapped=$((swapped + ${sd:-0} + ${sf:-0}))
	if ! outside_state | cmp -s - "$T/outside.before"; then
		escaped=$((escaped + 1))
		echo "round $r: the restore changed something outside the target:"
		outside_state | diff "$T/outside.before" - | head -n 8 |
		    sed 's/^/  /'
		# put the outside back for the next round
		chmod 0600 "$O/secret" "$O"/vd/* 2>/dev/null
		(cd "$O/vd" && for e in *; do
			case $e in f[0-9][0-9] | h) ;; *) rm -rf "$e" ;; esac
		done)
		for f in $(seq -w 0 19) h; do
			[ -e "$O/vd/f$f" ] || echo "keep $f" >"$O/vd/f$f"
		done
		[ -e "$O/vd/h" ] || echo "keep h" >"$O/vd/h"
		chown root:root "$O/secret" "$O"/vd/*
		chmod 0600 "$O"/vd/*
		outside_state >"$T/outside.before"
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
		bad_rc=$((bad_rc + 1))
		echo "round $r: exit $rc"
		sed 's/^/  stderr: /' "$ERR" | head -n 5
	fi
	# every warning names a path in the user's directory, and an exit 1
	# says how many paths were not restored
	if grep -v "^kluis: warning: $tgt/$rel/home/u/" "$ERR" |
	    grep -qv "paths\{0,1\} could not be restored (listed above)"; then
		unnamed=$((unnamed + 1))
		echo "round $r: a message that names no path of the user's:"
		grep -v "^kluis: warning: $tgt/$rel/home/u/" "$ERR" | head -n 3 |
		    sed 's/^/  /'
	fi
	[ "$rc" -eq 1 ] && skipped_rounds=$((skipped_rounds + 1))
	if [ "$r" -eq 1 ]; then
		echo "round 1: exit $rc; stderr (first lines, paths shortened):"
		head -n 6 "$ERR" | sed "s|$tgt/$rel|TARGET/SRC|g; s/^/  /"
	fi
	if ! python3 "$TREECMP" "$S/etc" "$tgt/$rel/etc" >"$T/cmp" 2>&1; then
		others_wrong=$((others_wrong + 1))
		echo "round $r: root's files outside the user's directory differ"
		head -n 5 "$T/cmp" | sed 's/^/  /'
	fi
	rm -rf "$tgt"
done
echo "$ROUNDS rounds: $swapped swaps by the racer, $skipped_rounds restores" \
    "named skipped paths, $escaped changed something outside the target"
check "the racer swapped entries (the race ran)" test "$swapped" -gt 0
check "nothing outside the target changed in any round" test "$escaped" -eq 0
check "every restore exited 0 or 1" test "$bad_rc" -eq 0
check "every skipped path was named, all in the user's directory" \
    test "$unnamed" -eq 0
check "everything outside the user's directory was restored exactly" \
    test "$others_wrong" -eq 0

e2e_finish
