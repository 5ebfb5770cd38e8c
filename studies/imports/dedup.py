"""Finding duplicates among new records and the records already in a review, without the database.

Three passes, most certain first (Bramer et al. 2016, "De-duplication of database search results
for systematic reviews in EndNote", JMLA 104:240 — identifiers, then title/year/author, then a
human look at the near misses):

1. the same identifier: DOI (normalised), PMID, or — cautiously — NCT id;
2. the same normalised title and year (and first author's surname where both have one);
3. fuzzy titles (rapidfuzz ``ratio``) over pairs blocked by the first and the last two title
   words and a year at most one apart: merged only when clearly identical, else queued.

A pair is never merged automatically when it carries evidence of being two works: different DOIs or
PMIDs, a preprint against a journal version, a shared DOI with unrelated titles (conference
supplements share one), a shared NCT id (a protocol and its results paper are different reports).
Such pairs go to the review queue instead.

Records already in the review always stay primary: screening done on them stays valid, and undoing
the new import never has to re-point older records. Among new records, the richest is primary.
"""
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
import re

import numpy
from rapidfuzz import process
from rapidfuzz.distance import Indel

from studies.imports.records import ParsedRecord
from studies.imports.text import surname_normalise, title_normalise

# Titles this similar (rapidfuzz ratio, 0–100) are shown to a person; at or above AUTO_RATIO with
# the same year, first author and no conflicting evidence they are merged. Tuned with bench/dedup.py.
QUEUE_RATIO = 85.0
AUTO_RATIO = 96.0
# A shared DOI/PMID with titles less similar than this is more likely a shared supplement DOI or a
# typing error than one work.
SAME_ID_MIN_RATIO = 60.0
MAX_BLOCK = 400
# Title pairs scored per rapidfuzz call: bounds the memory of the lists it is given.
PAIRS_PER_CALL = 500_000

PREPRINT_DOI_PREFIXES = ("10.1101/", "10.21203/", "10.31234/", "10.31219/", "10.2139/", "10.48550/",
                         "10.20944/", "10.22541/", "10.31235/", "10.1002/essoar")
PREPRINT_VENUES = ("medrxiv", "biorxiv", "psyarxiv", "arxiv", "research square", "ssrn", "preprints",
                   "osf preprints", "authorea", "socarxiv")


class Method:
    DOI = "doi"
    PMID = "pmid"
    NCT = "nct"
    TITLE_YEAR = "title_year"
    FUZZY = "fuzzy"


@dataclass(slots=True)
class DedupItem:
    """What matching needs of one record (new, or already in the review)."""

    title_norm: str
    year: int | None
    first_author: str
    doi: str
    pmid: str
    nct_id: str
    preprint: bool
    richness: int
    existing_id: int | None = None
    head: str = ""  # the first two words of ``title_norm``: a fuzzy-matching block
    tail: str = ""  # its last two words: the other block


def _richness(abstract: str, authors: Sequence[str], year, journal: str, volume: str, issue: str,
              pages: str, doi: str, pmid: str, keywords: Sequence[str]) -> int:
    # An abstract matters most to screeners; identifiers next (they let later imports match).
    return (4 * bool(abstract) + 2 * bool(doi) + 2 * bool(pmid) + bool(authors) + bool(year) + bool(journal)
            + bool(volume) + bool(issue) + bool(pages) + bool(keywords))


_PREPRINT_VENUE = re.compile("|".join(re.escape(name) for name in PREPRINT_VENUES))


def _preprint(doi: str, journal: str) -> bool:
    return doi.startswith(PREPRINT_DOI_PREFIXES) or (bool(journal) and bool(_PREPRINT_VENUE.search(journal.casefold())))


def item_from_values(title: str, abstract: str = "", authors: Sequence[str] = (), year: int | None = None,
                     journal: str = "", volume: str = "", issue: str = "", pages: str = "", doi: str = "",
                     pmid: str = "", nct_id: str = "", keywords: Sequence[str] = (),
                     existing_id: int | None = None) -> DedupItem:
    """The matching view of a record's fields (a ``ParsedRecord`` or a stored ``Record``)."""
    title_norm = title_normalise(title)  # words joined by single spaces
    doi = doi.lower()
    # Positional arguments: this runs once per record of a 100,000-record import.
    return DedupItem(
        title_norm, year, surname_normalise(authors[0]) if authors else "", doi, pmid, nct_id,
        _preprint(doi, journal),
        _richness(abstract, authors, year, journal, volume, issue, pages, doi, pmid, keywords),
        existing_id, " ".join(title_norm.split(" ", 2)[:2]), " ".join(title_norm.rsplit(" ", 2)[-2:]),
    )


def item_from_parsed(record: ParsedRecord) -> DedupItem:
    return item_from_values(
        record.title, record.abstract, record.authors, record.year, record.journal, record.volume, record.issue,
        record.pages, record.doi, record.pmid, record.nct_id, record.keywords)


