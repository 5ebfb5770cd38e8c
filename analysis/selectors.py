"""Reads of analysis results for pages and the API."""
from dataclasses import asdict, dataclass
from functools import lru_cache
import math

from django.db import connection
from django.db.models import QuerySet

from analysis.engine.options import Measure
from analysis.services import risk_of_bias_load
from analysis.engine import grade as grade_rules
from analysis.models import (
    ConclusionChange, GradeOverride, OutcomeResult, Release, RunStatus, SummaryOfFindingsOutcome,
)
from studies import access
from studies.models import (
    HAS_CONFIRMED_ESTIMATE,
    HAS_CONFIRMED_NUMBERS,
    Arm, CharacteristicField, Outcome, OutcomeData, Review, Study, StudyCharacteristic, StudyEstimate,
)


def analysis_status(review: Review) -> dict:
    """The versions readers poll: stale while results are older than the data."""
    state = getattr(review, "analysis_state", None)  # one query, unless loaded with the review
    computed = state.computed_version if state else 0
    return {
        "review": review.slug,
        "data_version": review.data_version,
        "computed_version": computed,
        "computed_at": state.computed_at.isoformat() if state and state.computed_at else None,
        "stale": computed < review.data_version,
    }


def current_results(review: Review) -> QuerySet[OutcomeResult]:
    """The current run's results, with what their labels need, in the review's outcome order."""
    return (
        OutcomeResult.objects.filter(run__review=review, run_id=review.analysis_state.current_run_id)
        .select_related("outcome__domain", "time_point", "subgroup_field")
        .order_by("outcome__domain__order", "outcome__order", "outcome__name", "subgroup_field__order",
                  "analysis_set")
        if hasattr(review, "analysis_state") else OutcomeResult.objects.none()
    )


def conclusion_changes(review: Review) -> QuerySet:
    """The review's feed of conclusion changes, newest first."""
    return ConclusionChange.objects.filter(review=review).select_related("outcome", "run").order_by("-created_at", "-id")


# --- Reader pages -------------------------------------------------------------------------------
# Everything below reads in a constant number of queries, whatever the number of studies.


_STAMP_FIELDS = ("pk", "updated_at", "data_version", "analysis_state__current_run_id",
                 "analysis_state__computed_version", "is_synthetic")
_SLUG_PLACEHOLDER = "\x00slug"


def _stamps(user) -> QuerySet:
    return access.visible_reviews(user).values_list(*_STAMP_FIELDS)


@lru_cache(maxsize=1)
def _public_stamp_sql() -> tuple[str, tuple]:
    """The SQL Django builds for an anonymous reader's stamp, built once.

    Anonymous readers are nearly all of a public review's traffic, and building the query costs
    three times what running it does; the rule itself stays in ``access.visible_reviews``.
    """
    return _stamps(None).filter(slug=_SLUG_PLACEHOLDER).order_by().query.sql_with_params()


def reader_page_stamp(user, slug: str) -> tuple | None:
    """What every reader page shows depends on, as one small row, if ``user`` may read the review.

    (review id, review ``updated_at``, ``data_version``, current run id, computed version,
    ``is_synthetic``): a review
    field edit moves ``updated_at``, any analysis input moves ``data_version``, and results come from
    the current run, so equal stamps mean equal pages. Read before the page is rendered, so a page is
    never older than its stamp.
    """
    if user is not None and user.is_authenticated:
        return _stamps(user).filter(slug=slug).first()
    sql, params = _public_stamp_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug if value == _SLUG_PLACEHOLDER else value for value in params])
        return cursor.fetchone()


def review_for_reader(user, slug: str) -> Review | None:
    """The review with its analysis state (one query), if ``user`` may read it."""
    return (access.visible_reviews(user).select_related("analysis_state", "analysis_state__current_run")
            .filter(slug=slug).first())


@dataclass(frozen=True)
class ResultDigest:
    """What the summary table needs from a result's payload beyond the headline columns."""

    participants: int | None  # None when a study's group sizes are not known (generic data without them)
    measure: str
    favours: str
    model_rule: str
    i2_threshold: float
    heterogeneity_df: int | None


