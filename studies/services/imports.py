"""Imports of search results and decisions about duplicates (DESIGN.md, "Import").

``import_records`` parses and checks a whole file before writing anything, then writes the batch, its
records and the duplicate pairs in one transaction under a lock on the review, so two imports into
one review deduplicate against each other rather than side by side.
"""
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies.imports import ImportFileError, ParsedFile, ParsedRecord, file_parse
from studies.imports.dedup import DedupItem, dedup_plan, item_from_parsed, item_from_values
from studies.models import (
    CandidateStatus,
    DuplicateCandidate,
    ImportBatch,
    MatchMethod,
    Record,
    Report,
    Review,
    ScreeningDecision,
    ScreeningResolution,
    SearchSource,
)
from studies.services.entities import entity_save

# Rows per INSERT: large enough to amortise round trips, small enough to bound statement size.
BULK_SIZE = 5000
# ForeignKeys are assigned by this module, never taken from the file; full_clean would check each
# with one query per record (ForeignKey.validate), which for 100k records costs more than the import.
_ASSIGNED_FIELDS = ["review", "import_batch", "duplicate_of"]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did, for the upload page, the command's JSON and PRISMA."""

    imported: int
    duplicates: int
    queued: int
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    batch_id: int | None = None
    file_format: str = ""
    encoding: str = ""
    already_imported: bool = False

    def as_dict(self) -> dict:
        return {"imported": self.imported, "duplicates": self.duplicates, "queued": self.queued,
                "errors": list(self.errors), "warnings": list(self.warnings), "batch": self.batch_id,
                "format": self.file_format, "encoding": self.encoding, "already_imported": self.already_imported}


class ImportUndoRefused(Exception):
    """An import that can no longer be undone, with the reason to show."""


def search_source_ensure(*, review: Review, database: str, date_searched: date, query: str = "") -> SearchSource:
    """The search of ``database`` on ``date_searched`` in this review, created if new."""
    source = SearchSource.objects.filter(review=review, database=database, date_searched=date_searched).first()
    if source is None:
        source = entity_save(instance=SearchSource(review=review, database=database, date_searched=date_searched,
                                                   query=query))
    return source


def _record_build(parsed: ParsedRecord, *, review: Review, batch: ImportBatch | None) -> Record:
    return Record(
        review=review, import_batch=batch, title=parsed.title, abstract=parsed.abstract,
        authors=list(parsed.authors), year=parsed.year, journal=parsed.journal, volume=parsed.volume,
        issue=parsed.issue, pages=parsed.pages, doi=parsed.doi, pmid=parsed.pmid, nct_id=parsed.nct_id,
        keywords=list(parsed.keywords), language=parsed.language, publication_type=parsed.publication_type,
        url=parsed.url, raw_entry=parsed.raw_entry,
    )


