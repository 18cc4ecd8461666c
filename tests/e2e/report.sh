#!/usr/bin/env bash
# End-to-end tests of `kluis report` and `--metrics-file` (issue #5 §3,
# docs/COMPLIANCE.md "Reports", "Metrics"): a repository with several hosts,
# backups that really ran, a failed backup run, a host whose last backup is
# three days old (its snapshot's receive time - the file's mtime in a local
# repository - set back before the catalog first saw it); the JSON verdict
# and reasons, per-host counts, --since, KLUIS_REPORT_NOW, the text and the
# HTML (validated with html.parser: well-formed, self-contained, hostnames
# escaped), atomic --out; Prometheus metrics of backups.  Checks and drills
# are asserted when those commands exist.
#
# usage: report.sh /path/to/kluis
KLUIS=${1:?usage: report.sh KLUIS}
. "$(dirname "$0")/lib.sh"
e2e_init report

HTMLCHECK="$E2E_DIR/htmlcheck.py"
SRC=$WORK/src
SRC2=$WORK/src2
XSS='x<script>alert(1)</script>&"'\''y'

# jq_file FILE EXPR: evaluates a Python expression over d = the JSON in FILE.
jq_file() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# jq EXPR: the same over $OUT.
jq() {
	jq_file "$OUT" "$1"
}

# host_q HOST EXPR: EXPR over h = the report's entry of HOST (in $OUT).
host_q() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
h = [x for x in d["hosts"] if x["host"] == sys.argv[2]][0]
print(eval(sys.argv[3]))' "$OUT" "$1" "$2"
}

# reason CODE [HOST]: passes if the report in $OUT has that reason.
has_reason() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
want = sys.argv[3] if len(sys.argv) > 3 else None
sys.exit(0 if any(r["code"] == sys.argv[2] and
    (want is None or r["host"] == want) for r in d["reasons"]) else 1)' \
	    "$OUT" "$@"
}

# metric FILE NAME [HOST]: the value of kluis_NAME{...host="HOST"} in FILE.
metric() {
	python3 -c 'import re,sys
name, host = sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
pat = re.compile(r"^(kluis_[a-z_]+)\{repository=\"([0-9a-f]{64})\",host=\"((?:[^\"\\]|\\.)*)\"\} (-?[0-9.e+]+)$")
for line in open(sys.argv[1]):
    m = pat.match(line.rstrip("\n"))
    if m and m.group(1) == name and (host is None or m.group(3) == host):
        print(m.group(4))
        break' "$@"
}

mkdir -p "$SRC/etc" "$SRC2"
seq 1 20000 >"$SRC/etc/table"
echo "config one" >"$SRC/etc/app.conf"
seq 1 3000 >"$SRC2/data"

expect_exit 0 k init --kdf interactive

# ---------------------------------------------------------------------------
echo "# a repository with history"
E2E_WHAT="old01: one backup" expect_exit 0 \
    k backup "$SRC2" --host old01 --json
O1=$(json_field snapshot_id)
# received three days ago (before any command syncs the catalog)
touch -d '3 days ago' "$REPO/snapshots/$O1"
E2E_WHAT="web01: first backup" expect_exit 0 \
    k backup "$SRC" --host web01 --json
W1_ADDED=$(json_field bytes_added)
echo "config two" >"$SRC/etc/app.conf"
seq 1 500 >"$SRC/etc/new"
E2E_WHAT="web01: second backup" expect_exit 0 \
    k backup "$SRC" --host web01 --json
W2=$(json_field snapshot_id)
W2_ADDED=$(json_field bytes_added)
E2E_WHAT="web01: a backup of a missing path fails (exit 1)" expect_exit 1 \
    k backup "$WORK/missing" --host web01
E2E_WHAT="a host named with markup" expect_exit 0 \
    k backup "$SRC2" --host "$XSS" --json
X1=$(json_field snapshot_id)

# ---------------------------------------------------------------------------
echo "# JSON"
expect_exit 0 k report --format json
cp "$OUT" "$WORK/r1.json"
check "the JSON report is one valid document of schema 1" \
    test "$(jq 'd["schema"]')" = 1
check "the report names the repository" \
    test "$(jq 'len(d["repository"]["id"])')" = 64
check "every host is listed, sorted by name" \
    test "$(jq '",".join(h["host"] for h in d["hosts"])')" = "old01,web01,$XSS"
