"""Who may do what through the API, per review: deny unless a role allows it.

A review that a user may not see does not exist for them (404), whatever the endpoint; a review
they may see answers 403 for what their roles do not allow. Roles come from ``ReviewMembership``;
"public" lets anyone read what the published review's pages show anyway.
"""
from django.http import Http404
from rest_framework.permissions import SAFE_METHODS, BasePermission

from analysis.selectors import review_visible_to
from studies.models import Review, ReviewMembership, Role

PUBLIC = "public"
TEAM = frozenset(Role.values)
MANAGER = frozenset({Role.MANAGER})
EXTRACTION = frozenset({Role.MANAGER, Role.EXTRACTOR})


def request_review(request, slug: str) -> Review:
    """The review named in the URL, if the user may see it (cached on the request)."""
    cache = request.__dict__.setdefault("_reviews", {})
    if slug not in cache:
        review = review_visible_to(request.user).filter(slug=slug).first()
        if review is None:
            raise Http404("No such review.")
        cache[slug] = review
    return cache[slug]


def request_roles(request, review: Review) -> frozenset[str]:
    """The user's roles in the review (a superuser holds every role; anyone holds "public" on a
    published review)."""
    cache = request.__dict__.setdefault("_roles", {})
    if review.pk not in cache:
        user = request.user
        roles: set[str] = set()
        if user.is_authenticated:
            roles = TEAM if user.is_superuser else set(
                ReviewMembership.objects.filter(review=review, user=user).values_list("role", flat=True))
        if review.is_public:
            roles = {*roles, PUBLIC}
        cache[review.pk] = frozenset(roles)
    return cache[review.pk]


class ReviewRoleAccess(BasePermission):
    """Reads need one of the view's ``read_roles``, writes one of its ``write_roles``."""

    message = "Your roles in this review do not allow this."

    def has_permission(self, request, view) -> bool:
        review = request_review(request, view.kwargs["slug"])
        allowed = view.read_roles if request.method in SAFE_METHODS else view.write_roles
        return bool(request_roles(request, review) & allowed)
