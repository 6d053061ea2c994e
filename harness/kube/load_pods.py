"""In-cluster load (`load.generator: cluster`): Locust as pods in the run's namespace.

Flow: for each Locust run (sweep value) `ClusterRun.execute`:
  1. a ConfigMap `harness-load-rN` holds the harness's locustfile (stdlib, gevent, geventhttpclient
     and Locust only: the official image runs it as is), plan.json (base_url = the predictor's
     in-cluster address, bodies and out_dir inside the pod, `upload` = the run's storage prefix)
     and the request bodies (binaryData); over the 1 MiB ConfigMap limit is a ConfigError;
  2. one pod per `load.workers` from the pinned official image `locustio/locust:<the Locust the
     harness pins>`, each a standalone Locust process (`HARNESS_LOAD_INDEX` = its share w of N of
     the open-loop schedule, as a local worker's index), restartPolicy Never, the same command line
     the local runner uses;
  3. the pods are followed until each has Succeeded or failed (progress: pod phases; the server's
     metrics are scraped through the port-forward every scrape_interval_s as for local load); a
     pod that cannot run (image pull, crash, non-zero exit) is a one-line EnvironmentProblem (exit 2) quoting
     its cause, every pod's log lands in the run folder either way;
  4. each pod uploaded its records-<w>.jsonl and status-<w>.json under
     `<storage uri>/load/<run>/` (GCS JSON API, STORAGE_EMULATOR_HOST when set); the harness
     downloads them into the run folder, so figures, self-check and verdict are computed by the
     same code, from the same raw records, as for local load.
Pods and ConfigMap are deleted after each run (and with the namespace in any case).

Limits (said, not hidden): grpc-v2 needs grpc and tritonclient, which the official image lacks
(a ConfigError); `serving.path: direct` has no in-cluster Service (ConfigError); the server
window's edges are the scrapes nearest to the measured window (t0 is known only from the
records), within one scrape_interval_s.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from harness.errors import ConfigError, EnvironmentProblem
from harness.kube.api import api_error_text
from harness.kube.naming import run_labels
from harness.load.runner import LOCUSTFILE, STARTUP_GRACE_S, LoadProgress, LocustRun, locust_plan, wire_bodies

LOCUST_VERSION = "2.47.0"  # constraints.txt pins locust==2.47.0; tests/kube/test_cluster_load.py checks they agree
LOCUST_IMAGE = f"locustio/locust:{LOCUST_VERSION}"
MOUNT = "/harness"
POD_OUT = "/tmp/harness-load"
CONFIGMAP_LIMIT = 1024 * 1024  # the API server refuses a ConfigMap over 1 MiB
LOAD_ROLE_LABEL = "kserve-harness/role"
LOAD_ROLE = "load-generator"
CONTAINER = "locust"
POD_TERMINAL = {"Succeeded", "Failed"}


@dataclass
class ClusterLoad:
    """What a cluster target hands the load phase for `generator: cluster`.

    Args:
        kube: the run's harness.kube.api.Kube.
        namespace, isvc: where the predictor is.
        storage_uri: the run's gs:// prefix (the model's); records go under <it>/load/<run>/.
        store: the harness's GcsStore for that storage (downloads the records).
        emulator_host: STORAGE_EMULATOR_HOST as the cluster reaches it (None: real GCS).
        run_id, scenario: for labels.
    """

    kube: Any
    namespace: str
    isvc: str
    storage_uri: str
    store: Any
    emulator_host: str | None
    run_id: str
    scenario: str
    diagnostics_dir: Path | None = None  # the report's diagnostics/: a failed load pod's log is copied there
    created: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)


def in_cluster_url(isvc: str, namespace: str) -> str:
    """The predictor's in-cluster address: KServe's `<isvc>-predictor` Service (port 80 -> the
    front's 8080, RawDeployment and Serverless alike)."""
    return f"http://{isvc}-predictor.{namespace}.svc.cluster.local"


def check_cluster_load(protocol: str, serving_path: str, target: str) -> None:
    """One-line ConfigErrors for a `generator: cluster` that cannot run."""
    if target == "local":
        raise ConfigError("load.generator: cluster needs a cluster target (kind, gke, kubeconfig)", where="load.generator",
                          hint="use --target kind|gke|kubeconfig, or generator: local")
    if protocol == "grpc-v2":
        raise ConfigError("load.generator: cluster does not support serving.protocol grpc-v2 (the official Locust "
                          "image has no grpc/tritonclient)", where="load.generator", hint="use generator: local")
    if serving_path == "direct":
        raise ConfigError("load.generator: cluster sends to the predictor Service (the front); serving.path: direct "
                          "has none", where="load.generator", hint="use serving.path: front, or generator: local")


def pod_plan(local_plan: dict, base_url: str, bucket: str, prefix: str, n_bodies: int) -> dict:
    """The local plan rewritten for the pod: in-cluster address, paths in the pod, upload target."""
    return {**local_plan, "base_url": base_url.rstrip("/"),
            "bodies": [f"{MOUNT}/body-{i}.bin" for i in range(n_bodies)],
            "out_dir": POD_OUT, "upload": {"bucket": bucket, "prefix": prefix}}


def configmap_manifest(name: str, namespace: str, labels: dict[str, str], locustfile: str, plan: dict,
                       bodies: list[bytes]) -> dict:
    """The ConfigMap the load pods mount at /harness; ConfigError over the 1 MiB limit."""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"locustfile.py": locustfile, "plan.json": json.dumps(plan, indent=1)},
            "binaryData": {f"body-{i}.bin": base64.b64encode(b).decode() for i, b in enumerate(bodies)}}
    size = len(json.dumps(body).encode())
    if size > CONFIGMAP_LIMIT:
        raise ConfigError(f"the load ConfigMap would be {size} bytes, over Kubernetes' 1 MiB limit "
                          f"({len(bodies)} request bodies, {sum(map(len, bodies))} bytes)", where="load.requests",
                          hint="send fewer or smaller request bodies, or use generator: local")
    return body


