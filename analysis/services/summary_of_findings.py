"""Writes of the GRADE summary of findings (issue 24): the manager's choice of outcomes (up to seven)
with their thresholds, control risk and familiar scale, and assessors' overrides of a domain.

Both move the review's data version in the same transaction: the settings feed the automatic
judgments (recomputed with the analysis), and an override changes what the living pages and the
next release show (their cache key and "nothing changed" check follow the data version).
"""
from __future__ import annotations

import statistics

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis.engine import grade as grade_rules
from analysis.models import (
    AnalysisSet,
    GradeDomain,
    GradeOverride,
    OutcomeResult,
    ReviewAnalysisState,
    SummaryOfFindingsOutcome,
)
from studies import access
from studies.models import ArmRole, Outcome, OutcomeData, Review
from studies.services import review_data_version_bump


def _outcome_of(review: Review, outcome: Outcome | int) -> Outcome:
    outcome_id = outcome.pk if isinstance(outcome, Outcome) else outcome
    found = Outcome.objects.filter(review=review, pk=outcome_id).first()
    if found is None:
        raise ValidationError({"outcome": "No such outcome in this review."})
    return found


def sof_outcome_set(*, review: Review, user, outcome: Outcome | int, position: int,
                    decision_threshold: float | None = None, control_risk: float | None = None,
                    familiar_scale: str = "", familiar_sd: float | None = None) -> SummaryOfFindingsOutcome:
    """A manager puts an outcome in row ``position`` (1–7) of the summary of findings, with what the
    GRADE rules need from people. Another outcome in that row is refused (remove it first)."""
    access.require_role(user, review, access.MANAGER, "choose the summary of findings")
    outcome = _outcome_of(review, outcome)
    with transaction.atomic():
        Review.objects.select_for_update().filter(pk=review.pk).first()  # one change of the table at a time
        row = SummaryOfFindingsOutcome.objects.filter(outcome=outcome).first() or SummaryOfFindingsOutcome(
            review=review, outcome=outcome)
        row.position, row.decision_threshold, row.control_risk = position, decision_threshold, control_risk
        row.familiar_scale, row.familiar_sd = (familiar_scale or "").strip(), familiar_sd
        row.set_by, row.set_at = user, timezone.now()
        errors = {}
        taken = SummaryOfFindingsOutcome.objects.filter(review=review, position=position).exclude(outcome=outcome).first()
        if taken is not None:
            errors["position"] = f"Row {position} already shows “{taken.outcome.name}”: remove it first."
        if (decision_threshold is not None and outcome.effect_measure in grade_rules.RATIO_MEASURES
                and not decision_threshold > 1):
            errors["decision_threshold"] = "For a ratio the threshold is a ratio above 1 (1.25 also means 0.8)."
        if control_risk is not None and outcome.effect_measure not in grade_rules.DICHOTOMOUS_MEASURES:
            errors["control_risk"] = "A control risk applies to dichotomous outcomes only."
        if familiar_sd is not None and not row.familiar_scale:
            errors["familiar_scale"] = "Name the familiar scale whose SD this is."
        if errors:
            raise ValidationError(errors)
        row.full_clean()
        row.save()
        review_data_version_bump(review_ids=[review.pk])
    return row


def sof_outcome_remove(*, review: Review, user, outcome: Outcome | int) -> None:
    """A manager takes an outcome out of the summary of findings."""
    access.require_role(user, review, access.MANAGER, "choose the summary of findings")
    outcome = _outcome_of(review, outcome)
    with transaction.atomic():
        deleted, _ = SummaryOfFindingsOutcome.objects.filter(review=review, outcome=outcome).delete()
        if deleted:
            review_data_version_bump(review_ids=[review.pk])


