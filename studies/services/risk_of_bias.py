"""Writes of risk-of-bias assessments: each assessor's own (RoB 1 per study, RoB 2 per result) and
the consensus. Every write validates the whole assessment first and then replaces it in one
transaction, so an assessment is never half-written; RoB 2's proposed judgments are recomputed by
the published algorithm (``studies.rob2``) on every save, so they always follow from the answers.

Who may do what:

- an assessor (role ``assessor``) writes only their own assessment, and cannot change it once
  submitted: after submitting they may see the other assessor's answers, so a later change would no
  longer be independent; differences are settled in the consensus instead;
- the consensus is recorded once both assessments are submitted, by either of the two assessors or by
  a manager. In Cochrane practice the two assessors agree by discussion and a third person
  arbitrates when they cannot: either assessor can type what they agreed, and the manager can act
  as arbiter. The consensus is the only assessment that feeds figures and analyses, so saving it
  moves the review's data version (``studies.services.entities``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from studies import access, rob2
from studies.models import (
    Judgment,
    Outcome,
    RiskOfBiasAssessment,
    RiskOfBiasJudgment,
    Rob2Assessment,
    Rob2DomainJudgment,
    Rob2Judgment,
    Rob2SignallingAnswer,
    RobDomain,
    Role,
    Study,
)
from studies.services.entities import review_data_version_bump


def answer_field(question_id: str) -> str:
    """The form field of a signalling question: ``q1_1`` for 1.1 (what errors are keyed by)."""
    return "q" + question_id.replace(".", "_")


@dataclass(frozen=True)
class Override:
    """An assessor's judgment in place of the algorithm's proposal, with the reason."""

    judgment: str = ""
    justification: str = ""


@dataclass(frozen=True)
class Rob2Entry:
    """What an assessor enters for one result: answers (question id → Y/PY/PN/N/NI, NA or "" for
    unanswered), support per question, and optional overrides per domain and overall."""

    answers: Mapping[str, str]
    comments: Mapping[str, str]
    domain_overrides: Mapping[str, Override]
    overall_override: Override = Override()


@dataclass(frozen=True)
class Rob2Proposal:
    """The algorithm's reading of an entry: proposed judgments, the questions that apply, and what
    is still missing."""

    domains: dict[str, str | None]  # domain key → proposed judgment
    judgments: dict[str, str | None]  # domain key → judgment that counts (override or proposal)
    asked: dict[str, list[str]]
    missing: dict[str, list[str]]
    overall_proposed: str | None
    overall: str | None


def rob2_propose(entry: Rob2Entry) -> Rob2Proposal:
    """Run the RoB 2 algorithm on an entry (pure: the entry pages call it for the live proposal)."""
    domains, judgments, asked, missing = {}, {}, {}, {}
    for domain in rob2.DOMAINS:
        effective = rob2.effective_answers(domain, entry.answers)
        domains[domain.key] = rob2.domain_judgment(domain, entry.answers)
        override = entry.domain_overrides.get(domain.key, Override())
        judgments[domain.key] = override.judgment or domains[domain.key]
        asked[domain.key] = rob2.asked_questions(domain, effective)
        missing[domain.key] = rob2.missing_questions(domain, entry.answers)
    overall_proposed = rob2.overall_judgment(judgments)
    return Rob2Proposal(domains, judgments, asked, missing, overall_proposed,
                        entry.overall_override.judgment or overall_proposed)


def _validate_rob2(entry: Rob2Entry, *, complete: bool) -> Rob2Proposal:
    errors: dict[str, str] = {}
    for question_id, value in entry.answers.items():
        question = rob2.QUESTIONS.get(question_id)
        if question is None:
            errors["__all__"] = f"There is no RoB 2 signalling question {question_id}."
        elif value not in ("", rob2.NA, *question.options):
            labels = "/".join(question.options)
            errors[answer_field(question_id)] = f"Question {question_id}: answer one of {labels}."
    judgments = set(Rob2Judgment.values)
    for key, override in entry.domain_overrides.items():
        if key not in rob2.DOMAIN_BY_KEY:
            errors["__all__"] = f"There is no RoB 2 domain {key!r}."
        elif override.judgment and override.judgment not in judgments:
            errors[f"override_{key}"] = "Choose low, some concerns or high."
        elif override.judgment and not override.justification.strip():
            errors[f"justification_{key}"] = "Give a justification for overriding the proposed judgment."
    overall = entry.overall_override
    if overall.judgment and overall.judgment not in judgments:
        errors["override_overall"] = "Choose low, some concerns or high."
    elif overall.judgment and not overall.justification.strip():
        errors["justification_overall"] = "Give a justification for overriding the proposed overall judgment."
    if errors:
        raise ValidationError(errors)
    proposal = rob2_propose(entry)
    if complete:
        for key, missing in proposal.missing.items():
            for question_id in missing:
                errors[answer_field(question_id)] = f"Question {question_id} applies: answer it before submitting."
        if errors:
            raise ValidationError(errors)
    return proposal


def _require_assessor(review_id: int, user) -> None:
    if Role.ASSESSOR not in access.roles_in(user, review_id):
        raise PermissionDenied("Only the review's risk-of-bias assessors can assess.")


def _write_rob2(assessment: Rob2Assessment, entry: Rob2Entry, proposal: Rob2Proposal) -> None:
    """Replace the assessment's answers and domain judgments (the caller holds the transaction)."""
    assessment.overall_proposed = proposal.overall_proposed or ""
    assessment.overall_override = entry.overall_override.judgment
    assessment.overall_justification = entry.overall_override.justification.strip() if entry.overall_override.judgment else ""
    assessment.full_clean()
    assessment.save()
    assessment.answers.all().delete()
    assessment.domains.all().delete()
    answers = []
    for domain in rob2.DOMAINS:
        for question_id, value in rob2.effective_answers(domain, entry.answers).items():
            answers.append(Rob2SignallingAnswer(assessment=assessment, question=question_id, answer=value,
                                                comment=(entry.comments.get(question_id) or "").strip()))
    Rob2SignallingAnswer.objects.bulk_create(answers)
    Rob2DomainJudgment.objects.bulk_create([
        Rob2DomainJudgment(assessment=assessment, domain=domain.key, proposed=proposal.domains[domain.key] or "",
                           override=entry.domain_overrides.get(domain.key, Override()).judgment,
                           justification=entry.domain_overrides.get(domain.key, Override()).justification.strip()
                           if entry.domain_overrides.get(domain.key, Override()).judgment else "")
        for domain in rob2.DOMAINS
    ])