def locust_command(timeout_s: float) -> list[str]:
    """The command line the local runner uses (harness.load.runner._locust_groups), inside the image."""
    return ["locust", "-f", f"{MOUNT}/locustfile.py", "--headless", "--only-summary", "--loglevel", "WARNING",
            "--stop-timeout", f"{timeout_s:g}"]


def pod_manifest(name: str, namespace: str, labels: dict[str, str], configmap: str, index: int, timeout_s: float,
                 emulator_host: str | None, image: str = LOCUST_IMAGE) -> dict:
    env = [{"name": "HARNESS_LOAD_PLAN", "value": f"{MOUNT}/plan.json"},
           {"name": "HARNESS_LOAD_INDEX", "value": str(index)},
           {"name": "PYTHONUNBUFFERED", "value": "1"}]
    if emulator_host:
        env.append({"name": "STORAGE_EMULATOR_HOST", "value": emulator_host})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": CONTAINER, "image": image, "command": locust_command(timeout_s),
                                     "workingDir": POD_OUT, "env": env,
                                     "resources": {"requests": {"cpu": "1", "memory": "256Mi"},
                                                   "limits": {"memory": "1Gi"}},
                                     "volumeMounts": [{"name": "harness", "mountPath": MOUNT, "readOnly": True},
                                                      {"name": "out", "mountPath": POD_OUT}]}],
                     "volumes": [{"name": "harness", "configMap": {"name": configmap}},
                                 {"name": "out", "emptyDir": {}}]}}


def failed_pod_text(pod: dict, log_tail: str) -> str | None:
    """One line for a load pod that cannot finish its work, or None while it may."""
    from harness.kube.causes import pod_cause

    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term and term.get("exitCode", 0) != 0:
            last = next((ln for ln in reversed(log_tail.splitlines()) if ln.strip()), "")
            return (f"load pod {pod['metadata']['name']} exited with code {term.get('exitCode')}"
                    + (f": {last.strip()[:200]}" if last else f" ({term.get('reason') or 'Error'})"))
    if status.get("phase") == "Failed":
        return f"load pod {pod['metadata']['name']} failed: {status.get('reason') or status.get('message') or 'Failed'}"
    cause = pod_cause(pod)
    if cause is not None and cause.code != "pod-failed":
        return f"load pod {pod['metadata']['name']}: {cause.headline()}"
    return None


