"""The extraction pages with real sessions: access, the concurrent-edit case, dual extraction with
blinding, cell-by-cell differences and the consensus, and the imputation sensitivity set."""

from django.test import Client
import pytest

from analysis import services as analysis_services
from analysis.models import AnalysisSet
from analysis.services import analysis_inputs_load, review_results_compute
from studies.models import OutcomeData, Provenance
from studies.services import entity_save
from tests.studies.extraction.forms import form_data, signed_in

pytestmark = pytest.mark.django_db


def test_access_follows_the_review_team(small, extractors, django_user_model):
    url = f"/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/"
    assert Client().get(url).status_code == 302  # anonymous: to the login page
    stranger = django_user_model.objects.create_user("stranger", password="x-long-password")
    assert signed_in(stranger).get(url).status_code == 404
    assert signed_in(extractors.outsider_role).get(url).status_code == 403
    page = signed_in(extractors.first).get(url)
    assert page.status_code == 200
    assert b"Self-stigma" in page.content and b"Convert" in page.content


def test_two_sessions_editing_at_once_lose_nothing(small, extractors, cell):
    url = f"/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/"
    alice, bob = signed_in(extractors.first), signed_in(extractors.second)
    alice_form, bob_form = form_data(alice.get(url)), form_data(bob.get(url))
    alice_form[cell(small.intervention, "mean")] = "-5.5"
    assert alice.post(url, alice_form).status_code == 302
    bob_form[cell(small.control, "sd")] = "6.4"
    refused = bob.post(url, bob_form)
    assert refused.status_code == 409
    page = refused.content.decode()
    assert "Not saved: someone else saved" in page
    assert "Self-stigma · End of intervention · Peer group: Mean: “-4.2” → “-5.5”" in page
    # Alice's edit stands; Bob's is not written but is still in his form.
    assert OutcomeData.objects.get(arm=small.intervention).mean == -5.5
    assert OutcomeData.objects.get(arm=small.control).sd == 5.8
    again = form_data(refused)
    assert again[cell(small.control, "sd")] == "6.4"
    again[cell(small.intervention, "mean")] = "-5.5"
    assert bob.post(url, again).status_code == 302
    assert OutcomeData.objects.get(arm=small.control).sd == 6.4
    assert OutcomeData.objects.get(arm=small.intervention).mean == -5.5


def test_a_validation_error_names_the_field_on_the_page(small, extractors, cell):
    url = f"/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/"
    client = signed_in(extractors.first)
    form = form_data(client.get(url))
    form[cell(small.control, "n")] = "0"
    page = client.post(url, form)
    assert page.status_code == 400
    assert "Self-stigma · End of intervention · Usual care:" in page.content.decode()


def test_the_convert_endpoint_runs_the_engine(small, extractors):
    client = signed_in(extractors.first)
    response = client.post(f"/reviews/{small.review.slug}/extraction/convert/",
                           {"method": "sd_from_se", "in_se": "2", "in_n": "25"})
    assert response.json()["derived"]["sd"]["value"] == pytest.approx(10.0)
    bad = client.post(f"/reviews/{small.review.slug}/extraction/convert/", {"method": "sd_from_se", "in_n": "25"})
    assert bad.status_code == 400 and bad.json()["errors"] == {"se": "Enter the SE."}


