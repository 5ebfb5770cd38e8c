"""The duplicate queue a manager works through: the pairs side by side, keep either record or neither,
undo a merge (and its refusal once screening relied on it), several pairs at once after a
confirmation; PRISMA's "duplicates removed" follows every decision."""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
import pytest

from studies.models import CandidateStatus, DuplicateCandidate, ImportBatch, Record, Role, SearchSource, Stage
from studies.selectors import prisma_counts
from studies.services.imports import DuplicateUndoRefused, duplicate_decide, duplicate_undo
from studies.services.reviews import membership_add
from studies.services.screening import decision_record


@pytest.fixture
def queue(small):
    """Three pending pairs in the small review, each a record imported first (left) and a later one."""
    source = SearchSource.objects.create(review=small.review, database="Embase", date_searched="2024-01-02")
    batch = ImportBatch.objects.create(review=small.review, source=source, file_name="e.ris", file_format="ris",
                                       sha256="a" * 64)
    pairs = []
    for n in range(3):
        left = Record.objects.create(review=small.review, import_batch=batch, year=2020, journal="Psychiatr Serv",
                                     title=f"Peer support for stigma: a randomised trial {n}", authors=["Kim, J."])
        right = Record.objects.create(review=small.review, import_batch=batch, year=2021, journal="Psychiatr Serv",
                                      title=f"Peer support for stigma: a randomized trial {n}", authors=["Kim, J."],
                                      abstract="An abstract.")
        pairs.append(DuplicateCandidate.objects.create(review=small.review, import_batch=batch, duplicate=right,
                                                       primary=left, method="fuzzy", score=93.0,
                                                       reason="titles 93% alike"))
    small.pairs = pairs
    small.screener = get_user_model().objects.create_user("queue-screener")
    membership_add(review=small.review, user=small.screener, role=Role.SCREENER)
    return small


def url(small, suffix: str = "") -> str:
    return f"/reviews/{small.review.slug}/duplicates/{suffix}"


def removed(small) -> int:
    return prisma_counts(small.review).duplicates_removed


def test_queue_counts_the_waiting_pairs_and_shows_where_they_differ(client, queue):
    client.force_login(queue.manager)
    page = client.get(url(queue)).content.decode()
    assert "3 pairs wait for a decision" in page
    assert page.count('<section class="pair"') == 3
    assert "<mark>randomised</mark>" in page and "<mark>randomized</mark>" in page
    assert '<tr class="differs"><th scope="row">year' in page  # 2020 against 2021
    assert '<tr><th scope="row">journal</th>' in page  # the same journal is not flagged
    assert page.index(f"Record {queue.pairs[0].primary_id}</th>") < page.index(
        f"Record {queue.pairs[0].duplicate_id}</th>")  # left: the record imported first


def test_keep_left(client, queue):
    client.force_login(queue.manager)
    pair = queue.pairs[0]
    response = client.post(url(queue, f"{pair.pk}/"), {"keep": pair.primary_id})
    assert response.status_code == 302
    pair.refresh_from_db()
    assert (pair.status, pair.primary_id, pair.decided_by) == (CandidateStatus.MERGED, pair.primary_id, queue.manager)
    assert Record.objects.get(pk=pair.duplicate_id).duplicate_of_id == pair.primary_id
    assert removed(queue) == 1
    assert "2 pairs wait" in client.get(url(queue)).content.decode()


def test_keep_right_even_when_the_left_is_poorer(client, queue):
    client.force_login(queue.manager)
    pair = queue.pairs[0]
    left, right = pair.primary_id, pair.duplicate_id
    client.post(url(queue, f"{pair.pk}/"), {"keep": left})  # the poorer record kept when asked ...
    client.post(url(queue, f"{queue.pairs[1].pk}/"), {"keep": queue.pairs[1].duplicate_id})  # ... and the richer
    pair.refresh_from_db()
    assert Record.objects.get(pk=right).duplicate_of_id == left
    other = DuplicateCandidate.objects.get(pk=queue.pairs[1].pk)
    # The row names the pair as it stands: its duplicate is the record that was not kept.
    assert (other.primary_id, other.duplicate_id) == (queue.pairs[1].duplicate_id, queue.pairs[1].primary_id)
    assert Record.objects.get(pk=queue.pairs[1].primary_id).duplicate_of_id == queue.pairs[1].duplicate_id
    assert removed(queue) == 2


