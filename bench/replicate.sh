#!/usr/bin/env bash
# bench/replicate.sh: kluis-server replicate beside rsync -a, over the same
# sshd on 127.0.0.1 (issue #15).  See bench/README.md.  Measures, never asserts.
#
# usage: bench/replicate.sh [--quick] [--runs N] [--workdir DIR] [--keep]
#                           [--a-bytes N] [--tools LIST] [--local]
#                           [--kluis PATH] [--kluis-server PATH] [--repo DIR]
#                           [--pin]
# Data set A is backed up once with kluis (as bench/run.sh does); then, RUNS
# times (tool order rotated), that repository is copied into an empty
# directory by each tool, a timed `sync` follows, then the same copy again
# with nothing to send.  --tools: any of kluis (built-in libssh2),
# kluis-openssh (--ssh-command, the OpenSSH client) and rsync (default all
# three), kluis-local and rsync-local (the same without SSH, into a local
# directory: what SSH costs; --local adds both).  --repo DIR: copy this
# existing kluis repository instead (it is only read; replicate appends to
# its audit.log and writes its replication/ state).  --pin: the receiving
# side (sshd and all it starts: serve --replica, rsync --server) on CPU 1, the
# sending side (replicate or rsync, with its ssh client) on CPU 0 (taskset):
# the two repository servers as two machines; needs 2 or more CPUs.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RUNS=3
QUICK=0
KEEP=0
A_BYTES=
BM_TOOLS=kluis,kluis-openssh,rsync
WORKDIR=
KLUIS=
KLUIS_SERVER=
SRC_REPO=
LOCAL=0
PIN=0
ORIG_ARGS="$*"

usage() {
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

posint() {	# posint NAME VALUE
	case $2 in '' | *[!0-9]* | 0) bm_die "$1 needs a positive integer" ;; esac
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=$2; shift ;;
	--runs=*) RUNS=${1#*=} ;;
	--a-bytes) A_BYTES=$2; shift ;;
	--tools) BM_TOOLS=$2; shift ;;
	--tools=*) BM_TOOLS=${1#*=} ;;
	--workdir) WORKDIR=$2; shift ;;
	--workdir=*) WORKDIR=${1#*=} ;;
	--kluis) KLUIS=$2; shift ;;
	--kluis-server) KLUIS_SERVER=$2; shift ;;
	--repo) SRC_REPO=$2; shift ;;
	--local) LOCAL=1 ;;
	--pin) PIN=1 ;;
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
[ "$LOCAL" = 1 ] && BM_TOOLS+=,kluis-local,rsync-local
IFS=, read -r -a TOOL_LIST <<<"$BM_TOOLS"
for t in "${TOOL_LIST[@]}"; do
	case $t in kluis | kluis-openssh | rsync | kluis-local | rsync-local) ;;
	*) bm_die "unknown tool $t (kluis, kluis-openssh, rsync, kluis-local, rsync-local)" ;;
	esac
done
if [ -n "$SRC_REPO" ]; then
	[ -f "$SRC_REPO/config" ] || bm_die "--repo $SRC_REPO: not a kluis repository"
	SRC_REPO=$(cd "$SRC_REPO" && pwd)
fi
[ "$(id -u)" = 0 ] || bm_die "replicate.sh runs its own sshd and needs root"
if [ "$PIN" = 1 ]; then
	command -v taskset >/dev/null || bm_die "--pin needs taskset (util-linux)"
	[ "$(nproc)" -ge 2 ] || bm_die "--pin needs 2 or more CPUs (nproc: $(nproc))"
fi

BM_AT_EXIT=bm_sshd_stop
bm_workdir replicate /var/tmp/kluis-bench-replicate

