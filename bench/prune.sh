#!/usr/bin/env bash
# bench/prune.sh: kluis forget --prune beside restic forget --prune on the
# same data, in the same run (issue #11).  See bench/README.md.  Measures,
# never asserts.
#
# usage: bench/prune.sh [--quick] [--runs N] [--a-bytes N] [--nights N]
#                       [--keep-last N] [--tools LIST] [--workdir DIR]
#                       [--kluis PATH] [--phases] [--no-check] [--keep]
#
# Once per tool: data set A (bench/lib.sh) backed up NIGHTS times (30),
# ~1 % of its bytes rewritten with new random content before every backup
# after the first; both tools back up the same 30 states.  Then, RUNS times
# (tool order rotated), on a fresh copy (cp -a) of that repository and of
# the tool's cache: forget --keep-last 7 --prune, timed (wall, CPU, peak
# RSS), repository size before and after.  --phases: also, on another
# fresh copy per run, forget alone, then prune --dry-run (reads and plans),
# then prune alone, each timed.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RUNS=3
QUICK=0
KEEP=0
CHECK=1
PHASES=0
NIGHTS=30
KEEP_LAST=7
A_BYTES=
BM_TOOLS=kluis,restic
WORKDIR=
KLUIS=
ORIG_ARGS="$*"

usage() {
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

posint() {	# posint NAME VALUE
	case $2 in '' | *[!0-9]* | 0) bm_die "$1 needs a positive integer" ;; esac
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=$2; shift ;;
	--a-bytes) A_BYTES=$2; shift ;;
	--nights) NIGHTS=$2; shift ;;
	--keep-last) KEEP_LAST=$2; shift ;;
	--tools) BM_TOOLS=$2; shift ;;
	--workdir) WORKDIR=$2; shift ;;
	--kluis) KLUIS=$2; shift ;;
	--no-check) CHECK=0 ;;
	--phases) PHASES=1 ;;
	--keep) KEEP=1 ;;
	-h | --help) usage ;;
	*) echo "unknown argument: $1" >&2; usage ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	RUNS=1
	A_BYTES=${A_BYTES:-150000000}
fi
A_BYTES=${A_BYTES:-1200000000}
posint --runs "$RUNS"
posint --a-bytes "$A_BYTES"
posint --nights "$NIGHTS"
posint --keep-last "$KEEP_LAST"
IFS=, read -r -a TOOL_LIST <<<"$BM_TOOLS"
for t in "${TOOL_LIST[@]}"; do
	case $t in kluis | restic) ;; *) bm_die "unknown tool $t (kluis, restic)" ;; esac
done

bm_workdir prune /var/tmp/kluis-bench-prune

# ---------------------------------------------------------------- tools
bm_ensure_pkg /usr/bin/time time
bm_have_tool restic && bm_ensure_pkg restic restic
command -v python3 >/dev/null || bm_die "python3 is needed for the nightly changes"
if bm_have_tool kluis; then
	bm_kluis_build
fi
KLUIS_REV=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo '?')
KLUIS_DIRTY=$(git -C "$ROOT" status --short 2>/dev/null | wc -l)
KLUIS_BUILT=$( [ -n "$KLUIS" ] && date -u -r "$KLUIS" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?')

CAN_DROP=0
bm_can_drop_caches && CAN_DROP=1

PWF=$BM_WORK/password
printf 'kluis-bench-password\n' >"$PWF"
export RESTIC_PASSWORD=kluis-bench-password
unset KLUIS_REPOSITORY KLUIS_PASSWORD_FILE KLUIS_PASSWORD_COMMAND KLUIS_KEY_FILE \
	KLUIS_CACHE_DIR RESTIC_REPOSITORY RESTIC_CACHE_DIR

# Per tool: the 30-snapshot repository and cache made once (master), and the
# working copies every run prunes, always at the same paths (kluis names
# its catalog by repository id, restic its cache too; the paths stay put so
# nothing else differs between runs).
master_repo() { printf '%s\n' "$BM_WORK/master/$1/repo"; }
master_cache() { printf '%s\n' "$BM_WORK/master/$1/cache"; }
work_repo() { printf '%s\n' "$BM_WORK/work/$1/repo"; }
work_cache() { printf '%s\n' "$BM_WORK/work/$1/cache"; }

# tool_argv TOOL REPO CACHE: sets TA to the program, its environment and
# repository options (an array: /usr/bin/time must run the program itself).
tool_argv() {
	case $1 in
	kluis) TA=(env "KLUIS_CACHE_DIR=$3" "$KLUIS" -r "$2" --password-file "$PWF") ;;
	restic) TA=(env "RESTIC_CACHE_DIR=$3" restic -r "$2") ;;
	esac
}

