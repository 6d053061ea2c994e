"""The handler-side batch-size metric, through TorchServe's real metrics cache (ts.metrics)."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import yaml

from harness.runtimes.torchserve import batch_metric as bm

ts_cache = pytest.importorskip("ts.metrics.metric_cache_yaml_impl")


class Base:
    def handle(self, data, context):
        return [len(data)] * len(data)


class Handler(bm.BatchSizeMetricMixin, Base):
    pass


def _context(tmp_path, yaml_text):
    path = tmp_path / "metrics.yaml"
    path.write_text(yaml_text)
    cache = ts_cache.MetricsCacheYamlImpl(config_file_path=str(path))
    cache.initialize_cache()
    cache.model_name = "m"
    cache.set_request_ids({0: "r0", 1: "r1", 2: "r2"})
    return SimpleNamespace(metrics=cache, model_name="m")


def _metric_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("[METRICS]HarnessBatchSize")]


@pytest.mark.parametrize("declared", [True, False], ids=["metrics-config", "auto-detect"])
def test_mixin_emits_one_counter_per_batch_labelled_with_its_size(tmp_path, caplog, declared):
    text = bm.metrics_config_yaml()
    if not declared:  # TorchServe's default config; the frontend would auto-detect the metric
        doc = yaml.safe_load(text)
        doc["model_metrics"]["counter"] = [c for c in doc["model_metrics"]["counter"] if c["name"] != bm.BATCH_SIZE_METRIC]
        text = yaml.safe_dump(doc)
    ctx = _context(tmp_path, text)
    with caplog.at_level(logging.INFO):
        assert Handler().handle([{"body": 1}, {"body": 2}, {"body": 3}], ctx) == [3, 3, 3]
        Handler().handle([{"body": 1}], ctx)
    lines = _metric_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("[METRICS]HarnessBatchSize.Count:1|#ModelName:m,Level:Model,BatchSize:3|#type:COUNTER|")
    assert "BatchSize:1|" in lines[1]


def test_wrapper_for_function_handlers_and_classes(tmp_path, caplog):
    ctx = _context(tmp_path, bm.metrics_config_yaml())

    @bm.with_batch_size_metric
    def handle(data, context):
        return data

    Wrapped = bm.with_batch_size_metric(Base)
    with caplog.at_level(logging.INFO):
        assert handle([1, 2], ctx) == [1, 2]
        assert Wrapped().handle([1, 2, 3, 4], ctx) == [4, 4, 4, 4]
        assert handle(None, ctx) is None  # TorchServe's initial call without data
    assert ["BatchSize:2|" in lines or "BatchSize:4|" in lines for lines in _metric_lines(caplog)] == [True, True]


def test_metrics_config_declares_the_counter_with_the_dimensions_in_order():
    doc = yaml.safe_load(bm.metrics_config_yaml())
    [entry] = [c for c in doc["model_metrics"]["counter"] if c["name"] == bm.BATCH_SIZE_METRIC]
    assert entry["dimensions"] == ["ModelName", "Level", "BatchSize"]
    # TorchServe's own metrics are kept (the queue latency counter the load report reads)
    assert any(c["name"] == "ts_queue_latency_microseconds" for c in doc["ts_metrics"]["counter"])


def test_a_context_without_metrics_does_not_break_inference():
    assert Handler().handle([1], SimpleNamespace()) == [1]


def test_module_imports_nothing_from_the_harness():
    import ast

    tree = ast.parse(bm.source_path().read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith("harness") for m in imported)
