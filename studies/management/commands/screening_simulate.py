"""Simulate prioritised screening over a file of records, speaking a line protocol on stdin/stdout.

    python manage.py screening_simulate --records FILE.csv --prior INC_ID,EXC_ID

FILE.csv has the columns ``record_id,title,abstract,year,doi`` (no labels); INC_ID and EXC_ID are one
included and one excluded record, known before screening starts. The command prints the
``record_id`` it wants screened next (never a prior, never twice) and reads back ``1`` (included) or
``0`` (excluded), one line each; it prints ``STOP`` once, when the stopping rule judges 95% recall
reached with 95% confidence (no answer follows; ``--confidence`` asks for another, as a manager may
per review), and keeps asking until every record has been asked, then exits. Nothing else goes to
stdout; messages go to stderr.

It runs the product's ranking and stopping rule (studies.prioritisation): the same TF-IDF features,
classifier, retraining schedule and Callaghan & Müller-Hansen (2020) test as the screening queue.
"""
from __future__ import annotations

import csv
import sys
import time
from typing import ClassVar

from django.core.management.base import BaseCommand, CommandError

from studies.models import STOPPING_GUARANTEE_RANGE
from studies.prioritisation.ranking import record_text
from studies.prioritisation.session import PrioritisedScreening
from studies.prioritisation.stopping import CONFIDENCE

REQUIRED_COLUMNS = ("record_id", "title", "abstract")


def read_records(path: str) -> tuple[list[str], list[str]]:
    """(record ids, texts) of the file, in file order; a clear error for a file that cannot be used."""
    csv.field_size_limit(sys.maxsize)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise CommandError(f"{path}: missing column(s) {', '.join(missing)}; "
                                   "expected record_id,title,abstract,year,doi.")
            ids, texts, seen = [], [], set()
            for line, row in enumerate(reader, start=2):
                record_id = (row["record_id"] or "").strip()
                if not record_id:
                    raise CommandError(f"{path}, line {line}: empty record_id.")
                if record_id in seen:
                    raise CommandError(f"{path}, line {line}: record_id {record_id} appears twice.")
                seen.add(record_id)
                ids.append(record_id)
                texts.append(record_text(row["title"], row["abstract"]))
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
    except UnicodeDecodeError as error:
        raise CommandError(f"{path} is not UTF-8 text: {error}.") from error
    return ids, texts


class Command(BaseCommand):
    help = "Simulate prioritised title/abstract screening over a CSV of records (stdin/stdout protocol)."
    # Touches no database: no system checks (some query it) and no migration check.
    requires_system_checks: ClassVar[list[str]] = []
    requires_migrations_checks = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("--records", required=True, help="CSV with record_id,title,abstract,year,doi")
        parser.add_argument("--prior", required=True,
                            help="INC_ID,EXC_ID: one included and one excluded record")
        parser.add_argument("--confidence", type=float, default=CONFIDENCE,
                            help=f"the stopping rule's confidence that recall is 95%% at STOP (default {CONFIDENCE:g}, "
                                 "the paper's and the product's; a manager may choose 0.8-0.999 per review)")

    def handle(self, *args, records: str, prior: str, confidence: float = CONFIDENCE, **options) -> None:
        low, high = STOPPING_GUARANTEE_RANGE
        if not low <= confidence <= high:
            raise CommandError(f"--confidence must be between {low:g} and {high:g}, not {confidence:g}.")
        started = time.monotonic()
        ids, texts = read_records(records)
        position = {record_id: index for index, record_id in enumerate(ids)}
        priors = [p.strip() for p in prior.split(",")]
        if len(priors) != 2 or priors[0] == priors[1]:
            raise CommandError("--prior takes two different ids: INC_ID,EXC_ID.")
        unknown = [p for p in priors if p not in position]
        if unknown:
            raise CommandError(f"--prior: {', '.join(unknown)} not in {records}.")
        known = {position[priors[0]]: 1, position[priors[1]]: 0}
        screening = PrioritisedScreening(texts, known, confidence=confidence)
        self.stderr.write(f"{len(ids)} records, features ready in {time.monotonic() - started:.1f} s")

        out, answers = sys.stdout, sys.stdin
        stopped = False
        asked = 0
        while (index := screening.next_record()) is not None:
            out.write(ids[index] + "\n")
            out.flush()
            answer = answers.readline()
            if not answer:
                raise CommandError(f"stdin closed after {asked} answers; {ids[index]} unanswered.")
            answer = answer.strip()
            if answer not in ("0", "1"):
                raise CommandError(f"Answer for {ids[index]} must be 1 or 0, not {answer!r}.")
            screening.record_decision(index, answer == "1")
            asked += 1
            if not stopped and screening.stop_indicated():
                stopped = True
                out.write("STOP\n")
                out.flush()
                self.stderr.write(f"STOP after {asked} records screened "
                                  f"(p = {screening.stopping().p_value:.4f})")
        self.stderr.write(f"{asked} records asked in {time.monotonic() - started:.1f} s")