def test_dual_extraction_is_blinded_compared_cell_by_cell_and_the_consensus_is_analysed(small, extractors, cell):
    small.review.dual_extraction = True
    entity_save(instance=small.review)
    url = f"/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/"
    consensus_url = url + "consensus/"
    alice, bob = signed_in(extractors.first), signed_in(extractors.second)
    alice_form = form_data(alice.get(url))
    assert alice_form[cell(small.intervention, "mean")] == ""  # independent: not pre-filled with anyone's data
    for arm, mean in ((small.intervention, "-4.2"), (small.control, "-1")):
        alice_form.update({cell(arm, "n"): "38", cell(arm, "mean"): mean, cell(arm, "sd"): "6"})
    bob_form = dict(alice_form)
    bob_form[cell(small.control, "mean")] = "-1.5"
    alice.post(url, {**alice_form, "action": "submit"})
    assert alice.get(consensus_url).status_code == 409  # Bob has not submitted: Alice sees nothing of his
    bob.post(url, {**bob_form, "action": "save"})
    assert alice.get(consensus_url).status_code == 409
    assert OutcomeData.objects.get(arm=small.control).mean == -1.0  # entries never touch the analysed rows
    bob.post(url, {**bob_form, "action": "submit"})
    page = alice.get(consensus_url)
    assert page.status_code == 200
    differing = [(change.name, change.before, change.after) for change in page.context["differences"]]
    assert differing == [(cell(small.control, "mean"), "-1", "-1.5")]
    consensus = form_data(page)
    assert consensus[cell(small.control, "mean")] == ""  # the difference is left for them to settle
    assert consensus[cell(small.intervention, "mean")] == "-4.2"
    consensus[cell(small.control, "mean")] = "-1.5"
    assert alice.post(consensus_url, consensus).status_code == 302
    assert OutcomeData.objects.get(arm=small.control).mean == -1.5
    assert OutcomeData.objects.get(arm=small.intervention).sd == 6
    # Reopened, the form is the recorded consensus, the difference still marked: amending one field
    # (the instrument) keeps the settled mean instead of emptying it (which refused or deleted the row).
    page = alice.get(consensus_url)
    assert page.context["recorded"] and "The form shows the consensus as recorded" in page.content.decode()
    again = form_data(page)
    assert again[cell(small.control, "mean")] == "-1.5"
    assert [c.name for c in page.context["differences"]] == [cell(small.control, "mean")]
    again[cell(small.control, "instrument")] = "ISMI"
    assert alice.post(consensus_url, again).status_code == 302
    row = OutcomeData.objects.get(arm=small.control)
    assert (row.mean, row.instrument) == (-1.5, "ISMI")


def test_the_pipeline_pools_each_outcome_again_without_imputed_values(small, extractors, cell, django_user_model):
    from studies.models import Arm, ArmRole, Study
    second = entity_save(instance=Study(review=small.review, label="Second 2021", year=2021))
    for role, mean in ((ArmRole.INTERVENTION, -3.0), (ArmRole.CONTROL, -0.5)):
        arm = entity_save(instance=Arm(study=second, role=role, label=f"{role} arm", randomised=30))
        entity_save(instance=OutcomeData(study=second, outcome=small.outcome, time_point=small.time_point, arm=arm,
                                         n=30, mean=mean, sd=5.0, provenance=Provenance.IMPUTED,
                                         derivation={"sd": {"method": "sd_change", "inputs": {"r": 0.5}}}))
    results = review_results_compute(analysis_inputs_load(small.review.pk))
    by_set = {r.analysis_set: r for r in results if r.subgroup_field_id is None}
    assert by_set[AnalysisSet.MAIN].payload["fixed"]["k"] == 2
    restricted = by_set[AnalysisSet.NO_IMPUTED].payload
    assert restricted["imputation_set"]["left_out"] == ["Second 2021"]
    # The restricted pool is the engine run on the non-imputed study alone.
    only = [r for r in review_results_compute(analysis_inputs_load(small.review.pk))
            if r.analysis_set == AnalysisSet.MAIN and r.subgroup_field_id is None]
    OutcomeData.objects.filter(study=second).delete()
    alone = [r for r in review_results_compute(analysis_inputs_load(small.review.pk))
             if r.analysis_set == AnalysisSet.MAIN and r.subgroup_field_id is None][0].payload
    assert restricted["fixed"]["estimate"] == pytest.approx(alone["fixed"]["estimate"])
    assert only[0].payload["fixed"]["estimate"] != pytest.approx(alone["fixed"]["estimate"])
    # Without imputed values there is no second analysis.
    assert not [r for r in review_results_compute(analysis_inputs_load(small.review.pk))
                if r.analysis_set == AnalysisSet.NO_IMPUTED]


