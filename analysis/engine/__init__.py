"""The meta-analysis engine: pure functions over NumPy arrays, no Django.

RevMan 5 parity by default (Deeks & Higgins 2010, *Statistical algorithms in Review
Manager 5*), metafor's methods where RevMan has none (REML, Paule–Mandel,
Hartung–Knapp–Sidik–Jonkman, prediction intervals), and a batch path that analyses
every analysis of a review in one vectorised pass.

Public entry points
-------------------
analyse_batch(data, analysis, *, options, n_analyses=None, subgroup=None, order=None,
              directions=Direction.HIGHER_IS_BETTER) -> BatchResult
    Every analysis of a review at once. ``data`` holds all study rows (flat arrays);
    ``analysis`` is an integer id per row. ``BatchResult`` holds read-only arrays;
    ``BatchResult.analysis(i)`` returns the scalar :class:`AnalysisResult` of one.
analyse(data, *, options, subgroup=None, order=None, direction=...) -> AnalysisResult
    One analysis, through the batch path.
study_effects(data, measure) -> StudyEffects
    Per-study effects and SEs only.

Inputs: :class:`ContinuousArms`, :class:`DichotomousArms`, :class:`GenericEstimates`
(arm 1 = experimental) and :class:`AnalysisOptions` (measure, IV/MH, DL/REML/PM, model
rule and I² threshold, HKSJ, level).

Conversions with provenance: :func:`sd_from_se`, :func:`sd_from_ci`,
:func:`sd_from_difference_ci`, :func:`sd_from_t`, :func:`sd_from_p`,
:func:`mean_sd_from_median`, :func:`sd_change_from_baseline`,
:func:`correlation_from_change`.

Display: :mod:`analysis.engine.formatting` (RevMan-style P, I², weights, the
"Heterogeneity: …" lines), :func:`result_to_dict` (JSON-ready payload of one
:class:`AnalysisResult`) and :func:`batch_to_dicts` (the same payloads for every
analysis of a :class:`BatchResult` at once, formatted from its arrays without the
scalar views: use it for whole reviews).

Example
-------
>>> import numpy as np
>>> from analysis.engine import AnalysisOptions, ContinuousArms, analyse
>>> arms = ContinuousArms(n1=[30, 25], mean1=[10.0, 12.0], sd1=[4.0, 5.0],
...                       n2=[30, 25], mean2=[12.0, 13.0], sd2=[4.0, 5.0])
>>> result = analyse(arms, options=AnalysisOptions(measure="MD"))
>>> round(result.overall.fixed.estimate, 4)
-1.6522
"""

from .batch import analyse, analyse_batch
from .conversions import (
    Converted,
    MeanSD,
    Provenance,
    correlation_from_change,
    mean_sd_from_median,
    reported,
    sd_change_from_baseline,
    sd_from_ci,
    sd_from_difference_ci,
    sd_from_p,
    sd_from_se,
    sd_from_t,
)
from .direction import Direction, Favours, ForestLabels, favoured_arm, forest_labels
from .effect_sizes import (
    ContinuousArms,
    DichotomousArms,
    MIN_WEIGHABLE_SE,
    GenericEstimates,
    StudyData,
    StudyEffects,
    StudyStatus,
    study_effects,
)
from .options import (
    AnalysisOptions,
    Measure,
    Model,
    ModelRule,
    PoolingMethod,
    Tau2Method,
)
from .report import batch_to_dicts, result_to_dict
from .results import (
    AnalysisResult,
    BatchResult,
    EggerTest,
    Estimate,
    FunnelData,
    Heterogeneity,
    Pooled,
    RandomEffects,
    SensitivityRow,
    StudyResult,
    SubgroupResult,
    SubgroupTest,
)

__all__ = [
    "MIN_WEIGHABLE_SE",
    "AnalysisOptions",
    "AnalysisResult",
    "BatchResult",
    "ContinuousArms",
    "Converted",
    "DichotomousArms",
    "Direction",
    "EggerTest",
    "Estimate",
    "Favours",
    "ForestLabels",
    "FunnelData",
    "GenericEstimates",
    "Heterogeneity",
    "MeanSD",
    "Measure",
    "Model",
    "ModelRule",
    "Pooled",
    "PoolingMethod",
    "Provenance",
    "RandomEffects",
    "SensitivityRow",
    "StudyData",
    "StudyEffects",
    "StudyResult",
    "StudyStatus",
    "SubgroupResult",
    "SubgroupTest",
    "Tau2Method",
    "analyse",
    "analyse_batch",
    "batch_to_dicts",
    "correlation_from_change",
    "favoured_arm",
    "forest_labels",
    "mean_sd_from_median",
    "reported",
    "result_to_dict",
    "sd_change_from_baseline",
    "sd_from_ci",
    "sd_from_difference_ci",
    "sd_from_p",
    "sd_from_se",
    "sd_from_t",
    "study_effects",
]
