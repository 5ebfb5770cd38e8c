"""Bringing people into a review's team: invitations by e-mail (issue 18)."""
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from studies.models.reviews import Review, Role

# How long an invitation link stays valid after it was (re)sent.
INVITATION_VALID_FOR = timedelta(days=7)


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    # Not stored: a pending invitation whose link is past ``expires_at`` (see ``Invitation.state``).
    EXPIRED = "expired", "Expired"


STORED_STATUSES = [(status.value, status.label) for status in
                   (InvitationStatus.PENDING, InvitationStatus.ACCEPTED, InvitationStatus.REVOKED)]


class Invitation(models.Model):
    """An invitation to join a review's team with one or more roles, sent to an e-mail address.

    The link is ``signing``-signed over the invitation's id and ``link_key`` (``studies.services.team``),
    so it can be shown again on the team page; ``link_key`` changes on every resend, which makes any
    earlier link invalid. Single use and revocation are this row's ``status``; expiry is ``expires_at``.
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    roles = ArrayField(models.CharField(max_length=20, choices=Role.choices))
    status = models.CharField(max_length=10, choices=STORED_STATUSES, default=InvitationStatus.PENDING)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # The per-issue secret half of the link (with the site's SECRET_KEY): never shown, never audited.
    link_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["review", "-sent_at"]
        constraints = [
            models.CheckConstraint(condition=Q(roles__len__gt=0), name="invitation_has_a_role",
                                   violation_error_message="Choose at least one role."),
            # One open invitation per address and review: a second one would leave two live links.
            models.UniqueConstraint(Lower("email"), "review", condition=Q(status="pending"),
                                    name="invitation_one_pending_per_address",
                                    violation_error_message="This address already has a pending invitation to "
                                                            "this review: resend or revoke it."),
            models.CheckConstraint(condition=~Q(status="accepted") | Q(accepted_at__isnull=False),
                                   name="invitation_accepted_has_time"),
        ]

    @property
    def state(self) -> str:
        """The status a person sees: pending links past their expiry are "expired"."""
        if self.status == InvitationStatus.PENDING and self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return self.status

    def state_label(self) -> str:
        return InvitationStatus(self.state).label

    def role_labels(self) -> list[str]:
        return [Role(role).label for role in self.roles]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.review}"
