#!/usr/bin/env bash
# bench/delta.sh: big files changed in place (issue #14) - kluis with
# sub-chunk deltas beside kluis storing whole chunks, restic and BorgBackup,
# on the same files in the same run.  See bench/README.md.  Measures,
# never asserts.
#
# usage: bench/delta.sh [--quick] [--runs N] [--size BYTES] [--pages N]
#                       [--nights N] [--tools LIST] [--workdir DIR]
#                       [--kluis PATH] [--depths LIST] [--keep]
#
# Scenario "inplace": one file of SIZE bytes (2 GiB) of real binaries from
# /usr; NIGHTS (7) versions, each after PAGES (1000) 4 KiB pages at random
# 4 KiB-aligned offsets were rewritten with new bytes (seeded per night).
# Every tool backs up every version: wall and CPU time, repository bytes
# added.  Then RUNS times (tool order rotated), restore of version 2 (kluis:
# chunks as deltas) and of version 1, timed; every version of every tool
# is restored once and compared (sha256) with the original.
# Scenario "append": a file of SIZE/4 bytes that grows by 8 MiB a night
# (a log, an mbox).  Scenario "insert": SIZE/4 bytes with 16 runs of 100
# bytes inserted a night at random offsets (content shifts).
# --depths: also back up the inplace versions with kluis at each of these
# --delta-max-depth values (the repository bytes over the nights: what
# the default is chosen by).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RUNS=3
QUICK=0
KEEP=0
SIZE=
PAGES=1000
NIGHTS=7
DEPTHS=
BM_TOOLS=kluis,kluis-whole,restic,borg
WORKDIR=
KLUIS=
ORIG_ARGS="$*"

usage() {
	sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

posint() {	# posint NAME VALUE
	case $2 in '' | *[!0-9]* | 0) bm_die "$1 needs a positive integer" ;; esac
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--pages) PAGES=$2; shift ;;
	--nights) NIGHTS=$2; shift ;;
	--tools) BM_TOOLS=$2; shift ;;
	--workdir) WORKDIR=$2; shift ;;
	--kluis) KLUIS=$2; shift ;;
	--depths) DEPTHS=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) usage ;;
	*) echo "unknown argument: $1" >&2; usage ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	RUNS=1
	SIZE=${SIZE:-268435456}
	NIGHTS=3
fi
SIZE=${SIZE:-2147483648}
posint --runs "$RUNS"
posint --size "$SIZE"
posint --pages "$PAGES"
posint --nights "$NIGHTS"
[ "$NIGHTS" -ge 2 ] || bm_die "--nights needs at least 2"
IFS=, read -r -a TOOL_LIST <<<"$BM_TOOLS"
for t in "${TOOL_LIST[@]}"; do
	case $t in kluis | kluis-whole | restic | borg) ;;
	*) bm_die "unknown tool $t (kluis, kluis-whole, restic, borg)" ;; esac
done
IFS=, read -r -a DEPTH_LIST <<<"$DEPTHS"
for d in "${DEPTH_LIST[@]}"; do posint --depths "$d"; done

bm_workdir delta /var/tmp/kluis-bench-delta

# ---------------------------------------------------------------- tools
bm_ensure_pkg /usr/bin/time time
bm_have_tool restic && bm_ensure_pkg restic restic
bm_have_tool borg && bm_ensure_pkg borg borgbackup
command -v python3 >/dev/null || bm_die "python3 is needed for the changes"
if bm_have_tool kluis || bm_have_tool kluis-whole; then
	bm_kluis_build
fi
KLUIS_REV=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo '?')
KLUIS_DIRTY=$(git -C "$ROOT" status --short 2>/dev/null | wc -l)

PWF=$BM_WORK/password
printf 'kluis-bench-password\n' >"$PWF"
export RESTIC_PASSWORD=kluis-bench-password
export BORG_PASSPHRASE=kluis-bench-password
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
unset KLUIS_REPOSITORY KLUIS_PASSWORD_FILE KLUIS_PASSWORD_COMMAND KLUIS_KEY_FILE \
	KLUIS_CACHE_DIR RESTIC_REPOSITORY RESTIC_CACHE_DIR

repo_of() { printf '%s\n' "$BM_WORK/repo/$1-$2"; }	# scenario tool
cache_of() { printf '%s\n' "$BM_WORK/cache/$1-$2"; }

