#!/usr/bin/env bash
# Issue #13 §5: ssh:// through the OpenSSH client (--ssh-command), against a
# real sshd on loopback: ~/.ssh/config-style aliases, the URL's user, host
# and port handed over as written, --ssh-key and --ssh-known-hosts passed
# on, the roles of the forced commands, a profile, and the failures an
# operator meets (unknown host key, no ssh program, a host that would be
# an ssh option).
# usage: ssh_command.sh /path/to/kluis /path/to/kluis-server
set -uo pipefail
KLUIS=$1
KLUIS_SERVER=$2
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init ssh-command

SRC=$WORK/src
mkdir -p "$SRC"
cp -r /usr/include/linux "$SRC/"
head -c 3000000 /dev/urandom >"$SRC/random.bin"

# An ssh configuration as an operator writes it: the alias carries host,
# port, user, key and known_hosts; nothing of it is on kluis's command line.
CFG=$WORK/ssh_config
alias_block() {
	cat <<CFG
Host $1
	HostName 127.0.0.1
	Port $SSH_PORT
	User root
	IdentityFile $2
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile $SSH_KH
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	LogLevel ERROR
	ConnectTimeout 10
CFG
}
{
	alias_block backup-admin "$SSH_KEY_ADMIN"
	alias_block backup-web01 "$SSH_KEY_APPEND"
} >"$CFG"
SSHC="ssh -F $CFG"

# ka ALIAS ARGS...: kluis over the OpenSSH client to ALIAS.
ka() {
	local a=$1
	shift
	timeout 120 "$KLUIS" -r "ssh://$a$REPO" --ssh-command "$SSHC" \
	    --server-command "$KLUIS_SERVER" --password-file "$PW" "$@"
}

case_begin "an alias from the ssh configuration, the full role"
E2E_WHAT="init through ssh -F (alias)" expect_exit 0 ka backup-admin init \
    --kdf interactive
check "the server created the repository" test -f "$REPO/config"
E2E_WHAT="backup through the alias" expect_exit 0 ka backup-admin backup \
    "$SRC" --json
SNAP=$(json_field snapshot_id)
E2E_WHAT="snapshots through the alias" expect_exit 0 ka backup-admin \
    snapshots --json
json_check "one snapshot" 'len(d) == 1'
rm -rf "$WORK/restore"
E2E_WHAT="restore through the alias" expect_exit 0 ka backup-admin \
    restore "$SNAP" --target "$WORK/restore"
check "the restore is identical to the source" \
    diff -r "$SRC" "$WORK/restore$SRC"
E2E_WHAT="check --read-data through the alias" expect_exit 0 \
    ka backup-admin check --read-data
check "the audit log names the sessions of the admin key" \
    grep -q "role=full" "$REPO/audit.log"

case_begin "the append-only role through its own alias"
echo "second" >"$SRC/second.txt"
E2E_WHAT="backup with the append-only key" expect_exit 0 \
    ka backup-web01 backup "$SRC"
E2E_WHAT="forget with the append-only key is refused" expect_exit 12 \
    ka backup-web01 forget "$SNAP"
check "the snapshot is still there" \
    test -f "$REPO/snapshots/$SNAP"

case_begin "user, host and port of the URL, --ssh-key and --ssh-known-hosts"
# a configuration with nothing for this host: the URL and the options
# must carry everything
printf 'Host *\n\tBatchMode yes\n\tIdentityAgent none\n\tGlobalKnownHostsFile /dev/null\n\tLogLevel ERROR\n' \
    >"$WORK/ssh_config_bare"
E2E_WHAT="snapshots with the URL's user and port and kluis's key options" \
    expect_exit 0 timeout 120 "$KLUIS" -r "$SSH_URL" \
    --ssh-command "ssh -F $WORK/ssh_config_bare" --ssh-key "$SSH_KEY_ADMIN" \
    --ssh-known-hosts "$SSH_KH" --password-file "$PW" snapshots --json
json_check "two snapshots" 'len(d) == 2'

case_begin "a profile names the ssh command"
mkdir -p "$WORK/xdg/kluis"
cat >"$WORK/xdg/kluis/web01.conf" <<CONF
repository = ssh://backup-web01$REPO
password-file = $PW
ssh-command = $SSHC
server-command = $KLUIS_SERVER
path = $SRC
tag = nightly
CONF
chmod 600 "$WORK/xdg/kluis/web01.conf"
E2E_WHAT="kluis -p web01 backup (the profile's ssh-command)" expect_exit 0 \
    env XDG_CONFIG_HOME="$WORK/xdg" timeout 120 "$KLUIS" -p web01 backup
E2E_WHAT="config show names the ssh command" expect_exit 0 \
    env XDG_CONFIG_HOME="$WORK/xdg" "$KLUIS" -p web01 config show --json
json_check "ssh-command from the profile" \
    '[s for s in d["settings"] if s["key"] == "ssh-command"][0]["source"] == "profile"'

case_begin "failures"
# ssh would split a -o value at the blank and check other files
cp "$SSH_KH" "$WORK/known hosts"
E2E_WHAT="a known_hosts path with a blank" expect_exit 1 timeout 120 \
    "$KLUIS" -r "$SSH_URL" --ssh-command "ssh -F $WORK/ssh_config_bare" \
    --ssh-key "$SSH_KEY_ADMIN" --ssh-known-hosts "$WORK/known hosts" \
    --password-file "$PW" snapshots
expect_stderr_contains "may not hold blanks" "refused before ssh runs"
: >"$WORK/empty_kh"
E2E_WHAT="an unknown host key" expect_exit 1 timeout 120 "$KLUIS" \
    -r "$SSH_URL" --ssh-command "ssh -F $WORK/ssh_config_bare" \
    --ssh-key "$SSH_KEY_ADMIN" --ssh-known-hosts "$WORK/empty_kh" \
    --password-file "$PW" snapshots
expect_stderr_contains "Host key verification failed" "ssh's own message"
expect_stderr_contains "the ssh command failed" "kluis says where it failed"
E2E_WHAT="an ssh command that does not exist" expect_exit 1 \
    "$KLUIS" -r "ssh://backup-admin$REPO" --ssh-command \
    "$WORK/no-such-ssh" --password-file "$PW" snapshots
expect_stderr_contains "status 127" "the exit status"
expect_stderr_contains "--ssh-command" "and where to look"
E2E_WHAT="a host that would be an ssh option" expect_exit 1 \
    "$KLUIS" -r "ssh://-oProxyCommand=touch%20$WORK/pwned$REPO" \
    --ssh-command "ssh -F $CFG" --password-file "$PW" snapshots
check "it is refused before ssh runs" test ! -e "$WORK/pwned"
expect_stderr_contains "may not begin with '-'"
E2E_WHAT="init with an alias that does not resolve fails before the passphrase" \
    expect_exit 1 "$KLUIS" -r "ssh://no-such-alias.invalid$WORK/new" \
    --ssh-command "ssh -F $WORK/ssh_config_bare" \
    --password-file "$WORK/no-such-passphrase" init --kdf interactive
check "init did not ask for a passphrase" \
    bash -c "! grep -q 'passphrase' '$ERR'"
check "nothing was created" test ! -e "$WORK/new"

e2e_finish
