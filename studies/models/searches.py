"""Living searches (issue 21): a review's saved searches of a bibliographic service and their runs.

Every successful run is an ``ImportBatch`` of a ``SearchSource`` (the database, the date, the query as
run), so its records go through the same pipeline and deduplication as an uploaded file and PRISMA's
identification counts come from the data.
"""
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from studies.models.records import ImportBatch
from studies.models.reviews import Review


class SearchDatabase(models.TextChoices):
    """The services a saved search can query; the label is the ``SearchSource.database`` of its runs."""

    PUBMED = "pubmed", "PubMed"
    EUROPEPMC = "europepmc", "Europe PMC"
    CLINICALTRIALS = "clinicaltrials", "ClinicalTrials.gov"
    OPENALEX = "openalex", "OpenAlex"
    CROSSREF = "crossref", "Crossref"


class SavedSearch(models.Model):
    """A search the review runs again and again, each run over the window since the last one."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="saved_searches")
    database = models.CharField(max_length=20, choices=SearchDatabase.choices)
    query = models.TextField(help_text="The search strategy, exactly as the service takes it.")
    first_date = models.DateField(
        null=True, blank=True,
        help_text="The first run searches from this date (entry date in the database); empty: from the start.")
    every_days = models.PositiveSmallIntegerField(default=7, help_text="Run every this many days.")
    active = models.BooleanField(default=True, help_text="Paused searches are not run by the schedule.")
    # When the schedule runs it next (after a failure: sooner, with a growing delay).
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Failed runs since the last success: the managers are told when this reaches two.
    consecutive_failures = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["review", "database", "id"]
        verbose_name_plural = "saved searches"
        constraints = [
            models.CheckConstraint(condition=Q(every_days__gte=1) & Q(every_days__lte=365),
                                   name="saved_search_every_days_range",
                                   violation_error_message="Run a search every 1 to 365 days."),
            models.CheckConstraint(condition=~Q(query=""), name="saved_search_has_query",
                                   violation_error_message="Enter the search query."),
        ]

    def __str__(self) -> str:
        return f"{self.get_database_display()}: {self.query[:60]}"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Run now"
    COMMAND = "command", "Command line"


class SearchRun(models.Model):
    """One run of a saved search: the window searched, what it found, and its batch or its error."""

    search = models.ForeignKey(SavedSearch, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The entry-date window searched, both ends included; no start: from the beginning of the database.
    window_start = models.DateField(null=True, blank=True)
    window_end = models.DateField()
    query = models.TextField(help_text="The query as run (the search's query may be edited later).")
    found = models.PositiveIntegerField(default=0, help_text="Records the service returned for the window.")
    new = models.PositiveIntegerField(default=0, help_text="Records added that reach screening.")
    duplicates = models.PositiveIntegerField(
        default=0, help_text="Records found that were already in the review (earlier runs' overlap or duplicates).")
    batch = models.OneToOneField(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="search_run")
    error = models.TextField(blank=True)
    # The service's own ids of the records this run retrieved (PMID, NCT id, OpenAlex id, DOI...): the
    # next run's overlap with this one is recognised by them and not stored twice.
    retrieved_ids = ArrayField(models.TextField(), default=list, blank=True)

    class Meta:
        ordering = ["search", "-started_at", "-id"]
        indexes = [models.Index(fields=["status", "started_at"], name="search_run_status_started")]
        constraints = [
            # One run of a search at a time, whoever starts it (the schedule, a manager, the command).
            models.UniqueConstraint(fields=["search"], condition=Q(status="running"), name="search_run_one_running",
                                    violation_error_message="This search is already running."),
            models.CheckConstraint(condition=Q(window_start__isnull=True) | Q(window_start__lte=F("window_end")),
                                   name="search_run_window_ordered"),
            models.CheckConstraint(condition=Q(status="running") | Q(finished_at__isnull=False),
                                   name="search_run_finished_has_time"),
        ]

    @property
    def errors(self) -> list[str]:
        return [self.error] if self.error else []

    def __str__(self) -> str:
        return f"{self.search} run {self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class SearchDigestOptOut(models.Model):
    """A team member who does not want the e-mail digest of new records from a review's searches."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "user"], name="search_digest_opt_out_once")]