# tool_argv SCENARIO TOOL: TA = the program with its environment and
# repository options (an array: /usr/bin/time runs the program itself).
tool_argv() {
	local r c
	r=$(repo_of "$1" "$2")
	c=$(cache_of "$1" "$2")
	case $2 in
	kluis) TA=(env "KLUIS_CACHE_DIR=$c" "$KLUIS" -r "$r" --password-file "$PWF") ;;
	kluis-whole) TA=(env "KLUIS_CACHE_DIR=$c" "$KLUIS" -r "$r" --password-file "$PWF") ;;
	kluis-d*) TA=(env "KLUIS_CACHE_DIR=$c" "$KLUIS" -r "$r" --password-file "$PWF") ;;
	restic) TA=(env "RESTIC_CACHE_DIR=$c" restic -r "$r") ;;
	borg) TA=(env "BORG_CACHE_DIR=$c" "BORG_BASE_DIR=$c" borg) ;;
	esac
}

tool_init() {	# tool_init SCENARIO TOOL
	local r
	r=$(repo_of "$1" "$2")
	mkdir -p "$(cache_of "$1" "$2")" "$(dirname "$r")"
	tool_argv "$1" "$2"
	case $2 in
	kluis*) "${TA[@]}" init --kdf interactive ;;
	restic) "${TA[@]}" init ;;
	borg) "${TA[@]}" init --encryption=repokey-blake2 "$r" ;;
	esac >"$LOGS/init-$1-$2.log" 2>&1 || bm_die "$2 init failed; see $LOGS/init-$1-$2.log"
}

# backup_argv SCENARIO TOOL NIGHT PATH: sets BA to the backup command.
backup_argv() {
	tool_argv "$1" "$2"
	case $2 in
	kluis) BA=("${TA[@]}" backup --json "$4") ;;
	kluis-whole) BA=("${TA[@]}" backup --json --delta-min-size off "$4") ;;
	kluis-d*) BA=("${TA[@]}" backup --json --delta-max-depth "${2#kluis-d}" "$4") ;;
	restic) BA=("${TA[@]}" backup --quiet --compression auto "$4") ;;
	borg) BA=("${TA[@]}" create --compression zstd,3 "$(repo_of "$1" "$2")::n$3" "$4") ;;
	esac
}

# restore_argv SCENARIO TOOL NIGHT TARGET: sets RA.
restore_argv() {
	local id
	tool_argv "$1" "$2"
	id=${SNAP["$1 $2 $3"]:-}
	case $2 in
	kluis*) RA=("${TA[@]}" restore "$id" --target "$4") ;;
	restic) RA=("${TA[@]}" restore "$id" --target "$4") ;;
	borg) RA=(sh -c 'cd "$1" && shift && exec "$@"' sh "$4" "${TA[@]}" extract "$(repo_of "$1" "$2")::n$3") ;;
	esac
}

declare -A SNAP

# snap_id SCENARIO TOOL NIGHT LOG: remembers the snapshot the backup made.
snap_id() {
	local id=
	case $2 in
	kluis*) id=$(sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' "$4" | tail -n 1) ;;
	restic) tool_argv "$1" "$2"
		id=$("${TA[@]}" snapshots --json 2>/dev/null | python3 -c '
import json, sys
s = sorted(json.load(sys.stdin), key=lambda x: x["time"])
print(s[-1]["id"])') ;;
	borg) id=n$3 ;;
	esac
	SNAP["$1 $2 $3"]=$id
}

# ---------------------------------------------------------------- data
PY=$BM_WORK/change.py
cat >"$PY" <<'PY'
import os
import random
import sys

op, path = sys.argv[1], sys.argv[2]
if op == "make":                      # real binaries of this machine
    size = int(sys.argv[3])
    srcs = []
    for d in ("/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/libexec", "/usr/lib"):
        for dp, dn, fn in os.walk(d):
            dn.sort()
            for f in sorted(fn):
                p = os.path.join(dp, f)
                if os.path.isfile(p) and not os.path.islink(p):
                    srcs.append(p)
    done = 0
    with open(path, "wb") as out:
        while done < size:
            for p in srcs:
                try:
                    with open(p, "rb") as fh:
                        b = fh.read(size - done)
                except OSError:
                    continue
                out.write(b)
                done += len(b)
                if done >= size:
                    break