check "web01: 2 snapshots, the last one is the second backup" \
    test "$(host_q web01 '(h["snapshots"], h["last_snapshot"])')" = "(2, '$W2')"
check "web01: 3 runs in the period, 2 ok, 1 failed" \
    test "$(host_q web01 '(h["runs"]["total"], h["runs"]["ok"], h["runs"]["failed"])')" = "(3, 2, 1)"
check "web01: the bytes added are the two backups' sum" \
    test "$(host_q web01 'h["runs"]["bytes_added"]')" = $((W1_ADDED + W2_ADDED))
check "web01: the last failure is the exit-1 run, with its error" \
    test "$(host_q web01 '(h["last_failure"]["exit_code"], h["last_failure"]["error"] is not None)')" = "(1, True)"
check "old01: the last backup is the server's receive time, 3 days ago" \
    python3 -c 'import sys; a = int(sys.argv[1]); sys.exit(0 if 3 * 86400 - 120 <= a <= 3 * 86400 + 120 else 1)' \
    "$(host_q old01 'h["last_backup_age_s"]')"
check "old01: last snapshot and size from the repository" \
    test "$(host_q old01 '(h["last_snapshot"], h["last_snapshot_bytes"])')" = "('$O1', $(stat -c %s "$SRC2/data"))"
check "the verdict is FAILED" test "$(jq 'd["verdict"]')" = FAILED
check "reason: old01's backup is overdue" has_reason backup_overdue old01
check "no overdue reason for web01 (backed up just now)" \
    test "$(jq 'sum(1 for r in d["reasons"] if r["code"] == "backup_overdue")')" = 1
check "reason: web01's failed run" has_reason backup_runs_failed web01
check "the failed-run reason says which exit code" \
    test "$(jq '[r["message"] for r in d["reasons"] if r["code"] == "backup_runs_failed"][0].count("exit code 1")')" = 1
check "reason: no data verified" has_reason verification_overdue
check "reason: no drill" has_reason drill_overdue
check "the period's backup runs are listed (5, one failed)" \
    test "$(jq '(len(d["backup_runs"]), [r["status"] for r in d["backup_runs"]].count("failed"))')" = "(5, 1)"
check "the snapshot history per host feeds the chart" \
    test "$(host_q web01 'len(h["history"])')" = 2
check "data verification: packs known, none verified" \
    test "$(jq '(d["verification"]["packs"] > 0, d["verification"]["verified"], d["verification"]["all_verified_since"])')" = "(True, 0, None)"
check "the run history's machine is named" \
    test "$(jq 'd["machine"]')" = "$(hostname)"

E2E_WHAT="--json is --format json" expect_exit 0 k report --json
check "--json gives the same verdict" test "$(jq 'd["verdict"]')" = FAILED

# ---------------------------------------------------------------------------
echo "# --since and KLUIS_REPORT_NOW"
sleep 1.1
SINCE=$(date '+%Y-%m-%d %H:%M:%S')
sleep 1.1
expect_exit 0 k report --format json --since "$SINCE"
check "--since: no run in the period" \
    test "$(jq '(len(d["backup_runs"]), sum(h["runs"]["total"] for h in d["hosts"]))')" = "(0, 0)"
check "--since: the failed run is outside the period, no reason for it" \
    bash -c '! python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if any(r[\"code\"] == \"backup_runs_failed\" for r in d[\"reasons\"]) else 1)" "$1"' _ "$OUT"
check "--since: snapshots still count (web01 has 2)" \
    test "$(host_q web01 'h["snapshots"]')" = 2
expect_exit 0 k report --format json --since 2000-01-01
check "--since 2000-01-01: every run is in the period" \
    test "$(jq 'len(d["backup_runs"])')" = 5
E2E_WHAT="a malformed --since" expect_exit 2 k report --since "yesterday"
expect_stderr_contains "--since"
E2E_WHAT="--since in the future" expect_exit 2 k report --since 2999-01-01

NOW3=$(($(date +%s) + 3 * 86400))
KLUIS_REPORT_NOW=$NOW3 expect_exit 0 k report --format json
check "KLUIS_REPORT_NOW 3 days ahead: web01 is overdue too" \
    has_reason backup_overdue web01
check "KLUIS_REPORT_NOW shows as as_of" \
    test "$(jq 'd["as_of"]')" = "$(date -u -d "@$NOW3" '+%Y-%m-%dT%H:%M:%SZ')"
