#!/usr/bin/env bash
# Profiles and the one command-line reference: where a profile is looked up
# (-p NAME, KLUIS_PROFILE, $XDG_CONFIG_HOME, ~/.config, /etc/kluis, a path),
# its syntax errors and permission rules, the precedence of the command
# line over the environment over the profile over the defaults, what each
# key applies to, `kluis config show`, help, unknown options and versions,
# backup's PATHs from a profile, and access times (stored only with
# --with-atime).  Needs root for the owner rules, the tmpfs mounts and the
# /etc/kluis lookup (in a private mount namespace: /etc is never written).
#
# usage: profiles.sh /path/to/kluis /path/to/kluis-server
KLUIS=${1:?usage: profiles.sh KLUIS KLUIS_SERVER}
KLUIS_SERVER=${2:?usage: profiles.sh KLUIS KLUIS_SERVER}
. "$(dirname "$0")/lib.sh"
e2e_init profiles

if [ "$(id -u)" -ne 0 ]; then
	echo "profiles.sh needs root (chown, setpriv, mount); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi

# case_begin TITLE: a header line to read the log by.
case_begin() {
	echo "# --- $1"
}

# Nothing outside $WORK: the user's profiles live in $WORK.
unset KLUIS_PROFILE KLUIS_SERVER_COMMAND
export HOME=$WORK/home
export XDG_CONFIG_HOME=$WORK/xdg
CONF=$XDG_CONFIG_HOME/kluis
mkdir -p "$HOME" "$CONF"
# /etc/kluis as it was before: checked at the end.
etc_state() {
	if [ -e /etc/kluis ]; then
		find /etc/kluis -printf '%y %m %s %T@ %p\n' | LC_ALL=C sort
	else
		echo "absent"
	fi
}
ETC_BEFORE=$(etc_state)
# A name no machine's /etc/kluis is likely to hold.
NONAME=e2e-no-such-profile-$$

# profile NAME MODE: the user's profile NAME (stdin), mode MODE.
profile() {
	cat >"$CONF/$1.conf"
	chmod "$2" "$CONF/$1.conf"
}

# kp NAME ARGS...: kluis with the profile NAME and nothing else.
kp() {
	local name=$1
	shift
	"$KLUIS" -p "$name" "$@"
}

# stderr_is TEXT: the last run's stderr is exactly the one line TEXT.
stderr_is() {
	if [[ "$(wc -l <"$ERR")" -eq 1 && "$(cat "$ERR")" == "$1" ]]; then
		ok "stderr is exactly one line: $1"
	else
		not_ok "stderr is not exactly one line: $1"
	fi
}

# json_all NAME EXPR: EXPR (Python, d = all of $OUT as JSON) holds.
json_all() {
	if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT" "$2" 2>>"$ERR"; then
		ok "$1"
	else
		not_ok "$1"
	fi
}

# setting_check NAME EXPR: on `config show --json` in $OUT, EXPR holds
# with s = {key: setting}.
setting_check() {
	json_check "$1" "(lambda s: $2)({x['key']: x for x in d['settings']})"
}

# row KEY TEXT: a line of `config show`.
row() {
	printf '%-17s %s' "$1" "$2"
}

# snap_field ID FIELD: FIELD of snapshot ID (from `cat snapshot`), as JSON.
snap_field() {
	k cat snapshot "$1" | python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$2"
}

# subtree SNAPSHOT DIR: the id of DIR's tree in SNAPSHOT.
subtree() {
	python3 - "$KLUIS" "$REPO" "$PW" "$1" "$2" <<'EOF'
import json, subprocess, sys
kluis, repo, pw, snap, path = sys.argv[1:]
def kl(*a):
    return json.loads(subprocess.run([kluis, "-r", repo, "--password-file",
        pw, *a], check=True, capture_output=True, text=True).stdout)
tree = kl("cat", "snapshot", snap)["tree"]
for name in path.strip("/").split("/"):
    tree = [n for n in kl("cat", "tree", tree) if n["name"] == name][0]["subtree"]
print(tree)
EOF
}

SRC=$WORK/src
mkdir -p "$SRC/a" "$SRC/b" "$SRC/c"
echo alpha >"$SRC/a/f"
echo beta >"$SRC/b/f"
echo gamma >"$SRC/c/f"
echo junk >"$SRC/a/x.tmp"
echo log >"$SRC/a/x.log"
make_password "$WORK/wrongpw" "not the passphrase"
E2E_WHAT="init" expect_exit 0 k init --kdf interactive

# ---------------------------------------------------------------------------
case_begin "help, unknown options and commands, versions"
E2E_WHAT="kluis --help" expect_exit 0 "$KLUIS" --help
cp "$OUT" "$WORK/help.top"
expect_stdout_contains "usage: kluis "
expect_stdout_contains "config show" "the overview lists config show"
expect_stdout_contains "--profile" "the overview lists the global options"
check "kluis --help writes nothing to stderr" test ! -s "$ERR"
E2E_WHAT="kluis help" expect_exit 0 "$KLUIS" help
check "kluis help is kluis --help" cmp -s "$OUT" "$WORK/help.top"
E2E_WHAT="kluis help backup" expect_exit 0 "$KLUIS" help backup
cp "$OUT" "$WORK/help.backup"
expect_stdout_contains "usage: kluis backup [options] [PATH...]"
for o in --tag --host --exclude --exclude-file --one-file-system \
    --compression --with-atime --metrics-file; do
	expect_stdout_contains "$o" "help backup lists $o"
done
expect_stdout_contains "example:"
expect_stdout_contains "kluis -p web01 backup" "help backup has the example"
check "help backup does not list restore's --target" \
    bash -c '! grep -q -- "--target" "$1"' _ "$OUT"
E2E_WHAT="kluis backup --help" expect_exit 0 "$KLUIS" backup --help
check "kluis backup --help is kluis help backup" \
    cmp -s "$OUT" "$WORK/help.backup"
check "kluis backup --help writes nothing to stderr" test ! -s "$ERR"
E2E_WHAT="kluis backup --help with a missing profile and no repository" \
    expect_exit 0 "$KLUIS" -p "$NONAME" backup --help