def test_the_outcome_page_and_the_csv_show_the_set_and_the_provenance(small, extractors, cell, settings):
    from studies.models import Arm, ArmRole, Study
    small.review.is_public = True
    entity_save(instance=small.review)
    second = entity_save(instance=Study(review=small.review, label="Second 2021", year=2021))
    for role, mean in ((ArmRole.INTERVENTION, -3.0), (ArmRole.CONTROL, -0.5)):
        arm = entity_save(instance=Arm(study=second, role=role, label=f"{role} arm", randomised=30))
        entity_save(instance=OutcomeData(
            study=second, outcome=small.outcome, time_point=small.time_point, arm=arm, n=30, mean=mean, sd=5.0,
            provenance=Provenance.IMPUTED, source_location="Table 3, p. 7",
            derivation={"sd": {"method": "sd_change", "inputs": {"sd_baseline": 5.0, "sd_final": 5.0, "r": 0.5},
                               "description": "imputed from baseline and final SDs with correlation r = 0.5",
                               "source": "Cochrane Handbook 6.5.2.8", "provenance": "imputed", "value": 5.0}}))
    analysis_services.analysis_run_execute(small.review.pk)
    page = Client().get(f"/reviews/{small.review.slug}/outcomes/{small.outcome.pk}/").content.decode()
    assert "Sensitivity: imputed values" in page and "Second 2021 (imputed)" in page
    csv = b"".join(Client().get(f"/reviews/{small.review.slug}/data.csv").streaming_content).decode()
    assert "source_location,derivation" in csv.splitlines()[0]
    assert "Table 3, p. 7" in csv and "imputed from baseline and final SDs with correlation r = 0.5" in csv


def test_an_implausible_value_saved_on_the_page_is_held_with_why_and_a_link(small, extractors, cell):
    small.outcome.scale_min, small.outcome.scale_max = 0, 20
    entity_save(instance=small.outcome)
    url = f"/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/"
    client = signed_in(extractors.first)
    form = form_data(client.get(url))
    form[cell(small.intervention, "sd")] = "6100"
    assert client.post(url, form).status_code == 302
    page = client.get(url).content.decode()
    assert ("Awaiting check: Only 2020 · Peer group · Self-stigma: SD 6100 is larger than the range of the scale "
            "(0 to 20).") in page
    assert f'<a href="/reviews/{small.review.slug}/extraction/awaiting-check/">1 value awaiting check</a>' in page
    row = OutcomeData.objects.get(arm=small.intervention)
    assert (row.sd, row.confirmed_sd, row.check_state) == (6100, 6.1, "awaiting_check")


def test_a_manager_switches_dual_extraction_on_through_the_api_and_the_admin(small, extractors):
    from rest_framework.test import APIClient

    from studies.models import Review

    api = APIClient()
    api.force_authenticate(small.manager)
    url = f"/api/reviews/{small.review.slug}/"
    changed = api.patch(url, {"dual_extraction": True, "change_sd_correlation": 0.6,
                              "include_terms": ["peer"]}, format="json")
    assert changed.status_code == 200, changed.json()
    review = Review.objects.get(pk=small.review.pk)
    assert (review.dual_extraction, review.change_sd_correlation, review.include_terms) == (True, 0.6, ["peer"])
    assert api.patch(url, {"change_sd_correlation": 1.5}, format="json").status_code == 400
    # An extractor may not change the review's settings.
    api.force_authenticate(extractors.first)
    assert api.patch(url, {"dual_extraction": False}, format="json").status_code == 403
    admin = signed_in(small.manager).get(f"/admin/studies/review/{small.review.pk}/change/").content.decode()
    assert 'name="dual_extraction"' in admin and 'name="change_sd_correlation"' in admin


