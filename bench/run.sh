#!/usr/bin/env bash
# bench/run.sh: compare kluis with restic and borg on the same data.
# See bench/README.md.  Measures, never asserts.
#
# usage: bench/run.sh [--quick] [--runs N] [--workdir DIR] [--tools LIST]
#                     [--datasets A,B] [--keep] [--kluis PATH]
#                     [--a-bytes N] [--b-files N] [--no-chunker-bench]
#                     [--ssh | --no-ssh] [--ssh-runs N] [--kluis-server PATH]
#                     [--pin-server]
# --ssh: only the ssh comparison (data set A: kluis local and over ssh://,
# restic over sftp, borg over ssh); the default run does both.
# --pin-server: in the ssh comparison, every client runs on CPU 0 and sshd
# with what it starts on CPU 1, as if the repository server had a machine of
# its own (the client then has one core; pipe: servers share the client's).
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
SSH_MODE=both	# both | only | off
SSH_RUNS=
KLUIS_SERVER=
ORIG_ARGS="$*"

usage() {
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
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
	--ssh) SSH_MODE=only ;;
	--no-ssh) SSH_MODE=off ;;
	--ssh-runs) SSH_RUNS=$2; shift ;;
	--ssh-runs=*) SSH_RUNS=${1#*=} ;;
	--kluis-server) KLUIS_SERVER=$2; shift ;;
	--pin-server) PIN_SERVER=1 ;;
	-h | --help) usage ;;
	*) echo "unknown argument: $1" >&2; usage ;;
	esac
	shift
done

case $RUNS in '' | *[!0-9]* | 0) bm_die "--runs needs a positive integer" ;; esac
if [ "$QUICK" = 1 ]; then
	RUNS=1
	SSH_RUNS=1
	A_BYTES=${A_BYTES:-150000000}
	B_FILES=${B_FILES:-5000}
fi
SSH_RUNS=${SSH_RUNS:-$RUNS}
case $SSH_RUNS in '' | *[!0-9]* | 0) bm_die "--ssh-runs needs a positive integer" ;; esac
A_BYTES=${A_BYTES:-1200000000}
B_FILES=${B_FILES:-100000}
B_DIRS=$(( B_FILES >= 100000 ? 1000 : (B_FILES / 100 > 0 ? B_FILES / 100 : 1) ))

BM_AT_EXIT=bm_sshd_stop
bm_workdir bench /var/tmp/kluis-bench

# ---------------------------------------------------------------- tools
bm_ensure_pkg /usr/bin/time time
bm_have_tool restic && bm_ensure_pkg restic restic
bm_have_tool borg && bm_ensure_pkg borg borgbackup
command -v python3 >/dev/null || bm_die "python3 is needed to generate data"

if bm_have_tool kluis; then
	bm_kluis_build
	if [ "$SSH_MODE" != off ]; then
		KLUIS_SERVER=${KLUIS_SERVER:-$(dirname "$(dirname "$KLUIS")")/repo-server/kluis-server}
		[ -x "$KLUIS_SERVER" ] || bm_die "no kluis-server binary at $KLUIS_SERVER (--kluis-server)"
	fi
fi

KLUIS_REV=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo '?')
KLUIS_DIRTY=$(git -C "$ROOT" status --short 2>/dev/null | wc -l)
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
export KLUIS_CACHE_DIR=$BM_WORK/cache/kluis
export BORG_PASSPHRASE=kluis-bench-password
export BORG_BASE_DIR=$BM_WORK/cache/borg
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=NO
unset KLUIS_REPOSITORY KLUIS_PASSWORD_FILE KLUIS_PASSWORD_COMMAND KLUIS_KEY_FILE \
	RESTIC_REPOSITORY BORG_REPO

PY=$(bm_pyhelper)
BORG_SEQ=0

