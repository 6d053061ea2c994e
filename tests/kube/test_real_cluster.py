"""Real-cluster tests: run with --target kind|gke|kubeconfig; they skip, saying why, without one.

    pytest tests/kube/test_real_cluster.py --target kind [--harness-keep-cluster]
    pytest tests/kube/test_real_cluster.py --target gke --harness-kube-context gke_PROJECT_ZONE_kserve-harness
    pytest tests/kube/test_real_cluster.py --target kubeconfig --harness-kubeconfig PATH [--harness-kube-context NAME]

What they prove that CI cannot: KServe really turns our manifest into a predictor, the
storage-initializer really downloads (kind: from the in-cluster GCS emulator; elsewhere: GCS),
a live kubelet/scheduler produce the states the readiness rules name, and the port-forward
reaches a real pod. Each test makes its own namespace (run id kh-test-...) and removes it.
"""
from __future__ import annotations

import json
import secrets
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from harness.errors import DeployError, EnvironmentProblem
from harness.kube.api import Kube
from harness.kube.cluster import KIND_GCS_EMULATOR_HOST, probe, reachable
from harness.kube.namespaces import create_run_namespace, delete_namespace, keep_namespace, sweep_orphans
from harness.kube.naming import KEPT_LABEL, RUN_ID_LABEL
from harness.targets.registry import CLUSTER_TARGETS

from .conftest import SHARED, scenario

pytestmark = pytest.mark.cluster

# KServe's public TorchServe MNIST sample (model "mnist"; config.properties + model-store/mnist.mar).
PUBLIC_MNIST = "gs://kfserving-examples/models/torchserve/image_classifier/v1"
# A first pull of the storage-initializer and TorchServe images can take minutes.
FAILURE_DEADLINE_S = 600
READY_DEADLINE_S = 1200


def _option(config: pytest.Config, name: str):
    try:
        return config.getoption(name)
    except ValueError:  # the harness plugin is not loaded: no cluster options at all
        return None


@pytest.fixture(scope="module")
def cluster(request):
    """The KubernetesTarget for --target, or a skip that says what is missing."""
    target = _option(request.config, "--target") or "local"
    if target not in CLUSTER_TARGETS:
        pytest.skip(f"real-cluster test: run with --target kind|gke|kubeconfig (this run: --target {target})")
    # --harness-*: a bare --kubeconfig/--keep-cluster would be pytest-kind's, if it is installed
    kubeconfig = _option(request.config, "--harness-kubeconfig")
    context = _option(request.config, "--harness-kube-context")
    if target == "kind":
        if not shutil.which("kind"):
            pytest.skip("--target kind needs the kind CLI on PATH (https://kind.sigs.k8s.io), and Docker")
        if not (shutil.which("docker") or shutil.which("podman")):
            pytest.skip("--target kind needs Docker or Podman; neither is on PATH")
    else:
        ok, why = reachable(kubeconfig, context, timeout_s=5)
        if not ok:
            pytest.skip(f"no reachable cluster for --target {target}: {why}")
    from harness.targets.kubernetes import connect_cluster

    run_id = f"kh-test-{secrets.token_hex(3)}"
    try:
        keep_cluster = bool(_option(request.config, "--harness-keep-cluster"))
        made = connect_cluster(target, kubeconfig=kubeconfig, context=context, run_id=run_id, keep_on_fail=False,
                                keep_cluster=keep_cluster, sweep_older_than_s=None)
    except EnvironmentProblem as exc:
        pytest.skip(f"cluster not usable for --target {target}: {exc.one_line()}")
    yield made
    made.teardown()
    made.api_client.close()


def fresh(cluster):
    """A new target on the same cluster, with its own run id (so each test owns its namespace)."""
    from harness.targets.kubernetes import KubernetesTarget

    return KubernetesTarget(cluster.api_client, cluster.name, f"kh-test-{secrets.token_hex(3)}", poll_s=2.0)


