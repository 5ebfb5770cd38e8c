"""A review out to RevMan 5 (.rm5) and to a study-data CSV (RevMan Web / Covidence style).

The .rm5 follows the layout RevMan 5.4 writes: ``COCHRANE_REVIEW`` with ``COVER_SHEET``,
``MAIN_TEXT``, ``STUDIES_AND_REFERENCES``, ``CHARACTERISTICS_OF_STUDIES``, ``QUALITY_ITEMS``,
``ANALYSES_AND_DATA`` in that order, the empty sections RevMan expects present, and every analysis
with its settings, its rows and the results we computed with those settings stored where RevMan
stores its own (``CALCULATED_DATA="YES"``), so a re-import checks parity against our own numbers.
"""
from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from analysis.revman.analyse import (
    OutcomeAnalysis,
    outcome_analyse,
    reported_model_is_random,
)
from analysis.revman.parity import _is_ratio
from studies.models import DataType, Judgment, Outcome, Review, RiskOfBiasJudgment, RobDomain, StudyCharacteristic

REVMAN_SUB_VERSION = "5.4.1"
_EMPTY_MAIN_TEXT = {
    "SUMMARY": ["TITLE", "SUMMARY_BODY"],
    "ABSTRACT": ["ABS_BACKGROUND", "ABS_OBJECTIVES", "ABS_SEARCH_STRATEGY", "ABS_SELECTION_CRITERIA",
                 "ABS_DATA_COLLECTION", "ABS_RESULTS", "ABS_CONCLUSIONS"],
    "BODY": ["BACKGROUND", "OBJECTIVES", "METHODS", "RESULTS", "DISCUSSION", "CONCLUSIONS"],
}


def study_id(label: str) -> str:
    """RevMan's study id for a label: ``STD-`` and the label with every character other than a
    letter, digit or underscore written as ``_xHHHH_`` (as RevMan writes "ISIS-2": ISIS_x002d_2)."""
    return "STD-" + "".join(c if c.isascii() and (c.isalnum() or c == "_") else f"_x{ord(c):04x}_" for c in label)


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def _set(element: Element, **attributes: object) -> None:
    for name, value in attributes.items():
        element.set(name, value if isinstance(value, str) else _number(value))


def _text_child(parent: Element, tag: str, text: str) -> Element:
    child = SubElement(parent, tag)
    child.text = text
    return child


