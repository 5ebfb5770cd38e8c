"""Field validators shared by the models. Each message names what is wrong, in the review's words.

The database holds the same rules as check constraints (see each model's ``Meta``); these validators
are the friendly first line that forms, the admin, the API and services all go through.
"""
from datetime import UTC, datetime
import math
import re

from django.core.exceptions import ValidationError

DOI_PATTERN = re.compile(r"^10\.\d{4,9}/\S+$")
PMID_PATTERN = re.compile(r"^[1-9]\d{0,8}$")
NCT_PATTERN = re.compile(r"^NCT\d{8}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")

# Publication years: printed trials start in the 1940s, but records of older literature exist;
# anything before 1800 or more than a year ahead is a typing or parsing error.
YEAR_MIN = 1800


def year_max() -> int:
    # The UTC year (what timezone.now() gives with USE_TZ), without reading settings: an import checks
    # this once per record.
    return datetime.now(UTC).year + 1


def validate_finite(value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise ValidationError("Enter a finite number (not NaN or infinity).", code="not_finite")


def validate_positive_sd(value: float | None) -> None:
    validate_finite(value)
    if value is not None and value <= 0:
        raise ValidationError("SD must be greater than 0 (got %(value)s).", code="sd_not_positive",
                              params={"value": f"{value:g}"})


def validate_positive_se(value: float | None) -> None:
    validate_finite(value)
    if value is not None and value <= 0:
        raise ValidationError("SE must be greater than 0 (got %(value)s).", code="se_not_positive",
                              params={"value": f"{value:g}"})


def validate_year(value: int | None) -> None:
    if value is not None and not (YEAR_MIN <= value <= year_max()):
        raise ValidationError(
            f"Year must be between {YEAR_MIN} and {year_max()}.", code="year_out_of_range"
        )


def validate_doi(value: str) -> None:
    if value and not DOI_PATTERN.match(value):
        raise ValidationError(
            "Enter a DOI such as 10.3389/fpsyt.2022.915617 (without https://doi.org/).",
            code="malformed_doi",
        )


def validate_pmid(value: str) -> None:
    if value and not PMID_PATTERN.match(value):
        raise ValidationError("A PMID is 1 to 9 digits.", code="malformed_pmid")


def validate_nct_id(value: str) -> None:
    if value and not NCT_PATTERN.match(value):
        raise ValidationError("An NCT id is NCT followed by 8 digits.", code="malformed_nct_id")


_DOI_PREFIX = re.compile(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def normalise_doi(value: str) -> str:
    """Strip resolver prefixes and lower-case: DOIs are case-insensitive (DOI Handbook 2.4)."""
    return _DOI_PREFIX.sub("", (value or "").strip()).lower()
