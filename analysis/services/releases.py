"""Releases: citable, immutable, numbered snapshots of a review's published analysis (issue 20).

A release holds what a reader saw at one data version (pages, figures, downloads and the analysis
API's JSON), numbered by semantic version against the previous release:

- **major** when a conclusion changed, by the living loop's own alert rules
  (``store.conclusion_changes_detect``: significance, direction, model, I² band, a first result),
  or an outcome's pooled result disappeared;
- **minor** when studies were added or removed;
- **patch** for every other change (corrected numbers, review text, screening progress).

What the pages draw is the pages' business: the caller passes ``capture`` (in practice
``analysis.pages.release_capture.snapshot_capture``), which renders them from the database; this
module decides whether a release may be cut, its number and notes, and stores it consistently.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from analysis.engine.formatting import format_effect_ci
from analysis.engine.options import Measure
from analysis.models import (
    AnalysisRun,
    AnalysisSet,
    ChangeKind,
    OutcomeResult,
    Release,
    ReleaseLevel,
    ReleaseSchedule,
    ReleaseTrigger,
    RunStatus,
)
from analysis.services.store import conclusion_changes_detect
from studies import access
from studies import selectors as study_selectors
from studies.models import Review, ReviewMembership, Role, SearchSource, Study


class ReleaseRefused(Exception):
    """A release cannot be cut now; ``reason`` says why in words a manager can act on."""

    def __init__(self, reason: str, *, code: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code  # "stale", "failed", "unchanged", "no_manager", "concurrent"


@dataclass(frozen=True)
class CapturedPage:
    """A reader page's viewer-independent body, as the living page drew it."""

    title: str
    body: str
    figure_png: bool = False


@dataclass(frozen=True)
class CapturedFile:
    """A figure, download or API answer, as the living site served it."""

    content_type: str
    body: str
    filename: str = ""


@dataclass(frozen=True)
class ReleaseSnapshot:
    """Everything a release serves, keyed by path relative to the review's living URL
    (``""`` is the review page, ``"outcomes/3/"`` an outcome page, ``"data.csv"`` a download,
    ``"api/analysis/"`` the analysis API's answer)."""

    analysis: dict
    pages: dict[str, CapturedPage]
    files: dict[str, CapturedFile] = field(default_factory=dict)
    risk_of_bias: dict | None = None


# capture(review, viewer, release_path) -> ReleaseSnapshot. ``release_path`` is the release's URL
# path ("/reviews/<slug>/releases/1.2.0/"), for the links inside what is captured.
Capture = Callable[[Review, object, str], ReleaseSnapshot]


def release_path(slug: str, version: str) -> str:
    return f"/reviews/{slug}/releases/{version}/"


# --- What versions are compared on --------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def current_headline(review: Review) -> list[dict]:
    """Each outcome's overall pooled result in the current run (main analysis set), in the review's
    outcome order: the numbers releases are compared on and the difference view shows."""
    run_id = review.analysis_state.current_run_id if hasattr(review, "analysis_state") else None
    rows = (OutcomeResult.objects.filter(run_id=run_id, subgroup_field__isnull=True, analysis_set=AnalysisSet.MAIN)
            .select_related("outcome__domain", "time_point").defer("payload_gz")
            .order_by("outcome__domain__order", "outcome__order", "outcome__name"))
    return [
        {"outcome_id": r.outcome_id, "outcome": r.outcome.name, "domain": r.outcome.domain.name,
         "time_point": r.time_point.label, "measure": r.outcome.effect_measure, "k": r.k,
         "chosen_model": r.chosen_model, "estimate": _finite(r.estimate), "ci_low": _finite(r.ci_low),
         "ci_high": _finite(r.ci_high), "p": _finite(r.p_value), "i2": _finite(r.i2)}
        for r in rows
    ]


def headline_effect(row: dict | None) -> str:
    """"−0.45 [−0.80, −0.10]" for a headline row; "–" when there is none."""
    if row is None or row.get("estimate") is None:
        return "–"
    return format_effect_ci(row["estimate"], row["ci_low"], row["ci_high"], Measure(row["measure"]))


def _as_result(row: dict) -> OutcomeResult:
    """A headline row as the (unsaved) result the living loop's alert rules read."""
    return OutcomeResult(k=row["k"], chosen_model=row["chosen_model"], estimate=row["estimate"],
                         ci_low=row["ci_low"], ci_high=row["ci_high"], p_value=row["p"], i2=row["i2"])


