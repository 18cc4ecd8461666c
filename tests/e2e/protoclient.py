#!/usr/bin/env python3
"""The client side of the kluis protocol (docs/PROTOCOL.md), for tests.

Runs --cmd (a shell command: `ssh ... root@127.0.0.1` or `kluis-server serve
--repo R`) and talks to it over its stdin/stdout.  Each positional argument
is one operation (split like a shell line); they run in order in one
session, after HELLO:

  hello                         only the greeting (always done first)
  put TYPE NAME FILE            upload FILE as NAME (NAME "auto": the
                                BLAKE2b-256 of FILE); --size N declares
                                another size than the file's
  get TYPE NAME [OUT]           download (to OUT, else prints size and hash)
  stat TYPE NAME
  list TYPE
  remove TYPE NAME
  bye
  raw TYPE BODYHEX              one frame of any type with any body
  frame LENGTH TYPE BODYHEX     one frame with a header length of your own
  bytes HEX                     raw bytes on the stream
  malformed KIND                a known bad request (see MALFORMED)
  put-partial TYPE NAME FILE N  PUT, N bytes of PUT_DATA, then the stream
                                is closed (a broken-off upload)
  put-hold TYPE NAME FILE S     PUT and all of its PUT_DATA, then S seconds
                                of silence, then PUT_END; prints
                                "END-SENT t=UNIX" (the time PUT_END left)
  expect-closed                 read: the server must close the stream

TYPE: config key data index snapshot lock, or a number.  Output: one line
per reply:
  HELLO_OK version=3 role=append-only server=...
  OK [size=N]
  DATA bytes=N blake2b=HEX | LIST n=N then "  NAME SIZE MTIME" lines
  (MTIME: the receive time the server reports, UTC seconds)
  ERR code=-8 KL_E_PERM message=...
  CLOSED (the server closed the stream)
and at the end "server-exit=N" when the command has exited (negative:
killed by that signal).  Exit status: 0 if every reply was a success,
1 if any was ERR, 2 if the stream broke unexpectedly, 3 usage.
"""
import argparse
import hashlib
import os
import shlex
import struct
import subprocess
import sys
import time

FT = {"config": 1, "key": 2, "data": 3, "index": 4, "snapshot": 5, "lock": 6}
MSG = {"HELLO": 0x01, "PUT": 0x10, "PUT_DATA": 0x11, "PUT_END": 0x12,
       "GET": 0x20, "STAT": 0x21, "LIST": 0x22, "REMOVE": 0x30, "BYE": 0x3f,
       "OK": 0x80, "HELLO_OK": 0x81, "DATA": 0x82, "END": 0x83, "ERR": 0xff}
MSGNAME = {v: k for k, v in MSG.items()}
ERRS = {0: "KL_OK", -1: "KL_E_NOMEM", -2: "KL_E_IO", -3: "KL_E_NOTFOUND",
        -4: "KL_E_CORRUPT", -5: "KL_E_INVAL", -6: "KL_E_EXISTS",
        -7: "KL_E_BADPASS", -8: "KL_E_PERM", -9: "KL_E_LOCKED",
        -10: "KL_E_UNSUPPORTED", -11: "KL_E_LIMIT", -12: "KL_E_NOSPACE",
        -13: "KL_E_PROTO", -14: "KL_E_CRYPTO", -15: "KL_E_CHANGED",
        -16: "KL_E_CONN", -17: "KL_E_HOSTKEY", -18: "KL_E_DENIED"}
ROLES = {0: "full", 1: "append-only", 2: "read-only"}
DATA_MAX = 1 << 20
BODY_MAX = DATA_MAX + 64
MAGIC = b"KLUISPRT"
VERSION = 3  # PROTOCOL.md §3 HELLO, §9

# name -> list of raw byte strings sent after HELLO (or instead of it).
MALFORMED = {
    "short-length": "a frame whose length field is 4 (< 5)",
    "huge-length": "a frame whose length field is 1 GiB",
    "over-limit": "a frame length of 1 MiB + 70 (just over the limit)",
    "bad-type": "a frame of type 0x55",
    "trailing": "STAT with a trailing byte after its body",
    "short-body": "STAT whose body ends inside the name",
    "name-dotdot": "STAT of data '../../config'",
    "name-slash": "STAT of data 'aa/bb...'",
    "name-upper": "STAT of a data name in upper case",
    "bad-ftype": "STAT of file type 99",
    "put-too-big": "PUT of 128 MiB + 1",
    "put-then-get": "PUT, then a GET before PUT_END",
    "data-without-put": "PUT_DATA with no PUT",
    "end-without-put": "PUT_END with no PUT",
    "put-overflow": "PUT of 10 bytes, then 11 bytes of PUT_DATA",
    "put-short": "PUT of 10 bytes, 5 bytes of PUT_DATA, PUT_END",
    "put-data-too-big": "PUT_DATA of 1 MiB + 1 bytes",
    "truncated": "a frame header promising 100 bytes, 10 sent, then EOF",
}


