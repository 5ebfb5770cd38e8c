"""Analysis runs and their results: every run of every review is kept, because how each pooled
estimate moved over time is itself a result of a living review."""
import json
import zlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property
import pghistory

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


# --- Releases: citable, immutable versions of a review's analysis (issue 20) ------------------


class ReleaseLevel(models.TextChoices):
    """Which part of the semantic version a release moved, and why."""

    FIRST = "first", "First release"
    MAJOR = "major", "A conclusion changed"
    MINOR = "minor", "Studies added or removed"
    PATCH = "patch", "Corrections"


class ReleaseTrigger(models.TextChoices):
    MANAGER = "manager", "Cut by a manager"
    SCHEDULE = "schedule", "Cut by the manager's schedule"
    COMMAND = "command", "Cut from the command line"


class Release(models.Model):
    """A numbered, immutable snapshot of a review's published analysis: what a reader saw (pages,
    figures, downloads, the analysis API's JSON) at one data version, with generated notes.

    Never updated: a database trigger refuses every UPDATE, and a DELETE unless it cascades from the
    review's own deletion (migration ``0004_releases``). A correction is a new release.
    """

    review = models.ForeignKey(
        # The database's own key cascades (ON DELETE CASCADE, created in the migration), so that
        # deleting a review deletes its releases while a direct DELETE of a release stays refused.
        Review, on_delete=models.DO_NOTHING, db_constraint=False, related_name="releases",
    )
    title = models.CharField(max_length=300, help_text="The review's title when the release was cut.")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    level = models.CharField(max_length=8, choices=ReleaseLevel.choices)
    data_version = models.PositiveBigIntegerField(help_text="The review's data version the release was cut from.")
    # The run whose results the release holds. A plain number, not a foreign key: runs are never
    # deleted while the review lives, and a key's ON DELETE SET NULL would be an UPDATE.
    run_id_at_cut = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    trigger = models.CharField(max_length=10, choices=ReleaseTrigger.choices)
    note = models.TextField(blank=True, help_text="The manager's note, shown with the generated notes.")
    notes = models.JSONField(help_text="The generated release notes (studies, estimates, conclusions, searches).")
    authors = models.JSONField(help_text="The citation's authors as the review had them when the release was cut.")
    prisma = models.JSONField(help_text="The PRISMA counts as studies.selectors.prisma_counts gave them.")
    risk_of_bias = models.JSONField(null=True, blank=True, help_text="The consensus risk-of-bias table.")
    headline = models.JSONField(help_text="Each outcome's overall pooled result (what versions are compared on).")
    studies = models.JSONField(help_text="The included studies: [[id, label], ...].")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of what \"nothing changed\" is judged on (data version, review fields, PRISMA counts, searches).")
    # Pages, figures, downloads and the analysis API's JSON as zlib-compressed JSON: large, and never
    # queried inside.
    snapshot_gz = models.BinaryField(editable=False)

    class Meta:
        ordering = ["review", "-major", "-minor", "-patch"]
        constraints = [
            models.UniqueConstraint(fields=["review", "major", "minor", "patch"], name="release_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.review} {self.version}"

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @cached_property
    def snapshot(self) -> dict:
        return json.loads(zlib.decompress(self.snapshot_gz))

    @staticmethod
    def parse_version(version: str) -> tuple[int, int, int] | None:
        """``"1.2.0"`` → ``(1, 2, 0)``; None for anything that is not a version."""
        parts = version.split(".")
        if len(parts) != 3 or not all(part.isdigit() and len(part) < 10 for part in parts):
            return None
        return int(parts[0]), int(parts[1]), int(parts[2])


class ReleaseSchedule(models.Model):
    """A manager's standing order: cut a release every ``every_days`` days if the data changed."""

    review = models.OneToOneField(Review, on_delete=models.CASCADE, primary_key=True, related_name="release_schedule")
    every_days = models.PositiveIntegerField(null=True, blank=True,
                                             help_text="Empty: no scheduled releases.")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(every_days__isnull=True) | Q(every_days__gte=1),
                                   name="release_schedule_at_least_daily",
                                   violation_error_message="A schedule cuts a release at most once a day."),
        ]

    def __str__(self) -> str:
        return f"{self.review}: every {self.every_days} days" if self.every_days else f"{self.review}: no schedule"


# Who set which schedule, and when: the same append-only trail as the review's other settings.
ReleaseScheduleEvent = pghistory.create_event_model(
    ReleaseSchedule, pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
    model_name="ReleaseScheduleEvent", abstract=False,
    obj_field=pghistory.ObjForeignKey(related_name="audit_events"),
)


# --- GRADE summary of findings (issue 24) -------------------------------------------------------


