"""Risk of bias from and to RevMan 5: the file's judgments become each study's consensus RoB 1
assessment, attributed to the file, and an export carries them back.

Fleiss 1993 (a real RevMan 5.0 file) judges one item, "Allocation concealment?", unclear for every
study. For the rest of the tool the test builds a copy of it whose QUALITY_ITEMS follow RevMan 5.1+
(the 2011 domain names, outcome-level items with their groups of outcomes as
QUALITY_ITEM_DATA_ENTRY_GROUP elements that the entries' GROUP_ID refers to, RESULT YES = low risk,
NO = high, UNKNOWN = unclear), plus an item that is no domain of the tool and a few faulty entries.
"""
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from rm5_files import study_id
from test_rm5_import import FLEISS

from analysis.revman.export import rm5_export
from studies import rob1, selectors
from studies.models import RiskOfBiasAssessment, RiskOfBiasJudgment, Role, Study
from studies.revman.parse import rm5_parse
from studies.services import membership_add
from studies.services.revman import rm5_import
from studies.services.risk_of_bias import Rob1Entry, rob1_assessment_save, rob1_consensus_import, rob1_consensus_save
from tests.rob_entries import rob1_entry

pytestmark = pytest.mark.django_db

ISIS, AMIS, GASP, CDP = study_id("ISIS-2"), study_id("AMIS"), study_id("GASP"), study_id("CDP")
assert ISIS == "STD-ISIS_x002d_2"  # as Fleiss's file writes it


def _item(number: int, name: str, entries: list[tuple], level: str = "STUDY",
          groups: tuple[tuple[str, str], ...] = ()) -> str:
    """One QUALITY_ITEM; entries as (study id, RESULT, support[, group id])."""
    rows = "".join(
        f'<QUALITY_ITEM_DATA_ENTRY{f" GROUP_ID={chr(34)}{e[3]}{chr(34)}" if len(e) > 3 else ""} RESULT="{e[1]}" '
        f'STUDY_ID="{e[0]}"><DESCRIPTION><P>{e[2]}</P></DESCRIPTION></QUALITY_ITEM_DATA_ENTRY>'
        for e in entries)
    group_xml = "".join(f'<QUALITY_ITEM_DATA_ENTRY_GROUP ID="{gid}" NO="{i}"><NAME>{gname}</NAME>'
                        f'</QUALITY_ITEM_DATA_ENTRY_GROUP>' for i, (gid, gname) in enumerate(groups, start=1))
    return (f'<QUALITY_ITEM CORE_ITEM="YES" ID="QIT-{number:02d}" LEVEL="{level}" NO="{number}"><NAME>{name}</NAME>'
            f'<DESCRIPTION><P>What the item asks.</P></DESCRIPTION><QUALITY_ITEM_DATA>{rows}</QUALITY_ITEM_DATA>'
            f'{group_xml}</QUALITY_ITEM>')


QUALITY_ITEMS = "".join([
    _item(1, "Random sequence generation (selection bias)",
          [(ISIS, "YES", "Quote: computer-generated list"), (AMIS, "UNKNOWN", "Not described"), (GASP, "NO", "Alternation")]),
    _item(2, "Allocation concealment (selection bias)", [(ISIS, "YES", "Central telephone randomisation")]),
    _item(3, "Blinding of participants and personnel (performance bias)", [(ISIS, "YES", "Placebo tablets", "QIG-01")],
          level="GROUP", groups=(("QIG-01", "All outcomes"),)),
    _item(4, "Blinding of outcome assessment (detection bias)",
          [(ISIS, "YES", "Death is objective", "QIG-01"), (ISIS, "NO", "Unblinded interviews", "QIG-02"),
           (AMIS, "UNKNOWN", "", "QIG-01")],
          level="GROUP", groups=(("QIG-01", "Mortality"), ("QIG-02", "Patient-reported outcomes"))),
    _item(5, "Incomplete outcome data (attrition bias)", [(ISIS, "YES", "Follow-up 99%")], level="GROUP"),
    _item(6, "Selective reporting (reporting bias)", [(ISIS, "UNKNOWN", "No protocol")]),
    _item(7, "Other bias", [(ISIS, "YES", "None found")]),
    _item(8, "Baseline imbalance", [(ISIS, "NO", "Older in the aspirin arm"), ("STD-Elsewhere", "NO", ""),
                                    (CDP, "MAYBE", "")]),
])


