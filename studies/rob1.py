"""The Cochrane RoB 1 tool (Higgins et al., BMJ 2011;343:d5928): domain letters as in RevMan's
risk-of-bias column, and the summary judgment of a study from its key domains (Cochrane Handbook
5.1, Table 8.7.a). Pure Python, like ``studies.rob2``."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from studies.judgments import HIGH, LOW, UNCLEAR  # noqa: F401 -- re-exported for the tool's users

# (domain key, RevMan letter, short name), in the tool's order.
DOMAINS: tuple[tuple[str, str, str], ...] = (
    ("random_sequence", "A", "Random sequence generation"),
    ("allocation_concealment", "B", "Allocation concealment"),
    ("blinding_participants", "C", "Blinding of participants and personnel"),
    ("blinding_outcome", "D", "Blinding of outcome assessment"),
    ("incomplete_data", "E", "Incomplete outcome data"),
    ("selective_reporting", "F", "Selective reporting"),
    ("other", "G", "Other bias"),
)


def summary_judgment(judgments: Mapping[str, str], key_domains: Iterable[str]) -> str | None:
    """A study's risk of bias across its key domains: high if high in any, low if low in all,
    otherwise unclear; None while a key domain is not judged and none is high (not yet assessable)."""
    values = [judgments.get(key) for key in key_domains]
    if HIGH in values:
        return HIGH
    if not values or None in values:
        return None
    return LOW if all(value == LOW for value in values) else UNCLEAR
