"""The review database over REST: one viewset per entity, every one scoped to the review in its URL.

``ReviewScopedViewSet`` holds the rules: the review is resolved (404 when the user may not see it),
the user's roles there decide reads and writes (``studies.access``), and the queryset holds
only that review's rows, so lists, details, counts and filters all obey the same scope.
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, Q, RestrictedError
from django_filters.rest_framework import DjangoFilterBackend
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from studies import access
from studies.api import serializers as s
from studies.api.access import EXTRACTION, MANAGER, PUBLIC, TEAM, ReviewRoleAccess, request_review, request_roles
from studies.models import (
    HAS_CONFIRMED_ESTIMATE,
    HAS_CONFIRMED_NUMBERS,
    Arm, CharacteristicField, ImportBatch, Outcome, OutcomeData, OutcomeDomain, OutcomeSubgroup, Record, Role,
    SearchSource, Study, StudyCharacteristic, StudyEstimate, TimePoint,
)
from studies.imports import ImportFileError
from studies.services.entities import REVIEW_LOOKUP, entity_delete
from studies.services.extraction import arm_removal_check
from studies.services.import_preview import import_preview, import_upload
from studies.services.reviews import review_create
from studies.services.value_checks import (
    outcome_value_confirm,
    outcome_value_correct,
    study_estimate_confirm,
    study_estimate_correct,
)


class ReviewPagination(PageNumberPagination):
    """100 per page by default; scripts may ask for up to 1,000 (``?page_size=1000``)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ReviewFilterBackend(DjangoFilterBackend):
    """django-filter, with every filter on another entity limited to the review's own rows (and on a
    person, to its team): an id from elsewhere then answers as an id that does not exist, and
    reveals nothing."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        review = getattr(view, "review", None) if "slug" in getattr(view, "kwargs", {}) else None
        if filterset is not None and review is not None:
            for name, declared in filterset.filters.items():
                related = getattr(declared, "queryset", None)
                if related is None:
                    continue
                if related.model in REVIEW_LOOKUP:
                    declared.queryset = related.model._default_manager.filter(
                        **{REVIEW_LOOKUP[related.model]: review.pk})
                elif related.model is get_user_model():  # people: the review's team only
                    declared.queryset = related.model._default_manager.filter(
                        review_memberships__review=review).distinct()
        return filterset


class ReviewScoped:
    """The scope and access rules shared by the review's endpoints."""

    permission_classes = [ReviewRoleAccess]
    pagination_class = ReviewPagination
    filter_backends = [ReviewFilterBackend, OrderingFilter]
    ordering = ["id"]
    read_roles: frozenset[str] = TEAM
    write_roles: frozenset[str] = frozenset()
    model = None

    @property
    def review(self):
        return request_review(self.request, self.kwargs["slug"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no review
            return self.model._default_manager.none()
        return self.model._default_manager.filter(**{REVIEW_LOOKUP[self.model]: self.review.pk}).order_by("id")

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["review"] = self.review
        return context


class ReviewScopedViewSet(ReviewScoped, viewsets.ModelViewSet):
    """Create, read, update and delete one entity of the review named by ``slug`` in the URL."""

    def perform_destroy(self, instance) -> None:
        try:
            entity_delete(instance=instance)
        except (IntegrityError, ProtectedError, RestrictedError):  # other rows refer to it
            raise serializers.ValidationError(
                {"non_field_errors": ["Other entries refer to this one; remove them first."]}) from None


class ReadOnlyReviewScopedViewSet(ReviewScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                                  viewsets.GenericViewSet):
    """Read one entity of the review named by ``slug`` in the URL."""


class ManagesReview(BasePermission):
    """Checked on the review before the request body is read: only its managers change it."""

    message = "Only the review's managers change its settings."

    def has_object_permission(self, request, view, obj) -> bool:
        return Role.MANAGER in request_roles(request, obj)


class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Reviews the user may see; managers edit their review's question and analysis settings;
    users allowed to add reviews create one and become its manager."""

    serializer_class = s.ReviewSerializer
    lookup_field = "slug"
    pagination_class = ReviewPagination
    filter_backends = [ReviewFilterBackend, OrderingFilter]
    filterset_fields = ["is_public"]
    ordering = ["title"]

    def get_permissions(self):
        if self.action == "create":
            return [IsAuthenticated()]
        if self.action in ("update", "partial_update"):
            return [ManagesReview()]
        return []

    def get_queryset(self):
        return access.visible_reviews(self.request.user).order_by("title")

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "review": None}

    def create(self, request, *args, **kwargs):
        if not request.user.has_perm("studies.add_review"):
            self.permission_denied(request, message="You may not create reviews.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        try:
            review = review_create(title=fields.pop("title"), slug=fields.pop("slug"), created_by=request.user,
                                   **fields)
        except DjangoValidationError as error:
            raise serializers.ValidationError(s._errors(error)) from None
        return Response(self.get_serializer(review).data, status=status.HTTP_201_CREATED)



class SearchSourceViewSet(ReviewScopedViewSet):
    model = SearchSource
    serializer_class = s.SearchSourceSerializer
    read_roles = write_roles = MANAGER
    filterset_fields = ["database", "date_searched"]


class ImportBatchViewSet(ReadOnlyReviewScopedViewSet):
    """The review's imports; a manager posts an export file to import it, or to preview it first
    (``dry_run``: the upload page's preview, as JSON; nothing is written)."""

    model = ImportBatch
    serializer_class = s.ImportBatchSerializer
    read_roles = MANAGER
    write_roles = MANAGER
    filterset_fields = ["source", "file_format"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": s.ImportUploadSerializer},
                   responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
                   description="Import an export file (201: the import's summary), or with dry_run preview it "
                               "(200: format, encoding, records, sample, warnings grouped by kind, expected "
                               "duplicates within the file and against the review's records).")
    def create(self, request, *args, **kwargs):
        upload = s.ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        content = data["file"].read()
        try:
            if data["dry_run"]:
                preview = import_preview(review=self.review, content=content, file_format=data["file_format"],
                                         column_mapping=data.get("column_mapping"))
                return Response(preview.as_dict(), status=status.HTTP_200_OK)
            summary = import_upload(
                review=self.review, user=request.user, database=data["database"],
                date_searched=data.get("searched_on") or timezone.localdate(), query=data["query"],
                file_name=data["file"].name, content=content, file_format=data["file_format"],
                column_mapping=data.get("column_mapping"))
        except ImportFileError as error:
            raise serializers.ValidationError({"file": [str(error)]}) from None
        except DjangoValidationError as error:
            raise serializers.ValidationError(s._errors(error)) from None
        return Response(summary.as_dict(), status=status.HTTP_201_CREATED)


class RecordViewSet(ReadOnlyReviewScopedViewSet):
    """Imported records (read-only: they change through imports and deduplication)."""

    model = Record
    serializer_class = s.RecordSerializer
    filter_backends = [ReviewFilterBackend, SearchFilter, OrderingFilter]
    filterset_fields = {"import_batch": ["exact"], "year": ["exact", "gte", "lte"], "doi": ["exact"],
                        "pmid": ["exact"], "duplicate_of": ["exact", "isnull"], "fulltext_status": ["exact"]}
    search_fields = ["title"]
    ordering_fields = ["id", "year", "title", "created_at"]


class StudyViewSet(ReviewScopedViewSet):
    model = Study
    serializer_class = s.StudySerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = EXTRACTION
    filterset_fields = ["is_included", "year"]
    ordering_fields = ["id", "label", "year"]


class NotUnderDualExtraction(BasePermission):
    """Extracted data are written directly only when one extractor's entry is the data; under dual
    extraction they come from the consensus of two independent entries (the extraction pages)."""

    message = ("This review uses dual extraction: each extractor enters their own extraction and the "
               "consensus writes the data (the review's extraction pages).")

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or not view.review.dual_extraction


class ArmViewSet(ReviewScopedViewSet):
    permission_classes = [ReviewRoleAccess, NotUnderDualExtraction]
    model = Arm
    serializer_class = s.ArmSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = EXTRACTION
    filterset_fields = ["study", "role"]

    def perform_destroy(self, instance) -> None:
        try:
            arm_removal_check(instance)  # as on the extraction page: never with its outcome data
        except DjangoValidationError as refused:
            raise serializers.ValidationError({"non_field_errors": refused.messages}) from None
        super().perform_destroy(instance)


class CharacteristicFieldViewSet(ReviewScopedViewSet):
    model = CharacteristicField
    serializer_class = s.CharacteristicFieldSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = MANAGER
    filterset_fields = ["is_subgroup_variable", "data_type"]


class StudyCharacteristicViewSet(ReviewScopedViewSet):
    permission_classes = [ReviewRoleAccess, NotUnderDualExtraction]
    model = StudyCharacteristic
    serializer_class = s.StudyCharacteristicSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = EXTRACTION
    filterset_fields = ["study", "field"]


class OutcomeDomainViewSet(ReviewScopedViewSet):
    model = OutcomeDomain
    serializer_class = s.OutcomeDomainSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = MANAGER


class OutcomeViewSet(ReviewScopedViewSet):
    model = Outcome
    serializer_class = s.OutcomeSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = MANAGER
    filterset_fields = ["domain", "data_type", "is_primary"]


class TimePointViewSet(ReviewScopedViewSet):
    model = TimePoint
    serializer_class = s.TimePointSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = MANAGER


class OutcomeSubgroupViewSet(ReviewScopedViewSet):
    model = OutcomeSubgroup
    serializer_class = s.OutcomeSubgroupSerializer
    read_roles = TEAM | {PUBLIC}
    write_roles = MANAGER
    filterset_fields = ["outcome"]


class CheckedNumbersViewSet(ReviewScopedViewSet):
    """Numbers that pass the plausibility check (outcome data, study estimates): the team reads what
    was entered with its check state, a reader (public) only rows with confirmed numbers (``confirmed``,
    a filter) and those numbers; ``confirm`` and ``correct`` actions are the second look."""

    permission_classes = [ReviewRoleAccess, NotUnderDualExtraction]
    read_roles = TEAM | {PUBLIC}
    write_roles = EXTRACTION
    confirmed: Q  # rows a reader may see
    # The second look: what the body of a confirm or a correction holds, and the services that do it.
    seen_serializer: type[serializers.Serializer]
    correction_serializer: type[serializers.Serializer]
    confirm_entry = None  # staticmethod(fn(*, row_id, user, seen))
    correct_entry = None  # staticmethod(fn(*, row_id, user, values, seen))

    @property
    def ordering_fields(self) -> list[str]:
        # Ordering by an entered number would place a held entry among the others and so reveal it to a
        # reader; everyone orders by the confirmed numbers instead (the ones the analysis uses).
        return [name for name in self.serializer_class.Meta.fields
                if name not in self.model.checked_numbers and name != "check_flags"]

    def get_permissions(self):
        if self.action in ("confirm", "correct"):
            # Under dual extraction too: a held consensus value needs its second look as well.
            return [ReviewRoleAccess()]
        return super().get_permissions()

    def _reader(self) -> bool:
        return not getattr(self, "swagger_fake_view", False) and not request_roles(self.request, self.review) & TEAM

    def get_queryset(self):
        queryset = super().get_queryset()
        if self._reader():
            queryset = queryset.filter(self.confirmed)
        return queryset

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "reader": self._reader()}

    def _body(self, serializer_class) -> dict:
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)

    @action(detail=True, methods=["post"])
    def confirm(self, request, slug: str, pk: str) -> Response:
        """Confirm an entry awaiting check as entered (a manager, or an extractor who did not enter it).
        The body may give the numbers the checker saw and where: if the entry has changed or moved since, it
        is refused."""
        row = self.get_object()
        seen = self._body(self.seen_serializer) or None
        return self._checked(lambda: self.confirm_entry(row_id=row.pk, user=request.user, seen=seen))

    @action(detail=True, methods=["post"])
    def correct(self, request, slug: str, pk: str) -> Response:
        """Correct an entry awaiting check: the numbers sent replace the entered ones and are confirmed.
        ``seen`` may give the numbers the checker saw and where: if the entry has changed or moved since, it
        is refused."""
        row = self.get_object()
        values = self._body(self.correction_serializer)
        seen = dict(values.pop("seen", None) or {}) or None
        return self._checked(lambda: self.correct_entry(row_id=row.pk, user=request.user, values=values, seen=seen))

    def _checked(self, call) -> Response:
        try:
            row = call()
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
            ) from None
        return Response(self.serializer_class(row, context=self.get_serializer_context()).data)


