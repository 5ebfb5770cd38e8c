"""Issue 20's first "Done when", end to end with real processes (PostgreSQL, a test-owned Redis, a
Celery worker with beat): an outcome value with its SD multiplied by 1000, saved by an extractor
through the API, does not change the published pooled result until a second person confirms it;
then it does, by itself (no one asks for a recompute)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from analysis import services
from studies.models import Arm, ArmRole, OutcomeData, Review, Role, Study
from studies.services import entity_save, membership_add
from tests.analysis.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OTHER_TRIALS = [(-4.0, -1.0), (-3.5, -1.2), (-4.5, -0.8), (-3.8, -1.1), (-4.1, -0.9)]


def pooled(client: APIClient, review: Review) -> dict:
    """The published pooled result of the main analysis (the public API)."""
    body = client.get(f"/api/reviews/{review.slug}/analysis/").json()
    (main,) = [r for r in body["results"] if r["analysis_set"] == "main" and r["subgroup_variable"] is None]
    return {key: main[key] for key in ("k", "estimate", "ci_low", "ci_high")}


def caught_up(review: Review) -> bool:
    return not services.review_is_behind(review.pk)


def test_an_sd_typed_a_thousand_times_too_large_waits_for_a_second_person(worker, small):
    users = get_user_model().objects
    first, second = users.create_user("extractor-one"), users.create_user("extractor-two")
    for extractor in (first, second):
        membership_add(review=small.review, user=extractor, role=Role.EXTRACTOR)
    for number, means in enumerate(OTHER_TRIALS, start=1):
        study = entity_save(instance=Study(review=small.review, label=f"Trial {number} 2021", year=2021))
        for role, mean in zip((ArmRole.INTERVENTION, ArmRole.CONTROL), means, strict=True):
            arm = entity_save(instance=Arm(study=study, role=role, label=role.label, randomised=40))
            entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point,
                                             arm=arm, n=40, mean=mean, sd=6.0))
    small.review.is_public = True
    entity_save(instance=small.review)
    reader = APIClient()
    wait_for(lambda: caught_up(small.review), 60, "the first results")
    before = pooled(reader, small.review)
    assert before["k"] == 6

    extractor = APIClient()
    extractor.force_authenticate(first)
    url = f"/api/reviews/{small.review.slug}/outcome-data/{small.data.pk}/"
    response = extractor.patch(url, {"sd": 6.1 * 1000}, format="json")
    assert response.status_code == 200 and response.json()["check_state"] == "awaiting_check"
    version = Review.objects.get(pk=small.review.pk).data_version
    wait_for(lambda: caught_up(small.review), 60, "the worker to take in the held edit")
    assert pooled(reader, small.review) == before  # the published result did not move

    assert extractor.post(url + "confirm/").status_code == 403  # not their own value
    checker = APIClient()
    checker.force_authenticate(second)
    assert checker.post(url + "confirm/").status_code == 200
    wait_for(lambda: Review.objects.get(pk=small.review.pk).data_version > version and caught_up(small.review), 60,
             "the confirmed value to be recomputed by itself")
    after = pooled(reader, small.review)
    assert after["k"] == 6 and after["estimate"] != pytest.approx(before["estimate"], abs=1e-3)
