"""One active-learning screening run over a fixed set of records: what ``screening_simulate`` drives,
and the same loop the product runs per screener (studies.services.prioritisation), one decision at a
time.

The model is retrained after each decision while there are few labels and then after every few
decisions (``retrain_interval``); between retrainings the next record is the next one of the last
ranking.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from studies.prioritisation.ranking import (
    DEFAULT_SETTINGS,
    RankingSettings,
    can_rank,
    relevance_scores,
    text_features,
)
from studies.prioritisation.stopping import CONFIDENCE, StoppingEstimate, stopping_estimate, stopping_indicated


def retrain_interval(records_labelled: int) -> int:
    """Decisions between two retrainings: every decision for the first 200 labels (each early label
    moves the ranking most, and training on few labels takes milliseconds), then one retraining per
    1% more labels, so that training time per decision stays flat as the training set grows."""
    return max(1, records_labelled // 100) if records_labelled > 200 else 1


class PrioritisedScreening:
    """Ranked screening of ``texts``, starting from records already labelled (the priors)."""

    def __init__(self, texts: Sequence[str], known: dict[int, int], *,
                 settings: RankingSettings = DEFAULT_SETTINGS, retrain_every: int | None = None,
                 confidence: float = CONFIDENCE):
        self.settings = settings
        self.confidence = confidence  # the stopping rule's (its recall target is the protocol's 95%)
        self.features, self.vocabulary = text_features(texts, settings)
        self.records_total = len(texts)
        self.known_before = dict(known)
        self.labels: dict[int, int] = dict(known)
        # Labels of the records screened since ranking began, in order (the stopping rule's sample).
        self.ranked_labels: list[int] = []
        self.unscreened = np.ones(self.records_total, dtype=bool)
        self.unscreened[list(known)] = False
        self.retrain_every = retrain_every
        self._order: list[int] = []
        self._since_training = 0
        self._stop_estimate: StoppingEstimate | None = None

    def _retrain(self) -> None:
        labelled = np.fromiter(self.labels.keys(), dtype=np.int64)
        values = np.fromiter(self.labels.values(), dtype=np.int8)
        candidates = np.flatnonzero(self.unscreened)
        if self.settings.pseudo_negatives and len(candidates):
            # Seeded by the number of labels, so that a run is reproducible.
            draw = np.random.default_rng(len(labelled)).choice(
                candidates, size=min(self.settings.pseudo_negatives, len(candidates)), replace=False)
            labelled = np.concatenate([labelled, draw])
            values = np.concatenate([values, np.zeros(len(draw), dtype=np.int8)])
        if can_rank(values) and self.features.shape[1] > 0:
            scores = relevance_scores(self.features, labelled, values, self.settings)[candidates]
            # Ties (same score) keep the records' order, so a run is reproducible.
            ranked = candidates[np.argsort(-scores, kind="stable")]
        else:
            # Nothing to learn from yet: the records in the order they came.
            ranked = candidates
        self._order = ranked[::-1].tolist()  # popped from the end
        self._since_training = 0

    def next_record(self) -> int | None:
        """Index of the record to screen next; None when every record has been screened."""
        if not self.unscreened.any():
            return None
        interval = self.retrain_every or retrain_interval(len(self.labels))
        if not self._order or self._since_training >= interval:
            self._retrain()
        while self._order:
            index = self._order[-1]
            if self.unscreened[index]:
                return index
            self._order.pop()
        self._retrain()
        return self._order[-1]

    def record_decision(self, index: int, relevant: bool) -> None:
        """Record a screening decision on the record ``next_record`` gave (or any unscreened one)."""
        if not self.unscreened[index]:
            raise ValueError(f"Record {index} has already been screened.")
        self.unscreened[index] = False
        self.labels[index] = int(relevant)
        self.ranked_labels.append(int(relevant))
        self._since_training += 1
        self._stop_estimate = None

    def stop_indicated(self) -> bool:
        """Whether the stopping rule says stop now: ``stopping().can_stop``, computed for less (what a
        check after every decision needs)."""
        return stopping_indicated(self.ranked_labels, self.records_total - len(self.known_before),
                                  relevant_before=sum(self.known_before.values()), confidence=self.confidence)

    def stopping(self) -> StoppingEstimate:
        """The stopping rule's verdict now (Callaghan & Müller-Hansen 2020)."""
        if self._stop_estimate is None:
            self._stop_estimate = stopping_estimate(
                self.ranked_labels, self.records_total,
                relevant_before=sum(self.known_before.values()),
                known_before=len(self.known_before), confidence=self.confidence,
            )
        return self._stop_estimate
