"""Kubernetes targets: kind, GKE and any kubeconfig, serving through a KServe InferenceService.

Flow: `ClusterTarget(name, settings)` (the registry's) finds the cluster when entered (kind: reuse
or create it, install KServe when missing; gke/kubeconfig: load the kubeconfig context, reach the
API server and check KServe is there; `connect_cluster` does the same for scripts) and sweeps
namespaces that killed runs left behind. `storage()`: kind uploads to its in-cluster GCS emulator
(published on the host); gke/kubeconfig to real GCS unless the user names an emulator the cluster
can reach (a loopback one only when the API server is on this machine too). `deploy(spec, storage_uri)` creates the labelled
namespace kh-<run id>-<scenario>, copies the storage service account into it when the scenario
names one, creates the InferenceService, waits with
`harness.kube.readiness` (Ready, or a named cause at once) and returns an Endpoint: a local
port-forward to the predictor pod's port 8080 (plus TorchServe's management and metrics ports, and
the front's gRPC port 8081 for grpc-v2),
or the ingress with the Host header from status.url; the load runner samples that pod's GPU with
nvidia-smi through the exec API (harness.load.gpu_pod). `cold_start(uploaded, started)` reads that deploy's
phases from the pod, its events and its logs (harness.kube.cold_start). `collect_diagnostics` saves the
InferenceService, pods, events and every container log; `teardown` deletes the namespaces, except
a failed scenario's when keep_on_fail is set, and the kind cluster when this run created it and
keep_cluster is off.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal
from urllib.parse import urlparse

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.endpoint import Endpoint
from harness.errors import ConfigError, DeployError, EnvironmentProblem, HarnessError
from harness.kube import diagnostics as kube_diagnostics
from harness.kube.api import Kube, api_error_text
from harness.kube.causes import MODEL_CONTAINER, STORAGE_INITIALIZER
from harness.kube.cold_start import kube_cold_start
from harness.kube.cluster import (KIND_GCS_EMULATOR_HOST, KindCluster, kserve_installed, kserve_version,
                                  load_api_client, probe)
from harness.kube.credentials import DEFAULT_CREDENTIALS_NAMESPACE, copy_service_account
from harness.kube.manifest import GRPC_PORT
from harness.kube.namespaces import create_run_namespace, delete_namespace, keep_namespace, sweep_orphans
from harness.kube.naming import ISVC_POD_LABEL, isvc_name, run_labels
from harness.kube.portforward import PortForward
from harness.kube.readiness import wait_ready
from harness.load.gpu_pod import PodGpuSampler
from harness.report.model import ColdStart
from harness.runtimes.registry import render_manifest_yaml, runtime_for
from harness.spec import ScenarioSpec
from harness.storage import GcsStore
from harness.targets.base import StorageSite, Target
from harness.targets.settings import TargetSettings

__all__ = ["ClusterTarget", "KubernetesTarget", "connect_cluster", "render_manifest_yaml"]

log = logging.getLogger(__name__)
PREDICTOR_PORT = 8080  # KServe's predictor port: what the design notes port-forward by hand
COLD_START_LOG_BYTES = 4 << 20  # TorchServe's READY line comes early; this bounds a chatty model's log


@dataclass
class _Deployment:
    namespace: str
    isvc: str
    scenario: str
    failed: bool = False
    kept: bool = False
    deleted: bool = False
    pod: str | None = None  # the predictor pod that became Ready
    forwards: list[PortForward] = field(default_factory=list)


def _loopback(url: str | None) -> bool:
    host = urlparse(url if "//" in (url or "") else f"//{url}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


class KubernetesTarget(Target):
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
        real_gcs: upload to real GCS even on kind.
        storage_emulator_host: a GCS emulator the cluster's storage-initializer reads (named by the user).
    """

    def __init__(self, api_client: client.ApiClient | None, name: Literal["kind", "gke", "kubeconfig"] = "kubeconfig",
                 run_id: str = "run", *, keep_on_fail: bool = False, cluster: KindCluster | None = None,
                 delete_cluster: bool = False, diagnostics_dir: Path | None = None, poll_s: float = 2.0,
                 credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE, real_gcs: bool = False,
                 storage_emulator_host: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.run_id = run_id
        self.keep_on_fail = keep_on_fail
        self.cluster = cluster
        self.delete_cluster = delete_cluster
        self.diagnostics_dir = diagnostics_dir
        self.poll_s = poll_s
        self.credentials_namespace = credentials_namespace
        self.real_gcs = real_gcs
        self.user_emulator_host = storage_emulator_host
        self._version_pair: tuple[str | None, str | None] | None = None
        self.deployments: list[_Deployment] = []
        self.api_client: client.ApiClient | None = None
        self.kube: Kube | None = None
        if api_client is not None:
            self._attach(api_client, cluster, delete_cluster)

    def _attach(self, api_client: client.ApiClient, cluster: KindCluster | None, delete_cluster: bool) -> None:
        self.api_client, self.kube = api_client, Kube(api_client)
        self.cluster, self.delete_cluster = cluster, delete_cluster

    @property
    def storage_emulator_host(self) -> str | None:
        """The emulator this cluster's storage-initializer reads: the user's, or kind's in-cluster
        one (published on the host); None: real GCS."""
        if self.real_gcs:
            return None
        return self.user_emulator_host or (KIND_GCS_EMULATOR_HOST if self.cluster is not None else None)

    def storage(self) -> StorageSite:
        host = self.storage_emulator_host
        if host is None:
            return StorageSite(GcsStore.for_gcs(), "gcs")
        api_server = self.api_client.configuration.host if self.api_client else None
        if _loopback(host) and not _loopback(api_server):
            raise ConfigError(f"the GCS emulator {host} is on this machine, but the cluster ({api_server}) is not: "
                              "its storage-initializer cannot read it", where="--storage-emulator-host",
                              hint="upload to real GCS (--real-gcs, with credentials) or name an emulator the "
                                   "cluster can reach")
        return StorageSite(GcsStore.for_emulator(host), "gcs-emulator", host)

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
        if spec.serving.path == "direct" and spec.kubernetes.ingress == "ingress":
            raise ConfigError("serving.path: direct cannot go through the ingress (it routes to the front)",
                              where=str(spec.source or spec.name),
                              hint="use kubernetes.ingress: port-forward with serving.path: direct")
        namespace = create_run_namespace(self.kube, self.run_id, spec.name)
        dep = _Deployment(namespace, isvc_name(spec.name), spec.name)
        self.deployments.append(dep)
        try:
            if spec.kubernetes.service_account:
                copy_service_account(self.kube, spec.kubernetes.service_account, self.credentials_namespace,
                                     namespace, run_labels(self.run_id, spec.name))
            runtime = runtime_for(spec)
            if self.cluster is not None and (build := runtime.image_build(spec)):
                self.cluster.load_image(build)  # kind's nodes pull only what was loaded into them
            self._create_isvc(dep, runtime.inference_service(spec, storage_uri, self.run_id))
            k = spec.kubernetes
            verdict = wait_ready(self.kube, namespace, dep.isvc, timeout_s=k.ready_timeout_s,
                                 need_url=k.ingress == "ingress", need_pod=k.ingress == "port-forward",
                                 poll_s=self.poll_s)
            dep.pod = verdict.pod
            endpoint = self._endpoint(dep, spec, verdict)
            return replace(endpoint, gpu_sampler=self._pod_gpu_sampler(dep)) if dep.pod else endpoint
        except HarnessError as exc:
            self._failed(dep, exc)
            raise
        except Exception as exc:  # an API or network failure outside the named causes
            err = EnvironmentProblem(f"Kubernetes API call failed during deploy: {api_error_text(exc)}",
                                     where=f"namespace {namespace}", hint="is the cluster still reachable?")
            self._failed(dep, err)
            raise err from exc

    def _pod_gpu_sampler(self, dep: _Deployment) -> Callable[[float], PodGpuSampler]:
        """How the load runner samples this deployment's GPU: nvidia-smi in the model container (exec API)."""
        kube, ns, pod = self.kube, dep.namespace, dep.pod

        def run(command: list[str], timeout_s: float):
            return kube.exec(ns, pod, MODEL_CONTAINER, command, timeout_s)

        where = f"pod {ns}/{pod} container {MODEL_CONTAINER}"
        return lambda interval_s: PodGpuSampler(run, where, interval_s)

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

    def _model_image(self, namespace: str, pod: str | None) -> str | None:
        """The image KServe gave the model container (runtimeVersion applied), for the report."""
        if not pod:
            return None
        try:
            items = self.kube.list_pods(namespace, field_selector=f"metadata.name={pod}").get("items") or []
        except (ApiException, OSError, ValueError):  # a report fact only: never fail the run for it
            return None
        containers = (items[0].get("spec") or {}).get("containers") or [] if items else []
        return next((c.get("image") for c in containers if c.get("name") == MODEL_CONTAINER), None)

    def _endpoint(self, dep: _Deployment, spec: ScenarioSpec, verdict) -> Endpoint:
        cluster_version, kserve = self._versions()
        info = {"target": self.name, "serving_path": spec.serving.path, "cluster_version": cluster_version, "kserve_version": kserve,
                "namespace": dep.namespace, "inferenceservice": dep.isvc,
                "status_url": verdict.url, "deployment_mode": spec.kubernetes.deployment_mode,
                "access": spec.kubernetes.ingress, "warnings": list(verdict.warnings),
                "runtime_image": self._model_image(dep.namespace, verdict.pod)}
        if spec.kubernetes.ingress == "ingress":
            status = urlparse(verdict.url or "")
            base = spec.kubernetes.ingress_url or f"{status.scheme}://{status.netloc}"
            host = status.netloc if spec.kubernetes.ingress_url else None
            info["pod"] = verdict.pod
            # grpc-v2 through the ingress: the same host and port, HTTP/2, :authority = the Host header.
            ingress = urlparse(base)
            grpc = (f"{ingress.hostname}:{ingress.port or (443 if ingress.scheme == 'https' else 80)}"
                    if spec.serving.protocol == "grpc-v2" else None)
            return Endpoint(base_url=base.rstrip("/"), model_name=spec.model.name, protocol=spec.serving.protocol,
                            host_header=host, grpc_target=grpc, info=info)

        # The front (8080) by default; serving.path: direct reaches the runtime's own inference port.
        pod = runtime_for(spec).pod_ports(spec)
        ports = {"predictor": pod["inference"] if spec.serving.path == "direct" else PREDICTOR_PORT,
                 **{role: port for role, port in pod.items() if role != "inference"}}
        if spec.serving.protocol == "grpc-v2":
            ports["grpc"] = GRPC_PORT  # the front's gRPC port (h2c); the port-forward carries any TCP bytes
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
            management_url=f"http://127.0.0.1:{local['management']}" if "management" in local else None,
            metrics_url=f"http://127.0.0.1:{local['metrics']}/metrics" if "metrics" in local else None,
            grpc_target=f"127.0.0.1:{local['grpc']}" if "grpc" in local else None,
            info=info)

    def cold_start(self, uploaded: dict[str, int], started: float) -> ColdStart | None:
        """The latest deploy's cold start, read from its InferenceService, pod, events and container
        logs; timed from the InferenceService's creation (not `started`). None when there is no
        deployed pod or the API cannot be read: a report fact only."""
        dep = self.deployments[-1] if self.deployments else None
        if dep is None or self.kube is None:
            return None
        try:
            isvc = self.kube.get_isvc(dep.namespace, dep.isvc) or {}
            pods = self.kube.list_pods(dep.namespace, label_selector=f"{ISVC_POD_LABEL}={dep.isvc}").get("items") or []
            pod = next((p for p in pods if p["metadata"]["name"] == dep.pod), pods[0] if pods else None)
            if pod is None:
                return None
            events = self.kube.list_events(dep.namespace).get("items") or []
            init_log, model_log = (self._log(dep.namespace, pod["metadata"]["name"], c)
                                   for c in (STORAGE_INITIALIZER, MODEL_CONTAINER))
        except (ApiException, OSError, ValueError) as exc:
            log.warning("cold start not read: %s", api_error_text(exc))
            return None
        return kube_cold_start(isvc, pod, events, init_log=init_log, model_log=model_log, uploaded=uploaded)

    def _log(self, namespace: str, pod: str, container: str) -> str:
        """A container's log with the kubelet's timestamps; "" when it has none (no such container)."""
        try:
            return self.kube.pod_log(namespace, pod, container, timestamps=True, limit_bytes=COLD_START_LOG_BYTES)
        except ApiException:
            return ""

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



