"""Figure addresses outlive recomputes: a subgroup forest plot is named by its outcome and subgroup
variable, not by a result row (a new row each run); the old row-id addresses move there for good
(301) when they can be mapped and answer the site's 404 page otherwise."""
import re
import xml.etree.ElementTree as ET

import pytest

from analysis import services
from analysis.models import OutcomeResult, ReviewAnalysisState
from studies.models import Review
from studies.services.entities import review_data_version_bump

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def computed(demo_review) -> Review:
    services.review_recompute(demo_review.pk)
    return Review.objects.get(pk=demo_review.pk)


def subgroup_result(review: Review) -> OutcomeResult:
    state = ReviewAnalysisState.objects.get(review=review)
    return OutcomeResult.objects.filter(run=state.current_run, subgroup_field__isnull=False,
                                        analysis_set="main").select_related("subgroup_field").first()


def test_a_subgroup_figure_url_survives_a_recompute(client, computed):
    first = subgroup_result(computed)
    assert first is not None, "the demo review has a subgroup variable"
    page = client.get(f"/reviews/{computed.slug}/outcomes/{first.outcome_id}/").content.decode()
    links = set(re.findall(rf"/reviews/{computed.slug}/outcomes/{first.outcome_id}/(forest-[\w-]+)\.svg", page))
    assert links == {f"forest-by-{first.subgroup_field_id}"}
    url = f"/reviews/{computed.slug}/outcomes/{first.outcome_id}/forest-by-{first.subgroup_field_id}.svg"
    before = client.get(url)
    assert before.status_code == 200 and before["Content-Type"] == "image/svg+xml"
    assert f"by {first.subgroup_field.name}" in ET.fromstring(before.content).find(f"{SVG}title").text

    review_data_version_bump(review_ids=[computed.pk])
    services.review_recompute(computed.pk)
    second = subgroup_result(computed)
    assert second.pk != first.pk and second.run_id != first.run_id  # a new row in a new run ...
    after = client.get(url)  # ... and the same address
    assert after.status_code == 200 and after.content == before.content

    # The old form, with the first run's row id: moved for good to the stable address.
    old = client.get(f"/reviews/{computed.slug}/outcomes/{first.outcome_id}/forest-{first.pk}.svg")
    assert old.status_code == 301 and old["Location"] == url
    assert client.get(old["Location"]).status_code == 200


def test_figure_urls_that_name_nothing_answer_the_404_page(client, computed):
    result = subgroup_result(computed)
    base = f"/reviews/{computed.slug}/outcomes/{result.outcome_id}"
    overall = OutcomeResult.objects.filter(run=result.run, subgroup_field__isnull=True).exclude(
        outcome=result.outcome).first()
    for figure in ("forest-999999999", f"forest-{overall.pk}",  # no row; a row of another outcome
                   "forest-by-999999999", "forest-by-x", "forest-99999999999999999999999"):
        response = client.get(f"{base}/{figure}.svg")
        assert response.status_code == 404, figure
        assert "<h1>Not found</h1>" in response.content.decode(), figure
