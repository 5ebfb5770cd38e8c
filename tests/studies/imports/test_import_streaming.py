"""The fast paths of an import give what the plain rules give: records stored as the file is read,
in file order, and nothing stored when a record far into the file is bad."""
from dataclasses import replace

from django.db import DatabaseError, connection, transaction
from hypothesis import given, settings, strategies as st
import psycopg
import pytest

from studies.imports import ImportFileError, file_parse, ris
from studies.imports.records import _squash
from studies.imports.text import _NON_WORD, title_normalise
from studies.models import DuplicateCandidate, ImportBatch, Record, SearchSource
from studies.services import imports
from studies.services.imports import import_records
from tests.shared_data import SHARED_DATA

imports_file_open = imports.file_open


def ris_file(count: int) -> bytes:
    lines = []
    for k in range(1, count + 1):
        lines += ["TY  - JOUR", f"TI  - Streamed record number {k} of a long export", f"PY  - {1990 + k % 30}",
                  f"DO  - 10.1000/stream.{k}", "AU  - Smith, J.", "ER  - ", ""]
    return "\n".join(lines).encode()


@pytest.fixture
def refused_at(monkeypatch):
    """Files whose reading fails at a given record, as a file that is not an export fails: the write
    path's behaviour when a file is refused after records were already sent to PostgreSQL."""
    refused = {}

    def file_open(**kwargs):
        stream = imports_file_open(**kwargs)

        def records():
            for parsed in stream.records:
                if parsed.record == refused["at"]:
                    raise ImportFileError("Not an export from here on.", record=parsed.record, line=parsed.line,
                                          field="format")
                yield parsed
        return replace(stream, records=records())

    monkeypatch.setattr(imports, "file_open", file_open)
    return refused


@pytest.fixture
def source(small):
    return SearchSource.objects.create(review=small.review, database="Embase", date_searched="2024-03-01")


def test_records_are_stored_in_file_order(small, source):
    summary = import_records(review=small.review, source=source, file_name="a.ris", content=ris_file(1200))
    assert summary.imported == 1200
    titles = list(Record.objects.filter(import_batch_id=summary.batch_id).order_by("id").values_list("title", flat=True))
    assert titles == [f"Streamed record number {k} of a long export" for k in range(1, 1201)]


def test_a_file_refused_far_into_it_stores_nothing_and_the_next_import_works(small, source, refused_at):
    before = Record.objects.count()
    # Record 1,100 is past the rows already sent to PostgreSQL when it is read.
    refused_at["at"] = 1100
    with pytest.raises(ImportFileError) as caught:
        import_records(review=small.review, source=source, file_name="bad.ris", content=ris_file(1200))
    assert (caught.value.record, caught.value.line, caught.value.field) == (1100, 1 + 7 * 1099, "format")
    assert Record.objects.count() == before
    assert not ImportBatch.objects.filter(review=small.review).exists()
    assert connection.connection.info.transaction_status.name in ("IDLE", "INTRANS")  # not left mid-COPY
    summary = import_records(review=small.review, source=source, file_name="good.ris", content=ris_file(50))
    assert summary.imported == 50 and Record.objects.count() == before + 50


@pytest.fixture
def short_statements(monkeypatch):
    """COPY statements of 7 rows, so that a small file is sent in many of them."""
    monkeypatch.setattr(imports, "ROWS_PER_COPY", 7)


@pytest.mark.parametrize("count", [1, 6, 7, 70, 1200])
def test_records_sent_in_many_statements_are_all_stored_in_file_order(small, source, short_statements, count):
    summary = import_records(review=small.review, source=source, file_name="a.ris", content=ris_file(count))
    assert summary.imported == count
    titles = list(Record.objects.filter(import_batch_id=summary.batch_id).order_by("id").values_list("title", flat=True))
    assert titles == [f"Streamed record number {k} of a long export" for k in range(1, count + 1)]


def test_a_file_refused_after_several_stored_statements_stores_nothing(small, source, short_statements,
                                                                         refused_at):
    before = Record.objects.count()
    refused_at["at"] = 250
    with pytest.raises(ImportFileError) as caught:
        import_records(review=small.review, source=source, file_name="bad.ris", content=ris_file(300))
    assert (caught.value.record, caught.value.field) == (250, "format")
    assert Record.objects.count() == before
    assert not ImportBatch.objects.filter(review=small.review).exists()
    summary = import_records(review=small.review, source=source, file_name="good.ris", content=ris_file(30))
    assert summary.imported == 30 and Record.objects.count() == before + 30


