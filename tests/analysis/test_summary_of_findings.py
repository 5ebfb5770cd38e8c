"""The GRADE summary of findings (issue 24) on real reviews: the automatic judgments agree with the
published rules applied independently to the analysis API's own numbers; absolute effects follow the
pooled relative effect and the stated control risk; overrides are people's, audited, and flagged for
a second look when the data change the rule's judgment; access is the analysis API's."""
from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
import pytest

from analysis import services
from analysis.models import GradeOverrideEvent, SummaryOfFindingsOutcomeEvent
from analysis.services import summary_of_findings as sof
from studies.models import Arm, ArmRole, DataType, EffectMeasure, Outcome, OutcomeData, Role, Study
from studies.services import entity_save, membership_add
from studies.services.revman import rm5_import
from tests.shared_data import SHARED_DATA

pytestmark = pytest.mark.django_db


def recompute(review) -> None:
    services.review_recompute(review.pk)
    assert not services.review_is_behind(review.pk)


def api(client, slug: str, what: str = "summary-of-findings/"):
    response = client.get(f"/api/reviews/{slug}/{what}")
    assert response.status_code == 200, response.content[:500]
    return response.json()


# The rules, written again from the published thresholds (not imported from the code under test):
# Pollock et al. 2016 Table 2; GRADE guidelines 4, 6, 7; GRADE handbook 5.2.1; Cochrane Handbook 13.3.5.4.
def expected_levels(detail: dict, funnel_min: int, threshold: float = 0.2,
                    threshold_chosen: bool = False) -> dict[str, int]:
    chosen = detail[detail["chosen_model"]]
    weight = "weight_random" if detail["chosen_model"] == "random" else "weight_fixed"
    weights = {s["study"]: s[weight] for s in detail["studies"] if s["estimable"]}
    total = sum(weights.values())
    rob = {label: e["overall"] for label, e in (detail.get("risk_of_bias") or {"studies": {}})["studies"].items()}
    low = 100 * sum(w for s, w in weights.items() if rob.get(s) == "low") / total
    high = 100 * sum(w for s, w in weights.items() if rob.get(s) == "high") / total
    risk_of_bias = 2 if high >= 50 else 1 if low < 75 else 0

    i2, k = detail["heterogeneity"]["i2"], chosen["k"]
    pl, ph = detail["random"]["prediction_low"], detail["random"]["prediction_high"]
    spans = pl is not None and ph is not None and pl <= -threshold and ph >= threshold
    inconsistency = 0 if k < 2 or i2 is None else 1 if i2 > 75 or (i2 > 50 and spans) else 0

    n = sum(a["intervention"]["n"] + a["control"]["n"] for a in detail["arms"])
    ois = 2 * 393  # 2 × ceil(2 (z.975 + z.8)² / 0.2²), Rscript -e 'z<-qnorm(.975)+qnorm(.8); ceiling(2*z^2/.04)'
    low_ci, high_ci, estimate = chosen["ci_low"], chosen["ci_high"], chosen["estimate"]
    side = threshold if estimate > 0 else -threshold
    # Crossing the threshold on the estimate's side counts only for a threshold the review chose.
    crosses = threshold_chosen and low_ci < side < high_ci
    ci = 2 if low_ci <= -threshold and high_ci >= threshold else 1 if low_ci <= 0 <= high_ci or crosses else 0
    imprecision = max(ci, 1 if n < ois else 0, 2 if n < 100 else 1 if n < 200 else 0)

    egger = (detail.get("egger") or {}).get("p")
    publication = 1 if k >= funnel_min and egger is not None and egger < 0.10 else 0
    return {"risk_of_bias": risk_of_bias, "inconsistency": inconsistency, "indirectness": 0,
            "imprecision": min(imprecision, 2), "publication_bias": publication}


