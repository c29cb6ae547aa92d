#!/usr/bin/env bash
# hack/testenv.sh brings up (or down) what deckhand's end-to-end tests and its
# demo need on this machine: a Docker engine that is a single-node swarm
# manager, nginx, an authenticated registry on 127.0.0.1:5000, Debian's
# openssh-server and openssl (the tests start their own sshd and make their own
# certificates), and the current engine (dockerd and runc built from the Go
# module proxy once per machine, cached). It is the one set-up path: make test,
# make testenv and make demo (examples/demo.sh) run it.
# It is idempotent: every step first checks whether its part is already there
# and only acts when it is not.
#
#   hack/testenv.sh up      install, start and record what is missing
#   hack/testenv.sh up --runtime-only
#                           only what running deckhand needs (make demo): no
#                           sshd, openssl, chromium or current engine build
#   hack/testenv.sh down    stop what "up" started (the registry; dockerd only if "up" started it);
#                           the current engine build stays cached
#   hack/testenv.sh status  print the recorded facts and whether each part answers
#
# The facts the Go tests need (registry address, user, password, docker socket,
# sshd, openssl, the current engine's binaries or why it could not be built)
# are written to $DECKHAND_TESTENV_DIR/env.json (default /var/lib/deckhand-testenv),
# which internal/testenv reads.
set -euo pipefail

