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


def revman_item_domains(name: str) -> tuple[str, ...]:
    """The RoB 1 domains a RevMan risk-of-bias item judges, read from its name; () if none.

    RevMan's names changed with the tool: RevMan 5.0 (Cochrane Handbook 5.0, 2008) asked questions
    ("Adequate sequence generation?", "Blinding?", "Free of selective reporting?"), RevMan 5.1 on
    names the domain and the bias ("Random sequence generation (selection bias)"), and teams edit
    them. So the name is matched on its words. The 2008 tool judged blinding as one domain
    ("Blinding of participants, personnel and outcome assessors"; "Blinding?"): such an item judges
    both blinding domains of the 2011 tool. An item that matches none (e.g. "Baseline imbalance")
    is the caller's to place; the tool's "other bias" domain is where such items belong.
    """
    words = " ".join(name.lower().replace("-", " ").split())
    if "blind" in words or "mask" in words:
        # The bias named decides first ("... (performance bias): all outcomes" is about people); then
        # who was blinded. "Outcome" alone is no sign (items name the outcomes they cover), nor is
        # "patient" in "patient reported outcomes".
        performance, detection = "performance" in words, "detection" in words
        if performance != detection:
            return ("blinding_participants",) if performance else ("blinding_outcome",)
        people_words = words.replace("patient reported", "").replace("self reported", "")
        outcome = any(w in words for w in ("outcome assess", "assessor", "detection"))
        people = any(w in people_words for w in ("participant", "personnel", "performance", "patient", "provider",
                                                 "caregiver", "care giver", "investigator"))
        if outcome and not people:
            return ("blinding_outcome",)
        if people and not outcome:
            return ("blinding_participants",)
        return ("blinding_participants", "blinding_outcome")
    if "sequence" in words or ("random" in words and "generat" in words):
        return ("random_sequence",)
    if "allocation" in words or "conceal" in words:
        return ("allocation_concealment",)
    if "selective" in words or "reporting bias" in words:
        return ("selective_reporting",)
    if any(w in words for w in ("incomplete", "attrition", "outcome data", "missing", "withdraw", "drop out",
                                "dropout", "loss to follow")):
        return ("incomplete_data",)
    if "other bias" in words or "other source" in words or "other problem" in words:
        return ("other",)
    return ()