E2E_WHAT="kluis key --help" expect_exit 0 "$KLUIS" key --help
for sub in "key add" "key list" "key passwd" "key remove ID"; do
	expect_stdout_contains "usage: kluis $sub" "key --help shows $sub"
done
cp "$OUT" "$WORK/help.key"
E2E_WHAT="kluis help key" expect_exit 0 "$KLUIS" help key
check "kluis help key is kluis key --help" cmp -s "$OUT" "$WORK/help.key"
E2E_WHAT="kluis help key passwd" expect_exit 0 "$KLUIS" help key passwd
expect_stdout_contains "usage: kluis key passwd"
check "help key passwd shows that sub-command only" \
    bash -c '! grep -q "usage: kluis key add" "$1"' _ "$OUT"
E2E_WHAT="kluis help of no command" expect_exit 2 "$KLUIS" help frobnicate
expect_stderr_contains "frobnicate"

E2E_WHAT="an unknown option" expect_exit 2 "$KLUIS" backup --bogus
stderr_is "kluis: unknown option --bogus (see kluis backup --help)"
check "an unknown option prints nothing on stdout" test ! -s "$OUT"
E2E_WHAT="an unknown option before the command" expect_exit 2 \
    "$KLUIS" --bogus snapshots
stderr_is "kluis: unknown option --bogus (see kluis --help)"
E2E_WHAT="an option the command does not take" expect_exit 2 \
    k snapshots --target "$WORK/t"
stderr_is "kluis: snapshots does not take --target (see kluis snapshots --help)"
E2E_WHAT="backup does not take --path" expect_exit 2 \
    k backup --path "$SRC"
expect_stderr_contains "backup does not take --path"
E2E_WHAT="an option without its value" expect_exit 2 k backup "$SRC" --tag
expect_stderr_contains "option --tag needs a value"
check "nothing was backed up by the usage errors" test "$(snapshot_count)" -eq 0
E2E_WHAT="an unknown command" expect_exit 2 "$KLUIS" frobnicate
expect_stderr_contains 'unknown command "frobnicate"'
for cmd in init key backup snapshots restore config version help; do
	check "the unknown command's message names $cmd" \
	    grep -qE "commands: .*\\b$cmd\\b" "$ERR"
done
check "the unknown command's message is one line" test "$(wc -l <"$ERR")" -eq 1
E2E_WHAT="a command group without its sub-command" expect_exit 2 "$KLUIS" key
expect_stderr_contains "key needs a sub-command"

E2E_WHAT="kluis --version" expect_exit 0 "$KLUIS" --version
cp "$OUT" "$WORK/version"
check "--version: first line is kluis X.Y.Z" \
    grep -qxE 'kluis [0-9]+\.[0-9]+\.[0-9]+' "$OUT"
check "--version: repository format 1" grep -qx "repository format 1" "$OUT"
check "--version: library versions" grep -qE \
    '^libsodium [0-9][0-9.]*, zstd [0-9][0-9.]*, libssh2 [0-9][0-9.]*, SQLite [0-9][0-9.]*, librsync [0-9][0-9.]*$' \
    "$OUT"
E2E_WHAT="kluis version" expect_exit 0 "$KLUIS" version
check "kluis version is kluis --version" cmp -s "$OUT" "$WORK/version"
E2E_WHAT="kluis-server --version" expect_exit 0 "$KLUIS_SERVER" --version
check "kluis-server --version: kluis-server X.Y.Z" \
    grep -qxE 'kluis-server [0-9]+\.[0-9]+\.[0-9]+' "$OUT"
check "both programs have the same version" test \
    "$(head -n 1 "$OUT" | cut -d' ' -f2)" = \
    "$(head -n 1 "$WORK/version" | cut -d' ' -f2)"
E2E_WHAT="kluis-server help verify" expect_exit 0 "$KLUIS_SERVER" help verify
expect_stdout_contains "usage: kluis-server verify"
expect_stdout_contains "--repo"
E2E_WHAT="kluis-server verify --bogus" expect_exit 2 \
    "$KLUIS_SERVER" verify --bogus
stderr_is "kluis-server: unknown option --bogus (see kluis-server verify --help)"

# ---------------------------------------------------------------------------
case_begin "where a profile is found"
profile web 600 <<EOF
# the web job
repository = $REPO

password-file = $PW
EOF
E2E_WHAT="-p NAME: \$XDG_CONFIG_HOME/kluis/NAME.conf" expect_exit 0 \
    kp web snapshots
E2E_WHAT="the same command without the profile" expect_exit 2 \
    "$KLUIS" snapshots </dev/null
E2E_WHAT="-p NAME config show --json" expect_exit 0 kp web config show --json
json_check "config show names the profile" "d['profile'] == 'web'"
json_check "config show names the profile's file" \
    "d['profile_file'] == '$CONF/web.conf'"
setting_check "the repository comes from the profile, line 2" \
    "s['repository'] == {'key': 'repository', 'values': ['$REPO'], 'source': 'profile', 'line': 2}"
setting_check "the password file comes from the profile, line 4" \
    "s['password-file']['values'] == ['$PW'] and s['password-file']['line'] == 4"
E2E_WHAT="KLUIS_PROFILE=NAME" expect_exit 0 \
    env KLUIS_PROFILE=web "$KLUIS" snapshots
E2E_WHAT="KLUIS_PROFILE=NAME config show --json" expect_exit 0 \
    env KLUIS_PROFILE=web "$KLUIS" config show --json
json_check "KLUIS_PROFILE names the profile" \
    "d['profile'] == 'web' and d['profile_file'] == '$CONF/web.conf'"
E2E_WHAT="-p wins over KLUIS_PROFILE" expect_exit 0 \
    env KLUIS_PROFILE="$NONAME" "$KLUIS" -p web config show --json
json_check "the profile is -p's" "d['profile'] == 'web'"
E2E_WHAT="an empty KLUIS_PROFILE counts as unset" expect_exit 0 \
    env KLUIS_PROFILE= "$KLUIS" config show --json
json_check "no profile" "d['profile'] is None and d['profile_file'] is None"

mkdir -p "$HOME/.config/kluis"
printf 'repository = %s\npassword-file = %s\n' "$REPO" "$PW" \
    >"$HOME/.config/kluis/homeonly.conf"