class ClusterRun(LocustRun):
    """One Locust run as pods; the figures then come from `LocustRun`'s own code over the downloaded records."""

    cluster: ClusterLoad  # set by make_cluster_run
    through_port_forward = False  # the pods reach the predictor's Service: no tunnel to self-check

    def execute(self, bodies: list[bytes]) -> None:
        from harness.storage.gcs import split_uri

        c, ri = self.cluster, self.index + 1
        self.run_dir.mkdir(parents=True, exist_ok=True)
        wire = wire_bodies(self.endpoint, bodies)
        bucket, base = split_uri(c.storage_uri)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        prefix = f"{base}/load/{stamp}-r{ri}" if base else f"load/{stamp}-r{ri}"
        local_plan = locust_plan(self.spec, self.endpoint, self.stages, self.run_dir, [])
        plan = pod_plan(local_plan, in_cluster_url(c.isvc, c.namespace), bucket, prefix, len(wire))
        (self.run_dir / "plan.json").write_text(json.dumps(plan, indent=1))
        labels = {**run_labels(c.run_id, c.scenario), LOAD_ROLE_LABEL: LOAD_ROLE}
        cm_name = f"harness-load-r{ri}"
        cm = configmap_manifest(cm_name, c.namespace, labels, LOCUSTFILE.read_text(), plan, wire)
        kube = c.kube
        names = []
        try:
            kube._call(kube.core.create_namespaced_config_map, c.namespace, cm)
            c.created.append(("configmap", cm_name))
            for w in range(self.spec.workers):
                name = f"locust-r{ri}-w{w}"
                kube._call(kube.core.create_namespaced_pod, c.namespace,
                           pod_manifest(name, c.namespace, labels, cm_name, w, self.spec.timeout_s, c.emulator_host,
                                        image=LOCUST_IMAGE))
                c.created.append(("pod", name))
                names.append(name)
        except ApiException as exc:
            self._delete()
            raise EnvironmentProblem(f"the load pods could not be created: {api_error_text(exc)}",
                                     where=f"namespace {c.namespace}",
                                     hint="may the harness create pods and configmaps there?") from exc
        self._scrape()
        started = time.monotonic()
        # image pull and scheduling come on top of the plan's time
        deadline = started + self.planned_s + self.spec.timeout_s + STARTUP_GRACE_S + 180.0
        logs: list[Path] = []
        try:
            failure = self._follow(names, started, deadline)
        finally:
            logs = self._save_logs(names)
            self._scrape()
            self._delete()
        if failure:
            saved = logs
            if c.diagnostics_dir is not None:
                c.diagnostics_dir.mkdir(parents=True, exist_ok=True)
                saved = []
                for p in logs:
                    (c.diagnostics_dir / p.name).write_bytes(p.read_bytes())
                    saved.append(c.diagnostics_dir / p.name)
            tail = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                             for p in logs if p.stat().st_size)
            raise EnvironmentProblem(failure, where=f"{c.namespace}/{names[0] if len(names) == 1 else 'locust-*'}",
                                     hint="see the load pod logs in diagnostics/", details=tail or None,
                                     diagnostics=saved)
        self._download(bucket, prefix)
        if not list(self.run_dir.glob("records-*.jsonl")):
            raise EnvironmentProblem("the load pods finished but uploaded no records", where=f"gs://{bucket}/{prefix}",
                                     hint=f"see the load pod logs in {self.run_dir}")

    def _follow(self, names: list[str], started: float, deadline: float) -> str | None:
        c = self.cluster
        next_scrape = time.monotonic() + self.spec.scrape_interval_s
        next_progress = 0.0
        while True:
            now = time.monotonic()
            try:
                items = c.kube.list_pods(c.namespace, label_selector=f"{LOAD_ROLE_LABEL}={LOAD_ROLE}").get("items") or []
            except (ApiException, OSError) as exc:  # a blip of the API server: ask again, until the deadline
                if now >= deadline:
                    return f"the load pods could not be followed: {api_error_text(exc)}"
                time.sleep(0.5)
                continue
            pods = {p["metadata"]["name"]: p for p in items}
            phases = {n: ((pods.get(n) or {}).get("status") or {}).get("phase", "Pending") for n in names}
            for n in names:
                if n in pods:
                    failure = failed_pod_text(pods[n], self._log(n, tail=5) if phases[n] == "Failed" else "")
                    if failure:
                        return failure
            if all(ph in POD_TERMINAL for ph in phases.values()):
                return None
            if now >= deadline:
                return f"the load pods did not finish within {deadline - started:.0f} s ({_phase_text(phases)})"
            if now >= next_scrape:
                self._scrape()
                next_scrape = now + self.spec.scrape_interval_s
            if now >= next_progress and self.progress:
                self.progress(LoadProgress(run=self.index, runs=self.count,
                                           label=f"{', '.join(s.label for s in self.stages)} [{_phase_text(phases)}]",
                                           elapsed_s=round(now - started, 2), planned_s=self.planned_s,
                                           sent=0, ok=0, errors=0, in_flight=0))
                next_progress = now + 2.0
            time.sleep(0.5)  # the API poll period, bounded by `deadline` above

    def _log(self, name: str, tail: int | None = None) -> str:
        try:
            return self.cluster.kube.pod_log(self.cluster.namespace, name, CONTAINER, tail_lines=tail)
        except Exception:  # no log yet (image never pulled): the pod's status says why
            return ""

    def _save_logs(self, names: list[str]) -> list[Path]:
        out = []
        for n in names:
            p = self.run_dir / f"{n}.log"
            p.write_text(self._log(n))
            out.append(p)
        return out

    def _delete(self) -> None:
        c = self.cluster
        for kind, name in reversed(c.created):
            try:
                if kind == "pod":
                    c.kube._call(c.kube.core.delete_namespaced_pod, name, c.namespace, grace_period_seconds=0)
                else:
                    c.kube._call(c.kube.core.delete_namespaced_config_map, name, c.namespace)
            except Exception:  # the namespace's deletion removes them anyway
                pass
        c.created.clear()

    def _download(self, bucket: str, prefix: str) -> None:
        client = self.cluster.store.client
        for blob in client.list_blobs(bucket, prefix=prefix + "/"):
            leaf = blob.name.rsplit("/", 1)[-1]
            if leaf.startswith(("records-", "status-")):
                (self.run_dir / leaf).write_bytes(blob.download_as_bytes())
        statuses = []
        for p in self.run_dir.glob("status-*.json"):
            statuses.append(json.loads(p.read_text()))
        t0s = [s["t0"] for s in statuses if s.get("t0")]
        self.t0 = min(t0s) if t0s else None


