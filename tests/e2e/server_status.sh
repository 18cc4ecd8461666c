#!/usr/bin/env bash
# Issue #15 section 2: `kluis-server status`, key-less monitoring of every
# repository under a root (docs/RUNBOOK.md §9.10):
#   - two repositories backed up through kluis-server (one with --quota):
#     exit 0, the text report, --json fields, the quota serve recorded;
#   - a repository whose snapshots are 3 days old is overdue: exit 1, and
#     the metrics file is still written, one series per repository;
#   - --overdue (longer, 0 = never), --repo, exit 10 without a repository,
#     usage errors (exit 2);
#   - verify and purge are recorded in the audit log and shown; a verify
#     that found a damaged pack makes status fail;
#   - an edited audit record: chain broken, exit 1, audit_intact 0;
#   - replication state files: lag 0, a failed run, a lag past --overdue;
#   - the Prometheus textfile parses line by line, its label values
#     escaped for a directory named with a quote, a backslash and a byte
#     that is no UTF-8; mode 0644, no temporary file left.
#
# usage: server_status.sh KLUIS KLUIS_SERVER
KLUIS=${1:?usage: server_status.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: server_status.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/lib.sh"
e2e_init server-status

SV=$KLUIS_SERVER
ROOT=$WORK/srv
PROM=$WORK/prom/kluis-server.prom
mkdir -p "$ROOT" "$WORK/prom" "$WORK/src"
echo "citizen record" >"$WORK/src/a.txt"

# kluis-server with a quota, as a forced command would run it (the client
# appends "serve --repo PATH").
cat >"$WORK/quota-srv.sh" <<EOF
#!/bin/sh
cmd=\$1
shift
exec "$SV" "\$cmd" --quota 1G "\$@"
EOF
chmod +x "$WORK/quota-srv.sh"

case_begin() {
	echo "--- $1"
}

# kp REPO SERVER ARGS...: kluis over pipe: to $ROOT/REPO.
kp() {
	local r=$1 s=$2
	shift 2
	"$KLUIS" -r "pipe:$ROOT/$r" --server-command "$s" --password-file "$PW" \
	    "$@"
}

# status ARGS...: kluis-server status --root $ROOT with the metrics file.
status() {
	"$SV" status --root "$ROOT" --metrics-file "$PROM" "$@"
}

# prom_check NAME EXPR: the metrics file parses as the exposition format
# (every line), and EXPR (Python; m[(metric, repo)] or
# m[(metric, repo, target)] is a value, n the number of series of a
# metric) holds.
prom_check() {
	if python3 - "$PROM" "$2" >>"$ERR" 2>&1 <<'PY'; then
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert text.endswith("\n")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
m, n, typed, done, cur = {}, {}, set(), set(), None
for line in text.splitlines():
    if line.startswith("# HELP "):
        assert re.fullmatch(r"# HELP (%s) .+" % NAME, line), line
        continue
    t = re.fullmatch(r"# TYPE (%s) (gauge|counter)" % NAME, line)
    if t:
        assert t.group(1) not in typed, "second TYPE " + line
        typed.add(t.group(1))
        continue
    s = re.fullmatch(r"(%s)(?:\{(.*)\})? (-?[0-9]+(?:\.[0-9]+)?)" % NAME,
                     line)
    assert s, "not a sample: " + repr(line)
    name = s.group(1)
    assert name in typed, "sample before TYPE: " + line
    if name != cur:
        assert name not in done, "family not contiguous: " + name
        done.add(cur)
        cur = name
    labels = {}
    if s.group(2):
        pairs = re.findall(LABEL + "(,|$)", s.group(2))
        assert ",".join('%s="%s"' % (k, v) for k, v, _ in pairs) == \
            s.group(2), "bad labels: " + line
        for k, v, _ in pairs:
            labels[k] = re.sub(r'\\(.)', lambda x: "\n" if x.group(1) == "n"
                               else x.group(1), v)
    short = name[len("kluis_server_"):]
    key = (short,) + tuple(labels[k] for k in ("repo", "target")
                            if k in labels)
    assert key not in m, "duplicate series: " + line
    m[key] = float(s.group(3))
    n[short] = n.get(short, 0) + 1
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)
PY
		ok "$1"
	else
		not_ok "$1"
		sed 's/^/  prom: /' "$PROM" | head -n 60
	fi
}

