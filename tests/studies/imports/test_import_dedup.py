"""Deduplication against everything already in the review, and the decisions about it."""
import random

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from studies.imports import ImportFileError, dedup, file_parse
from studies.imports.dedup import dedup_plan, item_from_values
from studies.models import CandidateStatus, DuplicateCandidate, Record, ScreeningDecision, SearchSource, Stage
from studies.services.imports import (
    ImportUndoRefused,
    duplicate_keep_both,
    duplicate_merge,
    duplicate_unmerge,
    import_records,
    import_undo,
)


def ris(*entries: dict) -> bytes:
    lines = []
    for entry in entries:
        lines.append("TY  - JOUR")
        for tag, value in entry.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{tag}  - {item}")
        lines.append("ER  - ")
        lines.append("")
    return "\n".join(lines).encode()


def run(small, *entries: dict, database: str = "Embase"):
    source, _ = SearchSource.objects.get_or_create(review=small.review, database=database, date_searched="2024-01-02")
    return import_records(review=small.review, source=source, file_name=f"{database}.ris", content=ris(*entries))


def primaries(small) -> list[Record]:
    return list(Record.objects.filter(review=small.review, duplicate_of__isnull=True))


TRIAL = {"TI": "Peer support to reduce self-stigma: a randomised trial", "AU": ["Rüsch, N.", "Doe, A."], "PY": "2014",
         "JO": "Br J Psychiatry"}


def test_same_doi_with_different_case_and_resolver_is_merged_into_the_existing_record(small):
    run(small, {**TRIAL, "DO": "10.1192/bjp.bp.113.135772"})
    summary = run(small, {**TRIAL, "TI": "Peer support to reduce self stigma", "DO": "https://doi.org/10.1192/BJP.BP.113.135772",
                          "AB": "richer"}, database="PubMed")
    assert (summary.imported, summary.duplicates, summary.queued) == (1, 1, 0)
    [primary] = primaries(small)
    assert primary.import_batch.source.database == "Embase"  # the record already in the review stays primary
    pair = DuplicateCandidate.objects.get(review=small.review)
    assert (pair.method, pair.status, pair.automatic) == ("doi", CandidateStatus.MERGED, True)


def test_title_with_html_entities_and_punctuation_and_missing_doi_matches_on_title_and_year(small):
    run(small, {**TRIAL, "TI": "Stigma & disclosure: the HOP programme", "DO": "10.1000/hop.1"})
    summary = run(small, {**TRIAL, "TI": "Stigma &amp; disclosure - the HOP programme."}, database="PsycInfo")
    assert summary.duplicates == 1 and len(primaries(small)) == 1
    assert DuplicateCandidate.objects.get(review=small.review).method == "title_year"


def test_preprint_and_published_version_are_queued_not_merged(small):
    summary = run(small, {**TRIAL, "DO": "10.1101/2013.05.01.123456", "JO": "medRxiv", "PY": "2014"},
                  {**TRIAL, "DO": "10.1192/bjp.bp.113.135772"})
    assert (summary.duplicates, summary.queued) == (0, 1)
    pair = DuplicateCandidate.objects.get(review=small.review)
    assert pair.status == CandidateStatus.PENDING and "preprint" in pair.reason
    assert len(primaries(small)) == 2


def test_same_title_in_different_years_are_different_papers(small):
    summary = run(small, {"TI": "Annual update on stigma research", "PY": "2015", "AU": "Smith, J."},
                  {"TI": "Annual update on stigma research", "PY": "2019", "AU": "Smith, J."})
    assert (summary.duplicates, summary.queued) == (0, 0)


def test_richest_new_record_becomes_primary_within_an_import(small):
    run(small, {**TRIAL}, {**TRIAL, "AB": "An abstract.", "DO": "10.1000/x.y"})
    [primary] = primaries(small)
    assert primary.abstract == "An abstract."


def test_fuzzy_near_miss_goes_to_the_queue_and_a_person_decides(small):
    run(small, {**TRIAL})
    summary = run(small, {**TRIAL, "TI": "Peer support to reduce self-stigma: a randomized trial", "AU": "Other, B."},
                  database="PubMed")
    assert summary.queued == 1
    pair = DuplicateCandidate.objects.get(review=small.review, status=CandidateStatus.PENDING)
    merged = duplicate_merge(candidate=pair, user=small.manager)
    assert merged.status == CandidateStatus.MERGED and len(primaries(small)) == 1
    unmerged = duplicate_unmerge(candidate=merged, user=small.manager)
    assert unmerged.status == CandidateStatus.UNMERGED and len(primaries(small)) == 2
    kept = duplicate_keep_both(candidate=unmerged, user=small.manager)
    assert kept.status == CandidateStatus.KEPT_BOTH and kept.decided_by == small.manager


def test_automatic_merge_can_be_undone(small):
    run(small, {**TRIAL, "DO": "10.1000/a.b"}, {**TRIAL, "DO": "10.1000/A.B"})
    pair = DuplicateCandidate.objects.get(review=small.review)
    duplicate_unmerge(candidate=pair, user=small.manager)
    assert len(primaries(small)) == 2


