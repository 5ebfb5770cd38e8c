"""The public reader pages of a review: what the evidence says now, how it got there, and the data
and scripts to reproduce every number. Views translate HTTP; selectors read; figures draw."""
from __future__ import annotations

from collections.abc import Callable
import csv
from dataclasses import dataclass
import math
import re

from django.core.cache import caches
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from analysis import selectors
from reviewsite import shared_cache
from analysis.engine.grade import DOMAIN_LABELS
from analysis.engine.formatting import format_effect_ci, format_i2, format_number, format_p
from analysis.engine.options import Measure
from analysis.figures import (
    RobRow,
    RobTable,
    forest_layout,
    forest_svg,
    funnel_layout,
    funnel_svg,
    history_layout,
    history_svg,
    summary_bar_svg,
    table_from_payload,
    traffic_light_svg,
)
from analysis.figures.forest import method_text
from analysis.figures.history import HistoryPoint
from analysis.models import AnalysisSet, OutcomeResult
from analysis.services.compute import analysis_options
from studies import judgments
from studies.models import Outcome, Review


def _review_or_404(request: HttpRequest, slug: str) -> Review:
    review = selectors.review_for_reader(request.user, slug)
    if review is None:  # unpublished reviews do not exist for anyone outside their team
        raise Http404("No such review.")
    return review


def model_reason(chosen_model: str, model_rule: str, i2: float | None, threshold: float, k: int) -> str:
    """Which model the review reports for a result, and why: "random effects: I² = 64% ≥ 50%"."""
    name = "random effects" if chosen_model == "random" else "fixed effect"
    if model_rule != "auto":
        return f"{name} (the review's setting)"
    if k < 2 or i2 is None or not math.isfinite(i2):
        return f"{name}: one study, no heterogeneity to assess"
    sign = "≥" if chosen_model == "random" else "<"
    return f"{name}: I² = {format_i2(i2)} {sign} {threshold:g}%"


def plain_direction(favours: str, p: float | None, alpha: float) -> str:
    """The reader's one-line answer; it only says "favours" when the CI excludes no effect."""
    if favours == "neither" or p is None:
        return "no difference"
    arm = "intervention" if favours == "experimental" else "control"
    if p < alpha:
        return f"favours {arm}"
    return f"no clear difference (point estimate favours {arm}; CI includes no effect)"


def level_text(review: Review) -> str:
    return f"{review.confidence_level:.0%}"


@dataclass(frozen=True)
class SummaryRow:
    """One outcome's line in the summary-of-findings table."""

    outcome: Outcome
    k: int | None = None
    participants: int | None = None
    measure: str = ""
    measure_code: str = ""  # "SMD", "RR": the column stays narrow; the full name is its tooltip
    effect: str = ""
    p: str = ""
    i2: str = ""
    model: str = ""
    direction: str = ""
    significant: bool = False
    low_risk_only: str = ""  # the sensitivity analysis restricted to studies at low risk of bias


def summary_rows(review: Review) -> list[tuple[str, list[SummaryRow]]]:
    """The summary-of-findings table, grouped by outcome domain."""
    results, sensitivity = {}, {}
    for r in selectors.summary_results(review):
        if r.analysis_set == AnalysisSet.MAIN:
            results[r.outcome_id] = r
        else:
            sensitivity[(r.outcome_id, r.analysis_set)] = r
    run_id = review.analysis_state.current_run_id if hasattr(review, "analysis_state") else None
    digests = selectors.run_digests(run_id) if run_id else {}
    alpha = 1 - review.confidence_level
    groups: dict[str, list[SummaryRow]] = {}
    for outcome in selectors.review_outcomes(review):
        result, digest = results.get(outcome.pk), None
        if result is not None:
            digest = digests.get(result.pk)
        if result is None or digest is None or result.estimate is None:
            row = SummaryRow(outcome)
        else:
            measure = Measure(digest.measure)
            row = SummaryRow(
                outcome, k=result.k, participants=digest.participants,
                measure=outcome.generic_measure or measure.label,
                measure_code=measure.code,
                effect=format_effect_ci(result.estimate, result.ci_low, result.ci_high, measure),
                p=format_p(result.p_value), i2=format_i2(result.i2) if result.i2 is not None else "–",
                model=model_reason(result.chosen_model, digest.model_rule, result.i2, digest.i2_threshold, result.k),
                direction=plain_direction(digest.favours, result.p_value, alpha),
                significant=result.p_value is not None and result.p_value < alpha,
                low_risk_only=_short_result(sensitivity.get((outcome.pk, AnalysisSet.ROB_LOW)), measure),
            )
        groups.setdefault(outcome.domain.name, []).append(row)
    return list(groups.items())


