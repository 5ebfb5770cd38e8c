"""The audit trail as a page, for the review's managers: who changed what and when, filtered by
person, record, study, date and kind of change, newest first. The same reads as the API's
(``studies.audit``), so the page shows exactly what ``GET /api/reviews/<slug>/audit/`` answers, blinding
included."""
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studies import access
from studies.audit import (
    ENTITIES,
    ENTITY_LABELS,
    AuditEvent,
    audit_people,
    audit_subjects,
    audit_trail,
)
from studies.models import Study

PAGE_SIZE = 50

# The actions of ``studies.audit.ACTIONS`` in words.
ACTION_LABELS = {"insert": "added", "update": "changed", "delete": "removed"}
# Values longer than this are shortened in the table, with the full value a click away.
SHORT = 80


def entity_label(entity: str) -> str:
    return ENTITY_LABELS.get(entity, entity)


class AuditFilterForm(forms.Form):
    """The filters of ``studies.audit.audit_trail``, as a GET form (the API's are the same)."""

    person = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Person")
    record = forms.IntegerField(min_value=1, required=False, label="Record id",
                                widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    study = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Study")
    date_from = forms.DateField(required=False, label="From (date)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To (date, inclusive)",
                              widget=forms.DateInput(attrs={"type": "date"}))
    entity = forms.ChoiceField(required=False, label="Kind of entry")
    action = forms.ChoiceField(required=False, label="Change",
                               choices=[("", "Any"), *((key, label) for key, label in ACTION_LABELS.items())])
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False, widget=forms.HiddenInput)

    def __init__(self, data, *, people: list[tuple[int, str]], studies: list[tuple[int, str]]) -> None:
        super().__init__(data)
        self.fields["person"].choices = [("", "Anyone"), *people]
        self.fields["study"].choices = [("", "Any study"), *studies]
        self.fields["entity"].choices = [("", "Any"), *sorted(((key, entity_label(key)) for key in ENTITIES),
                                                              key=lambda choice: choice[1])]

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("date_from"), cleaned.get("date_to")
        if since and until and since > until:
            self.add_error("date_to", "The end date must not be before the start date.")
        return cleaned


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class EventRow:
    event: AuditEvent
    entity: str
    subject: str
    action: str
    changes: list[Change]


def _shown(field, value, usernames: dict[int, str]) -> str:
    """A snapshot value in words: a person by name, a choice by its label, a moment to the second,
    yes/no, lists joined; nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if _names_a_person(field):
        return usernames.get(value, f"user {value}")
    if isinstance(field, models.DateTimeField) and isinstance(value, str) and (moment := parse_datetime(value)):
        return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"
    return str(value)


def _names_a_person(field) -> bool:
    return isinstance(field, models.ForeignKey) and field.related_model is get_user_model()


def _fields(entity: str) -> dict[str, models.Field]:
    return {field.attname: field for field in ENTITIES[entity][0]._meta.concrete_fields}


def _usernames(events: list[AuditEvent]) -> dict[int, str]:
    """The people the page's rows name in their fields (screener, tutor, assessor...), in one query."""
    ids = {snapshot.get(name) for event in events for snapshot in (event.old or {}, event.new or {})
           for name, field in _fields(event.entity).items() if _names_a_person(field)} - {None}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}


def _changes(event: AuditEvent, usernames: dict[int, str]) -> list[Change]:
    fields = _fields(event.entity)
    old, new = event.old or {}, event.new or {}
    return [Change(field=str(fields[name].verbose_name) if name in fields else name,
                   old=_shown(fields.get(name), old.get(name), usernames),
                   new=_shown(fields.get(name), new.get(name), usernames))
            for name in event.changed if name != "id"]  # the row's id is named in "what"


@login_required
def audit_page(request: HttpRequest, slug: str) -> HttpResponse:
    review, _ = access.review_for(request, slug, access.MANAGER, action="read the audit trail")
    studies = list(Study.objects.filter(review=review).order_by("label", "pk").values_list("pk", "label"))
    form = AuditFilterForm(request.GET, people=audit_people(user=request.user, review=review), studies=studies)
    if not form.is_valid():
        return render(request, "studies/audit/trail.html", {"review": review, "form": form}, status=400)
    given = form.cleaned_data
    page = given["page"] or 1
    count, events = audit_trail(
        user=request.user, review=review, entities=[given["entity"]] if given["entity"] else None,
        offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, changed_by=given["person"], record=given["record"],
        study=given["study"], since=_midnight(given["date_from"]) if given["date_from"] else None,
        until=_midnight(given["date_to"] + timedelta(days=1)) if given["date_to"] else None,
        actions=[given["action"]] if given["action"] else None,
    )
    subjects, usernames = audit_subjects(review=review, events=events), _usernames(events)
    rows = [EventRow(event=event, entity=entity_label(event.entity), subject=subjects[event.entity, event.event_id],
                     action=ACTION_LABELS[event.action], changes=_changes(event, usernames)) for event in events]
    pages = max(1, -(-count // PAGE_SIZE))
    return render(request, "studies/audit/trail.html", {
        "review": review, "form": form, "rows": rows, "count": count, "page": page, "pages": pages,
        "previous_page": page - 1 if page > 1 else None, "next_page": page + 1 if page < pages else None,
        "short": SHORT,
    })
