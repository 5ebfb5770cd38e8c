"""Real exports (../shared/data/exports, see its README) import whole: every record, with its fields
where the database put them (issue 19 item 5).

The expected values were read from the raw files (the record's tag lines), not from the parser's
output. Each file's count is the number of its ER lines.
"""

import pytest

from studies.imports import file_parse
from studies.imports.errors import WarningKind
from studies.models import Record, SearchSource
from studies.services.imports import import_records
from tests.shared_data import SHARED_DATA

EXPORTS = SHARED_DATA / "exports"

COUNTS = {
    "AGRIS.ris": 12, "CAB.ris": 687, "Dimensions_246.ris": 246, "EconLit.ris": 50, "GreenFile.ris": 139,
    "RM.ris": 530, "benchmark_15.ris": 15, "econlit_3.ris": 3, "envindex_100.ris": 100, "final_24.ris": 24,
    "lens_343.ris": 343, "medline_84.ris": 84, "screened_128.ris": 128, "wos_278.ris": 278,
}

# (file, record number) → fields expected; "first_author" is authors[0], "keywords_include" a subset.
EXPECTED = {
    ("AGRIS.ris", 1): {"title": "Ethno medicinal survey of plants from salt range (Kallar Kahar) of Pakistan",
                       "first_author": "Ahmad, S. S.", "year": 2008, "volume": "v. 40"},
    # One keyword a line under one KW (a 590-character keyword before).
    ("AGRIS.ris", 6): {"title": "Nature's investment bank: how marine protected areas contributed to poverty reduction",
                       "keywords_include": ("PROTECTED AREAS", "MARINE AREAS", "ZONAS MARINAS", "households")},
    ("AGRIS.ris", 12): {"first_author": "Vianna, André Luiz Menezes", "year": 2014, "language": "English",
                        "volume": "v. 33"},
    ("CAB.ris", 1): {"title": "First report to the Governments of the United Nations", "year": 1944, "pages": "55"},
    ("CAB.ris", 687): {"first_author": "Zougmore, R.", "issue": "118", "year": 2015, "journal": "CCAFS Working Paper",
                       "pages": "79"},
    ("Dimensions_246.ris", 1): {
        "doi": "10.1080/20008198.2022.2087980", "journal": "European Journal of Psychotraumatology", "volume": "13",
        "issue": "1", "pages": "2087980", "year": 2022, "first_author": "Zhang, Yanqin",
        "url": "https://app.dimensions.ai/details/publication/pub.1149029839"},
    ("Dimensions_246.ris", 246): {"doi": "10.18226/21789061.v13i4p09", "pages": "1-19", "year": 2021,
                                  "journal": "ROSA DOS VENTOS - Turismo e Hospitalidade"},
    ("EconLit.ris", 1): {"title": "Motivational Crowding in Sustainable Development Interventions",
                         "journal": "American Political Science Review", "volume": "109", "issue": "3",
                         "pages": "470-487", "year": 2015, "first_author": "Agrawal, Arun",
                         "url": "http://search.proquest.com/docview/1751982281?accountid=14522"},
    ("EconLit.ris", 50): {"first_author": "Zhu, Ying", "pages": "2-xiv, 192", "year": 2015},
    ("GreenFile.ris", 1): {"doi": "10.1108/meq-05-2013-0038", "pages": "783-801", "volume": "25", "year": 2014},
    ("GreenFile.ris", 139): {"first_author": "Živojinović, Ivana", "journal": "Urban Forestry & Urban Greening",
                             "pages": "1079-1087", "doi": "10.1016/j.ufug.2015.10.007", "issue": "4"},
    ("RM.ris", 1): {"title": "No Title"},
    # The DOI only as a percent-encoded dx.doi.org link in UR.
    ("RM.ris", 50): {"doi": "10.1371/journal.pone.0131544", "pages": "e0131544-e0131544", "journal": "PLOS ONE",
                     "title": "Do Payments Pay Off? Evidence from Participation in Costa Rica’s PES Program"},
    ("RM.ris", 83): {"doi": "", "warnings": [WarningKind.DOI_NOT_A_DOI]},  # "DO  - <br />"
    ("RM.ris", 530): {"doi": "10.1016/j.esd.2012.07.007", "journal": "Energy for Sustainable Development",
                      "volume": "17", "issue": "2", "pages": "127-137", "year": 2013},
    ("benchmark_15.ris", 1): {"title": "A systematic review of the impact of wildfires on sleep disturbances",
                              "volume": "18", "issue": "19", "pages": "10152", "first_author": "Isaac, Fadia"},
    ("benchmark_15.ris", 15): {"pages": "121-140", "year": 2019, "volume": "32", "issue": "2"},
    ("econlit_3.ris", 1): {"journal": "Journal of Agricultural and Resource Economics", "year": 2008,
                           "pages": "212-231", "volume": "33", "issue": "2", "first_author": "Mueller, Julie M."},
    ("econlit_3.ris", 3): {"title": "Developing Social Capital as a Response to the Wildfire Problem",
                           "first_author": "Prante, Tyler"},
    ("envindex_100.ris", 1): {"first_author": "Grau\u2010Andrés, Roger", "doi": "10.1111/geb.13858",
                              "title": "Global plant responses to intensified fire regimes.", "year": 2024,
                              "volume": "33", "issue": "8", "pages": "1-15",
                              "journal": "Global Ecology & Biogeography"},
    ("envindex_100.ris", 100): {"pages": "N.PAG-N.PAG", "year": 2021, "doi": "10.1016/j.scitotenv.2020.142923"},
    ("final_24.ris", 1): {"title": "Estimating Wildfire Suppression Costs: A Systematic Review",
                          "doi": "10.1505/146554822835224801", "pages": "15-29", "first_author": "Mattioli, W."},
    ("final_24.ris", 24): {"journal": "EARTH-SCIENCE REVIEWS", "doi": "10.1016/j.earscirev.2021.103802",
                           "authors": ("Thomaz, E. L.",), "volume": "221"},
    ("lens_343.ris", 1): {"doi": "10.7759/cureus.9128", "journal": "Cureus", "pages": "e9128", "volume": "12",
                          "issue": "7", "year": 2020, "first_author": "Shah, Kaushal"},
    # No title anywhere in the record: kept, flagged for the screener.
    ("lens_343.ris", 340): {"title": "", "doi": "10.1111/gcbb.v15.11", "year": 2023, "journal": "GCB Bioenergy",
                            "warnings": [WarningKind.TITLE_MISSING]},
    ("lens_343.ris", 343): {"authors": ("Holden, Sandra Robin",), "year": 2014},
    # Ovid MEDLINE: the PMID is the accession number in Ovid's link.
    ("medline_84.ris", 1): {"pmid": "39012781", "doi": "10.2337/dc24-0703", "journal": "Diabetes care", "year": 2024,
                            "issue": "eag, 7805975", "first_author": "Zhang, Yiwen"},
    ("medline_84.ris", 84): {"pmid": "18379838", "pages": "809-19", "volume": "41", "issue": "6",
                             "doi": "10.1007/s00267-008-9105-7", "year": 2008, "first_author": "Abella, Scott R"},
    ("screened_128.ris", 1): {"doi": "10.1016/j.foreco.2018.07.029", "pages": "625-641", "volume": "429",
                              "first_author": "James, Jason N."},
    ("screened_128.ris", 128): {"journal": "JOURNAL OF HYDROLOGY", "volume": "612", "year": 2022,
                                "doi": "10.1016/j.jhydrol.2022.128019"},
    ("wos_278.ris", 1): {"first_author": "Naderpour, M", "journal": "RELIABILITY ENGINEERING & SYSTEM SAFETY",
                         "doi": "10.1016/j.ress.2019.106558", "volume": "191", "year": 2019},
    # A conference's name in CP is not taken for the issue (it refused the file before).
    ("wos_278.ris", 213): {"issue": "", "pages": "S201-S217", "doi": "10.2136/sssaj2018.10.0380", "volume": "83",
                           "title": "Can Bioenergy Ash Applications Emulate the Effects of Wildfire on Upland Forest "
                                    "Soil Chemical Properties?"},
    ("wos_278.ris", 278): {"doi": "10.1016/s2542-5196(23)00235-8", "pages": "e963-e975", "volume": "7", "issue": "12",
                           "title": "Long-term mortality burden trends attributed to black carbon and PM2\u00b75 from "
                                    "wildfire emissions across the continental USA from 2000 to 2020: a deep "
                                    "learning modelling study"},
}