def _short_result(result: OutcomeResult | None, measure: Measure) -> str:
    if result is None or result.estimate is None:
        return ""
    return (f"{format_effect_ci(result.estimate, result.ci_low, result.ci_high, measure)}; "
            f"{result.k} stud{'y' if result.k == 1 else 'ies'}")


def review_rob_table(review: Review) -> RobTable | None:
    """The review's consensus risk-of-bias judgments for its figures (RoB 2: one row per result)."""
    rob = selectors.risk_of_bias_consensus(review)
    if not rob.domains and not rob.overall:
        return None
    studies, outcomes = selectors.rob_labels(review)
    keys = sorted(set(rob.domains) | set(rob.overall),
                  key=lambda k: (outcomes.get(k[1], (0, ""))[0], studies[k[0]][0], studies[k[0]][1]))
    rows = []
    for study_id, outcome_id in keys:
        label = studies[study_id][1] + (f" · {outcomes[outcome_id][1]}" if outcome_id is not None else "")
        rows.append(RobRow(label, rob.domains.get((study_id, outcome_id), ("",) * len(rob.domain_labels)),
                           rob.overall.get((study_id, outcome_id))))
    return RobTable(rob.tool, rob.domain_labels, tuple(rows))


def _status_context(review: Review) -> dict:
    state = getattr(review, "analysis_state", None)
    computed = state.computed_version if state else 0
    return {
        "computed_version": computed,
        "computed_at": state.computed_at if state else None,
        "stale": computed < review.data_version,
    }


@dataclass(frozen=True)
class ReaderPage:
    """What a reader page shows that is the same for every viewer. Cached once for all web
    processes (the shared cache) and in each process's memory, keyed by the review's stamp; the
    header around it (who is signed in, their CSRF token) is rendered for each request and never
    cached, so no viewer ever receives another's page."""

    title: str
    body: SafeString
    computed_version: int
    figure_png: bool = False


PAGE_SECONDS = 3600


def _reader_page_key(stamp: tuple, page: str) -> str:
    review_id, updated_at, data_version, run_id, computed_version, _ = stamp
    return (f"reader-page:v2:{review_id}:{page}:{updated_at.timestamp()}:{data_version}:{run_id or 0}:"
            f"{computed_version or 0}")


