#!/usr/bin/env bash
# Makes what a networked deployment needs in DIR: a tokens file with a worker token and a
# submit+read token, and a self-signed CA with a server certificate for HOST (default:
# coordinator, the compose service name).
#   deploy/make-secrets.sh DIR [HOST]
set -euo pipefail
dir=${1:?usage: make-secrets.sh DIR [HOST]}
host=${2:-coordinator}
mkdir -p "$dir" && cd "$dir"
umask 077
worker=$(openssl rand -hex 24)
user=$(openssl rand -hex 24)
printf '%s worker workers\n%s submit,read researchers\n' "$worker" "$user" > tokens
printf '%s\n' "$worker" > worker.token
printf '%s\n' "$user" > user.token
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $key -keyout ca.key -out ca.pem -days 825 -subj /CN=optbench-ca 2>/dev/null
openssl req $key -keyout server.key -out server.csr -subj "/CN=$host" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n' "$host" > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
  -extfile san.ext -out server.pem 2>/dev/null
rm -f server.csr san.ext
echo "wrote $dir: tokens, worker.token, user.token (OPTBENCH_TOKEN for the CLI), ca.pem, server.{pem,key}"
