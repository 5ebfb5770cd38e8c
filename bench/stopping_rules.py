"""Stopping rules compared on the same ranked orders: when does each stop, and with what recall?

Measured (10 seeds, 3 random orders per seed; table in the commit that added this file): no cited rule
tried stops earlier than buscar (studies/prioritisation/stopping.py) on the product's order and keeps
recall >= 0.95 in every run. The counting-process rules with an exponential (or hyperbolic, whose fit
ends at the exponential) rate stop at about a third of Menon_2022 with recall 0.932 in every seed:
the ranking leaves a few relevant records deep in the list (at 74% and 93% of it for seed 0), which a
smoothly decaying rate does not foresee. The power-law rate and Bonferroni-corrected buscar are safe
here and stop later. buscar's own bias option (buscar-bias-1.5, -2, -3) stops earlier on the
product's order (median share screened 0.72, 0.66, 0.60 against 0.79) but at recall 0.950 on
Sep_2021 in every seed, and below 0.95 in 54, 75 and 99 of 120 random orders (buscar: 12).

The product's order is simulated in process with the product's model (bench/prioritisation_variants.py's
loop: the same shuffles and priors per seed as bench/prioritisation.py) and its label sequence cached
in the temporary folder (``--cache``), so rules are cheap to rerun. Random orders are drawn per
review and seed (first the one bench/prioritisation.py draws, then more with other seeds).

    OMP_NUM_THREADS=1 .venv/bin/python bench/stopping_rules.py [--seeds 0-9] [--random 50]

Each rule is a function of the label sequence (1/0 of the records screened since ranking began, the
two priors excluded; one included prior counts as found) and the number of records left to rank; it
returns how many records it screened before saying stop (None: never).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from scipy.integrate import simpson
from scipy.optimize import curve_fit
from scipy.stats import hypergeom, nchypergeom_wallenius, norm, poisson

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.prioritisation import REVIEWS, load_review
from studies.prioritisation.stopping import stopping_p_value

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "reviewsite-stopping-rules"


# --------------------------------------------------------------------------------------------------
# Ranked orders
# --------------------------------------------------------------------------------------------------

def draw_priors(records: list[dict], seed: int):
    """The shuffle and priors of bench/prioritisation.py for this seed (same draws, same order), and
    the generator left where that script draws its random order."""
    rng = np.random.default_rng(seed)
    shuffled = [records[i] for i in rng.permutation(len(records))]
    labels = [int(r["label_included"]) for r in shuffled]
    ids = [r["record_id"] for r in shuffled]
    included = ids.index(str(rng.choice([i for i, v in zip(ids, labels, strict=True) if v == 1])))
    excluded = ids.index(str(rng.choice([i for i, v in zip(ids, labels, strict=True) if v == 0])))
    return shuffled, labels, included, excluded, rng


def product_order(review: str, seed: int, cache: Path) -> list[int]:
    """Labels of the records the product's model asks for, in order (priors excluded); cached."""
    path = cache / f"{review}_seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())["labels"]
    from studies.prioritisation import session
    from studies.prioritisation.ranking import record_text

    shuffled, labels, included, excluded, _ = draw_priors(load_review(review), seed)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    screening = session.PrioritisedScreening([record_text(r["title"], r["abstract"]) for r in shuffled],
                                             {included: 1, excluded: 0})
    asked: list[int] = []
    stop = None
    while (index := screening.next_record()) is not None:
        asked.append(labels[index])
        screening.record_decision(index, labels[index] == 1)
        if stop is None and screening.stopping().can_stop:
            stop = len(asked)
    seconds = time.monotonic() - started
    path.write_text(json.dumps({"review": review, "seed": seed, "labels": asked,
                                "product_stop": stop, "seconds": seconds}))
    print(f"cached {review} seed {seed}: {len(asked)} records, {seconds:.0f} s", file=sys.stderr,
          flush=True)
    return asked


