"""Reads of analysis results for pages and the API."""
from django.db.models import QuerySet

from analysis.models import ConclusionChange, OutcomeResult, ReviewAnalysisState
from studies.models import Review, ReviewMembership


def review_visible_to(user) -> QuerySet[Review]:
    """Reviews whose analyses a user may read: public ones, and those they are a member of."""
    public = Review.objects.filter(is_public=True)
    if user is None or not user.is_authenticated:
        return public
    if user.is_superuser:
        return Review.objects.all()
    return public | Review.objects.filter(pk__in=ReviewMembership.objects.filter(user=user).values("review_id"))


def analysis_status(review: Review) -> dict:
    """The versions readers poll: stale while results are older than the data."""
    state = ReviewAnalysisState.objects.filter(review=review).first()
    computed = state.computed_version if state else 0
    return {
        "review": review.slug,
        "data_version": review.data_version,
        "computed_version": computed,
        "computed_at": state.computed_at.isoformat() if state and state.computed_at else None,
        "stale": computed < review.data_version,
    }


def current_results(review: Review) -> QuerySet[OutcomeResult]:
    """The current run's results, with what their labels need, in the review's outcome order."""
    return (
        OutcomeResult.objects.filter(run__review=review, run_id=review.analysis_state.current_run_id)
        .select_related("outcome__domain", "time_point", "subgroup_field")
        .order_by("outcome__domain__order", "outcome__order", "outcome__name", "subgroup_field__order",
                  "analysis_set")
        if hasattr(review, "analysis_state") else OutcomeResult.objects.none()
    )


def conclusion_changes(review: Review) -> QuerySet:
    """The review's feed of conclusion changes, newest first."""
    return ConclusionChange.objects.filter(review=review).select_related("outcome", "run").order_by("-created_at", "-id")
