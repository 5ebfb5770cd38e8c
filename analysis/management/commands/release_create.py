"""``python manage.py release_create --review SLUG [--note TEXT] [--wait SECONDS]``: cut the review's
next release and print one JSON line, ``{"version": "1.0.0", "url": "..."}``."""
import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.models import ReleaseTrigger
from analysis.pages.release_capture import snapshot_capture
from analysis.pages.releases import release_url
from analysis.services.releases import ReleaseRefused, release_create
from studies.models import Review


class Command(BaseCommand):
    help = "Cut a release (an immutable, citable snapshot) of a review's current analysis."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--review", required=True, help="The review's slug.")
        parser.add_argument("--note", default="", help="The manager's note, shown with the generated notes.")
        parser.add_argument("--wait", type=float, default=60.0,
                            help="While the analysis is recomputing, wait up to this many seconds for it "
                                 "(default 60; 0 refuses at once).")

    def handle(self, *args, review: str, note: str, wait: float, **options) -> None:
        try:
            chosen = Review.objects.get(slug=review)
        except Review.DoesNotExist:
            raise CommandError(f"No review with the slug “{review}”.") from None
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                release = release_create(review=chosen, user=None, capture=snapshot_capture,
                                         trigger=ReleaseTrigger.COMMAND, note=note)
                break
            except ReleaseRefused as refused:
                if refused.code != "stale" or time.monotonic() >= deadline:
                    raise CommandError(refused.reason) from None
                time.sleep(0.5)  # the worker is computing the current data version
        self.stdout.write(json.dumps({"version": release.version, "url": release_url(release)}))
