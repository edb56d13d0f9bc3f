#!/usr/bin/env bash
# Makes what a networked deployment needs, one directory per role, so each role gets only its own:
#   deploy/make-secrets.sh [--compose] DIR [NAME...]
#
#   DIR/ca.pem, DIR/ca.key    a self-signed CA (the key stays with you: it signs certificates)
#   DIR/coordinator/          server.pem + server.key (a certificate for every NAME), tokens (the
#                             tokens file), ca.pem (for its own health probe)
#   DIR/worker/               ca.pem, worker.token (a token with the worker role only)
#   DIR/client/               ca.pem, user.token (submit + read, for the CLI: --token_file or
#                             OPTBENCH_TOKEN)
#
# NAMEs are the host names and IP addresses clients dial the coordinator by; the certificate is
# valid for exactly those. Default: optbench-coordinator (the Kubernetes Service and the compose
# service), localhost and 127.0.0.1 (probes and health checks inside the coordinator's container).
# Add the names your workers use, e.g. `deploy/make-secrets.sh secrets coordinator.example.org`.
#
# Files are mode 0600 and directories 0700 (owner only). --compose makes the role files 0644
# instead, still in 0700 directories: Docker Compose bind-mounts file secrets with the host's
# owner and mode (it ignores a secret's uid/gid/mode outside Swarm), and the image's user
# (uid 10001) must be able to read them; the 0700 directories keep other host users out.
# Refuses to overwrite an existing DIR/ca.key: new secrets would lock out every running worker.
set -euo pipefail
usage="usage: make-secrets.sh [--compose] DIR [NAME...]"
file_mode=600
if [ "${1:-}" = --compose ]; then
  file_mode=644
  shift
fi
case "${1:-}" in
  "" | -*) echo "$usage" >&2; exit 2 ;;
esac
dir=$1
shift
names=("$@")
((${#names[@]})) || names=(optbench-coordinator localhost 127.0.0.1)

san=""
for name in "${names[@]}"; do
  if [[ $name =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || ($name == *:* && $name =~ ^[0-9A-Fa-f:.]+$) ]]; then
    entry="IP:$name"
  elif [[ $name =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$ ]]; then
    entry="DNS:$name"
  else
    echo "make-secrets.sh: '$name' is not a host name or an IP address (a port does not belong" \
      "in a certificate name)" >&2
    exit 2
  fi
  san+="${san:+,}$entry"
done
if [ -e "$dir/ca.key" ]; then
  echo "make-secrets.sh: $dir/ca.key exists; refusing to replace the secrets of a running" \
    "deployment (remove $dir first to start over)" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "make-secrets.sh: needs openssl" >&2; exit 1; }

umask 077
mkdir -p "$dir"/{coordinator,worker,client}
cd "$dir"
worker=$(openssl rand -hex 24)
user=$(openssl rand -hex 24)
printf '%s worker workers\n%s submit,read researchers\n' "$worker" "$user" > coordinator/tokens
printf '%s\n' "$worker" > worker/worker.token
printf '%s\n' "$user" > client/user.token
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086  # $key is several arguments.
openssl req -x509 $key -keyout ca.key -out ca.pem -days 825 -subj /CN=optbench-ca 2>/dev/null
# shellcheck disable=SC2086
openssl req $key -keyout coordinator/server.key -out server.csr -subj "/CN=${names[0]}" 2>/dev/null
printf 'subjectAltName=%s\n' "$san" > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
  -extfile san.ext -out coordinator/server.pem 2>/dev/null
rm -f server.csr san.ext ca.srl
for role in coordinator worker client; do cp ca.pem "$role/ca.pem"; done
chmod "$file_mode" coordinator/* worker/* client/*
echo "wrote $dir: coordinator/{server.pem,server.key,tokens,ca.pem} worker/{ca.pem,worker.token}" \
  "client/{ca.pem,user.token}, ca.{pem,key}; certificate names: ${names[*]}"
