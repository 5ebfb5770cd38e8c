"""Writes of a study's extraction form: characteristics, arms, the outcome-data grid and the study
estimates of generic inverse-variance outcomes.

One form holds a whole study, as a flat mapping of form-field names to the text typed
(``char_<field>``, ``arm_<arm>_label``, ``arm_<arm>_randomised``, ``cell_<outcome>_<time>_<arm>_<attr>``,
``est_<outcome>_<time>_<subgroup or 0>_<attr>``),
so the same shape serves the page, an extractor's blinded entry (dual extraction), the cell-by-cell
comparison and the "what changed" of a refused save.

- **Conversions** run on the server, from ``analysis.engine.conversions``: a cell's ``derivation``
  names the method and its inputs; on save the value is recomputed from them, so the stored number,
  its provenance and its recorded derivation can never disagree.
- **Checks**: impossible values are refused with the field named (the models' own validation: n above
  the number randomised, a mean outside the scale or its CI...); implausible ones are saved but held
  "awaiting check" until a second team member confirms them (``studies.services.plausibility``); an
  imputed value is flagged, as it is left out of the sensitivity analysis without imputed values.
- **No lost edits**: the form carries a token (a hash of the study's data as it was shown). The save
  locks the study row and compares the token with the data as it is now; a change by anyone, through
  any path (another form, the admin, the API), refuses the save with the list of what changed, and
  the refused entry is shown again for the user to re-apply.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import hashlib
import json
import math
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from analysis.engine import conversions
from studies import access
from studies.models import (
    Arm,
    CharacteristicField,
    CharacteristicType,
    CheckState,
    DataType,
    Outcome,
    OutcomeData,
    OutcomeSubgroup,
    Provenance,
    Role,
    Study,
    StudyCharacteristic,
    StudyEstimate,
    StudyExtraction,
    TimePoint,
    ValueType,
)
from studies.services.entities import entity_remove, entity_store

Entry = dict[str, str]

NUMBER_ATTRS = ("n", "mean", "sd", "events", "total")
CELL_ATTRS = (*NUMBER_ATTRS, "value_type", "instrument", "source_location", "provenance", "derivation")
ATTR_LABELS = {"n": "n", "mean": "Mean", "sd": "SD", "events": "Events", "total": "Total",
               "value_type": "Value type", "instrument": "Instrument", "source_location": "Source location",
               "provenance": "Provenance", "derivation": "Derivation"}
# A generic inverse-variance outcome takes one effect estimate and its SE per study (not arm data),
# on the analysis scale; the group sizes are optional (shown in the forest plot, used by GRADE).
ESTIMATE_NUMBER_ATTRS = ("estimate", "se", "n_intervention", "n_control")
ESTIMATE_ATTRS = (*ESTIMATE_NUMBER_ATTRS, "source_location", "provenance", "derivation")
ESTIMATE_LABELS = {"estimate": "Estimate", "se": "SE", "n_intervention": "n intervention",
                   "n_control": "n control", "source_location": "Source location", "provenance": "Provenance",
                   "derivation": "Derivation"}
# Weakest first: a row is as uncertain as its least certain number.
PROVENANCE_RANK = [Provenance.IMPUTED, Provenance.ESTIMATED, Provenance.CALCULATED, Provenance.REPORTED]


# --- Conversions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionMethod:
    """A conversion the form offers: its inputs (name, label, required), the numbers it gives, and
    whether it serves an arm's cell or a study estimate."""

    key: str
    label: str
    inputs: tuple[tuple[str, str, bool], ...]
    gives: tuple[str, ...]
    kind: str = "arm"  # "arm" (a cell of the grid) or "estimate" (generic inverse variance)


CONVERSION_METHODS: dict[str, ConversionMethod] = {m.key: m for m in (
    ConversionMethod("sd_from_se", "SD from the SE of the mean", (("se", "SE", True), ("n", "n", True)), ("sd",)),
    ConversionMethod("sd_from_ci", "SD from a CI of the mean",
                     (("lower", "CI lower", True), ("upper", "CI upper", True), ("n", "n", True),
                      ("level", "level (e.g. 0.95)", False)), ("sd",)),
    ConversionMethod("sd_from_t", "SD from t of the two-group comparison",
                     (("mean_difference", "mean difference", True), ("t", "t", True), ("n1", "n intervention", True),
                      ("n2", "n control", True)), ("sd",)),
    ConversionMethod("sd_from_p", "SD from the exact P of the two-group comparison",
                     (("mean_difference", "mean difference", True), ("p", "P (two-sided)", True),
                      ("n1", "n intervention", True), ("n2", "n control", True)), ("sd",)),
    ConversionMethod("mean_sd_from_median", "Mean and SD from the median with IQR and/or range",
                     (("median", "median", True), ("n", "n", True), ("q1", "Q1", False), ("q3", "Q3", False),
                      ("minimum", "minimum", False), ("maximum", "maximum", False)), ("mean", "sd")),
    ConversionMethod("sd_change", "SD of change from baseline and final SDs with r",
                     (("sd_baseline", "baseline SD", True), ("sd_final", "final SD", True),
                      ("r", "correlation r", True)), ("sd",)),
    ConversionMethod("log_ratio_from_ci", "ln ratio and SE from a ratio (HR, OR, RR) with its CI",
                     (("ratio", "ratio", True), ("lower", "CI lower", True), ("upper", "CI upper", True),
                      ("level", "level (e.g. 0.95)", False)), ("estimate", "se"), "estimate"),
    ConversionMethod("se_from_difference_ci", "SE from the CI of a difference (e.g. an adjusted MD)",
                     (("estimate", "estimate", True), ("lower", "CI lower", True), ("upper", "CI upper", True),
                      ("level", "level (e.g. 0.95)", False)), ("estimate", "se"), "estimate"),
)}


