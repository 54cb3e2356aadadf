#!/usr/bin/env bash
# `make image-test`: runs the operator image the way the Helm chart runs it, without a container
# engine: the OCI archive from `make image` (dist/atelier-<version>.oci.tar) is unpacked with skopeo and
# umoci (Debian's packages), and its entrypoint, environment, working directory and user are read from
# the image's own config. Each check runs in a sandbox made with unshare (new mount and PID namespaces)
# and chroot: the image's root is a read-only bind mount, /tmp a fresh tmpfs (the chart's emptyDir),
# /proc and a few device nodes; the process runs as the image's user (uid/gid 65532), a real
# non-root uid, not a user-namespace mapping. Checks:
#   1. `help` prints the usage; the process is uid 65532; the root is read-only, /tmp writable.
#   2. settlement needs no compiler: no solc in the image, the escrow artifacts load (prebuilt), and
#      a result is signed and verified with the image's ethers.
#   3. `run` against a fresh test-bed (test/testbed/cluster.sh, NAME image-test) becomes ready
#      (/readyz answers 200) and runs a two-shard RenderJob to Succeeded.
# SKIP_RUN=1 skips 3 (no test-bed binaries needed).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/atelier/Chart.yaml)"
archive="${ARCHIVE:-$repo/dist/atelier-$version.oci.tar}"
[ -f "$archive" ] || { echo "test-image: $archive missing: run make image" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "test-image: needs root (unshare, mount, chroot)" >&2; exit 1; }
need=()
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
if [ ${#need[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null
fi

work="$(mktemp -d /tmp/atelier-image-test.XXXXXX)"
cluster=image-test
op_pid=
cleanup() {
  [ -z "$op_pid" ] || kill "$op_pid" 2>/dev/null || true
  [ "${SKIP_RUN:-}" = 1 ] || bash test/testbed/cluster.sh down "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-image: FAIL: $*" >&2; exit 1; }
pass=0
ok() { echo "test-image: ok: $*"; pass=$((pass + 1)); }

skopeo copy --quiet "oci-archive:$archive" "oci:$work/layout:image"
umoci unpack --image "$work/layout:image" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"
echo "test-image: $(du -sm "$rootfs" | cut -f1) MiB unpacked from ${archive#$repo/} ($(( $(stat -c %s "$archive") / 1048576 )) MiB)"

# The image's own config (OCI layout: index -> manifest -> config): entrypoint, cmd, env, workdir, user.
eval "$(node -e '
  const fs = require("fs"), dir = process.argv[1];
  const blob = (d) => JSON.parse(fs.readFileSync(`${dir}/blobs/${d.replace(":", "/")}`, "utf8"));
  const index = JSON.parse(fs.readFileSync(`${dir}/index.json`, "utf8"));
  const c = blob(blob(index.manifests[0].digest).config.digest).config;
  const q = (x) => "'"'"'" + String(x).replaceAll("'"'"'", "'"'"'\\'"'"''"'"'") + "'"'"'";
  const [uid, gid] = String(c.User ?? "0").split(":");
  console.log(`img_entrypoint=(${(c.Entrypoint ?? []).map(q).join(" ")}); img_cmd=(${(c.Cmd ?? []).map(q).join(" ")})`);
  console.log(`img_env=(${(c.Env ?? []).map(q).join(" ")})`);
  console.log(`img_cwd=${q(c.WorkingDir || "/")}; img_uid=${uid}; img_gid=${gid ?? uid}`);
' "$work/layout")"
[ "$img_uid" = 65532 ] && [ "$img_gid" = 65532 ] || fail "the image runs as $img_uid:$img_gid, not 65532:65532"
ok "image user is 65532:65532, entrypoint ${img_entrypoint[*]}, cmd ${img_cmd[*]}"

# sandbox [--file SRC DEST]... -- CMD...: runs CMD (argv; "entrypoint" stands for the image's
# entrypoint) in the sandbox; each --file is copied into /tmp before, owned by the image's user.
sandbox() {
  local files=()
  while [ "$1" = --file ]; do files+=("$2" "$3"); shift 3; done
  [ "$1" = -- ] && shift
  local cmd=("$@")
  if [ "${cmd[0]}" = entrypoint ]; then cmd=("${img_entrypoint[@]}" "${cmd[@]:1}"); fi
  local mnt="$work/mnt"; mkdir -p "$mnt"
  unshare --mount --pid --fork --propagation private -- bash -c '
    set -e
    rootfs="$1" mnt="$2" uid="$3" gid="$4" cwd="$5"; shift 5
    files=(); while [ "$1" != --env ]; do files+=("$1"); shift; done; shift
    env=(); while [ "$1" != --cmd ]; do env+=("$1"); shift; done; shift
    mount --bind "$rootfs" "$mnt"
    mount -o remount,bind,ro "$mnt"
    mount -t proc proc "$mnt/proc"
    mount -t tmpfs -o mode=755,size=1m tmpfs "$mnt/dev"
    for d in null zero random urandom; do touch "$mnt/dev/$d"; mount --bind "/dev/$d" "$mnt/dev/$d"; done
    mount -t tmpfs -o mode=1777,size=256m tmpfs "$mnt/tmp"
    for ((i = 0; i < ${#files[@]}; i += 2)); do
      install -o "$uid" -g "$gid" -m 0600 "${files[i]}" "$mnt/tmp/${files[i+1]}"
    done
    exec chroot --userspec="$uid:$gid" "$mnt" /usr/bin/env -i --chdir="$cwd" "${env[@]}" "$@"
  ' sandbox "$rootfs" "$mnt" "$img_uid" "$img_gid" "$img_cwd" "${files[@]}" --env "${img_env[@]}" --cmd "${cmd[@]}"
}

# 1. help, the uid, a read-only root and a writable /tmp.
out="$(sandbox -- entrypoint help 2>&1)" || fail "help exited non-zero: $out"
grep -q 'atelier run' <<<"$out" || fail "help printed no usage: $out"
ok "help prints the usage ($(wc -l <<<"$out") lines)"
probe='const fs = require("fs");
let rootWritable = true; try { fs.writeFileSync("/app/probe", "x"); } catch (e) { rootWritable = e.code !== "EROFS" ? e.code : false; }
fs.writeFileSync("/tmp/probe", "x");
console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), rootWritable, tmp: fs.readFileSync("/tmp/probe", "utf8") }));'
got="$(sandbox -- node -e "$probe")"
[ "$got" = '{"uid":65532,"gid":65532,"rootWritable":false,"tmp":"x"}' ] || fail "sandbox probe: $got"
ok "runs as uid/gid 65532, root read-only (EROFS), /tmp writable"

# 2. No compiler at run time: the prebuilt artifacts serve.
[ ! -e "$rootfs/app/node_modules/solc" ] || fail "solc is in the image"
[ ! -e "$rootfs/app/operator" ] || fail "Solidity sources are in the image"
got="$(sandbox -- node --input-type=module -e '
  const { loadArtifacts } = await import("/app/dist/operator/src/settlement/compile.js");
  const a = await loadArtifacts();
  console.log(a.escrow.abi.some((f) => f.name === "release") && /^0x[0-9a-f]{200,}$/.test(a.escrow.bytecode) && /^0x[0-9a-f]{200,}$/.test(a.token.bytecode));')"
[ "$got" = true ] || fail "settlement artifacts did not load: $got"
got="$(sandbox -- node --input-type=module -e '
  const { signResult, verifyResult } = await import("/app/dist/operator/src/settlement/results.js");
  const { Wallet } = await import("ethers");
  const w = new Wallet("0x" + "11".repeat(32));
  const s = await signResult(w, { chainId: 8453n, verifyingContract: "0x" + "5f".repeat(20) }, { jobUid: "u", shardIndex: 1, resultDigest: "0x" + "ab".repeat(32), amountClaimed: 5n });
  console.log(verifyResult(s, w.address).ok);')"
[ "$got" = true ] || fail "signing and verifying a result failed in the image: $got"
ok "no solc or Solidity source in the image; the escrow and token artifacts load from artifacts.json; results sign and verify"

# 3. run against a test-bed: ready, and a job runs to Succeeded.
if [ "${SKIP_RUN:-}" != 1 ]; then
  bash test/testbed/build-binaries.sh >/dev/null
  kubeconfig="$(bash test/testbed/cluster.sh up "$cluster" | tail -1)"
  kubectl() { "${ATELIER_CACHE:-$HOME/.cache/atelier}/bin/current/kubectl" --kubeconfig "$kubeconfig" "$@"; }
  kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
  kubectl wait --for=condition=Established --timeout=60s crd/renderjobs.atelier.dev crd/rendershards.atelier.dev >/dev/null
  port="$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  sandbox --file "$kubeconfig" kubeconfig -- entrypoint run --kubeconfig /tmp/kubeconfig --metrics-addr "127.0.0.1:$port" \
    --lease-namespace default --lease-name image-test --namespace image-test > "$work/operator.log" 2>&1 &
  op_pid=$!
  for _ in $(seq 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" = 200 ] && break
    kill -0 "$op_pid" 2>/dev/null || fail "the operator exited: $(tail -20 "$work/operator.log")"
    sleep 1
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] || fail "/readyz never answered 200: $(tail -20 "$work/operator.log")"
  ok "run: /readyz answers 200"
  kubectl create namespace image-test --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl apply -f - >/dev/null <<'YAML'
apiVersion: atelier.dev/v1alpha1
kind: RenderJob
metadata: {name: image-smoke, namespace: image-test}
spec:
  template:
    image: ghcr.io/acme/sdxl-batch:1.4
    command: [python, render.py]
    resources: {limits: {nvidia.com/gpu: 1}}
    metadata: {annotations: {testbed.atelier.dev/duration: 1s}}
  shards: {count: 2}
  output: {uri: "s3://renders/image-smoke/"}
YAML
  phase=
  for _ in $(seq 120); do
    phase="$(kubectl get renderjob image-smoke -n image-test -o jsonpath='{.status.phase}')"
    [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
    sleep 1
  done
  [ "$phase" = Succeeded ] || fail "the job is $phase, not Succeeded: $(kubectl get renderjob image-smoke -n image-test -o jsonpath='{.status.conditions}')"
  ok "run: RenderJob image-smoke ($(kubectl get renderjob image-smoke -n image-test -o jsonpath='{.status.progress}') shards) Succeeded"
fi
echo "test-image: $pass passed, 0 failed"
