"""``python manage.py metaanalyse FILE.csv``: meta-analyse one CSV, print JSON or text.

Never touches the database, so it runs with no database reachable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.engine.cli import InputError, decode_csv, metaanalyse_csv


class Command(BaseCommand):
    help = (
        "Meta-analyse the studies in a CSV file (columns study,n1,mean1,sd1,n2,mean2,sd2 "
        "or study,events1,total1,events2,total2 or study,effect,se; optional subgroup, "
        "year) and print the result as JSON or a RevMan-style summary."
    )
    # Pure computation: no system checks or migration checks that would need a DB.
    requires_system_checks: ClassVar[list[str]] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file, or - for standard input")
        parser.add_argument("--format", dest="output_format", choices=["json", "text"],
                            default="json")
        parser.add_argument("--measure", type=str.upper,
                            choices=["SMD", "SMD_EXACT", "MD", "OR", "RR", "RD", "PETO_OR", "GENERIC", "GENERIC_RATIO"],
                            help="effect measure (default: MD, RR or GENERIC by columns)")
        parser.add_argument("--method", type=str.upper, choices=["IV", "MH", "PETO"],
                            help="fixed-effect method (default: MH for OR/RR/RD, PETO for PETO_OR, else IV)")
        parser.add_argument("--model", type=str.lower, choices=["fixed", "random", "auto"],
                            default="auto", help="reported model (auto: by I² threshold)")
        parser.add_argument("--i2-threshold", type=float, default=50.0,
                            help="I² (%%) at or above which auto picks random effects")
        parser.add_argument("--tau2", type=str.upper, choices=["DL", "REML", "PM"],
                            default="DL", help="between-study variance estimator")
        parser.add_argument("--hksj", action="store_true",
                            help="Hartung–Knapp–Sidik–Jonkman CI for random effects")
        parser.add_argument("--level", type=float, default=0.95, help="confidence level")

    def handle(self, *args, **options) -> None:
        source = options["file"]
        try:
            # Bytes, not text: a spreadsheet's "CSV" may be Windows-1252 or UTF-16, which
            # decode_csv recognises (a UTF-8 read would end in a traceback).
            content = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {source}: {error.strerror or error}") from error
        try:
            decoded = decode_csv(content)
            if decoded.note:
                self.stderr.write(f"{source}: note: {decoded.note}")
            output = metaanalyse_csv(
                decoded.text,
                output_format=options["output_format"],
                measure=options["measure"],
                method=options["method"],
                model=options["model"],
                i2_threshold=options["i2_threshold"],
                tau2=options["tau2"],
                hksj=options["hksj"],
                level=options["level"],
            )
        except InputError as error:
            raise CommandError(f"{source}: {error}") from error
        self.stdout.write(output, ending="")
