"""The FAKE Kubernetes API server, driven by the official `kubernetes` client (no mocks).

Flow: each test starts its own server (context manager in a fixture), builds a client from the
kubeconfig the server writes, and checks one behaviour the harness's Kubernetes code relies on.
Waits poll with a monotonic deadline; nothing sleeps to synchronise.
"""
from __future__ import annotations

import http.client
import http.server
import json
import queue
import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward

from tests.fakes import FakeKubeApiServer, FakeKubeError, FakeKubeStore
from tests.helpers import eventually

NS = "team-a"
KSERVE = ("serving.kserve.io", "v1beta1")
ISVC = "inferenceservices.serving.kserve.io"


@pytest.fixture
def kube(tmp_path):
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def api_client(kube, tmp_path):
    path = kube.write_kubeconfig(tmp_path / "kubeconfig")
    with config.new_client_from_config(config_file=str(path)) as c:
        yield c


@pytest.fixture
def v1(api_client, kube):
    api = client.CoreV1Api(api_client)
    api.create_namespace({"metadata": {"name": NS, "labels": {"team": "a"}}})
    return api


@pytest.fixture
def custom(api_client, v1):
    return client.CustomObjectsApi(api_client)


def _pod(name, labels=None, containers=("main",), init=()):
    spec = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if init:
        spec["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def _isvc(name, uri="gs://bucket/model"):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "pytorch"}, "storageUri": uri}}}}




class _WatchThread:
    """Consume a `watch.Watch().stream(...)` in a thread, events into a queue."""

    def __init__(self, func, *args, **kwargs):
        self.events: queue.Queue = queue.Queue()
        self.watch = watch.Watch()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(func, args, kwargs), daemon=True)
        self.thread.start()

    def _run(self, func, args, kwargs):
        try:
            for event in self.watch.stream(func, *args, **kwargs):
                self.events.put(event)
        except Exception as e:  # surfaced by the test through .error
            self.error = e
        finally:
            self.events.put(None)

    def take(self, n, timeout_s=5.0):
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n:
            event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            assert event is not None, f"watch ended early after {out}: {self.error}"
            out.append(event)
        return out

    def stop(self):
        self.watch.stop()
        self.thread.join(5)


# ----------------------------------------------------------------- basic CRUD


def test_create_answers_201_and_fills_server_metadata(v1):
    pod, status, _ = v1.create_namespaced_pod_with_http_info(NS, _pod("p1", {"app": "x"}))
    assert status == 201
    meta = pod.metadata
    assert meta.uid and meta.namespace == NS and meta.generation == 1
    assert meta.creation_timestamp is not None
    assert pod.status.phase == "Pending"
    second = v1.create_namespaced_pod(NS, _pod("p2"))
    assert int(second.metadata.resource_version) > int(meta.resource_version)
    named = v1.create_namespaced_pod(NS, {**_pod(""), "metadata": {"generateName": "worker-"}})
    assert named.metadata.name.startswith("worker-") and len(named.metadata.name) == len("worker-") + 5


def test_conflict_and_missing_raise_api_exception_with_status_body(v1, custom):
    v1.create_namespaced_pod(NS, _pod("p1"))
    with pytest.raises(ApiException) as exists:
        v1.create_namespaced_pod(NS, _pod("p1"))
    assert exists.value.status == 409
    body = json.loads(exists.value.body)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "AlreadyExists", 409)
    assert body["message"] == 'pods "p1" already exists'

    with pytest.raises(ApiException) as missing:
        v1.read_namespaced_pod("nope", NS)
    assert missing.value.status == 404 and json.loads(missing.value.body)["reason"] == "NotFound"
    with pytest.raises(ApiException) as missing_cr:
        custom.get_namespaced_custom_object(*KSERVE, NS, "inferenceservices", "nope")
    assert json.loads(missing_cr.value.body)["message"] == 'inferenceservices.serving.kserve.io "nope" not found'
    with pytest.raises(ApiException) as no_ns:
        v1.create_namespaced_pod("no-such-ns", _pod("p1"))
    assert no_ns.value.status == 404
    with pytest.raises(ApiException) as bad_name:
        v1.create_namespaced_pod(NS, _pod("Not_Valid"))
    assert bad_name.value.status == 422


