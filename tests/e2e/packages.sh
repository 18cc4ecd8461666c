#!/usr/bin/env bash
# Issue #13 §1: the Debian packages, installed as an operator installs them
# (apt-get install ./*.deb), then used only through what they installed:
# the binaries, man pages, units and timers (systemd-analyze verify; the
# server's verify, purge and status commands as their units run them), the
# logrotate file, the example profile, and the kluis account behind a real
# sshd without PAM, where a city server backs up over ssh:// with the
# append-only role and an operator restores with the full one.  Removes the
# packages at the end (the repositories stay, as they must).
# Needs root; changes the machine (CI runs it on a throwaway one).
# usage: packages.sh DIST_DIR
set -uo pipefail
DIST=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
e2e_init packages
[ "$(id -u)" -eq 0 ] || { echo "FAIL: packages.sh needs root"; exit 1; }

case_begin() { echo "# --- $1"; }

case_begin "install"
E2E_WHAT="apt-get install ./kluis*.deb" expect_exit 0 env \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "$DIST"/kluis_*.deb "$DIST"/kluis-server_*.deb
at_exit "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq kluis kluis-server >/dev/null 2>&1"
check "kluis is /usr/bin/kluis" test "$(command -v kluis)" = /usr/bin/kluis
E2E_WHAT="kluis --version" expect_exit 0 /usr/bin/kluis --version
expect_stdout_contains "repository format"
E2E_WHAT="kluis-server --version" expect_exit 0 /usr/bin/kluis-server --version
for page in kluis kluis.conf kluis-server; do
	check "man page $page is installed" man -w "$page"
	w=$(LC_ALL=C.UTF-8 man --warnings -E UTF-8 "$page" 2>&1 >/dev/null)
	check "man --warnings $page is silent" test -z "$w"
done
check "the system user kluis exists, home /srv/kluis, shell /bin/sh" \
    test "$(getent passwd kluis | cut -d: -f6,7)" = /srv/kluis:/bin/sh
check "its password is unusable but the account is not locked (sshd without PAM)" \
    test "$(getent shadow kluis | cut -d: -f2)" = '*'
check "/srv/kluis belongs to kluis, mode 0700" \
    test "$(stat -c '%U %a' /srv/kluis)" = "kluis 700"
check "/etc/ssh/kluis_authorized_keys belongs to root" \
    test "$(stat -c '%U %a' /etc/ssh/kluis_authorized_keys)" = "root 644"
check "/etc/kluis is root's, mode 0750" \
    test "$(stat -c '%U %a' /etc/kluis)" = "root 750"

case_begin "units, timers, logrotate"
UNITS=$WORK/units
mkdir -p "$UNITS"
for f in /lib/systemd/system/kluis-*@.service /lib/systemd/system/kluis-*@.timer \
    /lib/systemd/system/kluis-server-status.*; do
	b=$(basename "$f")
	cp "$f" "$UNITS/${b/@./@web01.}"
done
check "six unit templates and their timers are installed (12 files)" \
    test "$(find /lib/systemd/system -name 'kluis-*@.*' | wc -l)" -eq 12
check "the status unit and its timer are installed (no template)" \
    test -f /lib/systemd/system/kluis-server-status.service -a \
    -f /lib/systemd/system/kluis-server-status.timer
check "fourteen kluis unit files in all, each verified below" \
    test "$(find /lib/systemd/system -name 'kluis-*' | wc -l)" -eq 14 -a \
    "$(ls "$UNITS" | wc -l)" -eq 14