def random_orders(review: str, seed: int, count: int) -> list[list[int]]:
    """``count`` random orders of the records left after this seed's priors: the first is the one
    bench/prioritisation.py draws; the others come from seeds (seed, i)."""
    _, labels, included, excluded, rng = draw_priors(load_review(review), seed)
    pool = [v for i, v in enumerate(labels) if i not in (included, excluded)]
    orders = [[pool[i] for i in rng.permutation(len(pool))]]
    for i in range(1, count):
        other = np.random.default_rng([seed, i])
        orders.append([pool[j] for j in other.permutation(len(pool))])
    return orders


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def generate_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--reviews", default=",".join(REVIEWS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(sys.argv[2:])
    args.cache.mkdir(parents=True, exist_ok=True)
    for seed in parse_seeds(args.seeds):
        for review in args.reviews.split(","):
            product_order(review, seed, args.cache)




# --------------------------------------------------------------------------------------------------
# Rules: each takes the labels in the order screened (priors excluded) and the number of records
# ranked (the priors excluded); the included prior counts as found. Returns records screened at
# STOP, or None (never: every record gets screened).
# --------------------------------------------------------------------------------------------------

TAU = 0.95
CONFIDENCE = 0.95
RELEVANT_BEFORE = 1


def oracle(labels: Sequence[int], n_ranked: int) -> int | None:
    """Where recall first reaches the target: no rule can stop earlier and keep it."""
    found = RELEVANT_BEFORE + np.cumsum(labels)
    return int(np.argmax(found >= math.ceil(TAU * found[-1]))) + 1


def buscar(labels: Sequence[int], n_ranked: int) -> int | None:
    """The product's rule, studies.prioritisation.stopping (Callaghan & Müller-Hansen 2020): the
    smallest hypergeometric p over every window of the ranked tail below 1 - confidence."""
    for asked in range(1, len(labels) + 1):
        if stopping_p_value(labels[:asked], n_ranked, relevant_before=RELEVANT_BEFORE) < 1 - CONFIDENCE:
            return asked
    return None


def _window_p_values(labels: np.ndarray, n_ranked: int) -> np.ndarray:
    """Each window's p of "recall < target", as in stopping_p_value (0 where impossible)."""
    r_seen = RELEVANT_BEFORE + int(labels.sum())
    k = np.cumsum(labels[::-1])
    n = np.arange(1, len(labels) + 1)
    urn = n + n_ranked - len(labels)
    relevant_in_urn = np.floor(r_seen / TAU) - (r_seen - k) + 1
    p = hypergeom.cdf(k, urn, np.minimum(relevant_in_urn, urn), n)
    return np.where(relevant_in_urn > urn, 0.0, p)


def buscar_bonferroni(labels: Sequence[int], n_ranked: int) -> int | None:
    """The same windows, the smallest p multiplied by the number of windows tried (Bonferroni 1936):
    a valid test at the stated confidence when the screened records were a random order; at least as
    late as buscar by construction. Shown as the price of that validity."""
    labels = np.asarray(labels, dtype=np.int64)
    for asked in range(1, len(labels) + 1):
        p = _window_p_values(labels[:asked], n_ranked)
        if p.min() * asked < 1 - CONFIDENCE:
            return asked
    return None


def buscar_biased(labels: Sequence[int], n_ranked: int, *, bias: float = 2.0) -> int | None:
    """buscar's own ``bias`` option (the buscar package's ``calculate_h0(..., bias=)``): the window is
    drawn from the urn as a biased sample, a relevant record ``bias`` times as likely to be in it as
    one left unscreened (Wallenius' noncentral hypergeometric); ``bias = 1`` is the product's rule.
    It stops earlier by assuming the ranking is that much better than chance in its tail, which
    nothing in the sample checks. Only the longest window of each count is tried (as the product's
    rule does; the same dominance argument holds for the biased draw)."""
    labels = np.asarray(labels, dtype=np.int64)
    for asked in range(1, len(labels) + 1):
        sample = labels[:asked]
        r_seen = RELEVANT_BEFORE + int(sample.sum())
        tail = sample[::-1]
        last = np.flatnonzero(np.append(tail[1:] == 1, True))
        k = np.cumsum(tail)[last]
        n = last + 1
        urn = n + n_ranked - asked
        relevant_in_urn = np.floor(r_seen / TAU) - (r_seen - k) + 1
        if np.any(relevant_in_urn > urn):
            return asked
        low = k < n * relevant_in_urn / urn + 1
        if low.any() and min(nchypergeom_wallenius(int(u), int(m), int(d), bias).cdf(int(x))
                             for x, u, m, d in zip(k[low], urn[low], relevant_in_urn[low], n[low],
                                                   strict=True)) < 1 - CONFIDENCE:
            return asked
    return None


