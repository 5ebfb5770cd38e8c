"""The review database's public API."""
from django.shortcuts import get_object_or_404
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.selectors import review_visible_to
from studies import selectors


class PrismaView(APIView):
    """``GET /api/reviews/<slug>/prisma/``: the PRISMA 2020 flow counts, computed from the database.

    Counts only (never a record's decisions), so readers of a public review see what the published
    diagram shows; unpublished reviews are 404 outside their team, as in the analysis API.
    """

    permission_classes = [AllowAny]

    def get(self, request: Request, slug: str) -> Response:
        review = get_object_or_404(review_visible_to(request.user), slug=slug)
        return Response({"review": review.slug, **selectors.prisma_counts(review).as_json()})
