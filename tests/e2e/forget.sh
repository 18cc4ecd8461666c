#!/usr/bin/env bash
# Issue #11 section 1: kluis forget.
#   - Time buckets use the receive time: good01 backed up nightly (its
#     snapshot files received on six earlier days), then a hacked host with
#     a backup-only key (kluis-hostile) wrote 30 snapshots under good01's
#     name claiming 30 future days.  --keep-daily 7 keeps every good one
#     and one forged one, and flags the forged ones; judged by the clients'
#     own times, the forged ones would have pushed every good one out.
#   - Without --dry-run: the forget record is a signed index file, the
#     snapshot files go, `snapshots`, `versions` and `check` follow at
#     once, and a second client's catalog follows without a finding,
#     while a snapshot file removed by hand is still a "vanished" finding.
#   - forget by id; a backup-only key (exit 12); usage errors (exit 2).
#   - Over ssh://: the append-only role's refusal (its exclusive lock) is
#     clear, changes nothing and is audited; the full role's forget lands
#     in the server's trash, and `kluis-server undelete` brings the
#     snapshots back, listed again and checking clean.
#
# usage: forget.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: forget.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: forget.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: forget.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init forget
export TZ=UTC

SRC=$WORK/src
DAY=86400
TODAY=$(( $(date +%s) / DAY * DAY ))

# c2 ARGS...: a second operator machine with its own catalog.
c2() {
	KLUIS_CACHE_DIR=$WORK/cache2 "$KLUIS" -r "$REPO" --password-file "$PW" \
	    "$@"
}

# ids_in KEY: the snapshot ids of groups[*][KEY] of forget --json in $OUT.
ids_in() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("\n".join(s["id"] for g in d["groups"] for s in g[sys.argv[2]]))' \
	    "$OUT" "$1" | LC_ALL=C sort
}

# flagged_ids: the ids forget --json in $OUT flagged.
flagged_ids() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("\n".join(s["id"] for g in d["groups"] for k in ("keep", "remove")
                for s in g[k] if s["flagged"]))' "$OUT" | LC_ALL=C sort
}

snapshot_ids() {
	find "$REPO/snapshots" -type f -printf '%f\n' | LC_ALL=C sort
}

# ---------------------------------------------------------------------------
case_begin "six nightly backups of good01, received on six earlier days"
mkdir -p "$SRC"
expect_exit 0 k init --kdf interactive
GOOD=()
for d in 6 5 4 3 2 1; do
	echo "night $d" >"$SRC/night-$d.txt"
	E2E_WHAT="backup, night -$d" expect_exit 0 k backup "$SRC" \
	    --host good01 --json
	id=$(json_field snapshot_id)
	GOOD+=("$id")
	touch -d "@$((TODAY - d * DAY + 2 * 3600))" "$REPO/snapshots/$id"
done
printf '%s\n' "${GOOD[@]}" | LC_ALL=C sort >"$WORK/good"
make_password "$WORK/pw-web" "web01 backup passphrase"
expect_exit 0 k key add --backup-only --out "$WORK/web01.key" \
    --new-password-file "$WORK/pw-web" --kdf interactive

case_begin "a hacked host writes 30 snapshots as good01, dated in 2100"
for i in $(seq 1 30); do
	"$HOSTILE" -r "$REPO" --key-file "$WORK/web01.key" \
	    --password-file "$WORK/pw-web" tree-deep --host good01 \
	    --path "$SRC" --time $((4102444800 + i * DAY)) 1 >"$OUT" 2>"$ERR" ||
	    not_ok "forged snapshot $i"
	awk '$1 == "snapshot" { print $2 }' "$OUT" >>"$WORK/forged"
done
LC_ALL=C sort -o "$WORK/forged" "$WORK/forged"
check "30 forged snapshots written" test "$(wc -l <"$WORK/forged")" -eq 30
E2E_WHAT="the second client's catalog sees all 36" expect_exit 0 \
    c2 snapshots --json
check "36 snapshots in the repository" test "$(snapshot_ids | wc -l)" -eq 36

# ---------------------------------------------------------------------------
case_begin "--keep-daily 7 --dry-run: judged by receive time"
E2E_WHAT="forget --keep-daily 7 --dry-run" expect_exit 0 \
    kf forget --keep-daily 7 --dry-run --json
ids_in keep >"$WORK/kept"
check "every good snapshot is kept" \
    test -z "$(LC_ALL=C comm -23 "$WORK/good" "$WORK/kept")"
check "exactly one forged snapshot is kept (today's bucket)" \
    test "$(LC_ALL=C comm -12 "$WORK/forged" "$WORK/kept" | wc -l)" -eq 1
check "29 removed, all forged" test "$(ids_in remove | wc -l)" -eq 29 -a \
    -z "$(ids_in remove | LC_ALL=C comm -23 - "$WORK/forged")"
# (the good ones are flagged too here: their client times are today, their
# receive times were set back by the test; an honest one is checked below)
check "every forged one is flagged" \
    test -z "$(flagged_ids | LC_ALL=C comm -13 - "$WORK/forged")"
check "a dry run removes nothing" test "$(snapshot_ids | wc -l)" -eq 36
E2E_WHAT="forget --dry-run, text" expect_exit 0 \
    kf forget --keep-daily 7 --dry-run
expect_stdout_contains "would forget 29 snapshots, kept 7"
expect_stdout_contains "flagged: its own time says 2100-"

