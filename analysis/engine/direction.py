"""Which side of the forest plot favours the intervention.

Effects are never flipped: they stay experimental minus control (or experimental over
control for ratios). Whether a positive effect is good news depends on the outcome —
more responders is good, more deaths is bad — so the outcome's direction decides the
labels, as in RevMan's "Favours [experimental] / Favours [control]" axis captions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    """Whether higher values of the outcome are better or worse for participants."""

    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"


class Favours(StrEnum):
    """Which arm an estimate favours."""

    EXPERIMENTAL = "experimental"
    CONTROL = "control"
    NEITHER = "neither"  # exactly on the line of no effect, or not estimable


@dataclass(frozen=True)
class ForestLabels:
    """Captions under the left and right halves of the forest plot axis."""

    left: str
    right: str


def favoured_arm(estimate: float, direction: Direction) -> Favours:
    """Arm favoured by an effect on the analysis scale (null value 0).

    Parameters
    ----------
    estimate
        Experimental minus control (log ratio for OR/RR).
    direction
        The outcome's direction.

    Returns
    -------
    Favours
        ``EXPERIMENTAL`` when the effect points the beneficial way, ``CONTROL`` when
        it points the other way, ``NEITHER`` at exactly 0 or for NaN.
    """
    if not math.isfinite(estimate) or estimate == 0.0:
        return Favours.NEITHER
    positive_is_good = direction is Direction.HIGHER_IS_BETTER
    return Favours.EXPERIMENTAL if (estimate > 0.0) == positive_is_good else Favours.CONTROL


def forest_labels(
    direction: Direction, experimental: str = "experimental", control: str = "control"
) -> ForestLabels:
    """Axis captions: the favoured arm for effects left and right of the null line."""
    if direction is Direction.HIGHER_IS_BETTER:
        return ForestLabels(left=f"Favours {control}", right=f"Favours {experimental}")
    return ForestLabels(left=f"Favours {experimental}", right=f"Favours {control}")
