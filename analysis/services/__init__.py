"""The living analysis, split by its steps (DESIGN.md, "Living analysis": the database is the ledger,
the broker only a doorbell):

1. ``inputs``: load a review's inputs in a constant number of queries;
2. ``compute``: run the engine over every analysis (no database access);
3. ``store``: keep the results only if they still describe the current data (compare-and-set), and
   record conclusion changes;
4. ``recompute``: the single-flight loop a Celery task (``analysis.tasks``) runs when data change.
"""
from analysis.services.compute import ComputedResult, analysis_options, review_results_compute
from analysis.services.inputs import ReviewInputs, analysis_inputs_load, risk_of_bias_load
from analysis.services.recompute import analysis_run_execute, review_is_behind, review_recompute, reviews_behind
from analysis.services.store import conclusion_changes_detect, i2_band, run_store

__all__ = [
    "ComputedResult", "ReviewInputs", "analysis_inputs_load", "analysis_options", "analysis_run_execute",
    "conclusion_changes_detect", "i2_band", "review_is_behind", "review_recompute", "review_results_compute",
    "reviews_behind", "risk_of_bias_load", "run_store",
]
