"""Reads of the audit trail (selectors): a review's events as a user may see them, newest first,
each with who, when, and the old and new values.

The events themselves are written by database triggers (``studies.models.audit``). Blinding holds
here as everywhere (DESIGN.md), by the rules of ``studies.access``: the trail of a screening
decision by the decisions' rule on its record and stage (so neither a screener nor a manager who
also screens can read a vote early through the trail); a risk-of-bias event only if its
assessment is visible to the user.
"""
from dataclasses import dataclass
from datetime import datetime
import heapq

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet, Window
from django.db.models.functions import JSONObject, Lag

from studies import access
from studies.models import (
    EVENT_MODELS, Invitation, OutcomeData, Report, Review, ReviewMembership, RiskOfBiasAssessment, RiskOfBiasJudgment,
    Rob2Assessment, Rob2DomainJudgment, Rob2SignallingAnswer, ScreeningDecision, ScreeningResolution, Study,
)

# The name of each audited entity in the API, and how its event rows reach their review (through
# the foreign keys copied into the snapshot: the rows they point to may since have been deleted,
# in which case their events stay in the database but drop out of this per-review view).
ENTITIES: dict[str, tuple[type, str]] = {
    "review": (Review, "id"),
    "study": (Study, "review_id"),
    "report": (Report, "study__review_id"),
    "decision": (ScreeningDecision, "record__review_id"),
    "resolution": (ScreeningResolution, "record__review_id"),
    "outcome-data": (OutcomeData, "study__review_id"),
    "rob1-assessment": (RiskOfBiasAssessment, "study__review_id"),
    "rob1-judgment": (RiskOfBiasJudgment, "assessment__study__review_id"),
    "rob2-assessment": (Rob2Assessment, "study__review_id"),
    "rob2-domain": (Rob2DomainJudgment, "assessment__study__review_id"),
    "rob2-answer": (Rob2SignallingAnswer, "assessment__study__review_id"),
    # The team (issue 18): who was given or lost which role, and each invitation's life (its link's
    # key is not in the trail, studies.models.audit).
    "membership": (ReviewMembership, "review_id"),
    "invitation": (Invitation, "review_id"),
}


@dataclass(frozen=True)
class AuditEvent:
    """One change: ``old`` is empty for an insert, ``new`` for a delete."""

    entity: str
    event_id: int
    object_id: int
    action: str
    at: datetime
    user: str | None
    url: str | None
    old: dict | None
    new: dict | None

    @property
    def changed(self) -> list[str]:
        old, new = self.old or {}, self.new or {}
        return sorted(key for key in {*old, *new} if old.get(key) != new.get(key))


def _snapshot_fields(event_model) -> list:
    return [f for f in event_model._meta.concrete_fields if not f.name.startswith("pgh_")]


def _blinded(entity: str, events: QuerySet, user, review: Review) -> QuerySet:
    if entity == "decision":
        return access.decision_events_visible(user, events)
    rob = {
        "rob1-assessment": (access.rob1_assessments_visible, RiskOfBiasAssessment, "pgh_obj_id"),
        "rob1-judgment": (access.rob1_assessments_visible, RiskOfBiasAssessment, "assessment_id"),
        "rob2-assessment": (access.rob2_assessments_visible, Rob2Assessment, "pgh_obj_id"),
        "rob2-domain": (access.rob2_assessments_visible, Rob2Assessment, "assessment_id"),
        "rob2-answer": (access.rob2_assessments_visible, Rob2Assessment, "assessment_id"),
    }.get(entity)
    if rob is not None:
        visible, model, column = rob
        mine = visible(user, model.objects.filter(study__review=review)).order_by().values("pk")
        return events.filter(**{f"{column}__in": mine})
    return events


def audit_events_queryset(*, entity: str, user, review: Review) -> QuerySet:
    """One entity's events in a review that ``user`` may see, each annotated with its snapshot
    (``values``) and the snapshot before it of the same row (``previous``, the old values)."""
    model, path = ENTITIES[entity]
    event_model = EVENT_MODELS[model]
    snapshot = JSONObject(**{f.attname: F(f.attname) for f in _snapshot_fields(event_model)})
    events = event_model.objects.filter(**{path: review.pk})
    events = _blinded(entity, events, user, review)
    return events.annotate(
        values=snapshot,
        previous=Window(Lag(snapshot), partition_by=[F("pgh_obj_id")], order_by=F("pgh_id").asc()),
    ).select_related("pgh_context")


def audit_trail(*, user, review: Review, entities: list[str] | None = None, offset: int = 0,
                limit: int = 100) -> tuple[int, list[AuditEvent]]:
    """The review's events that ``user`` may see, newest first: ``(count, page)``.

    One query per entity for the page (each reads at most ``offset + limit`` rows, merged here)
    and one count per entity; the users named on the page in one more.
    """
    names = entities or list(ENTITIES)
    querysets = {name: audit_events_queryset(entity=name, user=user, review=review) for name in names}
    count = sum(qs.count() for qs in querysets.values())
    streams = [
        [(-row.pgh_created_at.timestamp(), name, -row.pgh_id, row)
         for row in qs.order_by("-pgh_created_at", "-pgh_id")[:offset + limit]]
        for name, qs in querysets.items()
    ]
    page = [row for row in heapq.merge(*streams, key=lambda item: item[:3])][offset:offset + limit]
    user_ids = {(r[3].pgh_context.metadata or {}).get("user") for r in page if r[3].pgh_context_id}
    usernames = dict(get_user_model().objects.filter(pk__in={u for u in user_ids if u}).values_list("pk", "username"))
    events = []
    for _, name, _, row in page:
        metadata = row.pgh_context.metadata if row.pgh_context_id and row.pgh_context else {}
        old = row.previous if row.pgh_label == "update" else row.values if row.pgh_label == "delete" else None
        new = row.values if row.pgh_label != "delete" else None
        events.append(AuditEvent(entity=name, event_id=row.pgh_id, object_id=row.pgh_obj_id, action=row.pgh_label,
                                 at=row.pgh_created_at, user=usernames.get(metadata.get("user")),
                                 url=metadata.get("url"), old=old, new=new))
    return count, events


__all__ = ["ENTITIES", "AuditEvent", "audit_trail", "audit_events_queryset"]
