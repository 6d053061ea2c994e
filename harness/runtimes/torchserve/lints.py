"""Lints for KServe's TorchServe runtime: mistakes in the archive's inputs, config.properties,
model_snapshot, batching and the runtime image's releases, caught before anything is deployed.

Each rule is registered on RULES (harness.rules.RuleSet) and joins the generic lints through the
runtime (`TorchServeRuntime.lint_rules`); WARNINGS are the codes that inform instead of stopping.
"""
from __future__ import annotations

import difflib
import zipfile
from pathlib import Path
from typing import Iterator

from harness.errors import LintError
from harness.rules import RuleSet, where_in
from harness.runtimes.torchserve import properties as ts_properties
from harness.runtimes.torchserve.archive import handler_argument, model_snapshot
from harness.runtimes.torchserve.compat import arg_since, newer_torch_record, property_since, release
from harness.spec import ScenarioSpec

RULES = RuleSet()
rule = RULES.rule

# Codes that warn (the run goes on) rather than stop the run: each may be fine in practice (an
# old torch often loads a newer file; an ignored key may not matter), so they inform, not block.
WARNINGS = frozenset({"torch-newer-than-image", "property-unknown-to-image"})


@rule
def grpc_has_no_queue_latency(spec: ScenarioSpec) -> Iterator[LintError]:
    # TorchServe 0.12 records ts_queue_latency_microseconds for REST jobs only (RestJob.java; its
    # gRPC job records none), so this SLO would read nothing and fail every grpc-v2 run.
    slo = spec.load.slo if spec.load is not None else None
    if spec.serving.protocol == "grpc-v2" and slo is not None and slo.max_queue_ms is not None:
        yield LintError("grpc-no-queue-latency",
                        "load.slo.max_queue_ms with grpc-v2: TorchServe records no queue latency for gRPC "
                        "requests, so this SLO can never pass", where=where_in(spec, "load.slo.max_queue_ms"),
                        hint="drop max_queue_ms (client latency SLOs p50..p99_ms still apply), or measure over v2")


def _archive_entries(path: Path) -> list[tuple[str, Path]]:
    """(name in the archive, source) for one input: torch-model-archiver copies files into one
    folder by their name, and a folder's entries (not the folder itself)."""
    if path.is_dir():
        return [(child.name, child.resolve()) for child in sorted(path.iterdir())]
    return [(path.name, path.resolve())] if path.is_file() else []


@rule
def archive_names_distinct(spec: ScenarioSpec) -> Iterator[LintError]:
    m = spec.model
    inputs = [("model.serialized_file", m.serialized_file), ("model.model_file", m.model_file),
              ("model.requirements_file", m.requirements_file)]
    handler = Path(handler_argument(spec))  # the user's .py, or the harness's own tensor_handler.py
    if not m.builtin_handler or handler.is_absolute():
        inputs.append(("model.handler", handler))
    inputs += [(f"model.extra_files[{i}]", p) for i, p in enumerate(m.extra_files)]
    # The harness adds its batch counter to every archive (harness.runtimes.torchserve.archive.extra_files).
    taken: dict[str, tuple[str, Path | None]] = {"batch_metric.py": ("the harness's own batch_metric.py", None)}
    for key, path in inputs:
        for name, source in _archive_entries(path) if path is not None else []:
            other, other_source = taken.setdefault(name, (key, source))
            if other_source != source:  # the same file twice (a folder and its own file) is fine
                yield LintError("archive-name-clash",
                                f"{key} and {other} both put {name!r} into the archive (torch-model-archiver "
                                "copies every input into one folder): one would replace the other",
                                where=where_in(spec, key), hint="rename one of them, or move it into a sub-folder")
                break


@rule
def requests_within_max_request_size(spec: ScenarioSpec) -> Iterator[LintError]:
    limit = ts_properties.max_request_size(spec.torchserve.properties)
    files = [(f"checks[{i}].request", c.request) for i, c in enumerate(spec.checks)]
    files += [(f"load.requests[{i}]", p) for i, p in enumerate(spec.load.requests if spec.load else [])]
    for key, path in files:
        size = path.stat().st_size if path.is_file() else 0
        if size > limit:
            yield LintError(
                "request-too-large",
                f"{key} is {size} bytes, over TorchServe's max_request_size of {limit} bytes: TorchServe refuses "
                f"it (413) before the model sees it: {path}", where=where_in(spec, key),
                hint=f"raise torchserve.properties.max_request_size (bytes) to at least {size}, or send a smaller body")


@rule
def properties_torchserve_knows(spec: ScenarioSpec) -> Iterator[LintError]:
    for key, value in spec.torchserve.properties.items():
        where = where_in(spec, f"torchserve.properties.{key}")
        if key not in ts_properties.KNOWN_KEYS:
            close = difflib.get_close_matches(key, sorted(ts_properties.KNOWN_KEYS), n=1)
            yield LintError(
                "property-unknown", f"torchserve.properties.{key} is not a key TorchServe 0.12 reads: "
                "it would be ignored silently", where=where,
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + "if another TorchServe release reads it, add property-unknown to ignore_lints")
        elif key != "disable_token_authorization" and (problem := ts_properties.value_problem(key, value)):
            # (any value of disable_token_authorization but true is token-auth-on's finding)
            yield LintError("property-value", f"torchserve.properties.{problem}", where=where,
                            hint="write the value TorchServe expects (see pytorch/serve docs/configuration.md)")