KLUIS_REPORT_NOW=$(($(date +%s) - 3 * 86400 + 600)) \
    expect_exit 0 k report --format json
check "KLUIS_REPORT_NOW in the past: later snapshots are left out" \
    test "$(jq '[h["host"] for h in d["hosts"]]')" = "['old01']"
KLUIS_REPORT_NOW=soon expect_exit 2 k report
expect_stderr_contains "KLUIS_REPORT_NOW"
E2E_WHAT="--format bogus" expect_exit 2 k report --format bogus
E2E_WHAT="--json with --format html" expect_exit 2 \
    k report --json --format html
E2E_WHAT="report takes no argument" expect_exit 2 k report extra
E2E_WHAT="report refuses backup options" expect_exit 2 \
    k report --host web01

# ---------------------------------------------------------------------------
echo "# text"
expect_exit 0 k report
expect_stdout_contains "VERDICT: FAILED"
expect_stdout_contains "Host web01"
expect_stdout_contains "Host old01"
expect_stdout_contains "from this machine"
expect_stdout_contains "${W2:0:8}"
check "the text names each reason" \
    test "$(grep -c '^  - ' "$OUT")" = "$(jq_file "$WORK/r1.json" 'len(d["reasons"])')"

E2E_WHAT="a host name with a newline" expect_exit 0 \
    k backup "$SRC2" --host $'evil\nVERDICT: OK'
expect_exit 0 k report
check "text: a host name cannot forge a line (newline escaped)" \
    bash -c '! grep -q "^VERDICT: OK" "$1" && grep -qF "evil\\x0aVERDICT: OK" "$1"' _ "$OUT"

# ---------------------------------------------------------------------------
echo "# HTML"
mkdir "$WORK/out"
umask 077
expect_exit 0 k report --format html --out "$WORK/out/report.html"
umask 022
check "--out: the report file exists" test -s "$WORK/out/report.html"
check "--out: stdout stays empty" test ! -s "$OUT"
check "--out: mode 0644 whatever the umask" \
    test "$(stat -c %a "$WORK/out/report.html")" = 644
check "--out: no temporary file left" \
    test "$(find "$WORK/out" -name '.tmp-*' | wc -l)" = 0
run python3 "$HTMLCHECK" "$WORK/out/report.html" --text "$XSS" \
    --text web01 --text old01 --text "Verdict: FAILED"
if [ "$rc" -eq 0 ]; then ok "the HTML is well-formed, self-contained, with a chart"
else not_ok "htmlcheck: the HTML has problems"; fi
check "HTML: the markup host name is escaped, never raw" \
    bash -c '! grep -qF "<script" "$1" && grep -qF "x&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;y" "$1"' \
    _ "$WORK/out/report.html"
check "HTML: the snapshot size chart has a line per host" \
    test "$(grep -c '<polyline' "$WORK/out/report.html")" -ge 3
check "HTML: print styles for A4" grep -q '@page{size:A4' \
    "$WORK/out/report.html"
check "HTML: the verdict is coloured" \
    grep -q 'class="verdict fail"' "$WORK/out/report.html"
printf 'broken <b><i>nesting</b></i> <img src="http://x/y.png">' \
    >"$WORK/bad.html"
check "htmlcheck itself rejects bad nesting and external images" \
    bash -c '! python3 "$1" "$2" >/dev/null' _ "$HTMLCHECK" "$WORK/bad.html"
echo old >"$WORK/out/keep.html"
E2E_WHAT="--out into a missing directory" expect_exit 1 \
    k report --out "$WORK/nowhere/r.html"
expect_stderr_contains "cannot write the report"

# ---------------------------------------------------------------------------
echo "# backup-only key"
make_password "$WORK/pw2" "backup only passphrase"
expect_exit 0 k key add --backup-only --out "$WORK/bkey" \
    --new-password-file "$WORK/pw2"
E2E_WHAT="report with a backup-only key" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/bkey" --password-file "$WORK/pw2" \
    report
expect_stderr_contains "full key"

# ---------------------------------------------------------------------------
echo "# metrics"
mkdir "$WORK/prom"
M=$WORK/prom/kluis.prom
echo "more" >>"$SRC/etc/app.conf"
umask 077
E2E_WHAT="backup --metrics-file" expect_exit 0 \
    k backup "$SRC" --host web01 --json --metrics-file "$M"