def automatic_judgment(review: Review, outcome: Outcome, domain: str) -> dict | None:
    """The current automatic judgment of one domain of an outcome (from the current run), or None."""
    run_id = ReviewAnalysisState.objects.filter(review=review).values_list("current_run_id", flat=True).first()
    result = (OutcomeResult.objects.filter(run_id=run_id, outcome=outcome, subgroup_field__isnull=True,
                                           analysis_set=AnalysisSet.MAIN).only("payload_gz").first()
              if run_id else None)
    grade = (result.payload or {}).get("grade") if result is not None else None
    if not grade:
        return None
    return next((d for d in grade["domains"] if d["domain"] == domain), None)


def grade_override_set(*, review: Review, user, outcome: Outcome | int, domain: str, levels: int,
                       reason: str) -> GradeOverride:
    """An assessor (or manager) replaces the automatic judgment of one domain with their own, with a
    written reason; the automatic judgment it replaces is kept beside it (audited)."""
    access.require_role(user, review, access.GRADE_ASSESSORS, "override a GRADE judgment")
    outcome = _outcome_of(review, outcome)
    errors = {}
    if domain not in GradeDomain.values:
        errors["domain"] = f"Unknown GRADE domain “{domain}”: one of {', '.join(GradeDomain.values)}."
    if levels not in (0, 1, 2):
        errors["levels"] = "A domain is rated down 0, 1 or 2 levels."
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "An override needs a written reason."
    if errors:
        raise ValidationError(errors)
    automatic = automatic_judgment(review, outcome, domain)
    with transaction.atomic():
        override, _ = GradeOverride.objects.update_or_create(
            outcome=outcome, domain=domain,
            defaults={"review": review, "levels": levels, "reason": reason,
                      "automatic_levels": automatic["levels"] if automatic else None,
                      "automatic_reason": automatic["reason"] if automatic else "",
                      "made_by": user, "made_at": timezone.now()})
        review_data_version_bump(review_ids=[review.pk])
    return override


def grade_override_remove(*, review: Review, user, outcome: Outcome | int, domain: str) -> None:
    """Go back to the automatic judgment of a domain (audited, like the override)."""
    access.require_role(user, review, access.GRADE_ASSESSORS, "override a GRADE judgment")
    outcome = _outcome_of(review, outcome)
    with transaction.atomic():
        deleted, _ = GradeOverride.objects.filter(outcome=outcome, domain=domain).delete()
        if deleted:
            review_data_version_bump(review_ids=[review.pk])


# The demo review's table (studies.services.demo): the outcomes a review team of its question would
# rate critical or important, one row each, in the order of its outcome domains.
DEMO_TABLE = ("Self-stigma", "Stigma stress", "Depression", "Hopelessness", "Recovery", "Empowerment", "Secrecy")


def demo_table_choose(*, review: Review, manager) -> None:
    """Choose the demo review's summary of findings as its manager would, the primary outcome
    re-expressed on its own (synthetic) scale with the median SD of its control groups (Handbook
    15.5.3.2: back-translation of an SMD to a familiar instrument)."""
    outcomes = {outcome.name: outcome for outcome in Outcome.objects.filter(review=review, name__in=DEMO_TABLE)}
    for position, name in enumerate(DEMO_TABLE, start=1):
        outcome = outcomes[name]
        extra = {}
        if outcome.is_primary:
            sds = (OutcomeData.objects.filter(outcome=outcome, arm__role=ArmRole.CONTROL, include_in_analysis=True,
                                              time_point__is_analysis_default=True, confirmed_sd__isnull=False)
                   .values_list("confirmed_sd", flat=True))
            extra = {"familiar_scale": "Self-stigma scale (synthetic)", "familiar_sd": round(statistics.median(sds), 2)}
        sof_outcome_set(review=review, user=manager, outcome=outcome, position=position, **extra)


def demo_review_built(sender, *, review: Review, manager, **kwargs) -> None:  # noqa: ARG001
    """``studies.services.demo.demo_review_built`` answered (connected in AnalysisConfig.ready)."""
    demo_table_choose(review=review, manager=manager)
