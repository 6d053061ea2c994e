"""PATCH bodies for the FAKE Kubernetes API server.

Flow: the HTTP layer maps the request Content-Type to a patch type; `apply_patch` returns a
new object (the input is never mutated). Strategic merge and server-side apply are treated as
JSON merge patch (RFC 7386): lists are replaced, not merged by key. That is the documented
simplification of this fake; a client that relies on list merging by key sees the difference.
JSON patch (RFC 6902) supports add, remove, replace, test, move and copy.
"""
from __future__ import annotations

import copy
from typing import Any

from tests.fakes.kube_errors import FakeKubeError, bad_request, unsupported_media_type

MERGE = "merge"
JSON = "json"

CONTENT_TYPES = {
    "application/merge-patch+json": MERGE,
    "application/strategic-merge-patch+json": MERGE,
    "application/apply-patch+yaml": MERGE,
    "application/json-patch+json": JSON,
}


def patch_type_for(content_type: str | None) -> str:
    """The patch type for a request Content-Type (415 when unknown, as a real server)."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base not in CONTENT_TYPES:
        raise unsupported_media_type(base)
    return CONTENT_TYPES[base]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: null deletes a key, objects merge, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"json patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], path: str) -> tuple[Any, str]:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, list):
            current = current[_index(token, current, path, allow_end=False)]
        elif isinstance(current, dict) and token in current:
            current = current[token]
        else:
            raise FakeKubeError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")
    return current, tokens[-1]


def _index(token: str, seq: list, path: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(seq)
    try:
        index = int(token)
    except ValueError:
        raise FakeKubeError(422, "Invalid", f"jsonpatch: bad array index {token!r} in {path!r}") from None
    limit = len(seq) if allow_end else len(seq) - 1
    if not 0 <= index <= limit:
        raise FakeKubeError(422, "Invalid", f"jsonpatch: array index {index} out of range in {path!r}")
    return index


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, path)
    if isinstance(parent, list):
        return parent[_index(last, parent, path, allow_end=False)]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    raise FakeKubeError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, _pointer(path), path)
    if isinstance(parent, list):
        return parent.pop(_index(last, parent, path, allow_end=False))
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    raise FakeKubeError(422, "Invalid", f"jsonpatch: cannot remove missing path {path!r}")


def _add(doc: Any, path: str, value: Any, *, replace: bool) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, path)
    if isinstance(parent, list):
        if replace:
            parent[_index(last, parent, path, allow_end=False)] = value
        else:
            parent.insert(_index(last, parent, path, allow_end=True), value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise FakeKubeError(422, "Invalid", f"jsonpatch: cannot replace missing path {path!r}")
        parent[last] = value
    else:
        raise FakeKubeError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch over a deep copy of `target`."""
    if not isinstance(operations, list):
        raise bad_request("json patch body must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=False)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise FakeKubeError(422, "Invalid", f"jsonpatch: test operation failed at {path!r}")
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value, replace=False)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])), replace=False)
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc


def apply_patch(target: dict, patch: Any, patch_type: str) -> dict:
    """Apply a `MERGE` or `JSON` patch to a copy of `target` and return the result."""
    result = merge_patch(target, patch) if patch_type == MERGE else json_patch(target, patch)
    if not isinstance(result, dict):
        raise bad_request("patch result is not an object")
    return result
