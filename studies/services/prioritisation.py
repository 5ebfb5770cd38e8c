"""Writes of prioritised screening (issue 22): the manager's choice of order, each screener's ranking
(retrained in the background), and the manager's decision to stop under the stopping rule.

The ranking learns only from what the screener may see (``access.ranking_labels_visible``: their own
decisions and settled records), so the order of one screener's queue never reveals the other's
unsettled votes. It is computed by the pure ``studies.prioritisation`` (the same functions the
``screening_simulate`` command runs) and stored per screener, so the next record is an index scan,
never a model run while the screener waits.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import logging
import threading

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from studies import access, selectors
from studies.models import (
    RankedRecord,
    Review,
    Role,
    ScreenerRanking,
    ScreeningDecision,
    ScreeningOrder,
    STOPPING_GUARANTEE_RANGE,
    ScreeningPrioritisation,
    Stage,
    StoppingDecision,
)
from studies.prioritisation.ranking import (
    can_rank,
    fit_relevance,
    record_text,
    text_features,
    top_terms,
)
from studies.prioritisation.stopping import (
    CONFIDENCE,
    RECALL_TARGET,
    StoppingEstimate,
    stopping_estimate,
)

logger = logging.getLogger(__name__)

# A screener's ranking is retrained after this many of their decisions (in the background; the queue
# keeps serving the last ranking meanwhile).
RETRAIN_EVERY = 5
# Top terms are stored for the records a screener will meet soon; lower down they would cost storage
# for nothing (they are recomputed at every retraining).
TERMS_FOR_TOP = 1000


@transaction.atomic
def prioritisation_set(*, review: Review, user: AbstractBaseUser, order: str) -> ScreeningPrioritisation:
    """The manager chooses how the title/abstract queue is ordered: ``ranked`` by predicted relevance,
    or ``in_order`` (the ring order every screener has today). Switching to ranked starts the stopping
    rule's sample and asks for every screener's ranking."""
    access.require_role(user, review, access.MANAGER, action="choose the screening order")
    if order not in ScreeningOrder.values:
        raise ValidationError({"order": f"Unknown order {order!r}: use {' or '.join(ScreeningOrder.values)}."})
    setting, _ = ScreeningPrioritisation.objects.select_for_update().get_or_create(review=review)
    if setting.order == order and setting.pk is not None and setting.changed_by_id is not None:
        return setting
    if order == ScreeningOrder.RANKED and setting.order != ScreeningOrder.RANKED:
        setting.ranked_since = timezone.now()
    setting.order, setting.changed_by = order, user
    setting.save()
    if order == ScreeningOrder.RANKED:
        for screener_id in access.screener_ids(review):
            _retrain_later(review.pk, screener_id)
    return setting


@transaction.atomic
def stopping_rule_set(*, review: Review, user: AbstractBaseUser, recall_target: object,
                      confidence: object) -> ScreeningPrioritisation:
    """The manager chooses the stopping rule's guarantee: the recall it tests for and its confidence
    (each between 0.8 and 0.999; a decision already recorded keeps the ones it was made under)."""
    access.require_role(user, review, access.MANAGER, action="choose the stopping rule's guarantee")
    low, high = STOPPING_GUARANTEE_RANGE
    chosen, errors = {}, {}
    for name, label, value in (("recall_target", "recall target", recall_target),
                               ("confidence", "confidence", confidence)):
        try:
            number = float(str(value).strip())
        except ValueError:
            errors[name] = f"Enter the {label} as a number such as 0.95 (got {value!r})."
            continue
        if not low <= number <= high:
            errors[name] = f"The {label} must be between {low:g} and {high:g} (got {number:g})."
        chosen[name] = number
    if errors:
        raise ValidationError(errors)
    setting, _ = ScreeningPrioritisation.objects.select_for_update().get_or_create(review=review)
    setting.recall_target, setting.confidence = chosen["recall_target"], chosen["confidence"]
    setting.changed_by = user
    setting.save()
    return setting


def _retrain_later(review_id: int, screener_id: int) -> None:
    """Ask for a retraining after the commit; a broker outage loses only freshness (the queue keeps the
    last ranking, or the ring order), never a decision."""
    from studies.tasks import retrain_screener_ranking

    def send() -> None:
        try:
            retrain_screener_ranking.apply_async(args=[review_id, screener_id], retry=True,
                                                 retry_policy={"max_retries": 1, "interval_start": 0})
        except Exception:
            logger.warning("Could not queue a ranking retrain (review %s, screener %s)", review_id, screener_id,
                           exc_info=True)

    transaction.on_commit(send)


def ranking_after_decision(*, review: Review, screener: AbstractBaseUser) -> None:
    """Called by the screening services after a screener's title/abstract decision: ask for a
    retraining when the screener has made ``RETRAIN_EVERY`` decisions since the last one (or has none
    yet), in a ranked review."""
    if not selectors.screening_ranked(review):
        return
    trained = (ScreenerRanking.objects.filter(review=review, screener=screener)
               .values_list("decisions_at_training", flat=True).first())
    decisions = ScreeningDecision.objects.filter(record__review=review, stage=Stage.TITLE_ABSTRACT,
                                                 screener=screener).count()
    if trained is None or decisions - trained >= RETRAIN_EVERY:
        _retrain_later(review.pk, screener.pk)


@dataclass(frozen=True)
class ReviewFeatures:
    """The TF-IDF features of a review's title/abstract records (row i = ``record_ids[i]``, ascending),
    fitted once and reused by every retraining until the records change."""

    key: str
    record_ids: np.ndarray
    features: object  # scipy.sparse CSR matrix
    vocabulary: np.ndarray

    @property
    def row_of(self) -> dict[int, int]:
        return {pk: row for row, pk in enumerate(self.record_ids.tolist())}


# Fitting the TF-IDF vocabulary and matrix is most of a retraining's cost (about 3 s of 4 at 10,000
# records) and depends only on the records, not on the labels: each worker process keeps the features
# of the reviews it ranked last and refits only when the records changed (an import, a living
# search's new records, a record removed, merged as a duplicate or its title or abstract edited: the
# key below covers all of them). A cache, not a ledger: a worker that has none fits again. Its size
# is bounded by memory: real abstracts give about 340 non-zero 1-2-gram weights per record (12 bytes
# each) and a vocabulary of about 300,000 terms per 3,000 records (SYNERGY's four development
# reviews), so a 100,000-record review holds some 0.5 GB; the least recently ranked go first.
FEATURES_CACHED_REVIEWS = 3
FEATURES_CACHED_WEIGHTS = 60_000_000  # non-zero weights kept in all, about 0.7 GB
_features_cache: OrderedDict[int, ReviewFeatures] = OrderedDict()
_features_lock = threading.Lock()


def _records_key(review: Review) -> str:
    """A digest of the review's title/abstract records as the ranking reads them (each record's id and
    a digest of its title and abstract, in id order), computed by PostgreSQL without sending the
    texts: tens of milliseconds at 10,000 records."""
    records = selectors.screening_records(review=review, stage=Stage.TITLE_ABSTRACT).values("id", "title", "abstract")
    sql, params = records.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*)::text || '-' || coalesce(md5(string_agg("
            "r.id::text || ':' || md5(r.title || chr(31) || r.abstract), ',' ORDER BY r.id)), '') "
            f"FROM ({sql}) AS r", params)
        return cursor.fetchone()[0]


def review_features(review: Review) -> ReviewFeatures:
    """The review's TF-IDF features: this process's cached ones while the records are unchanged,
    otherwise fitted now (once) on the records' titles and abstracts."""
    key = _records_key(review)
    with _features_lock:
        known = _features_cache.get(review.pk)
        if known is not None and known.key == key:
            _features_cache.move_to_end(review.pk)
            return known
    records = list(selectors.screening_records(review=review, stage=Stage.TITLE_ABSTRACT)
                   .order_by("pk").values_list("pk", "title", "abstract"))
    features, vocabulary = text_features([record_text(title, abstract) for _, title, abstract in records])
    known = ReviewFeatures(key=key, record_ids=np.array([pk for pk, _, _ in records], dtype=np.int64),
                           features=features, vocabulary=vocabulary)
    with _features_lock:
        _features_cache[review.pk] = known
        _features_cache.move_to_end(review.pk)
        while len(_features_cache) > 1 and (
                len(_features_cache) > FEATURES_CACHED_REVIEWS
                or sum(cached.features.nnz for cached in _features_cache.values()) > FEATURES_CACHED_WEIGHTS):
            _features_cache.popitem(last=False)
    return known


