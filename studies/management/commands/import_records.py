"""``python manage.py import_records --review SLUG --source NAME FILE``: import one export file.

``--preview`` prints what the import would do (the upload page's preview, as JSON: records, sample,
warnings grouped by kind, expected duplicates) and writes nothing."""
from datetime import date
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from studies.imports import ImportFileError
from studies.imports.formats import FILE_FORMATS
from studies.models import Review
from studies.services.import_preview import import_preview
from studies.services.imports import import_records, search_source_ensure


class Command(BaseCommand):
    help = "Import a search export (RIS, MEDLINE, EndNote XML, BibTeX, CSV, WoS) and deduplicate it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--review", required=True, help="The review's slug.")
        parser.add_argument("--source", required=True, help="The database searched, e.g. Embase.")
        parser.add_argument("--searched-on", type=date.fromisoformat, default=None,
                            help="Date of the search (YYYY-MM-DD); today if not given.")
        parser.add_argument("--query", default="", help="The search strategy as run.")
        parser.add_argument("--format", default="auto", choices=["auto", *FILE_FORMATS])
        parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                            help="CSV column mapping, e.g. --map title='Article Title' (repeatable).")
        parser.add_argument("--preview", action="store_true",
                            help="Print what the import would do (records, warnings, duplicates); write nothing.")

    def handle(self, *args, **options) -> None:
        review = Review.objects.filter(slug=options["review"]).first()
        if review is None:
            raise CommandError(f"No review with slug {options['review']!r}.")
        path: Path = options["file"]
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        mapping = dict(item.split("=", 1) for item in options["map"]) or None
        if options["preview"]:
            try:
                preview = import_preview(review=review, content=content, file_format=options["format"],
                                         column_mapping=mapping)
            except ImportFileError as error:
                self.stdout.write(json.dumps({"records": 0, "errors": [str(error)]}))
                raise CommandError(str(error), returncode=2) from None
            self.stdout.write(json.dumps(preview.as_dict()))
            return
        try:
            # One transaction: a refused file leaves no search source behind either.
            with transaction.atomic():
                source = search_source_ensure(review=review, database=options["source"],
                                              date_searched=options["searched_on"] or timezone.localdate(),
                                              query=options["query"])
                summary = import_records(review=review, source=source, file_name=path.name, content=content,
                                         file_format=options["format"], column_mapping=mapping)
        except ImportFileError as error:
            self.stdout.write(json.dumps({"imported": 0, "duplicates": 0, "queued": 0, "errors": [str(error)]}))
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(json.dumps(summary.as_dict()))
