"""Reads of the review database (HackSoft style: views and APIs call these, never ad-hoc queries)."""
from django.db.models import Count, Q, QuerySet

from studies.models import Review, ReviewMembership, Role


def public_reviews() -> QuerySet[Review]:
    """Published reviews with their study counts, for the front page."""
    return (
        Review.objects.filter(is_public=True)
        .annotate(included_studies=Count("studies", filter=Q(studies__is_included=True)))
        .order_by("title")
    )


def managed_review_ids(user) -> QuerySet:
    """Ids of the reviews a user manages, as a subquery (no query runs until it is used)."""
    return ReviewMembership.objects.filter(user=user, role=Role.MANAGER).values("review_id")
