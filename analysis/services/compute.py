"""Step 2 of the living analysis: run the engine over every outcome, subgroup and sensitivity set of
the loaded inputs. No database access: a pure function of ``ReviewInputs``."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from analysis.engine import (
    AnalysisOptions,
    ContinuousArms,
    DichotomousArms,
    Direction,
    GenericEstimates,
    Measure,
    analyse_batch,
    batch_to_dicts,
)
from analysis.engine.grade import GradeSettings, outcome_assess
from analysis.models import AnalysisSet
from analysis.services.inputs import NOT_REPORTED, OutcomeInputs, ReviewInputs, RiskOfBiasInputs, StudyRow
from studies import rob1, rob2
from studies.models import CharacteristicField, Outcome, Review



# --- Computation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputedResult:
    outcome_id: int
    subgroup_field_id: int | None
    analysis_set: str
    payload: dict


def analysis_options(review: Review, measure: str, outcome: Outcome | None = None) -> AnalysisOptions:
    """The engine options for one measure under a review's settings (RevMan defaults: MH for
    dichotomous measures, Peto for the Peto odds ratio, inverse variance for the rest); with
    ``outcome``, that outcome's own settings where it has them (method, model, the totals' and the
    studies' confidence levels: RevMan keeps them per analysis)."""
    measure = Measure(outcome.effect_measure if outcome is not None else measure)
    if measure is Measure.GENERIC and outcome is not None and outcome.log_scale:
        measure = Measure.GENERIC_RATIO  # entered as logs of a ratio: shown exponentiated
    peto = measure is Measure.PETO_OR
    default_method = "PETO" if peto else "MH" if measure.is_dichotomous else "IV"
    level = (outcome.confidence_level if outcome is not None else None) or review.confidence_level
    return AnalysisOptions(
        measure=measure,
        method=(outcome.pooling_method if outcome is not None else "") or default_method,
        tau2_method=review.tau2_estimator,
        # The Peto method is fixed-effect only (Cochrane Handbook 5.1, Table 9.4.a), whatever the review's rule.
        model_rule="fixed" if peto else (outcome.model_rule if outcome is not None else "") or review.model_rule,
        i2_threshold=review.i2_threshold,
        hksj=review.hartung_knapp,
        level=level,
        study_level=(outcome.study_confidence_level if outcome is not None else None) or level,
    )


def _arm_arrays(rows: list[StudyRow], measure: Measure):
    if not (measure.is_dichotomous or measure.is_continuous):
        return GenericEstimates(effect=[r.effect for r in rows], se=[r.se for r in rows])
    if measure.is_dichotomous:
        return DichotomousArms(
            events1=[r.intervention.events for r in rows], total1=[r.intervention.total for r in rows],
            events2=[r.control.events for r in rows], total2=[r.control.total for r in rows],
        )
    return ContinuousArms(
        n1=[r.intervention.n for r in rows], mean1=[r.intervention.mean for r in rows],
        sd1=[r.intervention.sd for r in rows], n2=[r.control.n for r in rows],
        mean2=[r.control.mean for r in rows], sd2=[r.control.sd for r in rows],
    )


def _arm_payload(row: StudyRow, measure: Measure) -> dict:
    if not (measure.is_dichotomous or measure.is_continuous):
        # Generic inverse variance: the confirmed effect and SE, and the group sizes when entered.
        return {"study": row.label, "year": row.year, "effect": row.effect, "se": row.se,
                "intervention": {"n": row.intervention.n}, "control": {"n": row.control.n}}
    keys = ("events", "total") if measure.is_dichotomous else ("n", "mean", "sd")
    return {
        "study": row.label, "year": row.year,
        "intervention": {key: getattr(row.intervention, key) for key in keys},
        "control": {key: getattr(row.control, key) for key in keys},
    }