def test_the_demo_reviews_judgments_follow_the_rules_applied_to_the_analysis_apis_numbers(client, demo_review):
    recompute(demo_review)
    client.force_login(get_user_model().objects.get(username="demo-manager"))
    analysis = {(r["outcome"], r["time_point"]): r for r in api(client, demo_review.slug, "analysis/")["results"]
                if r["analysis_set"] == "main" and r["subgroup_variable"] is None}
    entries = api(client, demo_review.slug)
    assert len(entries) == len([r for r in analysis.values() if r["estimate"] is not None]) >= 10
    seen = set()
    for entry in entries:
        result = analysis[(entry["outcome"], entry["time_point"])]
        levels = {d["domain"]: d["levels"] for d in entry["domains"]}
        assert levels == expected_levels(result["detail"], demo_review.funnel_min_studies), entry["outcome"]
        assert all(d["automatic"] and d["reason"] and d["rule"] for d in entry["domains"])
        assert entry["certainty"] == ["high", "moderate", "low", "very low"][min(3, sum(levels.values()))]
        assert (entry["estimate"], entry["ci_low"], entry["ci_high"], entry["k"]) == \
            (result["estimate"], result["ci_low"], result["ci_high"], result["k"])
        assert entry["interpretation"]["statement"] and entry["absolute_effect"] is None  # SMDs
        seen.update((d, v) for d, v in levels.items())
    # The demo exercises more than one outcome of the rules (not all "no downgrade").
    assert {("risk_of_bias", 1), ("inconsistency", 1), ("inconsistency", 0), ("imprecision", 1)} <= seen


@pytest.fixture
def dichotomous(small):
    """The small review with a dichotomous outcome (RR) in three studies; control risks 10%, 20%, 30%."""
    outcome = entity_save(instance=Outcome(review=small.review, domain=small.outcome.domain, name="Relapse",
                                           data_type=DataType.DICHOTOMOUS, effect_measure=EffectMeasure.RR,
                                           direction="lower"))
    studies = [(small.study, small.intervention, small.control)]
    for label, year in (("Second 2021", 2021), ("Third 2022", 2022)):
        study = entity_save(instance=Study(review=small.review, label=label, year=year))
        studies.append((study, entity_save(instance=Arm(study=study, role=ArmRole.INTERVENTION, label="Peer", randomised=100)),
                        entity_save(instance=Arm(study=study, role=ArmRole.CONTROL, label="Usual", randomised=100))))
    counts = ((2, 4, 40), (12, 20, 100), (20, 30, 100))  # intervention events, control events, per-arm total
    for (study, intervention, control), (e1, e2, total) in zip(studies, counts, strict=True):
        for arm, events in ((intervention, e1), (control, e2)):
            entity_save(instance=OutcomeData(study=study, outcome=outcome, time_point=small.time_point, arm=arm,
                                             events=events, total=total))
    recompute(small.review)
    return outcome


def test_absolute_effects_follow_the_pooled_ratio_and_the_stated_control_risk(client, small, dichotomous):
    client.force_login(small.manager)
    entry = next(e for e in api(client, "small-review") if e["outcome"] == "Relapse")
    ratio = entry["relative_effect"]
    assert ratio["measure"] == "RR" and ratio["text"].startswith("RR ")
    absolute = entry["absolute_effect"]
    # Risk with control: the median control risk of the included studies (20 of 100).
    assert absolute["control_risk"] == pytest.approx(0.2) and absolute["risk_with_control_per_1000"] == 200
    assert absolute["risk_with_intervention_per_1000"] == round(1000 * 0.2 * ratio["estimate"])
    assert absolute["risk_with_intervention_ci_per_1000"] == [round(200 * ratio["ci_low"]), round(200 * ratio["ci_high"])]
    assert absolute["difference_per_1000"] == round(200 * ratio["estimate"] - 200)
    # The OIS for a 25% relative reduction from 20% (GRADE handbook 5.2.1), Rscript as in test_engine_grade.
    assert entry["optimal_information_size"] == 1806
    imprecision = next(d for d in entry["domains"] if d["domain"] == "imprecision")
    assert imprecision["levels"] >= 1 and "1806" in imprecision["reason"]

    # A control risk the manager gives replaces the median, after the recompute it causes.
    sof.sof_outcome_set(review=small.review, user=small.manager, outcome=dichotomous, position=1, control_risk=0.05)
    assert services.review_is_behind(small.review.pk)
    recompute(small.review)
    entry = next(e for e in api(client, "small-review") if e["outcome"] == "Relapse")
    assert entry["in_table"] and entry["position"] == 1
    assert entry["absolute_effect"]["risk_with_control_per_1000"] == 50
    assert entry["absolute_effect"]["risk_with_intervention_per_1000"] == round(50 * entry["relative_effect"]["estimate"])
    assert "set by the manager" in entry["absolute_effect"]["control_risk_source"]
    assert SummaryOfFindingsOutcomeEvent.objects.filter(outcome=dichotomous).count() == 1
    # The table downloads show the chosen outcome only.
    csv = client.get("/reviews/small-review/summary-of-findings.csv").content.decode()
    assert csv.splitlines()[1].startswith("Relapse,") and "Self-stigma" not in csv
    html = client.get("/reviews/small-review/summary-of-findings.html")
    assert html["Content-Disposition"].endswith('summary-of-findings.html"') and "50 per 1,000" in html.content.decode()


