"""Rendered InferenceServices: what each scenario variant produces, and the real CRD accepts it."""
from __future__ import annotations

import textwrap

import pytest
import yaml

from harness.errors import ConfigError
from harness.kube.manifest import crd_errors, render_inference_service, validate_against_crd
from harness.runtimes.registry import render_manifest_yaml, runtime_for
from harness.kube.naming import RUN_ID_LABEL, isvc_name, label_value, namespace_name
from harness.runtimes.torchserve.image import DEFAULT_IMAGE
from harness.spec import ScenarioSpec, load_scenario

from .conftest import REPO_ROOT, SHARED, scenario

URI = "gs://kserve-harness-test/run-1/mnist"

VARIANTS = {
    "v1": scenario("mnist-v1"),
    "v2": scenario("mnist-v2", protocol="v2"),
    "grpc-v2": scenario("mnist-grpc", protocol="grpc-v2"),
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
    assert model_of(obj) == {"modelFormat": {"name": "pytorch"}, "protocolVersion": "v1", "storageUri": URI,
                             "runtimeVersion": DEFAULT_IMAGE}


def test_v2_sets_protocol_version():
    assert model_of(render_inference_service(VARIANTS["v2"], URI, "r"))["protocolVersion"] == "v2"


def test_grpc_v2_exposes_the_fronts_grpc_port_as_kserve_documents_it():
    # KServe's TorchServe docs ("Deploy PyTorch Model with V2 GRPC Protocol"): the front's 8081, h2c.
    model = model_of(render_inference_service(VARIANTS["grpc-v2"], URI, "r"))
    assert model["protocolVersion"] == "grpc-v2"
    assert model["ports"] == [{"containerPort": 8081, "name": "h2c", "protocol": "TCP"}]
    assert "ports" not in model_of(render_inference_service(VARIANTS["v2"], URI, "r"))


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


def image_scenario(tmp_path, torchserve_yaml: str, kubernetes_yaml: str = "{}"):
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: mnist\nmodel: {{name: mnist, serialized_file: mnist_cnn.pt}}\n"
                    f"storage: {{uri: gs://bkt/models/mnist}}\ntorchserve: {torchserve_yaml}\n"
                    f"kubernetes: {kubernetes_yaml}\n")
    return load_scenario(path)


@pytest.mark.parametrize("torchserve, kubernetes, runtime_version", [
    ("{}", "{}", DEFAULT_IMAGE),
    ("{image: '0.9.0'}", "{}", "0.9.0"),
    ("{image: '0.12.0'}", "{gpus: 1}", "0.12.0-gpu"),  # KServe swaps the tag verbatim: the GPU image by name
    ("{image: '0.9.0'}", "{resources: {limits: {nvidia.com/gpu: 2}}}", "0.9.0-gpu"),
    ("{image: '0.12.0'}", "{runtime_version: '0.12.0'}", "0.12.0"),  # repeating it is fine
])
def test_torchserve_image_is_the_runtime_version(tmp_path, crd_path, torchserve, kubernetes, runtime_version):
    spec = image_scenario(tmp_path, torchserve, kubernetes)
    obj = render_inference_service(spec, URI, "r")
    assert model_of(obj)["runtimeVersion"] == runtime_version
    assert "image" not in model_of(obj)
    assert crd_errors(obj, crd_path) == []


def test_a_custom_image_is_rendered_without_a_runtime_version(tmp_path, crd_path):
    # KServe would retag kubernetes.image with runtimeVersion; the custom image stands for torchserve.image.
    spec = image_scenario(tmp_path, "{image: '0.9.0'}", "{image: 'registry.example/team/ts-kfs:7'}")
    m = model_of(render_inference_service(spec, URI, "r"))
    assert (m["image"], "runtimeVersion" in m) == ("registry.example/team/ts-kfs:7", False)
    assert spec.torchserve.runtime_image.torch == "2.1.0"


