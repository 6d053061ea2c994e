"""report.html: one self-contained page (inline CSS and SVG, no script, no network) per run.

Flow: `render_html(report)` -> a string. Sections, top to bottom: the verdict banner (and the
error, when the run failed), what was tested on what (the environment fingerprint), phase
timings, prediction checks with their differences, the load section (verdict, per-step figures,
SLOs, the generator's self-check, errors, server and GPU figures, and the plots: latency
percentiles, latency histogram, latency and throughput over time, throughput and latency against
users or rate for sweeps, batch sizes, server queue against inference time), trials, and links
to the diagnostics (relative paths: the run directory can be moved or downloaded as an artifact).
Every section is optional: a run that failed at deploy still renders. The load section is
`load_html(results, histograms)`, the one HTML rendering of load results.

The page helpers (`page`, `table`, `esc`, `figure`) are shared with compare.html.
"""
from __future__ import annotations

import html as _html
import math
from pathlib import PurePath
from typing import Any, Iterable, Sequence

from harness.load.result import Interval, LoadResult, ServerWindow, StepResult
from harness.load.summary import stage_columns
from harness.ab.model import AbResult
from harness.report.ab import ab_plan, agreement_line, fmt_paired, value_with_unit
from harness.report.rollout import rollout_html
from harness.report.gpu import gpu_summary, source_text
from harness.report.model import LatencyHistogram, Report
from harness.report.plots import Band, Series, bar_chart, histogram, line_chart
from harness.report.runtime import path_sentence, rows, runtime_name
from harness.report.trials import METRICS, spread, step_metrics, step_x, trial_rows, trial_status

CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --warn:#9a6700; --muted:#57606a; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#1f2328; margin:0;
       background:#f6f8fa; }
main { max-width: 1360px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 0; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.banner { border-radius: 8px; padding: 14px 18px; color: #fff; margin-bottom: 12px; }
.banner.PASS, .banner.no-change, .banner.improvement { background: var(--pass); }
.banner.FAIL, .banner.regression { background: var(--fail); }
.banner.INVALID, .banner.unstable { background: var(--warn); }
.banner .meta { opacity: .92; margin-top: 4px; font-size: 13px; }
.error { background: #fff1f0; border: 1px solid #ffccc7; border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.badge.PASS, .badge.pass, .badge.ok, .badge.no-change, .badge.improvement { background: var(--pass); }
.badge.FAIL, .badge.fail, .badge.failed, .badge.regression { background: var(--fail); }
.badge.INVALID, .badge.unstable, .badge.skipped, .badge.differs { background: var(--warn); }
.muted { color: var(--muted); }
pre { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow-x: auto;
      font-size: 12px; margin: 4px 0; white-space: pre-wrap; }
code { font-size: 12px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 4px; }
figcaption { font-size: 12px; color: var(--muted); padding: 2px 6px 4px; max-width: 640px; }
svg.plot { display: block; font-family: system-ui, sans-serif; }
.bar { background: #0072B2; height: 10px; border-radius: 2px; min-width: 1px; }
details > summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""


def esc(v: Any) -> str:
    return _html.escape("" if v is None else str(v), quote=True)


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}f}"
    return str(v)


def badge(status: str) -> str:
    cls = str(status).replace(" ", "-")
    return f'<span class="badge {esc(cls)}">{esc(status)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Sequence[int] = (),
          raw: Sequence[int] = ()) -> str:
    """An HTML table; columns in `numeric` are right-aligned, columns in `raw` are trusted HTML."""
    out = ["<table><thead><tr>", *[f"<th>{esc(h)}</th>" for h in headers], "</tr></thead><tbody>"]
    n = 0
    for row in rows:
        n += 1
        cells = []
        for i, v in enumerate(row):
            text = v if i in raw else esc(v if isinstance(v, str) else fmt(v))
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out) if n else ""


def figure(svg: str, caption: str = "") -> str:
    if not svg:
        return ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot-figure">{svg}{cap}</figure>'


def plots(*figures: str) -> str:
    figs = [f for f in figures if f]
    return f'<div class="plots">{"".join(figs)}</div>' if figs else ""


def page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(x for x in body if x) + "\n</main></body></html>\n")


