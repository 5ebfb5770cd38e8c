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
from django.db.models import F, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject

from studies import access
from studies.models import (
    EVENT_MODELS, Invitation, OutcomeData, Record, Report, Review, ReviewMembership, RiskOfBiasAssessment,
    RiskOfBiasJudgment, Rob2Assessment, Rob2DomainJudgment, Rob2SignallingAnswer, ScreeningDecision,
    ScreeningPrioritisation, ScreeningResolution, StoppingDecision, Study, StudyEstimate,
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
    "study-estimate": (StudyEstimate, "study__review_id"),
    "rob1-assessment": (RiskOfBiasAssessment, "study__review_id"),
    "rob1-judgment": (RiskOfBiasJudgment, "assessment__study__review_id"),
    "rob2-assessment": (Rob2Assessment, "study__review_id"),
    "rob2-domain": (Rob2DomainJudgment, "assessment__study__review_id"),
    "rob2-answer": (Rob2SignallingAnswer, "assessment__study__review_id"),
    # The team (issue 18): who was given or lost which role, and each invitation's life (its link's
    # key is not in the trail, studies.models.audit).
    "membership": (ReviewMembership, "review_id"),
    "invitation": (Invitation, "review_id"),
    # Prioritised screening (issue 22): the manager's choice of order, and each decision to stop.
    "prioritisation": (ScreeningPrioritisation, "review_id"),
    "stopping-decision": (StoppingDecision, "review_id"),
}

# The filters by record and by study (``audit_trail``): the column of each entity's events that names
# one (in the snapshot, or through the row it points to). An entity without one has no events about
# a record (a study) and drops out when that filter is set.
RECORD_COLUMNS: dict[str, str] = {
    "report": "record_id",
    "decision": "record_id",
    "resolution": "record_id",
}
STUDY_COLUMNS: dict[str, str] = {
    "study": "pgh_obj_id",
    "report": "study_id",
    "outcome-data": "study_id",
    "study-estimate": "study_id",
    "rob1-assessment": "study_id",
    "rob1-judgment": "assessment__study_id",
    "rob2-assessment": "study_id",
    "rob2-domain": "assessment__study_id",
    "rob2-answer": "assessment__study_id",
}
ACTIONS = ("insert", "update", "delete")

# Each audited entity in the review's words (the audit page's labels).
ENTITY_LABELS: dict[str, str] = {
    "review": "Review settings",
    "study": "Study",
    "report": "Report of a study",
    "decision": "Screening decision",
    "resolution": "Tutor's resolution",
    "outcome-data": "Outcome data",
    "study-estimate": "Study estimate (generic inverse variance)",
    "rob1-assessment": "Risk of bias (RoB 1) assessment",
    "rob1-judgment": "Risk of bias (RoB 1) domain judgment",
    "rob2-assessment": "Risk of bias (RoB 2) assessment",
    "rob2-domain": "Risk of bias (RoB 2) domain judgment",
    "rob2-answer": "Risk of bias (RoB 2) signalling answer",
    "membership": "Team membership",
    "invitation": "Invitation to the team",
    "prioritisation": "Screening order (ranked or in order)",
    "stopping-decision": "Decision to stop screening",
}
# Model → its event model: studies' own, and those registered by the apps above (below).
_EVENT_MODELS: dict[type, type] = dict(EVENT_MODELS)


def audit_entity_register(*, name: str, model: type, event_model: type, review_path: str, label: str) -> None:
    """Put an audited model of an app above studies in the trail (studies may not import it: the
    app calls this from its ``AppConfig.ready``, as analysis does for GRADE and release schedules).
    ``review_path`` leads from an event row to its review's id, as in ``ENTITIES``."""
    ENTITIES[name] = (model, review_path)
    ENTITY_LABELS[name] = label
    _EVENT_MODELS[model] = event_model


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


def visible_events(*, entity: str, user, review: Review) -> QuerySet:
    """One entity's events in a review that ``user`` may see (blinded by ``studies.access``)."""
    model, path = ENTITIES[entity]
    events = _EVENT_MODELS[model].objects.filter(**{path: review.pk})
    return _blinded(entity, events, user, review)


def audit_events_queryset(*, entity: str, user, review: Review) -> QuerySet:
    """One entity's events in a review that ``user`` may see, each annotated with its snapshot
    (``values``) and the snapshot before it of the same row (``previous``, the old values).

    ``previous`` is a subquery over all the row's events rather than a window over the selected
    ones, so that filtering the events (by person, date, action...) keeps each change's old values."""
    event_model = _EVENT_MODELS[ENTITIES[entity][0]]
    snapshot = JSONObject(**{f.attname: F(f.attname) for f in _snapshot_fields(event_model)})
    before = (event_model.objects.filter(pgh_obj_id=OuterRef("pgh_obj_id"), pgh_id__lt=OuterRef("pgh_id"))
              .order_by("-pgh_id").annotate(values=snapshot).values("values")[:1])
    return visible_events(entity=entity, user=user, review=review).annotate(
        values=snapshot, previous=Subquery(before, output_field=JSONField()),
    ).select_related("pgh_context")


