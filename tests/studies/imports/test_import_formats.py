"""Every export format, as the databases write it: parsed, imported, and every field kept."""
from pathlib import Path

import pytest

from studies.imports import ImportFileError, file_parse
from studies.imports.errors import WarningKind
from studies.models import ImportBatch, Record, SearchSource
from studies.services.imports import import_records

FIXTURES = Path(__file__).parent / "fixtures"
RUSCH_TITLE = "Peer-led group intervention to reduce self-stigma in people with serious mental illness"


@pytest.mark.parametrize(("name", "file_format"), [
    ("embase_ovid.ris", "ris"), ("pubmed.ris", "ris"), ("pubmed.nbib", "medline"), ("zotero.bib", "bibtex"),
    ("scopus.csv", "csv"), ("endnote.xml", "endnote_xml"), ("wos.txt", "wos"),
])
def test_every_format_is_detected_and_its_first_record_read(name, file_format):
    parsed = file_parse(content=(FIXTURES / name).read_bytes())
    assert parsed.file_format == file_format
    first = parsed.records[0]
    assert first.title.startswith(RUSCH_TITLE)
    assert first.year == 2014
    assert first.volume == "204" and first.issue == "5"
    assert first.pages in ("391-397", "391-7")
    assert first.authors[0].startswith(("Rüsch", "Rusch"))
    assert len(parsed.records) == 2
    if name != "embase_ovid.ris":
        assert first.doi == "10.1192/bjp.bp.113.135772"


def test_ovid_quirks_crlf_repeated_a1_link_lines_and_doi_url():
    parsed = file_parse(content=(FIXTURES / "embase_ovid.ris").read_bytes())
    first = parsed.records[0]
    assert first.authors == ("Rüsch, N.", "Abbruzzese, E.", "Hagedorn, E.")
    assert first.doi == "10.1192/bjp.bp.113.135772"  # resolver prefix and upper case removed
    assert first.nct_id == "NCT01234567"  # from the abstract's trial registration
    assert first.abstract.endswith("NCT01234567.")  # the wrapped N2 line joined
    assert first.pmid == ""  # Embase's accession number is not a PMID
    assert first.url.startswith("http://ovidsp.ovid.com/")
    assert parsed.records[1].line == 29


def test_medline_continuation_lines_doi_and_nct():
    first = file_parse(content=(FIXTURES / "pubmed.nbib").read_bytes()).records[0]
    assert first.title.endswith("serious mental illness: a randomised controlled trial.")
    assert first.pmid == "24311552"
    assert first.nct_id == "NCT01234567"
    assert first.publication_type == "Journal Article; Randomized Controlled Trial"


def test_csv_keeps_multiline_cells_and_maps_columns():
    parsed = file_parse(content=(FIXTURES / "scopus.csv").read_bytes())
    assert parsed.records[0].abstract == "Self-stigma is common. A second paragraph, with a comma."
    assert parsed.records[1].line == 4
    renamed = b"Headline;Yr\nA trial of peers;2020\n"
    records = file_parse(content=renamed, file_format="csv", column_mapping={"title": "Headline", "year": "Yr"}).records
    assert (records[0].title, records[0].year) == ("A trial of peers", 2020)


def test_latin1_file_is_read_as_windows_1252_with_a_warning():
    content = "TY  - JOUR\nTI  - Stigma in Zürich\nER  - \n".encode("latin-1")
    parsed = file_parse(content=content)
    assert parsed.encoding == "windows-1252"
    assert parsed.records[0].title == "Stigma in Zürich"
    assert "Windows-1252" in parsed.warnings[0]


def test_round_trip_of_every_record_field(small):
    source = SearchSource.objects.create(review=small.review, database="PubMed", date_searched="2024-01-02")
    content = (FIXTURES / "pubmed.nbib").read_bytes()
    summary = import_records(review=small.review, source=source, file_name="pubmed.nbib", content=content)
    assert (summary.imported, summary.duplicates, summary.queued) == (2, 0, 0)
    record = Record.objects.get(review=small.review, pmid="24311552")
    expected = file_parse(content=content).records[0]
    for field in ("title", "abstract", "year", "journal", "volume", "issue", "pages", "doi", "pmid", "nct_id",
                  "language", "publication_type", "url", "raw_entry"):
        assert getattr(record, field) == getattr(expected, field), field
    assert record.authors == list(expected.authors) and record.keywords == list(expected.keywords)
    assert record.raw_entry.startswith("PMID- 24311552\n") and "[doi]" in record.raw_entry
    assert record.import_batch.source == source and record.import_batch.file_format == "medline"