# ---------------------------------------------------------------- tools
bm_ensure_pkg /usr/bin/time time
{ bm_have_tool rsync || bm_have_tool rsync-local; } && bm_ensure_pkg rsync rsync
command -v python3 >/dev/null || bm_die "python3 is needed (free port for sshd)"
bm_kluis_build
KLUIS_SERVER=${KLUIS_SERVER:-$(dirname "$(dirname "$KLUIS")")/repo-server/kluis-server}
[ -x "$KLUIS_SERVER" ] || bm_die "no kluis-server binary at $KLUIS_SERVER (--kluis-server)"
KLUIS_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
KLUIS_DIRTY=$(git -C "$ROOT" status --short 2>/dev/null | wc -l)
KLUIS_BUILT=$(date -u -r "$KLUIS_SERVER" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?')

# The paths go into authorized_keys' forced commands: keep them plain.
for p in "$BM_WORK" "$KLUIS_SERVER" "${SRC_REPO:-/}"; do
	case $p in *[[:space:]\"\'\\\$]*) bm_die "path with spaces or quotes: $p" ;; esac
done

PWF=$BM_WORK/password
printf 'kluis-bench-password\n' >"$PWF"
export KLUIS_CACHE_DIR=$BM_WORK/cache/kluis
unset KLUIS_REPOSITORY KLUIS_PASSWORD_FILE KLUIS_PASSWORD_COMMAND KLUIS_KEY_FILE

# ---------------------------------------------------------------- source
T_START=$(bm_now)
if [ -z "$SRC_REPO" ]; then
	DATA=$BM_WORK/data/A
	SRC_REPO=$BM_WORK/repo
	bm_log "data set A: copying ~$A_BYTES bytes of /usr into $DATA"
	mkdir -p "$DATA"
	bm_make_dataset_a "$DATA" "$A_BYTES"
	DS_FILES=$(find "$DATA" -type f | wc -l)
	DS_BYTES=$(find "$DATA" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	bm_log "data set A: $DS_FILES files, $DS_BYTES bytes; backing it up"
	{ "$KLUIS" -r "$SRC_REPO" --password-file "$PWF" init --kdf interactive &&
		"$KLUIS" -r "$SRC_REPO" --password-file "$PWF" backup "$DATA" --json; } \
		>"$LOGS/source.log" 2>&1 || bm_die "kluis init/backup failed; see $LOGS/source.log"
	# only the repository is copied from here on
	[ "$KEEP" = 1 ] || rm -rf -- "$DATA"
	SRC_DESC="data set A ($DS_FILES files, $(bm_scale "$DS_BYTES" 1000000 0) MB of /usr) backed up once by \`kluis backup\` (init --kdf interactive, defaults)"
else
	SRC_DESC="the existing repository $SRC_REPO (--repo)"
fi

# repo_list DIR: "path size" of every repository file, sorted; without what
# is each server's own (audit.log, locks/, replication/, .tmp-*).
repo_list() {
	(cd "$1" && find . -type f ! -name 'audit.log*' ! -name '.tmp-*' \
		! -path './locks/*' ! -path './replication/*' -printf '%P %s\n' |
		LC_ALL=C sort)
}
SRC_FILES=$(repo_list "$SRC_REPO" | wc -l)
SRC_BYTES=$(repo_list "$SRC_REPO" | awk '{ s += $2 } END { print s + 0 }')
bm_log "repository $SRC_REPO: $SRC_FILES files, $SRC_BYTES bytes"

# ---------------------------------------------------------------- sshd
# lib.sh's private sshd; its authorized_keys is then replaced by two keys:
#   KEY_K  (kluis): forced `kluis-server serve --replica --repo COPY_K`
#   BM_SSH_KEY (rsync): forced only to run the client's own command
#          ($SSH_ORIGINAL_COMMAND, rsync --server) through the shell, as
#          without a forced command
# Both programs run under GNU time (-o ACCT/NAME), so the server side's CPU
# splits into the program's and sshd's.  `restrict` for both.
COPY_K=$BM_WORK/copy-kluis
COPY_R=$BM_WORK/copy-rsync
bm_sshd_start
# --pin: the listener on CPU 1; every connection's sshd, shell and program
# inherit it (the clients go on CPU 0 in rmeasure)
if [ "$PIN" = 1 ]; then
	taskset -a -p -c 1 "$BM_SSHD_PID" >/dev/null || bm_die "cannot pin sshd to CPU 1"
fi
ACCT=$BM_SSHD_DIR/acct
mkdir -m 700 "$ACCT"
KEY_K=$BM_SSHD_DIR/replica_ed25519
ssh-keygen -q -t ed25519 -N '' -C kluis-bench-replica -f "$KEY_K" </dev/null >/dev/null 2>&1 ||
	bm_die "ssh-keygen failed"
cat >"$BM_SSHD_DIR/authorized_keys" <<EOF
command="/usr/bin/time -f '%U %S %M' -o $ACCT/kluis $KLUIS_SERVER serve --replica --repo $COPY_K",restrict $(cut -d' ' -f1,2 "$KEY_K.pub") kluis-bench-replica
command="/usr/bin/time -f '%U %S %M' -o $ACCT/rsync /bin/sh -c \\"\$SSH_ORIGINAL_COMMAND\\"",restrict $(cut -d' ' -f1,2 "$BM_SSH_KEY.pub") kluis-bench-rsync
EOF
# One OpenSSH command line for both: rsync -e adds port and key, kluis
# --ssh-command gets them from the URL, --ssh-key and --ssh-known-hosts.
SSH_BASE="ssh -F /dev/null -T -x -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes"
SSH_BASE+=" -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR"
RSYNC_E="$SSH_BASE -p $BM_SSH_PORT -i $BM_SSH_KEY -o UserKnownHostsFile=$BM_SSH_KH"
TO_URL=ssh://root@127.0.0.1:$BM_SSH_PORT$COPY_K

# tool_argv TOOL: sets TA to TOOL's copy command (an array: /usr/bin/time
# must run the program itself).
tool_argv() {
	case $1 in
	kluis) TA=("$KLUIS_SERVER" replicate --repo "$SRC_REPO" --to "$TO_URL" --json
		--ssh-key "$KEY_K" --ssh-known-hosts "$BM_SSH_KH") ;;
	kluis-openssh) TA=("$KLUIS_SERVER" replicate --repo "$SRC_REPO" --to "$TO_URL" --json
		--ssh-key "$KEY_K" --ssh-known-hosts "$BM_SSH_KH" --ssh-command "$SSH_BASE") ;;
	rsync) TA=(rsync -a -e "$RSYNC_E" "$SRC_REPO/" "root@127.0.0.1:$COPY_R/") ;;
	# --local: no SSH (kluis serves the directory itself over a pipe)
	kluis-local) TA=("$KLUIS_SERVER" replicate --repo "$SRC_REPO" --to "$(tool_copy "$1")" --json) ;;
	rsync-local) TA=(rsync -a "$SRC_REPO/" "$(tool_copy "$1")/") ;;
	esac
}
tool_copy() { case $1 in rsync) echo "$COPY_R" ;; *-local) echo "$BM_WORK/copy-$1" ;; *) echo "$COPY_K" ;; esac; }
tool_acct() { case $1 in rsync) echo "$ACCT/rsync" ;; *-local) echo "$ACCT/none" ;; *) echo "$ACCT/kluis" ;; esac; }

