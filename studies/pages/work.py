"""What each member of a review's team can do there: the home page's "Your reviews" (with live counts of
the work waiting) and the review's menu in the header. One list for both, read from the person's
roles (``access.request_roles``), so every link the product shows leads to a page that person may
open: each entry names the role set its page's gate admits (the same constants the views pass to
``access.review_for``), and ``tests/test_every_link_leads_somewhere.py`` follows them all as each role.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse

from studies import access, selectors
from studies.models import Review, Role, Stage


@dataclass(frozen=True)
class Task:
    """One piece of work in a review: a page, and how many items wait there for this person."""

    label: str
    url: str
    count: int | None = None  # None: a page to open, not a queue

    @property
    def waiting(self) -> bool:
        return bool(self.count)


@dataclass(frozen=True)
class _Entry:
    label: str
    url_name: str
    allowed: frozenset[str]  # who may open the page: the set its view's gate admits
    stage: str | None = None
    # The count of items waiting for this person, when the entry is a queue.
    count: Callable[[Review, object, dict], int] | None = None


def _screening_left(stage: str) -> Callable[[Review, object, dict], int]:
    return lambda review, user, memo: selectors.screening_left(review=review, stage=stage, screener=user)


def _conflicts(stage: str) -> Callable[[Review, object, dict], int]:
    return lambda review, user, memo: selectors.conflicts_waiting(review=review, stage=stage, tutor=user)


def _paired(read: Callable[[Review, object], selectors.PairedWork], part: str,
            ) -> Callable[[Review, object, dict], int]:
    """One part (``to_enter`` or ``to_agree``) of a paired count: read once per page (``memo``) for
    both entries that show it."""
    def count(review: Review, user, memo: dict) -> int:
        if read not in memo:
            memo[read] = read(review, user)
        return getattr(memo[read], part)
    return count


def _extraction(review: Review, user) -> selectors.PairedWork:
    return selectors.extraction_work(review=review, extractor=user)


def _rob(review: Review, user) -> selectors.PairedWork:
    return selectors.rob_work(review=review, assessor=user)


SCREENERS = frozenset({Role.SCREENER})
TUTORS = frozenset({Role.TUTOR})

# In the order a review's work flows; the labels say what waits there.
_ENTRIES = (
    _Entry("Team and invitations", "studies:team", access.MANAGER),
    _Entry("Import records", "studies:import-upload", access.MANAGER),
    _Entry("Living searches: schedule, run now, history", "studies:searches", access.MANAGER),
    _Entry("Possible duplicates to decide", "studies:duplicate-queue", access.MANAGER,
           count=lambda review, user, memo: selectors.duplicates_waiting(review=review)),
    _Entry("Titles and abstracts left for me to screen", "studies:screen", SCREENERS, Stage.TITLE_ABSTRACT,
           count=_screening_left(Stage.TITLE_ABSTRACT)),
    _Entry("Full texts to retrieve", "studies:screen", SCREENERS, Stage.FULL_TEXT,
           count=lambda review, user, memo: selectors.fulltexts_to_retrieve(review=review, screener=user)),
    _Entry("Full texts left for me to screen", "studies:screen", SCREENERS, Stage.FULL_TEXT,
           count=_screening_left(Stage.FULL_TEXT)),
    _Entry("Title/abstract conflicts waiting for a tutor", "studies:conflicts", TUTORS, Stage.TITLE_ABSTRACT,
           count=_conflicts(Stage.TITLE_ABSTRACT)),
    _Entry("Full-text conflicts waiting for a tutor", "studies:conflicts", TUTORS, Stage.FULL_TEXT,
           count=_conflicts(Stage.FULL_TEXT)),
    _Entry("Screening overview", "studies:screening", access.SCREENING),
    _Entry("My screening decisions", "studies:my-decisions", SCREENERS),
    _Entry("E-mails about new records from searches", "studies:search-digest", SCREENERS),
    _Entry("Agreement between screeners", "studies:agreement", access.OVERSEERS),
    _Entry("Included records and their studies", "studies:included", access.OVERSEERS),
    _Entry("Studies to extract", "studies:extraction-list", frozenset({Role.EXTRACTOR}),
           count=_paired(_extraction, "to_enter")),
    _Entry("Extractions to agree", "studies:extraction-list", access.EXTRACTION,
           count=_paired(_extraction, "to_agree")),
    _Entry("Extracted values awaiting check", "studies:values-awaiting-check", access.VALUE_CHECKERS,
           count=lambda review, user, memo: selectors.values_awaiting_check_count(review=review)),
    _Entry("Risk-of-bias assessments to do", "studies:rob-list", frozenset({Role.ASSESSOR}),
           count=_paired(_rob, "to_enter")),
    _Entry("Risk-of-bias assessments to agree", "studies:rob-list", access.RISK_OF_BIAS,
           count=_paired(_rob, "to_agree")),
    _Entry("Certainty of evidence (GRADE): judge and override", "review-grade-assessment", access.GRADE_ASSESSORS),
    _Entry("Prioritised screening and the stopping rule", "studies:prioritisation", access.MANAGER),
    _Entry("Audit trail: who changed what", "studies:audit", access.MANAGER),
    _Entry("RevMan 5: parity report and export", "revman-parity", access.TEAM),
    _Entry("The review's analysis pages", "review", access.READERS),
    _Entry("Summary of findings: certainty of the evidence (GRADE)", "review-summary-of-findings", access.READERS),
    _Entry("Releases: citable versions of the review", "review-releases", access.READERS),
)


def _url(entry: _Entry, review: Review) -> str:
    return reverse(entry.url_name, args=[review.slug, entry.stage] if entry.stage else [review.slug])


def _entries(request: HttpRequest, review: Review) -> list[_Entry]:
    roles = access.request_roles(request, review)
    return [entry for entry in _ENTRIES if roles & entry.allowed]


def review_tasks(request: HttpRequest, review: Review) -> list[Task]:
    """The work this person can do in the review, with live counts (the home page)."""
    user = request.user
    memo: dict = {}
    return [Task(entry.label, _url(entry, review), entry.count(review, user, memo) if entry.count else None)
            for entry in _entries(request, review)]


def review_menu(request: HttpRequest, review: Review) -> list[Task]:
    """The review's pages this person may open, once each (the header's menu; no counts, so it costs
    one memoised roles query)."""
    seen: dict[str, Task] = {}
    for entry in _entries(request, review):
        url = _url(entry, review)
        if entry.url_name in _MENU_LABELS and url not in seen:
            seen[url] = Task(_MENU_LABELS[entry.url_name], url)
    return list(seen.values())


_MENU_LABELS = {
    "review": "Analysis",
    "review-releases": "Releases",
    "review-summary-of-findings": "Summary of findings",
    "studies:team": "Team",
    "studies:screening": "Screening",
    "studies:extraction-list": "Extraction",
    "studies:rob-list": "Risk of bias",
    "studies:import-upload": "Imports",
    "studies:searches": "Searches",
    "studies:duplicate-queue": "Duplicates",
    "revman-parity": "RevMan 5",
}