def relative_link(path: str, run_id: str) -> str:
    """A path inside the run directory, relative to it (absolute paths from the run are cut at the run id)."""
    p = PurePath(path)
    if p.is_absolute() and run_id in p.parts:
        p = PurePath(*p.parts[p.parts.index(run_id) + 1:])
    return p.as_posix()


# -- sections --------------------------------------------------------------------------------------
def _banner(r: Report) -> str:
    status = "PASS" if r.passed else "FAIL"
    sc, tg = r.scenario, r.target
    total = sum(p.seconds for p in r.phases)
    trials = f" · {r.trials} load trials" if r.trials > 1 else ""
    out = [f'<div class="banner {status}"><h1>{status}: {esc(sc.get("name"))} on {esc(tg.get("name"))}</h1>',
           f'<div class="meta">run <code>{esc(r.run_id)}</code> · started {esc(r.started_at)} · finished '
           f'{esc(r.finished_at or "—")} · {total:.1f} s{trials} · exit code {esc(r.exit_code)} · '
           f'report schema {esc(r.schema_version)}</div>']
    if sc.get("description"):
        out.append(f'<div class="meta">{esc(sc["description"])}</div>')
    out.append("</div>")
    if r.error:
        e = r.error
        out.append(f'<div class="error"><b>{esc(e.get("kind"))}</b>: {esc(e.get("what"))}')
        if e.get("where"):
            out.append(f"<br>where: <code>{esc(e['where'])}</code>")
        if e.get("hint"):
            out.append(f"<br>what to do: {esc(e['hint'])}")
        if e.get("details"):
            out.append(f"<details><summary>details</summary><pre>{esc(e['details'])}</pre></details>")
        out.append("</div>")
    return "\n".join(out)


def identity_rows(r: Report) -> list[tuple[str, str]]:
    """What was tested, on what: the fingerprint fields a reader looks for, '—' when not known."""
    env, tg, ep = r.environment or {}, r.target or {}, r.endpoint or {}
    ran = r.runtime.ran if r.runtime else {}  # what served (see the Runtime section), not the harness's own

    def first(*vals):
        return next((v for v in vals if v not in (None, "", [], {})), None)

    gpus = env.get("gpus") or []
    gpu = "; ".join(f"{g.get('name')} (driver {g.get('driver')})" for g in gpus if isinstance(g, dict)) or "none detected"
    kserve = first(env.get("kserve"), tg.get("kserve_version"), ep.get("kserve_version"))
    if kserve is None and tg.get("name") == "local":
        kserve = (f"{ran['kserve']} (the runtime's)" if ran.get("kserve") else
                  f"local target (kserve-storage {env.get('kserve_storage') or '?'})")
    cluster = first(tg.get("cluster_version"), ep.get("cluster_version"), env.get("cluster_version"))
    mem = env.get("memory_gib")
    machine = f"{env.get('cpu_count') or '?'} cores, {mem if mem is not None else '?'} GiB · {env.get('machine') or ''}"
    archive = r.archive
    return [
        ("harness", fmt(env.get("harness"))),
        ("TorchServe", fmt(ran.get("torchserve") or env.get("torchserve"))),
        ("KServe", fmt(kserve)),
        ("torch", fmt(ran.get("torch") or env.get("torch")) + ("" if ran.get("torch") else " (the harness's)")),
        ("Python", fmt(env.get("python"))),
        ("archive sha256", f"{archive.sha256} ({'reused' if archive.reused else 'built'})" if archive else "—"),
        ("scenario", f"{r.scenario.get('file') or '—'} · sha256 {r.scenario.get('sha256') or '—'}"),
        ("target", f"{tg.get('name')}" + (f" · cluster {cluster}" if cluster else "")),
        ("endpoint", f"{ep.get('base_url') or '—'} · model {ep.get('model_name') or '—'} · {ep.get('protocol') or ''}"),
        ("GPU", gpu),
        ("machine", machine + (f" · {env['os']}" if env.get("os") else "")),
    ]


def _lint_warnings(r: Report) -> str:
    if not r.lint_warnings:
        return ""
    items = "".join(f"<li><code>{esc(w.get('code'))}</code>: {esc(w.get('what'))}"
                    + (f" — {esc(w['hint'])}" if w.get("hint") else "") + "</li>" for w in r.lint_warnings)
    return f"<h2>Lint warnings</h2><ul>{items}</ul>"