STATE_DIR=${DECKHAND_TESTENV_DIR:-/var/lib/deckhand-testenv}
ENV_FILE=$STATE_DIR/env.json
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_USER=deckhand
REG_DIR=$STATE_DIR/registry
# The current engine: built with go install from the Go module proxy into
# ENGINE_DIR, rebuilt only when these pins change (ENGINE_DIR/built-from).
ENGINE_DIR=$STATE_DIR/engines/current
DOCKERD_PKG=github.com/moby/moby/v2/cmd/dockerd
DOCKERD_VERSION=v2.0.0-beta.24
RUNC_PKG=github.com/opencontainers/runc
RUNC_VERSION=v1.5.3
CALLER_PATH=$PATH # to find the caller's go toolchain after PATH is reset
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PROG=testenv
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages() {
	# Each pair is COMMAND:PACKAGE, or /PATH:PACKAGE for a file the package installs.
	local missing=() pair what
	local pairs=(dockerd:docker.io nginx:nginx-light docker-registry:docker-registry
		htpasswd:apache2-utils curl:curl ip:iproute2 iptables:iptables busybox:busybox-static)
	local names="docker.io, nginx-light, docker-registry, apache2-utils, curl, iproute2, iptables, busybox-static"
	if [ "$FOR_TESTS" = 1 ]; then
		pairs+=(/usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client openssl:openssl
			chromium:chromium gcc:gcc /usr/include/stdio.h:libc6-dev)
		names+=", chromium, openssh-server, openssl, gcc"
	fi
	step "checking packages ($names)"
	for pair in "${pairs[@]}"; do
		what=${pair%%:*}
		case $what in
		/*) [ -e "$what" ] && continue ;;
		*) command -v "$what" >/dev/null 2>&1 && continue ;;
		esac
		case " ${missing[*]} " in *" ${pair#*:} "*) ;; *) missing+=("${pair#*:}") ;; esac
	done
	if [ ${#missing[@]} -eq 0 ]; then
		info "all present"
		return
	fi
	command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them; install them by hand"
	info "installing ${missing[*]} with apt-get (services are not auto-started)"
	# Packages' maintainer scripts must not start their own daemons (nginx on
	# :80, a registry on :5000, sshd on :22): policy-rc.d exit 101 forbids it
	# while we install. The tests start their own sshd with their own config.
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		made_policy=1
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
	} >"$STATE_DIR/apt.log" 2>&1 || rc=$?
	[ -z "$made_policy" ] || rm -f "$policy"
	if [ $rc -ne 0 ]; then
		tail -n 20 "$STATE_DIR/apt.log" >&2
		die "apt-get could not install ${missing[*]} (full log: $STATE_DIR/apt.log); check the apt sources and network"
	fi
	info "installed ${missing[*]}"
}

# mount_cgroups mounts the cgroup v1 hierarchies dockerd needs when nothing
# mounted them (a bare container or chroot), as Debian's init script does.
mount_cgroups() {
	[ -e /proc/cgroups ] && [ -d /sys/fs/cgroup ] || return 0
	grep -qs ' /sys/fs/cgroup ' /proc/mounts && return 0
	info "mounting cgroup hierarchies under /sys/fs/cgroup"
	mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup
	awk '!/^#/ { if ($4 == 1) print $1 }' /proc/cgroups | while read -r sys; do
		mkdir -p "/sys/fs/cgroup/$sys"
		mount -n -t cgroup -o "$sys" cgroup "/sys/fs/cgroup/$sys" 2>/dev/null || rmdir "/sys/fs/cgroup/$sys" || true
	done
}

start_engine() {
	step "checking the docker engine on $DOCKER_SOCK"
	if engine_answers; then
		info "engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers"
		return
	fi
	if alive "$STATE_DIR/dockerd.pid" dockerd || alive /var/run/docker.pid dockerd; then
		info "dockerd is running but does not answer yet; waiting"
	else
		mount_cgroups
		info "starting dockerd (log: $STATE_DIR/dockerd.log)"
		ulimit -n 1048576 2>/dev/null || true
		# Without --containerd, Debian's dockerd starts and supervises its own containerd.
		setsid dockerd -H "$DOCKER_HOST_URL" --pidfile /var/run/docker.pid \
			</dev/null >>"$STATE_DIR/dockerd.log" 2>&1 9>&- &
		echo $! >"$STATE_DIR/dockerd.pid"
	fi
	local i
	for ((i = 0; i < 600; i++)); do
		engine_answers && break
		if [ -s "$STATE_DIR/dockerd.pid" ] && ! running "$(cat "$STATE_DIR/dockerd.pid")"; then
			tail -n 20 "$STATE_DIR/dockerd.log" >&2
			rm -f "$STATE_DIR/dockerd.pid"
			die "dockerd exited while starting (full log: $STATE_DIR/dockerd.log)"
		fi
		sleep 0.1
	done
	engine_answers || die "dockerd did not answer on $DOCKER_SOCK within 60s (log: $STATE_DIR/dockerd.log)"
	info "engine $(docker version --format '{{.Server.Version}}') answers"
}

init_swarm() {
	step "checking that the engine is a swarm manager"
	local state ctrl
	state=$(docker info --format '{{.Swarm.LocalNodeState}}')
	ctrl=$(docker info --format '{{.Swarm.ControlAvailable}}')
	case "$state/$ctrl" in
	active/true)
		info "already a swarm manager"
		;;
	inactive/*)
		info "docker swarm init --advertise-addr 127.0.0.1"
		docker swarm init --advertise-addr 127.0.0.1 >/dev/null
		info "single-node swarm created"
		;;
	active/false)
		die "this engine is a swarm worker, tests need a manager; promote it from a manager (docker node promote) or leave the swarm (docker swarm leave) and rerun"
		;;
	locked/*)
		die "the swarm is locked; unlock it with: docker swarm unlock"
		;;
	*)
		die "the engine's swarm state is \"$state\"; fix it or leave the swarm with: docker swarm leave --force, then rerun"
		;;
	esac
}

registry_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 -u "$REGISTRY_USER:$1" "http://$REGISTRY_ADDR/v2/" || true
}

start_registry() {
	step "checking the registry on $REGISTRY_ADDR"
	mkdir -p "$REG_DIR/data"
	chmod 700 "$REG_DIR"
	if [ ! -s "$REG_DIR/password" ] || [ ! -s "$REG_DIR/htpasswd" ]; then
		info "generating credentials for user $REGISTRY_USER (bcrypt htpasswd)"
		(umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 >"$REG_DIR/password")
		htpasswd -B -b -c "$REG_DIR/htpasswd" "$REGISTRY_USER" "$(cat "$REG_DIR/password")" 2>/dev/null
	fi
	local password code
	password=$(cat "$REG_DIR/password")
	cat >"$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
  fields:
    service: deckhand-testenv-registry
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: deckhand-testenv
    path: $REG_DIR/htpasswd
EOF
	code=$(registry_code "$password")
	case "$code" in
	200)
		info "already answering with our credentials"
		return
		;;
	000) ;;
	*)
		die "something else answers on $REGISTRY_ADDR (HTTP $code with the test credentials); stop it (see: ss -ltnp 'sport = :5000') and rerun"
		;;
	esac
	info "starting docker-registry serve $REG_DIR/config.yml (log: $STATE_DIR/registry.log)"
	setsid docker-registry serve "$REG_DIR/config.yml" </dev/null >>"$STATE_DIR/registry.log" 2>&1 9>&- &
	echo $! >"$STATE_DIR/registry.pid"
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(registry_code "$password")" = 200 ] && break
		if ! running "$(cat "$STATE_DIR/registry.pid")"; then
			tail -n 20 "$STATE_DIR/registry.log" >&2
			die "docker-registry exited while starting (full log: $STATE_DIR/registry.log)"
		fi
		sleep 0.1
	done
	[ "$(registry_code "$password")" = 200 ] || die "the registry did not answer on $REGISTRY_ADDR within 20s (log: $STATE_DIR/registry.log)"
	[ "$(registry_code wrong-password)" = 401 ] || die "the registry on $REGISTRY_ADDR does not refuse a wrong password; check $REG_DIR/config.yml"
	info "registry answers and refuses a wrong password"
}

# find_go prints the go toolchain to build with: $GO (make passes it), else
# the caller's PATH, else Go's default install location.
find_go() {
	local g
	for g in "${GO:-}" go /usr/local/go/bin/go; do
		[ -n "$g" ] || continue
		g=$(PATH=$CALLER_PATH:$PATH type -P "$g") && {
			printf '%s\n' "$g"
			return
		}
	done
	return 1
}

# engine_versions sets DOCKERD_VER and RUNC_VER from the binaries in $1 and
# fails when either does not run.
engine_versions() {
	DOCKERD_VER=$("$1/dockerd" --version 2>&1) && RUNC_VER=$("$1/runc" --version 2>&1) || return 1
	RUNC_VER=${RUNC_VER%%$'\n'*}
	case $DOCKERD_VER in "Docker version "*) ;; *) return 1 ;; esac
}

# go_install DIR LOG LDFLAGS PKG@VERSION runs go install (with cgo) into DIR,
# printing a line every minute so a long first build does not look hung.
go_install() {
	local dir=$1 log=$2 ldflags=$3 pkg=$4 t0=$SECONDS hb rc=0
	printf '\n$ GOBIN=%s CGO_ENABLED=1 go install -ldflags %q %s\n' "$dir" "$ldflags" "$pkg" >>"$log"
	(while sleep 60; do info "... still building ($((SECONDS - t0))s so far)"; done) &
	hb=$!
	env GOBIN="$dir" CGO_ENABLED=1 nice -n 10 "$GO_BIN" install -ldflags "$ldflags" "$pkg" >>"$log" 2>&1 </dev/null || rc=$?
	kill "$hb" 2>/dev/null || true
	wait "$hb" 2>/dev/null || true
	return $rc
}

# build_failed records why the current engine is unavailable and warns; the
# tests that need it then fail in CI and skip elsewhere, naming this reason.
build_failed() {
	ENGINE_ERR=$1
	printf '%s: warning: %s\n' "$PROG" "$ENGINE_ERR" >&2
}

# build_current_engine builds the current engine's dockerd and a runc new
# enough for it (Debian's runc 1.1 lacks the time namespace it asks for) into
# ENGINE_DIR, once per machine: it skips the build when both binaries are
# there, run, and were built from the pinned versions.
build_current_engine() {
	local want="$DOCKERD_PKG@$DOCKERD_VERSION $RUNC_PKG@$RUNC_VERSION" pkg
	local log=$STATE_DIR/engine-build.log tmp t0=$SECONDS
	step "checking the current engine ($DOCKERD_PKG@$DOCKERD_VERSION, runc $RUNC_VERSION) in $ENGINE_DIR"
	ENGINE_ERR=
	if [ "$(cat "$ENGINE_DIR/built-from" 2>/dev/null)" = "$want" ] && engine_versions "$ENGINE_DIR"; then
		info "cached: $DOCKERD_VER; $RUNC_VER"
		return
	fi
	if [ "$FOR_TESTS" = 0 ]; then
		ENGINE_ERR="not built: hack/testenv.sh up --runtime-only skips it; run hack/testenv.sh up (make testenv)"
		info "skipped (--runtime-only: only the tests use it)"
		return
	fi
	GO_BIN=$(find_go) || {
		build_failed "no go toolchain (not \$GO, not on PATH, not /usr/local/go/bin/go) to build the current engine; install Go and rerun hack/testenv.sh up"
		return
	}
	info "building it with $("$GO_BIN" version | cut -d' ' -f3) go install from the Go module proxy ($(go_proxy))"
	info "the first build takes ~5 minutes on 2 cores; later runs reuse it (log: $log)"
	tmp=$ENGINE_DIR.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	: >"$log"
	# dockerd built by go install says "library-import" unless told its version,
	# as moby's own build does; runc needs cgo (its nsenter is C) and is built
	# without the seccomp tag.
	local dockerd_ldflags="-X github.com/moby/moby/v2/dockerversion.Version=${DOCKERD_VERSION#v}"
	for pkg in "$DOCKERD_PKG@$DOCKERD_VERSION" "$RUNC_PKG@$RUNC_VERSION"; do
		local ldflags=''
		[ "$pkg" != "$DOCKERD_PKG@$DOCKERD_VERSION" ] || ldflags=$dockerd_ldflags
		if ! go_install "$tmp" "$log" "$ldflags" "$pkg"; then
			tail -n 15 "$log" >&2
			if grep -qiE 'proxy|410 Gone|404 Not Found|verifying module|checksum mismatch|dial tcp|no such host|TLS handshake|connection refused' "$log"; then
				build_failed "the Go module proxy ($(go_proxy)) refused or could not serve $pkg: $(grep -iE 'proxy|410 Gone|404 Not Found|verifying|checksum|dial tcp|no such host|TLS|refused' "$log" | tail -n 1) (full log: $log)"
			else
				build_failed "go install $pkg failed: $(tail -n 1 "$log") (full log: $log)"
			fi
			rm -rf "$tmp"
			return
		fi
	done
	if ! engine_versions "$tmp"; then
		build_failed "the built engine does not run: dockerd --version: $("$tmp/dockerd" --version 2>&1 | head -n 1); runc --version: $("$tmp/runc" --version 2>&1 | head -n 1)"
		rm -rf "$tmp"
		return
	fi
	printf '%s\n' "$want" >"$tmp/built-from"
	rm -rf "$ENGINE_DIR"
	mv "$tmp" "$ENGINE_DIR"
	info "built in $((SECONDS - t0))s: $DOCKERD_VER; $RUNC_VER"
}

go_proxy() { PATH=$CALLER_PATH:$PATH "$GO_BIN" env GOPROXY 2>/dev/null || echo "GOPROXY unknown"; }

write_env() {
	step "writing $ENV_FILE"
	local started_dockerd=false current_dockerd='' current_runc=''
	alive "$STATE_DIR/dockerd.pid" dockerd && started_dockerd=true
	if [ -z "${ENGINE_ERR:-}" ]; then
		current_dockerd=$ENGINE_DIR/dockerd
		current_runc=$ENGINE_DIR/runc
	fi
	(
		umask 077
		cat >"$ENV_FILE.tmp" <<EOF
{
  "docker_host": "$DOCKER_HOST_URL",
  "nginx": "$(command -v nginx)",
  "registry": {
    "addr": "$REGISTRY_ADDR",
    "user": "$REGISTRY_USER",
    "password": "$(cat "$REG_DIR/password")"
  },
  "started_dockerd": $started_dockerd,
  "sshd": $(json_str "$(type -P sshd || true)"),
  "openssl": $(json_str "$(type -P openssl || true)"),
  "current_engine": {
    "dockerd": $(json_str "$current_dockerd"),
    "runc": $(json_str "$current_runc"),
    "dockerd_version": $(json_str "${DOCKERD_VER:-}"),
    "runc_version": $(json_str "${RUNC_VER:-}"),
    "built_from": $(json_str "$DOCKERD_PKG@$DOCKERD_VERSION $RUNC_PKG@$RUNC_VERSION"),
    "error": $(json_str "${ENGINE_ERR:-}")
  }
}
EOF
	)
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

summary() {
	local sv ctrl reg=down dclient
	sv=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo down)
	ctrl=$(docker info --format '{{.Swarm.LocalNodeState}} manager={{.Swarm.ControlAvailable}}' 2>/dev/null || echo unknown)
	if [ -s "$REG_DIR/password" ] && [ "$(registry_code "$(cat "$REG_DIR/password")")" = 200 ]; then
		reg=up
	fi
	dclient=$(type -P docker || echo none)
	echo "test environment:"
	echo "  engine:     $DOCKER_HOST_URL (Engine $sv, swarm $ctrl)"
	echo "  registry:   http://$REGISTRY_ADDR ($reg, user $REGISTRY_USER, password in $REG_DIR/password)"
	echo "  nginx:      $(command -v nginx || echo missing)"
	echo "  docker CLI: $dclient (first on PATH)"
	echo "  sshd:       $(type -P sshd || echo missing); openssl: $(type -P openssl || echo missing)"
	if [ -n "${ENGINE_ERR:-}" ]; then
		echo "  current:    unavailable: $ENGINE_ERR"
	elif engine_versions "$ENGINE_DIR"; then
		echo "  current:    $ENGINE_DIR ($DOCKERD_VER; $RUNC_VER)"
	else
		echo "  current:    not built (hack/testenv.sh up builds it into $ENGINE_DIR)"
	fi
	echo "  facts:      $ENV_FILE"
}

cmd_up() {
	need_root "hack/testenv.sh up"
	local t0=$SECONDS
	mkdir -p "$STATE_DIR"
	chmod 700 "$STATE_DIR"
	exec 9>"$STATE_DIR/testenv.lock"
	flock 9
	install_packages
	start_engine
	init_swarm
	start_registry
	build_current_engine
	write_env
	summary
	echo "ready in $((SECONDS - t0))s"
}

cmd_down() {
	need_root "hack/testenv.sh down"
	mkdir -p "$STATE_DIR"
	exec 9>"$STATE_DIR/testenv.lock"
	flock 9
	rm -f "$ENV_FILE"
	step "stopping the registry if hack/testenv.sh started it"
	if stop_pid "$STATE_DIR/registry.pid" docker-registry 10; then
		info "stopped"
	else
		info "not running under hack/testenv.sh"
	fi
	step "stopping dockerd if hack/testenv.sh started it"
	if stop_pid "$STATE_DIR/dockerd.pid" dockerd 60; then
		info "stopped (swarm state kept in /var/lib/docker for the next up)"
	else
		info "left alone (not started by hack/testenv.sh)"
	fi
}

FOR_TESTS=1
case "${1:-}" in
up)
	case "${2:-}" in
	"") ;;
	--runtime-only) FOR_TESTS=0 ;;
	*)
		echo "usage: hack/testenv.sh up [--runtime-only]" >&2
		exit 2
		;;
	esac
	cmd_up
	;;
down) cmd_down ;;
status) summary ;;
*)
	echo "usage: hack/testenv.sh up|down|status" >&2
	exit 2
	;;
esac
