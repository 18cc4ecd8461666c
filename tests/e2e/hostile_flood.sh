#!/usr/bin/env bash
# Issue #10 finding 5, played by the attacker: a compromised city server
# (web01) holding only its backup-only key file, its passphrase and its
# append-only SSH key floods the repository, through a real sshd, with
# keys chosen to collide in hash tables with a fixed slot function:
#   - orphan-flood: 2 packs whose headers list 65,536 blob ids each, all
#     sharing their first 8 bytes, that no index file names (before
#     issue #10 every host's next backup adopted them into a table slotted
#     by those bytes: 27 s of CPU, growing with the square);
#   - index-flood: the same named by an index file, which every host's
#     next index load reads;
#   - link-flood: a snapshot of web01 whose 262,144 files each have a
#     hard-link group of their own, with the low 40 bits of every group
#     zero, which the operator's drill walks.
# Each flood of colliding keys is matched by one of as many random keys
# (the honest baseline of the same size: what reading that much costs
# anyway).  After each, another host's (db01) backup - with its catalog,
# and with a new one - a full key's check and a restore from a new
# catalog must cost about the same, and db01 adopts nothing of web01's;
# the drill of the snapshot with colliding groups must cost about what
# the drill of one with groups numbered as a walk numbers them costs.
# Costs are CPU seconds (user + system) of the client, also printed for
# the same commands before any flood; a colliding flood may cost
# FLOOD_FACTOR times its random twin plus FLOOD_SLACK seconds (room for a
# loaded machine and for the state the earlier floods left).  Every
# command also runs under a wall-clock timeout (KS_TIMEOUT).  FLOOD_CASES
# picks the cases (orphan, index, link; all by default).
#
# usage: hostile_flood.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: hostile_flood.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: hostile_flood.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: hostile_flood.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init hostile-flood

FLOOD_PACKS=${FLOOD_PACKS:-2}
FLOOD_IDS=${FLOOD_IDS:-65536}
FLOOD_LINKS=${FLOOD_LINKS:-262144}
FLOOD_FACTOR=${FLOOD_FACTOR:-3}
FLOOD_SLACK=${FLOOD_SLACK:-5}
FLOOD_CASES=${FLOOD_CASES:-orphan index link}
# wall-clock limit of every measured command (ks's timeout)
export KS_TIMEOUT=${KS_TIMEOUT:-240}

W=$SSH_KEY_APPEND		# web01: the compromised host
DB=$(ssh_add_key db01 \
    "command=\"$KLUIS_SERVER serve --append-only --repo $REPO --client-name db01\",restrict")

# kb CACHE ARGS...: kluis as db01 (its own key file and catalog).
kb() {
	local cache=$1
	shift
	KLUIS_CACHE_DIR=$WORK/$cache ks "$DB" --key-file "$WORK/db01.key" "$@"
}

# attack ARGS...: kluis-hostile as web01, over its append-only SSH key.
attack() {
	HS_TIMEOUT=300 hs "$WORK/web01.key" "$PW" "$@"
}

# timed VAR WANT CMD...: expect_exit WANT CMD..., and VAR gets the CPU
# seconds (user + system) the command and its children took.
timed() {
	local var=$1 want=$2 t
	shift 2
	TIMEFORMAT='%3U %3S'
	{ time expect_exit "$want" "$@"; } 2>"$WORK/.time"
	t=$(awk 'NF == 2 { printf "%.3f", $1 + $2 }' "$WORK/.time")
	printf -v "$var" '%s' "${t:-999999}"
	echo "   cpu ${t:-?} s: ${E2E_WHAT:-$*}"
}

# bounded NAME COLLIDE SPREAD [BEFORE]: COLLIDE <= FLOOD_FACTOR * SPREAD +
# FLOOD_SLACK (CPU seconds after a flood of colliding keys, after one of
# as many random keys, and before any flood).
bounded() {
	check "$1: ${2} s of CPU after colliding keys, ${3} s after random ones${4:+, $4 s before any flood}" \
	    awk -v a="$2" -v b="$3" -v f="$FLOOD_FACTOR" -v s="$FLOOD_SLACK" \
	    'BEGIN { exit !(a <= f * b + s) }'
}

