#!/usr/bin/env bash
# End-to-end tests of run records (issue #15 §3, FORMAT.md §17): every
# host's runs in the operator's report.
#
#   1. web01, with a backup-only key through the append-only role of a real
#      sshd, runs a backup, a failed backup and a check; each leaves a
#      record in runs/ that web01 itself cannot read
#   2. the operator's report (full key, its own catalog) shows those runs
#      with host web01 and origin "repository"; a second report and the
#      operator's own backup add no duplicate
#   3. a wrong passphrase (exit 12) and a server that does not answer
#      write the metrics file and a run in the pending-runs journal; the
#      next run that reaches the repository uploads them and the report
#      shows them
#   4. a damaged run record is a finding of the report, not a failure, and
#      the reason names it
#   5. a host only run records name (any backup-only key can write one) is
#      a WARNING, not a FAILED host with no backup
#   6. a record from a host whose clock is fast still shows its failure
#   7. the pending-runs journal takes only what the unreached path writes,
#      only from this user's private directory, keyed by the absolute
#      repository address
#   8. over a read-only role the upload is skipped, said once
#
# Needs root (sshd, as the other ssh tests).
#
# usage: run_records.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: run_records.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: run_records.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init run-records
export TZ=UTC

SRC=$WORK/src
mkdir -p "$SRC/etc"
echo "config of web01" >"$SRC/etc/app.conf"
head -c 300000 /dev/urandom >"$SRC/etc/blob"

# ops ARGS...: the operator, full key, local path, its own catalog.
ops() {
	KLUIS_CACHE_DIR=$WORK/cache-ops "$KLUIS" -r "$REPO" \
	    --password-file "$PW" "$@"
}

# web ARGS...: web01 with its backup-only key, its own catalog and the
# append-only SSH key (WEB_PW: another passphrase file).
web() {
	KLUIS_CACHE_DIR=$WORK/cache-web01 timeout 60 "$KLUIS" -r "$SSH_URL" \
	    --key-file "$WORK/web01.key" --password-file "${WEB_PW:-$WORK/pw-web}" \
	    --ssh-key "$SSH_KEY_APPEND" --ssh-known-hosts "$SSH_KH" \
	    --server-command "$KLUIS_SERVER" "$@"
}

# runs_of EXPR: the runs of the report in $OUT for which EXPR (Python, r =
# a run) holds, one per line as "kind host exit origin".
runs_of() {
	python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read())
runs = d["backup_runs"] + d["checks"]["runs"] + d["drills"]["runs"]
for r in runs:
    if eval(sys.argv[2]):
        print(r["kind"], r["host"], r["exit_code"], r["origin"])' "$OUT" "$1"
}

count_runs() {
	runs_of "$1" | wc -l
}

# ---------------------------------------------------------------------------
case_begin "1: a backup-only host over sshd writes run records"
expect_exit 0 ops init --kdf interactive
make_password "$WORK/pw-web" "web01's passphrase"
E2E_WHAT="key add --backup-only" expect_exit 0 ops key add --backup-only \
    --out "$WORK/web01.key" --new-password-file "$WORK/pw-web" \
    --kdf interactive

E2E_WHAT="web01 backup" expect_exit 0 web backup --host web01 "$SRC"
E2E_WHAT="web01 backup of a missing path fails" expect_exit 1 \
    web backup --host web01 "$WORK/no-such-dir"
run web check
WEB_CHECK_RC=$rc
check "web01's check ran (exit $WEB_CHECK_RC)" test "$WEB_CHECK_RC" -le 12
n=$(find "$REPO/runs" -type f ! -name '.tmp-*' | wc -l)
check "runs/ holds web01's 3 records ($n)" test "$n" -eq 3
check "the server audited the uploads of run records" \
    grep -q 'client=web01.*op=put type=run' "$REPO/audit.log"
rec=$(find "$REPO/runs" -type f ! -name '.tmp-*' | head -n 1)
check "a record is sealed (no host name in clear)" \
    bash -c "! grep -q web01 '$rec'"

