#!/usr/bin/env bash
# Makes the stand-in for the project Dockerfile's base image, node:24-bookworm-slim
# (registry images cannot be pulled on the test machines), in the Docker daemon
# that DOCKER_HOST names. Does nothing when it exists for this machine's Node.
#
#   DOCKER_HOST=unix:///…/dockerd.sock test/docker/base-image.sh [work dir]
#
# Needs root (debootstrap), debootstrap, and Debian's mirror (the one apt uses).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-${TMPDIR:-/tmp}}"
docker="${DOCKER:-/usr/bin/docker}"
tag=node:24-bookworm-slim
minbase=sensorflow/debian-minbase:bookworm

node_bin="$(readlink -f "$(command -v node)")"
node_version="$("$node_bin" --version)"
# npm's own folder, wherever this machine keeps it (…/lib/node_modules/npm).
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

if [ "$("$docker" image inspect --format '{{ index .Config.Labels "org.sensorflow.node-version" }}' "$tag" 2>/dev/null || true)" = "$node_version" ]; then
  echo "base-image: $tag (stand-in, node $node_version) exists"
  exit 0
fi

# The mirror apt uses here (deb822 or one-line sources), else Debian's default.
mirror="$(grep -hoE '(URIs:|^deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
  | grep -oE 'https?://[^ ]+' | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

if ! "$docker" image inspect "$minbase" >/dev/null 2>&1; then
  rootfs="$(mktemp -d "$work/sensorflow-rootfs.XXXXXX")"
  # mktemp makes it 0700, and it becomes the image's /: the non-root user could not reach /usr/bin.
  chmod 0755 "$rootfs"
  trap 'rm -rf "$rootfs"' EXIT
  echo "base-image: debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 20 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  tar -C "$rootfs" -c . | "$docker" import - "$minbase" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

context="$(mktemp -d "$work/sensorflow-base.XXXXXX")"
trap 'rm -rf "$context"' EXIT
cp "$node_bin" "$context/node"
cp -a "$npm_dir" "$context/npm"
cp "$ca_bundle" "$context/ca-certificates.crt"
echo "base-image: building $tag from $minbase with node $node_version ($node_bin) and npm ($npm_dir)"
"$docker" build --quiet --network host -f "$here/base.Dockerfile" \
  --build-arg "MINBASE=$minbase" --build-arg "NODE_VERSION=$node_version" -t "$tag" "$context" >/dev/null
echo "base-image: $tag built"