elif op == "pages":                   # in place, same size
    night, pages = int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(1400 + night)
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        for _ in range(pages):
            fh.seek(rng.randrange(size // 4096) * 4096)
            fh.write(rng.randbytes(4096))
elif op == "append":
    night = int(sys.argv[3])
    rng = random.Random(1500 + night)
    with open(path, "ab") as fh:
        for _ in range(8 * 256):      # 8 MiB of mail-like lines
            fh.write(("From %d@city.example %s\n" % (rng.randrange(10**6),
                      rng.randbytes(2000).hex())).encode()[:4096].ljust(4096, b"."))
elif op == "insert":
    night = int(sys.argv[3])
    rng = random.Random(1600 + night)
    with open(path, "rb") as fh:
        b = bytearray(fh.read())
    for _ in range(16):
        at = rng.randrange(len(b))
        b[at:at] = rng.randbytes(100)
    with open(path + ".new", "wb") as fh:
        fh.write(b)
    os.replace(path + ".new", path)
PY

repo_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }

# nights SCENARIO OP FILESIZE TOOLS...: makes the file, changes it every
# night by OP, backs it up with every tool; records backup time and the
# bytes each backup added; keeps each version's sha256.
declare -A SUM
nights() {
	local sc=$1 op=$2 size=$3 night t before after dir f log
	shift 3
	dir=$BM_WORK/data/$sc
	f=$dir/$sc.db
	mkdir -p "$dir"
	bm_log "$sc: making a $size-byte file of real binaries"
	python3 "$PY" make "$f" "$size" || bm_die "making the $sc file failed"
	for t in "$@"; do tool_init "$sc" "$t"; done
	for ((night = 1; night <= NIGHTS; night++)); do
		if [ "$night" -gt 1 ]; then
			case $op in
			pages) python3 "$PY" pages "$f" "$night" "$PAGES" ;;
			*) python3 "$PY" "$op" "$f" "$night" ;;
			esac || bm_die "changing the $sc file failed"
		fi
		SUM["$sc $night"]=$(sha256sum "$f" | cut -d' ' -f1)
		sync
		for t in "$@"; do
			before=$(repo_bytes "$(repo_of "$sc" "$t")")
			backup_argv "$sc" "$t" "$night" "$dir"
			log=$LOGS/backup-$sc-$t-$night.log
			bm_measure "$sc" "$t" "backup$night" 1 "$log" "${BA[@]}" ||
				bm_die "$t backup of $sc night $night failed"
			after=$(repo_bytes "$(repo_of "$sc" "$t")")
			bm_record "$sc" "$t" "added$night" 1 NA NA NA "$((after - before))" 0
			bm_log "$sc $t night $night added $((after - before)) bytes"
			snap_id "$sc" "$t" "$night" "$log"
		done
	done
}

# restore_check SCENARIO TOOL NIGHT: restores a version, compares it.
restore_check() {
	local tgt=$BM_WORK/restore/$1-$2-$3 got
	rm -rf "$tgt"
	mkdir -p "$tgt"
	restore_argv "$1" "$2" "$3" "$tgt"
	if ! "${RA[@]}" >"$LOGS/verify-$1-$2-$3.log" 2>&1; then
		bm_log "$2 restore of $1 version $3 FAILED; see $LOGS/verify-$1-$2-$3.log"
		bm_record "$1" "$2" "verify$3" 1 NA NA NA NA 1
		return
	fi
	got=$(find "$tgt" -type f -name "$1.db" -exec sha256sum {} + | cut -d' ' -f1)
	if [ "$got" = "${SUM["$1 $3"]}" ]; then
		bm_record "$1" "$2" "verify$3" 1 NA NA NA NA 0
	else
		bm_log "$2 restore of $1 version $3 DIFFERS from the original"
		bm_record "$1" "$2" "verify$3" 1 NA NA NA NA 1
	fi
	rm -rf "$tgt"
}

# ---------------------------------------------------------------- run
T_START=$(bm_now)
nights inplace pages "$SIZE" "${TOOL_LIST[@]}"

