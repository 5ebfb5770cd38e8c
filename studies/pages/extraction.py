"""Data-extraction pages (issue 9): the extractor's list of studies, the study's extraction form
(characteristics, arms, the outcome-data grid with conversions beside each cell), the consensus page
of dual extraction, and the conversion endpoint the form's script calls. Views translate HTTP and call
one service each (``studies.services.extraction``); which of another extractor's entries a user may
see is decided by the selector (blinding).

Access as for risk of bias: outside the team 404 for an unpublished review (403 for a public one);
extractors enter data; extractors and managers see the list and record a consensus.
"""
from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from studies import access, selectors
from studies.models import (
    Arm,
    ArmRole,
    DataType,
    FullTextDocument,
    OutcomeData,
    Provenance,
    Report,
    Review,
    Role,
    Study,
    StudyExtraction,
    ValueType,
)
from studies.services.extraction import (
    CELL_ATTRS,
    CONVERSION_METHODS,
    ESTIMATE_ATTRS,
    ExtractionConflict,
    agreed_entry,
    conversion_apply,
    entry_changes,
    entry_from_form,
    entries_without_a_place,
    entry_token,
    extraction_entry_save,
    fields_in_no_entry,
    extraction_layout,
    extraction_save,
    extraction_snapshot,
    arms_in_entries,
    study_arm_add,
    study_arm_remove,
)

TEAM = access.EXTRACTION


def _review_for(request: HttpRequest, slug: str, allowed: set[str]) -> tuple[Review, frozenset[str]]:
    return access.review_for(request, slug, allowed, action="extract data")


def _errors(invalid: ValidationError) -> dict[str, str]:
    if hasattr(invalid, "error_dict"):
        return {k: " ".join(v) for k, v in invalid.message_dict.items()}
    return {"__all__": " ".join(invalid.messages)}


@login_required
def extraction_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The review's included studies, with how far each one's extraction has come."""
    review, roles = _review_for(request, slug, TEAM)
    studies = list(Study.objects.filter(review=review, is_included=True).order_by("year", "label"))
    entered = set(Study.objects.filter(review=review).filter(selectors.study_has_extracted_data())
                  .values_list("pk", flat=True))
    mine = {e.study_id: e for e in StudyExtraction.objects.filter(study__review=review, extractor=request.user)}
    submitted: dict[int, int] = {}
    for study_id in StudyExtraction.objects.filter(study__review=review, submitted_at__isnull=False).values_list(
            "study_id", flat=True):
        submitted[study_id] = submitted.get(study_id, 0) + 1
    items = [{"study": s, "entered": s.pk in entered, "mine": mine.get(s.pk), "submitted": submitted.get(s.pk, 0)}
             for s in studies]
    return render(request, "studies/extraction/list.html", {
        "review": review, "items": items, "is_extractor": Role.EXTRACTOR in roles,
        "awaiting_check": selectors.values_awaiting_check_count(review=review)})


DERIVED_LABELS = {"mean": "Mean", "sd": "SD", "estimate": "Estimate", "se": "SE"}


def derivation_note(text: str) -> str:
    """A derivation as the grid shows it: "SD: SD from the SE of the mean (se = 2, n = 25)"; numbers
    given by one conversion are named together ("Mean, SD: ...")."""
    try:
        derivation = json.loads(text) if text else {}
    except ValueError:
        return ""
    given: dict[str, list[str]] = {}
    for attr, spec in sorted(derivation.items(), key=lambda item: list(DERIVED_LABELS).index(item[0])
                             if item[0] in DERIVED_LABELS else len(DERIVED_LABELS)):
        method = CONVERSION_METHODS.get(spec.get("method"))
        inputs = ", ".join(f"{k} = {v:g}" for k, v in (spec.get("inputs") or {}).items() if isinstance(v, (int, float)))
        given.setdefault(f"{method.label if method else spec.get('method')} ({inputs})", []).append(
            DERIVED_LABELS.get(attr, attr))
    return "; ".join(f"{', '.join(attrs)}: {how}" for how, attrs in given.items())


def _field(name, entry, errors, flagged, compare) -> dict:
    """One form field as the page shows it: value, error, checks, and the extractors' values."""
    theirs = [c.get(name, "") for c in compare]
    return {"name": name, "value": entry.get(name, ""), "error": errors.get(name), "checks": flagged.get(name, []),
            "theirs": theirs, "differs": bool(compare) and len({*theirs}) > 1}


