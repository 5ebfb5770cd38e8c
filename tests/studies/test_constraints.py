"""Every invariant of the review database: refused with a message that names the field, nothing
saved; and the same rule held by the database itself when the application is bypassed."""
import math

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
import pytest

from studies.models import (
    Arm,
    ArmRole,
    CharacteristicField,
    CharacteristicType,
    DataType,
    Decision,
    EffectMeasure,
    ExclusionReason,
    ImportBatch,
    Outcome,
    OutcomeData,
    Record,
    Report,
    Review,
    ScreeningDecision,
    SearchSource,
    Stage,
    Study,
    StudyCharacteristic,
    TimePoint,
)
from studies.services import entity_save


def assert_refused(instance, field: str, message: str) -> None:
    """entity_save refuses the instance, naming ``field`` with ``message``; nothing is written."""
    model = type(instance)
    before = model.objects.count()
    with pytest.raises(ValidationError) as caught:
        entity_save(instance=instance)
    errors = caught.value.message_dict
    assert field in errors, f"expected an error on {field!r}, got {errors}"
    assert any(message in text for text in errors[field]), errors[field]
    assert model.objects.count() == before


def outcome_data(small, **changes) -> OutcomeData:
    values = dict(study=small.study, outcome=small.outcome, time_point=small.time_point, arm=small.intervention,
                  n=30, mean=1.0, sd=2.0)
    values.update(changes)
    if "time_point" not in changes:
        values["time_point"] = entity_save(instance=TimePoint(review=small.review, label="Follow-up", order=1))
    return OutcomeData(**values)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"sd": -1.0}, "sd", "SD must be greater than 0 (got -1)."),
        ({"sd": 0.0}, "sd", "SD must be greater than 0 (got 0)."),
        ({"sd": math.nan}, "sd", "finite number"),
        ({"n": 0}, "n", "n must be at least 1 (got 0)."),
        ({"mean": math.inf}, "mean", "finite number"),
        ({"mean": math.nan}, "mean", "finite number"),
        ({"sd": None}, "sd", "is continuous: enter n, mean and SD"),
        ({"events": 3, "total": 10}, "events", "is continuous: leave events and total empty"),
    ],
)
def test_continuous_outcome_data_refused(small, changes, field, message):
    assert_refused(outcome_data(small, **changes), field, message)


def test_dichotomous_outcome_data_rules(small):
    domain = small.outcome.domain
    relapse = entity_save(instance=Outcome(review=small.review, domain=domain, name="Relapse",
                                           data_type=DataType.DICHOTOMOUS, effect_measure=EffectMeasure.RR,
                                           direction="lower"))
    row = dict(study=small.study, outcome=relapse, time_point=small.time_point, arm=small.control)
    assert_refused(OutcomeData(**row, events=11, total=10), "events", "Events (11) cannot exceed the total (10).")
    assert_refused(OutcomeData(**row, events=1, total=0), "total", "Total must be at least 1 (got 0).")
    assert_refused(OutcomeData(**row, n=10, mean=1.0, sd=1.0), "events", "is dichotomous: enter events and total")
    saved = entity_save(instance=OutcomeData(**row, events=10, total=10))
    assert saved.pk is not None


def test_outcome_data_arm_must_belong_to_the_study(small):
    other = entity_save(instance=Study(review=small.review, label="Other 2021"))
    foreign_arm = entity_save(instance=Arm(study=other, role=ArmRole.CONTROL, label="Usual care"))
    assert_refused(outcome_data(small, arm=foreign_arm), "arm", "This arm belongs to another study.")


def test_outcome_data_outcome_must_belong_to_the_review(small, demo_review):
    foreign = demo_review.outcomes.first()
    assert_refused(outcome_data(small, outcome=foreign), "outcome", "belongs to another review")


def test_outcome_data_one_row_per_arm_outcome_time_point(small):
    duplicate = OutcomeData(study=small.study, outcome=small.outcome, time_point=small.time_point,
                            arm=small.intervention, n=10, mean=0.0, sd=1.0)
    assert_refused(duplicate, "__all__", "This arm already has data for this outcome at this time point.")


def test_outcome_effect_measure_must_fit_data_type(small):
    outcome = Outcome(review=small.review, domain=small.outcome.domain, name="Admissions",
                      data_type=DataType.DICHOTOMOUS, effect_measure=EffectMeasure.SMD, direction="lower")
    assert_refused(outcome, "__all__", "The effect measure must fit the data type")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"year": 1700}, "year", "Year must be between 1800 and"),
        ({"year": 2999}, "year", "Year must be between 1800 and"),
        ({"doi": "https://doi.org/10.1000/xyz"}, "doi", "Enter a DOI such as"),
        ({"doi": "10.12/short-prefix"}, "doi", "Enter a DOI such as"),
        ({"pmid": "PMID123"}, "pmid", "A PMID is 1 to 9 digits."),
        ({"nct_id": "NCT123"}, "nct_id", "An NCT id is NCT followed by 8 digits."),
    ],
)
def test_record_fields_refused(small, changes, field, message):
    values = dict(review=small.review, title="A trial", year=2020, doi="10.1000/xyz.123")
    values.update(changes)
    assert_refused(Record(**values), field, message)


