#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time (docs/TESTING.md
# "Fuzzing"): installs clang and the libFuzzer runtime if missing, builds
# the targets with -DKLUIS_FUZZ=ON in a build directory of their own, and
# runs each fuzz_* binary it finds there (so targets added later are run
# too) on a scratch copy of its seed corpus.  A crash, leak, sanitizer
# report, timeout or failed oracle fails the run; the log then shows
# libFuzzer's report and the input that did it (base64 and hex), which
# replays with build/tests/fuzz/fuzz_NAME_replay FILE.
#
# usage: scripts/fuzz.sh [SECONDS]   seconds per target: default 20, or
#                                    $KLUIS_FUZZ_SECONDS
# $KLUIS_FUZZ_DIR is the build directory (default build-fuzz).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-${KLUIS_FUZZ_SECONDS:-20}}
dir=${KLUIS_FUZZ_DIR:-$top/build-fuzz}

"$top/scripts/deps.sh" --fuzz
echo "==> building the fuzz targets in $dir (clang, KLUIS_FUZZ)"
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=clang -DKLUIS_FUZZ=ON -DKLUIS_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target kl_fuzz_all

work=$(mktemp -d "${TMPDIR:-/tmp}/kluis-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# show_failure NAME: libFuzzer's report and every input it saved.
show_failure() {
	local a
	echo "--- $1: last lines of libFuzzer's output"
	tail -n 80 "$work/$1.log"
	for a in "$work/$1-"*; do
		[ -f "$a" ] || continue
		echo "--- $1: the input $(basename "$a") ($(stat -c %s "$a") bytes), base64:"
		base64 -w 76 "$a" | head -n 400
		echo "--- the same, hex:"
		od -A x -t x1z -v "$a" | head -n 200
	done
}

ran=0
failed=()
for bin in "$dir"/tests/fuzz/fuzz_*; do
	name=$(basename "$bin")
	case $name in *_replay | fuzz_mkseeds) continue ;; esac
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	t=${name#fuzz_}
	mkdir -p "$work/corpus-$t"
	if [ -d "$top/tests/fuzz/corpus/$t" ]; then
		cp -R "$top/tests/fuzz/corpus/$t/." "$work/corpus-$t/"
	fi
	echo "==> $name: ${secs} s"
	ran=$((ran + 1))
	if (cd "$work" && "$bin" -max_total_time="$secs" -timeout=20 \
	    -rss_limit_mb=2560 -artifact_prefix="$work/$t-" \
	    -print_final_stats=1 "$work/corpus-$t") >"$work/$t.log" 2>&1; then
		grep -E '^Done [0-9]+ runs|stat::number_of_executed_units' \
		    "$work/$t.log" | head -n 1 || true
	else
		show_failure "$t"
		failed+=("$name")
	fi
done
if [ "$ran" -eq 0 ]; then
	echo "kluis: no fuzz_* binary in $dir/tests/fuzz" >&2
	exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "==> fuzzing FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "==> $ran fuzz targets ran ${secs} s each: no crash, leak or failed oracle"
