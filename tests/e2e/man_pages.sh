#!/usr/bin/env bash
# The man pages built from the option tables (issue #13 §3): man(1) reads
# each without a warning, each shows what it must, and the check itself
# fails on a page with a roff mistake.
# With MKREF and CLI_MD: the check of docs/CLI.md's generated blocks fails
# on a copy where one was edited by hand.
# usage: man_pages.sh MANDIR KLUIS KLUIS-SERVER [MKREF CLI_MD]
set -uo pipefail
MANDIR=$1
KLUIS=$2
KLUIS_SERVER=$3
MKREF=${4:-}
CLI_MD=${5:-}
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
not_ok() { fail=$((fail + 1)); echo "FAIL: $1"; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

command -v man >/dev/null || { echo "FAIL: man(1) is not installed (man-db)"; exit 1; }

# warnings PAGE: what man --warnings says about PAGE (nothing: clean).
warnings() {
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$1" \
	    2>&1 >/dev/null
}

for page in kluis.1 kluis-server.8 kluis.conf.5; do
	if [ ! -s "$MANDIR/$page" ]; then
		not_ok "$page was built"
		continue
	fi
	w=$(warnings "$MANDIR/$page")
	if [ -z "$w" ]; then ok "$page: man --warnings is silent"
	else not_ok "$page: man --warnings: $w"; fi
done

# the check can fail: an unknown request and an unknown escape
sed -e '0,/^\.SH DESCRIPTION/s//.SH DESCRIPTION\n.XYZZY unknown request\n\\[nosuchglyph]/' \
    "$MANDIR/kluis.1" >"$WORK/broken.1"
if [ -n "$(warnings "$WORK/broken.1")" ]; then ok "a broken page gives warnings"
else not_ok "a broken page gives warnings"; fi

# What the pages show comes from the tables the programs parse.
LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MANDIR/kluis.1" 2>/dev/null |
    col -b >"$WORK/kluis.txt"
for cmd in $("$KLUIS" --help | sed -n '/^commands:/,/^$/p' |
    awk 'NR > 1 && /^  [a-z]/ { print $1 }' | sort -u); do
	if grep -q "^   $cmd" "$WORK/kluis.txt" ||
	    grep -q "^       $cmd" "$WORK/kluis.txt"; then
		ok "kluis(1) has the command $cmd"
	else
		not_ok "kluis(1) has the command $cmd"
	fi
done
for opt in repository profile password-command with-atime metrics-file \
    keep-daily read-data-subset; do
	if grep -q -- "--$opt" "$WORK/kluis.txt"; then ok "kluis(1) has --$opt"
	else not_ok "kluis(1) has --$opt"; fi
done
LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MANDIR/kluis.conf.5" 2>/dev/null |
    col -b >"$WORK/conf.txt"
for key in repository password-file key-file ssh-key ssh-known-hosts host \
    tag exclude path metrics-file compression; do
	if grep -qE "^ +$key = " "$WORK/conf.txt"; then ok "kluis.conf(5) has the key $key"
	else not_ok "kluis.conf(5) has the key $key"; fi
done
if grep -qE "^ +(target|keep-daily|json) = " "$WORK/conf.txt"; then
	not_ok "kluis.conf(5) lists only profile keys"
else
	ok "kluis.conf(5) lists only profile keys"
fi
LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MANDIR/kluis-server.8" 2>/dev/null |
    col -b >"$WORK/server.txt"
for cmd in serve verify "audit verify" purge undelete; do
	if grep -q "^   $cmd --repo DIR" "$WORK/server.txt"; then
		ok "kluis-server(8) has $cmd"
	else
		not_ok "kluis-server(8) has $cmd"
	fi
done
"$KLUIS_SERVER" --version >/dev/null || not_ok "kluis-server runs"

if [ -n "$MKREF" ]; then
	ROOT=$(cd "$(dirname "$CLI_MD")/.." && pwd)
	cp "$CLI_MD" "$WORK/CLI.md"
	if "$MKREF" sync "$ROOT" "$WORK/CLI.md" --check 2>/dev/null; then
		ok "docs/CLI.md's blocks are up to date"
	else
		not_ok "docs/CLI.md's blocks are up to date"
	fi
	sed -i 's/^| `--with-atime` | .*/| `--with-atime` | edited by hand |/' \
	    "$WORK/CLI.md"
	if ! "$MKREF" sync "$ROOT" "$WORK/CLI.md" --check 2>/dev/null; then
		ok "a block edited by hand fails the check"
	else
		not_ok "a block edited by hand fails the check"
	fi
	"$MKREF" sync "$ROOT" "$WORK/CLI.md"
	if cmp -s "$CLI_MD" "$WORK/CLI.md"; then ok "sync restores it"
	else not_ok "sync restores it"; fi
	# a block whose end was deleted: refused, nothing rewritten
	awk '/<!-- \/ref -->/ && !done { done = 1; next } { print }' \
	    "$CLI_MD" >"$WORK/unclosed.md"
	cp "$WORK/unclosed.md" "$WORK/unclosed.before"
	if ! "$MKREF" sync "$ROOT" "$WORK/unclosed.md" 2>/dev/null &&
	    cmp -s "$WORK/unclosed.md" "$WORK/unclosed.before"; then
		ok "an unclosed block is refused and the file left as it was"
	else
		not_ok "an unclosed block is refused and the file left as it was"
	fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
