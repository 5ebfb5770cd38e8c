"""Where records come from (search sources, import batches) and the records themselves."""
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Length

from studies.models.reviews import Review
from studies.models.validators import (
    DOI_PATTERN,
    NCT_PATTERN,
    PMID_PATTERN,
    SHA256_PATTERN,
    YEAR_MIN,
    validate_doi,
    validate_nct_id,
    validate_pmid,
    validate_year,
)


class SearchSource(models.Model):
    """One search of one bibliographic database, as PRISMA reports it ("records identified")."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="sources")
    database = models.CharField(max_length=100, help_text="e.g. Embase, PubMed, ClinicalTrials.gov")
    date_searched = models.DateField()
    query = models.TextField(blank=True, help_text="The search strategy as run.")
    records_reported = models.PositiveIntegerField(
        null=True, blank=True, help_text="The number of hits the database reported."
    )

    class Meta:
        ordering = ["review", "database", "date_searched"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "database", "date_searched"], name="source_unique_search",
                violation_error_message="This database was already recorded as searched on this date.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.database} ({self.date_searched:%Y-%m-%d})"


class ImportFormat(models.TextChoices):
    RIS = "ris", "RIS"
    MEDLINE = "medline", "PubMed MEDLINE / NBIB"
    ENDNOTE_XML = "endnote_xml", "EndNote XML"
    BIBTEX = "bibtex", "BibTeX"
    CSV = "csv", "CSV"
    WOS = "wos", "Web of Science plain text"
    REFER = "refer", "EndNote tagged text (Refer, %A/%T)"
    PUBMED_XML = "pubmed_xml", "PubMed XML (efetch, PubmedArticleSet)"
    # Not a file: the records a living search fetched from a service's JSON API (studies.searches).
    SEARCH_API = "search_api", "Living search (service API)"


class ImportBatch(models.Model):
    """One uploaded export file. The sha256 recognises the same file uploaded twice."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="import_batches")
    source = models.ForeignKey(SearchSource, on_delete=models.RESTRICT, related_name="import_batches")
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=20, choices=ImportFormat.choices)
    sha256 = models.CharField("SHA-256", max_length=64)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]
        verbose_name_plural = "import batches"
        constraints = [
            models.UniqueConstraint(
                fields=["review", "sha256"], name="import_batch_unique_file",
                violation_error_message="This file was already imported into this review.",
            ),
            models.CheckConstraint(
                condition=Q(sha256__regex=SHA256_PATTERN.pattern), name="import_batch_sha256_hex",
                violation_error_message="SHA-256 must be 64 lower-case hexadecimal characters.",
            ),
        ]

    def clean(self) -> None:
        if self.source_id and self.review_id and self.source.review_id != self.review_id:
            raise ValidationError({"source": "This search source belongs to another review."})

    def __str__(self) -> str:
        return f"{self.file_name} → {self.source}"


class FullTextStatus(models.TextChoices):
    NOT_SOUGHT = "not_sought", "Not sought"
    SOUGHT = "sought", "Sought"
    RETRIEVED = "retrieved", "Retrieved"
    NOT_RETRIEVED = "not_retrieved", "Not retrieved"


