"""``python manage.py searches_run --review SLUG (--all | --search ID)``: run living searches now.

Prints one JSON line per run, ``{"search": id, "database": ..., "found": n, "new": n, "duplicates": n,
"batch": id, "errors": [...]}``, and exits with status 1 when a run failed (for cron and checks).
"""
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.models import Review, RunTrigger
from studies.services.searches import RunReport, SearchAlreadyRunning, search_run


class Command(BaseCommand):
    help = "Run a review's living searches now, printing one JSON line per run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--review", required=True, help="The review's slug.")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every active search of the review.")
        which.add_argument("--search", type=int, help="One saved search, by id.")

    def handle(self, *args, **options) -> None:
        review = Review.objects.filter(slug=options["review"]).first()
        if review is None:
            raise CommandError(f"No review with slug {options['review']!r}.")
        searches = review.saved_searches.order_by("pk")
        if options["search"] is not None:
            searches = searches.filter(pk=options["search"])
            if not searches:
                raise CommandError(f"The review {review.slug!r} has no saved search {options['search']}.")
        else:
            searches = searches.filter(active=True)
        failed = 0
        for search in searches:
            try:
                report = RunReport.of(search_run(search=search, trigger=RunTrigger.COMMAND))
            except SearchAlreadyRunning as error:
                report = RunReport(search=search.pk, database=search.database, found=0, new=0, duplicates=0,
                                   batch=None, errors=[str(error)])
            failed += bool(report.errors)
            self.stdout.write(json.dumps(report.__dict__))
        if failed:
            raise CommandError(f"{failed} search run(s) failed.", returncode=1)
