#!/usr/bin/env bash
# `make dev`: brings up the whole thing locally and shows it working — site A (a test-bed cluster
# with fake GPU nodes) running the operator, a peer site B (a second cluster with its own operator,
# the agency's private subnetwork), the three HTTP provider contract fakes (Akash, Render, Chutes), a
# local chain with the escrow contract and a test token, ComputeProviders for all four (each with the
# payout address its results are signed with), and a Burst RenderJob that runs on A's GPUs, bursts
# what does not fit, spot-checks a quarter of the remote results by re-running them locally and pays
# the providers on-chain for verified results — followed live with `atelier status --watch` until it
# has finished and settled. Everything stays up afterwards; `make testbed-down` stops it all.
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
data_json="$(bash "$TESTBED_ROOT/data.sh" up "$name" | tail -1)"
k() { "$BIN/kubectl" --kubeconfig "$kubeconfig" "$@"; }
kp() { "$BIN/kubectl" --kubeconfig "$peer_kubeconfig" "$@"; }

echo; echo "== site A GPU nodes"; k get nodes -L nvidia.com/gpu.product -L nvidia.com/gpu.count
echo; echo "== site B (peer) GPU nodes"; kp get nodes -L nvidia.com/gpu.product -L nvidia.com/gpu.count

for kc in "$kubeconfig" "$peer_kubeconfig"; do
  "$BIN/kubectl" --kubeconfig "$kc" apply --server-side --force-conflicts -f "$REPO_ROOT/crds/" >/dev/null
  "$BIN/kubectl" --kubeconfig "$kc" wait --for=condition=Established crd --all --timeout=60s >/dev/null
done

(cd "$REPO_ROOT" && npm run --silent build)

# anvil's well-known development accounts (deterministic, funded only on local chains): account 0 is
# the studio's payer wallet (it deploys the escrow and the test token and holds the tokens), account 3
# is site B's payout key, with which it signs the results of the shards site A sends it.
PAYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
PAYER=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
SITE_B_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
SITE_B_PAYOUT=0x90F79bf6EB2c4f870365E785982E1f101E93b906
# secret NAMESPACE NAME KEY VALUE: a Secret through stdin, so the key is never in a process list.
secret() {
  local kc="$1" ns="$2" n="$3" key="$4" value="$5"
  "$BIN/kubectl" --kubeconfig "$kc" create namespace "$ns" >/dev/null 2>&1 || true
  "$BIN/kubectl" --kubeconfig "$kc" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: $n, namespace: $ns}
stringData: {$key: "$value"}
YAML
}
field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'))[process.argv[2]]))" "$1" "$2"; }
has_code() { # RPC ADDRESS: true when ADDRESS holds contract code on the chain
  curl -fsS -H 'content-type: application/json' --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getCode\",\"params\":[\"$2\",\"latest\"]}" "$1" | grep -q '"result":"0x[0-9a-f]'
}

echo; echo "== settlement: escrow contract and test token on the dev chain"
# Kept with the chain (chain.sh down removes it), so a second `make dev` on the same chain reuses them.
deployed="$TESTBED_DIR/chain-$name/settlement.json"
if ! { [ -s "$deployed" ] && has_code "$chain" "$(field "$deployed" escrow)" && has_code "$chain" "$(field "$deployed" token)"; }; then
  ATELIER_DEPLOYER_KEY="$PAYER_KEY" "${cli[@]}" escrow deploy --rpc-url "$chain" --test-token --mint "$PAYER=100000" -o json > "$deployed.tmp"
  mv "$deployed.tmp" "$deployed"
fi
ESCROW="$(field "$deployed" escrow)"; TOKEN="$(field "$deployed" token)"
echo "  escrow $ESCROW, test token $TOKEN (100000 minted to the payer $PAYER)"
secret "$kubeconfig" atelier-system studio-wallet privateKey "$PAYER_KEY"
secret "$peer_kubeconfig" atelier-system site-b-payout privateKey "$SITE_B_KEY"
echo "  site A payer wallet: Secret atelier-system/studio-wallet; site B payout key: Secret atelier-system/site-b-payout (site B)"

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

