"""Every bad input ends as ONE line naming the field (and the file), exit 2, before anything runs.

A table: each row is a mistake a user can make in a scenario (or on the command line), the
scenario it is made in (a `scenario_copy` of a shipped one, or raw file content), and a substring
the one-line error must contain. Each row runs through `harness lint` in-process: nothing is
archived, uploaded or started, so every row is caught before a run would deploy anything.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import pytest

from harness.cli import main
from tests.helpers import FIXTURES

MODEL = FIXTURES / "digits" / "model.pt"
REQUEST_V1 = FIXTURES / "digits" / "request_v1.json"
EXPECT_V1 = FIXTURES / "digits" / "expected_v1.json"

Change = Union[dict, Callable[[Path], dict], None]
Raw = Union[str, bytes, Callable[[Path], Union[str, bytes]], None]

MINIMAL = f"name: x\nmodel: {{name: digits, serialized_file: {MODEL}}}\nstorage: {{uri: gs://harness-e2e/x}}\n"


@dataclass
class Bad:
    id: str
    expect: str  # substring of the one error line: names the field (or the file-level problem)
    change: Change = None  # deep-merged into a copy of `base` (a callable gets tmp_path)
    base: str = "digits.yaml"
    drop: tuple[str, ...] = ()
    raw: Raw = None  # the scenario file's whole content instead of a copy of `base`
    argv: list[str] = field(default_factory=lambda: ["lint", "{scenario}"])
    names_file: bool = True  # the line names the scenario file (or the offending file beside it)


# -- small builders for rows that need files --------------------------------------------------
def _write(t: Path, name: str, content: str | bytes) -> str:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return str(p)


def _dir(t: Path, name: str = "a-folder") -> str:
    (t / name).mkdir(exist_ok=True)
    return str(t / name)


def _check(**kw) -> list[dict]:
    return [{"name": "c", "request": str(REQUEST_V1), "expect": str(EXPECT_V1), **kw}]


def _props(**kw) -> dict:
    return {"torchserve": {"properties": kw}}


def _load(**kw) -> dict:
    return {"load": kw}


def _big_request(t: Path) -> str:
    return _write(t, "big.json", json.dumps({"instances": [[0.5] * 64] * 21000}))  # 6.8 MB > 6553500


def _billion_laughs(t: Path) -> str:
    """Eight levels of ten aliases over five strings: 5 * 10^8 values once expanded, from a dozen lines."""
    lines = [MINIMAL.rstrip("\n"), "torchserve:", "  properties:", '    a0: &a0 ["lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"    a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]")
    return "\n".join(lines) + "\n"


ROWS: list[Bad] = [
    # --- the file itself ---------------------------------------------------------------------
    Bad("empty-file", "the file is empty", raw=""),
    Bad("only-comments", "the file is empty", raw="# nothing here\n"),
    Bad("top-level-list", "must be a YAML mapping", raw="- name: x\n"),
    Bad("top-level-scalar", "must be a YAML mapping", raw="digits\n"),
    Bad("binary-file", "not UTF-8", raw=bytes(range(256)) * 4),
    Bad("nul-bytes", "not valid YAML", raw=b"name: x\x00\x00\n"),
    Bad("latin-1", "not UTF-8", raw="name: caf\xe9\n".encode("latin-1")),
    Bad("utf-16", "not UTF-8", raw="name: x\n".encode("utf-16")),
    Bad("unclosed-bracket", "not valid YAML", raw="name: x\nmodel: [unclosed\n"),
    Bad("tab-indent", "not valid YAML", raw="name: x\nmodel:\n\tname: digits\n"),
    Bad("undefined-alias", "not valid YAML", raw=MINIMAL + "description: *nope\n"),
    Bad("python-tag", "not valid YAML", raw=MINIMAL + "description: !!python/object:os.system x\n"),
    Bad("two-documents", "not valid YAML", raw=MINIMAL + "---\n" + MINIMAL),
    Bad("duplicate-top-level-key", "duplicate key 'name'", raw=MINIMAL + "name: y\n"),
    Bad("duplicate-nested-key", "duplicate key 'batch_size'",
        raw=MINIMAL + "torchserve:\n  batch_size: 1\n  min_workers: 1\n  batch_size: 4\n"),
    Bad("duplicate-key-in-a-list-item", "duplicate key 'request'",
        raw=MINIMAL + f"checks:\n  - name: c\n    request: {REQUEST_V1}\n    request: {EXPECT_V1}\n"),
    Bad("duplicate-key-names-its-line", ":5", raw=MINIMAL + "description: a\ndescription: b\n"),
    Bad("file-too-large", "too large", raw=lambda t: MINIMAL + "# " + "x" * (2 << 20) + "\n"),
    Bad("billion-laughs", "aliases", raw=_billion_laughs),
    Bad("scenario-is-a-directory", "is a directory", argv=["lint", "{tmp}"], raw=MINIMAL),
    Bad("scenario-missing", "scenario file not found", argv=["lint", "{tmp}/nope.yaml"], raw=MINIMAL),
    Bad("unknown-top-level-key", "servng: unknown key", {"servng": {}}),
    Bad("source-key-is-not-a-field", "source: unknown key", {"source": "/etc/passwd"}),
    Bad("name-missing", "name: Field required", drop=("name",)),
    Bad("name-with-space", "name: Value error, scenario name", {"name": "my scenario"}),
    Bad("name-empty", "name: Value error, scenario name", {"name": ""}),
    Bad("name-a-list", "name: Input should be a valid string", {"name": ["digits"]}),
    Bad("description-a-mapping", "description: Input should be a valid string", {"description": {"a": 1}}),
    Bad("model-missing", "model: Field required", drop=("model",)),
    Bad("storage-missing", "storage: Field required", drop=("storage",)),
    # --- model -------------------------------------------------------------------------------
    Bad("model-a-string", "model: Input should be a valid dictionary", {"model": "digits"}),
    Bad("model-name-missing", "model.name: Field required", drop=("model.name",)),
    Bad("model-name-slash", "model.name: Value error", {"model": {"name": "a/b"}}),
    Bad("model-name-empty", "model.name: Value error", {"model": {"name": ""}}),
    Bad("model-name-leading-dash", "model.name: Value error", {"model": {"name": "-digits"}}),
    Bad("model-name-newline", "model.name: Value error", {"model": {"name": "digits\nx"}}),
    Bad("model-version-float", "model.version: Input should be a valid string", {"model": {"version": 1.0}}),
    Bad("model-version-empty", "model.version", {"model": {"version": ""}}),
    Bad("model-version-slash", "model.version", {"model": {"version": "1.0/x"}}),
    Bad("serialized-file-missing-key", "model.serialized_file: Field required", drop=("model.serialized_file",)),
    Bad("serialized-file-absent", "model.serialized_file does not exist",
        lambda t: {"model": {"serialized_file": str(t / "nope.pt")}}),
    Bad("serialized-file-a-directory", "model.serialized_file is a directory",
        lambda t: {"model": {"serialized_file": _dir(t)}}),
    Bad("serialized-file-empty-path", "model.serialized_file: Value error, empty path",
        {"model": {"serialized_file": ""}}),
    Bad("serialized-file-not-torchscript", "not-torchscript",
        lambda t: {"model": {"serialized_file": _write(t, "w.pt", "not a zip")}}),
    Bad("model-file-absent", "model.model_file does not exist", lambda t: {"model": {"model_file": str(t / "m.py")}}),
    Bad("model-file-a-directory", "model.model_file is a directory", lambda t: {"model": {"model_file": _dir(t)}}),
    Bad("handler-misspelt-builtin", "did you mean 'tensor'", {"model": {"handler": "tensr"}}),
    Bad("handler-misspelt-builtin-2", "did you mean 'image_classifier'", {"model": {"handler": "image_clasifier"}}),
    Bad("handler-absent-py", "model.handler does not exist", lambda t: {"model": {"handler": str(t / "h.py")}}),
    Bad("handler-a-directory", "model.handler is a directory", lambda t: {"model": {"handler": _dir(t)}}),
    Bad("handler-not-python", "model.handler", lambda t: {"model": {"handler": _write(t, "handler.txt", "x")}}),
    Bad("handler-empty", "model.handler: Value error, empty", {"model": {"handler": ""}}),
    Bad("extra-file-absent", "model.extra_files[0] does not exist",
        lambda t: {"model": {"extra_files": [str(t / "nope.txt")]}}),
    Bad("extra-file-with-comma", "model.extra_files[0]",
        lambda t: {"model": {"extra_files": [_write(t, "a,b.txt", "x")]}}),
    Bad("extra-folder-with-comma", "comma", lambda t: {"model": {"extra_files": [_dir(t, "x,y")]}}),
    Bad("extra-files-a-string", "model.extra_files: Input should be a valid list", {"model": {"extra_files": "a.txt"}}),
    Bad("extra-file-empty-path", "model.extra_files.0: Value error, empty path", {"model": {"extra_files": [""]}}),
    Bad("requirements-without-per-model-install", "requirements-not-installed",
        lambda t: {"model": {"requirements_file": _write(t, "requirements.txt", "tabulate\n")}}),
    Bad("requirements-absent", "model.requirements_file does not exist",
        lambda t: {"model": {"requirements_file": str(t / "nope.txt")}, **_props(install_py_dep_per_model=True)}),
    Bad("requirements-a-directory", "model.requirements_file is a directory",
        lambda t: {"model": {"requirements_file": _dir(t)}, **_props(install_py_dep_per_model=True)}),
    Bad("model-unknown-key", "model.handlr: unknown key", {"model": {"handlr": "tensor"}}),
    # --- torchserve --------------------------------------------------------------------------
    Bad("batch-size-zero", "torchserve.batch_size: Input should be greater than or equal to 1",
        {"torchserve": {"batch_size": 0}}),
    Bad("batch-size-negative", "torchserve.batch_size", {"torchserve": {"batch_size": -1}}),
    Bad("batch-size-a-word", "torchserve.batch_size: Input should be a valid integer",
        {"torchserve": {"batch_size": "four"}}),
    Bad("batch-size-fraction", "torchserve.batch_size: Input should be a valid integer",
        {"torchserve": {"batch_size": 1.5}}),
    Bad("batch-size-absurd", "torchserve.batch_size", {"torchserve": {"batch_size": 2 ** 40}}),
    Bad("batch-delay-negative", "torchserve.max_batch_delay_ms", {"torchserve": {"max_batch_delay_ms": -5}}),
    Bad("min-workers-zero", "torchserve.min_workers", {"torchserve": {"min_workers": 0}}),
    Bad("workers-unordered", "max_workers (1) is below min_workers (3)",
        {"torchserve": {"min_workers": 3, "max_workers": 1}}),
    Bad("response-timeout-zero", "torchserve.response_timeout_s", {"torchserve": {"response_timeout_s": 0}}),
    Bad("response-timeout-absurd", "torchserve.response_timeout_s", {"torchserve": {"response_timeout_s": 99999}}),
    Bad("startup-timeout-inf", "torchserve.startup_timeout_s", {"torchserve": {"startup_timeout_s": float("inf")}}),
    Bad("startup-timeout-nan", "torchserve.startup_timeout_s", {"torchserve": {"startup_timeout_s": float("nan")}}),
    Bad("startup-timeout-negative", "torchserve.startup_timeout_s", {"torchserve": {"startup_timeout_s": -1}}),
    Bad("image-unknown", "torchserve.image: Value error, unknown kserve-torchserve image",
        {"torchserve": {"image": "0.99.0"}}),
    Bad("torchserve-unknown-key", "torchserve.batch_szie: unknown key", {"torchserve": {"batch_szie": 4}}),
    Bad("properties-a-list", "torchserve.properties: Input should be a valid dictionary",
        {"torchserve": {"properties": ["vmargs=-Xmx1g"]}}),
    Bad("property-value-newline-injects-a-line", "torchserve.properties.vmargs",
        _props(vmargs="-Xmx1g\nmodel_store=/tmp/evil")),
    Bad("property-value-carriage-return", "control character", _props(vmargs="-Xmx1g\rx=1")),
    Bad("property-value-nul", "control character", _props(job_queue_size="10\x00")),
    Bad("property-value-trailing-backslash", "backslash", _props(vmargs="-Xmx1g \\")),
    Bad("property-value-null", "torchserve.properties.vmargs", _props(vmargs=None)),
    Bad("property-value-a-mapping", "torchserve.properties.vmargs", _props(vmargs={"a": 1})),
    Bad("property-key-with-space", "torchserve.properties", _props(**{"inference address": "http://0.0.0.0:1"})),
    Bad("property-key-with-equals", "torchserve.properties", _props(**{"a=b": "1"})),
    Bad("property-key-with-newline", "torchserve.properties", _props(**{"x\nmodel_store": "/tmp"})),
    Bad("property-key-with-colon", "torchserve.properties", _props(**{"job:queue": "1"})),
    Bad("property-key-misspelt-install", "did you mean 'install_py_dep_per_model'",
        _props(instal_py_dep_per_model=True)),
    Bad("property-key-misspelt-address", "did you mean 'inference_address'",
        _props(inference_adress="http://0.0.0.0:8085")),
    Bad("property-key-unknown", "torchserve.properties.no_such_key", _props(no_such_key="1")),
    Bad("token-authorization-on", "disable_token_authorization", _props(disable_token_authorization=False)),
    Bad("token-authorization-on-by-a-word", "disable_token_authorization", _props(disable_token_authorization="no")),
    Bad("int-property-not-a-number", "torchserve.properties.max_request_size", _props(max_request_size="big")),
    Bad("bool-property-not-a-bool", "torchserve.properties.install_py_dep_per_model",
        _props(install_py_dep_per_model="yes")),
    Bad("request-over-configured-max-request-size", "max_request_size", _props(max_request_size=100)),
    Bad("snapshot-not-json", "snapshot-invalid", _props(model_snapshot="{")),
    Bad("snapshot-models-a-list", "snapshot-invalid", _props(model_snapshot={"models": []})),
    Bad("snapshot-entry-a-string", "snapshot-invalid", _props(model_snapshot={"models": {"digits": {"1.0": "x"}}})),
    Bad("snapshot-a-number", "snapshot-invalid", _props(model_snapshot=5)),
    Bad("snapshot-other-model", "snapshot-model-name",
        _props(model_snapshot={"models": {"mnist": {"1.0": {"marName": "digits.mar"}}}})),
    # --- storage -----------------------------------------------------------------------------
    Bad("uri-s3", "storage.uri: Value error, storage.uri must be a gs:// URI", {"storage": {"uri": "s3://bucket/dir"}}),
    Bad("uri-scheme-only", "storage.uri", {"storage": {"uri": "gs://"}}),
    Bad("uri-no-scheme", "storage.uri", {"storage": {"uri": "bucket/dir"}}),
    Bad("bucket-uppercase", "'Harness-E2E' is not a valid GCS bucket name", {"storage": {"uri": "gs://Harness-E2E/x"}}),
    Bad("bucket-too-short", "is not a valid GCS bucket name", {"storage": {"uri": "gs://ab/x"}}),
    Bad("bucket-too-long", "is not a valid GCS bucket name", {"storage": {"uri": "gs://" + "a" * 64 + "/x"}}),
    Bad("bucket-goog-prefix", "is not a valid GCS bucket name", {"storage": {"uri": "gs://google-models/x"}}),
    Bad("bucket-an-ip", "is not a valid GCS bucket name", {"storage": {"uri": "gs://192.168.1.1/x"}}),
    Bad("bucket-double-dot", "is not a valid GCS bucket name", {"storage": {"uri": "gs://a..b/x"}}),
    Bad("bucket-underscore-edge", "is not a valid GCS bucket name", {"storage": {"uri": "gs://_bucket/x"}}),
    Bad("uri-bucket-only", "storage-uri-no-dir", {"storage": {"uri": "gs://harness-e2e"}}),
    Bad("uri-newline", "storage.uri", {"storage": {"uri": "gs://harness-e2e/models\nx"}}),
    Bad("uri-empty-segment", "storage.uri", {"storage": {"uri": "gs://harness-e2e//models"}}),
    Bad("uri-dot-dot-segment", "storage.uri", {"storage": {"uri": "gs://harness-e2e/models/../x"}}),
    Bad("uri-a-number", "storage.uri: Input should be a valid string", {"storage": {"uri": 5}}),
    Bad("storage-unknown-key", "storage.bucket: unknown key", {"storage": {"bucket": "x"}}),
    # --- serving -----------------------------------------------------------------------------
    Bad("protocol-unknown", "serving.protocol: Input should be 'v1', 'v2' or 'grpc-v2'",
        {"serving": {"protocol": "v3"}}),
    Bad("envelope-unknown", "serving.envelope", {"serving": {"envelope": "kservev3"}}),
    Bad("serving-path-unknown", "serving.path", {"serving": {"path": "side"}}),
    Bad("protocol-v2-with-v1-requests", "request-protocol", {"serving": {"protocol": "v2"}}),
    Bad("serving-a-list", "serving: Input should be a valid dictionary", {"serving": ["v1"]}),
    Bad("envelope-with-batching", "envelope-batching", {"torchserve": {"batch_size": 4, "max_batch_delay_ms": 5}}),
    Bad("batching-without-delay", "batch-delay-missing",
        {"torchserve": {"batch_size": 4}, "serving": {"envelope": "none"}}),
    # --- kubernetes --------------------------------------------------------------------------
    Bad("annotation-value-a-bool", "kubernetes.annotations.sidecar.istio.io/inject: Input should be a valid string",
        {"kubernetes": {"annotations": {"sidecar.istio.io/inject": False}}}),
    Bad("annotation-istio-typo", "istio-annotation-typo",
        {"kubernetes": {"annotations": {"isdecar.istio.is/inject": "false"}}}),
    Bad("annotation-key-invalid", "kubernetes.annotations", {"kubernetes": {"annotations": {"bad key!": "x"}}}),
    Bad("deployment-mode-unknown", "kubernetes.deployment_mode", {"kubernetes": {"deployment_mode": "Raw"}}),
    Bad("gpus-negative", "kubernetes.gpus", {"kubernetes": {"gpus": -1}}),
    Bad("cpu-not-a-quantity", "kubernetes.resources.limits.cpu",
        {"kubernetes": {"resources": {"limits": {"cpu": "lots"}}}}),
    Bad("memory-not-a-quantity", "kubernetes.resources.requests.memory",
        {"kubernetes": {"resources": {"requests": {"memory": "2GB"}}}}),
    Bad("gpu-limit-negative", "nvidia.com/gpu", {"kubernetes": {"resources": {"limits": {"nvidia.com/gpu": -1}}}}),
    Bad("gpu-counts-disagree", "disagree", {"kubernetes": {"gpus": 1, "resources": {"limits": {"nvidia.com/gpu": 2}}}}),
    Bad("toleration-operator-unknown", "kubernetes.tolerations.0.operator",
        {"kubernetes": {"tolerations": [{"key": "k", "operator": "In"}]}}),
    Bad("toleration-without-key", "needs operator: Exists",
        {"kubernetes": {"tolerations": [{"operator": "Equal", "value": "x"}]}}),
    Bad("toleration-effect-unknown", "kubernetes.tolerations.0.effect",
        {"kubernetes": {"tolerations": [{"key": "k", "effect": "NoRun"}]}}),
    Bad("ready-timeout-zero", "kubernetes.ready_timeout_s", {"kubernetes": {"ready_timeout_s": 0}}),
    Bad("ingress-unknown", "kubernetes.ingress", {"kubernetes": {"ingress": "nodeport"}}),
    Bad("ingress-url-no-scheme", "kubernetes.ingress_url", {"kubernetes": {"ingress_url": "localhost:8080"}}),
    Bad("service-account-invalid", "kubernetes.service_account", {"kubernetes": {"service_account": "My_SA"}}),
    Bad("runtime-name-invalid", "kubernetes.runtime", {"kubernetes": {"runtime": "Kserve Torchserve"}}),
    Bad("node-selector-value-a-list", "kubernetes.node_selector", {"kubernetes": {"node_selector": {"pool": ["gpu"]}}}),
    Bad("node-selector-key-invalid", "kubernetes.node_selector", {"kubernetes": {"node_selector": {"a b": "gpu"}}}),
    Bad("args-a-string", "kubernetes.args: Input should be a valid list", {"kubernetes": {"args": "--foo"}}),
    Bad("kubernetes-unknown-key", "kubernetes.namespace: unknown key", {"kubernetes": {"namespace": "x"}}),
    # --- checks ------------------------------------------------------------------------------
    Bad("checks-a-mapping", "checks: Input should be a valid list", {"checks": {"name": "c"}}),
    Bad("check-name-missing", "checks.0.name: Field required", {"checks": [{"request": str(REQUEST_V1)}]}),
    Bad("check-request-missing", "checks.0.request: Field required", {"checks": [{"name": "c"}]}),
    Bad("check-request-absent", "checks[0].request does not exist",
        lambda t: {"checks": _check(request=str(t / "no.json"))}),
    Bad("check-request-a-directory", "checks[0].request is a directory", lambda t: {"checks": _check(request=_dir(t))}),
    Bad("check-expect-a-directory", "checks[0].expect is a directory", lambda t: {"checks": _check(expect=_dir(t))}),
    Bad("check-expect-absent", "checks[0].expect does not exist",
        lambda t: {"checks": _check(expect=str(t / "no.json"))}),
    Bad("check-request-not-json", "checks[0].request",
        lambda t: {"checks": _check(request=_write(t, "r.json", "{nope"))}),
    Bad("check-request-empty-file", "checks[0].request", lambda t: {"checks": _check(request=_write(t, "r.json", ""))}),
    Bad("check-request-binary", "checks[0].request",
        lambda t: {"checks": _check(request=_write(t, "r.json", b"\xff\xfe\x00"))}),
    Bad("check-expect-not-json", "checks[0].expect", lambda t: {"checks": _check(expect=_write(t, "e.json", "nope"))}),
    Bad("check-request-empty-path", "checks.0.request: Value error, empty path", {"checks": _check(request="")}),
    Bad("check-atol-negative", "checks.0.atol", {"checks": _check(atol=-1)}),
    Bad("check-atol-inf", "checks.0.atol", {"checks": _check(atol=float("inf"))}),
    Bad("check-rtol-a-word", "checks.0.rtol", {"checks": _check(rtol="tiny")}),
    Bad("check-status-zero", "checks.0.expect_status", {"checks": _check(expect_status=0)}),
    Bad("check-status-four-digits", "checks.0.expect_status", {"checks": _check(expect_status=1000)}),
    Bad("check-names-duplicate", "checks[0].name 'c' and checks[1].name 'c'", {"checks": _check() + _check()}),
    Bad("check-names-collide-when-saved", "checks[0].name 'a b' and checks[1].name 'a_b'",
        {"checks": [{"name": "a b", "request": str(REQUEST_V1)}, {"name": "a_b", "request": str(REQUEST_V1)}]}),
    Bad("check-name-empty", "checks[0].name is empty", {"checks": _check(name="")}),
    Bad("check-path-other-model", "request-model-name", {"checks": _check(path="/v1/models/mnist:predict")}),
    Bad("check-path-not-a-url", "request-url", {"checks": _check(path="predict")}),
    Bad("check-path-trailing-newline", "request-url", {"checks": _check(path="/v1/models/digits:predict\n")}),
    Bad("check-body-other-model", "request-model-name",
        lambda t: {"checks": _check(request=_write(t, "r.json",
            json.dumps({"model_name": "mnist", "instances": [[0]]})))}),
    Bad("check-request-too-large", "max_request_size", lambda t: {"checks": _check(request=_big_request(t))}),
    Bad("check-unknown-key", "checks.0.expected: unknown key", {"checks": _check(expected="x")}),
    # --- load (batching.yaml has a load section) -----------------------------------------------
    Bad("load-a-list", "load: Input should be a valid dictionary", {"load": ["users"]}, base="batching.yaml"),
    Bad("load-mode-unknown", "load.mode", _load(mode="burst"), base="batching.yaml"),
    Bad("load-closed-with-rate", "`rate` is for open loop", _load(rate=5), base="batching.yaml"),
    Bad("load-users-zero", "load.users", _load(users=0), base="batching.yaml"),
    Bad("load-duration-missing", "duration_s is required", base="batching.yaml", drop=("load.duration_s",)),
    Bad("load-duration-zero", "load.duration_s", _load(duration_s=0), base="batching.yaml"),
    Bad("load-duration-absurd", "load.duration_s", _load(duration_s=1e9), base="batching.yaml"),
    Bad("load-wait-negative", "load.wait_time_s", _load(wait_time_s=-1), base="batching.yaml"),
    Bad("load-request-absent", "load.requests[0] does not exist", lambda t: _load(requests=[str(t / "no.json")]),
        base="batching.yaml"),
    Bad("load-request-a-directory", "load.requests[0] is a directory", lambda t: _load(requests=[_dir(t)]),
        base="batching.yaml"),
    Bad("load-request-not-json", "load.requests[0]", lambda t: _load(requests=[_write(t, "r.json", "nope")]),
        base="batching.yaml"),
    Bad("load-requests-empty", "load.requests", _load(requests=[]), base="batching.yaml"),
    Bad("load-request-empty-path", "load.requests.0: Value error, empty path", _load(requests=[""]),
        base="batching.yaml"),
    Bad("load-request-too-large", "max_request_size", lambda t: _load(requests=[_big_request(t)]),
        base="batching.yaml"),
    Bad("load-path-other-model", "request-model-name", _load(path="/v1/models/mnist:predict"), base="batching.yaml"),
    Bad("load-workers-zero", "load.workers", _load(workers=0), base="batching.yaml"),
    Bad("load-workers-absurd", "load.workers", _load(workers=1000), base="batching.yaml"),
    Bad("load-timeout-zero", "load.timeout_s", _load(timeout_s=0), base="batching.yaml"),
    Bad("load-sweep-empty", "load.sweep.values", {"load": {"users": None, "sweep": {"param": "users", "values": []}}},
        base="batching.yaml"),
    Bad("load-sweep-negative", "sweep values must be positive",
        {"load": {"users": None, "sweep": {"param": "users", "values": [-1]}}}, base="batching.yaml"),
    Bad("load-stages-empty", "load.stages", _load(stages=[]), base="batching.yaml"),
    Bad("load-slo-negative", "load.slo.p99_ms", _load(slo={"p99_ms": -5}), base="batching.yaml"),
    Bad("load-error-rate-over-one", "load.slo.max_error_rate", _load(slo={"max_error_rate": 2}), base="batching.yaml"),
    Bad("load-self-check-cpu-over-100", "load.self_check.max_cpu_percent",
        _load(self_check={"max_cpu_percent": 150}), base="batching.yaml"),
    Bad("load-unknown-key", "load.user: unknown key", _load(user=3), base="batching.yaml"),
    # --- ignore_lints ------------------------------------------------------------------------
    Bad("ignore-unknown-code", "did you mean 'envelope-batching'", {"ignore_lints": ["envelope-batchin"]}),
    Bad("ignore-a-string", "ignore_lints: Input should be a valid list", {"ignore_lints": "envelope-batching"}),
    Bad("ignore-empty-code", "ignore_lints[0]", {"ignore_lints": [""]}),
    Bad("ignore-a-number", "ignore_lints.0: Input should be a valid string", {"ignore_lints": [5]}),
    # --- more found by trying ----------------------------------------------------------------
    Bad("duplicate-key-in-a-flow-mapping", "duplicate key 'batch_size'",
        raw=MINIMAL + "torchserve: {batch_size: 1, batch_size: 2}\n"),
    Bad("nested-too-deeply", "nested too deeply", raw=MINIMAL + "description: " + "[" * 20000 + "]" * 20000 + "\n"),
    Bad("recursive-alias-in-models", "torchserve.properties.models",
        raw=MINIMAL + "torchserve:\n  properties:\n    models: &m {digits: *m}\n"),
    Bad("date-in-models-json", "torchserve.properties.models",
        _props(models={"digits": {"1.0": {"created": __import__("datetime").date(2024, 1, 1)}}})),
    Bad("property-value-line-separator", "control character", _props(vmargs="-Xmx1g\u2028x=1")),
    Bad("property-key-a-number", "torchserve.properties", raw=MINIMAL + "torchserve:\n  properties:\n    1: x\n"),
    Bad("description-a-date", "description: Input should be a valid string", raw=MINIMAL + "description: 2024-01-01\n"),
    Bad("top-level-int-key", "1: Keys should be strings", raw=MINIMAL + "1: x\n"),
    Bad("checks-null", "checks: Input should be a valid list", {"checks": None}),
    Bad("torchserve-null", "torchserve: Input should be a valid dictionary", {"torchserve": None}),
    Bad("model-null", "model: Input should be a valid dictionary", {"model": None}),
    Bad("protocol-uppercase", "serving.protocol", {"serving": {"protocol": "V1"}}),
    Bad("handler-a-list", "model.handler: Input should be a valid string", {"model": {"handler": ["tensor"]}}),
    Bad("model-name-300-characters", "model.name: Value error, model name must be up to 200",
        {"model": {"name": "m" * 300}}),
    Bad("scenario-name-300-characters", "name: Value error, scenario name must be up to 200", {"name": "s" * 300}),
    Bad("check-name-with-newline", "checks[0].name 'a\\nb' holds a control character", {"checks": _check(name="a\nb")}),
    Bad("check-path-v2-on-a-v1-scenario", "request-protocol", {"checks": _check(path="/v2/models/digits/infer")}),
    Bad("check-request-a-device", "checks[0].request is not a regular file", {"checks": _check(request="/dev/null")}),
    Bad("check-request-nul-in-path", "checks[0].request", {"checks": _check(request="/tmp/a\x00b.json")}),
    Bad("load-path-not-a-url", "request-url", _load(path="predict"), base="batching.yaml"),
    Bad("load-v2-body-on-a-v1-scenario", "load.requests[0] is a V2 body",
        lambda t: _load(requests=[str(FIXTURES / "digits" / "request_v2.json")]), base="batching.yaml"),
    Bad("load-max-in-flight-zero", "load.max_in_flight", _load(max_in_flight=0), base="batching.yaml"),
    Bad("load-interval-zero", "load.interval_s", _load(interval_s=0), base="batching.yaml"),
    Bad("scenario-not-a-regular-file", "the scenario path is not a regular file", argv=["lint", "/dev/null"],
        raw=MINIMAL, names_file=False),
    Bad("extra-file-wildcard-characters", "wildcard",
        lambda t: {"model": {"extra_files": [_write(t, "model[1].py", "x")]}}),
    Bad("extra-files-same-name", "archive-name-clash",
        lambda t: {"model": {"extra_files": [_write(t, "a/config.py", "x"), _write(t, "b/config.py", "y")]}}),
    Bad("extra-file-named-like-the-harness-counter", "batch_metric.py",
        lambda t: {"model": {"extra_files": [_write(t, "batch_metric.py", "x")]}}),
    Bad("extra-folder-entry-clashes-with-the-weights", "'model.pt'",
        lambda t: {"model": {"extra_files": [str(Path(_write(t, "extra/model.pt", "x")).parent)]}}),
    Bad("extra-file-named-like-the-tensor-handler", "'tensor_handler.py'",
        lambda t: {"model": {"extra_files": [_write(t, "tensor_handler.py", "x")]}}),
    Bad("ignore-a-code-of-another-tool", "ignore_lints[0] 'E501'", {"ignore_lints": ["E501"]}),
    # --- the command line --------------------------------------------------------------------
    Bad("workers-zero", "expected a whole number >= 1", argv=["run", "{scenario}", "--workers", "0"], names_file=False),
    Bad("trials-negative", "expected a whole number >= 1", argv=["run", "{scenario}", "--trials", "-1"],
        names_file=False),
    Bad("lint-without-a-scenario", "the following arguments are required: scenario", argv=["lint"], names_file=False),
    Bad("unknown-command", "invalid choice", argv=["deploy", "{scenario}"], names_file=False),
]


def materialise(bad: Bad, scenario_copy, tmp_path: Path) -> Path:
    """The scenario file of one row, in tmp_path."""
    if bad.raw is not None:
        raw = bad.raw(tmp_path) if callable(bad.raw) else bad.raw
        path = tmp_path / "scenario.yaml"
        if isinstance(raw, bytes):
            path.write_bytes(raw)
        else:
            path.write_text(raw)
        return path
    change = bad.change(tmp_path) if callable(bad.change) else bad.change
    return scenario_copy(bad.base, change, drop=bad.drop)


def test_the_table_has_at_least_80_rows_with_unique_ids():
    ids = [b.id for b in ROWS]
    assert len(ids) >= 80 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("bad", ROWS, ids=lambda b: b.id)
def test_a_bad_input_is_one_line_and_exit_2_before_anything_runs(bad: Bad, scenario_copy, tmp_path, capsys):
    path = materialise(bad, scenario_copy, tmp_path)
    argv = [a.format(scenario=path, tmp=tmp_path) for a in bad.argv]
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert "Traceback" not in out + err
    assert bad.expect in lines[0], lines[0]
    if bad.names_file:
        assert str(tmp_path.resolve()) in lines[0] or str(tmp_path) in lines[0], lines[0]


# --- what must still pass: the checks above reject mistakes, not valid inputs -----------------
def test_anchors_and_merge_keys_are_not_duplicates(tmp_path, capsys):
    path = tmp_path / "scenario.yaml"
    path.write_text(MINIMAL + "checks:\n"
                    f"  - &base {{name: a, request: {REQUEST_V1}, expect: {EXPECT_V1}}}\n"
                    "  - <<: *base\n    name: b\n")
    assert main(["lint", str(path)]) == 0, capsys.readouterr()


def test_valid_property_values_pass(scenario_copy, capsys):
    path = scenario_copy("digits.yaml", _props(job_queue_size="50", install_py_dep_per_model="True",
                                               allowed_urls=r"https://models\.example\.com/.*", vmargs="-Xmx1g",
                                               max_request_size=10_000_000, models={"digits": {"1.0": {}}}))
    assert main(["lint", str(path)]) == 0, capsys.readouterr()
    from harness.runtimes.torchserve.archive import config_properties, render_config_properties
    from harness.spec import load_scenario

    spec = load_scenario(path)  # every key=value stays one line of the file KServe serves from
    assert len(render_config_properties(spec).splitlines()) == 1 + len(config_properties(spec))


def test_a_multi_line_model_snapshot_is_rendered_as_one_line(tmp_path, capsys):
    from harness.runtimes.torchserve.archive import render_config_properties
    from harness.spec import load_scenario

    path = tmp_path / "scenario.yaml"
    path.write_text(MINIMAL + "torchserve:\n  properties:\n    model_snapshot: |\n"
                    '      {"name": "startup.cfg", "modelCount": 1,\n'
                    '       "models": {"digits": {"1.0": {"marName": "digits.mar", "minWorkers": 1}}}}\n')
    assert main(["lint", str(path)]) == 0, capsys.readouterr()
    lines = render_config_properties(load_scenario(path)).splitlines()
    assert [line for line in lines if line.startswith("model_snapshot=")] == [
        'model_snapshot={"name":"startup.cfg","modelCount":1,"models":{"digits":{"1.0":{"marName":"digits.mar",'
        '"minWorkers":1}}}}']


def test_ignore_lints_lets_a_finding_through_in_harness_lint(scenario_copy, capsys):
    path = scenario_copy("digits.yaml", {**_props(some_newer_key="1"), "ignore_lints": ["property-unknown"]})
    assert main(["lint", str(path)]) == 0, capsys.readouterr()


def test_every_code_in_the_readme_is_one_a_rule_reports():
    from harness.lints import lint_codes
    from tests.helpers import REPO

    table = REPO.joinpath("README.md").read_text().split("### Lints", 1)[1].split("\n\n", 2)[1]
    documented = {code for line in table.splitlines()[2:] for code in re.findall(r"`([a-z0-9-]+)`", line.split("|")[1])}
    assert documented and documented <= lint_codes(), documented - lint_codes()
