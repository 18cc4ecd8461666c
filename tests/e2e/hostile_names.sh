#!/usr/bin/env bash
# Issue #10 finding 6: names that carry terminal control sequences.  The
# attacker holds what a compromised city server holds - a backup-only key
# file, its passphrase and the append-only SSH key - and writes, through
# the real sshd and `kluis-server serve --append-only`, an authentic
# snapshot whose host name, user name, tags, path, file names, symlink
# target, owner names and xattr name carry ESC sequences, BEL, CR, LF,
# bytes that are not UTF-8, C1 CSI and a right-to-left override, and a
# backup-only key file with such a label (kluis-hostile snapshot-escape),
# which only the server itself can place in keys/ (the append-only role
# may not create key files).
# The operator then reads the repository with a full key: no human-readable
# output may carry a raw control byte, no line may be forged, and every
# name must still be recognisable in its escaped form (docs/CLI.md "Names
# on the terminal").
#
# usage: hostile_names.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE
KLUIS=${1:?usage: hostile_names.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
KLUIS_SERVER=${2:?usage: hostile_names.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
HOSTILE=${3:?usage: hostile_names.sh KLUIS KLUIS_SERVER KLUIS_HOSTILE}
case $HOSTILE in /*) ;; *) HOSTILE=$PWD/$HOSTILE ;; esac
. "$(dirname "$0")/ssh_lib.sh"
ssh_e2e_init hostile-names

# The escaped forms kluis must print (kl_text_esc): the attacker's strings
# from tests/hostile/h_names.c with every control byte as \xNN.
HOST_RAW=$'web\e]0;pwned-title\a01\e[2J'
HOST_ESC='web\x1b]0;pwned-title\x0701\x1b[2J'
DIR_ESC='/evil\x1b[31mdir\x1b[0m'
DIR_RAW=$'/evil\e[31mdir\e[0m'
FILE_ESC_ESC='esc\x1b[5mblink'
FILE_ESC_RAW=$'esc\e[5mblink'
FILE_BEL_ESC='bel\x07ring\x0aforged line'
FILE_BAD_ESC='bad\xffutf8'
FILE_C1_ESC='csi\xc2\x9b2Jname'
FILE_BIDI_ESC='bidi\xe2\x80\xaetxt.exe'
FILE_MISSING_ESC='missing\x1b[41mcontent'
TARGET_ESC='\x1b]2;link-target\x07/etc'
OWNER_ESC='own\x1b[1mer'
GROUP_ESC='gr\x07oup'
TAG_ESC='nightly\x0dFAKE,tag\xff\xfebad'
LABEL_ESC='label\x1b]0;key-title\x07\x1b[2J'

# no_raw_ctl NAME: $OUT and $ERR hold valid UTF-8 without C0 controls (but
# LF), DEL, C1 controls, line separators or bidirectional controls.
no_raw_ctl() {
	if python3 - "$OUT" "$ERR" <<'EOF'; then
import re, sys
bad = re.compile('[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f'
                 '\u2028-\u202e\u2066-\u2069]')
for path in sys.argv[1:]:
    data = open(path, 'rb').read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        sys.exit('%s: not UTF-8 at byte %d: %r' % (path, e.start,
                 data[max(0, e.start - 20):e.start + 20]))
    m = bad.search(text)
    if m:
        sys.exit('%s: raw %r in %r' % (path, m.group(),
                 text[max(0, m.start() - 30):m.start() + 30]))
EOF
		ok "$1: no raw control byte on stdout or stderr"
	else
		not_ok "$1: a raw control byte reaches the terminal"
	fi
}

# has FILE TEXT NAME: FILE ($OUT or $ERR) holds TEXT (fixed string).
has() {
	if grep -qF -- "$2" "$1"; then
		ok "$3"
	else
		not_ok "$3 (lacks '$2')"
	fi
}

# lines FILE N NAME: FILE has exactly N lines (no line was forged).
lines() {
	local n
	n=$(wc -l <"$1")
	if [ "$n" -eq "$2" ]; then
		ok "$3: $2 lines, none forged"
	else
		not_ok "$3: $n lines, wanted $2"
	fi
}

# r ARGS...: the operator, full key, over ssh:// with the admin SSH key.
r() {
	ks "$SSH_KEY_ADMIN" "$@"
}

# ---------------------------------------------------------------------------
case_begin "the repository, the operator's backup, the attacker's key"
E2E_WHAT="local init" expect_exit 0 k init --kdf interactive
SRC=$WORK/src
mkdir -p "$SRC"
echo "an honest file" >"$SRC/honest"
E2E_WHAT="the operator's backup over ssh://" expect_exit 0 r backup "$SRC"
HONEST=$(last_line)
E2E_WHAT="a backup-only key for the city server" expect_exit 0 \
    k key add --backup-only --out "$WORK/bk.key" \
    --new-password-file "$PW" --kdf interactive

case_begin "the attacker: backup-only key, append-only SSH key"
E2E_WHAT="kluis-hostile snapshot-escape through the append-only role" \
    expect_exit 0 "$HOSTILE" -r "$SSH_URL" --key-file "$WORK/bk.key" \
    --password-file "$PW" --ssh-key "$SSH_KEY_APPEND" \
    --ssh-known-hosts "$SSH_KH" snapshot-escape "$WORK/evil.key"
EVIL=$(awk '$1 == "snapshot" { print $2 }' "$OUT")
check "the attack names its snapshot" test -n "$EVIL"
check "the append-only role wrote it (audit log: web01, the snapshot)" \
    grep -qE "role=append-only .*client=web01 .*type=snapshot name=$EVIL" \
    "$REPO/audit.log"
check "the snapshot is authentic: the full key reads it" \
    r cat snapshot "$EVIL"
# The append-only role may not create key files (issue #11): the labelled
# key reaches keys/ only through the server's disk.
run pc "$SSH_KEY_APPEND" "put key auto $WORK/evil.key"
check "the append-only role cannot plant the key file (KL_E_PERM)" \
    grep -q "KL_E_PERM" "$OUT"
EVIL_KEY=$(b2sum -l 256 <"$WORK/evil.key" | cut -d' ' -f1)
check "... and it is not in keys/" test ! -e "$REPO/keys/$EVIL_KEY"
cp "$WORK/evil.key" "$REPO/keys/$EVIL_KEY"	# the server itself places it

# ---------------------------------------------------------------------------
case_begin "snapshots"
E2E_WHAT="snapshots" expect_exit 0 r snapshots
no_raw_ctl "snapshots"
has "$OUT" "$HOST_ESC" "snapshots: the host name, escaped"
has "$OUT" "$TAG_ESC" "snapshots: the tags, escaped"
has "$OUT" "$DIR_ESC" "snapshots: the path, escaped"
lines "$OUT" 4 "snapshots"
check "printf %b turns the escaped host name back into its bytes" \
    test "$(printf '%b' "$HOST_ESC")" = "$HOST_RAW"
E2E_WHAT="snapshots --json" expect_exit 0 r --json snapshots
check "JSON is unchanged: the exact host name after decoding" \
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if sys.argv[2] in [s["hostname"] for s in d] else 1)' \
    "$OUT" "$HOST_RAW"

# ---------------------------------------------------------------------------
case_begin "ls"
E2E_WHAT="ls" expect_exit 0 r ls "$EVIL"
no_raw_ctl "ls"
lines "$OUT" 10 "ls"
has "$OUT" "$DIR_ESC/$FILE_BEL_ESC" "ls: LF, BEL in a name, escaped"
has "$OUT" "$DIR_ESC/$FILE_BAD_ESC" "ls: a byte that is not UTF-8, escaped"
has "$OUT" "$DIR_ESC/$FILE_C1_ESC" "ls: C1 CSI, escaped"
has "$OUT" "$DIR_ESC/$FILE_BIDI_ESC" "ls: a right-to-left override, escaped"
has "$OUT" "$DIR_ESC/sub\\x0ddir/$FILE_ESC_ESC" "ls: CR in a directory name"
E2E_WHAT="ls --long" expect_exit 0 r ls "$EVIL" --long
no_raw_ctl "ls --long"
lines "$OUT" 10 "ls --long"
has "$OUT" "-> $TARGET_ESC" "ls --long: the symlink target, escaped"
has "$OUT" "$OWNER_ESC $GROUP_ESC" "ls --long: owner and group, escaped"
E2E_WHAT="ls PATH with the raw path" expect_exit 0 \
    r ls "$EVIL" "$DIR_RAW/$FILE_ESC_RAW"
has "$OUT" "$DIR_ESC/$FILE_ESC_ESC" "ls of one hostile path"
E2E_WHAT="ls of a path that is not there" expect_exit 1 \
    r ls "$EVIL" "$DIR_RAW/no"$'\e[2J'
no_raw_ctl "ls: the error message naming a path"

# ---------------------------------------------------------------------------
case_begin "find, versions, diff"
E2E_WHAT="find" expect_exit 0 r find 'esc*'
no_raw_ctl "find"
has "$OUT" "$DIR_ESC/$FILE_ESC_ESC" "find: the path, escaped"
has "$OUT" "$HOST_ESC" "find: the host, escaped"
E2E_WHAT="versions" expect_exit 0 r versions "$DIR_RAW/$FILE_ESC_RAW"
no_raw_ctl "versions"
has "$OUT" "$HOST_ESC" "versions: the host, escaped"
has "$OUT" "of $DIR_ESC/$FILE_ESC_ESC" "versions: the path, escaped"
E2E_WHAT="diff" expect_exit 0 r diff "$HONEST" "$EVIL"
no_raw_ctl "diff"
has "$OUT" "+    $DIR_ESC/$FILE_BEL_ESC" "diff: an added hostile path"
has "$OUT" "-    $SRC/honest" "diff: the removed honest file"

# ---------------------------------------------------------------------------
case_begin "check, restore, drill, key list, report"
E2E_WHAT="check (one file's content is missing)" expect_exit 1 r check
no_raw_ctl "check"
has "$OUT" "$DIR_ESC/$FILE_MISSING_ESC" "check: the affected path, escaped"
E2E_WHAT="restore (one file cannot be restored)" expect_exit 1 \
    r restore "$EVIL" --target "$WORK/t1"
no_raw_ctl "restore"
has "$ERR" "$DIR_ESC/$FILE_MISSING_ESC" "restore: the warning names it, escaped"
check "restore created the hostile names as they are" \
    test -f "$WORK/t1$DIR_RAW/$FILE_ESC_RAW"
E2E_WHAT="restore --at without --host: two hosts" expect_exit 2 \
    r restore --at "$(date +%F)" / --target "$WORK/t2"
no_raw_ctl "restore --at: the refusal naming both hosts"
has "$ERR" "$HOST_ESC" "restore --at: the host, escaped"
E2E_WHAT="restore --at --host HOST" expect_exit 1 \
    r restore --at "$(date +%F)" --host "$HOST_RAW" / --target "$WORK/t3"
no_raw_ctl "restore --at --host"
has "$ERR" "of $HOST_ESC, taken" "restore --at: the snapshot's host, escaped"
E2E_WHAT="drill (fails: one file's content is missing)" expect_exit 1 \
    r drill "$EVIL" --sample 100% --target "$WORK/drill"
no_raw_ctl "drill"
has "$OUT" "(host $HOST_ESC)" "drill: the host, escaped"
E2E_WHAT="key list" expect_exit 0 r key list
no_raw_ctl "key list"
has "$OUT" "$LABEL_ESC" "key list: the label, escaped"
E2E_WHAT="report" run r report
no_raw_ctl "report"
has "$OUT" "$HOST_ESC" "report: the host, escaped"

e2e_finish