# The studio's age key pair (kept with the data plane: data.sh down removes it) and the S3 credentials.
age_key="$(dirname "$data_json")/studio-age.json"
[ -s "$age_key" ] || (cd "$REPO_ROOT" && node -e "import('age-encryption').then(async (a) => { const i = await a.generateX25519Identity(); process.stdout.write(JSON.stringify({ identity: i, recipient: await a.identityToRecipient(i) })); })") > "$age_key"
secret "$kubeconfig" atelier-system studio-age-identity identity "$(field "$age_key" identity)"
"$BIN/kubectl" --kubeconfig "$kubeconfig" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: studio-s3, namespace: atelier-system}
stringData: {accessKeyId: "$(field "$data_json" s3AccessKey)", secretAccessKey: "$(field "$data_json" s3SecretKey)"}
YAML

echo; echo "== operators"
kp create namespace shared-renders 2>/dev/null || true
restart "$TESTBED_DIR/$peer" operator "${cli[@]}" run --kubeconfig "$peer_kubeconfig" --namespace shared-renders \
  --metrics-addr 127.0.0.1:0 --lease-namespace default --cluster-name site-b --local-gpu-hour-price 0.40 \
  --payout-key-secret atelier-system/site-b-payout
restart "$dir" operator env ATELIER_SETTLEMENT_RPC_URL="$chain" ATELIER_SETTLEMENT_CHAIN_ID=31337 \
  ATELIER_SETTLEMENT_ESCROW_ADDRESS="$ESCROW" ATELIER_SETTLEMENT_TOKEN_ADDRESS="$TOKEN" \
  ATELIER_SETTLEMENT_WALLET_SECRET=atelier-system/studio-wallet ATELIER_SETTLEMENT_WALLET_SECRET_KEY=privateKey \
  "${cli[@]}" run --kubeconfig "$kubeconfig" --metrics-addr 127.0.0.1:0 --lease-namespace default \
  --cluster-name site-a --local-gpu-hour-price 1.20 --remote-poll 2 --provider-probe 5 \
  --ipfs-api "$(field "$data_json" ipfsApi)" --ipfs-gateway "$(field "$data_json" ipfsGateway)" \
  --data-identity-secret atelier-system/studio-age-identity --s3-endpoint "$(field "$data_json" s3Endpoint)" \
  --s3-credentials-secret atelier-system/studio-s3
wait_proc "$dir" operator 60 grep -q 'became leader' "$dir/logs/operator.log"
wait_proc "$dir" operator 90 grep -q 'settlement connected' "$dir/logs/operator.log"
wait_proc "$TESTBED_DIR/$peer" operator 60 grep -q 'became leader' "$TESTBED_DIR/$peer/logs/operator.log"
echo "  site A operator: $dir/logs/operator.log"
echo "  site B operator: $TESTBED_DIR/$peer/logs/operator.log"

echo; echo "== ComputeProviders (payoutAddress: the address each signs its results with)"
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
  payoutAddress: "$SITE_B_PAYOUT"
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
  payoutAddress: "$(cred akash c.payoutAddress)"
  gpuModels: [nvidia-h100]
---
apiVersion: atelier.dev/v1alpha1
kind: ComputeProvider
metadata: {name: fake-render}
spec:
  type: render
  endpoint: $(url render)
  credentialsSecretRef: {namespace: atelier-system, name: fake-render, key: credential}
  payoutAddress: "$(cred render c.payoutAddress)"
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
  payoutAddress: "$(cred chutes c.payoutAddress)"
  gpuModels: [nvidia-h100]
  maxConcurrentShards: 4
  options: {chuteId: "$(cred chutes 'c.chuteId')", method: render}
