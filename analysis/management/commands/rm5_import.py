"""``python manage.py rm5_import FILE --review SLUG``: create a review from a RevMan 5 file.

Prints one JSON line: the review, its counts, the parity of our results with RevMan's stored ones,
and the import's warnings. ``--parity`` also prints each analysis's checks (a second JSON line)."""
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.revman.parity import rm5_parity
from studies.services.revman import Rm5FormatError, rm5_import


class Command(BaseCommand):
    help = "Import a RevMan 5 review (.rm5) into a new review and report parity with RevMan's stored results."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--review", required=True, help="The slug of the review to create.")
        parser.add_argument("--title", default=None, help="The review's title (default: the file's).")
        parser.add_argument("--parity", action="store_true", help="Also print every parity check as JSON.")

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        try:
            result = rm5_import(content=content, file_name=path.name, slug=options["review"],
                                title=options["title"])
        except Rm5FormatError as error:
            raise CommandError(f"{path.name}: {error}", returncode=2) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages), returncode=2) from None
        report = rm5_parity(result.review)
        self.stdout.write(json.dumps({
            "review": result.review.slug, "studies": result.studies, "analyses": result.analyses,
            "risk_of_bias_studies": result.rob_studies, "parity": report.counts(), "warnings": list(result.warnings),
        }))
        if options["parity"]:
            self.stdout.write(json.dumps([
                {"analysis": a.number, "name": a.name, "not_checked": a.not_checked,
                 "checks": [{"scope": c.scope, "statistic": c.statistic, "revman": c.revman, "ours": c.ours,
                             "difference": c.difference, "tolerance": c.tolerance, "equal": c.equal,
                             "note": c.note} for c in a.checks]}
                for a in report.analyses
            ]))
