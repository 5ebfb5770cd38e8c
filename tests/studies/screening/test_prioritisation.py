"""Prioritised title/abstract screening in the product (issue 22): the manager's choice, each
screener's ranking (blind to the other's unsettled votes), the queue in ranked order with its top
terms, the stopping rule's evidence and the recorded decision to stop."""
import pytest

from analysis.figures.prisma import prisma_layout
from django.core.exceptions import PermissionDenied, ValidationError

from studies import access, selectors
from studies.models import Decision, Record, ScreeningOrder, Stage, StoppingDecision
from studies.prioritisation.ranking import record_text, text_features
from studies.services import entity_save
from studies.services import prioritisation as ranking_services
from studies.services import screening as services
from tests.studies.screening.conftest import build_screening_review

TA = Stage.TITLE_ABSTRACT
TOPICS = [
    ("Peer support to reduce self-stigma: a randomised trial", "Peer-led groups reduced stigma in adults."),
    ("Soil nitrogen in alpine meadows", "We measured nitrogen in meadow soils over two summers."),
    ("A randomised trial of peer-led stigma reduction", "Peer-led sessions; self-stigma fell at follow-up."),
    ("Nitrogen cycling in grassland soils", "Soil samples from grasslands were incubated."),
    ("Stigma and peer support in psychosis", "Peer support lowered internalised stigma."),
    ("Alpine soil microbes and nitrogen", "Microbial nitrogen in alpine soils."),
    ("Mental health stigma among students", "A survey of stigma towards depression."),
    ("Grassland nitrogen deposition", "Deposition of nitrogen changed plant cover."),
    ("Self-stigma and help-seeking", "Lower self-stigma predicted help-seeking."),
    ("Meadow plant diversity and soil", "Plant diversity rose with soil carbon."),
    ("Peer mentors in recovery colleges", "Peer mentors supported recovery and reduced stigma."),
    ("Soil carbon under grazing", "Grazing lowered soil carbon in meadows."),
]


@pytest.fixture
def ranked(db):
    setup = build_screening_review(slug="ranked-review", n_records=1)
    setup.duplicate.delete()
    setup.records[0].delete()
    setup.records = [entity_save(instance=Record(review=setup.review, title=title, abstract=abstract, year=2021))
                     for title, abstract in TOPICS]
    ranking_services.prioritisation_set(review=setup.review, user=setup.manager, order=ScreeningOrder.RANKED)
    return setup


def decide(setup, screener, index, decision):
    services.decision_record(record=setup.records[index], stage=TA, screener=screener, decision=decision)


def settle(setup, index, decision):
    decide(setup, setup.s1, index, decision)
    decide(setup, setup.s2, index, decision)


def order_of(setup, screener) -> list[int]:
    ranking = ranking_services.ranking_retrain(review_id=setup.review.pk, screener_id=screener.pk)
    assert ranking is not None
    return list(ranking.records.order_by("position").values_list("record_id", flat=True))


def test_only_a_manager_chooses_the_order(ranked):
    with pytest.raises(PermissionDenied):
        ranking_services.prioritisation_set(review=ranked.review, user=ranked.s1, order=ScreeningOrder.IN_ORDER)
    with pytest.raises(ValidationError, match="Unknown order"):
        ranking_services.prioritisation_set(review=ranked.review, user=ranked.manager, order="alphabetical")
    assert selectors.screening_ranked(ranked.review)


def test_before_an_include_and_an_exclude_the_queue_keeps_todays_order(ranked):
    ring_order = selectors.screening_queue_next(review=ranked.review, stage=TA, screener=ranked.s1)
    decide(ranked, ranked.s1, 0, Decision.INCLUDE)
    assert ranking_services.ranking_retrain(review_id=ranked.review.pk, screener_id=ranked.s1.pk) is None
    assert selectors.ranked_queue_next(review=ranked.review, screener=ranked.s1) is None
    assert ring_order is not None