def conclusions_changed(before: list[dict], after: list[dict], alpha: float) -> list[dict]:
    """The conclusion changes between two headlines, by the living loop's alert rules."""
    previous = {row["outcome_id"]: row for row in before}
    changes = []
    for row in after:
        old = previous.pop(row["outcome_id"], None)
        for kind, description in conclusion_changes_detect(old and _as_result(old), _as_result(row), alpha):
            changes.append({"outcome": row["outcome"], "kind": kind, "title": ChangeKind(kind).label,
                            "description": description})
        if old is not None and old["estimate"] is not None and row["estimate"] is None:
            changes.append({"outcome": row["outcome"], "kind": "no_result", "title": "No pooled result any more",
                            "description": f"Was {headline_effect(old)}."})
    for old in previous.values():  # an outcome whose result is gone altogether
        if old["estimate"] is not None:
            changes.append({"outcome": old["outcome"], "kind": "no_result", "title": "No pooled result any more",
                            "description": f"Was {headline_effect(old)}."})
    return changes


def estimate_changes(before: list[dict], after: list[dict]) -> list[dict]:
    """Per outcome: k and estimate [CI] before → after (every outcome in either)."""
    previous = {row["outcome_id"]: row for row in before}
    current = {row["outcome_id"]: row for row in after}
    order = [row["outcome_id"] for row in after] + [i for i in previous if i not in current]
    rows = []
    for outcome_id in order:
        old, new = previous.get(outcome_id), current.get(outcome_id)
        named = new or old
        rows.append({"outcome_id": outcome_id, "outcome": named["outcome"], "domain": named["domain"],
                     "k_before": old["k"] if old else None, "k_after": new["k"] if new else None,
                     "before": headline_effect(old), "after": headline_effect(new),
                     "changed": _numbers(old) != _numbers(new)})
    return rows


def _numbers(row: dict | None) -> tuple | None:
    return None if row is None else (row["k"], row["estimate"], row["ci_low"], row["ci_high"], row["chosen_model"])


# --- Notes ----------------------------------------------------------------------------------------


def _searches(review: Review) -> list[list[str]]:
    return [[database, day.isoformat()] for database, day in
            SearchSource.objects.filter(review=review).order_by("date_searched", "database")
            .values_list("database", "date_searched")]


def release_notes(*, previous: Release | None, headline: list[dict], studies: list[list], searches: list[list[str]],
                  trigger: str, note: str, alpha: float) -> dict:
    """The generated notes: studies added or removed, estimates before → after, conclusions changed,
    and the PRISMA-LSR items (dates of the searches since the previous release, what triggered the
    update, what changed), with the manager's note."""
    before_studies = {sid: label for sid, label in (previous.studies if previous else [])}
    now_studies = {sid: label for sid, label in studies}
    added = [label for sid, label in studies if sid not in before_studies]
    removed = [label for sid, label in before_studies.items() if sid not in now_studies]
    before_headline = previous.headline if previous else []
    before_searches = {tuple(s) for s in (previous.notes.get("searches_all", []) if previous else [])}
    new_searches = [s for s in searches if tuple(s) not in before_searches]
    changes = conclusions_changed(before_headline, headline, alpha) if previous else []
    estimates = estimate_changes(before_headline, headline)
    what_changed = []
    if previous is None:
        pooled = sum(1 for r in headline if r["estimate"] is not None)
        what_changed.append(f"first release: {len(studies)} included stud{'y' if len(studies) == 1 else 'ies'}, "
                            f"{pooled} pooled outcome{'' if pooled == 1 else 's'}")
    else:
        if added:
            what_changed.append(f"{len(added)} stud{'y' if len(added) == 1 else 'ies'} added")
        if removed:
            what_changed.append(f"{len(removed)} stud{'y' if len(removed) == 1 else 'ies'} removed")
        moved = sum(1 for r in estimates if r["changed"])
        if moved:
            what_changed.append(f"{moved} pooled estimate{'s' if moved != 1 else ''} changed")
        if changes:
            what_changed.append(f"{len(changes)} conclusion change{'s' if len(changes) != 1 else ''}")
        if not what_changed:
            what_changed.append("corrections that leave the studies and pooled estimates as they were")
    trigger_text = ReleaseTrigger(trigger).label
    if new_searches:
        trigger_text += " after new searches (" + ", ".join(f"{db} {day}" for db, day in new_searches) + ")"
    return {
        "previous_version": previous.version if previous else None,
        "studies_added": added,
        "studies_removed": removed,
        "estimates": estimates,
        "conclusions_changed": changes,
        "searches_since_previous": [{"database": db, "date_searched": day} for db, day in new_searches],
        "searches_all": searches,
        "trigger": trigger,
        "triggered_by": trigger_text,
        "what_changed": what_changed,
        "note": note,
        "summary": _sentence("; ".join(what_changed)),
    }


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "." if text else ""


