#!/usr/bin/env bash
# bench/catalog_scale.sh: the catalog at scale on a real repository
# (issue #4 §4).  Measures, never asserts.
#
# usage: bench/catalog_scale.sh [--files N] [--days D] [--workdir DIR]
#                               [--kluis PATH] [--keep] [--no-restic]
#
# Makes N small files (1-4 KiB) in N/100 directories, backs them up D times
# with 1 % of the files changed before each backup after the first (90 %
# rewritten, 5 % deleted, 5 % created), then reports:
#   - the catalog's size on disk;
#   - `catalog rebuild` from the repository (its own rebuild_s, without the
#     key derivation), and the same again (the median of three);
#   - `versions PATH` wall time with a warm catalog (includes process start
#     and key derivation: compare with `catalog status`, which does both and
#     no query), median of five;
#   - the incremental catalog update after one more backup: the first
#     `versions` after it minus a warm `versions`;
#   - `restore --at` of one file, wall time, median of three;
#   - peak RSS of the first backup of the N files, kluis and restic (same
#     data, same run), and their ratio.
set -u -o pipefail

FILES=100000
DAYS=60
WORKDIR=
KLUIS=
KEEP=0
RESTIC=1
while [ $# -gt 0 ]; do
	case $1 in
	--files) FILES=$2; shift ;;
	--days) DAYS=$2; shift ;;
	--workdir) WORKDIR=$2; shift ;;
	--kluis) KLUIS=$2; shift ;;
	--keep) KEEP=1 ;;
	--no-restic) RESTIC=0 ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
if [ -z "$KLUIS" ]; then
	bash "$ROOT/scripts/build.sh" "$ROOT/build-bench" >/dev/null ||
	    { echo "build failed" >&2; exit 1; }
	KLUIS=$ROOT/build-bench/client/kluis
fi
[ -n "$WORKDIR" ] || WORKDIR=$(mktemp -d /var/tmp/kluis-catscale.XXXXXX)
mkdir -p "$WORKDIR"
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORKDIR"' EXIT
SRC=$WORKDIR/src
REPO=$WORKDIR/repo
export KLUIS_CACHE_DIR=$WORKDIR/cache
printf 'kluis-bench-password\n' >"$WORKDIR/pw"
k() { "$KLUIS" -r "$REPO" --password-file "$WORKDIR/pw" "$@"; }

# wall NAME CMD...: prints seconds, discards output
wall() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
median() {
	sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

echo "# catalog_scale: $FILES files, $DAYS backups, 1 % daily churn, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# kluis: $KLUIS ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))"
python3 - "$SRC" "$FILES" <<'EOF'
import os, random, sys
src, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
for i in range(n):
    d = os.path.join(src, "d%05d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%07d" % i), "wb") as f:
        f.write(os.urandom(random.randint(1024, 4096)))
EOF
k init --kdf interactive >/dev/null 2>&1 || { echo "init failed" >&2; exit 1; }

rss_kluis=$( { /usr/bin/time -f '%M' "$KLUIS" -r "$REPO" --password-file \
    "$WORKDIR/pw" backup "$SRC" -q >/dev/null; } 2>&1 | tail -n 1)
echo "first backup peak RSS, kluis: $rss_kluis KiB"
if [ "$RESTIC" = 1 ] && command -v restic >/dev/null; then
	export RESTIC_PASSWORD=kluis-bench-password
	export RESTIC_CACHE_DIR=$WORKDIR/restic-cache
	restic -r "$WORKDIR/restic" init >/dev/null 2>&1
	rss_restic=$( { /usr/bin/time -f '%M' restic -r "$WORKDIR/restic" \
	    backup -q "$SRC" >/dev/null; } 2>&1 | tail -n 1)
	echo "first backup peak RSS, restic: $rss_restic KiB"
	echo "peak RSS kluis/restic: $(echo "$rss_kluis / $rss_restic" | bc -l | cut -c1-5)"
	rm -rf "$WORKDIR/restic" "$WORKDIR/restic-cache"
fi

# the daily churn
churn() {
	python3 - "$SRC" "$FILES" "$1" <<'EOF'
import os, random, sys
src, n, day = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(day)
for _ in range(n // 100):
    i = random.randrange(n)
    p = os.path.join(src, "d%05d" % (i // 100), "f%07d" % i)
    r = random.random()
    if r < 0.05:
        if os.path.exists(p):
            os.unlink(p)
    else:
        with open(p, "wb") as f:
            f.write(os.urandom(random.randint(1024, 4096)))
EOF
}
t0=$(date +%s)
for d in $(seq 2 "$DAYS"); do
	churn "$d"
	k backup "$SRC" -q >/dev/null 2>&1 || echo "backup $d failed" >&2
done
echo "$DAYS backups made in $(( $(date +%s) - t0 + 0 )) s (after the first)"

P=$SRC/d00012/f0001234
k versions "$P" >/dev/null 2>&1	# builds the versions
echo "catalog on disk: $(du -sb "$KLUIS_CACHE_DIR" | cut -f1 | awk '{ printf "%.1f MB", $1 / 1e6 }')"
for i in 1 2 3; do
	k catalog rebuild --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["rebuild_s"])'
done | median | awk '{ printf "catalog rebuild from the repository (index, snapshots, versions): %.2f s (median of 3)\n", $1 }'
for i in 1 2 3 4 5; do wall k catalog status; done | median |
    awk '{ printf "catalog status (process, key derivation, no query): %.3f s\n", $1 }'
for i in 1 2 3 4 5; do wall k versions "$P"; done | median >"$WORKDIR/v.warm"
awk '{ printf "versions PATH, warm catalog: %.3f s wall (median of 5)\n", $1 }' "$WORKDIR/v.warm"

churn 999
k backup "$SRC" -q >/dev/null 2>&1
first=$(wall k versions "$P")
echo "$first $(cat "$WORKDIR/v.warm")" | awk '{ printf "incremental update after one more backup: %.3f s (first versions %.3f s - warm %.3f s)\n", $1 - $2, $1, $2 }'
T=$(date '+%Y-%m-%d %H:%M:%S')
for i in 1 2 3; do
	rm -rf "$WORKDIR/at"
	wall k restore --at "$T" "$P" --target "$WORKDIR/at"
done | median | awk '{ printf "restore --at of one file: %.3f s wall (median of 3)\n", $1 }'
k catalog status