class Closed(Exception):
    pass


def str16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<H", len(b)) + b


def ftype(s):
    if s in FT:
        return FT[s]
    return int(s, 0)


def frame(t, rid, body, length=None):
    if length is None:
        length = 5 + len(body)
    return struct.pack("<IBI", length, t, rid) + body


def file_body(t, name, *nums):
    return bytes([t]) + str16(name) + b"".join(struct.pack("<Q", n)
                                               for n in nums)


class Session:
    def __init__(self, cmd, verbose=False):
        self.p = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self.rid = 0
        self.errors = 0
        self.broken = False
        self.closed = False
        self.verbose = verbose

    def send(self, data):
        try:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            self.broken = True

    def req(self, t, body):
        self.rid += 1
        self.send(frame(t, self.rid, body))
        return self.rid

    def read_exact(self, n):
        out = b""
        while len(out) < n:
            b = self.p.stdout.read(n - len(out))
            if not b:
                raise Closed()
            out += b
        return out

    def read_frame(self):
        hdr = self.read_exact(9)
        length, t, rid = struct.unpack("<IBI", hdr)
        if length < 5 or length > BODY_MAX + 5:
            raise SystemExit("protoclient: server sent a frame of length %d"
                             % length)
        return t, rid, self.read_exact(length - 5)

    def reply(self, rid):
        """Reads one reply frame; prints ERR; returns (type, body)."""
        t, r, body = self.read_frame()
        if r != rid:
            print("BADID got=%d want=%d type=%s" % (r, rid,
                                                   MSGNAME.get(t, hex(t))))
        if t == MSG["ERR"]:
            code, = struct.unpack("<i", body[:4])
            n, = struct.unpack("<H", body[4:6])
            msg = body[6:6 + n].decode("utf-8", "replace")
            print("ERR code=%d %s message=%s" % (code,
                                                 ERRS.get(code, "?"), msg))
            self.errors += 1
        return t, body

    def finish(self):
        try:
            self.p.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
            print("server did not exit within 30 s after the stream closed")
        print("server-exit=%d" % rc)
        return rc


def do_hello(s, repo, client, lo=VERSION, hi=VERSION, magic=MAGIC):
    rid = s.req(MSG["HELLO"], magic + struct.pack("<HH", lo, hi) +
                str16(repo) + str16(client))
    t, body = s.reply(rid)
    if t == MSG["HELLO_OK"]:
        ver, role = struct.unpack("<HB", body[:3])
        n, = struct.unpack("<H", body[3:5])
        print("HELLO_OK version=%d role=%s server=%s" % (
            ver, ROLES.get(role, role), body[5:5 + n].decode(errors="replace")))
        return True
    if t != MSG["ERR"]:
        print("UNEXPECTED %s" % MSGNAME.get(t, hex(t)))
        s.errors += 1
    return False


def put_frames(s, t, name, data, size=None):
    rid = s.req(MSG["PUT"], file_body(t, name, len(data) if size is None
                                      else size))
    for i in range(0, len(data), DATA_MAX):
        s.send(frame(MSG["PUT_DATA"], rid, data[i:i + DATA_MAX]))
    s.send(frame(MSG["PUT_END"], rid, b""))
    return rid


def simple_reply(s, rid):
    t, body = s.reply(rid)
    if t == MSG["OK"]:
        if len(body) == 8:
            print("OK size=%d" % struct.unpack("<Q", body)[0])
        else:
            print("OK")
    elif t != MSG["ERR"]:
        print("UNEXPECTED %s" % MSGNAME.get(t, hex(t)))
        s.errors += 1


