#!/usr/bin/env bash
# Passphrase sources (docs/CLI.md "Passphrases"): --password-file,
# KLUIS_PASSWORD_COMMAND and the terminal prompt read with read(2) straight
# into secure memory (issue #10 finding 6).  What can be seen from outside
# is the behaviour: one line with or without its line end, CRLF, the
# 4096-byte limit, empty passphrases, more than one line, a NUL byte,
# commands that fail, are killed, print nothing or never stop, files that
# are pipes, and prompts (echo off, twice for a new passphrase).
#
# usage: passphrase.sh KLUIS
KLUIS=${1:?usage: passphrase.sh KLUIS}
. "$(dirname "$0")/lib.sh"
e2e_init passphrase
PTYRUN="$E2E_DIR/ptyrun.py"

E2E_WHAT="init" expect_exit 0 k init --kdf interactive

# pf CONTENT-PRINTF-FORMAT: writes $WORK/pf with printf's interpretation.
pf() {
	printf "$1" >"$WORK/pf"
}

# with_file WHAT CODE: snapshots with --password-file $WORK/pf.
with_file() {
	E2E_WHAT="$1" expect_exit "$2" "$KLUIS" -r "$REPO" \
	    --password-file "$WORK/pf" snapshots
}

# with_cmd WHAT CODE CMD: snapshots with KLUIS_PASSWORD_COMMAND=CMD.
with_cmd() {
	E2E_WHAT="$1" expect_exit "$2" env KLUIS_PASSWORD_COMMAND="$3" \
	    timeout 30 "$KLUIS" -r "$REPO" snapshots
}

PASS="correct horse battery staple"

# ---------------------------------------------------------------------------
echo "# --- --password-file"
pf "$PASS\n"
with_file "a passphrase file with its newline" 0
pf "$PASS"
with_file "a passphrase file without a newline" 0
pf "$PASS\r\n"
with_file "a passphrase file with CRLF" 0
pf "$PASS\n\n\r\n"
with_file "several line ends at the end are all removed" 0
pf " $PASS\n"
with_file "a leading space is part of the passphrase" 12
pf "$PASS\nsecond line\n"
with_file "two lines are refused" 1
expect_stderr_contains "more than one line" "the message says why"
pf "correct\0horse\n"
with_file "a NUL byte is refused" 1
: >"$WORK/pf"
with_file "an empty file: the empty passphrase is wrong" 12
E2E_WHAT="a pipe as the passphrase file" expect_exit 0 \
    "$KLUIS" -r "$REPO" --password-file <(printf '%s\n' "$PASS") snapshots
E2E_WHAT="a missing passphrase file" expect_exit 1 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/none" snapshots
expect_stderr_contains "$WORK/none" "the missing file is named"

# The limit: 4096 bytes, line end included.
LONG=$(head -c 4095 /dev/zero | tr '\0' 'p')
printf '%s\n' "$LONG" >"$WORK/long4096"
E2E_WHAT="key add with a 4095-byte passphrase (4096 bytes with its newline)" \
    expect_exit 0 k key add --new-password-file "$WORK/long4096" \
    --kdf interactive
E2E_WHAT="4096 bytes with the newline open" expect_exit 0 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/long4096" snapshots
printf '%sp\n' "$LONG" >"$WORK/long4097"
E2E_WHAT="4097 bytes are too long" expect_exit 1 \
    "$KLUIS" -r "$REPO" --password-file "$WORK/long4097" snapshots
expect_stderr_contains "longer than 4096 bytes"
head -c 100000000 /dev/zero >"$WORK/huge"
E2E_WHAT="a 100 MB file is refused after 4097 bytes" expect_exit 1 \
    timeout 30 "$KLUIS" -r "$REPO" --password-file "$WORK/huge" snapshots
expect_stderr_contains "longer than 4096 bytes"
rm -f "$WORK/huge"

