"""Kubernetes plumbing for the kind / GKE / kubeconfig targets.

Flow: `manifest` renders the InferenceService from a scenario; `cluster` finds or creates the
cluster and an ApiClient for it; `namespaces` creates the labelled per-run namespace (and sweeps
orphans); `credentials` copies the storage service account into it; `readiness` watches the InferenceService, its pods and events until Ready or a named
cause; `cold_start` reads the deploy phase by phase from the pod, its events and logs;
`diagnostics` saves what happened; `portforward` reaches the predictor pod.
`harness.targets.kubernetes` ties them into a Target. Nothing here touches global kubernetes
configuration or os.environ: every call takes an explicit ApiClient.
"""
