"""The layouts and encodings exporters actually write, each read whole: every record kept, its fields
where the format puts them, and a warning for what had to be passed over (issue 19 item 2)."""
import logging
from pathlib import Path

import pytest

from studies.imports import file_parse
from studies.imports.errors import WarningKind
from studies.imports.records import doi_normalise, text_from_markup

FIXTURES = Path(__file__).parent / "fixtures"
RUSCH_TITLE = "Peer-led group intervention to reduce self-stigma in people with serious mental illness"
RUSCH_DOI = "10.1192/bjp.bp.113.135772"


def kinds(record) -> list[str]:
    return [warning.kind for warning in record.warnings]


def test_ovid_numbered_records_with_link_lines_and_a_number_before_ty():
    parsed = file_parse(content=(FIXTURES / "ovid_numbered.ris").read_bytes())
    assert parsed.file_format == "ris"
    first, second, third = parsed.records
    assert (first.title, first.doi, first.pmid) == (RUSCH_TITLE, RUSCH_DOI, "24311552")  # Ovid MEDLINE: AN is the PMID
    assert first.authors == ("Rüsch, N.", "Abbruzzese, E.") and first.pages == "391-397"
    assert second.pmid == "" and second.keywords == ("peer support",)  # Embase's AN is not a PMID
    assert (second.record, second.line) == (2, 28)
    # Record numbers, the full-text link and the search header are decoration: no warnings for them.
    assert kinds(first) == kinds(second) == []
    # "3. TY  - CHAP" is a record too; its title is the book's, with a warning.
    assert third.title == "Challenging the stigma of mental illness" and third.year == 2011
    assert kinds(third) == [WarningKind.TITLE_FROM_OTHER_FIELD]
    assert third.raw_entry.startswith("TY  - CHAP") and third.raw_entry.endswith("ER  - ")


def test_ris_with_one_space_before_the_hyphen_and_indented_tags():
    content = b"TY - JOUR\nTI - First title\nPY - 2020\nER -\n\n  TY  - JOUR\n  TI  - Second title\n  ER  - \n"
    first, second = file_parse(content=content).records
    assert (first.title, first.year, second.title) == ("First title", 2020, "Second title")
    assert not first.warnings and not second.warnings


def test_ris_record_without_er_ends_where_the_next_begins_and_stray_text_is_named():
    content = (b"TY  - JOUR\nTI  - Never closed\nTY  - JOUR\nTI  - Second\nER  - \n"
               b"Exported by a tool that writes notes\nTY  - JOUR\nTI  - Third\n")
    first, second, third = file_parse(content=content).records
    assert (first.title, second.title, third.title) == ("Never closed", "Second", "Third")
    assert kinds(first) == [WarningKind.RECORD_NOT_CLOSED] and first.raw_entry == "TY  - JOUR\nTI  - Never closed"
    assert kinds(second) == [WarningKind.TEXT_OUTSIDE_RECORD] and second.warnings[0].line == 6
    assert "writes notes" in second.warnings[0].message
    assert kinds(third) == [WarningKind.RECORD_NOT_CLOSED] and third.line == 7


def test_endnote_tagged_text():
    parsed = file_parse(content=(FIXTURES / "endnote_tagged.txt").read_bytes())
    assert parsed.file_format == "refer"
    article, section, book = parsed.records
    assert (article.title, article.journal, article.volume, article.issue, article.pages) == (
        RUSCH_TITLE, "British Journal of Psychiatry", "204", "5", "391-397")
    assert article.authors == ("Rüsch, Nicolas", "Abbruzzese, Elvira")
    assert (article.doi, article.pmid, article.nct_id, article.year) == (RUSCH_DOI, "24311552", "NCT01234567", 2014)
    assert article.keywords == ("peer support", "self-stigma")  # one keyword a line under one %K
    assert article.abstract == "Self-stigma is common among people with mental illness. Trial registration NCT01234567."
    assert article.publication_type == "Journal Article" and article.language == "English"
    # A book section's %B is the book it is in; with no %T there is no title, and the screener is told.
    assert (section.title, section.journal, section.year) == ("", "Challenging the stigma of mental illness", 2011)
    assert kinds(section) == [WarningKind.TITLE_MISSING]
    # A second %0 starts a record even without a blank line; the short title stands in for the title.
    assert (book.title, book.line) == ("Stigma in short", 26) and kinds(book) == [WarningKind.TITLE_FROM_OTHER_FIELD]


def test_medline_continuation_lines_of_any_field_and_an_unrecognised_line():
    content = (b"PMID- 1\nTI  - A title wrapped\n      over two lines\nFAU - Smith,\n      John\nOT  - peer\n"
               b"      support\nstray line from an editor\nDP  - 2020\n\n\n\nPMID- 2\nTI  - Second\n")
    first, second = file_parse(content=content).records
    assert first.title == "A title wrapped over two lines" and first.authors == ("Smith, John",)
    assert first.keywords == ("peer support stray line from an editor",)
    assert first.year == 2020 and kinds(first) == [WarningKind.LINE_UNRECOGNISED]
    assert first.warnings[0].line == 8 and "stray line" in first.raw_entry
    assert (second.record, second.line, second.pmid) == (2, 13, "2")


