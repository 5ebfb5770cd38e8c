"""The ``metaanalyse`` command's core, free of Django so it can be tested directly.

``manage.py metaanalyse`` only parses arguments and turns :class:`InputError` into
Django's ``CommandError``; everything else happens here.
"""

from __future__ import annotations

import json

from .batch import analyse
from .csv_input import (
    DataKind,
    DecodedCsv,
    InputError,
    StudyTable,
    decode_csv,
    read_study_csv,
)
from .options import AnalysisOptions, Measure, ModelRule, PoolingMethod, Tau2Method
from .report import result_to_dict, text_summary
from .results import AnalysisResult

__all__ = ["DecodedCsv", "InputError", "decode_csv", "metaanalyse_csv", "run_csv_analysis"]

# Measures when --measure is not given: RevMan's defaults for each kind of data.
DEFAULT_MEASURE = {
    DataKind.CONTINUOUS: Measure.MD,
    DataKind.DICHOTOMOUS: Measure.RR,
    DataKind.GENERIC: Measure.GENERIC,
}


def run_csv_analysis(
    text: str,
    *,
    measure: str | None = None,
    method: str | None = None,
    model: str = "auto",
    i2_threshold: float = 50.0,
    tau2: str = "DL",
    hksj: bool = False,
    level: float = 0.95,
) -> tuple[AnalysisResult, StudyTable]:
    """Parse CSV text and analyse it.

    ``measure`` defaults to MD (continuous), RR (dichotomous) or GENERIC; ``method``
    to MH for dichotomous data, PETO for the Peto odds ratio and IV otherwise (the
    Peto odds ratio is analysed with the fixed-effect model only).

    Raises
    ------
    InputError
        For bad input, with the CSV line and column, or when no study is estimable.
    """
    chosen = Measure(measure.upper()) if measure else None
    table = read_study_csv(text, chosen)
    chosen = chosen or DEFAULT_MEASURE[table.kind]
    if method is None:
        method = "PETO" if chosen is Measure.PETO_OR else "MH" if chosen.is_dichotomous else "IV"
    if chosen is Measure.PETO_OR and model.lower() == "auto":
        model = "fixed"  # the Peto method is fixed-effect only (Cochrane Handbook 5.1, Table 9.4.a)
    try:
        options = AnalysisOptions(
            measure=chosen,
            method=PoolingMethod(method.upper()),
            tau2_method=Tau2Method(tau2.upper()),
            model_rule=ModelRule(model.lower()),
            i2_threshold=i2_threshold,
            hksj=hksj,
            level=level,
        )
    except ValueError as error:
        raise InputError(str(error)) from error
    result = analyse(
        table.study_data(),
        options=options,
        subgroup=table.subgroup,
        order=table.year,
    )
    if result.overall.k < 1:
        reasons = "; ".join(result.warnings)
        lines = ", ".join(str(line) for line in table.lines)
        raise InputError(f"no estimable study (lines {lines}): {reasons}")
    return result, table


def metaanalyse_csv(text: str, *, output_format: str = "json", **settings) -> str:
    """Analyse CSV text and render it as JSON (default) or a RevMan-style summary.

    ``settings`` are the keyword arguments of :func:`run_csv_analysis`.
    """
    result, table = run_csv_analysis(text, **settings)
    if output_format == "text":
        return text_summary(result, table)
    if output_format != "json":
        raise InputError(f"unknown format {output_format!r}: use json or text")
    payload = result_to_dict(result, table.studies, table.subgroup_labels)
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"