# The ssh comparison's variants: kluis-ssh (ssh:// URL, libssh2 in the
# client, `kluis-server serve` on the far side), kluis-sshcmd (the same URL
# through the OpenSSH client, --ssh-command, issue #13), kluis-pipe (pipe: URL: the
# same protocol and server as a child process, no SSH: separates the cost
# of the protocol and server from that of SSH), restic-sftp (restic's sftp
# backend through OpenSSH's ssh and sftp-server), borg-ssh (borg's ssh://
# through OpenSSH's ssh and `borg serve`).  All reach the private sshd of
# bm_sshd_start on 127.0.0.1 with the same key; the repositories are local
# directories of this machine, named by path.
SSH_OPTS=()	# kluis: global options for ssh:// (set once sshd runs)
SFTP_OPT=	# restic: -o sftp.command=...
ssh_setup() {
	bm_sshd_start
	if [ "${PIN_SERVER:-0}" = 1 ]; then
		taskset -a -p -c 1 "$BM_SSHD_PID" >/dev/null || bm_die "cannot pin sshd to CPU 1"
	fi
	SSH_OPTS=(--ssh-known-hosts "$BM_SSH_KH" --ssh-key "$BM_SSH_KEY" --server-command "$KLUIS_SERVER")
	SFTP_OPT="sftp.command=$BM_SSH -p $BM_SSH_PORT root@127.0.0.1 -s sftp"
	export BORG_RSH=$BM_SSH
	# borg serve on the "remote" side keeps its own state under the work dir
	export BORG_REMOTE_PATH="env BORG_BASE_DIR=$BM_WORK/cache/borg-serve borg"
}

# tool_repo TOOL PATH: the repository argument for TOOL (a URL for remotes).
tool_repo() {
	case $1 in
	kluis-ssh | kluis-sshcmd) printf 'ssh://root@127.0.0.1:%s%s\n' "$BM_SSH_PORT" "$2" ;;
	restic-sftp) printf 'sftp:root@127.0.0.1:%s\n' "$2" ;;
	borg-ssh) printf 'ssh://root@127.0.0.1:%s%s\n' "$BM_SSH_PORT" "$2" ;;
	*) printf '%s\n' "$2" ;;
	esac
}

# tool_argv TOOL REPO: sets the array TA to the command line (program and
# repository options) of kluis or restic for TOOL; arrays, not functions,
# because /usr/bin/time must run the program itself.
tool_argv() {
	local tool=$1 repo=$2
	case $tool in
	kluis) TA=("$KLUIS" -r "$repo" --password-file "$PWF") ;;
	kluis-ssh) TA=("$KLUIS" -r "$(tool_repo "$tool" "$repo")" "${SSH_OPTS[@]}" --password-file "$PWF") ;;
	kluis-sshcmd) TA=("$KLUIS" -r "$(tool_repo "$tool" "$repo")" "${SSH_OPTS[@]}" --ssh-command "$BM_SSH" --password-file "$PWF") ;;
	kluis-pipe) TA=("$KLUIS" -r "pipe:$repo" --server-command "$KLUIS_SERVER" --password-file "$PWF") ;;
	restic) TA=(restic -r "$repo") ;;
	restic-sftp) TA=(restic -r "$(tool_repo "$tool" "$repo")" -o "$SFTP_OPT") ;;
	*) TA=() ;;
	esac
}

# tool_init TOOL REPO: a fresh, empty repository (not timed).
tool_init() {
	local tool=$1 repo=$2
	rm -rf -- "$repo"
	case $tool in
	kluis | kluis-ssh | kluis-sshcmd | kluis-pipe) tool_argv "$tool" "$repo"; "${TA[@]}" init --kdf interactive ;;
	restic | restic-sftp) rm -rf -- "$RESTIC_CACHE_DIR"; tool_argv "$tool" "$repo"; "${TA[@]}" init ;;
	borg | borg-ssh)
		rm -rf -- "$BORG_BASE_DIR" "$BM_WORK/cache/borg-serve"
		borg init -e repokey-blake2 "$(tool_repo "$tool" "$repo")" ;;
	esac >"$LOGS/init-$tool.log" 2>&1 || bm_die "$tool init failed; see $LOGS/init-$tool.log"
}

# tool_measure DS TOOL OP RUN LOG CMD...: bm_measure; for the remote
# variants also the server side's CPU (sshd and the program it runs), as
# op OP_server in the cpu_s column.
tool_measure() {
	local c0 c1 rc
	# --pin-server: the ssh comparison's clients on CPU 0 (sshd is on 1)
	if [ "${PIN_SERVER:-0}" = 1 ] && [ "$1" = A-ssh ]; then
		set -- "$1" "$2" "$3" "$4" "$5" taskset -c 0 "${@:6}"
	fi
	case $2 in
	*-ssh | *-sshcmd | *-sftp)
		bm_sshd_settle
		c0=$(bm_sshd_cpu)
		bm_measure "$@"
		rc=$?
		bm_sshd_settle
		c1=$(bm_sshd_cpu)
		bm_record "$1" "$2" "$3_server" "$4" NA NA "$(bm_sub "$c1" "$c0")" NA "$rc"
		[ -n "${SSH_CIPHER[$2]:-}" ] || SSH_CIPHER[$2]=$(bm_sshd_cipher)
		return "$rc" ;;
	*) bm_measure "$@" ;;
	esac
}
declare -A SSH_CIPHER

