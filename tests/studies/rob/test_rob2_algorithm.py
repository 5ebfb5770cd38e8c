"""The RoB 2 algorithm (guidance of 22 August 2019, individually randomised parallel-group trials,
effect of assignment): every path through every domain's flow chart, written out here from the
guidance independently of the decision tables in ``studies.rob2``, plus checks that the tables
cover every allowed combination of answers exactly once."""
import itertools

import pytest

from studies import rob2
from studies.rob2 import HIGH, LOW, NA, NI, SOME_CONCERNS as SOME, N, PN, PY, Y

D = rob2.DOMAIN_BY_KEY

# (domain, answers, expected judgment): one or more cases per path of the published flow charts.
PATHS = [
    # Domain 1. 1.2 (concealment) first; 1.1 matters only when concealed; 1.3 (baseline imbalance).
    ("randomisation", {"1.1": Y, "1.2": Y, "1.3": N}, LOW),
    ("randomisation", {"1.1": NI, "1.2": PY, "1.3": NI}, LOW),
    ("randomisation", {"1.1": PY, "1.2": Y, "1.3": PY}, SOME),
    ("randomisation", {"1.1": N, "1.2": Y, "1.3": N}, SOME),
    ("randomisation", {"1.1": PN, "1.2": PY, "1.3": Y}, SOME),
    ("randomisation", {"1.1": Y, "1.2": NI, "1.3": PN}, SOME),
    ("randomisation", {"1.1": NI, "1.2": NI, "1.3": NI}, SOME),  # no information at all
    ("randomisation", {"1.1": Y, "1.2": NI, "1.3": Y}, HIGH),
    ("randomisation", {"1.1": Y, "1.2": N, "1.3": N}, HIGH),
    ("randomisation", {"1.1": Y, "1.2": PN, "1.3": NI}, HIGH),
    # Domain 2, part 1 (2.1–2.5) combined with part 2 (2.6–2.7) by the worse of the two.
    ("deviations", {"2.1": N, "2.2": PN, "2.6": Y}, LOW),
    ("deviations", {"2.1": Y, "2.2": N, "2.3": N, "2.6": PY}, LOW),
    ("deviations", {"2.1": NI, "2.2": NI, "2.3": PN, "2.6": Y}, LOW),
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": NI, "2.6": Y}, SOME),
    ("deviations", {"2.1": PY, "2.2": Y, "2.3": Y, "2.4": N, "2.6": Y}, SOME),
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": PY, "2.4": PY, "2.5": Y, "2.6": Y}, SOME),
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": Y, "2.4": NI, "2.5": PY, "2.6": Y}, SOME),
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": Y, "2.4": Y, "2.5": N, "2.6": Y}, HIGH),
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": Y, "2.4": NI, "2.5": NI, "2.6": Y}, HIGH),
    ("deviations", {"2.1": N, "2.2": N, "2.6": N, "2.7": N}, SOME),
    ("deviations", {"2.1": N, "2.2": N, "2.6": NI, "2.7": PN}, SOME),
    ("deviations", {"2.1": N, "2.2": N, "2.6": PN, "2.7": Y}, HIGH),
    ("deviations", {"2.1": N, "2.2": N, "2.6": N, "2.7": NI}, HIGH),
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": NI, "2.6": N, "2.7": PY}, HIGH),  # some concerns + high
    ("deviations", {"2.1": Y, "2.2": Y, "2.3": NI, "2.6": N, "2.7": N}, SOME),  # some concerns twice
    # Domain 3.
    ("missing_data", {"3.1": Y}, LOW),
    ("missing_data", {"3.1": PY}, LOW),
    ("missing_data", {"3.1": N, "3.2": Y}, LOW),
    ("missing_data", {"3.1": NI, "3.2": PY}, LOW),
    ("missing_data", {"3.1": PN, "3.2": N, "3.3": N}, LOW),
    ("missing_data", {"3.1": N, "3.2": PN, "3.3": PN}, LOW),
    ("missing_data", {"3.1": N, "3.2": N, "3.3": Y, "3.4": N}, SOME),
    ("missing_data", {"3.1": N, "3.2": N, "3.3": NI, "3.4": PN}, SOME),
    ("missing_data", {"3.1": N, "3.2": N, "3.3": PY, "3.4": Y}, HIGH),
    ("missing_data", {"3.1": NI, "3.2": N, "3.3": NI, "3.4": NI}, HIGH),
    # Domain 4: 4.2 "No information" turns the low leaves into some concerns.
    ("measurement", {"4.1": Y, "4.2": N}, HIGH),
    ("measurement", {"4.1": PY, "4.2": NI}, HIGH),
    ("measurement", {"4.1": N, "4.2": Y}, HIGH),
    ("measurement", {"4.1": NI, "4.2": PY}, HIGH),
    ("measurement", {"4.1": N, "4.2": N, "4.3": N}, LOW),
    ("measurement", {"4.1": NI, "4.2": PN, "4.3": PN}, LOW),
    ("measurement", {"4.1": N, "4.2": N, "4.3": Y, "4.4": N}, LOW),
    ("measurement", {"4.1": PN, "4.2": N, "4.3": NI, "4.4": PN}, LOW),
    ("measurement", {"4.1": N, "4.2": NI, "4.3": N}, SOME),
    ("measurement", {"4.1": N, "4.2": NI, "4.3": Y, "4.4": N}, SOME),
    ("measurement", {"4.1": N, "4.2": N, "4.3": Y, "4.4": Y, "4.5": N}, SOME),
    ("measurement", {"4.1": N, "4.2": NI, "4.3": Y, "4.4": NI, "4.5": PN}, SOME),
    ("measurement", {"4.1": N, "4.2": N, "4.3": Y, "4.4": Y, "4.5": Y}, HIGH),
    ("measurement", {"4.1": N, "4.2": NI, "4.3": PY, "4.4": PY, "4.5": NI}, HIGH),
    # Domain 5.
    ("selection", {"5.1": Y, "5.2": N, "5.3": N}, LOW),
    ("selection", {"5.1": PY, "5.2": PN, "5.3": N}, LOW),
    ("selection", {"5.1": N, "5.2": N, "5.3": N}, SOME),
    ("selection", {"5.1": NI, "5.2": N, "5.3": PN}, SOME),
    ("selection", {"5.1": Y, "5.2": NI, "5.3": N}, SOME),
    ("selection", {"5.1": Y, "5.2": NI, "5.3": NI}, SOME),
    ("selection", {"5.1": Y, "5.2": N, "5.3": NI}, SOME),
    ("selection", {"5.1": Y, "5.2": Y, "5.3": N}, HIGH),
    ("selection", {"5.1": Y, "5.2": N, "5.3": PY}, HIGH),
    ("selection", {"5.1": N, "5.2": NI, "5.3": Y}, HIGH),
]


