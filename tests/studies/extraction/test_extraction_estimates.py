"""Study estimates of generic inverse-variance outcomes on the extraction page: an extractor enters a
study's own effect and SE (e.g. an adjusted log hazard ratio) where the grid would ask for arm data,
in one row per subgroup, with the same checks, concurrency and dual extraction as the grid."""

import json

import pytest

from analysis import services
from analysis.models import OutcomeResult, ReviewAnalysisState
from studies.models import (
    DataType,
    EffectMeasure,
    Outcome,
    OutcomeSubgroup,
    Review,
    Study,
    StudyEstimate,
)
from studies.services import entity_save
from studies.services.extraction import estimate_prefix
from tests.studies.extraction.forms import form_data, signed_in

pytestmark = pytest.mark.django_db


def _hazard_ratios(small, *, subgroups=()) -> Outcome:
    outcome = entity_save(instance=Outcome(
        review=small.review, domain=small.outcome.domain, name="Relapse (adjusted HR)", data_type=DataType.GENERIC,
        effect_measure=EffectMeasure.GENERIC, direction=small.outcome.direction, generic_measure="Hazard Ratio",
        log_scale=True))
    for order, name in enumerate(subgroups):
        entity_save(instance=OutcomeSubgroup(outcome=outcome, name=name, order=order))
    return outcome


def _url(small) -> str:
    return f"/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/"


def test_an_estimate_entered_on_the_page_is_pooled(small, extractors):
    hr = _hazard_ratios(small)
    other = entity_save(instance=Study(review=small.review, label="Other 2019", year=2019))
    entity_save(instance=StudyEstimate(study=other, outcome=hr, time_point=small.time_point, estimate=-0.40, se=0.2))
    client = signed_in(extractors.first)
    page = client.get(_url(small))
    text = page.content.decode()
    assert "Study estimates (generic inverse variance)" in text and "ln(Hazard Ratio)" in text
    # The generic outcome has no arm cells: the grid is the continuous outcome's alone.
    assert [row["outcome"] for row in page.context["grid"]] == [small.outcome]
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    form = form_data(page)
    form.update({p + "estimate": "-0.22", p + "se": "0.1", p + "n_intervention": "40", p + "n_control": "40",
                 p + "source_location": "Table 3"})
    assert client.post(_url(small), form).status_code == 302
    row = StudyEstimate.objects.get(study=small.study, outcome=hr)
    assert (row.estimate, row.se, row.n_intervention, row.n_control, row.source_location, row.subgroup) == (
        -0.22, 0.1, 40, 40, "Table 3", None)
    assert row.check_state == "confirmed"
    shown = form_data(client.get(_url(small)))
    assert (shown[p + "estimate"], shown[p + "se"]) == ("-0.22", "0.1")

    services.review_recompute(small.review.pk)
    run = ReviewAnalysisState.objects.get(review=small.review).current_run
    pooled = OutcomeResult.objects.get(run=run, outcome=hr, subgroup_field=None, analysis_set="main")
    # Inverse-variance weights 1/0.1² = 100 and 1/0.2² = 25: (-0.22·100 - 0.40·25) / 125 = -0.256.
    assert pooled.k == 2 and pooled.estimate == pytest.approx(-0.256, abs=1e-12)

    # Emptying the row removes the estimate, as emptying a cell removes arm data.
    shown[p + "estimate"] = shown[p + "se"] = shown[p + "n_intervention"] = shown[p + "n_control"] = ""
    assert client.post(_url(small), shown).status_code == 302
    assert not StudyEstimate.objects.filter(study=small.study).exists()


