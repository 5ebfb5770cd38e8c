"""Writes of the review database. The admin, the API, forms and commands all save through here,
so every path validates the same way and every change to an analysis input moves the review's
``data_version`` in the same transaction (DESIGN.md, "Living analysis").
"""
from collections.abc import Iterable, Sequence

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import F
from django.dispatch import Signal

from studies.models import (
    Arm,
    CharacteristicField,
    DuplicateCandidate,
    ExclusionReason,
    ImportBatch,
    Outcome,
    OutcomeData,
    OutcomeDomain,
    OutcomeSubgroup,
    Record,
    Report,
    Review,
    ReviewMembership,
    RevManImport,
    RiskOfBiasAssessment,
    RiskOfBiasJudgment,
    Rob2Assessment,
    Rob2DomainJudgment,
    Rob2SignallingAnswer,
    ScreeningDecision,
    ScreeningResolution,
    SearchSource,
    Study,
    StudyCharacteristic,
    StudyEstimate,
    TimePoint,
)
from studies.services.plausibility import outcome_data_hold, study_estimate_hold

# How each entity reaches its review: used to scope querysets to a user's reviews and to find the
# review whose data version a change moves.
REVIEW_LOOKUP: dict[type[models.Model], str] = {
    Review: "id",
    ReviewMembership: "review_id",
    SearchSource: "review_id",
    ImportBatch: "review_id",
    Record: "review_id",
    DuplicateCandidate: "review_id",
    ExclusionReason: "review_id",
    ScreeningDecision: "record__review_id",
    ScreeningResolution: "record__review_id",
    Study: "review_id",
    Report: "study__review_id",
    CharacteristicField: "review_id",
    StudyCharacteristic: "study__review_id",
    Arm: "study__review_id",
    OutcomeDomain: "review_id",
    Outcome: "review_id",
    TimePoint: "review_id",
    OutcomeData: "study__review_id",
    OutcomeSubgroup: "outcome__review_id",
    StudyEstimate: "study__review_id",
    RevManImport: "review_id",
    RiskOfBiasAssessment: "study__review_id",
    RiskOfBiasJudgment: "assessment__study__review_id",
    Rob2Assessment: "study__review_id",
    Rob2DomainJudgment: "assessment__study__review_id",
    Rob2SignallingAnswer: "assessment__study__review_id",
}

# Entities whose changes can change a pooled result: outcome data, arms, study inclusion,
# subgroup values, outcome definitions, and risk of bias (sensitivity analyses use it).
ANALYSIS_INPUTS: frozenset[type[models.Model]] = frozenset(
    {
        Study,
        Arm,
        CharacteristicField,
        StudyCharacteristic,
        OutcomeDomain,
        Outcome,
        TimePoint,
        OutcomeData,
        OutcomeSubgroup,
        StudyEstimate,
        RiskOfBiasAssessment,
        RiskOfBiasJudgment,
        Rob2Assessment,
        Rob2DomainJudgment,
        Rob2SignallingAnswer,
    }
)

# Risk-of-bias rows are analysis inputs only as the consensus (DESIGN.md: only consensus judgments
# feed figures and analyses): an assessor's draft must not move the data version, or every keystroke
# of an assessment would start a recompute and mark the public pages "updating".
CONSENSUS_PATH: dict[type[models.Model], str] = {
    RiskOfBiasAssessment: "is_consensus",
    RiskOfBiasJudgment: "assessment__is_consensus",
    Rob2Assessment: "is_consensus",
    Rob2DomainJudgment: "assessment__is_consensus",
    Rob2SignallingAnswer: "assessment__is_consensus",
}

# The rows of a review's workflow: written only by their domain services (studies.services.screening,
# .risk_of_bias, .extraction), which hold the rules (two decisions per record, nothing after a
# resolution, blinding, the RoB algorithm, consensus after both submitted). The generic save and
# delete below, which the admin and the API's plain endpoints use, refuse them, so a rule holds
# whichever door a change comes through.
WORKFLOW_MODELS: frozenset[type[models.Model]] = frozenset(
    {ScreeningDecision, ScreeningResolution, RiskOfBiasAssessment, RiskOfBiasJudgment, Rob2Assessment,
     Rob2DomainJudgment, Rob2SignallingAnswer}
)


# The extracted numbers: under dual extraction they come only from the extractors' consensus.
DUAL_EXTRACTED: tuple[type[models.Model], ...] = (OutcomeData, StudyEstimate)


class WorkflowWriteRefused(PermissionDenied):
    """A workflow row was sent to the generic save or delete."""


