"""A review, its team, and its analysis settings."""
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

# The values of the analysis vocabularies are the engine's (analysis.engine is pure NumPy, the one
# part of analysis studies may import): stated once, so a setting stored here is always a value
# the engine knows. The labels are the back office's.
from analysis.engine.options import Measure, Tau2Method
from analysis.engine.options import ModelRule as EngineModelRule
from analysis.engine.options import PoolingMethod as EnginePoolingMethod


class EffectMeasure(models.TextChoices):
    SMD = Measure.SMD.value, "Std. mean difference (Hedges' g, RevMan)"
    SMD_EXACT = Measure.SMD_EXACT.value, "Std. mean difference (Hedges' g, exact)"
    MD = Measure.MD.value, "Mean difference"
    OR = Measure.OR.value, "Odds ratio"
    RR = Measure.RR.value, "Risk ratio"
    RD = Measure.RD.value, "Risk difference"
    PETO_OR = Measure.PETO_OR.value, "Peto odds ratio"
    # Effects and standard errors entered per study (RevMan's generic inverse variance).
    GENERIC = Measure.GENERIC.value, "Generic inverse variance"


CONTINUOUS_MEASURES = (EffectMeasure.SMD, EffectMeasure.SMD_EXACT, EffectMeasure.MD)
DICHOTOMOUS_MEASURES = (EffectMeasure.OR, EffectMeasure.RR, EffectMeasure.RD, EffectMeasure.PETO_OR)
GENERIC_MEASURES = (EffectMeasure.GENERIC,)


class ModelRule(models.TextChoices):
    FIXED = EngineModelRule.FIXED.value, "Fixed effect"
    RANDOM = EngineModelRule.RANDOM.value, "Random effects"
    AUTO = EngineModelRule.AUTO.value, "Automatic: random when I² ≥ threshold"


class PoolingMethod(models.TextChoices):
    IV = EnginePoolingMethod.IV.value, "Inverse variance"
    MH = EnginePoolingMethod.MH.value, "Mantel–Haenszel"
    PETO = EnginePoolingMethod.PETO.value, "Peto (Peto odds ratio, fixed effect only)"


class Tau2Estimator(models.TextChoices):
    DL = Tau2Method.DL.value, "DerSimonian–Laird"
    REML = Tau2Method.REML.value, "Restricted maximum likelihood"
    PM = Tau2Method.PM.value, "Paule–Mandel"


class RiskOfBiasTool(models.TextChoices):
    ROB1 = "ROB1", "Cochrane RoB 1 (per study)"
    ROB2 = "ROB2", "RoB 2, individually randomised parallel-group trials (per result)"


# RoB 1 has no overall judgment; the Cochrane Handbook (5.1, 8.7) summarises a study as low risk when
# it is at low risk in every *key* domain, high when high in any. Blinding of participants is
# left out by default: in trials of behavioural interventions it can rarely be achieved, and
# including it would mark every such trial high.
ROB1_DEFAULT_KEY_DOMAINS = [
    "random_sequence", "allocation_concealment", "blinding_outcome", "incomplete_data", "selective_reporting",
]


def rob1_default_key_domains() -> list[str]:
    return list(ROB1_DEFAULT_KEY_DOMAINS)


# The RoB 1 domains (``studies.models.risk_of_bias.RobDomain``), repeated here as plain choices
# because that module imports this one.
ROB1_DOMAIN_CHOICES = [
    ("random_sequence", "Random sequence generation"), ("allocation_concealment", "Allocation concealment"),
    ("blinding_participants", "Blinding of participants and personnel"),
    ("blinding_outcome", "Blinding of outcome assessment"), ("incomplete_data", "Incomplete outcome data"),
    ("selective_reporting", "Selective reporting"), ("other", "Other bias"),
]


