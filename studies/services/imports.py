"""Imports of search results and decisions about duplicates (DESIGN.md, "Import").

``import_records`` writes a file's batch, its records and the duplicate pairs in one transaction under
a lock on the review, so two imports into one review deduplicate against each other rather than side
by side. Records are checked and stored as the file is read. Only a file that is not an export at all
(or cannot be decoded) is refused; a quirk in one record is a ``RecordWarning`` on that record, which
is stored with it (``Record.import_warnings``) and counted in the ``ImportSummary``.
"""
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
import gc
import json
import queue
import re
import struct
import threading

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from psycopg.adapt import Dumper
from psycopg.copy import Copy, Writer
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

from studies import access
from studies.imports import ImportFileError, ParsedFile, ParsedRecord, ParsedStream, file_open
from studies.imports.dedup import DedupItem, dedup_plan, item_from_parsed, item_from_values
from studies.imports.errors import RecordWarning, WarningKind
from studies.models import (
    CandidateStatus,
    DuplicateCandidate,
    FullTextStatus,
    ImportBatch,
    MatchMethod,
    Record,
    Report,
    Review,
    ScreeningDecision,
    ScreeningResolution,
    SearchSource,
)
from studies.models.validators import DOI_PATTERN, NCT_PATTERN, PMID_PATTERN, YEAR_MIN, year_max
from studies.services import prioritisation
from studies.services.entities import entity_save

# Rows fetched per round trip when reading the review's records for dedup.
BULK_SIZE = 5000
# ForeignKeys are assigned by this module, never taken from the file; full_clean would check each
# with one query per record (ForeignKey.validate), which for 100k records costs more than the import.
_ASSIGNED_FIELDS = ["review", "import_batch", "duplicate_of"]
# The Record fields an import takes from the file (ParsedRecord has each under the same name).
_RECORD_FIELDS = ("title", "abstract", "authors", "year", "journal", "volume", "issue", "pages", "doi", "pmid",
                  "nct_id", "keywords", "language", "publication_type", "url", "raw_entry")


@dataclass(frozen=True)
class ImportSummary:
    """What an import did, for the upload page, the command's JSON and PRISMA."""

    imported: int
    duplicates: int
    queued: int
    errors: tuple[str, ...] = ()
    # The file's warnings (encoding, a second upload) then every record's, as text.
    warnings: tuple[str, ...] = ()
    batch_id: int | None = None
    file_format: str = ""
    encoding: str = ""
    already_imported: bool = False
    # The records' warnings as found (kind, message, record, line, field), in file order.
    record_warnings: tuple[RecordWarning, ...] = ()

    @property
    def records_with_warnings(self) -> int:
        """How many records the team should look at (each was imported)."""
        return len({warning.record for warning in self.record_warnings})

    def warning_counts(self) -> dict[str, int]:
        """Records' warnings per kind (``WarningKind``), most frequent first."""
        counts: dict[str, int] = defaultdict(int)
        for warning in self.record_warnings:
            counts[warning.kind] += 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def as_dict(self) -> dict:
        return {"imported": self.imported, "duplicates": self.duplicates, "queued": self.queued,
                "errors": list(self.errors), "warnings": list(self.warnings), "batch": self.batch_id,
                "format": self.file_format, "encoding": self.encoding, "already_imported": self.already_imported,
                "record_warnings": [{"record": w.record, **w.as_dict()} for w in self.record_warnings]}


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


_url_validate = Record._meta.get_field("url").validators[0]


def _record_limits() -> tuple[dict[str, int], dict[str, int | None]]:
    """max_length of Record's text fields and of its array fields' items, read from the model."""
    scalar, items = {}, {}
    for name in _RECORD_FIELDS:
        model_field = Record._meta.get_field(name)
        base = getattr(model_field, "base_field", None)
        if base is not None:  # an array: its items must not be blank, whether or not they have a cap
            items[name] = base.max_length
        elif getattr(model_field, "max_length", None):
            scalar[name] = model_field.max_length
    return scalar, items