@pytest.mark.parametrize("torchserve, kubernetes, names", [
    ("{image: '0.12.0'}", "{runtime_version: '0.9.0'}", ["kubernetes.runtime_version", "torchserve.image"]),
    ("{}", "{runtime_version: '0.12.0', gpus: 1}", ["kubernetes.runtime_version", "'0.12.0-gpu'"]),
    ("{}", "{image: 'pytorch/torchserve-kfs:0.9.0'}", ["kubernetes.image", "torchserve.image"]),
    ("{image: '0.9.0'}", "{image: 'docker.io/pytorch/torchserve-kfs:0.12.0-gpu'}", ["kubernetes.image", "'0.9.0'"]),
    ("{}", "{image: 'x/y:1', runtime_version: '0.12.0'}", ["kubernetes.image", "kubernetes.runtime_version"]),
])
def test_runtime_image_fields_that_disagree_are_config_errors(tmp_path, torchserve, kubernetes, names):
    with pytest.raises(ConfigError) as info:
        image_scenario(tmp_path, torchserve, kubernetes)
    assert all(n in info.value.what for n in names), info.value.what
    assert "\n" not in info.value.one_line()


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
        storage: {uri: gs://bkt/models/mnist}
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
    assert crd_errors(runtime_for(spec).inference_service(spec, spec.storage.uri, "run-1"), crd_path) == []


# --- the ModelServer runtime's custom predictor (runtime: kserve) ------------------------------------


def kserve_scenario(name: str, *, protocol: str = "v1", **kubernetes) -> ScenarioSpec:
    """A valid runtime: kserve scenario (the built-in tensor model) with a `kubernetes` section."""
    return ScenarioSpec.model_validate({
        "name": name, "runtime": "kserve",
        "model": {"name": "mnist", "serialized_file": "mnist_cnn.pt", "handler": "tensor"},
        "storage": {"uri": "gs://kserve-harness-test/models/mnist"},
        "serving": {"protocol": protocol},
        "kubernetes": kubernetes,
    })


KSERVE_GPU = dict(gpus=1, node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
                  tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                  resources={"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
                  service_account="gcs-reader", args=["--enable_docs_url=true"], annotations={"team": "ml"})
KSERVE_VARIANTS = {
    "v1": kserve_scenario("mnist-ms-v1"),
    "v2": kserve_scenario("mnist-ms-v2", protocol="v2"),
    "grpc-v2": kserve_scenario("mnist-ms-grpc", protocol="grpc-v2"),
    "gpu": kserve_scenario("mnist-ms-gpu", **KSERVE_GPU),
    "gpu-grpc-v2": kserve_scenario("mnist-ms-gpu-grpc", protocol="grpc-v2", **KSERVE_GPU),
    "serverless": kserve_scenario("mnist-ms-serverless", deployment_mode="Serverless"),
}


def kserve_isvc(variant: str) -> dict:
    spec = KSERVE_VARIANTS[variant]
    return runtime_for(spec).inference_service(spec, URI, "20261125-1200-abcd")


@pytest.mark.parametrize("variant", sorted(KSERVE_VARIANTS))
def test_modelserver_custom_predictor_matches_the_real_crd(variant, crd_path):
    obj = kserve_isvc(variant)
    assert "model" not in obj["spec"]["predictor"]  # a custom predictor: containers, no runtime
    assert crd_errors(obj, crd_path) == []
    validate_against_crd(obj, crd_path)


@pytest.mark.parametrize("variant, ports", [("v1", None), ("v2", None),
                                            ("grpc-v2", [{"containerPort": 8081, "name": "h2c", "protocol": "TCP"}])])
def test_modelserver_container_is_the_command_kserve_runs(variant, ports):
    [container] = kserve_isvc(variant)["spec"]["predictor"]["containers"]
    assert (container["name"], container["image"]) == ("kserve-container", "kserve-harness/kserve-modelserver:0.21.0")
    assert container["command"] == ["python", "/mnt/models/kserve_harness_predictor.py"]
    assert "--model_dir=/mnt/models" in container["args"]
    assert container["env"] == [{"name": "STORAGE_URI", "value": URI}]  # KServe injects the storage-initializer
    assert container.get("ports") == ports  # REST is KServe's default 8080, not listed


def test_modelserver_gpu_variant_carries_resources_and_scheduling():
    obj = kserve_isvc("gpu")
    pred = obj["spec"]["predictor"]
    [container] = pred["containers"]
    assert container["image"] == "kserve-harness/kserve-modelserver:0.21.0-gpu"
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "8Gi"},
                                      "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}}
    assert container["args"][-1] == "--enable_docs_url=true"  # kubernetes.args after the harness's own
    assert pred["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pred["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert pred["serviceAccountName"] == "gcs-reader"
    assert obj["metadata"]["annotations"]["team"] == "ml"


KSERVE_BROKEN = {
    "misspelt container field": lambda c: c.update(commands=c.pop("command")),
    "env value not a string": lambda c: c["env"][0].update(value=3),
    "port not a number": lambda c: c.update(ports=[{"containerPort": "h2c"}]),
    "bad quantity": lambda c: c.update(resources={"limits": {"memory": "8 GB"}}),
    "container without a name": lambda c: c.pop("name"),
}


@pytest.mark.parametrize("case", sorted(KSERVE_BROKEN))
def test_the_crd_checks_the_custom_container_itself(case, crd_path):
    # predictor.containers is the full core/v1 Container schema: the validator is not vacuous there.
    obj = kserve_isvc("grpc-v2")
    KSERVE_BROKEN[case](obj["spec"]["predictor"]["containers"][0])
    assert crd_errors(obj, crd_path), f"{case}: the validator accepted a broken custom container"


@pytest.mark.parametrize("path", [p for p in SHIPPED if load_scenario(p).runtime == "kserve"], ids=lambda p: p.name)
def test_shipped_modelserver_scenarios_render_valid_custom_predictors(path, crd_path):
    spec = load_scenario(path)
    obj = yaml.safe_load(render_manifest_yaml(spec))  # what `harness render` prints
    assert obj["spec"]["predictor"]["containers"][0]["name"] == "kserve-container"
    assert crd_errors(obj, crd_path) == []