@dataclass(frozen=True)
class Link:
    """Why two items were matched: ``duplicate`` will point at ``primary`` (indices into the items)."""

    duplicate: int
    primary: int
    method: str
    score: float
    reason: str


@dataclass(frozen=True)
class DedupPlan:
    """The outcome of matching: which new items are duplicates of what, and which pairs need a person.

    Indices refer to ``existing + new`` as passed to ``dedup_plan``.
    """

    merges: tuple[Link, ...]
    queued: tuple[Link, ...]
    primary_of: dict[int, int]


def title_ratio(a: DedupItem, b: DedupItem) -> float:
    return Indel.normalized_similarity(a.title_norm, b.title_norm) * 100.0


def _conflict(a: DedupItem, b: DedupItem) -> str:
    """Evidence that two records are different works (or versions): a reason to ask, not merge."""
    if a.doi and b.doi and a.doi != b.doi:
        if a.preprint != b.preprint:
            return "preprint and published version (different DOIs)"
        return f"different DOIs ({a.doi} vs {b.doi})"
    if a.pmid and b.pmid and a.pmid != b.pmid:
        return f"different PMIDs ({a.pmid} vs {b.pmid})"
    if a.preprint != b.preprint:
        return "preprint and published version"
    return ""


class _Clusters:
    """Union–find whose roots are existing records when a cluster has one (they stay primary)."""

    def __init__(self, items: Sequence[DedupItem]) -> None:
        self.parent = list(range(len(items)))
        self.items = items

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> bool:
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return False
        existing_i, existing_j = self.items[ri].existing_id is not None, self.items[rj].existing_id is not None
        if existing_i and existing_j:
            return False  # two records already in the review are never merged behind anyone's back
        if existing_j and not existing_i:
            ri, rj = rj, ri
        self.parent[rj] = ri
        return True


def _compared(members: Sequence[int], first_new: int) -> bool:
    """Whether a block's titles are compared: it pairs something new, and is not a title head so
    common that it identifies nothing (it would cost ``MAX_BLOCK``² comparisons)."""
    return 2 <= len(members) <= MAX_BLOCK and members[-1] >= first_new


def _similar_pairs(blocks: Iterable[tuple[str, Sequence[int]]], items: Sequence[DedupItem],
                   first_new: int) -> Iterator[tuple[str, int, int, float]]:
    """``(kind, later, earlier, similarity)`` of the pairs of each compared block whose titles are at
    least ``QUEUE_RATIO`` alike, in block order and, within a block, in (later, earlier) order.

    A pair is compared when its later item is new and its years are at most one apart (or one is
    unknown): online-first and print years differ by one, and further apart is another paper.
    Testing the years first spares most of a large block's string comparisons; the titles of the
    remaining pairs are compared by rapidfuzz in C, up to ``PAIRS_PER_CALL`` pairs a call.
    """
    titles = [item.title_norm for item in items]
    batch: list[tuple[str, numpy.ndarray, numpy.ndarray]] = []
    size = 0

    def scored() -> Iterator[tuple[str, int, int, float]]:
        if not batch:
            return
        later = [titles[k] for _, rows, _ in batch for k in rows.tolist()]
        earlier = [titles[k] for _, _, columns in batch for k in columns.tolist()]
        # Zero below the cutoff; float32, as rapidfuzz computes it.
        similar = process.cpdist(later, earlier, scorer=Indel.normalized_similarity,
                                 score_cutoff=QUEUE_RATIO / 100, workers=1)
        offset = 0
        for kind, rows, columns in batch:
            for pair in numpy.flatnonzero(similar[offset:offset + len(rows)]).tolist():
                yield kind, int(rows[pair]), int(columns[pair]), float(similar[offset + pair])
            offset += len(rows)

    for kind, members in blocks:
        if not _compared(members, first_new):
            continue
        block = numpy.asarray(members)
        years = numpy.fromiter((items[k].year or 0 for k in members), dtype=numpy.int32, count=len(members))
        unknown = years == 0
        near = numpy.abs(years[:, None] - years[None, :]) <= 1
        near |= unknown[:, None]
        near |= unknown[None, :]
        near[block < first_new] = False  # two existing records are never compared
        rows, columns = numpy.nonzero(numpy.tril(near, -1))
        batch.append((kind, block[rows], block[columns]))
        size += len(rows)
        if size >= PAIRS_PER_CALL:
            yield from scored()
            batch, size = [], 0
    yield from scored()


