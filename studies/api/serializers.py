"""Serializers translate JSON to entities and back; every write goes through ``entity_save``, so the
API validates as the admin and the forms do and moves the review's data version the same way.

Each serializer lists its fields: nothing a client sends outside them is read (no mass
assignment), the review always comes from the URL, and a reference to another entity only finds
entities of the same review (another review's ids are "does not exist", never a leak).
"""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import serializers

from studies.imports.formats import FILE_FORMATS
from studies.models import (
    CHECKED_ESTIMATE_NUMBERS, Arm, CharacteristicField, ImportBatch, Outcome, OutcomeData, OutcomeDomain, OutcomeSubgroup,
    Record, Review, SearchSource, Study, StudyCharacteristic, StudyEstimate, TimePoint,
)
from studies.services.entities import REVIEW_LOOKUP, entity_save


def _errors(error: DjangoValidationError) -> dict | list:
    return error.message_dict if hasattr(error, "error_dict") else error.messages


class ReviewEntitySerializer(serializers.ModelSerializer):
    """A review's entity: references limited to the review in ``context["review"]``; saves through
    ``entity_save``, whose model validation errors come back as 400s naming the field."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        review = self.context.get("review")
        for field in self.fields.values():
            related = getattr(field, "queryset", None)
            if review is not None and related is not None and related.model in REVIEW_LOOKUP:
                field.queryset = related.model._default_manager.filter(**{REVIEW_LOOKUP[related.model]: review.pk})

    def _save(self, instance):
        try:
            return entity_save(instance=instance)
        except DjangoValidationError as error:
            raise serializers.ValidationError(_errors(error)) from None
        except IntegrityError as error:  # a constraint the model's validation could not see (a race)
            raise serializers.ValidationError({"non_field_errors": [str(error).splitlines()[0]]}) from None

    def create(self, validated_data):
        instance = self.Meta.model(**validated_data)
        if hasattr(self.Meta.model, "review_id") and "review" not in validated_data:
            instance.review = self.context["review"]
        return self._save(instance)

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return self._save(instance)


class ReviewSerializer(ReviewEntitySerializer):
    """A review's question and settings. The slug is chosen once, at creation: public pages, the R
    scripts and API clients address the review by it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields["slug"].read_only = True

    class Meta:
        model = Review
        fields = ["id", "slug", "title", "question", "population", "intervention", "comparison", "outcomes_summary",
                  "registration_id", "inclusion_criteria", "exclusion_criteria", "is_public", "is_synthetic",
                  "include_terms", "exclude_terms", "fulltext_reason_conflict", "dual_extraction",
                  "change_sd_correlation", "effect_measure", "model_rule", "i2_threshold", "tau2_estimator",
                  "hartung_knapp", "confidence_level", "funnel_min_studies", "rob_tool", "rob1_key_domains",
                  "data_version", "created_at", "updated_at"]
        read_only_fields = ["id", "is_synthetic", "data_version", "created_at", "updated_at"]


class SearchSourceSerializer(ReviewEntitySerializer):
    class Meta:
        model = SearchSource
        fields = ["id", "database", "date_searched", "query", "records_reported"]


class ImportBatchSerializer(ReviewEntitySerializer):
    class Meta:
        model = ImportBatch
        fields = ["id", "source", "file_name", "file_format", "sha256", "imported_by", "imported_at"]
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    """An export file to import (multipart), or with ``dry_run`` to preview: what the import would do."""

    file = serializers.FileField(help_text="The export file (RIS, MEDLINE, EndNote XML, BibTeX, CSV, WoS).")
    database = serializers.CharField(max_length=100, help_text="The database searched, e.g. Embase.")
    searched_on = serializers.DateField(required=False, help_text="Date of the search; today if not given.")
    query = serializers.CharField(required=False, allow_blank=True, default="", help_text="The search strategy as run.")
    file_format = serializers.ChoiceField(choices=["auto", *FILE_FORMATS], default="auto")
    column_mapping = serializers.JSONField(
        required=False, binary=True, help_text='CSV only: record field → column header, e.g. {"title": "Heading"}.')
    dry_run = serializers.BooleanField(
        default=False, help_text="Only preview: records, a sample, warnings grouped by kind and the expected "
                                 "duplicates; nothing is written.")

    def validate_column_mapping(self, value):
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError("Give an object of record field → column header, both strings.")
        return value


