"""What a release keeps: the reader pages, figures, downloads and the analysis API's answer exactly
as the living site draws them at the moment of the cut (``analysis.services.releases`` calls
``snapshot_capture`` inside its one consistent read of the database).

The living pages are the single source of how things look: the pages' bodies are built by the same
functions the living pages use, and every figure, download and API answer they link to is fetched
from its own view. Links are then pointed at the release (``/reviews/<slug>/releases/<version>/...``),
so a release page never leads to living numbers unless it says so.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, QueryDict
from django.urls import Resolver404, resolve

from analysis import selectors
from analysis.pages import reader
from analysis.services.releases import CapturedFile, CapturedPage, ReleaseSnapshot
from studies.models import Review


def site_origin() -> str:
    """``https://reviews.example.org`` from the ``SITE_URL`` setting; empty without one."""
    return getattr(settings, "SITE_URL", "").rstrip("/")


def absolute(path: str) -> str:
    """A path as an absolute URL when the site knows its own address, else the path."""
    return site_origin() + path


class _InternalRequest(HttpRequest):
    """A request made by the site to itself: its host is ours, not a client's header, so it is not
    checked against ``ALLOWED_HOSTS`` (the site's own address need not be listed there)."""

    def get_host(self) -> str:
        return self.META["HTTP_HOST"]


def _internal_request(path: str, query: str, viewer) -> HttpRequest:
    """A GET of one of this site's views, from inside the cut (no network, no middleware): the
    reader views only need the viewer and the host."""
    request = _InternalRequest()
    request.method = "GET"
    request.path = request.path_info = path
    request.GET = QueryDict(query)
    host = urlsplit(site_origin()).netloc or "localhost"
    request.META = {"HTTP_HOST": host, "SERVER_NAME": host.split(":")[0], "SERVER_PORT": "80",
                    "HTTP_ACCEPT": "application/json", "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    request.user = viewer
    request._dont_enforce_csrf_checks = True
    return request


def _fetch(path: str, query: str, viewer) -> CapturedFile | None:
    """One of the site's answers, as text; None when the view does not answer 200."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    request = _internal_request(path, query, viewer)
    try:
        response = match.func(request, *match.args, **match.kwargs)
    except Http404:
        return None
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    if response.status_code != 200:
        return None
    content = (b"".join(response.streaming_content) if getattr(response, "streaming", False)
               else response.content)
    disposition = response.get("Content-Disposition", "")
    filename = disposition.split('filename="', 1)[1].rstrip('"') if 'filename="' in disposition else ""
    return CapturedFile(response.get("Content-Type", "application/octet-stream"), content.decode("utf-8"), filename)


def snapshot_capture(review: Review, viewer, release_path: str) -> ReleaseSnapshot:
    """Capture every reader page of ``review`` and what they link to, with links into the release."""
    slug = review.slug
    living = f"/reviews/{slug}/"
    api = f"/api/reviews/{slug}/"
    host_origin = "http://" + (urlsplit(site_origin()).netloc or "localhost")

    def relative(url: str) -> tuple[str, str] | None:
        """(path relative to the review, query) of a link to the living review; None otherwise."""
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != urlsplit(host_origin).netloc:
            return None
        if parts.path.startswith(f"{living}releases/") or parts.path.startswith(f"{api}releases/"):
            return None
        if parts.path.startswith(living):
            return parts.path.removeprefix(living), parts.query
        if parts.path.startswith(api):
            return "api/" + parts.path.removeprefix(api), parts.query
        return None

    def release_url(rel: str, query: str) -> str:
        url = f"{api}releases/{release_path.rstrip('/').rsplit('/', 1)[1]}/analysis/" if rel == "api/analysis/" \
            else release_path + rel
        return url + (f"?{query}" if query else "")

    def living_path(rel: str) -> str:
        return api + rel.removeprefix("api/") if rel.startswith("api/") else living + rel

    # The pages: the review page and every outcome's page, built as the living pages build them.
    pages: dict[str, CapturedPage] = {}
    built = reader.review_page_build(review)
    pages[""] = CapturedPage(built.title, str(built.body), built.figure_png)
    for outcome in selectors.review_outcomes(review):
        built = reader.outcome_page_build(review, outcome.pk)
        pages[f"outcomes/{outcome.pk}/"] = CapturedPage(built.title, str(built.body), built.figure_png)
    # The GRADE summary of findings (issue 24): a release carries its table.
    built = reader.sof_page_build(review)
    pages["summary-of-findings/"] = CapturedPage(built.title, str(built.body), built.figure_png)

    # What they link to, and the downloads every release has.
    wanted = {"data.csv": "", "api/analysis/": "", "prisma.svg": "", "summary-of-findings.csv": "",
              "summary-of-findings.html": "", "api/summary-of-findings/": ""}
    wanted.update({f"{rel}analysis.R": "" for rel in pages if rel})
    link = re.compile(r'="((?:https?://[^/"]+)?/[^"]*)"')
    for page in pages.values():
        for url in link.findall(page.body):
            found = relative(url)
            if found is not None and found[0] not in pages:
                wanted.setdefault(found[0], "")
    files: dict[str, CapturedFile] = {}
    for rel in sorted(wanted):
        fetched = _fetch(living_path(rel), "", viewer)
        if fetched is not None:
            files[rel] = fetched

    def point_at_release(match: re.Match) -> str:
        url = match.group(1)
        found = relative(url)
        if found is None or (found[0] not in pages and found[0] not in files):
            return match.group(0)
        return f'="{release_url(*found)}"'

    pages = {rel: CapturedPage(page.title, link.sub(point_at_release, page.body), page.figure_png)
             for rel, page in pages.items()}
    # Absolute links inside downloads (the R script reads the CSV from the site) point at the release.
    absolute_link = re.compile(re.escape(host_origin) + r'(/[^\s"\')]*)')
    for rel, item in list(files.items()):
        body = absolute_link.sub(
            lambda m: absolute(release_url(*relative(m.group(1)))) if relative(m.group(1)) is not None
            and relative(m.group(1))[0] in files else m.group(0), item.body)
        if rel.endswith(".R"):
            body = (f"# Release {release_path.rstrip('/').rsplit('/', 1)[1]} of this review: "
                    f"{absolute(release_path)}\n# Run it beside this release's data.csv to reproduce that "
                    f"release's numbers.\n{body}")
        files[rel] = CapturedFile(item.content_type, body, item.filename)

    analysis = json.loads(files["api/analysis/"].body) if "api/analysis/" in files else {}
    table = reader.review_rob_table(review)
    return ReleaseSnapshot(analysis=analysis, pages=pages, files=files,
                           risk_of_bias=asdict(table) if table is not None else None)