YAML
sleep 6
k get computeproviders

echo; echo "== a Burst RenderJob: 24 shards on A's 10 GPUs; what waits more than 5 s bursts, cheapest first;"
echo "   a quarter of the remote results are re-run locally and compared, providers are paid on-chain for verified results"
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
    # ATELIER_TEST_RENDER_SEED (read by the provider fakes and by KWOK pods) and the render-seed annotation
    # (KWOK pods) make every shard's output deterministic, so an honest remote result matches its local
    # re-run; site B's pods render the origin's shard (ATELIER_ORIGIN_SHARD_INDEX, test/testbed/stages).
    env: [{name: PROMPT, value: "a glass atrium at dusk"}, {name: ATELIER_TEST_RENDER_SEED, value: dev-showcase}]
    resources: {limits: {nvidia.com/gpu: 1}}
    metadata: {annotations: {testbed.atelier.dev/duration: 8s, testbed.atelier.dev/render-seed: dev-showcase}}
  gpu: {models: [nvidia-h100, nvidia-rtx-4090]}
  shards: {count: 24, maxRetries: 3}
  placement: {policy: Burst, burstAfter: 5s, maxPricePerGpuHour: "3.00"}
  budget: {maxCost: "20.00"}
  output: {uri: "s3://renders/dev-showcase/"}
  verification: {spotCheckFraction: 0.25}
  settlement: {enabled: true}
YAML
# IN-FLIGHT is the live count of remote shards per provider (the planner's own view of them).
wait_for "shards in flight at a provider (ComputeProvider IN-FLIGHT)" 180 bash -c "'$BIN/kubectl' --kubeconfig '$kubeconfig' get computeproviders -o jsonpath='{.items[*].status.shardsInFlight}' | grep -q '[1-9]'"
k get computeproviders
echo
KUBECONFIG="$kubeconfig" "${cli[@]}" status rj/dev-showcase -n studio $([ -t 1 ] && echo --watch) || true
if [ ! -t 1 ]; then
  wait_for "dev-showcase to finish" 600 bash -c "'$BIN/kubectl' --kubeconfig '$kubeconfig' -n studio get rj dev-showcase -o jsonpath='{.status.phase}' | grep -qE 'Succeeded|Failed'"
  wait_for "dev-showcase to settle" 300 bash -c "'$BIN/kubectl' --kubeconfig '$kubeconfig' -n studio get rj dev-showcase -o jsonpath='{.status.conditions[?(@.type==\"Settled\")].status}' | grep -qx True"
  KUBECONFIG="$kubeconfig" "${cli[@]}" status rj/dev-showcase -n studio || true
fi
echo; echo "== the data plane: a job whose inputs come by CID and whose sealed outputs land, decrypted, in S3"
(cd "$REPO_ROOT" && node test/testbed/dev-data.mjs "$kubeconfig" "$data_json" "$(field "$age_key" recipient)")
echo; KUBECONFIG="$kubeconfig" "${cli[@]}" status rj/dev-showcase -n studio --shards | sed -n '/^SHARD/,$p' > "$dir/shards.txt" || true; head -16 "$dir/shards.txt"
cat <<MSG

Atelier is running locally (site A, peer site B, three provider fakes, a chain, IPFS and S3).
  export KUBECONFIG=$kubeconfig     # kubectl at $BIN/kubectl; site B: $peer_kubeconfig
  chain RPC: $chain  escrow: $ESCROW  test token: $TOKEN  payer: $PAYER
  data plane: $(dirname "$data_json")/env (IPFS API and gateway, S3 endpoint and credentials)
  kubectl get rj -A; kubectl get rendershards -A; kubectl get computeproviders
  node dist/operator/src/cli.js status rj/dev-showcase -n studio --watch
  make testbed-down NAME=$name     # stops both sites, operators, fakes and the chain
MSG
