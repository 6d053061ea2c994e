"""The one list of targets: their names (for the CLI, the pytest plugin, the docs) and how each is made.

Flow: `make_target(name, settings)` returns an un-entered Target; the runner enters it first (a
cluster is created or reached and KServe checked), asks it where to upload, then deploys.
"""
from __future__ import annotations

from harness.errors import ConfigError
from harness.targets.base import Target
from harness.targets.local import LocalTarget
from harness.targets.settings import TargetSettings

LOCAL = "local"
CLUSTER_TARGETS = ("kind", "gke", "kubeconfig")
TARGET_NAMES = (LOCAL, *CLUSTER_TARGETS)


def make_target(name: str, settings: TargetSettings) -> Target:
    if name == LOCAL:
        return LocalTarget(settings)
    if name in CLUSTER_TARGETS:
        # Imported here only because the Kubernetes client costs ~0.7 s to import: a local run never pays it.
        from harness.targets.kubernetes import ClusterTarget

        return ClusterTarget(name, settings)
    raise ConfigError(f"unknown target {name!r}", hint=f"use one of {', '.join(TARGET_NAMES)}")