def _phase_text(phases: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for ph in phases.values():
        counts[ph] = counts.get(ph, 0) + 1
    return ", ".join(f"{n} {ph}" for ph, n in sorted(counts.items()))


def make_cluster_run(cluster: ClusterLoad):
    """A `LocustRun` factory for harness.load.runner.run_load(run_factory=...)."""

    def factory(*args, **kwargs) -> ClusterRun:
        run = ClusterRun(*args, **kwargs)
        run.cluster = cluster
        return run

    return factory


def cluster_load_for(target: Any, spec: Any) -> ClusterLoad:
    """The ClusterLoad of `target`'s latest deployment, for `spec` (a ScenarioSpec) with generator: cluster.

    Raises:
        ConfigError: a target that is no cluster, grpc-v2, serving.path direct.
    """
    deployments = getattr(target, "deployments", None)
    check_cluster_load(spec.serving.protocol, spec.serving.path,
                       "local" if deployments is None or getattr(target, "kube", None) is None else target.name)
    if not deployments:
        raise EnvironmentProblem("load.generator: cluster: nothing is deployed", where="load.generator")
    dep = deployments[-1]
    return ClusterLoad(kube=target.kube, namespace=dep.namespace, isvc=dep.isvc, storage_uri=spec.storage.uri,
                       store=target.storage().store, emulator_host=target.storage_emulator_host,
                       run_id=target.run_id, scenario=spec.name,
                       diagnostics_dir=getattr(target, "diagnostics_dir", None))


def check_scenario(spec: Any, target_name: str) -> None:
    """Before anything is built or deployed: a `generator: cluster` the run cannot honour is a ConfigError."""
    if spec.load is None or spec.load.generator != "cluster":
        return
    if getattr(spec, "rollout", None) is not None:
        raise ConfigError("load.generator: cluster is not supported with rollout: (the rollout's load runs locally)",
                          where="load.generator", hint="use generator: local for a rollout under load")
    if getattr(spec, "candidate", None) is not None:
        raise ConfigError("load.generator: cluster is not supported for A/B runs (a candidate: section)",
                          where="load.generator", hint="use generator: local for A/B runs")
    check_cluster_load(spec.serving.protocol, spec.serving.path, target_name)
