#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks the layers, builds
# with warnings as errors, runs every test (unit, mutation, end-to-end),
# then again built with AddressSanitizer and UndefinedBehaviorSanitizer,
# then builds the Debian packages and tests them installed (as root only:
# it installs and removes them; tests/e2e/packages.sh), then runs every
# libFuzzer target for a bounded time (scripts/fuzz.sh; KLUIS_FUZZ_SECONDS
# per target, default 20).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

"$top/scripts/deps.sh"
# The folders are the modules and their dependencies point down
# (docs/ARCHITECTURE.md, "Layers"); the e2e_layers test also checks the
# built server and that every rule fails when broken.
python3 "$top/scripts/layers.py"
run_suite() {
	local dir=$1
	shift
	echo "==> building in $dir ($*)"
	"$top/scripts/build.sh" "$dir" -DKLUIS_WERROR=ON "$@"
	echo "==> running tests ($dir)"
	(cd "$dir" && ctest --output-on-failure -j"$(nproc)")
}
run_suite "$top/build-test"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite "$top/build-asan" -DKLUIS_SANITIZE=ON
if [ "$(id -u)" -eq 0 ]; then
	echo "==> Debian packages: build, install, use, remove"
	"$top/scripts/package.sh" "$top/dist"
	bash "$top/tests/e2e/packages.sh" "$top/dist"
else
	echo "==> Debian packages: skipped (installing them needs root)"
fi
"$top/scripts/fuzz.sh"
echo "==> all tests passed (plain, ASan+UBSan, packages) and every fuzz target ran"
