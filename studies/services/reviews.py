"""Setting up a review and its team."""
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from studies.models import ExclusionReason, Review, ReviewMembership, Role, TimePoint
from studies.services.entities import entity_save


# A new review's full-text exclusion reasons, one per PICO element and the design (Cochrane Handbook
# 4.6.6; PRISMA 2020 item 16b asks why each full text was excluded): a full-text exclusion needs one,
# so a review without any could not exclude at all. The manager edits the list in the back office.
DEFAULT_EXCLUSION_REASONS = (
    "Wrong population", "Wrong intervention", "Wrong comparator", "Wrong outcomes", "Wrong study design",
    "Wrong publication type (e.g. conference abstract, commentary)",
)


def review_slug(title: str) -> str:
    """A review's address made from its title, for when the person starting it gives none."""
    return slugify(title)[:100].strip("-") or "review"


@transaction.atomic
def review_create(*, title: str, slug: str, created_by: AbstractBaseUser | None = None,
                  exclusion_reasons: Sequence[str] = DEFAULT_EXCLUSION_REASONS, **fields: object) -> Review:
    """Create a review with its default analysis time point and full-text exclusion reasons, making
    its creator a manager."""
    review = entity_save(instance=Review(title=title, slug=slug, **fields))
    entity_save(instance=TimePoint(review=review, label="End of intervention", order=0, is_analysis_default=True))
    for order, label in enumerate(exclusion_reasons):
        entity_save(instance=ExclusionReason(review=review, label=label, order=order))
    if created_by is not None:
        membership_add(review=review, user=created_by, role=Role.MANAGER)
    return review


@transaction.atomic
def membership_add(*, review: Review, user: AbstractBaseUser, role: Role | str) -> ReviewMembership:
    """Give a user a role in a review (idempotent: an existing role is returned as it is). A new
    manager gets the back office with it (``back_office_grant``), whichever door made them one: the
    admin, the API, the team page, an accepted invitation, a new review's creator, the demo."""
    existing = ReviewMembership.objects.filter(review=review, user=user, role=role).first()
    if existing is not None:
        return existing
    membership = entity_save(instance=ReviewMembership(review=review, user=user, role=role))
    if role == Role.MANAGER:
        back_office_grant(user=user)
    return membership


@transaction.atomic
def membership_remove(*, membership: ReviewMembership) -> None:
    """Take a role away from a user; a review always keeps at least one manager (else nobody could
    run it without the back office)."""
    if membership.role == Role.MANAGER:
        managers = ReviewMembership.objects.select_for_update().filter(review_id=membership.review_id,
                                                                        role=Role.MANAGER)
        if len(managers) <= 1:
            raise ValidationError("A review keeps at least one manager; add another before removing this one.")
    ReviewMembership.objects.filter(pk=membership.pk).delete()
    if membership.role == Role.MANAGER and not ReviewMembership.objects.filter(
            user_id=membership.user_id, role=Role.MANAGER).exists():
        # Managing no review any more: the group's permissions (adding reviews among them) go too.
        # The staff flag stays: without the group it opens nothing, and a superuser may have set it.
        for group in Group.objects.filter(name=MANAGERS_GROUP):
            group.user_set.remove(membership.user_id)


MANAGERS_GROUP = "Review managers"


def managers_group_ensure() -> Group:
    """The admin group that lets managers use the back office (what they see is scoped to the
    reviews they manage by the admin's querysets)."""
    group, _ = Group.objects.get_or_create(name=MANAGERS_GROUP)
    group.permissions.set(
        Permission.objects.filter(content_type__app_label="studies")
        | Permission.objects.filter(content_type__app_label="analysis", codename__startswith="view_")
    )
    return group


def back_office_grant(*, user: AbstractBaseUser) -> None:
    """Open the back office to a manager: staff status and the managers' group (what they see there
    is scoped to the reviews they manage). The one way a person gets it; ``membership_add`` calls it."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(managers_group_ensure())
