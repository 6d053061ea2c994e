"""A tiny scripted stand-in for KServe + kubelet, driving the FAKE API server's store from Python.

Flow: `MiniKServe(store, outcome)` listens for new InferenceServices; for each one it creates the
predictor pod KServe would create (labelled serving.kserve.io/inferenceservice=NAME) and plays
`outcome`: the pod and InferenceService states, logs and events a real cluster would show. Only
what the harness reads is played; the project's full fake controller is someone else's.
"""
from __future__ import annotations

from typing import Callable

from tests.fakes import FakeKubeStore

from . import states as S

ISVC_RESOURCE = "inferenceservices.serving.kserve.io"
Outcome = Callable[[FakeKubeStore, dict, str], None]


def make_pod(store: FakeKubeStore, isvc: dict, status_from: dict) -> str:
    """Create the predictor pod (status from a states.py pod) and return its name."""
    ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
    template = S.pod(f"{name}-predictor-6d8f7c9b5-x2x8k", ns=ns, isvc=name)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": template["metadata"]["name"], "labels": template["metadata"]["labels"]},
           "spec": template["spec"]}
    created = store.create("pods", pod, ns)
    store.set_status("pods", created["metadata"]["name"], status_from["status"], ns)
    return created["metadata"]["name"]


def storage_initializer_fails(store: FakeKubeStore, isvc: dict, _: str) -> None:
    ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
    store.set_status(ISVC_RESOURCE, name, S.isvc_starting()["status"], ns)
    pod_name = make_pod(store, isvc, S.pod(init=S.init_running(), containers=S.waiting_main()))
    store.append_log(ns, pod_name, "storage-initializer", S.STORAGE_LOG)
    store.set_status("pods", pod_name, S.storage_initializer_failed(backoff=False)["status"], ns)
    store.emit_event(store.get("pods", pod_name, ns), "BackOff",
                     "Back-off restarting failed container storage-initializer", type="Warning")


def crash_loops(store: FakeKubeStore, isvc: dict, _: str) -> None:
    ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
    store.set_status(ISVC_RESOURCE, name, S.isvc_starting()["status"], ns)
    pod_name = make_pod(store, isvc, S.pod(init=S.init_ok(), containers=S.running_main(ready=False)))
    store.append_log(ns, pod_name, "storage-initializer", "Successfully copied gs://b/models/mnist to /mnt/models\n")
    store.append_log(ns, pod_name, "kserve-container", "first start\n" + S.MODEL_LOG)
    store.rotate_container_log(ns, pod_name, "kserve-container")
    store.append_log(ns, pod_name, "kserve-container", "second start\n" + S.MODEL_LOG)
    store.set_status("pods", pod_name, S.crash_loop(restarts=1)["status"], ns)


def ready_with_backend(address: tuple[str, int]) -> Outcome:
    """The model server comes up; the pod's port 8080 is `address` (a local HTTP server)."""

    def play(store: FakeKubeStore, isvc: dict, _: str) -> None:
        ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        store.set_status(ISVC_RESOURCE, name, S.isvc_starting()["status"], ns)
        pod_name = make_pod(store, isvc, S.pod(init=S.init_running(), containers=S.waiting_main()))
        store.set_port_forward(ns, pod_name, 8080, address)
        store.set_status("pods", pod_name, S.pod(init=S.init_ok(), phase="Running", containers=S.running_main(),
                                                 ready=True)["status"], ns)
        store.set_status(ISVC_RESOURCE, name, S.isvc_ready(f"http://{name}-{ns}.example.com")["status"], ns)

    return play


class MiniKServe:
    """Plays `outcome` for every InferenceService created while it runs."""

    def __init__(self, store: FakeKubeStore, outcome: Outcome) -> None:
        self.store = store
        self.outcome = outcome
        self.listener = None

    def _on(self, event) -> None:
        if event.type == "ADDED":
            self.outcome(self.store, event.object, event.namespace)

    def __enter__(self) -> "MiniKServe":
        self.listener = self.store.add_listener(self._on, ISVC_RESOURCE)
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()
