#!/usr/bin/env bash
# bench/run.sh: compare kluis with restic and borg on the same data.
# See bench/README.md.  Measures, never asserts.
#
# usage: bench/run.sh [--quick] [--runs N] [--workdir DIR] [--tools LIST]
#                     [--datasets A,B] [--keep] [--kluis PATH]
#                     [--a-bytes N] [--b-files N] [--no-chunker-bench]
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RUNS=3
QUICK=0
KEEP=0
BM_TOOLS=kluis,restic,borg
DATASETS=A,B
WORKDIR=
KLUIS=
A_BYTES=
B_FILES=
CHUNKER=1
ORIG_ARGS="$*"

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=$2; shift ;;
	--runs=*) RUNS=${1#*=} ;;
	--workdir) WORKDIR=$2; shift ;;
	--workdir=*) WORKDIR=${1#*=} ;;
	--tools) BM_TOOLS=$2; shift ;;
	--tools=*) BM_TOOLS=${1#*=} ;;
	--datasets) DATASETS=$2; shift ;;
	--datasets=*) DATASETS=${1#*=} ;;
	--keep) KEEP=1 ;;
	--kluis) KLUIS=$2; shift ;;
	--a-bytes) A_BYTES=$2; shift ;;
	--b-files) B_FILES=$2; shift ;;
	--no-chunker-bench) CHUNKER=0 ;;
	-h | --help) usage ;;
	*) echo "unknown argument: $1" >&2; usage ;;
	esac
	shift
done

case $RUNS in '' | *[!0-9]* | 0) bm_die "--runs needs a positive integer" ;; esac
if [ "$QUICK" = 1 ]; then
	RUNS=1
	A_BYTES=${A_BYTES:-150000000}
	B_FILES=${B_FILES:-5000}
fi
A_BYTES=${A_BYTES:-1200000000}
B_FILES=${B_FILES:-100000}
B_DIRS=$(( B_FILES >= 100000 ? 1000 : (B_FILES / 100 > 0 ? B_FILES / 100 : 1) ))

STAMP=$(date +%Y%m%d-%H%M%S)
WORKDIR=${WORKDIR:-/var/tmp/kluis-bench}
mkdir -p "$WORKDIR" || bm_die "cannot create $WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
BM_WORK=$WORKDIR/run-$STAMP-$$	# everything temporary lives here
RESULTS=$WORKDIR/results	# kept: TSV and table
mkdir -p "$BM_WORK" "$RESULTS"
BM_TSV=$RESULTS/bench-$STAMP.tsv
TABLE=$RESULTS/bench-$STAMP.md
LOGS=$BM_WORK/logs
mkdir -p "$LOGS"
printf 'dataset\ttool\top\trun\tseconds\tmaxrss_kib\tcpu_s\tbytes\trc\n' >"$BM_TSV"

cleanup() {
	if [ "$KEEP" = 1 ]; then
		bm_log "kept work dir $BM_WORK"
	else
		# only our own subtree of the work dir
		[ -n "$BM_WORK" ] && [ -d "$BM_WORK" ] && rm -rf -- "$BM_WORK"
	fi
}
trap cleanup EXIT
trap 'bm_log interrupted; exit 130' INT TERM

# ---------------------------------------------------------------- tools
bm_ensure_pkg /usr/bin/time time
bm_have_tool restic && bm_ensure_pkg restic restic
bm_have_tool borg && bm_ensure_pkg borg borgbackup
command -v python3 >/dev/null || bm_die "python3 is needed to generate data"

if bm_have_tool kluis; then
	if [ -z "$KLUIS" ]; then
		KLUIS=$ROOT/build-bench/client/kluis
		if [ ! -x "$KLUIS" ]; then
			bm_log "building kluis in $ROOT/build-bench"
			if ! { cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release &&
				cmake --build "$ROOT/build-bench" -j"$(nproc)"; } >"$LOGS/cmake.log" 2>&1; then
				bm_die "kluis build failed; see $LOGS/cmake.log"
			fi
		fi
	fi
	[ -x "$KLUIS" ] || bm_die "no kluis binary at $KLUIS"
fi

