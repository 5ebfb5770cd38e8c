"""batch_to_dicts: the payloads of a whole batch, formatted from its arrays.

Each payload must equal ``result_to_dict(batch.analysis(i), ...)`` exactly — the same
keys in the same order, the same types and bit-identical floats, ``None`` where the
scalar path has ``None`` — over randomised batches covering every measure, pooling
method, τ² estimator, HKSJ, model rule, subgroups and cumulative order, analyses
with k = 0, 1, 2 and more, and studies that are not estimable (double zeros, all
events, zero variance, invalid input).
"""

import json
import math

import numpy as np
import pytest

from analysis.engine import (
    AnalysisOptions,
    BatchResult,
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
    analyse_batch,
    batch_to_dicts,
    result_to_dict,
)

# Analysis sizes of every batch (shuffled): k = 0 (no rows), 1, 2, 3 and larger. Some
# analyses also lose rows to non-estimable studies, so smaller estimable k occur too.
SIZES = [0, 1, 2, 2, 3, 5, 9, 17]


def _continuous(rng: np.random.Generator, n: int, special: np.ndarray) -> ContinuousArms:
    n1, n2 = rng.integers(2, 300, n).astype(float), rng.integers(2, 300, n).astype(float)
    mean1, mean2 = rng.normal(10.0, 3.0, n), rng.normal(10.5, 3.0, n)
    sd1, sd2 = rng.uniform(0.5, 6.0, n), rng.uniform(0.5, 6.0, n)
    sd1[special[0]] = sd2[special[0]] = 0.0  # zero variance
    n1[special[1]] = 0.0  # invalid
    mean2[special[2]] = math.nan  # missing
    mean1[special[3]] = mean2[special[3]]  # effect exactly 0: favours neither
    sd1[special[4]] *= 1e-3  # a dominant study
    n1[special[5]] = n2[special[5]] = 2.0
    return ContinuousArms(n1, mean1, sd1, n2, mean2, sd2)


def _dichotomous(rng: np.random.Generator, n: int, special: np.ndarray) -> DichotomousArms:
    total1, total2 = rng.integers(5, 400, n).astype(float), rng.integers(5, 400, n).astype(float)
    risk = rng.uniform(0.02, 0.6, n)
    events1 = rng.binomial(total1.astype(int), np.clip(risk * rng.uniform(0.5, 1.5, n), 0, 1))
    events2 = rng.binomial(total2.astype(int), risk).astype(float)
    events1 = events1.astype(float)
    events1[special[0]] = events2[special[0]] = 0.0  # double zero
    events1[special[1]] = 0.0  # single zero cell: corrected
    events1[special[2]], events2[special[2]] = total1[special[2]], total2[special[2]]  # all events
    events1[special[3]] = total1[special[3]] + 1.0  # invalid: events > total
    events2[special[4]] = 0.0
    events1[special[5]], total1[special[5]] = events2[special[5]], total2[special[5]]  # null
    return DichotomousArms(events1, total1, events2, total2)


def _generic(rng: np.random.Generator, n: int, special: np.ndarray) -> GenericEstimates:
    effect, se = rng.normal(0.2, 0.5, n), rng.uniform(0.05, 1.0, n)
    se[special[0]] = 0.0  # zero variance
    effect[special[1]] = 0.0  # favours neither
    return GenericEstimates(effect, se)


DATA = {"MD": _continuous, "SMD": _continuous, "SMD_EXACT": _continuous,
        "OR": _dichotomous, "RR": _dichotomous, "RD": _dichotomous, "GENERIC": _generic}

# (measure, method, tau2_method, hksj, model_rule, subgroups, order)
CASES = [
    ("SMD", "IV", "DL", False, "auto", True, True),
    ("SMD", "IV", "REML", True, "random", False, True),
    ("SMD", "IV", "PM", False, "fixed", True, False),
    ("SMD_EXACT", "IV", "REML", False, "auto", False, False),
    ("MD", "IV", "DL", True, "auto", True, False),
    ("MD", "IV", "PM", True, "random", False, True),
    ("MD", "IV", "REML", False, "auto", True, True),
    ("OR", "MH", "DL", False, "auto", True, True),
    ("OR", "MH", "REML", True, "random", False, False),
    ("OR", "IV", "PM", False, "auto", False, True),
    ("OR", "IV", "DL", True, "fixed", True, False),
    ("RR", "MH", "PM", False, "auto", False, True),
    ("RR", "MH", "DL", True, "random", True, False),
    ("RR", "IV", "REML", False, "auto", True, True),
    ("RD", "MH", "DL", False, "auto", True, True),
    ("RD", "MH", "REML", True, "auto", False, False),
    ("RD", "IV", "PM", True, "random", True, True),
    ("GENERIC", "IV", "REML", True, "auto", True, True),
]


