"""Prioritised title/abstract screening (issue 22): the review's choice of order, each screener's
stored ranking, and the manager's recorded decision to stop under the stopping rule.

The ranking itself is computed by studies.prioritisation (pure) in a Celery task and stored here, so
that the next record is one index scan away however big the review (never a model run while the
screener waits).
"""
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from studies.models.records import Record
from studies.models.reviews import Review


class ScreeningOrder(models.TextChoices):
    IN_ORDER = "in_order", "In order"
    RANKED = "ranked", "Ranked by predicted relevance"


# The range a team may choose for the stopping rule's recall target and confidence: below 0.8 neither
# means much for a systematic review, and 0.999 already asks for nearly every record to be screened.
STOPPING_GUARANTEE_RANGE = (0.8, 0.999)


class ScreeningPrioritisation(models.Model):
    """How a review orders its title/abstract queue. No row = in order."""

    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="prioritisation")
    order = models.CharField(max_length=10, choices=ScreeningOrder.choices, default=ScreeningOrder.IN_ORDER)
    # When ranking was switched on: the stopping rule's sample is the records screened since then
    # (Callaghan & Müller-Hansen 2020 sample the prioritised list, not what came before it).
    ranked_since = models.DateTimeField(null=True, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    changed_at = models.DateTimeField(auto_now=True)
    # The stopping rule's guarantee, the team's to choose (as in buscar): the recall it tests for and
    # the confidence it needs. 95% and 95% are the paper's and the usual choice; a team that wants a
    # stronger guarantee screens more before the rule supports stopping.
    recall_target = models.FloatField(default=0.95)
    confidence = models.FloatField(default=0.95)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(recall_target__gte=STOPPING_GUARANTEE_RANGE[0],
                                                 recall_target__lte=STOPPING_GUARANTEE_RANGE[1]),
                                   name="prioritisation_recall_target_range",
                                   violation_error_message="The recall target must be between 0.8 and 0.999."),
            models.CheckConstraint(condition=Q(confidence__gte=STOPPING_GUARANTEE_RANGE[0],
                                                 confidence__lte=STOPPING_GUARANTEE_RANGE[1]),
                                   name="prioritisation_confidence_range",
                                   violation_error_message="The confidence must be between 0.8 and 0.999."),
        ]

    def __str__(self) -> str:
        return f"{self.review}: {self.get_order_display()}"


class ScreenerRanking(models.Model):
    """One screener's latest ranking of a review's title/abstract records: when it was trained, and on
    how many labels (those the screener may see: their own decisions and settled records)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="screener_rankings")
    screener = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    trained_at = models.DateTimeField()
    labels_used = models.PositiveIntegerField()
    relevant_used = models.PositiveIntegerField()
    # The screener's decision count when training started: the next retraining is due a few
    # decisions later (studies.services.prioritisation.RETRAIN_EVERY).
    decisions_at_training = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "screener"], name="screener_ranking_one_per_review"),
        ]

    def __str__(self) -> str:
        return f"Ranking of {self.review} for {self.screener}"


class RankedRecord(models.Model):
    """A record's place in one screener's ranking (1 = most likely relevant) and the terms that put it
    there."""

    ranking = models.ForeignKey(ScreenerRanking, on_delete=models.CASCADE, related_name="records")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    top_terms = ArrayField(models.CharField(max_length=200), default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ranking", "position"], name="ranked_record_unique_position"),
            models.UniqueConstraint(fields=["ranking", "record"], name="ranked_record_unique_record"),
        ]


class StoppingDecision(models.Model):
    """The manager's decision to stop title/abstract screening, with the stopping rule's evidence at
    that moment (PRISMA 2020: "records not screened after the stopping rule")."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="stopping_decisions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)
    rule = models.CharField(max_length=200, default="Callaghan & Müller-Hansen 2020 hypergeometric test")
    recall_target = models.FloatField()
    confidence = models.FloatField()
    p_value = models.FloatField()
    records_total = models.PositiveIntegerField()
    records_screened = models.PositiveIntegerField()
    relevant_found = models.PositiveIntegerField()
    note = models.TextField(blank=True, help_text="Why the team stops (or stops although the rule does not say so).")
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["review", "-decided_at"]
        constraints = [
            models.UniqueConstraint(fields=["review"], condition=Q(withdrawn_at__isnull=True),
                                    name="stopping_decision_one_standing",
                                    violation_error_message="This review has already decided to stop."),
            models.CheckConstraint(condition=Q(records_screened__lte=models.F("records_total")),
                                   name="stopping_decision_screened_within_total"),
        ]

    def __str__(self) -> str:
        return f"Stop screening {self.review} ({self.decided_at:%Y-%m-%d})"