KLUIS_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
KLUIS_BUILT=$( [ -n "$KLUIS" ] && date -u -r "$KLUIS" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?')

CAN_DROP=0
if bm_can_drop_caches; then
	CAN_DROP=1
else
	bm_log "cannot drop the page cache (not root?): cold-cache rows are skipped"
fi

PWF=$BM_WORK/password
printf 'kluis-bench-password\n' >"$PWF"
export RESTIC_PASSWORD=kluis-bench-password
export RESTIC_CACHE_DIR=$BM_WORK/cache/restic
export BORG_PASSPHRASE=kluis-bench-password
export BORG_BASE_DIR=$BM_WORK/cache/borg
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=NO
unset KLUIS_REPOSITORY KLUIS_PASSWORD_FILE KLUIS_PASSWORD_COMMAND KLUIS_KEY_FILE \
	RESTIC_REPOSITORY BORG_REPO

PY=$(bm_pyhelper)
BORG_SEQ=0

# tool_init TOOL REPO: a fresh, empty repository (not timed).
tool_init() {
	local tool=$1 repo=$2
	rm -rf -- "$repo"
	case $tool in
	kluis) "$KLUIS" -r "$repo" --password-file "$PWF" init --kdf interactive ;;
	restic) rm -rf -- "$RESTIC_CACHE_DIR"; restic -r "$repo" init ;;
	borg) rm -rf -- "$BORG_BASE_DIR"; borg init -e repokey-blake2 "$repo" ;;
	esac >"$LOGS/init-$tool.log" 2>&1 || bm_die "$tool init failed; see $LOGS/init-$tool.log"
}

# tool_backup DS TOOL OP RUN REPO DATA: one timed backup.
# Compression: kluis default (zstd 3), restic 0.14 repository v2 with
# --compression auto (zstd "default" level of klauspost/compress),
# borg --compression zstd,3.
tool_backup() {
	local ds=$1 tool=$2 op=$3 run=$4 repo=$5 data=$6 log=$LOGS/$1-$2-$3-$4.log
	case $tool in
	kluis)
		bm_measure "$ds" "$tool" "$op" "$run" "$log" \
			"$KLUIS" -r "$repo" --password-file "$PWF" backup "$data" --json ;;
	restic)
		bm_measure "$ds" "$tool" "$op" "$run" "$log" \
			restic -r "$repo" backup --quiet --compression auto "$data" ;;
	borg)
		BORG_SEQ=$((BORG_SEQ + 1))
		bm_measure "$ds" "$tool" "$op" "$run" "$log" \
			borg create --compression zstd,3 "$repo::a$BORG_SEQ" "$data" ;;
	esac
}

# tool_restore DS TOOL RUN REPO TARGET: timed full restore of the latest
# snapshot into the empty directory TARGET.
tool_restore() {
	local ds=$1 tool=$2 run=$3 repo=$4 target=$5 log=$LOGS/$1-$2-restore-$3.log
	rm -rf -- "$target"
	mkdir -p "$target"
	case $tool in
	kluis)
		bm_measure "$ds" "$tool" restore_full "$run" "$log" \
			"$KLUIS" -r "$repo" --password-file "$PWF" restore latest --target "$target" ;;
	restic)
		bm_measure "$ds" "$tool" restore_full "$run" "$log" \
			restic -r "$repo" restore latest --target "$target" ;;
	borg)
		bm_measure "$ds" "$tool" restore_full "$run" "$log" \
			env -C "$target" borg extract "$repo::a$BORG_SEQ" ;;
	esac
}

# ---------------------------------------------------------------- data
declare -A DS_PATH DS_FILES DS_BYTES
prepare_data() {
	local ds=$1 dir
	dir=$BM_WORK/data/$1
	rm -rf -- "$dir"
	mkdir -p "$dir"
	case $ds in
	A)
		bm_log "data set A: copying ~$A_BYTES bytes of /usr into $dir"
		bm_make_dataset_a "$dir" "$A_BYTES" ;;
	B)
		bm_log "data set B: generating $B_FILES small files in $B_DIRS directories"
		python3 "$PY" gen-b "$dir" "$B_FILES" "$B_DIRS" || bm_die "generating B failed" ;;
	*) bm_die "unknown data set $ds" ;;
	esac
	sync
	DS_PATH[$ds]=$dir
	DS_FILES[$ds]=$(find "$dir" -type f | wc -l)
	DS_BYTES[$ds]=$(find "$dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	bm_log "data set $ds: ${DS_FILES[$ds]} files, ${DS_BYTES[$ds]} bytes"
}