def _reader_page(request: HttpRequest, slug: str, page: str, build: Callable[[Review], ReaderPage]) -> HttpResponse:
    """Serve a reader page, building its body only when nothing cached can show it.

    The key is the review's stamp (``selectors.reader_page_stamp``: one small query, no model
    instances) and the page's name: equal stamps mean equal bodies, so a hit is never stale. Each
    process looks in its own memory, then in the shared cache; only a miss in both loads the review
    and renders, so a new version is rendered about once for all web processes. (Not warmed by the
    worker: a longer recompute task widens the window in which a Redis outage mid-task kills a
    Celery worker, a kombu failure seen in tests/analysis/test_living_worker.py.)
    """
    stamp = selectors.reader_page_stamp(request.user, slug)
    if stamp is None:  # unpublished reviews do not exist for anyone outside their team
        raise Http404("No such review.")
    key = _reader_page_key(stamp, page)
    local = caches["pages"]
    anonymous = not request.user.is_authenticated
    if anonymous:
        # Every anonymous reader gets the same header ("Sign in", no token), so their whole page is
        # cached in this process: the crowd of a published review costs one small query a request.
        whole = local.get(key + ":anonymous")
        if whole is not None:
            return HttpResponse(whole)
    content = local.get(key)
    if content is None:
        content = shared_cache.get(key)
        if content is None:
            content = build(_review_or_404(request, slug))
            shared_cache.set(key, content, timeout=PAGE_SECONDS)
        local.set(key, content, timeout=PAGE_SECONDS)
    response = render(request, "analysis/reader_page.html",
                      {"page": content, "review": {"slug": slug, "is_synthetic": stamp[-1]}})
    if anonymous and "csrfmiddlewaretoken" not in response.content.decode():  # never a token, whatever changes
        local.set(key + ":anonymous", response.content, timeout=PAGE_SECONDS)
    return response


@require_GET
def review_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/``: question, status, summary of findings, changes, included studies."""
    return _reader_page(request, slug, "review", review_page_build)


def review_page_build(review: Review) -> ReaderPage:
    context = {
        "review": review,
        **_status_context(review),
        "level": level_text(review),
        "summary": summary_rows(review),
        "changes": list(selectors.conclusion_changes(review)[:30]),
        "studies": selectors.included_studies_table(review),
    }
    table = review_rob_table(review)
    if table is not None:
        context["rob_tool"] = "RoB 2" if table.tool == "ROB2" else "RoB 1"
        context["rob_traffic_light"] = traffic_light_svg(table, title="Risk of bias: consensus judgments")
        context["rob_summary"] = summary_bar_svg(table, title="Risk of bias: summary")
    return ReaderPage(title=f"{review.title} — Living review", computed_version=context["computed_version"],
                      body=mark_safe(render_to_string("analysis/review_body.html", context)))  # noqa: S308 -- a rendered template


@require_GET
def review_rob_figure(request: HttpRequest, slug: str, figure: str) -> HttpResponse:
    """The review's risk-of-bias figures as standalone SVG downloads."""
    review = _review_or_404(request, slug)
    table = review_rob_table(review)
    if table is None or figure not in ("traffic-light", "summary"):
        raise Http404("No such figure.")
    body = (traffic_light_svg(table, title="Risk of bias: consensus judgments") if figure == "traffic-light"
            else summary_bar_svg(table, title="Risk of bias: summary"))
    return _svg_download(request, body, f"{review.slug}-risk-of-bias-{figure}.svg")


def _svg_download(request: HttpRequest, body: str, filename: str) -> HttpResponse:
    """A figure as a standalone SVG: a download, or with ``?view=1`` shown in the browser (the pages'
    "Open full size" link, for a figure scaled down to a phone's width)."""
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + body, content_type="image/svg+xml")
    if not request.GET.get("view"):
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# Rendered forest plots keyed by (result id, title, element id): a result row belongs to one run and
# never changes, so an entry can never be stale; bounded, per process.
_FOREST_CACHE: dict[tuple[int, str, str], str] = {}
_FOREST_CACHE_MAX = 512


def forest_for(result: OutcomeResult, title: str, ident: str) -> str:
    """The forest plot SVG of a current result (empty when its payload is gone)."""
    key = (result.pk, title, ident)
    svg = _FOREST_CACHE.get(key)
    if svg is None:
        if result.payload is None:
            return ""
        svg = forest_svg(forest_layout(result.payload, title=title), ident=ident)
        if len(_FOREST_CACHE) >= _FOREST_CACHE_MAX:
            _FOREST_CACHE.clear()  # crude but bounded; an entry costs milliseconds to rebuild
        _FOREST_CACHE[key] = svg
    return svg


