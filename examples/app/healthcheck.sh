#!/bin/sh
# healthcheck.sh: exit 0 when the service answers /healthz, 1 when not, with
# one line saying which (docker keeps it in the container's health log).
url="http://127.0.0.1:${APP_PORT:-8080}/healthz"
if body=$(timeout 2 wget -q -O - "$url" 2>&1); then
	echo "healthy: $body"
	exit 0
fi
echo "unhealthy: $url: $(echo "$body" | head -n 1)"
exit 1