def test_the_queue_follows_the_screeners_ranking_and_says_why(ranked):
    decide(ranked, ranked.s1, 0, Decision.INCLUDE)   # peer / stigma
    decide(ranked, ranked.s1, 1, Decision.EXCLUDE)   # soil / nitrogen
    order = order_of(ranked, ranked.s1)
    stigma = {ranked.records[i].pk for i in (2, 4, 6, 8, 10)}
    assert set(order[:3]) <= stigma
    first = selectors.screening_queue_next(review=ranked.review, stage=TA, screener=ranked.s1)
    assert first.pk == order[0]
    terms = selectors.ranked_record_terms(review=ranked.review, screener=ranked.s1, record=first)
    assert any("peer" in t or "stigma" in t for t in terms)
    # The "next" key skips to the second of the ranking; deciding on the first moves on too.
    assert selectors.screening_queue_next(review=ranked.review, stage=TA, screener=ranked.s1,
                                          after=first.pk).pk == order[1]
    services.decision_record(record=first, stage=TA, screener=ranked.s1, decision=Decision.INCLUDE)
    assert selectors.screening_queue_next(review=ranked.review, stage=TA, screener=ranked.s1).pk == order[1]
    # In order again: the ring order, whatever the stored ranking.
    ranking_services.prioritisation_set(review=ranked.review, user=ranked.manager, order=ScreeningOrder.IN_ORDER)
    assert selectors.ranked_queue_next(review=ranked.review, screener=ranked.s1) is None


def test_a_ranking_never_learns_the_other_screeners_unsettled_votes(ranked):
    """Two screeners with opposite votes on unsettled records: each one's order does not depend on
    the other's votes, and does depend on their own (so the test can fail)."""
    settle(ranked, 0, Decision.INCLUDE)
    settle(ranked, 1, Decision.EXCLUDE)
    decide(ranked, ranked.s1, 2, Decision.INCLUDE)
    decide(ranked, ranked.s1, 3, Decision.EXCLUDE)
    # s2 votes, unsettled, the opposite way of what the topics suggest ...
    decide(ranked, ranked.s2, 4, Decision.EXCLUDE)
    decide(ranked, ranked.s2, 5, Decision.INCLUDE)
    s1_first, s2_first = order_of(ranked, ranked.s1), order_of(ranked, ranked.s2)
    # ... then changes both (allowed while the other has not voted).
    decide(ranked, ranked.s2, 4, Decision.INCLUDE)
    decide(ranked, ranked.s2, 5, Decision.EXCLUDE)
    s1_second, s2_second = order_of(ranked, ranked.s1), order_of(ranked, ranked.s2)
    assert s1_second == s1_first
    assert s2_second != s2_first
    # And the other way round: s2's order ignores s1's unsettled votes.
    decide(ranked, ranked.s1, 2, Decision.EXCLUDE)
    decide(ranked, ranked.s1, 3, Decision.INCLUDE)
    assert order_of(ranked, ranked.s2) == s2_second
    assert order_of(ranked, ranked.s1) != s1_second
    # A settled record is what both may learn from: once s1 agrees with s2 on record 4, both see it.
    assert ranked.records[4].pk in s1_second


def test_the_features_are_fitted_once_and_refitted_only_when_the_records_change(ranked):
    first = ranking_services.review_features(ranked.review)
    assert len(first.record_ids) == len(TOPICS)
    decide(ranked, ranked.s1, 0, Decision.INCLUDE)
    decide(ranked, ranked.s1, 1, Decision.EXCLUDE)
    order_of(ranked, ranked.s1)
    # Decisions change the labels, not the records: the same fitted features serve every retraining.
    assert ranking_services.review_features(ranked.review) is first
    added = entity_save(instance=Record(review=ranked.review, title="Peer support online", abstract="Stigma fell."))
    second = ranking_services.review_features(ranked.review)
    assert second is not first and added.pk in second.record_ids.tolist()
    assert added.pk in order_of(ranked, ranked.s1)
    added.abstract = "Volcanic basalt weathered."
    entity_save(instance=added)
    third = ranking_services.review_features(ranked.review)
    assert third is not second and "volcanic basalt" not in set(second.vocabulary)
    assert "volcanic basalt" in set(third.vocabulary)
    # What is cached is exactly a fresh fit of the records as they are now.
    texts = [record_text(title, abstract) for title, abstract in
             Record.objects.filter(pk__in=third.record_ids.tolist()).order_by("pk").values_list("title", "abstract")]
    fresh, vocabulary = text_features(texts)
    assert list(vocabulary) == list(third.vocabulary) and (fresh != third.features).nnz == 0


