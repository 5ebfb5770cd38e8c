"""An extractor enters a study's data with a conversion in a real browser (Debian's Chromium), and the
public page's pooled result, open in another browser, changes by itself (a real Celery worker)."""
import pytest

from analysis import services
from studies.models import ArmRole, CheckState, OutcomeData, Provenance
from studies.services.demo import demo_review_load
from tests.analysis.conftest import test_redis, wait_for, worker, worker_env  # noqa: F401  (fixtures)
from tests.analysis.test_pages_browser import PASSWORD, browser, current_total  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_extractor_converts_an_sd_and_the_public_result_follows(live_server, worker, browser):  # noqa: F811
    review, _ = demo_review_load(password=PASSWORD)
    wait_for(lambda: not services.review_is_behind(review.pk), 90, "the worker to compute the demo review")
    # A study that never needed a second look (the demo's manager confirmed one far from the others).
    row = (OutcomeData.objects.filter(study__review=review, outcome__name="Self-stigma", arm__role=ArmRole.INTERVENTION,
                                      time_point__is_analysis_default=True, checked_by__isnull=True)
           .select_related("study").order_by("study__label").first())
    before = current_total(review.pk, row.outcome_id)
    reader = browser.new_context().new_page()
    reader.goto(f"{live_server.url}/reviews/{review.slug}/outcomes/{row.outcome_id}/")
    assert reader.locator("svg.forest g.total text.effect").first.text_content() == before

    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "demo-extractor")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.goto(f"{live_server.url}/reviews/{review.slug}/extraction/studies/{row.study_id}/")
    prefix = f"cell_{row.outcome_id}_{row.time_point_id}_{row.arm_id}_"
    page.click(f'button.convert[data-prefix="{prefix}"]')
    page.select_option("#convert-method", "sd_from_se")
    # An SE giving an SD of 0.7 times the entered one: a plausible correction, so it is not held for a
    # second look (tests/studies/test_plausibility.py) and goes straight to the public page.
    se = round(0.7 * row.sd / row.n ** 0.5, 4)
    page.fill("#in_se", str(se))
    page.fill("#in_n", str(row.n))
    page.click("#convert-apply")
    expected_sd = se * row.n ** 0.5
    # A function, not a bare expression: Playwright eval()s expressions, which the site's CSP forbids.
    page.wait_for_function("([name, old]) => document.querySelector(`[name=\"${name}\"]`).value !== old",
                           arg=[f"{prefix}sd", f"{row.sd:g}"])
    assert float(page.input_value(f'[name="{prefix}sd"]')) == pytest.approx(expected_sd, rel=1e-5)
    assert "calculated from SE" in page.locator(f'tr[data-prefix="{prefix}"] .derivation-note').text_content()
    page.fill(f'[name="{prefix}source_location"]', "Table 2, p. 5")
    page.click("#extraction-form button[name=action]")
    page.wait_for_selector("p.status")
    stored = OutcomeData.objects.get(pk=row.pk)
    assert stored.sd == pytest.approx(expected_sd)
    assert stored.provenance == Provenance.CALCULATED and stored.source_location == "Table 2, p. 5"
    assert stored.derivation["sd"]["inputs"] == {"se": se, "n": float(row.n)}
    assert stored.check_state == CheckState.CONFIRMED, stored.check_flags

    wait_for(lambda: not services.review_is_behind(review.pk), 60, "the worker to recompute")
    after = current_total(review.pk, row.outcome_id)
    assert after != before
    reader.wait_for_function(
        "expected => document.querySelector('svg.forest g.total text.effect').textContent === expected",
        arg=after, timeout=30_000)


def test_an_extractor_converts_a_hazard_ratio_with_its_ci_into_the_study_estimate(small, extractors, live_server,
                                                                                   browser):  # noqa: F811
    from studies.models import DataType, EffectMeasure, Outcome, StudyEstimate
    from studies.services import entity_save
    from studies.services.extraction import estimate_prefix
    from tests.studies.extraction.conftest import PASSWORD as EXTRACTOR_PASSWORD

    hr = entity_save(instance=Outcome(
        review=small.review, domain=small.outcome.domain, name="Relapse (adjusted HR)", data_type=DataType.GENERIC,
        effect_measure=EffectMeasure.GENERIC, direction=small.outcome.direction, generic_measure="Hazard Ratio",
        log_scale=True))
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", extractors.first.username)
    page.fill("#id_password", EXTRACTOR_PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.goto(f"{live_server.url}/reviews/{small.review.slug}/extraction/studies/{small.study.pk}/")
    prefix = estimate_prefix(hr.pk, small.time_point.pk, None)
    page.click(f'button.convert[data-prefix="{prefix}"]')
    # Only the conversions that give an estimate and its SE are offered for this row.
    offered = page.eval_on_selector_all("#convert-method option:not([disabled])", "options => options.map(o => o.value)")
    assert offered == ["log_ratio_from_ci", "se_from_difference_ci"]
    assert page.input_value("#convert-method") == "log_ratio_from_ci"
    page.fill("#in_ratio", "0.75")
    page.fill("#in_lower", "0.60")
    page.fill("#in_upper", "0.94")
    page.click("#convert-apply")
    page.wait_for_function("name => document.querySelector(`[name=\"${name}\"]`).value !== ''", arg=f"{prefix}se")
    # R: print(c(log(0.75), (log(0.94) - log(0.60)) / (2 * qnorm(0.975))), digits = 17)
    assert float(page.input_value(f'[name="{prefix}estimate"]')) == pytest.approx(-0.287682, abs=1e-6)
    assert "Cochrane Handbook 6.3.2" in page.locator("#convert-result").text_content()
    page.fill(f'[name="{prefix}source_location"]', "Table 3, p. 7")
    page.click("#extraction-form button[name=action]")
    page.wait_for_selector("p.status")
    stored = StudyEstimate.objects.get(study=small.study, outcome=hr)
    # The server recomputed both numbers from the kept inputs: exact, not the 6 digits the form showed.
    assert stored.estimate == pytest.approx(-0.28768207245178090, rel=1e-15)
    assert stored.se == pytest.approx(0.11453022187886241, rel=1e-14)
    assert stored.provenance == Provenance.CALCULATED and stored.source_location == "Table 3, p. 7"
    assert stored.derivation["se"]["inputs"] == {"ratio": 0.75, "lower": 0.6, "upper": 0.94, "level": 0.95}
    assert "ln ratio and SE from a ratio" in page.locator(f'tr[data-prefix="{prefix}"] .derivation-note').text_content()