def _record_suspect(parsed: ParsedRecord, scalar_max: dict[str, int], item_max: dict[str, int | None],
                    year_top: int) -> bool:
    """Whether ``full_clean`` could refuse this record: the model's rules as cheap checks.

    Same rules as the field validators in ``studies.models.validators`` (their compiled patterns),
    every ``max_length`` (the identifiers') and the year range. It may flag a record the
    model would accept (that record then gets ``full_clean``), never the other way round.
    """
    if parsed.doi and not DOI_PATTERN.match(parsed.doi):
        return True
    if parsed.pmid and not PMID_PATTERN.match(parsed.pmid):
        return True
    if parsed.nct_id and not NCT_PATTERN.match(parsed.nct_id):
        return True
    if parsed.year is not None and not (YEAR_MIN <= parsed.year <= year_top):
        return True
    if parsed.url:
        try:
            _url_validate(parsed.url)  # URLField's own validator: too intricate to restate
        except ValidationError:
            return True
    for name, limit in scalar_max.items():
        if len(getattr(parsed, name)) > limit:
            return True
    for name, limit in item_max.items():
        for value in getattr(parsed, name):
            if not value or (limit and len(value) > limit):
                return True
    return False


class _RecordRules:
    """The model's rules for an imported record, read once per import (see ``_record_suspect``)."""

    def __init__(self) -> None:
        self.scalar_max, self.item_max = _record_limits()
        self.year_top = year_max()

    def check(self, item: ParsedRecord, review: Review) -> ParsedRecord:
        """The record as the model takes it: a value breaking a model rule is left out with a warning.

        The parsers already fit every value to the model; this is the last line for what they miss.
        ``full_clean`` per record would cost more than the rest of a 100k-record import, so each record
        first goes through the same rules as cheap checks; only a record they flag is built as a
        ``Record`` and given ``full_clean``.
        """
        if not _record_suspect(item, self.scalar_max, self.item_max, self.year_top):
            return item
        record = _record_build(item, review=review, batch=None)
        try:
            record.full_clean(exclude=_ASSIGNED_FIELDS, validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            changes, added = {}, []
            for field, messages in error.message_dict.items():
                value = getattr(item, field)
                if isinstance(value, tuple):  # an array field: only its blank items break a rule
                    changes[field] = tuple(entry for entry in value if entry)
                    if len(changes[field]) == len(value):
                        changes[field] = ()
                else:
                    changes[field] = None if field == "year" else ""
                added.append(RecordWarning(
                    WarningKind.FIELD_INVALID, f"{messages[0]} The record is kept without this value.",
                    item.record, item.line or None, field))
            return replace(item, **changes, warnings=(*item.warnings, *added))
        return item


def records_validate(*, parsed: ParsedFile, review: Review) -> tuple[ParsedRecord, ...]:
    """The records of a parsed file as the model takes them (see ``_RecordRules.check``)."""
    rules = _RecordRules()
    return tuple(rules.check(item, review) for item in parsed.records)


_COPY_TYPE = re.compile(r"\(\d+\)")  # varchar(300)[] → varchar[]: the length is checked already


def _copy_statement(model, columns: Sequence[str]) -> tuple[str, list[str]]:
    """A binary ``COPY … FROM STDIN`` of ``columns`` and their PostgreSQL types (for ``set_types``).

    Binary COPY spares both ends the text escaping of every abstract and raw entry; declaring the
    types lets psycopg dump each value without guessing.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.get_field(c) for c in columns]
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    types = [_COPY_TYPE.sub("", field.db_type(connection)) for field in fields]
    return f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)", types


def _rows_copy(model, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write rows with PostgreSQL COPY inside the current transaction (bulk_create's SQL building
    and parameter binding cost several times the database's own work at this scale)."""
    statement, types = _copy_statement(model, columns)
    with connection.cursor() as cursor:
        with cursor.connection.cursor() as raw, raw.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


# Rows per COPY statement of an import. The records' foreign keys are checked as each statement ends;
# ending one every so often spreads those checks over the import, while the file is still being read.
ROWS_PER_COPY = 10_000
# Formatted COPY blocks (of about 32 kB each) waiting for the sending thread: what PostgreSQL may fall
# behind by, for instance while it checks a statement's foreign keys, before reading waits for it.
QUEUED_BLOCKS = 512
_STATEMENT_END, _DONE, _ABORT = object(), object(), object()


class _CopyAborted(Exception):
    """The reading thread gave up on the file."""


class _Blocks(Writer):
    """Where psycopg puts the formatted rows of one COPY statement: the sending thread's queue."""

    def __init__(self, sender: "_RecordCopy") -> None:
        self._sender = sender

    def write(self, data) -> None:
        self._sender.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        self._sender.put(_STATEMENT_END)


_TEXT = pg_types.get("text")
# Dimensions, has nulls, element type; then the length and lower bound of the one dimension.
_ARRAY_HEAD = struct.Struct("!iiiii")
_ARRAY_EMPTY = struct.pack("!iii", 0, 0, _TEXT.oid)
_ITEM_LENGTH = struct.Struct("!i")


class _TextArrayDumper(Dumper):
    """A list of strings as a one-dimensional ``text[]`` in PostgreSQL's binary array format.

    What psycopg's own array dumper writes for such a list, without its handling of nesting, nulls
    and any element type in Python: that handling was a third of the time spent formatting an
    import's rows. Registered only on the cursor that formats the records (the items are never None).
    """

    format = Format.BINARY
    oid = _TEXT.array_oid

    def dump(self, obj: list[str]) -> bytes:
        if not obj:
            return _ARRAY_EMPTY
        parts = [_ARRAY_HEAD.pack(1, 0, _TEXT.oid, len(obj), 1)]
        for item in obj:
            encoded = item.encode()
            parts.append(_ITEM_LENGTH.pack(len(encoded)))
            parts.append(encoded)
        return b"".join(parts)


class _WarningsDumper(Dumper):
    """A record's ``import_warnings`` (a list of ``RecordWarning.as_dict()``) as binary ``jsonb``.

    What psycopg's ``Jsonb`` writes (the format's version, 1, then the JSON text), with the empty list
    of almost every record a constant rather than a wrapper and a ``json.dumps`` per record.
    """

    format = Format.BINARY
    oid = pg_types.get("jsonb").oid

    def dump(self, obj: list[dict]) -> bytes:
        return b"\x01" + json.dumps(obj).encode() if obj else b"\x01[]"


class _RecordCopy:
    """The COPY of an import's records into the current transaction, sent by a thread of its own.

    This thread formats each record as it is read (psycopg's binary COPY format, a complete one per
    statement: signature, rows, trailer) and queues it; the sending thread writes the queue to
    PostgreSQL in statements of ``ROWS_PER_COPY`` rows. So PostgreSQL stores the records, and checks
    each statement's foreign keys (set IMMEDIATE), while this thread goes on reading, and ``finish``
    leaves the sending thread to store the last rows and read back their ids while this thread
    deduplicates. The connection is the sending thread's until ``finished`` returns.

    PostgreSQL numbers the rows from the table's sequence in the order they arrive, so the records
    of the batch in id order are the records of the file in file order.
    """

    def __init__(self, batch: ImportBatch) -> None:
        self._statement, self._types = _copy_statement(Record, _COPIED_RECORD_COLUMNS)
        self._batch = batch
        # psycopg's own cursors: one only formats (it never runs a statement), the other is the
        # sending thread's.
        self._format_cursor = connection.connection.cursor()
        self._format_cursor.adapters.register_dumper(None, _TextArrayDumper)
        self._format_cursor.adapters.register_dumper(None, _WarningsDumper)
        self._cursor = connection.connection.cursor()
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_BLOCKS)
        self._error: BaseException | None = None
        self._ids: list[int] = []
        self._rows = 0
        self._copy: Copy | None = None
        self._thread = threading.Thread(target=self._send, name="import-copy", daemon=True)
        self._thread.start()

    def write(self, row: Sequence) -> None:
        if self._copy is None:
            self._copy = Copy(self._format_cursor, binary=True, writer=_Blocks(self))
            self._copy.set_types(self._types)
        self._copy.write_row(row)
        self._rows += 1
        if self._rows % ROWS_PER_COPY == 0:
            self._statement_end()

    def put(self, item) -> None:
        if self._error is not None:
            raise self._error  # the database refused something: stop reading the file
        self._queue.put(item)

    def _statement_end(self) -> None:
        copy, self._copy = self._copy, None
        if copy is not None:
            copy.finish(None)  # the last rows and the trailer, then _STATEMENT_END

    def _send(self) -> None:
        block = None
        try:
            block = self._queue.get()
            while block is not _DONE and block is not _ABORT:
                with self._cursor.copy(self._statement) as copy:
                    while block is not _STATEMENT_END:
                        if block is _ABORT:
                            raise _CopyAborted  # psycopg fails the COPY statement with this error
                        copy.write(block)  # a whole binary COPY: psycopg adds nothing to it
                        block = self._queue.get()
                block = self._queue.get()
            if block is _DONE:
                self._cursor.execute("SELECT array_agg(id ORDER BY id) FROM studies_record "
                                     "WHERE import_batch_id = %s", [self._batch.pk])
                self._ids = self._cursor.fetchone()[0] or []
        except _CopyAborted:
            pass
        except BaseException as error:  # raised in the reading thread by ``put`` or ``finished``
            self._error = error
            while block is not _DONE and block is not _ABORT:  # let the reading thread's puts through
                block = self._queue.get()
        finally:
            self._cursor.close()

    def finish(self) -> None:
        """The file is read: store what is left, in the background."""
        self._statement_end()
        self._format_cursor.close()
        self.put(_DONE)

    def finished(self) -> list[int]:
        """Wait until every record is stored; their ids in file order. Raises what stopped it."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._ids

    def abort(self) -> None:
        """Stop sending (the file is bad): a COPY under way fails, and the transaction must roll back."""
        self._copy = None
        self._format_cursor.close()
        if self._thread.is_alive():
            self._queue.put(_ABORT)
            self._thread.join()


@contextmanager
def _gc_paused():
    """No cyclic garbage collection while an import holds 100,000s of new objects.

    The collector would walk all of them again and again as they are allocated (a third of the
    import's time at 100k records); an import creates no reference cycles worth collecting early.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _foreign_keys(model) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' "
                       "AND condeferrable AND condeferred", [model._meta.db_table])
        return [connection.ops.quote_name(row[0]) for row in cursor.fetchall()]


