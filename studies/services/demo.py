"""The demo review: a whole synthetic review shaped like Sun et al. 2022 (Front. Psychiatry 13:915617).

Only the *shape* follows the published review (six sources, 3,192 records of which 1,638 remain after
deduplication, dual screening, 54 full texts assessed, 8 reports of 7 studies, 12 outcomes in four
domains, 5 HOP and 2 non-HOP studies). Every title, label and number is generated here from a fixed
seed: no study, author or result is real, and the review is flagged ``is_synthetic`` so every page
that shows it says so.
"""
from dataclasses import dataclass
from datetime import date
import hashlib
import random

from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from studies.models import (
    Arm,
    ArmRole,
    CharacteristicField,
    CandidateStatus,
    CharacteristicType,
    Decision,
    CheckState,
    DuplicateCandidate,
    Direction,
    ExclusionReason,
    FullTextStatus,
    ImportBatch,
    ImportFormat,
    Judgment,
    MatchMethod,
    Outcome,
    OutcomeData,
    OutcomeDomain,
    Record,
    Report,
    Review,
    RiskOfBiasAssessment,
    RiskOfBiasJudgment,
    RobDomain,
    Role,
    ScreeningDecision,
    ScreeningResolution,
    SearchSource,
    Stage,
    Study,
    StudyCharacteristic,
    TimePoint,
    ValueType,
)
from studies import rob2
from studies.services.entities import entities_create, entity_save
from studies.services.risk_of_bias import Rob2Entry, rob2_assessment_save, rob2_consensus_save
from studies.services.reviews import back_office_grant, membership_add, review_create
from studies.services.value_checks import outcome_value_confirm

DEMO_SLUG = "peer-led-stigma-demo"
DEMO_SEED = 915617

# (database, records retrieved): sums to 3,192 as in the published review's PRISMA chart.
SOURCES = [
    ("Embase", 1104),
    ("PubMed", 712),
    ("APA PsycInfo", 806),
    ("APA PsycTests", 41),
    ("Cochrane CENTRAL", 398),
    ("ClinicalTrials.gov", 131),
]
UNIQUE_RECORDS = 1638
TITLE_ABSTRACT_INCLUDED = 56  # 2 full texts not retrieved, 54 assessed
FULL_TEXT_NOT_RETRIEVED = 2
# The latest living-search update: a PubMed search after the review's analysis, imported but not
# yet screened, so two screeners and a tutor can take it through to included studies.
LIVING_SEARCH = ("PubMed", date(2022, 3, 1), 40)
LIVING_DUPLICATES = 6  # of the 40, already found by the first search
# Highlighted on the screening page.
INCLUDE_TERMS = ["randomised", "randomized", "peer", "stigma", "trial", "lived experience"]
EXCLUDE_TERMS = ["qualitative", "cross-sectional", "cohort", "systematic review", "protocol", "online"]
# Full-text exclusion reasons and how many of the 46 excluded reports each accounts for.
EXCLUSION_REASONS = [
    ("Not a randomised controlled trial", 17),
    ("Intervention not peer-led", 12),
    ("Population without mental-health problems", 8),
    ("No stigma outcome", 6),
    ("Not face-to-face", 3),
]

DOMAINS = {
    "Stigma": [("Self-stigma", Direction.LOWER_IS_BETTER, True), ("Stigma stress", Direction.LOWER_IS_BETTER, False)],
    "Clinical symptoms": [
        ("Depression", Direction.LOWER_IS_BETTER, False),
        ("Anxiety", Direction.LOWER_IS_BETTER, False),
        ("Hopelessness", Direction.LOWER_IS_BETTER, False),
    ],
    "Recovery": [
        ("Recovery", Direction.HIGHER_IS_BETTER, False),
        ("Empowerment", Direction.HIGHER_IS_BETTER, False),
        ("Self-efficacy", Direction.HIGHER_IS_BETTER, False),
        ("Help-seeking", Direction.HIGHER_IS_BETTER, False),
    ],
    "Disclosure": [
        ("Secrecy", Direction.LOWER_IS_BETTER, False),
        ("Distress", Direction.LOWER_IS_BETTER, False),
        ("Withdrawal", Direction.LOWER_IS_BETTER, False),
    ],
}
# Synthetic instruments: named generically so no real scale's norms are implied.
INSTRUMENT = {"Self-stigma": "Self-stigma scale (synthetic)", "Depression": "Depression inventory (synthetic)"}


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[str, ...]
    is_staff: bool = False


