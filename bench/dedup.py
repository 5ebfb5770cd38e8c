"""Precision and recall of import deduplication on a labelled, perturbed set, against exact-DOI dedup.

    DATABASE_URL=postgres://... python bench/dedup.py [--works 3000] [--seed 11]

Base works (titles, full author names, years, journals, DOIs, PMIDs) are imported as one search; a
second search holds perturbed copies of some of them (DOI case or resolver prefix, missing DOI, HTML
entities / punctuation / case in titles, truncated subtitles, initials for names, year +-1 for
online-first, journal abbreviations), new works, and hard negatives: the same title in another year
(a different paper), a preprint of a base work (same work, but it must be queued, not merged) and a
conference abstract of a base work (a different report: never merged automatically).

The real import (``import_records``) runs both files into a throwaway review in a transaction that is
rolled back. Targets: automatic-merge precision >= 0.99; automatic + queued recall >= 0.97.
The peer is what reference managers do by default: merge on the same DOI (case-insensitive,
resolver prefix stripped), nothing else.
"""
import argparse
from dataclasses import dataclass
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewsite.settings.local")
import django  # noqa: E402

django.setup()
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402

from studies.models import CandidateStatus, DuplicateCandidate, Record, SearchSource  # noqa: E402
from studies.models.validators import normalise_doi  # noqa: E402
from studies.services import review_create  # noqa: E402
from studies.services.imports import import_records  # noqa: E402

INTERVENTIONS = ("peer support", "contact-based education", "cognitive behavioural therapy", "psychoeducation",
                 "anti-stigma campaign", "self-help app", "mindfulness training", "supported employment",
                 "family intervention", "narrative enhancement", "disclosure training", "online forum",
                 "mental health first aid", "recovery college", "motivational interviewing", "art therapy",
                 "exercise programme", "case management", "crisis planning", "video-based contact",
                 "school curriculum", "text-message reminders", "peer navigation", "group therapy")
OUTCOMES = ("self-stigma", "help-seeking", "public stigma", "depressive symptoms", "hopelessness",
            "empowerment", "quality of life", "treatment adherence", "social functioning", "anxiety",
            "stigma stress", "disclosure decisions", "recovery orientation", "loneliness", "employment")
POPULATIONS = ("people with serious mental illness", "university students", "adolescents", "veterans",
               "primary care patients", "people with psychosis", "health professionals", "police officers",
               "older adults", "refugees", "people with bipolar disorder", "parents", "nurses", "prisoners")
DESIGNS = ("a randomised controlled trial", "a cluster randomised trial", "a pilot study", "a feasibility trial",
           "a pragmatic trial", "a quasi-experimental study", "a mixed-methods evaluation", "a crossover trial")
JOURNALS = (("British Journal of Psychiatry", "Br J Psychiatry"), ("Psychiatric Services", "Psychiatr Serv"),
            ("Schizophrenia Bulletin", "Schizophr Bull"), ("Social Psychiatry and Psychiatric Epidemiology",
                                                           "Soc Psychiatry Psychiatr Epidemiol"),
            ("Journal of Mental Health", "J Ment Health"), ("BMC Psychiatry", "BMC Psychiatry"),
            ("Psychiatric Rehabilitation Journal", "Psychiatr Rehabil J"), ("Lancet Psychiatry", "Lancet Psychiatry"))
SURNAMES = ("Rüsch", "Corrigan", "Thornicroft", "Smith", "Müller", "García", "Nguyen", "Okafor", "Kowalski",
            "Larsen", "Rossi", "Yamamoto", "Evans", "Brown", "Schmidt", "Kim", "Singh", "O'Brien", "Dubois",
            "Silva", "Novak", "Cohen", "Hansen", "Ahmed", "Martin", "Lee", "Walker", "Costa", "Fischer", "Chen")
GIVEN = ("Nicolas", "Patrick", "Graham", "Anna", "Maria", "John", "Li", "Chidi", "Ewa", "Sofie", "Marco",
         "Yuki", "Rhys", "Emma", "Jonas", "Ji-woo", "Priya", "Sean", "Claire", "Ana", "Petra", "Noa", "Lars")


@dataclass
class Work:
    work: int
    title: str
    subtitle: str
    authors: list[tuple[str, str]]
    year: int
    journal: tuple[str, str]
    doi: str
    pmid: str
    abstract: str


@dataclass
class Entry:
    """One record of a file with its label: which work it reports and what kind of copy it is."""

    work: int
    kind: str  # base, duplicate, new, same_title_other_year, preprint, conference_abstract
    tags: list[tuple[str, str]]