def test_not_duplicates(client, queue):
    client.force_login(queue.manager)
    pair = queue.pairs[2]
    client.post(url(queue, f"{pair.pk}/"), {"decision": "keep_both"})
    pair.refresh_from_db()
    assert pair.status == CandidateStatus.KEPT_BOTH and removed(queue) == 0
    assert not Record.objects.filter(review=queue.review, duplicate_of__isnull=False).exists()


def test_a_record_outside_the_pair_or_one_screening_used_is_not_removed(client, queue):
    client.force_login(queue.manager)
    pair = queue.pairs[0]
    response = client.post(url(queue, f"{pair.pk}/"), {"keep": queue.pairs[1].primary_id})
    assert response.status_code == 400 and "is not one of this pair" in response.content.decode()
    decision_record(record=pair.duplicate, stage=Stage.TITLE_ABSTRACT, screener=queue.screener, decision="include")
    response = client.post(url(queue, f"{pair.pk}/"), {"keep": pair.primary_id})
    assert response.status_code == 400
    assert f"Record {pair.duplicate_id} has 1 screening decision(s)" in response.content.decode()
    pair.refresh_from_db()
    assert pair.status == CandidateStatus.PENDING and removed(queue) == 0


def test_undo_a_merge_restores_the_record_and_requeues_the_pair(client, queue):
    client.force_login(queue.manager)
    pair = queue.pairs[0]
    # Screening before the merge does not block its undo: it was not done on the merged record.
    decision_record(record=pair.primary, stage=Stage.TITLE_ABSTRACT, screener=queue.screener, decision="include")
    client.post(url(queue, f"{pair.pk}/"), {"keep": pair.primary_id})
    assert removed(queue) == 1
    page = client.get(url(queue)).content.decode()
    assert f'action="/reviews/{queue.review.slug}/duplicates/{pair.pk}/undo/"' in page
    response = client.post(url(queue, f"{pair.pk}/undo/"), follow=True)
    assert f"Merge undone: pair {pair.pk} is back in the queue." in response.content.decode()
    pair.refresh_from_db()
    assert (pair.status, pair.decided_at, pair.automatic) == (CandidateStatus.PENDING, None, False)
    assert Record.objects.get(pk=pair.duplicate_id).duplicate_of_id is None and removed(queue) == 0
    assert "3 pairs wait" in response.content.decode()
    # Only a merged pair can be undone.
    assert client.post(url(queue, f"{pair.pk}/undo/")).status_code == 400


def test_undo_is_refused_once_the_kept_record_was_screened_after_the_merge(client, queue):
    client.force_login(queue.manager)
    pair = queue.pairs[0]
    client.post(url(queue, f"{pair.pk}/"), {"keep": pair.primary_id})
    decision_record(record=pair.primary, stage=Stage.TITLE_ABSTRACT, screener=queue.screener, decision="exclude")
    response = client.post(url(queue, f"{pair.pk}/undo/"))
    assert response.status_code == 409
    text = response.content.decode()
    assert f"record {pair.primary_id} (the record kept) received 1 screening decision(s)" in text
    assert "Withdraw that screening work first" in text
    pair.refresh_from_db()
    assert pair.status == CandidateStatus.MERGED and removed(queue) == 1
    assert "Cannot be undone: Since this merge" in client.get(url(queue)).content.decode()
    with pytest.raises(DuplicateUndoRefused):
        duplicate_undo(review=queue.review, candidate_id=pair.pk, user=queue.manager)


