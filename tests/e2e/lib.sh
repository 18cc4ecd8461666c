# Shared helpers for the kluis end-to-end scripts.  Source it after setting
# KLUIS (path to the client) and, if needed, KLUIS_SERVER.
#
#   e2e_init NAME         temp dir $WORK (removed on exit), $PW password file
#   run CMD...            runs CMD, stdout in $OUT, stderr in $ERR, code in $rc
#   expect_exit CODE CMD...   run and record pass/fail on the exit code
#   expect_stderr_contains TEXT   check the last run's stderr (fixed string)
#   ok / not_ok NAME      record a result; e2e_finish prints the summary
#   k ARGS...             kluis -r $REPO --password-file $PW ARGS...
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The scripts change directory: make the binaries' paths absolute.
case ${KLUIS:-} in "" | /*) ;; *) KLUIS=$PWD/$KLUIS ;; esac
case ${KLUIS_SERVER:-} in "" | /*) ;; *) KLUIS_SERVER=$PWD/$KLUIS_SERVER ;; esac
TREECMP="$E2E_DIR/treecmp.py"
pass=0
fail=0
rc=0
E2E_CLEANUP=()

e2e_cleanup() {
	local i
	for ((i = ${#E2E_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUP[i]}" >/dev/null 2>&1 || true
	done
	if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
		chattr -R -i "$WORK" >/dev/null 2>&1 || true
		chmod -R u+rwx "$WORK" >/dev/null 2>&1 || true
		rm -rf "$WORK"
	fi
}

# at_exit CMD: runs CMD (a string) on exit, before the temp dir is removed.
at_exit() {
	E2E_CLEANUP+=("$1")
}

e2e_init() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/kluis-e2e-$1.XXXXXX")
	chmod 755 "$WORK"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	OUT=$WORK/.out
	ERR=$WORK/.err
	: >"$OUT"
	: >"$ERR"
	PW=$WORK/pw
	make_password "$PW" "correct horse battery staple"
	REPO=$WORK/repo
	unset KLUIS_REPOSITORY KLUIS_PASSWORD_FILE KLUIS_PASSWORD_COMMAND \
	    KLUIS_KEY_FILE KLUIS_PROFILE KLUIS_SERVER_COMMAND
	# every test has its own catalogs, never the machine's
	export KLUIS_CACHE_DIR=$WORK/cache
}

# make_password FILE TEXT
make_password() {
	printf '%s\n' "$2" >"$1"
	chmod 600 "$1"
}

ok() {
	pass=$((pass + 1))
	echo "ok: $1"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL: $1"
	if [ -s "$OUT" ]; then head -n 20 "$OUT" | sed 's/^/  stdout: /'; fi
	if [ -s "$ERR" ]; then head -n 20 "$ERR" | sed 's/^/  stderr: /'; fi
}

# check NAME CMD...: passes if CMD succeeds (its output is not captured).
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

run() {
	"$@" >"$OUT" 2>"$ERR"
	rc=$?
	return 0
}

expect_exit() {
	local want=$1
	shift
	run "$@"
	if [ "$rc" -eq "$want" ]; then
		ok "exit $want: ${E2E_WHAT:-$*}"
		return 0
	fi
	not_ok "exit $rc, wanted $want: ${E2E_WHAT:-$*}"
	return 1
}

# expect_stderr_contains TEXT [NAME]: case-insensitive fixed string.
expect_stderr_contains() {
	if grep -qiF -- "$1" "$ERR"; then
		ok "stderr mentions '$1'${2:+: $2}"
		return 0
	fi
	not_ok "stderr lacks '$1'${2:+: $2}"
	return 1
}

expect_stdout_contains() {
	if grep -qiF -- "$1" "$OUT"; then
		ok "stdout mentions '$1'${2:+: $2}"
		return 0
	fi
	not_ok "stdout lacks '$1'${2:+: $2}"
	return 1
}

k() {
	"$KLUIS" -r "$REPO" --password-file "$PW" "$@"
}

# kf ARGS...: kluis with a new catalog (an operator on a fresh machine).
kf() {
	KLUIS_CACHE_DIR=$WORK/cache-$RANDOM$RANDOM "$KLUIS" -r "$REPO" \
	    --password-file "$PW" "$@"
}

# json_check NAME EXPR: EXPR (Python, d = the JSON object on the last line
# of $OUT) holds.
json_check() {
	if python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT" "$2" 2>>"$ERR"; then
		ok "$1"
	else
		not_ok "$1"
		tail -n 1 "$OUT" | cut -c1-600 | sed 's/^/  json: /'
	fi
}

# json_field FIELD: reads the JSON object in $OUT (last line), prints FIELD.
json_field() {
	python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(d[sys.argv[2]])' "$OUT" "$1"
}

# last_line: the last line of $OUT (the snapshot id of a backup).
last_line() {
	tail -n 1 "$OUT"
}

# treecmp NAME A B [ARGS...]: passes if the trees are identical.
treecmp() {
	local name=$1
	shift
	if python3 "$TREECMP" "$@" >"$WORK/.cmp" 2>&1; then
		ok "$name"
	else
		fail=$((fail + 1))
		echo "FAIL: $name"
		head -n 40 "$WORK/.cmp" | sed 's/^/  treecmp: /'
	fi
}

# snapshot_count: number of files in $REPO/snapshots.
snapshot_count() {
	find "$REPO/snapshots" -type f ! -name '.*' | wc -l
}

e2e_finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