def workflow_write_refusal(model: type[models.Model], review_id: int | None) -> str | None:
    """Why the generic save or delete may not write rows of ``model`` in this review, or ``None``."""
    if model in WORKFLOW_MODELS:
        return (f"{model._meta.verbose_name_plural.capitalize()} are written through the review's "
                f"screening, risk-of-bias and extraction pages or API, which apply the review's rules; "
                f"they cannot be edited directly.")
    if model in DUAL_EXTRACTED and review_id is not None and Review.objects.filter(
            pk=review_id, dual_extraction=True).exists():
        return ("This review uses dual extraction: each extractor enters their own extraction and the "
                "data come from their consensus, on the extraction pages.")
    return None


def _refuse_workflow(model: type[models.Model], review_ids: Iterable[int | None]) -> None:
    for review_id in set(review_ids) or {None}:
        reason = workflow_write_refusal(model, review_id)
        if reason:
            raise WorkflowWriteRefused(reason)


def _refuse_workflow_row(instance: models.Model) -> None:
    """``_refuse_workflow`` for one row; its review is looked up only where the answer depends on it."""
    model = type(instance)
    if model in WORKFLOW_MODELS or model in DUAL_EXTRACTED:
        _refuse_workflow(model, [review_id_of(instance)])


# Review fields that change how its analyses are computed; editing the title changes nothing.
REVIEW_ANALYSIS_SETTINGS: frozenset[str] = frozenset(
    {"effect_measure", "model_rule", "i2_threshold", "tau2_estimator", "hartung_knapp", "confidence_level",
     # The risk-of-bias sensitivity analyses use the consensus judgments of the review's tool.
     "rob_tool", "rob1_key_domains"}
)


def review_id_of(instance: models.Model) -> int | None:
    """The id of the review an entity belongs to (follows foreign keys, one query at most per hop)."""
    obj: object = instance
    for hop in REVIEW_LOOKUP[type(instance)].split("__"):
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    return int(obj)  # type: ignore[arg-type]


def feeds_analysis(instance: models.Model) -> bool:
    """Whether a change to this entity (as it is in memory) can change a pooled result."""
    model = type(instance)
    if model not in ANALYSIS_INPUTS:
        return False
    path = CONSENSUS_PATH.get(model)
    if path is None:
        return True
    obj: object = instance
    for hop in path.split("__"):
        obj = getattr(obj, hop, None)
    return bool(obj)


def _feeding(queryset: models.QuerySet) -> models.QuerySet:
    """The rows of a queryset that are analysis inputs (see ``CONSENSUS_PATH``)."""
    path = CONSENSUS_PATH.get(queryset.model)
    return queryset.filter(**{path: True}) if path else queryset


# The doorbell: sent once a transaction that moved data versions commits, with
# ``review_ids`` (sorted). The analysis app answers it (AnalysisConfig.ready connects
# analysis.tasks.recompute_request), so studies asks for recomputes without importing analysis,
# which sits above it (.importlinter). Receivers run in the committing process, exactly where
# the call used to be; a receiver that raises propagates as the direct call did.
review_data_changed = Signal()


def review_data_version_bump(*, review_ids: Iterable[int]) -> None:
    """Move the data version of reviews whose analysis inputs changed (inside the caller's
    transaction), and once it commits ask for a recompute of their analyses."""
    ids = sorted({rid for rid in review_ids if rid is not None})
    if ids:
        Review.objects.filter(pk__in=ids).update(data_version=F("data_version") + 1)
        transaction.on_commit(lambda: review_data_changed.send(sender=Review, review_ids=ids))


def _review_settings_changed(review: Review) -> bool:
    if review.pk is None:
        return False
    stored = Review.objects.filter(pk=review.pk).values(*REVIEW_ANALYSIS_SETTINGS).first()
    return stored is not None and any(stored[name] != getattr(review, name) for name in REVIEW_ANALYSIS_SETTINGS)


def entity_save(*, instance: models.Model, user=None) -> models.Model:
    """Validate and save one entity; refuse invalid values with errors that name the field, and
    workflow rows (``WORKFLOW_MODELS``), which only their domain services write. ``user`` is who
    makes the change: an outcome value's plausibility check records who entered it.

    Raises ``django.core.exceptions.ValidationError`` and writes nothing when the instance is invalid,
    ``WorkflowWriteRefused`` (a ``PermissionDenied``) for a workflow row.
    """
    _refuse_workflow_row(instance)
    return entity_store(instance=instance, user=user)