@extend_schema_view(
    confirm=extend_schema(request=s.StudyEstimateSeenSerializer, responses=s.StudyEstimateSerializer),
    correct=extend_schema(request=s.StudyEstimateCorrectionSerializer, responses=s.StudyEstimateSerializer),
)
class StudyEstimateViewSet(CheckedNumbersViewSet):
    """Generic inverse-variance data: one effect estimate and SE per study (and subgroup) of an
    outcome whose data type is "generic". Written by extractors like the arms' numbers and checked
    like them: an implausible estimate is held "awaiting check" until a second team member confirms
    (``POST .../confirm/``) or corrects it (``.../correct/``: estimate, SE, group sizes). A reader
    (public) sees only confirmed estimates, with the confirmed numbers, as the published analysis
    pools them."""

    model = StudyEstimate
    serializer_class = s.StudyEstimateSerializer
    filterset_fields = ["study", "outcome", "time_point", "subgroup", "include_in_analysis", "check_state"]
    confirmed = HAS_CONFIRMED_ESTIMATE
    seen_serializer = s.StudyEstimateSeenSerializer
    correction_serializer = s.StudyEstimateCorrectionSerializer
    confirm_entry = staticmethod(study_estimate_confirm)
    correct_entry = staticmethod(study_estimate_correct)


@extend_schema_view(
    confirm=extend_schema(request=s.OutcomeValueSeenSerializer, responses=s.OutcomeDataSerializer),
    correct=extend_schema(request=s.OutcomeValueCorrectionSerializer, responses=s.OutcomeDataSerializer),
)
class OutcomeDataViewSet(CheckedNumbersViewSet):
    """Outcome numbers per arm. The team sees what was entered with its check state; a reader (public)
    sees only confirmed rows, with the confirmed numbers, as the published analysis uses them.
    ``POST .../confirm/`` and ``.../correct/`` (the numbers of the outcome's data type): a second team
    member's look at a held value."""

    model = OutcomeData
    serializer_class = s.OutcomeDataSerializer
    filterset_fields = ["study", "outcome", "time_point", "arm", "provenance", "include_in_analysis", "check_state"]
    confirmed = HAS_CONFIRMED_NUMBERS
    seen_serializer = s.OutcomeValueSeenSerializer
    correction_serializer = s.OutcomeValueCorrectionSerializer
    confirm_entry = staticmethod(outcome_value_confirm)
    correct_entry = staticmethod(outcome_value_correct)