# ---------------------------------------------------------------------------
case_begin "forget for real: the record, the files, the catalogs"
I0=$(find "$REPO/index" -type f | wc -l)
E2E_WHAT="forget --keep-daily 7" expect_exit 0 k forget --keep-daily 7
expect_stdout_contains "forgot 29 snapshots, kept 7"
check "29 snapshot files gone, the good ones stay" \
    test "$(snapshot_ids | wc -l)" -eq 7 -a \
    -z "$(LC_ALL=C comm -23 "$WORK/good" <(snapshot_ids))"
check "one forget record (an index file) written" \
    test "$(find "$REPO/index" -type f | wc -l)" -eq $((I0 + 1))
E2E_WHAT="snapshots at once" expect_exit 0 k snapshots
expect_stdout_contains "7 snapshots"
E2E_WHAT="check by the client that forgot" expect_exit 0 k check
E2E_WHAT="check by the second client: forgotten is no finding" \
    expect_exit 0 c2 check
E2E_WHAT="the second client lists 7" expect_exit 0 c2 snapshots
expect_stdout_contains "7 snapshots"
E2E_WHAT="check with a new catalog" expect_exit 0 kf check

case_begin "a snapshot removed by hand is still a finding"
HAND=${GOOD[0]}
chmod u+w "$REPO/snapshots"
rm -f "$REPO/snapshots/$HAND"
E2E_WHAT="check by the second client after a removal by hand" \
    expect_exit 1 c2 check
expect_stdout_contains "vanished"
expect_stdout_contains "${HAND:0:8}"

case_begin "forget by id, keys and usage"
VICTIM=${GOOD[1]}
E2E_WHAT="forget with a backup-only key" expect_exit 12 \
    "$KLUIS" -r "$REPO" --key-file "$WORK/web01.key" \
    --password-file "$WORK/pw-web" forget "${VICTIM:0:8}"
expect_stderr_contains "needs a full key"
# first_seen PATH: first_snapshot of PATH's version per `versions --json`.
first_seen() {
	k versions "$1" --json >"$OUT" 2>"$ERR" &&
	    python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[0]["first_snapshot"])' "$OUT"
}
check "versions: night-5.txt first seen in the snapshot to forget" \
    test "$(first_seen "$SRC/night-5.txt")" = "$VICTIM"
E2E_WHAT="forget SNAPSHOT" expect_exit 0 k forget "${VICTIM:0:8}"
check "that snapshot is gone" test ! -e "$REPO/snapshots/$VICTIM"
E2E_WHAT="catalog status after the forget" expect_exit 0 \
    k catalog status --json
check "forget's own catalog calls it forgotten: only the one removed by hand vanished" \
    test "$(json_field vanished)" = 1
check "versions follow at once: first seen in the next one" \
    test "$(first_seen "$SRC/night-5.txt")" = "${GOOD[2]}"
E2E_WHAT="no policy, no snapshot" expect_exit 2 k forget
E2E_WHAT="a policy and a snapshot" expect_exit 2 k forget --keep-last 1 \
    "${GOOD[2]:0:8}"
E2E_WHAT="a bad --keep-within" expect_exit 2 k forget --keep-within 5
E2E_WHAT="a bad --keep-daily" expect_exit 2 k forget --keep-daily many
E2E_WHAT="a bad --group-by" expect_exit 2 k forget --keep-last 1 \
    --group-by tags

# ---------------------------------------------------------------------------
case_begin "over ssh://: the append-only role, the full role, undelete"
N0=$(snapshot_ids | wc -l)
AUDIT0=$(audit_lines)
E2E_WHAT="forget through the append-only role" expect_exit 12 \
    ks "$SSH_KEY_APPEND" forget --keep-last 1
expect_stderr_contains "exclusive"
check "nothing changed" test "$(snapshot_ids | wc -l)" -eq "$N0"
check "the refusal is audited" \
    bash -c "tail -n +$((AUDIT0 + 1)) '$REPO/audit.log' | grep -q 'op=put type=lock .*outcome=KL_E_PERM'"
E2E_WHAT="forget --keep-last 1 through the full role" expect_exit 0 \
    ks "$SSH_KEY_ADMIN" forget --keep-last 1
check "one snapshot left" test "$(snapshot_ids | wc -l)" -eq 1
check "the others wait in the server's trash" \
    test "$(find "$REPO/trash" -name 'snapshots.*' | wc -l)" -eq $((N0 - 1))
E2E_WHAT="kluis-server undelete" expect_exit 0 "$KLUIS_SERVER" undelete \
    --repo "$REPO" --since 1h
check "the snapshots are back" test "$(snapshot_ids | wc -l)" -eq "$N0"
E2E_WHAT="they are listed again (the record only explains an absence)" \
    expect_exit 0 c2 snapshots
expect_stdout_contains "$N0 snapshots"
E2E_WHAT="check after the undelete" expect_exit 0 kf check

case_begin "an honest snapshot is not flagged"
E2E_WHAT="a backup of fresh01" expect_exit 0 k backup "$SRC" --host fresh01
E2E_WHAT="forget --host fresh01 --dry-run" expect_exit 0 \
    k forget --host fresh01 --keep-last 1 --dry-run --json
check "its own time and its receive time agree: not flagged" \
    test -z "$(flagged_ids)" -a "$(ids_in keep | wc -l)" -eq 1

e2e_finish