def test_each_subgroup_has_its_row_and_a_study_may_sit_in_several(small, extractors):
    hr = _hazard_ratios(small, subgroups=("Low dose", "High dose"))
    low, high = OutcomeSubgroup.objects.filter(outcome=hr).order_by("order")
    client = signed_in(extractors.first)
    page = client.get(_url(small))
    assert [row["cell"].subgroup for row in page.context["estimates"]] == [low, high]  # no row outside them
    form = form_data(page)
    for subgroup, estimate in ((low, "-0.1"), (high, "-0.3")):
        p = estimate_prefix(hr.pk, small.time_point.pk, subgroup.pk)
        form.update({p + "estimate": estimate, p + "se": "0.15"})
    assert client.post(_url(small), form).status_code == 302
    assert sorted(StudyEstimate.objects.filter(study=small.study).values_list("subgroup__name", "estimate")) == [
        ("High dose", -0.3), ("Low dose", -0.1)]
    # An estimate stored outside the subgroups (e.g. through the API) gets its own row, not lost.
    StudyEstimate.objects.filter(study=small.study, subgroup=high).update(subgroup=None)
    rows = client.get(_url(small)).context["estimates"]
    assert [row["cell"].subgroup for row in rows] == [None, low, high]
    assert rows[0]["f"]["estimate"]["value"] == "-0.3"


def test_bad_estimates_are_refused_naming_the_field_and_nothing_is_written(small, extractors):
    hr = _hazard_ratios(small)
    client = signed_in(extractors.first)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    version = Review.objects.get(pk=small.review.pk).data_version
    for values, field, message in (
        ({"estimate": "-0.22"}, "se", "Relapse (adjusted HR) · End of intervention: enter both the estimate and its "
                                      "SE (SE is empty)."),
        ({"estimate": "-0.22", "se": "0"}, "se", "SE must be greater than 0"),
        ({"estimate": "big", "se": "0.1"}, "estimate", "Relapse (adjusted HR) · End of intervention: Estimate: enter "
                                                       "a number."),
        ({"estimate": "-0.22", "se": "0.1", "n_control": "0"}, "n_control", "Relapse (adjusted HR) · End of "
                                                                           "intervention: n control must be at least 1 (got 0)."),
    ):
        form = form_data(client.get(_url(small)))
        form.update({p + name: value for name, value in values.items()})
        form[f"cell_{small.outcome.pk}_{small.time_point.pk}_{small.intervention.pk}_mean"] = "-5"  # a good edit too
        refused = client.post(_url(small), form)
        assert refused.status_code == 400
        assert message in refused.context["errors"][p + field], refused.context["errors"]
        assert message in refused.content.decode()
    assert not StudyEstimate.objects.exists()
    assert Review.objects.get(pk=small.review.pk).data_version == version  # the good edit was not saved either


def test_an_implausible_estimate_is_held_with_why(small, extractors):
    hr = _hazard_ratios(small)
    client = signed_in(extractors.first)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    form = form_data(client.get(_url(small)))
    form.update({p + "estimate": "-0.22", p + "se": "1e-160"})  # a weight no analysis can use
    assert client.post(_url(small), form).status_code == 302
    row = StudyEstimate.objects.get(study=small.study)
    assert row.check_state == "awaiting_check" and row.confirmed_se is None
    page = client.get(_url(small)).content.decode()
    assert "Awaiting check (Relapse (adjusted HR) · End of intervention):" in page and "1 value awaiting check" in page


def test_two_sessions_editing_estimates_at_once_lose_nothing(small, extractors):
    hr = _hazard_ratios(small)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    alice, bob = signed_in(extractors.first), signed_in(extractors.second)
    alice_form, bob_form = form_data(alice.get(_url(small))), form_data(bob.get(_url(small)))
    alice_form.update({p + "estimate": "-0.22", p + "se": "0.1"})
    assert alice.post(_url(small), alice_form).status_code == 302
    bob_form.update({p + "estimate": "-0.5", p + "se": "0.3"})
    refused = bob.post(_url(small), bob_form)
    assert refused.status_code == 409
    assert "Relapse (adjusted HR) · End of intervention: Estimate: “(empty)” → “-0.22”" in refused.content.decode()
    assert StudyEstimate.objects.get(study=small.study).estimate == -0.22  # Alice's save stands
    assert refused.context["estimates"][0]["f"]["estimate"]["value"] == "-0.5"  # Bob's entry is kept to re-apply


