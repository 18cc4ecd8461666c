# shellcheck shell=bash
# A private OpenSSH server for the ssh:// end-to-end tests.  Source it after
# lib.sh and e2e_init, with KLUIS_SERVER and REPO set.
#
#   sshd_start          starts /usr/sbin/sshd on 127.0.0.1 on a free port
#                       (stopped by its PID when the script exits)
#   ssh_add_key NAME OPTS   a new client key $SSHD_DIR/keys/NAME, authorized
#                       with the authorized_keys OPTS (may be empty); prints
#                       the private key's path
#   ssh_cmd KEY         the ssh command line (a string) that reaches the
#                       server with KEY: for protoclient.py --cmd
#   sshd_session_pids   PIDs of the per-connection sshd processes
#
# Set before sshd_start (all optional):
#   SSHD_PROGNAME   run sshd under this name (a symlink in $SSHD_DIR): its
#                   PAM service, and so its /etc/pam.d file, is this name
#                   (OpenSSH portable uses the program name, and Debian
#                   does not override it)
#   SSHD_CONFIG_PRE   sshd_config lines put before the harness's own: the
#                   first value of a keyword wins, so these override them
#                   (e.g. "UsePAM yes", another "Port N")
#   SSHD_CONFIG_POST  lines appended at the end (Match blocks)
#
# Exported after sshd_start:
#   SSH_PORT, SSH_KH (known_hosts with the host key as [127.0.0.1]:PORT),
#   SSH_HOSTKEY_FP (SHA256:... of the host key), SSHD_DIR, SSHD_LOG, SSHD_PID,
#   SSHD_COMM (the sshd processes' /proc/PID/comm)
#   SSH_KEY_ADMIN   full role, forced `serve --repo $REPO`
#   SSH_KEY_APPEND  forced `serve --append-only --repo $REPO --client-name web01`
#   SSH_KEY_RO      forced `serve --read-only --repo $REPO --client-name ro01`
#   SSH_KEY_OTHER   forced `serve --append-only --repo $OTHER_REPO
#                   --client-name other01` (pinned to another repository)
#   SSH_KEY_OPEN    no forced command (`restrict` only): the client's own
#                   remote command runs (needs --server-command)
#   SSH_KEY_STRANGER  a key that is not in authorized_keys
#   SSH_URL         ssh://root@127.0.0.1:PORT$REPO
#   OTHER_REPO      $WORK/other-repo unless set before
#
# sshd's StrictModes checks every directory from the authorized_keys file
# up to / (root's home is /root): /tmp is world-writable, so the server's
# files live in a root-owned 0700 directory under /run, not under $WORK.
SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}

sshd_die() {
	echo "FAIL: sshd harness: $*"
	if [ -n "${SSHD_LOG:-}" ] && [ -s "$SSHD_LOG" ]; then
		tail -n 20 "$SSHD_LOG" | sed 's/^/  sshd: /'
	fi
	echo "${pass:-0} passed, $((${fail:-0} + 1)) failed"
	exit 1
}

# ssh_add_key NAME OPTIONS: generates a key, appends it to authorized_keys
# with OPTIONS (unless OPTIONS is "-": not authorized), prints its path.
ssh_add_key() {
	local key=$SSHD_DIR/keys/$1
	rm -f "$key" "$key.pub"
	ssh-keygen -q -t ed25519 -N '' -C "kluis-e2e-$1" -f "$key" \
	    >/dev/null 2>&1 || sshd_die "ssh-keygen for $1"
	if [ "$2" != "-" ]; then
		if [ -n "$2" ]; then
			printf '%s %s\n' "$2" "$(cat "$key.pub")"
		else
			cat "$key.pub"
		fi >>"$SSHD_DIR/authorized_keys"
	fi
	echo "$key"
}

# ssh_cmd KEY [KNOWN_HOSTS]: an ssh command line for protoclient.py --cmd.
ssh_cmd() {
	printf '%s' "ssh -F /dev/null -T -x -p $SSH_PORT -i $1" \
	    " -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes" \
	    " -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${2:-$SSH_KH}" \
	    " -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR" \
	    " -o ConnectTimeout=10 root@127.0.0.1"
}

# sshd_session_pids: the per-connection sshd processes (every sshd below
# the listener: the monitor and the process holding the connection), not
# the commands they run.
sshd_session_pids() {
	local p q todo
	todo=$(pgrep -P "$SSHD_PID" 2>/dev/null)
	while [ -n "$todo" ]; do
		set -- $todo
		todo=
		for p in "$@"; do
			[ "$(cat /proc/"$p"/comm 2>/dev/null)" = \
			    "$SSHD_COMM" ] || continue
			echo "$p"
			for q in $(pgrep -P "$p" 2>/dev/null); do
				todo="$todo $q"
			done
		done
	done
}

sshd_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