@lru_cache(maxsize=64)
def run_digests(run_id: int) -> dict[int, ResultDigest]:
    """Payload-derived numbers of a run's overall results, by result id.

    Cached by run id: a run's stored results never change (a newer run gets new ids), so this can
    never show stale numbers, and readers of a large review do not decompress megabytes per request.
    """
    digests = {}
    for result in OutcomeResult.objects.filter(run_id=run_id, subgroup_field__isnull=True).only("id", "payload_gz"):
        payload = result.payload
        if payload is None:
            continue
        size = "total" if Measure(payload["measure"]).is_dichotomous else "n"
        sizes = [a[arm].get(size) for a in payload["arms"] for arm in ("intervention", "control")]
        participants = None if None in sizes else int(sum(sizes))
        digests[result.pk] = ResultDigest(participants, payload["measure"], payload["favours"],
                                          payload["model_rule"], payload["i2_threshold"],
                                          payload["heterogeneity"]["df"])
    return digests


def summary_results(review: Review) -> list[OutcomeResult]:
    """The current run's overall results (all studies and the risk-of-bias sensitivity sets),
    without payloads, in the review's outcome order."""
    return list(current_results(review).filter(subgroup_field__isnull=True).defer("payload_gz"))


def review_outcomes(review: Review) -> list[Outcome]:
    """All outcomes, so outcomes without results yet are listed too."""
    return list(Outcome.objects.filter(review=review).select_related("domain")
                .order_by("domain__order", "domain__name", "order", "name"))


def outcome_current_results(review: Review, outcome_id: int) -> list[OutcomeResult]:
    """The overall and subgroup results of one outcome in the current run (payloads included)."""
    return list(current_results(review).filter(outcome_id=outcome_id))


def outcome_history(review: Review, outcome_id: int) -> list[tuple]:
    """``(finished_at, data_version, estimate, ci_low, ci_high)`` of the outcome's overall result in
    every succeeded run of the review, oldest first."""
    return list(
        OutcomeResult.objects.filter(run__review=review, run__status=RunStatus.SUCCEEDED, outcome_id=outcome_id,
                                     subgroup_field__isnull=True, analysis_set="main", estimate__isnull=False)
        .order_by("run__finished_at", "run_id")
        .values_list("run__finished_at", "run__data_version", "estimate", "ci_low", "ci_high")
    )


@dataclass(frozen=True)
class StudyTable:
    """The "Characteristics of included studies" table: one row per study, one column per field."""

    fields: list[CharacteristicField]
    rows: list[tuple[Study, list[str], list[Arm]]]

    def labelled_rows(self) -> list[tuple[Study, list[tuple[str, str]], list[Arm]]]:
        """The rows with each value beside its field's name (a stacked row on a phone labels each value)."""
        names = [field.name for field in self.fields]
        return [(study, list(zip(names, values, strict=True)), arms) for study, values, arms in self.rows]


def included_studies_table(review: Review) -> StudyTable:
    """Characteristics and arms of the included studies (three queries)."""
    fields = list(CharacteristicField.objects.filter(review=review).order_by("order", "name"))
    studies = list(Study.objects.filter(review=review, is_included=True).order_by("year", "label")
                   .prefetch_related("arms"))
    values: dict[tuple[int, int], str] = {}
    for value in StudyCharacteristic.objects.filter(study__review=review, study__is_included=True).select_related("field"):
        shown = value.value
        values[(value.study_id, value.field_id)] = "" if shown is None else f"{shown:g}" if isinstance(shown, float) else shown
    return StudyTable(fields, [(s, [values.get((s.pk, f.pk), "") for f in fields], list(s.arms.all())) for s in studies])


EXTRACTED_DATA_COLUMNS = ("study", "year", "outcome", "time_point", "arm", "arm_role", "n", "mean", "sd", "events",
                          "total", "estimate", "se", "value_type", "provenance", "instrument", "included_in_analysis",
                          "source_location", "derivation")