def dedup_plan(*, existing: Sequence[DedupItem], new: Sequence[DedupItem]) -> DedupPlan:
    """Match ``new`` records against each other and against ``existing`` primaries.

    Returns
    -------
    DedupPlan
        ``merges`` holds one link per new record that is a duplicate (pointing at the primary it
        joins), ``queued`` the pairs for a person, ``primary_of`` the primary of every merged item.
    """
    items: list[DedupItem] = [*existing, *new]
    first_new = len(existing)
    clusters = _Clusters(items)
    links: dict[int, Link] = {}  # the edge that brought each merged new item into its cluster
    queued: dict[tuple[int, int], Link] = {}

    def consider(i: int, j: int, method: str, score: float, reason: str) -> None:
        if clusters.find(i) == clusters.find(j):
            return
        pair = (min(i, j), max(i, j))
        conflict = _conflict(items[i], items[j])
        if method == Method.NCT and not conflict and score < 90.0:
            conflict = "same trial registration, perhaps different reports of one study"
        if method in (Method.DOI, Method.PMID) and not conflict and score < SAME_ID_MIN_RATIO:
            conflict = f"same {method.upper()} but different titles"
        if conflict:
            queued.setdefault(pair, Link(i, j, method, round(score, 1), f"{reason}; {conflict}"))
        elif clusters.union(i, j):
            links[i] = Link(i, j, method, round(score, 1), reason)
            queued.pop(pair, None)

    # Pass 1 and 2: identifiers, then title + year (+ first author); each item's keys in that order.
    first_with: dict[str, dict[object, int]] = {method: {} for method in
                                                (Method.DOI, Method.PMID, Method.NCT, Method.TITLE_YEAR)}

    def match(i: int, item: DedupItem, method: str, key: object, reason: str) -> None:
        j = first_with[method].setdefault(key, i)
        if j == i or i < first_new:
            return  # the first with this key; existing records are matched only against new ones
        other = items[j]
        if method == Method.TITLE_YEAR:
            if item.first_author and other.first_author and item.first_author != other.first_author:
                queued.setdefault((j, i), Link(i, j, method, 100.0, "same title and year; different first authors"))
            else:
                consider(i, j, method, 100.0, reason)
        else:
            consider(i, j, method, title_ratio(item, other), reason)

    for i, item in enumerate(items):
        if item.doi:
            match(i, item, Method.DOI, item.doi, "same DOI")
        if item.pmid:
            match(i, item, Method.PMID, item.pmid, "same PMID")
        if item.nct_id:
            match(i, item, Method.NCT, item.nct_id, "same NCT id")
        if item.title_norm and item.year:
            match(i, item, Method.TITLE_YEAR, (item.title_norm, item.year), "same title and year")

    # Pass 3: fuzzy titles over blocked pairs.
    heads: dict[str, list[int]] = defaultdict(list)
    tails: dict[str, list[int]] = defaultdict(list)
    find = clusters.find
    for i, item in enumerate(items):
        if not item.head or (i >= first_new and find(i) != i):
            continue  # no title, or already merged: its primary stands for it
        heads[item.head].append(i)
        tails[item.tail].append(i)
    # Heads first: a pair sharing both its head and its tail was compared in its head block already.
    compared_heads = {key for key, members in heads.items() if _compared(members, first_new)}
    blocks = [*(("head", members) for members in heads.values()), *(("tail", members) for members in tails.values())]
    for kind, i, j, similarity in _similar_pairs(blocks, items, first_new):
        a, b = items[i], items[j]
        if kind == "tail" and a.head == b.head and a.head in compared_heads:
            continue
        score = similarity * 100.0
        clearly_same = (score >= AUTO_RATIO and a.year == b.year and a.year is not None
                        and a.first_author and a.first_author == b.first_author)
        if clearly_same:
            consider(i, j, Method.FUZZY, score, f"titles {score:.0f}% alike, same year and first author")
        elif clusters.find(i) != clusters.find(j):
            reason = f"titles {score:.0f}% alike"
            conflict = _conflict(a, b)
            queued.setdefault((j, i), Link(i, j, Method.FUZZY, round(score, 1),
                                           f"{reason}; {conflict}" if conflict else reason))
    # Primaries: the existing root, else the richest new member (earliest on ties).
    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(first_new, len(items)):
        members_of[clusters.find(i)].append(i)
    primary_of: dict[int, int] = {}
    merges: list[Link] = []
    for root, members in members_of.items():
        cluster = members if items[root].existing_id is None else [root, *members]
        if len(cluster) < 2:
            continue
        primary = root if items[root].existing_id is not None else \
            max(cluster, key=lambda k: (items[k].richness, -k))
        for k in cluster:
            if k == primary:
                continue
            primary_of[k] = primary
            link = links.get(k) or next(links[m] for m in cluster if m in links)
            merges.append(Link(k, primary, link.method, link.score, link.reason))
    # Queue only pairs whose records are still apart after merging.
    pending = tuple(link for link in queued.values()
                    if clusters.find(link.duplicate) != clusters.find(link.primary))
    return DedupPlan(merges=tuple(merges), queued=pending, primary_of=primary_of)
