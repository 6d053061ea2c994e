"""Handler-side batch-size metric: makes TorchServe's dynamic batching visible on /metrics.

Flow: inside the TorchServe worker, every call of a handler's `handle(data, context)` is one
batch; the mixin (or wrapper) below counts it in the counter `HarnessBatchSize` with the label
`BatchSize` = len(data) through TorchServe's `context.metrics`. The frontend exposes it on the
Prometheus endpoint as `HarnessBatchSize_total{ModelName=..,Level="Model",BatchSize="4",Hostname=..}`
and harness/runtimes/torchserve/metrics.py turns before/after deltas into a batch-size histogram.

This file imports only the standard library at import time (TorchServe's own modules lazily), so
it can be shipped inside a .mar as an extra file (`source_path()`) and imported by any handler:

    # class-based handler: put the mixin first
    from batch_metric import BatchSizeMetricMixin
    from ts.torch_handler.base_handler import BaseHandler

    class MyHandler(BatchSizeMetricMixin, BaseHandler):
        ...

    # module-level handler function
    from batch_metric import with_batch_size_metric

    @with_batch_size_metric
    def handle(data, context): ...

With metrics_mode=prometheus, TorchServe only exposes backend metrics it knows: either turn on
`model_metrics_auto_detect=true` in config.properties (`AUTO_DETECT_PROPERTIES`), or give it a
metrics config that declares the counter (`metrics_config_yaml()`, then `metrics_config=<path>`).
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Callable

BATCH_SIZE_METRIC = "HarnessBatchSize"
BATCH_SIZE_LABEL = "BatchSize"
# Order matters: TorchServe matches dimension values to the declared names by position.
DIMENSIONS = ("ModelName", "Level", BATCH_SIZE_LABEL)

# config.properties entries that make TorchServe expose the counter without a metrics yaml.
AUTO_DETECT_PROPERTIES = {"metrics_mode": "prometheus", "model_metrics_auto_detect": "true"}

logger = logging.getLogger(__name__)
_warned = False


def record_batch_size(context: Any, size: int) -> None:
    """Count one batch of `size` requests. Never raises: a metric must not fail inference."""
    global _warned
    try:
        metrics = getattr(context, "metrics", None)
        if metrics is None or size <= 0:
            return
        from ts.metrics.dimension import Dimension  # TorchServe's, present in every worker
        from ts.metrics.metric_type_enum import MetricTypes

        model = getattr(context, "model_name", None) or "unknown"
        dims = [Dimension("ModelName", model), Dimension("Level", "Model"), Dimension(BATCH_SIZE_LABEL, str(int(size)))]
        metrics.add_metric(BATCH_SIZE_METRIC, 1, "Count", None, dims, MetricTypes.COUNTER)
    except Exception as exc:  # pragma: no cover - depends on the TorchServe version in the worker
        if not _warned:
            _warned = True
            logger.warning("batch-size metric not recorded: %s", exc)


def batch_len(data: Any, context: Any = None) -> int:
    """Requests in this batch. TorchServe's own list of request ids is the truth: behind a KServe
    envelope `data` is the first request's instances, not the batch."""
    ids = getattr(context, "request_ids", None)
    if ids:
        return len(ids)
    try:
        return len(data)
    except TypeError:
        return 1


class BatchSizeMetricMixin:
    """Put before the handler base class; counts each batch, then runs the real `handle`."""

    def handle(self, data: Any, context: Any):
        record_batch_size(context, batch_len(data, context))
        return super().handle(data, context)  # type: ignore[misc]


def with_batch_size_metric(handle: Callable) -> Callable:
    """Wrap a module-level `handle(data, context)` (or a handler class) to count batches."""
    if isinstance(handle, type):
        return type(handle.__name__, (BatchSizeMetricMixin, handle), {"__module__": handle.__module__})

    @functools.wraps(handle)
    def wrapper(data: Any, context: Any):
        if data is not None:
            record_batch_size(context, batch_len(data, context))
        return handle(data, context)

    return wrapper


def source_path() -> Path:
    """This file, for `torch-model-archiver --extra-files` (it has no harness imports)."""
    return Path(__file__).resolve()


def metrics_config_yaml(base: str | Path | None = None) -> str:
    """TorchServe's metrics config (the installed default, or `base`) plus the batch-size counter.

    Write it next to config.properties and point `metrics_config=` at it.
    """
    import yaml  # TorchServe depends on PyYAML

    if base is None:
        import importlib.util

        spec = importlib.util.find_spec("ts")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("TorchServe (the `ts` package) is not installed: pass base=<metrics.yaml>")
        base = Path(list(spec.submodule_search_locations)[0]) / "configs" / "metrics.yaml"
    doc = yaml.safe_load(Path(base).read_text()) or {}
    model_metrics = doc.setdefault("model_metrics", {}) or {}
    doc["model_metrics"] = model_metrics
    counters = model_metrics.setdefault("counter", []) or []
    model_metrics["counter"] = counters
    if not any(c.get("name") == BATCH_SIZE_METRIC for c in counters):
        counters.append({"name": BATCH_SIZE_METRIC, "unit": "Count", "dimensions": list(DIMENSIONS)})
    return yaml.safe_dump(doc, sort_keys=False)
