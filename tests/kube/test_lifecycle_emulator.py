"""The Kubernetes target's lifecycle against the FAKE API server, through the official client.

Namespaces (create, label, delete, orphan sweep), the readiness watcher on real HTTP watches,
diagnostics, port-forward to a local HTTP server, and deploy/teardown of KubernetesTarget.
The cluster's behaviour is played by tests/kube/mini_kserve.py through the fake's Python API.
Waits poll with monotonic deadlines; all traffic stays on 127.0.0.1.
"""
from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
import urllib.request

import pytest
import yaml

from harness.errors import DeployError, EnvironmentProblem
from tests.fakes import FakeKubeApiServer, FakeKubeStore, ResourceRegistry
from tests.fakes.kube_resources import BUILTIN_TYPES
from harness.kube import diagnostics
from harness.kube.api import Kube
from harness.kube.cluster import load_api_client, probe, reachable
from harness.kube.namespaces import create_run_namespace, delete_namespace, keep_namespace, sweep_orphans
from harness.kube.naming import KEPT_LABEL, RUN_ID_LABEL, namespace_name
from harness.kube.portforward import PortForward
from harness.kube.readiness import wait_ready
from harness.targets.base import Target
from harness.targets.kubernetes import KubernetesTarget, connect_cluster

from . import mini_kserve
from . import states as S
from .conftest import scenario
from tests.helpers import eventually




@pytest.fixture
def fake():
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def kubeconfig(fake, tmp_path):
    return fake.write_kubeconfig(tmp_path / "kubeconfig", context="fake-kube")


@pytest.fixture
def api_client(kubeconfig):
    api = load_api_client(kubeconfig, "fake-kube")  # the harness's own loader, on a real kubeconfig
    yield api
    api.close()


@pytest.fixture
def kube(api_client):
    return Kube(api_client)


