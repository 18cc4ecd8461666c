#!/usr/bin/env bash
# Issue #13 §7: every snippet an operator copies from README, RUNBOOK and
# COMPLIANCE lives once as a file (docs/examples/, packaging/) that the
# docs include (kluis-mkref sync checks that), and here each file is
# tested as what it is:
#   - cron files: parsed as cron parses them (variables, five time fields,
#     user, '%' escaped), every job run with cron's environment and nothing
#     exported, against a real repository;
#   - the systemd units and timers: systemd-analyze verify;
#   - the sshd snippet: sshd -t; the authorized_keys lines: kluis-server
#     parses each forced command;
#   - the example profile: kluis config show;
#   - the Prometheus rules: every metric they name is one a run writes
#     (the client's: backup, check, drill; the server's: the status
#     unit's own command over repositories served, verified and
#     replicated), and on that run's figures the simple alerts fire for
#     the repository that has the problem and for no other.
# usage: doc_examples.sh KLUIS KLUIS-SERVER SOURCE-ROOT
set -uo pipefail
KLUIS=$1
KLUIS_SERVER=$2
TOP=$3
. "$(dirname "$0")/lib.sh"
e2e_init doc-examples
case_begin() { echo "# --- $1"; }
EX=$TOP/docs/examples

# A machine as the examples expect it: profiles web01 (a city server) and
# ops (the operators' full key) in the HOME cron gives root, kluis on PATH.
HOMEDIR=$WORK/home
mkdir -p "$HOMEDIR/.config/kluis" "$WORK/bin" "$WORK/log" "$WORK/prom" \
    "$WORK/run" "$WORK/src/etc"
ln -s "$KLUIS" "$WORK/bin/kluis"
cp -r /usr/share/doc/bash "$WORK/src/" 2>/dev/null || cp -r /usr/share/doc/dpkg "$WORK/src/"
echo "listen 80;" >"$WORK/src/etc/site.conf"
expect_exit 0 k init --kdf interactive
cat >"$HOMEDIR/.config/kluis/web01.conf" <<EOF
repository = $REPO
password-file = $PW
host = web01
path = $WORK/src
metrics-file = $WORK/prom/kluis-backup-web01.prom
EOF
cat >"$HOMEDIR/.config/kluis/ops.conf" <<EOF
repository = $REPO
password-file = $PW
EOF
chmod 600 "$HOMEDIR/.config/kluis/"*.conf

# cron_run FILE [FAKE_WEEKDAY]: every job of the cron file FILE, run as cron
# runs it: only the file's variables plus HOME, LOGNAME and SHELL (nothing
# exported from here), '\%' unescaped, through the file's SHELL.  The
# machine's paths are mapped into $WORK.
cron_run() {
	python3 - "$1" "$WORK" "$HOMEDIR" "${2:-}" <<'PY'
import os, re, subprocess, sys
path, work, home, weekday = sys.argv[1:5]
env = {"HOME": home, "LOGNAME": "root", "SHELL": "/bin/sh"}
jobs = []
FIELD = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]

def field_ok(f, lo, hi):
    for part in f.split(","):
        m = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", part)
        if not m:
            return False
        if m.group(1) != "*":
            a = [int(x) for x in m.group(1).split("-")]
            if any(x < lo or x > hi for x in a) or a[0] > a[-1]:
                return False
    return True

for n, line in enumerate(open(path), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
    if m:
        env[m.group(1)] = m.group(2)
        continue
    parts = line.split(None, 6)
    if len(parts) < 7:
        sys.exit("%s:%d: not five time fields, a user and a command" % (path, n))
    for f, (lo, hi) in zip(parts[:5], FIELD):
        if not field_ok(f, lo, hi):
            sys.exit("%s:%d: bad time field %r" % (path, n, f))
    cmd = parts[6]
    # cron turns an unescaped % into a newline (and the rest into stdin)
    if re.search(r"(?<!\\)%", cmd):
        sys.exit("%s:%d: unescaped %% in the command" % (path, n))
    jobs.append((n, parts[5], cmd.replace("\\%", "%")))
if not jobs:
    sys.exit("%s: no job" % path)
env["PATH"] = work + "/bin:" + env.get("PATH", "/usr/bin:/bin")
import pwd
for n, user, cmd in jobs:
    try:
        pwd.getpwnam(user)
    except KeyError:
        if user != "kluis":	# the packaged account may not exist here
            sys.exit("%s:%d: no user %s" % (path, n, user))
    for a, b in (("/var/log/kluis", work + "/log"),
                 ("/var/lib/prometheus/node-exporter", work + "/prom"),
                 ("/var/cache/kluis", work + "/cache"),
                 ("/run/", work + "/run/")):
        cmd = cmd.replace(a, b)
    if weekday:
        cmd = cmd.replace("$(date +%u)", weekday)
    env2 = dict(env)
    for k in list(env2):
        env2[k] = env2[k].replace("/var/cache/kluis", work + "/cache")
    r = subprocess.run([env.get("SHELL", "/bin/sh"), "-c", cmd], env=env2)
    print("%s:%d: exit %d: %s" % (os.path.basename(path), n, r.returncode, cmd))
    if r.returncode != 0:
        sys.exit(1)
PY
}

