#!/usr/bin/env python3
"""Compare two directory trees the way a backup restore must reproduce them.

usage: treecmp.py [--subtree REL] [--ignore REL]... [--no-owner] A B

Walks A and B without following symbolic links and prints one line per
difference: entry set, type, permission bits (incl. setuid/setgid/sticky),
uid, gid, size, content (BLAKE2b), symlink target, mtime in nanoseconds (for
every entry, directories and symlinks included), st_rdev of devices, extended
attributes (which include POSIX ACLs), sparse holes (every hole of A must be a
hole in B) and hard-link structure (paths grouped by inode must partition the
same way).  atime is never compared: reading a file changes it.

Exit status: 0 identical, 1 different, 2 usage or I/O error on the roots.
"""

import argparse
import errno
import hashlib
import os
import stat
import sys

SEEK_DATA = getattr(os, "SEEK_DATA", 3)
SEEK_HOLE = getattr(os, "SEEK_HOLE", 4)


def show(rel):
    """Printable form of a bytes path: non-UTF-8 bytes and controls escaped."""
    if not rel:
        return "."
    out = []
    for b in rel:
        if b < 0x20 or b >= 0x7F or b == 0x5C:
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def kind(st):
    m = st.st_mode
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "chr"),
                       (stat.S_ISBLK, "blk"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(m):
            return name
    return "unknown"


def read_xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return {}
        raise
    out = {}
    for n in names:
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            if e.errno != errno.ENODATA:
                raise
    return out


def collect(root, subtree, ignore):
    """Maps relative bytes path -> info dict; content not yet hashed."""
    entries = {}
    start = os.path.join(root, subtree) if subtree else root

    def visit(path, rel):
        st = os.lstat(path)
        info = {
            "st": st,
            "kind": kind(st),
            "xattrs": read_xattrs(path),
        }
        if info["kind"] == "symlink":
            info["target"] = os.readlink(path)
        entries[rel] = info
        if info["kind"] == "dir":
            for name in sorted(os.listdir(path)):
                crel = os.path.join(rel, name) if rel else name
                if crel in ignore:
                    continue
                visit(os.path.join(path, name), crel)

    visit(start, b"")
    return entries


def holes(path, size):
    """List of (start, end) hole ranges, via SEEK_HOLE/SEEK_DATA."""
    out = []
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        pos = 0
        while pos < size:
            try:
                h = os.lseek(fd, pos, SEEK_HOLE)
            except OSError:
                return []
            if h >= size:
                break
            try:
                d = os.lseek(fd, h, SEEK_DATA)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                d = size
            out.append((h, d))
            pos = d
    finally:
        os.close(fd)
    return out


def covered(hole, ranges):
    """True if [hole) lies inside the union of ranges (sorted, disjoint)."""
    s, e = hole
    for rs, re_ in ranges:
        if rs <= s < re_:
            s = re_
            if s >= e:
                return True
    return s >= e


def digest(path):
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def link_groups(entries):
    groups = {}
    for rel, info in entries.items():
        if info["kind"] == "dir":
            continue
        st = info["st"]
        groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def compare(a_root, b_root, a, b, opts):
    diffs = []

    def diff(rel, what):
        diffs.append("%s: %s" % (show(rel), what))

    for rel in sorted(set(a) - set(b)):
        diff(rel, "only in A (%s)" % a[rel]["kind"])
    for rel in sorted(set(b) - set(a)):
        diff(rel, "only in B (%s)" % b[rel]["kind"])
    common = sorted(set(a) & set(b))
    for rel in common:
        ia, ib = a[rel], b[rel]
        sa, sb = ia["st"], ib["st"]
        if ia["kind"] != ib["kind"]:
            diff(rel, "type %s vs %s" % (ia["kind"], ib["kind"]))
            continue
        pa, pb = stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)
        if pa != pb and ia["kind"] != "symlink":
            diff(rel, "mode %04o vs %04o" % (pa, pb))
        if not opts.no_owner:
            if sa.st_uid != sb.st_uid:
                diff(rel, "uid %d vs %d" % (sa.st_uid, sb.st_uid))
            if sa.st_gid != sb.st_gid:
                diff(rel, "gid %d vs %d" % (sa.st_gid, sb.st_gid))
        if ia["kind"] in ("file", "symlink") and sa.st_size != sb.st_size:
            diff(rel, "size %d vs %d" % (sa.st_size, sb.st_size))
        if rel or not opts.no_root_mtime:
            if sa.st_mtime_ns != sb.st_mtime_ns:
                diff(rel, "mtime_ns %d vs %d" % (sa.st_mtime_ns,
                                                 sb.st_mtime_ns))
        if ia["kind"] in ("chr", "blk") and sa.st_rdev != sb.st_rdev:
            diff(rel, "rdev %d:%d vs %d:%d" % (
                os.major(sa.st_rdev), os.minor(sa.st_rdev),
                os.major(sb.st_rdev), os.minor(sb.st_rdev)))
        if ia["kind"] == "symlink" and ia["target"] != ib["target"]:
            diff(rel, "symlink target %s vs %s" % (show(ia["target"]),
                                                   show(ib["target"])))
        xa, xb = ia["xattrs"], ib["xattrs"]
        for n in sorted(set(xa) | set(xb)):
            if n not in xb:
                diff(rel, "xattr %s only in A" % n)
            elif n not in xa:
                diff(rel, "xattr %s only in B" % n)
            elif xa[n] != xb[n]:
                diff(rel, "xattr %s value %r vs %r" % (n, xa[n], xb[n]))
    # Content last: stat data above was all taken before any file was read.
    for rel in common:
        ia, ib = a[rel], b[rel]
        if ia["kind"] != "file" or ib["kind"] != "file":
            continue
        if ia["st"].st_size != ib["st"].st_size:
            continue
        pa = os.path.join(a_root, opts.subtree, rel) if rel else \
            os.path.join(a_root, opts.subtree)
        pb = os.path.join(b_root, opts.subtree, rel) if rel else \
            os.path.join(b_root, opts.subtree)
        ha, hb = holes(pa, ia["st"].st_size), holes(pb, ib["st"].st_size)
        for h in ha:
            if not covered(h, hb):
                diff(rel, "hole [%d, %d) of A is data in B" % h)
                break
        if digest(pa) != digest(pb):
            diff(rel, "content differs")
    ga, gb = link_groups(a), link_groups(b)
    for g in sorted(ga - gb, key=sorted):
        diffs.append("hard-link group only in A: %s" %
                     ", ".join(show(p) for p in sorted(g)))
    for g in sorted(gb - ga, key=sorted):
        diffs.append("hard-link group only in B: %s" %
                     ", ".join(show(p) for p in sorted(g)))
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--subtree", default="",
                    help="compare only A/REL against B/REL")
    ap.add_argument("--ignore", action="append", default=[],
                    help="skip this path (relative to the compared root)")
    ap.add_argument("--no-owner", action="store_true",
                    help="do not compare uid and gid")
    ap.add_argument("--no-root-mtime", action="store_true",
                    help="do not compare the mtime of the compared root")
    ap.add_argument("--skip-atime", action="store_true",
                    help="accepted for clarity; atime is never compared")
    opts = ap.parse_args()
    a_root, b_root = os.fsencode(opts.a), os.fsencode(opts.b)
    opts.subtree = os.fsencode(opts.subtree).strip(b"/")
    ignore = {os.fsencode(p).strip(b"/") for p in opts.ignore}
    try:
        a = collect(a_root, opts.subtree, ignore)
        b = collect(b_root, opts.subtree, ignore)
    except OSError as e:
        print("treecmp: %s" % e, file=sys.stderr)
        return 2
    diffs = compare(a_root, b_root, a, b, opts)
    for d in diffs:
        print(d)
    if diffs:
        print("treecmp: %d difference%s" % (len(diffs),
              "" if len(diffs) == 1 else "s"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