def test_the_features_cache_keeps_the_reviews_ranked_last_within_its_memory_bound(ranked, monkeypatch):
    other = build_screening_review(slug="other-ranked-review", n_records=3).review
    mine = ranking_services.review_features(ranked.review)
    ranking_services.review_features(other)
    assert ranking_services.review_features(ranked.review) is mine
    # Past the bound, the review ranked least recently is dropped (and fitted again when next needed).
    monkeypatch.setattr(ranking_services, "FEATURES_CACHED_WEIGHTS", mine.features.nnz)
    entity_save(instance=Record(review=other, title="Grazing and soil carbon", abstract="Meadows."))
    ranking_services.review_features(other)
    assert ranking_services.review_features(ranked.review) is not mine


def test_imported_records_ask_every_screeners_ranking_after_the_commit(ranked, django_capture_on_commit_callbacks,
                                                                        monkeypatch):
    from datetime import date

    from studies.services.imports import import_file
    from studies.tasks import retrain_screener_ranking

    asked = []
    # The broker is the doorbell, not the component under test (the worker test rings it for real).
    monkeypatch.setattr(retrain_screener_ranking, "apply_async", lambda args, **_: asked.append(tuple(args)))
    content = ("TY  - JOUR\nTI  - Peer support and stigma in schizophrenia\nAB  - Peer-led groups.\nPY  - 2024\n"
               "ER  - \n").encode()
    with django_capture_on_commit_callbacks(execute=True):
        import_file(review=ranked.review, database="Embase", date_searched=date(2024, 1, 2), query="stigma",
                    file_name="update.ris", content=content, imported_by=ranked.manager)
    assert sorted(asked) == sorted((ranked.review.pk, s) for s in access.screener_ids(ranked.review))
    assert {ranked.s1.pk, ranked.s2.pk} <= {s for _, s in asked}
    # The same file again imports nothing, and asks for nothing.
    asked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        import_file(review=ranked.review, database="Embase", date_searched=date(2024, 1, 2), query="stigma",
                    file_name="update.ris", content=content, imported_by=ranked.manager)
    assert asked == []
    # In order, an import asks for no ranking.
    ranking_services.prioritisation_set(review=ranked.review, user=ranked.manager, order=ScreeningOrder.IN_ORDER)
    with django_capture_on_commit_callbacks(execute=True):
        import_file(review=ranked.review, database="Embase", date_searched=date(2024, 2, 2), query="stigma",
                    file_name="later.ris", content=content.replace(b"schizophrenia", b"bipolar disorder"),
                    imported_by=ranked.manager)
    assert asked == []


def test_the_stopping_decision_is_the_managers_with_its_evidence(ranked):
    settle(ranked, 0, Decision.INCLUDE)
    settle(ranked, 1, Decision.EXCLUDE)
    estimate = ranking_services.stopping_now(review=ranked.review)
    assert estimate.records_screened == 2 and estimate.relevant_found == 1 and estimate.records_total == 12
    assert not estimate.can_stop
    with pytest.raises(PermissionDenied):
        ranking_services.stopping_decision_record(review=ranked.review, user=ranked.s1, note="enough")
    with pytest.raises(ValidationError, match="does not support stopping"):
        ranking_services.stopping_decision_record(review=ranked.review, user=ranked.manager)
    assert selectors.records_not_screened_after_stopping_rule(ranked.review) == 0
    decision = ranking_services.stopping_decision_record(review=ranked.review, user=ranked.manager,
                                                         note="Funding ends; the rest is soil science.")
    assert (decision.records_screened, decision.relevant_found, decision.records_total) == (2, 1, 12)
    assert decision.p_value == pytest.approx(estimate.p_value)
    assert decision.audit_events.count() == 1
    assert selectors.records_not_screened_after_stopping_rule(ranked.review) == 10
    # PRISMA reports them inside "records awaiting screening", in the counts and on the diagram.
    counts = selectors.prisma_counts(ranked.review)
    assert counts.not_screened_after_stopping_rule == 10 <= counts.awaiting_screening
    assert counts.as_json()["not_screened_after_stopping_rule"] == 10
    box = next(b for b in prisma_layout(counts.as_json()).boxes if b.key == "awaiting_screening")
    assert "of which not screened after the stopping rule (n = 10)" in " ".join(line.strip() for line in box.lines)
    with pytest.raises(ValidationError, match="already decided to stop"):
        ranking_services.stopping_decision_record(review=ranked.review, user=ranked.manager, note="again")
    ranking_services.stopping_decision_withdraw(decision=decision, user=ranked.manager)
    assert selectors.records_not_screened_after_stopping_rule(ranked.review) == 0
    assert StoppingDecision.objects.get(pk=decision.pk).audit_events.count() == 2


