"""Rendered InferenceServices: what each scenario variant produces, and the real CRD accepts it."""
from __future__ import annotations

import textwrap

import pytest
import yaml

from harness.errors import ConfigError
from harness.kube.manifest import crd_errors, render_inference_service, render_manifest_yaml, validate_against_crd
from harness.kube.naming import RUN_ID_LABEL, isvc_name, label_value, namespace_name
from harness.spec import load_scenario

from .conftest import REPO_ROOT, SHARED, scenario

URI = "gs://kserve-harness-test/run-1/mnist"

VARIANTS = {
    "v1": scenario("mnist-v1"),
    "v2": scenario("mnist-v2", protocol="v2"),
    "gpu": scenario("mnist-gpu", gpus=1, node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
                    tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    resources={"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}),
    "serverless": scenario("mnist-serverless", deployment_mode="Serverless"),
    "service-account": scenario("mnist-sa", service_account="gcs-reader"),
    "runtime": scenario("mnist-rt", runtime="kserve-torchserve", runtime_version="0.12.0",
                        args=["--disable-token-auth"], annotations={"team": "ml"}),
}


def model_of(obj: dict) -> dict:
    return obj["spec"]["predictor"]["model"]


def test_v1_manifest_has_what_kserve_needs():
    obj = render_inference_service(VARIANTS["v1"], URI, "run-1")
    assert obj["apiVersion"] == "serving.kserve.io/v1beta1" and obj["kind"] == "InferenceService"
    assert obj["metadata"]["name"] == "mnist-v1"
    assert obj["metadata"]["labels"][RUN_ID_LABEL] == "run-1"
    assert obj["spec"]["predictor"]["labels"][RUN_ID_LABEL] == "run-1"  # pods carry the run id too
    ann = obj["metadata"]["annotations"]
    assert ann["sidecar.istio.io/inject"] == "false"
    assert ann["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert model_of(obj) == {"modelFormat": {"name": "pytorch"}, "protocolVersion": "v1", "storageUri": URI}


def test_v2_sets_protocol_version():
    assert model_of(render_inference_service(VARIANTS["v2"], URI, "r"))["protocolVersion"] == "v2"


def test_gpu_scenario_asks_for_nvidia_gpu_and_lands_on_gpu_nodes():
    obj = render_inference_service(VARIANTS["gpu"], URI, "r")
    res = model_of(obj)["resources"]
    assert res["limits"] == {"memory": "8Gi", "nvidia.com/gpu": "1"}
    assert res["requests"] == {"cpu": "2", "memory": "8Gi"}
    pred = obj["spec"]["predictor"]
    assert pred["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert pred["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_explicit_gpu_limit_equals_shortcut():
    a = render_inference_service(scenario(gpus=2), URI, "r")
    b = render_inference_service(scenario(resources={"limits": {"nvidia.com/gpu": 2}}), URI, "r")
    assert model_of(a)["resources"] == model_of(b)["resources"] == {"limits": {"nvidia.com/gpu": "2"}}


def test_serverless_and_its_newer_name():
    obj = render_inference_service(VARIANTS["serverless"], URI, "r")
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert scenario(deployment_mode="Knative").kubernetes.deployment_mode == "Serverless"
    assert scenario(deployment_mode="Standard").kubernetes.deployment_mode == "RawDeployment"


def test_service_account_for_storage_credentials():
    obj = render_inference_service(VARIANTS["service-account"], URI, "r")
    assert obj["spec"]["predictor"]["serviceAccountName"] == "gcs-reader"


def test_runtime_args_and_user_annotations():
    obj = render_inference_service(VARIANTS["runtime"], URI, "r")
    m = model_of(obj)
    assert (m["runtime"], m["runtimeVersion"], m["args"]) == ("kserve-torchserve", "0.12.0", ["--disable-token-auth"])
    assert obj["metadata"]["annotations"]["team"] == "ml"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_matches_the_real_crd(variant, crd_path):
    obj = render_inference_service(VARIANTS[variant], URI, "20261125-1200-abcd")
    assert crd_errors(obj, crd_path) == []
    validate_against_crd(obj, crd_path)


def _broken(mutate):
    obj = render_inference_service(VARIANTS["gpu"], URI, "r")
    mutate(obj)
    return obj


BROKEN = {
    "misspelt field": lambda o: model_of(o).update(storageURI=model_of(o).pop("storageUri")),
    "bad quantity": lambda o: model_of(o)["resources"]["limits"].update(memory="8 GB"),
    "wrong type": lambda o: model_of(o).update(protocolVersion=2),
    "tolerations not a list": lambda o: o["spec"]["predictor"].update(tolerations={"key": "x"}),
    "no predictor": lambda o: o["spec"].pop("predictor"),
    "upper-case name": lambda o: o["metadata"].update(name="MNIST"),
    "label value too long": lambda o: o["metadata"]["labels"].update(x="a" * 64),
    "wrong kind": lambda o: o.update(kind="InferenceServices"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_wrong_manifests_fail_validation(case, crd_path):
    obj = _broken(BROKEN[case])
    assert crd_errors(obj, crd_path), f"{case}: the validator accepted a broken manifest"
    with pytest.raises(ConfigError) as info:
        validate_against_crd(obj, crd_path)
    assert "does not match the CRD schema" in info.value.what


def test_misspelt_field_is_named(crd_path):
    errors = crd_errors(_broken(BROKEN["misspelt field"]), crd_path)
    assert any("storageURI" in e and e.startswith("spec.predictor.model") for e in errors), errors


def test_pruning_mode_accepts_unknown_fields(crd_path):
    # What the API server does without strict field validation: unknown fields are dropped, not errors.
    assert crd_errors(_broken(BROKEN["misspelt field"]), crd_path, strict=False) == []


@pytest.mark.parametrize("rel", ["kserve-torchserve-v1/torchserve.yaml", "kserve-torchserve-v1/gpu.yaml",
                                 "kserve-torchserve-v2/mnist.yaml", "kserve-torchserve-v2/mnist_gpu.yaml"])
def test_upstream_samples_pass_the_same_validator(rel, crd_path):
    # No false positives: KServe's own TorchServe samples are valid InferenceServices.
    obj = yaml.safe_load((SHARED / "corpus" / rel).read_text())
    assert crd_errors(obj, crd_path) == []


def test_render_yaml_is_the_manifest_with_the_scenario_storage_uri():
    spec = VARIANTS["v2"]
    text = render_manifest_yaml(spec)
    obj = yaml.safe_load(text)
    assert obj == render_inference_service(spec, spec.storage.uri, None)
    assert RUN_ID_LABEL not in obj["metadata"]["labels"]
    assert model_of(obj)["storageUri"] == "gs://kserve-harness-test/models/mnist"
    assert text.startswith("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n")


@pytest.mark.parametrize("name, expected", [
    ("mnist", "mnist"), ("MNIST_v1.cpu", "mnist-v1-cpu"), ("3dnet", "m-3dnet"), ("__x__", "x"),
])
def test_isvc_names_are_dns_1035(name, expected):
    assert isvc_name(name) == expected


def test_long_names_stay_distinct_and_short():
    a, b = isvc_name("a" * 80 + "-one"), isvc_name("a" * 80 + "-two")
    assert a != b and len(a) <= 45 and len(b) <= 45
    ns = namespace_name("20261125-120000-" + "f" * 40, "x" * 60)
    assert len(ns) <= 63 and ns.startswith("kh-")
    assert len(label_value("r" * 100)) <= 63


def write_scenario(tmp_path, kubernetes_yaml: str):
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent("""\
        name: mnist
        model: {name: mnist, serialized_file: mnist_cnn.pt}
        storage: {uri: gs://b/models/mnist}
        kubernetes:
        """) + textwrap.indent(textwrap.dedent(kubernetes_yaml), "  "))
    return path


def test_scenario_file_kubernetes_section_round_trip(tmp_path):
    spec = load_scenario(write_scenario(tmp_path, """\
        deployment_mode: Serverless
        service_account: gcs-reader
        gpus: 1
        resources:
          requests: {cpu: 1, memory: 4Gi}
          limits: {memory: 4Gi}
        tolerations:
          - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
        ingress: ingress
        ingress_url: http://127.0.0.1:8081
        ready_timeout_s: 300
        """))
    k = spec.kubernetes
    assert (k.deployment_mode, k.service_account, k.gpu_count, k.ingress_url) == (
        "Serverless", "gcs-reader", 1, "http://127.0.0.1:8081")
    assert k.resources.requests.cpu == "1"  # YAML's int becomes a quantity string


@pytest.mark.parametrize("bad, words", [
    ("servce_account: x\n", "unknown key"),
    ("resources: {limits: {memory: 4 GB}}\n", "not a Kubernetes quantity"),
    ("resources: {limits: {nvidia.com/gpus: 1}}\n", "unknown key"),
    ("gpus: 2\nresources: {limits: {nvidia.com/gpu: 1}}\n", "disagree"),
    ("deployment_mode: Raw\n", "deployment_mode"),
    ("ingress: nodeport\n", "ingress"),
    ("ingress_url: 127.0.0.1:8081\n", "scheme://host"),
    ("tolerations: [{operator: Equal, value: x}]\n", "needs operator: Exists"),
])
def test_scenario_kubernetes_section_is_strict(tmp_path, bad, words):
    with pytest.raises(ConfigError) as info:
        load_scenario(write_scenario(tmp_path, bad))
    assert words in info.value.what


SHIPPED = sorted((REPO_ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenarios_render_valid_inference_services(path, crd_path):
    spec = load_scenario(path)
    assert crd_errors(render_inference_service(spec, spec.storage.uri, "run-1"), crd_path) == []
