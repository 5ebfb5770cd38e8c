"""Dual screening: each screener's decision per record and stage, and the tutor's resolution.

The status of a record at a stage (awaiting, agreed, conflict, resolved) is derived from these rows,
never stored, so it cannot drift from them.
"""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from studies.models.records import Record
from studies.models.reviews import Review


class Stage(models.TextChoices):
    TITLE_ABSTRACT = "title_abstract", "Title and abstract"
    FULL_TEXT = "full_text", "Full text"


class Decision(models.TextChoices):
    INCLUDE = "include", "Include"
    EXCLUDE = "exclude", "Exclude"
    UNSURE = "unsure", "Unsure"


class ScreeningStatus(models.TextChoices):
    """Where a record stands at one stage; derived by ``studies.selectors.stage_status_queryset``."""

    AWAITING_FIRST = "awaiting_first", "Awaiting first decision"
    AWAITING_SECOND = "awaiting_second", "Awaiting second decision"
    AGREED_INCLUDE = "agreed_include", "Agreed: include"
    AGREED_EXCLUDE = "agreed_exclude", "Agreed: exclude"
    CONFLICT = "conflict", "Conflict"
    RESOLVED_INCLUDE = "resolved_include", "Resolved by tutor: include"
    RESOLVED_EXCLUDE = "resolved_exclude", "Resolved by tutor: exclude"


class ExclusionReason(models.Model):
    """A review's controlled vocabulary of reasons for excluding a full text (PRISMA counts them)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="exclusion_reasons")
    label = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["review", "order", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "label"], name="exclusion_reason_unique_label",
                violation_error_message="This review already has this exclusion reason.",
            ),
        ]

    def __str__(self) -> str:
        return self.label


# A full-text verdict is include or exclude (unsure is a title/abstract convenience), and a
# full-text exclusion always carries its reason: PRISMA reports excluded reports by reason.
_FULL_TEXT_RULES = (
    Q(stage=Stage.TITLE_ABSTRACT)
    | (Q(decision=Decision.INCLUDE) & Q(exclusion_reason__isnull=True))
    | (Q(decision=Decision.EXCLUDE) & Q(exclusion_reason__isnull=False))
)


def exclusion_reason_problem(*, stage: str, decision: str, reason_review_id: int | None,
                             review_id: int | None) -> str | None:
    """What is wrong with a verdict's exclusion reason, or ``None``: the one statement of the rule,
    for the model's validation and the screening services alike. A reason comes from the review's
    own list; a full-text exclusion needs one (PRISMA counts excluded reports by reason); an
    inclusion, and any title/abstract verdict, has none."""
    if reason_review_id is not None and review_id is not None and reason_review_id != review_id:
        return "This exclusion reason belongs to another review."
    if stage == Stage.TITLE_ABSTRACT and reason_review_id is not None:
        return "Title/abstract decisions carry no exclusion reason."
    if stage == Stage.FULL_TEXT and decision == Decision.EXCLUDE and reason_review_id is None:
        return "A full-text exclusion needs a reason from the review's list."
    if decision == Decision.INCLUDE and reason_review_id is not None:
        return "An inclusion has no exclusion reason."
    return None


def _validate_exclusion_reason(verdict: "ScreeningDecision | ScreeningResolution") -> None:
    problem = exclusion_reason_problem(
        stage=verdict.stage, decision=verdict.decision,
        reason_review_id=verdict.exclusion_reason.review_id if verdict.exclusion_reason_id else None,
        review_id=verdict.record.review_id if verdict.record_id else None)
    if problem:
        raise ValidationError({"exclusion_reason": problem})


class ScreeningDecision(models.Model):
    """One screener's verdict on one record at one stage."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="decisions")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    screener = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="screening_decisions")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    exclusion_reason = models.ForeignKey(
        ExclusionReason, null=True, blank=True, on_delete=models.RESTRICT, related_name="decisions"
    )
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["record", "stage", "decided_at"]
        indexes = [
            # A screener's progress and "undo my last decision" read by screener and stage.
            models.Index(fields=["screener", "stage", "updated_at"], name="decision_screener_stage"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "stage", "screener"], name="decision_one_per_screener",
                violation_error_message="This screener has already decided on this record at this stage.",
            ),
            models.CheckConstraint(
                condition=_FULL_TEXT_RULES, name="decision_full_text_rules",
                violation_error_message=(
                    "At full text, decide include or exclude; an exclusion needs a reason, an inclusion has none."
                ),
            ),
        ]

    def clean(self) -> None:
        _validate_exclusion_reason(self)

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.screener} ({self.get_stage_display()})"


class ScreeningResolution(models.Model):
    """A tutor's final decision where the two screeners disagreed."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="resolutions")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="screening_resolutions")
    decision = models.CharField(
        max_length=10, choices=[(Decision.INCLUDE, "Include"), (Decision.EXCLUDE, "Exclude")]
    )
    exclusion_reason = models.ForeignKey(
        ExclusionReason, null=True, blank=True, on_delete=models.RESTRICT, related_name="resolutions"
    )
    rationale = models.TextField(help_text="Why the tutor decided so.")
    resolved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["record", "stage"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "stage"], name="resolution_one_per_stage",
                violation_error_message="This record is already resolved at this stage.",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=[Decision.INCLUDE, Decision.EXCLUDE]), name="resolution_decision_final",
                violation_error_message="A resolution is include or exclude.",
            ),
            models.CheckConstraint(
                condition=_FULL_TEXT_RULES, name="resolution_full_text_rules",
                violation_error_message="A full-text exclusion needs a reason; an inclusion has none.",
            ),
            models.CheckConstraint(
                condition=Q(rationale__length__gt=0), name="resolution_rationale_given",
                violation_error_message="Give the reason for the resolution.",
            ),
        ]

    def clean(self) -> None:
        _validate_exclusion_reason(self)

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by tutor {self.tutor} ({self.get_stage_display()})"


class FullTextDocument(models.Model):
    """The PDF of a record's full text, kept in the database so every web process serves it and a
    backup holds it (a review has tens of full texts, not thousands)."""

    record = models.OneToOneField(Record, on_delete=models.CASCADE, related_name="fulltext_document")
    file_name = models.CharField(max_length=255)
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gt=0), name="fulltext_document_not_empty",
                violation_error_message="The full-text file is empty.",
            ),
        ]

    def __str__(self) -> str:
        return self.file_name
