#!/usr/bin/env bash
# scripts/package.sh [OUTDIR]: builds the Debian packages into OUTDIR
# (default dist/):
#   kluis         the client: kluis, kluis(1), kluis.conf(5), the
#                 kluis-backup@/-check@/-drill@ units and timers, logrotate,
#                 an example profile
#   kluis-server  the repository server: kluis-server, kluis-server(8), the
#                 kluis-server-purge@/-verify@/-replicate@ units and timers,
#                 kluis-server-status.service and its timer; creates the
#                 system user kluis (home /srv/kluis)
# Built from this tree with a Release build; the dependencies are what the
# binaries link (dpkg-shlibdeps) plus what they need at run time.
# docs/RUNBOOK.md §1 installs them.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/dist}
build=$top/build-pkg
version=$(sed -n 's/^project(kluis VERSION \([0-9.]*\).*/\1/p' \
	"$top/CMakeLists.txt")
debver=$version-1
arch=$(dpkg --print-architecture)
# reproducible: the dates come from the last commit, not from today
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 \
	--format=%ct 2>/dev/null || date +%s)}

"$top/scripts/deps.sh"
for tool in dpkg-deb dpkg-shlibdeps gzip; do
	command -v "$tool" >/dev/null || {
		echo "package.sh: $tool is missing (apt-get install dpkg-dev)" >&2
		exit 1
	}
done
echo "==> building kluis $version (Release) in $build"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_INSTALL_PREFIX=/usr -DKLUIS_TESTS=OFF -DKLUIS_WERROR=ON \
	>/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage/install cmake --install "$build" --strip >/dev/null
inst=$stage/install

# shlibs PACKAGE BINARY...: the Depends that the binaries' libraries give.
shlibs() {
	local dir=$stage/shlibs-$1
	mkdir -p "$dir/debian"
	printf 'Source: kluis\n\nPackage: %s\nArchitecture: any\n' "$1" \
		>"$dir/debian/control"
	shift
	(cd "$dir" && dpkg-shlibdeps -O "$@" 2>/dev/null) |
		sed -n 's/^shlibs:Depends=//p'
}

# man PAGE SECTION ROOT: the page, compressed as Debian wants it.
man_page() {
	install -d "$3/usr/share/man/man$2"
	gzip -9n <"$inst/usr/share/man/man$2/$1" \
		>"$3/usr/share/man/man$2/$1.gz"
}

# common ROOT NAME: copyright and changelog every package carries.
common() {
	local doc=$1/usr/share/doc/$2
	install -d "$doc"
	cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: kluis
Files: *
Copyright: the kluis authors
License: see the kluis source tree
EOF
	printf '%s (%s) stable; urgency=medium\n\n  * Built from the kluis tree by scripts/package.sh.\n\n -- kluis <kluis@localhost>  %s\n' \
		"$2" "$debver" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
		gzip -9n >"$doc/changelog.Debian.gz"
}

# control ROOT NAME DEPENDS DESCRIPTION...: DEBIAN/control.
control() {
	local root=$1 name=$2 deps=$3
	shift 3
	local size
	size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
	install -d "$root/DEBIAN"
	{
		echo "Package: $name"
		echo "Version: $debver"
		echo "Architecture: $arch"
		echo "Maintainer: kluis <kluis@localhost>"
		echo "Installed-Size: $size"
		echo "Depends: $deps"
		echo "Section: admin"
		echo "Priority: optional"
		printf '%s\n' "$@"
	} >"$root/DEBIAN/control"
}

# ---- kluis ----
k=$stage/kluis
install -D -m 0755 "$inst/usr/bin/kluis" "$k/usr/bin/kluis"
man_page kluis.1 1 "$k"
man_page kluis.conf.5 5 "$k"
install -d "$k/lib/systemd/system"
for u in kluis-backup kluis-check kluis-drill; do
	install -m 0644 "$top/packaging/systemd/$u@.service" \
		"$top/packaging/systemd/$u@.timer" "$k/lib/systemd/system/"
done
install -D -m 0644 "$top/packaging/logrotate/kluis" \
	"$k/etc/logrotate.d/kluis"