def _runtime(r: Report) -> str:
    """The image, what ran, where they differ, and the serving path every figure was measured on."""
    rt = r.runtime
    if rt is None:
        return ""
    return (f"<h2>Runtime</h2><p>{esc(runtime_name(rt))} · image <code>{esc(rt.image)}</code> · every check and load figure measured on "
            f"the <b>{esc(rt.serving_path)}</b> path: {esc(path_sentence(rt))}</p>"
            + table(["package", "image ships", "ran", ""],
                    [(name, want, got, badge(note) if note else "") for name, want, got, note in rows(rt)], raw=(3,))
            + f"<p>ran in: {esc(rt.ran_source)}</p>")


def _environment(r: Report) -> str:
    out = ["<h2>What was tested, on what</h2>", table(["", ""], identity_rows(r))]
    if r.environment:
        rest = [(k, v) for k, v in r.environment.items()]
        out.append("<details><summary>full environment fingerprint</summary>"
                   + table(["key", "value"], [(k, v if isinstance(v, str) else fmt(v)) for k, v in rest]) + "</details>")
    if r.storage:
        out.append("<details><summary>storage</summary>"
                   + table(["key", "value"], [(k, str(v)) for k, v in r.storage.items()]) + "</details>")
    return "\n".join(out)


def _phases(r: Report) -> str:
    if not r.phases:
        return ""
    longest = max((p.seconds for p in r.phases), default=0.0) or 1.0
    rows = [(p.name, f"{p.seconds:.2f}", f'<div class="bar" style="width:{240 * p.seconds / longest:.0f}px"></div>',
             badge(p.status), p.detail) for p in r.phases]
    rows.append(("total", f"{sum(p.seconds for p in r.phases):.2f}", "", "", ""))
    return "<h2>Phases</h2>" + table(["phase", "seconds", "", "status", "detail"], rows, numeric=(1,), raw=(2, 3))


def _cold_start(r: Report) -> str:
    """Each phase as a bar from where the one before it ended to where it ended (a waterfall)."""
    cs = r.cold_start
    if cs is None:
        return ""
    end = max((p.at_s for p in cs.phases if p.at_s is not None), default=0.0) or 1.0
    rows = []
    for p in cs.phases:
        if p.missing:
            rows.append((p.name, "—", "—", "", "", f"absent: {p.missing}"))
            continue
        left = max(0.0, p.at_s - p.seconds)
        bar = (f'<div class="bar" style="margin-left:{240 * left / end:.0f}px;'
               f'width:{max(1.0, 240 * p.seconds / end):.0f}px"></div>')
        rows.append((p.name, f"{p.at_s:.2f}", f"{p.seconds:.2f}", bar, "" if p.bytes is None else str(p.bytes),
                     p.source + (f" — {p.detail}" if p.detail else "")))
    return (f"<h2>Cold start</h2><p class=\"muted\">t = 0: {esc(cs.origin)}</p>"
            + table(["phase", "at (s)", "seconds", "", "bytes", "from"], rows, numeric=(1, 2, 4), raw=(3,)))


def _checks(r: Report) -> str:
    if not r.checks:
        return ""
    rows = []
    for c in r.checks:
        resp = (f'<a href="{esc(c.response_file)}">{esc(c.response_file)}</a>' if c.response_file else "")
        sha = f"<code>{esc(c.response_sha256[:16])}</code>" if c.response_sha256 else ""
        rows.append((c.name, badge("pass" if c.passed else "fail"), c.status, c.expected_status,
                     fmt(c.elapsed_ms, 1), esc(c.atol if c.atol is not None else ""), sha, resp))
    out = ["<h2>Prediction checks</h2>",
           table(["check", "result", "HTTP", "expected", "ms", "atol", "outputs sha256", "response"], rows,
                 numeric=(2, 3, 4), raw=(1, 5, 6, 7))]
    for c in r.checks:
        if c.diff:
            out.append(f"<h3>{esc(c.name)}: differences</h3><pre>{esc(chr(10).join(c.diff))}</pre>")
            if c.response_excerpt:
                out.append(f"<details><summary>response excerpt</summary><pre>{esc(c.response_excerpt)}</pre></details>")
    return "\n".join(out)


