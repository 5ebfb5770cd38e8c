"""The API's door to ``studies.access``: DRF's permission class for the review endpoints.

Deny unless a role allows it: a review the user may not see does not exist for them (404), whatever
the endpoint; a review they may see answers 403, naming the role needed, for what their roles do not
allow. The rules themselves live in ``studies.access`` and nowhere else.
"""
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from studies import access
from studies.access import EXTRACTION, MANAGER, PUBLIC, TEAM
from studies.models import Review

__all__ = ["EXTRACTION", "MANAGER", "PUBLIC", "TEAM", "ReviewRoleAccess", "request_review", "request_roles"]

request_roles = access.request_roles


def request_review(request, slug: str) -> Review:
    """The review named in the URL, if the user may see it (memoised on the request)."""
    return access.review_for(request, slug, TEAM | {PUBLIC})[0]


class ReviewRoleAccess(BasePermission):
    """Reads need one of the view's ``read_roles``, writes one of its ``write_roles``."""

    message = "Your roles in this review do not allow this."

    def has_permission(self, request, view) -> bool:
        reading = request.method in SAFE_METHODS
        allowed = view.read_roles if reading else view.write_roles
        try:
            access.review_for(request, view.kwargs["slug"], allowed, action="read this" if reading else "change this")
        except PermissionDenied as denied:
            self.message = str(denied)  # DRF answers 401 to anonymous callers, 403 with this otherwise
            return False
        return True