# repo_check NAME REPO EXPR: EXPR (Python, r = REPO's object in the
# --json report in $OUT, d the whole report) holds.
repo_check() {
	json_check "$1" "[r for r in d['repositories'] if r['name'] == \"$2\"] \
and (lambda r: $3)([r for r in d['repositories'] if r['name'] == \"$2\"][0])"
}

# ---------------------------------------------------------------------------
case_begin "two repositories backed up through kluis-server"
for r in web01 web02; do
	E2E_WHAT="init $r through kluis-server" expect_exit 0 \
	    kp "$r" "$SV" init --kdf interactive
done
E2E_WHAT="backup of web01 through serve --quota 1G" expect_exit 0 \
    kp web01 "$WORK/quota-srv.sh" backup "$WORK/src" --host web01
E2E_WHAT="backup of web02" expect_exit 0 \
    kp web02 "$SV" backup "$WORK/src" --host web02
mkdir -p "$ROOT/not-a-repo/data"
echo "a file beside the repositories" >"$ROOT/README"
check "serve recorded the quota it enforces" \
    test "$(cat "$ROOT/web01/state/quota")" = 1073741824
check "a session without --quota records none" \
    test ! -e "$ROOT/web02/state/quota"

E2E_WHAT="status: all well" expect_exit 0 status
expect_stdout_contains "web01: ok"
expect_stdout_contains "web02: ok"
expect_stdout_contains "2 repositories: 2 ok, 0 with problems"
check "the directory that is no repository is skipped" \
    bash -c "! grep -q not-a-repo '$OUT'"
expect_stdout_contains "1.0 GiB, 0 % used"

E2E_WHAT="status --json" expect_exit 0 status --json
json_check "--json: the two repositories, in order, ok" \
    '[r["name"] for r in d["repositories"]] == ["web01", "web02"] and d["ok"]'
repo_check "--json: web01's snapshot, size, last 24 h and quota" web01 \
    'r["snapshots"] == 1 and r["size_bytes"] > 0 and
     r["received_24h_bytes"] > 0 and r["quota_bytes"] == 1073741824 and
     r["last_snapshot_age_s"] < 600 and not r["overdue"] and
     r["audit"] == "intact" and r["audit_records"] > 0 and
     r["last_verify"] is None and r["last_purge"] is None and
     r["problems"] == [] and r["replication"] == []'
repo_check "--json: web02 has no quota" web02 'r["quota_bytes"] == 0'
prom_check "metrics: one series per repository" \
    'n["overdue"] == 2 and m[("overdue", "web01")] == 0 and
     m[("quota_bytes", "web01")] == 1073741824 and m[("ok", "web02")] == 1 and
     m[("snapshots", "web02")] == 1 and m[("audit_intact", "web01")] == 1 and
     m[("repositories",)] == 2 and m[("status_timestamp_seconds",)] > 0'
check "the metrics file is mode 0644" test "$(stat -c %a "$PROM")" = 644
check "no temporary file is left beside it" \
    test "$(ls -A "$WORK/prom")" = kluis-server.prom

# ---------------------------------------------------------------------------
case_begin "verify and purge are recorded and shown"
E2E_WHAT="verify web01" expect_exit 0 "$SV" verify --repo "$ROOT/web01"
check "verify appended a record" \
    grep -q ' op=verify .* outcome=ok ' "$ROOT/web01/audit.log"
# a trash entry whose delay ran out an hour ago
content="a snapshot removed long ago"
h=$(printf '%s' "$content" | b2sum -l 256 | cut -d' ' -f1)
now=$(date +%s)
mkdir -p "$ROOT/web01/trash"
printf '%s' "$content" >"$ROOT/web01/trash/snapshots.$h.$((now - 90000)).$((now - 3600))"
E2E_WHAT="status --json with a trash entry due" expect_exit 0 status --json
repo_check "the verify is shown" web01 \
    'r["last_verify_outcome"] == "ok" and r["last_verify_bytes"] > 0 and
     r["last_verify_s"] >= '"$now"' - 5'
repo_check "the trash entry is counted, due for an hour" web01 \
    'r["trash_files"] == 1 and r["trash_purge_late_s"] >= 3600'
E2E_WHAT="purge web01" expect_exit 0 "$SV" purge --repo "$ROOT/web01"
E2E_WHAT="status --json after the purge" expect_exit 0 status --json
repo_check "the purge is shown" web01 \
    'r["last_purge_s"] is not None and r["last_purge_s"] >= '"$now"' - 5 and
     r["trash_files"] == 0'
