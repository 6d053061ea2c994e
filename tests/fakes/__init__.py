"""FAKES for tests: in-process stand-ins for systems CI cannot run (not for production use).

Flow: tests start a fake (a context manager) -> point the real client code at it -> drive or
inspect its state from Python. `FakeKubeApiServer` emulates the Kubernetes REST API (with its
`FakeKubeStore` as the Python-side API a fake controller uses).
"""
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.fakes.kube_errors import FakeKubeError
from tests.fakes.kube_resources import ResourceRegistry, ResourceType
from tests.fakes.kube_store import FakeKubeStore
from tests.fakes.kube_watch import Listener, StoreEvent, Subscription

__all__ = [
    "FakeKubeApiServer",
    "FakeKubeError",
    "FakeKubeStore",
    "Listener",
    "ResourceRegistry",
    "ResourceType",
    "StoreEvent",
    "Subscription",
]