def fleiss_with_risk_of_bias() -> bytes:
    """Fleiss 1993 with its QUALITY_ITEMS replaced by a RevMan 5.1+ risk-of-bias table."""
    text = FLEISS.read_text(encoding="utf-8")
    replaced, count = re.subn(r"<QUALITY_ITEMS[^>]*>.*</QUALITY_ITEMS>", f"<QUALITY_ITEMS>{QUALITY_ITEMS}</QUALITY_ITEMS>",
                              text, flags=re.S)
    assert count == 1
    return replaced.encode("utf-8")


def _judgments(review) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for row in RiskOfBiasJudgment.objects.filter(assessment__study__review=review).select_related("assessment__study"):
        found.setdefault(row.assessment.study.label, {})[row.domain] = row.judgment
    return found


@pytest.mark.parametrize(("name", "domains"), [
    ("Random sequence generation (selection bias)", ("random_sequence",)),
    ("Adequate sequence generation?", ("random_sequence",)),
    ("Allocation concealment?", ("allocation_concealment",)),
    ("Blinding of participants and personnel (performance bias)", ("blinding_participants",)),
    ("Blinding of outcome assessment (detection bias)", ("blinding_outcome",)),
    ("Blinding?", ("blinding_participants", "blinding_outcome")),
    ("Blinding of participants, personnel and outcome assessors", ("blinding_participants", "blinding_outcome")),
    # The bias named decides; the outcomes an item covers and "patient-reported" do not.
    ("Blinding of participants and personnel (performance bias): all outcomes", ("blinding_participants",)),
    ("Blinding of outcome assessment (patient-reported outcomes)", ("blinding_outcome",)),
    ("Blinding of patients?", ("blinding_participants",)),
    ("Incomplete outcome data addressed?", ("incomplete_data",)),
    ("Incomplete outcome data (attrition bias)", ("incomplete_data",)),
    ("Free of selective reporting?", ("selective_reporting",)),
    ("Selective outcome reporting", ("selective_reporting",)),
    ("Free of other bias?", ("other",)),
    ("Other sources of bias", ("other",)),
    ("Baseline imbalance", ()),
])
def test_revman_item_names_are_matched_on_meaning(name, domains):
    assert rob1.revman_item_domains(name) == domains


def test_fleiss_allocation_concealment_becomes_each_study_s_consensus():
    result = rm5_import(content=FLEISS.read_bytes(), file_name="Fleiss1993.rm5", slug="fleiss-rob")
    review = result.review
    assert result.rob_studies == 12
    assessments = RiskOfBiasAssessment.objects.filter(study__review=review)
    assert assessments.count() == 12 and all(a.is_consensus for a in assessments)
    # Attributed to the file, not to anyone here (the command has no user).
    assert {(a.imported_from, a.assessor_id) for a in assessments} == {("RevMan file Fleiss1993.rm5", None)}
    assert all(judged == {"allocation_concealment": "unclear"} for judged in _judgments(review).values())
    # Items without entries (the other five of the 2008 tool) import nothing and say nothing.
    assert not [w for w in result.warnings if w.startswith("Risk of bias")]


def test_a_revman_5_1_table_maps_onto_the_tool_with_warnings_for_what_does_not_fit():
    manager = get_user_model().objects.create_user("rob-importer", password="a-long-test-password")
    result = rm5_import(content=fleiss_with_risk_of_bias(), file_name="fleiss-rob.rm5", slug="fleiss-rob51",
                        created_by=manager)
    judged = _judgments(result.review)
    assert judged["ISIS-2"] == {
        "random_sequence": "low", "allocation_concealment": "low", "blinding_participants": "low",
        # Low for mortality, high for patient-reported outcomes: the study's judgment is the most severe.
        "blinding_outcome": "high", "incomplete_data": "low", "selective_reporting": "unclear",
        # "Baseline imbalance" is no domain of the tool: it joins "Other bias", and is the more severe.
        "other": "high"}
    assert judged["AMIS"] == {"random_sequence": "unclear", "blinding_outcome": "unclear"}
    assert judged["GASP"] == {"random_sequence": "high"}
    assert "CDP" not in judged  # its only entry, RESULT="MAYBE", is not a judgment
    isis = RiskOfBiasAssessment.objects.get(study__review=result.review, study__label="ISIS-2")
    assert (isis.is_consensus, isis.assessor, isis.imported_from) == (True, manager, "RevMan file fleiss-rob.rm5")
    assert isis.recorded_by == "RevMan file fleiss-rob.rm5 (imported by rob-importer)"
    support = dict(isis.judgments.values_list("domain", "support"))
    assert support["random_sequence"] == "Quote: computer-generated list"
    assert "Blinding of outcome assessment (detection bias) (Patient-reported outcomes): High risk. Unblinded " \
           "interviews" in support["blinding_outcome"]
    assert "Baseline imbalance: High risk. Older in the aspirin arm" in support["other"]
    warnings = [w for w in result.warnings if w.startswith("Risk of bias")]
    assert any("'Baseline imbalance' is not a domain" in w for w in warnings)
    assert any("study ISIS-2, Blinding of outcome assessment" in w and "most severe, high risk" in w for w in warnings)
    assert any("RESULT='MAYBE'" in w and "CDP" in w for w in warnings)
    assert any("1 judgment of studies not among the included studies" in w for w in warnings)