def test_an_extractor_adds_the_arms_of_a_study_linked_without_any_and_removes_a_mistaken_one(small, extractors):
    from studies.models import Arm, Study

    study = entity_save(instance=Study(review=small.review, label="Linked 2022", year=2022))  # as screening links it
    url = f"/reviews/{small.review.slug}/extraction/studies/{study.pk}/"
    client = signed_in(extractors.first)
    page = client.get(url)
    assert "This study has no arms yet" in page.content.decode() and page.context["grid"] == []
    for role, label, randomised in (("intervention", "Peer group", "30"), ("control", "Waiting list", ""),
                                    ("intervention", "Typo arm", "")):
        assert client.post(url + "arms/", {"role": role, "label": label, "randomised": randomised}).status_code == 302
    assert sorted(Arm.objects.filter(study=study).values_list("label", "role", "randomised")) == [
        ("Peer group", "intervention", 30), ("Typo arm", "intervention", None), ("Waiting list", "control", None)]
    # Refused, naming what is wrong, nothing added: a taken label, no label, a number that is not whole.
    for body, message in (({"role": "control", "label": "Peer group"}, "already has an arm labelled “Peer group”"),
                          ({"role": "control", "label": " "}, "Enter the new arm&#x27;s label"),
                          ({"role": "control", "label": "Other", "randomised": "2.5"}, "enter a whole number")):
        client.post(url + "arms/", body)
        assert message in client.get(url).content.decode()
    assert Arm.objects.filter(study=study).count() == 3
    typo = Arm.objects.get(study=study, label="Typo arm")
    assert client.post(url + "arms/", {"remove": typo.pk}).status_code == 302
    assert not Arm.objects.filter(pk=typo.pk).exists()
    # The grid now has the study's cells; an arm with data cannot be removed.
    page = client.get(url)
    assert [c["arm"].label for c in page.context["grid"][0]["cells"]] == ["Peer group", "Waiting list"]
    peer = Arm.objects.get(study=study, label="Peer group")
    entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point, arm=peer,
                                     n=30, mean=-3.0, sd=5.0))
    client.post(url + "arms/", {"remove": peer.pk})
    assert "Peer group has outcome data" in client.get(url).content.decode()
    assert Arm.objects.filter(pk=peer.pk).exists()
    # Only extractors change a study's arms.
    assert signed_in(extractors.outsider_role).post(url + "arms/", {"role": "control", "label": "X"}).status_code == 403
    assert signed_in(small.manager).post(url + "arms/", {"role": "control", "label": "X"}).status_code == 403


def test_under_dual_extraction_arms_stay_while_an_entry_holds_their_numbers(small, extractors):
    from studies.models import Arm, Study

    small.review.dual_extraction = True
    entity_save(instance=small.review)
    study = entity_save(instance=Study(review=small.review, label="Linked 2023", year=2023))
    url = f"/reviews/{small.review.slug}/extraction/studies/{study.pk}/"
    alice, bob = signed_in(extractors.first), signed_in(extractors.second)
    # The number randomised is each extractor's to enter, not written straight into the analysed arm.
    alice.post(url + "arms/", {"role": "control", "label": "Waiting list", "randomised": "30"})
    assert "each extractor enters it" in alice.get(url).content.decode() and not Arm.objects.filter(study=study).exists()
    assert alice.post(url + "arms/", {"role": "control", "label": "Waiting list"}).status_code == 302
    arm = Arm.objects.get(study=study)
    form = form_data(bob.get(url))
    form[f"arm_{arm.pk}_randomised"] = "30"
    assert bob.post(url, {**form, "action": "submit"}).status_code == 302
    page = alice.get(url)
    assert f'name="remove" value="{arm.pk}"' not in page.content.decode()
    alice.post(url + "arms/", {"remove": arm.pk})
    assert "has values in an extractor&#x27;s entry" in alice.get(url).content.decode()
    assert Arm.objects.filter(pk=arm.pk).exists()
    assert alice.post(url + "arms/", {"remove": "abc"}).status_code == 404


def test_the_api_removes_an_arm_only_without_its_data_as_the_page_does(small, extractors):
    from rest_framework.test import APIClient

    from studies.models import Arm, ArmRole

    api = APIClient()
    api.force_authenticate(extractors.first)
    refused = api.delete(f"/api/reviews/{small.review.slug}/arms/{small.intervention.pk}/")
    assert refused.status_code == 400 and "Peer group has outcome data" in str(refused.json())
    assert OutcomeData.objects.filter(arm=small.intervention).exists()
    spare = entity_save(instance=Arm(study=small.study, role=ArmRole.CONTROL, label="Spare"))
    assert api.delete(f"/api/reviews/{small.review.slug}/arms/{spare.pk}/").status_code == 204
