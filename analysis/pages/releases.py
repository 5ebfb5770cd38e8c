"""Releases for readers: the list, each release at its permanent URL (the living page as it was, under
a banner), its downloads served from the snapshot, the difference between two versions, and an Atom
feed of releases and conclusion changes. Managers cut releases and set the schedule on the list page."""
from __future__ import annotations

from functools import lru_cache

from django.contrib import messages
from django.contrib.syndication.views import Feed
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.http import require_GET, require_http_methods

from analysis import selectors
from analysis.models import Release, ReleaseSchedule
from analysis.pages.release_capture import absolute, snapshot_capture
from analysis.services import releases as release_services
from studies import access
from studies.models import Review


def release_url(release: Release) -> str:
    """The release's permanent address (absolute when the site knows its own, else the path)."""
    return absolute(reverse("review-release", args=[release.review.slug, release.version]))


def citation(release: Release, request: HttpRequest | None = None) -> str:
    """The release's citation line; its URL absolute from the site's address, else from the request."""
    url = release_url(release)
    if url.startswith("/") and request is not None:
        url = request.build_absolute_uri(url)
    return release_services.citation_text(release, url)


@lru_cache(maxsize=16)
def _snapshot(release_pk: int) -> dict:
    """A release's decoded snapshot; cached per process for good, since a release never changes."""
    return Release.objects.only("snapshot_gz").get(pk=release_pk).snapshot


def _readable_review(request: HttpRequest, slug: str) -> tuple[Review, frozenset[str]]:
    """The review if the visitor may read its living pages (the same rule for its releases)."""
    return access.review_for(request, slug, access.READERS)


def _release_or_404(review: Review, version: str) -> Release:
    release = selectors.release_of(review, version, with_snapshot=False)
    if release is None:
        raise Http404("No such release.")
    return release


def _versions(review: Review) -> list[tuple[str, str]]:
    """(version, date) of every release, newest first, for the switcher."""
    return [(f"{major}.{minor}.{patch}", created_at) for major, minor, patch, created_at in
            selectors.releases_of(review).values_list("major", "minor", "patch", "created_at")]