# want CASE: CASE is one of FLOOD_CASES.
want() {
	case " $FLOOD_CASES " in *" $1 "*) return 0 ;; esac
	return 1
}

# adopted: the packs the last backup adopted (its --verbose output).
adopted() {
	sed -n 's/^packs adopted from an interrupted backup: \([0-9]*\).*/\1/p' \
	    "$OUT"
}

# ---------------------------------------------------------------------------
case_begin "set-up: a repository, a backup-only key per host, db01 backs up"
E2E_WHAT="init (full key)" expect_exit 0 k init --kdf interactive
for h in web01 db01; do
	E2E_WHAT="backup-only key for $h" expect_exit 0 \
	    k key add --backup-only --out "$WORK/$h.key" \
	    --new-password-file "$PW" --kdf interactive --label "$h"
done
SRC=$WORK/db-data
mkdir -p "$SRC/etc" "$SRC/bin"
cp -r /usr/include/linux "$SRC/etc/" 2>/dev/null
cp /usr/bin/ls /usr/bin/cp "$SRC/bin/"
E2E_WHAT="db01's first backup" expect_exit 0 \
    kb db01-cache backup "$SRC" --host db01

# ---------------------------------------------------------------------------
case_begin "before any flood: what db01's backups, a check and a restore cost"
echo "a change" >"$SRC/etc/changed"
E2E_WHAT="db01 backs up with its catalog" timed B_KEEP 0 \
    kb db01-cache backup "$SRC" --host db01 --verbose
E2E_WHAT="db01 backs up with a new catalog" timed B_NEW 0 \
    kb db01-new0 backup "$SRC" --host db01 --verbose
SNAP=$(last_line)
E2E_WHAT="check with the full key, a new catalog" timed B_CHECK 0 \
    fresh c0 check
E2E_WHAT="restore of db01's last snapshot from a new catalog" \
    timed B_RESTORE 0 fresh r0 restore "$SNAP" --target "$WORK/out0"
treecmp "the restore is identical" "$SRC" "$WORK/out0$SRC"

# flood ATTACK KIND N: web01 uploads flood N of KIND (collide: ids that
# share their first 8 bytes; spread: random ids, the same amount).
flood() {
	local p n=0 args=("$FLOOD_PACKS" "$FLOOD_IDS")
	[ "$2" = spread ] && args+=(spread)
	E2E_WHAT="web01 uploads $1 $2 $3" expect_exit 0 attack "$1" "${args[@]}"
	FLOOD=$(awk '$1 == "pack" { print $2 }' "$OUT")
	FLOOD_IX=$(awk '$1 == "index" { print $2 }' "$OUT")
	for p in $FLOOD; do
		test -f "$REPO/data/${p:0:2}/$p" && n=$((n + 1))
	done
	check "$1 $2 $3: its $FLOOD_PACKS packs are in the repository" \
	    test "$n" -eq "$FLOOD_PACKS"
	check "$1 $2 $3: the audit log names web01 as their uploader" \
	    grep -q "web01.*${FLOOD%%$'\n'*}" "$REPO/audit.log"
}