def test_the_manager_chooses_the_rules_guarantee_and_a_recorded_stop_keeps_its_own(ranked):
    from studies.models import ScreeningPrioritisation

    for index in range(8):
        settle(ranked, index, Decision.INCLUDE if index == 0 else Decision.EXCLUDE)
    usual = ranking_services.stopping_now(review=ranked.review)
    assert (usual.recall_target, usual.confidence) == (0.95, 0.95)
    with pytest.raises(PermissionDenied):
        ranking_services.stopping_rule_set(review=ranked.review, user=ranked.s1, recall_target="0.9", confidence="0.9")
    with pytest.raises(ValidationError) as refused:
        ranking_services.stopping_rule_set(review=ranked.review, user=ranked.manager, recall_target="ninety",
                                           confidence="1.5")
    assert refused.value.message_dict == {
        "recall_target": ["Enter the recall target as a number such as 0.95 (got 'ninety')."],
        "confidence": ["The confidence must be between 0.8 and 0.999 (got 1.5)."]}
    assert ScreeningPrioritisation.objects.get(review=ranked.review).confidence == 0.95  # nothing half-saved
    ranking_services.stopping_rule_set(review=ranked.review, user=ranked.manager, recall_target="0.9",
                                       confidence="0.8")
    loose = ranking_services.stopping_now(review=ranked.review)
    # The same sample tested for a lower recall: the p-value can only fall (fewer relevant records
    # would have to be missed for recall to drop below 0.9).
    assert (loose.recall_target, loose.confidence) == (0.9, 0.8) and loose.p_value <= usual.p_value
    decision = ranking_services.stopping_decision_record(review=ranked.review, user=ranked.manager,
                                                         note="Checking the guarantee is recorded.")
    ranking_services.stopping_rule_set(review=ranked.review, user=ranked.manager, recall_target="0.99",
                                       confidence="0.99")
    decision.refresh_from_db()
    assert (decision.recall_target, decision.confidence) == (0.9, 0.8)
    strict = ranking_services.stopping_now(review=ranked.review)
    assert strict.p_value >= usual.p_value and not strict.can_stop


def test_the_rule_counts_only_settled_records(ranked):
    settle(ranked, 0, Decision.INCLUDE)
    decide(ranked, ranked.s1, 1, Decision.INCLUDE)  # unsettled: blind, not part of the evidence
    evidence = selectors.stopping_evidence(review=ranked.review)
    assert evidence.ranked_labels == [1]
    assert evidence.records_total == 12


def test_records_settled_after_the_queue_went_back_in_order_are_outside_the_rules_sample(ranked):
    settle(ranked, 0, Decision.INCLUDE)
    settle(ranked, 1, Decision.EXCLUDE)
    ranking_services.prioritisation_set(review=ranked.review, user=ranked.manager, order=ScreeningOrder.IN_ORDER)
    settle(ranked, 2, Decision.EXCLUDE)
    settle(ranked, 3, Decision.INCLUDE)
    evidence = selectors.stopping_evidence(review=ranked.review)
    # The two settled while ranked are the sample; the two after count as found, outside it.
    assert evidence.ranked_labels == [1, 0]
    assert (evidence.known_before, evidence.relevant_before) == (2, 1)
    # Ranked again: a new sample starts, and everything settled before it is outside.
    ranking_services.prioritisation_set(review=ranked.review, user=ranked.manager, order=ScreeningOrder.RANKED)
    settle(ranked, 4, Decision.EXCLUDE)
    evidence = selectors.stopping_evidence(review=ranked.review)
    assert evidence.ranked_labels == [0]
    assert (evidence.known_before, evidence.relevant_before) == (4, 2)


def client_for(user):
    from django.test import Client
    client = Client()
    client.force_login(user)
    return client