def _constraints_set(names: list[str], mode: str) -> None:
    if names:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {', '.join(names)} {mode}")


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


_COPIED_RECORD_COLUMNS = ["review", "import_batch", "fulltext_status", "created_at", *_RECORD_FIELDS,
                          "import_warnings"]
_NO_WARNINGS: list[dict] = []  # the import_warnings of a record without any (never appended to)


def import_records(
    *, review: Review, source: SearchSource, file_name: str, content: bytes, file_format: str = "auto",
    column_mapping: Mapping[str, str] | None = None, imported_by=None,
) -> ImportSummary:
    """Import one export file into a review as one batch of one search, deduplicating as it goes.

    Everything happens in one transaction under a lock on the review: the records are checked and
    stored as the file is read (a quirk in a record is a warning stored with it; a file that is not
    an export raises, and the transaction rolls back whatever was stored), then matched against each other and against the review's records; duplicates are
    pointed at their primaries and the pairs for a person are queued.

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
        Counts of imported records, of duplicates merged, of pairs queued for a person; the records'
        warnings.

    Raises
    ------
    ImportFileError
        For a file that cannot be imported; nothing is written.
    """
    stream = file_open(content=content, file_format=file_format, column_mapping=column_mapping)
    return stream_import(review=review, source=source, stream=stream, file_name=file_name, imported_by=imported_by)