@dataclass(frozen=True)
class LeaveOneOutRow:
    omitted: str
    k: int
    effect: str
    p: str
    i2: str
    flips: bool  # removing this study changes statistical significance


def _outcome_or_404(review: Review, outcome_id: int) -> tuple[list[OutcomeResult], OutcomeResult | None]:
    results = selectors.outcome_current_results(review, outcome_id)
    if not results:
        if not Outcome.objects.filter(review=review, pk=outcome_id).exists():
            raise Http404("No such outcome.")
        return [], None
    overall = next((r for r in results if r.subgroup_field_id is None and r.analysis_set == AnalysisSet.MAIN), None)
    return results, overall


def outcome_context(review: Review, outcome_id: int) -> dict:
    """Everything the outcome page shows, from the current run (and every run for the history)."""
    results, overall = _outcome_or_404(review, outcome_id)
    outcome = results[0].outcome if results else Outcome.objects.select_related("domain").get(pk=outcome_id)
    context: dict = {"review": review, "outcome": outcome, "overall": overall, **_status_context(review),
                     "level": level_text(review)}
    if overall is None or overall.payload is None:
        return context
    payload = overall.payload
    measure = Measure(payload["measure"])
    alpha = 1 - review.confidence_level
    context["forest"] = forest_for(overall, outcome.name, f"forest-{overall.pk}")
    context["subgroup_forests"] = [
        (r.subgroup_field.name, forest_for(r, f"{outcome.name} by {r.subgroup_field.name}", subgroup_figure(r)),
         subgroup_figure(r))
        for r in results
        if r.subgroup_field_id is not None and r.analysis_set == AnalysisSet.MAIN and r.payload is not None
    ]
    context["method"] = method_text(payload)
    context["model_reason"] = model_reason(overall.chosen_model, payload["model_rule"], overall.i2,
                                           payload["i2_threshold"], overall.k)
    context["direction"] = plain_direction(payload["favours"], overall.p_value, alpha)
    context["effect"] = (format_effect_ci(overall.estimate, overall.ci_low, overall.ci_high, measure)
                         if overall.estimate is not None else "Not estimable")
    context["measure"] = payload.get("measure_name") or measure.label
    context["incomplete"] = payload.get("incomplete") or []
    context["warnings"] = payload.get("warnings") or []
    significant = overall.p_value is not None and overall.p_value < alpha
    context["leave_one_out"] = [
        LeaveOneOutRow(row["omitted"], row["k"],
                       format_effect_ci(row["estimate"], row["ci_low"], row["ci_high"], measure)
                       if row["estimate"] is not None else "Not estimable",
                       format_p(row["p"]), format_i2(row["i2"]) if row["i2"] is not None else "–",
                       row["p"] is not None and (row["p"] < alpha) != significant)
        for row in payload.get("leave_one_out") or []
    ]
    # Funnel plot and Egger's test only from the review's minimum (Cochrane Handbook 13.3.5.4):
    # with fewer studies the test is too weak to tell asymmetry from chance.
    context["funnel_min"] = review.funnel_min_studies
    if overall.k >= review.funnel_min_studies:
        layout = funnel_layout(payload, title=outcome.name)
        context["funnel"] = funnel_svg(layout, ident=f"funnel-{overall.pk}") if layout else ""
        egger = payload.get("egger")
        if egger and egger.get("p") is not None:
            context["egger"] = (f"Egger's test: intercept = {format_number(egger['intercept'])} "
                                f"(SE {format_number(egger['se'])}), t = {format_number(egger['t'])}, "
                                f"df = {egger['df']}, {format_p(egger['p'])}")
    history = [HistoryPoint(*row) for row in selectors.outcome_history(review, outcome.pk)]
    context["rob_sensitivity"] = rob_sensitivity_rows(results, overall, measure, alpha)
    context["imputation_sensitivity"] = imputation_sensitivity_rows(results, overall, measure, alpha)
    if payload.get("risk_of_bias"):
        table = table_from_payload(payload["risk_of_bias"])
        context["rob_traffic_light"] = traffic_light_svg(table, title=f"Risk of bias: {outcome.name}",
                                                         ident=f"rob-tl-{overall.pk}")
        context["rob_summary_weighted"] = summary_bar_svg(table, title=f"Risk of bias: {outcome.name}",
                                                          weights=analysis_weights(payload),
                                                          ident=f"rob-summary-{overall.pk}")
    context["history"] = history_svg(history_layout(history, title=outcome.name, measure=payload["measure"]),
                                     ident=f"history-{outcome.pk}")
    context["history_rows"] = [
        (p.data_version, p.finished_at, format_effect_ci(p.estimate, p.ci_low, p.ci_high, measure))
        for p in reversed(history[-20:])
    ]
    return context


