"""The RoB 2 tool for individually randomised parallel-group trials, effect of assignment to
intervention: its signalling questions, when each is asked, short guidance for assessors, and the
published algorithm that proposes a judgment per domain and overall.

Source: Sterne JAC et al. RoB 2: a revised tool for assessing risk of bias in randomised trials.
BMJ 2019;366:l4898, and Higgins JPT et al. (eds), "Revised Cochrane risk-of-bias tool for randomized
trials (RoB 2)", guidance of 22 August 2019 (the algorithm figures and tables of each domain). The
question wording follows the tool; the guidance notes are our own summaries (the full guidance text
is not reproduced here: it is licensed for non-derivative use, and assessors should keep it open).

Each domain's algorithm is a decision table: rows (:class:`Rule`) of conditions on answers, each
row one path through the published flow chart. Rows are written so that, for every allowed
combination of answers, exactly one row matches (tests enumerate every combination). Pure Python:
no Django, so it can be tested and reused (e.g. by the entry page's live proposal) on its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from studies.judgments import HIGH, LABELS, LOW, ROB2, SOME_CONCERNS

# Answers to signalling questions.
Y, PY, PN, N, NI, NA = "Y", "PY", "PN", "N", "NI", "NA"
ANSWER_LABELS = {Y: "Yes", PY: "Probably yes", PN: "Probably no", N: "No", NI: "No information",
                 NA: "Not applicable"}
YES = frozenset({Y, PY})
NO = frozenset({N, PN})
NO_INFO = frozenset({NI})
YES_OR_NI = YES | NO_INFO
NO_OR_NI = NO | NO_INFO
ALL_FIVE = (Y, PY, PN, N, NI)

# Judgments, ordered from best to worst: the worst of a set is its ``max`` by this order.
JUDGMENT_ORDER = {LOW: 0, SOME_CONCERNS: 1, HIGH: 2}
JUDGMENT_LABELS = {judgment: LABELS[judgment] for judgment in ROB2}


def worst(judgments: list[str]) -> str:
    """The least favourable judgment (RoB 2: a domain's parts and the overall judgment combine so)."""
    return max(judgments, key=JUDGMENT_ORDER.__getitem__)


@dataclass(frozen=True)
class AskedIf:
    """When a conditional question is asked: ``any``/``all`` of (question, answers) terms hold."""

    mode: str  # "any" or "all"
    terms: tuple[tuple[str, frozenset[str]], ...]

    def holds(self, answers: Mapping[str, str]) -> bool:
        results = [answers.get(question) in allowed for question, allowed in self.terms]
        return any(results) if self.mode == "any" else all(results)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    guidance: str
    options: tuple[str, ...] = ALL_FIVE
    asked_if: AskedIf | None = None  # None: always asked


@dataclass(frozen=True)
class Rule:
    """One path through a domain's flow chart: if every listed answer is in its set → ``judgment``."""

    when: tuple[tuple[str, frozenset[str]], ...]
    judgment: str

    def matches(self, answers: Mapping[str, str]) -> bool:
        return all(answers.get(question) in allowed for question, allowed in self.when)


def rule(judgment: str, **when: frozenset[str]) -> Rule:
    """``rule(LOW, q1_2=YES, q1_3=NO_OR_NI)``: keyword names are question ids with ``_`` for ``.``."""
    return Rule(tuple((name[1:].replace("_", "."), allowed) for name, allowed in when.items()), judgment)


@dataclass(frozen=True)
class Domain:
    key: str
    number: int
    name: str
    short: str
    questions: tuple[Question, ...]
    # Domain 2 is judged in two parts (2.1–2.5 and 2.6–2.7) combined by the worse; others have one.
    parts: tuple[tuple[Rule, ...], ...]


def _if(mode: str, **terms: frozenset[str]) -> AskedIf:
    return AskedIf(mode, tuple((name[1:].replace("_", "."), allowed) for name, allowed in terms.items()))


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "randomisation", 1, "Bias arising from the randomisation process", "Randomisation",
        (
            Question("1.1", "Was the allocation sequence random?",
                     "Yes if a random component generated the sequence (computer random numbers, a random number "
                     "table, coin tossing, shuffled envelopes, minimisation with a random element). No for "
                     "alternation, dates, record numbers or allocation by clinicians or participants. No "
                     "information if the report only says 'randomised'."),
            Question("1.2", "Was the allocation sequence concealed until participants were enrolled and assigned "
                            "to interventions?",
                     "Yes for central or remote allocation (web, telephone, pharmacy) or sequentially numbered, "
                     "sealed, opaque envelopes or identical drug containers. No if recruiters could foresee the next "
                     "assignment (open lists, unsealed envelopes, alternation)."),
            Question("1.3", "Did baseline differences between intervention groups suggest a problem with the "
                            "randomisation process?",
                     "Look for imbalances beyond chance in baseline characteristics or group sizes, especially "
                     "in prognostic factors. Chance imbalances are expected; do not test for significance. No "
                     "information if baseline data are not reported."),
        ),
        ((
            rule(HIGH, q1_2=NO),
            rule(HIGH, q1_2=NO_INFO, q1_3=YES),
            rule(SOME_CONCERNS, q1_2=NO_INFO, q1_3=NO_OR_NI),
            rule(SOME_CONCERNS, q1_2=YES, q1_1=NO),
            rule(SOME_CONCERNS, q1_2=YES, q1_1=YES_OR_NI, q1_3=YES),
            rule(LOW, q1_2=YES, q1_1=YES_OR_NI, q1_3=NO_OR_NI),
        ),),
    ),
    Domain(
        "deviations", 2, "Bias due to deviations from intended interventions (effect of assignment)",
        "Deviations from intended interventions",
        (
            Question("2.1", "Were participants aware of their assigned intervention during the trial?",
                     "Yes when participants could tell which intervention they received (no placebo or sham; "
                     "for peer-led group sessions this is usually the case)."),
            Question("2.2", "Were carers and people delivering the interventions aware of participants' assigned "
                            "intervention during the trial?",
                     "Yes when those delivering care could tell the groups apart (e.g. the peer facilitators "
                     "of a programme know whom they deliver it to)."),
            Question("2.3", "Were there deviations from the intended intervention that arose because of the trial "
                            "context?",
                     "Only deviations that would not happen outside the trial count (e.g. extra care or "
                     "switching prompted by knowing the allocation), not those expected in usual practice.",
                     asked_if=_if("any", q2_1=YES_OR_NI, q2_2=YES_OR_NI)),
            Question("2.4", "Were these deviations likely to have affected the outcome?",
                     "Consider whether the deviations were large and frequent enough, and related to the outcome.",
                     asked_if=_if("all", q2_3=YES)),
            Question("2.5", "Were these deviations from intended intervention balanced between groups?",
                     "Yes if the deviations were similar in type and frequency in both groups.",
                     asked_if=_if("all", q2_4=YES_OR_NI)),
            Question("2.6", "Was an appropriate analysis used to estimate the effect of assignment to "
                            "intervention?",
                     "Intention-to-treat analyses and modified ITT analyses that exclude only participants with "
                     "missing outcome data are appropriate. Per-protocol and as-treated analyses are not, nor is "
                     "excluding eligible randomised participants."),
            Question("2.7", "Was there potential for a substantial impact (on the result) of the failure to "
                            "analyse participants in the group to which they were randomised?",
                     "Consider how many participants were analysed in the wrong group or excluded, relative to "
                     "the events or effect size.",
                     asked_if=_if("all", q2_6=NO_OR_NI)),
        ),
        (
            (
                rule(LOW, q2_1=NO, q2_2=NO),
                # 2.3 is answered only when someone was (or may have been) aware, so these rows exclude the one above.
                rule(LOW, q2_3=NO),
                rule(SOME_CONCERNS, q2_3=NO_INFO),
                rule(SOME_CONCERNS, q2_3=YES, q2_4=NO),
                rule(SOME_CONCERNS, q2_3=YES, q2_4=YES_OR_NI, q2_5=YES),
                rule(HIGH, q2_3=YES, q2_4=YES_OR_NI, q2_5=NO_OR_NI),
            ),
            (
                rule(LOW, q2_6=YES),
                rule(SOME_CONCERNS, q2_6=NO_OR_NI, q2_7=NO),
                rule(HIGH, q2_6=NO_OR_NI, q2_7=YES_OR_NI),
            ),
        ),
    ),
    Domain(
        "missing_data", 3, "Bias due to missing outcome data", "Missing outcome data",
        (
            Question("3.1", "Were data for this outcome available for all, or nearly all, participants randomised?",
                     "'Nearly all' depends on the outcome: for continuous outcomes about 95% is often enough; for "
                     "dichotomous outcomes compare the missing proportion with the risk of the event."),
            Question("3.2", "Is there evidence that the result was not biased by missing outcome data?",
                     "Yes only with evidence, e.g. sensitivity analyses under different assumptions about the "
                     "missing values that agree. Imputation (including last observation carried forward) or "
                     "adjustment for covariates alone is not evidence.",
                     options=(Y, PY, PN, N), asked_if=_if("all", q3_1=NO_OR_NI)),
            Question("3.3", "Could missingness in the outcome depend on its true value?",
                     "Yes if the reasons for missing data could be related to the participants' health (e.g. "
                     "dropping out because of worse symptoms).",
                     asked_if=_if("all", q3_2=NO)),
            Question("3.4", "Is it likely that missingness in the outcome depended on its true value?",
                     "Yes if the proportions or reasons for missing data differ between groups, or the reasons "
                     "reported point to the outcome.",
                     asked_if=_if("all", q3_3=YES_OR_NI)),
        ),
        ((
            rule(LOW, q3_1=YES),
            rule(LOW, q3_1=NO_OR_NI, q3_2=YES),
            rule(LOW, q3_1=NO_OR_NI, q3_2=NO, q3_3=NO),
            rule(SOME_CONCERNS, q3_1=NO_OR_NI, q3_2=NO, q3_3=YES_OR_NI, q3_4=NO),
            rule(HIGH, q3_1=NO_OR_NI, q3_2=NO, q3_3=YES_OR_NI, q3_4=YES_OR_NI),
        ),),
    ),
    Domain(
        "measurement", 4, "Bias in measurement of the outcome", "Measurement of the outcome",
        (
            Question("4.1", "Was the method of measuring the outcome inappropriate?",
                     "Yes if the measure is insensitive to plausible effects or has been shown to be invalid. "
                     "For pre-specified, established outcomes usually No."),
            Question("4.2", "Could measurement or ascertainment of the outcome have differed between "
                            "intervention groups?",
                     "Yes if the groups were measured differently (methods, thresholds, timing) or one group "
                     "had more chances to have the outcome noticed (e.g. more visits)."),
            Question("4.3", "Were outcome assessors aware of the intervention received by study participants?",
                     "For self-reported outcomes (questionnaires) the assessor is the participant: aware if the "
                     "participant knew the intervention.",
                     asked_if=_if("all", q4_1=NO_OR_NI, q4_2=NO_OR_NI)),
            Question("4.4", "Could assessment of the outcome have been influenced by knowledge of intervention "
                            "received?",
                     "Yes for outcomes involving judgement (symptom scales, self-reported attitudes); No for "
                     "outcomes such as all-cause mortality.",
                     asked_if=_if("all", q4_3=YES_OR_NI)),
            Question("4.5", "Is it likely that assessment of the outcome was influenced by knowledge of "
                            "intervention received?",
                     "Yes if there is reason to believe that beliefs about the interventions (e.g. strong "
                     "expectations of benefit) shaped the assessment.",
                     asked_if=_if("all", q4_4=YES_OR_NI)),
        ),
        ((
            rule(HIGH, q4_1=YES),
            rule(HIGH, q4_1=NO_OR_NI, q4_2=YES),
            # The published algorithm has two branches after 4.2: "No/Probably no" ends in Low where the
            # "No information" branch ends in Some concerns.
            rule(LOW, q4_1=NO_OR_NI, q4_2=NO, q4_3=NO),
            rule(LOW, q4_1=NO_OR_NI, q4_2=NO, q4_3=YES_OR_NI, q4_4=NO),
            rule(SOME_CONCERNS, q4_1=NO_OR_NI, q4_2=NO_INFO, q4_3=NO),
            rule(SOME_CONCERNS, q4_1=NO_OR_NI, q4_2=NO_INFO, q4_3=YES_OR_NI, q4_4=NO),
            rule(SOME_CONCERNS, q4_1=NO_OR_NI, q4_2=NO_OR_NI, q4_3=YES_OR_NI, q4_4=YES_OR_NI, q4_5=NO),
            rule(HIGH, q4_1=NO_OR_NI, q4_2=NO_OR_NI, q4_3=YES_OR_NI, q4_4=YES_OR_NI, q4_5=YES_OR_NI),
        ),),
    ),
    Domain(
        "selection", 5, "Bias in selection of the reported result", "Selection of the reported result",
        (
            Question("5.1", "Were the data that produced this result analysed in accordance with a pre-specified "
                            "analysis plan that was finalised before unblinded outcome data were available for "
                            "analysis?",
                     "Compare the result with a trial registration, protocol or statistical analysis plan dated "
                     "before unblinded data were available."),
            Question("5.2", "Is the numerical result being assessed likely to have been selected, on the basis of "
                            "the results, from multiple eligible outcome measurements (e.g. scales, definitions, "
                            "time points) within the outcome domain?",
                     "Yes if several eligible measurements were (or were likely) made and the one reported may "
                     "have been chosen for its result."),
            Question("5.3", "Is the numerical result being assessed likely to have been selected, on the basis of "
                            "the results, from multiple eligible analyses of the data?",
                     "Yes if several eligible analyses (adjustments, cut-offs, populations) were possible and the "
                     "one reported may have been chosen for its result."),
        ),
        ((
            rule(HIGH, q5_2=YES),
            rule(HIGH, q5_2=NO_OR_NI, q5_3=YES),
            rule(LOW, q5_1=YES, q5_2=NO, q5_3=NO),
            rule(SOME_CONCERNS, q5_1=NO_OR_NI, q5_2=NO, q5_3=NO),
            rule(SOME_CONCERNS, q5_2=NO_INFO, q5_3=NO_OR_NI),
            rule(SOME_CONCERNS, q5_2=NO, q5_3=NO_INFO),
        ),),
    ),
)
DOMAIN_BY_KEY = {domain.key: domain for domain in DOMAINS}
QUESTIONS = {question.id: question for domain in DOMAINS for question in domain.questions}
QUESTION_IDS = tuple(QUESTIONS)


