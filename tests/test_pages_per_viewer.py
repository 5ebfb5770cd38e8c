"""Pages are built per viewer: the cached part of a reader page never carries a viewer's name or
CSRF token, and every page keeps answering while the shared cache (a real Redis process, stopped
mid-test) is down."""
from __future__ import annotations

import os
import re

from django.contrib.auth import get_user_model
from django.test import Client
import pytest

from analysis import services as analysis_services
from analysis.models import OutcomeResult
from reviewsite import embedded, shared_cache
from studies.models import Decision, Record, Review, Role, Stage
from studies.services import membership_add
from studies.services import screening as screening_services

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def computed(demo_review) -> Review:
    analysis_services.review_recompute(demo_review.pk)
    return Review.objects.get(pk=demo_review.pk)


def reader_urls(review: Review) -> list[str]:
    outcome_id = (OutcomeResult.objects.filter(run__review=review, subgroup_field=None)
                  .values_list("outcome_id", flat=True).first())
    return [f"/reviews/{review.slug}/", f"/reviews/{review.slug}/outcomes/{outcome_id}/"]


def test_an_anonymous_reader_never_receives_a_signed_in_viewers_header(computed):
    member = Client()
    member.force_login(get_user_model().objects.get(username="demo-manager"))
    for url in reader_urls(computed):
        signed_in = member.get(url).content.decode()
        assert "Signed in as demo-manager" in signed_in
        token = TOKEN.search(signed_in).group(1)
        anonymous = Client().get(url).content.decode()  # the body now comes from the cache
        assert "demo-manager" not in anonymous and token not in anonymous
        assert "csrfmiddlewaretoken" not in anonymous and "Sign in" in anonymous
        # ... and the body is the same page: the summary the member saw.
        assert anonymous.split('<main id="content">')[1] == signed_in.split('<main id="content">')[1]


def test_a_signed_in_reader_after_an_anonymous_one_gets_their_own_header(computed):
    """Anonymous readers share one cached page; a signed-in reader never receives it."""
    url = reader_urls(computed)[0]
    assert "Sign in" in Client().get(url).content.decode()
    assert "Sign in" in Client().get(url).content.decode()  # the anonymous page, from the cache
    member = Client()
    member.force_login(get_user_model().objects.get(username="demo-manager"))
    page = member.get(url).content.decode()
    assert "Signed in as demo-manager" in page and TOKEN.search(page)


def test_two_team_members_each_get_their_own_header(computed):
    other = get_user_model().objects.create_user("second-reader", password="a-long-password-for-tests")
    membership_add(review=computed, user=other, role=Role.EXTRACTOR)
    first, second = Client(), Client()
    first.force_login(get_user_model().objects.get(username="demo-manager"))
    second.force_login(other)
    url = reader_urls(computed)[0]
    first.get(url)
    page = second.get(url).content.decode()
    assert "Signed in as second-reader" in page and "demo-manager" not in page


def test_a_page_built_by_one_process_serves_the_others(computed, django_assert_max_num_queries):
    """The body goes to the shared cache: a process with an empty memory of its own (the local
    cache cleared) serves it without rendering (one query: the stamp)."""
    from django.core.cache import caches

    url = reader_urls(computed)[1]
    first = Client().get(url).content.decode()
    caches["pages"].clear()
    with django_assert_max_num_queries(1):
        again = Client().get(url).content.decode()
    assert again == first


# --- Redis down ---------------------------------------------------------------------------------


@pytest.fixture
def own_redis_cache(settings, tmp_path):
    """The shared cache on a Redis server of this test's own, which the test may stop."""
    port = embedded.free_port(17500 + os.getpid() % 1000)
    process, url = embedded.start_private_redis(tmp_path / "redis", port)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                    "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2}},
        "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages-redis-test"},
    }
    shared_cache._paused_until = 0.0
    yield process
    embedded.stop(process)
    shared_cache._paused_until = 0.0


def test_every_page_answers_while_redis_is_down(computed, own_redis_cache):
    review = computed
    record = Record.objects.filter(review=review, duplicate_of__isnull=True, decisions__isnull=True).first()
    screener = get_user_model().objects.get(username="demo-screener-1")
    client = Client()
    client.force_login(screener)
    screen = f"/reviews/{review.slug}/screening/{Stage.TITLE_ABSTRACT}/"
    assert client.get(screen).status_code == 200  # with Redis: progress cached there
    embedded.stop(own_redis_cache)

    page = client.get(screen)
    assert page.status_code == 200
    assert '<p class="progress">Mine:' in page.content.decode()  # the counts, from PostgreSQL
    saved = client.post(screen, {"record": record.pk, "decision": Decision.EXCLUDE})
    assert saved.status_code in (302, 303), saved.content[:500]
    assert record.decisions.filter(screener=screener).exists()
    for url in (*reader_urls(review), f"/reviews/{review.slug}/prisma.svg", f"/api/reviews/{review.slug}/decisions/",
                f"/reviews/{review.slug}/screening/"):
        assert client.get(url).status_code == 200, url
    assert Client().get(reader_urls(review)[0]).status_code == 200


def test_a_dead_cache_is_skipped_for_a_while_not_asked_on_every_request(own_redis_cache):
    embedded.stop(own_redis_cache)
    assert shared_cache.get("anything") is None
    assert not shared_cache.available()  # the next requests do not wait for a dead server
    shared_cache._paused_until = 0.0
    assert shared_cache.available()


def test_decisions_settle_the_same_with_the_cache_down(small, own_redis_cache):
    """Screening writes never touch the cache: a decision pair and its conflict are recorded."""
    embedded.stop(own_redis_cache)
    one, two = (get_user_model().objects.create_user(name) for name in ("cache-s1", "cache-s2"))
    for user in (one, two):
        membership_add(review=small.review, user=user, role=Role.SCREENER)
    record = Record.objects.create(review=small.review, title="A trial of peer support")
    screening_services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=one, decision=Decision.INCLUDE)
    screening_services.decision_record(record=record, stage=Stage.TITLE_ABSTRACT, screener=two, decision=Decision.EXCLUDE)
    assert record.decisions.count() == 2
