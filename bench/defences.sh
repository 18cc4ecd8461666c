#!/usr/bin/env bash
# bench/defences.sh: what the defences of issue #10 cost honest users.
# Runs the same operations with two kluis builds - before the defences
# (OLD) and with them (NEW) - on the same data in one run, alternating
# the builds run by run, and prints medians and NEW/OLD ratios.  Measures,
# never asserts (see docs/PERFORMANCE.md "Issue #10").
#
# usage: bench/defences.sh --old KLUIS --new KLUIS [--hostile KLUIS_HOSTILE]
#                          [--runs N] [--data DIR]... [--workdir DIR] [--keep]
#
# Per build and run, on a fresh repository (Argon2id "interactive"):
#   backup      first backup of the data with a full key
#   unchanged   the same again, nothing changed
#   restore     restore the snapshot with a fresh catalog (a new machine)
#   check       structure check, fresh catalog
#   check_data  check --read-data (NEW also vouches for the packs)
#   host2       on a second repository, a second host's backup of the data
#               with a backup-only key and its own catalog, after a first
#               host's: bytes added (NEW uploads again until a full key
#               vouched for the data)
#   host3       a third host's, after check --read-data: bytes added
# With --hostile (NEW only), the restore is timed again after
# `kluis-hostile index-missing-pack` planted a bogus index naming every
# blob in a pack that does not exist (OLD restores nothing then).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

OLD=
NEW=
HOSTILE=
RUNS=3
DATA=()
WORKDIR=/var/tmp/kluis-bench-defences
KEEP=0

while [ $# -gt 0 ]; do
	case $1 in
	--old) OLD=$2; shift ;;
	--new) NEW=$2; shift ;;
	--hostile) HOSTILE=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--data) DATA+=("$2"); shift ;;
	--workdir) WORKDIR=$2; shift ;;
	--keep) KEEP=1 ;;
	*) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
[ -x "$OLD" ] && [ -x "$NEW" ] ||
    bm_die "--old and --new must be kluis binaries"
