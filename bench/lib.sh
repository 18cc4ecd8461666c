# bench/lib.sh: helpers for bench/run.sh (sourced, not executed).
#
# Timing: wall time from `date +%s.%N` around the command, peak RSS and
# CPU time from GNU time (/usr/bin/time -f '%M %U %S').  Results are
# appended to a TSV file ($BM_TSV) with the columns
#   dataset  tool  op  run  seconds  maxrss_kib  cpu_s  bytes  rc
# and summarised with bm_median.
#
# shellcheck shell=bash

BM_TIMEOUT=${BM_TIMEOUT:-1800}	# per command, so the run always ends

bm_log() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

bm_die() {
	bm_log "error: $*"
	exit 1
}

# bm_workdir NAME DEFAULT_DIR: the run's directories under WORKDIR
# (DEFAULT_DIR unless set): BM_WORK, everything temporary (removed at exit
# unless KEEP=1), RESULTS (kept), BM_TSV and TABLE (RESULTS/NAME-STAMP.tsv
# and .md), LOGS; writes the TSV header and sets the exit traps.
bm_workdir() {
	STAMP=$(date +%Y%m%d-%H%M%S)
	WORKDIR=${WORKDIR:-$2}
	mkdir -p "$WORKDIR" || bm_die "cannot create $WORKDIR"
	WORKDIR=$(cd "$WORKDIR" && pwd)
	BM_WORK=$WORKDIR/run-$STAMP-$$
	RESULTS=$WORKDIR/results
	mkdir -p "$BM_WORK" "$RESULTS"
	BM_TSV=$RESULTS/$1-$STAMP.tsv
	TABLE=$RESULTS/$1-$STAMP.md
	LOGS=$BM_WORK/logs
	mkdir -p "$LOGS"
	printf 'dataset\ttool\top\trun\tseconds\tmaxrss_kib\tcpu_s\tbytes\trc\n' >"$BM_TSV"
	trap bm_cleanup EXIT
	trap 'bm_log interrupted; exit 130' INT TERM
}

# bm_cleanup (the EXIT trap): removes only the run's own work dir, unless
# KEEP=1, then runs BM_AT_EXIT (a command; none by default).
bm_cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		bm_log "kept work dir $BM_WORK"
	else
		[ -n "${BM_WORK:-}" ] && [ -d "$BM_WORK" ] && rm -rf -- "$BM_WORK"
	fi
	${BM_AT_EXIT:-:}
}

# bm_kluis_build: unless KLUIS names a binary, KLUIS is build-bench's,
# built in Release or brought up to date with the tree first (a stale
# binary would measure other code than the one named in the table).
bm_kluis_build() {
	if [ -z "${KLUIS:-}" ]; then
		KLUIS=$ROOT/build-bench/client/kluis
		bm_log "building kluis in $ROOT/build-bench"
		if ! { cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release &&
			cmake --build "$ROOT/build-bench" -j"$(nproc)"; } >"$LOGS/cmake.log" 2>&1; then
			bm_die "kluis build failed; see $LOGS/cmake.log"
		fi
	fi
	[ -x "$KLUIS" ] || bm_die "no kluis binary at $KLUIS"
}

# bm_now: seconds since the epoch with nanoseconds.
bm_now() {
	date +%s.%N
}

# bm_sub A B: A - B with 3 decimals.
bm_sub() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'
}

# bm_record DATASET TOOL OP RUN SECONDS MAXRSS_KIB CPU_S BYTES RC
bm_record() {
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$BM_TSV"
}

