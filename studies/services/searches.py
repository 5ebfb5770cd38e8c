"""Living searches (issue 21): saving searches, running them, and telling the team.

A run is three steps, so that a failure writes nothing but its own record of failing:

1. ``_run_start`` (one short transaction): claim the search (one run at a time, a database
   constraint) and fix the window: from the last successful window's end minus
   ``SEARCH_OVERLAP_DAYS`` (entry dates lag, and nothing published in between may be missed), or
   from the search's first date.
2. The connector asks the service (``studies.searches.harvest``), outside any transaction: retries,
   rate limits and paging may take minutes, and hold no lock meanwhile.
3. ``_run_store`` (one transaction): the records become an import batch of a ``SearchSource``
   through ``stream_import``, the importer's own checks and deduplication. Records an earlier run of
   the same search already brought (the overlap) are recognised by the service's id and not stored
   again. Or, on any error, ``_run_fail`` records the error and nothing else: the next run's window
   starts where the last *successful* one ended, so it covers the failed run's window too.
"""
from dataclasses import dataclass
from datetime import date, timedelta
import hashlib
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from studies import access, selectors
from studies.imports import ImportFileError, ParsedStream
from studies.models import (
    ImportFormat,
    Review,
    ReviewMembership,
    Role,
    RunStatus,
    RunTrigger,
    SavedSearch,
    SearchDatabase,
    SearchDigestOptOut,
    SearchRun,
    Stage,
)
from studies.searches import Harvest, SearchServiceError, SearchWindow, harvest
from studies.services.entities import entity_save
from studies.services.imports import search_source_ensure, stream_import

logger = logging.getLogger(__name__)

_MANAGE = "manage the review's living searches"


class SearchAlreadyRunning(Exception):
    """A run of this search is under way; a second one would fetch and store the same window twice."""


def _require_manager(user, review: Review, action: str = _MANAGE) -> None:
    # ``user=None`` is the command line or the schedule: an operator with shell access, or beat.
    if user is not None:
        access.require_role(user, review, access.MANAGER, action=action)


@transaction.atomic
def saved_search_save(*, review: Review, user, database: str, query: str, first_date: date | None = None,
                      every_days: int = 7, active: bool = True, search: SavedSearch | None = None) -> SavedSearch:
    """Add a saved search to a review, or edit ``search``. Managers only (``PermissionDenied``);
    ``ValidationError`` naming the field for a value the search cannot take."""
    _require_manager(user, review)
    if search is not None and search.review_id != review.pk:
        raise ValidationError("This search belongs to another review.")
    if database not in SearchDatabase.values:
        raise ValidationError({"database": f"Choose one of: {', '.join(SearchDatabase.values)}."})
    instance = search or SavedSearch(review=review, created_by=user)
    instance.database, instance.query, instance.first_date = database, (query or "").strip(), first_date
    instance.every_days, instance.active = every_days, active
    if instance.next_run_at is None:
        instance.next_run_at = timezone.now()  # a new search runs at the schedule's next look
    return entity_save(instance=instance)


@transaction.atomic
def saved_search_activate(*, search: SavedSearch, user, active: bool) -> SavedSearch:
    """Pause (``active=False``) or resume a saved search. Resuming makes it due at once."""
    _require_manager(user, search.review)
    search.active = active
    if active:
        search.next_run_at = timezone.now()
    return entity_save(instance=search)


@transaction.atomic
def saved_search_run_soon(*, search: SavedSearch, user) -> SavedSearch:
    """"Run now" from the page: the search is due at once, and a worker is asked to run it after commit."""
    _require_manager(user, search.review)
    search.next_run_at = timezone.now()
    search = entity_save(instance=search)
    search_id = search.pk

    def ring() -> None:
        from studies.tasks import search_run_task  # the task module imports this one

        try:
            search_run_task.delay(search_id, RunTrigger.MANUAL, getattr(user, "pk", None))
        except Exception:  # the broker is down: beat's next look runs it (it is due)
            logger.warning("Could not queue search %s; the schedule will run it.", search_id, exc_info=True)

    transaction.on_commit(ring)
    return search


def _window(search: SavedSearch, today: date) -> SearchWindow:
    last_end = search.runs.filter(status=RunStatus.SUCCEEDED).aggregate(end=Max("window_end"))["end"]
    if last_end is not None:
        start = last_end - timedelta(days=settings.SEARCH_OVERLAP_DAYS)
    else:
        start = search.first_date
    if start is not None and start > today:
        start = today
    return SearchWindow(start=start, end=today)