chmod 600 "$HOME/.config/kluis/homeonly.conf"
E2E_WHAT="XDG_CONFIG_HOME unset: \$HOME/.config/kluis/NAME.conf" \
    expect_exit 0 env -u XDG_CONFIG_HOME "$KLUIS" -p homeonly snapshots
E2E_WHAT="XDG_CONFIG_HOME unset: config show" expect_exit 0 \
    env -u XDG_CONFIG_HOME "$KLUIS" -p homeonly config show --json
json_check "the profile's file is under \$HOME/.config" \
    "d['profile_file'] == '$HOME/.config/kluis/homeonly.conf'"
E2E_WHAT="XDG_CONFIG_HOME set: \$HOME/.config is not read" expect_exit 1 \
    kp homeonly snapshots
expect_stderr_contains "no profile \"homeonly\""
expect_stderr_contains "$CONF/homeonly.conf" "it names where it looked"
expect_stderr_contains "/etc/kluis/homeonly.conf" "and the system's place"

E2E_WHAT="a missing profile" expect_exit 1 kp "$NONAME" snapshots
expect_stderr_contains "$CONF/$NONAME.conf" "the user's place is named"
expect_stderr_contains "/etc/kluis/$NONAME.conf" "the system's place is named"
E2E_WHAT="a missing profile, XDG_CONFIG_HOME unset" expect_exit 1 \
    env -u XDG_CONFIG_HOME "$KLUIS" -p "$NONAME" config show
expect_stderr_contains "$HOME/.config/kluis/$NONAME.conf"
E2E_WHAT="a missing KLUIS_PROFILE" expect_exit 1 \
    env KLUIS_PROFILE="$NONAME" "$KLUIS" config show
expect_stderr_contains "$CONF/$NONAME.conf"
E2E_WHAT="a profile name that is not a file name" expect_exit 2 \
    kp ".hidden" config show
expect_stderr_contains "profile name"

mkdir -p "$WORK/elsewhere"
printf 'repository = %s\npassword-file = %s\ntag = from-path\n' "$REPO" \
    "$PW" >"$WORK/elsewhere/job.conf"
chmod 600 "$WORK/elsewhere/job.conf"
E2E_WHAT="-p with a slash: the file itself" expect_exit 0 \
    kp "$WORK/elsewhere/job.conf" config show --json
json_check "the profile file is the path given" \
    "d['profile_file'] == '$WORK/elsewhere/job.conf'"
setting_check "its settings are read" "s['tag']['values'] == ['from-path']"
E2E_WHAT="-p with a relative path" expect_exit 0 \
    bash -c 'cd "$1" && "$2" -p ./elsewhere/job.conf snapshots' _ "$WORK" \
    "$KLUIS"
E2E_WHAT="-p with a slash to a missing file" expect_exit 1 \
    kp "$WORK/elsewhere/none.conf" snapshots
expect_stderr_contains "$WORK/elsewhere/none.conf"

# /etc/kluis, in a private mount namespace with /etc overlaid on a tmpfs.
# etc_run NAME ARGS...: writes /etc/kluis/NAME.conf (repository = $REPO,
# tag = system) there and runs kluis ARGS in it.
etc_run() {
	local name=$1
	shift
	mkdir -p "$WORK/ovl"
	unshare -m --propagation private bash -c '
		set -e
		mount -t tmpfs tmpfs "$1"
		mkdir "$1/up" "$1/wk"
		mount -t overlay overlay \
		    -o "lowerdir=/etc,upperdir=$1/up,workdir=$1/wk" /etc
		mkdir -p /etc/kluis
		printf "repository = %s\ntag = system\n" "$2" \
		    >"/etc/kluis/$3.conf"
		chmod 644 "/etc/kluis/$3.conf"
		shift 3
		exec "$@"' _ "$WORK/ovl" "$REPO" "$name" "$@"
}
if etc_run probe true 2>"$WORK/ovl.err"; then
	E2E_WHAT="a profile only in /etc/kluis" expect_exit 0 \
	    etc_run e2e-sys "$KLUIS" -p e2e-sys config show --json
	json_check "the system's profile is read" \
	    "d['profile_file'] == '/etc/kluis/e2e-sys.conf'"
	setting_check "its settings are used" \
	    "s['tag']['values'] == ['system'] and s['repository']['values'] == ['$REPO']"
	E2E_WHAT="a profile only in /etc/kluis, XDG_CONFIG_HOME unset" \
	    expect_exit 0 etc_run e2e-sys env -u XDG_CONFIG_HOME "$KLUIS" \
	    -p e2e-sys config show --json
	json_check "the system's profile is read" \
	    "d['profile_file'] == '/etc/kluis/e2e-sys.conf'"
	printf 'repository = %s\ntag = user\n' "$REPO" >"$CONF/e2e-sys.conf"
	E2E_WHAT="a profile both in /etc/kluis and the user's" expect_exit 0 \
	    etc_run e2e-sys "$KLUIS" -p e2e-sys config show --json
	json_check "the user's profile wins" \
	    "d['profile_file'] == '$CONF/e2e-sys.conf'"
	setting_check "and only its settings are used" \
	    "s['tag']['values'] == ['user']"
	rm -f "$CONF/e2e-sys.conf"
else
	not_ok "cannot overlay /etc in a mount namespace: $(cat "$WORK/ovl.err")"
fi

