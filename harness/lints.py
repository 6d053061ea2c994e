"""Mistakes caught before anything is deployed.

Flow: `lint(spec)` -> list of `LintError`s (each with a stable code, one line, and a hint);
`harness lint` prints them all; `harness run` stops at the first run of lints with exit code 2.
Each rule is a small function registered in RULES, so adding one touches one place.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from harness.archive import model_snapshot
from harness.errors import LintError
from harness.spec import ScenarioSpec

ISTIO_SIDECAR_ANNOTATION = "sidecar.istio.io/inject"

Rule = Callable[[ScenarioSpec], Iterator[LintError]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def lint(spec: ScenarioSpec) -> list[LintError]:
    return [finding for r in RULES for finding in r(spec)]


def _where(spec: ScenarioSpec, key: str) -> str:
    return f"{spec.source}: {key}" if spec.source else key


@rule
def missing_files(spec: ScenarioSpec) -> Iterator[LintError]:
    m = spec.model
    named = [("model.serialized_file", m.serialized_file), ("model.model_file", m.model_file),
             ("model.requirements_file", m.requirements_file)]
    named += [(f"model.extra_files[{i}]", p) for i, p in enumerate(m.extra_files)]
    if not m.builtin_handler:
        named.append(("model.handler", Path(m.handler)))
    for i, c in enumerate(spec.checks):
        named += [(f"checks[{i}].request", c.request), (f"checks[{i}].expect", c.expect)]
    for key, path in named:
        if path is not None and not path.exists():
            code = "handler-missing" if key == "model.handler" else "file-missing"
            hint = ("use a built-in handler (tensor, image_classifier, ...) or a path to a .py file"
                    if key == "model.handler" else "paths are relative to the scenario file")
            yield LintError(code, f"{key} does not exist: {path}", where=_where(spec, key), hint=hint)


@rule
def storage_uri_needs_directory(spec: ScenarioSpec) -> Iterator[LintError]:
    if not spec.storage.prefix:
        yield LintError(
            "storage-uri-no-dir", f"storageUri {spec.storage.uri} has no directory under the bucket",
            where=_where(spec, "storage.uri"),
            hint=f"KServe needs gs://bucket/dir; use e.g. {spec.storage.uri}/{spec.model.name}")


_URL_MODEL = re.compile(r"^/v(?P<v>[12])/models/(?P<name>[^/:]+)(?P<rest>.*)$")


@rule
def request_matches_model(spec: ScenarioSpec) -> Iterator[LintError]:
    for i, c in enumerate(spec.checks):
        key = f"checks[{i}]"
        if c.path:
            match = _URL_MODEL.match(c.path)
            if not match:
                yield LintError("request-url", f"check path {c.path!r} is not a KServe V1/V2 model URL",
                                where=_where(spec, f"{key}.path"),
                                hint=f"use /v1/models/{spec.model.name}:predict or /v2/models/{spec.model.name}/infer")
            elif match["name"] != spec.model.name:
                yield LintError("request-model-name",
                                f"check path names model {match['name']!r}, the archive serves {spec.model.name!r}",
                                where=_where(spec, f"{key}.path"), hint="model.name is the URL's model name")
        if c.request is None or not c.request.is_file():
            continue
        try:
            body = json.loads(c.request.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            yield LintError("request-json", f"request file is not JSON: {exc}", where=str(c.request))
            continue
        if not isinstance(body, dict):
            continue
        if body.get("model_name") not in (None, spec.model.name):
            yield LintError("request-model-name",
                            f"request body names model {body['model_name']!r}, the archive serves {spec.model.name!r}",
                            where=str(c.request), hint="fix model_name in the request or model.name")
        protocol = "v2" if "inputs" in body else "v1" if "instances" in body else None
        if protocol and protocol != spec.serving.protocol:
            yield LintError("request-protocol",
                            f"request is a {protocol.upper()} body but serving.protocol is {spec.serving.protocol}",
                            where=str(c.request), hint="V1 bodies carry 'instances', V2 bodies 'inputs'")


@rule
def expected_bodies_are_json(spec: ScenarioSpec) -> Iterator[LintError]:
    for i, c in enumerate(spec.checks):
        if c.expect is not None and c.expect.is_file():
            try:
                json.loads(c.expect.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                yield LintError("expect-json", f"expected-response file is not JSON: {exc}", where=str(c.expect),
                                hint=f"checks[{i}].expect must hold the expected response body as JSON")


def _truthy(value: object) -> bool:
    return str(value).strip().lower() == "true"


@rule
def requirements_need_per_model_install(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.model.requirements_file and not _truthy(spec.torchserve.properties.get("install_py_dep_per_model")):
        yield LintError(
            "requirements-not-installed",
            "model.requirements_file is set but install_py_dep_per_model is not true: TorchServe would ignore it",
            where=_where(spec, "torchserve.properties"),
            hint="add `install_py_dep_per_model: true` under torchserve.properties")


@rule
def snapshot_matches_archive(spec: ScenarioSpec) -> Iterator[LintError]:
    if "model_snapshot" not in spec.torchserve.properties:
        return
    try:
        models = model_snapshot(spec)["models"]
    except (ValueError, KeyError, TypeError) as exc:
        yield LintError("snapshot-invalid", f"model_snapshot is not valid: {exc}",
                        where=_where(spec, "torchserve.properties.model_snapshot"))
        return
    want = f"{spec.model.name}.mar"
    if spec.model.name not in models:
        yield LintError("snapshot-model-name", f"model_snapshot registers {sorted(models)}, not {spec.model.name!r}",
                        where=_where(spec, "torchserve.properties.model_snapshot"),
                        hint="the snapshot's model key must be model.name")
    for name, versions in models.items():
        for ver, entry in versions.items():
            if entry.get("marName") != want:
                yield LintError("mar-name", f"model_snapshot {name}/{ver} marName is {entry.get('marName')!r}, "
                                f"the archive is {want!r}", where=_where(spec, "torchserve.properties.model_snapshot"),
                                hint=f"set marName to {want} (the archive is named after model.name)")


@rule
def envelope_batching(spec: ScenarioSpec) -> Iterator[LintError]:
    envelope = spec.serving.effective_envelope
    if envelope != "none" and spec.torchserve.batch_size > 1:
        yield LintError(
            "envelope-batching",
            f"batch_size {spec.torchserve.batch_size} with the '{envelope}' envelope: TorchServe answers only the "
            "first request of each batch and every batched request fails with 503 "
            "'number of batch response mismatched' (pytorch/serve #1302, #2158)",
            where=_where(spec, "torchserve.batch_size"),
            hint="use batch_size 1, or serving.envelope: none with a handler that parses the protocol (tensor does)")


@rule
def batching_needs_delay(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.torchserve.batch_size > 1 and spec.torchserve.max_batch_delay_ms is None:
        yield LintError("batch-delay-missing",
                        f"batch_size {spec.torchserve.batch_size} without max_batch_delay_ms",
                        where=_where(spec, "torchserve"),
                        hint="set max_batch_delay_ms: how long TorchServe may wait to fill a batch")


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@rule
def istio_annotation_typo(spec: ScenarioSpec) -> Iterator[LintError]:
    for key in spec.kubernetes.annotations:
        if key != ISTIO_SIDECAR_ANNOTATION and _edit_distance(key, ISTIO_SIDECAR_ANNOTATION) <= 4:
            yield LintError("istio-annotation-typo",
                            f"annotation {key!r} looks like a misspelling of {ISTIO_SIDECAR_ANNOTATION!r}; "
                            "Kubernetes would ignore it silently and inject the sidecar",
                            where=_where(spec, "kubernetes.annotations"),
                            hint=f'use {ISTIO_SIDECAR_ANNOTATION}: "false"')


def is_torchscript(path: Path) -> bool:
    """TorchScript archives carry a code/ folder and constants.pkl; state_dicts only data.pkl."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)


@rule
def tensor_handler_needs_torchscript(spec: ScenarioSpec) -> Iterator[LintError]:
    m = spec.model
    if m.handler == "tensor" and m.model_file is None and m.serialized_file.is_file() \
            and not is_torchscript(m.serialized_file):
        yield LintError("not-torchscript",
                        f"the tensor handler needs a TorchScript file, {m.serialized_file.name} is not one",
                        where=_where(spec, "model.serialized_file"),
                        hint="save with torch.jit.script(model).save(...), or give model.model_file for eager weights")
