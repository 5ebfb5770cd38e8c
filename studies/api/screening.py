"""Screening over REST: decisions, resolutions, exclusion reasons, study links (reports) and the team.

Every write calls the screening and review services, which hold the row locks and the rules (the
same ones the screening pages use); every read goes through the blinding querysets of ``studies.access``, so lists,
details, counts, filters and ordering only ever see rows the user may see. The serializers live
here beside their viewsets because each one is the input of a single service call.
"""
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from studies import access
from studies.api.access import MANAGER, TEAM
from studies.api.resources import ReviewScoped, ReviewScopedViewSet
from studies.api.serializers import ReviewEntitySerializer, _errors
from studies.models import (
    ExclusionReason, Record, Report, ReviewMembership, Role, ScreeningDecision, ScreeningResolution, Study,
)
from studies.services.reviews import membership_add, membership_remove
from studies.services.screening import (
    decision_record, decision_withdraw, report_link, report_unlink, resolution_record,
)

SCREENING = access.SCREENING
SCREENER = frozenset({Role.SCREENER})
TUTOR = frozenset({Role.TUTOR})
LINKERS = frozenset({Role.TUTOR, Role.MANAGER})


@contextmanager
def service_errors():
    """A service's refusal as the API's answer: its ``ValidationError`` (nothing written) is a 400
    naming the field; ``PermissionDenied`` becomes a 403 by DRF itself."""
    try:
        yield
    except DjangoValidationError as error:
        raise serializers.ValidationError(_errors(error)) from None


class _ServiceSerializer(ReviewEntitySerializer):
    """References scoped to the review (``ReviewEntitySerializer``); saving is the viewset's call
    of a service, never ``entity_save`` on fields the client chose."""

    def create(self, validated_data):  # pragma: no cover - the viewsets call services instead
        raise NotImplementedError

    def update(self, instance, validated_data):  # pragma: no cover
        raise NotImplementedError


# --- Decisions ----------------------------------------------------------------------------------