# ---------------------------------------------------------------- data
# The nightly change: whole files, chosen at random (seeded by the night),
# rewritten with new random bytes of the same size until ~1 % of the data
# set's bytes have changed.  Files that would overshoot 1.5 % are passed
# over, so one large file cannot make a night much bigger than the others.
PY=$BM_WORK/nightly.py
cat >"$PY" <<'PY'
import os
import random
import sys

root, night = sys.argv[1], int(sys.argv[2])
files = []
for dp, dn, fn in os.walk(root):
    dn.sort()
    for f in sorted(fn):
        p = os.path.join(dp, f)
        if os.path.isfile(p) and not os.path.islink(p):
            files.append((p, os.path.getsize(p)))
total = sum(s for _, s in files)
target, cap = total // 100, total * 15 // 1000
rng = random.Random(1100 + night)
rng.shuffle(files)
done = n = 0
for p, s in files:
    if done >= target:
        break
    if s == 0 or done + s > cap:
        continue
    with open(p, "r+b") as fh:
        fh.write(rng.randbytes(s))
    done += s
    n += 1
print(n, done)
PY

DATA=$BM_WORK/data/A
bm_log "work dir $BM_WORK, results in $RESULTS"
bm_log "data set A: copying ~$A_BYTES bytes of /usr into $DATA"
mkdir -p "$DATA"
bm_make_dataset_a "$DATA" "$A_BYTES"
sync
DS_FILES=$(find "$DATA" -type f | wc -l)
DS_BYTES=$(find "$DATA" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
bm_log "data set A: $DS_FILES files, $DS_BYTES bytes"

# ---------------------------------------------------------------- nights
T_START=$(bm_now)
for t in "${TOOL_LIST[@]}"; do
	mkdir -p "$(master_cache "$t")"
	tool_argv "$t" "$(master_repo "$t")" "$(master_cache "$t")"
	case $t in
	kluis) "${TA[@]}" init --kdf interactive ;;
	restic) "${TA[@]}" init ;;
	esac >"$LOGS/init-$t.log" 2>&1 || bm_die "$t init failed; see $LOGS/init-$t.log"
done
CHG_FILES=0
CHG_BYTES=0
for ((night = 1; night <= NIGHTS; night++)); do
	if [ "$night" -gt 1 ]; then
		read -r nf nb < <(python3 "$PY" "$DATA" "$night") || bm_die "nightly change failed"
		CHG_FILES=$((CHG_FILES + nf))
		CHG_BYTES=$((CHG_BYTES + nb))
		bm_record A data changed "$night" NA NA NA "$nb" 0
	fi
	for t in "${TOOL_LIST[@]}"; do
		tool_argv "$t" "$(master_repo "$t")" "$(master_cache "$t")"
		case $t in
		kluis) set -- "${TA[@]}" backup "$DATA" --json ;;
		restic) set -- "${TA[@]}" backup --quiet --compression auto "$DATA" ;;
		esac
		bm_measure A "$t" backup "$night" "$LOGS/backup-$t-$night.log" "$@" ||
			bm_die "$t backup of night $night failed"
	done
