# shellcheck shell=bash
# hack/lib.sh: the helpers hack/testenv.sh and examples/demo.sh share; source it
# and set PROG (the name errors start with). Installing and starting the engine,
# its swarm, nginx and the registry is "hack/testenv.sh up" alone: make test,
# make testenv and make demo all run it, so there is one set-up path.

DOCKER_SOCK=/var/run/docker.sock
DOCKER_HOST_URL=unix://$DOCKER_SOCK
STEP_N= # set it to 0 for numbered steps

# step TEXT announces a step: "==> TEXT", or "==> [N] TEXT" after a blank line
# once the caller has set STEP_N=0.
step() {
	if [ -z "$STEP_N" ]; then
		printf '==> %s\n' "$*"
		return
	fi
	STEP_N=$((STEP_N + 1))
	printf '\n==> [%d] %s\n' "$STEP_N" "$*"
}
info() { printf '    %s\n' "$*"; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# need_root WHAT stops WHAT unless it runs as root.
need_root() {
	[ "$(id -u)" = 0 ] || die "$1 must run as root (it installs packages and starts dockerd); rerun it with sudo"
}

# docker runs Debian's client (the engine's own version) against the default
# socket, whatever DOCKER_HOST the caller has set. Without any client it fails
# like a missing command, so that "engine_answers || ..." still works.
docker() {
	local bin=/usr/bin/docker
	[ -x "$bin" ] || bin=$(type -P docker) || {
		printf '%s: error: no docker client found; run: hack/testenv.sh up\n' "$PROG" >&2
		return 127
	}
	DOCKER_HOST=$DOCKER_HOST_URL DOCKER_CONTEXT='' "$bin" "$@"
}

# json_str prints $1 as a JSON string literal.
json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	s=$(printf '%s' "$s" | tr -d '\000-\037')
	printf '"%s"' "$s"
}

engine_answers() { docker info >/dev/null 2>&1; }

# alive PIDFILE NAME succeeds when PIDFILE names a running process whose
# command line contains NAME.
alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# running PID succeeds while process PID exists and has not exited. Right
# after "cmd &" the child may not have exec'd cmd yet (its command line is
# still the shell's), so start-up loops ask this, not alive.
running() {
	kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# stop_pid PIDFILE NAME SECONDS sends SIGTERM, waits, then SIGKILL, and removes
# PIDFILE. It fails when the process was not running.
stop_pid() {
	local pid i
	if ! alive "$1" "$2"; then
		rm -f "$1"
		return 1
	fi
	pid=$(cat "$1")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < $3 * 10; i++)); do
		alive "$1" "$2" || break
		sleep 0.1
	done
	if alive "$1" "$2"; then
		info "$2 (pid $pid) did not stop within $3s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}