# ---------------------------------------------------------------- runs
IFS=, read -r -a TOOL_LIST <<<"$BM_TOOLS"
for t in "${TOOL_LIST[@]}"; do
	case $t in kluis | restic | borg) ;; *) bm_die "unknown tool $t" ;; esac
done
IFS=, read -r -a DS_LIST <<<"$DATASETS"

run_dataset() {
	local ds=$1 data run i n tool repo target nchg nfiles
	data=${DS_PATH[$ds]}
	n=${#TOOL_LIST[@]}
	for ((run = 1; run <= RUNS; run++)); do
		bm_log "=== data set $ds, run $run/$RUNS"
		# the I/O floor: cat of every file, cold and warm
		if [ "$CAN_DROP" = 1 ]; then
			bm_drop_caches
			bm_measure "$ds" cat cat_cold "$run" "$LOGS/$ds-cat-cold-$run.log" \
				bash -c 'find "$1" -type f -print0 | xargs -0 cat >/dev/null' _ "$data"
		fi
		bm_cat_tree "$data"
		bm_measure "$ds" cat cat_warm "$run" "$LOGS/$ds-cat-warm-$run.log" \
			bash -c 'find "$1" -type f -print0 | xargs -0 cat >/dev/null' _ "$data"

		# rotate the tool order between runs so no tool always goes first
		for ((i = 0; i < n; i++)); do
			tool=${TOOL_LIST[$(((i + run - 1) % n))]}
			repo=$BM_WORK/repo-$tool
			target=$BM_WORK/restore-$tool

			# first backup, warm cache, fresh repository
			tool_init "$tool" "$repo"
			bm_cat_tree "$data"
			tool_backup "$ds" "$tool" backup_first_warm "$run" "$repo" "$data"
			bm_record_size "$ds" "$tool" repo_size_first "$run" "$repo"

			# first backup, cold cache, fresh repository
			if [ "$CAN_DROP" = 1 ]; then
				tool_init "$tool" "$repo"
				bm_drop_caches
				tool_backup "$ds" "$tool" backup_first_cold "$run" "$repo" "$data"
			fi

			# unchanged re-backup (warm)
			bm_cat_tree "$data"
			tool_backup "$ds" "$tool" backup_unchanged "$run" "$repo" "$data"

			# ~1 % of the files changed, then put the originals back
			nchg=$(python3 "$PY" modify "$data" "$BM_WORK/orig") || bm_die "modify failed"
			tool_backup "$ds" "$tool" backup_changed_1pct "$run" "$repo" "$data"
			python3 "$PY" revert "$BM_WORK/orig" || bm_die "revert failed"
			[ "$run" = 1 ] && bm_log "$ds: $nchg files changed for the 1 % step"
			bm_record_size "$ds" "$tool" repo_size_final "$run" "$repo"

			# full restore into an empty directory (repository warm)
			bm_cat_tree "$repo"
			tool_restore "$ds" "$tool" "$run" "$repo" "$target"
			nfiles=$(find "$target" -type f | wc -l)
			if [ "$nfiles" != "${DS_FILES[$ds]}" ]; then
				bm_log "WARNING: $tool restored $nfiles files, expected ${DS_FILES[$ds]}"
			fi
			rm -rf -- "$target" "$repo"
		done
	done
}

# ---------------------------------------------------------------- report
row() {	# row LABEL OP COLUMN DIVISOR DECIMALS FLOOR_OP
	local label=$1 op=$2 col=$3 div=$4 dec=$5 floor_op=${6:-} ds=$CUR_DS
	local k r b f line
	k=$(bm_median "$ds" kluis "$op" "$col")
	r=$(bm_median "$ds" restic "$op" "$col")
	b=$(bm_median "$ds" borg "$op" "$col")
	line="| $label"
	for t in kluis restic borg; do
		bm_have_tool "$t" || continue
		case $t in kluis) v=$k ;; restic) v=$r ;; borg) v=$b ;; esac
		line+=" | $(bm_scale "$v" "$div" "$dec")"
	done
	bm_have_tool kluis && bm_have_tool restic && line+=" | $(bm_ratio "$k" "$r")"
	bm_have_tool kluis && bm_have_tool borg && line+=" | $(bm_ratio "$k" "$b")"
	if [ -n "$floor_op" ]; then
		f=$(bm_median "$ds" cat "$floor_op" "$col")
		line+=" | $(bm_scale "$f" "$div" "$dec")"
		bm_have_tool kluis && line+=" | $(bm_ratio "$k" "$f")"
	else
		line+=" | |"
		bm_have_tool kluis || line=${line% |}
	fi
	printf '%s |\n' "$line"
}

