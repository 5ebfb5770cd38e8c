"""The one error an import raises for anything wrong with the file itself, and the warning it gives
for a quirk in one record."""
from dataclasses import dataclass


class ImportFileError(Exception):
    """A file that cannot be imported: names the record, the line and the field where known.

    Parameters
    ----------
    message : str
        What is wrong, in the review team's words.
    record : int | None
        1-based position of the record in the file.
    line : int | None
        1-based line where the record (or the offending text) starts.
    field : str | None
        The record field (``title``, ``doi``…) or the file-level part (``format``, ``encoding``).
    """

    def __init__(self, message: str, *, record: int | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.record = record
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field {self.field!r}")
        where_text = ", ".join(where)
        return f"{where_text[:1].upper()}{where_text[1:]}: {self.message}" if where else self.message


@dataclass(frozen=True, slots=True)
class RecordWarning:
    """A quirk in one record of an export: the record is kept, the team is told (DESIGN.md, "Intake":
    only a file that is not a bibliographic export at all, or cannot be decoded, is refused).

    Parameters
    ----------
    kind : str
        A short key grouping warnings of one sort on the preview, e.g. ``"doi_not_a_doi"``,
        ``"title_missing"``, ``"year_out_of_range"``.
    message : str
        What was found and what was done about it, in the review team's words.
    record : int | None
        1-based position of the record in the file.
    line : int | None
        1-based line where the record (or the offending text) starts.
    field : str | None
        The record field concerned (``title``, ``doi``…), where there is one.
    """

    kind: str
    message: str
    record: int | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        return str(ImportFileError(self.message, record=self.record, line=self.line, field=self.field))

    def as_dict(self) -> dict:
        """What ``Record.import_warnings`` keeps of the warning (the record is the row itself)."""
        return {"kind": self.kind, "message": self.message, "line": self.line, "field": self.field}


class WarningKind:
    """The ``RecordWarning.kind`` keys the parsers give, each with what it means for the record."""

    TITLE_MISSING = "title_missing"  # no title in any title field: the record is kept without one
    TITLE_FROM_OTHER_FIELD = "title_from_other_field"  # no main title: a short/translated/book title used
    DOI_NOT_A_DOI = "doi_not_a_doi"  # the DOI field holds no DOI: left empty, the value stays in raw_entry
    PMID_INVALID = "pmid_invalid"  # the PMID field is not 1 to 9 digits: left empty, raw_entry keeps it
    NCT_INVALID = "nct_invalid"  # a trial-registration field holds no NCT number: left empty
    YEAR_OUT_OF_RANGE = "year_out_of_range"  # a year before 1800 or after next year: left empty
    YEAR_UNREADABLE = "year_unreadable"  # the date field holds no four-digit year: left empty
    URL_INVALID = "url_invalid"  # a link that is not a valid URL: left empty, raw_entry keeps it
    FIELD_INVALID = "field_invalid"  # any other model rule the value breaks: left empty
    LINE_UNRECOGNISED = "line_unrecognised"  # a line that is no tag line of the format: kept in raw_entry
    TEXT_OUTSIDE_RECORD = "text_outside_record"  # text between two records: ignored, named on the one before
    RECORD_NOT_CLOSED = "record_not_closed"  # a record without its end line (ER): ended at the next record
    ROW_CELLS = "row_cells"  # a CSV row with more cells than the header: the extra cells are ignored
    ENTRY_UNREADABLE = "entry_unreadable"  # a BibTeX entry that does not parse: kept as text, no fields
