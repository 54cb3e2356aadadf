#!/usr/bin/env bash
# A local EVM chain for settlement tests: anvil (npm package @foundry-rs/anvil) on a free loopback
# port with its deterministic funded accounts (chain id 31337).
#
#   chain.sh up   [NAME]   start (or reuse) chain NAME; prints its RPC URL last
#   chain.sh down [NAME]   stop it
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"; name="chain-${2:-${CHAIN_NAME:-atelier}}"
dir="$TESTBED_DIR/$name"
anvil="$REPO_ROOT/node_modules/.bin/anvil"

rpc() { curl -fsS -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1"; }

up() {
  if [ -f "$dir/url" ] && rpc "$(cat "$dir/url")" >/dev/null 2>&1; then cat "$dir/url"; return 0; fi
  [ -x "$anvil" ] || { echo "chain: $anvil missing; run npm ci first" >&2; exit 1; }
  local t0 port; t0=$(now_ms)
  stop_procs "$dir"; mkdir -p "$dir"
  port="$(free_ports 1)"
  start_proc "$dir" anvil "$anvil" --host 127.0.0.1 --port "$port" --chain-id 31337 --accounts 10 --silent
  echo "http://127.0.0.1:$port" > "$dir/url"
  wait_for "anvil on port $port" 60 rpc "http://127.0.0.1:$port"
  echo "chain[$name]: anvil up in $(( $(now_ms) - t0 ))ms" >&2
  cat "$dir/url"
}

down() {
  [ -d "$dir" ] || return 0
  stop_procs "$dir"; rm -rf "$dir"
  echo "chain[$name]: stopped" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [NAME]" >&2; exit 2 ;;
esac