def _flagged(checks) -> dict[str, list]:
    flagged: dict[str, list] = {}
    for check in checks:
        flagged.setdefault(check.name, []).append(check)
    return flagged


def _grid(layout, entry, errors, checks, compare):
    """Rows of the outcome-data grid: per outcome and time point, one cell per arm."""
    flagged = _flagged(checks)
    rows: dict[tuple, dict] = {}
    for cell in layout.cells:
        fields = {attr: _field(cell.prefix + attr, entry, errors, flagged, compare) for attr in CELL_ATTRS}
        row = rows.setdefault((cell.outcome.pk, cell.time_point.pk), {
            "outcome": cell.outcome, "time_point": cell.time_point, "cells": [],
            "continuous": cell.outcome.data_type == DataType.CONTINUOUS})
        row["cells"].append({"arm": cell.arm, "prefix": cell.prefix, "f": fields,
                             "note": derivation_note(fields["derivation"]["value"]),
                             "differs": any(f["differs"] for f in fields.values())})
    return list(rows.values())


def _estimates(layout, entry, errors, checks, compare):
    """Rows of the study-estimate table: one per generic outcome, time point and subgroup."""
    flagged = _flagged(checks)
    rows = []
    for cell in layout.estimate_cells:
        fields = {attr: _field(cell.prefix + attr, entry, errors, flagged, compare) for attr in ESTIMATE_ATTRS}
        rows.append({"cell": cell, "f": fields, "differs": any(f["differs"] for f in fields.values()),
                     "scale": estimate_scale(cell.outcome), "note": derivation_note(fields["derivation"]["value"])})
    return rows


def estimate_scale(outcome) -> str:
    """What an estimate of this outcome is entered as: "ln(Hazard Ratio)" for a ratio on the log scale."""
    measure = outcome.generic_measure or "effect"
    return f"ln({measure})" if outcome.log_scale else measure


def _page(request, review, study, layout, *, mode: str, entry, token="", base=None, errors=None, checks=(),
          conflict=None, compare=(), compare_names=(), saved=None, status=200, locked=False, differences=None,
          in_no_entry=(), unplaced=(), recorded=False):
    errors = errors or {}
    labels = layout.labels()
    reports = list(Report.objects.filter(study=study).select_related("record"))
    documents = set(FullTextDocument.objects.filter(record__in=[r.record_id for r in reports])
                    .values_list("record_id", flat=True))
    characteristics = [{"field": f, "name": f"char_{f.pk}", "value": entry.get(f"char_{f.pk}", ""),
                        "error": errors.get(f"char_{f.pk}"),
                        "theirs": [c.get(f"char_{f.pk}", "") for c in compare],
                        "differs": bool(compare) and len({c.get(f"char_{f.pk}", "") for c in compare}) > 1}
                       for f in layout.fields]
    arms = [{"arm": a, "label": entry.get(f"arm_{a.pk}_label", a.label),
             "randomised": entry.get(f"arm_{a.pk}_randomised", ""),
             "error": errors.get(f"arm_{a.pk}_label") or errors.get(f"arm_{a.pk}_randomised"),
             "theirs": [(c.get(f"arm_{a.pk}_label", ""), c.get(f"arm_{a.pk}_randomised", "")) for c in compare]}
            for a in layout.arms]
    return render(request, "studies/extraction/form.html", {
        "review": review, "study": study, "mode": mode, "token": token, "base": json.dumps(base or {}),
        "characteristics": characteristics, "arms": arms, "grid": _grid(layout, entry, errors, checks, compare),
        "estimates": _estimates(layout, entry, errors, checks, compare),
        "errors": errors, "error_list": [(labels.get(k, k), v) for k, v in errors.items()],
        "checks": list(checks), "conflict": conflict,
        "compare_names": compare_names, "saved": saved if mode == "dual" else None,
        "saved_notes": saved if mode != "dual" else None, "locked": locked, "differences": differences,
        "in_no_entry": in_no_entry, "unplaced": unplaced, "recorded": recorded,
        "held": selectors.values_awaiting_check_count(review=review) if saved is not None and mode != "dual" else 0,
        "reports": [(r, r.record_id in documents) for r in reports],
        "value_types": ValueType.choices, "provenances": Provenance.choices, "arm_roles": ArmRole.choices,
        "arm_errors": request.session.pop(f"extraction-arm-errors-{study.pk}", []),
        "arms_with_data": set(OutcomeData.objects.filter(study=study).values_list("arm_id", flat=True))
        | (arms_in_entries(study.pk) if review.dual_extraction else set()),
        "methods": CONVERSION_METHODS.values(), "default_r": review.change_sd_correlation,
        "methods_json": json.dumps({m.key: {"inputs": m.inputs, "gives": m.gives, "kind": m.kind}
                                    for m in CONVERSION_METHODS.values()}),
    }, status=status)