class SummaryOfFindingsOutcome(models.Model):
    """An outcome the manager puts in the summary-of-findings table (GRADE: up to seven), with what
    the GRADE rules need from people. Changing it moves the review's data version: the automatic
    judgments are recomputed with the analysis."""

    MAX_OUTCOMES = 7

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="sof_outcomes")
    outcome = models.OneToOneField(Outcome, on_delete=models.CASCADE, related_name="sof_settings")
    position = models.PositiveSmallIntegerField(help_text="The row of the table, 1 to 7.")
    decision_threshold = models.FloatField(
        null=True, blank=True,
        help_text="The smallest effect that would matter: for RR/OR a ratio above 1 (1.25 also means 0.8); "
                  "otherwise a positive difference on the measure's scale. Empty: GRADE's defaults.")
    control_risk = models.FloatField(
        null=True, blank=True,
        help_text="Assumed risk with control, as a proportion (0.03 = 30 per 1,000). Empty: the median "
                  "control-group risk of the included studies.")
    familiar_scale = models.CharField(max_length=200, blank=True,
                                      help_text="A familiar instrument to re-express an SMD on.")
    familiar_sd = models.FloatField(null=True, blank=True, help_text="That instrument's SD in this population.")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField()

    class Meta:
        ordering = ["review", "position"]
        constraints = [
            models.UniqueConstraint(fields=["review", "position"], name="sof_one_outcome_per_row"),
            models.CheckConstraint(condition=Q(position__gte=1, position__lte=7), name="sof_at_most_seven_rows",
                                   violation_error_message="A summary of findings has rows 1 to 7 (GRADE: up to seven outcomes)."),
            models.CheckConstraint(condition=Q(decision_threshold__isnull=True) | Q(decision_threshold__gt=0),
                                   name="sof_threshold_positive",
                                   violation_error_message="The decision threshold must be positive."),
            models.CheckConstraint(condition=Q(control_risk__isnull=True) | Q(control_risk__gt=0, control_risk__lt=1),
                                   name="sof_control_risk_proportion",
                                   violation_error_message="The control risk is a proportion between 0 and 1."),
            models.CheckConstraint(condition=Q(familiar_sd__isnull=True) | Q(familiar_sd__gt=0),
                                   name="sof_familiar_sd_positive",
                                   violation_error_message="The familiar scale's SD must be positive."),
        ]

    def __str__(self) -> str:
        return f"{self.review}: row {self.position}, {self.outcome}"


class GradeDomain(models.TextChoices):
    RISK_OF_BIAS = "risk_of_bias", "Risk of bias"
    INCONSISTENCY = "inconsistency", "Inconsistency"
    INDIRECTNESS = "indirectness", "Indirectness"
    IMPRECISION = "imprecision", "Imprecision"
    PUBLICATION_BIAS = "publication_bias", "Publication bias"


class GradeOverride(models.Model):
    """A person's judgment of one GRADE domain of one outcome, replacing the automatic one, with a
    written reason. It keeps the automatic judgment it overrode: when a recompute yields a different
    one, the override is still applied but flagged for a second look. Audited (pghistory)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="grade_overrides")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="grade_overrides")
    domain = models.CharField(max_length=20, choices=GradeDomain.choices)
    levels = models.PositiveSmallIntegerField(help_text="Levels down: 0 (not serious), 1 (serious), 2 (very serious).")
    reason = models.TextField()
    automatic_levels = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The automatic judgment when the override was made (empty: none yet).")
    automatic_reason = models.TextField(blank=True)
    made_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    made_at = models.DateTimeField()

    class Meta:
        ordering = ["review", "outcome", "domain"]
        constraints = [
            models.UniqueConstraint(fields=["outcome", "domain"], name="grade_override_once_per_domain"),
            models.CheckConstraint(condition=Q(levels__lte=2), name="grade_override_levels_0_to_2",
                                   violation_error_message="A domain is rated down 0, 1 or 2 levels."),
            models.CheckConstraint(condition=~Q(reason=""), name="grade_override_has_reason",
                                   violation_error_message="An override needs a written reason."),
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.get_domain_display()} −{self.levels}"


# Who chose which outcomes and thresholds, and who overrode which judgment: append-only trails.
SummaryOfFindingsOutcomeEvent = pghistory.create_event_model(
    SummaryOfFindingsOutcome, pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
    model_name="SummaryOfFindingsOutcomeEvent", abstract=False,
    obj_field=pghistory.ObjForeignKey(related_name="audit_events"),
)
GradeOverrideEvent = pghistory.create_event_model(
    GradeOverride, pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
    model_name="GradeOverrideEvent", abstract=False,
    obj_field=pghistory.ObjForeignKey(related_name="audit_events"),
)
