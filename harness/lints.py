"""Mistakes caught before anything is deployed.

Flow: `lint(spec)` -> list of `LintError`s (each with a stable code, one line, and a hint), from
the generic rules here and the scenario's runtime's own (harness/runtimes/<name>/lints.py), each
stamped with its severity from the runtime's warning codes; `harness lint` prints
them all; `harness run` stops on any error with exit code 2 and carries warnings on (shown in
its progress, report.json and summary.md). Each rule is a small function registered in RULES,
so adding one touches one place.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import json
import re
from pathlib import Path
from typing import Iterator

from harness.errors import LintError
from harness.rules import Rule, RuleSet, where_in
from harness.runtimes.registry import RUNTIMES, runtime_for
from harness.spec import BUILTIN_HANDLERS, ScenarioSpec

ISTIO_SIDECAR_ANNOTATION = "sidecar.istio.io/inject"

RULES = RuleSet()  # the generic ones; each runtime adds its own (Runtime.lint_rules)
rule = RULES.rule


def lint(spec: ScenarioSpec) -> list[LintError]:
    """Every finding of the generic rules and of the scenario's runtime, severity stamped: the
    runtime's `warnings` codes warn (the run goes on), every other code is an error. An A/B
    scenario's candidate is linted too, each of its findings saying so."""
    runtime = runtime_for(spec)
    # ignore_lints is the scenario's escape hatch: `harness lint` and `harness run` both honour it.
    findings = [finding for r in [*RULES, *runtime.lint_rules] for finding in r(spec)
                if finding.code not in spec.ignore_lints]
    for f in findings:
        f.severity = "warning" if f.code in runtime.warnings else "error"
    candidate = spec.candidate_scenario
    for f in lint(candidate) if candidate is not None else []:
        f.what = f"candidate: {f.what}"
        findings.append(f)
    return findings


def all_rules() -> list[Rule]:
    return [*RULES, *(r for runtime in RUNTIMES.values() for r in runtime.lint_rules)]


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
    if spec.load is not None:
        named += [(f"load.requests[{i}]", p) for i, p in enumerate(spec.load.requests)]
    for key, path in named:
        if path is None:
            continue
        if not path.exists():
            code = "handler-missing" if key == "model.handler" else "file-missing"
            hint = ("use a built-in handler (tensor, image_classifier, ...) or a path to a .py file"
                    if key == "model.handler" else "paths are relative to the scenario file")
            close = difflib.get_close_matches(path.name, sorted(BUILTIN_HANDLERS), n=1)
            if key == "model.handler" and close and path.suffix != ".py":
                hint = f"did you mean {close[0]!r}? (a built-in handler); else give a path to a .py file"
            shown = str(path) if str(path).isprintable() else repr(str(path))
            yield LintError(code, f"{key} does not exist: {shown}", where=where_in(spec, key), hint=hint)
        elif not path.is_file() and not key.startswith("model.extra_files"):  # extra files may be folders
            kind = "a directory, not a file" if path.is_dir() else "not a regular file"
            yield LintError("not-a-file", f"{key} is {kind}: {path}", where=where_in(spec, key),
                            hint="name the file itself (paths are relative to the scenario file)")
        elif key == "model.handler" and path.suffix != ".py":
            yield LintError("handler-not-python", f"model.handler is not a Python file (.py): {path}",
                            where=where_in(spec, key), hint="a custom handler is a .py module TorchServe imports")


@rule
def storage_uri_needs_directory(spec: ScenarioSpec) -> Iterator[LintError]:
    if not spec.storage.prefix:
        yield LintError(
            "storage-uri-no-dir", f"storageUri {spec.storage.uri} has no directory under the bucket",
            where=where_in(spec, "storage.uri"),
            hint=f"KServe needs gs://bucket/dir; use e.g. {spec.storage.uri}/{spec.model.name}")


_URL_MODEL = re.compile(r"^/v(?P<v>[12])/models/(?P<name>[^/:]+)(?P<rest>.*)$")


def _url_findings(spec: ScenarioSpec, key: str, path: str) -> Iterator[LintError]:
    if spec.serving.protocol == "grpc-v2":
        yield LintError("grpc-path", f"{key} {path!r} is a URL, but grpc-v2 requests are ModelInfer calls: "
                        "gRPC has no URL path", where=where_in(spec, key),
                        hint="drop the path (the model is model.name; the request body names the tensors)")
        return
    match = _URL_MODEL.fullmatch(path)  # fullmatch: a trailing newline is no URL either
    if not match:
        yield LintError("request-url", f"{key} {path!r} is not a KServe V1/V2 model URL",
                        where=where_in(spec, key),
                        hint=f"use /v1/models/{spec.model.name}:predict or /v2/models/{spec.model.name}/infer")
    elif match["name"] != spec.model.name:
        yield LintError("request-model-name",
                        f"{key} names model {match['name']!r}, the archive serves {spec.model.name!r}",
                        where=where_in(spec, key), hint="model.name is the URL's model name")
    elif spec.serving.protocol in ("v1", "v2") and f"v{match['v']}" != spec.serving.protocol:
        yield LintError("request-protocol", f"{key} {path!r} is a V{match['v']} URL but serving.protocol is "
                        f"{spec.serving.protocol}: the server speaks one protocol", where=where_in(spec, key),
                        hint="drop the path (the default fits the protocol) or fix serving.protocol")


