"""The screening pages: the screener's one-record-at-a-time page, the tutor's conflicts queue, the
agreement statistics, and linking included records to studies. Plain forms that work without
JavaScript; ``studies/static/studies/screening.js`` adds the keyboard shortcuts.

Access is deny-by-default: people outside a review's team get 404 (the review does not exist for
them), members without the page's role get 403. Blinding is never a template decision: the pages
read decisions only through ``access.decisions_visible``, or the signed-in screener's own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
import html
import re
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator
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
    Report,
    Review,
    Role,
    ScreeningDecision,
    ScreeningResolution,
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
        "is_screener": Role.SCREENER in roles, "is_tutor": Role.TUTOR in roles,
        "is_overseer": bool(roles & OVERSEERS),  # a superuser holds the manager role (access.roles_in)
        "is_manager": Role.MANAGER in roles,
    })


# The progress counts: an exact count over a 100,000-record review costs 35-300 ms (bench numbers in
# _progress's docstring), too dear for every page; so a snapshot of them is shared for
# SNAPSHOT_SECONDS, and every page adds the decisions made since the snapshot's cutoff, which it reads
# from the (screener, stage, updated_at) index in well under a millisecond.
SNAPSHOT_SECONDS = 30
# Decisions younger than this when the snapshot is counted are left to the live part: a decision's
# ``decided_at`` comes from its web process's clock before its transaction commits, so the margin
# covers commit delay and clock differences between web servers.
SNAPSHOT_LAG = timedelta(seconds=30)


@dataclass(frozen=True)
class Progress:
    total: int  # records that reach the stage
    mine: int  # my decisions at the stage
    made: int  # everyone's decisions at the stage

    @property
    def needed(self) -> int:
        return 2 * self.total

    @property
    def mine_percent(self) -> int:
        return round(100 * self.mine / self.total) if self.total else 100

    @property
    def review_percent(self) -> int:
        return round(100 * self.made / self.needed) if self.total else 100


def _progress_snapshot(review: Review, stage: str) -> dict:
    """The expensive part of the counts: records reaching the stage and every screener's decisions
    made before the cutoff (one grouped count, so no screener's page pays for a count of its own)."""
    cutoff = timezone.now() - SNAPSHOT_LAG
    eligible = selectors.screening_records(review=review, stage=stage)
    before = dict(ScreeningDecision.objects.filter(record__in=eligible, stage=stage, decided_at__lte=cutoff)
                  .order_by().values_list("screener").annotate(n=Count("pk")))
    # Whose recent decisions the live part reads: the team's screeners, and anyone counted already.
    screeners = sorted(set(access.screener_ids(review)) | set(before))
    return {"total": eligible.count(), "before": before, "cutoff": cutoff, "screeners": screeners}


def _progress(review: Review, stage: str, user) -> Progress:
    """The screener's own progress and the review's, exact as of this request (the review's is
    decisions made of decisions needed, so it moves by one for each decision whatever the other
    screener did: it says nothing about agreement).

    A shared snapshot (``_progress_snapshot``) plus the decisions decided since its cutoff, read live.
    What the live part cannot see (a withdrawn decision, a record newly reaching full text) moves the
    snapshot's generation (``services.PROGRESS_GENERATION_KEY``, after commit), so the next page
    recounts; imports, duplicate merges and a newly added screener's decisions (to others) show
    within ``SNAPSHOT_SECONDS``. On 100,000 records
    (bench review, 50,000 dual-screened; two screeners): a recount costs 150 ms at title/abstract and
    300 ms at full text; a page with a snapshot in the cache costs under a millisecond for the counts.
    """
    generation = shared_cache.get(services.PROGRESS_GENERATION_KEY.format(review=review.pk, stage=stage)) or 0
    key = f"screening-progress:{review.pk}:{stage}:{generation}"
    snapshot = shared_cache.get(key)  # a miss while Redis is down: counted from PostgreSQL instead
    if snapshot is None:
        snapshot = _progress_snapshot(review, stage)
        shared_cache.set(key, snapshot, timeout=SNAPSHOT_SECONDS)
    # Recent decisions by screener through the (screener, stage, updated_at) index (``updated_at`` is
    # never earlier than ``decided_at``). A full-text decision's record has passed title/abstract
    # (its title/abstract verdict is frozen from then on), so reaching the stage needs no re-check.
    cutoff = snapshot["cutoff"]
    recent = dict(ScreeningDecision.objects.filter(
        screener__in=set(snapshot["screeners"]) | {user.pk}, stage=stage, updated_at__gt=cutoff, decided_at__gt=cutoff,
        record__review=review, record__duplicate_of__isnull=True).order_by().values_list("screener")
        .annotate(n=Count("pk")))
    before = snapshot["before"]
    return Progress(total=snapshot["total"], mine=before.get(user.pk, 0) + recent.get(user.pk, 0),
                    made=sum(before.values()) + sum(recent.values()))


# The withdrawn decision's verdict, reason and note, kept in the session until the screener decides
# on its record again, so an undo never loses a note (one per review and stage).
WITHDRAWN_KEY = "screening-withdrawn:{review}:{stage}"


def _keep_withdrawn(request: HttpRequest, decision: ScreeningDecision) -> None:
    request.session[WITHDRAWN_KEY.format(review=decision.record.review_id, stage=decision.stage)] = {
        "record": decision.record_id, "decision": decision.decision,
        "reason": decision.exclusion_reason_id, "note": decision.note,
    }


def _withdrawn(request: HttpRequest, review: Review, stage: str, record: Record | None) -> dict | None:
    kept = request.session.get(WITHDRAWN_KEY.format(review=review.pk, stage=stage))
    return kept if kept and record is not None and kept.get("record") == record.pk else None


def _saved(request: HttpRequest, review: Review, stage: str) -> ScreeningDecision | None:
    """The decision named by ``?saved=`` if it is mine, for the confirmation (never another's)."""
    value = request.GET.get("saved", "")
    if not value.isdigit():
        return None
    return (ScreeningDecision.objects.filter(pk=int(value), screener=request.user, stage=stage, record__review=review)
            .select_related("record", "exclusion_reason").first())


def _screen_page(request: HttpRequest, review: Review, stage: Stage, record: Record | None, *,
                 error: str | None = None, status: int = 200) -> HttpResponse:
    mine = withdrawn = None
    if record is not None:
        mine = ScreeningDecision.objects.filter(record=record, stage=stage, screener=request.user) \
            .select_related("exclusion_reason").first()
        withdrawn = None if mine is not None else _withdrawn(request, review, stage, record)
    frozen = False
    if mine is not None:
        # Whether my decision may still change, by the same rule the services apply.
        frozen = not access.own_decisions(request.user, review).filter(pk=mine.pk, settled=False,
                                                                       pair_complete=False).exists()
    reasons = list(review.exclusion_reasons.all()) if stage == Stage.FULL_TEXT else []
    prefill = {"note": mine.note if mine else (withdrawn or {}).get("note", ""),
               "reason": mine.exclusion_reason_id if mine else (withdrawn or {}).get("reason")}
    context = {
        "review": review, "stage": stage, "record": record, "mine": mine, "frozen": frozen, "error": error,
        "withdrawn": withdrawn, "prefill": prefill,
        "withdrawn_label": Decision(withdrawn["decision"]).label if withdrawn else "",
        "saved": _saved(request, review, stage),
        "progress": _progress(review, stage, request.user),
        "reasons": reasons,
        "document": (FullTextDocument.objects.filter(record=record).only("file_name", "size").first()
                     if record is not None and stage == Stage.FULL_TEXT else None),
        "not_retrieved": record is not None and record.fulltext_status == FullTextStatus.NOT_RETRIEVED,
        "stopped_at": selectors.screening_stopped_at(review) if stage == Stage.TITLE_ABSTRACT else None,
        "decisions": [(Decision.INCLUDE, "i"), (Decision.EXCLUDE, "e")]
        + ([(Decision.UNSURE, "u")] if stage == Stage.TITLE_ABSTRACT else []),
    }
    if record is not None:
        context["title"] = highlight(record.title, review.include_terms, review.exclude_terms)
        context["abstract"] = highlight(record.abstract, review.include_terms, review.exclude_terms)
        context["keywords"] = highlight("; ".join(record.keywords), review.include_terms, review.exclude_terms)
        if stage == Stage.TITLE_ABSTRACT and selectors.screening_ranked(review):
            # Why this record is high in the screener's own ranking (issue 22).
            context["why_here"] = selectors.ranked_record_terms(review=review, screener=request.user, record=record)
    return render(request, "studies/screening/screen.html", context, status=status)


def _posted_verdict(request: HttpRequest, review: Review, stage: str,
                    ) -> tuple[Record, str, ExclusionReason | None]:
    """The record, decision and reason a screener's or tutor's form posted. One form holds the reason
    list and every button: a reason picked before "include" is not the person's intent, so only an
    exclusion carries it."""
    record = get_object_or_404(selectors.screening_records(review=review, stage=stage),
                               pk=_id(request.POST.get("record")))
    decision = request.POST.get("decision", "")
    reason = _reason(review, request.POST.get("exclusion_reason")) if decision == Decision.EXCLUDE else None
    return record, decision, reason


@login_required
def screen(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """``GET``: the next record in my queue (``?after=<id>`` for the one after, ``?record=<id>`` for a
    given one; ``?saved=<decision id>`` confirms a decision of mine at the top); ``POST``: decide on
    ``record`` and move on."""
    review, _ = _review_for(request, slug, {Role.SCREENER})
    stage = _stage(stage)
    if request.method == "POST":
        record, decision, reason = _posted_verdict(request, review, stage)
        try:
            saved = services.decision_record(record=record, stage=stage, screener=request.user, decision=decision,
                                             exclusion_reason=reason, note=request.POST.get("note", ""))
        except ValidationError as invalid:
            return _screen_page(request, review, stage, record, error="; ".join(invalid.messages), status=400)
        request.session.pop(WITHDRAWN_KEY.format(review=review.pk, stage=stage), None)
        return redirect(reverse("studies:screen", args=[slug, stage]) + f"?after={record.pk}&saved={saved.pk}")
    if request.GET.get("record"):
        record = get_object_or_404(selectors.screening_records(review=review, stage=stage), pk=_id(request.GET["record"]))
    else:
        after = request.GET.get("after")
        record = selectors.screening_queue_next(review=review, stage=stage, screener=request.user,
                                                after=int(after) if after and after.isdigit() else None)
    return _screen_page(request, review, stage, record)


def _after_withdrawal(request: HttpRequest, review: Review, stage: Stage, withdraw) -> HttpResponse:
    """Withdraw a decision of mine (``withdraw()`` calls the service) and show its record again with
    its note and reason filled in; a refusal is shown on the screening page with what to do."""
    try:
        withdrawn = withdraw()
    except (ValidationError, PermissionDenied) as refused:
        message = "; ".join(refused.messages) if isinstance(refused, ValidationError) else str(refused)
        next_record = selectors.screening_queue_next(review=review, stage=stage, screener=request.user)
        return _screen_page(request, review, stage, next_record, error=message, status=409)
    url = reverse("studies:screen", args=[review.slug, stage])
    if withdrawn is None:
        return redirect(url)
    _keep_withdrawn(request, withdrawn)
    return redirect(url + f"?record={withdrawn.record_id}")


@login_required
@require_POST
def undo(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """Withdraw my last decision at the stage and show its record again (the ``z`` key)."""
    review, _ = _review_for(request, slug, {Role.SCREENER})
    stage = _stage(stage)
    return _after_withdrawal(request, review, stage, lambda: services.decision_undo_last(
        review=review, stage=stage, screener=request.user))


@login_required
@require_POST
def withdraw(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """Withdraw one decision of mine (``decision``): the confirmation's "undo", and "my decisions"."""
    review, _ = _review_for(request, slug, {Role.SCREENER})
    stage = _stage(stage)
    decision = get_object_or_404(ScreeningDecision.objects.select_related("record__review"), screener=request.user,
                                 stage=stage, record__review=review, pk=_id(request.POST.get("decision")))
    return _after_withdrawal(request, review, stage, lambda: services.decision_withdraw(
        decision=decision, screener=request.user))


MY_DECISIONS_PER_PAGE = 50


@dataclass(frozen=True)
class MyDecision:
    decision: ScreeningDecision
    state: str  # what I may know of the record: its settled verdict, or whether my vote may change
    can_change: bool


@login_required
@require_GET
def my_decisions(request: HttpRequest, slug: str) -> HttpResponse:
    """My decisions in the review, newest first, filtered by ``stage`` and ``decision``; each with the
    record's state as I may see it (``access.own_decisions``: settled or not, and whether my vote can
    still change; never the other screener's vote) and a link to change it while it can."""
    review, _ = _review_for(request, slug, {Role.SCREENER})
    stage = request.GET.get("stage", "")
    verdict = request.GET.get("decision", "")
    decisions = (access.own_decisions(request.user, review).select_related("record", "exclusion_reason")
                 .order_by("-updated_at", "-pk"))
    if stage in Stage.values:
        decisions = decisions.filter(stage=stage)
    if verdict in Decision.values:
        decisions = decisions.filter(decision=verdict)
    page = Paginator(decisions, MY_DECISIONS_PER_PAGE).get_page(request.GET.get("page"))
    # A settled record's verdict is visible to its screeners (agreement or a resolution of theirs).
    settled: dict[tuple[int, str], str] = {}
    for at in Stage.values:
        ids = [d.record_id for d in page if d.stage == at and d.settled]
        if ids:
            rows = selectors.stage_status_queryset(
                review=review, stage=at, records=selectors.screening_records(review=review, stage=at).filter(pk__in=ids))
            settled.update({(pk, at): ScreeningStatus(status).label for pk, status in rows.values_list("pk", "status")})
    rows = []
    for decision in page:
        if decision.settled:
            state, can_change = f"Settled — {settled.get((decision.record_id, decision.stage), 'closed')}", False
        elif decision.pair_complete:
            state, can_change = "Both screeners have decided: frozen until the record is settled", False
        elif decision.record.duplicate_of_id is not None:
            state, can_change = "Marked a duplicate since: screened as the record it duplicates", False
        else:
            state, can_change = "Open: you can change it", True
        rows.append(MyDecision(decision, state, can_change))
    query = {k: v for k, v in (("stage", stage), ("decision", verdict)) if v}
    return render(request, "studies/screening/my_decisions.html", {
        "review": review, "page": page, "rows": rows, "stages": Stage.choices, "verdicts": Decision.choices,
        "stage": stage, "verdict": verdict, "query": urlencode(query),
    })


def _fulltext_record(request: HttpRequest, slug: str, record_id: int) -> tuple[Review, Record]:
    review, _ = _review_for(request, slug, {Role.SCREENER, Role.TUTOR, Role.MANAGER})
    record = get_object_or_404(selectors.screening_records(review=review, stage=Stage.FULL_TEXT), pk=record_id)
    return review, record


@login_required
def fulltext(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    """``GET``: the record's full-text PDF; ``POST``: upload it (``file``) or mark it not retrieved
    (``not_retrieved``)."""
    _, record = _fulltext_record(request, slug, record_id)
    # Back where the upload came from: a screener's record, or a tutor's conflict.
    if request.POST.get("from") == "conflicts":
        back = reverse("studies:conflicts", args=[slug, Stage.FULL_TEXT]) + f"#record-{record.pk}"
    else:
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


RESOLUTION_WITHDRAWN_KEY = "screening-resolution-withdrawn:{review}:{stage}"


def _conflicts_page(request: HttpRequest, review: Review, stage: Stage, *, error: str | None = None,
                    status: int = 200) -> HttpResponse:
    # Not the records this tutor screened: another tutor resolves those, and whether their own pair
    # disagrees is not theirs to learn before it is settled.
    records = list(selectors.conflicts_queryset(review=review, stage=stage, tutor=request.user).order_by("pk")[:100])
    visible: dict[int, list[ScreeningDecision]] = {}
    for decision in (access.decisions_visible(request.user, ScreeningDecision.objects.filter(record__review=review))
                     .filter(record__in=[r.pk for r in records], stage=stage)
                     .select_related("screener", "exclusion_reason").order_by("screener__username")):
        visible.setdefault(decision.record_id, []).append(decision)
    awaiting = list(selectors.stage_status_queryset(review=review, stage=stage, decided_only=True)
                    .filter(status=ScreeningStatus.AWAITING_SECOND).order_by("pk").values_list("pk", "title")[:50])
    voters = access.decision_voters(request.user, review, stage, record_ids=[pk for pk, _ in awaiting])
    resolved = None
    if request.GET.get("resolved", "").isdigit():
        resolved = (ScreeningResolution.objects.filter(pk=int(request.GET["resolved"]), record__review=review,
                                                       stage=stage)
                    .select_related("record", "exclusion_reason", "tutor").first())
    # A withdrawn resolution's decision, reason and rationale, offered again on its record's form.
    withdrawn = request.session.get(RESOLUTION_WITHDRAWN_KEY.format(review=review.pk, stage=stage))
    return render(request, "studies/screening/conflicts.html", {
        "review": review, "stage": stage, "error": error, "stages": Stage.choices, "resolved": resolved,
        "withdrawn": withdrawn if withdrawn and withdrawn.get("record") in {r.pk for r in records} else None,
        "conflicts": [Conflict(r, visible.get(r.pk, [])) for r in records],
        "awaiting": [(pk, title, voters.get(pk, [])) for pk, title in awaiting],
        "reasons": list(review.exclusion_reasons.all()) if stage == Stage.FULL_TEXT else [],
        # At full text the tutor judges from the full text: its PDF, or a place to upload it.
        "with_pdf": set(FullTextDocument.objects.filter(record__in=[r.pk for r in records]).values_list(
            "record_id", flat=True)) if stage == Stage.FULL_TEXT else set(),
    }, status=status)


def _refusal(refused: ValidationError | PermissionDenied) -> str:
    return "; ".join(refused.messages) if isinstance(refused, ValidationError) else str(refused)


@login_required
def conflicts(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """The tutor's queue: every conflict at a stage with both decisions, reasons and notes; ``POST``
    resolves one (decision, reason at full text, rationale) in one action, and the page that follows
    confirms it (``?resolved=<id>``) with an undo."""
    review, _ = _review_for(request, slug, {Role.TUTOR})
    stage = _stage(stage)
    if request.method == "POST":
        record, decision, reason = _posted_verdict(request, review, stage)
        try:
            resolution = services.resolution_record(record=record, stage=stage, tutor=request.user, decision=decision,
                                                    exclusion_reason=reason,
                                                    rationale=request.POST.get("rationale", ""))
        except (ValidationError, PermissionDenied) as refused:
            return _conflicts_page(request, review, stage, error=_refusal(refused), status=400)
        request.session.pop(RESOLUTION_WITHDRAWN_KEY.format(review=review.pk, stage=stage), None)
        return redirect(reverse("studies:conflicts", args=[slug, stage]) + f"?resolved={resolution.pk}")
    return _conflicts_page(request, review, stage)


@login_required
@require_POST
def resolution_withdraw(request: HttpRequest, slug: str, stage: str) -> HttpResponse:
    """Undo a resolution (``resolution``), from the confirmation after resolving: the record is a
    conflict again, and its form offers the withdrawn decision, reason and rationale. Refusals (another
    tutor's resolution, later work that depends on it) are shown on the conflicts page. (The service
    also lets a manager withdraw any resolution; this page is the tutors'.)"""
    review, _ = _review_for(request, slug, {Role.TUTOR})
    stage = _stage(stage)
    resolution = get_object_or_404(ScreeningResolution.objects.select_related("record"), record__review=review,
                                   stage=stage, pk=_id(request.POST.get("resolution")))
    try:
        withdrawn = services.resolution_withdraw(resolution=resolution, tutor=request.user)
    except (ValidationError, PermissionDenied) as refused:
        return _conflicts_page(request, review, stage, error=_refusal(refused), status=409)
    request.session[RESOLUTION_WITHDRAWN_KEY.format(review=review.pk, stage=stage)] = {
        "record": withdrawn.record_id, "title": withdrawn.record.title, "decision": withdrawn.decision,
        "reason": withdrawn.exclusion_reason_id, "rationale": withdrawn.rationale,
    }
    return redirect(reverse("studies:conflicts", args=[slug, stage]) + f"?withdrawn=1#record-{withdrawn.record_id}")


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


def _quoted(record: Record) -> str:
    return f"“{Truncator(record.title).chars(90)}”"


def _primary_now(study: Study) -> str:
    """What a confirmation says of a study's primary report after a change."""
    primary = Report.objects.filter(study=study, is_primary=True).select_related("record").first()
    if primary is None:
        return f"{study.label} has no reports left."
    return f"{study.label}'s primary report is {_quoted(primary.record)}."


def _link(request: HttpRequest, review: Review, record: Record) -> str:
    """Link, move or unlink a record (the included page's form); what was done, for the confirmation."""
    before = Report.objects.filter(record=record).select_related("study").first()
    if request.POST.get("unlink"):
        services.report_unlink(record=record, user=request.user)
        if before is None:
            return f"{_quoted(record)} was not linked to a study."
        return f"{_quoted(record)} is no longer a report of {before.study.label}. {_primary_now(before.study)}"
    if request.POST.get("make_primary"):
        change = services.report_make_primary(record=record, user=request.user)
        if change.demoted is None:
            return f"{_quoted(record)} already is the primary report of {change.report.study.label}."
        return (f"{_quoted(record)} is now the primary report of {change.report.study.label}; "
                f"{_quoted(change.demoted.record)} is no longer primary.")
    study = None
    if request.POST.get("study"):
        study = get_object_or_404(Study, review=review, pk=_id(request.POST["study"]))
    year = request.POST.get("year", "").strip()
    if year and not year.isdigit():
        raise ValidationError({"year": "The study's year is a number such as 2021."})
    report = services.report_link(record=record, user=request.user, study=study,
                                  new_study_label=request.POST.get("label", ""),
                                  new_study_year=int(year) if year else None)
    done = (f"{_quoted(record)} is now the primary report of {report.study.label}." if report.is_primary else
            f"{_quoted(record)} is now a further report of {report.study.label}. {_primary_now(report.study)}")
    if before is not None and before.study_id != report.study_id:
        done += f" It was a report of {before.study.label}: {_primary_now(before.study)}"
    return done


@login_required
def included(request: HttpRequest, slug: str) -> HttpResponse:
    """Records included at full text and the studies they report; ``POST`` links (or relinks, or
    unlinks) one record, or makes it its study's primary report. The page that follows says what was
    done, and which report stopped being primary, if one did: a primary is never changed silently."""
    review, _ = _review_for(request, slug, OVERSEERS)
    error, status = None, 200
    if request.method == "POST":
        record = get_object_or_404(selectors.screening_records(review=review, stage=Stage.FULL_TEXT),
                                   pk=_id(request.POST.get("record")))
        try:
            done = _link(request, review, record)
        except ValidationError as refused:
            error, status = "; ".join(refused.messages), 400
        else:
            messages.success(request, done)
            return redirect("studies:included", slug=slug)
    records = list(selectors.stage_status_queryset(review=review, stage=Stage.FULL_TEXT, decided_only=True)
                   .filter(status__in=selectors.PASSED).select_related("report__study").order_by("pk"))
    studies = list(Study.objects.filter(review=review).annotate(n_reports=Count("reports")).order_by("label"))
    primaries = dict(Report.objects.filter(study__review=review, is_primary=True).values_list("study", "record__title"))
    for record in records:  # for "make primary", which names the report that would stop being primary
        report = getattr(record, "report", None)
        record.study_primary = primaries.get(report.study_id, "") if report is not None else ""
    return render(request, "studies/screening/included.html", {
        "review": review, "records": records, "studies": studies, "error": error,
        "unlinked": sum(1 for r in records if not hasattr(r, "report")),
    }, status=status)