# ---------------------------------------------------------------------------
case_begin "errors in a profile name the file and the line"
# bad_profile NAME WANT [COMMAND...]: a profile (stdin) with one error;
# COMMAND (default snapshots) exits 1 and stderr has FILE WANT.
bad_profile() {
	local name=$1 want=$2
	shift 2
	[ $# -gt 0 ] || set -- snapshots
	profile "$name" 600
	E2E_WHAT="profile with $name: $* exits 1" expect_exit 1 \
	    kp "$name" "$@" </dev/null
	expect_stderr_contains "$CONF/$name.conf $want" "$name"
	check "$name: nothing on stdout" test ! -s "$OUT"
}
# a NUL byte would end the text early and drop what follows it
printf 'repository = %s\n\000exclude = *.tmp\n' "$REPO" >"$CONF/nul.conf"
chmod 600 "$CONF/nul.conf"
E2E_WHAT="a profile holding a NUL byte is refused" expect_exit 1 \
    kp nul snapshots </dev/null
expect_stderr_contains "holds a NUL byte" "named as such"
bad_profile unknown-key "line 3: unknown key \"frobnicate\"" <<EOF
repository = $REPO
# a comment counts as a line
frobnicate = 1
EOF
bad_profile not-a-profile-key "line 2: unknown key \"json\"" <<EOF
repository = $REPO
json = yes
EOF
bad_profile no-equals "line 3: not \"key = value\"" <<EOF
repository = $REPO

password-file $PW
EOF
bad_profile empty-value "line 2: tag has no value" <<EOF
repository = $REPO
tag =
EOF
bad_profile twice "line 4: repository was set on line 1 already" <<EOF
repository = $REPO
password-file = $PW
tag = one
repository = $WORK/other
EOF
bad_profile bad-flag "line 2: one-file-system takes yes or no" backup "$SRC" <<EOF
repository = $REPO
one-file-system = maybe
EOF
bad_profile bad-flag2 "line 3: with-atime takes yes or no" config show <<EOF
repository = $REPO

with-atime = 1
EOF
# a bad yes/no is the profile's error, whatever the command
bad_profile bad-flag3 "line 2: one-file-system takes yes or no" snapshots <<EOF
repository = $REPO
one-file-system = maybe
EOF
profile layout 600 <<EOF
	# indented comment

repository=$REPO
  password-file	=	$PW  
tag = one
tag = two
EOF
E2E_WHAT="comments, blank lines, tabs and no spaces around =" expect_exit 0 \
    kp layout config show --json
setting_check "values are trimmed, a repeatable key adds up" \
    "s['password-file']['values'] == ['$PW'] and s['password-file']['line'] == 4 and s['tag']['values'] == ['one', 'two'] and s['tag']['line'] == 5 and s['repository']['line'] == 3"
E2E_WHAT="that profile opens the repository" expect_exit 0 kp layout snapshots

# ---------------------------------------------------------------------------
case_begin "profile permissions"
profile perm 600 <<EOF
repository = $REPO
password-file = $PW
EOF
for mode in 620 602 666; do
	chmod "$mode" "$CONF/perm.conf"
	E2E_WHAT="a profile of mode $mode is refused" expect_exit 1 \
	    kp perm snapshots
	expect_stderr_contains "$CONF/perm.conf: bad owner or permissions" \
	    "mode $mode"
done
chmod 600 "$CONF/perm.conf"
chown nobody "$CONF/perm.conf"
E2E_WHAT="a profile owned by another user is refused" expect_exit 1 \
    kp perm snapshots
expect_stderr_contains "$CONF/perm.conf: bad owner or permissions"
E2E_WHAT="config show refuses it too" expect_exit 1 kp perm config show
expect_stderr_contains "bad owner or permissions"
chown root "$CONF/perm.conf"
E2E_WHAT="the same profile, owned by root again" expect_exit 0 \
    kp perm snapshots
# another user running kluis: its own profile, root's, a third user's
mkdir -p "$WORK/nb"
chmod 755 "$WORK/nb"
printf 'tag = t\n' >"$WORK/nb/p.conf"
chmod 644 "$WORK/nb/p.conf"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    env HOME="$WORK/nb" KLUIS_CACHE_DIR="$WORK/nb/cache" "$KLUIS" "$@"
}
E2E_WHAT="nobody may use root's profile" expect_exit 0 \
    as_nobody -p "$WORK/nb/p.conf" config show
chown nobody "$WORK/nb/p.conf"
E2E_WHAT="nobody may use its own profile" expect_exit 0 \
    as_nobody -p "$WORK/nb/p.conf" config show
chown daemon "$WORK/nb/p.conf"
E2E_WHAT="nobody may not use a third user's profile" expect_exit 1 \
    as_nobody -p "$WORK/nb/p.conf" config show
expect_stderr_contains "bad owner or permissions"

# a profile that names a secret must not be readable by others
for key in password-file password-command key-file ssh-key; do
	case $key in
	password-command) val="cat $PW" ;;
	*) val=$WORK/secret-$key ;;
	esac
	profile "secret-$key" 644 <<EOF
repository = $REPO
$key = $val
EOF
	E2E_WHAT="a world-readable profile naming $key is refused" \
	    expect_exit 1 kp "secret-$key" config show
	expect_stderr_contains "$CONF/secret-$key.conf names a password, key or SSH key and anyone may read it" \
	    "$key"
	chmod 640 "$CONF/secret-$key.conf"
	E2E_WHAT="the same profile naming $key, mode 640" expect_exit 0 \
	    kp "secret-$key" config show
done
profile public 644 <<EOF
repository = $REPO
ssh-known-hosts = $WORK/known_hosts
server-command = $KLUIS_SERVER
tag = public
EOF
E2E_WHAT="a world-readable profile that names no secret" expect_exit 0 \
    kp public config show
E2E_WHAT="and it is used" expect_exit 0 \
    kp public --password-file "$PW" snapshots

# ---------------------------------------------------------------------------
case_begin "config show"
profile show 600 <<EOF
repository = $WORK/no-such-repository
password-file = $PW
key-file = $WORK/some.key
ssh-key = $WORK/id_ed25519
ssh-known-hosts = $WORK/known_hosts
server-command = $KLUIS_SERVER
tag = nightly
tag = web
host = web01
path = $SRC/a
path = $SRC/b
exclude = *.tmp
exclude-file = $WORK/excludes
one-file-system = yes
compression = 9
with-atime = yes
delta-min-size = 32M
delta-max-depth = 4
metrics-file = $WORK/metrics.prom
EOF
E2E_WHAT="config show --json, a repository that does not exist" \
    expect_exit 0 setsid -w "$KLUIS" -p show config show --json </dev/null
check "config show opened (and created) no repository" \
    test ! -e "$WORK/no-such-repository"
KEYS="['repository', 'password-file', 'password-command', 'key-file', 'ssh-key', 'ssh-known-hosts', 'ssh-command', 'server-command', 'progress-interval', 'tag', 'host', 'path', 'exclude', 'exclude-file', 'one-file-system', 'compression', 'with-atime', 'delta-min-size', 'delta-max-depth', 'metrics-file']"
json_check "config show lists every profile key, once, in order" \
    "[x['key'] for x in d['settings']] == $KEYS"