@dataclass(frozen=True)
class SensitivityRow:
    label: str
    k: int | None
    effect: str
    p: str
    i2: str
    left_out: str
    changes: bool  # statistical significance differs from the main analysis


ROB_SET_LABELS = {AnalysisSet.MAIN: "All included studies", AnalysisSet.ROB_LOW: "Only studies at low risk of bias",
                  AnalysisSet.ROB_EXCLUDE_HIGH: "Excluding studies at high risk of bias"}
_JUDGMENT_WORDS = {judgment: label.lower() for judgment, label in judgments.LABELS.items()}


def rob_sensitivity_rows(results: list[OutcomeResult], overall: OutcomeResult, measure: Measure,
                         alpha: float) -> list[SensitivityRow]:
    """The main result beside the risk-of-bias sensitivity results of the same run."""
    significant = overall.p_value is not None and overall.p_value < alpha
    rows = []
    for analysis_set in ROB_SET_LABELS:
        result = next((r for r in results if r.subgroup_field_id is None and r.analysis_set == analysis_set), None)
        if result is None:
            if analysis_set != AnalysisSet.MAIN:
                rows.append(SensitivityRow(ROB_SET_LABELS[analysis_set], 0, "No study in this set", "–", "–", "", False))
            continue
        left = (result.payload or {}).get("risk_of_bias_set", {}).get("left_out", {})
        rows.append(SensitivityRow(
            ROB_SET_LABELS[analysis_set], result.k,
            format_effect_ci(result.estimate, result.ci_low, result.ci_high, measure)
            if result.estimate is not None else "Not estimable",
            format_p(result.p_value), format_i2(result.i2) if result.i2 is not None else "–",
            ", ".join(f"{label} ({_JUDGMENT_WORDS.get(j, j)})" for label, j in left.items()),
            result.p_value is not None and (result.p_value < alpha) != significant,
        ))
    return rows


def imputation_sensitivity_rows(results: list[OutcomeResult], overall: OutcomeResult, measure: Measure,
                                alpha: float) -> list[SensitivityRow]:
    """The main result beside the result without studies that have imputed values (issue 9); empty when
    the outcome has no imputed value (the two would be the same analysis)."""
    result = next((r for r in results if r.subgroup_field_id is None and r.analysis_set == AnalysisSet.NO_IMPUTED),
                  None)
    if result is None:
        return []
    significant = overall.p_value is not None and overall.p_value < alpha
    rows = []
    for label, chosen in (("All included studies", overall), ("Excluding studies with imputed values", result)):
        left = (chosen.payload or {}).get("imputation_set", {}).get("left_out", [])
        rows.append(SensitivityRow(
            label, chosen.k,
            format_effect_ci(chosen.estimate, chosen.ci_low, chosen.ci_high, measure)
            if chosen.estimate is not None else "Not estimable",
            format_p(chosen.p_value), format_i2(chosen.i2) if chosen.i2 is not None else "–",
            ", ".join(f"{study} (imputed)" for study in left),
            chosen is result and chosen.p_value is not None and (chosen.p_value < alpha) != significant,
        ))
    return rows


