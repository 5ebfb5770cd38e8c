"""RevMan 5 interchange: a .rm5 file into a new review (one transaction), and a review out to .rm5/CSV.

The import maps RevMan's structure onto the review database:

=====================================  =====================================================
RevMan 5                                here
=====================================  =====================================================
included STUDY (NAME, YEAR)            ``Study`` (label, year) with arms "Experimental"/"Control"
REFERENCE (+ IDENTIFIERS)              ``Record`` + ``Report`` (DOI, PubMed id, NCT id kept), each
                                       record marked as carried by the import (``revman_import``)
INCLUDED_CHAR (methods, participants…) text ``CharacteristicField`` values
COMPARISON                             ``OutcomeDomain`` (one per comparison)
DICH/CONT/IV_OUTCOME "1.2"             ``Outcome`` with ``revman_number`` "1.2" and its settings
*_SUBGROUP                             ``OutcomeSubgroup`` of that outcome
DICH_DATA / CONT_DATA                  two ``OutcomeData`` rows (group 1 = intervention arm)
IV_DATA                                ``StudyEstimate`` (effect and SE, log scale for ratios)
QUALITY_ITEM (risk of bias)            the study's consensus RoB 1 assessment, imported from the file
stored results (EFFECT_SIZE, CHI2…)    ``RevManImport.analyses`` (for the parity report)
=====================================  =====================================================

A study that appears twice in one analysis (e.g. two doses against one control, in two subgroups)
gets a second pair of arms, "Experimental (2)" and "Control (2)", so each row keeps its numbers.

The references come with a review that has already screened and included their studies: they are
reports of the previous version's included studies, not search results. So they are never put in
a screening queue, and PRISMA counts them in the box "studies included in previous version of
review" of its flow diagram for updated reviews (``studies.selectors.prisma_counts``).

The risk-of-bias table was judged by the review's authors: it enters as each study's consensus
(``studies.services.risk_of_bias.rob1_consensus_import``), attributed to the file.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from studies.models import (
    Arm,
    RobDomain,
    ArmRole,
    CharacteristicField,
    CharacteristicType,
    DataType,
    Direction,
    EffectMeasure,
    ModelRule,
    Outcome,
    OutcomeData,
    OutcomeDomain,
    OutcomeSubgroup,
    PoolingMethod,
    Record,
    Report,
    Review,
    RevManImport,
    Study,
    StudyCharacteristic,
    StudyEstimate,
    TimePoint,
)
from studies.models.validators import (
    DOI_PATTERN,
    NCT_PATTERN,
    PMID_PATTERN,
    YEAR_MIN,
    year_max,
)
from studies import judgments, rob1
from studies.revman.parse import Rm5Analysis, Rm5File, Rm5FormatError, Rm5Row, rm5_parse
from studies.selectors import values_awaiting_check_count
from studies.services.entities import entities_create, entity_save
from studies.services.reviews import review_create, review_slug
from studies.services.risk_of_bias import Rob1Entry, rob1_consensus_import

__all__ = ["Rm5FormatError", "Rm5ImportResult", "rm5_import"]

EXPERIMENTAL, CONTROL = "Experimental", "Control"
_MEASURES = {"OR": EffectMeasure.OR, "PETO_OR": EffectMeasure.PETO_OR, "RR": EffectMeasure.RR,
             "RD": EffectMeasure.RD, "MD": EffectMeasure.MD, "SMD": EffectMeasure.SMD}


@dataclass(frozen=True)
class Rm5ImportResult:
    """What an import created: the review, its counts and every warning (each names its item)."""

    review: Review
    revman_import: RevManImport
    studies: int
    analyses: int
    warnings: tuple[str, ...]
    rob_studies: int = 0  # studies whose risk of bias came with the file


def arm_labels(occurrence: int) -> tuple[str, str]:
    """Labels of the arm pair for a study's n-th row (1-based) within one analysis."""
    suffix = "" if occurrence == 1 else f" ({occurrence})"
    return EXPERIMENTAL + suffix, CONTROL + suffix