class DecisionSerializer(_ServiceSerializer):
    """A screener's decision. The screener is always the user who sends it; record and stage are
    fixed once decided (a different record is a different decision)."""

    screener = serializers.CharField(source="screener.username", read_only=True)

    class Meta:
        model = ScreeningDecision
        fields = ["id", "record", "stage", "screener", "decision", "exclusion_reason", "note", "decided_at",
                  "updated_at"]
        read_only_fields = ["id", "screener", "decided_at", "updated_at"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None and not isinstance(self.instance, (list, tuple)) \
                and hasattr(self.instance, "pk"):
            self.fields["record"].read_only = self.fields["stage"].read_only = True


class DecisionViewSet(ReviewScoped, viewsets.ModelViewSet):
    """Screening decisions, blinded: a screener sees their own, and another screener's decision on
    a record only once the record is settled (agreement or a tutor's resolution); tutors and managers
    without a vote of their own see a record's decisions once two are in (``studies.access``).
    Screeners write only their own, and only until the second screener has decided."""

    model = ScreeningDecision
    serializer_class = DecisionSerializer
    read_roles = SCREENING
    write_roles = SCREENER
    filterset_fields = ["record", "stage", "screener", "decision"]
    ordering_fields = ["id", "record", "decided_at", "updated_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ScreeningDecision.objects.none()
        return (access.decisions_visible(self.request.user, ScreeningDecision.objects.filter(record__review=self.review))
                .select_related("screener").order_by("id"))

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        with service_errors():
            serializer.instance = decision_record(
                record=data["record"], stage=data["stage"], screener=self.request.user, decision=data["decision"],
                exclusion_reason=data.get("exclusion_reason"), note=data.get("note", ""))

    def perform_update(self, serializer) -> None:
        decision, data = serializer.instance, serializer.validated_data
        if decision.screener_id != self.request.user.pk:
            # Without this check the service would record a new decision of the caller's instead.
            raise PermissionDenied("You can change only your own decisions.")
        with service_errors():
            serializer.instance = decision_record(
                record=decision.record, stage=decision.stage, screener=self.request.user,
                decision=data.get("decision", decision.decision),
                exclusion_reason=data.get("exclusion_reason", decision.exclusion_reason),
                note=data.get("note", decision.note))

    def perform_destroy(self, instance) -> None:
        with service_errors():
            decision_withdraw(decision=instance, screener=self.request.user)


# --- Resolutions --------------------------------------------------------------------------------


class ResolutionSerializer(_ServiceSerializer):
    tutor = serializers.CharField(source="tutor.username", read_only=True)

    class Meta:
        model = ScreeningResolution
        fields = ["id", "record", "stage", "tutor", "decision", "exclusion_reason", "rationale", "resolved_at"]
        read_only_fields = ["id", "tutor", "resolved_at"]



class ResolutionViewSet(ReviewScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        viewsets.GenericViewSet):
    """Tutors' resolutions of conflicts. Created once (a resolution settles the record at that
    stage); never changed through the API."""

    model = ScreeningResolution
    serializer_class = ResolutionSerializer
    read_roles = SCREENING
    write_roles = TUTOR
    filterset_fields = ["record", "stage", "decision"]
    ordering_fields = ["id", "record", "resolved_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ScreeningResolution.objects.none()
        return access.resolutions_visible(self.request.user, self.review).select_related("tutor").order_by("id")

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        with service_errors():
            serializer.instance = resolution_record(
                record=data["record"], stage=data["stage"], tutor=self.request.user, decision=data["decision"],
                exclusion_reason=data.get("exclusion_reason"), rationale=data.get("rationale", ""))


# --- Exclusion reasons and study links ------------------------------------------------------------


class ExclusionReasonSerializer(ReviewEntitySerializer):
    class Meta:
        model = ExclusionReason
        fields = ["id", "label", "order"]


class ExclusionReasonViewSet(ReviewScopedViewSet):
    """The review's list of reasons for excluding a full text (managers keep it)."""

    model = ExclusionReason
    serializer_class = ExclusionReasonSerializer
    read_roles = TEAM
    write_roles = MANAGER
    ordering_fields = ["id", "order", "label"]


class ReportSerializer(_ServiceSerializer):
    """A record included at full text, linked to a study: an existing one (``study``) or a new one
    made from ``new_study_label`` and ``new_study_year``."""

    study = serializers.PrimaryKeyRelatedField(queryset=Study.objects.none(), required=False, allow_null=True)
    new_study_label = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=100)
    new_study_year = serializers.IntegerField(write_only=True, required=False, allow_null=True, min_value=1900,
                                              max_value=2100)

    class Meta:
        model = Report
        fields = ["id", "record", "study", "is_primary", "new_study_label", "new_study_year"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        review = self.context.get("review")
        if review is not None:
            self.fields["study"].queryset = Study.objects.filter(review=review)
        if self.instance is not None and hasattr(self.instance, "pk"):
            self.fields["record"].read_only = True


class ReportViewSet(ReviewScoped, viewsets.ModelViewSet):
    """Which records report which study (tutors and managers link them, through ``report_link``)."""

    model = Report
    serializer_class = ReportSerializer
    read_roles = TEAM
    write_roles = LINKERS
    filterset_fields = ["study", "record", "is_primary"]

    def _link(self, serializer, record: Record, data: dict, current: Report | None) -> None:
        with service_errors():
            serializer.instance = report_link(
                record=record, user=self.request.user,
                study=data.get("study", current.study if current else None),
                new_study_label=data.get("new_study_label", ""), new_study_year=data.get("new_study_year"),
                is_primary=data.get("is_primary", current.is_primary if current else False))

    def perform_create(self, serializer) -> None:
        self._link(serializer, serializer.validated_data["record"], serializer.validated_data, None)

    def perform_update(self, serializer) -> None:
        self._link(serializer, serializer.instance.record, serializer.validated_data, serializer.instance)

    def perform_destroy(self, instance) -> None:
        with service_errors():
            report_unlink(record=instance.record, user=self.request.user)


# --- The team -----------------------------------------------------------------------------------


class MembershipSerializer(serializers.ModelSerializer):
    """A role held in the review. To add one, name the user by ``username``."""

    username = serializers.CharField(source="user.username", max_length=150)

    class Meta:
        model = ReviewMembership
        fields = ["id", "user", "username", "role", "added_at"]
        read_only_fields = ["id", "user", "added_at"]


def users_known_to(user):
    """The users a manager may add to a team by username: people who already share a review with
    them (any role, any review). A username elsewhere answers as unknown, so the API cannot be used
    to discover who has an account; a superuser adds anyone (the back office does the rest)."""
    users = get_user_model().objects.filter(is_active=True)
    if getattr(user, "is_superuser", False):
        return users
    their_reviews = ReviewMembership.objects.filter(user=user).values("review_id")
    return users.filter(Exists(ReviewMembership.objects.filter(user=OuterRef("pk"), review_id__in=their_reviews)))


class MembershipViewSet(ReviewScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The team: members read who holds which role; managers add (by username) and remove roles. A
    role change is a removal and an addition, so each shows in the record of who did what."""

    model = ReviewMembership
    serializer_class = MembershipSerializer
    read_roles = TEAM
    write_roles = MANAGER
    filterset_fields = ["role", "user"]

    def get_queryset(self):
        return super().get_queryset().select_related("user")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["user"]["username"]
        user = users_known_to(request.user).filter(username=username).first()
        if user is None:
            raise serializers.ValidationError({"username": ["No user you share a review with has this username."]})
        with service_errors():
            membership = membership_add(review=self.review, user=user, role=serializer.validated_data["role"])
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance) -> None:
        with service_errors():
            membership_remove(membership=instance)