def test_the_managers_page_sets_the_order_shows_the_rule_and_records_the_stop(ranked):
    from django.urls import reverse
    url = reverse("studies:prioritisation", args=[ranked.review.slug])
    assert client_for(ranked.s1).get(url).status_code == 403
    assert client_for(ranked.outsider).get(url).status_code == 404
    manager = client_for(ranked.manager)
    settle(ranked, 0, Decision.INCLUDE)
    settle(ranked, 1, Decision.EXCLUDE)
    page = manager.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "Callaghan &amp; Müller-Hansen (2020)" in body and "<svg" in body
    assert "2 of 12" in body and "does not support stopping yet" in body
    refused = manager.post(url, {"action": "stop", "note": ""})
    assert refused.status_code == 200 and "say why the team stops" in refused.content.decode()
    assert manager.post(url, {"action": "stop", "note": "Out of time."}).status_code == 302
    body = manager.get(url).content.decode()
    assert "Records not screened after the stopping rule (PRISMA 2020): <strong>10</strong>" in body
    assert manager.post(url, {"action": "order", "order": ScreeningOrder.IN_ORDER}).status_code == 302
    assert not selectors.screening_ranked(ranked.review)
    # The rule's guarantee: shown in the form, changed by the manager, refused with the field named.
    assert 'name="confidence" type="number" step="0.001" min="0.8" max="0.999" value="0.95"' in body
    assert manager.post(url, {"action": "rule", "recall_target": "0.9", "confidence": "0.99"}).status_code == 302
    body = manager.get(url).content.decode()
    assert 'name="recall_target" type="number" step="0.001" min="0.8" max="0.999" value="0.9"' in body
    assert "p (recall below 0.90)" in body
    refused = manager.post(url, {"action": "rule", "recall_target": "0.5", "confidence": "0.95"})
    assert refused.status_code == 200 and "The recall target must be between 0.8 and 0.999 (got 0.5)." in (
        refused.content.decode())


def test_the_screening_page_says_why_a_record_is_high(ranked):
    from django.urls import reverse
    decide(ranked, ranked.s1, 0, Decision.INCLUDE)
    decide(ranked, ranked.s1, 1, Decision.EXCLUDE)
    order_of(ranked, ranked.s1)
    body = client_for(ranked.s1).get(reverse("studies:screen", args=[ranked.review.slug, TA])).content.decode()
    assert "High in your ranking for:" in body
    # The other screener has no ranking yet (no include and exclude of their own): no terms shown.
    body = client_for(ranked.s2).get(reverse("studies:screen", args=[ranked.review.slug, TA])).content.decode()
    assert "High in your ranking for:" not in body


def test_after_the_decision_to_stop_the_records_it_left_are_not_offered_until_it_is_withdrawn(ranked):
    from django.test import Client

    settle(ranked, 0, Decision.INCLUDE)
    settle(ranked, 1, Decision.EXCLUDE)
    decide(ranked, ranked.s1, 2, Decision.EXCLUDE)  # one decision before the stop: the second is still asked
    decision = ranking_services.stopping_decision_record(review=ranked.review, user=ranked.manager,
                                                         note="Funding ends.")
    later = entity_save(instance=Record(review=ranked.review, title="A new search result", year=2024))
    queue = set(selectors.screening_queue(review=ranked.review, stage=TA, screener=ranked.s2).values_list("pk", flat=True))
    assert queue == {ranked.records[2].pk, later.pk}
    with pytest.raises(ValidationError, match="screening stopped on .* this record was left unscreened"):
        decide(ranked, ranked.s2, 5, Decision.INCLUDE)
    # The only decision on a record cannot be withdrawn now (it would leave the record unscreened);
    # changing it is fine.
    with pytest.raises(ValidationError, match="Change your decision instead"):
        services.decision_undo_last(review=ranked.review, stage=TA, screener=ranked.s1)
    decide(ranked, ranked.s1, 2, Decision.INCLUDE)
    decide(ranked, ranked.s2, 2, Decision.EXCLUDE)
    services.decision_record(record=later, stage=TA, screener=ranked.s2, decision=Decision.EXCLUDE)
    assert selectors.records_not_screened_after_stopping_rule(ranked.review) == 9  # 12 minus the 3 decided before
    assert list(selectors.screening_queue(review=ranked.review, stage=TA, screener=ranked.s1)) == [later]
    client = Client()
    client.force_login(ranked.s2)
    page = client.get(f"/reviews/{ranked.review.slug}/screening/title_abstract/").content.decode()
    assert "Nothing left in your queue" in page and "The team stopped title/abstract screening on" in page
    ranking_services.stopping_decision_withdraw(decision=decision, user=ranked.manager)
    assert selectors.screening_queue(review=ranked.review, stage=TA, screener=ranked.s2).count() == 9
    decide(ranked, ranked.s2, 5, Decision.INCLUDE)