def test_dual_extraction_compares_estimates_and_the_consensus_is_analysed(small, extractors):
    hr = _hazard_ratios(small)
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    consensus_url = _url(small) + "consensus/"
    alice, bob = signed_in(extractors.first), signed_in(extractors.second)
    alice_form = form_data(alice.get(_url(small)))
    alice_form.update({p + "estimate": "-0.22", p + "se": "0.1", p + "source_location": "Table 3"})
    bob_form = {**alice_form, p + "se": "0.11"}
    assert alice.post(_url(small), {**alice_form, "action": "submit"}).status_code == 302
    assert bob.post(_url(small), {**bob_form, "action": "submit"}).status_code == 302
    assert not StudyEstimate.objects.exists()  # entries never touch the analysed rows
    page = alice.get(consensus_url)
    assert [(c.name, c.before, c.after) for c in page.context["differences"]] == [(p + "se", "0.1", "0.11")]
    assert "0.1 ≠ 0.11" in page.content.decode()
    consensus = form_data(page)
    assert (consensus[p + "estimate"], consensus[p + "se"]) == ("-0.22", "")  # the difference is theirs to settle
    consensus[p + "se"] = "0.1"
    assert alice.post(consensus_url, consensus).status_code == 302
    row = StudyEstimate.objects.get(study=small.study)
    assert (row.estimate, row.se, row.source_location) == (-0.22, 0.1, "Table 3")


def test_a_submitted_entry_is_validated_like_the_analysed_data(small, extractors):
    hr = _hazard_ratios(small)
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    client = signed_in(extractors.first)
    form = form_data(client.get(_url(small)))
    form.update({p + "se": "0.1"})
    refused = client.post(_url(small), {**form, "action": "submit"})
    assert refused.status_code == 400
    assert "enter both the estimate and its SE (Estimate is empty)" in refused.context["errors"][p + "estimate"]


def test_a_converted_estimate_is_recomputed_on_the_server_and_keeps_its_inputs(small, extractors):
    hr = _hazard_ratios(small)
    client = signed_in(extractors.first)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    inputs = {"ratio": 0.75, "lower": 0.60, "upper": 0.94}
    derived = client.post(f"/reviews/{small.review.slug}/extraction/convert/",
                          {"method": "log_ratio_from_ci", **{f"in_{k}": v for k, v in inputs.items()}}).json()["derived"]
    form = form_data(client.get(_url(small)))
    form.update({p + "estimate": "-0.2877", p + "se": "999",  # whatever the browser sent, the engine's value is stored
                 p + "derivation": json.dumps({k: {"method": v["method"], "inputs": v["inputs"]} for k, v in derived.items()})})
    assert client.post(_url(small), form).status_code == 302
    row = StudyEstimate.objects.get(study=small.study)
    # R: print(c(log(0.75), (log(0.94) - log(0.60)) / (2 * qnorm(0.975))), digits = 17)
    assert row.estimate == pytest.approx(-0.28768207245178090, rel=1e-15)
    assert row.se == pytest.approx(0.11453022187886241, rel=1e-14)
    assert row.provenance == "calculated" and row.derivation["se"]["source"] == "Cochrane Handbook 6.3.2"
    page = client.get(_url(small))
    assert "Estimate, SE: ln ratio and SE from a ratio (HR, OR, RR) with its CI (lower = 0.6, ratio = 0.75, " \
           "upper = 0.94)</span>" in page.content.decode()
    # A CI that does not hold its ratio is refused, naming the field; nothing is written.
    shown = form_data(page)
    shown[p + "derivation"] = json.dumps({"se": {"method": "log_ratio_from_ci", "inputs": {**inputs, "ratio": 1.2}}})
    refused = client.post(_url(small), shown)
    assert refused.status_code == 400
    assert "SE conversion: the ratio 1.2 is not inside its CI" in refused.context["errors"][p + "se"]
    # A conversion for arm data cannot fill a study estimate.
    shown[p + "derivation"] = json.dumps({"se": {"method": "sd_from_se", "inputs": {"se": 1, "n": 4}}})
    refused = client.post(_url(small), shown)
    assert "sd_from_se does not give the SE" in refused.context["errors"][p + "derivation"]
    assert StudyEstimate.objects.get(study=small.study).se == pytest.approx(0.11453022187886241, rel=1e-14)


