"""Names and labels of what a run creates in a cluster.

Flow: the scenario name becomes the InferenceService name (a DNS-1035 label, which KServe
requires because the name ends up in Service names); the run id becomes a label value on
every namespace, so cleanup and the orphan sweep find them by label alone.
"""
from __future__ import annotations

import hashlib
import re

RUN_ID_LABEL = "kserve-harness/run-id"
SCENARIO_LABEL = "kserve-harness/scenario"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kserve-harness"
# Set on a namespace kept by --keep-on-fail: the orphan sweep leaves it for a person to read.
KEPT_LABEL = "kserve-harness/kept"
# KServe labels every predictor pod with its InferenceService's name.
ISVC_POD_LABEL = "serving.kserve.io/inferenceservice"

# KServe derives "<name>-predictor" (and, serverless, "<name>-predictor-00001-deployment-...")
# from the InferenceService name; 45 keeps every derived name within 63 characters.
MAX_ISVC_NAME = 45
MAX_NAMESPACE = 63


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def dns_label(text: str, *, max_len: int = 63, prefix: str = "x") -> str:
    """`text` as a DNS-1035 label: lower case, [a-z0-9-], starts with a letter, ends alphanumeric.

    A name that had to be shortened gets a short hash of the original so two long names that share
    a prefix still differ.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"{prefix}-{name}" if name else prefix
    if len(name) > max_len:
        name = f"{name[:max_len - 7].rstrip('-')}-{_short_hash(text)}"
    return name


def isvc_name(scenario_name: str) -> str:
    """The InferenceService name for a scenario (DNS-1035, short enough for KServe's derived names)."""
    return dns_label(scenario_name, max_len=MAX_ISVC_NAME, prefix="m")


def label_value(text: str) -> str:
    """`text` as a label value: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    if len(value) > 63:
        value = f"{value[:56].rstrip('-_.')}-{_short_hash(text)}"
    return value or "none"


def namespace_name(run_id: str, scenario_name: str) -> str:
    """The namespace of one scenario of one run: kh-<run id>-<scenario>, at most 63 characters."""
    return dns_label(f"kh-{run_id}-{scenario_name}", max_len=MAX_NAMESPACE, prefix="kh")


def run_labels(run_id: str, scenario_name: str | None = None) -> dict[str, str]:
    """Labels for everything a run creates."""
    labels = {RUN_ID_LABEL: label_value(run_id), MANAGED_BY_LABEL: MANAGED_BY}
    if scenario_name:
        labels[SCENARIO_LABEL] = label_value(scenario_name)
    return labels