DEMO_USERS = [
    DemoUser("demo-manager", (Role.MANAGER,), is_staff=True),
    DemoUser("demo-screener-1", (Role.SCREENER,)),
    DemoUser("demo-screener-2", (Role.SCREENER,)),
    DemoUser("demo-tutor", (Role.TUTOR,)),
    DemoUser("demo-extractor", (Role.EXTRACTOR,)),
    DemoUser("demo-assessor-1", (Role.ASSESSOR,)),
    DemoUser("demo-assessor-2", (Role.ASSESSOR,)),
]

# Words for synthetic titles; combinations are many, so titles are distinct.
_PEOPLE = [
    "adults with schizophrenia", "people with serious mental illness", "young people with psychosis",
    "outpatients with depression", "people with bipolar disorder", "mental-health service users",
    "adults with anxiety disorders", "people with lived experience of psychosis", "university students",
    "older adults", "caregivers", "nurses", "police officers", "primary-care patients", "veterans",
]
_TOPICS = [
    "self-stigma", "public stigma", "help-seeking", "recovery orientation", "empowerment", "hope",
    "disclosure decisions", "treatment adherence", "quality of life", "social inclusion", "loneliness",
    "employment outcomes", "medication beliefs", "psychoeducation", "mindfulness", "sleep",
]
_DESIGNS = [
    "a randomised controlled trial", "a cluster randomised trial", "a pilot randomised trial",
    "a cross-sectional survey", "a qualitative study", "a cohort study", "a systematic review",
    "a feasibility study", "a quasi-experimental study", "a mixed-methods evaluation",
]
_INTERVENTIONS = [
    "peer-led group sessions", "a peer-delivered programme", "a clinician-led programme",
    "an online module", "contact-based education", "cognitive behavioural therapy", "a self-help booklet",
    "an anti-stigma campaign", "a peer-support app", "group psychoeducation",
]
_JOURNALS = [
    "Journal of Synthetic Psychiatry", "Demo Mental Health Review", "Synthetic Trials in Psychology",
    "Example Journal of Recovery", "Illustrative Psychiatric Research",
]
_SURNAMES = [
    "Abel", "Brandt", "Castell", "Dorn", "Eberle", "Falk", "Gerber", "Hahn", "Imhof", "Jost", "Keller",
    "Lorenz", "Maurer", "Nolte", "Ott", "Pohl", "Quast", "Roth", "Seidel", "Thal", "Ulrich", "Vogt",
    "Wendt", "Xander", "Yilmaz", "Zeller",
]


def demo_users_ensure(*, password: str) -> list[DemoUser]:
    """Create the demo users (or reset their passwords) and the managers' admin group."""
    user_model = get_user_model()
    for demo in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=demo.username)
        user.email = f"{demo.username}@example.org"
        user.set_password(password)
        user.save()
        if demo.is_staff:
            back_office_grant(user=user)
    return DEMO_USERS


# Sent when the demo review has been built, with ``review`` and its ``manager``: apps above studies
# add their part of the demo (analysis chooses the summary-of-findings table), as studies may not
# import them.
demo_review_built = Signal()


@transaction.atomic
def demo_review_load(*, password: str, reset: bool = False) -> tuple[Review, bool]:
    """Create the demo review, or leave an existing one as it is. Returns (review, created).

    Deterministic: the same seed gives the same records, decisions and numbers every time.
    """
    demo_users_ensure(password=password)
    existing = Review.objects.filter(slug=DEMO_SLUG).first()
    if existing is not None and not reset:
        return existing, False
    if existing is not None:
        existing.delete()
    builder = _DemoBuilder(random.Random(DEMO_SEED))
    review = builder.build()
    demo_review_built.send(sender=Review, review=review, manager=builder.users["demo-manager"])
    return review, True


