"""Reading a single analysis from CSV, with errors that name the line and column.

Accepted layouts (header names are case-insensitive; extra columns are ignored):

* continuous: ``study, n1, mean1, sd1, n2, mean2, sd2``
* dichotomous: ``study, events1, total1, events2, total2``
* generic inverse variance: ``study, effect, se``

each with optional ``subgroup`` (any label) and ``year`` (number, used for the
cumulative meta-analysis). Arm 1 is the experimental intervention.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .effect_sizes import ContinuousArms, DichotomousArms, GenericEstimates, StudyData
from .options import Measure


class InputError(ValueError):
    """Bad input a user can fix; the message names the CSV line and column."""


@dataclass(frozen=True)
class DecodedCsv:
    """A CSV file's text, the encoding it was read with and, when not UTF-8, a note saying so."""

    text: str
    encoding: str
    note: str = ""


_UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_csv(content: bytes) -> DecodedCsv:
    """Decode a CSV file as spreadsheet programs write it.

    UTF-8 (a byte-order mark is dropped) and UTF-16 with a byte-order mark (Excel's
    "Unicode" export) are read as such. Anything else is a legacy "ANSI" export — Excel's
    "CSV (Comma delimited)" on Western Windows writes Windows-1252, a superset of Latin-1's
    printable characters — and is read as Windows-1252 (Latin-1 for the five bytes
    Windows-1252 leaves undefined), with a note naming the first line that is not UTF-8.
    The same order as the reference importer (``studies.imports.text``), which the engine
    may not import.

    Raises
    ------
    InputError
        For a file that is not text (NUL bytes without a UTF-16 byte-order mark), or a
        UTF-16 file that cannot be decoded.
    """
    for bom, codec in _UTF16_BOMS:
        if content.startswith(bom):
            try:
                return DecodedCsv(content[len(bom):].decode(codec), "utf-16")
            except UnicodeDecodeError:
                raise InputError("the file starts like UTF-16 text but cannot be read as UTF-16; "
                                 "save it as CSV UTF-8") from None
    if b"\x00" in content:
        raise InputError("this is not a text file (it contains NUL bytes); save it as CSV UTF-8")
    try:
        return DecodedCsv(content.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
    try:
        text, encoding = content.decode("windows-1252"), "windows-1252"
    except UnicodeDecodeError:
        text, encoding = content.decode("latin-1"), "latin-1"
    name = "Windows-1252" if encoding == "windows-1252" else "Latin-1"
    return DecodedCsv(text, encoding,
                      f"the file is not UTF-8 (first at line {line}); it was read as {name}. "
                      "Check accented characters in study labels, or save it as CSV UTF-8.")


class DataKind(StrEnum):
    CONTINUOUS = "continuous"
    DICHOTOMOUS = "dichotomous"
    GENERIC = "generic"


COLUMNS: dict[DataKind, tuple[str, ...]] = {
    DataKind.CONTINUOUS: ("n1", "mean1", "sd1", "n2", "mean2", "sd2"),
    DataKind.DICHOTOMOUS: ("events1", "total1", "events2", "total2"),
    DataKind.GENERIC: ("effect", "se"),
}


def kind_of(measure: Measure) -> DataKind:
    """The data layout a measure needs."""
    if measure.is_continuous:
        return DataKind.CONTINUOUS
    if measure.is_dichotomous:
        return DataKind.DICHOTOMOUS
    return DataKind.GENERIC


@dataclass(frozen=True)
class StudyTable:
    """One analysis's study rows as read from CSV.

    Attributes
    ----------
    kind
        Data layout.
    studies
        Study labels, in file order.
    lines
        CSV line number of each study (for messages).
    values
        Column name → float array, for the kind's columns.
    subgroup_labels
        Distinct subgroup labels in order of first appearance, or ``None``.
    subgroup
        Index into ``subgroup_labels`` per study, or ``None``.
    year
        Year per study, or ``None`` when the column is absent.
    """

    kind: DataKind
    studies: tuple[str, ...]
    lines: tuple[int, ...]
    values: dict[str, np.ndarray]
    subgroup_labels: tuple[str, ...] | None
    subgroup: np.ndarray | None
    year: np.ndarray | None

    def study_data(self) -> StudyData:
        """The rows as engine input."""
        v = self.values
        if self.kind is DataKind.CONTINUOUS:
            return ContinuousArms(v["n1"], v["mean1"], v["sd1"], v["n2"], v["mean2"], v["sd2"])
        if self.kind is DataKind.DICHOTOMOUS:
            return DichotomousArms(v["events1"], v["total1"], v["events2"], v["total2"])
        return GenericEstimates(v["effect"], v["se"])


def _detect_kind(header: set[str]) -> DataKind:
    complete = [kind for kind, cols in COLUMNS.items() if set(cols) <= header]
    if len(complete) == 1:
        return complete[0]
    if len(complete) > 1:
        raise InputError(
            "the header has columns of more than one layout "
            f"({', '.join(k.value for k in complete)}); pass --measure to choose"
        )
    # Name the closest layout's missing columns, the most useful message for a typo.
    best = max(COLUMNS, key=lambda kind: len(set(COLUMNS[kind]) & header))
    missing = [c for c in COLUMNS[best] if c not in header]
    raise InputError(
        f"line 1: missing column(s) {', '.join(repr(c) for c in missing)} "
        f"for {best.value} data ({', '.join(COLUMNS[best])})"
    )


def _number(text: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"line {line}, column '{column}': expected a number, got {text!r}"
        ) from None
    if not math.isfinite(value):
        raise InputError(f"line {line}, column '{column}': expected a finite number, got {text!r}")
    return value


def _count(text: str, line: int, column: str, minimum: int) -> float:
    value = _number(text, line, column)
    if value != int(value):
        raise InputError(f"line {line}, column '{column}': expected a whole number, got {text!r}")
    if value < minimum:
        raise InputError(f"line {line}, column '{column}': must be at least {minimum}, got {text}")
    return value


def _check_row(kind: DataKind, row: dict[str, float], line: int) -> None:
    if kind is DataKind.CONTINUOUS:
        for column in ("sd1", "sd2"):
            if row[column] <= 0:
                raise InputError(
                    f"line {line}, column '{column}': SD must be greater than 0, "
                    f"got {row[column]:g}"
                )
    elif kind is DataKind.DICHOTOMOUS:
        for events, total in (("events1", "total1"), ("events2", "total2")):
            if row[events] > row[total]:
                raise InputError(
                    f"line {line}, column '{events}': events ({row[events]:g}) exceed "
                    f"{total} ({row[total]:g})"
                )
    elif row["se"] <= 0:
        raise InputError(f"line {line}, column 'se': SE must be greater than 0, got {row['se']:g}")


def read_study_csv(text: str, measure: Measure | None = None) -> StudyTable:
    """Parse and validate CSV text of one analysis.

    Parameters
    ----------
    text
        The CSV file's content.
    measure
        When given, the layout it needs is required; otherwise the layout is
        detected from the header.

    Raises
    ------
    InputError
        For a missing column, a non-number, SD ≤ 0, n < 2, events > total, SE ≤ 0, a
        duplicate study label, an empty subgroup name, a row with more fields than the
        header, or an empty file — naming the line and column.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        raise InputError("the file is empty: expected a header line")
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    header = set(reader.fieldnames)
    if "study" not in header:
        raise InputError("line 1: missing column 'study'")
    if measure is None:
        kind = _detect_kind(header)
    else:
        kind = kind_of(measure)
        missing = [c for c in COLUMNS[kind] if c not in header]
        if missing:
            raise InputError(
                f"line 1: missing column(s) {', '.join(repr(c) for c in missing)} "
                f"needed for {measure.value} ({', '.join(COLUMNS[kind])})"
            )
    columns = COLUMNS[kind]
    has_subgroup = "subgroup" in header
    has_year = "year" in header

    studies: list[str] = []
    first_line: dict[str, int] = {}  # study label → the line it was first given on
    lines: list[int] = []
    values: dict[str, list[float]] = {c: [] for c in columns}
    subgroup_text: list[str] = []
    years: list[float] = []
    for record in reader:
        line = reader.line_num
        extra = record.get(None)  # DictReader puts fields beyond the header here
        if all((v or "").strip() == "" for k, v in record.items() if k is not None) and not any(
            (v or "").strip() for v in extra or ()
        ):
            continue  # blank line
        if extra is not None:
            # A comma in an unquoted label or a stray trailing value shifts every column;
            # reading the row anyway would take numbers from the wrong columns.
            raise InputError(
                f"line {line}: {len(reader.fieldnames) + len(extra)} fields, but the header has "
                f"{len(reader.fieldnames)} columns (quote a label that contains a comma)"
            )
        cells = {k: (v or "").strip() for k, v in record.items() if k is not None}
        study = cells.get("study", "")
        if not study:
            raise InputError(f"line {line}, column 'study': empty study label")
        if study in first_line:
            # Study rows are matched by label in the output (weights, leave-one-out).
            raise InputError(
                f"line {line}, column 'study': duplicate study label {study!r} "
                f"(first on line {first_line[study]})"
            )
        first_line[study] = line
        row: dict[str, float] = {}
        for column in columns:
            cell = cells.get(column, "")
            if cell == "":
                raise InputError(f"line {line}, column '{column}': missing value")
            if column in ("n1", "n2"):
                row[column] = _count(cell, line, column, 2)
            elif column in ("total1", "total2"):
                row[column] = _count(cell, line, column, 1)
            elif column in ("events1", "events2"):
                row[column] = _count(cell, line, column, 0)
            else:
                row[column] = _number(cell, line, column)
        _check_row(kind, row, line)
        studies.append(study)
        lines.append(line)
        for column in columns:
            values[column].append(row[column])
        if has_subgroup:
            subgroup_name = cells.get("subgroup", "")
            if not subgroup_name:
                raise InputError(f"line {line}, column 'subgroup': empty subgroup name")
            subgroup_text.append(subgroup_name)
        if has_year:
            cell = cells.get("year", "")
            if cell == "":
                raise InputError(f"line {line}, column 'year': missing value")
            years.append(_number(cell, line, "year"))
    if not studies:
        raise InputError("no study rows after the header")

    labels = subgroup = None
    if has_subgroup:
        labels = tuple(dict.fromkeys(subgroup_text))
        index = {label: i for i, label in enumerate(labels)}
        subgroup = np.array([index[s] for s in subgroup_text], dtype=np.intp)
    return StudyTable(
        kind=kind,
        studies=tuple(studies),
        lines=tuple(lines),
        values={c: np.array(v, dtype=np.float64) for c, v in values.items()},
        subgroup_labels=labels,
        subgroup=subgroup,
        year=np.array(years) if has_year else None,
    )