# ---------------------------------------------------------------------------
case_begin "2: the operator's report shows every host's runs, once"
E2E_WHAT="report --json" expect_exit 0 ops report --json
json_check "the report read 3 run records" \
    'd["repository"]["run_records"] == 3 and d["repository"]["run_records_unreadable"] == 0'
n=$(count_runs 'r["host"] == "web01" and r["kind"] == "backup" and r["origin"] == "repository"')
check "web01's 2 backup runs are in the report ($n)" test "$n" -eq 2
n=$(count_runs 'r["host"] == "web01" and r["kind"] == "backup" and r["exit_code"] == 1')
check "web01's failed backup is there, with exit 1 ($n)" test "$n" -eq 1
n=$(count_runs 'r["kind"] == "check" and r["origin"] == "repository" and r["exit_code"] == '"$WEB_CHECK_RC")
check "web01's check is there ($n)" test "$n" -eq 1
n=$(count_runs 'r["origin"] == "repository" and r["received"] is not None and r["end"] <= r["received"]')
check "imported runs carry their receive time, and end by it ($n)" \
    test "$n" -eq 3
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(any(x["code"]=="backup_runs_failed" and x["host"]=="web01" for x in d["reasons"]))' "$OUT" >"$WORK/.r"
check "web01's failed run is a finding" grep -qx True "$WORK/.r"

E2E_WHAT="report again" expect_exit 0 ops report --json
n=$(count_runs 'r["origin"] == "repository"')
check "a second report: still 3 imported runs ($n)" test "$n" -eq 3

E2E_WHAT="operator backup" expect_exit 0 ops backup --host ops "$SRC"
n=$(find "$REPO/runs" -type f ! -name '.tmp-*' | wc -l)
check "the operator's backup left its record too ($n)" test "$n" -eq 4
E2E_WHAT="report after the operator's run" expect_exit 0 ops report --json
n=$(count_runs 'r["host"] == "ops"')
check "the operator's run is there once ($n)" test "$n" -eq 1
n=$(count_runs 'r["host"] == "ops" and r["origin"] == "local"')
check "... as its own, local run ($n)" test "$n" -eq 1
n=$(count_runs 'r["origin"] == "repository"')
check "still 3 imported runs ($n)" test "$n" -eq 3

E2E_WHAT="report --format text" expect_exit 0 ops report --format text
expect_stdout_contains "web01*"
expect_stdout_contains "from a run record in the repository"
E2E_WHAT="report --format html" expect_exit 0 ops report --format html
expect_stdout_contains "(record)</small>"

# ---------------------------------------------------------------------------
case_begin "3: runs that never reached the repository"
make_password "$WORK/pw-wrong" "not web01's passphrase"
WEB_PW=$WORK/pw-wrong E2E_WHAT="web01 with a wrong passphrase" \
    expect_exit 12 web backup --host web01 --metrics-file "$WORK/m.prom" "$SRC"
check "the metrics file says exit 12" \
    grep -q '^kluis_backup_exit_code{.*host="web01"} 12$' "$WORK/m.prom"
n=$(find "$WORK/cache-web01/pending-runs" -type f | wc -l)
check "the run is in web01's pending-runs journal ($n)" test "$n" -eq 1

# the server does not answer: sshd stopped, then started again on its port
kill "$SSHD_PID"
wait "$SSHD_PID" 2>/dev/null
run web check --metrics-file "$WORK/m.prom"
UNREACH_RC=$rc
check "check without a server fails (exit $UNREACH_RC)" \
    test "$UNREACH_RC" -ne 0
check "the metrics file has the check's exit code" \
    grep -q "^kluis_check_last_exit_code{.*} $UNREACH_RC\$" "$WORK/m.prom"
check "the metrics file kept the backup's exit code" \
    grep -q '^kluis_backup_exit_code{.*} 12$' "$WORK/m.prom"
n=$(find "$WORK/cache-web01/pending-runs" -type f | wc -l)
check "both runs wait in the journal ($n)" test "$n" -eq 2
"$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config" -E "$SSHD_LOG.2" \
    </dev/null >/dev/null 2>&1 &
