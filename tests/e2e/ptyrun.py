#!/usr/bin/env python3
"""Runs a command with a pseudo-terminal as its controlling terminal.

usage: ptyrun.py [--answer REGEX TEXT]... [--transcript FILE]
                 [--timeout S] [--stdin-tty] -- CMD [ARGS...]

The command gets a new session whose controlling terminal (/dev/tty) is a
pty; its stdin is /dev/null (with --stdin-tty: the pty too) and its stdout
and stderr are this script's, so
whatever it reads from the terminal comes from here alone.  Each --answer,
in order, waits until REGEX matches what the command wrote to the terminal
since the previous answer, then types TEXT and a newline.  Everything the
command wrote to the terminal goes to --transcript.  Exits with the
command's exit status (128 + N for a signal); 124 if --timeout ran out
(the command is killed).
"""
import argparse
import fcntl
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--answer", nargs=2, action="append", default=[],
                    metavar=("REGEX", "TEXT"))
    ap.add_argument("--transcript")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--stdin-tty", action="store_true")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")

    master, slave = os.openpty()

    def child_setup():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(cmd, stdin=slave if a.stdin_tty else
                         subprocess.DEVNULL,
                         preexec_fn=child_setup, pass_fds=(slave,),
                         close_fds=True)
    os.close(slave)
    answers = [(re.compile(r), t) for r, t in a.answer]
    seen = b""
    log = b""
    deadline = time.monotonic() + a.timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            p.kill()
            break
        r, _, _ = select.select([master], [], [], min(left, 0.2))
        if r:
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""  # EIO: every slave fd is closed
            if not data:
                if p.poll() is not None:
                    break
                time.sleep(0.05)
                continue
            seen += data
            log += data
            if answers and answers[0][0].search(
                    seen.decode("utf-8", "replace")):
                os.write(master, answers[0][1].encode() + b"\n")
                answers.pop(0)
                seen = b""
        elif p.poll() is not None:
            break
    rc = p.wait()
    while not timed_out and select.select([master], [], [], 0.1)[0]:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        log += data
    os.close(master)
    if a.transcript:
        with open(a.transcript, "wb") as f:
            f.write(log)
    if timed_out:
        return 124
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