def _body_findings(spec: ScenarioSpec, key: str, path: Path | None) -> Iterator[LintError]:
    """A request body file (a check's or the load's): JSON, for this model, in this protocol."""
    if path is None or not path.is_file():
        return  # missing_files names it
    try:
        body = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        yield LintError("request-json", f"{key} is not JSON ({exc}): {path}", where=where_in(spec, key),
                        hint="a request file holds the exact JSON body to POST")
        return
    if not isinstance(body, dict):
        return
    if body.get("model_name") not in (None, spec.model.name):
        yield LintError("request-model-name",
                        f"{key} body names model {body['model_name']!r}, the archive serves "
                        f"{spec.model.name!r}: {path}",
                        where=where_in(spec, key), hint="fix model_name in the request or model.name")
    protocol = "v2" if "inputs" in body else "v1" if "instances" in body else None
    # grpc-v2 sends V2 bodies: the harness turns each into a ModelInfer call (harness.grpc_client).
    speaks = "v2" if spec.serving.protocol == "grpc-v2" else spec.serving.protocol
    if protocol and protocol != speaks:
        yield LintError("request-protocol",
                        f"{key} is a {protocol.upper()} body but serving.protocol is {spec.serving.protocol}: {path}",
                        where=where_in(spec, key), hint="V1 bodies carry 'instances', V2 bodies 'inputs' (grpc-v2 too)")
    elif spec.serving.protocol == "grpc-v2":
        # Over REST the server would judge a malformed body; over gRPC it cannot even be encoded.
        from harness.grpc_client import model_infer_request  # imported here: only grpc-v2 needs grpc

        try:
            model_infer_request(body, spec.model.name)
        except ValueError as exc:
            yield LintError("grpc-request", f"{key} cannot be sent as a ModelInfer request: {exc}: {path}",
                            where=where_in(spec, key),
                            hint='each input needs "name", "shape", "datatype" and "data" that fit them')


@rule
def request_matches_model(spec: ScenarioSpec) -> Iterator[LintError]:
    for i, c in enumerate(spec.checks):
        if c.path:
            yield from _url_findings(spec, f"checks[{i}].path", c.path)
        yield from _body_findings(spec, f"checks[{i}].request", c.request)
    if spec.load is not None:
        if spec.load.path:
            yield from _url_findings(spec, "load.path", spec.load.path)
        for i, p in enumerate(spec.load.requests):
            yield from _body_findings(spec, f"load.requests[{i}]", p)


@rule
def expected_bodies_are_json(spec: ScenarioSpec) -> Iterator[LintError]:
    for i, c in enumerate(spec.checks):
        if c.expect is not None and c.expect.is_file():
            try:
                json.loads(c.expect.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                yield LintError("expect-json", f"checks[{i}].expect is not JSON ({exc}): {c.expect}",
                                where=where_in(spec, f"checks[{i}].expect"),
                                hint="it must hold the expected response body as JSON")


@rule
def load_needs_requests(spec: ScenarioSpec) -> Iterator[LintError]:
    if spec.load is not None and not spec.load.requests:
        yield LintError("load-no-requests", "load has no request bodies: the load phase would stop after deploying",
                        where=where_in(spec, "load.requests"), hint="list request JSON files under load.requests")


_CODE = re.compile(r'"([a-z][a-z0-9]*(?:-[a-z0-9]+)+)"')


@functools.cache
def lint_codes() -> frozenset[str]:
    """Every code a rule can report: the code-shaped string literals of the modules that register
    rules (their helpers included), so a new rule's code is known the moment it is written."""
    codes: set[str] = set()
    for module in {inspect.getmodule(r) for r in all_rules()}:
        try:
            codes.update(_CODE.findall(inspect.getsource(module)))
        except (OSError, TypeError):  # no source (a frozen build): every code passes
            return frozenset()
    return frozenset(codes)


@rule
def ignored_codes_exist(spec: ScenarioSpec) -> Iterator[LintError]:
    known = lint_codes() if spec.ignore_lints else frozenset()  # reads the rules' source: only when needed
    for i, code in enumerate(spec.ignore_lints):
        if known and code not in known:
            close = difflib.get_close_matches(code, sorted(known), n=1)
            yield LintError("unknown-lint-code", f"ignore_lints[{i}] {code!r} is not a lint code: it ignores nothing",
                            where=where_in(spec, f"ignore_lints[{i}]"),
                            hint=(f"did you mean {close[0]!r}? " if close else "") + "the codes are in the README")


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
                            where=where_in(spec, "kubernetes.annotations"),
                            hint=f'use {ISTIO_SIDECAR_ANNOTATION}: "false"')
