"""``python manage.py rm5_export --review SLUG FILE``: write a review as a RevMan 5 file (.rm5), or,
with ``--csv``, its study data as CSV (RevMan Web / Covidence style)."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.revman.export import rm5_export, study_data_csv
from studies.models import Review


class Command(BaseCommand):
    help = "Export a review as a RevMan 5 file (.rm5) or its study data as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--review", required=True, help="The review's slug.")
        parser.add_argument("--csv", action="store_true", help="Write the study-data CSV instead of .rm5.")

    def handle(self, *args, **options) -> None:
        review = Review.objects.filter(slug=options["review"]).first()
        if review is None:
            raise CommandError(f"No review with slug {options['review']!r}.")
        content = study_data_csv(review).encode() if options["csv"] else rm5_export(review)
        try:
            options["file"].write_bytes(content)
        except OSError as error:
            raise CommandError(f"Cannot write {options['file']}: {error.strerror}.") from None
        self.stdout.write(f"Wrote {options['file']} ({len(content)} bytes).")
