"""The PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71; the template for new reviews that
searched databases), drawn from the counts ``studies.selectors.PrismaCounts.as_json`` returns.

Pure Python like the other figures: the layout is a frozen dataclass of boxes and arrows, so tests
can read every number the figure shows without a browser.
"""
from __future__ import annotations

from dataclasses import dataclass
import textwrap

from analysis.figures.svg import BLUE, GRID, INK, MUTED, SKY, document, element, text

WIDTH = 860
MAIN_X, MAIN_W = 150, 300
SIDE_X, SIDE_W = 490, 340
LINE = 16
PAD = 10
CHAR_WIDTH = 6.6  # an average for 12 px sans-serif, with room for the bold first lines


def _wrapped(lines: list[str], width: float) -> tuple[str, ...]:
    """Lines wrapped to the box (long exclusion reasons, database names), continuations indented."""
    budget = int((width - 2 * PAD) / CHAR_WIDTH)
    out: list[str] = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        out.extend(textwrap.wrap(line.strip(), budget, initial_indent=indent, subsequent_indent=indent + "  ")
                   or [line])
    return tuple(out)


@dataclass(frozen=True)
class PrismaBox:
    key: str
    x: float
    y: float
    width: float
    lines: tuple[str, ...]

    @property
    def height(self) -> float:
        return PAD * 2 + LINE * len(self.lines)


@dataclass(frozen=True)
class PrismaLayout:
    boxes: tuple[PrismaBox, ...]
    arrows: tuple[tuple[float, float, float, float], ...]
    phases: tuple[tuple[str, float, float], ...]  # (label, top, bottom)
    height: float
    description: str


def _n(value: int) -> str:
    return f"(n = {value:,})"


def prisma_layout(counts: dict) -> PrismaLayout:
    """Boxes and arrows of the diagram for one review's counts."""
    sources = counts["identified"]["by_source"]
    rows: list[tuple[PrismaBox, PrismaBox | None]] = []
    y = 20.0

    def row(key: str, main: list[str], side_key: str | None, side: list[str] | None) -> None:
        nonlocal y
        main_box = PrismaBox(key, MAIN_X, y, MAIN_W, _wrapped(main, MAIN_W))
        side_box = PrismaBox(side_key, SIDE_X, y, SIDE_W, _wrapped(side, SIDE_W)) if side_key and side else None
        rows.append((main_box, side_box))
        y += max(main_box.height, side_box.height if side_box else 0) + 34

    row("identified", [f"Records identified {_n(counts['identified']['total'])}", "from databases:"]
        + [f"  {s['source']} {_n(s['records'])}" for s in sources],
        "removed", ["Records removed before screening:", f"  Duplicate records {_n(counts['duplicates_removed'])}"])
    identification_end = y - 17
    row("screened", [f"Records screened {_n(counts['screened'])}"],
        "excluded_screening", [f"Records excluded {_n(counts['excluded_at_title_abstract'])}",
                               f"Awaiting screening {_n(counts['awaiting_screening'])}"])
    row("sought", [f"Reports sought for retrieval {_n(counts['reports_sought'])}"],
        "not_retrieved", [f"Reports not retrieved {_n(counts['reports_not_retrieved'])}",
                          f"Awaiting assessment {_n(counts['reports_awaiting_assessment'])}"])
    excluded = counts["reports_excluded"]
    row("assessed", [f"Reports assessed for eligibility {_n(counts['reports_assessed'])}"],
        "excluded_fulltext", [f"Reports excluded {_n(excluded['total'])}:"]
        + [f"  {r['reason']} {_n(r['reports'])}" for r in excluded["by_reason"]])
    screening_end = y - 17
    included_lines = [f"Studies included in review {_n(counts['studies_included'])}",
                      f"Reports of included studies {_n(counts['reports_included'])}"]
    if counts.get("reports_not_yet_linked_to_a_study"):
        included_lines.append(f"  not yet linked to a study {_n(counts['reports_not_yet_linked_to_a_study'])}")
    row("included", included_lines, None, None)

    boxes: list[PrismaBox] = []
    arrows: list[tuple[float, float, float, float]] = []
    for i, (main, side) in enumerate(rows):
        boxes.append(main)
        if side is not None:
            boxes.append(side)
            mid = main.y + min(main.height, side.height) / 2
            arrows.append((main.x + main.width, mid, side.x, mid))
        if i + 1 < len(rows):
            below = rows[i + 1][0]
            arrows.append((main.x + main.width / 2, main.y + main.height, below.x + below.width / 2, below.y))
    phases = (("Identification", 12.0, identification_end), ("Screening", identification_end + 8, screening_end),
              ("Included", screening_end + 8, y - 20))
    description = (
        f"{counts['identified']['total']} records identified, {counts['duplicates_removed']} duplicates removed, "
        f"{counts['screened']} screened, {counts['excluded_at_title_abstract']} excluded at title and abstract, "
        f"{counts['awaiting_screening']} awaiting screening; {counts['reports_sought']} reports sought, "
        f"{counts['reports_not_retrieved']} not retrieved, {counts['reports_assessed']} assessed, "
        f"{excluded['total']} excluded; {counts['studies_included']} studies "
        f"({counts['reports_included']} reports) included."
    )
    return PrismaLayout(tuple(boxes), tuple(arrows), phases, y, description)


def prisma_svg(layout: PrismaLayout, *, ident: str = "prisma", title: str = "PRISMA 2020 flow diagram") -> str:
    """The diagram as a standalone, accessible SVG document."""
    body = [
        '<defs><marker id="' + ident + '-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="' + INK + '"/></marker></defs>'
    ]
    for label, top, bottom in layout.phases:
        body.append(f'<g class="phase" data-phase="{label.lower()}">')
        body.append(element("rect", x=20, y=top, width=28, height=max(bottom - top, 20), rx=4, fill=SKY,
                            fill_opacity=0.35, stroke=GRID))
        centre = (top + bottom) / 2
        body.append(text(34, centre, label, text_anchor="middle", dominant_baseline="middle", font_weight="600",
                         transform=f"rotate(-90 34 {centre:.1f})"))
        body.append("</g>")
    for box in layout.boxes:
        body.append(f'<g class="box" data-box="{box.key}">')
        body.append(element("rect", x=box.x, y=box.y, width=box.width, height=box.height, rx=3, fill="#ffffff",
                            stroke=BLUE if box.key in ("identified", "included") else MUTED, stroke_width=1.2))
        for i, line in enumerate(box.lines):
            body.append(text(box.x + PAD, box.y + PAD + LINE * (i + 1) - 4, line,
                             font_weight="600" if i == 0 else None))
        body.append("</g>")
    for x1, y1, x2, y2 in layout.arrows:
        body.append(element("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=INK, stroke_width=1.2,
                            marker_end=f"url(#{ident}-arrow)"))
    return document(WIDTH, layout.height, title, layout.description, body, "prisma", ident)
