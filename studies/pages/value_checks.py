"""The "awaiting check" page: outcome values and study estimates held by the plausibility rules, each
with why, who entered it, the number the analysis uses → the number entered, and the confirm /
correct actions for those allowed (a manager, or an extractor who did not enter it;
``access.may_check_value``)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render

from studies import access, selectors
from studies.models import CHECKED_ESTIMATE_NUMBERS, CHECKED_NUMBERS, DataType
from studies.services.value_checks import (
    outcome_value_confirm,
    outcome_value_correct,
    study_estimate_confirm,
    study_estimate_correct,
)

_LABELS = {"n": "n", "mean": "Mean", "sd": "SD", "events": "Events", "total": "Total", "estimate": "Estimate",
           "se": "SE", "n_intervention": "N (intervention)", "n_control": "N (control)"}
# What the page checks: arm values and study estimates, each with its selector, numbers and services.
_KINDS = {
    "value": (selectors.values_awaiting_check, CHECKED_NUMBERS, outcome_value_confirm, outcome_value_correct),
    "estimate": (selectors.estimates_awaiting_check, CHECKED_ESTIMATE_NUMBERS, study_estimate_confirm,
                 study_estimate_correct),
}


def _shown(value) -> str:
    return "—" if value is None else f"{value:g}"


@login_required
def values_awaiting_check(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the held values. POST ``row`` with ``action`` confirm, or correct with the numbers."""
    review, _ = access.review_for(request, slug, access.VALUE_CHECKERS, action="check extracted values")
    errors: dict[tuple[str, int], str] = {}
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        if kind not in _KINDS:  # the page's forms always say which: never guess between two rows of one key
            return HttpResponseBadRequest("Say which kind of entry to check (kind=value or kind=estimate).")
        held_rows, names, confirm, correct = _KINDS[kind]
        try:
            row_id = int(request.POST.get("row", ""))
        except ValueError:
            row_id = 0
        held = held_rows(review=review).filter(pk=row_id).first()
        if held is None:
            messages.warning(request, "That value is no longer awaiting check: someone has confirmed or corrected it.")
            return redirect("studies:values-awaiting-check", slug=review.slug)
        shown = _where(kind, held)
        # What the checker was shown (numbers and place): a confirm or a correction of an entry changed or
        # moved since is refused.
        seen = {name: request.POST[f"seen_{name}"] for name in (*names, *held.checked_place)
                if f"seen_{name}" in request.POST}
        try:
            if request.POST.get("action") == "correct":
                values = {name: request.POST.get(name, "").strip() for name in names
                          if request.POST.get(name, "").strip() != ""}
                correct(row_id=held.pk, user=request.user, values=values, seen=seen)
                messages.success(request, f"Corrected and confirmed: {shown}. The analysis is being updated.")
            else:
                confirm(row_id=held.pk, user=request.user, seen=seen)
                messages.success(request, f"Confirmed: {shown}. The analysis is being updated.")
            return redirect("studies:values-awaiting-check", slug=review.slug)
        except PermissionDenied as refused:
            errors[(kind, held.pk)] = str(refused)
        except ValidationError as invalid:
            errors[(kind, held.pk)] = " ".join(
                f"{_LABELS.get(k, k)}: {' '.join(v)}" if k != "__all__" else " ".join(v)
                for k, v in invalid.message_dict.items()) if hasattr(invalid, "error_dict") else " ".join(
                invalid.messages)
    items = []
    for row in selectors.values_awaiting_check(review=review):
        names = ("n", "mean", "sd") if row.outcome.data_type == DataType.CONTINUOUS else ("events", "total")
        items.append(_item(request, review, "value", row, names, errors,
                           new=row.confirmed_n is None and row.confirmed_events is None))
    for row in selectors.estimates_awaiting_check(review=review):
        items.append(_item(request, review, "estimate", row, CHECKED_ESTIMATE_NUMBERS, errors,
                           new=row.confirmed_se is None))
    return render(request, "studies/value_checks.html", {"review": review, "items": items},
                  status=400 if errors else 200)


def _where(kind: str, row) -> str:
    """A held entry as the page names it: study · arm · outcome · time point (· subgroup)."""
    parts = [str(row.study), *([row.arm.label] if kind == "value" else []), str(row.outcome), str(row.time_point)]
    if row.subgroup_id:
        parts.append(row.subgroup.name)
    return " · ".join(parts)


def _item(request, review, kind: str, row, names, errors, *, new: bool) -> dict:
    numbers = [{"name": name, "label": _LABELS[name], "analysed": _shown(getattr(row, f"confirmed_{name}")),
                "entered": _shown(getattr(row, name)), "value": getattr(row, name),
                "changed": getattr(row, name) != getattr(row, f"confirmed_{name}")} for name in names]
    return {"row": row, "kind": kind, "where": _where(kind, row), "numbers": numbers, "flags": row.check_flags,
            "place": [(name, getattr(row, f"{name}_id")) for name in row.checked_place],
            "error": errors.get((kind, row.pk)), "new": new,
            "may_check": access.may_check_value(request.user, review, row.entered_by_id)}
