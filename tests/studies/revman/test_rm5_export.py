"""RevMan 5 export and the round trip: importing our own export reproduces every number."""
import csv
import io
from xml.etree.ElementTree import fromstring

import pytest
from django.core.management import call_command
from test_rm5_import import FLEISS, HAND_MADE

from analysis.revman.export import CSV_COLUMNS, rm5_export, study_data_csv, study_id
from analysis.revman.parity import rm5_parity
from studies.models import OutcomeData, StudyEstimate
from studies.services.revman import rm5_import

pytestmark = pytest.mark.django_db

SETTINGS = ("name", "data_type", "effect_measure", "pooling_method", "model_rule", "confidence_level", "swap_events",
            "totals", "generic_measure", "log_scale", "direction")


def _data(review) -> dict:
    """Every number and setting of a review's outcomes, keyed by RevMan number and study."""
    outcomes = {}
    for outcome in review.outcomes.all():
        rows = sorted((d.study.label, d.arm.label, d.subgroup.name if d.subgroup else "", d.n, d.mean, d.sd, d.events,
                       d.total) for d in OutcomeData.objects.filter(outcome=outcome).select_related(
                           "study", "arm", "subgroup"))
        estimates = sorted((e.study.label, e.subgroup.name if e.subgroup else "", e.estimate, e.se)
                           for e in StudyEstimate.objects.filter(outcome=outcome).select_related("study", "subgroup"))
        outcomes[outcome.revman_number] = ({name: getattr(outcome, name) for name in SETTINGS}, rows, estimates,
                                           list(outcome.subgroups.values_list("name", flat=True)))
    studies = sorted(review.studies.values_list("label", "year"))
    return {"outcomes": outcomes, "studies": studies}


def rm5_import_warnings_held(review) -> list[str]:
    return [w for w in review.revman_import.warnings if "held awaiting check" in w]


@pytest.mark.parametrize("content", [FLEISS.read_bytes(), HAND_MADE], ids=["fleiss", "hand-made"])
def test_round_trip_reproduces_every_number(content):
    first = rm5_import(content=content, file_name="in.rm5", slug="round-1").review
    exported = rm5_export(first)
    second = rm5_import(content=exported, file_name="out.rm5", slug="round-2")
    # Nothing is lost on the way; the only warning is the plausibility rules' (issue 20), which hold the
    # same values in both reviews (Fleiss's continuous analysis 1.2: Gruen's SD far from the others',
    # Wilson's SD that looks like an SE).
    first_held = [w for w in rm5_import_warnings_held(first)]
    assert [w for w in second.warnings if "held awaiting check" not in w] == []
    assert len(second.warnings) == len(first_held)
    assert _data(second.review) == _data(first)
    # The export stores our results where RevMan stores its own: the re-import's parity compares
    # them with a fresh computation, and every number is equal.
    report = rm5_parity(second.review)
    assert report.checked > 0 and report.different == 0
    # And they are the numbers the first import's report called ours.
    ours_first = {(a.number, c.scope, c.statistic): c.ours for a in rm5_parity(first).analyses for c in a.checks}
    ours_second = {(a.number, c.scope, c.statistic): c.revman for a in report.analyses for c in a.checks}
    assert {key: ours_first[key] for key in ours_second if key in ours_first} == {
        key: value for key, value in ours_second.items() if key in ours_first}


def test_export_has_revman_s_layout():
    review = rm5_import(content=HAND_MADE, file_name="in.rm5", slug="layout").review
    root = fromstring(rm5_export(review))
    assert root.tag == "COCHRANE_REVIEW" and root.get("REVMAN_VERSION") == "5"
    assert [child.tag for child in root] == [
        "COVER_SHEET", "MAIN_TEXT", "STUDIES_AND_REFERENCES", "CHARACTERISTICS_OF_STUDIES", "QUALITY_ITEMS",
        "SOF_TABLES", "ADDITIONAL_TABLES", "ANALYSES_AND_DATA", "FIGURES", "FEEDBACK", "APPENDICES", "EXTENSIONS"]
    analysis = root.find("ANALYSES_AND_DATA/COMPARISON/CONT_OUTCOME")
    assert (analysis.get("NO"), analysis.get("EFFECT_MEASURE"), analysis.get("RANDOM"), analysis.get("SUBGROUPS")) == (
        "1", "MD", "YES", "YES")
    assert [e.findtext("NAME") for e in analysis.findall("CONT_SUBGROUP")] == ["Low dose", "High dose"]
    ids = {s.get("ID") for s in root.iter("STUDY")}
    assert study_id("Multi 2010") == "STD-Multi_x0020_2010" and study_id("Multi 2010") in ids
    assert all(row.get("STUDY_ID") in ids for row in root.iter("CONT_DATA"))


def test_study_data_csv_lists_every_row():
    review = rm5_import(content=HAND_MADE, file_name="in.rm5", slug="csv").review
    rows = list(csv.DictReader(io.StringIO(study_data_csv(review))))
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == 6 + 4 + 4 + 4
    adams_death = next(r for r in rows if r["Analysis number"] == "1.3" and r["Study"] == "Adams 2001")
    # The events as entered (survivors), as RevMan's data tables show them.
    assert (adams_death["Experimental events"], adams_death["Experimental N"]) == ("80", "100")
    multi = [r for r in rows if r["Analysis number"] == "1.1" and r["Study"] == "Multi 2010"]
    assert sorted(r["Subgroup"] for r in multi) == ["High dose", "Low dose"]


def test_export_command_writes_the_file(tmp_path):
    rm5_import(content=FLEISS.read_bytes(), file_name="in.rm5", slug="cmd-export")
    path = tmp_path / "out.rm5"
    call_command("rm5_export", "--review", "cmd-export", str(path), stdout=io.StringIO())
    assert fromstring(path.read_bytes()).tag == "COCHRANE_REVIEW"
    call_command("rm5_export", "--review", "cmd-export", "--csv", str(tmp_path / "out.csv"), stdout=io.StringIO())
    assert (tmp_path / "out.csv").read_text().startswith("Comparison,Outcome")


def test_a_review_built_here_exports_and_reimports_with_its_numbers(demo_review):
    # The demo review was never in RevMan: outcomes are numbered by domain and order, and the
    # re-import's parity (its stored results are ours) finds every number equal.
    exported = rm5_export(demo_review)
    result = rm5_import(content=exported, file_name="demo.rm5", slug="demo-round-trip")
    outcomes_with_data = {o.pk for o in demo_review.outcomes.all() if o.data.exists()}
    assert result.analyses == demo_review.outcomes.count()
    report = rm5_parity(result.review)
    checked = [a for a in report.analyses if a.checks]
    assert len(checked) == len(outcomes_with_data)
    assert report.different == 0, [(a.number, c) for a in report.analyses for c in a.checks if not c.equal]