done
T_NIGHTS=$(bm_sub "$(bm_now)" "$T_START")
bm_log "$NIGHTS nights backed up in $T_NIGHTS s; per night ~$((CHG_FILES / (NIGHTS > 1 ? NIGHTS - 1 : 1))) files, ~$((CHG_BYTES / (NIGHTS > 1 ? NIGHTS - 1 : 1))) bytes changed"

# The ids the keep-last policy should keep: the last KEEP_LAST backups.
declare -A EXPECT
for t in "${TOOL_LIST[@]}"; do
	EXPECT[$t]=$(for ((night = NIGHTS - KEEP_LAST + 1; night <= NIGHTS; night++)); do
		[ "$night" -ge 1 ] || continue
		case $t in
		kluis) sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' "$LOGS/backup-$t-$night.log" ;;
		restic) tool_argv "$t" "$(master_repo "$t")" "$(master_cache "$t")"
			"${TA[@]}" snapshots --json 2>/dev/null | python3 -c '
import json, sys
s = sorted(json.load(sys.stdin), key=lambda x: x["time"])
print(s[int(sys.argv[1]) - 1]["id"])' "$night" ;;
		esac
	done | sort | tr '\n' ' ')
done

# kept_ids TOOL: the ids of the snapshots left in the working copy, sorted.
kept_ids() {
	tool_argv "$1" "$(work_repo "$1")" "$(work_cache "$1")"
	case $1 in
	kluis) "${TA[@]}" --json snapshots ;;
	restic) "${TA[@]}" snapshots --json ;;
	esac 2>/dev/null | python3 -c '
import json, sys
print(" ".join(sorted(s["id"] for s in json.load(sys.stdin))))' | tr '\n' ' '
}

# fresh_copy TOOL: a fresh copy of TOOL's master repository and cache at
# the working paths; nothing dirty in the page cache, then repository and
# cache read once (warm, as run.sh's restore and check rows).
fresh_copy() {
	local wr wc
	wr=$(work_repo "$1")
	wc=$(work_cache "$1")
	rm -rf -- "$BM_WORK/work/$1"
	mkdir -p "$BM_WORK/work/$1"
	cp -a "$(master_repo "$1")" "$wr" || bm_die "cp -a of the $1 repository failed"
	cp -a "$(master_cache "$1")" "$wc" || bm_die "cp -a of the $1 cache failed"
	if [ "$CAN_DROP" = 1 ]; then bm_drop_caches; else sync; fi
	bm_cat_tree "$wr"
	bm_cat_tree "$wc"
}

# phases TOOL RUN: forget alone, prune --dry-run, prune alone, on a fresh copy.
phases() {
	local t=$1 run=$2 TA
	fresh_copy "$t"
	tool_argv "$t" "$(work_repo "$t")" "$(work_cache "$t")"
	bm_measure A "$t" forget_only "$run" "$LOGS/forget-$t-$run.log" \
		"${TA[@]}" forget --keep-last "$KEEP_LAST" || return
	bm_measure A "$t" prune_dry "$run" "$LOGS/prune-dry-$t-$run.log" \
		"${TA[@]}" prune --dry-run || return
	bm_measure A "$t" prune_only "$run" "$LOGS/prune-only-$t-$run.log" \
		"${TA[@]}" prune
	[ "$KEEP" = 1 ] || rm -rf -- "$BM_WORK/work/$t"
}