def test_delete_answers_200_with_object_or_status(v1):
    v1.create_namespaced_pod(NS, _pod("p1"))
    v1.create_namespaced_secret(NS, {"metadata": {"name": "creds"}, "stringData": {"key": "value"}})
    assert v1.read_namespaced_secret("creds", NS).data == {"key": "dmFsdWU="}
    pod, status, _ = v1.delete_namespaced_pod_with_http_info("p1", NS)
    assert status == 200 and pod.metadata.name == "p1"
    gone = v1.delete_namespaced_secret("creds", NS)
    assert gone["status"] == "Success"
    with pytest.raises(ApiException) as again:
        v1.delete_namespaced_pod("p1", NS)
    assert again.value.status == 404


def test_update_needs_current_resource_version_and_noop_keeps_it(v1, custom):
    pod = v1.create_namespaced_pod(NS, _pod("p1"))
    pod.metadata.labels = {"v": "2"}
    updated = v1.replace_namespaced_pod("p1", NS, pod)
    assert updated.metadata.labels == {"v": "2"}
    with pytest.raises(ApiException) as stale:
        v1.replace_namespaced_pod("p1", NS, pod)  # still carries the old resourceVersion
    assert stale.value.status == 409 and json.loads(stale.value.body)["reason"] == "Conflict"
    same = v1.patch_namespaced_pod("p1", NS, {"metadata": {"labels": {"v": "2"}}})
    assert same.metadata.resource_version == updated.metadata.resource_version

    custom.create_namespaced_custom_object(*KSERVE, NS, "inferenceservices", _isvc("m"))
    body = _isvc("m")  # no resourceVersion: custom resources refuse unconditional updates
    with pytest.raises(ApiException) as unconditional:
        custom.replace_namespaced_custom_object(*KSERVE, NS, "inferenceservices", "m", body)
    assert unconditional.value.status == 422


# ----------------------------------------------------------------- selectors


def test_label_and_field_selectors_filter_lists(v1):
    v1.create_namespaced_pod(NS, _pod("a", {"app": "x", "tier": "web"}))
    v1.create_namespaced_pod(NS, _pod("b", {"app": "y"}))
    v1.create_namespaced_pod(NS, _pod("c", {}))

    def names(**kw):
        return sorted(p.metadata.name for p in v1.list_namespaced_pod(NS, **kw).items)

    assert names(label_selector="app=x") == ["a"]
    assert names(label_selector="app") == ["a", "b"]
    assert names(label_selector="!app") == ["c"]
    assert names(label_selector="app!=x") == ["b", "c"]
    assert names(label_selector="app in (x,y)") == ["a", "b"]
    assert names(label_selector="app notin (x),tier") == []
    assert names(label_selector="app=x,tier=web") == ["a"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="status.phase=Pending,metadata.name!=a") == ["b", "c"]
    assert [n.metadata.name for n in v1.list_namespace(label_selector="team=a").items] == [NS]
    with pytest.raises(ApiException) as bad:
        v1.list_namespaced_pod(NS, label_selector="app in (x")
    assert bad.value.status == 400


def test_list_pages_with_limit_and_continue(v1):
    for name in ("a", "b", "c"):
        v1.create_namespaced_pod(NS, _pod(name))
    first = v1.list_namespaced_pod(NS, limit=2)
    assert [p.metadata.name for p in first.items] == ["a", "b"]
    rest = v1.list_namespaced_pod(NS, limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"] and not rest.metadata._continue


# ------------------------------------------------------------------- patches


def test_patch_content_types(v1):
    v1.create_namespaced_pod(NS, _pod("p1", {"a": "1", "b": "2"}))
    merged = v1.patch_namespaced_pod("p1", NS, {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert merged.metadata.labels == {"b": "2", "c": "3"}
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}},
           {"op": "replace", "path": "/metadata/labels/b", "value": "20"},
           {"op": "remove", "path": "/metadata/labels/c"}]
    patched = v1.patch_namespaced_pod("p1", NS, ops)
    assert patched.metadata.labels == {"b": "20"} and patched.metadata.annotations == {"k": "v"}
    explicit = v1.patch_namespaced_pod("p1", NS, {"metadata": {"labels": {"d": "4"}}},
                                       _content_type="application/merge-patch+json")
    assert explicit.metadata.labels == {"b": "20", "d": "4"}
    with pytest.raises(ApiException) as failed:
        v1.patch_namespaced_pod("p1", NS, [{"op": "test", "path": "/metadata/name", "value": "other"}])
    assert failed.value.status == 422