class _DemoBuilder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        users = {u.username: u for u in get_user_model().objects.filter(username__in=[d.username for d in DEMO_USERS])}
        self.users = users
        self.screeners = (users["demo-screener-1"], users["demo-screener-2"])
        self.tutor = users["demo-tutor"]

    def build(self) -> Review:
        review = review_create(
            title="Peer-led interventions and stigma in people with mental-health problems (synthetic demo)",
            slug=DEMO_SLUG,
            created_by=self.users["demo-manager"],
            exclusion_reasons=(),  # the demo's own, with its PRISMA counts, below
            question=(
                "Do peer-led, face-to-face interventions reduce stigma, and improve clinical symptoms, "
                "recovery and disclosure, in people with mental-health problems, compared with usual care "
                "or other control conditions?"
            ),
            population="People with mental-health problems.",
            intervention="Peer-led, face-to-face interventions aimed at reducing stigma.",
            comparison="Usual care, waiting list or other active control.",
            outcomes_summary=(
                "Stigma (self-stigma, stigma stress); clinical symptoms (depression, anxiety, hopelessness); "
                "recovery (recovery, empowerment, self-efficacy, help-seeking); disclosure (secrecy, distress, "
                "withdrawal). Change from baseline at the end of the intervention."
            ),
            registration_id="SYNTHETIC-0000",
            inclusion_criteria=(
                "Randomised controlled trials; peer-led, face-to-face intervention; participants with "
                "mental-health problems; the intervention aims to reduce stigma."
            ),
            exclusion_criteria="Non-randomised designs; professional-led or online-only interventions.",
            is_public=True,
            is_synthetic=True,
            rob_tool="ROB2",
            include_terms=INCLUDE_TERMS,
            exclude_terms=EXCLUDE_TERMS,
        )
        for demo in DEMO_USERS:
            for role in demo.roles:
                membership_add(review=review, user=self.users[demo.username], role=role)
        entity_save(instance=TimePoint(review=review, label="Follow-up", order=1))
        self.time_point = TimePoint.objects.get(review=review, is_analysis_default=True)
        reasons = entities_create(instances=[
            ExclusionReason(review=review, label=label, order=i) for i, (label, _) in enumerate(EXCLUSION_REASONS)
        ])
        originals = self._records(review)
        included = self._screening(review, originals, reasons)
        studies = self._studies(review, included)
        self._outcomes(review, studies)
        self._risk_of_bias(studies)
        self._rob2(studies)
        # Its own random stream, so the first search's records and numbers stay as they were.
        self._living_update(review, originals, random.Random(DEMO_SEED + 1))
        return Review.objects.get(pk=review.pk)

    # -- Search and records --------------------------------------------------------------------

    def _title(self, index: int) -> str:
        rng = self.rng
        return (
            f"{rng.choice(_INTERVENTIONS).capitalize()} and {rng.choice(_TOPICS)} in {rng.choice(_PEOPLE)}: "
            f"{rng.choice(_DESIGNS)} (synthetic record {index + 1})"
        )

    def _records(self, review: Review) -> list[Record]:
        rng = self.rng
        sources = entities_create(instances=[
            SearchSource(
                review=review, database=name, date_searched=date(2021, 6, 1 + i),
                query="(peer* OR \"lived experience\") AND (stigma* OR discriminat*) AND random* (synthetic)",
                records_reported=count,
            )
            for i, (name, count) in enumerate(SOURCES)
        ])
        batches = entities_create(instances=[
            ImportBatch(
                review=review, source=source, file_name=f"{source.database.lower().replace(' ', '-')}-export.ris",
                file_format=ImportFormat.RIS,
                sha256=hashlib.sha256(f"synthetic demo export {source.database}".encode()).hexdigest(),
                imported_by=self.users["demo-manager"],
            )
            for source in sources
        ])
        # Each unique work is found by 1 to 6 databases: the first copy is kept, the rest are
        # duplicates. Copies are spread so each source ends with its reported count.
        slots = [batch for batch, (_, count) in zip(batches, SOURCES) for _ in range(count)]
        rng.shuffle(slots)
        first_slots, extra_slots = slots[:UNIQUE_RECORDS], slots[UNIQUE_RECORDS:]
        originals = [
            self._record(review, batch, index) for index, batch in enumerate(first_slots)
        ]
        originals = entities_create(instances=originals)
        duplicates = []
        for batch in extra_slots:
            original = rng.choice(originals)
            duplicates.append(self._duplicate(original, batch))
        duplicates = entities_create(instances=duplicates)
        # Each merge is logged as an import's automatic merge would be.
        entities_create(instances=[
            DuplicateCandidate(
                review=review, import_batch=duplicate.import_batch, duplicate=duplicate, primary=duplicate.duplicate_of,
                method=MatchMethod.DOI if duplicate.doi else MatchMethod.TITLE_YEAR, score=100.0,
                reason="Synthetic demo duplicate: " + ("same DOI" if duplicate.doi else "same title and year"),
                status=CandidateStatus.MERGED, automatic=True,
            )
            for duplicate in duplicates
        ])
        return originals

    def _living_update(self, review: Review, originals: list[Record], rng: random.Random) -> None:
        """The living search's unscreened batch: new records (a few of them plausible peer-led
        trials) and some duplicates of records the first search found, merged as the import would."""
        database, searched, count = LIVING_SEARCH
        source = entity_save(instance=SearchSource(
            review=review, database=database, date_searched=searched, records_reported=count,
            query="Living update of the first search (synthetic)",
        ))
        batch = entity_save(instance=ImportBatch(
            review=review, source=source, file_name="pubmed-living-update-2022-03.nbib",
            file_format=ImportFormat.MEDLINE,
            sha256=hashlib.sha256(b"synthetic demo living update 2022-03").hexdigest(),
            imported_by=self.users["demo-manager"],
        ))
        saved_rng, self.rng = self.rng, rng
        try:
            fresh = [self._record(review, batch, UNIQUE_RECORDS + i) for i in range(count - LIVING_DUPLICATES)]
        finally:
            self.rng = saved_rng
        for i, record in enumerate(fresh):
            record.year = 2022
            if i % 5 == 0:  # about one in five reads like a trial the review would include
                record.title = (f"A randomised controlled trial of a peer-led group programme to reduce self-stigma "
                                f"in people with serious mental illness (synthetic record {UNIQUE_RECORDS + i + 1})")
                record.abstract = ("Synthetic abstract. Participants with lived experience of mental illness were "
                                   "randomised to peer-led, face-to-face group sessions or usual care; self-stigma "
                                   "was measured at the end of the intervention. No real study is described.")
        entities_create(instances=fresh)
        duplicates = [self._duplicate(original, batch) for original in rng.sample(originals, LIVING_DUPLICATES)]
        duplicates = entities_create(instances=duplicates)
        entities_create(instances=[
            DuplicateCandidate(
                review=review, import_batch=batch, duplicate=duplicate, primary=duplicate.duplicate_of,
                method=MatchMethod.DOI if duplicate.doi else MatchMethod.TITLE_YEAR, score=100.0,
                reason="Synthetic demo duplicate: " + ("same DOI" if duplicate.doi else "same title and year"),
                status=CandidateStatus.MERGED, automatic=True,
            )
            for duplicate in duplicates
        ])

    def _record(self, review: Review, batch: ImportBatch, index: int) -> Record:
        rng = self.rng
        year = rng.randint(2005, 2021)
        authors = [f"{rng.choice(_SURNAMES)}, {chr(65 + rng.randrange(26))}." for _ in range(rng.randint(1, 6))]
        has_doi = rng.random() < 0.8
        return Record(
            review=review, import_batch=batch, title=self._title(index),
            abstract="Synthetic abstract generated for the demo review. No real study is described.",
            authors=authors, year=year, journal=rng.choice(_JOURNALS), volume=str(rng.randint(1, 40)),
            issue=str(rng.randint(1, 12)), pages=f"{(p := rng.randint(1, 900))}-{p + rng.randint(5, 15)}",
            doi=f"10.5555/synthetic.{year}.{index + 1:05d}" if has_doi else "",
            pmid=str(30000000 + index) if rng.random() < 0.6 else "",
            keywords=["stigma", "peer support", "synthetic"], language="English",
            publication_type="Journal Article",
            raw_entry=f"TY  - JOUR\nTI  - synthetic record {index + 1}\nER  - ",
        )

    def _duplicate(self, original: Record, batch: ImportBatch) -> Record:
        rng = self.rng
        # Realistic duplicate variants: upper-cased title, missing DOI, trailing full stop.
        variant = rng.randrange(3)
        title = original.title.upper() if variant == 0 else original.title + ("." if variant == 1 else "")
        return Record(
            review=original.review, import_batch=batch, title=title, abstract=original.abstract,
            authors=original.authors, year=original.year, journal=original.journal, volume=original.volume,
            issue=original.issue, pages=original.pages, doi="" if variant == 2 else original.doi,
            pmid=original.pmid, keywords=original.keywords, language=original.language,
            publication_type=original.publication_type, raw_entry=original.raw_entry, duplicate_of=original,
        )

    # -- Screening -----------------------------------------------------------------------------

    def _screening(self, review: Review, records: list[Record], reasons: list[ExclusionReason]) -> list[Record]:
        rng = self.rng
        order = list(records)
        rng.shuffle(order)
        advancing, excluded = order[:TITLE_ABSTRACT_INCLUDED], order[TITLE_ABSTRACT_INCLUDED:]
        s1, s2 = self.screeners
        decisions: list[ScreeningDecision] = []
        resolutions: list[ScreeningResolution] = []
        stage = Stage.TITLE_ABSTRACT
        for i, record in enumerate(advancing):
            # 8 of the 56 were conflicts the tutor resolved in favour of full-text review.
            first = Decision.UNSURE if i % 7 == 3 else Decision.INCLUDE
            second = Decision.EXCLUDE if i < 8 else Decision.INCLUDE
            decisions += [self._decision(record, stage, s1, first), self._decision(record, stage, s2, second)]
            if i < 8:
                resolutions.append(self._resolution(record, stage, Decision.INCLUDE, None))
        for i, record in enumerate(excluded):
            conflict = i < 40  # 40 conflicts resolved as exclude
            decisions += [
                self._decision(record, stage, s1, Decision.INCLUDE if conflict and i % 2 else Decision.EXCLUDE),
                self._decision(record, stage, s2, Decision.EXCLUDE if conflict and i % 2 else
                               (Decision.UNSURE if conflict else Decision.EXCLUDE)),
            ]
            if conflict:
                resolutions.append(self._resolution(record, stage, Decision.EXCLUDE, None))

        stage = Stage.FULL_TEXT
        not_retrieved = advancing[:FULL_TEXT_NOT_RETRIEVED]
        assessed = advancing[FULL_TEXT_NOT_RETRIEVED:]
        for record in not_retrieved:
            record.fulltext_status = FullTextStatus.NOT_RETRIEVED
            record.save(update_fields=["fulltext_status"])
        Record.objects.filter(pk__in=[r.pk for r in assessed]).update(fulltext_status=FullTextStatus.RETRIEVED)
        included, to_exclude = assessed[:8], assessed[8:]
        for i, record in enumerate(included):
            decisions += [
                self._decision(record, stage, s1, Decision.INCLUDE),
                self._decision(record, stage, s2, Decision.EXCLUDE if i < 2 else Decision.INCLUDE,
                               reasons[0] if i < 2 else None),
            ]
            if i < 2:
                resolutions.append(self._resolution(record, stage, Decision.INCLUDE, None))
        reason_slots = [reason for reason, (_, count) in zip(reasons, EXCLUSION_REASONS) for _ in range(count)]
        for i, (record, reason) in enumerate(zip(to_exclude, reason_slots, strict=True)):
            if i < 3:  # screeners disagreed; the tutor excluded with the reason of record
                decisions += [
                    self._decision(record, stage, s1, Decision.INCLUDE),
                    self._decision(record, stage, s2, Decision.EXCLUDE, reason),
                ]
                resolutions.append(self._resolution(record, stage, Decision.EXCLUDE, reason))
            else:
                decisions += [
                    self._decision(record, stage, s1, Decision.EXCLUDE, reason),
                    self._decision(record, stage, s2, Decision.EXCLUDE, reason),
                ]
        entities_create(instances=decisions)
        entities_create(instances=resolutions)
        return included

    @staticmethod
    def _decision(record, stage, screener, decision, reason=None) -> ScreeningDecision:
        return ScreeningDecision(record=record, stage=stage, screener=screener, decision=decision, exclusion_reason=reason)

    def _resolution(self, record, stage, decision, reason) -> ScreeningResolution:
        return ScreeningResolution(
            record=record, stage=stage, tutor=self.tutor, decision=decision, exclusion_reason=reason,
            rationale="Synthetic resolution: the tutor re-read the criteria against the record.",
        )

    # -- Studies -------------------------------------------------------------------------------

    def _studies(self, review: Review, included: list[Record]) -> list[Study]:
        rng = self.rng
        letters = "ABCDEFG"
        studies = entities_create(instances=[
            Study(review=review, label=f"Trial {letter} {included[i].year}", year=included[i].year,
                  notes="Synthetic study of the demo review.")
            for i, letter in enumerate(letters)
        ])
        # 8 reports of 7 studies: the eighth record is a secondary report of the first study.
        entities_create(instances=[
            Report(study=study, record=included[i], is_primary=True) for i, study in enumerate(studies)
        ] + [Report(study=studies[0], record=included[7], is_primary=False)])

        fields = entities_create(instances=[
            CharacteristicField(review=review, name="Country", order=0),
            CharacteristicField(review=review, name="Population", order=1),
            CharacteristicField(
                review=review, name="Intervention type", data_type=CharacteristicType.CHOICE,
                choices=["HOP", "non-HOP"], is_subgroup_variable=True, order=2,
                help_text="HOP: Honest, Open, Proud programme, or another peer-led programme.",
            ),
            CharacteristicField(review=review, name="Control", order=3),
            CharacteristicField(review=review, name="Sessions", data_type=CharacteristicType.NUMBER, order=4),
            CharacteristicField(review=review, name="Duration (weeks)", data_type=CharacteristicType.NUMBER, order=5),
            CharacteristicField(review=review, name="Follow-up", order=6),
        ])
        countries = ["Country A", "Country B", "Country C", "Country D"]
        populations = ["Serious mental illness", "Psychosis", "Mixed diagnoses", "Depression"]
        values = []
        for i, study in enumerate(studies):
            hop = i < 5  # 5 HOP and 2 non-HOP studies, as in the published review
            text = {
                "Country": rng.choice(countries), "Population": rng.choice(populations),
                "Intervention type": "HOP" if hop else "non-HOP",
                "Control": rng.choice(["Usual care", "Waiting list", "Active control"]),
                "Follow-up": rng.choice(["None", "3 weeks", "6 weeks", "3 months"]),
            }
            number = {"Sessions": 3 if hop else rng.randint(4, 10), "Duration (weeks)": rng.randint(3, 10)}
            for field in fields:
                if field.name in number:
                    values.append(StudyCharacteristic(study=study, field=field, value_number=number[field.name]))
                else:
                    values.append(StudyCharacteristic(study=study, field=field, value_text=text[field.name]))
        entities_create(instances=values)

        arms = []
        for study in studies:
            arms.append(Arm(study=study, role=ArmRole.INTERVENTION, label="Peer-led programme",
                            randomised=rng.randint(30, 110)))
            arms.append(Arm(study=study, role=ArmRole.CONTROL, label="Control", randomised=rng.randint(30, 110)))
        entities_create(instances=arms)
        return studies

    def _outcomes(self, review: Review, studies: list[Study]) -> None:
        rng = self.rng
        domains = entities_create(instances=[
            OutcomeDomain(review=review, name=name, order=i) for i, name in enumerate(DOMAINS)
        ])
        outcomes = []
        for domain in domains:
            for order, (name, direction, primary) in enumerate(DOMAINS[domain.name]):
                outcomes.append(Outcome(review=review, domain=domain, name=name, direction=direction,
                                        is_primary=primary, order=order))
        outcomes = entities_create(instances=outcomes)
        arms = {(arm.study_id, arm.role): arm for arm in Arm.objects.filter(study__in=studies)}
        rows = []
        for outcome in outcomes:
            # Self-stigma is reported by every study, the others by 2 to 5 of them.
            reporting = studies if outcome.is_primary else rng.sample(studies, rng.randint(2, 5))
            benefit = rng.uniform(0.1, 0.5)  # synthetic true standardised benefit
            sign = -1.0 if outcome.direction == Direction.LOWER_IS_BETTER else 1.0
            scale_sd = rng.choice([4.0, 6.0, 10.0])
            for study in sorted(reporting, key=lambda s: s.label):
                smd = sign * rng.gauss(benefit, 0.25)
                for role in (ArmRole.INTERVENTION, ArmRole.CONTROL):
                    arm = arms[(study.pk, role)]
                    n = max(2, arm.randomised - rng.randint(0, max(1, arm.randomised // 5)))
                    sd = round(scale_sd * rng.uniform(0.7, 1.3), 2)
                    control_change = rng.gauss(0.0, 0.1) * scale_sd
                    mean = control_change + (smd * scale_sd if role == ArmRole.INTERVENTION else 0.0)
                    rows.append(OutcomeData(
                        study=study, outcome=outcome, time_point=self.time_point, arm=arm, n=n,
                        mean=round(mean, 2), sd=sd, value_type=ValueType.CHANGE,
                        instrument=INSTRUMENT.get(outcome.name, f"{outcome.name} scale (synthetic)"),
                        note="Synthetic value.",
                    ))
        entities_create(instances=rows)  # judged against each other by the plausibility rules
        # The synthetic values stand for data a team has already checked: one the rules hold (a trial
        # far from the others, by chance of the random draw) is confirmed by the demo's manager, as a
        # second look would, so the demo analyses every study; the audit trail shows the check.
        for row_id in OutcomeData.objects.filter(study__review=review, check_state=CheckState.AWAITING_CHECK) \
                .values_list("pk", flat=True):
            outcome_value_confirm(row_id=row_id, user=self.users["demo-manager"])

    def _risk_of_bias(self, studies: list[Study]) -> None:
        rng = self.rng
        assessors = (self.users["demo-assessor-1"], self.users["demo-assessor-2"])
        weights = {Judgment.LOW: 5, Judgment.UNCLEAR: 3, Judgment.HIGH: 2}
        assessments, judgments = [], []
        for study in studies:
            consensus = {domain: rng.choices(list(weights), list(weights.values()))[0] for domain in RobDomain}
            # Blinding of participants is rarely possible in peer-led trials: high, as is typical.
            consensus[RobDomain.BLINDING_PARTICIPANTS] = Judgment.HIGH
            for assessor in assessors:
                assessment = RiskOfBiasAssessment(study=study, assessor=assessor, submitted_at=timezone.now())
                assessments.append(assessment)
                for domain, judgment in consensus.items():
                    if rng.random() < 0.15:  # the assessors sometimes disagree before consensus
                        judgment = rng.choice(list(weights))
                    judgments.append((assessment, domain, judgment))
            assessment = RiskOfBiasAssessment(study=study, assessor=assessors[0], is_consensus=True,
                                              submitted_at=timezone.now())
            assessments.append(assessment)
            judgments += [(assessment, domain, judgment) for domain, judgment in consensus.items()]
        entities_create(instances=assessments)
        entities_create(instances=[
            RiskOfBiasJudgment(assessment=a, domain=d, judgment=j, support="Synthetic support text.")
            for a, d, j in judgments
        ])

    def _rob2(self, studies: list[Study]) -> None:
        """RoB 2 (the review's tool) for the primary outcome of the first five studies: both assessors'
        submitted assessments and their consensus. The other results are left for a new user to assess
        (log in as demo-assessor-1 and demo-assessor-2) and bring to consensus."""
        outcome = Outcome.objects.get(review=studies[0].review, name="Self-stigma")
        first, second = self.users["demo-assessor-1"], self.users["demo-assessor-2"]
        for i, study in enumerate(studies[:5]):
            answers = dict(ROB2_DEMO_ANSWERS[i % len(ROB2_DEMO_ANSWERS)])
            for assessor in (first, second):
                own = dict(answers)
                if assessor == second and self.rng.random() < 0.5:
                    own["5.1"] = rob2.NI  # a typical disagreement: was the analysis plan pre-specified?
                rob2_assessment_save(study=study, outcome=outcome, assessor=assessor, submit=True,
                                     entry=Rob2Entry(own, {q: "Synthetic support text." for q in own}, {}))
            rob2_consensus_save(study=study, outcome=outcome, recorded_by=first,
                                entry=Rob2Entry(answers, {q: "Synthetic: agreed after discussion." for q in answers}, {}))


# Answer sets for the demo's RoB 2 assessments of peer-led trials: participants and peer facilitators
# always know the allocation (2.1, 2.2 Yes) and the outcome is self-reported, so domain 4 turns on
# whether knowing could have swayed answers. Low, some concerns and high overall, respectively.
ROB2_DEMO_ANSWERS = [
    {"1.1": "Y", "1.2": "Y", "1.3": "N", "2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "Y", "3.1": "Y",
     "4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "N", "5.1": "Y", "5.2": "N", "5.3": "N"},
    {"1.1": "Y", "1.2": "NI", "1.3": "N", "2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "Y", "3.1": "N", "3.2": "N",
     "3.3": "PY", "3.4": "PN", "4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "PY", "4.5": "PN", "5.1": "PY",
     "5.2": "N", "5.3": "N"},
    {"1.1": "PY", "1.2": "Y", "1.3": "N", "2.1": "Y", "2.2": "Y", "2.3": "Y", "2.4": "PY", "2.5": "N", "2.6": "N",
     "2.7": "N", "3.1": "Y", "4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "N", "5.1": "NI", "5.2": "N", "5.3": "N"},
]