# ---------------------------------------------------------------- runs
declare -A KJSON RSTAT SNAPS_OK CHECK_RC
n=${#TOOL_LIST[@]}
for ((run = 1; run <= RUNS; run++)); do
	bm_log "=== run $run/$RUNS"
	for ((i = 0; i < n; i++)); do
		t=${TOOL_LIST[$(((i + run - 1) % n))]}
		wr=$(work_repo "$t")
		fresh_copy "$t"
		bm_record_size A "$t" repo_before "$run" "$wr"
		tool_argv "$t" "$wr" "$(work_cache "$t")"
		log=$LOGS/prune-$t-$run.log
		case $t in
		kluis) set -- "${TA[@]}" --json forget --keep-last "$KEEP_LAST" --prune ;;
		restic) set -- "${TA[@]}" forget --keep-last "$KEEP_LAST" --prune ;;
		esac
		bm_measure A "$t" forget_prune "$run" "$log" "$@"
		rc=$BM_RC
		bm_record_size A "$t" repo_after "$run" "$wr"
		if [ "$t" = kluis ]; then
			# forget's JSON object with prune's inside ("prune": null if it failed)
			KJSON[$run]=$(python3 -c '
import json, sys
txt = open(sys.argv[1]).read()
i = txt.find("{")
try:
    o = json.JSONDecoder().raw_decode(txt[i:])[0] if i >= 0 else {}
except ValueError:
    o = {}
p = o.get("prune") or {}
print(" ".join("%s=%s" % (k, p.get(k, "NA")) for k in ("packs", "bytes",
      "packs_unused", "bytes_unused", "packs_repacked", "bytes_repacked",
      "blobs_copied", "bytes_copied", "packs_written", "bytes_written",
      "packs_kept", "bytes_kept", "unused_kept", "index_deleted", "removed",
      "remove_failed")))' "$log")
			bm_log "kluis prune run $run: ${KJSON[$run]}"
		elif [ "$run" = 1 ]; then
			RSTAT[1]=$(grep -E '^(to repack|this removes|to delete|total prune|remaining|unused size after prune|repacking packs|rebuilding index|deleting obsolete)' "$log" | sed 's/^/    /')
		fi
		# sanity, not timed: the snapshots kept are the last KEEP_LAST
		# backups, and (last run) the tool's own structure check passes
		if [ "$rc" = 0 ]; then
			[ "$(kept_ids "$t")" = "${EXPECT[$t]}" ] && SNAPS_OK[$t,$run]=yes || SNAPS_OK[$t,$run]=NO
			[ "${SNAPS_OK[$t,$run]}" = yes ] || bm_log "WARNING: $t kept other snapshots than the last $KEEP_LAST"
			if [ "$CHECK" = 1 ] && [ "$run" = "$RUNS" ]; then
				"${TA[@]}" check >"$LOGS/check-$t.log" 2>&1
				CHECK_RC[$t]=$?
				bm_log "$t check after prune: rc ${CHECK_RC[$t]}"
			fi
		fi
		[ "$KEEP" = 1 ] || rm -rf -- "$BM_WORK/work/$t"
		[ "$PHASES" = 1 ] && phases "$t" "$run"
	done
done
bm_log "finished in $(bm_sub "$(bm_now)" "$T_START") s (after the data copy)"

# ---------------------------------------------------------------- report
row() {	# row LABEL OP COLUMN DIVISOR DECIMALS
	local line k r
	k=$(bm_median A kluis "$2" "$3")
	r=$(bm_median A restic "$2" "$3")
	line="| $1"
	bm_have_tool kluis && line+=" | $(bm_scale "$k" "$4" "$5")"
	bm_have_tool restic && line+=" | $(bm_scale "$r" "$4" "$5")"
	bm_have_tool kluis && bm_have_tool restic && line+=" | $(bm_ratio "$k" "$r")"
	printf '%s |\n' "$line"
}

# freed TOOL: median over the runs of (before - after), bytes.
freed() {
	awk -F'\t' -v t="$1" '$2 == t && $3 == "repo_before" { b[$4] = $8 }
		$2 == t && $3 == "repo_after" && $8 != "NA" { print b[$4] - $8 }' "$BM_TSV" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A v
{
	echo "# kluis prune benchmark $STAMP"
	echo
	echo "- command: \`bench/prune.sh $ORIG_ARGS\`"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	bm_have_tool kluis && echo "- kluis: $KLUIS, built $KLUIS_BUILT; work tree HEAD $KLUIS_REV, \`git status --short\` lines: $KLUIS_DIRTY"
	bm_have_tool restic && echo "- $(restic version 2>/dev/null | head -n1), repository v2, backup --compression auto"
	echo "- data set A: $DS_FILES files, $(bm_scale "$DS_BYTES" 1000000 0) MB; $NIGHTS backups, before each after the first"
	echo "  ~1 % of the bytes rewritten with random data (mean per night: $(bm_scale "$CHG_FILES" $((NIGHTS > 1 ? NIGHTS - 1 : 1)) 0) files,"
	echo "  $(bm_scale "$CHG_BYTES" $((NIGHTS > 1 ? NIGHTS - 1 : 1))000000 1) MB); the $NIGHTS backups took $T_NIGHTS s for all tools together"
	echo "- timed: \`forget --keep-last $KEEP_LAST --prune\` (default --max-unused 5 % for both; kluis per pack, restic of the"
	echo "  whole repository) on a fresh \`cp -a\` of the repository and of the tool's cache, page cache dropped"
	echo "  and the copy read once (warm); $RUNS run(s), medians, tool order rotated; raw numbers: $BM_TSV"
	echo
	hdr="| forget --keep-last $KEEP_LAST --prune"; sep="|---"
	bm_have_tool kluis && { hdr+=" | kluis"; sep+="|---:"; }
	bm_have_tool restic && { hdr+=" | restic"; sep+="|---:"; }
	bm_have_tool kluis && bm_have_tool restic && { hdr+=" | kluis/restic"; sep+="|---:"; }
	echo "$hdr |"
	echo "$sep|"
	row "wall time (s)" forget_prune 5 1 2
	row "CPU user+sys (s)" forget_prune 7 1 2
	row "peak RSS (MiB)" forget_prune 6 1024 1
	row "repository before (MB)" repo_before 8 1000000 1
	row "repository after (MB)" repo_after 8 1000000 1
	line="| space given back (MB)"
	for t in kluis restic; do
		bm_have_tool "$t" || continue
		v[$t]=$(freed "$t")
		line+=" | $(bm_scale "${v[$t]}" 1000000 1)"
	done
	bm_have_tool kluis && bm_have_tool restic && line+=" | $(bm_ratio "${v[kluis]}" "${v[restic]}")"
	echo "$line |"
	if [ "$PHASES" = 1 ]; then
		row "phases: forget alone (s)" forget_only 5 1 2
		row "phases: prune --dry-run (s)" prune_dry 5 1 2
		row "phases: prune alone (s)" prune_only 5 1 2
		row "phases: prune alone, CPU (s)" prune_only 7 1 2
		row "phases: prune --dry-run, peak RSS (MiB)" prune_dry 6 1024 1
		row "phases: prune alone, peak RSS (MiB)" prune_only 6 1024 1
	fi
	row "one nightly backup, median of $NIGHTS (s, context)" backup 5 1 2
	line="| runs ok"
	for t in kluis restic; do
		bm_have_tool "$t" && line+=" | $(bm_count A "$t" forget_prune)/$RUNS"
	done
	bm_have_tool kluis && bm_have_tool restic && line+=" | "
	echo "$line |"
	echo
	for t in "${TOOL_LIST[@]}"; do
		s=
		for ((run = 1; run <= RUNS; run++)); do s+=" ${SNAPS_OK[$t,$run]:-not checked}"; done
		echo "- $t: kept snapshots = the last $KEEP_LAST backups, per run:$s;" \
			"\`$t check\` after the last run: $( [ "$CHECK" = 1 ] && { [ -n "${CHECK_RC[$t]:-}" ] && echo "rc ${CHECK_RC[$t]}" || echo "not run (prune failed)"; } || echo skipped)"
	done
	if bm_have_tool kluis; then
		echo
		echo "kluis prune's JSON (per run):"
		echo
		for ((run = 1; run <= RUNS; run++)); do
			echo "    run $run: ${KJSON[$run]:-none}"
		done
	fi
	if bm_have_tool restic && [ -n "${RSTAT[1]:-}" ]; then
		echo
		echo "restic's prune summary (run 1):"
		echo
		printf '%s\n' "${RSTAT[1]}"
	fi
} >"$TABLE"
cat "$TABLE"
