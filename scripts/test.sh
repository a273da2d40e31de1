#!/usr/bin/env bash
# The one test command: installs what a fresh Debian-like machine lacks,
# then type-checks, lints and runs every test against real services.
#
#   scripts/test.sh            everything
#   scripts/test.sh --unit     unit tests only (no services needed)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf '\n==> %s\n' "$*"; }

unit_only=0
[ "${1:-}" = "--unit" ] && unit_only=1

# --- system packages: the real broker and databases the tests start ----------
# Unit tests need none of them, so --unit skips this step.
declare -A package_for=(
  [mosquitto]=mosquitto
  [influxd]=influxdb
  [victoria-metrics]=victoria-metrics
  [docker-compose]=docker-compose
  [openssl]=openssl  # certificates for the TLS tests (mosquitto_passwd comes with mosquitto)
  # Docker for real (test/integration/docker.test.ts, as root): the daemon, and
  # debootstrap for the stand-in of the base image, which cannot be pulled.
  [dockerd]=docker.io
  [debootstrap]=debootstrap
)
missing=()
for binary in "${!package_for[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || missing+=("${package_for[$binary]}")
done
if [ "$unit_only" = 0 ] && [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "scripts/test.sh: missing ${missing[*]} and not root; install them with apt-get" >&2; exit 1
  fi
  "${sudo[@]}" apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: tests run
  # their own instances on free ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
    remove_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "${remove_policy:-0}" = 1 ]; then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
fi

# --- node dependencies, exactly as locked -----------------------------------
log "npm ci"
npm ci --no-audit --no-fund

log "lint: type check + eslint"
npm run --silent lint

log "build (what the Docker image runs)"
npm run --silent build

if command -v docker-compose >/dev/null 2>&1; then
  log "docker compose file"
  docker-compose -f docker-compose.yml config --quiet
  docker-compose -f docker-compose.yml -f docker-compose.tls.yml config --quiet
  docker-compose -f docker-compose.yml -f docker-compose.influx-tls.yml config --quiet
  docker-compose -f docker-compose.yml -f docker-compose.influx3.yml config --quiet
  docker-compose -f docker-compose.yml -f test/docker/compose.stand-ins.yml config --quiet
elif [ "$unit_only" = 0 ]; then
  echo "scripts/test.sh: docker-compose is missing" >&2; exit 1
fi

rm -rf .test-artifacts/logs
if [ "$unit_only" = 1 ]; then
  log "unit tests"
  node --import tsx --test --test-timeout=60000 test/unit/*.test.ts
else
  # Built here, not inside the Docker test file: a new machine's cold build
  # (debootstrap, then npm ci in the image) takes minutes of that file's budget.
  log "docker images for the Docker test (minutes on a new machine, seconds after)"
  node --import tsx test/docker/prepare.ts
  log "unit and integration tests (real Mosquitto, InfluxDB 1.x, VictoriaMetrics; Docker when root)"
  node --import tsx --test --test-concurrency=1 --test-timeout=600000 test/unit/*.test.ts test/integration/*.test.ts
fi
# Service logs are kept only when something failed (set -e stops before this).
rm -rf .test-artifacts/logs