def analysis_weights(payload: dict) -> dict[str, float]:
    """Each study's weight (%) in the reported model, for the weighted risk-of-bias summary."""
    key = "weight_random" if payload["chosen_model"] == "random" else "weight_fixed"
    return {s["study"]: s[key] or 0.0 for s in payload["studies"] if s["estimable"]}


@require_GET
def outcome_page(request: HttpRequest, slug: str, outcome_id: int) -> HttpResponse:
    """``/reviews/<slug>/outcomes/<id>/``: forest plots, sensitivity, bias and history of one outcome."""
    return _reader_page(request, slug, f"outcome:{outcome_id}", lambda review: outcome_page_build(review, outcome_id))


def outcome_page_build(review: Review, outcome_id: int) -> ReaderPage:
    context = outcome_context(review, outcome_id)
    return ReaderPage(title=f"{context['outcome'].name} — {review.title}", computed_version=context["computed_version"],
                      figure_png=True,
                      body=mark_safe(render_to_string("analysis/outcome_body.html", context)))  # noqa: S308


def subgroup_figure(result: OutcomeResult) -> str:
    """The name of a subgroup forest plot in its URL: by the subgroup variable's id, which stays the
    same across recomputes (a result row's id changes with every run)."""
    return f"forest-by-{result.subgroup_field_id}"


_OLD_SUBGROUP_FIGURE = re.compile(r"forest-(\d{1,18})")


def _old_subgroup_figure_redirect(review: Review, outcome_id: int, figure: str) -> HttpResponse | None:
    """An address of the old form ``forest-<result id>`` (the id of any run's row, all runs are kept)
    moves for good to its subgroup variable's stable address; ``None`` when it names nothing."""
    matched = _OLD_SUBGROUP_FIGURE.fullmatch(figure)
    if matched is None:
        return None
    field_id = (OutcomeResult.objects.filter(pk=int(matched[1]), outcome_id=outcome_id, outcome__review=review,
                                             subgroup_field__isnull=False)
                .values_list("subgroup_field_id", flat=True).first())
    if field_id is None:
        return None
    return HttpResponsePermanentRedirect(reverse("review-outcome-figure",
                                                 args=[review.slug, outcome_id, f"forest-by-{field_id}"]))


@require_GET
def outcome_figure(request: HttpRequest, slug: str, outcome_id: int, figure: str) -> HttpResponse:
    """A figure of the outcome page as a standalone SVG download."""
    review = _review_or_404(request, slug)
    moved = _old_subgroup_figure_redirect(review, outcome_id, figure)
    if moved is not None:
        return moved
    results, overall = _outcome_or_404(review, outcome_id)
    if overall is None:
        raise Http404("No results yet.")
    if figure == "forest":
        body = forest_for(overall, overall.outcome.name, "forest")
    elif figure.startswith("forest-by-"):
        chosen = next((r for r in results if r.subgroup_field_id and r.analysis_set == AnalysisSet.MAIN
                       and r.payload is not None and subgroup_figure(r) == figure), None)
        if chosen is None:
            raise Http404("No such figure.")
        body = forest_for(chosen, f"{overall.outcome.name} by {chosen.subgroup_field.name}", "forest")
    elif figure in ("rob-traffic-light", "rob-summary", "rob-summary-weighted"):
        column = overall.payload.get("risk_of_bias") if overall.payload else None
        if not column:
            raise Http404("No risk-of-bias judgments for this outcome.")
        table = table_from_payload(column)
        title = f"Risk of bias: {overall.outcome.name}"
        body = (traffic_light_svg(table, title=title) if figure == "rob-traffic-light"
                else summary_bar_svg(table, title=title,
                                     weights=analysis_weights(overall.payload) if figure.endswith("weighted") else None))
    elif figure == "funnel":
        layout = funnel_layout(overall.payload, title=overall.outcome.name) if overall.payload else None
        if layout is None or overall.k < review.funnel_min_studies:
            raise Http404("No funnel plot for this outcome.")
        body = funnel_svg(layout)
    elif figure == "history":
        history = [HistoryPoint(*row) for row in selectors.outcome_history(review, outcome_id)]
        body = history_svg(history_layout(history, title=overall.outcome.name, measure=overall.payload["measure"]),
                           ident="history") if overall.payload else ""
        if not body:
            raise Http404("No history for this outcome.")
    else:
        raise Http404("No such figure.")
    return _svg_download(request, body, f"{review.slug}-outcome-{outcome_id}-{figure}.svg")


