"""The ranking model and the active-learning loop (pure: no database)."""
import numpy as np
import pytest

from studies.prioritisation.ranking import (
    can_rank,
    fit_relevance,
    record_text,
    relevance_scores,
    sample_weights,
    text_features,
    top_terms,
)
from studies.prioritisation.session import PrioritisedScreening

TEXTS = [
    record_text("Peer support to reduce self-stigma: a randomised trial", "Peer-led groups reduced stigma."),
    record_text("Soil nitrogen in alpine meadows", "We measured nitrogen in meadow soils."),
    record_text("A randomised trial of peer-led stigma reduction", "Peer-led sessions; self-stigma fell."),
    record_text("Nitrogen cycling in grassland soils", "Soil samples from grasslands."),
    record_text("Stigma and peer support in psychosis: randomised trial", "Peer support lowered stigma."),
    record_text("Alpine soil microbes and nitrogen", "Microbial nitrogen in alpine soils."),
]


def test_a_ranking_needs_an_include_and_an_exclude():
    assert not can_rank(np.array([1, 1]))
    assert not can_rank(np.array([0, 0]))
    assert can_rank(np.array([1, 0]))
    features, _ = text_features(TEXTS)
    with pytest.raises(ValueError, match="one included and one excluded"):
        fit_relevance(features, np.array([0, 2]), np.array([1, 1]))


def test_records_like_the_included_one_rank_first():
    features, _ = text_features(TEXTS)
    scores = relevance_scores(features, np.array([0, 1]), np.array([1, 0]))
    unlabelled = [2, 3, 4, 5]
    ranked = sorted(unlabelled, key=lambda row: -scores[row])
    assert set(ranked[:2]) == {2, 4}


def test_top_terms_say_why_a_record_is_high():
    features, vocabulary = text_features(TEXTS)
    model = fit_relevance(features, np.array([0, 1]), np.array([1, 0]))
    terms = top_terms(features, model.coefficients, vocabulary, 2)
    assert terms and any("peer" in term or "stigma" in term for term in terms)
    assert not any("nitrogen" in term for term in terms)


def test_balanced_weights_give_the_relevant_records_ratio_times_the_weight():
    labels = np.array([1, 0, 0, 0, 0])
    weights = sample_weights(labels, ratio=2.0)
    assert weights[0] / weights[1:].sum() == pytest.approx(2.0)
    assert weights.mean() == pytest.approx(1.0)


def test_the_loop_asks_every_record_once_and_never_a_prior():
    screening = PrioritisedScreening(TEXTS, {0: 1, 1: 0})
    asked = []
    while (index := screening.next_record()) is not None:
        asked.append(index)
        screening.record_decision(index, index in (2, 4))
    assert sorted(asked) == [2, 3, 4, 5]
    assert set(asked[:2]) == {2, 4}
    with pytest.raises(ValueError, match="already been screened"):
        screening.record_decision(2, True)
    assert screening.stopping().can_stop  # everything screened: recall is certain
