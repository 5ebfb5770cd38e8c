"""The permission matrix of the server-rendered pages: every page route (from the URL configuration)
× identity × published or not has an expected answer, decided by ``studies.access`` as the API's
are. A page route added without a row here fails the test.

The rule: a review you may not know exists answers 404; a team page answers 302 (to sign in) to
anonymous visitors, and 403 naming the role needed and the review's managers to a signed-in person
without the role; an allowed request gets past the gate (200, or a redirect or 400/404/409 of the
page's own for the empty form or the missing file the matrix sends).
"""
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
import pytest

from analysis import services as analysis_services
from studies.models import Review
from tests.studies.api.conftest import ROLES

TEAM = frozenset(ROLES)
PUBLIC = "public"
READERS = TEAM | {PUBLIC}
MANAGER = frozenset({"manager"})
OVERSEERS = frozenset({"manager", "tutor"})
SCREENING = frozenset({"manager", "screener", "tutor"})
EXTRACTION = frozenset({"manager", "extractor"})
RISK_OF_BIAS = frozenset({"manager", "assessor"})
ANYONE = "anyone"
SIGNED_IN = "signed in"  # any signed-in person (the page decides the rest); anonymous visitors go to sign in

# route → (method, roles allowed, answers of an allowed request beyond the gate)
OK = {200}
FORM = {200, 302, 400, 409}
MISSING = {200, 302, 400, 404}  # the page's own 404: no such file, candidate or batch in the data
MATRIX: dict[str, tuple[str, object, set[int]]] = {
    "": ("GET", ANYONE, OK),
    "healthz": ("GET", ANYONE, OK),
    # Starting a review takes the permission to add reviews (tests/studies/test_home.py): 403 without it.
    "new-review/": ("GET", SIGNED_IN, {200, 403}),
    "accounts/login/": ("GET", ANYONE, OK),
    "accounts/logout/": ("POST", ANYONE, {302}),
    # Password reset and change (Django's views): change needs a signed-in person (302 to sign in).
    "accounts/password_reset/": ("GET", ANYONE, OK),
    "accounts/password_reset/done/": ("GET", ANYONE, OK),
    "accounts/reset/<uidb64>/<token>/": ("GET", ANYONE, OK),  # the "link does not work" page
    "accounts/reset/done/": ("GET", ANYONE, OK),
    "accounts/password_change/": ("GET", ANYONE, {200, 302}),
    "accounts/password_change/done/": ("GET", ANYONE, {200, 302}),
    # An invitation link: a made-up one answers the page's own 404 ("this link does not work").
    "invitations/<str:token>/": ("GET", ANYONE, {404}),
    "reviews/<slug:slug>/": ("GET", READERS, OK),
    "reviews/<slug:slug>/data.csv": ("GET", READERS, OK),
    "reviews/<slug:slug>/prisma.svg": ("GET", READERS, OK),
    "reviews/<slug:slug>/prisma/": ("GET", READERS, OK),
    "reviews/<slug:slug>/risk-of-bias/<str:figure>.svg": ("GET", READERS, OK),
    "reviews/<slug:slug>/outcomes/<int:outcome_id>/": ("GET", READERS, OK),
    "reviews/<slug:slug>/outcomes/<int:outcome_id>/analysis.R": ("GET", READERS, OK),
    "reviews/<slug:slug>/outcomes/<int:outcome_id>/<str:figure>.svg": ("GET", READERS, OK),
    # Releases (issue 20): read like the living pages; the review has none here, so a release's own
    # pages and the differences answer their 404 past the gate.
    "reviews/<slug:slug>/releases/": ("GET", READERS, OK),
    "reviews/<slug:slug>/releases.atom": ("GET", READERS, OK),
    "reviews/<slug:slug>/releases/compare/": ("GET", READERS, MISSING),
    "reviews/<slug:slug>/releases/<str:version>/": ("GET", READERS, MISSING),
    "reviews/<slug:slug>/releases/<str:version>/<path:rest>": ("GET", READERS, MISSING),
    # The GRADE summary of findings (issue 24): read like the living pages; judged by assessors and managers.
    "reviews/<slug:slug>/summary-of-findings/": ("GET", READERS, OK),
    "reviews/<slug:slug>/summary-of-findings.csv": ("GET", READERS, OK),
    "reviews/<slug:slug>/summary-of-findings.html": ("GET", READERS, OK),
    "reviews/<slug:slug>/summary-of-findings/assess/": ("GET", RISK_OF_BIAS, OK),
    "reviews/<slug:slug>/imports/": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/imports/<int:batch_id>/undo/": ("POST", MANAGER, FORM),
    "reviews/<slug:slug>/duplicates/": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/imports/previews/<int:pending_id>/": ("GET", MANAGER, {302}),  # none: back to the upload
    "reviews/<slug:slug>/imports/previews/<int:pending_id>/confirm/": ("POST", MANAGER, FORM),
    "reviews/<slug:slug>/imports/previews/<int:pending_id>/cancel/": ("POST", MANAGER, {302}),
    "reviews/<slug:slug>/duplicates/<int:candidate_id>/": ("POST", MANAGER, MISSING),
    "reviews/<slug:slug>/audit/": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/duplicates/<int:candidate_id>/undo/": ("POST", MANAGER, MISSING),
    "reviews/<slug:slug>/duplicates/bulk/": ("POST", MANAGER, FORM),
    "reviews/<slug:slug>/risk-of-bias/": ("GET", RISK_OF_BIAS, OK),
    "reviews/<slug:slug>/risk-of-bias/propose/": ("POST", RISK_OF_BIAS, FORM),
    # One's own assessment or extraction: for assessors and extractors (a manager arbitrates the consensus).
    "reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/": ("GET", frozenset({"assessor"}), OK),
    "reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/consensus/": ("GET", RISK_OF_BIAS, OK),
    "reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/outcomes/<int:outcome_id>/":
        ("GET", frozenset({"assessor"}), OK),
    "reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/outcomes/<int:outcome_id>/consensus/":
        ("GET", RISK_OF_BIAS, OK),
    "reviews/<slug:slug>/extraction/": ("GET", EXTRACTION, OK),
    "reviews/<slug:slug>/extraction/awaiting-check/": ("GET", EXTRACTION, OK),
    "reviews/<slug:slug>/extraction/convert/": ("POST", EXTRACTION, FORM),
    "reviews/<slug:slug>/extraction/studies/<int:study_id>/": ("GET", frozenset({"extractor"}), OK),
    "reviews/<slug:slug>/extraction/studies/<int:study_id>/consensus/": ("GET", EXTRACTION, FORM),
    "reviews/<slug:slug>/extraction/studies/<int:study_id>/arms/": ("POST", frozenset({"extractor"}), {302}),
    "reviews/<slug:slug>/extraction/studies/<int:study_id>/reports/<int:record_id>/pdf": ("GET", EXTRACTION, MISSING),
    "reviews/<slug:slug>/screening/": ("GET", SCREENING, OK),
    "reviews/<slug:slug>/screening/agreement/": ("GET", OVERSEERS, OK),
    "reviews/<slug:slug>/screening/included/": ("GET", OVERSEERS, OK),
    "reviews/<slug:slug>/screening/full-text/<int:record_id>/pdf": ("GET", SCREENING, MISSING),
    "reviews/<slug:slug>/screening/<str:stage>/": ("GET", frozenset({"screener"}), OK),
    "reviews/<slug:slug>/screening/<str:stage>/undo/": ("POST", frozenset({"screener"}), FORM),
    "reviews/<slug:slug>/screening/<str:stage>/withdraw/": ("POST", frozenset({"screener"}), MISSING),
    "reviews/<slug:slug>/screening/mine/": ("GET", frozenset({"screener"}), OK),
    "reviews/<slug:slug>/screening/<str:stage>/conflicts/": ("GET", frozenset({"tutor"}), OK),
    "reviews/<slug:slug>/team/": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/team/invitations/": ("POST", MANAGER, FORM),
    "reviews/<slug:slug>/team/invitations/<int:invitation_id>/resend/": ("POST", MANAGER, MISSING),
    "reviews/<slug:slug>/team/invitations/<int:invitation_id>/revoke/": ("POST", MANAGER, MISSING),
    "reviews/<slug:slug>/team/roles/": ("POST", MANAGER, FORM),
    "reviews/<slug:slug>/team/roles/<int:membership_id>/remove/": ("POST", MANAGER, FORM),
    "reviews/<slug:slug>/screening/<str:stage>/conflicts/withdraw/": ("POST", frozenset({"tutor"}), MISSING),
    # Living searches (issue 21): managers; the digest choice is every team member's own.
    # RevMan interchange (issue 23): the parity report for the team, the review as .rm5 / CSV for managers.
    "reviews/<slug:slug>/revman/parity/": ("GET", TEAM, OK),
    "reviews/<slug:slug>/revman/export.rm5": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/revman/study-data.csv": ("GET", MANAGER, OK),
    # Prioritised screening and the stopping rule (issue 22): the manager's page.
    "reviews/<slug:slug>/screening/prioritisation/": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/searches/": ("GET", MANAGER, OK),
    "reviews/<slug:slug>/searches/digest/": ("GET", TEAM, OK),
    "reviews/<slug:slug>/searches/<int:search_id>/": ("GET", MANAGER, MISSING),
    "reviews/<slug:slug>/searches/<int:search_id>/active/": ("POST", MANAGER, MISSING),
    "reviews/<slug:slug>/searches/<int:search_id>/run/": ("POST", MANAGER, MISSING),
}
IDENTITIES = ["anonymous", "outsider", *ROLES]
VIEWERS = [(identity, False) for identity in IDENTITIES] + [("anonymous", True), ("outsider", True)]


