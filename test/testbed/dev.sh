#!/usr/bin/env bash
# `make dev`: brings up the whole thing locally and shows it working — site A (a test-bed cluster
# with fake GPU nodes) running the operator, a peer site B (a second cluster with its own operator,
# the agency's private subnetwork), the three HTTP provider contract fakes (Akash, Render, Chutes), a
# local chain, ComputeProviders for all four, and a Burst RenderJob that runs on A's GPUs and bursts
# what does not fit — followed live with `atelier status --watch` until it finishes. Everything stays
# up afterwards; `make testbed-down` stops it all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
name="${1:-atelier}"
peer="$name-peer"
dir="$TESTBED_DIR/$name"
export NODE_SPEC="${NODE_SPEC:-2:4:nvidia-h100,1:2:nvidia-rtx-4090}"
cli=(node "$REPO_ROOT/dist/operator/src/cli.js")

kubeconfig="$(bash "$TESTBED_ROOT/cluster.sh" up "$name" | tail -1)"
peer_kubeconfig="$(NODE_SPEC=1:8:nvidia-h100 bash "$TESTBED_ROOT/cluster.sh" up "$peer" | tail -1)"
chain="$(bash "$TESTBED_ROOT/chain.sh" up "$name" | tail -1)"
k() { "$BIN/kubectl" --kubeconfig "$kubeconfig" "$@"; }
kp() { "$BIN/kubectl" --kubeconfig "$peer_kubeconfig" "$@"; }

echo; echo "== site A GPU nodes"; k get nodes -L nvidia.com/gpu.product -L nvidia.com/gpu.count
echo; echo "== site B (peer) GPU nodes"; kp get nodes -L nvidia.com/gpu.product -L nvidia.com/gpu.count

for kc in "$kubeconfig" "$peer_kubeconfig"; do
  "$BIN/kubectl" --kubeconfig "$kc" apply --server-side --force-conflicts -f "$REPO_ROOT/crds/" >/dev/null
  "$BIN/kubectl" --kubeconfig "$kc" wait --for=condition=Established crd --all --timeout=60s >/dev/null
done

(cd "$REPO_ROOT" && npm run --silent build)

# Restart what a previous `make dev` left, so the operators run this checkout's build.
restart() { # dir name cmd...
  local d="$1" n="$2"; shift 2
  if [ -f "$d/pids/$n" ]; then kill -TERM "$(cat "$d/pids/$n")" 2>/dev/null || true; sleep 1; fi
  start_proc "$d" "$n" "$@"
}

echo; echo "== provider fakes (contract fakes of the Akash, Render and Chutes APIs)"
for f in akash render chutes; do
  restart "$dir" "fake-$f" node "$REPO_ROOT/test/fakes/run.ts" "$f" --job-duration-ms 8000
done
for f in akash render chutes; do
  wait_proc "$dir" "fake-$f" 30 test -s "$dir/logs/fake-$f.log"
  sleep 0.5
  echo "  $f: $(head -1 "$dir/logs/fake-$f.log")"
done
url() { head -1 "$dir/logs/fake-$1.log"; }
cred() { sed -n 2p "$dir/logs/fake-$1.log" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const c=JSON.parse(s);process.stdout.write($2)})"; }

echo; echo "== operators"
kp create namespace shared-renders 2>/dev/null || true
restart "$TESTBED_DIR/$peer" operator "${cli[@]}" run --kubeconfig "$peer_kubeconfig" --namespace shared-renders \
  --metrics-addr 127.0.0.1:0 --lease-namespace default --cluster-name site-b --local-gpu-hour-price 0.40
restart "$dir" operator "${cli[@]}" run --kubeconfig "$kubeconfig" --metrics-addr 127.0.0.1:0 --lease-namespace default \
  --cluster-name site-a --local-gpu-hour-price 1.20 --remote-poll 2 --provider-probe 5
wait_proc "$dir" operator 60 grep -q 'became leader' "$dir/logs/operator.log"
wait_proc "$TESTBED_DIR/$peer" operator 60 grep -q 'became leader' "$TESTBED_DIR/$peer/logs/operator.log"
echo "  site A operator: $dir/logs/operator.log"
echo "  site B operator: $TESTBED_DIR/$peer/logs/operator.log"

