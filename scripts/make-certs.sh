#!/usr/bin/env bash
# Certificates for mqtts:// in the compose stack (docker-compose.tls.yml):
# a CA, EMQX's server certificate, and one client certificate per broker
# user, its CN being the user name (EMQX's device listener takes the CN as
# the user name: peer_cert_as_username = cn in broker/emqx/base.hocon).
# And InfluxDB's server certificate for https (docker-compose.influx-tls.yml):
# for "influxdb", the name the other services dial, and for localhost, the
# name InfluxDB's own health check dials (the image points its influx CLI at
# https://localhost:8086 once TLS is on: influxdata/influxdata-docker
# influxdb/2.7/entrypoint.sh, final_host_scheme) and the host uses.
#
#   scripts/make-certs.sh                      # CA, server, monitor, gateway, dev-001
#   scripts/make-certs.sh dev-002 dev-003      # and a certificate for each of these devices
#   CERT_HOSTS="DNS:broker.example.com" scripts/make-certs.sh   # more names for the server
#   INFLUX_CERT_HOSTS="DNS:influx.example.com" scripts/make-certs.sh   # more names for InfluxDB
#
# Everything goes to CERTS_DIR (default ./certs, git-ignored). An existing CA
# and existing certificates are kept: run it again to add devices. ca.key
# signs every certificate: keep it offline; no container mounts it.
# For a laptop only: real fleets issue certificates from their own PKI.
set -euo pipefail

dir=${CERTS_DIR:-certs}
days_ca=3650
days_leaf=365
for user in "${@:-dev-001}"; do
  if [[ ! "$user" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "make-certs: \"$user\": a user name is one topic level (letters, digits, . _ -)" >&2
    exit 2
  fi
done

mkdir -p "$dir"
cd "$dir"

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

if [[ ! -f ca.crt ]]; then
  newkey ca.key
  openssl req -x509 -new -key ca.key -out ca.crt -days "$days_ca" -subj '/CN=sensorflow compose CA' \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
  echo "make-certs: new CA in $dir/ca.crt (key $dir/ca.key: keep it offline)"
fi

# $1 name (file and CN), $2 extendedKeyUsage, $3 subjectAltName (optional)
issue() {
  local name=$1 usage=$2 san=${3:-}
  [[ -f "$name.crt" ]] && return 0
  newkey "$name.key"
  openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$name"
  { echo "extendedKeyUsage=$usage"; [[ -n "$san" ]] && echo "subjectAltName=$san"; } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days_leaf" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  echo "make-certs: $dir/$name.crt"
}

# The compose service name (emqx) is what the ingestor and the simulator dial; localhost for the host.
issue server serverAuth "DNS:emqx,DNS:emqx.local,DNS:localhost,IP:127.0.0.1${CERT_HOSTS:+,$CERT_HOSTS}"
for user in monitor gateway "${@:-dev-001}"; do issue "$user" clientAuth; done
issue influxdb serverAuth "DNS:influxdb,DNS:localhost,IP:127.0.0.1${INFLUX_CERT_HOSTS:+,$INFLUX_CERT_HOSTS}"

# The containers run as uid 1000 (EMQX's emqx user, the sensorflow image's node user).
if [[ "$(id -u)" != 1000 ]]; then
  echo "make-certs: note: the containers read the keys as uid 1000; you are uid $(id -u): for a laptop," >&2
  echo "  chmod 644 $dir/server.key $dir/monitor.key $dir/gateway.key $dir/influxdb.key (or give them to uid 1000)" >&2
fi
