"""Outcomes (grouped in domains), time points, and arm-level outcome data."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from analysis.engine.direction import Direction as EngineDirection
from studies.models.reviews import (
    CONTINUOUS_MEASURES,
    DICHOTOMOUS_MEASURES,
    GENERIC_MEASURES,
    EffectMeasure,
    ModelRule,
    PoolingMethod,
    Review,
)
from studies.models.studies import Arm, Study
from studies.models.validators import validate_finite, validate_positive_sd, validate_positive_se


class OutcomeDomain(models.Model):
    """A group of outcomes reported together, e.g. Stigma, Clinical symptoms."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="outcome_domains")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["review", "order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "name"], name="outcome_domain_unique_name",
                violation_error_message="This review already has a domain with this name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DataType(models.TextChoices):
    CONTINUOUS = "continuous", "Continuous (n, mean, SD)"
    DICHOTOMOUS = "dichotomous", "Dichotomous (events, total)"
    GENERIC = "generic", "Generic inverse variance (effect, SE)"


class Totals(models.TextChoices):
    """What a RevMan forest plot shows of the pooled results (RevMan's TOTALS setting)."""

    YES = "YES", "Totals and subtotals"
    SUB = "SUB", "Subtotals only"
    NO = "NO", "No totals"


class Direction(models.TextChoices):
    # The engine's values (analysis.engine.direction), which decide the forest plot's captions.
    LOWER_IS_BETTER = EngineDirection.LOWER_IS_BETTER.value, "Lower is better"
    HIGHER_IS_BETTER = EngineDirection.HIGHER_IS_BETTER.value, "Higher is better"