def stream_reply(s, rid, listing, out=None):
    data = b""
    while True:
        t, body = s.reply(rid)
        if t == MSG["ERR"]:
            return
        if t == MSG["DATA"]:
            data += body
            continue
        if t == MSG["END"]:
            total, = struct.unpack("<Q", body)
            break
        print("UNEXPECTED %s" % MSGNAME.get(t, hex(t)))
        s.errors += 1
        return
    if listing:
        entries = []
        i = 0
        while i < len(data):
            n, = struct.unpack("<H", data[i:i + 2])
            name = data[i + 2:i + 2 + n].decode(errors="replace")
            size, mtime = struct.unpack("<Qq", data[i + 2 + n:i + 18 + n])
            entries.append((name, size, mtime))
            i += 18 + n
        print("LIST n=%d end=%d" % (len(entries), total))
        for name, size, mtime in sorted(entries):
            print("  %s %d %d" % (name, size, mtime))
    else:
        if out:
            with open(out, "wb") as f:
                f.write(data)
        print("DATA bytes=%d end=%d blake2b=%s" % (
            len(data), total, hashlib.blake2b(data, digest_size=32).hexdigest()))


def malformed(s, kind):
    """Sends a bad request; returns True when a reply is to be read."""
    s.rid += 1
    rid = s.rid
    name = "0" * 64
    if kind == "short-length":
        s.send(struct.pack("<IBI", 4, MSG["STAT"], rid))
    elif kind == "huge-length":
        s.send(struct.pack("<IBI", 1 << 30, MSG["PUT_DATA"], rid))
    elif kind == "over-limit":
        s.send(struct.pack("<IBI", BODY_MAX + 6, MSG["PUT_DATA"], rid))
    elif kind == "bad-type":
        s.send(frame(0x55, rid, b"\0" * 8))
    elif kind == "trailing":
        s.send(frame(MSG["STAT"], rid, file_body(3, name) + b"x"))
    elif kind == "short-body":
        s.send(frame(MSG["STAT"], rid, bytes([3]) + struct.pack("<H", 64) +
                     b"00"))
    elif kind == "name-dotdot":
        s.send(frame(MSG["STAT"], rid, file_body(3, "../../config")))
    elif kind == "name-slash":
        s.send(frame(MSG["STAT"], rid, file_body(3, "aa/" + "0" * 61)))
    elif kind == "name-upper":
        s.send(frame(MSG["STAT"], rid, file_body(3, "A" * 64)))
    elif kind == "bad-ftype":
        s.send(frame(MSG["STAT"], rid, file_body(99, name)))
    elif kind == "put-too-big":
        s.send(frame(MSG["PUT"], rid, file_body(3, name, (128 << 20) + 1)))
    elif kind == "put-then-get":
        s.send(frame(MSG["PUT"], rid, file_body(3, name, 10)))
        s.send(frame(MSG["GET"], rid, file_body(3, name, 0, 0, 100)))
    elif kind == "data-without-put":
        s.send(frame(MSG["PUT_DATA"], rid, b"hello"))
    elif kind == "end-without-put":
        s.send(frame(MSG["PUT_END"], rid, b""))
    elif kind == "put-overflow":
        s.send(frame(MSG["PUT"], rid, file_body(3, name, 10)))
        s.send(frame(MSG["PUT_DATA"], rid, b"x" * 11))
        s.send(frame(MSG["PUT_END"], rid, b""))
    elif kind == "put-short":
        s.send(frame(MSG["PUT"], rid, file_body(3, name, 10)))
        s.send(frame(MSG["PUT_DATA"], rid, b"x" * 5))
        s.send(frame(MSG["PUT_END"], rid, b""))
    elif kind == "put-data-too-big":
        s.send(frame(MSG["PUT"], rid, file_body(3, name, 2 << 20)))
        s.send(frame(MSG["PUT_DATA"], rid, b"x" * (DATA_MAX + 1)))
    elif kind == "truncated":
        s.send(struct.pack("<IBI", 100, MSG["STAT"], rid) + b"\0" * 5)
        s.p.stdin.close()
    else:
        raise SystemExit("protoclient: unknown malformed kind %r; known: %s"
                         % (kind, ", ".join(MALFORMED)))
    return rid