def test_a_number_changed_through_the_api_loses_the_derivation_it_no_longer_follows(small, extractors):
    from rest_framework.test import APIClient

    hr = _hazard_ratios(small)
    client = signed_in(extractors.first)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    form = form_data(client.get(_url(small)))
    spec = {"method": "log_ratio_from_ci", "inputs": {"ratio": 0.75, "lower": 0.60, "upper": 0.94}}
    form[p + "derivation"] = json.dumps({"estimate": spec, "se": spec})
    assert client.post(_url(small), form).status_code == 302
    row = StudyEstimate.objects.get(study=small.study)
    api = APIClient()
    api.force_authenticate(extractors.first)
    url = f"/api/reviews/{small.review.slug}/study-estimates/{row.pk}/"
    shown = api.get(url).json()
    assert (shown["provenance"], sorted(shown["derivation"])) == ("calculated", ["estimate", "se"])
    changed = api.patch(url, {"se": 0.12}, format="json")
    assert changed.status_code == 200, changed.json()
    row.refresh_from_db()
    # The SE typed through the API was not derived from the CI; the estimate still is.
    assert row.se == 0.12 and sorted(row.derivation) == ["estimate"]
    assert api.patch(url, {"source_location": "Table 3"}, format="json").status_code == 200
    row.refresh_from_db()
    assert sorted(row.derivation) == ["estimate"]  # untouched numbers keep theirs


def test_a_study_with_only_estimates_counts_as_extracted(small, extractors):
    from studies import selectors

    hr = _hazard_ratios(small)
    other = entity_save(instance=Study(review=small.review, label="HR only 2019", year=2019, is_included=True))
    client = signed_in(extractors.first)
    url = f"/reviews/{small.review.slug}/extraction/studies/{other.pk}/"
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    form = form_data(client.get(url))
    form.update({p + "estimate": "-0.2", p + "se": "0.1"})
    assert client.post(url, form).status_code == 302
    listing = client.get(f"/reviews/{small.review.slug}/extraction/")
    assert [i["entered"] for i in listing.context["items"] if i["study"] == other] == [True]
    assert selectors.extraction_work(review=small.review, extractor=extractors.first).to_enter == 0


def test_the_consensus_keeps_stored_values_no_entry_covers(small, extractors):
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    alice, bob = signed_in(extractors.first), signed_in(extractors.second)
    for client in (alice, bob):  # both submit before the generic outcome exists
        form = form_data(client.get(_url(small)))
        assert client.post(_url(small), {**form, "action": "submit"}).status_code == 302
    hr = _hazard_ratios(small)
    # An estimate that came another way (a RevMan file): the domain service, as the import writes it.
    from studies.services.entities import entity_store
    entity_store(instance=StudyEstimate(study=small.study, outcome=hr, time_point=small.time_point, estimate=-0.3,
                                        se=0.12))
    page = alice.get(_url(small) + "consensus/")
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    assert page.context["in_no_entry"] == ["Relapse (adjusted HR) · End of intervention: Estimate",
                                           "Relapse (adjusted HR) · End of intervention: SE",
                                           "Relapse (adjusted HR) · End of intervention: Provenance"]
    assert "Not in either extraction" in page.content.decode()
    form = form_data(page)
    assert (form[p + "estimate"], form[p + "se"]) == ("-0.3", "0.12")
    assert alice.post(_url(small) + "consensus/", form).status_code == 302
    assert StudyEstimate.objects.get(study=small.study).estimate == -0.3


def test_under_dual_extraction_estimates_are_not_written_around_the_consensus(small, extractors):
    from django.core.exceptions import PermissionDenied

    hr = _hazard_ratios(small)
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    with pytest.raises(PermissionDenied, match="dual extraction"):
        entity_save(instance=StudyEstimate(study=small.study, outcome=hr, time_point=small.time_point,
                                           estimate=-0.3, se=0.12))
    assert not StudyEstimate.objects.exists()


def test_an_estimate_deleted_meanwhile_is_named_in_the_refusal(small, extractors):
    from studies.services.entities import entity_delete

    hr = _hazard_ratios(small, subgroups=("Low dose",))
    row = entity_save(instance=StudyEstimate(study=small.study, outcome=hr, time_point=small.time_point,
                                             estimate=-0.3, se=0.12))
    client = signed_in(extractors.first)
    form = form_data(client.get(_url(small)))  # the estimate outside the subgroups has its own row
    entity_delete(instance=row)  # someone else, e.g. through the API: the row leaves the form
    form[f"cell_{small.outcome.pk}_{small.time_point.pk}_{small.intervention.pk}_mean"] = "-5"
    refused = client.post(_url(small), form)
    assert refused.status_code == 409
    changes = {(c.label, c.before, c.after) for c in refused.context["conflict"]}
    assert {("Relapse (adjusted HR) · End of intervention: Estimate (no longer on the form)", "-0.3", ""),
            ("Relapse (adjusted HR) · End of intervention: SE (no longer on the form)", "0.12", "")} <= changes