sshd_start() {
	local hk port sv bin

	[ -x "$SSHD_BIN" ] || sshd_die "$SSHD_BIN is missing: install openssh-server (scripts/deps.sh does)"
	command -v ssh >/dev/null || sshd_die "the ssh client is missing"
	command -v ssh-keygen >/dev/null || sshd_die "ssh-keygen is missing"
	[ "$(id -u)" -eq 0 ] || sshd_die "the ssh tests run sshd as root (PermitRootLogin)"
	mkdir -p /run/sshd && chmod 755 /run/sshd
	: "${OTHER_REPO:=$WORK/other-repo}"
	SSHD_DIR=$(mktemp -d /run/kluis-e2e-sshd.XXXXXX) ||
	    sshd_die "cannot create a directory under /run"
	chmod 700 "$SSHD_DIR"
	at_exit "rm -rf '$SSHD_DIR'"
	mkdir -m 700 "$SSHD_DIR/keys"
	: >"$SSHD_DIR/authorized_keys"
	chmod 600 "$SSHD_DIR/authorized_keys"
	SSHD_LOG=$SSHD_DIR/sshd.log
	bin=$SSHD_BIN
	if [ -n "${SSHD_PROGNAME:-}" ]; then
		# an absolute path: sshd re-executes itself through argv[0]
		bin=$SSHD_DIR/$SSHD_PROGNAME
		ln -s "$SSHD_BIN" "$bin" || sshd_die "cannot link $bin"
	fi
	SSHD_COMM=$(basename "$bin" | cut -c1-15)
	hk=$SSHD_DIR/host_ed25519
	ssh-keygen -q -t ed25519 -N '' -C kluis-e2e-host -f "$hk" \
	    >/dev/null 2>&1 || sshd_die "ssh-keygen for the host key"
	SSH_HOSTKEY_FP=$(ssh-keygen -l -E sha256 -f "$hk.pub" | awk '{print $2}')

	sv=$KLUIS_SERVER
	SSH_KEY_ADMIN=$(ssh_add_key admin \
	    "command=\"$sv serve --repo $REPO\",restrict")
	SSH_KEY_APPEND=$(ssh_add_key append \
	    "command=\"$sv serve --append-only --repo $REPO --client-name web01\",restrict")
	SSH_KEY_RO=$(ssh_add_key ro \
	    "command=\"$sv serve --read-only --repo $REPO --client-name ro01\",restrict")
	SSH_KEY_OTHER=$(ssh_add_key other \
	    "command=\"$sv serve --append-only --repo $OTHER_REPO --client-name other01\",restrict")
	SSH_KEY_OPEN=$(ssh_add_key open "restrict")
	SSH_KEY_STRANGER=$(ssh_add_key stranger -)

	for _ in 1 2 3 4 5; do
		port=$(sshd_free_port)
		{
			[ -z "${SSHD_CONFIG_PRE:-}" ] ||
			    printf '%s\n' "$SSHD_CONFIG_PRE"
			cat <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $hk
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes yes
ExposeAuthInfo yes
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 20
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
AcceptEnv none
Subsystem sftp internal-sftp
EOF
			[ -z "${SSHD_CONFIG_POST:-}" ] ||
			    printf '%s\n' "$SSHD_CONFIG_POST"
		} >"$SSHD_DIR/sshd_config"
		"$bin" -t -f "$SSHD_DIR/sshd_config" >"$SSHD_LOG" 2>&1 ||
		    sshd_die "sshd -t rejects the configuration"
		: >"$SSHD_LOG"
		"$bin" -D -e -f "$SSHD_DIR/sshd_config" -E "$SSHD_LOG" \
		    </dev/null >/dev/null 2>&1 &
		SSHD_PID=$!
		at_exit "kill $SSHD_PID"
		for _ in $(seq 100); do
			if grep -q "Server listening" "$SSHD_LOG" 2>/dev/null; then
				break 2
			fi
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
		SSHD_PID=
	done
	[ -n "$SSHD_PID" ] || sshd_die "sshd did not start"
	SSH_PORT=$port
	SSH_KH=$SSHD_DIR/known_hosts
	printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" \
	    "$(cut -d' ' -f1,2 "$hk.pub")" >"$SSH_KH"
	SSH_URL=ssh://root@127.0.0.1:$SSH_PORT$REPO
	export SSH_PORT SSH_KH SSH_HOSTKEY_FP SSHD_DIR SSHD_LOG SSHD_PID \
	    SSHD_COMM SSH_KEY_ADMIN SSH_KEY_APPEND SSH_KEY_RO SSH_KEY_OTHER \
	    SSH_KEY_OPEN SSH_KEY_STRANGER SSH_URL OTHER_REPO
	# The harness itself must work before anything else is judged.
	if ! ssh -F /dev/null -T -p "$SSH_PORT" -i "$SSH_KEY_OPEN" \
	    -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes \
	    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KH" \
	    -o GlobalKnownHostsFile=/dev/null root@127.0.0.1 \
	    echo harness-ok </dev/null 2>"$SSHD_DIR/probe.err" |
	    grep -qx harness-ok; then
		sed 's/^/  ssh: /' "$SSHD_DIR/probe.err"
		sshd_die "OpenSSH login with the open key fails"
	fi
	echo "# sshd $SSHD_PID on 127.0.0.1:$SSH_PORT, host key $SSH_HOSTKEY_FP"
}
