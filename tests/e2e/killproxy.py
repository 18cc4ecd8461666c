#!/usr/bin/env python3
"""A kluis protocol relay (docs/PROTOCOL.md §1, §3) that kills the client
at a chosen request, for crash tests of the client: used as the
--server-command of a pipe: repository.

    killproxy.py --at KIND:N --pid-file F -- kluis-server serve --repo R

KIND is put-data, put-index, put-snapshot, put-lock, remove-data,
remove-index, remove-snapshot or remove-lock; N counts from 1.  When the
client sends its N-th request of that kind, the relay sends SIGKILL to the
process whose pid is in F (the client), and the request never reaches the
server, which then sees its input end.  Everything else is passed through
unchanged, both ways.  With --at none it only relays (and counts).  The
requests seen are appended to --log, one "KIND NAME" line each.

    killproxy.py --hold KIND:N:SECONDS --ready F -- kluis-server serve ...

holds the N-th request of that kind for SECONDS (touching F when the hold
begins) and then passes it on: the client is then busy at a known point,
with whatever locks it holds, for as long as a test needs.

    killproxy.py --drop KIND:N -- kluis-server serve ...

drops the connection at the N-th request of that kind (the relay exits:
the client sees its stream end, the server its input end).
"""
import argparse
import os
import signal
import struct
import subprocess
import sys
import threading
import time

FT = {1: "config", 2: "key", 3: "data", 4: "index", 5: "snapshot", 6: "lock"}
PUT, REMOVE = 0x10, 0x30


def read_exact(f, n):
    b = b""
    while len(b) < n:
        chunk = f.read(n - len(b))
        if not chunk:
            return None
        b += chunk
    return b


def request_kind(ftype, body):
    """'put-data' etc. for PUT and REMOVE frames, and the file name."""
    if ftype not in (PUT, REMOVE) or len(body) < 3:
        return None, None
    t = FT.get(body[0], str(body[0]))
    (nlen,) = struct.unpack("<H", body[1:3])
    name = body[3:3 + nlen].decode("ascii", "replace")
    return ("put-" if ftype == PUT else "remove-") + t, name


def kill_client(pid_file):
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError) as e:
        print("killproxy: cannot kill the client: %s" % e, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--at", default="none")
    ap.add_argument("--pid-file")
    ap.add_argument("--hold")
    ap.add_argument("--drop")
    ap.add_argument("--ready")
    ap.add_argument("--log")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    kind_at, n_at = None, 0
    if a.at != "none":
        kind_at, n = a.at.split(":")
        n_at = int(n)
    drop_kind, drop_n = None, 0
    if a.drop:
        drop_kind, n = a.drop.split(":")
        drop_n = int(n)
    hold_kind, hold_n, hold_s = None, 0, 0.0
    if a.hold:
        hold_kind, n, sec = a.hold.split(":")
        hold_n, hold_s = int(n), float(sec)
    srv = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def down():
        while True:
            b = srv.stdout.read1(65536)
            if not b:
                break
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()

    t = threading.Thread(target=down, daemon=True)
    t.start()
    counts = {}
    log = open(a.log, "a") if a.log else None
    inp = sys.stdin.buffer
    while True:
        hdr = read_exact(inp, 4)
        if hdr is None:
            break
        (length,) = struct.unpack("<I", hdr)
        rest = read_exact(inp, length)
        if rest is None:
            break
        kind, name = request_kind(rest[0], rest[5:])
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
            if log:
                log.write("%s %s\n" % (kind, name))
                log.flush()
            if kind == kind_at and counts[kind] == n_at:
                kill_client(a.pid_file)
                break
            if kind == drop_kind and counts[kind] == drop_n:
                os._exit(0)     # the connection drops: both ends see EOF
            if kind == hold_kind and counts[kind] == hold_n:
                if a.ready:
                    open(a.ready, "w").close()
                time.sleep(hold_s)
        srv.stdin.write(hdr + rest)
        srv.stdin.flush()
    try:
        srv.stdin.close()
    except OSError:
        pass
    srv.wait()
    t.join(timeout=5)


if __name__ == "__main__":
    main()
