#!/usr/bin/env bash
# End-to-end metadata fidelity (docs/FORMAT.md §11): a crafted tree holding
# every kind of entry and metadata kluis keeps is backed up and restored, and
# treecmp.py must find the restored tree identical.  Needs root (mknod, chown).
#
# usage: fidelity.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: fidelity.sh KLUIS [KLUIS_SERVER]}
. "$(dirname "$0")/lib.sh"
e2e_init fidelity

if [ "$(id -u)" -ne 0 ]; then
	echo "fidelity.sh needs root (mknod, chown); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi

SRC=$WORK/src
LONGNAME=$(printf 'n%.0s' $(seq 255))
BADNAME=$'\xff\xfe'
NLNAME=$'new\nline'

build_tree() {
	mkdir -p "$SRC"
	cd "$SRC" || exit 1

	# Regular files.
	: >empty
	printf 'small\n' >small
	head -c 3145728 /dev/urandom >random3m
	head -c 4096 /dev/urandom >"$WORK/block"
	for _ in $(seq 1000); do cat "$WORK/block"; done >repeated
	rm -f "$WORK/block"

	# Directory modes.
	mkdir d0700 d0755 d1777 dsetgid
	chmod 0700 d0700
	chmod 0755 d0755
	chmod 1777 d1777
	chmod 2775 dsetgid
	echo in >d0700/inner
	echo sticky >d1777/f

	# Special file modes and owners (chown clears setuid: chown first).
	echo suid >suid; chmod 4755 suid
	echo sgid >sgid; chmod 2711 sgid
	echo sticky >stickyfile; chmod 1644 stickyfile
	echo odd >oddmode; chmod 0421 oddmode
	echo other >owned; chown 1234:5678 owned; chmod 0640 owned
	echo nopw >nopasswd; chown 43210:43211 nopasswd
	echo suidother >suidother; chown 1234:5678 suidother
	chmod 6750 suidother
	mkdir ownerdir; chown 1234:5678 ownerdir
	mkdir d0500 d0000
	echo ro >d0500/inner; mkdir d0500/sub
	echo none >d0000/inner
	chmod 0500 d0500; chmod 0000 d0000
	echo zero >mode0000; chmod 0000 mode0000

	# A 200 MiB sparse file with a few bytes at several offsets and a
	# trailing hole.
	truncate -s 200M sparse
	for off in 0 4096 52428800 104857601 209715100; do
		printf 'data@%s' "$off" | dd of=sparse bs=1 seek="$off" \
		    conv=notrunc status=none
	done
	truncate -s 20M sparse_tailhole
	printf 'head' | dd of=sparse_tailhole conv=notrunc status=none

	# Hard links: 3 names across directories, and a pair.
	mkdir links links/a links/b
	echo linked >links/one
	ln links/one links/a/two
	ln links/one links/b/three
	echo pair >links/p1
	ln links/p1 links/a/p2

	# Symbolic links.
	mkdir symlinks
	ln -s ../small symlinks/rel
	ln -s /etc/hostname symlinks/abs
	ln -s does/not/exist symlinks/dangling
	ln -s ../d0755 symlinks/todir
	ln -s "$LONGNAME" symlinks/tolong

	# Special files.
	mkdir special
	mkfifo special/fifo
	mknod special/null c 1 3
	mknod special/loop200 b 7 200
	ln special/fifo special/fifo-hardlink
	ln -s target-of-linked special/symlink
	ln special/symlink special/symlink-hardlink
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.close()' special/sock

	# Extended attributes and ACLs.
	mkdir xattr
	echo x >xattr/f
	setfattr -n user.x -v hello xattr/f
	setfattr -n user.bin -v 0x00ff00fe xattr/f
	setfattr -n user.empty xattr/f
	setfattr -n trusted.t -v root-only xattr/f
	setfattr -n user.dir -v yes xattr
	ln xattr/f xattr/f-hardlink
	echo acl >xattr/acl
	setfacl -m u:1234:rwx,g:5678:r xattr/acl
	head -c 3000 /dev/urandom >"$WORK/bigval"
	setfattr -n user.big -v "0x$(od -An -tx1 -v "$WORK/bigval" |
	    tr -d ' \n')" xattr/acl
	rm -f "$WORK/bigval"
	mkdir xattr/defacl
	setfacl -m u:1234:rwx xattr/defacl
	setfacl -d -m u:1234:rx,g::r xattr/defacl
	echo inherits >xattr/defacl/child

	# Awkward names.
	mkdir names
	echo bad >"names/$BADNAME"
	echo nl >"names/$NLNAME"
	echo sp >"names/with space"
	echo dash >names/-dash
	echo long >"names/$LONGNAME"
	echo star >'names/*?[x]'
	echo utf >'names/ünïcødé'
	mkdir "names/dir $BADNAME"
	echo inner >"names/dir $BADNAME/f"

	# A deep path (about 1.3 KiB long).
	local deep=deep i
	for i in $(seq 120); do deep=$deep/d$(printf '%08d' "$i"); done
	mkdir -p "$deep"
	echo bottom >"$deep/bottom"

	# A subdirectory for the --include test.
	mkdir -p inc/sub/subsub inc/other
	echo a >inc/sub/a
	echo b >inc/sub/subsub/b
	echo c >inc/other/c

	# Nanosecond mtimes on everything (symlinks too), then directories
	# bottom-up so that later changes do not disturb them.
	find . -depth ! -type d -print0 | xargs -0 touch -h \
	    -d '2021-03-04 05:06:07.123456789'
	touch -d '1969-07-20 20:17:40.5' small
	touch -d '2038-01-19 03:14:08.999999999' empty
	touch -h -d '2001-02-03 04:05:06.000000001' symlinks/rel
	touch -d '2019-12-31 23:59:59.987654321' random3m
	find . -depth -type d -print0 | xargs -0 touch -d \
	    '2022-02-02 02:02:02.202202202'
	cd "$WORK" || exit 1
}

