"""Risk of bias: Cochrane RoB 1 (per study) and RoB 2 (per result), each assessed by two assessors
independently and then by consensus; only consensus judgments feed figures and analyses."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from studies import judgments, rob2
from studies.models.outcomes import Outcome
from studies.models.studies import Study


class RobDomain(models.TextChoices):
    """The seven domains of the Cochrane RoB 1 tool (Higgins et al., BMJ 2011;343:d5928)."""

    RANDOM_SEQUENCE = "random_sequence", "Random sequence generation (selection bias)"
    ALLOCATION_CONCEALMENT = "allocation_concealment", "Allocation concealment (selection bias)"
    BLINDING_PARTICIPANTS = "blinding_participants", "Blinding of participants and personnel (performance bias)"
    BLINDING_OUTCOME = "blinding_outcome", "Blinding of outcome assessment (detection bias)"
    INCOMPLETE_DATA = "incomplete_data", "Incomplete outcome data (attrition bias)"
    SELECTIVE_REPORTING = "selective_reporting", "Selective reporting (reporting bias)"
    OTHER = "other", "Other bias"


class Judgment(models.TextChoices):
    LOW = judgments.LOW, judgments.LABELS[judgments.LOW]
    UNCLEAR = judgments.UNCLEAR, judgments.LABELS[judgments.UNCLEAR]
    HIGH = judgments.HIGH, judgments.LABELS[judgments.HIGH]


class RiskOfBiasAssessment(models.Model):
    """One assessor's judgments of one study, or the team's consensus (only that feeds analyses)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rob_assessments")
    # For the consensus: who recorded it. Empty only for a consensus imported by a command (nobody here
    # judged it); ``imported_from`` then says where the judgments come from.
    assessor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rob_assessments",
                                 null=True, blank=True)
    is_consensus = models.BooleanField(default=False)
    imported_from = models.CharField(
        max_length=300, blank=True,
        help_text="Where an imported consensus comes from (e.g. the RevMan file); empty when judged here.",
    )
    # Empty while a draft; the other assessor's judgments stay hidden until both submitted.
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["study", "-is_consensus", "assessor"]
        verbose_name = "risk-of-bias assessment"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "assessor"], condition=Q(is_consensus=False), name="rob_one_per_assessor",
                violation_error_message="This assessor has already assessed this study.",
            ),
            models.UniqueConstraint(
                fields=["study"], condition=Q(is_consensus=True), name="rob_one_consensus",
                violation_error_message="This study already has a consensus assessment.",
            ),
            # Every assessment is someone's, except a consensus that says which file it was imported from.
            models.CheckConstraint(
                condition=Q(assessor__isnull=False) | (Q(is_consensus=True) & ~Q(imported_from="")),
                name="rob_assessor_or_imported",
                violation_error_message="An assessment needs its assessor (only an imported consensus has none).",
            ),
            models.CheckConstraint(
                condition=Q(imported_from="") | Q(is_consensus=True), name="rob_imported_is_consensus",
                violation_error_message="Only a consensus can be imported; each assessor's own is entered here.",
            ),
        ]

    @property
    def recorded_by(self) -> str:
        """Who this assessment is attributed to, in words: the assessor, or the file it came from."""
        if self.imported_from:
            return f"{self.imported_from} (imported by {self.assessor})" if self.assessor else self.imported_from
        return str(self.assessor)

    def __str__(self) -> str:
        who = "consensus" if self.is_consensus else str(self.assessor)
        return f"{self.study} ({who})"


class RiskOfBiasJudgment(models.Model):
    """A judgment in one domain, with the support for it (quotes, reasoning)."""

    assessment = models.ForeignKey(RiskOfBiasAssessment, on_delete=models.CASCADE, related_name="judgments")
    domain = models.CharField(max_length=30, choices=RobDomain.choices)
    judgment = models.CharField(max_length=10, choices=Judgment.choices)
    support = models.TextField(blank=True, help_text="Quote from the report and the reason for the judgment.")

    class Meta:
        ordering = ["assessment", "domain"]
        verbose_name = "risk-of-bias judgment"
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "domain"], name="rob_judgment_one_per_domain",
                violation_error_message="This assessment already has a judgment for this domain.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_domain_display()}: {self.get_judgment_display()}"


# --- RoB 2 ------------------------------------------------------------------------------------
# RoB 2 judges one result (study × outcome), not a study; the algorithm itself lives in
# ``studies.rob2`` (pure Python), and ``studies.services.risk_of_bias`` runs it on every save, so the
# proposed judgments stored here always follow from the stored answers.


class Rob2Answer(models.TextChoices):
    YES = rob2.Y, "Yes"
    PROBABLY_YES = rob2.PY, "Probably yes"
    PROBABLY_NO = rob2.PN, "Probably no"
    NO = rob2.N, "No"
    NO_INFORMATION = rob2.NI, "No information"
    NOT_APPLICABLE = rob2.NA, "Not applicable"


class Rob2Judgment(models.TextChoices):
    LOW = judgments.LOW, judgments.LABELS[judgments.LOW]
    SOME_CONCERNS = judgments.SOME_CONCERNS, judgments.LABELS[judgments.SOME_CONCERNS]
    HIGH = judgments.HIGH, judgments.LABELS[judgments.HIGH]


