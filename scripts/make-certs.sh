#!/usr/bin/env bash
# Certificates for mqtts:// in the compose stack (docker-compose.tls.yml):
# two CAs, EMQX's server certificate, and one client certificate per broker
# user, its CN being the user name (EMQX's listeners take the CN as the user
# name: peer_cert_as_username = cn in broker/emqx/base.hocon).
# - ca.crt signs the devices' certificates (and the servers'): the device
#   listener 8883 trusts it, and a certificate is a device's whole credential
#   there (no password).
# - services-ca.crt signs monitor's and gateway's only: the ingestor's and
#   gateways' listeners (8884, 8885) trust it alone and ask for the CN's
#   password too. So a service certificate is refused on 8883 (unknown CA),
#   and a device certificate on 8884/8885; the names monitor, gateway and
#   commander are never issued as devices.
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
# and existing certificates are kept: run it again to add devices (a service
# certificate that services-ca.crt did not sign, from an older version of this
# script, is issued anew). ca.key and services-ca.key sign every certificate:
# keep them offline; no container mounts them.
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
  case "$user" in monitor|gateway|commander)
    echo "make-certs: \"$user\" is a service, not a device: its certificate comes from services-ca.crt, with a password (made by default)" >&2
    exit 2;;
  esac
done

mkdir -p "$dir"
cd "$dir"

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# $1 file name (without .crt/.key), $2 its CN
newca() {
  [[ -f "$1.crt" ]] && return 0
  newkey "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days "$days_ca" -subj "/CN=$2" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
  echo "make-certs: new CA in $dir/$1.crt (key $dir/$1.key: keep it offline)"
}
newca ca 'sensorflow compose CA'
newca services-ca 'sensorflow compose services CA'

# $1 name (file and CN), $2 extendedKeyUsage, $3 subjectAltName (optional, "" for none), $4 the CA (default ca)
issue() {
  local name=$1 usage=$2 san=${3:-} ca=${4:-ca}
  if [[ -f "$name.crt" ]]; then
    openssl verify -CAfile "$ca.crt" "$name.crt" >/dev/null 2>&1 && return 0
    echo "make-certs: $dir/$name.crt was not signed by $ca.crt: issuing it anew"
  fi
  newkey "$name.key"
  openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$name"
  { echo "extendedKeyUsage=$usage"; [[ -n "$san" ]] && echo "subjectAltName=$san"; } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days "$days_leaf" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  echo "make-certs: $dir/$name.crt"
}

# The compose service name (emqx) is what the ingestor and the simulator dial; localhost for the host.
issue server serverAuth "DNS:emqx,DNS:emqx.local,DNS:localhost,IP:127.0.0.1${CERT_HOSTS:+,$CERT_HOSTS}"
for service in monitor gateway; do issue "$service" clientAuth "" services-ca; done
for device in "${@:-dev-001}"; do issue "$device" clientAuth; done
issue influxdb serverAuth "DNS:influxdb,DNS:localhost,IP:127.0.0.1${INFLUX_CERT_HOSTS:+,$INFLUX_CERT_HOSTS}"

# The containers run as uid 1000 (EMQX's emqx user, the sensorflow image's node user).
if [[ "$(id -u)" != 1000 ]]; then
  echo "make-certs: note: the containers read the keys as uid 1000; you are uid $(id -u): for a laptop," >&2
  echo "  chmod 644 $dir/server.key $dir/monitor.key $dir/gateway.key $dir/influxdb.key (or give them to uid 1000)" >&2
fi