def _connect(kind: str, *, kubeconfig: str | None, context: str | None, run_id: str, keep_cluster: bool,
             kind_cluster_name: str | None = None,
             sweep_older_than_s: float | None = 3 * 3600.0) -> tuple[client.ApiClient, KindCluster | None]:
    """Reach the cluster (kind: reuse or create it, and install KServe when missing), check KServe,
    sweep other runs' orphaned namespaces; return (api client, kind cluster or None).

    Raises:
        EnvironmentProblem: kind/Docker/kubectl missing, cluster unreachable, KServe not installed;
            each within seconds, naming what is missing.
    """
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
    return api_client, cluster


class ClusterTarget(KubernetesTarget):
    """The target `--target kind|gke|kubeconfig` makes: entering it reaches (kind: creates) the
    cluster and checks KServe; leaving it removes what the run created and closes the client."""

    def __init__(self, name: Literal["kind", "gke", "kubeconfig"], settings: TargetSettings, *,
                 kind_cluster_name: str | None = None, sweep_older_than_s: float | None = 3 * 3600.0) -> None:
        super().__init__(None, name, settings.run_id, keep_on_fail=settings.keep_on_fail,
                         diagnostics_dir=settings.diagnostics_dir, real_gcs=settings.real_gcs,
                         storage_emulator_host=settings.storage_emulator_host)
        self.settings = settings
        self.kind_cluster_name = kind_cluster_name
        self.sweep_older_than_s = sweep_older_than_s

    def acquire(self) -> None:
        s = self.settings
        api_client, cluster = _connect(self.name, kubeconfig=s.kubeconfig, context=s.context, run_id=s.run_id,
                                       keep_cluster=s.keep_cluster, kind_cluster_name=self.kind_cluster_name,
                                       sweep_older_than_s=self.sweep_older_than_s)
        self._attach(api_client, cluster, delete_cluster=bool(cluster and cluster.created and not s.keep_cluster))

    def teardown(self) -> None:
        super().teardown()
        if self.api_client is not None:
            self.api_client.close()


def connect_cluster(kind: Literal["kind", "gke", "kubeconfig"], *, kubeconfig: str | None, context: str | None,
                    run_id: str, keep_on_fail: bool = False, keep_cluster: bool = False,
                    kind_cluster_name: str | None = None, diagnostics_dir: Path | None = None,
                    sweep_older_than_s: float | None = 3 * 3600.0) -> KubernetesTarget:
    """A connected KubernetesTarget (for scripts and tests that drive one by hand; the runner
    enters a ClusterTarget instead). Close its `api_client` when done."""
    api_client, cluster = _connect(kind, kubeconfig=kubeconfig, context=context, run_id=run_id,
                                   keep_cluster=keep_cluster, kind_cluster_name=kind_cluster_name,
                                   sweep_older_than_s=sweep_older_than_s)
    return KubernetesTarget(api_client, kind, run_id, keep_on_fail=keep_on_fail, cluster=cluster,
                            delete_cluster=bool(cluster and cluster.created and not keep_cluster),
                            diagnostics_dir=diagnostics_dir)