def work_generate(rng: random.Random, k: int) -> Work:
    population = rng.choice(POPULATIONS)
    title = f"{rng.choice(INTERVENTIONS).capitalize()} to improve {rng.choice(OUTCOMES)} in {population}"
    if rng.random() < 0.5:
        title = f"{title} and {rng.choice(OUTCOMES)}"
    authors = [(rng.choice(SURNAMES), f"{rng.choice(GIVEN)} {chr(65 + rng.randrange(26))}.")
               for _ in range(rng.randint(1, 6))]
    return Work(work=k, title=title, subtitle=rng.choice(DESIGNS), authors=authors, year=rng.randint(2000, 2023),
                journal=rng.choice(JOURNALS), doi=f"10.{1000 + rng.randrange(9000)}/{rng.choice('abcdefgh')}.{k}x{rng.randrange(10**6)}",
                pmid=str(10_000_000 + k * 7 + rng.randrange(7)) if rng.random() < 0.7 else "",
                abstract=f"Background: stigma. Methods: {rng.randint(20, 900)} participants. Results: effects.")


def base_tags(w: Work) -> list[tuple[str, str]]:
    tags = [("TI", f"{w.title}: {w.subtitle}"), *[("AU", f"{s}, {g}") for s, g in w.authors], ("PY", str(w.year)),
            ("JO", w.journal[0]), ("AB", w.abstract), ("DO", w.doi)]
    return [*tags, ("AN", w.pmid), ("DB", "PubMed")] if w.pmid else tags


def duplicate_tags(w: Work, rng: random.Random) -> list[tuple[str, str]]:
    """A copy of ``w`` as another database exports it: 1 to 4 perturbations."""
    title, subtitle, doi, year, journal, pmid = w.title, w.subtitle, w.doi, w.year, w.journal[0], w.pmid
    authors = [f"{s}, {g}" for s, g in w.authors]
    perturbations = rng.sample(["doi_case", "doi_prefix", "doi_missing", "html", "punctuation", "case",
                                "subtitle", "initials", "year", "journal", "pmid_missing"], rng.randint(1, 4))
    full_title = f"{title}: {subtitle}"
    for p in perturbations:
        if p == "doi_case":
            doi = doi.upper()
        elif p == "doi_prefix":
            doi = f"https://doi.org/{doi}" if doi else doi
        elif p == "doi_missing":
            doi = ""
        elif p == "html":
            full_title = full_title.replace(" and ", " &amp; ").replace("self-stigma", "self&#8208;stigma") \
                .replace(" to improve ", " to <i>improve</i> ")
        elif p == "punctuation":
            full_title = full_title.replace(": ", " - ").replace("-", " ") + "."
        elif p == "case":
            full_title = full_title.upper() if rng.random() < 0.5 else full_title.lower()
        elif p == "subtitle":
            full_title = full_title.split(": ")[0]
        elif p == "initials":
            authors = [f"{s} {''.join(part[0] for part in g.replace('-', ' ').split())}" for s, g in w.authors]
        elif p == "year":
            year = w.year + 1  # online first in one database, print issue in the other
        elif p == "journal":
            journal = w.journal[1]
        elif p == "pmid_missing":
            pmid = ""
    tags = [("TI", full_title), *[("AU", a) for a in authors], ("PY", str(year)), ("JO", journal), ("AB", w.abstract)]
    if doi:
        tags.append(("DO", doi))
    return [*tags, ("AN", pmid), ("DB", "MEDLINE")] if pmid else tags


def ris(entries: list[Entry]) -> bytes:
    return "\n".join("\n".join(["TY  - JOUR", *[f"{t}  - {v}" for t, v in e.tags], "ER  - ", ""])
                     for e in entries).encode()


