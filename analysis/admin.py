"""The back office's view of analysis runs: read-only, because results are only ever written by
the pipeline from the data (editing them by hand would break the ledger)."""
from django.contrib import admin
from django.db.models import Count

from analysis.models import (
    AnalysisRun, ConclusionChange, GradeOverride, Release, ReleaseSchedule, SummaryOfFindingsOutcome,
)
from studies import access


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(review_id__in=access.managed_review_ids(request.user))


@admin.register(AnalysisRun)
class AnalysisRunAdmin(ReadOnlyAdmin):
    list_display = ["review", "data_version", "status", "started_at", "duration", "result_count"]
    list_filter = ["status", ("review", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["review"]
    readonly_fields = ["review", "data_version", "status", "started_at", "finished_at", "error"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_results=Count("results"))

    @admin.display(description="results", ordering="_results")
    def result_count(self, obj: AnalysisRun) -> int:
        return obj._results

    @admin.display(description="duration (ms)")
    def duration(self, obj: AnalysisRun) -> str:
        return "" if obj.duration_ms is None else f"{obj.duration_ms:.0f}"


@admin.register(ConclusionChange)
class ConclusionChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "review", "outcome", "kind", "description"]
    list_filter = ["kind", ("review", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["review", "outcome"]
    search_fields = ["outcome__name", "description"]


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    """Releases are immutable (a database trigger refuses changes): managers cut them on the review's
    releases page or with ``release_create``; here they are only listed."""

    list_display = ["review", "version", "level", "created_at", "created_by", "trigger", "data_version"]
    list_filter = ["level", "trigger", ("review", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["review", "created_by"]
    exclude = ["snapshot_gz"]
    readonly_fields = ["review", "title", "major", "minor", "patch", "level", "data_version", "run_id_at_cut",
                       "created_at", "created_by", "trigger", "note", "notes", "authors", "prisma", "headline",
                       "studies", "fingerprint"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("snapshot_gz")


@admin.register(ReleaseSchedule)
class ReleaseScheduleAdmin(ReadOnlyAdmin):
    """Set on the review's releases page (a service checks the manager role and audits it)."""

    list_display = ["review", "every_days", "set_by", "set_at"]
    list_select_related = ["review", "set_by"]


@admin.register(SummaryOfFindingsOutcome)
class SummaryOfFindingsOutcomeAdmin(ReadOnlyAdmin):
    """Chosen on the review's GRADE assessment page (a service checks the manager role, moves the data
    version so the judgments are recomputed, and the trigger audits it)."""

    list_display = ["review", "position", "outcome", "decision_threshold", "control_risk", "familiar_scale",
                    "familiar_sd", "set_by", "set_at"]
    list_filter = [("review", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["review", "outcome", "set_by"]


@admin.register(GradeOverride)
class GradeOverrideAdmin(ReadOnlyAdmin):
    """Made on the review's GRADE assessment page by risk-of-bias assessors or managers (audited)."""

    list_display = ["review", "outcome", "domain", "levels", "automatic_levels", "made_by", "made_at"]
    list_filter = ["domain", ("review", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["review", "outcome", "made_by"]
    search_fields = ["outcome__name", "reason"]