def ranking_after_import(*, review: Review) -> None:
    """Called by the import service when new records arrive (an uploaded file or a living search's
    run, both through ``imports.stream_import``): in a ranked review, every screener's ranking is
    retrained after the commit, so the new records land in the queue at their predicted place rather
    than after every ranked record. The retraining refits the review's features once (their key
    changed with the records)."""
    if not selectors.screening_ranked(review):
        return
    for screener_id in access.screener_ids(review):
        _retrain_later(review.pk, screener_id)


def ranking_retrain(*, review_id: int, screener_id: int) -> ScreenerRanking | None:
    """Retrain one screener's ranking of a review's title/abstract records and store it. Returns the
    ranking, or None (and no ranking stored: the queue falls back to the ring order) when the review
    is not ranked, the person no longer screens in it, or their labels hold no include and no exclude
    yet. Idempotent: running it twice stores the same ranking."""
    review = Review.objects.get(pk=review_id)
    screener = get_user_model().objects.get(pk=screener_id)
    if not selectors.screening_ranked(review) or Role.SCREENER not in access.roles_in(screener, review):
        ScreenerRanking.objects.filter(review=review, screener=screener).delete()
        return None
    decisions = ScreeningDecision.objects.filter(record__review=review, stage=Stage.TITLE_ABSTRACT,
                                                 screener=screener).count()
    labels = access.ranking_labels_visible(screener, review)
    known = review_features(review)
    record_ids, features, vocabulary = known.record_ids, known.features, known.vocabulary
    row_of = known.row_of
    labelled = np.array([row_of[pk] for pk in labels if pk in row_of], dtype=np.int64)
    values = np.array([labels[pk] for pk in labels if pk in row_of], dtype=np.int8)
    if not can_rank(values):
        ScreenerRanking.objects.filter(review=review, screener=screener).delete()
        return None
    model = fit_relevance(features, labelled, values)
    scores = model.scores(features)
    unlabelled = np.ones(len(record_ids), dtype=bool)
    unlabelled[labelled] = False
    candidates = np.flatnonzero(unlabelled)
    ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
    ids = record_ids[ranked].tolist()
    terms = [top_terms(features, model.coefficients, vocabulary, row) for row in ranked[:TERMS_FOR_TOP].tolist()]
    with transaction.atomic():
        ranking, _ = ScreenerRanking.objects.select_for_update().get_or_create(
            review=review, screener=screener,
            defaults={"trained_at": timezone.now(), "labels_used": 0, "relevant_used": 0,
                      "decisions_at_training": 0})
        RankedRecord.objects.filter(ranking=ranking).delete()
        _store_ranked(ranking.pk, ids, terms)
        ranking.trained_at = timezone.now()
        ranking.labels_used, ranking.relevant_used = len(values), int(values.sum())
        ranking.decisions_at_training = decisions
        ranking.save()
    return ranking