def _derived(method: str, inputs: Mapping[str, float], result: conversions.Converted) -> dict:
    return {"value": result.value, "method": method, "inputs": dict(inputs), "provenance": str(result.provenance),
            "description": result.description, "source": result.source}


def conversion_apply(*, method: str, inputs: Mapping[str, object]) -> dict[str, dict]:
    """Run one conversion of the engine; returns each number it gives with its derivation.

    Raises ``ValidationError`` naming the input when the inputs are missing or impossible.
    """
    spec = CONVERSION_METHODS.get(method)
    if spec is None:
        raise ValidationError({"method": f"Unknown conversion {method!r}."})
    values: dict[str, float] = {}
    for name, label, required in spec.inputs:
        raw = inputs.get(name)
        if raw in (None, ""):
            if required:
                raise ValidationError({name: f"Enter the {label}."})
            continue
        try:
            values[name] = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValidationError({name: f"The {label} must be a number."}) from None
        if not math.isfinite(values[name]):
            raise ValidationError({name: f"The {label} must be a finite number."})
    try:
        if method == "mean_sd_from_median":
            both = conversions.mean_sd_from_median(
                values["median"], values["n"], q1=values.get("q1"), q3=values.get("q3"),
                minimum=values.get("minimum"), maximum=values.get("maximum"))
            return {"mean": _derived(method, values, both.mean), "sd": _derived(method, values, both.sd)}
        if spec.kind == "estimate":
            convert = conversions.log_ratio_from_ci if method == "log_ratio_from_ci" else conversions.se_from_difference_ci
            pair = convert(*(values[name] for name, _, required in spec.inputs if required),
                           level=values.get("level", 0.95))
            return {"estimate": _derived(method, values, pair.estimate), "se": _derived(method, values, pair.se)}
        if method == "sd_from_se":
            result = conversions.sd_from_se(values["se"], values["n"])
        elif method == "sd_from_ci":
            result = conversions.sd_from_ci(values["lower"], values["upper"], values["n"], values.get("level", 0.95))
        elif method == "sd_from_t":
            result = conversions.sd_from_t(values["mean_difference"], values["t"], values["n1"], values["n2"])
        elif method == "sd_from_p":
            result = conversions.sd_from_p(values["mean_difference"], values["p"], values["n1"], values["n2"])
        else:
            result = conversions.sd_change_from_baseline(values["sd_baseline"], values["sd_final"], values["r"])
    except ValueError as impossible:
        raise ValidationError({"inputs": str(impossible)}) from None
    return {"sd": _derived(method, values, result)}


# --- The form's shape -----------------------------------------------------------------------------


def cell_prefix(outcome_id: int, time_point_id: int, arm_id: int) -> str:
    """The form-field prefix of one cell of the outcome-data grid."""
    return f"cell_{outcome_id}_{time_point_id}_{arm_id}_"


def estimate_prefix(outcome_id: int, time_point_id: int, subgroup_id: int | None) -> str:
    """The form-field prefix of one study estimate (0 for no subgroup)."""
    return f"est_{outcome_id}_{time_point_id}_{subgroup_id or 0}_"


def row_prefix(row: OutcomeData | StudyEstimate) -> str:
    """The form-field prefix of a stored outcome value or study estimate."""
    if isinstance(row, StudyEstimate):
        return estimate_prefix(row.outcome_id, row.time_point_id, row.subgroup_id)
    return cell_prefix(row.outcome_id, row.time_point_id, row.arm_id)


@dataclass(frozen=True)
class Cell:
    """One outcome × time point × arm of the grid."""

    outcome: Outcome
    time_point: TimePoint
    arm: Arm

    @property
    def prefix(self) -> str:
        return cell_prefix(self.outcome.pk, self.time_point.pk, self.arm.pk)

    @property
    def label(self) -> str:
        return f"{self.outcome.name} · {self.time_point.label} · {self.arm.label}"