def _minutes() -> str:
    minutes = settings.SEARCH_RUN_TIMEOUT_MINUTES
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def runs_stuck_fail(*, now=None) -> int:
    """Fail every run still "running" after ``SEARCH_RUN_TIMEOUT_MINUTES`` (its worker died or hung):
    its search becomes free to run again, and counts the failure. Returns how many were failed."""
    now = now or timezone.now()
    limit = now - timedelta(minutes=settings.SEARCH_RUN_TIMEOUT_MINUTES)
    failed = 0
    for run_id in SearchRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=limit).values_list("pk", flat=True):
        with transaction.atomic():
            run = SearchRun.objects.select_for_update().filter(pk=run_id, status=RunStatus.RUNNING).first()
            if run is not None:
                _failure_record(run, f"The run was still going after {_minutes()} and was stopped; the next run "
                                     "searches its window again.", now=now)
                failed += 1
    return failed


@transaction.atomic
def _run_start(search_id: int, *, trigger: str, user) -> SearchRun:
    search = SavedSearch.objects.select_for_update().select_related("review").get(pk=search_id)
    running = search.runs.filter(status=RunStatus.RUNNING).first()
    if running is not None:
        limit = timezone.now() - timedelta(minutes=settings.SEARCH_RUN_TIMEOUT_MINUTES)
        if running.started_at >= limit:
            raise SearchAlreadyRunning(f"Search {search.pk} is already running (since {running.started_at:%H:%M:%S}).")
        _failure_record(running, f"The run was stopped after {_minutes()} without finishing.")
    today = timezone.localdate()
    window = _window(search, today)
    try:
        with transaction.atomic():
            return SearchRun.objects.create(search=search, trigger=trigger, started_by=user, started_at=timezone.now(),
                                            window_start=window.start, window_end=window.end, query=search.query)
    except IntegrityError:  # another worker claimed it between our lock and insert (cannot under the lock)
        raise SearchAlreadyRunning(f"Search {search.pk} is already running.") from None


def search_run(*, search: SavedSearch, trigger: str = RunTrigger.SCHEDULE, user=None) -> SearchRun:
    """Run a saved search now: fetch its window, and store the records as one import batch.

    Returns the finished run (succeeded or failed: a failure is recorded on the run, with nothing else
    written). Raises ``SearchAlreadyRunning`` when a run of the search is under way, and
    ``PermissionDenied`` for a user who does not manage the review (``user=None``: the schedule or the
    command line).
    """
    _require_manager(user, search.review, action="run the review's living searches")
    run = _run_start(search.pk, trigger=trigger, user=user)
    try:
        found = harvest(database=search.database, query=run.query,
                        window=SearchWindow(start=run.window_start, end=run.window_end))
        return _run_store(run.pk, found)
    except (SearchServiceError, ImportFileError, ValidationError) as error:
        return _run_fail(run.pk, getattr(error, "message", None) or str(error))
    except Exception as error:
        logger.exception("Search run %s failed unexpectedly", run.pk)
        return _run_fail(run.pk, f"The run failed unexpectedly ({type(error).__name__}: {error}).")


@transaction.atomic
def _run_store(run_id: int, found: Harvest) -> SearchRun:
    run = SearchRun.objects.select_for_update().select_related("search__review").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return run  # failed as stuck while the service answered: its window is searched again next time
    search, review = run.search, run.search.review
    now = timezone.now()
    seen = set()
    for ids in search.runs.filter(status=RunStatus.SUCCEEDED).values_list("retrieved_ids", flat=True):
        seen.update(ids)
    fresh = [record for record, source_id in zip(found.records, found.ids, strict=True) if source_id not in seen]
    label = SearchDatabase(search.database).label
    source = search_source_ensure(review=review, database=label, date_searched=timezone.localdate(), query=run.query)
    source.records_reported = (source.records_reported or 0) + found.reported
    source.save(update_fields=["records_reported"])
    # The batch's "file" is the service's answers to this run: named by the run, so it is never
    # mistaken for an earlier batch with the same answers.
    sha256 = hashlib.sha256(f"search-run:{run.pk}:{found.sha256}".encode()).hexdigest()
    window = f"{run.window_start or 'start'} to {run.window_end}"
    summary = stream_import(
        review=review, source=source, imported_by=run.started_by,
        file_name=f"{label} search {search.pk}, run {run.pk} ({window})",
        stream=ParsedStream(records=iter(fresh), file_format=found.file_format or ImportFormat.SEARCH_API,
                            encoding="utf-8", sha256=sha256))
    run.status, run.finished_at, run.batch_id = RunStatus.SUCCEEDED, now, summary.batch_id
    run.found = len(found.records)
    run.new = summary.imported - summary.duplicates
    run.duplicates = run.found - run.new
    run.retrieved_ids = list(found.ids)
    run.save()
    search.consecutive_failures = 0
    search.next_run_at = run.started_at + timedelta(days=search.every_days)
    search.save(update_fields=["consecutive_failures", "next_run_at", "updated_at"])
    if run.new:
        run_id = run.pk
        transaction.on_commit(lambda: digest_send(run_id=run_id))
    return run