# ---------------------------------------------------------------------------
echo "# --- KLUIS_PASSWORD_COMMAND"
with_cmd "a command's output with its newline" 0 "echo '$PASS'"
with_cmd "a command's output without a newline" 0 "printf '%s' '$PASS'"
with_cmd "a command's output with CRLF" 0 "printf '%s\r\n' '$PASS'"
with_cmd "a command that prints nothing: wrong passphrase" 12 "true"
with_cmd "a command that fails" 1 "echo '$PASS'; exit 3"
expect_stderr_contains "exited with status 3"
expect_stderr_contains "KLUIS_PASSWORD_COMMAND" "the source is named"
with_cmd "a command that is killed" 1 "echo '$PASS'; kill -9 \$\$"
expect_stderr_contains "killed by signal 9"
with_cmd "a command whose output has two lines" 1 "printf 'a\nb\n'"
expect_stderr_contains "more than one line"
with_cmd "a 4096-byte output is read whole" 0 "cat '$WORK/long4096'"
with_cmd "a 4097-byte output is too long" 1 "cat '$WORK/long4097'"
expect_stderr_contains "longer than 4096 bytes"
with_cmd "a command that never stops writing is stopped" 1 "yes"
expect_stderr_contains "longer than 4096 bytes"
with_cmd "the command's stderr is its own" 0 \
    "echo note >&2; echo '$PASS'"
check "the command's stderr reaches the terminal" grep -q '^note$' "$ERR"
E2E_WHAT="--password-file wins over the command" expect_exit 0 \
    env KLUIS_PASSWORD_COMMAND="false" "$KLUIS" -r "$REPO" \
    --password-file "$PW" snapshots

# ---------------------------------------------------------------------------
echo "# --- the terminal prompt"
E2E_WHAT="the prompt" expect_exit 0 python3 "$PTYRUN" --stdin-tty \
    --transcript "$WORK/tty1" --answer "Enter repository passphrase: " \
    "$PASS" -- "$KLUIS" -r "$REPO" snapshots
check "the passphrase is not echoed" \
    python3 -c 'import sys; sys.exit(sys.argv[2].encode() in
open(sys.argv[1], "rb").read())' "$WORK/tty1" "$PASS"
E2E_WHAT="a wrong passphrase at the prompt" expect_exit 12 \
    python3 "$PTYRUN" --stdin-tty \
    --answer "Enter repository passphrase: " "wrong" -- \
    "$KLUIS" -r "$REPO" snapshots
E2E_WHAT="init: two different entries" expect_exit 1 \
    python3 "$PTYRUN" --stdin-tty \
    --answer "Enter new repository passphrase: " "one" \
    --answer "Repeat new repository passphrase: " "two" -- \
    "$KLUIS" -r "$WORK/repo2" init --kdf interactive
expect_stderr_contains "the two entries differ"
E2E_WHAT="init: an empty passphrase is refused" expect_exit 1 \
    python3 "$PTYRUN" --stdin-tty \
    --answer "Enter new repository passphrase: " "" \
    --answer "Repeat new repository passphrase: " "" -- \
    "$KLUIS" -r "$WORK/repo3" init --kdf interactive
expect_stderr_contains "is empty: refusing it"
E2E_WHAT="init: the same passphrase twice" expect_exit 0 \
    python3 "$PTYRUN" --stdin-tty \
    --answer "Enter new repository passphrase: " "typed twice" \
    --answer "Repeat new repository passphrase: " "typed twice" -- \
    "$KLUIS" -r "$WORK/repo4" init --kdf interactive
make_password "$WORK/typed" "typed twice"
E2E_WHAT="the prompted passphrase opens the repository" expect_exit 0 \
    "$KLUIS" -r "$WORK/repo4" --password-file "$WORK/typed" snapshots
E2E_WHAT="no terminal, no source" expect_exit 1 \
    "$KLUIS" -r "$REPO" snapshots </dev/null
expect_stderr_contains "no terminal to ask on"

e2e_finish
