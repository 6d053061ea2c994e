"""Storage credentials for a per-run namespace: copy a prepared service account into it.

Flow: every scenario gets a fresh namespace, so the service account a scenario names
(`kubernetes.service_account`) cannot be prepared there in advance. It is prepared once in a
credentials namespace (default kserve-harness-system, see clusters/gke/README.md): a
ServiceAccount that lists its Secret (KServe's storage-initializer reads the
`gcloud-application-credentials.json` key of the secrets its service account lists) and/or carries
the Workload Identity annotation. `copy_service_account` copies the account and the secrets it
lists into the run namespace, labelled like everything else the run creates.
"""
from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from harness.errors import EnvironmentProblem
from harness.kube.api import Kube, api_error_text, is_conflict

DEFAULT_CREDENTIALS_NAMESPACE = "kserve-harness-system"


def _copy_meta(obj: dict, labels: dict[str, str]) -> dict:
    meta = obj.get("metadata") or {}
    out = {"name": meta["name"], "labels": {**(meta.get("labels") or {}), **labels}}
    if meta.get("annotations"):
        out["annotations"] = {k: v for k, v in meta["annotations"].items()
                              if k != "kubectl.kubernetes.io/last-applied-configuration"}
    return out


def copy_service_account(kube: Kube, name: str, source_namespace: str, dest_namespace: str,
                         labels: dict[str, str]) -> list[str]:
    """Copy ServiceAccount `name` and the Secrets it lists from `source_namespace` to `dest_namespace`.

    Returns:
        The secrets copied.

    Raises:
        EnvironmentProblem: the account (or a secret it lists) is missing in the source namespace,
            or the API server refused a copy.
    """
    where = f"serviceaccount {source_namespace}/{name}"
    try:
        sa = kube.get_service_account(source_namespace, name)
    except ApiException as exc:
        raise EnvironmentProblem(f"cannot read the storage service account: {api_error_text(exc)}", where=where) from exc
    if sa is None:
        raise EnvironmentProblem(
            f"service account {name} (kubernetes.service_account) is not prepared in {source_namespace}",
            where=where, hint="create it and its credentials secret there once (clusters/gke/README.md), or "
                              "drop kubernetes.service_account when the nodes can read the bucket")
    copied = []
    refs = [r.get("name") for r in (sa.get("secrets") or []) if r.get("name")]
    try:
        for secret_name in refs:
            secret = kube.get_secret(source_namespace, secret_name)
            if secret is None:
                raise EnvironmentProblem(f"secret {secret_name} listed by service account {name} does not exist",
                                         where=f"secret {source_namespace}/{secret_name}")
            body = {"apiVersion": "v1", "kind": "Secret", "metadata": _copy_meta(secret, labels),
                    "type": secret.get("type") or "Opaque", "data": secret.get("data") or {}}
            _create(kube.create_secret, dest_namespace, body)
            copied.append(secret_name)
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _copy_meta(sa, labels),
                "secrets": [{"name": n} for n in refs]}
        if sa.get("imagePullSecrets"):
            body["imagePullSecrets"] = sa["imagePullSecrets"]
        _create(kube.create_service_account, dest_namespace, body)
    except ApiException as exc:
        raise EnvironmentProblem(f"cannot copy the storage service account: {api_error_text(exc)}",
                                 where=f"namespace {dest_namespace}") from exc
    return copied


def _create(fn, namespace: str, body: dict) -> None:
    try:
        fn(namespace, body)
    except ApiException as exc:
        if not is_conflict(exc):  # already there: a retried deploy of the same run
            raise