def _failure_record(run: SearchRun, message: str, *, now=None) -> None:
    """Inside a transaction holding ``run``: fail it, count the search's failure, tell the managers at
    the second failure in a row."""
    now = now or timezone.now()
    run.status, run.finished_at, run.error = RunStatus.FAILED, now, message[:5000]
    run.save(update_fields=["status", "finished_at", "error"])
    search = SavedSearch.objects.select_for_update().get(pk=run.search_id)
    search.consecutive_failures += 1
    retry_hours = settings.SEARCH_FAILURE_RETRY_HOURS * 2 ** (search.consecutive_failures - 1)
    search.next_run_at = now + min(timedelta(hours=retry_hours), timedelta(days=search.every_days))
    search.save(update_fields=["consecutive_failures", "next_run_at", "updated_at"])
    if search.consecutive_failures == 2:
        run_id = run.pk
        transaction.on_commit(lambda: failures_notify(run_id=run_id))


@transaction.atomic
def _run_fail(run_id: int, message: str) -> SearchRun:
    run = SearchRun.objects.select_for_update().get(pk=run_id)
    if run.status == RunStatus.RUNNING:
        _failure_record(run, message)
    return run


def searches_due(*, now=None) -> list[int]:
    """Ids of the active searches whose time has come and that are not running."""
    now = now or timezone.now()
    return list(SavedSearch.objects.filter(active=True).filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
                .exclude(runs__status=RunStatus.RUNNING).order_by("next_run_at", "pk").values_list("pk", flat=True))


# --- Telling the team -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    """One run as ``searches_run`` prints it (one JSON line each)."""

    search: int
    database: str
    found: int
    new: int
    duplicates: int
    batch: int | None
    errors: list[str]

    @classmethod
    def of(cls, run: SearchRun) -> "RunReport":
        return cls(search=run.search_id, database=run.search.database, found=run.found, new=run.new,
                   duplicates=run.duplicates, batch=run.batch_id, errors=run.errors)


def _site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path if getattr(settings, "SITE_URL", "") else path


def failures_notify(*, run_id: int) -> None:
    """E-mail the review's managers that a search failed twice in a row (a courtesy: the failures are
    on the searches page either way)."""
    run = SearchRun.objects.select_related("search__review").get(pk=run_id)
    search, review = run.search, run.search.review
    recipients = list(ReviewMembership.objects.filter(review=review, role=Role.MANAGER).exclude(user__email="")
                      .values_list("user__email", flat=True).distinct())
    if not recipients:
        return
    errors = [e for e in search.runs.filter(status=RunStatus.FAILED).order_by("-started_at")
              .values_list("error", flat=True)[:2]]
    body = (f"The {search.get_database_display()} search “{search.query[:200]}” of the review “{review.title}” "
            f"has failed {search.consecutive_failures} times in a row. Nothing of the failed runs was imported; "
            "the next successful run covers their dates.\n\nThe services said:\n\n"
            + "\n".join(f"- {error}" for error in errors)
            + f"\n\nThe searches page: {_site_url(f'/reviews/{review.slug}/searches/')}\n")
    try:
        send_mail(subject=f"[{review.title[:60]}] A living search failed twice", message=body,
                  from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=recipients)
    except Exception:
        logger.exception("Could not e-mail the managers of review %s about search %s", review.pk, search.pk)


@transaction.atomic
def digest_opt_out_set(*, review: Review, user, opted_out: bool) -> None:
    """A team member turns the e-mail digest of new records off (or on again) for themselves."""
    if not access.roles_in(user, review):
        raise PermissionDenied("Only the review's team receive its digest.")
    if opted_out:
        SearchDigestOptOut.objects.get_or_create(review=review, user=user)
    else:
        SearchDigestOptOut.objects.filter(review=review, user=user).delete()


def digest_send(*, run_id: int) -> int:
    """E-mail the screeners of the review (not those who opted out) that a run brought new records to
    screen. Returns the number of messages sent."""
    run = SearchRun.objects.select_related("search__review").get(pk=run_id)
    review = run.search.review
    opted_out = SearchDigestOptOut.objects.filter(review=review).values("user_id")
    members = (ReviewMembership.objects.filter(review=review, role=Role.SCREENER).exclude(user__email="")
               .exclude(user_id__in=opted_out).select_related("user"))
    sent = 0
    for membership in members:
        user = membership.user
        left = selectors.screening_left(review=review, stage=Stage.TITLE_ABSTRACT, screener=user)
        body = (f"A living search of the review “{review.title}” ({run.search.get_database_display()}, "
                f"{run.window_start or 'start'} to {run.window_end}) found {run.found} records, {run.new} of them new.\n\n"
                f"Titles and abstracts left for you to screen: {left}.\n"
                f"{_site_url(f'/reviews/{review.slug}/screening/title_abstract/')}\n\n"
                f"To stop these e-mails: {_site_url(f'/reviews/{review.slug}/searches/digest/')}\n")
        try:
            send_mail(subject=f"[{review.title[:60]}] {run.new} new records to screen", message=body,
                      from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[user.email])
            sent += 1
        except Exception:
            logger.exception("Could not e-mail the search digest to user %s", user.pk)
    return sent