def test_a_record_without_a_title_or_with_long_text_is_stored(small):
    # Exports hold records without a title and fields longer than any cap (issue 19): they are kept,
    # the import's warnings saying so.
    record = Record(review=small.review, title="", issue="x" * 140, keywords=["k" * 600],
                    import_warnings=[{"kind": "title_missing", "message": "No title.", "line": 3, "field": "title"}])
    record.full_clean(exclude=["import_batch", "duplicate_of"])
    record.save()
    assert Record.objects.get(pk=record.pk).import_warnings[0]["kind"] == "title_missing"


def test_record_duplicate_must_be_in_the_same_review(small, demo_review):
    foreign = demo_review.records.first()
    assert_refused(Record(review=small.review, title="Copy", duplicate_of=foreign), "duplicate_of", "same review")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"i2_threshold": 120.0}, "i2_threshold", "less than or equal to 100"),
        ({"i2_threshold": -1.0}, "i2_threshold", "greater than or equal to 0"),
        ({"confidence_level": 1.0}, "confidence_level", "less than or equal to 0.999"),
        ({"funnel_min_studies": 2}, "funnel_min_studies", "greater than or equal to 3"),
        ({"slug": "small-review"}, "slug", "already exists"),
    ],
)
def test_review_settings_refused(small, changes, field, message):
    values = dict(title="Another", slug="another")
    values.update(changes)
    assert_refused(Review(**values), field, message)


def assert_invalid(instance, field: str, message: str) -> None:
    """The model's own validation (the rules beneath the services) refuses the instance."""
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    errors = caught.value.message_dict
    assert field in errors, f"expected an error on {field!r}, got {errors}"
    assert any(message in text for text in errors[field]), errors[field]


def test_screening_rules(small):
    """Decisions are workflow rows: the generic save refuses them (the screening services write
    them); beneath the services the model still validates every rule."""
    screener = get_user_model().objects.create_user("screener-x", password="a-long-test-password")
    record = entity_save(instance=Record(review=small.review, title="A trial"))
    reason = entity_save(instance=ExclusionReason(review=small.review, label="Not an RCT"))
    with pytest.raises(PermissionDenied, match="cannot be edited directly"):
        entity_save(instance=ScreeningDecision(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener,
                                               decision=Decision.INCLUDE))
    ScreeningDecision.objects.create(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener,
                                     decision=Decision.INCLUDE)
    assert_invalid(
        ScreeningDecision(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener, decision=Decision.EXCLUDE),
        "__all__", "This screener has already decided on this record at this stage.",
    )
    assert_invalid(
        ScreeningDecision(record=record, stage=Stage.FULL_TEXT, screener=screener, decision=Decision.EXCLUDE),
        "exclusion_reason", "A full-text exclusion needs a reason",
    )
    assert_invalid(
        ScreeningDecision(record=record, stage=Stage.FULL_TEXT, screener=screener, decision=Decision.UNSURE),
        "__all__", "At full text, decide include or exclude",
    )
    assert_invalid(
        ScreeningDecision(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener, decision=Decision.EXCLUDE,
                          exclusion_reason=reason),
        "exclusion_reason", "Title/abstract decisions carry no exclusion reason",
    )
    other_reason = ExclusionReason.objects.exclude(review=small.review).first()
    assert_invalid(
        ScreeningDecision(record=record, stage=Stage.FULL_TEXT, screener=screener, decision=Decision.EXCLUDE,
                          exclusion_reason=other_reason),
        "exclusion_reason", "belongs to another review",
    )
    ScreeningDecision(record=record, stage=Stage.FULL_TEXT, screener=screener, decision=Decision.EXCLUDE,
                      exclusion_reason=reason).full_clean()


def test_study_reports_have_one_primary(small):
    first = entity_save(instance=Record(review=small.review, title="Main report"))
    second = entity_save(instance=Record(review=small.review, title="Secondary report"))
    entity_save(instance=Report(study=small.study, record=first, is_primary=True))
    assert_refused(Report(study=small.study, record=second, is_primary=True), "__all__",
                   "This study already has a primary report.")
    assert_refused(Report(study=small.study, record=first), "record", "already exists")


