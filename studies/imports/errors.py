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
        return f"{', '.join(where).capitalize()}: {self.message}" if where else self.message


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