[ ${#DATA[@]} -gt 0 ] || DATA=(/usr/include /usr/share/doc)

mkdir -p "$WORKDIR"
BM_WORK=$(mktemp -d "$WORKDIR/run-XXXXXX")
BM_TSV=$BM_WORK/results.tsv
: >"$BM_TSV"
[ "$KEEP" -eq 1 ] || trap 'rm -rf "$BM_WORK"' EXIT
PW=$BM_WORK/pw
printf 'benchmark passphrase\n' >"$PW"
chmod 600 "$PW"

# added LOG: bytes_added of a backup's --json output.
added() {
	sed -n 's/.*"bytes_added":\([0-9]*\).*/\1/p' "$1" | tail -n 1
}

# kc BIN REPO CACHE [KEY]: sets KC to the command line of kluis with that
# binary, repository, catalog and key (default: the full key in keys/).
kc() {
	KC=(env "KLUIS_CACHE_DIR=$3" "$1" -r "$2" --password-file "$PW")
	[ -z "${4:-}" ] || KC+=(--key-file "$4")
}

one_run() {
	local tag=$1 bin=$2 run=$3 d=$BM_WORK/$1-$3 repo hrepo snap h
	repo=$d/repo
	mkdir -p "$d"
	kc "$bin" "$repo" "$d/c0"
	"${KC[@]}" init --kdf interactive >/dev/null || bm_die "$tag: init"
	"${KC[@]}" key add --backup-only --out "$d/bk.key" \
	    --new-password-file "$PW" --kdf interactive >/dev/null ||
	    bm_die "$tag: key add"
	kc "$bin" "$repo" "$d/c1"
	bm_measure data "$tag" backup "$run" "$d/backup.log" \
	    "${KC[@]}" backup "${DATA[@]}" --json
	bm_measure data "$tag" unchanged "$run" "$d/unchanged.log" \
	    "${KC[@]}" backup "${DATA[@]}" --json
	snap=$(sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' \
	    "$d/backup.log")
	kc "$bin" "$repo" "$d/c2"
	bm_measure data "$tag" restore "$run" "$d/restore.log" \
	    "${KC[@]}" restore "$snap" --target "$d/out"
	rm -rf "$d/out"
	kc "$bin" "$repo" "$d/c3"
	bm_measure data "$tag" check "$run" "$d/check.log" "${KC[@]}" check
	kc "$bin" "$repo" "$d/c4"
	bm_measure data "$tag" check_data "$run" "$d/check_data.log" \
	    "${KC[@]}" check --read-data
	# A second repository where hosts with backup-only keys (each its
	# own catalog) write first: what the full key wrote above is
	# attested, so it would be deduplicated by every host.
	hrepo=$d/hrepo
	kc "$bin" "$hrepo" "$d/hc0"
	"${KC[@]}" init --kdf interactive >/dev/null || bm_die "$tag: init"
	"${KC[@]}" key add --backup-only --out "$d/hbk.key" \
	    --new-password-file "$PW" --kdf interactive >/dev/null ||
	    bm_die "$tag: key add"
	for h in h1 h2; do
		kc "$bin" "$hrepo" "$d/$h" "$d/hbk.key"
		"${KC[@]}" backup "${DATA[@]}" --host "$h" --json \
		    >"$d/$h.log" 2>&1 || bm_die "$tag: $h backup"
	done
	bm_record data "$tag" host2_bytes "$run" NA NA NA \
	    "$(added "$d/h2.log")" 0
	kc "$bin" "$hrepo" "$d/hc4"
	"${KC[@]}" check --read-data >"$d/hcheck.log" 2>&1 ||
	    bm_die "$tag: check --read-data of the hosts' repository"
	kc "$bin" "$hrepo" "$d/h3" "$d/hbk.key"
	"${KC[@]}" backup "${DATA[@]}" --host h3 --json >"$d/h3.log" 2>&1 ||
	    bm_die "$tag: h3 backup"
	bm_record data "$tag" host3_bytes "$run" NA NA NA \
	    "$(added "$d/h3.log")" 0
	if [ "$tag" = new ] && [ -n "$HOSTILE" ]; then
		"$HOSTILE" -r "$repo" --key-file "$d/bk.key" --password-file \
		    "$PW" index-missing-pack >"$d/hostile.log" 2>&1 ||
		    bm_die "kluis-hostile failed: $(tail -n 1 "$d/hostile.log")"
		kc "$bin" "$repo" "$d/c5"
		bm_measure data "$tag" restore_poisoned "$run" \
		    "$d/restore_p.log" "${KC[@]}" restore "$snap" \
		    --target "$d/out"
		rm -rf "$d/out"
	fi
	rm -rf "$repo" "$hrepo" "$d"/c? "$d"/h? "$d"/hc?
}

bm_log "data: ${DATA[*]}; runs: $RUNS; old: $OLD; new: $NEW"
for ((r = 1; r <= RUNS; r++)); do
	if [ $((r % 2)) -eq 1 ]; then
		one_run old "$OLD" "$r"
		one_run new "$NEW" "$r"
	else
		one_run new "$NEW" "$r"
		one_run old "$OLD" "$r"
	fi
done

# median COLUMN OP TAG: the median of column 5 (seconds), 7 (CPU seconds)
# or 8 (bytes).
median() {
	awk -F'\t' -v op="$2" -v tag="$3" -v col="$1" \
	    '$3 == op && $2 == tag && $col != "NA" { print $col }' "$BM_TSV" |
	    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NA";
	    else if (NR % 2) print v[(NR + 1) / 2];
	    else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0)
	    print "-"; else printf "%.2f", a / b }'
}

printf '\n%-18s %10s %10s %8s %10s %10s %8s\n' "operation" "old wall" \
    "new wall" "new/old" "old cpu" "new cpu" "new/old"
for op in backup unchanged restore check check_data restore_poisoned; do
	o=$(median 5 "$op" old)
	n=$(median 5 "$op" new)
	oc=$(median 7 "$op" old)
	nc=$(median 7 "$op" new)
	printf '%-18s %9ss %9ss %8s %9ss %9ss %8s\n' "$op" "$o" "$n" \
	    "$(ratio "$n" "$o")" "$oc" "$nc" "$(ratio "$nc" "$oc")"
done
for op in host2_bytes host3_bytes; do
	o=$(median 8 "$op" old)
	n=$(median 8 "$op" new)
	printf '%-18s %12s %12s %8s\n' "$op" "$o" "$n" "$(ratio "$n" "$o")"
done
bm_log "results: $BM_TSV"
