"""A port-forward to a Service rather than a pod: each accepted connection goes to one currently
Ready, not terminating pod of the InferenceService's predictor, round robin (what kube-proxy does
for the predictor's Service), so a rolling update is followed: new connections reach the new pod
once it is Ready. It also follows the endpoints (`routable(pod)`, refreshed every `refresh_s`):
the rollout load closes, between two requests, a keep-alive connection to a pod that left them
(terminating, or no longer Ready), as an endpoint-aware client or a mesh sidecar (Envoy) drains
connections to a removed host; through a plain kube-proxy Service such a connection would stay on
the terminating pod until it closes. `pod_of(local client port)` says which pod served a
connection: the rollout load attributes each answer to a revision by it.

Canary (`traffic_split=True`, Serverless): the harness stands in for Knative's ingress split. The
port-forward bypasses the ingress (Istio/Kourier route per request with the Route's weights), so
each new connection first picks a revision with the weights of the InferenceService's
status.components.predictor.traffic (`pick_revision`), then a Ready pod of that revision (label
serving.knative.dev/revision). The rollout load opens a connection per request in that mode, so
the split is per request as Knative's is.
"""
from __future__ import annotations

import itertools
import json
import random
import socket
import threading
from typing import Any

from kubernetes import client
from kubernetes.stream import portforward

from harness.kube.causes import pod_ready
from harness.kube.manifest import GROUP, PLURAL, VERSION
from harness.kube.naming import ISVC_POD_LABEL
from harness.kube.portforward import PortForward

NO_READY_POD = "no Ready pod"
REVISION_LABEL = "serving.knative.dev/revision"


def traffic_of(isvc: dict) -> list[dict]:
    """status.components.predictor.traffic: [{revisionName, percent, latestRevision, tag?}]."""
    return (((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}).get("traffic") or []


def pick_revision(traffic: list[dict], rng: random.Random) -> str | None:
    """One revision drawn with the traffic's percents as weights (None when no target has any)."""
    targets = [(t.get("revisionName"), float(t.get("percent") or 0)) for t in traffic]
    targets = [(name, w) for name, w in targets if name and w > 0]
    if not targets:
        return None
    names, weights = zip(*targets)
    return rng.choices(names, weights=weights)[0]


class ServiceForward(PortForward):
    def __init__(self, api_client: client.ApiClient, namespace: str, isvc: str, remote_port: int = 8080, *,
                 refresh_s: float = 0.25, traffic_split: bool = False, seed: int | None = None) -> None:
        super().__init__(api_client, namespace, f"isvc/{isvc}", remote_port)
        self.traffic_split = traffic_split
        self._rng = random.Random(seed)
        self._custom = client.CustomObjectsApi(api_client)
        self.refresh_s = refresh_s
        self._routable: set[str] = set()
        self.isvc = isvc
        self._rr = itertools.count()
        self._by_port: dict[int, str] = {}
        self._local = threading.local()
        self.opened: dict[str, int] = {}  # pod -> connections opened to it

    def ready_pods(self, revision: str | None = None) -> list[str]:
        selector = f"{ISVC_POD_LABEL}={self.isvc}" + (f",{REVISION_LABEL}={revision}" if revision else "")
        resp = self._core.list_namespaced_pod(self.namespace, label_selector=selector, _preload_content=False)
        items = json.loads(resp.data).get("items") or []
        return sorted(p["metadata"]["name"] for p in items if pod_ready(p))

    def pod_of(self, client_port: int) -> str | None:
        return self._by_port.get(client_port)

    def routable(self, pod: str | None) -> bool:
        """The pod was Ready and not terminating at the last endpoints refresh."""
        return pod in self._routable

    def start(self) -> "ServiceForward":
        with self._open_lock:
            self._routable = set(self.ready_pods())
        super().start()
        t = threading.Thread(target=self._refresh_loop, name=f"endpoints {self.namespace}/{self.isvc}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                with self._open_lock:
                    self._routable = set(self.ready_pods())
            except Exception:  # noqa: BLE001 - the API hiccuped: keep the last endpoints, try again
                continue

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._local.port = conn.getpeername()[1]
        except OSError:  # the client is already gone
            conn.close()
            return
        super()._serve(conn)

    def _split_pods(self) -> list[str]:
        """Knative's per-request split: a revision by the traffic's weights, then its Ready pods."""
        isvc = self._custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.isvc)
        revision = pick_revision(traffic_of(isvc), self._rng)
        return self.ready_pods(revision) if revision else []

    def _open(self) -> Any:
        with self._open_lock:
            pods = self._split_pods() if self.traffic_split else self.ready_pods()
            if not self.traffic_split:
                self._routable = set(pods)
            if not pods:
                self._by_port[self._local.port] = NO_READY_POD
                raise RuntimeError(f"the InferenceService {self.namespace}/{self.isvc} has no Ready pod")
            pod = pods[next(self._rr) % len(pods)]
            self._by_port[self._local.port] = pod
            self.opened[pod] = self.opened.get(pod, 0) + 1
            return portforward(self._core.connect_get_namespaced_pod_portforward, pod, self.namespace,
                               ports=str(self.remote_port))