@dataclass(frozen=True)
class EstimateCell:
    """One generic outcome × time point × subgroup (None: the outcome's analysis has no subgroups)."""

    outcome: Outcome
    time_point: TimePoint
    subgroup: OutcomeSubgroup | None

    @property
    def prefix(self) -> str:
        return estimate_prefix(self.outcome.pk, self.time_point.pk, self.subgroup.pk if self.subgroup else None)

    @property
    def label(self) -> str:
        subgroup = f" · {self.subgroup.name}" if self.subgroup else ""
        return f"{self.outcome.name} · {self.time_point.label}{subgroup}"


@dataclass(frozen=True)
class ExtractionLayout:
    """What a study's extraction form holds."""

    study: Study
    fields: tuple[CharacteristicField, ...]
    arms: tuple[Arm, ...]
    outcomes: tuple[Outcome, ...]
    time_points: tuple[TimePoint, ...]
    # Per generic outcome, the subgroups its estimates may sit in: the outcome's subgroups (a study
    # may sit in several), and None when it has none or the study already has an estimate outside them.
    estimate_subgroups: tuple[tuple[Outcome, tuple[OutcomeSubgroup | None, ...]], ...] = ()

    @property
    def cells(self) -> list[Cell]:
        """Arm data: the continuous and dichotomous outcomes."""
        return [Cell(o, t, a) for o in self.outcomes if o.data_type != DataType.GENERIC
                for t in self.time_points for a in self.arms]

    @property
    def estimate_cells(self) -> list[EstimateCell]:
        """Study estimates: the generic inverse-variance outcomes."""
        return [EstimateCell(o, t, g) for o, subgroups in self.estimate_subgroups
                for t in self.time_points for g in subgroups]

    def labels(self) -> dict[str, str]:
        """A readable name for every form field (for errors, changes and differences)."""
        names = {f"char_{f.pk}": f.name for f in self.fields}
        for arm in self.arms:
            names[f"arm_{arm.pk}_label"] = f"Arm {arm.label}: label"
            names[f"arm_{arm.pk}_randomised"] = f"Arm {arm.label}: number randomised"
        for cell in self.cells:
            for attr in CELL_ATTRS:
                names[cell.prefix + attr] = f"{cell.label}: {ATTR_LABELS[attr]}"
        for estimate in self.estimate_cells:
            for attr in ESTIMATE_ATTRS:
                names[estimate.prefix + attr] = f"{estimate.label}: {ESTIMATE_LABELS[attr]}"
        return names


def extraction_layout(study: Study) -> ExtractionLayout:
    """The characteristics, arms, outcomes and time points of a study's form (four queries; two
    more when the review has a generic inverse-variance outcome)."""
    review_id = study.review_id
    outcomes = tuple(Outcome.objects.filter(review_id=review_id).select_related("domain")
                     .order_by("domain__order", "domain__name", "order", "name"))
    generic = [o for o in outcomes if o.data_type == DataType.GENERIC]
    estimate_subgroups = []
    if generic:
        subgroups: dict[int, list[OutcomeSubgroup | None]] = {o.pk: [] for o in generic}
        for subgroup in OutcomeSubgroup.objects.filter(outcome__in=generic).order_by("order", "name"):
            subgroups[subgroup.outcome_id].append(subgroup)
        outside = set(StudyEstimate.objects.filter(study=study, subgroup__isnull=True).values_list("outcome_id", flat=True))
        estimate_subgroups = [(o, tuple(([None] if not subgroups[o.pk] or o.pk in outside else []) + subgroups[o.pk]))
                              for o in generic]
    return ExtractionLayout(
        study,
        tuple(CharacteristicField.objects.filter(review_id=review_id).order_by("order", "name")),
        tuple(Arm.objects.filter(study=study).order_by("-role", "label")),
        outcomes,
        tuple(TimePoint.objects.filter(review_id=review_id).order_by("order", "label")),
        tuple(estimate_subgroups),
    )


def _estimate_rows(layout: ExtractionLayout) -> dict[str, StudyEstimate]:
    """The study's stored estimates by form-field prefix."""
    if not layout.estimate_subgroups:
        return {}
    return {row_prefix(r): r for r in StudyEstimate.objects.filter(study=layout.study)}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Text that reads back as the same number: a computed log estimate (-2.3025850929940455)
        # shown with 15 digits would come back changed on the next save, and a changed number goes
        # through the plausibility check again. Typed numbers keep their short form ("-5", "6.1").
        text = format(value, ".15g")
        return text if float(text) == value else repr(value)
    return str(value)


def _derivation_text(derivation: Mapping) -> str:
    """The part of a stored derivation the form round-trips: method and inputs per number."""
    if not derivation:
        return ""
    return json.dumps({k: {"method": v["method"], "inputs": v["inputs"]} for k, v in sorted(derivation.items())},
                      sort_keys=True)