@pytest.mark.parametrize("domain, answers, expected", PATHS)
def test_each_path_gives_the_published_judgment(domain, answers, expected):
    assert rob2.domain_judgment(D[domain], answers) == expected
    assert rob2.missing_questions(D[domain], answers) == []


def test_every_row_of_every_decision_table_is_a_tested_path():
    """A row no case reaches would be a path nobody checked against the guidance."""
    reached = {(domain, part, row) for domain, answers, _ in PATHS
               for part, row in rob2.matching_rules(D[domain], answers)}
    every = {(d.key, p, r) for d in rob2.DOMAINS for p, rows in enumerate(d.parts) for r in range(len(rows))}
    assert every - reached == set()


def valid_combinations(domain: rob2.Domain):
    """Every combination of answers the tool allows: applicable questions answered, others NA."""
    combos = [{}]
    for question in domain.questions:
        extended = []
        for combo in combos:
            if question.asked_if is None or question.asked_if.holds(combo):
                extended += [{**combo, question.id: answer} for answer in question.options]
            else:
                extended.append({**combo, question.id: NA})
        combos = extended
    return combos


@pytest.mark.parametrize("domain", rob2.DOMAINS, ids=lambda d: d.key)
def test_tables_give_exactly_one_judgment_for_every_allowed_combination(domain):
    combos = valid_combinations(domain)
    assert len(combos) > 50
    for answers in combos:
        matched = rob2.matching_rules(domain, answers)
        assert sorted(part for part, _ in matched) == list(range(len(domain.parts))), answers


@pytest.mark.parametrize("domain", rob2.DOMAINS, ids=lambda d: d.key)
def test_probably_counts_as_definitely(domain):
    """The algorithm reads Y and PY alike, and N and PN alike (only the support differs)."""
    softer = {Y: PY, N: PN}
    for answers in valid_combinations(domain)[::7]:
        softened = {q: softer.get(a, a) for q, a in answers.items()}
        assert rob2.domain_judgment(domain, softened) == rob2.domain_judgment(domain, answers)


def test_incomplete_answers_propose_nothing_and_name_the_missing_questions():
    domain = D["deviations"]
    assert rob2.domain_judgment(domain, {"2.1": Y, "2.2": Y}) is None
    assert rob2.missing_questions(domain, {"2.1": Y, "2.2": Y}) == ["2.3", "2.6"]
    assert rob2.missing_questions(domain, {"2.1": Y, "2.2": Y, "2.3": Y, "2.6": N}) == ["2.4", "2.7"]


def test_answers_to_questions_that_no_longer_apply_are_ignored():
    """2.3 answered Yes, then 2.1 and 2.2 changed to No: 2.3 no longer applies and counts as NA."""
    domain = D["deviations"]
    answers = {"2.1": N, "2.2": N, "2.3": Y, "2.4": Y, "2.5": N, "2.6": Y}
    assert rob2.effective_answers(domain, answers)["2.3"] == NA
    assert rob2.domain_judgment(domain, answers) == LOW


def test_an_answer_a_question_does_not_offer_is_not_read():
    assert rob2.domain_judgment(D["missing_data"], {"3.1": N, "3.2": NI}) is None  # 3.2 has no "NI"


@pytest.mark.parametrize("judgments, expected", [
    ((LOW,) * 5, LOW),
    ((LOW, LOW, SOME, LOW, LOW), SOME),
    ((SOME, SOME, SOME, LOW, LOW), SOME),  # several concerns: "high" only by the assessor's override
    ((LOW, HIGH, LOW, LOW, LOW), HIGH),
    ((SOME, HIGH, SOME, LOW, HIGH), HIGH),
])
def test_overall_judgment(judgments, expected):
    assert rob2.overall_judgment(dict(zip((d.key for d in rob2.DOMAINS), judgments))) == expected


def test_overall_needs_every_domain():
    assert rob2.overall_judgment({"randomisation": LOW}) is None


def test_every_question_has_guidance_and_the_domains_are_the_published_five():
    assert [d.number for d in rob2.DOMAINS] == [1, 2, 3, 4, 5]
    assert [len(d.questions) for d in rob2.DOMAINS] == [3, 7, 4, 5, 3]
    assert all(q.text.endswith("?") and len(q.guidance) > 40 for q in rob2.QUESTIONS.values())
    assert list(itertools.chain.from_iterable(q.options for q in rob2.QUESTIONS.values())).count(NI) == 21