def _store_ranked(ranking_id: int, record_ids: list[int], terms: list[list[str]]) -> None:
    """Write a ranking's rows (``record_ids`` in ranked order; ``terms`` of the first few) with COPY:
    at 100,000 records, bulk_create's INSERTs take seconds of a worker's time (and hold the ranking's
    row lock meanwhile); COPY a fraction of it. The rows without terms (most of them: plain integers)
    go as one block of COPY text rather than one ``write_row`` each, a third of a retraining's time
    at 10,000 records otherwise."""
    table = RankedRecord._meta.db_table
    with connection.cursor() as cursor, cursor.connection.cursor().copy(
            f'COPY "{table}" (ranking_id, record_id, position, top_terms) FROM STDIN') as copy:
        for position, (record_id, record_terms) in enumerate(zip(record_ids, terms, strict=False), start=1):
            copy.write_row((ranking_id, record_id, position, record_terms))
        start = len(terms)
        copy.write("".join(f"{ranking_id}\t{record_id}\t{position}\t{{}}\n"
                           for position, record_id in enumerate(record_ids[start:], start=start + 1)))


def stopping_now(*, review: Review, with_missed_bound: bool = False) -> StoppingEstimate:
    """The stopping rule (Callaghan & Müller-Hansen 2020) on the review's settled title/abstract
    records, those settled since ranking began being its sample."""
    evidence = selectors.stopping_evidence(review=review)
    recall_target, confidence = (ScreeningPrioritisation.objects.filter(review=review)
                                 .values_list("recall_target", "confidence").first() or (RECALL_TARGET, CONFIDENCE))
    return stopping_estimate(
        evidence.ranked_labels, evidence.records_total, relevant_before=evidence.relevant_before,
        known_before=evidence.known_before, recall_target=recall_target, confidence=confidence,
        with_missed_bound=with_missed_bound)


@transaction.atomic
def stopping_decision_record(*, review: Review, user: AbstractBaseUser, note: str = "") -> StoppingDecision:
    """The manager records the team's decision to stop title/abstract screening, with the stopping
    rule's evidence at this moment. The people decide: a stop the rule does not (yet) support needs a
    note saying why."""
    access.require_role(user, review, access.MANAGER, action="record the decision to stop screening")
    Review.objects.select_for_update().filter(pk=review.pk).first()  # one decision at a time per review
    if StoppingDecision.objects.filter(review=review, withdrawn_at__isnull=True).exists():
        raise ValidationError("This review has already decided to stop screening; withdraw that decision first.")
    estimate = stopping_now(review=review)
    note = note.strip()
    if not estimate.can_stop and not note:
        raise ValidationError({"note": "The stopping rule does not support stopping yet "
                                       f"(p = {estimate.p_value:.3f}); say why the team stops."})
    return StoppingDecision.objects.create(
        review=review, decided_by=user, recall_target=estimate.recall_target, confidence=estimate.confidence,
        p_value=estimate.p_value, records_total=estimate.records_total,
        records_screened=estimate.records_screened, relevant_found=estimate.relevant_found, note=note)


@transaction.atomic
def stopping_decision_withdraw(*, decision: StoppingDecision, user: AbstractBaseUser) -> StoppingDecision:
    """Withdraw a decision to stop (screening resumes); the decision stays in the audit trail."""
    access.require_role(user, decision.review, access.MANAGER, action="withdraw the decision to stop screening")
    decision = StoppingDecision.objects.select_for_update().get(pk=decision.pk)
    if decision.withdrawn_at is None:
        decision.withdrawn_at = timezone.now()
        decision.save(update_fields=["withdrawn_at"])
    return decision