SSHD_PID=$!
at_exit "kill $SSHD_PID"
for _ in $(seq 100); do
	grep -q "Server listening" "$SSHD_LOG.2" 2>/dev/null && break
	sleep 0.05
done

E2E_WHAT="web01 backup again" expect_exit 0 web backup --host web01 "$SRC"
n=$(find "$WORK/cache-web01/pending-runs" -type f | wc -l)
check "the journal is empty again ($n)" test "$n" -eq 0
n=$(find "$REPO/runs" -type f ! -name '.tmp-*' | wc -l)
check "the 2 journal runs and the backup are uploaded ($n)" test "$n" -eq 7
E2E_WHAT="report" expect_exit 0 ops report --json
n=$(count_runs 'r["host"] == "web01" and r["kind"] == "backup" and r["exit_code"] == 12')
check "the wrong-passphrase run is in the report ($n)" test "$n" -eq 1
n=$(count_runs 'r["kind"] == "check" and r["origin"] == "repository" and r["exit_code"] == '"$UNREACH_RC")
check "the unreachable check is in the report ($n)" test "$n" -ge 1
n=$(count_runs 'r["origin"] == "repository"')
check "6 imported runs, no duplicate ($n)" test "$n" -eq 6

# ---------------------------------------------------------------------------
case_begin "4: a damaged run record is a finding"
rec=$(find "$REPO/runs" -type f ! -name '.tmp-*' | head -n 1)
# a new file of garbage under its own (valid) name: content and name agree
head -c 400 /dev/urandom >"$WORK/garbage"
g=$(b2sum -l 256 "$WORK/garbage" | cut -d' ' -f1)
cp "$WORK/garbage" "$REPO/runs/$g"
E2E_WHAT="report with a damaged record" expect_exit 0 ops report --json
json_check "one unreadable record counted" \
    'd["repository"]["run_records_unreadable"] == 1'
json_check "... as a warning" \
    'any(x["code"] == "run_records_unreadable" for x in d["reasons"])'
n=$(count_runs 'r["origin"] == "repository"')
check "the other runs are all still there ($n)" test "$n" -eq 6
check "stderr names the record" grep -q "runs/$g" "$ERR"
json_check "... and the report's reason names it" \
    'any(x["code"] == "run_records_unreadable" and "runs/'"$g"'" in x["message"] for x in d["reasons"])'
[ -n "$rec" ]

# reason LEVEL CODE HOST: 0 if the report in $OUT has that reason.
reason() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if any(x["level"] == sys.argv[2] and x["code"] == sys.argv[3]
    and x["host"] == sys.argv[4] for x in d["reasons"]) else 1)' \
	    "$OUT" "$@"
}
no_reason_for() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(1 if any(x["code"] == sys.argv[2] and x["host"] == sys.argv[3]
    for x in d["reasons"]) else 0)' "$OUT" "$@"
}

# runrec FILE KIND EXIT START ERRORS FILES HOST: a §17 plaintext, as a
# local user could write it into a journal; its name is its run id.
runrec() {
	python3 - "$@" <<'PY'
import os, struct, sys
path, kind, code, start, errors, files, host = sys.argv[1:]
rid = os.urandom(16)
kinds = {"backup": 1, "check": 2, "drill": 3}
s16 = lambda t: struct.pack("<H", len(t)) + t
body = (rid + bytes([kinds[kind]]) + bytes(3) + struct.pack("<I", int(code))
    + struct.pack("<qq", int(start), int(start) + 1)
    + struct.pack("<QQQQ", int(files), 0, 0, int(errors)) + bytes(32)
    + s16(host.encode()) + s16(b"planted") + s16(b"kluis 0"))
with open(os.path.join(path, rid.hex()), "wb") as f:
    f.write(body)
print(rid.hex())
PY
}

# ---------------------------------------------------------------------------
case_begin "5: a host named only by run records"
E2E_WHAT="a backup-only key names a host with no snapshot" expect_exit 1 \
    web backup --host ghost-host "$WORK/no-such-dir"
