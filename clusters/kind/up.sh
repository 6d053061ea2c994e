#!/usr/bin/env bash
# Create (or reuse) the kind cluster and install KServe on it - what `--target kind` does itself.
#   clusters/kind/up.sh            # cluster "kserve-harness", kubeconfig in .cache/kind/
#   KIND_CLUSTER_NAME=x clusters/kind/up.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NAME="${KIND_CLUSTER_NAME:-kserve-harness}"
KUBECONFIG_PATH="${KUBECONFIG_PATH:-$ROOT/.cache/kind/$NAME.kubeconfig}"
mkdir -p "$(dirname "$KUBECONFIG_PATH")"

command -v kind >/dev/null || { echo "kind is required: https://kind.sigs.k8s.io/docs/user/quick-start/" >&2; exit 2; }
if kind get clusters | grep -qx "$NAME"; then
  kind get kubeconfig --name "$NAME" > "$KUBECONFIG_PATH"
else
  kind create cluster --name "$NAME" --config "$HERE/kind-config.yaml" --kubeconfig "$KUBECONFIG_PATH" --wait 180s
fi
chmod 600 "$KUBECONFIG_PATH"
KUBECONFIG="$KUBECONFIG_PATH" KUBE_CONTEXT="kind-$NAME" "$HERE/install-kserve.sh"
echo "kubeconfig: $KUBECONFIG_PATH (context kind-$NAME)"