# bm_measure DATASET TOOL OP RUN LOG CMD...
# Runs CMD (stdout and stderr to LOG), records wall time, peak RSS and
# CPU time.  Sets BM_SECS, BM_RSS, BM_CPU and BM_RC for the caller.
bm_measure() {
	local ds=$1 tool=$2 op=$3 run=$4 log=$5 tf t0 t1
	shift 5
	tf=$(mktemp "${BM_WORK:-/tmp}/time.XXXXXX")
	t0=$(bm_now)
	timeout "$BM_TIMEOUT" /usr/bin/time -f '%M %U %S' -o "$tf" "$@" >"$log" 2>&1
	BM_RC=$?
	t1=$(bm_now)
	BM_SECS=$(bm_sub "$t1" "$t0")
	# GNU time writes "Command exited with non-zero status N" first on failure
	read -r BM_RSS BM_CPU < <(awk 'NF == 3 && $1 ~ /^[0-9]+$/ { printf "%s %.2f\n", $1, $2 + $3 }' "$tf" | tail -n 1)
	BM_RSS=${BM_RSS:-NA}
	BM_CPU=${BM_CPU:-NA}
	rm -f "$tf"
	if [ "$BM_RC" -ne 0 ]; then
		bm_log "FAILED (rc=$BM_RC): $ds $tool $op run $run; see $log"
		tail -n 5 "$log" >&2
		bm_record "$ds" "$tool" "$op" "$run" NA "$BM_RSS" "$BM_CPU" NA "$BM_RC"
		return 1
	fi
	bm_record "$ds" "$tool" "$op" "$run" "$BM_SECS" "$BM_RSS" "$BM_CPU" NA 0
	bm_log "$ds $tool $op run $run: ${BM_SECS}s, ${BM_RSS} KiB, cpu ${BM_CPU}s"
	return 0
}

# bm_record_size DATASET TOOL OP RUN PATH: du -sb of PATH as a record.
bm_record_size() {
	local b
	b=$(du -sb "$5" 2>/dev/null | cut -f1)
	bm_record "$1" "$2" "$3" "$4" NA NA NA "${b:-NA}" 0
	bm_log "$1 $2 $3 run $4: ${b:-NA} bytes"
}

# bm_drop_caches: write back and drop the page cache (needs root).
bm_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

bm_can_drop_caches() {
	[ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ] &&
		(echo 1 >/proc/sys/vm/drop_caches) 2>/dev/null
}

# bm_cat_tree DIR: read every regular file (the I/O floor).
bm_cat_tree() {
	find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

# bm_median DATASET TOOL OP COLUMN: median of a TSV column (5 = seconds,
# 6 = maxrss KiB, 7 = cpu seconds, 8 = bytes) over the runs; NA if none.
bm_median() {
	awk -F'\t' -v ds="$1" -v tool="$2" -v op="$3" -v col="$4" '
		$1 == ds && $2 == tool && $3 == op && $col != "NA" { print $col }' "$BM_TSV" |
		sort -g |
		awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "NA"; exit }
			if (NR % 2) print v[(NR + 1) / 2]
			else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# bm_count DATASET TOOL OP: number of successful runs recorded.
bm_count() {
	awk -F'\t' -v ds="$1" -v tool="$2" -v op="$3" '
		$1 == ds && $2 == tool && $3 == op && $9 == 0 { n++ }
		END { print n + 0 }' "$BM_TSV"
}

# bm_ratio A B: A / B with 2 decimals, "-" if either is missing.
bm_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "NA" || b == "NA" || a == "-" || b == "-" || b + 0 == 0) print "-"
		else printf "%.2f", a / b }'
}

# bm_scale VALUE DIVISOR DECIMALS: VALUE / DIVISOR formatted, NA kept.
bm_scale() {
	awk -v a="$1" -v d="$2" -v p="$3" 'BEGIN {
		if (a == "NA" || a == "-" || a == "") print "-"
		else printf "%." p "f", a / d }'
}

# bm_have_tool NAME: is the tool in the --tools list?
bm_have_tool() {
	case ",$BM_TOOLS," in *",$1,"*) return 0 ;; esac
	return 1
}

# bm_ensure_pkg CMD PACKAGE: install PACKAGE with apt-get if CMD is missing
# (from the configured mirror; no other network use).
bm_ensure_pkg() {
	if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
		bm_log "installing $2 (missing $1)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; } ||
			bm_die "cannot install $2"
	fi
}

