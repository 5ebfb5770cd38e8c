"""Conversions with provenance (Cochrane Handbook 6.5.2; Wan et al. 2014; Luo et al. 2018).

Quantiles pinned from R 4.2.2: qt(0.975, 24) = 2.0638985616280254,
qt(0.975, 45) = 2.0141033888808466, qnorm(0.975) = 1.9599639845400536,
2*qnorm((50-0.375)/(50+0.25)) = 4.4866575260925607 (Wan's ξ(50)),
2*qnorm((0.75*50-0.125)/(50+0.25)) = 1.310093015453383 (Wan's η(50)),
qt(1-0.03/2, 45) = 2.2410848043955731.
"""

import math

import pytest

from analysis.engine import (
    Provenance,
    correlation_from_change,
    mean_sd_from_median,
    reported,
    sd_change_from_baseline,
    sd_from_ci,
    sd_from_difference_ci,
    sd_from_p,
    sd_from_se,
    sd_from_t,
)


def test_sd_from_se():
    result = sd_from_se(2.0, 25)
    assert result.value == 10.0
    assert result.provenance is Provenance.CALCULATED
    assert "SE" in result.description and "6.5.2.2" in result.source


def test_sd_from_ci_uses_t_for_small_samples_and_says_so():
    small = sd_from_ci(10.0, 14.0, 25)
    assert small.value == pytest.approx(5 * 4.0 / (2 * 2.0638985616280254), rel=1e-14)
    assert "t, 24 df" in small.description
    large = sd_from_ci(10.0, 14.0, 100)
    assert large.value == pytest.approx(10 * 4.0 / (2 * 1.9599639845400536), rel=1e-14)
    assert "normal" in large.description
    forced = sd_from_ci(10.0, 14.0, 25, distribution="z")
    assert forced.value == pytest.approx(5 * 4.0 / 3.9199279690801072, rel=1e-14)
    with pytest.raises(ValueError):
        sd_from_ci(14.0, 10.0, 25)


def test_sd_from_two_group_statistics_agree_with_each_other():
    n1, n2, md = 25, 22, 3.8
    from_ci = sd_from_difference_ci(1.2, 6.4, n1, n2)
    se = 5.2 / (2 * 2.0141033888808466)
    assert from_ci.value == pytest.approx(se / math.sqrt(1 / 25 + 1 / 22), rel=1e-14)
    t = md / se
    assert sd_from_t(md, t, n1, n2).value == pytest.approx(from_ci.value, rel=1e-13)
    p = 0.03
    from_p = sd_from_p(md, p, n1, n2)
    assert from_p.value == pytest.approx(md / 2.2410848043955731 / math.sqrt(1 / 25 + 1 / 22),
                                         rel=1e-12)
    assert "P = 0.03" in from_p.description
    with pytest.raises(ValueError):
        sd_from_p(md, 0.0, n1, n2)


def test_mean_and_sd_from_median_follow_luo_and_wan():
    n = 50
    xi, eta = 4.4866575260925607, 1.310093015453383
    iqr = mean_sd_from_median(20.0, n, q1=15.0, q3=28.0)
    w = 0.7 + 0.39 / n
    assert iqr.mean.value == pytest.approx(w * 21.5 + (1 - w) * 20.0, rel=1e-14)
    assert iqr.sd.value == pytest.approx(13.0 / eta, rel=1e-14)
    rng = mean_sd_from_median(20.0, n, minimum=5.0, maximum=60.0)
    w = 4 / (4 + n**0.75)
    assert rng.mean.value == pytest.approx(w * 32.5 + (1 - w) * 20.0, rel=1e-14)
    assert rng.sd.value == pytest.approx(55.0 / xi, rel=1e-14)
    both = mean_sd_from_median(20.0, n, q1=15.0, q3=28.0, minimum=5.0, maximum=60.0)
    w1, w2 = 2.2 / (2.2 + n**0.75), 0.7 - 0.72 / n**0.55
    assert both.mean.value == pytest.approx(w1 * 32.5 + w2 * 21.5 + (1 - w1 - w2) * 20.0,
                                            rel=1e-14)
    assert both.sd.value == pytest.approx((55.0 / xi + 13.0 / eta) / 2, rel=1e-14)
    assert both.sd.provenance is Provenance.ESTIMATED and "Wan" in both.sd.source
    assert "Luo" in both.mean.source and "normality" in both.mean.description
    # For large n the IQR rule tends to the Handbook's IQR/1.35.
    assert mean_sd_from_median(0.0, 10**7, q1=-1.35, q3=1.35).sd.value == pytest.approx(
        2.7 / 1.34898, rel=1e-4)
    with pytest.raises(ValueError):
        mean_sd_from_median(20.0, n, q1=15.0)
    with pytest.raises(ValueError):
        mean_sd_from_median(30.0, n, q1=15.0, q3=28.0)


def test_change_sd_and_its_correlation_round_trip():
    sd_change = sd_change_from_baseline(10.0, 12.0, 0.6)
    assert sd_change.value == pytest.approx(math.sqrt(100 + 144 - 2 * 0.6 * 120), rel=1e-15)
    assert sd_change.provenance is Provenance.IMPUTED and "r = 0.6" in sd_change.description
    r = correlation_from_change(10.0, 12.0, sd_change.value)
    assert r.value == pytest.approx(0.6, rel=1e-13) and r.provenance is Provenance.CALCULATED
    with pytest.raises(ValueError):
        correlation_from_change(1.0, 1.0, 5.0)  # implies r = -11.5
    with pytest.raises(ValueError):
        sd_change_from_baseline(10.0, 12.0, 1.5)


def test_reported_values_say_so():
    assert reported(4.2).provenance is Provenance.REPORTED


def test_log_ratio_and_se_from_a_ratio_with_its_ci():
    from analysis.engine.conversions import log_ratio_from_ci
    # R: print(c(log(0.75), (log(0.94) - log(0.60)) / (2 * qnorm(0.975))), digits = 17)
    hr = log_ratio_from_ci(0.75, 0.60, 0.94)
    assert hr.estimate.value == pytest.approx(-0.28768207245178090, rel=1e-15)
    assert hr.se.value == pytest.approx(0.11453022187886241, rel=1e-14)
    assert (hr.estimate.provenance, hr.se.source) == ("calculated", "Cochrane Handbook 6.3.2")
    # R: (log(2.5) - log(1.2)) / (2 * qnorm(0.95))  (a 90% CI)
    assert log_ratio_from_ci(1.8, 1.2, 2.5, level=0.90).se.value == pytest.approx(0.22311078720132677, rel=1e-14)
    with pytest.raises(ValueError, match="not inside its CI"):
        log_ratio_from_ci(0.5, 0.60, 0.94)
    with pytest.raises(ValueError, match="positive"):
        log_ratio_from_ci(0.75, 0, 0.94)


def test_se_from_the_ci_of_a_difference():
    from analysis.engine.conversions import se_from_difference_ci
    # R: (6.2 - 0.2) / (2 * qnorm(0.975))
    md = se_from_difference_ci(3.2, 0.2, 6.2)
    assert md.se.value == pytest.approx(1.53064037077396220, rel=1e-14)
    assert (md.estimate.value, md.estimate.provenance) == (3.2, "reported")
    with pytest.raises(ValueError, match="must exceed"):
        se_from_difference_ci(3.2, 6.2, 0.2)
