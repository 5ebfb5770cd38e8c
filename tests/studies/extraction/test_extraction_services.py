"""The extraction service: conversions applied on the server with their provenance, checks before
saving, optimistic concurrency, and the imputation flag."""
import json

from django.core.exceptions import PermissionDenied, ValidationError
import pytest

from studies.models import OutcomeData, Provenance, Review
from studies.services import entity_save
from studies.services.extraction import (
    ExtractionConflict,
    conversion_apply,
    entry_token,
    extraction_layout,
    extraction_save,
    extraction_snapshot,
)

pytestmark = pytest.mark.django_db


def _form(small):
    layout = extraction_layout(small.study)
    current = extraction_snapshot(layout)
    return dict(current), entry_token(current), current


def test_conversion_sd_from_se_matches_the_handbook_example():
    # Cochrane Handbook 6.5.2.2: a group of 25 with SE 2 has SD = 2 × √25 = 10.
    derived = conversion_apply(method="sd_from_se", inputs={"se": "2", "n": "25"})
    assert derived["sd"]["value"] == pytest.approx(10.0)
    assert derived["sd"]["provenance"] == "calculated"
    assert derived["sd"]["source"] == "Cochrane Handbook 6.5.2.2"


def test_conversion_sd_from_ci_matches_the_handbook_example():
    # Cochrane Handbook 6.5.2.2: n = 25, 95% CI 3.01 to 11.17 → t(24) = 2.0639, SD = 5 × 8.16/4.128 = 9.88.
    derived = conversion_apply(method="sd_from_ci", inputs={"lower": 3.01, "upper": 11.17, "n": 25})
    assert derived["sd"]["value"] == pytest.approx(9.88, abs=0.005)


def test_conversion_sd_from_t_and_p_match_the_handbook_example():
    # Cochrane Handbook 6.5.2.3: MD 3.8, n 25 and 22, t = 2.47 (P = 0.017) → SE 1.538, SD = 5.28 (from t).
    from_t = conversion_apply(method="sd_from_t", inputs={"mean_difference": 3.8, "t": 2.47, "n1": 25, "n2": 22})
    assert from_t["sd"]["value"] == pytest.approx(5.27, abs=0.01)
    from_p = conversion_apply(method="sd_from_p", inputs={"mean_difference": 3.8, "p": 0.017, "n1": 25, "n2": 22})
    assert from_p["sd"]["value"] == pytest.approx(from_t["sd"]["value"], rel=0.01)


def test_conversion_from_median_follows_wan_and_luo():
    # Wan et al. 2014 (eq. 15) and Luo et al. 2018 (IQR scenario): median 50, Q1 40, Q3 62, n = 100.
    # η(100) = 2Φ⁻¹((75 − 0.125)/100.25) = 2 × 0.66470 = 1.32940; SD = 22/1.32940 = 16.549;
    # mean = (0.7 + 0.39/100)·51 + (1 − 0.7039)·50 = 50.70.
    derived = conversion_apply(method="mean_sd_from_median", inputs={"median": 50, "q1": 40, "q3": 62, "n": 100})
    assert derived["sd"]["value"] == pytest.approx(16.549, abs=0.001)
    assert derived["mean"]["value"] == pytest.approx(50.70, abs=0.01)
    assert derived["sd"]["provenance"] == "estimated"


def test_conversion_of_change_sd_matches_the_handbook_example():
    # Cochrane Handbook 6.5.2.8: baseline SD 4.0, final SD 4.4, r = 0.75 → change SD √(16 + 19.36 − 26.4) = 2.99.
    derived = conversion_apply(method="sd_change", inputs={"sd_baseline": 4.0, "sd_final": 4.4, "r": 0.75})
    assert derived["sd"]["value"] == pytest.approx(2.993, abs=0.001)
    assert derived["sd"]["provenance"] == "imputed"


def test_conversion_refuses_impossible_inputs_naming_them():
    with pytest.raises(ValidationError) as refused:
        conversion_apply(method="sd_from_se", inputs={"n": 25})
    assert refused.value.message_dict == {"se": ["Enter the SE."]}
    with pytest.raises(ValidationError) as refused:
        conversion_apply(method="sd_change", inputs={"sd_baseline": 4, "sd_final": 4, "r": 1.5})
    assert "correlation" in " ".join(refused.value.messages)


def test_a_derived_sd_is_recomputed_on_the_server_and_keeps_its_inputs(small, extractors, cell):
    entry, token, base = _form(small)
    entry[cell(small.intervention, "sd")] = "999"  # whatever the browser sent, the engine's value is stored
    entry[cell(small.intervention, "derivation")] = json.dumps({"sd": {"method": "sd_from_se", "inputs": {"se": 1.0, "n": 38}}})
    entry[cell(small.intervention, "source_location")] = "Table 2, p. 5"
    extraction_save(study=small.study, user=extractors.first, entry=entry, token=token, base=base)
    row = OutcomeData.objects.get(pk=small.data.pk)
    assert row.sd == pytest.approx(38 ** 0.5)
    assert row.provenance == Provenance.CALCULATED
    assert row.derivation["sd"]["inputs"] == {"se": 1.0, "n": 38.0}
    assert row.derivation["sd"]["description"].startswith("calculated from SE")
    assert row.source_location == "Table 2, p. 5"


