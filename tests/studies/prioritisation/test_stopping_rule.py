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

from studies.prioritisation.stopping import stopping_estimate, stopping_p_value

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
