"""The real `kubectl` against the FAKE Kubernetes API server: the design notes' commands.

A second client beside the official Python one: each test writes a kubeconfig for a fresh
`FakeKubeApiServer`, seeds it from Python as the fake KServe controller and kubelet would (a
predictor pod with its storage-initializer, logs, events, a local HTTP port), runs kubectl as a
subprocess (20 s limit each, its own cache dir) and checks what kubectl printed and what the
server stored. Nothing is mocked; waits poll with a deadline; every process started is stopped.
"""
from __future__ import annotations

import http.client
import http.server
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
import pytest
import yaml

from tests.fakes import FakeKubeApiServer
from tests.helpers import eventually

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")

NS = "default"
ISVC = "inferenceservices.serving.kserve.io"
POD = "mnist-predictor-00001-deployment-7d9f8"
STORAGE_LOG = ["Initializing, args: src_uri [gs://bucket/mnist] dest_path[ [/mnt/models]",
               "Copying contents of gs://bucket/mnist to local", "Successfully copied gs://bucket/mnist to /mnt/models"]
_TIMEOUT_S = 20


@pytest.fixture
def kube():
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def kubectl(kube, tmp_path):
    """`kubectl(*args) -> CompletedProcess` against the fake (text output, not checked)."""
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    base = ["kubectl", "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "kube-cache")]
    # HOME: kubectl writes nothing outside tmp_path; the port-forward is SPDY over a websocket,
    # kubectl 1.31+'s default, pinned so the test does not depend on it.
    env = {**os.environ, "HOME": str(tmp_path), "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true"}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(base + list(args), input=stdin, capture_output=True, text=True,
                              timeout=_TIMEOUT_S, env=env)

    run.command = base
    run.env = env
    return run


def _predictor_pod(kube: FakeKubeApiServer, name: str = POD, isvc: str = "mnist") -> dict:
    """A predictor pod as the fake kubelet leaves it once TorchServe is up."""
    kube.store.create("pods", {
        "metadata": {"name": name, "labels": {"serving.kserve.io/inferenceservice": isvc, "component": "predictor"}},
        "spec": {"initContainers": [{"name": "storage-initializer", "image": "kserve/storage-initializer:v0.15.0"}],
                 "containers": [{"name": "kserve-container", "image": "pytorch/torchserve-kfs:0.12.0",
                                 "ports": [{"containerPort": 8080, "name": "http1"}]}]},
    }, NS)
    conditions = [{"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    pod = kube.store.set_status("pods", name, {
        "phase": "Running", "podIP": "10.244.0.7", "conditions": conditions,
        "initContainerStatuses": [{"name": "storage-initializer", "ready": False, "restartCount": 0,
                                   "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
        "containerStatuses": [{"name": "kserve-container", "ready": True, "restartCount": 0,
                               "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}],
    }, NS)
    kube.store.append_log(NS, name, "storage-initializer", "\n".join(STORAGE_LOG) + "\n")
    kube.store.emit_event(pod, "Scheduled", f"Successfully assigned {NS}/{name} to fake-node",
                          component="default-scheduler")
    kube.store.emit_event(pod, "Started", "Started container kserve-container", component="kubelet")
    return pod


def _isvc_yaml(uri: str = "gs://bucket/mnist", extra: str = "") -> str:
    return f"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: mnist
spec:
  predictor:
    model:
      modelFormat:
        name: pytorch
      storageUri: {uri}{extra}
"""


# --- get ----------------------------------------------------------------------------------------

def test_get_ns_uses_discovery_short_names(kubectl):
    result = kubectl("get", "ns")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0].split() == ["NAME", "AGE"]
    assert {"default", "kube-system", "kube-public"} <= {line.split()[0] for line in result.stdout.splitlines()[1:]}


def test_get_pods_by_isvc_label_prints_the_pod_columns(kube, kubectl):
    _predictor_pod(kube)
    _predictor_pod(kube, "other-predictor-0", isvc="other")
    result = kubectl("get", "pods", "-l", "serving.kserve.io/inferenceservice=mnist")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row.split()[:4] for row in rows] == [[POD, "1/1", "Running", "0"]]
    assert re.fullmatch(r"\d+s", rows[0].split()[4])


def test_get_isvc_by_short_name_from_the_crd(kube, kubectl, crd_path):
    kube.store.create(ISVC, yaml.safe_load(_isvc_yaml()), NS)
    resources = kubectl("api-resources", "--api-group=serving.kserve.io")
    assert resources.returncode == 0, resources.stderr
    assert re.search(r"^inferenceservices\s+isvc\s+serving.kserve.io/v1beta1\s+true\s+InferenceService$",
                     resources.stdout, re.M), resources.stdout
    result = kubectl("get", "isvc")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["NAME", "mnist"]


# --- describe and logs --------------------------------------------------------------------------

def test_describe_pod_prints_containers_conditions_and_events(kube, kubectl):
    _predictor_pod(kube)
    result = kubectl("describe", "pod", POD)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^Status:\s+Running$", out, re.M)
    assert re.search(r"^Init Containers:\n  storage-initializer:\n", out, re.M)
    assert re.search(r"^Containers:\n  kserve-container:\n", out, re.M)
    assert re.search(r"^\s+Port:\s+8080/TCP$", out, re.M)
    assert re.search(r"^\s+Ready\s+True\s*$", out, re.M)
    assert re.search(r"^\s+Initialized\s+True\s*$", out, re.M)
    assert re.search(rf"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned {NS}/{POD} to fake-node", out)
    assert re.search(r"Normal\s+Started\s+\S+\s+kubelet\s+Started container kserve-container", out)


def test_logs_of_the_storage_initializer(kube, kubectl):
    _predictor_pod(kube)
    result = kubectl("logs", POD, "-c", "storage-initializer")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == STORAGE_LOG
    missing = kubectl("logs", POD, "-c", "no-such-container")
    assert missing.returncode != 0
    assert f"container no-such-container is not valid for pod {POD}" in missing.stderr


# --- apply ---------------------------------------------------------------------------------------

def test_apply_namespace_creates_then_patches(kube, kubectl, tmp_path):
    manifest = tmp_path / "ns.yaml"
    manifest.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels:\n    team: a\n")
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "namespace/team-a created"
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "namespace/team-a unchanged"
    manifest.write_text(manifest.read_text().replace("team: a", "team: b"))
    result = kubectl("apply", "-f", str(manifest))
    assert result.stdout.strip() == "namespace/team-a configured", result.stderr
    meta = kube.store.get("namespaces", "team-a")["metadata"]
    assert meta["labels"]["team"] == "b"
    last = json.loads(meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["metadata"]["labels"] == {"team": "b"}


def test_apply_inference_service_creates_then_merge_patches(kube, kubectl, tmp_path, crd_path):
    manifest = tmp_path / "isvc.yaml"
    manifest.write_text(_isvc_yaml())
    result = kubectl("apply", "-f", str(manifest))
    assert result.stdout.strip() == "inferenceservice.serving.kserve.io/mnist created", result.stderr
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "inferenceservice.serving.kserve.io/mnist unchanged"
    manifest.write_text(_isvc_yaml("gs://bucket/mnist-v2"))
    result = kubectl("apply", "-f", str(manifest))
    assert result.stdout.strip() == "inferenceservice.serving.kserve.io/mnist configured", result.stderr
    stored = kube.store.get(ISVC, "mnist", NS)
    assert stored["spec"]["predictor"]["model"]["storageUri"] == "gs://bucket/mnist-v2"
    assert stored["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]


def test_unknown_field_is_refused_by_strict_validation(kube, kubectl, tmp_path, crd_path):
    bad = _isvc_yaml(extra="\n      bogusField: 1")
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(bad)
    result = kubectl("apply", "-f", str(manifest))
    assert result.returncode != 0
    assert ('Error from server (BadRequest): error when creating "' + str(manifest) + '": InferenceService in '
            'version "v1beta1" cannot be handled as a InferenceService: strict decoding error: unknown field '
            '"spec.predictor.model.bogusField"') in result.stderr
    assert kube.store.list(ISVC, NS) == []
    # The same refusal over plain HTTP, for any client asking for fieldValidation=Strict.
    request = urllib.request.Request(
        f"{kube.url}/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices?fieldValidation=Strict",
        data=json.dumps(yaml.safe_load(bad)).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    status = json.loads(refused.value.read())
    assert (refused.value.code, status["reason"]) == (400, "BadRequest")
    assert status["message"].endswith('strict decoding error: unknown field "spec.predictor.model.bogusField"')
    # An update that adds the unknown field is refused as a patch.
    manifest.write_text(_isvc_yaml())
    assert kubectl("apply", "-f", str(manifest)).returncode == 0
    manifest.write_text(bad)
    result = kubectl("apply", "-f", str(manifest))
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.predictor.model.bogusField"' in result.stderr
    assert "bogusField" not in kube.store.get(ISVC, "mnist", NS)["spec"]["predictor"]["model"]


# --- port-forward --------------------------------------------------------------------------------

class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from the pod, path {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _PortForward:
    """`kubectl port-forward pod/POD :REMOTE`, its output collected by a thread."""

    def __init__(self, kubectl, remote: int) -> None:
        self.proc = subprocess.Popen(kubectl.command + ["port-forward", f"pod/{POD}", f":{remote}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=kubectl.env)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()
        pattern = re.compile(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {remote}")
        try:
            self.port = eventually(lambda: next((int(m.group(1)) for m in map(pattern.match, self.output()) if m), None),
                                   timeout_s=_TIMEOUT_S, what=f"kubectl port-forward listening ({self.seen})")
        except BaseException:
            self.stop()
            raise

    def output(self) -> list[str]:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_port_forward_carries_http_requests_to_the_pod_port(kube, kubectl):
    _predictor_pod(kube)
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    kube.set_port_forward(NS, POD, 8080, backend.server_address)
    forward = None
    try:
        forward = _PortForward(kubectl, 8080)
        for path in ("/v1/models/mnist", "/ping"):  # two connections over one SPDY session
            with urllib.request.urlopen(f"http://127.0.0.1:{forward.port}{path}", timeout=_TIMEOUT_S) as answer:
                assert answer.read().decode() == f"hello from the pod, path {path}\n"
        assert forward.proc.poll() is None, forward.output()
    finally:
        if forward is not None:
            forward.stop()
        backend.shutdown()
        backend.server_close()


def test_port_forward_to_a_closed_pod_port_reports_the_kubelet_error(kube, kubectl):
    _predictor_pod(kube)
    forward = _PortForward(kubectl, 9999)
    try:
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{forward.port}/", timeout=_TIMEOUT_S)
        # kubectl gives up the session, as after a real kubelet's error
        out = eventually(lambda: "lost connection to pod" in "".join(forward.output()) and "".join(forward.seen),
                         timeout_s=_TIMEOUT_S, what=f"kubectl reporting the error ({forward.seen})")
        assert f"error forwarding port 9999 to pod {NS}/{POD}" in out and "connection refused" in out
        assert forward.proc.wait(_TIMEOUT_S) != 0
    finally:
        forward.stop()