def test_web_of_science_record_cut_short_and_text_between_records():
    content = b"FN Clarivate\nVR 1.0\nPT J\nTI First\nER\n\nSaved on 2024-03-01\nPT J\nTI Second\nPY 2020\n"
    first, second = file_parse(content=content).records
    assert (first.title, second.title, second.year) == ("First", "Second", 2020)
    assert kinds(second) == [WarningKind.TEXT_OUTSIDE_RECORD, WarningKind.RECORD_NOT_CLOSED]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "windows-1252", "mac-roman"])
def test_encodings_exporters_write(encoding):
    text = "TY  - JOUR\nTI  - Stigma in Zürich: “peer” support — don’t wait… for São Paulo\nAU  - Müller, Anaïs\nER  - \n"
    parsed = file_parse(content=text.encode(encoding))
    (record,) = parsed.records
    assert record.title == "Stigma in Zürich: “peer” support — don’t wait… for São Paulo"
    assert record.authors == ("Müller, Anaïs",)
    assert parsed.encoding == {"utf-16-le": "utf-16", "utf-16-be": "utf-16", "utf-8-sig": "utf-8"}.get(encoding, encoding)
    assert bool(parsed.warnings) == (encoding in ("windows-1252", "mac-roman"))  # a guess is said to be one


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_line_ends_of_windows_old_macs_and_unix(newline):
    content = newline.join([b"TY  - JOUR", b"TI  - First", b"ER  - ", b"", b"", b"TY  - JOUR", b"TI  - Second",
                            b"ER  - ", b""])
    first, second = file_parse(content=content).records
    assert (first.title, second.title, second.line) == ("First", "Second", 6)


def test_covidence_csv():
    parsed = file_parse(content=(FIXTURES / "covidence.csv").read_bytes())
    first, second = parsed.records
    assert (first.title, first.year, first.journal, first.issue, first.pages) == (
        RUSCH_TITLE, 2014, "British Journal of Psychiatry", "5 May", "391-397")
    assert first.authors == ("Rüsch, N.", "Abbruzzese, E.", "Hagedorn, E.") and first.doi == RUSCH_DOI
    assert first.abstract == 'Self-stigma is common. "Honest, Open, Proud" was tested.'
    assert (second.title, second.doi) == ("", "10.1111/eip.13001") and kinds(second) == [WarningKind.TITLE_MISSING]


def test_rayyan_csv():
    first, second = file_parse(content=(FIXTURES / "rayyan.csv").read_bytes()).records
    assert first.title == RUSCH_TITLE and first.authors == ("Rüsch, N.", "Abbruzzese, E.", "Hagedorn, E.")
    # Rayyan keeps RIS leftovers in its cells: the DOI and the link are read out of them.
    assert (first.doi, first.pmid, first.year) == (RUSCH_DOI, "24311552", 2014)
    assert first.url == "https://www.embase.com/search/results?subaction=viewrecord&id=L372&from=export"
    assert first.keywords == ("self stigma", "peer support", "mental illness") and first.language == "English"
    assert second.doi == "" and kinds(second) == [WarningKind.DOI_NOT_A_DOI]
    assert "'not available'" in second.warnings[0].message and second.warnings[0].line == 3


def test_zotero_csv():
    first, second = file_parse(content=(FIXTURES / "zotero.csv").read_bytes()).records
    assert (first.title, first.journal, first.year, first.volume, first.issue, first.pages) == (
        RUSCH_TITLE, "British Journal of Psychiatry", 2014, "204", "5", "391-397")
    assert first.authors == ("Rüsch, Nicolas", "Abbruzzese, Elvira") and first.doi == RUSCH_DOI
    assert first.keywords == ("peer support", "self-stigma") and first.publication_type == "journalArticle"
    assert (second.title, second.publication_type) == ("Stigma chapter", "bookSection")
    assert kinds(second) == [WarningKind.TITLE_FROM_OTHER_FIELD] and "short title" in second.warnings[0].message


@pytest.mark.parametrize(("value", "doi"), [
    ("10.1371/journal.pone.0129675", "10.1371/journal.pone.0129675"),
    ("http://dx.doi.org/10.1371%2Fjournal.pone.0129675", "10.1371/journal.pone.0129675"),
    ("https://doi.org/10.1192/BJP.BP.113.135772", "10.1192/bjp.bp.113.135772"),
    ("https://www.doi.org/10.1000/x.", "10.1000/x"),
    ("doi:10.1016/S0140-6736(93)90001-X", "10.1016/s0140-6736(93)90001-x"),
    ("(doi: 10.1000/abc).", "10.1000/abc"),
    ("10.1000/abc [doi]", "10.1000/abc"),
    ("DOI 10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E", "10.1002/(sici)1097-0258(19980430)17:8<857::aid-sim777>3.0.co;2-e"),
    ("<br />", ""), ("20\\rArtn 20", ""), ("10.1000/" + "x" * 300, ""),
])
def test_dois_in_the_forms_exports_write_them(value, doi):
    assert doi_normalise(value) == doi