setting_check "every key but password-command, ssh-command and progress-interval comes from the profile" \
    "all(x['source'] == 'profile' for k, x in s.items() if k not in ('password-command', 'ssh-command', 'progress-interval'))"
setting_check "each with its line" \
    "[s[k]['line'] for k in $KEYS if k not in ('password-command', 'ssh-command', 'progress-interval')] == [1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19]"
setting_check "repeated keys have all their values" \
    "s['tag']['values'] == ['nightly', 'web'] and s['path']['values'] == ['$SRC/a', '$SRC/b']"
setting_check "single values" \
    "s['host']['values'] == ['web01'] and s['compression']['values'] == ['9'] and s['one-file-system']['values'] == ['yes'] and s['with-atime']['values'] == ['yes'] and s['delta-min-size']['values'] == ['32M'] and s['delta-max-depth']['values'] == ['4'] and s['metrics-file']['values'] == ['$WORK/metrics.prom'] and s['server-command']['values'] == ['$KLUIS_SERVER']"
setting_check "an unset setting: no values, source default, no line" \
    "s['password-command'] == {'key': 'password-command', 'values': [], 'source': 'default'}"
E2E_WHAT="config show, higher levels" expect_exit 0 \
    env KLUIS_REPOSITORY="$REPO" KLUIS_KEY_FILE="$WORK/env.key" \
    KLUIS_SERVER_COMMAND=/env/server "$KLUIS" -p show config show --json \
    --tag cli --compression 1 --host cli-host
setting_check "KLUIS_REPOSITORY wins over the profile" \
    "s['repository'] == {'key': 'repository', 'values': ['$REPO'], 'source': 'environment', 'variable': 'KLUIS_REPOSITORY'}"
setting_check "KLUIS_KEY_FILE and KLUIS_SERVER_COMMAND too" \
    "s['key-file']['values'] == ['$WORK/env.key'] and s['key-file']['variable'] == 'KLUIS_KEY_FILE' and s['server-command']['values'] == ['/env/server'] and s['server-command']['variable'] == 'KLUIS_SERVER_COMMAND'"
setting_check "a repeatable option on the command line replaces the profile's values" \
    "s['tag'] == {'key': 'tag', 'values': ['cli'], 'source': 'command line'} and s['host']['values'] == ['cli-host']"
setting_check "--compression wins over the profile" \
    "s['compression']['values'] == ['1'] and s['compression']['source'] == 'command line'"
setting_check "the profile still gives the rest" \
    "s['path']['source'] == 'profile' and s['exclude']['values'] == ['*.tmp']"
E2E_WHAT="config show, text" expect_exit 0 \
    env KLUIS_KEY_FILE="$WORK/env.key" "$KLUIS" -p show config show \
    -r "$REPO" --tag cli
check "text: the profile and its file" \
    grep -qxF "$(row profile "show ($CONF/show.conf)")" "$OUT"
check "text: a command-line value names its option" \
    grep -qxF "$(row repository "$REPO  [--repository]")" "$OUT"
check "text: an environment value names its variable" \
    grep -qxF "$(row key-file "$WORK/env.key  [KLUIS_KEY_FILE]")" "$OUT"
check "text: a profile value names its key, file and line" \
    grep -qxF "$(row host "web01  [host in $CONF/show.conf line 9]")" "$OUT"
check "text: the second value of a repeated key" \
    grep -qxF "$(row path "$SRC/b")" "$OUT"
check "text: --tag replaced the profile's tags" \
    test "$(grep -c '^tag ' "$OUT")" -eq 1
check "text: an unset setting says what it means" \
    grep -qxF "$(row password-command "(ask on the terminal)")" "$OUT"
check "text: every key is listed" test "$(python3 -c "
import sys
keys = $KEYS
lines = open(sys.argv[1]).read().splitlines()
print(all(any(l.split()[0] == k for l in lines) for k in keys))" "$OUT")" = True
E2E_WHAT="config show without a profile" expect_exit 0 "$KLUIS" config show
check "text: no profile" grep -qxF "$(row profile "(none)")" "$OUT"
check "text: a default value says so" \
    grep -qxF "$(row with-atime "no  [the default]")" "$OUT"
E2E_WHAT="config show --json without a profile or repository" expect_exit 0 \
    "$KLUIS" config show --json
setting_check "no repository, source default" \
    "s['repository']['values'] == [] and s['repository']['source'] == 'default' and s['with-atime']['values'] == ['no']"
E2E_WHAT="config show does not take --target" expect_exit 2 \
    "$KLUIS" config show --target "$WORK/t"
expect_stderr_contains "config show does not take --target"
E2E_WHAT="config show takes no arguments" expect_exit 2 \
    "$KLUIS" config show extra

# ---------------------------------------------------------------------------
case_begin "precedence: command line > environment > profile > default"
profile prec 600 <<EOF
repository = $WORK/no-such-repository
password-file = $WORK/wrongpw
EOF
E2E_WHAT="the profile's repository is used" expect_exit 10 kp prec snapshots
expect_stderr_contains "$WORK/no-such-repository"
E2E_WHAT="KLUIS_REPOSITORY wins over the profile's, and its wrong password file is used" \
    expect_exit 12 env KLUIS_REPOSITORY="$REPO" "$KLUIS" -p prec snapshots
expect_stderr_contains "wrong passphrase"
E2E_WHAT="KLUIS_PASSWORD_FILE wins over the profile's" expect_exit 0 \
    env KLUIS_REPOSITORY="$REPO" KLUIS_PASSWORD_FILE="$PW" \
    "$KLUIS" -p prec snapshots
E2E_WHAT="-r wins over KLUIS_REPOSITORY" expect_exit 10 \
    env KLUIS_REPOSITORY="$REPO" KLUIS_PASSWORD_FILE="$PW" \
    "$KLUIS" -p prec -r "$WORK/cli-missing" snapshots
expect_stderr_contains "$WORK/cli-missing"
E2E_WHAT="--password-file wins over KLUIS_PASSWORD_FILE" expect_exit 0 \
    env KLUIS_PASSWORD_FILE="$WORK/wrongpw" "$KLUIS" -p prec -r "$REPO" \
    --password-file "$PW" snapshots
