"""The stopping rule (Callaghan & Müller-Hansen 2020) against R: the p-value of "recall < 95%" is the
smallest hypergeometric P(X <= k) over every window of the last n records screened, computed here with
R's phyper (stats), independently of SciPy.

R (4.x), the oracle used for every golden value below:

    buscar_p <- function(L, N, r0, tau = 0.95) {
      r_seen <- r0 + sum(L); left <- N - length(L)
      tail <- rev(L); k <- cumsum(tail); n <- seq_along(tail)
      K <- floor(r_seen / tau) - (r_seen - k) + 1
      if (any(K > n + left)) return(0)
      min(phyper(k, K, (n + left) - K, n))
    }
"""
import pytest

from studies.prioritisation.stopping import stopping_estimate, stopping_indicated, stopping_p_value

L1 = [1, 1, 0] * 10 + [0] * 150
L2 = [1, 1, 0] * 10 + [0] * 60
L3 = [1, 0, 0, 0] * 5 + [0] * 40 + [1] + [0] * 30
L4 = [1, 1, 0] * 10 + [0] * 400


@pytest.mark.parametrize(("labels", "total", "golden"), [
    (L1, 500, 0.46112842752),     # buscar_p(L1, 500, 1)
    (L2, 500, 0.757510051046),    # buscar_p(L2, 500, 1)
    (L3, 200, 0.784172661871),    # buscar_p(L3, 200, 1)
    (L4, 500, 0.0218186746172),   # buscar_p(L4, 500, 1)
])
def test_p_value_matches_r(labels, total, golden):
    assert stopping_p_value(labels, total, relevant_before=1) == pytest.approx(golden, rel=1e-9)


def test_stop_only_below_one_minus_confidence():
    assert not stopping_estimate(L1, 501, relevant_before=1, known_before=1).can_stop
    estimate = stopping_estimate(L4, 501, relevant_before=1, known_before=1)
    assert estimate.can_stop
    assert estimate.records_screened == 431 and estimate.relevant_found == 21 and estimate.records_left == 70


def test_nothing_screened_says_nothing():
    assert stopping_p_value([], 100, relevant_before=1) == 1.0


def test_everything_screened_stops():
    # Nothing left unscreened: recall is certain.
    assert stopping_p_value([1, 0, 0, 1, 0], 5, relevant_before=1) == 0.0


def test_missed_bound_shrinks_as_the_tail_grows():
    short = stopping_estimate(L2, 501, relevant_before=1, known_before=1, with_missed_bound=True)
    long = stopping_estimate(L4, 501, relevant_before=1, known_before=1, with_missed_bound=True)
    assert long.relevant_missed_bound < short.relevant_missed_bound
    # At the confidence where the rule stops, fewer than 5% of the relevant records can be missing.
    assert long.recall_lower_bound >= 0.95


def _every_window(labels, total, relevant_before=0, tau=0.95):
    """buscar_p above, transcribed: the cdf of every window, the smallest kept."""
    import numpy as np
    from scipy.stats import hypergeom

    labels = np.asarray(labels)
    r_seen, left = relevant_before + labels.sum(), total - len(labels)
    k = np.cumsum(labels[::-1])
    n = np.arange(1, len(labels) + 1)
    relevant = np.floor(r_seen / tau) - (r_seen - k) + 1
    if np.any(relevant > n + left):
        return 0.0
    return float(min(1.0, hypergeom.cdf(k, n + left, relevant, n).min()))


def _every_window_missed_bound(labels, total, confidence=0.95):
    """The largest number missed that no window rejects, over every window (capped at 200 as the
    product's search)."""
    import numpy as np
    from scipy.stats import hypergeom

    labels = np.asarray(labels)
    left = total - len(labels)
    if left == 0:
        return 0
    k = np.cumsum(labels[::-1])
    n = np.arange(1, len(labels) + 1)
    for missed in range(min(left, 200) + 1):
        if hypergeom.cdf(k, n + left, k + missed, n).min() < 1 - confidence:
            return max(missed - 1, 0)
    return None


def _screenings(seed: int, count: int):
    """Random screenings: ranked (relevant records thinning out), some shuffled; with a few relevant
    records known before ranking."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(count):
        total = int(rng.integers(20, 2500))
        screened = int(rng.integers(1, total))
        rate = rng.uniform(0.002, 0.5) * np.exp(-rng.uniform(0, 12) * np.arange(screened) / screened)
        labels = (rng.random(screened) < np.clip(rate, 0, 1)).astype(int)
        if rng.random() < 0.2:
            labels = rng.permutation(labels)
        yield labels, total, int(rng.integers(0, 3))


def test_the_windows_left_out_never_hold_the_smallest_p():
    """Only the longest window of each k, and windows below their expected k, are computed: the
    p-value, the check after each decision and the bound on records missed are the same as over
    every window, on ranked, decaying and shuffled screenings."""
    below = 0
    for labels, total, before in _screenings(2020, 600):
        p = stopping_p_value(labels, total, before)
        assert p == _every_window(labels, total, before)
        assert stopping_indicated(labels, total, before) == (p < 1 - 0.95)  # as StoppingEstimate.can_stop
        below += p < 0.05
    assert below > 30  # the stopping region is exercised, not only p-values far from it
    for labels, total, _ in _screenings(2021, 150):
        estimate = stopping_estimate(labels, total, with_missed_bound=True)
        assert estimate.relevant_missed_bound == _every_window_missed_bound(labels, total)


def test_the_rule_is_fast_enough_to_run_after_every_decision_of_a_large_review():
    """30,000 of 40,000 records screened: every window took about 3 s; the rule now takes ms."""
    import time

    import numpy as np

    rng = np.random.default_rng(7)
    labels = (rng.random(30_000) < 0.05 * np.exp(-np.arange(30_000) / 3_000)).astype(int)
    started = time.perf_counter()
    p = stopping_p_value(labels, 40_000)
    assert time.perf_counter() - started < 0.3
    assert p == _every_window(labels, 40_000)
