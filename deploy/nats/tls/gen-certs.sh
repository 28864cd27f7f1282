#!/bin/sh
# Generates a private CA and one certificate for the three NATS nodes, for
# client and route TLS (client-tls.conf, cluster-tls.conf). Needs openssl.
#
#   sh deploy/nats/tls/gen-certs.sh [OUT_DIR]     # default: deploy/nats/tls/certs
#
# Then mount OUT_DIR at /etc/nats/tls on every node, remove the # before the
# two tls includes in cluster.conf, and give clients ca.pem. For production,
# use your own PKI (cert-manager on Kubernetes) and keep ca-key.pem offline.
set -eu
out=${1:-$(dirname "$0")/certs}
days=${DAYS:-825}
# Every name a client or a peer may dial: compose service names, the
# Kubernetes StatefulSet pods of deploy/helm/nats-values.yaml, loopback.
names=${NAMES:-"DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:nats,DNS:nats-headless,DNS:*.nats-headless,DNS:*.nats-headless.jwtrevoke.svc.cluster.local,DNS:nats.jwtrevoke.svc.cluster.local,DNS:localhost,IP:127.0.0.1"}

mkdir -p "$out"
cd "$out"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca-key.pem -out ca.pem -days "$days" -subj "/CN=jwtrevoke NATS CA"

openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout server-key.pem -out server.csr -subj "/CN=jwtrevoke NATS"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$names" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
	-out server.pem -days "$days" -extfile server.ext
rm -f server.csr server.ext ca.srl
chmod 644 ca.pem server.pem
# nats-server in the official image runs as root; if yours does not, make
# server-key.pem readable by its user.
echo "wrote $out/ca.pem, server.pem, server-key.pem (CA key: ca-key.pem — keep it off the servers)"
