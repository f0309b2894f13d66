#!/bin/sh
# A self-signed certificate for nginx's first start (compose's tls-init service; the tests make
# theirs with it too), so that nginx can start and answer the ACME challenge with which certbot
# gets the real one (README, "TLS"). A certificate already there, self-signed or Let's
# Encrypt's, is kept.
set -eu
dir="${TLS_DIR:-/tls}"
name="${DOMAIN:-localhost}"
if [ -s "$dir/fullchain.pem" ] && [ -s "$dir/privkey.pem" ]; then
    echo "TLS certificate in $dir kept"
    exit 0
fi
mkdir -p "$dir"
umask 077
# P-256: what Let's Encrypt issues by default too, and quick to make.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
    -subj "/CN=$name" -addext "subjectAltName=DNS:$name,IP:127.0.0.1" \
    -keyout "$dir/privkey.pem.new" -out "$dir/fullchain.pem.new" 2>/dev/null
mv "$dir/privkey.pem.new" "$dir/privkey.pem"
mv "$dir/fullchain.pem.new" "$dir/fullchain.pem"
echo "Self-signed TLS certificate for $name made in $dir"