def _save_form(request, review, study, layout, *, consensus: bool, compare=(), compare_names=()):
    """POST of the analysed data (single extraction or consensus): save, or show why not."""
    entry = entry_from_form(layout, request.POST, unposted=extraction_snapshot(layout))
    token = request.POST.get("token", "")
    try:
            base = json.loads(request.POST.get("base") or "{}")
    except ValueError:
        base = None
    mode = "consensus" if consensus else "single"
    try:
        saved = extraction_save(study=study, user=request.user, entry=entry, token=token, base=base,
                                consensus=consensus)
    except ExtractionConflict as conflict:
        # Nothing of either is lost: the other's save stands, and this user's entry is shown again
        # with what changed, on top of a fresh token, ready to re-apply.
        return _page(request, review, study, layout, mode=mode, entry=entry, token=conflict.token,
                     base=conflict.current, conflict=conflict.changes, compare=compare, compare_names=compare_names,
                     unplaced=entries_without_a_place(layout, request.POST), status=409)
    except ValidationError as invalid:
        return _page(request, review, study, layout, mode=mode, entry=entry, token=token, base=base,
                     errors=_errors(invalid), compare=compare, compare_names=compare_names, status=400)
    request.session[f"extraction-checks-{study.pk}"] = [c.message for c in saved.checks]
    name = "studies:extraction-consensus" if consensus else "studies:extraction-study"
    return redirect(name, slug=review.slug, study_id=study.pk)


