"""Step 3 of the living analysis: store a run's results only if they still describe the current data
(compare-and-set), and record (and e-mail) the conclusions that changed."""
from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from analysis.models import (
    AnalysisRun,
    AnalysisSet,
    ChangeKind,
    ConclusionChange,
    OutcomeResult,
    ReviewAnalysisState,
    RunStatus,
)
from analysis.services.compute import ComputedResult, result_headline
from studies.models import Outcome, Review, ReviewMembership, Role

logger = logging.getLogger(__name__)


# --- Storing (compare-and-set) and conclusion changes -----------------------------------------


# I² bands: the Cochrane Handbook's guide (10.10.2) overlaps (0–40, 30–60, 50–90, 75–100); a
# change of band needs one cut-off per boundary, so we use the overlaps' midpoints.
I2_BANDS = ((35.0, "might not be important"), (55.0, "moderate"), (82.5, "substantial"),
            (math.inf, "considerable"))


def i2_band(i2: float | None) -> str | None:
    if i2 is None or not math.isfinite(i2):
        return None
    return next(label for upper, label in I2_BANDS if i2 < upper)


def conclusion_changes_detect(previous: OutcomeResult | None, current: OutcomeResult, alpha: float
                              ) -> list[tuple[str, str]]:
    """Changes between two runs' overall results of one outcome that matter to a reader."""
    if current.estimate is None:
        return []
    if previous is None or previous.estimate is None:
        return [(ChangeKind.FIRST_RESULT, f"First pooled result from {current.k} stud{'y' if current.k == 1 else 'ies'}.")]
    changes = []
    was, now = previous.p_value is not None and previous.p_value < alpha, current.p_value is not None and current.p_value < alpha
    if now and not was:
        changes.append((ChangeKind.BECAME_SIGNIFICANT, f"P went from {previous.p_value:.3g} to {current.p_value:.3g}."))
    if was and not now:
        changes.append((ChangeKind.LOST_SIGNIFICANCE, f"P went from {previous.p_value:.3g} to {current.p_value:.3g}."))
    if previous.estimate * current.estimate < 0:
        changes.append((ChangeKind.DIRECTION_CHANGED,
                        f"The pooled effect went from {previous.estimate:.2f} to {current.estimate:.2f}."))
    if previous.chosen_model != current.chosen_model:
        changes.append((ChangeKind.MODEL_SWITCHED,
                        f"The {current.chosen_model}-effect model is now reported "
                        + (f"(I² = {current.i2:.0f}%)." if current.i2 is not None
                           else "(one study: heterogeneity not applicable).")))
    before, after = i2_band(previous.i2), i2_band(current.i2)
    if before and after and before != after:
        changes.append((ChangeKind.HETEROGENEITY_BAND,
                        f"Heterogeneity went from {before} (I² = {previous.i2:.0f}%) to {after} (I² = {current.i2:.0f}%)."))
    return changes


def run_store(review_id: int, data_version: int, time_point_id: int | None, started_at,
           computed: list[ComputedResult]) -> AnalysisRun | None:
    """Write a run's results if ``data_version`` is still current; returns the run, or None when
    the data moved on (or the same version was already stored by another delivery)."""
    with transaction.atomic():
        # The row lock orders this write against edits, which bump the version on the same row.
        current_version = Review.objects.select_for_update().values_list("data_version", flat=True).get(pk=review_id)
        state, _ = ReviewAnalysisState.objects.select_for_update().get_or_create(review_id=review_id)
        if current_version != data_version or state.computed_version >= data_version:
            AnalysisRun.objects.create(review_id=review_id, data_version=data_version, status=RunStatus.SUPERSEDED,
                                       started_at=started_at, finished_at=timezone.now())
            return None
        now = timezone.now()
        run = AnalysisRun.objects.create(review_id=review_id, data_version=data_version,
                                         status=RunStatus.SUCCEEDED, started_at=started_at, finished_at=now)
        stored = OutcomeResult.objects.bulk_create([
            OutcomeResult(run=run, outcome_id=c.outcome_id, time_point_id=time_point_id,
                          subgroup_field_id=c.subgroup_field_id, analysis_set=c.analysis_set,
                          payload_gz=OutcomeResult.pack(c.payload),
                          **result_headline(c.payload))
            for c in computed
        ])
        previous_run_id = state.current_run_id
        state.computed_version, state.computed_at, state.current_run = data_version, now, run
        state.save()
        _record_conclusion_changes(review_id, run, previous_run_id, stored)
        if previous_run_id is not None:
            # Every run keeps its headline numbers (the history of each estimate); the full engine
            # output, megabytes for a large review, is kept for the current run only.
            OutcomeResult.objects.filter(run_id=previous_run_id).update(payload_gz=None)
    return run


def _record_conclusion_changes(review_id: int, run: AnalysisRun, previous_run_id: int | None,
                               stored: list[OutcomeResult]) -> None:
    if previous_run_id is None:
        return  # the first run of a review is the baseline, not news
    review = Review.objects.get(pk=review_id)
    alpha = 1 - review.confidence_level
    previous = {r.outcome_id: r for r in OutcomeResult.objects.filter(
        run_id=previous_run_id, subgroup_field__isnull=True, analysis_set=AnalysisSet.MAIN)}
    changes = []
    for result in stored:
        if result.subgroup_field_id is not None or result.analysis_set != AnalysisSet.MAIN:
            continue
        for kind, description in conclusion_changes_detect(previous.get(result.outcome_id), result, alpha):
            changes.append(ConclusionChange(review_id=review_id, outcome_id=result.outcome_id, run=run,
                                            previous_run_id=previous_run_id, kind=kind, description=description))
    if changes:
        ConclusionChange.objects.bulk_create(changes)
        transaction.on_commit(lambda: _notify_managers(review, changes))


def _notify_managers(review: Review, changes: list[ConclusionChange]) -> None:
    recipients = list(ReviewMembership.objects.filter(review=review, role=Role.MANAGER)
                      .exclude(user__email="").values_list("user__email", flat=True))
    if not recipients:
        return
    names = {o.pk: o.name for o in Outcome.objects.filter(pk__in={c.outcome_id for c in changes})}
    lines = [f"- {names[c.outcome_id]}: {ChangeKind(c.kind).label}. {c.description}" for c in changes]
    try:
        send_mail(
            subject=f"[{review.title[:60]}] The evidence changed",
            message="The living analysis was recomputed and these conclusions changed:\n\n" + "\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=recipients,
        )
    except Exception:  # mail is a courtesy: the change is recorded and shown either way
        logger.exception("Could not e-mail the managers of review %s about conclusion changes", review.pk)
