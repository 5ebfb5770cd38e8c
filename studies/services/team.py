"""Bringing people into a review's team (issue 18): invitations by e-mail and a manager's changes to
the roles of people already on the team. Every function checks the manager role itself
(``access.require_role``), so the team page, and any later door, apply the same rules.

The invitation link. Its token is ``<invitation id>.<signature>``, the signature a
``django.core.signing`` HMAC (keyed by the site's SECRET_KEY) over the id and the invitation's
``link_key``, a random value replaced on every resend. Why signed rather than a random token
stored hashed: the team page must be able to show a pending link again (so a team can start where
no mail is configured), and a hashed token cannot be shown twice; a signature can be recomputed by
the site, yet what the database holds (``link_key``) is useless without the secret key, so a
leaked backup or audit export gives no working link. Single use, revocation and expiry are the
row's state (``status``, ``expires_at``), read under a row lock when the link is used; a resend
rotates ``link_key``, which invalidates every earlier link. The key never enters the audit trail
(``studies.models.audit``).
"""
import logging
import secrets
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pghistory
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from studies import access
from studies.models import (
    INVITATION_VALID_FOR,
    Invitation,
    InvitationStatus,
    Review,
    ReviewMembership,
    Role,
)
from studies.services.entities import entity_save
from studies.services.reviews import membership_add, membership_remove

logger = logging.getLogger(__name__)

_LINK_SALT = "studies.invitation-link"
PENDING_ALREADY = "This address already has a pending invitation to this review: resend or revoke it."


class InvitationUnusable(Exception):
    """The link cannot be used: unknown or altered ("invalid"), or its invitation is accepted,
    revoked or expired. ``invitation`` is set for all but an invalid link."""

    def __init__(self, state: str, invitation: Invitation | None = None) -> None:
        self.state = state
        self.invitation = invitation
        super().__init__(f"This invitation link is {state}.")


@dataclass(frozen=True)
class InvitationIssued:
    """An invitation with the link just issued for it, and whether the mail went out."""

    invitation: Invitation
    link: str
    mailed: bool


# --- The link -------------------------------------------------------------------------------------


def _signature(invitation_id: int, link_key: str) -> str:
    return signing.Signer(salt=_LINK_SALT).signature(f"{invitation_id}.{link_key}")


def invitation_token(invitation: Invitation) -> str:
    """The token of the invitation's current link (see the module's docstring)."""
    return f"{invitation.pk}.{_signature(invitation.pk, invitation.link_key)}"


def invitation_path(invitation: Invitation) -> str:
    """The path of the invitation's current link (make it absolute with the request's host)."""
    return reverse("invitation-accept", kwargs={"token": invitation_token(invitation)})


def _invitation_for_token(token: str, *, lock: bool = False) -> Invitation:
    invitation_id, _, signature = token.partition(".")
    if not invitation_id.isdigit() or not signature:
        raise InvitationUnusable("invalid")
    invitations = Invitation.objects.select_related("review", "invited_by")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(pk=int(invitation_id)).first()
    if invitation is None or not constant_time_compare(signature, _signature(invitation.pk, invitation.link_key)):
        raise InvitationUnusable("invalid")  # an old link after a resend is as unknown as a made-up one
    return invitation


def invitation_open(*, token: str) -> Invitation:
    """The pending invitation a link stands for. Raises ``InvitationUnusable`` (with the reason) for
    an unknown or superseded link or an invitation that is accepted, revoked or expired."""
    invitation = _invitation_for_token(token)
    if invitation.state != InvitationStatus.PENDING:
        raise InvitationUnusable(invitation.state, invitation)
    return invitation


# --- Mail -----------------------------------------------------------------------------------------


def _roles_text(roles: Iterable[str]) -> str:
    return ", ".join(Role(role).label.lower() for role in roles)


def _invitation_mail(invitation: Invitation, link: str) -> bool:
    """Send the invitation; False (and the page shows the link to copy) when mail cannot go out."""
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "A manager"
    expires = timezone.localtime(invitation.expires_at).strftime("%d %B %Y, %H:%M %Z")
    body = (
        f"{inviter} invites you to join the team of the systematic review\n\n"
        f"    {invitation.review.title}\n\n"
        f"as {_roles_text(invitation.roles)}.\n\n"
        f"To accept, open this link (it works once, until {expires}):\n\n"
        f"    {link}\n\n"
        f"If you have no account on the site yet, the link lets you create one; if you have one, sign in "
        f"from the link and the roles are added to it.\n"
        f"If you did not expect this invitation, ignore this message or tell {inviter}.\n"
    )
    try:
        send_mail(f"Invitation to the review “{invitation.review.title}”", body, None, [invitation.email])
    except (smtplib.SMTPException, OSError) as failure:
        logger.warning("Invitation %s: mail to its address failed (%s)", invitation.pk, failure)
        return False
    return True


# --- Invitations ----------------------------------------------------------------------------------


def _clean_roles(roles: Iterable[str]) -> list[str]:
    chosen = set(roles)
    unknown = chosen - set(Role.values)
    if unknown:
        raise ValidationError({"roles": [f"Unknown role: {', '.join(sorted(unknown))}."]})
    if not chosen:
        raise ValidationError({"roles": ["Choose at least one role."]})
    return [role for role in Role.values if role in chosen]  # in the vocabulary's order


