#!/usr/bin/env bash
# Installs what kluis needs to build and test on Debian 12, and nothing that
# is already there.  Safe to re-run.  Uses sudo when not root.
# usage: scripts/deps.sh [--fuzz]   --fuzz: also clang and the libFuzzer
#                                   runtime (scripts/fuzz.sh)
set -euo pipefail

PKGS=(build-essential cmake pkg-config libsodium-dev libzstd-dev
	libssh2-1-dev libsqlite3-dev librsync-dev libcmocka-dev
	python3 acl attr util-linux openssh-server openssh-client
	man-db groff-base bsdextrautils dpkg-dev logrotate systemd)
# Debian 12: libFuzzer (libclang_rt.fuzzer-x86_64.a) and the sanitizer
# runtimes are in libclang-rt-14-dev, which clang-14 does not depend on.
if [ "${1:-}" = "--fuzz" ]; then
	PKGS+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "kluis: installing ${missing[*]}" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends "${missing[@]}" >/dev/null