def test_undo_removes_the_batch_until_a_record_is_screened(small):
    first = run(small, {**TRIAL, "DO": "10.1000/a.b"})
    second = run(small, {**TRIAL, "DO": "10.1000/a.b", "AB": "Abstract."}, database="PubMed")
    assert second.duplicates == 1
    batch = Record.objects.get(import_batch_id=first.batch_id).import_batch
    # Undoing the first import leaves the later duplicate as a record of its own.
    assert import_undo(batch=batch, user=small.manager) == 1
    [left] = primaries(small)
    assert left.import_batch_id == second.batch_id
    ScreeningDecision.objects.create(record=left, stage=Stage.TITLE_ABSTRACT, screener=small.manager, decision="include")
    with pytest.raises(ImportUndoRefused, match="screening decisions"):
        import_undo(batch=left.import_batch, user=small.manager)
    assert Record.objects.filter(pk=left.pk).exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(["TY  - JOUR", "TI  - A title", "ER  - ", "PY  - 20x1", "DO  - 10.1/x", "AU  - Smith",
                              "PMID- 12", "TI  - x", "      cont", "PT J", "ER", "@article{k,", "title={T}}", "",
                              "<xml><records><record><titles><title>T</title></titles></record></records></xml>",
                              "Title,Year", "\"T\",2020", "KW  - k", "%0 Journal Article", "%T A title", "%A Smith",
                              "1.", "<2>", "TY - JOUR", "ER -", "Link to the Ovid Full Text or citation:", "stray"]),
             max_size=12).map(lambda l: "\n".join(l).encode()),
))
def test_any_input_either_imports_or_raises_the_import_error(small, content):
    source, _ = SearchSource.objects.get_or_create(review=small.review, database="Fuzz", date_searched="2024-01-02")
    before = Record.objects.count()
    try:
        parsed = file_parse(content=content)
    except ImportFileError:
        parsed = None
    try:
        summary = import_records(review=small.review, source=source, file_name="f", content=content)
    except ImportFileError:
        assert Record.objects.count() == before
        return
    assert parsed is not None
    assert summary.already_imported or Record.objects.count() == before + summary.imported == before + len(parsed.records)


def test_fuzzy_titles_are_compared_only_when_their_years_are_at_most_one_apart():
    title = "Peer support groups reduce self stigma among adults with serious mental illness"
    typo = title.replace("among", "amongst")  # 96.6% alike: merged only with the same year and first author
    existing = [item_from_values(title=title, year=2020, authors=["Doe, A."], existing_id=1),
                item_from_values(title=typo, year=2019, authors=["Roe, B."], existing_id=2)]
    new = [item_from_values(title=typo, year=2021, authors=["Doe, A."]),   # 2: one year after record 0
           item_from_values(title=typo, year=2023, authors=["Doe, A."]),   # 3: two years after 2, three after 0
           item_from_values(title=typo, authors=["Poe, C."]),               # 4: no year, compared with all
           item_from_values(title=title, year=2020, authors=["Doe, A."])]  # 5: same title and year as 0
    plan = dedup_plan(existing=existing, new=new)
    # Not paired: 2 with 1 (same title, two years apart), 3 with 0, 1 or 2 (two or more years apart).
    assert sorted((link.duplicate, link.primary) for link in plan.queued) == [(2, 0), (4, 0), (4, 1), (4, 2), (4, 3)]
    assert all(link.method == "fuzzy" for link in plan.queued)
    assert plan.primary_of == {5: 0}


def test_the_fuzzy_plan_does_not_depend_on_how_many_pairs_are_scored_per_call(monkeypatch):
    rng = random.Random(3)
    words = "peer support stigma recovery trial mental illness group contact education".split()
    heads = ["effects of", "a randomised", "peer support"]
    items = []
    for k in range(300):
        title = f"{rng.choice(heads)} {' '.join(rng.choice(words) for _ in range(6))}"
        if k and rng.random() < 0.4:  # a near copy of an earlier title: one word changed
            earlier = items[rng.randrange(k)][0].split()
            earlier[rng.randrange(2, len(earlier))] = rng.choice(words)
            title = " ".join(earlier)
        items.append((title, rng.choice([None, 2019, 2020, 2021, 2023])))
    records = [item_from_values(title=title, year=year, authors=[rng.choice(["Doe, A.", "Roe, B."])],
                                existing_id=k if k < 100 else None) for k, (title, year) in enumerate(items)]
    whole = dedup_plan(existing=records[:100], new=records[100:])
    monkeypatch.setattr(dedup, "PAIRS_PER_CALL", 1)
    piecewise = dedup_plan(existing=records[:100], new=records[100:])
    assert whole.queued and whole.merges  # the case is not empty
    assert (piecewise.merges, piecewise.queued, piecewise.primary_of) == (whole.merges, whole.queued, whole.primary_of)
