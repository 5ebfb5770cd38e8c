"""Concurrent submissions with real threads against real PostgreSQL (each thread its own connection
and transaction): the status is right when both screeners decide at the same moment, and the same
decision submitted ten times at once leaves one row and no server error."""
from concurrent.futures import ThreadPoolExecutor
import threading

from django.db import connection
from django.test import Client
import pytest

from studies import selectors
from studies.models import Decision, ScreeningDecision, ScreeningResolution, ScreeningStatus, Stage
from studies.services import screening as services
from tests.studies.screening.conftest import build_screening_review

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TA = Stage.TITLE_ABSTRACT


def at_once(calls: list) -> list:
    """Run the calls in threads released together by a barrier; each closes its DB connection."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=10)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=60) for f in [pool.submit(run, call) for call in calls]]


@pytest.mark.parametrize("first,second,expected", [
    (Decision.INCLUDE, Decision.INCLUDE, ScreeningStatus.AGREED_INCLUDE),
    (Decision.EXCLUDE, Decision.EXCLUDE, ScreeningStatus.AGREED_EXCLUDE),
    (Decision.INCLUDE, Decision.EXCLUDE, ScreeningStatus.CONFLICT),
])
def test_both_screeners_at_the_same_moment(first, second, expected):
    setup = build_screening_review(slug=f"concurrent-{first}-{second}", n_records=12)
    for _ in range(2):  # every record, twice over, so the threads really overlap
        at_once([
            (lambda r=record, s=screener, d=decision: services.decision_record(record=r, stage=TA, screener=s,
                                                                               decision=d))
            for record in setup.records for screener, decision in ((setup.s1, first), (setup.s2, second))
        ][:24])
    for record in setup.records:
        assert selectors.record_stage_status(record=record, stage=TA) == expected
        assert ScreeningDecision.objects.filter(record=record).count() == 2


def test_three_screeners_racing_for_two_places_leave_two_decisions():
    setup = build_screening_review(slug="concurrent-three", n_records=4)
    for record in setup.records:
        outcomes = at_once([
            (lambda s=s: _try(lambda: services.decision_record(record=record, stage=TA, screener=s,
                                                                decision=Decision.INCLUDE)))
            for s in (setup.s1, setup.s2, setup.s3)
        ])
        assert sorted(outcomes) == ["ok", "ok", "refused"]
        assert ScreeningDecision.objects.filter(record=record).count() == 2


def _try(call) -> str:
    from django.core.exceptions import ValidationError
    try:
        call()
    except ValidationError:
        return "refused"
    return "ok"


def test_the_same_decision_ten_times_at_once_through_the_page_is_one_row_without_errors():
    setup = build_screening_review(slug="concurrent-ten", n_records=2)
    url = f"/reviews/{setup.review.slug}/screening/title_abstract/"

    def submit():
        client = Client()
        client.force_login(setup.s1)
        return client.post(url, {"record": setup.records[0].pk, "decision": "exclude", "note": "same"}).status_code

    assert at_once([submit] * 10) == [302] * 10
    rows = ScreeningDecision.objects.filter(record=setup.records[0], stage=TA)
    assert rows.count() == 1 and rows.get().decision == Decision.EXCLUDE


def test_a_decision_racing_a_resolution_never_changes_a_resolved_record():
    setup = build_screening_review(slug="concurrent-resolve", n_records=6)
    for record in setup.records:
        services.decision_record(record=record, stage=TA, screener=setup.s1, decision=Decision.INCLUDE)
        services.decision_record(record=record, stage=TA, screener=setup.s2, decision=Decision.EXCLUDE)
    for record in setup.records:
        at_once([
            lambda r=record: _try(lambda: services.resolution_record(record=r, stage=TA, tutor=setup.tutor,
                                                                     decision=Decision.EXCLUDE, rationale="Tutor.")),
            lambda r=record: _try(lambda: services.decision_record(record=r, stage=TA, screener=setup.s1,
                                                                   decision=Decision.EXCLUDE)),
        ])
        resolved = ScreeningResolution.objects.filter(record=record).exists()
        decisions = set(ScreeningDecision.objects.filter(record=record).values_list("decision", flat=True))
        # Either the tutor resolved the conflict as it stood, or s1 changed first and the screeners
        # agree (and the resolution was refused): never a resolution on top of an agreement.
        if resolved:
            assert decisions == {Decision.INCLUDE, Decision.EXCLUDE}
        else:
            assert decisions == {Decision.EXCLUDE}