def run_op(s, args, a):
    op = args[0]
    if op == "hello":
        return
    if op == "put":
        t, name, path = ftype(args[1]), args[2], args[3]
        with open(path, "rb") as f:
            data = f.read()
        if name == "auto":
            name = hashlib.blake2b(data, digest_size=32).hexdigest()
        size = int(args[4]) if len(args) > 4 else None
        simple_reply(s, put_frames(s, t, name, data, size))
    elif op == "put-partial":
        t, name, path, n = ftype(args[1]), args[2], args[3], int(args[4])
        with open(path, "rb") as f:
            data = f.read()
        if name == "auto":
            name = hashlib.blake2b(data, digest_size=32).hexdigest()
        rid = s.req(MSG["PUT"], file_body(t, name, len(data)))
        for i in range(0, n, DATA_MAX):
            s.send(frame(MSG["PUT_DATA"], rid, data[i:min(n, i + DATA_MAX)]))
        s.p.stdin.close()
        print("SENT-PARTIAL %d of %d" % (n, len(data)))
    elif op == "put-hold":
        t, name, path, secs = ftype(args[1]), args[2], args[3], float(args[4])
        with open(path, "rb") as f:
            data = f.read()
        if name == "auto":
            name = hashlib.blake2b(data, digest_size=32).hexdigest()
        rid = s.req(MSG["PUT"], file_body(t, name, len(data)))
        for i in range(0, len(data), DATA_MAX):
            s.send(frame(MSG["PUT_DATA"], rid, data[i:i + DATA_MAX]))
        time.sleep(secs)
        print("END-SENT t=%d" % int(time.time()))
        s.send(frame(MSG["PUT_END"], rid, b""))
        simple_reply(s, rid)
    elif op == "get":
        rid = s.req(MSG["GET"], file_body(ftype(args[1]), args[2], 0, 0,
                                          BODY_MAX * 1024))
        stream_reply(s, rid, False, args[3] if len(args) > 3 else None)
    elif op == "stat":
        simple_reply(s, s.req(MSG["STAT"], file_body(ftype(args[1]),
                                                     args[2])))
    elif op == "list":
        rid = s.req(MSG["LIST"], bytes([ftype(args[1])]))
        stream_reply(s, rid, True)
    elif op == "remove":
        simple_reply(s, s.req(MSG["REMOVE"], file_body(ftype(args[1]),
                                                       args[2])))
    elif op == "bye":
        s.req(MSG["BYE"], b"")
    elif op == "raw":
        rid = s.req(int(args[1], 0), bytes.fromhex(args[2] if len(args) > 2
                                                   else ""))
        reply_any(s, rid)
    elif op == "frame":
        s.rid += 1
        s.send(frame(int(args[2], 0), s.rid, bytes.fromhex(args[3]),
                     int(args[1], 0)))
        reply_any(s, s.rid)
    elif op == "bytes":
        s.send(bytes.fromhex(args[1]))
    elif op == "malformed":
        rid = malformed(s, args[1])
        reply_any(s, rid)
    elif op == "expect-closed":
        try:
            t, r, body = s.read_frame()
            print("NOT-CLOSED got %s" % MSGNAME.get(t, hex(t)))
            s.errors += 1
        except Closed:
            print("CLOSED")
            s.closed = True
    else:
        raise SystemExit("protoclient: unknown operation %r" % op)


def reply_any(s, rid):
    """Prints whatever single reply comes (OK, ERR, ...)."""
    t, body = s.reply(rid)
    if t == MSG["OK"]:
        print("OK")
    elif t != MSG["ERR"]:
        print("REPLY %s bytes=%d" % (MSGNAME.get(t, hex(t)), len(body)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cmd", required=True, help="server command (shell)")
    ap.add_argument("--repo", default="", help="repository path in HELLO")
    ap.add_argument("--client", default="protoclient", help="client name")
    ap.add_argument("--no-hello", action="store_true",
                    help="do not send HELLO first")
    ap.add_argument("--hello-versions", default="%d:%d" % (VERSION, VERSION),
                    help="MIN:MAX")
    ap.add_argument("--hello-magic", default=MAGIC.decode())
    ap.add_argument("ops", nargs="*")
    a = ap.parse_args()
    # SIGPIPE stays ignored (Python's default): a server that closes the
    # stream before we are done writing is a BrokenPipeError that send()
    # notes, and the server's exit status is still reported.  With the
    # default action the write would kill this process first, at random.
    s = Session(a.cmd)
    status = 0
    try:
        if not a.no_hello:
            lo, hi = (int(x) for x in a.hello_versions.split(":"))
            if not do_hello(s, a.repo, a.client, lo, hi,
                            a.hello_magic.encode()):
                s.closed = False
                a.ops = [o for o in a.ops if o == "expect-closed"]
        for op in a.ops:
            if s.p.stdin.closed and op != "expect-closed":
                break
            run_op(s, shlex.split(op), a)
    except Closed:
        print("CLOSED")
        status = 2
    except BrokenPipeError:
        print("CLOSED (broken pipe)")
        status = 2
    if s.broken and status == 0:
        print("CLOSED (broken pipe)")
        status = 2
    s.finish()
    if status:
        return status
    return 1 if s.errors else 0


if __name__ == "__main__":
    sys.exit(main())
