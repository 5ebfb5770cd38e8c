"""Error pages people can act on, in the site's layout: a 404 that never reveals a private review, a
403 that names the role and the managers, 400 and 500 pages that say what to do."""
import re

from django.template.loader import render_to_string
from django.test import Client
import pytest

from tests.studies.screening.conftest import build_screening_review

pytestmark = pytest.mark.django_db


def test_a_private_review_answers_exactly_like_an_address_that_never_existed(django_user_model):
    setup = build_screening_review(slug="private-errors")
    outsider = Client()
    outsider.force_login(setup.outsider)
    private = outsider.get(f"/reviews/{setup.review.slug}/screening/")
    missing = outsider.get("/reviews/no-such-review-anywhere/screening/")
    assert private.status_code == missing.status_code == 404
    def page(response, slug: str) -> str:  # the same but for the address itself and the form's CSRF token
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode().replace(f"/reviews/{slug}/", ""))

    assert page(private, setup.review.slug) == page(missing, "no-such-review-anywhere")
    assert b"Living review" in private.content and b"ask them to invite you" in private.content
    assert setup.review.title.encode() not in private.content


def test_a_403_names_the_role_and_the_managers():
    setup = build_screening_review(slug="forbidden-errors")
    client = Client()
    client.force_login(setup.extractor)
    response = client.get(f"/reviews/{setup.review.slug}/screening/title_abstract/")
    text = response.content.decode()
    assert response.status_code == 403
    assert "screener role" in text and setup.manager.username in text and "<header class=\"site\">" in text


@pytest.mark.parametrize("template", ["400.html", "500.html"])
def test_the_400_and_500_pages_render_without_a_request(template):
    """Django renders them with an empty context (a broken request or a failing view): they must not
    need the request, the user or the database."""
    html = render_to_string(template)
    assert "<header class=\"site\">" in html and "Home</a>" in html
