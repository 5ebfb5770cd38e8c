"""The GRADE assessment page (issue 24), for the people who judge certainty: risk-of-bias assessors and
managers override any domain with a written reason (or go back to the rule's judgment); managers
choose the table's outcomes (up to seven) and give thresholds, control risks and familiar scales.
Every write goes through ``analysis.services.summary_of_findings``."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from analysis import selectors
from analysis.engine.grade import DOMAIN_LABELS, DOMAINS
from analysis.models import SummaryOfFindingsOutcome
from analysis.services import summary_of_findings as sof_services
from studies import access


def _number(value: str | None, name: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValidationError({name: f"“{value}” is not a number."}) from None


def _post(request: HttpRequest, review, roles: frozenset[str]) -> str:
    action = request.POST.get("action")
    outcome_id = request.POST.get("outcome")
    if not (outcome_id or "").isdigit():
        raise ValidationError({"outcome": "Choose an outcome."})
    outcome = int(outcome_id)
    if action == "override":
        levels = request.POST.get("levels", "")
        if levels not in ("0", "1", "2"):
            raise ValidationError({"levels": "Rate down 0, 1 or 2 levels."})
        sof_services.grade_override_set(review=review, user=request.user, outcome=outcome,
                                        domain=request.POST.get("domain", ""), levels=int(levels),
                                        reason=request.POST.get("reason", ""))
        return "Your judgment replaces the rule's; the table shows it as an override."
    if action == "automatic":
        sof_services.grade_override_remove(review=review, user=request.user, outcome=outcome,
                                           domain=request.POST.get("domain", ""))
        return "The rule's judgment is back."
    if action == "table":
        position = (request.POST.get("position") or "").strip()
        if not position:
            sof_services.sof_outcome_remove(review=review, user=request.user, outcome=outcome)
            return "The outcome is no longer in the table."
        if not position.isdigit():
            raise ValidationError({"position": "The row is a number from 1 to 7."})
        sof_services.sof_outcome_set(
            review=review, user=request.user, outcome=outcome, position=int(position),
            decision_threshold=_number(request.POST.get("decision_threshold"), "decision_threshold"),
            control_risk=_number(request.POST.get("control_risk"), "control_risk"),
            familiar_scale=request.POST.get("familiar_scale", ""),
            familiar_sd=_number(request.POST.get("familiar_sd"), "familiar_sd"))
        return "The table's settings are saved; the judgments are recomputed with the analysis."
    raise ValidationError({"action": "Unknown action."})


@login_required
@require_http_methods(["GET", "POST"])
def grade_assessment_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/summary-of-findings/assess/``: each outcome's domains (the rule's judgment,
    any override, and forms to override or restore), and the managers' table settings."""
    review, roles = access.review_for(request, slug, access.GRADE_ASSESSORS, action="judge the certainty of evidence")
    if request.method == "POST":
        try:
            messages.success(request, _post(request, review, roles))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except PermissionDenied as denied:
            messages.error(request, str(denied))
        return redirect("review-grade-assessment", slug=slug)
    settings = {s.outcome_id: s for s in SummaryOfFindingsOutcome.objects.filter(review=review)}
    entries = [{**entry, "settings": settings.get(entry["outcome_id"]),
                "domain_rows": [{**d, "label": DOMAIN_LABELS[d["domain"]]} for d in entry["domains"]]}
               for entry in selectors.summary_of_findings(review)]
    return render(request, "analysis/grade_assessment.html", {
        "review": review, "entries": entries, "is_manager": bool(roles & access.MANAGER),
        "domains": [(d, DOMAIN_LABELS[d]) for d in DOMAINS], "status": selectors.analysis_status(review),
    })
