"""Ranking variants measured against the product's model, in process (no subprocess, no ASReview):
WSS@95 and share screened at STOP per review and seed, with the same shuffles and priors as
bench/prioritisation.py, so a variant's numbers sit beside the product's ("ours") there.

It is how the changes named "measured and not kept" in studies/prioritisation/ranking.py were
measured; rerun one with

    .venv/bin/python bench/prioritisation_variants.py VARIANT [--seeds 0] [--reviews Sep_2021,...]

A review named ``NAME:thinned`` keeps only a quarter of its relevant records (``review_records``).

VARIANT: product (the product's model), nb-ensemble, word-char, logistic, undersampling, lsa, dynamic-resampling,
bm25, bibliographic (year and DOI prefix as terms), pseudo-negatives-5pc, c-ensemble,
and on a dense text embedding (--embedding minilm, e5 or static): dense (the product's SVM on the
embedding alone; dense-c1 with C = 1), tfidf+dense (one SVM on both, side by side, each of unit
length; tfidf+dense-half with the embedding of length 0.5), rank-average (an SVM on each, ranks
averaged).
The dense ones read the vectors that bench/embed_synergy.py caches (in ../embed-cache by default,
--embedding-cache DIR), made with a separate virtual environment; they stop with a message if the
cache is missing.
"""
from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from functools import partial
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.prioritisation import REVIEWS, load_review
from studies.prioritisation import session
from studies.prioritisation.ranking import DEFAULT_SETTINGS, fit_relevance, record_text, sample_weights