@pytest.fixture(scope="module")
def parsed():
    return {name: file_parse(content=(EXPORTS / name).read_bytes()) for name in COUNTS}


def test_the_readme_lists_the_files_tested_here():
    assert sorted(path.name for path in EXPORTS.glob("*.ris")) == sorted(COUNTS)


@pytest.mark.parametrize(("name", "count"), COUNTS.items())
def test_every_record_of_every_export_is_read(parsed, name, count):
    assert (EXPORTS / name).read_bytes().count(b"\nER  -") + (EXPORTS / name).read_bytes().startswith(b"ER") == count
    result = parsed[name]
    assert result.file_format == "ris" and result.encoding == "utf-8" and not result.warnings
    assert len(result.records) == count
    assert [record.record for record in result.records] == list(range(1, count + 1))
    # Every record keeps its raw entry, from TY to ER, as it is in the file.
    text = (EXPORTS / name).read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    assert all(record.raw_entry.startswith("TY  -") and record.raw_entry in text for record in result.records)


@pytest.mark.parametrize(("key", "fields"), EXPECTED.items(), ids=[f"{n}#{k}" for n, k in EXPECTED])
def test_chosen_fields_of_chosen_records(parsed, key, fields):
    name, number = key
    record = parsed[name].records[number - 1]
    for field, expected in fields.items():
        if field == "first_author":
            assert record.authors[0] == expected
        elif field == "keywords_include":
            assert set(expected) <= set(record.keywords)
        elif field == "warnings":
            assert [warning.kind for warning in record.warnings] == expected
        else:
            assert getattr(record, field) == expected, field
    if "warnings" not in fields:
        assert record.warnings == ()


