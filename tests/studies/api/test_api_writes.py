"""Writes through the API: validated like every other path, scoped to the review, only the fields a
role may set, data-version moves for analysis inputs, and lists whose query count does not grow."""
import re

import pytest

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from studies.models import Arm, ArmRole, OutcomeData, Record, Review, Role, Study
from studies.services.entities import entities_create, entity_save
from studies.services.reviews import managers_group_ensure


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_extractor_edits_outcome_data_and_the_analysis_version_moves(api_review):
    review, data = api_review.review, OutcomeData.objects.get(pk=api_review.ids["outcome-data"])
    before = Review.objects.get(pk=review.pk).data_version
    client = client_for(api_review.users["extractor"])
    path = f"/api/reviews/{review.slug}/outcome-data/{data.pk}/"
    response = client.patch(path, {"mean": -5.5, "provenance": "calculated"}, format="json")
    assert response.status_code == 200, response.data
    assert OutcomeData.objects.get(pk=data.pk).mean == -5.5
    assert Review.objects.get(pk=review.pk).data_version == before + 1
    refused = client.patch(path, {"sd": -1}, format="json")
    assert refused.status_code == 400 and "sd" in refused.data
    assert OutcomeData.objects.get(pk=data.pk).sd == data.sd  # nothing half-written
    assert Review.objects.get(pk=review.pk).data_version == before + 1


def test_references_to_another_reviews_rows_are_refused(api_review):
    theirs = entity_save(instance=Study(review=api_review.other, label="Theirs 2018", year=2018))
    their_arm = entity_save(instance=Arm(study=theirs, role=ArmRole.CONTROL, label="Control", randomised=10))
    ours = OutcomeData.objects.get(pk=api_review.ids["outcome-data"])
    response = client_for(api_review.users["manager"]).post(
        f"/api/reviews/{api_review.review.slug}/outcome-data/",
        {"study": theirs.pk, "outcome": ours.outcome_id, "time_point": ours.time_point_id, "arm": their_arm.pk,
         "n": 10, "mean": 1.0, "sd": 2.0}, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"study", "arm"} and "does not exist" in str(response.data["arm"][0])
    assert not OutcomeData.objects.filter(arm=their_arm).exists()


def test_fields_a_role_may_not_set_are_ignored(api_review):
    review, manager = api_review.review, api_review.users["manager"]
    study = Study.objects.get(pk=api_review.ids["studies"])
    response = client_for(manager).patch(
        f"/api/reviews/{review.slug}/studies/{study.pk}/",
        {"review": api_review.other.pk, "id": study.pk + 1000, "created_at": "2000-01-01T00:00:00Z", "notes": "ok"},
        format="json")
    assert response.status_code == 200
    study.refresh_from_db()
    assert (study.review_id, study.notes, study.created_at.year) == (review.pk, "ok", study.created_at.year)
    assert study.created_at.year != 2000
    before = Review.objects.get(pk=review.pk)
    response = client_for(manager).patch(f"/api/reviews/{review.slug}/",
                                         {"title": "Renamed", "data_version": 999, "is_synthetic": True},
                                         format="json")
    assert response.status_code == 200
    after = Review.objects.get(pk=review.pk)
    assert (after.title, after.data_version, after.is_synthetic) == ("Renamed", before.data_version, False)


def test_records_list_costs_the_same_queries_for_five_or_a_thousand(api_review):
    batch_id = Record.objects.get(pk=api_review.ids["records"]).import_batch_id
    total = 60 + Record.objects.filter(review=api_review.review).count()
    entities_create(instances=[Record(review=api_review.review, import_batch_id=batch_id, title=f"Record {i}",
                                      authors=["Smith, A."], keywords=["peer"]) for i in range(60)])
    client = client_for(api_review.users["screener"])

    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/reviews/{api_review.review.slug}/records/?page_size={size}")
        assert response.status_code == 200 and len(response.data["results"]) == min(size, total)
        return len(captured)

    assert queries(5) == queries(1000)
    assert client.get(f"/api/reviews/{api_review.review.slug}/records/?page_size=5000").data["count"] == total


