"""The team pages in a real browser (Chromium via Playwright, no JavaScript needed): a manager signs
in, invites someone, who opens the link from the mail, creates an account and lands signed in; the
pages pass axe's WCAG A/AA rules and do not scroll sideways on a phone."""
import pytest
from django.core import mail

from studies.models import ReviewMembership, Role
from tests.analysis.test_pages_browser import browser  # noqa: F401 -- the Chromium fixture, shared
from tests.studies.team.test_invitations import LINK, PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _audit(page, path: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG)
    assert results.violations_count == 0, f"{path}:\n{results.generate_report()}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path


@pytest.mark.parametrize("width", [360, 1280])
def test_invite_and_join_in_a_browser(live_server, browser, small, width):  # noqa: F811
    mail.outbox = []
    manager = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    manager.goto(f"{live_server.url}/accounts/login/?next=/reviews/{small.review.slug}/team/")
    _audit(manager, "sign-in")
    manager.fill("#id_username", small.manager.username)
    manager.fill("#id_password", "a-long-test-password")
    manager.click("button[type=submit]")
    manager.wait_for_url(f"**/reviews/{small.review.slug}/team/")
    _audit(manager, "team page")
    manager.fill("input[name=email]", "browser.person@example.org")
    manager.check("input[name=roles][value=screener]")
    manager.click("text=Send invitation")
    manager.wait_for_selector("ul.messages li")
    assert "Invitation sent to browser.person@example.org" in manager.text_content("ul.messages")
    link = LINK.search(mail.outbox[-1].body).group(0)
    assert manager.input_value("input.copy") == link  # the same link to copy as the mail's
    _audit(manager, "team page with an invitation")

    newcomer = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    newcomer.goto(link)
    _audit(newcomer, "invitation")
    newcomer.fill("#id_username", "browser-person")
    newcomer.fill("#id_password1", PASSWORD)
    newcomer.fill("#id_password2", PASSWORD)
    newcomer.click("text=Create the account and join")
    newcomer.wait_for_url(f"{live_server.url}/")
    assert "browser-person" in newcomer.text_content("header.site")
    assert ReviewMembership.objects.filter(user__username="browser-person", role=Role.SCREENER).exists()
    newcomer.goto(link)
    assert "already accepted" in newcomer.text_content("h1")
    _audit(newcomer, "used invitation")
    newcomer.goto(f"{live_server.url}/accounts/password_change/")
    _audit(newcomer, "password change")
    anonymous = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    anonymous.goto(f"{live_server.url}/accounts/password_reset/")
    _audit(anonymous, "password reset")
