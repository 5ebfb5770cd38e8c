"""Dual extraction: each extractor's own, blinded copy of a study's extraction form.

The analysed numbers are always the ``OutcomeData`` rows (and characteristics and arms); in a review
with dual extraction those rows are the consensus, written from the consensus page once both
extractors have submitted. An extractor's entry is kept as the form's values (JSON) rather than as
shadow rows, so no query of the analysed data can ever pick up a draft.
"""
from django.conf import settings
from django.db import models

from studies.models.studies import Study


class StudyExtraction(models.Model):
    """One extractor's independent entry of one study's data (dual extraction)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="extractions")
    extractor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extractions")
    # {"characteristics": {field id: value}, "arms": {arm id: {"label", "randomised"}},
    #  "cells": {"<outcome>_<time point>_<arm>": {"n", "mean", "sd", "events", "total", "value_type",
    #  "instrument", "source_location", "provenance", "derivation"}}}
    data = models.JSONField(default=dict, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["study", "extractor"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "extractor"], name="study_extraction_one_per_extractor",
                violation_error_message="This extractor already has an entry for this study.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study} extracted by {self.extractor}"