def test_all_fourteen_exports_are_stored_whole(small):
    source = SearchSource.objects.create(review=small.review, database="CiteSource vignettes",
                                         date_searched="2025-09-22")
    stored = 0
    for name, count in COUNTS.items():
        summary = import_records(review=small.review, source=source, file_name=name,
                                 content=(EXPORTS / name).read_bytes())
        assert summary.imported == count, name
        stored += count
        assert Record.objects.filter(import_batch_id=summary.batch_id).count() == count
    assert Record.objects.filter(review=small.review, import_batch__source=source).count() == stored == 2639
    untitled = Record.objects.get(review=small.review, doi="10.1111/gcbb.v15.11", title="")
    assert untitled.import_warnings[0]["kind"] == WarningKind.TITLE_MISSING
    long_issue = Record.objects.get(import_batch__file_name="wos_278.ris", doi="10.2136/sssaj2018.10.0380")
    assert "13th North American Forest Soils Conference" in long_issue.raw_entry


@pytest.mark.django_db
def test_a_stray_nul_byte_costs_no_record_and_a_binary_file_is_still_refused(small):
    """A damaged export with a NUL byte (in its first 4 kB or later) imports whole, the NUL removed
    and named in a warning; PostgreSQL could not store it (the import failed whole at the database).
    Files that are binary by their signature or their many NULs are refused as before."""
    from studies.imports import ImportFileError

    content = (EXPORTS / "medline_84.ris").read_bytes()
    late = content.index(b"AB  - ", 6000) + 20
    for day, damaged in ((1, content[:200] + b"\x00" + content[200:]),
                         (2, content[:late] + b"\x00\x00" + content[late:])):
        source = SearchSource.objects.create(review=small.review, database="PubMed", date_searched=f"2024-01-0{day}")
        summary = import_records(review=small.review, source=source, file_name="damaged.ris", content=damaged)
        assert summary.imported == 84
        assert any("NUL character" in warning and "removed" in warning for warning in summary.warnings)
        Record.objects.filter(import_batch_id=summary.batch_id).delete()
    for binary in (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
                   b"PK\x03\x04\x14\x00\x06\x00" + content[:500], content[:1000].replace(b"\n", b"\x00\n")):
        with pytest.raises(ImportFileError, match="binary file"):
            file_parse(content=binary)
