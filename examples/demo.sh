#!/usr/bin/env bash
# examples/demo.sh (make demo): the talks' whole system on this machine.
#
#   examples/demo.sh          set up and run the demo (idempotent: rerun at will)
#   examples/demo.sh clean    remove the demo stack, stop the watch and nginx it
#                             started, delete its state (the engine, the swarm and
#                             the images stay)
#
# As root on a Debian-like machine it installs docker.io and nginx if absent,
# starts the engine, makes a single-node swarm if there is none, builds the
# example image (from locally made bases when nothing can be pulled), deploys
# examples/deployment.yml with deckhand, runs deckhand watch and a private
# nginx on $DEMO_LISTEN:$DEMO_PORT, and sends requests through it.
#
# Settings (environment):
#   DEMO_DIR      state: nginx prefix, logs, pids     (/var/lib/deckhand-demo)
#   DEMO_STACK    stack name                          (hello)
#   DEMO_LISTEN   address nginx listens on            (127.0.0.1)
#   DEMO_PORT     port nginx listens on               (8088)
#   DEMO_METRICS  address of watch's /metrics         (127.0.0.1:9188)
#   DEMO_HOST     virtual host of the service         (hello.localhost)
#   DECKHAND      the deckhand binary                 (bin/deckhand, built if missing)
#   REGISTRY, IMAGE_NAME, TAG   the image reference   (127.0.0.1:5000/deckhand-hello:demo)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO_DIR=${DEMO_DIR:-/var/lib/deckhand-demo}
DEMO_STACK=${DEMO_STACK:-hello}
DEMO_LISTEN=${DEMO_LISTEN:-127.0.0.1}
DEMO_PORT=${DEMO_PORT:-8088}
DEMO_METRICS=${DEMO_METRICS:-127.0.0.1:9188}
DEMO_HOST=${DEMO_HOST:-hello.localhost}
DECKHAND=${DECKHAND:-$ROOT/bin/deckhand}
export REGISTRY=${REGISTRY:-127.0.0.1:5000}
export IMAGE_NAME=${IMAGE_NAME:-deckhand-hello}
export TAG=${TAG:-demo}
IMAGE=$REGISTRY/$IMAGE_NAME:$TAG
NGINX_DIR=$DEMO_DIR/nginx
NODE_LABEL=deckhand.example

n=0
step() {
	n=$((n + 1))
	printf '\n==> [%d] %s\n' "$n" "$*"
}
info() { printf '    %s\n' "$*"; }
die() {
	printf '\ndemo: error: %s\n' "$*" >&2
	exit 1
}

# alive PIDFILE NAME: PIDFILE names a running process whose command line has NAME.
alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# stop_pid PIDFILE NAME: SIGTERM, wait up to 10s, then SIGKILL.
stop_pid() {
	local pid i
	if ! alive "$1" "$2"; then
		rm -f "$1"
		return 1
	fi
	pid=$(cat "$1")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$1" "$2" || break
		sleep 0.1
	done
	alive "$1" "$2" && kill -KILL "$pid" 2>/dev/null
	rm -f "$1"
}

# nginx_cmd ARGS...: the demo's own nginx, next to any system nginx.
nginx_cmd() { nginx -e stderr -p "$NGINX_DIR/" -c nginx.conf "$@"; }

apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "$* missing and no apt-get here; install $* by hand and rerun"
	[ "$(id -u)" = 0 ] || die "$* missing; rerun as root (sudo make demo) so the demo can install $*"
	info "apt-get install $*"
	mkdir -p "$DEMO_DIR"
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
	} >>"$DEMO_DIR/apt.log" 2>&1 || {
		tail -n 20 "$DEMO_DIR/apt.log" >&2
		die "apt-get could not install $* (log: $DEMO_DIR/apt.log); check the apt sources and the network"
	}
}

