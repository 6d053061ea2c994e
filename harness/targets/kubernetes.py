"""Kubernetes targets: kind, GKE and any kubeconfig, serving through a KServe InferenceService.

Flow: `make_target(kind, ...)` finds the cluster (kind: reuse or create it, install KServe when
missing; gke/kubeconfig: load the kubeconfig context and check KServe is there) and sweeps
namespaces that killed runs left behind. `deploy(spec, storage_uri)` creates the labelled
namespace kh-<run id>-<scenario>, copies the storage service account into it when the scenario
names one, creates the InferenceService, waits with
`harness.kube.readiness` (Ready, or a named cause at once) and returns an Endpoint: a local
port-forward to the predictor pod's port 8080 (plus TorchServe's management and metrics ports),
or the ingress with the Host header from status.url. `collect_diagnostics` saves the
InferenceService, pods, events and every container log; `teardown` deletes the namespaces, except
a failed scenario's when keep_on_fail is set, and the kind cluster when this run created it and
keep_cluster is off.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.errors import ConfigError, DeployError, EnvironmentProblem, HarnessError
from harness.kube import diagnostics as kube_diagnostics
from harness.kube.api import Kube, api_error_text
from harness.kube.credentials import DEFAULT_CREDENTIALS_NAMESPACE, copy_service_account
from harness.kube.cluster import (KIND_GCS_EMULATOR_HOST, KindCluster, kserve_installed, kserve_version,
                                  load_api_client, probe)
from harness.kube.manifest import render_inference_service, render_manifest_yaml
from harness.kube.namespaces import create_run_namespace, delete_namespace, keep_namespace, sweep_orphans
from harness.kube.naming import isvc_name, run_labels
from harness.kube.portforward import PortForward
from harness.kube.readiness import wait_ready
from harness.spec import ScenarioSpec
from harness.targets.base import Endpoint, Target

__all__ = ["KubernetesTarget", "make_target", "render_manifest_yaml", "TARGET_KINDS"]

log = logging.getLogger(__name__)

TARGET_KINDS = ("kind", "gke", "kubeconfig")
PREDICTOR_PORT = 8080  # KServe's predictor port: what the design notes port-forward by hand
# TorchServe's management and metrics ports as harness.archive writes config.properties.
DEFAULT_MANAGEMENT_PORT = 8085
DEFAULT_METRICS_PORT = 8082


@dataclass
class _Deployment:
    namespace: str
    isvc: str
    scenario: str
    failed: bool = False
    kept: bool = False
    deleted: bool = False
    forwards: list[PortForward] = field(default_factory=list)


def _port_of(address: object, default: int) -> int:
    match = re.search(r":(\d+)\s*$", str(address or ""))
    return int(match.group(1)) if match else default


class KubernetesTarget:
    """Serves scenarios through KServe on a cluster reached with `api_client`.

    Args:
        api_client: an ApiClient for the cluster (harness.kube.cluster.load_api_client).
        name: "kind", "gke" or "kubeconfig" (for reports).
        run_id: labels every namespace; the orphan sweep and cleanup find them by it.
        keep_on_fail: keep the namespace of a failed scenario (labelled kserve-harness/kept=true).
        cluster: the kind cluster, when this target drives one.
        delete_cluster: delete `cluster` on teardown (it was created by this run, no --keep-cluster).
        diagnostics_dir: where a failed deploy saves diagnostics by itself (the report's
            diagnostics/); collect_diagnostics() can always be called explicitly too.
        poll_s: readiness re-evaluation and list-fallback interval.
        credentials_namespace: where the service account a scenario names is prepared; it is
            copied (with the secrets it lists) into each run namespace.
    """

    def __init__(self, api_client: client.ApiClient, name: Literal["kind", "gke", "kubeconfig"] = "kubeconfig",
                 run_id: str = "run", *, keep_on_fail: bool = False, cluster: KindCluster | None = None,
                 delete_cluster: bool = False, diagnostics_dir: Path | None = None, poll_s: float = 2.0,
                 credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE) -> None:
        self.api_client = api_client
        self.name = name
        self.run_id = run_id
        self.keep_on_fail = keep_on_fail
        self.cluster = cluster
        self.delete_cluster = delete_cluster
        self.diagnostics_dir = diagnostics_dir
        self.poll_s = poll_s
        self.credentials_namespace = credentials_namespace
        self._version_pair: tuple[str | None, str | None] | None = None
        # Where to upload models so that this cluster's storage-initializer finds them (kind's
        # in-cluster GCS emulator, published on the host); None: real GCS.
        self.storage_emulator_host = KIND_GCS_EMULATOR_HOST if cluster is not None else None
        self.kube = Kube(api_client)
        self.deployments: list[_Deployment] = []

    # --- Target protocol ----------------------------------------------------------------------
    def deploy(self, spec: ScenarioSpec, storage_uri: str) -> Endpoint:
        """Create namespace + InferenceService, wait until it serves, return how to reach it.

        Raises:
            DeployError: it did not become ready; the one-liner names the cause (storage-initializer
                failed: <its last log line>, image pull failure, CrashLoopBackOff, OOMKilled,
                unschedulable, ingress not configured...) and `details` holds the full log.
            ConfigError: the API server rejected the manifest as invalid.
            EnvironmentProblem: the namespace cannot be created or KServe is not installed.
        """
        namespace = create_run_namespace(self.kube, self.run_id, spec.name)
        dep = _Deployment(namespace, isvc_name(spec.name), spec.name)
        self.deployments.append(dep)
        try:
            if spec.kubernetes.service_account:
                copy_service_account(self.kube, spec.kubernetes.service_account, self.credentials_namespace,
                                     namespace, run_labels(self.run_id, spec.name))
            self._create_isvc(dep, render_inference_service(spec, storage_uri, self.run_id))
            k = spec.kubernetes
            verdict = wait_ready(self.kube, namespace, dep.isvc, timeout_s=k.ready_timeout_s,
                                 need_url=k.ingress == "ingress", need_pod=k.ingress == "port-forward",
                                 poll_s=self.poll_s)
            return self._endpoint(dep, spec, verdict)
        except HarnessError as exc:
            self._failed(dep, exc)
            raise
        except Exception as exc:  # an API or network failure outside the named causes
            err = EnvironmentProblem(f"Kubernetes API call failed during deploy: {api_error_text(exc)}",
                                     where=f"namespace {namespace}", hint="is the cluster still reachable?")
            self._failed(dep, err)
            raise err from exc

    def _failed(self, dep: _Deployment, exc: HarnessError) -> None:
        dep.failed = True
        if self.diagnostics_dir is not None:
            try:
                exc.diagnostics.extend(self._collect(dep, self.diagnostics_dir))
            except OSError as oserr:  # a full disk must not hide the deploy failure
                log.warning("could not save diagnostics: %s", oserr)

    def _create_isvc(self, dep: _Deployment, body: dict) -> None:
        try:
            self.kube.create_isvc(dep.namespace, body)
        except ApiException as exc:
            where = f"inferenceservice {dep.namespace}/{dep.isvc}"
            text = api_error_text(exc)
            if exc.status == 404:
                raise EnvironmentProblem("KServe is not installed: the API server has no InferenceService "
                                         "resource", where=where,
                                         hint="install KServe (clusters/kind/install-kserve.sh, clusters/gke/)") from exc
            if exc.status == 422:
                raise ConfigError(f"the API server rejected the InferenceService: {text}", where=where,
                                  hint="check the scenario's kubernetes section (`harness render` shows the manifest)") from exc
            raise DeployError(f"cannot create the InferenceService: {text}", where=where,
                              hint="a KServe admission webhook or policy refused it; see the message") from exc

    def _versions(self) -> tuple[str | None, str | None]:
        """(Kubernetes, KServe) versions for the report's fingerprint; asked once per target."""
        if self._version_pair is None:
            try:
                cluster = probe(self.api_client)
            except EnvironmentProblem:
                cluster = None
            self._version_pair = (cluster, kserve_version(self.api_client))
        return self._version_pair

    def _endpoint(self, dep: _Deployment, spec: ScenarioSpec, verdict) -> Endpoint:
        cluster_version, kserve = self._versions()
        info = {"target": self.name, "cluster_version": cluster_version, "kserve_version": kserve,
                "namespace": dep.namespace, "inferenceservice": dep.isvc,
                "status_url": verdict.url, "deployment_mode": spec.kubernetes.deployment_mode,
                "access": spec.kubernetes.ingress, "warnings": list(verdict.warnings)}
        if spec.kubernetes.ingress == "ingress":
            status = urlparse(verdict.url or "")
            base = spec.kubernetes.ingress_url or f"{status.scheme}://{status.netloc}"
            host = status.netloc if spec.kubernetes.ingress_url else None
            info["pod"] = verdict.pod
            return Endpoint(base_url=base.rstrip("/"), model_name=spec.model.name, protocol=spec.serving.protocol,
                            host_header=host, info=info)

        props = spec.torchserve.properties
        ports = {"predictor": PREDICTOR_PORT,
                 "management": _port_of(props.get("management_address"), DEFAULT_MANAGEMENT_PORT),
                 "metrics": _port_of(props.get("metrics_address"), DEFAULT_METRICS_PORT)}
        by_remote: dict[int, int] = {}  # one listener per pod port, shared when two roles use one port
        for port in ports.values():
            if port not in by_remote:
                pf = PortForward(self.api_client, dep.namespace, verdict.pod, port).start()
                dep.forwards.append(pf)
                by_remote[port] = pf.local_port
        local = {role: by_remote[port] for role, port in ports.items()}
        info.update(pod=verdict.pod, forwarded={r: f"127.0.0.1:{local[r]} -> {verdict.pod}:{p}"
                                                for r, p in ports.items()})
        return Endpoint(
            base_url=f"http://127.0.0.1:{local['predictor']}", model_name=spec.model.name,
            protocol=spec.serving.protocol,
            management_url=f"http://127.0.0.1:{local['management']}",
            metrics_url=f"http://127.0.0.1:{local['metrics']}/metrics",
            info=info)

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        """Save InferenceServices, pods (describe-equivalent), events and all container logs of every
        namespace this target created, under dest/<namespace>/."""
        written: list[Path] = []
        for dep in self.deployments:
            if not dep.deleted:
                written += self._collect(dep, dest)
        return written

    def _collect(self, dep: _Deployment, dest: Path) -> list[Path]:
        return kube_diagnostics.collect(self.kube, dep.namespace, Path(dest))

    def mark_failed(self) -> None:
        """Record that the latest scenario failed after deploy (a check or an SLO), for keep_on_fail."""
        if self.deployments:
            self.deployments[-1].failed = True

    def undeploy(self) -> None:
        """Remove the latest scenario's deployment (stop forwards; delete or keep its namespace)."""
        if self.deployments:
            self._remove(self.deployments[-1])

    def _remove(self, dep: _Deployment) -> None:
        for pf in dep.forwards:
            pf.stop()
        dep.forwards.clear()
        if dep.deleted or dep.kept:
            return
        if dep.failed and self.keep_on_fail:
            try:
                keep_namespace(self.kube, dep.namespace)
            except Exception as exc:  # noqa: BLE001 - keeping is a courtesy; say so and go on
                log.warning("could not label kept namespace %s: %s", dep.namespace, api_error_text(exc))
            dep.kept = True
            log.warning("keeping namespace %s of failed scenario %s (--keep-on-fail); delete it with "
                        "`kubectl delete namespace %s`", dep.namespace, dep.scenario, dep.namespace)
            return
        try:
            delete_namespace(self.kube, dep.namespace)
            dep.deleted = True
        except Exception as exc:  # noqa: BLE001 - teardown goes on; the orphan sweep removes it later
            log.warning("could not delete namespace %s: %s", dep.namespace, api_error_text(exc))

    def teardown(self) -> None:
        """Remove what this target created. Safe to call twice and after a failed deploy."""
        for dep in self.deployments:
            self._remove(dep)
        if self.cluster is not None and self.delete_cluster and not any(d.kept for d in self.deployments):
            self.cluster.delete()
            self.delete_cluster = False

    def __enter__(self) -> "KubernetesTarget":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.mark_failed()
        self.teardown()


