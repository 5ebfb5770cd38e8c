"""Reads of analysis results for pages and the API."""
from dataclasses import dataclass
from functools import lru_cache

from django.db import connection
from django.db.models import QuerySet

from analysis.engine.options import Measure
from analysis.services import risk_of_bias_load
from analysis.models import ConclusionChange, OutcomeResult, Release, RunStatus
from studies import access
from studies.models import (
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
    generic inverse-variance rows, one per study (and subgroup) with its estimate and SE, no arm."""
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
                 .order_by("outcome__domain__order", "outcome__order", "outcome__name", "time_point__order",
                           "study__year", "study__label", "order", "pk")
                 .values_list("study__label", "study__year", "outcome__name", "time_point__label", "estimate", "se",
                              "include_in_analysis", "source_location")
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