def stream_import(*, review: Review, source: SearchSource, stream: ParsedStream, file_name: str,
                  imported_by=None) -> ImportSummary:
    """``import_records`` for records already read: an uploaded file's, or a living search's
    (``studies.services.searches``), which go through the same checks, batch and deduplication.

    ``stream.sha256`` names the batch's content: the same content is not imported twice.
    """
    if source.review_id != review.pk:
        raise ImportFileError("This search source belongs to another review.", field="source")
    with _gc_paused(), transaction.atomic():
        # One import at a time per review: each must see the records of the one before.
        Review.objects.select_for_update().filter(pk=review.pk).first()
        earlier = ImportBatch.objects.filter(review=review, sha256=stream.sha256).first()
        if earlier is not None:
            return ImportSummary(
                imported=0, duplicates=0, queued=0, batch_id=earlier.pk, file_format=stream.file_format,
                encoding=stream.encoding, already_imported=True,
                warnings=(f"This file was already imported on {earlier.imported_at:%Y-%m-%d %H:%M} "
                          f"({earlier.file_name}, batch {earlier.pk}); nothing was imported again.",
                          *stream.warnings))
        batch = entity_save(instance=ImportBatch(
            review=review, source=source, file_name=file_name[:255], file_format=stream.file_format,
            sha256=stream.sha256, imported_by=imported_by))
        existing = _existing_items(review)
        # The record's foreign keys are checked as the COPY ends, while this thread deduplicates,
        # rather than all at once at commit.
        foreign_keys = _foreign_keys(Record)
        _constraints_set(foreign_keys, "IMMEDIATE")
        rules, now, new, record_warnings = _RecordRules(), timezone.now(), [], []
        writer = _RecordCopy(batch)
        try:
            for parsed in stream.records:
                parsed = rules.check(parsed, review)
                if parsed.warnings:
                    record_warnings += parsed.warnings
                    warnings = [warning.as_dict() for warning in parsed.warnings]
                else:
                    warnings = _NO_WARNINGS
                writer.write((review.pk, batch.pk, FullTextStatus.NOT_SOUGHT, now, parsed.title,
                              parsed.abstract, list(parsed.authors), parsed.year, parsed.journal, parsed.volume,
                              parsed.issue, parsed.pages, parsed.doi, parsed.pmid, parsed.nct_id,
                              list(parsed.keywords), parsed.language, parsed.publication_type, parsed.url,
                              parsed.raw_entry, warnings))
                new.append(item_from_parsed(parsed))
            writer.finish()
            plan = dedup_plan(existing=existing, new=new)
        except BaseException:
            writer.abort()
            raise
        new_ids = writer.finished()
        _constraints_set(foreign_keys, "DEFERRED")
        first_new = len(existing)

        def record_id(index: int) -> int:
            return existing[index].existing_id if index < first_new else new_ids[index - first_new]

        if plan.primary_of:
            duplicates = [record_id(duplicate) for duplicate in plan.primary_of]
            primaries = [record_id(primary) for primary in plan.primary_of.values()]
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE studies_record AS record SET duplicate_of_id = pair.primary_id "
                    "FROM unnest(%s::bigint[], %s::bigint[]) AS pair(id, primary_id) WHERE record.id = pair.id",
                    [duplicates, primaries])
        pairs = [
            (review.pk, batch.pk, record_id(link.duplicate), record_id(plan.primary_of[link.duplicate]),
             link.method, link.score, link.reason[:300], CandidateStatus.MERGED, True, now, now)
            for link in plan.merges
        ] + [
            (review.pk, batch.pk, record_id(link.duplicate), record_id(link.primary), link.method, link.score,
             link.reason[:300], CandidateStatus.PENDING, False, None, now)
            for link in plan.queued
        ]
        _rows_copy(DuplicateCandidate, ["review", "import_batch", "duplicate", "primary", "method", "score",
                                        "reason", "status", "automatic", "decided_at", "created_at"], pairs)
        if len(new) > len(plan.merges):
            # Records that reach screening arrived: a ranked queue places them after the commit.
            prioritisation.ranking_after_import(review=review)
    return ImportSummary(
        imported=len(new), duplicates=len(plan.merges), queued=len(plan.queued), batch_id=batch.pk,
        file_format=stream.file_format, encoding=stream.encoding,
        warnings=(*stream.warnings, *_warnings_as_text(record_warnings)), record_warnings=tuple(record_warnings))