class Rob2Domain(models.TextChoices):
    RANDOMISATION = "randomisation", "D1 Randomisation process"
    DEVIATIONS = "deviations", "D2 Deviations from intended interventions"
    MISSING_DATA = "missing_data", "D3 Missing outcome data"
    MEASUREMENT = "measurement", "D4 Measurement of the outcome"
    SELECTION = "selection", "D5 Selection of the reported result"


def _justified(prefix: str) -> Q:
    # An override without a reason is not a judgment anyone can check: at least one non-space character.
    return Q(**{f"{prefix}override": ""}) | Q(**{f"{prefix}justification__regex": r"\S"})


class Rob2Assessment(models.Model):
    """One assessor's RoB 2 assessment of one result (study × outcome), or the consensus.

    ``submitted_at`` is empty while the assessor works on a draft; once both assessors have
    submitted, each may see the other's answers (and not before: ``studies.selectors``).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rob2_assessments")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="rob2_assessments")
    assessor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rob2_assessments",
                                 help_text="For the consensus: who recorded it.")
    is_consensus = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    overall_proposed = models.CharField(
        max_length=16, choices=Rob2Judgment.choices, blank=True,
        help_text="Proposed by the RoB 2 algorithm from the domain judgments (empty while incomplete).",
    )
    overall_override = models.CharField(max_length=16, choices=Rob2Judgment.choices, blank=True)
    overall_justification = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["study", "outcome", "-is_consensus", "assessor"]
        verbose_name = "RoB 2 assessment"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "outcome", "assessor"], condition=Q(is_consensus=False), name="rob2_one_per_assessor",
                violation_error_message="This assessor has already assessed this result.",
            ),
            models.UniqueConstraint(
                fields=["study", "outcome"], condition=Q(is_consensus=True), name="rob2_one_consensus",
                violation_error_message="This result already has a consensus assessment.",
            ),
            models.CheckConstraint(
                condition=_justified("overall_"), name="rob2_overall_override_justified",
                violation_error_message="Give a justification for overriding the proposed overall judgment.",
            ),
        ]

    def clean(self) -> None:
        if self.study_id and self.outcome_id and self.study.review_id != self.outcome.review_id:
            raise ValidationError({"outcome": "This outcome belongs to another review."})
        if self.overall_override and not self.overall_justification.strip():
            raise ValidationError({"overall_justification": "Give a justification for overriding the proposed "
                                                            "overall judgment."})

    @property
    def overall(self) -> str:
        """The judgment that counts: the override if any, else the algorithm's proposal."""
        return self.overall_override or self.overall_proposed

    def __str__(self) -> str:
        who = "consensus" if self.is_consensus else str(self.assessor)
        return f"{self.study} · {self.outcome} ({who})"


class Rob2DomainJudgment(models.Model):
    """One domain of a RoB 2 assessment: the algorithm's proposal and an optional override."""

    assessment = models.ForeignKey(Rob2Assessment, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=16, choices=Rob2Domain.choices)
    proposed = models.CharField(max_length=16, choices=Rob2Judgment.choices, blank=True,
                                help_text="Proposed by the algorithm (empty while the answers are incomplete).")
    override = models.CharField(max_length=16, choices=Rob2Judgment.choices, blank=True)
    justification = models.TextField(blank=True)

    class Meta:
        ordering = ["assessment", "domain"]
        verbose_name = "RoB 2 domain judgment"
        constraints = [
            models.UniqueConstraint(fields=["assessment", "domain"], name="rob2_domain_once",
                                    violation_error_message="This assessment already judges this domain."),
            models.CheckConstraint(condition=_justified(""), name="rob2_domain_override_justified",
                                   violation_error_message="Give a justification for overriding the proposed "
                                                           "judgment."),
        ]

    @property
    def judgment(self) -> str:
        return self.override or self.proposed

    def __str__(self) -> str:
        return f"{self.get_domain_display()}: {self.judgment or 'incomplete'}"


class Rob2SignallingAnswer(models.Model):
    """The answer to one signalling question, with the support for it (quotes, reasoning)."""

    assessment = models.ForeignKey(Rob2Assessment, on_delete=models.CASCADE, related_name="answers")
    question = models.CharField(max_length=4, choices=[(q, q) for q in rob2.QUESTION_IDS])
    answer = models.CharField(max_length=2, choices=Rob2Answer.choices)
    comment = models.TextField(blank=True, help_text="Quote from the report and the reason for the answer.")

    class Meta:
        ordering = ["assessment", "question"]
        verbose_name = "RoB 2 signalling answer"
        constraints = [
            models.UniqueConstraint(fields=["assessment", "question"], name="rob2_answer_once",
                                    violation_error_message="This question is already answered."),
            models.CheckConstraint(condition=Q(question__in=rob2.QUESTION_IDS), name="rob2_answer_known_question",
                                   violation_error_message="No such RoB 2 signalling question."),
        ]

    def __str__(self) -> str:
        return f"{self.question}: {self.answer}"