prom_check "metrics: verify and purge times" \
    'm[("verify_ok", "web01")] == 1 and
     m[("last_verify_timestamp_seconds", "web01")] >= '"$now"' - 5 and
     m[("last_verify_timestamp_seconds", "web02")] == 0 and
     ("verify_ok", "web02") not in m and
     m[("last_purge_timestamp_seconds", "web01")] >= '"$now"' - 5'
E2E_WHAT="status text" expect_exit 0 status
grep -q "last verify .* ago: ok" "$OUT" && ok "text: last verify ok" ||
    not_ok "text: last verify ok"

# ---------------------------------------------------------------------------
case_begin "overdue"
touch -d '3 days ago' "$ROOT"/web02/snapshots/*
rm -f "$PROM"
E2E_WHAT="status: web02's last snapshot is 3 days old" expect_exit 1 status
expect_stdout_contains "web02: PROBLEM: overdue: the last snapshot arrived 3d"
expect_stdout_contains "web01: ok"
check "the metrics file was written all the same" test -s "$PROM"
prom_check "metrics: web02 overdue, web01 not" \
    'm[("overdue", "web02")] == 1 and m[("overdue", "web01")] == 0 and
     m[("ok", "web02")] == 0 and
     m[("last_snapshot_age_seconds", "web02")] >= 3 * 86400 - 60'
E2E_WHAT="status --json" expect_exit 1 status --json
repo_check "--json: web02 overdue, its problem named" web02 \
    'r["overdue"] and any("overdue" in p for p in r["problems"])'
E2E_WHAT="--overdue 4d: not overdue" expect_exit 0 status --overdue 4d
E2E_WHAT="--overdue 0: never overdue" expect_exit 0 status --overdue 0
touch "$ROOT"/web02/snapshots/*

# ---------------------------------------------------------------------------
case_begin "a broken audit chain"
cp "$ROOT/web01/audit.log" "$WORK/audit.keep"
sed -i '3s/ gets=0 / gets=1 /' "$ROOT/web01/audit.log"
E2E_WHAT="status: web01's audit log was edited" expect_exit 1 status
expect_stdout_contains "web01: PROBLEM: audit log broken at line 3"
prom_check "metrics: audit_intact 0 for web01 only" \
    'm[("audit_intact", "web01")] == 0 and m[("audit_intact", "web02")] == 1'
cp "$WORK/audit.keep" "$ROOT/web01/audit.log"
mv "$ROOT/web02/audit.log" "$WORK/audit2.keep"
E2E_WHAT="status: web02's audit log is missing" expect_exit 1 status
expect_stdout_contains "web02: PROBLEM: no audit log"
mv "$WORK/audit2.keep" "$ROOT/web02/audit.log"
E2E_WHAT="status: both logs back" expect_exit 0 status

# ---------------------------------------------------------------------------
case_begin "replication lag from the state files"
# write_state FILE URL FINISHED OUTCOME MESSAGE SYNCED: one state file as
# repl_state.c writes it.
write_state() {
	mkdir -p "$ROOT/web01/replication"
	printf 'kluis-replication 1\nurl %s\nstarted %s\nfinished %s\noutcome %s\nmessage %s\nsynced %s\nfiles_sent 3\nbytes_sent 100\ndamaged 0\nrepaired 0\n' \
	    "$2" "$3" "$3" "$4" "$5" "$6" >"$ROOT/web01/replication/$1"
}
now=$(date +%s)
write_state 0000000000000001 "ssh://kluis@offsite.example/srv/kluis/web01" \
    "$((now + 10))" 0 "" "$((now + 10))"
E2E_WHAT="a target holding everything" expect_exit 0 status --json
repo_check "--json: lag 0, ok" web01 \
    'len(r["replication"]) == 1 and r["replication"][0]["lag_s"] == 0 and
     r["replication"][0]["ok"] and r["replication"][0]["url"] ==
     "ssh://kluis@offsite.example/srv/kluis/web01"'
prom_check "metrics: lag and ok per target" \
    'm[("replication_lag_seconds", "web01",
        "ssh://kluis@offsite.example/srv/kluis/web01")] == 0 and
     m[("replication_ok", "web01",
        "ssh://kluis@offsite.example/srv/kluis/web01")] == 1'
write_state 0000000000000002 /mnt/offsite/web01 "$((now + 10))" -16 \
    "cannot connect: refused" "$((now + 10))"
E2E_WHAT="a target whose last run failed" expect_exit 1 status
expect_stdout_contains "replication to /mnt/offsite/web01 failed"
expect_stdout_contains "cannot connect: refused"
rm "$ROOT/web01/replication/0000000000000002"
# synced long ago: the oldest file received since is an index file of
# two days ago
write_state 0000000000000001 "ssh://kluis@offsite.example/srv/kluis/web01" \
    "$now" 0 "" 1000
idx=$(find "$ROOT/web01/index" -type f | head -n 1)
touch -d '2 days ago' "$idx"
E2E_WHAT="a target two days behind" expect_exit 1 status --json
repo_check "--json: lag of two days, not ok" web01 \
    'r["replication"][0]["lag_s"] >= 2 * 86400 - 60 and
     not r["replication"][0]["ok"] and not r["overdue"]'
E2E_WHAT="within a longer --overdue" expect_exit 0 status --overdue 3d
# what the kluis account could plant there: times out of order or far
# out of range, a FIFO; status must neither trust them, crash nor hang
write_state 0000000000000003 /mnt/other "-9223372036854775807" 0 "" 0
mkfifo "$ROOT/web01/replication/0000000000000004"
E2E_WHAT="planted state files: refused as unreadable, no hang" expect_exit 1 \
    timeout 20 "$SV" status --root "$ROOT" --json \
    --metrics-file "$PROM"
repo_check "--json: both planted files are failing targets" web01 \
    'len(r["replication"]) == 3 and
     sum(1 for t in r["replication"] if not t["ok"]) >= 2'
check "the metrics file was written" test -s "$PROM"
rm -r "$ROOT/web01/replication"
touch "$idx"

# ---------------------------------------------------------------------------
case_begin "a failed verify"
pack=$(find "$ROOT/web02/data" -type f | head -n 1)
chmod u+w "$pack"
printf 'x' >>"$pack"
E2E_WHAT="verify finds the damaged pack" expect_exit 1 \
    "$SV" verify --repo "$ROOT/web02"
E2E_WHAT="status: the last verify failed" expect_exit 1 status --json
repo_check "--json: verify outcome KL_E_CORRUPT" web02 \
    'r["last_verify_outcome"] == "KL_E_CORRUPT" and not r["ok"]'
prom_check "metrics: verify_ok 0" 'm[("verify_ok", "web02")] == 0'

# ---------------------------------------------------------------------------
case_begin "label values of an odd directory name"
ODD=$(printf 'odd"na\\me\xff')
cp -a "$ROOT/web01" "$ROOT/$ODD"
E2E_WHAT="status with the odd name" expect_exit 1 status
prom_check "metrics: quote and backslash escaped, the byte replaced" \
    'm[("overdue", "odd\"na\\me\ufffd")] == 0 and n["overdue"] == 3'
rm -rf "${ROOT:?}/$ODD"

# ---------------------------------------------------------------------------
case_begin "--repo, no repository, usage errors"
E2E_WHAT="--repo web01" expect_exit 0 "$SV" status --repo "$ROOT/web01/" \
    --json
json_check "--repo: one repository named by its directory" \
    '[r["name"] for r in d["repositories"]] == ["web01"]'
mkdir -p "$WORK/empty/sub"
rm -f "$PROM"
E2E_WHAT="a root without a repository" expect_exit 10 \
    "$SV" status --root "$WORK/empty" --metrics-file "$PROM"
expect_stderr_contains "no repository"
prom_check "metrics written with no repository" 'm[("repositories",)] == 0'
E2E_WHAT="a missing root" expect_exit 10 "$SV" status --root "$WORK/nowhere"
E2E_WHAT="--repo that is no repository" expect_exit 10 \
    "$SV" status --repo "$ROOT/not-a-repo"
expect_stderr_contains "not a repository"
E2E_WHAT="--root and --repo together" expect_exit 2 \
    "$SV" status --root "$ROOT" --repo "$ROOT/web01"
E2E_WHAT="neither --root nor --repo" expect_exit 2 "$SV" status
E2E_WHAT="a bad --overdue" expect_exit 2 status --overdue soon
expect_stderr_contains "not a duration"

e2e_finish
