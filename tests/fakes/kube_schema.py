"""Schemas of the FAKE Kubernetes API server: CRDs, OpenAPI v3 documents, strict field validation.

Flow: the real KServe CRDs are read at runtime from ../shared/kserve (never copied into this
repo; parsed once per process, ~1 s) -> discovery takes shortNames/categories from them ->
`/openapi/v3` lists one document per group-version, whose PATCH operations declare the
`fieldValidation` parameter (that is how kubectl decides to leave validation to the server)
and whose components carry the CRD schemas -> a write with `fieldValidation=Strict` is checked
against the schema and refused like a real server ("strict decoding error: unknown field ...").
Without the CRD files every type is permissive (no unknown fields, no shortNames from a CRD).
Built-in kinds get no component schema: kubectl then computes strategic merge patches from its
compiled-in types, as it does when a server's document lacks a kind.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.kube_errors import FakeKubeError
from tests.fakes.kube_resources import ResourceType

CRD_DIR = Path(__file__).resolve().parents[3] / "shared" / "kserve"

# metav1.ObjectMeta's JSON fields: a CRD schema says only `metadata: {type: object}`, but a real
# server decodes metadata strictly as ObjectMeta.
_OBJECT_META = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})


@lru_cache(maxsize=None)
def crds(directory: Path = CRD_DIR) -> dict[tuple[str, str], dict]:
    """The CustomResourceDefinitions found in `directory`, by (group, plural); {} if none."""
    found: dict[tuple[str, str], dict] = {}
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        with path.open() as f:
            for doc in yaml.load_all(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc["spec"]
                    found[(spec["group"], spec["names"]["plural"])] = spec
    return found


def names(rtype: ResourceType) -> tuple[list[str], list[str]]:
    """Discovery's (shortNames, categories) for a type: its CRD's when there is one."""
    crd = crds().get(rtype.key)
    if crd is None:
        return list(rtype.short_names), list(rtype.categories)
    return list(crd["names"].get("shortNames") or []), list(crd["names"].get("categories") or [])


def schema_for(rtype: ResourceType) -> dict | None:
    """The openAPIV3Schema of this type's CRD version, or None (permissive)."""
    crd = crds().get(rtype.key)
    for version in (crd or {}).get("versions") or []:
        if version.get("name") == rtype.version:
            return (version.get("schema") or {}).get("openAPIV3Schema")
    return None


def unknown_fields(schema: dict, value: Any, path: str = "") -> list[str]:
    """Paths of fields in `value` the structural `schema` does not declare (kube's notation)."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [f for i, item in enumerate(value) for f in unknown_fields(schema["items"], item, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    found: list[str] = []
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if item is None:
            continue  # a merge patch's deletion
        if properties is not None and key in properties:
            found += unknown_fields(properties[key], item, where)
        elif isinstance(extra, dict):
            found += unknown_fields(extra, item, where)
        elif properties is not None and not extra and not schema.get("x-kubernetes-preserve-unknown-fields"):
            found.append(where)
    return found


def check_strict(rtype: ResourceType, body: Any, *, patch: bool = False) -> None:
    """Refuse `body` (an object, or a merge patch) with unknown fields, as fieldValidation=Strict.

    Raises:
        FakeKubeError: 400 BadRequest with the real server's wording.
    """
    schema = schema_for(rtype)
    if schema is None or not isinstance(body, dict):
        return
    unknown = unknown_fields(schema, {k: v for k, v in body.items() if k != "metadata"})
    unknown += [f"metadata.{k}" for k in (body.get("metadata") or {}) if k not in _OBJECT_META]
    if not unknown:
        return
    message = "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in sorted(unknown))
    if not patch:
        message = f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: {message}'
    raise FakeKubeError(400, "BadRequest", message)


# ------------------------------------------------------------------- OpenAPI v3

def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rtype: ResourceType) -> str:
    # The real server names CRD schemas by reversed group, e.g. ai.kserve.serving.v1beta1.InferenceService.
    return ".".join(reversed(rtype.group.split("."))) + f".{rtype.version}.{rtype.kind}"


def openapi_document(types: list[ResourceType], group: str, version: str) -> dict:
    """The OpenAPI v3 document of one group-version (paths with PATCH; CRD schemas)."""
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for t in types:
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        prefix = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if t.namespaced else "")
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        operation = {"operationId": f"patch{t.kind}", "x-kubernetes-action": "patch",
                     "x-kubernetes-group-version-kind": gvk, "parameters": params,
                     "responses": {"200": {"description": "OK"}}}
        paths[f"{prefix}/{t.plural}/{{name}}"] = {"patch": operation}
        schema = schema_for(t)
        if schema is not None:
            schemas[_schema_name(t)] = {**schema, "x-kubernetes-group-version-kind": [gvk]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.31.0-fake"},
            "paths": paths, "components": {"schemas": schemas}}


def openapi_index(types: list[ResourceType]) -> dict:
    """`/openapi/v3`: one entry per group-version; the hash changes when its document does.

    kubectl caches documents by this URL, so the hash covers what a document is built from (the
    types; the CRD schemas are fixed for the process) without building the large documents.
    """
    paths = {}
    for group, version in sorted({(t.group, t.version) for t in types}):
        members = sorted(repr(t) for t in types if (t.group, t.version) == (group, version))
        digest = hashlib.sha256(json.dumps([members, bool(crds())]).encode()).hexdigest()[:32].upper()
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}
