"""Analysis runs and their results: every run of every review is kept, because how each pooled
estimate moved over time is itself a result of a living review."""
import json
import zlib

from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property

from studies.models import CharacteristicField, Outcome, Review, TimePoint


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    SUPERSEDED = "superseded", "Superseded (data changed while computing; redone)"
    FAILED = "failed", "Failed"


class AnalysisRun(models.Model):
    """One recomputation of all of a review's analyses from one ``data_version``."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="analysis_runs")
    data_version = models.PositiveBigIntegerField(help_text="The review's data version the run computed from.")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["review", "-data_version"], name="run_review_version")]
        constraints = [
            # Two deliveries of the same task can both compute, but only one result set per version.
            models.UniqueConstraint(
                fields=["review", "data_version"], condition=Q(status=RunStatus.SUCCEEDED),
                name="run_one_success_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.review} v{self.data_version} ({self.get_status_display()})"

    @property
    def duration_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000


class ReviewAnalysisState(models.Model):
    """Where a review's published analysis stands: the version its current results come from."""

    review = models.OneToOneField(Review, on_delete=models.CASCADE, primary_key=True, related_name="analysis_state")
    computed_version = models.PositiveBigIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    current_run = models.ForeignKey(AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.review}: computed v{self.computed_version}"


class AnalysisSet(models.TextChoices):
    """Which studies an analysis pools; sensitivity analyses add sets here."""

    MAIN = "main", "All included studies"
    # Sensitivity analyses by risk of bias, from consensus judgments of the review's tool (RoB 2 per
    # result, RoB 1 per study from its key domains); studies without a consensus are left out of both.
    ROB_LOW = "rob_low", "Studies at low risk of bias"
    ROB_EXCLUDE_HIGH = "rob_exclude_high", "Excluding studies at high risk of bias"
    # Sensitivity analysis for imputation (issue 9): studies whose data for the outcome include an
    # imputed value (e.g. a change-score SD from an assumed correlation) are left out.
    NO_IMPUTED = "no_imputed", "Excluding studies with imputed values"


class OutcomeResult(models.Model):
    """The engine's full output for one outcome × time point × subgroup variable × study set.

    A few headline numbers are columns (for conclusion changes, history charts and summary tables)
    and are kept for every run; ``payload`` holds everything else exactly as the engine reported it,
    for the current run.
    """

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="results")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="results")
    time_point = models.ForeignKey(TimePoint, on_delete=models.CASCADE, related_name="results")
    subgroup_field = models.ForeignKey(
        CharacteristicField, null=True, blank=True, on_delete=models.CASCADE, related_name="results",
        help_text="Empty for the overall analysis; else the subgroup variable the analysis is split by.",
    )
    analysis_set = models.CharField(max_length=20, choices=AnalysisSet.choices, default=AnalysisSet.MAIN)
    k = models.PositiveIntegerField(help_text="Estimable studies pooled.")
    chosen_model = models.CharField(max_length=10, blank=True)
    estimate = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    i2 = models.FloatField(null=True, blank=True, help_text="I² in percent.")
    tau2 = models.FloatField(null=True, blank=True)
    # The engine's full output as zlib-compressed JSON: megabytes for a large review, never queried
    # inside (the headline numbers above are the columns), so compact storage makes a run's write
    # ~10× cheaper than jsonb. Kept for the current run; emptied when a newer run replaces it.
    payload_gz = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["run", "outcome", "time_point", "subgroup_field", "analysis_set"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "outcome", "time_point", "analysis_set"], condition=Q(subgroup_field__isnull=True),
                name="result_one_overall",
            ),
            models.UniqueConstraint(
                fields=["run", "outcome", "time_point", "subgroup_field", "analysis_set"],
                condition=Q(subgroup_field__isnull=False), name="result_one_per_subgroup_field",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} ({self.analysis_set}) in run {self.run_id}"

    @staticmethod
    def pack(payload: dict) -> bytes:
        return zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 1)

    @cached_property
    def payload(self) -> dict | None:
        """The engine's output for this analysis (None for runs no longer current)."""
        if self.payload_gz is None:
            return None
        return json.loads(zlib.decompress(self.payload_gz))


class ChangeKind(models.TextChoices):
    BECAME_SIGNIFICANT = "became_significant", "Became statistically significant"
    LOST_SIGNIFICANCE = "lost_significance", "No longer statistically significant"
    DIRECTION_CHANGED = "direction_changed", "Direction of effect changed"
    MODEL_SWITCHED = "model_switched", "Reported model switched"
    HETEROGENEITY_BAND = "heterogeneity_band", "Heterogeneity moved to another band"
    FIRST_RESULT = "first_result", "First pooled result"


class ConclusionChange(models.Model):
    """A change between two runs that matters to a reader of an outcome's result."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="conclusion_changes")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="conclusion_changes")
    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="conclusion_changes")
    previous_run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=24, choices=ChangeKind.choices)
    description = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "outcome", "kind"], name="conclusion_change_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.get_kind_display()}"