# -- load ------------------------------------------------------------------------------------------
# The load section of report.html is `load_html` alone; the helpers below are its parts.
def _x_label(step_list: list[StepResult]) -> str:
    return "users" if step_list and step_list[0].mode == "closed" else "offered rate (req/s)"


def _config_line(cfg: dict) -> str:
    keys = ("mode", "users", "rate", "duration_s", "warmup_s", "workers", "wait_time_s", "interval_s")
    parts = [f"{k} {cfg[k]}" for k in keys if cfg.get(k) not in (None, 0, 0.0)]
    if cfg.get("sweep"):
        parts.append(f"sweep {cfg['sweep'].get('param')} = {cfg['sweep'].get('values')}")
    if cfg.get("stages"):
        parts.append(f"{len(cfg['stages'])} stages")
    if cfg.get("slo"):
        parts.append("SLO " + ", ".join(f"{k} {v}" for k, v in cfg["slo"].items() if v is not None))
    return " · ".join(parts)


def _step_table(step_list: list[StepResult]) -> str:
    rows = []
    for s in step_list:
        c, lat = s.client, s.client.latency_ms
        rows.append((s.label, badge(s.verdict.status), c.requests, c.ok, c.errors, fmt(c.error_rate, 4),
                     fmt(c.throughput_rps, 1), fmt(lat.p50), fmt(lat.p90), fmt(lat.p95), fmt(lat.p99), fmt(lat.max)))
    return table(["step", "verdict", "requests", "ok", "errors", "error rate", "req/s", "p50 ms", "p90 ms", "p95 ms",
                  "p99 ms", "max ms"], rows, numeric=tuple(range(2, 12)), raw=(1,))


def _slo_table(step_list: list[StepResult]) -> str:
    rows = [(s.label, slo.name, fmt(slo.limit), fmt(slo.observed), badge("pass" if slo.passed else "fail"))
            for s in step_list for slo in s.verdict.slo]
    return ("<h3>SLOs</h3>" + table(["step", "objective", "limit", "observed", "result"], rows, numeric=(2, 3), raw=(4,))
            if rows else "")