# bm_pyhelper: write the Python helper used for data generation and the
# 1 % modification to $BM_WORK/helper.py and print its path.
bm_pyhelper() {
	local f=$BM_WORK/helper.py
	cat >"$f" <<'PY'
"""kluis bench helper: deterministic data set B and the 1 % change step."""
import os
import random
import shutil
import sys

WORDS = ("the of and to in is for on that with as by at from this be are it "
         "backup chunk repository snapshot encrypt deduplicate index pack tree "
         "blob key nonce hash stream buffer file directory restore kluis data "
         "alpha beta gamma delta epsilon zeta theta lambda sigma omega value "
         "return static const struct int size_t void char unsigned if else "
         "while for break continue switch case default goto sizeof").split()


def gen_b(root, nfiles, ndirs, seed=20240501):
    rng = random.Random(seed)
    # a 4 MiB pool of text to slice from (fast, still varied)
    pool_rng = random.Random(seed + 1)
    parts, n = [], 0
    while n < (4 << 20):
        line = " ".join(pool_rng.choice(WORDS) for _ in range(pool_rng.randint(4, 16)))
        line += " %d\n" % pool_rng.randint(0, 1 << 30)
        parts.append(line)
        n += len(line)
    text = "".join(parts).encode()
    written = []
    per_dir = max(1, nfiles // ndirs)
    for i in range(nfiles):
        d = i // per_dir
        dpath = os.path.join(root, "d%02d" % (d % 100), "s%04d" % d)
        if i % per_dir == 0 or i == 0:
            os.makedirs(dpath, exist_ok=True)
        size = rng.randint(1024, 16384)
        kind = rng.random()
        if kind < 0.40:                       # text
            off = rng.randrange(0, len(text) - size)
            data = text[off:off + size]
        elif kind < 0.60:                     # incompressible
            data = rng.randbytes(size)
        elif kind < 0.75:                     # structured records
            rec = "%08d;%s;%s;%d\n" % (i, rng.choice(WORDS), rng.choice(WORDS), rng.randint(0, 999))
            data = (rec.encode() * (size // len(rec) + 1))[:size]
        elif kind < 0.90 and written:         # duplicate of an earlier file
            data = written[rng.randrange(len(written))]
        else:                                 # mostly zeros with a header
            data = rng.randbytes(64) + bytes(size - 64)
        if len(written) < 2000 or rng.random() < 0.02:
            if len(written) >= 2000:
                written[rng.randrange(2000)] = data
            else:
                written.append(data)
        with open(os.path.join(dpath, "f%06d.%s" % (i, ("txt", "bin", "csv", "dat", "raw")[min(4, int(kind * 5))])), "wb") as fh:
            fh.write(data)


def sorted_files(root):
    out = []
    for dp, dn, fn in os.walk(root):
        dn.sort()
        for f in sorted(fn):
            p = os.path.join(dp, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def modify(root, save, permille=10):
    """Change every 100th file (1 %): append 64 bytes or rewrite 4 KiB."""
    files = sorted_files(root)
    step = max(1, 1000 // permille)
    sel = files[step // 2::step]
    os.makedirs(save, exist_ok=True)
    rng = random.Random(4242)
    with open(os.path.join(save, ".list"), "w") as lst:
        for k, p in enumerate(sel):
            keep = os.path.join(save, "%07d" % k)
            shutil.copy2(p, keep)
            lst.write(p + "\n")
            size = os.path.getsize(p)
            with open(p, "r+b") as fh:
                if k % 2 == 0 or size < 8192:
                    fh.seek(0, 2)
                    fh.write(b"kluis-bench-change %07d\n" % k + rng.randbytes(32))
                else:
                    fh.seek(size // 2)
                    fh.write(rng.randbytes(4096))
    print(len(sel))


def revert(save):
    with open(os.path.join(save, ".list")) as lst:
        for k, line in enumerate(lst):
            shutil.copy2(os.path.join(save, "%07d" % k), line.rstrip("\n"))
    shutil.rmtree(save)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen-b":
        gen_b(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "modify":
        modify(sys.argv[2], sys.argv[3])
    elif cmd == "revert":
        revert(sys.argv[2])
    else:
        sys.exit("unknown command " + cmd)
PY
	printf '%s\n' "$f"
}

# bm_make_dataset_a DEST BYTES: copy a deterministic ~BYTES subset of real
# files from /usr into DEST.  Files are taken in byte order of their path
# from the roots below, in this order, until BYTES is reached; files over
# 64 MiB are skipped so one blob cannot dominate.
BM_A_ROOTS="/usr/include /usr/share /usr/lib/x86_64-linux-gnu /usr/lib/gcc /usr/lib/python3 /usr/bin"
bm_make_dataset_a() {
	local dest=$1 want=$2 list root
	list=$BM_WORK/a.list
	: >"$list"
	for root in $BM_A_ROOTS; do
		[ -d "$root" ] || continue
		find "$root" -xdev -type f -readable -size -65536k -printf '%s\t%P\0' 2>/dev/null |
			LC_ALL=C sort -z -t $'\t' -k2,2 |
			awk -v RS='\0' -v ORS='\0' -F'\t' -v r="${root#/}" '{ print $1 "\t" r "/" $2 }'
	done | awk -v RS='\0' -v ORS='\0' -F'\t' -v want="$want" '
		{ if (tot >= want) exit; tot += $1; print $2 }' >"$list"
	mkdir -p "$dest"
	tar -C / --null -T "$list" -cf - 2>/dev/null | tar -C "$dest" -xf -
}

# ---------------------------------------------------------------- sshd
# A private OpenSSH server on 127.0.0.1 for the ssh comparison (run.sh
# --ssh).  Its own host key, sshd_config, authorized_keys (one client key,
# `restrict`, no forced command) and known_hosts live in a root-owned 0700
# directory under /run: sshd's StrictModes checks every directory from the
# authorized_keys file up to /, and /var/tmp is world-writable.  Stopped by
# its PID (bm_sshd_stop).  After bm_sshd_start:
#   BM_SSH_PORT, BM_SSH_KEY (client private key), BM_SSH_KH (known_hosts),
#   BM_SSH (an ssh command line without port and destination),
#   BM_SSHD_PID, BM_SSHD_DIR, BM_SSHD_LOG
BM_SSHD_PID=
BM_SSHD_DIR=

bm_sshd_start() {
	local hk port i
	[ "$(id -u)" = 0 ] || bm_die "the ssh comparison runs its own sshd and needs root"
	if [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/lib/openssh/sftp-server ]; then
		bm_ensure_pkg /usr/sbin/sshd openssh-server
	fi
	command -v ssh >/dev/null || bm_ensure_pkg ssh openssh-client
	mkdir -p /run/sshd && chmod 755 /run/sshd
	BM_SSHD_DIR=$(mktemp -d /run/kluis-bench-sshd.XXXXXX) || bm_die "cannot create a directory under /run"
	chmod 700 "$BM_SSHD_DIR"
	hk=$BM_SSHD_DIR/host_ed25519
	BM_SSH_KEY=$BM_SSHD_DIR/client_ed25519
	BM_SSHD_LOG=$BM_SSHD_DIR/sshd.log
	if ! ssh-keygen -q -t ed25519 -N '' -C kluis-bench-host -f "$hk" </dev/null >/dev/null 2>&1 ||
		! ssh-keygen -q -t ed25519 -N '' -C kluis-bench-client -f "$BM_SSH_KEY" </dev/null >/dev/null 2>&1; then
		bm_die "ssh-keygen failed"
	fi
	printf 'restrict %s\n' "$(cat "$BM_SSH_KEY.pub")" >"$BM_SSHD_DIR/authorized_keys"
	chmod 600 "$BM_SSHD_DIR/authorized_keys"
	# An empty HOME for the sessions: sshd runs every remote command through
	# the login shell, and bash started by sshd sources ~/.bashrc.  Root's
	# may be slow (on the test VM, pyenv init: ~0.2 s per session, for every
	# tool); a repository server's account has /bin/sh and no rc file
	# (docs/RUNBOOK.md section 9.1).  BM_SSHD_HOME=pw keeps root's own.
	mkdir -m 700 "$BM_SSHD_DIR/home"
	BM_SSHD_HOME_LINE="SetEnv HOME=$BM_SSHD_DIR/home"
	[ "${BM_SSHD_HOME:-}" = pw ] && BM_SSHD_HOME_LINE=
	for i in 1 2 3 4 5; do
		port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
		# LogLevel DEBUG1 only for the "kex: ... cipher" lines (bm_sshd_cipher)
		cat >"$BM_SSHD_DIR/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $port
HostKey $hk
PidFile $BM_SSHD_DIR/sshd.pid
AuthorizedKeysFile $BM_SSHD_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes yes
LogLevel DEBUG1
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
PrintLastLog no
AcceptEnv none
Subsystem sftp /usr/lib/openssh/sftp-server
${BM_SSHD_HOME_LINE}
CFG
		/usr/sbin/sshd -t -f "$BM_SSHD_DIR/sshd_config" >"$BM_SSHD_LOG" 2>&1 ||
			bm_die "sshd -t rejects $BM_SSHD_DIR/sshd_config: $(cat "$BM_SSHD_LOG")"
		: >"$BM_SSHD_LOG"
		/usr/sbin/sshd -D -f "$BM_SSHD_DIR/sshd_config" -E "$BM_SSHD_LOG" </dev/null >/dev/null 2>&1 &
		BM_SSHD_PID=$!
		for _ in $(seq 100); do
			grep -q 'Server listening' "$BM_SSHD_LOG" 2>/dev/null && break 2
			kill -0 "$BM_SSHD_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$BM_SSHD_PID" 2>/dev/null
		wait "$BM_SSHD_PID" 2>/dev/null
		BM_SSHD_PID=
	done
	[ -n "$BM_SSHD_PID" ] || bm_die "sshd did not start: $(tail -n 5 "$BM_SSHD_LOG")"
	# shellcheck disable=SC2034 # for run.sh
	BM_SSH_PORT=$port
	BM_SSH_KH=$BM_SSHD_DIR/known_hosts
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$hk.pub")" >"$BM_SSH_KH"
	BM_SSH="ssh -F /dev/null -T -x -i $BM_SSH_KEY -o IdentitiesOnly=yes -o IdentityAgent=none"
	BM_SSH+=" -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$BM_SSH_KH"
	BM_SSH+=" -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR"
	[ "$($BM_SSH -p "$port" root@127.0.0.1 echo bench-ok </dev/null 2>&1)" = bench-ok ] ||
		bm_die "ssh login to the private sshd fails; see $BM_SSHD_LOG"
	bm_log "sshd $BM_SSHD_PID on 127.0.0.1:$port ($BM_SSHD_DIR)"
}

bm_sshd_stop() {
	if [ -n "$BM_SSHD_PID" ]; then
		kill "$BM_SSHD_PID" 2>/dev/null
		wait "$BM_SSHD_PID" 2>/dev/null
		BM_SSHD_PID=
	fi
	case $BM_SSHD_DIR in /run/kluis-bench-sshd.*) rm -rf -- "$BM_SSHD_DIR" ;; esac
	BM_SSHD_DIR=
}

# bm_sshd_cpu: CPU seconds (user+sys) of every reaped descendant of the sshd
# listener so far (cutime + cstime of /proc/PID/stat): the per-connection
# sshd processes (SSH crypto) and the programs they ran (kluis-server,
# sftp-server, borg serve).  Call bm_sshd_settle first.
bm_sshd_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($14 + $15) / hz }' \
		"/proc/$BM_SSHD_PID/stat"
}

# bm_sshd_settle: wait (up to 10 s) until every connection's processes have
# exited and been reaped, so their CPU time is in bm_sshd_cpu.
bm_sshd_settle() {
	local i
	for ((i = 0; i < 200; i++)); do
		pgrep -P "$BM_SSHD_PID" >/dev/null 2>&1 || return 0
		sleep 0.05
	done
	bm_log "WARNING: sshd connections still open after 10 s"
}

# bm_sshd_cipher: "cipher MAC" of the most recent connection (client to server).
bm_sshd_cipher() {
	sed -n 's/.*kex: client->server cipher: \([^ ]*\) MAC: \([^ ]*\) .*/\1 \2/p' "$BM_SSHD_LOG" | tail -n 1
}
