#!/usr/bin/env bash
# Install a pinned KServe in Standard (RawDeployment) mode, with its prerequisite cert-manager, on
# the cluster of the current kubeconfig (or $KUBE_CONTEXT); on kind, also the in-cluster GCS
# emulator and the storage-initializer pointed at it (ClusterStorageContainer env), so the whole
# storage path runs without cloud credentials.
#
#   KUBECONFIG=... KUBE_CONTEXT=kind-kserve-harness clusters/kind/install-kserve.sh
#   clusters/kind/install-kserve.sh --print-versions   # what it would install, nothing else
#
# Environment (defaults: the pins in versions.env beside this script):
#   KSERVE_VERSION        KServe release
#   CERT_MANAGER_VERSION  cert-manager release
#   WITH_GCS_EMULATOR     1 (default) installs the emulator and repoints the storage-initializer;
#                         0 for clusters that read real GCS (clusters/gke)
#   GCS_EMULATOR_IMAGE    the emulator image
# Idempotent: rerunning it re-applies everything.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pinned() { sed -n "s/^$1=//p" "$HERE/versions.env"; }
KSERVE_VERSION="${KSERVE_VERSION:-$(pinned KSERVE_VERSION)}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-$(pinned CERT_MANAGER_VERSION)}"
WITH_GCS_EMULATOR="${WITH_GCS_EMULATOR:-1}"
GCS_EMULATOR_IMAGE="${GCS_EMULATOR_IMAGE:-$(pinned GCS_EMULATOR_IMAGE)}"
EMULATOR_URL="http://gcs-emulator.kserve-harness-system.svc.cluster.local:9023"

if [ "${1:-}" = "--print-versions" ]; then
  printf 'KSERVE_VERSION=%s\nCERT_MANAGER_VERSION=%s\nGCS_EMULATOR_IMAGE=%s\n' \
    "$KSERVE_VERSION" "$CERT_MANAGER_VERSION" "$GCS_EMULATOR_IMAGE"
  exit 0
fi

kc() { kubectl ${KUBE_CONTEXT:+--context "$KUBE_CONTEXT"} "$@"; }
say() { printf '\n== %s\n' "$*"; }

# Retry a command that races a webhook coming up (cert-manager, KServe).
retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 12 ]; then echo "giving up after $n tries: $*" >&2; return 1; fi
    sleep 10
  done
}

command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 2; }
kc version >/dev/null || { echo "the cluster is not reachable with this kubeconfig/context" >&2; exit 2; }

say "cert-manager ${CERT_MANAGER_VERSION}"
kc apply -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
kc -n cert-manager wait --for=condition=Available deployment --all --timeout=300s

say "KServe ${KSERVE_VERSION} (CRDs, controller)"
# Since v0.20 kserve.yaml leaves the namespace to the installer (hack/release/generate-install.sh).
kc create namespace kserve --dry-run=client -o yaml | kc apply -f -
# Server-side apply: the CRDs are too large for the last-applied annotation of client-side apply.
retry kc apply --server-side --force-conflicts \
  -f "https://github.com/kserve/kserve/releases/download/${KSERVE_VERSION}/kserve.yaml"
kc -n kserve wait --for=condition=Available deployment/kserve-controller-manager --timeout=300s

say "KServe cluster resources (serving runtimes incl. kserve-torchserve, default storage container)"
retry kc apply --server-side --force-conflicts \
  -f "https://github.com/kserve/kserve/releases/download/${KSERVE_VERSION}/kserve-cluster-resources.yaml"

say "default deployment mode: RawDeployment (Standard) - no Knative, no Istio needed"
kc -n kserve patch configmap inferenceservice-config --type merge \
  -p '{"data":{"deploy":"{\"defaultDeploymentMode\":\"RawDeployment\"}"}}'
kc -n kserve rollout restart deployment/kserve-controller-manager
kc -n kserve rollout status deployment/kserve-controller-manager --timeout=300s

if [ "$WITH_GCS_EMULATOR" = "1" ]; then
  say "GCS emulator in the cluster (${GCS_EMULATOR_IMAGE})"
  sed "s|GCS_EMULATOR_IMAGE|${GCS_EMULATOR_IMAGE}|" "$HERE/gcs-emulator.yaml" | kc apply -f -
  kc -n kserve-harness-system rollout status deployment/gcs-emulator --timeout=300s

  say "storage-initializer -> emulator (ClusterStorageContainer default: STORAGE_EMULATOR_HOST)"
  # The scheme is required: kserve-storage fails on a bare host:port.
  retry kc patch clusterstoragecontainer default --type merge \
    -p "{\"spec\":{\"container\":{\"env\":[{\"name\":\"STORAGE_EMULATOR_HOST\",\"value\":\"${EMULATOR_URL}\"}]}}}"
fi

say "done"
kc get clusterservingruntimes
echo "KServe ${KSERVE_VERSION} is installed (RawDeployment default)."
if [ "$WITH_GCS_EMULATOR" = "1" ]; then
  echo "Upload models to STORAGE_EMULATOR_HOST=http://127.0.0.1:9023 (kind port mapping); pods read ${EMULATOR_URL}."
fi