def extracted_data_rows(review: Review):
    """The extracted data of the included studies, as CSV rows (two queries, streamed): the arm-level
    rows with the confirmed numbers the analysis uses (not an entry still awaiting its check), then the
    generic inverse-variance rows, one per study (and subgroup) with its confirmed estimate and SE, no
    arm."""
    arm_rows = (OutcomeData.objects.filter(study__review=review, study__is_included=True)
                .filter(HAS_CONFIRMED_NUMBERS)
                .order_by("outcome__domain__order", "outcome__order", "outcome__name", "time_point__order",
                          "study__year", "study__label", "-arm__role", "arm__label")
                .values_list("study__label", "study__year", "outcome__name", "time_point__label", "arm__label",
                             "arm__role", "confirmed_n", "confirmed_mean", "confirmed_sd", "confirmed_events",
                             "confirmed_total", "value_type", "provenance", "instrument",
                             "include_in_analysis", "source_location", "derivation")
                .iterator(chunk_size=2000))
    for row in arm_rows:
        yield (*row[:11], None, None, *row[11:])
    estimates = (StudyEstimate.objects.filter(study__review=review, study__is_included=True)
                 .filter(HAS_CONFIRMED_ESTIMATE)
                 .order_by("outcome__domain__order", "outcome__order", "outcome__name", "time_point__order",
                           "study__year", "study__label", "order", "pk")
                 .values_list("study__label", "study__year", "outcome__name", "time_point__label",
                              "confirmed_estimate", "confirmed_se", "include_in_analysis", "source_location")
                 .iterator(chunk_size=2000))
    for label, year, outcome, time_point, estimate, se, included, source_location in estimates:
        yield (label, year, outcome, time_point, "", "", None, None, None, None, None, estimate, se, "", "reported",
               "", included, source_location, None)


def risk_of_bias_consensus(review: Review):
    """The consensus judgments of the review's tool (as the living pipeline reads them)."""
    return risk_of_bias_load(review)


def rob_labels(review: Review) -> tuple[dict[int, tuple[int, str]], dict[int, tuple[tuple, str]]]:
    """(year, label) by study id and (order key, name) by outcome id, for risk-of-bias figure rows."""
    studies = {pk: (year or 0, label) for pk, year, label in
               Study.objects.filter(review=review).values_list("pk", "year", "label")}
    outcomes = {pk: ((domain_order, order, name), name) for pk, domain_order, order, name in
                Outcome.objects.filter(review=review).values_list("pk", "domain__order", "order", "name")}
    return studies, outcomes


# --- Releases (issue 20) --------------------------------------------------------------------------


def releases_of(review: Review) -> QuerySet:
    """A review's releases, newest first, without their (large) snapshots."""
    return (Release.objects.filter(review=review).defer("snapshot_gz").select_related("review", "created_by")
            .order_by("-major", "-minor", "-patch"))


def release_of(review: Review, version: str, *, with_snapshot: bool = True):
    """One release of a review by its version ("1.2.0"), or None."""
    parts = Release.parse_version(version)
    if parts is None:
        return None
    queryset = Release.objects.filter(review=review, major=parts[0], minor=parts[1], patch=parts[2])
    if not with_snapshot:
        queryset = queryset.defer("snapshot_gz")
    return queryset.select_related("review", "created_by").first()


# --- GRADE summary of findings (issue 24) ---------------------------------------------------------