case_begin "cron: the nightly backup of a city server"
E2E_WHAT="docs/examples/cron.d/kluis-backup, run as cron runs it" \
    expect_exit 0 cron_run "$EX/cron.d/kluis-backup"
check "it made a snapshot of the profile's path" \
    test "$(snapshot_count)" -eq 1
check "it logged nothing but what -q leaves (the log exists)" \
    test -f "$WORK/log/web01.log"
check "it wrote its metrics" grep -q '^kluis_backup_last_exit_code{.*host="web01"} 0$' \
    "$WORK/prom/kluis-backup-web01.prom"
check "the catalog went where the file says" test -d "$WORK/cache"

case_begin "cron: checks and the first-Sunday drill on the operators' host"
E2E_WHAT="docs/examples/cron.d/kluis-checks on a Sunday" \
    expect_exit 0 cron_run "$EX/cron.d/kluis-checks" 7
check "the check wrote its metrics" \
    grep -q '^kluis_check_last_exit_code{.*} 0$' "$WORK/prom/kluis-check.prom"
check "the drill ran and wrote its metrics" \
    grep -q '^kluis_drill_last_exit_code{.*host="web01"} 0$' \
    "$WORK/prom/kluis-drill-web01.prom"
mv "$WORK/prom/kluis-drill-web01.prom" "$WORK/drill-sunday.prom"
E2E_WHAT="docs/examples/cron.d/kluis-checks on a Monday" \
    expect_exit 0 cron_run "$EX/cron.d/kluis-checks" 1
check "no drill on another day" test ! -e "$WORK/prom/kluis-drill-web01.prom"
# the same parser refuses what the old runbook had
printf 'PATH=/usr/bin:/bin\n30 5 * * * root kluis check --read-data-subset 5%% >/dev/null\n' \
    >"$WORK/bad.cron"
E2E_WHAT="an unescaped % is refused" expect_exit 1 cron_run "$WORK/bad.cron"
expect_stderr_contains "unescaped %"
printf '0 6 1-7 * 0 root true\n0 6 1-40 * * root true\n' >"$WORK/bad2.cron"
E2E_WHAT="a day of month out of range is refused" expect_exit 1 \
    cron_run "$WORK/bad2.cron"

case_begin "cron: the repository server's daily check (kluis-server-check)"
mkdir -p "$WORK/srv"
ln -s "$KLUIS_SERVER" "$WORK/bin/kluis-server"
printf '#!/bin/sh\nKLUIS_SERVER_ROOT=%s exec %s "$@"\n' "$WORK/srv" \
    "$EX/kluis-server-check" >"$WORK/bin/kluis-server-check"
chmod 755 "$WORK/bin/kluis-server-check"
for r in web01 web02; do
	E2E_WHAT="a repository $r made through kluis-server (with its audit log)" \
	    expect_exit 0 "$KLUIS" -r "pipe:$WORK/srv/$r" --server-command \
	    "$KLUIS_SERVER" --password-file "$PW" init --kdf interactive
done
E2E_WHAT="docs/examples/cron.d/kluis-server, run as cron runs it" \
    expect_exit 0 cron_run "$EX/cron.d/kluis-server"
check "one line per repository, both sound" \
    test "$(grep -c 'audit_exit=0 verify_exit=0' "$OUT")" -eq 2
f=$(find "$WORK/srv/web02/keys" -type f | head -n 1)
chmod u+w "$f"
printf 'x' >>"$f"
E2E_WHAT="a damaged file makes the job fail" expect_exit 1 \
    cron_run "$EX/cron.d/kluis-server"
expect_stdout_contains "web02 audit_exit=0 verify_exit=1"