def _filtered(entity: str, events: QuerySet, *, changed_by: int | None, record: int | None, study: int | None,
              since: datetime | None, until: datetime | None, actions: list[str] | None) -> QuerySet:
    if changed_by is not None:
        events = events.filter(pgh_context__metadata__user=changed_by)
    if record is not None:
        events = events.filter(**{RECORD_COLUMNS[entity]: record})
    if study is not None:
        events = events.filter(**{STUDY_COLUMNS[entity]: study})
    if since is not None:
        events = events.filter(pgh_created_at__gte=since)
    if until is not None:
        events = events.filter(pgh_created_at__lt=until)
    if actions:
        events = events.filter(pgh_label__in=actions)
    return events


def audit_trail(*, user, review: Review, entities: list[str] | None = None, offset: int = 0,
                limit: int = 100, changed_by: int | None = None, record: int | None = None,
                study: int | None = None, since: datetime | None = None, until: datetime | None = None,
                actions: list[str] | None = None) -> tuple[int, list[AuditEvent]]:
    """The review's events that ``user`` may see, newest first: ``(count, page)``.

    Filters, each applied in the database to every entity's events before they are merged: by the
    user who made the change (``changed_by``, a user id), the record or the study the event is about
    (ids; entities without one drop out), the time (``since`` inclusive, ``until`` exclusive) and the
    action (of ``ACTIONS``).

    One query per entity for the page (each reads at most ``offset + limit`` rows, merged here)
    and one count per entity; the users named on the page in one more.
    """
    names = [name for name in entities or list(ENTITIES)
             if (record is None or name in RECORD_COLUMNS) and (study is None or name in STUDY_COLUMNS)]
    filters = {"changed_by": changed_by, "record": record, "study": study, "since": since, "until": until,
               "actions": actions}
    querysets = {name: _filtered(name, audit_events_queryset(entity=name, user=user, review=review), **filters)
                 for name in names}
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


def audit_people(*, user, review: Review) -> list[tuple[int, str]]:
    """``(id, username)`` of the people who made a change in the review's trail as ``user`` may see
    it (so a blinded vote does not name its screener) or are on its team, by username. Two queries."""
    named = [visible_events(entity=name, user=user, review=review).order_by()
             .values_list("pgh_context__metadata__user", flat=True) for name in ENTITIES]
    user_ids = {pk for pk in named[0].union(*named[1:]) if isinstance(pk, int)}
    team = ReviewMembership.objects.filter(review=review).values("user_id")
    return list(get_user_model().objects.filter(Q(pk__in=user_ids) | Q(pk__in=team))
                .order_by("username").values_list("pk", "username"))


def _snapshot(event: AuditEvent) -> dict:
    return event.new or event.old or {}


def audit_subjects(*, review: Review, events: list[AuditEvent]) -> dict[tuple[str, int], str]:
    """What each event (by ``(entity, event_id)``) is about, in words: its record's citation and its
    study's label, through the columns of ``RECORD_COLUMNS`` and ``STUDY_COLUMNS``. Batched for the
    page: one query for the records, one per risk-of-bias tool for the assessments' studies, one for
    the studies. A row since deleted is named by its id."""
    record_ids = {_snapshot(e).get(RECORD_COLUMNS[e.entity]) for e in events if e.entity in RECORD_COLUMNS}
    study_of: dict[tuple[str, int], int | None] = {}
    assessments: dict[type, set[int]] = {}
    for event in events:
        column = STUDY_COLUMNS.get(event.entity)
        if column == "pgh_obj_id":
            study_of[event.entity, event.event_id] = event.object_id
        elif column == "study_id":
            study_of[event.entity, event.event_id] = _snapshot(event).get("study_id")
        elif column is not None:  # through the assessment the row belongs to
            model = ENTITIES[event.entity][0]._meta.get_field("assessment").related_model
            assessments.setdefault(model, set()).add(_snapshot(event).get("assessment_id"))
    assessment_study = {(model, pk): study_id for model, ids in assessments.items()
                        for pk, study_id in model.objects.filter(pk__in=ids - {None}, study__review=review)
                        .values_list("pk", "study_id")}
    for event in events:
        if STUDY_COLUMNS.get(event.entity, "").startswith("assessment__"):
            model = ENTITIES[event.entity][0]._meta.get_field("assessment").related_model
            study_of[event.entity, event.event_id] = assessment_study.get((model, _snapshot(event).get("assessment_id")))
    study_ids = set(study_of.values()) - {None}
    studies = dict(Study.objects.filter(review=review, pk__in=study_ids).values_list("pk", "label")) if study_ids else {}
    records = ({record.pk: str(record) for record in Record.objects.filter(review=review, pk__in=record_ids - {None})
                .only("pk", "authors", "year", "title")} if record_ids - {None} else {})
    subjects = {}
    for event in events:
        key, parts = (event.entity, event.event_id), []
        if event.entity in RECORD_COLUMNS:
            record_id = _snapshot(event).get(RECORD_COLUMNS[event.entity])
            parts.append(records.get(record_id, f"record {record_id}"))
        if key in study_of:
            study_id = study_of[key]
            parts.append(studies.get(study_id, f"study {study_id}") if study_id else "a removed assessment")
        if event.entity == "review":
            parts.append(review.title)
        subjects[key] = " · ".join(parts)
    return subjects


__all__ = ["ACTIONS", "ENTITIES", "ENTITY_LABELS", "RECORD_COLUMNS", "STUDY_COLUMNS", "AuditEvent",
           "audit_entity_register", "audit_events_queryset", "audit_people", "audit_subjects", "audit_trail",
           "visible_events"]
