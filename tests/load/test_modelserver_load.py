"""The load phase on KServe's Python ModelServer (runtime: kserve): its server-side figures.

The ModelServer has no ts_ counters, no management API and no batching: the step's server window
comes from its request_<stage>_seconds histograms (harness.load.server_metrics), the summary and
report.html show the stage latencies, and nothing is described (so no description error).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.load.server_metrics import parse_prometheus, snapshot_from_samples, window
from harness.load.summary import render_load_markdown
from harness.report.html import load_html
from tests.helpers import FIXTURES, processes_touching
from tests.report.factory import make_load

DATA = Path(__file__).parent / "data"


def _modelserver_load(tmp_path: Path):
    """A LoadResult shaped like a ModelServer's: no description, the window from the real captures."""
    load = make_load(np.random.default_rng(7), tmp_path)
    snaps = [snapshot_from_samples(parse_prometheus((DATA / name).read_text()), "digits", t)
             for name, t in (("modelserver_metrics.txt", 0.0), ("modelserver_metrics_later.txt", 10.0))]
    srv = load.steps[0].server
    srv.description, srv.expected_batch_size, srv.batch_metric_seen = None, None, False
    srv.window, srv.series = window(*snaps), []
    return load


def test_summary_and_report_show_the_stage_latencies(tmp_path):
    load = _modelserver_load(tmp_path)
    means = load.steps[0].server.window.stage_latency_mean_ms
    md = "\n".join(render_load_markdown([load]))
    assert "Server stages (KServe ModelServer" in md
    assert "| step | preprocess ms | predict ms | postprocess ms | request ms |" in md
    assert (f"| users=4 | {means['preprocess']:.3f} | {means['predict']:.3f} | {means['postprocess']:.3f} | "
            f"{means['request']:.3f} |") in md
    html = load_html([load], [])
    assert "Server (KServe ModelServer metrics)" in html and "Server (TorchServe metrics)" not in html
    assert "predict mean ms" in html and f"{means['predict']:.3f}" in html and "batch size" not in html


def test_torchserve_summary_and_report_have_no_stage_table(tmp_path):
    load = make_load(np.random.default_rng(7), tmp_path)
    md = "\n".join(render_load_markdown([load]))
    assert "Server stages" not in md and "| queue ms | inference ms |" in md
    html = load_html([load], [])
    assert "Server (TorchServe metrics)" in html and "KServe ModelServer" not in html


def test_load_on_the_modelserver_counts_what_the_client_got(run_scenario, scenario_copy, harness_options):
    users = 2
    path = scenario_copy("digits-kserve.yaml", {"load": {
        "mode": "closed", "users": users, "warmup_s": 1, "duration_s": 3, "scrape_interval_s": 1,
        "requests": [str(FIXTURES / "digits" / "request_v1.json")], "slo": {"max_error_rate": 0.0}}})
    report = run_scenario(path)
    assert report.error is None, report.error["line"]
    step = report.load.steps[0]
    client, server = step.client, step.server
    assert client.ok > 0 and client.errors == 0
    assert server is not None and server.scrape_errors == []
    # a ModelServer has no management API: nothing described, and no error for it
    assert server.description is None and server.description_error is None
    w = server.window
    print(f"\nclient ok {client.ok} ({client.throughput_rps:.1f} req/s, p50 {client.latency_ms.p50:.2f} ms); "
          f"server requests {w.requests} ({w.requests_rps} req/s), inference {w.inference_latency_mean_ms} ms, "
          f"stages {w.stage_latency_mean_ms}")
    # The window's edges are the scrapes closest to the measured window's (the runner takes them there,
    # within its 50 ms poll): the requests served between an edge and its scrape, at the client's
    # rate, and a user's request in flight at each edge are the most the two counts can differ by.
    skew_s = abs(w.t_s - step.warmup_s) + abs(w.t_s + w.duration_s - step.warmup_s - step.duration_s)
    slack = 2 * users + client.throughput_rps * skew_s + 2
    print(f"edges off by {skew_s * 1000:.0f} ms in all, slack {slack:.0f}")
    assert w.requests > 0 and abs(w.requests - client.ok) <= slack, (w.requests, client.ok, slack)
    assert w.stage_latency_mean_ms["predict"] > 0
    assert w.inference_latency_mean_ms == w.stage_latency_mean_ms["predict"] and w.queue_latency_mean_ms is None
    assert w.stage_latency_mean_ms["request"] >= w.stage_latency_mean_ms["predict"]
    assert step.verdict.status == "PASS", step.verdict.reasons
    assert processes_touching(harness_options.report_dir / report.run_id) == []
