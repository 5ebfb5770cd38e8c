"""Funnel plot: each study's effect against its standard error (inverted), with the pooled
fixed-effect estimate and pseudo-95% confidence limits (Sterne & Egger 2001; Cochrane Handbook
13.3.5.2)."""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

from analysis.engine.options import Measure
from analysis.figures import svg

WIDTH, HEIGHT = 460, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 52


@dataclass(frozen=True)
class FunnelLayout:
    title: str
    x_label: str
    points: tuple[tuple[str, float, float], ...]  # (study, effect, se) on the analysis scale
    centre: float
    se_max: float
    z: float
    is_ratio: bool
    description: str


def funnel_layout(payload: dict[str, Any], *, title: str) -> FunnelLayout | None:
    """Lay out the funnel plot of one overall analysis; ``None`` when the engine gave no funnel."""
    funnel = payload.get("funnel")
    if not funnel or funnel.get("centre") is None or not funnel.get("se_max"):
        return None
    measure = Measure(payload["measure"])
    points = tuple((s["study"], s["effect"], s["se"]) for s in payload["studies"]
                   if s["estimable"] and s["se"] is not None and s["effect"] is not None)
    description = (f"Funnel plot of {title}: {len(points)} studies, effect ({measure.label}) against standard "
                   f"error, with the pooled fixed-effect estimate and pseudo-95% confidence limits.")
    return FunnelLayout(f"Funnel plot: {title}", measure.label + (" (log scale)" if measure.is_ratio else ""),
                        points, funnel["centre"], funnel["se_max"], funnel.get("z") or 1.959964, measure.is_ratio,
                        description)


def funnel_svg(layout: FunnelLayout, *, ident: str = "funnel") -> str:
    se_top = layout.se_max * 1.08
    reach = max([abs(e - layout.centre) for _, e, _ in layout.points] + [layout.z * se_top]) * 1.05
    x = svg.Scale(layout.centre - reach, layout.centre + reach, LEFT, WIDTH - RIGHT)
    y = svg.Scale(0.0, se_top, TOP, HEIGHT - BOTTOM)
    out: list[str] = []
    bottom = HEIGHT - BOTTOM
    # Pseudo-95% limits: where 95% of studies would lie without bias or heterogeneity.
    out.append(svg.element("polygon", fill="#eef5fb", stroke=svg.SKY, stroke_dasharray="4 3", class_="limits",
                           points=f"{x(layout.centre):.1f},{y(0):.1f} {x(layout.centre - layout.z * se_top):.1f},{bottom:.1f} "
                                  f"{x(layout.centre + layout.z * se_top):.1f},{bottom:.1f}"))
    out.append(svg.element("line", x1=x(layout.centre), x2=x(layout.centre), y1=TOP, y2=bottom, stroke=svg.INK,
                           class_="centre"))
    out.append(svg.element("line", x1=LEFT, x2=WIDTH - RIGHT, y1=bottom, y2=bottom, stroke=svg.INK))
    out.append(svg.element("line", x1=LEFT, x2=LEFT, y1=TOP, y2=bottom, stroke=svg.INK))
    for tick in svg.nice_ticks(x.low, x.high, 4):
        label = f"{math.exp(tick):.2g}" if layout.is_ratio else svg.tick_label(tick)
        out.append(svg.element("line", x1=x(tick), x2=x(tick), y1=bottom, y2=bottom + 4, stroke=svg.INK))
        out.append(svg.text(x(tick), bottom + 16, label, text_anchor="middle", font_size=11))
    for tick in svg.nice_ticks(0.0, se_top, 4):
        out.append(svg.element("line", x1=LEFT - 4, x2=LEFT, y1=y(tick), y2=y(tick), stroke=svg.INK))
        out.append(svg.text(LEFT - 6, y(tick) + 4, svg.tick_label(tick), text_anchor="end", font_size=11))
    out.append(svg.text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 12, layout.x_label, text_anchor="middle"))
    out.append(svg.text(14, (TOP + bottom) / 2, "SE", text_anchor="middle",
                        transform=f"rotate(-90 14 {(TOP + bottom) / 2:.0f})"))
    for study, effect, se in layout.points:
        out.append(f'<circle{svg.attrs({"cx": x(effect), "cy": y(se), "r": 4.5, "fill": svg.BLUE, "fill_opacity": 0.85, "stroke": "#ffffff", "class_": "study", "data_study": study})}>'
                   f"<title>{svg.escape(study)}</title></circle>")
    return svg.document(WIDTH, HEIGHT, layout.title, layout.description, out, "figure funnel", ident)