def derivation_text(derivation: dict | None) -> str:
    """How a row's derived numbers were obtained, in words, for the CSV ("SD: calculated from SE ...")."""
    if not derivation:
        return ""
    return "; ".join(f"{'SD' if name == 'sd' else name.capitalize()}: {d.get('description', '')} "
                     f"[{d.get('source', '')}; inputs {', '.join(f'{k} = {v:g}' for k, v in d.get('inputs', {}).items())}]"
                     for name, d in sorted(derivation.items()))


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _csv_float(value: float) -> str:
    """A number as short as it is exact: "8.1", "-8", or every digit of an entered log hazard ratio."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


@require_GET
def data_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """``/reviews/<slug>/data.csv``: every extracted arm-level number of the included studies."""
    review = _review_or_404(request, slug)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(selectors.EXTRACTED_DATA_COLUMNS)
        for row in selectors.extracted_data_rows(review):
            *values, included, source_location, derivation = row
            yield writer.writerow([("" if v is None else _csv_float(v) if isinstance(v, float) else v) for v in values]
                                  + ["yes" if included else "no", source_location, derivation_text(derivation)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{review.slug}-data.csv"'
    return response


# metafor's names for the review's settings.
_R_MEASURES = {"MD": "MD", "SMD": "SMD", "SMD_EXACT": "SMD", "OR": "OR", "RR": "RR", "RD": "RD", "PETO_OR": "PETO",
               "GENERIC": "GENERIC"}


@require_GET
def outcome_r_script(request: HttpRequest, slug: str, outcome_id: int) -> HttpResponse:
    """An R script (metafor) that reproduces the outcome's pooled numbers from ``data.csv``."""
    review = _review_or_404(request, slug)
    results, overall = _outcome_or_404(review, outcome_id)
    outcome = results[0].outcome if results else Outcome.objects.get(pk=outcome_id)
    time_point = results[0].time_point.label if results else ""
    payload = overall.payload if overall is not None else None
    # The outcome's own settings where it has them (RevMan keeps them per analysis; Peto: fixed effect only).
    options = analysis_options(review, outcome.effect_measure, outcome)
    context = {
        "review": review, "outcome": outcome, "time_point": time_point, "payload": payload,
        "r_measure": _R_MEASURES[outcome.effect_measure],
        "dichotomous": outcome.data_type == "dichotomous",
        "generic": outcome.data_type == "generic",
        "model_rule": options.model_rule.value,
        "csv_url": request.build_absolute_uri(reverse("review-data-csv", args=[review.slug])),
        "level": round(options.level * 100, 3),
        "computed_version": _status_context(review)["computed_version"],
        "expected": overall and {
            "effect": format_effect_ci(overall.estimate, overall.ci_low, overall.ci_high, Measure(payload["measure"]))
            if payload and overall.estimate is not None else "NA",
            "i2": format_i2(overall.i2) if overall.i2 is not None else "NA",
            "model": overall.chosen_model,
        },
    }
    # Each subgroup split with every study's group, as the review's table of study characteristics has it.
    context["subgroups"] = [
        (result.subgroup_field.name, [(study["study"], study["subgroup"]) for study in result.payload["studies"]
                                      if study.get("subgroup") is not None])
        for result in results if result.subgroup_field_id is not None and result.payload is not None
    ]
    body = render_to_string("analysis/metafor.R", context)
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{review.slug}-outcome-{outcome_id}.R"'
    return response


