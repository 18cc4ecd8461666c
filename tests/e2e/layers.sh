#!/usr/bin/env bash
# The layer check (scripts/layers.py, issue #12): the real tree and the
# built kluis-server pass it, and every rule fails when a copy of the tree
# breaks it - a forbidden include, a forbidden link, a cycle, the lowest
# layer using something, the server reaching crypto, a folder missing from
# the table, a server binary with a key's code in it.
# usage: layers.sh SOURCE_DIR BUILD_DIR KLUIS
set -u
SRC=$1
BUILD=$2
KLUIS=$3
. "$(dirname "$0")/lib.sh"
e2e_init layers
T=$WORK
LAYERS=$SRC/scripts/layers.py

E2E_WHAT="the tree as it is" expect_exit 0 python3 "$LAYERS" --root "$SRC"
E2E_WHAT="the built kluis-server" expect_exit 0 python3 "$LAYERS" \
	--root "$SRC" --build "$BUILD"

# fresh COPY: the files the check reads, nothing else
fresh() {
	rm -rf "$T/tree"
	mkdir -p "$T/tree/docs"
	cp "$SRC/docs/ARCHITECTURE.md" "$T/tree/docs/"
	(cd "$SRC" && find . -path ./tests -prune -o -path ./bench -prune -o \
	    -path './build*' -prune -o -path ./.git -prune -o \
	    \( -name '*.c' -o -name '*.h' -o -name CMakeLists.txt \) -print0 |
	    xargs -0 cp --parents -t "$T/tree")
}

# broken NAME MESSAGE: the copy fails the check with MESSAGE on stdout
broken() {
	E2E_WHAT=$1 expect_exit 1 python3 "$LAYERS" --root "$T/tree"
	expect_stdout_contains "$2" "$1"
}

fresh
E2E_WHAT="the copy passes as the tree does" expect_exit 0 \
	python3 "$LAYERS" --root "$T/tree"

# the server's store including the catalog
sed -i 's|#include "kluis/layout.h"|&\n#include "kluis/catalog.h"|' \
	"$T/tree/store/store.c"
broken "store includes the catalog" \
	'includes "kluis/catalog.h" of catalog/, which store/ may not use'
expect_stdout_contains "layers: store/store.c:"

# the lowest layer using something of kluis
fresh
sed -i 's|#include "kluis/err.h"|&\n#include "kluis/layout.h"|' \
	"$T/tree/base/err.c"
broken "base includes layout" 'which base/ may not use'

# a repository-access header pulling in restore-tools
fresh
sed -i 's|#include "kluis/hash.h"|&\n#include "kluis/restore.h"|' \
	"$T/tree/repo/include/kluis/repo.h"
broken "repo.h includes restore.h" \
	'includes "kluis/restore.h" of restore-tools/, which repo/ may not use'

# a link the table forbids, and the server reaching crypto through it
fresh
sed -i 's|target_link_libraries(kl_serve PUBLIC kl_store|& kl_crypto|' \
	"$T/tree/repo-server/CMakeLists.txt"
broken "kl_serve links kl_crypto" \
	'kl_serve links kl_crypto of crypto/, which repo-server/ may not use'
expect_stdout_contains "kluis-server reaches crypto/ through its links"

# a cycle in the table
fresh
sed -i 's|^repo            catalog|repo            restore-tools catalog|' \
	"$T/tree/docs/ARCHITECTURE.md"
broken "a cycle through repo and restore-tools" 'dependency cycle'

# the table letting the server use the catalog: refused whatever it says
fresh
sed -i 's|^repo-server     store|repo-server     catalog store|' \
	"$T/tree/docs/ARCHITECTURE.md"
broken "the table lets the server use the catalog" \
	'repo-server/ would reach catalog format'

# a relative include out of the folder, around the rules
fresh
sed -i 's|#include "kluis/layout.h"|&\n#include "../catalog/catalog_internal.h"|' \
	"$T/tree/store/store.c"
broken "a relative include out of the folder" 'by a relative path out of its folder'

# a table with no rows checks nothing: refused
fresh
python3 - "$T/tree/docs/ARCHITECTURE.md" <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"```layers\n.*?```", "```layers\n# nothing\n```", s, flags=re.S)
open(p, "w").write(s)
EOF
broken "an empty layers table" 'has no rows'

# base given a dependency in the table
fresh
sed -i 's|^base            -|base            layout|' \
	"$T/tree/docs/ARCHITECTURE.md"
broken "the table gives base a dependency" 'base/ is the lowest layer'

# a new module folder the table does not know
fresh
mkdir -p "$T/tree/replica"
echo 'add_library(kl_replica STATIC replica.c)' \
	>"$T/tree/replica/CMakeLists.txt"
broken "a folder missing from the table" \
	'folder replica/ is not in the layers table'

# a server binary with a key's code: the kluis program in its place
mkdir -p "$T/build/repo-server"
cp "$KLUIS" "$T/build/repo-server/kluis-server"
E2E_WHAT="a server binary with crypto in it" expect_exit 1 \
	python3 "$LAYERS" --root "$SRC" --build "$T/build"
expect_stdout_contains "defines kl_aead_"

# a stripped server binary cannot be checked: refused, not passed
cp "$BUILD/repo-server/kluis-server" "$T/build/repo-server/kluis-server"
strip "$T/build/repo-server/kluis-server"
E2E_WHAT="a stripped server binary" expect_exit 1 \
	python3 "$LAYERS" --root "$SRC" --build "$T/build"
expect_stdout_contains "stripped?"

e2e_finish