def page_routes() -> set[str]:
    routes: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(("api/", "admin/")):
                continue
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                routes.add(route)

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_page_has_a_row_in_the_matrix():
    assert page_routes() == set(MATRIX), "add the new page's expected answers to MATRIX"


def expected(allowed, beyond: set[int], identity: str, published: bool, review_level: bool) -> set[int]:
    if allowed == ANYONE:
        return beyond
    if allowed == SIGNED_IN:
        return {302} if identity == "anonymous" else beyond
    roles = ({identity} if identity in ROLES else set()) | ({PUBLIC} if published else set())
    if roles & allowed:
        return beyond
    if review_level and not roles and not published:
        return {404} if allowed == READERS or identity != "anonymous" else {302}
    if identity == "anonymous":
        return {302}  # to the sign-in page: team pages need a signed-in person
    return {403}


@pytest.fixture
def page_review(api_review):
    analysis_services.review_recompute(api_review.review.pk)
    return api_review


@pytest.mark.parametrize("route", sorted(MATRIX), ids=sorted(MATRIX))
def test_page_permission_matrix(page_review, route):
    review = page_review.review
    method, allowed, beyond = MATRIX[route]
    ids = page_review.ids
    path = "/" + (route.replace("<slug:slug>", review.slug).replace("<int:outcome_id>", str(ids["outcomes"]))
                  .replace("<int:study_id>", str(ids["studies"])).replace("<int:batch_id>", str(ids["imports"]))
                  .replace("<int:candidate_id>", "0").replace("<int:pending_id>", "0").replace("<int:record_id>", str(ids["records"]))
                  .replace("<str:stage>", "title_abstract").replace("<int:invitation_id>", "0").replace("<int:search_id>", "0")
                  .replace("<int:membership_id>", str(ids["team"])).replace("<str:token>", "0.made-up")
                  .replace("<uidb64>/<token>", "MQ/made-up-token"))
    path = path.replace("risk-of-bias/<str:figure>.svg", "risk-of-bias/traffic-light.svg")
    path = path.replace("<str:figure>.svg", "forest.svg")
    path = path.replace("<str:version>", "1.0.0").replace("<path:rest>", "data.csv")
    answers, bodies = {}, {}
    for identity, published in VIEWERS:
        with transaction.atomic():
            if published:
                Review.objects.filter(pk=review.pk).update(is_public=True)
            client = Client()
            if page_review.users[identity] is not None:
                client.force_login(page_review.users[identity])
            response = client.post(path) if method == "POST" else client.get(path)
            answers[(identity, published)] = response.status_code
            if response.status_code == 403:
                bodies[(identity, published)] = b"".join(response) if response.streaming else response.content
            transaction.set_rollback(True)
    wrong = {who: code for who, code in answers.items()
             if code not in expected(allowed, beyond, *who, route.startswith("reviews/"))}
    assert not wrong, f"{method} {route}: unexpected answers {wrong}"
    for who, body in bodies.items() if allowed != SIGNED_IN else ():  # a helpful 403: the role needed and who manages the review
        text = body.decode()
        assert "role in" in text and page_review.users["manager"].username in text, (who, text[:300])