@login_required
def extraction_study(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    """A study's extraction form: the analysed data (single extraction) or the extractor's own entry (dual)."""
    review, roles = _review_for(request, slug, {Role.EXTRACTOR})
    study = get_object_or_404(Study, pk=study_id, review=review, is_included=True)
    layout = extraction_layout(study)
    if review.dual_extraction:
        mine = StudyExtraction.objects.filter(study=study, extractor=request.user).first()
        entry, errors = (dict(mine.data) if mine else extraction_snapshot(layout) | {}), {}
        if mine is None:
            entry = {k: "" for k in entry}  # independent: start from an empty form, not from anyone's data
        if request.method == "POST":
            entry = entry_from_form(layout, request.POST, unposted=mine.data if mine else None)
            try:
                mine = extraction_entry_save(study=study, extractor=request.user, entry=entry,
                                             submit=request.POST.get("action") == "submit")
            except ValidationError as invalid:
                errors = _errors(invalid)
            else:
                return redirect("studies:extraction-study", slug=slug, study_id=study.pk)
        return _page(request, review, study, layout, mode="dual", entry=entry, errors=errors, saved=mine,
                     locked=mine is not None and mine.submitted_at is not None, status=400 if errors else 200)
    if request.method == "POST":
        return _save_form(request, review, study, layout, consensus=False)
    current = extraction_snapshot(layout)
    notes = request.session.pop(f"extraction-checks-{study.pk}", None)
    return _page(request, review, study, layout, mode="single", entry=current, token=entry_token(current), base=current,
                 saved=notes)


@login_required
def extraction_consensus(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    """Dual extraction: the two entries side by side, cell by cell, and the consensus form."""
    review, _ = _review_for(request, slug, TEAM)
    study = get_object_or_404(Study, pk=study_id, review=review, is_included=True)
    layout = extraction_layout(study)
    visible = [e for e in access.study_extractions_visible(request.user, selectors.study_extractions(review)).filter(study=study)
               if e.submitted_at is not None]
    if len(visible) < 2:
        return render(request, "studies/extraction/waiting.html", {"review": review, "study": study}, status=409)
    compare = [dict(e.data) for e in visible]
    names = [e.extractor.get_username() for e in visible]
    if request.method == "POST":
        return _save_form(request, review, study, layout, consensus=True, compare=compare, compare_names=names)
    current = extraction_snapshot(layout)
    # Before a consensus: the values both entered alike, differences left empty for the two to
    # settle, so a number neither extractor entered can never slip into the consensus unseen. Once
    # one is recorded, the form is that consensus (the analysed data), to be amended, never emptied
    # again where the entries differ.
    recorded = study.extraction_agreed_at is not None
    entry = dict(current) if recorded else agreed_entry(layout, compare, current)
    notes = request.session.pop(f"extraction-checks-{study.pk}", None)
    return _page(request, review, study, layout, mode="consensus", entry=entry, token=entry_token(current),
                 base=current, compare=compare, compare_names=names, saved=notes,
                 differences=entry_changes(layout, compare[0], compare[1]),
                 in_no_entry=() if recorded else fields_in_no_entry(layout, compare, current), recorded=recorded)


@login_required
@require_POST
def extraction_arms(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    """Add an arm to a study, or remove one without data (then back to the study's form)."""
    review, _ = _review_for(request, slug, {Role.EXTRACTOR})
    study = get_object_or_404(Study, pk=study_id, review=review, is_included=True)
    try:
        if "remove" in request.POST:
            remove = request.POST["remove"]
            arm = get_object_or_404(Arm, pk=int(remove) if remove.isdecimal() else 0, study=study)
            study_arm_remove(arm=arm, user=request.user)
        else:
            study_arm_add(study=study, user=request.user, role=request.POST.get("role", ""),
                          label=request.POST.get("label", ""), randomised=request.POST.get("randomised", ""))
    except ValidationError as invalid:
        request.session[f"extraction-arm-errors-{study.pk}"] = list(_errors(invalid).values())
    return redirect("studies:extraction-study", slug=slug, study_id=study.pk)


@login_required
@require_POST
def extraction_convert(request: HttpRequest, slug: str) -> JsonResponse:
    """Run one of the engine's conversions for the form (nothing is saved): the numbers and how."""
    _review_for(request, slug, TEAM)
    inputs = {key.removeprefix("in_"): value for key, value in request.POST.items() if key.startswith("in_")}
    try:
        derived = conversion_apply(method=request.POST.get("method", ""), inputs=inputs)
    except ValidationError as invalid:
        return JsonResponse({"errors": _errors(invalid)}, status=400)
    return JsonResponse({"derived": derived})


@login_required
def extraction_pdf(request: HttpRequest, slug: str, study_id: int, record_id: int) -> HttpResponse:
    """The full-text PDF of one of the study's reports (uploaded during screening)."""
    review, _ = _review_for(request, slug, TEAM)
    report = get_object_or_404(Report, study_id=study_id, study__review=review, record_id=record_id)
    document = get_object_or_404(FullTextDocument, record_id=report.record_id)
    response = HttpResponse(bytes(document.content), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="record-{record_id}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