for u in "$UNITS"/*; do
	out=$(systemd-analyze verify --man=no "$u" 2>&1)
	check "systemd-analyze verify $(basename "$u"): ${out:-clean}" test -z "$out"
done
check "the drill's calendar is the first Sunday of a month" \
    bash -c "systemd-analyze calendar --iterations=6 'Sun *-*-01..07 06:00:00' |
    awk '/Next elapse|Iter/ { print \$(NF-2) }' | while read -r d; do
	[ \"\$(date -d \"\$d\" +%u)\" = 7 ] && [ \"\$(date -d \"\$d\" +%-d)\" -le 7 ] || exit 1
    done"
check "the drill timer uses that calendar" \
    grep -q '^OnCalendar=Sun \*-\*-01..07 06:00:00$' /lib/systemd/system/kluis-drill@.timer
check "logrotate accepts /etc/logrotate.d/kluis" \
    logrotate -d /etc/logrotate.d/kluis

case_begin "the example profile and the installed binaries"
install -m 0600 /usr/share/doc/kluis/examples/web01.conf /etc/kluis/pkgtest.conf
at_exit "rm -f /etc/kluis/pkgtest.conf"
E2E_WHAT="kluis -p pkgtest config show (the example, from /etc/kluis)" \
    expect_exit 0 /usr/bin/kluis -p pkgtest config show
expect_stdout_contains "ssh://kluis@backup.example.org/srv/kluis/web01"
chmod 0644 /etc/kluis/pkgtest.conf
E2E_WHAT="the example profile readable by all is refused" expect_exit 1 \
    /usr/bin/kluis -p pkgtest config show
chmod 0600 /etc/kluis/pkgtest.conf

# A repository server: the packaged kluis account behind a real sshd on
# loopback without PAM; the forced commands of RUNBOOK §9.
SRV=$WORK/sshd
mkdir -m 700 "$SRV"
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$SRV/host" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$SRV/admin" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$SRV/web01" >/dev/null
R=/srv/kluis/pkgtest
at_exit "rm -rf $R"
# the key file the package made, as docs/examples/sshd_config.d/kluis.conf
# names it (the test's sshd reads the same settings)
AK=/etc/ssh/kluis_authorized_keys
cp "$AK" "$WORK/ak.saved"
at_exit "cp '$WORK/ak.saved' $AK"
{
	printf 'command="/usr/bin/kluis-server serve --repo %s --client-name ops",restrict %s\n' \
	    "$R" "$(cut -d' ' -f1,2 "$SRV/admin.pub")"
	printf 'command="/usr/bin/kluis-server serve --repo %s --append-only --client-name web01",restrict %s\n' \
	    "$R" "$(cut -d' ' -f1,2 "$SRV/web01.pub")"
} >"$AK"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
EXAMPLE=$(cd "$(dirname "$0")/../../docs/examples" && pwd)
cat >"$SRV/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $PORT
HostKey $SRV/host
PidFile $SRV/sshd.pid
UsePAM no
AllowUsers kluis
StrictModes yes
Include $EXAMPLE/sshd_config.d/kluis.conf
EOF
/usr/sbin/sshd -D -e -f "$SRV/sshd_config" -E "$SRV/log" </dev/null &
SSHD=$!
at_exit "kill $SSHD"
for _ in $(seq 100); do
	grep -q "Server listening" "$SRV/log" 2>/dev/null && break
	sleep 0.05
done
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$SRV/host.pub")" \
    >"$SRV/known_hosts"
URL=ssh://kluis@127.0.0.1:$PORT$R

# kssh KEY ARGS...: the installed client over ssh:// with KEY.
kssh() {
	local key=$1
	shift
	timeout 120 /usr/bin/kluis -r "$URL" --ssh-key "$key" \
	    --ssh-known-hosts "$SRV/known_hosts" --password-file "$PW" "$@"
}

case_begin "backup and restore with the installed binaries over ssh://"
E2E_WHAT="init through the kluis account (full role)" expect_exit 0 \
    kssh "$SRV/admin" init --kdf interactive
check "the repository belongs to kluis" test "$(stat -c %U "$R/config")" = kluis
make_password "$WORK/pw-web01" "web01's passphrase"
E2E_WHAT="a backup-only key for web01" expect_exit 0 kssh "$SRV/admin" \
    key add --backup-only --new-password-file "$WORK/pw-web01" \
    --out "$WORK/web01.key" --kdf interactive
SRC=/usr/share/doc/kluis
cat >/etc/kluis/web01.conf <<EOF
repository = $URL
password-file = $WORK/pw-web01
key-file = $WORK/web01.key
ssh-key = $SRV/web01
ssh-known-hosts = $SRV/known_hosts
path = $SRC
path = /etc/logrotate.d
tag = nightly
metrics-file = $WORK/kluis-backup-web01.prom
EOF
chmod 600 /etc/kluis/web01.conf
at_exit "rm -f /etc/kluis/web01.conf"
# what kluis-backup@web01.service runs
E2E_WHAT="kluis --profile web01 backup (the unit's command)" expect_exit 0 \
    env KLUIS_CACHE_DIR="$WORK/cache-web01" /usr/bin/kluis --profile web01 backup
check "the metrics file was written" grep -q '^kluis_backup_exit_code{' \
    "$WORK/kluis-backup-web01.prom"
E2E_WHAT="the append-only key cannot forget" expect_exit 12 \
    env KLUIS_CACHE_DIR="$WORK/cache-web01" /usr/bin/kluis --profile web01 \
    forget --keep-last 1
E2E_WHAT="restore with the full key" expect_exit 0 kssh "$SRV/admin" \
    restore latest --host "$(hostname)" --target "$WORK/restore"
check "the restore is identical" diff -r "$SRC" "$WORK/restore$SRC"
check "so is the second path" diff -r /etc/logrotate.d "$WORK/restore/etc/logrotate.d"
E2E_WHAT="kluis-server verify as the kluis user (the verify unit's command)" \
    expect_exit 0 setpriv --reuid=kluis --regid=kluis --init-groups \
    /usr/bin/kluis-server verify --repo "$R"
E2E_WHAT="kluis-server purge as the kluis user (the purge unit's command)" \
    expect_exit 0 setpriv --reuid=kluis --regid=kluis --init-groups \
    /usr/bin/kluis-server purge --repo "$R"
# the status unit's own command line, its textfile directory mapped to
# one kluis may write (as the RUNBOOK's setfacl gives it)
PROMDIR=$WORK/node-exporter
install -d -o kluis -g kluis "$PROMDIR"
cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/kluis-server-status.service)
cmd=${cmd//\/var\/lib\/prometheus\/node-exporter/$PROMDIR}
check "the status unit runs status over /srv/kluis into the textfile directory" \
    test "$cmd" = "/usr/bin/kluis-server status --root /srv/kluis --metrics-file $PROMDIR/kluis-server.prom"
# shellcheck disable=SC2086 # the unit's words, as systemd splits them
E2E_WHAT="kluis-server status as the kluis user (the status unit's command)" \
    expect_exit 0 setpriv --reuid=kluis --regid=kluis --init-groups $cmd
expect_stdout_contains "pkgtest: ok"
check "status wrote the metrics: the repository sound, its verify recorded" \
    bash -c "grep -q '^kluis_server_ok{repo=\"pkgtest\"} 1\$' '$PROMDIR/kluis-server.prom' &&
    grep -q '^kluis_server_verify_ok{repo=\"pkgtest\"} 1\$' '$PROMDIR/kluis-server.prom'"

case_begin "removal keeps the repositories"
E2E_WHAT="apt-get purge kluis kluis-server" expect_exit 0 env \
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq kluis kluis-server
check "the binaries are gone" test ! -e /usr/bin/kluis -a ! -e /usr/bin/kluis-server
check "the repository is still there" test -f "$R/config"

e2e_finish
