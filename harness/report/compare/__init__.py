"""`harness compare BASELINE CURRENT`: a noise-aware regression gate between runs.

Modules, in dependency order (none imports one below it; nothing but render draws):
  * thresholds: `Thresholds`, `MetricThreshold`, `load_thresholds` (YAML file, --threshold);
  * statistics: `t975`, `Estimate`, `estimate`, `borrow_spread` (each side's value and spread);
  * verdict: `collect`, `pair_runs`, `compare_runs`, `compare_paths`, the result models
    (`Comparison`, `RunComparison`, `MetricChange`, `CheckChange`) and the exit codes;
  * render: `render_markdown`, `render_compare_html`, `fmt_change`, the plots.

Flow: `collect(path)` reads one report (a run directory or a report.json) or every run under a
reports folder, typed (Report, LoadResult, StepResult); `pair_runs` pairs baseline and current runs
by scenario and target (two single runs are paired whatever their names: comparing two model
versions); `compare_runs` judges a pair:

  * correctness first: a check that fails now, a check no longer run, or prediction outputs that
    changed beyond the check's tolerance (responses/<check>.json, compared value by value with
    its atol/rtol; equal hashes short-cut it) is a regression whatever the latency;
  * then, per load step (matched by label) and metric (`trials.METRICS`): the change and its 95%
    interval. With several trials a side's estimate is the mean over trials and its uncertainty
    the trial-to-trial spread (Welch t); with one trial, the spread of the per-interval values in
    the measured window (batch means). Verdict per metric:
        regression    the change is worse than max(threshold, k x interval half-width)
        unstable      trials disagree (CV > threshold), the generator was the bottleneck, or the
                      change is past the threshold but inside the noise (inconclusive)
        improvement   better than max(threshold, k x half-width)
        no change     otherwise
  * a load verdict that went PASS -> FAIL is a regression;
  * each cold-start phase (report.cold_start) present on both sides, and the time to the first
    answer: slower by more than both thresholds.cold_start (25% and 0.5 s, widened to what 1 s
    Kubernetes timestamps can swing and, with several baseline runs, to their 95% prediction
    interval) is a regression naming the phase.
The set's verdict is the worst of its pairs; `exit_code` is 1 on a regression (or, with
--fail-on-unstable, on unstable), else 0. Thresholds are per metric, configurable (YAML file or
--threshold METRIC=VALUE); `render_markdown` / `render_compare_html` present the result.
"""
from harness.report.compare.render import render_compare_html, render_markdown
from harness.report.compare.statistics import t975
from harness.report.compare.thresholds import Thresholds, load_thresholds
from harness.report.compare.verdict import Comparison, compare_paths, compare_runs

__all__ = ["Comparison", "Thresholds", "compare_paths", "compare_runs", "load_thresholds", "render_compare_html",
           "render_markdown", "t975"]
