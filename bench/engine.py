"""Benchmark: re-analysing a whole review with the engine vs peers, in the same run.

Workload: K outcomes × S studies (two subgroups), continuous data. The full
re-analysis the living pipeline does on every change is: per-study SMD, fixed effect,
DerSimonian–Laird random effects, both subgroups with the test for subgroup
differences, and leave-one-out (every study dropped in turn).

Compared, on identical data:

* ``engine`` — ``analysis.engine.analyse_batch`` (one call for the whole review; it
  also computes Egger's test and the funnel frame, which the peers do not);
* ``numpy floor`` — the same quantities hand-vectorised in plain NumPy for this
  workload only (closed-form sums; one dense k × k block per outcome for
  leave-one-out random effects): the cost floor;
* ``statsmodels`` — ``statsmodels.stats.meta_analysis.combine_effects`` looped over
  outcomes, subgroups and leave-one-out sets (per-study SMD from its
  ``effectsize_smd``). Note statsmodels 0.15 does not truncate τ² at 0 (a known peer
  bug), so its random-effects numbers are not compared for equality;
* ``metafor`` (when ``Rscript`` with metafor is available) — ``escalc``, ``rma``
  per subgroup and ``leave1out`` looped over outcomes, timed inside R (R start-up
  excluded).

Run: ``python bench/engine.py [--outcomes 40] [--studies 200] [--repeat 3] [--no-r]``.
Prints seconds and ratios; absolute times drift on shared machines, ratios less so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import chdtrc, ndtr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.engine import AnalysisOptions, ContinuousArms, analyse_batch

Z95 = 1.959963984540054


def make_review(outcomes: int, studies: int, seed: int = 2024) -> dict[str, np.ndarray]:
    """Synthetic review: heterogeneous true effects, two subgroups per outcome."""
    rng = np.random.default_rng(seed)
    n = outcomes * studies
    analysis = np.repeat(np.arange(outcomes), studies)
    subgroup = np.tile(np.arange(studies) % 2, outcomes)
    true = rng.normal(0.3, 0.2, outcomes)[analysis] + 0.15 * subgroup + rng.normal(0, 0.25, n)
    n1 = rng.integers(10, 200, n).astype(float)
    n2 = rng.integers(10, 200, n).astype(float)
    sd1 = rng.uniform(5, 15, n)
    sd2 = sd1 * rng.uniform(0.8, 1.25, n)
    mean2 = rng.normal(50, 10, n)
    mean1 = mean2 + true * (sd1 + sd2) / 2 + rng.normal(0, 1, n) * sd1 / np.sqrt(n1)
    return {"analysis": analysis, "subgroup": subgroup, "n1": n1, "mean1": mean1, "sd1": sd1,
                "n2": n2, "mean2": mean2, "sd2": sd2}


def run_engine(review: dict[str, np.ndarray], outcomes: int):
    arms = ContinuousArms(review["n1"], review["mean1"], review["sd1"],
                          review["n2"], review["mean2"], review["sd2"])
    return analyse_batch(arms, review["analysis"], options=AnalysisOptions(measure="SMD"),
                         n_analyses=outcomes, subgroup=review["subgroup"])


def run_numpy_floor(review: dict[str, np.ndarray], outcomes: int) -> dict[str, np.ndarray]:
    """The same quantities, hand-vectorised with no generality (rows sorted by outcome,
    equal k per outcome, DerSimonian–Laird only): the cost floor."""
    n1, n2, sd1, sd2 = review["n1"], review["n2"], review["sd1"], review["sd2"]
    a = review["analysis"]
    total = n1 + n2
    s = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (total - 2))
    y = (review["mean1"] - review["mean2"]) / s * (1 - 3 / (4 * total - 9))
    v = total / (n1 * n2) + y**2 / (2 * (total - 3.94))

    def pool(seg: np.ndarray, m: int):
        w = 1 / v
        sw = np.bincount(seg, w, m)
        swy = np.bincount(seg, w * y, m)
        sw2 = np.bincount(seg, w * w, m)
        k = np.bincount(seg, minlength=m)
        theta = swy / sw
        q = np.bincount(seg, w * (y - theta[seg]) ** 2, m)
        tau2 = np.maximum(0, (q - (k - 1)) / (sw - sw2 / sw))
        ws = 1 / (v + tau2[seg])
        sws = np.bincount(seg, ws, m)
        theta_r = np.bincount(seg, ws * y, m) / sws
        se_r = 1 / np.sqrt(sws)
        i2 = np.where(q > 0, np.maximum(0, (q - (k - 1)) / q), 0)
        return {"theta": theta, "se": 1 / np.sqrt(sw), "q": q, "p_q": chdtrc(k - 1, q), "i2": i2,
                    "tau2": tau2, "theta_r": theta_r, "se_r": se_r,
                    "p_r": 2 * ndtr(-np.abs(theta_r / se_r)), "lo_r": theta_r - Z95 * se_r,
                    "sw": sw, "swy": swy, "sw2": sw2, "k": k}

    overall = pool(a, outcomes)
    sub = pool(a * 2 + review["subgroup"], 2 * outcomes)
    sub_a = np.arange(2 * outcomes) // 2
    wj = 1 / sub["se_r"] ** 2
    mean_j = np.bincount(sub_a, wj * sub["theta_r"], outcomes) / np.bincount(sub_a, wj, outcomes)
    q_between = np.bincount(sub_a, wj * (sub["theta_r"] - mean_j[sub_a]) ** 2, outcomes)
    # Leave-one-out: closed forms for the fixed part, pair expansion for random effects.
    w = 1 / v
    sw = overall["sw"][a] - w
    theta_l = (overall["swy"][a] - w * y) / sw
    sw2 = overall["sw2"][a] - w * w
    q_l = overall["q"][a] - w * (y - overall["theta"][a]) ** 2 - sw * (theta_l - overall["theta"][a]) ** 2
    df_l = overall["k"][a] - 2
    tau2_l = np.maximum(0, (q_l - df_l) / (sw - sw2 / sw))
    # Every outcome has the same number of studies here, so the k x k weights
    # 1/(v_j + tau2_i) of all outcomes form one dense (K, k, k) stack.
    per = len(y) // outcomes
    weights = np.add(tau2_l.reshape(outcomes, per, 1), v.reshape(outcomes, 1, per))
    np.reciprocal(weights, out=weights)
    weights.reshape(outcomes, per * per)[:, :: per + 1] = 0.0
    moments = weights @ np.stack([np.ones(len(y)), y], axis=1).reshape(outcomes, per, 2)
    sws = moments[..., 0].ravel()
    theta_lr = moments[..., 1].ravel() / sws
    return {"overall": overall, "sub": sub, "q_between": q_between, "loo_theta": theta_lr,
                "loo_tau2": tau2_l, "loo_lo": theta_lr - Z95 / np.sqrt(sws)}


def run_statsmodels(review: dict[str, np.ndarray], outcomes: int):
    from statsmodels.stats.meta_analysis import combine_effects, effectsize_smd

    results = []
    for outcome in range(outcomes):
        rows = review["analysis"] == outcome
        eff, var = effectsize_smd(review["mean1"][rows], review["sd1"][rows], review["n1"][rows],
                                  review["mean2"][rows], review["sd2"][rows], review["n2"][rows])
        overall = combine_effects(eff, var, method_re="dl")
        subgroup = review["subgroup"][rows]
        subs = [combine_effects(eff[subgroup == g], var[subgroup == g], method_re="dl")
                for g in (0, 1)]
        est = np.array([r.mean_effect_re for r in subs])
        w = 1 / np.array([r.sd_eff_w_re for r in subs]) ** 2
        q_between = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2))
        loo = []
        for i in range(len(eff)):
            keep = np.arange(len(eff)) != i
            loo.append(combine_effects(eff[keep], var[keep], method_re="dl").mean_effect_re)
        results.append((overall.mean_effect_fe, overall.mean_effect_re, q_between, loo,
                        overall.tau2))
    return results


R_SCRIPT = r"""
suppressMessages(library(metafor))
d <- read.csv(commandArgs(trailingOnly=TRUE)[1])
elapsed <- system.time({
  for (a in sort(unique(d$analysis))) {
    x <- escalc(measure="SMD", m1i=mean1, sd1i=sd1, n1i=n1, m2i=mean2, sd2i=sd2, n2i=n2,
                data=d[d$analysis == a, ])
    overall <- rma(yi, vi, data=x, method="DL")
    subs <- lapply(0:1, function(g) rma(yi, vi, data=x, subset=subgroup==g, method="DL"))
    test <- rma(sapply(subs, function(s) s$b[1]), sei=sapply(subs, function(s) s$se), method="FE")
    loo <- leave1out(overall)
  }
})[["elapsed"]]
cat(sprintf("%.6f\n", elapsed))
"""


def run_metafor(review: dict[str, np.ndarray], timeout: float) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True, check=False,
                           timeout=120)
    if check.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "review.csv"
        columns = ["analysis", "subgroup", "n1", "mean1", "sd1", "n2", "mean2", "sd2"]
        np.savetxt(data, np.column_stack([review[c] for c in columns]), delimiter=",",
                   header=",".join(columns), comments="", fmt="%.17g")
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(data)], capture_output=True, check=False,
                             text=True, timeout=timeout)
        if out.returncode != 0:
            print("metafor run failed:", out.stderr[-500:], file=sys.stderr)
            return None
        return float(out.stdout.strip().splitlines()[-1])


def best_of(repeat: int, func, *args):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outcomes", type=int, default=40)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-r", action="store_true", help="skip the metafor comparison")
    args = parser.parse_args()
    review = make_review(args.outcomes, args.studies)
    k, s = args.outcomes, args.studies
    print(f"workload: {k} outcomes x {s} studies (2 subgroups) = {k * s} study rows; "
          f"per outcome: SMD, fixed, DL, 2 subgroups + test, {s} leave-one-out re-analyses")
    print(f"machine: {os.cpu_count()} cpus, numpy {np.__version__}")

    run_engine(review, k)  # warm caches and imports before timing
    engine_time, batch = best_of(args.repeat, run_engine, review, k)
    floor_time, floor = best_of(args.repeat, run_numpy_floor, review, k)
    sm_time, sm = best_of(1, run_statsmodels, review, k)
    r_time = None if args.no_r else run_metafor(review, timeout=1800)

    # Same numbers? The floor computes RevMan's SMD like the engine: compare exactly.
    diffs = {
        "random estimate": np.max(np.abs(batch.overall.random.estimate - floor["overall"]["theta_r"])),
        "subgroup Q (random)": np.max(np.abs(batch.subgroup_test_random.q - floor["q_between"])),
        "leave-one-out random estimate": np.max(np.abs(
            batch.leave_one_out.pooled.random.estimate
            - floor["loo_theta"][batch.leave_one_out.row])),
    }
    print("\nengine vs numpy floor, max |difference|: "
          + "; ".join(f"{name} {value:.1e}" for name, value in diffs.items()))
    fe_gap = max(abs(batch.overall.fixed.estimate[i] - sm[i][0]) for i in range(k))
    negative = sum(sm[i][4] < 0 for i in range(k))
    print(f"engine vs statsmodels fixed estimate, max |difference| {fe_gap:.1e} "
          "(its effectsize_smd uses RevMan's formulas). Random effects not compared: "
          f"statsmodels 0.15 does not truncate tau² at 0 ({negative} of {k} outcomes "
          "negative here; it matters whenever Q < df)")

    print(f"\n{'implementation':<34}{'seconds':>10}{'engine is x faster':>22}")
    rows = [("engine (analyse_batch, 1 call)", engine_time),
            ("numpy floor (hand-vectorised)", floor_time),
            ("statsmodels combine_effects loop", sm_time)]
    if r_time is not None:
        rows.append(("metafor loop (timed inside R)", r_time))
    for name, seconds in rows:
        ratio = "" if name.startswith("engine") else f"{seconds / engine_time:.1f}"
        print(f"{name:<34}{seconds:>10.4f}{ratio:>22}")
    print(f"\nengine / numpy floor = {engine_time / floor_time:.2f} (the engine also computes "
          "Egger, funnel, CIs, P values and weights for every pool, and handles any k)")
    if r_time is None and not args.no_r:
        print("metafor: Rscript with metafor not available, skipped")


if __name__ == "__main__":
    main()
