"""How a pooled estimate and its CI moved across the runs of a living review."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import math

from analysis.engine.formatting import format_interval, format_number
from analysis.engine.options import Measure
from analysis.figures import svg

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48


@dataclass(frozen=True)
class HistoryPoint:
    """One successful run's pooled result (analysis scale)."""

    finished_at: datetime
    data_version: int
    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class HistoryLayout:
    title: str
    y_label: str
    points: tuple[HistoryPoint, ...]
    is_ratio: bool
    description: str


def history_layout(points: list[HistoryPoint], *, title: str, measure: str) -> HistoryLayout:
    """Lay out the history chart; runs are evenly spaced (bursts of edits would otherwise pile up)."""
    kind = Measure(measure)
    usable = tuple(p for p in points if all(math.isfinite(v) for v in (p.estimate, p.ci_low, p.ci_high)))
    if usable:
        first, last = usable[0], usable[-1]
        shown = (lambda v: math.exp(v)) if kind.is_ratio else (lambda v: v)
        description = (f"History of the pooled {kind.label} for {title} over {len(usable)} analysis runs, from "
                       f"{format_number(shown(first.estimate))} {format_interval(first.ci_low, first.ci_high, kind)} "
                       f"(data version {first.data_version}, {first.finished_at:%Y-%m-%d %H:%M}) to "
                       f"{format_number(shown(last.estimate))} {format_interval(last.ci_low, last.ci_high, kind)} "
                       f"(data version {last.data_version}, {last.finished_at:%Y-%m-%d %H:%M}).")
    else:
        description = f"No pooled result for {title} yet."
    return HistoryLayout(f"History: {title}", kind.label + (" (log scale)" if kind.is_ratio else ""), usable,
                         kind.is_ratio, description)


def history_svg(layout: HistoryLayout, *, ident: str = "history") -> str:
    points = layout.points
    values = [0.0] + [v for p in points for v in (p.ci_low, p.ci_high)]
    low, high = min(values), max(values)
    margin = (high - low) * 0.08 or 0.5
    y = svg.Scale(low - margin, high + margin, HEIGHT - BOTTOM, TOP)
    n = len(points) - 1
    # One run sits in the middle; more are spread evenly across the width.
    x = svg.Scale(0, n, LEFT + 12, WIDTH - RIGHT - 12) if n > 0 else svg.Scale(-1, 1, LEFT + 12, WIDTH - RIGHT - 12)
    bottom = HEIGHT - BOTTOM
    out = [svg.element("line", x1=LEFT, x2=LEFT, y1=TOP, y2=bottom, stroke=svg.INK),
           svg.element("line", x1=LEFT, x2=WIDTH - RIGHT, y1=bottom, y2=bottom, stroke=svg.INK),
           svg.element("line", x1=LEFT, x2=WIDTH - RIGHT, y1=y(0), y2=y(0), stroke=svg.MUTED, stroke_dasharray="4 3",
                       class_="no-effect")]
    for tick in svg.nice_ticks(y.low, y.high, 4):
        label = f"{math.exp(tick):.2g}" if layout.is_ratio else svg.tick_label(tick)
        out.append(svg.element("line", x1=LEFT, x2=WIDTH - RIGHT, y1=y(tick), y2=y(tick), stroke=svg.GRID, stroke_width=0.5))
        out.append(svg.text(LEFT - 6, y(tick) + 4, label, text_anchor="end", font_size=11))
    if points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(p.estimate):.1f}" for i, p in enumerate(points))
        out.append(svg.element("path", d=path, fill="none", stroke=svg.BLUE, stroke_width=1.5))
    for i, p in enumerate(points):
        latest = i == len(points) - 1
        colour = svg.VERMILLION if latest else svg.BLUE
        out.append(f'<g{svg.attrs({"class_": "run", "data_version": p.data_version})}>'
                   + svg.element("line", x1=x(i), x2=x(i), y1=y(p.ci_low), y2=y(p.ci_high), stroke=colour, stroke_width=2)
                   # The latest run is a diamond as well as another colour, so colour is not needed to tell it.
                   + (svg.element("polygon", fill=colour, points=f"{x(i) - 6:.1f},{y(p.estimate):.1f} {x(i):.1f},{y(p.estimate) - 6:.1f} "
                                                                  f"{x(i) + 6:.1f},{y(p.estimate):.1f} {x(i):.1f},{y(p.estimate) + 6:.1f}")
                      if latest else svg.element("circle", cx=x(i), cy=y(p.estimate), r=3.5, fill=colour))
                   + f"<title>v{p.data_version}, {p.finished_at:%Y-%m-%d %H:%M}</title></g>")
    if len(points) > 1:
        out.append(svg.text(x(0), bottom + 16, f"{points[0].finished_at:%Y-%m-%d}", text_anchor="start", font_size=11))
    if points:
        out.append(svg.text(x(len(points) - 1), bottom + 16, f"{points[-1].finished_at:%Y-%m-%d %H:%M}",
                            text_anchor="end" if len(points) > 1 else "middle", font_size=11))
    out.append(svg.text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 10, f"Analysis runs (oldest to newest) — {layout.y_label}",
                        text_anchor="middle", font_size=11))
    return svg.document(WIDTH, HEIGHT, layout.title, layout.description, out, "figure history", ident)
