"""A value breaking a rule of ``Record`` is left out of its field, with a warning naming the record, its
line and the field; the record itself is imported (issue 19: one quirk must not cost the file).

The import checks records with cheap versions of the model's rules and gives ``full_clean`` only the
records they flag; these tests build records the parsers would already have fixed, so they reach that
check.
"""
from dataclasses import asdict, replace

import pytest

from studies.imports import ParsedFile, ParsedRecord
from studies.imports.errors import WarningKind
from studies.models import Record
from studies.services.imports import records_validate

GOOD = ParsedRecord(title="Peer support and self-stigma", authors=("Rüsch, N.",), year=2014, doi="10.1192/bjp.1",
                    pmid="24311552", nct_id="NCT01234567", url="https://example.org/a", record=3, line=41)


def parsed_file(*records: ParsedRecord) -> ParsedFile:
    return ParsedFile(records=records, file_format="ris", encoding="utf-8", sha256="0" * 64)


def model_errors(record: ParsedRecord, review) -> dict[str, list[str]]:
    row = Record(review=review, **{name: list(v) if isinstance(v, tuple) else v
                                   for name, v in asdict(record).items() if name not in ("record", "line", "warnings")})
    try:
        row.full_clean(exclude=["review", "import_batch", "duplicate_of"], validate_unique=False,
                       validate_constraints=False)
    except Exception as error:  # noqa: BLE001 - the test reads the ValidationError's messages
        return error.message_dict
    return {}


@pytest.mark.parametrize(("change", "field", "message", "kept"), [
    ({"doi": "https://doi.org/10.1/x"}, "doi", "Enter a DOI such as", ""),
    ({"pmid": "PMID:12"}, "pmid", "A PMID is 1 to 9 digits.", ""),
    ({"nct_id": "NCT123"}, "nct_id", "An NCT id is NCT followed by 8 digits.", ""),
    ({"year": 1492}, "year", "Year must be between 1800", None),
    ({"year": 9999}, "year", "Year must be between 1800", None),
    ({"keywords": ("ok", "")}, "keywords", "Item 2 in the array did not validate", ("ok",)),
    ({"url": "https://exa mple.org"}, "url", "Enter a valid URL.", ""),
])
def test_a_value_breaking_a_model_rule_is_left_out_with_a_warning(small, change, field, message, kept):
    bad = replace(GOOD, **change)
    good, checked = records_validate(parsed=parsed_file(GOOD, bad), review=small.review)
    assert good is GOOD  # the cheap checks let a good record through untouched
    assert getattr(checked, field) == kept
    (warning,) = checked.warnings
    assert (warning.kind, warning.record, warning.line, warning.field) == (WarningKind.FIELD_INVALID, 3, 41, field)
    assert message in warning.message
    # The same rule and message as the model's own validation; what is kept passes it.
    assert warning.message.startswith(model_errors(bad, small.review)[field][0])
    assert model_errors(checked, small.review) == {}
    # Everything else is as it was.
    assert replace(checked, **{field: getattr(bad, field)}, warnings=()) == bad


@pytest.mark.parametrize("change", [
    {"title": ""}, {"journal": "J" * 5000}, {"volume": "1" * 51}, {"issue": "Special issue: " + "x" * 140},
    {"authors": ("A" * 301,)}, {"keywords": ("k" * 600,)}, {"publication_type": "; ".join(["Journal Article"] * 40)},
    {"url": "https://example.org/" + "a" * 2000},
])
def test_bibliographic_text_of_any_length_and_a_missing_title_are_kept_whole(small, change):
    record = replace(GOOD, **change)
    (checked,) = records_validate(parsed=parsed_file(record), review=small.review)
    assert checked == record and not checked.warnings
    assert model_errors(record, small.review) == {}
