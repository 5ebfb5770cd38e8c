"""The managers' searches page and the team's digest choice (issue 21)."""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from studies.models import RunStatus, SavedSearch, SearchDigestOptOut, SearchRun
from studies.services.searches import digest_send, saved_search_save


def test_a_manager_adds_edits_pauses_and_runs_a_search_now(team, client):
    client.force_login(team.manager)
    url = f"/reviews/{team.review.slug}/searches/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"database": "europepmc", "query": '"peer support" AND stigma', "every_days": "14",
                                 "first_date": "2025-01-01", "active": "on"}, follow=True)
    search = SavedSearch.objects.get(review=team.review)
    assert (search.database, search.every_days, search.first_date.isoformat(), search.active) == (
        "europepmc", 14, "2025-01-01", True)
    assert "Search saved" in response.text and "Europe PMC" in response.text
    # Edit: the query and the schedule.
    detail = f"{url}{search.pk}/"
    client.post(detail, {"database": "europepmc", "query": "stigma AND peer", "every_days": "7", "active": "on"})
    search.refresh_from_db()
    assert (search.query, search.every_days) == ("stigma AND peer", 7)
    # Pause, then resume.
    client.post(f"{detail}active/", {"active": "0"})
    search.refresh_from_db()
    assert not search.active
    assert "Paused" in client.get(url).text
    client.post(f"{detail}active/", {"active": "1", "next": "detail"})
    search.refresh_from_db()
    assert search.active
    # Run now: due at once (the worker is asked after commit).
    search.next_run_at = timezone.now() + timedelta(days=5)
    search.save()
    response = client.post(f"{detail}run/", follow=True)
    search.refresh_from_db()
    assert search.next_run_at <= timezone.now() and "sent to a worker" in response.text


def test_bad_input_is_refused_with_the_field_named(team, client):
    client.force_login(team.manager)
    response = client.post(f"/reviews/{team.review.slug}/searches/", {"database": "scopus", "query": "",
                                                                      "every_days": "0"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.text and "This field is required" in response.text
    assert not SavedSearch.objects.exists()


def test_the_history_shows_each_run_with_its_counts_and_errors(team, client):
    search = saved_search_save(review=team.review, user=team.manager, database="pubmed", query="stigma")
    now = timezone.now()
    SearchRun.objects.create(search=search, status=RunStatus.FAILED, started_at=now - timedelta(days=1),
                             finished_at=now - timedelta(days=1), window_end=timezone.localdate(), query="stigma",
                             error="PubMed answered 503 Service Unavailable: Backend fetch failed (gave up after 6 attempts)")
    SearchRun.objects.create(search=search, status=RunStatus.SUCCEEDED, started_at=now, finished_at=now,
                             window_start=timezone.localdate() - timedelta(days=9), window_end=timezone.localdate(),
                             query="stigma", found=12, new=9, duplicates=3)
    client.force_login(team.manager)
    page = client.get(f"/reviews/{team.review.slug}/searches/{search.pk}/").text
    assert "Backend fetch failed" in page and ">12<" in page and ">9<" in page and ">3<" in page
    assert page.index("Succeeded") < page.index("Failed")  # newest first


def test_only_managers_open_the_searches_pages(team, client):
    search = saved_search_save(review=team.review, user=team.manager, database="pubmed", query="stigma")
    client.force_login(team.screener)
    for url in (f"/reviews/{team.review.slug}/searches/", f"/reviews/{team.review.slug}/searches/{search.pk}/"):
        response = client.get(url)
        assert response.status_code == 403 and "manager" in response.text
    assert client.post(f"/reviews/{team.review.slug}/searches/{search.pk}/run/").status_code == 403
    assert client.post(f"/reviews/{team.review.slug}/searches/{search.pk}/active/", {"active": "0"}).status_code == 403
    search.refresh_from_db()
    assert search.active
    outsider = get_user_model().objects.create_user("outsider", password="a-long-test-password")
    client.force_login(outsider)
    assert client.get(f"/reviews/{team.review.slug}/searches/").status_code == 404


def test_a_screener_turns_the_digest_off_and_gets_no_more(team, client, mailoutbox):
    search = saved_search_save(review=team.review, user=team.manager, database="pubmed", query="stigma")
    run = SearchRun.objects.create(search=search, status=RunStatus.SUCCEEDED, started_at=timezone.now(),
                                   finished_at=timezone.now(), window_end=timezone.localdate(), query="stigma",
                                   found=5, new=5)
    assert digest_send(run_id=run.pk) == 1 and mailoutbox[0].to == ["screener@review.example"]
    assert f"/reviews/{team.review.slug}/searches/digest/" in mailoutbox[0].body
    client.force_login(team.screener)
    url = f"/reviews/{team.review.slug}/searches/digest/"
    assert "checked" in client.get(url).text
    client.post(url, {})  # the box unticked
    assert SearchDigestOptOut.objects.filter(review=team.review, user=team.screener).exists()
    assert "checked" not in client.get(url).text
    assert digest_send(run_id=run.pk) == 0 and len(mailoutbox) == 1
    client.post(url, {"digest": "on"})
    assert digest_send(run_id=run.pk) == 1


def test_the_home_page_offers_the_searches_to_managers_and_the_digest_to_screeners(team, client):
    client.force_login(team.manager)
    home = client.get("/").text
    assert "Living searches: schedule, run now, history" in home
    client.force_login(team.screener)
    home = client.get("/").text
    assert "E-mails about new records from searches" in home and "Living searches" not in home