class _Model(http.server.BaseHTTPRequestHandler):
    """Answers like a KServe V1 predictor; echoes the Host header it saw."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        out = json.dumps({"predictions": [len(json.loads(body)["instances"])], "path": self.path,
                          "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()
    thread.join(5)


def predict(base_url: str, n: int = 2, headers: dict | None = None) -> dict:
    req = urllib.request.Request(f"{base_url}/v1/models/mnist:predict", method="POST",
                                 data=json.dumps({"instances": [[0]] * n}).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


# --- cluster access -------------------------------------------------------------------------------

def test_kubeconfig_loading_and_probe(api_client, kubeconfig):
    assert probe(api_client, timeout_s=5)
    ok, version = reachable(str(kubeconfig), "fake-kube")
    assert ok, version
    with pytest.raises(EnvironmentProblem, match="cannot load the kubeconfig"):
        load_api_client(kubeconfig, "no-such-context")


def test_unreachable_server_is_said_plainly(tmp_path):
    with FakeKubeApiServer() as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
    ok, why = reachable(str(path), timeout_s=2)  # the server is gone now
    assert not ok and "Kubernetes API server not reachable" in why


# --- namespaces -------------------------------------------------------------------------------------

def test_namespace_create_label_keep_delete(fake, kube):
    name = create_run_namespace(kube, "run-1", "mnist")
    assert name == namespace_name("run-1", "mnist") == "kh-run-1-mnist"
    labels = fake.store.get("namespaces", name)["metadata"]["labels"]
    assert labels[RUN_ID_LABEL] == "run-1" and labels["kserve-harness/scenario"] == "mnist"
    assert create_run_namespace(kube, "run-1", "mnist") == name  # a retried deploy of the same run
    fake.store.patch("namespaces", name, {"metadata": {"labels": {RUN_ID_LABEL: "someone-else"}}})
    with pytest.raises(EnvironmentProblem, match="already exists"):
        create_run_namespace(kube, "run-1", "mnist")
    keep_namespace(kube, name)
    assert fake.store.get("namespaces", name)["metadata"]["labels"][KEPT_LABEL] == "true"
    assert delete_namespace(kube, name, wait_s=10, poll_s=0.05)
    assert kube.get_namespace(name) is None
    assert delete_namespace(kube, name) is True  # already gone is fine


def test_orphan_sweep_removes_only_old_foreign_unkept_namespaces(fake, kube):
    dead = create_run_namespace(kube, "killed-run", "mnist")
    own = create_run_namespace(kube, "this-run", "mnist")
    kept = create_run_namespace(kube, "failed-run", "mnist")
    keep_namespace(kube, kept)
    fake.store.create("namespaces", {"metadata": {"name": "someone-elses"}})
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=4)
    assert sweep_orphans(kube, older_than_s=3600) == []  # all are young
    assert sweep_orphans(kube, older_than_s=3600, run_ids=["other-run"], now=later) == []  # not theirs
    assert sweep_orphans(kube, older_than_s=3600, exclude_run_id="this-run", now=later) == [dead]
    eventually(lambda: kube.get_namespace(dead) is None, what="swept namespace gone")
    for survivor in (own, kept, "someone-elses"):
        assert kube.get_namespace(survivor) is not None
    assert sweep_orphans(kube, older_than_s=3600, exclude_run_id="this-run", now=later, include_kept=True) == [kept]


# --- readiness ----------------------------------------------------------------------------------------

def _deploy_isvc(fake, kube, ns_run="run-1"):
    ns = create_run_namespace(kube, ns_run, "mnist")
    body = yaml.safe_load(json.dumps(S.isvc()))
    body["metadata"] = {"name": S.ISVC}
    body.pop("status")
    kube.create_isvc(ns, body)
    return ns


def test_watcher_names_the_storage_initializer_and_quotes_its_log(fake, kube):
    with mini_kserve.MiniKServe(fake.store, mini_kserve.storage_initializer_fails):
        ns = _deploy_isvc(fake, kube)
        started = time.monotonic()
        with pytest.raises(DeployError) as info:
            wait_ready(kube, ns, S.ISVC, timeout_s=120, poll_s=5.0)  # long poll: the watch must deliver
        assert time.monotonic() - started < 10
    err = info.value
    assert err.what.startswith("storage-initializer failed (exit code 1): RuntimeError: Failed to fetch model.")
    assert "Copying contents of gs://kserve-harness-test/models/mnist" in err.details
    assert err.where == f"pod {ns}/mnist-predictor-6d8f7c9b5-x2x8k container storage-initializer"


def test_watcher_returns_the_ready_pod(fake, kube, backend):
    with mini_kserve.MiniKServe(fake.store, mini_kserve.ready_with_backend(backend)):
        ns = _deploy_isvc(fake, kube)
        verdict = wait_ready(kube, ns, S.ISVC, timeout_s=60, poll_s=5.0)
    assert verdict.state == "ready" and verdict.pod == "mnist-predictor-6d8f7c9b5-x2x8k"
    assert verdict.url == f"http://mnist-{ns}.example.com"


# --- diagnostics ------------------------------------------------------------------------------------------

def test_diagnostics_dump_pods_events_and_all_logs(fake, kube, tmp_path):
    with mini_kserve.MiniKServe(fake.store, mini_kserve.crash_loops):
        ns = _deploy_isvc(fake, kube)
        eventually(lambda: fake.store.list("pods", ns) and
                   fake.store.list("pods", ns)[0]["status"].get("containerStatuses", [{}])[0]
                   .get("restartCount"), what="pod restarted")
    fake.store.emit_event(fake.store.get("pods", "mnist-predictor-6d8f7c9b5-x2x8k", ns), "BackOff",
                          "Back-off restarting failed container kserve-container", type="Warning")
    files = diagnostics.collect(kube, ns, tmp_path / "diagnostics")
    root = tmp_path / "diagnostics" / ns
    pod = "mnist-predictor-6d8f7c9b5-x2x8k"
    rel = sorted(str(p.relative_to(root)) for p in files)
    assert rel == sorted(["inferenceservices.yaml", "events.yaml", "events.txt", f"pods/{pod}.yaml",
                          f"pods/{pod}.describe.txt", f"logs/{pod}/storage-initializer.log",
                          f"logs/{pod}/kserve-container.log", f"logs/{pod}/kserve-container.previous.log"])
    isvc = yaml.safe_load((root / "inferenceservices.yaml").read_text())
    assert isvc["status"]["conditions"]  # with status
    dumped = yaml.safe_load((root / f"pods/{pod}.yaml").read_text())
    assert dumped["pod"]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert [e["reason"] for e in dumped["events"]] == ["BackOff"]
    describe = (root / f"pods/{pod}.describe.txt").read_text()
    assert "Init Containers:\n  storage-initializer:" in describe and "Restart Count:  1" in describe
    assert "Last State:     Terminated reason=Error exitCode=1" in describe
    assert "BackOff" in (root / "events.txt").read_text()
    assert (root / f"logs/{pod}/kserve-container.previous.log").read_text().startswith("first start")
    assert (root / f"logs/{pod}/kserve-container.log").read_text().startswith("second start")
    assert "Successfully copied" in (root / f"logs/{pod}/storage-initializer.log").read_text()


def test_diagnostics_record_what_they_could_not_get(fake, kube, tmp_path):
    ns = create_run_namespace(kube, "run-1", "mnist")
    fake.store.create("pods", {"metadata": {"name": "p", "labels": {}},
                               "spec": {"containers": [{"name": "c", "image": "x"}]}}, ns)
    fake.store.set_status("pods", "p", {"phase": "Running", "containerStatuses": [
        S.cs("c", state={"running": {"startedAt": S.T0}}, restarts=1,
             last={"terminated": {"exitCode": 1, "reason": "Error"}})]}, ns)  # but no previous log exists
    files = diagnostics.collect(kube, ns, tmp_path)
    errors = (tmp_path / ns / "errors.txt").read_text()
    assert "logs p/c" in errors and tmp_path / ns / "errors.txt" in files


# --- port-forward ------------------------------------------------------------------------------------------

def test_port_forward_carries_requests_and_stops_cleanly(fake, kube, api_client, backend):
    ns = create_run_namespace(kube, "run-1", "mnist")
    fake.store.create("pods", {"metadata": {"name": "predictor"},
                               "spec": {"containers": [{"name": "kserve-container", "image": "x"}]}}, ns)
    fake.store.set_port_forward(ns, "predictor", 8080, backend)
    pf = PortForward(api_client, ns, "predictor", 8080).start()
    try:
        assert pf.url.startswith("http://127.0.0.1:")
        assert predict(pf.url, 3)["predictions"] == [3]
        results, errors = [], []

        def call(i):
            try:
                results.append(predict(pf.url, i + 1)["predictions"][0])
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert not errors and sorted(results) == list(range(1, 9))
        # Ordinary API calls on the caller's client still work while streams are open.
        assert kube.get_namespace(ns) is not None
    finally:
        pf.stop()
    with pytest.raises(OSError):
        predict(pf.url)
    assert all(not t.is_alive() for t in pf._threads)


def test_port_forward_to_a_closed_port_reports_the_kubelet_error(fake, kube, api_client):
    ns = create_run_namespace(kube, "run-1", "mnist")
    fake.store.create("pods", {"metadata": {"name": "predictor"},
                               "spec": {"containers": [{"name": "c", "image": "x"}]}}, ns)
    with PortForward(api_client, ns, "predictor", 9999) as pf:
        with pytest.raises(Exception):
            predict(pf.url)
        eventually(lambda: pf.errors, what="error recorded")
    assert "error forwarding port 9999" in pf.errors[0]


# --- the target ----------------------------------------------------------------------------------------------

def test_target_deploys_serves_through_port_forward_and_tears_down(fake, api_client, backend):
    spec = scenario("mnist")
    with mini_kserve.MiniKServe(fake.store, mini_kserve.ready_with_backend(backend)):
        target = KubernetesTarget(api_client, "kubeconfig", "run-7", poll_s=5.0)
        assert isinstance(target, Target)
        with target:
            endpoint = target.deploy(spec, "gs://kserve-harness-test/run-7/mnist")
            assert endpoint.base_url.startswith("http://127.0.0.1:")
            assert endpoint.predict_path == "/v1/models/mnist:predict"
            assert predict(endpoint.base_url, 4)["predictions"] == [4]
            ns = endpoint.info["namespace"]
            assert ns == "kh-run-7-mnist" and endpoint.info["pod"] == "mnist-predictor-6d8f7c9b5-x2x8k"
            isvc = fake.store.get("inferenceservices.serving.kserve.io", "mnist", ns)
            assert isvc["spec"]["predictor"]["model"]["storageUri"] == "gs://kserve-harness-test/run-7/mnist"
            assert isvc["metadata"]["labels"][RUN_ID_LABEL] == "run-7"
    eventually(lambda: not [n for n in fake.store.list("namespaces") if n["metadata"]["name"] == ns],
               what="namespace deleted")
    target.teardown()  # twice is fine


def test_target_through_the_ingress_sends_the_host_header(fake, api_client, backend):
    spec = scenario("mnist", ingress="ingress", ingress_url=f"http://{backend[0]}:{backend[1]}")
    with mini_kserve.MiniKServe(fake.store, mini_kserve.ready_with_backend(backend)):
        with KubernetesTarget(api_client, "kubeconfig", "run-8", poll_s=5.0) as target:
            endpoint = target.deploy(spec, "gs://b/m")
            assert endpoint.host_header == "mnist-kh-run-8-mnist.example.com"
            assert predict(endpoint.base_url, headers=endpoint.headers)["host"] == endpoint.host_header


@pytest.mark.parametrize("keep_on_fail", [False, True])
def test_failed_deploy_saves_diagnostics_and_keeps_the_namespace_only_if_asked(fake, api_client, tmp_path,
                                                                            keep_on_fail):
    spec = scenario("mnist")
    with mini_kserve.MiniKServe(fake.store, mini_kserve.storage_initializer_fails):
        target = KubernetesTarget(api_client, "kubeconfig", "run-9", keep_on_fail=keep_on_fail,
                                  diagnostics_dir=tmp_path / "diagnostics", poll_s=5.0)
        with pytest.raises(DeployError) as info:
            with target:
                target.deploy(spec, "gs://b/m")
    ns = "kh-run-9-mnist"
    assert "storage-initializer failed" in info.value.what
    log = tmp_path / "diagnostics" / ns / "logs" / "mnist-predictor-6d8f7c9b5-x2x8k" / "storage-initializer.log"
    assert log in info.value.diagnostics and "No model found" in log.read_text()
    if keep_on_fail:
        assert fake.store.get("namespaces", ns)["metadata"]["labels"][KEPT_LABEL] == "true"
    else:
        eventually(lambda: not [n for n in fake.store.list("namespaces") if n["metadata"]["name"] == ns],
                   what="namespace deleted")


def test_mark_failed_keeps_a_namespace_after_failed_checks(fake, api_client, backend):
    with mini_kserve.MiniKServe(fake.store, mini_kserve.ready_with_backend(backend)):
        with KubernetesTarget(api_client, "kubeconfig", "run-10", keep_on_fail=True, poll_s=5.0) as target:
            target.deploy(scenario("mnist"), "gs://b/m")
            target.mark_failed()  # what the runner does when a check fails
    assert fake.store.get("namespaces", "kh-run-10-mnist")["metadata"]["labels"][KEPT_LABEL] == "true"


def test_connect_cluster_on_any_kubeconfig(fake, kubeconfig):
    target = connect_cluster("kubeconfig", kubeconfig=str(kubeconfig), context="fake-kube", run_id="r",
                         keep_on_fail=False, keep_cluster=False)
    try:
        assert isinstance(target, KubernetesTarget) and target.name == "kubeconfig"
        assert target.storage_emulator_host is None  # not kind: models live in real GCS
    finally:
        target.teardown()
        target.api_client.close()


def test_connect_cluster_says_when_kserve_is_missing(tmp_path):
    without_kserve = ResourceRegistry(tuple(t for t in BUILTIN_TYPES if t.group != "serving.kserve.io"))
    with FakeKubeApiServer(FakeKubeStore(without_kserve)) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        with pytest.raises(EnvironmentProblem, match="KServe is not installed") as info:
            connect_cluster("gke", kubeconfig=str(path), context=None, run_id="r", keep_on_fail=False,
                        keep_cluster=False)
    assert "clusters/gke/README.md" in info.value.hint


def test_storage_service_account_is_copied_into_the_run_namespace(fake, api_client, backend):
    store = fake.store
    store.create("namespaces", {"metadata": {"name": "kserve-harness-system"}})
    store.create("secrets", {"metadata": {"name": "gcs-key"}, "type": "Opaque",
                             "data": {"gcloud-application-credentials.json": "e30="}}, "kserve-harness-system")
    store.create("serviceaccounts", {"metadata": {"name": "gcs-reader", "annotations": {
        "iam.gke.io/gcp-service-account": "reader@p.iam.gserviceaccount.com"}}, "secrets": [{"name": "gcs-key"}]},
        "kserve-harness-system")
    with mini_kserve.MiniKServe(store, mini_kserve.ready_with_backend(backend)):
        with KubernetesTarget(api_client, "gke", "run-11", poll_s=5.0) as target:
            endpoint = target.deploy(scenario("mnist", service_account="gcs-reader"), "gs://b/m")
            ns = endpoint.info["namespace"]
            sa = store.get("serviceaccounts", "gcs-reader", ns)
            assert sa["secrets"] == [{"name": "gcs-key"}]
            assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == "reader@p.iam.gserviceaccount.com"
            assert sa["metadata"]["labels"][RUN_ID_LABEL] == "run-11"
            assert store.get("secrets", "gcs-key", ns)["data"] == {"gcloud-application-credentials.json": "e30="}
            isvc = store.get("inferenceservices.serving.kserve.io", "mnist", ns)
            assert isvc["spec"]["predictor"]["serviceAccountName"] == "gcs-reader"


def test_missing_storage_service_account_fails_before_the_inference_service(fake, api_client):
    with pytest.raises(EnvironmentProblem, match="not prepared in kserve-harness-system") as info:
        with KubernetesTarget(api_client, "gke", "run-12", poll_s=5.0) as target:
            target.deploy(scenario("mnist", service_account="gcs-reader"), "gs://b/m")
    assert "clusters/gke/README.md" in info.value.hint
    assert fake.store.list("inferenceservices.serving.kserve.io") == []