def _level(previous: Release | None, notes: dict) -> tuple[str, tuple[int, int, int]]:
    if previous is None:
        return ReleaseLevel.FIRST, (1, 0, 0)
    if notes["conclusions_changed"]:
        return ReleaseLevel.MAJOR, (previous.major + 1, 0, 0)
    if notes["studies_added"] or notes["studies_removed"]:
        return ReleaseLevel.MINOR, (previous.major, previous.minor + 1, 0)
    return ReleaseLevel.PATCH, (previous.major, previous.minor, previous.patch + 1)


# --- Citation ------------------------------------------------------------------------------------


def review_authors(review: Review) -> list[str]:
    """The citation's authors: the review's managers, then the rest of its team, each once, by the
    name they gave (their username otherwise), in the order they joined."""
    names: list[str] = []
    members = (ReviewMembership.objects.filter(review=review).select_related("user")
               .order_by("pk"))
    ordered = sorted(members, key=lambda m: (m.role != Role.MANAGER, m.pk))
    for membership in ordered:
        user = membership.user
        name = user.get_full_name().strip() or user.get_username()
        if name not in names:
            names.append(name)
    return names


def citation_text(release: Release, url: str) -> str:
    """"A, B, C. Title. Living systematic review, version 1.2.0 (6 December 2026). URL"."""
    authors = release.authors
    who = ", ".join(authors) if len(authors) <= 6 else ", ".join(authors[:6]) + ", et al."
    who = who if not who or who.endswith(".") else who + "."
    return (f"{who + ' ' if who else ''}{release.title}. Living systematic review, version {release.version} "
            f"({release.created_at.day} {release.created_at:%B %Y}). {url}")


# --- Cutting a release ----------------------------------------------------------------------------

_LOCK_NAMESPACE = 7_311_002  # first key of PostgreSQL's two-key advisory locks: "cut a release"


def _fingerprint(review: Review, prisma: dict, searches: list[list[str]]) -> str:
    """What "nothing changed" is judged on: every analysis input moves ``data_version``, every
    review field ``updated_at``, screening moves the PRISMA counts, and a search run again (even one
    that found nothing new) is news for a living review's readers (PRISMA-LSR: dates of searches)."""
    basis = {"data_version": review.data_version, "updated_at": review.updated_at.isoformat(), "prisma": prisma,
             "searches": searches}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def _viewer(review: Review, user):
    """Whose eyes the pages are captured with: a public review's anonymous reader; for a team-only
    review the cutting manager, or its first manager. Reader pages are the same for every viewer
    who may read them (analysis/pages/reader.py), so this only has to be someone who may."""
    if review.is_public:
        return AnonymousUser()
    if user is not None:
        return user
    manager = (ReviewMembership.objects.filter(review=review, role=Role.MANAGER).select_related("user")
               .order_by("pk").first())
    if manager is None:
        raise ReleaseRefused("The review has no manager to cut a release for.", code="no_manager")
    return manager.user


def release_create(*, review: Review, user, capture: Capture, trigger: str = ReleaseTrigger.MANAGER,
                   note: str = "") -> Release:
    """Cut the next release of ``review`` from its current analysis.

    ``user`` must manage the review when a manager cuts it; a schedule or the command line cut
    without one. Raises ``PermissionDenied`` for anyone else, ``ReleaseRefused`` while the analysis
    is behind its data (a release snapshots the results of the current data version; wait for the
    recompute), when nothing changed since the last release, or when there are no results yet.

    Consistency: the whole snapshot is read in one REPEATABLE READ transaction (one view of the
    database, while editors keep writing), and one release is cut at a time per review (an
    advisory lock), so two managers pressing the button get 1.1.0 and a refusal, not two 1.1.0s.
    """
    if trigger == ReleaseTrigger.MANAGER:
        access.require_role(user, review, access.MANAGER, "cut a release")
    note = (note or "").strip()
    if len(note) > 5000:
        raise ValidationError({"note": "The note is limited to 5,000 characters."})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, review.pk])
    try:
        outer = connection.in_atomic_block
        with transaction.atomic():
            if not outer:  # inside a caller's transaction (tests) its isolation applies
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return _release_create(review.pk, user, capture, trigger, note)
    except IntegrityError as error:  # a cut that bypassed the lock (another database session)
        raise ReleaseRefused("Another release of this review was cut at the same moment; try again.",
                             code="concurrent") from error
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, review.pk])


