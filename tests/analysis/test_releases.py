"""Releases (issue 20, item 2): citable, immutable, numbered snapshots of a review's analysis.

The analyses here run in-process (``services.review_recompute``, the worker's own function); the
worker end to end, and the R check of a release's downloads, are in test_releases_living.py."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO
import json
from xml.etree import ElementTree

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.utils import timezone
import pytest

from analysis import services
from analysis.models import AnalysisRun, Release, ReleaseSchedule, ReleaseScheduleEvent, ReleaseTrigger, RunStatus
from analysis.pages.release_capture import snapshot_capture
from analysis.services import releases as release_services
from studies.models import Arm, ArmRole, OutcomeData, Record, Review, Role, SearchSource, Study
from studies.services import entity_save, membership_add

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def cut(slug: str, note: str = "") -> dict:
    """``release_create`` as the checks call it: exactly one JSON line."""
    out = StringIO()
    call_command("release_create", review=slug, note=note, wait=0, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def recompute(review: Review) -> None:
    services.review_recompute(review.pk)
    assert not services.review_is_behind(review.pk)


def add_study(small, label: str, year: int, means: tuple[float, float], n: int = 40, sd: float = 6.0) -> Study:
    study = entity_save(instance=Study(review=small.review, label=label, year=year))
    for role, mean in zip((ArmRole.INTERVENTION, ArmRole.CONTROL), means, strict=True):
        arm = entity_save(instance=Arm(study=study, role=role, label=role.label, randomised=n))
        entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point, arm=arm,
                                         n=n, mean=mean, sd=sd))
    return study


def living_analysis(client, slug: str) -> dict:
    response = client.get(f"/api/reviews/{slug}/analysis/")
    assert response.status_code == 200
    return response.json()


def member(review: Review, name: str, role: str):
    user = get_user_model().objects.create_user(name, password="a-long-test-password")
    membership_add(review=review, user=user, role=role)
    return user


# --- The command line and the versions ------------------------------------------------------------


def test_the_command_prints_one_json_line_with_the_first_version_and_its_url(small, client, settings):
    recompute(small.review)
    assert cut(small.review.slug, "First look") == {"version": "1.0.0", "url": "/reviews/small-review/releases/1.0.0/"}
    release = Release.objects.get(review=small.review)
    assert (release.level, release.trigger, release.note) == ("first", ReleaseTrigger.COMMAND, "First look")
    assert release.data_version == Review.objects.get(pk=small.review.pk).data_version
    # With the site's address set, the URL is absolute.
    settings.SITE_URL = "https://reviews.example.org"
    entity_save(instance=SearchSource(review=small.review, database="PubMed", date_searched="2026-11-30"))
    recompute(small.review)  # a new search is a change too (its PRISMA counts, the notes' dates)
    answer = cut(small.review.slug)
    assert answer == {"version": "1.0.1", "url": "https://reviews.example.org/reviews/small-review/releases/1.0.1/"}


def test_nothing_changed_and_stale_analyses_are_refused_with_clear_messages(small):
    with pytest.raises(CommandError, match="being recomputed"):  # never computed yet
        cut(small.review.slug)
    recompute(small.review)
    cut(small.review.slug)
    with pytest.raises(CommandError, match=r"Nothing changed since release 1\.0\.0"):
        cut(small.review.slug)
    small.data.mean = -4.0
    entity_save(instance=small.data)  # the data moved; the results have not caught up
    with pytest.raises(release_services.ReleaseRefused, match="data are at version") as refused:
        release_services.release_create(review=small.review, user=small.manager, capture=snapshot_capture)
    assert refused.value.code == "stale"
    assert Release.objects.filter(review=small.review).count() == 1
    # When the current data failed to compute, waiting would not help: say so.
    AnalysisRun.objects.create(review=small.review, data_version=Review.objects.get(pk=small.review.pk).data_version,
                               status=RunStatus.FAILED, started_at=timezone.now(), finished_at=timezone.now(),
                               error="ValueError('synthetic')")
    with pytest.raises(CommandError, match="failed, so there are no results"):
        call_command("release_create", review=small.review.slug, wait=30, stdout=StringIO())
    with pytest.raises(CommandError, match="No review with the slug"):
        cut("no-such-review")


def test_versions_follow_what_changed_patch_minor_major(small):
    recompute(small.review)
    assert cut(small.review.slug)["version"] == "1.0.0"
    before = Release.objects.get(review=small.review).headline[0]
    assert before["p"] < 0.05 and before["estimate"] < 0  # the baseline: significant, favours intervention

    # A correction that moves the estimate but no conclusion: patch.
    small.data.mean = -4.0
    entity_save(instance=small.data)
    recompute(small.review)
    assert cut(small.review.slug)["version"] == "1.0.1"
    patch = Release.objects.get(review=small.review, major=1, minor=0, patch=1)
    assert patch.level == "patch" and patch.notes["conclusions_changed"] == []
    assert patch.notes["estimates"][0]["changed"] and patch.notes["estimates"][0]["before"] != \
        patch.notes["estimates"][0]["after"]

    # A second study with a similar effect: minor.
    add_study(small, "Second 2022", 2022, (-4.0, -1.0))
    recompute(small.review)
    assert cut(small.review.slug)["version"] == "1.1.0"
    minor = Release.objects.get(review=small.review, major=1, minor=1)
    assert minor.level == "minor" and minor.notes["studies_added"] == ["Second 2022"]
    assert minor.notes["conclusions_changed"] == [] and minor.headline[0]["k"] == 2

    # The first study reversed: the pooled effect is no longer significant — a conclusion changed: major.
    small.data.mean = 2.0
    entity_save(instance=small.data)
    recompute(small.review)
    assert cut(small.review.slug, "Typo in Only 2020 corrected")["version"] == "2.0.0"
    major = Release.objects.get(review=small.review, major=2)
    kinds = {change["kind"] for change in major.notes["conclusions_changed"]}
    assert "lost_significance" in kinds, major.notes["conclusions_changed"]
    assert major.level == "major" and major.note == "Typo in Only 2020 corrected"
    assert major.notes["triggered_by"] == "Cut from the command line"

    # Removing a study is minor too (when no conclusion changes).
    Study.objects.filter(review=small.review, label="Second 2022").update(is_included=False)
    Review.objects.filter(pk=small.review.pk).update(data_version=Review.objects.get(pk=small.review.pk).data_version + 1)
    recompute(small.review)
    answer = cut(small.review.slug)
    removed = Release.objects.get(review=small.review, major=int(answer["version"][0]),
                                  minor=int(answer["version"].split(".")[1]), patch=0)
    assert removed.notes["studies_removed"] == ["Second 2022"]
    assert removed.level in ("minor", "major")


def test_release_notes_say_which_searches_and_what_triggered_the_update(small):
    entity_save(instance=SearchSource(review=small.review, database="Embase", date_searched="2026-01-10"))
    recompute(small.review)
    first = release_services.release_create(review=small.review, user=small.manager, capture=snapshot_capture,
                                            note="Baseline")
    assert first.notes["searches_since_previous"] == [{"database": "Embase", "date_searched": "2026-01-10"}]
    entity_save(instance=SearchSource(review=small.review, database="PubMed", date_searched="2026-11-30"))
    add_study(small, "Found 2026", 2026, (-3.5, -1.2))
    recompute(small.review)
    second = release_services.release_create(review=small.review, user=small.manager, capture=snapshot_capture)
    assert second.notes["searches_since_previous"] == [{"database": "PubMed", "date_searched": "2026-11-30"}]
    assert second.notes["triggered_by"] == "Cut by a manager after new searches (PubMed 2026-11-30)"
    assert second.notes["studies_added"] == ["Found 2026"]
    assert "1 study added" in second.notes["summary"]
    assert second.created_by == small.manager and second.authors == ["small-manager"]


# --- The release never changes; the living analysis moves on --------------------------------------


def test_a_release_answers_the_living_apis_json_then_and_never_changes(small, client):
    client.force_login(small.manager)
    recompute(small.review)
    living_then = living_analysis(client, small.review.slug)
    sof_then = client.get("/api/reviews/small-review/summary-of-findings/").json()
    cut(small.review.slug)
    released = client.get("/api/reviews/small-review/releases/1.0.0/analysis/")
    assert released.status_code == 200
    assert released.json() == living_then  # the same shape and the same numbers, key for key

    small.data.mean = -8.0
    entity_save(instance=small.data)
    recompute(small.review)
    living_now = living_analysis(client, small.review.slug)
    assert living_now["results"][0]["estimate"] != living_then["results"][0]["estimate"]
    assert client.get("/api/reviews/small-review/releases/1.0.0/analysis/").json() == living_then
    # The release carries its GRADE summary of findings: the page, the downloads and the API's answer.
    assert client.get("/api/reviews/small-review/summary-of-findings/").json()[0]["estimate"] != sof_then[0]["estimate"]
    assert client.get("/reviews/small-review/releases/1.0.0/api/summary-of-findings/").json() == sof_then
    sof_page = client.get("/reviews/small-review/releases/1.0.0/summary-of-findings/").content.decode()
    assert sof_then[0]["certainty_symbols"] in sof_page and sof_then[0]["difference_text"] in sof_page
    for download in ("summary-of-findings.csv", "summary-of-findings.html"):
        assert client.get(f"/reviews/small-review/releases/1.0.0/{download}").status_code == 200
    # The release's pages and downloads kept their numbers too.
    page = client.get("/reviews/small-review/releases/1.0.0/outcomes/%d/" % small.outcome.pk).content.decode()
    assert release_services.headline_effect(Release.objects.get().headline[0]) in page
    csv = client.get("/reviews/small-review/releases/1.0.0/data.csv")
    assert csv.status_code == 200 and ",-4.2," in csv.content.decode() and ",-8," not in csv.content.decode()
    assert csv["Content-Disposition"] == 'attachment; filename="small-review-data-1.0.0.csv"'
    assert ",-8," in client.get("/reviews/small-review/data.csv").getvalue().decode()


def test_the_releases_page_reads_in_a_constant_number_of_queries(small, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    recompute(small.review)
    counts = []
    for mean in (-4.0, -3.9, -3.8):
        small.data.mean = mean
        entity_save(instance=small.data)
        recompute(small.review)
        cut(small.review.slug)
        for path in ("/reviews/small-review/releases/", "/api/reviews/small-review/releases/",
                     "/reviews/small-review/releases.atom"):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(path).status_code == 200
            counts.append((path, len(captured)))
    by_path = {}
    for path, count in counts:
        by_path.setdefault(path, []).append(count)
    assert all(len(set(found)) == 1 for found in by_path.values()), by_path


def test_releases_list_in_the_api(small, client):
    recompute(small.review)
    cut(small.review.slug, "Baseline")
    small.data.mean = -4.0
    entity_save(instance=small.data)
    recompute(small.review)
    cut(small.review.slug)
    client.force_login(small.manager)
    listed = client.get("/api/reviews/small-review/releases/").json()
    assert [r["version"] for r in listed] == ["1.0.1", "1.0.0"]
    assert listed[1]["note"] == "Baseline" and listed[1]["url"] == "/reviews/small-review/releases/1.0.0/"
    assert listed[0]["notes_summary"] == "1 pooled estimate changed."
    assert listed[0]["citation"].startswith("small-manager. Small review. Living systematic review, version 1.0.1 (")
    assert listed[0]["analysis_url"].endswith("/api/reviews/small-review/releases/1.0.1/analysis/")
    assert {"version", "created_at", "url", "note", "notes_summary"} <= set(listed[0])
    assert client.get("/api/reviews/small-review/releases/9.9.9/analysis/").status_code == 404
    assert client.get("/api/reviews/small-review/releases/latest/analysis/").status_code == 404


def test_a_release_cannot_be_updated_or_deleted_but_goes_with_its_review(small):
    recompute(small.review)
    cut(small.review.slug)
    release = Release.objects.get(review=small.review)
    with pytest.raises(DatabaseError, match="A release is immutable"), transaction.atomic():
        Release.objects.filter(pk=release.pk).update(note="rewritten")
    with pytest.raises(DatabaseError, match="A release is immutable"), transaction.atomic():
        Release.objects.filter(pk=release.pk).delete()
    with pytest.raises(DatabaseError, match="A release is immutable"), transaction.atomic():
        release.note = "saved over"
        release.save()
    assert Release.objects.get(pk=release.pk).note == ""
    release_services.release_schedule_set(review=small.review, user=small.manager, every_days=30)
    Review.objects.filter(pk=small.review.pk).delete()
    assert not ReleaseSchedule.objects.exists()
    assert not Release.objects.filter(pk=release.pk).exists()


# --- Who may cut and read -------------------------------------------------------------------------


def test_only_managers_cut_releases_and_only_the_team_reads_an_unpublished_reviews(small, client):
    recompute(small.review)
    extractor = member(small.review, "an-extractor", Role.EXTRACTOR)
    outsider = get_user_model().objects.create_user("outsider", password="a-long-test-password")
    with pytest.raises(PermissionDenied):
        release_services.release_create(review=small.review, user=extractor, capture=snapshot_capture)
    client.force_login(extractor)
    response = client.post("/reviews/small-review/releases/", {"action": "cut", "note": "mine"})
    assert response.status_code == 403 and "manager" in response.content.decode()
    assert client.post("/reviews/small-review/releases/", {"action": "schedule", "every_days": "7"}).status_code == 403
    assert not Release.objects.exists()

    client.force_login(small.manager)
    response = client.post("/reviews/small-review/releases/", {"action": "cut", "note": "From the page"}, follow=True)
    assert "Release 1.0.0 was cut." in response.content.decode()
    response = client.post("/reviews/small-review/releases/", {"action": "cut"}, follow=True)
    assert "Nothing changed since release 1.0.0" in response.content.decode()
    assert Release.objects.get().created_by == small.manager

    paths = ["/reviews/small-review/releases/", "/reviews/small-review/releases/1.0.0/",
             "/reviews/small-review/releases/1.0.0/data.csv", "/reviews/small-review/releases.atom",
             "/reviews/small-review/releases/compare/?from=1.0.0&to=living",
             "/api/reviews/small-review/releases/", "/api/reviews/small-review/releases/1.0.0/analysis/"]
    for who, expected in ((extractor, 200), (outsider, 404), (None, 404)):
        client.logout()
        if who is not None:
            client.force_login(who)
        assert {path: client.get(path).status_code for path in paths} == dict.fromkeys(paths, expected), who
    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    assert {path: client.get(path).status_code for path in paths} == dict.fromkeys(paths, 200)


def test_a_schedule_set_by_a_manager_cuts_only_when_due_and_the_data_changed(small):
    recompute(small.review)
    extractor = member(small.review, "an-extractor", Role.EXTRACTOR)
    with pytest.raises(PermissionDenied):
        release_services.release_schedule_set(review=small.review, user=extractor, every_days=7)
    release_services.release_schedule_set(review=small.review, user=small.manager, every_days=7)
    assert release_services.releases_due() == [small.review.pk]  # no release yet
    release = release_services.scheduled_release_cut(small.review.pk, snapshot_capture)
    assert release.version == "1.0.0" and release.trigger == ReleaseTrigger.SCHEDULE and release.created_by is None
    assert release_services.releases_due() == []  # cut just now
    later = release.created_at + timedelta(days=8)
    assert release_services.releases_due(later) == [small.review.pk]
    # Due, but nothing changed: no release (the next beat tries again).
    assert release_services.scheduled_release_cut(small.review.pk, snapshot_capture) is None
    # Stopping the schedule is audited like setting it.
    release_services.release_schedule_set(review=small.review, user=small.manager, every_days=None)
    assert release_services.releases_due(later) == []
    events = list(ReleaseScheduleEvent.objects.filter(review=small.review).order_by("pgh_id")
                  .values_list("pgh_label", "every_days"))
    assert events == [("insert", 7), ("update", None)]
    assert ReleaseSchedule.objects.get(review=small.review).set_by == small.manager


def test_the_scheduled_task_cuts_what_is_due(small):
    from analysis.tasks import cut_scheduled_releases
    recompute(small.review)
    assert cut_scheduled_releases() == []
    release_services.release_schedule_set(review=small.review, user=small.manager, every_days=1)
    assert cut_scheduled_releases() == ["small-review 1.0.0"]
    assert cut_scheduled_releases() == []


# --- Reader side -------------------------------------------------------------------------------------


def test_release_pages_show_the_snapshot_under_a_banner_with_switcher_and_citation(small, client):
    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    recompute(small.review)
    cut(small.review.slug, "Baseline note")
    small.data.mean = -8.0
    entity_save(instance=small.data)
    recompute(small.review)
    cut(small.review.slug)
    page = client.get("/reviews/small-review/releases/1.0.0/").content.decode()
    assert "Release 1.0.0 of " in page and "See the living version" in page
    assert "Cite as:" in page and "Small review. Living systematic review, version 1.0.0" in page
    assert "http://testserver/reviews/small-review/releases/1.0.0/" in page  # a citation's URL is absolute
    assert "Baseline note" in page and "Release notes: 1.0.0" in page
    assert 'href="/reviews/small-review/releases/1.0.1/"' in page  # the switcher
    assert 'type="application/atom+xml"' in page
    assert "live.js" not in page  # a release never swaps in new results
    # Links inside the snapshot lead into the release, not to the living numbers.
    outcome_link = f'href="/reviews/small-review/releases/1.0.0/outcomes/{small.outcome.pk}/"'
    assert outcome_link in page
    assert f'href="/reviews/small-review/outcomes/{small.outcome.pk}/"' not in page
    outcome_page = client.get(f"/reviews/small-review/releases/1.0.0/outcomes/{small.outcome.pk}/").content.decode()
    first, second = Release.objects.order_by("patch")
    assert release_services.headline_effect(first.headline[0]) in outcome_page
    assert release_services.headline_effect(second.headline[0]) not in outcome_page
    forest = client.get(f"/reviews/small-review/releases/1.0.0/outcomes/{small.outcome.pk}/forest.svg")
    assert forest.status_code == 200 and forest["Content-Type"] == "image/svg+xml"
    assert "-4.20" in forest.content.decode() or "-4.2" in forest.content.decode()
    prisma = client.get("/reviews/small-review/releases/1.0.0/prisma.svg")
    assert prisma.status_code == 200 and "<svg" in prisma.content.decode()
    r_script = client.get(f"/reviews/small-review/releases/1.0.0/outcomes/{small.outcome.pk}/analysis.R")
    assert "# Release 1.0.0 of this review" in r_script.content.decode()
    assert "/reviews/small-review/releases/1.0.0/data.csv" in r_script.content.decode()
    assert client.get("/reviews/small-review/releases/1.0.0/nothing-here.svg").status_code == 404
    assert client.get("/reviews/small-review/releases/3.0.0/").status_code == 404
    # The living page links to the releases and the feed.
    living = client.get("/reviews/small-review/").content.decode()
    assert 'href="/reviews/small-review/releases/"' in living and "releases.atom" in living
    releases = client.get("/reviews/small-review/releases/").content.decode()
    assert releases.index("Release 1.0.1") < releases.index("Release 1.0.0")
    assert 'href="/reviews/small-review/releases/1.0.0/">1.0.0</a>' in releases  # the switcher there too


def test_the_difference_view_shows_estimates_before_and_after(small, client):
    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    recompute(small.review)
    cut(small.review.slug)
    add_study(small, "Second 2022", 2022, (-4.0, -1.0))
    recompute(small.review)
    cut(small.review.slug)
    first, second = Release.objects.order_by("minor")
    page = client.get("/reviews/small-review/releases/compare/?from=1.0.0&to=1.1.0").content.decode()
    assert release_services.headline_effect(first.headline[0]) in page
    assert release_services.headline_effect(second.headline[0]) in page
    assert "<td class=\"num\">1</td>" in page and "<td class=\"num\">2</td>" in page
    small.data.mean = 2.0
    entity_save(instance=small.data)
    recompute(small.review)
    against_living = client.get("/reviews/small-review/releases/compare/?from=1.1.0&to=living").content.decode()
    assert "Living version" in against_living and "No longer statistically significant" in against_living
    assert client.get("/reviews/small-review/releases/compare/?from=7.0.0&to=living").status_code == 404


def test_the_feed_is_atom_with_releases_and_conclusion_changes(small, client):
    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    recompute(small.review)
    cut(small.review.slug, "Baseline")
    small.data.mean = 2.0  # flips the only study's effect: conclusion changes in the living loop
    entity_save(instance=small.data)
    recompute(small.review)
    response = client.get("/reviews/small-review/releases.atom")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    titles = [entry.findtext(f"{ATOM}title") for entry in entries]
    assert "Release 1.0.0: first release" in titles
    assert any(title.startswith("Self-stigma: ") for title in titles), titles
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(ids) == len(set(ids))
    assert all(entry.find(f"{ATOM}updated") is not None for entry in entries)


def test_each_release_keeps_its_own_prisma_while_screening_goes_on(small, client):
    Review.objects.filter(pk=small.review.pk).update(is_public=True)
    recompute(small.review)
    cut(small.review.slug)
    release = Release.objects.get(review=small.review)
    diagram = client.get("/reviews/small-review/releases/1.0.0/prisma.svg").content
    counts = release.prisma
    # New records arrive (no analysis input changes): the living flow moves, the release's does not.
    for title in ("Peer support: a new trial", "Stigma and peers, again"):
        entity_save(instance=Record(review=small.review, title=title))
    assert client.get("/reviews/small-review/prisma.svg").content != diagram
    assert client.get("/reviews/small-review/releases/1.0.0/prisma.svg").content == diagram
    assert Release.objects.get(pk=release.pk).prisma == counts
    # Screening progress alone is worth a (patch) release: its flow diagram is part of what readers cite.
    assert cut(small.review.slug)["version"] == "1.0.1"
    assert Release.objects.get(review=small.review, patch=1).prisma != counts
    assert client.get("/reviews/small-review/releases/1.0.1/prisma.svg").content != diagram
    # The second release's diagram is PRISMA 2020's flow for updated reviews, counted since the first:
    # the two records that came after 1.0.0 are its identification; the living diagram counts from 1.0.1.
    second = Release.objects.get(review=small.review, patch=1)
    assert second.prisma["update"]["previous_version_at"] == release.created_at.isoformat()
    assert second.prisma["identified"]["total"] == 2
    small.review.refresh_from_db()
    assert small.review.latest_release_at == second.created_at
    assert client.get("/api/reviews/small-review/prisma/").json()["update"]["previous_version_at"] == (
        second.created_at.isoformat())