case_begin "systemd units and timers (packaging/systemd)"
UNITS=$WORK/units
mkdir -p "$UNITS"
# the templates (one instance per repository or profile), and the
# server's status unit and timer (one run for every repository)
for f in "$TOP"/packaging/systemd/*@.* \
    "$TOP"/packaging/systemd/kluis-server-status.service \
    "$TOP"/packaging/systemd/kluis-server-status.timer; do
	b=$(basename "$f")
	sed -e "s|/usr/bin/kluis-server|$KLUIS_SERVER|g" \
	    -e "s|/usr/bin/kluis |$KLUIS |g" "$f" >"$UNITS/${b/@./@web01.}"
done
check "fourteen unit files (twelve of them templates)" \
    test "$(ls "$UNITS" | wc -l)" -eq 14 -a \
    "$(ls "$UNITS" | grep -c '@web01\.')" -eq 12
check "no other unit file in packaging/systemd" \
    test "$(ls "$TOP/packaging/systemd" | wc -l)" -eq 14
for u in "$UNITS"/*; do
	out=$(systemd-analyze verify --man=no "$u" 2>&1)
	check "systemd-analyze verify $(basename "$u"): ${out:-clean}" test -z "$out"
done
sed 's/^OnCalendar=.*/OnCalendar=Someday 25:00/' "$UNITS/kluis-backup@web01.timer" \
    >"$WORK/broken@web01.timer"
check "the verification can fail (a bad calendar)" \
    test -n "$(systemd-analyze verify --man=no "$WORK/broken@web01.timer" 2>&1)"
check "the backup unit runs kluis with the instance's profile" \
    grep -q '^ExecStart=/usr/bin/kluis --profile %i backup$' \
    "$TOP/packaging/systemd/kluis-backup@.service"
check "the verify unit may append to the audit log, and only to it" \
    test "$(grep '^Read' "$TOP/packaging/systemd/kluis-server-verify@.service")" = \
    "$(printf 'ReadOnlyPaths=/srv/kluis/%%i\nReadWritePaths=-/srv/kluis/%%i/audit.log')"

case_begin "sshd and authorized_keys (docs/examples)"
hk=$WORK/hostkey
ssh-keygen -q -t ed25519 -N '' -f "$hk" >/dev/null
printf 'HostKey %s\nInclude %s\n' "$hk" "$EX/sshd_config.d/kluis.conf" \
    >"$WORK/sshd_config"
mkdir -p /run/sshd
E2E_WHAT="sshd -t accepts the kluis snippet" expect_exit 0 \
    /usr/sbin/sshd -t -f "$WORK/sshd_config"
n=0
while IFS= read -r line; do
	case $line in '#'* | '') continue ;; esac
	n=$((n + 1))
	cmd=$(printf '%s\n' "$line" | sed -n 's/^command="\([^"]*\)".*/\1/p')
	check "authorized_keys line $n has a forced command and restrict" \
	    bash -c "[ -n '$cmd' ] && printf '%s' '$line' | grep -q '\",restrict ssh-'"
	# kluis-server parses the forced command's options (--help: no I/O)
	set -- $cmd
	shift
	E2E_WHAT="kluis-server parses line $n's command" expect_exit 0 \
	    "$KLUIS_SERVER" "$@" --help
done < <(cat "$EX/kluis_authorized_keys" "$EX/kluis_authorized_keys.offsite")
check "six key lines (three of them the off-site server's)" test "$n" -eq 6
check "the off-site lines are replica and read-only roles" \
    test "$(grep -c -- '--replica\|--read-only' "$EX/kluis_authorized_keys.offsite")" -eq 3

case_begin "the example profile (packaging/examples)"
install -m 0600 "$TOP/packaging/examples/web01.conf" "$WORK/web01.conf"
E2E_WHAT="kluis -p FILE config show accepts the example" expect_exit 0 \
    "$KLUIS" -p "$WORK/web01.conf" config show --json
json_check "it names a repository, three paths and a metrics file" \
    'len([s for s in d["settings"] if s["key"] == "path"][0]["values"]) == 3 and [s for s in d["settings"] if s["key"] == "repository"][0]["values"]'

