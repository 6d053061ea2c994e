#!/usr/bin/env bash
# Delete the kind cluster (and its kubeconfig file). Namespaces of single runs are removed by the
# harness itself, or by its orphan sweep; this removes everything.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
NAME="${KIND_CLUSTER_NAME:-kserve-harness}"
KUBECONFIG_PATH="${KUBECONFIG_PATH:-$ROOT/.cache/kind/$NAME.kubeconfig}"
kind delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_PATH"
rm -f "$KUBECONFIG_PATH"
