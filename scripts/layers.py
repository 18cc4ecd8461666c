#!/usr/bin/env python3
"""The layer check (issue #12): the folders of kluis are its modules, and
their dependencies point down.  Fails (exit 1, one line per violation) when:

  - the rules table in docs/ARCHITECTURE.md (the ```layers block) has a
    cycle, names an unknown folder, or a product folder is missing from it;
  - a source or header of a folder includes a header of a folder the table
    does not let it use (or a folder-private header of another folder);
  - a CMake target of a folder links a kluis target of a folder it may not
    use;
  - the lowest layer (base) uses anything of the project;
  - kluis-server's link closure reaches crypto, catalog or format (the
    server holds no key and decodes no tree), whatever the table says;
  - with --build DIR: the built kluis-server defines a symbol of those
    folders or of SQLite.

usage: scripts/layers.py [--root DIR] [--build DIR]
"""
import os
import re
import subprocess
import sys

# Product folders that hold modules; everything else (tests, bench, docs,
# scripts, build trees) is outside the check.
SKIP = {"tests", "bench", "docs", "scripts", ".ci", ".git"}
# What the server must never link, whatever the table says.
SERVER = "repo-server"
SERVER_NEVER = {"crypto", "catalog", "format"}
SERVER_NEVER_SYMS = ("kl_aead_", "kl_tree_decode", "kl_cat_", "sqlite3_",
                     "kl_keys_", "kl_blob_decode")
LOWEST = "base"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
TARGET_RE = re.compile(r'add_(?:library|executable)\(\s*([A-Za-z0-9_-]+)')
LINK_RE = re.compile(r'target_link_libraries\(\s*([A-Za-z0-9_-]+)([^)]*)\)',
                     re.S)


def rules(root, errors):
    """The ```layers block of docs/ARCHITECTURE.md: folder -> may use."""
    path = os.path.join(root, "docs", "ARCHITECTURE.md")
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        errors.append("docs/ARCHITECTURE.md: %s" % e.strerror)
        return {}
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    if m is None:
        errors.append("docs/ARCHITECTURE.md: no ```layers block")
        return {}
    table = {}
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        uses = [u for u in line[1:] if u != "-"]
        table[line[0]] = set(uses)
    if not table:
        errors.append("docs/ARCHITECTURE.md: the ```layers block has no "
                      "rows")
    return table


def folders(root):
    out = []
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if (name in SKIP or name.startswith(".") or name.startswith("build")
                or not os.path.isfile(os.path.join(p, "CMakeLists.txt"))):
            continue
        out.append(name)
    return out


def sources(root, folder):
    for dirpath, _, files in os.walk(os.path.join(root, folder)):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(dirpath, f)


def closure(table, start):
    seen, todo = set(), [start]
    while todo:
        for u in table.get(todo.pop(), ()):
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return seen


def cycle(table):
    """One cycle of the table as a list of folders, or None."""
    state = {}

    def visit(n, stack):
        state[n] = 1
        stack.append(n)
        for u in sorted(table.get(n, ())):
            if state.get(u) == 1:
                return stack[stack.index(u):] + [u]
            if state.get(u) is None:
                c = visit(u, stack)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(table):
        if state.get(n) is None:
            c = visit(n, [])
            if c:
                return c
    return None


def check_table(table, found, errors):
    for f in found:
        if f not in table:
            errors.append("docs/ARCHITECTURE.md: folder %s/ is not in the "
                          "layers table" % f)
    for f, uses in sorted(table.items()):
        if f not in found:
            errors.append("docs/ARCHITECTURE.md: layers table names %s/, "
                          "which is not a module folder" % f)
        for u in sorted(uses - set(table)):
            errors.append("docs/ARCHITECTURE.md: %s/ may use unknown %s/"
                          % (f, u))
    c = cycle(table)
    if c:
        errors.append("docs/ARCHITECTURE.md: dependency cycle %s"
                      % " -> ".join(c))
    if table.get(LOWEST):
        errors.append("docs/ARCHITECTURE.md: %s/ is the lowest layer and "
                      "may use nothing (it lists %s)"
                      % (LOWEST, " ".join(sorted(table[LOWEST]))))
    bad = closure(table, SERVER) & SERVER_NEVER
    if bad:
        errors.append("docs/ARCHITECTURE.md: %s/ would reach %s (the "
                      "server links no crypto, catalog or format)"
                      % (SERVER, " ".join(sorted(bad))))


