"""The one error an import raises for anything wrong with the file itself."""


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