case_begin "Prometheus rules name metrics kluis writes"
cat "$WORK"/prom/*.prom "$WORK/drill-sunday.prom" >"$WORK/all.prom"
E2E_WHAT="the rules' metrics" expect_exit 0 python3 - \
    "$EX/prometheus/kluis.rules.yml" "$WORK/all.prom" <<'PY'
import re, sys
rules = open(sys.argv[1]).read()
written = set(re.findall(r"^(kluis_[a-z_]+)\{", open(sys.argv[2]).read(), re.M))
named = set(re.findall(r"\b(kluis_[a-z_]+)\b", rules))
assert named, "no metric named"
missing = named - written
assert not missing, "named but never written: %s" % sorted(missing)
assert "/var/lib/prometheus/node-exporter" in rules
print(sorted(named))
PY

case_begin "Prometheus rules of the repository server name metrics status writes"
# web01 and web02 were made through kluis-server (each has its audit log)
# and verified by the cron job above, web02 with a damaged file.  web01
# also gets a snapshot and an off-site copy.
E2E_WHAT="a backup of web01 through kluis-server" expect_exit 0 \
    "$KLUIS" -r "pipe:$WORK/srv/web01" --server-command "$KLUIS_SERVER" \
    --password-file "$PW" backup "$WORK/src/etc" --host web01
E2E_WHAT="kluis-server replicate web01 to an off-site copy" expect_exit 0 \
    "$KLUIS_SERVER" replicate --repo "$WORK/srv/web01" --to "$WORK/offsite/web01"
# what kluis-server-status.service runs, its paths mapped into $WORK as
# cron_run maps them
cmd=$(sed -n 's/^ExecStart=//p' "$TOP/packaging/systemd/kluis-server-status.service")
cmd=${cmd//\/usr\/bin\/kluis-server/$KLUIS_SERVER}
cmd=${cmd//\/srv\/kluis/$WORK/srv}
cmd=${cmd//\/var\/lib\/prometheus\/node-exporter/$WORK/prom}
SPROM=$WORK/prom/kluis-server.prom
check "the status unit writes kluis-server.prom into the textfile directory" \
    test "$cmd" = "$KLUIS_SERVER status --root $WORK/srv --metrics-file $SPROM"
# shellcheck disable=SC2086 # the unit's words, as systemd splits them
E2E_WHAT="the status unit's command: web02's verify found damage" \
    expect_exit 1 $cmd
expect_stdout_contains "web01: ok"
expect_stdout_contains "web02: PROBLEM"
E2E_WHAT="the server rules' metrics" expect_exit 0 python3 - \
    "$EX/prometheus/kluis-server.rules.yml" "$SPROM" "$WORK/offsite/web01" <<'PY'
import re, sys
rules = open(sys.argv[1]).read()
series = {}
for m in re.finditer(r"^(kluis_[a-z_]+)(?:\{(.*)\})? (\S+)$",
                     open(sys.argv[2]).read(), re.M):
    labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
    series.setdefault(m.group(1), []).append((labels, float(m.group(3))))
named = set(re.findall(r"\b(kluis_[a-z_]+)\b", rules))
assert named, "no metric named"
missing = named - set(series)
assert not missing, "named but never written: %s" % sorted(missing)
assert all(n.startswith("kluis_server_") for n in named), sorted(named)
assert "/var/lib/prometheus/node-exporter" in rules
# Every alert has an expression, a severity and a summary; the simple
# ones (METRIC OP NUMBER) evaluated on this run's figures fire for the
# repository with that problem and no other.
alerts = re.findall(r"- alert: (\w+)\n\s+expr: (.+)\n(?:\s+for: .+\n)?"
                    r"\s+labels:\n\s+severity: (critical|warning)\n"
                    r"\s+annotations:\n\s+summary: \"(.+)\"\n", rules)
assert len(alerts) == rules.count("- alert:"), \
    "an alert without expr, severity or summary"
assert len(alerts) == len(set(a[0] for a in alerts)), "an alert twice"
OPS = {"==": float.__eq__, "!=": float.__ne__, ">": float.__gt__,
       "<": float.__lt__}
want = {"KluisServerRepositoryOverdue": {"web02"},
        "KluisServerAuditChainBroken": set(),
        "KluisServerVerifyFailed": {"web02"},
        "KluisServerReplicationFailing": set(),
        "KluisServerUnreadable": set()}
fired = {}
for name, expr, _, _ in alerts:
    m = re.fullmatch(r"(kluis_[a-z_]+) (==|!=|>|<) (\d+)", expr)
    if m:
        fired[name] = {l["repo"] for l, v in series[m.group(1)]
                       if OPS[m.group(2)](v, float(m.group(3)))}
for name, repos in want.items():
    assert fired.get(name) == repos, "%s fires for %s, not %s" % (
        name, sorted(fired.get(name, ["(not a simple alert)"])),
        sorted(repos))
assert [l["target"] for l, _ in series["kluis_server_replication_ok"]] \
    == [sys.argv[3]], series["kluis_server_replication_ok"]
print(sorted(named), sorted(fired))
PY

e2e_finish