class Review(models.Model):
    """A systematic review, with its question, criteria and the settings of its analyses."""

    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=100, unique=True)
    question = models.TextField(blank=True, help_text="The review question.")
    population = models.TextField(blank=True, help_text="PICO: participants.")
    intervention = models.TextField(blank=True, help_text="PICO: intervention.")
    comparison = models.TextField(blank=True, help_text="PICO: comparator.")
    outcomes_summary = models.TextField("outcomes", blank=True, help_text="PICO: outcomes.")
    registration_id = models.CharField(
        max_length=100, blank=True, help_text="Registration, e.g. PROSPERO CRD42021240000."
    )
    inclusion_criteria = models.TextField(blank=True)
    exclusion_criteria = models.TextField(blank=True)
    is_public = models.BooleanField(
        default=False, help_text="Readers without a login can see the review's analysis pages."
    )
    is_synthetic = models.BooleanField(
        default=False, help_text="Demo data: every page that shows it says it is synthetic."
    )

    # Analysis settings (DESIGN.md step 5). Both models are always computed; the rule picks
    # the one reported.
    effect_measure = models.CharField(
        max_length=10, choices=EffectMeasure.choices, default=EffectMeasure.SMD,
        help_text="Default effect measure for new continuous outcomes.",
    )
    model_rule = models.CharField(max_length=10, choices=ModelRule.choices, default=ModelRule.AUTO)
    i2_threshold = models.FloatField(
        "I² threshold (%)", default=50.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="With the automatic rule: random effects when I² is at least this.",
    )
    tau2_estimator = models.CharField(
        "τ² estimator", max_length=10, choices=Tau2Estimator.choices, default=Tau2Estimator.DL
    )
    hartung_knapp = models.BooleanField(
        "Hartung–Knapp–Sidik–Jonkman CI", default=False,
        help_text="Random-effects CI from a t distribution on k−1 df.",
    )
    confidence_level = models.FloatField(
        default=0.95, validators=[MinValueValidator(0.5), MaxValueValidator(0.999)]
    )
    funnel_min_studies = models.PositiveSmallIntegerField(
        "minimum studies for a funnel plot", default=10, validators=[MinValueValidator(3)],
        help_text="Funnel plots and Egger's test are shown from this many studies (Cochrane Handbook 13.3.5.4).",
    )
    rob_tool = models.CharField(
        "risk-of-bias tool", max_length=10, choices=RiskOfBiasTool.choices, default=RiskOfBiasTool.ROB1,
        help_text="The tool whose consensus judgments the figures and the risk-of-bias sensitivity analyses use.",
    )
    rob1_key_domains = ArrayField(
        models.CharField(max_length=30, choices=ROB1_DOMAIN_CHOICES), default=rob1_default_key_domains, blank=True,
        verbose_name="RoB 1 key domains",
        help_text="RoB 1: a study is at low risk overall when low in all of these, high when high in any "
                  "(Cochrane Handbook 5.1, 8.7).",
    )

    # Screening settings (issue 7).
    fulltext_reason_conflict = models.BooleanField(
        "different full-text exclusion reasons are a conflict", default=True,
        help_text="When both screeners exclude a full text for different reasons, a tutor decides the reason.",
    )
    include_terms = ArrayField(
        models.CharField(max_length=100), default=list, blank=True,
        help_text="Words highlighted in green on the screening page (e.g. randomised, peer). Comma-separated.",
    )
    exclude_terms = ArrayField(
        models.CharField(max_length=100), default=list, blank=True,
        help_text="Words highlighted in red on the screening page (e.g. qualitative, protocol). Comma-separated.",
    )

    # Extraction settings (issue 9).
    dual_extraction = models.BooleanField(
        default=False, help_text="Two extractors enter each study's data independently; a consensus is analysed.")
    change_sd_correlation = models.FloatField(
        "default correlation for change-score SDs", default=0.5,
        validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="r between baseline and final values used to impute an SD of change (Cochrane Handbook 6.5.2.8); "
                  "an extractor may override it per conversion.",
    )

    # Bumped in the same transaction as any change to an analysis input (DESIGN.md, "Living
    # analysis"); results record the version they were computed from.
    data_version = models.PositiveBigIntegerField(default=1, editable=False)
    # When the review's latest release was cut (written by the releases service in analysis): the
    # cut-off of PRISMA's flow for updated reviews on the living pages (``prisma_previous_version_at``).
    latest_release_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(i2_threshold__gte=0) & Q(i2_threshold__lte=100),
                name="review_i2_threshold_0_100",
                violation_error_message="I² threshold must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(confidence_level__gte=0.5) & Q(confidence_level__lt=1),
                name="review_confidence_level_range",
                violation_error_message="Confidence level must be at least 0.5 and below 1.",
            ),
            models.CheckConstraint(
                condition=Q(change_sd_correlation__gte=-1) & Q(change_sd_correlation__lte=1),
                name="review_change_sd_correlation_range",
                violation_error_message="The correlation must lie between -1 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(funnel_min_studies__gte=3),
                name="review_funnel_min_studies_3",
                violation_error_message="A funnel plot needs at least 3 studies.",
            ),
        ]

    def save(self, *args, **kwargs) -> None:
        # The data version only moves by an atomic UPDATE (services.review_data_version_bump); saving
        # a review loaded earlier must never write its stale copy back over a newer version.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "data_version"
            ]
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.title


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    SCREENER = "screener", "Screener"
    TUTOR = "tutor", "Tutor"
    EXTRACTOR = "extractor", "Extractor"
    ASSESSOR = "assessor", "Risk-of-bias assessor"


class ReviewMembership(models.Model):
    """A user's role in a review. A user may hold several roles: one row per role."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["review", "user", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "user", "role"], name="membership_unique_role",
                violation_error_message="This user already has this role in this review.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.review}"