E2E_WHAT="KLUIS_PASSWORD_FILE right, --password-file wrong" expect_exit 12 \
    env KLUIS_PASSWORD_FILE="$PW" "$KLUIS" -p prec -r "$REPO" \
    --password-file "$WORK/wrongpw" snapshots

# password-file against password-command: the higher level, else the file
profile pwboth 600 <<EOF
repository = $REPO
password-command = false
password-file = $PW
EOF
E2E_WHAT="profile: file and command, the file wins" expect_exit 0 \
    kp pwboth snapshots
E2E_WHAT="config show drops the command" expect_exit 0 \
    kp pwboth config show --json
setting_check "only the file is in effect" \
    "s['password-file']['values'] == ['$PW'] and s['password-command']['values'] == []"
profile pwboth2 600 <<EOF
repository = $REPO
password-file = $WORK/wrongpw
password-command = cat $PW
EOF
E2E_WHAT="profile: a wrong file and a right command, the file wins" \
    expect_exit 12 kp pwboth2 snapshots
E2E_WHAT="KLUIS_PASSWORD_COMMAND wins over the profile's password-file" \
    expect_exit 0 env KLUIS_PASSWORD_COMMAND="cat $PW" "$KLUIS" -p pwboth2 \
    snapshots
E2E_WHAT="--password-command wins over the profile's password-file" \
    expect_exit 0 kp pwboth2 --password-command "cat $PW" snapshots
E2E_WHAT="config show: the command line's command" expect_exit 0 \
    kp pwboth2 --password-command "cat $PW" config show --json
setting_check "the profile's file is dropped" \
    "s['password-command']['values'] == ['cat $PW'] and s['password-command']['source'] == 'command line' and s['password-file']['values'] == []"
profile pwcmd 600 <<EOF
repository = $REPO
password-command = false
EOF
E2E_WHAT="profile: a failing password command is used" expect_exit 1 \
    kp pwcmd snapshots
E2E_WHAT="KLUIS_PASSWORD_FILE wins over the profile's password-command" \
    expect_exit 0 env KLUIS_PASSWORD_FILE="$PW" "$KLUIS" -p pwcmd snapshots
E2E_WHAT="environment: file and command, the file wins" expect_exit 12 \
    env KLUIS_PASSWORD_FILE="$WORK/wrongpw" KLUIS_PASSWORD_COMMAND="cat $PW" \
    "$KLUIS" -r "$REPO" snapshots
E2E_WHAT="command line: file and command, the file wins" expect_exit 0 \
    "$KLUIS" -r "$REPO" --password-command false --password-file "$PW" \
    snapshots
profile pwcmd-ok 600 <<EOF
repository = $REPO
password-command = cat $PW
EOF
E2E_WHAT="profile: a password command" expect_exit 0 kp pwcmd-ok snapshots

# key-file: a backup-only key from the profile
make_password "$WORK/pw-bo" "backup only"
E2E_WHAT="key add --backup-only" expect_exit 0 k key add --backup-only \
    --out "$WORK/bo.key" --new-password-file "$WORK/pw-bo" --kdf interactive
profile bokey 600 <<EOF
repository = $REPO
key-file = $WORK/bo.key
password-file = $WORK/pw-bo
EOF
E2E_WHAT="the profile's key-file is used" expect_exit 0 kp bokey stats --json
check "it is the backup-only key (snapshots is null)" \
    test "$(json_field snapshots)" = None
E2E_WHAT="the profile's key-file with the full key's passphrase" \
    expect_exit 12 kp bokey --password-file "$PW" stats
expect_stderr_contains "wrong passphrase"
E2E_WHAT="--key-file and --password-file win over the profile's" \
    expect_exit 0 kp bokey --key-file "$(find "$REPO/keys" -type f | head -n 1)" \
    --password-file "$PW" stats --json
check "it is the full key (snapshots is a number)" \
    test "$(json_field snapshots)" = 0
E2E_WHAT="KLUIS_KEY_FILE wins over the profile's" expect_exit 0 \
    env KLUIS_KEY_FILE="$(find "$REPO/keys" -type f | head -n 1)" \
    "$KLUIS" -p bokey --password-file "$PW" stats --json
check "it is the full key (snapshots is a number)" \
    test "$(json_field snapshots)" = 0

# server-command, through pipe: (which runs it here)
profile pipe 600 <<EOF
repository = pipe:$REPO
password-file = $PW
server-command = $KLUIS_SERVER
EOF
E2E_WHAT="the profile's server-command is run" expect_exit 0 kp pipe snapshots
E2E_WHAT="KLUIS_SERVER_COMMAND wins over the profile's" expect_exit 1 \
    env KLUIS_SERVER_COMMAND=false "$KLUIS" -p pipe snapshots
E2E_WHAT="--server-command wins over KLUIS_SERVER_COMMAND" expect_exit 0 \
    env KLUIS_SERVER_COMMAND=false "$KLUIS" -p pipe \
    --server-command "$KLUIS_SERVER" snapshots

# ---------------------------------------------------------------------------
case_begin "backup's PATHs from a profile"
E2E_WHAT="backup without PATH or profile" expect_exit 2 k backup
expect_stderr_contains "no PATH given"
E2E_WHAT="backup with a profile without path" expect_exit 2 kp web backup
expect_stderr_contains "no PATH given"
check "no snapshot was written" test "$(snapshot_count)" -eq 0
profile job 600 <<EOF
repository = $REPO
password-file = $PW
path = $SRC/a
path = $SRC/b
tag = nightly
tag = job
exclude = *.tmp
EOF
E2E_WHAT="backup with the profile's two paths" expect_exit 0 \
    kp job backup --json
JOB1=$(json_field snapshot_id)
check "the snapshot holds both paths" test "$(snap_field "$JOB1" paths)" = \
    "[\"$SRC/a\", \"$SRC/b\"]"
check "and the profile's tags" \
    test "$(snap_field "$JOB1" tags)" = '["job", "nightly"]' -o \
    "$(snap_field "$JOB1" tags)" = '["nightly", "job"]'
