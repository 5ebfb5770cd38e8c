"""The preview of an import, and the upload waiting between the preview and the manager's confirm
(DESIGN.md, "Intake": parser → preview → one transaction).

``import_preview`` reads a file as the import would — the same parsers, the same record rules, the
same deduplication plan against the review's records — and writes nothing. It is the one summary the
upload page, the API (``dry_run``) and ``manage.py import_records --preview`` show.

On the page the bytes wait in a ``PendingImport`` row until the manager confirms (the import runs on
them, in one transaction with the row's deletion) or cancels (the row is deleted).

Kept apart from ``studies.services.imports``, whose import and record rules this module calls and does
not change.
"""
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from django.db import transaction
from django.utils import timezone

from studies import access
from studies.imports import ParsedRecord, file_open
from studies.imports.dedup import DedupItem, dedup_plan, item_from_parsed
from studies.imports.errors import RecordWarning
from studies.models import (
    PENDING_IMPORT_LIFETIME,
    ImportBatch,
    PendingImport,
    Record,
    Review,
)
from studies.services.imports import (
    ImportSummary,
    _existing_items,
    _RecordRules,
    import_file,
)

# How much of the file the preview shows: the first records, and the first warnings of each kind.
SAMPLE_SIZE = 5
WARNINGS_SHOWN_PER_KIND = 5
DUPLICATES_SHOWN = 10


@dataclass(frozen=True)
class SampleRecord:
    """One of the first records of the file, as the manager recognises it."""

    record: int
    title: str
    authors: tuple[str, ...]
    year: int | None
    journal: str
    doi: str


@dataclass(frozen=True)
class WarningGroup:
    """The warnings of one kind: how many, and the first few with their record and line."""

    kind: str
    count: int
    shown: tuple[RecordWarning, ...]

    @property
    def more(self) -> int:
        return self.count - len(self.shown)


@dataclass(frozen=True)
class ExpectedDuplicate:
    """A record of the file the import would merge (``automatic``) or queue for a person.

    ``other_record`` is the other record's position in the file, or ``None`` when the other is the
    review's record ``other_id``.
    """

    record: int
    title: str
    other_record: int | None
    other_id: int | None
    other_title: str
    method: str
    reason: str
    automatic: bool


@dataclass(frozen=True)
class ImportPreview:
    """What importing a file would do, computed without writing anything."""

    file_format: str
    encoding: str
    records: int
    sample: tuple[SampleRecord, ...]
    warning_groups: tuple[WarningGroup, ...]
    file_warnings: tuple[str, ...]
    merged_within_file: int
    merged_with_review: int
    queued_within_file: int
    queued_with_review: int
    duplicate_examples: tuple[ExpectedDuplicate, ...]
    already_imported: str = ""

    @property
    def duplicates(self) -> int:
        """Records the import would merge automatically (``ImportSummary.duplicates``)."""
        return self.merged_within_file + self.merged_with_review

    @property
    def queued(self) -> int:
        """Pairs the import would queue for a person (``ImportSummary.queued``)."""
        return self.queued_within_file + self.queued_with_review

    @property
    def warnings(self) -> int:
        return sum(group.count for group in self.warning_groups)

    def as_dict(self) -> dict:
        """The preview as JSON (the API's and the command's answer, and what a pending upload keeps)."""
        return {
            "format": self.file_format, "encoding": self.encoding, "records": self.records,
            "sample": [{"record": s.record, "title": s.title, "authors": list(s.authors), "year": s.year,
                        "journal": s.journal, "doi": s.doi} for s in self.sample],
            "warnings": {
                "total": self.warnings,
                "file": [str(warning) for warning in self.file_warnings],
                "by_kind": [{"kind": g.kind, "count": g.count, "more": g.more,
                             "shown": [{"record": w.record, "line": w.line, "field": w.field, "message": w.message}
                                       for w in g.shown]} for g in self.warning_groups],
            },
            "duplicates": {
                "merged": self.duplicates, "merged_within_file": self.merged_within_file,
                "merged_with_review": self.merged_with_review, "queued": self.queued,
                "queued_within_file": self.queued_within_file, "queued_with_review": self.queued_with_review,
                "examples": [{"record": d.record, "title": d.title, "other_record": d.other_record,
                              "other_id": d.other_id, "other_title": d.other_title, "method": d.method,
                              "reason": d.reason, "automatic": d.automatic} for d in self.duplicate_examples],
            },
            "already_imported": self.already_imported,
        }