def test_editing_only_the_source_keeps_a_confirmed_computed_estimate_exact_and_confirmed(small, extractors):
    import math

    from studies.services.value_checks import study_estimate_confirm

    hr = _hazard_ratios(small)
    for i, estimate in enumerate((0.0, 0.05, -0.05, 0.02)):
        study = entity_save(instance=Study(review=small.review, label=f"O{i}", year=2010 + i))
        entity_save(instance=StudyEstimate(study=study, outcome=hr, time_point=small.time_point, estimate=estimate,
                                           se=0.1))
    value = math.log(0.1)  # 17 significant digits; far from the others, so held, then confirmed by the manager
    row = entity_save(instance=StudyEstimate(study=small.study, outcome=hr, time_point=small.time_point,
                                             estimate=value, se=0.1), user=extractors.second)
    assert row.check_state == "awaiting_check"
    study_estimate_confirm(row_id=row.pk, user=small.manager)
    client = signed_in(extractors.first)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    form = form_data(client.get(_url(small)))
    assert form[p + "estimate"] == repr(value)
    form[p + "source_location"] = "Table 4"
    assert client.post(_url(small), form).status_code == 302
    row.refresh_from_db()
    assert (row.estimate, row.check_state, row.source_location) == (value, "confirmed", "Table 4")


def test_the_hold_notice_names_the_estimates_row(small, extractors):
    hr = _hazard_ratios(small, subgroups=("Low dose", "High dose"))
    low, high = OutcomeSubgroup.objects.filter(outcome=hr).order_by("order")
    client = signed_in(extractors.first)
    form = form_data(client.get(_url(small)))
    for subgroup, se in ((low, "0.1"), (high, "1e-160")):
        p = estimate_prefix(hr.pk, small.time_point.pk, subgroup.pk)
        form.update({p + "estimate": "-0.2", p + "se": se})
    assert client.post(_url(small), form).status_code == 302
    notes = client.get(_url(small)).context["saved_notes"]
    assert [n for n in notes if n.startswith("Awaiting check (Relapse (adjusted HR) · End of intervention · High dose):")]


def test_what_was_typed_in_a_row_that_left_the_form_is_shown_not_dropped(small, extractors):
    hr = _hazard_ratios(small)
    client = signed_in(extractors.first)
    p = estimate_prefix(hr.pk, small.time_point.pk, None)
    form = form_data(client.get(_url(small)))
    form.update({p + "estimate": "-0.22", p + "se": "0.1"})
    entity_save(instance=OutcomeSubgroup(outcome=hr, name="Low dose"))  # meanwhile: the row moves to subgroups
    refused = client.post(_url(small), form)
    assert refused.status_code == 409
    assert refused.context["unplaced"] == [
        ("Relapse (adjusted HR) · End of intervention: Estimate (no longer on the form)", "-0.22"),
        ("Relapse (adjusted HR) · End of intervention: SE (no longer on the form)", "0.1")]
    assert "enter it again where it now belongs" in refused.content.decode()
    assert not StudyEstimate.objects.exists()


def test_a_post_without_the_estimate_fields_keeps_the_stored_estimates(small, extractors):
    """A page opened before the form had estimates (or any client posting only some fields): what it
    does not carry is kept, not read as emptied."""
    hr = _hazard_ratios(small)
    entity_save(instance=StudyEstimate(study=small.study, outcome=hr, time_point=small.time_point, estimate=-0.3,
                                       se=0.12))
    client = signed_in(extractors.first)
    form = {k: v for k, v in form_data(client.get(_url(small))).items() if not k.startswith("est_")}
    form[f"cell_{small.outcome.pk}_{small.time_point.pk}_{small.intervention.pk}_mean"] = "-5"
    assert client.post(_url(small), form).status_code == 302
    assert StudyEstimate.objects.get(study=small.study).estimate == -0.3