def sets_generate(works: int, seed: int) -> tuple[list[Entry], list[Entry]]:
    rng = random.Random(seed)
    base = [work_generate(rng, k) for k in range(works)]
    first = [Entry(w.work, "base", base_tags(w)) for w in base]
    second: list[Entry] = []
    next_work = works
    for w in base:
        roll = rng.random()
        if roll < 0.45:
            second.append(Entry(w.work, "duplicate", duplicate_tags(w, rng)))
        elif roll < 0.50:
            # A different paper with the same title: an annual report, an update, a replication.
            tags = [(t, str(w.year + rng.choice((-3, -2, 2, 4))) if t == "PY" else v) for t, v in base_tags(w)
                    if t not in ("DO", "AN", "DB")]
            second.append(Entry(next_work, "same_title_other_year", [*tags, ("DO", f"10.9999/other.{next_work}")]))
            next_work += 1
        elif roll < 0.54:
            tags = [(t, v) for t, v in base_tags(w) if t not in ("DO", "JO", "AN", "DB", "PY")]
            second.append(Entry(w.work, "preprint", [*tags, ("PY", str(w.year - 1)), ("JO", "medRxiv"),
                                                     ("DO", f"10.1101/{w.year - 1}.01.{w.work:05d}")]))
        elif roll < 0.58:
            # The conference abstract of the trial: same title and authors, supplement DOI, no PMID.
            tags = [(t, v) for t, v in base_tags(w) if t not in ("DO", "JO", "AN", "DB", "PY", "AB")]
            second.append(Entry(next_work, "conference_abstract", [
                *tags, ("PY", str(w.year - rng.choice((0, 1)))), ("JO", f"{w.journal[0]} (Conference Abstracts)"),
                ("AB", "Abstract of a conference presentation."), ("DO", f"10.9998/suppl.{next_work}")]))
            next_work += 1
    for _ in range(works // 3):
        w = work_generate(rng, next_work)
        second.append(Entry(w.work, "new", base_tags(w)))
        next_work += 1
    rng.shuffle(second)
    return first, second


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    pairs: int


def scores(predicted: set[tuple[int, int]], wanted: set[tuple[int, int]]) -> Scores:
    hits = len(predicted & wanted)
    return Scores(hits / len(predicted) if predicted else 1.0, hits / len(wanted) if wanted else 1.0, len(predicted))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--works", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    first, second = sets_generate(args.works, args.seed)
    base_index = {e.work: i for i, e in enumerate(first)}
    # Pairs (position in the second file, position in the first) that are one work.
    same_work = {(j, base_index[e.work]) for j, e in enumerate(second) if e.kind in ("duplicate", "preprint")}
    mergeable = {(j, base_index[e.work]) for j, e in enumerate(second) if e.kind == "duplicate"}
    kinds = {kind: sum(e.kind == kind for e in second) for kind in sorted({e.kind for e in second})}
    print(f"labelled set: {len(first)} base records; second search {len(second)} records {kinds}")

    with transaction.atomic():
        user = get_user_model().objects.create_user("bench-dedup")
        review = review_create(title="Dedup bench", slug="bench-dedup", created_by=user)
        sources = [SearchSource.objects.create(review=review, database=db, date_searched="2024-01-01")
                   for db in ("Embase", "PubMed")]
        summaries = [import_records(review=review, source=source, file_name=f"{source.database}.ris",
                                    content=ris(entries))
                     for source, entries in zip(sources, (first, second))]
        position: dict[int, tuple[int, int]] = {}
        for file_index, summary in enumerate(summaries):
            ids = Record.objects.filter(import_batch_id=summary.batch_id).order_by("id").values_list("id", flat=True)
            position.update({pk: (file_index, k) for k, pk in enumerate(ids)})  # COPY keeps file order in ids
        merged, queued, within_second = set(), set(), 0
        for pair in DuplicateCandidate.objects.filter(review=review).values_list("duplicate", "primary", "status"):
            a, b = position[pair[0]], position[pair[1]]
            if a[0] == b[0]:
                within_second += 1
                key = (-within_second, -1)  # pairs inside one file: none are true in this set, so all wrong
            else:
                (_, j), (_, i) = sorted((a, b), reverse=True)
                key = (j, i)
            (merged if pair[2] == CandidateStatus.MERGED else queued).add(key)
        transaction.set_rollback(True)

    base_doi: dict[str, int] = {}
    for i, e in enumerate(first):
        for tag, value in e.tags:
            if tag == "DO":
                base_doi.setdefault(normalise_doi(value), i)
    peer = {(j, base_doi[normalise_doi(v)]) for j, e in enumerate(second) for t, v in e.tags
            if t == "DO" and normalise_doi(v) in base_doi}

    auto, auto_q = scores(merged, mergeable), scores(merged | queued, same_work)
    peer_auto = scores(peer, mergeable)
    print(f"summaries: first {summaries[0].as_dict()['imported']} imported; second: imported "
          f"{summaries[1].imported}, merged {summaries[1].duplicates}, queued {summaries[1].queued}")
    print(f"{'':38} {'precision':>9} {'recall':>7} {'pairs':>6}")
    print(f"{'import dedup, automatic merges':38} {auto.precision:9.3f} {auto.recall:7.3f} {auto.pairs:6d}"
          "   (target precision >= 0.99)")
    print(f"{'import dedup, automatic + queued':38} {auto_q.precision:9.3f} {auto_q.recall:7.3f} {auto_q.pairs:6d}"
          "   (target recall >= 0.97; preprints count as found when queued)")
    print(f"{'peer: exact DOI only (merges)':38} {peer_auto.precision:9.3f} {peer_auto.recall:7.3f} {peer_auto.pairs:6d}")
    print(f"recall ratio automatic+queued / peer: {auto_q.recall / peer_auto.recall:.2f}x; "
          f"pairs inside one file (either import, all counted wrong): {within_second}")
    wrong = [second[j].kind if j >= 0 else "within one file" for j, _ in merged - mergeable]
    missed = [second[j].kind for j, _ in same_work - merged - queued]
    print(f"wrong automatic merges by kind: { {k: wrong.count(k) for k in set(wrong)} }; "
          f"missed by kind: { {k: missed.count(k) for k in set(missed)} }")


if __name__ == "__main__":
    main()
