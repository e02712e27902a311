#!/usr/bin/env bash
# Builds Cairn's container image without pulling any base image, so it works
# on an air-gapped machine with a local Docker engine:
#
#   1. compile a static cairn binary (CGO_ENABLED=0, -trimpath) into bin/image/
#   2. check that it is static (no dynamic loader, cgo off)
#   3. `docker build` the repository's Dockerfile (FROM scratch) with a build
#      context that .dockerignore cuts down to bin/image/ (the binary, /data, and
#      the skeleton: deploy/docker/rootfs/ plus /tmp)
#   4. check that the image runs as 65532 and, when built for this machine's
#      architecture, that `IMAGE help` starts (without network)
#
# Environment: IMAGE (default cairn:dev), GOARCH (default the host's; the
# image is built for linux/$GOARCH, which for another architecture than the
# host's needs the docker buildx plugin), VERSION (an image label; default
# from `git describe`). `make image` runs this script.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-cairn:dev}
GOARCH=${GOARCH:-$(go env GOARCH)}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
out=bin/image

# Without the buildx plugin, docker's legacy builder does the job (this
# Dockerfile needs no BuildKit feature) for this machine's architecture;
# an image for another one needs BuildKit.
platform=()
if [ "$GOARCH" != "$(go env GOHOSTARCH)" ]; then
  platform=(--platform "linux/$GOARCH")
fi
if ! docker buildx version >/dev/null 2>&1; then
  if [ ${#platform[@]} -gt 0 ]; then
    echo "build-image: an image for linux/$GOARCH needs BuildKit (the docker buildx plugin); build on a linux/$GOARCH machine or install buildx" >&2
    exit 1
  fi
  export DOCKER_BUILDKIT=0
fi

rm -rf "$out"
mkdir -p "$out/data" "$out/rootfs/tmp"
cp -R deploy/docker/rootfs/. "$out/rootfs/"
chmod 0755 "$out/data" "$out/rootfs" "$out/rootfs/etc"
chmod 0644 "$out/rootfs/etc/"*
chmod 1777 "$out/rootfs/tmp"

echo "building static cairn for linux/$GOARCH into $out/cairn"
CGO_ENABLED=0 GOOS=linux GOARCH="$GOARCH" \
  go build -trimpath -ldflags="-s -w" -o "$out/cairn" ./cmd/cairn

# Static means: built with cgo off, and no ELF interpreter (dynamic loader).
if ! go version -m "$out/cairn" | grep -q 'CGO_ENABLED=0'; then
  echo "build-image: $out/cairn was not built with CGO_ENABLED=0" >&2
  exit 1
fi
if command -v readelf >/dev/null; then
  if readelf -l "$out/cairn" | grep -q 'Requesting program interpreter'; then
    echo "build-image: $out/cairn is dynamically linked" >&2
    exit 1
  fi
elif command -v file >/dev/null; then
  if ! file "$out/cairn" | grep -q 'statically linked'; then
    echo "build-image: $out/cairn is not statically linked: $(file "$out/cairn")" >&2
    exit 1
  fi
fi

echo "building image $IMAGE"
old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! docker build ${platform[@]+"${platform[@]}"} --build-arg VERSION="$VERSION" -t "$IMAGE" -f Dockerfile . >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-image: docker build failed" >&2
  exit 1
fi
# The previous image of this tag is now untagged; remove it unless a
# container still uses it.
new_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker rmi "$old_id" >/dev/null 2>&1 || true
fi

user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
if [ "$user" != "65532:65532" ]; then
  echo "build-image: $IMAGE runs as '$user', want 65532:65532" >&2
  exit 1
fi
if [ ${#platform[@]} -eq 0 ]; then
  docker run --rm --network none "$IMAGE" help >/dev/null
fi
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "built $IMAGE ($(( size / 1024 / 1024 )) MiB, user $user, cairn $VERSION)"
