"""The screening pages: the screener's one-record-at-a-time page, the tutor's conflicts queue, the
agreement statistics, and linking included records to studies. Plain forms that work without
JavaScript; ``studies/static/studies/screening.js`` adds the keyboard shortcuts.

Access is deny-by-default: people outside a review's team get 404 (the review does not exist for
them), members without the page's role get 403. Blinding is never a template decision: the pages
read decisions only through ``access.decisions_visible``, or the signed-in screener's own.
"""
from __future__ import annotations

from dataclasses import dataclass
import html
import re

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from reviewsite import shared_cache
from studies import access, selectors
from studies.agreement import agreement
from studies.models import (
    Decision,
    ExclusionReason,
    FullTextDocument,
    FullTextStatus,
    Record,
    Review,
    Role,
    ScreeningDecision,
    ScreeningStatus,
    Stage,
    Study,
)
from studies.services import screening as services

OVERSEERS = access.OVERSEERS


def _review_for(request: HttpRequest, slug: str, roles: set[str]) -> tuple[Review, frozenset[str]]:
    return access.review_for(request, slug, roles, action="use this screening page")


def _id(value: str | None) -> int:
    """A record, study or reason id from a form or query string; anything else is a 404, not a 500."""
    if value is None or not str(value).isdigit():
        raise Http404("No such item.")
    return int(value)


def _reason(review: Review, value: str | None) -> ExclusionReason | None:
    if not value:
        return None
    return get_object_or_404(ExclusionReason, review=review, pk=_id(value))


def _stage(stage: str) -> Stage:
    if stage not in Stage.values:
        raise Http404("No such stage.")
    return Stage(stage)


def highlight(value: str, include: list[str], exclude: list[str]) -> SafeString:
    """The text, escaped, with the review's inclusion and exclusion terms marked (case-insensitive,
    matched at word starts so "peer" marks "peer-led" but not "compeer")."""
    escaped = html.escape(value)
    terms = [(t, "include") for t in include if t.strip()] + [(t, "exclude") for t in exclude if t.strip()]
    if not terms:
        return mark_safe(escaped)
    kinds = {html.escape(t.strip()).lower(): kind for t, kind in terms}
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(kinds, key=len, reverse=True)) + r")",
                         re.IGNORECASE)
    marked = pattern.sub(lambda m: f'<mark class="{kinds[m.group(1).lower()]}">{m.group(1)}</mark>', escaped)
    return mark_safe(marked)  # noqa: S308 -- built from escaped text and escaped terms only


@login_required
@require_GET
def screening_home(request: HttpRequest, slug: str) -> HttpResponse:
    """Where each member of the team goes next."""
    review, roles = _review_for(request, slug, {Role.SCREENER, Role.TUTOR, Role.MANAGER})
    return render(request, "studies/screening/home.html", {
        "review": review, "roles": roles, "stages": Stage.choices,
        "is_screener": Role.SCREENER in roles, "is_overseer": bool(roles & OVERSEERS) or request.user.is_superuser,
    })


PROGRESS_SECONDS = 10


def _progress(review: Review, stage: str, user) -> dict:
    """The screener's own progress and the review's, cached for a few seconds (on a review of
    100,000 records each count costs tens of milliseconds, more than the rest of the page). The
    review's is decisions made of decisions needed, so it moves by one for each decision whatever
    the other screener did: it says nothing about agreement."""
    key = f"screening-progress:{review.pk}:{stage}"
    shared = shared_cache.get(key)  # a miss while Redis is down: counted from PostgreSQL instead
    if shared is None:
        # One grouped count gives the review's total and every screener's own, so no screener's
        # page pays for a count of its own (each was as dear as the whole review's).
        eligible = selectors.screening_records(review=review, stage=stage)
        per_screener = dict(ScreeningDecision.objects.filter(record__in=eligible, stage=stage).order_by()
                            .values_list("screener").annotate(n=Count("pk")))
        shared = (eligible.count(), per_screener)
        shared_cache.set(key, shared, timeout=PROGRESS_SECONDS)
    total, per_screener = shared
    made, mine = sum(per_screener.values()), per_screener.get(user.pk, 0)
    return {"total": total, "mine": mine, "made": made, "needed": 2 * total, "seconds": PROGRESS_SECONDS,
            "mine_percent": round(100 * mine / total) if total else 100,
            "review_percent": round(100 * made / (2 * total)) if total else 100}