install_tools() {
	step "checking for docker, nginx and curl"
	local missing=()
	command -v dockerd >/dev/null 2>&1 || command -v docker >/dev/null 2>&1 || missing+=(docker.io)
	command -v curl >/dev/null 2>&1 || missing+=(curl)
	if [ ${#missing[@]} -gt 0 ]; then
		apt_install "${missing[@]}"
	fi
	if ! command -v nginx >/dev/null 2>&1; then
		# Keep the package from starting the system nginx on :80; the demo runs its own.
		local policy=/usr/sbin/policy-rc.d made=
		if [ ! -e "$policy" ] && [ "$(id -u)" = 0 ]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
		fi
		apt_install nginx-light || true
		[ -z "$made" ] || rm -f "$policy"
	fi
	info "docker: $(command -v docker), nginx: $(command -v nginx), curl: $(command -v curl)"
}

start_engine() {
	step "checking that the Docker engine answers"
	if docker info >/dev/null 2>&1; then
		info "engine $(docker version --format '{{.Server.Version}}') answers"
		return
	fi
	[ "$(id -u)" = 0 ] || die "the engine does not answer (docker info) and starting it needs root; start it (systemctl start docker) or rerun as root"
	if [ -d /run/systemd/system ]; then
		info "systemctl start docker"
		systemctl start docker || die "systemctl start docker failed; see: journalctl -u docker"
	elif command -v service >/dev/null 2>&1 && [ -x /etc/init.d/docker ]; then
		info "service docker start"
		service docker start || die "service docker start failed; see /var/log/docker.log"
	else
		mkdir -p "$DEMO_DIR"
		info "no init system: starting dockerd in the background (log: $DEMO_DIR/dockerd.log)"
		setsid dockerd </dev/null >>"$DEMO_DIR/dockerd.log" 2>&1 &
	fi
	local i
	for ((i = 0; i < 120; i++)); do
		docker info >/dev/null 2>&1 && break
		sleep 0.5
	done
	docker info >/dev/null 2>&1 || die "the engine did not answer within 60s; check its log and rerun"
	info "engine $(docker version --format '{{.Server.Version}}') answers"
}

init_swarm() {
	step "checking that the engine is a swarm manager"
	local state ctrl
	state=$(docker info --format '{{.Swarm.LocalNodeState}}')
	ctrl=$(docker info --format '{{.Swarm.ControlAvailable}}')
	case "$state/$ctrl" in
	active/true) info "already a swarm manager, using this swarm" ;;
	inactive/*)
		info "docker swarm init --advertise-addr 127.0.0.1 (a single-node swarm)"
		docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed; see the message above"
		;;
	active/false) die "this engine is a swarm worker; run the demo on a manager" ;;
	locked/*) die "the swarm is locked; unlock it with: docker swarm unlock" ;;
	*) die "the engine's swarm state is \"$state\"; fix it or leave the swarm (docker swarm leave --force) and rerun" ;;
	esac
	local node
	node=$(docker info --format '{{.Swarm.NodeID}}')
	info "docker node update --label-add $NODE_LABEL=true $node (the stack's placement constraint)"
	docker node update --label-add "$NODE_LABEL=true" "$node" >/dev/null
}

build_deckhand() {
	step "checking for deckhand ($DECKHAND)"
	if [ -x "$DECKHAND" ]; then
		info "$("$DECKHAND" version 2>/dev/null | head -n 1)"
		return
	fi
	command -v go >/dev/null 2>&1 || die "$DECKHAND is missing and Go is not installed; install Go 1.26 and run make build"
	info "go build -o $DECKHAND ./cmd/deckhand"
	go build -o "$DECKHAND" ./cmd/deckhand || die "building deckhand failed; see the compiler's message above"
}

build_image() {
	step "building the example image $IMAGE (examples/app/Dockerfile)"
	local bases=()
	if docker image inspect golang:1.26-bookworm busybox:1.37 >/dev/null 2>&1 ||
		{ timeout 60 docker pull -q golang:1.26-bookworm >/dev/null 2>&1 && timeout 60 docker pull -q busybox:1.37 >/dev/null 2>&1; }; then
		info "base images golang:1.26-bookworm and busybox:1.37 are here"
	else
		info "cannot pull golang:1.26-bookworm and busybox:1.37: making local bases (examples/app/local-bases.sh)"
		local args
		args=$(examples/app/local-bases.sh) || die "making the local base images failed; see the message above"
		read -r -a bases <<<"$args"
		info "${bases[*]}"
	fi
	info "DOCKER_BUILDKIT=0 docker build --build-arg CACHE_BREAKER=... --build-arg VERSION=$TAG -t $IMAGE examples/app"
	mkdir -p "$DEMO_DIR"
	if ! DOCKER_BUILDKIT=0 docker build "${bases[@]}" --build-arg "CACHE_BREAKER=$(date +%s)" \
		--build-arg "VERSION=$TAG" -t "$IMAGE" examples/app >"$DEMO_DIR/build.log" 2>&1; then
		tail -n 20 "$DEMO_DIR/build.log" >&2
		die "docker build failed (log: $DEMO_DIR/build.log)"
	fi
	info "built $(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19) (log: $DEMO_DIR/build.log)"
}

deploy() {
	step "deploying stack $DEMO_STACK with deckhand (examples/deployment.yml)"
	mkdir -p "$DEMO_DIR"
	if [ ! -s "$DEMO_DIR/api_key" ]; then
		(umask 077 && head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DEMO_DIR/api_key")
	fi
	# The image was built here and is not pushed: no registry lookup, and the
	# node runs the local image.
	info "deckhand deploy --resolve-image never -c examples/deployment.yml $DEMO_STACK"
	APP_API_KEY=$(cat "$DEMO_DIR/api_key") ENVIRONMENT=demo HTTP_HOST=$DEMO_HOST \
		"$DECKHAND" deploy --resolve-image never --timeout 3m -c examples/deployment.yml "$DEMO_STACK" 2>&1 | sed 's/^/    | /' ||
		die "deckhand deploy failed; see its message above, and: docker service ps --no-trunc ${DEMO_STACK}_web"
}

start_nginx() {
	step "starting nginx on $DEMO_LISTEN:$DEMO_PORT (prefix $NGINX_DIR)"
	mkdir -p "$NGINX_DIR/conf.d" "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
	cp examples/nginx/nginx.conf "$NGINX_DIR/nginx.conf"
	[ -e "$NGINX_DIR/conf.d/deckhand.conf" ] || echo "# deckhand watch writes this file" >"$NGINX_DIR/conf.d/deckhand.conf"
	if alive "$NGINX_DIR/nginx.pid" nginx; then
		info "already running (pid $(cat "$NGINX_DIR/nginx.pid"))"
		return
	fi
	nginx_cmd -t -q || die "nginx -t failed for $NGINX_DIR/nginx.conf; see the message above"
	nginx_cmd || die "nginx did not start; see $NGINX_DIR/logs/error.log"
	info "started (pid $(cat "$NGINX_DIR/nginx.pid"), logs in $NGINX_DIR/logs)"
}

start_watch() {
	step "starting deckhand watch (writes $NGINX_DIR/conf.d/deckhand.conf, reloads nginx)"
	if alive "$DEMO_DIR/watch.pid" "deckhand watch"; then
		info "already running (pid $(cat "$DEMO_DIR/watch.pid"))"
	else
		local cmd=("$DECKHAND" watch --out "$NGINX_DIR/conf.d/deckhand.conf" --template examples/nginx/hello.conf.tmpl
			--listen-addr "$DEMO_LISTEN" --http-port "$DEMO_PORT" --metrics-addr "$DEMO_METRICS"
			--test-command "nginx -e stderr -p $NGINX_DIR/ -c nginx.conf -t -q"
			--reload-command "nginx -e stderr -p $NGINX_DIR/ -c nginx.conf -s reload" "$DEMO_STACK")
		info "${cmd[*]@Q}"
		setsid "${cmd[@]}" </dev/null >>"$DEMO_DIR/watch.log" 2>&1 &
		echo $! >"$DEMO_DIR/watch.pid"
	fi
	local want i servers=0
	want=$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "${DEMO_STACK}_web")
	for ((i = 0; i < 120; i++)); do
		alive "$DEMO_DIR/watch.pid" "deckhand watch" || {
			tail -n 20 "$DEMO_DIR/watch.log" >&2
			die "deckhand watch exited (log: $DEMO_DIR/watch.log)"
		}
		servers=$(grep -c '^ *server .*;' "$NGINX_DIR/conf.d/deckhand.conf" || true)
		[ "$servers" -ge "$want" ] && break
		sleep 0.5
	done
	[ "$servers" -ge "$want" ] || die "nginx has $servers of $want servers after 60s; see $DEMO_DIR/watch.log and docker service ps ${DEMO_STACK}_web"
	info "nginx routes $DEMO_HOST to $servers tasks:"
	grep '^ *server .*;' "$NGINX_DIR/conf.d/deckhand.conf" | sed 's/^ */      /'
}

send_requests() {
	step "sending 6 requests through nginx: curl -H 'Host: $DEMO_HOST' http://$DEMO_LISTEN:$DEMO_PORT/"
	local i answer failed=0
	for ((i = 1; i <= 6; i++)); do
		if answer=$(curl -sS --max-time 5 -H "Host: $DEMO_HOST" -w ' [via %header{x-upstream}]' "http://$DEMO_LISTEN:$DEMO_PORT/" 2>&1); then
			info "$(echo "$answer" | tr -d '\n')"
		else
			info "request $i failed: $answer"
			failed=$((failed + 1))
		fi
	done
	[ "$failed" -eq 0 ] || die "$failed of 6 requests failed; see $NGINX_DIR/logs/error.log and $DEMO_DIR/watch.log"
}

goodbye() {
	local c=54
	echo
	echo "The demo runs. Look around:"
	printf '  %-*s # %s\n' $c "docker stack services $DEMO_STACK" "the service and its replicas" \
		$c "docker service ps ${DEMO_STACK}_web" "its tasks, nodes and states" \
		$c "cat $NGINX_DIR/conf.d/deckhand.conf" "what deckhand watch wrote" \
		$c "tail -f $DEMO_DIR/watch.log" "what it applied and why" \
		$c "curl -s http://$DEMO_METRICS/metrics" "its metrics" \
		$c "curl -H 'Host: $DEMO_HOST' http://$DEMO_LISTEN:$DEMO_PORT/" "one more request"
	cat <<EOF

Try a rolling update (start-first, health-checked) while watching the above:
  DOCKER_BUILDKIT=0 docker build \$(examples/app/local-bases.sh) --build-arg VERSION=v2 -t $REGISTRY/$IMAGE_NAME:v2 examples/app
  TAG=v2 REGISTRY=$REGISTRY IMAGE_NAME=$IMAGE_NAME APP_API_KEY=\$(cat $DEMO_DIR/api_key) ENVIRONMENT=demo HTTP_HOST=$DEMO_HOST \\
    $DECKHAND deploy --resolve-image never -c examples/deployment.yml $DEMO_STACK

Clean up: make demo-clean (the engine, the swarm and the images stay).
EOF
}

cmd_up() {
	local t0=$SECONDS
	install_tools
	start_engine
	init_swarm
	build_deckhand
	build_image
	deploy
	start_nginx
	start_watch
	send_requests
	goodbye
	echo "demo ready in $((SECONDS - t0))s"
}

cmd_clean() {
	step "stopping deckhand watch"
	if stop_pid "$DEMO_DIR/watch.pid" "deckhand watch"; then info "stopped"; else info "not running"; fi
	step "stopping the demo's nginx"
	if alive "$NGINX_DIR/nginx.pid" nginx; then
		nginx_cmd -s quit 2>/dev/null || kill -TERM "$(cat "$NGINX_DIR/nginx.pid")"
		local i
		for ((i = 0; i < 100; i++)); do
			alive "$NGINX_DIR/nginx.pid" nginx || break
			sleep 0.1
		done
		info "stopped"
	else
		info "not running"
	fi
	step "removing stack $DEMO_STACK"
	if docker info >/dev/null 2>&1 && [ -n "$(docker stack ls --format '{{.Name}}' 2>/dev/null | grep -x "$DEMO_STACK")" ]; then
		docker stack rm "$DEMO_STACK" | sed 's/^/    /'
		local i
		for ((i = 0; i < 120; i++)); do
			[ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$DEMO_STACK")" ] &&
				[ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$DEMO_STACK")" ] && break
			sleep 0.5
		done
		info "removed"
	else
		info "no such stack"
	fi
	step "deleting $DEMO_DIR"
	rm -rf "$DEMO_DIR"
	info "done. Left in place: the engine and its swarm, the images ($IMAGE_NAME, deckhand-example/*) and"
	info "the node label $NODE_LABEL (docker node update --label-rm $NODE_LABEL NODE)."
}

case "${1:-up}" in
up) cmd_up ;;
clean) cmd_clean ;;
*)
	echo "usage: examples/demo.sh [up|clean]" >&2
	exit 2
	;;
esac