def _verdict_reasons(step_list: list[StepResult]) -> str:
    items = []
    for s in step_list:
        items += [f"<li><b>{esc(s.label)}</b>: {esc(reason)}</li>" for reason in s.verdict.reasons]
        if s.verdict.cause:
            items.append(f"<li><b>{esc(s.label)}</b> cause: {esc(s.verdict.cause)}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _self_check(step_list: list[StepResult]) -> str:
    rows = []
    for s in step_list:
        g = s.generator
        procs = ", ".join(f"{p.role} {p.cpu_percent}%" for p in g.processes)
        rows.append((s.label, badge("pass" if g.valid else "INVALID"), fmt(g.max_cpu_percent, 1),
                     fmt(g.machine_cpu_percent, 1), fmt(g.rate_ratio, 3), fmt(g.send_lag_ms.p95), g.dropped, procs,
                     "; ".join(g.reasons)))
    return ("<h3>Load generator self-check</h3><p class=\"muted\">INVALID: the generator, not the server, was the "
            "bottleneck; such a step's figures do not describe the server.</p>"
            + table(["step", "valid", "max process CPU %", "machine CPU %", "achieved/requested rate", "send lag p95 ms",
                     "dropped", "processes", "reasons"], rows, numeric=(2, 3, 4, 5, 6), raw=(1,)))


def _errors_table(step_list: list[StepResult]) -> str:
    rows = [(s.label, e.status, e.count, e.message, e.cause or "", f"{e.first_s:.1f}–{e.last_s:.1f}")
            for s in step_list for e in s.errors]
    return ("<h3>Errors</h3>" + table(["step", "status", "count", "message", "named cause", "seen (s)"], rows,
                                      numeric=(1, 2)) if rows else "")


def _server_table(step_list: list[StepResult]) -> str:
    servers = [(s, s.server) for s in step_list if s.server is not None]
    cols = stage_columns([srv.window.stage_latency_mean_ms if srv.window else {} for _, srv in servers])
    if cols:  # KServe's ModelServer: no batching, no management API; its stage histograms
        rows = [(s.label, fmt(srv.window.requests_rps if srv.window else None, 1),
                 *(fmt((srv.window.stage_latency_mean_ms if srv.window else {}).get(k), 3) for k in cols),
                 "; ".join(srv.scrape_errors)[:200]) for s, srv in servers]
        return ("<h3>Server (KServe ModelServer metrics)</h3>"
                + table(["step", "req/s", *(f"{k} mean ms" for k in cols), "scrape errors"], rows,
                        numeric=tuple(range(1, len(cols) + 2))))
    rows = []
    for s, srv in servers:
        d, w = srv.description, srv.window
        rows.append((s.label, d.batch_size if d else None, d.max_batch_delay_ms if d else None,
                     f"{d.ready_workers}/{d.workers}" if d else "?/?", fmt(w.requests_rps if w else None, 1),
                     fmt(w.queue_latency_mean_ms if w else None), fmt(w.inference_latency_mean_ms if w else None),
                     fmt(w.mean_batch_size if w else None), "; ".join(srv.scrape_errors)[:200]))
    return ("<h3>Server (TorchServe metrics)</h3>"
            + table(["step", "batch size", "max batch delay ms", "ready/workers", "req/s", "queue mean ms",
                     "inference mean ms", "mean batch", "scrape errors"], rows, numeric=(1, 2, 4, 5, 6, 7))
            if rows else "")


def _gpu_table(step_list: list[StepResult]) -> str:
    rows = []
    for s in step_list:
        gpu = s.gpu
        if gpu is None:
            continue
        if gpu.status == "skipped":
            rows.append((s.label, source_text(gpu), "not sampled: " + (gpu.reason or ""), "", "", "", ""))
        for d in gpu.devices:
            rows.append((s.label, source_text(gpu), d.name, f"{d.memory_used_mb_max}/{fmt(d.memory_total_mb, 0)}",
                         fmt(d.process_memory_mb_max, 0), fmt(d.utilization_pct_mean, 1), fmt(d.utilization_pct_max, 1)))
    if not rows:
        return ""
    notes = "".join(f'<p class="muted">{esc(s.label)}: {esc(gpu_summary(s.gpu))}</p>' for s in step_list if s.gpu)
    return ("<h3>GPU</h3>" + table(["step", "source", "device", "memory used max / total MB", "model process MB",
                                    "util mean %", "util max %"], rows, numeric=(4, 5, 6)) + notes)


def _warmup_band(s: StepResult) -> list[Band]:
    ivs = s.intervals
    warm = [iv.t_s for iv in ivs if iv.warmup]
    if not warm:
        return []
    width = (ivs[1].t_s - ivs[0].t_s) if len(ivs) > 1 else 1.0
    return [Band(min(warm), max(warm) + width, "warm-up")]


def _window(s: StepResult) -> ServerWindow | None:
    return s.server.window if s.server else None


def load_plots(step_list: list[StepResult], histograms: list[LatencyHistogram], title_suffix: str = "") -> str:
    """All load plots of one trial's steps."""
    if not step_list:
        return ""
    sfx = title_suffix
    figs = []
    labels = [s.label for s in step_list]
    groups = [(key, [getattr(s.client.latency_ms, key) for s in step_list]) for key in ("p50", "p90", "p95", "p99")]
    figs.append(figure(bar_chart(labels, groups, title=f"Latency percentiles{sfx}", x_label="step",
                                 y_label="latency (ms)"), "client latency of successful requests, measured window"))
    for h in histograms[:6]:
        marks = []
        s = next((x for x in step_list if x.label == h.step), None)
        if s:
            lat = s.client.latency_ms
            marks = [(lat.p50, "p50"), (lat.p99, "p99")]
        figs.append(figure(histogram(h.edges_ms, h.counts, title=f"Latency histogram · {h.step}{sfx}",
                                     x_label="latency (ms)", markers=marks),
                           f"{sum(h.counts)} successful requests; a pale last bin holds the tail beyond p99.5"))
    # over time
    if len(step_list) == 1:
        s = step_list[0]
        ivs = s.intervals
        t = [iv.t_s for iv in ivs]
        slo_p95 = next((x.limit for x in s.verdict.slo if x.name == "p95_ms"), None)
        figs.append(figure(line_chart(
            [Series("p50", t, [iv.p50_ms for iv in ivs]), Series("p95", t, [iv.p95_ms for iv in ivs]),
             Series("p99", t, [iv.p99_ms for iv in ivs]), Series("max", t, [iv.max_ms for iv in ivs], dashed=True)],
            title=f"Latency over time{sfx}", x_label="seconds from start", y_label="latency (ms)",
            bands=_warmup_band(s), hlines=[(slo_p95, "p95 SLO")] if slo_p95 else None),
            "per interval, by intended send time"))
        figs.append(figure(line_chart(
            [Series("2xx/s", t, [iv.rps for iv in ivs]),
             Series("sent/s", t, [_per_s(iv.sent, ivs) for iv in ivs], dashed=True),
             Series("errors/s", t, [_per_s(iv.errors, ivs) for iv in ivs], color="#D55E00")],
            title=f"Throughput over time{sfx}", x_label="seconds from start", y_label="requests per second",
            bands=_warmup_band(s)), "successful answers, requests sent and errors per second"))
    else:
        series_l, series_t = [], []
        for s in step_list:
            t = [iv.t_s for iv in s.intervals]
            series_l.append(Series(s.label, t, [iv.p95_ms for iv in s.intervals]))
            series_t.append(Series(s.label, t, [iv.rps for iv in s.intervals]))
        figs.append(figure(line_chart(series_l, title=f"p95 latency over time{sfx}", x_label="seconds from start",
                                      y_label="p95 latency (ms)"), "one line per step"))
        figs.append(figure(line_chart(series_t, title=f"Throughput over time{sfx}", x_label="seconds from start",
                                      y_label="2xx per second"), "one line per step"))
        xs = [step_x(s) for s in step_list]
        if all(x is not None for x in xs) and len(set(xs)) > 1:
            m = [step_metrics(s) for s in step_list]
            figs.append(figure(line_chart(
                [Series("throughput", xs, [v["throughput_rps"] for v in m], markers=True)],
                title=f"Throughput against {_x_label(step_list)}{sfx}", x_label=_x_label(step_list),
                y_label="2xx per second"), "sweep: one point per step"))
            figs.append(figure(line_chart(
                [Series(k.split("_")[0], xs, [v[k] for v in m], markers=True) for k in ("p50_ms", "p95_ms", "p99_ms")],
                title=f"Latency against {_x_label(step_list)}{sfx}", x_label=_x_label(step_list),
                y_label="latency (ms)"), "sweep: one point per step"))
    # batch sizes
    hists = [(s.label, (w.batch_histogram if (w := _window(s)) else {})) for s in step_list]
    sizes = sorted({int(b) for _, h in hists for b in h})
    if sizes:
        bgroups = [(label, [float(h.get(b, 0) or 0) for b in sizes]) for label, h in hists]
        figs.append(figure(bar_chart([str(b) for b in sizes], bgroups, title=f"Batch sizes{sfx}", x_label="batch size",
                                     y_label="batches"), "batches the handler saw, by size (TorchServe metrics)"))
    # queue vs inference: over time for a single step, per step otherwise (or when never scraped mid-run)
    svg = ""
    if len(step_list) == 1:
        ser = step_list[0].server.series if step_list[0].server else []
        t = [w.t_s for w in ser]
        svg = line_chart([Series("queue (mean)", t, [w.queue_latency_mean_ms for w in ser], markers=True),
                          Series("inference (mean)", t, [w.inference_latency_mean_ms for w in ser], markers=True)],
                         title=f"Server queue vs inference time{sfx}", x_label="seconds from start",
                         y_label="ms per request")
        figs.append(figure(svg, "TorchServe ts_queue_latency and ts_inference_latency, mean per scrape interval"))
    if not svg:
        q = [w.queue_latency_mean_ms if (w := _window(s)) else None for s in step_list]
        inf = [w.inference_latency_mean_ms if (w := _window(s)) else None for s in step_list]
        figs.append(figure(bar_chart(labels, [("queue (mean)", q), ("inference (mean)", inf)],
                                     title=f"Server queue vs inference time{sfx}", x_label="step",
                                     y_label="ms per request"), "TorchServe metrics over each step's window"))
    return plots(*figs)


def _per_s(count: int | None, ivs: list[Interval]) -> float | None:
    if count is None:
        return None
    width = (ivs[1].t_s - ivs[0].t_s) if len(ivs) > 1 else 1.0
    return count / width if width > 0 else None


def _trial_section(result: LoadResult, histograms: list[LatencyHistogram], trial: int | None) -> str:
    step_list = result.steps
    sfx = f" · trial {trial}" if trial else ""
    out = [_step_table(step_list), _verdict_reasons(step_list), load_plots(step_list, histograms, sfx),
           _slo_table(step_list), _self_check(step_list), _errors_table(step_list), _server_table(step_list),
           _gpu_table(step_list)]
    return "\n".join(x for x in out if x)


def _trials_overview(results: list[LoadResult]) -> str:
    rows = trial_rows(results)
    labels = list(dict.fromkeys(r["step"] for r in rows))
    out = [f"<h3>Trials ({len(results)})</h3>",
           table(["trial", "step", "verdict", "p50 ms", "p95 ms", "p99 ms", "req/s", "error rate"],
                 [(r["trial"], r["step"], badge(r["status"]), fmt(r["p50_ms"]), fmt(r["p95_ms"]), fmt(r["p99_ms"]),
                   fmt(r["throughput_rps"], 1), fmt(r["error_rate"], 4)) for r in rows],
                 numeric=(0, 3, 4, 5, 6, 7), raw=(2,))]
    shown = ("p50_ms", "p95_ms", "p99_ms", "throughput_rps", "error_rate")
    cv_rows = []
    for label in labels:
        cells = []
        for metric in shown:
            mean, cv = spread([r[metric] for r in rows if r["step"] == label])
            cells.append("—" if mean is None else f"{fmt(mean, 4 if metric == 'error_rate' else 2)}"
                         + ("" if cv is None else f" (CV {100 * cv:.1f}%)"))
        cv_rows.append((label, *cells))
    out.append("<p class=\"muted\">Mean over trials and trial-to-trial coefficient of variation (what "
               "<code>harness compare</code> uses as the uncertainty):</p>"
               + table(["step", *(METRICS[m][0] for m in shown)], cv_rows, numeric=(1, 2, 3, 4, 5)))
    groups, errs = [], []
    for metric in ("p50_ms", "p95_ms", "p99_ms"):
        means, bars = [], []
        for label in labels:
            vals = [r[metric] for r in rows if r["step"] == label and r[metric] is not None]
            means.append(sum(vals) / len(vals) if vals else None)
            bars.append((min(vals), max(vals)) if vals else None)
        groups.append((metric.split("_")[0], means))
        errs.append(bars)
    figs = [figure(bar_chart(labels, groups, errors=errs, title="Latency across trials", x_label="step",
                             y_label="latency (ms)"), "bar: mean over trials; whiskers: lowest and highest trial")]
    if len(labels) == 1:
        ts = [r["trial"] for r in rows]
        figs.append(figure(line_chart(
            [Series(m.split("_")[0], ts, [r[m] for r in rows], markers=True) for m in ("p50_ms", "p95_ms", "p99_ms")],
            title="Latency by trial", x_label="trial", y_label="latency (ms)"), "one point per trial"))
    out.append(plots(*figs))
    return "\n".join(out)


def load_html(results: list[LoadResult], histograms: list[LatencyHistogram]) -> str:
    """The load section of report.html: verdict and configuration, the trials overview (several
    trials), then each trial's tables and plots. "" without a load phase."""
    if not results:
        return ""
    first = results[0]
    worst = max((trial_status(x) for x in results), key=lambda s: {"PASS": 0, "INVALID": 1, "FAIL": 2}.get(s, 3))
    url = first.endpoint.get("url")
    out = ["<h2>Load</h2>",
           f"<p>{badge(worst)} {esc(_config_line(first.config))}"
           + (f" · heaviest passing step: <b>{esc(first.best_passing)}</b>" if first.best_passing else "")
           + (f" · endpoint <code>{esc(url)}{esc(first.endpoint.get('path') or '')}</code>" if url else "") + "</p>"]
    reasons = first.verdict.reasons
    if reasons and len(results) == 1:
        out.append("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in reasons) + "</ul>")
    if len(results) > 1:
        out.append(_trials_overview(results))
    for i, result in enumerate(results, 1):
        hist = [h for h in histograms if h.trial == i]
        body = _trial_section(result, hist, i if len(results) > 1 else None)
        if len(results) == 1:
            out.append(body)
        else:
            out.append(f"<details{' open' if i == 1 else ''}><summary>trial {i}: {esc(trial_status(result))}"
                       f"</summary>{body}</details>")
    return "\n".join(out)


def _links(r: Report) -> str:
    items = [("report.json", "report.json"), ("summary.md", "summary.md"), ("junit.xml", "junit.xml")]
    items += [(c.response_file, f"response of {c.name}") for c in r.checks if c.response_file]
    for i, res in enumerate(r.load_results(), 1):
        d = res.artifacts.get("result")
        if d:
            items.append((relative_link(d, r.run_id), f"load result{f' (trial {i})' if r.trials > 1 else ''}"))
    items += [(d, d) for d in r.diagnostics]
    lis = "".join(f'<li><a href="{esc(relative_link(p, r.run_id))}">{esc(label)}</a></li>' for p, label in items)
    return f"<h2>Files and diagnostics</h2><ul>{lis}</ul>"


def ab_html(ab: AbResult | None) -> str:
    """An A/B run's section (its markdown and JUnit views: harness.report.ab)."""
    if ab is None:
        return ""
    out = [f"<h2>A/B: {badge(ab.verdict)}</h2>",
           f"<p>baseline <code>{esc(ab.baseline.scenario)}</code> ({esc(ab.baseline.model)}, {esc(ab.baseline.runtime)})"
           f" · candidate <code>{esc(ab.candidate.scenario)}</code> ({esc(ab.candidate.model)}, "
           f"{esc(ab.candidate.runtime)})</p>"]
    if ab.blocks:
        out.append(f"<p>{esc(ab_plan(ab))}; "
                   "difference = candidate − baseline per block pair, mean and 95% t interval</p>")
        out.append(table(["metric", "baseline", "candidate", "paired difference [95%]", "pairs", "verdict", "why"],
                         [(m.label, value_with_unit(m.baseline, m.unit), value_with_unit(m.candidate, m.unit),
                           fmt_paired(m), m.pairs, badge(m.verdict), m.reason) for m in ab.metrics],
                         numeric=(1, 2, 3, 4), raw=(5,)))
        out.append("<details><summary>blocks</summary>" + table(
            ["#", "side", "pair", "status", "req/s", "p50 ms", "p99 ms"],
            [(b.order, b.side, b.pair, b.status, fmt(b.metrics.get("throughput_rps"), 1),
              fmt(b.metrics.get("p50_ms")), fmt(b.metrics.get("p99_ms"))) for b in ab.blocks],
            numeric=(0, 2, 4, 5, 6)) + "</details>")
    out.append(f"<p>{esc(agreement_line(ab))}</p>")
    out.append(table(["request", "kind", "HTTP", "agree", "largest diff", "top-1", "atol"],
                     [(s.name, s.kind, f"{s.status[0]} / {s.status[1]}", f"{s.agree}/{s.outputs}",
                       fmt(s.max_abs_diff, 4), f"{s.top1_agree}/{s.top1_compared}" if s.top1_compared else "—",
                       f"{s.atol:g}") for s in ab.outputs.sources], numeric=(3, 4, 5)))
    examples = [f"{s.name}: {d}" for s in ab.outputs.sources for d in s.differences]
    if examples:
        out.append(f"<h3>Disagreements</h3><pre>{esc(chr(10).join(examples[:10]))}</pre>")
    if ab.reasons:
        out.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in ab.reasons) + "</ul>")
    return "\n".join(out)


def render_html(report: Report) -> str:
    """The whole report.html for one run."""
    sc = report.scenario.get("name")
    body = [_banner(report), _lint_warnings(report), _checks(report), ab_html(report.ab), rollout_html(report.rollout),
            _runtime(report),
            load_html(report.load_results(), report.latency_histograms), _cold_start(report), _phases(report),
            _environment(report), _links(report),
            f'<footer>kserve-harness report · schema {esc(report.schema_version)} · re-render with '
            f'<code>harness report &lt;run dir&gt;</code></footer>']
    return page(f"{'PASS' if report.passed else 'FAIL'} · {sc} · {report.run_id}", body)
