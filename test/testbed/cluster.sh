#!/usr/bin/env bash
# One local Kubernetes control plane on loopback (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) with KWOK keeping fake GPU nodes Ready and driving pod lifecycles. Each cluster
# has its own name, ports, data dir and kubeconfig, so several run side by side.
#
#   cluster.sh up   [NAME]   start (or reuse) cluster NAME; prints its kubeconfig path last
#   cluster.sh down [NAME]   stop it; no process or port is left behind
#   cluster.sh nodes [NAME]  (re)create the fake GPU nodes from the variables below
#
# Nodes: NODES (default 2) x GPUS (default 4) of GPU_MODEL (default nvidia-h100); or NODE_SPEC for a
# mix, e.g. NODE_SPEC="2:4:nvidia-h100,1:8:nvidia-rtx-4090" (count:gpus:model, comma-separated).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"; name="${2:-${TESTBED_NAME:-atelier}}"
dir="$TESTBED_DIR/$name"
kubeconfig="$dir/kubeconfig"

kubectl_() { "$BIN/kubectl" --kubeconfig "$kubeconfig" "$@"; }

make_certs() {
  local pki="$dir/pki"; mkdir -p "$pki"
  [ -f "$pki/apiserver.crt" ] && return 0
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=atelier-testbed-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\n' > san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile san.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    echo "$(openssl rand -hex 24),admin,admin,system:masters" > tokens.csv
  )
}

write_kubeconfig() {
  local token; token="$(cut -d, -f1 "$dir/pki/tokens.csv")"
  cat > "$kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 < "$dir/pki/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: $name
  context: {cluster: $name, user: admin, namespace: default}
current-context: $name
YAML
  chmod 600 "$kubeconfig"
}

running() { [ -f "$dir/pids/kube-apiserver" ] && kill -0 "$(cat "$dir/pids/kube-apiserver")" 2>/dev/null; }

apply_nodes() {
  local spec="${NODE_SPEC:-${NODES:-2}:${GPUS:-4}:${GPU_MODEL:-nvidia-h100}}" group count gpus model i n=0
  local out="$dir/nodes.yaml"; : > "$out"
  IFS=',' read -ra groups <<< "$spec"
  for group in "${groups[@]}"; do
    IFS=':' read -r count gpus model <<< "$group"
    for ((i = 0; i < count; i++)); do
      cat >> "$out" <<YAML
apiVersion: v1
kind: Node
metadata:
  name: gpu-$model-$i
  annotations: {node.alpha.kubernetes.io/ttl: "0"}
  labels:
    kubernetes.io/hostname: gpu-$model-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    nvidia.com/gpu.product: $model
    nvidia.com/gpu.count: "$gpus"
status:
  capacity: {cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "$gpus"}
  allocatable: {cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "$gpus"}
---
YAML
      n=$((n + 1))
    done
  done
  # Status is part of the object on create; kubectl apply drops status, so create with the raw API.
  kubectl_ create -f "$out" --validate=false 2>&1 | grep -v AlreadyExists || true
  wait_for "$n nodes Ready" 120 bash -c "[ \$('$BIN/kubectl' --kubeconfig '$kubeconfig' get nodes -l type=kwok --no-headers 2>/dev/null | grep -cw Ready) -ge $n ]"
  echo "testbed[$name]: $n fake GPU nodes Ready ($spec)"
}

up() {
  [ -x "$BIN/kube-apiserver" ] || bash "$TESTBED_ROOT/build-binaries.sh"
  if running; then
    echo "testbed[$name]: already running" >&2
    echo "$kubeconfig"; return 0
  fi
  local t0; t0=$(now_ms)
  mkdir -p "$dir"
  stop_procs "$dir"
  rm -rf "$dir/etcd" "$dir/logs"
  make_certs
  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KWOK_PORT <<< "$(free_ports 4)"
  printf 'ETCD_PORT=%s\nAPI_PORT=%s\nKWOK_PORT=%s\n' "$ETCD_PORT" "$API_PORT" "$KWOK_PORT" > "$dir/ports.env"
  write_kubeconfig

  start_proc "$dir" etcd "$BIN/etcd" --name "$name" --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$name=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 8589934592 --log-level warn
  wait_proc "$dir" etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start_proc "$dir" kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --etcd-prefix "/registry" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" \
    --authorization-mode RBAC --allow-privileged=true \
    --service-account-issuer "https://kubernetes.default.svc" \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none --disable-admission-plugins DefaultStorageClass \
    --max-requests-inflight 2000 --max-mutating-requests-inflight 1000 --event-ttl 1h
  wait_proc "$dir" kube-apiserver 120 kubectl_ get --raw /readyz

  cat > "$dir/scheduler.yaml" <<YAML
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: "$kubeconfig", qps: 1000, burst: 2000}
leaderElection: {leaderElect: false}
YAML
  start_proc "$dir" kube-scheduler "$BIN/kube-scheduler" --config "$dir/scheduler.yaml" --secure-port 0
  start_proc "$dir" kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$kubeconfig" --leader-elect=false --secure-port 0 \
    --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
    --use-service-account-credentials=false --kube-api-qps 1000 --kube-api-burst 2000 \
    --concurrent-gc-syncs 50
  start_proc "$dir" kwok "$BIN/kwok" --kubeconfig "$kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-label-selector type=kwok \
    --node-lease-duration-seconds 40 --cidr 10.64.0.1/12 --server-address "127.0.0.1:$KWOK_PORT" \
    --config "$TESTBED_ROOT/stages/node.yaml" --config "$TESTBED_ROOT/stages/pod.yaml"
  wait_proc "$dir" kube-controller-manager 60 kubectl_ get serviceaccount default -n default
  apply_nodes
  echo "testbed[$name]: control plane up in $(( ($(now_ms) - t0) ))ms (API https://127.0.0.1:$API_PORT)" >&2
  echo "$kubeconfig"
}

down() {
  if [ ! -d "$dir" ]; then echo "testbed[$name]: not running" >&2; return 0; fi
  stop_procs "$dir"
  rm -rf "$dir"
  echo "testbed[$name]: stopped" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  nodes) source "$dir/ports.env"; apply_nodes ;;
  *) echo "usage: $0 up|down|nodes [NAME]" >&2; exit 2 ;;
esac
