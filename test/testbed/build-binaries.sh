#!/usr/bin/env bash
# Builds the test-bed binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# etcd, kwok, helm, kubeconform, the manifest linter, and the data plane's kubo and versitygw) from their Go modules at the versions
# pinned in versions.env, and caches them outside the repository keyed by version. A second run finds them and returns at once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
CACHE="${ATELIER_CACHE:-$HOME/.cache/atelier}"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "build-binaries: Go >= 1.26 is needed to build the test-bed binaries (https://go.dev/doc/install)" >&2; exit 1; }

start=$(date +%s)
built=()

k8s_dir="$CACHE/bin/kubernetes-$K8S_VERSION"
build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=0
  for b in "${want[@]}"; do [ -x "$k8s_dir/$b" ] || missing=1; done
  [ "$missing" = 1 ] || return 0
  local work; work="$(mktemp -d)"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#v1.}"
  echo "build-binaries: building Kubernetes $K8S_VERSION (first run on this machine: this takes a while)"
  (
    cd "$work"
    go mod init atelier.dev/testbed-k8s >/dev/null 2>&1
    local gomod; gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    # Every staging module that kubernetes replaces with ./staging/... is taken from the proxy at the
    # matching v0.x.y instead (read from the real go.mod, not hard-coded).
    {
      echo "require k8s.io/kubernetes $K8S_VERSION"
      grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } >> go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >"$work.log" 2>&1 || { cat "$work.log" >&2; exit 1; }
    local pkg=k8s.io/component-base/version
    local ld="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    mkdir -p "$k8s_dir.tmp"
    go build -trimpath -ldflags "$ld" -o "$k8s_dir.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  )
  rm -rf "$k8s_dir" && mv "$k8s_dir.tmp" "$k8s_dir" && rm -rf "$work" "$work.log"
  built+=("kubernetes-$K8S_VERSION")
}

# Builds one main package from a module that needs no replace lines.
build_simple() { # name version module-path package-path binary
  local name="$1" version="$2" module="$3" pkg="$4" bin="$5" dir="$CACHE/bin/$1-$2"
  [ -x "$dir/$bin" ] && return 0
  echo "build-binaries: building $name $version"
  local work; work="$(mktemp -d)"
  (
    cd "$work"
    go mod init "atelier.dev/testbed-$name" >/dev/null 2>&1
    go get "$module@$version" >"$work.log" 2>&1 || { cat "$work.log" >&2; exit 1; }
    mkdir -p "$dir.tmp"
    go build -trimpath -ldflags "-s -w" -o "$dir.tmp/$bin" "$pkg"
  )
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && rm -rf "$work" "$work.log"
  built+=("$name-$version")
}

build_simple etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 etcd
build_simple kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok kwok
build_simple helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm helm
build_simple kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform github.com/yannh/kubeconform/cmd/kubeconform kubeconform
# Kubo: its go.mod replaces go-libp2p with a fork (for quic-go >= v0.62.0 and webtransport-go >=
# v0.13.0) that the module proxy does not serve; go-libp2p $KUBO_LIBP2P_VERSION is the upstream
# release that requires exactly those, so the wrapper module requires it instead of the fork.
build_kubo() {
  local dir="$CACHE/bin/kubo-$KUBO_VERSION"
  [ -x "$dir/ipfs" ] && return 0
  echo "build-binaries: building kubo $KUBO_VERSION (go-libp2p $KUBO_LIBP2P_VERSION)"
  local work; work="$(mktemp -d)"
  (
    cd "$work"
    go mod init atelier.dev/testbed-kubo >/dev/null 2>&1
    go get "github.com/ipfs/kubo@$KUBO_VERSION" "github.com/libp2p/go-libp2p@$KUBO_LIBP2P_VERSION" >"$work.log" 2>&1 || { cat "$work.log" >&2; exit 1; }
    mkdir -p "$dir.tmp"
    go build -trimpath -ldflags "-s -w" -o "$dir.tmp/ipfs" github.com/ipfs/kubo/cmd/ipfs
  )
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && rm -rf "$work" "$work.log"
  built+=("kubo-$KUBO_VERSION")
}

# The data plane (data.sh): IPFS and an S3-compatible server.
build_kubo
build_simple versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw github.com/versity/versitygw/cmd/versitygw versitygw
build_kubernetes

# A stable directory of links, so scripts need not know versions.
link="$CACHE/bin/current"
mkdir -p "$link"
for f in "$k8s_dir"/* "$CACHE/bin/etcd-$ETCD_VERSION/etcd" "$CACHE/bin/kwok-$KWOK_VERSION/kwok" "$CACHE/bin/helm-$HELM_VERSION/helm" \
  "$CACHE/bin/kubeconform-$KUBECONFORM_VERSION/kubeconform" "$CACHE/bin/kubo-$KUBO_VERSION/ipfs" \
  "$CACHE/bin/versitygw-$VERSITYGW_VERSION/versitygw"; do
  ln -sf "$f" "$link/$(basename "$f")"
done
end=$(date +%s)
if [ ${#built[@]} -gt 0 ]; then
  echo "build-binaries: built ${built[*]} in $((end - start))s; cached under $CACHE/bin"
else
  echo "build-binaries: all binaries cached under $CACHE/bin ($((end - start))s)"
fi