umask 022
MFILES=$(python3 -c 'import json,sys; d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(d["files_new"] + d["files_changed"] + d["files_unmodified"])' "$OUT")
MADDED=$(json_field bytes_added)
REPOID=$(jq_file "$WORK/r1.json" 'd["repository"]["id"]')
check "metrics: the file is there, mode 0644 whatever the umask" \
    test "$(stat -c %a "$M")" = 644
check "metrics: no temporary file left beside it" \
    test "$(find "$WORK/prom" -name '.tmp-*' | wc -l)" = 0
check "metrics: every line is a HELP, a TYPE gauge or a labelled sample" \
    python3 -c 'import re,sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "no final newline"
seen = set()
for l in lines[:-1]:
    m = re.match(r"^# (HELP|TYPE) (kluis_backup_[a-z_]+) (.*)$", l)
    if m:
        if m.group(1) == "TYPE":
            assert m.group(3) == "gauge", l
            seen.add(m.group(2))
        continue
    m = re.match(r"^(kluis_backup_[a-z_]+)\{repository=\"[0-9a-f]{64}\",host=\"[^\"]*\"\} -?[0-9.e+]+$", l)
    assert m, "bad line: " + l
    assert m.group(1) in seen, "sample before its TYPE: " + l
' "$M"
check "metrics: the repository label is the repository id" \
    grep -q "repository=\"$REPOID\",host=\"web01\"" "$M"
check "metrics: files match the backup's JSON" \
    test "$(metric "$M" kluis_backup_files web01)" = "$MFILES"
check "metrics: bytes_added match the backup's JSON" \
    test "$(metric "$M" kluis_backup_bytes_added web01)" = "$MADDED"
check "metrics: exit code 0, last exit code 0" \
    test "$(metric "$M" kluis_backup_exit_code)/$(metric "$M" kluis_backup_last_exit_code)" = 0/0
for g in duration_seconds bytes errors last_run_timestamp_seconds; do
	check "metrics: kluis_backup_$g is there" \
	    test -n "$(metric "$M" "kluis_backup_$g")"
done
LS1=$(metric "$M" kluis_backup_last_success_timestamp_seconds)
check "metrics: the last success is this run (now)" \
    test $(($(date +%s) - LS1)) -le 60
sleep 1.1
E2E_WHAT="a failed backup with --metrics-file" expect_exit 1 \
    k backup "$WORK/missing" --host web01 --metrics-file "$M"
check "metrics after a failure: last exit code 1" \
    test "$(metric "$M" kluis_backup_last_exit_code)" = 1
check "metrics after a failure: no snapshot, so no files and no bytes" \
    test "$(metric "$M" kluis_backup_files web01)/$(metric "$M" kluis_backup_bytes web01)" = 0/0
check "metrics after a failure: the last success is kept" \
    test "$(metric "$M" kluis_backup_last_success_timestamp_seconds)" = "$LS1"
check "metrics after a failure: the last run is newer than the success" \
    test "$(metric "$M" kluis_backup_last_run_timestamp_seconds)" -gt "$LS1"
# Issue #13 §6: a run that fails before its repository is open (wrong
# passphrase, no repository there) still writes the file, keeping the
# repository label and the last success of the file it replaces.
echo "not the passphrase" >"$WORK/wrong-pw"
E2E_WHAT="a backup with the wrong passphrase and --metrics-file" \
    expect_exit 12 "$KLUIS" -r "$REPO" --password-file "$WORK/wrong-pw" \
    backup "$SRC" --host web01 --metrics-file "$M"
check "metrics before the repository opened: last exit code 12" \
    test "$(metric "$M" kluis_backup_last_exit_code)/$(metric "$M" kluis_backup_exit_code)" = 12/12
check "metrics before the repository opened: the last success is kept" \
    test "$(metric "$M" kluis_backup_last_success_timestamp_seconds)" = "$LS1"
check "metrics before the repository opened: the repository label is kept" \
    grep -q "kluis_backup_last_success_timestamp_seconds{repository=\"$REPOID\",host=\"web01\"}" "$M"
E2E_WHAT="a check of a missing repository with --metrics-file" \
    expect_exit 10 "$KLUIS" -r "$WORK/no-repo" --password-file "$PW" \
    check --metrics-file "$WORK/prom/check.prom"