def _unique(name: str, taken: set[str], max_length: int, qualifier: str) -> str:
    """``name`` cut to the field's length, made unique by a qualifier (e.g. the analysis number)."""
    candidate = name[:max_length]
    if candidate in taken:
        candidate = f"{name[:max_length - len(qualifier) - 3]} ({qualifier})"
    counter = 2
    while candidate in taken:
        candidate = f"{name[:max_length - 8]} ({counter})"
        counter += 1
    taken.add(candidate)
    return candidate


def _direction(analysis: Rm5Analysis) -> str:
    """Which way is better, from RevMan's graph labels: the left label (effects below the null)
    names the side that is favoured there, "Favours experimental" by RevMan's default."""
    left, right = analysis.graph_label_1.lower(), analysis.graph_label_2.lower()
    experimental = ("experimental", "intervention", "treatment", analysis.group_label_1.lower() or "\0")
    if any(word in right for word in experimental) and not any(word in left for word in experimental):
        return Direction.HIGHER_IS_BETTER
    return Direction.LOWER_IS_BETTER


def _year(raw: str) -> int | None:
    """The year in RevMan's YEAR or YR text ("1999", "1999a"), if it is one the database accepts."""
    match = re.search(r"(?<!\d)(1[89]\d\d|2\d\d\d)(?!\d)", raw or "")
    if not match:
        return None
    year = int(match.group(1))
    return year if YEAR_MIN <= year <= year_max() else None


def _record(review: Review, revman_import: RevManImport, reference, study_label: str,
            warnings: list[str]) -> Record:
    identifiers = reference.identifiers
    doi = identifiers.get("DOI", "")
    pmid = identifiers.get("PUBMED", "") or identifiers.get("MEDLINE", "")
    nct = identifiers.get("CT_GOV", "") or identifiers.get("CLINICALTRIALS_GOV", "")
    checked = {}
    for field, value, pattern in (("doi", doi, DOI_PATTERN), ("pmid", pmid, PMID_PATTERN),
                                  ("nct_id", nct, NCT_PATTERN)):
        if value and not pattern.fullmatch(value):
            warnings.append(f"Study {study_label}: reference identifier {value!r} is not a valid "
                            f"{field.upper()}; left out.")
            value = ""
        checked[field] = value
    authors = [author.strip() for author in reference.authors.split(",") if author.strip()]
    raw = "\n".join(f"{key}: {value}" for key, value in (
        ("AU", reference.authors), ("TI", reference.title), ("SO", reference.source), ("YR", reference.year),
        ("VL", reference.volume), ("NO", reference.issue), ("PG", reference.pages)) if value)
    return Record(review=review, revman_import=revman_import, title=reference.title, authors=authors, year=_year(reference.year),
                  journal=reference.source, volume=reference.volume, issue=reference.issue,
                  pages=reference.pages, raw_entry=raw, **checked)


def _usable(row: Rm5Row, analysis: Rm5Analysis) -> str | None:
    """Why a row cannot be stored (RevMan shows it as "Not estimable"), or ``None``."""
    if analysis.data_type == DataType.GENERIC:
        return None if row.se > 0 else "SE is 0"
    needed = (("events_1", "total_1", "events_2", "total_2") if analysis.data_type == DataType.DICHOTOMOUS
              else ("mean_1", "sd_1", "total_1", "mean_2", "sd_2", "total_2"))
    if any(getattr(row, name) is None for name in needed):
        return "some of its numbers are empty"
    if not row.total_1 or not row.total_2:
        return "a group total is 0 (no data entered)"
    if analysis.data_type == DataType.CONTINUOUS and (row.sd_1 <= 0 or row.sd_2 <= 0):
        return "an SD is 0"
    return None


