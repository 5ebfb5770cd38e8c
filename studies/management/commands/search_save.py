"""``python manage.py search_save --review SLUG --database pubmed --query Q [--since YYYY-MM-DD] [--every-days N]``:
save a living search of a review (it runs on the schedule, or now with ``searches_run``)."""
from datetime import date
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.models import Review, SearchDatabase
from studies.services.searches import saved_search_save


class Command(BaseCommand):
    help = "Save a living search of a review (PubMed, Europe PMC, ClinicalTrials.gov, OpenAlex, Crossref)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--review", required=True, help="The review's slug.")
        parser.add_argument("--database", required=True, choices=SearchDatabase.values)
        parser.add_argument("--query", required=True, help="The search strategy as the service takes it.")
        parser.add_argument("--since", type=date.fromisoformat, default=None,
                            help="The first run searches records entered from this date (YYYY-MM-DD).")
        parser.add_argument("--every-days", type=int, default=7, help="Run every N days (default 7).")

    def handle(self, *args, **options) -> None:
        review = Review.objects.filter(slug=options["review"]).first()
        if review is None:
            raise CommandError(f"No review with slug {options['review']!r}.")
        try:
            search = saved_search_save(review=review, user=None, database=options["database"], query=options["query"],
                                       first_date=options["since"], every_days=options["every_days"])
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(json.dumps({"search": search.pk, "database": search.database, "query": search.query,
                                      "since": str(search.first_date) if search.first_date else None,
                                      "every_days": search.every_days}))
