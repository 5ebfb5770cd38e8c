"""Read a RevMan 5 review file (.rm5) into plain frozen dataclasses, without Django.

A .rm5 file is XML (root ``COCHRANE_REVIEW``). What an import needs:

* ``STUDIES_AND_REFERENCES/STUDIES/INCLUDED_STUDIES/STUDY`` (``ID``, ``NAME``, ``YEAR``) with its
  ``REFERENCE`` children (``AU``, ``TI``, ``SO``, ``YR``, ``VL``, ``NO``, ``PG``,
  ``IDENTIFIERS/IDENTIFIER TYPE= VALUE=``);
* ``ANALYSES_AND_DATA/COMPARISON`` (``NO``, ``NAME``) holding ``DICH_OUTCOME``, ``CONT_OUTCOME`` and
  ``IV_OUTCOME`` analyses. An analysis's attributes are its settings (``EFFECT_MEASURE``, ``METHOD``,
  ``RANDOM``, ``CI_STUDY``, ``CI_TOTAL``, ``TOTALS``, ``SWAP_EVENTS``, ``SUBGROUPS``...) and the
  results RevMan computed when it saved the file (``EFFECT_SIZE``, ``CI_START``, ``CI_END``, ``Z``,
  ``P_Z``, ``TAU2``, ``CHI2``, ``DF``, ``P_CHI2``, ``I2``; with subgroups ``Q``, ``P_Q``, ``I2_Q`` for
  the test for subgroup differences). Its rows are ``DICH_DATA`` / ``CONT_DATA`` / ``IV_DATA``
  (``STUDY_ID``, the numbers, ``WEIGHT`` in percent), directly or inside ``*_SUBGROUP`` elements
  that carry their own results;
* ``CHARACTERISTICS_OF_STUDIES/CHARACTERISTICS_OF_INCLUDED_STUDIES/INCLUDED_CHAR`` and
  ``QUALITY_ITEMS`` (risk of bias).

RevMan writes an empty string for a result it did not compute (e.g. a continuous analysis never
opened); those become ``None``. Ratio measures store EFFECT_SIZE and the CI on the ratio scale and
``LOG_*`` in log10 (for drawing); SE and VAR are of the natural log.

The XML is read with defusedxml: a file that declares entities or refers to external resources is
refused (a plain DOCTYPE line, which some XML tools add, is allowed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring


class Rm5FormatError(ValueError):
    """The file is not a RevMan 5 review we can read; the message says what is wrong and where."""


# Result attributes of an analysis or subgroup, in RevMan's names.
RESULT_ATTRIBUTES = ("EFFECT_SIZE", "CI_START", "CI_END", "Z", "P_Z", "TAU2", "CHI2", "DF", "P_CHI2", "I2",
                     "Q", "P_Q", "I2_Q", "WEIGHT")
DATA_TYPES = {"DICH": "dichotomous", "CONT": "continuous", "IV": "generic"}


@dataclass(frozen=True)
class Rm5Reference:
    """A reference of a study (RevMan's REFERENCE element)."""

    primary: bool
    authors: str
    title: str
    source: str
    year: str
    volume: str
    issue: str
    pages: str
    identifiers: dict[str, str]


@dataclass(frozen=True)
class Rm5Study:
    """An included study: RevMan's id (``STD-...``), its name as in forest plots, its year."""

    id: str
    name: str
    year: str
    references: tuple[Rm5Reference, ...]
    identifiers: dict[str, str]


@dataclass(frozen=True)
class Rm5Row:
    """One row of an analysis: a study's data, and the weight (percent) RevMan gave it.

    Dichotomous rows use ``events_*``/``total_*``; continuous rows ``mean_*``/``sd_*``/``total_*``;
    generic inverse-variance rows ``effect``/``se`` (on the analysis scale, log for ratios).
    """

    study_id: str
    order: int
    events_1: int | None = None
    total_1: int | None = None
    events_2: int | None = None
    total_2: int | None = None
    mean_1: float | None = None
    sd_1: float | None = None
    mean_2: float | None = None
    sd_2: float | None = None
    effect: float | None = None
    se: float | None = None
    stored_effect: float | None = None
    stored_ci_start: float | None = None
    stored_ci_end: float | None = None
    stored_weight: float | None = None


@dataclass(frozen=True)
class Rm5Subgroup:
    """A subgroup of an analysis, its rows and the results RevMan stored for it."""

    number: str  # "1.2.1"
    name: str
    rows: tuple[Rm5Row, ...]
    stored: dict[str, float | None]


@dataclass(frozen=True)
class Rm5Analysis:
    """One RevMan analysis (an outcome within a comparison) with its settings and stored results."""

    number: str  # "1.2": comparison number, analysis number
    comparison_number: int
    comparison_name: str
    data_type: str  # dichotomous / continuous / generic
    name: str
    effect_measure: str  # RevMan's code: OR, RR, RD, PETO_OR, MD, SMD; free text for generic data
    method: str  # MH, IV, PETO
    random: bool
    ci_study: float  # percent
    ci_total: float
    totals: str  # YES, SUB, NO
    swap_events: bool
    log_data: bool  # generic data entered on the log scale (ratio measures)
    group_label_1: str
    group_label_2: str
    graph_label_1: str
    graph_label_2: str
    units: str
    has_subgroups: bool
    rows: tuple[Rm5Row, ...]  # every row, subgroups included
    subgroups: tuple[Rm5Subgroup, ...]
    stored: dict[str, float | None]

    @property
    def subgroup_of_row(self) -> dict[int, int]:
        """Index of each row in ``rows`` → index of its subgroup."""
        result, position = {}, 0
        for index, subgroup in enumerate(self.subgroups):
            for _ in subgroup.rows:
                result[position] = index
                position += 1
        return result


@dataclass(frozen=True)
class Rm5RiskOfBiasEntry:
    """One study's judgment of a risk-of-bias item (RevMan's QUALITY_ITEM_DATA_ENTRY).

    ``result`` is RevMan's word: YES (low risk of bias), NO (high risk) or UNKNOWN (unclear), as the
    items are phrased as questions ("Adequate sequence generation?"); ``group`` names the outcomes
    judged by an outcome-level item (LEVEL="GROUP"), empty when the judgment is the study's.
    """

    study_id: str
    result: str
    support: str
    group: str = ""


@dataclass(frozen=True)
class Rm5RiskOfBiasItem:
    """A risk-of-bias item (RevMan's QUALITY_ITEM): a domain of the review's tool and its judgments."""

    name: str
    level: str  # STUDY, or GROUP for an item judged per group of outcomes (e.g. blinding of outcome assessment)
    entries: tuple[Rm5RiskOfBiasEntry, ...]
    description: str = ""


@dataclass(frozen=True)
class Rm5File:
    """Everything of a .rm5 file that an import carries over."""

    title: str
    revman_version: str
    studies: tuple[Rm5Study, ...]
    analyses: tuple[Rm5Analysis, ...]
    characteristics: dict[str, dict[str, str]]  # study id → {"Methods": text, ...}
    risk_of_bias: tuple[Rm5RiskOfBiasItem, ...]
    excluded_study_names: tuple[str, ...] = field(default=())
    skipped_analyses: tuple[str, ...] = field(default=())  # e.g. "Analysis 2.3 (O-E and variance)"


CHARACTERISTIC_ELEMENTS = {"CHAR_METHODS": "Methods", "CHAR_PARTICIPANTS": "Participants",
                           "CHAR_INTERVENTIONS": "Interventions", "CHAR_OUTCOMES": "Outcomes",
                           "CHAR_NOTES": "Notes"}


def _text(element: Element | None) -> str:
    """All the text inside an element (RevMan stores rich text as nested P, B, I... elements)."""
    if element is None:
        return ""
    return " ".join(" ".join(element.itertext()).split())


def _number(element: Element, name: str, where: str) -> float | None:
    raw = (element.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Rm5FormatError(f"{where}: {name}={raw!r} is not a number.") from None
    if not math.isfinite(value):
        # RevMan writes "NaN"/"Infinity" where a result cannot be computed; it is not stored then.
        return None
    return value


def _integer(element: Element, name: str, where: str, *, required: bool) -> int | None:
    value = _number(element, name, where)
    if value is None:
        if required:
            raise Rm5FormatError(f"{where}: {name} is missing.")
        return None
    if value != int(value) or value < 0:
        raise Rm5FormatError(f"{where}: {name}={element.get(name)!r} is not a count.")
    return int(value)


def _flag(element: Element, name: str, default: bool = False) -> bool:
    raw = (element.get(name) or "").strip().upper()
    return default if not raw else raw == "YES"


def _stored(element: Element, where: str) -> dict[str, float | None]:
    return {name: _number(element, name, where) for name in RESULT_ATTRIBUTES if name in element.attrib}


def _study(element: Element) -> Rm5Study:
    study_id = element.get("ID") or ""
    if not study_id:
        raise Rm5FormatError("A STUDY element has no ID.")
    name = (element.get("NAME") or "").strip()
    if not name:
        raise Rm5FormatError(f"Study {study_id}: NAME is empty.")
    references = tuple(_reference(ref) for ref in element.findall("REFERENCE"))
    return Rm5Study(id=study_id, name=name, year=(element.get("YEAR") or "").strip(), references=references,
                    identifiers=_identifiers(element.find("IDENTIFIERS")))


def _identifiers(element: Element | None) -> dict[str, str]:
    if element is None:
        return {}
    return {(item.get("TYPE") or "").upper(): (item.get("VALUE") or "").strip()
            for item in element.findall("IDENTIFIER") if item.get("VALUE")}


def _reference(element: Element) -> Rm5Reference:
    return Rm5Reference(
        primary=_flag(element, "PRIMARY"), authors=_text(element.find("AU")), title=_text(element.find("TI")),
        source=_text(element.find("SO")), year=_text(element.find("YR")), volume=_text(element.find("VL")),
        issue=_text(element.find("NO")), pages=_text(element.find("PG")),
        identifiers=_identifiers(element.find("IDENTIFIERS")),
    )


def _row(element: Element, kind: str, where: str) -> Rm5Row:
    study_id = element.get("STUDY_ID") or ""
    if not study_id:
        raise Rm5FormatError(f"{where}: a {element.tag} row has no STUDY_ID.")
    where = f"{where}, study {study_id}"
    common = {"study_id": study_id, "order": _integer(element, "ORDER", where, required=False) or 0,
                  "stored_effect": _number(element, "EFFECT_SIZE", where),
                  "stored_ci_start": _number(element, "CI_START", where),
                  "stored_ci_end": _number(element, "CI_END", where),
                  "stored_weight": _number(element, "WEIGHT", where)}
    # An empty count, mean or SD is a row without data (RevMan shows it as not estimable): read as
    # None, and the import leaves the row out with a warning; a value that is not a number is an error.
    if kind == "DICH":
        row = Rm5Row(events_1=_integer(element, "EVENTS_1", where, required=False),
                     total_1=_integer(element, "TOTAL_1", where, required=False),
                     events_2=_integer(element, "EVENTS_2", where, required=False),
                     total_2=_integer(element, "TOTAL_2", where, required=False), **common)
        for arm in ("1", "2"):
            events, total = getattr(row, f"events_{arm}"), getattr(row, f"total_{arm}")
            if events is not None and total is not None and events > total:
                raise Rm5FormatError(f"{where}: EVENTS_{arm} exceeds TOTAL_{arm}.")
        return row
    if kind == "CONT":
        values = {name.lower(): _number(element, name, where) for name in ("MEAN_1", "SD_1", "MEAN_2", "SD_2")}
        for name in ("SD_1", "SD_2"):
            if values[name.lower()] is not None and values[name.lower()] < 0:
                raise Rm5FormatError(f"{where}: {name} is negative.")
        return Rm5Row(total_1=_integer(element, "TOTAL_1", where, required=False),
                      total_2=_integer(element, "TOTAL_2", where, required=False), **values, **common)
    effect, se = _number(element, "EFFECT_SIZE", where), _number(element, "SE", where)
    if effect is None or se is None:
        raise Rm5FormatError(f"{where}: EFFECT_SIZE and SE are needed for generic inverse-variance data.")
    return Rm5Row(effect=effect, se=se, total_1=_integer(element, "TOTAL_1", where, required=False),
                  total_2=_integer(element, "TOTAL_2", where, required=False), **common)


def _generic_effect_is_log(analysis: Element, rows: list[Element]) -> bool:
    """Whether the IV_DATA rows' EFFECT_SIZE is on the log scale.

    RevMan's generic inverse-variance rows of a ratio measure (``LOG_DATA="YES"``) hold the entered
    log estimate and its SE, and the CI on the ratio scale. We check that reading against the
    stored CI of the first row that has one (the log estimate is the midpoint of the log CI), so a
    file written otherwise is read right rather than by assumption.
    """
    if not _flag(analysis, "LOG_DATA"):
        return False
    for row in rows:
        effect, low, high = (_number(row, n, "") for n in ("EFFECT_SIZE", "CI_START", "CI_END"))
        if effect is None or low is None or high is None or low <= 0 or high <= 0:
            continue
        midpoint = (math.log(low) + math.log(high)) / 2
        return abs(effect - midpoint) <= abs(math.log(effect) - midpoint) if effect > 0 else True
    return True


def _is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def _analysis(element: Element, comparison_number: int, comparison_name: str) -> Rm5Analysis:
    kind = element.tag.split("_")[0]
    number = f"{comparison_number}.{element.get('NO') or '?'}"
    where = f"Analysis {number}"
    if not _is_number(element.get("NO") or ""):
        raise Rm5FormatError(f"{where}: NO={element.get('NO')!r} is not an analysis number.")
    direct_rows = element.findall(f"{kind}_DATA")
    subgroup_elements = element.findall(f"{kind}_SUBGROUP")
    all_row_elements = [*direct_rows, *[r for s in subgroup_elements for r in s.findall(f"{kind}_DATA")]]
    log_generic = kind == "IV" and _generic_effect_is_log(element, all_row_elements)

    def rows_of(elements: list[Element], at: str) -> tuple[Rm5Row, ...]:
        rows = []
        for item in elements:
            row = _row(item, kind, at)
            if kind == "IV" and _flag(element, "LOG_DATA") and not log_generic:
                # Entered on the ratio scale: the analysis is of its natural log.
                if row.effect <= 0:
                    raise Rm5FormatError(f"{at}, study {row.study_id}: a ratio must be positive.")
                row = Rm5Row(**{**row.__dict__, "effect": math.log(row.effect)})
            rows.append(row)
        return tuple(rows)

    subgroups = []
    for index, sub in enumerate(subgroup_elements, start=1):
        sub_number = f"{number}.{sub.get('NO') or index}"
        subgroups.append(Rm5Subgroup(number=sub_number, name=_text(sub.find("NAME")) or f"Subgroup {index}",
                                     rows=rows_of(sub.findall(f"{kind}_DATA"), f"Subgroup {sub_number}"),
                                     stored=_stored(sub, f"Subgroup {sub_number}")))
    if direct_rows and subgroups:
        raise Rm5FormatError(f"{where}: rows both inside and outside subgroups.")
    rows = rows_of(direct_rows, where) if not subgroups else tuple(r for s in subgroups for r in s.rows)
    ci_study, ci_total = (_number(element, n, where) or 95.0 for n in ("CI_STUDY", "CI_TOTAL"))
    for name, value in (("CI_STUDY", ci_study), ("CI_TOTAL", ci_total)):
        if not 50 <= value < 100:
            raise Rm5FormatError(f"{where}: {name}={value} is not a confidence level in percent.")
    method = (element.get("METHOD") or ("MH" if kind == "DICH" else "IV")).upper()
    if method not in ("MH", "IV", "PETO"):
        raise Rm5FormatError(f"{where}: METHOD={method!r} is not MH, IV or PETO.")
    measure = (element.get("EFFECT_MEASURE") or "").strip()
    if kind == "DICH" and measure not in ("OR", "RR", "RD", "PETO_OR"):
        raise Rm5FormatError(f"{where}: EFFECT_MEASURE={measure!r} is not OR, RR, RD or PETO_OR.")
    if kind == "CONT" and measure not in ("MD", "SMD"):
        raise Rm5FormatError(f"{where}: EFFECT_MEASURE={measure!r} is not MD or SMD.")
    return Rm5Analysis(
        number=number, comparison_number=comparison_number, comparison_name=comparison_name,
        data_type=DATA_TYPES[kind], name=_text(element.find("NAME")) or f"Analysis {number}",
        effect_measure=measure, method=method, random=_flag(element, "RANDOM"),
        ci_study=ci_study, ci_total=ci_total, totals=(element.get("TOTALS") or "YES").upper(),
        swap_events=_flag(element, "SWAP_EVENTS"), log_data=_flag(element, "LOG_DATA"),
        group_label_1=_text(element.find("GROUP_LABEL_1")), group_label_2=_text(element.find("GROUP_LABEL_2")),
        graph_label_1=_text(element.find("GRAPH_LABEL_1")), graph_label_2=_text(element.find("GRAPH_LABEL_2")),
        units=(element.get("UNITS") or "").strip(),
        has_subgroups=_flag(element, "SUBGROUPS") or bool(subgroups),
        rows=rows, subgroups=tuple(subgroups), stored=_stored(element, where),
    )


def _quality_item(item: Element) -> Rm5RiskOfBiasItem:
    """A QUALITY_ITEM with its entries. An outcome-level item names its groups of outcomes in
    QUALITY_ITEM_DATA_ENTRY_GROUP elements (ID, NAME), which each entry's GROUP_ID refers to."""
    name = _text(item.find("NAME")) or f"Item {item.get('NO') or item.get('ID') or '?'}"
    groups = {group.get("ID"): _text(group.find("NAME")) for group in item.iter("QUALITY_ITEM_DATA_ENTRY_GROUP")}
    entries = []
    for entry in item.findall("QUALITY_ITEM_DATA/QUALITY_ITEM_DATA_ENTRY"):
        study_id = entry.get("STUDY_ID") or ""
        if not study_id:
            raise Rm5FormatError(f"Risk-of-bias item {name!r}: an entry has no STUDY_ID.")
        group_id = entry.get("GROUP_ID") or ""
        entries.append(Rm5RiskOfBiasEntry(
            study_id=study_id, result=(entry.get("RESULT") or "").strip().upper(),
            support=_text(entry.find("DESCRIPTION")),
            group=groups.get(group_id) or group_id if group_id else ""))
    return Rm5RiskOfBiasItem(name=name, level=(item.get("LEVEL") or "STUDY").upper(), entries=tuple(entries),
                             description=_text(item.find("DESCRIPTION")))


def rm5_parse(content: bytes) -> Rm5File:
    """Parse the bytes of a .rm5 file; raise :class:`Rm5FormatError` naming what is wrong."""
    if not content.strip():
        raise Rm5FormatError("The file is empty.")
    try:
        root = fromstring(content, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Rm5FormatError("The file declares entities or external references (a DTD or entities), which a "
                             "RevMan file never does; refused for safety.") from None
    except ParseError as error:
        raise Rm5FormatError(f"The file is not well-formed XML ({error}).") from None
    if root.tag != "COCHRANE_REVIEW":
        raise Rm5FormatError(f"This is not a RevMan 5 review: the root element is <{root.tag}>, "
                             f"not <COCHRANE_REVIEW>.")
    studies = tuple(_study(e) for e in root.findall(
        "STUDIES_AND_REFERENCES/STUDIES/INCLUDED_STUDIES/STUDY"))
    seen: set[str] = set()
    for study in studies:
        if study.id in seen:
            raise Rm5FormatError(f"Study id {study.id} appears twice.")
        seen.add(study.id)
    analyses, skipped = [], []
    for comparison in root.findall("ANALYSES_AND_DATA/COMPARISON"):
        raw_number = comparison.get("NO") or ""
        if not _is_number(raw_number):
            raise Rm5FormatError(f"Comparison {comparison.get('ID')!r}: NO={raw_number!r} is not a number.")
        name = _text(comparison.find("NAME")) or f"Comparison {raw_number}"
        for element in comparison:
            if element.tag.endswith("_OUTCOME") and element.tag not in ("DICH_OUTCOME", "CONT_OUTCOME", "IV_OUTCOME"):
                skipped.append(f"Analysis {raw_number}.{element.get('NO') or '?'} "
                               f"({_text(element.find('NAME')) or element.tag}, {element.tag})")
            if element.tag in ("DICH_OUTCOME", "CONT_OUTCOME", "IV_OUTCOME"):
                analyses.append(_analysis(element, int(raw_number), name))
    numbers = [a.number for a in analyses]
    if len(set(numbers)) != len(numbers):
        duplicate = next(n for n in numbers if numbers.count(n) > 1)
        raise Rm5FormatError(f"Analysis number {duplicate} appears twice.")
    characteristics = {}
    for char in root.findall("CHARACTERISTICS_OF_STUDIES/CHARACTERISTICS_OF_INCLUDED_STUDIES/INCLUDED_CHAR"):
        values = {label: _text(char.find(tag)) for tag, label in CHARACTERISTIC_ELEMENTS.items()}
        values = {label: text for label, text in values.items() if text}
        if values and char.get("STUDY_ID") in seen:
            characteristics[char.get("STUDY_ID")] = values
    risk_of_bias = [_quality_item(item) for item in root.iter("QUALITY_ITEM")]
    return Rm5File(
        title=_text(root.find("COVER_SHEET/TITLE")) or "Imported RevMan review",
        revman_version=root.get("REVMAN_SUB_VERSION") or root.get("REVMAN_VERSION") or "",
        studies=studies, analyses=tuple(analyses), characteristics=characteristics,
        risk_of_bias=tuple(risk_of_bias),
        excluded_study_names=tuple((e.get("NAME") or "") for e in root.findall(
            "STUDIES_AND_REFERENCES/STUDIES/EXCLUDED_STUDIES/STUDY")),
        skipped_analyses=tuple(skipped),
    )