def test_characteristic_values_fit_their_type(small):
    kind = entity_save(instance=CharacteristicField(
        review=small.review, name="Intervention type", data_type=CharacteristicType.CHOICE,
        choices=["HOP", "non-HOP"], is_subgroup_variable=True,
    ))
    sessions = entity_save(instance=CharacteristicField(review=small.review, name="Sessions",
                                                        data_type=CharacteristicType.NUMBER))
    assert_refused(StudyCharacteristic(study=small.study, field=kind, value_text="Other"), "value_text",
                   "Intervention type must be one of: HOP, non-HOP.")
    assert_refused(StudyCharacteristic(study=small.study, field=sessions, value_text="three"), "value_number",
                   "Sessions is a number")
    assert_refused(CharacteristicField(review=small.review, name="Country", is_subgroup_variable=True),
                   "__all__", "A subgroup variable must be 'one of a list'")
    assert_refused(CharacteristicField(review=small.review, name="Setting", data_type=CharacteristicType.CHOICE),
                   "__all__", "List the allowed values")


def test_one_default_time_point_per_review(small):
    assert_refused(TimePoint(review=small.review, label="Other", is_analysis_default=True), "__all__",
                   "This review already has a default analysis time point.")


def test_arm_randomised_and_same_file_import(small):
    assert_refused(Arm(study=small.study, role=ArmRole.CONTROL, label="Waiting list", randomised=0),
                   "randomised", "Number randomised must be at least 1.")
    source = entity_save(instance=SearchSource(review=small.review, database="PubMed", date_searched="2024-01-01"))
    entity_save(instance=ImportBatch(review=small.review, source=source, file_name="a.ris", file_format="ris",
                                     sha256="a" * 64))
    assert_refused(ImportBatch(review=small.review, source=source, file_name="b.ris", file_format="ris",
                               sha256="a" * 64), "__all__", "This file was already imported into this review.")
    assert_refused(ImportBatch(review=small.review, source=source, file_name="c.ris", file_format="ris",
                               sha256="XYZ"), "__all__", "SHA-256 must be 64 lower-case hexadecimal characters.")


# --- The database holds the rules even when the application is bypassed -------------------------


@pytest.mark.parametrize(
    ("update", "constraint"),
    [
        ({"sd": -1.0}, "outcome_data_sd_positive"),
        ({"sd": math.nan}, "outcome_data_sd_positive"),
        ({"sd": math.inf}, "outcome_data_sd_positive"),
        ({"mean": math.nan}, "outcome_data_mean_finite"),
        ({"n": 0}, "outcome_data_n_at_least_1"),
        ({"events": 5}, "outcome_data_continuous_or_dichotomous"),
    ],
)
def test_database_refuses_bad_outcome_data(small, update, constraint):
    # Held, so that a confirmed row's other rule (its analysed numbers are its entered ones) is not
    # the one that answers.
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        OutcomeData.objects.filter(pk=small.data.pk).update(**update, check_state="awaiting_check")


@pytest.mark.parametrize(
    ("update", "constraint"),
    [
        ({"sd": 61.0}, "outcome_data_confirmed_is_entered"),  # confirmed, yet analysed as 6.1
        ({"confirmed_n": 40}, "outcome_data_confirmed_is_entered"),
        ({"check_state": "awaiting_check", "confirmed_sd": None}, "outcome_data_confirmed_whole"),
    ],
)
def test_database_keeps_the_analysed_numbers_of_a_confirmed_row_equal_to_its_entered_ones(small, update, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        OutcomeData.objects.filter(pk=small.data.pk).update(**update)
    # Held, the entered numbers may differ from the analysed ones.
    OutcomeData.objects.filter(pk=small.data.pk).update(sd=61.0, check_state="awaiting_check")


@pytest.mark.parametrize(
    ("update", "constraint"),
    [
        ({"year": 1200}, "record_year_sane"),
        ({"doi": "not-a-doi"}, "record_doi_format"),
        ({"pmid": "12a"}, "record_pmid_format"),
        ({"nct_id": "NCT1"}, "record_nct_format"),
    ],
)
def test_database_refuses_bad_records(small, update, constraint):
    record = entity_save(instance=Record(review=small.review, title="A trial"))
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Record.objects.filter(pk=record.pk).update(**update)


def test_database_refuses_outcome_data_whose_arm_is_in_another_study(small):
    other = entity_save(instance=Study(review=small.review, label="Other 2021"))
    foreign_arm = entity_save(instance=Arm(study=other, role=ArmRole.CONTROL, label="Usual care"))
    with pytest.raises(IntegrityError, match="outcome_data_arm_in_study"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS outcome_data_arm_in_study IMMEDIATE")
        OutcomeData.objects.filter(pk=small.data.pk).update(arm=foreign_arm)


def test_database_refuses_a_second_decision_by_the_same_screener(small):
    screener = get_user_model().objects.create_user("screener-y", password="a-long-test-password")
    record = entity_save(instance=Record(review=small.review, title="A trial"))
    ScreeningDecision.objects.create(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener,
                                     decision=Decision.INCLUDE)
    with pytest.raises(IntegrityError, match="decision_one_per_screener"), transaction.atomic():
        ScreeningDecision.objects.create(record=record, stage=Stage.TITLE_ABSTRACT, screener=screener,
                                         decision=Decision.EXCLUDE)