# Record warnings given as text in ImportSummary.warnings (a page lists them); all of them stay in
# ImportSummary.record_warnings and on the records.
WARNINGS_AS_TEXT = 50


def _warnings_as_text(record_warnings: Sequence[RecordWarning]) -> list[str]:
    shown = [str(warning) for warning in record_warnings[:WARNINGS_AS_TEXT]]
    if len(record_warnings) > WARNINGS_AS_TEXT:
        records = len({warning.record for warning in record_warnings})
        shown.append(f"… and {len(record_warnings) - WARNINGS_AS_TEXT} more warnings ({len(record_warnings)} on "
                     f"{records} records in all); each record shows its own.")
    return shown


@transaction.atomic
def import_file(*, review: Review, database: str, date_searched: date, query: str, file_name: str, content: bytes,
                file_format: str = "auto", column_mapping: dict[str, str] | None = None, imported_by=None):
    """A manager's upload: its search source (found or created) and its records in one transaction,
    so a refused file leaves no search source behind either. Returns ``import_records``' summary."""
    source = search_source_ensure(review=review, database=database or "Unknown", date_searched=date_searched,
                                  query=query)
    return import_records(review=review, source=source, file_name=file_name, content=content,
                          file_format=file_format, column_mapping=column_mapping, imported_by=imported_by)