def make_target(kind: str, *, kubeconfig: str | None, context: str | None, run_id: str, keep_on_fail: bool,
                keep_cluster: bool, kind_cluster_name: str | None = None, diagnostics_dir: Path | None = None,
                sweep_older_than_s: float | None = 3 * 3600.0) -> Target:
    """The Kubernetes target the CLI and the pytest plugin ask for.

    Args:
        kind: "kind" (create or reuse a kind cluster), "gke" or "kubeconfig" (any context).
        kubeconfig: kubeconfig file for gke/kubeconfig (default $KUBECONFIG or ~/.kube/config).
        context: kubeconfig context for gke/kubeconfig (default: the current one).
        run_id: this run's id (namespace names and labels).
        keep_on_fail: keep a failed scenario's namespace.
        keep_cluster: kind only: keep a cluster this run created.
        kind_cluster_name: kind only: cluster name (default "kserve-harness").
        diagnostics_dir: where failed deploys save diagnostics by themselves.
        sweep_older_than_s: delete other runs' namespaces older than this first (None: no sweep).

    Raises:
        EnvironmentProblem: kind/kubectl missing, cluster unreachable, KServe not installed.
    """
    if kind not in TARGET_KINDS:
        raise ConfigError(f"unknown Kubernetes target {kind!r}", hint=f"use one of {', '.join(TARGET_KINDS)}")
    cluster = None
    if kind == "kind":
        if context:
            log.warning("--context is ignored for --target kind (the kind cluster's own context is used)")
        cluster = KindCluster(kind_cluster_name or "kserve-harness").ensure()
        api_client = cluster.api_client()
    else:
        api_client = load_api_client(kubeconfig, context)
    try:
        probe(api_client)
        if not kserve_installed(api_client):
            if cluster is None:
                raise EnvironmentProblem("KServe is not installed in this cluster", where=context or "current context",
                                         hint="install it (clusters/gke/README.md) or pick another --context")
            cluster.install_kserve()
        if sweep_older_than_s is not None:
            swept = sweep_orphans(Kube(api_client), older_than_s=sweep_older_than_s, exclude_run_id=run_id)
            if swept:
                log.warning("orphan sweep deleted namespaces of killed runs: %s", ", ".join(swept))
    except BaseException:
        api_client.close()
        if cluster is not None and cluster.created and not keep_cluster:
            cluster.delete()
        raise
    return KubernetesTarget(api_client, kind, run_id, keep_on_fail=keep_on_fail, cluster=cluster,
                            delete_cluster=bool(cluster and cluster.created and not keep_cluster),
                            diagnostics_dir=diagnostics_dir)
