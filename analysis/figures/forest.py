"""The RevMan forest plot (and its subgroup version) from an engine payload.

Layout follows RevMan 5: study label, the arms' summary data, weight, effect with its CI as
text, then the plot (squares sized by weight, CI whiskers, a diamond per pooled estimate) with
"Favours …" captions under the axis, and the heterogeneity, overall-effect and subgroup-difference
lines under the totals (Deeks & Higgins 2010, "Statistical algorithms in Review Manager 5").
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import textwrap
from typing import Any

from analysis.engine.formatting import (
    format_effect_ci,
    format_number,
    format_weight,
    heterogeneity_line,
    overall_effect_line,
    subgroup_test_line,
)
from analysis.engine.options import Measure, PoolingMethod
from analysis.figures import svg
from analysis.figures.risk_of_bias import LABELS as ROB_LABELS, SYMBOLS as ROB_SYMBOLS, judgment_key, judgment_mark
from studies import judgments

ROW_HEIGHT = 20
HEADER_HEIGHT = 44
LABEL_WIDTH = 160
CELL_WIDTH = 50
WEIGHT_WIDTH = 58
EFFECT_WIDTH = 150
PLOT_WIDTH = 250
PAD = 10
MAX_SQUARE = 14.0
MIN_SQUARE = 3.0
ROB_CELL = 20


@dataclass(frozen=True)
class ForestRow:
    """One line of the plot.

    ``kind`` is ``heading`` (a subgroup's name), ``study``, ``subtotal``, ``total``, ``note`` (a
    test line) or ``gap``. Numbers are on the analysis scale (log for OR/RR); ``weight`` in percent.
    """

    kind: str
    label: str
    cells: tuple[str, ...] = ()
    weight: float | None = None
    effect: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    effect_text: str = ""
    rob: tuple[str, ...] = ()  # the study's consensus risk-of-bias judgment per column (RevMan's column)


@dataclass(frozen=True)
class ForestLayout:
    """Everything the SVG shows, decided before drawing (what tests check)."""

    title: str
    measure_label: str
    method_text: str
    arm_groups: tuple[str, str]
    arm_columns: tuple[str, ...]
    rows: tuple[ForestRow, ...]
    is_ratio: bool
    limit: float
    ticks: tuple[float, ...]
    left_label: str
    right_label: str
    description: str
    rob_columns: tuple[str, ...] = ()  # e.g. D1 … D5 and O (overall), or RoB 1's A … G
    rob_key: tuple[str, ...] = ()  # lines explaining the columns and symbols


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def method_text(payload: dict[str, Any], *, study_level: bool = False) -> str:
    """"IV, Random, 95% CI" as in RevMan's column header ("Peto, Fixed, 95% CI" for the Peto method);
    with ``study_level``, at the studies' CI level (RevMan's CI_STUDY), which the header describes."""
    method = PoolingMethod(payload["method"]).label
    model = "Random" if payload["chosen_model"] == "random" else "Fixed"
    if payload.get("hksj") and payload["chosen_model"] == "random":
        model += " (HKSJ)"
    level = payload.get("study_level", payload["level"]) if study_level else payload["level"]
    return f"{method}, {model}, {level:.0%} CI"


def _arm_cells(arm: dict[str, Any] | None, dichotomous: bool) -> tuple[str, ...]:
    if arm is None:
        return ("", "", "") if not dichotomous else ("", "")
    if dichotomous:
        return (f"{arm['events']:g}", f"{arm['total']:g}")
    return (f"{arm['mean']:g}", f"{arm['sd']:g}", f"{arm['n']:g}")


def _total_cells(arms: list[dict[str, Any]], dichotomous: bool) -> tuple[str, ...]:
    size = "total" if dichotomous else "n"
    experimental = sum(a["intervention"][size] for a in arms)
    control = sum(a["control"][size] for a in arms)
    blanks = ("",) if dichotomous else ("", "")
    return (*blanks, f"{experimental:g}", *blanks, f"{control:g}")


def _test_lines(pooled: dict[str, Any], heterogeneity: dict[str, Any], random: bool) -> list[ForestRow]:
    # The line functions print RevMan's "Not applicable" for one study (df = 0) and for a missing
    # statistic (none estimable, or HKSJ on 0 df).
    df = heterogeneity["df"] if pooled["k"] >= 2 else 0
    line = heterogeneity_line(heterogeneity["q"], df, heterogeneity["p"], heterogeneity["i2"],
                              heterogeneity["tau2"] if random else None)
    return [ForestRow("note", line),
            ForestRow("note", overall_effect_line(pooled["z"], pooled["p"], pooled["test"]))]


def _axis(values: list[float], is_ratio: bool) -> tuple[float, tuple[float, ...]]:
    """A symmetric axis around no effect wide enough for the estimates, with round ticks.

    Ratios get RevMan's decades (0.1, 1, 10 …) on the log scale; very wide study CIs are clipped
    (drawn with an arrow) rather than squeezing every other row into a few pixels.
    """
    biggest = max((abs(v) for v in values if _finite(v)), default=1.0) or 1.0
    if is_ratio:
        for bound in (2.0, 5.0, 10.0, 100.0, 1000.0):
            if math.log(bound) >= biggest * 0.999:
                break
        ticks = [1 / bound, 1.0, bound] if bound < 100 else [1 / bound, 0.1, 1.0, 10.0, bound]
        return math.log(bound), tuple(math.log(t) for t in ticks)
    for bound in (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0):
        if bound >= biggest * 0.999:
            break
    else:
        bound = 10 ** math.ceil(math.log10(biggest))
    return bound, (-bound, -bound / 2, 0.0, bound / 2, bound)


def forest_layout(payload: dict[str, Any], *, title: str) -> ForestLayout:
    """Lay out a forest plot of one analysis.

    Parameters
    ----------
    payload
        The engine's JSON for one analysis (``analysis.engine.report``) with ``arms``; when it has
        ``subgroups`` the studies are grouped under them with subtotals and the test for subgroup
        differences.
    title
        The outcome's name, shown in the SVG title.
    """
    measure = Measure(payload["measure"])
    dichotomous = measure.is_dichotomous
    # Generic inverse variance: RevMan lists each study's entered estimate (the log for ratios) and
    # SE instead of the groups' numbers.
    generic = not (dichotomous or measure.is_continuous)
    measure_label = payload.get("measure_name") or measure.label
    random = payload["chosen_model"] == "random"
    weight_key = "weight_random" if random else "weight_fixed"
    level = f"{payload['level']:.0%}"
    arms = {a["study"]: a for a in payload.get("arms", [])}
    rob_payload = payload.get("risk_of_bias")
    rob_columns: tuple[str, ...] = ()
    rob_key: tuple[str, ...] = ()
    if rob_payload:
        rob_columns = (*(short for short, _ in rob_payload["domains"]), "O")
        rob_key = (
            # Wrapped to the plot's width: RoB 2's domain names make one line too long for it.
            *textwrap.wrap("Risk of bias (consensus, " + ("RoB 2" if rob_payload["tool"] == "ROB2" else "RoB 1")
                           + "): " + "; ".join(f"{short} {name}" for short, name in rob_payload["domains"])
                           + "; O Overall.", 140),
            "  ".join(f"{ROB_SYMBOLS[k]} {ROB_LABELS[k]}" for k in (
                judgments.ROB2 if rob_payload["tool"] == "ROB2" else judgments.ROB1)) + "  (blank: not assessed)",
        )

    def rob_of(label: str) -> tuple[str, ...]:
        if not rob_columns:
            return ()
        judged = rob_payload["studies"].get(label)
        if judged is None:
            return tuple("not_assessed" for _ in rob_columns)
        return (*(judgment_key(j) for j in judged["domains"]), judgment_key(judged["overall"]))

    def study_row(study: dict[str, Any]) -> ForestRow:
        arm = arms.get(study["study"])
        if generic:
            cells = (f"{arm['effect']:.4g}", f"{arm['se']:.4g}") if arm else ("", "")
        else:
            cells = (*_arm_cells(arm and arm["intervention"], dichotomous),
                     *_arm_cells(arm and arm["control"], dichotomous))
        if not study["estimable"]:
            return ForestRow("study", study["study"], cells, effect_text="Not estimable", rob=rob_of(study["study"]))
        return ForestRow("study", study["study"], cells, weight=study[weight_key], effect=study["effect"],
                         ci_low=study["ci_low"], ci_high=study["ci_high"],
                         effect_text=format_effect_ci(study["effect"], study["ci_low"], study["ci_high"], measure),
                         rob=rob_of(study["study"]))

    def pooled_row(kind: str, label: str, pooled: dict[str, Any], members: list[dict[str, Any]]) -> ForestRow:
        weight = sum(s[weight_key] or 0.0 for s in members if s["estimable"])
        member_arms = [arms[s["study"]] for s in members if s["study"] in arms]
        cells = ("", "") if generic else _total_cells(member_arms, dichotomous)
        if not _finite(pooled["estimate"]):
            return ForestRow(kind, label, cells, weight=weight, effect_text="Not estimable")
        return ForestRow(kind, label, cells, weight=weight, effect=pooled["estimate"], ci_low=pooled["ci_low"],
                         ci_high=pooled["ci_high"],
                         effect_text=format_effect_ci(pooled["estimate"], pooled["ci_low"], pooled["ci_high"], measure))

    def events_note(members: list[dict[str, Any]]) -> list[ForestRow]:
        if not dichotomous:
            return []
        member_arms = [arms[s["study"]] for s in members if s["study"] in arms]
        experimental = sum(a["intervention"]["events"] for a in member_arms)
        control = sum(a["control"]["events"] for a in member_arms)
        return [ForestRow("note", f"Total events: {experimental:g} (Experimental), {control:g} (Control)")]

    model = payload["chosen_model"]
    studies = payload["studies"]
    rows: list[ForestRow] = []
    subgroups = payload.get("subgroups") or []
    if subgroups:
        for subgroup in subgroups:
            members = [s for s in studies if s["subgroup"] == subgroup["name"]]
            if not members:
                continue
            rows.append(ForestRow("heading", subgroup["name"]))
            rows.extend(study_row(s) for s in members)
            rows.append(pooled_row("subtotal", f"Subtotal ({level} CI)", subgroup[model], members))
            rows.extend(events_note(members))
            rows.extend(_test_lines(subgroup[model], subgroup["heterogeneity"], random))
            rows.append(ForestRow("gap", ""))
    else:
        rows.extend(study_row(s) for s in studies)
    total = pooled_row("total", f"Total ({level} CI)", payload[model], studies)
    rows.append(total)
    rows.extend(events_note(studies))
    rows.extend(_test_lines(payload[model], payload["heterogeneity"], random))
    test = (payload.get("subgroup_test") or {}).get(model)
    if test:  # "Not applicable" with fewer than two estimable subgroups, as RevMan prints it
        rows.append(ForestRow("note", subgroup_test_line(test["q"], test["df"], test["p"], test["i2"])))

    values = [v for r in rows if r.kind in ("study", "subtotal", "total") for v in (r.ci_low, r.ci_high, r.effect)
              if _finite(v)]
    pooled_values = [v for r in rows if r.kind in ("subtotal", "total") for v in (r.ci_low, r.ci_high) if _finite(v)]
    # Keep the pooled diamonds readable: a study with a huge CI is clipped rather than setting the scale.
    cap = 4 * max((abs(v) for v in pooled_values), default=0.0)
    limit, ticks = _axis([min(abs(v), cap) if cap else abs(v) for v in values], measure.is_ratio)

    if generic:
        arm_groups = ("", "")
        arm_columns = (f"log[{measure_label}]" if measure.is_ratio else measure_label, "SE")
    else:
        arm_groups = ("Experimental", "Control")
        arm_columns = (("Events", "Total", "Events", "Total") if dichotomous
                       else ("Mean", "SD", "Total", "Mean", "SD", "Total"))
    n_studies = sum(1 for s in studies if s["estimable"])
    description = (f"Forest plot of {title}: {n_studies} stud{'y' if n_studies == 1 else 'ies'}"
                   f"{' in ' + str(len([r for r in rows if r.kind == 'heading'])) + ' subgroups' if subgroups else ''}. "
                   f"Pooled {measure_label} ({method_text(payload)}): {total.effect_text}. "
                   + " ".join(r.label for r in rows if r.kind == "note")
                   + f" Left of the line: {payload['labels']['left']}; right: {payload['labels']['right']}."
                   + (" " + " ".join(rob_key) if rob_key else ""))
    return ForestLayout(
        title=f"Forest plot: {title}", measure_label=measure_label, method_text=method_text(payload, study_level=True),
        arm_groups=arm_groups, arm_columns=arm_columns, rows=tuple(rows),
        is_ratio=measure.is_ratio, limit=limit, ticks=ticks,
        left_label=payload["labels"]["left"], right_label=payload["labels"]["right"], description=description,
        rob_columns=rob_columns, rob_key=rob_key,
    )


def _shorten(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def forest_svg(layout: ForestLayout, *, ident: str = "forest") -> str:
    """Draw a :class:`ForestLayout` as a standalone SVG document."""
    n_cells = len(layout.arm_columns)
    x_cells = PAD + LABEL_WIDTH
    x_weight = x_cells + n_cells * CELL_WIDTH
    x_effect = x_weight + WEIGHT_WIDTH
    x_plot = x_effect + EFFECT_WIDTH + PAD
    x_rob = x_plot + PLOT_WIDTH + PAD
    width = x_rob + len(layout.rob_columns) * ROB_CELL + (PAD if layout.rob_columns else 0)
    scale = svg.Scale(-layout.limit, layout.limit, x_plot + 6, x_plot + PLOT_WIDTH - 6)
    body_top = HEADER_HEIGHT + 8
    body_height = len(layout.rows) * ROW_HEIGHT
    axis_y = body_top + body_height + 4
    height = axis_y + 52 + 16 * len(layout.rob_key)

    out: list[str] = []
    half = n_cells // 2
    # Column headers: two lines, as in RevMan.
    out.append(svg.text(PAD, 18, "Study or Subgroup", font_weight="bold"))
    for group, start in zip(layout.arm_groups, (0, half), strict=True):
        centre = x_cells + (start + half / 2) * CELL_WIDTH
        out.append(svg.text(centre, 18, group, font_weight="bold", text_anchor="middle"))
    for i, column in enumerate(layout.arm_columns):
        out.append(svg.text(x_cells + (i + 1) * CELL_WIDTH - 4, 36, column, font_weight="bold", text_anchor="end"))
    out.append(svg.text(x_weight + WEIGHT_WIDTH - 4, 18, "Weight", font_weight="bold", text_anchor="end"))
    for x, anchor in ((x_effect + EFFECT_WIDTH - 4, "end"), (x_plot + PLOT_WIDTH / 2, "middle")):
        out.append(svg.text(x, 18, layout.measure_label, font_weight="bold", text_anchor=anchor))
        out.append(svg.text(x, 36, layout.method_text, font_weight="bold", text_anchor=anchor))
    if layout.rob_columns:
        out.append(svg.text(x_rob + len(layout.rob_columns) * ROB_CELL / 2, 18, "Risk of bias", font_weight="bold",
                            text_anchor="middle"))
        for i, column in enumerate(layout.rob_columns):
            out.append(svg.text(x_rob + i * ROB_CELL + ROB_CELL / 2, 36, column, font_weight="bold",
                                text_anchor="middle", font_size=11))
    out.append(svg.element("line", x1=PAD, x2=width - PAD, y1=HEADER_HEIGHT, y2=HEADER_HEIGHT, stroke=svg.INK))

    weights = [r.weight for r in layout.rows if r.kind == "study" and r.weight]
    max_weight = max(weights, default=100.0)
    for index, row in enumerate(layout.rows):
        y = body_top + index * ROW_HEIGHT + ROW_HEIGHT / 2
        baseline = y + 4
        group: list[str] = []
        if row.kind == "note":
            group.append(svg.text(PAD, baseline, row.label, font_size=11, fill=svg.MUTED))
        elif row.kind == "heading":
            group.append(svg.text(PAD, baseline, row.label, font_weight="bold"))
        elif row.kind != "gap":
            bold = "bold" if row.kind in ("subtotal", "total") else None
            group.append(svg.text(PAD, baseline, _shorten(row.label), font_weight=bold))
            for i, cell in enumerate(row.cells):
                group.append(svg.text(x_cells + (i + 1) * CELL_WIDTH - 4, baseline, cell, text_anchor="end",
                                      font_weight=bold))
            if row.weight is not None:
                group.append(svg.text(x_weight + WEIGHT_WIDTH - 4, baseline, format_weight(row.weight),
                                      text_anchor="end", font_weight=bold, class_="weight"))
            group.append(svg.text(x_effect + EFFECT_WIDTH - 4, baseline, row.effect_text, text_anchor="end",
                                  font_weight=bold, class_="effect"))
            if _finite(row.effect) and _finite(row.ci_low) and _finite(row.ci_high):
                group.append(_mark(row, y, scale, max_weight))
            for i, (column, key) in enumerate(zip(layout.rob_columns, row.rob, strict=False)):
                group.append(f"<g{svg.attrs({'class_': 'rob', 'data_domain': column, 'data_judgment': key})}>"
                             + judgment_mark(x_rob + i * ROB_CELL + ROB_CELL / 2, y, key, radius=7) + "</g>")
        data = {"class_": f"row {row.kind}"}
        if row.kind == "study":
            data.update(data_study=row.label, data_weight=None if row.weight is None else format_number(row.weight, 1))
        out.append(f"<g{svg.attrs(data)}>" + "".join(group) + "</g>")

    # The line of no effect, the axis, its ticks and the "Favours" captions.
    zero = scale(0.0)
    out.append(svg.element("line", x1=zero, x2=zero, y1=body_top, y2=axis_y, stroke=svg.INK, stroke_width=1))
    out.append(svg.element("line", x1=scale.pixel_low, x2=scale.pixel_high, y1=axis_y, y2=axis_y, stroke=svg.INK))
    for tick in layout.ticks:
        x = scale(tick)
        out.append(svg.element("line", x1=x, x2=x, y1=axis_y, y2=axis_y + 4, stroke=svg.INK))
        value = math.exp(tick) if layout.is_ratio else tick
        out.append(svg.text(x, axis_y + 16, f"{value:g}", text_anchor="middle", font_size=11))
    out.append(svg.text(zero - 6, axis_y + 34, layout.left_label, text_anchor="end", font_size=11, class_="favours-left"))
    out.append(svg.text(zero + 6, axis_y + 34, layout.right_label, text_anchor="start", font_size=11,
                        class_="favours-right"))
    for i, line in enumerate(layout.rob_key):
        out.append(svg.text(PAD, axis_y + 54 + 16 * i, line, font_size=11, fill=svg.MUTED, class_="rob-key"))
    return svg.document(width, height, layout.title, layout.description, out, "figure forest", ident)


def _mark(row: ForestRow, y: float, scale: svg.Scale, max_weight: float) -> str:
    """A study's square and whiskers (arrows where the CI leaves the axis), or a pooled diamond."""
    low, high, centre = scale(scale.clip(row.ci_low)), scale(scale.clip(row.ci_high)), scale(scale.clip(row.effect))
    if row.kind in ("subtotal", "total"):
        points = f"{low:.1f},{y:.1f} {centre:.1f},{y - 6:.1f} {high:.1f},{y:.1f} {centre:.1f},{y + 6:.1f}"
        return svg.element("polygon", points=points, fill=svg.INK, class_="diamond")
    parts = [svg.element("line", x1=low, x2=high, y1=y, y2=y, stroke=svg.INK, stroke_width=1)]
    for bound, edge, sign in ((row.ci_low, scale.pixel_low, -1), (row.ci_high, scale.pixel_high, 1)):
        if (sign < 0 and bound < scale.low) or (sign > 0 and bound > scale.high):
            parts.append(svg.element("polygon", fill=svg.INK,
                                     points=f"{edge:.1f},{y:.1f} {edge - sign * 6:.1f},{y - 3:.1f} {edge - sign * 6:.1f},{y + 3:.1f}"))
    # RevMan: the square's area is proportional to the study's weight.
    side = max(MIN_SQUARE, MAX_SQUARE * math.sqrt((row.weight or 0.0) / max_weight))
    if scale.low <= row.effect <= scale.high:
        parts.append(svg.element("rect", x=centre - side / 2, y=y - side / 2, width=side, height=side, fill=svg.BLUE,
                                 class_="square"))
    return "".join(parts)
