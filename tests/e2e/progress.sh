#!/usr/bin/env bash
# Issue #13 §4: progress of long runs.  A live line when stderr is a
# terminal (script(1) gives one), nothing extra when not, JSON status lines
# before the result with --json, a line in the log on SIGUSR1 or every
# --progress-interval, and SIGUSR1 never kills a command.
# usage: progress.sh KLUIS KLUIS-SERVER
set -uo pipefail
KLUIS=$1
KLUIS_SERVER=$2
. "$(dirname "$0")/lib.sh"
e2e_init progress
case_begin() { echo "# --- $1"; }

# A slow backup on purpose: 46 MB of text, zstd level 19, one thread.
SRC=$WORK/src
mkdir -p "$SRC"
for i in 1 2 3 4 5 6; do
	cat /usr/include/*.h /usr/include/linux/*.h >"$SRC/f$i.txt" 2>/dev/null
done
SLOW="--compression 19 --threads 1"

# fresh: a new repository for each slow backup (an unchanged one is fast)
fresh() {
	rm -rf "$REPO"
	k init --kdf interactive -q >/dev/null 2>&1
}

case_begin "nothing extra without a terminal"
fresh
E2E_WHAT="backup, not a terminal, no option" expect_exit 0 k backup "$SRC" $SLOW
check "stderr is empty" test ! -s "$ERR"
check "stdout is the summary only" \
    test "$(grep -c 'kluis:' "$OUT")" -eq 0

case_begin "--progress-interval: lines in the log"
fresh
E2E_WHAT="backup --progress-interval 1s -q" expect_exit 0 k backup "$SRC" \
    $SLOW -q --progress-interval 1s
check "at least one progress line on stderr" \
    grep -qE '^kluis: progress: backup: [0-9]+ files, [0-9.]+ [KMG]i?B' "$ERR"
check "stdout is still only the snapshot id" \
    test "$(wc -l <"$OUT")" -eq 1 -a "$(grep -c '^[0-9a-f]\{64\}$' "$OUT")" -eq 1
E2E_WHAT="--progress-interval 0" expect_exit 2 k backup "$SRC" \
    --progress-interval 0
expect_stderr_contains "a second or more"

case_begin "SIGUSR1: one line now, and the run goes on"
fresh
"$KLUIS" -r "$REPO" --password-file "$PW" backup "$SRC" $SLOW -q \
    >"$OUT" 2>"$ERR" &
pid=$!
# the walk has begun once the repository holds a lock
for _ in $(seq 100); do
	[ -n "$(ls "$REPO/locks" 2>/dev/null)" ] && break
	sleep 0.02
done
sleep 0.3
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "the backup was not killed by SIGUSR1 (exit $rc)" test "$rc" -eq 0
check "it printed a progress line" \
    grep -q '^kluis: progress: backup: ' "$ERR"
check "and made its snapshot" test "$(snapshot_count)" -eq 1

case_begin "SIGUSR1 to the whole process group (systemctl kill -s USR1)"
fresh
setsid "$KLUIS" -r "pipe:$REPO" --server-command "$KLUIS_SERVER" \
    --password-file "$PW" backup "$SRC" $SLOW -q >"$OUT" 2>"$ERR" &
pid=$!
for _ in $(seq 100); do
	[ -n "$(ls "$REPO/locks" 2>/dev/null)" ] && break
	sleep 0.02
done
sleep 0.3
kill -USR1 -- "-$pid"
wait "$pid"
rc=$?
check "neither kluis nor its kluis-server child died (exit $rc)" test "$rc" -eq 0
check "kluis printed a progress line" grep -q '^kluis: progress: backup: ' "$ERR"
check "the backup over pipe: made its snapshot" test "$(snapshot_count)" -eq 1

case_begin "--json: status lines, the result last"
fresh
E2E_WHAT="backup --json" expect_exit 0 k backup "$SRC" $SLOW --json
check "status lines before the result" \
    grep -q '^{"message_type":"status","command":"backup"' "$OUT"
json_check "the last line is the result" '"snapshot_id" in d'
check "every line is JSON" python3 -c 'import json, sys
for l in open(sys.argv[1]):
    json.loads(l)' "$OUT"

case_begin "a terminal: one live line"
E2E_WHAT="restore on a terminal (script)" expect_exit 0 script -qefc \
    "'$KLUIS' -r '$REPO' --password-file '$PW' restore latest --target '$WORK/r1'" \
    "$WORK/typescript"
check "a restore line with packs and bytes" \
    grep -aqE 'kluis: restore: [0-9]+/[0-9]+ packs, ' "$WORK/typescript"
check "redrawn in place (carriage return)" grep -aq $'\r' "$WORK/typescript"
E2E_WHAT="check --read-data on a terminal" expect_exit 0 script -qefc \
    "'$KLUIS' -r '$REPO' --password-file '$PW' check --read-data" \
    "$WORK/typescript2"
check "check's data phase with packs" \
    grep -aqE 'kluis: check: data [0-9]+/[0-9]+ packs' "$WORK/typescript2"
E2E_WHAT="-q on a terminal" expect_exit 0 script -qefc \
    "'$KLUIS' -r '$REPO' --password-file '$PW' -q restore latest --target '$WORK/r2'" \
    "$WORK/typescript3"
check "-q: no progress line" bash -c "! grep -aq 'kluis: restore:' '$WORK/typescript3'"

e2e_finish