build_tree

expect_exit 0 k init --kdf interactive
expect_exit 0 k backup "$SRC" --json
rdir=$WORK/out
E2E_WHAT="restore the whole snapshot into an empty dir" \
    expect_exit 0 k restore latest --target "$rdir"
treecmp "restored tree is identical (all metadata)" "$SRC" "$rdir$SRC" \
    --ignore special/fifo-hardlink --ignore special/symlink-hardlink
# Hard links between non-regular files (FORMAT.md §11 link group applies to
# every entry type), kept apart so that the test above stays meaningful.
treecmp "hard-linked FIFOs and symlinks stay hard-linked" "$SRC" \
    "$rdir$SRC" --subtree special
treecmp "sparse holes are restored as holes" "$SRC" "$rdir$SRC" \
    --subtree sparse

# ls --long shows the special names (escaped: docs/CLI.md "Names on the
# terminal") and metadata.
expect_exit 0 k ls latest "$SRC" --long
for n in '\xff\xfe' 'new\x0aline' "with space" "/-dash" "$LONGNAME" "d1777" \
    'ünïcødé'; do
	if grep -aqF -- "$n" "$OUT"; then
		ok "ls --long lists $(printf '%q' "$n" | cut -c1-40)"
	else
		not_ok "ls --long lists $(printf '%q' "$n" | cut -c1-40)"
	fi
done
check "ls --long shows the setuid mode" grep -aqE '^-rwsr-xr-x .*/suid$' "$OUT"
check "ls --long shows the sticky dir" grep -aqE '^drwxrwxrwt .*/d1777$' "$OUT"
check "ls --long shows the symlink target" \
    grep -aqF "symlinks/abs -> /etc/hostname" "$OUT"
check "ls --long shows the sparse file size" \
    grep -aqE ' 209715200 .*/sparse$' "$OUT"
expect_exit 0 k ls latest "$SRC/names" --json
check "ls --json is valid JSON per line, with the newline name" python3 -c '
import json, sys
paths = [json.loads(l)["path"] for l in open(sys.argv[1], encoding="utf-8")]
assert any(p.endswith("/new\nline") for p in paths), paths
assert any(p.endswith("/\u00ff\u00fe") for p in paths), paths
' "$OUT"

# --include of one subdirectory restores only that (and its ancestors).
rinc=$WORK/out-inc
E2E_WHAT="restore --include one subdirectory" \
    expect_exit 0 k restore latest --target "$rinc" --include "$SRC/inc/sub"
treecmp "included subdirectory is identical" "$SRC" "$rinc$SRC" \
    --subtree inc/sub
got=$(cd "$rinc$SRC" 2>/dev/null && find . | LC_ALL=C sort | tr '\n' ' ')
want=". ./inc ./inc/sub ./inc/sub/a ./inc/sub/subsub ./inc/sub/subsub/b "
if [ "$got" = "$want" ]; then
	ok "--include restores nothing outside the subdirectory"
else
	not_ok "--include restores nothing outside the subdirectory: got '$got'"
fi

# --include of a single file whose hard-link partner is outside it.
rone=$WORK/out-one
E2E_WHAT="restore --include a hard-linked file alone" \
    expect_exit 0 k restore latest --target "$rone" \
    --include "$SRC/links/a/two"
check "a lone hard-linked file is restored with its content" \
    cmp -s "$SRC/links/one" "$rone$SRC/links/a/two"

e2e_finish
