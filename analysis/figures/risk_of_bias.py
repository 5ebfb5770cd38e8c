"""Risk-of-bias figures: the traffic-light plot (studies × domains) and the summary bar plot
(percentage of studies per judgment in each domain, optionally weighted by analysis weight), as
robvis draws them (McGuinness & Higgins, Res Synth Methods 2021;12:55–61).

Every judgment carries a symbol as well as a colour (DESIGN.md): + low, ! some concerns, ? unclear,
− high, as in RevMan and robvis, so the figures read the same in greyscale and for colour-blind
readers; colours are from the Okabe–Ito palette. Pure functions, like the other builders.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analysis.figures import svg
from studies.judgments import HIGH, LABELS, LOW, NOT_ASSESSED, SOME_CONCERNS, UNCLEAR

SYMBOLS = {LOW: "+", SOME_CONCERNS: "!", UNCLEAR: "?", HIGH: "−", NOT_ASSESSED: ""}
FILL = {LOW: "#009E73", SOME_CONCERNS: "#F0E442", UNCLEAR: "#F0E442", HIGH: "#D55E00", NOT_ASSESSED: "#ffffff"}
INK_ON = {LOW: "#ffffff", SOME_CONCERNS: svg.INK, UNCLEAR: svg.INK, HIGH: "#ffffff", NOT_ASSESSED: svg.MUTED}
ORDER = (LOW, SOME_CONCERNS, UNCLEAR, HIGH, NOT_ASSESSED)

CELL = 30
LABEL_WIDTH = 210
PAD = 10


def judgment_key(value: str | None) -> str:
    return value if value in SYMBOLS and value else NOT_ASSESSED


@dataclass(frozen=True)
class RobRow:
    label: str
    domains: tuple[str, ...]  # one judgment (or "") per domain column
    overall: str | None


@dataclass(frozen=True)
class RobTable:
    """Consensus judgments to draw: ``domains`` are (column label, name), e.g. ("D1", "Randomisation")."""

    tool: str
    domains: tuple[tuple[str, str], ...]
    rows: tuple[RobRow, ...]

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return (*self.domains, ("Overall", "Overall risk of bias"))

    def judgments(self, row: RobRow) -> tuple[str, ...]:
        return (*(judgment_key(j) for j in row.domains), judgment_key(row.overall))


def table_from_payload(column: Mapping) -> RobTable:
    """A :class:`RobTable` from the ``risk_of_bias`` entry of an analysis payload."""
    return RobTable(
        column["tool"], tuple((short, name) for short, name in column["domains"]),
        tuple(RobRow(label, tuple(value["domains"]), value["overall"]) for label, value in column["studies"].items()),
    )


def _legend(table: RobTable, x: float, y: float, present: list[str]) -> tuple[list[str], float]:
    out = []
    for short, name in table.domains:
        out.append(svg.text(x, y, f"{short}: {name}", font_size=11, class_="domain-key"))
        y += 15
    y += 4
    for key in present:
        out.append(judgment_mark(x + 8, y - 4, key, radius=7))
        out.append(svg.text(x + 22, y, LABELS[key], font_size=11, class_="judgment-key"))
        y += 18
    return out, y


def judgment_mark(cx: float, cy: float, key: str, radius: float = 11) -> str:
    """A judgment as a coloured circle with its symbol (the symbol alone carries the meaning)."""
    return (svg.element("circle", cx=cx, cy=cy, r=radius, fill=FILL[key], stroke=svg.INK, stroke_width=0.75)
            + svg.text(cx, cy + radius * 0.4, SYMBOLS[key], text_anchor="middle", font_weight="bold",
                       font_size=round(radius * 1.3), fill=INK_ON[key]))


def traffic_light_svg(table: RobTable, *, title: str, ident: str = "rob-traffic-light") -> str:
    """Studies (rows) × domains and overall (columns), one symbol-and-colour mark per judgment."""
    columns = table.columns
    x0 = PAD + LABEL_WIDTH
    top = 40
    # The overall column stands apart from the domains (and its wider header then clears theirs).
    overall_gap = 18

    def column_x(i: int) -> float:
        return x0 + i * CELL + CELL / 2 + (overall_gap if columns[i][0] == "Overall" else 0)

    width = x0 + len(columns) * CELL + overall_gap + PAD + 20
    out = [svg.text(PAD, 24, "Study", font_weight="bold")]
    for i, (short, _) in enumerate(columns):
        out.append(svg.text(column_x(i), 24, short, text_anchor="middle", font_weight="bold",
                            font_size=11 if len(short) > 2 else 12))
    present: set[str] = set()
    for r, row in enumerate(table.rows):
        y = top + r * CELL + CELL / 2
        marks = [svg.text(PAD, y + 4, row.label if len(row.label) <= 34 else row.label[:33] + "…")]
        for i, key in enumerate(table.judgments(row)):
            present.add(key)
            marks.append(f'<g{svg.attrs({"class_": "judgment", "data_domain": columns[i][0], "data_judgment": key})}>'
                         + judgment_mark(column_x(i), y, key) + "</g>")
        out.append(f'<g{svg.attrs({"class_": "study", "data_study": row.label})}>' + "".join(marks) + "</g>")
    legend_top = top + len(table.rows) * CELL + 18
    legend, height = _legend(table, PAD, legend_top, [k for k in ORDER if k in present])
    description = (f"Traffic-light plot of {len(table.rows)} consensus assessments ({table.tool}): "
                   + "; ".join(f"{row.label}: " + ", ".join(f"{c[0]} {LABELS[k]}" for c, k in
                                                          zip(columns, table.judgments(row), strict=True))
                               for row in table.rows) + ".")
    return svg.document(max(width, 420), height + PAD, title, description, out + legend,
                        "figure rob-traffic-light", ident)


def summary_percentages(table: RobTable, weights: Mapping[str, float] | None = None
                        ) -> dict[str, dict[str, float]]:
    """Percentage of studies (or of analysis weight, when ``weights`` by study label are given) per
    judgment in each column; studies without a weight count zero when weighting."""
    result: dict[str, dict[str, float]] = {}
    for i, (short, _) in enumerate(table.columns):
        totals: dict[str, float] = {}
        for row in table.rows:
            key = table.judgments(row)[i]
            share = 1.0 if weights is None else float(weights.get(row.label) or 0.0)
            totals[key] = totals.get(key, 0.0) + share
        whole = sum(totals.values())
        result[short] = {key: 100.0 * value / whole for key, value in totals.items() if whole > 0}
    return result


def summary_bar_svg(table: RobTable, *, title: str, weights: Mapping[str, float] | None = None,
                    ident: str = "rob-summary") -> str:
    """One horizontal 100% bar per domain (and overall), split by judgment, each part labelled with
    its symbol and percentage."""
    bar_width, bar_height, gap = 360, 22, 10
    # Room for the longest domain name at 11 px (about 6.2 px a character), RoB 2's being long.
    longest = max(len(f"{short} {name}") for short, name in table.columns)
    x0 = PAD + max(LABEL_WIDTH, round(longest * 6.2) + 12)
    percentages = summary_percentages(table, weights)
    out = []
    y = 30
    present: set[str] = set()
    for short, name in table.columns:
        out.append(svg.text(PAD, y + bar_height / 2 + 4, f"{short} {name}" if short != "Overall" else name,
                            font_weight="bold" if short == "Overall" else None, font_size=11))
        x = x0
        for key in ORDER:
            percent = percentages[short].get(key)
            if not percent:
                continue
            present.add(key)
            width = bar_width * percent / 100
            label = f"{SYMBOLS[key]} {percent:.0f}%".strip()
            part = svg.element("rect", x=x, y=y, width=width, height=bar_height, fill=FILL[key], stroke=svg.INK,
                               stroke_width=0.5)
            if width >= 34:
                part += svg.text(x + width / 2, y + bar_height / 2 + 4, label, text_anchor="middle", font_size=11,
                                 fill=INK_ON[key], font_weight="bold")
            out.append(f'<g{svg.attrs({"class_": "part", "data_domain": short, "data_judgment": key, "data_percent": f"{percent:.1f}"})}>'
                       + part + "</g>")
            x += width
        y += bar_height + gap
    for tick in (0, 25, 50, 75, 100):
        x = x0 + bar_width * tick / 100
        out.append(svg.element("line", x1=x, x2=x, y1=y - gap + 2, y2=y + 2, stroke=svg.MUTED))
        out.append(svg.text(x, y + 14, f"{tick}%", text_anchor="middle", font_size=10, fill=svg.MUTED))
    basis = "analysis weight" if weights is not None else "studies"
    out.insert(0, svg.text(PAD, 18, f"Percentage of {basis}", font_size=11, fill=svg.MUTED))
    legend_parts = []
    lx = PAD
    for key in (k for k in ORDER if k in present):
        legend_parts.append(judgment_mark(lx + 8, y + 36, key, radius=7))
        legend_parts.append(svg.text(lx + 20, y + 40, LABELS[key], font_size=11, class_="judgment-key"))
        lx += 130
    description = (f"Summary of {len(table.rows)} consensus assessments ({table.tool}), percentage of {basis} per "
                   "judgment: " + "; ".join(f"{short}: " + ", ".join(f"{LABELS[k]} {v:.0f}%"
                                                                       for k, v in percentages[short].items())
                                            for short, _ in table.columns) + ".")
    return svg.document(x0 + bar_width + PAD + 20, y + 56, title, description, out + legend_parts,
                        "figure rob-summary", ident)
