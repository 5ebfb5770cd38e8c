"""Figures of a meta-analysis as SVG, built on the server from the engine's JSON payload.

Pure Python (no Django): each builder turns a payload into a frozen layout dataclass and the
layout into an SVG string, so tests can check what a figure shows without a browser.
"""
from analysis.figures.forest import ForestLayout, ForestRow, forest_layout, forest_svg
from analysis.figures.funnel import FunnelLayout, funnel_layout, funnel_svg
from analysis.figures.history import HistoryLayout, HistoryPoint, history_layout, history_svg
from analysis.figures.risk_of_bias import (
    RobRow,
    RobTable,
    summary_bar_svg,
    summary_percentages,
    table_from_payload,
    traffic_light_svg,
)

__all__ = [
    "ForestLayout", "ForestRow", "forest_layout", "forest_svg",
    "FunnelLayout", "funnel_layout", "funnel_svg",
    "HistoryLayout", "HistoryPoint", "history_layout", "history_svg",
    "RobRow", "RobTable", "summary_bar_svg", "summary_percentages", "table_from_payload", "traffic_light_svg",
]
