#!/usr/bin/env bash
# Issue #11 section 5: `kluis key list` shows full ids, kind, label and
# creation time; `kluis key remove ID` needs a full key and the full SSH
# role, and refuses to remove the key in use or the last full key.
# Through a real sshd: the append-only role's refusal is clear and
# audited; the full role's removal waits in the server's trash, from which
# `kluis-server undelete` brings the key back.
#
# usage: key_remove.sh KLUIS KLUIS_SERVER
KLUIS=${1:?usage: key_remove.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: key_remove.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init key-remove

# key_id LABEL: the full id `key list --json` (in $OUT) gives that label.
key_id() {
	python3 -c 'import json, sys
print("".join(k["id"] for k in json.load(open(sys.argv[1]))
              if k["label"] == sys.argv[2]))' "$OUT" "$1"
}

keys_in_repo() {
	find "$REPO/keys" -type f | wc -l
}

# ---------------------------------------------------------------------------
case_begin "three keys: the operators', a second full one, a host's"
expect_exit 0 k init --kdf interactive
make_password "$WORK/pw2" "second operator passphrase"
expect_exit 0 k key add --label ops2 --new-password-file "$WORK/pw2" \
    --kdf interactive
make_password "$WORK/pwb" "web01 backup passphrase"
expect_exit 0 k key add --backup-only --label web01 \
    --new-password-file "$WORK/pwb" --kdf interactive
E2E_WHAT="key list" expect_exit 0 k key list
check "key list: full 64-digit ids, kind and label" \
    grep -qE '^[* ] [0-9a-f]{64}  backup-only  [0-9-]{10} [0-9:]{8}  web01$' \
    "$OUT"
check "key list: the key in use is marked" \
    grep -qE '^\* [0-9a-f]{64}  full ' "$OUT"
expect_exit 0 k key list --json
OPS=$(python3 -c 'import json, sys
print("".join(k["id"] for k in json.load(open(sys.argv[1])) if k["current"]))' \
    "$OUT")
OPS2=$(key_id ops2)
WEB=$(key_id web01)
check "three distinct ids" test -n "$OPS" -a -n "$OPS2" -a -n "$WEB" -a \
    "$OPS" != "$OPS2"

# ---------------------------------------------------------------------------
case_begin "what key remove refuses"
E2E_WHAT="remove with a backup-only key" expect_exit 12 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/pwb" key remove "$OPS2"
expect_stderr_contains "needs a full key"
E2E_WHAT="remove the key in use" expect_exit 1 k key remove "$OPS"
expect_stderr_contains "key in use"
E2E_WHAT="remove an id that is no key" expect_exit 1 k key remove 0123abcd
expect_stderr_contains "no key file"
E2E_WHAT="remove with a malformed id" expect_exit 2 k key remove xyz
check "nothing removed so far" test "$(keys_in_repo)" -eq 3
E2E_WHAT="an operators' key kept outside the repository" expect_exit 0 \
    k key add --out "$WORK/ext.key" --new-password-file "$PW" \
    --kdf interactive
E2E_WHAT="remove ops2 with the key kept outside" expect_exit 0 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/ext.key" --password-file "$PW" \
    key remove "${OPS2:0:12}"
expect_stdout_contains "removed key $OPS2"
E2E_WHAT="remove the last full key in keys/" expect_exit 1 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/ext.key" --password-file "$PW" \
    key remove "$OPS"
expect_stderr_contains "last full key"
E2E_WHAT="the removed key no longer opens the repository" expect_exit 12 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/pw2" snapshots

# ---------------------------------------------------------------------------
case_begin "over ssh://: the roles, the trash, undelete"
E2E_WHAT="append-only role: key remove refused" expect_exit 12 \
    ks "$SSH_KEY_APPEND" key remove "$WEB"
expect_stderr_contains "not allowed in the append-only role"
check "the refusal is audited" \
    grep -qE "op=remove type=key name=$WEB .*outcome=KL_E_PERM" \
    "$REPO/audit.log"
check "web01's key is still there" test -f "$REPO/keys/$WEB"
E2E_WHAT="full role: key remove" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" key remove "$WEB"
check "web01's key left keys/ for the trash" \
    test ! -e "$REPO/keys/$WEB" -a -n "$(find "$REPO/trash" -name "keys.$WEB.*")"
E2E_WHAT="web01's passphrase opens nothing now" expect_exit 12 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/pwb" key list
E2E_WHAT="kluis-server undelete" expect_exit 0 \
    "$KLUIS_SERVER" undelete --repo "$REPO" --since 1h
E2E_WHAT="web01's key opens the repository again" expect_exit 0 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/pwb" key list

e2e_finish
