#!/bin/sh
# docker-entrypoint.sh: reads configuration, environment and secrets at start,
# then execs the service so it runs as PID 1 and receives SIGTERM itself.
set -eu

# Secrets: for every VAR_FILE that names a readable file (swarm mounts secrets
# under /run/secrets), export VAR with the file's content. The value is never
# printed.
for var in $(env | sed -n 's/^\([A-Z0-9_]*\)_FILE=.*/\1/p'); do
	eval "file=\${${var}_FILE}"
	if [ -r "$file" ]; then
		export "$var=$(cat "$file")"
		unset "${var}_FILE"
		echo "entrypoint: $var read from $file"
	else
		echo "entrypoint: ${var}_FILE names $file, which is not readable; check the service's secrets" >&2
		exit 1
	fi
done

# Configuration: the service reads APP_CONFIG (a swarm config file); say which.
: "${APP_CONFIG:=/etc/hello/app.conf}"
if [ -r "$APP_CONFIG" ]; then
	echo "entrypoint: config $APP_CONFIG"
else
	echo "entrypoint: no config at $APP_CONFIG, the service uses its defaults"
fi

# Environment: APP_VERSION comes from the image, APP_PORT from the service.
: "${APP_PORT:=8080}"
export APP_CONFIG APP_PORT
echo "entrypoint: version ${APP_VERSION:-dev}, port $APP_PORT"

# CMD gives flags only (or nothing): run the service with them.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- hello -listen ":$APP_PORT" -config "$APP_CONFIG" "$@"
fi
exec "$@"