# ------------------------------------------------------------ status subresource


def test_custom_object_status_subresource(custom, kube):
    created = custom.create_namespaced_custom_object(
        *KSERVE, NS, "inferenceservices", {**_isvc("m"), "status": {"ignored": True}})
    assert "status" not in created and created["metadata"]["generation"] == 1
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "url": "http://m.team-a.example.com"}
    after = custom.patch_namespaced_custom_object_status(*KSERVE, NS, "inferenceservices", "m",
                                                         {"status": ready, "spec": {"changed": True}})
    assert after["status"] == ready and after["spec"] == created["spec"]
    assert after["metadata"]["generation"] == 1  # status writes never bump generation
    fetched = custom.get_namespaced_custom_object_status(*KSERVE, NS, "inferenceservices", "m")
    assert fetched["status"]["url"] == "http://m.team-a.example.com"

    spec_change = custom.patch_namespaced_custom_object(
        *KSERVE, NS, "inferenceservices", "m",
        {"spec": {"predictor": {"minReplicas": 2}}, "status": {"url": "overwritten?"}})
    assert spec_change["metadata"]["generation"] == 2
    assert spec_change["status"] == ready  # the main resource cannot write status
    replaced = custom.replace_namespaced_custom_object_status(
        *KSERVE, NS, "inferenceservices", "m", {**spec_change, "status": {"url": "x"}})
    assert replaced["status"] == {"url": "x"}
    assert kube.store.get(ISVC, "m", NS)["status"] == {"url": "x"}


def test_pod_status_get_put_patch(v1):
    v1.create_namespaced_pod(NS, _pod("p1"))
    patched = v1.patch_namespaced_pod_status("p1", NS, {"status": {"phase": "Running", "podIP": "10.0.0.5"}})
    assert patched.status.phase == "Running" and patched.status.pod_ip == "10.0.0.5"
    current = v1.read_namespaced_pod_status("p1", NS)
    current.status.phase = "Succeeded"
    assert v1.replace_namespaced_pod_status("p1", NS, current).status.phase == "Succeeded"
    assert v1.list_namespaced_pod(NS, field_selector="status.phase=Succeeded").items


# ---------------------------------------------------------------------- logs


def test_pod_logs_per_container(v1, kube):
    v1.create_namespaced_pod(NS, _pod("p1", containers=("kserve-container", "queue-proxy"),
                                      init=("storage-initializer",)))
    kube.store.append_log(NS, "p1", "storage-initializer", "downloading gs://bucket/model\ncopied 2 files\n")
    kube.store.append_log(NS, "p1", "kserve-container", "line 1\nline 2\nline 3\n")
    assert v1.read_namespaced_pod_log("p1", NS, container="storage-initializer") == \
        "downloading gs://bucket/model\ncopied 2 files\n"
    assert v1.read_namespaced_pod_log("p1", NS, container="kserve-container", tail_lines=2) == "line 2\nline 3\n"
    stamped = v1.read_namespaced_pod_log("p1", NS, container="kserve-container", timestamps=True, tail_lines=1)
    assert stamped.endswith("Z line 3\n")
    assert v1.read_namespaced_pod_log("p1", NS, container="queue-proxy") == ""

    kube.store.rotate_container_log(NS, "p1", "kserve-container")
    kube.store.append_log(NS, "p1", "kserve-container", "restarted\n")
    assert v1.read_namespaced_pod_log("p1", NS, container="kserve-container", previous=True) == \
        "line 1\nline 2\nline 3\n"
    assert v1.read_namespaced_pod_log("p1", NS, container="kserve-container") == "restarted\n"

    with pytest.raises(ApiException) as which:
        v1.read_namespaced_pod_log("p1", NS)
    assert which.value.status == 400 and "choose one of: [kserve-container queue-proxy]" in which.value.body
    with pytest.raises(ApiException) as unknown:
        v1.read_namespaced_pod_log("p1", NS, container="nope")
    assert unknown.value.status == 400
    kube.store.patch_status("pods", "p1", {"containerStatuses": [
        {"name": "queue-proxy", "state": {"waiting": {"reason": "PodInitializing"}}}]}, NS)
    with pytest.raises(ApiException) as waiting:
        v1.read_namespaced_pod_log("p1", NS, container="queue-proxy")
    assert "is waiting to start: PodInitializing" in waiting.value.body