@login_required
def screen(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """``GET``: the next record in my queue (``?after=<id>`` for the one after, ``?record=<id>`` for a
    given one); ``POST``: decide on ``record`` and move on."""
    review, _ = _review_for(request, slug, {Role.SCREENER})
    stage = _stage(stage)
    error, status = None, 200
    if request.method == "POST":
        record = get_object_or_404(selectors.screening_records(review=review, stage=stage),
                                   pk=_id(request.POST.get("record")))
        reason = _reason(review, request.POST.get("exclusion_reason"))
        try:
            services.decision_record(record=record, stage=stage, screener=request.user,
                                     decision=request.POST.get("decision", ""), exclusion_reason=reason,
                                     note=request.POST.get("note", ""))
        except ValidationError as invalid:
            error, status = "; ".join(invalid.messages), 400
        else:
            return redirect(reverse("studies:screen", args=[slug, stage]) + f"?after={record.pk}")
    elif request.GET.get("record"):
        record = get_object_or_404(selectors.screening_records(review=review, stage=stage), pk=_id(request.GET["record"]))
    else:
        after = request.GET.get("after")
        record = selectors.screening_queue_next(review=review, stage=stage, screener=request.user,
                                                after=int(after) if after and after.isdigit() else None)
    mine = None
    if record is not None:
        mine = ScreeningDecision.objects.filter(record=record, stage=stage, screener=request.user) \
            .select_related("exclusion_reason").first()
    context = {
        "review": review, "stage": stage, "record": record, "mine": mine, "error": error,
        "progress": _progress(review, stage, request.user),
        "reasons": list(review.exclusion_reasons.all()) if stage == Stage.FULL_TEXT else [],
        "document": (FullTextDocument.objects.filter(record=record).only("file_name", "size").first()
                     if record is not None and stage == Stage.FULL_TEXT else None),
        "not_retrieved": record is not None and record.fulltext_status == FullTextStatus.NOT_RETRIEVED,
        "decisions": [(Decision.INCLUDE, "i"), (Decision.EXCLUDE, "e")]
        + ([(Decision.UNSURE, "u")] if stage == Stage.TITLE_ABSTRACT else []),
    }
    if record is not None:
        context["title"] = highlight(record.title, review.include_terms, review.exclude_terms)
        context["abstract"] = highlight(record.abstract, review.include_terms, review.exclude_terms)
        context["keywords"] = highlight("; ".join(record.keywords), review.include_terms, review.exclude_terms)
    return render(request, "studies/screening/screen.html", context, status=status)


@login_required
@require_POST
def undo(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """Withdraw my last decision at the stage and show its record again."""
    review, _ = _review_for(request, slug, {Role.SCREENER})
    stage = _stage(stage)
    url = reverse("studies:screen", args=[slug, stage])
    try:
        record = services.decision_undo_last(review=review, stage=stage, screener=request.user)
    except ValidationError as refused:
        return HttpResponse("; ".join(refused.messages) + f' <a href="{url}">Back to screening</a>', status=409)
    return redirect(url + (f"?record={record.pk}" if record else ""))


def _fulltext_record(request: HttpRequest, slug: str, record_id: int) -> tuple[Review, Record]:
    review, _ = _review_for(request, slug, {Role.SCREENER, Role.TUTOR, Role.MANAGER})
    record = get_object_or_404(selectors.screening_records(review=review, stage=Stage.FULL_TEXT), pk=record_id)
    return review, record


@login_required
def fulltext(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    """``GET``: the record's full-text PDF; ``POST``: upload it (``file``) or mark it not retrieved
    (``not_retrieved``)."""
    review, record = _fulltext_record(request, slug, record_id)
    back = reverse("studies:screen", args=[slug, Stage.FULL_TEXT]) + f"?record={record.pk}"
    if request.method == "GET":
        document = get_object_or_404(FullTextDocument, record=record)
        response = HttpResponse(bytes(document.content), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="record-{record.pk}.pdf"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
    try:
        if request.POST.get("not_retrieved"):
            services.fulltext_mark_not_retrieved(record=record, user=request.user)
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationError({"file": "Choose a PDF file to upload."})
            limit = services.settings.SCREENING_PDF_MAX_BYTES
            # Read at most one byte past the limit: an oversized upload is refused without loading it all.
            services.fulltext_upload(record=record, user=request.user, file_name=upload.name,
                                     content=upload.read(limit + 1))
    except ValidationError as refused:
        return HttpResponse(html.escape("; ".join(refused.messages)) + f' <a href="{back}">Back to the record</a>',
                            status=400)
    return redirect(back)


@dataclass(frozen=True)
class Conflict:
    record: Record
    decisions: list[ScreeningDecision]


@login_required
def conflicts(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """The tutor's queue: every conflict at a stage with both decisions, reasons and notes; ``POST``
    resolves one (decision, reason at full text, rationale) in one action."""
    review, roles = _review_for(request, slug, {Role.TUTOR})
    stage = _stage(stage)
    error, status = None, 200
    if request.method == "POST":
        record = get_object_or_404(selectors.screening_records(review=review, stage=stage),
                                   pk=_id(request.POST.get("record")))
        reason = _reason(review, request.POST.get("exclusion_reason"))
        try:
            services.resolution_record(record=record, stage=stage, tutor=request.user,
                                       decision=request.POST.get("decision", ""), exclusion_reason=reason,
                                       rationale=request.POST.get("rationale", ""))
        except (ValidationError, PermissionDenied) as refused:
            error = "; ".join(refused.messages) if isinstance(refused, ValidationError) else str(refused)
            status = 400
        else:
            return redirect("studies:conflicts", slug=slug, stage=stage)
    records = list(selectors.stage_status_queryset(review=review, stage=stage)
                   .filter(status=ScreeningStatus.CONFLICT).order_by("pk")[:100])
    visible: dict[int, list[ScreeningDecision]] = {}
    for decision in (access.decisions_visible(request.user, ScreeningDecision.objects.filter(record__review=review))
                     .filter(record__in=[r.pk for r in records], stage=stage)
                     .select_related("screener", "exclusion_reason").order_by("screener__username")):
        visible.setdefault(decision.record_id, []).append(decision)
    awaiting = list(selectors.stage_status_queryset(review=review, stage=stage)
                    .filter(status=ScreeningStatus.AWAITING_SECOND).order_by("pk").values_list("pk", "title")[:50])
    voters = access.decision_voters(request.user, review, stage, record_ids=[pk for pk, _ in awaiting])
    return render(request, "studies/screening/conflicts.html", {
        "review": review, "stage": stage, "error": error, "stages": Stage.choices,
        "conflicts": [Conflict(r, visible.get(r.pk, [])) for r in records],
        "awaiting": [(pk, title, voters.get(pk, [])) for pk, title in awaiting],
        "reasons": list(review.exclusion_reasons.all()) if stage == Stage.FULL_TEXT else [],
    }, status=status)


@dataclass(frozen=True)
class PairAgreement:
    first: str
    second: str
    categories: tuple[str, ...]
    table: list[list[int]]
    result: object


def stage_agreement(review: Review, stage: str, user) -> tuple[list[PairAgreement], dict]:
    """Agreement of every pair of screeners at a stage, over the records both decided, on whether the
    record goes on (title/abstract: include or unsure vs exclude; full text: include vs exclude), and
    how many decisions are still awaited. Reads decisions through the blinding rule."""
    rows = (access.decisions_visible(user, ScreeningDecision.objects.filter(record__review=review))
            .filter(stage=stage).values_list("record_id", "screener__username", "decision"))
    by_record: dict[int, dict[str, int]] = {}
    for record_id, screener, decision in rows:
        by_record.setdefault(record_id, {})[screener] = 0 if decision == Decision.EXCLUDE else 1
    tables: dict[tuple[str, str], list[list[int]]] = {}
    for votes in by_record.values():
        names = sorted(votes)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                table = tables.setdefault((first, second), [[0, 0], [0, 0]])
                table[votes[first]][votes[second]] += 1
    categories = ("exclude", "include or unsure") if stage == Stage.TITLE_ABSTRACT else ("exclude", "include")
    pairs = [PairAgreement(a, b, categories, t, agreement(t, level=review.confidence_level))
             for (a, b), t in sorted(tables.items())]
    counts = selectors.stage_status_counts(review=review, stage=stage)
    awaited = {"records awaiting a first decision": counts[ScreeningStatus.AWAITING_FIRST],
               "records awaiting a second decision": counts[ScreeningStatus.AWAITING_SECOND],
               "decisions still awaited": 2 * counts[ScreeningStatus.AWAITING_FIRST]
               + counts[ScreeningStatus.AWAITING_SECOND],
               "conflicts awaiting a tutor": counts[ScreeningStatus.CONFLICT]}
    return pairs, awaited


@login_required
@require_GET
def agreement_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Agreement per stage and pair of screeners, live (computed on each request)."""
    review, _ = _review_for(request, slug, OVERSEERS)
    stages = []
    for stage, label in Stage.choices:
        pairs, awaited = stage_agreement(review, stage, request.user)
        stages.append((label, pairs, awaited))
    level = f"{review.confidence_level:.0%}"
    return render(request, "studies/screening/agreement.html", {"review": review, "stages": stages, "level": level})


@login_required
def included(request: HttpRequest, slug: str) -> HttpResponse:
    """Records included at full text and the studies they report; ``POST`` links (or relinks, or
    unlinks) one record."""
    review, _ = _review_for(request, slug, OVERSEERS)
    error, status = None, 200
    if request.method == "POST":
        record = get_object_or_404(selectors.screening_records(review=review, stage=Stage.FULL_TEXT),
                                   pk=_id(request.POST.get("record")))
        try:
            if request.POST.get("unlink"):
                services.report_unlink(record=record, user=request.user)
            else:
                study = None
                if request.POST.get("study"):
                    study = get_object_or_404(Study, review=review, pk=_id(request.POST["study"]))
                year = request.POST.get("year", "").strip()
                if year and not year.isdigit():
                    raise ValidationError({"year": "The study's year is a number such as 2021."})
                services.report_link(record=record, user=request.user, study=study,
                                     new_study_label=request.POST.get("label", ""),
                                     new_study_year=int(year) if year else None,
                                     is_primary=bool(request.POST.get("primary")))
        except ValidationError as refused:
            error, status = "; ".join(refused.messages), 400
        else:
            return redirect("studies:included", slug=slug)
    records = list(selectors.stage_status_queryset(review=review, stage=Stage.FULL_TEXT)
                   .filter(status__in=selectors.PASSED).select_related("report__study").order_by("pk"))
    studies = list(Study.objects.filter(review=review).annotate(n_reports=Count("reports")).order_by("label"))
    return render(request, "studies/screening/included.html", {
        "review": review, "records": records, "studies": studies, "error": error,
        "unlinked": sum(1 for r in records if not hasattr(r, "report")),
    }, status=status)
