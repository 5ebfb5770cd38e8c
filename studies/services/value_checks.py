"""The second look at an outcome value or a study estimate held "awaiting check"
(``studies.services.plausibility``).

A second team member — a manager, or an extractor other than the one who entered it (asked through
``studies.access``) — confirms the held numbers or corrects them. Either way the row's confirmed
numbers, which the published analysis reads, become the checked ones in the same transaction that
moves the review's data version, so the automatic recompute runs once it commits. The change is
recorded in the audit trail (both models are tracked by pghistory), with who checked it and when.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from studies import access
from studies.models import CHECKED_ESTIMATE_NUMBERS, CheckState, DataType, OutcomeData, StudyEstimate
from studies.services.entities import review_data_version_bump


def _held_row(row_id: int, user, model=OutcomeData):
    """The row (an OutcomeData or a StudyEstimate), locked; refuses a row that is not held and a
    person who may not check it."""
    row = model.objects.select_for_update(of=("self",)).select_related("study", *model.checked_place).get(pk=row_id)
    access.require_value_checker(user, row.study.review_id, row.entered_by_id)
    if row.check_state != CheckState.AWAITING_CHECK:
        raise ValidationError("This value is not awaiting a check: someone may have confirmed or corrected it "
                              "already.")
    return row


def _as_seen(row, seen: Mapping[str, object] | None) -> None:
    """Refuse to confirm numbers other than the ones the checker was shown (``seen``, by name), or an
    entry moved since (``seen`` also names where it was: the ids of ``row.checked_place``, null for
    none): whoever entered it may have changed it, and a confirm approves what was looked at, not
    what is there."""
    if not seen:
        return
    moved = [name for name in row.checked_place
             if name in seen and str(seen[name] or "") != str(getattr(row, f"{name}_id") or "")]
    if moved:
        raise ValidationError(f"The entry was moved (its {', '.join(name.replace('_', ' ') for name in moved)}) after "
                              "you looked at it; look at it again before confirming or correcting it.")
    changed = []
    for name in row.checked_numbers:
        if name not in seen:
            continue
        shown, now = seen[name], getattr(row, name)
        try:
            same = (shown in (None, "") and now is None) or (now is not None and float(shown) == float(now))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            same = False
        if not same:
            changed.append(f"{name} {shown if shown not in (None, '') else '—'} → {'—' if now is None else f'{now:.15g}'}")
    if changed:
        raise ValidationError("The entry changed after you looked at it (" + ", ".join(changed)
                              + "); look at it again before confirming or correcting it.")


def _store_checked(row, user):
    for name in row.checked_numbers:
        setattr(row, f"confirmed_{name}", getattr(row, name))
    row.check_state, row.checked_by, row.checked_at = CheckState.CONFIRMED, user, timezone.now()
    row.save()
    review_data_version_bump(review_ids=[row.study.review_id])
    return row


@transaction.atomic
def outcome_value_confirm(*, row_id: int, user, seen: Mapping[str, object] | None = None) -> OutcomeData:
    """Confirm a held value as entered: the published analysis uses it from the next recompute.
    ``seen``: the numbers the checker was shown, by name; the confirm is refused if they changed.

    Raises ``PermissionDenied`` for the person who entered it or anyone without a manager or extractor
    role, ``ValidationError`` if it is no longer held or no longer what was seen.
    """
    row = _held_row(row_id, user)
    _as_seen(row, seen)
    return _store_checked(row, user)


@transaction.atomic
def outcome_value_correct(*, row_id: int, user, values: Mapping[str, object],
                          seen: Mapping[str, object] | None = None) -> OutcomeData:
    """Correct a held value: the checker's numbers replace the entered ones and are confirmed.

    ``values`` holds the numbers of the outcome's data type (n, mean, SD or events, total); numbers
    not given keep their entered value. The correction is refused, field by field, if impossible
    (``OutcomeData.clean``); it is not held again, since it is itself the second look. ``seen``: as
    for a confirm (the numbers not corrected, and the place, as the checker saw them).
    """
    row = _held_row(row_id, user)
    _as_seen(row, seen)
    allowed = ("n", "mean", "sd") if row.outcome.data_type == DataType.CONTINUOUS else ("events", "total")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValidationError({name: f"{row.outcome} is {row.outcome.get_data_type_display().split(' ')[0].lower()}:"
                                     f" {name} cannot be given." for name in unknown})
    _corrected(row, values, allowed, whole=("n", "events", "total"))
    return _store_checked(row, user)


@transaction.atomic
def study_estimate_confirm(*, row_id: int, user, seen: Mapping[str, object] | None = None) -> StudyEstimate:
    """Confirm a held study estimate as entered (the same people, ``seen`` and refusals as
    ``outcome_value_confirm``)."""
    row = _held_row(row_id, user, StudyEstimate)
    _as_seen(row, seen)
    return _store_checked(row, user)


@transaction.atomic
def study_estimate_correct(*, row_id: int, user, values: Mapping[str, object],
                           seen: Mapping[str, object] | None = None) -> StudyEstimate:
    """Correct a held study estimate: ``values`` may hold ``estimate``, ``se``, ``n_intervention`` and
    ``n_control`` (one not given keeps its entered value); the correction is confirmed, and refused
    field by field if impossible. ``seen`` as for a confirm."""
    row = _held_row(row_id, user, StudyEstimate)
    _as_seen(row, seen)
    unknown = sorted(set(values) - set(CHECKED_ESTIMATE_NUMBERS))
    if unknown:
        raise ValidationError({name: f"A study estimate has an estimate, an SE and group sizes: {name} cannot be given."
                               for name in unknown})
    _corrected(row, values, CHECKED_ESTIMATE_NUMBERS, whole=("n_intervention", "n_control"))
    return _store_checked(row, user)


def _corrected(row, values: Mapping[str, object], allowed, *, whole) -> None:
    """Set the checker's numbers on ``row`` (those given, of ``allowed``; ``whole`` ones as integers)
    and validate it; every refusal names its field (and the caller saves nothing)."""
    errors: dict[str, str] = {}
    for name in allowed:
        if name not in values or values[name] in (None, ""):
            continue
        raw = values[name]
        try:
            number = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            errors[name] = f"{name}: enter a number (got {raw!r})."
            continue
        if not math.isfinite(number):
            errors[name] = f"{name}: enter a finite number (got {raw!r})."
            continue
        if name in whole:
            if number != int(number):
                errors[name] = f"{name}: enter a whole number (got {raw!r})."
                continue
            number = int(number)
        setattr(row, name, number)
    if errors:
        raise ValidationError(errors)
    row.full_clean()