def test_pod_log_follow_streams_new_lines_until_container_terminates(v1, kube):
    v1.create_namespaced_pod(NS, _pod("p1"))
    kube.store.append_log(NS, "p1", "main", "first\n")
    follower = _WatchThread(v1.read_namespaced_pod_log, "p1", NS, container="main", follow=True)
    assert follower.take(1) == ["first"]
    kube.store.append_log(NS, "p1", "main", "second\nthird\n")
    assert follower.take(2) == ["second", "third"]
    kube.store.patch_status("pods", "p1", {"containerStatuses": [
        {"name": "main", "state": {"terminated": {"exitCode": 0}}}]}, NS)
    assert follower.events.get(timeout=5) is None  # the stream ended
    follower.thread.join(5)


# -------------------------------------------------------------------- events


def test_events_create_list_and_field_selector(v1, kube):
    pod = kube.store.create("pods", _pod("p1"), NS)
    kube.store.emit_event(pod, "Pulled", "image pulled")
    kube.store.emit_event(pod, "Pulled", "image pulled")  # repeats aggregate into count
    v1.create_namespaced_event(NS, {"metadata": {"name": "other.1"}, "reason": "Scheduled", "message": "m",
                                    "involvedObject": {"kind": "Pod", "name": "p2", "namespace": NS}})
    mine = v1.list_namespaced_event(NS, field_selector="involvedObject.name=p1").items
    assert [(e.reason, e.count, e.involved_object.uid) for e in mine] == [("Pulled", 2, pod["metadata"]["uid"])]
    assert len(v1.list_namespaced_event(NS).items) == 2


# --------------------------------------------------------------------- watch


def test_watch_pods_in_order_including_python_side_changes(v1, kube):
    v1.create_namespaced_pod(NS, _pod("existing", {"app": "x"}))
    watcher = _WatchThread(v1.list_namespaced_pod, NS, label_selector="app=x", timeout_seconds=10)
    try:
        first = watcher.take(1)[0]  # the synthetic ADDED proves the watch is registered
        assert (first["type"], first["object"].metadata.name) == ("ADDED", "existing")
        v1.create_namespaced_pod(NS, _pod("new", {"app": "x"}))
        v1.create_namespaced_pod(NS, _pod("ignored", {"app": "y"}))
        kube.store.patch_status("pods", "new", {"phase": "Running"}, NS)
        kube.store.patch("pods", "existing", {"metadata": {"labels": {"app": "gone"}}}, NS)
        v1.delete_namespaced_pod("new", NS)
        events = watcher.take(4)
        seen = [(e["type"], e["object"].metadata.name) for e in events]
        # "existing" left the selector, so this watcher sees it as DELETED, as on a real cluster.
        assert seen == [("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "existing"), ("DELETED", "new")]
        assert events[1]["object"].status.phase == "Running"
        rvs = [int(e["object"].metadata.resource_version) for e in [first, *events]]
        assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    finally:
        watcher.stop()


def test_watch_resumes_from_resource_version_and_ends_at_timeout(v1):
    listed = v1.list_namespaced_pod(NS)
    v1.create_namespaced_pod(NS, _pod("p1"))
    v1.patch_namespaced_pod("p1", NS, {"metadata": {"labels": {"x": "1"}}})
    started = time.monotonic()
    events = list(watch.Watch().stream(v1.list_namespaced_pod, NS, timeout_seconds=1,
                                       resource_version=listed.metadata.resource_version))
    elapsed = time.monotonic() - started
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "p1"), ("MODIFIED", "p1")]
    assert 0.9 <= elapsed < 4


