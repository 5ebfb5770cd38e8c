"""The team page for managers (issue 18): members and their roles, who has done how much, and
invitations; and the page an invitation link opens. Plain POST forms that work without JavaScript;
each action calls one service of ``studies.services.team`` and says what it did."""
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies import access, selectors
from studies.models import Invitation, InvitationStatus, Review, ReviewMembership, Role
from studies.services import team as team_services
from studies.services.team import InvitationUnusable

# The backend a newly created account is signed in with (django-axes' backend only guards the
# sign-in form; a new account has not signed in with a password yet).
_NEW_ACCOUNT_BACKEND = "django.contrib.auth.backends.ModelBackend"


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    roles = forms.MultipleChoiceField(label="Roles", choices=Role.choices, widget=forms.CheckboxSelectMultiple)


class RoleAddForm(forms.Form):
    member = forms.TypedChoiceField(label="Person", coerce=int)
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def __init__(self, *args, people=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member"].choices = [(person.user_id, person.username) for person in people if person.memberships]


class NewAccountForm(forms.Form):
    """The account an invitation creates; the service checks the username and the password rules."""

    username = forms.CharField(max_length=150, help_text="Letters, digits and @ . + - _ only.",
                               widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    password1 = forms.CharField(label="Password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text="At least 12 characters; not a common password, not only digits, "
                                          "not like your username or address.")
    password2 = forms.CharField(label="Password again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return data


def _managed_review(request: HttpRequest, slug: str) -> Review:
    return access.review_for(request, slug, access.MANAGER, action="manage the team")[0]


def _team_page(request: HttpRequest, review: Review, *, invitation_form: InvitationForm | None = None,
               status: int = 200) -> HttpResponse:
    people = selectors.team_people(review)
    invitations = []
    for invitation in selectors.review_invitations(review):
        link = (request.build_absolute_uri(team_services.invitation_path(invitation))
                if invitation.state == InvitationStatus.PENDING else None)
        invitations.append((invitation, link))
    managers = sum(1 for person in people for m in person.memberships if m.role == Role.MANAGER)
    return render(request, "studies/team/team.html", {
        "review": review, "people": people, "invitations": invitations, "last_manager": managers <= 1,
        "invitation_form": invitation_form or InvitationForm(), "role_form": RoleAddForm(people=people),
        "pending": InvitationStatus.PENDING,
    }, status=status)


def _say_issued(request: HttpRequest, issued: team_services.InvitationIssued, verb: str) -> None:
    invitation = issued.invitation
    if issued.mailed:
        messages.success(request, f"Invitation {verb} to {invitation.email}; the link works until "
                                  f"{invitation.expires_at:%d %b %Y %H:%M} UTC.")
    else:
        messages.warning(request, f"Invitation to {invitation.email} {verb}, but the mail could not go out: "
                                  f"copy the link from the list below and send it yourself.")


def _add_errors(form: forms.Form, refusal: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """A service's refusal shown on the form, next to the field it names."""
    errors = refusal.message_dict if hasattr(refusal, "error_dict") else {None: refusal.messages}
    for field, texts in errors.items():
        field = (aliases or {}).get(field, field)
        form.add_error(field if field in form.fields else None, texts)


def _say_refused(request: HttpRequest, refusal: ValidationError) -> None:
    messages.error(request, " ".join(refusal.messages))


@login_required
def team(request: HttpRequest, slug: str) -> HttpResponse:
    return _team_page(request, _managed_review(request, slug))


@login_required
@require_POST
def team_invite(request: HttpRequest, slug: str) -> HttpResponse:
    review = _managed_review(request, slug)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            issued = team_services.invitation_create(
                review=review, email=form.cleaned_data["email"], roles=form.cleaned_data["roles"],
                invited_by=request.user, absolute_url=request.build_absolute_uri)
        except ValidationError as refusal:
            _add_errors(form, refusal)
        else:
            _say_issued(request, issued, "sent")
            return redirect("studies:team", slug=slug)
    return _team_page(request, review, invitation_form=form, status=400)


def _review_invitation(review: Review, invitation_id: int) -> Invitation:
    return get_object_or_404(Invitation.objects.select_related("review", "invited_by"), pk=invitation_id,
                             review=review)


@login_required
@require_POST
def team_invitation_resend(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    invitation = _review_invitation(review, invitation_id)
    try:
        issued = team_services.invitation_resend(invitation=invitation, user=request.user,
                                                 absolute_url=request.build_absolute_uri)
    except ValidationError as refusal:
        _say_refused(request, refusal)
    else:
        _say_issued(request, issued, "sent again (earlier links no longer work)")
    return redirect("studies:team", slug=slug)


@login_required
@require_POST
def team_invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    invitation = _review_invitation(review, invitation_id)
    try:
        team_services.invitation_revoke(invitation=invitation, user=request.user)
    except ValidationError as refusal:
        _say_refused(request, refusal)
    else:
        messages.success(request, f"Invitation to {invitation.email} revoked: its link no longer works.")
    return redirect("studies:team", slug=slug)


@login_required
@require_POST
def team_role_add(request: HttpRequest, slug: str) -> HttpResponse:
    review = _managed_review(request, slug)
    people = selectors.team_people(review)
    form = RoleAddForm(request.POST, people=people)
    if not form.is_valid():
        messages.error(request, "Choose a person on the team and a role.")
        return redirect("studies:team", slug=slug)
    member = next(person for person in people if person.user_id == form.cleaned_data["member"])
    role = Role(form.cleaned_data["role"])
    membership_exists = any(m.role == role for m in member.memberships)
    try:
        membership = team_services.team_role_add(review=review, member=member.memberships[0].user, role=role,
                                                 changed_by=request.user)
    except ValidationError as refusal:
        _say_refused(request, refusal)
    else:
        if membership_exists:
            messages.info(request, f"{member.username} already is {role.label.lower()}.")
        else:
            messages.success(request, f"{membership.user.get_username()} is now also {role.label.lower()}.")
    return redirect("studies:team", slug=slug)


@login_required
@require_POST
def team_role_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    membership = get_object_or_404(ReviewMembership.objects.select_related("user", "review"), pk=membership_id,
                                   review=review)
    try:
        team_services.team_role_remove(membership=membership, changed_by=request.user)
    except ValidationError as refusal:
        _say_refused(request, refusal)
    else:
        messages.success(request, f"{membership.user.get_username()} is no longer "
                                  f"{membership.get_role_display().lower()}; what they did stays theirs.")
    return redirect("studies:team", slug=slug)


# --- The invitation link ----------------------------------------------------------------------------


def _unusable(request: HttpRequest, unusable: InvitationUnusable) -> HttpResponse:
    """A link that cannot be used says why and whom to ask (never a 500): 404 for a link that does
    not exist (made up, or replaced by a resend), 410 for an invitation accepted, revoked or expired."""
    invitation = unusable.invitation
    managers = []
    if invitation is not None:
        managers = selectors.review_manager_names(invitation.review)
    return render(request, "studies/team/invitation_unusable.html", {
        "state": unusable.state, "invitation": invitation, "managers": managers,
    }, status=404 if invitation is None else 410)


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Signed in: accept for this account. Not signed in: create an account, or sign in first
    (``next`` brings the person back here)."""
    try:
        invitation = team_services.invitation_open(token=token)
    except InvitationUnusable as unusable:
        return _unusable(request, unusable)
    form = NewAccountForm(request.POST or None)
    if request.method == "POST":
        signed_in = request.user.is_authenticated
        if signed_in or form.is_valid():
            try:
                user = team_services.invitation_accept(
                    token=token, user=request.user if signed_in else None,
                    username=form.cleaned_data.get("username", "") if not signed_in else "",
                    password=form.cleaned_data.get("password1", "") if not signed_in else "")
            except InvitationUnusable as unusable:
                return _unusable(request, unusable)
            except ValidationError as invalid:
                _add_errors(form, invalid, aliases={"password": "password1"})
            else:
                if not signed_in:
                    login(request, user, backend=_NEW_ACCOUNT_BACKEND)
                roles = ", ".join(Role(role).label.lower() for role in invitation.roles)
                messages.success(request, f"Welcome to “{invitation.review.title}”: you are {roles}.")
                return redirect("home")
    return render(request, "studies/team/invitation_accept.html", {
        "invitation": invitation, "form": form,
        "sign_in_url": redirect_to_login(reverse("invitation-accept", kwargs={"token": token})).url,
    }, status=400 if form.errors else 200)
