#!/usr/bin/env bash
# known_hosts markers against a real sshd (issue #10 finding 6; docs/CLI.md
# "Repository URLs"): a host key marked @revoked is refused even though
# another line accepts it - under any host name, next to hashed lines -
# with exit 1 as for an unknown key; a @revoked line for another key
# changes nothing; hashed lines are accepted; a @cert-authority line
# accepts nothing and the refusal says it was ignored.
#
# usage: ssh_known_hosts.sh KLUIS KLUIS_SERVER
KLUIS=${1:?usage: ssh_known_hosts.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: ssh_known_hosts.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init ssh-known-hosts

E2E_WHAT="local init" expect_exit 0 k init --kdf interactive
SRC=$WORK/src
mkdir -p "$SRC"
echo "over ssh" >"$SRC/a"
P=$SSH_KEY_APPEND
HOSTKEY_PUB=$(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")

# kh FILE ARGS...: kluis over ssh:// with the known_hosts FILE.
kh() {
	local f=$1
	shift
	timeout 60 "$KLUIS" -r "$SSH_URL" --ssh-key "$P" --ssh-known-hosts "$f" \
	    --server-command "$KLUIS_SERVER" --password-file "$PW" "$@"
}

case_begin "the harness's known_hosts, plain and hashed"
E2E_WHAT="the plain [127.0.0.1]:PORT line is accepted" expect_exit 0 \
    kh "$SSH_KH" snapshots
cp "$SSH_KH" "$WORK/kh.hashed"
ssh-keygen -q -H -f "$WORK/kh.hashed" >/dev/null 2>&1
check "ssh-keygen -H hashed the line" grep -q '^|1|' "$WORK/kh.hashed"
E2E_WHAT="the hashed line is accepted" expect_exit 0 \
    kh "$WORK/kh.hashed" snapshots

case_begin "@revoked"
cp "$SSH_KH" "$WORK/kh.revoked"
printf '@revoked * %s lost with the old disk\n' "$HOSTKEY_PUB" \
    >>"$WORK/kh.revoked"
cp "$WORK/kh.revoked" "$WORK/kh.revoked.orig"
E2E_WHAT="a host key marked @revoked (another line accepts it)" expect_exit 1 \
    kh "$WORK/kh.revoked" backup "$SRC"
expect_stderr_contains "marked @revoked in $WORK/kh.revoked (line 2)" \
    "the message names the file and the line"
expect_stderr_contains "$SSH_HOSTKEY_FP" "the revoked key's fingerprint is shown"
check "the known_hosts file is left alone" \
    cmp -s "$WORK/kh.revoked" "$WORK/kh.revoked.orig"
printf '@revoked other.example %s\n%s\n' "$HOSTKEY_PUB" "$(cat "$SSH_KH")" \
    >"$WORK/kh.revoked-other-name"
E2E_WHAT="@revoked under another host name, before the accepting line" \
    expect_exit 1 kh "$WORK/kh.revoked-other-name" snapshots
expect_stderr_contains "@revoked"
cp "$WORK/kh.revoked" "$WORK/kh.revoked-hashed"
ssh-keygen -q -H -f "$WORK/kh.revoked-hashed" >/dev/null 2>&1
check "ssh-keygen -H hashed the accepting line" \
    grep -q '^|1|' "$WORK/kh.revoked-hashed"
E2E_WHAT="@revoked next to a hashed accepting line" expect_exit 1 \
    kh "$WORK/kh.revoked-hashed" snapshots
expect_stderr_contains "@revoked"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/oldhost" >/dev/null
cp "$SSH_KH" "$WORK/kh.other-revoked"
printf '@revoked * %s\n' "$(cut -d' ' -f1,2 "$WORK/oldhost.pub")" \
    >>"$WORK/kh.other-revoked"
E2E_WHAT="another key @revoked: this host's key is still accepted" \
    expect_exit 0 kh "$WORK/kh.other-revoked" backup "$SRC"

case_begin "@cert-authority"
printf '@cert-authority [127.0.0.1]:%s %s\n' "$SSH_PORT" "$HOSTKEY_PUB" \
    >"$WORK/kh.ca"
E2E_WHAT="a @cert-authority line accepts no host key" expect_exit 1 \
    kh "$WORK/kh.ca" snapshots
expect_stderr_contains "$SSH_HOSTKEY_FP"
expect_stderr_contains "@cert-authority line is ignored" \
    "the refusal says the CA line is ignored"
check "one snapshot: only the accepted connection wrote one" \
    test "$(snapshot_count)" -eq 1

e2e_finish