def test_impossible_values_are_refused_with_the_field_named_and_nothing_written(small, extractors, cell):
    entry, token, base = _form(small)
    entry[cell(small.intervention, "sd")] = "-3"
    entry[cell(small.control, "n")] = "many"
    version = Review.objects.get(pk=small.review.pk).data_version
    with pytest.raises(ValidationError) as refused:
        extraction_save(study=small.study, user=extractors.first, entry=entry, token=token, base=base)
    errors = refused.value.message_dict
    assert errors[cell(small.intervention, "sd")] == ["Self-stigma · End of intervention · Peer group: SD must be "
                                                      "greater than 0 (got -3)."]
    assert errors[cell(small.control, "n")] == ["Self-stigma · End of intervention · Usual care: n: enter a number."]
    assert OutcomeData.objects.get(pk=small.data.pk).sd == 6.1
    assert Review.objects.get(pk=small.review.pk).data_version == version


def test_impossible_values_against_the_arm_and_the_scale_are_refused(small, extractors, cell):
    small.outcome.scale_min, small.outcome.scale_max = 0, 10
    entity_save(instance=small.outcome)
    entry, token, base = _form(small)
    entry[cell(small.intervention, "n")] = "45"  # 40 randomised
    entry[cell(small.control, "value_type")] = "final"
    entry[cell(small.control, "mean")] = "11"  # a final value off the scale
    with pytest.raises(ValidationError) as refused:
        extraction_save(study=small.study, user=extractors.first, entry=entry, token=token, base=base)
    assert refused.value.message_dict == {
        cell(small.intervention, "n"): ["Self-stigma · End of intervention · Peer group: n 45 is above the 40 "
                                        "randomised to Peer group."],
        cell(small.control, "mean"): ["Self-stigma · End of intervention · Usual care: Mean 11 is outside the scale "
                                      "of Self-stigma for a final value (0 to 10)."],
    }
    assert OutcomeData.objects.get(pk=small.data.pk).n == 38


def test_an_sd_larger_than_the_scale_is_saved_but_held_for_a_check(small, extractors, cell):
    small.outcome.scale_min, small.outcome.scale_max = 0, 10
    entity_save(instance=small.outcome)
    entry, token, base = _form(small)
    entry[cell(small.intervention, "sd")] = "12"  # larger than the scale's range
    saved = extraction_save(study=small.study, user=extractors.first, entry=entry, token=token, base=base)
    assert [(c.name, c.level, c.message) for c in saved.checks] == [(
        cell(small.intervention, "sd"), "held", "Awaiting check: Only 2020 · Peer group · Self-stigma: SD 12 is "
        "larger than the range of the scale (0 to 10).")]
    row = OutcomeData.objects.get(pk=small.data.pk)
    assert (row.sd, row.confirmed_sd, row.check_state, row.entered_by) == (12, 6.1, "awaiting_check", extractors.first)


def test_an_imputed_change_sd_is_flagged_for_the_sensitivity_analysis(small, extractors, cell):
    entry, token, base = _form(small)
    entry[cell(small.control, "derivation")] = json.dumps(
        {"sd": {"method": "sd_change", "inputs": {"sd_baseline": 6.0, "sd_final": 6.5, "r": 0.5}}})
    saved = extraction_save(study=small.study, user=extractors.first, entry=entry, token=token, base=base)
    assert [c.level for c in saved.checks] == ["flag"]
    assert "left out of the sensitivity analysis without imputed values" in saved.checks[0].message
    assert OutcomeData.objects.get(arm=small.control).provenance == Provenance.IMPUTED


def test_a_save_over_newer_data_is_refused_with_what_changed(small, extractors, cell):
    first_entry, token, base = _form(small)
    second_entry = dict(first_entry)
    first_entry[cell(small.intervention, "mean")] = "-5"
    extraction_save(study=small.study, user=extractors.first, entry=first_entry, token=token, base=base)
    second_entry[cell(small.control, "mean")] = "-2"
    with pytest.raises(ExtractionConflict) as conflict:
        extraction_save(study=small.study, user=extractors.second, entry=second_entry, token=token, base=base)
    assert [(c.label, c.before, c.after) for c in conflict.value.changes] == [
        ("Self-stigma · End of intervention · Peer group: Mean", "-4.2", "-5")]
    assert OutcomeData.objects.get(arm=small.intervention).mean == -5
    assert OutcomeData.objects.get(arm=small.control).mean == -1.0
    # Re-applied on the fresh token, the second edit is saved and the first one kept.
    second_entry[cell(small.intervention, "mean")] = "-5"
    extraction_save(study=small.study, user=extractors.second, entry=second_entry, token=conflict.value.token,
                    base=conflict.value.current)
    assert OutcomeData.objects.get(arm=small.control).mean == -2


def test_only_extractors_save_and_dual_reviews_save_only_a_consensus(small, extractors):
    entry, token, base = _form(small)
    with pytest.raises(PermissionDenied):
        extraction_save(study=small.study, user=extractors.outsider_role, entry=entry, token=token, base=base)
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    with pytest.raises(PermissionDenied):
        extraction_save(study=small.study, user=extractors.first, entry=entry, token=token, base=base)
