"""Reading bibliographic export files and finding duplicates (DESIGN.md, "Import").

Parsers (one module per format) turn bytes into checked ``ParsedRecord``s, each with the warnings
its quirks earned (``RecordWarning``), or raise ``ImportFileError`` for a file that is not an export;
``dedup`` matches records without touching the database. Writes are in ``studies.services.imports``.
"""
from studies.imports.errors import ImportFileError, RecordWarning, WarningKind
from studies.imports.formats import AUTO, ParsedFile, ParsedStream, file_open, file_parse, format_detect
from studies.imports.records import ParsedRecord

__all__ = ["AUTO", "ImportFileError", "ParsedFile", "ParsedRecord", "ParsedStream", "RecordWarning", "WarningKind",
           "file_open", "file_parse", "format_detect"]