def test_manager_settings_are_checked(small, dichotomous):
    with pytest.raises(ValidationError, match="ratio above 1"):
        sof.sof_outcome_set(review=small.review, user=small.manager, outcome=dichotomous, position=1,
                            decision_threshold=0.8)
    with pytest.raises(ValidationError, match="dichotomous"):
        sof.sof_outcome_set(review=small.review, user=small.manager, outcome=small.outcome, position=1,
                            control_risk=0.2)
    with pytest.raises(ValidationError, match="1 to 7"):
        sof.sof_outcome_set(review=small.review, user=small.manager, outcome=small.outcome, position=8)
    sof.sof_outcome_set(review=small.review, user=small.manager, outcome=small.outcome, position=1)
    with pytest.raises(ValidationError, match="already shows"):
        sof.sof_outcome_set(review=small.review, user=small.manager, outcome=dichotomous, position=1)
    assessor = get_user_model().objects.create_user("assessor", password="a-long-test-password")
    membership_add(review=small.review, user=assessor, role=Role.ASSESSOR)
    with pytest.raises(PermissionDenied):
        sof.sof_outcome_set(review=small.review, user=assessor, outcome=dichotomous, position=2)


def test_an_override_is_audited_survives_recomputes_and_is_flagged_when_the_rule_changes(client, small):
    recompute(small.review)
    assessor = get_user_model().objects.create_user("assessor", password="a-long-test-password")
    membership_add(review=small.review, user=assessor, role=Role.ASSESSOR)
    screener = get_user_model().objects.create_user("screener", password="a-long-test-password")
    membership_add(review=small.review, user=screener, role=Role.SCREENER)
    with pytest.raises(PermissionDenied):
        sof.grade_override_set(review=small.review, user=screener, outcome=small.outcome, domain="imprecision",
                               levels=0, reason="x")
    with pytest.raises(ValidationError, match="written reason"):
        sof.grade_override_set(review=small.review, user=assessor, outcome=small.outcome, domain="imprecision",
                               levels=0, reason="  ")
    # One study of 77 participants: imprecision is two levels by the rule (Pollock: < 100 participants).
    sof.grade_override_set(review=small.review, user=assessor, outcome=small.outcome, domain="imprecision",
                           levels=1, reason="The CI excludes every effect that would matter to patients.")
    recompute(small.review)
    client.force_login(small.manager)
    domain = next(d for d in api(client, "small-review")[0]["domains"] if d["domain"] == "imprecision")
    assert (domain["levels"], domain["automatic"], domain["automatic_levels"], domain["needs_second_look"]) == (1, False, 2, False)
    assert domain["override"]["by"] == "assessor" and domain["reason"].startswith("The CI excludes")
    assert GradeOverrideEvent.objects.filter(pgh_obj__outcome=small.outcome).count() == 1

    # Data that change the rule's judgment (a large second study: 400 participants, a clear effect):
    # the override stays, flagged for a second look.
    study = entity_save(instance=Study(review=small.review, label="Big 2023", year=2023))
    for role, mean in ((ArmRole.INTERVENTION, -5.0), (ArmRole.CONTROL, -1.0)):
        arm = entity_save(instance=Arm(study=study, role=role, label=role.label, randomised=200))
        entity_save(instance=OutcomeData(study=study, outcome=small.outcome, time_point=small.time_point, arm=arm,
                                         n=200, mean=mean, sd=6.0))
    recompute(small.review)
    entry = api(client, "small-review")[0]
    domain = next(d for d in entry["domains"] if d["domain"] == "imprecision")
    assert domain["levels"] == 1 and not domain["automatic"] and domain["automatic_levels"] != 2
    assert domain["needs_second_look"] and entry["needs_second_look"]
    page = client.get("/reviews/small-review/summary-of-findings/").content.decode()
    assert "needs a second look" in page
    # Back to the rule: audited too.
    sof.grade_override_remove(review=small.review, user=assessor, outcome=small.outcome, domain="imprecision")
    assert GradeOverrideEvent.objects.filter(pgh_obj_id__isnull=False).count() == 2
    # The manager reads both in the review's audit trail (page and API), under the GRADE label.
    trail = client.get("/api/reviews/small-review/audit/?entity=grade-override").json()["results"]
    assert [event["action"] for event in trail] == ["delete", "insert"]
    assert trail[1]["new"]["reason"].startswith("The CI excludes") and trail[1]["new"]["levels"] == 1
    assert "GRADE judgment made by a person" in client.get("/reviews/small-review/audit/").content.decode()