common "$k" kluis
install -D -m 0644 "$top/packaging/examples/web01.conf" \
	"$k/usr/share/doc/kluis/examples/web01.conf"
install -d -m 0750 "$k/etc/kluis"
# SQLite's JSON functions and DROP COLUMN (3.38) are used at run time,
# not through symbols dpkg-shlibdeps can see
control "$k" kluis \
	"$(shlibs kluis "$k/usr/bin/kluis" |
		sed 's/libsqlite3-0 ([^)]*)/libsqlite3-0 (>= 3.38.0)/')" \
	"Recommends: openssh-client" \
	"Suggests: kluis-server, prometheus-node-exporter" \
	"Description: encrypted, deduplicating backups to an append-only server" \
	" kluis backs up files into a repository: content-defined chunks," \
	" stored once, compressed with zstd and encrypted on this machine, so" \
	" the repository (a local directory, or kluis-server over SSH) never" \
	" sees contents, names or keys.  Point-in-time restores, checks," \
	" restore drills and auditor reports."
echo "/etc/logrotate.d/kluis" >"$k/DEBIAN/conffiles"
cat >"$k/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	# where cron jobs write their logs (logrotate.d/kluis); the profiles
	# hold the paths of secrets: root's only
	install -d -m 0750 /var/log/kluis
	chmod 0750 /etc/kluis
fi
EOF
chmod 0755 "$k/DEBIAN/postinst"

# ---- kluis-server ----
s=$stage/kluis-server
install -D -m 0755 "$inst/usr/bin/kluis-server" "$s/usr/bin/kluis-server"
man_page kluis-server.8 8 "$s"
install -d "$s/lib/systemd/system"
for u in kluis-server-purge kluis-server-verify kluis-server-replicate; do
	install -m 0644 "$top/packaging/systemd/$u@.service" \
		"$top/packaging/systemd/$u@.timer" "$s/lib/systemd/system/"
done
# one status run covers every repository under /srv/kluis: no template
install -m 0644 "$top/packaging/systemd/kluis-server-status.service" \
	"$top/packaging/systemd/kluis-server-status.timer" \
	"$s/lib/systemd/system/"
common "$s" kluis-server
control "$s" kluis-server \
	"$(shlibs kluis-server "$s/usr/bin/kluis-server"), adduser, passwd" \
	"Recommends: openssh-server" \
	"Description: append-only repository server for kluis" \
	" kluis-server keeps kluis repositories on a server that holds no key." \
	" Clients reach it over SSH, each key pinned to its repository and role" \
	" by a forced command; no file is ever overwritten, removed files wait" \
	" in a trash, and every write is in a hash-chained audit log."
cat >"$s/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	# The account the city servers log in to: no password (sshd keys
	# only), a shell so that sshd can run the forced commands, the
	# repositories below its home.
	if ! getent passwd kluis >/dev/null; then
		adduser --system --group --home /srv/kluis --shell /bin/sh \
			--gecos "kluis repositories" kluis >/dev/null
		# "*", not adduser's "!": no password can work, but the
		# account is not locked, which sshd refuses even for keys
		# when it runs without PAM (UsePAM no)
		usermod -p '*' kluis
	fi
	install -d -m 0700 -o kluis -g kluis /srv/kluis
	# the key file belongs to root: nothing running as kluis may add a
	# key or drop a forced command (docs/RUNBOOK.md §9.2)
	[ -e /etc/ssh/kluis_authorized_keys ] ||
		install -m 0644 /dev/null /etc/ssh/kluis_authorized_keys
fi
EOF
chmod 0755 "$s/DEBIAN/postinst"
cat >"$s/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
# The repositories and the account stay on purge: backups are never
# deleted by a package manager.  Remove them by hand (docs/RUNBOOK.md).
exit 0
EOF
chmod 0755 "$s/DEBIAN/postrm"

mkdir -p "$out"
for p in kluis kluis-server; do
	find "$stage/$p" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zxz --build "$stage/$p" \
		"$out/${p}_${debver}_$arch.deb" >/dev/null
	echo "==> $out/${p}_${debver}_$arch.deb"
done