# orphan_round KIND P: two orphan floods of KIND, each followed by a
# backup of db01 (with its catalog, then with a new one; before issue #10
# the first backup to see a flood adopted it), then a check and a restore
# from new catalogs.  P_KEEP, P_NEW, P_CHECK, P_RESTORE get their CPU
# seconds.
orphan_round() {
	local kind=$1 p=$2
	flood orphan-flood "$kind" 1
	echo "$kind 1" >"$SRC/etc/changed"
	E2E_WHAT="db01 backs up with its catalog ($kind)" timed "${p}_KEEP" 0 \
	    kb db01-cache backup "$SRC" --host db01 --verbose
	check "db01 adopted none of web01's packs ($(adopted))" \
	    test "$(adopted)" = 0
	flood orphan-flood "$kind" 2
	echo "$kind 2" >"$SRC/etc/changed"
	E2E_WHAT="db01 backs up with a new catalog ($kind)" timed "${p}_NEW" 0 \
	    kb "db01-new-$kind" backup "$SRC" --host db01 --verbose
	SNAP=$(last_line)
	check "db01 adopted none of web01's packs ($(adopted))" \
	    test "$(adopted)" = 0
	E2E_WHAT="check with the full key, a new catalog ($kind)" \
	    timed "${p}_CHECK" 0 fresh "c-$kind" check
	E2E_WHAT="restore of db01's last snapshot, a new catalog ($kind)" \
	    timed "${p}_RESTORE" 0 fresh "r-$kind" restore "$SNAP" \
	    --target "$WORK/out-$kind"
	treecmp "the restore is identical ($kind)" "$SRC" "$WORK/out-$kind$SRC"
}

# ---------------------------------------------------------------------------
if want orphan; then
case_begin "orphan-flood: $FLOOD_PACKS packs of $FLOOD_IDS ids that no index names"
orphan_round spread S
orphan_round collide C
bounded "db01's backup with its catalog" "$C_KEEP" "$S_KEEP" "$B_KEEP"
bounded "db01's backup with a new catalog" "$C_NEW" "$S_NEW" "$B_NEW"
bounded "check" "$C_CHECK" "$S_CHECK" "$B_CHECK"
bounded "the restore" "$C_RESTORE" "$S_RESTORE" "$B_RESTORE"
fi

# ---------------------------------------------------------------------------
if want index; then
case_begin "index-flood: the same named by an index file every reader loads"
for kind in spread collide; do
	flood index-flood "$kind" 1
	check "index-flood $kind: its index file is in the repository" \
	    test -f "$REPO/index/$FLOOD_IX"
	echo "index $kind" >"$SRC/etc/changed"
	E2E_WHAT="db01 backs up with its catalog ($kind)" \
	    timed "I_$kind" 0 kb db01-cache backup "$SRC" --host db01 --verbose
	SNAP=$(last_line)
	check "db01 adopted none of web01's packs ($(adopted))" \
	    test "$(adopted)" = 0
done
bounded "db01's backup with its catalog" "$I_collide" "$I_spread" "$B_KEEP"
E2E_WHAT="restore of db01's last snapshot from a new catalog" \
    timed I_RESTORE 0 fresh r-index restore "$SNAP" --target "$WORK/out-ix"
treecmp "the restore after every flood is identical" "$SRC" "$WORK/out-ix$SRC"
fi

# ---------------------------------------------------------------------------
if want link; then
case_begin "link-flood: $FLOOD_LINKS files in hard-link groups chosen to collide"
E2E_WHAT="web01 writes a snapshot with groups numbered as a walk does" \
    expect_exit 0 attack link-flood web01 "$FLOOD_LINKS" spread
SPREAD=$(awk '$1 == "snapshot" { print $2 }' "$OUT")
E2E_WHAT="web01 writes a snapshot with colliding groups" \
    expect_exit 0 attack link-flood web01 "$FLOOD_LINKS" collide
COLLIDE=$(awk '$1 == "snapshot" { print $2 }' "$OUT")
# a first drill records both snapshots' file versions in the catalog
E2E_WHAT="a first drill" expect_exit 0 \
    fresh d drill "$SPREAD" --sample 20 --target "$WORK/drill-first"
E2E_WHAT="drill of the snapshot with spread groups" timed L_SPREAD 0 \
    fresh d drill "$SPREAD" --sample 20 --target "$WORK/drill-spread"
E2E_WHAT="drill of the snapshot with colliding groups" timed L_COLLIDE 0 \
    fresh d drill "$COLLIDE" --sample 20 --target "$WORK/drill-collide"
bounded "the drill" "$L_COLLIDE" "$L_SPREAD"
fi

e2e_finish
