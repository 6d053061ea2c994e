#!/usr/bin/env bash
# A GKE cluster for kserve-harness: a CPU pool, an autoscaled GPU pool (from zero), a bucket, and
# credentials for KServe's storage-initializer, then KServe itself. Every step is idempotent-ish
# (existing resources are reported, not recreated). Read README.md first; it explains each choice.
#
#   PROJECT=my-project ZONE=us-central1-a clusters/gke/create-cluster.sh
#
# Environment (defaults in brackets):
#   PROJECT (required), ZONE [us-central1-a], CLUSTER [kserve-harness],
#   GPU_TYPE [nvidia-l4], GPU_MACHINE [g2-standard-8], GPU_MAX_NODES [1],
#   BUCKET [${PROJECT}-kserve-harness], CREDENTIALS [workload-identity | key]
set -euo pipefail

: "${PROJECT:?set PROJECT to your GCP project id}"
ZONE="${ZONE:-us-central1-a}"
REGION="${ZONE%-*}"
CLUSTER="${CLUSTER:-kserve-harness}"
GPU_TYPE="${GPU_TYPE:-nvidia-l4}"
GPU_MACHINE="${GPU_MACHINE:-g2-standard-8}"
GPU_MAX_NODES="${GPU_MAX_NODES:-1}"
BUCKET="${BUCKET:-${PROJECT}-kserve-harness}"
CREDENTIALS="${CREDENTIALS:-workload-identity}"
GSA="kserve-harness-reader"
GSA_EMAIL="${GSA}@${PROJECT}.iam.gserviceaccount.com"
KSA="gcs-reader"                  # kubernetes.service_account in scenarios
CRED_NS="kserve-harness-system"   # where the harness copies the service account from
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { printf '\n== %s\n' "$*"; }
exists() { "$@" >/dev/null 2>&1; }

say "cluster ${CLUSTER} in ${ZONE} (Workload Identity on)"
if ! exists gcloud container clusters describe "$CLUSTER" --zone "$ZONE" --project "$PROJECT"; then
  gcloud container clusters create "$CLUSTER" --project "$PROJECT" --zone "$ZONE" \
    --machine-type e2-standard-8 --num-nodes 2 --release-channel regular \
    --workload-pool "${PROJECT}.svc.id.goog"
fi

say "GPU node pool (${GPU_TYPE} on ${GPU_MACHINE}, autoscaled 0..${GPU_MAX_NODES}, drivers installed by GKE)"
if ! exists gcloud container node-pools describe gpu-pool --cluster "$CLUSTER" --zone "$ZONE" --project "$PROJECT"; then
  gcloud container node-pools create gpu-pool --project "$PROJECT" --cluster "$CLUSTER" --zone "$ZONE" \
    --machine-type "$GPU_MACHINE" --accelerator "type=${GPU_TYPE},count=1,gpu-driver-version=default" \
    --enable-autoscaling --num-nodes 0 --min-nodes 0 --max-nodes "$GPU_MAX_NODES" \
    --workload-metadata GKE_METADATA
fi
gcloud container clusters get-credentials "$CLUSTER" --zone "$ZONE" --project "$PROJECT"

say "bucket gs://${BUCKET}"
if ! exists gcloud storage buckets describe "gs://${BUCKET}" --project "$PROJECT"; then
  gcloud storage buckets create "gs://${BUCKET}" --project "$PROJECT" --location "$REGION" \
    --uniform-bucket-level-access
fi

say "service account ${CRED_NS}/${KSA} for the storage-initializer (${CREDENTIALS})"
kubectl create namespace "$CRED_NS" --dry-run=client -o yaml | kubectl apply -f -
if [ "$CREDENTIALS" = "key" ]; then
  # A key file in a Secret, listed by the ServiceAccount: KServe mounts it into the
  # storage-initializer (key name gcloud-application-credentials.json). Keys are long-lived
  # secrets: prefer Workload Identity where the organisation allows it.
  exists gcloud iam service-accounts describe "$GSA_EMAIL" --project "$PROJECT" || \
    gcloud iam service-accounts create "$GSA" --project "$PROJECT" --display-name "kserve-harness model reader"
  gcloud storage buckets add-iam-policy-binding "gs://${BUCKET}" \
    --member "serviceAccount:${GSA_EMAIL}" --role roles/storage.objectViewer >/dev/null
  KEY_FILE="$(mktemp)"; trap 'rm -f "$KEY_FILE"' EXIT
  gcloud iam service-accounts keys create "$KEY_FILE" --iam-account "$GSA_EMAIL" --project "$PROJECT"
  kubectl -n "$CRED_NS" create secret generic gcs-key \
    --from-file=gcloud-application-credentials.json="$KEY_FILE" --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n "$CRED_NS" apply -f - <<YAML
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${KSA}
secrets:
  - name: gcs-key
YAML
else
  # Workload Identity Federation: each scenario runs in a new namespace, while a per-account
  # binding (.../subject/ns/NAMESPACE/sa/KSA) names one namespace. So the bucket read goes to
  # "all pods of this cluster" (a principalSet): fine for a cluster dedicated to the harness,
  # too broad for a shared one (use CREDENTIALS=key there, or a per-namespace binding per run).
  # The KSA needs no annotation then; it exists so scenarios name the same account either way.
  PROJECT_NUMBER="$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')"
  POOL="${PROJECT}.svc.id.goog"
  gcloud storage buckets add-iam-policy-binding "gs://${BUCKET}" --role roles/storage.objectViewer \
    --member "principalSet://iam.googleapis.com/projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${POOL}/kubernetes.cluster/https://container.googleapis.com/v1/projects/${PROJECT}/locations/${ZONE}/clusters/${CLUSTER}" >/dev/null
  kubectl -n "$CRED_NS" apply -f - <<YAML
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${KSA}
YAML
fi

say "KServe (RawDeployment, real GCS: no emulator)"
WITH_GCS_EMULATOR=0 "$HERE/../kind/install-kserve.sh"

cat <<DONE

Done. Scenarios for this cluster:
  storage:    {uri: gs://${BUCKET}/models/NAME}
  kubernetes: {service_account: ${KSA}, gpus: 1}      # gpus only for GPU scenarios
Run:  harness run SCENARIO --target gke --real-gcs [--kubeconfig ~/.kube/config --context \$(kubectl config current-context)]
DONE
