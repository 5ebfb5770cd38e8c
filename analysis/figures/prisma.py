"""The PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71; the templates for new and for updated
reviews that searched databases), drawn from the counts ``studies.selectors.PrismaCounts.as_json`` returns.

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
    lines: tuple[str, ...]  # as drawn, wrapped to the box
    text: tuple[str, ...] = ()  # as written, for the text version of the diagram

    @property
    def height(self) -> float:
        return PAD * 2 + LINE * len(self.lines)


@dataclass(frozen=True)
class PrismaLayout:
    boxes: tuple[PrismaBox, ...]
    arrows: tuple[tuple[float, ...], ...]  # each a polyline x1, y1, x2, y2, ... ending in an arrowhead
    phases: tuple[tuple[str, float, float], ...]  # (label, top, bottom)
    height: float
    description: str


def _n(value: int) -> str:
    return f"(n = {value:,})"


SIDE_GAP = 10  # between boxes stacked in the side column


def prisma_layout(counts: dict) -> PrismaLayout:
    """Boxes and arrows of the diagram for one review's counts (``PrismaCounts.as_json``).

    The boxes are the statement's (Page et al. 2021, BMJ 372:n71, figure 1): records awaiting
    screening and reports awaiting classification have boxes of their own beside the stage they wait
    for, so "records screened" and "reports assessed" hold settled records only. With
    ``counts["update"]`` set, the diagram is the statement's flow for updated reviews: the flow
    counts the new records, the previous version's studies stand beside the new ones, and both lead
    to the total.
    """
    sources = counts["identified"]["by_source"]
    update = counts.get("update")
    stopped = counts.get("not_screened_after_stopping_rule", 0)
    rows: list[tuple[PrismaBox, list[PrismaBox]]] = []
    y = 20.0

    def row(key: str, main: list[str], sides: list[tuple[str, list[str]]]) -> None:
        nonlocal y
        main_box = PrismaBox(key, MAIN_X, y, MAIN_W, _wrapped(main, MAIN_W), tuple(main))
        side_boxes, side_y = [], y
        for side_key, lines in sides:
            box = PrismaBox(side_key, SIDE_X, side_y, SIDE_W, _wrapped(lines, SIDE_W), tuple(lines))
            side_boxes.append(box)
            side_y += box.height + SIDE_GAP
        rows.append((main_box, side_boxes))
        y = max(y + main_box.height, side_y - SIDE_GAP) + 34

    row("identified", [f"Records identified {_n(counts['identified']['total'])}",
                       "since the previous version, from databases:" if update else "from databases:"]
        + [f"  {s['source']} {_n(s['records'])}" for s in sources],
        [("removed", ["Records removed before screening:", f"  Duplicate records {_n(counts['duplicates_removed'])}"]),
         ("awaiting_screening", [f"Records awaiting screening {_n(counts['awaiting_screening'])}",
                                 "  (no settled title/abstract decision yet)"]
          + ([f"  of which not screened after the stopping rule {_n(stopped)}"] if stopped else []))])
    identification_end = y - 17
    row("screened", [f"Records screened {_n(counts['screened'])}"],
        [("excluded_screening", [f"Records excluded {_n(counts['excluded_at_title_abstract'])}"])])
    row("sought", [f"Reports sought for retrieval {_n(counts['reports_sought'])}"],
        [("not_retrieved", [f"Reports not retrieved {_n(counts['reports_not_retrieved'])}"]),
         ("awaiting_classification",
          [f"Reports awaiting classification {_n(counts['reports_awaiting_classification'])}",
           "  (full text not yet assessed or not settled)"])])
    excluded = counts["reports_excluded"]
    row("assessed", [f"Reports assessed for eligibility {_n(counts['reports_assessed'])}"],
        [("excluded_fulltext", [f"Reports excluded {_n(excluded['total'])}:"]
          + [f"  {r['reason']} {_n(r['reports'])}" for r in excluded["by_reason"]])])
    screening_end = y - 17
    new = "New studies" if update else "Studies"
    included_lines = [f"{new} included in review {_n(counts['studies_included'])}",
                      f"Reports of {'new ' if update else ''}included studies {_n(counts['reports_included'])}"]
    if update and update["new_reports_of_previous_studies"]:
        included_lines.append(f"  of which reports of previous studies {_n(update['new_reports_of_previous_studies'])}")
    if counts.get("reports_not_yet_linked_to_a_study"):
        included_lines.append(f"  not yet linked to a study {_n(counts['reports_not_yet_linked_to_a_study'])}")
    previous_side = []
    if update:
        previous_lines = [f"Studies included in previous version of review {_n(update['previous_studies_included'])}",
                          f"Reports of studies included in previous version {_n(update['previous_reports_included'])}"]
        if update["previous_records_awaiting_screening"] or update["previous_reports_awaiting_classification"]:
            previous_lines.append("Records of the previous version still awaiting "
                                  f"screening {_n(update['previous_records_awaiting_screening'])}, classification "
                                  f"{_n(update['previous_reports_awaiting_classification'])}")
        previous_side = [("previous", previous_lines)]
    row("included", included_lines, previous_side)
    if update:
        row("total", [f"Total studies included in review {_n(update['studies_included_total'])}",
                      f"Reports of total included studies {_n(update['reports_included_total'])}"], [])

    boxes: list[PrismaBox] = []
    arrows: list[tuple[float, ...]] = []
    for i, (main, sides) in enumerate(rows):
        boxes.append(main)
        right = main.x + main.width
        start_y = main.y + min([main.height] + [side.height for side in sides[:1]]) / 2
        for j, side in enumerate(sides):
            boxes.append(side)
            if side.key == "previous":
                continue  # the previous version leads to the total, not from the new studies
            if j == 0:
                arrows.append((right, start_y, side.x, start_y))
            else:  # an elbow down the gap between the columns
                elbow, mid = (right + side.x) / 2, side.y + side.height / 2
                arrows.append((right, start_y, elbow, start_y, elbow, mid, side.x, mid))
        if i + 1 < len(rows):
            below = rows[i + 1][0]
            arrows.append((main.x + main.width / 2, main.y + main.height, below.x + below.width / 2, below.y))
    if update:
        previous = next(box for box in boxes if box.key == "previous")
        total = rows[-1][0]
        centre, mid = previous.x + previous.width / 2, total.y + total.height / 2
        arrows.append((centre, previous.y + previous.height, centre, mid, total.x + total.width, mid))
    phases = (("Identification", 12.0, identification_end), ("Screening", identification_end + 8, screening_end),
              ("Included", screening_end + 8, y - 20))
    description = (
        f"{counts['identified']['total']} records identified{' since the previous version' if update else ''}, "
        f"{counts['duplicates_removed']} duplicates removed, {counts['awaiting_screening']} awaiting screening, "
        f"{counts['screened']} screened, {counts['excluded_at_title_abstract']} excluded at title and abstract; "
        f"{counts['reports_sought']} reports sought, {counts['reports_not_retrieved']} not retrieved, "
        f"{counts['reports_awaiting_classification']} awaiting classification, {counts['reports_assessed']} assessed, "
        f"{excluded['total']} excluded; {counts['studies_included']} {new.lower()} "
        f"({counts['reports_included']} reports) included."
    )
    if update:
        description += (f" Previous version: {update['previous_studies_included']} studies "
                        f"({update['previous_reports_included']} reports); in total {update['studies_included_total']} "
                        f"studies ({update['reports_included_total']} reports).")
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
        outlined = box.key in ("identified", "included", "previous", "total")  # where the flow starts and ends
        body.append(element("rect", x=box.x, y=box.y, width=box.width, height=box.height, rx=3, fill="#ffffff",
                            stroke=BLUE if outlined else MUTED, stroke_width=1.2))
        for i, line in enumerate(box.lines):
            body.append(text(box.x + PAD, box.y + PAD + LINE * (i + 1) - 4, line,
                             font_weight="600" if i == 0 else None))
        body.append("</g>")
    for points in layout.arrows:
        body.append(element("polyline", points=" ".join(f"{v:.1f}" for v in points), fill="none", stroke=INK,
                            stroke_width=1.2, marker_end=f"url(#{ident}-arrow)"))
    return document(WIDTH, layout.height, title, layout.description, body, "prisma", ident)