def _check_result(study: Study, outcome: Outcome) -> None:
    if study.review_id != outcome.review_id:
        raise ValidationError({"outcome": "This outcome belongs to another review."})


@transaction.atomic
def rob2_assessment_save(*, study: Study, outcome: Outcome, assessor, entry: Rob2Entry,
                         submit: bool = False) -> Rob2Assessment:
    """Save an assessor's own RoB 2 assessment of a result, as a draft or submitted.

    Raises ``PermissionDenied`` for someone who is not an assessor of the review, and
    ``ValidationError`` (keyed by form field) for invalid answers, an override without a
    justification, a submission with unanswered applicable questions, or a change to a submitted
    assessment. Nothing is written when it raises.
    """
    _check_result(study, outcome)
    _require_assessor(study.review_id, assessor)
    proposal = _validate_rob2(entry, complete=submit)
    # Locked so that two tabs of the same assessor cannot interleave their writes.
    assessment = (Rob2Assessment.objects.select_for_update()
                  .filter(study=study, outcome=outcome, assessor=assessor, is_consensus=False).first())
    if assessment is None:
        assessment = Rob2Assessment(study=study, outcome=outcome, assessor=assessor)
    elif assessment.submitted_at is not None:
        raise ValidationError("This assessment was submitted and can no longer be changed; settle differences "
                              "in the consensus.")
    if submit:
        assessment.submitted_at = timezone.now()
    _write_rob2(assessment, entry, proposal)
    return assessment


def _consensus_allowed(review_id: int, user, submitted: list) -> None:
    if len(submitted) < 2:
        raise ValidationError("The consensus is recorded once two assessors have submitted their assessments.")
    if Role.MANAGER in access.roles_in(user, review_id):
        return
    if user.pk not in {a.assessor_id for a in submitted}:
        raise PermissionDenied("The consensus is recorded by one of the two assessors or by a manager.")


@transaction.atomic
def rob2_consensus_save(*, study: Study, outcome: Outcome, recorded_by, entry: Rob2Entry) -> Rob2Assessment:
    """Record (or revise) the consensus RoB 2 assessment of a result: complete, validated by the
    same rules as an assessor's, and an analysis input (the review's data version moves)."""
    _check_result(study, outcome)
    submitted = list(Rob2Assessment.objects.filter(study=study, outcome=outcome, is_consensus=False,
                                                   submitted_at__isnull=False))
    _consensus_allowed(study.review_id, recorded_by, submitted)
    proposal = _validate_rob2(entry, complete=True)
    assessment = Rob2Assessment.objects.select_for_update().filter(study=study, outcome=outcome,
                                                                   is_consensus=True).first()
    if assessment is None:
        assessment = Rob2Assessment(study=study, outcome=outcome, is_consensus=True)
    assessment.assessor = recorded_by
    assessment.submitted_at = timezone.now()
    _write_rob2(assessment, entry, proposal)
    review_data_version_bump(review_ids=[study.review_id])
    return assessment