def _unit_ranks(scores: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(len(scores))
    return ranks / max(1, len(scores) - 1)


def product(features, labelled, labels, settings=DEFAULT_SETTINGS):
    return fit_relevance(features, labelled, labels, settings).scores(features)


def nb_ensemble(features, labelled, labels, settings=DEFAULT_SETTINGS):
    """The product's SVM and ASReview's earlier default, naive Bayes (alpha 3.822), rank-averaged."""
    nb = MultinomialNB(alpha=3.822).fit(features[labelled], labels,
                                        sample_weight=sample_weights(labels, settings.balance_ratio))
    joint = nb.predict_joint_log_proba(features)
    return (_unit_ranks(product(features, labelled, labels)) + _unit_ranks(joint[:, 1] - joint[:, 0])) / 2


def logistic(features, labelled, labels, settings=DEFAULT_SETTINGS):
    """Logistic regression (C = 1, scikit-learn's default) with the same balanced weights."""
    model = LogisticRegression(C=1.0, max_iter=1000).fit(
        features[labelled], labels, sample_weight=sample_weights(labels, settings.balance_ratio))
    return model.decision_function(features)


def undersampling(features, labelled, labels, settings=DEFAULT_SETTINGS):
    """FASTREAD's aggressive undersampling (Yu, Kraft & Menzies 2018, Empir Softw Eng 23:3161): once
    30 relevant records are known, train on them and as many irrelevant ones, those farthest from the
    first model's hyperplane."""
    model = fit_relevance(features, labelled, labels, settings)
    relevant = int(labels.sum())
    if relevant < 30:
        return model.scores(features)
    irrelevant = np.flatnonzero(labels == 0)
    farthest = irrelevant[np.argsort(model.scores(features[labelled[irrelevant]]))[:relevant]]
    keep = np.concatenate([np.flatnonzero(labels == 1), farthest])
    return fit_relevance(features, labelled[keep], labels[keep], settings).scores(features)


def dynamic_resampling(features, labelled, labels, settings=DEFAULT_SETTINGS):
    """ASReview's earlier default balance, "double" dynamic resampling (van de Schoot et al. 2021, Nat
    Mach Intell 3:125; constants a = 2.155, alpha = 0.94, b = 0.789, beta = 1 from its documentation):
    a training set as large as the labels, relevant records repeated to a share that shrinks as they
    get commoner, irrelevant ones drawn without replacement; unweighted SVM."""
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(len(labels))
    relevant, irrelevant = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n = len(labels)
    one_weight = 2.155 * (len(relevant) / len(irrelevant)) ** -0.94
    zero_weight = 1 - (1 - 0.789) * (1 + math.log(n)) ** -1.0
    share = one_weight * len(relevant) / (one_weight * len(relevant) + zero_weight * len(irrelevant))
    n_one = int(min(max(1, np.floor(share * n + rng.random())), max(1, n - 2)))
    ones = np.concatenate([np.tile(relevant, n_one // len(relevant)),
                           rng.choice(relevant, n_one % len(relevant), replace=False)])
    zeros = rng.choice(irrelevant, min(len(irrelevant), n - n_one), replace=False)
    rows = np.concatenate([ones, zeros])
    model = LinearSVC(C=settings.regularisation_c).fit(features[labelled[rows]], labels[rows])
    return np.asarray(features @ model.coef_.ravel() + model.intercept_[0])


def word_char_features(texts, settings=DEFAULT_SETTINGS):
    """The product's word 1-2-gram TF-IDF beside character 3-5-grams within word boundaries."""
    words, vocabulary = _product_features(texts, settings)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                            max_df=settings.max_df).fit_transform(texts)
    return sparse.hstack([words, chars]).tocsr() / np.sqrt(2), vocabulary


def lsa_features(texts, settings=DEFAULT_SETTINGS):
    """The product's TF-IDF beside its latent semantic analysis (Deerwester et al. 1990, J Am Soc Inf
    Sci 41:391): 300 dimensions (Landauer & Dumais 1997's), each part of unit length, so records
    sharing no term but related ones still score alike."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    words, vocabulary = _product_features(texts, settings)
    dimensions = min(300, words.shape[0] - 1, words.shape[1] - 1)
    latent = normalize(TruncatedSVD(n_components=dimensions, random_state=0).fit_transform(words))
    return sparse.hstack([words, sparse.csr_matrix(latent)]).tocsr() / np.sqrt(2), vocabulary


def bm25_features(texts, settings=DEFAULT_SETTINGS, k1=1.2, b=0.75):
    """Okapi BM25 term weights (Robertson & Zaragoza 2009, k1 = 1.2, b = 0.75) on the same 1-2-grams
    instead of sublinear TF-IDF, each record of unit length: term frequency saturating, long
    abstracts discounted against the average length."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    counter = CountVectorizer(ngram_range=(1, settings.ngram_max), max_df=settings.max_df)
    counts = counter.fit_transform(texts).tocsr().astype(np.float64)
    records = counts.shape[0]
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((records - document_frequency + 0.5) / (document_frequency + 0.5) + 1.0)
    length = np.asarray(counts.sum(axis=1)).ravel()
    row = np.repeat(np.arange(records), np.diff(counts.indptr))
    counts.data = (counts.data * (k1 + 1) / (counts.data + k1 * (1 - b + b * length[row] / (length.mean() or 1)))
                   * idf[counts.indices])
    return normalize(counts).tocsr(), counter.get_feature_names_out()


def bibliographic_text(record: dict) -> str:
    """Title and abstract, then the year, its five-year span and the DOI's registrant prefix (the
    publisher) as terms of their own: the two other columns the protocol gives."""
    terms = []
    year = (record.get("year") or "").strip()
    if year.isdigit():
        terms += [f"qqyear{year}", f"qqyears{int(year) // 5 * 5}"]
    prefix = re.match(r"(10\.\d+)/", (record.get("doi") or "").strip().lower())
    terms.append("qqdoi" + prefix.group(1).replace(".", "") if prefix else "qqnodoi")
    return record_text(record["title"], record["abstract"]) + " " + " ".join(terms)


def proportional_pseudo_negatives(features, labelled, labels, settings=DEFAULT_SETTINGS, share=0.05):
    """Cormack & Grossman's random pseudo-negatives (see RankingSettings.pseudo_negatives) scaled to
    the review: 5% of the records not yet labelled, at most 100, so that a small review with many
    relevant records is not taught that a fifth of its relevant ones are irrelevant (the fixed 100
    cost Sep_2021 0.15)."""
    unlabelled = np.setdiff1d(np.arange(features.shape[0]), labelled)
    count = min(100, round(share * len(unlabelled)))
    if count:
        draw = np.random.default_rng(len(labelled)).choice(unlabelled, size=count, replace=False)
        labelled = np.concatenate([labelled, draw])
        labels = np.concatenate([labels, np.zeros(count, dtype=labels.dtype)])
    return product(features, labelled, labels, settings)


def c_ensemble(features, labelled, labels, settings=DEFAULT_SETTINGS, strengths=(0.05, 0.11, 0.3)):
    """The product's SVM at three regularisation strengths around ELAS u4's C = 0.11, each decision value
    standardised over the records, summed: less reliance on one tuned C."""
    from dataclasses import replace

    total = np.zeros(features.shape[0])
    for c in strengths:
        scores = product(features, labelled, labels, replace(settings, regularisation_c=c))
        total += (scores - scores.mean()) / (scores.std() or 1.0)
    return total


# Dense text embeddings (bench/embed_synergy.py), looked up by the record's text: the variant sees
# only the texts, in the shuffled order. Filled by main() for the dense variants.
_EMBEDDINGS: dict[str, np.ndarray] = {}
# The last features made, their TF-IDF and dense parts (one screening at a time in this process).
_PARTS: dict[str, object] = {}


def load_embeddings(cache: Path, model: str, reviews: list[str]) -> None:
    for review in reviews:
        vectors_file, ids_file = cache / model / f"{review}.npy", cache / model / f"{review}.ids"
        if not vectors_file.exists() or not ids_file.exists():
            sys.exit(f"No cached {model} embeddings of {review} in {cache / model}: run "
                     f"bench/embed_synergy.py {model} with the embedding package's virtual environment "
                     f"(see its docstring).")
        vectors = np.load(vectors_file)
        ids = ids_file.read_text().split()
        records = load_review(review)
        if ids != [r["record_id"] for r in records] or len(vectors) != len(records):
            sys.exit(f"The cached {model} embeddings of {review} are not of its current records: rerun "
                     f"bench/embed_synergy.py {model}.")
        for record, vector in zip(records, vectors, strict=True):
            _EMBEDDINGS[record_text(record["title"], record["abstract"])] = vector.astype(np.float64)


def _dense_matrix(texts) -> np.ndarray:
    return np.vstack([_EMBEDDINGS[text] for text in texts])


def dense_features(texts, settings=DEFAULT_SETTINGS):
    """The record's embedding alone (unit length)."""
    vectors = _dense_matrix(texts)
    _PARTS.update(features=vectors, tfidf=None, dense=vectors)
    return vectors, np.array([f"dim{i}" for i in range(vectors.shape[1])], dtype=object)


def tfidf_dense_features(texts, settings=DEFAULT_SETTINGS, dense_weight=1.0):
    """The product's TF-IDF beside the embedding, the TF-IDF of unit length and the embedding of
    length dense_weight (the row then of unit length), in one linear model: the product's SVM on
    both."""
    words, vocabulary = _product_features(texts, settings)
    vectors = _dense_matrix(texts)
    joined = (sparse.hstack([words, sparse.csr_matrix(dense_weight * vectors)]).tocsr()
              / np.sqrt(1 + dense_weight ** 2))
    _PARTS.update(features=joined, tfidf=words, dense=vectors)
    return joined, vocabulary


def dense_svm(features, labelled, labels, settings=DEFAULT_SETTINGS, c=None):
    """The product's classifier (linear SVM, the same balanced weights and C) on dense features."""
    from sklearn.svm import LinearSVC

    model = LinearSVC(C=settings.regularisation_c if c is None else c, loss="squared_hinge").fit(
        features[labelled], labels, sample_weight=sample_weights(labels, settings.balance_ratio))
    return model.decision_function(features)


def rank_average(features, labelled, labels, settings=DEFAULT_SETTINGS):
    """The product's SVM on TF-IDF and the same SVM on the embedding, trained apart, their ranks
    averaged."""
    if features is not _PARTS.get("features"):
        raise RuntimeError("rank-average needs the features of tfidf_dense_features")
    tfidf = product(_PARTS["tfidf"], labelled, labels, settings)
    dense = dense_svm(_PARTS["dense"], labelled, labels, settings)
    return (_unit_ranks(tfidf) + _unit_ranks(dense)) / 2


DENSE_VARIANTS = {"dense": (dense_svm, dense_features),
                  "dense-c1": (partial(dense_svm, c=1.0), dense_features),
                  "tfidf+dense": (product, tfidf_dense_features),
                  "tfidf+dense-half": (product, partial(tfidf_dense_features, dense_weight=0.5)),
                  "rank-average": (rank_average, tfidf_dense_features)}
_product_features = session.text_features
VARIANTS = {**DENSE_VARIANTS, "lsa": (product, lsa_features), "dynamic-resampling": (dynamic_resampling, None), "product": (product, None), "nb-ensemble": (nb_ensemble, None), "logistic": (logistic, None),
            "undersampling": (undersampling, None), "word-char": (product, word_char_features),
            "bm25": (product, bm25_features), "bibliographic": (product, None),
            "pseudo-negatives-5pc": (proportional_pseudo_negatives, None), "c-ensemble": (c_ensemble, None)}
# Variants that read more of the record than its title and abstract.
RECORD_TEXT = {"bibliographic": bibliographic_text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--reviews", default=",".join(REVIEWS))
    parser.add_argument("--embedding", default="minilm", help="cached embedding of the dense variants")
    parser.add_argument("--embedding-cache", type=Path, default=BASE_DIR.parent / "embed-cache")
    args = parser.parse_args()
    if args.variant in DENSE_VARIANTS:
        load_embeddings(args.embedding_cache, args.embedding, args.reviews.split(","))
    scores, features = VARIANTS[args.variant]
    # The variant replaces the product's functions inside the simulation loop only (this process).
    session.relevance_scores = scores
    if features is not None:
        session.text_features = features
    label = f"{args.variant}/{args.embedding}" if args.variant in DENSE_VARIANTS else args.variant
    text = RECORD_TEXT.get(args.variant, lambda r: record_text(r["title"], r["abstract"]))
    wss = []
    for review in args.reviews.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            records = review_records(review, seed)
            rng = np.random.default_rng(seed)  # the same draws as bench/prioritisation.py
            shuffled = [records[i] for i in rng.permutation(len(records))]
            labels = [int(r["label_included"]) for r in shuffled]
            ids = [r["record_id"] for r in shuffled]
            included = ids.index(str(rng.choice([i for i, v in zip(ids, labels, strict=True) if v == 1])))
            excluded = ids.index(str(rng.choice([i for i, v in zip(ids, labels, strict=True) if v == 0])))
            screening = session.PrioritisedScreening([text(r) for r in shuffled], {included: 1, excluded: 0})
            asked, stop = [], None
            while (index := screening.next_record()) is not None:
                asked.append(labels[index])
                screening.record_decision(index, labels[index] == 1)
                if stop is None and screening.stop_indicated():
                    stop = len(asked)
            total, relevant = len(ids), sum(labels)
            found = 1 + np.cumsum(asked)
            screened_at_95 = 2 + int(np.argmax(found >= math.ceil(0.95 * relevant))) + 1
            wss.append((total - screened_at_95) / total - 0.05)
            print(f"{label:14} {review:18} seed {seed} WSS@95 {wss[-1]:.3f}  STOP at "
                  f"{(stop + 2) / total:.3f} recall {found[stop - 1] / relevant:.3f}", flush=True)
    print(f"{label:14} median WSS@95 {statistics.median(wss):.3f}, mean {statistics.mean(wss):.3f}")


def review_records(review: str, seed: int) -> list[dict]:
    """The review's records; for ``NAME:thinned``, with only a quarter of its relevant records (at
    least 5, drawn per seed): a stand-in, on the same topics, for the low-prevalence reviews that
    most of SYNERGY is (1.7% of its records are relevant, against 2-15% in these four), where the
    last few relevant records decide WSS@95."""
    name, _, kind = review.partition(":")
    records = load_review(name)
    if kind != "thinned":
        return records
    relevant = [i for i, r in enumerate(records) if r["label_included"] == "1"]
    kept = set(np.random.default_rng(1000 + seed).choice(relevant, max(5, len(relevant) // 4), replace=False).tolist())
    return [r for i, r in enumerate(records) if r["label_included"] != "1" or i in kept]


if __name__ == "__main__":
    main()