class RecordSerializer(ReviewEntitySerializer):
    url = serializers.CharField(read_only=True, help_text="As exported; may be empty.")  # not format "uri": often ""

    class Meta:
        model = Record
        fields = ["id", "import_batch", "title", "abstract", "authors", "year", "journal", "volume", "issue", "pages",
                  "doi", "pmid", "nct_id", "keywords", "language", "publication_type", "url", "duplicate_of",
                  "fulltext_status", "created_at"]
        read_only_fields = fields


class StudySerializer(ReviewEntitySerializer):
    class Meta:
        model = Study
        fields = ["id", "label", "year", "is_included", "notes", "created_at"]
        read_only_fields = ["id", "created_at"]


class ArmSerializer(ReviewEntitySerializer):
    class Meta:
        model = Arm
        fields = ["id", "study", "role", "label", "randomised"]


class CharacteristicFieldSerializer(ReviewEntitySerializer):
    class Meta:
        model = CharacteristicField
        fields = ["id", "name", "data_type", "choices", "is_subgroup_variable", "order", "help_text"]


class StudyCharacteristicSerializer(ReviewEntitySerializer):
    class Meta:
        model = StudyCharacteristic
        fields = ["id", "study", "field", "value_text", "value_number"]


class OutcomeDomainSerializer(ReviewEntitySerializer):
    class Meta:
        model = OutcomeDomain
        fields = ["id", "name", "order"]


class OutcomeSerializer(ReviewEntitySerializer):
    class Meta:
        model = Outcome
        # The analysis settings an outcome may hold apart from the review's (RevMan keeps them per
        # analysis); a generic inverse-variance outcome names its measure and whether it is a log.
        fields = ["id", "domain", "name", "is_primary", "data_type", "effect_measure", "direction", "order",
                  "scale_min", "scale_max", "pooling_method", "model_rule", "confidence_level",
                  "study_confidence_level", "swap_events", "totals", "generic_measure", "log_scale"]


class TimePointSerializer(ReviewEntitySerializer):
    class Meta:
        model = TimePoint
        fields = ["id", "label", "order", "is_analysis_default"]