@transaction.atomic
def duplicate_decide(*, review: Review, candidate_id: int, decision: str, user,
                     keep: int | None = None) -> DuplicateCandidate:
    """A person's verdict on a pending duplicate pair: ``merge`` (keeping record ``keep``, one of the
    pair, or the richer or screened one when ``keep`` is not given) or ``keep_both`` (not duplicates).
    The pair is locked and re-read, so a second manager, or a double submit, finds it already decided
    (and changes nothing). Raises ``DuplicateCandidate.DoesNotExist`` for a pair not of this review,
    ``ValidationError`` for another verdict or a record to remove that screening has used, and
    ``PermissionDenied`` for someone who does not manage the review."""
    access.require_role(user, review, access.MANAGER, action="decide about duplicates")
    if decision not in ("merge", "keep_both"):
        raise ValidationError("Choose 'merge' or 'keep_both'.")
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate_id, review=review)
    if candidate.status != CandidateStatus.PENDING:
        return candidate
    if decision == "merge":
        return duplicate_merge(candidate=candidate, user=user, keep=keep)
    return duplicate_keep_both(candidate=candidate, user=user)


class DuplicateUndoRefused(Exception):
    """A merge that can no longer be undone, with the reason to show."""


def duplicate_undo_blockers(*, candidates: Iterable[DuplicateCandidate]) -> dict[int, str]:
    """Why each merged pair cannot be undone any more ("" when it can), in one query for all of them.

    The rule: a merge can be undone until screening has relied on it. Once a screening decision or a
    tutor's resolution is recorded on the kept record after the merge, that work was done on the record
    standing for both; restoring the other one would send the same work through screening a second
    time and change the PRISMA counts the team has already used. The screeners withdraw (or the tutor
    reconsiders) that work first; then the merge can be undone.
    """
    ids = [candidate.pk for candidate in candidates]
    since = Q(decided_at__isnull=True)
    rows = (
        DuplicateCandidate.objects.filter(pk__in=ids)
        .annotate(
            later_decisions=Count("primary__decisions", distinct=True, filter=since | Q(
                primary__decisions__updated_at__gte=F("decided_at"))),
            later_resolutions=Count("primary__resolutions", distinct=True, filter=since | Q(
                primary__resolutions__resolved_at__gte=F("decided_at"))),
        )
        .values_list("pk", "primary_id", "later_decisions", "later_resolutions")
    )
    blockers = {}
    for pk, primary_id, decisions, resolutions in rows:
        if decisions or resolutions:
            blockers[pk] = (
                f"Since this merge, record {primary_id} (the record kept) received {decisions} screening "
                f"decision(s) and {resolutions} resolution(s). That work stood for both records; undoing the "
                "merge would send the same paper through screening again and change counts already reported. "
                "Withdraw that screening work first, then undo the merge.")
        else:
            blockers[pk] = ""
    return blockers


