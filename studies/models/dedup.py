"""Duplicate pairs: every automatic merge with its reason, and the near misses a person decides.

One row per pair of records. An automatic or manual merge is a row with status ``merged`` whose
``duplicate`` points (through ``Record.duplicate_of``) at ``primary``; undoing it clears that and
keeps the row as ``unmerged``, so the history of every decision stays readable.
"""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from studies.models.records import ImportBatch, Record
from studies.models.reviews import Review


class MatchMethod(models.TextChoices):
    DOI = "doi", "Same DOI"
    PMID = "pmid", "Same PMID"
    NCT = "nct", "Same NCT id"
    TITLE_YEAR = "title_year", "Same title and year"
    FUZZY = "fuzzy", "Similar title"
    MANUAL = "manual", "Chosen by a person"


class CandidateStatus(models.TextChoices):
    PENDING = "pending", "Awaiting a decision"
    MERGED = "merged", "Merged"
    KEPT_BOTH = "kept_both", "Kept both"
    UNMERGED = "unmerged", "Merge undone"


class DuplicateCandidate(models.Model):
    """A pair of records of one review that may be the same work, and what was decided about it."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="duplicate_candidates")
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="duplicate_candidates",
        help_text="The import that found the pair.",
    )
    # For a merged pair, ``duplicate`` is the record whose duplicate_of points at ``primary``.
    duplicate = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    primary = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=20, choices=MatchMethod.choices)
    score = models.FloatField(help_text="Title similarity, 0–100.")
    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=CandidateStatus.choices, default=CandidateStatus.PENDING)
    automatic = models.BooleanField(default=False, help_text="Merged by the import without a person.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["review", "status", "-score", "id"]
        indexes = [models.Index(fields=["review", "status"], name="dup_candidate_review_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["duplicate", "primary"], name="dup_candidate_unique_pair",
                violation_error_message="This pair of records is already recorded.",
            ),
            models.CheckConstraint(
                condition=~Q(duplicate=F("primary")), name="dup_candidate_two_records",
                violation_error_message="A record cannot be its own duplicate.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=100), name="dup_candidate_score_0_100",
                violation_error_message="Score must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(status=CandidateStatus.PENDING) | Q(automatic=True) | Q(decided_at__isnull=False),
                name="dup_candidate_decided_when",
                violation_error_message="A decision made by a person records when it was made.",
            ),
        ]

    def clean(self) -> None:
        for name in ("duplicate", "primary"):
            record = getattr(self, name, None) if getattr(self, f"{name}_id") else None
            if record is not None and self.review_id and record.review_id != self.review_id:
                raise ValidationError({name: "This record belongs to another review."})

    def __str__(self) -> str:
        return f"{self.duplicate_id} ~ {self.primary_id} ({self.get_status_display()})"
