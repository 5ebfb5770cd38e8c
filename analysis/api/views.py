"""Analysis status and results: what readers' pages poll and what scripts read."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import selectors
from studies import access


class AnalysisStatusSerializer(serializers.Serializer):
    """The versions readers poll (the schema of the responses; views build them from selectors)."""

    review = serializers.SlugField()
    data_version = serializers.IntegerField()
    computed_version = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()


class ResultSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    domain = serializers.CharField()
    time_point = serializers.CharField()
    subgroup_variable = serializers.CharField(allow_null=True)
    analysis_set = serializers.CharField()
    k = serializers.IntegerField()
    chosen_model = serializers.CharField()
    estimate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p = serializers.FloatField(allow_null=True)
    i2 = serializers.FloatField(allow_null=True)
    tau2 = serializers.FloatField(allow_null=True)
    detail = serializers.JSONField(allow_null=True, help_text="The engine's full result (studies, both models, "
                                                              "heterogeneity, subgroups, sensitivity, bias).")


class AnalysisResultsSerializer(AnalysisStatusSerializer):
    results = ResultSerializer(many=True)


class ConclusionChangeSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    data_version = serializers.IntegerField()
    at = serializers.DateTimeField()


@extend_schema(responses=AnalysisStatusSerializer)
class AnalysisVersionView(APIView):
    """``GET /api/reviews/<slug>/analysis/version/``: just the versions (cheap, for polling)."""

    permission_classes = [AllowAny]  # visibility is decided by the queryset: unknown reviews are 404

    def get(self, request: Request, slug: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        return Response(selectors.analysis_status(review))


@extend_schema(responses=AnalysisResultsSerializer)
class AnalysisResultsView(APIView):
    """``GET /api/reviews/<slug>/analysis/``: versions plus every outcome's current results."""

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        body = selectors.analysis_status(review)
        body["results"] = [
            {
                "outcome": result.outcome.name,
                "domain": result.outcome.domain.name,
                "time_point": result.time_point.label,
                "subgroup_variable": result.subgroup_field.name if result.subgroup_field else None,
                "analysis_set": result.analysis_set,
                "k": result.k,
                "chosen_model": result.chosen_model,
                "estimate": result.estimate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "p": result.p_value,
                "i2": result.i2,
                "tau2": result.tau2,
                "detail": result.payload,
            }
            for result in selectors.current_results(review)
        ]
        return Response(body)


@extend_schema(responses=ConclusionChangeSerializer(many=True))
class ConclusionChangesView(APIView):
    """``GET /api/reviews/<slug>/analysis/changes/``: the feed of conclusion changes, newest first."""

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        return Response([
            {
                "outcome": change.outcome.name,
                "kind": change.kind,
                "title": change.get_kind_display(),
                "description": change.description,
                "data_version": change.run.data_version,
                "at": change.created_at.isoformat(),
            }
            for change in selectors.conclusion_changes(review)[:200]
        ])


class OutcomeHistoryPointSerializer(serializers.Serializer):
    finished_at = serializers.DateTimeField()
    data_version = serializers.IntegerField()
    estimate = serializers.FloatField()
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


@extend_schema(responses=OutcomeHistoryPointSerializer(many=True))
class OutcomeHistoryView(APIView):
    """``GET /api/reviews/<slug>/analysis/outcomes/<pk>/history/``: the outcome's pooled estimate in
    every succeeded run, oldest first (how the evidence moved). Read-only; public on published
    reviews, like the reader pages that plot it."""

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str, pk: int) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        get_object_or_404(review.outcomes.all(), pk=pk)  # another review's outcome is 404
        return Response([
            {"finished_at": finished_at, "data_version": version, "estimate": estimate, "ci_low": low,
             "ci_high": high}
            for finished_at, version, estimate, low, high in selectors.outcome_history(review, pk)
        ])


class GradeDomainSerializer(serializers.Serializer):
    domain = serializers.ChoiceField(choices=["risk_of_bias", "inconsistency", "indirectness", "imprecision",
                                              "publication_bias"])
    levels = serializers.IntegerField(min_value=0, max_value=2)
    automatic = serializers.BooleanField(help_text="False when an assessor's override replaces the rule's judgment.")
    reason = serializers.CharField()
    numbers = serializers.JSONField(help_text="The numbers the rule used (weights, I², τ², CI, participants, OIS…).")
    rule = serializers.CharField(help_text="The published rule, cited.")
    automatic_levels = serializers.IntegerField()
    automatic_reason = serializers.CharField()
    override = serializers.JSONField(allow_null=True)
    needs_second_look = serializers.BooleanField(
        help_text="The data changed the automatic judgment since the override was made.")


class SummaryOfFindingsEntrySerializer(serializers.Serializer):
    outcome = serializers.CharField()
    domain = serializers.CharField(help_text="The outcome's domain, as in the analysis API.")
    time_point = serializers.CharField()
    in_table = serializers.BooleanField()
    position = serializers.IntegerField(allow_null=True)
    certainty = serializers.ChoiceField(choices=["high", "moderate", "low", "very low"])
    certainty_symbols = serializers.CharField()
    domains = GradeDomainSerializer(many=True)
    k = serializers.IntegerField()
    participants = serializers.IntegerField(allow_null=True)  # None: group sizes not entered (generic data)
    measure = serializers.CharField()
    estimate = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    relative_effect = serializers.JSONField()
    is_ratio = serializers.BooleanField()
    absolute_effect = serializers.JSONField(allow_null=True)
    interpretation = serializers.JSONField(allow_null=True)
    back_translation = serializers.JSONField(allow_null=True)
    footnotes = serializers.ListField(child=serializers.CharField())


@extend_schema(responses=SummaryOfFindingsEntrySerializer(many=True))
class SummaryOfFindingsView(APIView):
    """``GET /api/reviews/<slug>/summary-of-findings/``: the GRADE certainty and the table's cells of
    every outcome of the main analysis (current results; readers see what the analysis API shows)."""

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        return Response(selectors.summary_of_findings(review))