# Rate functions of the inhomogeneous Poisson process (Sneyd & Stevenson 2021, SIGIR, "Stopping
# criteria for technology assisted reviews based on counting processes", doi 10.1145/3404835.3463013):
# relevant records met per record screened at rank x. Each: (rate, integral from lo to hi).
def _exp_rate(x, a, k):
    return a * np.exp(-k * x)


def _exp_integral(lo, hi, a, k):
    if abs(k) < 1e-12:
        return a * (hi - lo)
    with np.errstate(over="ignore", invalid="ignore"):  # a rate growing without bound: inf or nan
        return a / k * (np.exp(-k * lo) - np.exp(-k * hi))


def _power_rate(x, a, k):
    return a * np.power(x, k)


def _power_integral(lo, hi, a, k):
    lo = max(lo, 1.0)
    if abs(k + 1) < 1e-9:
        return a * (math.log(hi) - math.log(lo))
    return a / (k + 1) * (hi ** (k + 1) - lo ** (k + 1))


def _hyperbolic_rate(x, a, b, k):
    """Arps' hyperbolic decline, as Stevenson & Bin-Hezam 2023 use it (0 < b <= 1; b -> 0 is exp)."""
    return a / np.power(1.0 + b * k * x, 1.0 / b)


def _hyperbolic_integral(lo, hi, a, b, k):
    if abs(b - 1) < 1e-9:
        return a / k * (math.log1p(k * hi) - math.log1p(k * lo))
    e = 1.0 - 1.0 / b
    return a / (k * (b - 1)) * ((1 + b * k * hi) ** e - (1 + b * k * lo) ** e)


RATES = {"exp": (_exp_rate, _exp_integral), "power": (_power_rate, _power_integral),
         "hyperbolic": (_hyperbolic_rate, _hyperbolic_integral)}


