#!/usr/bin/env bash
# End-to-end test of `kluis-server serve` over a pipe, spoken by an
# independent implementation of the wire format (protoclient.py, Python):
# roles, create-only, malformed frames, the audit chain (PROTOCOL.md).
#
# usage: serve_raw.sh /path/to/kluis /path/to/kluis-server
set -u
KLUIS=${1:?usage: serve_raw.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: serve_raw.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/lib.sh"
e2e_init serve-raw
PC="python3 $E2E_DIR/protoclient.py"

k init --kdf interactive >/dev/null 2>&1 || { echo "init failed"; exit 1; }
head -c 3000000 /dev/urandom >"$WORK/pack"
NAME=$(b2sum -l 256 "$WORK/pack" | cut -d' ' -f1)
SV="$KLUIS_SERVER serve --repo $REPO"

# expect NAME EXIT PATTERN ARGS...: protoclient's exit code and a line.
expect() {
	local name=$1 want=$2 pat=$3
	shift 3
	$PC "$@" >"$OUT" 2>"$ERR"
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$OUT"; then
		ok "$name"
	else
		not_ok "$name (exit $rc, wanted $want and /$pat/)"
	fi
}

expect "append-only put, get back the same bytes" 0 \
    "DATA bytes=3000000 end=3000000 blake2b=$NAME" \
    --cmd "$SV --append-only" "put data auto $WORK/pack" "get data $NAME" bye
expect "overwrite is refused" 1 "KL_E_EXISTS" \
    --cmd "$SV" "put data auto $WORK/pack" bye
expect "append-only cannot remove data" 1 "KL_E_PERM" \
    --cmd "$SV --append-only" "remove data $NAME" bye
check "the pack is still there" test -f "$REPO/data/${NAME:0:2}/$NAME"
MTIME=$(stat -c %Y "$REPO/data/${NAME:0:2}/$NAME")
expect "list: name, size and receive time (the file's mtime)" 0 \
    "^  $NAME 3000000 $MTIME\$" --cmd "$SV --read-only" "list data" bye
expect "a version-1 client is refused" 1 \
    "ERR code=-10 KL_E_UNSUPPORTED .*protocol version 3 only" \
    --hello-versions 1:1 --cmd "$SV --read-only" expect-closed
expect "read-only cannot put" 1 "KL_E_PERM" \
    --cmd "$SV --read-only" "put lock auto $WORK/pw" bye
expect "pinned path" 1 "this key may only use" \
    --repo /elsewhere --cmd "$SV --append-only"
for kind in short-length huge-length over-limit bad-type trailing \
    short-body bad-ftype put-too-big put-then-get data-without-put \
    end-without-put put-overflow put-data-too-big truncated; do
	expect "malformed $kind: ERR then close" 1 "CLOSED" \
	    --cmd "$SV --append-only" "malformed $kind" expect-closed
done
expect "broken-off upload" 0 "SENT-PARTIAL" \
    --cmd "$SV --append-only" "put-partial index auto $WORK/pack 1500000"
check "nothing of it is visible" test -z "$(ls -A "$REPO/index")"
run "$KLUIS_SERVER" audit verify --repo "$REPO"
if [ "$rc" -eq 0 ] && grep -q "chain intact" "$OUT"; then
	ok "audit chain intact"
else
	not_ok "audit chain intact"
fi
check "every refusal is in the audit log" \
    test "$(grep -c 'outcome=KL_E_PERM' "$REPO/audit.log")" -eq 3

# a restricted key cannot grow the audit log without bound: the session
# ends after 64 refusals (PROTOCOL.md §7)
before=$(wc -l <"$REPO/audit.log")
ops=()
for i in $(seq 1 80); do ops+=("remove data $NAME"); done
$PC --cmd "$SV --read-only" "${ops[@]}" >"$OUT" 2>"$ERR"
check "the server stopped answering after 64 refusals" \
    test "$(grep -c 'KL_E_PERM' "$OUT")" -eq 64
after=$(wc -l <"$REPO/audit.log")
check "at most 64 refusal records and the session records were added" \
    test $((after - before)) -le 66
run "$KLUIS_SERVER" audit verify --repo "$REPO"
check "the chain is still intact" test "$rc" -eq 0

# Issue #10 finding 6: the receive time is the end of the upload.  A
# client that sends all data and holds back PUT_END for 3 s gets the time
# PUT_END arrived, not the time of its last data.
head -c 1000 /dev/urandom >"$WORK/held"
HELD=$(b2sum -l 256 "$WORK/held" | cut -d' ' -f1)
$PC --cmd "$SV --append-only" "put-hold snapshot auto $WORK/held 3" \
    "list snapshot" bye >"$OUT" 2>"$ERR"
END_T=$(sed -n 's/^END-SENT t=//p' "$OUT")
HELD_T=$(sed -n "s/^  $HELD 1000 //p" "$OUT")
if [ -n "$END_T" ] && [ -n "$HELD_T" ] && [ "$HELD_T" -ge "$END_T" ]; then
	ok "a held-back upload is listed at PUT_END's time ($HELD_T >= $END_T)"
else
	not_ok "a held-back upload is listed at ${HELD_T:-?}, PUT_END left at ${END_T:-?}"
fi
e2e_finish