report() {
	local ds hdr sep
	{
		echo "# kluis benchmark $STAMP"
		echo
		echo "- command: \`bench/run.sh $ORIG_ARGS\`"
		echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
		bm_have_tool kluis && echo "- kluis: $KLUIS, built $KLUIS_BUILT; work tree HEAD at start $KLUIS_REV"
		bm_have_tool restic && echo "- $(restic version 2>/dev/null | head -n1), repository v2, --compression auto"
		bm_have_tool borg && echo "- $(borg --version 2>/dev/null), repokey-blake2, --compression zstd,3"
		echo "- runs: $RUNS per measurement, medians shown; raw numbers: $BM_TSV"
		for ds in "${DS_LIST[@]}"; do
			CUR_DS=$ds
			echo
			echo "## Data set $ds: ${DS_FILES[$ds]} files, $(bm_scale "${DS_BYTES[$ds]}" 1000000 0) MB"
			echo
			hdr="| operation"
			sep="|---"
			for t in kluis restic borg; do
				bm_have_tool "$t" && { hdr+=" | $t"; sep+="|---:"; }
			done
			bm_have_tool kluis && bm_have_tool restic && { hdr+=" | kluis/restic"; sep+="|---:"; }
			bm_have_tool kluis && bm_have_tool borg && { hdr+=" | kluis/borg"; sep+="|---:"; }
			hdr+=" | cat floor"; sep+="|---:"
			bm_have_tool kluis && { hdr+=" | kluis/floor"; sep+="|---:"; }
			echo "$hdr |"
			echo "$sep|"
			row "first backup, warm cache (s)" backup_first_warm 5 1 2 cat_warm
			[ "$CAN_DROP" = 1 ] && row "first backup, cold cache (s)" backup_first_cold 5 1 2 cat_cold
			row "re-backup, unchanged (s)" backup_unchanged 5 1 2
			row "backup after ~1 % changed (s)" backup_changed_1pct 5 1 2
			row "full restore, warm (s)" restore_full 5 1 2
			row "repository size after 1st backup (MB)" repo_size_first 8 1000000 1
			row "repository size after 3 backups (MB)" repo_size_final 8 1000000 1
			row "peak RSS, first backup (MiB)" backup_first_warm 6 1024 1
			row "peak RSS, unchanged re-backup (MiB)" backup_unchanged 6 1024 1
			row "peak RSS, restore (MiB)" restore_full 6 1024 1
			row "CPU user+sys, first backup (s)" backup_first_warm 7 1 2
		done
		if [ -n "${CHUNKER_OUT:-}" ]; then
			echo
			echo "## chunker_bench"
			echo
			echo '```'
			printf '%s\n' "$CHUNKER_OUT"
			echo '```'
		fi
	} >"$TABLE"
	cat "$TABLE"
}

T_START=$(bm_now)
bm_log "work dir $BM_WORK, results in $RESULTS"
for ds in "${DS_LIST[@]}"; do
	prepare_data "$ds"
done
for ds in "${DS_LIST[@]}"; do
	run_dataset "$ds"
done

CHUNKER_OUT=
if [ "$CHUNKER" = 1 ] && bm_have_tool kluis; then
	CB=$(dirname "$(dirname "$KLUIS")")/bench/chunker_bench
	if [ -x "$CB" ]; then
		bm_log "running $CB"
		CHUNKER_OUT=$(timeout 600 "$CB" 2>&1) || bm_log "chunker_bench failed"
	fi
fi

bm_log "finished in $(bm_sub "$(bm_now)" "$T_START") s"
report