def _fit_rate(labels: np.ndarray, shape: str, n_windows: int = 10, with_errors: bool = False):
    """Least-squares fit of the rate to the share relevant in ``n_windows`` equal windows of the
    records screened, as in the paper (x: window midpoint for exp, window start + 1 for power)."""
    rate, _ = RATES[shape]
    windows = np.array_split(np.arange(len(labels)), n_windows)
    y = np.array([labels[w].mean() for w in windows])
    x = np.array([(w[0] + w[-1] + 1) / 2 if shape != "power" else w[0] + 1 for w in windows], dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if shape == "hyperbolic":
                params, covariance = curve_fit(rate, x, y, p0=[max(y.max(), 1e-3), 0.5, 0.001],
                                               bounds=((0, 1e-6, 1e-9), (np.inf, 1, np.inf)), maxfev=5000)
            else:
                params, covariance = curve_fit(rate, x, y, maxfev=5000,
                                               p0=[0.1, 0.001] if shape == "exp" else [0.1, -0.5])
    except (RuntimeError, ValueError):
        return None
    if not np.all(np.isfinite(params)):
        return None
    if with_errors:
        errors = np.sqrt(np.diag(covariance))
        return (tuple(params), errors) if np.all(np.isfinite(errors)) else None
    return tuple(params)


def _cox_bound(found: int, asked: int, n_ranked: int, shape: str, fit, errors,
               confidence: float) -> float:
    """Sneyd & Stevenson 2021's Cox process: the bound averaged over rates whose parameters move
    together by z standard errors of the fit (z from the 1st to the 99th normal percentile, weighted
    by the normal density), so that the fit's own uncertainty widens the bound."""
    _, integral = RATES[shape]
    z = np.linspace(norm.ppf(0.01), norm.ppf(0.99), 100)
    # The rate's level up and its decay down together: more left unscreened.
    signs = np.array([1.0, -1.0] if shape == "exp" else [1.0, 1.0])
    left = float(n_ranked - asked)
    means = [integral(float(asked), float(n_ranked), *(np.asarray(fit) + zz * signs * errors))
             for zz in z]
    # A perturbed rate that grows without bound: at most every unscreened record is relevant.
    bounds = [found + poisson.ppf(confidence, min(max(mu, 0.0), left) if np.isfinite(mu) else left)
              for mu in means]
    return float(simpson(norm.pdf(z) * bounds, x=z))


def counting_process(labels: Sequence[int], n_ranked: int, *, shape: str = "exp",
                     estimate: str = "total", start: float = 0.30, step: float = 0.05,
                     min_relevant: int = 20, empty_tail_stop: bool = False, cox: bool = False,
                     confidence: float = CONFIDENCE) -> int | None:
    """Sneyd & Stevenson 2021's inhomogeneous Poisson process (IP-E: exp; IP-P: power), and its
    revision by Stevenson & Bin-Hezam 2023 (ACM TOIS 42(3), "Stopping methods for technology-assisted
    reviews based on point processes", doi 10.1145/3631990: hyperbolic rate, the "remaining"
    estimate, checks every 2.5%, stop outright when the last 5 of the 10 windows hold no relevant
    record: ``empty_tail_stop``; their fit-error threshold is left out).

    Checked after ``start`` of the ranking and then every ``step``, once ``min_relevant`` relevant
    records are found (SIGIR 2021: 30%, 5% steps, 20 found by the first check or never stop). At a
    check the rate is fitted to the records screened so far. Then
    - estimate "total" (SIGIR 2021): if the fit accounts for the relevant records found (found >=
      target x the fitted count so far), the number of relevant records in the whole ranking is at
      most the ``confidence`` quantile of Poisson(integral of the rate over the ranking); stop when
      found >= target x that. At target 0.95 this needs found >= 0.95 (mu + 1.645 sqrt(mu)) with mu
      about found, so roughly 1,000 relevant records, unless the fit falls short of those found;
    - estimate "remaining" (TOIS 2023): found + the quantile of Poisson(integral over the unscreened
      part) bounds the total; stop when found >= target x that bound.
    The stated confidence covers the Poisson noise around the fitted rate, not the choice of rate
    function nor (but for ``cox``) the fit's own error.
    """
    labels = np.asarray(labels, dtype=np.int64)
    _, integral = RATES[shape]
    first = round(start * n_ranked)
    # SIGIR 2021: too few relevant records in the first sample and the method never stops; TOIS 2023
    # waits for them instead (the per-check test below).
    if estimate == "total" and RELEVANT_BEFORE + labels[:first].sum() < min_relevant:
        return None
    checks = sorted({min(n_ranked, round(share * n_ranked))
                     for share in np.arange(start, 1 + 1e-9, step)})
    for asked in checks:
        if asked > len(labels):
            break
        sample = labels[:asked]
        found = RELEVANT_BEFORE + int(sample.sum())
        if found < min_relevant:
            continue
        if empty_tail_stop and sample[np.array_split(np.arange(asked), 10)[5][0]:].sum() == 0:
            return asked
        fit = _fit_rate(sample, shape, with_errors=cox)
        if fit is None:
            continue
        if cox:
            if found >= TAU * _cox_bound(found, asked, n_ranked, shape, *fit, confidence):
                return asked
            continue
        fitted_so_far = integral(0.0, float(asked), *fit)
        if estimate == "total" and not (found >= TAU * round(fitted_so_far)):
            continue
        if estimate == "total":
            bound = poisson.ppf(confidence, max(integral(0.0, float(n_ranked), *fit), 0.0))
        else:
            bound = found + poisson.ppf(confidence,
                                        max(integral(float(asked), float(n_ranked), *fit), 0.0))
        if found >= TAU * bound:
            return asked
    return None


def knee(labels: Sequence[int], n_ranked: int, *, min_rank: int = 150, adjusted: bool = True
         ) -> int | None:
    """Cormack & Grossman 2016's knee method (SIGIR, "Engineering quality and reliability in
    technology-assisted review", doi 10.1145/2911451.2911510), its adjusted form: at rank s >= 150,
    find the knee i of the gain curve (largest distance above the diagonal, Satopaa et al. 2011) and
    stop when the slope before the knee over the slope after (with one relevant added) reaches
    156 - min(found, 150) (``adjusted=False``: 6, the paper's first form, meant for topics with many
    relevant records). A heuristic: no stated confidence."""
    labels = np.asarray(labels, dtype=np.int64)
    found = RELEVANT_BEFORE + np.cumsum(labels)
    ranks = np.arange(1, len(labels) + 1)
    for s in range(min_rank, len(labels) + 1):
        rel = found[:s]
        distance = rel / rel[-1] - ranks[:s] / s
        i = int(np.argmax(distance)) + 1
        if i >= s:
            continue
        slope_before = rel[i - 1] / i
        slope_after = (rel[-1] - rel[i - 1] + 1) / (s - i)
        threshold = 156 - min(int(rel[-1]), 150) if adjusted else 6
        if slope_before / slope_after >= threshold:
            return s
    return None


RULES: dict[str, Callable[[Sequence[int], int], int | None]] = {
    "oracle": oracle,
    "buscar": buscar,
    "buscar-bonferroni": buscar_bonferroni,
    **{f"buscar-bias-{bias:g}": partial(buscar_biased, bias=bias) for bias in (1.5, 2.0, 3.0)},
    "ipp-exp-paper": partial(counting_process, shape="exp"),
    "ipp-power-paper": partial(counting_process, shape="power"),
    # Stevenson & Bin-Hezam 2023's form; 10 relevant records at least instead of their 20, else a
    # review with 20 (Oud) could never stop early.
    **{f"ipp-{shape}-tois": partial(counting_process, shape=shape, estimate="remaining", start=0.025,
                                    step=0.025, min_relevant=10, empty_tail_stop=True)
       for shape in ("exp", "power", "hyperbolic")},
    # The same without the empty-tail shortcut: the Poisson bound alone.
    **{f"ipp-{shape}-remaining": partial(counting_process, shape=shape, estimate="remaining",
                                         start=0.025, step=0.025, min_relevant=10)
       for shape in ("exp", "power", "hyperbolic")},
    # The Cox form of the exponential rate (the fit's uncertainty added), TOIS checks.
    "cox-exp-remaining": partial(counting_process, shape="exp", estimate="remaining", start=0.025,
                                 step=0.025, min_relevant=10, cox=True),
    "knee": knee,
    "knee-rho6": partial(knee, adjusted=False),
}


def outcome(labels: Sequence[int], stop: int | None, records_total: int) -> tuple[float, float]:
    """(share screened, recall) at the stop; the priors count as screened first. Never: everything."""
    relevant = RELEVANT_BEFORE + sum(labels)
    if stop is None:
        return 1.0, 1.0
    return (stop + 2) / records_total, (RELEVANT_BEFORE + sum(labels[:stop])) / relevant


def rules_main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--reviews", default=",".join(REVIEWS))
    parser.add_argument("--random", type=int, default=5, help="random orders per review and seed")
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, help="write every run's outcome here")
    args = parser.parse_args()
    rules = args.rules.split(",")
    rows = []
    for review in args.reviews.split(","):
        total = len(load_review(review))
        for seed in parse_seeds(args.seeds):
            orders = [("ranked", product_order(review, seed, args.cache))]
            orders += [("random", order) for order in random_orders(review, seed, args.random)]
            for kind, labels in orders:
                for rule in rules:
                    share, recall = outcome(labels, RULES[rule](labels, total - 2), total)
                    rows.append({"review": review, "seed": seed, "order": kind, "rule": rule,
                                 "share": share, "recall": recall})
        print(f"done {review}", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows))
    report(rows, rules)


def report(rows: list[dict], rules: list[str]) -> None:
    reviews = list(dict.fromkeys(r["review"] for r in rows))
    for kind in ("ranked", "random"):
        print(f"\n{kind} orders: share screened at STOP (median, max) and recall at STOP (min, runs "
              f"below {TAU})")
        print(f"{'rule':22} " + " ".join(f"{r[:14]:>26}" for r in reviews) + f" {'ALL':>26}")
        for rule in rules:
            cells = []
            for review in reviews + ["ALL"]:
                mine = [r for r in rows if r["order"] == kind and r["rule"] == rule
                        and review in ("ALL", r["review"])]
                shares = [r["share"] for r in mine]
                recalls = [r["recall"] for r in mine]
                below = sum(r < TAU for r in recalls)
                cells.append(f"{statistics.median(shares):.3f} {max(shares):.3f} {min(recalls):.3f} "
                             f"{below:>2}/{len(mine):<3}")
            print(f"{rule:22} " + " ".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        generate_main()
    else:
        rules_main()