def extraction_snapshot(layout: ExtractionLayout) -> Entry:
    """The study's stored data in the form's shape (empty text for what is not entered)."""
    study = layout.study
    entry: Entry = {}
    values = {c.field_id: c for c in StudyCharacteristic.objects.filter(study=study)}
    for f in layout.fields:
        stored = values.get(f.pk)
        entry[f"char_{f.pk}"] = _text(stored.value) if stored else ""
    for arm in Arm.objects.filter(study=study):
        entry[f"arm_{arm.pk}_label"] = arm.label
        entry[f"arm_{arm.pk}_randomised"] = _text(arm.randomised)
    rows = {(r.outcome_id, r.time_point_id, r.arm_id): r for r in OutcomeData.objects.filter(study=study)}
    for cell in layout.cells:
        row = rows.get((cell.outcome.pk, cell.time_point.pk, cell.arm.pk))
        for attr in CELL_ATTRS:
            if row is None:
                value = ""
            elif attr == "derivation":
                value = _derivation_text(row.derivation)
            else:
                value = _text(getattr(row, attr))
            entry[cell.prefix + attr] = value
    estimates = _estimate_rows(layout)
    for cell in layout.estimate_cells:
        row = estimates.get(cell.prefix)
        for attr in ESTIMATE_ATTRS:
            if row is None:
                entry[cell.prefix + attr] = ""
            elif attr == "derivation":
                entry[cell.prefix + attr] = _derivation_text(row.derivation)
            else:
                entry[cell.prefix + attr] = _text(getattr(row, attr))
    return entry


def entry_token(entry: Mapping[str, str]) -> str:
    """The concurrency token of a form's data: changes whenever any value changes."""
    return hashlib.sha256(json.dumps(dict(entry), sort_keys=True).encode()).hexdigest()


def entry_from_form(layout: ExtractionLayout, data: Mapping[str, str], unposted: Mapping[str, str] | None = None
                    ) -> Entry:
    """The form's fields out of posted data (unknown names ignored). A field the post does not carry
    at all (a page opened before the form gained it) takes its value from ``unposted`` (the stored
    data, or the extractor's saved entry), never "empty", which would delete the stored value."""
    unposted = unposted or {}
    return {name: (data[name] if name in data else unposted.get(name, "") or "").strip()
            for name in extraction_empty(layout)}


_FIELD_NAME = re.compile(r"^(cell|est)_(\d+)_(\d+)_(\d+)_(\w+)$")


def field_label(layout: ExtractionLayout, name: str, labels: Mapping[str, str] | None = None) -> str:
    """A readable name for a form field, also for one no longer on the form (its row deleted, or its
    outcome given subgroups since the page was opened). ``labels``: ``layout.labels()``, if at hand."""
    labels = layout.labels() if labels is None else labels
    if name in labels:
        return labels[name]
    match = _FIELD_NAME.match(name)
    if match is None:
        return name
    kind, outcome_id, time_point_id, third, attr = match.groups()
    review_id = layout.study.review_id
    outcome = Outcome.objects.filter(pk=outcome_id, review_id=review_id).first()
    time_point = TimePoint.objects.filter(pk=time_point_id, review_id=review_id).first()
    parts = [outcome.name if outcome else "a deleted outcome", time_point.label if time_point else "a deleted time point"]
    if kind == "cell":
        arm = Arm.objects.filter(pk=third, study=layout.study).first()
        parts.append(arm.label if arm else "a deleted arm")
    elif third != "0":
        subgroup = OutcomeSubgroup.objects.filter(pk=third, outcome_id=outcome_id).first()
        parts.append(subgroup.name if subgroup else "a deleted subgroup")
    attr_label = (ESTIMATE_LABELS if kind == "est" else ATTR_LABELS).get(attr, attr)
    return f"{' · '.join(parts)}: {attr_label} (no longer on the form)"


def entries_without_a_place(layout: ExtractionLayout, data: Mapping[str, str]) -> list[tuple[str, str]]:
    """Numbers posted for rows the form no longer has, with their names, so that a refused save can
    show them for re-entry where they now belong instead of dropping them unseen."""
    on_form = set(extraction_empty(layout))
    numbers = {*NUMBER_ATTRS, *ESTIMATE_NUMBER_ATTRS}
    labels = layout.labels()
    return [(field_label(layout, name, labels), str(value).strip()) for name, value in data.items()
            if name not in on_form and str(value).strip() and (m := _FIELD_NAME.match(name)) and m.group(5) in numbers]


def extraction_empty(layout: ExtractionLayout) -> Entry:
    names = [f"char_{f.pk}" for f in layout.fields]
    for arm in layout.arms:
        names += [f"arm_{arm.pk}_label", f"arm_{arm.pk}_randomised"]
    names += [cell.prefix + attr for cell in layout.cells for attr in CELL_ATTRS]
    names += [cell.prefix + attr for cell in layout.estimate_cells for attr in ESTIMATE_ATTRS]
    return dict.fromkeys(names, "")


