"""The review database's public API."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from studies import access, selectors


class _SourceCount(serializers.Serializer):
    source = serializers.CharField()
    records = serializers.IntegerField()


class _Identified(serializers.Serializer):
    total = serializers.IntegerField()
    by_source = _SourceCount(many=True)


class _ReasonCount(serializers.Serializer):
    reason = serializers.CharField()
    reports = serializers.IntegerField()


class _Excluded(serializers.Serializer):
    total = serializers.IntegerField()
    by_reason = _ReasonCount(many=True)


class _Update(serializers.Serializer):
    """The PRISMA 2020 flow for updated reviews: the previous version's column and the totals."""

    previous_version_at = serializers.DateTimeField()
    previous_studies_included = serializers.IntegerField()
    previous_reports_included = serializers.IntegerField()
    previous_records_awaiting_screening = serializers.IntegerField()
    previous_reports_awaiting_classification = serializers.IntegerField()
    new_reports_of_previous_studies = serializers.IntegerField()
    studies_included_total = serializers.IntegerField()
    reports_included_total = serializers.IntegerField()


class PrismaSerializer(serializers.Serializer):
    """The shape of ``PrismaCounts.as_json`` (documents the response; the view builds it)."""

    review = serializers.SlugField()
    identified = _Identified()
    duplicates_removed = serializers.IntegerField()
    screened = serializers.IntegerField()
    awaiting_screening = serializers.IntegerField()
    excluded_at_title_abstract = serializers.IntegerField()
    reports_sought = serializers.IntegerField()
    reports_not_retrieved = serializers.IntegerField()
    reports_assessed = serializers.IntegerField()
    reports_awaiting_classification = serializers.IntegerField()
    reports_excluded = _Excluded()
    reports_included = serializers.IntegerField()
    studies_included = serializers.IntegerField()
    reports_not_yet_linked_to_a_study = serializers.IntegerField()
    update = _Update(allow_null=True)


@extend_schema(responses=PrismaSerializer)
class PrismaView(APIView):
    """``GET /api/reviews/<slug>/prisma/``: the PRISMA 2020 flow counts, computed from the database.

    Counts only (never a record's decisions), so readers of a public review see what the published
    diagram shows; unpublished reviews are 404 outside their team, as in the analysis API.
    """

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str) -> Response:
        review = access.review_for(request, slug, access.READERS)[0]
        counts = selectors.prisma_counts(review, selectors.prisma_previous_version_at(review))
        return Response({"review": review.slug, **counts.as_json()})