def test_parse_keeps_each_group_of_an_outcome_level_item():
    items = {item.name: item for item in rm5_parse(fleiss_with_risk_of_bias()).risk_of_bias}
    detection = items["Blinding of outcome assessment (detection bias)"]
    assert detection.level == "GROUP"
    assert [(e.study_id, e.result, e.group) for e in detection.entries] == [
        (ISIS, "YES", "Mortality"), (ISIS, "NO", "Patient-reported outcomes"), (AMIS, "UNKNOWN", "Mortality")]


def test_the_round_trip_keeps_the_risk_of_bias_table():
    first = rm5_import(content=fleiss_with_risk_of_bias(), file_name="in.rm5", slug="rob-round-1").review
    exported = rm5_export(first)
    second = rm5_import(content=exported, file_name="out.rm5", slug="rob-round-2")
    # Our export writes the tool's seven domains by their RevMan 5.1 names: nothing left to warn about.
    assert not [w for w in second.warnings if w.startswith("Risk of bias")]
    assert _judgments(second.review) == _judgments(first)
    support = dict(RiskOfBiasJudgment.objects.filter(
        assessment__study__review=second.review, assessment__study__label="ISIS-2").values_list("domain", "support"))
    assert support["random_sequence"] == "Quote: computer-generated list"


def test_imported_judgments_are_settled_work_and_say_where_they_come_from():
    review = rm5_import(content=FLEISS.read_bytes(), file_name="Fleiss1993.rm5", slug="fleiss-rob-list").review
    assessor = get_user_model().objects.create_user("rob-list-assessor", password="a-long-test-password")
    membership_add(review=review, user=assessor, role=Role.ASSESSOR)
    # 12 studies with an imported consensus that judges one domain (allocation concealment): the other
    # domains are still the team's to assess, so all 12 wait for this assessor.
    assert selectors.rob_work(review=review, assessor=assessor).to_enter == 12
    client = Client()
    client.force_login(assessor)
    html = client.get(f"/reviews/{review.slug}/risk-of-bias/").content.decode()
    assert html.count("imported from RevMan file Fleiss1993.rm5") == 12
    # The API says the same: the consensus is nobody's here, and names its file.
    listed = client.get(f"/api/reviews/{review.slug}/rob1-assessments/?page_size=100").json()["results"]
    assert len(listed) == 12
    assert {(a["is_consensus"], a["assessor"], a["imported_from"]) for a in listed} == {
        (True, None, "RevMan file Fleiss1993.rm5")}


def test_an_import_never_replaces_a_consensus_and_every_assessment_is_someone_s():
    review = rm5_import(content=FLEISS.read_bytes(), file_name="Fleiss1993.rm5", slug="fleiss-rob-twice").review
    study = Study.objects.get(review=review, label="ISIS-2")
    entry = Rob1Entry(judgments={"random_sequence": "low"}, support={})
    with pytest.raises(ValidationError, match="already has a consensus"):
        rob1_consensus_import(study=study, entry=entry, imported_from="RevMan file again.rm5")
    assert _judgments(review)["ISIS-2"] == {"allocation_concealment": "unclear"}
    # The database refuses an assessment that is nobody's and not imported.
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskOfBiasAssessment.objects.create(study=study, is_consensus=False)


def test_a_consensus_the_team_records_later_replaces_the_imported_one():
    review = rm5_import(content=FLEISS.read_bytes(), file_name="Fleiss1993.rm5", slug="fleiss-rob-again").review
    study = Study.objects.get(review=review, label="ISIS-2")
    users = get_user_model().objects
    first, second = (users.create_user(name, password="a-long-test-password") for name in ("rob-a", "rob-b"))
    for user in (first, second):
        membership_add(review=review, user=user, role=Role.ASSESSOR)
        rob1_assessment_save(study=study, assessor=user, entry=rob1_entry(), submit=True)
    consensus = rob1_consensus_save(study=study, recorded_by=first, entry=rob1_entry())
    consensus.refresh_from_db()
    assert (consensus.imported_from, consensus.assessor, consensus.recorded_by) == ("", first, "rob-a")
    assert _judgments(review)["ISIS-2"] == rob1_entry().judgments