@dataclass(frozen=True)
class Change:
    """A form field whose value differs between two versions."""

    name: str
    label: str
    before: str
    after: str


def entry_changes(layout: ExtractionLayout, before: Mapping[str, str], after: Mapping[str, str]) -> list[Change]:
    """Field by field, what differs between two versions of the form (in form order; then the fields
    that are no longer on the form, e.g. an estimate's row after its outcome gained subgroups)."""
    names = list(extraction_empty(layout))
    on_form = set(names)
    names += sorted(name for name in {*before, *after} - on_form if name not in ("token", "base"))
    labels = layout.labels()
    return [Change(name, field_label(layout, name, labels), before.get(name, ""), after.get(name, ""))
            for name in names if before.get(name, "") != after.get(name, "")]


# --- Validation and checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A finding about a value that can be saved: ``warning`` needs confirming, ``flag`` informs."""

    name: str
    level: str
    message: str


@dataclass
class _Plan:
    saves: list = field(default_factory=list)
    deletes: list = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def _number(name: str, label: str, text: str, errors: dict, *, integer: bool = False) -> float | int | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        errors[name] = f"{label}: enter a number."
        return None
    if not math.isfinite(value):
        errors[name] = f"{label}: enter a finite number."
        return None
    if integer:
        if value != int(value) or value < 0:
            errors[name] = f"{label}: enter a whole number of people (0 or more)."
            return None
        return int(value)
    return value


def _model_errors(invalid: ValidationError, names: Mapping[str, str], labels: Mapping[str, str],
                  errors: dict, fallback: str) -> None:
    for model_field, messages in invalid.message_dict.items():
        name = names.get(model_field, fallback)
        # The row's label ("Outcome · time point · arm"), not the field's: the model's messages name
        # the field themselves. An outcome's name may hold a colon, so only the last one splits.
        errors.setdefault(name, f"{labels.get(name, name).rsplit(': ', 1)[0]}: {' '.join(messages)}")


def _valid(row, placed: list[str], names: Mapping[str, str], labels: Mapping[str, str], errors: dict,
           fallback: str) -> bool:
    """The model's own validation of a grid or estimate row (its place, ``placed``, is the form's),
    errors by form field; uniqueness and constraints are the database's at save."""
    try:
        row.full_clean(exclude=placed, validate_unique=False, validate_constraints=False)
    except ValidationError as invalid:
        _model_errors(invalid, names, labels, errors, fallback)
        return False
    return True


def _apply_derivation(cell: Cell | EstimateCell, text: str, values: dict, errors: dict) -> tuple[dict, str | None]:
    """Recompute a cell's (or a study estimate's) derived numbers; returns the stored derivation and
    the weakest provenance."""
    if not text:
        return {}, None
    name = cell.prefix + "derivation"
    derivable, labels = (("estimate", "se"), ESTIMATE_LABELS) if isinstance(cell, EstimateCell) else (("mean", "sd"), ATTR_LABELS)
    try:
        requested = json.loads(text)
        if not isinstance(requested, dict):
            raise ValueError
    except ValueError:
        errors[name] = f"{cell.label}: the derivation could not be read."
        return {}, None
    stored: dict = {}
    for attr, spec in requested.items():
        if attr not in derivable or not isinstance(spec, dict):
            errors[name] = f"{cell.label}: a derivation can give only {' or '.join(labels[a] for a in derivable)}."
            return {}, None
        try:
            derived = conversion_apply(method=str(spec.get("method")), inputs=spec.get("inputs") or {})
        except ValidationError as invalid:
            errors[cell.prefix + attr] = f"{cell.label}: {labels[attr]} conversion: {' '.join(invalid.messages)}"
            return {}, None
        if attr not in derived:
            errors[name] = f"{cell.label}: {spec.get('method')} does not give the {labels[attr]}."
            return {}, None
        stored[attr] = derived[attr]
        values[attr] = derived[attr]["value"]
    weakest = min((Provenance(d["provenance"]) for d in stored.values()), key=PROVENANCE_RANK.index, default=None)
    return stored, weakest