echo; echo "== ComputeProviders"
k create namespace atelier-system 2>/dev/null || true
k -n atelier-system create secret generic site-b --from-file=kubeconfig="$peer_kubeconfig" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n atelier-system create secret generic fake-akash --from-literal=credential="$(cred akash 'c.apiKey')" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n atelier-system create secret generic fake-render --from-literal=credential="$(cred render 'c.publicKey+":"+c.secretKey')" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n atelier-system create secret generic fake-chutes --from-literal=credential="$(cred chutes 'c.apiKey')" --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: atelier.dev/v1alpha1
kind: ComputeProvider
metadata: {name: site-b}
spec:
  type: subnet
  payoutAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
  subnet: {kubeconfigSecretRef: {namespace: atelier-system, name: site-b, key: kubeconfig}, namespace: shared-renders}
  options: {pricePerGpuHour: "0.50"}
---
apiVersion: atelier.dev/v1alpha1
kind: ComputeProvider
metadata: {name: fake-akash}
spec:
  type: akash
  endpoint: $(url akash)
  credentialsSecretRef: {namespace: atelier-system, name: fake-akash, key: credential}
  payoutAddress: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
  gpuModels: [nvidia-h100]
---
apiVersion: atelier.dev/v1alpha1
kind: ComputeProvider
metadata: {name: fake-render}
spec:
  type: render
  endpoint: $(url render)
  credentialsSecretRef: {namespace: atelier-system, name: fake-render, key: credential}
  payoutAddress: "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
  gpuModels: [nvidia-h100]
  options: {pricePerGpuHour: "2.20"}
---
apiVersion: atelier.dev/v1alpha1
kind: ComputeProvider
metadata: {name: fake-chutes}
spec:
  type: bittensor
  endpoint: $(url chutes)
  credentialsSecretRef: {namespace: atelier-system, name: fake-chutes, key: credential}
  payoutAddress: "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
  gpuModels: [nvidia-h100]
  maxConcurrentShards: 4
  options: {chuteId: "$(cred chutes 'c.chuteId')", method: render}
YAML
sleep 6
k get computeproviders

echo; echo "== a Burst RenderJob: 24 shards on A's 10 GPUs; what waits more than 5 s bursts, cheapest first"
k create namespace studio 2>/dev/null || true
wait_for "default ServiceAccount in studio" 60 "$BIN/kubectl" --kubeconfig "$kubeconfig" -n studio get serviceaccount default
k -n studio delete renderjob dev-showcase --ignore-not-found --wait=true >/dev/null
k apply -f - <<'YAML'
apiVersion: atelier.dev/v1alpha1
kind: RenderJob
metadata: {name: dev-showcase, namespace: studio}
spec:
  template:
    image: ghcr.io/acme/sdxl-batch:1.4
    command: [python, render.py]
    env: [{name: PROMPT, value: "a glass atrium at dusk"}]
    resources: {limits: {nvidia.com/gpu: 1}}
    metadata: {annotations: {testbed.atelier.dev/duration: 8s}}
  gpu: {models: [nvidia-h100, nvidia-rtx-4090]}
  shards: {count: 24, maxRetries: 3}
  placement: {policy: Burst, burstAfter: 5s, maxPricePerGpuHour: "3.00"}
  budget: {maxCost: "20.00"}
  output: {uri: "s3://renders/dev-showcase/"}
YAML
echo
KUBECONFIG="$kubeconfig" "${cli[@]}" status rj/dev-showcase -n studio $([ -t 1 ] && echo --watch) || true
if [ ! -t 1 ]; then
  wait_for "dev-showcase to finish" 600 bash -c "'$BIN/kubectl' --kubeconfig '$kubeconfig' -n studio get rj dev-showcase -o jsonpath='{.status.phase}' | grep -qE 'Succeeded|Failed'"
  KUBECONFIG="$kubeconfig" "${cli[@]}" status rj/dev-showcase -n studio || true
fi
echo; k -n studio get rendershards -l atelier.dev/job=dev-showcase -o custom-columns=SHARD:.spec.index,PHASE:.status.phase,PLACEMENT:.status.placement,PROVIDER:.status.provider,REMOTE-ID:.status.remoteId > "$dir/shards.txt"; head -12 "$dir/shards.txt"
cat <<MSG

Atelier is running locally (site A, peer site B, three provider fakes, a chain).
  export KUBECONFIG=$kubeconfig     # kubectl at $BIN/kubectl; site B: $peer_kubeconfig
  chain RPC: $chain
  kubectl get rj -A; kubectl get rendershards -A; kubectl get computeproviders
  node dist/operator/src/cli.js status rj/dev-showcase -n studio --watch
  make testbed-down NAME=$name     # stops both sites, operators, fakes and the chain
MSG