def import_preview_build(*, records: Iterable[ParsedRecord], existing: Sequence[DedupItem], file_format: str,
                         encoding: str, file_warnings: Sequence[str] = (), already_imported: str = "",
                         ) -> ImportPreview:
    """The preview of parsed records against the review's records (``existing``), without the database.

    Counts the records, keeps the first ``SAMPLE_SIZE``, groups the records' warnings by kind (the
    first ``WARNINGS_SHOWN_PER_KIND`` of each), and runs the import's deduplication plan
    (``dedup_plan``) to tell which records would be merged or queued, within the file and against the
    review. Examples naming a record of the review carry its id; ``import_preview`` adds its title.
    """
    sample: list[SampleRecord] = []
    counts: dict[str, int] = {}
    shown: dict[str, list[RecordWarning]] = {}
    titles: list[str] = []
    new: list[DedupItem] = []
    for parsed in records:
        titles.append(parsed.title)
        new.append(item_from_parsed(parsed))
        if len(sample) < SAMPLE_SIZE:
            sample.append(SampleRecord(record=parsed.record or len(titles), title=parsed.title,
                                       authors=tuple(parsed.authors), year=parsed.year, journal=parsed.journal,
                                       doi=parsed.doi))
        for warning in parsed.warnings:
            counts[warning.kind] = counts.get(warning.kind, 0) + 1
            kept = shown.setdefault(warning.kind, [])
            if len(kept) < WARNINGS_SHOWN_PER_KIND:
                kept.append(warning)
    plan = dedup_plan(existing=existing, new=new)
    first_new = len(existing)

    def example(duplicate: int, other: int, method: str, reason: str, automatic: bool) -> ExpectedDuplicate:
        if duplicate < first_new:  # a queued pair names the review's record first: the file's goes first
            duplicate, other = other, duplicate
        in_file = other >= first_new
        return ExpectedDuplicate(
            record=duplicate - first_new + 1, title=titles[duplicate - first_new],
            other_record=other - first_new + 1 if in_file else None,
            other_id=None if in_file else existing[other].existing_id,
            other_title=titles[other - first_new] if in_file else "", method=method, reason=reason,
            automatic=automatic)

    merged = [example(link.duplicate, plan.primary_of[link.duplicate], link.method, link.reason, True)
              for link in plan.merges]
    queued = [example(link.duplicate, link.primary, link.method, link.reason, False) for link in plan.queued]
    groups = tuple(WarningGroup(kind=kind, count=count, shown=tuple(shown[kind]))
                   for kind, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return ImportPreview(
        file_format=file_format, encoding=encoding, records=len(titles), sample=tuple(sample),
        warning_groups=groups, file_warnings=tuple(file_warnings),
        merged_within_file=sum(1 for d in merged if d.other_id is None),
        merged_with_review=sum(1 for d in merged if d.other_id is not None),
        queued_within_file=sum(1 for d in queued if d.other_id is None),
        queued_with_review=sum(1 for d in queued if d.other_id is not None),
        duplicate_examples=tuple((queued + merged)[:DUPLICATES_SHOWN]),  # a person's pairs first
        already_imported=already_imported,
    )


def import_preview(*, review: Review, content: bytes, file_format: str = "auto",
                   column_mapping: Mapping[str, str] | None = None) -> ImportPreview:
    """What importing ``content`` into ``review`` would do; writes nothing.

    The file goes through the import's parsers and record rules, and its records through the
    deduplication plan against the review's records, as ``import_records`` would do them.

    Raises
    ------
    ImportFileError
        For a file the import would refuse (not a bibliographic export, undecodable), as the import.
    """
    stream = file_open(content=content, file_format=file_format, column_mapping=column_mapping)
    rules = _RecordRules()

    def checked() -> Iterable[ParsedRecord]:
        for parsed in stream.records:
            yield rules.check(parsed, review)  # the record as the import would store it, with its warnings

    earlier = ImportBatch.objects.filter(review=review, sha256=stream.sha256).first()
    already = (f"This file was already imported on {earlier.imported_at:%Y-%m-%d %H:%M} ({earlier.file_name}, "
               f"batch {earlier.pk}); importing it again would import nothing." if earlier else "")
    preview = import_preview_build(records=checked(), existing=_existing_items(review),
                                   file_format=stream.file_format, encoding=stream.encoding,
                                   file_warnings=stream.warnings, already_imported=already)
    ids = {d.other_id for d in preview.duplicate_examples if d.other_id is not None}
    if ids:
        titles = dict(Record.objects.filter(pk__in=ids).values_list("pk", "title"))
        preview = replace(preview, duplicate_examples=tuple(
            replace(d, other_title=titles.get(d.other_id, "")) if d.other_id else d for d in preview.duplicate_examples))
    return preview


def import_upload(*, review: Review, user, database: str, date_searched: date, query: str, file_name: str,
                  content: bytes, file_format: str = "auto", column_mapping: Mapping[str, str] | None = None,
                  ) -> ImportSummary:
    """A manager's import without the preview step (the API): ``import_file`` for a review's manager.

    Raises ``PermissionDenied`` for anyone else, ``ImportFileError`` as the import does.
    """
    access.require_role(user, review, access.MANAGER, action="import records")
    return import_file(review=review, database=database, date_searched=date_searched, query=query,
                       file_name=file_name, content=content, file_format=file_format,
                       column_mapping=dict(column_mapping) if column_mapping else None, imported_by=user)


# --- The upload waiting for its confirm ---------------------------------------------------------------


class PendingImportGone(Exception):
    """A preview that can no longer be confirmed (confirmed or cancelled already, or expired)."""


def pending_imports_purge() -> int:
    """Delete the previews older than ``PENDING_IMPORT_LIFETIME``; returns how many."""
    deleted, _ = PendingImport.objects.filter(created_at__lt=timezone.now() - PENDING_IMPORT_LIFETIME).delete()
    return deleted


def pending_import_create(*, review: Review, user, file_name: str, content: bytes, database: str,
                          date_searched: date, query: str = "", file_format: str = "auto",
                          column_mapping: Mapping[str, str] | None = None) -> PendingImport:
    """Preview an upload and keep its bytes until the manager confirms or cancels.

    Raises ``PermissionDenied`` for someone who does not manage the review, ``ImportFileError`` for a
    file the import would refuse (then nothing is kept).
    """
    access.require_role(user, review, access.MANAGER, action="import records")
    preview = import_preview(review=review, content=content, file_format=file_format, column_mapping=column_mapping)
    with transaction.atomic():
        pending_imports_purge()  # forgotten previews go as new ones come
        return PendingImport.objects.create(
            review=review, uploaded_by=user, file_name=file_name[:255], content=content, sha256=hashlib.sha256(content).hexdigest(),
            requested_format=file_format or "auto", file_format=preview.file_format, encoding=preview.encoding,
            column_mapping=dict(column_mapping or {}), database=(database or "Unknown")[:100],
            date_searched=date_searched, query=query, preview=preview.as_dict())


def pending_import_confirm(*, review: Review, pending_id: int, user) -> ImportSummary:
    """Import a previewed upload: the import service on the kept bytes, and the pending row deleted,
    in one transaction. The row is locked first, so a second confirm (another tab, a double click)
    waits, then finds it gone and imports nothing.

    Raises ``PendingImportGone`` for a preview confirmed or cancelled already, or expired (deleted then),
    ``ImportFileError`` as the import does.
    """
    access.require_role(user, review, access.MANAGER, action="import records")
    with transaction.atomic():
        pending = PendingImport.objects.select_for_update().filter(pk=pending_id, review=review).first()
        if pending is None:
            raise PendingImportGone("This preview was already imported or cancelled (perhaps in another tab); "
                                    "nothing more was imported.")
        expired = pending.expires_at <= timezone.now()
        if expired:
            pending.delete()  # committed below: the refusal is raised after the transaction
        else:
            summary = import_file(
                review=review, database=pending.database, date_searched=pending.date_searched, query=pending.query,
                file_name=pending.file_name, content=bytes(pending.content), file_format=pending.requested_format,
                column_mapping=pending.column_mapping or None, imported_by=user)
            pending.delete()
    if expired:
        raise PendingImportGone(
            f"This preview expired: previews are kept {PENDING_IMPORT_LIFETIME.total_seconds() / 3600:.0f} hours "
            f"(it was made {timezone.localtime(pending.created_at):%Y-%m-%d %H:%M}). Nothing was imported; "
            "upload the file again to see a fresh preview.")
    return summary


def pending_import_cancel(*, review: Review, pending_id: int, user) -> bool:
    """Discard a previewed upload; ``False`` when it was gone already (confirmed, cancelled or purged)."""
    access.require_role(user, review, access.MANAGER, action="import records")
    deleted, _ = PendingImport.objects.filter(pk=pending_id, review=review).delete()
    return bool(deleted)
