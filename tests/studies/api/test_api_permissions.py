"""The permission matrix: every API endpoint × identity × method has an expected answer, and an
endpoint added to the URL configuration without an entry here fails the test.

Identities: anonymous, an outsider (logged in, in no role), and a member in each role; each asked
about an unpublished review and again about the same review published. The rule the table encodes:
a review you may not see answers 404; one you may see answers 403 (401/403 when anonymous) for
what your roles do not allow; an allowed read answers 200; an allowed write gets past the
permission check (201/200/204, or 400 for the empty body the matrix sends to create).
"""
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
import pytest
from rest_framework.test import APIClient

from analysis import services
from analysis.models import ReleaseTrigger
from analysis.pages.release_capture import snapshot_capture
from analysis.services.releases import release_create
from studies.models import Review
from tests.studies.api.conftest import ROLES

TEAM = frozenset(ROLES)
PUBLIC = "public"
MANAGER = frozenset({"manager"})
EXTRACTION = frozenset({"manager", "extractor"})
SCREENING = frozenset({"manager", "screener", "tutor"})
ANYONE = "anyone"  # not about a review: open to everybody

# route → {method: roles allowed}. Detail routes are exercised on a row of the review.
MATRIX: dict[str, dict[str, object]] = {
    "api/schema/": {"GET": ANYONE},
    "api/docs/": {"GET": ANYONE},
    "api/token/": {"POST": ANYONE},
    "api/reviews/": {"GET": ANYONE},
    "api/reviews/<slug:slug>/": {"GET": TEAM | {PUBLIC}, "PATCH": MANAGER, "PUT": MANAGER},
    "api/reviews/<slug:slug>/analysis/": {"GET": TEAM | {PUBLIC}},
    "api/reviews/<slug:slug>/analysis/version/": {"GET": TEAM | {PUBLIC}},
    "api/reviews/<slug:slug>/analysis/changes/": {"GET": TEAM | {PUBLIC}},
    "api/reviews/<slug:slug>/prisma/": {"GET": TEAM | {PUBLIC}},
    "api/reviews/<slug:slug>/analysis/outcomes/<int:pk>/history/": {"GET": TEAM | {PUBLIC}},
    "api/reviews/<slug:slug>/audit/": {"GET": MANAGER},
    # A held value's second look (the matrix's row is not held: the allowed get a 400 saying so).
    "api/reviews/<slug:slug>/outcome-data/<int:pk>/confirm/": {"POST": EXTRACTION},
    "api/reviews/<slug:slug>/outcome-data/<int:pk>/correct/": {"POST": EXTRACTION},
    "api/reviews/<slug:slug>/study-estimates/<int:pk>/confirm/": {"POST": EXTRACTION},
    "api/reviews/<slug:slug>/study-estimates/<int:pk>/correct/": {"POST": EXTRACTION},
    # Releases (issue 20): read like the living analysis; cut by managers on the page or the command line.
    "api/reviews/<slug:slug>/releases/": {"GET": TEAM | {PUBLIC}},
    "api/reviews/<slug:slug>/releases/<str:version>/analysis/": {"GET": TEAM | {PUBLIC}},
    # The GRADE summary of findings (issue 24): read like the living analysis.
    "api/reviews/<slug:slug>/summary-of-findings/": {"GET": TEAM | {PUBLIC}},
}
# Writable resources whose rows are created and read but never changed or removed through the API.
CREATE_ONLY = {"resolutions", "imports"}
NO_DELETE = {"rob1-assessments", "rob2-assessments"}
NO_UPDATE = {"team"}
for segment, read, write in [
    ("sources", MANAGER, MANAGER), ("imports", MANAGER, MANAGER), ("records", TEAM, None),
    ("studies", TEAM | {PUBLIC}, EXTRACTION), ("arms", TEAM | {PUBLIC}, EXTRACTION),
    ("characteristic-fields", TEAM | {PUBLIC}, MANAGER), ("characteristics", TEAM | {PUBLIC}, EXTRACTION),
    ("outcome-domains", TEAM | {PUBLIC}, MANAGER), ("outcomes", TEAM | {PUBLIC}, MANAGER),
    ("time-points", TEAM | {PUBLIC}, MANAGER), ("outcome-data", TEAM | {PUBLIC}, EXTRACTION),
    ("outcome-subgroups", TEAM | {PUBLIC}, MANAGER), ("study-estimates", TEAM | {PUBLIC}, EXTRACTION),
    ("team", TEAM, MANAGER), ("exclusion-reasons", TEAM, MANAGER), ("decisions", SCREENING, {"screener"}),
    ("resolutions", SCREENING, {"tutor"}), ("reports", TEAM, {"tutor", "manager"}),
    ("rob1-assessments", TEAM, {"assessor", "manager"}), ("rob2-assessments", TEAM, {"assessor", "manager"}),
]:
    MATRIX[f"api/reviews/<slug:slug>/{segment}/"] = {"GET": read, **({"POST": write} if write else {})}
    detail = {"GET": read}
    if write and segment not in CREATE_ONLY:
        detail.update({} if segment in NO_UPDATE else {"PATCH": write, "PUT": write})
        detail.update({} if segment in NO_DELETE else {"DELETE": write})
    MATRIX[f"api/reviews/<slug:slug>/{segment}/<int:pk>/"] = detail

