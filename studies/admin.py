"""The back office. Admin classes only translate forms to service calls (``studies.services``) and
scope every queryset to the reviews the signed-in user manages (superusers see all), through
``studies.access``, which also blinds what a manager who screens or assesses may see. Workflow rows
(screening decisions and resolutions, full-text status, risk-of-bias assessments) are shown read-only:
their own pages and API apply the review's rules; delete-confirmation pages count what cascades
instead of describing each row."""
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest
from django.utils.html import format_html

from studies import access
from studies.models import (
    Arm,
    CharacteristicField,
    CheckState,
    DuplicateCandidate,
    ExclusionReason,
    ImportBatch,
    Outcome,
    OutcomeData,
    OutcomeDomain,
    OutcomeSubgroup,
    Record,
    Report,
    RevManImport,
    Review,
    ReviewMembership,
    RiskOfBiasAssessment,
    RiskOfBiasJudgment,
    Rob2Assessment,
    Rob2DomainJudgment,
    Rob2SignallingAnswer,
    ScreeningDecision,
    ScreeningResolution,
    SearchSource,
    Study,
    StudyCharacteristic,
    StudyEstimate,
    TimePoint,
)
from studies.services import entities_delete, entity_delete, entity_save, membership_add
from studies.services.entities import REVIEW_LOOKUP, WORKFLOW_MODELS, workflow_write_refusal
from studies.services.value_checks import outcome_value_confirm, study_estimate_confirm


