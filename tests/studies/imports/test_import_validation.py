"""Every rule of ``Record`` refuses an imported record, naming the record, its line and the field.

The import checks records with cheap versions of the model's rules and gives ``full_clean`` only the
records they flag; these tests build records the parsers would already refuse, so they reach that check.
"""
from dataclasses import asdict, replace

import pytest

from studies.imports import ImportFileError, ParsedFile, ParsedRecord
from studies.models import Record
from studies.services.imports import records_validate

GOOD = ParsedRecord(title="Peer support and self-stigma", authors=("Rüsch, N.",), year=2014, doi="10.1192/bjp.1",
                    pmid="24311552", nct_id="NCT01234567", url="https://example.org/a", record=3, line=41)


def parsed_file(*records: ParsedRecord) -> ParsedFile:
    return ParsedFile(records=records, file_format="ris", encoding="utf-8", sha256="0" * 64)


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"title": ""}, "title", "This field cannot be blank."),
    ({"doi": "https://doi.org/10.1/x"}, "doi", "Enter a DOI such as"),
    ({"pmid": "PMID:12"}, "pmid", "A PMID is 1 to 9 digits."),
    ({"nct_id": "NCT123"}, "nct_id", "An NCT id is NCT followed by 8 digits."),
    ({"year": 1492}, "year", "Year must be between 1800"),
    ({"year": 9999}, "year", "Year must be between 1800"),
    ({"journal": "J" * 501}, "journal", "at most 500 characters"),
    ({"volume": "1" * 51}, "volume", "at most 50 characters"),
    ({"authors": ("A" * 301,)}, "authors", "Item 1 in the array did not validate"),
    ({"keywords": ("ok", "")}, "keywords", "Item 2 in the array did not validate"),
    ({"url": "https://exa mple.org"}, "url", "Enter a valid URL."),
])
def test_a_record_breaking_a_model_rule_is_refused_with_the_field_named(small, change, field, message):
    bad = replace(GOOD, **change)
    with pytest.raises(ImportFileError) as caught:
        records_validate(parsed=parsed_file(GOOD, bad), review=small.review)
    assert (caught.value.record, caught.value.line, caught.value.field) == (3, 41, field)
    assert message in caught.value.message
    # The same rule and message as the model's own validation.
    record = Record(review=small.review, **{name: list(v) if isinstance(v, tuple) else v
                                            for name, v in asdict(bad).items() if name not in ("record", "line", "warnings")})
    with pytest.raises(Exception) as model_error:
        record.full_clean(exclude=["review", "import_batch", "duplicate_of"], validate_unique=False,
                          validate_constraints=False)
    assert caught.value.message in model_error.value.message_dict[field]


def test_records_that_keep_every_rule_pass(small):
    records_validate(parsed=parsed_file(GOOD, replace(GOOD, doi="", pmid="", nct_id="", year=None, url="")),
                     review=small.review)