def _release_create(review_id: int, user, capture: Capture, trigger: str, note: str) -> Release:
    review = Review.objects.select_related("analysis_state").get(pk=review_id)
    state = getattr(review, "analysis_state", None)
    computed = state.computed_version if state else 0
    if computed < review.data_version and AnalysisRun.objects.filter(
            review=review, data_version=review.data_version, status=RunStatus.FAILED).exists():
        raise ReleaseRefused(
            f"The analysis of the current data (version {review.data_version}) failed, so there are no results "
            "of it to release; correct the data (the failure is in the back office's analysis runs) and try "
            "again.", code="failed")
    if computed < review.data_version or state is None or state.current_run_id is None:
        raise ReleaseRefused(
            f"The analysis is being recomputed: the data are at version {review.data_version}, the results "
            f"at version {computed}. A release snapshots the results of the current data; try again "
            "when the page no longer says “Updating”.", code="stale")
    previous = Release.objects.filter(review=review).order_by("-major", "-minor", "-patch").first()
    # The release's own diagram: the flow since the previous release (PRISMA 2020 for updated reviews).
    prisma = study_selectors.prisma_counts(review, study_selectors.prisma_previous_version_at(review)).as_json()
    searches = _searches(review)
    # Judged on the whole review's counts: the release's own flow depends on the previous release.
    fingerprint = _fingerprint(review, study_selectors.prisma_counts(review).as_json(), searches)
    if previous is not None and previous.fingerprint == fingerprint:
        raise ReleaseRefused(
            f"Nothing changed since release {previous.version} (data version {previous.data_version}): "
            "no new data, results, screening or review text to release.", code="unchanged")
    headline = current_headline(review)
    studies = [[pk, label] for pk, label in Study.objects.filter(review=review, is_included=True)
               .order_by("year", "label").values_list("pk", "label")]
    notes = release_notes(previous=previous, headline=headline, studies=studies, searches=searches,
                          trigger=trigger, note=note, alpha=1 - review.confidence_level)
    level, (major, minor, patch) = _level(previous, notes)
    version = f"{major}.{minor}.{patch}"
    snapshot = capture(review, _viewer(review, user), release_path(review.slug, version))
    body = {"analysis": snapshot.analysis,
            "pages": {path: vars(page) for path, page in snapshot.pages.items()},
            "files": {path: vars(item) for path, item in snapshot.files.items()},
            }
    release = Release.objects.create(
        review=review, title=review.title, major=major, minor=minor, patch=patch, level=level, data_version=review.data_version,
        run_id_at_cut=state.current_run_id, created_at=timezone.now(),
        created_by=user if getattr(user, "is_authenticated", False) else None, trigger=trigger, note=note,
        notes=notes, authors=review_authors(review), prisma=prisma, risk_of_bias=snapshot.risk_of_bias,
        headline=headline, studies=studies, fingerprint=fingerprint,
        snapshot_gz=zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6),
    )
    # The living PRISMA diagram now counts what is identified after this release.
    Review.objects.filter(pk=review.pk).update(latest_release_at=release.created_at)
    review.latest_release_at = release.created_at
    return release


# --- The schedule --------------------------------------------------------------------------------


def release_schedule_set(*, review: Review, user, every_days: int | None) -> ReleaseSchedule:
    """A manager sets (or, with None, stops) the review's scheduled releases: every ``every_days``
    days, a release is cut if anything changed since the last one. Audited (pghistory)."""
    access.require_role(user, review, access.MANAGER, "schedule releases")
    if every_days is not None and not 1 <= every_days <= 3650:
        raise ValidationError({"every_days": "Releases can be scheduled every 1 to 3,650 days."})
    with transaction.atomic():
        schedule, _ = ReleaseSchedule.objects.update_or_create(
            review=review, defaults={"every_days": every_days, "set_by": user, "set_at": timezone.now()})
    return schedule


def releases_due(now=None) -> list[int]:
    """Ids of reviews whose schedule says a release is due: no release yet, or the last one at least
    ``every_days`` old. (Whether anything changed is for ``release_create`` to say.)"""
    now = now or timezone.now()
    due = []
    for schedule in ReleaseSchedule.objects.filter(every_days__isnull=False).order_by("review_id"):
        last = (Release.objects.filter(review_id=schedule.review_id).order_by("-created_at")
                .values_list("created_at", flat=True).first())
        if last is None or now - last >= timedelta(days=schedule.every_days):
            due.append(schedule.review_id)
    return due


def scheduled_release_cut(review_id: int, capture: Capture) -> Release | None:
    """Cut a scheduled release if one is due and anything changed; None when not (behind, unchanged
    or not due: the next beat tries again)."""
    if review_id not in releases_due():
        return None
    review = Review.objects.get(pk=review_id)
    schedule = ReleaseSchedule.objects.get(review=review)
    try:
        return release_create(review=review, user=None, capture=capture, trigger=ReleaseTrigger.SCHEDULE,
                              note=f"Scheduled release (every {schedule.every_days} days).")
    except ReleaseRefused:
        return None
