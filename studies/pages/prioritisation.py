"""The manager's page of prioritised screening (issue 22): ranked or in order, the stopping rule with
its confidence and the recall curve, and the team's recorded decision to stop."""
from __future__ import annotations

from itertools import accumulate

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from studies import access, selectors
from studies.models import STOPPING_GUARANTEE_RANGE, ScreeningOrder, ScreeningPrioritisation, StoppingDecision
from studies.prioritisation.figures import recall_curve_svg
from studies.services import prioritisation as services


def _refusal(refused: ValidationError | PermissionDenied) -> str:
    if isinstance(refused, ValidationError):
        return " ".join(refused.messages)
    return str(refused)


@login_required
@require_http_methods(["GET", "POST"])
def prioritisation_page(request: HttpRequest, slug: str) -> HttpResponse:
    review, _ = access.review_for(request, slug, access.MANAGER, action="manage prioritised screening")
    error = None
    if request.method == "POST":
        try:
            action = request.POST.get("action")
            if action == "order":
                services.prioritisation_set(review=review, user=request.user, order=request.POST.get("order", ""))
            elif action == "rule":
                services.stopping_rule_set(review=review, user=request.user,
                                           recall_target=request.POST.get("recall_target", ""),
                                           confidence=request.POST.get("confidence", ""))
            elif action == "stop":
                services.stopping_decision_record(review=review, user=request.user, note=request.POST.get("note", ""))
            elif action == "resume":
                decision = StoppingDecision.objects.filter(review=review, withdrawn_at__isnull=True).first()
                if decision is not None:
                    services.stopping_decision_withdraw(decision=decision, user=request.user)
            else:
                raise ValidationError("Unknown action.")
            return redirect("studies:prioritisation", slug=review.slug)
        except (ValidationError, PermissionDenied) as refused:
            error = _refusal(refused)
    setting = ScreeningPrioritisation.objects.filter(review=review).first()
    evidence = selectors.stopping_evidence(review=review)
    estimate = services.stopping_now(review=review, with_missed_bound=True)
    found = list(accumulate([*([1] * evidence.relevant_before), *([0] * (evidence.known_before
                                                                          - evidence.relevant_before)),
                             *evidence.ranked_labels]))
    description = (f"{estimate.relevant_found} relevant records found in {estimate.records_screened} settled of "
                   f"{estimate.records_total} title/abstract records; ranking began after {evidence.known_before}.")
    return render(request, "studies/screening/prioritisation.html", {
        "review": review, "error": error,
        "order": setting.order if setting else ScreeningOrder.IN_ORDER, "orders": ScreeningOrder.choices,
        "ranked_since": evidence.ranked_since, "estimate": estimate,
        "alpha": 1 - estimate.confidence, "stopping_range": STOPPING_GUARANTEE_RANGE,
        "share_left_percent": round(100 * estimate.share_left, 1),
        "curve": mark_safe(recall_curve_svg(found, estimate.records_total, ranked_from=evidence.known_before,
                                            description=description)),
        "standing": StoppingDecision.objects.filter(review=review, withdrawn_at__isnull=True)
        .select_related("decided_by").first(),
        "not_screened": selectors.records_not_screened_after_stopping_rule(review),
    })