check "metrics of a check that found no repository: last exit code 10" \
    grep -q '^kluis_check_last_exit_code{repository="unknown",host="[^"]*"} 10$' \
    "$WORK/prom/check.prom"
sleep 1.1
expect_exit 0 k backup "$SRC" --host web01 --metrics-file "$M"
check "metrics after a success: the last success moves on" \
    test "$(metric "$M" kluis_backup_last_success_timestamp_seconds)" -gt "$LS1"
# one file for several jobs (a profile's metrics-file): a check keeps the
# backup's series, and the backup's next run keeps the check's
E2E_WHAT="check --metrics-file into the backup's file" expect_exit 0 \
    k check --metrics-file "$M"
check "the backup's series survive the check's write" \
    test "$(metric "$M" kluis_backup_last_success_timestamp_seconds web01)" -gt "$LS1"
check "and the check's are there" \
    test "$(metric "$M" kluis_check_last_exit_code)" = 0
expect_exit 0 k backup "$SRC" --host web01 --metrics-file "$M"
check "the next backup keeps the check's series" \
    test "$(metric "$M" kluis_check_last_exit_code)" = 0
check "each series once" test "$(grep -c '^# TYPE kluis_check_last_exit_code ' "$M")" = 1
E2E_WHAT="metrics of a host with quotes and backslashes" expect_exit 0 \
    k backup "$SRC2" --host 'q"b\s' --metrics-file "$M"
check "metrics: label values are escaped" \
    grep -qF 'host="q\"b\\s"' "$M"
check "metrics: per host: a host's first backup has only its own success" \
    test "$(metric "$M" kluis_backup_last_exit_code 'q\"b\\s')" = 0
E2E_WHAT="--metrics-file into a missing directory" expect_exit 1 \
    k backup "$SRC2" --host web01 --metrics-file "$WORK/nodir/x.prom"
expect_stderr_contains "metrics file"

# ---------------------------------------------------------------------------
echo "# a damaged snapshot file"
cp -a "$REPO" "$WORK/repo-dmg"
printf 'garbage' >"$WORK/repo-dmg/snapshots/$O1"
E2E_WHAT="report on a repository with a damaged snapshot: exit 1" \
    KLUIS_CACHE_DIR=$WORK/cache-dmg expect_exit 1 \
    "$KLUIS" -r "$WORK/repo-dmg" --password-file "$PW" report --format json
check "a damaged snapshot file: FAILED, reason repository_damaged" \
    has_reason repository_damaged
# old01's runs come in from its run records (issue #15), so the host is
# listed.  Its only snapshot is the damaged file, and a snapshot that does
# not decrypt cannot name its host: to this fresh catalog old01 is known
# from run records only - a WARNING (host_only_in_records), not no_backup,
# since anyone with a backup-only key can write such a record.  The report
# is FAILED all the same, for repository_damaged.
check "a damaged snapshot file: counted; its host is listed from its run records" \
    test "$(jq '(d["repository"]["damaged_files"], "old01" in [h["host"] for h in d["hosts"]])')" = "(1, True)"
check "a damaged snapshot file: old01 is known from run records only" \
    has_reason host_only_in_records old01
check "a damaged snapshot file: ... not no_backup (its snapshot may be fine once repaired)" \
    bash -c '! python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if any(r[\"code\"] == \"no_backup\" and r[\"host\"] == \"old01\" for r in d[\"reasons\"]) else 1)" "$1"' _ "$OUT"
expect_stderr_contains "damaged"

# ---------------------------------------------------------------------------
# Checks and drills recorded in the catalog show up in the report.

echo "# checks"
expect_exit 0 k check --read-data
expect_exit 0 k report --format json
check "after check --read-data: the last check is there, no findings" \
    test "$(jq '(d["checks"]["last"]["exit_code"], d["checks"]["last"]["findings"])')" = "(0, 0)"
check "after check --read-data: every pack verified, with a date" \
    test "$(jq '(d["verification"]["verified"] == d["verification"]["packs"], d["verification"]["all_verified_since"] is not None)')" = "(True, True)"
check "after check --read-data: no verification reason" \
    bash -c '! python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if any(r[\"code\"] == \"verification_overdue\" for r in d[\"reasons\"]) else 1)" "$1"' _ "$OUT"