IDENTITIES = ["anonymous", "outsider", *ROLES]


def api_routes() -> set[str]:
    routes: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and (prefix + str(pattern.pattern)).startswith("api/"):
                routes.add(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_api_endpoint_has_a_row_in_the_matrix():
    assert api_routes() == set(MATRIX), "add the new endpoint's expected answers to MATRIX"


# Members answer the same whether or not the review is published; outsiders do not.
VIEWERS = [(identity, False) for identity in IDENTITIES] + [("anonymous", True), ("outsider", True)]
CASES = [(route, method) for route, methods in MATRIX.items() for method in methods]


def _expected(allowed, identity: str, published: bool, review_level: bool) -> set[int]:
    if allowed == ANYONE:
        return {200, 400}  # 400: the empty body sent to obtain a token
    roles = ({identity} if identity in ROLES else set()) | ({PUBLIC} if published else set())
    if review_level and identity not in ROLES and not published:
        return {404}  # an unpublished review does not exist outside its team
    if roles & allowed:
        return {200, 201, 204, 400}
    return {401, 403} if identity == "anonymous" else {403}


@pytest.mark.parametrize("route,method", CASES, ids=[f"{m} {r}" for r, m in CASES])
def test_permission_matrix(api_review, route, method):
    review = api_review.review
    segment = route.removeprefix("api/reviews/<slug:slug>/").split("/")[0]
    if "<str:version>" in route:  # a release of the review to read
        services.review_recompute(review.pk)
        release_create(review=review, user=None, capture=snapshot_capture, trigger=ReleaseTrigger.COMMAND)
    path = "/" + route.replace("<slug:slug>", review.slug).replace("<int:pk>", str(api_review.ids.get(segment, 0)))
    path = path.replace("<str:version>", "1.0.0")
    body = {} if method in ("POST", "PUT") else {"notes": "matrix"} if method == "PATCH" else None
    answers = {}
    for identity, published in VIEWERS:
        with transaction.atomic():  # each identity meets the same data (a DELETE is undone)
            if published:
                Review.objects.filter(pk=review.pk).update(is_public=True)
            client = APIClient()
            if api_review.users[identity] is not None:
                client.force_authenticate(api_review.users[identity])
            call = getattr(client, method.lower())
            response = call(path, body, format="json") if body is not None else call(path)
            answers[(identity, published)] = response.status_code
            if response.status_code == 200 and method == "GET" and route.endswith("<int:pk>/"):
                assert response.data["id"] == api_review.ids[segment]
            transaction.set_rollback(True)
    allowed = MATRIX[route][method]
    wrong = {who: code for who, code in answers.items()
             if code not in _expected(allowed, *who, route.startswith("api/reviews/<slug:slug>/"))}
    assert not wrong, f"{method} {route}: unexpected answers {wrong}"


def test_other_reviews_ids_are_not_found_through_this_review(api_review):
    """An id of another review's row answers 404 through this review's URL, for a member too."""
    client = APIClient()
    client.force_authenticate(api_review.users["manager"])
    other_study = api_review.other.studies.create(label="Theirs 2019", year=2019)
    assert client.get(f"/api/reviews/{api_review.review.slug}/studies/{other_study.pk}/").status_code == 404
    assert client.get(f"/api/reviews/{api_review.other.slug}/studies/").status_code == 404
    listed = {r["slug"] for r in client.get("/api/reviews/").data["results"]}
    assert api_review.review.slug in listed and api_review.other.slug not in listed
