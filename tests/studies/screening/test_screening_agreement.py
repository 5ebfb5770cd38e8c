"""Agreement coefficients against published worked examples, and κ's standard error against an
independent implementation (statsmodels)."""
import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa
import pytest

from studies.agreement import agreement, cohen_kappa, gwet_ac1, pabak

# Cohen (1960), Educ. Psychol. Meas. 20:37–46, Table 1: 200 items, three categories, counts from the
# published proportions. p_o = .70, p_e = .41, κ = .492.
COHEN_1960 = [[88, 14, 18], [10, 40, 10], [2, 6, 12]]
# Feinstein & Cicchetti (1990), J. Clin. Epidemiol. 43:543–549, Table: two 2 × 2 tables with the same
# p_o = .85 and very different κ (.70 and .32), the "first paradox" Gwet (2008) uses to motivate AC1.
BALANCED = [[40, 9], [6, 45]]
SKEWED = [[80, 10], [5, 5]]


def test_cohen_1960_worked_example():
    result = agreement(COHEN_1960)
    assert result.n == 200
    assert result.percent_agreement == pytest.approx(70.0)
    assert result.kappa == pytest.approx(0.29 / 0.59)  # (.70 − .41) / (1 − .41)
    assert round(result.kappa, 3) == 0.492


def test_feinstein_cicchetti_paradox_kappa_and_gwet_ac1():
    balanced, skewed = agreement(BALANCED), agreement(SKEWED)
    assert balanced.percent_agreement == pytest.approx(85) == skewed.percent_agreement
    assert round(balanced.kappa, 2) == 0.70 and round(skewed.kappa, 2) == 0.32
    # PABAK depends on p_o only: 2 × .85 − 1.
    assert balanced.pabak == pytest.approx(0.70) and skewed.pabak == pytest.approx(0.70)
    # AC1 by hand from Gwet (2008) eq. 14 for the skewed table: π₁ = (.90 + .85)/2 = .875,
    # p_e = 2 × .875 × .125 = .21875, AC1 = (.85 − .21875)/(1 − .21875) = .808. It stays near p_o
    # where κ collapses: the point of the coefficient.
    assert skewed.ac1 == pytest.approx((0.85 - 0.21875) / (1 - 0.21875))
    assert round(skewed.ac1, 3) == 0.808
    # Balanced table: π₁ = (.49 + .46)/2 = .475, p_e = 2 × .475 × .525 = .49875.
    assert balanced.ac1 == pytest.approx((0.85 - 0.49875) / (1 - 0.49875))


@pytest.mark.parametrize("seed", range(8))
def test_kappa_and_its_fleiss_cohen_everitt_se_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    table = rng.integers(0, 40, size=(k, k)) + np.diag(rng.integers(10, 80, size=k))
    kappa, se = cohen_kappa(table)
    reference = statsmodels_kappa(table)
    assert kappa == pytest.approx(reference.kappa, rel=1e-12)
    assert se == pytest.approx(reference.std_kappa, rel=1e-10)
    result = agreement(table, level=0.95)
    assert result.kappa_ci_low == pytest.approx(kappa - 1.959964 * se, rel=1e-6)
    assert pabak(table) == pytest.approx((k * np.trace(table) / table.sum() - 1) / (k - 1))


def test_undefined_cases_are_none_not_errors():
    assert agreement([[0, 0], [0, 0]]).kappa is None
    assert cohen_kappa([[25, 0], [0, 0]]) == (None, None)  # both used one category: p_e = 1
    assert gwet_ac1([[25, 0], [0, 0]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="square"):
        agreement([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="non-negative"):
        agreement([[1, -2], [3, 4]])
