"""When may screening stop? The hypergeometric stopping rule of Callaghan & Müller-Hansen (2020).

Callaghan MW, Müller-Hansen F. Statistical stopping criteria for automated screening in systematic
reviews. Systematic Reviews 2020;9:273. https://doi.org/10.1186/s13643-020-01521-4 ("buscar").

The null hypothesis is that recall is still below the target ``tau``. Take the last ``n`` records
screened (in the ranked order) and treat them as a sample drawn from an urn made of those ``n`` and
every record not yet screened. If recall were below ``tau`` the urn would hold at least

    K = floor(r_seen / tau) - r_before + 1

relevant records, where ``r_seen`` is the number of relevant records found so far and ``r_before``
the number found before the sample began. The probability of finding only ``k`` (or fewer) relevant
records in the sample is then the hypergeometric ``P(X <= k)``, X ~ Hypergeometric(urn size, K, n).
Treating the ranked tail as a random sample is conservative: a ranking puts relevant records first,
so the last records screened are no richer in relevant records than the ones left (the paper's
"ranked quasi-sampling"). Every sample size ``n`` is tried and the smallest p is kept, as in the
paper; when it falls below ``1 - confidence`` the rule says stop, with recall >= tau at that
confidence.

Only records screened since ranking began count (the paper's samples come from the prioritised
list); records known before (the priors) count as relevant found, never as the sample.

The guarantee rests on that ranking. Each window alone would be an exact test of a random sample,
but the smallest p over every window is not a p-value of one test: on a random order (no ranking),
bench/prioritisation.py shows the same rule stopping with recall 0.899 (van der Valk, seed 1) and
0.946 (Menon, seed 2) of 12 runs. On ranked orders the ranked tail is poorer in relevant records
than a random sample, which is what keeps the rule conservative there (recall >= 0.95 in every
ranked run measured). A stricter rule (one pre-set window, or windows corrected for their number)
would stop later. A rule of this kind that stops earlier at the same confidence needs a ranking that
finds the relevant records earlier: after the last relevant record found, it must screen a share
of what is left that depends only on K (with none found in the window, about 1 - 0.05 ** (1 / K):
78% for K = 2, 45% for K = 5).

Rules that model the ranking instead stop earlier only by trusting the model: bench/stopping_rules.py
measured the counting processes of Sneyd & Stevenson (SIGIR 2021) and Stevenson & Bin-Hezam (ACM
TOIS 2023) and the knee method of Cormack & Grossman (SIGIR 2016) on the product's order (4 reviews,
10 seeds). With an exponential rate they stop at about 30% of Menon_2022 with recall 0.932 in every
seed (the ranking leaves relevant records deep in the list, which a decaying rate does not foresee);
with a power-law rate they kept recall >= 0.95 but stopped later (median share screened 0.83 to
0.96, against 0.79 here), and where the SIGIR form stopped earlier (Oud_2018, Menon_2022) it was
because its fitted curve counted fewer relevant records than were already found.

buscar's own ``bias`` option (the sample drawn from a biased urn, Wallenius' noncentral
hypergeometric: a relevant record ``bias`` times as likely to be in the window as one left) stops
earlier by assuming the ranking keeps beating chance in its tail. Measured on the same orders
(bench/stopping_rules.py, rules buscar-bias-*, 4 reviews x 10 seeds): bias 1.5, 2 and 3 bring the
median share screened from 0.79 to 0.72, 0.66 and 0.60, but on Sep_2021 every one of them already
stops at recall 0.950 (38 of 40), because the ranking there leaves its last two relevant records at
79% and 83% of the list, where it is no better than chance. Where the ranking is no better than
chance anywhere (random orders, 120 runs), bias 1.5 stops below recall 0.95 in 54 runs and bias 2
in 75, against 12 with bias 1. Nothing in the sample can check the assumed bias, so the rule keeps
bias 1: its one assumption (a ranked tail no richer in relevant records than a random draw) is the
least any ranking better than chance gives.

A 95% confidence is a statement per run, not for every run: on the low-prevalence stand-ins
(bench/prioritisation_variants.py, reviews thinned to a quarter of their relevant records, 74 runs)
one run stopped at recall 0.944 (Menon_2022 thinned, seed 10: 17 of 18, the missed record last in the
list). At 99% confidence no run of these or the 40 full-review runs falls below 0.95, but the median
share screened at STOP goes from 0.79 to 0.89 on the full reviews and from 0.97 to 0.995 on the thinned
ones: the rule would rarely save any screening where it matters most. The default stays 95%, the
convention of the paper and of the issue; the manager may choose another recall target and
confidence per review (``ScreeningPrioritisation``), and the page states what each costs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import hypergeom

RECALL_TARGET = 0.95
CONFIDENCE = 0.95


@dataclass(frozen=True)
class StoppingEstimate:
    """What the stopping rule says after the records screened so far."""

    p_value: float  # of "recall is below the target"; 1.0 when nothing can be said yet
    recall_target: float
    confidence: float
    records_total: int
    records_screened: int  # including the ones known before ranking began
    relevant_found: int
    # How many relevant records there could still be, at most, at this confidence, and the recall
    # that would leave; computed only on request (with_missed_bound=True): it costs a search.
    relevant_missed_bound: int | None = None

    @property
    def can_stop(self) -> bool:
        return self.p_value < 1 - self.confidence

    @property
    def records_left(self) -> int:
        return self.records_total - self.records_screened

    @property
    def share_left(self) -> float:
        return self.records_left / self.records_total if self.records_total else 0.0

    @property
    def recall_lower_bound(self) -> float | None:
        if self.relevant_missed_bound is None or self.relevant_found == 0:
            return None
        return self.relevant_found / (self.relevant_found + self.relevant_missed_bound)


def _longest(tail: np.ndarray) -> np.ndarray:
    """Indices into the windows (the last n records, n = index + 1) of the longest window of each
    count k of relevant records: where the record before it (further back) is relevant, or the whole
    list.

    Each cdf costs ~0.1 ms at 10,000s of records, and every window after every decision would make
    the rule quadratic over a screening (hours at 40,000 records). Of the windows with the same k the
    longest has the smallest p, whatever the number of relevant records in the urn: one more record
    in the window (not relevant, or k would change) and in the urn leaves a draw that stochastically
    dominates the shorter window's, so P(X <= k) can only fall.
    """
    return np.flatnonzero(np.append(tail[1:] == 1, True))


def _windows(labels: np.ndarray, records_total: int, relevant_before: int,
             recall_target: float) -> tuple[np.ndarray, ...] | None:
    """``(k, urn, relevant_in_urn, n)`` of the windows that can hold the smallest p (``_longest``), or
    None when a window makes "recall < target" impossible (p = 0)."""
    n_screened = len(labels)
    r_seen = relevant_before + int(labels.sum())
    records_left = records_total - n_screened
    # Windows: the last n records screened, n = 1..n_screened.
    tail = labels[::-1]
    k = np.cumsum(tail)                                   # relevant records in the window
    n = np.arange(1, n_screened + 1)                      # window size
    r_before = r_seen - k                                 # relevant found before the window
    urn = n + records_left                                # the window and everything unscreened
    relevant_in_urn = np.floor(r_seen / recall_target) - r_before + 1
    # More relevant records in an urn than records: even if every unscreened record were relevant,
    # recall would reach the target, so the hypothesis is impossible.
    if np.any(relevant_in_urn > urn):
        return None
    last = _longest(tail)
    return k[last], urn[last], relevant_in_urn[last], n[last]


def _may_be_below_half(k: np.ndarray, urn: np.ndarray, relevant: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Windows whose P(X <= k) may be below 1/2: the others have k at least one above the expected
    n·K/urn, and a hypergeometric median lies within one of its mean (over 10**6 random cases the
    smallest P(X <= ceil(mean)) was 0.5025), so their p is 1/2 or more."""
    return k < n * relevant / urn + 1