def _scope_to_managed_reviews(request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
    path = REVIEW_LOOKUP[queryset.model]
    return queryset.filter(**{f"{path}__in": access.managed_review_ids(request.user)})


class ReviewScopedMixin:
    """Shared by model admins and inlines: scoped querysets, scoped choices, writes via services."""

    def get_queryset(self, request):
        return _scope_to_managed_reviews(request, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related is get_user_model() and "queryset" not in kwargs and not request.user.is_superuser:
            # People are offered only from the teams of the reviews this manager manages (of the
            # parent review, on its inlines): no manager can list the site's accounts. Adding a
            # newcomer to a team is done by invitation (the team page, /reviews/<slug>/team/).
            parent_review_id = getattr(request, "_admin_parent_review_id", None)
            teams = ReviewMembership.objects.filter(review_id__in=access.managed_review_ids(request.user))
            if parent_review_id is not None:
                teams = teams.filter(review_id=parent_review_id)
            kwargs["queryset"] = related._default_manager.filter(pk__in=teams.values("user_id"))
        if related in REVIEW_LOOKUP and "queryset" not in kwargs:
            queryset = related._default_manager.all()
            parent_review_id = getattr(request, "_admin_parent_review_id", None)
            if parent_review_id is not None:
                # Inline rows may only point at things of the parent's review (and, for arms, study).
                queryset = queryset.filter(**{REVIEW_LOOKUP[related]: parent_review_id})
                parent_study_id = getattr(request, "_admin_parent_study_id", None)
                if related is Arm and parent_study_id is not None:
                    queryset = queryset.filter(study_id=parent_study_id)
            kwargs["queryset"] = _scope_to_managed_reviews(request, queryset)
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and isinstance(self, admin.options.InlineModelAdmin):
            # Evaluate each select's choices once per request, not once per inline row (N+1).
            cache = request.__dict__.setdefault("_admin_choice_cache", {})
            key = (type(self).__name__, db_field.name)
            if key not in cache:
                cache[key] = list(formfield.choices)
            formfield.choices = cache[key]
            # A grid of rows reads better without the add/change/view icons beside every select.
            widget = formfield.widget
            widget.can_add_related = widget.can_change_related = widget.can_view_related = False
            widget.can_delete_related = False
        return formfield


class ServiceModelAdmin(ReviewScopedMixin, admin.ModelAdmin):
    list_per_page = 50

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Remember the parent so inline choices are limited to its review (and study).
        if obj is not None:
            request._admin_parent_review_id = _review_id_for_parent(obj)
            request._admin_parent_study_id = obj.pk if isinstance(obj, Study) else None
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        entity_save(instance=obj, user=request.user)

    def delete_model(self, request, obj):
        entity_delete(instance=obj)

    def delete_queryset(self, request, queryset):
        entities_delete(queryset=queryset)

    def get_deleted_objects(self, objs, request):
        """What a deletion takes with it, as counts per kind: listing each cascaded row by its
        description would show blinded ones (another screener's vote, a draft risk-of-bias
        judgment) to a manager who screens or assesses. Workflow rows need no delete permission of
        their own to go with what they belong to (deleting them alone is refused)."""
        _, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        workflow_names = {str(model._meta.verbose_name) for model in WORKFLOW_MODELS}
        listed = [format_html("{}: {}", obj._meta.verbose_name.capitalize(), obj) for obj in objs]
        return listed, model_count, {p for p in perms_needed if p not in workflow_names}, protected

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            entity_delete(instance=obj)
        for instance in instances:
            if isinstance(instance, ReviewMembership):
                _membership_add(instance)
            else:
                entity_save(instance=instance, user=request.user)
        formset.save_m2m()


def _membership_add(membership: ReviewMembership) -> None:
    """A role given in the back office is given as everywhere else (a new manager gets the back
    office with it): memberships are only added or removed here, never edited."""
    saved = membership_add(review=membership.review, user=membership.user, role=membership.role)
    membership.pk, membership.added_at = saved.pk, saved.added_at  # the admin's log and redirect name it


class WorkflowReadOnly:
    """Rows only their domain services write (``entities.WORKFLOW_MODELS``): listed and shown here,
    never added, changed or deleted on their own, so every workflow rule holds in the back office."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _review_id_for_parent(obj: models.Model) -> int | None:
    if isinstance(obj, Review):
        return obj.pk
    return getattr(obj, "review_id", None) or getattr(getattr(obj, "study", None), "review_id", None)


class ScopedTabularInline(ReviewScopedMixin, admin.TabularInline):
    """Inline rows load what their labels need in the one query (no per-row lookups); foreign keys
    are plain selects whose choices are fetched once per page, since autocomplete widgets query per row."""

    extra = 0
    show_change_link = True
    select_related_fields: tuple[str, ...] = ()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.select_related_fields)


class ScopedStackedInline(ReviewScopedMixin, admin.StackedInline):
    extra = 0


# --- Reviews and team -------------------------------------------------------------------------


class MembershipInline(ScopedTabularInline):
    model = ReviewMembership
    show_change_link = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a role change is a removal and an addition (see _membership_add)


class SearchSourceInline(ScopedTabularInline):
    model = SearchSource
    fields = ["database", "date_searched", "records_reported"]


class ExclusionReasonInline(ScopedTabularInline):
    model = ExclusionReason
    show_change_link = False


class TimePointInline(ScopedTabularInline):
    model = TimePoint
    show_change_link = False


class CharacteristicFieldInline(ScopedTabularInline):
    model = CharacteristicField
    fields = ["name", "data_type", "choices", "is_subgroup_variable", "order"]
    show_change_link = False


@admin.register(Review)
class ReviewAdmin(ServiceModelAdmin):
    list_display = ["title", "slug", "registration_id", "is_public", "is_synthetic", "data_version", "updated_at"]
    list_filter = ["is_public", "is_synthetic", "model_rule", "tau2_estimator"]
    search_fields = ["title", "slug", "registration_id"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["data_version", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "registration_id", "is_public", "is_synthetic"]}),
        ("Question and criteria", {"fields": [
            "question", "population", "intervention", "comparison", "outcomes_summary",
            "inclusion_criteria", "exclusion_criteria",
        ]}),
        ("Screening and extraction", {"fields": [
            "include_terms", "exclude_terms", "fulltext_reason_conflict", "dual_extraction", "change_sd_correlation",
        ]}),
        ("Analysis settings", {"fields": [
            "effect_measure", "model_rule", "i2_threshold", "tau2_estimator", "hartung_knapp",
            "confidence_level", "funnel_min_studies", "rob_tool", "rob1_key_domains",
        ]}),
        ("Living analysis", {"fields": ["data_version", "created_at", "updated_at"]}),
    ]
    inlines = [MembershipInline, SearchSourceInline, ExclusionReasonInline, TimePointInline, CharacteristicFieldInline]


@admin.register(ReviewMembership)
class ReviewMembershipAdmin(ServiceModelAdmin):
    list_display = ["user", "role", "review", "added_at"]
    list_filter = ["role", ("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "review__title"]
    autocomplete_fields = ["review"]
    list_select_related = ["user", "review"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        _membership_add(obj)


# --- Sources, imports, records ----------------------------------------------------------------


@admin.register(SearchSource)
class SearchSourceAdmin(ServiceModelAdmin):
    list_display = ["database", "date_searched", "records_reported", "review"]
    list_filter = ["database", ("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["database", "query"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]
    date_hierarchy = "date_searched"


@admin.register(ImportBatch)
class ImportBatchAdmin(ServiceModelAdmin):
    list_display = ["file_name", "file_format", "source", "imported_by", "imported_at", "review"]
    list_filter = ["file_format", ("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["file_name", "sha256"]
    autocomplete_fields = ["review", "source"]
    list_select_related = ["source", "imported_by", "review"]


class DecisionInline(WorkflowReadOnly, ScopedTabularInline):
    model = ScreeningDecision
    fields = ["stage", "screener", "decision", "exclusion_reason", "note"]
    readonly_fields = fields
    select_related_fields = ("screener", "exclusion_reason")
    show_change_link = False

    def get_queryset(self, request):
        # Blinding holds in the back office too: a manager who also screens sees no other
        # screener's vote on a record until it is settled.
        return access.decisions_visible(request.user, super().get_queryset(request))


class ResolutionInline(WorkflowReadOnly, ScopedTabularInline):
    model = ScreeningResolution
    fields = ["stage", "tutor", "decision", "exclusion_reason", "rationale"]
    readonly_fields = fields
    select_related_fields = ("tutor", "exclusion_reason")
    show_change_link = False


@admin.register(Record)
class RecordAdmin(ServiceModelAdmin):
    list_display = ["title_short", "first_author", "year", "journal", "doi", "is_duplicate", "fulltext_status", "review"]
    list_filter = [("review", admin.RelatedOnlyFieldListFilter), "fulltext_status", ("duplicate_of", admin.EmptyFieldListFilter), "year"]
    search_fields = ["title", "doi", "pmid", "nct_id", "journal"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]
    # Set by imports and the duplicate queue (which log why), and by the screening pages (full-text
    # status); not edited by hand.
    readonly_fields = ["import_batch", "duplicate_of", "fulltext_status", "created_at"]
    inlines = [DecisionInline, ResolutionInline]

    @admin.display(description="title", ordering="title")
    def title_short(self, obj: Record) -> str:
        return obj.title if len(obj.title) <= 90 else obj.title[:89] + "…"

    @admin.display(description="first author")
    def first_author(self, obj: Record) -> str:
        return obj.authors[0] if obj.authors else ""

    @admin.display(description="duplicate", boolean=True)
    def is_duplicate(self, obj: Record) -> bool:
        return obj.duplicate_of_id is not None


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(ServiceModelAdmin):
    """Every merge the import made, with its reason, and the pairs waiting for a person (whose
    everyday page is the review's duplicate queue)."""

    list_display = ["id", "duplicate", "primary", "method", "score", "status", "automatic", "decided_by", "review"]
    list_filter = ["status", "method", "automatic", ("review", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["review", "duplicate", "primary", "decided_by"]
    search_fields = ["duplicate__title", "primary__title", "reason"]
    # Merging and unmerging change Record.duplicate_of too: they happen on the review's duplicate
    # queue (studies.services.imports), never by editing these fields here.
    readonly_fields = ["review", "import_batch", "duplicate", "primary", "method", "score", "reason", "status",
                       "automatic", "decided_by", "decided_at", "created_at"]

    def has_add_permission(self, request):
        return False


# --- Screening --------------------------------------------------------------------------------


@admin.register(ExclusionReason)
class ExclusionReasonAdmin(ServiceModelAdmin):
    list_display = ["label", "order", "review"]
    list_filter = [("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["label"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]


@admin.register(ScreeningDecision)
class ScreeningDecisionAdmin(WorkflowReadOnly, ServiceModelAdmin):
    list_display = ["record", "stage", "screener", "decision", "exclusion_reason", "decided_at"]
    list_filter = ["stage", "decision", ("record__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["record__title", "screener__username"]
    autocomplete_fields = ["record", "exclusion_reason"]
    list_select_related = ["record", "screener", "exclusion_reason"]

    def get_queryset(self, request):
        return access.decisions_visible(request.user, super().get_queryset(request))


@admin.register(ScreeningResolution)
class ScreeningResolutionAdmin(WorkflowReadOnly, ServiceModelAdmin):
    list_display = ["record", "stage", "tutor", "decision", "exclusion_reason", "resolved_at"]
    list_filter = ["stage", "decision", ("record__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["record__title", "tutor__username", "rationale"]
    autocomplete_fields = ["record", "exclusion_reason"]
    list_select_related = ["record", "tutor", "exclusion_reason"]


# --- Studies ----------------------------------------------------------------------------------


class ReportInline(ScopedTabularInline):
    """Reports are listed here; a record is linked to a study from the report page, whose record
    search scales to a review's whole library."""

    model = Report
    fields = ["record", "is_primary"]
    readonly_fields = ["record"]
    select_related_fields = ("record", "study")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ArmInline(ScopedTabularInline):
    model = Arm
    select_related_fields = ("study",)


class StudyCharacteristicInline(ScopedTabularInline):
    model = StudyCharacteristic
    select_related_fields = ("field",)
    show_change_link = False


class DualExtractionReadOnly:
    """Under dual extraction the analysed data come from the extractors' consensus on the extraction
    pages: here they are shown, not edited (``entities.workflow_write_refusal``)."""

    def _refused(self, obj) -> bool:
        review_id = _review_id_for_parent(obj) if obj is not None else None
        return review_id is not None and workflow_write_refusal(OutcomeData, review_id) is not None

    def has_add_permission(self, request, *args) -> bool:
        obj = args[0] if args else None
        return not self._refused(obj) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return not self._refused(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not self._refused(obj) and super().has_delete_permission(request, obj)


class OutcomeDataInline(DualExtractionReadOnly, ScopedTabularInline):
    model = OutcomeData
    fields = [
        "outcome", "time_point", "arm", "n", "mean", "sd", "events", "total", "value_type",
        "instrument", "provenance", "include_in_analysis",
    ]
    select_related_fields = ("outcome", "arm", "time_point")


@admin.register(Study)
class StudyAdmin(ServiceModelAdmin):
    list_display = ["label", "year", "is_included", "report_count", "review"]
    list_filter = ["is_included", ("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["label", "notes"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]
    inlines = [ReportInline, ArmInline, StudyCharacteristicInline, OutcomeDataInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_report_count=models.Count("reports"))

    @admin.display(description="reports", ordering="_report_count")
    def report_count(self, obj: Study) -> int:
        return obj._report_count


@admin.register(Report)
class ReportAdmin(ServiceModelAdmin):
    list_display = ["record", "study", "is_primary"]
    list_filter = ["is_primary", ("study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["record__title", "study__label"]
    autocomplete_fields = ["study", "record"]
    list_select_related = ["record", "study"]


@admin.register(CharacteristicField)
class CharacteristicFieldAdmin(ServiceModelAdmin):
    list_display = ["name", "data_type", "is_subgroup_variable", "order", "review"]
    list_filter = ["data_type", "is_subgroup_variable", ("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]


@admin.register(StudyCharacteristic)
class StudyCharacteristicAdmin(ServiceModelAdmin):
    list_display = ["study", "field", "value_text", "value_number"]
    list_filter = [("field__review", admin.RelatedOnlyFieldListFilter), ("field", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["study__label", "field__name", "value_text"]
    autocomplete_fields = ["study", "field"]
    list_select_related = ["study", "field"]


@admin.register(Arm)
class ArmAdmin(ServiceModelAdmin):
    list_display = ["label", "role", "randomised", "study"]
    list_filter = ["role", ("study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["label", "study__label"]
    autocomplete_fields = ["study"]
    list_select_related = ["study"]


# --- Outcomes ---------------------------------------------------------------------------------


@admin.register(OutcomeDomain)
class OutcomeDomainAdmin(ServiceModelAdmin):
    list_display = ["name", "order", "review"]
    list_filter = [("review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]


@admin.register(Outcome)
class OutcomeAdmin(ServiceModelAdmin):
    list_display = ["name", "revman_number", "domain", "is_primary", "data_type", "effect_measure", "direction", "review"]
    list_filter = [("review", admin.RelatedOnlyFieldListFilter), ("domain", admin.RelatedOnlyFieldListFilter), "is_primary", "data_type", "effect_measure"]
    search_fields = ["name", "domain__name", "revman_number"]
    autocomplete_fields = ["review", "domain"]
    list_select_related = ["review", "domain"]


@admin.register(TimePoint)
class TimePointAdmin(ServiceModelAdmin):
    list_display = ["label", "order", "is_analysis_default", "review"]
    list_filter = [("review", admin.RelatedOnlyFieldListFilter), "is_analysis_default"]
    search_fields = ["label"]
    autocomplete_fields = ["review"]
    list_select_related = ["review"]


class HeldForCheckAdmin:
    """The plausibility check in the back office (outcome data, study estimates): decided by the rules
    and a second person's confirm (the "awaiting check" page, or the action below), never typed in."""

    readonly_fields = ["check_state", "why_held", "entered_by", "checked_by", "checked_at", "analysed_numbers"]
    exclude = ["check_flags"]
    actions = ["confirm_held_values"]
    confirm = None  # the service that confirms one held row: staticmethod(fn(*, row_id, user))

    @admin.display(description="why held")
    def why_held(self, obj) -> str:
        return " ".join(flag["message"] for flag in obj.check_flags) or "—"

    @admin.action(description="Confirm the selected entries awaiting check")
    def confirm_held_values(self, request, queryset):
        confirmed = 0
        for row_id in queryset.filter(check_state=CheckState.AWAITING_CHECK).values_list("pk", flat=True):
            try:
                self.confirm(row_id=row_id, user=request.user)
            except (PermissionDenied, ValidationError) as refused:  # not allowed, or checked meanwhile
                self.message_user(request, " ".join(getattr(refused, "messages", [str(refused)])),
                                  level=messages.ERROR)
            else:
                confirmed += 1
        self.message_user(request, f"{confirmed} entr{'y' if confirmed == 1 else 'ies'} confirmed.")


@admin.register(OutcomeData)
class OutcomeDataAdmin(HeldForCheckAdmin, DualExtractionReadOnly, ServiceModelAdmin):
    list_display = [
        "study", "outcome", "time_point", "arm_label", "n", "mean", "sd", "events", "total",
        "value_type", "provenance", "include_in_analysis", "check_state",
    ]
    list_filter = [("study__review", admin.RelatedOnlyFieldListFilter), ("outcome", admin.RelatedOnlyFieldListFilter), ("time_point", admin.RelatedOnlyFieldListFilter), "value_type", "provenance", "include_in_analysis", "check_state"]
    confirm = staticmethod(outcome_value_confirm)

    @admin.display(description="numbers the analysis uses")
    def analysed_numbers(self, obj: OutcomeData) -> str:
        if obj.confirmed_events is not None:
            return f"{obj.confirmed_events}/{obj.confirmed_total}"
        if obj.confirmed_n is not None:
            return f"n={obj.confirmed_n}, mean={obj.confirmed_mean:g}, SD={obj.confirmed_sd:g}"
        return "none yet (awaiting its first check)"

    search_fields = ["study__label", "outcome__name", "instrument"]
    autocomplete_fields = ["study", "outcome", "time_point", "arm"]
    list_select_related = ["study", "outcome", "time_point", "arm"]

    @admin.display(description="arm", ordering="arm__label")
    def arm_label(self, obj: OutcomeData) -> str:
        return obj.arm.label


@admin.register(OutcomeSubgroup)
class OutcomeSubgroupAdmin(ServiceModelAdmin):
    list_display = ["name", "outcome", "order"]
    list_filter = [("outcome__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "outcome__name"]
    autocomplete_fields = ["outcome"]
    list_select_related = ["outcome"]


@admin.register(StudyEstimate)
class StudyEstimateAdmin(HeldForCheckAdmin, ServiceModelAdmin):
    list_display = ["study", "outcome", "subgroup", "time_point", "estimate", "se", "include_in_analysis",
                    "check_state"]
    list_filter = [("study__review", admin.RelatedOnlyFieldListFilter), ("outcome", admin.RelatedOnlyFieldListFilter),
                   "include_in_analysis", "check_state"]
    confirm = staticmethod(study_estimate_confirm)

    @admin.display(description="numbers the analysis uses")
    def analysed_numbers(self, obj: StudyEstimate) -> str:
        if obj.confirmed_se is None:
            return "none yet (awaiting its first check)"
        sizes = "" if obj.confirmed_n_intervention is None and obj.confirmed_n_control is None else (
            f", N={obj.confirmed_n_intervention or '—'}/{obj.confirmed_n_control or '—'}")
        return f"estimate={obj.confirmed_estimate:g}, SE={obj.confirmed_se:g}{sizes}"

    search_fields = ["study__label", "outcome__name"]
    autocomplete_fields = ["study", "outcome", "time_point", "subgroup"]
    list_select_related = ["study", "outcome", "time_point", "subgroup"]


@admin.register(RevManImport)
class RevManImportAdmin(ServiceModelAdmin):
    """Read-only: the file a review came from and RevMan's stored results (the parity report's)."""

    list_display = ["file_name", "review", "revman_version", "imported_at", "imported_by"]
    search_fields = ["file_name", "review__title"]
    list_select_related = ["review", "imported_by"]
    readonly_fields = ["review", "file_name", "sha256", "revman_version", "imported_by", "imported_at", "warnings",
                       "analyses"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- Risk of bias -----------------------------------------------------------------------------


# Risk of bias (RoB 1 and RoB 2) is shown here but entered on the assessors' pages (studies.pages.risk_of_bias):
# RoB 2's proposals must follow from the answers, a consensus needs both assessments submitted, and
# blinding must hold, which row-by-row editing here could not guarantee. Every list, page, filter
# and search shows only the assessments ``studies.access`` lets the user see.


class JudgmentInline(WorkflowReadOnly, ScopedTabularInline):
    model = RiskOfBiasJudgment
    fields = ["domain", "judgment", "support"]
    readonly_fields = fields
    show_change_link = False


@admin.register(RiskOfBiasAssessment)
class RiskOfBiasAssessmentAdmin(WorkflowReadOnly, ServiceModelAdmin):
    list_display = ["study", "assessor", "is_consensus", "submitted_at", "updated_at"]
    list_filter = ["is_consensus", ("study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["study__label", "assessor__username"]
    list_select_related = ["study", "assessor"]
    inlines = [JudgmentInline]

    def get_queryset(self, request):
        return access.rob1_assessments_visible(request.user, super().get_queryset(request))


@admin.register(RiskOfBiasJudgment)
class RiskOfBiasJudgmentAdmin(WorkflowReadOnly, ServiceModelAdmin):
    list_display = ["assessment", "domain", "judgment"]
    list_filter = ["domain", "judgment", ("assessment__study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["assessment__study__label", "support"]
    list_select_related = ["assessment__study", "assessment__assessor"]

    def get_queryset(self, request):
        visible = access.rob1_assessments_visible(request.user).order_by().values("pk")
        return super().get_queryset(request).filter(assessment__in=visible)


class Rob2ReadOnlyInline(WorkflowReadOnly, ScopedTabularInline):
    can_delete = False


class Rob2DomainInline(Rob2ReadOnlyInline):
    model = Rob2DomainJudgment
    fields = ["domain", "proposed", "override", "justification"]
    readonly_fields = fields


class Rob2AnswerInline(Rob2ReadOnlyInline):
    model = Rob2SignallingAnswer
    fields = ["question", "answer", "comment"]
    readonly_fields = fields


@admin.register(Rob2Assessment)
class Rob2AssessmentAdmin(WorkflowReadOnly, ServiceModelAdmin):
    list_display = ["study", "outcome", "assessor", "is_consensus", "submitted_at", "overall_proposed",
                    "overall_override"]
    list_filter = ["is_consensus", "overall_proposed", ("study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["study__label", "outcome__name", "assessor__username"]
    list_select_related = ["study", "outcome", "assessor"]
    readonly_fields = ["study", "outcome", "assessor", "is_consensus", "submitted_at", "overall_proposed",
                       "overall_override", "overall_justification", "created_at", "updated_at"]
    inlines = [Rob2DomainInline, Rob2AnswerInline]

    def get_queryset(self, request):
        # Blinding holds in the back office too: a manager who is also an assessor of the review
        # sees other assessors' work only as the entry pages would show it.
        return access.rob2_assessments_visible(request.user, super().get_queryset(request))


class _Rob2PartAdmin(WorkflowReadOnly, ServiceModelAdmin):
    """Domain judgments and answers, listed for search and export; read-only and blinded like their
    assessment."""

    def get_queryset(self, request):
        visible = access.rob2_assessments_visible(request.user).order_by().values("pk")
        return super().get_queryset(request).filter(assessment__in=visible)


@admin.register(Rob2DomainJudgment)
class Rob2DomainJudgmentAdmin(_Rob2PartAdmin):
    list_display = ["assessment", "domain", "proposed", "override"]
    list_filter = ["domain", "proposed", ("assessment__study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["assessment__study__label", "justification"]
    list_select_related = ["assessment__study", "assessment__outcome", "assessment__assessor"]


@admin.register(Rob2SignallingAnswer)
class Rob2SignallingAnswerAdmin(_Rob2PartAdmin):
    list_display = ["assessment", "question", "answer"]
    list_filter = ["question", "answer", ("assessment__study__review", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["assessment__study__label", "comment"]
    list_select_related = ["assessment__study", "assessment__outcome", "assessment__assessor"]