echo "# drills"
# several hosts, none of them this machine: latest names one (CLI.md)
expect_exit 2 k drill latest
expect_stderr_contains "--host"
expect_exit 0 k drill latest --host web01
expect_exit 0 k report --format json
check "after a drill: the last drill passed, with a recovery time" \
    test "$(jq '(d["drills"]["last"]["exit_code"], d["drills"]["last"]["rto_s"] is not None)')" = "(0, True)"
check "after a drill: no drill reason" \
    bash -c '! python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if any(r[\"code\"].startswith(\"drill_\") for r in d[\"reasons\"]) else 1)" "$1"' _ "$OUT"

# a sample's recovery time is an estimate, and the report says so
# (issue #13 §6); error cells of the HTML tables wrap long ids
echo "a second file" >"$SRC/etc/second.conf"
E2E_WHAT="a backup of web01 with several files" expect_exit 0 k backup \
    "$SRC" --host web01 -q
E2E_WHAT="a drill of one file" expect_exit 0 k drill latest --host web01 \
    --sample 1 --json
json_check "the drill restored a sample, not everything" \
    'd["sample_files"] == 1 and not d["all"]'
E2E_WHAT="text report after a sampled drill" expect_exit 0 k report
expect_stdout_contains "estimated recovery time" "an extrapolated figure is an estimate"
check "it is not called measured" bash -c "! grep -q 'measured recovery time' '$OUT'"
E2E_WHAT="html report after a sampled drill" expect_exit 0 k report \
    --format html
expect_stdout_contains "est. " "the drill table marks the estimate"
check "error cells may wrap anywhere" grep -q 'td.e{overflow-wrap:anywhere}' "$OUT"
check "and the error cells use it" grep -q '<td class="e">' "$OUT"
E2E_WHAT="a drill of every file" expect_exit 0 k drill latest --host web01 \
    --sample 100%
E2E_WHAT="text report after a whole drill" expect_exit 0 k report
expect_stdout_contains "measured recovery time" "a whole restore is measured"

echo "# a check with findings"
PACK=$(find "$REPO/data" -type f ! -name '.*' | head -n 1)
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(200)
    b = f.read(1)
    f.seek(200)
    f.write(bytes([b[0] ^ 0xff]))' "$PACK"
expect_exit 1 k check --read-data
expect_exit 0 k report --format json
check "a check with findings: FAILED, reason check_findings" \
    has_reason check_findings
check "a check with findings: the damaged pack failed verification" \
    test "$(jq 'd["verification"]["failed"] >= 1')" = True

# ---------------------------------------------------------------------------
# Issue #11 section 5: thresholds are options; a retired host is no
# longer overdue.
echo "# thresholds and retired hosts"
expect_exit 0 k report --format json --backup-max-age 3650d
check "--backup-max-age 3650d: old01 is not overdue" \
    bash -c '! python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if any(r[\"code\"] == \"backup_overdue\" for r in d[\"reasons\"]) else 1)" "$1"' _ "$OUT"
expect_exit 0 k report --format json --backup-max-age 1d
check "--backup-max-age 1d: old01 is overdue" has_reason backup_overdue old01
check "the limit is in the reason" \
    test "$(jq '[r["message"] for r in d["reasons"] if r["code"] == "backup_overdue"][0].count("limit 24 hours")')" = 1
E2E_WHAT="a bad --backup-max-age" expect_exit 2 \
    k report --backup-max-age 5x
E2E_WHAT="a zero --drill-max-age" expect_exit 2 \
    k report --drill-max-age 0
E2E_WHAT="forget old01's snapshot" expect_exit 0 k forget "${O1:0:8}"
expect_exit 0 k report --format json
check "old01 is listed as retired, since now" \
    test "$(host_q old01 '(h["snapshots"], h["retired"] is not None)')" = "(0, True)"
check "a retired host is neither overdue nor without backup" \
    bash -c '! python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if any(r[\"host\"] == \"old01\" for r in d[\"reasons\"]) else 1)" "$1"' _ "$OUT"
check "web01 is not retired" test "$(host_q web01 'h["retired"]')" = None
expect_exit 0 k report
expect_stdout_contains "retired:                since"
E2E_WHAT="old01 backs up again" expect_exit 0 k backup "$SRC2" --host old01
expect_exit 0 k report --format json
check "a host with a snapshot again is not retired" \
    test "$(host_q old01 '(h["snapshots"], h["retired"])')" = "(1, None)"

e2e_finish