def _per_1000(value: float) -> int:
    """GRADE tables show whole numbers per 1,000 (half away from zero, as people round)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _ratio_text(value: float) -> str:
    return f"{value:.2f}"


def _side(value: float) -> str:
    """"0.34 lower" / "0.12 higher" (a difference in means, as GRADE tables word it)."""
    return f"{abs(value):.2f} {'lower' if value < 0 else 'higher'}"


def _difference_words(value: int) -> str:
    if value == 0:
        return "0 fewer"
    return f"{abs(value)} {'more' if value > 0 else 'fewer'}"


def sof_entry(result: OutcomeResult, overrides: dict[str, GradeOverride],
              setting: SummaryOfFindingsOutcome | None) -> dict | None:
    """One outcome's row of the summary of findings, as the API answers it: the automatic judgments
    stored with the analysis, people's overrides applied (flagged when the automatic judgment has
    changed since), the certainty, and the table's cells. None without a pooled result."""
    payload = result.payload or {}
    grade = payload.get("grade")
    chosen = grade_rules.pooled_result(payload)
    if not grade or chosen.get("estimate") is None or chosen.get("ci_low") is None:
        return None
    measure = payload["measure"]
    domains, footnotes = [], []
    for automatic in grade["domains"]:
        override = overrides.get(automatic["domain"])
        entry = {
            "domain": automatic["domain"], "levels": automatic["levels"], "automatic": override is None,
            "reason": automatic["reason"], "numbers": automatic["numbers"], "rule": automatic["rule"],
            "automatic_levels": automatic["levels"], "automatic_reason": automatic["reason"],
            "override": None, "needs_second_look": False,
        }
        if override is not None:
            second_look = override.automatic_levels != automatic["levels"]
            entry.update(levels=override.levels, reason=override.reason, needs_second_look=second_look, override={
                "by": override.made_by.get_username() if override.made_by else None,
                "at": override.made_at.isoformat(), "automatic_levels_then": override.automatic_levels,
                "automatic_reason_then": override.automatic_reason})
        domains.append(entry)
        if entry["levels"]:
            label = grade_rules.DOMAIN_LABELS[entry["domain"]]
            whose = f" (assessor's judgment; the rule said {automatic['levels']})" if override is not None else ""
            footnotes.append(f"{label}: rated down {entry['levels']} level{'s' if entry['levels'] > 1 else ''}"
                             f"{whose}. {entry['reason']}")
    downgrades = sum(d["levels"] for d in domains)
    certainty = grade_rules.certainty_from_levels(downgrades)
    is_ratio = measure in grade_rules.RATIO_MEASURES
    estimate, low, high = chosen["estimate"], chosen["ci_low"], chosen["ci_high"]
    shown = (chosen["ratio"], chosen["ratio_ci_low"], chosen["ratio_ci_high"]) if is_ratio else (estimate, low, high)
    # A generic ratio is named as entered (e.g. "Hazard Ratio"); the others by their short code.
    name = (payload.get("measure_name") or "Ratio") if measure == "GENERIC_RATIO" else Measure(measure).code
    relative = {"measure": name, "estimate": shown[0], "ci_low": shown[1], "ci_high": shown[2],
                "text": f"{name} {_ratio_text(shown[0])} ({_ratio_text(shown[1])} to {_ratio_text(shown[2])})"}
    absolute = None
    if measure in grade_rules.DICHOTOMOUS_MEASURES and grade["control_risk"] is not None:
        effect = grade_rules.absolute_effect(measure, *shown, grade["control_risk"])
        difference = [_per_1000(v) for v in (effect.difference_per_1000, effect.difference_low_per_1000,
                                              effect.difference_high_per_1000)]
        absolute = {
            "control_risk": grade["control_risk"], "control_risk_source": grade["control_risk_source"],
            "risk_with_control_per_1000": _per_1000(effect.control_per_1000),
            "risk_with_intervention_per_1000": _per_1000(effect.intervention_per_1000),
            "risk_with_intervention_ci_per_1000": [_per_1000(effect.intervention_low_per_1000),
                                                   _per_1000(effect.intervention_high_per_1000)],
            "difference_per_1000": difference[0], "difference_ci_per_1000": difference[1:],
            "exact": asdict(effect),
            "difference_text": (f"{_difference_words(difference[0])} per 1,000 ({_difference_words(difference[1])} to "
                                f"{_difference_words(difference[2])})"),
            "text": (f"{_per_1000(effect.intervention_per_1000)} per 1,000 with the intervention "
                     f"({_per_1000(effect.intervention_low_per_1000)} to {_per_1000(effect.intervention_high_per_1000)}) "
                     f"against {_per_1000(effect.control_per_1000)} per 1,000 with control: "
                     f"{_difference_words(difference[0])} per 1,000 ({_difference_words(difference[1])} to "
                     f"{_difference_words(difference[2])})"),
        }
    interpretation = back_translation = None
    if measure in grade_rules.SMD_MEASURES:
        size = grade_rules.smd_size(estimate)
        interpretation = {"size": size, "statement": grade_rules.plain_statement(certainty, size, payload["favours"]),
                          "rule": "Cohen's 0.2 / 0.5 / 0.8 (Cochrane Handbook 15.5.3.1); GRADE guidelines 26"}
        if setting is not None and setting.familiar_sd and setting.familiar_scale:
            back = grade_rules.back_translate(estimate, low, high, setting.familiar_scale, setting.familiar_sd)
            back_translation = {**asdict(back), "text": (
                f"{_side(back.mean_difference)} on {back.scale} ({_side(back.ci_low)} to {_side(back.ci_high)}; "
                f"SMD × SD {back.sd:g})")}
    heterogeneity = payload["heterogeneity"]
    # GRADE's wording for a difference in means (GRADE guidelines 13): the intervention group's mean
    # was so much higher or lower, with its CI.
    unit = " SD" if measure in grade_rules.SMD_MEASURES else ""
    difference_text = "" if absolute or is_ratio else (
        f"{name} {abs(estimate):.2f}{unit} {'lower' if estimate < 0 else 'higher'} ({_side(low)} to {_side(high)})")
    return {
        "outcome": result.outcome.name,
        "outcome_id": result.outcome_id,
        "domain": result.outcome.domain.name,
        "time_point": result.time_point.label,
        "in_table": setting is not None,
        "position": setting.position if setting is not None else None,
        "certainty": certainty,
        "certainty_symbols": grade_rules.CERTAINTY_SYMBOLS[certainty],
        "downgrades": downgrades,
        "needs_second_look": any(d["needs_second_look"] for d in domains),
        "domains": domains,
        "k": result.k,
        "participants": grade["participants"],
        "measure": measure,
        "chosen_model": result.chosen_model,
        "estimate": estimate, "ci_low": low, "ci_high": high, "p": result.p_value,
        "i2": heterogeneity["i2"], "tau2": heterogeneity["tau2"],
        "prediction_low": payload["random"].get("prediction_low"),
        "prediction_high": payload["random"].get("prediction_high"),
        "decision_threshold": grade["threshold"], "decision_threshold_source": grade["threshold_source"],
        "optimal_information_size": grade["optimal_information_size"],
        "relative_effect": relative,
        "is_ratio": is_ratio,
        "difference_text": difference_text,
        "absolute_effect": absolute,
        "interpretation": interpretation,
        "back_translation": back_translation,
        "footnotes": footnotes,
    }


def summary_of_findings(review: Review) -> list[dict]:
    """Every outcome of the main analysis with a pooled result, in the review's outcome order (the
    API's answer); each says whether the manager put it in the table (``in_table``, ``position``)."""
    results = list(current_results(review).filter(subgroup_field__isnull=True, analysis_set="main"))
    overrides: dict[int, dict[str, GradeOverride]] = {}
    for override in GradeOverride.objects.filter(review=review).select_related("made_by"):
        overrides.setdefault(override.outcome_id, {})[override.domain] = override
    settings = {s.outcome_id: s for s in SummaryOfFindingsOutcome.objects.filter(review=review)}
    entries = [sof_entry(r, overrides.get(r.outcome_id, {}), settings.get(r.outcome_id)) for r in results]
    return [e for e in entries if e is not None]


def summary_of_findings_table(entries: list[dict]) -> tuple[list[dict], bool]:
    """The rows of the table: the manager's choice in their order; until there is one, the first
    seven outcomes (GRADE: at most seven). Returns (rows, chosen by the manager)."""
    chosen = sorted((e for e in entries if e["in_table"]), key=lambda e: e["position"])
    if chosen:
        return chosen, True
    return entries[:SummaryOfFindingsOutcome.MAX_OUTCOMES], False