class Outcome(models.Model):
    """An outcome the review analyses, e.g. self-stigma (lower is better)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="outcomes")
    domain = models.ForeignKey(OutcomeDomain, on_delete=models.RESTRICT, related_name="outcomes")
    name = models.CharField(max_length=200)
    is_primary = models.BooleanField(default=False)
    data_type = models.CharField(max_length=12, choices=DataType.choices, default=DataType.CONTINUOUS)
    effect_measure = models.CharField(max_length=10, choices=EffectMeasure.choices, default=EffectMeasure.SMD)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    order = models.PositiveSmallIntegerField(default=0)
    # The range of the outcome's scale, for the extraction checks (a mean outside it, an SD larger
    # than it are implausible and warned about before saving).
    scale_min = models.FloatField("scale minimum", null=True, blank=True, validators=[validate_finite])
    scale_max = models.FloatField("scale maximum", null=True, blank=True, validators=[validate_finite])

    # Where an outcome came from a RevMan analysis: its number there ("1.2"), shown as its key.
    revman_number = models.CharField("RevMan analysis number", max_length=20, blank=True)
    # Per-outcome analysis settings, as RevMan keeps them per analysis; empty means the review's own
    # setting (and the RevMan default method for the measure: Mantel–Haenszel for dichotomous data).
    pooling_method = models.CharField(max_length=4, choices=PoolingMethod.choices, blank=True)
    model_rule = models.CharField(
        "model", max_length=10, choices=ModelRule.choices, blank=True,
        help_text="Fixed or random effects for this outcome; empty follows the review's rule.")
    confidence_level = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.5), MaxValueValidator(0.999)],
        help_text="Empty follows the review's confidence level.")
    # RevMan keeps the studies' CI level (CI_STUDY) apart from the totals' (CI_TOTAL, above).
    study_confidence_level = models.FloatField(
        "study confidence level", null=True, blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(0.999)],
        help_text="Confidence level of each study's interval; empty follows the outcome's confidence level.")
    swap_events = models.BooleanField(
        default=False, help_text="Analyse the non-events (RevMan's 'swap event and non-event').")
    totals = models.CharField(max_length=3, choices=Totals.choices, default=Totals.YES)
    # Generic inverse variance: the name of the measure entered (e.g. "Hazard Ratio") and whether
    # the effects are logs of ratios (shown exponentiated).
    generic_measure = models.CharField(max_length=100, blank=True)
    log_scale = models.BooleanField(default=False)

    class Meta:
        ordering = ["review", "domain__order", "order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "name"], name="outcome_unique_name",
                violation_error_message="This review already has an outcome with this name.",
            ),
            models.CheckConstraint(
                condition=(Q(data_type=DataType.CONTINUOUS) & Q(effect_measure__in=CONTINUOUS_MEASURES))
                | (Q(data_type=DataType.DICHOTOMOUS) & Q(effect_measure__in=DICHOTOMOUS_MEASURES))
                | (Q(data_type=DataType.GENERIC) & Q(effect_measure__in=GENERIC_MEASURES)),
                name="outcome_measure_fits_data_type",
                violation_error_message=(
                    "The effect measure must fit the data type: SMD or MD for continuous data, "
                    "OR, RR, RD or Peto OR for dichotomous data, generic inverse variance for effects with SEs."
                ),
            ),
            models.UniqueConstraint(
                fields=["review", "revman_number"], condition=~Q(revman_number=""),
                name="outcome_unique_revman_number",
                violation_error_message="This review already has an outcome with this RevMan analysis number.",
            ),
            models.CheckConstraint(
                condition=Q(pooling_method="") | Q(pooling_method="IV")
                | Q(data_type=DataType.DICHOTOMOUS, pooling_method__in=["MH", "PETO"]),
                name="outcome_mantel_haenszel_dichotomous",
                violation_error_message="Mantel–Haenszel pooling is for dichotomous outcomes only.",
            ),
            # The Peto method pools Peto odds ratios and nothing else, with the fixed-effect model only
            # (Cochrane Handbook 5.1, section 9.4.4.2 and Table 9.4.a; RevMan offers no other model).
            models.CheckConstraint(
                condition=Q(effect_measure=EffectMeasure.PETO_OR, pooling_method__in=["", "PETO"],
                            model_rule__in=["", ModelRule.FIXED])
                | (~Q(effect_measure=EffectMeasure.PETO_OR) & ~Q(pooling_method="PETO")),
                name="outcome_peto_method_peto_odds_ratio",
                violation_error_message=(
                    "The Peto method pools Peto odds ratios only, and a Peto odds ratio is pooled by the Peto "
                    "method with the fixed-effect model only."),
            ),
            models.CheckConstraint(
                condition=Q(study_confidence_level__isnull=True)
                | Q(study_confidence_level__gte=0.5, study_confidence_level__lt=1),
                name="outcome_study_confidence_level_range",
                violation_error_message="The study confidence level must be at least 0.5 and below 1.",
            ),
        ]

    def clean(self) -> None:
        if self.domain_id and self.review_id and self.domain.review_id != self.review_id:
            raise ValidationError({"domain": "This domain belongs to another review."})
        if self.scale_min is not None and self.scale_max is not None and self.scale_max <= self.scale_min:
            raise ValidationError({"scale_max": "The scale maximum must be above its minimum."})
        if self.pk:
            # Its rows are of its data type (events, means and SDs, or studies' estimates for generic
            # data): the type changes only while it has none.
            stored = type(self).objects.filter(pk=self.pk).values_list("data_type", flat=True).first()
            if stored is not None and stored != self.data_type and (self.data.exists() or self.estimates.exists()):
                kind = "generic estimates" if stored == DataType.GENERIC else "outcome data"
                raise ValidationError({"data_type": f"This outcome has {kind}; remove them before changing "
                                                    "its data type."})

    def __str__(self) -> str:
        return self.name


class TimePoint(models.Model):
    """When an outcome was measured, e.g. end of intervention, 6-month follow-up."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="time_points")
    label = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(default=0)
    is_analysis_default = models.BooleanField(
        default=False, help_text="The time point the review's main analyses use."
    )

    class Meta:
        ordering = ["review", "order", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "label"], name="time_point_unique_label",
                violation_error_message="This review already has this time point.",
            ),
            models.UniqueConstraint(
                fields=["review"], condition=Q(is_analysis_default=True), name="time_point_one_default",
                violation_error_message="This review already has a default analysis time point.",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class OutcomeSubgroup(models.Model):
    """A subgroup of one outcome's analysis, as RevMan defines them per analysis (e.g. "Low dose").

    Review-wide subgroup variables are study characteristics; these split a single analysis, and a
    study may sit in several of them (e.g. each dose arm of a multi-arm trial against its control).
    """

    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="subgroups")
    name = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["outcome", "order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["outcome", "name"], name="outcome_subgroup_unique_name",
                violation_error_message="This outcome already has a subgroup with this name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ValueType(models.TextChoices):
    CHANGE = "change", "Change from baseline"
    FINAL = "final", "Final value"


class Provenance(models.TextChoices):
    """How a row's numbers were obtained (the weakest of its values: see ``analysis.engine.conversions``)."""

    REPORTED = "reported", "Reported"
    CALCULATED = "calculated", "Calculated"
    ESTIMATED = "estimated", "Estimated"  # e.g. mean and SD from a median and IQR
    IMPUTED = "imputed", "Imputed"  # relies on an assumed value, e.g. a correlation


class CheckState(models.TextChoices):
    """Whether a row's entered numbers are the ones the published analysis uses (DESIGN.md, "Trust
    before publication")."""

    CONFIRMED = "confirmed", "Confirmed"
    AWAITING_CHECK = "awaiting_check", "Awaiting check"


# The numbers a row holds twice: as entered, and as last confirmed (what the analysis reads).
CHECKED_NUMBERS = ("n", "mean", "sd", "events", "total")
# The same for a study estimate (generic inverse variance); its confirmed estimate and SE are both set
# or both empty.
CHECKED_ESTIMATE_NUMBERS = ("estimate", "se", "n_intervention", "n_control")
HAS_CONFIRMED_ESTIMATE = Q(confirmed_se__isnull=False)
# The rows the published analysis (and anything public) uses: those with confirmed numbers. A new row
# held for its check has none; the constraints below make the numbers a whole set or none.
HAS_CONFIRMED_NUMBERS = Q(confirmed_n__isnull=False) | Q(confirmed_events__isnull=False)

_FINITE = float("inf")


def _confirmed_matches_entered() -> Q:
    """Each confirmed number equals the entered one (both empty counts as equal)."""
    condition = Q()
    for name in CHECKED_NUMBERS:
        condition &= Q(**{f"{name}__isnull": True, f"confirmed_{name}__isnull": True}) | Q(
            **{f"confirmed_{name}": models.F(name)})
    return condition


def _same_or_both_empty(name: str) -> Q:
    """A nullable number and its confirmed copy are equal, or both empty (never one without the other:
    an SQL comparison with an empty side would let it pass)."""
    return Q(**{f"{name}__isnull": True, f"confirmed_{name}__isnull": True}) | Q(
        **{f"{name}__isnull": False, f"confirmed_{name}__isnull": False, f"confirmed_{name}": models.F(name)})


class HeldForCheck(models.Model):
    """The plausibility check's own fields (studies.services.plausibility), shared by the rows whose
    numbers it checks: arm data (OutcomeData) and study estimates. Each keeps its numbers twice, as
    entered and as last confirmed (``confirmed_*``, what the published analysis reads)."""

    check_state = models.CharField(max_length=16, choices=CheckState.choices, default=CheckState.CONFIRMED)
    check_flags = models.JSONField(
        default=list, blank=True, help_text="Why the entry is held: [{rule, field, message}].")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who entered the numbers last changed.")
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who confirmed or corrected a held entry.")
    checked_at = models.DateTimeField(null=True, blank=True)
    # The numbers the check is about (each with its confirmed_* copy); set by each model.
    checked_numbers: tuple[str, ...] = ()
    # Where an entry sits (foreign keys): a confirm names the place the checker saw it in, and is
    # refused if the entry has moved since.
    checked_place: tuple[str, ...] = ()

    class Meta:
        abstract = True


class OutcomeData(HeldForCheck):
    """The summary data of one arm for one outcome at one time point.

    Continuous rows hold n, mean and SD; dichotomous rows hold events and total. ``study`` is
    stored beside ``arm`` so the admin can edit data inline under a study; a composite foreign
    key (see the migration) makes the database refuse a row whose arm belongs to another study.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="outcome_data")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="data")
    time_point = models.ForeignKey(TimePoint, on_delete=models.RESTRICT, related_name="data")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="outcome_data")
    n = models.PositiveIntegerField(null=True, blank=True, validators=[
        MinValueValidator(1, message="n must be at least 1 (got %(show_value)s).")])
    mean = models.FloatField(null=True, blank=True, validators=[validate_finite])
    sd = models.FloatField("SD", null=True, blank=True, validators=[validate_positive_sd])
    events = models.PositiveIntegerField(null=True, blank=True, validators=[
        MinValueValidator(0, message="Events cannot be negative (got %(show_value)s).")])
    total = models.PositiveIntegerField(null=True, blank=True, validators=[
        MinValueValidator(1, message="Total must be at least 1 (got %(show_value)s).")])
    value_type = models.CharField(max_length=10, choices=ValueType.choices, default=ValueType.CHANGE)
    instrument = models.CharField(max_length=200, blank=True, help_text="Scale or instrument, e.g. ISMI.")
    provenance = models.CharField(max_length=12, choices=Provenance.choices, default=Provenance.REPORTED)
    source_location = models.CharField(
        max_length=200, blank=True, help_text="Where in the report the numbers are, e.g. 'Table 2, p. 5'.")
    # How each derived number was obtained: {"sd": {"method": "sd_from_se", "inputs": {...},
    # "provenance": "calculated", "description": "...", "source": "Cochrane Handbook 6.5.2.2"}}.
    derivation = models.JSONField(default=dict, blank=True)
    include_in_analysis = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    # The outcome's own subgroup this row is analysed in (RevMan subgroups); empty for none.
    # RESTRICT: a subgroup is not removed from under its rows (deleting the outcome removes both).
    subgroup = models.ForeignKey(OutcomeSubgroup, null=True, blank=True, on_delete=models.RESTRICT,
                                 related_name="data")
    updated_at = models.DateTimeField(auto_now=True)
    # The plausibility check (studies.services.plausibility). The numbers above are what was last
    # entered; the confirmed_* ones are what the published analysis reads. They are equal while the
    # row is confirmed; an entry held "awaiting check" changes only the entered ones, so the pooled
    # result keeps the last confirmed numbers (or leaves a new row out) until a second team member
    # confirms or corrects it.
    confirmed_n = models.PositiveIntegerField(null=True, blank=True, editable=False)
    confirmed_mean = models.FloatField(null=True, blank=True, editable=False)
    confirmed_sd = models.FloatField("confirmed SD", null=True, blank=True, editable=False)
    confirmed_events = models.PositiveIntegerField(null=True, blank=True, editable=False)
    confirmed_total = models.PositiveIntegerField(null=True, blank=True, editable=False)

    checked_numbers = CHECKED_NUMBERS
    checked_place = ("outcome", "time_point", "arm", "subgroup")  # an arm is of one study (OutcomeData.clean)

    class Meta:
        ordering = ["study", "outcome", "time_point", "-arm__role"]
        verbose_name_plural = "outcome data"
        constraints = [
            models.UniqueConstraint(
                fields=["outcome", "time_point", "arm"], name="outcome_data_one_per_arm",
                violation_error_message="This arm already has data for this outcome at this time point.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(n__isnull=False, mean__isnull=False, sd__isnull=False, events__isnull=True, total__isnull=True)
                    | Q(n__isnull=True, mean__isnull=True, sd__isnull=True, events__isnull=False, total__isnull=False)
                ),
                name="outcome_data_continuous_or_dichotomous",
                violation_error_message="Enter either n, mean and SD (continuous) or events and total (dichotomous).",
            ),
            models.CheckConstraint(
                condition=Q(n__isnull=True) | Q(n__gte=1), name="outcome_data_n_at_least_1",
                violation_error_message="n must be at least 1.",
            ),
            # In PostgreSQL NaN sorts above infinity, so these ranges also refuse NaN.
            models.CheckConstraint(
                condition=Q(sd__isnull=True) | (Q(sd__gt=0) & Q(sd__lt=_FINITE)), name="outcome_data_sd_positive",
                violation_error_message="SD must be a finite number greater than 0.",
            ),
            models.CheckConstraint(
                condition=Q(mean__isnull=True) | (Q(mean__gt=-_FINITE) & Q(mean__lt=_FINITE)),
                name="outcome_data_mean_finite",
                violation_error_message="Mean must be a finite number.",
            ),
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(total__gte=1), name="outcome_data_total_at_least_1",
                violation_error_message="Total must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(events__isnull=True) | Q(events__lte=models.F("total")),
                name="outcome_data_events_within_total",
                violation_error_message="Events cannot exceed the total.",
            ),
            # A confirmed row is analysed as entered; only a held one may differ from its confirmed numbers.
            models.CheckConstraint(
                condition=Q(check_state=CheckState.AWAITING_CHECK)
                | (Q(check_state=CheckState.CONFIRMED) & _confirmed_matches_entered()),
                name="outcome_data_confirmed_is_entered",
                violation_error_message="A confirmed row's analysed numbers must be its entered numbers.",
            ),
            # The analysed numbers are a whole continuous or dichotomous set, or none (never confirmed).
            models.CheckConstraint(
                condition=Q(confirmed_n__isnull=True, confirmed_mean__isnull=True, confirmed_sd__isnull=True,
                            confirmed_events__isnull=True, confirmed_total__isnull=True)
                | Q(confirmed_n__isnull=False, confirmed_mean__isnull=False, confirmed_sd__isnull=False,
                    confirmed_events__isnull=True, confirmed_total__isnull=True)
                | Q(confirmed_n__isnull=True, confirmed_mean__isnull=True, confirmed_sd__isnull=True,
                    confirmed_events__isnull=False, confirmed_total__isnull=False),
                name="outcome_data_confirmed_whole",
                violation_error_message="The confirmed numbers must be a whole continuous or dichotomous set.",
            ),
        ]

    def clean(self) -> None:
        """Cross-row rules the field validators cannot see; each error names its field."""
        errors: dict[str, str] = {}
        study = self.study if self.study_id else None
        if study is not None:
            if self.arm_id and self.arm.study_id != study.pk:
                errors["arm"] = "This arm belongs to another study."
            if self.outcome_id and self.outcome.review_id != study.review_id:
                errors["outcome"] = "This outcome belongs to another review."
            if self.time_point_id and self.time_point.review_id != study.review_id:
                errors["time_point"] = "This time point belongs to another review."
        if self.subgroup_id and self.outcome_id and self.subgroup.outcome_id != self.outcome_id:
            errors["subgroup"] = "This subgroup belongs to another outcome."
        if self.outcome_id and self.outcome.data_type == DataType.GENERIC:
            errors["outcome"] = f"{self.outcome} takes study estimates and SEs, not arm data."
        if self.outcome_id and "outcome" not in errors:
            if self.outcome.data_type == DataType.CONTINUOUS:
                for name in ("n", "mean", "sd"):
                    if getattr(self, name) is None:
                        errors[name] = f"{self.outcome} is continuous: enter n, mean and SD."
                for name in ("events", "total"):
                    if getattr(self, name) is not None:
                        errors[name] = f"{self.outcome} is continuous: leave events and total empty."
            else:
                for name in ("events", "total"):
                    if getattr(self, name) is None:
                        errors[name] = f"{self.outcome} is dichotomous: enter events and total."
                for name in ("n", "mean", "sd"):
                    if getattr(self, name) is not None:
                        errors[name] = f"{self.outcome} is dichotomous: leave n, mean and SD empty."
        if self.events is not None and self.total is not None and self.events > self.total:
            errors.setdefault("events", f"Events ({self.events}) cannot exceed the total ({self.total}).")
        self._clean_against_study(errors)
        if errors:
            raise ValidationError(errors)

    def _clean_against_study(self, errors: dict[str, str]) -> None:
        """Values impossible given the arm, the outcome's scale or the row's own derivation: refused
        (the soft "awaiting check" rules are in ``studies.services.plausibility``)."""
        arm = self.arm if self.arm_id and "arm" not in errors else None
        people, name = (self.n, "n") if self.n is not None else (self.total, "total")
        if arm is not None and arm.randomised is not None and people is not None and people > arm.randomised:
            errors.setdefault(name, f"{'n' if name == 'n' else 'Total'} {people} is above the {arm.randomised} "
                                    f"randomised to {arm.label}.")
        outcome = self.outcome if self.outcome_id and "outcome" not in errors else None
        if outcome is not None and self.mean is not None and outcome.scale_min is not None \
                and outcome.scale_max is not None:
            low, high = outcome.scale_min, outcome.scale_max
            # A change from baseline may lie anywhere in ±(range); a final value must lie on the scale.
            lo, hi = (low - high, high - low) if self.value_type == ValueType.CHANGE else (low, high)
            if not lo <= self.mean <= hi:
                kind = "a change from baseline" if self.value_type == ValueType.CHANGE else "a final value"
                errors.setdefault("mean", f"Mean {self.mean:g} is outside the scale of {outcome} for {kind} "
                                          f"({lo:g} to {hi:g}).")
        spec = (self.derivation or {}).get("sd") if isinstance(self.derivation, dict) else None
        inputs = spec.get("inputs") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and spec.get("method") == "sd_from_ci" and isinstance(inputs, dict) \
                and self.mean is not None:
            try:
                lower, upper = float(inputs["lower"]), float(inputs["upper"])
            except (KeyError, TypeError, ValueError):
                return
            if not lower <= self.mean <= upper:
                errors.setdefault("mean", f"Mean {self.mean:g} is not inside its confidence interval "
                                          f"({lower:g} to {upper:g}): check the mean and the CI.")

    def __str__(self) -> str:
        if self.events is not None:
            return f"{self.outcome} · {self.arm.label}: {self.events}/{self.total}"
        return f"{self.outcome} · {self.arm.label}: n={self.n}, mean={self.mean}, SD={self.sd}"


class StudyEstimate(HeldForCheck):
    """A study's effect estimate and its standard error for a generic inverse-variance outcome
    (e.g. an adjusted log hazard ratio), on the analysis scale (the log for ratios)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="estimates")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="estimates")
    time_point = models.ForeignKey(TimePoint, on_delete=models.RESTRICT, related_name="estimates")
    subgroup = models.ForeignKey(OutcomeSubgroup, null=True, blank=True, on_delete=models.RESTRICT,
                                 related_name="estimates")
    estimate = models.FloatField(validators=[validate_finite])
    se = models.FloatField("SE", validators=[validate_positive_se])
    n_intervention = models.PositiveIntegerField(null=True, blank=True, validators=[
        MinValueValidator(1, message="n intervention must be at least 1 (got %(show_value)s).")])
    n_control = models.PositiveIntegerField(null=True, blank=True, validators=[
        MinValueValidator(1, message="n control must be at least 1 (got %(show_value)s).")])
    # RevMan lists a study's rows in a user-chosen order; kept so exports and forest plots follow it.
    order = models.PositiveIntegerField(default=0)
    include_in_analysis = models.BooleanField(default=True)
    source_location = models.CharField(max_length=200, blank=True)
    provenance = models.CharField(max_length=12, choices=Provenance.choices, default=Provenance.REPORTED)
    # How the estimate and SE were obtained when converted (e.g. from a hazard ratio and its CI), as
    # for arm data: {"se": {"method": "log_ratio_from_ci", "inputs": {...}, "provenance": ..., ...}}.
    derivation = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The plausibility check, as for arm data (OutcomeData): the estimate and SE above are what was
    # last entered; the confirmed_* ones are what the published analysis reads, equal while confirmed.
    confirmed_estimate = models.FloatField(null=True, blank=True, editable=False)
    confirmed_se = models.FloatField("confirmed SE", null=True, blank=True, editable=False)
    # The group sizes are published too (forest plot, participants in the summary of findings, GRADE's
    # imprecision), so they are checked numbers like the estimate.
    confirmed_n_intervention = models.PositiveIntegerField(null=True, blank=True, editable=False)
    confirmed_n_control = models.PositiveIntegerField(null=True, blank=True, editable=False)

    checked_numbers = CHECKED_ESTIMATE_NUMBERS
    checked_place = ("study", "outcome", "time_point", "subgroup")

    class Meta:
        ordering = ["outcome", "order", "study"]
        constraints = [
            models.UniqueConstraint(
                fields=["outcome", "time_point", "study", "subgroup"], nulls_distinct=False,
                name="study_estimate_one_per_study",
                violation_error_message="This study already has an estimate for this outcome and subgroup.",
            ),
            models.CheckConstraint(
                condition=Q(se__gt=0) & Q(se__lt=_FINITE), name="study_estimate_se_positive",
                violation_error_message="SE must be a finite number greater than 0.",
            ),
            models.CheckConstraint(
                condition=Q(estimate__gt=-_FINITE) & Q(estimate__lt=_FINITE), name="study_estimate_finite",
                violation_error_message="The estimate must be a finite number.",
            ),
            # A confirmed estimate is analysed as entered; only a held one may differ from its confirmed
            # numbers, which are both set or both empty (a new estimate held for its check).
            models.CheckConstraint(
                condition=Q(check_state=CheckState.AWAITING_CHECK)
                | (Q(check_state=CheckState.CONFIRMED, confirmed_estimate__isnull=False, confirmed_se__isnull=False,
                     confirmed_estimate=models.F("estimate"), confirmed_se=models.F("se"))
                   & _same_or_both_empty("n_intervention") & _same_or_both_empty("n_control")),
                name="study_estimate_confirmed_is_entered",
                violation_error_message="A confirmed estimate's analysed numbers must be its entered numbers.",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_estimate__isnull=True, confirmed_se__isnull=True)
                | Q(confirmed_estimate__isnull=False, confirmed_se__isnull=False),
                name="study_estimate_confirmed_whole",
                violation_error_message="The confirmed estimate and SE are both set or both empty.",
            ),
        ]

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.outcome_id and self.outcome.data_type != DataType.GENERIC:
            errors["outcome"] = f"{self.outcome} is not a generic inverse-variance outcome."
        if self.study_id and self.outcome_id and self.outcome.review_id != self.study.review_id:
            errors["outcome"] = "This outcome belongs to another review."
        if self.subgroup_id and self.outcome_id and self.subgroup.outcome_id != self.outcome_id:
            errors["subgroup"] = "This subgroup belongs to another outcome."
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return f"{self.outcome} · {self.study}: {self.estimate} (SE {self.se})"
