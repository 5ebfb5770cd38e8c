"""Complete RoB entries with known judgments, shared by the risk-of-bias tests."""
from studies.rob2 import N, NI, PN, PY, Y
from studies.services.risk_of_bias import Override, Rob1Entry, Rob2Entry

# Complete answers whose proposals are known (see test_rob2_algorithm for every path).
ALL_LOW = {"1.1": Y, "1.2": Y, "1.3": N, "2.1": N, "2.2": N, "2.6": Y, "3.1": Y, "4.1": N, "4.2": N, "4.3": N,
           "5.1": Y, "5.2": N, "5.3": N}
# D2 high (deviations from trial context, unbalanced), D5 some concerns (no analysis plan).
HIGH_D2 = {**ALL_LOW, "2.1": Y, "2.2": Y, "2.3": Y, "2.4": PY, "2.5": N, "5.1": NI}
SOME_D1 = {**ALL_LOW, "1.2": NI, "1.3": PN}


def entry(answers, overrides=None, overall=Override(), comments=None) -> Rob2Entry:
    return Rob2Entry(answers=answers, comments=comments or {}, domain_overrides=overrides or {},
                     overall_override=overall)


def rob1_entry(**judgments) -> Rob1Entry:
    base = {"random_sequence": "low", "allocation_concealment": "low", "blinding_participants": "high",
            "blinding_outcome": "low", "incomplete_data": "low", "selective_reporting": "low", "other": "low"}
    base.update(judgments)
    return Rob1Entry(judgments=base, support={key: "Quoted from the methods section." for key in base})


