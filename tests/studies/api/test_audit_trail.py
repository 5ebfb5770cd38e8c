"""The audit trail is written by the database: every create, update and delete of the audited rows
leaves an event with old and new values — through the services, a bulk ``QuerySet.update()`` or raw
SQL alike — with the user when it came through a request, and no event can be changed or removed."""
from django.db import connection, transaction
from django.db.utils import DatabaseError
import pytest
from rest_framework.test import APIClient

from studies.audit import audit_trail
from studies.models import EVENT_MODELS, OutcomeData, Review, ScreeningDecision, Study


def _events(model, obj_id: int) -> list:
    return list(EVENT_MODELS[model].objects.filter(pgh_obj_id=obj_id).order_by("pgh_id"))


def test_a_bulk_update_and_raw_sql_both_leave_events_with_old_and_new_values(small):
    # bulk: no save(), no signals. A confirmed row's analysed numbers move with its entered ones (the
    # database refuses them apart: outcome_data_confirmed_is_entered).
    OutcomeData.objects.filter(pk=small.data.pk).update(mean=-9.5, confirmed_mean=-9.5)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE studies_outcomedata SET sd = 7.25, confirmed_sd = 7.25 WHERE id = %s", [small.data.pk])
        cursor.execute("UPDATE studies_study SET is_included = false WHERE id = %s", [small.study.pk])
    events = _events(OutcomeData, small.data.pk)
    assert [e.pgh_label for e in events] == ["insert", "update", "update"]
    assert (events[0].mean, events[1].mean, events[2].sd) == (-4.2, -9.5, 7.25)
    count, trail = audit_trail(user=small.manager, review=small.review, entities=["outcome-data", "study"])
    sd_change = next(e for e in trail if e.entity == "outcome-data" and e.changed == ["confirmed_sd", "sd"])
    assert (sd_change.old["sd"], sd_change.new["sd"]) == (6.1, 7.25)
    inclusion = next(e for e in trail if e.entity == "study" and e.action == "update")
    assert inclusion.changed == ["is_included"] and inclusion.old["is_included"] is True
    assert inclusion.user is None  # raw SQL outside a request: no one to name, but recorded


def test_deletes_and_review_settings_are_recorded(small):
    data_id = small.data.pk
    OutcomeData.objects.filter(pk=data_id).delete()
    Review.objects.filter(pk=small.review.pk).update(i2_threshold=40)
    Review.objects.filter(pk=small.review.pk).update(data_version=999)  # not a setting: no event
    assert [e.pgh_label for e in _events(OutcomeData, data_id)] == ["insert", "delete"]
    assert _events(OutcomeData, data_id)[-1].mean == -4.2  # the deleted row's values
    review_events = _events(Review, small.review.pk)
    assert [e.pgh_label for e in review_events] == ["insert", "update"] and review_events[-1].i2_threshold == 40


def test_events_name_the_user_of_an_api_request(api_review):
    client = APIClient()
    client.force_authenticate(api_review.users["extractor"])
    path = f"/api/reviews/{api_review.review.slug}/outcome-data/{api_review.ids['outcome-data']}/"
    assert client.patch(path, {"mean": -3.0}, format="json").status_code == 200
    manager = APIClient()
    manager.force_authenticate(api_review.users["manager"])
    trail = manager.get(f"/api/reviews/{api_review.review.slug}/audit/?entity=outcome-data").data["results"]
    latest = trail[0]
    # The plausible edit is confirmed at once (the analysed mean moves with it), entered by the extractor.
    assert (latest["action"], latest["user"], latest["changed"]) == (
        "update", "api-extractor", ["confirmed_mean", "entered_by_id", "mean", "updated_at"])
    assert latest["url"] == path and (latest["old"]["mean"], latest["new"]["mean"]) == (-4.2, -3.0)
    for who in ("extractor", "screener", "outsider"):
        other = APIClient()
        other.force_authenticate(api_review.users[who])
        assert other.get(f"/api/reviews/{api_review.review.slug}/audit/").status_code in (403, 404)


@pytest.mark.parametrize("statement", [
    "UPDATE studies_outcomedataevent SET mean = 0 WHERE pgh_obj_id = %s",
    "DELETE FROM studies_outcomedataevent WHERE pgh_obj_id = %s",
    "UPDATE studies_studyevent SET is_included = true WHERE review_id IS NOT NULL AND %s > 0",
    "DELETE FROM studies_screeningdecisionevent WHERE %s > 0",
])
def test_the_application_cannot_alter_or_delete_events(small, statement):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [small.data.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            EVENT_MODELS[OutcomeData].objects.filter(pgh_obj_id=small.data.pk).update(mean=0)
    assert EVENT_MODELS[OutcomeData].objects.filter(pgh_obj_id=small.data.pk).get().mean == -4.2


def test_who_did_it_cannot_be_rewritten(api_review):
    client = APIClient()
    client.force_authenticate(api_review.users["extractor"])
    client.patch(f"/api/reviews/{api_review.review.slug}/outcome-data/{api_review.ids['outcome-data']}/",
                 {"mean": -3.0}, format="json")
    event = EVENT_MODELS[OutcomeData].objects.filter(pgh_context__isnull=False).latest("pgh_id")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE pghistory_context SET metadata = jsonb_set(metadata, '{user}', '1') "
                           "WHERE id = %s", [event.pgh_context_id])
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM pghistory_context WHERE id = %s", [event.pgh_context_id])


def test_every_audited_change_is_covered(small):
    """Decisions, resolutions, outcome data, RoB (both tools), studies, reports and settings."""
    audited = {model.__name__ for model in EVENT_MODELS}
    assert audited >= {"ScreeningDecision", "ScreeningResolution", "OutcomeData", "RiskOfBiasAssessment",
                       "RiskOfBiasJudgment", "Rob2Assessment", "Rob2DomainJudgment", "Rob2SignallingAnswer", "Study",
                       "Report", "Review"}
    assert ScreeningDecision in EVENT_MODELS and Study in EVENT_MODELS


def test_every_audited_model_has_its_place_in_the_trail():
    """An audited model (of any app) missing from ``studies.audit.ENTITIES`` would record events no
    one can read; each has its label too."""
    from django.apps import apps
    from pghistory.models import Event

    from studies.audit import ENTITIES, ENTITY_LABELS

    tracked = {model.pgh_tracked_model for model in apps.get_models() if issubclass(model, Event)}
    assert {model for model, _ in ENTITIES.values()} == tracked
    assert set(ENTITY_LABELS) == set(ENTITIES)
