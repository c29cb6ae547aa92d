#!/usr/bin/env bash
# examples/demo.sh (make demo): the talks' whole system on this machine.
#
#   examples/demo.sh          set up and run the demo (idempotent: rerun at will)
#   examples/demo.sh clean    remove the demo stack, stop the watch and nginx it
#                             started, delete its state (the engine, the swarm,
#                             the registry and the images stay)
#
# As root on a Debian-like machine it first runs hack/testenv.sh up, the set-up
# make test uses (it installs docker.io, nginx-light, docker-registry and a few
# tools if absent, starts the engine, makes a single-node swarm if there is
# none, and starts a registry on 127.0.0.1:5000). Then it labels the node,
# builds the example image (from locally made bases when nothing can be
# pulled), deploys examples/deployment.yml with deckhand, runs deckhand watch
# and a private nginx on $DEMO_LISTEN:$DEMO_PORT, and sends requests through it.
#
# Settings (environment):
#   DEMO_DIR      state: nginx prefix, logs, pids     (/var/lib/deckhand-demo)
#   DEMO_STACK    stack name                          (hello)
#   DEMO_LISTEN   address nginx listens on            (127.0.0.1)
#   DEMO_PORT     port nginx listens on               (8088)
#   DEMO_METRICS  address of watch's status page      (127.0.0.1:9188)
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

PROG=demo
# shellcheck source=hack/lib.sh
. "$ROOT/hack/lib.sh"
STEP_N=0
# deckhand and local-bases.sh use the engine hack/testenv.sh set up, as the
# docker function does.
export DOCKER_HOST=$DOCKER_HOST_URL
unset DOCKER_CONTEXT

# nginx_cmd ARGS...: the demo's own nginx, next to any system nginx.
nginx_cmd() { nginx -e stderr -p "$NGINX_DIR/" -c nginx.conf "$@"; }

# set_up runs the tests' own set-up: the engine and its swarm, nginx and the
# registry, installed and started when absent.
set_up() {
	step "setting up the engine, its swarm, nginx and the registry as make test does: hack/testenv.sh up --runtime-only"
	need_root "make demo"
	hack/testenv.sh up --runtime-only 2>&1 | sed 's/^/    | /' ||
		die "hack/testenv.sh up failed; do what its message above says and rerun make demo"
}

label_node() {
	step "labelling this node $NODE_LABEL=true (the stack's placement constraint)"
	local node
	node=$(docker info --format '{{.Swarm.NodeID}}')
	info "docker node update --label-add $NODE_LABEL=true $node"
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
	if alive "$NGINX_DIR/nginx.pid" nginx; then
		info "already running (pid $(cat "$NGINX_DIR/nginx.pid"))"
		return
	fi
	# What an earlier demo's watch wrote may name tasks that are gone: start
	# empty, and let a watch started after nginx write the servers.
	stop_pid "$DEMO_DIR/watch.pid" "deckhand watch" 10 || true
	echo "# deckhand watch writes this file" >"$NGINX_DIR/conf.d/deckhand.conf"
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
	# watch has written the servers and asked nginx to reload; the reloaded
	# nginx serves them a moment later.
	for ((i = 0; i < 100; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "Host: $DEMO_HOST" "http://$DEMO_LISTEN:$DEMO_PORT/")" = 200 ] && break
		sleep 0.1
	done
	for ((i = 1; i <= 6; i++)); do
		if answer=$(curl -sS --fail-with-body --max-time 5 -H "Host: $DEMO_HOST" -w ' [via %header{x-upstream}]' "http://$DEMO_LISTEN:$DEMO_PORT/" 2>&1); then
			info "$(echo "$answer" | tr -d '\n')"
		else
			info "request $i failed: $(echo "$answer" | tr -d '\n')"
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
		$c "http://$DEMO_METRICS/" "its status page, in a browser" \
		$c "curl -s http://$DEMO_METRICS/metrics" "its metrics" \
		$c "curl -H 'Host: $DEMO_HOST' http://$DEMO_LISTEN:$DEMO_PORT/" "one more request"
	cat <<EOF

Try a rolling update (start-first, health-checked) while watching the above:
  DOCKER_BUILDKIT=0 docker build \$(examples/app/local-bases.sh) --build-arg VERSION=v2 -t $REGISTRY/$IMAGE_NAME:v2 examples/app
  TAG=v2 REGISTRY=$REGISTRY IMAGE_NAME=$IMAGE_NAME APP_API_KEY=\$(cat $DEMO_DIR/api_key) ENVIRONMENT=demo HTTP_HOST=$DEMO_HOST \\
    $DECKHAND deploy --resolve-image never -c examples/deployment.yml $DEMO_STACK

Clean up: make demo-clean (the engine, the swarm, the registry and the images stay).
EOF
}

cmd_up() {
	local t0=$SECONDS
	set_up
	label_node
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
	if stop_pid "$DEMO_DIR/watch.pid" "deckhand watch" 10; then info "stopped"; else info "not running"; fi
	step "stopping the demo's nginx"
	if stop_pid "$NGINX_DIR/nginx.pid" nginx 10; then info "stopped"; else info "not running"; fi
	step "removing stack $DEMO_STACK"
	if engine_answers && docker stack ls --format '{{.Name}}' 2>/dev/null | grep -x "$DEMO_STACK" >/dev/null; then
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
	info "done. Left in place: the engine and its swarm, the registry (make testenv-down stops it),"
	info "the images ($IMAGE_NAME, deckhand-example/*) and the node label $NODE_LABEL"
	info "(docker node update --label-rm $NODE_LABEL NODE)."
}

case "${1:-up}" in
up) cmd_up ;;
clean) cmd_clean ;;
*)
	echo "usage: examples/demo.sh [up|clean]" >&2
	exit 2
	;;
esac
