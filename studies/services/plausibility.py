"""Plausibility at entry: the soft rules that hold an outcome value "awaiting check".

Impossible values (SD ≤ 0, n < 1, events < 0 or above the total, n above the arm's randomised number,
a mean outside the outcome's scale or outside its own CI) are refused by ``OutcomeData.clean()``,
which every door runs before a save. Values that are possible but implausible are saved and *held*:
the published analysis keeps the row's last confirmed numbers (or leaves a new row out) until a second
team member confirms or corrects them (``studies.services.value_checks``). The rules:

- an SD more than 5× or less than 1/5 of the median SD of the other studies (same outcome and time point);
- an SD that looks like a standard error: SD·√n close to the other studies' median SD;
- an SD larger than the range of the outcome's scale;
- a number changed more than tenfold from its confirmed value;
- a study whose effect lies far from all the others: studentized deleted residual |z| > 3.5
  (``analysis.engine.outliers``, as metafor's ``rstudent``).

Study estimates (generic inverse variance, ``study_estimate_hold``) are held by the rules an estimate
and its SE allow:

- an SE far from the others once the study's size is taken out: SE·√N (N its two groups' total, when
  given) more than 5× or less than 1/5 of the other studies' median SE·√N;
- an SE or a group size changed more than tenfold from its confirmed value (the estimate itself is
  not compared fold-wise: a log ratio or a difference near 0 may move by any factor);
- with no group sizes, an SE below 1/25 of every other study's (a study some 625 times larger);
- an SE too small to weigh (below ``analysis.engine.MIN_WEIGHABLE_SE``, which the analysis leaves
  out as zero variance);
- an estimate far from all the others: studentized deleted residual |z| > 3.5, as for arm data.

The other studies are read as confirmed (what the analysis uses); the studies being entered as entered,
so a study whose two arms change in one save is judged as a whole, and rows created in bulk (an
import, the demo) are judged against each other. Each flag is a sentence saying why,
with the numbers.

Every save of an outcome value or a study estimate, whichever door (extraction page, API, admin,
commands, bulk creates), passes here from ``studies.services.entities``, which stores it.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q

from analysis.engine.arms import combine_continuous_groups, combine_dichotomous_groups
from analysis.engine.effect_sizes import MIN_WEIGHABLE_SE, ContinuousArms, DichotomousArms, study_effects
from analysis.engine.options import Measure
from analysis.engine.outliers import studentized_deleted_residuals
from studies.models import (
    CHECKED_ESTIMATE_NUMBERS,
    CHECKED_NUMBERS,
    ArmRole,
    CheckState,
    DataType,
    Outcome,
    OutcomeData,
    StudyEstimate,
    ValueType,
)

# Thresholds of the soft rules (issue 20).
SD_RATIO_LIMIT = 5.0
CHANGE_RATIO_LIMIT = 10.0
OUTLIER_Z_LIMIT = 3.5
# An estimate's SE below this fraction of every other study's, when no group sizes are given.
SE_BELOW_OTHERS_LIMIT = SD_RATIO_LIMIT ** 2
# SD·√n within 30% of the others' median, while the SD itself is under half of it: an SE typed as the SD.
SE_PATTERN_TOLERANCE = 0.3
# A median of fewer studies says too little about what an SD should be; the leave-one-out fit needs 3
# other studies to estimate a spread at all.
MIN_STUDIES_FOR_MEDIAN_SD = 2
MIN_STUDIES_FOR_OUTLIER = 3

_LABELS = {"n": "n", "mean": "Mean", "sd": "SD", "events": "Events", "total": "Total"}


def _times(ratio: float) -> str:
    """A ratio as a reader says it: 1017, 12, 6.3."""
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"


@dataclass(frozen=True)
class Flag:
    """Why an entry is held: the rule, the field it is about and a sentence with the numbers."""

    rule: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "field": self.field, "message": self.message}


def _entered(row: OutcomeData) -> tuple:
    return tuple(getattr(row, name) for name in CHECKED_NUMBERS)


def _key(row) -> tuple[int, int, int]:
    return (row.outcome_id, row.time_point_id, row.arm_id)


@dataclass(frozen=True)
class _Stored:
    """One stored row (an outcome value or a study estimate) of an outcome × time point, as the rules
    read it."""

    pk: int
    study_id: int
    outcome_id: int
    time_point_id: int
    role: str | None  # the arm's role; None for a study estimate
    entered: tuple  # the model's checked numbers as entered
    confirmed: tuple  # and as last confirmed
    counts: bool  # its study is included and the row is analysed
    check_state: str
    check_flags: list
    entered_by_id: int | None
    checked_by_id: int | None
    checked_at: object


def _stored_rows(model, rows: Sequence) -> tuple[dict[tuple[int, int], list[_Stored]], dict[int, _Stored]]:
    """For rows of ``model`` (OutcomeData or StudyEstimate) about to be saved: the other stored rows
    of their outcomes × time points (the rows being saved count with their new numbers, from the
    caller), and the stored copy of each row being saved by its key, wherever it was (an edit may
    move it to another outcome or time point). The rows being changed are locked first (in one
    order), then read: a confirm committed meanwhile is seen, so its confirmed numbers are kept,
    never overwritten by a stale copy. One query to lock, one to read."""
    saving = [r.pk for r in rows if r.pk is not None]
    list(model.objects.select_for_update().filter(pk__in=saving).order_by("pk").values_list("pk", flat=True))
    condition = Q(pk__in=saving)
    for outcome_id, time_point_id in {(r.outcome_id, r.time_point_id) for r in rows}:
        condition |= Q(outcome_id=outcome_id, time_point_id=time_point_id)
    names = model.checked_numbers
    confirmed = [f"confirmed_{name}" for name in names]
    role = ("arm__role",) if model is OutcomeData else ()
    grouped: dict[tuple[int, int], list[_Stored]] = defaultdict(list)
    by_key: dict[int, _Stored] = {}
    for values in model.objects.filter(condition).values(
            "pk", "outcome_id", "time_point_id", "study_id", *role, "study__is_included", "include_in_analysis",
            "check_state", "check_flags", "entered_by_id", "checked_by_id", "checked_at", *names, *confirmed):
        stored = _Stored(
            values["pk"], values["study_id"], values["outcome_id"], values["time_point_id"], values.get("arm__role"),
            tuple(values[n] for n in names), tuple(values[n] for n in confirmed),
            values["study__is_included"] and values["include_in_analysis"], values["check_state"],
            values["check_flags"], values["entered_by_id"], values["checked_by_id"], values["checked_at"])
        if stored.pk in saving:
            by_key[stored.pk] = stored
        else:
            grouped[(values["outcome_id"], values["time_point_id"])].append(stored)
    return grouped, by_key


def outcome_data_hold(*, rows: Sequence[OutcomeData], user=None, along: Sequence[OutcomeData] = ()) -> None:
    """Decide, for outcome values about to be saved, whether each is confirmed or held "awaiting check".

    Sets on each (unsaved) row its check state, flags, who entered it, and the confirmed numbers,
    which come from the database, never from the caller: only a confirm or a correction moves them
    (``studies.services.value_checks``). ``along`` are other rows saved in the same operation (a
    study's other arms): the rules read their new numbers. Rows must have passed ``full_clean()``.
    """
    if not rows:
        return
    stored, stored_by_key = _stored_rows(OutcomeData, rows)
    pending: dict[tuple[int, int], dict[tuple, OutcomeData]] = defaultdict(dict)
    for r in (*along, *rows):
        pending[(r.outcome_id, r.time_point_id)][_key(r)] = r
    contexts: dict[tuple[int, int], _Context] = {}
    entered_by_id = user.pk if user is not None and user.is_authenticated else None
    for row in rows:
        before = stored_by_key.get(row.pk) if row.pk is not None else None
        pair = (row.outcome_id, row.time_point_id)
        numbers = _entered(row)
        if _settled_before_rules(row, before, pair, numbers, CHECKED_NUMBERS, entered_by_id):
            continue
        if pair not in contexts:
            contexts[pair] = _context(row.outcome, stored.get(pair, []), list(pending[pair].values()))
        previous = before.confirmed if before is not None else None
        _decide(row, before, pair, numbers, CHECKED_NUMBERS,
                outcome_data_flags(row=row, context=contexts[pair], previous=previous))


def _moved(before: _Stored | None, pair: tuple[int, int]) -> bool:
    """The row's stored copy sat at another outcome or time point (an edit moves it)."""
    return before is not None and (before.outcome_id, before.time_point_id) != pair


def _settled_before_rules(row, before, pair, numbers: tuple, names: Sequence[str], entered_by_id) -> bool:
    """What a row's stored copy (``before``: None for a new row) settles before any rule runs: its
    confirmed numbers travel with it, and an edit that leaves its numbers as they were (a note, a
    provenance) keeps the check as it was. True when nothing is left for the rules to judge."""
    confirmed = before.confirmed if before is not None else (None,) * len(names)
    for name, value in zip(names, confirmed, strict=True):
        setattr(row, f"confirmed_{name}", value)
    moved = _moved(before, pair)
    if before is not None and numbers == before.entered and not moved:
        # Whoever edited the note does not become the person who entered the numbers.
        row.check_state, row.check_flags = before.check_state, before.check_flags
        row.entered_by_id, row.checked_by_id, row.checked_at = (
            before.entered_by_id, before.checked_by_id, before.checked_at)
        return True
    row.entered_by_id = before.entered_by_id if before is not None and numbers == before.entered else entered_by_id
    row.checked_by, row.checked_at = None, None
    if numbers == confirmed and not moved:  # back to what the analysis already uses
        row.check_state, row.check_flags = CheckState.CONFIRMED, []
        return True
    return False


def _decide(row, before, pair, numbers: tuple, names: Sequence[str], flags: list[Flag]) -> None:
    """Hold the row with ``flags`` or confirm its numbers. A row moved to another outcome or time point
    is judged where it lands, as an entry new there: held (with the flags it was held for before, if
    any), it is out of the analysis until checked; its numbers were confirmed for another place."""
    moved = _moved(before, pair)
    held_for = [f.as_dict() for f in flags]
    if moved and before.check_state == CheckState.AWAITING_CHECK:
        held_for += [f for f in before.check_flags if f not in held_for]
    if held_for:
        row.check_state, row.check_flags = CheckState.AWAITING_CHECK, held_for
        if moved:
            for name in names:
                setattr(row, f"confirmed_{name}", None)
    else:
        row.check_state, row.check_flags = CheckState.CONFIRMED, []
        for name, value in zip(names, numbers, strict=True):
            setattr(row, f"confirmed_{name}", value)


@dataclass(frozen=True)
class _Context:
    """One outcome × time point as the rules read it: each study's arm numbers (entered for the studies
    being saved, confirmed for the others, which is what the analysis uses) and each study's
    studentized deleted residual, computed once for all the rows saved together."""

    sds: tuple[tuple[int, float], ...]  # (study id, SD) per continuous arm
    residuals: dict[int, tuple[float, float]]  # study id → (z, effect on the analysis scale)
    k: int  # studies with an effect


def _context(outcome: Outcome, stored: list[_Stored], pending: list[OutcomeData]) -> _Context:
    entering = {p.study_id for p in pending}
    arm_numbers: dict[object, tuple[int, str, tuple]] = {}
    for s in stored:
        if s.study_id in entering:
            arm_numbers[s.pk] = (s.study_id, s.role, s.entered)
        elif s.counts and s.confirmed != (None,) * len(CHECKED_NUMBERS):
            arm_numbers[s.pk] = (s.study_id, s.role, s.confirmed)
    for p in pending:
        arm_numbers[p.pk if p.pk is not None else -id(p)] = (p.study_id, p.arm.role, _entered(p))
    arms: dict[int, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    for study_id, role, numbers in arm_numbers.values():
        arms[study_id][role].append(numbers)
    sds = tuple((study_id, numbers[2]) for study_id, _, numbers in arm_numbers.values() if numbers[2] is not None)
    ids, y, v = _effects(outcome, arms)
    residuals = {}
    if len(ids) - 1 >= MIN_STUDIES_FOR_OUTLIER:
        residuals = {study_id: (float(z), effect)
                     for study_id, z, effect in zip(ids, studentized_deleted_residuals(y, v), y, strict=True)}
    return _Context(sds, residuals, len(ids))


def _effects(outcome: Outcome, arms: dict[int, dict[str, list[tuple]]]) -> tuple[list[int], list[float], list[float]]:
    """Each study's effect and variance on the analysis scale (studies with both arms, estimable)."""
    ids, groups1, groups2 = [], [], []
    for study_id, roles in arms.items():
        intervention, control = roles.get(ArmRole.INTERVENTION), roles.get(ArmRole.CONTROL)
        if intervention and control:
            ids.append(study_id)
            groups1.append(intervention)
            groups2.append(control)
    if not ids:
        return [], [], []
    measure = Measure(outcome.effect_measure)
    if outcome.data_type == DataType.CONTINUOUS:
        one = [combine_continuous_groups([(n, m, sd) for n, m, sd, *_ in g]) for g in groups1]
        two = [combine_continuous_groups([(n, m, sd) for n, m, sd, *_ in g]) for g in groups2]
        data = ContinuousArms(*zip(*[(a[0], a[1], a[2], b[0], b[1], b[2]) for a, b in zip(one, two)]))
    else:
        one = [combine_dichotomous_groups([(e, t) for *_, e, t in g]) for g in groups1]
        two = [combine_dichotomous_groups([(e, t) for *_, e, t in g]) for g in groups2]
        data = DichotomousArms(*zip(*[(a[0], a[1], b[0], b[1]) for a, b in zip(one, two)]))
    effects = study_effects(data, measure)
    keep = [i for i, ok in enumerate(effects.estimable) if ok]
    return ([ids[i] for i in keep], [float(effects.effect[i]) for i in keep],
            [float(effects.se[i]) ** 2 for i in keep])


def outcome_data_flags(*, row: OutcomeData, context: _Context, previous: tuple | None) -> list[Flag]:
    """The soft rules for one row's new numbers (see the module's docstring). ``previous`` is the
    row's confirmed numbers, if it had any."""
    outcome = row.outcome
    flags: list[Flag] = []
    where = f"{row.study} · {row.arm.label} · {outcome}"
    if outcome.data_type == DataType.CONTINUOUS and row.sd is not None:
        others = [(study, sd) for study, sd in context.sds if study != row.study_id]
        if len({study for study, _ in others}) >= MIN_STUDIES_FOR_MEDIAN_SD:
            median = statistics.median(sd for _, sd in others)
            k = len({study for study, _ in others})
            if row.sd > SD_RATIO_LIMIT * median:
                flags.append(Flag("sd_far_from_median", "sd", (
                    f"{where}: SD {row.sd:g} is {_times(row.sd / median)} times the median SD of the other {k} "
                    f"studies ({median:.3g}); more than {SD_RATIO_LIMIT:g} times is held for a check.")))
            elif row.sd < median / SD_RATIO_LIMIT:
                flags.append(Flag("sd_far_from_median", "sd", (
                    f"{where}: SD {row.sd:g} is 1/{_times(median / row.sd)} of the median SD of the other {k} "
                    f"studies ({median:.3g}); less than 1/{SD_RATIO_LIMIT:g} is held for a check.")))
            if row.n is not None and row.n >= 4 and row.sd < median / 2 \
                    and abs(row.sd * math.sqrt(row.n) / median - 1) <= SE_PATTERN_TOLERANCE:
                flags.append(Flag("sd_looks_like_se", "sd", (
                    f"{where}: SD {row.sd:g} looks like a standard error: SD × √n = {row.sd:g} × √{row.n} = "
                    f"{row.sd * math.sqrt(row.n):.3g}, close to the median SD of the other {k} studies "
                    f"({median:.3g}).")))
        low, high = outcome.scale_min, outcome.scale_max
        if low is not None and high is not None and row.sd > high - low:
            flags.append(Flag("sd_above_scale_range", "sd", (
                f"{where}: SD {row.sd:g} is larger than the range of the scale ({low:g} to {high:g}).")))
    if previous is not None:
        for name, old, new in zip(CHECKED_NUMBERS, previous, _entered(row)):
            # A change from baseline near 0 may move by any factor without being a slip.
            if name == "mean" and row.value_type == ValueType.CHANGE:
                continue
            if old in (None, 0) or new in (None, 0):
                continue
            ratio = max(abs(new) / abs(old), abs(old) / abs(new))
            if ratio > CHANGE_RATIO_LIMIT:
                flags.append(Flag("changed_tenfold", name, (
                    f"{where}: {_LABELS[name]} changed from {old:g} to {new:g} ({_times(ratio)}-fold); more than "
                    f"{CHANGE_RATIO_LIMIT:g}-fold is held for a check, and the analysis keeps {old:g} until then.")))
    flags += _outlier_flags(row, context, where)
    return flags


def _outlier_flags(row: OutcomeData, context: _Context, where: str) -> list[Flag]:
    if row.study_id not in context.residuals:
        return []
    z, effect = context.residuals[row.study_id]
    if not abs(z) > OUTLIER_Z_LIMIT:
        return []
    outcome = row.outcome
    measure = Measure(outcome.effect_measure)
    shown = f"{measure.value} {math.exp(effect) if measure.is_ratio else effect:.2f}"
    return [Flag("outlying_study", "mean" if outcome.data_type == DataType.CONTINUOUS else "events", (
        f"{where}: the study's effect ({shown}) lies far from the other {context.k - 1} studies: studentized "
        f"deleted residual z = {z:.2f} (beyond ±{OUTLIER_Z_LIMIT:g} is held for a check)."))]


# ----------------------------------------------------------------------------------------------------
# Study estimates (generic inverse variance): the same check, with the rules an estimate, its SE and
# its group sizes allow. An SE is compared with the others' through SE·√N (N the study's total, when
# given): SEs themselves differ tenfold between a small and a large study, SE·√N should not. Without
# N, only an SE below 1/25 of every other study's is held (a study some 625 times larger). The
# estimate is never compared fold-wise (a log ratio or a difference near 0 may move by any factor);
# its distance from the other studies is the studentized deleted residual, as for arm data.
# ----------------------------------------------------------------------------------------------------


def _total(n_intervention, n_control) -> int | None:
    return n_intervention + n_control if n_intervention and n_control else None


def study_estimate_hold(*, rows: Sequence[StudyEstimate], user=None) -> None:
    """``outcome_data_hold`` for study estimates: sets each (unsaved, cleaned) row's check state,
    flags, who entered it and its confirmed numbers (from the database, never the caller). Rows saved
    together are judged against each other (an import's, the demo's)."""
    if not rows:
        return
    stored, stored_by_key = _stored_rows(StudyEstimate, rows)
    # The other studies as the analysis will read them, per outcome × time point: confirmed for the
    # stored rows, as entered for the rows saved together, (study id, estimate, SE, total N).
    others_in: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for pair, stored_rows in stored.items():
        for other in stored_rows:
            if other.counts and other.confirmed[1] is not None:
                others_in[pair].append((other.study_id, other.confirmed[0], other.confirmed[1],
                                        _total(*other.confirmed[2:])))
    for r in rows:
        if r.include_in_analysis and r.study.is_included:
            others_in[(r.outcome_id, r.time_point_id)].append(
                (r.study_id, r.estimate, r.se, _total(r.n_intervention, r.n_control)))
    entered_by_id = user.pk if user is not None and user.is_authenticated else None
    for row in rows:
        before = stored_by_key.get(row.pk) if row.pk is not None else None
        pair = (row.outcome_id, row.time_point_id)
        numbers = tuple(getattr(row, name) for name in CHECKED_ESTIMATE_NUMBERS)
        if _settled_before_rules(row, before, pair, numbers, CHECKED_ESTIMATE_NUMBERS, entered_by_id):
            continue
        # Never the study's own rows (its other subgroups, and this one).
        others = [other for other in others_in[pair] if other[0] != row.study_id]
        previous = before.confirmed if before is not None else None
        _decide(row, before, pair, numbers, CHECKED_ESTIMATE_NUMBERS,
                study_estimate_flags(row=row, others=others, previous=previous))


def study_estimate_flags(*, row: StudyEstimate, others: Sequence[tuple[int, float, float, int | None]],
                         previous: tuple | None) -> list[Flag]:
    """The soft rules for one estimate. ``others``: the other studies' analysed estimates of the
    outcome and time point, (study id, estimate, SE, total N or None), one per subgroup row;
    ``previous``: the row's confirmed numbers (CHECKED_ESTIMATE_NUMBERS), if it had any."""
    flags: list[Flag] = []
    where = f"{row.study} · {row.outcome}"
    total = _total(row.n_intervention, row.n_control)
    if row.se < MIN_WEIGHABLE_SE:
        flags.append(Flag("se_cannot_be_weighed", "se", (
            f"{where}: SE {row.se:g} is too small to weigh (its square is below the smallest normal number "
            "a computer holds); the analysis leaves the study out as zero variance. Held for a check.")))
    # The analysis leaves such a study out, and so do the rules: one infinite weight made every
    # other study's residual NaN, which silenced the outlier rule for the whole outcome.
    others = [other for other in others if other[2] >= MIN_WEIGHABLE_SE]
    # One SE·√N per other study (a study with rows in several subgroups: their median).
    scaled_by_study: dict[int, list[float]] = defaultdict(list)
    for study_id, _, se, n in others:
        if n:
            scaled_by_study[study_id].append(se * math.sqrt(n))
    scaled = [statistics.median(values) for values in scaled_by_study.values()]
    if total and len(scaled) >= MIN_STUDIES_FOR_MEDIAN_SD:
        median = statistics.median(scaled)
        mine = row.se * math.sqrt(total)
        if mine > SD_RATIO_LIMIT * median or mine < median / SD_RATIO_LIMIT:
            ratio = mine / median
            said = f"{_times(ratio)} times" if ratio > 1 else f"1/{_times(1 / ratio)} of"
            flags.append(Flag("se_far_from_median", "se", (
                f"{where}: SE {row.se:g} with {total} participants (SE × √N = {mine:.3g}) is {said} the median "
                f"SE × √N of the other {len(scaled)} studies ({median:.3g}); beyond {SD_RATIO_LIMIT:g}-fold either "
                "way is held for a check.")))
    studies_compared = len({study_id for study_id, *_ in others})
    if not total and row.se >= MIN_WEIGHABLE_SE and studies_compared >= MIN_STUDIES_FOR_MEDIAN_SD:
        # Without group sizes SE·√N cannot be formed; an SE far below every other study's would still
        # take nearly all the weight (and make the others look heterogeneous). SE scales as 1/√N, so
        # 1/25 of the smallest is a study some 625 times the largest.
        smallest = min(se for _, _, se, _ in others)
        if row.se < smallest / SE_BELOW_OTHERS_LIMIT:
            flags.append(Flag("se_far_below_others", "se", (
                f"{where}: SE {row.se:g} is 1/{_times(smallest / row.se)} of the smallest SE of the other studies "
                f"({smallest:.3g}), and no group sizes say the study is that large; below 1/{SE_BELOW_OTHERS_LIMIT:g} "
                "(a study some 625 times larger) is held for a check.")))
    if previous is not None:
        # Not the estimate: a log ratio or a difference near 0 may move by any factor without a slip.
        for name in ("se", "n_intervention", "n_control"):
            index = CHECKED_ESTIMATE_NUMBERS.index(name)
            old, new = previous[index], getattr(row, name)
            if old in (None, 0) or new in (None, 0):
                continue
            ratio = max(new / old, old / new)
            if ratio > CHANGE_RATIO_LIMIT:
                label = {"se": "SE", "n_intervention": "N (intervention)", "n_control": "N (control)"}[name]
                flags.append(Flag("changed_tenfold", name, (
                    f"{where}: {label} changed from {old:g} to {new:g} ({_times(ratio)}-fold); more than "
                    f"{CHANGE_RATIO_LIMIT:g}-fold is held for a check, and the analysis keeps {old:g} until then.")))
    if studies_compared >= MIN_STUDIES_FOR_OUTLIER and row.se >= MIN_WEIGHABLE_SE:
        y = [row.estimate, *(estimate for _, estimate, _, _ in others)]
        v = [row.se ** 2, *(se ** 2 for _, _, se, _ in others)]
        z = float(studentized_deleted_residuals(y, v)[0])
        if abs(z) > OUTLIER_Z_LIMIT:
            flags.append(Flag("outlying_study", "estimate", (
                f"{where}: the estimate {row.estimate:g} (SE {row.se:g}) lies far from the other {studies_compared} "
                f"studies: studentized deleted residual z = {z:.2f} (beyond ±{OUTLIER_Z_LIMIT:g} is held for a "
                "check).")))
    return flags
