"""Reads of the review database (HackSoft style: views and APIs call these, never ad-hoc queries)."""
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from studies.models import Review, ReviewMembership, RiskOfBiasAssessment, Rob2Assessment, Role


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


# --- Risk of bias: blinding between assessors -------------------------------------------------


def rob_blinded(queryset: QuerySet, user, item_fields: tuple[str, ...]) -> QuerySet:
    """Risk-of-bias assessments of one review as ``user`` may see them (DESIGN.md: blinding is a
    data-access rule, enforced here so that no page can show more).

    Always visible: the consensus and the user's own assessments. Another assessor's assessment
    only once it is submitted and "both have submitted": the user's own assessment of the same item
    is submitted too, or, for someone without one (a manager arbitrating), a second assessment of the
    item is submitted.
    """
    model = queryset.model
    same_item = {field: OuterRef(field) for field in item_fields}
    individual = model.objects.filter(is_consensus=False, **same_item)
    own = individual.filter(assessor=user)
    own_submitted = own.filter(submitted_at__isnull=False)
    another_submitted = individual.filter(submitted_at__isnull=False).exclude(pk=OuterRef("pk"))
    return queryset.filter(
        Q(is_consensus=True) | Q(assessor=user)
        | (Q(submitted_at__isnull=False) & (Exists(own_submitted) | (~Exists(own) & Exists(another_submitted))))
    )


def rob2_assessments_visible(user, review: Review) -> QuerySet:
    """RoB 2 assessments of a review that ``user`` may see (answers and judgments prefetched)."""
    queryset = (Rob2Assessment.objects.filter(study__review=review)
                .select_related("assessor", "study", "outcome").prefetch_related("answers", "domains"))
    return rob_blinded(queryset, user, ("study", "outcome"))


def rob1_assessments_visible(user, review: Review) -> QuerySet:
    """RoB 1 assessments of a review that ``user`` may see (judgments prefetched)."""
    queryset = (RiskOfBiasAssessment.objects.filter(study__review=review)
                .select_related("assessor", "study").prefetch_related("judgments"))
    return rob_blinded(queryset, user, ("study",))