def test_readers_see_the_table_as_they_see_the_analysis(client, small):
    recompute(small.review)
    assert client.get("/api/reviews/small-review/summary-of-findings/").status_code == 404  # unpublished
    assert client.get("/reviews/small-review/summary-of-findings/").status_code == 404
    assert client.get("/reviews/small-review/summary-of-findings/assess/").status_code == 302  # sign in first
    screener = get_user_model().objects.create_user("screener", password="a-long-test-password")
    membership_add(review=small.review, user=screener, role=Role.SCREENER)
    client.force_login(screener)
    assert client.get("/api/reviews/small-review/summary-of-findings/").status_code == 200
    assert client.get("/reviews/small-review/summary-of-findings/assess/").status_code == 403
    page = client.get("/reviews/small-review/summary-of-findings/").content.decode()
    assert "Self-stigma" in page and "⊕" in page and "Download the table (CSV)" in page


FLEISS = SHARED_DATA / "rm5" / "Fleiss1993.rm5"
if not FLEISS.exists():  # the same file as the RevMan import tests read
    FLEISS = Path(__file__).resolve().parents[3] / "shared" / "data" / "rm5" / "Fleiss1993.rm5"


def test_a_real_dichotomous_review_absolute_effects_match_metafor(client, small):
    """Fleiss 1993 (aspirin after myocardial infarction, 7 trials, imported from its RevMan file): the
    per-1,000 cells from the pooled MH odds ratio and the median control risk, as metafor gives them:
    Rscript -e 'library(metafor); xt=c(49,44,32,102,246,85,1570); nt=c(615,758,317,832,2267,810,8587);
      xc=c(67,64,38,126,219,52,1720); nc=c(624,771,309,850,2257,406,8600); acr<-median(xc/nc);
      m<-rma.mh(ai=xt,n1i=nt,ci=xc,n2i=nc,measure="OR"); or<-exp(c(m$b,m$ci.lb,m$ci.ub));
      print(acr); print(or); print(1000*or*acr/(1-acr+or*acr))'
    → ACR 0.1229773463; OR 0.896866 (0.840514 to 0.956995); 111.7110 (105.4321 to 118.3144) per 1,000;
    OIS (25% RRR from the ACR) 3182: z<-qnorm(.975)+qnorm(.8); p2<-acr*.75;
      2*ceiling(z^2*(acr*(1-acr)+p2*(1-p2))/(acr-p2)^2)."""
    review = rm5_import(content=FLEISS.read_bytes(), file_name="Fleiss1993.rm5", slug="fleiss-sof",
                        created_by=small.manager).review
    recompute(review)
    client.force_login(small.manager)
    entry = next(e for e in api(client, "fleiss-sof") if e["measure"] == "OR")
    assert entry["outcome"] == "Aspirin for Preventing Death after Myocardial Infarction"
    assert (entry["k"], entry["participants"]) == (7, 28003)
    ratio = entry["relative_effect"]
    assert (ratio["estimate"], ratio["ci_low"], ratio["ci_high"]) == pytest.approx((0.896866, 0.840514, 0.956995), abs=1e-6)
    assert ratio["text"] == "OR 0.90 (0.84 to 0.96)"
    absolute = entry["absolute_effect"]
    assert absolute["control_risk"] == pytest.approx(0.1229773463, abs=1e-10)
    assert absolute["exact"]["intervention_per_1000"] == pytest.approx(111.7110, abs=1e-4)
    assert absolute["exact"]["intervention_low_per_1000"] == pytest.approx(105.4321, abs=1e-4)
    assert absolute["exact"]["intervention_high_per_1000"] == pytest.approx(118.3144, abs=1e-4)
    assert (absolute["risk_with_control_per_1000"], absolute["risk_with_intervention_per_1000"],
            absolute["risk_with_intervention_ci_per_1000"]) == (123, 112, [105, 118])
    assert (absolute["difference_per_1000"], absolute["difference_ci_per_1000"]) == (-11, [-18, -5])
    assert entry["optimal_information_size"] == 3182
    assert next(d for d in entry["domains"] if d["domain"] == "imprecision")["levels"] == 0


