#!/usr/bin/env bash
# Issue #10 finding 6 (restore items): a compromised city server, holding a
# backup-only key file, its passphrase and an append-only SSH key, writes
# authentic snapshots through the append-only role of a real sshd
# (kluis-hostile, tests/hostile/h_restore.c) whose trees make a restore
# expensive, and an operator restores them with the full key:
# - tree-links N: N hard-link groups; tree-holes N: one file of N chunks
#   and N holes.  The restore's user CPU time (where restore's own loops
#   run; system calls are the file system's) must grow linearly: 5N costs
#   less than 10 times N - quadratic work costs about 25 times;
# - file-claims-size 4 TiB: 15 real bytes, the rest garbage: the file that
#   fails is kept as NAME.kluis-incomplete at the 15 bytes written, not at
#   the 4 TiB its tree claims.
#
# usage: hostile_restore_cost.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: hostile_restore_cost.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: hostile_restore_cost.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: hostile_restore_cost.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init hostile-restore-cost
LINKS_N=${HRC_LINKS_N:-20000}
HOLES_N=${HRC_HOLES_N:-40000}

# Restores go to a tmpfs: what is measured is restore's work, not the
# journal of a disk other tests share.
mkdir -p "$WORK/mnt"
mount -t tmpfs -o size=1g,mode=0755 tmpfs "$WORK/mnt" ||
    { echo "FAIL: mount a tmpfs (needs root)"; exit 1; }
at_exit "umount '$WORK/mnt'"
OUTD=$WORK/mnt/out

# The operator's repository, and the city server's backup-only key.
k init --kdf interactive -q || { echo "FAIL: init"; exit 1; }
make_password "$WORK/bpw" "web01's passphrase"
k key add --backup-only --new-password-file "$WORK/bpw" --out "$WORK/bk.key" \
    --kdf interactive -q || { echo "FAIL: key add"; exit 1; }

# attack ARGS...: kluis-hostile over ssh:// with what web01 holds; prints
# the snapshot id.
attack() {
	"$HOSTILE" -r "$SSH_URL" --key-file "$WORK/bk.key" \
	    --password-file "$WORK/bpw" --ssh-key "$SSH_KEY_APPEND" \
	    --ssh-known-hosts "$SSH_KH" --server-command "$KLUIS_SERVER" \
	    "$@" >"$WORK/attack.out" 2>"$WORK/attack.err" ||
	    { echo "FAIL: kluis-hostile $*"; cat "$WORK/attack.err"; exit 1; }
	awk '$1 == "snapshot" {print substr($2, 1, 16)}' "$WORK/attack.out"
}

# cpu SNAP: user CPU seconds of restoring SNAP into a fresh directory,
# the median of three runs (the machine may be busy: CPU time, not wall).
cpu() {
	local i
	for i in 1 2 3; do
		rm -rf "$OUTD"
		/usr/bin/time -f '%U' -o "$WORK/time" \
		    "$KLUIS" -r "$REPO" --password-file "$PW" restore "$1" \
		    --target "$OUTD" -q >/dev/null 2>"$WORK/restore.err"
		cat "$WORK/time"
	done | sort -n | sed -n 2p
}

# ratio SMALL BIG BASE: (BIG - BASE) / (SMALL - BASE), one decimal.
ratio() {
	awk -v s="$1" -v b="$2" -v z="$3" 'BEGIN {
		d = s - z; if (d < 0.05) d = 0.05
		printf "%.1f", (b - z) / d }'
}

case_begin "the attacker writes its snapshots over the append-only role"
base=$(attack tree-holes 1)
l1=$(attack tree-links "$LINKS_N")
l5=$(attack tree-links $((5 * LINKS_N)))
h1=$(attack tree-holes "$HOLES_N")
h5=$(attack tree-holes $((5 * HOLES_N)))
claims=$(attack file-claims-size 4398046511104)
check "six snapshots written with the backup-only key" \
    test -n "$base" -a -n "$l1" -a -n "$l5" -a -n "$h1" -a -n "$h5" -a -n "$claims"
grep -q "web01" "$REPO/audit.log" 2>/dev/null &&
    ok "the uploads are in the audit log as web01's" ||
    not_ok "the uploads are in the audit log as web01's"

case_begin "hard-link groups: linear"
t0=$(cpu "$base")
t1=$(cpu "$l1")
t5=$(cpu "$l5")
r=$(ratio "$t1" "$t5" "$t0")
echo "restore user CPU seconds: base $t0, $LINKS_N groups $t1, $((5 * LINKS_N)) groups $t5: ratio $r"
check "5x the hard-link groups cost less than 10x the time (ratio $r)" \
    awk -v r="$r" 'BEGIN { exit !(r < 10) }'
# the last run restored l5: its names are links of each other
rel=hostile/d00099
a=$(stat -c %i "$OUTD/$rel/a000999" 2>/dev/null)
b=$(stat -c %i "$OUTD/$rel/b000999" 2>/dev/null)
check "the last group's two names are one file" test -n "$a" -a "$a" = "$b"
check "every name of every group was restored" \
    test "$(find "$OUTD/hostile" -type f | wc -l)" -eq $((10 * LINKS_N))

case_begin "holes: linear"
t1=$(cpu "$h1")
t5=$(cpu "$h5")
r=$(ratio "$t1" "$t5" "$t0")
echo "restore user CPU seconds: base $t0, $HOLES_N holes $t1, $((5 * HOLES_N)) holes $t5: ratio $r"
check "5x the holes cost less than 10x the time (ratio $r)" \
    awk -v r="$r" 'BEGIN { exit !(r < 10) }'
f=$OUTD/hostile/holes
check "the file has its size" test "$(stat -c %s "$f")" -eq $((10 * HOLES_N))
check "its even bytes are x, its odd bytes holes" python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
sys.exit(not (d[0::2] == b"x" * (len(d) // 2) and d[1::2] == bytes(len(d) // 2)))' "$f"

case_begin "a failed file keeps the size of what was written"
rm -rf "$OUTD"
E2E_WHAT="restore of the 4 TiB claim" expect_exit 1 \
    k restore "$claims" --target "$OUTD"
expect_stderr_contains "$OUTD/hostile/claims: content is corrupt"
f=$OUTD/hostile/claims.kluis-incomplete
check "the file is kept as claims.kluis-incomplete" test -f "$f"
check "at the 15 bytes written, not the 4 TiB claimed ($(stat -c %s "$f" 2>/dev/null) bytes)" \
    test "$(stat -c %s "$f" 2>/dev/null)" = 15
check "holding what was written" grep -qx "hello, hostile" "$f"
check "no claims file without the suffix" test ! -e "$OUTD/hostile/claims"

e2e_finish