def _analysis_warnings(analysis: Rm5Analysis) -> list[str]:
    where = f"Analysis {analysis.number} ({analysis.name})"
    warnings = []
    if analysis.method == "PETO" and analysis.random:
        warnings.append(f"{where}: RANDOM=YES with the Peto method, which is fixed-effect only; analysed with the "
                        f"fixed-effect model.")
    if analysis.data_type == DataType.CONTINUOUS and analysis.effect_measure == "SMD" and analysis.method != "IV":
        warnings.append(f"{where}: METHOD={analysis.method} for SMD; analysed by inverse variance.")
    return warnings


@transaction.atomic
def rm5_import(*, content: bytes, file_name: str, slug: str | None = None, title: str | None = None,
               created_by: AbstractBaseUser | None = None) -> Rm5ImportResult:
    """Create a new review from a RevMan 5 file, in one transaction.

    Raises :class:`Rm5FormatError` for a file that is not a readable RevMan 5 review and
    ``ValidationError`` for a slug already in use or a value the database refuses; nothing is
    written then.
    """
    parsed: Rm5File = rm5_parse(content)
    # The review's address, made from its title when not given.
    slug = slug or review_slug(title or parsed.title)
    if Review.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A review with the slug {slug!r} already exists; an import creates a new "
                                       f"review."})
    warnings: list[str] = []
    review = review_create(title=(title or parsed.title)[:300], slug=slug, created_by=created_by)
    # First, so the records can name the import that carried them; its warnings and RevMan's stored
    # results are filled in at the end.
    revman_import = entity_save(instance=RevManImport(
        review=review, file_name=file_name[:255], sha256=hashlib.sha256(content).hexdigest(),
        revman_version=parsed.revman_version[:20], imported_by=created_by))
    time_point = TimePoint.objects.get(review=review, is_analysis_default=True)

    # Studies, with as many arm pairs as their most repeated appearance in one analysis needs.
    labels: set[str] = set()
    studies: dict[str, Study] = {}
    for item in parsed.studies:
        label = _unique(item.name, labels, 100, item.year or item.id)
        if label != item.name:
            warnings.append(f"Study {item.name!r} ({item.id}): label changed to {label!r} (labels are unique "
                            f"and at most 100 characters).")
        year = _year(item.year)
        studies[item.id] = Study(review=review, label=label, year=year, revman_import=revman_import)
    entities_create(instances=list(studies.values()))
    pairs_needed: dict[str, int] = defaultdict(lambda: 1)
    for analysis in parsed.analyses:
        for study_id, count in Counter(row.study_id for row in analysis.rows).items():
            if study_id in studies:
                pairs_needed[study_id] = max(pairs_needed[study_id], count)
    arms: dict[tuple[str, str], Arm] = {}
    for study_id, study in studies.items():
        for occurrence in range(1, pairs_needed[study_id] + 1):
            for label, role in zip(arm_labels(occurrence), (ArmRole.INTERVENTION, ArmRole.CONTROL), strict=True):
                arms[(study_id, label)] = Arm(study=study, role=role, label=label)
    entities_create(instances=list(arms.values()))

    # References and identifiers: one record per reference, reported as the study's reports.
    records, report_of = [], []
    for item in parsed.studies:
        study = studies[item.id]
        has_primary = False
        for reference in item.references:
            if not (reference.title or reference.authors or reference.source or reference.identifiers):
                continue
            records.append(_record(review, revman_import, reference, study.label, warnings))
            primary = reference.primary and not has_primary
            has_primary = has_primary or primary
            report_of.append((study, primary))
        if item.identifiers:
            known = ", ".join(f"{key} {value}" for key, value in item.identifiers.items())
            study.notes = f"RevMan study identifiers: {known}"
            entity_save(instance=study)
    entities_create(instances=records)
    entities_create(instances=[Report(study=study, record=record, is_primary=primary)
                               for record, (study, primary) in zip(records, report_of, strict=True)])

    _characteristics_import(review, parsed, studies, warnings)

    # Comparisons → domains; analyses → outcomes with their settings, subgroups and rows.
    domain_names: set[str] = set()
    domains: dict[int, OutcomeDomain] = {}
    for analysis in parsed.analyses:
        if analysis.comparison_number not in domains:
            name = _unique(analysis.comparison_name, domain_names, 100, str(analysis.comparison_number))
            domains[analysis.comparison_number] = entity_save(
                instance=OutcomeDomain(review=review, name=name, order=analysis.comparison_number))
    outcome_names: set[str] = set()
    stored: dict[str, dict] = {}
    for order, analysis in enumerate(parsed.analyses):
        warnings += _analysis_warnings(analysis)
        outcome = entity_save(instance=_outcome(review, analysis, domains[analysis.comparison_number],
                                                _unique(analysis.name, outcome_names, 200, analysis.number), order))
        subgroup_names: set[str] = set()
        subgroups = entities_create(instances=[
            OutcomeSubgroup(outcome=outcome, name=_unique(s.name, subgroup_names, 200, s.number), order=index)
            for index, s in enumerate(analysis.subgroups)
        ]) if analysis.subgroups else []
        subgroup_of_row = analysis.subgroup_of_row
        occurrences: Counter[str] = Counter()
        arm_rows, estimates, keyed = [], [], []
        for index, row in enumerate(analysis.rows):
            if row.study_id not in studies:
                # RevMan keeps the data of a study moved out of the included studies; it is not one here.
                warnings.append(f"Analysis {analysis.number}: a row of study {row.study_id}, which is not among "
                                f"the included studies, not imported.")
                continue
            occurrences[row.study_id] += 1
            study = studies[row.study_id]
            reason = _usable(row, analysis)
            if reason:
                warnings.append(f"Analysis {analysis.number}, study {study.label}: not imported, {reason} "
                                f"(RevMan shows it as not estimable).")
                continue
            subgroup = subgroups[subgroup_of_row[index]] if subgroups else None
            if analysis.data_type == DataType.GENERIC:
                estimates.append(StudyEstimate(
                    study=study, outcome=outcome, time_point=time_point, subgroup=subgroup, estimate=row.effect,
                    se=row.se, n_intervention=row.total_1 or None, n_control=row.total_2 or None, order=row.order))
                keyed.append((row, len(estimates) - 1))
                continue
            label_1, label_2 = arm_labels(occurrences[row.study_id])
            for arm_label, arm_index in ((label_1, 1), (label_2, 2)):
                values = ({"events": getattr(row, f"events_{arm_index}"), "total": getattr(row, f"total_{arm_index}")}
                          if analysis.data_type == DataType.DICHOTOMOUS else
                          {"n": getattr(row, f"total_{arm_index}"), "mean": getattr(row, f"mean_{arm_index}"),
                           "sd": getattr(row, f"sd_{arm_index}")})
                arm_rows.append(OutcomeData(study=study, outcome=outcome, time_point=time_point,
                                            arm=arms[(row.study_id, arm_label)], subgroup=subgroup,
                                            source_location=f"RevMan analysis {analysis.number}", **values))
            keyed.append((row, len(arm_rows) - 2))
        created = entities_create(instances=estimates if analysis.data_type == DataType.GENERIC else arm_rows)
        stored[analysis.number] = _stored_results(analysis, [(row, created[i].pk, created[i].study.label)
                                                             for row, i in keyed])
    rob_studies = _risk_of_bias_import(parsed, studies, f"RevMan file {file_name}"[:300], created_by, warnings)
    for skipped in parsed.skipped_analyses:
        warnings.append(f"{skipped}: not imported (only dichotomous, continuous and generic inverse-variance "
                        f"analyses can be analysed here).")
    if parsed.excluded_study_names:
        warnings.append(f"Excluded studies: {len(parsed.excluded_study_names)} not imported (only included "
                        f"studies are).")
    held = values_awaiting_check_count(review=review)
    if held:
        # The plausibility rules apply to imported numbers like any others (issue 20): a flagged value
        # waits for a second team member; the parity report compares the file's numbers regardless.
        warnings.append(f"{held} imported value{'s' if held != 1 else ''} held awaiting check by the plausibility "
                        f"rules: the living analysis leaves {'them' if held != 1 else 'it'} out until a second "
                        f"team member confirms (Extraction › values awaiting check).")
    revman_import.warnings, revman_import.analyses = warnings, stored
    entity_save(instance=revman_import)
    return Rm5ImportResult(review=review, revman_import=revman_import, studies=len(studies),
                           analyses=len(parsed.analyses), warnings=tuple(warnings), rob_studies=rob_studies)