# timed restores of versions 1 and 2, RUNS times, tool order rotated
for ((run = 1; run <= RUNS; run++)); do
	n=${#TOOL_LIST[@]}
	for ((k = 0; k < n; k++)); do
		t=${TOOL_LIST[$(((k + run - 1) % n))]}
		for v in 2 1; do
			tgt=$BM_WORK/restore/timed
			rm -rf "$tgt"
			mkdir -p "$tgt"
			sync
			restore_argv inplace "$t" "$v" "$tgt"
			bm_measure inplace "$t" "restore$v" "$run" \
				"$LOGS/restore-$t-$v-$run.log" "${RA[@]}" || true
			rm -rf "$tgt"
		done
	done
done
for t in "${TOOL_LIST[@]}"; do
	for ((v = 1; v <= NIGHTS; v++)); do restore_check inplace "$t" "$v"; done
done

# the depth sweep: the same nights again, kluis at each --delta-max-depth
if [ "${#DEPTH_LIST[@]}" -gt 0 ]; then
	DT=()
	for d in "${DEPTH_LIST[@]}"; do DT+=("kluis-d$d"); done
	nights depth pages "$SIZE" "${DT[@]}"
	for t in "${DT[@]}"; do restore_check depth "$t" "$NIGHTS"; done
fi

ASZ=$((SIZE / 4))
nights append append "$ASZ" "${TOOL_LIST[@]}"
nights insert insert "$ASZ" "${TOOL_LIST[@]}"
for t in "${TOOL_LIST[@]}"; do
	restore_check append "$t" "$NIGHTS"
	restore_check insert "$t" "$NIGHTS"
done
T_ALL=$(bm_sub "$(bm_now)" "$T_START")

# ---------------------------------------------------------------- table
mb() { bm_scale "$1" 1000000 1; }
sum_added() {	# sum_added SCENARIO TOOL FIRST LAST
	local s=0 v i
	for ((i = $3; i <= $4; i++)); do
		v=$(bm_median "$1" "$2" "added$i" 8)
		[ "$v" = NA ] && { echo NA; return; }
		s=$((s + v))
	done
	echo "$s"
}
verified() {	# verified SCENARIO TOOL: "all N" or the failures
	awk -F'\t' -v ds="$1" -v tool="$2" '$1 == ds && $2 == tool && $3 ~ /^verify/ {
		n++; if ($9 != 0) bad = bad " " substr($3, 7) }
		END { if (n == 0) print "-"; else if (bad == "") print "all " n; else print "FAILED:" bad }' "$BM_TSV"
}
{
	echo "# bench/delta.sh $ORIG_ARGS"
	echo
	echo "kluis $KLUIS_REV (dirty files: $KLUIS_DIRTY), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores;"
	echo "file $SIZE bytes, $PAGES pages of 4 KiB rewritten a night, $NIGHTS versions, $RUNS timed restores each; total ${T_ALL}s"
	echo
	echo "## In place ($PAGES x 4 KiB a night)"
	echo
	echo "| tool | night 1 added (MB) | night 2 added (MB) | nights 2-$NIGHTS added (MB) | night 2 backup (s) | night 2 CPU (s) | restore v2 (s) | restore v1 (s) | v2/v1 | versions restored identical |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for t in "${TOOL_LIST[@]}"; do
		r2=$(bm_median inplace "$t" restore2 5)
		r1=$(bm_median inplace "$t" restore1 5)
		echo "| $t | $(mb "$(bm_median inplace "$t" added1 8)") | $(mb "$(bm_median inplace "$t" added2 8)") | $(mb "$(sum_added inplace "$t" 2 "$NIGHTS")") | $(bm_median inplace "$t" backup2 5) | $(bm_median inplace "$t" backup2 7) | $r2 | $r1 | $(bm_ratio "$r2" "$r1") | $(verified inplace "$t") |"
	done
	echo
	if bm_have_tool kluis; then
		k2=$(bm_median inplace kluis backup2 5)
		kr=$(bm_median inplace kluis restore2 5)
		echo "Ratios: kluis night-2 added / restic $(bm_ratio "$(bm_median inplace kluis added2 8)" "$(bm_median inplace restic added2 8)"), / borg $(bm_ratio "$(bm_median inplace kluis added2 8)" "$(bm_median inplace borg added2 8)");"
		echo "night-2 backup time kluis / restic $(bm_ratio "$k2" "$(bm_median inplace restic backup2 5)"), / borg $(bm_ratio "$k2" "$(bm_median inplace borg backup2 5)");"
		echo "restore of version 2: kluis (deltas) / kluis-whole (same file, whole chunks) $(bm_ratio "$kr" "$(bm_median inplace kluis-whole restore2 5)")."
		echo
	fi
	if [ "${#DEPTH_LIST[@]}" -gt 0 ]; then
		echo "## --delta-max-depth (in place, $NIGHTS versions)"
		echo
		echo "| depth | nights 2-$NIGHTS added (MB) | per night (MB) | last version restored identical |"
		echo "|---:|---:|---:|---|"
		for d in "${DEPTH_LIST[@]}"; do
			s=$(sum_added depth "kluis-d$d" 2 "$NIGHTS")
			echo "| $d | $(mb "$s") | $(bm_scale "$s" $((1000000 * (NIGHTS - 1))) 1) | $(verified depth "kluis-d$d") |"
		done
		echo
	fi
	for sc in append insert; do
		echo "## $sc ($ASZ bytes)"
		echo
		echo "| tool | night 1 added (MB) | nights 2-$NIGHTS added (MB) | night $NIGHTS backup (s) | last version restored identical |"
		echo "|---|---:|---:|---:|---|"
		for t in "${TOOL_LIST[@]}"; do
			echo "| $t | $(mb "$(bm_median "$sc" "$t" added1 8)") | $(mb "$(sum_added "$sc" "$t" 2 "$NIGHTS")") | $(bm_median "$sc" "$t" "backup$NIGHTS" 5) | $(verified "$sc" "$t") |"
		done
		echo
	done
} >"$TABLE"
cat "$TABLE"
bm_log "table: $TABLE; raw: $BM_TSV"