@pytest.mark.parametrize(("content", "record", "line", "field", "kind"), [
    (b"TY  - JOUR\nTI  - Fine\nER  - \n\nTY  - JOUR\nTI  - Second\nDO  - not-a-doi\nER  - \n", 2, 5, "doi",
     WarningKind.DOI_NOT_A_DOI),
    (b"TY  - JOUR\nTI  - Fine\nER  - \n\nTY  - JOUR\nAU  - No title\nER  - \n", 2, 5, "title",
     WarningKind.TITLE_MISSING),
    (b"TY  - JOUR\nTI  - Fine\nPY  - 1492\nER  - \n", 1, 1, "year", WarningKind.YEAR_OUT_OF_RANGE),
    (b"TY  - JOUR\nTI  - Fine\nPM  - PMID: 12x\nER  - \n", 1, 1, "pmid",
     WarningKind.PMID_INVALID),
    (b"TY  - JOUR\nTI  - Fine\nUR  - http://exa mple.org\nUR  - https://not valid\nER  - \n", 1, 1, "url",
     WarningKind.URL_INVALID),
])
def test_a_quirk_in_one_record_is_a_warning_stored_with_it(small, content, record, line, field, kind):
    source = SearchSource.objects.create(review=small.review, database="Embase", date_searched="2024-01-02")
    summary = import_records(review=small.review, source=source, file_name="quirk.ris", content=content)
    assert summary.imported == content.count(b"ER  -")
    (warning,) = summary.record_warnings
    assert (warning.record, warning.line, warning.field, warning.kind) == (record, line, field, kind)
    assert str(warning) in summary.warnings and summary.records_with_warnings == 1
    assert summary.warning_counts() == {kind: 1}
    stored = list(Record.objects.filter(import_batch_id=summary.batch_id).order_by("id"))
    assert stored[record - 1].import_warnings == [warning.as_dict()]
    assert all(r.import_warnings == [] for i, r in enumerate(stored) if i != record - 1)
    assert getattr(stored[record - 1], field) in ("", None)  # left out of the field…
    assert stored[record - 1].raw_entry.encode() in content  # …and kept in the raw entry
    assert summary.as_dict()["record_warnings"] == [{"record": record, **warning.as_dict()}]


@pytest.mark.parametrize(("content", "field"), [
    (b"Dear colleague,\nthe search results follow.\n", "format"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "encoding"),
    (b"Title;Year\n", "header"),
])
def test_a_file_that_is_no_export_writes_nothing_and_says_why(small, content, field):
    source = SearchSource.objects.create(review=small.review, database="Embase", date_searched="2024-01-02")
    before = Record.objects.count()
    with pytest.raises(ImportFileError) as caught:
        import_records(review=small.review, source=source, file_name="bad.ris", content=content)
    assert caught.value.field == field or (field == "header" and "no records" in caught.value.message)
    assert Record.objects.count() == before
    assert not ImportBatch.objects.filter(review=small.review).exists()


def test_same_file_twice_is_recognised(small):
    source = SearchSource.objects.create(review=small.review, database="Scopus", date_searched="2024-01-02")
    content = (FIXTURES / "scopus.csv").read_bytes()
    import_records(review=small.review, source=source, file_name="scopus.csv", content=content)
    again = import_records(review=small.review, source=source, file_name="renamed.csv", content=content)
    assert again.already_imported and again.imported == 0
    assert Record.objects.filter(review=small.review).count() == 2


def test_many_warnings_are_all_kept_and_the_text_list_stays_short(small):
    source = SearchSource.objects.create(review=small.review, database="Embase", date_searched="2024-01-02")
    content = b"".join(b"TY  - JOUR\nTI  - Record %d\nDO  - n/a\nER  - \n\n" % k for k in range(120))
    summary = import_records(review=small.review, source=source, file_name="many.ris", content=content)
    assert summary.imported == 120 and len(summary.record_warnings) == 120 and summary.records_with_warnings == 120
    assert summary.warning_counts() == {WarningKind.DOI_NOT_A_DOI: 120}
    assert len(summary.warnings) == 51 and summary.warnings[-1].startswith("… and 70 more warnings (120 on 120 records")
    assert Record.objects.filter(import_batch_id=summary.batch_id).exclude(import_warnings=[]).count() == 120