# tool_backup DS TOOL OP RUN REPO DATA: one timed backup.
# Compression: kluis default (zstd 3), restic 0.14 repository v2 with
# --compression auto (zstd "default" level of klauspost/compress),
# borg --compression zstd,3.
tool_backup() {
	local ds=$1 tool=$2 op=$3 run=$4 repo=$5 data=$6 log=$LOGS/$1-$2-$3-$4.log TA
	tool_argv "$tool" "$repo"
	case $tool in
	kluis | kluis-ssh | kluis-sshcmd | kluis-pipe)
		tool_measure "$ds" "$tool" "$op" "$run" "$log" \
			"${TA[@]}" backup "$data" --json ;;
	restic | restic-sftp)
		tool_measure "$ds" "$tool" "$op" "$run" "$log" \
			"${TA[@]}" backup --quiet --compression auto "$data" ;;
	borg | borg-ssh)
		BORG_SEQ=$((BORG_SEQ + 1))
		tool_measure "$ds" "$tool" "$op" "$run" "$log" \
			borg create --compression zstd,3 "$(tool_repo "$tool" "$repo")::a$BORG_SEQ" "$data" ;;
	esac
}

# tool_restore DS TOOL RUN REPO TARGET: timed full restore of the latest
# snapshot into the empty directory TARGET.
tool_restore() {
	local ds=$1 tool=$2 run=$3 repo=$4 target=$5 log=$LOGS/$1-$2-restore-$3.log TA
	tool_argv "$tool" "$repo"
	rm -rf -- "$target"
	mkdir -p "$target"
	case $tool in
	kluis | kluis-ssh | kluis-sshcmd | kluis-pipe)
		tool_measure "$ds" "$tool" restore_full "$run" "$log" \
			"${TA[@]}" restore latest --target "$target" ;;
	restic | restic-sftp)
		tool_measure "$ds" "$tool" restore_full "$run" "$log" \
			"${TA[@]}" restore latest --target "$target" ;;
	borg | borg-ssh)
		tool_measure "$ds" "$tool" restore_full "$run" "$log" \
			env -C "$target" borg extract "$(tool_repo "$tool" "$repo")::a$BORG_SEQ" ;;
	esac
}

# tool_check DS TOOL RUN REPO: timed verification of all data in REPO
# (issue #5 section 5): kluis check --read-data, restic check --read-data,
# borg check --verify-data.  Each reads every pack/segment, checks it and
# decrypts every blob; the repository is warm in the page cache.
tool_check() {
	local ds=$1 tool=$2 run=$3 repo=$4 log=$LOGS/$1-$2-check-$3.log TA
	tool_argv "$tool" "$repo"
	case $tool in
	kluis | restic)
		tool_measure "$ds" "$tool" check_read_data "$run" "$log" \
			"${TA[@]}" check --read-data ;;
	borg)
		tool_measure "$ds" "$tool" check_read_data "$run" "$log" \
			borg check --verify-data "$repo" ;;
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
for ds in "${DS_LIST[@]}"; do
	case $ds in A | B) ;; *) bm_die "unknown data set $ds" ;; esac
done
[ "$SSH_MODE" = only ] && DS_LIST=()
SSH_LIST=()
if [ "$SSH_MODE" != off ]; then
	bm_have_tool kluis && SSH_LIST+=(kluis kluis-pipe kluis-ssh kluis-sshcmd)
	bm_have_tool restic && SSH_LIST+=(restic-sftp)
	bm_have_tool borg && SSH_LIST+=(borg-ssh)
fi

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
			# verify all data of the same repository (data set A)
			if [ "$ds" = A ]; then
				rm -rf -- "$target"
				bm_cat_tree "$repo"
				tool_check "$ds" "$tool" "$run" "$repo"
			fi
			rm -rf -- "$target" "$repo"
		done
	done
}

