#!/bin/sh
# make-cert.sh DIR [NAME] [KEY_OWNER]: the s3-tls terminator's self-signed certificate.
#
# DIR/cert.pem (0644) is both the server certificate and the CA file its clients check it
# with (pgBackRest's repo1-storage-ca-file, the verifier's ca_bundle); DIR/key.pem (0600,
# chowned to KEY_OWNER when given) is read by socat only. The SAN is DNS:NAME (default
# s3-tls, the compose service name) and nothing else: pgBackRest 2.45 matches DNS names
# only, never IP SANs, and clients reach the terminator by that name.
# Kept when it is still valid for 30 days and made for NAME: a rerun is a no-op.
set -eu
dir=${1:?usage: make-cert.sh DIR [NAME] [KEY_OWNER]}
name=${2:-s3-tls}
owner=${3:-}
cert=$dir/cert.pem
key=$dir/key.pem
if [ -s "$cert" ] && [ -s "$key" ] && openssl x509 -in "$cert" -noout -checkend 2592000 >/dev/null \
   && [ "$(openssl x509 -in "$cert" -noout -ext subjectAltName | sed -n 2p | tr -d ' ')" = "DNS:$name" ]
then
  echo "make-cert: $cert for $name kept (valid for 30 days or more)"
  exit 0
fi
mkdir -p "$dir"
new=$(mktemp -d "$dir/.new.XXXXXX")
trap 'rm -rf "$new"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -keyout "$new/key.pem" -out "$new/cert.pem" \
  -subj "/CN=$name" -addext "subjectAltName=DNS:$name" 2>"$new/openssl.log" \
  || { cat "$new/openssl.log" >&2; exit 1; }
chmod 0600 "$new/key.pem"
chmod 0644 "$new/cert.pem"
if [ -n "$owner" ]; then
  chown "$owner" "$new/key.pem"
fi
# The key first: a reader that sees the new cert.pem finds its key already in place.
mv "$new/key.pem" "$key"
mv "$new/cert.pem" "$cert"
echo "make-cert: wrote $cert for DNS:$name, valid 825 days"