# --- GRADE summary of findings (issue 24) ---------------------------------------------------------


def sof_context(review: Review) -> dict:
    """The summary-of-findings table's rows with numbered footnotes (one per downgrade), and every
    outcome's domain judgments for the page's "how" section."""
    entries = selectors.summary_of_findings(review)
    rows, chosen = selectors.summary_of_findings_table(entries)
    footnotes: list[str] = []
    shown = []
    for entry in rows:
        numbers = []
        for note in entry["footnotes"]:
            footnotes.append(f"{entry['outcome']}. {note}")
            numbers.append(len(footnotes))
        shown.append({**entry, "footnote_numbers": numbers,
                      "domain_rows": [{**d, "label": DOMAIN_LABELS[d["domain"]]} for d in entry["domains"]]})
    return {"review": review, **_status_context(review), "level": level_text(review), "rows": shown,
            "chosen": chosen, "footnotes": footnotes, "time_point": rows[0]["time_point"] if rows else ""}


@require_GET
def sof_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/summary-of-findings/``: the GRADE table and how each judgment was made."""
    return _reader_page(request, slug, "summary-of-findings", sof_page_build)


def sof_page_build(review: Review) -> ReaderPage:
    context = sof_context(review)
    return ReaderPage(title=f"Summary of findings — {review.title}", computed_version=context["computed_version"],
                      body=mark_safe(render_to_string("analysis/sof_body.html", context)))  # noqa: S308


SOF_CSV_COLUMNS = ("outcome", "time_point", "participants", "studies", "measure", "relative_effect", "ci_low",
                   "ci_high", "risk_with_control_per_1000", "risk_with_intervention_per_1000",
                   "risk_with_intervention_ci_per_1000", "difference_per_1000", "difference_ci_per_1000",
                   "certainty", "risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias",
                   "overridden", "needs_second_look", "interpretation", "back_translation", "footnotes")


@require_GET
def sof_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/summary-of-findings.csv``: the table, one line per outcome, with each
    domain's levels down."""
    review = _review_or_404(request, slug)
    context = sof_context(review)
    writer_target = _Echo()
    writer = csv.writer(writer_target)
    lines = [writer.writerow(SOF_CSV_COLUMNS)]
    for row in context["rows"]:
        absolute = row["absolute_effect"] or {}
        levels = {d["domain"]: d["levels"] for d in row["domains"]}
        lines.append(writer.writerow([
            row["outcome"], row["time_point"], row["participants"], row["k"], row["relative_effect"]["measure"],
            f"{row['relative_effect']['estimate']:.4g}", f"{row['relative_effect']['ci_low']:.4g}",
            f"{row['relative_effect']['ci_high']:.4g}",
            absolute.get("risk_with_control_per_1000", ""), absolute.get("risk_with_intervention_per_1000", ""),
            " to ".join(str(v) for v in absolute.get("risk_with_intervention_ci_per_1000", [])),
            absolute.get("difference_per_1000", ""), " to ".join(str(v) for v in absolute.get("difference_ci_per_1000", [])),
            row["certainty"], *(levels[d] for d in ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                                                    "publication_bias")),
            "; ".join(d["domain"] for d in row["domains"] if not d["automatic"]),
            "yes" if row["needs_second_look"] else "no",
            (row["interpretation"] or {}).get("statement", ""), (row["back_translation"] or {}).get("text", ""),
            " | ".join(row["footnotes"]),
        ]))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{review.slug}-summary-of-findings.csv"'
    return response


@require_GET
def sof_html(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/summary-of-findings.html``: the table as a standalone HTML file (no styles
    or scripts it would need from this site)."""
    review = _review_or_404(request, slug)
    context = {**sof_context(review), "standalone": True}
    response = HttpResponse(render_to_string("analysis/sof_download.html", context),
                            content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{review.slug}-summary-of-findings.html"'
    return response