def test_a_row_the_database_refuses_stops_the_import_and_stores_nothing(small, source, short_statements):
    # A rule only the database knows (added for this test, inside its transaction): the sending
    # thread's COPY fails, and the reading thread raises that failure.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE studies_record ADD CONSTRAINT test_refused_title "
                       "CHECK (title <> 'Streamed record number 40 of a long export') NOT VALID")
    before = Record.objects.count()
    with pytest.raises(psycopg.errors.CheckViolation, match="test_refused_title"):
        import_records(review=small.review, source=source, file_name="refused.ris", content=ris_file(300))
    assert Record.objects.count() == before
    assert not ImportBatch.objects.filter(review=small.review).exists()
    summary = import_records(review=small.review, source=source, file_name="good.ris", content=ris_file(30))
    assert summary.imported == 30 and Record.objects.count() == before + 30


def test_duplicates_within_one_file_point_at_the_first_in_file_order(small, source):
    content = ris_file(3) + b"\n" + ris_file(3)  # the second half repeats the first (same DOIs)
    summary = import_records(review=small.review, source=source, file_name="twice.ris", content=content)
    assert (summary.imported, summary.duplicates) == (6, 3)
    rows = list(Record.objects.filter(import_batch_id=summary.batch_id).order_by("id"))
    assert [r.duplicate_of_id for r in rows] == [None, None, None, rows[0].pk, rows[1].pk, rows[2].pk]
    assert DuplicateCandidate.objects.filter(import_batch_id=summary.batch_id, status="merged").count() == 3


def test_wrapped_lines_continue_the_value_above_and_a_bare_er_ends_a_record():
    content = (b"TY  - JOUR\nTI  - Peer support for people with\n  serious mental illness\nAB  - First part\n"
               b"second part.\nER\n\nTY  - JOUR\nTI  - Second\nER  - \n")
    first, second = file_parse(content=content).records
    assert first.title == "Peer support for people with serious mental illness"
    assert first.abstract == "First part second part."
    assert (second.record, second.line, second.title) == (2, 8, "Second")


@given(st.text())
@settings(max_examples=500, deadline=None)
def test_squash_is_split_and_join(value):
    assert _squash(value) == " ".join(value.split())


@given(st.text(alphabet=st.characters(max_codepoint=127, exclude_characters="&<")))
@settings(max_examples=500, deadline=None)
def test_ascii_titles_normalise_as_the_general_rule_does(title):
    # Titles with entities or markup ("&", "<") take the general path itself.
    assert title_normalise(title) == " ".join(_NON_WORD.sub(" ", title.casefold()).split())


def test_long_text_of_records_is_compressed_with_lz4_where_the_server_has_it(db):
    try:  # a server built without lz4 refuses the setting; the savepoint keeps the test's transaction usable
        with transaction.atomic(), connection.cursor() as probe:
            probe.execute("SET LOCAL default_toast_compression = 'lz4'")
        expected = "l"
    except DatabaseError:
        expected = "p"
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname, attcompression FROM pg_attribute WHERE attrelid = 'studies_record'::regclass "
                       "AND attname IN ('abstract', 'raw_entry') ORDER BY attname")
        assert cursor.fetchall() == [("abstract", expected), ("raw_entry", expected)]


SHARED_EXPORTS = SHARED_DATA / "exports"


@pytest.mark.parametrize("name", sorted(path.name for path in SHARED_EXPORTS.glob("*.ris")))
def test_ris_values_trimmed_on_the_single_space_path_equal_the_squashed_ones(monkeypatch, name):
    """RIS entries whose only whitespace is single spaces skip squashing; every record of every real
    RIS export must come out as it does when every entry is squashed value by value."""
    content = (SHARED_EXPORTS / name).read_bytes()
    entries = ris._entries
    fast = file_parse(content=content).records
    # Every entry squashed value by value: its whitespace check answers "not single-spaced".
    monkeypatch.setattr(ris, "_entries", lambda text: ((*entry[:4], False) for entry in entries(text)))
    squashed = file_parse(content=content).records
    assert fast == squashed


def test_the_single_space_path_is_taken_only_for_single_spaced_entries():
    text = "TY  - JOUR\nTI  - A  title\nER  - \n\nTY  - JOUR\nTI  - A title \nAB  - x\ty\nER  - \n\nTY  - JOUR\nTI  - A title\nER  - \n"
    assert [spaced for *_, spaced in ris._entries(text)] == [False, False, True]
    assert [record.title for record in ris.ris_records(text)] == ["A title"] * 3