def test_the_assessment_page_overrides_through_the_service(client, small):
    recompute(small.review)
    client.force_login(small.manager)
    page = "/reviews/small-review/summary-of-findings/assess/"
    assert "Rule says" in client.get(page).content.decode()
    response = client.post(page, {"action": "override", "outcome": small.outcome.pk, "domain": "indirectness",
                                  "levels": "1", "reason": "Only adolescents; the question is about adults."})
    assert response.status_code == 302
    refused = client.post(page, {"action": "override", "outcome": small.outcome.pk, "domain": "indirectness",
                                 "levels": "1", "reason": ""}, follow=True)
    assert "written reason" in refused.content.decode()
    client.post(page, {"action": "table", "outcome": small.outcome.pk, "position": "2", "decision_threshold": "0.3",
                       "familiar_scale": "ISMI", "familiar_sd": "0.5"})
    recompute(small.review)
    entry = api(client, "small-review")[0]
    indirectness = next(d for d in entry["domains"] if d["domain"] == "indirectness")
    assert (indirectness["levels"], indirectness["automatic"]) == (1, False)
    assert entry["position"] == 2 and entry["decision_threshold"] == 0.3
    assert entry["back_translation"]["mean_difference"] == pytest.approx(entry["estimate"] * 0.5)
    assert "Indirectness: rated down 1 level (assessor's judgment; the rule said 0)" in " ".join(entry["footnotes"])


def test_the_demo_review_chooses_its_table_as_a_manager_would(client, demo_review):
    """Seven outcomes in the order of the review's domains, the primary re-expressed on its own
    (synthetic) scale with the median SD of its control groups, each choice in the audit trail."""
    from statistics import median

    from analysis.models import SummaryOfFindingsOutcomeEvent
    from studies.models import ArmRole, OutcomeData

    recompute(demo_review)
    client.force_login(get_user_model().objects.get(username="demo-manager"))
    rows = sorted((e for e in api(client, demo_review.slug) if e["in_table"]), key=lambda e: e["position"])
    assert [e["outcome"] for e in rows] == ["Self-stigma", "Stigma stress", "Depression", "Hopelessness",
                                             "Recovery", "Empowerment", "Secrecy"]
    assert [e["position"] for e in rows] == [1, 2, 3, 4, 5, 6, 7]
    sds = OutcomeData.objects.filter(outcome__review=demo_review, outcome__name="Self-stigma", arm__role=ArmRole.CONTROL,
                                     time_point__is_analysis_default=True).values_list("confirmed_sd", flat=True)
    back = rows[0]["back_translation"]
    assert back["scale"] == "Self-stigma scale (synthetic)" and back["sd"] == round(median(sds), 2)
    assert back["mean_difference"] == pytest.approx(rows[0]["estimate"] * back["sd"], rel=1e-12)
    assert all(e["back_translation"] is None for e in rows[1:])
    assert SummaryOfFindingsOutcomeEvent.objects.filter(review=demo_review, pgh_label="insert").count() == 7
    page = client.get(f"/reviews/{demo_review.slug}/summary-of-findings/").content.decode()
    assert page.index("Self-stigma") < page.index("Stigma stress") < page.index("Secrecy")
    assert "Self-stigma scale (synthetic)" in page