def _plan(layout: ExtractionLayout, entry: Mapping[str, str]) -> _Plan:
    """Validate a whole form; raises ``ValidationError`` keyed by form field (nothing is written)."""
    study = layout.study
    labels = layout.labels()
    errors: dict[str, str] = {}
    plan = _Plan()
    stored_values = {c.field_id: c for c in StudyCharacteristic.objects.filter(study=study)}
    for f in layout.fields:
        name = f"char_{f.pk}"
        text = entry.get(name, "")
        existing = stored_values.get(f.pk)
        if text == "":
            if existing is not None:
                plan.deletes.append(existing)
            continue
        value = existing or StudyCharacteristic(study=study, field=f)
        value.field = f
        if f.data_type == CharacteristicType.NUMBER:
            value.value_number, value.value_text = _number(name, f.name, text, errors), ""
            if name in errors:
                continue
        else:
            value.value_text, value.value_number = text, None
        try:
            value.full_clean(exclude=["study", "field"], validate_unique=False, validate_constraints=False)
        except ValidationError as invalid:
            _model_errors(invalid, {"value_text": name, "value_number": name}, labels, errors, name)
        else:
            plan.saves.append(value)
    arms = {a.pk: a for a in layout.arms}
    for arm in layout.arms:
        label_name, randomised_name = f"arm_{arm.pk}_label", f"arm_{arm.pk}_randomised"
        arm.label = entry.get(label_name, arm.label) or arm.label
        arm.randomised = _number(randomised_name, labels[randomised_name], entry.get(randomised_name, ""), errors,
                                 integer=True)
        try:
            arm.full_clean(exclude=["study"], validate_constraints=False)
        except ValidationError as invalid:
            _model_errors(invalid, {"label": label_name, "randomised": randomised_name}, labels, errors, label_name)
        else:
            plan.saves.append(arm)
    rows = {(r.outcome_id, r.time_point_id, r.arm_id): r for r in OutcomeData.objects.filter(study=study)}
    for cell in layout.cells:
        p = cell.prefix
        existing = rows.get((cell.outcome.pk, cell.time_point.pk, cell.arm.pk))
        values = {attr: _number(p + attr, labels[p + attr], entry.get(p + attr, ""), errors,
                                integer=attr in ("n", "events", "total")) for attr in NUMBER_ATTRS}
        derivation, derived_provenance = _apply_derivation(cell, entry.get(p + "derivation", ""), values, errors)
        if all(values[a] is None for a in NUMBER_ATTRS):
            if existing is not None:
                plan.deletes.append(existing)
            continue
        row = existing or OutcomeData(study=study, outcome=cell.outcome, time_point=cell.time_point, arm=cell.arm)
        row.arm, row.outcome, row.time_point = arms[cell.arm.pk], cell.outcome, cell.time_point
        for attr, value in values.items():
            setattr(row, attr, value)
        row.value_type = entry.get(p + "value_type") or ValueType.CHANGE
        row.instrument = entry.get(p + "instrument", "")
        row.source_location = entry.get(p + "source_location", "")
        row.derivation = derivation
        posted = entry.get(p + "provenance") or Provenance.REPORTED
        row.provenance = derived_provenance or posted
        if not _valid(row, ["study", "outcome", "time_point", "arm"], {a: p + a for a in CELL_ATTRS}, labels, errors,
                      p + "n"):
            continue
        plan.saves.append(row)
        plan.checks += outcome_data_checks(cell, row)
    _plan_estimates(layout, entry, labels, errors, plan)
    if errors:
        raise ValidationError(errors)
    return plan


def _plan_estimates(layout: ExtractionLayout, entry: Mapping[str, str], labels: Mapping[str, str], errors: dict,
                    plan: _Plan) -> None:
    """The study estimates of the form (generic outcomes): validated into ``plan``, errors by field."""
    stored = _estimate_rows(layout)
    for cell in layout.estimate_cells:
        p = cell.prefix
        existing = stored.get(cell.prefix)
        values = {attr: _number(p + attr, labels[p + attr], entry.get(p + attr, ""), errors,
                                integer=attr.startswith("n_")) for attr in ESTIMATE_NUMBER_ATTRS}
        derivation, derived_provenance = _apply_derivation(cell, entry.get(p + "derivation", ""), values, errors)
        if any(p + attr in errors for attr in (*ESTIMATE_NUMBER_ATTRS, "derivation")):
            continue
        if all(value is None for value in values.values()):
            if existing is not None:
                plan.deletes.append(existing)
            continue
        missing = [attr for attr in ("estimate", "se") if values[attr] is None]
        for attr in missing:
            errors[p + attr] = f"{cell.label}: enter both the estimate and its SE ({ESTIMATE_LABELS[attr]} is empty)."
        if missing:
            continue
        row = existing or StudyEstimate(study=layout.study, outcome=cell.outcome, time_point=cell.time_point,
                                        subgroup=cell.subgroup)
        for attr, value in values.items():
            setattr(row, attr, value)
        row.source_location = entry.get(p + "source_location", "")
        row.derivation = derivation
        row.provenance = derived_provenance or entry.get(p + "provenance") or Provenance.REPORTED
        if _valid(row, ["study", "outcome", "time_point", "subgroup"], {a: p + a for a in ESTIMATE_ATTRS}, labels,
                  errors, p + "estimate"):
            plan.saves.append(row)