def test_bulk_keep_first_lists_what_will_happen_then_decides_on_confirm(client, queue):
    client.force_login(queue.manager)
    chosen = queue.pairs[:2]
    response = client.post(url(queue, "bulk/"), {"candidate": [p.pk for p in chosen], "decision": "keep_first"})
    assert response.status_code == 200
    text = response.content.decode()
    for pair in chosen:
        assert f"Pair {pair.pk}:\n    keep record {pair.primary_id}" in text
        assert f"record {pair.duplicate_id} “" in text
    assert "Confirm 2 decisions" in text and removed(queue) == 0  # nothing decided yet
    response = client.post(url(queue, "bulk/"), {"candidate": [p.pk for p in chosen], "decision": "keep_first",
                                                 "confirmed": "yes"}, follow=True)
    assert "2 pair(s) decided." in response.content.decode()
    for pair in chosen:
        assert Record.objects.get(pk=pair.duplicate_id).duplicate_of_id == pair.primary_id
    assert removed(queue) == 2
    assert DuplicateCandidate.objects.get(pk=queue.pairs[2].pk).status == CandidateStatus.PENDING


def test_bulk_not_duplicates(client, queue):
    client.force_login(queue.manager)
    ids = [p.pk for p in queue.pairs]
    assert "Confirm 3 decisions" in client.post(url(queue, "bulk/"), {"candidate": ids,
                                                                      "decision": "keep_both"}).content.decode()
    client.post(url(queue, "bulk/"), {"candidate": ids, "decision": "keep_both", "confirmed": "yes"})
    assert set(DuplicateCandidate.objects.filter(review=queue.review).values_list("status", flat=True)) == {CandidateStatus.KEPT_BOTH}
    assert removed(queue) == 0


def test_bulk_with_a_pair_it_cannot_decide_decides_none(client, queue):
    client.force_login(queue.manager)
    ids = [p.pk for p in queue.pairs]
    # The later record of the last pair was screened: keeping the first would hide that work.
    decision_record(record=queue.pairs[2].duplicate, stage=Stage.TITLE_ABSTRACT, screener=queue.screener,
                    decision="include")
    text = client.post(url(queue, "bulk/"), {"candidate": ids, "decision": "keep_first"}).content.decode()
    assert "Refused: Record" in text and "Confirm 3" not in text
    response = client.post(url(queue, "bulk/"), {"candidate": ids, "decision": "keep_first", "confirmed": "yes"})
    assert response.status_code == 400 and f"pair {queue.pairs[2].pk}" in response.content.decode()
    assert removed(queue) == 0
    assert set(DuplicateCandidate.objects.filter(review=queue.review).values_list("status", flat=True)) == {CandidateStatus.PENDING}
    assert client.post(url(queue, "bulk/"), {"decision": "keep_first"}).status_code == 400  # nothing selected
    assert client.post(url(queue, "bulk/"), {"candidate": ids, "decision": "merge_all"}).status_code == 400


def test_only_managers_decide(client, queue):
    outsider = get_user_model().objects.create_user("queue-outsider")
    pair = queue.pairs[0]
    for who, code in ((queue.screener, 403), (outsider, 404)):
        client.force_login(who)
        assert client.get(url(queue)).status_code == code
        assert client.post(url(queue, f"{pair.pk}/"), {"keep": pair.primary_id}).status_code == code
        assert client.post(url(queue, f"{pair.pk}/undo/")).status_code == code
        assert client.post(url(queue, "bulk/"), {"candidate": [pair.pk], "decision": "keep_both",
                                                 "confirmed": "yes"}).status_code == code
    with pytest.raises(PermissionDenied):
        duplicate_decide(review=queue.review, candidate_id=pair.pk, decision="keep_both", user=queue.screener)
    with pytest.raises(PermissionDenied):
        duplicate_undo(review=queue.review, candidate_id=pair.pk, user=queue.screener)
    assert set(DuplicateCandidate.objects.filter(review=queue.review).values_list("status", flat=True)) == {CandidateStatus.PENDING}
