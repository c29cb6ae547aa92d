#!/bin/sh
# local-bases.sh: makes, without pulling anything, the two base images the
# example Dockerfile names, and prints the --build-arg flags that select them:
#   docker build $(examples/app/local-bases.sh) -t hello:v1 examples/app
# The runtime base is Debian's static busybox; the Go base adds the host's Go
# toolchain ($(go env GOROOT)). Existing images are reused.
set -eu
say() { echo "local-bases: $*" >&2; }
die() { echo "local-bases: $*" >&2; exit 1; }

docker=${DOCKER:-docker}
busybox=${BUSYBOX:-/bin/busybox}
command -v go >/dev/null 2>&1 || die "go is not installed; install Go 1.26 (https://go.dev/dl) or build where images can be pulled"
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
runtime_tag=${RUNTIME_TAG:-deckhand-example/busybox:local}
go_tag=${GO_TAG:-deckhand-example/go:${gover#go}-local}

[ -x "$busybox" ] || die "$busybox is missing; run hack/testenv.sh up (it installs busybox-static) or set BUSYBOX to a static busybox"
case "$(file -b "$busybox" 2>/dev/null || echo static)" in
*dynamic*) die "$busybox is dynamically linked; install busybox-static" ;;
esac

# rootfs DIR: a minimal busybox root file system in DIR.
rootfs() {
	mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/root" "$1/usr/local/bin"
	chmod 1777 "$1/tmp"
	cp "$busybox" "$1/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$1/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$1/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/etc/group"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One maker at a time (tests build in parallel): the second finds the images.
if command -v flock >/dev/null 2>&1; then
	exec 9>"${TMPDIR:-/tmp}/deckhand-local-bases.lock"
	flock 9
fi

if "$docker" image inspect "$runtime_tag" >/dev/null 2>&1; then
	say "runtime base $runtime_tag exists"
else
	say "making runtime base $runtime_tag from $busybox"
	rootfs "$tmp/runtime"
	tar -C "$tmp/runtime" -c . | "$docker" import \
		-c 'ENV PATH=/usr/local/bin:/bin' -c 'CMD ["sh"]' - "$runtime_tag" >/dev/null ||
		die "docker import of $runtime_tag failed; is the engine running (docker info)?"
fi

if "$docker" image inspect "$go_tag" >/dev/null 2>&1; then
	say "Go base $go_tag exists"
else
	say "making Go base $go_tag from $busybox and $goroot"
	rootfs "$tmp/go"
	mkdir -p "$tmp/go/usr/local"
	# The toolchain without its tests, docs and the sources of the go command itself.
	tar -C "$goroot" -c --exclude=./test --exclude=./api --exclude=./doc --exclude=./misc \
		--exclude=./src/cmd --exclude=testdata . | (mkdir -p "$tmp/go/usr/local/go" && tar -C "$tmp/go/usr/local/go" -x)
	tar -C "$tmp/go" -c . | "$docker" import \
		-c 'ENV PATH=/usr/local/go/bin:/usr/local/bin:/bin' -c 'ENV HOME=/root' \
		-c 'ENV GOPROXY=off' -c 'CMD ["sh"]' - "$go_tag" >/dev/null ||
		die "docker import of $go_tag failed; is the engine running (docker info)?"
fi

echo "--build-arg GO_IMAGE=$go_tag --build-arg RUNTIME_IMAGE=$runtime_tag"