def review_results_compute(inputs: ReviewInputs) -> list[ComputedResult]:
    """Run the engine over every outcome (overall and per subgroup variable), one vectorised
    batch call per set of engine options (the measure, and an outcome's own settings) and subgroup
    variable."""
    by_options: dict[AnalysisOptions, list[OutcomeInputs]] = defaultdict(list)
    for item in inputs.outcomes:
        if item.rows:
            by_options[analysis_options(inputs.review, item.outcome.effect_measure, item.outcome)].append(item)
    results: list[ComputedResult] = []
    for options, items in by_options.items():
        rows = [row for item in items for row in item.rows]
        analysis_ids = np.repeat(np.arange(len(items)), [len(item.rows) for item in items])
        labels = [row.label for row in rows]
        data = _arm_arrays(rows, options.measure)
        directions = [Direction(item.outcome.direction) for item in items]
        years = np.array([row.year or 0 for row in rows], dtype=float)
        splits: list[CharacteristicField | None] = [None, *inputs.subgroup_fields]
        for split_field in splits:
            subgroup_keys, subgroup_labels = None, None
            if split_field is not None:
                subgroup_labels = [*split_field.choices, NOT_REPORTED]
                index = {value: i for i, value in enumerate(subgroup_labels)}
                subgroup_keys = [index.get(inputs.subgroup_values.get((split_field.pk, row.study_id)),
                                           len(subgroup_labels) - 1) for row in rows]
            # Cumulative analysis, leave-one-out, Egger and the funnel belong to the overall analysis;
            # a subgroup split would only repeat them.
            batch = analyse_batch(data, analysis_ids, options=options, n_analyses=len(items),
                                  subgroup=subgroup_keys, order=years if split_field is None else None,
                                  directions=directions)
            for item, payload in zip(items, batch_to_dicts(batch, labels, subgroup_labels), strict=True):
                if split_field is not None:
                    for key in ("leave_one_out", "cumulative", "egger", "funnel"):
                        payload.pop(key)
                payload["outcome"] = item.outcome.name
                if item.outcome.generic_measure:
                    payload["measure_name"] = item.outcome.generic_measure  # e.g. "Hazard Ratio", as RevMan shows it
                payload["arms"] = [_arm_payload(row, options.measure) for row in item.rows]
                payload["incomplete"] = list(item.incomplete)
                if split_field is None:
                    rob_column = _risk_of_bias_payload(inputs.risk_of_bias, item)
                    if rob_column is not None:
                        payload["risk_of_bias"] = rob_column
                    # The automatic GRADE judgments (issue 24), computed with the analysis so the
                    # summary of findings is as current as the forest plot; overrides apply on read.
                    payload["grade"] = outcome_assess(
                        payload, inputs.grade_settings.get(item.outcome.pk, GradeSettings()),
                        funnel_min_studies=inputs.review.funnel_min_studies).as_dict()
                results.append(ComputedResult(item.outcome.pk, split_field.pk if split_field else None, AnalysisSet.MAIN,
                                              payload))
        results += _risk_of_bias_sets_compute(inputs.risk_of_bias, items, options)
        results += _imputation_set_compute(items, options)
    return results


# The risk-of-bias sensitivity analyses, and the consensus overall judgments each keeps. A study
# without a consensus judgment is left out of both: it is not known to be at low (or not high) risk.
ROB_SETS: tuple[tuple[str, frozenset[str]], ...] = (
    (AnalysisSet.ROB_LOW, frozenset({rob2.LOW})),
    (AnalysisSet.ROB_EXCLUDE_HIGH, frozenset({rob2.LOW, rob2.SOME_CONCERNS, rob1.UNCLEAR})),
)
NOT_ASSESSED = "not_assessed"


def _risk_of_bias_payload(rob: RiskOfBiasInputs, item: OutcomeInputs) -> dict | None:
    """The consensus judgments of an outcome's studies, for the forest plot's risk-of-bias column."""
    studies = {}
    for row in item.rows:
        key = rob.key(row.study_id, item.outcome.pk)
        if key in rob.domains or key in rob.overall:
            studies[row.label] = {"domains": list(rob.domains.get(key, ())), "overall": rob.overall.get(key)}
    if not studies:
        return None
    return {"tool": rob.tool, "domains": [list(label) for label in rob.domain_labels], "studies": studies}


