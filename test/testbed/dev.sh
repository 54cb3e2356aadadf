#!/usr/bin/env bash
# `make dev`: brings up the whole thing locally and shows it working — a test-bed cluster with fake
# GPU nodes, a chain, the CRDs, the operator (built from this checkout), and an example RenderJob,
# followed live until it finishes. Everything stays up afterwards; `make testbed-down` stops it all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
name="${1:-atelier}"
dir="$TESTBED_DIR/$name"
example="${EXAMPLE:-$REPO_ROOT/examples/renderjob-count.yaml}"

export NODE_SPEC="${NODE_SPEC:-2:4:nvidia-h100,1:2:nvidia-rtx-4090}"
kubeconfig="$(bash "$TESTBED_ROOT/cluster.sh" up "$name" | tail -1)"
chain="$(bash "$TESTBED_ROOT/chain.sh" up "$name" | tail -1)"
k() { "$BIN/kubectl" --kubeconfig "$kubeconfig" "$@"; }

echo; echo "== GPU nodes"
k get nodes -L nvidia.com/gpu.product -L nvidia.com/gpu.count

echo; echo "== CRDs"
k apply --server-side --force-conflicts -f "$REPO_ROOT/crds/" >/dev/null
k wait --for=condition=Established crd --all --timeout=60s >/dev/null
k get crd -o custom-columns=NAME:.metadata.name,SCOPE:.spec.scope | grep atelier

echo; echo "== operator"
(cd "$REPO_ROOT" && npm run --silent build)
# A second `make dev` replaces the operator with one built from the current checkout.
if [ -f "$dir/pids/operator" ]; then kill -TERM "$(cat "$dir/pids/operator")" 2>/dev/null || true; sleep 2; fi
start_proc "$dir" operator node "$REPO_ROOT/dist/operator/src/cli.js" run --kubeconfig "$kubeconfig" \
  --metrics-addr 127.0.0.1:0 --lease-namespace default --local-gpu-hour-price 1.20
wait_proc "$dir" operator 60 grep -q 'became leader' "$dir/logs/operator.log"
echo "operator running (pid $(cat "$dir/pids/operator")), logs: $dir/logs/operator.log"

echo; echo "== example job: $example"
ns="$(grep -m1 'namespace:' "$example" | awk '{print $2}')"
[ -n "$ns" ] && k create namespace "$ns" 2>/dev/null || true
[ -n "$ns" ] && wait_for "default ServiceAccount in $ns" 60 "$BIN/kubectl" --kubeconfig "$kubeconfig" -n "$ns" get serviceaccount default
k apply -f "$example"
job="$(k apply -f "$example" --dry-run=client -o jsonpath='{.metadata.name}')"
t0=$(date +%s)
while :; do
  line="$(k -n "${ns:-default}" get rj "$job" --no-headers 2>/dev/null || true)"
  if [ -t 1 ]; then printf '\r%-100s' "$line"; elif [ "$line" != "${last:-}" ]; then echo "$line"; fi
  last="$line"
  phase="$(k -n "${ns:-default}" get rj "$job" -o jsonpath='{.status.phase}' 2>/dev/null || true)"
  case "$phase" in Succeeded|Failed) break ;; esac
  [ $(( $(date +%s) - t0 )) -gt 600 ] && { echo; echo "still not finished after 10 minutes"; break; }
  sleep 1
done
echo; echo
k -n "${ns:-default}" get rj "$job"
echo; k -n "${ns:-default}" get rendershards -l "atelier.dev/job=$job" > "$dir/shards.txt"; head -8 "$dir/shards.txt"
echo; k -n "${ns:-default}" get events --field-selector "involvedObject.kind=RenderJob,involvedObject.name=$job" --sort-by=.lastTimestamp > "$dir/events.txt"; tail -6 "$dir/events.txt"
cat <<MSG

Atelier is running locally.
  export KUBECONFIG=$kubeconfig     # kubectl at $BIN/kubectl
  chain RPC: $chain
  kubectl get rj -A ; kubectl get rendershards -A
  make testbed-down NAME=$name     # stops cluster, operator and chain
MSG