def _outcome(review: Review, analysis: Rm5Analysis, domain: OutcomeDomain, name: str, order: int) -> Outcome:
    generic = analysis.data_type == DataType.GENERIC
    measure = EffectMeasure.GENERIC if generic else _MEASURES[analysis.effect_measure]
    peto = analysis.data_type == DataType.DICHOTOMOUS and (analysis.method == "PETO" or analysis.effect_measure == "PETO_OR")
    if peto:
        measure, method = EffectMeasure.PETO_OR, PoolingMethod.PETO
    elif generic or analysis.method == "IV" or analysis.data_type == DataType.CONTINUOUS:
        method = PoolingMethod.IV
    else:
        method = PoolingMethod.MH
    return Outcome(
        review=review, domain=domain, name=name, data_type=analysis.data_type, effect_measure=measure,
        direction=_direction(analysis), order=order, revman_number=analysis.number, pooling_method=method,
        model_rule=ModelRule.RANDOM if analysis.random and not peto else ModelRule.FIXED,
        confidence_level=analysis.ci_total / 100, study_confidence_level=analysis.ci_study / 100,
        swap_events=analysis.swap_events, totals=analysis.totals,
        generic_measure=analysis.effect_measure[:100] if generic else "",
        log_scale=generic and analysis.log_data,
    )