def _truthy(value: object) -> bool:
    return str(value).strip().lower() == "true"


@rule
def requirements_need_per_model_install(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.model.requirements_file and not _truthy(spec.torchserve.properties.get("install_py_dep_per_model")):
        yield LintError(
            "requirements-not-installed",
            "model.requirements_file is set but install_py_dep_per_model is not true: TorchServe would ignore it",
            where=where_in(spec, "torchserve.properties"),
            hint="add `install_py_dep_per_model: true` under torchserve.properties")


@rule
def snapshot_matches_archive(spec: ScenarioSpec) -> Iterator[LintError]:
    if "model_snapshot" not in spec.torchserve.properties:
        return
    try:
        models = model_snapshot(spec)["models"]
    except (ValueError, KeyError, TypeError) as exc:
        yield LintError("snapshot-invalid", f"model_snapshot is not valid: {exc}",
                        where=where_in(spec, "torchserve.properties.model_snapshot"))
        return
    shaped = isinstance(models, dict) and all(
        isinstance(name, str) and isinstance(versions, dict) and all(isinstance(e, dict) for e in versions.values())
        for name, versions in models.items())
    if not shaped:
        yield LintError("snapshot-invalid", "model_snapshot is not valid: `models` must map each model name to "
                        "{version: {marName, minWorkers, ...}}",
                        where=where_in(spec, "torchserve.properties.model_snapshot"),
                        hint="or drop model_snapshot: the harness renders one from the torchserve settings")
        return
    want = f"{spec.model.name}.mar"
    if spec.model.name not in models:
        yield LintError("snapshot-model-name", f"model_snapshot registers {sorted(models)}, not {spec.model.name!r}",
                        where=where_in(spec, "torchserve.properties.model_snapshot"),
                        hint="the snapshot's model key must be model.name")
    for name, versions in models.items():
        for ver, entry in versions.items():
            if entry.get("marName") != want:
                yield LintError("mar-name", f"model_snapshot {name}/{ver} marName is {entry.get('marName')!r}, "
                                f"the archive is {want!r}", where=where_in(spec, "torchserve.properties.model_snapshot"),
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
            where=where_in(spec, "torchserve.batch_size"),
            hint="use batch_size 1, or serving.envelope: none with a handler that parses the protocol (tensor does)")


@rule
def batching_needs_delay(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.torchserve.batch_size > 1 and spec.torchserve.max_batch_delay_ms is None:
        yield LintError("batch-delay-missing",
                        f"batch_size {spec.torchserve.batch_size} without max_batch_delay_ms",
                        where=where_in(spec, "torchserve"),
                        hint="set max_batch_delay_ms: how long TorchServe may wait to fill a batch")


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
                        where=where_in(spec, "model.serialized_file"),
                        hint="save with torch.jit.script(model).save(...), or give model.model_file for eager weights")


@rule
def model_file_newer_than_image_torch(spec: ScenarioSpec) -> Iterator[LintError]:
    m, img = spec.model, spec.torchserve.runtime_image
    found = newer_torch_record(m.serialized_file) if m.serialized_file.is_file() else None
    if found and release(img.torch) <= release(found[1]):
        record, upto = found
        yield LintError(
            "torch-newer-than-image",
            f"{m.serialized_file.name} was written by a torch newer than {upto} (it has the {record!r} record, "
            f"which torch {upto} and older do not write); {img.reference} ships torch {img.torch}, which may "
            "not load it",
            where=where_in(spec, "model.serialized_file"),
            hint=f"save it with torch {img.torch} (pip install torch=={img.torch}), or pick a newer torchserve.image")


@rule
def properties_the_image_knows(spec: ScenarioSpec) -> Iterator[LintError]:
    img = spec.torchserve.runtime_image
    props = spec.torchserve.properties
    for key in props:
        since = property_since(key)
        if since and release(img.torchserve) < release(since):
            yield LintError(
                "property-unknown-to-image",
                f"config key {key!r} is read by TorchServe {since} and later; {img.reference} runs TorchServe "
                f"{img.torchserve}, which ignores it", where=where_in(spec, f"torchserve.properties.{key}"),
                hint=f"drop it, or use torchserve.image {since} or newer")
    if img.token_auth and "disable_token_authorization" in props and not _truthy(props["disable_token_authorization"]):
        yield LintError(
            "token-auth-on",
            f"disable_token_authorization is {props['disable_token_authorization']!r}: TorchServe {img.torchserve} "
            "then wants a token on every call, and neither KServe's front nor the harness sends one (every "
            "request is refused)", where=where_in(spec, "torchserve.properties.disable_token_authorization"),
            hint="drop the key (the harness renders disable_token_authorization=true, as KServe's samples need)")


@rule
def args_the_image_accepts(spec: ScenarioSpec) -> Iterator[LintError]:
    img = spec.torchserve.runtime_image
    for i, arg in enumerate(spec.kubernetes.args):
        since = arg_since(arg)
        if since and release(img.torchserve) < release(since):
            yield LintError(
                "arg-unknown-to-image",
                f"{arg} is a torchserve flag from {since} on; {img.reference} runs TorchServe {img.torchserve}, "
                "whose argument parser rejects it, so the model container exits at start",
                where=where_in(spec, f"kubernetes.args[{i}]"), hint=f"drop it, or use torchserve.image {since} or newer")