E2E_WHAT="snapshots --json after the profile's backup" expect_exit 0 \
    k snapshots --json
json_all "snapshots lists the profile's paths" \
    "d[-1]['paths'] == ['$SRC/a', '$SRC/b']"
E2E_WHAT="restore the profile's backup" expect_exit 0 \
    k restore "$JOB1" --target "$WORK/r-job"
check "both paths were backed up" \
    test -f "$WORK/r-job$SRC/a/f" -a -f "$WORK/r-job$SRC/b/f"
check "a path not in the profile was not" test ! -e "$WORK/r-job$SRC/c"
check "the profile's exclude applied" test ! -e "$WORK/r-job$SRC/a/x.tmp"
check "other files are kept" test -f "$WORK/r-job$SRC/a/x.log"
E2E_WHAT="backup with a PATH and the profile" expect_exit 0 \
    kp job backup "$SRC/c" --tag cli --exclude '*.log' --json
JOB2=$(json_field snapshot_id)
check "a PATH on the command line replaces the profile's" \
    test "$(snap_field "$JOB2" paths)" = "[\"$SRC/c\"]"
check "--tag replaces the profile's tags" \
    test "$(snap_field "$JOB2" tags)" = '["cli"]'
E2E_WHAT="backup with --exclude and the profile" expect_exit 0 \
    kp job backup --exclude '*.log' --json
JOB3=$(json_field snapshot_id)
E2E_WHAT="restore it" expect_exit 0 k restore "$JOB3" --target "$WORK/r-job3"
check "--exclude replaces the profile's: *.tmp is in" \
    test -f "$WORK/r-job3$SRC/a/x.tmp"
check "and *.log is out" test ! -e "$WORK/r-job3$SRC/a/x.log"

# the backup-only keys do not filter other commands
NSNAP=$(snapshot_count)
E2E_WHAT="snapshots with a profile with tag and path" expect_exit 0 \
    kp job snapshots --json
json_all "the profile's tag and path filter nothing" "len(d) == $NSNAP"
E2E_WHAT="snapshots --tag on the command line still filters" expect_exit 0 \
    kp job snapshots --json --tag cli
json_all "only the snapshot tagged cli" \
    "[s['id'] for s in d] == ['$JOB2']"
E2E_WHAT="snapshots --path on the command line still filters" expect_exit 0 \
    kp job snapshots --json --path "$SRC/c"
json_all "only the snapshot of $SRC/c" "[s['id'] for s in d] == ['$JOB2']"

# exclude-file, compression, metrics-file
printf '# the log files\n*.log\n' >"$WORK/excludes"
profile more 600 <<EOF
repository = $REPO
password-file = $PW
path = $SRC/a
exclude-file = $WORK/excludes
metrics-file = $WORK/metrics.prom
EOF
E2E_WHAT="backup with a profile's exclude-file and metrics-file" \
    expect_exit 0 kp more backup --json
MORE=$(json_field snapshot_id)
E2E_WHAT="restore it" expect_exit 0 k restore "$MORE" --target "$WORK/r-more"
check "the profile's exclude-file applied" \
    test ! -e "$WORK/r-more$SRC/a/x.log" -a -f "$WORK/r-more$SRC/a/x.tmp"
check "the profile's metrics-file was written by backup" \
    grep -q "^kluis_backup_" "$WORK/metrics.prom"
rm -f "$WORK/metrics.prom"
E2E_WHAT="check with the profile" expect_exit 0 kp more check
check "the profile's metrics-file was written by check" \
    grep -q "^kluis_check_" "$WORK/metrics.prom"
rm -f "$WORK/metrics.prom"
E2E_WHAT="snapshots with the profile" expect_exit 0 kp more snapshots
check "snapshots writes no metrics file" test ! -e "$WORK/metrics.prom"
printf 'compression = 99\n' >>"$CONF/more.conf"
E2E_WHAT="backup with a profile's bad compression" expect_exit 2 \
    kp more backup
expect_stderr_contains "--compression takes"
E2E_WHAT="--compression on the command line wins" expect_exit 0 \
    kp more backup --compression 5
E2E_WHAT="snapshots ignores the profile's compression" expect_exit 0 \
    kp more snapshots

# host: every command that takes --host
profile hosted 600 <<EOF
repository = $REPO
password-file = $PW
path = $SRC/c
host = profhost
EOF
E2E_WHAT="backup with a profile's host" expect_exit 0 kp hosted backup --json
HOSTED=$(json_field snapshot_id)
check "the snapshot records the profile's host" \
    test "$(snap_field "$HOSTED" hostname)" = '"profhost"'
echo "changed" >"$SRC/b/f"
E2E_WHAT="a later backup of another host" expect_exit 0 k backup "$SRC/b" -q
E2E_WHAT="snapshots with the profile's host" expect_exit 0 \
    kp hosted snapshots --json
json_all "only the profile's host's snapshots" \
    "[s['id'] for s in d] == ['$HOSTED']"
E2E_WHAT="ls latest with the profile's host" expect_exit 0 \
    kp hosted ls latest --json
check "latest is the profile host's newest" grep -qF "\"$SRC/c/f\"" "$OUT"
check "not the other host's newer snapshot" \
    bash -c '! grep -qF "\"$1/b/f\"" "$2"' _ "$SRC" "$OUT"
E2E_WHAT="--host on the command line wins" expect_exit 0 \
    kp hosted snapshots --json --host "$(snap_field "$JOB1" hostname | tr -d '"')"
json_all "the command line's host's snapshots" \
    "'$HOSTED' not in [s['id'] for s in d] and len(d) == $(snapshot_count) - 1"

# one-file-system: a tmpfs below the path
OFS=$WORK/ofs
mkdir -p "$OFS/mnt"
echo outside >"$OFS/top"
if mount -t tmpfs -o size=1m tmpfs "$OFS/mnt" 2>"$WORK/mount.err"; then
	at_exit "umount -l '$OFS/mnt'"
	echo inside >"$OFS/mnt/inner"
	profile ofs 600 <<EOF