def _batch(case, seed: int, **option_overrides) -> tuple[BatchResult, list[str], list[str] | None]:
    measure, method, tau2, hksj, rule, with_subgroups, with_order = case
    rng = np.random.default_rng(seed)
    sizes = rng.permutation(SIZES)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(ids)  # rows of an analysis need not be contiguous
    n = len(ids)
    # One analysis id past the last with rows: an analysis without any row.
    n_analyses = len(sizes) + 1
    options = AnalysisOptions(measure=measure, method=method, tau2_method=tau2, hksj=hksj,
                              model_rule=rule, **option_overrides)
    subgroup = rng.choice([0, 2, 3], n) if with_subgroups else None  # key 1 never used
    order = rng.integers(1995, 2003, n).astype(float) if with_order else None  # with ties
    directions = rng.choice(["higher", "lower"], n_analyses).tolist()
    # Non-estimable and other special studies go to analyses of 3 or more rows, so
    # that the analyses of 1 and 2 rows keep k = 1 and 2.
    eligible = np.flatnonzero(np.isin(ids, np.flatnonzero(sizes >= 3)))
    special = rng.choice(eligible, size=6, replace=False)
    data = DATA[measure](rng, n, special)
    batch = analyse_batch(data, ids, options=options, n_analyses=n_analyses,
                          subgroup=subgroup, order=order, directions=directions)
    labels = [f"Study {i} ({seed})" for i in range(n)]
    subgroup_labels = None
    if with_subgroups and seed % 2:
        subgroup_labels = ["Adults", "Unused", "Children", "Not reported"]
    return batch, labels, subgroup_labels


def _assert_identical(fast: list[dict], slow: list[dict]) -> None:
    assert len(fast) == len(slow)
    for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert a == b, f"analysis {i} differs"
        # Key order, int/float/bool types and float bits (repr round-trips) too; and
        # the JSON contract: no NaN or infinity anywhere (they must be None).
        assert json.dumps(a, allow_nan=False) == json.dumps(b, allow_nan=False), (
            f"analysis {i} differs in key order or number types"
        )


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_batch_to_dicts_equals_result_to_dict_of_every_analysis(case, seed):
    batch, labels, subgroup_labels = _batch(case, seed)
    slow = [result_to_dict(batch.analysis(i), labels, subgroup_labels)
            for i in range(batch.n_analyses)]
    _assert_identical(batch_to_dicts(batch, labels, subgroup_labels), slow)

    # The cases really cover what they claim.
    ks = [payload["fixed"]["k"] for payload in slow]
    assert {0, 1, 2} <= set(ks) and max(ks) >= 9
    statuses = {study["status"] for payload in slow for study in payload["studies"]}
    assert "estimable" in statuses and len(statuses) >= 2
    assert all((payload["cumulative"] is None) != case[6] for payload in slow)
    assert any(payload["subgroups"] for payload in slow) == case[5]


@pytest.mark.parametrize("case", [CASES[1], CASES[7], CASES[15]],
                         ids=lambda c: "-".join(map(str, c)))
def test_batch_to_dicts_with_non_converged_tau2_warnings(case):
    measure, method, _, hksj, rule, subgroups, order = case
    batch, labels, subgroup_labels = _batch(
        (measure, method, "REML", hksj, rule, subgroups, order), seed=3, max_iter=1)
    slow = [result_to_dict(batch.analysis(i), labels, subgroup_labels)
            for i in range(batch.n_analyses)]
    assert any("did not converge" in w for payload in slow for w in payload["warnings"])
    _assert_identical(batch_to_dicts(batch, labels, subgroup_labels), slow)


def test_double_zero_studies_are_reported_identically():
    data = DichotomousArms([0, 3, 0, 7, 0], [20, 25, 30, 40, 10],
                           [0, 5, 2, 9, 0], [22, 24, 31, 38, 10])
    for measure in ("OR", "RR", "RD"):
        for method in ("MH", "IV"):
            batch = analyse_batch(data, [0, 0, 1, 1, 2],
                                  options=AnalysisOptions(measure=measure, method=method),
                                  order=[2001, 1999, 2003, 2003, 2000])
            labels = list("ABCDE")
            fast = batch_to_dicts(batch, labels)
            _assert_identical(fast, [result_to_dict(batch.analysis(i), labels)
                                     for i in range(3)])
            studies = fast[0]["studies"] + fast[2]["studies"]
            expected = "estimable" if measure == "RD" else "no_events"
            assert [s["status"] for s in studies if s["study"] in "AE"] == [expected] * 2


def test_payloads_share_no_mutable_objects():
    """The living pipeline edits payloads in place (pops keys, adds arms)."""
    batch, labels, subgroup_labels = _batch(CASES[0], seed=5)
    payloads = batch_to_dicts(batch, labels, subgroup_labels)
    seen: set[int] = set()

    def walk(value) -> None:
        if isinstance(value, (dict, list)):
            assert id(value) not in seen
            seen.add(id(value))
            for item in (value.values() if isinstance(value, dict) else value):
                walk(item)

    walk(payloads)


def test_empty_batch():
    batch = analyse_batch(GenericEstimates([], []), [], options=AnalysisOptions("GENERIC"),
                          n_analyses=2)
    expected = [result_to_dict(batch.analysis(i), []) for i in range(2)]
    _assert_identical(batch_to_dicts(batch, []), expected)
    assert expected[0]["studies"] == [] and expected[0]["fixed"]["estimate"] is None