def _stored_results(analysis: Rm5Analysis, rows: list[tuple[Rm5Row, int, str]]) -> dict:
    """RevMan's stored results of one analysis, with each row keyed by its imported data row."""
    return {
        "name": analysis.name,
        "method": analysis.method,
        "effect_measure": analysis.effect_measure,
        "random": analysis.random,
        "ci_study": analysis.ci_study,
        "group_labels": [analysis.group_label_1, analysis.group_label_2],
        "graph_labels": [analysis.graph_label_1, analysis.graph_label_2],
        "units": analysis.units,
        "stored": analysis.stored,
        "subgroups": [{"number": s.number, "name": s.name, "stored": s.stored} for s in analysis.subgroups],
        "rows": [{"key": key, "study": label, "weight": row.stored_weight, "effect": row.stored_effect,
                  "ci_start": row.stored_ci_start, "ci_end": row.stored_ci_end}
                 for row, key, label in rows],
    }


def _characteristics_import(review: Review, parsed: Rm5File, studies: dict[str, Study], warnings: list[str]) -> None:
    """RevMan's characteristics of included studies as text characteristics (500 characters each;
    a longer text is cut there and kept whole in the study's notes)."""
    used = [label for label in ("Methods", "Participants", "Interventions", "Outcomes", "Notes")
            if any(label in values for values in parsed.characteristics.values())]
    if not used:
        return
    fields = {label: entity_save(instance=CharacteristicField(review=review, name=label, order=index,
                                                               data_type=CharacteristicType.TEXT))
              for index, label in enumerate(used)}
    values = []
    for study_id, texts in parsed.characteristics.items():
        study = studies[study_id]
        for label, text in texts.items():
            if len(text) > 500:
                warnings.append(f"Study {study.label}: characteristic {label!r} is {len(text)} characters; the "
                                f"first 500 are the characteristic, the whole text is in the study's notes.")
                study.notes = f"{study.notes}\n\n{label}: {text}".strip()
                entity_save(instance=study)
            values.append(StudyCharacteristic(study=study, field=fields[label], value_text=text[:500]))
    entities_create(instances=values)