repository = $REPO
password-file = $PW
path = $OFS
one-file-system = yes
EOF
	E2E_WHAT="backup with a profile's one-file-system" expect_exit 0 \
	    kp ofs backup --json
	OFS1=$(json_field snapshot_id)
	E2E_WHAT="ls it" expect_exit 0 k ls "$OFS1" --json
	check "the other file system is not entered" \
	    bash -c '! grep -qF "$1/mnt/inner" "$2"' _ "$OFS" "$OUT"
	check "this file system is" grep -qF "\"$OFS/top\"" "$OUT"
	sed -i 's/^one-file-system = yes/one-file-system = no/' "$CONF/ofs.conf"
	E2E_WHAT="the same with one-file-system = no" expect_exit 0 \
	    kp ofs backup --json
	OFS2=$(json_field snapshot_id)
	E2E_WHAT="ls it" expect_exit 0 k ls "$OFS2" --json
	check "the other file system is entered" \
	    grep -qF "\"$OFS/mnt/inner\"" "$OUT"
	umount "$OFS/mnt"
else
	not_ok "cannot mount a tmpfs: $(cat "$WORK/mount.err")"
fi

# ---------------------------------------------------------------------------
case_begin "access times"
# On a strictatime tmpfs every read changes a file's access time (and not
# its ctime), whatever the machine's mount options.
AT=$WORK/at
mkdir -p "$AT"
if mount -t tmpfs -o size=4m,strictatime tmpfs "$AT" 2>"$WORK/mount.err"; then
	at_exit "umount -l '$AT'"
else
	echo "# cannot mount a tmpfs ($(cat "$WORK/mount.err")): $AT as it is"
fi
mkdir -p "$AT/src/d"
for f in one two d/three; do
	echo "content of $f" >"$AT/src/$f"
	touch -m -d '2020-01-02 03:04:05' "$AT/src/$f"
	touch -a -d '2021-06-07 08:09:10' "$AT/src/$f"
done
MT=$(stat -c %Y "$AT/src/one")
ATIME=$(stat -c %X "$AT/src/one")
check "precondition: atime and mtime differ" test "$MT" -ne "$ATIME"
# read_all: reads every file (its access time changes)
read_all() {
	find "$AT/src" -type f -exec cat {} + >/dev/null
}
# atimes: every file's access time
atimes() {
	find "$AT/src" -type f -printf '%p %A@\n' | LC_ALL=C sort
}

E2E_WHAT="backup, default" expect_exit 0 k backup "$AT/src" --json
A1=$(json_field snapshot_id)
E2E_WHAT="restore it" expect_exit 0 k restore "$A1" --target "$WORK/r-a1"
check "by default the stored atime is the mtime" \
    test "$(stat -c %X "$WORK/r-a1$AT/src/one")" -eq "$MT"
check "and the restored mtime is the mtime" \
    test "$(stat -c %Y "$WORK/r-a1$AT/src/one")" -eq "$MT"
atimes >"$WORK/atimes.1"
read_all
atimes >"$WORK/atimes.2"
check "precondition: reading every file changed their access times" \
    bash -c '! cmp -s "$1" "$2"' _ "$WORK/atimes.1" "$WORK/atimes.2"
E2E_WHAT="backup after reading every file, default" expect_exit 0 \
    k backup "$AT/src" --json
A2=$(json_field snapshot_id)
check "no file was read again (all unmodified)" \
    test "$(json_field files_unmodified)" -eq 3 -a "$(json_field files_changed)" -eq 0
check "the re-backup stored no new tree for the files" \
    test "$(subtree "$A1" "$AT/src")" = "$(subtree "$A2" "$AT/src")" -a \
    "$(subtree "$A1" "$AT/src/d")" = "$(subtree "$A2" "$AT/src/d")"

E2E_WHAT="backup --with-atime" expect_exit 0 \
    k backup "$AT/src" --with-atime --json
W1=$(json_field snapshot_id)
check "--with-atime stores new trees for the changed access times" \
    test "$(subtree "$A2" "$AT/src")" != "$(subtree "$W1" "$AT/src")"
E2E_WHAT="restore it" expect_exit 0 k restore "$W1" --target "$WORK/r-w1"
check "--with-atime stores the access time" test \
    "$(stat -c %X "$WORK/r-w1$AT/src/one")" -eq "$(stat -c %X "$AT/src/one")" \
    -a "$(stat -c %X "$WORK/r-w1$AT/src/one")" -ne "$MT"
read_all
E2E_WHAT="backup --with-atime after reading every file" expect_exit 0 \
    k backup "$AT/src" --with-atime --json
W2=$(json_field snapshot_id)
check "--with-atime: the next backup adds trees" \
    test "$(subtree "$W1" "$AT/src")" != "$(subtree "$W2" "$AT/src")" -a \
    "$(subtree "$W1" "$AT/src/d")" != "$(subtree "$W2" "$AT/src/d")"
check "and bytes" test "$(json_field bytes_added)" -gt 0

profile atime 600 <<EOF
repository = $REPO
password-file = $PW
path = $AT/src
with-atime = yes
EOF
read_all
E2E_WHAT="backup with a profile's with-atime = yes" expect_exit 0 \
    kp atime backup --json
P1=$(json_field snapshot_id)
check "the profile's with-atime stores access times" \
    test "$(subtree "$W2" "$AT/src")" != "$(subtree "$P1" "$AT/src")"
E2E_WHAT="restore it" expect_exit 0 k restore "$P1" --target "$WORK/r-p1"
check "the profile's with-atime: the access time is restored" test \
    "$(stat -c %X "$WORK/r-p1$AT/src/d/three")" -ne "$MT"
E2E_WHAT="back to the default" expect_exit 0 k backup "$AT/src" --json
D1=$(json_field snapshot_id)
read_all
E2E_WHAT="and again after reading every file" expect_exit 0 \
    k backup "$AT/src" --json
D2=$(json_field snapshot_id)
check "the default again stores no new trees" \
    test "$(subtree "$D1" "$AT/src")" = "$(subtree "$D2" "$AT/src")"
check "and the first default backup's trees are those of A1" \
    test "$(subtree "$A1" "$AT/src")" = "$(subtree "$D1" "$AT/src")"

# ---------------------------------------------------------------------------
case_begin "nothing outside the temporary directory"
check "/etc/kluis is as it was" test "$(etc_state)" = "$ETC_BEFORE"

e2e_finish