E2E_WHAT="report" expect_exit 0 ops report --json
check "ghost-host is listed: a WARNING, host_only_in_records" \
    reason WARNING host_only_in_records ghost-host
check "... not FAILED with no_backup" no_reason_for no_backup ghost-host

# ---------------------------------------------------------------------------
case_begin "6: a host with a fast clock"
JDIR=$(find "$WORK/cache-web01/pending-runs" -mindepth 1 -maxdepth 1 -type d)
check "web01 has one journal directory" test -d "$JDIR"
runrec "$JDIR" backup 1 "$(( $(date +%s) + 10 * 86400 ))" 1 0 fast01 >/dev/null
E2E_WHAT="web01 backup uploads the journal" expect_exit 0 \
    web backup --host web01 "$SRC"
E2E_WHAT="report" expect_exit 0 ops report --json
n=$(count_runs 'r["host"] == "fast01" and r["exit_code"] == 1 and r["start"] <= r["received"]')
check "the run that starts 10 days ahead is there, at its receive time ($n)" \
    test "$n" -eq 1
check "... and its failure is a finding" \
    reason WARNING backup_runs_failed fast01

# ---------------------------------------------------------------------------
case_begin "7: what the pending-runs journal takes"
nruns() { find "$REPO/runs" -type f ! -name '.tmp-*' | wc -l; }
before=$(nruns)
runrec "$JDIR" check 0 "$(date +%s)" 0 0 web01 >/dev/null
runrec "$JDIR" backup 1 "$(date +%s)" 1 5 web01 >/dev/null
E2E_WHAT="web01 backup with a planted successful check" expect_exit 0 \
    web backup --host web01 "$SRC"
expect_stderr_contains "is not a run this machine recorded: removed"
n=$(find "$JDIR" -type f | wc -l)
check "both planted files are gone ($n)" test "$n" -eq 0
check "only the backup's own record was uploaded" \
    test "$(nruns)" -eq $((before + 1))

runrec "$JDIR" backup 2 "$(date +%s)" 1 0 web01 >/dev/null
chmod g+w "$JDIR"
before=$(nruns)
E2E_WHAT="web01 backup, journal group-writable" expect_exit 0 \
    web backup --host web01 "$SRC"
expect_stderr_contains "not this user's private directory"
n=$(find "$JDIR" -type f | wc -l)
check "the journal is left alone ($n)" test "$n" -eq 1
check "nothing of it was uploaded" test "$(nruns)" -eq $((before + 1))
chmod g-w "$JDIR"
E2E_WHAT="web01 backup, journal private again" expect_exit 0 \
    web backup --host web01 "$SRC"
check "now it is taken" test "$(find "$JDIR" -type f | wc -l)" -eq 0

run bash -c 'cd "$1" && KLUIS_CACHE_DIR="$1/cache-rel" \
    "$2" -r norepo --password-file "$3" backup "$4"' _ "$WORK" "$KLUIS" \
    "$PW" "$SRC"
check "a relative repository path that does not exist fails (exit $rc)" \
    test "$rc" -ne 0
h=$(printf '%s' "$WORK/norepo" | b2sum -l 256 | cut -d' ' -f1)
n=$(find "$WORK/cache-rel/pending-runs/$h" -type f 2>/dev/null | wc -l)
check "its journal is keyed by the absolute path ($n)" test "$n" -eq 1

# ---------------------------------------------------------------------------
case_begin "8: a read-only role keeps this machine's runs local"
before=$(nruns)
E2E_WHAT="check over the read-only role" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-ro" "$KLUIS" -r "$SSH_URL" \
    --password-file "$PW" --ssh-key "$SSH_KEY_RO" \
    --ssh-known-hosts "$SSH_KH" --server-command "$KLUIS_SERVER" check
expect_stderr_contains "this machine's runs stay in its local history"
check "said once" test "$(grep -c "stay in its local history" "$ERR")" -eq 1
check "no promise of a later upload" \
    bash -c "! grep -q 'a later run uploads it' '$ERR'"
check "nothing uploaded" test "$(nruns)" -eq "$before"

e2e_finish
