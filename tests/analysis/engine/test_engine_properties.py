"""Properties any correct meta-analysis must have, checked on random data (Hypothesis)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.engine import (
    AnalysisOptions,
    ContinuousArms,
    DichotomousArms,
    GenericEstimates,
    analyse,
)

# derandomize + no example database: reproducible, and nothing written to the work tree.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)
TAU2_METHODS = st.sampled_from(["DL", "REML", "PM"])

generic_studies = st.integers(min_value=2, max_value=12).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-5, 5), min_size=k, max_size=k),
        st.lists(st.floats(0.05, 3.0), min_size=k, max_size=k),
    )
)
continuous_studies = st.integers(min_value=2, max_value=10).flatmap(
    lambda k: st.lists(
        st.tuples(st.integers(2, 400), st.floats(-50, 50), st.floats(0.5, 30),
                  st.integers(2, 400), st.floats(-50, 50), st.floats(0.5, 30)),
        min_size=k, max_size=k,
    )
)
dichotomous_studies = st.integers(min_value=2, max_value=10).flatmap(
    lambda k: st.lists(
        st.tuples(st.integers(1, 300), st.integers(1, 300)).flatmap(
            lambda n: st.tuples(st.integers(0, n[0]), st.just(n[0]),
                                st.integers(0, n[1]), st.just(n[1]))
        ),
        min_size=k, max_size=k,
    )
)


def _same(a, b, rel=1e-9):
    return a == pytest.approx(b, rel=rel, abs=1e-12, nan_ok=True)


def _pooled_numbers(pooled):
    return [pooled.fixed.estimate, pooled.fixed.se, pooled.random.estimate, pooled.random.se,
            pooled.heterogeneity.q, pooled.heterogeneity.i2, pooled.heterogeneity.tau2,
            pooled.random.prediction_low]


@SETTINGS
@given(generic_studies, TAU2_METHODS, st.booleans(), st.randoms(use_true_random=False))
def test_permuting_studies_changes_nothing(studies, method, hksj, rnd):
    effect, se = map(np.array, studies)
    order = list(range(len(effect)))
    rnd.shuffle(order)
    options = AnalysisOptions(measure="GENERIC", tau2_method=method, hksj=hksj)
    a = analyse(GenericEstimates(effect, se), options=options).overall
    b = analyse(GenericEstimates(effect[order], se[order]), options=options).overall
    for x, y in zip(_pooled_numbers(a), _pooled_numbers(b)):
        assert _same(x, y, rel=1e-7)


@SETTINGS
@given(continuous_studies, st.sampled_from(["MD", "SMD", "SMD_EXACT"]))
def test_swapping_arms_flips_the_sign_of_continuous_effects(rows, measure):
    n1, m1, s1, n2, m2, s2 = map(list, zip(*rows))
    options = AnalysisOptions(measure=measure)
    a = analyse(ContinuousArms(n1, m1, s1, n2, m2, s2), options=options)
    b = analyse(ContinuousArms(n2, m2, s2, n1, m1, s1), options=options)
    assert _same(a.overall.random.estimate, -b.overall.random.estimate)
    assert _same(a.overall.fixed.estimate, -b.overall.fixed.estimate)
    assert _same(a.overall.heterogeneity.q, b.overall.heterogeneity.q)
    assert _same(a.overall.random.ci_low, -b.overall.random.ci_high)


@SETTINGS
@given(dichotomous_studies, st.sampled_from(["OR", "RR", "RD"]), st.sampled_from(["IV", "MH"]))
def test_swapping_arms_flips_the_sign_of_dichotomous_effects(rows, measure, method):
    a1, n1, a2, n2 = map(list, zip(*rows))
    options = AnalysisOptions(measure=measure, method=method)
    a = analyse(DichotomousArms(a1, n1, a2, n2), options=options)
    b = analyse(DichotomousArms(a2, n2, a1, n1), options=options)
    assert a.overall.k == b.overall.k
    if a.overall.k == 0:
        return
    assert _same(a.overall.fixed.estimate, -b.overall.fixed.estimate)
    assert _same(a.overall.fixed.se, b.overall.fixed.se)
    assert _same(a.overall.random.estimate, -b.overall.random.estimate)


@SETTINGS
@given(st.floats(-10, 10), st.floats(1e-3, 10), TAU2_METHODS)
def test_one_study_pools_to_itself(effect, se, method):
    pooled = analyse(GenericEstimates([effect], [se]),
                     options=AnalysisOptions(measure="GENERIC", tau2_method=method)).overall
    for estimate in (pooled.fixed, pooled.random):
        assert _same(estimate.estimate, effect, rel=1e-15)  # w·θ/w: at most an ulp
        assert _same(estimate.se, se, rel=1e-15)


@SETTINGS
@given(generic_studies, TAU2_METHODS)
def test_tau2_is_never_negative_and_i2_is_a_percentage(studies, method):
    effect, se = studies
    pooled = analyse(GenericEstimates(effect, se),
                     options=AnalysisOptions(measure="GENERIC", tau2_method=method)).overall
    assert pooled.heterogeneity.tau2 >= 0.0
    assert 0.0 <= pooled.heterogeneity.i2 < 100.0
    assert pooled.heterogeneity.tau2_converged
    assert math.isfinite(pooled.random.estimate)


@SETTINGS
@given(generic_studies, st.floats(0.05, 3.0))
def test_adding_a_study_at_the_fixed_estimate_never_raises_q(studies, new_se):
    effect, se = studies
    options = AnalysisOptions(measure="GENERIC")
    before = analyse(GenericEstimates(effect, se), options=options).overall
    after = analyse(GenericEstimates(effect + [before.fixed.estimate], se + [new_se]),
                    options=options).overall
    assert after.heterogeneity.q <= before.heterogeneity.q * (1 + 1e-9) + 1e-12
    assert after.heterogeneity.i2 <= before.heterogeneity.i2 + 1e-9


@SETTINGS
@given(generic_studies, st.floats(1e-3, 1e3), TAU2_METHODS)
def test_rescaling_effects_rescales_estimates_and_tau2(studies, scale, method):
    effect, se = map(np.array, studies)
    options = AnalysisOptions(measure="GENERIC", tau2_method=method)
    a = analyse(GenericEstimates(effect, se), options=options).overall
    b = analyse(GenericEstimates(effect * scale, se * scale), options=options).overall
    assert _same(b.random.estimate, a.random.estimate * scale, rel=1e-7)
    assert _same(b.heterogeneity.tau2, a.heterogeneity.tau2 * scale**2, rel=1e-7)
    assert _same(b.heterogeneity.q, a.heterogeneity.q, rel=1e-9)
