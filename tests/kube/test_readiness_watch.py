"""The live readiness loop against an in-memory stand-in for the API (no HTTP, no watch support)."""
from __future__ import annotations

import time

import pytest
from kubernetes.client.exceptions import ApiException

from harness.errors import DeployError
from harness.kube.readiness import ReadinessWatcher, wait_ready

from . import states as S


class ScriptedKube:
    """Serves a sequence of cluster states: each list of pods advances one step.

    The watch endpoint answers 405, as a proxy that cannot stream would, so the watcher must
    fall back to listing.
    """

    def __init__(self, steps: list[tuple[dict | None, list[dict], list[dict]]], logs: dict | None = None) -> None:
        self.steps = steps
        self.step = 0
        self.logs = logs or {}
        self.log_calls: list[tuple[str, bool]] = []

    def _state(self, kind: str):
        isvc, pods, events = self.steps[min(self.step, len(self.steps) - 1)]
        if kind == "pods":
            self.step += 1
        return {"isvc": [isvc] if isvc else [], "pods": pods, "events": events}[kind]

    def list_kind(self, kind, namespace, **selectors):
        return {"items": self._state(kind), "metadata": {"resourceVersion": str(self.step)}}

    def watch(self, *args, **kwargs):
        raise ApiException(status=405, reason="Method Not Allowed")

    def pod_log(self, namespace, pod, container, *, previous=False, tail_lines=None, limit_bytes=None):
        self.log_calls.append((container, previous))
        text = self.logs.get((container, previous))
        if text is None:
            raise ApiException(status=400, reason=f'previous terminated container "{container}" not found')
        return text


def starting():
    return (S.isvc_starting(), [S.pod(init=S.init_running(), containers=S.waiting_main())], [])


def test_storage_initializer_failure_is_reported_at_once_with_its_log():
    kube = ScriptedKube([starting(), starting(), (S.isvc_starting(), [S.storage_initializer_failed()], [])],
                        logs={("storage-initializer", False): S.STORAGE_LOG})
    started = time.monotonic()
    with pytest.raises(DeployError) as info:
        wait_ready(kube, S.NS, S.ISVC, timeout_s=60, poll_s=0.02)
    assert time.monotonic() - started < 10  # named long before the 60 s deadline
    err = info.value
    assert err.what == ("storage-initializer failed (exit code 1): RuntimeError: Failed to fetch model. "
                        "No model found in gs://kserve-harness-test/models/mnist.")
    assert err.where == f"pod {S.NS}/{S.POD} container storage-initializer"
    assert "Copying contents of gs://kserve-harness-test/models/mnist" in err.details  # the full log
    assert err.kube_cause.code == "storage-initializer"
    assert err.one_line().startswith("not ready: storage-initializer failed")


def test_log_falls_back_to_the_other_instance():
    kube = ScriptedKube([(S.isvc_starting(), [S.oom_killed(running_again=False)], [])],
                        logs={("kserve-container", True): "loading 3 GB of weights\nKilled\n"})
    with pytest.raises(DeployError) as info:
        wait_ready(kube, S.NS, S.ISVC, timeout_s=30, poll_s=0.02)
    assert kube.log_calls == [("kserve-container", False), ("kserve-container", True)]
    assert info.value.what == "kserve-container was OOMKilled (memory limit 512Mi): Killed"


def test_cause_without_a_log_quotes_the_api_message():
    kube = ScriptedKube([(S.isvc_starting(), [S.unschedulable()], [])])
    with pytest.raises(DeployError) as info:
        wait_ready(kube, S.NS, S.ISVC, timeout_s=30, poll_s=0.02)
    assert info.value.what == f"pod {S.POD} is unschedulable: {S.GPU_MESSAGE}"
    assert kube.log_calls == []


def test_ready_returns_the_pod():
    ready_pod = S.pod(init=S.init_ok(), phase="Running", containers=S.running_main(), ready=True)
    kube = ScriptedKube([starting(), (S.isvc_ready(), [ready_pod], [])])
    verdict = wait_ready(kube, S.NS, S.ISVC, timeout_s=30, poll_s=0.02)
    assert (verdict.state, verdict.pod) == ("ready", S.POD)


def test_deadline_says_what_was_last_seen():
    kube = ScriptedKube([starting()])
    watcher = ReadinessWatcher(kube, S.NS, S.ISVC, timeout_s=0.5, poll_s=0.05)
    started = time.monotonic()
    with pytest.raises(DeployError) as info:
        watcher.wait()
    assert 0.4 < time.monotonic() - started < 10
    assert "not Ready within 0.5s; last seen: InferenceService Ready=False" in info.value.what
    assert "Init:0/1" in info.value.what
    assert "watch" not in info.value.what  # the watch fallback is not the user's problem
    assert all(not t.is_alive() for t in watcher._threads)
