"""The recall curve shown beside the stopping rule: relevant records found against records screened,
as a server-rendered SVG (no script; colours safe for colour-blind readers, Okabe & Ito)."""
from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
BLUE, VERMILION, GREY = "#0072B2", "#D55E00", "#767676"


def recall_curve_svg(relevant_found: list[int], records_total: int, *, ranked_from: int,
                     description: str, ident: str = "recall-curve") -> str:
    """``relevant_found[i]``: relevant records found after i + 1 records screened (in the order they
    were screened); ``ranked_from``: how many had been screened when ranking began (a dashed line);
    the x axis runs to every record of the review, so the share left unscreened shows."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([1, *relevant_found])
    total = max(records_total, 1)

    def x(n: float) -> float:
        return LEFT + plot_w * n / total

    def y(r: float) -> float:
        return TOP + plot_h * (1 - r / top)

    points = " ".join(f"{x(i + 1):.1f},{y(r):.1f}" for i, r in enumerate(relevant_found))
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" class="figure recall-curve">'),
        f'<title id="{ident}-title">Recall curve</title><desc id="{ident}-desc">{escape(description)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="{GREY}"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="{GREY}"/>',
        (f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">'
        f'Records screened (of {records_total})</text>'),
        (f'<text x="14" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.0f})">Relevant found</text>'),
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h + 4}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{LEFT + plot_w}" y="{TOP + plot_h + 16}" text-anchor="end" font-size="11">{records_total}</text>',
    ]
    if 0 < ranked_from < len(relevant_found):
        parts.append(f'<line x1="{x(ranked_from):.1f}" y1="{TOP}" x2="{x(ranked_from):.1f}" y2="{TOP + plot_h}" '
                     f'stroke="{VERMILION}" stroke-dasharray="4 3"><title>Ranking began</title></line>')
    if points:
        parts.append(f'<polyline points="{x(0):.1f},{y(0):.1f} {points}" fill="none" stroke="{BLUE}" '
                     f'stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)