def test_watch_too_old_resource_version_is_410(tmp_path):
    with FakeKubeApiServer(FakeKubeStore(history=2)) as kube:
        store = kube.store
        store.create("namespaces", {"metadata": {"name": NS}})
        for i in range(4):
            store.create("pods", _pod(f"p{i}"), NS)
        with config.new_client_from_config(config_file=str(kube.write_kubeconfig(tmp_path / "kc"))) as c:
            with pytest.raises(ApiException) as expired:
                list(watch.Watch().stream(client.CoreV1Api(c).list_namespaced_pod, NS,
                                          resource_version="1", timeout_seconds=1))
    assert expired.value.status == 410


def test_watch_custom_objects(custom, kube):
    # From the list's resourceVersion, as informers do: a watch without one may start after the
    # create and the patch below and then rightly sends one ADDED of the current state.
    listed = custom.list_namespaced_custom_object(*KSERVE, NS, "inferenceservices")
    watcher = _WatchThread(custom.list_namespaced_custom_object, *KSERVE, NS, "inferenceservices",
                           timeout_seconds=10, resource_version=listed["metadata"]["resourceVersion"])
    try:
        custom.create_namespaced_custom_object(*KSERVE, NS, "inferenceservices", _isvc("m"))
        kube.store.patch_status(ISVC, "m", {"conditions": [{"type": "Ready", "status": "True"}]}, NS)
        events = watcher.take(2)
        assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
        assert events[1]["object"]["status"]["conditions"][0]["type"] == "Ready"
        assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(
            events[0]["object"]["metadata"]["resourceVersion"])
    finally:
        watcher.stop()


# ------------------------------------------------------- namespaces and GC


def test_namespace_delete_cascades_and_waits_for_finalizers(v1, custom, kube):
    v1.create_namespaced_pod(NS, _pod("p1"))
    v1.create_namespaced_secret(NS, {"metadata": {"name": "creds"}})
    custom.create_namespaced_custom_object(
        *KSERVE, NS, "inferenceservices", {**_isvc("m"), "metadata": {"name": "m", "finalizers": ["kserve/x"]}})

    terminating = v1.delete_namespace(NS)
    assert terminating["status"]["phase"] == "Terminating"
    assert v1.list_namespaced_pod(NS).items == [] and v1.list_namespaced_secret(NS).items == []
    held = custom.get_namespaced_custom_object(*KSERVE, NS, "inferenceservices", "m")
    assert held["metadata"]["deletionTimestamp"]  # the finalizer holds it (and the namespace)
    assert v1.read_namespace(NS).status.phase == "Terminating"
    with pytest.raises(ApiException) as refused:
        v1.create_namespaced_pod(NS, _pod("late"))
    assert refused.value.status == 403

    kube.store.patch(ISVC, "m", {"metadata": {"finalizers": None}}, NS)  # the controller lets go
    with pytest.raises(ApiException) as gone:
        v1.read_namespace(NS)
    assert gone.value.status == 404
    with pytest.raises(ApiException) as system:
        v1.delete_namespace("default")
    assert system.value.status == 403


