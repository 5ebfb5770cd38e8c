"""Several groups of one role in a study (e.g. two intervention arms) combined into one."""

from __future__ import annotations

import math
from collections.abc import Sequence


def combine_continuous_groups(groups: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(n, mean, SD) of groups combined into one group (Cochrane Handbook 6.5.2.10, Table 6.5.a)."""
    n, mean, sd = groups[0]
    for n2, mean2, sd2 in groups[1:]:
        total = n + n2
        combined_mean = (n * mean + n2 * mean2) / total
        sd = math.sqrt(((n - 1) * sd**2 + (n2 - 1) * sd2**2 + n * n2 / total * (mean - mean2) ** 2) / (total - 1))
        n, mean = total, combined_mean
    return n, mean, sd


def combine_dichotomous_groups(groups: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(events, total) of groups combined by adding them (Cochrane Handbook 23.3.4)."""
    return sum(e for e, _ in groups), sum(t for _, t in groups)