def invitation_create(*, review: Review, email: str, roles: Iterable[str], invited_by: AbstractBaseUser,
                      absolute_url: Callable[[str], str]) -> InvitationIssued:
    """Invite an e-mail address to the review's team with ``roles``, and mail the link.

    ``absolute_url`` makes the link's path absolute (the page passes ``request.build_absolute_uri``).
    Raises ``PermissionDenied`` for a non-manager and ``ValidationError`` (naming the field) for a bad
    address, no or unknown roles, or an address that already has a pending invitation here.
    """
    access.require_role(invited_by, review, access.MANAGER, "invite people to the team")
    now = timezone.now()
    invitation = Invitation(
        review=review, email=get_user_model().objects.normalize_email(email.strip()), roles=_clean_roles(roles),
        invited_by=invited_by, link_key=secrets.token_urlsafe(32), sent_at=now, expires_at=now + INVITATION_VALID_FOR,
    )
    try:
        entity_save(instance=invitation)
    except IntegrityError:  # the same address invited at the same moment by another manager
        raise ValidationError({"email": [PENDING_ALREADY]}) from None
    return _issued(invitation, absolute_url)


def _issued(invitation: Invitation, absolute_url: Callable[[str], str]) -> InvitationIssued:
    link = absolute_url(invitation_path(invitation))
    return InvitationIssued(invitation=invitation, link=link, mailed=_invitation_mail(invitation, link))


def _locked_pending(invitation: Invitation, action: str) -> Invitation:
    locked = (Invitation.objects.select_for_update(of=("self",)).select_related("review", "invited_by")
              .get(pk=invitation.pk))
    if locked.status != InvitationStatus.PENDING:
        raise ValidationError(f"This invitation is {locked.get_status_display().lower()}; it cannot be {action}.")
    return locked


def invitation_resend(*, invitation: Invitation, user: AbstractBaseUser,
                      absolute_url: Callable[[str], str]) -> InvitationIssued:
    """Issue a fresh link (valid for another 7 days) and mail it; every earlier link stops working.
    For pending invitations, expired ones included."""
    access.require_role(user, invitation.review, access.MANAGER, "resend invitations")
    with transaction.atomic():
        invitation = _locked_pending(invitation, "resent")
        invitation.link_key = secrets.token_urlsafe(32)
        invitation.sent_at = timezone.now()
        invitation.expires_at = invitation.sent_at + INVITATION_VALID_FOR
        invitation.save(update_fields=["link_key", "sent_at", "expires_at"])
    return _issued(invitation, absolute_url)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, user: AbstractBaseUser) -> Invitation:
    """Withdraw a pending invitation: its link stops working and says so."""
    access.require_role(user, invitation.review, access.MANAGER, "revoke invitations")
    invitation = _locked_pending(invitation, "revoked")
    invitation.status = InvitationStatus.REVOKED
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["status", "revoked_at"])
    return invitation


def _account_create(*, username: str, password: str, email: str) -> AbstractBaseUser:
    """A new account, by the site's rules: a valid, free username and a password that passes
    AUTH_PASSWORD_VALIDATORS (checked against the username and address, as Django's forms do)."""
    user_model = get_user_model()
    user = user_model(username=user_model.normalize_username(username.strip()), email=email)
    errors: dict[str, list[str]] = {}
    try:
        user.clean_fields(exclude=["password"])
    except ValidationError as invalid:
        errors.update(invalid.message_dict)
    if "username" not in errors and user_model.objects.filter(username__iexact=user.username).exists():
        errors["username"] = ["This username is taken; choose another, or sign in if it is yours."]
    try:
        validate_password(password, user)
    except ValidationError as weak:
        errors["password"] = list(weak.messages)
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # taken between the check and the insert
        raise ValidationError({"username": ["This username is taken; choose another."]}) from None
    return user


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser | None = None, username: str = "",
                      password: str = "") -> AbstractBaseUser:
    """Use an invitation link: give its roles to ``user`` (someone signed in), or, without one, to a
    new account made from ``username`` and ``password`` with the invitation's address. Returns the
    account (the page signs a new one in).

    The invitation row is locked first, so two uses of one link at the same moment give one account
    and one set of roles: the second finds it accepted. Raises ``InvitationUnusable`` for a link that
    cannot be used and ``ValidationError`` (naming the field) for a bad username or password, writing
    nothing then.
    """
    invitation = _invitation_for_token(token, lock=True)
    if invitation.state != InvitationStatus.PENDING:
        raise InvitationUnusable(invitation.state, invitation)
    # The request's URL holds the token, and the audit trail records the URL of every change
    # (pghistory's context, when a request opened one): record the invitation's id instead.
    pghistory.context(url=f"/invitations/{invitation.pk}/")
    if user is None or not user.is_authenticated:
        user = _account_create(username=username, password=password, email=invitation.email)
    for role in invitation.roles:
        membership_add(review=invitation.review, user=user, role=role)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["status", "accepted_by", "accepted_at"])
    return user


# --- Roles of people on the team ------------------------------------------------------------------


def team_role_add(*, review: Review, member: AbstractBaseUser, role: str, changed_by: AbstractBaseUser,
                  ) -> ReviewMembership:
    """Give someone already on the team another role (newcomers are invited)."""
    access.require_role(changed_by, review, access.MANAGER, "change the team")
    role = _clean_roles([role])[0]
    if not ReviewMembership.objects.filter(review=review, user=member).exists():
        raise ValidationError("Only people on the team can be given a role here; invite anyone else by e-mail.")
    return membership_add(review=review, user=member, role=role)


def team_role_remove(*, membership: ReviewMembership, changed_by: AbstractBaseUser) -> None:
    """Take a role away. What the person did in it stays theirs (their screening decisions,
    assessments and extractions are kept); a review keeps at least one manager."""
    access.require_role(changed_by, membership.review, access.MANAGER, "change the team")
    membership_remove(membership=membership)