@transaction.atomic
def entity_store(*, instance: models.Model, user=None, along: Sequence[models.Model] = ()) -> models.Model:
    """``entity_save`` without the workflow refusal: for the domain services only, which apply the
    workflow's rules themselves before they store a row.

    An outcome value or a study estimate passes the plausibility check
    (``studies.services.plausibility``): implausible numbers are saved but held "awaiting check", out
    of the published analysis until a second team member confirms them. ``along``: the other outcome
    values saved in the same operation, which the check reads as they will be (a study whose arms
    change together is judged as a whole).
    """
    if isinstance(instance, OutcomeData):
        # The check state and confirmed numbers are decided by the check, and then validated with the rest.
        instance.full_clean(validate_constraints=False)
        outcome_data_hold(rows=[instance], user=user, along=along)
        instance.validate_constraints()
    elif isinstance(instance, StudyEstimate):
        instance.full_clean(validate_constraints=False)
        study_estimate_hold(rows=[instance], user=user)
        instance.validate_constraints()
    else:
        instance.full_clean()
    model = type(instance)
    feeds = feeds_analysis(instance)
    bump = feeds or (isinstance(instance, Review) and _review_settings_changed(instance))
    # An edit can move an input to another review (a study re-assigned), or stop it being an input
    # (a consensus marked as an assessor's own): the review it fed before moves too.
    previous_review_id = None
    if model in ANALYSIS_INPUTS and instance.pk is not None:
        previous_review_id = _feeding(model._default_manager.filter(pk=instance.pk)).values_list(
            REVIEW_LOOKUP[model], flat=True).first()
    instance.save()
    if bump or previous_review_id is not None:
        review_data_version_bump(review_ids=[review_id_of(instance) if bump else None, previous_review_id])
    if isinstance(instance, Review):
        instance.refresh_from_db(fields=["data_version"])
    return instance


def entity_delete(*, instance: models.Model) -> None:
    """Delete one entity (and what cascades from it), moving the data version if it fed analyses.
    Refuses workflow rows, as ``entity_save`` does (deleting what they belong to, a record or a
    study, is not a workflow write)."""
    _refuse_workflow_row(instance)
    entity_remove(instance=instance)


@transaction.atomic
def entity_remove(*, instance: models.Model) -> None:
    """``entity_delete`` without the workflow refusal: for the domain services only."""
    review_id = review_id_of(instance) if not isinstance(instance, Review) else None
    feeds = feeds_analysis(instance)
    instance.delete()
    if feeds:
        review_data_version_bump(review_ids=[review_id])


@transaction.atomic
def entities_delete(*, queryset: models.QuerySet) -> int:
    """Delete many entities at once (the admin's bulk action), with one data-version move per review.
    Refuses workflow rows, as ``entity_delete`` does."""
    model = queryset.model
    if model in WORKFLOW_MODELS or model in DUAL_EXTRACTED:
        _refuse_workflow(model, queryset.values_list(REVIEW_LOOKUP[model], flat=True).distinct())
    review_ids: list[int] = []
    if model in ANALYSIS_INPUTS:
        review_ids = list(_feeding(queryset).values_list(REVIEW_LOOKUP[model], flat=True).distinct())
    deleted, _ = queryset.delete()
    review_data_version_bump(review_ids=review_ids)
    return deleted


@transaction.atomic
def entities_create(*, instances: list[models.Model]) -> list[models.Model]:
    """Create many entities of one model in one statement (imports, the demo review).

    Every instance is validated field by field and by its ``clean()``, as ``entity_save`` does;
    uniqueness and check constraints are left to the database, which refuses the whole batch
    (nothing is written) if any row breaks one.
    """
    if not instances:
        return []
    model = type(instances[0])
    foreign_keys = [f for f in model._meta.concrete_fields if f.many_to_one]
    for instance in instances:
        if type(instance) is not model:
            raise TypeError("entities_create takes instances of one model at a time.")
        # A foreign key given as a saved instance needs no existence query per row (the database's
        # foreign key holds it); clean() still checks that it belongs to the right review.
        assigned = [f.name for f in foreign_keys
                    if f.is_cached(instance) and getattr(instance, f.name) is not None
                    and getattr(instance, f.name).pk is not None]
        instance.full_clean(exclude=assigned, validate_unique=False, validate_constraints=False)
    if model is OutcomeData:
        outcome_data_hold(rows=instances)
    elif model is StudyEstimate:
        study_estimate_hold(rows=instances)
    created = model._default_manager.bulk_create(instances)
    if model in ANALYSIS_INPUTS:
        review_data_version_bump(review_ids=_feeding(model._default_manager.filter(pk__in=[i.pk for i in created]))
                                 .values_list(REVIEW_LOOKUP[model], flat=True).distinct())
    return created