# machine_busy: CPU seconds the whole machine has been busy (every CPU:
# user, nice, system, irq, softirq, steal).
machine_busy() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# rmeasure TOOL OP RUN: bm_measure of TOOL's copy command, then the server
# side: OP_server = all of it (growth of the sshd listener's reaped
# children's CPU: per-connection sshd, shell, program), OP_program = the
# program's own (serve --replica, rsync --server; CPU and peak RSS from its
# GNU time), OP_sshd = the difference (SSH on the server end).
# OP_others = the CPU the rest of the machine used meanwhile (all busy time
# in /proc/stat, steal included, minus the copy's client and server side):
# on a shared machine, what the copy competed with.
declare -A CIPHER
rmeasure() {
	local tool=$1 op=$2 run=$3 c0 c1 m0 m1 rc acct total prss pcpu TA
	acct=$(tool_acct "$tool")
	rm -f -- "$acct"
	tool_argv "$tool"
	# --pin: the sending side on CPU 0 (a *-local copy wholly: its
	# serve --replica child or rsync's receiver too)
	[ "$PIN" = 1 ] && TA=(taskset -c 0 "${TA[@]}")
	bm_sshd_settle
	c0=$(bm_sshd_cpu)
	m0=$(machine_busy)
	bm_measure A "$tool" "$op" "$run" "$LOGS/$tool-$op-$run.log" "${TA[@]}"
	rc=$?
	m1=$(machine_busy)
	bm_sshd_settle
	c1=$(bm_sshd_cpu)
	total=$(bm_sub "$c1" "$c0")
	read -r prss pcpu < <(awk 'NF == 3 && $1 ~ /^[0-9.]+$/ { printf "%s %.2f\n", $3, $1 + $2 }' "$acct" 2>/dev/null | tail -n 1)
	bm_record A "$tool" "${op}_server" "$run" NA NA "$total" NA "$rc"
	bm_record A "$tool" "${op}_program" "$run" NA "${prss:-NA}" "${pcpu:-NA}" NA "$rc"
	bm_record A "$tool" "${op}_sshd" "$run" NA NA "$(bm_sub "$total" "${pcpu:-0}")" NA "$rc"
	bm_record A "$tool" "${op}_all" "$run" NA NA "$(awk -v a="$BM_CPU" -v b="$total" 'BEGIN { if (a == "NA") print "NA"; else printf "%.2f", a + b }')" NA "$rc"
	bm_record A "$tool" "${op}_others" "$run" NA NA "$(awk -v a="$BM_CPU" -v b="$total" -v m="$(bm_sub "$m1" "$m0")" 'BEGIN { if (a == "NA") print "NA"; else printf "%.2f", m - a - b }')" NA "$rc"
	case $tool in
	*-local) ;;
	*) [ -n "${CIPHER[$tool]:-}" ] || CIPHER[$tool]=$(bm_sshd_cipher) ;;
	esac
	return "$rc"
}