def stopping_p_value(ranked_labels: Sequence[int], records_total: int, relevant_before: int = 0,
                     recall_target: float = RECALL_TARGET) -> float:
    """p-value of "recall < recall_target" (Callaghan & Müller-Hansen 2020).

    ``ranked_labels``: 1/0 of the records screened since ranking began, in the order screened.
    ``records_total``: every record of the review, screened or not, including ``relevant_before``
    relevant ones known before ranking began (and any irrelevant ones known before: they are part of
    ``records_total`` but of no sample).
    """
    labels = np.asarray(ranked_labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    windows = _windows(labels, records_total, relevant_before, recall_target)
    if windows is None:
        return 0.0
    low = _may_be_below_half(*windows)
    if low.any():
        smallest = float(np.min(hypergeom.cdf(*(part[low] for part in windows))))
        if smallest < 0.5:
            return smallest
    return float(min(1.0, np.min(hypergeom.cdf(*windows))))


def stopping_indicated(ranked_labels: Sequence[int], records_total: int, relevant_before: int = 0,
                       recall_target: float = RECALL_TARGET, confidence: float = CONFIDENCE) -> bool:
    """Whether ``stopping_p_value`` is below ``1 - confidence``, for less: only the windows whose p may
    be below 1/2 are computed (what a check after every decision needs; the p-value itself computes
    every window when none is below 1/2)."""
    alpha = 1 - confidence
    if not 0 < alpha <= 0.5:
        raise ValueError(f"confidence must be at least 0.5 and below 1, not {confidence}")
    labels = np.asarray(ranked_labels, dtype=np.int64)
    if len(labels) == 0:
        return False
    windows = _windows(labels, records_total, relevant_before, recall_target)
    if windows is None:
        return True
    low = _may_be_below_half(*windows)
    return bool(low.any() and np.min(hypergeom.cdf(*(part[low] for part in windows))) < alpha)


def stopping_estimate(ranked_labels: Sequence[int], records_total: int, *, relevant_before: int = 0,
                      known_before: int = 0, recall_target: float = RECALL_TARGET,
                      confidence: float = CONFIDENCE,
                      with_missed_bound: bool = False) -> StoppingEstimate:
    """The stopping rule's verdict after screening ``ranked_labels`` (1/0, in the order screened since
    ranking began) out of ``records_total`` records, ``known_before`` of which (``relevant_before``
    relevant) were labelled before ranking began."""
    labels = np.asarray(ranked_labels, dtype=np.int64)
    # The urns only hold records screened in ranked order and unscreened ones: the records known
    # before ranking are taken out of the total.
    ranked_total = records_total - known_before
    p = stopping_p_value(labels, ranked_total, relevant_before, recall_target)
    relevant_found = relevant_before + int(labels.sum())
    return StoppingEstimate(
        p_value=p, recall_target=recall_target, confidence=confidence,
        records_total=records_total, records_screened=known_before + len(labels),
        relevant_found=relevant_found,
        relevant_missed_bound=(_missed_bound(labels, ranked_total, confidence)
                               if with_missed_bound else None),
    )


def _missed_bound(labels: np.ndarray, ranked_total: int, confidence: float) -> int | None:
    """The largest number of relevant records still unscreened that the sample cannot rule out at
    this confidence (the same urns as the test, for the statement shown to the manager)."""
    n_screened = len(labels)
    if n_screened == 0:
        return None
    records_left = ranked_total - n_screened
    if records_left == 0:
        return 0
    tail = labels[::-1]
    last = _longest(tail)
    k = np.cumsum(tail)[last]
    n = last + 1
    urn = n + records_left
    alpha = 1 - confidence
    best = records_left
    # For each window, the smallest number missed that the window rejects; the bound is the smallest
    # over windows minus one. A short search over the number missed is plenty (it is small once the
    # rule is near stopping; capped so a page never waits on it). Only windows whose p may be below
    # 1/2 can reject at alpha.
    for missed in range(min(records_left, 200) + 1):
        low = _may_be_below_half(k, urn, k + missed, n) if alpha <= 0.5 else np.ones(len(k), dtype=bool)
        if low.any() and np.min(hypergeom.cdf(k[low], urn[low], k[low] + missed, n[low])) < alpha:
            best = missed - 1
            break
    return max(best, 0) if best < records_left else None