@transaction.atomic
def duplicate_undo(*, review: Review, candidate_id: int, user) -> DuplicateCandidate:
    """Undo a merge (automatic or a person's): the removed record is a record of its own again, and
    the pair goes back to the queue for a decision. Refused (``DuplicateUndoRefused``) once screening
    has relied on the merge (``duplicate_undo_blockers`` says the rule); ``ValidationError`` for a
    pair that is not merged, ``DuplicateCandidate.DoesNotExist`` for one not of this review."""
    access.require_role(user, review, access.MANAGER, action="undo duplicate merges")
    Review.objects.select_for_update().filter(pk=review.pk).first()
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate_id, review=review)
    if candidate.status != CandidateStatus.MERGED:
        raise ValidationError(f"Only a merged pair can be undone; this pair is “{candidate.get_status_display()}”.")
    blocker = duplicate_undo_blockers(candidates=[candidate])[candidate.pk]
    if blocker:
        raise DuplicateUndoRefused(blocker)
    Record.objects.filter(pk=candidate.duplicate_id).update(duplicate_of=None)
    candidate.status = CandidateStatus.PENDING
    candidate.automatic = False  # a person decides it now
    candidate.decided_by = None
    candidate.decided_at = None
    return entity_save(instance=candidate)


BULK_DECISIONS = {"keep_first": "Keep the record imported first of each pair",
                  "keep_both": "Not duplicates: keep both records of each pair"}


@dataclass(frozen=True)
class BulkStep:
    """What a bulk decision will do to one pending pair (``keep``/``remove`` are ``None`` for keep both)."""

    candidate: DuplicateCandidate
    keep: Record | None
    remove: Record | None
    refusal: str = ""


def _removal_refusal(record: Record, work: int) -> str:
    return (f"Record {record.pk} has {work} screening decision(s) or resolution(s); removing it would hide "
            "that work. Keep it instead." if work else "")


def _screening_work(record_ids: Iterable[int]) -> dict[int, int]:
    """Screening decisions and resolutions per record (records without any are absent)."""
    work: dict[int, int] = defaultdict(int)
    for model in (ScreeningDecision, ScreeningResolution):
        for record_id, n in (model.objects.filter(record_id__in=list(record_ids)).values("record_id")
                             .annotate(n=Count("pk")).values_list("record_id", "n")):
            work[record_id] += n
    return work


def duplicate_bulk_plan(*, review: Review, candidate_ids: Iterable[int], decision: str) -> list[BulkStep]:
    """What ``duplicate_decide_bulk`` would do to each still pending pair, with the pairs it would
    refuse and why: the page's confirmation step. Writes nothing."""
    if decision not in BULK_DECISIONS:
        raise ValidationError(f"Choose one of: {', '.join(BULK_DECISIONS)}.")
    candidates = list(DuplicateCandidate.objects.filter(review=review, pk__in=list(candidate_ids),
                                                        status=CandidateStatus.PENDING)
                      .select_related("duplicate", "primary").order_by("pk"))
    if decision == "keep_both":
        return [BulkStep(candidate=c, keep=None, remove=None) for c in candidates]
    work = _screening_work([pk for c in candidates for pk in (c.duplicate_id, c.primary_id)])
    steps = []
    for c in candidates:
        # The record imported first: the lower id (ids grow with every import).
        keep, remove = (c.duplicate, c.primary) if c.duplicate_id < c.primary_id else (c.primary, c.duplicate)
        steps.append(BulkStep(candidate=c, keep=keep, remove=remove,
                              refusal=_removal_refusal(remove, work.get(remove.pk, 0))))
    return steps


