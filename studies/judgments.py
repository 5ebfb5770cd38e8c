"""The words of risk-of-bias judgments, stated once for the tools (``studies.rob1``, ``studies.rob2``),
the database (``studies.models.risk_of_bias``), the figures and the reader pages. Pure Python.

RoB 1 judges low / unclear / high risk (Higgins et al., BMJ 2011;343:d5928); RoB 2 low / some
concerns / high (Sterne et al., BMJ 2019;366:l4898); a study or result not yet judged is "not
assessed" in figures, as in robvis.
"""
LOW, SOME_CONCERNS, UNCLEAR, HIGH, NOT_ASSESSED = "low", "some_concerns", "unclear", "high", "not_assessed"

LABELS: dict[str, str] = {LOW: "Low risk", SOME_CONCERNS: "Some concerns", UNCLEAR: "Unclear risk",
                          HIGH: "High risk", NOT_ASSESSED: "Not assessed"}

ROB1 = (LOW, UNCLEAR, HIGH)
ROB2 = (LOW, SOME_CONCERNS, HIGH)
