#!/usr/bin/env bash
# The test-bed's data plane for one site: a Kubo IPFS node (offline, every address on loopback) and
# an S3-compatible server (versitygw over a local directory), both built from the Go module proxy by
# build-binaries.sh. Each site NAME has its own ports, data dir and credentials; the addresses are
# written to .testbed/data-NAME/env (shell) and data.json (for tests and the operator's flags).
#
#   data.sh up   [NAME]   start (or reuse) site NAME's IPFS node and S3 server; prints data.json's path last
#   data.sh down [NAME]   stop them; no process or port is left behind
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"; name="data-${2:-${TESTBED_NAME:-atelier}}"
dir="$TESTBED_DIR/$name"
KUBO="$ATELIER_CACHE/bin/kubo-$KUBO_VERSION/ipfs"
S3GW="$ATELIER_CACHE/bin/versitygw-$VERSITYGW_VERSION/versitygw"

ipfs_() { IPFS_PATH="$dir/ipfs" "$KUBO" "$@"; }
api_ok() { curl -fsS -X POST "http://127.0.0.1:$1/api/v0/id" >/dev/null; }
s3_ok() { curl -sS -o /dev/null "http://127.0.0.1:$1/"; }

running() { [ -f "$dir/data.json" ] && [ -f "$dir/pids/ipfs" ] && kill -0 "$(cat "$dir/pids/ipfs")" 2>/dev/null \
  && [ -f "$dir/pids/s3" ] && kill -0 "$(cat "$dir/pids/s3")" 2>/dev/null; }

init_ipfs() { # api_port gateway_port
  rm -rf "$dir/ipfs"
  # The test profile: no bootstrap peers, no MDNS, loopback swarm; the daemon also runs --offline.
  ipfs_ init --profile test --empty-repo >/dev/null
  ipfs_ config Addresses.API "/ip4/127.0.0.1/tcp/$1"
  ipfs_ config Addresses.Gateway "/ip4/127.0.0.1/tcp/$2"
  ipfs_ config --json Addresses.Swarm '[]'
  ipfs_ config --json Bootstrap '[]'
}

up() {
  [ -x "$KUBO" ] && [ -x "$S3GW" ] || bash "$TESTBED_ROOT/build-binaries.sh"
  if running; then echo "data[$name]: already running" >&2; echo "$dir/data.json"; return 0; fi
  local t0 api gw s3 key secret; t0=$(now_ms)
  stop_procs "$dir"; rm -rf "$dir"; mkdir -p "$dir/s3"
  read -r api gw s3 <<< "$(free_ports 3)"
  key="testbed$(openssl rand -hex 6)"; secret="$(openssl rand -hex 20)"
  init_ipfs "$api" "$gw"
  IPFS_PATH="$dir/ipfs" start_proc "$dir" ipfs "$KUBO" daemon --offline
  ROOT_ACCESS_KEY="$key" ROOT_SECRET_KEY="$secret" start_proc "$dir" s3 "$S3GW" --port "127.0.0.1:$s3" posix "$dir/s3"
  wait_proc "$dir" ipfs 60 api_ok "$api"
  wait_proc "$dir" s3 60 s3_ok "$s3"
  umask 077
  cat > "$dir/env" <<ENV
ATELIER_IPFS_API=http://127.0.0.1:$api
ATELIER_IPFS_GATEWAY=http://127.0.0.1:$gw
ATELIER_S3_ENDPOINT=http://127.0.0.1:$s3
AWS_ACCESS_KEY_ID=$key
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
ENV
  printf '{"ipfsApi":"http://127.0.0.1:%s","ipfsGateway":"http://127.0.0.1:%s","s3Endpoint":"http://127.0.0.1:%s","s3AccessKey":"%s","s3SecretKey":"%s","s3Region":"us-east-1"}\n' \
    "$api" "$gw" "$s3" "$key" "$secret" > "$dir/data.json"
  echo "data[$name]: IPFS (kubo $KUBO_VERSION) API http://127.0.0.1:$api, S3 (versitygw $VERSITYGW_VERSION) http://127.0.0.1:$s3, up in $(( $(now_ms) - t0 ))ms" >&2
  echo "$dir/data.json"
}

down() {
  [ -d "$dir" ] || return 0
  stop_procs "$dir"; rm -rf "$dir"
  echo "data[$name]: stopped" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [NAME]" >&2; exit 2 ;;
esac