def test_token_authentication(api_review):
    manager = api_review.users["manager"]
    response = APIClient().post("/api/token/", {"username": manager.username, "password": "a-long-test-password"},
                                format="json")
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert client.get(f"/api/reviews/{api_review.review.slug}/sources/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(f"/api/reviews/{api_review.review.slug}/sources/").status_code == 401


def test_creating_a_review_makes_its_creator_the_manager(api_review):
    user = get_user_model().objects.create_user("starter")
    body = {"title": "A new question", "slug": "a-new-question", "effect_measure": "SMD"}
    assert client_for(user).post("/api/reviews/", body, format="json").status_code == 403
    user.groups.add(managers_group_ensure())
    user = get_user_model().objects.get(pk=user.pk)  # permissions are cached per instance
    response = client_for(user).post("/api/reviews/", body, format="json")
    assert response.status_code == 201 and response.data["slug"] == "a-new-question"
    review = Review.objects.get(slug="a-new-question")
    assert review.memberships.filter(user=user, role=Role.MANAGER).exists()
    assert client_for(user).post("/api/reviews/", body, format="json").status_code == 400  # slug taken


def test_docs_are_served_without_any_cdn(client):
    page = client.get("/api/docs/").content.decode()
    script = client.get(re.search(r'src="([^"]*swagger-ui-bundle[^"]*)"', page).group(1))
    assert script.status_code == 200
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/reviews/{slug}/outcome-data/" in schema.content.decode()


def test_decisions_list_costs_the_same_queries_for_five_or_a_thousand(api_review):
    from studies.services.screening import decision_record
    batch_id = Record.objects.get(pk=api_review.ids["records"]).import_batch_id
    records = entities_create(instances=[Record(review=api_review.review, import_batch_id=batch_id,
                                                title=f"Record {i}") for i in range(30)])
    for record in records:
        for who in ("screener", "screener-2"):
            decision_record(record=record, stage="title_abstract", screener=api_review.users[who], decision="include")
    client = client_for(api_review.users["tutor"])

    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/reviews/{api_review.review.slug}/decisions/?page_size={size}")
        assert response.status_code == 200 and len(response.data["results"]) == min(size, response.data["count"])
        return len(captured)

    assert queries(5) == queries(1000)


def test_filtering_by_another_reviews_id_answers_as_for_an_unknown_id(api_review):
    """A filter by id must not tell whether an id exists in another review."""
    theirs = entity_save(instance=Study(review=api_review.other, label="Theirs 2017", year=2017))
    client = client_for(api_review.users["manager"])
    path = f"/api/reviews/{api_review.review.slug}/arms/?study="
    unknown = client.get(path + str(theirs.pk + 10_000))
    other = client.get(path + str(theirs.pk))
    assert other.status_code == unknown.status_code == 400
    assert other.data == {"study": [str(unknown.data["study"][0]).replace(str(theirs.pk + 10_000), str(theirs.pk))]}
    ours = client.get(path + str(api_review.ids["studies"]))
    assert ours.status_code == 200 and ours.data["count"] == 2


def test_under_dual_extraction_the_api_does_not_write_extracted_data(api_review):
    """Extracted data come from the consensus of two entries, so a single write is refused."""
    review = api_review.review
    Review.objects.filter(pk=review.pk).update(dual_extraction=True)
    data = OutcomeData.objects.get(pk=api_review.ids["outcome-data"])
    client = client_for(api_review.users["extractor"])
    refused = client.patch(f"/api/reviews/{review.slug}/outcome-data/{data.pk}/", {"mean": 9.9}, format="json")
    assert refused.status_code == 403 and "dual extraction" in str(refused.data["detail"])
    assert client.patch(f"/api/reviews/{review.slug}/arms/{data.arm_id}/", {"label": "x"},
                        format="json").status_code == 403
    assert OutcomeData.objects.get(pk=data.pk).mean == data.mean
    assert client.get(f"/api/reviews/{review.slug}/outcome-data/{data.pk}/").status_code == 200


def test_filtering_by_a_person_outside_the_team_answers_as_for_no_one(api_review):
    """A user filter must not tell whether an account exists."""
    client = client_for(api_review.users["manager"])
    stranger = get_user_model().objects.create_user("not-on-this-team")
    path = f"/api/reviews/{api_review.review.slug}/team/?user="
    assert client.get(path + str(stranger.pk)).status_code == client.get(path + "999999").status_code == 400
    assert client.get(path + str(api_review.users["extractor"].pk)).data["count"] == 1


def test_extractor_enters_generic_estimates_and_the_living_analysis_pools_them(api_review):
    """Generic inverse-variance data (e.g. adjusted hazard ratios) come in through the API like arm
    numbers: validated, scoped to the review, and pooled by the next recompute."""
    from analysis import services
    from analysis.models import OutcomeResult, ReviewAnalysisState
    from studies.models import StudyEstimate

    review = api_review.review
    first = StudyEstimate.objects.get(pk=api_review.ids["study-estimates"])  # -0.22, SE 0.1
    second = entity_save(instance=Study(review=review, label="Second 2022", year=2022))
    client = client_for(api_review.users["extractor"])
    base = f"/api/reviews/{review.slug}/study-estimates/"
    body = {"study": second.pk, "outcome": first.outcome_id, "time_point": first.time_point_id,
            "subgroup": first.subgroup_id, "estimate": -0.40, "se": 0.2, "source_location": "Table 3"}
    # Refused, naming the field, with nothing written: an SE that is not positive, an outcome that is
    # not generic, another review's study.
    refused = client.post(base, {**body, "se": 0}, format="json")
    assert refused.status_code == 400 and "se" in refused.data
    refused = client.post(base, {**body, "outcome": api_review.ids["outcomes"], "subgroup": None}, format="json")
    assert refused.status_code == 400 and "not a generic inverse-variance outcome" in str(refused.data["outcome"])
    theirs = entity_save(instance=Study(review=api_review.other, label="Theirs 2018", year=2018))
    refused = client.post(base, {**body, "study": theirs.pk}, format="json")
    assert refused.status_code == 400 and "study" in refused.data
    assert StudyEstimate.objects.filter(outcome_id=first.outcome_id).count() == 1
    # A screener may read but not write; the extractor's row is saved.
    assert client_for(api_review.users["screener"]).post(base, body, format="json").status_code == 403
    created = client.post(base, body, format="json")
    assert created.status_code == 201, created.data
    assert client.post(base, body, format="json").status_code == 400  # one estimate per study and subgroup

    services.review_recompute(review.pk)
    run = ReviewAnalysisState.objects.get(review=review).current_run
    pooled = OutcomeResult.objects.get(run=run, outcome_id=first.outcome_id, subgroup_field=None,
                                       analysis_set="main")
    # Inverse-variance weights 1/0.1² = 100 and 1/0.2² = 25: (-0.22·100 - 0.40·25) / 125 = -0.256
    # (Q = 0.648 < 1, so tau² = 0 and the random-effects estimate is the same).
    assert pooled.k == 2 and pooled.estimate == pytest.approx(-0.256, abs=1e-12)
    # Readers of a public review see both rows: the published analysis pools them as they are.
    assert APIClient().get(base).status_code == 404
    Review.objects.filter(pk=review.pk).update(is_public=True)
    public = APIClient().get(base)
    assert public.status_code == 200 and sorted(row["estimate"] for row in public.data["results"]) == [-0.40, -0.22]


def test_a_subgroup_keeps_its_outcome_and_its_rows(api_review):
    """A subgroup's outcome is fixed once created, a subgroup with rows in it is not deleted from under
    them, and a generic outcome with estimates keeps its data type; deleting the outcome removes all."""
    from studies.models import Outcome, OutcomeSubgroup, StudyEstimate

    review, manager = api_review.review, client_for(api_review.users["manager"])
    subgroup = OutcomeSubgroup.objects.get(pk=api_review.ids["outcome-subgroups"])
    base = f"/api/reviews/{review.slug}/"
    moved = manager.patch(f"{base}outcome-subgroups/{subgroup.pk}/",
                          {"outcome": api_review.ids["outcomes"], "name": "Lower dose"}, format="json")
    assert moved.status_code == 200
    subgroup.refresh_from_db()
    assert (subgroup.outcome_id, subgroup.name) != (api_review.ids["outcomes"], "Low dose")
    assert subgroup.outcome.data_type == "generic" and subgroup.name == "Lower dose"
    refused = manager.delete(f"{base}outcome-subgroups/{subgroup.pk}/")
    assert refused.status_code == 400 and "refer to this one" in str(refused.data)
    assert StudyEstimate.objects.filter(subgroup=subgroup).count() == 1
    retyped = manager.patch(f"{base}outcomes/{subgroup.outcome_id}/", {"data_type": "continuous", "effect_measure": "MD"},
                            format="json")
    assert retyped.status_code == 400 and "generic estimates" in str(retyped.data["data_type"])
    assert Outcome.objects.get(pk=subgroup.outcome_id).data_type == "generic"
    assert manager.delete(f"{base}outcomes/{subgroup.outcome_id}/").status_code == 204
    assert not StudyEstimate.objects.filter(pk=api_review.ids["study-estimates"]).exists()
    assert not OutcomeSubgroup.objects.filter(pk=subgroup.pk).exists()
