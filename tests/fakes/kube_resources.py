"""Resource types known to the FAKE Kubernetes API server (its tiny "discovery" registry).

Flow: the store and the HTTP router turn "pods", "inferenceservices.serving.kserve.io" or a
URL's (group, version, plural) into a `ResourceType`; a type the registry has never seen is
accepted as a namespaced custom resource (the fake is lenient where a real cluster would need a
CRD), and it is remembered so discovery lists it afterwards.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ResourceType:
    """One REST resource of the FAKE API server.

    Args:
        group: API group, "" for the core group.
        version: API version served ("v1", "v1beta1").
        plural: resource name in URLs ("pods").
        kind: object kind ("Pod").
        namespaced: whether objects live in a namespace.
        status_subresource: whether `.../status` exists; when it does, writes to the main
            resource keep the stored status and writes to `/status` keep everything else.
        delete_returns_object: DELETE answers with the deleted object (pods, services, custom
            resources, namespaces) instead of a `Status` success (secrets, configmaps, events).
        unconditional_update: PUT without metadata.resourceVersion is allowed (true for core
            types; custom resources must carry one, as on a real cluster).
        short_names, categories: as a real server's discovery lists them; for KServe types they
            come from the CRD files when those are present (see kube_schema).
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = True
    delete_returns_object: bool = True
    unconditional_update: bool = True
    guessed: bool = False  # kind inferred from the plural; the first created object corrects it
    short_names: tuple[str, ...] = ()  # discovery's shortNames (`kubectl get ns`)
    categories: tuple[str, ...] = ()  # discovery's categories (`kubectl get all`)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: objects are shared across versions of one group, as on a real cluster."""
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _core(plural: str, kind: str, **kw) -> ResourceType:
    return ResourceType("", "v1", plural, kind, **kw)


_ALL = ("all",)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",)),
    _core("pods", "Pod", short_names=("po",), categories=_ALL),
    _core("services", "Service", short_names=("svc",), categories=_ALL),
    _core("endpoints", "Endpoints", status_subresource=False, delete_returns_object=False, short_names=("ep",)),
    _core("serviceaccounts", "ServiceAccount", status_subresource=False, short_names=("sa",)),
    _core("secrets", "Secret", status_subresource=False, delete_returns_object=False),
    _core("configmaps", "ConfigMap", status_subresource=False, delete_returns_object=False, short_names=("cm",)),
    _core("events", "Event", status_subresource=False, delete_returns_object=False, short_names=("ev",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",)),
    _core("nodes", "Node", namespaced=False, short_names=("no",)),
    ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=_ALL),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=_ALL),
    ResourceType("events.k8s.io", "v1", "events", "Event", status_subresource=False, short_names=("ev",)),
    ResourceType("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService",
                 unconditional_update=False),
    ResourceType("serving.kserve.io", "v1alpha1", "servingruntimes", "ServingRuntime",
                 unconditional_update=False),
    ResourceType("serving.kserve.io", "v1alpha1", "clusterservingruntimes", "ClusterServingRuntime",
                 namespaced=False, unconditional_update=False),
    ResourceType("serving.kserve.io", "v1alpha1", "clusterstoragecontainers", "ClusterStorageContainer",
                 namespaced=False, unconditional_update=False),
)


class ResourceRegistry:
    """Thread-safe lookup of resource types by name or by URL parts."""

    def __init__(self, types: tuple[ResourceType, ...] = BUILTIN_TYPES) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for t in types:
            self.register(t)

    def register(self, rtype: ResourceType) -> ResourceType:
        """Add (or replace) a resource type; returns it."""
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype
        return rtype

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type at this URL, or a lenient namespaced custom type for an unknown non-core one.

        Core ("") resources must be known: a real server answers 404 for `/api/v1/bogus`.
        Unknown custom types are taken as namespaced (most CRDs are); register a cluster-scoped
        one before use.
        """
        with self._lock:
            found = self._types.get((group, version, plural))
            if found is not None or not group:
                return found
            # Same group/plural under another version: serve the same objects (no conversion).
            for t in self._types.values():
                if t.group == group and t.plural == plural:
                    found = replace(t, version=version)
                    break
            if found is None:
                # The kind is a guess until an object tells; only list kinds depend on it.
                guess = plural[:1].upper() + plural[1:].removesuffix("s")
                found = ResourceType(group, version, plural, guess, unconditional_update=False, guessed=True)
            self._types[(group, version, plural)] = found
            return found

    def learn_kind(self, rtype: ResourceType, kind: str | None) -> ResourceType:
        """Replace a guessed kind by the one an object of that type declares."""
        if not rtype.guessed or not kind or kind == rtype.kind:
            return rtype
        with self._lock:
            for key, t in list(self._types.items()):
                if t.key == rtype.key:
                    self._types[key] = replace(t, kind=kind, guessed=False)
            return self._types[(rtype.group, rtype.version, rtype.plural)]

    def resolve(self, name: "str | ResourceType") -> ResourceType:
        """Resolve "pods", "inferenceservices.serving.kserve.io" or "deployments.v1.apps".

        Raises:
            KeyError: the name matches no known type.
        """
        if isinstance(name, ResourceType):
            return name
        plural, _, rest = name.partition(".")
        with self._lock:
            candidates = [t for t in self._types.values() if t.plural == plural]
        if rest:
            version, _, group = rest.partition(".")
            exact = [t for t in candidates if t.group == rest]
            if exact:
                candidates = exact
            else:
                candidates = [t for t in candidates if t.group == group and t.version == version]
        else:
            core = [t for t in candidates if t.group == ""]
            candidates = core or candidates
        if not candidates:
            raise KeyError(f"unknown resource {name!r}; register it with ResourceRegistry.register")
        return candidates[0]