# run_ssh: the ssh comparison on data set A (recorded as data set A-ssh):
# first backup (warm), unchanged re-backup, full restore, for every variant
# in SSH_LIST, SSH_RUNS times, order rotated per run.  The "remote"
# repositories are directories of this machine reached through the private
# sshd; both their page cache and the data's are warm as in run_dataset.
run_ssh() {
	local ds=A-ssh data run i n tool repo target nfiles
	data=${DS_PATH[A]}
	n=${#SSH_LIST[@]}
	for ((run = 1; run <= SSH_RUNS; run++)); do
		bm_log "=== ssh comparison, data set A, run $run/$SSH_RUNS"
		for ((i = 0; i < n; i++)); do
			tool=${SSH_LIST[$(((i + run - 1) % n))]}
			repo=$BM_WORK/repo-$tool
			target=$BM_WORK/restore-$tool
			tool_init "$tool" "$repo"
			# Start every variant from the same page-cache state, as the
			# main tables do through their cold-cache step: on the test VM
			# a restore that follows earlier restores (their trees deleted)
			# ran 3-7x slower, in kernel time, until the caches were
			# dropped (sync alone did not help).
			[ "$CAN_DROP" = 1 ] && bm_drop_caches
			bm_cat_tree "$data"
			tool_backup "$ds" "$tool" backup_first_warm "$run" "$repo" "$data"
			bm_record_size "$ds" "$tool" repo_size_first "$run" "$repo"
			bm_cat_tree "$data"
			tool_backup "$ds" "$tool" backup_unchanged "$run" "$repo" "$data"
			bm_cat_tree "$repo"
			tool_restore "$ds" "$tool" "$run" "$repo" "$target"
			nfiles=$(find "$target" -type f | wc -l)
			if [ "$nfiles" != "${DS_FILES[A]}" ]; then
				bm_log "WARNING: $tool restored $nfiles files, expected ${DS_FILES[A]}"
			fi
			rm -rf -- "$target" "$repo"
		done
	done
}

# ---------------------------------------------------------------- report
# srow LABEL OP COLUMN DIVISOR DECIMALS: one row of the ssh table.
srow() {
	local label=$1 op=$2 col=$3 div=$4 dec=$5 t line
	declare -A v
	line="| $label"
	for t in "${SSH_LIST[@]}"; do
		v[$t]=$(bm_median A-ssh "$t" "$op" "$col")
		line+=" | $(bm_scale "${v[$t]}" "$div" "$dec")"
	done
	if [ -n "${v[kluis-ssh]:-}" ]; then
		[ -n "${v[restic-sftp]:-}" ] && line+=" | $(bm_ratio "${v[kluis-ssh]}" "${v[restic-sftp]}")"
		[ -n "${v[borg-ssh]:-}" ] && line+=" | $(bm_ratio "${v[kluis-ssh]}" "${v[borg-ssh]}")"
	fi
	printf '%s |\n' "$line"
}

# op_label OP: the row name of an operation in the ssh tables.
op_label() {
	case $1 in
	backup_first_warm) echo "first backup, warm cache" ;;
	backup_unchanged) echo "re-backup, unchanged" ;;
	restore_full) echo "full restore" ;;
	esac
}

