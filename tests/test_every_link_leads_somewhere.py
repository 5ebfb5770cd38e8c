"""Every link the product shows leads somewhere its viewer may go, and each role reaches its work by
links alone (issue 18's crawl).

Signed in as each demo role, the crawl starts at the front page and follows every link of every page
it reaches on this site (GET only; forms are not submitted), and records a dead end wherever a link
answers anything but a page: a 4xx or 5xx, or a redirect to the sign-in page of someone signed in.
The back office is a separate application with its own navigation: the crawl checks its link answers
but does not walk it.
"""
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from django.test import Client
from django.urls import Resolver404, resolve
import pytest

from studies.models import Review
from studies.services.demo import DEMO_SLUG

pytestmark = pytest.mark.django_db

MAX_PAGES = 400  # per role
# Links that differ only in their query (a page of the audit trail, the next record, a filter) are
# followed a few times per address: the gate answers by address, and a walk of every audit page or
# every record in the queue would only repeat it.
QUERIES_PER_PATH = 3


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def links_of(html: str, base: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        url, _ = urldefrag(urljoin(base, href))
        parts = urlsplit(url)
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
            continue  # another site (none is linked today)
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def crawl(client: Client) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """Dead ends (link → (page that showed it, answer)) and the URL names of the pages reached."""
    seen, dead, reached = {"/"}, {}, set()
    queries: dict[str, int] = {}
    queue = deque([("/", "start")])
    while queue and len(seen) <= MAX_PAGES:
        path, shown_on = queue.popleft()
        response = client.get(path)
        status = response.status_code
        if status in (301, 302):
            target = response["Location"]
            if "/accounts/login/" in target:
                dead[path] = (shown_on, status)
                continue
            if target not in seen:
                seen.add(target)
                queue.append((target, shown_on))
            continue
        if status != 200:
            dead[path] = (shown_on, status)
            continue
        try:
            reached.add(resolve(urlsplit(path).path).view_name)
        except Resolver404:
            dead[path] = (shown_on, 404)
            continue
        if path.startswith("/admin/") or "text/html" not in response.get("Content-Type", ""):
            continue
        body = b"".join(response) if response.streaming else response.content
        for link in links_of(body.decode(), path):
            if link in seen:
                continue
            address = urlsplit(link).path
            if link != address:
                queries[address] = queries.get(address, 0) + 1
                if queries[address] > QUERIES_PER_PATH:
                    continue
            seen.add(link)
            queue.append((link, path))
    assert len(seen) <= MAX_PAGES + 50, "the crawl ran away: a page links to endless new addresses"
    return dead, reached


# Each role's work, as URL names its links must reach from the front page.
WORK = {
    "demo-manager": {"studies:team", "studies:audit", "password_change", "studies:import-upload", "studies:duplicate-queue", "studies:screening", "studies:agreement",
                     "studies:included", "studies:extraction-list", "studies:rob-list", "review", "admin:index"},
    "demo-screener-1": {"studies:screen", "studies:screening", "studies:my-decisions", "review"},
    "demo-tutor": {"studies:conflicts", "studies:screening", "studies:agreement", "studies:included"},
    "demo-extractor": {"studies:extraction-list", "studies:extraction-study"},
    "demo-assessor-1": {"studies:rob-list"},  # and the assessment form of the review's tool (below)
}


@pytest.mark.parametrize("username", sorted(WORK))
def test_every_link_a_role_is_shown_leads_somewhere_and_reaches_its_work(username, django_user_model):
    review = Review.objects.get(slug=DEMO_SLUG)
    Review.objects.filter(pk=review.pk).update(is_public=False)  # the team's view, not the readers'
    client = Client()
    client.force_login(django_user_model.objects.get(username=username))
    dead, reached = crawl(client)
    assert not dead, f"{username}: links that lead nowhere (link: (shown on, answer)): {dead}"
    work = WORK[username] | ({"studies:rob1-assess" if review.rob_tool == "ROB1" else "studies:rob2-assess"}
                             if username.startswith("demo-assessor") else set())
    missing = work - reached
    assert not missing, f"{username} cannot reach {sorted(missing)} by links from the front page"


def test_the_crawl_finds_a_dead_link(django_user_model, monkeypatch):
    """The crawl can fail: a link to a page the role may not open is reported."""
    client = Client()
    client.force_login(django_user_model.objects.get(username="demo-screener-1"))
    from studies.pages import work

    broken = work._Entry("Extraction (wrongly shown)", "studies:extraction-list", work.SCREENERS)
    monkeypatch.setattr(work, "_ENTRIES", (*work._ENTRIES, broken))
    dead, _ = crawl(client)
    assert f"/reviews/{DEMO_SLUG}/extraction/" in dead
