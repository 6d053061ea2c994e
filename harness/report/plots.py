"""Server-side SVG plots for report.html and compare.html: no JavaScript, no network, no dependency.

Flow: each function takes plain numbers and returns one `<svg class="plot">` string with its own
axes, "nice" ticks, axis labels, a legend and a `<title>` (the tooltip and the accessible name).
Drawn data carry class "mark" so a browser test can count them. Missing values (None, NaN) break
a line instead of drawing a zero. Colours are the Okabe-Ito palette (readable by colour-blind people).

    line_chart([Series("p95", xs, ys)], title=..., x_label=..., y_label=...)
    bar_chart(["users=1", "users=4"], [("p50", [3.1, 4.0]), ("p99", [5.2, 9.9])], ...)
    histogram(edges, counts, ...)
    change_chart(rows, ...)     # compare: relative change with its uncertainty and the threshold
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Sequence

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
WIDTH, HEIGHT = 640, 300
MARGIN = {"left": 64, "right": 16, "top": 46, "bottom": 48}


@dataclass
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    color: str | None = None
    dashed: bool = False
    markers: bool = False  # also draw a dot per point (sweeps, few points)
    band: tuple[Sequence[float | None], Sequence[float | None]] | None = None  # (low, high) shaded


@dataclass
class Band:
    """A shaded x range (e.g. warm-up) with a label."""

    x0: float
    x1: float
    label: str = ""


@dataclass
class _Axes:
    x0: float
    x1: float
    y0: float
    y1: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN["left"]
    right: int = MARGIN["right"]
    top: int = MARGIN["top"]
    bottom: int = MARGIN["bottom"]
    log_x: bool = False

    @property
    def pw(self) -> float:
        return self.width - self.left - self.right

    @property
    def ph(self) -> float:
        return self.height - self.top - self.bottom

    def sx(self, x: float) -> float:
        if self.log_x:
            x, lo, hi = math.log10(x), math.log10(self.x0), math.log10(self.x1)
        else:
            lo, hi = self.x0, self.x1
        span = (hi - lo) or 1.0
        return self.left + (x - lo) / span * self.pw

    def sy(self, y: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.top + self.ph - (y - self.y0) / span * self.ph


def _ok(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10000:
        return f"{v / 1000:g}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.4g}"
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (_ok(lo) and _ok(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t < hi + step * 0.5:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** k
            if lo <= v <= hi:
                ticks.append(float(v))
    return ticks or [lo, hi]


def _svg_open(title: str, ax: _Axes, kind: str, n_marks: int) -> list[str]:
    return [
        f'<svg class="plot" data-kind="{kind}" data-marks="{n_marks}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{ax.width}" height="{ax.height}" viewBox="0 0 {ax.width} {ax.height}" role="img" '
        f'aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<rect class="bg" x="0" y="0" width="{ax.width}" height="{ax.height}" fill="#fff"/>',
        f'<text x="{ax.width / 2:.1f}" y="18" text-anchor="middle" font-size="14" font-weight="600">{_e(title)}</text>',
    ]


def _axes(ax: _Axes, x_label: str, y_label: str, x_ticks: list[float] | None, y_ticks: list[float],
          x_categories: list[str] | None = None) -> list[str]:
    out = ['<g class="axes" font-size="11" fill="#333">']
    for t in y_ticks:
        y = ax.sy(t)
        out.append(f'<line x1="{ax.left}" x2="{ax.left + ax.pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{ax.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(_fmt(t))}</text>')
    base_y = ax.top + ax.ph
    out.append(f'<line x1="{ax.left}" x2="{ax.left + ax.pw:.1f}" y1="{base_y:.1f}" y2="{base_y:.1f}" stroke="#333"/>')
    out.append(f'<line x1="{ax.left}" x2="{ax.left}" y1="{ax.top}" y2="{base_y:.1f}" stroke="#333"/>')
    if x_ticks is not None:
        for t in x_ticks:
            x = ax.sx(t)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base_y:.1f}" y2="{base_y + 4:.1f}" stroke="#333"/>')
            out.append(f'<text x="{x:.1f}" y="{base_y + 16:.1f}" text-anchor="middle">{_e(_fmt(t))}</text>')
    if x_categories is not None:
        n = len(x_categories)
        for i, name in enumerate(x_categories):
            x = ax.left + (i + 0.5) * ax.pw / n
            label = name if len(name) <= 18 else name[:17] + "…"
            out.append(f'<text x="{x:.1f}" y="{base_y + 16:.1f}" text-anchor="middle">{_e(label)}</text>')
    out.append(f'<text x="{ax.left + ax.pw / 2:.1f}" y="{ax.height - 8}" text-anchor="middle">{_e(x_label)}</text>')
    out.append(f'<text transform="translate(14 {ax.top + ax.ph / 2:.1f}) rotate(-90)" text-anchor="middle">'
               f"{_e(y_label)}</text>")
    out.append("</g>")
    return out


def _legend(ax: _Axes, entries: list[tuple[str, str, bool]]) -> list[str]:
    """Legend in the top-right corner of the plot area: (name, colour, dashed)."""
    if len(entries) < 2:
        return []
    out = ['<g class="legend" font-size="11">']
    widths = [18 + 6.2 * len(name) + 12 for name, _, _ in entries]
    x = ax.left + ax.pw - sum(widths)
    y = ax.top - 10
    if x < ax.left:  # too many to fit on one line: stack them in the plot's top-left
        for i, (name, color, dashed) in enumerate(entries):
            yy = ax.top + 10 + 14 * i
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            out.append(f'<line x1="{ax.left + 8}" x2="{ax.left + 24}" y1="{yy - 4}" y2="{yy - 4}" stroke="{color}" '
                       f'stroke-width="2.5"{dash}/>')
            out.append(f'<text x="{ax.left + 28}" y="{yy}">{_e(name)}</text>')
    else:
        for (name, color, dashed), w in zip(entries, widths):
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            out.append(f'<line x1="{x:.1f}" x2="{x + 14:.1f}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" '
                       f'stroke-width="2.5"{dash}/>')
            out.append(f'<text x="{x + 18:.1f}" y="{y}">{_e(name)}</text>')
            x += w
    out.append("</g>")
    return out


def _segments(points: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    segs, cur = [], []
    for x, y in points:
        if _ok(x) and _ok(y):
            cur.append((x, y))
        elif cur:
            segs.append(cur)
            cur = []
    if cur:
        segs.append(cur)
    return segs


def line_chart(series: list[Series], *, title: str, x_label: str, y_label: str, bands: list[Band] | None = None,
               log_x: bool = False, y_zero: bool = True, width: int = WIDTH, height: int = HEIGHT,
               hlines: list[tuple[float, str]] | None = None) -> str:
    """Lines (and optional dots and shaded low/high bands) against a numeric x axis."""
    xs = [x for s in series for x in s.xs if _ok(x) and (not log_x or x > 0)]
    ys = [y for s in series for y in s.ys if _ok(y)]
    for s in series:
        if s.band:
            ys += [v for v in (*s.band[0], *s.band[1]) if _ok(v)]
    if not xs or not ys:
        return ""
    # A limit far above the data would flatten it: draw only the limits near the data.
    hlines = [(v, label) for v, label in (hlines or []) if _ok(v) and v <= 1.5 * max(ys)]
    ys += [v for v, _ in hlines]
    x_lo, x_hi = min(xs), max(xs)
    for b in bands or []:
        x_lo, x_hi = min(x_lo, b.x0), max(x_hi, b.x1)
    if x_lo == x_hi:
        x_lo, x_hi = (x_lo * 0.5, x_hi * 2) if log_x else (x_lo - 1, x_hi + 1)
    y_ticks = nice_ticks(0.0 if y_zero else min(ys), max(ys))
    x_ticks = _log_ticks(x_lo, x_hi) if log_x else nice_ticks(x_lo, x_hi, 6)
    if not log_x:
        x_lo, x_hi = min(x_lo, x_ticks[0]), max(x_hi, x_ticks[-1])
        x_ticks = [t for t in x_ticks if x_lo <= t <= x_hi]
        if all(float(x).is_integer() for x in xs):  # trials, users: no 1.5 users
            whole = [t for t in x_ticks if float(t).is_integer()]
            x_ticks = whole if len(whole) >= 2 else sorted(set(xs))
    ax = _Axes(x_lo, x_hi, y_ticks[0], y_ticks[-1], width=width, height=height, log_x=log_x)
    n_marks = sum(len(_segments(list(zip(s.xs, s.ys)))) for s in series)
    out = _svg_open(title, ax, "line", n_marks)
    for b in bands or []:
        x0, x1 = ax.sx(max(b.x0, x_lo)), ax.sx(min(b.x1, x_hi))
        out.append(f'<rect class="band" x="{x0:.1f}" y="{ax.top}" width="{max(x1 - x0, 0):.1f}" height="{ax.ph:.1f}" '
                   f'fill="#f2f2f2"/>')
        if b.label:
            out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{ax.top + 12}" text-anchor="middle" font-size="10" '
                       f'fill="#777">{_e(b.label)}</text>')
    out += _axes(ax, x_label, y_label, x_ticks, y_ticks)
    for value, label in hlines:
        if _ok(value):
            y = ax.sy(value)
            out.append(f'<line class="limit" x1="{ax.left}" x2="{ax.left + ax.pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="#D55E00" stroke-dasharray="2 3"/>')
            out.append(f'<text x="{ax.left + 4:.1f}" y="{y - 3:.1f}" font-size="10" '
                       f'fill="#D55E00">{_e(label)}</text>')
    legend = []
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        legend.append((s.name, color, s.dashed))
        if s.band:
            lo_pts = [(x, lo, hi) for x, lo, hi in zip(s.xs, *s.band) if _ok(x) and _ok(lo) and _ok(hi)]
            if len(lo_pts) >= 2:
                upper = " ".join(f"{ax.sx(x):.1f},{ax.sy(hi):.1f}" for x, _, hi in lo_pts)
                lower = " ".join(f"{ax.sx(x):.1f},{ax.sy(lo):.1f}" for x, lo, _ in reversed(lo_pts))
                out.append(f'<polygon class="mark band" points="{upper} {lower}" fill="{color}" fill-opacity="0.15" '
                           f'stroke="none"/>')
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        for seg in _segments(list(zip(s.xs, s.ys))):
            if len(seg) == 1:
                x, y = seg[0]
                out.append(f'<circle class="mark" cx="{ax.sx(x):.1f}" cy="{ax.sy(y):.1f}" r="3" fill="{color}"/>')
                continue
            pts = " ".join(f"{ax.sx(x):.1f},{ax.sy(y):.1f}" for x, y in seg)
            out.append(f'<polyline class="mark" points="{pts}" fill="none" stroke="{color}" stroke-width="2"'
                       f' stroke-linejoin="round"{dash}><title>{_e(s.name)}</title></polyline>')
            if s.markers:
                for x, y in seg:
                    out.append(f'<circle cx="{ax.sx(x):.1f}" cy="{ax.sy(y):.1f}" r="3.5" fill="{color}">'
                               f"<title>{_e(s.name)}: {_e(_fmt(x))} → {_e(_fmt(y))}</title></circle>")
    out += _legend(ax, legend)
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(categories: list[str], groups: list[tuple[str, Sequence[float | None]]], *, title: str,
              x_label: str, y_label: str, width: int = WIDTH, height: int = HEIGHT,
              errors: list[Sequence[tuple[float, float] | None]] | None = None) -> str:
    """Grouped vertical bars: one cluster per category, one bar per group (with optional low/high whiskers)."""
    values = [v for _, vs in groups for v in vs if _ok(v)]
    for errs in errors or []:
        values += [v for e in errs if e for v in e if _ok(v)]
    if not categories or not values:
        return ""
    y_ticks = nice_ticks(min(0.0, min(values)), max(values))
    ax = _Axes(0, 1, y_ticks[0], y_ticks[-1], width=width, height=height)
    n_marks = sum(1 for _, vs in groups for v in vs if _ok(v))
    out = _svg_open(title, ax, "bar", n_marks)
    out += _axes(ax, x_label, y_label, None, y_ticks, x_categories=categories)
    slot = ax.pw / len(categories)
    bw = slot * 0.8 / max(len(groups), 1)
    zero = ax.sy(max(0.0, y_ticks[0]))
    legend = []
    for gi, (name, vs) in enumerate(groups):
        color = PALETTE[gi % len(PALETTE)]
        legend.append((name, color, False))
        for ci, v in enumerate(vs):
            if not _ok(v):
                continue
            x = ax.left + ci * slot + slot * 0.1 + gi * bw
            y = ax.sy(v)
            top, h = min(y, zero), abs(zero - y)
            out.append(f'<rect class="mark" x="{x:.1f}" y="{top:.1f}" width="{max(bw - 1, 1):.1f}" '
                       f'height="{max(h, 0.5):.1f}" fill="{color}"><title>{_e(categories[ci])} {_e(name)}: '
                       f"{_e(_fmt(v))}</title></rect>")
            err = errors[gi][ci] if errors and gi < len(errors) and ci < len(errors[gi]) else None
            if err and _ok(err[0]) and _ok(err[1]):
                cx = x + bw / 2
                y_lo, y_hi = ax.sy(err[0]), ax.sy(err[1])
                out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_lo:.1f}" y2="{y_hi:.1f}" stroke="#222"/>')
                for yy in (y_lo, y_hi):
                    out.append(f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#222"/>')
    out += _legend(ax, legend)
    out.append("</svg>")
    return "\n".join(out)


def histogram(edges: Sequence[float], counts: Sequence[float], *, title: str, x_label: str, y_label: str = "requests",
              width: int = WIDTH, height: int = HEIGHT, markers: list[tuple[float, str]] | None = None,
              overlay: tuple[str, Sequence[float], str] | None = None, name: str = "") -> str:
    """Bars between consecutive edges (numeric x axis), optional vertical markers (percentiles) and
    a second histogram on the same edges drawn as an outline (compare)."""
    if len(edges) != len(counts) + 1 or not counts or not any(_ok(c) and c > 0 for c in counts):
        return ""
    all_counts = [c for c in counts if _ok(c)] + ([c for c in overlay[1] if _ok(c)] if overlay else [])
    y_ticks = nice_ticks(0.0, max(all_counts))
    x_ticks = nice_ticks(edges[0], edges[-1], 6)
    x_ticks = [t for t in x_ticks if edges[0] <= t <= edges[-1]]
    ax = _Axes(edges[0], edges[-1], 0.0, y_ticks[-1], width=width, height=height)
    n_marks = sum(1 for c in counts if _ok(c) and c > 0)
    out = _svg_open(title, ax, "histogram", n_marks)
    out += _axes(ax, x_label, y_label, x_ticks, y_ticks)
    base = ax.sy(0)
    first_w = edges[1] - edges[0]
    for i, (lo, hi, c) in enumerate(zip(edges, edges[1:], counts)):
        if not _ok(c) or c <= 0:
            continue
        tail = i == len(counts) - 1 and len(counts) > 2 and (hi - lo) > 2 * first_w
        x0, x1, y = ax.sx(lo), ax.sx(hi), ax.sy(c)
        out.append(f'<rect class="mark{" tail" if tail else ""}" x="{x0:.1f}" y="{y:.1f}" '
                   f'width="{max(x1 - x0 - 0.5, 0.8):.1f}" height="{max(base - y, 0.5):.1f}" fill="{PALETTE[0]}" '
                   f'fill-opacity="{0.3 if tail else 0.75}"><title>{_e(_fmt(lo))}–{_e(_fmt(hi))}: {_e(_fmt(c))}'
                   f'{" (tail bucket)" if tail else ""}</title></rect>')
    legend = []
    if overlay:
        oname, ocounts, ocolor = overlay
        pts = []
        for lo, hi, c in zip(edges, edges[1:], ocounts):
            c = c if _ok(c) else 0
            pts += [(ax.sx(lo), ax.sy(c)), (ax.sx(hi), ax.sy(c))]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f'<polyline class="mark" points="{path}" fill="none" stroke="{ocolor}" stroke-width="2"/>')
        legend = [(name or "this run", PALETTE[0], False), (oname, ocolor, False)]
    for value, label in markers or []:
        if _ok(value) and edges[0] <= value <= edges[-1]:
            x = ax.sx(value)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{ax.top}" y2="{base:.1f}" stroke="#D55E00" '
                       f'stroke-dasharray="3 3"/>')
            out.append(f'<text x="{x + 3:.1f}" y="{ax.top + 10}" font-size="10" fill="#D55E00">{_e(label)}</text>')
    out += _legend(ax, legend)
    out.append("</svg>")
    return "\n".join(out)


@dataclass
class ChangeRow:
    """One metric of one step in a comparison: relative change (or absolute), its CI, the threshold."""

    label: str
    change: float | None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    bad_when_higher: bool = True
    verdict: str = "no change"
    unit: str = "%"
    extra: dict = field(default_factory=dict)


VERDICT_COLORS = {"regression": "#D55E00", "improvement": "#009E73", "unstable": "#E69F00", "no change": "#0072B2"}


def change_chart(rows: list[ChangeRow], *, title: str, width: int = WIDTH) -> str:
    """Horizontal bars of the change per metric, whiskers for the 95% interval, the threshold as a
    dashed line on the bad side; bars coloured by verdict."""
    vals = [v for r in rows for v in (r.change, r.low, r.high, r.threshold) if _ok(v)]
    vals += [-r.threshold for r in rows if _ok(r.threshold)]
    if not rows or not vals:
        return ""
    scale = 100.0 if rows[0].unit == "%" else 1.0
    lim = max(abs(v) for v in vals) * scale
    lim = lim * 1.1 or 1.0
    row_h = 22
    left = min(max(12 + 6.4 * max(len(r.label) for r in rows), 90), 260)
    height = MARGIN["top"] + row_h * len(rows) + MARGIN["bottom"]
    x_ticks = nice_ticks(-lim, lim, 6)
    ax = _Axes(x_ticks[0], x_ticks[-1], 0, 1, width=width, height=height, left=int(left))
    n_marks = sum(1 for r in rows if _ok(r.change))
    out = _svg_open(title, ax, "change", n_marks)
    out.append('<g class="axes" font-size="11" fill="#333">')
    base_y = ax.top + ax.ph
    for t in x_ticks:
        x = ax.sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{ax.top}" y2="{base_y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{base_y + 16:.1f}" text-anchor="middle">{_e(_fmt(t))}'
                   f'{"%" if rows[0].unit == "%" else ""}</text>')
    x0 = ax.sx(0)
    out.append(f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{ax.top}" y2="{base_y:.1f}" stroke="#333"/>')
    out.append(f'<text x="{ax.left + ax.pw / 2:.1f}" y="{height - 8}" text-anchor="middle">change vs baseline '
               f'(bar: estimate, whiskers: 95% interval, dashed: threshold)</text>')
    out.append("</g>")
    for i, r in enumerate(rows):
        yc = ax.top + row_h * (i + 0.5)
        out.append(f'<text x="{ax.left - 6}" y="{yc + 4:.1f}" text-anchor="end" font-size="11">{_e(r.label)}</text>')
        if _ok(r.threshold):
            t = r.threshold * scale * (1 if r.bad_when_higher else -1)
            xt = ax.sx(t)
            out.append(f'<line x1="{xt:.1f}" x2="{xt:.1f}" y1="{yc - row_h / 2 + 2:.1f}" y2="{yc + row_h / 2 - 2:.1f}" '
                       f'stroke="#D55E00" stroke-dasharray="3 2"/>')
        if not _ok(r.change):
            out.append(f'<text x="{x0 + 4:.1f}" y="{yc + 4:.1f}" font-size="10" fill="#777">n/a</text>')
            continue
        xv = ax.sx(r.change * scale)
        color = VERDICT_COLORS.get(r.verdict, "#555")
        out.append(f'<rect class="mark" x="{min(x0, xv):.1f}" y="{yc - 6:.1f}" width="{max(abs(xv - x0), 1):.1f}" '
                   f'height="12" fill="{color}"><title>{_e(r.label)}: {_e(_fmt(r.change * scale))}{_e(r.unit)} '
                   f"({_e(r.verdict)})</title></rect>")
        if _ok(r.low) and _ok(r.high):
            xl, xh = ax.sx(r.low * scale), ax.sx(r.high * scale)
            out.append(f'<line x1="{xl:.1f}" x2="{xh:.1f}" y1="{yc:.1f}" y2="{yc:.1f}" stroke="#222"/>')
            for xx in (xl, xh):
                out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{yc - 4:.1f}" y2="{yc + 4:.1f}" stroke="#222"/>')
    out.append("</svg>")
    return "\n".join(out)