# check_copy TOOL OP RUN: the copy holds the source's files with their
# sizes (repo_list); records OP_complete with rc 0 (yes) or 1 (no).
declare -A VERIFY
check_copy() {
	local copy
	copy=$(tool_copy "$1")
	if [ "$(repo_list "$SRC_REPO")" = "$(repo_list "$copy")" ]; then
		bm_record A "$1" "$2_complete" "$3" NA NA NA NA 0
		return 0
	fi
	bm_log "WARNING: $1 $2 run $3: the copy's files differ from the source's:"
	diff <(repo_list "$SRC_REPO") <(repo_list "$copy") | head -n 5 >&2
	bm_record A "$1" "$2_complete" "$3" NA NA NA NA 1
	return 1
}

# sent TOOL RUN: kluis's JSON report of files and bytes sent (first copy).
sent() {
	sed -n 's/.*"files_sent":\([0-9]*\),"bytes_sent":\([0-9]*\).*/\1 \2/p' \
		"$LOGS/$1-first_copy-$2.log" | tail -n 1
}

# ---------------------------------------------------------------- runs
bm_log "sshd on 127.0.0.1:$BM_SSH_PORT; kluis copies go to $COPY_K, rsync's to $COPY_R"
n=${#TOOL_LIST[@]}
declare -A SENT
for ((run = 1; run <= RUNS; run++)); do
	bm_log "=== run $run/$RUNS"
	for ((i = 0; i < n; i++)); do
		t=${TOOL_LIST[$(((i + run - 1) % n))]}
		copy=$(tool_copy "$t")
		# an empty target; the source read once (warm); nothing dirty
		rm -rf -- "$copy"
		bm_cat_tree "$SRC_REPO"
		sync
		# first copy, then a timed sync: kluis fsyncs every file it
		# receives, rsync leaves its writes in the page cache
		fc=NA
		rmeasure "$t" first_copy "$run" && fc=$BM_SECS
		bm_measure A "$t" sync_after "$run" "$LOGS/$t-sync-$run.log" sync
		bm_record A "$t" first_copy_sync "$run" "$(awk -v a="$fc" -v b="$BM_SECS" 'BEGIN { if (a == "NA") print "NA"; else printf "%.3f", a + b }')" NA NA NA 0
		check_copy "$t" first_copy "$run"
		case $t in kluis*) SENT[$t,$run]=$(sent "$t" "$run") ;; esac
		# the same again: nothing to send
		sync
		rmeasure "$t" unchanged "$run"
		check_copy "$t" unchanged "$run"
		# every file of the copy re-hashed against its name (not timed
		# for the table; rc and time recorded)
		bm_measure A "$t" verify "$run" "$LOGS/$t-verify-$run.log" \
			"$KLUIS_SERVER" verify --repo "$copy"
		VERIFY[$t]="${VERIFY[$t]:-}${VERIFY[$t]:+, }rc $BM_RC"
		[ "$KEEP" = 1 ] || rm -rf -- "$copy"
	done
done
T_TOTAL=$(bm_sub "$(bm_now)" "$T_START")
bm_log "finished in $T_TOTAL s (after the build)"

# ---------------------------------------------------------------- report
declare -A NAME=([kluis]="kluis (libssh2)" [kluis-openssh]="kluis (OpenSSH)" [rsync]="rsync -a"
	[kluis-local]="kluis, local dir" [rsync-local]="rsync -a, local dir")