# report_ssh: the ssh comparison's tables.
report_ssh() {
	local t op label l r hdr sep mb tl tr tp ratio
	declare -A name=([kluis]="kluis local" [kluis-pipe]="kluis pipe:" [kluis-ssh]="kluis ssh://" [kluis-sshcmd]="kluis ssh:// (OpenSSH)" [restic-sftp]="restic sftp" [borg-ssh]="borg ssh")
	mb=$(bm_scale "${DS_BYTES[A]}" 1000000 0)
	echo
	echo "## Over SSH to 127.0.0.1: data set A, ${DS_FILES[A]} files, $mb MB"
	echo
	echo "- runs: $SSH_RUNS per measurement, medians; tool order rotated per run; the repositories are"
	echo "  directories of this machine reached through a private sshd on 127.0.0.1"
	echo "  ($(ssh -V 2>&1), sftp-server as the sftp subsystem; kluis through"
	echo "  libssh2 $(dpkg-query -W -f '${Version}' libssh2-1 2>/dev/null || echo '?'), \`kluis-server serve\` via --server-command, full role)"
	for t in "${SSH_LIST[@]}"; do
		[ -n "${SSH_CIPHER[$t]:-}" ] && echo "- $t: client->server cipher and MAC negotiated: ${SSH_CIPHER[$t]}"
	done
	echo "- client = the tool's process and its children (restic and borg run ssh);"
	echo "  server side = sshd and what it runs (kluis-server, sftp-server, borg serve),"
	echo "  CPU from the sshd listener's reaped-children times."
	if [ "${PIN_SERVER:-0}" = 1 ]; then
		echo "- --pin-server: every client (local, pipe: with its kluis-server child, ssh) on CPU 0,"
		echo "  sshd and what it runs on CPU 1: the server as if on a machine of its own."
	else
		echo "- Client and server share the 2 cores."
	fi
	if [ -n "${DS_PATH[A]:-}" ] && printf '%s\n' "${SSH_LIST[@]}" | grep -qx kluis-ssh; then
		echo
		echo "### kluis ssh:// vs local repository (issue #3 section 7: >= 0.80)"
		echo
		echo "Throughput = data set bytes / wall time; ratio = ssh:// throughput / local throughput."
		echo "pipe: = the same protocol and kluis-server as a local child process, without SSH (diagnostic)."
		echo
		echo "| operation | local (s) | ssh:// (s) | local (MB/s) | ssh:// (MB/s) | ssh/local | >= 0.80 | pipe: (s) | pipe/local |"
		echo "|---|---:|---:|---:|---:|---:|:---:|---:|---:|"
		for op in backup_first_warm backup_unchanged restore_full; do
			label=$(op_label "$op")
			tl=$(bm_median A-ssh kluis "$op" 5)
			tr=$(bm_median A-ssh kluis-ssh "$op" 5)
			ratio=$(bm_ratio "$tl" "$tr")
			l=$(awk -v b="${DS_BYTES[A]}" -v t="$tl" 'BEGIN { if (t == "NA" || t + 0 == 0) print "-"; else printf "%.0f", b / 1e6 / t }')
			r=$(awk -v b="${DS_BYTES[A]}" -v t="$tr" 'BEGIN { if (t == "NA" || t + 0 == 0) print "-"; else printf "%.0f", b / 1e6 / t }')
			tp=$(bm_median A-ssh kluis-pipe "$op" 5)
			echo "| $label | $(bm_scale "$tl" 1 2) | $(bm_scale "$tr" 1 2) | $l | $r | $ratio | $(awk -v x="$ratio" 'BEGIN { if (x == "-") print "-"; else print (x >= 0.80 ? "yes" : "no") }') | $(bm_scale "$tp" 1 2) | $(bm_ratio "$tl" "$tp") |"
		done
	fi
	if printf '%s\n' "${SSH_LIST[@]}" | grep -qx kluis-sshcmd; then
		echo
		echo "### kluis ssh:// through the OpenSSH client (--ssh-command) vs local (issue #13 section 5: restore >= 0.90)"
		echo
		echo "| operation | local (s) | libssh2 (s) | OpenSSH (s) | libssh2/local | OpenSSH/local | >= 0.90 |"
		echo "|---|---:|---:|---:|---:|---:|:---:|"
		for op in backup_first_warm backup_unchanged restore_full; do
			label=$(op_label "$op")
			tl=$(bm_median A-ssh kluis "$op" 5)
			tr=$(bm_median A-ssh kluis-ssh "$op" 5)
			tp=$(bm_median A-ssh kluis-sshcmd "$op" 5)
			ratio=$(bm_ratio "$tl" "$tp")
			echo "| $label | $(bm_scale "$tl" 1 2) | $(bm_scale "$tr" 1 2) | $(bm_scale "$tp" 1 2) | $(bm_ratio "$tl" "$tr") | $ratio | $(awk -v x="$ratio" 'BEGIN { if (x == "-") print "-"; else print (x >= 0.90 ? "yes" : "no") }') |"
		done
	fi
	echo
	echo "### All tools over SSH (kluis local for reference)"
	echo
	hdr="| operation"; sep="|---"
	for t in "${SSH_LIST[@]}"; do hdr+=" | ${name[$t]}"; sep+="|---:"; done
	if printf '%s\n' "${SSH_LIST[@]}" | grep -qx kluis-ssh; then
		printf '%s\n' "${SSH_LIST[@]}" | grep -qx restic-sftp && { hdr+=" | kluis-ssh/restic-sftp"; sep+="|---:"; }
		printf '%s\n' "${SSH_LIST[@]}" | grep -qx borg-ssh && { hdr+=" | kluis-ssh/borg-ssh"; sep+="|---:"; }
	fi
	echo "$hdr |"
	echo "$sep|"
	srow "first backup, warm cache (s)" backup_first_warm 5 1 2
	srow "re-backup, unchanged (s)" backup_unchanged 5 1 2
	srow "full restore (s)" restore_full 5 1 2
	srow "repository size (MB)" repo_size_first 8 1000000 1
	srow "client peak RSS, first backup (MiB)" backup_first_warm 6 1024 1
	srow "client peak RSS, restore (MiB)" restore_full 6 1024 1
	srow "client CPU, first backup (s)" backup_first_warm 7 1 2
	srow "server-side CPU, first backup (s)" backup_first_warm_server 7 1 2
	srow "client CPU, unchanged re-backup (s)" backup_unchanged 7 1 2
	srow "server-side CPU, unchanged re-backup (s)" backup_unchanged_server 7 1 2
	srow "client CPU, restore (s)" restore_full 7 1 2
	srow "server-side CPU, restore (s)" restore_full_server 7 1 2
	# the other tools' own remote/local ratio, from the main table of A
	if [ "${#DS_LIST[@]}" -gt 0 ] && printf '%s\n' "${DS_LIST[@]}" | grep -qx A; then
		echo
		echo "Remote/local throughput of the other tools (local figures from the data set A table above, same run, not interleaved):"
		echo
		echo "| operation | restic sftp/local | borg ssh/local |"
		echo "|---|---:|---:|"
		for op in backup_first_warm backup_unchanged restore_full; do
			echo "| $op | $(bm_ratio "$(bm_median A restic "$op" 5)" "$(bm_median A-ssh restic-sftp "$op" 5)") | $(bm_ratio "$(bm_median A borg "$op" 5)" "$(bm_median A-ssh borg-ssh "$op" 5)") |"
		done
	fi
}