def header_owners(root, found):
    """'kluis/x.h' -> folder for every public header."""
    owners = {}
    for f in found:
        inc = os.path.join(root, f, "include", "kluis")
        if os.path.isdir(inc):
            for h in os.listdir(inc):
                owners["kluis/" + h] = f
    return owners


def check_includes(root, found, table, owners, errors):
    for f in found:
        allowed = table.get(f, set()) | {f}
        for path in sources(root, f):
            rel = os.path.relpath(path, root)
            text = open(path, encoding="utf-8", errors="replace").read()
            for m in INCLUDE_RE.finditer(text):
                h = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                if ".." in h.split("/"):
                    errors.append("%s:%d: includes \"%s\" by a relative "
                                  "path out of its folder" % (rel, line, h))
                    continue
                owner = owners.get(h)
                if owner is None:
                    local = os.path.join(os.path.dirname(path), h)
                    if os.path.exists(local) or os.path.exists(
                            os.path.join(root, f, h)):
                        continue
                    errors.append("%s:%d: includes \"%s\", which no module "
                                  "folder owns" % (rel, line, h))
                elif owner not in allowed:
                    errors.append("%s:%d: includes \"%s\" of %s/, which "
                                  "%s/ may not use" % (rel, line, h, owner,
                                                       f))


def cmake_targets(root, found):
    """target -> folder, and [(folder, target, [linked])]."""
    owner, links = {}, []
    for f in found:
        text = open(os.path.join(root, f, "CMakeLists.txt"),
                    encoding="utf-8").read()
        text = re.sub(r"#.*", "", text)
        for m in TARGET_RE.finditer(text):
            owner[m.group(1)] = f
        for m in LINK_RE.finditer(text):
            linked = [w for w in m.group(2).split()
                      if w not in ("PUBLIC", "PRIVATE", "INTERFACE")]
            links.append((f, m.group(1), linked))
    return owner, links


def check_links(found, table, owner, links, errors):
    graph = {}
    for f, target, linked in links:
        allowed = table.get(f, set()) | {f}
        for l in linked:
            lf = owner.get(l)
            if lf is None:
                continue	# a system library or kl_warnings
            graph.setdefault(target, set()).add(l)
            if lf not in allowed:
                errors.append("%s/CMakeLists.txt: %s links %s of %s/, "
                              "which %s/ may not use" % (f, target, l, lf, f))
    for target, f in owner.items():
        if f != SERVER:
            continue
        reach = {owner[t] for t in closure(graph, target)}
        for bad in sorted(reach & SERVER_NEVER):
            errors.append("%s/CMakeLists.txt: %s reaches %s/ through its "
                          "links" % (f, target, bad))


def check_binary(build, errors):
    exe = os.path.join(build, SERVER, "kluis-server")
    try:
        out = subprocess.run(["nm", "--defined-only", exe], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        errors.append("%s: cannot list its symbols (%s)" % (exe, e))
        return
    syms = [line.split()[-1] for line in out.splitlines() if line.split()]
    if not any(s.startswith("kl_store_") for s in syms):
        errors.append("%s: no kl_store_ symbol (stripped?): its links "
                      "cannot be checked" % exe)
    for sym in syms:
        if sym.startswith(SERVER_NEVER_SYMS):
            errors.append("%s defines %s: the server links code it must "
                          "not" % (exe, sym))


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = None
    i = 1
    while i < len(argv):
        if argv[i] == "--root" and i + 1 < len(argv):
            root = argv[i + 1]
            i += 2
        elif argv[i] == "--build" and i + 1 < len(argv):
            build = argv[i + 1]
            i += 2
        else:
            sys.stderr.write(__doc__)
            return 2
    errors = []
    found = folders(root)
    table = rules(root, errors)
    if table:
        check_table(table, found, errors)
        owners = header_owners(root, found)
        check_includes(root, found, table, owners, errors)
        owner, links = cmake_targets(root, found)
        check_links(found, table, owner, links, errors)
    if build is not None:
        check_binary(build, errors)
    for e in errors:
        print("layers: " + e)
    if errors:
        print("layers: %d violation%s (docs/ARCHITECTURE.md, \"Layers\")"
              % (len(errors), "" if len(errors) == 1 else "s"))
        return 1
    print("layers: %d folders, dependencies point down" % len(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