SHOWN=()	# the tools measured, in table order
for t in kluis kluis-openssh rsync kluis-local rsync-local; do bm_have_tool "$t" && SHOWN+=("$t"); done
PAIRS=()	# "kluis-variant reference" pairs with a ratio column
for p in "kluis rsync" "kluis-openssh rsync" "kluis-local rsync-local"; do
	bm_have_tool "${p% *}" && bm_have_tool "${p#* }" && PAIRS+=("$p")
done

# row LABEL OP COLUMN DIVISOR DECIMALS: the medians per tool, then the
# ratio of the medians for each pair.
row() {
	local label=$1 op=$2 col=$3 div=$4 dec=$5 t p line
	line="| $label"
	for t in "${SHOWN[@]}"; do
		line+=" | $(bm_scale "$(bm_median A "$t" "$op" "$col")" "$div" "$dec")"
	done
	for p in "${PAIRS[@]}"; do
		line+=" | $(bm_ratio "$(bm_median A "${p% *}" "$op" "$col")" "$(bm_median A "${p#* }" "$op" "$col")")"
	done
	printf '%s |\n' "$line"
}

# busy TOOL OP WHOSE: median over the runs of CPU / wall, in cores: the
# copy's own (WHOSE = all) or the rest of the machine's (others).
busy() {
	awk -F'\t' -v t="$1" -v op="$2" -v w="$3" '
		$2 == t && $3 == op && $5 != "NA" { wall[$4] = $5 }
		$2 == t && $3 == op "_" w && $7 != "NA" { cpu[$4] = $7 }
		END { for (r in wall) if (r in cpu && wall[r] > 0) printf "%.2f\n", cpu[r] / wall[r] }' "$BM_TSV" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# per_run A B OP: A's time / B's time for OP in each run (same round).
per_run() {
	awk -F'\t' -v a="$1" -v b="$2" -v op="$3" '
		$3 == op && $5 != "NA" && $2 == a { x[$4] = $5 }
		$3 == op && $5 != "NA" && $2 == b { y[$4] = $5 }
		END { for (r = 1; r in x || r in y; r++) printf " %s", (r in x && r in y && y[r] > 0) ? sprintf("%.2f", x[r] / y[r]) : "-" }' "$BM_TSV"
}

# blank: the empty cells of a row without ratios.
blank() {
	local p
	for p in "${PAIRS[@]}"; do printf ' | '; done
}

{
	echo "# kluis replicate benchmark $STAMP"
	echo
	echo "- command: \`bench/replicate.sh $ORIG_ARGS\`"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS run(s), medians, tool order rotated per run; raw numbers: $BM_TSV"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), $(findmnt -n -o FSTYPE --target "$BM_WORK" 2>/dev/null || echo '?') under $WORKDIR"
	echo "- kluis-server: $KLUIS_SERVER, built $KLUIS_BUILT; work tree HEAD $KLUIS_REV, \`git status --short\` lines: $KLUIS_DIRTY"
	echo "- $(ssh -V 2>&1); libssh2 $(dpkg-query -W -f '${Version}' libssh2-1 2>/dev/null || echo '?')$(command -v rsync >/dev/null && echo "; $(rsync --version | head -n 1 | sed 's/  */ /g')")"
	echo "- source: $SRC_DESC: $SRC_FILES repository files, $(bm_scale "$SRC_BYTES" 1000000 1) MB"
	echo "  (without audit.log, locks/, replication/)"
	echo "- one private sshd on 127.0.0.1: kluis's key forced to \`kluis-server serve --replica --repo COPY\`,"
	echo "  rsync's runs the client's command (\`rsync --server ...\`) through the shell; both under GNU time"
	for t in "${SHOWN[@]}"; do
		[ -n "${CIPHER[$t]:-}" ] && echo "- ${NAME[$t]}: cipher and MAC negotiated: ${CIPHER[$t]}"
	done
	echo "- each first copy: target removed, the source read once (page cache warm), \`sync\`, then the"
	echo "  copy into the empty directory; then a timed \`sync\` (kluis fsyncs every file it receives,"
	echo "  rsync does not); unchanged: the same command again, nothing to send"
	echo "- client = the command and its children (rsync and kluis --ssh-command run ssh; a local"
	echo "  kluis copy runs its serve --replica); server side = sshd's reaped children (per-connection"
	echo "  sshd, shell, program); program = serve --replica or rsync --server alone (its GNU time);"
	echo "  sshd = server side - program; rest of the machine = /proc/stat busy time - the copy's"
	if [ "$PIN" = 1 ]; then
		echo "- --pin: sending side (replicate / rsync and its ssh client) on CPU 0, sshd and all it"
		echo "  starts (serve --replica, rsync --server) on CPU 1 (taskset): two machines, one core each;"
		echo "  the *-local variants wholly on CPU 0; the timed sync and verify unpinned"
	else
		echo "- not pinned: both sides share the $(nproc) cores"
	fi
	echo
	hdr="| operation"; sep="|---"
	for t in "${SHOWN[@]}"; do hdr+=" | ${NAME[$t]}"; sep+="|---:"; done
	for p in "${PAIRS[@]}"; do hdr+=" | ${NAME[${p% *}]} / ${NAME[${p#* }]}"; sep+="|---:"; done
	echo "$hdr |"
	echo "$sep|"
	row "first copy (s)" first_copy 5 1 2
	row "sync right after it (s)" sync_after 5 1 2
	row "first copy + sync (s)" first_copy_sync 5 1 2
	row "unchanged (s)" unchanged 5 1 2
	row "first copy: client CPU (s)" first_copy 7 1 2
	row "first copy: server-side sshd CPU (s)" first_copy_sshd 7 1 2
	row "first copy: server program CPU (s)" first_copy_program 7 1 2
	row "first copy: all CPU of the copy (s)" first_copy_all 7 1 2
	for w in all others; do
		line="| first copy: cores used by $([ "$w" = all ] && echo "the copy" || echo "the rest of the machine") (CPU / wall)"
		for t in "${SHOWN[@]}"; do line+=" | $(busy "$t" first_copy "$w")"; done
		echo "$line$(blank) |"
	done
	row "unchanged: client CPU (s)" unchanged 7 1 2
	row "unchanged: server side CPU (s)" unchanged_server 7 1 2
	row "client peak RSS, first copy (MiB)" first_copy 6 1024 1
	row "server program peak RSS, first copy (MiB)" first_copy_program 6 1024 1
	line="| copies complete (files and sizes, first / unchanged)"
	for t in "${SHOWN[@]}"; do
		line+=" | $(bm_count A "$t" first_copy_complete)/$RUNS, $(bm_count A "$t" unchanged_complete)/$RUNS"
	done
	echo "$line$(blank) |"
	echo
	for t in "${SHOWN[@]}"; do
		echo "- ${NAME[$t]}: \`kluis-server verify --repo COPY\` per run: ${VERIFY[$t]:-not run}"
	done
	for t in kluis kluis-openssh kluis-local; do
		bm_have_tool "$t" || continue
		s=
		for ((run = 1; run <= RUNS; run++)); do s+=" ${SENT[$t,$run]:-?}"; done
		echo "- ${NAME[$t]}: files and bytes sent by the first copy, per run:$s"
	done
	for p in "${PAIRS[@]}"; do
		echo "- ${NAME[${p% *}]} / ${NAME[${p#* }]}, first copy, per run:$(per_run "${p% *}" "${p#* }" first_copy)"
	done
	if bm_have_tool rsync; then
		echo
		echo "Goals (issue #15):"
		echo
		r=$(bm_median A rsync first_copy 5)
		rs=$(bm_median A rsync first_copy_sync 5)
		for t in kluis kluis-openssh; do
			bm_have_tool "$t" || continue
			x=$(bm_ratio "$(bm_median A "$t" first_copy 5)" "$r")
			u=$(bm_median A "$t" unchanged 5)
			echo "- ${NAME[$t]}: first copy $x x rsync's time (goal <= 1.2: $(awk -v x="$x" 'BEGIN { if (x == "-") print "-"; else print (x <= 1.2 ? "met" : "NOT met") }');" \
				"$(bm_ratio "$(bm_median A "$t" first_copy 5)" "$rs") x rsync + sync);" \
				"unchanged $(bm_scale "$u" 1 2) s (goal <= 1 s: $(awk -v x="$u" 'BEGIN { if (x == "NA") print "-"; else print (x <= 1 ? "met" : "NOT met") }'))"
		done
	fi
} >"$TABLE.tmp"
mv "$TABLE.tmp" "$TABLE"
cat "$TABLE"