# report_check: data verification throughput on data set A (issue #5
# section 5: kluis check --read-data at least 2x restic check --read-data).
# Throughput = the repository's size after its three backups (what each
# tool reads and verifies) / wall time.
report_check() {
	local t secs size tp k_tp=- line
	echo
	echo "### Data verification, data set A (issue #5 section 5: kluis >= 2x restic)"
	echo
	echo "kluis \`check --read-data\`, restic \`check --read-data\`, borg \`check --verify-data\` on the repositories"
	echo "of the table above (after three backups), warm page cache. Throughput = repository size / wall time."
	echo
	echo "| tool | seconds | repository (MB) | MB/s | CPU user+sys (s) | peak RSS (MiB) | kluis throughput / tool |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for t in kluis restic borg; do
		bm_have_tool "$t" || continue
		secs=$(bm_median A "$t" check_read_data 5)
		size=$(bm_median A "$t" repo_size_final 8)
		tp=$(awk -v b="$size" -v s="$secs" 'BEGIN { if (s == "NA" || b == "NA" || s + 0 == 0) print "-"; else printf "%.1f", b / 1e6 / s }')
		[ "$t" = kluis ] && k_tp=$tp
		line="| $t | $(bm_scale "$secs" 1 2) | $(bm_scale "$size" 1000000 1) | $tp"
		line+=" | $(bm_scale "$(bm_median A "$t" check_read_data 7)" 1 2)"
		line+=" | $(bm_scale "$(bm_median A "$t" check_read_data 6)" 1024 1)"
		line+=" | $(bm_ratio "$k_tp" "$tp") |"
		echo "$line"
	done
}

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
		bm_have_tool kluis && echo "- kluis: $KLUIS, built $KLUIS_BUILT"
		echo "- work tree at start: HEAD $KLUIS_REV, \`git status --short\` lines: $KLUIS_DIRTY"
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
			[ "$ds" = A ] && row "check, read and verify all data, warm (s)" check_read_data 5 1 2
			row "repository size after 1st backup (MB)" repo_size_first 8 1000000 1
			row "repository size after 3 backups (MB)" repo_size_final 8 1000000 1
			row "peak RSS, first backup (MiB)" backup_first_warm 6 1024 1
			row "peak RSS, unchanged re-backup (MiB)" backup_unchanged 6 1024 1
			row "peak RSS, restore (MiB)" restore_full 6 1024 1
			row "CPU user+sys, first backup (s)" backup_first_warm 7 1 2
		done
		printf '%s\n' "${DS_LIST[@]}" | grep -qx A && report_check
		[ "${#SSH_LIST[@]}" -gt 0 ] && report_ssh
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
if [ "${#SSH_LIST[@]}" -gt 0 ] && [ -z "${DS_PATH[A]:-}" ]; then
	prepare_data A
fi
for ds in "${DS_LIST[@]}"; do
	run_dataset "$ds"
done
if [ "${#SSH_LIST[@]}" -gt 0 ]; then
	ssh_setup
	run_ssh
	bm_sshd_stop
fi

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
