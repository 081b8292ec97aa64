#!/bin/sh
# s3-tls is healthy when a TLS client that checks the certificate against the service name
# (as pgBackRest does) gets an HTTP answer from moto through it: the whole path pgBackRest
# uses. S3_TLS_PORT, S3_TLS_CA and S3_TLS_NAME exist for tests/deploy, which run it for real.
set -eu
port=${S3_TLS_PORT:-9443}
ca=${S3_TLS_CA:-/etc/s3-tls/cert.pem}
name=${S3_TLS_NAME:-s3-tls}
status=$(printf 'GET /moto-api/ HTTP/1.0\r\nHost: %s\r\n\r\n' "$name" \
  | socat -T 4 - "OPENSSL:127.0.0.1:$port,cafile=$ca,commonname=$name,verify=1" 2>&1 | head -n 1) || true
case $status in
  "HTTP/1."?" 200"*) exit 0 ;;
esac
echo "s3-tls: unhealthy: ${status:-no answer}" >&2
exit 1