# RevMan's items are questions ("Adequate sequence generation?"): YES is low risk of bias, NO high,
# UNKNOWN unclear (RevMan 5 User Guide, risk of bias tables); some tools write the judgment itself.
_ROB_RESULTS = {"YES": judgments.LOW, "LOW": judgments.LOW, "NO": judgments.HIGH, "HIGH": judgments.HIGH,
                "UNKNOWN": judgments.UNCLEAR, "UNCLEAR": judgments.UNCLEAR}
_ROB_SEVERITY = {judgments.LOW: 0, judgments.UNCLEAR: 1, judgments.HIGH: 2}


def _risk_of_bias_import(parsed: Rm5File, studies: dict[str, Study], imported_from: str,
                         imported_by: AbstractBaseUser | None, warnings: list[str]) -> int:
    """Each study's RevMan risk-of-bias judgments as its consensus RoB 1 assessment; the number of
    studies that had any.

    RoB 1 here is judged per study and domain. Where the file holds several judgments of one domain
    for a study (an outcome-level item judged per group of outcomes, or two items of one domain), the
    study's judgment is the most severe of them, as a study's risk of bias in a domain is that of its
    most biased result (Cochrane Handbook 5.1, section 8.7), and each judgment with its group stays in
    the support; a warning names every such study where they differ. An item that is no domain of
    the tool is imported under "Other bias", the tool's domain for other sources of bias.
    """
    found: dict[str, dict[str, list[tuple[str, str, str]]]] = defaultdict(lambda: defaultdict(list))
    labelled: set[str] = set()  # domains whose support names the item each judgment came from
    not_included = unreadable = 0
    for item in parsed.risk_of_bias:
        if not item.entries:
            continue
        domains = rob1.revman_item_domains(item.name)
        if not domains:
            domains = (RobDomain.OTHER.value,)
            labelled.add(RobDomain.OTHER.value)
            warnings.append(f"Risk of bias: item {item.name!r} is not a domain of the Cochrane RoB 1 tool; its "
                            f"judgments are imported under 'Other bias'.")
        elif len(domains) > 1:
            warnings.append(f"Risk of bias: item {item.name!r} judges blinding as one domain (the 2008 tool); its "
                            f"judgments are imported for both blinding domains.")
        for entry in item.entries:
            if entry.study_id not in studies:
                not_included += 1
                continue
            judgment = _ROB_RESULTS.get(entry.result)
            if judgment is None:
                if entry.result:
                    unreadable += 1
                    warnings.append(f"Risk of bias: item {item.name!r}, study {studies[entry.study_id].label}: "
                                    f"RESULT={entry.result!r} is not YES, NO or UNKNOWN; not imported.")
                continue
            source = f"{item.name} ({entry.group})" if entry.group else item.name
            for domain in domains:
                found[entry.study_id][domain].append((judgment, source, entry.support))
    if not_included:
        warnings.append(f"Risk of bias: {not_included} judgment{'s' if not_included != 1 else ''} of studies not "
                        f"among the included studies not imported.")
    for study_id, by_domain in found.items():
        study = studies[study_id]
        entry_judgments, support = {}, {}
        for domain, values in by_domain.items():
            worst = max((judgment for judgment, _, _ in values), key=_ROB_SEVERITY.__getitem__)
            entry_judgments[domain] = worst
            if len(values) == 1 and domain not in labelled:
                support[domain] = values[0][2]
                continue
            support[domain] = "\n".join(f"{source}: {judgments.LABELS[judgment]}. {text}".strip()
                                        for judgment, source, text in values)
            if len({judgment for judgment, _, _ in values}) > 1:
                said = "; ".join(f"{source}: {judgments.LABELS[judgment].lower()}" for judgment, source, _ in values)
                warnings.append(f"Risk of bias: study {study.label}, {RobDomain(domain).label}: judged differently "
                                f"in the file ({said}); here the study's judgment is the most severe, "
                                f"{judgments.LABELS[worst].lower()}.")
        rob1_consensus_import(study=study, entry=Rob1Entry(judgments=entry_judgments, support=support),
                              imported_from=imported_from, imported_by=imported_by)
    return len(found)