@transaction.atomic
def duplicate_decide_bulk(*, review: Review, candidate_ids: Iterable[int], decision: str, user) -> int:
    """Decide several pending pairs at once (``keep_first``: merge each into the record imported
    first; ``keep_both``: not duplicates), all or none: a pair that cannot be decided so refuses the
    whole set (``ValidationError`` naming it). Returns the number of pairs decided."""
    access.require_role(user, review, access.MANAGER, action="decide about duplicates")
    steps = duplicate_bulk_plan(review=review, candidate_ids=candidate_ids, decision=decision)
    refused = [f"pair {step.candidate.pk}: {step.refusal}" for step in steps if step.refusal]
    if refused:
        raise ValidationError(["Nothing was decided. " + refused[0], *refused[1:]])
    for step in steps:
        duplicate_decide(review=review, candidate_id=step.candidate.pk, user=user,
                         decision="keep_both" if step.keep is None else "merge",
                         keep=step.keep.pk if step.keep is not None else None)
    return len(steps)


def import_undo_blockers(*, batches: Iterable[ImportBatch]) -> dict[int, str]:
    """Why each batch cannot be undone any more ("" when it can), in one query for all of them."""
    ids = [batch.pk for batch in batches]
    rows = (
        ImportBatch.objects.filter(pk__in=ids)
        .annotate(
            decided=Count("records__decisions__record", distinct=True),
            resolved=Exists(ScreeningResolution.objects.filter(record__import_batch=OuterRef("pk"))),
            reported=Exists(Report.objects.filter(record__import_batch=OuterRef("pk"))),
        )
        .values_list("pk", "decided", "resolved", "reported")
    )
    blockers = {}
    for pk, decided, resolved, reported in rows:
        if decided or resolved:
            blockers[pk] = (f"{decided} record(s) of this import already have screening decisions; undoing it "
                            "would discard that work. Exclude unwanted records in screening instead.")
        elif reported:
            blockers[pk] = "Records of this import are reports of included studies."
        else:
            blockers[pk] = ""
    return blockers


def import_undo_blocker(*, batch: ImportBatch) -> str:
    """Why ``batch`` cannot be undone any more ("" when it can)."""
    return import_undo_blockers(batches=[batch])[batch.pk]


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
def duplicate_merge(*, candidate: DuplicateCandidate, user, keep: int | None = None) -> DuplicateCandidate:
    """Merge a queued pair: record ``keep`` (one of the pair) stays primary and the other points at it;
    without ``keep``, the richer (or screened) record stays. Removing a record that screening has used
    is refused (``ValidationError``): its decisions would disappear behind the other record."""
    Review.objects.select_for_update().filter(pk=candidate.review_id).first()
    a, b = _root(candidate.duplicate), _root(candidate.primary)
    if a.pk != b.pk:
        if keep is None:
            primary, duplicate = (a, b) if _richness(a) >= _richness(b) else (b, a)
        elif keep in (candidate.duplicate_id, candidate.primary_id):
            primary, duplicate = (a, b) if keep == candidate.duplicate_id else (b, a)
            refusal = _removal_refusal(duplicate, _screening_work([duplicate.pk]).get(duplicate.pk, 0))
            if refusal:
                raise ValidationError(refusal)
        else:
            raise ValidationError(f"Record {keep} is not one of this pair.")
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
    # The references an imported RevMan review brought were not identified by a search (see prisma_counts).
    by_source = (Record.objects.filter(review=review, revman_import__isnull=True).values("import_batch__source__database")
                 .annotate(n=Count("id")))
    counts = {row["import_batch__source__database"] or "unknown": row["n"] for row in by_source}
    counts["duplicates removed"] = Record.objects.filter(review=review, duplicate_of__isnull=False).count()
    return counts