def records_validate(*, parsed: ParsedFile, review: Review) -> list[Record]:
    """Model validation of every record before anything is written; the first failure names its record."""
    records = []
    for item in parsed.records:
        record = _record_build(item, review=review, batch=None)
        try:
            record.full_clean(exclude=_ASSIGNED_FIELDS, validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            raise ImportFileError(messages[0], record=item.record, line=item.line or None, field=field) from None
        records.append(record)
    return records


def _existing_items(review: Review) -> list[DedupItem]:
    rows = Record.objects.filter(review=review, duplicate_of__isnull=True).values_list(
        "id", "title", "abstract", "authors", "year", "journal", "volume", "issue", "pages", "doi", "pmid",
        "nct_id", "keywords").iterator(chunk_size=BULK_SIZE)
    return [
        item_from_values(existing_id=pk, title=title, abstract=abstract, authors=authors, year=year,
                         journal=journal, volume=volume, issue=issue, pages=pages, doi=doi, pmid=pmid,
                         nct_id=nct_id, keywords=keywords)
        for pk, title, abstract, authors, year, journal, volume, issue, pages, doi, pmid, nct_id, keywords in rows
    ]


def _bulk_create(model, instances: list) -> None:
    for start in range(0, len(instances), BULK_SIZE):
        model.objects.bulk_create(instances[start:start + BULK_SIZE])


def import_records(
    *, review: Review, source: SearchSource, file_name: str, content: bytes, file_format: str = "auto",
    column_mapping: Mapping[str, str] | None = None, imported_by=None,
) -> ImportSummary:
    """Import one export file into a review as one batch of one search, deduplicating as it goes.

    Parameters
    ----------
    review, source
        The review and the search (database, date, query) the file is the result of.
    file_name, content
        The uploaded file as bytes (its SHA-256 recognises a second upload of the same file).
    file_format
        ``"auto"`` to detect, or one of ``ImportFormat``.
    column_mapping
        CSV only: record field → column header, for headers the defaults do not recognise.

    Returns
    -------
    ImportSummary
        Counts of imported records, of duplicates merged, of pairs queued for a person.

    Raises
    ------
    ImportFileError
        For a file that cannot be imported; nothing is written.
    """
    if source.review_id != review.pk:
        raise ImportFileError("This search source belongs to another review.", field="source")
    parsed = file_parse(content=content, file_format=file_format, column_mapping=column_mapping)
    records = records_validate(parsed=parsed, review=review)
    with transaction.atomic():
        # One import at a time per review: each must see the records of the one before.
        Review.objects.select_for_update().filter(pk=review.pk).first()
        earlier = ImportBatch.objects.filter(review=review, sha256=parsed.sha256).first()
        if earlier is not None:
            return ImportSummary(
                imported=0, duplicates=0, queued=0, batch_id=earlier.pk, file_format=parsed.file_format,
                encoding=parsed.encoding, already_imported=True,
                warnings=(f"This file was already imported on {earlier.imported_at:%Y-%m-%d %H:%M} "
                          f"({earlier.file_name}, batch {earlier.pk}); nothing was imported again.",
                          *parsed.warnings))
        batch = entity_save(instance=ImportBatch(
            review=review, source=source, file_name=file_name[:255], file_format=parsed.file_format,
            sha256=parsed.sha256, imported_by=imported_by))
        existing = _existing_items(review)
        plan = dedup_plan(existing=existing, new=[item_from_parsed(p) for p in parsed.records])
        first_new = len(existing)

        def record_of(index: int) -> Record | None:
            return None if index < first_new else records[index - first_new]

        for record in records:
            record.import_batch = batch
        for duplicate, primary in plan.primary_of.items():
            target = record_of(primary)
            record_of(duplicate).duplicate_of_id = existing[primary].existing_id if target is None else None
        # Primaries first, so that duplicates of new records can point at saved rows.
        merged = set(plan.primary_of)
        _bulk_create(Record, [r for i, r in enumerate(records, start=first_new) if i not in merged])
        for duplicate, primary in plan.primary_of.items():
            target = record_of(primary)
            if target is not None:
                record_of(duplicate).duplicate_of = target
        _bulk_create(Record, [r for i, r in enumerate(records, start=first_new) if i in merged])

        def record_id(index: int) -> int:
            target = record_of(index)
            return existing[index].existing_id if target is None else target.pk

        now = timezone.now()
        pairs = [
            DuplicateCandidate(
                review=review, import_batch=batch, duplicate_id=record_id(link.duplicate),
                primary_id=record_id(plan.primary_of[link.duplicate]), method=link.method,
                score=link.score, reason=link.reason[:300], status=CandidateStatus.MERGED, automatic=True,
                decided_at=now)
            for link in plan.merges
        ] + [
            DuplicateCandidate(
                review=review, import_batch=batch, duplicate_id=record_id(link.duplicate),
                primary_id=record_id(link.primary), method=link.method, score=link.score,
                reason=link.reason[:300])
            for link in plan.queued
        ]
        _bulk_create(DuplicateCandidate, pairs)
    return ImportSummary(
        imported=len(records), duplicates=len(plan.merges), queued=len(plan.queued), batch_id=batch.pk,
        file_format=parsed.file_format, encoding=parsed.encoding, warnings=parsed.warnings)


def import_undo_blocker(*, batch: ImportBatch) -> str:
    """Why ``batch`` cannot be undone any more ("" when it can)."""
    records = Record.objects.filter(import_batch=batch)
    decided = ScreeningDecision.objects.filter(record__in=records).values("record").distinct().count()
    if decided or ScreeningResolution.objects.filter(record__in=records).exists():
        return (f"{decided} record(s) of this import already have screening decisions; undoing it would "
                "discard that work. Exclude unwanted records in screening instead.")
    if Report.objects.filter(record__in=records).exists():
        return "Records of this import are reports of included studies."
    return ""


@transaction.atomic
def import_undo(*, batch: ImportBatch, user=None) -> int:
    """Remove an import (its records and their duplicate pairs) while none of it was screened.

    Records of later imports that were merged into this batch's records become primaries again
    (one per former primary, the others pointing at it), so nothing they stood for is lost.

    Returns the number of records removed. Raises ``ImportUndoRefused`` with the reason otherwise.
    """
    Review.objects.select_for_update().filter(pk=batch.review_id).first()
    blocker = import_undo_blocker(batch=batch)
    if blocker:
        raise ImportUndoRefused(blocker)
    orphans: dict[int, list[int]] = defaultdict(list)
    for pk, primary in (Record.objects.filter(duplicate_of__import_batch=batch).exclude(import_batch=batch)
                        .order_by("id").values_list("id", "duplicate_of_id")):
        orphans[primary].append(pk)
    for primary, members in orphans.items():
        Record.objects.filter(pk=members[0]).update(duplicate_of=None)
        Record.objects.filter(pk__in=members[1:]).update(duplicate_of=members[0])
        DuplicateCandidate.objects.bulk_create([
            DuplicateCandidate(review_id=batch.review_id, duplicate_id=member, primary_id=members[0],
                               method=MatchMethod.MANUAL, score=100.0, status=CandidateStatus.MERGED,
                               automatic=True, decided_by=user, decided_at=timezone.now(),
                               reason=f"both were duplicates of a record removed with import {batch.pk}")
            for member in members[1:]], ignore_conflicts=True)
    DuplicateCandidate.objects.filter(Q(duplicate__import_batch=batch) | Q(primary__import_batch=batch)).delete()
    # Records go before the batch (ImportBatch → Record is RESTRICT).
    duplicates, _ = Record.objects.filter(import_batch=batch, duplicate_of__isnull=False).delete()
    primaries, _ = Record.objects.filter(import_batch=batch).delete()
    batch.delete()
    return duplicates + primaries


def _richness(record: Record) -> tuple[int, int, int]:
    item = item_from_values(title=record.title, abstract=record.abstract, authors=record.authors,
                            year=record.year, journal=record.journal, volume=record.volume, issue=record.issue,
                            pages=record.pages, doi=record.doi, pmid=record.pmid, keywords=record.keywords)
    screened = ScreeningDecision.objects.filter(record=record).count()
    # Screening work decides first: the screened record must stay the one screeners see.
    return (screened, item.richness, -record.pk)


def _root(record: Record) -> Record:
    return record.duplicate_of if record.duplicate_of_id else record


@transaction.atomic
def duplicate_merge(*, candidate: DuplicateCandidate, user) -> DuplicateCandidate:
    """Merge a queued pair: the richer (or screened) record stays primary, the other points at it."""
    Review.objects.select_for_update().filter(pk=candidate.review_id).first()
    a, b = _root(candidate.duplicate), _root(candidate.primary)
    if a.pk != b.pk:
        primary, duplicate = (a, b) if _richness(a) >= _richness(b) else (b, a)
        Record.objects.filter(duplicate_of=duplicate).update(duplicate_of=primary)
        duplicate.duplicate_of = primary
        duplicate.save(update_fields=["duplicate_of"])
        # The row names the pair as it now stands: ``duplicate`` is the one that is not primary.
        if candidate.duplicate_id == primary.pk:
            candidate.duplicate, candidate.primary = candidate.primary, candidate.duplicate
    candidate.status = CandidateStatus.MERGED
    candidate.decided_by = user
    candidate.decided_at = timezone.now()
    return entity_save(instance=candidate)


@transaction.atomic
def duplicate_unmerge(*, candidate: DuplicateCandidate, user) -> DuplicateCandidate:
    """Undo a merge (automatic or not): the duplicate becomes a record of its own again."""
    Review.objects.select_for_update().filter(pk=candidate.review_id).first()
    if candidate.status != CandidateStatus.MERGED:
        raise ValidationError({"status": "Only a merged pair can be unmerged."})
    Record.objects.filter(pk=candidate.duplicate_id, duplicate_of=candidate.primary_id).update(duplicate_of=None)
    candidate.status = CandidateStatus.UNMERGED
    candidate.decided_by = user
    candidate.decided_at = timezone.now()
    return entity_save(instance=candidate)


@transaction.atomic
def duplicate_keep_both(*, candidate: DuplicateCandidate, user) -> DuplicateCandidate:
    """Decide that a pair are two different works (undoing their merge if they were merged)."""
    if candidate.status == CandidateStatus.MERGED:
        candidate = duplicate_unmerge(candidate=candidate, user=user)
    candidate.status = CandidateStatus.KEPT_BOTH
    candidate.decided_by = user
    candidate.decided_at = timezone.now()
    return entity_save(instance=candidate)


def import_counts(*, review: Review) -> dict[str, int]:
    """PRISMA counts of the identification stage: per database and duplicates removed."""
    by_source = (Record.objects.filter(review=review).values("import_batch__source__database")
                 .annotate(n=Count("id")))
    counts = {row["import_batch__source__database"] or "unknown": row["n"] for row in by_source}
    counts["duplicates removed"] = Record.objects.filter(review=review, duplicate_of__isnull=False).count()
    return counts
