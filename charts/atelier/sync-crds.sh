#!/usr/bin/env bash
# Copies the CRDs from the repository's crds/ (the one source of truth) into the chart's crds/
# directory, byte for byte, and removes chart CRDs that no longer exist there. Run it after editing a
# CRD; test/install/chart.test.ts fails while the two directories differ.
#   charts/atelier/sync-crds.sh          copy
#   charts/atelier/sync-crds.sh --check  exit 1 (listing the files) if they differ, change nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/../../crds"
dst="$here/crds"
check=false
[[ "${1:-}" == "--check" ]] && check=true
mkdir -p "$dst"
status=0
for f in "$src"/*.yaml; do
  name="$(basename "$f")"
  if ! cmp -s "$f" "$dst/$name"; then
    if $check; then echo "differs: charts/atelier/crds/$name"; status=1; else cp "$f" "$dst/$name"; echo "copied $name"; fi
  fi
done
for f in "$dst"/*.yaml; do
  [[ -e "$f" ]] || continue
  name="$(basename "$f")"
  if [[ ! -e "$src/$name" ]]; then
    if $check; then echo "stale: charts/atelier/crds/$name"; status=1; else rm "$f"; echo "removed $name"; fi
  fi
done
exit $status