# --- RoB 1 --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rob1Entry:
    """Judgment (low/unclear/high, or "" for not yet judged) and support per RoB 1 domain."""

    judgments: Mapping[str, str]
    support: Mapping[str, str]


def _validate_rob1(entry: Rob1Entry, *, complete: bool) -> None:
    errors = {}
    for domain in RobDomain:
        value = entry.judgments.get(domain.value, "")
        if value and value not in Judgment.values:
            errors[f"judgment_{domain.value}"] = f"{domain.label}: choose low, unclear or high."
        elif complete and not value:
            errors[f"judgment_{domain.value}"] = f"{domain.label}: judge this domain before submitting."
    unknown = set(entry.judgments) - set(RobDomain.values)
    if unknown:
        errors["__all__"] = f"There is no RoB 1 domain {sorted(unknown)[0]!r}."
    if errors:
        raise ValidationError(errors)


def _write_rob1(assessment: RiskOfBiasAssessment, entry: Rob1Entry) -> None:
    assessment.full_clean(validate_constraints=False)
    assessment.save()
    assessment.judgments.all().delete()
    RiskOfBiasJudgment.objects.bulk_create([
        RiskOfBiasJudgment(assessment=assessment, domain=domain.value, judgment=entry.judgments[domain.value],
                           support=(entry.support.get(domain.value) or "").strip())
        for domain in RobDomain if entry.judgments.get(domain.value)
    ])


@transaction.atomic
def rob1_assessment_save(*, study: Study, assessor, entry: Rob1Entry, submit: bool = False) -> RiskOfBiasAssessment:
    """Save an assessor's own RoB 1 assessment of a study (draft or submitted); same rules as RoB 2."""
    _require_assessor(study.review_id, assessor)
    _validate_rob1(entry, complete=submit)
    assessment = (RiskOfBiasAssessment.objects.select_for_update()
                  .filter(study=study, assessor=assessor, is_consensus=False).first())
    if assessment is None:
        assessment = RiskOfBiasAssessment(study=study, assessor=assessor)
    elif assessment.submitted_at is not None:
        raise ValidationError("This assessment was submitted and can no longer be changed; settle differences "
                              "in the consensus.")
    if submit:
        assessment.submitted_at = timezone.now()
    _write_rob1(assessment, entry)
    return assessment


@transaction.atomic
def rob1_consensus_save(*, study: Study, recorded_by, entry: Rob1Entry) -> RiskOfBiasAssessment:
    """Record (or revise) the consensus RoB 1 assessment of a study: every domain judged."""
    submitted = list(RiskOfBiasAssessment.objects.filter(study=study, is_consensus=False, submitted_at__isnull=False))
    _consensus_allowed(study.review_id, recorded_by, submitted)
    _validate_rob1(entry, complete=True)
    assessment = RiskOfBiasAssessment.objects.select_for_update().filter(study=study, is_consensus=True).first()
    if assessment is None:
        assessment = RiskOfBiasAssessment(study=study, is_consensus=True)
    assessment.assessor = recorded_by
    assessment.imported_from = ""  # judged here now, whatever it was imported from before
    assessment.submitted_at = timezone.now()
    _write_rob1(assessment, entry)
    review_data_version_bump(review_ids=[study.review_id])
    return assessment


@transaction.atomic
def rob1_consensus_import(*, study: Study, entry: Rob1Entry, imported_from: str,
                          imported_by=None) -> RiskOfBiasAssessment:
    """Record judgments a review brings with it (a RevMan file) as the study's consensus.

    They were settled by the review's own authors, so they enter as the consensus (the only
    assessment that feeds figures and analyses) and are attributed to where they came from
    (``imported_from``, e.g. "RevMan file X.rm5") and to whoever imported them, never to an
    assessor here. Domains the file does not judge stay unjudged (RevMan allows that). A study that
    already has a consensus keeps it: an import never overwrites a judgment made here. The team
    can still assess the study and record a new consensus, which then replaces the imported one.
    """
    if not imported_from.strip():
        raise ValidationError("Say where imported judgments come from.")
    _validate_rob1(entry, complete=False)
    if not any(entry.judgments.values()):
        raise ValidationError(f"{study.label}: no domain is judged; nothing to import.")
    if RiskOfBiasAssessment.objects.select_for_update().filter(study=study, is_consensus=True).exists():
        raise ValidationError(f"{study.label} already has a consensus risk-of-bias assessment; an import does "
                              f"not replace it.")
    assessment = RiskOfBiasAssessment(study=study, is_consensus=True, assessor=imported_by,
                                      imported_from=imported_from.strip()[:300], submitted_at=timezone.now())
    _write_rob1(assessment, entry)
    review_data_version_bump(review_ids=[study.review_id])
    return assessment
