"""A ranked review with a real Celery worker (its own Redis): the screener's decisions ask for a
retraining after commit, the worker stores the ranking, and the queue follows it; the screener never
waits on the model. An import's new records are ranked the same way."""
from datetime import date

import pytest

from studies import selectors
from studies.models import Decision, RankedRecord, Record, ScreenerRanking, ScreeningOrder, Stage
from studies.services import entity_save
from studies.services import prioritisation as ranking_services
from studies.services import screening as services
from studies.services.imports import import_file
from tests.analysis.conftest import test_redis, wait_for, worker, worker_env  # noqa: F401 (fixtures used by name)
from tests.studies.screening.conftest import build_screening_review
from tests.studies.screening.test_prioritisation import TOPICS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.usefixtures("worker")
def test_decisions_retrain_the_ranking_in_the_background():
    setup = build_screening_review(slug="ranked-worker", n_records=1)
    setup.duplicate.delete()
    setup.records[0].delete()
    records = [entity_save(instance=Record(review=setup.review, title=title, abstract=abstract, year=2021))
               for title, abstract in TOPICS]
    ranking_services.prioritisation_set(review=setup.review, user=setup.manager, order=ScreeningOrder.RANKED)
    services.decision_record(record=records[0], stage=Stage.TITLE_ABSTRACT, screener=setup.s1,
                             decision=Decision.INCLUDE)
    services.decision_record(record=records[1], stage=Stage.TITLE_ABSTRACT, screener=setup.s1,
                             decision=Decision.EXCLUDE)
    wait_for(lambda: ScreenerRanking.objects.filter(review=setup.review, screener=setup.s1,
                                                    labels_used=2).exists(), 120, "the worker's ranking")
    first = selectors.screening_queue_next(review=setup.review, stage=Stage.TITLE_ABSTRACT, screener=setup.s1)
    assert first.pk in {records[i].pk for i in (2, 4, 6, 8, 10)}  # a stigma record, not a soil one
    # The other screener decided nothing: no ranking of theirs to store, their queue keeps its order.
    assert not ScreenerRanking.objects.filter(review=setup.review, screener=setup.s2).exists()
    # A living search's or an upload's new records land ranked: the import asks for the retraining,
    # the worker refits the features with them and places the stigma record high, the soil one low.
    content = ("TY  - JOUR\nTI  - Peer support and self-stigma: a randomised trial\nAB  - Peer-led groups reduced "
               "stigma.\nPY  - 2024\nER  - \n\nTY  - JOUR\nTI  - Nitrogen in alpine meadow soils\nAB  - Soil "
               "nitrogen was measured.\nPY  - 2024\nER  - \n").encode()
    import_file(review=setup.review, database="Embase", date_searched=date(2024, 1, 2), query="peer support",
                file_name="update.ris", content=content, imported_by=setup.manager)
    new = dict(Record.objects.filter(review=setup.review, import_batch__file_name="update.ris")
               .values_list("title", "pk"))
    ranked_ids = lambda: list(RankedRecord.objects.filter(ranking__review=setup.review, ranking__screener=setup.s1)  # noqa: E731
                              .order_by("position").values_list("record_id", flat=True))
    wait_for(lambda: set(new.values()) <= set(ranked_ids()), 60, "the new records in the worker's ranking")
    order = ranked_ids()
    stigma = order.index(new["Peer support and self-stigma: a randomised trial"])
    soil = order.index(new["Nitrogen in alpine meadow soils"])
    assert stigma < len(order) // 2 <= soil
