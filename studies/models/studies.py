"""Included studies, their reports, arms and characteristics."""
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from studies.models.records import Record
from studies.models.reviews import Review
from studies.models.validators import validate_finite, validate_year


class Study(models.Model):
    """An included trial. Its reports are the records that describe it (one primary)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="studies")
    label = models.CharField(max_length=100, help_text="Short label as in a forest plot, e.g. 'Smith 2019'.")
    year = models.PositiveSmallIntegerField(null=True, blank=True, validators=[validate_year])
    is_included = models.BooleanField(
        default=True, help_text="Included in the review's analyses. Excluding keeps the data."
    )
    notes = models.TextField(blank=True)
    # A study an imported RevMan review had included (``studies.services.revman``): PRISMA counts it
    # among the "studies included in previous version of review", with or without a reference.
    revman_import = models.ForeignKey(
        "studies.RevManImport", null=True, blank=True, on_delete=models.SET_NULL, related_name="studies",
        help_text="The RevMan review this study came with (included there).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Dual extraction: when the extractors' consensus was last recorded (data that came before, from
    # single extraction or a RevMan file, is not a consensus the extractors reached).
    extraction_agreed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["review", "label"]
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(
                fields=["review", "label"], name="study_unique_label",
                violation_error_message="This review already has a study with this label.",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class Report(models.Model):
    """A record that reports on a study. A record belongs to at most one study."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    record = models.OneToOneField(Record, on_delete=models.RESTRICT, related_name="report")
    is_primary = models.BooleanField(default=False, help_text="The study's main publication.")

    class Meta:
        ordering = ["study", "-is_primary", "record"]
        constraints = [
            models.UniqueConstraint(
                fields=["study"], condition=Q(is_primary=True), name="report_one_primary_per_study",
                violation_error_message="This study already has a primary report.",
            ),
        ]

    def clean(self) -> None:
        if self.study_id and self.record_id:
            if self.record.review_id != self.study.review_id:
                raise ValidationError({"record": "This record belongs to another review."})
            if self.record.duplicate_of_id is not None:
                raise ValidationError({"record": "This record is a duplicate; link the record it duplicates."})

    def __str__(self) -> str:
        return f"{self.record} ({'primary' if self.is_primary else 'secondary'} report of {self.study})"


class CharacteristicType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    CHOICE = "choice", "One of a list"


class CharacteristicField(models.Model):
    """A study characteristic the review records (e.g. country, intervention type).

    A field marked as a subgroup variable splits every analysis by its values (e.g. HOP vs non-HOP).
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="characteristic_fields")
    name = models.CharField(max_length=100)
    data_type = models.CharField(max_length=10, choices=CharacteristicType.choices, default=CharacteristicType.TEXT)
    choices = ArrayField(
        models.CharField(max_length=100), default=list, blank=True,
        help_text="The allowed values, for 'one of a list'.",
    )
    is_subgroup_variable = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)
    help_text = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["review", "order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "name"], name="characteristic_field_unique_name",
                violation_error_message="This review already has a characteristic with this name.",
            ),
            models.CheckConstraint(
                condition=~Q(data_type=CharacteristicType.CHOICE) | Q(choices__len__gt=0),
                name="characteristic_field_choices_given",
                violation_error_message="List the allowed values of a 'one of a list' characteristic.",
            ),
            models.CheckConstraint(
                condition=~Q(is_subgroup_variable=True) | Q(data_type=CharacteristicType.CHOICE),
                name="characteristic_field_subgroup_is_choice",
                violation_error_message="A subgroup variable must be 'one of a list', so its subgroups are known.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StudyCharacteristic(models.Model):
    """The value of one characteristic for one study."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="characteristics")
    field = models.ForeignKey(CharacteristicField, on_delete=models.CASCADE, related_name="values")
    value_text = models.CharField("value", max_length=500, blank=True)
    value_number = models.FloatField("numeric value", null=True, blank=True, validators=[validate_finite])

    class Meta:
        ordering = ["study", "field__order", "field__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "field"], name="study_characteristic_unique",
                violation_error_message="This study already has a value for this characteristic.",
            ),
            models.CheckConstraint(
                condition=Q(value_number__isnull=True)
                | (Q(value_number__gt=float("-inf")) & Q(value_number__lt=float("inf"))),
                name="study_characteristic_number_finite",
                violation_error_message="Enter a finite number.",
            ),
        ]

    def clean(self) -> None:
        """A value must fit its characteristic's type; the error names the field to fix."""
        if not self.field_id:
            return
        field = self.field
        if self.study_id and field.review_id != self.study.review_id:
            raise ValidationError({"field": "This characteristic belongs to another review."})
        if field.data_type == CharacteristicType.NUMBER:
            if self.value_number is None:
                raise ValidationError({"value_number": f"{field.name} is a number: enter the numeric value."})
            if self.value_text:
                raise ValidationError({"value_text": f"{field.name} is a number: use the numeric value only."})
        else:
            if self.value_number is not None:
                raise ValidationError({"value_number": f"{field.name} is not a number: use the value field."})
            if field.data_type == CharacteristicType.CHOICE and self.value_text not in field.choices:
                raise ValidationError(
                    {"value_text": f"{field.name} must be one of: {', '.join(field.choices)}."}
                )

    @property
    def value(self) -> str | float | None:
        if self.field.data_type == CharacteristicType.NUMBER:
            return self.value_number
        return self.value_text

    def __str__(self) -> str:
        return f"{self.field}: {self.value}"


class ArmRole(models.TextChoices):
    INTERVENTION = "intervention", "Intervention (experimental)"
    CONTROL = "control", "Control"


class Arm(models.Model):
    """A randomised group of a study."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    role = models.CharField(max_length=20, choices=ArmRole.choices)
    label = models.CharField(max_length=200, help_text="e.g. 'Peer-led group sessions', 'Waiting list'.")
    randomised = models.PositiveIntegerField(
        "number randomised", null=True, blank=True,
        validators=[MinValueValidator(1, message="Number randomised must be at least 1.")],
    )

    class Meta:
        ordering = ["study", "-role", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "label"], name="arm_unique_label",
                violation_error_message="This study already has an arm with this label.",
            ),
            # Lets outcome data reference (arm, study) together, so a row's study always
            # is its arm's study (composite foreign key added in the migration).
            models.UniqueConstraint(fields=["id", "study"], name="arm_id_study_unique"),
            models.CheckConstraint(
                condition=Q(randomised__isnull=True) | Q(randomised__gte=1),
                name="arm_randomised_at_least_1",
                violation_error_message="Number randomised must be at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study} — {self.label}"
