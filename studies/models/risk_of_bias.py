"""Risk of bias (Cochrane RoB 1): assessments per study and assessor, and a consensus."""
from django.conf import settings
from django.db import models
from django.db.models import Q

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
    LOW = "low", "Low risk"
    UNCLEAR = "unclear", "Unclear risk"
    HIGH = "high", "High risk"


class RiskOfBiasAssessment(models.Model):
    """One assessor's judgments of one study, or the team's consensus (only that feeds analyses)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rob_assessments")
    assessor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rob_assessments")
    is_consensus = models.BooleanField(default=False)
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
        ]

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