def asked_questions(domain: Domain, answers: Mapping[str, str]) -> list[str]:
    """The ids of the domain's questions that the answers so far make applicable, in order."""
    return [q.id for q in domain.questions if q.asked_if is None or q.asked_if.holds(answers)]


def effective_answers(domain: Domain, answers: Mapping[str, str]) -> dict[str, str]:
    """The answers the algorithm reads: questions that are not asked count as "Not applicable",
    whatever was entered for them (an earlier answer may have been changed since)."""
    result: dict[str, str] = {}
    for question in domain.questions:  # in order: a question's condition depends only on earlier ones
        if question.asked_if is None or question.asked_if.holds(result):
            value = answers.get(question.id)
            if value in question.options:
                result[question.id] = value
        else:
            result[question.id] = NA
    return result


def matching_rules(domain: Domain, answers: Mapping[str, str]) -> list[tuple[int, int]]:
    """(part, row) of every decision-table row matched by the answers (exactly one per part when complete)."""
    effective = effective_answers(domain, answers)
    return [(p, r) for p, rows in enumerate(domain.parts) for r, row in enumerate(rows) if row.matches(effective)]


def domain_judgment(domain: Domain, answers: Mapping[str, str]) -> str | None:
    """The algorithm's proposed judgment for a domain, or None while the answers do not yet reach a
    leaf of its flow chart (a part with no matching row)."""
    matched = matching_rules(domain, answers)
    if {part for part, _ in matched} != set(range(len(domain.parts))):
        return None
    return worst([domain.parts[part][row].judgment for part, row in matched])


def missing_questions(domain: Domain, answers: Mapping[str, str]) -> list[str]:
    """Applicable questions still without a valid answer."""
    effective = effective_answers(domain, answers)
    return [qid for qid in asked_questions(domain, effective) if effective.get(qid) in (None, NA)]


def overall_judgment(domain_judgments: Mapping[str, str | None]) -> str | None:
    """The proposed overall judgment from the five domain judgments (Sterne et al. 2019, Table 2):
    low if every domain is low, high if any is high, otherwise some concerns. The tool also lets
    assessors judge "high" when several domains have some concerns that together substantially
    lower confidence: that is a judgment, recorded as an override with its justification."""
    values = [domain_judgments.get(domain.key) for domain in DOMAINS]
    if any(value is None for value in values):
        return None
    return worst(values)  # type: ignore[arg-type]