def outcome_data_checks(cell: Cell, row: OutcomeData) -> list[Check]:
    """Notes about one cell that do not stop a save: an imputed value (left out of one sensitivity
    analysis). Impossible values are refused by the model's validation; implausible ones are held
    "awaiting check" when stored (``studies.services.plausibility``)."""
    if row.provenance == Provenance.IMPUTED:
        return [Check(cell.prefix + "sd", "flag", f"{cell.label}: imputed ({_describe(row)}); this study is left out "
                                                  "of the sensitivity analysis without imputed values.")]
    return []


def _describe(row: OutcomeData) -> str:
    return "; ".join(d.get("description", "") for d in row.derivation.values()) or "marked imputed"


# --- Saving ---------------------------------------------------------------------------------------


class ExtractionConflict(Exception):
    """The study's data changed since the form was opened: nothing was saved."""

    def __init__(self, changes: list[Change], token: str, current: Entry):
        super().__init__("The study's data changed since you opened the form.")
        self.changes, self.token, self.current = changes, token, current


@dataclass(frozen=True)
class ExtractionSaved:
    token: str
    checks: list[Check]
    changed: int


@transaction.atomic
def extraction_save(*, study: Study, user, entry: Mapping[str, str], token: str, base: Mapping[str, str] | None = None,
                    consensus: bool = False) -> ExtractionSaved:
    """Save a whole study's form as the analysed data (a single extraction, or a dual consensus).

    ``token`` is :func:`entry_token` of the data the form showed; ``base`` that data itself (to say
    what changed). Raises ``ExtractionConflict`` if the stored data moved on, ``ValidationError``
    keyed by form field for impossible values — in either case writing nothing. Implausible values
    are saved but held "awaiting check" (out of the published analysis until a second team member
    confirms them); the returned checks say which, and why.
    """
    roles = access.roles_in(user, study.review_id)
    if consensus:
        allowed = roles & {Role.EXTRACTOR, Role.MANAGER}
        if study.review.dual_extraction and StudyExtraction.objects.filter(
                study=study, submitted_at__isnull=False).count() < 2:
            raise PermissionDenied("The consensus is recorded once both extractors have submitted.")
    else:
        allowed = roles & {Role.EXTRACTOR}
        if study.review.dual_extraction:
            raise PermissionDenied("This review uses dual extraction: enter your own extraction, then agree a consensus.")
    if not allowed:
        raise PermissionDenied("Only the review's extractors enter data.")
    Study.objects.select_for_update().get(pk=study.pk)  # one save at a time per study
    layout = extraction_layout(study)
    current = extraction_snapshot(layout)
    if entry_token(current) != token:
        changes = entry_changes(layout, base, current) if base is not None else []
        raise ExtractionConflict(changes, entry_token(current), current)
    plan = _plan(layout, entry)
    changed_names = {c.name for c in entry_changes(layout, current, {**current, **entry})}
    changed = 0
    for instance in plan.deletes:
        entity_remove(instance=instance)
        changed += 1
    values = [i for i in plan.saves if isinstance(i, OutcomeData)]
    held: list[Check] = []
    for instance in plan.saves:
        if instance.pk is None or _touched(instance, changed_names):
            # Arms before outcome values (the plan's order): the plausibility check reads them.
            entity_store(instance=instance, user=user, along=values)
            changed += 1
            if isinstance(instance, (OutcomeData, StudyEstimate)) and instance.check_state == CheckState.AWAITING_CHECK:
                prefix = row_prefix(instance)
                # An estimate's flag names the study and outcome; the row (time point, subgroup) is the form's.
                where = (f" ({EstimateCell(instance.outcome, instance.time_point, instance.subgroup).label})"
                         if isinstance(instance, StudyEstimate) else "")
                held += [Check(prefix + flag["field"], "held", f"Awaiting check{where}: {flag['message']}")
                         for flag in instance.check_flags]
    if consensus:
        Study.objects.filter(pk=study.pk).update(extraction_agreed_at=timezone.now())
    return ExtractionSaved(entry_token(extraction_snapshot(layout)), plan.checks + held, changed)


def _touched(instance, changed_names: set[str]) -> bool:
    if isinstance(instance, StudyCharacteristic):
        return f"char_{instance.field_id}" in changed_names
    if isinstance(instance, Arm):
        return bool({f"arm_{instance.pk}_label", f"arm_{instance.pk}_randomised"} & changed_names)
    prefix = row_prefix(instance)
    return any(name.startswith(prefix) for name in changed_names)



# --- Arms -----------------------------------------------------------------------------------------