def _revman_numbers(review: Review) -> dict[int, tuple[int, int]]:
    """(comparison, analysis) number of every outcome: its RevMan number when imported, else by
    domain and order."""
    numbers: dict[int, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    outcomes = list(review.outcomes.select_related("domain").order_by("domain__order", "order", "name"))
    for outcome in outcomes:
        parts = outcome.revman_number.split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            numbers[outcome.pk] = (int(parts[0]), int(parts[1]))
            taken.add(numbers[outcome.pk])
    domain_numbers: dict[int, int] = {}
    for outcome in outcomes:
        if outcome.pk in numbers:
            domain_numbers.setdefault(outcome.domain_id, numbers[outcome.pk][0])
    next_comparison = max([c for c, _ in taken] + list(domain_numbers.values()) + [0]) + 1
    for outcome in outcomes:
        if outcome.pk in numbers:
            continue
        if outcome.domain_id not in domain_numbers:
            domain_numbers[outcome.domain_id] = next_comparison
            next_comparison += 1
        comparison = domain_numbers[outcome.domain_id]
        analysis = 1
        while (comparison, analysis) in taken:
            analysis += 1
        numbers[outcome.pk] = (comparison, analysis)
        taken.add((comparison, analysis))
    return numbers


def _results(element: Element, pooled, random: bool, ratio: bool) -> None:
    estimate = pooled.random if random else pooled.fixed
    scale = math.exp if ratio else (lambda x: x)
    het = pooled.heterogeneity
    _set(element, EFFECT_SIZE=scale(estimate.estimate), CI_START=scale(estimate.ci_low),
         CI_END=scale(estimate.ci_high), Z=abs(estimate.statistic), P_Z=estimate.p, CHI2=het.q, DF=het.df,
         P_CHI2=het.p, I2=het.i2, TAU2=het.tau2 if random else 0.0)


def _analysis_element(parent: Element, analysis: OutcomeAnalysis, number: int, stored: dict,
                      subgroup_names: dict[int, str]) -> None:
    outcome = analysis.outcome
    kind = {DataType.DICHOTOMOUS: "DICH", DataType.CONTINUOUS: "CONT", DataType.GENERIC: "IV"}[outcome.data_type]
    element = SubElement(parent, f"{kind}_OUTCOME")
    options, result = analysis.options, analysis.result
    random, ratio = reported_model_is_random(analysis), _is_ratio(outcome)
    level = round(options.level * 100, 6)
    study_level = round((options.study_level or options.level) * 100, 6)
    measure = (outcome.generic_measure or "Generic") if kind == "IV" else outcome.effect_measure
    if measure == "SMD_EXACT":
        measure = "SMD"
    # METHOD is the engine's own code, RevMan's too: IV, MH or PETO (with EFFECT_MEASURE="PETO_OR").
    _set(element, CI_STUDY=f"{study_level:g}", CI_TOTAL=f"{level:g}", EFFECT_MEASURE=measure,
         ID=f"CMP-{parent.get('NO').zfill(3)}.{number:02d}", METHOD=options.method.value, NO=str(number),
         RANDOM="YES" if random else "NO", SCALE="100.0", SORT_BY="STUDY",
         STUDIES=str(len(analysis.rows)), SUBGROUPS="YES" if analysis.subgroup_ids else "NO",
         SUBGROUP_TEST="YES", TOTALS=outcome.totals)
    if kind == "DICH":
        _set(element, SWAP_EVENTS="YES" if outcome.swap_events else "NO")
    if kind == "IV":
        _set(element, LOG_DATA="YES" if outcome.log_scale else "NO")
    if kind != "DICH":
        _set(element, UNITS=stored.get("units", ""))
    rows, studies = analysis.rows, result.studies if result else ()
    weights = [(s.weight_random if random else s.weight_fixed) for s in studies]
    total_weight = sum(w for w in weights if math.isfinite(w))
    if result is not None and result.overall.k > 0:
        _results(element, result.overall, random, ratio)
        test = result.subgroup_test_random if random else result.subgroup_test_fixed
        if test is not None:
            _set(element, Q=test.q, P_Q=test.p, I2_Q=test.i2)
    _set(element, TOTAL_1=sum(int(r.values.get("total_1") or 0) for r in rows),
         TOTAL_2=sum(int(r.values.get("total_2") or 0) for r in rows), WEIGHT=100.0 if rows else 0.0)
    group_labels = stored.get("group_labels") or ["Experimental", "Control"]
    graph_labels = stored.get("graph_labels") or (
        ["Favours experimental", "Favours control"] if outcome.direction == "lower_is_better"
        else ["Favours control", "Favours experimental"])
    _text_child(element, "NAME", outcome.name)
    _text_child(element, "GROUP_LABEL_1", group_labels[0] or "Experimental")
    _text_child(element, "GROUP_LABEL_2", group_labels[1] or "Control")
    _text_child(element, "GRAPH_LABEL_1", graph_labels[0] or "Favours experimental")
    _text_child(element, "GRAPH_LABEL_2", graph_labels[1] or "Favours control")

    def add_rows(container: Element, indexes: list[int]) -> None:
        for index in indexes:
            row, study = rows[index], studies[index]
            data = SubElement(container, f"{kind}_DATA")
            values = row.values
            if kind == "DICH":
                events_1, events_2 = values["events_1"], values["events_2"]
                if outcome.swap_events:  # stored as entered; the analysis swaps them back
                    events_1, events_2 = values["total_1"] - events_1, values["total_2"] - events_2
                _set(data, EVENTS_1=events_1, EVENTS_2=events_2)
            elif kind == "CONT":
                _set(data, MEAN_1=values["mean_1"], SD_1=values["sd_1"], MEAN_2=values["mean_2"], SD_2=values["sd_2"])
            scale = math.exp if ratio else (lambda x: x)
            effect, low, high = ((scale(study.effect), scale(study.ci_low), scale(study.ci_high))
                                 if study.estimable else (None, None, None))
            if kind == "IV":
                _set(data, EFFECT_SIZE=values["effect"], SE=values["se"], CI_START=low, CI_END=high)
            else:
                _set(data, EFFECT_SIZE=effect, CI_START=low, CI_END=high, SE=study.se if study.estimable else None)
            weight = weights[index] * 100 / total_weight if total_weight and math.isfinite(weights[index]) else 0.0
            _set(data, ESTIMABLE="YES" if study.estimable else "NO", ORDER=index + 1,
                 STUDY_ID=study_id(row.study_label), WEIGHT=weight)
            if values.get("total_1"):
                _set(data, TOTAL_1=int(values["total_1"]))
            if values.get("total_2"):
                _set(data, TOTAL_2=int(values["total_2"]))

    if analysis.subgroup_ids and result is not None:
        by_index = {sub.subgroup: sub for sub in result.subgroups}
        for position, subgroup_id in enumerate(analysis.subgroup_ids):
            members = [i for i, r in enumerate(rows) if r.subgroup_id == subgroup_id]
            sub = SubElement(element, f"{kind}_SUBGROUP")
            _set(sub, ID=f"{element.get('ID')}.{position + 1:02d}", NO=str(position + 1), STUDIES=str(len(members)))
            if position in by_index and by_index[position].pooled.k > 0:
                _results(sub, by_index[position].pooled, random, ratio)
            _text_child(sub, "NAME", subgroup_names[subgroup_id])
            add_rows(sub, members)
    else:
        add_rows(element, list(range(len(rows))))


def rm5_export(review: Review) -> bytes:
    """The review as a RevMan 5 file (UTF-8)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
    root = Element("COCHRANE_REVIEW")
    _set(root, DESCRIPTION="", DOI="", GROUP_ID="", ID=str(review.pk), MERGED_FROM="", MODIFIED=now,
         MODIFIED_BY="", REVIEW_NO="", REVMAN_SUB_VERSION=REVMAN_SUB_VERSION, REVMAN_VERSION="5", SPLIT_FROM="",
         STAGE="R", STATUS="A", TYPE="INTERVENTION", VERSION_NO="1.0")
    cover = SubElement(root, "COVER_SHEET")
    _text_child(cover, "TITLE", review.title)
    for tag in ("CONTACT", "CREATORS", "DATES", "WHATS_NEW", "HISTORY", "SOURCES_OF_SUPPORT"):
        SubElement(cover, tag)
    _set(SubElement(cover, "MESH_TERMS"), VERIFIED="NO")
    SubElement(cover, "KEYWORDS")
    main = SubElement(root, "MAIN_TEXT")
    for section, children in _EMPTY_MAIN_TEXT.items():
        element = SubElement(main, section)
        for child in children:
            SubElement(element, child)
    for tag in ("ACKNOWLEDGEMENTS", "CONFLICT_OF_INTEREST", "CONTRIBUTIONS", "PRO_REV_DIFF", "PUBLIC_NOTES"):
        SubElement(main, tag)

    studies = list(review.studies.filter(is_included=True).prefetch_related("reports__record").order_by("label"))
    refs = SubElement(root, "STUDIES_AND_REFERENCES")
    study_list = SubElement(refs, "STUDIES")
    included = SubElement(study_list, "INCLUDED_STUDIES")
    for study in studies:
        element = SubElement(included, "STUDY")
        _set(element, DATA_SOURCE="PUB", ID=study_id(study.label), NAME=study.label,
             YEAR=str(study.year) if study.year else "")
        for report in study.reports.all():
            record = report.record
            reference = SubElement(element, "REFERENCE")
            _set(reference, PRIMARY="YES" if report.is_primary else "NO", TYPE="JOURNAL_ARTICLE")
            for tag, value in (("AU", ", ".join(record.authors)), ("TI", record.title), ("SO", record.journal),
                               ("YR", str(record.year or "")), ("VL", record.volume), ("NO", record.issue),
                               ("PG", record.pages)):
                _text_child(reference, tag, value)
            identifiers = SubElement(reference, "IDENTIFIERS")
            for kind, value in (("DOI", record.doi), ("PUBMED", record.pmid), ("CT_GOV", record.nct_id)):
                if value:
                    _set(SubElement(identifiers, "IDENTIFIER"), TYPE=kind, VALUE=value)
        SubElement(element, "IDENTIFIERS")
    for tag in ("EXCLUDED_STUDIES", "AWAITING_STUDIES", "ONGOING_STUDIES"):
        SubElement(study_list, tag)
    others = SubElement(refs, "OTHER_REFERENCES")
    SubElement(others, "ADDITIONAL_REFERENCES")
    SubElement(others, "OTHER_VERSIONS_REFERENCES")

    characteristics = SubElement(root, "CHARACTERISTICS_OF_STUDIES")
    included_chars = SubElement(characteristics, "CHARACTERISTICS_OF_INCLUDED_STUDIES")
    _set(included_chars, SORT_BY="STUDY")
    tags = {"Methods": "CHAR_METHODS", "Participants": "CHAR_PARTICIPANTS", "Interventions": "CHAR_INTERVENTIONS",
            "Outcomes": "CHAR_OUTCOMES", "Notes": "CHAR_NOTES"}
    values = {(c.study_id, c.field.name): c.value_text for c in StudyCharacteristic.objects.filter(
        study__review=review, field__name__in=tags).select_related("field")}
    for study in studies:
        char = SubElement(included_chars, "INCLUDED_CHAR")
        _set(char, STUDY_ID=study_id(study.label))
        for label, tag in tags.items():
            paragraph_parent = SubElement(char, tag)
            text = values.get((study.pk, label))
            if text:
                _text_child(paragraph_parent, "P", text)
    for tag in ("CHARACTERISTICS_OF_EXCLUDED_STUDIES", "CHARACTERISTICS_OF_AWAITING_STUDIES",
                "CHARACTERISTICS_OF_ONGOING_STUDIES"):
        _set(SubElement(characteristics, tag), SORT_BY="STUDY")
    _quality_items(SubElement(root, "QUALITY_ITEMS"), review)
    SubElement(root, "SOF_TABLES")
    SubElement(root, "ADDITIONAL_TABLES")

    analyses = SubElement(root, "ANALYSES_AND_DATA")
    _set(analyses, CALCULATED_DATA="YES")
    stored = getattr(getattr(review, "revman_import", None), "analyses", None) or {}
    numbers = _revman_numbers(review)
    outcomes = sorted(review.outcomes.select_related("domain"), key=lambda o: numbers[o.pk])
    comparisons: dict[int, Element] = {}
    for outcome in outcomes:
        comparison_number, analysis_number = numbers[outcome.pk]
        if comparison_number not in comparisons:
            comparison = SubElement(analyses, "COMPARISON")
            _set(comparison, ID=f"CMP-{comparison_number:03d}", NO=str(comparison_number))
            _text_child(comparison, "NAME", outcome.domain.name)
            comparisons[comparison_number] = comparison
        names = dict(outcome.subgroups.values_list("pk", "name"))
        _analysis_element(comparisons[comparison_number], outcome_analyse(review, outcome), analysis_number,
                          stored.get(f"{comparison_number}.{analysis_number}", {}), names)
    for tag in ("FIGURES", "FEEDBACK", "APPENDICES", "EXTENSIONS"):
        SubElement(root, tag)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + tostring(root, encoding="utf-8",
                                                                                   xml_declaration=False)


# RevMan's words for RoB 1 judgments: its items are questions, YES is low risk of bias (the reading
# ``studies.services.revman`` imports).
_ROB_RESULTS = {Judgment.LOW: "YES", Judgment.HIGH: "NO", Judgment.UNCLEAR: "UNKNOWN"}


def _quality_items(parent: Element, review: Review) -> None:
    """The review's consensus RoB 1 judgments as RevMan's risk-of-bias table: one QUALITY_ITEM per
    domain, named as RevMan 5.1+ names it, with each judged study's RESULT and support.

    Every item is written at study level, as judgments are stored here (RevMan's own template puts
    the blinding and incomplete-data items at outcome level, one group "All outcomes"; a study-level
    item is one RevMan accepts, and it is what was judged). Only the consensus, the assessment that
    feeds the analyses, is exported; nothing is written when no study has one.
    """
    rows = (RiskOfBiasJudgment.objects.filter(assessment__study__review=review, assessment__is_consensus=True,
                                              assessment__study__is_included=True)
            .select_related("assessment__study").order_by("assessment__study__label"))
    by_domain: dict[str, list[RiskOfBiasJudgment]] = {}
    for row in rows:
        by_domain.setdefault(row.domain, []).append(row)
    if not by_domain:
        return
    for number, domain in enumerate(RobDomain, start=1):
        item = SubElement(parent, "QUALITY_ITEM")
        _set(item, CORE_ITEM="YES", ID=f"QIT-{number:02d}", LEVEL="STUDY", NO=str(number))
        _text_child(item, "NAME", domain.label)
        SubElement(item, "DESCRIPTION")
        data = SubElement(item, "QUALITY_ITEM_DATA")
        for row in by_domain.get(domain.value, []):
            entry = SubElement(data, "QUALITY_ITEM_DATA_ENTRY")
            _set(entry, RESULT=_ROB_RESULTS[row.judgment], STUDY_ID=study_id(row.assessment.study.label))
            description = SubElement(entry, "DESCRIPTION")
            if row.support:
                _text_child(description, "P", row.support)


CSV_COLUMNS = ["Comparison", "Outcome", "Analysis number", "Data type", "Effect measure", "Subgroup", "Study",
               "Year", "Experimental events", "Experimental N", "Experimental mean", "Experimental SD",
               "Control events", "Control N", "Control mean", "Control SD", "Estimate", "SE"]


def study_data_csv(review: Review) -> str:
    """Every analysed row of every outcome, one line each, in RevMan Web's study-data layout
    (group 1 = experimental): comparison, outcome, subgroup, study, the arm numbers or the
    estimate and SE."""
    numbers = _revman_numbers(review)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    outcomes: list[Outcome] = sorted(review.outcomes.select_related("domain"), key=lambda o: numbers[o.pk])
    for outcome in outcomes:
        analysis = outcome_analyse(review, outcome)
        names = dict(outcome.subgroups.values_list("pk", "name"))
        for row in analysis.rows:
            v = row.values
            events_1, events_2 = v.get("events_1"), v.get("events_2")
            if outcome.swap_events and events_1 is not None:
                events_1, events_2 = v["total_1"] - events_1, v["total_2"] - events_2
            writer.writerow([
                outcome.domain.name, outcome.name, "{}.{}".format(*numbers[outcome.pk]), outcome.data_type,
                outcome.generic_measure or outcome.effect_measure, names.get(row.subgroup_id, ""), row.study_label,
                row.study_year or "", _number(events_1), _number(v.get("total_1") or None), _number(v.get("mean_1")),
                _number(v.get("sd_1")), _number(events_2), _number(v.get("total_2") or None),
                _number(v.get("mean_2")), _number(v.get("sd_2")), _number(v.get("effect")), _number(v.get("se")),
            ])
    return buffer.getvalue()