def _risk_of_bias_sets_compute(rob: RiskOfBiasInputs, items: list[OutcomeInputs], options: AnalysisOptions
                               ) -> list[ComputedResult]:
    """Pool each outcome again over the studies each risk-of-bias set keeps (one batch call per set);
    an outcome none of whose studies the set keeps gets no result for that set."""
    results: list[ComputedResult] = []
    if not rob.overall:
        return results
    for set_name, kept_judgments in ROB_SETS:
        chosen: list[tuple[OutcomeInputs, list[StudyRow], dict[str, str]]] = []
        for item in items:
            kept, left_out = [], {}
            for row in item.rows:
                judgment = rob.overall.get(rob.key(row.study_id, item.outcome.pk))
                if judgment in kept_judgments:
                    kept.append(row)
                else:
                    left_out[row.label] = judgment or NOT_ASSESSED
            if kept:
                chosen.append((item, kept, left_out))
        if not chosen:
            continue
        rows = [row for _, kept, _ in chosen for row in kept]
        analysis_ids = np.repeat(np.arange(len(chosen)), [len(kept) for _, kept, _ in chosen])
        batch = analyse_batch(_arm_arrays(rows, options.measure), analysis_ids, options=options,
                              n_analyses=len(chosen), directions=[Direction(i.outcome.direction) for i, _, _ in chosen])
        for (item, kept, left_out), payload in zip(chosen, batch_to_dicts(batch, [r.label for r in rows], None),
                                                   strict=True):
            for key in ("leave_one_out", "cumulative", "egger", "funnel"):
                payload.pop(key, None)
            payload["outcome"] = item.outcome.name
            payload["arms"] = [_arm_payload(row, options.measure) for row in kept]
            payload["incomplete"] = list(item.incomplete)
            payload["risk_of_bias_set"] = {"set": set_name, "tool": rob.tool, "left_out": left_out}
            results.append(ComputedResult(item.outcome.pk, None, set_name, payload))
    return results


def _imputation_set_compute(items: list[OutcomeInputs], options: AnalysisOptions) -> list[ComputedResult]:
    """The sensitivity analysis for imputation: each outcome that has imputed values pooled again
    without the studies whose data for it include one (one batch call). An outcome without imputed
    values needs no second analysis (it would equal the main one), and one all of whose studies have
    imputed values gets none (there is nothing left to pool)."""
    chosen = []
    for item in items:
        left_out = [row.label for row in item.rows if row.imputed]
        kept = [row for row in item.rows if not row.imputed]
        if left_out and kept:
            chosen.append((item, kept, left_out))
    if not chosen:
        return []
    rows = [row for _, kept, _ in chosen for row in kept]
    analysis_ids = np.repeat(np.arange(len(chosen)), [len(kept) for _, kept, _ in chosen])
    batch = analyse_batch(_arm_arrays(rows, options.measure), analysis_ids, options=options, n_analyses=len(chosen),
                          directions=[Direction(i.outcome.direction) for i, _, _ in chosen])
    results = []
    for (item, kept, left_out), payload in zip(chosen, batch_to_dicts(batch, [r.label for r in rows], None),
                                               strict=True):
        for key in ("leave_one_out", "cumulative", "egger", "funnel"):
            payload.pop(key, None)
        payload["outcome"] = item.outcome.name
        payload["arms"] = [_arm_payload(row, options.measure) for row in kept]
        payload["incomplete"] = list(item.incomplete)
        payload["imputation_set"] = {"left_out": left_out}
        results.append(ComputedResult(item.outcome.pk, None, AnalysisSet.NO_IMPUTED, payload))
    return results


def result_headline(payload: dict) -> dict:
    chosen = payload[payload["chosen_model"]]
    heterogeneity = payload["heterogeneity"]
    return {
        "k": chosen["k"], "chosen_model": payload["chosen_model"], "estimate": chosen["estimate"],
        "ci_low": chosen["ci_low"], "ci_high": chosen["ci_high"], "p_value": chosen["p"],
        "i2": heterogeneity["i2"], "tau2": heterogeneity["tau2"],
    }