@transaction.atomic
def study_arm_add(*, study: Study, user, role: str, label: str, randomised: str = "") -> Arm:
    """An arm the study's report describes, added by an extractor: a study linked at screening has
    none yet, and a multi-arm trial has more than two. Refused, naming the field, when the label is
    empty or taken or the number randomised is not a whole number of at least 1."""
    access.require_role(user, study.review, {Role.EXTRACTOR}, action="change a study's arms")
    study = Study.objects.select_related("review").select_for_update().get(pk=study.pk)  # one change at a time
    errors: dict[str, str] = {}
    number = _number("randomised", "Number randomised", (randomised or "").strip(), errors, integer=True)
    if number is not None and study.review.dual_extraction:
        # Under dual extraction the analysed numbers come only from the consensus.
        errors["randomised"] = ("This review uses dual extraction: add the arm without its number randomised; "
                                "each extractor enters it, and the consensus records it.")
    arm = Arm(study=study, role=role, label=(label or "").strip(), randomised=number)
    if not arm.label:
        errors["label"] = "Enter the new arm's label (e.g. “Waiting list”)."
    elif Arm.objects.filter(study=study, label=arm.label).exists():
        errors["label"] = f"{study.label} already has an arm labelled “{arm.label}”."
    if errors:
        raise ValidationError(errors)
    return entity_store(instance=arm, user=user)


@transaction.atomic
def study_arm_remove(*, arm: Arm, user) -> None:
    """Remove an arm added by mistake; refused while any outcome data is entered for it."""
    access.require_role(user, arm.study.review, {Role.EXTRACTOR}, action="change a study's arms")
    Study.objects.select_for_update().get(pk=arm.study_id)
    arm_removal_check(arm)
    entity_remove(instance=arm)


def arm_removal_check(arm: Arm) -> None:
    """Whichever door removes an arm (this page, the API): never while numbers are entered for it,
    which removing it would delete with it."""
    if OutcomeData.objects.filter(arm=arm).exists():
        raise ValidationError({"arm": f"{arm.label} has outcome data: empty its cells and save before removing it."})
    if arm.pk in arms_in_entries(arm.study_id):
        # Said alike whoever's entry holds it: which extractor entered what stays blinded.
        raise ValidationError({"arm": f"{arm.label} has values in an extractor's entry; it stays while it has."})


def arms_in_entries(study_id: int) -> set[int]:
    """The arms for which an extractor's own entry (dual extraction) holds a number: its number
    randomised or a number of one of its cells (one read of the study's entries)."""
    arms: set[int] = set()
    for data in StudyExtraction.objects.filter(study_id=study_id).values_list("data", flat=True):
        for name, value in (data or {}).items():
            if not value:
                continue
            if name.startswith("arm_") and name.endswith("_randomised"):
                arms.add(int(name.split("_")[1]))
            elif (match := _FIELD_NAME.match(name)) and match.group(1) == "cell" and match.group(5) in NUMBER_ATTRS:
                arms.add(int(match.group(4)))
    return arms


# --- Dual extraction ------------------------------------------------------------------------------


@transaction.atomic
def extraction_entry_save(*, study: Study, extractor, entry: Mapping[str, str], submit: bool = False
                          ) -> StudyExtraction:
    """An extractor's own, blinded entry of a study (dual extraction).

    Submitting validates it as the analysed data would be (impossible values refused, field named)
    and locks it: after submitting the extractor sees the other's entry, so later changes would not
    be independent; differences are settled in the consensus.
    """
    if Role.EXTRACTOR not in access.roles_in(extractor, study.review_id):
        raise PermissionDenied("Only the review's extractors enter data.")
    mine, _ = StudyExtraction.objects.select_for_update().get_or_create(study=study, extractor=extractor)
    if mine.submitted_at is not None:
        raise ValidationError({"__all__": "You have submitted this extraction; differences are settled in the "
                                          "consensus."})
    layout = extraction_layout(study)
    cleaned = entry_from_form(layout, entry, unposted=mine.data)
    if submit:
        with transaction.atomic():
            _plan(layout, cleaned)  # validation only: nothing is written
        mine.submitted_at = timezone.now()
    mine.data = cleaned
    mine.save()
    return mine


def agreed_entry(layout: ExtractionLayout, entries: list[Mapping[str, str]], current: Mapping[str, str]) -> Entry:
    """A consensus form's starting point: the values all extractors gave alike, others left empty.

    A field no entry holds at all (the form gained it after the entries were made: a new outcome, time
    point or subgroup, or data that came with a RevMan file) starts from the stored value: neither
    extractor saw it, so recording the consensus must not remove it (``fields_in_no_entry`` lists them).
    """
    agreed = extraction_empty(layout)
    for name in agreed:
        if all(name not in e for e in entries):
            agreed[name] = current.get(name, "")
            continue
        values = {e.get(name, "") for e in entries}
        if len(values) == 1:
            agreed[name] = values.pop()
    return agreed


def fields_in_no_entry(layout: ExtractionLayout, entries: list[Mapping[str, str]], current: Mapping[str, str]
                       ) -> list[str]:
    """Labels of the stored values that no extractor's entry covers (kept as stored by the consensus)."""
    labels = layout.labels()
    return [labels.get(name, name) for name in extraction_empty(layout)
            if current.get(name) and all(name not in e for e in entries)]
