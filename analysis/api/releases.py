"""Releases through the API: the list, and each release's analysis exactly as the living analysis
API answered when it was cut (the same shape as ``/api/reviews/<slug>/analysis/``, never changing)."""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import selectors
from analysis.api.views import AnalysisResultsSerializer
from analysis.pages.releases import citation, release_analysis_json, release_url
from studies import access


class ReleaseSerializer(serializers.Serializer):
    version = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.CharField(help_text="The release's permanent page.")
    analysis_url = serializers.CharField(help_text="The release's analysis, shaped as the living analysis API.")
    note = serializers.CharField(help_text="The manager's note.")
    notes_summary = serializers.CharField(help_text="What changed since the previous release, generated.")
    notes = serializers.JSONField(help_text="The generated notes: studies added or removed, estimates before and "
                                            "after, conclusions changed, searches since the previous release.")
    level = serializers.CharField(help_text="first, major (a conclusion changed), minor (studies added or "
                                            "removed) or patch (corrections).")
    trigger = serializers.CharField()
    data_version = serializers.IntegerField()
    citation = serializers.CharField()


@extend_schema(responses=ReleaseSerializer(many=True))
class ReleaseListView(APIView):
    """``GET /api/reviews/<slug>/releases/``: the review's releases, newest first."""

    permission_classes = [AllowAny]  # the review's visibility decides (access.review_for)

    def get(self, request: Request, slug: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        return Response([
            {"version": release.version, "created_at": release.created_at, "url": release_url(release),
             "analysis_url": request.build_absolute_uri(f"/api/reviews/{review.slug}/releases/{release.version}/analysis/"),
             "note": release.note, "notes_summary": release.notes.get("summary", ""), "notes": release.notes,
             "level": release.level, "trigger": release.trigger, "data_version": release.data_version,
             "citation": citation(release, request)}
            for release in selectors.releases_of(review)
        ])


@extend_schema(responses=AnalysisResultsSerializer)
class ReleaseAnalysisView(APIView):
    """``GET /api/reviews/<slug>/releases/<version>/analysis/``: the release's analysis."""

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str, version: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        release = selectors.release_of(review, version, with_snapshot=False)
        if release is None:
            raise Http404("No such release.")
        return Response(release_analysis_json(release))