def test_owner_references_are_garbage_collected(v1, custom):
    isvc = custom.create_namespaced_custom_object(*KSERVE, NS, "inferenceservices", _isvc("m"))
    owner = {"apiVersion": isvc["apiVersion"], "kind": isvc["kind"], "name": "m",
             "uid": isvc["metadata"]["uid"], "controller": True}
    v1.create_namespaced_pod(NS, {**_pod("m-predictor"), "metadata": {"name": "m-predictor",
                                                                      "ownerReferences": [owner]}})
    v1.create_namespaced_pod(NS, _pod("unrelated"))
    custom.delete_namespaced_custom_object(*KSERVE, NS, "inferenceservices", "m")
    assert [p.metadata.name for p in v1.list_namespaced_pod(NS).items] == ["unrelated"]


# -------------------------------------------------------------- port-forward


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - stdlib hook name
        body = json.dumps({"path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_port_forward_carries_an_http_request(v1, kube, backend):
    v1.create_namespaced_pod(NS, _pod("predictor"))
    kube.set_port_forward(NS, "predictor", 8080, backend)
    for _ in range(2):  # one port-forward per connection, as clients use it
        pf = portforward(v1.connect_get_namespaced_pod_portforward, "predictor", NS, ports="8080")
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
        conn.sock = pf.socket(8080)
        conn.request("GET", "/v1/models/m", headers={"Host": "m.team-a.example.com"})
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"path": "/v1/models/m", "host": "m.team-a.example.com"}
        conn.close()
        pf.close()
        assert pf.error(8080) is None


def test_port_forward_to_unregistered_port_reports_on_error_channel(v1):
    v1.create_namespaced_pod(NS, _pod("predictor"))
    pf = portforward(v1.connect_get_namespaced_pod_portforward, "predictor", NS, ports="9090")
    sock = pf.socket(9090)
    sock.settimeout(5)
    assert sock.recv(10) == b""  # the client closes the local socket on an error frame
    assert "error forwarding port 9090" in eventually(lambda: pf.error(9090))
    with pytest.raises(ApiException):
        portforward(v1.connect_get_namespaced_pod_portforward, "missing", NS, ports="8080")


# ----------------------------------------------------------- Python-side API


def test_python_listener_sees_http_changes_in_order(v1, kube):
    seen = []
    listener = kube.store.add_listener(lambda e: seen.append((e.type, e.name)), "pods", NS)
    try:
        v1.create_namespaced_pod(NS, _pod("p1"))
        v1.patch_namespaced_pod("p1", NS, {"metadata": {"labels": {"a": "b"}}})
        v1.delete_namespaced_pod("p1", NS)
        eventually(lambda: len(seen) == 3)
        assert seen == [("ADDED", "p1"), ("MODIFIED", "p1"), ("DELETED", "p1")]
    finally:
        listener.close()
    with kube.store.subscribe(ISVC, send_initial=True) as sub:
        kube.store.create(ISVC, _isvc("m"), NS)
        event = sub.get(timeout=5)
        assert (event.type, event.plural, event.name) == ("ADDED", "inferenceservices", "m")
    with pytest.raises(FakeKubeError) as missing:
        kube.store.get("pods", "nope", NS)
    assert missing.value.code == 404


def test_stop_ends_open_watches(tmp_path):
    kube = FakeKubeApiServer().start()
    try:
        with kube.api_client() as c:
            watcher = _WatchThread(client.CoreV1Api(c).list_namespace, timeout_seconds=30)
            watcher.take(1)
            started = time.monotonic()
            kube.stop()
            watcher.thread.join(5)
            assert not watcher.thread.is_alive() and time.monotonic() - started < 5
    finally:
        kube.stop()


def test_unknown_custom_resource_types_work_generically(custom):
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    created = custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets", body)
    assert created["kind"] == "Widget" and created["metadata"]["uid"]
    listed = custom.list_namespaced_custom_object("example.com", "v1", NS, "widgets")
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listed["items"]] == ["w"]


def test_discovery_and_version(api_client, kube):
    assert client.VersionApi(api_client).get_code().git_version.endswith("fake")
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert "serving.kserve.io" in groups
    resources = {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"pods", "pods/log", "pods/status", "namespaces", "events"} <= resources
    kserve = client.CustomObjectsApi(api_client).get_api_resources(*KSERVE)
    assert "inferenceservices/status" in {r.name for r in kserve.resources}