class OutcomeSubgroupSerializer(ReviewEntitySerializer):
    """A subgroup of one outcome's analysis (RevMan's per-analysis subgroups, e.g. "Low dose"). Its
    outcome is chosen once, at creation: the rows in it belong to that outcome."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields["outcome"].read_only = True

    class Meta:
        model = OutcomeSubgroup
        fields = ["id", "outcome", "name", "order"]


class CheckedNumbersSerializer(ReviewEntitySerializer):
    """An entity whose numbers pass the plausibility check (outcome data, study estimates): saved
    with who entered them, and shown to a reader (``context["reader"]``) as the published analysis
    uses them, the confirmed numbers, without the flags (which quote the entry) or who typed what."""

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        if self.context.get("reader"):
            for name in self.Meta.model.checked_numbers:
                data[name] = data[f"confirmed_{name}"]
            data.update(check_flags=[], entered_by=None, checked_by=None)
        return data

    def _save(self, instance):
        # The check records who entered the numbers (a second person confirms them).
        request = self.context.get("request")
        _drop_stale_derivation(instance)
        try:
            return entity_save(instance=instance, user=request.user if request is not None else None)
        except DjangoValidationError as error:
            raise serializers.ValidationError(_errors(error)) from None
        except IntegrityError as error:
            raise serializers.ValidationError({"non_field_errors": [str(error).splitlines()[0]]}) from None


def _drop_stale_derivation(instance) -> None:
    """A derivation records how a number was computed from what the report gave (the extraction form's
    conversions). The API takes numbers, not conversions: a derived number changed through it was not
    computed that way, so its derivation goes rather than describe a number it did not give."""
    if instance.pk is None or not instance.derivation:
        return
    stored = type(instance).objects.filter(pk=instance.pk).values(*instance.derivation).first()
    if stored is not None:
        instance.derivation = {attr: spec for attr, spec in instance.derivation.items()
                               if stored[attr] == getattr(instance, attr)}


_CHECK_FIELDS = ["check_state", "check_flags", "entered_by", "checked_by", "checked_at"]


class StudyEstimateSerializer(CheckedNumbersSerializer):
    """A study's effect estimate and standard error for a generic inverse-variance outcome, on the
    analysis scale: the natural log for ratios (a hazard ratio of 0.8 is sent as -0.2231). With its
    plausibility check, as for arm data: ``check_state``, ``check_flags``, who entered and checked
    it, and the ``confirmed_*`` estimate, SE and group sizes the published analysis uses."""

    class Meta:
        model = StudyEstimate
        fields = ["id", "study", "outcome", "time_point", "subgroup", "estimate", "se", "n_intervention",
                  "n_control", "order", "include_in_analysis", "source_location", "provenance", "derivation",
                  "updated_at", *_CHECK_FIELDS, *(f"confirmed_{name}" for name in CHECKED_ESTIMATE_NUMBERS)]
        read_only_fields = ["id", "derivation", "updated_at", *_CHECK_FIELDS,
                            *(f"confirmed_{name}" for name in CHECKED_ESTIMATE_NUMBERS)]


class OutcomeDataSerializer(CheckedNumbersSerializer):
    """An arm's outcome numbers, with their plausibility check: ``check_state`` ("confirmed" or
    "awaiting_check"), why it is held (``check_flags``), who entered the numbers, who checked them,
    and the numbers the published analysis uses (``confirmed_*``: the last confirmed ones while an
    edit is held, null for a new row not yet confirmed)."""

    class Meta:
        model = OutcomeData
        fields = ["id", "study", "outcome", "time_point", "arm", "n", "mean", "sd", "events", "total", "value_type",
                  "instrument", "provenance", "include_in_analysis", "note", "updated_at",
                  "check_state", "check_flags", "entered_by", "checked_by", "checked_at",
                  "confirmed_n", "confirmed_mean", "confirmed_sd", "confirmed_events", "confirmed_total"]
        read_only_fields = ["id", "updated_at", "check_state", "check_flags", "entered_by", "checked_by",
                            "checked_at", "confirmed_n", "confirmed_mean", "confirmed_sd", "confirmed_events",
                            "confirmed_total"]


class HeldEntrySeenSerializer(serializers.Serializer):
    """Where the checker saw a held entry (ids; a null subgroup: none). A confirm or a correction is
    refused if any of those given, or of the numbers given, has changed since."""

    outcome = serializers.IntegerField(required=False)
    time_point = serializers.IntegerField(required=False)
    subgroup = serializers.IntegerField(required=False, allow_null=True)


class StudyEstimateSeenSerializer(HeldEntrySeenSerializer):
    """A held study estimate as the checker saw it: its study, its place and its numbers (null: shown
    empty)."""

    study = serializers.IntegerField(required=False)
    estimate = serializers.FloatField(required=False, allow_null=True)
    se = serializers.FloatField(required=False, allow_null=True)
    n_intervention = serializers.IntegerField(required=False, allow_null=True)
    n_control = serializers.IntegerField(required=False, allow_null=True)


class OutcomeValueSeenSerializer(HeldEntrySeenSerializer):
    """A held outcome value as the checker saw it: its arm, its place and its numbers (null: shown
    empty)."""

    arm = serializers.IntegerField(required=False)
    n = serializers.IntegerField(required=False, allow_null=True)
    mean = serializers.FloatField(required=False, allow_null=True)
    sd = serializers.FloatField(required=False, allow_null=True)
    events = serializers.IntegerField(required=False, allow_null=True)
    total = serializers.IntegerField(required=False, allow_null=True)


class StudyEstimateCorrectionSerializer(serializers.Serializer):
    """A checker's corrected estimate, SE and/or group sizes for a held study estimate, and optionally
    what they saw (``seen``: numbers and place; refused if the entry has changed or moved since)."""

    estimate = serializers.FloatField(required=False)
    se = serializers.FloatField(required=False)
    n_intervention = serializers.IntegerField(required=False)
    n_control = serializers.IntegerField(required=False)
    seen = StudyEstimateSeenSerializer(required=False)


class OutcomeValueCorrectionSerializer(serializers.Serializer):
    """A checker's corrected numbers for a held value (those of the outcome's data type), and
    optionally what they saw (``seen``: numbers and place; refused if the entry has changed or moved
    since)."""

    n = serializers.IntegerField(required=False)
    mean = serializers.FloatField(required=False)
    sd = serializers.FloatField(required=False)
    events = serializers.IntegerField(required=False)
    total = serializers.IntegerField(required=False)
    seen = OutcomeValueSeenSerializer(required=False)