def model_uri(cluster, tmp_path: Path) -> str:
    """Where the public MNIST sample is readable by this cluster's storage-initializer."""
    if cluster.storage_emulator_host is None:
        return PUBLIC_MNIST  # GKE and other clusters with internet: the public bucket itself
    # kind: the storage-initializer reads the in-cluster emulator; copy the sample into it.
    try:
        from google.cloud import storage

        from harness.storage import GcsStore

        public = storage.Client.create_anonymous_client().bucket("kfserving-examples")
        prefix = PUBLIC_MNIST.split("kfserving-examples/", 1)[1] + "/"
        layout = {b.name[len(prefix):]: b.download_as_bytes() for b in public.list_blobs(prefix=prefix)
                  if not b.name.endswith("/")}
    except Exception as exc:  # noqa: BLE001 - no internet on this machine: say so
        pytest.skip(f"cannot fetch the public MNIST sample {PUBLIC_MNIST} to seed the kind emulator: {exc}")
    uri = f"gs://kserve-harness-e2e/{secrets.token_hex(3)}/mnist"
    GcsStore.for_emulator(KIND_GCS_EMULATOR_HOST).upload(uri, layout)
    return uri


def deploy_failure(cluster, spec, uri: str) -> DeployError:
    target = fresh(cluster)
    started = time.monotonic()
    try:
        with pytest.raises(DeployError) as info:
            target.deploy(spec, uri)
    finally:
        target.teardown()
    err = info.value
    assert "not Ready within" not in err.what, f"the cause was not named before the deadline: {err.what}"
    assert time.monotonic() - started < FAILURE_DEADLINE_S
    return err


def test_api_server_answers(cluster):
    assert probe(cluster.api_client).startswith("v")


def test_namespace_labels_keep_and_sweep_on_the_cluster(cluster):
    kube = Kube(cluster.api_client)
    run_id = f"kh-test-{secrets.token_hex(3)}"
    a = create_run_namespace(kube, run_id, "sweep-a")
    b = create_run_namespace(kube, run_id, "sweep-b")
    try:
        assert kube.get_namespace(a)["metadata"]["labels"][RUN_ID_LABEL] == run_id
        keep_namespace(kube, b)
        assert kube.get_namespace(b)["metadata"]["labels"][KEPT_LABEL] == "true"
        # Only this test's run: never touch other runs on a shared cluster.
        assert sweep_orphans(kube, older_than_s=0, run_ids=[run_id]) == [a]
    finally:
        for ns in (a, b):
            delete_namespace(kube, ns)


def test_storage_initializer_failure_is_named_with_its_log(cluster):
    uri = f"gs://kserve-harness-missing-{secrets.token_hex(4)}/models/mnist"
    err = deploy_failure(cluster, scenario("missing-model"), uri)
    assert err.what.startswith("storage-initializer failed"), err.what
    assert "container storage-initializer" in err.where and "kubectl logs" in err.details


def test_unschedulable_gpu_request_is_named(cluster):
    err = deploy_failure(cluster, scenario("too-many-gpus", gpus=64), PUBLIC_MNIST)
    assert "unschedulable" in err.what and "nvidia.com/gpu" in err.what, err.what


def test_image_pull_failure_is_named(cluster, tmp_path):
    uri = model_uri(cluster, tmp_path)
    spec = scenario("bad-image", image="registry.invalid/kserve-harness/does-not-exist:0")
    err = deploy_failure(cluster, spec, uri)
    assert err.what.startswith("image pull failure for kserve-container"), err.what


def test_public_mnist_serves_through_the_port_forward(cluster, tmp_path):
    uri = model_uri(cluster, tmp_path)
    # The sample's config.properties predates token auth; KServe's own sample passes these args.
    spec = scenario("mnist-e2e", args=["--disable-token-auth", "--enable-model-api"])
    target = fresh(cluster)
    try:
        endpoint = target.deploy(spec, uri)
        body = (SHARED / "corpus" / "kserve-torchserve-v1" / "mnist.json").read_bytes()
        req = urllib.request.Request(endpoint.base_url + endpoint.predict_path, data=body, method="POST",
                                     headers=endpoint.headers)
        with urllib.request.urlopen(req, timeout=120) as resp:
            answer = json.loads(resp.read())
        assert answer["predictions"] in ([2], ["2"]), answer  # EXPECTED.md: the digit 2
        files = target.collect_diagnostics(tmp_path / "diagnostics")
        names = {p.name for p in files}
        assert {"storage-initializer.log", "kserve-container.log", "events.txt"} <= names
    finally:
        target.teardown()