@require_http_methods(["GET", "POST"])
def releases_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/releases/``: every release with its notes and citation; managers cut one
    (with a note) or set the schedule."""
    review, roles = _readable_review(request, slug)
    is_manager = bool(roles & access.MANAGER)
    if request.method == "POST":
        review = access.review_for(request, slug, access.MANAGER, action="cut releases")[0]
        try:
            if request.POST.get("action") == "schedule":
                every = (request.POST.get("every_days") or "").strip()
                if every and not every.isdigit():
                    raise ValidationError({"every_days": "Give a whole number of days, or leave it empty."})
                release_services.release_schedule_set(review=review, user=request.user,
                                                      every_days=int(every) if every else None)
                messages.success(request, f"Releases are now cut every {every} days when the data changed."
                                 if every else "Scheduled releases are off.")
            else:
                release = release_services.release_create(review=review, user=request.user, capture=snapshot_capture,
                                                          note=request.POST.get("note", ""))
                messages.success(request, f"Release {release.version} was cut.")
        except release_services.ReleaseRefused as refused:
            messages.error(request, refused.reason)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("review-releases", slug=slug)
    releases = list(selectors.releases_of(review))
    schedule = ReleaseSchedule.objects.filter(review=review).first()
    return render(request, "analysis/releases.html", {
        "review": review, "is_manager": is_manager, "schedule": schedule,
        "releases": [(r, citation(r, request), release_url(r)) for r in releases],
        "versions": [(r.version, r.created_at) for r in releases],
        "status": selectors.analysis_status(review),
    })


@require_GET
def release_page(request: HttpRequest, slug: str, version: str, rest: str = "") -> HttpResponse:
    """``/reviews/<slug>/releases/<version>/<rest>``: a release's page, figure or download, exactly
    as the living site served it when the release was cut."""
    review = _readable_review(request, slug)[0]
    release = _release_or_404(review, version)
    snapshot = _snapshot(release.pk)
    page = snapshot["pages"].get(rest)
    if page is not None:
        return render(request, "analysis/release_page.html", {
            "review": review, "release": release, "page": page, "is_front": rest == "",
            "citation": citation(release, request), "versions": _versions(review),
            "level": release.get_level_display(),
        })
    item = snapshot["files"].get(rest)
    if item is None:
        raise Http404("This release has no such page or file.")
    response = HttpResponse(item["body"], content_type=item["content_type"])
    if item["filename"] or request.GET.get("download"):
        name = item["filename"] or rest.rsplit("/", 1)[-1]
        stem, _, ext = name.rpartition(".")
        response["Content-Disposition"] = f'attachment; filename="{stem or name}-{release.version}.{ext or "txt"}"'
    return response


def _headline(review: Review, version: str) -> tuple[list[dict], str]:
    if version == "living":
        return release_services.current_headline(review), "Living version"
    return _release_or_404(review, version).headline, f"Release {version}"


@require_GET
def release_compare(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/releases/compare/?from=1.0.0&to=living``: per outcome, k and estimate [CI]
    before and after, and the conclusions that changed between the two."""
    review = _readable_review(request, slug)[0]
    versions = _versions(review)
    if not versions:
        raise Http404("This review has no releases yet.")
    before_version = request.GET.get("from") or (versions[1][0] if len(versions) > 1 else versions[0][0])
    after_version = request.GET.get("to") or (versions[0][0] if len(versions) > 1 else "living")
    before, before_label = _headline(review, before_version)
    after, after_label = _headline(review, after_version)
    return render(request, "analysis/release_compare.html", {
        "review": review, "versions": versions, "before_version": before_version, "after_version": after_version,
        "before_label": before_label, "after_label": after_label,
        "rows": release_services.estimate_changes(before, after),
        "changes": release_services.conclusions_changed(before, after, 1 - review.confidence_level),
    })


class ReleasesFeed(Feed):
    """``/reviews/<slug>/releases.atom``: releases and conclusion changes, newest first."""

    feed_type = Atom1Feed

    def get_object(self, request: HttpRequest, slug: str) -> Review:
        return _readable_review(request, slug)[0]

    def title(self, review: Review) -> str:
        return f"{review.title}: releases and conclusion changes"

    def link(self, review: Review) -> str:
        return reverse("review-releases", args=[review.slug])

    def subtitle(self, review: Review) -> str:
        return "Each citable release of the living review, and each change of a conclusion as the analysis updates."

    def items(self, review: Review) -> list:
        # (kind, when, row, review slug): the slug rides along so that links cost no query per entry.
        entries = [("release", r.created_at, r, review.slug) for r in selectors.releases_of(review)[:30]]
        entries += [("change", c.created_at, c, review.slug) for c in selectors.conclusion_changes(review)[:30]]
        return sorted(entries, key=lambda entry: entry[1], reverse=True)[:50]

    def item_title(self, item) -> str:
        kind, _, row, _ = item
        if kind == "release":
            return f"Release {row.version}: {row.get_level_display().lower()}"
        return f"{row.outcome.name}: {row.get_kind_display()}"

    def item_description(self, item) -> str:
        kind, _, row, _ = item
        if kind == "release":
            return row.notes.get("summary", "") + (f" Note: {row.note}" if row.note else "")
        return f"{row.description} (data version {row.run.data_version})"

    def item_link(self, item) -> str:
        kind, _, row, slug = item
        if kind == "release":
            return reverse("review-release", args=[slug, row.version])
        return reverse("review", args=[slug]) + "#changes"

    def item_guid(self, item) -> str:
        kind, _, row, _ = item
        return f"{self.item_link(item)}#{kind}-{row.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item[1]

    def item_updateddate(self, item):
        return item[1]


releases_feed = ReleasesFeed()


def release_analysis_json(release: Release) -> dict:
    """The analysis API's answer as it was when the release was cut."""
    return _snapshot(release.pk)["analysis"]

