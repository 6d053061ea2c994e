"""HTTP surface of the FAKE Kubernetes API server (aiohttp handlers over a FakeKubeStore).

Flow: one catch-all route -> `parse_path` turns `/api/v1/...` or `/apis/G/V/...` into a
`Target` (resource type, namespace, name, subresource) -> the handler for the HTTP verb calls
the store -> objects come back as JSON, failures as `kind: Status` bodies with the real code.
Watches stream newline-delimited JSON events over chunked transfer; pod logs are text/plain
(optionally followed); port-forward upgrades to a websocket (see kube_portforward). For kubectl:
discovery lists shortNames/categories, `/openapi/v3` and `fieldValidation=Strict` come from
kube_schema, and pod lists are served as Tables when asked for (kube_tables).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from tests.fakes import kube_errors as errors
from tests.fakes import kube_schema, kube_tables
from tests.fakes.kube_errors import FakeKubeError
from tests.fakes.kube_logs import render
from tests.fakes.kube_patch import MERGE, patch_type_for
from tests.fakes.kube_exec import handle_exec
from tests.fakes.kube_portforward import handle_portforward
from tests.fakes.kube_resources import ResourceType
from tests.fakes.kube_selectors import Selector
from tests.fakes.kube_store import FakeKubeStore
from tests.fakes.kube_watch import WatchFilter

log = logging.getLogger(__name__)

VERSION_INFO = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "gitCommit": "fake",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0",
    "compiler": "gc", "platform": "linux/amd64",
}
_IDLE_CHECK_S = 0.5  # how often an idle stream checks for a gone client or a stopping server
_LOG_POLL_S = 0.05


@dataclass
class Target:
    """What a resource URL addresses."""

    rtype: ResourceType
    namespace: str | None  # None: cluster-scoped, or all namespaces for a collection
    name: str | None
    subresource: str | None
    watch_path: bool = False  # the deprecated /watch/ URL form


class StreamRegistry:
    """Open long-lived responses, so stopping the server can end them at once."""

    def __init__(self) -> None:
        self.closing = False
        self.queues: set[asyncio.Queue] = set()
        self.websockets: set[web.WebSocketResponse] = set()

    async def close_all(self) -> None:
        self.closing = True
        for q in list(self.queues):
            q.put_nowait(None)
        for ws in list(self.websockets):
            await ws.close()

    @contextlib.asynccontextmanager
    async def websocket(self, request: web.Request, protocols: tuple[str, ...]):
        """Upgrade `request` to a websocket that stopping the server closes (400 when it asks for none)."""
        ws = web.WebSocketResponse(protocols=protocols, timeout=2.0, compress=False, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            raise errors.bad_request("Upgrade request required")
        await ws.prepare(request)
        self.websockets.add(ws)
        try:
            yield ws
        finally:
            self.websockets.discard(ws)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {raw!r}") from None


def _strict(request: web.Request) -> bool:
    # kubectl sends fieldValidation=Strict when the OpenAPI document offers the parameter.
    return request.query.get("fieldValidation", "").lower() == "strict"


def _is_builtin(rtype: ResourceType) -> bool:
    # Real list responses omit per-item kind/apiVersion for built-in types, keep them for CRs.
    return "." not in rtype.group or rtype.group.endswith(".k8s.io")


class FakeKubeHttpApi:
    """aiohttp application of the FAKE API server; `app` is what the runner serves."""

    def __init__(self, store: FakeKubeStore, address: tuple[str, int]) -> None:
        self.store = store
        self.address = address
        self.streams = StreamRegistry()
        self.app = web.Application(client_max_size=32 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)

    # -------------------------------------------------------------- dispatch

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except FakeKubeError as e:
            return web.json_response(e.status(), status=e.code)
        except web.HTTPException:
            raise
        except Exception as e:  # a fake's bug should read as a 500 Status, not a dropped connection
            log.exception("FAKE API server failed on %s %s", request.method, request.path_qs)
            error = FakeKubeError(500, "InternalError", f"FAKE API server error: {e!r}")
            return web.json_response(error.status(), status=500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        segments = [s for s in path.split("/") if s]
        if path == "/version":
            return web.json_response(VERSION_INFO)
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/api":
            return web.json_response(self._api_versions())
        if path == "/apis":
            return web.json_response(self._group_list())
        if path == "/openapi/v3":
            return web.json_response(kube_schema.openapi_index(self.store.registry.all()))
        if segments[:2] == ["openapi", "v3"]:
            return web.json_response(self._openapi(segments[2:]))
        if segments[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", segments[2:]
        elif segments[:1] == ["apis"] and len(segments) == 2:
            return web.json_response(self._group(segments[1]))
        elif segments[:1] == ["apis"] and len(segments) >= 3:
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            raise errors.page_not_found()
        if not rest:
            return web.json_response(self._resource_list(group, version))
        target = self._parse_resource(group, version, rest)
        return await self._handle(request, target)

    def _parse_resource(self, group: str, version: str, rest: list[str]) -> Target:
        watch_path = rest[0] == "watch"
        if watch_path:
            rest = rest[1:]
        if not rest:
            raise errors.page_not_found()
        namespaced_path = rest[0] == "namespaces" and len(rest) >= 3 and not (
            len(rest) == 3 and rest[2] in ("status", "finalize"))
        namespace = rest[1] if namespaced_path else None
        plural, tail = (rest[2], rest[3:]) if namespaced_path else (rest[0], rest[1:])
        rtype = self.store.registry.lookup(group, version, plural)
        if rtype is None or len(tail) > 2 or (namespaced_path and not rtype.namespaced):
            raise errors.page_not_found()
        if rtype.namespaced and not namespaced_path and tail:
            raise errors.page_not_found()  # a namespaced object needs its namespace in the URL
        return Target(rtype, namespace, tail[0] if tail else None, tail[1] if len(tail) > 1 else None,
                      watch_path)

    async def _handle(self, request: web.Request, t: Target) -> web.StreamResponse:
        method = request.method
        if t.subresource == "log" and t.rtype.key == ("", "pods") and method == "GET":
            return await self._pod_log(request, t)
        if t.subresource == "portforward" and t.rtype.key == ("", "pods") and method == "GET":
            return await handle_portforward(request, self.store, t.namespace or "", t.name or "",
                                            self.streams)
        if t.subresource == "exec" and t.rtype.key == ("", "pods") and method in ("GET", "POST"):
            return await handle_exec(request, self.store, t.namespace or "", t.name or "", self.streams)
        if t.subresource not in (None, "status"):
            raise errors.page_not_found()
        if t.subresource == "status" and not t.rtype.status_subresource:
            raise errors.page_not_found()
        if t.name is None:
            if method == "GET":
                if t.watch_path or _flag(request, "watch"):
                    return await self._watch(request, t)
                listed = self._list(request, t)
                if t.rtype.key == ("", "pods") and kube_tables.wants_table(request.headers.get("Accept")):
                    return web.json_response(kube_tables.pod_table(listed))
                return web.json_response(listed)
            if method == "POST":
                return await self._create(request, t)
            if method == "DELETE":
                return await self._delete_collection(request, t)
            raise errors.method_not_allowed()
        if method == "GET":
            if t.watch_path:
                return await self._watch(request, t, field_name=t.name)
            obj = self.store.get(t.rtype, t.name, t.namespace)
            if t.rtype.key == ("", "pods") and not t.subresource and kube_tables.wants_table(request.headers.get("Accept")):
                return web.json_response(kube_tables.pod_table({"metadata": {}, "items": [obj]}))
            return web.json_response(obj)
        if method == "PUT":
            return await self._update(request, t)
        if method == "PATCH":
            return await self._patch(request, t)
        if method == "DELETE":
            return await self._delete(request, t)
        raise errors.method_not_allowed()

    # ------------------------------------------------------------ discovery

    def _api_versions(self) -> dict:
        host, port = self.address
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}]}

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for t in self.store.registry.all():
            if t.group and t.version not in groups.setdefault(t.group, []):
                groups[t.group].append(t.version)
        return groups

    def _group(self, name: str) -> dict:
        versions = self._groups().get(name)
        if not versions:
            raise errors.page_not_found()
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": entries,
                "preferredVersion": entries[0]}

    def _group_list(self) -> dict:
        groups = [self._group(name) for name in sorted(self._groups())]
        for g in groups:
            g.pop("kind"), g.pop("apiVersion")
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict:
        types = [t for t in self.store.registry.all() if (t.group, t.version) == (group, version)]
        if not types:
            raise errors.page_not_found()
        resources = []
        for t in types:
            base = {"namespaced": t.namespaced, "kind": t.kind, "singularName": t.kind.lower()}
            verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            if t.key == ("", "namespaces"):
                verbs.remove("deletecollection")  # as the real server lists namespaces
            short_names, categories = kube_schema.names(t)
            extra = {"shortNames": short_names} if short_names else {}
            extra |= {"categories": categories} if categories else {}
            resources.append({"name": t.plural, "verbs": verbs, **base, **extra})
            if t.status_subresource:
                resources.append({"name": f"{t.plural}/status", "verbs": ["get", "patch", "update"], **base})
            if t.key == ("", "pods"):
                resources.append({"name": "pods/log", "verbs": ["get"], **base})
                resources.append({"name": "pods/portforward", "verbs": ["create", "get"],
                                  **base, "kind": "PodPortForwardOptions"})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _openapi(self, gv_path: list[str]) -> dict:
        if gv_path[:1] == ["api"] and len(gv_path) == 2:
            group, version = "", gv_path[1]
        elif gv_path[:1] == ["apis"] and len(gv_path) == 3:
            group, version = gv_path[1], gv_path[2]
        else:
            raise errors.page_not_found()
        types = [t for t in self.store.registry.all() if (t.group, t.version) == (group, version)]
        if not types:
            raise errors.page_not_found()
        return kube_schema.openapi_document(types, group, version)

    # -------------------------------------------------------------- verbs

    async def _body(self, request: web.Request, *, yaml_ok: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            if yaml_ok:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"the request body could not be decoded: {e}") from None

    def _list(self, request: web.Request, t: Target) -> dict:
        items, rv = self.store.list_with_version(
            t.rtype, t.namespace, request.query.get("labelSelector"), request.query.get("fieldSelector"))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        start = request.query.get("continue")
        if start:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(start.encode())))
            except ValueError:
                raise errors.bad_request("invalid continue token") from None
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        limit = _int(request, "limit")
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = json.dumps([last.get("namespace", ""), last["name"]]).encode()
            meta["continue"] = base64.urlsafe_b64encode(token).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if _is_builtin(t.rtype):
            for item in items:
                item.pop("kind", None), item.pop("apiVersion", None)
        return {"kind": f"{t.rtype.kind}List", "apiVersion": t.rtype.api_version, "metadata": meta, "items": items}

    async def _create(self, request: web.Request, t: Target) -> web.Response:
        if t.rtype.namespaced and t.namespace is None:
            raise errors.method_not_allowed()
        if t.subresource:
            raise errors.method_not_allowed()
        body = await self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        if _strict(request):
            kube_schema.check_strict(t.rtype, body)
        created = self.store.create(t.rtype, body, t.namespace, dry_run=bool(request.query.get("dryRun")))
        return web.json_response(created, status=201)

    async def _update(self, request: web.Request, t: Target) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != t.name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({t.name})")
        if t.namespace and meta.get("namespace") and meta["namespace"] != t.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["name"] = t.name
        if _strict(request):
            kube_schema.check_strict(t.rtype, body)
        updated = self.store.update(t.rtype, body, t.namespace, subresource=t.subresource,
                                    dry_run=bool(request.query.get("dryRun")))
        return web.json_response(updated)

    async def _patch(self, request: web.Request, t: Target) -> web.Response:
        content_type = request.headers.get("Content-Type")
        patch_type = patch_type_for(content_type)
        is_apply = (content_type or "").startswith("application/apply-patch")
        body = await self._body(request, yaml_ok=is_apply)
        if body is None:
            raise errors.bad_request("the patch body is empty")
        if _strict(request) and patch_type == MERGE:  # JSON patches name paths, not fields
            kube_schema.check_strict(t.rtype, body, patch=True)
        patched = self.store.patch(t.rtype, t.name or "", body, t.namespace, patch_type=patch_type,
                                   subresource=t.subresource, dry_run=bool(request.query.get("dryRun")),
                                   create_missing=is_apply)
        return web.json_response(patched)

    async def _delete_options(self, request: web.Request) -> dict:
        body = await self._body(request) or {}
        if not isinstance(body, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        for key in ("propagationPolicy", "dryRun"):
            if key in request.query and key not in body:
                body[key] = request.query[key]
        return body

    async def _delete(self, request: web.Request, t: Target) -> web.Response:
        if t.subresource:
            raise errors.method_not_allowed()
        options = await self._delete_options(request)
        gone = self.store.delete(t.rtype, t.name or "", t.namespace, preconditions=options.get("preconditions"),
                                 propagation_policy=options.get("propagationPolicy"),
                                 dry_run=bool(options.get("dryRun")))
        still_there = bool(gone["metadata"].get("deletionTimestamp"))
        if t.rtype.delete_returns_object or still_there:
            return web.json_response(gone)
        details = {"name": t.name, "kind": t.rtype.plural, "uid": gone["metadata"].get("uid")}
        if t.rtype.group:
            details["group"] = t.rtype.group
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "details": details})

    async def _delete_collection(self, request: web.Request, t: Target) -> web.Response:
        await self._delete_options(request)
        items = self.store.delete_collection(t.rtype, t.namespace, request.query.get("labelSelector"),
                                             request.query.get("fieldSelector"))
        return web.json_response({"kind": f"{t.rtype.kind}List", "apiVersion": t.rtype.api_version,
                                  "metadata": {"resourceVersion": str(self.store.resource_version)},
                                  "items": items})

    # ------------------------------------------------------------ streaming

    async def _watch(self, request: web.Request, t: Target, field_name: str | None = None) -> web.StreamResponse:
        field_selector = request.query.get("fieldSelector")
        if field_name:
            field_selector = ",".join(filter(None, [field_selector, f"metadata.name={field_name}"]))
        watch_filter = WatchFilter(t.rtype.key, t.namespace,
                                   Selector(request.query.get("labelSelector"), field_selector))
        timeout = _int(request, "timeoutSeconds")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def sink(event) -> None:  # runs under the store lock, maybe on another thread
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:
                pass  # the server's loop is gone; a store write must not fail because of it

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            initial, unsubscribe = self.store.open_watch(watch_filter, request.query.get("resourceVersion"), sink)
        except FakeKubeError as e:
            # A real server answers 200 and reports an expired resourceVersion as an ERROR event.
            await response.prepare(request)
            await response.write(json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
            await response.write_eof()
            return response
        self.streams.queues.add(queue)
        try:
            await response.prepare(request)
            for event in initial:
                await response.write(json.dumps(event.to_watch_json()).encode() + b"\n")
            deadline = loop.time() + timeout if timeout else None
            while not self.streams.closing:
                wait = _IDLE_CHECK_S if deadline is None else min(_IDLE_CHECK_S, deadline - loop.time())
                if wait <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), wait)
                except asyncio.TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    continue
                if event is None:
                    break
                seen = watch_filter.translate(event)
                if seen is not None:
                    await response.write(json.dumps(seen.to_watch_json()).encode() + b"\n")
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away; nothing to tell it
        finally:
            unsubscribe()
            self.streams.queues.discard(queue)
        return response

    async def _pod_log(self, request: web.Request, t: Target) -> web.StreamResponse:
        ns, pod = t.namespace or "", t.name or ""
        options = dict(previous=_flag(request, "previous"), tail_lines=_int(request, "tailLines"),
                       since_seconds=_int(request, "sinceSeconds"), timestamps=_flag(request, "timestamps"),
                       limit_bytes=_int(request, "limitBytes"))
        container = request.query.get("container")
        text = self.store.read_log(ns, pod, container, **options)
        if not _flag(request, "follow") or options["previous"]:
            return web.Response(text=text, content_type="text/plain")
        container = container or self.store.get("pods", pod, ns)["spec"]["containers"][0]["name"]
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        # The first chunk and the count of lines it covers come from one snapshot: a line appended
        # while the first chunk is on the wire must be sent next, not skipped.
        lines, alive = self.store.log_snapshot(ns, pod, container)
        text = render(lines, tail_lines=options["tail_lines"], since_seconds=options["since_seconds"],
                      timestamps=options["timestamps"], limit_bytes=options["limit_bytes"])
        sent = len(lines)
        try:
            await response.write(text.encode())
            while alive and not self.streams.closing:
                if request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(_LOG_POLL_S)
                lines, alive = self.store.log_snapshot(ns, pod, container)
                if len(lines) < sent:  # rotated: the container restarted, this stream is over
                    break
                if lines[sent:]:
                    await response.write(render(lines[sent:], timestamps=options["timestamps"]).encode())
                sent = len(lines)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response