class Record(models.Model):
    """A bibliographic record as imported. A duplicate points at the record kept in its place."""

    # No index of its own: record_review_doi below starts with the review (one fewer to fill on import).
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="records", db_index=False)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.RESTRICT, related_name="records"
    )
    # A reference that came with a RevMan review (``studies.services.revman``): a report of a study
    # that review had already included. It was neither searched nor screened here, so it stays out of
    # the screening queues and PRISMA counts it in the updated-review template's "studies included in
    # previous version of review" box, not as identified by a search.
    revman_import = models.ForeignKey(
        "studies.RevManImport", null=True, blank=True, on_delete=models.CASCADE, related_name="records",
        help_text="The RevMan review this record came with (included there; not screened here).",
    )
    # Bibliographic text is stored whole: exports carry 140-character issues and 600-character keywords,
    # and one such record must not cost the import. Only identifiers whose standard fixes their shape
    # (DOI, PMID, NCT id, year) are checked; a value breaking it is left out and stays in ``raw_entry``.
    # A title can be missing in an export (Lens, conference abstracts); ``import_warnings`` says so.
    title = models.TextField(blank=True)
    abstract = models.TextField(blank=True)
    authors = ArrayField(models.TextField(), default=list, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True, validators=[validate_year])
    journal = models.TextField(blank=True)
    volume = models.TextField(blank=True)
    issue = models.TextField(blank=True)
    pages = models.TextField(blank=True)
    doi = models.CharField("DOI", max_length=255, blank=True, validators=[validate_doi])
    pmid = models.CharField("PMID", max_length=12, blank=True, validators=[validate_pmid])
    nct_id = models.CharField("NCT id", max_length=11, blank=True, validators=[validate_nct_id])
    keywords = ArrayField(models.TextField(), default=list, blank=True)
    language = models.TextField(blank=True)
    publication_type = models.TextField(blank=True)
    # 2048: the longest link Django's URLValidator accepts (a longer one is left out with a warning).
    url = models.URLField("URL", max_length=2048, blank=True)
    raw_entry = models.TextField(blank=True, help_text="The entry exactly as it was in the export file.")
    import_warnings = models.JSONField(
        default=list, blank=True,
        help_text="Quirks the import found in this record: a list of {kind, message, line, field} "
                  "(studies.imports.errors.RecordWarning), shown to screeners.",
    )
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates",
        help_text="The record kept in place of this duplicate.",
        db_index=False,  # indexed below for the duplicates only
    )
    fulltext_status = models.CharField(
        "full-text retrieval", max_length=20, choices=FullTextStatus.choices, default=FullTextStatus.NOT_SOUGHT
    )
    # The record's place in the screening queues: a stable hash of its id, computed by PostgreSQL
    # (``hashint8``) and indexed, so "my next record" is an index range scan at any review size.
    # Screeners walk this pseudo-random order from different starting points.
    screening_key = models.GeneratedField(
        expression=Func(F("id"), function="hashint8"), output_field=models.IntegerField(), db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Every record: this is also the index of a review's records (the review has none of its own).
            models.Index(fields=["review", "doi"], name="record_review_doi"),
            # Partial: nobody looks records up by an empty PMID, and most records are not duplicates;
            # an index entry a record does not need is work on every import.
            models.Index(fields=["review", "pmid"], condition=~Q(pmid=""), name="record_review_pmid"),
            models.Index(fields=["review", "duplicate_of"], condition=Q(duplicate_of__isnull=False),
                         name="record_review_duplicate"),
            # The primary's duplicates (and PostgreSQL's ON DELETE SET NULL) look up by duplicate_of alone.
            models.Index(fields=["duplicate_of"], condition=Q(duplicate_of__isnull=False),
                         name="record_duplicate_of"),
            # The records that reach screening (not duplicates), read by id: the screening queue's scan.
            models.Index(fields=["review", "screening_key", "id"], condition=Q(duplicate_of__isnull=True),
                         name="record_screening_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(duplicate_of=F("id")), name="record_not_duplicate_of_itself",
                violation_error_message="A record cannot be a duplicate of itself.",
            ),
            models.CheckConstraint(
                condition=Q(year__isnull=True) | Q(year__gte=YEAR_MIN, year__lte=2200),
                name="record_year_sane",
                violation_error_message=f"Year must be between {YEAR_MIN} and next year.",
            ),
            models.CheckConstraint(
                condition=Q(doi="") | Q(doi__regex=DOI_PATTERN.pattern), name="record_doi_format",
                violation_error_message="Enter a DOI such as 10.3389/fpsyt.2022.915617.",
            ),
            models.CheckConstraint(
                condition=Q(pmid="") | Q(pmid__regex=PMID_PATTERN.pattern), name="record_pmid_format",
                violation_error_message="A PMID is 1 to 9 digits.",
            ),
            models.CheckConstraint(
                condition=Q(nct_id="") | Q(nct_id__regex=NCT_PATTERN.pattern), name="record_nct_format",
                violation_error_message="An NCT id is NCT followed by 8 digits.",
            ),
        ]

    def clean(self) -> None:
        if self.duplicate_of_id and self.review_id and self.duplicate_of.review_id != self.review_id:
            raise ValidationError({"duplicate_of": "A record can only duplicate a record of the same review."})

    def __str__(self) -> str:
        first_author = self.authors[0].split(",")[0] if self.authors else "Anon."
        return f"{first_author} {self.year or 'n.d.'}: {self.title[:80]}"


models.CharField.register_lookup(Length)
models.TextField.register_lookup(Length)