@pytest.mark.parametrize(("text", "expected"), [
    ("<jats:title>Abstract</jats:title><jats:p>Firefighters are impacted.</jats:p>", " Abstract  Firefighters are impacted. "),
    ("Effects in <i>Pinus</i> stands; p < 0.05 and p<0.01", "Effects in Pinus stands; p < 0.05 and p<0.01"),
    ("Self-stigma &amp; disclosure", "Self-stigma & disclosure"), ("R&D budgets", "R&D budgets"),
    ("PM<sub>2<middle dot>5</sub> from <a href=\"x\">fires</a><br/>", "PM2\u00b75 from fires "),
])
def test_markup_in_titles_and_abstracts_becomes_text(text, expected):
    assert text_from_markup(text) == expected


def test_lens_jats_abstract_is_stored_as_text():
    content = (b"TY  - JOUR\nTI  - Firefighters and <i>climate</i>\nAB  - <jats:p>Firefighters are severely "
               b"impacted.</jats:p><jats:p>Second paragraph.</jats:p>\nER  - \n")
    (record,) = file_parse(content=content).records
    assert record.title == "Firefighters and climate"
    assert record.abstract == "Firefighters are severely impacted. Second paragraph."
    assert "<jats:p>" in record.raw_entry


def test_bibtex_entry_that_does_not_parse_is_kept_without_fields():
    content = (b"@article{a, title={One}, year={2020}}\n\n@article{b, title={Two, year=2020\n\n"
               b"@article{c, title={Three}}\n@article{c, title={Three again}}\n")
    records = file_parse(content=content).records
    assert [record.title for record in records] == ["One", "", "Three", "Three again"]
    assert kinds(records[1]) == [WarningKind.ENTRY_UNREADABLE, WarningKind.TITLE_MISSING]
    assert records[1].raw_entry.startswith("@article{b, title={Two") and records[1].line == 3
    assert [record.record for record in records] == [1, 2, 3, 4] and not records[3].warnings


def test_bibtexparsers_own_log_of_an_unreadable_entry_stays_out_of_the_worker_log(caplog):
    """The warning above names the entry to the person importing; bibtexparser's log lines about
    it (with the entry's text) would only repeat it in the worker's log (settings.LOGGING)."""
    caplog.set_level(logging.INFO)  # the root level: only the bibtexparser logger's own level keeps them out
    file_parse(content=b"@article{b, title={Two, year=2020\n\n@article{c, title={Three}}\n")
    assert not [r for r in caplog.records if r.name.startswith("bibtexparser")]
    logging.getLogger("bibtexparser.splitter").error("still shown")
    assert [r.getMessage() for r in caplog.records] == ["still shown"]


def test_a_damaged_utf16_export_keeps_its_records():
    """A lone surrogate in the middle of a UTF-16 export and an odd byte at its end: every record is
    read, the unreadable characters shown as U+FFFD and named in a warning (the file was refused whole)."""
    records = "".join(f"TY  - JOUR\nTI  - Peer support {n}\nAU  - Müller, Anaïs\nER  - \n\n" for n in range(1, 4))
    content = records.encode("utf-16")
    broken = content.index("Peer support 2".encode("utf-16-le"))
    damaged = content[:broken] + b"\x00\xd8" + content[broken + 2:] + b"\x00"  # U+D800 for the "P", one byte more
    parsed = file_parse(content=damaged)
    assert [r.title for r in parsed.records] == ["Peer support 1", "\ufffdeer support 2", "Peer support 3"]
    assert parsed.encoding == "utf-16"
    (warning,) = parsed.warnings
    assert "unreadable bytes" in warning and "line 7" in warning


def test_a_nul_in_a_small_export_and_a_zeroed_block_in_a_large_one():
    """One stray NUL in a one-record file is removed (two or more in so short a file is a binary
    file); a zeroed block is removed too, and the warning says where the file looks damaged."""
    parsed = file_parse(content=b"TY  - JOUR\nTI  - Peer\x00 support\nER  - \n")
    assert [r.title for r in parsed.records] == ["Peer support"] and "1 NUL character" in parsed.warnings[0]
    records = "".join(f"TY  - JOUR\nTI  - Record {n}\nAB  - {'words ' * 40}\nER  - \n\n" for n in range(1, 40))
    content = records.encode()
    at = content.index(b"Record 30")
    parsed = file_parse(content=content[:at] + b"\x00" * 512 + content[at:])
    assert len(parsed.records) == 39 and parsed.records[29].title == "Record 30"
    (warning,) = parsed.warnings
    assert "512 NUL characters" in warning and "looks like a damaged part of the file" in warning
    assert f"line {records[:records.index('Record 30')].count(chr(10)) + 1}" in warning
