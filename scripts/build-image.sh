#!/usr/bin/env bash
# `make image`: builds the operator image from the Dockerfile without a Docker engine or a registry,
# and writes it as an OCI archive to dist/atelier-<version>.oci.tar, printing its digest and size.
#   1. A base image from Debian's packages: mmdebstrap (bookworm, minbase; no docs, man pages,
#      locales or iconv modules; no ca-certificates, since Node trusts its own bundled CA store; the
#      full perl (usr-is-merged stands in for usrmerge, which needs it) and apt, which minbase
#      brings and nothing at run time or in the build stages uses, purged after the install) plus Node from the npm `node` package in node_modules
#      and npm from the npm registry, both in /usr/local as in the official node image; imported
#      into buildah's local storage as localhost/atelier-base:bookworm-node<version>-<recipe hash>
#      (rebuilt only when missing).
#   2. `buildah bud --isolation chroot` of the Dockerfile with NODE_IMAGE naming that base, tagged
#      as the chart's default image (values.yaml image.repository : Chart appVersion), every timestamp
#      set to the last commit's time (SOURCE_DATE_EPOCH), so a clean clone of the same commit builds
#      the same files.
#   3. `buildah push` to oci-archive:dist/…; the digest printed is the image manifest's.
# Needs root (apt-get installs buildah and mmdebstrap when missing). IMAGE overrides the tag;
# NO_CACHE=1 rebuilds every layer (buildah bud --no-cache; the base is kept), to check reproducibility.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

NPM_VERSION=11.19.1 # npm for the base image's build stages (the final stage deletes it)
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/atelier/Chart.yaml)"
pkg_version="$(node -p 'require("./package.json").version')"
[ "$version" = "$pkg_version" ] || { echo "build-image: Chart appVersion $version differs from package.json version $pkg_version" >&2; exit 1; }
repository="$(sed -n '/^image:/,/^[^ #]/ s/^  repository: *//p' charts/atelier/values.yaml)"
IMAGE="${IMAGE:-$repository:$version}" # the chart's default image: values image.repository, tag appVersion
node_bin="$repo/node_modules/node/bin/node"
[ -x "$node_bin" ] || { echo "build-image: $node_bin missing: run make deps" >&2; exit 1; }
node_version="$("$node_bin" --version)"; node_version="${node_version#v}"
case "$node_version" in 24.*) ;; *) echo "build-image: expected Node 24 in node_modules, got $node_version" >&2; exit 1 ;; esac
# The base's tag names everything it is made of: a change to its recipe below makes a new one.
recipe_hash="$(sed -n '/^if ! buildah inspect/,/^fi$/p' "$0" | cat - <(echo "$SUITE $MIRROR $NPM_VERSION") | sha256sum | cut -c1-12)"
BASE="localhost/atelier-base:$SUITE-node$node_version-$recipe_hash"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "build-image: needs ${need[*]}: sudo apt-get install ${need[*]}" >&2; exit 1; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null
fi

work="$repo/dist/image"
mkdir -p "$work"
start=$(date +%s)

if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  echo "build-image: base $BASE from Debian $SUITE (mmdebstrap, minbase)"
  rm -rf "$work/npm" && mkdir -p "$work/npm"
  (cd "$work/npm" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && tar -xzf "npm-$NPM_VERSION.tgz" && mv package npm && rm "npm-$NPM_VERSION.tgz")
  mmdebstrap --quiet --variant=minbase --include=usr-is-merged \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*' \
    --customize-hook='mkdir -p "$1/usr/local/bin" "$1/usr/local/etc" "$1/usr/local/lib/node_modules"' \
    --customize-hook="copy-in $node_bin /usr/local/bin" \
    --customize-hook="copy-in $work/npm/npm /usr/local/lib/node_modules" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='chroot "$1" dpkg --purge usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl perl libperl5.36 perl-modules-5.36 apt libapt-pkg6.0 >/dev/null' \
    --customize-hook='rm -rf "$1/var/log"/*' \
    "$SUITE" "$work/base.tar" "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb ${MIRROR%/debian}/debian-security $SUITE-security main"
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$work/base.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node \
    --label org.opencontainers.image.base.name="debian:$SUITE-minbase+node-$node_version" "$ctr"
  buildah commit --quiet --rm --timestamp "$SOURCE_DATE_EPOCH" "$ctr" "$BASE" >/dev/null
  rm -rf "$work/base.tar" "$work/npm"
fi

# Where npm reaches its registry through a TLS proxy with its own CA (NODE_EXTRA_CA_CERTS, or npm's
# `cafile`), the build stages' npm trusts the host's CAs: a directory holding that bundle and an npmrc
# naming it is bind-mounted over /usr/local/etc (npm's global config directory, empty in the base)
# while each RUN step runs, so nothing of it lands in a layer; a host without such a CA mounts nothing.
mounts=()
extra="${NODE_EXTRA_CA_CERTS:-}"
[ -n "$extra" ] || { extra="$(PATH=/usr/bin:/bin npm config get cafile 2>/dev/null || true)"; [ "$extra" != null ] || extra=; }
if [ -n "$extra" ] && [ -f "$extra" ]; then
  rm -rf "$work/npm-etc" && mkdir -p "$work/npm-etc"
  cat /etc/ssl/certs/ca-certificates.crt "$extra" > "$work/npm-etc/build-ca.crt" 2>/dev/null || cp "$extra" "$work/npm-etc/build-ca.crt"
  printf 'cafile=/usr/local/etc/build-ca.crt\n' > "$work/npm-etc/npmrc"
  mounts=(--volume "$work/npm-etc:/usr/local/etc:ro")
fi

echo "build-image: buildah bud $IMAGE (base $BASE)"
cache=(--layers)
[ "${NO_CACHE:-}" != 1 ] || cache=(--no-cache)
buildah bud --quiet --isolation chroot "${cache[@]}" --timestamp "$SOURCE_DATE_EPOCH" "${mounts[@]}" \
  --build-arg "NODE_IMAGE=$BASE" -t "$IMAGE" -f Dockerfile . >/dev/null

archive="$repo/dist/atelier-$version.oci.tar"
rm -f "$archive"
buildah push --quiet --digestfile "$work/digest" "$IMAGE" "oci-archive:$archive:$IMAGE"
digest="$(cat "$work/digest")"
size_archive=$(stat -c %s "$archive")
size_unpacked="$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "image:   $IMAGE"
echo "archive: ${archive#$repo/} ($(mib "$size_archive") compressed; $size_unpacked unpacked)"
echo "digest:  $digest"
echo "built in $(( $(date +%s) - start ))s"
