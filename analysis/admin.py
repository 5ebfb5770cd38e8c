"""The back office's view of analysis runs: read-only, because results are only ever written by
the pipeline from the data (editing them by hand would break the ledger)."""
from django.contrib import admin
from django.db.models import Count

from analysis.models import AnalysisRun, ConclusionChange
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
